//! Out-of-band drift is made the real way: another principal PATCHes the resource through ARM.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn another_principal_patches_and_the_reader_sees_it_with_who_did_it() {
    let h = Harness::start().await;
    let acct = h.storage_account("drift01").await;
    let url = format!("{acct}?api-version={STORAGE_API}");
    let op = h.token(OPERATOR).await;
    let fix = h
        .arm_as(
            &op,
            Method::PATCH,
            &url,
            Some(&json!({"properties": {"minimumTlsVersion": "TLS1_2"}})),
        )
        .await;
    assert_eq!(fix.status, 200);
    let before = h.arm_as(&op, Method::GET, &url, None).await.body["systemData"].clone();
    assert_eq!(before["lastModifiedBy"], OPERATOR);

    // A portal user weakens TLS out of band.
    let drift = h
        .arm(
            Method::PATCH,
            &url,
            Some(&json!({"properties": {"minimumTlsVersion": "TLS1_0"}})),
        )
        .await;
    assert_eq!(drift.status, 200);

    let seen = h.arm_as(&op, Method::GET, &url, None).await;
    assert_eq!(seen.body["properties"]["minimumTlsVersion"], "TLS1_0");
    assert_eq!(seen.body["systemData"]["lastModifiedBy"], OWNER);
    assert_eq!(
        seen.body["systemData"]["createdBy"], OWNER,
        "creation is remembered"
    );
    let writes = h
        .admin(
            Method::GET,
            "/requests?method=PATCH&path=*/storageAccounts/drift01",
            None,
        )
        .await;
    let callers: Vec<&str> = writes.body["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["caller"].as_str())
        .collect();
    assert_eq!(
        callers,
        vec![OPERATOR, OWNER],
        "the log tells who wrote what, in order"
    );
}
