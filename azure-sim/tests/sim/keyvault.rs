//! Key Vault: management-plane rules, the keys data plane with RBAC and clock-driven rotation,
//! and secrets (versions, expiry, paging, data roles and access policies).

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

async fn kv76(
    h: &Harness,
    token: &str,
    method: Method,
    vault: &str,
    path: &str,
    body: Option<&Value>,
) -> Resp {
    let url = format!(
        "{}{path}{}api-version=7.6",
        h.sim.vault_url(vault),
        if path.contains('?') { "&" } else { "?" }
    );
    h.send(method, &url, Some(token), body, &[]).await
}

async fn grant(h: &Harness, vault_id: &str, principal: &str, role_guid: &str, n: u32) {
    let r = h
        .arm(
            Method::PUT,
            &format!("{vault_id}/providers/Microsoft.Authorization/roleAssignments/7d3c0f10-0000-4000-8000-0000000001{n:02}?api-version=2022-04-01"),
            Some(&json!({"properties": {"roleDefinitionId": format!("/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"), "principalId": principal}})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_keep_versions_and_expiry_and_list_without_values() {
    let h = Harness::start().await;
    let vault_id = vault(&h, "kv-secrets", true).await;
    // Key Vault Secrets Officer for the owner.
    grant(
        &h,
        &vault_id,
        OWNER,
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        1,
    )
    .await;
    let t = h.token_for(OWNER, "https://vault.azure.net", 600).await;

    let exp = 1_900_000_000_i64;
    let set = kv76(
        &h,
        &t,
        Method::PUT,
        "kv-secrets",
        "/secrets/fhir-client",
        Some(&json!({
        "value": "s3cr3t", "contentType": "text/plain", "tags": {"app": "fhir"},
        "attributes": {"exp": exp, "nbf": 1_700_000_000}})),
    )
    .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(set.body["value"], "s3cr3t");
    assert_eq!(set.body["attributes"]["exp"], exp);
    assert_eq!(
        set.body["attributes"]["recoveryLevel"],
        "Recoverable+Purgeable"
    );
    let first = set.body["id"].as_str().unwrap_or_default().to_string();
    assert!(
        first.starts_with("https://kv-secrets.vault.azure.net/secrets/fhir-client/"),
        "{first}"
    );

    let again = kv76(
        &h,
        &t,
        Method::PUT,
        "kv-secrets",
        "/secrets/fhir-client",
        Some(&json!({"value": "rotated"})),
    )
    .await;
    assert_eq!(again.status, 200);
    assert!(
        again.body["attributes"].get("exp").is_none(),
        "a new version has its own attributes"
    );
    let latest = kv76(
        &h,
        &t,
        Method::GET,
        "kv-secrets",
        "/secrets/fhir-client",
        None,
    )
    .await;
    assert_eq!(latest.body["value"], "rotated");
    let version = first.rsplit('/').next().unwrap_or_default();
    let old = kv76(
        &h,
        &t,
        Method::GET,
        "kv-secrets",
        &format!("/secrets/fhir-client/{version}"),
        None,
    )
    .await;
    assert_eq!(old.body["value"], "s3cr3t");
    assert_eq!(old.body["contentType"], "text/plain");
    let versions = kv76(
        &h,
        &t,
        Method::GET,
        "kv-secrets",
        "/secrets/fhir-client/versions",
        None,
    )
    .await;
    assert_eq!(versions.body["value"].as_array().map(Vec::len), Some(2));

    kv76(
        &h,
        &t,
        Method::PUT,
        "kv-secrets",
        "/secrets/dicom-client",
        Some(&json!({"value": "x"})),
    )
    .await;
    let page1 = kv76(
        &h,
        &t,
        Method::GET,
        "kv-secrets",
        "/secrets?maxresults=1",
        None,
    )
    .await;
    assert_eq!(page1.status, 200, "{:?}", page1.body);
    assert_eq!(
        page1.body["value"][0]["id"],
        "https://kv-secrets.vault.azure.net/secrets/dicom-client"
    );
    assert!(
        page1.body["value"][0].get("value").is_none(),
        "lists never carry values"
    );
    let next = page1.body["nextLink"]
        .as_str()
        .expect("a second page")
        .to_string();
    let page2 = h.send(Method::GET, &next, Some(&t), None, &[]).await;
    assert_eq!(
        page2.body["value"][0]["id"],
        "https://kv-secrets.vault.azure.net/secrets/fhir-client"
    );
    assert!(page2.body["nextLink"].is_null());

    // UpdateSecret: expiry on the latest version, then disable it.
    let upd = kv76(
        &h,
        &t,
        Method::PATCH,
        "kv-secrets",
        "/secrets/fhir-client",
        Some(&json!({"attributes": {"exp": exp}})),
    )
    .await;
    assert_eq!(upd.status, 200, "{:?}", upd.body);
    assert_eq!(upd.body["attributes"]["exp"], exp);
    assert!(upd.body.get("value").is_none());
    let off = kv76(
        &h,
        &t,
        Method::PATCH,
        "kv-secrets",
        "/secrets/fhir-client",
        Some(&json!({"attributes": {"enabled": false}})),
    )
    .await;
    assert_eq!(off.status, 200);
    let disabled = kv76(
        &h,
        &t,
        Method::GET,
        "kv-secrets",
        "/secrets/fhir-client",
        None,
    )
    .await;
    assert_eq!(disabled.status, 403);
    assert_eq!(
        disabled.body["error"]["innererror"]["code"],
        "SecretDisabled"
    );
    let missing = kv76(&h, &t, Method::GET, "kv-secrets", "/secrets/nope", None).await;
    assert_eq!((missing.status, missing.code()), (404, "SecretNotFound"));
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_access_follows_the_data_roles_and_access_policies() {
    let h = Harness::start().await;
    let vault_id = vault(&h, "kv-roles", true).await;
    grant(
        &h,
        &vault_id,
        OWNER,
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        2,
    )
    .await;
    // Key Vault Secrets User for the operator, Key Vault Reader for the reader.
    grant(
        &h,
        &vault_id,
        OPERATOR,
        "4633458b-17de-408a-b874-0445c86b69e6",
        3,
    )
    .await;
    grant(
        &h,
        &vault_id,
        READER,
        "21090545-7ca7-4776-b22c-e363652d74d2",
        4,
    )
    .await;
    let owner = h.token_for(OWNER, "https://vault.azure.net", 600).await;
    let op = h.token_for(OPERATOR, "https://vault.azure.net", 600).await;
    let reader = h.token_for(READER, "https://vault.azure.net", 600).await;
    let s = kv76(
        &h,
        &owner,
        Method::PUT,
        "kv-roles",
        "/secrets/db-password",
        Some(&json!({"value": "p"})),
    )
    .await;
    assert_eq!(s.status, 200);
    assert_eq!(
        kv76(
            &h,
            &op,
            Method::GET,
            "kv-roles",
            "/secrets/db-password",
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        kv76(
            &h,
            &op,
            Method::PUT,
            "kv-roles",
            "/secrets/db-password",
            Some(&json!({"value": "q"}))
        )
        .await
        .status,
        403
    );
    assert_eq!(
        kv76(&h, &reader, Method::GET, "kv-roles", "/secrets", None)
            .await
            .status,
        200,
        "metadata is readable"
    );
    assert_eq!(
        kv76(
            &h,
            &reader,
            Method::GET,
            "kv-roles",
            "/secrets/db-password",
            None
        )
        .await
        .status,
        403,
        "the value is not"
    );

    let ap = vault(&h, "kv-secret-ap", false).await;
    let denied = kv76(
        &h,
        &op,
        Method::PUT,
        "kv-secret-ap",
        "/secrets/s",
        Some(&json!({"value": "v"})),
    )
    .await;
    assert_eq!(denied.status, 403);
    assert!(
        denied.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not have secrets set permission"))
    );
    let p = h
        .arm(Method::PATCH, &format!("{ap}?api-version={KV}"), Some(&json!({"properties": {"accessPolicies": [{"tenantId": h.sim.tenant_id, "objectId": OPERATOR, "permissions": {"secrets": ["set", "get"]}}]}})))
        .await;
    assert_eq!(p.status, 200);
    assert_eq!(
        kv76(
            &h,
            &op,
            Method::PUT,
            "kv-secret-ap",
            "/secrets/s",
            Some(&json!({"value": "v"}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        kv76(&h, &op, Method::GET, "kv-secret-ap", "/secrets", None)
            .await
            .status,
        403,
        "no list permission"
    );
}
