//! The `sql.*` controls of an Azure SQL logical server, its databases and its sub-resources
//! (and its classification tag): evaluation and the plan of the fewest writes. Pure.

mod evaluate;
mod model;
mod remediate;

pub use evaluate::{NOT_YET_EVALUATED, evaluate};
pub use model::{Database, SqlExpectations, SqlObservation};
pub use remediate::plan;

use crate::azure::resources::api_version;
use crate::azure::types::ArmOp;
use crate::controls::setting::{Absent, Fix, Lit, Setting};

const fn op(name: &'static str) -> ArmOp {
    ArmOp::new(name, "Microsoft.Sql", api_version::SQL)
}
pub const PATCH_SERVER: ArmOp = op("Servers_Update");
pub const DELETE_FIREWALL_RULE: ArmOp = op("FirewallRules_Delete");
pub const PUT_TDE: ArmOp = op("TransparentDataEncryptions_CreateOrUpdate");
pub const PUT_SERVER_KEY: ArmOp = op("ServerKeys_CreateOrUpdate");
pub const PUT_PROTECTOR: ArmOp = op("EncryptionProtectors_CreateOrUpdate");
pub const PUT_AUDITING: ArmOp = op("ServerBlobAuditingPolicies_CreateOrUpdate");
pub const PUT_ENTRA_ONLY: ArmOp = op("ServerAzureADOnlyAuthentications_CreateOrUpdate");
pub const PUT_ALERTS: ArmOp = op("ServerSecurityAlertPolicies_CreateOrUpdate");
pub const PUT_LTR: ArmOp = op("LongTermRetentionPolicies_CreateOrUpdate");
pub const PUT_STR: ArmOp = op("BackupShortTermRetentionPolicies_CreateOrUpdate");
pub const PATCH_DATABASE: ArmOp = op("Databases_Update");
/// The express configuration of vulnerability assessment (`SqlVulnerabilityAssessmentsSettings.json`).
pub const GET_VA_EXPRESS: ArmOp = op("SqlVulnerabilityAssessmentsSettings_Get");
pub const PUT_VA_EXPRESS: ArmOp = op("SqlVulnerabilityAssessmentsSettings_CreateOrUpdate");
/// The classic configuration (`ServerVulnerabilityAssessments_*`), read to honour one in place.
pub const GET_VA_CLASSIC: ArmOp = op("ServerVulnerabilityAssessments_Get");

/// The server's controls that one property decides, declared once for evaluation and PATCH.
pub const SETTINGS: &[Setting] = &[
    Setting::new(
        "sql.min-tls-1-2",
        "properties.minimalTlsVersion",
        &[Lit::Str("1.2"), Lit::Str("1.3")],
    ),
    // Public access closes only once the private endpoint is in place.
    Setting::new(
        "sql.public-network-disabled",
        "properties.publicNetworkAccess",
        &[Lit::Str("Disabled")],
    )
    .absent(Absent::Means(Lit::Str("Enabled")))
    .fix(Fix::After("sql.private-endpoint")),
];

/// The audit action groups `sql.audit-action-groups` asks for.
pub const AUDIT_GROUPS: &[&str] = &[
    "SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP",
    "FAILED_DATABASE_AUTHENTICATION_GROUP",
    "BATCH_COMPLETED_GROUP",
];

#[cfg(test)]
pub(crate) mod tests;
