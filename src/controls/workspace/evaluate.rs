//! The workspace evaluator: the vault's `kv.*` controls, the Log Analytics `law.*` controls and
//! the immutable audit archive.

use serde_json::{Value, json};

use super::PURGE_ACTION;
use super::model::{ArchiveExpectations, WorkspaceExpectations, WorkspaceObservation, text};
use crate::controls::common;
use crate::controls::finding::{Finding, Found};
use crate::controls::plan::at;

/// Catalog ids of the workspace's safeguards that this version does not evaluate, and why.
/// The README lists them.
pub const NOT_YET_EVALUATED: &[(&str, &str)] = &[(
    "law.cmk",
    "not evaluated by this version yet (issue #21): azure-sim serves the recorded examples of these calls since the catalog's second edition; reading and remediating them is still to be built",
)];

/// Evaluates the vault, the Log Analytics workspace and the archive.
pub fn evaluate(expect: &WorkspaceExpectations, obs: &WorkspaceObservation) -> Vec<Finding> {
    let mut out = crate::controls::keyvault::evaluate(&expect.vault(), &obs.vault_observation());
    if let (Some(e), Some(o)) = (&expect.vault_defender, &obs.vault_defender) {
        out.push(crate::controls::defender::evaluate(e, o));
    }
    out.extend(log_analytics(expect, obs));
    if let Some(archive) = &expect.archive {
        out.push(immutable_archive(archive, obs));
    }
    out.push(immutable_export(expect, obs));
    out.push(operator_role(obs));
    out
}

/// Built-in roles the operator may hold besides its generated one: Key Vault Crypto Officer
/// (the workspace keys, at the vault) and Security Reader (the subscription's Defender plans).
const ALLOWED_BUILT_IN: &[(&str, &str)] = &[
    (
        "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
        "Key Vault Crypto Officer",
    ),
    ("39bc4728-0917-49c7-9d2c-d95423bc2eb4", "Security Reader"),
];

/// What a role grants beyond the generated role: its actions and data actions that are not
/// among the generated role's, a wildcard counting as more unless it is one of them.
fn beyond_generated(role: &crate::azure::roles::RoleDefinition) -> Vec<String> {
    let actions = crate::azure::permissions::actions();
    let data_actions = crate::azure::permissions::data_actions();
    let within =
        |granted: &str, allowed: &[&str]| allowed.iter().any(|a| a.eq_ignore_ascii_case(granted));
    let mut extra: Vec<String> = role
        .properties
        .permissions
        .iter()
        .flat_map(|p| {
            p.actions
                .iter()
                .filter(|a| !within(a, &actions))
                .chain(p.data_actions.iter().filter(|a| !within(a, &data_actions)))
        })
        .cloned()
        .collect();
    extra.sort();
    extra.dedup();
    extra
}

/// `op.least-privilege-role` (report only): the operator's own role assignments that reach the
/// workspace's Log Analytics workspace (at it, its resource group and above) grant nothing
/// beyond the role `hipaa-operator azure-role` generates, and the built-ins it needs.
fn operator_role(obs: &WorkspaceObservation) -> Finding {
    let id = "op.least-privilege-role";
    let expected =
        "only the generated hipaa-operator role (plus Key Vault Crypto Officer, Security Reader)";
    let principal = match &obs.operator_principal {
        Ok(p) => p,
        Err(why) => {
            return Finding::new(
                id,
                Found::Error,
                expected,
                "the operator's principal is not known",
            )
            .with_message(why.clone());
        }
    };
    let reaching = match &obs.log_analytics_access {
        Ok(r) => r,
        Err(why) => {
            return Finding::new(id, Found::Error, expected, "role assignments not read")
                .with_message(why.clone());
        }
    };
    let mut wide: Vec<String> = reaching
        .iter()
        .filter(|r| r.principal_id.eq_ignore_ascii_case(principal))
        .filter(|r| {
            !ALLOWED_BUILT_IN
                .iter()
                .any(|(guid, _)| r.role.name.eq_ignore_ascii_case(guid))
        })
        .filter_map(|r| {
            let extra = beyond_generated(&r.role);
            (!extra.is_empty()).then(|| {
                let shown: Vec<&str> = extra.iter().take(3).map(String::as_str).collect();
                format!(
                    "{} at {} ({}{})",
                    r.role.properties.role_name,
                    r.scope,
                    shown.join(", "),
                    if extra.len() > 3 { ", …" } else { "" }
                )
            })
        })
        .collect();
    wide.sort();
    wide.dedup();
    Finding::check(
        id,
        wide.is_empty(),
        expected,
        if wide.is_empty() {
            "no wider role".to_string()
        } else {
            format!("wider: {}", wide.join("; "))
        },
    )
    .with_next_step("the operator never changes its own rights: assign the role `hipaa-operator azure-role --scope /subscriptions/<id>` prints at the workspace's resource group (and Security Reader on the subscription for the Defender plans), then remove these assignments; or exempt op.least-privilege-role on the HipaaWorkspace")
}

/// Whether `export` sends every table of `tables` to `account`, enabled.
pub(super) fn exports_to(
    export: &crate::azure::resources::ArmResource,
    account: &str,
    tables: &[String],
) -> bool {
    let p = &export.properties;
    let enabled = p["enable"].as_bool().unwrap_or(true);
    let to_account = p["destination"]["resourceId"].as_str().is_some_and(|d| {
        d.trim_end_matches('/')
            .eq_ignore_ascii_case(account.trim_end_matches('/'))
    });
    let exported: Vec<&str> = p["tableNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    enabled
        && to_account
        && tables
            .iter()
            .all(|t| exported.iter().any(|e| e.eq_ignore_ascii_case(t)))
}

/// `law.immutable-export`: the audit tables also leave Log Analytics for the archive account,
/// whose container keeps them under the time-based immutability policy.
fn immutable_export(expect: &WorkspaceExpectations, obs: &WorkspaceObservation) -> Finding {
    let id = "law.immutable-export";
    let Some(archive) = &expect.archive else {
        return Finding::new(
            id,
            Found::NotApplicable,
            "an enabled data export of the audit tables to the audit archive account",
            "no spec.auditArchive",
        )
        .with_message("declare spec.auditArchive: the export goes to its storage account");
    };
    let expected = format!(
        "an enabled data export of {} to {}",
        expect.audit_tables.join(", "),
        archive.account_id
    );
    match &obs.data_exports {
        Err(why) => Finding::new(id, Found::Error, expected, "data exports not read")
            .with_message(why.clone()),
        Ok(exports) => {
            let holding: Vec<&str> = exports
                .iter()
                .filter(|e| exports_to(e, &archive.account_id, &expect.audit_tables))
                .map(|e| e.name.as_str())
                .collect();
            Finding::check(
                id,
                !holding.is_empty(),
                expected,
                if holding.is_empty() {
                    format!(
                        "{} data exports, none of the audit tables to the archive",
                        exports.len()
                    )
                } else {
                    format!("exported by {}", holding.join(", "))
                },
            )
        }
    }
}

fn log_analytics(expect: &WorkspaceExpectations, obs: &WorkspaceObservation) -> Vec<Finding> {
    let w = json!({ "properties": obs.log_analytics.properties });
    let retention = at(&w, "properties.retentionInDays")
        .and_then(Value::as_i64)
        .unwrap_or(30);
    let mut short: Vec<String> = Vec::new();
    if retention < expect.retention_in_days {
        short.push(format!("workspace retentionInDays={retention}"));
    }
    for table in &expect.audit_tables {
        match obs.tables.get(table).cloned().flatten() {
            None => short.push(format!("{table}: not found")),
            Some(t) => {
                let total = at(&t.properties, "totalRetentionInDays")
                    .and_then(Value::as_i64)
                    .unwrap_or(retention);
                if total < expect.total_retention() {
                    short.push(format!("{table}: totalRetentionInDays={total}"));
                }
            }
        }
    }
    let retention_finding = Finding::check(
        "law.retention-6y",
        short.is_empty(),
        format!(
            "retentionInDays>={} and totalRetentionInDays>={} on {}",
            expect.retention_in_days,
            expect.total_retention(),
            expect.audit_tables.join(", ")
        ),
        if short.is_empty() {
            format!(
                "retentionInDays={retention}; audit tables at totalRetentionInDays>={}",
                expect.total_retention()
            )
        } else {
            short.join("; ")
        },
    );
    let ingestion = text(&w, "properties.publicNetworkAccessForIngestion").unwrap_or("Enabled");
    let query = text(&w, "properties.publicNetworkAccessForQuery").unwrap_or("Enabled");
    let purge = match &obs.log_analytics_access {
        Err(why) => Finding::new(
            "law.purge-restricted",
            Found::Error,
            "purge rights only for break-glass principals",
            "role assignments not read",
        )
        .with_message(why.clone()),
        Ok(reaching) => {
            let holders: Vec<String> = reaching
                .iter()
                .filter(|r| r.role.grants(PURGE_ACTION))
                .filter(|r| !expect.break_glass.iter().any(|b| b == &r.principal_id))
                .map(|r| {
                    format!(
                        "{} ({} at {})",
                        r.principal_id, r.role.properties.role_name, r.scope
                    )
                })
                .collect();
            let f = Finding::check(
                "law.purge-restricted",
                holders.is_empty(),
                "purge rights only for break-glass principals",
                if holders.is_empty() {
                    "no other principal can purge".to_string()
                } else {
                    format!("can purge: {}", holders.join(", "))
                },
            );
            if holders.is_empty() {
                f
            } else {
                f.with_message("remove these role assignments or add the principals to spec.accessReview.breakGlassPrincipalIds; the operator does not remove them on its own")
            }
        }
    };
    let mut out = crate::controls::setting::evaluate(super::LOG_ANALYTICS_SETTINGS, &w);
    out.extend([
        retention_finding,
        Finding::check(
            "law.public-network-disabled",
            ingestion.eq_ignore_ascii_case("Disabled") && query.eq_ignore_ascii_case("Disabled"),
            "publicNetworkAccessForIngestion=Disabled, publicNetworkAccessForQuery=Disabled",
            format!(
                "publicNetworkAccessForIngestion={ingestion}, publicNetworkAccessForQuery={query}"
            ),
        ),
        common::diagnostics(
            "law.query-audit",
            &obs.log_analytics_diagnostics,
            &expect.query_audit(),
        ),
        purge,
        delete_lock("law.delete-lock", &obs.log_analytics_locks),
    ]);
    out
}

/// Whether a lock that refuses deletes (`CanNotDelete` or `ReadOnly`) applies to the resource,
/// placed on it or inherited from its resource group or subscription.
fn delete_lock(
    id: &'static str,
    locks: &Result<Vec<crate::azure::locks::ManagementLock>, String>,
) -> Finding {
    let expected = "a CanNotDelete (or ReadOnly) lock on the resource or above it";
    match locks {
        Err(why) => {
            Finding::new(id, Found::Error, expected, "locks not read").with_message(why.clone())
        }
        Ok(locks) => {
            let mut holding: Vec<String> = locks
                .iter()
                .filter(|l| l.blocks_delete())
                .map(|l| format!("{} ({})", l.name, l.properties.level))
                .collect();
            holding.sort();
            Finding::check(
                id,
                !holding.is_empty(),
                expected,
                if holding.is_empty() {
                    "no lock refuses deletes".to_string()
                } else {
                    format!("locked by {}", holding.join(", "))
                },
            )
        }
    }
}

fn immutable_archive(archive: &ArchiveExpectations, obs: &WorkspaceObservation) -> Finding {
    let expected = format!(
        "immutabilityPeriodSinceCreationInDays>={}, state=Locked",
        archive.required_days()
    );
    let id = "storage.immutable-audit-archive";
    if obs.archive_container.is_none() {
        return Finding::new(
            id,
            Found::Drifted,
            expected,
            format!("container {} not found", archive.container),
        );
    }
    let Some(policy) = &obs.archive_policy else {
        return Finding::new(id, Found::Drifted, expected, "no immutability policy");
    };
    let days = at(&policy.properties, "immutabilityPeriodSinceCreationInDays")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let state = text(&policy.properties, "state").unwrap_or("Unlocked");
    let observed = format!("immutabilityPeriodSinceCreationInDays={days}, state={state}");
    let ok = days >= archive.required_days() && state.eq_ignore_ascii_case("Locked");
    let f = Finding::check(id, ok, expected, observed);
    if !ok && days >= archive.required_days() && archive.lock_not_granted {
        f.awaiting_person("the policy is not locked; spec.auditArchive.lock asks for the lock, but locking is irreversible and no AzureScopeGrant covering this workspace sets allowIrreversible: a cluster admin must allow it")
    } else if !ok && days >= archive.required_days() && !archive.lock {
        f.awaiting_person("the policy is not locked; locking is irreversible, so the operator locks it only when spec.auditArchive.lock is true and the mode is Enforce")
    } else if !ok && state.eq_ignore_ascii_case("Locked") {
        f.with_message("a locked policy's period can only be extended, never shortened or removed")
    } else {
        f
    }
}
