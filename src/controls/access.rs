//! Access reviews, pure: who can reach a PHI store (from the role assignments that reach it),
//! the state of a review cycle, which denied assignments the operator may remove and which only
//! a person can, and the access-review controls of a store (`access.unreviewed-assignment`,
//! `common.access-review-evidence`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::finding::{Finding, Found};
use crate::api::accessreview::{
    AccessReview, DecisionKind, PrincipalType, ReviewPhase, ReviewedAssignment,
};
use crate::azure::authorization::{RoleAssignment, RoleDefinition};

fn same(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// Whether `scope` is `parent` or below it.
pub fn within(scope: &str, parent: &str) -> bool {
    let (scope, parent) = (
        scope.trim_end_matches('/').to_ascii_lowercase(),
        parent.trim_end_matches('/').to_ascii_lowercase(),
    );
    scope == parent || scope.starts_with(&format!("{parent}/"))
}

/// The assignments that reach `store_id`, as a review lists them: principal, role, whether
/// the role reaches the data (PHI) or only the control plane, the scope it comes from, and
/// whether the principal is on the break-glass list. Sorted by principal, then assignment.
pub fn reviewed_assignments(
    reaching: &[(RoleAssignment, RoleDefinition)],
    store_id: &str,
    break_glass: &[String],
) -> Vec<ReviewedAssignment> {
    let mut out: Vec<ReviewedAssignment> = reaching
        .iter()
        .map(|(a, role)| {
            let scope = a.properties.scope.clone().unwrap_or_else(|| {
                a.id.split("/providers/Microsoft.Authorization/roleAssignments/")
                    .next()
                    .unwrap_or_default()
                    .to_string()
            });
            ReviewedAssignment {
                role_assignment_id: a.id.clone(),
                principal_id: a.properties.principal_id.clone(),
                principal_type: match a.properties.principal_type.as_deref() {
                    Some("Group") => PrincipalType::Group,
                    Some("ServicePrincipal") => PrincipalType::ServicePrincipal,
                    Some("ForeignGroup") => PrincipalType::ForeignGroup,
                    Some("Device") => PrincipalType::Device,
                    _ => PrincipalType::User,
                },
                role_name: role.properties.role_name.clone(),
                inherited: !same(&scope, store_id),
                scope,
                data_access: role.grants_data_access(),
                break_glass: break_glass
                    .iter()
                    .any(|b| b.eq_ignore_ascii_case(&a.properties.principal_id)),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.principal_id, &a.role_assignment_id).cmp(&(&b.principal_id, &b.role_assignment_id))
    });
    out
}

/// A cycle's phase at `now` and `decided/total` principals.
pub fn phase(review: &AccessReview, now: &Time) -> (ReviewPhase, String) {
    let mut principals: Vec<&str> = review
        .spec
        .assignments
        .iter()
        .map(|a| a.principal_id.as_str())
        .collect();
    principals.sort_unstable();
    principals.dedup();
    let decided = principals
        .iter()
        .filter(|p| review.spec.decisions.iter().any(|d| d.principal_id == **p))
        .count();
    let complete = decided == principals.len();
    let phase = if complete {
        ReviewPhase::Completed
    } else if now.0 > review.spec.due_by.0 {
        ReviewPhase::Overdue
    } else {
        ReviewPhase::Open
    };
    (phase, format!("{decided}/{}", principals.len()))
}

/// What a completed cycle's denials come to, judged on the operator's own observation:
/// `current` is what the operator found reaching the store just now ([`reviewed_assignments`]:
/// its scope, inheritance and break-glass flag come from Azure and the workspace, never from the
/// cycle). An assignment is acted on only when its principal was denied and its exact id was
/// listed in the cycle (access that existed when the cycle opened). Removable: at or below
/// `governed` and not break-glass; the rest is for a person, with why. Denied assignments no
/// longer present need nothing.
pub fn removals<'a>(
    review: &AccessReview,
    current: &'a [ReviewedAssignment],
    governed: &[String],
) -> (Vec<&'a ReviewedAssignment>, Vec<String>) {
    let denied = |principal: &str| {
        review.spec.decisions.iter().any(|d| {
            d.principal_id.eq_ignore_ascii_case(principal) && d.decision == DecisionKind::Deny
        })
    };
    let listed = |id: &str| {
        review
            .spec
            .assignments
            .iter()
            .any(|r| r.role_assignment_id.eq_ignore_ascii_case(id))
    };
    let mut removable = Vec::new();
    let mut manual = Vec::new();
    for a in current
        .iter()
        .filter(|a| denied(&a.principal_id) && listed(&a.role_assignment_id))
    {
        if a.break_glass {
            manual.push(format!(
                "{} ({} at {}): break-glass principal, flagged and never removed by the operator",
                a.principal_id, a.role_name, a.scope
            ));
        } else if governed.iter().any(|g| within(&a.scope, g)) {
            removable.push(a);
        } else {
            manual.push(format!(
                "{} ({} at {}): inherited from above the workspace's scope; remove it there",
                a.principal_id, a.role_name, a.scope
            ));
        }
    }
    (removable, manual)
}

/// The access-review controls of a store: `common.access-review-evidence` from the latest
/// cycle, and `access.unreviewed-assignment` from the assignments found now against the last
/// completed cycle. `latest` is the newest cycle and `completed` the newest completed one.
pub fn evaluate(
    current: &[ReviewedAssignment],
    latest: Option<(&AccessReview, ReviewPhase)>,
    completed: Option<&AccessReview>,
) -> Vec<Finding> {
    let evidence_expected = "every assignment reviewed within the cadence, removals applied";
    let evidence = match latest {
        None => Finding::new(
            "common.access-review-evidence",
            Found::NotApplicable,
            evidence_expected,
            "no review cycle yet",
        )
        .with_message("the first cycle opens at the next pass"),
        Some((review, ReviewPhase::Overdue)) => Finding::new(
            "common.access-review-evidence",
            Found::Drifted,
            evidence_expected,
            format!(
                "cycle {} overdue since {}",
                review.metadata.name.as_deref().unwrap_or_default(),
                review.spec.due_by.0
            ),
        )
        .with_message(
            "record Approve or Deny for every principal in the AccessReview's spec.decisions",
        ),
        Some((review, ReviewPhase::Open)) if completed.is_none() => Finding::new(
            "common.access-review-evidence",
            Found::NotApplicable,
            evidence_expected,
            format!(
                "first cycle {} open until {}",
                review.metadata.name.as_deref().unwrap_or_default(),
                review.spec.due_by.0
            ),
        ),
        Some(_) => Finding::new(
            "common.access-review-evidence",
            Found::Compliant,
            evidence_expected,
            format!(
                "last completed cycle {}",
                completed
                    .and_then(|c| c.metadata.name.clone())
                    .unwrap_or_default()
            ),
        ),
    };
    let unreviewed_expected =
        "every role assignment reaching the store approved in the last completed review";
    let unreviewed = match completed {
        None => Finding::new(
            "access.unreviewed-assignment",
            Found::NotApplicable,
            unreviewed_expected,
            "no completed review yet",
        ),
        Some(review) => {
            let listed = |a: &ReviewedAssignment| {
                review.spec.assignments.iter().any(|r| {
                    r.role_assignment_id
                        .eq_ignore_ascii_case(&a.role_assignment_id)
                })
            };
            let decided = |a: &ReviewedAssignment, kind: DecisionKind| {
                review
                    .spec
                    .decisions
                    .iter()
                    .any(|d| d.principal_id == a.principal_id && d.decision == kind)
            };
            let show = |a: &&ReviewedAssignment| {
                format!("{} ({} at {})", a.principal_id, a.role_name, a.scope)
            };
            let new: Vec<String> = current
                .iter()
                .filter(|a| !listed(a))
                .map(|a| show(&a))
                .collect();
            let denied: Vec<String> = current
                .iter()
                .filter(|a| listed(a) && decided(a, DecisionKind::Deny))
                .map(|a| show(&a))
                .collect();
            let mut observed = Vec::new();
            if !new.is_empty() {
                observed.push(format!("not reviewed: {}", new.join(", ")));
            }
            if !denied.is_empty() {
                observed.push(format!("denied but still present: {}", denied.join(", ")));
            }
            let ok = observed.is_empty();
            let f = Finding::check(
                "access.unreviewed-assignment",
                ok,
                unreviewed_expected,
                if ok {
                    "every assignment was approved".to_string()
                } else {
                    observed.join("; ")
                },
            );
            if ok {
                f
            } else {
                f.with_message("review new access (the hipaa-operator.io/review-requested annotation opens a cycle now) and remove denied access the operator may not remove (see the AccessReview's status.manualRemovalRequired)")
            }
        }
    };
    vec![evidence, unreviewed]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The control ids this module reports, for the catalog coverage test.
    pub(crate) fn evaluated_ids() -> Vec<&'static str> {
        evaluate(&[], None, None).iter().map(Finding::id).collect()
    }
    use serde_json::json;

    const STORE: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st";

    fn reaching(
        principal: &str,
        scope: &str,
        role: &str,
        data: bool,
    ) -> (RoleAssignment, RoleDefinition) {
        let a: RoleAssignment = serde_json::from_value(json!({
            "id": format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{principal}-ra"),
            "name": "x",
            "properties": {"roleDefinitionId": "/r", "principalId": principal, "principalType": "User", "scope": scope}
        }))
        .expect("assignment");
        let r: RoleDefinition = serde_json::from_value(json!({
            "id": "/r", "name": "r", "properties": {"roleName": role, "permissions": [
                {"actions": [], "dataActions": if data { json!(["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"]) } else { json!([]) }}
            ]}
        }))
        .expect("role");
        (a, r)
    }

    fn review(
        decisions: serde_json::Value,
        due: &str,
        assignments: &[ReviewedAssignment],
    ) -> AccessReview {
        serde_json::from_value(json!({
            "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "AccessReview",
            "metadata": {"name": "st-20261122", "namespace": "n"},
            "spec": {"storeRef": {"name": "st"}, "dueBy": due, "assignments": assignments, "decisions": decisions}
        }))
        .expect("review")
    }

    fn found() -> Vec<ReviewedAssignment> {
        reviewed_assignments(
            &[
                reaching(
                    "11111111-1111-4111-8111-111111111111",
                    STORE,
                    "Storage Blob Data Reader",
                    true,
                ),
                reaching(
                    "22222222-2222-4222-8222-222222222222",
                    "/subscriptions/s/resourceGroups/rg",
                    "Reader",
                    false,
                ),
                reaching(
                    "33333333-3333-4333-8333-333333333333",
                    "/subscriptions/s",
                    "Contributor",
                    false,
                ),
                reaching(
                    "44444444-4444-4444-8444-444444444444",
                    "/subscriptions/s/resourceGroups/rg",
                    "Owner",
                    false,
                ),
            ],
            STORE,
            &["44444444-4444-4444-8444-444444444444".to_string()],
        )
    }

    #[test]
    fn assignments_say_where_they_come_from_and_what_they_reach() {
        let a = found();
        assert_eq!(a.len(), 4);
        assert!(
            !a[0].inherited && a[0].data_access && a[0].role_name == "Storage Blob Data Reader"
        );
        assert!(a[1].inherited && !a[1].data_access);
        assert_eq!(a[2].scope, "/subscriptions/s");
        assert!(a[3].break_glass && !a[2].break_glass);
    }

    fn decide(principal: &str, kind: &str) -> serde_json::Value {
        json!({"principalId": principal, "decision": kind, "reviewer": "privacy-officer", "justification": "quarterly review"})
    }

    #[test]
    fn phases_follow_decisions_and_the_due_date() {
        let a = found();
        let now = Time("2026-11-22T10:00:00Z".parse().expect("t"));
        let open = review(
            json!([decide("11111111-1111-4111-8111-111111111111", "Approve")]),
            "2026-12-01T00:00:00Z",
            &a,
        );
        assert_eq!(phase(&open, &now), (ReviewPhase::Open, "1/4".into()));
        let late = review(json!([]), "2026-11-01T00:00:00Z", &a);
        assert_eq!(phase(&late, &now).0, ReviewPhase::Overdue);
        let all = review(
            json!([
                decide("11111111-1111-4111-8111-111111111111", "Approve"),
                decide("22222222-2222-4222-8222-222222222222", "Deny"),
                decide("33333333-3333-4333-8333-333333333333", "Deny"),
                decide("44444444-4444-4444-8444-444444444444", "Deny"),
            ]),
            "2026-11-01T00:00:00Z",
            &a,
        );
        assert_eq!(phase(&all, &now), (ReviewPhase::Completed, "4/4".into()));
        // Only the denied assignment inside the workspace's scope is removable; the one from
        // the subscription and the break-glass one are for a person.
        let (removable, manual) = removals(
            &all,
            &a,
            &["/subscriptions/s/resourceGroups/rg".to_string()],
        );
        assert_eq!(
            removable
                .iter()
                .map(|r| r.principal_id.as_str())
                .collect::<Vec<_>>(),
            vec!["22222222-2222-4222-8222-222222222222"]
        );
        assert_eq!(manual.len(), 2);
        assert!(manual.iter().any(|m| m.contains("break-glass")));
        assert!(manual.iter().any(|m| m.contains("inherited from above")));
    }

    /// A cycle's own claims about an assignment (scope, break-glass, even ids that are not
    /// role assignments) decide nothing: removals come from what the operator found.
    #[test]
    fn removals_follow_the_observation_not_what_the_cycle_claims() {
        let observed = found();
        let governed = ["/subscriptions/s/resourceGroups/rg".to_string()];
        // The cycle lists the break-glass owner as not break-glass and in the store's scope,
        // the subscription Contributor as scoped to the store, and an assignment-shaped id
        // aimed at a storage account.
        let mut forged = observed.clone();
        for a in &mut forged {
            a.break_glass = false;
            a.scope = STORE.into();
            a.inherited = false;
        }
        forged.push(ReviewedAssignment {
            role_assignment_id: format!(
                "{STORE}?x=/providers/Microsoft.Authorization/roleAssignments/55555555-5555-4555-8555-555555555555"
            ),
            principal_id: "55555555-5555-4555-8555-555555555555".into(),
            ..observed[0].clone()
        });
        let deny_all = json!(
            [
                "11111111-1111-4111-8111-111111111111",
                "22222222-2222-4222-8222-222222222222",
                "33333333-3333-4333-8333-333333333333",
                "44444444-4444-4444-8444-444444444444",
                "55555555-5555-4555-8555-555555555555"
            ]
            .iter()
            .map(|p| decide(p, "Deny"))
            .collect::<Vec<_>>()
        );
        let cycle = review(deny_all, "2026-11-01T00:00:00Z", &forged);
        let (removable, manual) = removals(&cycle, &observed, &governed);
        let ids: Vec<&str> = removable.iter().map(|a| a.principal_id.as_str()).collect();
        // The store's reader and the resource group's reader; the Contributor comes from the
        // subscription and the Owner is break-glass, as Azure and the workspace say.
        assert_eq!(
            ids,
            [
                "11111111-1111-4111-8111-111111111111",
                "22222222-2222-4222-8222-222222222222"
            ]
        );
        assert!(removable.iter().all(|a| observed.contains(a)));
        assert_eq!(manual.len(), 2, "{manual:?}");
        // Access the cycle did not list (granted since it opened) is not its to remove.
        let listed_one = review(
            json!([decide("11111111-1111-4111-8111-111111111111", "Deny")]),
            "2026-11-01T00:00:00Z",
            &observed[1..],
        );
        assert!(removals(&listed_one, &observed, &governed).0.is_empty());
    }

    #[test]
    fn access_that_appears_after_a_completed_review_is_drift() {
        let a = found();
        let now = Time("2026-11-22T10:00:00Z".parse().expect("t"));
        let first = review(json!([]), "2026-12-01T00:00:00Z", &a);
        let f = evaluate(&a, Some((&first, phase(&first, &now).0)), None);
        assert!(f.iter().all(|f| f.found == Found::NotApplicable), "{f:?}");
        let done = review(
            json!([
                decide("11111111-1111-4111-8111-111111111111", "Approve"),
                decide("22222222-2222-4222-8222-222222222222", "Approve"),
                decide("33333333-3333-4333-8333-333333333333", "Approve"),
                decide("44444444-4444-4444-8444-444444444444", "Approve"),
            ]),
            "2026-12-01T00:00:00Z",
            &a,
        );
        let f = evaluate(&a, Some((&done, ReviewPhase::Completed)), Some(&done));
        assert!(f.iter().all(|f| f.found == Found::Compliant), "{f:?}");
        let mut now_found = a.clone();
        now_found.extend(reviewed_assignments(
            &[reaching(
                "55555555-5555-4555-8555-555555555555",
                STORE,
                "Storage Blob Data Contributor",
                true,
            )],
            STORE,
            &[],
        ));
        let f = evaluate(
            &now_found,
            Some((&done, ReviewPhase::Completed)),
            Some(&done),
        );
        let unreviewed = f
            .iter()
            .find(|f| f.id() == "access.unreviewed-assignment")
            .expect("u");
        assert_eq!(unreviewed.found, Found::Drifted);
        assert!(
            unreviewed
                .observed
                .contains("55555555-5555-4555-8555-555555555555")
        );
        let late = review(json!([]), "2026-11-01T00:00:00Z", &a);
        let f = evaluate(&a, Some((&late, ReviewPhase::Overdue)), Some(&done));
        assert_eq!(f[0].found, Found::Drifted);
    }

    #[test]
    fn scopes_nest_by_path_segment() {
        assert!(within(
            "/subscriptions/s/resourceGroups/rg/providers/x",
            "/subscriptions/s/resourceGroups/rg"
        ));
        assert!(within(
            "/subscriptions/s/resourceGroups/RG",
            "/subscriptions/s/resourceGroups/rg"
        ));
        assert!(!within(
            "/subscriptions/s/resourceGroups/rg2",
            "/subscriptions/s/resourceGroups/rg"
        ));
        assert!(!within(
            "/subscriptions/s",
            "/subscriptions/s/resourceGroups/rg"
        ));
    }
}
