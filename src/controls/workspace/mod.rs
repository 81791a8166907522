//! The shared safeguards of a `HipaaWorkspace`: its Key Vault (`kv.*` vault controls), its
//! Log Analytics workspace (`law.*`) and its immutable audit archive
//! (`storage.immutable-audit-archive`). Evaluation and planning, pure.

mod evaluate;
mod model;
mod remediate;

pub use evaluate::{NOT_YET_EVALUATED, evaluate};
pub use model::{
    ArchiveExpectations, Reaching, SIX_YEARS_DAYS, WorkspaceExpectations, WorkspaceObservation,
};
pub use remediate::plan;

use crate::azure::resources::api_version;
use crate::azure::types::ArmOp;
use crate::controls::setting::{Absent, Lit, Setting};

pub use super::keyvault::PATCH_VAULT;
pub const PATCH_LOG_ANALYTICS: ArmOp = ArmOp::new(
    "Workspaces_Update",
    "Microsoft.OperationalInsights",
    api_version::LOG_ANALYTICS,
);
pub const GET_TABLE: ArmOp = ArmOp::new(
    "Tables_Get",
    "Microsoft.OperationalInsights",
    api_version::LOG_ANALYTICS,
);
pub const PUT_TABLE: ArmOp = ArmOp::new(
    "Tables_CreateOrUpdate",
    "Microsoft.OperationalInsights",
    api_version::LOG_ANALYTICS,
);
pub const GET_CONTAINER: ArmOp = ArmOp::new(
    "BlobContainers_Get",
    "Microsoft.Storage",
    crate::azure::storage::API_VERSION,
);
pub const PUT_CONTAINER: ArmOp = ArmOp::new(
    "BlobContainers_Create",
    "Microsoft.Storage",
    crate::azure::storage::API_VERSION,
);
pub const GET_IMMUTABILITY: ArmOp = ArmOp::new(
    "BlobContainers_GetImmutabilityPolicy",
    "Microsoft.Storage",
    crate::azure::storage::API_VERSION,
);
pub const PUT_IMMUTABILITY: ArmOp = ArmOp::new(
    "BlobContainers_CreateOrUpdateImmutabilityPolicy",
    "Microsoft.Storage",
    crate::azure::storage::API_VERSION,
);
pub const LOCK_IMMUTABILITY: ArmOp = ArmOp::new(
    "BlobContainers_LockImmutabilityPolicy",
    "Microsoft.Storage",
    crate::azure::storage::API_VERSION,
);

/// `DataExports_ListByWorkspace` and `DataExports_CreateOrUpdate` (`law.immutable-export`).
pub const LIST_DATA_EXPORTS: ArmOp = ArmOp::new(
    "DataExports_ListByWorkspace",
    "Microsoft.OperationalInsights",
    api_version::LOG_ANALYTICS,
);
pub const PUT_DATA_EXPORT: ArmOp = ArmOp::new(
    "DataExports_CreateOrUpdate",
    "Microsoft.OperationalInsights",
    api_version::LOG_ANALYTICS,
);
/// The name of the data export the operator keeps.
pub const OPERATOR_EXPORT: &str = "hipaa-audit-export";

/// The Log Analytics workspace's controls that one property decides, declared once for
/// evaluation and PATCH (the PATCH carries the other `features` unchanged).
pub const LOG_ANALYTICS_SETTINGS: &[Setting] = &[
    Setting::new(
        "law.local-auth-disabled",
        "properties.features.disableLocalAuth",
        &[Lit::Bool(true)],
    )
    .absent(Absent::Means(Lit::Bool(false)))
    .named(),
    Setting::new(
        "law.no-immediate-purge",
        "properties.features.immediatePurgeDataOn30Days",
        &[Lit::Bool(false)],
    )
    .absent(Absent::Means(Lit::Bool(false)))
    .named(),
];

/// The action that purges Log Analytics data irreversibly (`law.purge-restricted`).
pub const PURGE_ACTION: &str = "Microsoft.OperationalInsights/workspaces/purge/action";

/// Tables whose total retention must reach six years when the workspace names none.
pub const DEFAULT_AUDIT_TABLES: &[&str] = &[
    "AzureDiagnostics",
    "StorageBlobLogs",
    "AzureActivity",
    "LAQueryLogs",
];

#[cfg(test)]
pub(crate) mod tests;
