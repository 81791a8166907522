//! `--state-dir`: state, CA and token-signing key survive a restart.

use reqwest::Method;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn restart_with_state_dir_keeps_resources_ca_and_tokens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let seed: azure_sim::Seed = serde_json::from_value(base_seed()).expect("seed");
    let config = azure_sim::SimConfig {
        state_dir: Some(dir.path().to_path_buf()),
        seed: Some(seed),
        ..azure_sim::SimConfig::default()
    };
    let h = Harness::with_config(config.clone()).await;
    let acct = h.storage_account("persist01").await;
    h.admin(
        Method::POST,
        "/clock/advance",
        Some(&serde_json::json!({"duration": "P3D"})),
    )
    .await;
    let token = h.owner_token.clone();
    let ca = h.sim.ca_pem.clone();
    let Harness { sim, .. } = h;
    sim.shutdown().await.expect("state saved");

    let again = azure_sim::start(config).await.expect("restarts");
    assert_eq!(again.ca_pem, ca, "clients keep trusting the same CA");
    let client = client_for(&again.ca_pem);
    let r = client
        .get(format!(
            "{}{acct}?api-version={STORAGE_API}",
            again.base_url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answer");
    assert_eq!(
        r.status().as_u16(),
        200,
        "the old token and the account survive"
    );
    let clock: serde_json::Value = client
        .get(format!("{}/_sim/clock", again.base_url))
        .send()
        .await
        .expect("clock")
        .json()
        .await
        .expect("json");
    assert!(
        clock["offsetMs"].as_i64().unwrap_or(0) >= 3 * 86_400_000,
        "the simulated clock survives"
    );
    assert!(dir.path().join("ca.pem").exists() && dir.path().join("state.json").exists());
}
