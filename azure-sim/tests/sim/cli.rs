//! The `azure-sim` binary: prints its endpoints and CA path, serves, and saves state on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn binary_prints_endpoints_serves_and_saves_state_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let seed_path = dir.path().join("seed.json");
    std::fs::write(&seed_path, base_seed().to_string()).expect("seed written");
    let state_dir = dir.path().join("state");
    let mut child = Command::new(env!("CARGO_BIN_EXE_azure-sim"))
        .args(["--listen", "127.0.0.1:0", "--seed"])
        .arg(&seed_path)
        .arg("--state-dir")
        .arg(&state_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    // Read the banner on a thread so a silent child cannot hang the test.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take(20)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let done = line.starts_with("CA certificate:");
                banner.push(line);
                if done {
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let field = |name: &str| {
        banner
            .iter()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("banner has {name}: {banner:?}"))
    };
    let arm = field("ARM endpoint:");
    let ca_path = field("CA certificate:");
    assert!(arm.starts_with("https://127.0.0.1:"), "{arm}");
    assert!(field("Tenant id:").len() == 36);
    let ca = std::fs::read_to_string(&ca_path).expect("the CA file exists");
    let client = client_for(&ca);
    let health = client
        .get(format!("{arm}/_sim/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status().as_u16(), 200);
    let token: serde_json::Value = client
        .post(format!("{arm}/_sim/tokens"))
        .json(&serde_json::json!({"objectId": OWNER}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let rg = client
        .get(format!(
            "{arm}/subscriptions/{SUB}/resourceGroups/{RG}?api-version=2024-03-01"
        ))
        .bearer_auth(token["access_token"].as_str().unwrap_or_default())
        .send()
        .await
        .expect("rg");
    assert_eq!(rg.status().as_u16(), 200, "the seed was applied");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let Some(exit) = exit else {
        child.kill().ok();
        panic!("azure-sim did not stop on SIGTERM");
    };
    assert!(exit.success(), "{exit:?}");
    assert!(
        state_dir.join("state.json").exists(),
        "state saved on the way out"
    );
}
