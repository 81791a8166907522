//! Types shared by the three kinds: mode, object references, condition and control status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::rules;

/// How the operator treats the Azure resources it governs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Mode {
    /// Read-only: evaluate every control and report; write nothing to Azure.
    #[default]
    Audit,
    /// Also remediate every control the catalog marks remediable. Report-only controls
    /// (create-time or destructive properties) are never changed automatically.
    Enforce,
}

impl Mode {
    /// The stricter of two modes: a PhiStore may tighten its workspace's mode, never loosen it.
    pub fn strictest(self, other: Mode) -> Mode {
        if self == Mode::Enforce || other == Mode::Enforce {
            Mode::Enforce
        } else {
            Mode::Audit
        }
    }
}

/// A reference to an object of another kind in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
pub struct LocalObjectRef {
    /// Name of the referenced object, in the same namespace as the referring object.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = rules::object_name("name"))]
    pub name: String,
    /// Not allowed: references never cross namespaces. Present in the schema only so that a
    /// manifest setting it is rejected with a clear message instead of the field being dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    #[x_kube(validation = Rule::new("self == ''").message(Message::Message("namespace must not be set: a reference names an object in the same namespace".into())))]
    pub namespace: Option<String>,
}

/// A key of a Kubernetes Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
pub struct SecretKeyRef {
    /// Name of the Secret, in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = rules::object_name("name"))]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[-._a-zA-Z0-9]+$')").message(Message::Message("key must consist of letters, digits, '-', '_' or '.'".into())))]
    pub key: String,
}

/// The state of one control on one resource.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ControlState {
    /// The observed value meets the control.
    Compliant,
    /// The observed value does not meet the control.
    Drifted,
    /// The operator changed the resource and it now meets the control.
    Remediated,
    /// An approved, unexpired exemption covers the control.
    Exempt,
    /// The control does not apply to this resource (kind, tier or settings).
    NotApplicable,
    /// The control could not be evaluated; the message says why.
    Error,
}

/// For a Drifted control, who brings it back: `Operator` (it changes the resource back in
/// Enforce mode) or `Person` (a report-only control, or one waiting on something only a person
/// can do; the message says what).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Awaiting {
    /// The operator: it changes the resource back in `Enforce` mode.
    Operator,
    /// A person: the catalog marks the control report-only (create-time, destructive or
    /// read-only properties, or a choice the operator does not make), or it waits on such a
    /// control. The control's message says what to do.
    Person,
}

/// An exemption as it applied when the control was evaluated.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppliedExemption {
    /// Why the control is exempted.
    pub reason: String,
    /// Who approved the exemption.
    pub approver: String,
    /// When the exemption ends; the control is enforced again after it.
    pub expires: Time,
}

/// One control's evidence: what was expected, what was observed, since when.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlStatus {
    /// The control id from the catalog, e.g. `storage.min-tls-1-2`.
    pub id: String,
    /// Compliant, Drifted, Remediated, Exempt, NotApplicable or Error.
    pub state: ControlState,
    /// The compliant value, as the catalog states it.
    pub expected: String,
    /// The value read from Azure.
    pub observed: String,
    /// HIPAA Security Rule citations (45 CFR Part 164), e.g. `164.312(e)(1)`.
    #[serde(default)]
    pub hipaa: Vec<String>,
    /// When the control entered its current state.
    pub since: Time,
    /// When the control was last evaluated against Azure: moved whenever its state or observed
    /// value changes, and otherwise refreshed by a full pass once it is older than the
    /// full-check interval (`--full-check-interval`, at least an hour), so a steady state
    /// writes status that seldom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked: Option<Time>,
    /// When the operator last changed the resource for this control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_remediated: Option<Time>,
    /// How many times in a row the operator remediated this control with the drift coming back
    /// within two drift-check intervals each time. At 3 the operator stops remediating it and
    /// reports a Conflict (another controller or policy is changing it back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_remediations: Option<i32>,
    /// For a Drifted control: who brings it back, `Operator` or `Person`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting: Option<Awaiting>,
    /// A sentence a person can act on, when the state needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The exemption that applies, when the state is Exempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemption: Option<AppliedExemption>,
}

/// Condition types and reasons, as constants so that code and tests agree on them.
pub mod condition {
    /// True only when the last reconcile succeeded and every non-exempt control is compliant.
    pub const READY: &str = "Ready";
    // The safeguard-family conditions are named by `catalog::Family::condition_type`.
    /// Workspace level: the HIPAA HITRUST initiative is assigned as declared.
    pub const POLICY_ASSIGNED: &str = "PolicyAssigned";

    /// Reasons of the `Ready` condition.
    pub mod reason {
        pub const COMPLIANT: &str = "Compliant";
        pub const DRIFTED: &str = "Drifted";
        pub const REMEDIATING: &str = "Remediating";
        pub const AZURE_UNAVAILABLE: &str = "AzureUnavailable";
        /// Azure accepted a write, and its long-running operation failed; the message carries
        /// ARM's error code and message.
        pub const OPERATION_FAILED: &str = "OperationFailed";
        /// Azure throttled the operator; the message says when it may call again.
        pub const THROTTLED: &str = "Throttled";
        pub const FORBIDDEN: &str = "Forbidden";
        /// A Key Vault refused the operator's network path (firewall or private link).
        pub const VAULT_UNREACHABLE: &str = "VaultUnreachable";
        pub const WORKSPACE_NOT_FOUND: &str = "WorkspaceNotFound";
        pub const RESOURCE_NOT_FOUND: &str = "ResourceNotFound";
        pub const INVALID_SPEC: &str = "InvalidSpec";
        pub const CONFLICT: &str = "Conflict";
        /// No AzureScopeGrant lets the operator serve the object.
        pub const NOT_PERMITTED: &str = "NotPermitted";
        /// Another store already governs the resource.
        pub const ALREADY_GOVERNED: &str = "AlreadyGoverned";
        /// The grants could not be read.
        pub const GRANTS_UNAVAILABLE: &str = "GrantsUnavailable";
        /// The Kubernetes API failed a read or write the pass needed.
        pub const KUBERNETES_UNAVAILABLE: &str = "KubernetesUnavailable";
    }

    /// Why a pass could not evaluate: the `Ready` reason of a failed pass, with what waiting
    /// can do about it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Failed {
        WorkspaceNotFound,
        NotPermitted,
        AlreadyGoverned,
        GrantsUnavailable,
        InvalidSpec,
        ResourceNotFound,
        Forbidden,
        VaultUnreachable,
        Throttled,
        AzureUnavailable,
        OperationFailed,
        KubernetesUnavailable,
    }

    /// What a failed pass waits for before it tries again.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Retry {
        /// Waiting changes nothing: a change of the object, its workspace or the grants wakes
        /// it (they are watched); the duration is only a safety net.
        OnChange(std::time::Duration),
        /// Something outside Kubernetes must change (a role granted, a resource created): look
        /// again after the duration.
        Later(std::time::Duration),
        /// Transient: back off the duration, or longer when Azure's `Retry-After` says so.
        Backoff(std::time::Duration),
    }

    impl Retry {
        /// How long to wait at least.
        pub fn wait(self) -> std::time::Duration {
            match self {
                Retry::OnChange(d) | Retry::Later(d) | Retry::Backoff(d) => d,
            }
        }
    }

    impl Failed {
        /// The `Ready` reason.
        pub fn as_str(self) -> &'static str {
            match self {
                Failed::WorkspaceNotFound => reason::WORKSPACE_NOT_FOUND,
                Failed::NotPermitted => reason::NOT_PERMITTED,
                Failed::AlreadyGoverned => reason::ALREADY_GOVERNED,
                Failed::GrantsUnavailable => reason::GRANTS_UNAVAILABLE,
                Failed::InvalidSpec => reason::INVALID_SPEC,
                Failed::ResourceNotFound => reason::RESOURCE_NOT_FOUND,
                Failed::Forbidden => reason::FORBIDDEN,
                Failed::VaultUnreachable => reason::VAULT_UNREACHABLE,
                Failed::Throttled => reason::THROTTLED,
                Failed::AzureUnavailable => reason::AZURE_UNAVAILABLE,
                Failed::OperationFailed => reason::OPERATION_FAILED,
                Failed::KubernetesUnavailable => reason::KUBERNETES_UNAVAILABLE,
            }
        }

        /// What waiting can do about it. The durations are those the operator has always used;
        /// what differs is what ends the wait.
        pub fn retry(self) -> Retry {
            use std::time::Duration;
            match self {
                Failed::WorkspaceNotFound | Failed::InvalidSpec => {
                    Retry::OnChange(Duration::from_secs(300))
                }
                // A grant added, or the first claim deleted, wakes the store; the short safety
                // net covers what no watch sees (a namespace relabelled, a store deleted).
                Failed::NotPermitted | Failed::AlreadyGoverned => {
                    Retry::OnChange(Duration::from_secs(30))
                }
                Failed::Forbidden | Failed::ResourceNotFound => {
                    Retry::Later(Duration::from_secs(120))
                }
                // The vault's network is the workspace's to fix, often within the minute.
                Failed::VaultUnreachable
                | Failed::GrantsUnavailable
                | Failed::Throttled
                | Failed::AzureUnavailable
                | Failed::KubernetesUnavailable => Retry::Backoff(Duration::from_secs(30)),
                // Azure's own operation failed: the same write may fail the same way, so the
                // next try waits longer.
                Failed::OperationFailed => Retry::Backoff(Duration::from_secs(120)),
            }
        }
    }

    impl std::fmt::Display for Failed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.as_str())
        }
    }
}
