//! Access reviews end to end: the operator binary, the real API server and azure-sim seeded with
//! the example estate, where a clerk holds a data role on the storage account, a legacy
//! deployment principal is Contributor on the subscription and a break-glass admin is Owner of
//! the resource group.

mod support;

use std::time::{Duration, Instant};

use hipaa_operator::api::accessreview::ReviewPhase;
use hipaa_operator::api::{AccessReview, PhiStore};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;
use support::estate::{Estate, condition, control_state};
use support::store::{PRIVACY_OFFICER, SECURITY_OFFICER, StoreFixture};
use support::{secs, sim};

const STORE: &str = "referral-letters";

const CLERK: &str = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
const LEGACY: &str = "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a";
const BREAK_GLASS: &str = "0b1c2d3e-4f5a-4b6c-8d7e-8f9a0b1c2d3e";
const NEWCOMER: &str = "4f5a6b7c-8d9e-4f0a-9b1c-2d3e4f5a6b7c";

/// The estate with access reviews due 40 s after a cycle opens, in `mode`.
async fn reviewed_estate(name: &str, mode: &str) -> (Estate, Api<AccessReview>) {
    let e = Estate::test(name)
        .mode(mode)
        .workspace_spec(json!({"accessReview": {"dueAfter": "PT40S"}}))
        .start()
        .await;
    let reviews = e.api();
    (e, reviews)
}

/// The storage example without its exemption.
fn store() -> PhiStore {
    PhiStore::test("phistore-storage.yaml")
        .without_exemptions()
        .build()
}

async fn wait_review(
    e: &Estate,
    reviews: &Api<AccessReview>,
    what: &str,
    done: impl Fn(&[AccessReview]) -> bool,
) -> Vec<AccessReview> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut list = reviews
            .list(&ListParams::default())
            .await
            .expect("list")
            .items;
        list.sort_by_key(|r| r.metadata.creation_timestamp.clone().map(|t| t.0));
        if done(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {list:#?}\n{}",
            e.operator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn wait_store(e: &Estate, what: &str, done: impl Fn(&PhiStore) -> bool) -> PhiStore {
    e.wait_store(STORE, what, secs(90), done).await
}

fn phase(r: &AccessReview) -> Option<ReviewPhase> {
    r.status.as_ref().and_then(|s| s.phase)
}

/// Approves everyone in the cycle except `deny`.
fn decisions(review: &AccessReview, deny: &[&str]) -> serde_json::Value {
    let mut principals: Vec<&str> = review
        .spec
        .assignments
        .iter()
        .map(|a| a.principal_id.as_str())
        .collect();
    principals.sort_unstable();
    principals.dedup();
    json!(
        principals
            .iter()
            .map(|p| json!({
                "principalId": p,
                "decision": if deny.contains(p) { "Deny" } else { "Approve" },
                "reviewer": "privacy-officer@contoso-health.example",
                "justification": "quarterly access review CHG-3301"
            }))
            .collect::<Vec<_>>()
    )
}

fn role_assignment_deletes(writes: &[(String, String)]) -> Vec<String> {
    writes
        .iter()
        .filter(|(m, p)| {
            m == "DELETE" && p.contains("/providers/Microsoft.Authorization/roleAssignments/")
        })
        .map(|(_, p)| p.clone())
        .collect()
}

#[tokio::test]
async fn a_cycle_lists_access_removes_exactly_the_denied_removable_assignments_and_tracks_new_access()
 {
    let (e, reviews) = reviewed_estate("review-enforce", "Enforce").await;
    e.create(&store()).await;
    let list = wait_review(&e, &reviews, "a cycle opens", |l| !l.is_empty()).await;
    let review = &list[0];
    assert!(
        review
            .metadata
            .name
            .as_deref()
            .unwrap_or_default()
            .starts_with("referral-letters-")
    );
    let owner = review.metadata.owner_references.clone().unwrap_or_default();
    assert_eq!(owner.first().map(|o| o.kind.as_str()), Some("PhiStore"));
    let find = |p: &str| {
        review
            .spec
            .assignments
            .iter()
            .find(|a| a.principal_id == p)
            .unwrap_or_else(|| panic!("{p} not listed: {:#?}", review.spec.assignments))
    };
    let clerk = find(CLERK);
    assert!(!clerk.inherited && clerk.data_access, "{clerk:?}");
    assert_eq!(clerk.role_name, "Storage Blob Data Reader");
    let legacy = find(LEGACY);
    assert!(legacy.inherited && !legacy.data_access);
    assert_eq!(
        legacy.scope,
        format!("/subscriptions/{}", sim::SUBSCRIPTION)
    );
    assert!(find(BREAK_GLASS).break_glass);
    wait_store(&e, "review pending", |s| {
        condition(s, "AccessReviewed") == Some(("False".into(), "ReviewPending".into()))
    })
    .await;

    // Decisions through the API (as kubectl or Git would apply them).
    e.sim.clear_log().await;
    reviews
        .patch(
            review.metadata.name.as_deref().expect("name"),
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"decisions": decisions(review, &[CLERK, LEGACY, BREAK_GLASS])}}),
            ),
        )
        .await
        .expect("decide");
    let done = wait_review(&e, &reviews, "completed with removals", |l| {
        l[0].status
            .as_ref()
            .is_some_and(|s| s.phase == Some(ReviewPhase::Completed) && !s.removed.is_empty())
    })
    .await;
    let status = done[0].status.clone().expect("status");
    assert_eq!(
        status
            .removed
            .iter()
            .map(|r| r.principal_id.as_str())
            .collect::<Vec<_>>(),
        vec![CLERK],
        "only the denied assignment inside the workspace's scope is removed"
    );
    assert_eq!(status.manual_removal_required.len(), 2, "{status:?}");
    assert!(
        status
            .manual_removal_required
            .iter()
            .any(|m| m.contains(LEGACY) && m.contains("inherited"))
    );
    assert!(
        status
            .manual_removal_required
            .iter()
            .any(|m| m.contains(BREAK_GLASS) && m.contains("break-glass"))
    );
    let deletes = role_assignment_deletes(&e.sim.writes().await);
    assert_eq!(deletes.len(), 1, "exactly one removal: {deletes:?}");
    assert!(deletes[0].eq_ignore_ascii_case(&clerk.role_assignment_id));
    wait_store(&e, "reviewed", |s| {
        condition(s, "AccessReviewed") == Some(("True".into(), "Reviewed".into()))
    })
    .await;

    // Access granted after the review is drift of the store until a cycle reviews it.
    e.sim
        .admin(
            reqwest::Method::POST,
            "seed",
            Some(
                json!({"roleAssignments": [{"scope": sim::account_id(), "principalId": NEWCOMER,
                "role": "Storage Blob Data Contributor", "principalType": "User"}]}),
            ),
        )
        .await;
    // The next pass comes at once on a spec change.
    e.patch_store(
        STORE,
        json!({"metadata": {"annotations": {"hipaa-operator.io/review-requested": "CHG-3302"}}}),
    )
    .await;
    let unreviewed = |s: &PhiStore| {
        s.status
            .iter()
            .flat_map(|st| st.controls.iter())
            .find(|c| c.id == "access.unreviewed-assignment")
            .map(|c| (format!("{:?}", c.state), c.observed.clone()))
            .unwrap_or_default()
    };
    let s = wait_store(&e, "unreviewed access found", |s| {
        let (state, observed) = unreviewed(s);
        state == "Drifted" && observed.contains(NEWCOMER)
    })
    .await;
    let (_, observed) = unreviewed(&s);
    // Denied access the operator may not remove stays visible too.
    assert!(
        observed.contains(&format!("not reviewed: {NEWCOMER}"))
            && observed.contains("denied but still present")
            && observed.contains(LEGACY),
        "{observed}"
    );
    // The requested cycle lists the newcomer; left undecided, it falls overdue.
    let list = wait_review(&e, &reviews, "a requested cycle", |l| l.len() == 2).await;
    assert!(
        list[1]
            .spec
            .assignments
            .iter()
            .any(|a| a.principal_id == NEWCOMER)
    );
    assert_eq!(
        list[1]
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("hipaa-operator.io/review-requested"))
            .map(String::as_str),
        Some("CHG-3302")
    );
    wait_review(&e, &reviews, "overdue", |l| {
        l.len() == 2 && phase(&l[1]) == Some(ReviewPhase::Overdue)
    })
    .await;
    // The store notices at its next pass (the cycle's status change wakes it).
    wait_store(&e, "review overdue", |s| {
        condition(s, "AccessReviewed") == Some(("False".into(), "ReviewOverdue".into()))
            && control_state(s, "common.access-review-evidence") == "Drifted"
    })
    .await;
    let events: Api<k8s_openapi::api::events::v1::Event> = e.api();
    let reasons: Vec<String> = events
        .list(&Default::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter_map(|ev| ev.reason)
        .collect();
    assert!(reasons.iter().any(|r| r == "ReviewOverdue"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "AccessRemoved"), "{reasons:?}");
    e.ns.delete().await.expect("delete namespace");
}

#[tokio::test]
async fn audit_mode_reviews_but_removes_nothing() {
    let (e, reviews) = reviewed_estate("review-audit", "Audit").await;
    e.create(&store()).await;
    let list = wait_review(&e, &reviews, "a cycle opens", |l| !l.is_empty()).await;
    reviews
        .patch(
            list[0].metadata.name.as_deref().expect("name"),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"decisions": decisions(&list[0], &[CLERK])}})),
        )
        .await
        .expect("decide");
    let done = wait_review(&e, &reviews, "completed", |l| {
        phase(&l[0]) == Some(ReviewPhase::Completed)
    })
    .await;
    let status = done[0].status.clone().expect("status");
    assert!(status.removed.is_empty());
    assert!(
        status
            .manual_removal_required
            .iter()
            .any(|m| m.contains(CLERK) && m.contains("Audit mode")),
        "{status:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let writes = e.sim.writes().await;
    assert!(writes.is_empty(), "Audit mode wrote to Azure: {writes:?}");
    e.ns.delete().await.expect("delete namespace");
}

#[tokio::test]
async fn azure_native_reviews_are_created_and_their_decisions_reflected() {
    use hipaa_operator::azure::types::ArmOp;
    let e = Estate::test("review-native")
        .enforce()
        .workspace_spec(json!({"accessReview": {
            "azureNative": true,
            "reviewers": [{"name": PRIVACY_OFFICER, "principalId": BREAK_GLASS}]
        }}))
        .start()
        .await;
    let reviews: Api<AccessReview> = e.api();
    e.create(&store()).await;
    let list = wait_review(&e, &reviews, "a cycle mirrored from Azure", |l| {
        l.iter().any(|r| {
            r.metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key("hipaa-operator.io/azure-review-instance"))
        })
    })
    .await;
    let mirrored = list[0].clone();
    let instance = mirrored.metadata.annotations.as_ref().expect("a")["hipaa-operator.io/azure-review-instance"].clone();
    // Azure reviews the assignments at the store's own scope: the clerk's.
    assert!(
        mirrored.spec.assignments.iter().all(|a| !a.inherited),
        "{:?}",
        mirrored.spec.assignments
    );
    assert!(
        mirrored
            .spec
            .assignments
            .iter()
            .any(|a| a.principal_id == CLERK)
    );
    let definitions: Vec<(String, String)> = e
        .sim
        .writes()
        .await
        .into_iter()
        .filter(|(m, p)| m == "PUT" && p.contains("accessReviewScheduleDefinitions"))
        .collect();
    assert_eq!(definitions.len(), 1, "{definitions:?}");

    // A reviewer denies the clerk's access in Azure.
    let azure = e.sim.client(support::sim::Sim::operator_identity());
    const LIST: ArmOp = ArmOp::new(
        "ScopeAccessReviewInstanceDecisions_List",
        "Microsoft.Authorization",
        "2021-12-01-preview",
    );
    const PATCH: ArmOp = ArmOp::new(
        "ScopeAccessReviewInstanceDecisions_Patch",
        "Microsoft.Authorization",
        "2021-12-01-preview",
    );
    let decisions: serde_json::Value = azure
        .get(&LIST, &format!("{instance}/decisions"))
        .await
        .expect("decisions");
    let clerk_decision = decisions["value"]
        .as_array()
        .expect("decisions")
        .iter()
        .find(|d| d["properties"]["principal"]["id"] == CLERK)
        .and_then(|d| d["id"].as_str())
        .expect("a decision for the clerk")
        .to_string();
    azure
        .write(
            &PATCH,
            azure_core::http::Method::Patch,
            &clerk_decision,
            Some(&json!({"properties": {"decision": "Deny", "justification": "moved to another team"}})),
            None,
        )
        .await
        .expect("decide in Azure");
    // The store's next pass reflects it (a request annotation wakes it now).
    e.patch_store(
        STORE,
        json!({"metadata": {"labels": {"reviewed-in": "azure"}}}),
    )
    .await;
    let done = wait_review(&e, &reviews, "reflected and applied", |l| {
        l.iter().any(|r| {
            r.spec.decisions.iter().any(|d| d.principal_id == CLERK)
                && r.status.as_ref().is_some_and(|s| !s.removed.is_empty())
        })
    })
    .await;
    let r = done
        .iter()
        .find(|r| !r.spec.decisions.is_empty())
        .expect("review");
    assert_eq!(r.spec.decisions[0].justification, "moved to another team");
    e.ns.delete().await.expect("delete namespace");
}

/// AccessReviews the operator did not open are not the store's cycles and are never acted on,
/// whatever they claim: ids with a query or a fragment aimed at the audit archive, an id scoped
/// to another resource, the break-glass owner marked as an ordinary local assignment, every
/// principal denied. The operator's own cycle stays the evidence, and a denial on it is judged
/// on the operator's own list of assignments (the break-glass owner is kept).
#[tokio::test]
async fn forged_review_cycles_are_ignored_and_make_no_azure_write() {
    let (e, reviews) = reviewed_estate("review-forged", "Enforce").await;
    let store = e.create(&store()).await;
    let list = wait_review(&e, &reviews, "the operator's cycle opens", |l| {
        !l.is_empty()
    })
    .await;
    let own = list[0].clone();
    let own_name = own.metadata.name.clone().expect("name");
    wait_store(&e, "the cycle is recorded as the store's", |s| {
        s.status
            .as_ref()
            .is_some_and(|st| st.review_cycles.iter().any(|c| c.name == own_name))
    })
    .await;

    let archive = format!(
        "{}/providers/Microsoft.Storage/storageAccounts/stclinicalauditarchive",
        sim::RG
    );
    let guid = "3fc1b2d0-6a8e-4f1c-9b7e-2a4d6c8e0f13";
    let ra = "/providers/Microsoft.Authorization/roleAssignments";
    let forged_ids = [
        format!("{archive}?api-version=2025-01-01&x={ra}/{guid}"),
        format!("{archive}#{ra}/{guid}"),
        format!("{archive}{ra}/{guid}"),
    ];
    let break_glass = own
        .spec
        .assignments
        .iter()
        .find(|a| a.principal_id == BREAK_GLASS)
        .expect("break-glass owner listed")
        .clone();
    e.sim.clear_log().await;
    let mut created = Vec::new();
    for (i, id) in forged_ids.iter().enumerate() {
        let principal = format!("5{i}5a6b7c-8d9e-4f0a-9b1c-2d3e4f5a6b7c");
        let mut forged_glass = break_glass.clone();
        forged_glass.break_glass = false;
        forged_glass.inherited = false;
        forged_glass.scope = sim::account_id();
        let assignments = json!([
            {"roleAssignmentId": id, "principalId": principal, "principalType": "User",
             "roleName": "Owner", "scope": archive, "dataAccess": true},
            forged_glass,
        ]);
        let deny = |p: &str| {
            json!({"principalId": p, "decision": "Deny",
            "reviewer": "privacy-officer@contoso-health.example", "justification": "forged"})
        };
        let forged: AccessReview = serde_json::from_value(json!({
            "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "AccessReview",
            "metadata": {
                "name": format!("referral-letters-forged-{i}"),
                "labels": {"hipaa-operator.io/store": STORE},
                // What an attacker can copy from the store.
                "ownerReferences": [{"apiVersion": "hipaa-operator.io/v1alpha1", "kind": "PhiStore",
                    "name": STORE, "uid": store.metadata.uid, "controller": true}]
            },
            "spec": {"storeRef": {"name": STORE}, "dueBy": "2099-01-01T00:00:00Z",
                     "assignments": assignments, "decisions": [deny(&principal), deny(BREAK_GLASS)]}
        }))
        .expect("forged review");
        match reviews.create(&Default::default(), &forged).await {
            Ok(r) => created.push(r.metadata.name.expect("name")),
            // Refused at apply time is as good as ignored.
            Err(kube::Error::Api(s)) if s.code == 422 => {}
            Err(err) => panic!("creating a forged cycle: {err}"),
        }
    }
    assert!(
        created.iter().any(|n| n.ends_with("-2")),
        "an assignment id scoped to another resource is well-formed and must reach the operator"
    );
    // Each forged cycle is marked as not the operator's.
    wait_review(&e, &reviews, "forged cycles marked", |l| {
        created.iter().all(|name| {
            l.iter().any(|r| {
                r.metadata.name.as_ref() == Some(name)
                    && r.status.as_ref().is_some_and(|s| {
                        s.conditions
                            .iter()
                            .any(|c| c.type_ == "Ready" && c.reason == "NotOpenedByOperator")
                            && s.removed.is_empty()
                    })
            })
        })
    })
    .await;
    // The operator's own cycle: everyone approved but the break-glass owner, whom a reviewer
    // denies; Azure and the workspace say it is break-glass, so it is kept.
    reviews
        .patch(
            &own_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"decisions": decisions(&own, &[BREAK_GLASS])}})),
        )
        .await
        .expect("decide");
    let done = wait_review(&e, &reviews, "own cycle completed", |l| {
        l.iter().any(|r| {
            r.metadata.name.as_deref() == Some(own_name.as_str())
                && r.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.reason == "Completed")
                })
        })
    })
    .await;
    let own_status = done
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(own_name.as_str()))
        .and_then(|r| r.status.clone())
        .expect("status");
    assert!(own_status.removed.is_empty(), "{own_status:?}");
    assert!(
        own_status
            .manual_removal_required
            .iter()
            .any(|m| m.contains(BREAK_GLASS) && m.contains("break-glass")),
        "{own_status:?}"
    );
    let s = wait_store(&e, "reviewed by the operator's own cycle", |s| {
        condition(s, "AccessReviewed") == Some(("True".into(), "Reviewed".into()))
    })
    .await;
    let message = s
        .status
        .as_ref()
        .and_then(|st| st.conditions.iter().find(|c| c.type_ == "AccessReviewed"))
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(message.contains(&own_name), "{message}");
    // Not one delete reached Azure: not the archive, not a role assignment.
    let deletes: Vec<(String, String)> = e
        .sim
        .writes()
        .await
        .into_iter()
        .filter(|(m, _)| m == "DELETE")
        .collect();
    assert!(deletes.is_empty(), "{deletes:?}");
    e.ns.delete().await.expect("delete namespace");
}

/// An exemption of `access.unreviewed-assignment` stops every removal of access it covers:
/// denied access on a completed cycle and access granted since, even with `unreviewedAccess:
/// Remove` in Enforce mode.
#[tokio::test]
async fn an_exemption_of_access_review_removals_stops_every_removal() {
    let e = Estate::test("review-exempt")
        .enforce()
        .workspace_spec(
            json!({"accessReview": {"dueAfter": "PT40S", "unreviewedAccess": "Remove"}}),
        )
        .start()
        .await;
    let reviews: Api<AccessReview> = e.api();
    let expires = (k8s_openapi::jiff::Timestamp::now()
        + k8s_openapi::jiff::SignedDuration::from_hours(24 * 30))
    .to_string();
    let s = PhiStore::test("phistore-storage.yaml")
        .without_exemptions()
        .exempt_until(
            "access.unreviewed-assignment",
            "Access changes are frozen during the EHR migration (CHG-4100).",
            SECURITY_OFFICER,
            &expires,
        )
        .build();
    e.create(&s).await;
    let list = wait_review(&e, &reviews, "a cycle opens", |l| !l.is_empty()).await;
    let review = list[0].clone();
    e.sim.clear_log().await;
    reviews
        .patch(
            review.metadata.name.as_deref().expect("name"),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"decisions": decisions(&review, &[CLERK])}})),
        )
        .await
        .expect("decide");
    let done = wait_review(&e, &reviews, "completed, nothing removed", |l| {
        l[0].status.as_ref().is_some_and(|s| {
            s.phase == Some(ReviewPhase::Completed)
                && s.manual_removal_required
                    .iter()
                    .any(|m| m.contains(CLERK) && m.contains("exemption"))
        })
    })
    .await;
    assert!(
        done[0]
            .status
            .as_ref()
            .is_some_and(|s| s.removed.is_empty())
    );
    // Access granted after the completed cycle is unreviewed; the exemption keeps it too.
    e.sim
        .admin(
            reqwest::Method::POST,
            "seed",
            Some(
                json!({"roleAssignments": [{"scope": sim::account_id(), "principalId": NEWCOMER,
                "role": "Storage Blob Data Contributor", "principalType": "User"}]}),
            ),
        )
        .await;
    e.patch_store(
        STORE,
        json!({"metadata": {"labels": {"touched": "yes"}}, "spec": {"mode": "Enforce"}}),
    )
    .await;
    wait_store(&e, "unreviewed access exempt", |s| {
        control_state(s, "access.unreviewed-assignment") == "Exempt"
            && s.status
                .as_ref()
                .is_some_and(|st| st.observed_generation == s.metadata.generation)
    })
    .await;
    let deletes = role_assignment_deletes(&e.sim.writes().await);
    assert!(deletes.is_empty(), "{deletes:?}");
    e.ns.delete().await.expect("delete namespace");
}
