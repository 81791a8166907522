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
mod tests {
    use super::*;
    use crate::controls::Finding;

    const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

    #[test]
    fn remediations_that_keep_coming_back_are_counted() {
        let fixed = || Evaluated {
            remediated_now: true,
            ..evaluated("storage.min-tls-1-2", Found::Drifted, "TLS1_0")
        };
        let mut status = controls(&[], &[fixed()], &at("2026-11-22T08:00:00Z"), HOUR, HOUR);
        assert_eq!(status[0].recent_remediations, Some(1));
        status = controls(&status, &[fixed()], &at("2026-11-22T08:40:00Z"), HOUR, HOUR);
        assert_eq!(status[0].recent_remediations, Some(2));
        status = controls(&status, &[fixed()], &at("2026-11-22T09:20:00Z"), HOUR, HOUR);
        assert_eq!(status[0].recent_remediations, Some(3));
        // A drift a day later is not a fight: the count starts again.
        status = controls(&status, &[fixed()], &at("2026-11-23T09:20:00Z"), HOUR, HOUR);
        assert_eq!(status[0].recent_remediations, Some(1));
    }

    #[test]
    fn a_drift_after_the_operators_own_other_write_does_not_count_toward_a_conflict() {
        let fixed = |id: &str| Evaluated {
            remediated_now: true,
            ..evaluated(id, Found::Drifted, "off")
        };
        let fine = |id: &str| evaluated(id, Found::Compliant, "on");
        let soft = "storage.blob-soft-delete";
        let versioning = "storage.blob-versioning";
        // Soft delete fixed; then versioning fixed (a write to the same service); then soft
        // delete drifts again: the operator's own write may have undone it.
        let mut status = controls(
            &[],
            &[fixed(soft), fine(versioning)],
            &at("2026-11-22T08:00:00Z"),
            HOUR,
            HOUR,
        );
        status = controls(
            &status,
            &[fine(soft), fixed(versioning)],
            &at("2026-11-22T08:10:00Z"),
            HOUR,
            HOUR,
        );
        status = controls(
            &status,
            &[fixed(soft), fine(versioning)],
            &at("2026-11-22T08:20:00Z"),
            HOUR,
            HOUR,
        );
        let soft_status = status.iter().find(|c| c.id == soft).expect("soft");
        assert_eq!(soft_status.recent_remediations, Some(1));
        // With nothing else written in between, the same drift counts.
        status = controls(
            &status,
            &[fixed(soft), fine(versioning)],
            &at("2026-11-22T08:30:00Z"),
            HOUR,
            HOUR,
        );
        let soft_status = status.iter().find(|c| c.id == soft).expect("soft");
        assert_eq!(soft_status.recent_remediations, Some(2));
    }

    fn at(s: &str) -> Time {
        Time(s.parse().expect("timestamp"))
    }

    fn evaluated(id: &str, found: Found, observed: &str) -> Evaluated {
        Evaluated {
            finding: Finding::new(id, found, "TLS1_2", observed),
            exemption: None,
            remediated_now: false,
        }
    }

    #[test]
    fn nothing_new_gives_an_identical_status() {
        let t0 = at("2026-11-22T08:00:00Z");
        let t1 = at("2026-11-22T09:00:00Z");
        let e = vec![
            evaluated("storage.min-tls-1-2", Found::Drifted, "TLS1_0"),
            evaluated("storage.https-only", Found::Compliant, "true"),
        ];
        let first = controls(&[], &e, &t0, HOUR, HOUR);
        let outcome = Outcome::Evaluated {
            remediating: vec![],
            conflict: vec![],
        };
        let conds = conditions(&[], &first, &outcome, Some(1), &t0);
        // An hour later, within the refresh interval (a day): nothing moves.
        let second = controls(&first, &e, &t1, HOUR, 24 * HOUR);
        let conds2 = conditions(&conds, &second, &outcome, Some(1), &t1);
        assert_eq!(first, second);
        assert_eq!(conds, conds2);
        let ready = conds.iter().find(|c| c.type_ == "Ready").expect("Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "Drifted")
        );
        assert!(ready.message.contains("storage.min-tls-1-2"));
        assert_eq!(compliance(&first), "1/2");
    }

    #[test]
    fn compliance_counts_exempt_and_not_applicable_apart() {
        let with = |states: &[ControlState]| {
            let controls: Vec<ControlStatus> = states
                .iter()
                .enumerate()
                .map(|(i, s)| ControlStatus {
                    id: format!("c{i}"),
                    state: *s,
                    expected: String::new(),
                    observed: String::new(),
                    hipaa: vec![],
                    since: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
                    last_checked: None,
                    last_remediated: None,
                    recent_remediations: None,
                    message: None,
                    exemption: None,
                    awaiting: None,
                })
                .collect();
            compliance(&controls)
        };
        use ControlState::*;
        assert_eq!(
            with(&[
                Compliant,
                Remediated,
                Exempt,
                Exempt,
                NotApplicable,
                Drifted
            ]),
            "2/3 (2 exempt, 1 n/a)"
        );
        assert_eq!(with(&[Compliant, Drifted]), "1/2");
        assert_eq!(with(&[NotApplicable]), "0/0 (1 n/a)");
        assert_eq!(controls_n(1), "1 control");
        assert_eq!(controls_n(0), "0 controls");
    }

    #[test]
    fn a_state_change_moves_since_and_the_condition_transition_only() {
        let t0 = at("2026-11-22T08:00:00Z");
        let t1 = at("2026-11-22T09:00:00Z");
        let outcome = Outcome::Evaluated {
            remediating: vec![],
            conflict: vec![],
        };
        let drifted = controls(
            &[],
            &[evaluated("storage.min-tls-1-2", Found::Drifted, "TLS1_0")],
            &t0,
            HOUR,
            HOUR,
        );
        let c0 = conditions(&[], &drifted, &outcome, Some(1), &t0);
        let fixed = vec![Evaluated {
            remediated_now: true,
            ..evaluated("storage.min-tls-1-2", Found::Drifted, "TLS1_0")
        }];
        let now_fixed = controls(&drifted, &fixed, &t1, HOUR, HOUR);
        assert_eq!(now_fixed[0].state, ControlState::Remediated);
        assert_eq!(now_fixed[0].since, t1);
        assert_eq!(now_fixed[0].last_remediated, Some(t1.clone()));
        assert_eq!(now_fixed[0].observed, "TLS1_2");
        let c1 = conditions(&c0, &now_fixed, &outcome, Some(1), &t1);
        let transit = c1
            .iter()
            .find(|c| c.type_ == "EncryptedInTransit")
            .expect("family condition");
        assert_eq!(
            (
                transit.status.as_str(),
                transit.last_transition_time.clone()
            ),
            ("True", t1.clone())
        );
        // Found compliant at the next check: still reported as Remediated, nothing moves.
        let t2 = at("2026-11-22T10:00:00Z");
        let later = controls(
            &now_fixed,
            &[evaluated("storage.min-tls-1-2", Found::Compliant, "TLS1_2")],
            &t2,
            HOUR,
            24 * HOUR,
        );
        assert_eq!(later, now_fixed);
        // Unchanged, but its lastChecked is older than the refresh: only lastChecked moves.
        let refreshed = controls(
            &now_fixed,
            &[evaluated("storage.min-tls-1-2", Found::Compliant, "TLS1_2")],
            &t2,
            HOUR,
            HOUR / 2,
        );
        assert_eq!(refreshed[0].last_checked, Some(t2.clone()));
        assert_eq!(
            (refreshed[0].state, &refreshed[0].since),
            (now_fixed[0].state, &now_fixed[0].since)
        );
        assert_eq!(conditions(&c1, &later, &outcome, Some(1), &t2), c1);
    }

    #[test]
    fn exempt_controls_count_as_compliant_and_show_their_exemption() {
        let t0 = at("2026-11-22T08:00:00Z");
        let e = Evaluated {
            exemption: Some(AppliedExemption {
                reason: "residency review".into(),
                approver: "privacy-officer".into(),
                expires: at("2027-03-31T00:00:00Z"),
            }),
            ..evaluated("storage.geo-redundant", Found::Drifted, "Standard_LRS")
        };
        let c = controls(&[], &[e], &t0, HOUR, HOUR);
        assert_eq!(c[0].state, ControlState::Exempt);
        let conds = conditions(
            &[],
            &c,
            &Outcome::Evaluated {
                remediating: vec![],
                conflict: vec![],
            },
            Some(2),
            &t0,
        );
        assert!(conds.iter().all(|c| c.status == "True"), "{conds:#?}");
        assert!(conds.iter().all(|c| c.observed_generation == Some(2)));
    }

    #[test]
    fn drift_says_who_brings_it_back_and_ready_says_when_only_people_can() {
        let t0 = at("2026-11-22T08:00:00Z");
        let outcome = Outcome::Evaluated {
            remediating: vec![],
            conflict: vec![],
        };
        let ready = |c: &[ControlStatus]| {
            conditions(&[], c, &outcome, Some(1), &t0)
                .into_iter()
                .find(|c| c.type_ == "Ready")
                .expect("Ready")
        };
        // Report-only in the catalog; waiting on a person although remediable; compliant.
        let ledger = evaluated("sql.ledger", Found::Drifted, "not on: scheduling");
        let waiting = Evaluated {
            finding: Finding::new("sql.entra-only-auth", Found::Drifted, "true", "false")
                .awaiting_person("name an administrator first"),
            exemption: None,
            remediated_now: false,
        };
        let fine = evaluated("sql.min-tls-1-2", Found::Compliant, "1.2");
        let people = controls(&[], &[ledger.clone(), waiting, fine], &t0, HOUR, HOUR);
        let awaiting: Vec<Option<Awaiting>> = people.iter().map(|c| c.awaiting).collect();
        assert_eq!(
            awaiting,
            vec![Some(Awaiting::Person), Some(Awaiting::Person), None],
            "sorted by id: entra-only-auth, ledger, min-tls"
        );
        let r = ready(&people);
        assert_eq!((r.status.as_str(), r.reason.as_str()), ("False", "Drifted"));
        assert!(
            r.message.starts_with("2 controls wait for a person"),
            "{}",
            r.message
        );

        let tls = evaluated("sql.min-tls-1-2", Found::Drifted, "1.0");
        let mixed = controls(&[], &[ledger, tls], &t0, HOUR, HOUR);
        assert_eq!(mixed[1].awaiting, Some(Awaiting::Operator));
        assert!(
            ready(&mixed)
                .message
                .starts_with("2 controls not compliant")
        );
    }

    #[test]
    fn failures_and_conflicts_explain_ready() {
        let t0 = at("2026-11-22T08:00:00Z");
        let failed = Outcome::Failed {
            reason: reason::FORBIDDEN.into(),
            message: "grant Storage Account Contributor".into(),
        };
        let ready = |o: &Outcome| {
            conditions(&[], &[], o, None, &t0)
                .into_iter()
                .find(|c| c.type_ == "Ready")
                .expect("Ready")
        };
        assert_eq!(ready(&failed).reason, "Forbidden");
        let conflict = Outcome::Evaluated {
            remediating: vec![],
            conflict: vec!["storage.min-tls-1-2".into()],
        };
        let r = ready(&conflict);
        assert_eq!(
            (r.status.as_str(), r.reason.as_str()),
            ("False", "Conflict")
        );
        assert!(r.message.contains("storage.min-tls-1-2"));
    }
}
