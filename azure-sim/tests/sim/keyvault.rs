//! Key Vault: management-plane rules and the keys data plane with RBAC and clock-driven rotation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

const KV: &str = "2024-11-01";

async fn vault(h: &Harness, name: &str, rbac: bool) -> String {
    let id = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/{name}"
    );
    let r = h
        .arm(
            Method::PUT,
            &format!("{id}?api-version={KV}"),
            Some(&json!({"location": "eastus", "properties": {"tenantId": h.sim.tenant_id, "sku": {"family": "A", "name": "standard"},
                "enableRbacAuthorization": rbac, "accessPolicies": []}})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        r.body["properties"]["vaultUri"],
        format!("https://{name}.vault.azure.net")
    );
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn purge_protection_and_soft_delete_are_irreversible() {
    let h = Harness::start().await;
    let id = vault(&h, "kv-irrev", true).await;
    let on = h
        .arm(
            Method::PATCH,
            &format!("{id}?api-version={KV}"),
            Some(&json!({"properties": {"enablePurgeProtection": true}})),
        )
        .await;
    assert_eq!(on.status, 200);
    let off = h
        .arm(
            Method::PATCH,
            &format!("{id}?api-version={KV}"),
            Some(&json!({"properties": {"enablePurgeProtection": false}})),
        )
        .await;
    assert_eq!(off.status, 400);
    assert!(
        off.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("irreversible")
    );
    let sd = h
        .arm(
            Method::PATCH,
            &format!("{id}?api-version={KV}"),
            Some(&json!({"properties": {"enableSoftDelete": false}})),
        )
        .await;
    assert_eq!(sd.status, 400);
    let g = h
        .arm(Method::GET, &format!("{id}?api-version={KV}"), None)
        .await;
    assert_eq!(g.body["properties"]["enablePurgeProtection"], true);
}

async fn kv(
    h: &Harness,
    token: Option<&str>,
    method: Method,
    vault: &str,
    path: &str,
    body: Option<&Value>,
) -> Resp {
    let url = format!(
        "{}{path}{}api-version=7.5",
        h.sim.vault_url(vault),
        if path.contains('?') { "&" } else { "?" }
    );
    h.send(method, &url, token, body, &[]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_need_a_vault_token_and_a_data_role_and_rotate_on_the_clock() {
    let h = Harness::start().await;
    let vault_id = vault(&h, "kv-phi", true).await;
    let no_token = kv(&h, None, Method::GET, "kv-phi", "/keys/cmk", None).await;
    assert_eq!(no_token.status, 401);
    let challenge = no_token
        .header("www-authenticate")
        .unwrap_or_default()
        .to_string();
    assert!(
        challenge.contains("resource=\"https://vault.azure.net\""),
        "{challenge}"
    );
    assert!(challenge.contains(&h.sim.tenant_id));
    let arm_token = h.owner_token.clone();
    assert_eq!(
        kv(
            &h,
            Some(&arm_token),
            Method::GET,
            "kv-phi",
            "/keys/cmk",
            None
        )
        .await
        .status,
        401,
        "ARM audience is refused"
    );

    let op_token = h.token_for(OPERATOR, "https://vault.azure.net", 600).await;
    let create = json!({"kty": "RSA", "key_size": 2048, "key_ops": ["wrapKey", "unwrapKey"]});
    let denied = kv(
        &h,
        Some(&op_token),
        Method::POST,
        "kv-phi",
        "/keys/cmk/create",
        Some(&create),
    )
    .await;
    assert_eq!(
        denied.status, 403,
        "Contributor has no data actions: {:?}",
        denied.body
    );
    assert_eq!(
        denied.body["error"]["innererror"]["code"],
        "ForbiddenByRbac"
    );
    assert!(
        denied.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Microsoft.KeyVault/vaults/keys/create/action")
    );

    let ra = h
        .arm(
            Method::PUT,
            &format!("{vault_id}/providers/Microsoft.Authorization/roleAssignments/7d3f0a1e-0000-4000-8000-000000000001?api-version=2022-04-01"),
            Some(&json!({"properties": {"roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/14b46e9e-c2b7-41b4-b07b-48a6ebf60603", "principalId": OPERATOR}})),
        )
        .await;
    assert_eq!(ra.status, 201, "{:?}", ra.body);

    let created = kv(
        &h,
        Some(&op_token),
        Method::POST,
        "kv-phi",
        "/keys/cmk/create",
        Some(&create),
    )
    .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let kid = created.body["key"]["kid"]
        .as_str()
        .expect("kid")
        .to_string();
    assert!(kid.starts_with("https://kv-phi.vault.azure.net/keys/cmk/"));
    assert_eq!(
        created.body["attributes"]["recoveryLevel"],
        "Recoverable+Purgeable"
    );
    let n = created.body["key"]["n"].as_str().expect("n");
    assert!(n.len() >= 340, "a 2048-bit modulus in base64url");

    let policy = json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}},
                                            {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}],
                        "attributes": {"expiryTime": "P2Y"}});
    let put = kv(
        &h,
        Some(&op_token),
        Method::PUT,
        "kv-phi",
        "/keys/cmk/rotationpolicy",
        Some(&policy),
    )
    .await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    assert_eq!(
        put.body["id"],
        "https://kv-phi.vault.azure.net/keys/cmk/rotationpolicy"
    );
    assert_eq!(put.body["attributes"]["expiryTime"], "P2Y");
    let bad = kv(&h, Some(&op_token), Method::PUT, "kv-phi", "/keys/cmk/rotationpolicy", Some(&json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "90 days"}, "action": {"type": "Rotate"}}]}))).await;
    assert_eq!(bad.status, 400);

    h.admin(
        Method::POST,
        "/clock/advance",
        Some(&json!({"duration": "P89D"})),
    )
    .await;
    let before = kv(
        &h,
        Some(&op_token),
        Method::GET,
        "kv-phi",
        "/keys/cmk/versions",
        None,
    )
    .await;
    assert_eq!(before.body["value"].as_array().map(Vec::len), Some(1));
    h.admin(
        Method::POST,
        "/clock/advance",
        Some(&json!({"duration": "P2D"})),
    )
    .await;
    let after = kv(
        &h,
        Some(&op_token),
        Method::GET,
        "kv-phi",
        "/keys/cmk/versions",
        None,
    )
    .await;
    assert_eq!(
        after.body["value"].as_array().map(Vec::len),
        Some(2),
        "rotated at 90 days: {:?}",
        after.body
    );
    let latest = kv(
        &h,
        Some(&op_token),
        Method::GET,
        "kv-phi",
        "/keys/cmk",
        None,
    )
    .await;
    assert_ne!(latest.body["key"]["kid"], kid);
    assert!(
        latest.body["attributes"]["exp"].is_i64(),
        "new versions expire per the policy"
    );
    let old = kv(
        &h,
        Some(&op_token),
        Method::GET,
        "kv-phi",
        &format!("/keys/cmk/{}", kid.rsplit('/').next().unwrap_or_default()),
        None,
    )
    .await;
    assert_eq!(old.body["key"]["kid"], kid);

    let rotated = kv(
        &h,
        Some(&op_token),
        Method::POST,
        "kv-phi",
        "/keys/cmk/rotate",
        None,
    )
    .await;
    assert_eq!(rotated.status, 200);
    let count = kv(
        &h,
        Some(&op_token),
        Method::GET,
        "kv-phi",
        "/keys/cmk/versions",
        None,
    )
    .await;
    assert_eq!(count.body["value"].as_array().map(Vec::len), Some(3));
    let missing = kv(
        &h,
        Some(&op_token),
        Method::GET,
        "kv-phi",
        "/keys/nope",
        None,
    )
    .await;
    assert_eq!((missing.status, missing.code()), (404, "KeyNotFound"));
    let bad_version = h
        .send(
            Method::GET,
            &format!("{}/keys/cmk?api-version=1.0", h.sim.vault_url("kv-phi")),
            Some(&op_token),
            None,
            &[],
        )
        .await;
    assert_eq!(bad_version.status, 400);

    // Storage resolves an auto-rotating customer-managed key to the latest version.
    let acct = h.storage_account("cmk01").await;
    let p = h
        .arm(Method::PATCH, &format!("{acct}?api-version={STORAGE_API}"), Some(&json!({"properties": {"encryption": {"keySource": "Microsoft.Keyvault",
            "keyvaultproperties": {"keyvaulturi": "https://kv-phi.vault.azure.net", "keyname": "cmk", "keyversion": ""}}}})))
        .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    let current =
        p.body["properties"]["encryption"]["keyvaultproperties"]["currentVersionedKeyIdentifier"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    let latest = kv(
        &h,
        Some(&op_token),
        Method::GET,
        "kv-phi",
        "/keys/cmk",
        None,
    )
    .await;
    assert_eq!(Some(current.as_str()), latest.body["key"]["kid"].as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn access_policy_vaults_check_key_permissions() {
    let h = Harness::start().await;
    let id = vault(&h, "kv-ap", false).await;
    let token = h.token_for(OPERATOR, "https://vault.azure.net", 600).await;
    let create = json!({"kty": "EC", "crv": "P-256"});
    let denied = kv(
        &h,
        Some(&token),
        Method::POST,
        "kv-ap",
        "/keys/k1/create",
        Some(&create),
    )
    .await;
    assert_eq!(denied.status, 403);
    let p = h
        .arm(Method::PATCH, &format!("{id}?api-version={KV}"), Some(&json!({"properties": {"accessPolicies": [{"tenantId": h.sim.tenant_id, "objectId": OPERATOR, "permissions": {"keys": ["create", "get"]}}]}})))
        .await;
    assert_eq!(p.status, 200);
    let ok = kv(
        &h,
        Some(&token),
        Method::POST,
        "kv-ap",
        "/keys/k1/create",
        Some(&create),
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["key"]["crv"], "P-256");
    let rotate = kv(
        &h,
        Some(&token),
        Method::POST,
        "kv-ap",
        "/keys/k1/rotate",
        None,
    )
    .await;
    assert_eq!(rotate.status, 403, "no rotate permission");
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_uris_can_carry_the_port_so_clients_only_resolve_the_host() {
    let seed: azure_sim::Seed = serde_json::from_value(base_seed()).expect("seed");
    let h = Harness::with_config(azure_sim::SimConfig {
        seed: Some(seed),
        vault_uri_with_port: true,
        ..azure_sim::SimConfig::default()
    })
    .await;
    let id = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/kv-port"
    );
    let r = h
        .arm(Method::PUT, &format!("{id}?api-version={KV}"), Some(&json!({"location": "eastus", "properties": {"tenantId": h.sim.tenant_id, "sku": {"family": "A", "name": "standard"}, "enableRbacAuthorization": true}})))
        .await;
    let vault_uri = r.body["properties"]["vaultUri"]
        .as_str()
        .expect("vaultUri")
        .to_string();
    assert_eq!(
        vault_uri,
        format!("https://kv-port.vault.azure.net:{}", h.sim.addr.port())
    );
    let token = h.token_for(OWNER, "https://vault.azure.net", 600).await;
    h.arm(
        Method::PUT,
        &format!("{id}/providers/Microsoft.Authorization/roleAssignments/7d3f0a1e-0000-4000-8000-0000000000aa?api-version=2022-04-01"),
        Some(&json!({"properties": {"roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/00482a5a-887f-4fb3-b363-3b7fe8e74483", "principalId": OWNER}})),
    )
    .await;
    // The URL is used exactly as ARM reported it.
    let created = h
        .send(
            Method::POST,
            &format!("{vault_uri}/keys/k1/create?api-version=7.5"),
            Some(&token),
            Some(&json!({"kty": "RSA"})),
            &[],
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let kid = created.body["key"]["kid"]
        .as_str()
        .expect("kid")
        .to_string();
    assert!(kid.starts_with(&format!("{vault_uri}/keys/k1/")), "{kid}");
    let again = h
        .send(
            Method::GET,
            &format!("{kid}?api-version=7.5"),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(again.status, 200, "the kid is a working URL");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_attributes_are_updated_in_place() {
    let h = Harness::start().await;
    let id = vault(&h, "kv-upd", false).await;
    let p = h
        .arm(Method::PATCH, &format!("{id}?api-version={KV}"), Some(&json!({"properties": {"accessPolicies": [{"tenantId": h.sim.tenant_id, "objectId": OPERATOR, "permissions": {"keys": ["create", "get", "update"]}}]}})))
        .await;
    assert_eq!(p.status, 200);
    let token = h.token_for(OPERATOR, "https://vault.azure.net", 600).await;
    let created = kv(
        &h,
        Some(&token),
        Method::POST,
        "kv-upd",
        "/keys/k/create",
        Some(&json!({"kty": "RSA", "key_size": 3072})),
    )
    .await;
    assert_eq!(created.status, 200);
    assert!(
        created.body["attributes"].get("exp").is_none(),
        "no expiry yet"
    );
    let version = created.body["key"]["kid"]
        .as_str()
        .and_then(|k| k.rsplit('/').next())
        .unwrap_or_default()
        .to_string();
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 365 * 86_400;
    let upd = kv(
        &h,
        Some(&token),
        Method::PATCH,
        "kv-upd",
        &format!("/keys/k/{version}"),
        Some(&json!({"attributes": {"exp": exp}})),
    )
    .await;
    assert_eq!(upd.status, 200, "{:?}", upd.body);
    assert_eq!(upd.body["attributes"]["exp"], exp);
    let got = kv(&h, Some(&token), Method::GET, "kv-upd", "/keys/k", None).await;
    assert_eq!(got.body["attributes"]["exp"], exp);
    let bad = kv(
        &h,
        Some(&token),
        Method::PATCH,
        "kv-upd",
        "/keys/k",
        Some(&json!({"attributes": {"exp": "next year"}})),
    )
    .await;
    assert_eq!(bad.status, 400);
}
