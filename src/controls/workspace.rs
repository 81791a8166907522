//! The shared safeguards of a `HipaaWorkspace`: its Key Vault (`kv.*` vault controls), its
//! Log Analytics workspace (`law.*`) and its immutable audit archive
//! (`storage.immutable-audit-archive`). Evaluation and planning, pure.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::common;
use super::finding::{Finding, Found};
use super::keyvault::{VaultExpectations, VaultObservation};
use super::plan::{ArmWrite, Plan, at};
use crate::azure::authorization::RoleDefinition;
use crate::azure::insights::{DesiredDiagnosticSetting, DiagnosticSetting};
use crate::azure::resources::{ArmResource, api_version};
use crate::azure::types::ArmOp;

pub use super::keyvault::PATCH_VAULT;
pub const PATCH_LOG_ANALYTICS: ArmOp = ArmOp::new(
    "Workspaces_Update",
    "Microsoft.OperationalInsights",
    api_version::LOG_ANALYTICS,
);
pub const GET_TABLE: ArmOp = ArmOp::new(
    "Tables_Get",
    "Microsoft.OperationalInsights",
    api_version::LOG_ANALYTICS,
);
pub const PUT_TABLE: ArmOp = ArmOp::new(
    "Tables_CreateOrUpdate",
    "Microsoft.OperationalInsights",
    api_version::LOG_ANALYTICS,
);
pub const GET_CONTAINER: ArmOp = ArmOp::new(
    "BlobContainers_Get",
    "Microsoft.Storage",
    crate::azure::storage::API_VERSION,
);
pub const PUT_CONTAINER: ArmOp = ArmOp::new(
    "BlobContainers_Create",
    "Microsoft.Storage",
    crate::azure::storage::API_VERSION,
);
pub const GET_IMMUTABILITY: ArmOp = ArmOp::new(
    "BlobContainers_GetImmutabilityPolicy",
    "Microsoft.Storage",
    crate::azure::storage::API_VERSION,
);
pub const PUT_IMMUTABILITY: ArmOp = ArmOp::new(
    "BlobContainers_CreateOrUpdateImmutabilityPolicy",
    "Microsoft.Storage",
    crate::azure::storage::API_VERSION,
);
pub const LOCK_IMMUTABILITY: ArmOp = ArmOp::new(
    "BlobContainers_LockImmutabilityPolicy",
    "Microsoft.Storage",
    crate::azure::storage::API_VERSION,
);

/// The action that purges Log Analytics data irreversibly (`law.purge-restricted`).
pub const PURGE_ACTION: &str = "Microsoft.OperationalInsights/workspaces/purge/action";

/// Tables whose total retention must reach six years when the workspace names none.
pub const DEFAULT_AUDIT_TABLES: &[&str] = &[
    "AzureDiagnostics",
    "StorageBlobLogs",
    "AzureActivity",
    "LAQueryLogs",
];

/// Catalog ids of the workspace's safeguards that this version does not evaluate, and why.
/// The README lists them.
pub const NOT_YET_EVALUATED: &[(&str, &str)] = &[
    (
        "law.cmk",
        "Log Analytics clusters have no recorded example in shared/azure-rest-examples",
    ),
    (
        "law.delete-lock",
        "Microsoft.Authorization/locks have no recorded example in shared/azure-rest-examples",
    ),
    (
        "law.immutable-export",
        "Log Analytics data exports have no recorded example in shared/azure-rest-examples",
    ),
];

/// What the workspace spec expects of its shared safeguards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceExpectations {
    pub vault_id: String,
    pub log_analytics_id: String,
    /// Private endpoints are expected (the workspace names a subnet).
    pub private_networking: bool,
    /// The private DNS zones the vault's endpoint must be registered in.
    pub vault_endpoint_dns: super::common::EndpointDns,
    pub retention_in_days: i64,
    pub total_retention_in_days: i64,
    pub audit_tables: Vec<String>,
    /// Principals allowed to hold purge rights.
    pub break_glass: Vec<String>,
    pub archive: Option<ArchiveExpectations>,
    /// `spec.keyVault.migrateAccessPolicies`.
    pub migrate_access_policies: bool,
}

/// The immutable audit archive the spec names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveExpectations {
    pub account_id: String,
    pub container: String,
    pub retention_days: i64,
    /// Lock the policy (irreversible) when the mode is Enforce: the spec asks for it and a
    /// grant allows irreversible changes.
    pub lock: bool,
    /// The spec asks for the lock but no grant allows irreversible changes.
    pub lock_not_granted: bool,
}

/// Six years in days (2192, leap days included): 45 CFR 164.316(b)(2)(i)'s retention, the floor
/// of `law.retention-6y` and `storage.immutable-audit-archive`. A spec may raise it, never lower
/// it.
pub const SIX_YEARS_DAYS: i64 = 2192;

impl WorkspaceExpectations {
    /// The audit tables' total retention the control requires: the spec's, never below the
    /// HIPAA floor.
    pub fn total_retention(&self) -> i64 {
        self.total_retention_in_days.max(SIX_YEARS_DAYS)
    }
}

impl ArchiveExpectations {
    /// The immutability period the control requires: the spec's, never below the HIPAA floor.
    pub fn required_days(&self) -> i64 {
        self.retention_days.max(SIX_YEARS_DAYS)
    }

    pub fn container_id(&self) -> String {
        format!(
            "{}/blobServices/default/containers/{}",
            self.account_id, self.container
        )
    }
    pub fn policy_id(&self) -> String {
        format!("{}/immutabilityPolicies/default", self.container_id())
    }
}

/// One role assignment that reaches the Log Analytics workspace, with its role.
#[derive(Clone, Debug, PartialEq)]
pub struct Reaching {
    pub principal_id: String,
    pub scope: String,
    pub role: RoleDefinition,
}

/// What was read for the workspace's safeguards.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkspaceObservation {
    pub vault: ArmResource,
    pub vault_diagnostics: Vec<DiagnosticSetting>,
    /// The private endpoints connected to the vault, by endpoint id.
    pub vault_endpoints: super::common::SeenEndpoints,
    /// The role assignments reaching the vault, read only while its access policies move to
    /// roles.
    pub vault_role_holders: Option<super::vault_rbac::RoleHolders>,
    pub log_analytics: ArmResource,
    pub log_analytics_diagnostics: Vec<DiagnosticSetting>,
    /// Audit tables by name; `None` when the table was not found.
    pub tables: BTreeMap<String, Option<ArmResource>>,
    /// Role assignments reaching the Log Analytics workspace; `None` when they could not be
    /// read (the message says why).
    pub log_analytics_access: Result<Vec<Reaching>, String>,
    /// The archive container (`None`: missing), and its immutability policy (`None`: none).
    pub archive_container: Option<ArmResource>,
    pub archive_policy: Option<ArmResource>,
}

impl WorkspaceObservation {
    fn vault_observation(&self) -> VaultObservation {
        VaultObservation {
            vault: self.vault.clone(),
            diagnostics: self.vault_diagnostics.clone(),
            endpoints: self.vault_endpoints.clone(),
            role_holders: self.vault_role_holders.clone(),
        }
    }
}

impl WorkspaceExpectations {
    /// What the workspace expects of its vault.
    pub fn vault(&self) -> VaultExpectations {
        VaultExpectations {
            vault_id: self.vault_id.clone(),
            log_analytics_id: self.log_analytics_id.clone(),
            private_networking: self.private_networking,
            endpoint_dns: self.vault_endpoint_dns.clone(),
            classification_tag: None,
            category_groups: vec!["audit".into()],
            categories: vec![],
            migrate_access_policies: self.migrate_access_policies,
        }
    }
    pub fn query_audit(&self) -> DesiredDiagnosticSetting {
        DesiredDiagnosticSetting {
            resource_id: self.log_analytics_id.clone(),
            workspace_id: self.log_analytics_id.clone(),
            category_groups: vec!["audit".into()],
            categories: vec![],
        }
    }
}

fn flag(body: &Value, path: &str) -> Option<bool> {
    at(body, path).and_then(Value::as_bool)
}

fn text<'a>(body: &'a Value, path: &str) -> Option<&'a str> {
    at(body, path).and_then(Value::as_str)
}

/// Evaluates the vault, the Log Analytics workspace and the archive.
pub fn evaluate(expect: &WorkspaceExpectations, obs: &WorkspaceObservation) -> Vec<Finding> {
    let mut out = super::keyvault::evaluate(&expect.vault(), &obs.vault_observation());
    out.extend(log_analytics(expect, obs));
    if let Some(archive) = &expect.archive {
        out.push(immutable_archive(archive, obs));
    }
    out
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
    let local_auth_disabled = flag(&w, "properties.features.disableLocalAuth").unwrap_or(false);
    let immediate_purge =
        flag(&w, "properties.features.immediatePurgeDataOn30Days").unwrap_or(false);
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
    vec![
        retention_finding,
        Finding::check(
            "law.public-network-disabled",
            ingestion.eq_ignore_ascii_case("Disabled") && query.eq_ignore_ascii_case("Disabled"),
            "publicNetworkAccessForIngestion=Disabled, publicNetworkAccessForQuery=Disabled",
            format!(
                "publicNetworkAccessForIngestion={ingestion}, publicNetworkAccessForQuery={query}"
            ),
        ),
        Finding::check(
            "law.local-auth-disabled",
            local_auth_disabled,
            "features.disableLocalAuth=true",
            format!("features.disableLocalAuth={local_auth_disabled}"),
        ),
        Finding::check(
            "law.no-immediate-purge",
            !immediate_purge,
            "features.immediatePurgeDataOn30Days absent or false",
            format!("features.immediatePurgeDataOn30Days={immediate_purge}"),
        ),
        common::diagnostics(
            "law.query-audit",
            &obs.log_analytics_diagnostics,
            &expect.query_audit(),
        ),
        purge,
    ]
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

/// The fewest writes that fix the drifted, automatically remediable findings in `to_fix`.
pub fn plan(
    expect: &WorkspaceExpectations,
    obs: &WorkspaceObservation,
    to_fix: &[&Finding],
) -> Plan {
    let mut plan = Plan::default();
    let drifted = |id: &str| super::plan::remediable(to_fix, id);
    super::keyvault::plan(&expect.vault(), &obs.vault_observation(), to_fix, &mut plan);

    // Log Analytics: one PATCH of the workspace, one PUT per short table.
    let law = json!({ "properties": obs.log_analytics.properties });
    let mut workspace = serde_json::Map::new();
    let mut features = law
        .pointer("/properties/features")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut features_changed = false;
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
    if drifted("law.local-auth-disabled") {
        features.insert("disableLocalAuth".into(), json!(true));
        features_changed = true;
        plan.remediates("law.local-auth-disabled");
    }
    if drifted("law.no-immediate-purge") {
        features.insert("immediatePurgeDataOn30Days".into(), json!(false));
        features_changed = true;
        plan.remediates("law.no-immediate-purge");
    }
    if features_changed {
        workspace.insert("features".into(), Value::Object(features));
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The control ids this module's evaluator reports, for the catalog coverage test.
    pub(crate) fn evaluated_ids() -> Vec<&'static str> {
        evaluate(&expect(), &compliant())
            .iter()
            .map(Finding::id)
            .collect()
    }
    use crate::catalog;

    const SUB: &str = "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg";

    fn example(file: &str, status: &str) -> ArmResource {
        let path = format!(
            "{}/../shared/azure-rest-examples/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("example")).expect("json");
        serde_json::from_value(v["responses"][status]["body"].clone()).expect("envelope")
    }

    fn expect() -> WorkspaceExpectations {
        WorkspaceExpectations {
            migrate_access_policies: false,
            vault_id: format!("{SUB}/providers/Microsoft.KeyVault/vaults/kv"),
            log_analytics_id: format!(
                "{SUB}/providers/Microsoft.OperationalInsights/workspaces/law"
            ),
            private_networking: true,
            vault_endpoint_dns: crate::controls::common::fixtures::dns(&["vault"]),
            retention_in_days: 90,
            total_retention_in_days: 2192,
            audit_tables: vec!["StorageBlobLogs".into()],
            break_glass: vec!["bg".into()],
            archive: Some(ArchiveExpectations {
                account_id: format!("{SUB}/providers/Microsoft.Storage/storageAccounts/starchive"),
                container: "hipaa-audit-archive".into(),
                retention_days: 2192,
                lock: false,
                lock_not_granted: false,
            }),
        }
    }

    fn role(name: &str, actions: &[&str], not_actions: &[&str]) -> RoleDefinition {
        serde_json::from_value(
            json!({"id": format!("/r/{name}"), "name": name, "properties": {
            "roleName": name, "permissions": [{"actions": actions, "notActions": not_actions}]}}),
        )
        .expect("role")
    }

    fn setting(workspace: &str) -> DiagnosticSetting {
        serde_json::from_value(json!({"name": "hipaa-operator-audit", "properties": {
            "workspaceId": workspace, "logs": [{"categoryGroup": "audit", "enabled": true}]}}))
        .expect("setting")
    }

    /// The recorded vault and workspace (non-compliant as recorded), no tables, no archive.
    fn recorded() -> WorkspaceObservation {
        WorkspaceObservation {
            vault_role_holders: None,
            vault: example("Microsoft.KeyVault/2024-11-01/getVault.json", "200"),
            vault_diagnostics: vec![],
            vault_endpoints: BTreeMap::new(),
            log_analytics: example(
                "Microsoft.OperationalInsights/2025-02-01/WorkspacesGet.json",
                "200",
            ),
            log_analytics_diagnostics: vec![],
            tables: BTreeMap::from([("StorageBlobLogs".to_string(), None)]),
            log_analytics_access: Ok(vec![]),
            archive_container: None,
            archive_policy: None,
        }
    }

    /// Everything compliant.
    fn compliant() -> WorkspaceObservation {
        let e = expect();
        let pe = format!("{SUB}/providers/Microsoft.Network/privateEndpoints/pe-kv-vault");
        let mut obs = recorded();
        obs.vault.properties = json!({
            "enableSoftDelete": true, "softDeleteRetentionInDays": 90, "enablePurgeProtection": true,
            "enableRbacAuthorization": true, "publicNetworkAccess": "Disabled",
            "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices", "ipRules": []},
            "privateEndpointConnections": [{"properties": {"privateEndpoint": {"id": pe},
                "privateLinkServiceConnectionState": {"status": "Approved"}}}]
        });
        obs.vault_endpoints = crate::controls::common::fixtures::registered(&pe, "vault");
        obs.vault_diagnostics = vec![setting(&e.log_analytics_id)];
        obs.log_analytics.properties = json!({
            "retentionInDays": 90, "publicNetworkAccessForIngestion": "Disabled",
            "publicNetworkAccessForQuery": "Disabled", "features": {"disableLocalAuth": true}
        });
        obs.log_analytics_diagnostics = vec![setting(&e.log_analytics_id)];
        obs.tables = BTreeMap::from([(
            "StorageBlobLogs".to_string(),
            Some(
                serde_json::from_value(json!({"id": "t", "name": "StorageBlobLogs",
                "properties": {"totalRetentionInDays": 2192}}))
                .expect("table"),
            ),
        )]);
        obs.log_analytics_access = Ok(vec![Reaching {
            principal_id: "bg".into(),
            scope: SUB.into(),
            role: role("Owner", &["*"], &[]),
        }]);
        obs.archive_container = Some(ArmResource::default());
        obs.archive_policy = Some(
            serde_json::from_value(json!({"id": "p", "name": "default", "etag": "\"8d5\"",
                "properties": {"immutabilityPeriodSinceCreationInDays": 2192, "state": "Locked"}}))
            .expect("policy"),
        );
        obs
    }

    fn state(findings: &[Finding], id: &str) -> Found {
        findings
            .iter()
            .find(|f| f.id() == id)
            .unwrap_or_else(|| panic!("{id} not evaluated"))
            .found
    }

    #[test]
    fn every_workspace_control_is_evaluated_or_listed_once() {
        let findings = evaluate(&expect(), &compliant());
        for f in &findings {
            assert!(catalog::is_known(f.id()));
            assert_eq!(state(&findings, f.id()), Found::Compliant, "{f:?}");
        }
        let ids: Vec<&str> = findings.iter().map(Finding::id).collect();
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(ids, unique);
        for id in catalog::ids().filter(|i| i.starts_with("law.")) {
            assert!(
                ids.contains(&id) || NOT_YET_EVALUATED.iter().any(|(n, _)| *n == id),
                "{id} is neither evaluated nor listed"
            );
        }
        assert!(
            plan(
                &expect(),
                &compliant(),
                &findings.iter().collect::<Vec<_>>()
            )
            .is_empty()
        );
    }

    #[test]
    fn the_recorded_vault_and_workspace_drift_on_every_control() {
        let findings = evaluate(&expect(), &recorded());
        for id in [
            "kv.purge-protection",
            "kv.rbac-authorization",
            "kv.public-network-disabled",
            "kv.firewall-default-deny",
            "kv.private-endpoint",
            "kv.diag-audit-event",
            "law.retention-6y",
            "law.public-network-disabled",
            "law.local-auth-disabled",
            "law.query-audit",
            "storage.immutable-audit-archive",
        ] {
            assert_eq!(state(&findings, id), Found::Drifted, "{id}");
        }
        // Soft delete defaults on; no purge holder was read.
        assert_eq!(state(&findings, "kv.soft-delete"), Found::Compliant);
        assert_eq!(state(&findings, "law.purge-restricted"), Found::Compliant);
        assert_eq!(state(&findings, "law.no-immediate-purge"), Found::Compliant);
        let retention = findings
            .iter()
            .find(|f| f.id() == "law.retention-6y")
            .expect("r");
        assert_eq!(
            retention.observed,
            "workspace retentionInDays=30; StorageBlobLogs: not found"
        );
    }

    #[test]
    fn the_plan_patches_each_resource_once_and_keeps_public_access_until_the_endpoint_exists() {
        let e = expect();
        let obs = recorded();
        let findings = evaluate(&e, &obs);
        let plan = plan(&e, &obs, &findings.iter().collect::<Vec<_>>());
        let vault_patch = plan
            .writes
            .iter()
            .find(|w| matches!(w, ArmWrite::Patch { op, .. } if *op == PATCH_VAULT))
            .expect("vault patch");
        let ArmWrite::Patch { body, .. } = vault_patch else {
            unreachable!()
        };
        assert_eq!(body["properties"]["enablePurgeProtection"], json!(true));
        // Neither the firewall nor public access closes before the vault's endpoint is
        // Approved: that would lock the operator and every client out.
        assert!(body["properties"].get("networkAcls").is_none(), "{body}");
        assert!(
            body["properties"].get("publicNetworkAccess").is_none(),
            "{body}"
        );
        assert!(
            body["properties"].get("enableSoftDelete").is_none(),
            "already on"
        );
        assert_eq!(plan.private_endpoint_groups, vec!["vault"]);
        assert_eq!(plan.diagnostics.len(), 2);
        let law_at = plan
            .writes
            .iter()
            .position(|w| matches!(w, ArmWrite::Patch { op, .. } if *op == PATCH_LOG_ANALYTICS))
            .expect("law patch");
        let table_at = plan
            .writes
            .iter()
            .position(|w| matches!(w, ArmWrite::Put { op, .. } if *op == PUT_TABLE))
            .expect("table put");
        assert!(law_at < table_at, "workspace retention first");
        // Container and an unlocked policy; never a lock without `lock: true`.
        assert!(
            plan.writes
                .iter()
                .any(|w| w.id().ends_with("/containers/hipaa-audit-archive"))
        );
        assert!(
            !plan
                .writes
                .iter()
                .any(|w| matches!(w, ArmWrite::Post { .. }))
        );
        assert!(!plan.remediates.contains(&"law.purge-restricted"));
    }

    /// A spec may raise the six-year floor, never lower it: asking for 1 day of immutability
    /// and 30 days of table retention still means 2192 for both, in the evaluation and in the
    /// plan.
    #[test]
    fn a_spec_cannot_lower_the_six_year_floor() {
        let mut e = expect();
        e.total_retention_in_days = 30;
        e.archive.as_mut().expect("archive").retention_days = 1;
        e.archive.as_mut().expect("archive").lock = true;
        let mut obs = compliant();
        obs.archive_policy = Some(
            serde_json::from_value(json!({"id": "p", "name": "default", "etag": "\"1\"",
                "properties": {"immutabilityPeriodSinceCreationInDays": 1, "state": "Locked"}}))
            .expect("policy"),
        );
        for t in obs.tables.values_mut().flatten() {
            t.properties["totalRetentionInDays"] = json!(30);
        }
        let findings = evaluate(&e, &obs);
        for id in ["storage.immutable-audit-archive", "law.retention-6y"] {
            let f = findings.iter().find(|f| f.id() == id).expect(id);
            assert_eq!(f.found, Found::Drifted, "{id}: {f:?}");
            assert!(f.expected.contains("2192"), "{id}: {}", f.expected);
        }
        let p = plan(&e, &obs, &findings.iter().collect::<Vec<_>>());
        let tables: Vec<&ArmWrite> = p
            .writes
            .iter()
            .filter(|w| matches!(w, ArmWrite::Put { op, .. } if *op == PUT_TABLE))
            .collect();
        assert!(!tables.is_empty());
        for w in tables {
            let ArmWrite::Put { body, .. } = w else {
                unreachable!()
            };
            assert_eq!(body["properties"]["totalRetentionInDays"], json!(2192));
        }
        // A longer spec is kept as asked.
        e.total_retention_in_days = 3000;
        assert_eq!(e.total_retention(), 3000);
    }

    #[test]
    fn the_archive_is_locked_only_when_asked_and_only_once_the_period_is_right() {
        let mut e = expect();
        let mut obs = compliant();
        obs.archive_policy = Some(
            serde_json::from_value(json!({"id": "p", "name": "default", "etag": "\"8d5\"",
                "properties": {"immutabilityPeriodSinceCreationInDays": 2192, "state": "Unlocked"}}))
            .expect("policy"),
        );
        let findings = evaluate(&e, &obs);
        let archive = findings
            .iter()
            .find(|f| f.id() == "storage.immutable-audit-archive")
            .expect("archive");
        assert_eq!(archive.found, Found::Drifted);
        assert!(
            archive
                .message
                .as_deref()
                .unwrap_or("")
                .contains("lock is true"),
            "{archive:?}"
        );
        assert!(plan(&e, &obs, &findings.iter().collect::<Vec<_>>()).is_empty());
        e.archive.as_mut().expect("archive").lock = true;
        let findings = evaluate(&e, &obs);
        let p = plan(&e, &obs, &findings.iter().collect::<Vec<_>>());
        assert_eq!(
            p.writes,
            vec![ArmWrite::Post {
                op: LOCK_IMMUTABILITY,
                id: format!("{}/lock", e.archive.as_ref().expect("a").policy_id()),
                body: None,
                if_match: Some("\"8d5\"".into()),
            }]
        );
        // A short unlocked period is extended first; the lock waits for the next pass.
        obs.archive_policy.as_mut().expect("p").properties["immutabilityPeriodSinceCreationInDays"] =
            json!(30);
        let findings = evaluate(&e, &obs);
        let p = plan(&e, &obs, &findings.iter().collect::<Vec<_>>());
        assert!(matches!(&p.writes[..], [ArmWrite::Put { op, .. }] if *op == PUT_IMMUTABILITY));
    }

    #[test]
    fn purge_rights_outside_break_glass_are_reported_never_removed() {
        let e = expect();
        let mut obs = compliant();
        obs.log_analytics_access = Ok(vec![
            Reaching {
                principal_id: "bg".into(),
                scope: SUB.into(),
                role: role("Owner", &["*"], &[]),
            },
            Reaching {
                principal_id: "deployer".into(),
                scope: "/subscriptions/s".into(),
                role: role("Contributor", &["*"], &["Microsoft.Authorization/*/Write"]),
            },
            Reaching {
                principal_id: "reader".into(),
                scope: SUB.into(),
                role: role("Reader", &["*/read"], &[]),
            },
            Reaching {
                principal_id: "no-purge".into(),
                scope: SUB.into(),
                role: role(
                    "Custom",
                    &["Microsoft.OperationalInsights/*"],
                    &[PURGE_ACTION],
                ),
            },
        ]);
        let findings = evaluate(&e, &obs);
        let purge = findings
            .iter()
            .find(|f| f.id() == "law.purge-restricted")
            .expect("p");
        assert_eq!(purge.found, Found::Drifted);
        assert_eq!(
            purge.observed,
            "can purge: deployer (Contributor at /subscriptions/s)"
        );
        assert!(plan(&e, &obs, &findings.iter().collect::<Vec<_>>()).is_empty());
        obs.log_analytics_access = Err("403".into());
        let findings = evaluate(&e, &obs);
        assert_eq!(state(&findings, "law.purge-restricted"), Found::Error);
    }

    #[test]
    fn soft_delete_retention_below_90_days_is_reported_not_patched() {
        let e = expect();
        let mut obs = compliant();
        obs.vault.properties["softDeleteRetentionInDays"] = json!(7);
        let findings = evaluate(&e, &obs);
        assert_eq!(state(&findings, "kv.soft-delete"), Found::Drifted);
        assert!(plan(&e, &obs, &findings.iter().collect::<Vec<_>>()).is_empty());
        obs.vault.properties["enableSoftDelete"] = json!(false);
        obs.vault.properties["softDeleteRetentionInDays"] = json!(90);
        let findings = evaluate(&e, &obs);
        let p = plan(&e, &obs, &findings.iter().collect::<Vec<_>>());
        assert_eq!(p.remediates, vec!["kv.soft-delete"]);
    }
}
