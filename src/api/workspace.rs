//! `HipaaWorkspace`: one compliance boundary and the shared safeguards its PHI stores rely on.

// clippy reads the repeated `printcolumn(type_ = ...)` arguments of `#[kube]` as duplicated
// attributes; they are separate columns.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ControlStatus, Mode, SecretKeyRef};
use super::rules;
use super::status::{Conditions, conditions_merge};

/// A compliance boundary: one Azure subscription and resource group, the identity the operator
/// uses there, the shared safeguards (Key Vault for customer-managed keys, Log Analytics, the
/// immutable audit archive, private networking, the HIPAA HITRUST policy initiative, access
/// reviews), the mode and the drift-check interval.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "hipaa-operator.io",
    version = "v1alpha1",
    kind = "HipaaWorkspace",
    namespaced,
    doc = "A HIPAA compliance boundary: one Azure subscription and resource group, its shared safeguards, the mode (Audit or Enforce) and the drift-check interval.",
    status = "HipaaWorkspaceStatus",
    shortname = "hws",
    category = "hipaa",
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(
        name = "Compliant",
        type_ = "string",
        json_path = ".status.compliance",
        description = "Compliant controls of all evaluated controls"
    ),
    printcolumn(
        name = "Stores",
        type_ = "string",
        json_path = ".status.stores.summary",
        description = "Ready PhiStores of all PhiStores in the workspace"
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
pub struct HipaaWorkspaceSpec {
    /// `Audit` (default) evaluates and reports, writing nothing to Azure; `Enforce` also
    /// remediates every remediable control. PhiStores inherit this mode and may only tighten it.
    #[serde(default)]
    pub mode: Mode,

    /// The Azure subscription of the boundary (a GUID). Immutable.
    #[schemars(length(min = 36, max = 36))]
    #[x_kube(validation = rules::guid("subscriptionId"))]
    #[x_kube(validation = rules::immutable("subscriptionId", "create a new HipaaWorkspace for another subscription"))]
    pub subscription_id: String,

    /// The resource group that holds the PHI stores and the safeguards the operator creates
    /// (private endpoints, policy assignment). Immutable.
    #[schemars(length(min = 1, max = 90))]
    #[x_kube(validation = Rule::new(format!("self.matches('^{}$')", rules::RESOURCE_GROUP)).message(Message::Message("resourceGroup must be an Azure resource group name: up to 90 letters, digits, '-', '_', '.', '(' or ')', not ending with '.'".into())))]
    #[x_kube(validation = rules::immutable("resourceGroup", "create a new HipaaWorkspace for another resource group"))]
    pub resource_group: String,

    /// The Azure region where the operator creates safeguards, e.g. `eastus2`. Defaults to the
    /// region of each governed resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 40))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z][a-z0-9]+$')").message(Message::Message("location must be an Azure region name such as eastus2 (lower-case letters and digits)".into())))]
    pub location: Option<String>,

    /// The Azure identity the operator uses for this workspace. Defaults to the operator's own
    /// identity (workload identity on AKS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<AzureIdentity>,

    /// How often every control is re-read from Azure to find drift made out of band, as an
    /// ISO-8601 duration (default `PT1H`). Jitter is added so stores do not all check at once.
    #[serde(default = "default_drift_interval")]
    #[schemars(length(min = 2, max = 32))]
    #[x_kube(validation = rules::duration("driftCheckInterval", "PT1H"))]
    #[x_kube(validation = rules::duration_at_most("driftCheckInterval", (86_400, "P1D"), "drift found later than a day leaves a HIPAA safeguard off too long"))]
    pub drift_check_interval: String,

    /// The Key Vault that holds the customer-managed keys of the workspace's PHI stores, and how
    /// those keys rotate.
    pub key_vault: KeyVaultSafeguard,

    /// The Log Analytics workspace that receives audit logs, and how long it keeps them.
    pub log_analytics: LogAnalyticsSafeguard,

    /// The storage container where audit evidence is archived under a time-based immutability
    /// policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_archive: Option<AuditArchive>,

    /// Where private endpoints of the workspace's PHI stores are placed and registered in DNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_networking: Option<PrivateNetworking>,

    /// The built-in HIPAA HITRUST policy initiative assignment at the resource group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_initiative: Option<PolicyInitiative>,

    /// How often access to each PHI store is reviewed, by whom, and what happens to access that
    /// appears between reviews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_review: Option<AccessReviewSettings>,

    /// The tag that marks a resource as holding PHI (`common.phi-classification-tag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification_tag: Option<ClassificationTag>,
}

fn default_drift_interval() -> String {
    "PT1H".into()
}

/// The Azure identity used for one workspace. With no `clientSecretRef`, the operator uses
/// workload identity (or managed identity) for the given client id.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureIdentity {
    /// The Microsoft Entra tenant (a GUID). Defaults to the operator's tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 36, max = 36))]
    #[x_kube(validation = rules::guid("tenantId"))]
    pub tenant_id: Option<String>,
    /// The application (client) id of the identity (a GUID). Defaults to the operator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 36, max = 36))]
    #[x_kube(validation = rules::guid("clientId"))]
    pub client_id: Option<String>,
    /// A Secret key holding a client secret for `clientId`. Never put the secret in the
    /// workspace itself. The operator must be configured to read Secrets for this to work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_ref: Option<SecretKeyRef>,
}

/// The workspace's Key Vault and the rotation of the keys it holds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyVaultSafeguard {
    /// ARM id of the vault: `/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/{name}`.
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = rules::resource_id("keyVault.resourceId", "Microsoft\\\\.KeyVault/vaults/[a-zA-Z][-a-zA-Z0-9]{1,22}[a-zA-Z0-9]", "Microsoft.KeyVault/vaults/{name}"))]
    pub resource_id: String,
    /// Key type of the customer-managed keys the operator creates.
    #[serde(default)]
    pub key_type: KeyType,
    /// RSA key size in bits: 3072 (default) or 4096. Smaller keys do not meet `kv.key-strength`.
    #[serde(default = "default_key_size")]
    #[x_kube(validation = Rule::new("self == 3072 || self == 4096").message(Message::Message("keySize must be 3072 or 4096 bits (kv.key-strength)".into())))]
    pub key_size: i32,
    /// When keys rotate and expire.
    #[serde(default)]
    pub rotation: KeyRotation,
    /// Move access policies to Azure RBAC before `kv.rbac-authorization` switches a vault (this
    /// one and every Key Vault PhiStore of the workspace). RBAC authorization ignores access
    /// policies, so without this the operator never switches a vault that has any. With it, in
    /// `Enforce`, each policy's holder is first given the built-in Key Vault role(s) that cover
    /// its permissions at the vault; the switch follows on a later pass, once every holder has
    /// its role and Azure has applied it (`--role-assignment-settle`). Policies that no role can
    /// express (compound identities, storage permissions, key release) stop the switch and are
    /// named in the control's message. The policies themselves are left in place, unused.
    #[serde(default)]
    pub migrate_access_policies: bool,
}

fn default_key_size() -> i32 {
    3072
}

/// Key type of customer-managed keys.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum KeyType {
    /// A software-protected RSA key.
    #[default]
    #[serde(rename = "RSA")]
    Rsa,
    /// An HSM-protected RSA key (Premium vaults).
    #[serde(rename = "RSA-HSM")]
    RsaHsm,
}

/// The rotation policy written on every customer-managed key, in Key Vault's duration format
/// (one unit of days, months or years: `P90D`, `P3M`, `P1Y`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = rules::shorter_lifetime("rotateAfter", "expireAfter", "rotateAfter must be shorter than expireAfter, so a new key version exists before the old one expires"))]
#[x_kube(validation = rules::shorter_lifetime("notifyBefore", "expireAfter", "notifyBefore must be shorter than expireAfter"))]
#[x_kube(validation = Rule::new(format!("!self.rotateAfter.matches('{}') || {} >= 7", rules::KEY_LIFETIME, rules::lifetime_days("self.rotateAfter"))).message(Message::Message("rotateAfter must be at least P7D: Key Vault rotates a key no sooner than 7 days after its creation".into())).field_path(".rotateAfter"))]
#[x_kube(validation = Rule::new(format!("!self.expireAfter.matches('{}') || {} >= 28", rules::KEY_LIFETIME, rules::lifetime_days("self.expireAfter"))).message(Message::Message("expireAfter must be at least P28D: Key Vault refuses a shorter key lifetime in a rotation policy".into())).field_path(".expireAfter"))]
pub struct KeyRotation {
    /// Rotate a key this long after its current version was created (default `P90D`).
    #[serde(default = "default_rotate_after")]
    #[schemars(length(min = 3, max = 7))]
    #[x_kube(validation = rules::key_lifetime("rotateAfter", "P90D"))]
    pub rotate_after: String,
    /// Each key version expires this long after creation (default `P1Y`).
    #[serde(default = "default_expire_after")]
    #[schemars(length(min = 3, max = 7))]
    #[x_kube(validation = rules::key_lifetime("expireAfter", "P1Y"))]
    pub expire_after: String,
    /// Key Vault sends a near-expiry event this long before expiry (default `P30D`).
    #[serde(default = "default_notify_before")]
    #[schemars(length(min = 3, max = 7))]
    #[x_kube(validation = rules::key_lifetime("notifyBefore", "P30D"))]
    pub notify_before: String,
}

impl Default for KeyRotation {
    fn default() -> Self {
        Self {
            rotate_after: default_rotate_after(),
            expire_after: default_expire_after(),
            notify_before: default_notify_before(),
        }
    }
}

fn default_rotate_after() -> String {
    "P90D".into()
}
fn default_expire_after() -> String {
    "P1Y".into()
}
fn default_notify_before() -> String {
    "P30D".into()
}

/// The Log Analytics workspace for audit logs and its retention.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.totalRetentionInDays >= self.retentionInDays").message(Message::Message("totalRetentionInDays must be at least retentionInDays".into())).field_path(".totalRetentionInDays"))]
pub struct LogAnalyticsSafeguard {
    /// ARM id of the workspace: `.../providers/Microsoft.OperationalInsights/workspaces/{name}`.
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = rules::resource_id("logAnalytics.resourceId", "Microsoft\\\\.OperationalInsights/workspaces/[a-zA-Z0-9][-a-zA-Z0-9]{2,61}[a-zA-Z0-9]", "Microsoft.OperationalInsights/workspaces/{name}"))]
    pub resource_id: String,
    /// Interactive (analytics) retention of the workspace in days, 30 to 730 (default 90).
    #[serde(default = "default_interactive_retention")]
    #[schemars(range(min = 30, max = 730))]
    pub retention_in_days: i32,
    /// Total retention of the audit tables in days, including long-term retention, 30 to 4383
    /// (default 2192, six years: 164.316(b)(2)(i)). Below 2192 the `law.retention-6y` control
    /// reports drift.
    #[serde(default = "default_total_retention")]
    #[schemars(range(min = 30, max = 4383))]
    pub total_retention_in_days: i32,
    /// Tables whose total retention is governed, in addition to the defaults the operator knows
    /// for each resource kind (e.g. `StorageBlobLogs`, `AzureDiagnostics`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(inner(length(min = 1, max = 63)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    #[x_kube(validation = Rule::new("self.all(t, t.matches('^[A-Za-z][A-Za-z0-9_]*$'))").message(Message::Message("auditTables entries must be Log Analytics table names (letters, digits, '_')".into())))]
    pub audit_tables: Vec<String>,
}

fn default_interactive_retention() -> i32 {
    90
}
fn default_total_retention() -> i32 {
    2192
}

/// The immutable audit archive: a container with a time-based retention policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditArchive {
    /// ARM id of the storage account: `.../providers/Microsoft.Storage/storageAccounts/{name}`.
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = rules::resource_id("auditArchive.storageAccountId", "Microsoft\\\\.Storage/storageAccounts/[a-z0-9]{3,24}", "Microsoft.Storage/storageAccounts/{name}"))]
    pub storage_account_id: String,
    /// The blob container for evidence (created if missing).
    #[serde(default = "default_archive_container")]
    #[schemars(length(min = 3, max = 63))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9](-?[a-z0-9])+$')").message(Message::Message("container must be a blob container name: 3-63 lower-case letters, digits and single hyphens".into())))]
    pub container: String,
    /// Immutability period in days since each blob's creation, 1 to 146000 (default 2192, six
    /// years). Below 2192 the `storage.immutable-audit-archive` control reports drift.
    #[serde(default = "default_total_retention")]
    #[schemars(range(min = 1, max = 146000))]
    pub retention_days: i32,
    /// Lock the immutability policy. Locking is irreversible: the operator locks only in
    /// `Enforce` mode and only when this is true; otherwise it reports an unlocked policy.
    #[serde(default)]
    pub lock: bool,
}

fn default_archive_container() -> String {
    "hipaa-audit-archive".into()
}

/// Where private endpoints go and which private DNS zones resolve them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrivateNetworking {
    /// ARM id of the subnet for private endpoints:
    /// `.../providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}`.
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = rules::resource_id("privateNetworking.subnetId", "Microsoft\\\\.Network/virtualNetworks/[a-zA-Z0-9][-a-zA-Z0-9._]{0,62}[a-zA-Z0-9_]?/subnets/[a-zA-Z0-9][-a-zA-Z0-9._]{0,78}[a-zA-Z0-9_]?", "Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}"))]
    pub subnet_id: String,
    /// ARM ids of the private DNS zones to register endpoints in, e.g.
    /// `.../providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net`.
    /// The operator picks the zone that matches each endpoint's group id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[schemars(inner(length(min = 1, max = 512)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    #[x_kube(validation = zone_ids_rule())]
    pub private_dns_zone_ids: Vec<String>,
    /// The resource group for the operator's private endpoints, in the subnet's subscription
    /// (Azure places an endpoint in its subnet's subscription and its virtual network's
    /// region). Default: the target's resource group when the subnet is in the target's
    /// subscription; otherwise (a hub-and-spoke network) the subnet's resource group. Private
    /// DNS zones may sit in a hub subscription too: the operator's identity then needs
    /// `Microsoft.Network/privateDnsZones/join/action` on them (e.g. Private DNS Zone
    /// Contributor), and the grants must cover the endpoints' group and the zones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 90))]
    #[x_kube(validation = Rule::new(format!("self.matches('^{}$')", rules::RESOURCE_GROUP)).message(Message::Message("endpointResourceGroup must be a resource group name: letters, digits, '-', '_', '.', '(' and ')', not ending in '.'".into())))]
    pub endpoint_resource_group: Option<String>,
}

fn zone_ids_rule() -> kube::core::cel::Rule {
    let single = rules::resource_id(
        "privateDnsZoneIds entries",
        "Microsoft\\\\.Network/privateDnsZones/[a-zA-Z0-9][-a-zA-Z0-9.]{0,251}[a-zA-Z0-9]",
        "Microsoft.Network/privateDnsZones/{zone}",
    );
    kube::core::cel::Rule {
        rule: format!("self.all(z, {})", single.rule.replace("self.", "z.")),
        ..single
    }
}

/// The built-in HIPAA HITRUST policy initiative (`a169a624-5599-4385-a696-c8d643089fab`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyInitiative {
    /// Assign the initiative at the workspace's resource group (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Name of the policy assignment the operator owns (default `hipaa-hitrust`).
    #[serde(default = "default_assignment_name")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9][-a-zA-Z0-9_.]*$')").message(Message::Message("assignmentName must be letters, digits, '-', '_' or '.'".into())))]
    pub assignment_name: String,
}

fn default_true() -> bool {
    true
}
fn default_assignment_name() -> String {
    "hipaa-hitrust".into()
}

/// Access reviews of every PHI store in the workspace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(format!("!self.cadence.matches('{iso}') || !self.dueAfter.matches('{iso}') || {due} <= {cadence}", iso = rules::ISO_DURATION, due = rules::iso_seconds("self.dueAfter"), cadence = rules::iso_seconds("self.cadence"))).message(Message::Message("dueAfter must not be longer than cadence: a cycle would still be open when the next one is due".into())).field_path(".dueAfter"))]
pub struct AccessReviewSettings {
    /// How often a review cycle opens for each store, as an ISO-8601 duration (default `P90D`).
    #[serde(default = "default_review_cadence")]
    #[schemars(length(min = 2, max = 32))]
    #[x_kube(validation = rules::duration("cadence", "P90D"))]
    #[x_kube(validation = rules::duration_at_most("cadence", (365 * 86_400, "P1Y"), "access to PHI is reviewed at least once a year (45 CFR 164.308(a)(3)(ii)(B), (a)(4))"))]
    pub cadence: String,
    /// How long reviewers have to decide before a cycle is overdue (default `P14D`).
    #[serde(default = "default_review_due")]
    #[schemars(length(min = 2, max = 32))]
    #[x_kube(validation = rules::duration("dueAfter", "P14D"))]
    pub due_after: String,
    /// People expected to decide (shown in each cycle).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub reviewers: Vec<Reviewer>,
    /// GitOps: Kubernetes users (a Git tool's ServiceAccount, e.g.
    /// `system:serviceaccount:argocd:argocd-application-controller`) allowed to apply decisions
    /// from Git on the reviewers' behalf. Empty (the default): each reviewer records their own
    /// decisions and the API server authenticates them. Each cycle records this list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[schemars(inner(length(min = 1, max = 256)))]
    pub decisions_applied_by: Vec<String>,
    /// Principal object ids (GUIDs) of break-glass accounts: flagged in reviews, never removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(inner(length(min = 36, max = 36)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    #[x_kube(validation = Rule::new(format!("self.all(p, p.matches('^{}$'))", rules::GUID)).message(Message::Message("breakGlassPrincipalIds entries must be GUIDs (Entra object ids)".into())))]
    #[x_kube(validation = Rule::new("self.all(p, self.filter(q, q.lowerAscii() == p.lowerAscii()).size() == 1)").message(Message::Message("breakGlassPrincipalIds lists a principal twice (GUIDs are case-insensitive)".into())))]
    pub break_glass_principal_ids: Vec<String>,
    /// What to do with a role assignment that appears between reviews: `Report` (default) or
    /// `Remove` (Enforce mode only).
    #[serde(default)]
    pub unreviewed_access: UnreviewedAccess,
    /// Also keep an Azure-native access review schedule definition for each store.
    #[serde(default)]
    pub azure_native: bool,
    /// Completed AccessReview objects kept per store, after their evidence is archived
    /// (default 8, at least 1).
    #[serde(default = "default_retain_completed")]
    #[schemars(range(min = 1, max = 100))]
    pub retain_completed: i32,
}

fn default_review_cadence() -> String {
    "P90D".into()
}
fn default_review_due() -> String {
    "P14D".into()
}
fn default_retain_completed() -> i32 {
    8
}

/// A person who reviews access.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reviewer {
    /// The reviewer's Kubernetes user name, as the API server authenticates them (for OIDC
    /// usually the e-mail address). With the chart's trust admission policy only this user may
    /// record a decision naming it as reviewer.
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = rules::not_blank("reviewers[].name"))]
    pub name: String,
    /// The reviewer's Entra object id, when reviews are also kept in Azure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 36, max = 36))]
    #[x_kube(validation = rules::guid("principalId"))]
    pub principal_id: Option<String>,
}

/// What happens to access that appears between two reviews.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum UnreviewedAccess {
    /// Report it on the store (`access.unreviewed-assignment`).
    #[default]
    Report,
    /// Remove it in Enforce mode (break-glass principals excepted).
    Remove,
}

/// The tag that classifies PHI-bearing resources.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassificationTag {
    /// Tag name (default `data-classification`).
    #[serde(default = "default_tag_name")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new("!self.matches('[<>%&?/\\\\\\\\]')").message(Message::Message("tag name must not contain < > % & ? / or a backslash".into())))]
    pub name: String,
    /// Tag value (default `phi`).
    #[serde(default = "default_tag_value")]
    #[schemars(length(min = 1, max = 256))]
    pub value: String,
}

fn default_tag_name() -> String {
    "data-classification".into()
}
fn default_tag_value() -> String {
    "phi".into()
}

/// What the operator observed and decided about the workspace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HipaaWorkspaceStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, the safeguard families (`EncryptedAtRest`, `AuditLogging`, `PolicyAssigned`, …).
    #[serde(default)]
    #[schemars(schema_with = "conditions_merge")]
    pub conditions: Conditions,
    /// One entry per workspace-level control (`kv.*`, `law.*`, archive, policy): the evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::status::controls_merge")]
    pub controls: Vec<ControlStatus>,
    /// Compliant (or remediated) controls of the controls judged, with the exempt and not
    /// applicable ones counted apart, e.g. `11/13 (1 n/a)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<String>,
    /// The workspace's PhiStores by state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stores: Option<StoreCounts>,
    /// The HIPAA HITRUST initiative assignment and its latest compliance summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicySummary>,
    /// The writes the operator would make and does not: in `Audit`, what `Enforce` would
    /// change; in `Enforce`, what a grant holds back (purge protection, an irreversible change,
    /// without `allowIrreversible`). At most 32 entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub planned_changes: Vec<crate::api::phistore::PlannedChange>,
}

/// The policy initiative as assigned, and what Azure Policy last reported for it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicySummary {
    /// ARM id of the assignment.
    pub assignment_id: String,
    /// Resources Azure Policy found non-compliant with the initiative; absent until evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_compliant_resources: Option<i64>,
    /// Policies of the initiative with at least one non-compliant resource; absent until
    /// evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_compliant_policies: Option<i64>,
}

/// How many of the workspace's PhiStores are in each state, and which are not ready.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreCounts {
    /// All PhiStores that reference this workspace.
    pub total: i32,
    /// Stores whose `Ready` condition is True.
    pub ready: i32,
    /// Stores with at least one drifted control.
    pub drifted: i32,
    /// Stores whose last reconcile failed.
    pub erroring: i32,
    /// Ready of total, e.g. `4/5`, for the printer column.
    pub summary: String,
    /// Names of the stores that are not ready; empty when all are.
    // Written even when empty: a write that left it out would leave the last list in place (a
    // merge patch keeps what it omits, and a server-side apply keeps what another manager's
    // patch set).
    #[serde(default)]
    pub not_ready: Vec<String>,
}
