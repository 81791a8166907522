//! The error a reconcile of the workspace and AccessReview controllers returns (what a pass
//! reports in status is a [`super::Failure`] instead), with the metric label and the wait that
//! go with each kind.

use std::time::Duration;

/// Why a reconcile ended without an answer: the Kubernetes API failed, or a bug panicked.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("the reconcile panicked (a bug; the log has the details); retrying")]
    Panicked,
}

impl ReconcileError {
    /// The `category` label of `hipaa_reconcile_errors_total`.
    pub fn category(&self) -> &'static str {
        match self {
            ReconcileError::Kube(_) => "kubernetes",
            ReconcileError::Panicked => "panic",
        }
    }

    /// How long to wait: a write that lost a race with another (409) is retried at once with
    /// what is there now; the rest back off.
    pub fn backoff(&self) -> Duration {
        match self {
            ReconcileError::Kube(kube::Error::Api(e)) if e.code == 409 => Duration::from_secs(1),
            _ => Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_label_and_wait() {
        let conflict = ReconcileError::Kube(kube::Error::Api(
            kube::core::Status::failure("the object has been modified", "Conflict")
                .with_code(409)
                .boxed(),
        ));
        assert_eq!(conflict.category(), "kubernetes");
        assert_eq!(conflict.backoff(), Duration::from_secs(1));
        let unavailable = ReconcileError::Kube(kube::Error::Api(
            kube::core::Status::failure("etcd is down", "ServiceUnavailable")
                .with_code(503)
                .boxed(),
        ));
        assert_eq!(unavailable.backoff(), Duration::from_secs(30));
        assert_eq!(ReconcileError::Panicked.category(), "panic");
        assert_eq!(ReconcileError::Panicked.backoff(), Duration::from_secs(30));
    }
}
