//! Access reviews: the access part of every PhiStore pass ([`access`]), the AccessReview
//! controller ([`controller`]), and Azure's own reviews mirrored into cycles ([`native`]). What
//! they share lives here: the store's cycles as the operator recorded them, their cadence, and
//! what the store's status keeps of them.

mod access;
mod controller;
mod native;

pub use access::{AccessView, after, mirrored, observe, plan, report};
pub use controller::{ReconcileError, run};

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};

use super::context::Context;
use super::pipeline;
use crate::api::accessreview::{AccessReview, AccessReviewSpec, ReviewPhase, ReviewedAssignment};
use crate::api::common::LocalObjectRef;
use crate::api::{HipaaWorkspace, PhiStore, duration};
use crate::controls::Finding;
use crate::controls::access as access_controls;

/// Label naming the store a cycle reviews.
pub const STORE_LABEL: &str = "hipaa-operator.io/store";
/// Annotation on a PhiStore that opens a cycle now; its value is a token (a date, a ticket).
pub const REQUEST_ANNOTATION: &str = "hipaa-operator.io/review-requested";
/// The field manager of the status this controller writes.
pub const MANAGER: &str = "hipaa-operator-accessreview";
pub(crate) const CONDITION: &str = "AccessReviewed";
/// `Ready` reason of an AccessReview the operator did not open for its store.
pub const NOT_OPENED_BY_OPERATOR: &str = "NotOpenedByOperator";

/// What the access pass adds to a store's evaluation.
pub struct AccessOutcome {
    pub findings: Vec<Finding>,
    /// `AccessReviewed`, with the review's own reasons.
    pub condition: Condition,
    /// [`cycles_digest`] of the store's cycles as the pass left them (with one it opened).
    pub cycles: u64,
    /// When the cycles next change without anyone acting ([`next_change`]).
    pub changes_in: Option<Duration>,
    /// The store's cycles as the pass left them, for `status.reviewCycles`.
    pub cycle_refs: Vec<crate::api::phistore::CycleRef>,
}

pub(crate) fn cadence(ws: &HipaaWorkspace) -> (Duration, Duration) {
    let settings = ws.spec.access_review.as_ref();
    let cadence = settings
        .and_then(|a| duration::parse(&a.cadence))
        .unwrap_or(Duration::from_secs(90 * 86_400));
    let due = settings
        .and_then(|a| duration::parse(&a.due_after))
        .unwrap_or(Duration::from_secs(14 * 86_400));
    (cadence, due)
}

/// The scopes the workspace governs: its resource group (and so every store in it).
pub fn governed(ws: &HipaaWorkspace) -> Vec<String> {
    vec![format!(
        "/subscriptions/{}/resourceGroups/{}",
        ws.spec.subscription_id, ws.spec.resource_group
    )]
}

pub(crate) fn break_glass(ws: &HipaaWorkspace) -> Vec<String> {
    ws.spec
        .access_review
        .as_ref()
        .map(|a| a.break_glass_principal_ids.clone())
        .unwrap_or_default()
}

pub(crate) fn created(r: &AccessReview) -> Timestamp {
    r.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// How long until the store's cycles (`reviews`, newest first) change by the clock alone: the
/// latest, still open, falls overdue (the `AccessReviewed` condition changes then), or the
/// latest, completed, is a cadence old and the next cycle opens (not with Azure's own reviews,
/// where Azure opens them). `None` when no such moment comes.
pub fn next_change(ws: &HipaaWorkspace, reviews: &[AccessReview], now: &Time) -> Option<Duration> {
    let latest = reviews.first()?;
    let until = |at: Timestamp| {
        let secs = at.duration_since(now.0).as_secs().max(0) as u64;
        Duration::from_secs(secs + 1)
    };
    match access_controls::phase(latest, now).0 {
        ReviewPhase::Open => Some(until(latest.spec.due_by.0)),
        ReviewPhase::Overdue => None,
        ReviewPhase::Completed => {
            let azure_native = ws
                .spec
                .access_review
                .as_ref()
                .is_some_and(|a| a.azure_native);
            if azure_native {
                return None;
            }
            let cadence = SignedDuration::try_from(cadence(ws).0).ok()?;
            Some(until(created(latest).checked_add(cadence).ok()?))
        }
    }
}

/// The store's review cycles, newest first: the AccessReviews the operator opened for it (or
/// mirrored from Azure), as recorded in the store's status by name and uid. Anything else that
/// carries the store's label is not its cycle.
pub async fn cycles(ctx: &Context, store: &PhiStore) -> Result<Vec<AccessReview>, kube::Error> {
    if store
        .status
        .as_ref()
        .is_none_or(|s| s.review_cycles.is_empty())
    {
        return Ok(Vec::new());
    }
    let api: Api<AccessReview> =
        Api::namespaced(ctx.kube.clone(), &store.namespace().unwrap_or_default());
    let mut list = api
        .list(&ListParams::default().labels(&format!("{STORE_LABEL}={}", store.name_any())))
        .await?
        .items;
    list.retain(|r| opened_for(store, r));
    list.sort_by_key(|r| std::cmp::Reverse(created(r)));
    Ok(list)
}

/// Whether the operator opened (or mirrored) `review` for `store`: its name and uid are in the
/// store's `status.reviewCycles`, which only the operator writes.
pub fn opened_for(store: &PhiStore, review: &AccessReview) -> bool {
    let Some(uid) = review.meta().uid.as_deref() else {
        return false;
    };
    review.spec.store_ref.name == store.name_any()
        && store.status.as_ref().is_some_and(|s| {
            s.review_cycles
                .iter()
                .any(|c| c.uid == uid && c.name == review.name_any())
        })
}

/// The record of `reviews` a store's status keeps ([`opened_for`]), newest first, at most 64.
pub fn cycle_refs(reviews: &[AccessReview]) -> Vec<crate::api::phistore::CycleRef> {
    reviews
        .iter()
        .filter_map(|r| {
            Some(crate::api::phistore::CycleRef {
                name: r.name_any(),
                uid: r.meta().uid.clone()?,
            })
        })
        .take(64)
        .collect()
}

/// Whether an exemption of `access.unreviewed-assignment` is in force for the store: it stops
/// every removal of access, unreviewed or denied.
pub fn removal_exempt(store: &PhiStore, now: &Time) -> bool {
    pipeline::applied_exemptions(&store.spec.exemptions, now)
        .iter()
        .any(|(id, _)| id == "access.unreviewed-assignment")
}

/// What a store's access pass reads of its cycles: each one's identity, spec (through its
/// generation: assignments, decisions, due date) and the annotations that tie it to a request or
/// to an Azure review instance. Status, which the AccessReview controller writes, is not read by
/// the pass and is left out, so a cycle's own bookkeeping does not re-evaluate the store.
pub fn cycles_digest(reviews: &[AccessReview]) -> u64 {
    let mut parts: Vec<serde_json::Value> = reviews
        .iter()
        .map(|r| {
            serde_json::json!([
                r.name_any(),
                r.uid(),
                r.meta().generation,
                r.annotations().get(REQUEST_ANNOTATION),
                r.annotations().get(native::INSTANCE_ANNOTATION),
            ])
        })
        .collect();
    parts.sort_by_key(|p| p.to_string());
    crate::fingerprint::stable_hash(&serde_json::Value::Array(parts).to_string())
}

/// A new cycle of `store` listing `current`, due `due_by`, named by store and date.
fn new_cycle(
    store: &PhiStore,
    settings: Option<&crate::api::workspace::AccessReviewSettings>,
    current: &[ReviewedAssignment],
    now: &Time,
    due_by: Time,
    existing: &[AccessReview],
) -> AccessReview {
    let date = now.0.strftime("%Y%m%d").to_string();
    let base = format!("{}-{date}", store.name_any());
    let taken = |n: &str| existing.iter().any(|r| r.name_any() == n);
    let name = if taken(&base) {
        (2..1000)
            .map(|i| format!("{base}-{i}"))
            .find(|n| !taken(n))
            .unwrap_or_else(|| format!("{base}-{}", now.0.as_second()))
    } else {
        base
    };
    let mut review = AccessReview::new(
        &name,
        AccessReviewSpec {
            store_ref: LocalObjectRef {
                name: store.name_any(),
                namespace: None,
            },
            due_by,
            assignments: current.to_vec(),
            reviewers: settings
                .map(|a| a.reviewers.iter().map(|r| r.name.clone()).collect())
                .unwrap_or_default(),
            decisions_applied_by: settings
                .map(|a| a.decisions_applied_by.clone())
                .unwrap_or_default(),
            decisions: vec![],
        },
    );
    review.metadata.namespace = store.namespace();
    review
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(STORE_LABEL.into(), store.name_any());
    review.metadata.owner_references = Some(vec![OwnerReference {
        api_version: PhiStore::api_version(&()).into(),
        kind: PhiStore::kind(&()).into(),
        name: store.name_any(),
        uid: store.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(false),
    }]);
    review
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn workspace(azure_native: bool) -> HipaaWorkspace {
        serde_json::from_value(json!({
            "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "HipaaWorkspace",
            "metadata": {"name": "ws", "namespace": "n"},
            "spec": {
                "subscriptionId": "00000000-0000-4000-8000-000000000000", "resourceGroup": "rg",
                "keyVault": {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"},
                "logAnalytics": {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/la"},
                "accessReview": {"cadence": "P30D", "dueAfter": "P7D", "azureNative": azure_native}
            }
        }))
        .expect("workspace")
    }

    /// A cycle created at `created`, due at `due`, with one assignment, decided or not.
    fn cycle(created: &str, due: &str, decided: bool) -> AccessReview {
        let principal = "11111111-1111-4111-8111-111111111111";
        let decisions = if decided {
            json!([{"principalId": principal, "decision": "Approve", "reviewer": "r@example.com", "justification": "needed"}])
        } else {
            json!([])
        };
        serde_json::from_value(json!({
            "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "AccessReview",
            "metadata": {"name": "st-1", "namespace": "n", "creationTimestamp": created},
            "spec": {
                "storeRef": {"name": "st"}, "dueBy": due,
                "assignments": [{
                    "principalId": principal, "principalType": "User",
                    "roleName": "Reader", "scope": "/subscriptions/s",
                    "roleAssignmentId": "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/a"
                }],
                "decisions": decisions
            }
        }))
        .expect("cycle")
    }

    fn at(text: &str) -> Time {
        Time(text.parse().expect("timestamp"))
    }

    #[test]
    fn an_open_cycle_changes_when_it_falls_overdue() {
        let now = at("2026-12-01T00:00:00Z");
        let open = cycle("2026-11-30T00:00:00Z", "2026-12-03T00:00:00Z", false);
        assert_eq!(
            next_change(&workspace(false), &[open], &now),
            Some(Duration::from_secs(2 * 86_400 + 1))
        );
    }

    #[test]
    fn a_completed_cycle_changes_when_the_next_one_is_due() {
        let now = at("2026-12-01T00:00:00Z");
        let done = cycle("2026-11-21T00:00:00Z", "2026-11-28T00:00:00Z", true);
        // Created 10 days ago with a 30-day cadence: the next cycle opens in 20 days.
        assert_eq!(
            next_change(&workspace(false), std::slice::from_ref(&done), &now),
            Some(Duration::from_secs(20 * 86_400 + 1))
        );
        // Azure opens the cycles of its own reviews.
        assert_eq!(next_change(&workspace(true), &[done], &now), None);
    }

    #[test]
    fn an_overdue_cycle_or_none_has_no_clock_change() {
        let now = at("2026-12-01T00:00:00Z");
        let late = cycle("2026-11-20T00:00:00Z", "2026-11-27T00:00:00Z", false);
        assert_eq!(next_change(&workspace(false), &[late], &now), None);
        assert_eq!(next_change(&workspace(false), &[], &now), None);
    }
}
