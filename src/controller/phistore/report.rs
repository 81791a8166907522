//! The end of a store's pass: status from the findings (server-side apply, only when it
//! changed), events on transitions and failed remediations, the drift baseline a settled pass
//! leaves, and the requeue.

use std::time::Duration;

use kube::Resource;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use super::{MANAGER, ReconcileError, resume};
use crate::api::common::Mode;
use crate::api::common::condition::Failed;
use crate::api::phistore::{DriftBaseline, PhiStore, PhiStoreStatus, PlannedChange};
use crate::controller::context::Context;
use crate::controller::pipeline::{self, Failure, Pass, Report};
use crate::controller::report::Outcome;
use crate::controller::review;
use crate::controls::Finding;

/// What a pass saw of the resource (its envelope's fingerprint) and of the workspace, and
/// [`resume::inputs_of`] as the pass leaves them (with a review cycle it opened).
pub struct Seen {
    pub print: u64,
    pub workspace_generation: Option<i64>,
    pub inputs: u64,
}

/// What the pass's writes came to: the controls they remediated, whether Azure was written at
/// all (read back soon), and the error that stopped them.
pub struct Written {
    pub remediated: Vec<&'static str>,
    /// Controls whose fix Azure is still working on (`running`).
    pub remediating: Vec<&'static str>,
    pub wrote_azure: bool,
    pub running: Option<crate::azure::lro::RunningOperation>,
    pub error: Option<(String, Failure)>,
}

/// The end of every evaluated pass, whatever the kind: the report, the status write, events
/// for a failed remediation, and the requeue (soon after a remediation, to read it back). A pass
/// that settled leaves `print` (its resource's envelope) as the baseline of batched drift
/// detection, and comes back at the full-check interval instead of the drift interval.
#[allow(clippy::too_many_arguments)]
pub async fn conclude(
    store: &PhiStore,
    ctx: &Context,
    mode: Mode,
    pass: Pass,
    findings: Vec<Finding>,
    written: Written,
    access: review::AccessOutcome,
    seen: Seen,
    planned: Vec<PlannedChange>,
) -> Result<Action, Failure> {
    // The same conflicts the plan left alone.
    let conflict = pass.conflicts(&findings);
    let recheck = Finding::recheck_in(&findings, k8s_openapi::jiff::Timestamp::now());
    let Written {
        remediated,
        remediating,
        wrote_azure,
        running,
        error: apply_error,
    } = written;
    let apply_wait = apply_error
        .as_ref()
        .map(|(_, f)| f.wait())
        .unwrap_or_default();
    let outcome = match &apply_error {
        Some((text, failure)) => Outcome::Failed {
            reason: failure.reason.as_str().to_string(),
            message: format!("remediation failed: {text}"),
        },
        None => Outcome::Evaluated {
            remediating: remediating.iter().map(|r| r.to_string()).collect(),
            conflict,
        },
    };
    let report = pass.report(findings, &remediated, outcome, vec![access.condition]);
    let settles = apply_error.is_none()
        && remediated.is_empty()
        && !wrote_azure
        && ctx.drift.batched(pass.interval);
    let baseline = seen
        .workspace_generation
        .filter(|_| settles)
        .map(|g| DriftBaseline {
            fingerprint: format!("{:016x}", seen.print),
            workspace_generation: g,
            inputs: Some(format!("{:016x}", seen.inputs)),
        });
    let status = PhiStoreStatus {
        observed_generation: report.observed_generation,
        mode: Some(mode),
        compliance: report.compliance.clone(),
        conditions: report.conditions.clone(),
        controls: report.controls.clone(),
        drift_baseline: baseline,
        review_cycles: access.cycle_refs.clone(),
        planned_changes: planned,
        operations: running
            .iter()
            .map(|r| operation_status(r, &remediating))
            .collect(),
    };
    let written = write_status(store, ctx, &pass.previous, &report, status).await?;
    if let Some(running) = &running {
        // Azure works on it; the pass comes back when Azure said to look again.
        ctx.drift.forget(&ObjectRef::from_obj(store));
        return Ok(Action::requeue(running.next_poll()));
    }
    let me = ObjectRef::from_obj(store);
    if apply_error.is_some() || !remediated.is_empty() || wrote_azure {
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
        ctx.drift.hold(
            me,
            resume::specs_read(store, seen.workspace_generation, ctx),
            wait,
        );
        return Ok(Action::requeue(wait));
    }
    if !remediated.is_empty() || wrote_azure {
        // Read back soon so the status shows what Azure now reports.
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    // The review cycles change by the clock too (the latest falls overdue, or the next opens),
    // and so may a finding (a role assignment taking effect).
    let clock = |next: Duration| {
        [access.changes_in, recheck]
            .into_iter()
            .flatten()
            .fold(next, Duration::min)
    };
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
    ctx.drift.settled(
        me,
        resume::settled(store, seen.print, seen.inputs, written, next),
    );
    Ok(Action::requeue(next))
}

/// A running operation as the status records it.
pub fn operation_status(
    running: &crate::azure::lro::RunningOperation,
    remediates: &[&str],
) -> crate::api::phistore::RunningOperation {
    crate::api::phistore::RunningOperation {
        operation: running.operation.clone(),
        resource: running.resource.clone(),
        started_at: running.started_at.clone(),
        poll_url: running.poll_url.clone(),
        style: format!("{:?}", running.style),
        remediates: remediates.iter().map(|r| r.to_string()).collect(),
    }
}

/// A running operation the status records, to poll it; `None` when the record does not name
/// a style the operator knows.
pub fn operation_of(
    recorded: &crate::api::phistore::RunningOperation,
) -> Option<crate::azure::lro::RunningOperation> {
    use crate::azure::lro::PollStyle;
    let style = match recorded.style.as_str() {
        "AsyncOperation" => PollStyle::AsyncOperation,
        "Location" => PollStyle::Location,
        "Resource" => PollStyle::Resource,
        _ => return None,
    };
    Some(crate::azure::lro::RunningOperation {
        operation: recorded.operation.clone(),
        resource: recorded.resource.clone(),
        poll_url: recorded.poll_url.clone(),
        style,
        started_at: recorded.started_at.clone(),
        retry_after_secs: None,
    })
}

/// The shared report fields of a store's status.
pub fn report_of(status: Option<&PhiStoreStatus>) -> Report {
    status
        .map(|s| Report {
            observed_generation: s.observed_generation,
            conditions: s.conditions.clone(),
            controls: s.controls.clone(),
            compliance: s.compliance.clone(),
        })
        .unwrap_or_default()
}

/// When someone else wrote part of the store's status: says so (a Warning event naming the
/// field managers) and removes the whole status, so that the status written next is the
/// operator's alone. Returns whether it did.
async fn take_back_status(store: &PhiStore, ctx: &Context) -> Result<bool, kube::Error> {
    let others = pipeline::status_written_by_others(store.meta(), MANAGER);
    if others.is_empty() {
        return Ok(false);
    }
    tracing::warn!(store = %kube::ResourceExt::name_any(store), writers = ?others, "status written by someone else: rewriting it");
    pipeline::publish(
        ctx,
        &store.object_ref(&()),
        EventType::Warning,
        "StatusOverwritten",
        "Evaluate",
        format!(
            "status fields written by {} are not the operator's: the store was evaluated afresh and its status written again",
            others.join(", ")
        ),
    )
    .await;
    pipeline::clear_status(ctx, store, MANAGER).await?;
    Ok(true)
}

/// Writes the store's status when it differs from what is stored (or someone else wrote part
/// of it), with events for the transitions and the control gauges.
async fn write_status(
    store: &PhiStore,
    ctx: &Context,
    previous: &Report,
    report: &Report,
    status: PhiStoreStatus,
) -> Result<u64, Failure> {
    let old = store.status.clone().unwrap_or_default();
    let written = resume::status_print(Some(&status));
    let forged = take_back_status(store, ctx).await.map_err(|e| {
        Failure::new(
            Failed::KubernetesUnavailable,
            format!("writing status: {e}"),
        )
    })?;
    if status == old && !forged {
        return Ok(written);
    }
    pipeline::transition_events(ctx, &store.object_ref(&()), previous, report).await;
    pipeline::patch_status(ctx, store, MANAGER, &status)
        .await
        .map_err(|e| {
            Failure::new(
                Failed::KubernetesUnavailable,
                format!("writing status: {e}"),
            )
        })?;
    Ok(written)
}

/// A reconcile that could not evaluate: `Ready=False` with `why`, the controls kept as they
/// were last seen.
pub async fn fail(
    store: &PhiStore,
    ctx: &Context,
    why: Failed,
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
    // Without its workspace the store's evidence is not verified any more; other failures keep
    // the controls as last seen.
    let report = if why == Failed::WorkspaceNotFound {
        pass.unverified(why, &message)
    } else {
        pass.failed(why, &message)
    };
    let old = store.status.clone().unwrap_or_default();
    let status = PhiStoreStatus {
        observed_generation: report.observed_generation,
        mode: mode.or(old.mode),
        compliance: report.compliance.clone(),
        conditions: report.conditions.clone(),
        controls: report.controls.clone(),
        drift_baseline: None,
        review_cycles: old.review_cycles.clone(),
        planned_changes: old.planned_changes.clone(),
        // A failed pass is not waiting on Azure: an operation that failed is over, and one
        // still running is polled again by the next pass from what it started.
        operations: Vec::new(),
    };
    let forged = take_back_status(store, ctx).await?;
    if status != old || forged {
        pipeline::transition_events(ctx, &store.object_ref(&()), &pass.previous, &report).await;
        pipeline::patch_status(ctx, store, MANAGER, &status).await?;
    }
    ctx.metrics.reconcile_error("phistore", why.as_str());
    Ok(Action::requeue(why.retry().wait()))
}
