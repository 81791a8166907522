//! The report stage, pure: findings (after exemptions and remediation) become the status a
//! controller writes — `status.controls` with stable `since`, one condition per safeguard
//! family, `Ready`, and the compliance summary. Timestamps move only when something changed, so
//! a reconcile that finds nothing new produces a status equal to the one stored and writes
//! nothing.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::common::condition::{READY, reason};
use crate::api::common::{AppliedExemption, Awaiting, ControlState, ControlStatus};
use crate::catalog::Family;
use crate::controls::{Finding, Found};

/// Remediations in a row, each within two drift-check intervals of the last, after which the
/// operator reports a conflict and stops remediating the control for [`CONFLICT_COOL_DOWN`]
/// intervals (or until the PhiStore is edited), so a fight with another writer costs at most a
/// few writes per cool-down instead of one per check.
pub const CONFLICT_AFTER: i32 = 3;
/// Drift-check intervals a conflicting control is left alone.
pub const CONFLICT_COOL_DOWN: u32 = 6;

/// One control as it will be reported.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluated {
    pub finding: Finding,
    /// The exemption that covers the control now, if any.
    pub exemption: Option<AppliedExemption>,
    /// The operator changed the resource for this control in this reconcile.
    pub remediated_now: bool,
}

impl Evaluated {
    /// The state to report.
    pub fn state(&self) -> ControlState {
        if self.exemption.is_some() {
            ControlState::Exempt
        } else if self.remediated_now {
            ControlState::Remediated
        } else {
            match self.finding.found {
                Found::Compliant => ControlState::Compliant,
                Found::Drifted => ControlState::Drifted,
                Found::NotApplicable => ControlState::NotApplicable,
                Found::Error => ControlState::Error,
            }
        }
    }
}

fn passing(state: ControlState) -> bool {
    matches!(
        state,
        ControlState::Compliant
            | ControlState::Remediated
            | ControlState::Exempt
            | ControlState::NotApplicable
    )
}

/// `status.controls`, keeping `since`, `lastChecked` and `lastRemediated` from `previous` for
/// entries whose state and observed value did not change. A control that was `Remediated` and is
/// now found compliant stays `Remediated` (the evidence that the operator fixed it) until its
/// state changes again.
///
/// `recentRemediations` counts remediations that each came within `flap_window` (one drift-check
/// interval) of the previous one, and after which the operator wrote nothing else: when it
/// fixed another control of the object in between, that write may be what undid this one (a
/// body that dropped the setting), so the count starts again rather than blaming someone else.
pub fn controls(
    previous: &[ControlStatus],
    evaluated: &[Evaluated],
    now: &Time,
    flap_window: std::time::Duration,
    refresh_checked: std::time::Duration,
) -> Vec<ControlStatus> {
    let before: BTreeMap<&str, &ControlStatus> =
        previous.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut out: Vec<ControlStatus> = evaluated
        .iter()
        .map(|e| {
            let prev = before.get(e.finding.id()).copied();
            let mut state = e.state();
            let carried = state == ControlState::Compliant
                && prev.is_some_and(|p| p.state == ControlState::Remediated);
            if carried {
                state = ControlState::Remediated;
            }
            let (observed, message) = if carried {
                (
                    e.finding.observed.clone(),
                    prev.and_then(|p| p.message.clone()),
                )
            } else if e.remediated_now {
                // Fixed by an operation that ended since: what it was is what the last report
                // saw.
                let was = match (e.finding.found, prev) {
                    (Found::Compliant, Some(p)) => p.observed.clone(),
                    _ => e.finding.observed.clone(),
                };
                (
                    e.finding.expected.clone(),
                    Some(format!("remediated; was {was}")),
                )
            } else {
                (e.finding.observed.clone(), e.finding.message.clone())
            };
            let unchanged = prev.is_some_and(|p| p.state == state && p.observed == observed);
            ControlStatus {
                id: e.finding.id().to_string(),
                state,
                expected: e.finding.expected.clone(),
                observed,
                hipaa: e
                    .finding
                    .control
                    .hipaa
                    .iter()
                    .map(|h| h.to_string())
                    .collect(),
                since: match prev {
                    Some(p) if p.state == state => p.since.clone(),
                    _ => now.clone(),
                },
                // Moved by a change, and otherwise refreshed once it is `refresh_checked` old:
                // true to the evaluation without a status write on every pass.
                last_checked: match prev.and_then(|p| p.last_checked.as_ref()) {
                    Some(at)
                        if unchanged
                            && now.0.duration_since(at.0).as_secs_f64()
                                < refresh_checked.as_secs_f64() =>
                    {
                        Some(at.clone())
                    }
                    _ => Some(now.clone()),
                },
                last_remediated: if e.remediated_now {
                    Some(now.clone())
                } else {
                    prev.and_then(|p| p.last_remediated.clone())
                },
                recent_remediations: if e.remediated_now {
                    let operator_wrote_since = |p: &ControlStatus| {
                        let Some(mine) = p.last_remediated.as_ref() else {
                            return false;
                        };
                        previous.iter().any(|other| {
                            other.id != p.id
                                && other.last_remediated.as_ref().is_some_and(|t| t.0 > mine.0)
                        })
                    };
                    let streak = prev
                        .filter(|p| {
                            p.last_remediated
                                .as_ref()
                                .is_some_and(|t| within(t, now, flap_window))
                                && !operator_wrote_since(p)
                        })
                        .and_then(|p| p.recent_remediations)
                        .unwrap_or(0);
                    Some(streak + 1)
                } else {
                    prev.and_then(|p| p.recent_remediations)
                },
                awaiting: (state == ControlState::Drifted).then(|| e.finding.awaiting()),
                message,
                exemption: e.exemption.clone(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Whether `earlier` is at most `window` before `now`.
pub fn within(earlier: &Time, now: &Time, window: std::time::Duration) -> bool {
    let elapsed = now.0.duration_since(earlier.0).as_secs();
    elapsed >= 0 && (elapsed as u64) <= window.as_secs()
}

/// `compliant/total`, counting exempt and not-applicable controls as compliant.
pub fn compliance(controls: &[ControlStatus]) -> String {
    let count = |state: ControlState| controls.iter().filter(|c| c.state == state).count();
    let (exempt, not_applicable) = (
        count(ControlState::Exempt),
        count(ControlState::NotApplicable),
    );
    let judged = controls.len() - exempt - not_applicable;
    let ok = count(ControlState::Compliant) + count(ControlState::Remediated);
    let aside: Vec<String> = [(exempt, "exempt"), (not_applicable, "n/a")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if aside.is_empty() {
        format!("{ok}/{judged}")
    } else {
        format!("{ok}/{judged} ({})", aside.join(", "))
    }
}

/// `1 control`, `3 controls`.
fn controls_n(n: usize) -> String {
    if n == 1 {
        "1 control".into()
    } else {
        format!("{n} controls")
    }
}

/// A condition, keeping `lastTransitionTime` from `previous` when `status` did not flip.
pub fn condition(
    previous: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let status = if status { "True" } else { "False" };
    let last = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: last,
    }
}

/// Ids listed in a message, at most `n` of them.
fn list(ids: &[&str], n: usize) -> String {
    let shown: Vec<&str> = ids.iter().take(n).copied().collect();
    if ids.len() > n {
        format!("{} and {} more", shown.join(", "), ids.len() - n)
    } else {
        shown.join(", ")
    }
}

/// What the reconcile concluded, beyond the controls themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Evaluated; writes were made or planned for `remediating` controls (Enforce mode).
    Evaluated {
        remediating: Vec<String>,
        conflict: Vec<String>,
    },
    /// The reconcile could not evaluate: `reason` (a `Ready` reason constant) and a message.
    Failed { reason: String, message: String },
}

/// The family conditions and `Ready`.
pub fn conditions(
    previous: &[Condition],
    controls: &[ControlStatus],
    outcome: &Outcome,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let family_of = |id: &str| crate::catalog::control(id).map(|c| c.family);
    let mut by_family: BTreeMap<Family, Vec<&ControlStatus>> = BTreeMap::new();
    for c in controls {
        if let Some(family) = family_of(&c.id) {
            by_family.entry(family).or_default().push(c);
        }
    }
    let mut out: Vec<Condition> = by_family
        .iter()
        .map(|(family, members)| {
            let failing: Vec<&str> = members
                .iter()
                .filter(|c| !passing(c.state))
                .map(|c| c.id.as_str())
                .collect();
            let errors = members.iter().any(|c| c.state == ControlState::Error);
            let (ok, why, message) = if failing.is_empty() {
                (
                    true,
                    "Compliant",
                    format!("{} compliant", controls_n(members.len())),
                )
            } else if errors
                && failing.iter().all(|id| {
                    members
                        .iter()
                        .any(|c| c.id == *id && c.state == ControlState::Error)
                })
            {
                (
                    false,
                    "Error",
                    format!("could not evaluate: {}", list(&failing, 5)),
                )
            } else {
                (
                    false,
                    reason::DRIFTED,
                    format!("drifted: {}", list(&failing, 5)),
                )
            };
            condition(
                previous,
                family.condition_type(),
                ok,
                why,
                message,
                generation,
                now,
            )
        })
        .collect();
    let drifted: Vec<&str> = controls
        .iter()
        .filter(|c| !passing(c.state))
        .map(|c| c.id.as_str())
        .collect();
    let ready = match outcome {
        Outcome::Failed { reason, message } => condition(
            previous,
            READY,
            false,
            reason,
            message.clone(),
            generation,
            now,
        ),
        Outcome::Evaluated { conflict, .. } if !conflict.is_empty() => condition(
            previous,
            READY,
            false,
            reason::CONFLICT,
            format!(
                "drift returns right after remediation (another controller or policy is changing it back): {}; remediation of these controls is paused",
                conflict.join(", ")
            ),
            generation,
            now,
        ),
        Outcome::Evaluated { remediating, .. } if !remediating.is_empty() => condition(
            previous,
            READY,
            false,
            reason::REMEDIATING,
            format!(
                "remediating {}",
                list(
                    &remediating.iter().map(String::as_str).collect::<Vec<_>>(),
                    8
                )
            ),
            generation,
            now,
        ),
        Outcome::Evaluated { .. } if drifted.is_empty() => condition(
            previous,
            READY,
            true,
            reason::COMPLIANT,
            format!("all {} compliant or exempt", controls_n(controls.len())),
            generation,
            now,
        ),
        Outcome::Evaluated { .. } => condition(
            previous,
            READY,
            false,
            reason::DRIFTED,
            if controls
                .iter()
                .filter(|c| !passing(c.state))
                .all(|c| c.awaiting == Some(Awaiting::Person))
            {
                format!(
                    "{} {} for a person (each control's message says what to do): {}",
                    controls_n(drifted.len()),
                    if drifted.len() == 1 { "waits" } else { "wait" },
                    list(&drifted, 8)
                )
            } else {
                format!(
                    "{} not compliant: {}",
                    controls_n(drifted.len()),
                    list(&drifted, 8)
                )
            },
            generation,
            now,
        ),
    };
    out.push(ready);
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

#[cfg(test)]
mod tests;
