//! Microsoft.Insights diagnostic settings on any resource scope (and on a subscription), the
//! diagnostic categories each served resource type offers, and alerting: activity log alerts,
//! action groups and log search (scheduled query) alert rules.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::arm::registry::TypeSpec;
use crate::errors::{ArmError, ArmResult};
use crate::ids::{self, ProviderPath, Target, lower};
use crate::state::{Resource, State};

pub const SETTING: &str = "Microsoft.Insights/diagnosticSettings";
pub const CATEGORIES: &str = "Microsoft.Insights/diagnosticSettingsCategories";
pub const ACTIVITY_ALERT: &str = "Microsoft.Insights/activityLogAlerts";
pub const ACTION_GROUP: &str = "Microsoft.Insights/actionGroups";
pub const QUERY_RULE: &str = "Microsoft.Insights/scheduledQueryRules";

/// (name, Logs|Metrics, category groups) per resource type, from Azure Monitor's
/// supported-categories tables for these services.
fn categories_for(
    type_name: &str,
) -> &'static [(&'static str, &'static str, &'static [&'static str])] {
    match type_name.to_ascii_lowercase().as_str() {
        "microsoft.storage/storageaccounts" => &[
            ("Transaction", "Metrics", &[]),
            ("Capacity", "Metrics", &[]),
        ],
        "microsoft.storage/storageaccounts/blobservices" => &[
            ("StorageRead", "Logs", &["audit", "allLogs"]),
            ("StorageWrite", "Logs", &["audit", "allLogs"]),
            ("StorageDelete", "Logs", &["audit", "allLogs"]),
            ("Transaction", "Metrics", &[]),
            ("Capacity", "Metrics", &[]),
        ],
        "microsoft.keyvault/vaults" => &[
            ("AuditEvent", "Logs", &["audit", "allLogs"]),
            ("AzurePolicyEvaluationDetails", "Logs", &["allLogs"]),
            ("AllMetrics", "Metrics", &[]),
        ],
        "microsoft.sql/servers" => &[("AllMetrics", "Metrics", &[])],
        // Azure Monitor, "Supported logs for Microsoft.Sql/servers/databases".
        "microsoft.sql/servers/databases" => &[
            ("SQLSecurityAuditEvents", "Logs", &["audit", "allLogs"]),
            ("DevOpsOperationsAudit", "Logs", &["audit", "allLogs"]),
            ("SQLInsights", "Logs", &["allLogs"]),
            ("AutomaticTuning", "Logs", &["allLogs"]),
            ("QueryStoreRuntimeStatistics", "Logs", &["allLogs"]),
            ("QueryStoreWaitStatistics", "Logs", &["allLogs"]),
            ("Errors", "Logs", &["allLogs"]),
            ("DatabaseWaitStatistics", "Logs", &["allLogs"]),
            ("Timeouts", "Logs", &["allLogs"]),
            ("Blocks", "Logs", &["allLogs"]),
            ("Deadlocks", "Logs", &["allLogs"]),
            ("Basic", "Metrics", &[]),
            ("InstanceAndAppAdvanced", "Metrics", &[]),
            ("WorkloadManagement", "Metrics", &[]),
        ],
        // "Supported logs for Microsoft.OperationalInsights/workspaces".
        "microsoft.operationalinsights/workspaces" => &[
            ("Audit", "Logs", &["audit", "allLogs"]),
            ("SummaryLogs", "Logs", &["allLogs"]),
            ("AllMetrics", "Metrics", &[]),
        ],
        "microsoft.documentdb/databaseaccounts" => &[
            ("DataPlaneRequests", "Logs", &["allLogs"]),
            ("QueryRuntimeStatistics", "Logs", &["allLogs"]),
            ("PartitionKeyStatistics", "Logs", &["allLogs"]),
            ("ControlPlaneRequests", "Logs", &["audit", "allLogs"]),
            ("Requests", "Metrics", &[]),
        ],
        "microsoft.healthcareapis/workspaces/fhirservices" => &[
            ("AuditLogs", "Logs", &["audit", "allLogs"]),
            ("AllMetrics", "Metrics", &[]),
        ],
        "microsoft.healthcareapis/workspaces/dicomservices" => &[
            ("AuditLogs", "Logs", &["audit", "allLogs"]),
            ("DiagnosticLogs", "Logs", &["allLogs"]),
            ("AllMetrics", "Metrics", &[]),
        ],
        "microsoft.network/privateendpoints" => &[("AllMetrics", "Metrics", &[])],
        "microsoft.logic/workflows" => &[
            ("WorkflowRuntime", "Logs", &["allLogs"]),
            ("WorkflowMetric", "Metrics", &[]),
        ],
        _ => &[],
    }
}

/// The activity log's categories: what a subscription diagnostic setting exports (Learn, "Azure
/// activity log event schema"); every one is in the `allLogs` group.
const SUBSCRIPTION_CATEGORIES: &[(&str, &str, &[&str])] = &[
    ("Administrative", "Logs", &["allLogs"]),
    ("Security", "Logs", &["allLogs"]),
    ("ServiceHealth", "Logs", &["allLogs"]),
    ("Alert", "Logs", &["allLogs"]),
    ("Recommendation", "Logs", &["allLogs"]),
    ("Policy", "Logs", &["allLogs"]),
    ("Autoscale", "Logs", &["allLogs"]),
    ("ResourceHealth", "Logs", &["allLogs"]),
];

fn scope_type(scope: &str) -> Option<String> {
    match ids::parse(scope).ok()? {
        Target::Provider(p) if !p.is_collection() => Some(p.type_name()),
        _ => None,
    }
}

/// The subscription id when the scope is a subscription itself.
fn subscription_scope(scope: &str) -> Option<String> {
    match ids::parse(scope).ok()? {
        Target::Subscription { sub } => Some(sub),
        _ => None,
    }
}

fn categories_of_scope(
    scope: &str,
) -> &'static [(&'static str, &'static str, &'static [&'static str])] {
    if subscription_scope(scope).is_some() {
        return SUBSCRIPTION_CATEGORIES;
    }
    scope_type(scope).map(|t| categories_for(&t)).unwrap_or(&[])
}

pub fn on_put(
    st: &State,
    spec: &TypeSpec,
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
) -> ArmResult<()> {
    match spec.name {
        SETTING => {
            diagnostic_setting(p, body)?;
            destination_exists(st, body)
        }
        ACTIVITY_ALERT => activity_log_alert(p, body),
        ACTION_GROUP => action_group(p, existing, body),
        QUERY_RULE => scheduled_query_rule(p, body),
        _ => Ok(()),
    }
}

fn bad(message: impl Into<String>) -> ArmError {
    ArmError::bad_request("BadRequest", message)
}

/// `{scope}/providers/microsoft.insights/{type}/{name}`: the alerting recordings answer with the
/// namespace in lower case.
fn insights_id(p: &ProviderPath, segment: &str) -> String {
    format!(
        "{}/providers/microsoft.insights/{segment}/{}",
        p.scope,
        p.name().unwrap_or_default()
    )
}

/// An activity log alert (activityLogAlerts_API.json 2020-10-01): `scopes`, `condition` and
/// `actions` are required, `enabled` defaults to true. The recorded responses give the scopes
/// without their leading slash and the type as `Microsoft.Insights/ActivityLogAlerts`.
fn activity_log_alert(p: &ProviderPath, body: &mut Value) -> ArmResult<()> {
    super::fields::ensure_props(body);
    let props = &mut body["properties"];
    if props["scopes"].as_array().is_none_or(Vec::is_empty) {
        return Err(bad(
            "The activity log alert needs properties.scopes with at least one item.",
        ));
    }
    if !props["condition"]["allOf"].is_array() {
        return Err(bad(
            "The activity log alert needs properties.condition.allOf.",
        ));
    }
    if !props["actions"].is_object() {
        return Err(bad("The activity log alert needs properties.actions."));
    }
    for leaf in props["condition"]["allOf"].as_array().into_iter().flatten() {
        let any_of = leaf["anyOf"].is_array();
        if !any_of && (leaf["field"].as_str().is_none() || leaf.get("equals").is_none()) {
            return Err(bad(
                "Each activity log alert condition needs 'field' and 'equals'.",
            ));
        }
    }
    for group in props["actions"]["actionGroups"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if group["actionGroupId"].as_str().is_none_or(str::is_empty) {
            return Err(bad(
                "The actionGroupId of an action group cannot be null or empty.",
            ));
        }
    }
    if let Some(scopes) = props["scopes"].as_array_mut() {
        for s in scopes {
            if let Some(v) = s.as_str() {
                *s = json!(v.trim_start_matches('/'));
            }
        }
    }
    super::fields::default(props, "enabled", json!(true));
    body["id"] = json!(insights_id(p, "activityLogAlerts"));
    body["type"] = json!("Microsoft.Insights/ActivityLogAlerts");
    Ok(())
}

/// Receiver lists of an action group (actionGroups_API.json), and whether their entries carry
/// `useCommonAlertSchema` (false unless sent).
const RECEIVERS: &[(&str, bool)] = &[
    ("emailReceivers", true),
    ("smsReceivers", false),
    ("webhookReceivers", true),
    ("itsmReceivers", false),
    ("azureAppPushReceivers", false),
    ("automationRunbookReceivers", true),
    ("voiceReceivers", false),
    ("logicAppReceivers", true),
    ("azureFunctionReceivers", true),
    ("armRoleReceivers", true),
    ("eventHubReceivers", true),
];

/// An action group: `groupShortName` (at most 12 characters) is required, `enabled` defaults to
/// true, every receiver list is present, and email and SMS receivers report a `status` (the
/// recorded create shows `Enabled` for new ones; a receiver keeps the one it had).
fn action_group(p: &ProviderPath, existing: Option<&Resource>, body: &mut Value) -> ArmResult<()> {
    super::fields::ensure_props(body);
    let props = &mut body["properties"];
    match props["groupShortName"].as_str() {
        Some(n) if !n.is_empty() && n.chars().count() <= 12 => {}
        _ => {
            return Err(bad(
                "The action group needs properties.groupShortName of 1 to 12 characters.",
            ));
        }
    }
    super::fields::default(props, "enabled", json!(true));
    for (list, common_schema) in RECEIVERS {
        if !props[*list].is_array() {
            props[*list] = json!([]);
        }
        let before = existing
            .map(|e| e.body["properties"][*list].clone())
            .unwrap_or(Value::Null);
        for r in props[*list].as_array_mut().into_iter().flatten() {
            if r["name"].as_str().is_none() {
                return Err(bad(format!("Every entry of {list} needs a name.")));
            }
            if *common_schema {
                super::fields::default(r, "useCommonAlertSchema", json!(false));
            }
            if matches!(*list, "emailReceivers" | "smsReceivers") {
                let kept = before
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|b| b["name"] == r["name"])
                    .and_then(|b| b["status"].as_str())
                    .unwrap_or("Enabled")
                    .to_string();
                r["status"] = json!(kept);
            }
        }
    }
    body["id"] = json!(insights_id(p, "actionGroups"));
    body["type"] = json!("Microsoft.Insights/ActionGroups");
    Ok(())
}

/// A log search alert rule (scheduledQueryRule_API.json 2023-12-01): severity 0 to 4 and at
/// least one scope. The recorded responses add empty tags when none were sent, report
/// `isWorkspaceAlertsStorageConfigured` (true in the recording, whose request asked for the
/// check), and give id and type in lower case.
fn scheduled_query_rule(p: &ProviderPath, body: &mut Value) -> ArmResult<()> {
    super::fields::ensure_props(body);
    let props = &mut body["properties"];
    if props["scopes"].as_array().is_none_or(Vec::is_empty) {
        return Err(bad("The scheduled query rule needs properties.scopes."));
    }
    if let Some(sev) = props.get("severity")
        && !sev.as_i64().is_some_and(|s| (0..=4).contains(&s))
    {
        return Err(bad("The rule's severity must be an integer from 0 to 4."));
    }
    let check = props["checkWorkspaceAlertsStorageConfigured"]
        .as_bool()
        .unwrap_or(false);
    props["isWorkspaceAlertsStorageConfigured"] = json!(check);
    if body.get("tags").is_none_or(Value::is_null) {
        body["tags"] = json!({});
    }
    body["id"] = json!(insights_id(p, "scheduledqueryrules"));
    body["type"] = json!("microsoft.insights/scheduledqueryrules");
    Ok(())
}

/// A setting's Log Analytics destination must exist: Azure Monitor refuses a setting that
/// would send logs nowhere (no recording; the code is the one Azure Monitor uses for the other
/// invalid settings, see README).
fn destination_exists(st: &State, body: &Value) -> ArmResult<()> {
    if let Some(ws) = body["properties"]["workspaceId"]
        .as_str()
        .filter(|w| !w.is_empty())
        && st.get(ws).is_none()
    {
        return Err(ArmError::bad_request(
            "BadRequest",
            format!("The Log Analytics workspace '{ws}' of the diagnostic setting was not found."),
        ));
    }
    Ok(())
}

fn diagnostic_setting(p: &ProviderPath, body: &mut Value) -> ArmResult<()> {
    let props = &mut body["properties"];
    if !props.is_object() {
        return Err(ArmError::bad_request(
            "BadRequest",
            "A diagnostic setting needs properties.",
        ));
    }
    let has_destination = [
        "workspaceId",
        "storageAccountId",
        "eventHubAuthorizationRuleId",
        "marketplacePartnerId",
    ]
    .iter()
    .any(|k| props[*k].as_str().is_some_and(|s| !s.is_empty()));
    if !has_destination {
        return Err(ArmError::bad_request(
            "BadRequest",
            "At least one of storage account, event hub, workspace or partner solution should be specified.",
        ));
    }
    let known = categories_of_scope(&p.scope);
    if !known.is_empty() {
        for log in props["logs"].as_array().into_iter().flatten() {
            let ok = match (log["category"].as_str(), log["categoryGroup"].as_str()) {
                (Some(c), _) => known
                    .iter()
                    .any(|(n, t, _)| *t == "Logs" && n.eq_ignore_ascii_case(c)),
                (None, Some(g)) => known
                    .iter()
                    .any(|(_, t, gs)| *t == "Logs" && gs.iter().any(|x| x.eq_ignore_ascii_case(g))),
                (None, None) => false,
            };
            if !ok {
                return Err(ArmError::bad_request(
                    "BadRequest",
                    format!(
                        "Category '{}' is not supported.",
                        log["category"]
                            .as_str()
                            .or(log["categoryGroup"].as_str())
                            .unwrap_or("")
                    ),
                ));
            }
        }
    }
    if let Some(sub) = subscription_scope(&p.scope) {
        // Both recorded subscription settings (createOrUpdateSubscriptionDiagnosticSetting.json,
        // getSubscriptionDiagnosticSetting.json) answer with this id, without a leading slash,
        // and a null type.
        body["id"] = json!(format!(
            "subscriptions/{sub}/providers/AzureResourceManager/diagnosticSettings/{}",
            p.name().unwrap_or_default()
        ));
        body["type"] = Value::Null;
        return Ok(());
    }
    body["id"] = json!(format!(
        "{}/providers/microsoft.insights/diagnosticSettings/{}",
        p.scope,
        p.name().unwrap_or_default()
    ));
    Ok(())
}

fn category_body(scope: &str, name: &str, kind: &str, groups: &[&str]) -> Value {
    let mut v = json!({
        "id": format!("{scope}/providers/microsoft.insights/diagnosticSettingsCategories/{name}"),
        "type": "microsoft.insights/diagnosticSettingsCategories",
        "name": name,
        "properties": {"categoryType": kind}
    });
    if kind == "Logs" {
        v["properties"]["categoryGroups"] = json!(groups);
    }
    v
}

fn scope_must_exist(st: &State, scope: &str) -> ArmResult<()> {
    if let Some(sub) = subscription_scope(scope) {
        return match st.subscription(&sub) {
            Some(_) => Ok(()),
            None => Err(super::super::groups::subscription_not_found(&sub)),
        };
    }
    if st.get(scope).is_none() {
        return Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The Resource '{scope}' was not found."),
        ));
    }
    Ok(())
}

pub fn virtual_get(st: &State, spec: &TypeSpec, p: &ProviderPath) -> Option<ArmResult<Value>> {
    if spec.name != CATEGORIES {
        return None;
    }
    if let Err(e) = scope_must_exist(st, &p.scope) {
        return Some(Err(e));
    }
    let name = p.name()?;
    let found = categories_of_scope(&p.scope)
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name));
    Some(
        found
            .map(|(n, k, g)| category_body(&p.scope, n, k, g))
            .ok_or_else(|| {
                ArmError::new(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFound",
                    format!("The diagnostic category '{name}' does not exist for this resource."),
                )
            }),
    )
}

pub fn virtual_list(
    st: &State,
    spec: &TypeSpec,
    p: &ProviderPath,
) -> Option<ArmResult<Vec<Value>>> {
    match spec.name {
        CATEGORIES => {
            if let Err(e) = scope_must_exist(st, &p.scope) {
                return Some(Err(e));
            }
            Some(Ok(categories_of_scope(&p.scope)
                .iter()
                .map(|(n, k, g)| category_body(&p.scope, n, k, g))
                .collect()))
        }
        SETTING => {
            if let Err(e) = scope_must_exist(st, &p.scope) {
                return Some(Err(e));
            }
            let prefix = format!(
                "{}/providers/microsoft.insights/diagnosticsettings/",
                lower(&p.scope)
            );
            Some(Ok(st
                .resources
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(_, r)| r.body.clone())
                .collect()))
        }
        _ => None,
    }
}
