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
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::Api;
use kube::runtime::controller::{self, Action};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::context::Context;
use super::execute::Executor;
use super::intent::{self, EndpointPlacement, Intent, WritePlan};
use super::pipeline::{self, Failure, Pass, Report};
use super::report::{self, Outcome};
use super::{grants, trust};
use crate::api::common::Mode;
use crate::api::common::condition::{Failed, POLICY_ASSIGNED, READY, reason};
use crate::api::workspace::{HipaaWorkspaceStatus, PolicySummary, StoreCounts};
use crate::api::{AzureScopeGrant, HipaaWorkspace, PhiStore, duration};
use crate::azure::resources::{self, ArmResource, GET_LOG_ANALYTICS, GET_SUBNET, GET_VAULT};
use crate::azure::{AzureClient, AzureError};
use crate::controls::workspace::{
    self as controls, ArchiveExpectations, GET_CONTAINER, GET_IMMUTABILITY, GET_TABLE, Reaching,
    WorkspaceExpectations, WorkspaceObservation,
};

/// The field manager of the status this controller writes.
pub const MANAGER: &str = "hipaa-operator-workspace";
/// Stores named in `status.stores.notReady`, at most.
const NOT_READY_LISTED: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("the reconcile panicked (a bug; the log has the details); retrying")]
    Panicked,
}

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
    ctx.metrics.reconcile_error("workspace", "kubernetes");
    Action::requeue(Duration::from_secs(30))
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

/// The roll-up of the workspace's stores, from the PhiStore controller's cache (or a list
/// when that cache is not running).
async fn store_counts(ctx: &Context, ws: &HipaaWorkspace) -> Result<StoreCounts, kube::Error> {
    let namespace = ws.namespace().unwrap_or_default();
    let name = ws.name_any();
    let stores: Vec<Arc<PhiStore>> = match ctx.stores.get() {
        Some(cache) => cache
            .state()
            .into_iter()
            .filter(|s| s.namespace().as_deref() == Some(&namespace))
            .filter(|s| s.spec.workspace_ref.name == name)
            .collect(),
        None => {
            let api: Api<PhiStore> = Api::namespaced(ctx.kube.clone(), &namespace);
            api.list(&Default::default())
                .await?
                .items
                .into_iter()
                .filter(|s| s.spec.workspace_ref.name == name)
                .map(Arc::new)
                .collect()
        }
    };
    Ok(count(&stores))
}

/// Counts stores by their `Ready` condition: ready, drifted (drift, remediation or conflict),
/// erroring (could not be evaluated); stores not yet evaluated are only in the total.
pub fn count(stores: &[Arc<PhiStore>]) -> StoreCounts {
    let mut counts = StoreCounts::default();
    let mut not_ready: Vec<String> = Vec::new();
    for store in stores {
        counts.total += 1;
        let ready = store.status.as_ref().and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == READY)
                .map(|c| (c.status.clone(), c.reason.clone()))
        });
        match ready {
            Some((status, _)) if status == "True" => counts.ready += 1,
            Some((_, why)) => {
                if [reason::DRIFTED, reason::REMEDIATING, reason::CONFLICT].contains(&why.as_str())
                {
                    counts.drifted += 1;
                } else {
                    counts.erroring += 1;
                }
                not_ready.push(format!("{} ({why})", store.name_any()));
            }
            None => not_ready.push(format!("{} (NotEvaluated)", store.name_any())),
        }
    }
    not_ready.sort();
    if not_ready.len() > NOT_READY_LISTED {
        let more = not_ready.len() - NOT_READY_LISTED;
        not_ready.truncate(NOT_READY_LISTED);
        not_ready.push(format!("and {more} more"));
    }
    counts.summary = format!("{}/{}", counts.ready, counts.total);
    counts.not_ready = not_ready;
    counts
}

/// A store-triggered wake-up: only the counts can have changed.
async fn recount(
    ws: &HipaaWorkspace,
    ctx: &Context,
    counts: StoreCounts,
) -> Result<(), ReconcileError> {
    if ws.status.as_ref().and_then(|s| s.stores.as_ref()) == Some(&counts) {
        return Ok(());
    }
    // Only the counts: the rest of the status in this (cached) object may be older than what
    // the last evaluation wrote, and must not be written back.
    let api: Api<HipaaWorkspace> =
        Api::namespaced(ctx.kube.clone(), &ws.namespace().unwrap_or_default());
    api.patch_status(
        &ws.name_any(),
        &kube::api::PatchParams {
            field_manager: Some(MANAGER.to_string()),
            ..Default::default()
        },
        &kube::api::Patch::Merge(serde_json::json!({ "status": { "stores": counts } })),
    )
    .await?;
    Ok(())
}

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
    }
}

/// A full pass: observe Azure, evaluate, remediate in Enforce mode, keep the policy
/// assignment, report.
async fn evaluate(
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
    recheck: Option<Duration>,
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

fn not_found(what: &str, id: &str, field: &str) -> Failure {
    Failure::new(
        Failed::ResourceNotFound,
        format!(
            "{what} {id} does not exist, or the operator's identity cannot see it: fix {field}"
        ),
    )
}

async fn must_exist(
    azure: &AzureClient,
    op: &crate::azure::types::ArmOp,
    id: &str,
    what: &str,
    field: &str,
) -> Result<ArmResource, Failure> {
    azure
        .get_resource(op, id)
        .await?
        .ok_or_else(|| not_found(what, id, field))
}

/// Regions compare without case and spaces (`East US 2` is `eastus2`).
fn region(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

async fn observe(
    ws: &HipaaWorkspace,
    azure: &AzureClient,
    expect: &WorkspaceExpectations,
    role_settle: std::time::Duration,
) -> Result<(WorkspaceObservation, String), Failure> {
    let spec = &ws.spec;
    let vault = must_exist(
        azure,
        &GET_VAULT,
        &expect.vault_id,
        "Key Vault",
        "spec.keyVault.resourceId",
    )
    .await?;
    let law = must_exist(
        azure,
        &GET_LOG_ANALYTICS,
        &expect.log_analytics_id,
        "Log Analytics workspace",
        "spec.logAnalytics.resourceId",
    )
    .await?;
    let mut placed = vec![
        (
            "Key Vault",
            "spec.keyVault.resourceId",
            vault.location.clone(),
        ),
        (
            "Log Analytics workspace",
            "spec.logAnalytics.resourceId",
            law.location.clone(),
        ),
    ];
    if let Some(networking) = &spec.private_networking {
        must_exist(
            azure,
            &GET_SUBNET,
            &networking.subnet_id,
            "subnet",
            "spec.privateNetworking.subnetId",
        )
        .await?;
        let vnet_id = networking
            .subnet_id
            .split("/subnets/")
            .next()
            .unwrap_or_default()
            .to_string();
        let vnet = must_exist(
            azure,
            &resources::GET_VNET,
            &vnet_id,
            "virtual network",
            "spec.privateNetworking.subnetId",
        )
        .await?;
        placed.push((
            "subnet's virtual network",
            "spec.privateNetworking.subnetId",
            vnet.location,
        ));
    }
    if let Some(want) = &spec.location {
        for (what, field, found) in &placed {
            if let Some(found) = found
                && region(found) != region(want)
            {
                return Err(Failure::new(
                    Failed::InvalidSpec,
                    format!(
                        "the {what} is in {found} but the workspace's spec.location is {want}: private endpoints, keys and logs of PHI stay in the workspace's region; fix {field} or spec.location"
                    ),
                ));
            }
        }
    }
    let location = spec
        .location
        .clone()
        .or(vault.location.clone())
        .unwrap_or_default();
    let settings = |id: String| async move {
        match azure.list_diagnostic_settings(&id).await {
            Ok(s) => Ok(s),
            Err(AzureError::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(Failure::from(e)),
        }
    };
    let vault_diagnostics = settings(expect.vault_id.clone()).await?;
    let vault_endpoints =
        super::observe::endpoints(azure, &json!({ "properties": vault.properties })).await?;
    let vault_role_holders =
        if crate::controls::keyvault::VaultObservation::needs_role_holders(&expect.vault(), &vault)
        {
            Some(super::observe::role_holders(azure, &expect.vault_id, role_settle).await?)
        } else {
            None
        };
    let log_analytics_diagnostics = settings(expect.log_analytics_id.clone()).await?;
    let mut tables = std::collections::BTreeMap::new();
    for table in &expect.audit_tables {
        let id = format!("{}/tables/{table}", expect.log_analytics_id);
        tables.insert(table.clone(), azure.get_resource(&GET_TABLE, &id).await?);
    }
    let log_analytics_access = reaching(azure, &expect.log_analytics_id).await;
    let (archive_container, archive_policy) = match &expect.archive {
        None => (None, None),
        Some(archive) => {
            azure
                .get_storage_account(&archive.account_id)
                .await
                .map_err(|e| match e {
                    AzureError::NotFound { .. } => not_found(
                        "audit archive storage account",
                        &archive.account_id,
                        "spec.auditArchive.storageAccountId",
                    ),
                    e => e.into(),
                })?;
            let container = azure
                .get_resource(&GET_CONTAINER, &archive.container_id())
                .await?;
            let policy = match container {
                Some(_) => azure
                    .get_resource(&GET_IMMUTABILITY, &archive.policy_id())
                    .await?
                    // An unset policy reads back as an empty one with no period.
                    .filter(|p| {
                        p.properties
                            .get("immutabilityPeriodSinceCreationInDays")
                            .is_some()
                    }),
                None => None,
            };
            (container, policy)
        }
    };
    Ok((
        WorkspaceObservation {
            vault,
            vault_diagnostics,
            vault_endpoints,
            vault_role_holders,
            log_analytics: law,
            log_analytics_diagnostics,
            tables,
            log_analytics_access,
            archive_container,
            archive_policy,
        },
        location,
    ))
}

/// The role assignments that reach `scope` (at it and inherited), with their roles.
async fn reaching(azure: &AzureClient, scope: &str) -> Result<Vec<Reaching>, String> {
    Ok(azure
        .role_assignments_reaching(scope)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(a, role)| Reaching {
            principal_id: a.properties.principal_id,
            scope: a.properties.scope.unwrap_or_default(),
            role,
        })
        .collect())
}

/// The HIPAA HITRUST initiative's assignment as read: where it should be and whether it is
/// there, pointing at the initiative and enforced.
struct Assignment {
    scope: String,
    name: String,
    id: String,
    found: Option<ArmResource>,
    assigned: bool,
}

/// Reads the assignment the spec asks for; `None` when the spec asks for none.
async fn read_policy(
    ws: &HipaaWorkspace,
    azure: &AzureClient,
) -> Result<Option<Assignment>, AzureError> {
    let Some(initiative) = ws.spec.policy_initiative.as_ref().filter(|p| p.enabled) else {
        return Ok(None);
    };
    let scope = format!(
        "/subscriptions/{}/resourceGroups/{}",
        ws.spec.subscription_id, ws.spec.resource_group
    );
    let id = format!(
        "{scope}/providers/Microsoft.Authorization/policyAssignments/{}",
        initiative.assignment_name
    );
    let found = azure
        .get_resource(&resources::GET_POLICY_ASSIGNMENT, &id)
        .await?;
    let definition = found
        .as_ref()
        .and_then(|f| f.properties.get("policyDefinitionId"))
        .and_then(|d| d.as_str());
    let enforced = found
        .as_ref()
        .and_then(|f| f.properties.get("enforcementMode"))
        .and_then(|m| m.as_str())
        .is_none_or(|m| m.eq_ignore_ascii_case("Default"));
    let assigned = definition
        .is_some_and(|d| d.eq_ignore_ascii_case(resources::HIPAA_HITRUST_INITIATIVE))
        && enforced;
    Ok(Some(Assignment {
        scope,
        name: initiative.assignment_name.clone(),
        id,
        found,
        assigned,
    }))
}

/// The `PolicyAssigned` condition and Azure Policy's summary, once the assignment is there
/// (`fixed`: the executor just restored it).
async fn policy_report(
    a: &Assignment,
    fixed: bool,
    azure: &AzureClient,
    pass: &Pass,
) -> Result<(Option<PolicySummary>, Condition), AzureError> {
    let (scope, name) = (&a.scope, &a.name);
    let condition = if a.assigned || fixed {
        report::condition(
            &pass.previous.conditions,
            POLICY_ASSIGNED,
            true,
            "Assigned",
            format!("the HIPAA HITRUST initiative is assigned at {scope} as {name}"),
            pass.generation,
            &pass.now,
        )
    } else {
        let definition = a
            .found
            .as_ref()
            .and_then(|f| f.properties.get("policyDefinitionId"))
            .and_then(|d| d.as_str());
        let observed = match (&a.found, definition) {
            (None, _) => format!("no assignment {name} at {scope}"),
            (Some(_), Some(d)) if !d.eq_ignore_ascii_case(resources::HIPAA_HITRUST_INITIATIVE) => {
                format!("{name} assigns {d}, not the HIPAA HITRUST initiative")
            }
            _ => format!("{name} is not enforced (enforcementMode DoNotEnforce)"),
        };
        report::condition(
            &pass.previous.conditions,
            POLICY_ASSIGNED,
            false,
            reason::DRIFTED,
            format!(
                "{observed}; the spec asks for the HIPAA HITRUST initiative (Enforce mode assigns it)"
            ),
            pass.generation,
            &pass.now,
        )
    };
    let summary = if a.assigned || fixed {
        let counts = azure.policy_summary(scope, &a.id).await?;
        Some(PolicySummary {
            assignment_id: a.id.clone(),
            non_compliant_resources: counts.map(|c| c.0),
            non_compliant_policies: counts.map(|c| c.1),
        })
    } else {
        None
    };
    Ok((summary, condition))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str, ready: Option<(&str, &str)>) -> Arc<PhiStore> {
        let mut v = json!({
            "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "PhiStore",
            "metadata": {"name": name, "namespace": "n"},
            "spec": {"workspaceRef": {"name": "w"}, "resource": {"kind": "StorageAccount",
                "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a"}}
        });
        if let Some((status, why)) = ready {
            v["status"] = json!({"conditions": [{"type": "Ready", "status": status, "reason": why,
                "message": "", "lastTransitionTime": "2026-11-22T08:00:00Z"}]});
        }
        Arc::new(serde_json::from_value(v).expect("store"))
    }

    #[test]
    fn stores_are_counted_by_their_ready_condition() {
        let counts = count(&[
            store("a", Some(("True", "Compliant"))),
            store("b", Some(("False", "Drifted"))),
            store("c", Some(("False", "Conflict"))),
            store("d", Some(("False", "Forbidden"))),
            store("e", None),
        ]);
        assert_eq!(
            (counts.total, counts.ready, counts.drifted, counts.erroring),
            (5, 1, 2, 1)
        );
        assert_eq!(counts.summary, "1/5");
        assert_eq!(
            counts.not_ready,
            vec![
                "b (Drifted)",
                "c (Conflict)",
                "d (Forbidden)",
                "e (NotEvaluated)"
            ]
        );
    }

    #[test]
    fn long_not_ready_lists_are_cut() {
        let stores: Vec<_> = (0..30)
            .map(|i| store(&format!("s{i:02}"), Some(("False", "Drifted"))))
            .collect();
        let counts = count(&stores);
        assert_eq!(counts.not_ready.len(), NOT_READY_LISTED + 1);
        assert_eq!(
            counts.not_ready.last().map(String::as_str),
            Some("and 10 more")
        );
    }

    #[test]
    fn regions_compare_without_case_or_spaces() {
        assert_eq!(region("East US 2"), region("eastus2"));
        assert_ne!(region("westus"), region("eastus2"));
    }
}
