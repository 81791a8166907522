//! The scale benchmark: N storage-account PhiStores, non-compliant at the start, in Enforce
//! mode, reconciled by the real operator binary against the real API server and azure-sim.
//!
//! ```text
//! cargo bench --bench scale -- --stores 100,1000,5000 --latency-ms 0,100 \
//!     [--interval-secs 15] [--steady-intervals 2] [--leak-intervals 20] \
//!     [--operator-arg --max-concurrent-reconciles=64]
//! ```
//!
//! For each size and latency it reports: time from the first apply to every store `Ready`;
//! Azure requests by kind during convergence; Kubernetes writes; reconcile latency p50/p99 (from
//! the operator's histogram); operator CPU seconds and peak RSS; then, in steady state, Azure
//! reads and writes per drift interval and the operator's CPU share over the window (and over
//! its quietest 80 % of seconds, between the bursts of each interval's sweep); and with
//! `--leak-intervals`, RSS after 2 and after that many intervals. With latency, every simulator
//! call waits that long and long-running operations take two seconds. The simulator's ARM
//! throttling and the operator's request budget are lifted so that the operator's own overhead
//! is what is measured (ARM's limits are discussed in the README).
//!
//! To profile the operator, `HIPAA_OPERATOR_WRAPPER` names a program to start it through, e.g.
//! a script that runs `exec heaptrack -o /tmp/op "$@"`; the CPU and RSS figures are then the
//! wrapper's, and the profile is written when the operator exits (SIGTERM it after the run).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use hipaa_operator::api::PhiStore;
use kube::Api;
use serde_json::{Value, json};
use support::estate::{Estate, is_ready};
use support::sim::{OPERATOR_OBJECT_ID, RG};

struct Options {
    stores: Vec<usize>,
    latency_ms: Vec<u64>,
    interval_secs: u64,
    steady_intervals: u64,
    leak_intervals: u64,
    /// More operator flags (`--operator-arg --max-concurrent-reconciles=64`), repeatable.
    operator_args: Vec<String>,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let list = |flag: &str, default: &str| -> Vec<u64> {
        value(flag)
            .unwrap_or_else(|| default.to_string())
            .split(',')
            .filter_map(|v| v.trim().parse().ok())
            .collect()
    };
    Options {
        stores: list("--stores", "100,1000")
            .into_iter()
            .map(|n| n as usize)
            .collect(),
        latency_ms: list("--latency-ms", "0,100"),
        interval_secs: list("--interval-secs", "15").first().copied().unwrap_or(15),
        steady_intervals: list("--steady-intervals", "2")
            .first()
            .copied()
            .unwrap_or(2),
        leak_intervals: list("--leak-intervals", "0").first().copied().unwrap_or(0),
        operator_args: args
            .windows(2)
            .filter(|w| w[0] == "--operator-arg")
            .map(|w| w[1].clone())
            .collect(),
    }
}

fn account(i: usize) -> String {
    format!("{RG}/providers/Microsoft.Storage/storageAccounts/stscale{i:05}")
}

fn store(i: usize) -> PhiStore {
    support::estate::storage_store(&format!("scale-{i:05}"), &account(i))
}

/// `(rss, peak rss)` in MiB and CPU seconds (user + system) of a process.
fn usage(pid: u32) -> (f64, f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        rest.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 after the command.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0, cpu)
}

/// The kind of an Azure request: method and the last resource type in its path.
fn kind(r: &Value) -> String {
    let method = r["method"].as_str().unwrap_or_default();
    let path = r["path"].as_str().unwrap_or_default();
    let host = r["host"].as_str().unwrap_or_default();
    if path.contains("/oauth2/") {
        return "token".into();
    }
    if host.contains(".vault.") || path.starts_with("/keys") {
        return format!(
            "{method} keyvault/{}",
            path.split('/').nth(1).unwrap_or_default()
        );
    }
    let segments: Vec<&str> = path.split('/').collect();
    let mut types = Vec::new();
    let mut i = 0;
    while i < segments.len() {
        if segments[i].eq_ignore_ascii_case("providers") && i + 2 < segments.len() {
            let mut j = i + 2;
            while j < segments.len() && !segments[j].eq_ignore_ascii_case("providers") {
                types.push(segments[j]);
                j += 2;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    format!("{method} {}", types.last().copied().unwrap_or("other"))
}

fn count_kinds(requests: &[Value]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in requests.iter().filter(|r| {
        r["caller"].as_str() == Some(OPERATOR_OBJECT_ID)
            || r["path"].as_str().is_some_and(|p| p.contains("/oauth2/"))
    }) {
        *out.entry(kind(r)).or_default() += 1;
    }
    out
}

fn is_read(kind: &str) -> bool {
    kind.starts_with("GET ") || kind == "POST resources" || kind.ends_with("summarize")
}

/// Kubernetes writes by the operator (status patches and events), by verb and resource, from
/// the API server's counters.
async fn kube_writes(client: &kube::Client) -> BTreeMap<String, u64> {
    let text = client
        .request_text(
            http::Request::get("/metrics")
                .body(Vec::new())
                .expect("request"),
        )
        .await
        .unwrap_or_default();
    let label = |line: &str, key: &str| {
        line.split(&format!("{key}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_string()
    };
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let verb = label(line, "verb");
        let resource = label(line, "resource");
        let subresource = label(line, "subresource");
        let write = ["PATCH", "APPLY", "PUT", "POST", "DELETE"].contains(&verb.as_str());
        let ours = ["phistores", "hipaaworkspaces", "accessreviews", "events"]
            .contains(&resource.as_str());
        // The benchmark's own creates are POSTs of phistores.
        let created = verb == "POST" && resource == "phistores";
        if write && ours && !created {
            let n = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
            *out.entry(format!(
                "{verb} {resource}{}{subresource}",
                if subresource.is_empty() { "" } else { "/" }
            ))
            .or_default() += n as u64;
        }
    }
    out
}

fn minus(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// Stores the Resource Graph sweeps have woken, from the operator's metrics.
fn woken(metrics: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with("hipaa_drift_woken_stores_total "))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// p50 and p99 of the operator's PhiStore reconcile histogram (bucket upper bounds).
fn quantiles(metrics: &str) -> (String, String) {
    let mut buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("hipaa_reconcile_duration_seconds_bucket{")
                && l.contains("controller=\"phistore\"")
        })
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().map(|b| b.1).unwrap_or(0.0);
    let q = |p: f64| {
        buckets
            .iter()
            .find(|(_, n)| *n >= p * total)
            .map(|(le, _)| {
                if le.is_infinite() {
                    ">max".to_string()
                } else {
                    format!("≤{le}s")
                }
            })
            .unwrap_or_else(|| "-".into())
    };
    (q(0.5), q(0.99))
}

async fn run(n: usize, latency_ms: u64, o: &Options, report: &mut String) {
    let e = Estate::test(&format!("scale-{n}-{latency_ms}"))
        .enforce()
        .with_leader_election()
        .workspace_spec(json!({"driftCheckInterval": format!("PT{}S", o.interval_secs)}))
        .args([
            "--azure-reads-per-hour",
            "1000000000",
            "--azure-writes-per-hour",
            "1000000000",
            "--azure-burst",
            "100000",
        ])
        .args(o.operator_args.iter().cloned())
        .env(
            "HIPAA_LOG",
            "info,hipaa_operator::controller::workspace=debug",
        )
        .start()
        .await;
    e.sim
        .set_config(json!({
            "throttle": {"enabled": false},
            "lroDurationMs": if latency_ms > 0 { 2000 } else { 0 },
            // Every request of the run, not the last 100,000.
            "requestLogEntries": (n * 60).max(100_000),
        }))
        .await;
    if latency_ms > 0 {
        e.sim
            .fault(json!({"path": "*", "action": {"kind": "latency", "ms": latency_ms}}))
            .await;
    }
    let resources: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": account(i), "body": {
                "location": "eastus2", "kind": "StorageV2", "sku": {"name": "Standard_LRS"},
                "properties": {"minimumTlsVersion": "TLS1_0", "allowBlobPublicAccess": true,
                               "supportsHttpsTrafficOnly": false, "publicNetworkAccess": "Enabled"}}})
        })
        .collect();
    for chunk in resources.chunks(500) {
        e.sim
            .admin(
                reqwest::Method::POST,
                "seed",
                Some(json!({ "resources": chunk })),
            )
            .await;
    }
    support::estate::workspace_settled(&e, Duration::from_secs(300)).await;
    let client = control_plane::shared().client().await.expect("client");
    e.sim.clear_log().await;
    let kube_before = kube_writes(&client).await;
    let (_, _, cpu_before) = usage(e.operator.pid());
    let started = Instant::now();
    let api: Api<PhiStore> = e.stores.clone();
    for i in 0..n {
        api.create(&Default::default(), &store(i))
            .await
            .expect("create store");
    }
    let applied = started.elapsed();
    let deadline = started + Duration::from_secs(3600);
    loop {
        let list = api.list(&Default::default()).await.expect("stores");
        let ready_count = list.items.iter().filter(|s| is_ready(s)).count();
        if ready_count == n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{ready_count} of {n} Ready after an hour"
        );
        println!(
            "{:.0} s: {ready_count} of {n} Ready",
            started.elapsed().as_secs_f64()
        );
        // Listing every store costs the API server (and this process) in proportion to N: poll
        // less often for more stores, so the benchmark does not slow down what it measures.
        tokio::time::sleep(Duration::from_secs((n as u64 / 250).clamp(2, 20))).await;
    }
    let converged = started.elapsed();
    let (rss_converged, peak, cpu_after) = usage(e.operator.pid());
    let kube_converge = minus(&kube_writes(&client).await, &kube_before);
    let requests = e.sim.requests().await;
    let kinds = count_kinds(&requests);
    let total_azure: u64 = kinds.values().sum();
    let metrics = e
        .operator
        .get(e.operator.metrics, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let (p50, p99) = quantiles(&metrics);

    // Steady state: once the read-back passes after the last remediations have run (no
    // PhiStore reconcile for ten seconds), whole drift intervals are counted.
    let reconciles = |m: &str| -> f64 {
        m.lines()
            .filter(|l| {
                l.starts_with("hipaa_reconciles_total{") && l.contains("controller=\"phistore\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let scrape = || {
        e.operator
            .get(e.operator.metrics, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default()
    };
    let mut last = reconciles(&scrape());
    let mut quiet_since = Instant::now();
    let quiet_deadline = Instant::now() + Duration::from_secs(1800);
    while quiet_since.elapsed() < Duration::from_secs(10) && Instant::now() < quiet_deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = reconciles(&scrape());
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    let quiet = started.elapsed() - Duration::from_secs(10);
    let woken_before = woken(&scrape());
    e.sim.clear_log().await;
    let kube_steady_before = kube_writes(&client).await;
    let (_, _, cpu_steady_before) = usage(e.operator.pid());
    let window = Duration::from_secs(o.interval_secs * o.steady_intervals);
    // CPU second by second: each drift interval's work (the Resource Graph sweep, the
    // workspace's own pass) comes in a burst of a second or two; the quietest seconds show
    // what the operator costs between them.
    let mut seconds = Vec::new();
    let mut previous = cpu_steady_before;
    let window_end = Instant::now() + window;
    while Instant::now() < window_end {
        tokio::time::sleep(Duration::from_secs(1).min(window_end - Instant::now())).await;
        let (_, _, cpu) = usage(e.operator.pid());
        seconds.push(cpu - previous);
        previous = cpu;
    }
    seconds.sort_by(f64::total_cmp);
    let quiet_seconds = &seconds[..(seconds.len() * 4 / 5).max(1)];
    let between_cpu = quiet_seconds.iter().sum::<f64>() / quiet_seconds.len() as f64 * 100.0;
    let (rss_steady, _, cpu_steady_after) = usage(e.operator.pid());
    let steady = count_kinds(&e.sim.requests().await);
    let steady_reads: u64 = steady
        .iter()
        .filter(|(k, _)| is_read(k))
        .map(|(_, v)| v)
        .sum();
    let steady_writes: u64 = steady
        .iter()
        .filter(|(k, _)| !is_read(k) && k.as_str() != "token")
        .map(|(_, v)| v)
        .sum();
    let graph = steady.get("POST resources").copied().unwrap_or(0);
    let kube_steady = minus(&kube_writes(&client).await, &kube_steady_before);
    let woken_steady = woken(&scrape()) - woken_before;
    let idle_cpu = (cpu_steady_after - cpu_steady_before) / window.as_secs_f64() * 100.0;
    let per_interval = |v: u64| v as f64 / o.steady_intervals as f64;

    let _ = writeln!(
        report,
        "| {n} | {latency_ms} ms | {:.1} s (applied in {:.1} s; last read-back {:.0} s) | {total_azure} | {} | {p50} / {p99} | {:.1} s | {peak:.0} MiB | {:.1} ({graph} Resource Graph) | {:.1} | {} | {idle_cpu:.2} % ({between_cpu:.2} %) | {rss_converged:.0} → {rss_steady:.0} MiB |",
        converged.as_secs_f64(),
        applied.as_secs_f64(),
        quiet.as_secs_f64(),
        kube_converge.values().sum::<u64>(),
        cpu_after - cpu_before,
        per_interval(steady_reads),
        per_interval(steady_writes),
        kube_steady.values().sum::<u64>(),
    );
    println!(
        "last read-back pass {:.1} s after the first apply; stores woken by sweeps in steady state: {woken_steady}",
        quiet.as_secs_f64()
    );
    println!(
        "Kubernetes writes while converging: {kube_converge:?}; in steady state: {kube_steady:?}"
    );
    let mut detail = String::new();
    for (k, v) in &kinds {
        let _ = write!(detail, "{k}: {v}; ");
    }
    println!("convergence requests by kind ({n} stores, {latency_ms} ms): {detail}");
    println!("steady requests by kind: {steady:?}");

    if o.leak_intervals > 2 {
        // RSS after 2 intervals (above) and after `leak_intervals`.
        let more = Duration::from_secs(o.interval_secs * (o.leak_intervals - o.steady_intervals));
        tokio::time::sleep(more).await;
        let (rss_late, _, _) = usage(e.operator.pid());
        let growth = (rss_late - rss_steady) / rss_steady * 100.0;
        let _ = writeln!(
            report,
            "|  leak check, {n} stores, {latency_ms} ms: RSS {rss_steady:.1} MiB after {} intervals, {rss_late:.1} MiB after {} ({growth:+.1} %) |",
            o.steady_intervals, o.leak_intervals
        );
    }
    e.ns.delete().await.expect("delete namespace");
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut report = String::from(
        "| stores | latency | apply → all Ready | Azure requests (converge) | Kubernetes writes (converge) | reconcile p50 / p99 | operator CPU (converge) | peak RSS | Azure reads / interval (steady; Resource Graph queries in the window) | Azure writes / interval | Kubernetes writes (steady) | idle CPU: window (quietest 80 % of seconds) | RSS converged → steady |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for &n in &o.stores {
        for &latency in &o.latency_ms {
            runtime.block_on(run(n, latency, &o, &mut report));
            println!("{report}");
        }
    }
    let out = support::repo().join("target").join("scale-report.md");
    let _ = std::fs::write(&out, &report);
    println!("{report}\n(written to {})", out.display());
}
