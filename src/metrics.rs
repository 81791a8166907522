//! Prometheus metrics, kept in memory with fixed label values and written in the text
//! exposition format: reconciles and errors by controller and category, reconcile duration, the
//! state of each control across stores, and Azure requests by provider, operation and status
//! class (read from the Azure clients' counters at scrape time).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::api::common::ControlState;
use crate::azure::AzureClient;

const BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Default)]
struct Histogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    reconciles: BTreeMap<(String, &'static str), u64>,
    errors: BTreeMap<(String, String), u64>,
    durations: BTreeMap<String, Histogram>,
    /// Resource Graph sweeps by result, stores they covered, stores they woke.
    sweeps: BTreeMap<&'static str, u64>,
    swept: u64,
    woken: u64,
}

/// Where the control gauge comes from at scrape time: the states of every control of every
/// object the controllers currently cache (so deleted objects disappear with them).
pub type ControlSource = Box<dyn Fn() -> Vec<(String, ControlState)> + Send + Sync>;

/// The operator's metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    controls: std::sync::OnceLock<ControlSource>,
}

fn state_label(state: ControlState) -> &'static str {
    match state {
        ControlState::Compliant => "Compliant",
        ControlState::Drifted => "Drifted",
        ControlState::Remediated => "Remediated",
        ControlState::Exempt => "Exempt",
        ControlState::NotApplicable => "NotApplicable",
        ControlState::Error => "Error",
    }
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One reconcile finished.
    pub fn reconciled(&self, controller: &str, took: Duration, ok: bool) {
        let mut m = self.lock();
        *m.reconciles
            .entry((controller.to_string(), if ok { "success" } else { "error" }))
            .or_default() += 1;
        let h = m.durations.entry(controller.to_string()).or_default();
        if h.buckets.is_empty() {
            h.buckets = vec![0; BUCKETS.len()];
        }
        let secs = took.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// A reconcile ended in `category` (a fixed `Ready` reason or error class).
    pub fn reconcile_error(&self, controller: &str, category: &str) {
        *self
            .lock()
            .errors
            .entry((controller.to_string(), category.to_string()))
            .or_default() += 1;
    }

    /// One Resource Graph drift sweep over `stores` stores, of which `woken` are re-read.
    pub fn drift_sweep(&self, ok: bool, stores: usize, woken: usize) {
        let mut m = self.lock();
        *m.sweeps
            .entry(if ok { "success" } else { "error" })
            .or_default() += 1;
        m.swept += stores as u64;
        m.woken += woken as u64;
    }

    /// Sets where the control gauge is read from (once, when the controllers start).
    pub fn set_control_source(&self, source: ControlSource) {
        let _ = self.controls.set(source);
    }

    /// Controls by id and state, every state listed for every id seen.
    fn control_counts(&self) -> BTreeMap<(String, &'static str), i64> {
        let mut counts = BTreeMap::new();
        let Some(source) = self.controls.get() else {
            return counts;
        };
        for (id, state) in source() {
            *counts.entry((id, state_label(state))).or_insert(0) += 1;
        }
        counts
    }

    /// The exposition text, with the Azure clients' request counters.
    pub fn render(&self, azure: &[AzureClient]) -> String {
        let m = self.lock();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP hipaa_reconciles_total Reconciles by controller and result."
        );
        let _ = writeln!(out, "# TYPE hipaa_reconciles_total counter");
        for ((controller, result), n) in &m.reconciles {
            let _ = writeln!(
                out,
                "hipaa_reconciles_total{{controller=\"{}\",result=\"{result}\"}} {n}",
                esc(controller)
            );
        }
        let _ = writeln!(
            out,
            "# HELP hipaa_reconcile_errors_total Failed or not-ready reconciles by controller and category."
        );
        let _ = writeln!(out, "# TYPE hipaa_reconcile_errors_total counter");
        for ((controller, category), n) in &m.errors {
            let _ = writeln!(
                out,
                "hipaa_reconcile_errors_total{{controller=\"{}\",category=\"{}\"}} {n}",
                esc(controller),
                esc(category)
            );
        }
        let _ = writeln!(
            out,
            "# HELP hipaa_reconcile_duration_seconds Reconcile duration by controller."
        );
        let _ = writeln!(out, "# TYPE hipaa_reconcile_duration_seconds histogram");
        for (controller, h) in &m.durations {
            let c = esc(controller);
            for (bound, n) in BUCKETS.iter().zip(&h.buckets) {
                let _ = writeln!(
                    out,
                    "hipaa_reconcile_duration_seconds_bucket{{controller=\"{c}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "hipaa_reconcile_duration_seconds_bucket{{controller=\"{c}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "hipaa_reconcile_duration_seconds_sum{{controller=\"{c}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "hipaa_reconcile_duration_seconds_count{{controller=\"{c}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP hipaa_controls Controls across all stores by control id and state."
        );
        let _ = writeln!(out, "# TYPE hipaa_controls gauge");
        for ((id, state), n) in &self.control_counts() {
            let _ = writeln!(
                out,
                "hipaa_controls{{id=\"{}\",state=\"{state}\"}} {n}",
                esc(id)
            );
        }
        let _ = writeln!(
            out,
            "# HELP hipaa_azure_requests_total Azure requests by provider, operation and status class."
        );
        let _ = writeln!(out, "# TYPE hipaa_azure_requests_total counter");
        let _ = writeln!(
            out,
            "# HELP hipaa_azure_request_duration_seconds_total Time spent in Azure requests."
        );
        let _ = writeln!(
            out,
            "# TYPE hipaa_azure_request_duration_seconds_total counter"
        );
        let mut totals: BTreeMap<(String, String, String), (u64, f64)> = BTreeMap::new();
        let mut waited = 0.0;
        for client in azure {
            let stats = client.stats();
            for (key, n, d) in stats.snapshot() {
                let e = totals
                    .entry((key.provider, key.operation, key.status_class))
                    .or_default();
                e.0 += n;
                e.1 += d.as_secs_f64();
            }
            waited += stats.budget_wait().as_secs_f64();
        }
        for ((provider, operation, class), (n, secs)) in &totals {
            let labels = format!(
                "provider=\"{}\",operation=\"{}\",status_class=\"{}\"",
                esc(provider),
                esc(operation),
                esc(class)
            );
            let _ = writeln!(out, "hipaa_azure_requests_total{{{labels}}} {n}");
            let _ = writeln!(
                out,
                "hipaa_azure_request_duration_seconds_total{{{labels}}} {secs}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP hipaa_azure_budget_wait_seconds_total Time spent waiting for the Azure request budget."
        );
        let _ = writeln!(out, "# TYPE hipaa_azure_budget_wait_seconds_total counter");
        let _ = writeln!(out, "hipaa_azure_budget_wait_seconds_total {waited}");
        let _ = writeln!(
            out,
            "# HELP hipaa_drift_sweeps_total Resource Graph drift sweeps by result."
        );
        let _ = writeln!(out, "# TYPE hipaa_drift_sweeps_total counter");
        for result in ["success", "error"] {
            let n = m.sweeps.get(result).copied().unwrap_or(0);
            let _ = writeln!(out, "hipaa_drift_sweeps_total{{result=\"{result}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP hipaa_drift_swept_stores_total Stores compared with Resource Graph by the sweeps."
        );
        let _ = writeln!(out, "# TYPE hipaa_drift_swept_stores_total counter");
        let _ = writeln!(out, "hipaa_drift_swept_stores_total {}", m.swept);
        let _ = writeln!(
            out,
            "# HELP hipaa_drift_woken_stores_total Stores a sweep saw change (or could not check) and re-read."
        );
        let _ = writeln!(out, "# TYPE hipaa_drift_woken_stores_total counter");
        let _ = writeln!(out, "hipaa_drift_woken_stores_total {}", m.woken);
        out
    }
}

/// Escapes a label value (backslash, quote, newline).
fn esc(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_control_states() {
        let m = Metrics::default();
        m.reconciled("phistore", Duration::from_millis(30), true);
        m.reconciled("phistore", Duration::from_secs(2), false);
        m.reconcile_error("phistore", "Forbidden");
        let live = std::sync::Arc::new(Mutex::new(vec![
            ("storage.min-tls-1-2".to_string(), ControlState::Remediated),
            ("storage.min-tls-1-2".to_string(), ControlState::Remediated),
            ("storage.https-only".to_string(), ControlState::Drifted),
        ]));
        let source = live.clone();
        m.set_control_source(Box::new(move || {
            source.lock().unwrap_or_else(|p| p.into_inner()).clone()
        }));
        let text = m.render(&[]);
        assert!(
            text.contains("hipaa_reconciles_total{controller=\"phistore\",result=\"success\"} 1"),
            "{text}"
        );
        assert!(text.contains(
            "hipaa_reconcile_errors_total{controller=\"phistore\",category=\"Forbidden\"} 1"
        ));
        assert!(text.contains(
            "hipaa_reconcile_duration_seconds_bucket{controller=\"phistore\",le=\"0.05\"} 1"
        ));
        assert!(text.contains("hipaa_reconcile_duration_seconds_count{controller=\"phistore\"} 2"));
        assert!(text.contains("hipaa_controls{id=\"storage.min-tls-1-2\",state=\"Remediated\"} 2"));
        assert!(text.contains("hipaa_controls{id=\"storage.https-only\",state=\"Drifted\"} 1"));
        // An object deleted from the caches leaves the gauge at the next scrape.
        live.lock().unwrap_or_else(|p| p.into_inner()).truncate(1);
        let text = m.render(&[]);
        assert!(text.contains("hipaa_controls{id=\"storage.min-tls-1-2\",state=\"Remediated\"} 1"));
        assert!(!text.contains("storage.https-only"));
        assert_eq!(esc("a\"b\\c"), "a\\\"b\\\\c");
    }
}
