//! A Key Vault holding PHI secrets as a PhiStore, end to end: the operator binary, the real API
//! server and azure-sim. Untouched in Audit mode with every failing control listed; converges in
//! Enforce mode; out-of-band drift is reverted; deletion with `Delete` removes what the operator
//! made and never the vault.

mod support;

use azure_core::http::Method;
use hipaa_operator::api::PhiStore;
use hipaa_operator::azure::resources;
use hipaa_operator::controls::keyvault::PATCH_VAULT;
use serde_json::json;
use support::estate::{Estate, INTERVAL_SECS, control_state as state, drifted, is_ready};
use support::store::StoreFixture;
use support::{secs, sim};

fn vault_id() -> String {
    format!(
        "{}/providers/Microsoft.KeyVault/vaults/kv-integration-phi",
        sim::RG
    )
}

#[tokio::test]
async fn a_key_vault_store_is_audited_enforced_kept_and_cleaned_up() {
    let e = Estate::test("kv-store").audit().start().await;
    let store = PhiStore::test("phistore-keyvault.yaml")
        .deletion_policy("Delete")
        .build();
    e.create(&store).await;
    let s = e
        .wait_store("integration-secrets", "Drifted", secs(60), drifted)
        .await;
    for id in [
        "kv.purge-protection",
        "kv.rbac-authorization",
        "kv.public-network-disabled",
        "kv.firewall-default-deny",
        "kv.private-endpoint",
        "kv.diag-audit-event",
        "common.phi-classification-tag",
    ] {
        assert_eq!(state(&s, id), "Drifted", "{id}");
    }
    e.assert_no_azure_writes("Audit mode").await;

    // Enforce (the workspace's, inherited): converges.
    e.set_workspace_mode("Enforce").await;
    e.wait_store("integration-secrets", "Ready", secs(120), is_ready)
        .await;
    let vault = e.resource(&resources::GET_VAULT, &vault_id()).await;
    assert_eq!(vault.properties["publicNetworkAccess"], json!("Disabled"));
    assert_eq!(vault.properties["enablePurgeProtection"], json!(true));
    assert_eq!(
        vault
            .tags
            .as_ref()
            .and_then(|t| t.get("data-classification")),
        Some(&"phi".to_string())
    );
    let settings = e
        .azure()
        .list_diagnostic_settings(&vault_id())
        .await
        .expect("settings");
    assert!(
        settings.iter().any(|d| d
            .properties
            .logs
            .iter()
            .any(|l| l.enabled && l.category.as_deref() == Some("AuditEvent"))),
        "the store's own category is used: {settings:?}"
    );

    // Out-of-band drift is reverted within an interval.
    e.legacy_azure()
        .write(
            &PATCH_VAULT,
            Method::Patch,
            &vault_id(),
            Some(&json!({"properties": {"networkAcls": {"defaultAction": "Allow"}}})),
            None,
        )
        .await
        .expect("drift");
    e.eventually("not reverted", secs(INTERVAL_SECS * 2 + 30), async || {
        let v = e.resource(&resources::GET_VAULT, &vault_id()).await;
        v.properties["networkAcls"]["defaultAction"] == json!("Deny")
    })
    .await;

    // Delete: the endpoint and the setting the operator made go; the vault stays.
    e.delete_store("integration-secrets", secs(60), "not cleaned up")
        .await;
    let endpoint = format!(
        "{}/providers/Microsoft.Network/privateEndpoints/pe-kv-integration-phi-vault",
        sim::RG
    );
    assert!(
        e.azure()
            .get_private_endpoint(&endpoint)
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        e.azure()
            .get_resource(&resources::GET_VAULT, &vault_id())
            .await
            .expect("read")
            .is_some(),
        "the vault itself is never deleted"
    );
    e.ns.delete().await.expect("delete namespace");
}
