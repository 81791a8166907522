//! Health Data Services stores end to end (the operator binary, the real API server,
//! azure-sim): the workspace gets its private endpoint; the FHIR service gets its key, CORS and
//! audit logs through read-modify-write PUTs; the read-only `publicNetworkAccess` is never
//! written, and met once the workspace's private endpoint is approved; drift is reverted.

mod support;

use std::time::{Duration, Instant};

use hipaa_operator::api::PhiStore;
use hipaa_operator::api::common::Awaiting;
use hipaa_operator::azure::resources::{self, GET_FHIR, PUT_FHIR};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use support::estate::{INTERVAL_SECS, control_state as state, estate, ready, wait_store};
use support::sim::{self, Sim};

fn fhir_id() -> String {
    format!(
        "{}/providers/Microsoft.HealthcareApis/workspaces/hdsclinical/fhirservices/fhir-patient-record",
        sim::RG
    )
}

fn store(file: &str) -> PhiStore {
    let mut s = support::example(file);
    if let Some(enc) = s["spec"]["encryption"].as_object_mut() {
        // The estate has no user-assigned identity: the service's own identity reaches the key.
        enc.remove("userAssignedIdentityId");
    }
    serde_json::from_value(s).expect("store")
}

#[tokio::test]
async fn health_data_services_are_audited_enforced_and_kept() {
    let e = estate("hds-stores", "Audit").await;
    for file in ["phistore-healthdata-workspace.yaml", "phistore-fhir.yaml"] {
        e.stores
            .create(&Default::default(), &store(file))
            .await
            .expect("create store");
    }
    let fhir = wait_store(
        &e,
        "patient-record-fhir",
        "evaluated",
        Duration::from_secs(120),
        |s| !state(s, "fhir.cors-restricted").is_empty(),
    )
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
    let writes = e.sim.writes().await;
    assert!(writes.is_empty(), "Audit mode wrote to Azure: {writes:?}");

    e.workspaces
        .patch(
            "clinical",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"mode": "Enforce"}})),
        )
        .await
        .expect("Enforce");
    wait_store(
        &e,
        "patient-record-fhir",
        "remediated",
        Duration::from_secs(120),
        |s| {
            ["fhir.cors-restricted", "fhir.cmk", "fhir.diag-audit-logs"]
                .iter()
                .all(|id| state(s, id) == "Remediated")
        },
    )
    .await;
    wait_store(
        &e,
        "hds-clinical",
        "endpoint",
        Duration::from_secs(120),
        |s| state(s, "ahds.workspace-private-endpoint") == "Remediated",
    )
    .await;
    let azure = e.sim.client(Sim::operator_identity());
    let service = azure
        .get_resource(&GET_FHIR, &fhir_id())
        .await
        .expect("read")
        .expect("fhir");
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
        wait_store(
            &e,
            store,
            id,
            Duration::from_secs(INTERVAL_SECS * 3 + 30),
            |s| state(s, id) == "Compliant",
        )
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
    e.sim
        .client(Sim::legacy_identity())
        .read_modify_write(&GET_FHIR, &PUT_FHIR, &fhir_id(), |body: &mut Value| {
            body["properties"]["corsConfiguration"]["origins"] = json!(["*"]);
            true
        })
        .await
        .expect("drift");
    let deadline = Instant::now() + Duration::from_secs(INTERVAL_SECS * 2 + 30);
    loop {
        let s = azure
            .get_resource(&resources::GET_FHIR, &fhir_id())
            .await
            .expect("read")
            .expect("fhir");
        if s.properties["corsConfiguration"]["origins"] == json!([]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not reverted:\n{}",
            e.operator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    e.ns.delete().await.expect("delete namespace");
}
