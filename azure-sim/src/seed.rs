//! The seed file (YAML or JSON): tenant, subscriptions, principals, resource groups, resources
//! and role assignments an estate starts with.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::arm;
use crate::errors::{ArmError, ArmResult};
use crate::state::{Principal, State, Subscription};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Seed {
    pub tenant_id: Option<String>,
    pub subscriptions: Vec<Subscription>,
    pub principals: Vec<Principal>,
    pub resource_groups: Vec<SeedResourceGroup>,
    pub resources: Vec<SeedResource>,
    pub role_assignments: Vec<SeedRoleAssignment>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedResourceGroup {
    pub subscription_id: String,
    pub name: String,
    #[serde(default = "default_location")]
    pub location: String,
    #[serde(default)]
    pub tags: Option<Value>,
}

fn default_location() -> String {
    "eastus".to_string()
}

/// A resource written as if a PUT with `body` had completed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedResource {
    pub id: String,
    pub body: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedRoleAssignment {
    pub scope: String,
    pub principal_id: String,
    /// A built-in role name (`Owner`), a role GUID, or a full role definition id.
    pub role: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub principal_type: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedParseError {
    #[error("the seed is neither valid JSON nor valid YAML: {0}")]
    Syntax(String),
}

/// Parses JSON or YAML (JSON is tried first so its error messages stay precise).
pub fn parse(text: &str) -> Result<Seed, SeedParseError> {
    match serde_json::from_str::<Seed>(text) {
        Ok(s) => Ok(s),
        Err(json_err) if text.trim_start().starts_with('{') => {
            Err(SeedParseError::Syntax(json_err.to_string()))
        }
        Err(_) => {
            // One line, like the JSON error: the message travels in the admin API's JSON reply.
            let options = serde_saphyr::options! { with_snippet: false };
            serde_saphyr::from_str_with_options::<Seed>(text, options)
                .map_err(|e| SeedParseError::Syntax(e.to_string()))
        }
    }
}

pub fn role_definition_id(role: &str) -> ArmResult<String> {
    if role.contains('/') {
        return Ok(role.to_string());
    }
    let guid = match crate::authz::built_in_by_name(role) {
        Some(r) => r.id.to_string(),
        None if uuid::Uuid::parse_str(role).is_ok() => role.to_string(),
        None => {
            return Err(ArmError::bad_request(
                "RoleDefinitionDoesNotExist",
                format!("The specified role definition with ID '{role}' does not exist."),
            ));
        }
    };
    Ok(format!(
        "/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    ))
}

/// Adds the seed's contents to `state` through the same validation as ARM writes.
pub fn apply(state: &mut State, seed: &Seed, now: OffsetDateTime) -> ArmResult<()> {
    if let Some(t) = &seed.tenant_id {
        state.tenant_id = t.clone();
    }
    for s in &seed.subscriptions {
        let mut s = s.clone();
        if s.tenant_id.is_empty() {
            s.tenant_id = state.tenant_id.clone();
        }
        if s.display_name.is_empty() {
            s.display_name = format!("Subscription {}", s.subscription_id);
        }
        state
            .subscriptions
            .insert(s.subscription_id.to_ascii_lowercase(), s);
    }
    for p in &seed.principals {
        let mut p = p.clone();
        if p.client_id.is_empty() {
            p.client_id = p.object_id.clone();
        }
        state.principals.insert(p.object_id.to_ascii_lowercase(), p);
    }
    for rg in &seed.resource_groups {
        let id = format!(
            "/subscriptions/{}/resourceGroups/{}",
            rg.subscription_id, rg.name
        );
        let mut body = json!({"location": rg.location});
        if let Some(t) = &rg.tags {
            body["tags"] = t.clone();
        }
        arm::seed_write(state, &id, body, now)?;
    }
    for r in &seed.resources {
        arm::seed_write(state, &r.id, r.body.clone(), now)?;
    }
    for ra in &seed.role_assignments {
        let name = ra
            .name
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let id = format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{name}",
            ra.scope.trim_end_matches('/')
        );
        let mut props = json!({
            "roleDefinitionId": role_definition_id(&ra.role)?,
            "principalId": ra.principal_id,
        });
        if let Some(pt) = &ra.principal_type {
            props["principalType"] = json!(pt);
        }
        arm::seed_write(state, &id, json!({"properties": props}), now)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_parse_and_unknown_fields_are_refused() {
        let y = "tenantId: t\nsubscriptions:\n  - subscriptionId: s1\n";
        assert_eq!(parse(y).expect("yaml").subscriptions.len(), 1);
        let j = r#"{"subscriptions":[{"subscriptionId":"s1"}]}"#;
        assert_eq!(parse(j).expect("json").subscriptions.len(), 1);
        assert!(parse(r#"{"subscription": []}"#).is_err());
        assert!(parse("principals: 3").is_err());
    }

    #[test]
    fn role_names_resolve_to_built_in_ids() {
        assert_eq!(
            role_definition_id("Reader").expect("known"),
            "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
        );
        assert!(role_definition_id("Nope").is_err());
    }
}
