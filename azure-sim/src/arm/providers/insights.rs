//! Microsoft.Insights diagnostic settings on any resource scope, and the diagnostic categories
//! each served resource type offers.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::arm::registry::TypeSpec;
use crate::errors::{ArmError, ArmResult};
use crate::ids::{self, ProviderPath, Target, lower};
use crate::state::State;

pub const SETTING: &str = "Microsoft.Insights/diagnosticSettings";
pub const CATEGORIES: &str = "Microsoft.Insights/diagnosticSettingsCategories";

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

pub fn on_put(p: &ProviderPath, body: &mut Value) -> ArmResult<()> {
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
