//! Access reviews of Azure role assignments (ARM preview API): schedule definitions start an
//! instance whose decisions list the role assignments at the reviewed scope; reviewers record
//! decisions; applying them removes denied assignments.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::arm::registry::TypeSpec;
use crate::authz;
use crate::clock::arm_timestamp;
use crate::errors::{ArmError, ArmResult};
use crate::ids::{ProviderPath, lower};
use crate::state::{PrincipalType, Resource, State};

pub const DEFINITION: &str = "Microsoft.Authorization/accessReviewScheduleDefinitions";
pub const INSTANCE: &str = "Microsoft.Authorization/accessReviewScheduleDefinitions/instances";
pub const DECISION: &str =
    "Microsoft.Authorization/accessReviewScheduleDefinitions/instances/decisions";
const DECISIONS: &[&str] = &["Approve", "Deny", "NotReviewed", "DontKnow"];

fn parse_time(v: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(v.as_str()?, &time::format_description::well_known::Rfc3339).ok()
}

/// Status from the recurrence: NotStarted before the start date, InProgress after it.
pub fn on_put_definition(p: &ProviderPath, body: &mut Value, now: OffsetDateTime) -> ArmResult<()> {
    let props = &mut body["properties"];
    if !props.is_object() {
        return Err(ArmError::bad_request(
            "InvalidRequestContent",
            "An access review schedule definition needs properties.",
        ));
    }
    if props["displayName"].as_str().is_none() {
        return Err(ArmError::bad_request(
            "InvalidRequestContent",
            "properties.displayName is required.",
        ));
    }
    // readOnly in the 2021-12-01-preview model: the scope comes from the URL, and the type of
    // the reviewers from whether any are named.
    if !props["scope"].is_object() {
        props["scope"] = json!({});
    }
    props["scope"]["resourceId"] = json!(p.scope);
    let assigned = props["reviewers"].as_array().is_some_and(|r| !r.is_empty());
    props["reviewersType"] = json!(if assigned { "Assigned" } else { "Self" });
    let start = parse_time(&props["settings"]["recurrence"]["range"]["startDate"]);
    let started = start.is_none_or(|s| s <= now);
    props["status"] = json!(if started { "InProgress" } else { "NotStarted" });
    Ok(())
}

fn principal_ref(st: &State, object_id: &str) -> Value {
    let p = st.principal(object_id);
    let kind = match p.map(|p| p.principal_type) {
        Some(PrincipalType::User) => "user",
        _ => "servicePrincipal",
    };
    json!({
        "principalType": kind,
        "principalId": object_id,
        "principalName": p.map(|p| p.display_name.clone()).unwrap_or_default(),
    })
}

pub fn after_write(st: &mut State, spec: &TypeSpec, r: &Resource, now: OffsetDateTime) {
    match spec.name {
        DEFINITION => start_instance(st, r, now),
        // A decision written by a principal (not seeded) records its reviewer.
        DECISION if st.principal(&r.last_modified_by).is_some() => {
            let reviewer = principal_ref(st, &r.last_modified_by);
            if let Some(d) = st.get_mut(&r.id) {
                d.body["properties"]["reviewedBy"] = reviewer;
                d.body["properties"]["reviewedDateTime"] = json!(arm_timestamp(now));
            }
        }
        _ => {}
    }
}

/// The first write of an InProgress definition opens an instance listing one decision per role
/// assignment at the reviewed scope (of the reviewed role, when one is named).
fn start_instance(st: &mut State, def: &Resource, now: OffsetDateTime) {
    let created_by = def.body["systemData"]["createdBy"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let creator = principal_ref(st, &created_by);
    // Each reviewer's principalType is readOnly: the directory says what the principal is.
    let reviewers: Vec<Value> = def.body["properties"]["reviewers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let id = r["principalId"].as_str().unwrap_or_default();
            // A principal the directory does not hold: nothing to say better than the request.
            if st.principal(id).is_none() {
                return r.clone();
            }
            let mut known = principal_ref(st, id);
            if let Some(o) = known.as_object_mut() {
                o.remove("principalName");
            }
            known
        })
        .collect();
    if let Some(d) = st.get_mut(&def.id) {
        d.body["properties"]["createdBy"] = creator;
        if !reviewers.is_empty() {
            d.body["properties"]["reviewers"] = json!(reviewers);
        }
    }
    let props = &def.body["properties"];
    if props["status"] != "InProgress"
        || !st.descendants(&format!("{}/instances", def.id)).is_empty()
    {
        return;
    }
    let days = props["settings"]["instanceDurationInDays"]
        .as_i64()
        .filter(|d| *d > 0)
        .unwrap_or(14)
        .min(3650);
    let instance_id = format!(
        "{}/instances/{}",
        def.id,
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, lower(&def.id).as_bytes())
    );
    let instance = json!({
        "id": instance_id,
        "name": instance_id.rsplit('/').next().unwrap_or_default(),
        "type": INSTANCE,
        "properties": {
            "status": "InProgress",
            "startDateTime": arm_timestamp(now),
            "endDateTime": arm_timestamp(now + time::Duration::days(days)),
            "reviewers": if reviewers.is_empty() { props["reviewers"].clone() } else { json!(reviewers) },
            "reviewersType": props["reviewersType"],
        }
    });
    super::insert_implicit(st, INSTANCE, &instance_id, instance);
    let scope = props["scope"]["resourceId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let role = props["scope"]["roleDefinitionId"]
        .as_str()
        .map(|r| authz::role_guid(r).to_ascii_lowercase());
    let assignments: Vec<Resource> = st
        .assignments_at(&scope)
        .filter(|r| r.type_name == super::authorization::ASSIGNMENT)
        .filter(|r| {
            r.body["properties"]["scope"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(&scope))
        })
        .filter(|r| {
            role.as_deref().is_none_or(|g| {
                r.body["properties"]["roleDefinitionId"]
                    .as_str()
                    .is_some_and(|x| authz::role_guid(x).eq_ignore_ascii_case(g))
            })
        })
        .cloned()
        .collect();
    for ra in assignments {
        let name = ra.id.rsplit('/').next().unwrap_or_default().to_string();
        let principal_id = ra.body["properties"]["principalId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let pref = principal_ref(st, &principal_id);
        let role_id = ra.body["properties"]["roleDefinitionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let role_name = authz::built_in_by_guid(authz::role_guid(&role_id))
            .map(|b| b.name)
            .unwrap_or("Custom role");
        let id = format!("{instance_id}/decisions/{name}");
        let body = json!({
            "id": id, "name": name, "type": DECISION,
            "properties": {
                "decision": "NotReviewed",
                "recommendation": "NotAvailable",
                "applyResult": "New",
                "principal": {"type": pref["principalType"], "id": principal_id, "displayName": pref["principalName"]},
                "resource": {"type": "azureRole", "id": authz::role_guid(&role_id), "displayName": role_name},
                "roleAssignmentId": ra.id,
            }
        });
        super::insert_implicit(st, DECISION, &id, body);
    }
}

/// Reviewers change only `decision` and `justification`.
pub fn on_patch(
    spec: &TypeSpec,
    existing: &Resource,
    patch: &Map<String, Value>,
    merged: &mut Value,
) -> ArmResult<()> {
    if spec.name != DECISION {
        return Ok(());
    }
    let props = patch.get("properties").cloned().unwrap_or(Value::Null);
    let decision = props["decision"].as_str().unwrap_or_default();
    if !DECISIONS.contains(&decision) {
        return Err(ArmError::bad_request(
            "InvalidDecision",
            format!(
                "The decision '{decision}' is not valid: use one of {}.",
                DECISIONS.join(", ")
            ),
        ));
    }
    *merged = existing.body.clone();
    merged["properties"]["decision"] = json!(decision);
    if let Some(j) = props["justification"].as_str() {
        merged["properties"]["justification"] = json!(j);
    }
    Ok(())
}

fn instance(st: &State, instance_id: &str) -> ArmResult<Resource> {
    st.get(instance_id)
        .cloned()
        .filter(|r| r.type_name == INSTANCE)
        .ok_or_else(|| {
            ArmError::new(
                StatusCode::NOT_FOUND,
                "AccessReviewInstanceNotFound",
                format!("The access review instance '{instance_id}' was not found."),
            )
        })
}

/// Removes the role assignment of every Deny decision and records the result on the decision.
pub fn apply_decisions(
    st: &mut State,
    instance_id: &str,
    caller: &str,
    now: OffsetDateTime,
) -> ArmResult<()> {
    let inst = instance(st, instance_id)?;
    let applier = principal_ref(st, caller);
    let decisions: Vec<String> = st.descendants(&format!("{}/decisions", inst.id));
    for key in decisions {
        let Some(d) = st.resources.get(&key).cloned() else {
            continue;
        };
        let denied = d.body["properties"]["decision"] == "Deny";
        let assignment = d.body["properties"]["roleAssignmentId"]
            .as_str()
            .map(str::to_string);
        if denied && let Some(ra) = assignment {
            st.resources.remove(&lower(&ra));
        }
        if let Some(m) = st.resources.get_mut(&key) {
            let p = &mut m.body["properties"];
            p["appliedBy"] = applier.clone();
            p["appliedDateTime"] = json!(arm_timestamp(now));
            p["applyResult"] = json!(if denied {
                "AppliedSuccessfully"
            } else {
                "AppliedSuccessfullyButObjectNotFound"
            });
        }
    }
    if let Some(i) = st.get_mut(&inst.id) {
        i.body["properties"]["status"] = json!("Applied");
    }
    Ok(())
}

pub fn stop(st: &mut State, instance_id: &str) -> ArmResult<()> {
    let inst = instance(st, instance_id)?;
    if let Some(i) = st.get_mut(&inst.id) {
        i.body["properties"]["status"] = json!("Completed");
    }
    Ok(())
}
