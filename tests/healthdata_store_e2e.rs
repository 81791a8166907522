//! Health Data Services stores end to end (the operator binary, the real API server,
//! azure-sim): the workspace gets its private endpoint; the FHIR service gets its key, CORS and
//! audit logs through read-modify-write PUTs; the read-only `publicNetworkAccess` is reported
//! and never written; drift is reverted.

mod support;

use hipaa_operator::api::PhiStore;
use hipaa_operator::azure::resources::{GET_FHIR, PUT_FHIR};
use serde_json::{Value, json};
use support::estate::{Estate, INTERVAL_SECS, control_state as state};
use support::store::StoreFixture;
use support::{secs, sim};

fn fhir_id() -> String {
    format!(
        "{}/providers/Microsoft.HealthcareApis/workspaces/hdsclinical/fhirservices/fhir-patient-record",
        sim::RG
    )
}

#[tokio::test]
async fn health_data_services_are_audited_enforced_and_kept() {
    let e = Estate::test("hds-stores").audit().start().await;
    for file in ["phistore-healthdata-workspace.yaml", "phistore-fhir.yaml"] {
        // The estate has no user-assigned identity: the service's own identity reaches the key.
        let store = PhiStore::test(file)
            .without("/spec/encryption/userAssignedIdentityId")
            .build();
        e.create(&store).await;
    }
    let fhir = e
        .wait_store("patient-record-fhir", "evaluated", secs(120), |s| {
            !state(s, "fhir.cors-restricted").is_empty()
        })
        .await;
    for id in [
        "fhir.cors-restricted",
        "fhir.cmk",
        "fhir.diag-audit-logs",
        "fhir.public-network-disabled",
    ] {
        assert_eq!(state(&fhir, id), "Drifted", "{id}");
    }
    assert_eq!(state(&fhir, "fhir.authn-tenant"), "Compliant");
    e.assert_no_azure_writes("Audit mode").await;

    e.set_workspace_mode("Enforce").await;
    let fhir = e
        .wait_store("patient-record-fhir", "remediated", secs(120), |s| {
            ["fhir.cors-restricted", "fhir.cmk", "fhir.diag-audit-logs"]
                .iter()
                .all(|id| state(s, id) == "Remediated")
        })
        .await;
    e.wait_store("hds-clinical", "endpoint", secs(120), |s| {
        state(s, "ahds.workspace-private-endpoint") == "Remediated"
    })
    .await;
    let service = e.resource(&GET_FHIR, &fhir_id()).await;
    assert_eq!(
        service.properties["corsConfiguration"]["origins"],
        json!([])
    );
    assert!(
        service.properties["encryption"]["customerManagedKeyEncryption"]["keyEncryptionKeyUrl"]
            .as_str()
            .is_some_and(|k| k.ends_with("/keys/patient-record-fhir-cmk")),
        "{}",
        service.properties
    );
    // Read-only in this api-version: reported, never written.
    assert_ne!(state(&fhir, "fhir.public-network-disabled"), "Remediated");

    // Out-of-band drift (a wildcard origin put back) is reverted within an interval.
    e.legacy_azure()
        .read_modify_write(&GET_FHIR, &PUT_FHIR, &fhir_id(), |body: &mut Value| {
            body["properties"]["corsConfiguration"]["origins"] = json!(["*"]);
            true
        })
        .await
        .expect("drift");
    e.eventually("not reverted", secs(INTERVAL_SECS * 2 + 30), async || {
        let s = e.resource(&GET_FHIR, &fhir_id()).await;
        s.properties["corsConfiguration"]["origins"] == json!([])
    })
    .await;
    e.ns.delete().await.expect("delete namespace");
}
