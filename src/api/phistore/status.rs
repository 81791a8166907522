//! `PhiStoreStatus`: what the operator observed and decided about a store, with the running
//! operations, planned changes, review cycles and drift baseline it records.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::common::{ControlStatus, Mode};
use crate::api::status::{Conditions, conditions_merge, controls_merge};

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
