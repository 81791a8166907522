//! One evaluation pass of one object and the status report it produces: exemptions, conflict
//! detection, what to remediate, the controls and conditions, and the jittered drift requeue.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::common::condition::{Failed, READY};
use crate::api::common::{AppliedExemption, ControlState, ControlStatus};
use crate::api::phistore::Exemption;
use crate::controller::report::{self, Evaluated, Outcome};
use crate::controls::{Finding, Found};

/// The status every governed kind reports; each kind's status type holds these fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub observed_generation: Option<i64>,
    pub conditions: Vec<Condition>,
    pub controls: Vec<ControlStatus>,
    pub compliance: Option<String>,
}

/// One evaluation pass of one object: what it knew before, and when.
pub struct Pass {
    pub previous: Report,
    pub generation: Option<i64>,
    pub now: Time,
    /// The drift-check interval.
    pub interval: Duration,
    /// How old a control's `lastChecked` may grow before an unchanged pass refreshes it.
    pub refresh_checked: Duration,
    /// Unexpired exemptions by control id.
    pub exemptions: Vec<(String, AppliedExemption)>,
}

impl Pass {
    pub fn new(
        previous: Report,
        generation: Option<i64>,
        interval: Duration,
        exemptions: &[Exemption],
    ) -> Pass {
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        Pass {
            exemptions: applied_exemptions(exemptions, &now),
            previous,
            generation,
            now,
            interval,
            refresh_checked: interval,
        }
    }

    /// Refreshes an unchanged control's `lastChecked` once it is `every` old (the full-check
    /// interval, so a steady state writes status that seldom).
    pub fn checked_every(mut self, every: Duration) -> Pass {
        self.refresh_checked = every;
        self
    }

    fn exempt(&self, id: &str) -> bool {
        self.exemptions.iter().any(|(e, _)| e == id)
    }

    /// Drifted controls remediated [`report::CONFLICT_AFTER`] times in a row, each soon after
    /// the last: remediation is paused for a cool-down, unless the object was edited since.
    pub fn conflicts(&self, findings: &[Finding]) -> Vec<String> {
        let spec_unchanged = self.previous.observed_generation == self.generation;
        if !spec_unchanged {
            return vec![];
        }
        findings
            .iter()
            .filter(|f| f.found == Found::Drifted && !self.exempt(f.id()))
            .filter(|f| {
                self.previous.controls.iter().any(|p| {
                    p.id == f.id()
                        && p.recent_remediations.unwrap_or(0) >= report::CONFLICT_AFTER
                        && p.last_remediated.as_ref().is_some_and(|t| {
                            report::within(t, &self.now, self.interval * report::CONFLICT_COOL_DOWN)
                        })
                })
            })
            .map(|f| f.id().to_string())
            .collect()
    }

    /// The findings a planner may act on: not exempt, not paused by a conflict.
    pub fn to_fix<'f>(&self, findings: &'f [Finding], conflict: &[String]) -> Vec<&'f Finding> {
        findings
            .iter()
            .filter(|f| !self.exempt(f.id()))
            .filter(|f| !conflict.iter().any(|c| c == f.id()))
            .collect()
    }

    /// The report of an evaluation: `remediated` are the ids the apply stage fixed;
    /// `extra` are kind-specific conditions (such as `PolicyAssigned`, or `AccessReviewed` with
    /// the review's own reasons), replacing a generic condition of the same type.
    pub fn report(
        &self,
        findings: Vec<Finding>,
        remediated: &[&str],
        outcome: Outcome,
        extra: Vec<Condition>,
    ) -> Report {
        let evaluated: Vec<Evaluated> = findings
            .into_iter()
            .map(|finding| Evaluated {
                exemption: self
                    .exemptions
                    .iter()
                    .find(|(id, _)| id == finding.id())
                    .map(|(_, e)| e.clone()),
                remediated_now: remediated.contains(&finding.id()),
                finding,
            })
            .collect();
        let controls = report::controls(
            &self.previous.controls,
            &evaluated,
            &self.now,
            self.interval * 2,
            self.refresh_checked,
        );
        // A third remediation in a row is already a conflict: say so now, not at the next check.
        let mut outcome = outcome;
        if let Outcome::Evaluated { conflict, .. } = &mut outcome {
            for c in &controls {
                if c.recent_remediations.unwrap_or(0) >= report::CONFLICT_AFTER
                    && c.last_remediated.as_ref() == Some(&self.now)
                    && !conflict.contains(&c.id)
                {
                    conflict.push(c.id.clone());
                }
            }
        }
        let mut conditions = report::conditions(
            &self.previous.conditions,
            &controls,
            &outcome,
            self.generation,
            &self.now,
        );
        // A kind-specific condition replaces the generic one of the same type.
        conditions.retain(|c| !extra.iter().any(|e| e.type_ == c.type_));
        conditions.extend(extra);
        conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
        Report {
            observed_generation: self.generation,
            compliance: Some(report::compliance(&controls)),
            conditions,
            controls,
        }
    }

    /// The report of a pass that could not evaluate: `Ready=False` with `why`; the controls
    /// and family conditions stay as last seen.
    pub fn failed(&self, why: Failed, message: &str) -> Report {
        let old = &self.previous;
        let outcome = Outcome::Failed {
            reason: why.as_str().to_string(),
            message: message.to_string(),
        };
        let mut conditions: Vec<Condition> = report::conditions(
            &old.conditions,
            &old.controls,
            &outcome,
            self.generation,
            &self.now,
        )
        .into_iter()
        .filter(|c| c.type_ == READY)
        .collect();
        conditions.extend(old.conditions.iter().filter(|c| c.type_ != READY).cloned());
        conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
        Report {
            observed_generation: self.generation,
            conditions,
            controls: old.controls.clone(),
            compliance: old.compliance.clone(),
        }
    }

    /// The report of a pass whose evidence no longer holds (the store's workspace is gone): every
    /// control `Error` with `why`, the family conditions and compliance recomputed from them,
    /// so no stale `Compliant` stands.
    pub fn unverified(&self, why: Failed, message: &str) -> Report {
        let controls: Vec<ControlStatus> = self
            .previous
            .controls
            .iter()
            .map(|c| ControlStatus {
                state: ControlState::Error,
                since: if c.state == ControlState::Error {
                    c.since.clone()
                } else {
                    self.now.clone()
                },
                message: Some(format!("not verified: {message}")),
                awaiting: None,
                ..c.clone()
            })
            .collect();
        let outcome = Outcome::Failed {
            reason: why.as_str().to_string(),
            message: message.to_string(),
        };
        Report {
            observed_generation: self.generation,
            conditions: report::conditions(
                &self.previous.conditions,
                &controls,
                &outcome,
                self.generation,
                &self.now,
            ),
            compliance: Some(report::compliance(&controls)),
            controls,
        }
    }

    /// The drift interval with ±10 % jitter, or earlier when an exemption expires before it.
    pub fn next_check(&self, exemptions: &[Exemption]) -> Duration {
        next_check(exemptions, self.interval, &self.now)
    }
}

/// Unexpired exemptions by control id.
pub fn applied_exemptions(exemptions: &[Exemption], now: &Time) -> Vec<(String, AppliedExemption)> {
    exemptions
        .iter()
        .filter(|e| e.expires.0 > now.0)
        .map(|e| {
            (
                e.control.clone(),
                AppliedExemption {
                    reason: e.reason.as_str().to_string(),
                    approver: e.approver.clone(),
                    expires: e.expires.clone(),
                },
            )
        })
        .collect()
}

/// The drift interval with ±10 % jitter, or earlier when an exemption expires before it.
pub fn next_check(exemptions: &[Exemption], interval: Duration, now: &Time) -> Duration {
    let jitter = 0.9 + rand::random::<f64>() * 0.2;
    let mut next = interval.mul_f64(jitter);
    for e in exemptions {
        let until = e.expires.0.duration_since(now.0).as_secs();
        if until > 0 {
            next = next.min(Duration::from_secs(until as u64 + 1));
        }
    }
    next
}

/// The `Ready` condition's reason, if any.
pub fn ready_reason(conditions: &[Condition]) -> Option<&str> {
    conditions
        .iter()
        .find(|c| c.type_ == READY)
        .map(|c| c.reason.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::common::condition::reason;
    use serde_json::json;

    fn exemption(expires: &str) -> Exemption {
        serde_json::from_value(json!({
            "control": "storage.geo-redundant", "reason": "r", "approver": "a", "expires": expires
        }))
        .expect("exemption")
    }

    #[test]
    fn the_next_check_is_jittered_and_never_later_than_an_exemption_expiry() {
        let exemptions = vec![exemption("2026-11-22T08:10:00Z")];
        let now = Time("2026-11-22T08:00:00Z".parse().expect("t"));
        let next = next_check(&exemptions, Duration::from_secs(3600), &now);
        assert_eq!(next, Duration::from_secs(601));
        let later = Time("2026-11-22T09:00:00Z".parse().expect("t"));
        let next = next_check(&exemptions, Duration::from_secs(3600), &later);
        assert!(
            next >= Duration::from_secs(3240) && next <= Duration::from_secs(3960),
            "{next:?}"
        );
        assert!(
            applied_exemptions(&exemptions, &later).is_empty(),
            "expired exemptions no longer apply"
        );
        assert_eq!(applied_exemptions(&exemptions, &now).len(), 1);
    }

    #[test]
    fn a_failed_pass_keeps_controls_and_family_conditions_and_flips_only_ready() {
        let findings = vec![Finding::check(
            "storage.min-tls-1-2",
            true,
            "TLS1_2",
            "TLS1_2",
        )];
        let first = Pass::new(Report::default(), Some(1), Duration::from_secs(60), &[]);
        let evaluated = first.report(
            findings,
            &[],
            Outcome::Evaluated {
                remediating: vec![],
                conflict: vec![],
            },
            vec![],
        );
        assert_eq!(ready_reason(&evaluated.conditions), Some(reason::COMPLIANT));
        let second = Pass::new(evaluated.clone(), Some(1), Duration::from_secs(60), &[]);
        let failed = second.failed(Failed::AzureUnavailable, "ARM returned 503");
        assert_eq!(failed.controls, evaluated.controls);
        assert_eq!(
            ready_reason(&failed.conditions),
            Some(reason::AZURE_UNAVAILABLE)
        );
        let families = |r: &Report| {
            r.conditions
                .iter()
                .filter(|c| c.type_ != READY)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(families(&failed), families(&evaluated));
        // Without its workspace, nothing the store showed is verified any more.
        let gone = second.unverified(Failed::WorkspaceNotFound, "HipaaWorkspace clinical is gone");
        assert!(gone.controls.iter().all(|c| c.state == ControlState::Error));
        assert_eq!(gone.compliance.as_deref(), Some("0/1"));
        assert_eq!(
            ready_reason(&gone.conditions),
            Some(reason::WORKSPACE_NOT_FOUND)
        );
        assert!(
            gone.conditions
                .iter()
                .filter(|c| c.type_ != READY)
                .all(|c| c.status == "False"),
            "{:#?}",
            gone.conditions
        );
    }

    #[test]
    fn conflicts_pause_only_unedited_objects_after_a_streak() {
        let streak = Report {
            observed_generation: Some(3),
            controls: vec![ControlStatus {
                id: "storage.min-tls-1-2".into(),
                state: ControlState::Remediated,
                expected: "TLS1_2".into(),
                observed: "TLS1_2".into(),
                hipaa: vec![],
                since: Time("2026-11-22T08:00:00Z".parse().expect("t")),
                last_checked: None,
                last_remediated: Some(Time(k8s_openapi::jiff::Timestamp::now())),
                recent_remediations: Some(report::CONFLICT_AFTER),
                awaiting: None,
                message: None,
                exemption: None,
            }],
            ..Report::default()
        };
        let drifted = vec![Finding::check(
            "storage.min-tls-1-2",
            false,
            "TLS1_2",
            "TLS1_0",
        )];
        let pass = Pass::new(streak.clone(), Some(3), Duration::from_secs(60), &[]);
        assert_eq!(pass.conflicts(&drifted), vec!["storage.min-tls-1-2"]);
        assert!(pass.to_fix(&drifted, &pass.conflicts(&drifted)).is_empty());
        let edited = Pass::new(streak, Some(4), Duration::from_secs(60), &[]);
        assert!(edited.conflicts(&drifted).is_empty());
    }
}
