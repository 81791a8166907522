//! Microsoft.Storage (api-version 2025-01-01): the storage-account properties the controls read,
//! PATCH bodies that carry only what changes, and the blob service settings.

use std::collections::BTreeMap;

use azure_core::http::Method;
use serde::{Deserialize, Serialize};

use super::client::AzureClient;
use super::error::AzureError;
use super::types::ArmOp;

pub const API_VERSION: &str = "2025-01-01";
const PROVIDER: &str = "Microsoft.Storage";
const GET_ACCOUNT: ArmOp = ArmOp::new("StorageAccounts_GetProperties", PROVIDER, API_VERSION);
const UPDATE_ACCOUNT: ArmOp = ArmOp::new("StorageAccounts_Update", PROVIDER, API_VERSION);
const GET_BLOB_SERVICE: ArmOp =
    ArmOp::new("BlobServices_GetServiceProperties", PROVIDER, API_VERSION);
const SET_BLOB_SERVICE: ArmOp =
    ArmOp::new("BlobServices_SetServiceProperties", PROVIDER, API_VERSION);
const GET_FILE_SERVICE: ArmOp =
    ArmOp::new("FileServices_GetServiceProperties", PROVIDER, API_VERSION);
const SET_FILE_SERVICE: ArmOp =
    ArmOp::new("FileServices_SetServiceProperties", PROVIDER, API_VERSION);

/// A storage account as GET returns it (only what the controls need; unknown fields ignored).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StorageAccount {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub sku: Option<Sku>,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub identity: Option<ManagedIdentity>,
    #[serde(default)]
    pub properties: StorageAccountProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Sku {
    pub name: String,
}

/// `identity` of a resource.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedIdentity {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_assigned_identities: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StorageAccountProperties {
    pub provisioning_state: Option<String>,
    pub minimum_tls_version: Option<String>,
    pub supports_https_traffic_only: Option<bool>,
    pub allow_blob_public_access: Option<bool>,
    pub allow_shared_key_access: Option<bool>,
    pub default_to_o_auth_authentication: Option<bool>,
    pub allow_cross_tenant_replication: Option<bool>,
    pub public_network_access: Option<String>,
    pub network_acls: Option<NetworkAcls>,
    pub encryption: Option<Encryption>,
    pub key_policy: Option<KeyPolicy>,
    pub sas_policy: Option<SasPolicy>,
    #[serde(default)]
    pub private_endpoint_connections: Vec<PrivateEndpointConnection>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAcls {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypass: Option<String>,
    pub default_action: String,
    #[serde(default)]
    pub ip_rules: Vec<IpRule>,
    #[serde(default)]
    pub virtual_network_rules: Vec<serde_json::Value>,
    /// Everything else Azure returns (`resourceAccessRules`, `ipv6Rules`, fields of newer
    /// API versions), carried through unchanged: the rule set is written whole, so a field the
    /// operator does not model must not be dropped from it.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct IpRule {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Encryption {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyvaultproperties: Option<KeyVaultProperties>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<EncryptionIdentity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_infrastructure_encryption: Option<bool>,
}

/// The account's customer-managed key. `keyversion` empty means automatic rotation.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyVaultProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyversion: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyvaulturi: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_versioned_key_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_key_rotation_timestamp: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionIdentity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_assigned_identity: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyPolicy {
    pub key_expiration_period_in_days: i64,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SasPolicy {
    pub sas_expiration_period: String,
    pub expiration_action: String,
}

/// A private endpoint connection as the target resource lists it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpointConnection {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub properties: PrivateEndpointConnectionProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpointConnectionProperties {
    #[serde(default)]
    pub private_endpoint: Option<IdRef>,
    #[serde(default)]
    pub private_link_service_connection_state: Option<ConnectionState>,
}

pub use super::types::{ConnectionState, IdRef};

/// A PATCH of a storage account: every field optional, only the set ones are sent.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StorageAccountPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<ManagedIdentity>,
    #[serde(skip_serializing_if = "StorageAccountPatchProperties::is_empty")]
    pub properties: StorageAccountPatchProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StorageAccountPatchProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_tls_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supports_https_traffic_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_blob_public_access: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_shared_key_access: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_to_o_auth_authentication: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_cross_tenant_replication: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_acls: Option<NetworkAcls>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_policy: Option<KeyPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sas_policy: Option<SasPolicy>,
}

impl StorageAccountPatchProperties {
    fn is_empty(&self) -> bool {
        *self == StorageAccountPatchProperties::default()
    }
}

impl StorageAccountPatch {
    /// Whether the patch changes nothing (and so must not be sent).
    pub fn is_empty(&self) -> bool {
        *self == StorageAccountPatch::default()
    }
}

/// `blobServices/default` settings (soft delete, versioning, change feed).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlobServiceProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_retention_policy: Option<RetentionPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_delete_retention_policy: Option<RetentionPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_versioning_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_feed: Option<ChangeFeed>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChangeFeed {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<i64>,
}

/// `fileServices/default` settings: share soft delete and the SMB protocol.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FileServiceProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_delete_retention_policy: Option<RetentionPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_settings: Option<ProtocolSettings>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct ProtocolSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smb: Option<SmbSettings>,
}

/// SMB settings; Azure writes each list as one `;`-separated string (`SMB3.0;SMB3.1.1`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SmbSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_encryption: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
struct FileService {
    #[serde(default)]
    properties: FileServiceProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct BlobService {
    #[serde(default)]
    pub properties: BlobServiceProperties,
}

impl AzureClient {
    /// `StorageAccounts_GetProperties`.
    pub async fn get_storage_account(&self, id: &str) -> Result<StorageAccount, AzureError> {
        self.get(&GET_ACCOUNT, id).await
    }

    /// `StorageAccounts_Update` with only the changed properties; an empty patch sends nothing
    /// and returns `None`.
    pub async fn update_storage_account(
        &self,
        id: &str,
        patch: &StorageAccountPatch,
    ) -> Result<Option<StorageAccount>, AzureError> {
        if patch.is_empty() {
            return Ok(None);
        }
        let body = self
            .write(&UPDATE_ACCOUNT, Method::Patch, id, Some(patch), None)
            .await?;
        body.map(|b| {
            serde_json::from_value(b).map_err(|e| AzureError::Unexpected {
                operation: "StorageAccounts_Update".into(),
                resource: id.into(),
                detail: format!("response is not a storage account: {e}"),
            })
        })
        .transpose()
    }

    /// `BlobServices_GetServiceProperties`.
    pub async fn get_blob_service(&self, account_id: &str) -> Result<BlobService, AzureError> {
        let id = format!("{account_id}/blobServices/default");
        self.get(&GET_BLOB_SERVICE, &id).await
    }

    /// `FileServices_GetServiceProperties`; an account whose file service was never configured
    /// reads as the defaults (`None` fields).
    pub async fn get_file_service(
        &self,
        account_id: &str,
    ) -> Result<FileServiceProperties, AzureError> {
        let id = format!("{account_id}/fileServices/default");
        Ok(self
            .get_opt::<FileService>(&GET_FILE_SERVICE, &id)
            .await?
            .map(|f| f.properties)
            .unwrap_or_default())
    }

    /// `FileServices_SetServiceProperties`: the whole property set as read, with `changes`
    /// merged in (see [`AzureClient::set_blob_service`]).
    pub async fn set_file_service(
        &self,
        account_id: &str,
        changes: &FileServiceProperties,
    ) -> Result<(), AzureError> {
        let id = format!("{account_id}/fileServices/default");
        self.set_service(&GET_FILE_SERVICE, &SET_FILE_SERVICE, &id, changes)
            .await
    }

    /// `BlobServices_SetServiceProperties`: the whole property set as read, with `changes`
    /// merged in. The service's PUT takes the properties it is given; whatever the service
    /// does with an omitted one, a body that carries every setting as read (CORS, restore
    /// policy, last-access tracking, fields the operator does not model) changes only what the
    /// plan changes.
    pub async fn set_blob_service(
        &self,
        account_id: &str,
        changes: &BlobServiceProperties,
    ) -> Result<(), AzureError> {
        let id = format!("{account_id}/blobServices/default");
        self.set_service(&GET_BLOB_SERVICE, &SET_BLOB_SERVICE, &id, changes)
            .await
    }

    async fn set_service<T: Serialize>(
        &self,
        get: &ArmOp,
        put: &ArmOp,
        id: &str,
        changes: &T,
    ) -> Result<(), AzureError> {
        let current: Option<serde_json::Value> = self.get_opt(get, id).await?;
        let mut body = serde_json::json!({
            "properties": current
                .as_ref()
                .and_then(|c| c.get("properties"))
                .cloned()
                .unwrap_or_else(|| serde_json::json!({})),
        });
        let changes = serde_json::json!({ "properties": changes });
        super::readonly::merge_into(&mut body, &changes);
        super::readonly::strip(put, &mut body);
        self.write(put, Method::Put, id, Some(&body), None)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_cmk_account_parses_with_its_key_and_rotation() {
        let example: serde_json::Value = serde_json::from_str(include_str!(
            "../../../shared/azure-rest-examples/Microsoft.Storage/2025-01-01/StorageAccountGetPropertiesCMKEnabled.json"
        ))
        .expect("example JSON");
        let account: StorageAccount =
            serde_json::from_value(example["responses"]["200"]["body"].clone())
                .expect("a storage account");
        let encryption = account.properties.encryption.expect("encryption");
        assert_eq!(encryption.key_source.as_deref(), Some("Microsoft.Keyvault"));
        let kv = encryption.keyvaultproperties.expect("keyvaultproperties");
        assert_eq!(kv.keyversion.as_deref(), Some(""));
        assert!(
            kv.current_versioned_key_identifier
                .is_some_and(|k| k.ends_with("0682afdd9c104f4285df20107e956cad"))
        );
        assert_eq!(
            account
                .properties
                .network_acls
                .expect("acls")
                .default_action,
            "Allow"
        );
        assert_eq!(account.sku.expect("sku").name, "Standard_GRS");
    }

    #[test]
    fn a_patch_carries_only_what_changes() {
        let patch = StorageAccountPatch {
            properties: StorageAccountPatchProperties {
                minimum_tls_version: Some("TLS1_2".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&patch).expect("json"),
            serde_json::json!({"properties": {"minimumTlsVersion": "TLS1_2"}})
        );
        assert!(StorageAccountPatch::default().is_empty());
        assert_eq!(
            serde_json::to_value(StorageAccountPatch::default()).expect("json"),
            serde_json::json!({})
        );
    }

    #[test]
    fn a_rule_set_written_back_keeps_the_rules_the_operator_does_not_model() {
        let read: NetworkAcls = serde_json::from_value(serde_json::json!({
            "bypass": "AzureServices",
            "defaultAction": "Allow",
            "ipRules": [{"value": "203.0.113.7", "action": "Allow"}],
            "virtualNetworkRules": [],
            "resourceAccessRules": [{
                "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                "resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Synapse/workspaces/ws"
            }]
        }))
        .expect("acls");
        let mut acls = read.clone();
        acls.default_action = "Deny".into();
        let patch = StorageAccountPatch {
            properties: StorageAccountPatchProperties {
                network_acls: Some(acls),
                ..Default::default()
            },
            ..Default::default()
        };
        let body = serde_json::to_value(&patch).expect("json");
        assert_eq!(body["properties"]["networkAcls"]["defaultAction"], "Deny");
        assert_eq!(
            body["properties"]["networkAcls"]["resourceAccessRules"][0]["resourceId"],
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Synapse/workspaces/ws"
        );
    }
}
