//! The PhiStore controller. One reconcile for every store kind, in stages:
//!
//! 1. quick exit when nothing changed ([`resume`]);
//! 2. dereference: the store, its workspace, the grants' permit, its review cycles;
//! 3. observe: every Azure read ([`observe`], [`review::observe`]);
//! 4. evaluate (pure): the kind's controls ([`kinds::Target::evaluate`]) and access;
//! 5. decide (pure): exemptions, conflicts, what the grants allow;
//! 6. plan (pure; no Azure write in `Audit`): one [`WritePlan`] of every write;
//! 7. execute: [`Executor`], the only code that writes;
//! 8. report: status, events, drift baseline ([`report`]);
//! 9. the requeue.

mod cleanup;
mod expect;
pub mod kinds;
mod observe;
mod report;
pub mod resume;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use super::context::Context;
use super::execute::Executor;
use super::intent::EndpointPlacement;
use super::pipeline::{self, Failure, Pass};
use super::preview;
use super::review;
use super::{grants, trust};
use crate::api::common::Mode;
use crate::api::common::condition::Failed;
use crate::api::phistore::{DeletionPolicy, PhiStore};
use crate::api::{HipaaWorkspace, duration};
use crate::azure::AzureError;
use resume::{inputs_of, specs_read};

/// The finalizer, only on stores whose `deletionPolicy` is `Delete`.
pub const FINALIZER: &str = "hipaa-operator.io/cleanup";
/// The field manager of the status this controller writes.
pub const MANAGER: &str = "hipaa-operator-phistore";

/// Why a reconcile failed; each becomes a `Ready` reason.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("the reconcile panicked (a bug; the log has the details); retrying")]
    Panicked,
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl ReconcileError {
    /// The metric label.
    pub fn category(&self) -> &'static str {
        match self {
            ReconcileError::Kube(_) => "kubernetes",
            ReconcileError::Panicked => "panic",
            ReconcileError::Finalizer(_) => "cleanup",
        }
    }

    /// How long to wait: a write that lost a race with another (409) is retried at once with
    /// what is there now; the rest back off.
    pub fn backoff(&self) -> Duration {
        match self {
            ReconcileError::Kube(kube::Error::Api(e)) if e.code == 409 => Duration::from_secs(1),
            ReconcileError::Finalizer(_) => Duration::from_secs(60),
            _ => Duration::from_secs(30),
        }
    }
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let stores: Api<PhiStore> = ctx.scoped_api();
    let workspaces: Api<HipaaWorkspace> = ctx.scoped_api();
    let controller = pipeline::lean_controller(stores, MANAGER, resume::slim)
        .with_config(kube::runtime::controller::Config::default().concurrency(ctx.concurrency));
    let cache = controller.store();
    let grants_cache = cache.clone();
    pipeline::report_synced(cache.clone(), ctx.readiness.clone(), "PhiStore");
    // The workspace controller counts stores from this cache.
    let _ = ctx.stores.set(cache.clone());
    let reviews: Api<crate::api::AccessReview> = ctx.scoped_api();
    controller
        // A decision on one of its review cycles re-evaluates the store (not the cycle's status,
        // which the AccessReview controller writes and no pass reads).
        .owns_stream(pipeline::changes(reviews, |r| {
            review::cycles_digest(std::slice::from_ref(r))
        }))
        // A workspace change that a pass reads (its spec, its vault controls) re-reconciles its
        // stores; its store counts and other status do not wake thousands of stores.
        .watches_stream(
            pipeline::changes(workspaces, |ws| {
                crate::fingerprint::stable_hash(&resume::workspace_inputs(ws).to_string())
            }),
            move |ws| {
                let namespace = ws.namespace();
                let name = ws.name_any();
                cache
                    .state()
                    .into_iter()
                    .filter(|s| s.namespace() == namespace && s.spec.workspace_ref.name == name)
                    .map(|s| ObjectRef::from_obj(&*s))
                    .collect::<Vec<_>>()
            },
        )
        // A grant added, changed or revoked re-checks every store before anything else.
        .watches(
            Api::<crate::api::AzureScopeGrant>::all(ctx.kube.clone()),
            kube::runtime::watcher::Config::default(),
            {
                let cache = grants_cache.clone();
                move |_grant| {
                    cache
                        .state()
                        .iter()
                        .map(|s| ObjectRef::from_obj(&**s))
                        .collect::<Vec<_>>()
                }
            },
        )
        // A Resource Graph sweep that sees a store's resource change wakes it.
        .reconcile_on(ctx.drift.wakes())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "PhiStore reconcile loop");
            }
        })
        .await;
}

/// A reconcile that returned an error (failures of Azure or of the spec end the pass with a
/// status instead): the Kubernetes API, a finalizer's cleanup, or a panic.
fn error_policy(store: Arc<PhiStore>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    tracing::warn!(store = %store.name_any(), namespace = ?store.namespace(), %error, "PhiStore reconcile failed");
    ctx.metrics.reconcile_error("phistore", error.category());
    Action::requeue(error.backoff())
}

async fn reconcile(store: Arc<PhiStore>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    pipeline::contained(reconcile_inner(store, ctx), || ReconcileError::Panicked).await
}

async fn reconcile_inner(
    store: Arc<PhiStore>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    tracing::debug!(store = %store.name_any(), "reconcile");
    if !ctx.acts_in(&store.namespace().unwrap_or_default()) {
        return Ok(Action::await_change());
    }
    let started = std::time::Instant::now();
    let api: Api<PhiStore> =
        Api::namespaced(ctx.kube.clone(), &store.namespace().unwrap_or_default());
    let result = if store.spec.deletion_policy == DeletionPolicy::Delete
        || store.finalizers().iter().any(|f| f == FINALIZER)
    {
        let ctx2 = ctx.clone();
        finalizer(&api, FINALIZER, store.clone(), |event| async move {
            match event {
                FinalizerEvent::Apply(store) => apply(store, ctx2).await,
                FinalizerEvent::Cleanup(store) => cleanup::cleanup(store, ctx2).await,
            }
        })
        .await
        .map_err(|e| ReconcileError::Finalizer(e.to_string()))
    } else {
        apply(store, ctx.clone()).await
    };
    ctx.metrics
        .reconciled("phistore", started.elapsed(), result.is_ok());
    result
}

/// What a pass dereferenced before reading Azure.
struct Dereferenced {
    workspace: HipaaWorkspace,
    /// What the grants allow the workspace.
    permit: trust::Permit,
    mode: Mode,
    /// The store's review cycles, newest first.
    reviews: Vec<crate::api::AccessReview>,
}

async fn apply(store: Arc<PhiStore>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    // Most wake-ups of a settled store bring nothing new (its own status write, its review
    // cycles' status, the workspace's status): decide that from the caches and the store's
    // review cycles, before reading the store, the workspace or Azure.
    // A pass that failed waits out Azure's Retry-After or its backoff: its own status write (or
    // anything else but a spec change) does not bring the same request again at once.
    let cached_workspace = ctx
        .workspaces
        .get()
        .and_then(|cache| {
            cache.get(
                &ObjectRef::new(&store.spec.workspace_ref.name)
                    .within(&store.namespace().unwrap_or_default()),
            )
        })
        .and_then(|ws| ws.meta().generation);
    if let Some(left) = ctx.drift.held(
        &ObjectRef::from_obj(&*store),
        specs_read(&store, cached_workspace, &ctx),
        std::time::Instant::now(),
    ) {
        tracing::debug!(store = %store.name_any(), ?left, "waiting after a failed pass");
        // Looked at again every few seconds (caches only): the workspace cache can lag the
        // change that woke the store, and a fix there must not wait out the whole hold.
        return Ok(Action::requeue(left.min(Duration::from_secs(5))));
    }
    // The trust checks come first, a quiet exit included: a revoked grant or a second claim on
    // the resource stops everything that reads or writes Azure for this store.
    let mut listed = None;
    if let Some((ws, reviews)) = resume::settled_inputs(&store, &ctx).await?
        && let Ok(permit) = grants::check_store(&ctx, &store, &ws).await
    {
        let mode = permit.mode(ws.spec.mode.strictest(store.spec.mode.unwrap_or_default()));
        let inputs = inputs_of(&store, &ws, mode, review::cycles_digest(&reviews));
        let me = ObjectRef::from_obj(&*store);
        let status = resume::status_print(store.status.as_ref());
        if let Some(left) = ctx
            .drift
            .quiet(&me, inputs, status, std::time::Instant::now())
        {
            tracing::debug!(store = %store.name_any(), "nothing new since the last pass");
            return Ok(Action::requeue(left));
        }
        listed = Some(reviews);
    }
    // The cache can lag the status this controller wrote a moment ago (another watch event
    // may wake the store first), and a pass computed from a stale status would lose evidence
    // such as a `Remediated` state: read the store itself.
    let api: Api<PhiStore> =
        Api::namespaced(ctx.kube.clone(), &store.namespace().unwrap_or_default());
    let cached_cycles = resume::cycle_records(&store);
    let Some(store) = api.get_opt(&store.name_any()).await?.map(Arc::new) else {
        ctx.drift.forget(&ObjectRef::from_obj(&*store));
        return Ok(Action::await_change());
    };
    // A store that no longer asks for cleanup loses the finalizer it may still carry.
    if store.spec.deletion_policy == DeletionPolicy::Retain
        && store.finalizers().iter().any(|f| f == FINALIZER)
    {
        cleanup::remove_finalizer(&store, &ctx).await?;
    }
    let namespace = store.namespace().unwrap_or_default();
    let workspaces: Api<HipaaWorkspace> = Api::namespaced(ctx.kube.clone(), &namespace);
    let Some(workspace) = workspaces.get_opt(&store.spec.workspace_ref.name).await? else {
        let message = format!(
            "HipaaWorkspace {} does not exist in namespace {namespace}: create it or fix spec.workspaceRef.name",
            store.spec.workspace_ref.name
        );
        return report::fail(&store, &ctx, Failed::WorkspaceNotFound, message, None).await;
    };
    let permit = match grants::check_store(&ctx, &store, &workspace).await {
        Ok(permit) => permit,
        Err(refusal) => {
            return report::fail(&store, &ctx, refusal.reason, refusal.message, None).await;
        }
    };
    // The stricter of the workspace's and the store's mode, and Audit unless a grant allows
    // Enforce.
    let mode = permit.mode(
        workspace
            .spec
            .mode
            .strictest(store.spec.mode.unwrap_or_default()),
    );
    let interval =
        duration::parse(&workspace.spec.drift_check_interval).unwrap_or(Duration::from_secs(3600));
    // The cycles listed from the cache count only when the cache knew the cycles the store
    // itself records: a cycle opened a moment ago would otherwise be missed, and opened again.
    let reviews = match listed {
        Some(reviews) if cached_cycles == resume::cycle_records(&store) => reviews,
        _ => review::cycles(&ctx, &store).await?,
    };
    let inputs = inputs_of(&store, &workspace, mode, review::cycles_digest(&reviews));
    if let Some(action) = resume::quiet(&store, &ctx, &workspace, &reviews, mode, interval, inputs)
    {
        return Ok(action);
    }
    let observed = Dereferenced {
        workspace,
        permit,
        mode,
        reviews,
    };
    match pass(&store, &ctx, &observed, interval).await {
        Ok(action) => Ok(action),
        Err(failure) => {
            let wait = failure.wait();
            ctx.drift.hold(
                ObjectRef::from_obj(&*store),
                specs_read(&store, observed.workspace.meta().generation, &ctx),
                wait,
            );
            report::fail(
                &store,
                &ctx,
                failure.reason,
                failure.message,
                Some(observed.mode),
            )
            .await
            .map(|_| Action::requeue(wait))
        }
    }
}

/// Stages 3 to 9 of a pass, the same for every kind.
async fn pass(
    store: &PhiStore,
    ctx: &Context,
    d: &Dereferenced,
    interval: Duration,
) -> Result<Action, Failure> {
    let ws = &d.workspace;
    let generation = store.meta().generation;
    let azure = ctx.azure.client_for(ws, &d.permit).await?;
    // A write Azure is still working on, recorded by an earlier pass (of this process or
    // another): look at it first, and come back later while it runs. One that ended clears.
    let finished = match still_running(store, &azure).await? {
        Operations::Running(wait) => return Ok(Action::requeue(wait)),
        Operations::Ended(remediates) => remediates,
    };
    // 3. Observe.
    let (observed, access_view) = futures::try_join!(
        observe::target(&azure, ctx, store, ws, &d.permit),
        review::observe(&azure, store, ws),
    )?;
    // 4. Evaluate.
    let now = Time(Timestamp::now());
    let kind_findings = observed.evaluate(ws);
    let mut findings = kind_findings.clone();
    findings.extend(review::report(ws, &access_view, &d.reviews, &[], generation, &now).findings);
    // 5. Decide.
    // A status someone else wrote is not evidence: nothing of it is carried (states, `since`,
    // remediation counts); the status is written afresh.
    let previous = if pipeline::status_written_by_others(store.meta(), MANAGER).is_empty() {
        report::report_of(store.status.as_ref())
    } else {
        pipeline::Report::default()
    };
    let pass = Pass::new(
        previous.clone(),
        generation,
        interval,
        &store.spec.exemptions,
    )
    .checked_every(ctx.drift.full_check().max(Duration::from_secs(3600)));
    let conflict = pass.conflicts(&findings);
    let to_fix = d.permit.allowed(pass.to_fix(&findings, &conflict));
    // 6. Plan: review cycles in every mode (a Kubernetes object); Azure writes in Enforce only.
    // What is not made now is planned all the same, for the status: the whole remediation in
    // Audit, what the grants hold back in Enforce.
    let mut plan = review::plan(store, ws, d.mode, &access_view, &d.reviews, &now);
    let mut unplannable = None;
    let placement = EndpointPlacement {
        ws,
        zones: &ctx.azure_cloud().private_dns,
    };
    let wanted = pass.to_fix(&findings, &conflict);
    let (held, why_held) = if d.mode == Mode::Enforce {
        match observed.plan(ws, &placement, &to_fix) {
            Ok(resource) => plan.extend(resource),
            Err(why) => unplannable = Some(AzureError::Configuration(why)),
        }
        let allowed: Vec<&str> = to_fix.iter().map(|f| f.id()).collect();
        let held: Vec<_> = wanted
            .into_iter()
            .filter(|f| !allowed.contains(&f.id()))
            .collect();
        (held, preview::held_reason(&d.permit, true))
    } else {
        (wanted, preview::held_reason(&d.permit, false))
    };
    let planned = match observed.plan(ws, &placement, &held) {
        Ok(held_plan) => preview::rows(&held_plan, &why_held, &|id| observed.observed(id)),
        Err(_) => Vec::new(),
    };
    // Never write to a resource Azure is still changing (its provisioningState not terminal):
    // the write would land in the middle of someone's operation.
    let busy = observed
        .target
        .observed(&store.spec.resource.id)
        .and_then(|body| {
            body.pointer("/properties/provisioningState")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        })
        .filter(|state| in_progress(state));
    if let Some(state) = &busy
        && plan.writes_azure()
    {
        tracing::info!(store = %store.name_any(), %state, "the resource is still being changed in Azure: no write this pass");
        plan.intents.retain(|i| !i.writes_azure());
        plan.remediates.clear();
    }
    // 7. Execute.
    let executed = Executor::new(Some(&azure), &ctx.kube, &d.permit, d.mode)
        .run(&plan)
        .await;
    // 8. Report.
    for opened in executed.opened.iter().filter(|r| !review::mirrored(r)) {
        pipeline::publish(
            ctx,
            &store.object_ref(&()),
            EventType::Normal,
            "ReviewOpened",
            "Review",
            format!(
                "access review {} opened: {} assignments to decide by {}",
                opened.name_any(),
                opened.spec.assignments.len(),
                opened.spec.due_by.0
            ),
        )
        .await;
    }
    let reviews = review::after(d.reviews.clone(), &executed.opened, &executed.updated);
    let access = review::report(
        ws,
        &access_view,
        &reviews,
        &previous.conditions,
        generation,
        &now,
    );
    let mut findings = kind_findings;
    findings.extend(access.findings.iter().cloned());
    let error = match (executed.error, unplannable) {
        (Some(e), _) => Some(e.to_string()).zip(Some(Failure::from(e))),
        (None, Some(e)) => Some(e.to_string()).zip(Some(Failure::from(e))),
        (None, None) => None,
    };
    let running = executed.running;
    // What an operation recorded by an earlier pass fixed counts as remediated once it ended
    // and the control reads back compliant.
    let ended: Vec<&'static str> = findings
        .iter()
        .filter(|f| f.found == crate::controls::Found::Compliant)
        .map(|f| f.id())
        .filter(|id| finished.iter().any(|r| r == id))
        .collect();
    let written = report::Written {
        remediated: if error.is_none() && executed.wrote_azure && running.is_none() {
            let mut fixed = plan.remediates.clone();
            for id in ended {
                if !fixed.contains(&id) {
                    fixed.push(id);
                }
            }
            fixed
        } else {
            ended
        },
        remediating: if running.is_some() {
            plan.remediates.clone()
        } else {
            vec![]
        },
        wrote_azure: executed.wrote_azure,
        running,
        error,
    };
    let seen = report::Seen {
        print: observed.print,
        workspace_generation: ws.meta().generation,
        inputs: inputs_of(store, ws, d.mode, access.cycles),
    };
    let action = report::conclude(
        store, ctx, d.mode, pass, findings, written, access, seen, planned,
    )
    .await?;
    // A resource Azure is still changing is looked at again soon: its operation ends on
    // Azure's schedule, not on a watch.
    Ok(if busy.is_some() {
        Action::requeue(Duration::from_secs(30))
    } else {
        action
    })
}

/// The provisioningStates in which Azure is still changing a resource. Only these hold the
/// writes back: a state the operator does not know (Health Data Services' `Warned`, say, which
/// stays until a person acts) must not stop remediation for good.
fn in_progress(state: &str) -> bool {
    [
        "Accepted",
        "Creating",
        "Updating",
        "Deleting",
        "Provisioning",
        "Deprovisioning",
        "Moving",
        "Migrating",
        "Upgrading",
        "Scaling",
        "Restoring",
        "ResolvingDNS",
        "RegisteringDns",
        "Running",
        "InProgress",
    ]
    .iter()
    .any(|t| t.eq_ignore_ascii_case(state))
}

/// Where the operations a store's status records stand.
enum Operations {
    /// One still runs (the status already says so): look again after the wait.
    Running(Duration),
    /// All ended (or none was recorded): the controls they fix, for the report.
    Ended(Vec<String>),
}

/// Polls the operations the store's status records. A failed operation fails the pass with
/// ARM's code and message; once all ended, the pass goes on and its report clears them.
async fn still_running(
    store: &PhiStore,
    azure: &crate::azure::AzureClient,
) -> Result<Operations, Failure> {
    use crate::azure::lro::Polled;
    // Only what the operator itself recorded is followed: a status someone else wrote is not
    // the operator's record (and a URL in it could aim the operator's reads).
    if !pipeline::status_written_by_others(store.meta(), MANAGER).is_empty() {
        return Ok(Operations::Ended(Vec::new()));
    }
    let recorded = store
        .status
        .as_ref()
        .map(|s| s.operations.as_slice())
        .unwrap_or_default();
    let mut wait: Option<Duration> = None;
    for record in recorded {
        let Some(running) = report::operation_of(record) else {
            continue;
        };
        match azure.poll_operation(&running).await? {
            Polled::Running(now) => {
                let next = now.next_poll();
                wait = Some(wait.map_or(next, |w| w.min(next)));
            }
            Polled::Succeeded => {}
        }
    }
    Ok(match wait {
        Some(wait) => Operations::Running(wait),
        None => Operations::Ended(
            recorded
                .iter()
                .flat_map(|r| r.remediates.iter().cloned())
                .collect(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::in_progress;

    #[test]
    fn only_states_of_a_running_change_hold_the_writes_back() {
        for busy in [
            "Updating",
            "creating",
            "ResolvingDNS",
            "RegisteringDns",
            "Deleting",
        ] {
            assert!(in_progress(busy), "{busy}");
        }
        // Ended, or a state a person must resolve (HDS `Warned`): remediation goes on.
        for settled in ["Succeeded", "Failed", "Canceled", "Warned", "Suspended", ""] {
            assert!(!in_progress(settled), "{settled}");
        }
    }
}
