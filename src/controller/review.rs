//! Access reviews. Two parts:
//!
//! * [`access_pass`], run by the PhiStore controller on every evaluation: who can reach the
//!   store now (role assignments at its scope and inherited), a new `AccessReview` cycle when
//!   one is due (the workspace's cadence, or the `hipaa-operator.io/review-requested`
//!   annotation), the store's `AccessReviewed` condition and its access controls, and — when
//!   the workspace says `unreviewedAccess: Remove` in Enforce mode — removal of access that
//!   appeared since the last completed review.
//! * the AccessReview controller: each cycle's phase (`Open`, `Completed`, `Overdue`), and in
//!   Enforce mode the removal of denied assignments the workspace governs; inherited or
//!   break-glass ones are reported for a person.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::context::Context;
use super::pipeline::{self, Failure};
use super::report;
use crate::api::accessreview::{
    AccessReview, AccessReviewSpec, AccessReviewStatus, RemovedAssignment, ReviewPhase,
    ReviewedAssignment,
};
use crate::api::common::{LocalObjectRef, Mode};
use crate::api::workspace::UnreviewedAccess;
use crate::api::{HipaaWorkspace, PhiStore, duration};
use crate::azure::id::RoleAssignmentId;
use crate::azure::{AzureClient, AzureError};
use crate::controls::Finding;
use crate::controls::access;

/// Label naming the store a cycle reviews.
pub const STORE_LABEL: &str = "hipaa-operator.io/store";
/// Annotation on a PhiStore that opens a cycle now; its value is a token (a date, a ticket).
pub const REQUEST_ANNOTATION: &str = "hipaa-operator.io/review-requested";
/// The field manager of the status this controller writes.
pub const MANAGER: &str = "hipaa-operator-accessreview";
const CONDITION: &str = "AccessReviewed";
/// `Ready` reason of an AccessReview the operator did not open for its store.
pub const NOT_OPENED_BY_OPERATOR: &str = "NotOpenedByOperator";

/// What the access pass adds to a store's evaluation.
pub struct AccessOutcome {
    pub findings: Vec<Finding>,
    /// `AccessReviewed`, with the review's own reasons.
    pub condition: Condition,
    /// Controls remediated (unreviewed access removed).
    pub remediated: Vec<&'static str>,
    /// [`cycles_digest`] of the store's cycles as the pass left them (with one it opened).
    pub cycles: u64,
    /// When the cycles next change without anyone acting ([`next_change`]).
    pub changes_in: Option<Duration>,
    /// The store's cycles as the pass left them, for `status.reviewCycles`.
    pub cycle_refs: Vec<crate::api::phistore::CycleRef>,
    /// A removal of unreviewed access that failed: reported as a failed remediation, after
    /// the cycles (one opened in this pass included) are recorded.
    pub removal_error: Option<AzureError>,
}

fn cadence(ws: &HipaaWorkspace) -> (Duration, Duration) {
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

fn break_glass(ws: &HipaaWorkspace) -> Vec<String> {
    ws.spec
        .access_review
        .as_ref()
        .map(|a| a.break_glass_principal_ids.clone())
        .unwrap_or_default()
}

fn created(r: &AccessReview) -> Timestamp {
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
    match access::phase(latest, now).0 {
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
    crate::azure::graph::stable_hash(&serde_json::Value::Array(parts).to_string())
}

/// The access part of a store's evaluation; `reviews` are the store's cycles, newest first.
#[allow(clippy::too_many_arguments)]
pub async fn access_pass(
    store: &PhiStore,
    ctx: &Context,
    azure: &AzureClient,
    ws: &HipaaWorkspace,
    mode: Mode,
    generation: Option<i64>,
    previous: &[Condition],
    mut reviews: Vec<AccessReview>,
) -> Result<AccessOutcome, Failure> {
    let reaching = azure
        .role_assignments_reaching(&store.spec.resource.id)
        .await?;
    let current =
        access::reviewed_assignments(&reaching, &store.spec.resource.id, &break_glass(ws));
    let kube_failure = |e: kube::Error| {
        Failure::new(
            crate::api::common::condition::reason::AZURE_UNAVAILABLE,
            format!("access reviews: {e}"),
        )
    };
    let now = Time(Timestamp::now());
    let azure_native = ws
        .spec
        .access_review
        .as_ref()
        .is_some_and(|a| a.azure_native);
    if azure_native
        && let Some(mirrored) =
            native::sync(store, ctx, azure, ws, mode, &current, &reviews).await?
    {
        // Azure drives the cycles: its newest instance is the store's latest cycle.
        reviews.retain(|r| r.name_any() != mirrored.name_any());
        reviews.insert(0, mirrored);
    }
    let (cadence, due_after) = cadence(ws);
    let latest_phase = reviews.first().map(|r| access::phase(r, &now).0);
    let requested = store
        .annotations()
        .get(REQUEST_ANNOTATION)
        .filter(|token| {
            !reviews
                .iter()
                .any(|r| r.annotations().get(REQUEST_ANNOTATION) == Some(*token))
        })
        .cloned();
    let cadence_due = reviews
        .first()
        .is_none_or(|r| now.0.duration_since(created(r)).as_secs() >= cadence.as_secs() as i64);
    // One open cycle at a time: an open or overdue one is finished first. With Azure's own
    // reviews, Azure opens the cycles.
    let can_open = !azure_native && latest_phase.is_none_or(|p| p == ReviewPhase::Completed);
    if can_open && (cadence_due || requested.is_some()) {
        let review = open_cycle(
            ctx, store, ws, &current, &now, due_after, requested, &reviews,
        )
        .await
        .map_err(kube_failure)?;
        pipeline::publish(
            ctx,
            &store.object_ref(&()),
            EventType::Normal,
            "ReviewOpened",
            "Review",
            format!(
                "access review {} opened: {} assignments to decide by {}",
                review.name_any(),
                review.spec.assignments.len(),
                review.spec.due_by.0
            ),
        )
        .await;
        reviews.insert(0, review);
    }
    let latest = reviews.first().map(|r| (r, access::phase(r, &now).0));
    let completed = reviews
        .iter()
        .find(|r| access::phase(r, &now).0 == ReviewPhase::Completed);
    let findings = access::evaluate(&current, latest, completed);

    // Access that appeared since the last completed review, removed only when the workspace
    // opts in and the mode is Enforce.
    let mut remediated = Vec::new();
    let mut removal_error = None;
    let remove_unreviewed = ws
        .spec
        .access_review
        .as_ref()
        .is_some_and(|a| a.unreviewed_access == UnreviewedAccess::Remove);
    if mode == Mode::Enforce
        && remove_unreviewed
        && !removal_exempt(store, &now)
        && let Some(done) = completed
    {
        let unreviewed: Vec<&ReviewedAssignment> = current
            .iter()
            .filter(|a| {
                !done.spec.assignments.iter().any(|r| {
                    r.role_assignment_id
                        .eq_ignore_ascii_case(&a.role_assignment_id)
                })
            })
            .filter(|a| !a.break_glass)
            .filter(|a| governed(ws).iter().any(|g| access::within(&a.scope, g)))
            .collect();
        let removed: Result<(), AzureError> = async {
            for a in &unreviewed {
                // `current` is the operator's own list from Azure; its ids parse or nothing is
                // sent.
                let id = RoleAssignmentId::parse(&a.role_assignment_id)?;
                azure.delete_role_assignment(&id).await?;
            }
            Ok(())
        }
        .await;
        match removed {
            Ok(()) if !unreviewed.is_empty() => remediated.push("access.unreviewed-assignment"),
            Ok(()) => {}
            Err(e) => removal_error = Some(e),
        }
    }

    let (ok, why, message) = match latest {
        None => (false, "ReviewPending", "no review cycle yet".to_string()),
        Some((r, ReviewPhase::Completed)) => (
            true,
            "Reviewed",
            format!("cycle {} completed", r.name_any()),
        ),
        Some((r, ReviewPhase::Open)) => (
            false,
            "ReviewPending",
            format!(
                "cycle {} waits for decisions ({}), due {}",
                r.name_any(),
                access::phase(r, &now).1,
                r.spec.due_by.0
            ),
        ),
        Some((r, ReviewPhase::Overdue)) => (
            false,
            "ReviewOverdue",
            format!(
                "cycle {} was due {} and has {} decided",
                r.name_any(),
                r.spec.due_by.0,
                access::phase(r, &now).1
            ),
        ),
    };
    let condition = report::condition(previous, CONDITION, ok, why, message, generation, &now);
    let changes_in = next_change(ws, &reviews, &now);
    Ok(AccessOutcome {
        findings,
        condition,
        remediated,
        cycles: cycles_digest(&reviews),
        changes_in,
        cycle_refs: cycle_refs(&reviews),
        removal_error,
    })
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

#[allow(clippy::too_many_arguments)]
async fn open_cycle(
    ctx: &Context,
    store: &PhiStore,
    ws: &HipaaWorkspace,
    current: &[ReviewedAssignment],
    now: &Time,
    due_after: Duration,
    requested: Option<String>,
    existing: &[AccessReview],
) -> Result<AccessReview, kube::Error> {
    let mut review = new_cycle(
        store,
        ws.spec.access_review.as_ref(),
        current,
        now,
        Time(now.0 + due_after),
        existing,
    );
    if let Some(token) = requested {
        review
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(REQUEST_ANNOTATION.into(), token);
    }
    let api: Api<AccessReview> =
        Api::namespaced(ctx.kube.clone(), &store.namespace().unwrap_or_default());
    create_cycle(&api, review).await
}

/// Creates a cycle under its name, or, when an object someone else wrote holds that name, under
/// a name the API server generates from it: a squatted name cannot stop reviews.
async fn create_cycle(
    api: &Api<AccessReview>,
    mut review: AccessReview,
) -> Result<AccessReview, kube::Error> {
    match api.create(&PostParams::default(), &review).await {
        Err(kube::Error::Api(e)) if e.code == 409 => {
            review.metadata.generate_name = Some(format!("{}-", review.name_any()));
            review.metadata.name = None;
            api.create(&PostParams::default(), &review).await
        }
        other => other,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("the reconcile panicked (a bug; the log has the details); retrying")]
    Panicked,
}

/// Runs the AccessReview controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let reviews: Api<AccessReview> = ctx.scoped_api();
    let controller = pipeline::lean_controller(reviews, slim);
    pipeline::report_synced(controller.store(), ctx.readiness.clone(), "AccessReview");
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "AccessReview reconcile loop");
            }
        })
        .await;
}

/// What the AccessReview cache keeps of each cycle: its identity and spec without the
/// assignments and decisions, and no status. A reconcile reads the cycle itself, and nothing
/// else reads this cache.
fn slim(review: &mut AccessReview) {
    review.spec.assignments = Vec::new();
    review.spec.decisions = Vec::new();
    review.status = None;
}

fn error_policy(review: Arc<AccessReview>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    tracing::warn!(review = %review.name_any(), %error, "AccessReview reconcile failed");
    ctx.metrics.reconcile_error("accessreview", "kubernetes");
    Action::requeue(Duration::from_secs(30))
}

async fn reconcile(review: Arc<AccessReview>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    pipeline::contained(reconcile_inner(review, ctx), || ReconcileError::Panicked).await
}

async fn reconcile_inner(
    review: Arc<AccessReview>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let namespace = review.namespace().unwrap_or_default();
    if !ctx.acts_in(&namespace) {
        return Ok(Action::await_change());
    }
    let started = std::time::Instant::now();
    // From the object itself: `status.removed` written a moment ago must not be lost to a
    // lagging cache.
    let api: Api<AccessReview> = Api::namespaced(ctx.kube.clone(), &namespace);
    let Some(review) = api.get_opt(&review.name_any()).await?.map(Arc::new) else {
        return Ok(Action::await_change());
    };
    let now = Time(Timestamp::now());
    let old = review.status.clone().unwrap_or_default();
    let (phase, decided) = access::phase(&review, &now);
    let mut status = AccessReviewStatus {
        observed_generation: review.meta().generation,
        phase: Some(phase),
        decided: Some(decided),
        completed_at: old.completed_at.clone(),
        removed: old.removed.clone(),
        manual_removal_required: old.manual_removal_required.clone(),
        evidence_blob: old.evidence_blob.clone(),
        conditions: vec![],
    };
    let mut ready = (
        false,
        "ReviewPending",
        "waiting for a decision on every principal".to_string(),
    );
    if phase == ReviewPhase::Overdue {
        ready = (
            false,
            "ReviewOverdue",
            format!("due {}", review.spec.due_by.0),
        );
    }
    // Only a cycle the operator opened for its store is acted on; the store's status, which only
    // the operator writes, records it by name and uid.
    let stores: Api<PhiStore> = Api::namespaced(ctx.kube.clone(), &namespace);
    let store = stores.get_opt(&review.spec.store_ref.name).await?;
    let trusted = store.as_ref().is_some_and(|s| opened_for(s, &review));
    if !trusted {
        ready = (
            false,
            NOT_OPENED_BY_OPERATOR,
            format!(
                "PhiStore {} does not record this cycle as one the operator opened for it (status.reviewCycles): its decisions are not acted on and it is not the store's review evidence",
                review.spec.store_ref.name
            ),
        );
    } else if phase == ReviewPhase::Completed
        && let Some(store) = &store
    {
        if status.completed_at.is_none() {
            status.completed_at = Some(now.clone());
        }
        ready = match act_on_decisions(&review, store, &ctx, &mut status).await {
            Ok(message) => (true, "Completed", message),
            Err(f) => (
                false,
                "RemovalFailed",
                format!("{}: {}", f.reason, f.message),
            ),
        };
    }
    status.conditions = vec![report::condition(
        &old.conditions,
        crate::api::common::condition::READY,
        ready.0,
        ready.1,
        ready.2,
        review.meta().generation,
        &now,
    )];
    if status != old {
        if old.phase != Some(ReviewPhase::Overdue) && phase == ReviewPhase::Overdue {
            pipeline::publish(
                &ctx,
                &review.object_ref(&()),
                EventType::Warning,
                "ReviewOverdue",
                "Review",
                format!("access review {} is overdue", review.name_any()),
            )
            .await;
        }
        pipeline::patch_status(&ctx, &*review, MANAGER, &status).await?;
    }
    ctx.metrics
        .reconciled("accessreview", started.elapsed(), true);
    Ok(match phase {
        // The operator records a cycle it opens in the store's status at the end of that pass:
        // a young cycle is looked at again shortly.
        _ if !trusted => {
            let age = now.0.duration_since(created(&review)).as_secs();
            if age < 120 {
                Action::requeue(Duration::from_secs(5))
            } else {
                Action::await_change()
            }
        }
        // Wake when it falls due.
        ReviewPhase::Open => Action::requeue(Duration::from_secs(
            review.spec.due_by.0.duration_since(now.0).as_secs().max(1) as u64 + 1,
        )),
        ReviewPhase::Completed if ready.1 == "RemovalFailed" => {
            Action::requeue(Duration::from_secs(60))
        }
        _ => Action::await_change(),
    })
}

/// A completed cycle in Enforce mode removes the denied assignments the workspace governs
/// (each once: `status.removed` records them); the rest is listed for a person. What is removed
/// is decided on the operator's own list of the assignments reaching the store, read now
/// ([`access::removals`]): the cycle contributes only which principals were denied and which
/// assignment ids it listed. In Audit mode, or under an exemption of
/// `access.unreviewed-assignment`, everything is listed and nothing removed.
async fn act_on_decisions(
    review: &AccessReview,
    store: &PhiStore,
    ctx: &Context,
    status: &mut AccessReviewStatus,
) -> Result<String, Failure> {
    let namespace = review.namespace().unwrap_or_default();
    let workspaces: Api<HipaaWorkspace> = Api::namespaced(ctx.kube.clone(), &namespace);
    let kube_failure = |e: kube::Error| Failure::new("KubernetesUnavailable", e.to_string());
    let Some(ws) = workspaces
        .get_opt(&store.spec.workspace_ref.name)
        .await
        .map_err(kube_failure)?
    else {
        return Err(Failure::new(
            "WorkspaceNotFound",
            "the store's workspace does not exist; denied access cannot be removed",
        ));
    };
    let denied = review
        .spec
        .decisions
        .iter()
        .any(|d| d.decision == crate::api::accessreview::DecisionKind::Deny);
    if !denied {
        status.manual_removal_required = Vec::new();
        return Ok(format!(
            "{} removed, nothing denied left",
            status.removed.len()
        ));
    }
    // No grant, no Azure request: the same checks as the store's own pass.
    let permit = super::trust::check_store(ctx, store, &ws)
        .await
        .map_err(|r| Failure::new(r.reason, r.message))?;
    let mode = permit.mode(ws.spec.mode.strictest(store.spec.mode.unwrap_or_default()));
    let azure = ctx.azure.client_for(&ws, &permit).await?;
    let reaching = azure
        .role_assignments_reaching(&store.spec.resource.id)
        .await?;
    let current =
        access::reviewed_assignments(&reaching, &store.spec.resource.id, &break_glass(&ws));
    let (removable, mut manual) = access::removals(review, &current, &governed(&ws));
    let pending: Vec<&ReviewedAssignment> = removable
        .into_iter()
        .filter(|a| {
            !status.removed.iter().any(|r| {
                r.role_assignment_id
                    .eq_ignore_ascii_case(&a.role_assignment_id)
            })
        })
        .collect();
    let now = Time(Timestamp::now());
    let held = if mode == Mode::Audit {
        Some("Audit mode does not remove it")
    } else if removal_exempt(store, &now) {
        Some("the store's exemption of access.unreviewed-assignment stops removals")
    } else {
        None
    };
    if let Some(why) = held {
        manual.extend(pending.iter().map(|a| {
            format!(
                "{} ({} at {}): denied; {why}",
                a.principal_id, a.role_name, a.scope
            )
        }));
    } else {
        for a in pending {
            let id = RoleAssignmentId::parse(&a.role_assignment_id).map_err(AzureError::from)?;
            azure.delete_role_assignment(&id).await?;
            status.removed.push(RemovedAssignment {
                role_assignment_id: id.as_str().to_string(),
                principal_id: a.principal_id.clone(),
                removed_at: Time(Timestamp::now()),
            });
            pipeline::publish(
                ctx,
                &review.object_ref(&()),
                EventType::Normal,
                "AccessRemoved",
                "Remove",
                format!(
                    "removed {} ({} at {})",
                    a.principal_id, a.role_name, a.scope
                ),
            )
            .await;
        }
    }
    status.manual_removal_required = manual;
    Ok(format!(
        "{} removed, {} left for a person",
        status.removed.len(),
        status.manual_removal_required.len()
    ))
}

/// Azure's own access reviews (`Microsoft.Authorization/accessReviewScheduleDefinitions`).
mod native {
    use super::*;
    use crate::api::accessreview::Decision;
    use crate::api::accessreview::DecisionKind;
    use crate::azure::client::ArmOp;
    use crate::azure::resources::ArmResource;
    use azure_core::http::Method;
    use serde_json::{Value, json};

    const API: &str = "2021-12-01-preview";
    const PROVIDER: &str = "Microsoft.Authorization";
    const GET_DEFINITION: ArmOp = ArmOp::new(
        "ScopeAccessReviewScheduleDefinitions_GetById",
        PROVIDER,
        API,
    );
    const PUT_DEFINITION: ArmOp = ArmOp::new(
        "ScopeAccessReviewScheduleDefinitions_CreateOrUpdateById",
        PROVIDER,
        API,
    );
    const LIST_INSTANCES: ArmOp = ArmOp::new("ScopeAccessReviewInstances_List", PROVIDER, API);
    const LIST_DECISIONS: ArmOp =
        ArmOp::new("ScopeAccessReviewInstanceDecisions_List", PROVIDER, API);
    /// Annotation on a reflected cycle naming the Azure instance it mirrors.
    pub const INSTANCE_ANNOTATION: &str = "hipaa-operator.io/azure-review-instance";

    #[derive(serde::Deserialize)]
    struct Page {
        #[serde(default)]
        value: Vec<ArmResource>,
    }

    /// The schedule definition the operator keeps for a store, at the store's scope.
    pub fn definition_id(store_id: &str) -> String {
        format!(
            "{}/providers/Microsoft.Authorization/accessReviewScheduleDefinitions/{}",
            store_id.trim_end_matches('/'),
            uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                store_id.to_ascii_lowercase().as_bytes()
            )
        )
    }

    /// Keeps the definition (Enforce mode creates it) and mirrors its newest instance into an
    /// AccessReview: the assignments found and the decisions reviewers made in Azure.
    pub async fn sync(
        store: &PhiStore,
        ctx: &Context,
        azure: &AzureClient,
        ws: &HipaaWorkspace,
        mode: Mode,
        current: &[ReviewedAssignment],
        reviews: &[AccessReview],
    ) -> Result<Option<AccessReview>, Failure> {
        let id = definition_id(&store.spec.resource.id);
        let found: Option<ArmResource> = azure.get_opt(&GET_DEFINITION, &id).await?;
        if found.is_none() {
            if mode != Mode::Enforce {
                return Ok(None);
            }
            let (cadence, due) = super::cadence(ws);
            let reviewers: Vec<Value> = ws
                .spec
                .access_review
                .as_ref()
                .map(|a| {
                    a.reviewers
                        .iter()
                        .filter_map(|r| r.principal_id.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
                .into_iter()
                .map(|p| json!({"principalId": p, "principalType": "user"}))
                .collect();
            let body = json!({"properties": {
                "displayName": format!("HIPAA access review of {}", store.name_any()),
                "descriptionForReviewers": "Who can reach this PHI store: approve what is still needed, deny the rest (45 CFR 164.308(a)(3)(ii)(B)/(C), (a)(4)).",
                "scope": {"resourceId": store.spec.resource.id},
                "reviewers": reviewers,
                "reviewersType": "Assigned",
                "settings": {
                    "justificationRequiredOnApproval": true,
                    "defaultDecisionEnabled": false,
                    "autoApplyDecisionsEnabled": false,
                    "instanceDurationInDays": (due.as_secs() / 86_400).max(1),
                    "recurrence": {
                        "pattern": {"type": "absoluteMonthly", "interval": (cadence.as_secs() / (30 * 86_400)).max(1)},
                        "range": {"type": "noEnd", "startDate": Timestamp::now().to_string()}
                    }
                }
            }});
            azure
                .write(&PUT_DEFINITION, Method::Put, &id, Some(&body), None)
                .await?;
        }
        let instances: Page = azure
            .get(&LIST_INSTANCES, &format!("{id}/instances"))
            .await?;
        let Some(instance) = instances.value.into_iter().max_by(|a, b| {
            let start = |r: &ArmResource| {
                r.properties["startDateTime"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            };
            start(a).cmp(&start(b))
        }) else {
            return Ok(None);
        };
        let decisions: Page = azure
            .get(&LIST_DECISIONS, &format!("{}/decisions", instance.id))
            .await?;
        let reflected: Vec<Decision> = decisions
            .value
            .iter()
            .filter_map(|d| {
                let p = &d.properties;
                let kind = match p["decision"].as_str()? {
                    "Approve" => DecisionKind::Approve,
                    "Deny" => DecisionKind::Deny,
                    _ => return None,
                };
                let principal = p["principal"]["id"].as_str()?.to_string();
                let reviewer = p["reviewedBy"]["principalName"]
                    .as_str()
                    .filter(|n| !n.trim().is_empty())
                    .or(p["reviewedBy"]["principalId"].as_str())
                    .unwrap_or("a reviewer in Azure")
                    .to_string();
                Some(Decision {
                    principal_id: principal,
                    decision: kind,
                    reviewer,
                    justification: p["justification"]
                        .as_str()
                        .filter(|j| !j.trim().is_empty())
                        .unwrap_or("(recorded in Azure without a justification)")
                        .to_string(),
                    decided_at: p["reviewedDateTime"]
                        .as_str()
                        .and_then(|t| t.parse().ok())
                        .map(Time),
                })
            })
            .collect();
        let api: Api<AccessReview> =
            Api::namespaced(ctx.kube.clone(), &store.namespace().unwrap_or_default());
        let kube_failure = |e: kube::Error| {
            Failure::new(
                crate::api::common::condition::reason::AZURE_UNAVAILABLE,
                format!("access reviews: {e}"),
            )
        };
        let mirrored = reviews
            .iter()
            .find(|r| r.annotations().get(INSTANCE_ANNOTATION) == Some(&instance.id));
        match mirrored {
            Some(r) => {
                let mut wanted = reflected;
                wanted.retain(|d| {
                    r.spec
                        .assignments
                        .iter()
                        .any(|a| a.principal_id == d.principal_id)
                });
                if r.spec.decisions != wanted {
                    let patch = json!({"spec": {"decisions": wanted}});
                    let updated = api
                        .patch(
                            &r.name_any(),
                            &kube::api::PatchParams::default(),
                            &kube::api::Patch::Merge(&patch),
                        )
                        .await
                        .map_err(kube_failure)?;
                    return Ok(Some(updated));
                }
                Ok(Some(r.clone()))
            }
            None => {
                let due = instance.properties["endDateTime"]
                    .as_str()
                    .and_then(|t| t.parse::<Timestamp>().ok())
                    .unwrap_or_else(Timestamp::now);
                let now = Time(Timestamp::now());
                // Azure reviews the assignments at the store's own scope: those are the cycle.
                let in_review: Vec<ReviewedAssignment> = current
                    .iter()
                    .filter(|a| {
                        decisions.value.iter().any(|d| {
                            d.properties["principal"]["id"].as_str()
                                == Some(a.principal_id.as_str())
                        })
                    })
                    .cloned()
                    .collect();
                let mut review = super::new_cycle(
                    store,
                    ws.spec.access_review.as_ref(),
                    &in_review,
                    &now,
                    Time(due),
                    reviews,
                );
                review.spec.decisions = reflected
                    .into_iter()
                    .filter(|d| in_review.iter().any(|a| a.principal_id == d.principal_id))
                    .collect();
                review
                    .metadata
                    .annotations
                    .get_or_insert_with(Default::default)
                    .insert(INSTANCE_ANNOTATION.into(), instance.id.clone());
                let created = super::create_cycle(&api, review)
                    .await
                    .map_err(kube_failure)?;
                Ok(Some(created))
            }
        }
    }
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
