//! Subscriptions and resource groups (Microsoft.Resources).

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{Call, authorize, method_not_allowed};
use crate::errors::{ArmError, ArmResult};
use crate::http::{empty, json_response};
use crate::ids::{Target, lower};
use crate::state::{Resource, State};

const RG_TYPE: &str = "Microsoft.Resources/resourceGroups";

fn subscription_body(s: &crate::state::Subscription) -> Value {
    json!({
        "id": format!("/subscriptions/{}", s.subscription_id),
        "subscriptionId": s.subscription_id,
        "tenantId": s.tenant_id,
        "displayName": s.display_name,
        "state": "Enabled",
        "authorizationSource": "RoleBased",
    })
}

pub fn subscription_not_found(sub: &str) -> ArmError {
    ArmError::new(
        StatusCode::NOT_FOUND,
        "SubscriptionNotFound",
        format!("The subscription '{sub}' could not be found."),
    )
}

pub fn group_not_found(rg: &str) -> ArmError {
    ArmError::new(
        StatusCode::NOT_FOUND,
        "ResourceGroupNotFound",
        format!("Resource group '{rg}' could not be found."),
    )
}

pub fn subscriptions(call: &Call<'_>, target: &Target) -> ArmResult<Response> {
    if call.req.method != Method::GET {
        return Err(method_not_allowed(&call.req.method));
    }
    let st = call.shared.lock();
    match target {
        Target::Subscriptions => {
            // Like ARM, list only the subscriptions the caller holds some role in.
            let value: Vec<Value> = st
                .subscriptions
                .values()
                .filter(|s| {
                    authorize(
                        &st,
                        call.who,
                        "Microsoft.Resources/subscriptions/read",
                        &format!("/subscriptions/{}", s.subscription_id),
                    )
                    .is_ok()
                })
                .map(subscription_body)
                .collect();
            Ok(json_response(StatusCode::OK, &json!({ "value": value })))
        }
        Target::Subscription { sub } => {
            let s = st
                .subscription(sub)
                .ok_or_else(|| subscription_not_found(sub))?;
            let scope = format!("/subscriptions/{sub}");
            authorize(
                &st,
                call.who,
                "Microsoft.Resources/subscriptions/read",
                &scope,
            )?;
            Ok(json_response(StatusCode::OK, &subscription_body(s)))
        }
        Target::ResourceGroups { sub } => {
            if st.subscription(sub).is_none() {
                return Err(subscription_not_found(sub));
            }
            let scope = format!("/subscriptions/{sub}");
            authorize(
                &st,
                call.who,
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                &scope,
            )?;
            let prefix = format!("/subscriptions/{}/resourcegroups/", lower(sub));
            let value: Vec<Value> = st
                .resources
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .filter(|(_, r)| r.type_name == RG_TYPE)
                .map(|(_, r)| r.body.clone())
                .collect();
            Ok(json_response(StatusCode::OK, &json!({ "value": value })))
        }
        _ => Err(method_not_allowed(&call.req.method)),
    }
}

/// Creates or replaces a resource group; returns whether it was created.
pub fn write_group(
    st: &mut State,
    sub: &str,
    rg: &str,
    body: &Map<String, Value>,
) -> ArmResult<bool> {
    if st.subscription(sub).is_none() {
        return Err(subscription_not_found(sub));
    }
    let valid = !rg.is_empty()
        && rg.len() <= 90
        && !rg.ends_with('.')
        && rg
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
    if !valid {
        return Err(ArmError::bad_request(
            "InvalidResourceGroupName",
            format!(
                "The resource group name '{rg}' is invalid. It can contain letters, digits, '-', '_', '.', '(' and ')', must not end with '.', and is at most 90 characters long."
            ),
        ));
    }
    let Some(location) = body.get("location").and_then(Value::as_str) else {
        return Err(ArmError::bad_request(
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    };
    let id = format!("/subscriptions/{sub}/resourceGroups/{rg}");
    let existing = st.get(&id).cloned();
    if let Some(e) = &existing {
        let old = e.body["location"].as_str().unwrap_or_default();
        if !old.eq_ignore_ascii_case(location) {
            return Err(ArmError::new(
                StatusCode::CONFLICT,
                "InvalidResourceGroupLocation",
                format!(
                    "Invalid resource group location '{location}'. The Resource group already exists in location '{old}'."
                ),
            ));
        }
    }
    let id = existing.as_ref().map(|e| e.id.clone()).unwrap_or(id);
    let name = id.rsplit('/').next().unwrap_or(rg).to_string();
    let mut out = json!({
        "id": id,
        "name": name,
        "type": RG_TYPE,
        "location": location,
        "properties": {"provisioningState": "Succeeded"},
    });
    if let Some(tags) = body.get("tags") {
        out["tags"] = tags.clone();
    }
    let etag = format!("\"{}\"", uuid::Uuid::new_v4());
    st.resources.insert(
        lower(&id),
        Resource {
            id,
            type_name: RG_TYPE.to_string(),
            body: out,
            etag,
            last_modified_by: String::new(),
        },
    );
    Ok(existing.is_none())
}

pub fn resource_group(call: &Call<'_>, sub: &str, rg: &str) -> ArmResult<Response> {
    let id = format!("/subscriptions/{sub}/resourceGroups/{rg}");
    let action = match call.req.method {
        Method::GET | Method::HEAD => "read",
        Method::PUT | Method::PATCH => "write",
        Method::DELETE => "delete",
        _ => return Err(method_not_allowed(&call.req.method)),
    };
    let mut st = call.shared.lock();
    if st.subscription(sub).is_none() {
        return Err(subscription_not_found(sub));
    }
    authorize(
        &st,
        call.who,
        &format!("Microsoft.Resources/subscriptions/resourceGroups/{action}"),
        &id,
    )?;
    let lock_op = match call.req.method {
        Method::PUT | Method::PATCH => Some(super::locks::Operation::Write),
        Method::DELETE => Some(super::locks::Operation::Delete),
        _ => None,
    };
    if let Some(op) = lock_op {
        super::locks::enforce(&st, &id, op)?;
    }
    match call.req.method {
        Method::GET => {
            let r = st.get(&id).ok_or_else(|| group_not_found(rg))?;
            Ok(json_response(StatusCode::OK, &r.body))
        }
        Method::HEAD => Ok(empty(if st.get(&id).is_some() {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::NOT_FOUND
        })),
        Method::PUT => {
            let body = call.req.json_object()?;
            let created = write_group(&mut st, sub, rg, &body)?;
            call.shared.mark_dirty();
            let r = st.get(&id).map(|r| r.body.clone()).unwrap_or_default();
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json_response(status, &r))
        }
        Method::PATCH => {
            let body = call.req.json_object()?;
            let r = st.get_mut(&id).ok_or_else(|| group_not_found(rg))?;
            if let Some(tags) = body.get("tags") {
                r.body["tags"] = tags.clone();
            }
            let out = r.body.clone();
            call.shared.mark_dirty();
            Ok(json_response(StatusCode::OK, &out))
        }
        // Azure deletes a group and everything in it as a long-running operation.
        Method::DELETE => {
            let Some(group) = st.get(&id).cloned() else {
                return Ok(empty(StatusCode::NO_CONTENT));
            };
            let op = crate::lro::start(
                &mut st,
                crate::lro::Operation {
                    id: uuid::Uuid::new_v4().to_string(),
                    resource_id: group.id.clone(),
                    kind: crate::lro::OpKind::Delete,
                    namespace: "Microsoft.Resources".to_string(),
                    location: group.body["location"]
                        .as_str()
                        .unwrap_or("eastus")
                        .to_string(),
                    subscription: sub.to_string(),
                    api_version: call.api_version.clone(),
                    started_ms: 0,
                    completes_ms: 0,
                    status: crate::lro::OpStatus::InProgress,
                    planned_error: None,
                    error: None,
                },
                call.now,
            );
            call.shared.mark_dirty();
            let mut r = empty(StatusCode::ACCEPTED);
            crate::http::set_header(&mut r, "location", &op.result_url(&call.shared.base_url));
            crate::http::set_header(
                &mut r,
                "retry-after",
                &st.config.lro_retry_after_secs.to_string(),
            );
            Ok(r)
        }
        _ => Err(method_not_allowed(&call.req.method)),
    }
}
