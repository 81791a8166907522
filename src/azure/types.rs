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
