//! An estate for end-to-end tests: azure-sim seeded with the example estate, the CRDs on the
//! shared API server, a namespace with the example workspace, and the operator binary watching
//! that namespace.

use std::time::Duration;

use control_plane::TestNamespace;
use hipaa_operator::api::{AzureScopeGrant, HipaaWorkspace, PhiStore};
use kube::Api;
use serde_json::json;

use super::operator::Operator;
use super::sim::Sim;

pub const INTERVAL_SECS: u64 = 8;

pub struct Estate {
    pub sim: Sim,
    pub ns: TestNamespace,
    pub stores: Api<PhiStore>,
    pub workspaces: Api<HipaaWorkspace>,
    pub operator: Operator,
    /// How the operator was started, to start it again.
    launch: (String, Vec<String>, Vec<(String, String)>),
}

impl Estate {
    /// Stops the operator (SIGTERM), runs `meanwhile`, and starts it again as it was started.
    pub async fn restart_operator(&mut self, meanwhile: impl AsyncFnOnce(&Estate)) {
        assert!(self.operator.terminate(), "the operator did not stop");
        meanwhile(self).await;
        let (name, args, env) = &self.launch;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.operator = Operator::start(&format!("{name}-again"), &args, &env);
        self.operator.wait_ready(Duration::from_secs(60));
    }
}

/// The workspace example in `mode`, checked every `INTERVAL_SECS`, using the operator's own
/// identity unless `identity` is given (the example names a workload-identity client id).
pub fn workspace(mode: &str, identity: Option<serde_json::Value>) -> HipaaWorkspace {
    let mut ws = super::example("workspace.yaml");
    ws["spec"]["mode"] = json!(mode);
    ws["spec"]["driftCheckInterval"] = json!(format!("PT{INTERVAL_SECS}S"));
    match identity {
        Some(identity) => ws["spec"]["identity"] = identity,
        None => {
            ws["spec"].as_object_mut().expect("spec").remove("identity");
        }
    }
    serde_json::from_value(ws).expect("workspace")
}

/// azure-sim, the CRDs, a namespace and a workspace in it; then the operator, watching that
/// namespace, with `extra` arguments and `env` on top of what reaches the simulator.
pub async fn estate_with(
    name: &str,
    ws: HipaaWorkspace,
    prepare: impl AsyncFnOnce(&kube::Client, &str),
    extra: &[String],
    env: &[(&str, &str)],
) -> Estate {
    let sim = Sim::start().await;
    let client = control_plane::shared().client().await.expect("client");
    super::install_crds(&client).await;
    let ns = TestNamespace::create(&client, name)
        .await
        .expect("namespace");
    // The admin's grant: this namespace may govern the example resource group, with the
    // operator's identity or the example's client id, in Enforce and irreversibly.
    grant(&client, &ns.name, example_grant(&ns.name)).await;
    prepare(&client, &ns.name).await;
    let workspaces: Api<HipaaWorkspace> = Api::namespaced(client.clone(), &ns.name);
    workspaces
        .create(&Default::default(), &ws)
        .await
        .expect("create workspace");
    let mut args = sim.operator_args();
    args.extend(["--watch-namespaces".to_string(), ns.name.clone()]);
    args.extend(extra.iter().map(|a| a.replace("{namespace}", &ns.name)));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut env_all: Vec<(&str, &str)> = Sim::OPERATOR_ENV.to_vec();
    env_all.extend_from_slice(env);
    let mut operator = Operator::start(name, &args, &env_all);
    operator.wait_ready(Duration::from_secs(60));
    let launch = (
        name.to_string(),
        args.iter().map(|a| a.to_string()).collect(),
        env_all
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let stores: Api<PhiStore> = Api::namespaced(client, &ns.name);
    Estate {
        sim,
        ns,
        stores,
        workspaces,
        operator,
        launch,
    }
}

/// The example estate's resource group.
pub const EXAMPLE_SCOPE: &str =
    "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-clinical-phi";
/// The example workspace's client id.
pub const EXAMPLE_CLIENT: &str = "8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d";

/// A grant of the example resource group to `namespace`: the operator's identity and every
/// application of the simulated estate, Enforce and irreversible changes allowed.
pub fn example_grant(namespace: &str) -> serde_json::Value {
    json!({
        "namespaces": [namespace],
        "scopes": [EXAMPLE_SCOPE],
        "identities": [EXAMPLE_CLIENT, super::sim::READER_CLIENT_ID, super::sim::LEGACY_CLIENT_ID],
        "allowOperatorIdentity": true,
        "allowEnforce": true,
        "allowIrreversible": true
    })
}

/// Creates (or replaces) the cluster-scoped AzureScopeGrant `name` with `spec`.
pub async fn grant(client: &kube::Client, name: &str, spec: serde_json::Value) {
    let grants: Api<AzureScopeGrant> = Api::all(client.clone());
    let grant: AzureScopeGrant = serde_json::from_value(json!({
        "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "AzureScopeGrant",
        "metadata": {"name": name}, "spec": spec
    }))
    .expect("grant");
    grants
        .patch(
            name,
            &kube::api::PatchParams::apply("hipaa-tests").force(),
            &kube::api::Patch::Apply(&grant),
        )
        .await
        .expect("apply grant");
}

/// The storage example as store `name` over `account` (a resource id), with its own key.
pub fn storage_store(name: &str, account: &str) -> PhiStore {
    let mut s = super::example("phistore-storage.yaml");
    s["metadata"]["name"] = json!(name);
    s["spec"]["resource"]["id"] = json!(account);
    s["spec"]["encryption"]["keyName"] = json!(format!("{name}-cmk"));
    serde_json::from_value(s).expect("store")
}

pub async fn estate(name: &str, mode: &str) -> Estate {
    estate_with(
        name,
        workspace(mode, None),
        async |_, _| {},
        &["--leader-elect=false".into()],
        &[],
    )
    .await
}

/// Waits until the workspace's own safeguards are settled in Enforce mode: every control it
/// remediates is compliant (the archive lock and purge rights are left to people), the policy
/// initiative is assigned, and a read-back pass has run.
pub async fn workspace_settled(e: &Estate, timeout: Duration) {
    workspace_named_settled(e, "clinical", timeout).await
}

/// [`workspace_settled`] for the workspace `name`.
pub async fn workspace_named_settled(e: &Estate, name: &str, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let ws = e.workspaces.get(name).await.expect("workspace");
        let settled = ws.status.as_ref().is_some_and(|s| {
            !s.controls.is_empty()
                && s.controls.iter().all(|c| {
                    matches!(
                        c.state,
                        hipaa_operator::api::ControlState::Compliant
                            | hipaa_operator::api::ControlState::Remediated
                    ) || c.id == "storage.immutable-audit-archive"
                        || c.id == "law.purge-restricted"
                })
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == "PolicyAssigned" && c.status == "True")
        });
        if settled {
            // The pass after the last remediation reads it back.
            tokio::time::sleep(Duration::from_secs(6)).await;
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the workspace did not settle: {:#?}\n{}",
            ws.status,
            e.operator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits, up to `timeout`, until the PhiStore `name` satisfies `done`; a timeout shows the
/// status and the operator's log.
pub async fn wait_store(
    e: &Estate,
    name: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&PhiStore) -> bool,
) -> PhiStore {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Ok(s) = e.stores.get(name).await
            && done(&s)
        {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not reached in {timeout:?}; status {:#?}\noperator log:\n{}",
            e.stores.get(name).await.ok().and_then(|s| s.status),
            e.operator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The `Ready` condition's status and reason.
pub fn ready(s: &PhiStore) -> Option<(String, String)> {
    s.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// The state of control `id` (`Compliant`, `Drifted`, …), empty when not reported.
pub fn control_state(s: &PhiStore, id: &str) -> String {
    s.status
        .iter()
        .flat_map(|st| st.controls.iter())
        .find(|c| c.id == id)
        .map(|c| format!("{:?}", c.state))
        .unwrap_or_default()
}
