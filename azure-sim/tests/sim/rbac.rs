//! Custom role definitions and deny assignments in the simulator's authorization: a custom
//! role's actions, notActions and dataActions decide what its assignees may do, and a deny
//! assignment refuses what a role grants.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

const RBAC: &str = "2022-04-01";
const ROLE: &str = "5a5a5a5a-0000-4000-8000-00000000c001";

fn role_id() -> String {
    format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{ROLE}")
}

async fn put_role(h: &Harness, actions: &[&str], not_actions: &[&str], data: &[&str]) -> Resp {
    h.arm(
        Method::PUT,
        &format!("{}?api-version={RBAC}", role_id()),
        Some(&json!({"properties": {"roleName": "PHI storage operator", "description": "custom",
            "assignableScopes": [format!("/subscriptions/{SUB}")],
            "permissions": [{"actions": actions, "notActions": not_actions, "dataActions": data, "notDataActions": []}]}})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_roles_actions_and_not_actions_decide_what_its_assignee_may_do() {
    let h = Harness::start().await;
    let acct = h.storage_account("phicustom01").await;
    let r = put_role(
        &h,
        &["Microsoft.Storage/storageAccounts/*"],
        &["Microsoft.Storage/storageAccounts/delete"],
        &[],
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["properties"]["type"], "CustomRole");
    let ra = h
        .arm(
            Method::PUT,
            &format!(
                "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Authorization/roleAssignments/7d3c0f10-0000-4000-8000-0000000000c1?api-version={RBAC}"
            ),
            Some(&json!({"properties": {"roleDefinitionId": role_id(), "principalId": NOBODY, "principalType": "User"}})),
        )
        .await;
    assert_eq!(ra.status, 201, "{:?}", ra.body);

    let t = h.token(NOBODY).await;
    let read = h
        .arm_as(
            &t,
            Method::GET,
            &format!("{acct}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    let patch = h
        .arm_as(
            &t,
            Method::PATCH,
            &format!("{acct}?api-version={STORAGE_API}"),
            Some(&json!({"tags": {"owner": "custom"}})),
        )
        .await;
    assert_eq!(patch.status, 200, "{:?}", patch.body);
    let delete = h
        .arm_as(
            &t,
            Method::DELETE,
            &format!("{acct}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!((delete.status, delete.code()), (403, "AuthorizationFailed"));
    assert!(
        delete.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("'Microsoft.Storage/storageAccounts/delete'")),
        "{:?}",
        delete.body
    );
    let vaults = h
        .arm_as(
            &t,
            Method::GET,
            &format!(
                "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults?api-version=2024-11-01"
            ),
            None,
        )
        .await;
    assert_eq!(vaults.status, 403, "the role grants storage actions only");

    // Replacing the role (201, the only status RoleDefinitions_CreateOrUpdate declares) changes
    // what its existing assignments grant at once.
    let r = put_role(&h, &["*/read"], &[], &[]).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let vaults = h
        .arm_as(
            &t,
            Method::GET,
            &format!(
                "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults?api-version=2024-11-01"
            ),
            None,
        )
        .await;
    assert_eq!(vaults.status, 200, "{:?}", vaults.body);
    let patch = h
        .arm_as(
            &t,
            Method::PATCH,
            &format!("{acct}?api-version={STORAGE_API}"),
            Some(&json!({"tags": {"owner": "custom"}})),
        )
        .await;
    assert_eq!(
        patch.status, 403,
        "the new definition no longer grants writes"
    );

    let got = h
        .arm(
            Method::GET,
            &format!("{}?api-version={RBAC}", role_id()),
            None,
        )
        .await;
    assert_eq!(
        got.body["properties"]["permissions"][0]["actions"][0],
        "*/read"
    );
    let by_name = h
        .arm(
            Method::GET,
            &format!(
                "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions?api-version={RBAC}&$filter=roleName%20eq%20'PHI%20storage%20operator'"
            ),
            None,
        )
        .await;
    assert_eq!(by_name.body["value"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_roles_data_actions_reach_the_key_vault_data_plane() {
    let h = Harness::start().await;
    let vault = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/kvcustom01"
    );
    let v = h
        .arm(
            Method::PUT,
            &format!("{vault}?api-version=2024-11-01"),
            Some(
                &json!({"location": "eastus", "properties": {"tenantId": h.sim.tenant_id,
                "sku": {"family": "A", "name": "standard"}, "enableRbacAuthorization": true}}),
            ),
        )
        .await;
    assert_eq!(v.status, 201, "{:?}", v.body);
    assert_eq!(
        put_role(&h, &[], &[], &["Microsoft.KeyVault/vaults/keys/*"])
            .await
            .status,
        201
    );
    let ra = h
        .arm(
            Method::PUT,
            &format!(
                "{vault}/providers/Microsoft.Authorization/roleAssignments/7d3c0f10-0000-4000-8000-0000000000c2?api-version={RBAC}"
            ),
            Some(&json!({"properties": {"roleDefinitionId": role_id(), "principalId": NOBODY, "principalType": "User"}})),
        )
        .await;
    assert_eq!(ra.status, 201, "{:?}", ra.body);
    let kv = h.token_for(NOBODY, "https://vault.azure.net", 600).await;
    let base = h.sim.vault_url("kvcustom01");
    let created = h
        .send(
            Method::POST,
            &format!("{base}/keys/cmk/create?api-version=7.5"),
            Some(&kv),
            Some(&json!({"kty": "RSA", "key_size": 2048})),
            &[],
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    // The role has no control-plane actions: ARM refuses the same principal.
    let t = h.token(NOBODY).await;
    let arm = h
        .arm_as(
            &t,
            Method::GET,
            &format!("{vault}?api-version=2024-11-01"),
            None,
        )
        .await;
    assert_eq!(arm.status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn deny_assignments_refuse_what_roles_grant_and_list_by_scope() {
    let rg = format!("/subscriptions/{SUB}/resourceGroups/{RG}");
    let deny_id = format!(
        "{rg}/providers/Microsoft.Authorization/denyAssignments/6b6b6b6b-0000-4000-8000-0000000000d1"
    );
    let mut seed = base_seed();
    seed["resources"] = json!([{"id": deny_id, "body": {"properties": {
        "denyAssignmentName": "Protected by the managed application",
        "permissions": [{"actions": ["Microsoft.Storage/storageAccounts/delete", "Microsoft.Storage/storageAccounts/write"], "notActions": [], "dataActions": [], "notDataActions": []}],
        "principals": [{"id": "00000000-0000-0000-0000-000000000000", "type": "SystemDefined"}],
        "excludePrincipals": [{"id": OWNER, "type": "User"}]}}}]);
    let h = Harness::with_seed(seed).await;
    let acct = h.storage_account("phidenied01").await;

    let op = h.token(OPERATOR).await;
    let read = h
        .arm_as(
            &op,
            Method::GET,
            &format!("{acct}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(read.status, 200, "reads are not denied");
    let patch = h
        .arm_as(
            &op,
            Method::PATCH,
            &format!("{acct}?api-version={STORAGE_API}"),
            Some(&json!({"tags": {"a": "b"}})),
        )
        .await;
    assert_eq!((patch.status, patch.code()), (403, "AuthorizationFailed"));
    let msg = patch.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("the access is denied because of the deny assignment with name 'Protected by the managed application'"),
        "{msg}"
    );
    // The Owner is excluded from the deny assignment.
    let owner = h
        .arm(
            Method::PATCH,
            &format!("{acct}?api-version={STORAGE_API}"),
            Some(&json!({"tags": {"a": "b"}})),
        )
        .await;
    assert_eq!(owner.status, 200, "{:?}", owner.body);

    let list = h
        .arm(
            Method::GET,
            &format!("{rg}/providers/Microsoft.Authorization/denyAssignments?api-version={RBAC}"),
            None,
        )
        .await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    assert_eq!(list.body["value"][0]["properties"]["scope"], rg);
    assert_eq!(
        list.body["value"][0]["properties"]["isSystemProtected"],
        true
    );
    let below = h
        .arm(
            Method::GET,
            &format!("{acct}/providers/Microsoft.Authorization/denyAssignments?api-version={RBAC}&$filter=atScope()"),
            None,
        )
        .await;
    assert_eq!(
        below.body["value"].as_array().map(Vec::len),
        Some(1),
        "the group's deny assignment applies to the account"
    );
    let got = h
        .arm(Method::GET, &format!("{deny_id}?api-version={RBAC}"), None)
        .await;
    assert_eq!(got.status, 200);
    let put = h
        .arm(
            Method::PUT,
            &format!("{deny_id}?api-version={RBAC}"),
            Some(&got.body),
        )
        .await;
    assert_eq!(
        put.status, 405,
        "deny assignments are read-only through the API"
    );
}
