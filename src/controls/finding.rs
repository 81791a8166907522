//! What evaluating one control on one resource finds.

use crate::api::common::Awaiting;
use crate::catalog::{self, Control, Remediation};

/// The state an evaluator can find (exemptions and remediation are decided later).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    Compliant,
    Drifted,
    NotApplicable,
    /// Could not be evaluated: the message says why.
    Error,
}

/// The result of one control on one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub control: &'static Control,
    pub found: Found,
    /// The compliant value for this resource.
    pub expected: String,
    /// The value read from Azure.
    pub observed: String,
    /// A sentence a person can act on, when useful.
    pub message: Option<String>,
    /// Drifted because of something only a person can do, although the catalog lets the
    /// operator remediate the control (a prerequisite a person must provide first).
    pub awaits_person: bool,
    /// The finding changes by the clock at this time without anything in Azure or the cluster
    /// changing (a new role assignment taking effect): the next full pass comes no later.
    pub recheck_at: Option<k8s_openapi::jiff::Timestamp>,
}

impl Finding {
    /// A finding for catalog control `id`. Evaluators only name ids of the catalog; an unknown
    /// id is a programming error caught by their unit tests.
    pub fn new(
        id: &str,
        found: Found,
        expected: impl Into<String>,
        observed: impl Into<String>,
    ) -> Finding {
        let control =
            catalog::control(id).unwrap_or_else(|| panic!("{id} is not in the control catalog"));
        Finding {
            control,
            found,
            expected: expected.into(),
            observed: observed.into(),
            message: None,
            awaits_person: false,
            recheck_at: None,
        }
    }

    /// Compliant when `ok`, drifted otherwise.
    pub fn check(
        id: &str,
        ok: bool,
        expected: impl Into<String>,
        observed: impl Into<String>,
    ) -> Finding {
        Finding::new(
            id,
            if ok { Found::Compliant } else { Found::Drifted },
            expected,
            observed,
        )
    }

    /// Read the finding again no later than `at` (see [`Finding::recheck_at`]).
    pub fn recheck_at(mut self, at: k8s_openapi::jiff::Timestamp) -> Finding {
        self.recheck_at = Some(at);
        self
    }

    /// How long until the earliest of `findings` must be read again, if any must.
    pub fn recheck_in(
        findings: &[Finding],
        now: k8s_openapi::jiff::Timestamp,
    ) -> Option<std::time::Duration> {
        findings
            .iter()
            .filter_map(|f| f.recheck_at)
            .min()
            .map(|at| {
                std::time::Duration::try_from(at.duration_since(now))
                    .unwrap_or_default()
                    .max(std::time::Duration::from_secs(1))
            })
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Finding {
        self.message = Some(message.into());
        self
    }

    /// What a person does next about a drifted finding (nothing is said when it is not).
    pub fn with_next_step(self, message: impl Into<String>) -> Finding {
        if self.found == Found::Drifted {
            self.with_message(message)
        } else {
            self
        }
    }

    /// A drifted finding stays so until a person acts; `message` says what they do.
    pub fn awaiting_person(mut self, message: impl Into<String>) -> Finding {
        if self.found == Found::Drifted {
            self.awaits_person = true;
        }
        self.with_next_step(message)
    }

    /// Who brings the finding back when it is drifted: a person when the catalog never lets
    /// the operator change the control ([`Remediation::Automatic`] is the only kind a plan
    /// makes) or the evaluator found it waiting on a person, otherwise the operator.
    pub fn awaiting(&self) -> Awaiting {
        if self.awaits_person || self.control.remediation != Remediation::Automatic {
            Awaiting::Person
        } else {
            Awaiting::Operator
        }
    }

    pub fn id(&self) -> &'static str {
        self.control.id
    }
}

/// How an observed optional value is shown in evidence.
pub fn shown<T: std::fmt::Display>(value: Option<T>) -> String {
    value
        .map(|v| v.to_string())
        .unwrap_or_else(|| "(not set)".into())
}
