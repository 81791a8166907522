//! Grants, and the objects they cover, as the admission-policy tests apply them: the example
//! workspace and a storage store moved into a test subscription, AzureScopeGrants, and what the
//! operator's own checks (`controller::trust`) say of an object, to compare with a policy's
//! refusal.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hipaa_operator::api::{AzureScopeGrant, HipaaWorkspace, PhiStore};
use hipaa_operator::controller::trust::{permit, store_in_scope};
use serde_json::{Value, json};

use super::helm::{Ran, apply, get_json, kubectl};
use super::store::StoreFixture;

/// A subscription no example uses, and its groups.
pub const SUBSCRIPTION: &str = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";

pub fn group(name: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}")
}

pub fn account(group_name: &str, account: &str) -> String {
    format!(
        "{}/providers/Microsoft.Storage/storageAccounts/{account}",
        group(group_name)
    )
}

/// The example workspace `name` in `namespace`, moved with every safeguard into `group_name`,
/// naming `client`.
pub fn workspace(namespace: &str, name: &str, group_name: &str, client: &str) -> Value {
    let text = super::example("workspace.yaml")
        .to_string()
        .replace("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b", SUBSCRIPTION)
        .replace("rg-clinical-phi", group_name);
    let mut ws: Value = serde_json::from_str(&text).expect("JSON");
    ws["metadata"] = json!({"name": name, "namespace": namespace});
    ws["spec"]["identity"] = json!({"clientId": client});
    ws
}

/// The storage example `name` in `namespace`, of workspace `ws`, over `resource`.
pub fn store(namespace: &str, name: &str, ws: &str, resource: &str) -> Value {
    let mut store = PhiStore::test("phistore-storage.yaml")
        .named(name)
        .in_workspace(ws)
        .over(resource)
        .json();
    store["metadata"]["namespace"] = json!(namespace);
    store
}

pub fn grant(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "AzureScopeGrant",
        "metadata": {"name": name}, "spec": spec
    })
}

/// `kubectl apply` of a cluster-scoped object.
pub fn apply_cluster(kubeconfig: &Path, manifest: &Value) {
    kubectl(
        kubeconfig,
        &["apply", "-f", "-"],
        Some(&manifest.to_string()),
    )
    .expect_success("applying a grant");
}

/// What the operator says of `object` (a workspace, or a store of workspace `ws`) under
/// `grants` in a namespace labelled `labels`: its refusal without the closing "nothing was sent
/// to Azure", or None when it would serve it.
pub fn operator_refusal(
    grants: &[&Value],
    labels: &BTreeMap<String, String>,
    object: &Value,
    ws: Option<&Value>,
) -> Option<String> {
    let grants: Vec<Arc<AzureScopeGrant>> = grants
        .iter()
        .map(|g| Arc::new(serde_json::from_value((*g).clone()).expect("a grant")))
        .collect();
    let workspace: HipaaWorkspace =
        serde_json::from_value(ws.unwrap_or(object).clone()).expect("a workspace");
    let refusal = permit(&workspace, Some(labels), &grants).and_then(|p| match ws {
        Some(_) => {
            let store: PhiStore = serde_json::from_value(object.clone()).expect("a store");
            store_in_scope(&store, &workspace, &p)
        }
        None => Ok(()),
    });
    refusal.err().map(|r| {
        r.message
            .trim_end_matches("; nothing was sent to Azure")
            .to_string()
    })
}

pub fn labels_of(kubeconfig: &Path, namespace: &str) -> BTreeMap<String, String> {
    let ns = get_json(kubeconfig, &["namespace", namespace]).expect("the namespace");
    serde_json::from_value(ns["metadata"]["labels"].clone()).expect("labels")
}

/// Applies `object` into its namespace and asserts the policy refused it with `says`, which is
/// also what the operator says of it; nothing was created. Returns what kubectl printed.
pub fn assert_refused(
    kubeconfig: &Path,
    object: &Value,
    says: &str,
    operator: Option<String>,
) -> String {
    let ns = object["metadata"]["namespace"].as_str().expect("namespace");
    let ran = apply(kubeconfig, ns, object, false);
    assert!(!ran.success, "admitted: {object}");
    assert!(
        ran.stderr.contains("denied request") && ran.stderr.contains(says),
        "refused, but not saying {says:?}:\n{}",
        ran.stderr
    );
    let operator = operator.expect("the operator serves what the policy refuses");
    assert!(
        ran.stderr.contains(&operator),
        "the policy and the operator say different things:\npolicy: {}\noperator: {operator}",
        ran.stderr
    );
    let kind = object["kind"].as_str().expect("kind").to_lowercase();
    let name = object["metadata"]["name"].as_str().expect("name");
    assert!(
        get_json(kubeconfig, &[kind.as_str(), name, "-n", ns]).is_none(),
        "{kind} {ns}/{name} was created"
    );
    ran.stderr
}

pub fn assert_admitted(kubeconfig: &Path, object: &Value) -> Ran {
    let ns = object["metadata"]["namespace"].as_str().expect("namespace");
    apply(kubeconfig, ns, object, false).expect_success("an admitted apply")
}

/// Retries a server-side dry run of `object` until the policy's answer is `refused` (and, when
/// refused, names `says`).
pub fn wait_for_policy(kubeconfig: &Path, object: &Value, refused: bool, says: &str) {
    let ns = object["metadata"]["namespace"].as_str().expect("namespace");
    let started = Instant::now();
    let mut last = String::new();
    for _ in 0..160 {
        let ran = apply(kubeconfig, ns, object, true);
        let done = match refused {
            true => !ran.success && ran.stderr.contains(says),
            false => ran.success,
        };
        if done {
            return;
        }
        last = ran.stderr;
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "the policy never {} {} ({:?}); its last answer:\n{last}",
        if refused { "refused" } else { "admitted" },
        object["metadata"]["name"],
        started.elapsed()
    );
}

/// The largest scopes and identities a grant's schema allows, `tag` making them differ between
/// grants: 63 scopes of 1,024 characters under a long group that no test uses, then `last`
/// (the one a test's objects lie in, so every other scope is compared first), and 64 client ids.
pub fn largest_grant_lists(tag: u32, last: &str) -> (Vec<String>, Vec<String>) {
    let long_group = "g".repeat(90);
    let mut scopes: Vec<String> = (0..63)
        .map(|i| {
            let head = format!(
                "{}/providers/Microsoft.Storage/storageAccounts/st{tag}{i:02}/",
                group(&long_group)
            );
            let tail = "x".repeat(1024 - head.len());
            head + &tail
        })
        .collect();
    scopes.push(last.to_string());
    let identities = (0..64)
        .map(|i| format!("{tag:08x}-{i:04x}-4000-8000-000000000000"))
        .collect();
    (scopes, identities)
}
