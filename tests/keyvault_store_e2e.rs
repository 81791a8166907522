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

/// `intake-clerk` (a User) and `legacy-deploy` (a ServicePrincipal) in the simulator's estate.
const CLERK: &str = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
const DEPLOY: &str = "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a";
const SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";
const CRYPTO_SERVICE_ENCRYPTION_USER: &str = "e147488a-f6f5-4113-8e2d-b22465e65bf6";

fn rbac(s: &PhiStore) -> (String, String) {
    let c = s
        .status
        .iter()
        .flat_map(|st| st.controls.iter())
        .find(|c| c.id == "kv.rbac-authorization");
    (
        c.map(|c| format!("{:?}", c.state)).unwrap_or_default(),
        c.and_then(|c| c.message.clone()).unwrap_or_default(),
    )
}

/// Issue #18, no lock-outs: RBAC authorization makes every access policy stop working at once.
/// Without the workspace's opt-in the operator never switches a vault that has policies; with
/// it, each holder is first given the Key Vault role that covers its policy, and the switch
/// waits until those roles are old enough for Azure to have applied them.
#[tokio::test]
async fn a_vault_with_access_policies_moves_to_rbac_only_by_opt_in_and_roles_first() {
    const SETTLE_SECS: i64 = 8;
    let e = Estate::test("kv-migrate")
        .enforce()
        .args(["--role-assignment-settle", &format!("PT{SETTLE_SECS}S")])
        .start()
        .await;
    e.legacy_azure()
        .write(
            &PATCH_VAULT,
            Method::Patch,
            &vault_id(),
            Some(&json!({"properties": {
                "enableRbacAuthorization": false,
                "accessPolicies": [
                    {"tenantId": sim::TENANT, "objectId": CLERK,
                     "permissions": {"secrets": ["get", "list"]}},
                    {"tenantId": sim::TENANT, "objectId": DEPLOY,
                     "permissions": {"keys": ["get", "wrapKey", "unwrapKey"]}}
                ]
            }})),
            None,
        )
        .await
        .expect("access policies");
    e.sim.clear_log().await;
    let store = PhiStore::test("phistore-keyvault.yaml").build();
    e.create(&store).await;

    // Not opted in: everything else converges, RBAC stays off and says why.
    let s = e
        .wait_store(
            "integration-secrets",
            "the rest converged",
            secs(120),
            |s| state(s, "kv.private-endpoint") == "Remediated" && rbac(s).0 == "Drifted",
        )
        .await;
    assert!(rbac(&s).1.contains("not switched"), "{:?}", rbac(&s));
    assert!(
        rbac(&s).1.contains("migrateAccessPolicies"),
        "{:?}",
        rbac(&s)
    );
    let vault = e.resource(&resources::GET_VAULT, &vault_id()).await;
    assert_eq!(vault.properties["enableRbacAuthorization"], json!(false));
    let role_writes = |writes: &[(String, String)]| {
        writes
            .iter()
            .filter(|(_, p)| p.to_ascii_lowercase().contains("/roleassignments/"))
            .count()
    };
    assert_eq!(
        role_writes(&e.sim.writes().await),
        0,
        "no role given unasked"
    );

    // Opted in: the roles first, then the switch, once they have settled.
    e.patch_workspace(json!({"keyVault": {"migrateAccessPolicies": true}}))
        .await;
    let s = e
        .wait_store("integration-secrets", "RBAC switched", secs(120), |s| {
            matches!(rbac(s).0.as_str(), "Remediated" | "Compliant")
        })
        .await;
    let vault = e.resource(&resources::GET_VAULT, &vault_id()).await;
    assert_eq!(vault.properties["enableRbacAuthorization"], json!(true));
    let held = e
        .azure()
        .list_role_assignments(&vault_id())
        .await
        .expect("assignments");
    for (principal, role) in [
        (CLERK, SECRETS_USER),
        (DEPLOY, CRYPTO_SERVICE_ENCRYPTION_USER),
    ] {
        assert!(
            held.iter().any(|a| a.properties.principal_id == principal
                && a.properties.role_definition_id.ends_with(role)
                && a.properties
                    .scope
                    .as_deref()
                    .is_some_and(|sc| sc.eq_ignore_ascii_case(&vault_id()))),
            "{principal} lacks {role} at the vault: {held:?} ({s:?})"
        );
    }
    // The log: both roles were given before the vault's last PATCH (the switch), which came
    // no sooner than the settle time after them.
    let log = e.sim.requests().await;
    let at = |r: &serde_json::Value| {
        r["time"]
            .as_str()
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
            .expect("time")
    };
    let vault_path = vault_id().to_ascii_lowercase();
    let grants: Vec<_> = log
        .iter()
        .filter(|r| r["method"] == "PUT")
        .filter(|r| {
            let p = r["path"].as_str().unwrap_or_default().to_ascii_lowercase();
            p.starts_with(&format!(
                "{vault_path}/providers/microsoft.authorization/roleassignments/"
            ))
        })
        .collect();
    assert_eq!(grants.len(), 2, "one PUT per holder: {grants:?}");
    let switch = log
        .iter()
        .rev()
        .filter(|r| r["method"] == "PATCH" && r["caller"] == sim::OPERATOR_OBJECT_ID)
        .filter(|r| r["path"].as_str().unwrap_or_default().to_ascii_lowercase() == vault_path)
        .find(|_| true)
        .expect("the switch");
    let last_grant = grants.iter().map(|r| at(r)).max().expect("a grant");
    assert!(
        at(switch).duration_since(last_grant).as_secs() >= SETTLE_SECS,
        "switched {:?} after the roles were given",
        at(switch).duration_since(last_grant)
    );
    e.ns.delete().await.expect("delete namespace");
}
