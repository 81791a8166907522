//! Alerting: action groups, activity log alerts and log search alert rules, as the operator's
//! monitoring controls create and read them.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

fn rg() -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{RG}")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_activity_log_alert_notifies_an_action_group() {
    let h = Harness::start().await;
    let op = h.token(OPERATOR).await;
    let ag = format!(
        "{}/providers/Microsoft.Insights/actionGroups/phi-oncall",
        rg()
    );
    let long = h
        .arm_as(
            &op,
            Method::PUT,
            &format!("{ag}?api-version=2023-01-01"),
            Some(&json!({"location": "Global", "properties": {"groupShortName": "much-too-long-name", "enabled": true}})),
        )
        .await;
    assert_eq!(long.status, 400, "groupShortName holds 12 characters");
    let created = h
        .arm_as(
            &op,
            Method::PUT,
            &format!("{ag}?api-version=2023-01-01"),
            Some(
                &json!({"location": "Global", "properties": {"groupShortName": "phioncall",
                "emailReceivers": [{"name": "secops", "emailAddress": "secops@example.test"}]}}),
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let props = &created.body["properties"];
    assert_eq!(props["enabled"], true);
    assert_eq!(props["emailReceivers"][0]["status"], "Enabled");
    assert_eq!(props["emailReceivers"][0]["useCommonAlertSchema"], false);
    assert_eq!(props["smsReceivers"], json!([]));
    assert_eq!(created.body["type"], "Microsoft.Insights/ActionGroups");

    let alert = format!(
        "{}/providers/Microsoft.Insights/activityLogAlerts/policy-assignment-deleted",
        rg()
    );
    let missing = h
        .arm_as(
            &op,
            Method::PUT,
            &format!("{alert}?api-version=2020-10-01"),
            Some(&json!({"location": "Global", "properties": {"scopes": [], "condition": {"allOf": []}, "actions": {}}})),
        )
        .await;
    assert_eq!(missing.status, 400, "at least one scope");
    let body = json!({"location": "Global", "properties": {
        "scopes": [format!("/subscriptions/{SUB}")],
        "condition": {"allOf": [
            {"field": "category", "equals": "Administrative"},
            {"field": "operationName", "equals": "Microsoft.Authorization/policyAssignments/delete"}]},
        "actions": {"actionGroups": [{"actionGroupId": ag}]}}});
    let a = h
        .arm_as(
            &op,
            Method::PUT,
            &format!("{alert}?api-version=2020-10-01"),
            Some(&body),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.body["properties"]["enabled"], true);
    assert_eq!(
        a.body["properties"]["scopes"][0],
        format!("subscriptions/{SUB}"),
        "scopes come back without the leading slash, as recorded"
    );
    let off = h
        .arm_as(
            &op,
            Method::PATCH,
            &format!("{alert}?api-version=2020-10-01"),
            Some(&json!({"properties": {"enabled": false}})),
        )
        .await;
    assert_eq!(off.status, 200, "{:?}", off.body);
    assert_eq!(off.body["properties"]["enabled"], false);
    assert_eq!(
        off.body["properties"]["actions"]["actionGroups"][0]["actionGroupId"],
        ag
    );
    let list = h
        .arm(
            Method::GET,
            &format!(
                "{}/providers/Microsoft.Insights/activityLogAlerts?api-version=2020-10-01",
                rg()
            ),
            None,
        )
        .await;
    assert_eq!(list.body["value"].as_array().map(Vec::len), Some(1));

    let reader = h.token(READER).await;
    let denied = h
        .arm_as(
            &reader,
            Method::PUT,
            &format!("{alert}?api-version=2020-10-01"),
            Some(&body),
        )
        .await;
    assert_eq!(denied.status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_search_alert_rule_is_validated_and_reports_its_storage_check() {
    let h = Harness::start().await;
    let rule = format!(
        "{}/providers/Microsoft.Insights/scheduledQueryRules/failed-logins",
        rg()
    );
    let mut body = json!({"location": "eastus", "properties": {
        "severity": 7, "enabled": true, "evaluationFrequency": "PT5M", "windowSize": "PT15M",
        "scopes": [format!("{}/providers/Microsoft.OperationalInsights/workspaces/law-phi", rg())],
        "criteria": {"allOf": [{"query": "SigninLogs | where ResultType != 0", "timeAggregation": "Count", "operator": "GreaterThan", "threshold": 5}]}}});
    let bad = h
        .arm(
            Method::PUT,
            &format!("{rule}?api-version=2023-12-01"),
            Some(&body),
        )
        .await;
    assert_eq!(bad.status, 400, "severity runs from 0 to 4");
    body["properties"]["severity"] = json!(1);
    let ok = h
        .arm(
            Method::PUT,
            &format!("{rule}?api-version=2023-12-01"),
            Some(&body),
        )
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    assert_eq!(ok.body["tags"], json!({}));
    assert_eq!(
        ok.body["properties"]["isWorkspaceAlertsStorageConfigured"],
        false
    );
    assert_eq!(ok.body["type"], "microsoft.insights/scheduledqueryrules");
    let again = h
        .arm(
            Method::PUT,
            &format!("{rule}?api-version=2023-12-01"),
            Some(&body),
        )
        .await;
    assert_eq!(again.status, 200);
    let got = h
        .arm(Method::GET, &format!("{rule}?api-version=2023-12-01"), None)
        .await;
    assert_eq!(
        got.body["properties"]["criteria"],
        body["properties"]["criteria"]
    );
}
