//! The controls of a storage account's service sub-resources: `blobServices/default` (soft
//! delete, versioning, change feed) and `fileServices/default` (share soft delete, SMB).

use super::model::{StorageExpectations, StorageObservation};
use super::{SMB_CHANNEL_ENCRYPTION, SMB_VERSIONS};
use crate::azure::storage::RetentionPolicy;
use crate::controls::finding::{Finding, Found, shown};

pub(super) fn blob_service(expect: &StorageExpectations, obs: &StorageObservation) -> Vec<Finding> {
    let Some(blob) = obs.blob_service.as_ref() else {
        let err = |id: &str| {
            Finding::new(id, Found::Error, "", "")
                .with_message("the blob service settings could not be read")
        };
        return [
            "storage.blob-soft-delete",
            "storage.container-soft-delete",
            "storage.blob-versioning",
            "storage.change-feed",
        ]
        .into_iter()
        .map(err)
        .collect();
    };
    let retention = |p: Option<&RetentionPolicy>| {
        (
            p.is_some_and(|p| p.enabled && p.days.unwrap_or(0) >= expect.soft_delete_days),
            p.map(|p| {
                if p.enabled {
                    format!("enabled, {} days", shown(p.days))
                } else {
                    "disabled".into()
                }
            })
            .unwrap_or_else(|| "(not set)".into()),
        )
    };
    let expected_days = format!("enabled, at least {} days", expect.soft_delete_days);
    let (blob_ok, blob_seen) = retention(blob.delete_retention_policy.as_ref());
    let (container_ok, container_seen) = retention(blob.container_delete_retention_policy.as_ref());
    vec![
        Finding::check(
            "storage.blob-soft-delete",
            blob_ok,
            expected_days.clone(),
            blob_seen,
        ),
        Finding::check(
            "storage.container-soft-delete",
            container_ok,
            expected_days,
            container_seen,
        ),
        Finding::check(
            "storage.blob-versioning",
            blob.is_versioning_enabled == Some(true),
            "true",
            shown(blob.is_versioning_enabled),
        ),
        Finding::check(
            "storage.change-feed",
            blob.change_feed.as_ref().is_some_and(|c| c.enabled),
            "enabled",
            shown(blob.change_feed.as_ref().map(|c| c.enabled)),
        ),
    ]
}

pub(super) fn file_service(expect: &StorageExpectations, obs: &StorageObservation) -> Vec<Finding> {
    let ids = ["storage.file-soft-delete", "storage.smb-hardened"];
    if !expect.file_shares {
        return ids
            .into_iter()
            .map(|id| {
                Finding::new(id, Found::NotApplicable, "applies to stores with file shares", "no file shares declared")
                    .with_message("the store declares no file shares; add `file` to spec.diagnostics.services or spec.privateEndpoint.groupIds when shares hold PHI")
            })
            .collect();
    }
    let Some(file) = obs.file_service.as_ref() else {
        return ids
            .into_iter()
            .map(|id| {
                Finding::new(id, Found::Error, "", "")
                    .with_message("the file service settings could not be read")
            })
            .collect();
    };
    let share = file.share_delete_retention_policy.as_ref();
    let share_ok =
        share.is_some_and(|p| p.enabled && p.days.unwrap_or(0) >= expect.soft_delete_days);
    let share_seen = share
        .map(|p| {
            if p.enabled {
                format!("enabled, {} days", shown(p.days))
            } else {
                "disabled".into()
            }
        })
        .unwrap_or_else(|| "(not set)".into());
    let smb = file.protocol_settings.as_ref().and_then(|p| p.smb.as_ref());
    // Azure's defaults (nothing set) allow every SMB version and cipher.
    let versions = smb
        .and_then(|s| s.versions.clone())
        .unwrap_or_else(|| "(all, by default)".into());
    let ciphers = smb
        .and_then(|s| s.channel_encryption.clone())
        .unwrap_or_else(|| "(all, by default)".into());
    vec![
        Finding::check(
            "storage.file-soft-delete",
            share_ok,
            format!("enabled, at least {} days", expect.soft_delete_days),
            share_seen,
        ),
        Finding::check(
            "storage.smb-hardened",
            versions == SMB_VERSIONS && ciphers == SMB_CHANNEL_ENCRYPTION,
            format!("versions {SMB_VERSIONS}, channelEncryption {SMB_CHANNEL_ENCRYPTION}"),
            format!("versions {versions}, channelEncryption {ciphers}"),
        ),
    ]
}
