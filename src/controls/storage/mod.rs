//! The `storage.*` controls (and the cross-cutting ones that apply to a storage account):
//! evaluation of observed state against what the workspace and store expect, and the plan of
//! the fewest Azure writes that remediate the drifted ones. Pure: no I/O.

mod evaluate;
mod key;
mod model;
mod remediate;
mod services;

pub use evaluate::{NOT_YET_EVALUATED, evaluate};
pub use key::{key_principal, principal_of, rotation_due};
pub use model::{ExpectedKey, StorageExpectations, StorageObservation};
pub use remediate::{StoragePlan, plan};

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
