//! The Azure permissions the operator needs, derived from the calls it makes: each operation
//! the code sends (named as in Azure's REST specifications) maps to the RBAC action Azure checks
//! for it, plus the linked checks some writes carry (joining a subnet or a private DNS zone,
//! approving a private endpoint connection, assigning a user-assigned identity). The union is
//! the least-privilege custom role `hipaa-operator azure-role` prints; a test keeps every
//! operation named in `src` in the table.

use serde_json::{Value, json};

/// `(operation id, RBAC action)` of every ARM operation the operator sends.
pub const ARM_OPERATIONS: &[(&str, &str)] = &[
    // Storage accounts, their services, the audit archive's container and its policy.
    (
        "StorageAccounts_GetProperties",
        "Microsoft.Storage/storageAccounts/read",
    ),
    (
        "StorageAccounts_Update",
        "Microsoft.Storage/storageAccounts/write",
    ),
    (
        "BlobServices_GetServiceProperties",
        "Microsoft.Storage/storageAccounts/blobServices/read",
    ),
    (
        "BlobServices_SetServiceProperties",
        "Microsoft.Storage/storageAccounts/blobServices/write",
    ),
    (
        "FileServices_GetServiceProperties",
        "Microsoft.Storage/storageAccounts/fileServices/read",
    ),
    (
        "FileServices_SetServiceProperties",
        "Microsoft.Storage/storageAccounts/fileServices/write",
    ),
    (
        "BlobContainers_Get",
        "Microsoft.Storage/storageAccounts/blobServices/containers/read",
    ),
    (
        "BlobContainers_Create",
        "Microsoft.Storage/storageAccounts/blobServices/containers/write",
    ),
    (
        "BlobContainers_GetImmutabilityPolicy",
        "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/read",
    ),
    (
        "BlobContainers_CreateOrUpdateImmutabilityPolicy",
        "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/write",
    ),
    (
        "BlobContainers_LockImmutabilityPolicy",
        "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/lock/action",
    ),
    // Key Vault (management plane).
    ("Vaults_Get", "Microsoft.KeyVault/vaults/read"),
    ("Vaults_Update", "Microsoft.KeyVault/vaults/write"),
    // Cosmos DB.
    (
        "DatabaseAccounts_Get",
        "Microsoft.DocumentDB/databaseAccounts/read",
    ),
    (
        "DatabaseAccounts_Update",
        "Microsoft.DocumentDB/databaseAccounts/write",
    ),
    // Health Data Services (their `Workspaces_*` share the id with Log Analytics' below).
    (
        "FhirServices_Get",
        "Microsoft.HealthcareApis/workspaces/fhirservices/read",
    ),
    (
        "FhirServices_CreateOrUpdate",
        "Microsoft.HealthcareApis/workspaces/fhirservices/write",
    ),
    (
        "FhirServices_Update",
        "Microsoft.HealthcareApis/workspaces/fhirservices/write",
    ),
    (
        "DicomServices_Get",
        "Microsoft.HealthcareApis/workspaces/dicomservices/read",
    ),
    (
        "DicomServices_CreateOrUpdate",
        "Microsoft.HealthcareApis/workspaces/dicomservices/write",
    ),
    (
        "DicomServices_Update",
        "Microsoft.HealthcareApis/workspaces/dicomservices/write",
    ),
    ("Workspaces_Get", "Microsoft.HealthcareApis/workspaces/read"),
    (
        "Workspaces_CreateOrUpdate",
        "Microsoft.HealthcareApis/workspaces/write",
    ),
    (
        "Workspaces_Update",
        "Microsoft.HealthcareApis/workspaces/write",
    ),
    // Log Analytics.
    (
        "Workspaces_Get",
        "Microsoft.OperationalInsights/workspaces/read",
    ),
    (
        "Workspaces_Update",
        "Microsoft.OperationalInsights/workspaces/write",
    ),
    (
        "Tables_Get",
        "Microsoft.OperationalInsights/workspaces/tables/read",
    ),
    (
        "Tables_CreateOrUpdate",
        "Microsoft.OperationalInsights/workspaces/tables/write",
    ),
    (
        "DataExports_ListByWorkspace",
        "Microsoft.OperationalInsights/workspaces/dataExports/read",
    ),
    (
        "DataExports_CreateOrUpdate",
        "Microsoft.OperationalInsights/workspaces/dataExports/write",
    ),
    // Management locks (law.delete-lock).
    // Defender for Cloud plans of a subscription (read for storage.defender, kv.defender and
    // cosmos.defender; written only where a grant holds the subscription).
    ("Pricings_Get", "Microsoft.Security/pricings/read"),
    ("Pricings_Update", "Microsoft.Security/pricings/write"),
    (
        "ManagementLocks_ListByScope",
        "Microsoft.Authorization/locks/read",
    ),
    (
        "ManagementLocks_CreateOrUpdateByScope",
        "Microsoft.Authorization/locks/write",
    ),
    // Diagnostic settings.
    (
        "DiagnosticSettings_List",
        "Microsoft.Insights/diagnosticSettings/read",
    ),
    (
        "DiagnosticSettings_Get",
        "Microsoft.Insights/diagnosticSettings/read",
    ),
    (
        "DiagnosticSettings_CreateOrUpdate",
        "Microsoft.Insights/diagnosticSettings/write",
    ),
    (
        "DiagnosticSettings_Delete",
        "Microsoft.Insights/diagnosticSettings/delete",
    ),
    // Private networking.
    (
        "PrivateEndpoints_Get",
        "Microsoft.Network/privateEndpoints/read",
    ),
    (
        "PrivateEndpoints_CreateOrUpdate",
        "Microsoft.Network/privateEndpoints/write",
    ),
    (
        "PrivateEndpoints_Delete",
        "Microsoft.Network/privateEndpoints/delete",
    ),
    (
        "PrivateDnsZoneGroups_List",
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups/read",
    ),
    (
        "PrivateDnsZoneGroups_CreateOrUpdate",
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups/write",
    ),
    (
        "VirtualNetworks_Get",
        "Microsoft.Network/virtualNetworks/read",
    ),
    (
        "Subnets_Get",
        "Microsoft.Network/virtualNetworks/subnets/read",
    ),
    // Access: role assignments, the HITRUST initiative, Azure-native access reviews.
    (
        "RoleAssignments_ListForScope",
        "Microsoft.Authorization/roleAssignments/read",
    ),
    (
        "RoleAssignments_Create",
        "Microsoft.Authorization/roleAssignments/write",
    ),
    (
        "RoleAssignments_DeleteById",
        "Microsoft.Authorization/roleAssignments/delete",
    ),
    (
        "RoleDefinitions_GetById",
        "Microsoft.Authorization/roleDefinitions/read",
    ),
    (
        "PolicyAssignments_Get",
        "Microsoft.Authorization/policyAssignments/read",
    ),
    (
        "PolicyAssignments_Create",
        "Microsoft.Authorization/policyAssignments/write",
    ),
    (
        "PolicyAssignments_Delete",
        "Microsoft.Authorization/policyAssignments/delete",
    ),
    (
        "PolicyStates_SummarizeForResourceGroup",
        "Microsoft.PolicyInsights/policyStates/summarize/read",
    ),
    (
        "ScopeAccessReviewScheduleDefinitions_GetById",
        "Microsoft.Authorization/accessReviewScheduleDefinitions/read",
    ),
    (
        "ScopeAccessReviewScheduleDefinitions_CreateOrUpdateById",
        "Microsoft.Authorization/accessReviewScheduleDefinitions/write",
    ),
    (
        "ScopeAccessReviewInstances_List",
        "Microsoft.Authorization/accessReviewScheduleDefinitions/instances/read",
    ),
    (
        "ScopeAccessReviewInstanceDecisions_List",
        "Microsoft.Authorization/accessReviewScheduleDefinitions/instances/decisions/read",
    ),
    // Drift detection.
    ("Resources", "Microsoft.ResourceGraph/resources/read"),
    // Azure SQL.
    ("Servers_Get", "Microsoft.Sql/servers/read"),
    ("Servers_Update", "Microsoft.Sql/servers/write"),
    (
        "Databases_ListByServer",
        "Microsoft.Sql/servers/databases/read",
    ),
    ("Databases_Update", "Microsoft.Sql/servers/databases/write"),
    (
        "EncryptionProtectors_Get",
        "Microsoft.Sql/servers/encryptionProtector/read",
    ),
    (
        "EncryptionProtectors_CreateOrUpdate",
        "Microsoft.Sql/servers/encryptionProtector/write",
    ),
    (
        "ServerKeys_CreateOrUpdate",
        "Microsoft.Sql/servers/keys/write",
    ),
    (
        "FirewallRules_ListByServer",
        "Microsoft.Sql/servers/firewallRules/read",
    ),
    (
        "FirewallRules_Delete",
        "Microsoft.Sql/servers/firewallRules/delete",
    ),
    (
        "ServerBlobAuditingPolicies_Get",
        "Microsoft.Sql/servers/auditingSettings/read",
    ),
    (
        "ServerBlobAuditingPolicies_CreateOrUpdate",
        "Microsoft.Sql/servers/auditingSettings/write",
    ),
    (
        "ServerSecurityAlertPolicies_Get",
        "Microsoft.Sql/servers/securityAlertPolicies/read",
    ),
    (
        "SqlVulnerabilityAssessmentsSettings_Get",
        "Microsoft.Sql/servers/sqlVulnerabilityAssessments/read",
    ),
    (
        "SqlVulnerabilityAssessmentsSettings_CreateOrUpdate",
        "Microsoft.Sql/servers/sqlVulnerabilityAssessments/write",
    ),
    (
        "ServerVulnerabilityAssessments_Get",
        "Microsoft.Sql/servers/vulnerabilityAssessments/read",
    ),
    (
        "ServerSecurityAlertPolicies_CreateOrUpdate",
        "Microsoft.Sql/servers/securityAlertPolicies/write",
    ),
    (
        "ServerAzureADAdministrators_Get",
        "Microsoft.Sql/servers/administrators/read",
    ),
    (
        "ServerAzureADOnlyAuthentications_Get",
        "Microsoft.Sql/servers/azureADOnlyAuthentications/read",
    ),
    (
        "ServerAzureADOnlyAuthentications_CreateOrUpdate",
        "Microsoft.Sql/servers/azureADOnlyAuthentications/write",
    ),
    (
        "TransparentDataEncryptions_Get",
        "Microsoft.Sql/servers/databases/transparentDataEncryption/read",
    ),
    (
        "TransparentDataEncryptions_CreateOrUpdate",
        "Microsoft.Sql/servers/databases/transparentDataEncryption/write",
    ),
    (
        "BackupShortTermRetentionPolicies_Get",
        "Microsoft.Sql/servers/databases/backupShortTermRetentionPolicies/read",
    ),
    (
        "BackupShortTermRetentionPolicies_CreateOrUpdate",
        "Microsoft.Sql/servers/databases/backupShortTermRetentionPolicies/write",
    ),
    (
        "LongTermRetentionPolicies_Get",
        "Microsoft.Sql/servers/databases/backupLongTermRetentionPolicies/read",
    ),
    (
        "LongTermRetentionPolicies_CreateOrUpdate",
        "Microsoft.Sql/servers/databases/backupLongTermRetentionPolicies/write",
    ),
];

/// Checks Azure makes on writes beyond the written resource's own action ("linked access
/// checks"): the subnet an endpoint joins, the private DNS zones its zone group joins, the
/// approval of the connection on each kind of target (so the operator's endpoint is `Approved`
/// at once), a user-assigned identity given to a storage account, and reading the group.
pub const LINKED_ACTIONS: &[&str] = &[
    "Microsoft.Network/virtualNetworks/subnets/join/action",
    "Microsoft.Network/privateDnsZones/join/action",
    "Microsoft.Network/privateDnsZones/read",
    "Microsoft.Storage/storageAccounts/privateEndpointConnectionsApproval/action",
    "Microsoft.KeyVault/vaults/privateEndpointConnectionsApproval/action",
    "Microsoft.Sql/servers/privateEndpointConnectionsApproval/action",
    "Microsoft.DocumentDB/databaseAccounts/privateEndpointConnectionsApproval/action",
    "Microsoft.HealthcareApis/workspaces/privateEndpointConnectionsApproval/action",
    "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
];

/// Reading the status of a long-running write, on each provider whose writes the operator
/// follows: `Azure-AsyncOperation` status documents and `Location` results (Network also names
/// its status documents `operations`, Storage its results `asyncoperations`).
pub const OPERATION_STATUS_ACTIONS: &[&str] = &[
    "Microsoft.Network/locations/operationStatuses/read",
    "Microsoft.Network/locations/operations/read",
    "Microsoft.Network/locations/operationResults/read",
    "Microsoft.Storage/locations/operationStatuses/read",
    "Microsoft.Storage/locations/asyncoperations/read",
    "Microsoft.Sql/locations/operationStatuses/read",
    "Microsoft.Sql/locations/operationResults/read",
    "Microsoft.DocumentDB/locations/operationStatuses/read",
    "Microsoft.DocumentDB/locations/operationResults/read",
    "Microsoft.HealthcareApis/locations/operationStatuses/read",
    "Microsoft.HealthcareApis/locations/operationResults/read",
    "Microsoft.OperationalInsights/locations/operationStatuses/read",
    "Microsoft.OperationalInsights/locations/operationResults/read",
    "Microsoft.KeyVault/locations/operationStatuses/read",
    "Microsoft.KeyVault/locations/operationResults/read",
    "Microsoft.Insights/locations/operationStatuses/read",
    "Microsoft.Authorization/locations/operationStatuses/read",
];

/// `(operation id, data action)` of every Key Vault data-plane call (the customer-managed keys).
pub const KEY_VAULT_OPERATIONS: &[(&str, &str)] = &[
    ("GetKey", "Microsoft.KeyVault/vaults/keys/read"),
    ("GetKeyVersions", "Microsoft.KeyVault/vaults/keys/read"),
    ("CreateKey", "Microsoft.KeyVault/vaults/keys/create/action"),
    ("UpdateKey", "Microsoft.KeyVault/vaults/keys/update/action"),
    ("RotateKey", "Microsoft.KeyVault/vaults/keys/rotate/action"),
    (
        "GetKeyRotationPolicy",
        "Microsoft.KeyVault/vaults/keyrotationpolicies/read",
    ),
    (
        "UpdateKeyRotationPolicy",
        "Microsoft.KeyVault/vaults/keyrotationpolicies/write",
    ),
];

/// Whether the permission table names operation `id` (of the management or the Key Vault data
/// plane).
pub fn knows(id: &str) -> bool {
    ARM_OPERATIONS
        .iter()
        .chain(KEY_VAULT_OPERATIONS)
        .any(|(op, _)| *op == id)
}

fn sorted(actions: impl IntoIterator<Item = &'static str>) -> Vec<&'static str> {
    let mut out: Vec<&str> = actions.into_iter().collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The management-plane actions of the role.
pub fn actions() -> Vec<&'static str> {
    sorted(
        ARM_OPERATIONS
            .iter()
            .map(|(_, a)| *a)
            .chain(LINKED_ACTIONS.iter().copied())
            .chain(OPERATION_STATUS_ACTIONS.iter().copied()),
    )
}

/// The data actions of the role.
pub fn data_actions() -> Vec<&'static str> {
    sorted(KEY_VAULT_OPERATIONS.iter().map(|(_, a)| *a))
}

/// The custom role, in the shape `az role definition create --role-definition` reads, assignable
/// at `scopes`.
pub fn role_definition(name: &str, scopes: &[String]) -> Value {
    json!({
        "Name": name,
        "IsCustom": true,
        "Description": "hipaa-operator: reads and remediates the Azure resources holding PHI that the cluster admins' AzureScopeGrants let it govern. Generated from the calls the operator makes (hipaa-operator azure-role).",
        "Actions": actions(),
        "NotActions": [],
        "DataActions": data_actions(),
        "NotDataActions": [],
        "AssignableScopes": scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_is_specific_and_names_no_wildcard() {
        let role = role_definition("hipaa-operator", &["/subscriptions/s".to_string()]);
        let actions: Vec<&str> = role["Actions"]
            .as_array()
            .expect("actions")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(actions.len() > 50, "{actions:?}");
        assert!(actions.iter().all(|a| !a.contains('*')), "{actions:?}");
        assert!(actions.contains(&"Microsoft.Authorization/roleAssignments/write"));
        assert!(!actions.contains(&"Microsoft.Storage/storageAccounts/delete"));
        assert!(!actions.contains(&"Microsoft.Storage/storageAccounts/listKeys/action"));
        assert_eq!(role["AssignableScopes"], json!(["/subscriptions/s"]));
        assert!(
            role["DataActions"]
                .as_array()
                .is_some_and(|d| d.contains(&json!("Microsoft.KeyVault/vaults/keys/rotate/action")))
        );
    }
}
