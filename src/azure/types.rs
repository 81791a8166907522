//! Small types the Azure layer shares between its modules: an ARM operation, what an
//! idempotent write did, references inside ARM bodies. No I/O and no HTTP types, so any layer
//! may name them.

use serde::{Deserialize, Serialize};

/// One ARM operation: its id, provider and api-version, for URLs, errors and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArmOp {
    pub operation: &'static str,
    pub provider: &'static str,
    pub api_version: &'static str,
}

impl ArmOp {
    pub const fn new(
        operation: &'static str,
        provider: &'static str,
        api_version: &'static str,
    ) -> ArmOp {
        ArmOp {
            operation,
            provider,
            api_version,
        }
    }
}

/// What `ensure_*` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ensured {
    /// It was already as desired; nothing was written.
    Unchanged,
    /// It was created or updated.
    Written,
}

/// A reference to another resource inside an ARM body.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct IdRef {
    pub id: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct ConnectionState {
    pub status: String,
}

/// How a running operation is polled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PollStyle {
    /// An `Azure-AsyncOperation` status resource: `status` says where it stands.
    AsyncOperation,
    /// A `Location` URL: 202 while running, 200/204 once done.
    Location,
    /// The resource itself: its `provisioningState`.
    Resource,
}

/// A long-running operation Azure is still working on, handed over by the client so that the
/// caller can record it (in an object's status) and poll it on a later pass, after a restart
/// too, instead of holding a task while Azure works.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunningOperation {
    /// The operation id that started it, e.g. `PrivateEndpoints_CreateOrUpdate`.
    pub operation: String,
    /// The ARM id of the resource it writes.
    pub resource: String,
    /// The URL to poll: on ARM's own origin only (the token goes with it).
    pub poll_url: String,
    pub style: PollStyle,
    /// RFC 3339.
    pub started_at: String,
    /// What Azure last asked the caller to wait, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl RunningOperation {
    /// When to look again: Azure's `Retry-After`, within 5 s and 60 s.
    pub fn next_poll(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.retry_after_secs.unwrap_or(10).clamp(5, 60))
    }
}
