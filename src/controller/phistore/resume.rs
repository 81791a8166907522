//! The quick exit of a reconcile: whether a wake-up brings anything a pass would read
//! differently (the store's and workspace's specs, the mode, the review cycles, a forged
//! status), decided from caches before any Azure read, and the baseline a settled pass leaves.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::api::HipaaWorkspace;
use crate::api::common::Mode;
use crate::api::phistore::{CycleRef, DeletionPolicy, PhiStore, PhiStoreStatus};
use crate::controller::context::Context;
use crate::controller::{drift, pipeline, review};

/// What the store cache keeps of each store's status: conditions without their messages and
/// each control's id and state. Its readers are the workspace's roll-up (the `Ready` condition),
/// the `hipaa_controls` gauge (states) and the watches' mappers (the spec); a pass reads the
/// store itself. With a few dozen controls of expected and observed values and citations per
/// store, this is most of the cache.
pub fn slim(store: &mut PhiStore) {
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
/// The grants count too: a grant added or changed (a refusal's fix) releases the hold.
pub fn specs_read(store: &PhiStore, workspace_generation: Option<i64>, ctx: &Context) -> u64 {
    let mut grants: Vec<(String, Option<String>)> = ctx
        .grants
        .state()
        .iter()
        .map(|g| (g.name_any(), g.resource_version()))
        .collect();
    grants.sort();
    crate::fingerprint::stable_hash(&format!(
        "{:?}/{workspace_generation:?}/{grants:?}",
        store.meta().generation
    ))
}

/// The review cycles the store's status records as the operator's.
pub fn cycle_records(store: &PhiStore) -> Vec<CycleRef> {
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
pub fn status_print(status: Option<&PhiStoreStatus>) -> u64 {
    let mut status = status.cloned().unwrap_or_default();
    slim_status(&mut status);
    crate::fingerprint::stable_hash(&serde_json::to_string(&status).unwrap_or_default())
}

/// For a store that settled earlier in this process (and carries no finalizer it should lose):
/// its workspace from the workspace controller's cache and its review cycles, to tell whether
/// this reconcile brings anything new. The cache is as new as the event that woke the store.
pub async fn settled_inputs(
    store: &PhiStore,
    ctx: &Context,
) -> Result<Option<(Arc<HipaaWorkspace>, Vec<crate::api::AccessReview>)>, kube::Error> {
    let drops_finalizer = store.spec.deletion_policy == DeletionPolicy::Retain
        && store.finalizers().iter().any(|f| f == super::FINALIZER);
    if drops_finalizer
        || !ctx.drift.knows(&ObjectRef::from_obj(store))
        || !pipeline::status_written_by_others(store.meta(), super::MANAGER).is_empty()
    {
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
pub fn inputs_of(store: &PhiStore, ws: &HipaaWorkspace, mode: Mode, cycles: u64) -> u64 {
    let text = json!([
        store.meta().generation,
        store.annotations().get(review::REQUEST_ANNOTATION),
        workspace_inputs(ws),
        mode,
        format!("{cycles:016x}"),
    ]);
    crate::fingerprint::stable_hash(&text.to_string())
}

/// What a store's pass reads of its workspace: the spec (its generation) and the states of
/// the workspace's Key Vault controls.
pub fn workspace_inputs(ws: &HipaaWorkspace) -> serde_json::Value {
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
pub fn quiet(
    store: &PhiStore,
    ctx: &Context,
    workspace: &HipaaWorkspace,
    reviews: &[crate::api::AccessReview],
    mode: Mode,
    interval: Duration,
    inputs: u64,
) -> Option<Action> {
    let me = ObjectRef::from_obj(store);
    // A status someone else wrote is neither a quiet exit nor a baseline to resume from.
    if !ctx.drift.batched(interval)
        || !pipeline::status_written_by_others(store.meta(), super::MANAGER).is_empty()
    {
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

/// The baseline a settled store leaves, its next full pass `next` from now.
pub fn settled(
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
