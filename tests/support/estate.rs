//! An estate for end-to-end tests: azure-sim seeded with the example estate, the CRDs on the
//! shared API server, a namespace with the example workspace, and the operator binary watching
//! that namespace. Built as a scenario reads —
//!
//! ```ignore
//! let e = Estate::test("sql-store").audit().start().await;
//! e.create(&PhiStore::test("phistore-sql.yaml").build()).await;
//! let found = e.wait_store("scheduling-sql", "Drifted", secs(150), drifted).await;
//! e.set_workspace_mode("Enforce").await;
//! ```
//!
//! and every wait is bounded in time, with the status and the operator's log on a timeout.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use control_plane::TestNamespace;
use hipaa_operator::api::{AzureScopeGrant, HipaaWorkspace, PhiStore};
use hipaa_operator::azure::AzureClient;
use hipaa_operator::azure::resources::ArmResource;
use hipaa_operator::azure::types::ArmOp;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::operator::Operator;
use super::sim::Sim;

pub const INTERVAL_SECS: u64 = 8;

/// The example workspace's name.
pub const WORKSPACE: &str = "clinical";

pub struct Estate {
    pub sim: Sim,
    /// The operator's Azure client (its identity, fast long-running-operation polling).
    azure: AzureClient,
    pub client: kube::Client,
    pub ns: TestNamespace,
    pub stores: Api<PhiStore>,
    pub workspaces: Api<HipaaWorkspace>,
    pub operator: Operator,
    /// How the operator was started, to start it again.
    launch: (String, Vec<String>, Vec<(String, String)>),
}

/// What an estate is to be: see [`Estate::test`].
#[must_use]
pub struct EstateBuilder {
    name: String,
    mode: String,
    identity: Option<Value>,
    workspace_spec: Value,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Seeded into the simulator before the operator starts (`POST /_sim/seed`).
    seed: Option<Value>,
}

impl Estate {
    /// The estate `name` (its namespace and operator are named after it): the example workspace
    /// in Audit mode with the operator's own identity, checked every `INTERVAL_SECS`; the
    /// operator without leader election.
    pub fn test(name: &str) -> EstateBuilder {
        EstateBuilder {
            name: name.to_string(),
            mode: "Audit".to_string(),
            identity: None,
            workspace_spec: json!({}),
            args: vec!["--leader-elect=false".to_string()],
            env: Vec::new(),
            seed: None,
        }
    }

    /// Stops the operator (SIGTERM), runs `meanwhile`, and starts it again as it was started.
    pub async fn restart_operator(&mut self, meanwhile: impl AsyncFnOnce(&Estate)) {
        assert!(
            self.operator.stop().await,
            "the operator did not stop within 20 s of SIGTERM; its log:\n{}",
            self.operator.log_text()
        );
        meanwhile(self).await;
        let (name, args, env) = &self.launch;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.operator = Operator::start(&format!("{name}-again"), &args, &env);
        self.operator.wait_ready(Duration::from_secs(60));
    }

    /// Objects of another kind in the estate's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.ns.name)
    }

    /// Creates `store`.
    pub async fn create(&self, store: &PhiStore) -> PhiStore {
        self.stores
            .create(&Default::default(), store)
            .await
            .expect("create store")
    }

    /// Merge-patches the store `name` with `patch`.
    pub async fn patch_store(&self, name: &str, patch: Value) {
        self.stores
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patching store {name} with {patch}: {e}"));
    }

    /// Merge-patches the workspace's spec with `spec`.
    pub async fn patch_workspace(&self, spec: Value) {
        self.workspaces
            .patch(
                WORKSPACE,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "spec": spec })),
            )
            .await
            .unwrap_or_else(|e| panic!("patching the workspace with {spec}: {e}"));
    }

    /// The workspace's `spec.mode`.
    pub async fn set_workspace_mode(&self, mode: &str) {
        self.patch_workspace(json!({ "mode": mode })).await;
    }

    /// Deletes the store `name` and waits, up to `timeout`, until it is gone; `why` explains a
    /// timeout.
    pub async fn delete_store(&self, name: &str, timeout: Duration, why: &str) {
        self.stores
            .delete(name, &Default::default())
            .await
            .expect("delete store");
        let deadline = Instant::now() + timeout;
        while self.stores.get_opt(name).await.expect("get").is_some() {
            assert!(
                Instant::now() < deadline,
                "{why}:\n{}",
                self.operator.log_text()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Waits, up to `timeout`, until the PhiStore `name` satisfies `done`; a timeout shows the
    /// status and the operator's log.
    pub async fn wait_store(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(&PhiStore) -> bool,
    ) -> PhiStore {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(s) = self.stores.get(name).await
                && done(&s)
            {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not reached in {timeout:?}; status {:#?}\noperator log:\n{}",
                self.stores.get(name).await.ok().and_then(|s| s.status),
                self.operator.log_text()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Waits, up to `timeout`, until the workspace satisfies `done`; a timeout shows the status
    /// and the operator's log.
    pub async fn wait_workspace(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&HipaaWorkspace) -> bool,
    ) -> HipaaWorkspace {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(ws) = self.workspaces.get(WORKSPACE).await
                && done(&ws)
            {
                return ws;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not reached in {timeout:?}; status {:#?}\noperator log:\n{}",
                self.workspaces
                    .get(WORKSPACE)
                    .await
                    .ok()
                    .and_then(|w| w.status),
                self.operator.log_text()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Polls `check` every 500 ms until it holds, for at most `timeout`; a timeout shows `what`
    /// and the operator's log.
    pub async fn eventually(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl AsyncFnMut() -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !check().await {
            assert!(
                Instant::now() < deadline,
                "{what}:\n{}",
                self.operator.log_text()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The operator's Azure client (its identity, fast long-running-operation polling).
    pub fn azure(&self) -> &AzureClient {
        &self.azure
    }

    /// Another principal's client, for drift made out of band.
    pub fn legacy_azure(&self) -> AzureClient {
        self.sim.client(Sim::legacy_identity())
    }

    /// The resource `id` as the operator reads it; a panic when it does not exist.
    pub async fn resource(&self, op: &ArmOp, id: &str) -> ArmResource {
        self.azure()
            .get_resource(op, id)
            .await
            .expect("read")
            .unwrap_or_else(|| panic!("{id} missing"))
    }

    /// Asserts that nothing was written to Azure (the simulator's log since it was last
    /// cleared); `who` names what would have written, e.g. `Audit mode`.
    pub async fn assert_no_azure_writes(&self, who: &str) {
        let writes = self.sim.writes().await;
        assert!(writes.is_empty(), "{who} wrote to Azure: {writes:?}");
    }
}

impl EstateBuilder {
    pub fn audit(self) -> Self {
        self.mode("Audit")
    }

    pub fn enforce(self) -> Self {
        self.mode("Enforce")
    }

    /// The workspace's `spec.mode`.
    pub fn mode(mut self, mode: &str) -> Self {
        self.mode = mode.to_string();
        self
    }

    /// The workspace's `spec.identity` (the operator's own identity otherwise).
    pub fn identity(mut self, identity: Value) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Merges `spec` into the workspace's spec (a JSON merge patch: objects merge, null
    /// removes), e.g. `json!({"accessReview": {"dueAfter": "PT40S"}})`.
    pub fn workspace_spec(mut self, spec: Value) -> Self {
        merge(&mut self.workspace_spec, spec);
        self
    }

    /// With leader election, as in production (the estates run without it otherwise).
    pub fn with_leader_election(mut self) -> Self {
        self.args.retain(|a| a != "--leader-elect=false");
        self
    }

    /// Extra operator arguments; `{namespace}` stands for the estate's namespace.
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Principals, roles, assignments or resources added to the simulator's estate before the
    /// operator starts.
    pub fn seed(mut self, seed: Value) -> Self {
        self.seed = Some(seed);
        self
    }

    /// An extra variable in the operator's environment.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub async fn start(self) -> Estate {
        self.start_after(async |_, _| {}).await
    }

    /// Starts the estate with `prepare` run in the namespace after the grant and before the
    /// workspace and the operator.
    pub async fn start_after(self, prepare: impl AsyncFnOnce(&kube::Client, &str)) -> Estate {
        let mut ws = serde_json::to_value(workspace(&self.mode, self.identity)).expect("workspace");
        merge(&mut ws["spec"], self.workspace_spec);
        let ws: HipaaWorkspace = serde_json::from_value(ws).expect("workspace");
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        estate_with(&self.name, ws, prepare, &self.args, &env, self.seed).await
    }
}

/// RFC 7386: `patch` merged into `target`.
fn merge(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            let object = target.as_object_mut().expect("an object");
            for (key, value) in fields {
                if value.is_null() {
                    object.remove(&key);
                } else {
                    merge(object.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other,
    }
}

/// The workspace example in `mode`, checked every `INTERVAL_SECS`, using the operator's own
/// identity unless `identity` is given (the example names a workload-identity client id).
pub fn workspace(mode: &str, identity: Option<Value>) -> HipaaWorkspace {
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
async fn estate_with(
    name: &str,
    ws: HipaaWorkspace,
    prepare: impl AsyncFnOnce(&kube::Client, &str),
    extra: &[String],
    env: &[(&str, &str)],
    seed: Option<Value>,
) -> Estate {
    let sim = Sim::start().await;
    if let Some(seed) = seed {
        sim.admin(reqwest::Method::POST, "seed", Some(seed)).await;
    }
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
    let stores: Api<PhiStore> = Api::namespaced(client.clone(), &ns.name);
    let azure = sim.client(Sim::operator_identity());
    Estate {
        sim,
        azure,
        client,
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
/// application of the simulated estate, Enforce and irreversible changes allowed. Not
/// exclusive: every test of a binary shares one control plane and grants the same group to its
/// own namespace, and an exclusive grant would reserve it from the others.
pub fn example_grant(namespace: &str) -> serde_json::Value {
    json!({
        "namespaces": [namespace],
        "scopes": [EXAMPLE_SCOPE],
        "identities": [EXAMPLE_CLIENT, super::sim::READER_CLIENT_ID, super::sim::LEGACY_CLIENT_ID],
        "allowOperatorIdentity": true,
        "allowEnforce": true,
        "allowIrreversible": true,
        "exclusive": false
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
    use super::store::StoreFixture as _;
    PhiStore::test("phistore-storage.yaml")
        .named(name)
        .over(account)
        .with_own_key()
        .build()
}

/// Waits until the workspace's own safeguards are settled in Enforce mode: every control it
/// remediates is compliant (the archive lock and purge rights are left to people), the policy
/// initiative is assigned, and a read-back pass has run.
pub async fn workspace_settled(e: &Estate, timeout: Duration) {
    workspace_named_settled(e, WORKSPACE, timeout).await
}

/// [`workspace_settled`] for the workspace `name`.
pub async fn workspace_named_settled(e: &Estate, name: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
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
                        // The estate gives the operator Contributor: reported, for a person.
                        || c.id == "op.least-privilege-role"
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
            Instant::now() < deadline,
            "the workspace did not settle: {:#?}\n{}",
            ws.status,
            e.operator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The `Ready` condition's status and reason.
pub fn ready(s: &PhiStore) -> Option<(String, String)> {
    condition(s, "Ready")
}

/// The status and reason of the condition `type_`.
pub fn condition(s: &PhiStore, type_: &str) -> Option<(String, String)> {
    s.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
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

/// The `Ready` condition's message, empty when there is none.
pub fn ready_message(s: &PhiStore) -> String {
    s.status
        .iter()
        .flat_map(|st| st.conditions.iter())
        .find(|c| c.type_ == "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

/// `Ready` is `True`.
pub fn is_ready(s: &PhiStore) -> bool {
    ready(s).is_some_and(|(status, _)| status == "True")
}

/// `Ready`'s reason is `Drifted` (whatever its status).
pub fn drifted(s: &PhiStore) -> bool {
    has_reason(s, "Drifted")
}

/// `Ready`'s reason is `reason`.
pub fn has_reason(s: &PhiStore, reason: &str) -> bool {
    ready(s).is_some_and(|(_, r)| r == reason)
}

/// Every control's state by id.
pub fn states(s: &PhiStore) -> BTreeMap<String, String> {
    s.status
        .iter()
        .flat_map(|st| st.controls.iter())
        .map(|c| (c.id.clone(), format!("{:?}", c.state)))
        .collect()
}
