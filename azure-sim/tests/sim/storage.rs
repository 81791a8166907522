//! Storage rules: blob service, containers, immutability policy ETags / If-Match / lock / extend.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn immutability_policy_etags_lock_and_extend() {
    let h = Harness::start().await;
    let acct = h.storage_account("archive01").await;
    let svc = h
        .arm(
            Method::GET,
            &format!("{acct}/blobServices/default?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(svc.status, 200, "every account has its blob service");
    let files = h
        .arm(
            Method::GET,
            &format!("{acct}/fileServices/default?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(
        files.body["properties"]["shareDeleteRetentionPolicy"]["enabled"],
        true
    );
    let container = format!("{acct}/blobServices/default/containers/audit");
    let c = h
        .arm(
            Method::PUT,
            &format!("{container}?api-version={STORAGE_API}"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    assert_eq!(c.body["properties"]["publicAccess"], "None");
    let policy = format!("{container}/immutabilityPolicies/default?api-version={STORAGE_API}");
    let p = h.arm(Method::PUT, &policy, Some(&json!({"properties": {"immutabilityPeriodSinceCreationInDays": 3, "allowProtectedAppendWrites": true}}))).await;
    assert_eq!(p.status, 200);
    let etag = p.header("etag").expect("ETag header").to_string();
    assert_eq!(p.body["etag"], etag);
    assert_eq!(p.body["properties"]["state"], "Unlocked");

    let stale = h
        .send(
            Method::PUT,
            &h.url(&policy),
            Some(&h.owner_token),
            Some(&json!({"properties": {"immutabilityPeriodSinceCreationInDays": 4}})),
            &[("If-Match", "\"0000\"")],
        )
        .await;
    assert_eq!((stale.status, stale.code()), (412, "PreconditionFailed"));

    let lock_url = h.url(&format!(
        "{container}/immutabilityPolicies/default/lock?api-version={STORAGE_API}"
    ));
    let no_if_match = h
        .send(Method::POST, &lock_url, Some(&h.owner_token), None, &[])
        .await;
    assert_eq!(no_if_match.status, 400);
    let wrong = h
        .send(
            Method::POST,
            &lock_url,
            Some(&h.owner_token),
            None,
            &[("If-Match", "\"0000\"")],
        )
        .await;
    assert_eq!(wrong.status, 412);
    // If-Match is compared without quotes, as the recorded lock example sends it.
    let bare = etag.trim_matches('"').to_string();
    let locked = h
        .send(
            Method::POST,
            &lock_url,
            Some(&h.owner_token),
            None,
            &[("If-Match", &bare)],
        )
        .await;
    assert_eq!(locked.status, 200, "{:?}", locked.body);
    assert_eq!(locked.body["properties"]["state"], "Locked");
    let locked_etag = locked.header("etag").expect("etag").to_string();
    assert_ne!(locked_etag, etag);

    let replace = h
        .arm(
            Method::PUT,
            &policy,
            Some(&json!({"properties": {"immutabilityPeriodSinceCreationInDays": 1}})),
        )
        .await;
    assert_eq!(replace.status, 409);
    let del = h
        .send(
            Method::DELETE,
            &h.url(&policy),
            Some(&h.owner_token),
            None,
            &[("If-Match", &locked_etag)],
        )
        .await;
    assert_eq!(del.status, 409, "a Locked policy cannot be deleted");
    let del_container = h
        .arm(
            Method::DELETE,
            &format!("{container}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(del_container.status, 409);

    let extend_url = h.url(&format!(
        "{container}/immutabilityPolicies/default/extend?api-version={STORAGE_API}"
    ));
    let shorter = h
        .send(
            Method::POST,
            &extend_url,
            Some(&h.owner_token),
            Some(&json!({"properties": {"immutabilityPeriodSinceCreationInDays": 2}})),
            &[("If-Match", &locked_etag)],
        )
        .await;
    assert_eq!(shorter.status, 400);
    let longer = h
        .send(
            Method::POST,
            &extend_url,
            Some(&h.owner_token),
            Some(&json!({"properties": {"immutabilityPeriodSinceCreationInDays": 30}})),
            &[("If-Match", &locked_etag)],
        )
        .await;
    assert_eq!(longer.status, 200, "{:?}", longer.body);
    assert_eq!(
        longer.body["properties"]["immutabilityPeriodSinceCreationInDays"],
        30
    );

    let c = h
        .arm(
            Method::GET,
            &format!("{container}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(c.body["properties"]["hasImmutabilityPolicy"], true);
    assert_eq!(
        c.body["properties"]["immutabilityPolicy"]["properties"]["state"],
        "Locked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn create_time_properties_and_names_are_validated() {
    let h = Harness::start().await;
    let bad_name = h
        .arm(
            Method::PUT,
            &format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/Bad_Name?api-version={STORAGE_API}"),
            Some(&json!({"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}})),
        )
        .await;
    assert_eq!(
        (bad_name.status, bad_name.code()),
        (400, "AccountNameInvalid")
    );
    let acct = h.storage_account("infra01").await;
    let r = h
        .arm(
            Method::PATCH,
            &format!("{acct}?api-version={STORAGE_API}"),
            Some(&json!({"properties": {"encryption": {"requireInfrastructureEncryption": true}}})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let loc = h
        .arm(
            Method::PATCH,
            &format!("{acct}?api-version={STORAGE_API}"),
            Some(&json!({"location": "westus"})),
        )
        .await;
    assert_eq!(loc.status, 400);
}
