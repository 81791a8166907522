//! Authentication (401) and authorization (403) of ARM calls against role assignments.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

fn account(name: &str) -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/{name}?api-version={STORAGE_API}"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_missing_malformed_expired_or_for_another_audience_get_401() {
    let h = Harness::start().await;
    let url = h.url(&account("x"));
    let none = h.send(Method::GET, &url, None, None, &[]).await;
    assert_eq!((none.status, none.code()), (401, "AuthenticationFailed"));
    assert!(
        none.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer "))
    );
    let junk = h
        .send(Method::GET, &url, Some("not.a.jwt"), None, &[])
        .await;
    assert_eq!(
        (junk.status, junk.code()),
        (401, "InvalidAuthenticationToken")
    );
    let expired = h
        .token_for(OWNER, "https://management.azure.com", -60)
        .await;
    let e = h.send(Method::GET, &url, Some(&expired), None, &[]).await;
    assert_eq!((e.status, e.code()), (401, "ExpiredAuthenticationToken"));
    let vault = h.token_for(OWNER, "https://vault.azure.net", 600).await;
    let a = h.send(Method::GET, &url, Some(&vault), None, &[]).await;
    assert_eq!(
        (a.status, a.code()),
        (401, "InvalidAuthenticationTokenAudience")
    );
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("https://vault.azure.net")
    );
    // A token signed by someone else is refused even with the right claims.
    let mut parts: Vec<String> = h.owner_token.split('.').map(str::to_string).collect();
    parts[2] = "AAAA".to_string();
    let forged = h
        .send(Method::GET, &url, Some(&parts.join(".")), None, &[])
        .await;
    assert_eq!(forged.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_roles_get_403_naming_the_action_and_scope() {
    let h = Harness::start().await;
    let nobody = h.token(NOBODY).await;
    let r = h.arm_as(&nobody, Method::GET, &account("x"), None).await;
    assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
    let msg = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("'Microsoft.Storage/storageAccounts/read'"),
        "{msg}"
    );
    assert!(msg.contains(NOBODY));
    assert!(msg.contains("/storageAccounts/x'"), "{msg}");

    let reader = h.token(READER).await;
    let body = json!({"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}});
    let w = h
        .arm_as(&reader, Method::PUT, &account("byreader"), Some(&body))
        .await;
    assert_eq!(w.status, 403);
    assert!(
        w.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Microsoft.Storage/storageAccounts/write")
    );
    assert_eq!(
        h.arm_as(&reader, Method::GET, &account("byreader"), None)
            .await
            .status,
        404,
        "readers can read (and find nothing)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn contributor_notactions_block_role_assignment_writes_and_scopes_inherit() {
    let h = Harness::start().await;
    let op = h.token(OPERATOR).await;
    let body = json!({"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}});
    assert_eq!(
        h.arm_as(&op, Method::PUT, &account("byoperator"), Some(&body))
            .await
            .status,
        202
    );
    // Contributor at the resource group does not reach the subscription.
    let sub_read = h
        .arm_as(&op, Method::GET, &format!("/subscriptions/{SUB}/providers/Microsoft.Storage/storageAccounts?api-version={STORAGE_API}"), None)
        .await;
    assert_eq!(sub_read.status, 403);
    let ra = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Authorization/roleAssignments/5f1c3a2e-0000-4000-8000-000000000010?api-version=2022-04-01"
    );
    let ra_body = json!({"properties": {"roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7", "principalId": NOBODY}});
    let denied = h.arm_as(&op, Method::PUT, &ra, Some(&ra_body)).await;
    assert_eq!(denied.status, 403);
    assert!(
        denied.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Microsoft.Authorization/roleAssignments/write")
    );
    // The owner may; then the new reader can read in that group only.
    let made = h.arm(Method::PUT, &ra, Some(&ra_body)).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    assert_eq!(
        made.body["properties"]["scope"],
        format!("/subscriptions/{SUB}/resourceGroups/{RG}")
    );
    assert_eq!(made.body["properties"]["principalType"], "ServicePrincipal");
    let dup = h
        .arm(
            Method::PUT,
            &ra.replace("000000000010", "000000000011"),
            Some(&ra_body),
        )
        .await;
    assert_eq!((dup.status, dup.code()), (409, "RoleAssignmentExists"));
    let nobody = h.token(NOBODY).await;
    assert_eq!(
        h.arm_as(&nobody, Method::GET, &account("byoperator"), None)
            .await
            .status,
        200
    );

    // atScope() lists assignments at and above the group; no filter adds those below.
    let list = |filter: &'static str| {
        format!(
            "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01{filter}"
        )
    };
    let at = h.arm(Method::GET, &list("&$filter=atScope()"), None).await;
    assert_eq!(at.status, 200);
    assert_eq!(
        at.body["value"].as_array().map(Vec::len),
        Some(5),
        "3 at the subscription + 2 at the group: {:?}",
        at.body
    );
    let by_principal = h
        .arm(Method::GET, &format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=principalId%20eq%20'{NOBODY}'"), None)
        .await;
    assert_eq!(by_principal.body["value"].as_array().map(Vec::len), Some(1));
    let bad_role = h
        .arm(Method::PUT, &ra.replace("000000000010", "000000000012"), Some(&json!({"properties": {"roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/11111111-2222-3333-4444-555555555555", "principalId": READER}})))
        .await;
    assert_eq!(
        (bad_role.status, bad_role.code()),
        (400, "RoleDefinitionDoesNotExist")
    );
    let built_in = h
        .arm(Method::GET, &format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/14b46e9e-c2b7-41b4-b07b-48a6ebf60603?api-version=2022-04-01"), None)
        .await;
    assert_eq!(
        built_in.body["properties"]["roleName"],
        "Key Vault Crypto Officer"
    );
    let gone = h.arm(Method::DELETE, &ra, None).await;
    assert_eq!(gone.status, 200);
    assert_eq!(gone.body["properties"]["principalId"], NOBODY);
    assert_eq!(
        h.arm_as(&nobody, Method::GET, &account("byoperator"), None)
            .await
            .status,
        403
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn access_review_lists_assignments_and_applying_a_deny_removes_access() {
    let h = Harness::start().await;
    let def = format!(
        "/subscriptions/{SUB}/providers/Microsoft.Authorization/accessReviewScheduleDefinitions/5e0f0000-0000-4000-8000-000000000001"
    );
    let api = "api-version=2021-12-01-preview";
    let body = json!({"properties": {"displayName": "Quarterly PHI access", "descriptionForReviewers": "Keep only what is needed",
        "scope": {"resourceId": format!("/subscriptions/{SUB}")},
        "reviewers": [{"principalId": OWNER, "principalType": "user"}],
        "settings": {"instanceDurationInDays": 7}}});
    let r = h
        .arm(Method::PUT, &format!("{def}?{api}"), Some(&body))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["properties"]["status"], "InProgress");
    assert_eq!(r.body["properties"]["createdBy"]["principalId"], OWNER);
    let instances = h
        .arm(Method::GET, &format!("{def}/instances?{api}"), None)
        .await;
    let instance = instances.body["value"][0]["id"]
        .as_str()
        .expect("an instance")
        .to_string();
    let decisions = h
        .arm(Method::GET, &format!("{instance}/decisions?{api}"), None)
        .await;
    let list = decisions.body["value"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        list.len(),
        3,
        "one decision per assignment at the subscription: {:?}",
        decisions.body
    );
    let reader = list
        .iter()
        .find(|d| d["properties"]["principal"]["id"] == READER)
        .expect("the reader is under review");
    assert_eq!(reader["properties"]["resource"]["displayName"], "Reader");
    assert_eq!(reader["properties"]["decision"], "NotReviewed");
    let put_decision = h
        .arm(
            Method::PUT,
            &format!("{}?{api}", reader["id"].as_str().unwrap_or_default()),
            Some(&json!({})),
        )
        .await;
    assert_eq!(
        put_decision.status, 405,
        "decisions are made by the service"
    );
    let deny = h
        .arm(
            Method::PATCH,
            &format!("{}?{api}", reader["id"].as_str().unwrap_or_default()),
            Some(&json!({"properties": {"decision": "Deny", "justification": "left the team"}})),
        )
        .await;
    assert_eq!(deny.status, 200, "{:?}", deny.body);
    assert_eq!(deny.body["properties"]["reviewedBy"]["principalId"], OWNER);
    let bad = h
        .arm(
            Method::PATCH,
            &format!("{}?{api}", reader["id"].as_str().unwrap_or_default()),
            Some(&json!({"properties": {"decision": "Maybe"}})),
        )
        .await;
    assert_eq!(bad.status, 400);
    let reader_token = h.token(READER).await;
    assert_eq!(
        h.arm_as(
            &reader_token,
            Method::GET,
            &format!("/subscriptions/{SUB}?api-version=2022-12-01"),
            None
        )
        .await
        .status,
        200
    );
    let apply = h
        .arm(
            Method::POST,
            &format!("{instance}/applyDecisions?{api}"),
            None,
        )
        .await;
    assert_eq!(apply.status, 204, "{:?}", apply.body);
    assert_eq!(
        h.arm_as(
            &reader_token,
            Method::GET,
            &format!("/subscriptions/{SUB}?api-version=2022-12-01"),
            None
        )
        .await
        .status,
        403,
        "the denied assignment is gone"
    );
    let after = h
        .arm(
            Method::GET,
            &format!("{}?{api}", reader["id"].as_str().unwrap_or_default()),
            None,
        )
        .await;
    assert_eq!(
        after.body["properties"]["applyResult"],
        "AppliedSuccessfully"
    );
    let inst = h.arm(Method::GET, &format!("{instance}?{api}"), None).await;
    assert_eq!(inst.body["properties"]["status"], "Applied");
}

#[tokio::test(flavor = "multi_thread")]
async fn readers_summarize_policy_and_graph_queries_show_only_readable_resources() {
    let h = Harness::start().await;
    let pa = h
        .arm(
            Method::PUT,
            &format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/policyAssignments/hipaa?api-version=2025-03-01"),
            Some(&json!({"location": "eastus", "identity": {"type": "SystemAssigned"}, "properties": {
                "policyDefinitionId": "/providers/Microsoft.Authorization/policySetDefinitions/a169a624-5599-4385-a696-c8d643089fab",
                "metadata": {"simulatedNonCompliantResources": 3}}})),
        )
        .await;
    assert_eq!(pa.status, 201, "{:?}", pa.body);
    assert!(
        pa.body["identity"]["principalId"].is_string(),
        "a system-assigned identity gets a principal"
    );
    let reader = h.token(READER).await;
    let s = h
        .arm_as(&reader, Method::POST, &format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize?api-version=2024-10-01"), None)
        .await;
    assert_eq!(s.status, 200, "{:?}", s.body);
    assert_eq!(s.body["value"][0]["results"]["nonCompliantResources"], 3);
    assert_eq!(
        s.body["value"][0]["policyAssignments"][0]["policySetDefinitionId"],
        "/providers/microsoft.authorization/policysetdefinitions/a169a624-5599-4385-a696-c8d643089fab"
    );

    h.storage_account("graph01").await;
    let query = json!({"subscriptions": [SUB], "query": "Resources | where type =~ 'microsoft.storage/storageaccounts' | project id, name"});
    let op = h.token(OPERATOR).await;
    let seen = h
        .arm_as(
            &op,
            Method::POST,
            "/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01",
            Some(&query),
        )
        .await;
    assert_eq!(seen.status, 200, "{:?}", seen.body);
    assert_eq!(seen.body["totalRecords"], 1);
    assert_eq!(seen.body["data"][0]["name"], "graph01");
    assert_eq!(seen.body["resultTruncated"], "false");
    let nobody = h.token(NOBODY).await;
    let unseen = h
        .arm_as(
            &nobody,
            Method::POST,
            "/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01",
            Some(&query),
        )
        .await;
    assert_eq!(
        unseen.body["totalRecords"], 0,
        "results are filtered by what the caller may read"
    );
}
