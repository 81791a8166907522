//! The CRDs against a real kube-apiserver: they install and become Established, every example
//! applies, `kubectl get hipaa` shows the printer columns, and invalid objects are rejected with
//! a message naming the offending field.

mod support;

use control_plane::TestNamespace;
use hipaa_operator::api::{AccessReview, HipaaWorkspace, PhiStore};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn api_resource(object: &Value) -> ApiResource {
    match object["kind"].as_str() {
        Some("HipaaWorkspace") => ApiResource::erase::<HipaaWorkspace>(&()),
        Some("PhiStore") => ApiResource::erase::<PhiStore>(&()),
        Some("AccessReview") => ApiResource::erase::<AccessReview>(&()),
        other => panic!("no API resource for kind {other:?}"),
    }
}

async fn setup(prefix: &str) -> (kube::Client, TestNamespace) {
    let client = control_plane::shared().client().await.expect("client");
    support::install_crds(&client).await;
    let ns = TestNamespace::create(&client, prefix)
        .await
        .expect("namespace");
    (client, ns)
}

async fn create(
    client: &kube::Client,
    ns: &str,
    object: &Value,
) -> Result<DynamicObject, kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &api_resource(object));
    let object: DynamicObject =
        serde_json::from_value(object.clone()).expect("a Kubernetes object");
    api.create(&PostParams::default(), &object).await
}

#[tokio::test]
async fn every_example_applies_and_reads_back_as_its_typed_resource() {
    let (client, ns) = setup("examples").await;
    for (file, object) in support::examples() {
        create(&client, &ns.name, &object)
            .await
            .unwrap_or_else(|e| panic!("{file} was rejected: {e}"));
    }
    let stores: Api<PhiStore> = Api::namespaced(client.clone(), &ns.name);
    let listed = stores
        .list(&Default::default())
        .await
        .expect("list PhiStores");
    let mut kinds: Vec<&str> = listed
        .items
        .iter()
        .map(|s| s.spec.resource.kind.as_str())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "CosmosDbAccount",
            "DicomService",
            "FhirService",
            "HealthDataWorkspace",
            "KeyVault",
            "SqlServer",
            "StorageAccount"
        ],
        "one example PhiStore per resource kind"
    );
    // Defaults are applied by the API server from the schema.
    let ws: Api<HipaaWorkspace> = Api::namespaced(client.clone(), &ns.name);
    let clinical = ws.get("clinical").await.expect("workspace");
    assert_eq!(clinical.spec.key_vault.rotation.rotate_after, "P90D");
    let sql = stores.get("scheduling-sql").await.expect("sql store");
    assert_eq!(
        sql.spec.deletion_policy,
        hipaa_operator::api::phistore::DeletionPolicy::Retain
    );
    ns.delete().await.expect("delete namespace");
}

#[tokio::test]
async fn kubectl_get_hipaa_lists_all_kinds_with_printer_columns() {
    let (client, ns) = setup("printer").await;
    for (file, object) in support::examples() {
        create(&client, &ns.name, &object)
            .await
            .unwrap_or_else(|e| panic!("{file} was rejected: {e}"));
    }
    // A status as the controller would write it, through the status subresource.
    let stores: Api<PhiStore> = Api::namespaced(client.clone(), &ns.name);
    let status = json!({
        "apiVersion": "hipaa-operator.io/v1alpha1",
        "kind": "PhiStore",
        "status": {
            "observedGeneration": 1,
            "mode": "Audit",
            "compliance": "19/25",
            "conditions": [{
                "type": "Ready",
                "status": "False",
                "reason": "Drifted",
                "message": "6 controls drifted: storage.min-tls-1-2, ...",
                "lastTransitionTime": "2026-11-22T07:00:00Z",
                "observedGeneration": 1
            }]
        }
    });
    stores
        .patch_status(
            "referral-letters",
            &PatchParams::apply("hipaa-operator-tests").force(),
            &Patch::Apply(&status),
        )
        .await
        .expect("status patch");

    let tools = control_plane::Tools::locate().expect("tools");
    let out = std::process::Command::new(&tools.kubectl)
        .arg("--kubeconfig")
        .arg(control_plane::shared().kubeconfig_path())
        .args(["get", "hipaa", "-n", &ns.name])
        .output()
        .expect("run kubectl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for header in [
        "MODE",
        "COMPLIANT",
        "STORES",
        "READY",
        "REASON",
        "AGE",
        "KIND",
        "PHASE",
        "DECIDED",
        "DUE",
    ] {
        assert!(stdout.contains(header), "no {header} column in:\n{stdout}");
    }
    for name in [
        "hipaaworkspace.hipaa-operator.io/clinical",
        "phistore.hipaa-operator.io/referral-letters",
        "phistore.hipaa-operator.io/radiology-dicom",
        "accessreview.hipaa-operator.io/referral-letters-2026-11-01",
    ] {
        assert!(
            stdout.contains(name),
            "kubectl get hipaa does not list {name}:\n{stdout}"
        );
    }
    let row = stdout
        .lines()
        .find(|l| l.starts_with("phistore.hipaa-operator.io/referral-letters"))
        .expect("referral-letters row");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[1..6],
        ["StorageAccount", "Audit", "19/25", "False", "Drifted"],
        "row: {row}"
    );
    ns.delete().await.expect("delete namespace");
}

#[tokio::test]
async fn the_api_server_rejects_invalid_objects_naming_the_field() {
    let (client, ns) = setup("invalid").await;
    let cases = support::invalid::cases();
    assert!(
        cases.len() >= 15,
        "the issue asks for at least 15 invalid objects"
    );
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let mut valid = support::example(case.example);
        // Each case gets its own object so that updates start from a fresh valid one.
        let name = format!("case-{i}");
        valid["metadata"]["name"] = json!(name);
        let mut invalid = valid.clone();
        (case.mutate)(&mut invalid);
        let result = if case.update {
            create(&client, &ns.name, &valid)
                .await
                .unwrap_or_else(|e| panic!("{}: the valid object was rejected: {e}", case.name));
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &ns.name, &api_resource(&invalid));
            let current = api.get(&name).await.expect("get");
            let mut object: DynamicObject =
                serde_json::from_value(invalid.clone()).expect("object");
            object.metadata.resource_version = current.metadata.resource_version;
            api.replace(&name, &PostParams::default(), &object).await
        } else {
            create(&client, &ns.name, &invalid).await
        };
        match result {
            Ok(_) => failures.push(format!("{}: accepted", case.name)),
            Err(kube::Error::Api(status)) => {
                let ok = status.code == 422
                    && status.message.contains(&format!("{}:", case.field))
                    && status.message.contains(case.says);
                if !ok {
                    failures.push(format!(
                        "{}: expected 422 naming {} with {:?}, got {} {}",
                        case.name, case.field, case.says, status.code, status.message
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: unexpected error {e}", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    ns.delete().await.expect("delete namespace");
}

#[tokio::test]
async fn startup_check_names_a_missing_crd_with_an_install_hint() {
    let (client, ns) = setup("startup").await;
    let crds: Vec<_> = hipaa_operator::api::crds()
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    hipaa_operator::runtime::check_crds(&client, &crds)
        .await
        .expect("the installed CRDs pass the start-up check");

    let mut missing = crds[1].clone();
    missing.metadata.name = Some("phistores.not-installed.example".into());
    let err = hipaa_operator::runtime::check_crds(&client, &[missing])
        .await
        .expect_err("a CRD that is not installed");
    let text = err.to_string();
    assert!(
        text.contains("phistores.not-installed.example is not installed"),
        "{text}"
    );
    assert!(
        text.contains("kubectl apply --server-side --force-conflicts -f crds/"),
        "{text}"
    );

    let mut newer = crds[1].clone();
    newer.spec.versions[0].name = "v1beta1".into();
    let err = hipaa_operator::runtime::check_crds(&client, &[newer])
        .await
        .expect_err("a version the cluster does not serve");
    assert!(err.to_string().contains("does not serve v1beta1"), "{err}");
    ns.delete().await.expect("delete namespace");
}
