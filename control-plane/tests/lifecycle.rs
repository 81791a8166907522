//! The local control plane starts, serves the pinned Kubernetes version, hands out working
//! clients and namespaces, and leaves no process behind.

use std::time::Duration;

use control_plane::{ControlPlane, Options, TestNamespace, Tools};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

fn pinned_kube_version() -> String {
    let versions = include_str!("../../scripts/versions.env");
    let line = versions
        .lines()
        .find_map(|l| l.strip_prefix("KUBE_VERSION="))
        .expect("versions.env pins KUBE_VERSION");
    format!("v{}", line.trim())
}

#[tokio::test]
async fn shared_plane_serves_the_pinned_version_and_isolates_tests_by_namespace() {
    let plane = control_plane::shared();
    let client = plane.client().await.expect("client");
    let version = client.apiserver_version().await.expect("/version");
    assert_eq!(version.git_version, pinned_kube_version());

    let ns = TestNamespace::create(&client, "lifecycle")
        .await
        .expect("namespace");
    assert!(ns.name.starts_with("lifecycle-"));
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("probe".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    maps.create(&PostParams::default(), &cm)
        .await
        .expect("create in the test namespace");
    assert!(maps.get_opt("probe").await.expect("get").is_some());

    // The controller-manager runs: the service-account controller creates `default`.
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), &ns.name);
    let mut found = false;
    for _ in 0..100 {
        if accounts.get_opt("default").await.expect("get sa").is_some() {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        found,
        "kube-controller-manager did not create the default ServiceAccount"
    );
    ns.delete().await.expect("delete namespace");
}

/// A plane of its own (not the shared one) so that stopping it can be observed.
#[test]
fn dropping_a_control_plane_stops_every_process_and_removes_its_directory() {
    let tools = Tools::locate().expect("tools");
    let plane = ControlPlane::start(
        &tools,
        &Options {
            controller_manager: true,
            ready_timeout: Duration::from_secs(90),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let pids = plane.pids();
    assert_eq!(
        pids.len(),
        3,
        "etcd, kube-apiserver and kube-controller-manager"
    );
    let dir = plane.dir().to_path_buf();
    assert!(dir.join("kubeconfig").exists());
    drop(plane);
    for pid in pids {
        // After wait() reaped it, the pid no longer names a process of ours.
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists()
            && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false);
        assert!(!alive, "process {pid} outlived its control plane");
    }
    assert!(!dir.exists(), "the control-plane directory was not removed");
}
