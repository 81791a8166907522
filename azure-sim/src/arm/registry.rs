//! The resource types the simulator serves: canonical names, api-versions (those of the recorded
//! examples), and each provider's long-running-operation and ETag conventions.

use crate::lro::Style;

/// Which fields a PATCH may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchScope {
    /// JSON merge of tags, identity, sku, kind and properties.
    Merge,
    /// Only `tags` and `identity` (Health Data Services): properties need a PUT.
    TagsAndIdentity,
    /// Only `tags` (Network's `UpdateTags` operations).
    Tags,
    /// The type has no PATCH operation.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtagStyle {
    /// No etag is exposed.
    None,
    /// Quoted hex string, as Storage immutability policies (`"8d59f830cb130e5"`).
    Hex,
    /// Weak etag with a GUID, as Network (`W/"…"`).
    WeakGuid,
    /// Quoted GUID, as Health Data Services.
    Guid,
}

#[derive(Debug)]
pub struct TypeSpec {
    pub name: &'static str,
    pub api_versions: &'static [&'static str],
    pub create: Style,
    pub update: Style,
    pub patch: Style,
    pub delete: Style,
    pub patch_scope: PatchScope,
    pub etag: EtagStyle,
    /// A singleton child whose name is fixed (`default`, `current`).
    pub fixed_name: Option<&'static str>,
    /// PUT must carry `location`.
    pub requires_location: bool,
    /// The type has `properties.provisioningState`.
    pub provisioning_state: bool,
    /// Status of a successful synchronous create (most are 201, Storage containers 201, KV 200…).
    pub created_status: u16,
    /// Written only by the service (review instances, decisions): clients cannot PUT or DELETE.
    pub read_only: bool,
    /// Status of a successful synchronous replace of an existing resource (200 for almost every
    /// type; role definitions answer 201, the only status their spec declares).
    pub updated_status: u16,
    /// DELETE of an absent resource answers 404 rather than 204 (Log Analytics data exports,
    /// whose spec declares 200 and 404 only).
    pub delete_absent_not_found: bool,
    /// What `provisioningState` shows while a create runs (`Creating`; a linked service shows
    /// `ProvisioningAccount`, the value its recorded create responses carry).
    pub creating_state: &'static str,
}

const STORAGE: &[&str] = &["2025-01-01"];
const SQL: &[&str] = &["2023-08-01"];
const COSMOS: &[&str] = &["2025-04-15"];
const KEYVAULT: &[&str] = &["2024-11-01"];
const HEALTH: &[&str] = &["2024-03-31"];
/// 2024-07-01 is the version of the recorded subnet create and virtual network get examples.
const NETWORK: &[&str] = &["2024-05-01", "2024-07-01"];
const PRIVATE_DNS: &[&str] = &["2018-09-01", "2020-01-01", "2020-06-01", "2024-06-01"];
const INSIGHTS: &[&str] = &["2021-05-01-preview"];
const LOGS: &[&str] = &["2025-02-01"];
const RBAC: &[&str] = &["2022-04-01"];
const POLICY: &[&str] = &["2025-03-01"];
const POLICY_INSIGHTS: &[&str] = &["2024-10-01"];
const GRAPH: &[&str] = &["2024-04-01"];
const REVIEWS: &[&str] = &["2021-12-01-preview"];
const LOGIC: &[&str] = &["2019-05-01"];
/// The recorded lock deletes and the list use 2016-09-01; the creates and the get 2020-05-01.
const LOCKS: &[&str] = &["2016-09-01", "2020-05-01"];
const SECURITY: &[&str] = &["2024-01-01"];
/// `SqlVulnerabilityAssessmentsSettings.json` sits in the 2023-08-01 stable folder but declares
/// `2023-08-01-preview`, the version its recorded get sends.
const SQL_VA_EXPRESS: &[&str] = &["2023-08-01", "2023-08-01-preview"];
const ACTIVITY_ALERTS: &[&str] = &["2020-10-01"];
/// The recorded create is 2022-06-01, the recorded get 2023-01-01.
const ACTION_GROUPS: &[&str] = &["2022-06-01", "2023-01-01"];
const QUERY_RULES: &[&str] = &["2023-12-01"];
/// No Compute example is recorded: virtual machines are served only as the scope of
/// resource-level Defender pricing (`Pricings_Get` on a resource), with Compute's current versions.
const COMPUTE: &[&str] = &["2024-07-01", "2024-11-01"];
/// ARM's own resource types accept many versions; these are the ones SDKs send today.
pub const RESOURCES: &[&str] = &[
    "2020-01-01",
    "2021-04-01",
    "2022-01-01",
    "2022-09-01",
    "2022-12-01",
    "2023-07-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-03-01",
    "2025-04-01",
];

const fn spec(name: &'static str, api_versions: &'static [&'static str]) -> TypeSpec {
    TypeSpec {
        name,
        api_versions,
        create: Style::Sync,
        update: Style::Sync,
        patch: Style::Sync,
        delete: Style::Sync,
        patch_scope: PatchScope::Merge,
        etag: EtagStyle::None,
        fixed_name: None,
        requires_location: false,
        provisioning_state: false,
        created_status: 201,
        read_only: false,
        updated_status: 200,
        delete_absent_not_found: false,
        creating_state: "Creating",
    }
}

/// Every served type. Anything else gets `InvalidResourceType`.
pub static TYPES: &[TypeSpec] = &[
    TypeSpec {
        create: Style::Location,
        requires_location: true,
        provisioning_state: true,
        ..spec("Microsoft.Storage/storageAccounts", STORAGE)
    },
    TypeSpec {
        fixed_name: Some("default"),
        created_status: 200,
        ..spec("Microsoft.Storage/storageAccounts/blobServices", STORAGE)
    },
    TypeSpec {
        ..spec(
            "Microsoft.Storage/storageAccounts/blobServices/containers",
            STORAGE,
        )
    },
    TypeSpec {
        fixed_name: Some("default"),
        created_status: 200,
        ..spec("Microsoft.Storage/storageAccounts/fileServices", STORAGE)
    },
    TypeSpec {
        fixed_name: Some("default"),
        etag: EtagStyle::Hex,
        patch_scope: PatchScope::None,
        created_status: 200,
        ..spec(
            "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies",
            STORAGE,
        )
    },
    TypeSpec {
        create: Style::Both,
        patch: Style::Location,
        requires_location: true,
        ..spec("Microsoft.Sql/servers", SQL)
    },
    TypeSpec {
        create: Style::Location,
        update: Style::Location,
        ..spec("Microsoft.Sql/servers/keys", SQL)
    },
    TypeSpec {
        fixed_name: Some("current"),
        create: Style::Location,
        update: Style::Location,
        created_status: 200,
        ..spec("Microsoft.Sql/servers/encryptionProtector", SQL)
    },
    TypeSpec {
        fixed_name: Some("default"),
        create: Style::Location,
        update: Style::Location,
        created_status: 200,
        ..spec("Microsoft.Sql/servers/auditingSettings", SQL)
    },
    TypeSpec {
        ..spec("Microsoft.Sql/servers/firewallRules", SQL)
    },
    TypeSpec {
        fixed_name: Some("ActiveDirectory"),
        create: Style::Location,
        update: Style::Location,
        ..spec("Microsoft.Sql/servers/administrators", SQL)
    },
    TypeSpec {
        fixed_name: Some("Default"),
        create: Style::Location,
        update: Style::Location,
        created_status: 200,
        ..spec("Microsoft.Sql/servers/azureADOnlyAuthentications", SQL)
    },
    TypeSpec {
        fixed_name: Some("Default"),
        create: Style::Location,
        update: Style::Location,
        created_status: 200,
        ..spec("Microsoft.Sql/servers/securityAlertPolicies", SQL)
    },
    // Synchronous, 200 or 201 as recorded; the name is the one-value enum 'default'.
    TypeSpec {
        fixed_name: Some("default"),
        patch_scope: PatchScope::None,
        ..spec("Microsoft.Sql/servers/vulnerabilityAssessments", SQL)
    },
    TypeSpec {
        fixed_name: Some("default"),
        patch_scope: PatchScope::None,
        ..spec(
            "Microsoft.Sql/servers/sqlVulnerabilityAssessments",
            SQL_VA_EXPRESS,
        )
    },
    TypeSpec {
        create: Style::Both,
        update: Style::Both,
        patch: Style::Location,
        delete: Style::Location,
        requires_location: true,
        ..spec("Microsoft.Sql/servers/databases", SQL)
    },
    TypeSpec {
        fixed_name: Some("current"),
        create: Style::Location,
        update: Style::Location,
        created_status: 200,
        ..spec(
            "Microsoft.Sql/servers/databases/transparentDataEncryption",
            SQL,
        )
    },
    TypeSpec {
        fixed_name: Some("default"),
        create: Style::Location,
        update: Style::Location,
        created_status: 200,
        ..spec(
            "Microsoft.Sql/servers/databases/backupShortTermRetentionPolicies",
            SQL,
        )
    },
    TypeSpec {
        fixed_name: Some("default"),
        create: Style::Location,
        update: Style::Location,
        created_status: 200,
        ..spec(
            "Microsoft.Sql/servers/databases/backupLongTermRetentionPolicies",
            SQL,
        )
    },
    TypeSpec {
        create: Style::AsyncOperation,
        update: Style::AsyncOperation,
        patch: Style::AsyncOperation,
        delete: Style::Both,
        requires_location: true,
        provisioning_state: true,
        created_status: 200,
        ..spec("Microsoft.DocumentDB/databaseAccounts", COSMOS)
    },
    TypeSpec {
        requires_location: true,
        provisioning_state: true,
        ..spec("Microsoft.KeyVault/vaults", KEYVAULT)
    },
    TypeSpec {
        create: Style::AsyncOperation,
        update: Style::AsyncOperation,
        patch: Style::Both,
        delete: Style::Both,
        patch_scope: PatchScope::TagsAndIdentity,
        etag: EtagStyle::Guid,
        requires_location: true,
        provisioning_state: true,
        ..spec("Microsoft.HealthcareApis/workspaces", HEALTH)
    },
    TypeSpec {
        create: Style::AsyncOperation,
        update: Style::AsyncOperation,
        patch: Style::Both,
        delete: Style::Both,
        patch_scope: PatchScope::TagsAndIdentity,
        etag: EtagStyle::Guid,
        requires_location: true,
        provisioning_state: true,
        ..spec("Microsoft.HealthcareApis/workspaces/fhirservices", HEALTH)
    },
    TypeSpec {
        create: Style::AsyncOperation,
        update: Style::AsyncOperation,
        patch: Style::Both,
        delete: Style::Both,
        patch_scope: PatchScope::TagsAndIdentity,
        etag: EtagStyle::Guid,
        requires_location: true,
        provisioning_state: true,
        ..spec("Microsoft.HealthcareApis/workspaces/dicomservices", HEALTH)
    },
    TypeSpec {
        create: Style::AsyncOperation,
        update: Style::AsyncOperation,
        delete: Style::Both,
        etag: EtagStyle::WeakGuid,
        requires_location: true,
        provisioning_state: true,
        ..spec("Microsoft.Network/virtualNetworks", NETWORK)
    },
    TypeSpec {
        create: Style::AsyncOperation,
        update: Style::AsyncOperation,
        delete: Style::Both,
        etag: EtagStyle::WeakGuid,
        patch_scope: PatchScope::None,
        provisioning_state: true,
        ..spec("Microsoft.Network/virtualNetworks/subnets", NETWORK)
    },
    TypeSpec {
        create: Style::AsyncOperation,
        update: Style::AsyncOperation,
        delete: Style::Both,
        etag: EtagStyle::WeakGuid,
        requires_location: true,
        provisioning_state: true,
        ..spec("Microsoft.Network/privateEndpoints", NETWORK)
    },
    // `final-state-via: azure-async-operation` on PUT, `location` on DELETE
    // (networkSecurityGroup.json, 2024-05-01); PATCH is `UpdateTags`.
    TypeSpec {
        create: Style::AsyncOperation,
        update: Style::AsyncOperation,
        delete: Style::Both,
        etag: EtagStyle::WeakGuid,
        patch_scope: PatchScope::Tags,
        requires_location: true,
        provisioning_state: true,
        ..spec("Microsoft.Network/networkSecurityGroups", NETWORK)
    },
    TypeSpec {
        create: Style::AsyncOperation,
        update: Style::AsyncOperation,
        delete: Style::Both,
        etag: EtagStyle::WeakGuid,
        patch_scope: PatchScope::None,
        provisioning_state: true,
        ..spec(
            "Microsoft.Network/networkSecurityGroups/securityRules",
            NETWORK,
        )
    },
    TypeSpec {
        create: Style::AsyncOperation,
        update: Style::AsyncOperation,
        delete: Style::Both,
        etag: EtagStyle::WeakGuid,
        patch_scope: PatchScope::None,
        provisioning_state: true,
        ..spec(
            "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
            NETWORK,
        )
    },
    TypeSpec {
        create: Style::AsyncOperation,
        update: Style::AsyncOperation,
        delete: Style::Both,
        etag: EtagStyle::Guid,
        requires_location: true,
        provisioning_state: true,
        ..spec("Microsoft.Network/privateDnsZones", PRIVATE_DNS)
    },
    TypeSpec {
        create: Style::AsyncOperation,
        update: Style::AsyncOperation,
        delete: Style::Both,
        etag: EtagStyle::Guid,
        requires_location: true,
        provisioning_state: true,
        ..spec(
            "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
            PRIVATE_DNS,
        )
    },
    TypeSpec {
        patch_scope: PatchScope::None,
        created_status: 200,
        ..spec("Microsoft.Insights/diagnosticSettings", INSIGHTS)
    },
    // Computed per resource type: the API has GET and list only.
    TypeSpec {
        patch_scope: PatchScope::None,
        created_status: 200,
        read_only: true,
        ..spec("Microsoft.Insights/diagnosticSettingsCategories", INSIGHTS)
    },
    // Alerting: synchronous creates answering 200 or 201 (none of the recordings is an LRO).
    TypeSpec {
        requires_location: true,
        ..spec("Microsoft.Insights/activityLogAlerts", ACTIVITY_ALERTS)
    },
    TypeSpec {
        requires_location: true,
        ..spec("Microsoft.Insights/actionGroups", ACTION_GROUPS)
    },
    TypeSpec {
        requires_location: true,
        ..spec("Microsoft.Insights/scheduledQueryRules", QUERY_RULES)
    },
    TypeSpec {
        requires_location: true,
        provisioning_state: true,
        ..spec("Microsoft.OperationalInsights/workspaces", LOGS)
    },
    TypeSpec {
        update: Style::Both,
        patch: Style::Both,
        provisioning_state: true,
        created_status: 200,
        ..spec("Microsoft.OperationalInsights/workspaces/tables", LOGS)
    },
    // `Clusters_CreateOrUpdate` and `Clusters_Update` answer 202 with `Location` and
    // `Azure-AsyncOperation` (ClustersCreate.json, ClustersUpdate.json).
    TypeSpec {
        create: Style::Both,
        update: Style::Both,
        patch: Style::Both,
        delete: Style::Both,
        requires_location: true,
        provisioning_state: true,
        ..spec("Microsoft.OperationalInsights/clusters", LOGS)
    },
    // 200/201 with the link still `ProvisioningAccount` (LinkedServicesCreate.json).
    TypeSpec {
        create: Style::AsyncOperation,
        update: Style::AsyncOperation,
        delete: Style::Both,
        patch_scope: PatchScope::None,
        provisioning_state: true,
        creating_state: "ProvisioningAccount",
        ..spec(
            "Microsoft.OperationalInsights/workspaces/linkedServices",
            LOGS,
        )
    },
    TypeSpec {
        patch_scope: PatchScope::None,
        delete_absent_not_found: true,
        ..spec("Microsoft.OperationalInsights/workspaces/dataExports", LOGS)
    },
    TypeSpec {
        patch_scope: PatchScope::None,
        ..spec("Microsoft.Authorization/roleAssignments", RBAC)
    },
    TypeSpec {
        patch_scope: PatchScope::None,
        updated_status: 201,
        ..spec("Microsoft.Authorization/roleDefinitions", RBAC)
    },
    // Written by Azure (managed applications, deployment stacks): readable, never writable
    // through the API (authorization-DenyAssignmentCalls.json has GET operations only).
    TypeSpec {
        patch_scope: PatchScope::None,
        read_only: true,
        ..spec("Microsoft.Authorization/denyAssignments", RBAC)
    },
    // Plain proxy resources: no long-running operation anywhere in locks.json.
    TypeSpec {
        patch_scope: PatchScope::None,
        ..spec("Microsoft.Authorization/locks", LOCKS)
    },
    TypeSpec {
        ..spec("Microsoft.Authorization/policyAssignments", POLICY)
    },
    TypeSpec {
        patch_scope: PatchScope::None,
        created_status: 200,
        ..spec(
            "Microsoft.Authorization/accessReviewScheduleDefinitions",
            REVIEWS,
        )
    },
    TypeSpec {
        patch_scope: PatchScope::None,
        read_only: true,
        ..spec(
            "Microsoft.Authorization/accessReviewScheduleDefinitions/instances",
            REVIEWS,
        )
    },
    TypeSpec {
        read_only: true,
        ..spec(
            "Microsoft.Authorization/accessReviewScheduleDefinitions/instances/decisions",
            REVIEWS,
        )
    },
    TypeSpec {
        patch_scope: PatchScope::None,
        ..spec("Microsoft.PolicyInsights/policyStates", POLICY_INSIGHTS)
    },
    TypeSpec {
        patch_scope: PatchScope::None,
        ..spec("Microsoft.ResourceGraph/resources", GRAPH)
    },
    // The scope type of the recorded diagnostic-settings examples; stored generically.
    TypeSpec {
        requires_location: true,
        provisioning_state: true,
        ..spec("Microsoft.Logic/workflows", LOGIC)
    },
    // The scope of the recorded resource-level Defender pricing examples; stored generically.
    TypeSpec {
        requires_location: true,
        provisioning_state: true,
        ..spec("Microsoft.Compute/virtualMachines", COMPUTE)
    },
    // Pricings_Update answers 200 or 201 and is not long-running.
    TypeSpec {
        patch_scope: PatchScope::None,
        ..spec("Microsoft.Security/pricings", SECURITY)
    },
];

pub fn lookup(type_name: &str) -> Option<&'static TypeSpec> {
    TYPES
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(type_name))
}

/// Api-versions of a provider's operation-status endpoints: any version the namespace serves.
pub fn namespace_versions(namespace: &str) -> Vec<&'static str> {
    let prefix = format!("{}/", namespace.to_ascii_lowercase());
    let mut v: Vec<&'static str> = TYPES
        .iter()
        .filter(|t| t.name.to_ascii_lowercase().starts_with(&prefix))
        .flat_map(|t| t.api_versions.iter().copied())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

pub fn namespace_known(namespace: &str) -> bool {
    !namespace_versions(namespace).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case() {
        let s = lookup("microsoft.storage/STORAGEACCOUNTS").expect("served");
        assert_eq!(s.name, "Microsoft.Storage/storageAccounts");
        assert_eq!(s.create, Style::Location);
        assert!(lookup("Microsoft.Compute/disks").is_none());
        assert!(namespace_versions("Microsoft.Network").contains(&"2024-05-01"));
    }
}
