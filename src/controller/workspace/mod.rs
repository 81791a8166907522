//! The HipaaWorkspace controller: the shared safeguards every PHI store of the workspace relies
//! on — the Key Vault, the Log Analytics workspace, the immutable audit archive and the HIPAA
//! HITRUST policy initiative — through the same observe → evaluate → plan → apply → report
//! pipeline as the PhiStore controller, plus the roll-up of its stores' readiness.
//!
//! A workspace is woken by its own changes, by its drift-check requeue, and by any change of
//! one of its PhiStores. Only the first two read Azure: a store change recounts the stores from
//! the PhiStore controller's cache and writes status only when the counts changed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use super::context::Context;
use super::pipeline;
use crate::api::{AzureScopeGrant, HipaaWorkspace, PhiStore, duration};

mod observe;
mod pass;
mod policy;
mod stores;

use pass::evaluate;
pub use stores::count;
use stores::{recount, store_counts};

/// The field manager of the status this controller writes.
pub const MANAGER: &str = "hipaa-operator-workspace";

pub use crate::controller::pipeline::ReconcileError;

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let workspaces: Api<HipaaWorkspace> = ctx.scoped_api();
    let stores: Api<PhiStore> = ctx.scoped_api();
    let controller = pipeline::lean_controller(workspaces, MANAGER, |_| {})
        // Store changes come in bursts (a rollout, a drift check of every store): one recount
        // per burst.
        .with_config(controller::Config::default().debounce(Duration::from_secs(1)));
    pipeline::report_synced(controller.store(), ctx.readiness.clone(), "HipaaWorkspace");
    let _ = ctx.workspaces.set(controller.store());
    let cache = controller.store();
    let grants: Api<AzureScopeGrant> = Api::all(ctx.kube.clone());
    let evaluations = ctx.clone();
    controller
        // A grant added, changed or revoked re-evaluates every workspace now, not when its next
        // evaluation falls due.
        .watches(grants, watcher::Config::default(), move |_grant| {
            evaluations
                .workspace_evaluations
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
            cache
                .state()
                .iter()
                .map(|ws| ObjectRef::from_obj(&**ws))
                .collect::<Vec<_>>()
        })
        // A store change (added, drifting, fixed, deleted) updates its workspace's counts.
        .watches(stores, watcher::Config::default().any_semantic(), |store| {
            let namespace = store.namespace()?;
            Some(
                ObjectRef::<HipaaWorkspace>::new(&store.spec.workspace_ref.name).within(&namespace),
            )
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "HipaaWorkspace reconcile loop");
            }
        })
        .await;
}

fn error_policy(ws: Arc<HipaaWorkspace>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    tracing::warn!(workspace = %ws.name_any(), namespace = ?ws.namespace(), %error, "HipaaWorkspace reconcile failed");
    ctx.metrics.reconcile_error("workspace", error.category());
    Action::requeue(error.backoff())
}

fn key_of(ws: &HipaaWorkspace) -> String {
    format!("{}/{}", ws.namespace().unwrap_or_default(), ws.name_any())
}

async fn reconcile(ws: Arc<HipaaWorkspace>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    pipeline::contained(reconcile_inner(ws, ctx), || ReconcileError::Panicked).await
}

async fn reconcile_inner(
    ws: Arc<HipaaWorkspace>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    if !ctx.acts_in(&ws.namespace().unwrap_or_default()) {
        return Ok(Action::await_change());
    }
    let started = Instant::now();
    let interval =
        duration::parse(&ws.spec.drift_check_interval).unwrap_or(Duration::from_secs(3600));
    let key = key_of(&ws);
    let counts = store_counts(&ctx, &ws).await?;
    // Read Azure again only when the spec changed or the last evaluation is due.
    // Read Azure again only when the spec changed or the next evaluation is due (the drift
    // check, the read-back after a remediation, the retry after a failure).
    let due = {
        let seen = ctx
            .workspace_evaluations
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match seen.get(&key) {
            Some((generation, due_at)) if *generation == ws.meta().generation => {
                match due_at.checked_duration_since(Instant::now()) {
                    Some(remaining) if !remaining.is_zero() => Err(remaining),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    };
    // A status someone else wrote is evaluated again at once, whatever is due.
    let forged = !pipeline::status_written_by_others(ws.meta(), MANAGER).is_empty();
    let due = if forged { Ok(()) } else { due };
    let result = match due {
        Err(remaining) => recount(&ws, &ctx, counts)
            .await
            .map(|()| Action::requeue(remaining)),
        Ok(()) => {
            // Evaluate from the object itself, not a cache that may lag the last status write.
            let api: Api<HipaaWorkspace> =
                Api::namespaced(ctx.kube.clone(), &ws.namespace().unwrap_or_default());
            let Some(fresh) = api.get_opt(&ws.name_any()).await? else {
                return Ok(Action::await_change());
            };
            let next = evaluate(&fresh, &ctx, interval, counts).await;
            if let Ok(next) = &next {
                // The requeue that `next` asks for is the next evaluation; a store change
                // before it only recounts. (A small margin keeps the requeue from landing
                // just before it is due.)
                let due_at = Instant::now() + next.saturating_sub(Duration::from_millis(500));
                ctx.workspace_evaluations
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, (ws.meta().generation, due_at));
            }
            next.map(Action::requeue)
        }
    };
    ctx.metrics
        .reconciled("workspace", started.elapsed(), result.is_ok());
    result
}
