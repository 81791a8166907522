//! The request log: one entry per request (method, path, status, caller), bounded in size.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub seq: u64,
    pub time: String,
    pub method: String,
    pub host: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    /// Object id of the authenticated caller, when there was one.
    pub caller: Option<String>,
    pub request_id: String,
    pub duration_ms: u64,
    /// Set when an injected fault answered instead of the simulator.
    pub fault: Option<String>,
}

/// Caller identity a handler attaches to its response so the log can record it.
#[derive(Debug, Clone)]
pub struct Caller(pub String);

const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default)]
pub struct RequestLog {
    inner: Mutex<(u64, VecDeque<LogEntry>)>,
}

impl RequestLog {
    pub fn push(&self, mut e: LogEntry) {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.0 += 1;
        e.seq = g.0;
        if g.1.len() >= MAX_ENTRIES {
            g.1.pop_front();
        }
        g.1.push_back(e);
    }

    pub fn entries(&self) -> Vec<LogEntry> {
        match self.inner.lock() {
            Ok(g) => g.1.iter().cloned().collect(),
            Err(p) => p.into_inner().1.iter().cloned().collect(),
        }
    }

    pub fn clear(&self) {
        match self.inner.lock() {
            Ok(mut g) => g.1.clear(),
            Err(p) => p.into_inner().1.clear(),
        }
    }
}
