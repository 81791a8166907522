//! Kubernetes events: one per kind of transition between two reports (drift, remediation,
//! conflict, a new failure), with notes that fit an event.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};

use super::pass::{Report, ready_reason};
use crate::api::common::ControlState;
use crate::api::common::condition::{READY, reason};
use crate::controller::context::Context;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
