//! The workspace plan: the vault's writes, the Log Analytics PATCH and table PUTs, and the
//! archive container with its immutability policy (and lock).

use serde_json::{Value, json};

use super::model::{WorkspaceExpectations, WorkspaceObservation, text};
use super::{LOCK_IMMUTABILITY, PATCH_LOG_ANALYTICS, PUT_CONTAINER, PUT_IMMUTABILITY, PUT_TABLE};
use crate::azure::locks::{PUT_LOCK, operator_lock_id};
use crate::controls::finding::Finding;
use crate::controls::plan::{ArmWrite, Plan, at};
use crate::controls::setting;

/// The fewest writes that fix the drifted, automatically remediable findings in `to_fix`.
pub fn plan(
    expect: &WorkspaceExpectations,
    obs: &WorkspaceObservation,
    to_fix: &[&Finding],
) -> Plan {
    let mut plan = Plan::default();
    let drifted = |id: &str| crate::controls::plan::remediable(to_fix, id);
    crate::controls::keyvault::plan(&expect.vault(), &obs.vault_observation(), to_fix, &mut plan);
    if let Some(e) = &expect.vault_defender
        && let Some(write) = crate::controls::defender::plan(e, to_fix)
    {
        plan.writes.push(write);
        plan.remediates(e.control);
    }

    // Log Analytics: one PATCH of the workspace, one PUT per short table.
    let law = json!({ "properties": obs.log_analytics.properties });
    let (writes, fixes) = setting::fixes(super::LOG_ANALYTICS_SETTINGS, to_fix, |_| true);
    let mut workspace = setting::properties(&writes, &law);
    fixes.into_iter().for_each(|id| plan.remediates(id));
    if drifted("law.retention-6y") {
        let retention = at(&law, "properties.retentionInDays")
            .and_then(Value::as_i64)
            .unwrap_or(30);
        if retention < expect.retention_in_days {
            workspace.insert("retentionInDays".into(), json!(expect.retention_in_days));
        }
        for table in &expect.audit_tables {
            let total =
                obs.tables.get(table).cloned().flatten().and_then(|t| {
                    at(&t.properties, "totalRetentionInDays").and_then(Value::as_i64)
                });
            if total.is_none_or(|t| t < expect.total_retention()) {
                plan.writes.push(ArmWrite::Put {
                    op: PUT_TABLE,
                    id: format!("{}/tables/{table}", expect.log_analytics_id),
                    body: json!({"properties": {"totalRetentionInDays": expect.total_retention()}}),
                });
            }
        }
        plan.remediates("law.retention-6y");
    }
    if drifted("law.public-network-disabled") {
        workspace.insert("publicNetworkAccessForIngestion".into(), json!("Disabled"));
        workspace.insert("publicNetworkAccessForQuery".into(), json!("Disabled"));
        plan.remediates("law.public-network-disabled");
    }
    if !workspace.is_empty() {
        // The workspace PATCH goes first: table retention is bounded by the workspace's.
        plan.writes.insert(
            plan.writes
                .iter()
                .position(|w| matches!(w, ArmWrite::Put { op, .. } if *op == PUT_TABLE))
                .unwrap_or(plan.writes.len()),
            ArmWrite::Patch {
                op: PATCH_LOG_ANALYTICS,
                id: expect.log_analytics_id.clone(),
                body: json!({ "properties": workspace }),
            },
        );
    }
    if drifted("law.query-audit") {
        plan.diagnostics.push(expect.query_audit());
        plan.remediates("law.query-audit");
    }
    // A delete lock of the operator's own: it never removes it (the workspace keeps six years of
    // audit logs), and a lock placed by anyone else, or inherited, already counts.
    // The id is built from the parsed workspace id; one that does not parse (the grants check
    // refuses such a workspace before any pass) plans no lock.
    if drifted("law.delete-lock")
        && let Ok(lock_id) = operator_lock_id(&expect.log_analytics_id)
    {
        plan.writes.push(ArmWrite::Put {
            op: PUT_LOCK,
            id: lock_id,
            body: json!({"properties": {
                "level": "CanNotDelete",
                "notes": "Placed by hipaa-operator (law.delete-lock): this Log Analytics workspace holds the HIPAA audit logs of a HipaaWorkspace, kept six years (45 CFR 164.316(b)(2)(i)); deleting it needs this lock removed first."
            }}),
        });
        plan.remediates("law.delete-lock");
    }

    // The audit tables' export to the archive account: the operator's own export, carrying the
    // tables it already sent besides the audit ones (someone may have added one).
    if let Some(archive) = &expect.archive
        && drifted("law.immutable-export")
        && let Ok(exports) = &obs.data_exports
    {
        let mut tables: Vec<String> = exports
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(super::OPERATOR_EXPORT))
            .and_then(|e| e.properties["tableNames"].as_array())
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        for table in &expect.audit_tables {
            if !tables.iter().any(|t| t.eq_ignore_ascii_case(table)) {
                tables.push(table.clone());
            }
        }
        plan.writes.push(ArmWrite::Put {
            op: super::PUT_DATA_EXPORT,
            id: format!(
                "{}/dataExports/{}",
                expect.log_analytics_id,
                super::OPERATOR_EXPORT
            ),
            body: json!({"properties": {
                "destination": {"resourceId": archive.account_id},
                "tableNames": tables,
                "enable": true
            }}),
        });
        plan.remediates("law.immutable-export");
    }

    // The archive: container, then an unlocked policy, then (only when asked) the lock.
    if let Some(archive) = &expect.archive
        && drifted("storage.immutable-audit-archive")
    {
        let policy_body = json!({"properties": {
            "immutabilityPeriodSinceCreationInDays": archive.required_days(),
            "allowProtectedAppendWrites": true
        }});
        let policy = obs.archive_policy.as_ref();
        let days = policy
            .and_then(|p| at(&p.properties, "immutabilityPeriodSinceCreationInDays"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let locked = policy
            .and_then(|p| text(&p.properties, "state"))
            .is_some_and(|s| s.eq_ignore_ascii_case("Locked"));
        // Creating the container or the unlocked policy is progress, not compliance: the
        // control is reported remediated only when the lock will follow (lock: true).
        if obs.archive_container.is_none() {
            plan.writes.push(ArmWrite::Put {
                op: PUT_CONTAINER,
                id: archive.container_id(),
                body: json!({"properties": {"publicAccess": "None"}}),
            });
            plan.writes.push(ArmWrite::Put {
                op: PUT_IMMUTABILITY,
                id: archive.policy_id(),
                body: policy_body,
            });
            if archive.lock {
                plan.remediates("storage.immutable-audit-archive");
            }
        } else if !locked && days < archive.required_days() {
            plan.writes.push(ArmWrite::Put {
                op: PUT_IMMUTABILITY,
                id: archive.policy_id(),
                body: policy_body,
            });
            if archive.lock {
                plan.remediates("storage.immutable-audit-archive");
            }
        } else if !locked && archive.lock {
            plan.writes.push(ArmWrite::Post {
                op: LOCK_IMMUTABILITY,
                id: format!("{}/lock", archive.policy_id()),
                body: None,
                if_match: policy.and_then(|p| p.etag.clone()),
            });
            plan.remediates("storage.immutable-audit-archive");
        }
    }
    plan
}
