//! An Azure SQL logical server as a PhiStore, end to end (the operator binary, the real API
//! server, azure-sim): untouched in Audit mode; in Enforce mode TLS, the open firewall rule,
//! TDE and its customer-managed key, auditing to Log Analytics, Defender, backups and the
//! private endpoint converge (SQL PATCH is long-running); report-only controls never change.

mod support;

use std::time::{Duration, Instant};

use hipaa_operator::api::PhiStore;
use hipaa_operator::azure::resources;
use hipaa_operator::azure::types::ArmOp;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use support::estate::{INTERVAL_SECS, control_state as state, estate, ready, wait_store};
use support::sim::{self, Sim};

fn server_id() -> String {
    format!(
        "{}/providers/Microsoft.Sql/servers/sql-clinical-scheduling",
        sim::RG
    )
}

#[tokio::test]
async fn a_sql_server_is_audited_then_enforced() {
    let e = estate("sql-store", "Audit").await;
    let mut s = support::example("phistore-sql.yaml");
    // What a team cannot get from the operator: an Entra group to administer the server (and so
    // Entra-only sign-in), and ledger tables (chosen when a database is created).
    s["spec"]["exemptions"] = json!([
        {"control": "sql.entra-admin", "reason": "the DBA group is being created (CHG-5120)",
         "approver": "security-officer@contoso-health.example", "expires": "2030-01-01T00:00:00Z"},
        {"control": "sql.entra-only-auth", "reason": "follows sql.entra-admin (CHG-5120)",
         "approver": "security-officer@contoso-health.example", "expires": "2030-01-01T00:00:00Z"},
        {"control": "sql.ledger", "reason": "scheduling data is not kept in ledger tables",
         "approver": "privacy-officer@contoso-health.example", "expires": "2030-01-01T00:00:00Z"}
    ]);
    let s: PhiStore = serde_json::from_value(s).expect("store");
    e.stores
        .create(&Default::default(), &s)
        .await
        .expect("create store");
    let found = wait_store(
        &e,
        "scheduling-sql",
        "Drifted",
        Duration::from_secs(150),
        |s| ready(s).is_some_and(|(_, r)| r == "Drifted"),
    )
    .await;
    for id in [
        "sql.min-tls-1-2",
        "sql.no-open-firewall",
        "sql.tde-cmk",
        "sql.auditing-enabled",
        "sql.private-endpoint",
        "sql.backup-redundancy",
    ] {
        assert_eq!(state(&found, id), "Drifted", "{id}");
    }
    let writes = e.sim.writes().await;
    assert!(writes.is_empty(), "Audit mode wrote to Azure: {writes:?}");

    e.workspaces
        .patch(
            "clinical",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"mode": "Enforce"}})),
        )
        .await
        .expect("Enforce");
    wait_store(
        &e,
        "scheduling-sql",
        "Ready",
        Duration::from_secs(150),
        |s| ready(s).is_some_and(|(status, _)| status == "True"),
    )
    .await;
    let azure = e.sim.client(Sim::operator_identity());
    let server = azure
        .get_resource(&resources::GET_SQL_SERVER, &server_id())
        .await
        .expect("read")
        .expect("server");
    assert_eq!(server.properties["minimalTlsVersion"], json!("1.2"));
    assert_eq!(server.properties["publicNetworkAccess"], json!("Disabled"));
    const GET_PROTECTOR: ArmOp =
        ArmOp::new("EncryptionProtectors_Get", "Microsoft.Sql", "2023-08-01");
    let protector = azure
        .get_resource(
            &GET_PROTECTOR,
            &format!("{}/encryptionProtector/current", server_id()),
        )
        .await
        .expect("read")
        .expect("protector");
    assert_eq!(
        protector.properties["serverKeyType"],
        json!("AzureKeyVault")
    );
    assert_eq!(protector.properties["autoRotationEnabled"], json!(true));
    // Azure reports the URI of the key the protector names (read-only `uri`): that is what the
    // control reads back, so the remediation holds.
    assert!(
        protector.properties["uri"]
            .as_str()
            .is_some_and(|u| u.contains("/keys/scheduling-sql-tde/")),
        "{}",
        protector.properties
    );
    // It stays settled: read back as written, never rewritten until a conflict pauses it (#23).
    let deadline = Instant::now() + Duration::from_secs(INTERVAL_SECS * 4 + 5);
    while Instant::now() < deadline {
        let s = e.stores.get("scheduling-sql").await.expect("store");
        assert_ne!(
            ready(&s).map(|(_, reason)| reason).as_deref(),
            Some("Conflict"),
            "{:#?}",
            s.status
        );
        assert!(
            ["Remediated", "Compliant"].contains(&state(&s, "sql.tde-cmk").as_str()),
            "sql.tde-cmk: {:#?}",
            s.status
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let s = e.stores.get("scheduling-sql").await.expect("store");
    let tde = s
        .status
        .iter()
        .flat_map(|st| st.controls.iter())
        .find(|c| c.id == "sql.tde-cmk")
        .expect("sql.tde-cmk");
    assert_eq!(
        tde.recent_remediations,
        Some(1),
        "remediated once: {tde:#?}"
    );
    const GET_RULE: ArmOp = ArmOp::new("FirewallRules_Get", "Microsoft.Sql", "2023-08-01");
    assert!(
        azure
            .get_resource(
                &GET_RULE,
                &format!("{}/firewallRules/AllowAllWindowsAzureIps", server_id())
            )
            .await
            .expect("read")
            .is_none(),
        "the rule opening the server to all of Azure is gone"
    );
    e.ns.delete().await.expect("delete namespace");
}
