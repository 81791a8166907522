//! The operator binary against the real API server (no Azure needed): health, readiness and
//! metrics endpoints, the CRD check, failures reported as conditions a person can act on,
//! graceful shutdown, and one writer through the leader lease.

mod support;

use std::time::{Duration, Instant};

use control_plane::TestNamespace;
use hipaa_operator::api::PhiStore;
use kube::Api;
use support::operator::Operator;
use support::store::StoreFixture;

/// Azure endpoints that refuse connections, so no test here reaches anything outside loopback.
const NO_AZURE: &[&str] = &[
    "--cloud",
    "Custom",
    "--arm-endpoint",
    "https://127.0.0.1:9",
    "--authority-host",
    "https://127.0.0.1:9",
    "--azure-identity",
    "client-secret-env",
];
const FAKE_IDENTITY: &[(&str, &str)] = &[
    ("AZURE_TENANT_ID", "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"),
    ("AZURE_CLIENT_ID", "8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d"),
    ("AZURE_CLIENT_SECRET", "not-a-real-secret"),
];

async fn ready_condition(
    api: &Api<PhiStore>,
    name: &str,
    timeout: Duration,
) -> Option<(String, String, String)> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(store) = api.get(name).await
            && let Some(c) = store
                .status
                .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Ready"))
        {
            return Some((c.status, c.reason, c.message));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// The storage example in `workspace`.
fn store_in(workspace: &str) -> PhiStore {
    PhiStore::test("phistore-storage.yaml")
        .in_workspace(workspace)
        .build()
}

#[tokio::test]
async fn serves_health_and_metrics_and_reports_a_missing_workspace() {
    let client = control_plane::shared().client().await.expect("client");
    support::install_crds(&client).await;
    let ns = TestNamespace::create(&client, "runtime")
        .await
        .expect("namespace");
    let mut operator = Operator::start(
        "runtime",
        &[
            NO_AZURE,
            &["--leader-elect=false", "--watch-namespaces", &ns.name],
        ]
        .concat(),
        FAKE_IDENTITY,
    );
    operator.wait_ready(Duration::from_secs(60));
    assert_eq!(
        operator.get(operator.health, "/healthz").map(|r| r.0),
        Some(200)
    );

    let stores: Api<PhiStore> = Api::namespaced(client.clone(), &ns.name);
    let store = store_in("missing-workspace");
    stores
        .create(&Default::default(), &store)
        .await
        .expect("create store");
    let (status, reason, message) =
        ready_condition(&stores, "referral-letters", Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("no Ready condition:\n{}", operator.log_text()));
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "WorkspaceNotFound")
    );
    assert!(
        message.contains("HipaaWorkspace missing-workspace does not exist"),
        "{message}"
    );

    let (code, metrics) = operator.get(operator.metrics, "/metrics").expect("metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("hipaa_reconciles_total{controller=\"phistore\""),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "hipaa_reconcile_errors_total{controller=\"phistore\",category=\"WorkspaceNotFound\"}"
        ),
        "{metrics}"
    );
    assert!(operator.stop().await, "SIGTERM did not stop the operator");
    ns.delete().await.expect("delete namespace");
}

#[tokio::test]
async fn an_unreachable_azure_becomes_a_condition_not_a_crash() {
    let client = control_plane::shared().client().await.expect("client");
    support::install_crds(&client).await;
    let ns = TestNamespace::create(&client, "unreachable")
        .await
        .expect("namespace");
    support::estate::grant(&client, &ns.name, support::estate::example_grant(&ns.name)).await;
    let workspaces: Api<hipaa_operator::api::HipaaWorkspace> =
        Api::namespaced(client.clone(), &ns.name);
    let ws: hipaa_operator::api::HipaaWorkspace =
        serde_json::from_value(support::example("workspace.yaml")).expect("workspace");
    workspaces
        .create(&Default::default(), &ws)
        .await
        .expect("create workspace");
    let mut operator = Operator::start(
        "unreachable",
        &[
            NO_AZURE,
            &["--leader-elect=false", "--watch-namespaces", &ns.name],
        ]
        .concat(),
        FAKE_IDENTITY,
    );
    operator.wait_ready(Duration::from_secs(60));
    let stores: Api<PhiStore> = Api::namespaced(client.clone(), &ns.name);
    let store = store_in("clinical");
    stores
        .create(&Default::default(), &store)
        .await
        .expect("create store");
    let (status, reason, message) =
        ready_condition(&stores, "referral-letters", Duration::from_secs(90))
            .await
            .unwrap_or_else(|| panic!("no Ready condition:\n{}", operator.log_text()));
    assert_eq!(status, "False");
    assert!(
        ["AzureUnavailable", "Forbidden"].contains(&reason.as_str()),
        "{reason}: {message}"
    );
    assert!(
        !message.contains("not-a-real-secret"),
        "the secret leaked into status: {message}"
    );
    assert!(
        operator.running(),
        "the operator crashed:\n{}",
        operator.log_text()
    );
    assert!(
        !operator.log_text().contains("not-a-real-secret"),
        "the secret leaked into the log"
    );
    ns.delete().await.expect("delete namespace");
}

#[tokio::test]
async fn one_writer_holds_the_lease_and_a_standby_takes_over() {
    let client = control_plane::shared().client().await.expect("client");
    support::install_crds(&client).await;
    let ns = TestNamespace::create(&client, "lease")
        .await
        .expect("namespace");
    let lease_args = [
        "--lease-namespace",
        ns.name.as_str(),
        "--lease-name",
        "hipaa-operator",
        "--watch-namespaces",
        ns.name.as_str(),
    ];
    let mut first = Operator::start(
        "replica-a",
        &[NO_AZURE, &lease_args].concat(),
        FAKE_IDENTITY,
    );
    first.wait_ready(Duration::from_secs(60));
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), &ns.name);
    let holder = || async {
        leases
            .get_opt("hipaa-operator")
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while holder().await.as_deref() != Some("replica-a") {
        assert!(
            Instant::now() < deadline,
            "replica-a never took the lease:\n{}",
            first.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut second = Operator::start(
        "replica-b",
        &[NO_AZURE, &lease_args].concat(),
        FAKE_IDENTITY,
    );
    second.wait_ready(Duration::from_secs(60));
    // The standby writes nothing: a store created now is reconciled by replica-a only.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(holder().await.as_deref(), Some("replica-a"));
    assert!(
        second.log_text().contains("waiting for the leader lease"),
        "{}",
        second.log_text()
    );
    assert!(!second.log_text().contains("holding the leader lease"));

    // Kill the leader without releasing the lease: the standby takes over once it expires.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(45);
    while holder().await.as_deref() != Some("replica-b") {
        assert!(
            Instant::now() < deadline,
            "replica-b did not take over:\n{}",
            second.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let stores: Api<PhiStore> = Api::namespaced(client.clone(), &ns.name);
    let store = store_in("absent");
    stores
        .create(&Default::default(), &store)
        .await
        .expect("create store");
    let (_, reason, _) = ready_condition(&stores, "referral-letters", Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("the new leader did not reconcile:\n{}", second.log_text()));
    assert_eq!(reason, "WorkspaceNotFound");
    ns.delete().await.expect("delete namespace");
}
