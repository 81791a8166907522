//! Health Data Services stores end to end (the operator binary, the real API server,
//! azure-sim): the workspace gets its private endpoint; the FHIR service gets its key, CORS and
//! audit logs through read-modify-write PUTs; the read-only `publicNetworkAccess` is never
//! written, and met once the workspace's private endpoint is approved; drift is reverted.

mod support;

use hipaa_operator::api::PhiStore;
use hipaa_operator::api::common::Awaiting;
use hipaa_operator::azure::resources::{GET_FHIR, PUT_FHIR};
use serde_json::{Value, json};
use support::estate::{Estate, INTERVAL_SECS, control_state as state, ready};
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
    // Read-only and derived from the workspace's private link: a person's (or the workspace
    // store's) business, and the message says how.
    let public = fhir
        .status
        .iter()
        .flat_map(|st| st.controls.iter())
        .find(|c| c.id == "fhir.public-network-disabled")
        .expect("fhir.public-network-disabled");
    assert_eq!(public.awaiting, Some(Awaiting::Person));
    assert!(
        public
            .message
            .as_deref()
            .is_some_and(|m| m.contains("hdsclinical") && m.contains("healthcareworkspace")),
        "{public:#?}"
    );
    e.assert_no_azure_writes("Audit mode").await;

    e.set_workspace_mode("Enforce").await;
    e.wait_store("patient-record-fhir", "remediated", secs(120), |s| {
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
    // Read-only in this api-version, never written: once the operator's endpoint to the
    // workspace is approved, Azure reports public access Disabled on the workspace and on every
    // service in it, and the controls are met (#23).
    for (store, id) in [
        ("hds-clinical", "ahds.workspace-public-network-disabled"),
        ("patient-record-fhir", "fhir.public-network-disabled"),
    ] {
        e.wait_store(store, id, secs(INTERVAL_SECS * 3 + 30), |s| {
            state(s, id) == "Compliant"
        })
        .await;
    }
    let fhir = e.stores.get("patient-record-fhir").await.expect("fhir");
    assert_eq!(
        ready(&fhir).map(|(status, _)| status).as_deref(),
        Some("True"),
        "{:#?}",
        fhir.status
    );

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
