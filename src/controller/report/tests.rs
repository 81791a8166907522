//! Tests of the report stage: stable timestamps, conflict counting, compliance, and what
//! `Ready` and the family conditions say.

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
