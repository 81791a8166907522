//! Shared test support: the examples, CRD installation, the table of invalid objects that both
//! the offline CEL tests and the API-server tests run, the end-to-end estate (`estate`, `sim`,
//! `operator`) and helm / kubectl as an admin runs them (`helm`).
#![allow(dead_code)] // each test binary uses part of it

pub mod estate;
pub mod grants;
pub mod helm;
pub mod invalid;
pub mod operator;
pub mod sim;
pub mod store;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hipaa_operator::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use serde_json::Value;

/// `n` seconds, for the bounds of the waits.
pub const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every example manifest (`examples/*.yaml` except kustomization.yaml and the simulator's
/// estate), by file name.
pub fn examples() -> Vec<(String, Value)> {
    let dir = repo().join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n != "kustomization.yaml" && n != "azure-estate.yaml")
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable example");
            let value: Value = serde_saphyr::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), value)
        })
        .collect()
}

/// One example by file name.
pub fn example(file: &str) -> Value {
    examples()
        .into_iter()
        .find(|(name, _)| name == file)
        .unwrap_or_else(|| panic!("no example {file}"))
        .1
}

/// The committed CRDs (the files in `crds/`), parsed.
pub fn committed_crds() -> Vec<CustomResourceDefinition> {
    api::crds()
        .iter()
        .map(|(file, _)| {
            let text =
                std::fs::read_to_string(repo().join("crds").join(file)).expect("committed CRD");
            serde_saphyr::from_str(&text).expect("CRD YAML")
        })
        .collect()
}

/// Installs the committed CRDs by server-side apply and waits until each is Established.
pub async fn install_crds(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in committed_crds() {
        let name = crd.metadata.name.clone().expect("CRD name");
        crds.patch(
            &name,
            &PatchParams::apply("hipaa-operator-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
        let mut established = false;
        for _ in 0..200 {
            let current = crds.get(&name).await.expect("get CRD");
            established = current
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(established, "CRD {name} did not become Established");
    }
}
