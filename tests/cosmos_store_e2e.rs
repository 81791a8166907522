//! A Cosmos DB account as a PhiStore, end to end: the operator binary, the real API server and
//! azure-sim. Untouched in Audit mode; in Enforce mode everything remediable converges, the
//! create-time customer-managed key is reported (and exempted here, as a team would) and never
//! written; out-of-band drift is reverted.

mod support;

use std::time::{Duration, Instant};

use azure_core::http::Method;
use hipaa_operator::api::PhiStore;
use hipaa_operator::azure::resources;
use hipaa_operator::controls::cosmos::PATCH_ACCOUNT;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use support::estate::{INTERVAL_SECS, control_state as state, estate, ready, wait_store};
use support::sim::{self, Sim};

fn account_id() -> String {
    format!(
        "{}/providers/Microsoft.DocumentDB/databaseAccounts/cosmos-patient-app",
        sim::RG
    )
}

#[tokio::test]
async fn a_cosmos_account_is_audited_then_enforced_and_kept() {
    let e = estate("cosmos-store", "Audit").await;
    let mut s = support::example("phistore-cosmos.yaml");
    // Audit first: the store inherits the workspace's mode.
    s["spec"].as_object_mut().expect("spec").remove("mode");
    s["spec"]["exemptions"] = json!([{
        "control": "cosmos.cmk",
        "reason": "created with service-managed keys; migration to a CMK account planned (CHG-4410)",
        "approver": "security-officer@contoso-health.example",
        "expires": "2030-01-01T00:00:00Z"
    }]);
    let s: PhiStore = serde_json::from_value(s).expect("store");
    e.stores
        .create(&Default::default(), &s)
        .await
        .expect("create store");
    let found = wait_store(
        &e,
        "patient-app-cosmos",
        "Drifted",
        Duration::from_secs(150),
        |s| ready(s).is_some_and(|(_, r)| r == "Drifted"),
    )
    .await;
    for id in [
        "cosmos.public-network-disabled",
        "cosmos.private-endpoint",
        "cosmos.local-auth-disabled",
        "cosmos.diag-audit-logs",
    ] {
        assert_eq!(state(&found, id), "Drifted", "{id}");
    }
    assert_eq!(state(&found, "cosmos.cmk"), "Exempt");
    let writes = e.sim.writes().await;
    assert!(writes.is_empty(), "Audit mode wrote to Azure: {writes:?}");

    // The store asks for Enforce (stricter than its workspace): it converges.
    e.stores
        .patch(
            "patient-app-cosmos",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"mode": "Enforce"}})),
        )
        .await
        .expect("Enforce");
    wait_store(
        &e,
        "patient-app-cosmos",
        "Ready",
        Duration::from_secs(150),
        |s| ready(s).is_some_and(|(status, _)| status == "True"),
    )
    .await;
    let azure = e.sim.client(Sim::operator_identity());
    let account = azure
        .get_resource(&resources::GET_COSMOS_ACCOUNT, &account_id())
        .await
        .expect("read")
        .expect("account");
    assert_eq!(account.properties["publicNetworkAccess"], json!("Disabled"));
    assert_eq!(account.properties["disableLocalAuth"], json!(true));
    assert!(
        account
            .properties
            .get("keyVaultKeyUri")
            .is_none_or(|k| k.is_null()),
        "the create-time key is never written"
    );

    // Out-of-band drift is reverted within an interval.
    e.sim
        .client(Sim::legacy_identity())
        .write(
            &PATCH_ACCOUNT,
            Method::Patch,
            &account_id(),
            Some(&json!({"properties": {"disableLocalAuth": false}})),
            None,
        )
        .await
        .expect("drift");
    let deadline = Instant::now() + Duration::from_secs(INTERVAL_SECS * 2 + 30);
    loop {
        let a = azure
            .get_resource(&resources::GET_COSMOS_ACCOUNT, &account_id())
            .await
            .expect("read")
            .expect("account");
        if a.properties["disableLocalAuth"] == json!(true) {
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
