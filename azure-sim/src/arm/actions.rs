//! POST actions: immutability policy lock / extend, Policy Insights summaries and Azure Resource
//! Graph queries.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::registry::{self, EtagStyle};
use super::resources::new_etag;
use super::{authorize, check_api_version, method_not_allowed};
use crate::entra::Identity;
use crate::errors::{ArmError, ArmResult};
use crate::http::{Req, json_response, set_header};
use crate::ids::{ProviderPath, lower};
use crate::server::Shared;

const POLICY: &str =
    "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies";

pub fn handle(
    shared: &Shared,
    req: &Req,
    who: &Identity,
    p: &ProviderPath,
    now: OffsetDateTime,
) -> ArmResult<Response> {
    let type_name = p.type_name();
    if type_name.eq_ignore_ascii_case("Microsoft.ResourceGraph/resources") && p.is_collection() {
        check_api_version(
            req,
            lookup("Microsoft.ResourceGraph/resources")?,
            "resources",
        )?;
        return super::graph::query(shared, req, who);
    }
    if !p.is_collection() || p.types.len() < 2 {
        return Err(method_not_allowed(&req.method));
    }
    let action = p.types[p.types.len() - 1].clone();
    let parent_type = {
        let mut t = p.namespace.clone();
        for s in &p.types[..p.types.len() - 1] {
            t.push('/');
            t.push_str(s);
        }
        t
    };
    if parent_type.eq_ignore_ascii_case("Microsoft.PolicyInsights/policyStates")
        && action.eq_ignore_ascii_case("summarize")
    {
        check_api_version(req, lookup(&parent_type)?, "policyStates")?;
        return summarize(shared, who, p);
    }
    let spec = registry::lookup(&parent_type).ok_or_else(|| {
        ArmError::bad_request(
            "InvalidResourceType",
            format!("The action '{action}' on resource type '{parent_type}' is not supported."),
        )
    })?;
    check_api_version(req, spec.api_versions, spec.name)?;
    let target = p.parent_id();
    let mut st = shared.lock();
    authorize(&st, who, &format!("{}/{action}/action", spec.name), &target)?;
    // Learn ("Lock your resources"): every POST on a resource under a ReadOnly lock is refused.
    super::locks::enforce(&st, &target, super::locks::Operation::Write)?;
    if spec.name == "Microsoft.Authorization/accessReviewScheduleDefinitions/instances" {
        if action.eq_ignore_ascii_case("applyDecisions") {
            super::providers::apply_review_decisions(&mut st, &target, &who.object_id, now)?;
        } else if action.eq_ignore_ascii_case("stop") {
            super::providers::stop_review(&mut st, &target)?;
        } else {
            return Err(ArmError::bad_request(
                "InvalidAction",
                format!("The action '{action}' is not supported on access review instances."),
            ));
        };
        shared.mark_dirty();
        return Ok(crate::http::empty(StatusCode::NO_CONTENT));
    }
    if spec.name != POLICY
        || !["lock", "extend"]
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&action))
    {
        return Err(ArmError::bad_request(
            "InvalidAction",
            format!("The action '{action}' is not supported on '{}'.", spec.name),
        ));
    }
    let Some(if_match) = req.header("if-match").map(str::to_string) else {
        return Err(ArmError::bad_request(
            "MissingRequiredHeader",
            "The If-Match header is required for this operation.",
        ));
    };
    let existing = st.get(&target).cloned().ok_or_else(|| {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "ImmutabilityPolicyNotFound",
            format!("The immutability policy '{target}' does not exist."),
        )
    })?;
    let norm = |e: &str| {
        e.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_string()
    };
    if if_match.trim() != "*" && norm(&if_match) != norm(&existing.etag) {
        return Err(ArmError::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            format!(
                "The condition specified using HTTP conditional header(s) is not met: If-Match '{if_match}' does not match the current ETag '{}'.",
                existing.etag
            ),
        ));
    }
    let state = existing.body["properties"]["state"]
        .as_str()
        .unwrap_or("Unlocked")
        .to_string();
    let mut body = existing.body.clone();
    if action.eq_ignore_ascii_case("lock") {
        if state == "Locked" {
            return Err(ArmError::new(
                StatusCode::CONFLICT,
                "ContainerImmutabilityPolicyLocked",
                "The immutability policy is already Locked.",
            ));
        }
        body["properties"]["state"] = json!("Locked");
    } else {
        if state != "Locked" {
            return Err(ArmError::new(
                StatusCode::CONFLICT,
                "ContainerImmutabilityPolicyNotLocked",
                "Only a Locked immutability policy can be extended.",
            ));
        }
        let req_body = req.json_object()?;
        let days = req_body
            .get("properties")
            .and_then(|p| p.get("immutabilityPeriodSinceCreationInDays"))
            .and_then(Value::as_i64)
            .ok_or_else(|| {
                ArmError::bad_request(
                    "InvalidRequestContent",
                    "properties.immutabilityPeriodSinceCreationInDays is required.",
                )
            })?;
        let current = body["properties"]["immutabilityPeriodSinceCreationInDays"]
            .as_i64()
            .unwrap_or(0);
        if days < current {
            return Err(ArmError::bad_request(
                "ImmutabilityPolicyPeriodCannotBeShortened",
                format!(
                    "A Locked immutability policy can only be lengthened: {days} days is less than the current {current}."
                ),
            ));
        }
        body["properties"]["immutabilityPeriodSinceCreationInDays"] = json!(days);
    }
    let etag = new_etag(&mut st, EtagStyle::Hex);
    body["etag"] = json!(etag);
    let updated = crate::state::Resource {
        id: existing.id.clone(),
        type_name: existing.type_name.clone(),
        body: body.clone(),
        etag: etag.clone(),
        last_modified_by: who.object_id.clone(),
    };
    st.resources.insert(lower(&existing.id), updated.clone());
    super::providers::reflect_policy(&mut st, &updated, now);
    shared.mark_dirty();
    let mut resp = json_response(StatusCode::OK, &body);
    set_header(&mut resp, "etag", &etag);
    Ok(resp)
}

fn lookup(type_name: &str) -> ArmResult<&'static [&'static str]> {
    registry::lookup(type_name)
        .map(|s| s.api_versions)
        .ok_or_else(|| ArmError::internal(format!("type {type_name} is not registered")))
}

/// Policy compliance summary for a scope: every assignment at or above it, with the
/// non-compliance counts recorded in `properties.simulatedCompliance` (none by default).
fn summarize(shared: &Shared, who: &Identity, p: &ProviderPath) -> ArmResult<Response> {
    let st = shared.lock();
    let scope = if p.scope.is_empty() {
        "/".to_string()
    } else {
        p.scope.clone()
    };
    authorize(
        &st,
        who,
        "Microsoft.PolicyInsights/policyStates/summarize/read",
        &scope,
    )?;
    let assignments: Vec<Value> = st
        .resources
        .values()
        .filter(|r| r.type_name == "Microsoft.Authorization/policyAssignments")
        .filter(|r| {
            r.body["properties"]["scope"]
                .as_str()
                .is_some_and(|s| crate::authz::scope_contains(s, &scope))
        })
        .map(|r| {
            let non_compliant = r.body["properties"]["metadata"]["simulatedNonCompliantResources"].as_i64().unwrap_or(0);
            let def = r.body["properties"]["policyDefinitionId"].as_str().unwrap_or_default();
            let is_set = def.to_ascii_lowercase().contains("/policysetdefinitions/");
            json!({
                "policyAssignmentId": r.id.to_ascii_lowercase(),
                "policySetDefinitionId": if is_set { def.to_ascii_lowercase() } else { String::new() },
                "results": {
                    "nonCompliantResources": non_compliant,
                    "nonCompliantPolicies": i64::from(non_compliant > 0),
                    "resourceDetails": [
                        {"complianceState": "noncompliant", "count": non_compliant}
                    ],
                    "policyDetails": [],
                    "policyGroupDetails": []
                },
                "policyDefinitions": [],
                "policyGroups": []
            })
        })
        .collect();
    let total_nc: i64 = assignments
        .iter()
        .map(|a| a["results"]["nonCompliantResources"].as_i64().unwrap_or(0))
        .sum();
    let nc_policies = assignments
        .iter()
        .filter(|a| a["results"]["nonCompliantResources"].as_i64().unwrap_or(0) > 0)
        .count();
    let body = json!({
        "@odata.context": "https://management.azure.com/providers/Microsoft.PolicyInsights/policyStates/$metadata#summary",
        "@odata.count": 1,
        "value": [{
            "@odata.id": null,
            "@odata.context": "https://management.azure.com/providers/Microsoft.PolicyInsights/policyStates/$metadata#summary/$entity",
            "results": {
                "queryResultsUri": format!("https://management.azure.com{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?api-version=2024-10-01&$filter=ComplianceState eq 'NonCompliant'", p.scope),
                "nonCompliantResources": total_nc,
                "nonCompliantPolicies": nc_policies,
                "resourceDetails": [{"complianceState": "noncompliant", "count": total_nc}],
                "policyDetails": [],
                "policyGroupDetails": []
            },
            "policyAssignments": assignments
        }]
    });
    Ok(json_response(StatusCode::OK, &body))
}
