//! Tests of the SQL evaluator and planner, against the recorded Microsoft.Sql examples.

use super::*;
use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::azure::resources::ArmResource;
use crate::controls::finding::{Finding, Found};
use crate::controls::plan::ArmWrite;

/// The control ids this module's evaluator reports, for the catalog coverage test.
pub(crate) fn evaluated_ids() -> Vec<&'static str> {
    evaluate(&expect(), &recorded())
        .iter()
        .map(Finding::id)
        .collect()
}
use crate::catalog;

const SERVER: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/sqlcrud";

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
        vulnerability_assessment: None,
        classic_assessment: None,
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

#[test]
fn vulnerability_assessment_express_or_classic_scans_comply_and_only_a_bare_server_is_switched_on()
{
    use crate::api::common::Awaiting;
    let e = expect();
    let va = |express: Option<&str>, classic: Option<Value>| {
        let mut obs = recorded();
        obs.vulnerability_assessment = express.map(|state| {
            let mut r = example("SqlVulnerabilityAssessmentGet.json");
            r.properties["state"] = json!(state);
            r
        });
        obs.classic_assessment = classic.map(|recurring| {
            let mut r = example("ServerVulnerabilityAssessmentGet.json");
            r.properties["storageContainerPath"] =
                json!("https://stva.blob.core.windows.net/vulnerability-assessment/");
            r.properties["recurringScans"] = recurring;
            r
        });
        obs
    };
    let finding = |obs: &SqlObservation| {
        evaluate(&e, obs)
            .into_iter()
            .find(|f| f.id() == "sql.vulnerability-assessment")
            .expect("evaluated")
    };
    let puts = |obs: &SqlObservation| {
        let f = evaluate(&e, obs);
        plan(&e, obs, &f.iter().collect::<Vec<_>>())
            .writes
            .into_iter()
            .filter(|w| w.id().ends_with("/sqlVulnerabilityAssessments/default"))
            .collect::<Vec<_>>()
    };
    // The recorded express configuration (Enabled), and classic recurring scans: compliant.
    for obs in [
        va(Some("Enabled"), None),
        va(Some("Disabled"), Some(json!({"isEnabled": true}))),
    ] {
        assert_eq!(finding(&obs).found, Found::Compliant, "{obs:?}");
        assert!(puts(&obs).is_empty());
    }
    // Nothing on: one PUT of the express configuration.
    let off = va(Some("Disabled"), None);
    assert_eq!(finding(&off).found, Found::Drifted);
    assert!(matches!(
        puts(&off).as_slice(),
        [ArmWrite::Put { body, .. }] if body == &json!({"properties": {"state": "Enabled"}})
    ));
    // A classic configuration with its scans off: Azure would refuse the express one beside it.
    let idle = va(Some("Disabled"), Some(json!({"isEnabled": false})));
    let f = finding(&idle);
    assert_eq!((f.found, f.awaiting()), (Found::Drifted, Awaiting::Person));
    assert!(puts(&idle).is_empty());
}
