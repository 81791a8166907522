//! The request log: one entry per request (method, path, status, caller), bounded in size.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Entries kept unless the runtime config says otherwise (`requestLogEntries`).
pub const DEFAULT_ENTRIES: usize = 100_000;

#[derive(Debug)]
pub struct RequestLog {
    inner: Mutex<(u64, VecDeque<LogEntry>)>,
    /// How many entries are kept: the oldest go first.
    capacity: AtomicUsize,
}

impl Default for RequestLog {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            capacity: AtomicUsize::new(DEFAULT_ENTRIES),
        }
    }
}

impl RequestLog {
    pub fn push(&self, mut e: LogEntry) {
        let capacity = self.capacity.load(Ordering::Relaxed).max(1);
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.0 += 1;
        e.seq = g.0;
        while g.1.len() >= capacity {
            g.1.pop_front();
        }
        g.1.push_back(e);
    }

    /// Keeps at most `entries` entries from now on (at least one).
    pub fn set_capacity(&self, entries: usize) {
        self.capacity.store(entries.max(1), Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> LogEntry {
        LogEntry {
            seq: 0,
            time: String::new(),
            method: "GET".into(),
            host: String::new(),
            path: path.into(),
            query: String::new(),
            status: 200,
            caller: None,
            request_id: String::new(),
            duration_ms: 0,
            fault: None,
        }
    }

    #[test]
    fn the_oldest_entries_go_beyond_the_capacity_and_sequence_numbers_count_all() {
        let log = RequestLog::default();
        log.set_capacity(2);
        for p in ["/a", "/b", "/c"] {
            log.push(entry(p));
        }
        let kept: Vec<(u64, String)> = log.entries().into_iter().map(|e| (e.seq, e.path)).collect();
        assert_eq!(kept, vec![(2, "/b".to_string()), (3, "/c".to_string())]);
        // Shrinking drops the oldest at the next entry; growing keeps more from then on.
        log.set_capacity(1);
        log.push(entry("/d"));
        assert_eq!(log.entries().len(), 1);
        log.set_capacity(3);
        log.push(entry("/e"));
        log.push(entry("/f"));
        let paths: Vec<String> = log.entries().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, vec!["/d", "/e", "/f"]);
    }
}
