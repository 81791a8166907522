//! Trust boundaries end to end: two teams on one cluster, each namespace granted its own Azure
//! scope by a cluster admin's AzureScopeGrant, with team-b trying to reach team-a's resources and
//! team-a reaching into what team-b's exclusive grant reserves.
//! The simulator's request log is the witness that nothing reached Azure for a refused object,
//! and the operator's own status writes are the only ones that stand.

mod support;

use std::time::{Duration, Instant};

use control_plane::TestNamespace;
use hipaa_operator::api::{HipaaWorkspace, PhiStore};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::estate::{EXAMPLE_SCOPE, Estate, grant, storage_store, workspace};
use support::operator::Operator;
use support::sim::{self, Sim};

const SUBSCRIPTION_SCOPE: &str = "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const TEAM_B_SCOPE: &str =
    "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-team-b";

/// The example workspace named `name`, its resource group and every safeguard moved to `group`
/// and renamed after `marker`, so any request for it shows in the log by that marker.
fn marked_workspace(
    name: &str,
    group: &str,
    marker: &str,
    identity: Option<&str>,
) -> HipaaWorkspace {
    let mut ws = serde_json::to_value(workspace("Audit", None)).expect("workspace");
    ws["metadata"]["name"] = json!(name);
    let text = ws
        .to_string()
        .replace("rg-clinical-phi", group)
        .replace("kv-clinical-cmk", &format!("kv-{marker}"))
        .replace("law-clinical-audit", &format!("law-{marker}"))
        .replace("stclinicalauditarchive", &format!("st{marker}archive"))
        .replace("vnet-clinical", &format!("vnet-{marker}"));
    let mut ws: Value = serde_json::from_str(&text).expect("json");
    if let Some(client) = identity {
        ws["spec"]["identity"] = json!({"clientId": client});
    }
    serde_json::from_value(ws).expect("workspace")
}

/// The operator binary against `sim`, watching `namespaces`, ready.
fn operator_for(sim: &Sim, name: &str, namespaces: &[&str]) -> Operator {
    let mut args = sim.operator_args();
    args.extend([
        "--leader-elect=false".to_string(),
        "--watch-namespaces".to_string(),
        namespaces.join(","),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut operator = Operator::start(name, &args, Sim::OPERATOR_ENV);
    operator.wait_ready(Duration::from_secs(60));
    operator
}

async fn ready(api: &Api<PhiStore>, name: &str) -> Option<(String, String, String)> {
    let s = api.get_opt(name).await.ok()??;
    let c = s
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")?;
    Some((c.status, c.reason, c.message))
}

async fn ws_ready(api: &Api<HipaaWorkspace>, name: &str) -> Option<(String, String, String)> {
    let s = api.get_opt(name).await.ok()??;
    let c = s
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")?;
    Some((c.status, c.reason, c.message))
}

async fn wait<T>(what: &str, operator: &Operator, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}\n{}", operator.log_text());
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

#[tokio::test]
async fn a_namespace_reaches_only_what_its_grant_allows_and_one_resource_has_one_store() {
    let sim = Sim::start().await;
    let client = control_plane::shared().client().await.expect("client");
    support::install_crds(&client).await;
    let a = TestNamespace::create(&client, "team-a").await.expect("ns");
    let b = TestNamespace::create(&client, "team-b").await.expect("ns");
    // team-a: the whole subscription (the example group among it), the operator's identity,
    // Enforce, nothing irreversible. Not exclusive: it overlaps team-b's group, and the other
    // tests of this binary grant the example group to their own namespaces.
    grant(
        &client,
        &a.name,
        json!({"namespaces": [a.name], "scopes": [SUBSCRIPTION_SCOPE], "allowOperatorIdentity": true,
               "allowEnforce": true, "exclusive": false}),
    )
    .await;
    // team-b: its own group, its own identity (and the operator's), exclusive (the default):
    // reserved from every other namespace, team-a's broad grant notwithstanding.
    grant(
        &client,
        &b.name,
        json!({"namespaces": [b.name], "scopes": [TEAM_B_SCOPE],
               "identities": [sim::READER_CLIENT_ID], "allowOperatorIdentity": true}),
    )
    .await;
    let ws_a: Api<HipaaWorkspace> = Api::namespaced(client.clone(), &a.name);
    let ws_b: Api<HipaaWorkspace> = Api::namespaced(client.clone(), &b.name);
    let stores_a: Api<PhiStore> = Api::namespaced(client.clone(), &a.name);
    let stores_b: Api<PhiStore> = Api::namespaced(client.clone(), &b.name);
    let pp = PostParams::default();

    let mut clinical = workspace("Enforce", None);
    clinical.spec.audit_archive.as_mut().expect("archive").lock = true;
    ws_a.create(&pp, &clinical).await.expect("team-a workspace");
    // team-b aims a workspace at team-a's group, names an identity it was not granted, and
    // points a store of its own workspace at an account in team-a's group.
    ws_b.create(
        &pp,
        &marked_workspace("grab-group", "rg-clinical-phi", "grabgroup", None),
    )
    .await
    .expect("create");
    ws_b.create(
        &pp,
        &marked_workspace(
            "stolen-id",
            "rg-team-b",
            "stolenid",
            Some(sim::OPERATOR_CLIENT_ID),
        ),
    )
    .await
    .expect("create");
    ws_b.create(&pp, &marked_workspace("own", "rg-team-b", "teambown", None))
        .await
        .expect("create");
    // team-a aims a workspace at team-b's group, which its own grant covers but team-b's
    // reserves.
    ws_a.create(
        &pp,
        &marked_workspace("reach-b", "rg-team-b", "reachb", None),
    )
    .await
    .expect("create");

    let mut operator = operator_for(&sim, "trust", &[&a.name, &b.name]);

    stores_a
        .create(&pp, &storage_store("referral-letters", &sim::account_id()))
        .await
        .expect("store");
    let poached =
        format!("{EXAMPLE_SCOPE}/providers/Microsoft.Storage/storageAccounts/stpoachtarget");
    let mut poach = storage_store("poach", &poached);
    poach.spec.workspace_ref.name = "own".into();
    stores_b.create(&pp, &poach).await.expect("store");
    // A second store on team-a's account, in team-a's own namespace, made after the first.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    stores_a
        .create(&pp, &storage_store("second-claim", &sim::account_id()))
        .await
        .expect("store");

    for (name, says) in [
        ("grab-group", "does not include"),
        ("stolen-id", "does not allow identity"),
    ] {
        let (status, reason, message) = wait(&format!("{name} refused"), &operator, async || {
            ws_ready(&ws_b, name)
                .await
                .filter(|(_, r, _)| r == "NotPermitted")
        })
        .await;
        assert_eq!(status, "False");
        assert!(message.contains(says), "{reason}: {message}");
    }
    let (status, _, message) = wait("reach-b refused", &operator, async || {
        ws_ready(&ws_a, "reach-b")
            .await
            .filter(|(_, r, _)| r == "NotPermitted")
    })
    .await;
    assert_eq!(status, "False");
    assert!(
        message.contains(&format!(
            "spec.resourceGroup: {TEAM_B_SCOPE}, spec.keyVault.resourceId: {TEAM_B_SCOPE}/providers/Microsoft.KeyVault/vaults/kv-reachb"
        )) && message.contains(&format!(
            "and 9 more are reserved by AzureScopeGrant {} to namespaces {}; namespace {} is not among them",
            b.name, b.name, a.name
        )),
        "{message}"
    );
    let (_, _, message) = wait("poach refused", &operator, async || {
        ready(&stores_b, "poach")
            .await
            .filter(|(_, r, _)| r == "NotPermitted")
    })
    .await;
    assert!(message.contains("outside workspace"), "{message}");
    let (_, _, message) = wait("second claim refused", &operator, async || {
        ready(&stores_a, "second-claim")
            .await
            .filter(|(_, r, _)| r == "AlreadyGoverned")
    })
    .await;
    assert!(message.contains("referral-letters"), "{message}");
    // The first claim is governed, and not in Conflict with the second.
    let (_, reason, message) = wait("the first store evaluated", &operator, async || {
        ready(&stores_a, "referral-letters")
            .await
            .filter(|(_, r, _)| r != "Conflict" && !r.is_empty())
            .filter(|(s, r, _)| s == "True" || r == "Drifted" || r == "Remediating")
    })
    .await;
    assert_ne!(reason, "Conflict", "{message}");
    // The archive lock is asked for but not granted: reported, never made.
    let archive_message = wait("the archive lock is reported", &operator, async || {
        let ws = ws_a.get("clinical").await.ok()?;
        let c = ws
            .status?
            .controls
            .into_iter()
            .find(|c| c.id == "storage.immutable-audit-archive")?;
        c.message.filter(|m| m.contains("allowIrreversible"))
    })
    .await;
    assert!(
        archive_message.contains("AzureScopeGrant"),
        "{archive_message}"
    );

    let log = sim.requests().await;
    let paths: Vec<String> = log
        .iter()
        .filter_map(|r| r["path"].as_str().map(str::to_ascii_lowercase))
        .collect();
    for marker in ["grabgroup", "stolenid", "stpoachtarget", "reachb"] {
        assert!(
            !paths.iter().any(|p| p.contains(marker)),
            "a request reached Azure for a refused object ({marker}): {:?}",
            paths
                .iter()
                .filter(|p| p.contains(marker))
                .collect::<Vec<_>>()
        );
    }
    assert!(
        !paths.iter().any(|p| p.ends_with("/lock")),
        "the archive was locked without a grant"
    );
    // The permitted workspace of team-b is served (its resources do not exist: not found).
    wait("team-b's own workspace evaluated", &operator, async || {
        ws_ready(&ws_b, "own")
            .await
            .filter(|(_, r, _)| r != "NotPermitted")
    })
    .await;
    assert!(
        paths.iter().any(|p| p.contains("teambown")) || {
            let again = sim.requests().await;
            again.iter().any(|r| {
                r["path"]
                    .as_str()
                    .is_some_and(|p| p.to_ascii_lowercase().contains("teambown"))
            })
        }
    );

    // Revoking team-a's grant stops it at once: the store is refused, no further request.
    let grants: Api<hipaa_operator::api::AzureScopeGrant> = Api::all(client.clone());
    grants
        .delete(&a.name, &Default::default())
        .await
        .expect("revoke");
    wait(
        "the store refused after the revocation",
        &operator,
        async || {
            ready(&stores_a, "referral-letters")
                .await
                .filter(|(_, r, _)| r == "NotPermitted")
        },
    )
    .await;
    wait(
        "the workspace refused after the revocation",
        &operator,
        async || {
            ws_ready(&ws_a, "clinical")
                .await
                .filter(|(_, r, _)| r == "NotPermitted")
        },
    )
    .await;
    sim.clear_log().await;
    stores_a
        .patch(
            "referral-letters",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"touched": "1"}}, "spec": {"mode": "Enforce"}}),
            ),
        )
        .await
        .expect("touch");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after: Vec<Value> = sim
        .requests()
        .await
        .into_iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase()
                .contains("rg-clinical-phi")
        })
        .collect();
    assert!(
        after.is_empty(),
        "requests for team-a's group after the revocation: {after:?}"
    );
    assert!(operator.running(), "{}", operator.log_text());
    // team-b's reservation would outlive the test on this shared control plane.
    grants
        .delete(&b.name, &Default::default())
        .await
        .expect("revoke");
    a.delete().await.expect("delete");
    b.delete().await.expect("delete");
}

/// A status written by someone else (`Ready=True`, full compliance) does not stand: the
/// operator's next reconcile sees it is not the status it wrote and writes its own back.
#[tokio::test]
async fn a_status_the_operator_did_not_write_is_rewritten() {
    let e = Estate::test("forged-status").audit().start().await;
    e.create(&storage_store("referral-letters", &sim::account_id()))
        .await;
    let settled = wait(
        "the store settles (Drifted in Audit)",
        &e.operator,
        async || {
            ready(&e.stores, "referral-letters")
                .await
                .filter(|(_, r, _)| r == "Drifted")
        },
    )
    .await;
    assert_eq!(settled.0, "False");
    // Let the pass settle into its quiet state (its own status write seen).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let forged = json!({
        "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "PhiStore",
        "status": {"compliance": "25/25", "conditions": [{
            "type": "Ready", "status": "True", "reason": "Compliant",
            "message": "all controls compliant", "lastTransitionTime": "2026-12-01T00:00:00Z"
        }]}
    });
    e.stores
        .patch_status(
            "referral-letters",
            &PatchParams::default(),
            &Patch::Merge(&forged),
        )
        .await
        .expect("forge status");
    let (status, reason, _) = wait("the operator's status is back", &e.operator, async || {
        ready(&e.stores, "referral-letters")
            .await
            .filter(|(_, r, _)| r != "Compliant")
    })
    .await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "Drifted"));
    let s = e.stores.get("referral-letters").await.expect("store");
    assert_ne!(
        s.status.and_then(|st| st.compliance).as_deref(),
        Some("25/25")
    );
    e.ns.delete().await.expect("delete namespace");
}

/// Who owns part of a store's status, besides the operator's PhiStore controller.
async fn other_status_writers(api: &Api<PhiStore>, name: &str) -> Vec<String> {
    let s = api.get(name).await.expect("store");
    s.metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .filter_map(|m| m.manager)
        .filter(|m| m != "hipaa-operator-phistore")
        .collect()
}

/// A status written by someone else is caught by who wrote it, not only by what changed: a
/// forged `observed` value that moves no state is rewritten while the operator runs, and a
/// status forged while the operator is down is not taken as the baseline to resume from (the
/// next full pass is a day away) but rewritten on the first pass after the restart, with a
/// Warning event naming the writer.
#[tokio::test]
async fn a_status_forged_quietly_or_while_the_operator_is_down_is_rewritten() {
    let mut e = Estate::test("forged-quiet").audit().start().await;
    e.create(&storage_store("referral-letters", &sim::account_id()))
        .await;
    wait(
        "the store settles (Drifted in Audit)",
        &e.operator,
        async || {
            let s = e.stores.get_opt("referral-letters").await.ok()??;
            s.status
                .as_ref()
                .filter(|st| st.drift_baseline.is_some())
                .map(|_| ())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // 1. While the operator runs: one control's observed value, its state unchanged.
    let s = e.stores.get("referral-letters").await.expect("store");
    let mut controls =
        serde_json::to_value(&s.status.as_ref().expect("status").controls).expect("controls");
    let tls = controls
        .as_array_mut()
        .expect("a list")
        .iter_mut()
        .find(|c| c["id"] == "storage.min-tls-1-2")
        .expect("the TLS control");
    let truth = tls["observed"].clone();
    tls["observed"] = json!("TLS1_2 (forged)");
    e.stores
        .patch_status(
            "referral-letters",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"controls": controls}})),
        )
        .await
        .expect("forge an observed value");
    let observed = wait(
        "the forged observed value is rewritten",
        &e.operator,
        async || {
            let s = e.stores.get_opt("referral-letters").await.ok()??;
            let c = s
                .status?
                .controls
                .into_iter()
                .find(|c| c.id == "storage.min-tls-1-2")?;
            (c.observed != "TLS1_2 (forged)").then_some(c.observed)
        },
    )
    .await;
    assert_eq!(json!(observed), truth);
    assert!(
        other_status_writers(&e.stores, "referral-letters")
            .await
            .is_empty(),
        "the rewritten status is the operator's alone"
    );
    // 2. While the operator is down: Ready=True and full compliance.
    e.restart_operator(async |e| {
        e.sim.clear_log().await;
        // A forged running operation, too: its URL must never be followed.
        let forged = json!({"status": {"compliance": "25/25", "conditions": [{
            "type": "Ready", "status": "True", "reason": "Compliant",
            "message": "all controls compliant", "lastTransitionTime": "2026-12-01T00:00:00Z"
        }], "operations": [{
            "operation": "PrivateEndpoints_CreateOrUpdate",
            "resource": sim::account_id(),
            "startedAt": "2026-12-01T00:00:00Z",
            "pollUrl": format!("{}/subscriptions/{}/resourceGroups/forged-target?api-version=2022-09-01",
                e.sim.sim.base_url, sim::SUBSCRIPTION),
            "style": "Resource"
        }]}});
        e.stores
            .patch_status(
                "referral-letters",
                &PatchParams::default(),
                &Patch::Merge(&forged),
            )
            .await
            .expect("forge status");
    })
    .await;
    let (status, reason, _) = wait("the operator's status is back", &e.operator, async || {
        ready(&e.stores, "referral-letters")
            .await
            .filter(|(_, r, _)| r != "Compliant")
    })
    .await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "Drifted"));
    assert!(
        other_status_writers(&e.stores, "referral-letters")
            .await
            .is_empty()
    );
    let followed: Vec<_> = e
        .sim
        .requests()
        .await
        .into_iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.contains("forged-target"))
        })
        .collect();
    assert!(
        followed.is_empty(),
        "a forged operation was followed: {followed:?}"
    );
    let events: Api<k8s_openapi::api::events::v1::Event> = e.api();
    let said = wait("a StatusOverwritten event", &e.operator, async || {
        let list = events.list(&Default::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|ev| ev.reason.as_deref() == Some("StatusOverwritten"))
            .and_then(|ev| ev.note)
    })
    .await;
    assert!(said.contains("status fields written by"), "{said}");
    e.ns.delete().await.expect("delete namespace");
}

/// A workspace's own identity is presented as a token of the ServiceAccount `hipaa-workspace` in
/// the workspace's namespace. Entra (the simulator, as Azure does) accepts it only where the
/// identity's federated credential names that namespace: team-b naming team-a's client id gets
/// no token, even where an admin's grant wrongly lists the id for team-b.
#[tokio::test]
async fn a_workspace_identity_works_only_from_the_namespace_it_is_federated_to() {
    // A group of its own: the first test's team-b reserves rg-team-b.
    const FED_B_SCOPE: &str =
        "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-fed-b";
    const APP: &str = "3a4b5c6d-7e8f-4a9b-8c0d-1e2f3a4b5c6d";
    const OBJECT: &str = "4b5c6d7e-8f9a-4b0c-9d1e-2f3a4b5c6d7e";
    let sim = Sim::start().await;
    let client = control_plane::shared().client().await.expect("client");
    support::install_crds(&client).await;
    let a = TestNamespace::create(&client, "fed-a").await.expect("ns");
    let b = TestNamespace::create(&client, "fed-b").await.expect("ns");
    // team-a's application, federated to team-a's workspace ServiceAccount, reads the group.
    sim.admin(
        reqwest::Method::POST,
        "seed",
        Some(json!({
            "principals": [{
                "objectId": OBJECT, "clientId": APP, "displayName": "team-a-app",
                "type": "ServicePrincipal",
                "federatedCredentials": [{
                    "issuer": "https://kubernetes.default.svc.cluster.local",
                    "subject": format!("system:serviceaccount:{}:hipaa-workspace", a.name)
                }]
            }],
            "roleAssignments": [{"scope": EXAMPLE_SCOPE, "principalId": OBJECT,
                                 "role": "Reader", "principalType": "ServicePrincipal"}]
        })),
    )
    .await;
    for ns in [&a.name, &b.name] {
        let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
            Api::namespaced(client.clone(), ns);
        accounts
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "hipaa-workspace"}}))
                    .expect("service account"),
            )
            .await
            .expect("service account");
    }
    // Neither grant is exclusive: an exclusive grant would reserve APP to its own namespace and
    // refuse the other before Entra is asked, and this test is about Entra's answer. (team-a's
    // also shares the example group with the other tests of this binary.)
    grant(
        &client,
        &a.name,
        json!({"namespaces": [a.name], "scopes": [EXAMPLE_SCOPE], "identities": [APP],
               "exclusive": false}),
    )
    .await;
    // The admin's mistake: team-b's grant lists team-a's client id too.
    grant(
        &client,
        &b.name,
        json!({"namespaces": [b.name], "scopes": [FED_B_SCOPE], "identities": [APP],
               "exclusive": false}),
    )
    .await;
    let ws_a: Api<HipaaWorkspace> = Api::namespaced(client.clone(), &a.name);
    let ws_b: Api<HipaaWorkspace> = Api::namespaced(client.clone(), &b.name);
    ws_a.create(
        &PostParams::default(),
        &workspace("Audit", Some(json!({"clientId": APP}))),
    )
    .await
    .expect("team-a workspace");
    ws_b.create(
        &PostParams::default(),
        &marked_workspace("borrowed", "rg-fed-b", "borrowedid", Some(APP)),
    )
    .await
    .expect("team-b workspace");
    let mut operator = operator_for(&sim, "federated", &[&a.name, &b.name]);

    // team-a's workspace reads Azure as team-a's application.
    wait("team-a's identity reaches ARM", &operator, async || {
        sim.requests()
            .await
            .iter()
            .any(|r| r["caller"].as_str() == Some(OBJECT))
            .then_some(())
    })
    .await;
    // team-b's workspace gets no token: Entra finds no federated credential for its namespace.
    let (status, reason, message) = wait("team-b refused by Entra", &operator, async || {
        ws_ready(&ws_b, "borrowed")
            .await
            .filter(|(s, r, _)| s == "False" && r != "NotPermitted" && !r.is_empty())
    })
    .await;
    assert_eq!(status, "False");
    assert!(
        message.contains(&format!("system:serviceaccount:{}:hipaa-workspace", b.name))
            || message.contains("No matching federated identity record"),
        "{reason}: {message}"
    );
    let borrowed: Vec<Value> = sim
        .requests()
        .await
        .into_iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.to_ascii_lowercase().contains("borrowedid"))
        })
        .collect();
    assert!(borrowed.is_empty(), "team-b reached ARM: {borrowed:?}");
    assert!(operator.running(), "{}", operator.log_text());
    a.delete().await.expect("delete");
    b.delete().await.expect("delete");
}
