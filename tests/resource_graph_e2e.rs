//! Batched drift detection end to end: in steady state the operator reads many stores'
//! resources through Resource Graph queries, not a GET per store per interval; a single store's
//! drift is still found, confirmed with a GET of that store's resource, and reverted with one
//! write, even while Resource Graph lags ARM; after a restart, drift made while the operator
//! was down is fixed and no other store is read again.

mod support;

use std::time::{Duration, Instant};

use hipaa_operator::api::PhiStore;
use hipaa_operator::azure::storage::{StorageAccountPatch, StorageAccountPatchProperties};
use serde_json::{Value, json};
use support::estate::{Estate, INTERVAL_SECS, is_ready, storage_store};
use support::secs;
use support::sim::{OPERATOR_OBJECT_ID, RG};

const STORES: usize = 12;

fn account(i: usize) -> String {
    format!("{RG}/providers/Microsoft.Storage/storageAccounts/stgraph{i:02}")
}

fn store(i: usize) -> PhiStore {
    storage_store(&format!("graph-{i:02}"), &account(i))
}

fn operator_requests_to(requests: &[Value], id: &str) -> Vec<(String, String)> {
    let id = id.to_ascii_lowercase();
    requests
        .iter()
        .filter(|r| r["caller"].as_str() == Some(OPERATOR_OBJECT_ID))
        .filter_map(|r| {
            let path = r["path"].as_str()?.to_ascii_lowercase();
            (path == id || path.starts_with(&format!("{id}/")))
                .then(|| (r["method"].as_str().unwrap_or_default().to_string(), path))
        })
        .collect()
}

/// Sets an account's TLS floor as another principal would.
async fn set_tls(e: &Estate, i: usize, tls: &str) {
    e.legacy_azure()
        .update_storage_account(
            &account(i),
            &StorageAccountPatch {
                properties: StorageAccountPatchProperties {
                    minimum_tls_version: Some(tls.into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .expect("drift");
}

/// Waits until the operator has put account `i` back to TLS 1.2.
async fn wait_reverted(e: &Estate, i: usize, what: &str) {
    let what = format!("{what} not reverted");
    e.eventually(&what, secs(INTERVAL_SECS * 3 + 30), async || {
        let a = e
            .azure()
            .get_storage_account(&account(i))
            .await
            .expect("account");
        a.properties.minimum_tls_version.as_deref() == Some("TLS1_2")
    })
    .await;
}

fn graph_queries(requests: &[Value]) -> usize {
    requests
        .iter()
        .filter(|r| r["caller"].as_str() == Some(OPERATOR_OBJECT_ID))
        .filter(|r| {
            r["method"] == "POST"
                && r["path"].as_str().is_some_and(|p| {
                    p.eq_ignore_ascii_case("/providers/Microsoft.ResourceGraph/resources")
                })
        })
        .count()
}

#[tokio::test]
async fn steady_state_reads_many_stores_through_resource_graph_and_confirms_drift_with_a_get() {
    let mut e = Estate::test("graph")
        .enforce()
        .with_leader_election()
        .args(["--azure-reads-per-hour", "90000"])
        .start()
        .await;
    let started = Instant::now();
    // Twelve accounts made with the defaults of years ago.
    let resources: Vec<Value> = (0..STORES)
        .map(|i| {
            json!({"id": account(i), "body": {
                "location": "eastus2", "kind": "StorageV2", "sku": {"name": "Standard_LRS"},
                "properties": {"minimumTlsVersion": "TLS1_0", "allowBlobPublicAccess": true,
                               "publicNetworkAccess": "Enabled"}}})
        })
        .collect();
    e.sim
        .admin(
            reqwest::Method::POST,
            "seed",
            Some(json!({ "resources": resources })),
        )
        .await;
    for i in 0..STORES {
        e.create(&store(i)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let list = e.stores.list(&Default::default()).await.expect("stores");
        let settled = list.items.iter().filter(|s| is_ready(s)).count();
        if settled == STORES {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{settled} of {STORES} stores Ready:\n{}",
            e.operator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("{STORES} stores Ready after {:?}", started.elapsed());
    support::estate::workspace_settled(&e, Duration::from_secs(90)).await;
    // Let the read-back passes settle.
    tokio::time::sleep(Duration::from_secs(6)).await;

    // Steady state: Resource Graph queries, no GET of any store's account, no write.
    e.sim.clear_log().await;
    tokio::time::sleep(Duration::from_secs(INTERVAL_SECS * 3 + 2)).await;
    let requests = e.sim.requests().await;
    let queries = graph_queries(&requests);
    assert!(
        (2..=5).contains(&queries),
        "{queries} Resource Graph queries in three intervals for {STORES} stores"
    );
    for i in 0..STORES {
        let calls = operator_requests_to(&requests, &account(i));
        assert!(calls.is_empty(), "store {i} was read one by one: {calls:?}");
    }
    assert!(e.sim.operator_writes().await.is_empty());

    eprintln!("steady state checked after {:?}", started.elapsed());
    // One store drifts while Resource Graph lags ARM by three seconds.
    e.sim.set_config(json!({"graphLagMs": 3000})).await;
    e.sim.clear_log().await;
    let drifted = 5;
    set_tls(&e, drifted, "TLS1_0").await;
    wait_reverted(&e, drifted, "drift").await;
    // Two more intervals: the lagging index shows the old drift for a while after the fix.
    tokio::time::sleep(Duration::from_secs(INTERVAL_SECS * 2 + 4)).await;
    let requests = e.sim.requests().await;
    let calls = operator_requests_to(&requests, &account(drifted));
    let first_get = calls
        .iter()
        .position(|(m, p)| m == "GET" && *p == account(drifted).to_ascii_lowercase());
    let patches: Vec<usize> = calls
        .iter()
        .enumerate()
        .filter(|(_, (m, p))| m == "PATCH" && *p == account(drifted).to_ascii_lowercase())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(patches.len(), 1, "one write reverts the drift: {calls:?}");
    assert!(
        first_get.is_some_and(|g| g < patches[0]),
        "the drift was confirmed with a GET before the write: {calls:?}"
    );
    for i in (0..STORES).filter(|i| *i != drifted) {
        let calls = operator_requests_to(&requests, &account(i));
        assert!(
            calls.is_empty(),
            "store {i} did not drift but was read: {calls:?}"
        );
    }
    assert!(graph_queries(&requests) >= 2);

    // After a restart the stores resume batched detection from the baselines in their status,
    // and a drift made while the operator was down is found and fixed.
    let down = 9;
    e.restart_operator(async |e| {
        e.sim.clear_log().await;
        set_tls(e, down, "TLS1_1").await;
    })
    .await;
    wait_reverted(&e, down, "drift made while the operator was down").await;
    // Every other store resumed without reading Azure: its first event found the baseline in
    // its status, and the initial list of the review cycles it owns found nothing new.
    let requests = e.sim.requests().await;
    for i in (0..STORES).filter(|i| *i != down) {
        let calls = operator_requests_to(&requests, &account(i));
        assert!(
            calls.is_empty(),
            "store {i} was read again after the restart: {calls:?}"
        );
    }
    e.ns.delete().await.expect("delete namespace");
}
