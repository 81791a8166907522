//! Microsoft.Authorization (api-version 2022-04-01): the role assignments that reach a scope
//! (at it and inherited from above) and the role definitions they grant.

use serde::{Deserialize, Serialize};

use super::client::AzureClient;
use super::error::AzureError;
use super::types::ArmOp;

pub const API_VERSION: &str = "2022-04-01";
const PROVIDER: &str = "Microsoft.Authorization";
const DELETE_ASSIGNMENT: ArmOp = ArmOp::new("RoleAssignments_DeleteById", PROVIDER, API_VERSION);
const GET_DEFINITION: ArmOp = ArmOp::new("RoleDefinitions_GetById", PROVIDER, API_VERSION);
const LIST_ASSIGNMENTS: ArmOp = ArmOp::new("RoleAssignments_ListForScope", PROVIDER, API_VERSION);

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    pub id: String,
    pub name: String,
    pub properties: RoleAssignmentProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentProperties {
    pub role_definition_id: String,
    pub principal_id: String,
    #[serde(default)]
    pub principal_type: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    /// When Azure recorded the assignment (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_on: Option<String>,
}

pub use super::roles::{Permission, RoleDefinition, RoleDefinitionProperties, glob};

/// How long a role definition read is reused: built-in roles change with Azure releases and
/// custom roles rarely; an hour bounds how stale a permission check can be.
const ROLE_CACHE_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The built-in role that lets a service's managed identity wrap and unwrap with a key.
pub const KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER: &str = "e147488a-f6f5-4113-8e2d-b22465e65bf6";

const PUT_ASSIGNMENT: ArmOp = ArmOp::new("RoleAssignments_Create", PROVIDER, API_VERSION);

impl AzureClient {
    /// `RoleAssignments_ListForScope` with `$filter=atScope()`: assignments at the scope and
    /// inherited from above it, every page (at most 100).
    pub async fn list_role_assignments(
        &self,
        scope: &str,
    ) -> Result<Vec<RoleAssignment>, AzureError> {
        self.list_at_scope(&LIST_ASSIGNMENTS, scope, "roleAssignments", 100)
            .await
    }

    /// Every role assignment that reaches `scope` (at it and inherited), each with its role
    /// definition (read at `scope`, once per role).
    pub async fn role_assignments_reaching(
        &self,
        scope: &str,
    ) -> Result<Vec<(RoleAssignment, RoleDefinition)>, AzureError> {
        let assignments = self.list_role_assignments(scope).await?;
        let mut roles: std::collections::HashMap<String, RoleDefinition> = Default::default();
        let mut out = Vec::with_capacity(assignments.len());
        for a in assignments {
            let key = a.properties.role_definition_id.to_ascii_lowercase();
            let role = match roles.get(&key) {
                Some(r) => r.clone(),
                None => {
                    let r = self
                        .get_role_definition_at(scope, &a.properties.role_definition_id)
                        .await?;
                    roles.insert(key, r.clone());
                    r
                }
            };
            out.push((a, role));
        }
        Ok(out)
    }

    /// Keeps `principal_id` holding the built-in role `role_guid` at `scope` (or above it).
    /// The assignment's name is derived from scope, principal and role, so retries are
    /// idempotent; an equal assignment made by someone else counts.
    pub async fn ensure_role_assignment(
        &self,
        scope: &str,
        role_guid: &str,
        principal_id: &str,
        principal_type: Option<&str>,
    ) -> Result<super::types::Ensured, AzureError> {
        let scope = scope.trim_end_matches('/');
        let held = self
            .list_role_assignments(scope)
            .await?
            .into_iter()
            .any(|a| {
                a.properties.principal_id.eq_ignore_ascii_case(principal_id)
                    && a.properties
                        .role_definition_id
                        .to_ascii_lowercase()
                        .ends_with(&role_guid.to_ascii_lowercase())
            });
        if held {
            return Ok(super::types::Ensured::Unchanged);
        }
        self.assign_role(scope, role_guid, principal_id, principal_type)
            .await
    }

    /// Gives `principal_id` the built-in role `role_guid` at `scope` without listing what it
    /// holds first: for a principal that did not exist before this pass (an identity created
    /// just now holds nothing). The name is derived as in [`Self::ensure_role_assignment`], and
    /// an assignment that exists already counts. `principal_type` is sent when known (it lets
    /// Azure accept a principal created moments ago); Azure resolves it otherwise.
    pub async fn assign_role(
        &self,
        scope: &str,
        role_guid: &str,
        principal_id: &str,
        principal_type: Option<&str>,
    ) -> Result<super::types::Ensured, AzureError> {
        let scope = scope.trim_end_matches('/');
        let subscription = scope
            .split('/')
            .skip_while(|p| !p.eq_ignore_ascii_case("subscriptions"))
            .nth(1)
            .unwrap_or_default();
        let name = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("{scope}|{principal_id}|{role_guid}")
                .to_ascii_lowercase()
                .as_bytes(),
        );
        let mut body = serde_json::json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"),
            "principalId": principal_id,
        }});
        if let Some(t) = principal_type {
            body["properties"]["principalType"] = serde_json::json!(t);
        }
        let id = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
        match self
            .write(
                &PUT_ASSIGNMENT,
                azure_core::http::Method::Put,
                &id,
                Some(&body),
                None,
            )
            .await
        {
            Ok(_) => Ok(super::types::Ensured::Written),
            // Made meanwhile under another name: the principal holds the role.
            Err(AzureError::Conflict { code, .. })
                if code.eq_ignore_ascii_case("RoleAssignmentExists") =>
            {
                Ok(super::types::Ensured::Unchanged)
            }
            Err(e) => Err(e),
        }
    }

    /// `RoleAssignments_DeleteById`; already gone is success. Takes only a parsed role
    /// assignment id, so no other kind of resource can be deleted through it.
    pub async fn delete_role_assignment(
        &self,
        id: &super::id::RoleAssignmentId,
    ) -> Result<(), AzureError> {
        self.delete(&DELETE_ASSIGNMENT, id.as_str()).await
    }

    /// `RoleDefinitions_GetById` (`/providers/Microsoft.Authorization/roleDefinitions/{guid}` or
    /// a subscription-scoped id).
    pub async fn get_role_definition(&self, id: &str) -> Result<RoleDefinition, AzureError> {
        self.get(&GET_DEFINITION, id).await
    }

    /// The role definition `role_definition_id` (any scope form) read at `scope`, where an
    /// identity with read access to the resource may read it even without access to the
    /// subscription or tenant the id names.
    pub async fn get_role_definition_at(
        &self,
        scope: &str,
        role_definition_id: &str,
    ) -> Result<RoleDefinition, AzureError> {
        let guid = role_definition_id.rsplit('/').next().unwrap_or_default();
        if let Some(role) = self.cached_role(guid, ROLE_CACHE_AGE) {
            return Ok(role);
        }
        let role: RoleDefinition = self
            .get(
                &GET_DEFINITION,
                &format!(
                    "{}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
                    scope.trim_end_matches('/')
                ),
            )
            .await?;
        self.cache_role(guid, &role);
        Ok(role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_match_with_wildcards_and_not_actions_remove() {
        assert!(glob(
            "*",
            "Microsoft.OperationalInsights/workspaces/purge/action"
        ));
        assert!(glob(
            "Microsoft.KeyVault/vaults/keys/*",
            "microsoft.keyvault/vaults/keys/wrap/action"
        ));
        assert!(glob(
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(!glob(
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/roleAssignments/read"
        ));
        assert!(!glob(
            "*/read",
            "Microsoft.OperationalInsights/workspaces/purge/action"
        ));
        assert!(glob("a", "A") && !glob("a", "ab"));
        let role: RoleDefinition = serde_json::from_value(serde_json::json!({"id": "r", "name": "r",
            "properties": {"roleName": "Contributor", "permissions": [{
                "actions": ["*"], "notActions": ["Microsoft.Authorization/*/Write"],
                "dataActions": ["Microsoft.KeyVault/vaults/keys/*"], "notDataActions": ["Microsoft.KeyVault/vaults/keys/unwrap/action"]}]}}))
        .expect("role");
        assert!(role.grants("Microsoft.Storage/storageAccounts/write"));
        assert!(!role.grants("Microsoft.Authorization/roleAssignments/write"));
        assert!(role.grants_data("Microsoft.KeyVault/vaults/keys/wrap/action"));
        assert!(!role.grants_data("Microsoft.KeyVault/vaults/keys/unwrap/action"));
    }

    #[test]
    fn recorded_assignment_list_and_definition_parse() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/azure-rest-examples/Microsoft.Authorization/2022-04-01"
        );
        let read = |f: &str| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{f}")).expect("example"))
                .expect("JSON")
        };
        let list: Vec<RoleAssignment> = serde_json::from_value(
            read("RoleAssignments_ListForScope.json")["responses"]["200"]["body"]["value"].clone(),
        )
        .expect("list");
        assert_eq!(list[0].properties.principal_type.as_deref(), Some("User"));
        let def: RoleDefinition = serde_json::from_value(
            read("GetRoleDefinitionById.json")["responses"]["200"]["body"].clone(),
        )
        .expect("definition");
        assert!(def.grants_data_access());
    }
}
