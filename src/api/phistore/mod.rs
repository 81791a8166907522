//! `PhiStore`: one existing Azure resource that holds PHI, governed by a workspace.

// clippy reads the repeated `printcolumn(type_ = ...)` arguments of `#[kube]` as duplicated
// attributes; they are separate columns.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::cel::{Message, Rule};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{LocalObjectRef, Mode};
use super::rules;
use crate::catalog;

mod kind;
mod status;

pub use kind::ResourceKind;
use kind::{kind_matches_id_rule, private_endpoint_groups_rule};
pub use status::{CycleRef, DriftBaseline, PhiStoreStatus, PlannedChange, RunningOperation};

/// One existing Azure resource that holds PHI: which resource, which workspace governs it,
/// per-store settings, approved exemptions, and what happens to the safeguards the operator
/// created when the PhiStore is deleted. The operator never creates or deletes the resource.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "hipaa-operator.io",
    version = "v1alpha1",
    kind = "PhiStore",
    namespaced,
    doc = "An existing Azure resource that holds PHI, governed by a HipaaWorkspace: evaluated against every control of the HIPAA catalog for its kind and, in Enforce mode, remediated.",
    status = "PhiStoreStatus",
    validation = Rule::new("self.metadata.name.size() <= 63").message(Message::Message("metadata.name must be at most 63 characters: the operator labels each access-review cycle with its store's name, and a label value holds 63".into())),
    shortname = "phi",
    category = "hipaa",
    printcolumn(name = "Kind", type_ = "string", json_path = ".spec.resource.kind"),
    printcolumn(
        name = "Mode",
        type_ = "string",
        json_path = ".status.mode",
        description = "Effective mode: the workspace's, or stricter"
    ),
    printcolumn(
        name = "Compliant",
        type_ = "string",
        json_path = ".status.compliance",
        description = "Compliant controls of all evaluated controls"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = private_endpoint_groups_rule())]
#[x_kube(validation = exemption_kind_rule())]
pub struct PhiStoreSpec {
    /// The HipaaWorkspace that governs this store, by name, in the same namespace.
    pub workspace_ref: LocalObjectRef,

    /// The Azure resource that holds PHI. Immutable: create a new PhiStore for another resource.
    #[x_kube(validation = rules::immutable("resource", "create a new PhiStore to govern another resource"))]
    pub resource: AzureResourceRef,

    /// Override the workspace's mode. A store may only be stricter than its workspace: `Enforce`
    /// under an `Audit` workspace is honoured; `Audit` under an `Enforce` workspace is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,

    /// The private endpoint the operator keeps for the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_endpoint: Option<PrivateEndpointSettings>,

    /// The customer-managed key of the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionSettings>,

    /// The diagnostic setting the operator owns on the store (audit logs to the workspace's
    /// Log Analytics workspace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<DiagnosticsSettings>,

    /// Organisation values that the catalog leaves to a profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<StoreProfile>,

    /// Approved exemptions, one per control id. An exempted control reports `Exempt` until its
    /// expiry, then is enforced again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["control".into()]))]
    pub exemptions: Vec<Exemption>,

    /// What happens to the safeguards the operator created (private endpoint, diagnostic
    /// setting) when this PhiStore is deleted: `Retain` (default) leaves them, `Delete` removes
    /// them. The Azure resource itself, its data and its keys are never deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// IPv4 ranges that are not on the public internet (RFC 1918 private, shared, loopback,
/// link-local, "this network", multicast and reserved), as a CEL list.
const RESERVED_V4: &str = "['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '224.0.0.0/3']";

/// The Azure resource a PhiStore governs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kind_matches_id_rule())]
pub struct AzureResourceRef {
    /// The resource type.
    pub kind: ResourceKind,
    /// The ARM resource ID, e.g.
    /// `/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/{name}`.
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new(format!("{} && self.matches('{}')", rules::ASCII_ONLY, rules::arm_prefix())).message(Message::Message("id must be an Azure resource ID in ASCII: /subscriptions/{subscription GUID}/resourceGroups/{group}/providers/{namespace}/{type}/{name}".into())))]
    #[x_kube(validation = Rule::new("!self.contains('/../') && !self.contains('/./') && !self.contains('//') && !self.endsWith('/')").message(Message::Message("id must not contain empty, '.' or '..' segments or a trailing '/'".into())))]
    pub id: String,
}

/// The private endpoint of a store.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpointSettings {
    /// Keep a private endpoint in the workspace's subnet (default true). When false the
    /// private-endpoint control reports `NotApplicable` only if an exemption covers it.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The sub-resources to reach privately (default: `blob` for storage accounts, `sqlServer`,
    /// `Sql` for Cosmos DB, `vault`, `healthcareworkspace` for Health Data Services).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 12), inner(length(min = 1, max = 32)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub group_ids: Vec<String>,
}

fn default_true() -> bool {
    true
}

/// The customer-managed key of a store.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionSettings {
    /// Name of the key in the workspace's Key Vault (default: the PhiStore's namespace and
    /// name). Created if missing, with the workspace's rotation policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 127))]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9-]+$')").message(Message::Message("keyName must be a Key Vault key name: letters, digits and '-'".into())))]
    pub key_name: Option<String>,
    /// ARM id of a user-assigned managed identity the resource uses to reach the key. Default:
    /// the resource's system-assigned identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = rules::resource_id("userAssignedIdentityId", "Microsoft\\\\.ManagedIdentity/userAssignedIdentities/[a-zA-Z0-9][-a-zA-Z0-9_]{2,127}", "Microsoft.ManagedIdentity/userAssignedIdentities/{name}"))]
    pub user_assigned_identity_id: Option<String>,
}

/// The diagnostic setting of a store.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticsSettings {
    /// Category groups to send (default `audit`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2))]
    pub category_groups: Vec<CategoryGroup>,
    /// Individual log categories to send in addition, e.g. `StorageRead`, `AuditEvent`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 64)))]
    #[x_kube(validation = Rule::new("self.all(c, c.matches('^[A-Za-z][A-Za-z0-9]*$'))").message(Message::Message("categories must be diagnostic log category names such as StorageRead".into())))]
    pub categories: Vec<String>,
    /// Storage services whose logs are collected (default `blob`; add every service in use).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4))]
    pub services: Vec<StorageService>,
}

/// A diagnostic category group.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum CategoryGroup {
    #[serde(rename = "audit")]
    Audit,
    #[serde(rename = "allLogs")]
    AllLogs,
}

impl CategoryGroup {
    /// The name Azure uses.
    pub fn as_str(self) -> &'static str {
        match self {
            CategoryGroup::Audit => "audit",
            CategoryGroup::AllLogs => "allLogs",
        }
    }
}

/// A storage account service with its own diagnostic settings.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum StorageService {
    #[serde(rename = "blob")]
    Blob,
    #[serde(rename = "file")]
    File,
    #[serde(rename = "queue")]
    Queue,
    #[serde(rename = "table")]
    Table,
}

impl StorageService {
    /// The name Azure uses (`{service}Services/default`).
    pub fn as_str(self) -> &'static str {
        match self {
            StorageService::Blob => "blob",
            StorageService::File => "file",
            StorageService::Queue => "queue",
            StorageService::Table => "table",
        }
    }
}

/// Organisation values the catalog leaves to a profile.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreProfile {
    /// Which trusted Azure services may bypass the network rules (`storage.network-bypass`):
    /// `AzureServices` (default, needed by Backup and diagnostics) or `None`.
    #[serde(default)]
    pub network_bypass: NetworkBypass,
    /// Minimum soft-delete retention in days for blobs and containers, 1 to 365 (default 14).
    #[serde(default = "default_soft_delete_days")]
    #[schemars(range(min = 1, max = 365))]
    pub soft_delete_retention_days: i32,
    /// Public IPv4 addresses or ranges (`/16` to `/30`) allowed through the firewall. Empty means
    /// none. Azure Storage refuses private and reserved ranges and `/31`-`/32` (give the single
    /// address instead); a range wider than `/16` defeats the firewall.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 7, max = 43)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    #[x_kube(validation = Rule::new(format!("self.all(r, (isIP(r) || isCIDR(r)) && r.matches('^[0-9.]+(/[0-9]+)?$') && (isIP(r) ? !{RESERVED_V4}.exists(p, cidr(p).containsIP(r)) : (cidr(r).prefixLength() >= 16 && cidr(r).prefixLength() <= 30 && !{RESERVED_V4}.exists(p, cidr(p).containsCIDR(r) || cidr(r).containsCIDR(p)))))")).message(Message::Message("allowedIpRanges must be public IPv4 addresses such as 203.0.113.7 or ranges from /16 to /30 such as 203.0.113.0/24: Azure Storage refuses private and reserved ranges and /31-/32 (give the single address), and a wider range such as 0.0.0.0/0 defeats the firewall".into())))]
    pub allowed_ip_ranges: Vec<String>,
}

fn default_soft_delete_days() -> i32 {
    14
}

/// Trusted-services bypass of a resource firewall.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum NetworkBypass {
    #[default]
    AzureServices,
    None,
}

/// What happens to the safeguards the operator created when a PhiStore is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Leave the private endpoint and diagnostic setting in place (default).
    #[default]
    Retain,
    /// Remove the private endpoint and diagnostic setting the operator created. Never the
    /// resource, its data or its keys.
    Delete,
}

/// An approved exemption from one control.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Exemption {
    /// The control id from the catalog, e.g. `storage.geo-redundant`.
    #[schemars(length(min = 3, max = 64))]
    #[x_kube(validation = known_control_rule())]
    pub control: String,
    /// Why the control does not apply or is accepted as a risk.
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = rules::not_blank("reason"))]
    pub reason: String,
    /// Who approved the exemption (name or e-mail address).
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = rules::not_blank("approver"))]
    pub approver: String,
    /// When the exemption ends (RFC 3339). After it the control is enforced again.
    pub expires: Time,
    /// A change or risk ticket for the exemption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub ticket: Option<String>,
}

/// The rule that a store exempts only controls of its own kind (or the cross-cutting `common.*`
/// and `access.*`): an exemption of another kind's control would exempt nothing and read as if
/// it did.
fn exemption_kind_rule() -> Rule {
    let map = ResourceKind::ALL
        .iter()
        .map(|k| format!("'{}': '{}'", k.as_str(), k.control_prefix()))
        .collect::<Vec<_>>()
        .join(", ");
    Rule::new(format!(
        "!has(self.exemptions) || self.exemptions.all(e, e.control.startsWith('common.') || e.control.startsWith('access.') || e.control.startsWith({{{map}}}[self.resource.kind]))"
    ))
    .message(Message::Expression(format!(
        "'exemptions may name only controls that apply to a ' + self.resource.kind + ': ' + {{{map}}}[self.resource.kind] + '*, common.* or access.*; an exemption of another kind exempts nothing'"
    )))
    .field_path(".exemptions")
}

fn known_control_rule() -> Rule {
    let ids = catalog::ids()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(", ");
    Rule::new(format!("self in [{ids}]")).message(Message::Expression(
        "'control ' + self + ' is not a control id of the HIPAA control catalog; ids look like storage.min-tls-1-2'".into(),
    ))
}
