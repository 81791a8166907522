//! The governed resource kinds other than storage (SQL, Cosmos DB, Key Vault, Health Data
//! Services, Log Analytics) read as one envelope whose `properties` the evaluators interpret, and
//! writes for the types whose PATCH cannot change `properties` (Health Data Services): a
//! read-modify-write PUT guarded by `If-Match`, retried from a fresh read on 412.

use std::collections::BTreeMap;

use azure_core::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::AzureClient;
use super::error::AzureError;
use super::storage::ManagedIdentity;
use super::types::ArmOp;

/// The ARM envelope of any resource: identity, tags, etag and the raw `properties`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArmResource {
    pub id: String,
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind_type: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub identity: Option<ManagedIdentity>,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub properties: Value,
}

/// API versions of the governed types (as the examples and the catalog use them).
pub mod api_version {
    pub const SQL: &str = "2023-08-01";
    pub const COSMOS: &str = "2025-04-15";
    pub const KEY_VAULT: &str = "2024-11-01";
    pub const HEALTHCARE: &str = "2024-03-31";
    pub const LOG_ANALYTICS: &str = "2025-02-01";
    pub const POLICY: &str = "2025-03-01";
}

pub const GET_SQL_SERVER: ArmOp = ArmOp::new("Servers_Get", "Microsoft.Sql", api_version::SQL);
pub const GET_COSMOS_ACCOUNT: ArmOp = ArmOp::new(
    "DatabaseAccounts_Get",
    "Microsoft.DocumentDB",
    api_version::COSMOS,
);
pub const GET_VAULT: ArmOp = ArmOp::new("Vaults_Get", "Microsoft.KeyVault", api_version::KEY_VAULT);
pub const GET_HDS_WORKSPACE: ArmOp = ArmOp::new(
    "Workspaces_Get",
    "Microsoft.HealthcareApis",
    api_version::HEALTHCARE,
);
pub const PUT_HDS_WORKSPACE: ArmOp = ArmOp::new(
    "Workspaces_CreateOrUpdate",
    "Microsoft.HealthcareApis",
    api_version::HEALTHCARE,
);
pub const GET_FHIR: ArmOp = ArmOp::new(
    "FhirServices_Get",
    "Microsoft.HealthcareApis",
    api_version::HEALTHCARE,
);
pub const PUT_FHIR: ArmOp = ArmOp::new(
    "FhirServices_CreateOrUpdate",
    "Microsoft.HealthcareApis",
    api_version::HEALTHCARE,
);
pub const GET_DICOM: ArmOp = ArmOp::new(
    "DicomServices_Get",
    "Microsoft.HealthcareApis",
    api_version::HEALTHCARE,
);
pub const PUT_DICOM: ArmOp = ArmOp::new(
    "DicomServices_CreateOrUpdate",
    "Microsoft.HealthcareApis",
    api_version::HEALTHCARE,
);
pub const GET_LOG_ANALYTICS: ArmOp = ArmOp::new(
    "Workspaces_Get",
    "Microsoft.OperationalInsights",
    api_version::LOG_ANALYTICS,
);
pub const GET_POLICY_ASSIGNMENT: ArmOp = ArmOp::new(
    "PolicyAssignments_Get",
    "Microsoft.Authorization",
    api_version::POLICY,
);
pub const PUT_POLICY_ASSIGNMENT: ArmOp = ArmOp::new(
    "PolicyAssignments_Create",
    "Microsoft.Authorization",
    api_version::POLICY,
);
pub const DELETE_POLICY_ASSIGNMENT: ArmOp = ArmOp::new(
    "PolicyAssignments_Delete",
    "Microsoft.Authorization",
    api_version::POLICY,
);

pub const GET_SUBNET: ArmOp = ArmOp::new(
    "Subnets_Get",
    "Microsoft.Network",
    super::network::API_VERSION,
);
pub use super::network::GET_VNET;
pub const SUMMARIZE_POLICY_STATES: ArmOp = ArmOp::new(
    "PolicyStates_SummarizeForResourceGroup",
    "Microsoft.PolicyInsights",
    "2024-10-01",
);

/// How many times a read-modify-write starts again after a 412.
const RMW_ATTEMPTS: usize = 3;

/// The built-in HIPAA HITRUST initiative.
pub const HIPAA_HITRUST_INITIATIVE: &str =
    "/providers/Microsoft.Authorization/policySetDefinitions/a169a624-5599-4385-a696-c8d643089fab";

impl AzureClient {
    /// GET of any governed resource as an envelope; `None` when it does not exist.
    pub async fn get_resource(
        &self,
        op: &ArmOp,
        id: &str,
    ) -> Result<Option<ArmResource>, AzureError> {
        self.get_opt(op, id).await
    }

    /// Read-modify-write: GETs the resource, lets `change` edit its full body (returning
    /// whether it changed anything), and PUTs it back with `If-Match` on the etag read. A 412
    /// (someone else wrote in between) starts again from a fresh read, at most three times.
    /// Returns whether a PUT was made.
    pub async fn read_modify_write(
        &self,
        get: &ArmOp,
        put: &ArmOp,
        id: &str,
        mut change: impl FnMut(&mut Value) -> bool,
    ) -> Result<bool, AzureError> {
        let mut last = None;
        for _ in 0..RMW_ATTEMPTS {
            let mut body: Value = self.get(get, id).await?;
            if !change(&mut body) {
                return Ok(false);
            }
            let etag = body.get("etag").and_then(Value::as_str).map(str::to_string);
            // What the operation's model marks read-only is not sent back.
            super::readonly::strip(put, &mut body);
            match self.write(put, Method::Put, id, Some(&body), etag).await {
                Ok(_) => return Ok(true),
                Err(e @ AzureError::PreconditionFailed { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| AzureError::PreconditionFailed {
            operation: put.operation.into(),
            resource: id.into(),
        }))
    }

    /// Azure Policy's latest summary for `assignment_id` at `scope` (a resource group):
    /// non-compliant resources and policies, `None` when the assignment has not been evaluated.
    /// A read, although Azure makes it a POST.
    pub async fn policy_summary(
        &self,
        scope: &str,
        assignment_id: &str,
    ) -> Result<Option<(i64, i64)>, AzureError> {
        let id = format!(
            "{}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize",
            scope.trim_end_matches('/')
        );
        let body = self
            .write::<Value>(&SUMMARIZE_POLICY_STATES, Method::Post, &id, None, None)
            .await?
            .unwrap_or_default();
        let found = body["value"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|v| {
                v["policyAssignments"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|a| {
                a["policyAssignmentId"]
                    .as_str()
                    .is_some_and(|i| i.eq_ignore_ascii_case(assignment_id))
            });
        Ok(found.map(|a| {
            (
                a["results"]["nonCompliantResources"].as_i64().unwrap_or(0),
                a["results"]["nonCompliantPolicies"].as_i64().unwrap_or(0),
            )
        }))
    }

    /// Keeps the HIPAA HITRUST initiative assigned at `scope` under `name`, with a
    /// system-assigned identity (the initiative has DeployIfNotExists effects). Writes only
    /// when the assignment is missing or points elsewhere.
    pub async fn ensure_policy_assignment(
        &self,
        scope: &str,
        name: &str,
        location: &str,
        display_name: &str,
    ) -> Result<super::types::Ensured, AzureError> {
        let id = format!(
            "{}/providers/Microsoft.Authorization/policyAssignments/{name}",
            scope.trim_end_matches('/')
        );
        let found = self.get_resource(&GET_POLICY_ASSIGNMENT, &id).await?;
        let current = found
            .as_ref()
            .and_then(|f| f.properties.get("policyDefinitionId"))
            .and_then(Value::as_str);
        let enforced = found
            .as_ref()
            .and_then(|f| f.properties.get("enforcementMode"))
            .and_then(Value::as_str)
            .is_none_or(|m| m.eq_ignore_ascii_case("Default"));
        if current.is_some_and(|c| c.eq_ignore_ascii_case(HIPAA_HITRUST_INITIATIVE)) && enforced {
            return Ok(super::types::Ensured::Unchanged);
        }
        let body = serde_json::json!({
            "location": location,
            "identity": { "type": "SystemAssigned" },
            "properties": {
                "displayName": display_name,
                "policyDefinitionId": HIPAA_HITRUST_INITIATIVE,
                "enforcementMode": "Default",
                "metadata": { "assignedBy": "hipaa-operator" }
            }
        });
        self.write(&PUT_POLICY_ASSIGNMENT, Method::Put, &id, Some(&body), None)
            .await?;
        Ok(super::types::Ensured::Written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_resources_of_every_kind_parse_as_envelopes() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/azure-rest-examples");
        for (file, status) in [
            ("Microsoft.Sql/2023-08-01/ServerGet.json", "200"),
            (
                "Microsoft.DocumentDB/2025-04-15/CosmosDBDatabaseAccountGet.json",
                "200",
            ),
            ("Microsoft.KeyVault/2024-11-01/getVault.json", "200"),
            (
                "Microsoft.HealthcareApis/2024-03-31/FhirServices_Get.json",
                "200",
            ),
            (
                "Microsoft.HealthcareApis/2024-03-31/Workspaces_Get.json",
                "200",
            ),
            (
                "Microsoft.OperationalInsights/2025-02-01/WorkspacesGet.json",
                "200",
            ),
            (
                "Microsoft.Authorization/2025-03-01/createPolicyAssignmentWithIdentity.json",
                "201",
            ),
        ] {
            let text = std::fs::read_to_string(format!("{dir}/{file}")).expect("example");
            let example: Value = serde_json::from_str(&text).expect("JSON");
            let resource: ArmResource =
                serde_json::from_value(example["responses"][status]["body"].clone())
                    .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(
                !resource.id.is_empty() && resource.properties.is_object(),
                "{file}"
            );
        }
    }
}
