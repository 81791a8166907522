//! `PhiStore`: one existing Azure resource that holds PHI, governed by a workspace.

// clippy reads the repeated `printcolumn(type_ = ...)` arguments of `#[kube]` as duplicated
// attributes; they are separate columns.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::cel::{Message, Rule};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ControlStatus, LocalObjectRef, Mode};
use super::rules;
use super::status::{Conditions, conditions_merge, controls_merge};
use crate::catalog;

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

/// The kinds of Azure resources a PhiStore can govern.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ResourceKind {
    /// `Microsoft.Storage/storageAccounts`
    StorageAccount,
    /// `Microsoft.Sql/servers`
    SqlServer,
    /// `Microsoft.DocumentDB/databaseAccounts`
    CosmosDbAccount,
    /// `Microsoft.KeyVault/vaults` (secrets holding PHI)
    KeyVault,
    /// `Microsoft.HealthcareApis/workspaces`
    HealthDataWorkspace,
    /// `Microsoft.HealthcareApis/workspaces/fhirservices`
    FhirService,
    /// `Microsoft.HealthcareApis/workspaces/dicomservices`
    DicomService,
}

impl ResourceKind {
    /// Every kind, in the order of the enum.
    pub const ALL: [ResourceKind; 7] = [
        ResourceKind::StorageAccount,
        ResourceKind::SqlServer,
        ResourceKind::CosmosDbAccount,
        ResourceKind::KeyVault,
        ResourceKind::HealthDataWorkspace,
        ResourceKind::FhirService,
        ResourceKind::DicomService,
    ];

    /// The prefix of the catalog ids of this kind's own controls.
    pub fn control_prefix(self) -> &'static str {
        match self {
            ResourceKind::StorageAccount => "storage.",
            ResourceKind::SqlServer => "sql.",
            ResourceKind::CosmosDbAccount => "cosmos.",
            ResourceKind::KeyVault => "kv.",
            ResourceKind::HealthDataWorkspace => "ahds.",
            ResourceKind::FhirService => "fhir.",
            ResourceKind::DicomService => "dicom.",
        }
    }

    /// The name used in the API (`spec.resource.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::StorageAccount => "StorageAccount",
            ResourceKind::SqlServer => "SqlServer",
            ResourceKind::CosmosDbAccount => "CosmosDbAccount",
            ResourceKind::KeyVault => "KeyVault",
            ResourceKind::HealthDataWorkspace => "HealthDataWorkspace",
            ResourceKind::FhirService => "FhirService",
            ResourceKind::DicomService => "DicomService",
        }
    }

    /// The ARM type path after `/providers/`, with the resource name rules of the type, as an
    /// RE2 expression (escaped for a CEL string literal).
    fn id_pattern(self) -> &'static str {
        match self {
            ResourceKind::StorageAccount => "Microsoft\\\\.Storage/storageAccounts/[a-z0-9]{3,24}",
            ResourceKind::SqlServer => "Microsoft\\\\.Sql/servers/[a-z0-9][-a-z0-9]{0,61}[a-z0-9]",
            ResourceKind::CosmosDbAccount => {
                "Microsoft\\\\.DocumentDB/databaseAccounts/[a-z0-9][-a-z0-9]{1,42}[a-z0-9]"
            }
            ResourceKind::KeyVault => {
                "Microsoft\\\\.KeyVault/vaults/[a-zA-Z][-a-zA-Z0-9]{1,22}[a-zA-Z0-9]"
            }
            ResourceKind::HealthDataWorkspace => {
                "Microsoft\\\\.HealthcareApis/workspaces/[a-zA-Z0-9]{3,24}"
            }
            ResourceKind::FhirService => {
                "Microsoft\\\\.HealthcareApis/workspaces/[a-zA-Z0-9]{3,24}/fhirservices/[a-zA-Z0-9][-a-zA-Z0-9]{1,22}[a-zA-Z0-9]"
            }
            ResourceKind::DicomService => {
                "Microsoft\\\\.HealthcareApis/workspaces/[a-zA-Z0-9]{3,24}/dicomservices/[a-zA-Z0-9][-a-zA-Z0-9]{1,22}[a-zA-Z0-9]"
            }
        }
    }

    /// The ARM type a person should write, for messages.
    pub fn arm_type(self) -> &'static str {
        match self {
            ResourceKind::StorageAccount => "Microsoft.Storage/storageAccounts/{name}",
            ResourceKind::SqlServer => "Microsoft.Sql/servers/{name}",
            ResourceKind::CosmosDbAccount => "Microsoft.DocumentDB/databaseAccounts/{name}",
            ResourceKind::KeyVault => "Microsoft.KeyVault/vaults/{name}",
            ResourceKind::HealthDataWorkspace => "Microsoft.HealthcareApis/workspaces/{name}",
            ResourceKind::FhirService => {
                "Microsoft.HealthcareApis/workspaces/{workspace}/fhirservices/{name}"
            }
            ResourceKind::DicomService => {
                "Microsoft.HealthcareApis/workspaces/{workspace}/dicomservices/{name}"
            }
        }
    }

    /// Private-endpoint group ids (sub-resources) the resource type offers.
    pub fn private_endpoint_groups(self) -> &'static [&'static str] {
        match self {
            ResourceKind::StorageAccount => &[
                "blob",
                "blob_secondary",
                "dfs",
                "dfs_secondary",
                "file",
                "file_secondary",
                "queue",
                "queue_secondary",
                "table",
                "table_secondary",
                "web",
                "web_secondary",
            ],
            ResourceKind::SqlServer => &["sqlServer"],
            ResourceKind::CosmosDbAccount => &[
                "Sql",
                "SqlDedicated",
                "MongoDB",
                "Cassandra",
                "Gremlin",
                "Table",
                "Analytical",
            ],
            ResourceKind::KeyVault => &["vault"],
            ResourceKind::HealthDataWorkspace
            | ResourceKind::FhirService
            | ResourceKind::DicomService => &["healthcareworkspace"],
        }
    }

    /// The group id used when the spec names none.
    pub fn default_private_endpoint_group(self) -> &'static str {
        self.private_endpoint_groups()[0]
    }
}

/// A CEL expression choosing a constant string by the kind at `kind_path` (constant strings
/// keep the API server's cost estimate of a message expression small).
fn choose_by_kind(kind_path: &str, text: impl Fn(ResourceKind) -> String) -> String {
    ResourceKind::ALL
        .iter()
        .rev()
        .fold(String::from("''"), |rest, kind| {
            format!(
                "{kind_path} == '{}' ? '{}' : ({rest})",
                kind.as_str(),
                text(*kind)
            )
        })
}

/// The rule that pairs `resource.kind` with the shape of `resource.id`.
fn kind_matches_id_rule() -> Rule {
    let mut expr = String::from("false");
    for kind in ResourceKind::ALL.iter().rev() {
        expr = format!(
            "self.kind == '{}' ? (self.id.matches('^[!-~]+$') && self.id.matches('{}{}$')) : ({expr})",
            kind.as_str(),
            rules::arm_prefix(),
            kind.id_pattern()
        );
    }
    let examples = choose_by_kind("self.kind", |k| k.arm_type().to_string());
    Rule::new(expr)
        .message(Message::Expression(format!(
            "'id must be the Azure resource ID of a ' + self.kind + ': /subscriptions/{{subscription}}/resourceGroups/{{group}}/providers/' + ({examples})"
        )))
        .field_path(".id")
}

/// The rule that only lets a store ask for private-endpoint group ids its resource type offers.
fn private_endpoint_groups_rule() -> Rule {
    let map = ResourceKind::ALL
        .iter()
        .map(|k| {
            let groups = k
                .private_endpoint_groups()
                .iter()
                .map(|g| format!("'{g}'"))
                .collect::<Vec<_>>()
                .join(", ");
            format!("'{}': [{groups}]", k.as_str())
        })
        .collect::<Vec<_>>()
        .join(", ");
    Rule::new(format!(
        "!has(self.privateEndpoint) || self.privateEndpoint.groupIds.all(g, g in {{{map}}}[self.resource.kind])"
    ))
    .message(Message::Expression(format!(
        "'privateEndpoint.groupIds must be private-link sub-resources of a ' + self.resource.kind + ': ' + ({})",
        choose_by_kind("self.resource.kind", |k| k.private_endpoint_groups().join(", "))
    )))
    .field_path(".privateEndpoint.groupIds")
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

/// What the operator observed and decided about the store.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhiStoreStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The effective mode: the workspace's, or the store's when stricter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// `Ready` and one condition per safeguard family.
    #[serde(default)]
    #[schemars(schema_with = "conditions_merge")]
    pub conditions: Conditions,
    /// One entry per control: the evidence trail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "controls_merge")]
    pub controls: Vec<ControlStatus>,
    /// Compliant (or remediated) controls of the controls judged, with the exempt and not
    /// applicable ones counted apart, e.g. `19/20 (2 exempt, 4 n/a)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<String>,
    /// What the last settled pass saw, so that a restarted operator resumes batched drift
    /// detection without reading every store again. Maintained by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_baseline: Option<DriftBaseline>,
    /// The review cycles of this store that the operator opened (or mirrored from Azure's own
    /// access reviews), by name and uid. Only these count as the store's cycles and only their
    /// decisions are acted on: an AccessReview written by anyone else is ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub review_cycles: Vec<CycleRef>,
    /// The writes the operator would make and does not: in `Audit`, what `Enforce` would change
    /// to fix the drifted, remediable, non-exempt controls; in `Enforce`, the changes a grant
    /// holds back (irreversible ones without `allowIrreversible`). Review them before switching
    /// the mode. At most 32 entries; the last says how many more there are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub planned_changes: Vec<PlannedChange>,
    /// Writes Azure accepted and is still working on (long-running operations), polled on
    /// later passes, after a restart too. While one runs the operator writes nothing else to
    /// the store's resources. Maintained by the operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub operations: Vec<RunningOperation>,
}

/// A write Azure accepted and is still working on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunningOperation {
    /// The operation that started it, e.g. `PrivateEndpoints_CreateOrUpdate`.
    pub operation: String,
    /// The Azure resource it writes (an ARM id).
    pub resource: String,
    /// When the operator started it (RFC 3339).
    pub started_at: String,
    /// Where its progress is read: Azure's operation URL, on the cloud's Resource Manager
    /// origin only (any other is never followed).
    pub poll_url: String,
    /// `AsyncOperation` (an `Azure-AsyncOperation` status), `Location` (202 until done) or
    /// `Resource` (the resource's own `provisioningState`).
    pub style: String,
    /// The controls the write fixes: `Remediated` once it ends and they are read back
    /// compliant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub remediates: Vec<String>,
}

/// One write the operator would make.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedChange {
    /// `PATCH`, `PUT`, `POST` or `DELETE`.
    pub method: String,
    /// The Azure resource written (an ARM id, or a key's id below its vault).
    pub resource: String,
    /// The property changed (`properties.minimumTlsVersion`), or what the write makes.
    pub property: String,
    /// Its value as read (`(not set)` when absent, `(not read)` when the pass does not read it).
    pub from: String,
    /// The value the write sets.
    pub to: String,
    /// Why it is not made now: `Audit` mode, or the permission a grant would have to give.
    pub held: String,
}

/// A review cycle the operator opened.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CycleRef {
    /// The AccessReview's name.
    pub name: String,
    /// The AccessReview's `metadata.uid`: a cycle deleted and written again under the same name
    /// by someone else is not this one.
    pub uid: String,
}

/// The baseline of batched drift detection for one store.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftBaseline {
    /// Fingerprint (16 hex digits) of the resource's envelope as the last settled pass read it.
    pub fingerprint: String,
    /// The workspace's `metadata.generation` that pass used.
    pub workspace_generation: i64,
    /// Fingerprint (16 hex digits) of what else the pass depended on in Kubernetes: the store's
    /// spec and review request, the workspace's spec and Key Vault controls, the mode and the
    /// store's review cycles. A restarted operator resumes from this baseline without reading
    /// Azure only when all of them are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<String>,
}
