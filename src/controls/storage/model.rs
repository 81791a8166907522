//! What a storage account is expected to be (from the workspace and the PhiStore spec) and
//! what was read from Azure for it: the inputs of the evaluator and the planner.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;

use crate::azure::insights::DiagnosticSetting;
use crate::azure::keyvault::RotationPolicy;
use crate::azure::storage::{BlobServiceProperties, FileServiceProperties, StorageAccount};

/// The customer-managed key a store must use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedKey {
    /// `https://{vault}.vault.azure.net/` (compared without trailing slash, case-insensitively).
    pub vault_uri: String,
    /// ARM id of the vault (role assignments on the key live below it).
    pub vault_id: String,
    pub key_name: String,
    /// ARM id of a user-assigned identity to reach the key; `None` for the system identity.
    pub user_assigned_identity: Option<String>,
    /// The workspace's rotation cadence in days.
    pub rotate_after_days: i64,
    /// The rotation policy the key must carry (from the workspace's cadence).
    pub rotation_policy: RotationPolicy,
}

/// What the workspace and the PhiStore spec expect of a storage account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageExpectations {
    pub network_bypass: String,
    pub allowed_ip_ranges: Vec<String>,
    /// Private-endpoint sub-resources that must have an Approved connection.
    pub private_endpoint_groups: Vec<String>,
    /// The private DNS zones those endpoints must be registered in.
    pub endpoint_dns: crate::controls::common::EndpointDns,
    pub key: ExpectedKey,
    pub soft_delete_days: i64,
    /// The Log Analytics workspace that must receive the audit logs.
    pub log_analytics_workspace_id: String,
    /// Storage services whose audit logs must be collected (`blob`, `file`, …).
    pub diagnostic_services: Vec<String>,
    pub category_groups: Vec<String>,
    pub categories: Vec<String>,
    pub classification_tag: (String, String),
    /// The store declares Azure Files shares (the `file` service or private-endpoint group):
    /// the file-service controls apply.
    pub file_shares: bool,
}

/// What was read from Azure for one storage account.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageObservation {
    pub account: StorageAccount,
    /// `blobServices/default` properties, when read.
    pub blob_service: Option<BlobServiceProperties>,
    /// `fileServices/default` properties, read only for stores that declare file shares.
    pub file_service: Option<FileServiceProperties>,
    /// Diagnostic settings on each service sub-resource, by service (`blob`, `file`, …).
    pub diagnostics: BTreeMap<String, Vec<DiagnosticSetting>>,
    /// The latest enabled version of the expected key in the vault, when read.
    pub latest_key_version: Option<String>,
    /// That version as Key Vault returned it (type, modulus, attributes), when read.
    pub key_bundle: Option<crate::azure::keyvault::KeyBundle>,
    /// Principals that can wrap and unwrap with the expected key (role assignments at its
    /// scope or above), when read; `None` when the key does not exist yet.
    pub key_access: Option<Vec<String>>,
    /// The expected key's rotation policy, when the key exists and has one.
    pub key_rotation_policy: Option<RotationPolicy>,
    /// The group ids of the private endpoints connected to the account, by endpoint id,
    /// when read (the account lists connections, not their group ids).
    pub endpoints: crate::controls::common::SeenEndpoints,
    pub now: Timestamp,
}
