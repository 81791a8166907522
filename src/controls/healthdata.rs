//! Azure Health Data Services: the workspace (`ahds.*`), FHIR (`fhir.*`) and DICOM (`dicom.*`)
//! services. In api-version 2024-03-31 their PATCH takes only tags and identity, so every
//! property change is a read-modify-write PUT with `If-Match` ([`ArmWrite::Merge`]), and
//! `publicNetworkAccess` is read-only (reported, never written). Pure.

use serde_json::{Value, json};

use super::common;
use super::finding::{Finding, Found};
use super::plan::{ArmWrite, Plan, at};
use crate::azure::insights::{DesiredDiagnosticSetting, DiagnosticSetting};
use crate::azure::resources::{
    ArmResource, GET_DICOM, GET_FHIR, GET_HDS_WORKSPACE, PUT_DICOM, PUT_FHIR, PUT_HDS_WORKSPACE,
    api_version,
};
use crate::azure::types::ArmOp;

/// Which Health Data Services resource a store names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Workspace,
    Fhir,
    Dicom,
}

impl Service {
    fn prefix(self) -> &'static str {
        match self {
            Service::Workspace => "ahds",
            Service::Fhir => "fhir",
            Service::Dicom => "dicom",
        }
    }
    fn ops(self) -> (ArmOp, ArmOp) {
        match self {
            Service::Workspace => (GET_HDS_WORKSPACE, PUT_HDS_WORKSPACE),
            Service::Fhir => (GET_FHIR, PUT_FHIR),
            Service::Dicom => (GET_DICOM, PUT_DICOM),
        }
    }
    fn patch_op(self) -> ArmOp {
        let op = match self {
            Service::Workspace => "Workspaces_Update",
            Service::Fhir => "FhirServices_Update",
            Service::Dicom => "DicomServices_Update",
        };
        ArmOp::new(op, "Microsoft.HealthcareApis", api_version::HEALTHCARE)
    }
}

/// Catalog ids of these kinds that are not evaluated, and why.
pub const NOT_YET_EVALUATED: &[(&str, &str)] = &[
    (
        "apifhir.cmk",
        "Azure API for FHIR (Microsoft.HealthcareApis/services) is retiring; not a supported PhiStore kind",
    ),
    (
        "apifhir.private-link",
        "Azure API for FHIR (Microsoft.HealthcareApis/services) is retiring; not a supported PhiStore kind",
    ),
    (
        "apifhir.cors-restricted",
        "Azure API for FHIR (Microsoft.HealthcareApis/services) is retiring; not a supported PhiStore kind",
    ),
    (
        "apifhir.diag-audit-logs",
        "Azure API for FHIR (Microsoft.HealthcareApis/services) is retiring; not a supported PhiStore kind",
    ),
];

/// What the workspace and the store expect of one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthExpectations {
    pub service: Service,
    pub resource_id: String,
    pub log_analytics_id: String,
    pub private_endpoint_groups: Vec<String>,
    /// The private DNS zones those endpoints must be registered in.
    pub endpoint_dns: super::common::EndpointDns,
    /// The versionless key URL the service must use (`https://{vault}/keys/{name}`).
    pub key_url: String,
    /// The organisation's Entra tenant, when known.
    pub tenant_id: Option<String>,
    /// Names and ids of the storage accounts that are governed PhiStores in the namespace.
    pub governed_storage: Vec<String>,
    pub classification_tag: (String, String),
}

impl HealthExpectations {
    pub fn diagnostics(&self) -> DesiredDiagnosticSetting {
        DesiredDiagnosticSetting {
            resource_id: self.resource_id.clone(),
            workspace_id: self.log_analytics_id.clone(),
            category_groups: vec![],
            categories: vec!["AuditLogs".into()],
        }
    }

    fn governed(&self, target: &str) -> bool {
        let name = target.rsplit('/').next().unwrap_or(target);
        self.governed_storage
            .iter()
            .any(|g| g.eq_ignore_ascii_case(target) || g.eq_ignore_ascii_case(name))
    }
}

/// What was read for one service.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthObservation {
    pub resource: ArmResource,
    pub diagnostics: Vec<DiagnosticSetting>,
    pub endpoints: super::common::SeenEndpoints,
}

fn id(service: Service, control: &str) -> &'static str {
    // Every id used here is in the catalog; look it up to get a 'static str.
    crate::catalog::control(&format!("{}.{control}", service.prefix()))
        .map(|c| c.id)
        .unwrap_or_else(|| panic!("{}.{control} is not in the catalog", service.prefix()))
}

fn text<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

fn cors(service: Service, v: &Value) -> Finding {
    let origins: Vec<&str> = at(v, "properties.corsConfiguration.origins")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let credentials = at(v, "properties.corsConfiguration.allowCredentials")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let wildcard = origins.contains(&"*");
    Finding::check(
        id(service, "cors-restricted"),
        !wildcard,
        "no * origin (an allow-list, or none)",
        format!(
            "origins [{}], allowCredentials={credentials}",
            origins.join(", ")
        ),
    )
}

/// Evaluates the controls of `expect.service`.
pub fn evaluate(expect: &HealthExpectations, obs: &HealthObservation) -> Vec<Finding> {
    let service = expect.service;
    let v = json!({ "properties": obs.resource.properties });
    let public = text(&v, "properties.publicNetworkAccess").unwrap_or("Enabled");
    let public_id = match service {
        Service::Workspace => "ahds.workspace-public-network-disabled",
        Service::Fhir => "fhir.public-network-disabled",
        Service::Dicom => "dicom.public-network-disabled",
    };
    // Read-only in 2024-03-31: Azure turns public access off for the workspace and every service
    // in it once the workspace has an approved private endpoint.
    let parsed = crate::azure::id::ArmId::parse(&expect.resource_id).ok();
    let workspace = parsed
        .as_ref()
        .and_then(|i| i.value_of("workspaces"))
        .unwrap_or("<workspace>");
    let public_finding = Finding::check(
        public_id,
        public.eq_ignore_ascii_case("Disabled"),
        "Disabled",
        public,
    )
    .with_next_step(match service {
        Service::Workspace => "Azure turns public access off once this workspace has an approved private endpoint (read-only in api-version 2024-03-31): set spec.privateEndpoint.groupIds [healthcareworkspace] on this PhiStore and the operator creates one in Enforce mode (ahds.workspace-private-endpoint)".to_string(),
        _ => format!(
            "Azure turns public access off once workspace {workspace} has an approved private endpoint (read-only in api-version 2024-03-31): declare that workspace as a PhiStore (kind HealthDataWorkspace, spec.privateEndpoint.groupIds [healthcareworkspace]) and the operator creates one in Enforce mode"
        ),
    });
    let tag = common::classification_tag(
        obs.resource.tags.as_ref(),
        (&expect.classification_tag.0, &expect.classification_tag.1),
    );
    if service == Service::Workspace {
        return vec![
            public_finding,
            common::private_endpoint(
                "ahds.workspace-private-endpoint",
                &v,
                &obs.endpoints,
                &expect.private_endpoint_groups,
                &expect.endpoint_dns,
            ),
            tag,
        ];
    }
    let key = text(
        &v,
        "properties.encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl",
    );
    let cmk = Finding::check(
        id(service, "cmk"),
        key.is_some_and(|k| {
            k.trim_end_matches('/')
                .eq_ignore_ascii_case(expect.key_url.trim_end_matches('/'))
        }),
        format!("{} (versionless, in the workspace vault)", expect.key_url),
        key.unwrap_or("service-managed keys"),
    );
    let mut out = vec![
        public_finding,
        cmk,
        cors(service, &v),
        common::diagnostics(
            id(service, "diag-audit-logs"),
            &obs.diagnostics,
            &expect.diagnostics(),
        ),
    ];
    match service {
        Service::Fhir => {
            let authority =
                text(&v, "properties.authenticationConfiguration.authority").unwrap_or("");
            let smart = at(
                &v,
                "properties.authenticationConfiguration.smartIdentityProviders",
            )
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0);
            out.push(match &expect.tenant_id {
                None => Finding::new(
                    "fhir.authn-tenant",
                    Found::NotApplicable,
                    "the organisation's tenant",
                    authority,
                )
                .with_message("the organisation's tenant is not known: set the workspace's spec.identity.tenantId"),
                Some(tenant) => {
                    let own = authority
                        .trim_end_matches('/')
                        .trim_end_matches("/v2.0")
                        .to_ascii_lowercase()
                        .ends_with(&format!("/{}", tenant.to_ascii_lowercase()));
                    Finding::check(
                        "fhir.authn-tenant",
                        own && smart == 0,
                        format!("authority in tenant {tenant}, no third-party SMART identity providers"),
                        format!("authority {authority}, {smart} SMART identity providers"),
                    )
                }
            });
            let versioning = text(&v, "properties.resourceVersionPolicyConfiguration.default")
                .unwrap_or("versioned");
            out.push(Finding::check(
                "fhir.resource-versioning",
                versioning != "no-version",
                "versioned or versioned-update",
                versioning,
            ));
            let targets: Vec<String> = [
                text(&v, "properties.exportConfiguration.storageAccountName"),
                text(&v, "properties.importConfiguration.integrationDataStore"),
            ]
            .into_iter()
            .flatten()
            .filter(|t| !t.is_empty() && !expect.governed(t))
            .map(str::to_string)
            .chain(
                at(&v, "properties.acrConfiguration.loginServers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|s| format!("{s} (container registry)")),
            )
            .collect();
            out.push(Finding::check(
                "fhir.data-movement-targets",
                targets.is_empty(),
                "export and import targets are governed PhiStores (or none)",
                if targets.is_empty() {
                    "none outside governed stores".into()
                } else {
                    format!("ungoverned: {}", targets.join(", "))
                },
            ));
        }
        Service::Dicom => {
            let target =
                text(&v, "properties.storageConfiguration.storageResourceId").unwrap_or("");
            out.push(
                Finding::check(
                    "dicom.storage-target",
                    target.is_empty() || expect.governed(target),
                    "managed storage, or a storage account that is a governed PhiStore",
                    if target.is_empty() {
                        "managed storage"
                    } else {
                        target
                    },
                )
                .with_message(
                    "declare the external storage account as a PhiStore so its controls are kept",
                ),
            );
        }
        Service::Workspace => {}
    }
    out.push(tag);
    out
}

/// The fewest writes for the drifted, automatically remediable findings of `to_fix`: one
/// read-modify-write PUT carrying every property change, a PATCH for tags (and the identity a
/// key needs), the private endpoint, the diagnostic setting.
pub fn plan(expect: &HealthExpectations, obs: &HealthObservation, to_fix: &[&Finding]) -> Plan {
    let mut plan = Plan::default();
    let service = expect.service;
    let drifted = |id: &str| super::plan::remediable(to_fix, id);
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
    if drifted("fhir.resource-versioning") {
        set.push((
            "/properties/resourceVersionPolicyConfiguration/default".into(),
            json!("versioned"),
        ));
        fixes.push("fhir.resource-versioning");
    }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The control ids the three services' evaluators report, for the catalog coverage test.
    pub(crate) fn evaluated_ids() -> Vec<&'static str> {
        [Service::Workspace, Service::Fhir, Service::Dicom]
            .into_iter()
            .flat_map(|service| {
                evaluate(
                    &expect(service),
                    &observed(example("FhirServices_Get.json")),
                )
                .iter()
                .map(Finding::id)
                .collect::<Vec<_>>()
            })
            .collect()
    }
    use crate::catalog;

    const TENANT: &str = "abfde7b2-df0f-47e6-aabf-2462b07508dc";

    fn example(file: &str) -> ArmResource {
        let path = format!(
            "{}/../shared/azure-rest-examples/Microsoft.HealthcareApis/2024-03-31/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("json");
        let status = if v["responses"]["200"].is_object() {
            "200"
        } else {
            "201"
        };
        serde_json::from_value(v["responses"][status]["body"].clone()).expect("resource")
    }

    fn expect(service: Service) -> HealthExpectations {
        HealthExpectations {
            service,
            resource_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/w/fhirservices/f".into(),
            log_analytics_id: "/law".into(),
            private_endpoint_groups: vec!["healthcareworkspace".into()],
            endpoint_dns: crate::controls::common::fixtures::dns(&["healthcareworkspace"]),
            key_url: "https://kv-clinical.vault.azure.net/keys/fhir-cmk".into(),
            tenant_id: Some(TENANT.into()),
            governed_storage: vec!["governedarchive".into()],
            classification_tag: ("data-classification".into(), "phi".into()),
        }
    }

    fn observed(resource: ArmResource) -> HealthObservation {
        HealthObservation {
            resource,
            diagnostics: vec![],
            endpoints: BTreeMap::new(),
        }
    }

    fn state(f: &[Finding], id: &str) -> Found {
        f.iter().find(|x| x.id() == id).map(|x| x.found).expect(id)
    }

    #[test]
    fn the_recorded_fhir_service_drifts_where_it_should_and_is_fixed_by_one_merge() {
        let e = expect(Service::Fhir);
        let obs = observed(example("FhirServices_Get.json"));
        let f = evaluate(&e, &obs);
        assert_eq!(
            state(&f, "fhir.cors-restricted"),
            Found::Drifted,
            "origins *"
        );
        assert_eq!(
            state(&f, "fhir.cmk"),
            Found::Drifted,
            "a pinned version in another vault"
        );
        assert_eq!(
            state(&f, "fhir.authn-tenant"),
            Found::Drifted,
            "a B2C SMART provider"
        );
        assert_eq!(
            state(&f, "fhir.data-movement-targets"),
            Found::Drifted,
            "an ungoverned account"
        );
        assert_eq!(state(&f, "fhir.resource-versioning"), Found::Compliant);
        let p = plan(&e, &obs, &f.iter().collect::<Vec<_>>());
        let merges: Vec<&ArmWrite> = p
            .writes
            .iter()
            .filter(|w| matches!(w, ArmWrite::Merge { .. }))
            .collect();
        assert_eq!(merges.len(), 1, "one read-modify-write PUT");
        let ArmWrite::Merge { set, .. } = merges[0] else {
            unreachable!()
        };
        assert!(
            set.iter()
                .any(|(k, v)| k.ends_with("/origins") && v == &json!([]))
        );
        assert!(
            set.iter()
                .any(|(k, v)| k.ends_with("/keyEncryptionKeyUrl") && v == &json!(e.key_url))
        );
        // Report-only: publicNetworkAccess is never written.
        assert!(!set.iter().any(|(k, _)| k.contains("publicNetworkAccess")));
        assert!(!p.remediates.contains(&"fhir.public-network-disabled"));
        assert!(p.ensure_key && p.key_name.as_deref() == Some("fhir-cmk"));
        assert_eq!(p.diagnostics.len(), 1);
    }

    #[test]
    fn public_access_is_azures_to_derive_and_the_message_names_the_workspace_endpoint() {
        use crate::api::common::Awaiting;
        let f = evaluate(
            &expect(Service::Fhir),
            &observed(example("FhirServices_Get.json")),
        );
        let public = f
            .iter()
            .find(|x| x.id() == "fhir.public-network-disabled")
            .expect("finding");
        assert_eq!(
            public.found,
            Found::Drifted,
            "the example has no private link"
        );
        assert_eq!(public.awaiting(), Awaiting::Person);
        let message = public.message.as_deref().unwrap_or_default();
        assert!(
            message.contains("workspace w ") && message.contains("[healthcareworkspace]"),
            "{message}"
        );
        // Disabled (the workspace has its approved endpoint): met, and nothing to say.
        let mut resource = example("FhirServices_Get.json");
        resource.properties["publicNetworkAccess"] = json!("Disabled");
        let f = evaluate(&expect(Service::Fhir), &observed(resource));
        let public = f
            .iter()
            .find(|x| x.id() == "fhir.public-network-disabled")
            .expect("finding");
        assert_eq!(
            (public.found, public.message.as_deref()),
            (Found::Compliant, None)
        );
    }

    #[test]
    fn every_supported_health_control_is_evaluated_or_listed() {
        let mut evaluated: Vec<&str> = Vec::new();
        for service in [Service::Workspace, Service::Fhir, Service::Dicom] {
            let obs = observed(example("FhirServices_Get.json"));
            evaluated.extend(evaluate(&expect(service), &obs).iter().map(Finding::id));
        }
        for id in catalog::ids().filter(|i| {
            i.starts_with("ahds.")
                || i.starts_with("fhir.")
                || i.starts_with("dicom.")
                || i.starts_with("apifhir.")
        }) {
            assert!(
                evaluated.contains(&id) ^ NOT_YET_EVALUATED.iter().any(|(n, _)| *n == id),
                "{id} must be evaluated or listed, not both"
            );
        }
    }

    #[test]
    fn dicom_external_storage_must_be_governed_and_is_never_moved() {
        let e = expect(Service::Dicom);
        let mut obs = observed(example("FhirServices_Get.json"));
        obs.resource.properties = json!({"storageConfiguration": {"storageResourceId":
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/elsewhere"}});
        let f = evaluate(&e, &obs);
        assert_eq!(state(&f, "dicom.storage-target"), Found::Drifted);
        let p = plan(&e, &obs, &f.iter().collect::<Vec<_>>());
        assert!(!p.remediates.contains(&"dicom.storage-target"));
        obs.resource.properties["storageConfiguration"]["storageResourceId"] = json!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/governedarchive"
        );
        assert_eq!(
            state(&evaluate(&e, &obs), "dicom.storage-target"),
            Found::Compliant
        );
    }
}
