//! What every governed kind's reconcile shares once its own observe and evaluate stages have
//! produced findings: exemptions, conflict detection, choosing what to remediate, the status
//! report (controls, family conditions, `Ready`, compliance), events on transitions, failures
//! as `Ready` reasons, and the jittered drift requeue. The PhiStore and HipaaWorkspace
//! controllers differ only in what they read and write in Azure.

use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::context::Context;
use super::report::{self, Evaluated, Outcome};
use crate::api::common::condition::{Failed, READY, Retry, reason};
use crate::api::common::{AppliedExemption, ControlState, ControlStatus};
use crate::api::phistore::Exemption;
use crate::azure::AzureError;
use crate::controls::{Finding, Found};

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

impl From<super::execute::ExecuteError> for Failure {
    fn from(e: super::execute::ExecuteError) -> Self {
        use super::execute::ExecuteError;
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

impl From<super::azure_access::AccessError> for Failure {
    fn from(e: super::azure_access::AccessError) -> Self {
        match e {
            super::azure_access::AccessError::Azure(e) => e.into(),
            other => Failure::new(Failed::InvalidSpec, other.to_string()),
        }
    }
}

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

/// Runs one reconcile and turns a panic into `panicked()`, so a bug met by one object is
/// retried with backoff instead of stopping the operator.
pub async fn contained<T, E>(
    reconcile: impl std::future::Future<Output = Result<T, E>>,
    panicked: impl FnOnce() -> E,
) -> Result<T, E> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(reconcile).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(panicked()),
    }
}

/// Marks `readiness` synced once `cache` has its first full list.
pub fn report_synced<K>(
    cache: kube::runtime::reflector::Store<K>,
    readiness: std::sync::Arc<crate::runtime::Readiness>,
    kind: &'static str,
) where
    K: kube::runtime::reflector::Lookup + Clone + Send + Sync + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone + Send + Sync,
{
    tokio::spawn(async move {
        // The store's readiness is a oneshot channel that wakes only its latest waiter, and the
        // controller waits on it too: poll with a timeout so this waiter re-registers and sees
        // the memoized value once the controller's wait has taken it.
        loop {
            match tokio::time::timeout(Duration::from_millis(500), cache.wait_until_ready()).await {
                Ok(Ok(())) => {
                    tracing::info!(kind, "cache synced");
                    readiness.synced();
                    break;
                }
                Ok(Err(e)) => {
                    tracing::warn!(kind, error = %e, "cache never synced");
                    break;
                }
                Err(_) => continue,
            }
        }
    });
}

/// The `Ready` condition's reason, if any.
pub fn ready_reason(conditions: &[Condition]) -> Option<&str> {
    conditions
        .iter()
        .find(|c| c.type_ == READY)
        .map(|c| c.reason.as_str())
}

/// A controller for `K` whose cache keeps each object without `metadata.managedFields` and
/// without kubectl's `last-applied-configuration` annotation: with server-side-applied status of
/// a few dozen controls, the managed fields are as large as the status itself, and no
/// controller reads either (passes read the object itself). `slim` drops whatever else of `K`
/// no reader of the cache needs. Memory then grows with the number of objects and the size of
/// what the controllers use.
pub fn lean_controller<K>(
    api: kube::Api<K>,
    manager: &'static str,
    slim: fn(&mut K),
) -> kube::runtime::Controller<K>
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Unpin,
{
    use kube::runtime::WatchStreamExt;
    let (reader, writer) = kube::runtime::reflector::store();
    let stream = kube::runtime::watcher(
        api,
        kube::runtime::watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .modify(move |o: &mut K| {
        let meta = o.meta_mut();
        // Who else wrote the status survives the trim, as a mark only the cache carries.
        let others = foreign_status_writers(meta, manager);
        if !others.is_empty() {
            meta.annotations
                .get_or_insert_with(Default::default)
                .insert(STATUS_WRITERS.into(), others.join(","));
        }
        meta.managed_fields = None;
        if let Some(annotations) = meta.annotations.as_mut() {
            annotations.remove(LAST_APPLIED);
        }
        slim(o);
    })
    .reflect(writer)
    .applied_objects();
    kube::runtime::Controller::for_stream(stream, reader)
}

/// A watch of `api` that passes an object on only when `signature` of it changes, and always
/// when it is deleted: for triggers that should not fire on changes their reconciles do not
/// read (another controller's status writes, for example). A restart passes every object on
/// once.
pub fn changes<K>(
    api: kube::Api<K>,
    signature: fn(&K) -> u64,
) -> impl futures::Stream<Item = Result<K, kube::runtime::watcher::Error>> + Send + 'static
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send,
{
    use futures::TryStreamExt;
    use kube::runtime::WatchStreamExt;
    use kube::runtime::watcher::Event;
    let seen: std::sync::Mutex<
        std::collections::HashMap<kube::runtime::reflector::ObjectRef<K>, u64>,
    > = std::sync::Mutex::default();
    kube::runtime::watcher(
        api,
        kube::runtime::watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .try_filter_map(move |event| {
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        let passed = match event {
            Event::Apply(o) | Event::InitApply(o) => {
                let key = kube::runtime::reflector::ObjectRef::from_obj(&o);
                let print = signature(&o);
                (seen.insert(key, print) != Some(print)).then_some(o)
            }
            Event::Delete(o) => {
                seen.remove(&kube::runtime::reflector::ObjectRef::from_obj(&o));
                Some(o)
            }
            Event::Init | Event::InitDone => None,
        };
        futures::future::ready(Ok(passed))
    })
}

/// kubectl's client-side apply record: a copy of the whole object as last applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The mark the controllers' caches put on an object whose status someone else wrote (the
/// cache drops `managedFields`); never written to the API server.
pub const STATUS_WRITERS: &str = "hipaa-operator.io/status-written-by";

/// The field managers other than `ours` that own part of the object's status: a status the
/// operator did not write (`kubectl patch --subresource=status`, a tool that copies status
/// between clusters). Such a status is not evidence: the next pass evaluates afresh and writes
/// the whole status again.
pub fn foreign_status_writers(meta: &ObjectMeta, ours: &str) -> Vec<String> {
    let mut others: Vec<String> = meta
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .filter_map(|m| m.manager.clone())
        .filter(|m| m != ours)
        .collect();
    others.sort();
    others.dedup();
    others
}

/// [`foreign_status_writers`] of a full object, or the mark the cache left on a trimmed one.
pub fn status_written_by_others(meta: &ObjectMeta, ours: &str) -> Vec<String> {
    let mut others = foreign_status_writers(meta, ours);
    if let Some(mark) = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(STATUS_WRITERS))
    {
        others.extend(mark.split(',').map(str::to_string));
    }
    others.sort();
    others.dedup();
    others
}

/// Removes the whole status, under `manager`, so that no other manager owns any of it: the
/// status written next (by server-side apply) is the operator's alone. A merge of the new
/// status would leave another manager the fields it wrote with the same value.
pub async fn clear_status<K>(ctx: &Context, object: &K, manager: &str) -> Result<(), kube::Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), &object.namespace().unwrap_or_default());
    // A JSON merge patch's null removes the field.
    let patch = json!({ "status": null });
    api.patch_status(
        &object.name_any(),
        &PatchParams {
            field_manager: Some(manager.to_string()),
            ..PatchParams::default()
        },
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// The note of an event covering several controls, within the 1 kB an event note may hold.
pub fn event_note(items: &[String]) -> String {
    const LIMIT: usize = 1000;
    let mut note = String::new();
    for (i, item) in items.iter().enumerate() {
        let sep = if note.is_empty() { "" } else { "; " };
        let rest = items.len() - i;
        let tail = format!("; and {rest} more (see status.controls)");
        if note.len() + sep.len() + item.len() + tail.len() > LIMIT && rest > 0 {
            if note.is_empty() {
                let cut: String = item.chars().take(LIMIT - tail.len()).collect();
                return format!("{cut}{tail}");
            }
            return format!("{note}{tail}");
        }
        note.push_str(sep);
        note.push_str(item);
    }
    note
}

/// Events for what changed between two reports: drift found, remediated, conflict, and a
/// failure reason that is new.
pub async fn transition_events(
    ctx: &Context,
    object: &ObjectReference,
    old: &Report,
    new: &Report,
) {
    // One event per kind of transition per pass, naming every control it covers: a store that
    // starts with twenty drifted controls gets one `DriftDetected`, not twenty.
    let mut drifted = Vec::new();
    let mut remediated = Vec::new();
    for c in &new.controls {
        let before = old.controls.iter().find(|o| o.id == c.id);
        if before.map(|o| o.state) == Some(c.state) {
            continue;
        }
        match c.state {
            ControlState::Drifted => drifted.push(format!(
                "{}: expected {}, observed {}",
                c.id, c.expected, c.observed
            )),
            ControlState::Remediated
                if c.last_remediated != before.and_then(|o| o.last_remediated.clone()) =>
            {
                remediated.push(format!("{}: set to {}", c.id, c.expected))
            }
            _ => {}
        }
    }
    if !drifted.is_empty() {
        publish(
            ctx,
            object,
            EventType::Warning,
            "DriftDetected",
            "Evaluate",
            event_note(&drifted),
        )
        .await;
    }
    if !remediated.is_empty() {
        publish(
            ctx,
            object,
            EventType::Normal,
            "Remediated",
            "Remediate",
            event_note(&remediated),
        )
        .await;
    }
    let (was, now) = (ready_reason(&old.conditions), ready_reason(&new.conditions));
    if was == now {
        return;
    }
    match now {
        Some(reason::CONFLICT) => {
            publish(
                ctx,
                object,
                EventType::Warning,
                reason::CONFLICT,
                "Remediate",
                "remediation paused: the drift keeps coming back".into(),
            )
            .await
        }
        Some(
            why @ (reason::AZURE_UNAVAILABLE
            | reason::FORBIDDEN
            | reason::WORKSPACE_NOT_FOUND
            | reason::RESOURCE_NOT_FOUND
            | reason::INVALID_SPEC
            | reason::NOT_PERMITTED
            | reason::ALREADY_GOVERNED),
        ) => {
            let message = new
                .conditions
                .iter()
                .find(|c| c.type_ == READY)
                .map(|c| c.message.clone())
                .unwrap_or_default();
            publish(ctx, object, EventType::Warning, why, "Reconcile", message).await
        }
        _ => {}
    }
}

/// Publishes one event about `object`; a failure to publish is logged, never fatal.
pub async fn publish(
    ctx: &Context,
    object: &ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note.chars().take(1000).collect()),
        action: action.to_string(),
        secondary: None,
    };
    // A recorder of its own: kube's recorder keeps every event of the last six minutes to count
    // repeats as a series, and scans that cache on every event. At thousands of stores that is
    // tens of MiB and a walk per event; each event here already covers a whole pass's controls,
    // so a repeat is rare and costs one more small Event object instead.
    let recorder = Recorder::new(ctx.kube.clone(), ctx.reporter.clone());
    if let Err(e) = recorder.publish(&event, object).await {
        tracing::warn!(error = %e, "could not publish an event");
    }
}

/// Writes `status` by server-side apply under `manager`.
pub async fn patch_status<K>(
    ctx: &Context,
    object: &K,
    manager: &str,
    status: &impl Serialize,
) -> Result<(), kube::Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), &object.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &object.name_any(),
        &PatchParams::apply(manager).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exemption(expires: &str) -> Exemption {
        serde_json::from_value(json!({
            "control": "storage.geo-redundant", "reason": "r", "approver": "a", "expires": expires
        }))
        .expect("exemption")
    }

    #[test]
    fn event_notes_name_every_control_or_say_how_many_more() {
        let few = vec!["a: set to x".to_string(), "b: set to y".to_string()];
        assert_eq!(event_note(&few), "a: set to x; b: set to y");
        let many: Vec<String> = (0..100)
            .map(|i| format!("storage.control-{i:03}: expected something, observed another"))
            .collect();
        let note = event_note(&many);
        assert!(note.len() <= 1000, "{}", note.len());
        assert!(note.starts_with("storage.control-000"));
        assert!(note.ends_with("more (see status.controls)"), "{note}");
    }

    #[test]
    fn arm_segments() {
        let id =
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-clinical";
        assert_eq!(segment(id, "vaults"), Some("kv-clinical"));
        assert_eq!(segment(id, "resourcegroups"), Some("rg"));
        assert_eq!(segment(id, "servers"), None);
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
