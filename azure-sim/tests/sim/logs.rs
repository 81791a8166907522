//! Log Analytics dedicated clusters, the linked service that ties a workspace to one (and the
//! cluster's list of workspaces), customer-managed keys on clusters, and data exports to a
//! storage account that must exist.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

const LOGS: &str = "2025-02-01";

fn id(path: &str) -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.OperationalInsights/{path}"
    )
}

async fn workspace(h: &Harness, name: &str) -> String {
    let ws = id(&format!("workspaces/{name}"));
    let r = h
        .arm(
            Method::PUT,
            &format!("{ws}?api-version={LOGS}"),
            Some(&json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    ws
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workspace_linked_to_a_cluster_shows_in_the_cluster_and_the_cluster_takes_a_cmk() {
    let h = Harness::start().await;
    let cluster = id("clusters/cluster-phi");
    let bad = h
        .arm(Method::PUT, &format!("{cluster}?api-version={LOGS}"), Some(&json!({"location": "eastus", "sku": {"name": "CapacityReservation", "capacity": 150}})))
        .await;
    assert_eq!(bad.status, 400, "capacity is one of the spec's levels");
    let c = h
        .arm(Method::PUT, &format!("{cluster}?api-version={LOGS}"), Some(&json!({"location": "eastus", "identity": {"type": "SystemAssigned"}, "sku": {"name": "CapacityReservation", "capacity": 100}})))
        .await;
    assert_eq!(c.status, 202, "{:?}", c.body);
    assert!(c.header("azure-asyncoperation").is_some() && c.header("location").is_some());
    let got = h
        .arm(Method::GET, &format!("{cluster}?api-version={LOGS}"), None)
        .await;
    let props = &got.body["properties"];
    assert_eq!(props["provisioningState"], "Succeeded");
    assert_eq!(props["billingType"], "Cluster");
    assert_eq!(props["isDoubleEncryptionEnabled"], true);
    assert_eq!(props["capacityReservationProperties"]["minCapacity"], 100);
    assert!(
        props["createdDate"]
            .as_str()
            .is_some_and(|d| d.ends_with(" GMT")),
        "RFC 1123 as recorded"
    );
    assert_eq!(props["associatedWorkspaces"], json!([]));
    assert!(got.body["identity"]["principalId"].is_string());

    let ws = workspace(&h, "law-phi").await;
    let link = format!("{ws}/linkedServices/cluster");
    let nowhere = h
        .arm(
            Method::PUT,
            &format!("{link}?api-version={LOGS}"),
            Some(&json!({"properties": {"writeAccessResourceId": id("clusters/no-such-cluster")}})),
        )
        .await;
    assert_eq!(nowhere.status, 400, "the cluster must exist");
    h.set_config(json!({"lroDurationMs": 60000})).await;
    let l = h
        .arm(
            Method::PUT,
            &format!("{link}?api-version={LOGS}"),
            Some(&json!({"properties": {"writeAccessResourceId": cluster}})),
        )
        .await;
    assert_eq!(l.status, 201, "{:?}", l.body);
    assert!(l.header("azure-asyncoperation").is_some());
    assert_eq!(l.body["name"], "law-phi/cluster");
    assert_eq!(
        l.body["properties"]["provisioningState"],
        "ProvisioningAccount"
    );
    h.admin(
        Method::POST,
        "/clock/advance",
        Some(&json!({"seconds": 61})),
    )
    .await;
    let l = h
        .arm(Method::GET, &format!("{link}?api-version={LOGS}"), None)
        .await;
    assert_eq!(l.body["properties"]["provisioningState"], "Succeeded");
    h.set_config(json!({"lroDurationMs": 0})).await;

    let customer = h
        .arm(Method::GET, &format!("{ws}?api-version={LOGS}"), None)
        .await
        .body["properties"]["customerId"]
        .clone();
    let got = h
        .arm(Method::GET, &format!("{cluster}?api-version={LOGS}"), None)
        .await;
    let linked = &got.body["properties"]["associatedWorkspaces"];
    assert_eq!(linked.as_array().map(Vec::len), Some(1), "{:?}", got.body);
    assert_eq!(linked[0]["workspaceName"], "law-phi");
    assert_eq!(linked[0]["workspaceId"], customer);
    assert_eq!(linked[0]["resourceId"], ws);

    // Customer-managed key: an empty keyVersion reports the key's latest version.
    let vault = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/kvlogs01"
    );
    let v = h
        .arm(Method::PUT, &format!("{vault}?api-version=2024-11-01"), Some(&json!({"location": "eastus", "properties": {"tenantId": h.sim.tenant_id, "sku": {"family": "A", "name": "standard"}, "enableRbacAuthorization": true}})))
        .await;
    assert_eq!(v.status, 201, "{:?}", v.body);
    let ra = h
        .arm(Method::PUT, &format!("{vault}/providers/Microsoft.Authorization/roleAssignments/7d3c0f10-0000-4000-8000-0000000000e1?api-version=2022-04-01"),
            Some(&json!({"properties": {"roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/00482a5a-887f-4fb3-b363-3b7fe8e74483", "principalId": OWNER}})))
        .await;
    assert_eq!(ra.status, 201, "{:?}", ra.body);
    let kv = h.token_for(OWNER, "https://vault.azure.net", 600).await;
    let key = h
        .send(
            Method::POST,
            &format!(
                "{}/keys/law-cmk/create?api-version=7.5",
                h.sim.vault_url("kvlogs01")
            ),
            Some(&kv),
            Some(&json!({"kty": "RSA", "key_size": 2048})),
            &[],
        )
        .await;
    assert_eq!(key.status, 200, "{:?}", key.body);
    let version = key.body["key"]["kid"]
        .as_str()
        .and_then(|k| k.rsplit('/').next())
        .unwrap_or_default()
        .to_string();
    let vault_uri = h
        .arm(
            Method::GET,
            &format!("{vault}?api-version=2024-11-01"),
            None,
        )
        .await
        .body["properties"]["vaultUri"]
        .clone();
    let p = h
        .arm(Method::PATCH, &format!("{cluster}?api-version={LOGS}"), Some(&json!({"properties": {
            "keyVaultProperties": {"keyVaultUri": vault_uri, "keyName": "law-cmk", "keyVersion": ""},
            "isDoubleEncryptionEnabled": false}})))
        .await;
    assert_eq!(p.status, 202, "{:?}", p.body);
    let got = h
        .arm(Method::GET, &format!("{cluster}?api-version={LOGS}"), None)
        .await;
    assert_eq!(
        got.body["properties"]["keyVaultProperties"]["keyVersion"],
        version
    );
    assert_eq!(
        got.body["properties"]["isDoubleEncryptionEnabled"], true,
        "set at creation only"
    );

    let unlinked = h
        .arm(Method::DELETE, &format!("{link}?api-version={LOGS}"), None)
        .await;
    assert_eq!(unlinked.status, 202);
    let got = h
        .arm(Method::GET, &format!("{cluster}?api-version={LOGS}"), None)
        .await;
    assert_eq!(got.body["properties"]["associatedWorkspaces"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_export_needs_its_storage_account() {
    let h = Harness::start().await;
    let ws = workspace(&h, "law-export").await;
    let export = format!("{ws}/dataExports/export-phi");
    let acct = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/phiexport01"
    );
    let body = json!({"properties": {"destination": {"resourceId": acct}, "tableNames": ["AuditLogs", "SigninLogs"]}});
    let missing = h
        .arm(
            Method::PUT,
            &format!("{export}?api-version={LOGS}"),
            Some(&body),
        )
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (400, "InvalidOperationArgument")
    );
    let no_tables = h
        .arm(
            Method::PUT,
            &format!("{export}?api-version={LOGS}"),
            Some(&json!({"properties": {"destination": {"resourceId": acct}}})),
        )
        .await;
    assert_eq!(no_tables.status, 400);

    h.storage_account("phiexport01").await;
    let e = h
        .arm(
            Method::PUT,
            &format!("{export}?api-version={LOGS}"),
            Some(&body),
        )
        .await;
    assert_eq!(e.status, 201, "{:?}", e.body);
    let props = &e.body["properties"];
    assert_eq!(props["destination"]["type"], "StorageAccount");
    assert_eq!(props["enable"], true);
    assert!(props["dataExportId"].is_string());
    assert_eq!(
        e.body["id"],
        format!("{ws}/export/export-phi"),
        "the id as recorded"
    );
    assert_eq!(
        e.body["type"],
        "Microsoft.OperationalInsights/workspaces/export"
    );
    let again = h
        .arm(Method::PUT, &format!("{export}?api-version={LOGS}"), Some(&json!({"properties": {"destination": {"resourceId": acct}, "tableNames": ["AuditLogs"], "enable": false}})))
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.body["properties"]["dataExportId"],
        props["dataExportId"]
    );
    assert_eq!(again.body["properties"]["enable"], false);
    let list = h
        .arm(
            Method::GET,
            &format!("{ws}/dataExports?api-version={LOGS}"),
            None,
        )
        .await;
    assert_eq!(list.body["value"].as_array().map(Vec::len), Some(1));

    let hub = h
        .arm(Method::PUT, &format!("{ws}/dataExports/export-hub?api-version={LOGS}"), Some(&json!({"properties": {"destination": {"resourceId": format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.EventHub/namespaces/ehphi")}, "tableNames": ["AuditLogs"]}})))
        .await;
    assert_eq!(hub.status, 201, "{:?}", hub.body);
    assert_eq!(hub.body["properties"]["destination"]["type"], "EventHub");

    let d = h
        .arm(
            Method::DELETE,
            &format!("{export}?api-version={LOGS}"),
            None,
        )
        .await;
    assert_eq!(d.status, 200);
    let d = h
        .arm(
            Method::DELETE,
            &format!("{export}?api-version={LOGS}"),
            None,
        )
        .await;
    assert_eq!(d.status, 404, "DataExports_Delete declares 200 and 404");
}

/// Every workspace has Azure's tables from the start, with the workspace's retention as their
/// default, following the workspace while it stays the default; a table given its own
/// retention keeps it.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_workspace_has_its_built_in_tables_at_the_workspaces_retention() {
    let h = Harness::start().await;
    let ws = workspace(&h, "law-tables").await;
    let table = |name: &str| format!("{ws}/tables/{name}?api-version={LOGS}");
    for name in [
        "AzureActivity",
        "AzureDiagnostics",
        "StorageBlobLogs",
        "LAQueryLogs",
    ] {
        let got = h.arm(Method::GET, &table(name), None).await;
        assert_eq!(got.status, 200, "{name}: {:?}", got.body);
        assert_eq!(got.body["properties"]["retentionInDays"], 30, "{name}");
        assert_eq!(got.body["properties"]["totalRetentionInDays"], 30, "{name}");
        assert_eq!(got.body["properties"]["retentionInDaysAsDefault"], true);
    }
    let listed = h
        .arm(
            Method::GET,
            &format!("{ws}/tables?api-version={LOGS}"),
            None,
        )
        .await;
    assert!(
        listed.body["value"]
            .as_array()
            .is_some_and(|v| v.iter().any(|t| t["name"] == "SQLSecurityAuditEvents")),
        "{:?}",
        listed.body
    );
    // One table keeps six years; the workspace then moves to 90 days.
    let own = h
        .arm(
            Method::PUT,
            &table("StorageBlobLogs"),
            Some(&json!({"properties": {"totalRetentionInDays": 2192}})),
        )
        .await;
    assert!(own.status < 300, "{:?}", own.body);
    let moved = h
        .arm(
            Method::PUT,
            &format!("{ws}?api-version={LOGS}"),
            Some(&json!({"location": "eastus", "properties": {"retentionInDays": 90}})),
        )
        .await;
    assert!(moved.status < 300, "{:?}", moved.body);
    let activity = h.arm(Method::GET, &table("AzureActivity"), None).await;
    assert_eq!(activity.body["properties"]["retentionInDays"], 90);
    let blob = h.arm(Method::GET, &table("StorageBlobLogs"), None).await;
    assert_eq!(blob.body["properties"]["totalRetentionInDays"], 2192);
}

/// Diagnostic settings on a SQL database and on a workspace are held to the categories those
/// services offer, and a setting must send its logs to a workspace that exists.
#[tokio::test(flavor = "multi_thread")]
async fn diagnostic_settings_name_real_categories_and_an_existing_workspace() {
    let h = Harness::start().await;
    let ws = workspace(&h, "law-diag").await;
    let setting = |scope: &str| {
        format!(
            "{scope}/providers/Microsoft.Insights/diagnosticSettings/audit?api-version=2021-05-01-preview"
        )
    };
    let put = |scope: String, body: serde_json::Value| {
        let h = &h;
        async move { h.arm(Method::PUT, &setting(&scope), Some(&body)).await }
    };
    let ok = put(
        ws.clone(),
        json!({"properties": {"workspaceId": ws, "logs": [{"categoryGroup": "audit", "enabled": true}]}}),
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let wrong = put(
        ws.clone(),
        json!({"properties": {"workspaceId": ws, "logs": [{"category": "SQLSecurityAuditEvents", "enabled": true}]}}),
    )
    .await;
    assert_eq!(
        wrong.status, 400,
        "a SQL category on a workspace: {:?}",
        wrong.body
    );
    let nowhere = put(
        ws.clone(),
        json!({"properties": {"workspaceId": id("workspaces/law-missing"), "logs": [{"categoryGroup": "audit", "enabled": true}]}}),
    )
    .await;
    assert_eq!(nowhere.status, 400, "{:?}", nowhere.body);
    assert!(
        nowhere.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("law-missing")),
        "{:?}",
        nowhere.body
    );
}
