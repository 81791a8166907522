//! The PhiStore controller: for each store, observe (the workspace, then Azure) → evaluate
//! (pure) → plan (pure) → apply (Azure writes, Enforce mode only) → report (status by
//! server-side apply, events on transitions, requeue at the drift-check interval).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::apply;
use super::context::Context;
use super::drift;
use super::pipeline::{self, Failure, Pass, Report, segment};
use super::report::Outcome;
use super::review;
use super::trust;
use crate::api::common::ControlState;
use crate::api::common::Mode;
use crate::api::common::condition::reason;
use crate::api::phistore::{
    CycleRef, DeletionPolicy, DriftBaseline, PhiStore, PhiStoreStatus, ResourceKind,
};
use crate::api::{HipaaWorkspace, duration};
use crate::azure::AzureError;
use crate::azure::authorization::KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER;
use crate::azure::insights::DesiredDiagnosticSetting;
use crate::azure::keyvault::RotationPolicy;
use crate::azure::resources;
use crate::controls::cosmos::{self, CosmosExpectations, CosmosObservation};
use crate::controls::healthdata::{self, HealthExpectations, HealthObservation, Service};
use crate::controls::keyvault::{self, VaultExpectations, VaultObservation};
use crate::controls::plan::Plan;
use crate::controls::sql::{self, SqlExpectations, SqlObservation};
use crate::controls::storage::{self, ExpectedKey, StorageExpectations, StorageObservation};
use crate::controls::{Finding, Found};

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

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let stores: Api<PhiStore> = ctx.scoped_api();
    let workspaces: Api<HipaaWorkspace> = ctx.scoped_api();
    let controller = pipeline::lean_controller(stores, slim)
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
                crate::azure::graph::stable_hash(&workspace_inputs(ws).to_string())
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

/// What the store cache keeps of each store's status: conditions without their messages and
/// each control's id and state. Its readers are the workspace's roll-up (the `Ready` condition),
/// the `hipaa_controls` gauge (states) and the watches' mappers (the spec); a pass reads the
/// store itself. With a few dozen controls of expected and observed values and citations per
/// store, this is most of the cache.
fn slim(store: &mut PhiStore) {
    if let Some(status) = store.status.as_mut() {
        slim_status(status);
    }
}

fn slim_status(status: &mut PhiStoreStatus) {
    for c in &mut status.conditions {
        c.message.clear();
    }
    for c in &mut status.controls {
        c.expected.clear();
        c.observed.clear();
        c.hipaa.clear();
        c.message = None;
        c.exemption = None;
    }
}

/// What a failed pass's hold depends on: the store's and its workspace's spec generations.
fn specs_read(store: &PhiStore, workspace_generation: Option<i64>) -> u64 {
    crate::azure::graph::stable_hash(&format!(
        "{:?}/{workspace_generation:?}",
        store.meta().generation
    ))
}

/// The review cycles the store's status records as the operator's.
fn cycle_records(store: &PhiStore) -> Vec<CycleRef> {
    store
        .status
        .as_ref()
        .map(|s| s.review_cycles.clone())
        .unwrap_or_default()
}

/// A fingerprint of a store's status as the cache keeps it ([`slim`]), the same for the full
/// object and the cached one: after its own write the operator records it, so a status that
/// someone else wrote (a forged `Ready=True`, say) ends the quiet exits and is rewritten by the
/// full pass that follows.
fn status_print(status: Option<&PhiStoreStatus>) -> u64 {
    let mut status = status.cloned().unwrap_or_default();
    slim_status(&mut status);
    crate::azure::graph::stable_hash(&serde_json::to_string(&status).unwrap_or_default())
}

fn error_policy(store: Arc<PhiStore>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    tracing::warn!(store = %store.name_any(), namespace = ?store.namespace(), %error, "PhiStore reconcile failed");
    ctx.metrics.reconcile_error("phistore", "kubernetes");
    Action::requeue(Duration::from_secs(30))
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
                FinalizerEvent::Cleanup(store) => cleanup(store, ctx2).await,
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

/// Everything the reconcile read, for the report.
struct Observed {
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
        specs_read(&store, cached_workspace),
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
    if let Some((ws, reviews)) = settled_inputs(&store, &ctx).await?
        && let Ok(permit) = trust::check_store(&ctx, &store, &ws).await
    {
        let mode = permit.mode(ws.spec.mode.strictest(store.spec.mode.unwrap_or_default()));
        let inputs = inputs_of(&store, &ws, mode, review::cycles_digest(&reviews));
        let me = ObjectRef::from_obj(&*store);
        let status = status_print(store.status.as_ref());
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
    let cached_cycles = cycle_records(&store);
    let Some(store) = api.get_opt(&store.name_any()).await?.map(Arc::new) else {
        ctx.drift.forget(&ObjectRef::from_obj(&*store));
        return Ok(Action::await_change());
    };
    // A store that no longer asks for cleanup loses the finalizer it may still carry.
    if store.spec.deletion_policy == DeletionPolicy::Retain
        && store.finalizers().iter().any(|f| f == FINALIZER)
    {
        remove_finalizer(&store, &ctx).await?;
    }
    let namespace = store.namespace().unwrap_or_default();
    let workspaces: Api<HipaaWorkspace> = Api::namespaced(ctx.kube.clone(), &namespace);
    let Some(workspace) = workspaces.get_opt(&store.spec.workspace_ref.name).await? else {
        let message = format!(
            "HipaaWorkspace {} does not exist in namespace {namespace}: create it or fix spec.workspaceRef.name",
            store.spec.workspace_ref.name
        );
        return fail(&store, &ctx, reason::WORKSPACE_NOT_FOUND, message, None).await;
    };
    let permit = match trust::check_store(&ctx, &store, &workspace).await {
        Ok(permit) => permit,
        Err(refusal) => {
            return fail(&store, &ctx, refusal.reason, refusal.message, None).await;
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
        Some(reviews) if cached_cycles == cycle_records(&store) => reviews,
        _ => review::cycles(&ctx, &store).await?,
    };
    let inputs = inputs_of(&store, &workspace, mode, review::cycles_digest(&reviews));
    if let Some(action) = quiet(&store, &ctx, &workspace, &reviews, mode, interval, inputs) {
        return Ok(action);
    }
    let observed = Observed {
        workspace,
        permit,
        mode,
        reviews,
    };
    let pass = match store.spec.resource.kind {
        ResourceKind::StorageAccount => storage_pass(&store, &ctx, &observed, interval).await,
        _ => arm_pass(&store, &ctx, &observed, interval).await,
    };
    match pass {
        Ok(action) => Ok(action),
        Err(failure) => {
            let wait = failure.wait();
            ctx.drift.hold(
                ObjectRef::from_obj(&*store),
                specs_read(&store, observed.workspace.meta().generation),
                wait,
            );
            fail(
                &store,
                &ctx,
                &failure.reason,
                failure.message,
                Some(observed.mode),
            )
            .await
            .map(|_| Action::requeue(wait))
        }
    }
}

/// For a store that settled earlier in this process (and carries no finalizer it should lose):
/// its workspace from the workspace controller's cache and its review cycles, to tell whether
/// this reconcile brings anything new. The cache is as new as the event that woke the store.
async fn settled_inputs(
    store: &PhiStore,
    ctx: &Context,
) -> Result<Option<(Arc<HipaaWorkspace>, Vec<crate::api::AccessReview>)>, kube::Error> {
    let drops_finalizer = store.spec.deletion_policy == DeletionPolicy::Retain
        && store.finalizers().iter().any(|f| f == FINALIZER);
    if drops_finalizer || !ctx.drift.knows(&ObjectRef::from_obj(store)) {
        return Ok(None);
    }
    let Some(ws) = ctx.workspaces.get().and_then(|cache| {
        cache.get(
            &ObjectRef::new(&store.spec.workspace_ref.name)
                .within(&store.namespace().unwrap_or_default()),
        )
    }) else {
        return Ok(None);
    };
    Ok(Some((ws, review::cycles(ctx, store).await?)))
}

/// A fingerprint of what a pass's outcome depends on in Kubernetes besides the Azure reads:
/// the store's spec (its generation) and review request, the workspace's spec (its generation)
/// and the states of its Key Vault controls (`common.cmk-vault-linked` reads them), the mode, and
/// the store's review cycles ([`review::cycles_digest`]).
fn inputs_of(store: &PhiStore, ws: &HipaaWorkspace, mode: Mode, cycles: u64) -> u64 {
    let text = json!([
        store.meta().generation,
        store.annotations().get(review::REQUEST_ANNOTATION),
        workspace_inputs(ws),
        mode,
        format!("{cycles:016x}"),
    ]);
    crate::azure::graph::stable_hash(&text.to_string())
}

/// What a store's pass reads of its workspace: the spec (its generation) and the states of
/// the workspace's Key Vault controls.
fn workspace_inputs(ws: &HipaaWorkspace) -> serde_json::Value {
    let vault_controls: Vec<(String, String)> = ws
        .status
        .as_ref()
        .map(|s| s.controls.as_slice())
        .unwrap_or(&[])
        .iter()
        .filter(|c| c.id.starts_with("kv."))
        .map(|c| (c.id.clone(), format!("{:?}", c.state)))
        .collect();
    json!([ws.meta().generation, vault_controls])
}

/// Whether this reconcile has nothing new to read, and when to come back if so.
///
/// * The store settled earlier in this process with the same [`inputs_of`], no Resource Graph
///   sweep has woken it since, and its full pass is not due: its own status write, its review
///   cycles' status or the workspace's status woke it, and a pass would find what the last one
///   found. It comes back when the full pass is due.
/// * Its first reconcile in this process, when its status shows a settled pass with the same
///   inputs (`status.driftBaseline`): the baseline is taken from the status and the full pass
///   comes at a random point of the full-check interval, so a restarted operator does not read
///   every store at once (sooner when an exemption expires or the `reviews` change by the
///   clock, as after a pass). Resource Graph sweeps find what changed meanwhile.
fn quiet(
    store: &PhiStore,
    ctx: &Context,
    workspace: &HipaaWorkspace,
    reviews: &[crate::api::AccessReview],
    mode: Mode,
    interval: Duration,
    inputs: u64,
) -> Option<Action> {
    let me = ObjectRef::from_obj(store);
    if !ctx.drift.batched(interval) {
        return None;
    }
    if ctx.drift.knows(&me) {
        let left = ctx.drift.quiet(
            &me,
            inputs,
            status_print(store.status.as_ref()),
            std::time::Instant::now(),
        )?;
        tracing::debug!(store = %store.name_any(), "nothing new since the last pass");
        return Some(Action::requeue(left));
    }
    // Only a settled pass leaves a baseline in the status; a failed one clears it.
    let status = store.status.as_ref()?;
    let baseline = status.drift_baseline.as_ref()?;
    if status.observed_generation != store.meta().generation
        || status.mode != Some(mode)
        || Some(baseline.workspace_generation) != workspace.meta().generation
        || baseline.inputs.as_deref() != Some(format!("{inputs:016x}").as_str())
    {
        return None;
    }
    let print = u64::from_str_radix(&baseline.fingerprint, 16).ok()?;
    let spread = ctx
        .drift
        .full_check()
        .mul_f64(0.05 + 0.95 * rand::random::<f64>());
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::now());
    let mut next = pipeline::next_check(&store.spec.exemptions, spread, &now);
    if let Some(change) = review::next_change(workspace, reviews, &now) {
        next = next.min(change);
    }
    ctx.drift.settled(
        me,
        settled(
            store,
            print,
            inputs,
            status_print(store.status.as_ref()),
            next,
        ),
    );
    tracing::debug!(store = %store.name_any(), "resumed from the status's drift baseline");
    Some(Action::requeue(next))
}

async fn storage_pass(
    store: &PhiStore,
    ctx: &Context,
    observed: &Observed,
    interval: Duration,
) -> Result<Action, Failure> {
    let ws = &observed.workspace;
    let azure = ctx.azure.client_for(ws, &observed.permit).await?;
    let id = &store.spec.resource.id;
    let account = match azure.get_storage_account(id).await {
        Ok(a) => a,
        Err(AzureError::NotFound { .. }) => {
            return Err(Failure::new(
                reason::RESOURCE_NOT_FOUND,
                format!(
                    "storage account {id} does not exist, or the operator's identity cannot see it: check spec.resource.id"
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let print = drift::storage_print(&account);
    let expect = expectations(store, ws, ctx);
    let obs = observe_storage(&azure, account, &expect).await?;
    let mut findings = storage::evaluate(&expect, &obs);
    findings.push(vault_linked(ws, &findings));
    let access = review::access_pass(
        store,
        ctx,
        &azure,
        ws,
        observed.mode,
        store.meta().generation,
        &report_of(store.status.as_ref()).conditions,
        observed.reviews.clone(),
    )
    .await?;
    findings.extend(access.findings.iter().cloned());
    let access_cycles = access.cycles;
    let pass = Pass::new(
        report_of(store.status.as_ref()),
        store.meta().generation,
        interval,
        &store.spec.exemptions,
    );
    let conflict = pass.conflicts(&findings);
    let mut applied = Ok(Vec::new());
    if observed.mode == Mode::Enforce {
        let plan = storage::plan(
            &expect,
            &obs,
            &observed.permit.allowed(pass.to_fix(&findings, &conflict)),
        );
        if !plan.is_empty() {
            applied = apply_storage_plan(&azure, ws, &expect, &obs, &plan, ctx)
                .await
                .map(|()| plan.remediates.clone());
        }
    }
    conclude(
        store,
        ctx,
        observed.mode,
        pass,
        findings,
        applied,
        access,
        Seen {
            print,
            workspace_generation: ws.meta().generation,
            inputs: inputs_of(store, ws, observed.mode, access_cycles),
        },
    )
    .await
}

/// The baseline a settled store leaves, its next full pass `next` from now.
fn settled(
    store: &PhiStore,
    print: u64,
    inputs: u64,
    status: u64,
    next: Duration,
) -> drift::Settled {
    drift::Settled {
        status,
        workspace: drift::workspace_key(
            &store.namespace().unwrap_or_default(),
            &store.spec.workspace_ref.name,
        ),
        resource_id: store.spec.resource.id.clone(),
        kind: store.spec.resource.kind,
        print,
        inputs,
        due: std::time::Instant::now() + next,
    }
}

/// What a pass saw of the resource (its envelope's fingerprint) and of the workspace, and
/// [`inputs_of`] as the pass leaves them (with a review cycle it opened).
struct Seen {
    print: u64,
    workspace_generation: Option<i64>,
    inputs: u64,
}

/// The end of every evaluated pass, whatever the kind: the report, the status write, events
/// for a failed remediation, and the requeue (soon after a remediation, to read it back). A pass
/// that settled leaves `print` (its resource's envelope) as the baseline of batched drift
/// detection, and comes back at the full-check interval instead of the drift interval.
#[allow(clippy::too_many_arguments)]
async fn conclude(
    store: &PhiStore,
    ctx: &Context,
    mode: Mode,
    pass: Pass,
    findings: Vec<Finding>,
    applied: Result<Vec<&'static str>, AzureError>,
    mut access: review::AccessOutcome,
    seen: Seen,
) -> Result<Action, Failure> {
    // The same conflicts the plan left alone.
    let conflict = pass.conflicts(&findings);
    // A failed removal of unreviewed access is a failed remediation like any other.
    let applied = match (applied, access.removal_error.take()) {
        (Ok(_), Some(e)) => Err(e),
        (applied, _) => applied,
    };
    let (remediated, apply_error) = match applied {
        Ok(mut ids) => {
            ids.extend(access.remediated.iter().copied());
            (ids, None)
        }
        Err(e) => (Vec::new(), Some((e.to_string(), Failure::from(e)))),
    };
    let apply_wait = apply_error
        .as_ref()
        .map(|(_, f)| f.wait())
        .unwrap_or_default();
    let outcome = match &apply_error {
        Some((text, failure)) => Outcome::Failed {
            reason: failure.reason.clone(),
            message: format!("remediation failed: {text}"),
        },
        None => Outcome::Evaluated {
            remediating: vec![],
            conflict,
        },
    };
    let report = pass.report(findings, &remediated, outcome, vec![access.condition]);
    let settles =
        apply_error.is_none() && remediated.is_empty() && ctx.drift.batched(pass.interval);
    let baseline = seen
        .workspace_generation
        .filter(|_| settles)
        .map(|g| DriftBaseline {
            fingerprint: format!("{:016x}", seen.print),
            workspace_generation: g,
            inputs: Some(format!("{:016x}", seen.inputs)),
        });
    let written = write_status(
        store,
        ctx,
        &pass.previous,
        report,
        mode,
        baseline,
        access.cycle_refs.clone(),
    )
    .await?;
    let me = ObjectRef::from_obj(store);
    if apply_error.is_some() || !remediated.is_empty() {
        ctx.drift.forget(&me);
    }
    if let Some((text, _)) = apply_error {
        pipeline::publish(
            ctx,
            &store.object_ref(&()),
            EventType::Warning,
            "RemediationFailed",
            "Remediate",
            text,
        )
        .await;
        let wait = apply_wait.max(Duration::from_secs(60));
        ctx.drift
            .hold(me, specs_read(store, seen.workspace_generation), wait);
        return Ok(Action::requeue(wait));
    }
    if !remediated.is_empty() {
        // Read back soon so the status shows what Azure now reports.
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    // The review cycles change by the clock too (the latest falls overdue, or the next opens).
    let clock = |next: Duration| access.changes_in.map_or(next, |c| next.min(c));
    if !ctx.drift.batched(pass.interval) {
        return Ok(Action::requeue(clock(
            pass.next_check(&store.spec.exemptions),
        )));
    }
    // The next full pass: the full-check interval, or sooner when an exemption expires.
    let next = clock(pipeline::next_check(
        &store.spec.exemptions,
        ctx.drift.full_check(),
        &pass.now,
    ));
    ctx.drift
        .settled(me, settled(store, seen.print, seen.inputs, written, next));
    Ok(Action::requeue(next))
}

/// Plans the writes for the findings a pass may act on.
type Planner = Box<dyn Fn(&[&Finding]) -> Plan + Send + Sync>;

/// A pass over a kind read through the generic ARM envelope: the kind's evaluator gives
/// findings and a plan of ARM writes, which the shared apply stage makes.
async fn arm_pass(
    store: &PhiStore,
    ctx: &Context,
    observed: &Observed,
    interval: Duration,
) -> Result<Action, Failure> {
    let ws = &observed.workspace;
    let azure = ctx.azure.client_for(ws, &observed.permit).await?;
    let id = &store.spec.resource.id;
    let kind = store.spec.resource.kind;
    let tag = classification_tag(ws);
    let (findings, location, planner, print): (Vec<Finding>, String, Planner, u64) = match kind {
        ResourceKind::KeyVault => {
            let t = read_target(&azure, &resources::GET_VAULT, kind, id, true).await?;
            let print = drift::resource_print(&t.resource);
            let obs = VaultObservation {
                vault: t.resource,
                diagnostics: t.diagnostics,
                endpoint_groups: t.endpoint_groups,
            };
            let expect = VaultExpectations {
                vault_id: id.clone(),
                log_analytics_id: ws.spec.log_analytics.resource_id.clone(),
                private_networking: ws.spec.private_networking.is_some(),
                classification_tag: Some(tag),
                category_groups: diagnostic_categories(store).0,
                categories: diagnostic_categories(store).1,
            };
            let findings = keyvault::evaluate(&expect, &obs);
            let location = obs.vault.location.clone().unwrap_or_default();
            (
                findings,
                location,
                Box::new(move |to_fix| {
                    let mut plan = Plan::default();
                    keyvault::plan(&expect, &obs, to_fix, &mut plan);
                    plan
                }),
                print,
            )
        }
        ResourceKind::CosmosDbAccount => {
            let t = read_target(&azure, &resources::GET_COSMOS_ACCOUNT, kind, id, true).await?;
            let print = drift::resource_print(&t.resource);
            let obs = CosmosObservation {
                account: t.resource,
                diagnostics: t.diagnostics,
                endpoint_groups: t.endpoint_groups,
                now: Timestamp::now(),
            };
            let (category_groups, categories) = diagnostic_categories(store);
            let vault_name = segment(&ws.spec.key_vault.resource_id, "vaults").unwrap_or_default();
            let expect = CosmosExpectations {
                account_id: id.clone(),
                log_analytics_id: ws.spec.log_analytics.resource_id.clone(),
                private_endpoint_groups: store_endpoint_groups(store),
                vault_uri: ctx.azure_cloud().vault_uri(vault_name),
                allowed_ip_ranges: store
                    .spec
                    .profile
                    .as_ref()
                    .map(|p| p.allowed_ip_ranges.clone())
                    .unwrap_or_default(),
                classification_tag: tag,
                category_groups,
                categories,
            };
            let findings = cosmos::evaluate(&expect, &obs);
            let location = obs.account.location.clone().unwrap_or_default();
            (
                findings,
                location,
                Box::new(move |to_fix| cosmos::plan(&expect, &obs, to_fix)),
                print,
            )
        }
        ResourceKind::HealthDataWorkspace
        | ResourceKind::FhirService
        | ResourceKind::DicomService => {
            let (service, get) = match kind {
                ResourceKind::HealthDataWorkspace => {
                    (Service::Workspace, resources::GET_HDS_WORKSPACE)
                }
                ResourceKind::FhirService => (Service::Fhir, resources::GET_FHIR),
                _ => (Service::Dicom, resources::GET_DICOM),
            };
            // The workspace has no diagnostic-setting control of its own.
            let t = read_target(&azure, &get, kind, id, service != Service::Workspace).await?;
            let print = drift::resource_print(&t.resource);
            let obs = HealthObservation {
                resource: t.resource,
                diagnostics: t.diagnostics,
                endpoint_groups: t.endpoint_groups,
            };
            let vault_name = segment(&ws.spec.key_vault.resource_id, "vaults").unwrap_or_default();
            let key_name = store_key_name(store);
            let governed_storage: Vec<String> = ctx
                .stores
                .get()
                .map(|cache| {
                    cache
                        .state()
                        .into_iter()
                        .filter(|s| s.namespace() == store.namespace())
                        .filter(|s| s.spec.resource.kind == ResourceKind::StorageAccount)
                        .map(|s| s.spec.resource.id.clone())
                        .collect()
                })
                .unwrap_or_default();
            let expect = HealthExpectations {
                service,
                resource_id: id.clone(),
                log_analytics_id: ws.spec.log_analytics.resource_id.clone(),
                private_endpoint_groups: store_endpoint_groups(store),
                key_url: format!(
                    "{}/keys/{key_name}",
                    ctx.azure_cloud()
                        .vault_uri(vault_name)
                        .trim_end_matches('/')
                ),
                tenant_id: ws
                    .spec
                    .identity
                    .as_ref()
                    .and_then(|i| i.tenant_id.clone())
                    .or_else(|| std::env::var("AZURE_TENANT_ID").ok()),
                governed_storage,
                classification_tag: tag,
            };
            let findings = healthdata::evaluate(&expect, &obs);
            let location = obs.resource.location.clone().unwrap_or_default();
            (
                findings,
                location,
                Box::new(move |to_fix| healthdata::plan(&expect, &obs, to_fix)),
                print,
            )
        }
        ResourceKind::SqlServer => {
            let server = azure
                .get_resource(&resources::GET_SQL_SERVER, id)
                .await?
                .ok_or_else(|| not_found(kind, id))?;
            let print = drift::resource_print(&server);
            let vault_name = segment(&ws.spec.key_vault.resource_id, "vaults")
                .unwrap_or_default()
                .to_string();
            let key_name = store_key_name(store);
            let expect = SqlExpectations {
                server_id: id.clone(),
                log_analytics_id: ws.spec.log_analytics.resource_id.clone(),
                private_endpoint_groups: store_endpoint_groups(store),
                vault_uri: ctx.azure_cloud().vault_uri(&vault_name),
                vault_name,
                key_name,
                min_pitr_days: 7,
                classification_tag: tag,
            };
            let obs = observe_sql(&azure, id, server, &expect).await?;
            let findings = sql::evaluate(&expect, &obs);
            let location = obs.server.location.clone().unwrap_or_default();
            (
                findings,
                location,
                Box::new(move |to_fix| sql::plan(&expect, &obs, to_fix)),
                print,
            )
        }
        other => {
            return Err(Failure::new(
                "NotSupported",
                format!(
                    "{} stores are not evaluated by this version yet",
                    other.as_str()
                ),
            ));
        }
    };
    let access = review::access_pass(
        store,
        ctx,
        &azure,
        ws,
        observed.mode,
        store.meta().generation,
        &report_of(store.status.as_ref()).conditions,
        observed.reviews.clone(),
    )
    .await?;
    let mut findings = findings;
    findings.extend(access.findings.iter().cloned());
    let access_cycles = access.cycles;
    let pass = Pass::new(
        report_of(store.status.as_ref()),
        store.meta().generation,
        interval,
        &store.spec.exemptions,
    );
    let conflict = pass.conflicts(&findings);
    let mut applied = Ok(Vec::new());
    if observed.mode == Mode::Enforce {
        let plan = planner(&observed.permit.allowed(pass.to_fix(&findings, &conflict)));
        if !plan.is_empty() {
            applied = apply::apply_plan(&azure, ctx, ws, id, &location, &plan)
                .await
                .map(|()| plan.remediates.clone());
        }
    }
    conclude(
        store,
        ctx,
        observed.mode,
        pass,
        findings,
        applied,
        access,
        Seen {
            print,
            workspace_generation: ws.meta().generation,
            inputs: inputs_of(store, ws, observed.mode, access_cycles),
        },
    )
    .await
}

/// A governed resource as its evaluator needs it: the ARM envelope, the diagnostic settings on
/// it (when asked for) and the group ids of the private endpoints connected to it.
struct Target {
    resource: crate::azure::resources::ArmResource,
    diagnostics: Vec<crate::azure::insights::DiagnosticSetting>,
    endpoint_groups: std::collections::BTreeMap<String, Vec<String>>,
}

async fn read_target(
    azure: &crate::azure::AzureClient,
    op: &crate::azure::client::ArmOp,
    kind: ResourceKind,
    id: &str,
    with_diagnostics: bool,
) -> Result<Target, Failure> {
    let resource = async {
        azure
            .get_resource(op, id)
            .await?
            .ok_or_else(|| not_found(kind, id))
    };
    let diagnostics = async {
        if with_diagnostics {
            diagnostic_settings(azure, id).await
        } else {
            Ok(Vec::new())
        }
    };
    let (resource, diagnostics) = futures::try_join!(resource, diagnostics)?;
    let endpoint_groups =
        apply::endpoint_groups(azure, &json!({ "properties": resource.properties })).await?;
    Ok(Target {
        resource,
        diagnostics,
        endpoint_groups,
    })
}

fn not_found(kind: ResourceKind, id: &str) -> Failure {
    Failure::new(
        reason::RESOURCE_NOT_FOUND,
        format!(
            "{} {id} does not exist, or the operator's identity cannot see it: check spec.resource.id",
            kind.as_str()
        ),
    )
}

/// The diagnostic settings on a resource; none when it has none.
async fn diagnostic_settings(
    azure: &crate::azure::AzureClient,
    id: &str,
) -> Result<Vec<crate::azure::insights::DiagnosticSetting>, Failure> {
    match azure.list_diagnostic_settings(id).await {
        Ok(s) => Ok(s),
        Err(AzureError::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// The diagnostic category groups and categories a store asks for: its own, or the `audit`
/// category group.
fn diagnostic_categories(store: &PhiStore) -> (Vec<String>, Vec<String>) {
    let diagnostics = store.spec.diagnostics.as_ref();
    let groups: Vec<String> = diagnostics
        .map(|d| {
            d.category_groups
                .iter()
                .map(|g| g.as_str().to_string())
                .collect()
        })
        .unwrap_or_default();
    let categories = diagnostics
        .map(|d| d.categories.clone())
        .unwrap_or_default();
    if groups.is_empty() && categories.is_empty() {
        (vec!["audit".into()], categories)
    } else {
        (groups, categories)
    }
}

/// Everything the `sql.*` controls read for one server.
async fn observe_sql(
    azure: &crate::azure::AzureClient,
    id: &str,
    server: crate::azure::resources::ArmResource,
    expect: &SqlExpectations,
) -> Result<SqlObservation, Failure> {
    use crate::azure::client::ArmOp;
    use crate::azure::resources::{ArmResource, api_version};
    #[derive(serde::Deserialize)]
    struct Page {
        #[serde(default)]
        value: Vec<ArmResource>,
    }
    const fn op(name: &'static str) -> ArmOp {
        ArmOp::new(name, "Microsoft.Sql", api_version::SQL)
    }
    let opt = |op: ArmOp, path: String| async move {
        azure.get_resource(&op, &path).await.map_err(Failure::from)
    };
    // Every read but the databases' own settings is independent: they run concurrently, and
    // each database's three settings once the list is in.
    let databases = async {
        let list: Page = azure
            .get(&op("Databases_ListByServer"), &format!("{id}/databases"))
            .await?;
        let each = list
            .value
            .into_iter()
            .filter(|d| !d.name.eq_ignore_ascii_case("master"))
            .map(|database| async move {
                let db = database.id.clone();
                let (tde, long_term, short_term) = futures::try_join!(
                    opt(
                        op("TransparentDataEncryptions_Get"),
                        format!("{db}/transparentDataEncryption/current"),
                    ),
                    opt(
                        op("LongTermRetentionPolicies_Get"),
                        format!("{db}/backupLongTermRetentionPolicies/default"),
                    ),
                    opt(
                        op("BackupShortTermRetentionPolicies_Get"),
                        format!("{db}/backupShortTermRetentionPolicies/default"),
                    ),
                )?;
                Ok::<_, Failure>(sql::Database {
                    tde,
                    long_term,
                    short_term,
                    database,
                })
            });
        futures::future::try_join_all(each).await
    };
    let firewall = async {
        let page: Page = azure
            .get(
                &op("FirewallRules_ListByServer"),
                &format!("{id}/firewallRules"),
            )
            .await?;
        Ok::<_, Failure>(page.value)
    };
    let latest_key_version = async {
        Ok::<_, Failure>(
            azure
                .get_key(&expect.vault_name, &expect.key_name)
                .await?
                .map(|k| k.key.version().to_string()),
        )
    };
    let endpoint_groups = async {
        apply::endpoint_groups(azure, &json!({ "properties": server.properties }))
            .await
            .map_err(Failure::from)
    };
    let master = format!("{id}/databases/master");
    let (
        (firewall_rules, databases, latest_key_version, endpoint_groups),
        (encryption_protector, auditing, master_diagnostics),
        (administrator, entra_only, alert_policy),
    ) = futures::try_join!(
        async { futures::try_join!(firewall, databases, latest_key_version, endpoint_groups) },
        async {
            futures::try_join!(
                opt(
                    op("EncryptionProtectors_Get"),
                    format!("{id}/encryptionProtector/current"),
                ),
                opt(
                    op("ServerBlobAuditingPolicies_Get"),
                    format!("{id}/auditingSettings/default"),
                ),
                diagnostic_settings(azure, &master),
            )
        },
        async {
            futures::try_join!(
                opt(
                    op("ServerAzureADAdministrators_Get"),
                    format!("{id}/administrators/ActiveDirectory"),
                ),
                opt(
                    op("ServerAzureADOnlyAuthentications_Get"),
                    format!("{id}/azureADOnlyAuthentications/Default"),
                ),
                opt(
                    op("ServerSecurityAlertPolicies_Get"),
                    format!("{id}/securityAlertPolicies/Default"),
                ),
            )
        },
    )?;
    Ok(SqlObservation {
        firewall_rules,
        databases,
        encryption_protector,
        auditing,
        master_diagnostics,
        administrator,
        entra_only,
        alert_policy,
        endpoint_groups,
        latest_key_version,
        server,
    })
}

/// The name of a store's key in the workspace vault: its own, or `{namespace}-{name}`.
fn store_key_name(store: &PhiStore) -> String {
    store
        .spec
        .encryption
        .as_ref()
        .and_then(|e| e.key_name.clone())
        .unwrap_or_else(|| {
            format!(
                "{}-{}",
                store.namespace().unwrap_or_default(),
                store.name_any()
            )
        })
}

/// The private-endpoint sub-resources of a store: its own, or its kind's default.
fn store_endpoint_groups(store: &PhiStore) -> Vec<String> {
    store
        .spec
        .private_endpoint
        .as_ref()
        .map(|p| p.group_ids.clone())
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| {
            vec![
                store
                    .spec
                    .resource
                    .kind
                    .default_private_endpoint_group()
                    .to_string(),
            ]
        })
}

/// The workspace's PHI classification tag, `(name, value)`.
fn classification_tag(ws: &HipaaWorkspace) -> (String, String) {
    ws.spec
        .classification_tag
        .as_ref()
        .map(|t| (t.name.clone(), t.value.clone()))
        .unwrap_or_else(|| ("data-classification".into(), "phi".into()))
}

/// `common.cmk-vault-linked`: the store's key lives in the workspace's vault, which must
/// itself pass soft delete and purge protection (as the workspace controller last reported),
/// and the key must carry its rotation policy.
fn vault_linked(ws: &HipaaWorkspace, findings: &[Finding]) -> Finding {
    let expected = "the key's vault passes kv.soft-delete and kv.purge-protection, and the key has a rotation policy";
    let vault_controls = ws
        .status
        .as_ref()
        .map(|s| s.controls.as_slice())
        .unwrap_or(&[]);
    if !vault_controls.iter().any(|c| c.id.starts_with("kv.")) {
        return Finding::new(
            "common.cmk-vault-linked",
            Found::Error,
            expected,
            "the workspace has not evaluated its vault yet",
        )
        .with_message("waiting for the HipaaWorkspace's first evaluation of its Key Vault");
    }
    let mut failing: Vec<String> = ["kv.soft-delete", "kv.purge-protection"]
        .iter()
        .filter_map(|id| match vault_controls.iter().find(|c| c.id == *id) {
            Some(c) if matches!(c.state, ControlState::Compliant | ControlState::Remediated) => {
                None
            }
            Some(c) => Some(format!("{id} is {:?} on the workspace vault", c.state)),
            None => Some(format!("{id} not yet evaluated by the workspace")),
        })
        .collect();
    if findings
        .iter()
        .any(|f| f.id() == "kv.key-rotation-policy" && f.found != Found::Compliant)
    {
        failing.push("the key has no matching rotation policy".into());
    }
    if failing.is_empty() {
        Finding::new(
            "common.cmk-vault-linked",
            Found::Compliant,
            expected,
            "vault and key pass",
        )
    } else {
        Finding::new(
            "common.cmk-vault-linked",
            Found::Drifted,
            expected,
            failing.join("; "),
        )
        .with_message(
            "the customer-managed key is only as safe as its vault: see the HipaaWorkspace's kv.* controls",
        )
    }
}

/// The shared report fields of a store's status.
fn report_of(status: Option<&PhiStoreStatus>) -> Report {
    status
        .map(|s| Report {
            observed_generation: s.observed_generation,
            conditions: s.conditions.clone(),
            controls: s.controls.clone(),
            compliance: s.compliance.clone(),
        })
        .unwrap_or_default()
}

/// Writes the store's status when it differs from what is stored, with events for the
/// transitions and the control gauges.
async fn write_status(
    store: &PhiStore,
    ctx: &Context,
    previous: &Report,
    report: Report,
    mode: Mode,
    drift_baseline: Option<DriftBaseline>,
    review_cycles: Vec<CycleRef>,
) -> Result<u64, Failure> {
    let old = store.status.clone().unwrap_or_default();
    let status = PhiStoreStatus {
        observed_generation: report.observed_generation,
        mode: Some(mode),
        compliance: report.compliance.clone(),
        conditions: report.conditions.clone(),
        controls: report.controls.clone(),
        drift_baseline,
        review_cycles,
    };
    let written = status_print(Some(&status));
    if status == old {
        return Ok(written);
    }
    pipeline::transition_events(ctx, &store.object_ref(&()), previous, &report).await;
    pipeline::patch_status(ctx, store, MANAGER, &status)
        .await
        .map_err(|e| Failure::new(reason::AZURE_UNAVAILABLE, format!("writing status: {e}")))?;
    Ok(written)
}

/// A reconcile that could not evaluate: `Ready=False` with `why`, the controls kept as they
/// were last seen.
async fn fail(
    store: &PhiStore,
    ctx: &Context,
    why: &str,
    message: String,
    mode: Option<Mode>,
) -> Result<Action, ReconcileError> {
    ctx.drift.forget(&ObjectRef::from_obj(store));
    let previous = report_of(store.status.as_ref());
    let pass = Pass::new(
        previous,
        store.meta().generation,
        Duration::from_secs(3600),
        &[],
    );
    let report = pass.failed(why, &message);
    let old = store.status.clone().unwrap_or_default();
    let status = PhiStoreStatus {
        observed_generation: report.observed_generation,
        mode: mode.or(old.mode),
        compliance: report.compliance.clone(),
        conditions: report.conditions.clone(),
        controls: report.controls.clone(),
        drift_baseline: None,
        review_cycles: old.review_cycles.clone(),
    };
    if status != old {
        pipeline::transition_events(ctx, &store.object_ref(&()), &pass.previous, &report).await;
        pipeline::patch_status(ctx, store, MANAGER, &status).await?;
    }
    ctx.metrics.reconcile_error("phistore", why);
    Ok(Action::requeue(pipeline::retry_after(why)))
}

fn expectations(store: &PhiStore, ws: &HipaaWorkspace, ctx: &Context) -> StorageExpectations {
    let vault_name = segment(&ws.spec.key_vault.resource_id, "vaults")
        .unwrap_or_default()
        .to_string();
    let key_name = store_key_name(store);
    let rotate_after_days = duration::parse(&ws.spec.key_vault.rotation.rotate_after)
        .map(|d| (d.as_secs() / 86_400) as i64)
        .unwrap_or(90);
    let profile = store.spec.profile.clone();
    let tag = classification_tag(ws);
    StorageExpectations {
        network_bypass: match profile.as_ref().map(|p| p.network_bypass) {
            Some(crate::api::phistore::NetworkBypass::None) => "None".into(),
            _ => "AzureServices".into(),
        },
        allowed_ip_ranges: profile
            .as_ref()
            .map(|p| p.allowed_ip_ranges.clone())
            .unwrap_or_default(),
        private_endpoint_groups: endpoint_groups(store),
        key: ExpectedKey {
            vault_uri: ctx.azure_cloud().vault_uri(&vault_name),
            vault_id: ws.spec.key_vault.resource_id.clone(),
            key_name,
            user_assigned_identity: store
                .spec
                .encryption
                .as_ref()
                .and_then(|e| e.user_assigned_identity_id.clone()),
            rotate_after_days,
            rotation_policy: {
                let rotation = &ws.spec.key_vault.rotation;
                RotationPolicy::new(
                    &rotation.rotate_after,
                    &rotation.expire_after,
                    &rotation.notify_before,
                )
            },
        },
        soft_delete_days: profile
            .as_ref()
            .map(|p| i64::from(p.soft_delete_retention_days))
            .unwrap_or(14),
        log_analytics_workspace_id: ws.spec.log_analytics.resource_id.clone(),
        diagnostic_services: diagnostic_services(store),
        category_groups: diagnostic_categories(store).0,
        categories: diagnostic_categories(store).1,
        classification_tag: tag,
        file_shares: diagnostic_services(store).iter().any(|s| s == "file")
            || endpoint_groups(store).iter().any(|g| g == "file"),
    }
}

/// Everything the `storage.*` controls read besides the account. The reads are independent of
/// one another (the key's rotation policy and users only need the key to exist), so they run
/// concurrently: a pass costs a few round trips, not one per read.
async fn observe_storage(
    azure: &crate::azure::AzureClient,
    account: crate::azure::storage::StorageAccount,
    expect: &StorageExpectations,
) -> Result<StorageObservation, Failure> {
    let blob_service = async {
        match azure.get_blob_service(&account.id).await {
            Ok(b) => Ok(Some(b.properties)),
            Err(AzureError::NotFound { .. }) => Ok(None),
            Err(e) => Err(Failure::from(e)),
        }
    };
    let file_service = async {
        if expect.file_shares {
            Ok(Some(azure.get_file_service(&account.id).await?))
        } else {
            Ok::<_, Failure>(None)
        }
    };
    let account_id = account.id.as_str();
    let diagnostics = futures::future::try_join_all(expect.diagnostic_services.iter().map(
        |service| async move {
            let resource = format!("{account_id}/{service}Services/default");
            // A service the account does not have (yet) has no settings: the finding says so.
            Ok::<_, Failure>((
                service.clone(),
                diagnostic_settings(azure, &resource).await?,
            ))
        },
    ));
    let endpoints = account
        .properties
        .private_endpoint_connections
        .iter()
        .filter_map(|c| c.properties.private_endpoint.as_ref())
        .map(|e| e.id.clone());
    let endpoint_groups = async {
        apply::endpoint_groups_of(azure, endpoints)
            .await
            .map_err(Failure::from)
    };
    let key = observe_key(azure, expect);
    let (blob_service, file_service, diagnostics, endpoint_groups, key) = futures::try_join!(
        blob_service,
        file_service,
        diagnostics,
        endpoint_groups,
        key
    )?;
    Ok(StorageObservation {
        account,
        blob_service,
        file_service,
        diagnostics: diagnostics.into_iter().collect(),
        latest_key_version: key.latest_version,
        key_access: key.access,
        key_rotation_policy: key.rotation_policy,
        endpoint_groups,
        now: Timestamp::now(),
    })
}

/// What a store's customer-managed key looks like in the workspace vault.
struct KeyObservation {
    latest_version: Option<String>,
    rotation_policy: Option<crate::azure::keyvault::RotationPolicy>,
    /// Who can wrap and unwrap with it; read only once the key exists.
    access: Option<Vec<String>>,
}

async fn observe_key(
    azure: &crate::azure::AzureClient,
    expect: &StorageExpectations,
) -> Result<KeyObservation, Failure> {
    let vault = vault_name(&expect.key.vault_uri);
    let latest_version = azure
        .get_key(&vault, &expect.key.key_name)
        .await?
        .map(|k| k.key.version().to_string());
    if latest_version.is_none() {
        return Ok(KeyObservation {
            latest_version,
            rotation_policy: None,
            access: None,
        });
    }
    let scope = key_scope(expect);
    let (rotation_policy, reaching) = futures::try_join!(
        azure.get_rotation_policy(&vault, &expect.key.key_name),
        azure.role_assignments_reaching(&scope)
    )?;
    let access = reaching
        .into_iter()
        .filter(|(_, role)| role.grants_data(WRAP_KEY) && role.grants_data(UNWRAP_KEY))
        .map(|(a, _)| a.properties.principal_id)
        .collect();
    Ok(KeyObservation {
        latest_version,
        rotation_policy,
        access: Some(access),
    })
}

fn vault_name(vault_uri: &str) -> String {
    vault_uri
        .trim_start_matches("https://")
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The data actions a customer-managed key's user needs.
const WRAP_KEY: &str = "Microsoft.KeyVault/vaults/keys/wrap/action";
const UNWRAP_KEY: &str = "Microsoft.KeyVault/vaults/keys/unwrap/action";

/// The ARM scope of the store's key, below its vault.
fn key_scope(expect: &StorageExpectations) -> String {
    format!(
        "{}/keys/{}",
        expect.key.vault_id.trim_end_matches('/'),
        expect.key.key_name
    )
}

async fn apply_storage_plan(
    azure: &crate::azure::AzureClient,
    ws: &HipaaWorkspace,
    expect: &StorageExpectations,
    obs: &StorageObservation,
    plan: &storage::StoragePlan,
    ctx: &Context,
) -> Result<(), AzureError> {
    let account_id = &obs.account.id;
    // The key must exist, with its rotation policy, before the account points at it.
    if plan.ensure_key {
        let policy = &expect.key.rotation_policy;
        let kty = match ws.spec.key_vault.key_type {
            crate::api::workspace::KeyType::Rsa => "RSA",
            crate::api::workspace::KeyType::RsaHsm => "RSA-HSM",
        };
        let size = u32::try_from(ws.spec.key_vault.key_size).unwrap_or(3072);
        azure
            .ensure_key(
                &vault_name(&expect.key.vault_uri),
                &expect.key.key_name,
                kty,
                size,
                policy,
            )
            .await?;
        if obs.latest_key_version.is_some()
            && obs
                .account
                .properties
                .encryption
                .as_ref()
                .and_then(|e| e.keyvaultproperties.as_ref())
                .and_then(|k| k.last_key_rotation_timestamp.as_deref())
                .and_then(|t| t.parse::<Timestamp>().ok())
                .is_some_and(|t| {
                    obs.now.duration_since(t).as_secs() / 86_400 > expect.key.rotate_after_days
                })
        {
            // The key is older than the cadence: rotate now; the versionless reference picks it up.
            azure
                .rotate_key(&vault_name(&expect.key.vault_uri), &expect.key.key_name)
                .await?;
        }
    }
    if plan.ensure_private_endpoint {
        apply::ensure_private_endpoints(
            azure,
            ctx,
            ws,
            account_id,
            &obs.account.location,
            &expect.private_endpoint_groups,
        )
        .await?;
    }
    let mut account_patch = plan.account_patch.clone();
    if plan.close_public_after_endpoint {
        // The endpoint now exists (the step above returned once it had).
        account_patch.properties.public_network_access = Some("Disabled".into());
    }
    if plan.grant_key_access {
        // The identity must exist, and hold the key role, before encryption points at the key.
        let principal = match account_patch.identity.take() {
            Some(identity) => {
                let with_identity = crate::azure::storage::StorageAccountPatch {
                    identity: Some(identity),
                    ..Default::default()
                };
                let updated = azure
                    .update_storage_account(account_id, &with_identity)
                    .await?;
                let mut after = obs.clone();
                if let Some(updated) = updated {
                    after.account = updated;
                }
                storage::key_principal(expect, &after)
            }
            None => storage::key_principal(expect, obs),
        };
        match principal {
            Some(principal) => {
                azure
                    .ensure_role_assignment(
                        &key_scope(expect),
                        KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
                        &principal,
                        "ServicePrincipal",
                    )
                    .await?;
            }
            None => tracing::warn!(
                account = %account_id,
                "the account's identity has no principal id yet; the key role is granted at the next pass"
            ),
        }
    }
    if !account_patch.is_empty() {
        azure
            .update_storage_account(account_id, &account_patch)
            .await?;
    }
    if let Some(blob) = &plan.blob_service {
        azure.set_blob_service(account_id, blob).await?;
    }
    if let Some(file) = &plan.file_service {
        azure.set_file_service(account_id, file).await?;
    }
    for service in &plan.ensure_diagnostics {
        azure
            .ensure_diagnostic_setting(&DesiredDiagnosticSetting {
                resource_id: format!("{account_id}/{service}Services/default"),
                workspace_id: expect.log_analytics_workspace_id.clone(),
                category_groups: expect.category_groups.clone(),
                categories: expect.categories.clone(),
            })
            .await?;
    }
    Ok(())
}

/// The private-endpoint sub-resources of a storage store (default `blob`).
fn endpoint_groups(store: &PhiStore) -> Vec<String> {
    store
        .spec
        .private_endpoint
        .as_ref()
        .map(|p| p.group_ids.clone())
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| {
            vec![
                ResourceKind::StorageAccount
                    .default_private_endpoint_group()
                    .to_string(),
            ]
        })
}

/// The storage services whose logs are collected (default `blob`).
fn diagnostic_services(store: &PhiStore) -> Vec<String> {
    store
        .spec
        .diagnostics
        .as_ref()
        .map(|d| {
            d.services
                .iter()
                .map(|s| s.as_str().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec!["blob".into()])
}

async fn remove_finalizer(store: &PhiStore, ctx: &Context) -> Result<(), kube::Error> {
    let api: Api<PhiStore> =
        Api::namespaced(ctx.kube.clone(), &store.namespace().unwrap_or_default());
    let finalizers: Vec<&String> = store
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .collect();
    let patch = json!({ "metadata": { "finalizers": finalizers, "resourceVersion": store.resource_version() } });
    api.patch(
        &store.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// `deletionPolicy: Delete`: removes the private endpoints and the diagnostic settings the
/// operator created. Never the account, its data or its key; "already gone" is success.
async fn cleanup(store: Arc<PhiStore>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    ctx.drift.forget(&ObjectRef::from_obj(&*store));
    let namespace = store.namespace().unwrap_or_default();
    let workspaces: Api<HipaaWorkspace> = Api::namespaced(ctx.kube.clone(), &namespace);
    let Some(ws) = workspaces.get_opt(&store.spec.workspace_ref.name).await? else {
        // Without the workspace there is no identity to clean up with: let the object go.
        tracing::warn!(store = %store.name_any(), "workspace gone; nothing can be cleaned up in Azure");
        return Ok(Action::await_change());
    };
    // Cleanup writes to Azure like any pass: only inside what a grant allows, and never for a
    // store that was not the resource's governing one (what it would delete is another's).
    let permit = match trust::check_store(&ctx, &store, &ws).await {
        Ok(permit) => permit,
        Err(refusal) => {
            pipeline::publish(
            &ctx,
            &store.object_ref(&()),
            EventType::Warning,
            "CleanupSkipped",
            "Delete",
            format!(
                "{}: {}; nothing was removed in Azure, and what the operator created for this store (private endpoints, diagnostic settings) stays",
                refusal.reason, refusal.message
            ),
        )
            .await;
            return Ok(Action::await_change());
        }
    };
    let id = store.spec.resource.id.clone();
    // The workspace's own vault keeps what the workspace controller made for it.
    let shared = id.eq_ignore_ascii_case(&ws.spec.key_vault.resource_id);
    let (groups, diagnostics_on): (Vec<String>, Vec<String>) = match store.spec.resource.kind {
        ResourceKind::StorageAccount => (
            endpoint_groups(&store),
            diagnostic_services(&store)
                .iter()
                .map(|service| format!("{id}/{service}Services/default"))
                .collect(),
        ),
        ResourceKind::KeyVault if !shared => (vec!["vault".into()], vec![id.clone()]),
        ResourceKind::CosmosDbAccount => (store_endpoint_groups(&store), vec![id.clone()]),
        ResourceKind::SqlServer => (
            store_endpoint_groups(&store),
            vec![format!("{id}/databases/master")],
        ),
        // Services sit behind their workspace's endpoint: only the setting is theirs.
        ResourceKind::FhirService | ResourceKind::DicomService => (vec![], vec![id.clone()]),
        ResourceKind::HealthDataWorkspace => (store_endpoint_groups(&store), vec![]),
        _ => return Ok(Action::await_change()),
    };
    let result: Result<(), Failure> = async {
        let azure = ctx.azure.client_for(&ws, &permit).await?;
        let name = id.rsplit('/').next().unwrap_or_default();
        for group in groups {
            azure
                .ensure_private_endpoint_absent(&apply::endpoint_id(&id, name, &group))
                .await?;
        }
        for resource in diagnostics_on {
            azure.ensure_diagnostic_setting_absent(&resource).await?;
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            pipeline::publish(
                &ctx,
                &store.object_ref(&()),
                EventType::Normal,
                "CleanedUp",
                "Delete",
                "removed the private endpoint and diagnostic setting the operator created".into(),
            )
            .await;
            Ok(Action::await_change())
        }
        Err(f) => {
            pipeline::publish(
                &ctx,
                &store.object_ref(&()),
                EventType::Warning,
                "CleanupFailed",
                "Delete",
                f.message.clone(),
            )
            .await;
            Err(ReconcileError::Finalizer(f.message))
        }
    }
}
