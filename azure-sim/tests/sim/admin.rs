//! The admin API: faults (status, latency, dropped connection, N times, rate), the request log,
//! seeding from YAML, clock, reset and state dump.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::common::*;

fn rg_path() -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{RG}?api-version=2024-03-01")
}

#[tokio::test(flavor = "multi_thread")]
async fn status_faults_fire_n_times_and_are_logged() {
    let h = Harness::start().await;
    let f = h
        .admin(Method::POST, "/faults", Some(&json!({"method": "GET", "path": "/subscriptions/*/resourceGroups/*", "times": 2,
            "action": {"kind": "status", "status": 503, "code": "ServiceUnavailable", "retryAfterSecs": 3}})))
        .await;
    assert_eq!(f.status, 201);
    let id = f.body["id"].as_str().expect("fault id").to_string();
    for _ in 0..2 {
        let r = h.arm(Method::GET, &rg_path(), None).await;
        assert_eq!((r.status, r.code()), (503, "ServiceUnavailable"));
        assert_eq!(r.header("retry-after"), Some("3"));
    }
    assert_eq!(h.arm(Method::GET, &rg_path(), None).await.status, 200);
    let faults = h.admin(Method::GET, "/faults", None).await;
    assert_eq!(faults.body["value"][0]["fired"], 2);
    let log = h
        .admin(
            Method::GET,
            "/requests?path=/subscriptions/*/resourceGroups/*&method=GET",
            None,
        )
        .await;
    assert_eq!(log.body["count"], 3);
    assert_eq!(log.body["value"][0]["status"], 503);
    assert_eq!(log.body["value"][0]["fault"], id);
    assert_eq!(log.body["value"][2]["caller"], OWNER);
    assert_eq!(
        h.admin(Method::DELETE, &format!("/faults/{id}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        h.admin(Method::DELETE, &format!("/faults/{id}"), None)
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn latency_rate_and_dropped_connections() {
    let h = Harness::start().await;
    h.admin(Method::POST, "/faults", Some(&json!({"path": "*/resourceGroups/*", "times": 1, "action": {"kind": "latency", "ms": 300}}))).await;
    let started = Instant::now();
    assert_eq!(h.arm(Method::GET, &rg_path(), None).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    h.admin(Method::DELETE, "/faults", None).await;

    h.admin(Method::POST, "/faults", Some(&json!({"path": "*/resourceGroups/*", "rate": 0.5, "action": {"kind": "status", "status": 500}}))).await;
    let mut failures = 0;
    for _ in 0..10 {
        if h.arm(Method::GET, &rg_path(), None).await.status == 500 {
            failures += 1;
        }
    }
    assert_eq!(failures, 5, "a rate spreads faults evenly");
    h.admin(Method::DELETE, "/faults", None).await;

    h.admin(
        Method::POST,
        "/faults",
        Some(&json!({"path": "*/resourceGroups/*", "times": 1, "action": {"kind": "drop"}})),
    )
    .await;
    let t = h.owner_token.clone();
    let dropped = h.client.get(h.url(&rg_path())).bearer_auth(&t).send().await;
    assert!(dropped.is_err(), "the connection closes without an answer");
    assert_eq!(
        h.arm(Method::GET, &rg_path(), None).await.status,
        200,
        "the server keeps serving"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn yaml_seed_reset_clock_and_state_dump() {
    let h = Harness::start().await;
    let yaml = format!(
        "resourceGroups:\n  - subscriptionId: {SUB}\n    name: rg-extra\n    location: westus\nresources:\n  - id: /subscriptions/{SUB}/resourceGroups/rg-extra/providers/Microsoft.KeyVault/vaults/kv-seeded\n    body:\n      location: westus\n      properties:\n        tenantId: {}\n        sku: {{family: A, name: standard}}\n",
        h.sim.tenant_id
    );
    let r = h
        .client
        .post(h.url("/_sim/seed"))
        .body(yaml)
        .send()
        .await
        .expect("seed");
    assert_eq!(r.status().as_u16(), 200);
    let kv = h.arm(Method::GET, &format!("/subscriptions/{SUB}/resourceGroups/rg-extra/providers/Microsoft.KeyVault/vaults/kv-seeded?api-version=2024-11-01"), None).await;
    assert_eq!(kv.status, 200);
    assert_eq!(kv.body["properties"]["enableSoftDelete"], true);
    let bad = h
        .client
        .post(h.url("/_sim/seed"))
        .body("resources: [{id: /nope, body: {}}]")
        .send()
        .await
        .expect("seed");
    assert_eq!(bad.status().as_u16(), 400);

    let before = h.admin(Method::GET, "/clock", None).await;
    let adv = h
        .admin(
            Method::POST,
            "/clock/advance",
            Some(&json!({"duration": "P1D"})),
        )
        .await;
    assert!(adv.body["offsetMs"].as_i64().unwrap_or(0) >= 86_400_000);
    assert_ne!(before.body["now"], adv.body["now"]);
    let set = h
        .admin(
            Method::PUT,
            "/clock",
            Some(&json!({"now": "2030-01-01T00:00:00Z"})),
        )
        .await;
    assert!(
        set.body["now"]
            .as_str()
            .unwrap_or_default()
            .starts_with("2030-01-01T00:00")
    );
    assert_eq!(
        h.admin(
            Method::POST,
            "/clock/advance",
            Some(&json!({"seconds": -5}))
        )
        .await
        .status,
        400
    );

    let dump = h.admin(Method::GET, "/state", None).await;
    assert!(
        dump.body["resources"]
            .as_object()
            .is_some_and(|m| m.keys().any(|k| k.ends_with("/vaults/kv-seeded")))
    );
    assert_eq!(h.admin(Method::POST, "/reset", None).await.status, 200);
    let gone = h
        .arm(
            Method::GET,
            &format!("/subscriptions/{SUB}/resourceGroups/rg-extra?api-version=2024-03-01"),
            None,
        )
        .await;
    assert_eq!(
        gone.code(),
        "ResourceGroupNotFound",
        "reset returns to the start-up seed"
    );
    assert_eq!(h.arm(Method::GET, &rg_path(), None).await.status, 200);
    let log = h.admin(Method::GET, "/requests", None).await;
    assert_eq!(log.body["count"], 2, "reset clears the log");
    let info = h.admin(Method::GET, "/info", None).await;
    assert_eq!(info.body["armEndpoint"], h.sim.base_url);
}
