//! `AzureScopeGrant`: which namespaces may govern which Azure scopes, with which identities, and
//! whether `Enforce` and irreversible actions are allowed there. Cluster-scoped and written only
//! by cluster admins: a namespace's own objects can never widen what it may reach.

// clippy reads the repeated `printcolumn(type_ = ...)` arguments of `#[kube]` as duplicated
// attributes; they are separate columns.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::rules;

/// Lets the HipaaWorkspaces of some namespaces govern some Azure scopes. With no grant covering a
/// workspace, the operator makes no Azure request for it or its stores and reports
/// `Ready=False`, reason `NotPermitted`. Grants add up: a workspace is served when one grant
/// covers its namespace, its resource group and its identity, and no exclusive grant of other
/// namespaces reserves what it names (`exclusive`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "hipaa-operator.io",
    version = "v1alpha1",
    kind = "AzureScopeGrant",
    doc = "An admin's grant: which namespaces may govern which Azure scopes, with which identities, and whether Enforce and irreversible actions are allowed there.",
    shortname = "asg",
    category = "hipaa",
    printcolumn(name = "Namespaces", type_ = "string", json_path = ".spec.namespaces"),
    printcolumn(name = "Scopes", type_ = "string", json_path = ".spec.scopes"),
    printcolumn(name = "Exclusive", type_ = "boolean", json_path = ".spec.exclusive"),
    printcolumn(name = "Enforce", type_ = "boolean", json_path = ".spec.allowEnforce"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("size(self.namespaces) > 0 || has(self.namespaceSelector)").message(Message::Message("name the namespaces the grant covers in namespaces or namespaceSelector".into())))]
pub struct AzureScopeGrantSpec {
    /// Namespaces the grant covers, by name.
    #[serde(default)]
    #[schemars(length(max = 256))]
    #[schemars(inner(length(min = 1, max = 63)))]
    #[x_kube(validation = Rule::new("self.all(n, n.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'))").message(Message::Message("each of namespaces must be a namespace name (lower-case letters, digits and -, at most 63 characters)".into())))]
    pub namespaces: Vec<String>,

    /// Namespaces the grant covers, by label (in addition to `namespaces`). An empty selector
    /// covers every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// The Azure scopes those namespaces may govern: a subscription
    /// (`/subscriptions/{id}`), a resource group (`/subscriptions/{id}/resourceGroups/{name}`)
    /// or a resource-id prefix below one. A workspace's resource group must lie inside one of
    /// them, and so must every resource its workspace's safeguards and stores name.
    #[schemars(length(min = 1, max = 64))]
    #[schemars(inner(length(min = 16, max = 1024)))]
    #[x_kube(validation = Rule::new(format!("self.all(s, s.matches('^/subscriptions/{}(/resourceGroups/{}(/providers/[A-Za-z0-9.]+/[-A-Za-z0-9._()/]+)?)?$'))", rules::GUID, rules::RESOURCE_GROUP)).message(Message::Message("each of scopes must be /subscriptions/{GUID}, optionally followed by /resourceGroups/{name} and /providers/{namespace}/{type}/{name}, in ASCII".into())))]
    pub scopes: Vec<String>,

    /// The Entra application (client) ids that workspaces in those namespaces may name in
    /// `spec.identity.clientId`.
    #[serde(default)]
    #[schemars(length(max = 64))]
    #[schemars(inner(length(min = 36, max = 36)))]
    #[x_kube(validation = Rule::new(format!("self.all(c, c.matches('^{}$'))", rules::GUID)).message(Message::Message("each of identities must be a client id (a GUID)".into())))]
    pub identities: Vec<String>,

    /// Whether the grant reserves its `scopes` and `identities` to the namespaces it selects
    /// (default `true`). A HipaaWorkspace or PhiStore in any other namespace may not name an
    /// Azure id inside one of the scopes (the resource group, a safeguard, a store's resource)
    /// nor one of the client ids, whatever other grants allow it: the chart's admission policy
    /// refuses it at apply time and the operator reports `NotPermitted` naming this grant. Set
    /// `false` on a broad grant that overlaps narrower grants of other namespaces (a platform
    /// team's subscription-wide grant), which would otherwise lock them out.
    #[serde(default = "reserves")]
    pub exclusive: bool,

    /// Whether workspaces that name no identity may use the operator's own Azure identity.
    #[serde(default)]
    pub allow_operator_identity: bool,

    /// Whether `Enforce` is allowed. Without it a workspace in `Enforce` is evaluated in
    /// `Audit`: the operator reads, reports and writes nothing.
    #[serde(default)]
    pub allow_enforce: bool,

    /// Whether irreversible changes are allowed (locking the audit archive's immutability
    /// policy). Without it they are reported as planned and not made.
    #[serde(default)]
    pub allow_irreversible: bool,
}

fn reserves() -> bool {
    true
}
