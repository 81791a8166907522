//! The SQL evaluator: every `sql.*` control of a server and its databases, from what was read.

use serde_json::{Value, json};

use super::AUDIT_GROUPS;
use super::model::{Database, SqlExpectations, SqlObservation, name, open_rule, user_databases};
use crate::azure::resources::ArmResource;
use crate::controls::common;
use crate::controls::finding::{Finding, Found};
use crate::controls::plan::at;

/// Six years, in days (`sql.audit-retention-6y`); `0` means unlimited.
use crate::controls::workspace::SIX_YEARS_DAYS;

/// SQL controls this module does not evaluate, and why.
pub const NOT_YET_EVALUATED: &[(&str, &str)] = &[];

/// How the server's vulnerability assessment stands.
pub(super) enum Assessment {
    /// The express configuration is on.
    Express,
    /// The classic configuration runs recurring scans.
    ClassicScans,
    /// A classic configuration with a storage container, scans off: Azure refuses the express
    /// configuration beside it (`SqlVulnerabilityAssessmentStoragefullApiIsEnabled`).
    ClassicIdle,
    Off,
}

pub(super) fn assessment(obs: &SqlObservation) -> Assessment {
    let express = at(
        &props(obs.vulnerability_assessment.as_ref()),
        "properties.state",
    )
    .and_then(Value::as_str)
    .is_some_and(|s| s.eq_ignore_ascii_case("Enabled"));
    let classic = props(obs.classic_assessment.as_ref());
    let scans = at(&classic, "properties.recurringScans.isEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let storage = at(&classic, "properties.storageContainerPath")
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty());
    match (express, storage, scans) {
        (true, _, _) => Assessment::Express,
        (false, true, true) => Assessment::ClassicScans,
        (false, true, false) => Assessment::ClassicIdle,
        (false, false, _) => Assessment::Off,
    }
}

fn props(r: Option<&ArmResource>) -> Value {
    r.map(|r| json!({ "properties": r.properties }))
        .unwrap_or(Value::Null)
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

/// Evaluates every SQL control this module knows.
pub fn evaluate(expect: &SqlExpectations, obs: &SqlObservation) -> Vec<Finding> {
    let server = json!({ "properties": obs.server.properties });
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
    let mut out = crate::controls::setting::evaluate(super::SETTINGS, &server);
    out.extend([
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
        {
            let expected = "express configuration Enabled (or classic recurring scans on)";
            match assessment(obs) {
                Assessment::Express => Finding::check(
                    "sql.vulnerability-assessment",
                    true,
                    expected,
                    "express configuration Enabled",
                ),
                Assessment::ClassicScans => Finding::check(
                    "sql.vulnerability-assessment",
                    true,
                    expected,
                    "classic configuration, recurring scans on",
                ),
                Assessment::ClassicIdle => Finding::check(
                    "sql.vulnerability-assessment",
                    false,
                    expected,
                    "classic configuration with a storage container, recurring scans off",
                )
                .awaiting_person(format!(
                    "Azure refuses the express configuration beside a classic one: turn the classic recurring scans on (az sql server va-setting update -g {rg} -n {srv} --recurring-scans-enabled true), or remove the classic configuration and the operator turns the express one on; or exempt sql.vulnerability-assessment in spec.exemptions"
                )),
                Assessment::Off => Finding::check(
                    "sql.vulnerability-assessment",
                    false,
                    expected,
                    "express configuration Disabled, no classic configuration",
                ),
            }
        },
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
    ]);
    out
}
