//! Throughput of the simulator alone: GET and PATCH of a storage account over HTTPS with
//! keep-alive, from a few concurrent clients on 127.0.0.1. Run with
//! `cargo bench -p azure-sim --bench throughput`; prints requests per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

const SUB: &str = "6a1c2f1e-1111-4c6e-9b57-3c2f0a1d0001";
const OWNER: &str = "0b0b0b0b-0000-4000-8000-000000000001";
const CONCURRENCY: usize = 8;
const DURATION: Duration = Duration::from_secs(5);

fn client(ca: &str) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()).flatten() {
        roots.add(cert).ok();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn run(name: &str, client: &reqwest::Client, token: &str, url: &str, patch: bool) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let (client, token, url) = (client.clone(), token.to_string(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut n) = (0u64, 0u64, 0u64);
            while started.elapsed() < DURATION {
                n += 1;
                let req = if patch {
                    client
                        .patch(&url)
                        .json(&json!({"tags": {"worker": worker.to_string(), "n": n.to_string()}}))
                } else {
                    client.get(&url)
                };
                match req.bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok += 1;
                    }
                    _ => failed += 1,
                }
            }
            (ok, failed)
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        if let Ok((o, f)) = t.await {
            ok += o;
            failed += f;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name:>6}: {:>8.0} req/s  ({ok} ok, {failed} failed, {CONCURRENCY} clients, {secs:.1} s)",
        ok as f64 / secs
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let seed: azure_sim::Seed = serde_json::from_value(json!({
            "subscriptions": [{"subscriptionId": SUB}],
            "principals": [{"objectId": OWNER, "type": "User"}],
            "resourceGroups": [{"subscriptionId": SUB, "name": "rg"}],
            "roleAssignments": [{"scope": format!("/subscriptions/{SUB}"), "principalId": OWNER, "role": "Owner"}],
            "resources": [{"id": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/bench01"),
                           "body": {"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}}}]
        }))
        .expect("seed");
        let sim = azure_sim::start(azure_sim::SimConfig { seed: Some(seed), ..azure_sim::SimConfig::default() })
            .await
            .expect("simulator");
        let c = client(&sim.ca_pem);
        let admin = format!("{}/_sim", sim.base_url);
        // Measure the simulator, not its throttling.
        c.put(format!("{admin}/config")).json(&json!({"throttle": {"enabled": false}})).send().await.expect("config");
        let token: serde_json::Value = c
            .post(format!("{admin}/tokens"))
            .json(&json!({"objectId": OWNER}))
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        let token = token["access_token"].as_str().unwrap_or_default().to_string();
        let url = format!("{}/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/bench01?api-version=2025-01-01", sim.base_url);
        run("GET", &c, &token, &url, false).await;
        run("PATCH", &c, &token, &url, true).await;
        c.delete(format!("{admin}/requests")).send().await.ok();
    });
}
