//! The access part of every PhiStore pass, in the pass's stages: observe who can reach the
//! store, plan a cycle to open (or mirror) and the unreviewed access to remove, and report
//! the store's `AccessReviewed` condition and access controls. The executor makes the writes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

use super::{
    AccessOutcome, CONDITION, REQUEST_ANNOTATION, break_glass, cadence, created, cycle_refs,
    cycles_digest, governed, native, new_cycle, next_change, removal_exempt,
};
use crate::api::accessreview::{AccessReview, ReviewPhase, ReviewedAssignment};
use crate::api::common::Mode;
use crate::api::workspace::UnreviewedAccess;
use crate::api::{HipaaWorkspace, PhiStore};
use crate::azure::AzureClient;
use crate::azure::id::RoleAssignmentId;
use crate::controller::intent::{Intent, WritePlan};
use crate::controller::pipeline::Failure;
use crate::controller::report;
use crate::controls::access;

/// What a store's pass reads for its access controls: the operator's own list of the role
/// assignments reaching the store and, with Azure's own reviews, what Azure holds of them.
pub struct AccessView {
    pub current: Vec<ReviewedAssignment>,
    native: Option<native::View>,
}

/// Reads who can reach the store now (and Azure's review of it, with `azureNative`).
pub async fn observe(
    azure: &AzureClient,
    store: &PhiStore,
    ws: &HipaaWorkspace,
) -> Result<AccessView, Failure> {
    let reaching = azure
        .role_assignments_reaching(&store.spec.resource.id)
        .await?;
    let current =
        access::reviewed_assignments(&reaching, &store.spec.resource.id, &break_glass(ws));
    let native = if azure_native(ws) {
        Some(native::read(azure, store).await?)
    } else {
        None
    };
    Ok(AccessView { current, native })
}

fn azure_native(ws: &HipaaWorkspace) -> bool {
    ws.spec
        .access_review
        .as_ref()
        .is_some_and(|a| a.azure_native)
}

/// The access part of a pass's plan (pure): a cycle to open when one is due (the workspace's
/// cadence, or a request), or with Azure's own reviews the schedule definition to create and
/// the instance to mirror; and in Enforce mode, with `unreviewedAccess: Remove` and no
/// exemption of `access.unreviewed-assignment`, the removal of access that appeared since the
/// last completed review. Removals come from the operator's own list (`view`) only.
pub fn plan(
    store: &PhiStore,
    ws: &HipaaWorkspace,
    mode: Mode,
    view: &AccessView,
    reviews: &[AccessReview],
    now: &Time,
) -> WritePlan {
    let mut intents = Vec::new();
    if let Some(native) = &view.native {
        intents.extend(native::plan(
            store,
            ws,
            mode,
            native,
            &view.current,
            reviews,
            now,
        ));
    }
    let (cadence, due_after) = cadence(ws);
    let latest_phase = reviews.first().map(|r| access::phase(r, now).0);
    let requested = store
        .annotations()
        .get(REQUEST_ANNOTATION)
        .filter(|token| {
            !reviews
                .iter()
                .any(|r| r.annotations().get(REQUEST_ANNOTATION) == Some(*token))
        })
        .cloned();
    let cadence_due = reviews
        .first()
        .is_none_or(|r| now.0.duration_since(created(r)).as_secs() >= cadence.as_secs() as i64);
    // One open cycle at a time: an open or overdue one is finished first. With Azure's own
    // reviews, Azure opens the cycles.
    let can_open = !azure_native(ws) && latest_phase.is_none_or(|p| p == ReviewPhase::Completed);
    if can_open && (cadence_due || requested.is_some()) {
        let mut review = new_cycle(
            store,
            ws.spec.access_review.as_ref(),
            &view.current,
            now,
            Time(now.0 + due_after),
            reviews,
        );
        if let Some(token) = requested {
            review
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(REQUEST_ANNOTATION.into(), token);
        }
        intents.push(Intent::OpenCycle(Box::new(review)));
    }
    let mut remediates = Vec::new();
    let remove_unreviewed = ws
        .spec
        .access_review
        .as_ref()
        .is_some_and(|a| a.unreviewed_access == UnreviewedAccess::Remove);
    let completed = reviews
        .iter()
        .find(|r| access::phase(r, now).0 == ReviewPhase::Completed);
    if mode == Mode::Enforce
        && remove_unreviewed
        && !removal_exempt(store, now)
        && let Some(done) = completed
    {
        let removals: Vec<Intent> = view
            .current
            .iter()
            .filter(|a| {
                !done.spec.assignments.iter().any(|r| {
                    r.role_assignment_id
                        .eq_ignore_ascii_case(&a.role_assignment_id)
                })
            })
            .filter(|a| !a.break_glass)
            .filter(|a| governed(ws).iter().any(|g| access::within(&a.scope, g)))
            // The operator's own list from Azure; an id that does not parse is not sent.
            .filter_map(|a| RoleAssignmentId::parse(&a.role_assignment_id).ok())
            .map(Intent::RemoveRoleAssignment)
            .collect();
        if !removals.is_empty() {
            remediates.push("access.unreviewed-assignment");
        }
        intents.extend(removals);
    }
    WritePlan {
        intents,
        remediates,
    }
}

/// Whether `review` mirrors an instance of Azure's own review.
pub fn mirrored(review: &AccessReview) -> bool {
    review
        .annotations()
        .contains_key(native::INSTANCE_ANNOTATION)
}

/// The store's cycles after a pass's writes: the ones it opened first, the ones it updated in
/// place; newest first.
pub fn after(
    mut reviews: Vec<AccessReview>,
    opened: &[AccessReview],
    updated: &[AccessReview],
) -> Vec<AccessReview> {
    for u in updated {
        if let Some(r) = reviews.iter_mut().find(|r| r.name_any() == u.name_any()) {
            *r = u.clone();
        }
    }
    for o in opened {
        reviews.insert(0, o.clone());
    }
    reviews
}

/// The access part of a store's report, from its cycles as the pass left them (`reviews`,
/// newest first): the access findings, the `AccessReviewed` condition, and what the store's
/// status records of its cycles.
pub fn report(
    ws: &HipaaWorkspace,
    view: &AccessView,
    reviews: &[AccessReview],
    previous: &[Condition],
    generation: Option<i64>,
    now: &Time,
) -> AccessOutcome {
    let latest = reviews.first().map(|r| (r, access::phase(r, now).0));
    let completed = reviews
        .iter()
        .find(|r| access::phase(r, now).0 == ReviewPhase::Completed);
    let findings = access::evaluate(&view.current, latest, completed);
    let (ok, why, message) = match latest {
        None => (false, "ReviewPending", "no review cycle yet".to_string()),
        Some((r, ReviewPhase::Completed)) => (
            true,
            "Reviewed",
            format!("cycle {} completed", r.name_any()),
        ),
        Some((r, ReviewPhase::Open)) => (
            false,
            "ReviewPending",
            format!(
                "cycle {} waits for decisions ({}), due {}",
                r.name_any(),
                access::phase(r, now).1,
                r.spec.due_by.0
            ),
        ),
        Some((r, ReviewPhase::Overdue)) => (
            false,
            "ReviewOverdue",
            format!(
                "cycle {} was due {} and has {} decided",
                r.name_any(),
                r.spec.due_by.0,
                access::phase(r, now).1
            ),
        ),
    };
    let condition = report::condition(previous, CONDITION, ok, why, message, generation, now);
    AccessOutcome {
        findings,
        condition,
        cycles: cycles_digest(reviews),
        changes_in: next_change(ws, reviews, now),
        cycle_refs: cycle_refs(reviews),
    }
}
