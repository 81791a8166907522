//! Management locks: CanNotDelete and ReadOnly at a scope refuse deletes (and, for ReadOnly,
//! writes) of everything at or below it with 409 ScopeLocked; locks list at group and resource
//! level; only roles with Microsoft.Authorization/locks/* may set them.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

const LOCKS: &str = "2020-05-01";

fn rg_id() -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{RG}")
}

async fn put_lock(h: &Harness, scope: &str, name: &str, level: &str) -> Resp {
    h.arm(
        Method::PUT,
        &format!("{scope}/providers/Microsoft.Authorization/locks/{name}?api-version={LOCKS}"),
        Some(&json!({"properties": {"level": level, "notes": "keep the PHI store"}})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_lock_on_the_group_refuses_deletes_below_it_but_not_updates() {
    let h = Harness::start().await;
    let acct = h.storage_account("phistore01").await;
    let l = put_lock(&h, &rg_id(), "no-delete", "CanNotDelete").await;
    assert_eq!(l.status, 201, "{:?}", l.body);
    assert_eq!(l.body["properties"]["level"], "CanNotDelete");
    assert_eq!(l.body["type"], "Microsoft.Authorization/locks");

    let d = h
        .arm(
            Method::DELETE,
            &format!("{acct}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!((d.status, d.code()), (409, "ScopeLocked"), "{:?}", d.body);
    assert_eq!(
        d.body["error"]["message"],
        format!(
            "The scope '{acct}' cannot perform delete operation because following scope(s) are locked: '{}'. Please remove the lock and try again.",
            rg_id()
        )
    );
    let still = h
        .arm(
            Method::GET,
            &format!("{acct}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(still.status, 200, "the refused delete left the account");

    let patch = h
        .arm(
            Method::PATCH,
            &format!("{acct}?api-version={STORAGE_API}"),
            Some(&json!({"properties": {"minimumTlsVersion": "TLS1_2"}})),
        )
        .await;
    assert_eq!(
        patch.status, 200,
        "CanNotDelete allows updates: {:?}",
        patch.body
    );

    let group = h
        .arm(
            Method::DELETE,
            &format!("{}?api-version=2024-03-01", rg_id()),
            None,
        )
        .await;
    assert_eq!((group.status, group.code()), (409, "ScopeLocked"));

    let unlock = h
        .arm(
            Method::DELETE,
            &format!(
                "{}/providers/Microsoft.Authorization/locks/no-delete?api-version={LOCKS}",
                rg_id()
            ),
            None,
        )
        .await;
    assert_eq!(unlock.status, 200, "the lock itself can be removed");
    let d = h
        .arm(
            Method::DELETE,
            &format!("{acct}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(d.status, 200, "{:?}", d.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_lock_on_a_resource_refuses_writes_posts_and_role_assignments_there() {
    let h = Harness::start().await;
    let acct = h.storage_account("phistore02").await;
    let other = h.storage_account("phistore03").await;
    let l = put_lock(&h, &acct, "frozen", "ReadOnly").await;
    assert_eq!(l.status, 201, "{:?}", l.body);

    let get = h
        .arm(
            Method::GET,
            &format!("{acct}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(get.status, 200, "reads pass a ReadOnly lock");
    let patch = h
        .arm(
            Method::PATCH,
            &format!("{acct}?api-version={STORAGE_API}"),
            Some(&json!({"tags": {"x": "y"}})),
        )
        .await;
    assert_eq!((patch.status, patch.code()), (409, "ScopeLocked"));
    assert!(
        patch.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot perform write operation")),
        "{:?}",
        patch.body
    );
    let container = format!("{acct}/blobServices/default/containers/phi");
    let c = h
        .arm(
            Method::PUT,
            &format!("{container}?api-version={STORAGE_API}"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(
        (c.status, c.code()),
        (409, "ScopeLocked"),
        "a child cannot be added below a read-only lock"
    );
    let ra = h
        .arm(
            Method::PUT,
            &format!(
                "{acct}/providers/Microsoft.Authorization/roleAssignments/7d3c0f10-0000-4000-8000-000000000001?api-version=2022-04-01"
            ),
            Some(&json!({"properties": {"roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7", "principalId": READER}})),
        )
        .await;
    assert_eq!((ra.status, ra.code()), (409, "ScopeLocked"));

    // The lock stops at its resource: the neighbour is still writable.
    let ok = h
        .arm(
            Method::PUT,
            &format!("{other}/blobServices/default/containers/phi?api-version={STORAGE_API}"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    let policy =
        format!("{other}/blobServices/default/containers/phi/immutabilityPolicies/default");
    let p = h
        .arm(
            Method::PUT,
            &format!("{policy}?api-version={STORAGE_API}"),
            Some(&json!({"properties": {"immutabilityPeriodSinceCreationInDays": 7}})),
        )
        .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    let etag = p.header("etag").expect("etag").to_string();
    put_lock(&h, &other, "frozen", "ReadOnly").await;
    let lock_policy = h
        .send(
            Method::POST,
            &h.url(&format!("{policy}/lock?api-version={STORAGE_API}")),
            Some(&h.owner_token),
            None,
            &[("If-Match", etag.as_str())],
        )
        .await;
    assert_eq!(
        (lock_policy.status, lock_policy.code()),
        (409, "ScopeLocked"),
        "POST actions are writes for a ReadOnly lock"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn locks_list_at_group_and_resource_level_and_need_lock_permissions() {
    let h = Harness::start().await;
    let acct = h.storage_account("phistore04").await;
    assert_eq!(
        put_lock(&h, &rg_id(), "group-lock", "CanNotDelete")
            .await
            .status,
        201
    );
    assert_eq!(
        put_lock(&h, &acct, "account-lock", "ReadOnly").await.status,
        201
    );
    let again = put_lock(&h, &acct, "account-lock", "CanNotDelete").await;
    assert_eq!(again.status, 200, "replacing a lock answers 200");

    let names = |r: &Resp| -> Vec<String> {
        let mut v: Vec<String> = r.body["value"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["name"].as_str().unwrap_or_default().to_string())
            .collect();
        v.sort();
        v
    };
    let at_group = h
        .arm(
            Method::GET,
            &format!(
                "{}/providers/Microsoft.Authorization/locks?api-version={LOCKS}",
                rg_id()
            ),
            None,
        )
        .await;
    assert_eq!(at_group.status, 200, "{:?}", at_group.body);
    assert_eq!(names(&at_group), ["account-lock", "group-lock"]);
    let at_account = h
        .arm(
            Method::GET,
            &format!("{acct}/providers/Microsoft.Authorization/locks?api-version={LOCKS}"),
            None,
        )
        .await;
    assert_eq!(names(&at_account), ["account-lock"]);
    let applying = h
        .arm(
            Method::GET,
            &format!(
                "{acct}/providers/Microsoft.Authorization/locks?api-version={LOCKS}&$filter=atScope()"
            ),
            None,
        )
        .await;
    assert_eq!(
        names(&applying),
        ["account-lock", "group-lock"],
        "atScope() lists the locks that apply to the scope"
    );

    let bad = put_lock(&h, &rg_id(), "odd", "Frozen").await;
    assert_eq!((bad.status, bad.code()), (400, "InvalidRequestContent"));

    // Contributor's notActions exclude Microsoft.Authorization/*/Write: no locks for the operator.
    let op = h.token(OPERATOR).await;
    let denied = h
        .arm_as(
            &op,
            Method::PUT,
            &format!(
                "{}/providers/Microsoft.Authorization/locks/mine?api-version={LOCKS}",
                rg_id()
            ),
            Some(&json!({"properties": {"level": "CanNotDelete"}})),
        )
        .await;
    assert_eq!((denied.status, denied.code()), (403, "AuthorizationFailed"));
}
