//! Long-running operations: their records, completion on the simulated clock, and the status and
//! result endpoints clients poll (`Azure-AsyncOperation` and `Location` styles).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::clock::arm_timestamp;
use crate::ids::lower;
use crate::state::State;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum OpKind {
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum OpStatus {
    InProgress,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OpError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub id: String,
    pub resource_id: String,
    pub kind: OpKind,
    pub namespace: String,
    pub location: String,
    pub subscription: String,
    pub api_version: String,
    /// Unix milliseconds on the simulated clock.
    pub started_ms: i64,
    pub completes_ms: i64,
    pub status: OpStatus,
    /// The failure planned by an injected fault, applied when the operation completes.
    pub planned_error: Option<OpError>,
    pub error: Option<OpError>,
}

/// How a provider reports the progress of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// No long-running operation: the write completes in the response.
    Sync,
    /// 202 Accepted, no body, `Location` + `Retry-After` (Storage create, SQL).
    Location,
    /// 200/201 with the body in a non-terminal state plus `Azure-AsyncOperation` (Network, Cosmos).
    AsyncOperation,
    /// 202 with both `Azure-AsyncOperation` and `Location` (Log Analytics tables, HDS patch, deletes).
    Both,
}

pub fn ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn at(ms_: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms_) * 1_000_000)
        .map(arm_timestamp)
        .unwrap_or_default()
}

impl Operation {
    /// The path segment Storage uses for its Location URL differs from the others.
    fn result_segment(&self) -> &'static str {
        if self.namespace.eq_ignore_ascii_case("Microsoft.Storage") {
            "asyncoperations"
        } else {
            "operationResults"
        }
    }

    pub fn status_url(&self, base: &str) -> String {
        format!(
            "{base}/subscriptions/{}/providers/{}/locations/{}/operationStatuses/{}?api-version={}",
            self.subscription, self.namespace, self.location, self.id, self.api_version
        )
    }

    pub fn result_url(&self, base: &str) -> String {
        if self.namespace.eq_ignore_ascii_case("Microsoft.Resources") {
            return format!(
                "{base}/subscriptions/{}/operationresults/{}?api-version={}",
                self.subscription, self.id, self.api_version
            );
        }
        let monitor = if self.result_segment() == "asyncoperations" {
            "monitor=true&"
        } else {
            ""
        };
        format!(
            "{base}/subscriptions/{}/providers/{}/locations/{}/{}/{}?{monitor}api-version={}",
            self.subscription,
            self.namespace,
            self.location,
            self.result_segment(),
            self.id,
            self.api_version
        )
    }

    /// The Azure-AsyncOperation status body.
    pub fn status_body(&self, base: &str) -> Value {
        let status = match self.status {
            OpStatus::InProgress => "InProgress",
            OpStatus::Succeeded => "Succeeded",
            OpStatus::Failed => "Failed",
        };
        let mut b = json!({
            "id": self.status_url(base).split('?').next().unwrap_or_default().trim_start_matches(base),
            "name": self.id,
            "status": status,
            "startTime": at(self.started_ms),
        });
        if self.status != OpStatus::InProgress {
            b["endTime"] = json!(at(self.completes_ms));
            b["percentComplete"] = json!(100);
        } else {
            b["percentComplete"] = json!(0);
        }
        if let Some(e) = &self.error {
            b["error"] = json!({"code": e.code, "message": e.message});
        }
        b
    }
}

/// The state a resource shows while an operation on it runs.
pub fn running_state(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Create => "Creating",
        OpKind::Update => "Updating",
        OpKind::Delete => "Deleting",
    }
}

fn set_provisioning_state(body: &mut Value, value: &str) {
    if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("provisioningState".to_string(), json!(value));
    }
}

/// Applies the outcome of one operation to the resource it concerns.
pub fn finish(state: &mut State, op_id: &str) {
    let Some(op) = state.operations.get_mut(op_id) else {
        return;
    };
    if op.status != OpStatus::InProgress {
        return;
    }
    let failed = op.planned_error.take();
    op.status = if failed.is_some() {
        OpStatus::Failed
    } else {
        OpStatus::Succeeded
    };
    op.error = failed;
    let (kind, rid, ok) = (op.kind, lower(&op.resource_id), op.error.is_none());
    match (kind, ok) {
        (OpKind::Delete, true) => {
            for child in state.descendants(&rid) {
                state.resources.remove(&child);
            }
            state.resources.remove(&rid);
        }
        (_, ok) => {
            if let Some(r) = state.resources.get_mut(&rid) {
                set_provisioning_state(&mut r.body, if ok { "Succeeded" } else { "Failed" });
            }
        }
    }
}

/// Completes every operation whose time has come.
/// Finishes the operations due by `now`; returns when the next one still in progress is due
/// (milliseconds), if any.
pub fn settle(state: &mut State, now: OffsetDateTime) -> Option<i64> {
    let now_ms = ms(now);
    let due: Vec<String> = state
        .operations
        .values()
        .filter(|o| o.status == OpStatus::InProgress && o.completes_ms <= now_ms)
        .map(|o| o.id.clone())
        .collect();
    for id in due {
        finish(state, &id);
    }
    prune(state);
    state
        .operations
        .values()
        .filter(|o| o.status == OpStatus::InProgress)
        .map(|o| o.completes_ms)
        .min()
}

/// Finished operations kept for late pollers; older ones are forgotten so memory stays bounded.
const KEEP_FINISHED: usize = 10_000;

/// Pruning starts this far above `KEEP_FINISHED`, so its sort runs once per thousand
/// operations rather than on every request.
const PRUNE_SLACK: usize = 1_000;

fn prune(state: &mut State) {
    let finished = state
        .operations
        .values()
        .filter(|o| o.status != OpStatus::InProgress)
        .count();
    if finished <= KEEP_FINISHED + PRUNE_SLACK {
        return;
    }
    let mut done: Vec<(i64, String)> = state
        .operations
        .values()
        .filter(|o| o.status != OpStatus::InProgress)
        .map(|o| (o.completes_ms, o.id.clone()))
        .collect();
    done.sort_unstable();
    for (_, id) in done.into_iter().take(finished - KEEP_FINISHED) {
        state.operations.remove(&id);
    }
}

/// Marks the resource as in progress, records the operation, and finishes it at once when the
/// configured duration is zero.
pub fn start(state: &mut State, mut op: Operation, now: OffsetDateTime) -> Operation {
    if op.kind != OpKind::Delete
        && let Some(r) = state.get_mut(&op.resource_id)
    {
        let label = match (op.kind, crate::arm::registry::lookup(&r.type_name)) {
            (OpKind::Create, Some(spec)) => spec.creating_state,
            _ => running_state(op.kind),
        };
        set_provisioning_state(&mut r.body, label);
    }
    if op.kind == OpKind::Delete
        && let Some(r) = state.get_mut(&op.resource_id)
    {
        set_provisioning_state(&mut r.body, "Deleting");
    }
    let duration = i64::try_from(state.config.lro_duration_ms).unwrap_or(i64::MAX);
    op.started_ms = ms(now);
    op.completes_ms = op.started_ms.saturating_add(duration);
    let id = op.id.clone();
    state.operations.insert(id.clone(), op.clone());
    if duration == 0 {
        finish(state, &id);
    }
    state.operations.get(&id).cloned().unwrap_or(op)
}
