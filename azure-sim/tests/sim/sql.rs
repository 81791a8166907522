//! SQL: the singletons a server and a database have from the start, and the rules on the
//! settings the control catalog reads.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

const API: &str = "api-version=2023-08-01";

#[tokio::test(flavor = "multi_thread")]
async fn servers_and_databases_come_with_their_security_singletons() {
    let h = Harness::start().await;
    let srv =
        format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Sql/servers/sql-cat");
    let c = h.arm(Method::PUT, &format!("{srv}?{API}"), Some(&json!({"location": "eastus", "properties": {"administratorLogin": "a", "administratorLoginPassword": "p"}}))).await;
    assert_eq!(c.status, 202);
    for (path, field, value) in [
        ("auditingSettings/default", "state", json!("Disabled")),
        ("securityAlertPolicies/Default", "state", json!("Disabled")),
        (
            "azureADOnlyAuthentications/Default",
            "azureADOnlyAuthentication",
            json!(false),
        ),
        (
            "encryptionProtector/current",
            "serverKeyType",
            json!("ServiceManaged"),
        ),
    ] {
        let g = h
            .arm(Method::GET, &format!("{srv}/{path}?{API}"), None)
            .await;
        assert_eq!(g.status, 200, "{path}: {:?}", g.body);
        assert_eq!(g.body["properties"][field], value, "{path}");
    }
    let open = h.arm(Method::PUT, &format!("{srv}/firewallRules/all?{API}"), Some(&json!({"properties": {"startIpAddress": "0.0.0.0", "endIpAddress": "255.255.255.255"}}))).await;
    assert_eq!(
        open.status, 201,
        "open rules are allowed, and the catalog flags them"
    );
    let bad = h
        .arm(
            Method::PUT,
            &format!("{srv}/firewallRules/bad?{API}"),
            Some(&json!({"properties": {"startIpAddress": "x"}})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (400, "FirewallRuleNotIPv4Address")
    );
    let rules = h
        .arm(Method::GET, &format!("{srv}/firewallRules?{API}"), None)
        .await;
    assert_eq!(rules.body["value"].as_array().map(Vec::len), Some(1));
    let only = h
        .arm(
            Method::PUT,
            &format!("{srv}/azureADOnlyAuthentications/Default?{API}"),
            Some(&json!({"properties": {"azureADOnlyAuthentication": true}})),
        )
        .await;
    assert_eq!(only.status, 202);
    let admin = h
        .arm(
            Method::PUT,
            &format!("{srv}/administrators/ActiveDirectory?{API}"),
            Some(&json!({"properties": {"login": "phi-dbas", "sid": OWNER}})),
        )
        .await;
    assert_eq!(admin.status, 202);
    let admin = h
        .arm(
            Method::GET,
            &format!("{srv}/administrators/ActiveDirectory?{API}"),
            None,
        )
        .await;
    assert_eq!(
        admin.body["properties"]["administratorType"],
        "ActiveDirectory"
    );
    assert_eq!(admin.body["properties"]["tenantId"], h.sim.tenant_id);
    let wrong_name = h
        .arm(
            Method::PUT,
            &format!("{srv}/administrators/Other?{API}"),
            Some(&json!({"properties": {"login": "x", "sid": OWNER}})),
        )
        .await;
    assert_eq!(
        (wrong_name.status, wrong_name.code()),
        (400, "InvalidResourceName")
    );

    let db = format!("{srv}/databases/phi");
    let d = h
        .arm(
            Method::PUT,
            &format!("{db}?{API}"),
            Some(&json!({"location": "eastus", "properties": {"isLedgerOn": true}})),
        )
        .await;
    assert_eq!(d.status, 202);
    assert!(d.header("azure-asyncoperation").is_some() && d.header("location").is_some());
    let g = h.arm(Method::GET, &format!("{db}?{API}"), None).await;
    assert_eq!(g.body["properties"]["status"], "Online");
    assert_eq!(
        g.body["properties"]["requestedBackupStorageRedundancy"],
        "Geo"
    );
    let tde = h
        .arm(
            Method::GET,
            &format!("{db}/transparentDataEncryption/current?{API}"),
            None,
        )
        .await;
    assert_eq!(tde.body["properties"]["state"], "Enabled");
    let ledger_off = h
        .arm(
            Method::PATCH,
            &format!("{db}?{API}"),
            Some(&json!({"properties": {"isLedgerOn": false}})),
        )
        .await;
    assert_eq!(ledger_off.status, 202);
    let g = h.arm(Method::GET, &format!("{db}?{API}"), None).await;
    assert_eq!(
        g.body["properties"]["isLedgerOn"], true,
        "ledger is chosen at creation only"
    );
    let pitr = h
        .arm(
            Method::PUT,
            &format!("{db}/backupShortTermRetentionPolicies/default?{API}"),
            Some(&json!({"properties": {"retentionDays": 90}})),
        )
        .await;
    assert_eq!(
        (pitr.status, pitr.code()),
        (400, "InvalidBackupRetentionPeriod")
    );
    let ltr = h
        .arm(
            Method::GET,
            &format!("{db}/backupLongTermRetentionPolicies/default?{API}"),
            None,
        )
        .await;
    assert_eq!(ltr.body["properties"]["weeklyRetention"], "PT0S");
}

fn recorded(file: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples-data/Microsoft.Sql/2023-08-01")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("JSON")
}

/// The recorded protector PUT, then a GET: Azure answers with the URI of the server key the
/// protector names (read-only `uri`, EncryptionProtectorGet.json), which is what a client reads
/// to learn which key protects the server.
#[tokio::test(flavor = "multi_thread")]
async fn the_encryption_protector_reports_the_uri_of_the_server_key_it_names() {
    let h = Harness::start().await;
    let srv =
        format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Sql/servers/sql-tde");
    let c = h
        .arm(
            Method::PUT,
            &format!("{srv}?{API}"),
            Some(&json!({"location": "eastus", "properties": {}})),
        )
        .await;
    assert_eq!(c.status, 202);
    let put = recorded("EncryptionProtectorCreateOrUpdateKeyVault.json");
    let get = recorded("EncryptionProtectorGet.json");
    let request = &put["parameters"]["parameters"];
    let protector = format!("{srv}/encryptionProtector/current?{API}");
    let expected = &get["responses"]["200"]["body"]["properties"];
    let key_name = request["properties"]["serverKeyName"]
        .as_str()
        .expect("name");
    let key = h
        .arm(
            Method::PUT,
            &format!("{srv}/keys/{key_name}?{API}"),
            Some(
                &json!({"properties": {"serverKeyType": "AzureKeyVault", "uri": expected["uri"]}}),
            ),
        )
        .await;
    assert!(key.status < 300, "{:?}", key.body);
    let p = h.arm(Method::PUT, &protector, Some(request)).await;
    assert_eq!(p.status, 202, "{:?}", p.body);
    let g = h.arm(Method::GET, &protector, None).await;
    assert_eq!(g.status, 200);
    for field in [
        "serverKeyName",
        "serverKeyType",
        "uri",
        "autoRotationEnabled",
    ] {
        assert_eq!(g.body["properties"][field], expected[field], "{field}");
    }
    assert_eq!(g.body["kind"], get["responses"]["200"]["body"]["kind"]);
    assert!(
        g.body["properties"]["thumbprint"].is_string(),
        "the key's thumbprint"
    );

    let mut unknown = request.clone();
    unknown["properties"]["serverKeyName"] =
        json!("someVault_otherKey_01234567890123456789012345678901");
    let missing = h.arm(Method::PUT, &protector, Some(&unknown)).await;
    assert_eq!(
        (missing.status, missing.code()),
        (404, "ServerKeyNotFound"),
        "a protector can only name a key the server has"
    );

    // Back to a service-managed key: no key URI any more.
    let sm = h
        .arm(
            Method::PUT,
            &protector,
            Some(&json!({"properties": {"serverKeyType": "ServiceManaged", "serverKeyName": "ServiceManaged"}})),
        )
        .await;
    assert_eq!(sm.status, 202);
    let g = h.arm(Method::GET, &protector, None).await;
    assert!(g.body["properties"]["uri"].is_null(), "{:?}", g.body);
    assert_eq!(g.body["kind"], "servicemanaged");
}

#[tokio::test(flavor = "multi_thread")]
async fn express_and_classic_vulnerability_assessment_do_not_run_together() {
    let h = Harness::start().await;
    let srv =
        format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Sql/servers/sql-va");
    let c = h.arm(Method::PUT, &format!("{srv}?{API}"), Some(&json!({"location": "eastus", "properties": {"administratorLogin": "a", "administratorLoginPassword": "p"}}))).await;
    assert_eq!(c.status, 202);
    let express = format!("{srv}/sqlVulnerabilityAssessments/default");
    let classic = format!("{srv}/vulnerabilityAssessments/default");
    let fresh = h
        .arm(
            Method::GET,
            &format!("{express}?api-version=2023-08-01-preview"),
            None,
        )
        .await;
    assert_eq!(fresh.status, 200, "{:?}", fresh.body);
    assert_eq!(fresh.body["properties"]["state"], "Disabled");

    let no_path = h
        .arm(
            Method::PUT,
            &format!("{classic}?{API}"),
            Some(&json!({"properties": {"storageAccountAccessKey": "k"}})),
        )
        .await;
    assert_eq!(no_path.status, 400);
    let on = h
        .arm(
            Method::PUT,
            &format!("{classic}?{API}"),
            Some(&json!({"properties": {
            "storageContainerPath": "https://phiva.blob.core.windows.net/vulnerability-assessment/",
            "storageAccountAccessKey": "secret-key"}})),
        )
        .await;
    assert_eq!(on.status, 201, "{:?}", on.body);
    assert!(
        on.body["properties"]
            .get("storageAccountAccessKey")
            .is_none(),
        "the key is write-only"
    );
    assert_eq!(
        on.body["properties"]["recurringScans"],
        json!({"isEnabled": true, "emailSubscriptionAdmins": false, "emails": []})
    );
    let clash = h
        .arm(
            Method::PUT,
            &format!("{express}?{API}"),
            Some(&json!({"properties": {"state": "Enabled"}})),
        )
        .await;
    assert_eq!(
        (clash.status, clash.code()),
        (409, "SqlVulnerabilityAssessmentStoragefullApiIsEnabled")
    );
    let bad = h
        .arm(
            Method::PUT,
            &format!("{express}?{API}"),
            Some(&json!({"properties": {"state": "On"}})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (
            400,
            "SqlVulnerabilityAssessmentInvalidUserSuppliedParameter"
        )
    );
    let off = h
        .arm(Method::DELETE, &format!("{classic}?{API}"), None)
        .await;
    assert_eq!(off.status, 200);
    let enabled = h
        .arm(
            Method::PUT,
            &format!("{express}?{API}"),
            Some(&json!({"properties": {"state": "Enabled"}})),
        )
        .await;
    assert_eq!(enabled.status, 200, "{:?}", enabled.body);
    assert_eq!(enabled.body["properties"]["state"], "Enabled");
    let named = h
        .arm(
            Method::PUT,
            &format!("{srv}/sqlVulnerabilityAssessments/other?{API}"),
            Some(&json!({"properties": {"state": "Enabled"}})),
        )
        .await;
    assert_eq!((named.status, named.code()), (400, "InvalidResourceName"));
}
