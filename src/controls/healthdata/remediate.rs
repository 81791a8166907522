//! The Health Data Services plan: one read-modify-write PUT, a tags PATCH, the private
//! endpoint and the diagnostic setting that remediate the drifted controls of one service.

use serde_json::{Value, json};

use super::model::{HealthExpectations, HealthObservation, Service, id};
use crate::controls::finding::Finding;
use crate::controls::plan::{ArmWrite, Plan};
use crate::controls::setting;

/// The fewest writes for the drifted, automatically remediable findings of `to_fix`: one
/// read-modify-write PUT carrying every property change, a PATCH for tags (and the identity a
/// key needs), the private endpoint, the diagnostic setting.
pub fn plan(expect: &HealthExpectations, obs: &HealthObservation, to_fix: &[&Finding]) -> Plan {
    let mut plan = Plan::default();
    let service = expect.service;
    let drifted = |id: &str| crate::controls::plan::remediable(to_fix, id);
    let mut set: Vec<(String, Value)> = Vec::new();
    let mut fixes: Vec<&'static str> = Vec::new();
    let mut patch = serde_json::Map::new();
    if service != Service::Workspace && drifted(id(service, "cmk")) {
        plan.ensure_key = true;
        plan.key_name = expect.key_url.rsplit('/').next().map(str::to_string);
        if obs
            .resource
            .identity
            .as_ref()
            .is_none_or(|i| !i.kind.contains("SystemAssigned"))
        {
            patch.insert("identity".into(), json!({"type": "SystemAssigned"}));
        }
        set.push((
            "/properties/encryption/customerManagedKeyEncryption/keyEncryptionKeyUrl".into(),
            json!(expect.key_url),
        ));
        fixes.push(id(service, "cmk"));
    }
    if service != Service::Workspace && drifted(id(service, "cors-restricted")) {
        let origins: Vec<Value> = obs.resource.properties["corsConfiguration"]["origins"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| o.as_str() != Some("*"))
            .cloned()
            .collect();
        set.push((
            "/properties/corsConfiguration/origins".into(),
            Value::Array(origins),
        ));
        set.push((
            "/properties/corsConfiguration/allowCredentials".into(),
            json!(false),
        ));
        fixes.push(id(service, "cors-restricted"));
    }
    if drifted("fhir.authn-tenant")
        && let Some(tenant) = &expect.tenant_id
    {
        let authority = obs.resource.properties["authenticationConfiguration"]["authority"]
            .as_str()
            .unwrap_or("https://login.microsoftonline.com/");
        let host = authority
            .splitn(4, '/')
            .take(3)
            .collect::<Vec<_>>()
            .join("/");
        set.push((
            "/properties/authenticationConfiguration/authority".into(),
            json!(format!("{host}/{tenant}")),
        ));
        set.push((
            "/properties/authenticationConfiguration/smartIdentityProviders".into(),
            json!([]),
        ));
        fixes.push("fhir.authn-tenant");
    }
    let (writes, ids) = setting::fixes(service.settings(), to_fix, |_| false);
    set.extend(setting::pointers(writes));
    fixes.extend(ids);
    if drifted("fhir.data-movement-targets") {
        let p = &obs.resource.properties;
        if let Some(t) = p["exportConfiguration"]["storageAccountName"].as_str()
            && !t.is_empty()
            && !expect.governed(t)
        {
            set.push((
                "/properties/exportConfiguration/storageAccountName".into(),
                json!(""),
            ));
        }
        if let Some(t) = p["importConfiguration"]["integrationDataStore"].as_str()
            && !t.is_empty()
            && !expect.governed(t)
        {
            set.push((
                "/properties/importConfiguration/integrationDataStore".into(),
                json!(""),
            ));
            set.push((
                "/properties/importConfiguration/enabled".into(),
                json!(false),
            ));
        }
        if p["acrConfiguration"]["loginServers"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            set.push((
                "/properties/acrConfiguration/loginServers".into(),
                json!([]),
            ));
        }
        fixes.push("fhir.data-movement-targets");
    }
    if drifted("common.phi-classification-tag") {
        let mut tags = obs.resource.tags.clone().unwrap_or_default();
        tags.insert(
            expect.classification_tag.0.clone(),
            expect.classification_tag.1.clone(),
        );
        patch.insert("tags".into(), json!(tags));
        fixes.push("common.phi-classification-tag");
    }
    // The identity (and tags) first: the key URL is only accepted with an identity to use it.
    if !patch.is_empty() {
        plan.writes.push(ArmWrite::Patch {
            op: service.patch_op(),
            id: expect.resource_id.clone(),
            body: Value::Object(patch),
        });
    }
    if !set.is_empty() {
        let (get, put) = service.ops();
        plan.writes.push(ArmWrite::Merge {
            get,
            put,
            id: expect.resource_id.clone(),
            set,
        });
    }
    fixes.into_iter().for_each(|f| plan.remediates(f));
    if service == Service::Workspace && drifted("ahds.workspace-private-endpoint") {
        plan.private_endpoint_groups = expect.private_endpoint_groups.clone();
        plan.remediates("ahds.workspace-private-endpoint");
    }
    if service != Service::Workspace && drifted(id(service, "diag-audit-logs")) {
        plan.diagnostics.push(expect.diagnostics());
        plan.remediates(id(service, "diag-audit-logs"));
    }
    plan
}
