//! Provider rules on top of the generic handlers: validation, computed read-only properties,
//! side effects on other resources, and resources that are computed rather than stored.

mod authorization;
mod cosmos;
mod fields;
mod health;
mod insights;
mod logs;
mod network;
mod nsg;
mod reviews;
mod security;
mod sql;
mod storage;
mod vaults;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::Call;
use super::registry::TypeSpec;
use crate::errors::ArmResult;
use crate::ids::ProviderPath;
use crate::state::{Resource, State};

fn ns(spec: &TypeSpec) -> &str {
    spec.name.split('/').next().unwrap_or_default()
}

/// Validates a PUT (or a merged PATCH) and fills computed properties into `body`.
pub fn on_put(
    st: &State,
    spec: &TypeSpec,
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
    now: OffsetDateTime,
) -> ArmResult<()> {
    match ns(spec) {
        "Microsoft.Storage" => storage::on_put(st, spec, p, existing, body, now),
        "Microsoft.Network" => network::on_put(st, spec, p, existing, body),
        "Microsoft.KeyVault" => vaults::on_put(st, p, existing, body),
        "Microsoft.Authorization" => authorization::on_put(st, spec, p, existing, body, now),
        "Microsoft.Insights" => insights::on_put(st, spec, p, existing, body),
        "Microsoft.Sql" => sql::on_put(st, spec, p, existing, body, now),
        "Microsoft.DocumentDB" => cosmos::on_put(p, existing, body, now),
        "Microsoft.HealthcareApis" => health::on_put(st, spec, p, existing, body),
        "Microsoft.OperationalInsights" => logs::on_put(st, spec, p, existing, body, now),
        "Microsoft.Security" => security::on_put(st, p, existing, body, now),
        _ => Ok(()),
    }
}

/// Rules that depend on what a PATCH changes (irreversible settings, for example).
pub fn on_patch(
    spec: &TypeSpec,
    existing: &Resource,
    patch: &Map<String, Value>,
    merged: &mut Value,
) -> ArmResult<()> {
    match ns(spec) {
        "Microsoft.KeyVault" => vaults::on_patch(existing, patch, merged),
        "Microsoft.Authorization" => reviews::on_patch(spec, existing, patch, merged),
        _ => Ok(()),
    }
}

/// Side effects on other resources after a write; `previous` is the resource before it.
pub fn after_write(
    st: &mut State,
    spec: &TypeSpec,
    r: &Resource,
    previous: Option<&Resource>,
    now: OffsetDateTime,
) {
    match ns(spec) {
        "Microsoft.Storage" => storage::after_write(st, spec, r, now),
        "Microsoft.Network" => network::after_write(st, spec, r, previous),
        "Microsoft.Authorization" => reviews::after_write(st, spec, r, now),
        "Microsoft.HealthcareApis" => health::after_write(st, spec, r),
        "Microsoft.Sql" => sql::after_write(st, spec, r),
        "Microsoft.OperationalInsights" => logs::after_write(st, spec, r, previous),
        _ => {}
    }
}

/// Applies the decisions of an access review instance (POST `.../applyDecisions`).
pub fn apply_review_decisions(
    st: &mut State,
    instance_id: &str,
    caller: &str,
    now: OffsetDateTime,
) -> ArmResult<()> {
    reviews::apply_decisions(st, instance_id, caller, now)
}

/// Stops an access review instance (POST `.../stop`).
pub fn stop_review(st: &mut State, instance_id: &str) -> ArmResult<()> {
    reviews::stop(st, instance_id)
}

/// Checks a DELETE before looking for the resource (some scopes take no DELETE at all).
pub fn check_delete(spec: &TypeSpec, p: &ProviderPath) -> ArmResult<()> {
    match spec.name {
        security::PRICING => security::check_delete(p),
        _ => Ok(()),
    }
}

/// Checks and side effects before a delete.
pub fn on_delete(st: &mut State, spec: &TypeSpec, r: &Resource) -> ArmResult<()> {
    match ns(spec) {
        "Microsoft.Storage" => storage::on_delete(st, spec, r),
        "Microsoft.Network" => network::on_delete(st, spec, r),
        "Microsoft.OperationalInsights" => logs::on_delete(st, spec, r),
        _ => Ok(()),
    }
}

/// Resources that are computed, not stored (built-in role definitions, diagnostic categories).
pub fn virtual_get(st: &State, spec: &TypeSpec, p: &ProviderPath) -> Option<ArmResult<Value>> {
    match ns(spec) {
        "Microsoft.Authorization" => authorization::virtual_get(st, spec, p),
        "Microsoft.Insights" => insights::virtual_get(st, spec, p),
        "Microsoft.Security" => security::virtual_get(st, spec, p),
        _ => None,
    }
}

pub fn virtual_list(
    call: &Call<'_>,
    st: &State,
    spec: &TypeSpec,
    p: &ProviderPath,
) -> Option<ArmResult<Vec<Value>>> {
    match ns(spec) {
        "Microsoft.Authorization" => authorization::virtual_list(call, st, spec, p),
        "Microsoft.Insights" => insights::virtual_list(st, spec, p),
        "Microsoft.Security" => security::virtual_list(call, st, spec, p),
        _ => None,
    }
}

/// Stores a resource the service creates by itself (a singleton child), with id, name and type.
pub(super) fn insert_implicit(st: &mut State, type_name: &str, id: &str, mut body: Value) {
    body["id"] = serde_json::json!(id);
    body["name"] = serde_json::json!(id.rsplit('/').next().unwrap_or_default());
    body["type"] = serde_json::json!(type_name);
    let etag = crate::arm::resources_etag(st);
    st.resources.insert(
        crate::ids::lower(id),
        Resource {
            id: id.to_string(),
            type_name: type_name.to_string(),
            body,
            etag,
            last_modified_by: String::new(),
        },
    );
}

/// Re-applies an immutability policy's state to its container after a lock or extend.
pub fn reflect_policy(st: &mut State, policy: &Resource, now: OffsetDateTime) {
    storage::reflect_policy_on_container(st, policy, now);
}

/// The body a synchronous DELETE returns, for the types whose spec declares one.
pub fn delete_body(spec: &TypeSpec, r: &Resource) -> Option<Value> {
    match spec.name {
        // RoleDefinitions_Delete answers 200 with the deleted definition.
        "Microsoft.Authorization/roleAssignments"
        | "Microsoft.Authorization/policyAssignments"
        | "Microsoft.Authorization/roleDefinitions" => Some(r.body.clone()),
        _ => None,
    }
}
