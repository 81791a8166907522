//! ARM semantics: case-insensitive ids, api-version checks, error envelope, PUT/PATCH/GET/LIST/DELETE.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn storage_account_lifecycle_with_case_insensitive_ids() {
    let h = Harness::start().await;
    let id = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/phidata01"
    );
    let body = json!({"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_GRS"},
                      "tags": {"team": "a"}, "properties": {"minimumTlsVersion": "TLS1_2"}});
    let r = h
        .arm(
            Method::PUT,
            &format!("{id}?api-version={STORAGE_API}"),
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 202);
    assert!(
        r.body.is_null(),
        "Storage create answers 202 without a body"
    );
    let location = r.header("location").expect("Location header").to_string();
    assert!(
        location.contains("/providers/Microsoft.Storage/locations/eastus/asyncoperations/"),
        "{location}"
    );
    assert!(location.contains("monitor=true"));
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.header("x-ms-request-id").is_some());
    assert!(
        r.header("x-ms-ratelimit-remaining-subscription-writes")
            .is_some()
    );

    let done = h.poll_location(&location).await;
    assert_eq!(done.status, 200);
    assert_eq!(done.body["properties"]["provisioningState"], "Succeeded");

    let upper = id.to_uppercase().replace("API-VERSION", "api-version");
    let g = h
        .arm(
            Method::GET,
            &format!("{upper}?API-VERSION={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(g.status, 200, "{:?}", g.body);
    assert_eq!(
        g.body["id"], id,
        "the id keeps the case it was created with"
    );
    assert_eq!(g.body["name"], "phidata01");
    assert_eq!(g.body["type"], "Microsoft.Storage/storageAccounts");
    assert_eq!(g.body["sku"]["tier"], "Standard");
    assert_eq!(
        g.body["properties"]["primaryEndpoints"]["blob"],
        "https://phidata01.blob.core.windows.net/"
    );
    assert_eq!(g.body["properties"]["secondaryLocation"], "westus");
    assert!(
        g.header("x-ms-ratelimit-remaining-subscription-reads")
            .is_some()
    );

    // PATCH merges properties and replaces tags.
    let p = h
        .arm(
            Method::PATCH,
            &format!("{id}?api-version={STORAGE_API}"),
            Some(&json!({"tags": {"team": "b"}, "properties": {"allowSharedKeyAccess": false}})),
        )
        .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    assert_eq!(p.body["tags"], json!({"team": "b"}));
    assert_eq!(p.body["properties"]["allowSharedKeyAccess"], false);
    assert_eq!(
        p.body["properties"]["minimumTlsVersion"], "TLS1_2",
        "untouched properties stay"
    );

    let rg_list = h
        .arm(Method::GET, &format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts?api-version={STORAGE_API}"), None)
        .await;
    assert_eq!(rg_list.body["value"].as_array().map(Vec::len), Some(1));
    let sub_list = h
        .arm(Method::GET, &format!("/subscriptions/{SUB}/providers/Microsoft.Storage/storageAccounts?api-version={STORAGE_API}"), None)
        .await;
    assert_eq!(sub_list.body["value"][0]["name"], "phidata01");

    let d = h
        .arm(
            Method::DELETE,
            &format!("{id}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(d.status, 200);
    let again = h
        .arm(
            Method::DELETE,
            &format!("{id}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(again.status, 204);
    let gone = h
        .arm(
            Method::GET,
            &format!("{id}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.code(), "ResourceNotFound");
    assert!(
        gone.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Microsoft.Storage/storageAccounts/phidata01")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn api_versions_are_required_and_checked_per_type() {
    let h = Harness::start().await;
    let id = h.storage_account("apiv").await;
    let missing = h.arm(Method::GET, &id, None).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.code(), "MissingApiVersionParameter");
    let wrong = h
        .arm(Method::GET, &format!("{id}?api-version=2019-06-01"), None)
        .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.code(), "InvalidApiVersionParameter");
    assert!(
        wrong.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("2025-01-01")
    );
    // A version valid for another provider is still wrong for Storage.
    let other = h
        .arm(Method::GET, &format!("{id}?api-version=2024-05-01"), None)
        .await;
    assert_eq!(other.code(), "InvalidApiVersionParameter");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_types_groups_and_subscriptions_use_arm_codes() {
    let h = Harness::start().await;
    let t = h
        .arm(Method::GET, &format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/widgets/w?api-version={STORAGE_API}"), None)
        .await;
    assert_eq!((t.status, t.code()), (400, "InvalidResourceType"));
    let ns = h
        .arm(Method::GET, &format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Contoso.Things/widgets/w?api-version=2020-01-01"), None)
        .await;
    assert_eq!((ns.status, ns.code()), (400, "InvalidResourceNamespace"));
    let rg = h
        .arm(Method::GET, &format!("/subscriptions/{SUB}/resourceGroups/nope/providers/Microsoft.Storage/storageAccounts/x?api-version={STORAGE_API}"), None)
        .await;
    assert_eq!((rg.status, rg.code()), (404, "ResourceGroupNotFound"));
    let put_in_missing_rg = h
        .arm(
            Method::PUT,
            &format!("/subscriptions/{SUB}/resourceGroups/nope/providers/Microsoft.Storage/storageAccounts/x1x?api-version={STORAGE_API}"),
            Some(&json!({"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}})),
        )
        .await;
    assert_eq!(put_in_missing_rg.code(), "ResourceGroupNotFound");
    let sub = h
        .arm(
            Method::GET,
            "/subscriptions/6a1c2f1e-9999-4c6e-9b57-3c2f0a1d0009?api-version=2022-12-01",
            None,
        )
        .await;
    assert_eq!((sub.status, sub.code()), (404, "SubscriptionNotFound"));
    let rg_get = h
        .arm(
            Method::GET,
            &format!("/subscriptions/{SUB}/resourceGroups/{RG}?api-version=2024-03-01"),
            None,
        )
        .await;
    assert_eq!(rg_get.status, 200);
    assert_eq!(rg_get.body["type"], "Microsoft.Resources/resourceGroups");
    let child = h
        .arm(
            Method::PUT,
            &format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/none/blobServices/default/containers/c1?api-version={STORAGE_API}"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(
        (child.status, child.code()),
        (404, "ParentResourceNotFound")
    );
    // A GET below a missing parent says the parent is missing, as ARM does.
    let child_get = h
        .arm(
            Method::GET,
            &format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/none/blobServices/default/containers/c1?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(
        (child_get.status, child_get.code()),
        (404, "ParentResourceNotFound")
    );
    // Authorization names its own missing resources.
    let assignment = h
        .arm(
            Method::GET,
            &format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments/00000000-0000-4000-8000-00000000dead?api-version=2022-04-01"),
            None,
        )
        .await;
    assert_eq!(
        (assignment.status, assignment.code()),
        (404, "RoleAssignmentNotFound")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_empties_the_bucket_and_answers_429_with_retry_after() {
    let h = Harness::start().await;
    h.set_config(json!({"throttle": {"enabled": true, "readCapacity": 3, "readRefillPerSec": 0.0, "writeCapacity": 100, "writeRefillPerSec": 0.0}})).await;
    let path = format!("/subscriptions/{SUB}/resourceGroups/{RG}?api-version=2024-03-01");
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = h.arm(Method::GET, &path, None).await;
        assert_eq!(r.status, 200);
        remaining.push(
            r.header("x-ms-ratelimit-remaining-subscription-reads")
                .unwrap_or_default()
                .to_string(),
        );
    }
    assert_eq!(remaining, vec!["2", "1", "0"]);
    let t = h.arm(Method::GET, &path, None).await;
    assert_eq!(t.status, 429);
    assert_eq!(t.code(), "SubscriptionRequestsThrottled");
    assert!(
        t.header("retry-after")
            .is_some_and(|v| v.parse::<u64>().is_ok())
    );
    // Writes have their own bucket, and another principal has its own.
    let w = h
        .arm(Method::PATCH, &path, Some(&json!({"tags": {"a": "b"}})))
        .await;
    assert_eq!(w.status, 200);
    let reader = h.token(READER).await;
    assert_eq!(
        h.arm_as(&reader, Method::GET, &path, None).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resource_group_deletion_is_a_long_running_operation() {
    let h = Harness::start().await;
    let rg = format!("/subscriptions/{SUB}/resourceGroups/rg-temp");
    let c = h
        .arm(
            Method::PUT,
            &format!("{rg}?api-version=2024-03-01"),
            Some(&json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(c.status, 201);
    let acct = format!(
        "{rg}/providers/Microsoft.Storage/storageAccounts/temp01?api-version={STORAGE_API}"
    );
    let body = json!({"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}});
    assert_eq!(h.arm(Method::PUT, &acct, Some(&body)).await.status, 202);
    h.set_config(json!({"lroDurationMs": 10000})).await;
    let d = h
        .arm(
            Method::DELETE,
            &format!("{rg}?api-version=2024-03-01"),
            None,
        )
        .await;
    assert_eq!(d.status, 202);
    let location = d.header("location").expect("Location").to_string();
    assert!(
        location.contains(&format!("/subscriptions/{SUB}/operationresults/")),
        "{location}"
    );
    assert_eq!(h.arm_url(Method::GET, &location).await.status, 202);
    let g = h
        .arm(Method::GET, &format!("{rg}?api-version=2024-03-01"), None)
        .await;
    assert_eq!(g.body["properties"]["provisioningState"], "Deleting");
    h.admin(
        Method::POST,
        "/clock/advance",
        Some(&json!({"seconds": 11})),
    )
    .await;
    assert_eq!(h.arm_url(Method::GET, &location).await.status, 204);
    let gone = h.arm(Method::GET, &acct, None).await;
    assert_eq!(gone.code(), "ResourceGroupNotFound");
}

#[tokio::test(flavor = "multi_thread")]
async fn long_lists_are_paged_with_next_link() {
    let h = Harness::start().await;
    for i in 0..5 {
        h.storage_account(&format!("paged{i:02}")).await;
    }
    h.set_config(json!({"listPageSize": 2})).await;
    let mut url = h.url(&format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts?api-version={STORAGE_API}"));
    let mut names = Vec::new();
    for _ in 0..10 {
        let r = h.arm_url(Method::GET, &url).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        names.extend(
            r.body["value"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v["name"].as_str().map(str::to_string)),
        );
        match r.body["nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(
        names,
        vec!["paged00", "paged01", "paged02", "paged03", "paged04"]
    );
    let bad = h.arm(Method::GET, &format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts?api-version={STORAGE_API}&$skiptoken=x"), None).await;
    assert_eq!((bad.status, bad.code()), (400, "InvalidSkipToken"));
}

const GRAPH: &str = "/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01";

#[tokio::test(flavor = "multi_thread")]
async fn resource_graph_filters_projects_and_pages_with_a_skip_token() {
    let h = Harness::start().await;
    for i in 0..5 {
        h.storage_account(&format!("graph{i:02}")).await;
    }
    let query = |options: serde_json::Value| {
        json!({
            "subscriptions": [SUB],
            "query": "Resources | where type =~ 'Microsoft.Storage/storageAccounts' and name !in~ ('GRAPH03') | project id, name, tls = properties.minimumTlsVersion | order by id asc",
            "options": options,
        })
    };
    let mut names = Vec::new();
    let mut options = json!({"$top": 2});
    for page in 0..10 {
        let r = h
            .arm(Method::POST, GRAPH, Some(&query(options.clone())))
            .await;
        if page == 0 {
            // A resource made between pages does not shift them: the token pages through the
            // result the first page came from.
            h.storage_account("graph0").await;
        }
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["totalRecords"], 4);
        assert_eq!(r.body["resultTruncated"], "false");
        for row in r.body["data"].as_array().expect("objectArray") {
            assert_eq!(
                row.as_object().expect("row").len(),
                3,
                "only projected columns: {row}"
            );
            names.push(row["name"].as_str().expect("name").to_string());
        }
        match r.body["$skipToken"].as_str() {
            Some(t) => options = json!({"$top": 2, "$skipToken": t}),
            None => break,
        }
    }
    assert_eq!(names, vec!["graph00", "graph01", "graph02", "graph04"]);
    // A new query sees it.
    let r = h.arm(Method::POST, GRAPH, Some(&query(json!({})))).await;
    assert_eq!(r.body["totalRecords"], 5, "{:?}", r.body);

    // Without `id` the results cannot be paged: they are truncated instead.
    let r = h
        .arm(
            Method::POST,
            GRAPH,
            Some(&json!({"subscriptions": [SUB], "query": "Resources | project name", "options": {"$top": 2, "resultFormat": "table"}})),
        )
        .await;
    assert_eq!(r.body["resultTruncated"], "true", "{:?}", r.body);
    assert!(r.body.get("$skipToken").is_none());
    assert_eq!(r.body["data"]["columns"][0]["name"], "name");
    assert_eq!(r.body["data"]["rows"].as_array().map(Vec::len), Some(2));

    // Child resources without a location (blob services) are not in the Resources table.
    let r = h
        .arm(
            Method::POST,
            GRAPH,
            Some(&json!({"query": "Resources | where type contains 'blobservices' | project id"})),
        )
        .await;
    assert_eq!(r.body["totalRecords"], 0, "{:?}", r.body);

    // What the subset does not understand is a 400 naming it.
    let bad = h
        .arm(
            Method::POST,
            GRAPH,
            Some(&json!({"query": "Resources | summarize count() by type"})),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.to_string().contains("summarize"), "{:?}", bad.body);
    let bad = h
        .arm(
            Method::POST,
            GRAPH,
            Some(&json!({"query": "Resources | project id", "options": {"$skipToken": "not-a-token"}})),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (400, "InvalidSkipToken"));
}

#[tokio::test(flavor = "multi_thread")]
async fn resource_graph_lags_arm_by_the_configured_time() {
    let h = Harness::start().await;
    let acct = h.storage_account("lagging").await;
    h.set_config(json!({"graphLagMs": 1500})).await;
    let tls = || async {
        let r = h
            .arm(
                Method::POST,
                GRAPH,
                Some(&json!({"query": "Resources | where name == 'lagging' | project id, tls = properties.minimumTlsVersion"})),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        // Absent until indexed; then the account's TLS floor (null when never set).
        r.body["data"].get(0).map(|row| row["tls"].clone())
    };
    // The account is first indexed once the lag has passed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let before = loop {
        if let Some(v) = tls().await {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "never indexed");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let new = if before == json!("TLS1_2") {
        "TLS1_1"
    } else {
        "TLS1_2"
    };
    let patched = h
        .arm(
            Method::PATCH,
            &format!("{acct}?api-version={STORAGE_API}"),
            Some(&json!({"properties": {"minimumTlsVersion": new}})),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(
        tls().await,
        Some(before),
        "the index still shows the old value"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tls().await != Some(json!(new)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the change never showed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
