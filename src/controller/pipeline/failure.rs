//! A reconcile that could not evaluate: the `Ready` reason and message it reports, when to try
//! again, and how Azure, executor and access errors become one.

use std::time::Duration;

use crate::api::common::condition::{Failed, Retry};
use crate::azure::AzureError;

/// A reconcile that could not evaluate, as the `Ready` reason and message.
#[derive(Debug)]
pub struct Failure {
    pub reason: Failed,
    pub message: String,
    /// How long Azure asked the operator to wait (`Retry-After`), when it said.
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn new(reason: Failed, message: impl Into<String>) -> Failure {
        Failure {
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    /// When to try again: what the reason's retry policy says, and never before Azure's
    /// `Retry-After`.
    pub fn wait(&self) -> Duration {
        self.reason
            .retry()
            .wait()
            .max(self.retry_after.unwrap_or_default())
    }

    /// The reason's retry policy.
    pub fn retry(&self) -> Retry {
        self.reason.retry()
    }
}

impl From<AzureError> for Failure {
    fn from(e: AzureError) -> Self {
        use crate::azure::ErrorClass;
        let reason = match e.class() {
            ErrorClass::NotFound => Failed::ResourceNotFound,
            ErrorClass::Forbidden | ErrorClass::Unauthorized => Failed::Forbidden,
            ErrorClass::Unreachable => Failed::VaultUnreachable,
            ErrorClass::Invalid | ErrorClass::Configuration => Failed::InvalidSpec,
            ErrorClass::Throttled => Failed::Throttled,
            ErrorClass::OperationFailed => Failed::OperationFailed,
            _ => Failed::AzureUnavailable,
        };
        Failure {
            retry_after: e.retry_after(),
            ..Failure::new(reason, e.to_string())
        }
    }
}

impl From<crate::controller::execute::ExecuteError> for Failure {
    fn from(e: crate::controller::execute::ExecuteError) -> Self {
        use crate::controller::execute::ExecuteError;
        match e {
            ExecuteError::Azure(e) => e.into(),
            ExecuteError::Refused(why) => Failure::new(
                Failed::NotPermitted,
                format!("the plan was refused before any write: {why}"),
            ),
            ExecuteError::Kube(e) => Failure::new(
                Failed::KubernetesUnavailable,
                format!("Kubernetes API: {e}"),
            ),
        }
    }
}

impl From<crate::controller::azure_access::AccessError> for Failure {
    fn from(e: crate::controller::azure_access::AccessError) -> Self {
        match e {
            crate::controller::azure_access::AccessError::Azure(e) => e.into(),
            other => Failure::new(Failed::InvalidSpec, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_long_running_operation_is_named_for_what_happened_with_arms_words() {
        let failed = Failure::from(AzureError::OperationFailed {
            operation: "PrivateEndpoints_CreateOrUpdate".into(),
            resource:
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe"
                    .into(),
            status: "Failed".into(),
            code: "PrivateEndpointCreationFailed".into(),
            message: "subnet is full".into(),
        });
        assert_eq!(failed.reason, Failed::OperationFailed);
        assert_eq!(failed.reason.as_str(), "OperationFailed");
        assert!(
            failed.message.contains("PrivateEndpointCreationFailed")
                && failed.message.contains("subnet is full"),
            "{}",
            failed.message
        );
    }
}
