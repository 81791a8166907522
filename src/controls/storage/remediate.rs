//! The storage plan: the fewest Azure writes (one account PATCH, one PUT per service, the key,
//! its access and the diagnostic settings) that remediate the drifted storage controls.

use super::key::rotation_due;
use super::model::{StorageExpectations, StorageObservation};
use super::{MAX_KEY_EXPIRATION_DAYS, SAS_EXPIRATION, SMB_CHANNEL_ENCRYPTION, SMB_VERSIONS};
use crate::azure::storage::{
    BlobServiceProperties, ChangeFeed, Encryption, EncryptionIdentity, FileServiceProperties,
    KeyVaultProperties, ProtocolSettings, RetentionPolicy, SmbSettings, StorageAccountPatch,
    StorageAccountPatchProperties,
};
use crate::controls::finding::{Finding, Found};
use crate::controls::setting;

/// The Azure writes that remediate drifted storage controls.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoragePlan {
    /// One PATCH of the account with every drifted account property.
    pub account_patch: StorageAccountPatch,
    /// One PUT of `blobServices/default` with every drifted blob-service setting.
    pub blob_service: Option<BlobServiceProperties>,
    /// One PUT of `fileServices/default` with every drifted file-service setting.
    pub file_service: Option<FileServiceProperties>,
    pub ensure_private_endpoint: bool,
    /// Disable public network access once `ensure_private_endpoint` has succeeded.
    pub close_public_after_endpoint: bool,
    /// Create the key if missing and set its rotation policy.
    pub ensure_key: bool,
    /// A new key version now: the key exists and the account's last rotation is older than
    /// the cadence (the versionless reference picks the new version up).
    pub rotate_key: bool,
    /// Give the key's current version (by version) this expiry (seconds since the epoch).
    pub set_key_expiry: Option<(String, i64)>,
    /// Grant the account's identity `Key Vault Crypto Service Encryption User` on the key.
    pub grant_key_access: bool,
    /// Services whose diagnostic setting must be (re)written.
    pub ensure_diagnostics: Vec<String>,
    /// Ids of the controls the plan remediates.
    pub remediates: Vec<&'static str>,
}

impl StoragePlan {
    pub fn is_empty(&self) -> bool {
        self.account_patch.is_empty()
            && self.blob_service.is_none()
            && self.file_service.is_none()
            && !self.ensure_private_endpoint
            && !self.ensure_key
            && self.set_key_expiry.is_none()
            && !self.grant_key_access
            && self.ensure_diagnostics.is_empty()
    }
}

/// Plans the fewest writes that fix the drifted, automatically remediable findings in
/// `to_fix` (the caller leaves out exempt controls, and plans nothing in Audit mode).
pub fn plan(
    expect: &StorageExpectations,
    obs: &StorageObservation,
    to_fix: &[&Finding],
) -> StoragePlan {
    use crate::catalog::Remediation;
    let mut plan = StoragePlan::default();
    // The declared settings, then what is not a plain setting into the same typed PATCH.
    let current = serde_json::to_value(&obs.account).unwrap_or_default();
    let (writes, ids) = setting::fixes(super::SETTINGS, to_fix, |_| false);
    let (mut props, settled) = match serde_json::from_value::<StorageAccountPatchProperties>(
        serde_json::Value::Object(setting::properties(&writes, &current)),
    ) {
        Ok(props) => (props, ids),
        // A declaration the typed PATCH cannot carry (a test keeps every one carried): nothing
        // is claimed fixed.
        Err(_) => (StorageAccountPatchProperties::default(), Vec::new()),
    };
    plan.remediates.extend(settled);
    let mut blob = BlobServiceProperties::default();
    let mut blob_changed = false;
    for finding in to_fix {
        if finding.found != Found::Drifted || finding.control.remediation != Remediation::Automatic
        {
            continue;
        }
        let id = finding.id();
        let handled = match id {
            // Only once the private endpoint exists: disabling public access first would cut the
            // account off from everyone. When this plan makes the endpoint, public access closes
            // right after it, in the same pass.
            "storage.public-network-disabled" => {
                let endpoint = to_fix.iter().find(|f| f.id() == "storage.private-endpoint");
                match endpoint {
                    None => set(&mut props.public_network_access, "Disabled".to_string()),
                    Some(f) if f.found == Found::Compliant => {
                        set(&mut props.public_network_access, "Disabled".to_string())
                    }
                    Some(f)
                        if f.found == Found::Drifted
                            && f.control.remediation == Remediation::Automatic =>
                    {
                        plan.close_public_after_endpoint = true;
                        true
                    }
                    Some(_) => false,
                }
            }
            "storage.network-default-deny" | "storage.network-bypass" => {
                let current = obs
                    .account
                    .properties
                    .network_acls
                    .clone()
                    .unwrap_or_default();
                let acls = props.network_acls.get_or_insert(current);
                acls.default_action = "Deny".into();
                acls.bypass = Some(expect.network_bypass.clone());
                acls.ip_rules
                    .retain(|r| expect.allowed_ip_ranges.contains(&r.value));
                true
            }
            "kv.key-rotation-policy" => {
                plan.ensure_key = true;
                true
            }
            // A key created now gets its expiry with it; an existing version without one gets
            // it set (never sooner than a month from now).
            "kv.key-expiry-set" => {
                plan.ensure_key = true;
                match (obs.key_bundle.as_ref(), super::key::expiry_for(expect, obs)) {
                    (Some(bundle), Some(exp)) => {
                        plan.set_key_expiry = Some((bundle.key.version().to_string(), exp));
                        true
                    }
                    (None, _) => true,
                    (Some(_), None) => false,
                }
            }
            "storage.cmk" | "storage.cmk-rotation-observed" => {
                plan.ensure_key = true;
                plan.grant_key_access = true;
                // The account reaches the key through an identity: its system-assigned one
                // unless the store names a user-assigned identity.
                let current = obs.account.identity.as_ref();
                let has_system = current.is_some_and(|i| i.kind.contains("SystemAssigned"));
                if expect.key.user_assigned_identity.is_none() && !has_system {
                    let user_assigned = current.and_then(|i| i.user_assigned_identities.clone());
                    plan.account_patch.identity = Some(crate::azure::storage::ManagedIdentity {
                        kind: if user_assigned.as_ref().is_some_and(|u| !u.is_empty()) {
                            "SystemAssigned,UserAssigned".into()
                        } else {
                            "SystemAssigned".into()
                        },
                        principal_id: None,
                        tenant_id: None,
                        user_assigned_identities: user_assigned
                            .map(|u| u.into_keys().map(|k| (k, serde_json::json!({}))).collect()),
                    });
                }
                props.encryption = Some(Encryption {
                    key_source: Some("Microsoft.Keyvault".into()),
                    keyvaultproperties: Some(KeyVaultProperties {
                        keyname: Some(expect.key.key_name.clone()),
                        keyversion: Some(String::new()),
                        keyvaulturi: Some(expect.key.vault_uri.clone()),
                        ..Default::default()
                    }),
                    identity: expect.key.user_assigned_identity.as_ref().map(|u| {
                        EncryptionIdentity {
                            user_assigned_identity: Some(u.clone()),
                        }
                    }),
                    require_infrastructure_encryption: None,
                });
                true
            }
            "storage.account-key-expiry" => {
                props.key_policy = Some(crate::azure::storage::KeyPolicy {
                    key_expiration_period_in_days: MAX_KEY_EXPIRATION_DAYS,
                });
                true
            }
            "storage.sas-expiry-policy" => {
                props.sas_policy = Some(crate::azure::storage::SasPolicy {
                    sas_expiration_period: SAS_EXPIRATION.into(),
                    expiration_action: "Block".into(),
                });
                true
            }
            "storage.geo-redundant" => {
                // Geo-redundancy keeps the account's performance tier and zone redundancy.
                let zone = obs
                    .account
                    .sku
                    .as_ref()
                    .is_some_and(|s| s.name.contains("ZRS"));
                plan.account_patch.sku = Some(crate::azure::storage::Sku {
                    name: if zone {
                        "Standard_GZRS"
                    } else {
                        "Standard_GRS"
                    }
                    .into(),
                });
                true
            }
            "common.phi-classification-tag" => {
                let mut tags = obs.account.tags.clone().unwrap_or_default();
                tags.insert(
                    expect.classification_tag.0.clone(),
                    expect.classification_tag.1.clone(),
                );
                plan.account_patch.tags = Some(tags);
                true
            }
            "storage.blob-soft-delete" => {
                blob.delete_retention_policy = Some(RetentionPolicy {
                    enabled: true,
                    days: Some(expect.soft_delete_days),
                });
                blob_changed = true;
                true
            }
            "storage.container-soft-delete" => {
                blob.container_delete_retention_policy = Some(RetentionPolicy {
                    enabled: true,
                    days: Some(expect.soft_delete_days),
                });
                blob_changed = true;
                true
            }
            "storage.blob-versioning" => {
                blob.is_versioning_enabled = Some(true);
                blob_changed = true;
                true
            }
            "storage.change-feed" => {
                blob.change_feed = Some(ChangeFeed {
                    enabled: true,
                    retention_in_days: None,
                });
                blob_changed = true;
                true
            }
            "storage.file-soft-delete" => {
                plan.file_service
                    .get_or_insert_with(Default::default)
                    .share_delete_retention_policy = Some(RetentionPolicy {
                    enabled: true,
                    days: Some(expect.soft_delete_days),
                });
                true
            }
            "storage.smb-hardened" => {
                plan.file_service
                    .get_or_insert_with(Default::default)
                    .protocol_settings = Some(ProtocolSettings {
                    smb: Some(SmbSettings {
                        versions: Some(SMB_VERSIONS.into()),
                        channel_encryption: Some(SMB_CHANNEL_ENCRYPTION.into()),
                    }),
                });
                true
            }
            "storage.private-endpoint" => {
                plan.ensure_private_endpoint = true;
                true
            }
            "storage.diag-audit-logs" => {
                plan.ensure_diagnostics = expect.diagnostic_services.clone();
                true
            }
            _ => false,
        };
        if handled {
            plan.remediates.push(id);
        }
    }
    plan.account_patch.properties = props;
    if blob_changed {
        plan.blob_service = Some(blob);
    }
    plan.rotate_key = plan.ensure_key && rotation_due(expect, obs);
    plan
}

fn set<T>(slot: &mut Option<T>, value: T) -> bool {
    *slot = Some(value);
    true
}
