//! Call statistics for metrics: the count and total latency of Azure calls by provider,
//! operation and status class, and the time spent waiting for the request budget.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// One Azure call, as counted for metrics.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallKey {
    /// Resource provider, e.g. `Microsoft.Storage` or `KeyVault`.
    pub provider: String,
    /// Operation id, e.g. `StorageAccounts_Update`.
    pub operation: String,
    /// `2xx`, `4xx`, `5xx` or `error` (no response).
    pub status_class: String,
}

/// Count and total latency of calls, by provider, operation and status class.
#[derive(Debug, Default)]
pub struct CallStats {
    calls: Mutex<HashMap<CallKey, (u64, Duration)>>,
    pub(super) budget_wait: Mutex<Duration>,
}

impl CallStats {
    pub(super) fn record(&self, key: CallKey, elapsed: Duration) {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let entry = calls.entry(key).or_default();
        entry.0 += 1;
        entry.1 += elapsed;
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> Vec<(CallKey, u64, Duration)> {
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = calls
            .iter()
            .map(|(k, (n, d))| (k.clone(), *n, *d))
            .collect();
        out.sort_by(|a, b| {
            (&a.0.provider, &a.0.operation, &a.0.status_class).cmp(&(
                &b.0.provider,
                &b.0.operation,
                &b.0.status_class,
            ))
        });
        out
    }

    /// Total time spent waiting for the request budget.
    pub fn budget_wait(&self) -> Duration {
        *self.budget_wait.lock().unwrap_or_else(|p| p.into_inner())
    }
}
