//! Management locks (`Microsoft.Authorization/locks`, api-version 2020-05-01): the locks that
//! apply to a resource (at it and inherited from above), and the operator's own delete lock.
//!
//! A `CanNotDelete` lock makes Resource Manager refuse every delete of the scope and of what lies
//! below it, whoever asks (locks override permissions); `ReadOnly` refuses writes as well.

use serde::{Deserialize, Serialize};

use super::client::AzureClient;
use super::error::AzureError;
use super::id::{ArmId, IdError};
use super::types::ArmOp;

pub const API_VERSION: &str = "2020-05-01";
const PROVIDER: &str = "Microsoft.Authorization";
const LIST_LOCKS: ArmOp = ArmOp::new("ManagementLocks_ListByScope", PROVIDER, API_VERSION);
/// `ManagementLocks_CreateOrUpdateByScope`: PUT `{scope}/providers/Microsoft.Authorization/locks/{name}`.
pub const PUT_LOCK: ArmOp = ArmOp::new(
    "ManagementLocks_CreateOrUpdateByScope",
    PROVIDER,
    API_VERSION,
);

/// The name of the lock the operator places.
pub const OPERATOR_LOCK: &str = "hipaa-operator-delete-lock";

/// One management lock.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ManagementLock {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub properties: LockProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LockProperties {
    /// `NotSpecified`, `CanNotDelete` or `ReadOnly`.
    #[serde(default)]
    pub level: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl ManagementLock {
    /// Whether the lock refuses deletes (`CanNotDelete` or `ReadOnly`).
    pub fn blocks_delete(&self) -> bool {
        self.properties.level.eq_ignore_ascii_case("CanNotDelete")
            || self.properties.level.eq_ignore_ascii_case("ReadOnly")
    }
}

/// The id of the operator's delete lock on `scope`, built from the parsed scope: nothing in
/// `scope` can steer the write anywhere but a lock directly on it.
pub fn operator_lock_id(scope: &str) -> Result<String, IdError> {
    Ok(ArmId::parse(scope)?
        .child("providers", Some(PROVIDER))?
        .child("locks", Some(OPERATOR_LOCK))?
        .as_str()
        .to_string())
}

impl AzureClient {
    /// `ManagementLocks_ListByScope` with `$filter=atScope()`: the locks that apply to `scope`,
    /// at it and inherited from above it, every page (at most 20).
    pub async fn locks_applying(&self, scope: &str) -> Result<Vec<ManagementLock>, AzureError> {
        self.list_at_scope(&LIST_LOCKS, scope, "locks", 20).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_lists_parse_and_only_delete_refusing_levels_count() {
        let example: serde_json::Value = serde_json::from_str(include_str!(
            "../../../shared/azure-rest-examples/Microsoft.Authorization/2020-05-01/ManagementLocks_ListAtResourceGroupLevel.json"
        ))
        .expect("example JSON");
        let locks: Vec<ManagementLock> =
            serde_json::from_value(example["responses"]["200"]["body"]["value"].clone())
                .expect("a list of locks");
        assert_eq!(locks.len(), 1);
        assert_eq!(locks[0].name, "testlock");
        assert!(locks[0].blocks_delete(), "ReadOnly refuses deletes too");
        let unspecified = ManagementLock {
            properties: LockProperties {
                level: "NotSpecified".into(),
                notes: None,
            },
            ..Default::default()
        };
        assert!(!unspecified.blocks_delete());
        assert_eq!(
            operator_lock_id("/subscriptions/s/resourceGroups/g/providers/Microsoft.OperationalInsights/workspaces/w")
                .expect("a lock id"),
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.OperationalInsights/workspaces/w/providers/Microsoft.Authorization/locks/hipaa-operator-delete-lock"
        );
        // A scope that is not a clean ARM id gives no lock id at all.
        for bad in [
            "/subscriptions/s/resourceGroups/g/providers/X/w?api-version=1&x=",
            "/subscriptions/s/resourceGroups/g/providers/X/w#frag",
            "/subscriptions/s/resourceGroups/g/providers/X/w/",
            "/subscriptions/s/../other",
            "relative/id",
        ] {
            assert!(operator_lock_id(bad).is_err(), "{bad}");
        }
    }
}
