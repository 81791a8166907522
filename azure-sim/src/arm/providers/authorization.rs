//! Microsoft.Authorization: role assignments (validation, normalised role ids, `$filter`
//! listing with inheritance), built-in and custom role definitions, policy assignments.

use axum::http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::arm::Call;
use crate::arm::registry::TypeSpec;
use crate::authz::{self, scope_contains};
use crate::clock::arm_timestamp;
use crate::errors::{ArmError, ArmResult};
use crate::ids::ProviderPath;
use crate::state::{Resource, State};

pub const ASSIGNMENT: &str = "Microsoft.Authorization/roleAssignments";
pub const DEFINITION: &str = "Microsoft.Authorization/roleDefinitions";
pub const POLICY_ASSIGNMENT: &str = "Microsoft.Authorization/policyAssignments";
pub const LOCK: &str = crate::arm::locks::LOCK_TYPE;
pub const DENY: &str = authz::DENY_ASSIGNMENT_TYPE;

pub fn on_put(
    st: &State,
    spec: &TypeSpec,
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
    now: OffsetDateTime,
) -> ArmResult<()> {
    match spec.name {
        ASSIGNMENT => role_assignment(st, p, existing, body, now),
        DEFINITION => role_definition(p, body),
        POLICY_ASSIGNMENT => policy_assignment(p, existing, body),
        LOCK => lock(body),
        DENY => deny_assignment(p, body),
        super::reviews::DEFINITION => super::reviews::on_put_definition(p, body, now),
        _ => Ok(()),
    }
}

fn role_assignment(
    st: &State,
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
    now: OffsetDateTime,
) -> ArmResult<()> {
    let name = p.name().unwrap_or_default().to_string();
    if uuid::Uuid::parse_str(&name).is_err() {
        return Err(ArmError::bad_request(
            "InvalidRoleAssignmentId",
            format!(
                "The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."
            ),
        ));
    }
    let props = &mut body["properties"];
    let (Some(role_id), Some(principal)) = (
        props["roleDefinitionId"].as_str().map(str::to_string),
        props["principalId"].as_str().map(str::to_string),
    ) else {
        return Err(ArmError::bad_request(
            "InvalidRequestContent",
            "The role assignment properties 'roleDefinitionId' and 'principalId' are required.",
        ));
    };
    let guid = authz::role_guid(&role_id).to_string();
    let custom_exists = || {
        st.resources.values().any(|r| {
            r.type_name == DEFINITION
                && r.id
                    .rsplit('/')
                    .next()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&guid))
        })
    };
    if authz::built_in_by_guid(&guid).is_none() && !custom_exists() {
        return Err(ArmError::bad_request(
            "RoleDefinitionDoesNotExist",
            format!("The specified role definition with ID '{guid}' does not exist."),
        ));
    }
    let known = st.principal(&principal);
    if known.is_none() && props["principalType"].as_str().is_none() {
        return Err(ArmError::bad_request(
            "PrincipalNotFound",
            format!(
                "Principal {} does not exist in the directory {}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, set principalType to skip the directory lookup.",
                principal.replace('-', ""),
                st.tenant_id
            ),
        ));
    }
    let scope = if p.scope.is_empty() {
        "/".to_string()
    } else {
        p.scope.clone()
    };
    let duplicate = st.assignments_at(&scope).any(|r| {
        r.type_name == ASSIGNMENT
            && !r.id.eq_ignore_ascii_case(&p.id())
            && r.body["properties"]["principalId"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(&principal))
            && r.body["properties"]["scope"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(&scope))
            && r.body["properties"]["roleDefinitionId"]
                .as_str()
                .is_some_and(|x| authz::role_guid(x).eq_ignore_ascii_case(&guid))
    });
    if duplicate {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "RoleAssignmentExists",
            "The role assignment already exists.",
        ));
    }
    if props["principalType"].as_str().is_none() {
        let t = match known.map(|k| k.principal_type) {
            Some(crate::state::PrincipalType::User) => "User",
            _ => "ServicePrincipal",
        };
        props["principalType"] = json!(t);
    }
    props["roleDefinitionId"] = json!(format!(
        "/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    ));
    props["scope"] = json!(scope);
    let ts = arm_timestamp(now);
    props["createdOn"] = existing
        .map(|e| e.body["properties"]["createdOn"].clone())
        .unwrap_or_else(|| json!(ts));
    props["updatedOn"] = json!(ts);
    Ok(())
}

fn role_definition(p: &ProviderPath, body: &mut Value) -> ArmResult<()> {
    let name = p.name().unwrap_or_default();
    if uuid::Uuid::parse_str(name).is_err() || authz::built_in_by_guid(name).is_some() {
        return Err(ArmError::bad_request(
            "RoleDefinitionIdInvalid",
            format!("The role definition ID '{name}' must be a new GUID."),
        ));
    }
    let props = &mut body["properties"];
    if props["roleName"].as_str().is_none() || !props["permissions"].is_array() {
        return Err(ArmError::bad_request(
            "InvalidRequestContent",
            "A role definition needs properties.roleName and properties.permissions.",
        ));
    }
    props["type"] = json!("CustomRole");
    if !props["assignableScopes"].is_array() {
        props["assignableScopes"] = json!([p.scope]);
    }
    Ok(())
}

/// A deny assignment as Azure writes it (only seeds can: the API has no PUT). Its `scope` is
/// where it is stored; the lists default as in the recorded examples.
fn deny_assignment(p: &ProviderPath, body: &mut Value) -> ArmResult<()> {
    let props = &mut body["properties"];
    if !props["permissions"].is_array() {
        return Err(ArmError::bad_request(
            "InvalidRequestContent",
            "A deny assignment needs properties.permissions.",
        ));
    }
    props["scope"] = json!(if p.scope.is_empty() { "/" } else { &p.scope });
    for (k, v) in [
        ("principals", json!([])),
        ("excludePrincipals", json!([])),
        ("doNotApplyToChildScopes", json!(false)),
        ("isSystemProtected", json!(true)),
    ] {
        if props.get(k).is_none_or(Value::is_null) {
            props[k] = v;
        }
    }
    if props.get("denyAssignmentName").is_none() {
        props["denyAssignmentName"] = json!(p.name().unwrap_or_default());
    }
    Ok(())
}

/// A management lock (`ManagementLockObject`, locks.json): `properties.level` is required and
/// is one of the declared levels; `notes` holds at most 512 characters.
fn lock(body: &mut Value) -> ArmResult<()> {
    let props = &body["properties"];
    if !crate::arm::locks::valid_level(&props["level"]) {
        return Err(ArmError::bad_request(
            "InvalidRequestContent",
            format!(
                "The lock property 'properties.level' must be one of {}.",
                crate::arm::locks::LEVELS.join(", ")
            ),
        ));
    }
    if props["notes"]
        .as_str()
        .is_some_and(|n| n.chars().count() > 512)
    {
        return Err(ArmError::bad_request(
            "InvalidRequestContent",
            "The lock property 'properties.notes' can hold at most 512 characters.",
        ));
    }
    Ok(())
}

fn policy_assignment(
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
) -> ArmResult<()> {
    if body["properties"]["policyDefinitionId"].as_str().is_none() {
        return Err(ArmError::bad_request(
            "InvalidRequestContent",
            "A policy assignment needs properties.policyDefinitionId.",
        ));
    }
    let has_identity = body["identity"]["type"]
        .as_str()
        .is_some_and(|t| !t.eq_ignore_ascii_case("None"));
    if has_identity && body["location"].as_str().is_none() {
        return Err(ArmError::bad_request(
            "LocationRequired",
            "A policy assignment with a managed identity needs a location.",
        ));
    }
    let props = &mut body["properties"];
    props["scope"] = json!(p.scope);
    if props.get("enforcementMode").is_none() {
        props["enforcementMode"] = json!("Default");
    }
    if props.get("notScopes").is_none() {
        props["notScopes"] = json!([]);
    }
    props["instanceId"] = existing
        .map(|e| e.body["properties"]["instanceId"].clone())
        .filter(Value::is_string)
        .unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string()));
    Ok(())
}

pub fn virtual_get(st: &State, spec: &TypeSpec, p: &ProviderPath) -> Option<ArmResult<Value>> {
    if spec.name != DEFINITION {
        return None;
    }
    let name = p.name()?;
    if let Some(b) = authz::built_in_by_guid(name) {
        let mut body = authz::built_in_body(b);
        body["id"] = json!(p.id());
        return Some(Ok(body));
    }
    let suffix = format!(
        "/providers/microsoft.authorization/roledefinitions/{}",
        name.to_ascii_lowercase()
    );
    let found = st
        .resources
        .iter()
        .find(|(k, _)| k.ends_with(&suffix))
        .map(|(_, r)| r.body.clone());
    Some(found.ok_or_else(|| {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "RoleDefinitionDoesNotExist",
            format!("The specified role definition with ID '{name}' does not exist."),
        )
    }))
}

/// The subscription, resource group or resource a collection is listed at must exist.
fn scope_exists(st: &State, scope: &str) -> ArmResult<()> {
    match crate::ids::parse(scope) {
        Ok(crate::ids::Target::Subscription { sub }) if st.subscription(&sub).is_none() => {
            Err(crate::arm::groups::subscription_not_found(&sub))
        }
        Ok(crate::ids::Target::ResourceGroup { rg, .. }) if st.get(scope).is_none() => {
            Err(crate::arm::groups::group_not_found(&rg))
        }
        Ok(crate::ids::Target::Provider(_)) if st.get(scope).is_none() => Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The Resource '{scope}' was not found."),
        )),
        _ => Ok(()),
    }
}

/// The value of a `$filter` clause like `principalId eq 'x'`.
fn filter_value<'a>(filter: &'a str, field: &str) -> Option<&'a str> {
    let lower = filter.to_ascii_lowercase();
    let at = lower.find(&format!("{} eq ", field.to_ascii_lowercase()))?;
    let rest = &filter[at + field.len() + 4..];
    let rest = rest.trim_start().strip_prefix('\'')?;
    rest.split('\'').next()
}

pub fn virtual_list(
    call: &Call<'_>,
    st: &State,
    spec: &TypeSpec,
    p: &ProviderPath,
) -> Option<ArmResult<Vec<Value>>> {
    let filter = call.req.query("$filter").unwrap_or_default().to_string();
    let scope = p.parent_id();
    let scope = if scope.is_empty() {
        "/".to_string()
    } else {
        scope
    };
    match spec.name {
        ASSIGNMENT => {
            let at_scope = filter.to_ascii_lowercase().contains("atscope()");
            let principal = filter_value(&filter, "principalId").map(str::to_string);
            // At or above the scope: one key range per ancestor; below it (unless `atScope()`):
            // the scope's own key range. Sorted by id, as one walk of the whole store would be.
            let mut found = st.assignments_at_or_above(&scope);
            if !at_scope {
                found.extend(st.descendants(&scope).iter().filter_map(|k| st.get(k)));
            }
            found.sort_by_cached_key(|r| r.id.to_ascii_lowercase());
            found.dedup_by(|a, b| a.id.eq_ignore_ascii_case(&b.id));
            let value = found
                .into_iter()
                .filter(|r| r.type_name == ASSIGNMENT)
                .filter(|r| {
                    let s = r.body["properties"]["scope"].as_str().unwrap_or_default();
                    let above = scope_contains(s, &scope);
                    let below = scope_contains(&scope, s);
                    if at_scope { above } else { above || below }
                })
                .filter(|r| {
                    principal.as_deref().is_none_or(|id| {
                        r.body["properties"]["principalId"]
                            .as_str()
                            .is_some_and(|x| x.eq_ignore_ascii_case(id))
                    })
                })
                .map(|r| r.body.clone())
                .collect();
            Some(Ok(value))
        }
        DENY => {
            // As role assignments: at, above or below the scope; `atScope()` at or above it.
            if let Err(e) = scope_exists(st, &scope) {
                return Some(Err(e));
            }
            let at_scope = filter.to_ascii_lowercase().contains("atscope()");
            let principal = filter_value(&filter, "principalId").map(str::to_string);
            let name = filter_value(&filter, "denyAssignmentName").map(str::to_string);
            let mut found = st.extensions_at_or_above(&scope, authz::DENY_ASSIGNMENT_SEGMENT);
            if !at_scope {
                found.extend(st.descendants(&scope).iter().filter_map(|k| st.get(k)));
            }
            found.retain(|r| r.type_name == DENY);
            found.sort_by_cached_key(|r| r.id.to_ascii_lowercase());
            found.dedup_by(|a, b| a.id.eq_ignore_ascii_case(&b.id));
            let value = found
                .into_iter()
                .filter(|r| {
                    let p = &r.body["properties"];
                    principal.as_deref().is_none_or(|id| {
                        p["principals"].as_array().into_iter().flatten().any(|x| {
                            x["id"]
                                .as_str()
                                .is_some_and(|x| x.eq_ignore_ascii_case(id) || x == authz::EVERYONE)
                        })
                    }) && name.as_deref().is_none_or(|n| {
                        p["denyAssignmentName"]
                            .as_str()
                            .is_some_and(|x| x.eq_ignore_ascii_case(n))
                    })
                })
                .map(|r| r.body.clone())
                .collect();
            Some(Ok(value))
        }
        LOCK => {
            // Locks at the scope and below it; `atScope()` gives those at the scope and above,
            // the ones that apply to it.
            if let Err(e) = scope_exists(st, &scope) {
                return Some(Err(e));
            }
            let mut found: Vec<&Resource> = if filter.to_ascii_lowercase().contains("atscope()") {
                st.extensions_at_or_above(&scope, crate::arm::locks::LOCK_SEGMENT)
            } else {
                st.descendants(&scope)
                    .iter()
                    .filter_map(|k| st.resources.get(k))
                    .chain(st.extensions_at(&scope, crate::arm::locks::LOCK_SEGMENT))
                    .collect()
            };
            found.retain(|r| r.type_name == LOCK);
            found.sort_by_cached_key(|r| r.id.to_ascii_lowercase());
            found.dedup_by(|a, b| a.id.eq_ignore_ascii_case(&b.id));
            Some(Ok(found.into_iter().map(|r| r.body.clone()).collect()))
        }
        DEFINITION => {
            let role_name = filter_value(&filter, "roleName").map(str::to_string);
            let mut value: Vec<Value> = authz::BUILT_IN_ROLES
                .iter()
                .map(|b| {
                    let mut body = authz::built_in_body(b);
                    body["id"] = json!(format!(
                        "{}/providers/Microsoft.Authorization/roleDefinitions/{}",
                        scope.trim_end_matches('/'),
                        b.id
                    ));
                    body
                })
                .collect();
            value.extend(
                st.resources
                    .values()
                    .filter(|r| r.type_name == DEFINITION)
                    .map(|r| r.body.clone()),
            );
            value.retain(|v| {
                role_name.as_deref().is_none_or(|n| {
                    v["properties"]["roleName"]
                        .as_str()
                        .is_some_and(|x| x.eq_ignore_ascii_case(n))
                })
            });
            Some(Ok(value))
        }
        _ => None,
    }
}
