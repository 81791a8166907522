//! Strict request conformance end to end: a body that breaks Azure's published model for its
//! operation is refused with the simulator-only code before any handler sees it, and the same
//! request goes through when a person exploring turns the check off.

use azure_sim::conformance::CODE;
use reqwest::Method;
use serde_json::json;

use crate::common::*;

const API: &str = "api-version=2023-08-01";
const DIAG_API: &str = "api-version=2021-05-01-preview";

fn server() -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Sql/servers/sql-conf")
}

async fn with_server(h: &Harness) {
    let c = h
        .arm(
            Method::PUT,
            &format!("{}?{API}", server()),
            Some(&json!({"location": "eastus", "properties": {"administratorLogin": "a", "administratorLoginPassword": "p"}})),
        )
        .await;
    assert_eq!(c.status, 202, "{:?}", c.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_property_in_a_put_body_is_refused_loudly() {
    let h = Harness::start().await;
    with_server(&h).await;
    let url = format!("{}/azureADOnlyAuthentications/Default?{API}", server());
    // A read-modify-write that forgot to strip what GET returned.
    let r = h
        .arm(
            Method::PUT,
            &url,
            Some(&json!({
                "id": format!("{}/azureADOnlyAuthentications/Default", server()),
                "properties": {"azureADOnlyAuthentication": true}
            })),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, CODE), "{:?}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    for needle in [
        "ServerAzureADOnlyAuthentications_CreateOrUpdate",
        "2023-08-01",
        "$.id",
        "readOnly",
        "ServerAzureADOnlyAuthentications.json",
    ] {
        assert!(message.contains(needle), "{needle} in {message}");
    }
    assert_eq!(r.body["error"]["target"], "$.id");
    // Nothing was written.
    let g = h.arm(Method::GET, &url, None).await;
    assert_eq!(g.body["properties"]["azureADOnlyAuthentication"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_properties_and_missing_required_ones_are_named_by_path() {
    let h = Harness::start().await;
    let acct = h.storage_account("confdiag").await;
    let url = format!(
        "{acct}/blobServices/default/providers/Microsoft.Insights/diagnosticSettings/audit?{DIAG_API}"
    );
    // The setting's destination exists (a setting naming a missing workspace is refused).
    let law = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.OperationalInsights/workspaces/w"
    );
    let made = h
        .arm(
            Method::PUT,
            &format!("{law}?api-version=2025-02-01"),
            Some(&json!({"location": "eastus"})),
        )
        .await;
    assert!(made.status < 300, "{:?}", made.body);
    let r = h
        .arm(
            Method::PUT,
            &url,
            Some(&json!({"properties": {
                "workspaceId": law,
                "logs": [{"categoryGroup": "audit"}, {"categoryGroup": "allLogs", "enabled": true, "retention": 30}]
            }})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, CODE), "{:?}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("$.properties.logs[0].enabled [required]"),
        "{message}"
    );
    assert!(
        message.contains("$.properties.logs[1].retention [unknownProperty]"),
        "{message}"
    );
    let ok = h
        .arm(
            Method::PUT,
            &url,
            Some(&json!({"properties": {
                "workspaceId": law,
                "logs": [{"categoryGroup": "audit", "enabled": true}]
            }})),
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn turned_off_the_same_request_reaches_the_handler() {
    let h = Harness::lenient().await;
    with_server(&h).await;
    let url = format!("{}/azureADOnlyAuthentications/Default?{API}", server());
    let r = h
        .arm(
            Method::PUT,
            &url,
            Some(&json!({
                "id": "ignored",
                "properties": {"azureADOnlyAuthentication": true}
            })),
        )
        .await;
    assert_ne!(r.code(), CODE, "{:?}", r.body);
    assert!(r.status < 300, "{:?}", r.body);
}
