//! The HipaaWorkspace controller end to end: the operator binary, the real API server and
//! azure-sim seeded with the example estate (a vault without purge protection, a Log Analytics
//! workspace keeping 30 days, an archive account without a container, no policy assignment).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use azure_core::http::Method;
use hipaa_operator::api::{HipaaWorkspace, PhiStore};
use hipaa_operator::azure::resources;
use hipaa_operator::controls::workspace::{GET_IMMUTABILITY, PATCH_LOG_ANALYTICS, PATCH_VAULT};
use serde_json::json;
use support::estate::{Estate, INTERVAL_SECS, WORKSPACE};
use support::store::StoreFixture;
use support::{secs, sim};

fn vault_id() -> String {
    format!(
        "{}/providers/Microsoft.KeyVault/vaults/kv-clinical-cmk",
        sim::RG
    )
}
fn law_id() -> String {
    format!(
        "{}/providers/Microsoft.OperationalInsights/workspaces/law-clinical-audit",
        sim::RG
    )
}
fn assignment_id() -> String {
    format!(
        "{}/providers/Microsoft.Authorization/policyAssignments/hipaa-hitrust",
        sim::RG
    )
}
fn policy_id() -> String {
    format!(
        "{}/providers/Microsoft.Storage/storageAccounts/stclinicalauditarchive/blobServices/default/containers/hipaa-audit-archive/immutabilityPolicies/default",
        sim::RG
    )
}

fn condition(ws: &HipaaWorkspace, type_: &str) -> Option<(String, String)> {
    ws.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

fn states(ws: &HipaaWorkspace) -> BTreeMap<String, String> {
    ws.status
        .iter()
        .flat_map(|s| s.controls.iter())
        .map(|c| (c.id.clone(), format!("{:?}", c.state)))
        .collect()
}

#[tokio::test]
async fn audit_lists_every_finding_and_enforce_converges_reverts_drift_and_locks_only_when_asked() {
    let e = Estate::test("ws-modes").audit().start().await;

    // Audit: every finding listed, nothing written.
    let ws = e
        .wait_workspace("evaluated", secs(60), |ws| {
            condition(ws, "Ready").is_some_and(|(_, r)| r == "Drifted")
        })
        .await;
    let found = states(&ws);
    for id in [
        "kv.purge-protection",
        "kv.public-network-disabled",
        "kv.firewall-default-deny",
        "kv.private-endpoint",
        "kv.diag-audit-event",
        "law.retention-6y",
        "law.public-network-disabled",
        "law.local-auth-disabled",
        "law.query-audit",
        "law.purge-restricted",
        "law.delete-lock",
        "law.immutable-export",
        "storage.immutable-audit-archive",
    ] {
        assert_eq!(
            found.get(id).map(String::as_str),
            Some("Drifted"),
            "{id}: {found:?}"
        );
    }
    assert_eq!(found["kv.soft-delete"], "Compliant");
    assert_eq!(found["kv.rbac-authorization"], "Compliant");
    let status = ws.status.clone().expect("status");
    let purge = status
        .controls
        .iter()
        .find(|c| c.id == "law.purge-restricted")
        .expect("purge");
    // legacy-deploy is Contributor on the subscription; the break-glass Owner is allowed.
    assert!(
        purge
            .observed
            .contains("2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a"),
        "{purge:?}"
    );
    assert!(
        !purge
            .observed
            .contains("0b1c2d3e-4f5a-4b6c-8d7e-8f9a0b1c2d3e"),
        "{purge:?}"
    );
    assert_eq!(
        condition(&ws, "PolicyAssigned").map(|c| c.0),
        Some("False".into())
    );
    assert_eq!(status.stores.as_ref().map(|s| s.total), Some(0));
    // The remediation preview names the irreversible write before Enforce makes it, and the
    // policy assignment.
    let purge_protection = status
        .planned_changes
        .iter()
        .find(|c| c.property == "properties.enablePurgeProtection")
        .unwrap_or_else(|| panic!("purge protection planned: {:#?}", status.planned_changes));
    assert_eq!(
        (
            purge_protection.method.as_str(),
            purge_protection.to.as_str()
        ),
        ("PATCH", "true")
    );
    assert!(purge_protection.held.starts_with("Audit mode"));
    assert!(
        status
            .planned_changes
            .iter()
            .any(|c| c.property == "policy assignment"),
        "{:#?}",
        status.planned_changes
    );
    // The delete lock is planned on the Log Analytics workspace itself (the preview shortens
    // long ids).
    let lock_scope = format!("{}/providers/Microsoft.Authorization/locks/", law_id());
    assert!(
        status.planned_changes.iter().any(|c| c.method == "PUT"
            && c.resource
                .to_ascii_lowercase()
                .starts_with(&lock_scope.to_ascii_lowercase())
            && c.property == "properties.level"
            && c.to == "CanNotDelete"),
        "{:#?}",
        status.planned_changes
    );
    tokio::time::sleep(Duration::from_secs(INTERVAL_SECS + 2)).await;
    let writes = e.sim.writes().await;
    assert!(writes.is_empty(), "Audit mode wrote to Azure: {writes:?}");

    // Enforce: converges; the archive gets its policy but is not locked (lock: false).
    e.patch_workspace(json!({"mode": "Enforce"})).await;
    let ws = e
        .wait_workspace("converged in Enforce", secs(120), |ws| {
            let found = states(ws);
            condition(ws, "PolicyAssigned").is_some_and(|c| c.0 == "True")
                && ws.status.as_ref().is_some_and(|s| s.policy.is_some())
                && found.iter().all(|(id, s)| {
                    ["Compliant", "Remediated"].contains(&s.as_str())
                        || id == "storage.immutable-audit-archive"
                        || id == "law.purge-restricted"
                        || id == "op.least-privilege-role"
                })
        })
        .await;
    let found = states(&ws);
    assert_eq!(found["kv.purge-protection"], "Remediated", "{found:?}");
    // The estate's grant allows irreversible changes: nothing is held back any more.
    assert!(
        ws.status.as_ref().is_some_and(|st| st
            .planned_changes
            .iter()
            .all(|c| !c.held.starts_with("irreversible"))),
        "{:#?}",
        ws.status
    );
    assert_eq!(found["law.retention-6y"], "Remediated", "{found:?}");
    // The audit tables also leave Log Analytics for the archive account.
    assert_eq!(found["law.immutable-export"], "Remediated", "{found:?}");
    let export = e
        .resource(
            &hipaa_operator::azure::types::ArmOp::new(
                "DataExports_Get",
                "Microsoft.OperationalInsights",
                resources::api_version::LOG_ANALYTICS,
            ),
            &format!("{}/dataExports/hipaa-audit-export", law_id()),
        )
        .await;
    assert_eq!(export.properties["enable"], json!(true));
    assert!(
        export.properties["destination"]["resourceId"]
            .as_str()
            .is_some_and(|d| d
                .to_ascii_lowercase()
                .ends_with("/storageaccounts/stclinicalauditarchive")),
        "{}",
        export.properties
    );
    // The audit logs' workspace is locked against deletes, by Azure itself: even a Contributor's
    // delete is refused.
    assert!(
        ["Remediated", "Compliant"].contains(&found["law.delete-lock"].as_str()),
        "{found:?}"
    );
    let delete_law = hipaa_operator::azure::types::ArmOp::new(
        "Workspaces_Delete",
        "Microsoft.OperationalInsights",
        resources::api_version::LOG_ANALYTICS,
    );
    let refused = e
        .legacy_azure()
        .delete(&delete_law, &law_id())
        .await
        .expect_err("a locked workspace cannot be deleted");
    assert!(refused.to_string().contains("ScopeLocked"), "{refused}");
    assert!(
        e.resource(&resources::GET_LOG_ANALYTICS, &law_id())
            .await
            .id
            .eq_ignore_ascii_case(&law_id())
    );
    // Reported, never removed: purge rights are opt-in to change.
    assert_eq!(found["law.purge-restricted"], "Drifted");
    // The estate's operator holds Contributor, User Access Administrator and Resource Policy
    // Contributor at the resource group: wider than its generated role, reported for a person.
    assert_eq!(found["op.least-privilege-role"], "Drifted", "{found:?}");
    let op = ws
        .status
        .as_ref()
        .and_then(|s| {
            s.controls
                .iter()
                .find(|c| c.id == "op.least-privilege-role")
        })
        .expect("op.least-privilege-role");
    assert!(
        op.observed.contains("Contributor at")
            && op.awaiting == Some(hipaa_operator::api::common::Awaiting::Person),
        "{op:?}"
    );
    assert_eq!(found["storage.immutable-audit-archive"], "Drifted");
    let policy = ws
        .status
        .as_ref()
        .and_then(|s| s.policy.clone())
        .expect("policy summary");
    assert!(policy.assignment_id.eq_ignore_ascii_case(&assignment_id()));
    let azure = e.azure();
    let vault = e.resource(&resources::GET_VAULT, &vault_id()).await;
    assert_eq!(vault.properties["enablePurgeProtection"], json!(true));
    assert_eq!(vault.properties["publicNetworkAccess"], json!("Disabled"));
    let archive = e.resource(&GET_IMMUTABILITY, &policy_id()).await;
    assert_eq!(archive.properties["state"], json!("Unlocked"));
    let locks = |writes: &[(String, String)]| {
        writes
            .iter()
            .filter(|(m, p)| m == "POST" && p.to_ascii_lowercase().ends_with("/lock"))
            .count()
    };
    assert_eq!(locks(&e.sim.writes().await), 0, "locked without lock: true");
    assert!(
        ws.status
            .as_ref()
            .expect("status")
            .controls
            .iter()
            .any(|c| c.id == "storage.immutable-audit-archive"
                && c.message.as_deref().unwrap_or("").contains("lock is true")),
        "the archive control says how to lock"
    );

    // Out-of-band drift on the vault, the retention and the policy assignment is reverted.
    let legacy = e.legacy_azure();
    let refused = legacy
        .write(
            &PATCH_VAULT,
            Method::Patch,
            &vault_id(),
            Some(&json!({"properties": {"enablePurgeProtection": false}})),
            None,
        )
        .await;
    assert!(
        refused.is_err(),
        "Azure refuses to turn purge protection off"
    );
    e.sim.clear_log().await;
    legacy
        .write(
            &PATCH_VAULT,
            Method::Patch,
            &vault_id(),
            Some(&json!({"properties": {"publicNetworkAccess": "Enabled", "networkAcls": {"defaultAction": "Allow"}}})),
            None,
        )
        .await
        .expect("vault drift");
    legacy
        .write(
            &PATCH_LOG_ANALYTICS,
            Method::Patch,
            &law_id(),
            Some(&json!({"properties": {"retentionInDays": 30}})),
            None,
        )
        .await
        .expect("retention drift");
    azure
        .delete(&resources::DELETE_POLICY_ASSIGNMENT, &assignment_id())
        .await
        .expect("unassign");
    e.eventually(
        "drift not reverted",
        secs(INTERVAL_SECS * 2 + 30),
        async || {
            let vault = e.resource(&resources::GET_VAULT, &vault_id()).await;
            let law = e.resource(&resources::GET_LOG_ANALYTICS, &law_id()).await;
            let assignment = azure
                .get_resource(&resources::GET_POLICY_ASSIGNMENT, &assignment_id())
                .await
                .expect("read");
            vault.properties["publicNetworkAccess"] == json!("Disabled")
                && vault.properties["networkAcls"]["defaultAction"] == json!("Deny")
                && law.properties["retentionInDays"] == json!(90)
                && assignment.is_some()
        },
    )
    .await;

    // The lock happens only once the spec says lock: true.
    assert_eq!(locks(&e.sim.writes().await), 0);
    e.patch_workspace(json!({"auditArchive": {"lock": true}}))
        .await;
    e.eventually("not locked", secs(60), async || {
        e.resource(&GET_IMMUTABILITY, &policy_id()).await.properties["state"] == json!("Locked")
    })
    .await;
    assert_eq!(locks(&e.sim.writes().await), 1, "locked exactly once");
    // Read back after the lock: the evidence shows what Azure reports.
    e.wait_workspace("archive locked and read back", secs(60), |ws| {
        ws.status.iter().flat_map(|s| s.controls.iter()).any(|c| {
            c.id == "storage.immutable-audit-archive"
                && c.observed == "immutabilityPeriodSinceCreationInDays=2192, state=Locked"
        })
    })
    .await;

    // Steady state: two more drift checks write nothing, in Azure or in Kubernetes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = e.workspaces.get(WORKSPACE).await.expect("ws");
    e.sim.clear_log().await;
    tokio::time::sleep(Duration::from_secs(INTERVAL_SECS * 2 + 2)).await;
    let after = e.workspaces.get(WORKSPACE).await.expect("ws");
    assert_eq!(
        before.metadata.resource_version,
        after.metadata.resource_version,
        "a pass that finds nothing new writes no status:\n{}\n{}",
        serde_json::to_string(&before.status).unwrap_or_default(),
        serde_json::to_string(&after.status).unwrap_or_default()
    );
    let writes = e.sim.writes().await;
    assert!(writes.is_empty(), "steady state wrote to Azure: {writes:?}");
    let reads = e.sim.requests().await.len();
    assert!(reads > 0, "the drift checks did read Azure");
    e.ns.delete().await.expect("delete namespace");
}

fn store(name: &str, account: &str) -> PhiStore {
    PhiStore::test("phistore-storage.yaml")
        .named(name)
        .over(&format!(
            "{}/providers/Microsoft.Storage/storageAccounts/{account}",
            sim::RG
        ))
        .build()
}

/// A store whose workspace is deleted keeps no evidence that no longer holds: every control is
/// `Error` ("not verified"), compliance `0/N`, `Ready=False WorkspaceNotFound`.
#[tokio::test]
async fn a_store_whose_workspace_is_deleted_shows_nothing_as_verified() {
    let e = Estate::test("ws-deleted").audit().start().await;
    e.create(&store("referral-letters", "streferralletters"))
        .await;
    let evaluated = e
        .wait_store("referral-letters", "evaluated", secs(60), |s| {
            s.status.as_ref().is_some_and(|st| {
                st.controls
                    .iter()
                    .any(|c| c.state == hipaa_operator::api::ControlState::Compliant)
            })
        })
        .await;
    let total = evaluated.status.as_ref().map_or(0, |s| s.controls.len());
    e.workspaces
        .delete(WORKSPACE, &Default::default())
        .await
        .expect("delete workspace");
    let gone = e
        .wait_store("referral-letters", "unverified", secs(60), |s| {
            s.status.as_ref().is_some_and(|st| {
                st.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.reason == "WorkspaceNotFound")
            })
        })
        .await;
    let status = gone.status.expect("status");
    assert_eq!(status.controls.len(), total);
    assert!(
        status
            .controls
            .iter()
            .all(|c| c.state == hipaa_operator::api::ControlState::Error
                && c.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("not verified"))),
        "{:#?}",
        status.controls
    );
    assert!(
        status
            .compliance
            .as_deref()
            .is_some_and(|c| c.starts_with("0/")),
        "{:?}",
        status.compliance
    );
    e.ns.delete().await.expect("delete namespace");
}

#[tokio::test]
async fn store_counts_follow_stores_being_added_fixed_and_deleted() {
    let e = Estate::test("ws-counts").audit().start().await;
    let counts = |ws: &HipaaWorkspace| {
        ws.status
            .as_ref()
            .and_then(|s| s.stores.clone())
            .map(|c| (c.total, c.ready, c.drifted, c.erroring))
    };
    e.wait_workspace("no stores", secs(60), |ws| counts(ws) == Some((0, 0, 0, 0)))
        .await;
    e.create(&store("referral-letters", "streferralletters"))
        .await;
    e.create(&store("lost-letters", "stdoesnotexist")).await;
    let ws = e
        .wait_workspace("one drifted, one erroring", secs(60), |ws| {
            counts(ws) == Some((2, 0, 1, 1))
        })
        .await;
    let listed = ws.status.and_then(|s| s.stores).expect("counts").not_ready;
    assert_eq!(
        listed,
        vec![
            "lost-letters (ResourceNotFound)",
            "referral-letters (Drifted)"
        ]
    );
    // Enforce fixes the account (and the vault it relies on): the count follows.
    e.patch_workspace(json!({"mode": "Enforce"})).await;
    e.wait_workspace("one ready", secs(150), |ws| {
        counts(ws) == Some((2, 1, 0, 1))
    })
    .await;
    e.stores
        .delete("lost-letters", &Default::default())
        .await
        .expect("delete");
    let ws = e
        .wait_workspace("erroring store gone", secs(30), |ws| {
            counts(ws) == Some((1, 1, 0, 0))
        })
        .await;
    let left = ws.status.and_then(|s| s.stores).expect("counts");
    assert_eq!(left.summary, "1/1");
    // Every store is ready: none is listed any more, whichever write made the count.
    assert_eq!(left.not_ready, Vec::<String>::new());
    e.stores
        .delete("referral-letters", &Default::default())
        .await
        .expect("delete");
    e.wait_workspace("no stores again", secs(30), |ws| {
        counts(ws) == Some((0, 0, 0, 0))
    })
    .await;
    e.ns.delete().await.expect("delete namespace");
}

#[tokio::test]
async fn a_missing_vault_or_a_vault_in_another_region_is_a_clear_reason() {
    let e = Estate::test("ws-invalid").audit().start().await;
    e.patch_workspace(
        json!({"keyVault": {"resourceId": format!("{}/providers/Microsoft.KeyVault/vaults/kv-nowhere", sim::RG)}}),
    )
    .await;
    let ws = e
        .wait_workspace("ResourceNotFound", secs(60), |ws| {
            condition(ws, "Ready").is_some_and(|(_, r)| r == "ResourceNotFound")
        })
        .await;
    let message = ws
        .status
        .iter()
        .flat_map(|s| s.conditions.iter())
        .find(|c| c.type_ == "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("kv-nowhere does not exist")
            && message.contains("spec.keyVault.resourceId"),
        "{message}"
    );
    e.patch_workspace(json!({"keyVault": {"resourceId": vault_id()}, "location": "westus3"}))
        .await;
    let ws = e
        .wait_workspace("InvalidSpec", secs(60), |ws| {
            condition(ws, "Ready").is_some_and(|(_, r)| r == "InvalidSpec")
        })
        .await;
    let message = ws
        .status
        .iter()
        .flat_map(|s| s.conditions.iter())
        .find(|c| c.type_ == "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("eastus2") && message.contains("westus3"),
        "{message}"
    );
    e.ns.delete().await.expect("delete namespace");
}
