//! Tests of the Health Data Services evaluator and planner, per service.

use super::*;
use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::azure::resources::ArmResource;
use crate::controls::finding::{Finding, Found};
use crate::controls::plan::ArmWrite;

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
