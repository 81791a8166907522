//! The replay table: one case per recorded example file, with what the recording holds that
//! cannot be reproduced and why.

use serde_json::{Value, json};

/// How a recorded example is replayed.
pub(super) struct Case {
    pub(super) file: &'static str,
    pub(super) method: &'static str,
    /// URL path with `{param}` placeholders filled from the example's parameters.
    pub(super) path: &'static str,
    /// Name of the request-body parameter, if any.
    pub(super) body: Option<&'static str>,
    /// Seed the addressed resource from the recorded 200 body first (GET, PATCH, DELETE, POST on it).
    pub(super) seed_target: bool,
    /// JSON pointers (prefix match) in the recorded body that are not compared, with why.
    pub(super) ignore: &'static [&'static str],
    /// Parameters replaced before the replay, when the recording holds a placeholder.
    pub(super) params: &'static [(&'static str, &'static str)],
    /// Lists may hold more entries than recorded (the harness's own); match recorded ones by id.
    pub(super) subset: bool,
    /// The field that pairs list entries in subset mode (`id` unless the case says why not).
    pub(super) subset_key: &'static str,
    pub(super) target: Target,
    /// Builds the request body from the example's parameters when the recording does not carry
    /// it in the spec's shape under one parameter (see the case for why).
    pub(super) body_from: Option<fn(&Value) -> Value>,
}

impl Case {
    /// The request body the replay sends: the named parameter, or what `body_from` builds.
    pub(super) fn request_body(&self, params: &Value) -> Option<Value> {
        match self.body_from {
            Some(f) => Some(f(params)),
            None => self.body.map(|b| params[b].clone()),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Target {
    Arm,
    KeyVault(KvSetup),
    Imds,
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum KvSetup {
    None,
    /// Create the key first (the recorded version cannot be reproduced).
    Key,
    /// Create the key and set the recorded rotation policy.
    KeyAndPolicy,
    /// Set the secret with the recorded value (the recorded version cannot be reproduced).
    Secret,
    /// Set the secrets the recorded list shows, and one more: the recorded page has a nextLink.
    SecretList,
}

pub(super) const fn arm(file: &'static str, method: &'static str, path: &'static str) -> Case {
    Case {
        file,
        method,
        path,
        body: None,
        seed_target: false,
        ignore: &[],
        params: &[],
        subset: false,
        subset_key: "id",
        target: Target::Arm,
        body_from: None,
    }
}

pub(super) const ACCT: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Storage/storageAccounts/{accountName}";
pub(super) const CONTAINER: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{containerName}";
pub(super) const POLICY: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{containerName}/immutabilityPolicies/default";
pub(super) const SQL: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Sql/servers/{serverName}";
pub(super) const SQL_VA_CLASSIC: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Sql/servers/{serverName}/vulnerabilityAssessments/{vulnerabilityAssessmentName}";
pub(super) const SQL_VA_EXPRESS: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Sql/servers/{serverName}/sqlVulnerabilityAssessments/{vulnerabilityAssessmentName}";
pub(super) const KVM: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.KeyVault/vaults/{vaultName}";
pub(super) const PE: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/privateEndpoints/{privateEndpointName}";
pub(super) const HDS: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.HealthcareApis/workspaces/{workspaceName}";
pub(super) const COSMOS: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.DocumentDB/databaseAccounts/{accountName}";
pub(super) const LAW: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.OperationalInsights/workspaces/{workspaceName}";
pub(super) const LOCKS_RG: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Authorization/locks/{lockName}";
pub(super) const LOCKS_RESOURCE: &str = "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}/providers/{resourceProviderNamespace}/{resourceType}/{resourceName}/providers/Microsoft.Authorization/locks/{lockName}";
pub(super) const CLUSTER: &str = "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}/providers/Microsoft.OperationalInsights/clusters/{clusterName}";
pub(super) const LINKED_SERVICE: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.OperationalInsights/workspaces/{workspaceName}/linkedServices/{linkedServiceName}";
pub(super) const DATA_EXPORT: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.OperationalInsights/workspaces/{workspaceName}/dataExports/{dataExportName}";
pub(super) const NSG: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/networkSecurityGroups/{networkSecurityGroupName}";
pub(super) const NSG_RULE: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/networkSecurityGroups/{networkSecurityGroupName}/securityRules/{securityRuleName}";
pub(super) const ACTIVITY_ALERT: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Insights/activityLogAlerts/{activityLogAlertName}";
pub(super) const ACTION_GROUP: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Insights/actionGroups/{actionGroupName}";
pub(super) const QUERY_RULE: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Insights/scheduledQueryRules/{ruleName}";
pub(super) const PRICING: &str = "/{scopeId}/providers/Microsoft.Security/pricings/{pricingName}";
pub(super) const PRICINGS: &str = "/{scopeId}/providers/Microsoft.Security/pricings";
/// Exclusion tags the recording's subscription had configured on agentless scanning; the
/// recorded request does not send them.
pub(super) const EXCLUSION_TAGS: &str = "/properties/extensions/1/additionalExtensionProperties";
pub(super) const STORAGE_COMPUTED: &[&str] = &[
    // Region-pair and routing details of the recording's test region (eastus2euap).
    "/properties/primaryLocation",
    "/properties/secondaryLocation",
    "/properties/statusOfSecondary",
    "/location",
];

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            body: Some("parameters"),
            ignore: STORAGE_COMPUTED,
            ..arm(
                "Microsoft.Storage/2025-01-01/StorageAccountCreate.json",
                "PUT",
                ACCT,
            )
        },
        Case {
            seed_target: true,
            ignore: STORAGE_COMPUTED,
            ..arm(
                "Microsoft.Storage/2025-01-01/StorageAccountGetPropertiesCMKEnabled.json",
                "GET",
                ACCT,
            )
        },
        Case {
            body: Some("parameters"),
            seed_target: true,
            ignore: STORAGE_COMPUTED,
            ..arm(
                "Microsoft.Storage/2025-01-01/StorageAccountUpdate.json",
                "PATCH",
                ACCT,
            )
        },
        Case {
            body: Some("parameters"),
            seed_target: true,
            ignore: &[
                "/properties/primaryLocation",
                "/properties/secondaryLocation",
                "/properties/statusOfSecondary",
                "/location",
                // The recording's vault has no key 'wrappingKey'; the resolved version cannot be reproduced.
                "/properties/encryption/keyvaultproperties/currentVersionedKeyIdentifier",
                "/properties/encryption/keyvaultproperties/lastKeyRotationTimestamp",
            ],
            ..arm(
                "Microsoft.Storage/2025-01-01/StorageAccountEnableCMK.json",
                "PATCH",
                ACCT,
            )
        },
        Case {
            body: Some("parameters"),
            seed_target: true,
            ignore: &[
                "/properties/primaryLocation",
                "/properties/secondaryLocation",
                "/properties/statusOfSecondary",
                "/location",
                // The recorded request sends kind 'Storage' while its response shows 'StorageV2'.
                "/kind",
            ],
            ..arm(
                "Microsoft.Storage/2025-01-01/StorageAccountUpdateUserAssignedEncryptionIdentityWithCMK.json",
                "PATCH",
                ACCT,
            )
        },
        Case {
            body: Some("parameters"),
            seed_target: true,
            ignore: STORAGE_COMPUTED,
            ..arm(
                "Microsoft.Storage/2025-01-01/StorageAccountUpdateDisablePublicNetworkAccess.json",
                "PATCH",
                ACCT,
            )
        },
        Case {
            body: Some("blobContainer"),
            ..arm(
                "Microsoft.Storage/2025-01-01/BlobContainersPut.json",
                "PUT",
                CONTAINER,
            )
        },
        Case {
            body: Some("parameters"),
            ..arm(
                "Microsoft.Storage/2025-01-01/BlobContainersPutImmutabilityPolicy.json",
                "PUT",
                POLICY,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Storage/2025-01-01/BlobContainersGetImmutabilityPolicy.json",
                "GET",
                POLICY,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Storage/2025-01-01/BlobContainersLockImmutabilityPolicy.json",
                "POST",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{containerName}/immutabilityPolicies/default/lock",
            )
        },
        Case {
            seed_target: true,
            ..arm("Microsoft.Sql/2023-08-01/ServerGet.json", "GET", SQL)
        },
        Case {
            body: Some("parameters"),
            seed_target: true,
            ..arm("Microsoft.Sql/2023-08-01/ServerUpdate.json", "PATCH", SQL)
        },
        Case {
            body: Some("parameters"),
            ignore: &[
                // The recorded response names the server instead of the key, and the server's region.
                "/name",
                "/location",
                // Derived from the key's certificate, which is not simulated.
                "/properties/thumbprint",
            ],
            ..arm(
                "Microsoft.Sql/2023-08-01/ServerKeyCreateOrUpdate.json",
                "PUT",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Sql/servers/{serverName}/keys/{keyName}",
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Sql/2023-08-01/EncryptionProtectorGet.json",
                "GET",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Sql/servers/{serverName}/encryptionProtector/current",
            )
        },
        Case {
            body: Some("parameters"),
            ignore: &["/location"],
            ..arm(
                "Microsoft.Sql/2023-08-01/EncryptionProtectorCreateOrUpdateKeyVault.json",
                "PUT",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Sql/servers/{serverName}/encryptionProtector/current",
            )
        },
        Case {
            seed_target: true,
            ignore: &[
                // The recorded id names another resource group and server than the request.
                "/id",
            ],
            ..arm(
                "Microsoft.Sql/2023-08-01/ServerBlobAuditingGet.json",
                "GET",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Sql/servers/{serverName}/auditingSettings/default",
            )
        },
        Case {
            body: Some("parameters"),
            ..arm(
                "Microsoft.Sql/2023-08-01/ServerBlobAuditingCreateMax.json",
                "PUT",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Sql/servers/{serverName}/auditingSettings/default",
            )
        },
        Case {
            body: Some("parameters"),
            ..arm(
                "Microsoft.Sql/2023-08-01/ServerVulnerabilityAssessmentCreateStorageAccessKeyMin.json",
                "PUT",
                SQL_VA_CLASSIC,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Sql/2023-08-01/ServerVulnerabilityAssessmentGet.json",
                "GET",
                SQL_VA_CLASSIC,
            )
        },
        Case {
            body: Some("parameters"),
            ..arm(
                "Microsoft.Sql/2023-08-01/SqlVulnerabilityAssessmentCreate.json",
                "PUT",
                SQL_VA_EXPRESS,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Sql/2023-08-01/SqlVulnerabilityAssessmentGet.json",
                "GET",
                SQL_VA_EXPRESS,
            )
        },
        Case {
            seed_target: true,
            ..arm("Microsoft.KeyVault/2024-11-01/getVault.json", "GET", KVM)
        },
        Case {
            body: Some("parameters"),
            ..arm("Microsoft.KeyVault/2024-11-01/createVault.json", "PUT", KVM)
        },
        Case {
            body: Some("parameters"),
            ..arm(
                "Microsoft.KeyVault/2024-11-01/createVaultWithNetworkAcls.json",
                "PUT",
                KVM,
            )
        },
        Case {
            body: Some("parameters"),
            seed_target: true,
            ..arm(
                "Microsoft.KeyVault/2024-11-01/updateVault.json",
                "PATCH",
                KVM,
            )
        },
        Case {
            body: Some("parameters"),
            ignore: &[
                // Recorded against a Private Link service with custom DNS and a NIC name containing a typo ('provders').
                "/properties/customDnsConfigs",
                "/properties/networkInterfaces",
                "/properties/privateLinkServiceConnections/0/id",
            ],
            ..arm(
                "Microsoft.Network/2024-05-01/PrivateEndpointCreate.json",
                "PUT",
                PE,
            )
        },
        Case {
            seed_target: true,
            ignore: &[
                "/properties/customDnsConfigs",
                "/properties/networkInterfaces",
                "/properties/privateLinkServiceConnections/0/id",
            ],
            ..arm(
                "Microsoft.Network/2024-05-01/PrivateEndpointGet.json",
                "GET",
                PE,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Network/2024-05-01/PrivateEndpointDelete.json",
                "DELETE",
                PE,
            )
        },
        Case {
            body: Some("parameters"),
            ..arm(
                "Microsoft.Network/2024-05-01/NetworkSecurityGroupCreateWithRule.json",
                "PUT",
                NSG,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Network/2024-05-01/NetworkSecurityGroupGet.json",
                "GET",
                NSG,
            )
        },
        Case {
            body: Some("securityRuleParameters"),
            ..arm(
                "Microsoft.Network/2024-05-01/NetworkSecurityGroupRuleCreate.json",
                "PUT",
                NSG_RULE,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Network/2024-05-01/NetworkSecurityGroupRuleGet.json",
                "GET",
                NSG_RULE,
            )
        },
        Case {
            body: Some("subnetParameters"),
            ..arm(
                "Microsoft.Network/2024-07-01/SubnetCreate.json",
                "PUT",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}",
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Network/2024-05-01/SubnetGet.json",
                "GET",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}",
            )
        },
        Case {
            seed_target: true,
            // A load balancer frontend's IP configuration in the subnet: load balancers are not
            // simulated, so nothing fills this read-only back-reference.
            ignore: &["/properties/subnets/0/properties/ipConfigurations"],
            ..arm(
                "Microsoft.Network/2024-07-01/VirtualNetworkGet.json",
                "GET",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}",
            )
        },
        Case {
            body: Some("parameters"),
            ignore: &[
                // The recorded id names privateLinkServices (a typo upstream) and record sets of a PLS target.
                "/id",
                "/properties/privateDnsZoneConfigs/*/properties/recordSets",
            ],
            ..arm(
                "Microsoft.Network/2024-05-01/PrivateEndpointDnsZoneGroupCreate.json",
                "PUT",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/privateEndpoints/{privateEndpointName}/privateDnsZoneGroups/{privateDnsZoneGroupName}",
            )
        },
        Case {
            seed_target: true,
            ignore: &[
                "/id",
                "/properties/privateDnsZoneConfigs/*/properties/recordSets",
            ],
            ..arm(
                "Microsoft.Network/2024-05-01/PrivateEndpointDnsZoneGroupGet.json",
                "GET",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/privateEndpoints/{privateEndpointName}/privateDnsZoneGroups/{privateDnsZoneGroupName}",
            )
        },
        Case {
            body: Some("parameters"),
            ..arm(
                "Microsoft.Insights/2021-05-01-preview/createOrUpdateDiagnosticSetting.json",
                "PUT",
                "/{resourceUri}/providers/Microsoft.Insights/diagnosticSettings/{name}",
            )
        },
        Case {
            body: Some("parameters"),
            ignore: &[
                // This recording's id omits '/providers/microsoft.insights' and its type is empty.
                "/id", "/type",
            ],
            ..arm(
                "Microsoft.Insights/2021-05-01-preview/createOrUpdateDiagnosticSettingCategory.json",
                "PUT",
                "/{resourceUri}/providers/Microsoft.Insights/diagnosticSettings/{name}",
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Insights/2021-05-01-preview/getDiagnosticSetting.json",
                "GET",
                "/{resourceUri}/providers/Microsoft.Insights/diagnosticSettings/{name}",
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Insights/2021-05-01-preview/listDiagnosticSettings.json",
                "GET",
                "/{resourceUri}/providers/Microsoft.Insights/diagnosticSettings",
            )
        },
        Case {
            ..arm(
                "Microsoft.Insights/2021-05-01-preview/listDiagnosticSettingsCategories.json",
                "GET",
                "/{resourceUri}/providers/Microsoft.Insights/diagnosticSettingsCategories",
            )
        },
        Case {
            body: Some("parameters"),
            ignore: &[
                // The recorded response names other resources than the request sent: the storage
                // account in another subscription, a workspace for the empty 'workspaceId', the
                // event hub rule in another resource group.
                "/properties/storageAccountId",
                "/properties/workspaceId",
                "/properties/eventHubAuthorizationRuleId",
            ],
            ..arm(
                "Microsoft.Insights/2021-05-01-preview/createOrUpdateSubscriptionDiagnosticSetting.json",
                "PUT",
                "/subscriptions/{subscriptionId}/providers/Microsoft.Insights/diagnosticSettings/{name}",
            )
        },
        Case {
            seed_target: true,
            // The recording asks for 'mysetting' and answers with the setting 'ds4'.
            ignore: &["/id", "/name"],
            ..arm(
                "Microsoft.Insights/2021-05-01-preview/getSubscriptionDiagnosticSetting.json",
                "GET",
                "/subscriptions/{subscriptionId}/providers/Microsoft.Insights/diagnosticSettings/{name}",
            )
        },
        Case {
            body: Some("activityLogAlertRule"),
            // The recorded create answers with the condition fields capitalised ('Category',
            // 'Level') while the recorded get of the same rule returns them as sent; the
            // simulator keeps them as sent (the spec compares them case-insensitively).
            ignore: &["/properties/condition/allOf/*/field"],
            ..arm(
                "Microsoft.Insights/2020-10-01/ActivityLogAlertRule_CreateOrUpdate.json",
                "PUT",
                ACTIVITY_ALERT,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Insights/2020-10-01/ActivityLogAlertRule_Get.json",
                "GET",
                ACTIVITY_ALERT,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Insights/2020-10-01/ActivityLogAlertRule_ListByResourceGroupName.json",
                "GET",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Insights/activityLogAlerts",
            )
        },
        Case {
            body: Some("actionGroup"),
            // The recording masks the function's trigger URL in the response ('<httpTriggerUrl>').
            ignore: &["/properties/azureFunctionReceivers/0/httpTriggerUrl"],
            ..arm(
                "Microsoft.Insights/2022-06-01/createOrUpdateActionGroup.json",
                "PUT",
                ACTION_GROUP,
            )
        },
        Case {
            seed_target: true,
            // Receivers whose recipients had unsubscribed when the recording was made; the
            // simulator does not model unsubscribing, so receivers stay Enabled.
            ignore: &[
                "/properties/emailReceivers/1/status",
                "/properties/smsReceivers/0/status",
            ],
            ..arm(
                "Microsoft.Insights/2023-01-01/getActionGroup.json",
                "GET",
                ACTION_GROUP,
            )
        },
        Case {
            body: Some("parameters"),
            ..arm(
                "Microsoft.Insights/2023-12-01/createOrUpdateScheduledQueryRule.json",
                "PUT",
                QUERY_RULE,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Insights/2023-12-01/getScheduledQueryRule.json",
                "GET",
                QUERY_RULE,
            )
        },
        Case {
            body: Some("parameters"),
            ignore: &[
                // The recorded response names another workspace (AzTest2170) in another subscription than the request.
                "/id",
                "/name",
                "/properties/provisioningState",
            ],
            ..arm(
                "Microsoft.OperationalInsights/2025-02-01/WorkspacesCreate.json",
                "PUT",
                LAW,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.OperationalInsights/2025-02-01/WorkspacesGet.json",
                "GET",
                LAW,
            )
        },
        Case {
            body: Some("parameters"),
            ignore: &[
                // Schema metadata of Microsoft's built-in table, not modelled.
                "/properties/schema",
                "/id",
                "/properties/provisioningState",
            ],
            ..arm(
                "Microsoft.OperationalInsights/2025-02-01/TablesUpsert.json",
                "PUT",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.OperationalInsights/workspaces/{workspaceName}/tables/{tableName}",
            )
        },
        Case {
            body: Some("parameters"),
            ignore: &[
                // The recorded response names the cluster 'TestResourceLock', and carries a
                // system-assigned identity the request did not ask for.
                "/name",
                "/identity",
            ],
            ..arm(
                "Microsoft.OperationalInsights/2025-02-01/ClustersCreate.json",
                "PUT",
                CLUSTER,
            )
        },
        Case {
            seed_target: true,
            ignore: &[
                // The recorded response names the cluster 'TestResourceLock'.
                "/name",
                // This recording writes its dates in ISO 8601 (one of them, '2020-07-013', is not
                // a date) where the create and update recordings use RFC 1123, as the simulator.
                "/properties/createdDate",
                "/properties/lastModifiedDate",
                "/properties/associatedWorkspaces/*/associateDate",
                "/properties/capacityReservationProperties/lastSkuUpdate",
            ],
            ..arm(
                "Microsoft.OperationalInsights/2025-02-01/ClustersGet.json",
                "GET",
                CLUSTER,
            )
        },
        Case {
            body: Some("parameters"),
            seed_target: true,
            ignore: &[
                // The recording reports a tenant on a user-assigned identity; the simulator
                // reports tenantId for system-assigned identities only.
                "/identity/tenantId",
                // The recording's vault 'aztest2170' is not in the simulated estate, so the
                // latest version the empty keyVersion stands for cannot be resolved.
                "/properties/keyVaultProperties/keyVersion",
            ],
            ..arm(
                "Microsoft.OperationalInsights/2025-02-01/ClustersUpdate.json",
                "PATCH",
                CLUSTER,
            )
        },
        Case {
            body: Some("parameters"),
            // Recorded while the link was still being made; the simulator's operations complete
            // at once unless lroDurationMs is set.
            ignore: &["/properties/provisioningState"],
            ..arm(
                "Microsoft.OperationalInsights/2025-02-01/LinkedServicesCreate.json",
                "PUT",
                LINKED_SERVICE,
            )
        },
        Case {
            seed_target: true,
            // The recorded id names another subscription (…000005) than the request.
            ignore: &["/id"],
            ..arm(
                "Microsoft.OperationalInsights/2025-02-01/LinkedServicesGet.json",
                "GET",
                LINKED_SERVICE,
            )
        },
        Case {
            body: Some("parameters"),
            ..arm(
                "Microsoft.OperationalInsights/2025-02-01/DataExportCreateOrUpdate.json",
                "PUT",
                DATA_EXPORT,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.OperationalInsights/2025-02-01/DataExportGet.json",
                "GET",
                DATA_EXPORT,
            )
        },
        // Recorded while still provisioning.
        Case {
            seed_target: true,
            ignore: &["/properties/provisioningState"],
            ..arm(
                "Microsoft.HealthcareApis/2024-03-31/Workspaces_Get.json",
                "GET",
                HDS,
            )
        },
        Case {
            body: Some("fhirservice"),
            ignore: &["/properties/provisioningState"],
            ..arm(
                "Microsoft.HealthcareApis/2024-03-31/FhirServices_Create.json",
                "PUT",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.HealthcareApis/workspaces/{workspaceName}/fhirservices/{fhirServiceName}",
            )
        },
        Case {
            seed_target: true,
            ignore: &["/properties/provisioningState"],
            ..arm(
                "Microsoft.HealthcareApis/2024-03-31/FhirServices_Get.json",
                "GET",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.HealthcareApis/workspaces/{workspaceName}/fhirservices/{fhirServiceName}",
            )
        },
        Case {
            body: Some("dicomservice"),
            ignore: &[
                "/properties/provisioningState",
                "/properties/serviceUrl",
                // The recorded response carries an identity and a key the request did not send, and its tenant.
                "/identity",
                "/properties/encryption",
                "/properties/authenticationConfiguration/authority",
            ],
            ..arm(
                "Microsoft.HealthcareApis/2024-03-31/DicomServices_Create.json",
                "PUT",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.HealthcareApis/workspaces/{workspaceName}/dicomservices/{dicomServiceName}",
            )
        },
        Case {
            body: Some("dicomservicePatchResource"),
            seed_target: true,
            ..arm(
                "Microsoft.HealthcareApis/2024-03-31/DicomServices_Patch.json",
                "PATCH",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.HealthcareApis/workspaces/{workspaceName}/dicomservices/{dicomServiceName}",
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.DocumentDB/2025-04-15/CosmosDBDatabaseAccountGet.json",
                "GET",
                COSMOS,
            )
        },
        Case {
            body: Some("createUpdateParameters"),
            ignore: &[
                // Regional topology and per-region endpoints are not modelled.
                "/properties/readLocations",
                "/properties/writeLocations",
                "/properties/locations",
                "/properties/failoverPolicies",
                "/properties/provisioningState",
                // Cosmos DB echoes the region's display name ('West US').
                "/location",
            ],
            ..arm(
                "Microsoft.DocumentDB/2025-04-15/CosmosDBDatabaseAccountCreateMax.json",
                "PUT",
                COSMOS,
            )
        },
        Case {
            body: Some("updateParameters"),
            seed_target: true,
            ..arm(
                "Microsoft.DocumentDB/2025-04-15/CosmosDBDatabaseAccountPatch.json",
                "PATCH",
                COSMOS,
            )
        },
        Case {
            body: Some("parameters"),
            ..arm(
                "Microsoft.Authorization/2022-04-01/RoleAssignments_CreateForResource.json",
                "PUT",
                "/{scope}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}",
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Authorization/2022-04-01/RoleAssignments_Delete.json",
                "DELETE",
                "/{scope}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}",
            )
        },
        Case {
            seed_target: true,
            subset: true,
            ..arm(
                "Microsoft.Authorization/2022-04-01/RoleAssignments_ListForScope.json",
                "GET",
                "/{scope}/providers/Microsoft.Authorization/roleAssignments",
            )
        },
        Case {
            seed_target: true,
            params: &[("roleId", "3f4e5d6c-0000-4000-8000-00000000abcd")],
            // The recording uses the placeholders 'roleDefinitionId' and 'roletype'.
            ignore: &["/id", "/name", "/properties/type"],
            ..arm(
                "Microsoft.Authorization/2022-04-01/GetRoleDefinitionById.json",
                "GET",
                "/subscriptions/subId/providers/Microsoft.Authorization/roleDefinitions/{roleId}",
            )
        },
        Case {
            // The recording's scope and role id are the placeholders 'scope' and
            // 'roleDefinitionId'; a custom role's id is a GUID the caller chooses.
            params: &[
                ("scope", "subscriptions/subId"),
                ("roleDefinitionId", "3f4e5d6c-0000-4000-8000-00000000beef"),
            ],
            // The recording sends the definition flat under 'body.roleDefinition'; the spec's
            // body (RoleDefinition) carries the same fields under 'properties'.
            body_from: Some(|p| {
                let d = &p["body"]["roleDefinition"];
                json!({"properties": {"roleName": d["roleName"], "description": d["description"],
                    "assignableScopes": d["assignableScopes"], "permissions": d["permissions"]}})
            }),
            // The placeholder id and name, and the placeholder 'roletype' for the role type.
            ignore: &["/id", "/name", "/properties/type"],
            ..arm(
                "Microsoft.Authorization/2022-04-01/PutRoleDefinition.json",
                "PUT",
                "/{scope}/providers/Microsoft.Authorization/roleDefinitions/{roleDefinitionId}",
            )
        },
        Case {
            seed_target: true,
            params: &[
                ("scope", "subscriptions/subID"),
                ("roleDefinitionId", "3f4e5d6c-0000-4000-8000-00000000beef"),
            ],
            // The placeholder id and name, and the placeholder 'roletype' for the role type.
            ignore: &["/id", "/name", "/properties/type"],
            ..arm(
                "Microsoft.Authorization/2022-04-01/GetRoleDefinitionByName.json",
                "GET",
                "/{scope}/providers/Microsoft.Authorization/roleDefinitions/{roleDefinitionId}",
            )
        },
        Case {
            body: Some("pricing"),
            ..arm(
                "Microsoft.Security/2024-01-01/PutPricingByName_example.json",
                "PUT",
                PRICING,
            )
        },
        Case {
            body: Some("pricing"),
            ignore: &[EXCLUSION_TAGS],
            ..arm(
                "Microsoft.Security/2024-01-01/PutPricingVMsByName_example.json",
                "PUT",
                PRICING,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Security/2024-01-01/GetPricingByNameVirtualMachines_example.json",
                "GET",
                PRICING,
            )
        },
        Case {
            seed_target: true,
            // The recorded list mixes two subscriptions' ids: entries are paired by plan name,
            // and the ids of the other subscription's entries are not compared.
            subset: true,
            subset_key: "name",
            ignore: &[
                "/value/4/id",
                "/value/5/id",
                "/value/6/id",
                "/value/7/id",
                "/value/8/id",
                "/value/9/id",
                "/value/10/id",
                "/value/11/id",
                "/value/12/id",
            ],
            ..arm(
                "Microsoft.Security/2024-01-01/ListPricings_example.json",
                "GET",
                PRICINGS,
            )
        },
        Case {
            body: Some("pricing"),
            ignore: &[EXCLUSION_TAGS],
            ..arm(
                "Microsoft.Security/2024-01-01/PutResourcePricingByNameVirtualMachines_example.json",
                "PUT",
                PRICING,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Security/2024-01-01/GetResourcePricingByNameVirtualMachines_example.json",
                "GET",
                PRICING,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Security/2024-01-01/DeleteResourcePricing_example.json",
                "DELETE",
                PRICING,
            )
        },
        Case {
            seed_target: true,
            subset: true,
            subset_key: "name",
            // The recorded CloudPosture entry's id names another subscription than the request.
            ignore: &["/value/1/id"],
            ..arm(
                "Microsoft.Security/2024-01-01/ListResourcePricings_example.json",
                "GET",
                PRICINGS,
            )
        },
        Case {
            body: Some("parameters"),
            ..arm(
                "Microsoft.Authorization/2020-05-01/ManagementLocks_CreateOrUpdateAtResourceGroupLevel.json",
                "PUT",
                LOCKS_RG,
            )
        },
        Case {
            body: Some("parameters"),
            // The recording locks the subscription and answers with a resource group lock's id.
            ignore: &["/id"],
            ..arm(
                "Microsoft.Authorization/2020-05-01/ManagementLocks_CreateOrUpdateAtScope.json",
                "PUT",
                "/{scope}/providers/Microsoft.Authorization/locks/{lockName}",
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Authorization/2020-05-01/ManagementLocks_DeleteAtScope.json",
                "DELETE",
                "/{scope}/providers/Microsoft.Authorization/locks/{lockName}",
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Authorization/2016-09-01/ManagementLocks_DeleteAtResourceGroupLevel.json",
                "DELETE",
                LOCKS_RG,
            )
        },
        // The recording's 'parentResourcePath' is a placeholder; a top-level resource (a storage
        // account) has none, so the path leaves that segment out.
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Authorization/2016-09-01/ManagementLocks_DeleteAtResourceLevel.json",
                "DELETE",
                LOCKS_RESOURCE,
            )
        },
        Case {
            seed_target: true,
            // The recording reads a storage account's lock and answers with a resource group
            // lock's id.
            ignore: &["/id"],
            ..arm(
                "Microsoft.Authorization/2020-05-01/ManagementLocks_GetAtResourceLevel.json",
                "GET",
                LOCKS_RESOURCE,
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Authorization/2020-05-01/ManagementLocks_ListAtResourceGroupLevel.json",
                "GET",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Authorization/locks",
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Authorization/2022-04-01/GetDenyAssignmentByNameId.json",
                "GET",
                "/{scope}/providers/Microsoft.Authorization/denyAssignments/{denyAssignmentId}",
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Authorization/2022-04-01/GetDenyAssignmentsForResourceGroup.json",
                "GET",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Authorization/denyAssignments",
            )
        },
        Case {
            body: Some("parameters"),
            ignore: &[
                // The recorded response shows another 'assignedBy' than the request sent, and a definition version the simulator does not track.
                "/properties/metadata",
                "/properties/definitionVersion",
            ],
            ..arm(
                "Microsoft.Authorization/2025-03-01/createPolicyAssignmentWithIdentity.json",
                "PUT",
                "/{scope}/providers/Microsoft.Authorization/policyAssignments/{policyAssignmentName}",
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Authorization/2025-03-01/getPolicyAssignment.json",
                "GET",
                "/{scope}/providers/Microsoft.Authorization/policyAssignments/{policyAssignmentName}",
            )
        },
        Case {
            seed_target: true,
            ..arm(
                "Microsoft.Authorization/2025-03-01/deletePolicyAssignment.json",
                "DELETE",
                "/{scope}/providers/Microsoft.Authorization/policyAssignments/{policyAssignmentName}",
            )
        },
        Case {
            body: Some("body"),
            ignore: &[
                // The recording's caller, and a status computed from the simulated clock.
                "/properties/createdBy",
                "/properties/status",
            ],
            ..arm(
                "Microsoft.Authorization/2021-12-01-preview/PutAccessReviewScheduleDefinition.json",
                "PUT",
                "/{scope}/providers/Microsoft.Authorization/accessReviewScheduleDefinitions/{scheduleDefinitionId}",
            )
        },
        Case {
            seed_target: true,
            // The recorded decision ids name another definition and instance than the request.
            ignore: &["/value/*/id"],
            ..arm(
                "Microsoft.Authorization/2021-12-01-preview/GetAccessReviewInstanceDecisions.json",
                "GET",
                "/{scope}/providers/Microsoft.Authorization/accessReviewScheduleDefinitions/{scheduleDefinitionId}/instances/{id}/decisions",
            )
        },
        Case {
            ignore: &[
                // Compliance results come from Azure Policy evaluation, which is not simulated: shape only.
                "/@odata.context",
                "/value/0/@odata.context",
                "/value/0/results",
                "/value/0/policyAssignments",
            ],
            ..arm(
                "Microsoft.PolicyInsights/2024-10-01/PolicyStates_SummarizeResourceGroupScope.json",
                "POST",
                "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.PolicyInsights/policyStates/{policyStatesSummaryResource}/summarize",
            )
        },
        Case {
            body: Some("query"),
            ignore: &[
                "/data",
                "/totalRecords",
                "/count",
                "/$skipToken",
                "/resultTruncated",
            ],
            ..arm(
                "Microsoft.ResourceGraph/2024-04-01/ResourcesBasicQuery.json",
                "POST",
                "/providers/Microsoft.ResourceGraph/resources",
            )
        },
        Case {
            body: Some("query"),
            ignore: &[
                "/data",
                "/totalRecords",
                "/count",
                "/$skipToken",
                "/resultTruncated",
            ],
            ..arm(
                "Microsoft.ResourceGraph/2024-04-01/ResourcesFirstPageQuery.json",
                "POST",
                "/providers/Microsoft.ResourceGraph/resources",
            )
        },
        Case {
            body: Some("query"),
            ignore: &[
                "/data",
                "/totalRecords",
                "/count",
                "/$skipToken",
                "/resultTruncated",
            ],
            ..arm(
                "Microsoft.ResourceGraph/2024-04-01/ResourcesNextPageQuery.json",
                "POST",
                "/providers/Microsoft.ResourceGraph/resources",
            )
        },
        Case {
            body: Some("parameters"),
            ignore: &["/key/n"],
            target: Target::KeyVault(KvSetup::None),
            ..arm(
                "KeyVault.DataPlane/7.5/CreateKey-example.json",
                "POST",
                "/keys/{key-name}/create",
            )
        },
        Case {
            ignore: &["/key/n", "/tags"],
            target: Target::KeyVault(KvSetup::Key),
            ..arm(
                "KeyVault.DataPlane/7.5/GetKey-example.json",
                "GET",
                "/keys/{key-name}/{key-version}",
            )
        },
        // The recorded kid names another key than the request.
        Case {
            ignore: &["/key/n", "/tags", "/attributes/exp", "/key/kid"],
            target: Target::KeyVault(KvSetup::Key),
            ..arm(
                "KeyVault.DataPlane/7.5/RotateKey-example.json",
                "POST",
                "/keys/{key-name}/rotate",
            )
        },
        Case {
            target: Target::KeyVault(KvSetup::KeyAndPolicy),
            ..arm(
                "KeyVault.DataPlane/7.5/GetKeyRotationPolicy-example.json",
                "GET",
                "/keys/{key-name}/rotationpolicy",
            )
        },
        Case {
            body: Some("keyRotationPolicy"),
            target: Target::KeyVault(KvSetup::Key),
            ..arm(
                "KeyVault.DataPlane/7.5/UpdateKeyRotationPolicy-example.json",
                "PUT",
                "/keys/{key-name}/rotationpolicy",
            )
        },
        Case {
            target: Target::KeyVault(KvSetup::Secret),
            ..arm(
                "KeyVault.DataPlane/7.6/GetSecret-example.json",
                "GET",
                "/secrets/{secret-name}/{secret-version}",
            )
        },
        Case {
            // An opaque continuation link (the recording's even names api-version 7.2).
            ignore: &["/nextLink"],
            target: Target::KeyVault(KvSetup::SecretList),
            ..arm(
                "KeyVault.DataPlane/7.6/GetSecrets-example.json",
                "GET",
                "/secrets",
            )
        },
        Case {
            ignore: &[
                // The recording's own identity and token lifetimes; its resource value is truncated ('https://va').
                "/client_id",
                "/ext_expires_in",
                "/expires_in",
                "/resource",
            ],
            target: Target::Imds,
            ..arm(
                "InstanceMetadataService/2019-08-15/GetIdentityToken.json",
                "GET",
                "/metadata/identity/oauth2/token",
            )
        },
    ]
}

/// Example files of operations the simulator does not serve yet; the coverage test keeps this
/// list honest by checking none of their resource types is registered.
pub(super) const NOT_SERVED: &[(&str, &str)] = &[];
