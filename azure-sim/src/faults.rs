//! Injected faults: per method and path pattern, answer with a status, add latency, drop the
//! connection or make the next long-running operation fail; N times or at a rate.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::authz::action_matches;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "kind"
)]
pub enum FaultAction {
    /// Answer with this status and an ARM error body instead of the simulator.
    Status {
        status: u16,
        #[serde(default = "default_code")]
        code: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// Wait, then let the simulator answer.
    Latency { ms: u64 },
    /// Close the connection without an answer.
    Drop,
    /// Let the request start its long-running operation, and make that operation end Failed.
    FailOperation {
        #[serde(default = "default_code")]
        code: String,
        #[serde(default)]
        message: String,
    },
}

fn default_code() -> String {
    "InternalServerError".to_string()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    #[serde(default)]
    pub id: String,
    /// HTTP method, or `*` (the default).
    #[serde(default = "star")]
    pub method: String,
    /// Path glob, case-insensitive, `*` matches anything (including `/`).
    pub path: String,
    pub action: FaultAction,
    /// Fire at most this many times (absent: unlimited).
    #[serde(default)]
    pub times: Option<u64>,
    /// Fire on this fraction of matching requests, spread evenly (absent: every one).
    #[serde(default)]
    pub rate: Option<f64>,
    #[serde(default)]
    pub matched: u64,
    #[serde(default)]
    pub fired: u64,
}

fn star() -> String {
    "*".to_string()
}

#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
}

impl Faults {
    pub fn add(&self, mut rule: FaultRule) -> FaultRule {
        let mut rules = self.lock();
        if rule.id.is_empty() {
            rule.id = uuid::Uuid::new_v4().to_string();
        }
        rule.matched = 0;
        rule.fired = 0;
        rules.push(rule.clone());
        rule
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.lock().clone()
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn remove(&self, id: &str) -> bool {
        let mut rules = self.lock();
        let before = rules.len();
        rules.retain(|r| r.id != id);
        rules.len() != before
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        match self.rules.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The first rule of the wanted family that matches and is due to fire; counts it.
    pub fn take(&self, method: &str, path: &str, want_lro: bool) -> Option<(String, FaultAction)> {
        let mut rules = self.lock();
        for r in rules.iter_mut() {
            let is_lro = matches!(r.action, FaultAction::FailOperation { .. });
            if is_lro != want_lro {
                continue;
            }
            if r.method != "*" && !r.method.eq_ignore_ascii_case(method) {
                continue;
            }
            if !action_matches(&r.path, path) {
                continue;
            }
            if r.times.is_some_and(|t| r.fired >= t) {
                continue;
            }
            r.matched += 1;
            let due = match r.rate {
                None => true,
                // Deterministic spreading: fire whenever floor(matched * rate) grows.
                Some(rate) => {
                    let rate = rate.clamp(0.0, 1.0);
                    ((r.matched as f64) * rate).floor() > (((r.matched - 1) as f64) * rate).floor()
                }
            };
            if due {
                r.fired += 1;
                return Some((r.id.clone(), r.action.clone()));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(times: Option<u64>, rate: Option<f64>) -> FaultRule {
        FaultRule {
            id: String::new(),
            method: "GET".into(),
            path: "/subscriptions/*/storageAccounts/*".into(),
            action: FaultAction::Drop,
            times,
            rate,
            matched: 0,
            fired: 0,
        }
    }

    #[test]
    fn fires_n_times_then_stops() {
        let f = Faults::default();
        f.add(rule(Some(2), None));
        let p = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a";
        assert!(f.take("GET", p, false).is_some());
        assert!(f.take("PUT", p, false).is_none());
        assert!(f.take("get", p, false).is_some());
        assert!(f.take("GET", p, false).is_none());
    }

    #[test]
    fn rate_spreads_evenly() {
        let f = Faults::default();
        f.add(rule(None, Some(0.25)));
        let p = "/subscriptions/s/x/storageAccounts/a";
        let fired = (0..100)
            .filter(|_| f.take("GET", p, false).is_some())
            .count();
        assert_eq!(fired, 25);
    }
}
