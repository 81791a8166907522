//! Tests of the workspace evaluator and planner, against the recorded vault and Log Analytics
//! examples.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::azure::authorization::RoleDefinition;
use crate::azure::insights::DiagnosticSetting;
use crate::azure::resources::ArmResource;
use crate::controls::finding::{Finding, Found};
use crate::controls::plan::ArmWrite;

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
        log_analytics_id: format!("{SUB}/providers/Microsoft.OperationalInsights/workspaces/law"),
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
        vault_defender: crate::controls::defender::DefenderExpectations::of(
            "kv.defender",
            &format!("{SUB}/providers/Microsoft.KeyVault/vaults/kv"),
            |_| true,
        ),
    }
}

fn key_vaults_plan(tier: &str) -> ArmResource {
    serde_json::from_value(json!({
        "id": "/subscriptions/s/providers/Microsoft.Security/pricings/KeyVaults",
        "name": "KeyVaults", "type": "Microsoft.Security/pricings",
        "properties": {"pricingTier": tier, "freeTrialRemainingTime": "PT0S"}
    }))
    .expect("pricing")
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
        log_analytics_locks: Ok(vec![]),
        archive_container: None,
        archive_policy: None,
        data_exports: Ok(vec![]),
        operator_principal: Ok("op".into()),
        vault_defender: Some(Ok(key_vaults_plan("Free"))),
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
    obs.vault_defender = Some(Ok(key_vaults_plan("Standard")));
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
    // A delete lock inherited from the resource group counts.
    obs.log_analytics_locks = Ok(vec![lock("rg-lock", "CanNotDelete")]);
    obs.archive_container = Some(ArmResource::default());
    obs.archive_policy = Some(
        serde_json::from_value(json!({"id": "p", "name": "default", "etag": "\"8d5\"",
            "properties": {"immutabilityPeriodSinceCreationInDays": 2192, "state": "Locked"}}))
        .expect("policy"),
    );
    obs.data_exports = Ok(vec![recorded_export(
        &e.archive.as_ref().expect("archive").account_id,
        &["StorageBlobLogs"],
    )]);
    obs
}

/// The recorded data export (DataExportGet.json), sent to `destination` with `tables`.
fn recorded_export(destination: &str, tables: &[&str]) -> ArmResource {
    let mut export = example(
        "Microsoft.OperationalInsights/2025-02-01/DataExportGet.json",
        "200",
    );
    export.properties["destination"] = json!({"resourceId": destination, "type": "StorageAccount"});
    export.properties["tableNames"] = json!(tables);
    export
}

fn lock(name: &str, level: &str) -> crate::azure::locks::ManagementLock {
    serde_json::from_value(
        json!({"id": format!("{SUB}/providers/Microsoft.Authorization/locks/{name}"),
        "name": name, "properties": {"level": level}}),
    )
    .expect("lock")
}

/// `law.delete-lock`: any lock refusing deletes counts, wherever it is placed; without one the
/// plan PUTs the operator's own CanNotDelete lock on the workspace (never another level, never a
/// removal); locks that could not be read are an error, not a drift.
#[test]
fn the_log_analytics_workspace_keeps_a_delete_lock() {
    let e = expect();
    let mut obs = compliant();
    for (locks, compliant) in [
        (vec![lock("mine", "CanNotDelete")], true),
        (vec![lock("frozen", "ReadOnly")], true),
        (vec![lock("odd", "NotSpecified")], false),
        (vec![], false),
    ] {
        obs.log_analytics_locks = Ok(locks.clone());
        let findings = evaluate(&e, &obs);
        let want = if compliant {
            Found::Compliant
        } else {
            Found::Drifted
        };
        assert_eq!(state(&findings, "law.delete-lock"), want, "{locks:?}");
        let planned = plan(&e, &obs, &findings.iter().collect::<Vec<_>>());
        let puts: Vec<_> = planned
            .writes
            .iter()
            .filter_map(|w| match w {
                ArmWrite::Put { op, id, body }
                    if op.operation == "ManagementLocks_CreateOrUpdateByScope" =>
                {
                    Some((id.clone(), body.clone()))
                }
                _ => None,
            })
            .collect();
        if compliant {
            assert!(planned.is_empty(), "{planned:?}");
        } else {
            assert_eq!(
                puts,
                vec![(
                    format!(
                        "{}/providers/Microsoft.Authorization/locks/hipaa-operator-delete-lock",
                        e.log_analytics_id
                    ),
                    puts[0].1.clone()
                )]
            );
            assert_eq!(puts[0].1["properties"]["level"], "CanNotDelete");
            assert!(
                puts[0].1["properties"]["notes"]
                    .as_str()
                    .is_some_and(|n| n.len() <= 512),
                "notes fit Azure's 512 characters"
            );
        }
        assert!(
            !planned
                .writes
                .iter()
                .any(|w| matches!(w, ArmWrite::Delete { .. })),
            "the operator never removes a lock"
        );
    }
    obs.log_analytics_locks = Err("403 AuthorizationFailed".into());
    let findings = evaluate(&e, &obs);
    assert_eq!(state(&findings, "law.delete-lock"), Found::Error);
    assert!(plan(&e, &obs, &findings.iter().collect::<Vec<_>>()).is_empty());
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
        "law.delete-lock",
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

#[test]
fn the_vaults_defender_plan_is_evaluated_and_turned_on_only_on_a_granted_subscription() {
    let mut obs = compliant();
    obs.vault_defender = Some(Ok(key_vaults_plan("Free")));
    let e = expect();
    let findings = evaluate(&e, &obs);
    let drifted: Vec<&str> = findings
        .iter()
        .filter(|f| f.found != Found::Compliant && f.found != Found::NotApplicable)
        .map(|f| f.id())
        .collect();
    assert_eq!(drifted, vec!["kv.defender"]);
    let p = plan(&e, &obs, &findings.iter().collect::<Vec<_>>());
    assert_eq!(p.remediates, vec!["kv.defender"]);
    assert!(
        matches!(
            p.writes.as_slice(),
            [crate::controls::plan::ArmWrite::Put { id, body, .. }]
                if id == "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/providers/Microsoft.Security/pricings/KeyVaults"
                    && body == &json!({"properties": {"pricingTier": "Standard"}})
        ),
        "{:?}",
        p.writes
    );

    let mut not_granted = expect();
    not_granted.vault_defender = crate::controls::defender::DefenderExpectations::of(
        "kv.defender",
        &not_granted.vault_id,
        |_| false,
    );
    let findings = evaluate(&not_granted, &obs);
    assert!(plan(&not_granted, &obs, &findings.iter().collect::<Vec<_>>()).is_empty());
}

#[test]
fn the_audit_tables_export_to_the_archive_account_and_the_operator_adds_what_is_missing() {
    let e = expect();
    let archive = e.archive.as_ref().expect("archive").account_id.clone();
    let state = |obs: &WorkspaceObservation| {
        evaluate(&e, obs)
            .into_iter()
            .find(|f| f.id() == "law.immutable-export")
            .expect("evaluated")
    };
    // The recorded export goes to an event hub: it does not count.
    let mut obs = compliant();
    obs.data_exports = Ok(vec![example(
        "Microsoft.OperationalInsights/2025-02-01/DataExportGet.json",
        "200",
    )]);
    let f = state(&obs);
    assert_eq!(f.found, Found::Drifted, "{f:?}");
    let findings = evaluate(&e, &obs);
    let p = plan(&e, &obs, &findings.iter().collect::<Vec<_>>());
    assert!(
        p.writes
            .iter()
            .any(|w| matches!(w, ArmWrite::Put { id, body, .. }
            if id.ends_with("/dataExports/hipaa-audit-export")
                && body["properties"]["destination"]["resourceId"] == json!(archive)
                && body["properties"]["tableNames"] == json!(["StorageBlobLogs"])
                && body["properties"]["enable"] == json!(true))),
        "{:?}",
        p.writes
    );
    assert_eq!(p.remediates, vec!["law.immutable-export"]);
    // A disabled export, or one missing an audit table, does not count either.
    let mut disabled = recorded_export(&archive, &["StorageBlobLogs"]);
    disabled.properties["enable"] = json!(false);
    obs.data_exports = Ok(vec![disabled, recorded_export(&archive, &["Heartbeat"])]);
    assert_eq!(state(&obs).found, Found::Drifted);
    // Unread: an error, never compliant; no write.
    obs.data_exports = Err("403 AuthorizationFailed".into());
    assert_eq!(state(&obs).found, Found::Error);
    let findings = evaluate(&e, &obs);
    assert!(
        !plan(&e, &obs, &findings.iter().collect::<Vec<_>>())
            .remediates
            .contains(&"law.immutable-export")
    );
    // The operator's own export keeps a table someone added to it.
    let mut own = recorded_export(&archive, &["Heartbeat"]);
    own.name = "hipaa-audit-export".into();
    obs.data_exports = Ok(vec![own]);
    let findings = evaluate(&e, &obs);
    let p = plan(&e, &obs, &findings.iter().collect::<Vec<_>>());
    assert!(
        p.writes
            .iter()
            .any(|w| matches!(w, ArmWrite::Put { body, .. }
            if body["properties"]["tableNames"] == json!(["Heartbeat", "StorageBlobLogs"]))),
        "{:?}",
        p.writes
    );
}

#[test]
fn the_operators_own_roles_are_held_to_the_generated_one_and_only_reported() {
    let e = expect();
    let finding = |obs: &WorkspaceObservation| {
        evaluate(&e, obs)
            .into_iter()
            .find(|f| f.id() == "op.least-privilege-role")
            .expect("evaluated")
    };
    let with = |assignments: Vec<Reaching>| {
        let mut obs = compliant();
        if let Ok(r) = &mut obs.log_analytics_access {
            r.extend(assignments);
        }
        obs
    };
    let at = |principal: &str, role: RoleDefinition| Reaching {
        principal_id: principal.into(),
        scope: SUB.into(),
        role,
    };
    // The generated role itself, Key Vault Crypto Officer, and someone else's Owner: compliant.
    let generated: Vec<&str> = crate::azure::permissions::actions();
    let mut officer = role("14b46e9e-c2b7-41b4-b07b-48a6ebf60603", &[], &[]);
    officer.properties.role_name = "Key Vault Crypto Officer".into();
    officer.properties.permissions[0].data_actions =
        vec!["Microsoft.KeyVault/vaults/keys/*".into()];
    let obs = with(vec![
        at("op", role("hipaa-operator", &generated, &[])),
        at("op", officer),
    ]);
    assert_eq!(finding(&obs).found, Found::Compliant, "{:?}", finding(&obs));
    // Contributor and one action too many: drifted, for a person (the operator never changes
    // its own rights), each named with what it adds.
    let mut more = generated.clone();
    more.push("Microsoft.Storage/storageAccounts/delete");
    let obs = with(vec![
        at(
            "op",
            role("Contributor", &["*"], &["Microsoft.Authorization/*/Write"]),
        ),
        at("op", role("hipaa-operator-plus", &more, &[])),
    ]);
    let f = finding(&obs);
    assert_eq!(
        (f.found, f.awaiting()),
        (Found::Drifted, crate::api::common::Awaiting::Person)
    );
    assert!(
        f.observed.contains("Contributor at") && f.observed.contains("(*)"),
        "{}",
        f.observed
    );
    assert!(
        f.observed.contains("hipaa-operator-plus at")
            && f.observed
                .contains("Microsoft.Storage/storageAccounts/delete"),
        "{}",
        f.observed
    );
    assert!(
        f.message
            .as_deref()
            .is_some_and(|m| m.contains("hipaa-operator azure-role"))
    );
    let findings = evaluate(&e, &obs);
    assert!(
        !plan(&e, &obs, &findings.iter().collect::<Vec<_>>())
            .remediates
            .contains(&"op.least-privilege-role")
    );
    // Unknown principal or unread assignments: an error, never compliant.
    let mut unknown = compliant();
    unknown.operator_principal = Err("no token".into());
    assert_eq!(finding(&unknown).found, Found::Error);
}
