//! Microsoft.Authorization (api-version 2022-04-01): the role assignments that reach a scope
//! (at it and inherited from above) and the role definitions they grant.

use serde::{Deserialize, Serialize};

use super::client::{ArmOp, AzureClient};
use super::error::AzureError;

pub const API_VERSION: &str = "2022-04-01";
const PROVIDER: &str = "Microsoft.Authorization";
const DELETE_ASSIGNMENT: ArmOp = ArmOp::new("RoleAssignments_DeleteById", PROVIDER, API_VERSION);
const GET_DEFINITION: ArmOp = ArmOp::new("RoleDefinitions_GetById", PROVIDER, API_VERSION);

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
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinition {
    pub id: String,
    pub name: String,
    pub properties: RoleDefinitionProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinitionProperties {
    pub role_name: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub permissions: Vec<Permission>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub not_actions: Vec<String>,
    #[serde(default)]
    pub data_actions: Vec<String>,
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

impl RoleDefinition {
    /// Whether the role grants data actions (reading or writing the data itself, i.e. PHI).
    pub fn grants_data_access(&self) -> bool {
        self.properties
            .permissions
            .iter()
            .any(|p| !p.data_actions.is_empty())
    }
}

#[derive(Debug, Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(default, rename = "nextLink")]
    next_link: Option<String>,
}

impl AzureClient {
    /// `RoleAssignments_ListForScope` with `$filter=atScope()`: assignments at the scope and
    /// inherited from above it, every page (at most 100).
    pub async fn list_role_assignments(
        &self,
        scope: &str,
    ) -> Result<Vec<RoleAssignment>, AzureError> {
        let path = format!(
            "{}/providers/Microsoft.Authorization/roleAssignments",
            scope.trim_end_matches('/')
        );
        let mut url = self.arm_url(&path, API_VERSION)?;
        url.query_pairs_mut().append_pair("$filter", "atScope()");
        let mut out = Vec::new();
        for _ in 0..100 {
            let reply = self
                .send(super::client::Call {
                    operation: "RoleAssignments_ListForScope",
                    provider: PROVIDER,
                    method: azure_core::http::Method::Get,
                    url: url.clone(),
                    resource: scope,
                    body: None,
                    if_match: None,
                    audience: super::client::Audience::ResourceManager,
                })
                .await?;
            let page: Page<RoleAssignment> = reply.json("RoleAssignments_ListForScope", scope)?;
            out.extend(page.value);
            match page.next_link {
                Some(next) => {
                    url =
                        azure_core::http::Url::parse(&next).map_err(|e| AzureError::Unexpected {
                            operation: "RoleAssignments_ListForScope".into(),
                            resource: scope.into(),
                            detail: format!("nextLink is not a URL: {e}"),
                        })?
                }
                None => break,
            }
        }
        Ok(out)
    }

    /// `RoleAssignments_DeleteById`; already gone is success.
    pub async fn delete_role_assignment(&self, id: &str) -> Result<(), AzureError> {
        self.delete(&DELETE_ASSIGNMENT, id).await
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
        self.get(
            &GET_DEFINITION,
            &format!(
                "{}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
                scope.trim_end_matches('/')
            ),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let list: Page<RoleAssignment> = serde_json::from_value(
            read("RoleAssignments_ListForScope.json")["responses"]["200"]["body"].clone(),
        )
        .expect("list");
        assert_eq!(
            list.value[0].properties.principal_type.as_deref(),
            Some("User")
        );
        let def: RoleDefinition = serde_json::from_value(
            read("GetRoleDefinitionById.json")["responses"]["200"]["body"].clone(),
        )
        .expect("definition");
        assert!(def.grants_data_access());
    }
}
