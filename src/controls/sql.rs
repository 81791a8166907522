//! The `sql.*` controls of an Azure SQL logical server, its databases and its sub-resources
//! (and its classification tag): evaluation and the plan of the fewest writes. Pure.

use serde_json::{Value, json};

use super::common;
use super::finding::{Finding, Found};
use super::plan::{ArmWrite, Plan, at};
use crate::azure::insights::{DesiredDiagnosticSetting, DiagnosticSetting};
use crate::azure::resources::{ArmResource, api_version};
use crate::azure::types::ArmOp;

const fn op(name: &'static str) -> ArmOp {
    ArmOp::new(name, "Microsoft.Sql", api_version::SQL)
}
pub const PATCH_SERVER: ArmOp = op("Servers_Update");
pub const DELETE_FIREWALL_RULE: ArmOp = op("FirewallRules_Delete");
pub const PUT_TDE: ArmOp = op("TransparentDataEncryptions_CreateOrUpdate");
pub const PUT_SERVER_KEY: ArmOp = op("ServerKeys_CreateOrUpdate");
pub const PUT_PROTECTOR: ArmOp = op("EncryptionProtectors_CreateOrUpdate");
pub const PUT_AUDITING: ArmOp = op("ServerBlobAuditingPolicies_CreateOrUpdate");
pub const PUT_ENTRA_ONLY: ArmOp = op("ServerAzureADOnlyAuthentications_CreateOrUpdate");
pub const PUT_ALERTS: ArmOp = op("ServerSecurityAlertPolicies_CreateOrUpdate");
pub const PUT_LTR: ArmOp = op("LongTermRetentionPolicies_CreateOrUpdate");
pub const PUT_STR: ArmOp = op("BackupShortTermRetentionPolicies_CreateOrUpdate");
pub const PATCH_DATABASE: ArmOp = op("Databases_Update");

/// The audit action groups `sql.audit-action-groups` asks for.
pub const AUDIT_GROUPS: &[&str] = &[
    "SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP",
    "FAILED_DATABASE_AUTHENTICATION_GROUP",
    "BATCH_COMPLETED_GROUP",
];
/// Six years, in days (`sql.audit-retention-6y`); `0` means unlimited.
use super::workspace::SIX_YEARS_DAYS;

/// SQL controls this module does not evaluate, and why.
pub const NOT_YET_EVALUATED: &[(&str, &str)] = &[(
    "sql.vulnerability-assessment",
    "sqlVulnerabilityAssessments has no recorded example in shared/azure-rest-examples, so the simulator cannot serve it faithfully",
)];

/// What the workspace and the store expect of a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlExpectations {
    pub server_id: String,
    pub log_analytics_id: String,
    pub private_endpoint_groups: Vec<String>,
    /// The private DNS zones those endpoints must be registered in.
    pub endpoint_dns: super::common::EndpointDns,
    /// The workspace vault's name and the key's name.
    pub vault_name: String,
    pub key_name: String,
    /// `https://{vault}.vault.azure.net/`.
    pub vault_uri: String,
    pub min_pitr_days: i64,
    pub classification_tag: (String, String),
}

/// One user database and its sub-resources, when read.
#[derive(Clone, Debug, PartialEq)]
pub struct Database {
    pub database: ArmResource,
    pub tde: Option<ArmResource>,
    pub long_term: Option<ArmResource>,
    pub short_term: Option<ArmResource>,
}

/// What was read for one server.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlObservation {
    pub server: ArmResource,
    pub firewall_rules: Vec<ArmResource>,
    pub databases: Vec<Database>,
    pub encryption_protector: Option<ArmResource>,
    pub auditing: Option<ArmResource>,
    /// Diagnostic settings on `databases/master` (where server audit events are routed).
    pub master_diagnostics: Vec<DiagnosticSetting>,
    pub administrator: Option<ArmResource>,
    pub entra_only: Option<ArmResource>,
    pub alert_policy: Option<ArmResource>,
    pub endpoints: super::common::SeenEndpoints,
    /// The latest version of the workspace key, when it exists.
    pub latest_key_version: Option<String>,
}

impl SqlExpectations {
    pub fn master_diagnostics(&self) -> DesiredDiagnosticSetting {
        DesiredDiagnosticSetting {
            resource_id: format!("{}/databases/master", self.server_id),
            workspace_id: self.log_analytics_id.clone(),
            category_groups: vec![],
            categories: vec!["SQLSecurityAuditEvents".into()],
        }
    }
}

fn props(r: Option<&ArmResource>) -> Value {
    r.map(|r| json!({ "properties": r.properties }))
        .unwrap_or(Value::Null)
}

fn name(r: &ArmResource) -> &str {
    &r.name
}

fn user_databases(obs: &SqlObservation) -> impl Iterator<Item = &Database> {
    obs.databases
        .iter()
        .filter(|d| !name(&d.database).eq_ignore_ascii_case("master"))
}

/// Per-database check: the names of the databases failing `ok`.
fn failing(obs: &SqlObservation, ok: impl Fn(&Database) -> bool) -> Vec<String> {
    user_databases(obs)
        .filter(|d| !ok(d))
        .map(|d| name(&d.database).to_string())
        .collect()
}

fn per_database(id: &str, expected: &str, bad: Vec<String>, any: bool) -> Finding {
    if !any {
        return Finding::new(id, Found::NotApplicable, expected, "no user databases");
    }
    Finding::check(
        id,
        bad.is_empty(),
        expected,
        if bad.is_empty() {
            "every user database".to_string()
        } else {
            format!("not on: {}", bad.join(", "))
        },
    )
}

fn open_rule(r: &ArmResource) -> bool {
    let start = r.properties["startIpAddress"].as_str().unwrap_or_default();
    let end = r.properties["endIpAddress"].as_str().unwrap_or_default();
    start == "0.0.0.0" && (end == "0.0.0.0" || end == "255.255.255.255")
}

/// Evaluates every SQL control this module knows.
pub fn evaluate(expect: &SqlExpectations, obs: &SqlObservation) -> Vec<Finding> {
    let server = json!({ "properties": obs.server.properties });
    let tls = at(&server, "properties.minimalTlsVersion").and_then(Value::as_str);
    let public = at(&server, "properties.publicNetworkAccess")
        .and_then(Value::as_str)
        .unwrap_or("Enabled");
    let open: Vec<String> = obs
        .firewall_rules
        .iter()
        .filter(|r| open_rule(r))
        .map(|r| r.name.clone())
        .collect();
    let any_db = user_databases(obs).next().is_some();
    let protector = props(obs.encryption_protector.as_ref());
    let key_type = at(&protector, "properties.serverKeyType")
        .and_then(Value::as_str)
        .unwrap_or("ServiceManaged");
    let key_uri = at(&protector, "properties.uri")
        .and_then(Value::as_str)
        .unwrap_or("");
    let auto_rotation = at(&protector, "properties.autoRotationEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let key_ok = key_type == "AzureKeyVault"
        && auto_rotation
        && key_uri.to_ascii_lowercase().starts_with(&format!(
            "{}/keys/{}/",
            expect.vault_uri.trim_end_matches('/').to_ascii_lowercase(),
            expect.key_name.to_ascii_lowercase()
        ));
    let audit = props(obs.auditing.as_ref());
    let audit_state = at(&audit, "properties.state")
        .and_then(Value::as_str)
        .unwrap_or("Disabled");
    let monitor = at(&audit, "properties.isAzureMonitorTargetEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let groups: Vec<&str> = at(&audit, "properties.auditActionsAndGroups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let missing_groups: Vec<&str> = AUDIT_GROUPS
        .iter()
        .copied()
        .filter(|g| !groups.contains(g))
        .collect();
    let retention = at(&audit, "properties.retentionDays")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let diag = common::diagnostics(
        "sql.audit-to-log-analytics",
        &obs.master_diagnostics,
        &expect.master_diagnostics(),
    );
    let admin = props(obs.administrator.as_ref());
    let admin_kind = at(&admin, "properties.principalType").and_then(Value::as_str);
    let admin_found = obs.administrator.is_some();
    let entra_only = at(
        &props(obs.entra_only.as_ref()),
        "properties.azureADOnlyAuthentication",
    )
    .and_then(Value::as_bool)
    .unwrap_or(false);
    // `-g {rg}` and the server's name, for the commands a person runs.
    let server_id = crate::azure::id::ArmId::parse(&expect.server_id).ok();
    let rg = server_id
        .as_ref()
        .and_then(|i| i.resource_group())
        .unwrap_or("<resource group>")
        .to_string();
    let srv = server_id
        .as_ref()
        .and_then(|i| i.value_of("servers"))
        .unwrap_or("<server>")
        .to_string();
    let alert_policy = props(obs.alert_policy.as_ref());
    let alerts = at(&alert_policy, "properties.state")
        .and_then(Value::as_str)
        .unwrap_or("Disabled");
    vec![
        Finding::check(
            "sql.min-tls-1-2",
            matches!(tls, Some("1.2" | "1.3")),
            "1.2",
            tls.unwrap_or("(not set)"),
        ),
        Finding::check(
            "sql.public-network-disabled",
            public.eq_ignore_ascii_case("Disabled"),
            "Disabled",
            public,
        ),
        common::private_endpoint(
            "sql.private-endpoint",
            &server,
            &obs.endpoints,
            &expect.private_endpoint_groups,
            &expect.endpoint_dns,
        ),
        Finding::check(
            "sql.no-open-firewall",
            open.is_empty(),
            "no rule opening the server to the internet or to all of Azure",
            if open.is_empty() {
                format!("{} rules, none open", obs.firewall_rules.len())
            } else {
                format!("open: {}", open.join(", "))
            },
        ),
        per_database(
            "sql.tde-enabled",
            "TDE Enabled on every user database",
            failing(obs, |d| {
                d.tde
                    .as_ref()
                    .is_some_and(|t| t.properties["state"] == "Enabled")
            }),
            any_db,
        ),
        Finding::check(
            "sql.tde-cmk",
            key_ok,
            format!(
                "AzureKeyVault protector from {}/keys/{}, autoRotationEnabled=true",
                expect.vault_uri.trim_end_matches('/'),
                expect.key_name
            ),
            format!("{key_type} {key_uri}, autoRotationEnabled={auto_rotation}"),
        ),
        Finding::check("sql.auditing-enabled", audit_state == "Enabled", "Enabled", audit_state),
        Finding::check(
            "sql.audit-to-log-analytics",
            monitor && diag.found == Found::Compliant,
            format!("isAzureMonitorTargetEnabled=true; {}", diag.expected),
            format!("isAzureMonitorTargetEnabled={monitor}; {}", diag.observed),
        ),
        Finding::check(
            "sql.audit-action-groups",
            missing_groups.is_empty(),
            AUDIT_GROUPS.join(", "),
            if missing_groups.is_empty() {
                "all present".to_string()
            } else {
                format!("missing {}", missing_groups.join(", "))
            },
        ),
        Finding::check(
            "sql.audit-retention-6y",
            retention == 0 || retention >= SIX_YEARS_DAYS,
            format!("0 (unlimited) or >= {SIX_YEARS_DAYS} days"),
            format!("{retention} days"),
        ),
        Finding::check(
            "sql.entra-admin",
            admin_found && admin_kind.is_some_and(|k| k.eq_ignore_ascii_case("Group")),
            "an Entra ID group as administrator",
            match (admin_found, admin_kind) {
                (false, _) => "no Entra ID administrator".to_string(),
                (true, kind) => format!("administrator of type {}", kind.unwrap_or("(not set)")),
            },
        )
        .with_next_step(format!(
            "the operator does not choose who administers a server: name an Entra ID group (az sql server ad-admin create -g {rg} -s {srv} --display-name <group> --object-id <group object id>, or the portal's Microsoft Entra ID page of the server), or exempt sql.entra-admin in this PhiStore's spec.exemptions"
        )),
        {
            let f = Finding::check(
                "sql.entra-only-auth",
                entra_only,
                "true",
                entra_only.to_string(),
            );
            if admin_found {
                f
            } else {
                // Azure refuses Entra-only authentication without an Entra administrator.
                f.awaiting_person(format!(
                    "waits for sql.entra-admin: once the server has an Entra ID administrator the operator turns Entra-only authentication on (Enforce mode; by hand: az sql server ad-only-auth enable -g {rg} -n {srv}), or exempt sql.entra-only-auth in spec.exemptions"
                ))
            }
        },
        Finding::check("sql.defender", alerts == "Enabled", "Enabled", alerts),
        per_database(
            "sql.ltr-backup",
            "a long-term retention (e.g. yearlyRetention P6Y) on every user database",
            failing(obs, |d| {
                let p = props(d.long_term.as_ref());
                ["weeklyRetention", "monthlyRetention", "yearlyRetention"]
                    .iter()
                    .any(|k| {
                        at(&p, &format!("properties.{k}"))
                            .and_then(Value::as_str)
                            .is_some_and(|v| v != "PT0S")
                    })
            }),
            any_db,
        ),
        per_database(
            "sql.pitr-retention",
            &format!("point-in-time restore of at least {} days", expect.min_pitr_days),
            failing(obs, |d| {
                at(&props(d.short_term.as_ref()), "properties.retentionDays")
                    .and_then(Value::as_i64)
                    .is_some_and(|r| r >= expect.min_pitr_days)
            }),
            any_db,
        ),
        per_database(
            "sql.backup-redundancy",
            "Geo or GeoZone backup storage",
            failing(obs, |d| {
                matches!(
                    d.database.properties["requestedBackupStorageRedundancy"].as_str(),
                    Some("Geo" | "GeoZone")
                )
            }),
            any_db,
        ),
        per_database(
            "sql.ledger",
            "ledger on for tamper-evident tables (chosen when a database is created)",
            failing(obs, |d| d.database.properties["isLedgerOn"] == true),
            any_db,
        )
        .with_next_step(format!(
            "ledger can only be chosen when a database is created: create a ledger database (az sql db create -g {rg} -s {srv} -n <database> --ledger-on) and move the tables, or exempt sql.ledger in this PhiStore's spec.exemptions"
        )),
        common::classification_tag(
            obs.server.tags.as_ref(),
            (&expect.classification_tag.0, &expect.classification_tag.1),
        ),
    ]
}

/// The fewest writes for the drifted, automatically remediable findings of `to_fix`.
pub fn plan(expect: &SqlExpectations, obs: &SqlObservation, to_fix: &[&Finding]) -> Plan {
    let mut plan = Plan::default();
    let drifted = |id: &str| super::plan::remediable(to_fix, id);
    let endpoint_ok = !to_fix
        .iter()
        .any(|f| f.id() == "sql.private-endpoint" && f.found != Found::Compliant);
    // Azure refuses Entra-only authentication until an Entra administrator exists.
    let admin_ok = obs.administrator.is_some();
    let server = &expect.server_id;
    let mut props = serde_json::Map::new();
    let mut patch = serde_json::Map::new();
    let mut fixes: Vec<&'static str> = Vec::new();
    if drifted("sql.min-tls-1-2") {
        props.insert("minimalTlsVersion".into(), json!("1.2"));
        fixes.push("sql.min-tls-1-2");
    }
    if drifted("sql.public-network-disabled") && endpoint_ok {
        props.insert("publicNetworkAccess".into(), json!("Disabled"));
        fixes.push("sql.public-network-disabled");
    }
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
    if !props.is_empty() {
        patch.insert("properties".into(), Value::Object(props));
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
            fixes.push(match id {
                "sql.tde-enabled" => "sql.tde-enabled",
                "sql.ltr-backup" => "sql.ltr-backup",
                "sql.pitr-retention" => "sql.pitr-retention",
                _ => "sql.backup-redundancy",
            });
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
                fixes.push(match id {
                    "sql.auditing-enabled" => "sql.auditing-enabled",
                    "sql.audit-to-log-analytics" => "sql.audit-to-log-analytics",
                    "sql.audit-action-groups" => "sql.audit-action-groups",
                    _ => "sql.audit-retention-6y",
                });
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
    if drifted("sql.private-endpoint") {
        plan.private_endpoint_groups = expect.private_endpoint_groups.clone();
        fixes.push("sql.private-endpoint");
    }
    fixes.into_iter().for_each(|f| plan.remediates(f));
    plan
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The control ids this module's evaluator reports, for the catalog coverage test.
    pub(crate) fn evaluated_ids() -> Vec<&'static str> {
        evaluate(&expect(), &recorded())
            .iter()
            .map(Finding::id)
            .collect()
    }
    use crate::catalog;

    const SERVER: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/sqlcrud";

    fn example(file: &str) -> ArmResource {
        let path = format!(
            "{}/../shared/azure-rest-examples/Microsoft.Sql/2023-08-01/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("json");
        serde_json::from_value(v["responses"]["200"]["body"].clone()).expect("resource")
    }

    fn expect() -> SqlExpectations {
        SqlExpectations {
            server_id: SERVER.into(),
            log_analytics_id: "/law".into(),
            private_endpoint_groups: vec!["sqlServer".into()],
            endpoint_dns: crate::controls::common::fixtures::dns(&["sqlServer"]),
            vault_name: "kv-clinical".into(),
            key_name: "sql-cmk".into(),
            vault_uri: "https://kv-clinical.vault.azure.net/".into(),
            min_pitr_days: 7,
            classification_tag: ("data-classification".into(), "phi".into()),
        }
    }

    fn resource(id: &str, properties: Value) -> ArmResource {
        serde_json::from_value(
            json!({"id": id, "name": id.rsplit('/').next(), "properties": properties}),
        )
        .expect("resource")
    }

    fn recorded() -> SqlObservation {
        SqlObservation {
            server: example("ServerGet.json"),
            firewall_rules: vec![resource(
                &format!("{SERVER}/firewallRules/AllowAllWindowsAzureIps"),
                json!({"startIpAddress": "0.0.0.0", "endIpAddress": "0.0.0.0"}),
            )],
            databases: vec![Database {
                database: resource(&format!("{SERVER}/databases/scheduling"), json!({})),
                tde: None,
                long_term: None,
                short_term: None,
            }],
            encryption_protector: Some(example("EncryptionProtectorGet.json")),
            auditing: Some(example("ServerBlobAuditingGet.json")),
            master_diagnostics: vec![],
            administrator: None,
            entra_only: None,
            alert_policy: None,
            endpoints: BTreeMap::new(),
            latest_key_version: Some("v1".into()),
        }
    }

    fn state(f: &[Finding], id: &str) -> Found {
        f.iter().find(|x| x.id() == id).map(|x| x.found).expect(id)
    }

    #[test]
    fn every_sql_control_is_evaluated_or_listed() {
        let f = evaluate(&expect(), &recorded());
        for id in catalog::ids().filter(|i| i.starts_with("sql.")) {
            assert!(
                f.iter().any(|x| x.id() == id) ^ NOT_YET_EVALUATED.iter().any(|(n, _)| *n == id),
                "{id} must be evaluated or listed, not both"
            );
        }
    }

    #[test]
    fn the_recorded_server_drifts_and_the_plan_writes_each_sub_resource_once() {
        let e = expect();
        let obs = recorded();
        let f = evaluate(&e, &obs);
        for id in [
            "sql.no-open-firewall",
            "sql.tde-enabled",
            "sql.tde-cmk",
            "sql.auditing-enabled",
            "sql.audit-action-groups",
            "sql.entra-admin",
            "sql.defender",
            "sql.ltr-backup",
            "sql.backup-redundancy",
            "sql.ledger",
        ] {
            assert_eq!(state(&f, id), Found::Drifted, "{id}");
        }
        // Retention 0 is unlimited.
        assert_eq!(state(&f, "sql.audit-retention-6y"), Found::Compliant);
        let p = plan(&e, &obs, &f.iter().collect::<Vec<_>>());
        let ids: Vec<&str> = p.writes.iter().map(ArmWrite::id).collect();
        assert_eq!(
            ids.iter()
                .filter(|i| i.ends_with("/auditingSettings/default"))
                .count(),
            1,
            "one auditing PUT: {ids:?}"
        );
        assert!(
            ids.iter()
                .any(|i| i.ends_with("/firewallRules/AllowAllWindowsAzureIps"))
        );
        assert!(
            ids.iter()
                .any(|i| i.ends_with("/encryptionProtector/current"))
        );
        assert!(
            ids.iter()
                .any(|i| i.ends_with("/keys/kv-clinical_sql-cmk_v1"))
        );
        // Report-only and missing prerequisites: no write.
        assert!(!p.remediates.contains(&"sql.ledger"));
        assert!(!p.remediates.contains(&"sql.entra-admin"));
        assert!(
            !p.remediates.contains(&"sql.entra-only-auth"),
            "needs an Entra admin first"
        );
        assert!(
            !p.remediates.contains(&"sql.public-network-disabled"),
            "needs the endpoint first"
        );
    }

    #[test]
    fn what_only_a_person_can_do_says_who_and_how() {
        use crate::api::common::Awaiting;
        let f = evaluate(&expect(), &recorded());
        let get = |id: &str| f.iter().find(|x| x.id() == id).expect(id);
        for (id, command) in [
            (
                "sql.entra-admin",
                "az sql server ad-admin create -g rg -s sqlcrud",
            ),
            (
                "sql.entra-only-auth",
                "az sql server ad-only-auth enable -g rg -n sqlcrud",
            ),
            ("sql.ledger", "--ledger-on"),
        ] {
            let finding = get(id);
            assert_eq!(finding.found, Found::Drifted, "{id}");
            assert_eq!(finding.awaiting(), Awaiting::Person, "{id}");
            let message = finding.message.as_deref().unwrap_or_default();
            assert!(
                message.contains(command) && message.contains(&format!("exempt {id}")),
                "{id}: {message}"
            );
        }
        assert_eq!(get("sql.tde-cmk").awaiting(), Awaiting::Operator);
        assert_eq!(get("sql.no-open-firewall").awaiting(), Awaiting::Operator);

        // With an administrator the operator turns Entra-only authentication on itself.
        let mut obs = recorded();
        obs.administrator = Some(resource(
            &format!("{SERVER}/administrators/ActiveDirectory"),
            json!({"principalType": "Group", "login": "phi-dbas"}),
        ));
        let f = evaluate(&expect(), &obs);
        let only = f
            .iter()
            .find(|x| x.id() == "sql.entra-only-auth")
            .expect("f");
        assert_eq!(
            (only.found, only.awaiting()),
            (Found::Drifted, Awaiting::Operator)
        );
        assert_eq!(only.message, None);
        let admin = f.iter().find(|x| x.id() == "sql.entra-admin").expect("f");
        assert_eq!(
            (admin.found, admin.message.as_deref()),
            (Found::Compliant, None)
        );
    }

    #[test]
    fn without_the_key_the_protector_waits_for_the_next_pass() {
        let e = expect();
        let mut obs = recorded();
        obs.latest_key_version = None;
        let f = evaluate(&e, &obs);
        let p = plan(&e, &obs, &f.iter().collect::<Vec<_>>());
        assert!(p.ensure_key);
        assert!(
            !p.writes
                .iter()
                .any(|w| w.id().ends_with("/encryptionProtector/current"))
        );
        assert!(!p.remediates.contains(&"sql.tde-cmk"));
    }
}
