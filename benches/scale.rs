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
//! call waits that long and long-running operations take two seconds (`--lro-ms` sets another
//! duration, also without latency). By default the simulator's ARM throttling and the operator's
//! request budget are lifted so that the operator's own overhead is what is measured.
//!
//! The physical limit (#17): `--throttle arm` turns the simulator's throttling on at ARM's
//! token-bucket rates (per subscription and principal: reads a bucket of 250 refilling 25 a
//! second, writes and deletes each 200 refilling 10 a second) and sets the operator's budget to
//! the same rates (`--azure-reads-per-hour 90000 --azure-writes-per-hour 36000 --azure-burst
//! 200`); `--subscriptions 1,4` spreads the stores evenly over that many subscriptions, each
//! with its own resource group, workspace safeguards and `HipaaWorkspace`. From the simulator's
//! request log it then reports, per subscription, the operator's ARM reads, writes and deletes
//! while converging; the lower bound on convergence, the largest over subscriptions of
//! max(reads ÷ 25/s, writes ÷ 10/s, deletes ÷ 10/s) (subscriptions are throttled in parallel);
//! measured ÷ bound; the 429s the simulator sent (its own count); and the Azure requests per
//! store by kind. The bound ignores the buckets' initial contents (250 reads, 200 writes), which
//! a run may spend on top of the refill.
//!
//! ```text
//! cargo bench --bench scale -- --stores 1000 --latency-ms 0 --throttle arm --subscriptions 1,4
//! ```
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
use support::estate::{Estate, is_ready, workspace};
use support::sim::{OPERATOR_OBJECT_ID, RG, SUBSCRIPTION};

struct Options {
    stores: Vec<usize>,
    latency_ms: Vec<u64>,
    interval_secs: u64,
    steady_intervals: u64,
    leak_intervals: u64,
    /// More operator flags (`--operator-arg --max-concurrent-reconciles=64`), repeatable.
    operator_args: Vec<String>,
    /// ARM throttling in the simulator and the operator's budget at ARM's rates.
    throttle_arm: bool,
    /// Numbers of subscriptions the stores are spread over.
    subscriptions: Vec<usize>,
    /// Duration of long-running operations; by default 2 s with latency, 0 without.
    lro_ms: Option<u64>,
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
        throttle_arm: match value("--throttle").as_deref() {
            None | Some("off") => false,
            Some("arm") => true,
            Some(other) => panic!("--throttle is `arm` or `off`, not {other:?}"),
        },
        subscriptions: list("--subscriptions", "1")
            .into_iter()
            .map(|n| (n as usize).max(1))
            .collect(),
        lro_ms: list("--lro-ms", "").first().copied(),
    }
}

/// ARM's token-bucket refill rates per subscription and principal (reads, writes, deletes a
/// second): "Understand how Azure Resource Manager throttles requests", learn.microsoft.com.
const ARM_READS_PER_SEC: f64 = 25.0;
const ARM_WRITES_PER_SEC: f64 = 10.0;
const ARM_DELETES_PER_SEC: f64 = 10.0;

/// Subscription `s` of the run: the example's for 0, made-up ids after it.
fn subscription(s: usize) -> String {
    if s == 0 {
        SUBSCRIPTION.to_string()
    } else {
        format!("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f{s:04x}")
    }
}

/// The example's text moved to subscription `s`: its ids, and the names that are global in
/// Azure (vaults, storage accounts) made unique. Subscription 0 is the example itself.
fn moved(text: &str, s: usize) -> String {
    if s == 0 {
        return text.to_string();
    }
    text.replace(SUBSCRIPTION, &subscription(s))
        .replace("kv-clinical-cmk", &format!("kv-clinical-cmk-{s}"))
        .replace("stclinicalauditarchive", &format!("stclinicalauditarch{s}"))
}

/// The resource group of subscription `s`.
fn group(s: usize) -> String {
    moved(RG, s)
}

/// The workspace name of subscription `s`.
fn workspace_name(s: usize) -> String {
    if s == 0 {
        "clinical".into()
    } else {
        format!("clinical-{s}")
    }
}

/// What subscription `s` needs for a workspace of its own, seeded into the simulator: the
/// example estate's subscription, resource group, network, DNS zones, Log Analytics workspace,
/// key vault, archive account, Defender plans and role assignments (the stores' accounts are
/// seeded apart).
fn subscription_seed(s: usize) -> Value {
    let text = std::fs::read_to_string(support::repo().join("examples/azure-estate.yaml"))
        .expect("estate");
    let seed = azure_sim::seed::parse(&moved(&text, s)).expect("the estate parses");
    let keep = |id: &str| {
        let id = id.to_ascii_lowercase();
        [
            "/virtualnetworks/",
            "/privatednszones/",
            "/microsoft.operationalinsights/",
            // The subscription's Defender plans (storage.defender reads StorageAccounts).
            "/microsoft.security/pricings/",
        ]
        .iter()
        .any(|t| id.contains(t))
            || id.ends_with(&format!("/vaults/{}", moved("kv-clinical-cmk", s)))
            || id.ends_with(&format!(
                "/storageaccounts/{}",
                moved("stclinicalauditarchive", s)
            ))
    };
    let resources: Vec<_> = seed.resources.iter().filter(|r| keep(&r.id)).collect();
    // Role assignments on a resource that is not seeded here would not apply.
    let assignments: Vec<_> = seed
        .role_assignments
        .iter()
        .filter(|a| !a.scope.to_ascii_lowercase().contains("/providers/") || keep(&a.scope))
        .collect();
    json!({
        "subscriptions": seed.subscriptions,
        "resourceGroups": seed.resource_groups,
        "resources": resources,
        "roleAssignments": assignments,
    })
}

/// ARM calls of the operator by subscription: `[reads, writes, deletes]` and 429s, by the
/// simulator's own rule (GET and HEAD read, DELETE deletes, the rest write). Key Vault's data
/// plane and token requests are not ARM; tenant-level calls (Resource Graph) are under "".
fn arm_calls(requests: &[Value]) -> (BTreeMap<String, [u64; 3]>, u64) {
    let mut out: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    let mut throttled = 0;
    for r in requests {
        if r["caller"].as_str() != Some(OPERATOR_OBJECT_ID) {
            continue;
        }
        let host = r["host"].as_str().unwrap_or_default();
        let path = r["path"].as_str().unwrap_or_default();
        if host.contains(".vault.") || path.contains("/oauth2/") || path.starts_with("/_sim") {
            continue;
        }
        let mut segments = path.trim_start_matches('/').split('/');
        let sub = match (segments.next(), segments.next()) {
            (Some(s), Some(id)) if s.eq_ignore_ascii_case("subscriptions") => {
                id.to_ascii_lowercase()
            }
            _ => String::new(),
        };
        let slot = match r["method"].as_str().unwrap_or_default() {
            "GET" | "HEAD" => 0,
            "DELETE" => 2,
            _ => 1,
        };
        out.entry(sub).or_default()[slot] += 1;
        if r["status"].as_u64() == Some(429) {
            throttled += 1;
        }
    }
    (out, throttled)
}

/// Account `i`, in subscription `i mod subs`.
fn account(i: usize, subs: usize) -> String {
    format!(
        "{}/providers/Microsoft.Storage/storageAccounts/stscale{i:05}",
        group(i % subs)
    )
}

fn store(i: usize, subs: usize) -> PhiStore {
    let mut store = support::estate::storage_store(&format!("scale-{i:05}"), &account(i, subs));
    store.spec.workspace_ref.name = workspace_name(i % subs);
    store
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

async fn run(
    n: usize,
    latency_ms: u64,
    subs: usize,
    o: &Options,
    report: &mut String,
    limits: &mut String,
) {
    let mut ws = workspace("Enforce", None);
    ws.spec.drift_check_interval = format!("PT{}S", o.interval_secs);
    let budget = if o.throttle_arm {
        // ARM's refill rates per subscription and principal, and a burst no larger than its
        // smaller bucket (writes, 200).
        ["90000", "36000", "200"]
    } else {
        ["1000000000", "1000000000", "100000"]
    };
    let mut operator_args: Vec<String> = vec![
        "--azure-reads-per-hour".into(),
        budget[0].into(),
        "--azure-writes-per-hour".into(),
        budget[1].into(),
        "--azure-burst".into(),
        budget[2].into(),
    ];
    operator_args.extend(o.operator_args.iter().cloned());
    let throttle = if o.throttle_arm { "arm" } else { "off" };
    let e = Estate::test(&format!("scale-{n}-{latency_ms}-{subs}s-{throttle}"))
        .enforce()
        .with_leader_election()
        .workspace_spec(json!({"driftCheckInterval": ws.spec.drift_check_interval}))
        .args(operator_args)
        .env(
            "HIPAA_LOG",
            "info,hipaa_operator::controller::workspace=debug",
        )
        .start()
        .await;
    let lro_ms = o.lro_ms.unwrap_or(if latency_ms > 0 { 2000 } else { 0 });
    e.sim
        .set_config(json!({
            "throttle": if o.throttle_arm {
                json!({"enabled": true, "readCapacity": 250, "readRefillPerSec": ARM_READS_PER_SEC,
                       "writeCapacity": 200, "writeRefillPerSec": ARM_WRITES_PER_SEC,
                       "deleteCapacity": 200, "deleteRefillPerSec": ARM_DELETES_PER_SEC})
            } else {
                json!({"enabled": false})
            },
            "lroDurationMs": lro_ms,
            // Every request of the run, not the last 100,000.
            "requestLogEntries": (n * 60).max(100_000),
        }))
        .await;
    if latency_ms > 0 {
        e.sim
            .fault(json!({"path": "*", "action": {"kind": "latency", "ms": latency_ms}}))
            .await;
    }
    // The other subscriptions: their safeguards, a grant of their resource groups to the
    // namespace, and a workspace each.
    let client = control_plane::shared().client().await.expect("client");
    let more_grant = format!("{}-more", e.ns.name);
    if subs > 1 {
        for s in 1..subs {
            e.sim
                .admin(reqwest::Method::POST, "seed", Some(subscription_seed(s)))
                .await;
        }
        let mut spec = support::estate::example_grant(&e.ns.name);
        spec["scopes"] = json!((1..subs).map(group).collect::<Vec<_>>());
        support::estate::grant(&client, &more_grant, spec).await;
        let text = serde_json::to_string(&ws).expect("workspace");
        for s in 1..subs {
            let mut other: hipaa_operator::api::HipaaWorkspace =
                serde_json::from_str(&moved(&text, s)).expect("workspace");
            other.metadata.name = Some(workspace_name(s));
            e.workspaces
                .create(&Default::default(), &other)
                .await
                .expect("create workspace");
        }
    }
    let resources: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": account(i, subs), "body": {
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
    for s in 0..subs {
        support::estate::workspace_named_settled(&e, &workspace_name(s), Duration::from_secs(300))
            .await;
    }
    e.sim.clear_log().await;
    let throttled_before = throttled(&e).await;
    let kube_before = kube_writes(&client).await;
    let (_, _, cpu_before) = usage(e.operator.pid());
    let started = Instant::now();
    let api: Api<PhiStore> = e.stores.clone();
    for i in 0..n {
        // The API server may answer a 5xx when etcd is slow under the load: a few more tries.
        let mut tries = 0;
        while let Err(e) = api.create(&Default::default(), &store(i, subs)).await {
            tries += 1;
            let server_error = matches!(&e, kube::Error::Api(s) if s.code >= 500) && tries < 5;
            assert!(server_error, "create store {i}: {e}");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let applied = started.elapsed();
    // At ARM's rates one subscription's writes alone take about a second per store.
    let limit = if o.throttle_arm {
        (3 * n / subs).max(3600) as u64
    } else {
        3600
    };
    let deadline = started + Duration::from_secs(limit);
    loop {
        let list = api.list(&Default::default()).await.expect("stores");
        let ready_count = list.items.iter().filter(|s| is_ready(s)).count();
        if ready_count == n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{ready_count} of {n} Ready after {limit} s"
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
    let throttled_converge = throttled(&e).await - throttled_before;
    let kinds = count_kinds(&requests);
    let total_azure: u64 = kinds.values().sum();
    let (by_subscription, logged_429) = arm_calls(&requests);
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
    let mut per_store = String::new();
    for (k, v) in kinds.iter().filter(|(k, _)| k.as_str() != "token") {
        let _ = write!(per_store, "{k} {:.2}; ", *v as f64 / n as f64);
    }
    let store_reads: u64 = kinds
        .iter()
        .filter(|(k, _)| is_read(k))
        .map(|(_, v)| v)
        .sum();
    let store_requests: u64 = kinds
        .iter()
        .filter(|(k, _)| k.as_str() != "token")
        .map(|(_, v)| v)
        .sum();
    println!(
        "Azure requests per store while converging ({n} stores; the workspaces' own reads included): {:.1} ({:.1} reads): {per_store}",
        store_requests as f64 / n as f64,
        store_reads as f64 / n as f64
    );
    // The physical limit: per subscription, the time ARM's refill takes for what was sent.
    let mut bound = 0.0f64;
    let mut binding = String::new();
    let mut per_sub = String::new();
    for (sub, [reads, writes, deletes]) in &by_subscription {
        let t = [
            (*reads as f64 / ARM_READS_PER_SEC, "reads"),
            (*writes as f64 / ARM_WRITES_PER_SEC, "writes"),
            (*deletes as f64 / ARM_DELETES_PER_SEC, "deletes"),
        ];
        let (secs, what) = t
            .into_iter()
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap_or((0.0, "reads"));
        let name = if sub.is_empty() {
            "tenant".to_string()
        } else {
            sub.chars()
                .rev()
                .take(4)
                .collect::<String>()
                .chars()
                .rev()
                .collect()
        };
        let _ = write!(per_sub, "{name}: {reads} r / {writes} w / {deletes} d; ");
        if !sub.is_empty() && secs > bound {
            bound = secs;
            binding = format!("{what} of …{name}");
        }
    }
    println!("ARM calls by subscription while converging: {per_sub}");
    let ratio = converged.as_secs_f64() / bound.max(f64::MIN_POSITIVE);
    let _ = writeln!(
        limits,
        "| {n} | {subs} | {latency_ms} ms | {} s | {throttle} | {:.1} s | {per_sub} | {bound:.1} s ({binding}) | {ratio:.2} | {} ({logged_429} in the log) | {:.1} ({:.1} reads) |",
        lro_ms as f64 / 1000.0,
        converged.as_secs_f64(),
        throttled_converge,
        store_requests as f64 / n as f64,
        store_reads as f64 / n as f64,
    );
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
    if subs > 1 {
        let grants: Api<hipaa_operator::api::AzureScopeGrant> = Api::all(client.clone());
        let _ = grants.delete(&more_grant, &Default::default()).await;
    }
}

/// The 429s the simulator has sent, all kinds.
async fn throttled(e: &support::estate::Estate) -> u64 {
    let v = e.sim.admin(reqwest::Method::GET, "throttle", None).await;
    ["reads", "writes", "deletes"]
        .iter()
        .filter_map(|k| v["throttled"][k].as_u64())
        .sum()
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
    let mut limits = String::from(
        "| stores | subscriptions | latency | long-running operations | throttle | apply → all Ready | operator's ARM calls by subscription (reads / writes / deletes) | bound | measured ÷ bound | 429s | Azure requests per store (reads) |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for &n in &o.stores {
        for &latency in &o.latency_ms {
            for &subs in &o.subscriptions {
                runtime.block_on(run(n, latency, subs, &o, &mut report, &mut limits));
                println!("{report}\n{limits}");
            }
        }
    }
    let out = support::repo().join("target").join("scale-report.md");
    let _ = std::fs::write(&out, format!("{report}\n{limits}"));
    println!("{report}\n{limits}\n(written to {})", out.display());
}
