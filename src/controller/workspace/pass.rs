//! One evaluation pass of a workspace: its expectations, observe → evaluate → plan → apply of
//! its safeguards and policy assignment, and the status write.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::observe::observe;
use super::policy::{policy_report, read_policy};
use super::{MANAGER, ReconcileError};
use crate::api::HipaaWorkspace;
use crate::api::common::Mode;
use crate::api::common::condition::{POLICY_ASSIGNED, READY, reason};
use crate::api::workspace::{HipaaWorkspaceStatus, PolicySummary, StoreCounts};
use crate::azure::AzureError;
use crate::controller::context::Context;
use crate::controller::execute::Executor;
use crate::controller::intent::{self, EndpointPlacement, Intent, WritePlan};
use crate::controller::pipeline::{self, Failure, Pass, Report};
use crate::controller::report::{self, Outcome};
use crate::controller::{grants, trust};
use crate::controls::workspace::{self as controls, ArchiveExpectations, WorkspaceExpectations};

fn report_of(status: Option<&HipaaWorkspaceStatus>) -> Report {
    status
        .map(|s| Report {
            observed_generation: s.observed_generation,
            conditions: s.conditions.clone(),
            controls: s.controls.clone(),
            compliance: s.compliance.clone(),
        })
        .unwrap_or_default()
}

/// What the workspace's safeguards should be. Locking the archive's immutability policy is
/// irreversible: it is expected only when the spec asks and a grant allows irreversible changes.
fn expectations(
    ws: &HipaaWorkspace,
    permit: &trust::Permit,
    cloud: &crate::azure::cloud::Cloud,
) -> WorkspaceExpectations {
    let spec = &ws.spec;
    WorkspaceExpectations {
        vault_id: spec.key_vault.resource_id.clone(),
        log_analytics_id: spec.log_analytics.resource_id.clone(),
        private_networking: spec.private_networking.is_some(),
        vault_endpoint_dns: intent::endpoint_dns(ws, cloud, &["vault".to_string()]),
        migrate_access_policies: spec.key_vault.migrate_access_policies,
        retention_in_days: i64::from(spec.log_analytics.retention_in_days),
        total_retention_in_days: i64::from(spec.log_analytics.total_retention_in_days),
        audit_tables: if spec.log_analytics.audit_tables.is_empty() {
            controls::DEFAULT_AUDIT_TABLES
                .iter()
                .map(|t| t.to_string())
                .collect()
        } else {
            spec.log_analytics.audit_tables.clone()
        },
        break_glass: spec
            .access_review
            .as_ref()
            .map(|a| a.break_glass_principal_ids.clone())
            .unwrap_or_default(),
        archive: spec.audit_archive.as_ref().map(|a| ArchiveExpectations {
            account_id: a.storage_account_id.clone(),
            container: a.container.clone(),
            retention_days: i64::from(a.retention_days),
            lock: a.lock && permit.allow_irreversible,
            lock_not_granted: a.lock && !permit.allow_irreversible,
        }),
        vault_defender: crate::controls::defender::DefenderExpectations::of(
            "kv.defender",
            &spec.key_vault.resource_id,
            |id| crate::azure::id::ArmId::parse(id).is_ok_and(|id| permit.covers(&id)),
        ),
    }
}

/// A full pass: observe Azure, evaluate, remediate in Enforce mode, keep the policy
/// assignment, report.
pub(super) async fn evaluate(
    ws: &HipaaWorkspace,
    ctx: &Context,
    interval: Duration,
    counts: StoreCounts,
) -> Result<Duration, ReconcileError> {
    // A status someone else wrote is not evidence: nothing of it is carried.
    let forged = pipeline::status_written_by_others(ws.meta(), MANAGER);
    let previous = if forged.is_empty() {
        report_of(ws.status.as_ref())
    } else {
        Report::default()
    };
    let pass = Pass::new(previous, ws.meta().generation, interval, &[])
        .checked_every(ctx.drift.full_check().max(Duration::from_secs(3600)));
    let old = ws.status.clone().unwrap_or_default();
    match safeguards(ws, ctx, &pass).await {
        Ok(done) => {
            let status = HipaaWorkspaceStatus {
                observed_generation: done.report.observed_generation,
                conditions: done.report.conditions.clone(),
                controls: done.report.controls.clone(),
                compliance: done.report.compliance.clone(),
                stores: Some(counts),
                policy: done.policy.clone(),
                planned_changes: done.planned.clone(),
            };
            write(ws, ctx, &pass.previous, &done.report, &old, &status).await?;
            for (reason, note) in done.events {
                pipeline::publish(
                    ctx,
                    &ws.object_ref(&()),
                    reason.0,
                    reason.1,
                    "Remediate",
                    note,
                )
                .await;
            }
            Ok(if done.remediated {
                Duration::from_secs(5)
            } else {
                done.recheck
                    .map_or(pass.next_check(&[]), |r| r.min(pass.next_check(&[])))
            })
        }
        Err(failure) => {
            let report = pass.failed(failure.reason, &failure.message);
            let status = HipaaWorkspaceStatus {
                observed_generation: report.observed_generation,
                conditions: report.conditions.clone(),
                controls: report.controls.clone(),
                compliance: report.compliance.clone(),
                stores: Some(counts),
                policy: old.policy.clone(),
                planned_changes: old.planned_changes.clone(),
            };
            write(ws, ctx, &pass.previous, &report, &old, &status).await?;
            ctx.metrics
                .reconcile_error("workspace", failure.reason.as_str());
            Ok(failure.wait())
        }
    }
}

async fn write(
    ws: &HipaaWorkspace,
    ctx: &Context,
    previous: &Report,
    report: &Report,
    old: &HipaaWorkspaceStatus,
    status: &HipaaWorkspaceStatus,
) -> Result<(), ReconcileError> {
    let others = pipeline::status_written_by_others(ws.meta(), MANAGER);
    if status == old && others.is_empty() {
        return Ok(());
    }
    if !others.is_empty() {
        tracing::warn!(workspace = %ws.name_any(), writers = ?others, "status written by someone else: rewriting it");
        pipeline::publish(
            ctx,
            &ws.object_ref(&()),
            EventType::Warning,
            "StatusOverwritten",
            "Evaluate",
            format!(
                "status fields written by {} are not the operator's: the workspace was evaluated afresh and its status written again",
                others.join(", ")
            ),
        )
        .await;
        pipeline::clear_status(ctx, ws, MANAGER).await?;
    }
    if tracing::enabled!(tracing::Level::DEBUG) {
        let (was, now) = (
            serde_json::to_value(old).unwrap_or_default(),
            serde_json::to_value(status).unwrap_or_default(),
        );
        let changed: Vec<&String> = now
            .as_object()
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(k, v)| was.get(k.as_str()) != Some(v))
            .map(|(k, _)| k)
            .collect();
        tracing::debug!(workspace = %ws.name_any(), ?changed, "writing workspace status");
    }
    pipeline::transition_events(ctx, &ws.object_ref(&()), previous, report).await;
    pipeline::patch_status(ctx, ws, MANAGER, status).await?;
    Ok(())
}

/// What an evaluated pass produced.
struct Done {
    report: Report,
    policy: Option<PolicySummary>,
    /// `status.plannedChanges`.
    planned: Vec<crate::api::phistore::PlannedChange>,
    remediated: bool,
    /// A finding changes by the clock (a role assignment taking effect): evaluate again then.
    pub(super) recheck: Option<Duration>,
    events: Vec<((EventType, &'static str), String)>,
}

async fn safeguards(ws: &HipaaWorkspace, ctx: &Context, pass: &Pass) -> Result<Done, Failure> {
    // No grant, no Azure request: the permit comes before the client.
    let permit = grants::permit_of(ctx, ws)
        .await
        .map_err(|r| Failure::new(r.reason, r.message))?;
    let azure = ctx.azure.client_for(ws, &permit).await?;
    let expect = expectations(ws, &permit, ctx.azure_cloud());
    let (obs, location) = observe(ws, &azure, &expect, ctx.role_settle).await?;
    let findings = controls::evaluate(&expect, &obs);
    let recheck =
        crate::controls::Finding::recheck_in(&findings, k8s_openapi::jiff::Timestamp::now());
    let conflict = pass.conflicts(&findings);
    let mode = permit.mode(ws.spec.mode);
    let assignment = read_policy(ws, &azure).await?;
    // The plan: the vault's remediations and the initiative's assignment, in Enforce only.
    let mut plan = WritePlan::default();
    let mut unplannable = None;
    if mode == Mode::Enforce {
        let fixes = controls::plan(
            &expect,
            &obs,
            &permit.allowed(pass.to_fix(&findings, &conflict)),
        );
        let placement = EndpointPlacement {
            ws,
            zones: &ctx.azure_cloud().private_dns,
        };
        match intent::of_arm_plan(&fixes, ws, &placement, &expect.vault_id, &location) {
            Ok(p) => plan.extend(p),
            Err(why) => unplannable = Some(AzureError::Configuration(why)),
        }
        if let Some(a) = &assignment
            && !a.assigned
        {
            plan.intents.push(Intent::AssignPolicy {
                scope: a.scope.clone(),
                name: a.name.clone(),
                location: location.clone(),
            });
        }
    }
    // What is not made now, planned all the same for the status: everything in Audit, what the
    // grants hold back in Enforce.
    let planned = {
        let wanted = pass.to_fix(&findings, &conflict);
        let enforcing = mode == Mode::Enforce;
        let held: Vec<_> = if enforcing {
            let allowed = permit.allowed(wanted.clone());
            wanted
                .into_iter()
                .filter(|f| !allowed.iter().any(|a| a.id() == f.id()))
                .collect()
        } else {
            wanted
        };
        let placement = EndpointPlacement {
            ws,
            zones: &ctx.azure_cloud().private_dns,
        };
        let fixes = controls::plan(&expect, &obs, &held);
        let mut held_plan =
            intent::of_arm_plan(&fixes, ws, &placement, &expect.vault_id, &location)
                .unwrap_or_default();
        if !enforcing && let Some(a) = assignment.as_ref().filter(|a| !a.assigned) {
            held_plan.intents.push(Intent::AssignPolicy {
                scope: a.scope.clone(),
                name: a.name.clone(),
                location: location.clone(),
            });
        }
        let observed = |id: &str| {
            [
                Some(&obs.vault),
                Some(&obs.log_analytics),
                obs.archive_container.as_ref(),
                obs.archive_policy.as_ref(),
            ]
            .into_iter()
            .flatten()
            .chain(obs.tables.values().flatten())
            .find(|r| r.id.eq_ignore_ascii_case(id))
            .and_then(|r| serde_json::to_value(r).ok())
        };
        crate::controller::preview::rows(
            &held_plan,
            &crate::controller::preview::held_reason(&permit, enforcing),
            &observed,
        )
    };
    let executed = Executor::new(Some(&azure), &ctx.kube, &permit, mode)
        .run(&plan)
        .await;
    let mut apply_error: Option<(String, Failure)> = match (executed.error, unplannable) {
        (Some(e), _) => Some((e.to_string(), e.into())),
        (None, Some(e)) => Some((e.to_string(), e.into())),
        (None, None) => None,
    };
    // A write Azure is still working on is not remediated yet: the next pass (soon) finds it
    // still running through the resource's own state, or done.
    let running = executed.running.is_some();
    let remediated: Vec<&'static str> = if apply_error.is_none() && executed.wrote_azure && !running
    {
        plan.remediates.clone()
    } else {
        vec![]
    };
    let policy_fixed = apply_error.is_none()
        && plan
            .intents
            .iter()
            .any(|i| matches!(i, Intent::AssignPolicy { .. }));
    let mut events = Vec::new();
    let (policy, policy_condition) = match &assignment {
        None => (None, None),
        Some(a) => match policy_report(a, policy_fixed, &azure, pass).await {
            Ok((summary, condition)) => (summary, Some(condition)),
            Err(e) => {
                if apply_error.is_none() {
                    apply_error = Some((e.to_string(), e.into()));
                }
                (None, None)
            }
        },
    };
    if policy_fixed {
        events.push((
            (EventType::Normal, "Remediated"),
            "HIPAA HITRUST initiative assignment restored".to_string(),
        ));
    }
    if let Some((text, _)) = &apply_error {
        events.push(((EventType::Warning, "RemediationFailed"), text.clone()));
    }
    let outcome = match apply_error {
        Some((text, failure)) => Outcome::Failed {
            reason: failure.reason.as_str().to_string(),
            message: format!("remediation failed: {text}"),
        },
        None => Outcome::Evaluated {
            remediating: if running {
                plan.remediates.iter().map(|r| r.to_string()).collect()
            } else {
                vec![]
            },
            conflict,
        },
    };
    let extra: Vec<Condition> = policy_condition.into_iter().collect();
    let mut report = pass.report(findings, &remediated, outcome, extra);
    // An unassigned initiative is drift of the workspace even when every control passes.
    let policy_false = report
        .conditions
        .iter()
        .any(|c| c.type_ == POLICY_ASSIGNED && c.status == "False");
    if policy_false {
        let ready = report
            .conditions
            .iter_mut()
            .find(|c| c.type_ == READY && c.status == "True");
        if let Some(ready) = ready {
            *ready = report::condition(
                &pass.previous.conditions,
                READY,
                false,
                reason::DRIFTED,
                "the HIPAA HITRUST policy initiative is not assigned as the spec asks".into(),
                pass.generation,
                &pass.now,
            );
        }
    }
    Ok(Done {
        report,
        policy,
        planned,
        remediated: !remediated.is_empty() || policy_fixed || running || executed.wrote_azure,
        recheck,
        events,
    })
}
