//! `AccessReview`: one review cycle of who can reach one PHI store.

// clippy reads the repeated `printcolumn(type_ = ...)` arguments of `#[kube]` as duplicated
// attributes; they are separate columns.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::LocalObjectRef;
use super::rules;
use super::status::{Conditions, conditions_merge};

/// One review cycle of the role assignments that reach one PHI store. The operator opens a cycle
/// with a snapshot of the assignments (immutable evidence); reviewers add one decision per
/// principal through Git or `kubectl`; the operator acts on denied access in `Enforce` mode and
/// archives the completed record.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "hipaa-operator.io",
    version = "v1alpha1",
    kind = "AccessReview",
    namespaced,
    doc = "One access-review cycle of one PhiStore: the role assignments that reached it, a decision per principal, and what the operator did with denied access.",
    status = "AccessReviewStatus",
    shortname = "arev",
    category = "hipaa",
    printcolumn(name = "Store", type_ = "string", json_path = ".spec.storeRef.name"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Decided",
        type_ = "string",
        json_path = ".status.decided",
        description = "Principals decided of all principals under review"
    ),
    printcolumn(name = "Due", type_ = "string", json_path = ".spec.dueBy"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.decisions.all(d, self.assignments.exists(a, a.principalId == d.principalId))").message(Message::Message("every decision must name a principalId listed in assignments: only access found in this cycle can be decided".into())).field_path(".decisions"))]
pub struct AccessReviewSpec {
    /// The PhiStore under review, in the same namespace. Immutable.
    #[x_kube(validation = rules::immutable("storeRef", "a cycle reviews one store"))]
    pub store_ref: LocalObjectRef,

    /// When the cycle is due; after it the cycle is `Overdue` and the store's `AccessReviewed`
    /// condition turns False.
    pub due_by: Time,

    /// The role assignments that reached the store when the cycle opened. Written by the
    /// operator; immutable.
    #[serde(default)]
    #[schemars(length(max = 256))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["roleAssignmentId".into()]))]
    #[x_kube(validation = rules::immutable("assignments", "they are the evidence of who had access when the cycle opened"))]
    pub assignments: Vec<ReviewedAssignment>,

    /// Who may decide: the Kubernetes user names of the workspace's reviewers when the cycle
    /// opened. Written by the operator; immutable. With the chart's trust admission policy, a
    /// decision is admitted only from one of these users, naming themselves as `reviewer`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(inner(length(min = 1, max = 256)))]
    #[x_kube(validation = rules::immutable("reviewers", "who may decide is fixed when the cycle opens"))]
    pub reviewers: Vec<String>,

    /// GitOps: the Kubernetes users (a Git tool's ServiceAccount, such as
    /// `system:serviceaccount:argocd:argocd-application-controller`) that apply decisions from
    /// Git on the reviewers' behalf, from the workspace when the cycle opened. Empty: each
    /// reviewer records their own decisions, authenticated by the API server. Written by the
    /// operator; immutable; the evidence of how decisions arrived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[schemars(inner(length(min = 1, max = 256)))]
    #[x_kube(validation = rules::immutable("decisionsAppliedBy", "how decisions arrive is fixed when the cycle opens"))]
    pub decisions_applied_by: Vec<String>,

    /// One decision per principal, recorded by reviewers.
    #[serde(default)]
    #[schemars(length(max = 256))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["principalId".into()]))]
    pub decisions: Vec<Decision>,
}

/// A role assignment found at or above the store's scope.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewedAssignment {
    /// ARM id of the role assignment.
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new(format!("{} && self.matches('(?i)^(/[-a-z0-9._()]+)*/providers/Microsoft\\\\.Authorization/roleAssignments/{}$')", rules::ASCII_ONLY, rules::GUID)).message(Message::Message("roleAssignmentId must be a role assignment id: a scope followed by /providers/Microsoft.Authorization/roleAssignments/{GUID}, in ASCII, with nothing after it".into())))]
    pub role_assignment_id: String,
    /// The principal's Entra object id (a GUID).
    #[schemars(length(min = 36, max = 36))]
    #[x_kube(validation = rules::guid("principalId"))]
    pub principal_id: String,
    /// User, Group, ServicePrincipal, ForeignGroup or Device.
    pub principal_type: PrincipalType,
    /// The role's name, e.g. `Storage Blob Data Reader`.
    #[schemars(length(max = 256))]
    pub role_name: String,
    /// The scope the assignment was made at (the store, or a parent scope it inherits from).
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new(format!("self == '/' || ({} && self.matches('(?i)^(/[-a-z0-9._()]+)+$'))", rules::ASCII_ONLY)).message(Message::Message("scope must be an Azure scope: / or /subscriptions/{id}[/resourceGroups/{name}[/providers/...]], in ASCII".into())))]
    pub scope: String,
    /// Whether the role grants data actions (reading or writing PHI), not only control-plane
    /// actions.
    #[serde(default)]
    pub data_access: bool,
    /// Whether the assignment is inherited from above the scope the workspace governs (it can
    /// then only be removed by hand).
    #[serde(default)]
    pub inherited: bool,
    /// Whether the principal is on the workspace's break-glass list (flagged, never removed).
    #[serde(default)]
    pub break_glass: bool,
}

/// The type of an Entra principal.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PrincipalType {
    User,
    Group,
    ServicePrincipal,
    ForeignGroup,
    Device,
}

/// A reviewer's decision on one principal's access.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// The principal decided on (a GUID listed in `assignments`).
    #[schemars(length(min = 36, max = 36))]
    #[x_kube(validation = rules::guid("principalId"))]
    pub principal_id: String,
    /// `Approve` keeps the access; `Deny` removes it (Enforce mode, removable scopes only).
    pub decision: DecisionKind,
    /// Who decided: the reviewer's Kubernetes user name (with the trust admission policy, the
    /// user who writes the decision, unless the cycle names a GitOps applier).
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = rules::not_blank("reviewer"))]
    pub reviewer: String,
    /// Why.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = rules::not_blank("justification"))]
    pub justification: String,
    /// When the decision was made (RFC 3339). Defaults to when the operator first saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Time>,
}

/// A review decision.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DecisionKind {
    Approve,
    Deny,
}

/// Where a review cycle stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ReviewPhase {
    /// Decisions are still expected and the cycle is not due yet.
    Open,
    /// Every principal has a decision.
    Completed,
    /// The due date passed with principals undecided.
    Overdue,
}

/// What the operator did with the cycle.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessReviewStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` when the cycle is completed and acted upon.
    #[serde(default)]
    #[schemars(schema_with = "conditions_merge")]
    pub conditions: Conditions,
    /// Open, Completed or Overdue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ReviewPhase>,
    /// Principals decided of all principals, e.g. `3/5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided: Option<String>,
    /// When every principal had a decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// Role assignments removed because of a Deny decision.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<RemovedAssignment>,
    /// Denied assignments inherited from above the governed scope: remove them by hand.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manual_removal_required: Vec<String>,
    /// Name of the evidence blob in the workspace's immutable audit archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_blob: Option<String>,
}

/// A role assignment the operator removed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemovedAssignment {
    /// ARM id of the removed role assignment.
    pub role_assignment_id: String,
    /// The principal whose access was removed.
    pub principal_id: String,
    /// When it was removed.
    pub removed_at: Time,
}
