//! The chart's coverage policy (`…-grant-coverage`) with the operator that feeds it, against a
//! real kube-apiserver: the operator, running as the chart's ServiceAccount, writes each
//! namespace's NamespaceGrant from the AzureScopeGrants, and the policy refuses at apply time a
//! HipaaWorkspace or PhiStore that no grant covers — in the words the operator uses when it
//! refuses the same object at reconcile time (`controller::trust`, run here on the same objects
//! and grants).
//!
//! Its own test binary, so its own control plane: the policy refuses every workspace and store of
//! a namespace no grant covers, cluster-wide.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::grants::{
    SUBSCRIPTION, account, apply_cluster, assert_admitted, assert_refused, grant, group, labels_of,
    largest_grant_lists, operator_refusal, store, wait_for_policy, workspace,
};
use support::helm::{
    chart_dir, create_namespace, delete_namespace, get_json, helm, kubectl, poll,
    service_account_kubeconfig, shared_kubeconfig, unique,
};
use support::operator::Operator;
use support::sim::Sim;

/// team-a's client id.
const CLIENT_A: &str = "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e4f5";
/// A client id no grant lists.
const CLIENT_X: &str = "e3f4a5b6-c7d8-4e9f-8a0b-c2d3e4f5a6b7";
/// The label the label-selecting grant selects namespaces by.
const TIER: &str = "hipaa-operator.io/test-tier";

/// The grants in `namespace`'s NamespaceGrant, by name (None when it has none).
fn published(kubeconfig: &std::path::Path, namespace: &str) -> Option<Vec<String>> {
    let grant = get_json(
        kubeconfig,
        &["namespacegrant", "azure-scope-grants", "-n", namespace],
    )?;
    Some(
        grant["spec"]["grants"]
            .as_array()
            .expect("spec.grants")
            .iter()
            .map(|g| g["name"].as_str().expect("name").to_string())
            .collect(),
    )
}

/// Waits until `namespace`'s NamespaceGrant lists `names` (None: until it has none).
fn wait_published(kubeconfig: &std::path::Path, namespace: &str, names: Option<&[&str]>) {
    let wanted = names.map(|n| n.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    poll(
        &format!("the NamespaceGrant of {namespace} to be {wanted:?}"),
        240,
        Duration::from_secs(60),
        || (published(kubeconfig, namespace) == wanted).then_some(()),
    );
}

/// Applies `object` and asserts the coverage binding refused it because no NamespaceGrant
/// exists in its namespace: the API server's words, naming the binding, whose name says why.
fn assert_uncovered(kubeconfig: &std::path::Path, object: &Value) {
    let ns = object["metadata"]["namespace"].as_str().expect("namespace");
    let ran = support::helm::apply(kubeconfig, ns, object, false);
    assert!(
        !ran.success
            && ran
                .stderr
                .contains("namespace-needs-an-azurescopegrant' denied request")
            && ran.stderr.contains("no params found"),
        "{}",
        ran.stderr
    );
}

fn resource_version(kubeconfig: &std::path::Path, namespace: &str) -> String {
    get_json(
        kubeconfig,
        &["namespacegrant", "azure-scope-grants", "-n", namespace],
    )
    .expect("the NamespaceGrant")["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_and_stores_no_grant_covers_are_refused_at_apply_time_in_the_operators_words() {
    let kubeconfig = shared_kubeconfig();
    let release_ns = create_namespace(kubeconfig, "coverage-release", &[]);
    let team_a = create_namespace(kubeconfig, "team-a", &[]);
    let team_c = create_namespace(kubeconfig, "team-c", &[]);

    // The chart, as an admin installs it: the coverage policy is on by default.
    let release = unique("cov");
    helm(
        Some(kubeconfig),
        &[
            "install",
            &release,
            chart_dir().to_str().expect("a UTF-8 path"),
            "-n",
            &release_ns,
            "--skip-crds",
        ],
    )
    .expect_success("helm install");

    // No grant covers team-a yet: any workspace there is refused, by the binding whose name
    // says why.
    let ws_a = workspace(&team_a, "clinical", "rg-a", CLIENT_A);
    wait_for_policy(
        kubeconfig,
        &ws_a,
        true,
        "namespace-needs-an-azurescopegrant",
    );

    // The operator, with the chart's ServiceAccount and nothing more.
    let sim = Sim::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let operator_kubeconfig = dir.path().join("kubeconfig");
    service_account_kubeconfig(
        kubeconfig,
        &release_ns,
        &format!("{release}-hipaa-operator"),
        &operator_kubeconfig,
    );
    let mut args = sim.operator_args();
    args.push("--leader-elect=false".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut env = Sim::OPERATOR_ENV.to_vec();
    let kubeconfig_env = operator_kubeconfig.display().to_string();
    env.push(("KUBECONFIG", &kubeconfig_env));
    let mut operator = Operator::start("coverage", &args, &env);
    operator.wait_ready(Duration::from_secs(60));

    // team-a's grant (its group, its identity) and a grant by label (a group of the platform
    // team's, the operator's own identity; not exclusive, so a namespace it does not select may
    // still be refused by coverage rather than by reservation).
    let grant_a = grant(
        &team_a,
        json!({"namespaces": [team_a], "scopes": [group("rg-a")], "identities": [CLIENT_A]}),
    );
    let tier = unique("phi");
    let by_label_name = unique("by-label");
    let by_label = grant(
        &by_label_name,
        json!({"namespaceSelector": {"matchLabels": {TIER: tier}},
               "scopes": [group("rg-shared")], "allowOperatorIdentity": true, "exclusive": false}),
    );
    apply_cluster(kubeconfig, &grant_a);
    apply_cluster(kubeconfig, &by_label);
    wait_published(kubeconfig, &team_a, Some(&[&team_a]));
    assert_eq!(published(kubeconfig, &team_c), None);
    let grants = [&grant_a, &by_label];
    let labels_a = labels_of(kubeconfig, &team_a);

    // Covered: admitted, and the operator serves it.
    wait_for_policy(kubeconfig, &ws_a, false, "");
    assert_admitted(kubeconfig, &ws_a);
    assert_eq!(operator_refusal(&grants, &labels_a, &ws_a, None), None);
    let letters = store(
        &team_a,
        "letters",
        "clinical",
        &account("rg-a", "stletters"),
    );
    assert_admitted(kubeconfig, &letters);
    assert_eq!(
        operator_refusal(&grants, &labels_a, &letters, Some(&ws_a)),
        None
    );

    // Another group: no grant includes it.
    let elsewhere = workspace(&team_a, "elsewhere", "rg-b", CLIENT_A);
    assert_refused(
        kubeconfig,
        &elsewhere,
        &format!(
            "no AzureScopeGrant lets namespace {team_a} govern {} with identity {CLIENT_A} ({team_a} does not include {})",
            group("rg-b"),
            group("rg-b")
        ),
        operator_refusal(&grants, &labels_a, &elsewhere, None),
    );
    // Its group, another identity; and the operator's own, which team-a's grant does not allow.
    let borrowed = workspace(&team_a, "borrowed", "rg-a", CLIENT_X);
    assert_refused(
        kubeconfig,
        &borrowed,
        &format!("({team_a} does not allow identity {CLIENT_X})"),
        operator_refusal(&grants, &labels_a, &borrowed, None),
    );
    let mut own_identity = workspace(&team_a, "own-identity", "rg-a", CLIENT_A);
    own_identity["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("identity");
    assert_refused(
        kubeconfig,
        &own_identity,
        &format!(
            "with the operator's own identity ({team_a} does not allow the operator's own identity)"
        ),
        operator_refusal(&grants, &labels_a, &own_identity, None),
    );
    // Its group and identity, with its key vault in a group the grant does not include.
    let mut stray = workspace(&team_a, "stray", "rg-a", CLIENT_A);
    let stray_vault = format!(
        "{}/providers/Microsoft.KeyVault/vaults/kv-stray",
        group("rg-z")
    );
    stray["spec"]["keyVault"]["resourceId"] = json!(stray_vault);
    assert_refused(
        kubeconfig,
        &stray,
        &format!(
            "outside the scopes granted to namespace {team_a} by {team_a}: spec.keyVault.resourceId {stray_vault}"
        ),
        operator_refusal(&grants, &labels_a, &stray, None),
    );
    // A store over an account outside every granted scope.
    let poach = store(&team_a, "poach", "clinical", &account("rg-z", "stpoach"));
    let refused = kubectl(
        kubeconfig,
        &["apply", "-n", &team_a, "-f", "-"],
        Some(&poach.to_string()),
    );
    assert!(
        !refused.success
            && refused.stderr.contains(&format!(
                "spec.resource.id {} is outside every scope granted to namespace {team_a} (by {team_a})",
                account("rg-z", "stpoach")
            )),
        "{}",
        refused.stderr
    );
    assert!(
        operator_refusal(&grants, &labels_a, &poach, Some(&ws_a))
            .is_some_and(|r| r.contains("is outside")),
        "the operator serves what the policy refuses"
    );

    // Only the operator writes NamespaceGrants: an admin's edit and an admin's own are refused.
    let forged = json!({
        "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "NamespaceGrant",
        "metadata": {"name": "azure-scope-grants", "namespace": team_c},
        "spec": {"grants": [{"name": "forged", "scopes": [format!("/subscriptions/{SUBSCRIPTION}")],
                             "identities": [CLIENT_X]}]}
    });
    let ran = kubectl(kubeconfig, &["apply", "-f", "-"], Some(&forged.to_string()));
    assert!(
        !ran.success && ran.stderr.contains("written only by the operator"),
        "{}",
        ran.stderr
    );
    let widened = kubectl(
        kubeconfig,
        &[
            "patch",
            "namespacegrant",
            "azure-scope-grants",
            "-n",
            &team_a,
            "--type=json",
            "-p",
            &format!(
                r#"[{{"op":"add","path":"/spec/grants/0/scopes/-","value":"/subscriptions/{SUBSCRIPTION}"}}]"#
            ),
        ],
        None,
    );
    assert!(
        !widened.success && widened.stderr.contains("written only by the operator"),
        "{}",
        widened.stderr
    );
    // A deleted one is written again.
    kubectl(
        kubeconfig,
        &[
            "delete",
            "namespacegrant",
            "azure-scope-grants",
            "-n",
            &team_a,
        ],
        None,
    )
    .expect_success("deleting the NamespaceGrant");
    wait_published(kubeconfig, &team_a, Some(&[&team_a]));

    // A label that changes nothing the grants select writes nothing.
    let before = resource_version(kubeconfig, &team_a);
    kubectl(
        kubeconfig,
        &["label", "namespace", &team_a, "unrelated=yes"],
        None,
    )
    .expect_success("labelling team-a");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(resource_version(kubeconfig, &team_a), before);

    // A namespace labelled as the label grant selects is covered by it, and no longer once the
    // label goes.
    let on_label = |ns: &str| {
        let mut ws = workspace(ns, "shared", "rg-shared", CLIENT_A);
        ws["spec"].as_object_mut().expect("spec").remove("identity");
        ws
    };
    let shared_c = on_label(&team_c);
    assert_uncovered(kubeconfig, &shared_c);
    let refusal = operator_refusal(&grants, &labels_of(kubeconfig, &team_c), &shared_c, None)
        .expect("the operator refuses what the policy refuses");
    assert!(
        refusal.starts_with(&format!("no AzureScopeGrant covers namespace {team_c}")),
        "{refusal}"
    );
    kubectl(
        kubeconfig,
        &["label", "namespace", &team_c, &format!("{TIER}={tier}")],
        None,
    )
    .expect_success("labelling team-c");
    wait_published(kubeconfig, &team_c, Some(&[&by_label_name]));
    wait_for_policy(kubeconfig, &shared_c, false, "");
    assert_eq!(
        operator_refusal(&grants, &labels_of(kubeconfig, &team_c), &shared_c, None),
        None
    );
    kubectl(
        kubeconfig,
        &["label", "namespace", &team_c, &format!("{TIER}-")],
        None,
    )
    .expect_success("unlabelling team-c");
    wait_published(kubeconfig, &team_c, None);
    wait_for_policy(
        kubeconfig,
        &shared_c,
        true,
        "namespace-needs-an-azurescopegrant",
    );

    // A spec change out of the grant's scopes is refused too (the update policy).
    let moved = kubectl(
        kubeconfig,
        &[
            "patch",
            "hipaaworkspace",
            "clinical",
            "-n",
            &team_a,
            "--type=merge",
            "-p",
            &json!({"spec": {"keyVault": {"resourceId": stray_vault}}}).to_string(),
        ],
        None,
    );
    assert!(
        !moved.success
            && moved.stderr.contains(&format!(
                "outside the scopes granted to namespace {team_a} by {team_a}: spec.keyVault.resourceId {stray_vault}"
            )),
        "{}",
        moved.stderr
    );

    // Revoked: team-a still holds a workspace and a store, so its NamespaceGrant stays, empty.
    // A new workspace and a spec change are refused in the operator's words; the workspace
    // made under the grant may still change its metadata (so the operator's finalizer can go),
    // and the operator reports it NotPermitted.
    kubectl(kubeconfig, &["delete", "azurescopegrant", &team_a], None)
        .expect_success("revoking team-a's grant");
    wait_published(kubeconfig, &team_a, Some(&[]));
    let revoked = [&by_label];
    let mut later = ws_a.clone();
    later["metadata"]["name"] = json!("later");
    assert_refused(
        kubeconfig,
        &later,
        &format!(
            "no AzureScopeGrant covers namespace {team_a}: a cluster admin must grant it {} with identity {CLIENT_A}",
            group("rg-a")
        ),
        operator_refusal(&revoked, &labels_a, &later, None),
    );
    let mut respec = ws_a.clone();
    respec["spec"]["mode"] = json!("Enforce");
    let refused = support::helm::apply(kubeconfig, &team_a, &respec, false);
    assert!(
        !refused.success
            && refused
                .stderr
                .contains(&format!("no AzureScopeGrant covers namespace {team_a}")),
        "{}",
        refused.stderr
    );
    let relabel = kubectl(
        kubeconfig,
        &[
            "label",
            "hipaaworkspace",
            "clinical",
            "-n",
            &team_a,
            "reviewed=yes",
        ],
        None,
    );
    assert!(relabel.success, "{}", relabel.stderr);
    poll(
        "the revoked workspace to be NotPermitted",
        240,
        Duration::from_secs(60),
        || {
            let ws = get_json(kubeconfig, &["hipaaworkspace", "clinical", "-n", &team_a])?;
            ws["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Ready" && c["reason"] == "NotPermitted")
                .then_some(())
        },
    );
    assert!(operator.running());

    kubectl(
        kubeconfig,
        &["delete", "azurescopegrant", &by_label_name],
        None,
    )
    .expect_success("deleting a grant");
    // Large grants stay within the API server's CEL cost budget (an evaluation error would
    // deny, failurePolicy Fail): four grants of team-c, each of 64 scopes of 1,024 characters
    // (the largest the schema allows) and 64 identities, against a workspace naming 32 DNS
    // zones, each id compared with every scope before the last one matches.
    let mut large = Vec::new();
    for n in 0..4 {
        let (scopes, identities) = largest_grant_lists(n, &group("rg-w"));
        let name = unique("large");
        let g = grant(
            &name,
            json!({"namespaces": [team_c], "scopes": scopes, "identities": identities}),
        );
        apply_cluster(kubeconfig, &g);
        large.push(name);
    }
    let mut names: Vec<&str> = large.iter().map(String::as_str).collect();
    names.sort();
    wait_published(kubeconfig, &team_c, Some(&names));
    let mut widest = workspace(
        &team_c,
        "widest",
        "rg-w",
        "00000003-003f-4000-8000-000000000000",
    );
    widest["spec"]["privateNetworking"]["privateDnsZoneIds"] = (0..32)
        .map(|i| {
            format!(
                "{}/providers/Microsoft.Network/privateDnsZones/z{i:02}{}",
                group("rg-w"),
                "a".repeat(250)
            )
        })
        .collect();
    wait_for_policy(kubeconfig, &widest, false, "");
    let mut stray_zone = widest.clone();
    stray_zone["metadata"]["name"] = json!("stray-zone");
    stray_zone["spec"]["privateNetworking"]["privateDnsZoneIds"][31] = json!(format!(
        "{}/providers/Microsoft.Network/privateDnsZones/elsewhere",
        group("rg-z")
    ));
    let ran = support::helm::apply(kubeconfig, &team_c, &stray_zone, true);
    assert!(
        !ran.success
            && ran.stderr.contains(&format!(
                "spec.privateNetworking.privateDnsZoneIds {}/providers/Microsoft.Network/privateDnsZones/elsewhere",
                group("rg-z")
            ))
            && !ran.stderr.contains("cost"),
        "{}",
        ran.stderr
    );
    for name in &large {
        kubectl(kubeconfig, &["delete", "azurescopegrant", name], None)
            .expect_success("deleting a grant");
    }

    // The operator releases its finalizers while it still runs; once team-a holds nothing, its
    // empty NamespaceGrant goes.
    for ns in [&team_a, &team_c] {
        kubectl(
            kubeconfig,
            &[
                "delete",
                "hipaaworkspaces,phistores",
                "--all",
                "-n",
                ns,
                "--timeout=60s",
            ],
            None,
        )
        .expect_success("deleting the workspaces and stores");
    }
    wait_published(kubeconfig, &team_a, None);
    drop(operator);
    helm(
        Some(kubeconfig),
        &["uninstall", &release, "-n", &release_ns],
    )
    .expect_success("helm uninstall");
    for ns in [&release_ns, &team_a, &team_c] {
        delete_namespace(kubeconfig, ns);
    }
}
