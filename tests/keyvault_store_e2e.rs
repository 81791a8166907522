//! A Key Vault holding PHI secrets as a PhiStore, end to end: the operator binary, the real API
//! server and azure-sim. Untouched in Audit mode with every failing control listed; converges in
//! Enforce mode; out-of-band drift is reverted; deletion with `Delete` removes what the operator
//! made and never the vault.

mod support;

use std::time::{Duration, Instant};

use azure_core::http::Method;
use hipaa_operator::api::PhiStore;
use hipaa_operator::azure::resources;
use hipaa_operator::controls::keyvault::PATCH_VAULT;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use support::estate::{INTERVAL_SECS, control_state as state, estate, ready, wait_store};
use support::sim::{self, Sim};

fn vault_id() -> String {
    format!(
        "{}/providers/Microsoft.KeyVault/vaults/kv-integration-phi",
        sim::RG
    )
}

fn store() -> PhiStore {
    let mut s = support::example("phistore-keyvault.yaml");
    s["spec"]["deletionPolicy"] = json!("Delete");
    serde_json::from_value(s).expect("store")
}

#[tokio::test]
async fn a_key_vault_store_is_audited_enforced_kept_and_cleaned_up() {
    let e = estate("kv-store", "Audit").await;
    e.stores
        .create(&Default::default(), &store())
        .await
        .expect("create store");
    let s = wait_store(
        &e,
        "integration-secrets",
        "Drifted",
        Duration::from_secs(60),
        |s| ready(s).is_some_and(|(_, r)| r == "Drifted"),
    )
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
    let writes = e.sim.writes().await;
    assert!(writes.is_empty(), "Audit mode wrote to Azure: {writes:?}");

    // Enforce (the workspace's, inherited): converges.
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
        "integration-secrets",
        "Ready",
        Duration::from_secs(120),
        |s| ready(s).is_some_and(|(status, _)| status == "True"),
    )
    .await;
    let azure = e.sim.client(Sim::operator_identity());
    let vault = azure
        .get_resource(&resources::GET_VAULT, &vault_id())
        .await
        .expect("read")
        .expect("vault");
    assert_eq!(vault.properties["publicNetworkAccess"], json!("Disabled"));
    assert_eq!(vault.properties["enablePurgeProtection"], json!(true));
    assert_eq!(
        vault
            .tags
            .as_ref()
            .and_then(|t| t.get("data-classification")),
        Some(&"phi".to_string())
    );
    let settings = azure
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
    let legacy = e.sim.client(Sim::legacy_identity());
    legacy
        .write(
            &PATCH_VAULT,
            Method::Patch,
            &vault_id(),
            Some(&json!({"properties": {"networkAcls": {"defaultAction": "Allow"}}})),
            None,
        )
        .await
        .expect("drift");
    let deadline = Instant::now() + Duration::from_secs(INTERVAL_SECS * 2 + 30);
    loop {
        let v = azure
            .get_resource(&resources::GET_VAULT, &vault_id())
            .await
            .expect("read")
            .expect("vault");
        if v.properties["networkAcls"]["defaultAction"] == json!("Deny") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not reverted:\n{}",
            e.operator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Delete: the endpoint and the setting the operator made go; the vault stays.
    e.stores
        .delete("integration-secrets", &Default::default())
        .await
        .expect("delete");
    let deadline = Instant::now() + Duration::from_secs(60);
    while e
        .stores
        .get_opt("integration-secrets")
        .await
        .expect("get")
        .is_some()
    {
        assert!(
            Instant::now() < deadline,
            "not cleaned up:\n{}",
            e.operator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let endpoint = format!(
        "{}/providers/Microsoft.Network/privateEndpoints/pe-kv-integration-phi-vault",
        sim::RG
    );
    assert!(
        azure
            .get_private_endpoint(&endpoint)
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        azure
            .get_resource(&resources::GET_VAULT, &vault_id())
            .await
            .expect("read")
            .is_some(),
        "the vault itself is never deleted"
    );
    e.ns.delete().await.expect("delete namespace");
}
