//! The AccessReview controller: each cycle's phase (`Open`, `Completed`, `Overdue`), and in
//! Enforce mode the removal, through the executor, of denied assignments the workspace
//! governs; inherited or break-glass ones are reported for a person.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::{
    MANAGER, NOT_OPENED_BY_OPERATOR, break_glass, created, governed, opened_for, removal_exempt,
};
use crate::api::accessreview::{
    AccessReview, AccessReviewStatus, RemovedAssignment, ReviewPhase, ReviewedAssignment,
};
use crate::api::common::Mode;
use crate::api::common::condition::Failed;
use crate::api::{HipaaWorkspace, PhiStore};
use crate::azure::AzureError;
use crate::azure::id::RoleAssignmentId;
use crate::controller::context::Context;
use crate::controller::execute::Executor;
use crate::controller::intent::{Intent, WritePlan};
use crate::controller::pipeline::{self, Failure};
use crate::controller::{grants, report};
use crate::controls::access;

pub use crate::controller::pipeline::ReconcileError;

/// Runs the AccessReview controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let reviews: Api<AccessReview> = ctx.scoped_api();
    let controller = pipeline::lean_controller(reviews, MANAGER, slim);
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
    ctx.metrics
        .reconcile_error("accessreview", error.category());
    Action::requeue(error.backoff())
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
    let kube_failure = |e: kube::Error| Failure::new(Failed::KubernetesUnavailable, e.to_string());
    let Some(ws) = workspaces
        .get_opt(&store.spec.workspace_ref.name)
        .await
        .map_err(kube_failure)?
    else {
        return Err(Failure::new(
            Failed::WorkspaceNotFound,
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
    let permit = grants::check_store(ctx, store, &ws)
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
        let plan = WritePlan {
            intents: pending
                .iter()
                .map(|a| {
                    RoleAssignmentId::parse(&a.role_assignment_id).map(Intent::RemoveRoleAssignment)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(AzureError::from)?,
            remediates: vec![],
        };
        let executed = Executor::new(Some(&azure), &ctx.kube, &permit, mode)
            .run(&plan)
            .await;
        for removed in &executed.removed {
            let Some(a) = pending
                .iter()
                .find(|a| a.role_assignment_id.eq_ignore_ascii_case(removed))
            else {
                continue;
            };
            status.removed.push(RemovedAssignment {
                role_assignment_id: removed.clone(),
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
        if let Some(e) = executed.error {
            status.manual_removal_required = manual;
            return Err(Failure::from(e));
        }
    }
    status.manual_removal_required = manual;
    Ok(format!(
        "{} removed, {} left for a person",
        status.removed.len(),
        status.manual_removal_required.len()
    ))
}
