//! The `storage.*` controls (and the cross-cutting ones that apply to a storage account):
//! evaluation of observed state against what the workspace and store expect, and the plan of
//! the fewest Azure writes that remediate the drifted ones. Pure: no I/O.

mod evaluate;
mod key;
mod model;
mod remediate;
mod services;

use crate::controls::setting::{Lit, Setting};

pub use evaluate::{NOT_YET_EVALUATED, evaluate};
pub use key::{key_principal, principal_of, rotation_due};
pub use model::{ExpectedKey, StorageExpectations, StorageObservation};
pub use remediate::{StoragePlan, plan};

/// The account's controls that one property decides, declared once for evaluation and PATCH.
/// (Public network access is not among them: it closes right after the private endpoint the
/// same pass makes.)
pub const SETTINGS: &[Setting] = &[
    Setting::new(
        "storage.min-tls-1-2",
        "properties.minimumTlsVersion",
        &[Lit::Str("TLS1_2"), Lit::Str("TLS1_3")],
    ),
    Setting::new(
        "storage.https-only",
        "properties.supportsHttpsTrafficOnly",
        &[Lit::Bool(true)],
    ),
    Setting::new(
        "storage.blob-anonymous-disabled",
        "properties.allowBlobPublicAccess",
        &[Lit::Bool(false)],
    ),
    Setting::new(
        "storage.shared-key-disabled",
        "properties.allowSharedKeyAccess",
        &[Lit::Bool(false)],
    ),
    Setting::new(
        "storage.entra-default-auth",
        "properties.defaultToOAuthAuthentication",
        &[Lit::Bool(true)],
    ),
    Setting::new(
        "storage.cross-tenant-replication-disabled",
        "properties.allowCrossTenantReplication",
        &[Lit::Bool(false)],
    ),
];

/// Geo-redundant SKUs (`storage.geo-redundant`).
const GEO_REDUNDANT: &[&str] = &[
    "Standard_GRS",
    "Standard_RAGRS",
    "Standard_GZRS",
    "Standard_RAGZRS",
];

/// Account-key and SAS lifetimes the catalog asks for.
const MAX_KEY_EXPIRATION_DAYS: i64 = 90;
const SAS_EXPIRATION: &str = "7.00:00:00";
/// Days a key rotation may be late before the in-use version counts as stale.
const ROTATION_GRACE_DAYS: i64 = 7;

/// The SMB protocol versions and channel encryption `storage.smb-hardened` accepts.
const SMB_VERSIONS: &str = "SMB3.1.1";
const SMB_CHANNEL_ENCRYPTION: &str = "AES-256-GCM";

fn same(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

#[cfg(test)]
pub(crate) mod tests;
