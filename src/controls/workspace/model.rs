//! What the workspace spec expects of its shared safeguards (the vault, Log Analytics, the
//! audit archive), what was read for them, and the readers of those ARM bodies.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::azure::authorization::RoleDefinition;
use crate::azure::insights::{DesiredDiagnosticSetting, DiagnosticSetting};
use crate::azure::locks::ManagementLock;
use crate::azure::resources::ArmResource;
use crate::controls::keyvault::{VaultExpectations, VaultObservation};
use crate::controls::plan::at;

/// What the workspace spec expects of its shared safeguards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceExpectations {
    pub vault_id: String,
    pub log_analytics_id: String,
    /// Private endpoints are expected (the workspace names a subnet).
    pub private_networking: bool,
    /// The private DNS zones the vault's endpoint must be registered in.
    pub vault_endpoint_dns: crate::controls::common::EndpointDns,
    pub retention_in_days: i64,
    pub total_retention_in_days: i64,
    pub audit_tables: Vec<String>,
    /// Principals allowed to hold purge rights.
    pub break_glass: Vec<String>,
    pub archive: Option<ArchiveExpectations>,
    /// `spec.keyVault.migrateAccessPolicies`.
    pub migrate_access_policies: bool,
    /// The Defender for Key Vault plan of the vault's subscription (`kv.defender`).
    pub vault_defender: Option<crate::controls::defender::DefenderExpectations>,
}

/// The immutable audit archive the spec names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveExpectations {
    pub account_id: String,
    pub container: String,
    pub retention_days: i64,
    /// Lock the policy (irreversible) when the mode is Enforce: the spec asks for it and a
    /// grant allows irreversible changes.
    pub lock: bool,
    /// The spec asks for the lock but no grant allows irreversible changes.
    pub lock_not_granted: bool,
}

/// Six years in days (2192, leap days included): 45 CFR 164.316(b)(2)(i)'s retention, the floor
/// of `law.retention-6y` and `storage.immutable-audit-archive`. A spec may raise it, never lower
/// it.
pub const SIX_YEARS_DAYS: i64 = 2192;

impl WorkspaceExpectations {
    /// The audit tables' total retention the control requires: the spec's, never below the
    /// HIPAA floor.
    pub fn total_retention(&self) -> i64 {
        self.total_retention_in_days.max(SIX_YEARS_DAYS)
    }
}

impl ArchiveExpectations {
    /// The immutability period the control requires: the spec's, never below the HIPAA floor.
    pub fn required_days(&self) -> i64 {
        self.retention_days.max(SIX_YEARS_DAYS)
    }

    pub fn container_id(&self) -> String {
        format!(
            "{}/blobServices/default/containers/{}",
            self.account_id, self.container
        )
    }
    pub fn policy_id(&self) -> String {
        format!("{}/immutabilityPolicies/default", self.container_id())
    }
}

/// One role assignment that reaches the Log Analytics workspace, with its role.
#[derive(Clone, Debug, PartialEq)]
pub struct Reaching {
    pub principal_id: String,
    pub scope: String,
    pub role: RoleDefinition,
}

/// What was read for the workspace's safeguards.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkspaceObservation {
    pub vault: ArmResource,
    pub vault_diagnostics: Vec<DiagnosticSetting>,
    /// The private endpoints connected to the vault, by endpoint id.
    pub vault_endpoints: crate::controls::common::SeenEndpoints,
    /// The role assignments reaching the vault, read only while its access policies move to
    /// roles.
    pub vault_role_holders: Option<crate::controls::vault_rbac::RoleHolders>,
    pub log_analytics: ArmResource,
    pub log_analytics_diagnostics: Vec<DiagnosticSetting>,
    /// Audit tables by name; `None` when the table was not found.
    pub tables: BTreeMap<String, Option<ArmResource>>,
    /// Role assignments reaching the Log Analytics workspace; `None` when they could not be
    /// read (the message says why).
    pub log_analytics_access: Result<Vec<Reaching>, String>,
    /// The management locks that apply to the Log Analytics workspace (at it and above); an
    /// error when they could not be read (the message says why).
    pub log_analytics_locks: Result<Vec<ManagementLock>, String>,
    /// The archive container (`None`: missing), and its immutability policy (`None`: none).
    pub archive_container: Option<ArmResource>,
    pub archive_policy: Option<ArmResource>,
    /// The object id of the principal the operator acts as for this workspace; an error when
    /// it could not be learnt.
    pub operator_principal: Result<String, String>,
    /// The Log Analytics workspace's data exports; an error when they could not be read.
    pub data_exports: Result<Vec<ArmResource>, String>,
    /// The vault's Defender plan as read (when expected).
    pub vault_defender: Option<crate::controls::defender::DefenderObservation>,
}

impl WorkspaceObservation {
    pub(super) fn vault_observation(&self) -> VaultObservation {
        VaultObservation {
            vault: self.vault.clone(),
            diagnostics: self.vault_diagnostics.clone(),
            endpoints: self.vault_endpoints.clone(),
            role_holders: self.vault_role_holders.clone(),
        }
    }
}

impl WorkspaceExpectations {
    /// What the workspace expects of its vault.
    pub fn vault(&self) -> VaultExpectations {
        VaultExpectations {
            vault_id: self.vault_id.clone(),
            log_analytics_id: self.log_analytics_id.clone(),
            private_networking: self.private_networking,
            endpoint_dns: self.vault_endpoint_dns.clone(),
            classification_tag: None,
            category_groups: vec!["audit".into()],
            categories: vec![],
            migrate_access_policies: self.migrate_access_policies,
        }
    }
    pub fn query_audit(&self) -> DesiredDiagnosticSetting {
        DesiredDiagnosticSetting {
            resource_id: self.log_analytics_id.clone(),
            workspace_id: self.log_analytics_id.clone(),
            category_groups: vec!["audit".into()],
            categories: vec![],
        }
    }
}

pub(super) fn text<'a>(body: &'a Value, path: &str) -> Option<&'a str> {
    at(body, path).and_then(Value::as_str)
}
