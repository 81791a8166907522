//! A Cosmos DB account as a PhiStore, end to end: the operator binary, the real API server and
//! azure-sim. Untouched in Audit mode; in Enforce mode everything remediable converges, the
//! create-time customer-managed key is reported (and exempted here, as a team would) and never
//! written; out-of-band drift is reverted.

mod support;

use azure_core::http::Method;
use hipaa_operator::api::PhiStore;
use hipaa_operator::azure::resources;
use hipaa_operator::controls::cosmos::PATCH_ACCOUNT;
use serde_json::json;
use support::estate::{Estate, INTERVAL_SECS, control_state as state, drifted, is_ready};
use support::store::{SECURITY_OFFICER, StoreFixture};
use support::{secs, sim};

fn account_id() -> String {
    format!(
        "{}/providers/Microsoft.DocumentDB/databaseAccounts/cosmos-patient-app",
        sim::RG
    )
}

#[tokio::test]
async fn a_cosmos_account_is_audited_then_enforced_and_kept() {
    let e = Estate::test("cosmos-store").audit().start().await;
    // Audit first: the store inherits the workspace's mode.
    let store = PhiStore::test("phistore-cosmos.yaml")
        .in_the_workspace_mode()
        .exempt(
            "cosmos.cmk",
            "created with service-managed keys; migration to a CMK account planned (CHG-4410)",
            SECURITY_OFFICER,
        )
        .build();
    e.create(&store).await;
    let found = e
        .wait_store("patient-app-cosmos", "Drifted", secs(150), drifted)
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
    e.assert_no_azure_writes("Audit mode").await;

    // The store asks for Enforce (stricter than its workspace): it converges.
    e.patch_store("patient-app-cosmos", json!({"spec": {"mode": "Enforce"}}))
        .await;
    e.wait_store("patient-app-cosmos", "Ready", secs(150), is_ready)
        .await;
    let account = e
        .resource(&resources::GET_COSMOS_ACCOUNT, &account_id())
        .await;
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
    e.legacy_azure()
        .write(
            &PATCH_ACCOUNT,
            Method::Patch,
            &account_id(),
            Some(&json!({"properties": {"disableLocalAuth": false}})),
            None,
        )
        .await
        .expect("drift");
    e.eventually("not reverted", secs(INTERVAL_SECS * 2 + 30), async || {
        let a = e
            .resource(&resources::GET_COSMOS_ACCOUNT, &account_id())
            .await;
        a.properties["disableLocalAuth"] == json!(true)
    })
    .await;
    e.ns.delete().await.expect("delete namespace");
}
