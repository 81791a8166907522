//! What every governed kind's reconcile shares once its own observe and evaluate stages have
//! produced findings: exemptions, conflict detection, choosing what to remediate, the status
//! report (controls, family conditions, `Ready`, compliance), events on transitions, failures
//! as `Ready` reasons, and the jittered drift requeue. The PhiStore and HipaaWorkspace
//! controllers differ only in what they read and write in Azure.

mod error;
mod events;
mod failure;
mod pass;
mod status;
mod watch;

pub use error::ReconcileError;
pub use events::{event_note, publish, transition_events};
pub use failure::Failure;
pub use pass::{Pass, Report, applied_exemptions, next_check, ready_reason};
pub use status::{
    STATUS_WRITERS, clear_status, foreign_status_writers, patch_status, status_written_by_others,
};
pub use watch::{changes, contained, lean_controller, report_synced};

/// The value after `key` in an ARM id (`segment(id, "vaults")` is the vault name).
pub fn segment<'a>(id: &'a str, key: &str) -> Option<&'a str> {
    let mut parts = id.split('/');
    while let Some(p) = parts.next() {
        if p.eq_ignore_ascii_case(key) {
            return parts.next();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_segments() {
        let id =
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-clinical";
        assert_eq!(segment(id, "vaults"), Some("kv-clinical"));
        assert_eq!(segment(id, "resourcegroups"), Some("rg"));
        assert_eq!(segment(id, "servers"), None);
    }
}
