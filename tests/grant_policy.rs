//! The chart's grant-reservation policy (`…-grant-reservations`) against a real kube-apiserver,
//! installed with Helm as an admin installs it: with the AzureScopeGrants as its params it
//! refuses, at apply time, a HipaaWorkspace or PhiStore that names what an exclusive grant
//! reserves to other namespaces — in the words the operator uses when it refuses the same object
//! at reconcile time (`controller::trust`, run here on the same objects and grants).
//!
//! Its own test binary, so its own control plane: the exclusive grants here are cluster-wide and
//! the last step needs a cluster without any grant.

mod support;

use serde_json::{Value, json};
use support::grants::{
    SUBSCRIPTION, account, apply_cluster, assert_admitted, assert_refused, grant, group, labels_of,
    largest_grant_lists, operator_refusal, store, wait_for_policy, workspace,
};
use support::helm::{
    create_namespace, delete_namespace, helm, install_release, kubectl, shared_kubeconfig, unique,
};

/// team-a's client id, reserved by its grant.
const TEAM_A_CLIENT: &str = "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e4f5";
/// The client id of the platform team's broad grant.
const PLATFORM_CLIENT: &str = "d2e3f4a5-b6c7-4d8e-9f0a-b1c2d3e4f5a6";
/// The namespace labels team-a's grant also selects by (with a value unique to the run).
const TEAM_LABEL: &str = "hipaa-operator.io/test-team";
const ZONE_LABEL: &str = "hipaa-operator.io/test-zone";

/// A labelled namespace: its name prefix, its labels, whether team-a's selector selects it.
type Labelled = (&'static str, &'static [(&'static str, &'static str)], bool);

/// Labelled namespaces, and whether team-a's selector (below) selects them: every matchLabels
/// entry, and each matchExpressions operator, decides one of them.
const LABELLED: &[Labelled] = &[
    ("phi", &[("tier", "phi"), ("owner", "a")], true),
    (
        "research",
        &[("tier", "research"), ("env", "prod"), ("owner", "a")],
        true,
    ),
    // matchLabels: the zone label missing
    ("no-zone", &[("tier", "phi"), ("owner", "a")], false),
    // In
    ("web", &[("tier", "web"), ("owner", "a")], false),
    // NotIn
    (
        "sandbox",
        &[("tier", "phi"), ("env", "sandbox"), ("owner", "a")],
        false,
    ),
    // Exists
    ("ownerless", &[("tier", "phi")], false),
    // DoesNotExist
    (
        "legacy",
        &[("tier", "phi"), ("owner", "a"), ("legacy", "yes")],
        false,
    ),
];

fn team_a_selector(label: &str) -> Value {
    json!({
        "matchLabels": {TEAM_LABEL: label, ZONE_LABEL: "clinical"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["phi", "research"]},
            {"key": "env", "operator": "NotIn", "values": ["sandbox"]},
            {"key": "owner", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"}
        ]
    })
}

/// team-a's exclusive grant reserves resource group rg-a and its client id to team-a (and to the
/// namespaces labelled as team-a's); a platform team's broad grant, not exclusive, gives team-b
/// the whole subscription. The policy refuses team-b's objects that name rg-a or team-a's
/// client id, whatever the platform grant allows — and admits everything else.
#[test]
fn exclusive_grants_refuse_at_apply_time_what_they_reserve_in_the_operators_words() {
    let kubeconfig = shared_kubeconfig();
    let release_ns = create_namespace(kubeconfig, "grants-release", &[]);
    let team_a = create_namespace(kubeconfig, "team-a", &[]);
    let team_b = create_namespace(kubeconfig, "team-b", &[]);
    let label = unique("team-a");
    let labelled: Vec<(String, bool)> = LABELLED
        .iter()
        .map(|(prefix, labels, selected)| {
            let mut labels = labels.to_vec();
            labels.push((TEAM_LABEL, &label));
            if *prefix != "no-zone" {
                labels.push((ZONE_LABEL, "clinical"));
            }
            (create_namespace(kubeconfig, prefix, &labels), *selected)
        })
        .collect();
    let (labels_a, labels_b) = (
        labels_of(kubeconfig, &team_a),
        labels_of(kubeconfig, &team_b),
    );

    // Made before any grant reserves rg-a: a store of team-b over an account there.
    let early = store(&team_b, "early", "own", &account("rg-a", "stearly"));
    assert_admitted(kubeconfig, &early);

    let release = unique("grants");
    // Every namespace: the reservations judge team-b's and the labelled namespaces' objects.
    install_release(kubeconfig, &release, &release_ns, &[]);
    let grant_a = grant(
        &team_a,
        json!({"namespaces": [team_a], "namespaceSelector": team_a_selector(&label),
               "scopes": [group("rg-a")], "identities": [TEAM_A_CLIENT]}),
    );
    let platform_name = unique("platform");
    let mut platform = grant(
        &platform_name,
        json!({"namespaces": [team_b], "scopes": [format!("/subscriptions/{SUBSCRIPTION}")],
               "identities": [PLATFORM_CLIENT], "exclusive": false}),
    );
    apply_cluster(kubeconfig, &grant_a);
    apply_cluster(kubeconfig, &platform);
    let reserved_by_a = format!(
        "reserved by AzureScopeGrant {team_a} to namespaces {team_a} and those its namespaceSelector selects; namespace {team_b} is not among them"
    );

    // team-b's workspace on rg-a, with the platform's identity: refused, naming the first three
    // of the 12 fields that name rg-a.
    let grab = workspace(&team_b, "grab", "rg-a", PLATFORM_CLIENT);
    wait_for_policy(kubeconfig, &grab, true, &reserved_by_a);
    let grabbed = assert_refused(
        kubeconfig,
        &grab,
        &format!(
            "spec.resourceGroup: {rg}, spec.keyVault.resourceId: {rg}/providers/Microsoft.KeyVault/vaults/kv-clinical-cmk",
            rg = group("rg-a")
        ),
        operator_refusal(&[&grant_a, &platform], &labels_b, &grab, None),
    );
    assert!(
        grabbed.contains(&format!(
            "spec.logAnalytics.resourceId: {}/providers/Microsoft.OperationalInsights/workspaces/law-clinical-audit and 9 more are {reserved_by_a}",
            group("rg-a")
        )),
        "{grabbed}"
    );

    // team-b's workspace on its own group, naming team-a's client id (in upper case).
    let borrow = workspace(&team_b, "borrow", "rg-b", &TEAM_A_CLIENT.to_uppercase());
    assert_refused(
        kubeconfig,
        &borrow,
        &format!(
            "spec.identity.clientId: {} is {reserved_by_a}",
            TEAM_A_CLIENT.to_uppercase()
        ),
        operator_refusal(&[&grant_a, &platform], &labels_b, &borrow, None),
    );

    // team-b's own workspace on rg-b is admitted (the platform grant reserves nothing); a store
    // of it over an account in rg-a is refused; one in rg-a-2 is not inside rg-a.
    let own = workspace(&team_b, "own", "rg-b", PLATFORM_CLIENT);
    assert_admitted(kubeconfig, &own);
    assert_eq!(
        operator_refusal(&[&grant_a, &platform], &labels_b, &own, None),
        None
    );
    let poach = store(&team_b, "poach", "own", &account("rg-a", "stpoach"));
    assert_refused(
        kubeconfig,
        &poach,
        &format!(
            "spec.resource.id: {} is {reserved_by_a}",
            account("rg-a", "stpoach")
        ),
        operator_refusal(&[&grant_a, &platform], &labels_b, &poach, Some(&own)),
    );
    let next_door = store(
        &team_b,
        "next-door",
        "own",
        &account("rg-a-2", "stnextdoor"),
    );
    assert_admitted(kubeconfig, &next_door);

    // team-a's own objects, and those of the namespaces its grant selects by label, are
    // admitted; a labelled namespace its selector does not select is refused.
    let ws = workspace(&team_a, "clinical", "rg-a", TEAM_A_CLIENT);
    assert_admitted(kubeconfig, &ws);
    assert_eq!(
        operator_refusal(&[&grant_a, &platform], &labels_a, &ws, None),
        None
    );
    for (ns, selected) in &labelled {
        let ws = workspace(ns, "clinical", "rg-a", TEAM_A_CLIENT);
        let operator = operator_refusal(
            &[&grant_a, &platform],
            &labels_of(kubeconfig, ns),
            &ws,
            None,
        );
        if *selected {
            assert_admitted(kubeconfig, &ws);
            assert_eq!(operator, None, "{ns}");
        } else {
            assert_refused(
                kubeconfig,
                &ws,
                &format!(
                    "reserved by AzureScopeGrant {team_a} to namespaces {team_a} and those its namespaceSelector selects; namespace {ns} is not among them"
                ),
                operator,
            );
        }
    }
    assert_admitted(
        kubeconfig,
        &store(
            &team_a,
            "letters",
            "clinical",
            &account("rg-a", "stletters"),
        ),
    );

    // The platform grant is not exclusive: team-a's workspace elsewhere in the subscription is
    // admitted (that no grant of team-a covers it is the operator's to say), until the grant is
    // made exclusive.
    let elsewhere = workspace(&team_a, "elsewhere", "rg-p", TEAM_A_CLIENT);
    assert_admitted(kubeconfig, &elsewhere);
    let operator = operator_refusal(&[&grant_a, &platform], &labels_a, &elsewhere, None)
        .expect("the operator refuses what no grant covers");
    assert!(operator.contains("does not include"), "{operator}");
    platform["spec"]["exclusive"] = json!(true);
    apply_cluster(kubeconfig, &platform);
    let mut elsewhere_2 = elsewhere.clone();
    elsewhere_2["metadata"]["name"] = json!("elsewhere-2");
    let reserved_by_platform = format!(
        "reserved by AzureScopeGrant {platform_name} to namespaces {team_b}; namespace {team_a} is not among them"
    );
    wait_for_policy(kubeconfig, &elsewhere_2, true, &reserved_by_platform);
    assert_refused(
        kubeconfig,
        &elsewhere_2,
        &format!("spec.resourceGroup: {}, ", group("rg-p")),
        operator_refusal(&[&grant_a, &platform], &labels_a, &elsewhere_2, None),
    );

    // An object made before the reservation may still change its metadata (and so be deleted
    // past the operator's finalizer), but not its spec.
    let relabel = kubectl(
        kubeconfig,
        &["label", "phistore", "early", "-n", &team_b, "reviewed=yes"],
        None,
    );
    assert!(relabel.success, "{}", relabel.stderr);
    let respec = kubectl(
        kubeconfig,
        &[
            "patch",
            "phistore",
            "early",
            "-n",
            &team_b,
            "--type=merge",
            "-p",
            r#"{"spec":{"mode":"Enforce"}}"#,
        ],
        None,
    );
    assert!(
        !respec.success
            && respec.stderr.contains(&format!(
                "spec.resource.id: {} is {reserved_by_a}",
                account("rg-a", "stearly")
            )),
        "{}",
        respec.stderr
    );

    // The largest grant and workspace the schemas allow stay within the API server's CEL cost
    // limits (an evaluation error would deny, failurePolicy Fail): 64 scopes of 1,024
    // characters and 64 identities, against a workspace naming 32 DNS zones and its other ids.
    let largest_name = unique("largest");
    let (scopes, identities) = largest_grant_lists(0, &group("rg-w"));
    let largest = grant(
        &largest_name,
        json!({"namespaces": [team_a], "scopes": scopes, "identities": identities}),
    );
    apply_cluster(kubeconfig, &largest);
    let grants = [&grant_a, &platform, &largest];
    let widest = |name: &str, group_name: &str| {
        let mut ws = workspace(&team_b, name, group_name, PLATFORM_CLIENT);
        ws["spec"]["privateNetworking"]["privateDnsZoneIds"] = (0..32)
            .map(|i| {
                format!(
                    "{}/providers/Microsoft.Network/privateDnsZones/z{i:02}{}",
                    group(group_name),
                    "a".repeat(250)
                )
            })
            .collect();
        ws
    };
    let in_last_scope = widest("widest-w", "rg-w");
    wait_for_policy(
        kubeconfig,
        &in_last_scope,
        true,
        &format!("reserved by AzureScopeGrant {largest_name}"),
    );
    assert_refused(
        kubeconfig,
        &in_last_scope,
        &format!(
            "reserved by AzureScopeGrant {largest_name} to namespaces {team_a}; namespace {team_b} is not among them"
        ),
        operator_refusal(&grants, &labels_b, &in_last_scope, None),
    );
    let beside_every_scope = widest("widest", &"b".repeat(90));
    let admitted = assert_admitted(kubeconfig, &beside_every_scope);
    assert!(!admitted.stderr.contains("cost"), "{}", admitted.stderr);
    assert_eq!(
        operator_refusal(&grants, &labels_b, &beside_every_scope, None),
        None
    );

    // No grant at all: nothing is reserved, and the operator's NotPermitted is the answer.
    for name in [&team_a, &platform_name, &largest_name] {
        kubectl(
            kubeconfig,
            &["delete", "azurescopegrant", name.as_str()],
            None,
        )
        .expect_success("deleting a grant");
    }
    wait_for_policy(kubeconfig, &grab, false, "");

    helm(
        Some(kubeconfig),
        &["uninstall", &release, "-n", &release_ns],
    )
    .expect_success("helm uninstall");
    for ns in [&release_ns, &team_a, &team_b]
        .into_iter()
        .chain(labelled.iter().map(|(ns, _)| ns))
    {
        delete_namespace(kubeconfig, ns);
    }
}
