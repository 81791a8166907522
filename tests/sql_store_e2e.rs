//! An Azure SQL logical server as a PhiStore, end to end (the operator binary, the real API
//! server, azure-sim): untouched in Audit mode; in Enforce mode TLS, the open firewall rule,
//! TDE and its customer-managed key, auditing to Log Analytics, Defender, backups and the
//! private endpoint converge (SQL PATCH is long-running); report-only controls never change.

mod support;

use std::time::{Duration, Instant};

use hipaa_operator::api::PhiStore;
use hipaa_operator::azure::resources;
use hipaa_operator::azure::types::ArmOp;
use serde_json::json;
use support::estate::{Estate, INTERVAL_SECS, control_state as state, drifted, is_ready, ready};
use support::secs;
use support::sim;
use support::store::{PRIVACY_OFFICER, SECURITY_OFFICER, StoreFixture};

fn server_id() -> String {
    format!(
        "{}/providers/Microsoft.Sql/servers/sql-clinical-scheduling",
        sim::RG
    )
}

#[tokio::test]
async fn a_sql_server_is_audited_then_enforced() {
    let e = Estate::test("sql-store").audit().start().await;
    // What a team cannot get from the operator: an Entra group to administer the server (and so
    // Entra-only sign-in), and ledger tables (chosen when a database is created).
    let store = PhiStore::test("phistore-sql.yaml")
        .exempt(
            "sql.entra-admin",
            "the DBA group is being created (CHG-5120)",
            SECURITY_OFFICER,
        )
        .exempt(
            "sql.entra-only-auth",
            "follows sql.entra-admin (CHG-5120)",
            SECURITY_OFFICER,
        )
        .exempt(
            "sql.ledger",
            "scheduling data is not kept in ledger tables",
            PRIVACY_OFFICER,
        )
        .build();
    e.create(&store).await;
    let found = e
        .wait_store("scheduling-sql", "Drifted", secs(150), drifted)
        .await;
    for id in [
        "sql.min-tls-1-2",
        "sql.no-open-firewall",
        "sql.tde-cmk",
        "sql.auditing-enabled",
        "sql.private-endpoint",
        "sql.backup-redundancy",
        "sql.vulnerability-assessment",
    ] {
        assert_eq!(state(&found, id), "Drifted", "{id}");
    }
    e.assert_no_azure_writes("Audit mode").await;

    e.set_workspace_mode("Enforce").await;
    e.wait_store("scheduling-sql", "Ready", secs(150), is_ready)
        .await;
    let server = e.resource(&resources::GET_SQL_SERVER, &server_id()).await;
    assert_eq!(server.properties["minimalTlsVersion"], json!("1.2"));
    assert_eq!(server.properties["publicNetworkAccess"], json!("Disabled"));
    let va = e
        .resource(
            &hipaa_operator::controls::sql::GET_VA_EXPRESS,
            &format!("{}/sqlVulnerabilityAssessments/default", server_id()),
        )
        .await;
    assert_eq!(va.properties["state"], json!("Enabled"));
    const GET_PROTECTOR: ArmOp =
        ArmOp::new("EncryptionProtectors_Get", "Microsoft.Sql", "2023-08-01");
    let protector = e
        .resource(
            &GET_PROTECTOR,
            &format!("{}/encryptionProtector/current", server_id()),
        )
        .await;
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
        e.azure()
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
