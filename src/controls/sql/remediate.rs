//! The SQL plan: the fewest ARM writes (one server PATCH, one PUT per sub-resource) that
//! remediate the drifted SQL controls.

use serde_json::{Value, json};

use super::SETTINGS;
use super::model::{SqlExpectations, SqlObservation, open_rule, user_databases};
use super::{
    AUDIT_GROUPS, DELETE_FIREWALL_RULE, PATCH_DATABASE, PATCH_SERVER, PUT_ALERTS, PUT_AUDITING,
    PUT_ENTRA_ONLY, PUT_LTR, PUT_PROTECTOR, PUT_SERVER_KEY, PUT_STR, PUT_TDE, PUT_VA_EXPRESS,
};
use crate::controls::finding::Finding;
use crate::controls::plan::{ArmWrite, Plan};
use crate::controls::setting;

/// The fewest writes for the drifted, automatically remediable findings of `to_fix`.
pub fn plan(expect: &SqlExpectations, obs: &SqlObservation, to_fix: &[&Finding]) -> Plan {
    let mut plan = Plan::default();
    let drifted = |id: &str| crate::controls::plan::remediable(to_fix, id);
    // Azure refuses Entra-only authentication until an Entra administrator exists.
    let admin_ok = obs.administrator.is_some();
    let server = &expect.server_id;
    let current = json!({ "properties": obs.server.properties });
    let (writes, mut fixes) = setting::fixes(SETTINGS, to_fix, |c| setting::holds_in(to_fix, c));
    let mut patch = serde_json::Map::new();
    setting::merge_into(&mut patch, &writes, &current);
    if drifted("common.phi-classification-tag") {
        let mut tags = obs.server.tags.clone().unwrap_or_default();
        tags.insert(
            expect.classification_tag.0.clone(),
            expect.classification_tag.1.clone(),
        );
        patch.insert("tags".into(), json!(tags));
        fixes.push("common.phi-classification-tag");
    }
    let tde_cmk = drifted("sql.tde-cmk");
    if tde_cmk
        && obs
            .server
            .identity
            .as_ref()
            .is_none_or(|i| !i.kind.contains("SystemAssigned"))
    {
        // The server reaches its key with its own identity.
        patch.insert("identity".into(), json!({"type": "SystemAssigned"}));
    }
    if !patch.is_empty() {
        plan.writes.push(ArmWrite::Patch {
            op: PATCH_SERVER,
            id: server.clone(),
            body: Value::Object(patch),
        });
    }
    if drifted("sql.no-open-firewall") {
        for rule in obs.firewall_rules.iter().filter(|r| open_rule(r)) {
            plan.writes.push(ArmWrite::Delete {
                op: DELETE_FIREWALL_RULE,
                id: rule.id.clone(),
            });
        }
        fixes.push("sql.no-open-firewall");
    }
    for db in user_databases(obs) {
        let id = &db.database.id;
        if drifted("sql.tde-enabled")
            && db
                .tde
                .as_ref()
                .is_none_or(|t| t.properties["state"] != "Enabled")
        {
            plan.writes.push(ArmWrite::Put {
                op: PUT_TDE,
                id: format!("{id}/transparentDataEncryption/current"),
                body: json!({"properties": {"state": "Enabled"}}),
            });
        }
        if drifted("sql.ltr-backup") {
            plan.writes.push(ArmWrite::Put {
                op: PUT_LTR,
                id: format!("{id}/backupLongTermRetentionPolicies/default"),
                body: json!({"properties": {"weeklyRetention": "PT0S", "monthlyRetention": "PT0S", "yearlyRetention": "P6Y", "weekOfYear": 1}}),
            });
        }
        if drifted("sql.pitr-retention") {
            plan.writes.push(ArmWrite::Put {
                op: PUT_STR,
                id: format!("{id}/backupShortTermRetentionPolicies/default"),
                body: json!({"properties": {"retentionDays": expect.min_pitr_days}}),
            });
        }
        if drifted("sql.backup-redundancy") {
            plan.writes.push(ArmWrite::Patch {
                op: PATCH_DATABASE,
                id: id.clone(),
                body: json!({"properties": {"requestedBackupStorageRedundancy": "Geo"}}),
            });
        }
    }
    for id in [
        "sql.tde-enabled",
        "sql.ltr-backup",
        "sql.pitr-retention",
        "sql.backup-redundancy",
    ] {
        if drifted(id) {
            fixes.push(id);
        }
    }
    if tde_cmk {
        plan.ensure_key = true;
        plan.key_name = Some(expect.key_name.clone());
        // The protector names a key version; until the key exists there is none to name, and
        // the next pass (after the key is created) sets it.
        if let Some(version) = &obs.latest_key_version {
            let server_key = format!("{}_{}_{version}", expect.vault_name, expect.key_name);
            plan.writes.push(ArmWrite::Put {
                op: PUT_SERVER_KEY,
                id: format!("{server}/keys/{server_key}"),
                body: json!({"properties": {"serverKeyType": "AzureKeyVault", "uri": format!(
                    "{}/keys/{}/{version}", expect.vault_uri.trim_end_matches('/'), expect.key_name
                )}}),
            });
            plan.writes.push(ArmWrite::Put {
                op: PUT_PROTECTOR,
                id: format!("{server}/encryptionProtector/current"),
                body: json!({"properties": {"serverKeyType": "AzureKeyVault", "serverKeyName": server_key, "autoRotationEnabled": true}}),
            });
            fixes.push("sql.tde-cmk");
        }
    }
    let audit_ids = [
        "sql.auditing-enabled",
        "sql.audit-to-log-analytics",
        "sql.audit-action-groups",
        "sql.audit-retention-6y",
    ];
    if audit_ids.iter().any(|id| drifted(id)) {
        // One PUT with the whole desired policy.
        plan.writes.push(ArmWrite::Put {
            op: PUT_AUDITING,
            id: format!("{server}/auditingSettings/default"),
            body: json!({"properties": {
                "state": "Enabled",
                "isAzureMonitorTargetEnabled": true,
                "auditActionsAndGroups": AUDIT_GROUPS,
                "retentionDays": 0
            }}),
        });
        for id in audit_ids {
            if drifted(id) {
                fixes.push(id);
            }
        }
        if drifted("sql.audit-to-log-analytics") {
            plan.diagnostics.push(expect.master_diagnostics());
        }
    }
    if drifted("sql.entra-only-auth") && admin_ok {
        plan.writes.push(ArmWrite::Put {
            op: PUT_ENTRA_ONLY,
            id: format!("{server}/azureADOnlyAuthentications/Default"),
            body: json!({"properties": {"azureADOnlyAuthentication": true}}),
        });
        fixes.push("sql.entra-only-auth");
    }
    if drifted("sql.defender") {
        plan.writes.push(ArmWrite::Put {
            op: PUT_ALERTS,
            id: format!("{server}/securityAlertPolicies/Default"),
            body: json!({"properties": {"state": "Enabled"}}),
        });
        fixes.push("sql.defender");
    }
    if drifted("sql.vulnerability-assessment")
        && matches!(
            super::evaluate::assessment(obs),
            super::evaluate::Assessment::Off
        )
    {
        plan.writes.push(ArmWrite::Put {
            op: PUT_VA_EXPRESS,
            id: format!("{server}/sqlVulnerabilityAssessments/default"),
            body: json!({"properties": {"state": "Enabled"}}),
        });
        fixes.push("sql.vulnerability-assessment");
    }
    if drifted("sql.private-endpoint") {
        plan.private_endpoint_groups = expect.private_endpoint_groups.clone();
        fixes.push("sql.private-endpoint");
    }
    fixes.into_iter().for_each(|f| plan.remediates(f));
    plan
}
