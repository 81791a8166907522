//! The Helm chart (`charts/hipaa-operator`) against the pinned `helm`, `kubectl` and a real
//! kube-apiserver: lint, schema, server-side dry run, install / upgrade / uninstall on a cluster
//! without the CRDs, least-privilege RBAC checked with `kubectl auth can-i`, the admission policy's
//! warnings, the Argo CD health script run by a real Lua interpreter, and the Dockerfile's
//! contract with the chart.
//!
//! Every test runs `helm` and `kubectl` as the admin would, so the tests are synchronous; each
//! uses its own release and namespaces, and every wait is bounded in attempts and time.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hipaa_operator::api::PhiStore;
use serde_json::{Value, json};
use support::helm::{
    Ran, TEST_IMAGE_REPOSITORY, all_features_values, apply, apply_expecting_warning, can_i,
    chart_dir, create_namespace, delete_namespace, documents, find, get_json, helm,
    install_release, kinds, kubectl, operator_accepts, operator_starts, poll, render, run,
    shared_kubeconfig, template, tools, unique,
};
use support::repo;
use support::store::StoreFixture;

// ---------------------------------------------------------------------------------------------
// Offline: lint, schema, rendering, files
// ---------------------------------------------------------------------------------------------

/// No public image is published, so the chart names none: an install without
/// `image.repository` stops at once and says what to set, instead of pulling a placeholder.
#[test]
fn a_chart_without_an_image_repository_says_what_to_set() {
    let chart = chart_dir();
    let chart = chart.to_str().expect("a UTF-8 path");
    let ran = helm(
        None,
        &["template", "x", chart, "--set", "image.repository="],
    );
    assert!(!ran.success, "rendered without an image: {}", ran.stdout);
    assert!(
        ran.stderr.contains("image.repository is required"),
        "{}",
        ran.stderr
    );
    let with = helm(
        None,
        &[
            "template",
            "x",
            chart,
            "--set",
            "image.repository=myregistry.azurecr.io/hipaa-operator",
        ],
    )
    .expect_success("helm template with an image");
    assert!(
        with.stdout
            .contains("image: \"myregistry.azurecr.io/hipaa-operator:0.1.0\"")
    );
}

#[test]
fn helm_lint_strict_passes_with_defaults_and_with_every_feature_on() {
    let chart = chart_dir();
    let chart = chart.to_str().expect("a UTF-8 path");
    let ran = helm(None, &["lint", "--strict", chart]).expect_success("helm lint --strict");
    assert!(
        ran.stdout.contains("1 chart(s) linted, 0 chart(s) failed"),
        "unexpected lint output:\n{}",
        ran.stdout
    );
    assert!(
        !ran.stdout.contains("[WARNING]") && !ran.stdout.contains("[ERROR]"),
        "lint warnings:\n{}",
        ran.stdout
    );
    let values = all_features_values("clinical-secrets");
    let values = values.path().to_str().expect("a UTF-8 path");
    let ran = helm(
        None,
        &[
            "lint",
            "--strict",
            chart,
            "-f",
            values,
            "--set",
            "metrics.serviceMonitor.enabled=true",
        ],
    )
    .expect_success("helm lint --strict with every feature on");
    assert!(
        ran.stdout.contains("0 chart(s) failed"),
        "unexpected lint output:\n{}",
        ran.stdout
    );
}

#[test]
fn chart_crds_are_byte_identical_to_the_generated_crds() {
    let list = |dir: PathBuf| -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a readable entry").path())
            .map(|path| {
                let name = path
                    .file_name()
                    .expect("a file name")
                    .to_string_lossy()
                    .into_owned();
                let bytes = std::fs::read(&path).expect("a readable CRD file");
                (name, bytes)
            })
            .collect()
    };
    let generated = list(repo().join("crds"));
    let in_chart = list(chart_dir().join("crds"));
    assert_eq!(
        generated.len(),
        hipaa_operator::api::crds().len(),
        "crds/ holds every CRD"
    );
    assert_eq!(
        generated.keys().collect::<Vec<_>>(),
        in_chart.keys().collect::<Vec<_>>(),
        "charts/hipaa-operator/crds/ must hold the same files as crds/"
    );
    for (name, bytes) in &generated {
        assert!(
            in_chart[name] == *bytes,
            "charts/hipaa-operator/crds/{name} differs from crds/{name}: copy it (cp crds/*.yaml charts/hipaa-operator/crds/)"
        );
    }
}

#[test]
fn values_schema_rejects_bad_values_naming_the_field() {
    let cases: &[(&[&str], &str)] = &[
        (&["--set", "replicaCount=0"], "/replicaCount"),
        (&["--set", "logFormat=xml"], "/logFormat"),
        (&["--set", "colour=blue"], "'colour' not allowed"),
        (&["--set", "image.tagg=1.0"], "'tagg' not allowed"),
        (&["--set", "azure.cloud=Mars"], "/azure/cloud"),
        (&["--set", "azure.cloud=Custom"], "/azure/armEndpoint"),
        (&["--set", "azure.identity=magic"], "/azure/identity"),
        (&["--set", "extraEnv[0].value=x"], "/extraEnv/0"),
        (&["--set", "leaderElection.enabled=false"], "/replicaCount"),
        (
            &["--set", "workloadIdentity.clientId=me"],
            "/workloadIdentity/clientId",
        ),
        (
            &["--set", "resources.requests.cpu=lots"],
            "/resources/requests/cpu",
        ),
        (&["--set", "resources.requests.gpu=1"], "'gpu' not allowed"),
        (&["--set", "metrics.port=70000"], "/metrics/port"),
        (
            &["--set", "clientSecretIdentities.enabled=true"],
            "/clientSecretIdentities/secrets",
        ),
        (
            &["--set", "admissionPolicy.minRetentionDays=0"],
            "/admissionPolicy/minRetentionDays",
        ),
        (
            &["--set", "networkPolicy.azure.cidrs[0]=everywhere"],
            "/networkPolicy/azure/cidrs/0",
        ),
    ];
    let chart = chart_dir();
    let chart = chart.to_str().expect("a UTF-8 path");
    for (args, field) in cases {
        let mut full = vec!["template", "bad", chart];
        full.extend_from_slice(args);
        let ran = helm(None, &full);
        assert!(!ran.success, "helm accepted {args:?}:\n{}", ran.stdout);
        assert!(
            ran.stderr
                .contains("values don't meet the specifications of the schema")
                && ran.stderr.contains(field),
            "helm's error for {args:?} does not name {field}:\n{}",
            ran.stderr
        );
    }
    // Checks the schema cannot express fail rendering with a message.
    let ran = helm(
        None,
        &["template", "bad", chart, "--set", "metrics.port=8081"],
    );
    assert!(
        !ran.success
            && ran
                .stderr
                .contains("metrics.port and health.port must differ"),
        "equal ports were accepted:\n{}",
        ran.stderr
    );
    // Leader election off is fine with one replica.
    helm(
        None,
        &[
            "template",
            "single",
            chart,
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "replicaCount=1",
        ],
    )
    .expect_success("one replica without leader election");
}

#[test]
fn deployment_is_hardened_and_passes_the_operator_flags() {
    let docs = template("hipaa", "ops", &[]);
    let deployment = find(&docs, "Deployment", "hipaa-hipaa-operator");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "hipaa-hipaa-operator");
    assert_eq!(pod["automountServiceAccountToken"], true);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c["image"], format!("{TEST_IMAGE_REPOSITORY}:0.1.0"));
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["runAsUser"], 65532);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "health");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "health");
    let ports: BTreeMap<String, i64> = c["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().expect("port name").to_string(),
                p["containerPort"].as_i64().expect("port number"),
            )
        })
        .collect();
    assert_eq!(
        ports,
        BTreeMap::from([("health".into(), 8081), ("metrics".into(), 8080)])
    );
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}})
    );
    let pod_namespace = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "POD_NAMESPACE")
        .expect("a POD_NAMESPACE variable");
    assert_eq!(
        pod_namespace["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    let args: Vec<&str> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string args"))
        .collect();
    assert_eq!(
        args,
        [
            "--log=info",
            "--log-format=json",
            "--metrics-bind-address=0.0.0.0:8080",
            "--health-bind-address=0.0.0.0:8081",
            "--leader-elect=true",
            "--full-check-interval=P1D",
            "--max-concurrent-reconciles=32",
            "--azure-reads-per-hour=22500",
            "--azure-writes-per-hour=9000",
            "--azure-burst=100",
            "--lease-name=hipaa-hipaa-operator",
            "--lease-namespace=$(POD_NAMESPACE)",
            "--cloud=AzurePublic",
            "--azure-identity=auto",
            "--workspace-service-account=hipaa-workspace",
        ],
        "the default flags"
    );
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["azure.workload.identity/use"], "true");
    // Off by default: no Secret access, no NetworkPolicy, no ServiceMonitor.
    let rendered = kinds(&docs);
    for absent in ["NetworkPolicy", "ServiceMonitor"] {
        assert!(!rendered.contains(absent), "{absent} rendered by default");
    }
    assert!(
        !docs
            .iter()
            .any(|d| d["kind"] == "Role" && d["rules"].to_string().contains("secrets")),
        "a Secret Role rendered by default"
    );
    let pdb = find(&docs, "PodDisruptionBudget", "hipaa-hipaa-operator");
    assert_eq!(pdb["spec"]["minAvailable"], 1);

    // Every feature on: the flags follow the values.
    let values = all_features_values("clinical-secrets");
    let docs = template(
        "hipaa",
        "ops",
        &[
            "-f",
            values.path().to_str().expect("a UTF-8 path"),
            "--set",
            "metrics.serviceMonitor.enabled=true",
        ],
    );
    let deployment = find(&docs, "Deployment", "hipaa-hipaa-operator");
    let c = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string args"))
        .collect();
    for expected in [
        "--log=debug,kube=info",
        "--log-format=text",
        "--cloud=Custom",
        "--arm-endpoint=https://127.0.0.1:8443",
        "--authority-host=https://127.0.0.1:8443/entra",
        "--key-vault-endpoint=https://{vault}.vault.sim.local:8443",
        "--azure-identity=client-secret-env",
        "--ca-bundle=/etc/hipaa-operator/ca/ca.crt",
        "--watch-namespaces=clinical-secrets,clinical",
        "--secret-namespaces-allowed=clinical-secrets",
    ] {
        assert!(args.contains(&expected), "{expected} missing from {args:?}");
    }
    let env_names: Vec<&str> = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(
        env_names,
        [
            "POD_NAMESPACE",
            "POD_NAME",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_SECRET"
        ]
    );
    let sa = find(&docs, "ServiceAccount", "hipaa-hipaa-operator");
    assert_eq!(
        sa["metadata"]["annotations"]["azure.workload.identity/client-id"],
        "8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d"
    );
    assert_eq!(
        sa["metadata"]["annotations"]["azure.workload.identity/tenant-id"],
        "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"
    );
    let monitor = find(&docs, "ServiceMonitor", "hipaa-hipaa-operator");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    let policy = find(&docs, "NetworkPolicy", "hipaa-hipaa-operator");
    let egress_ports = policy["spec"]["egress"].to_string();
    for port in ["443", "53"] {
        assert!(egress_ports.contains(port), "no egress to port {port}");
    }
    // One Secret Role for the namespace listed twice, with the names merged.
    let secret_roles: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "Role" && d["rules"].to_string().contains("secrets"))
        .collect();
    assert_eq!(secret_roles.len(), 1);
    assert_eq!(
        secret_roles[0]["rules"],
        json!([{"apiGroups": [""], "resources": ["secrets"],
                "resourceNames": ["clinical-sp", "research-sp"], "verbs": ["get"]}])
    );

    // Workload identity off: no pod label, no annotations.
    let docs = template("hipaa", "ops", &["--set", "workloadIdentity.enabled=false"]);
    let deployment = find(&docs, "Deployment", "hipaa-hipaa-operator");
    assert!(
        deployment["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"]
            .is_null()
    );
    // One replica: no PodDisruptionBudget (it would block every drain).
    let docs = template(
        "hipaa",
        "ops",
        &[
            "--set",
            "replicaCount=1",
            "--set",
            "leaderElection.enabled=false",
        ],
    );
    assert!(!kinds(&docs).contains("PodDisruptionBudget"));
    let c = &find(&docs, "Deployment", "hipaa-hipaa-operator")["spec"]["template"]["spec"]["containers"]
        [0];
    assert!(
        c["args"]
            .as_array()
            .expect("args")
            .contains(&json!("--leader-elect=false"))
    );
}

#[test]
fn deployment_args_are_accepted_by_the_operator_binary() {
    let values = all_features_values("clinical-secrets");
    let every_feature = ["-f", values.path().to_str().expect("a UTF-8 path")];
    let single = [
        "--set",
        "replicaCount=1",
        "--set",
        "leaderElection.enabled=false",
    ];
    for extra in [&[][..], &every_feature[..], &single[..]] {
        let docs = template("hipaa", "ops", extra);
        let deployment = find(&docs, "Deployment", "hipaa-hipaa-operator");
        let args: Vec<String> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("string args").to_string())
            .collect();
        let ran = operator_accepts(&args);
        assert!(
            ran.success,
            "hipaa-operator rejects the chart's args {args:?} ({extra:?}):\n{}",
            ran.stderr
        );
        // The check has teeth: an argument the binary does not know fails it.
        let mut bad = args.clone();
        bad.push("--no-such-flag".into());
        assert!(
            !operator_accepts(&bad).success,
            "an unknown flag was accepted"
        );
    }
}

#[test]
fn cluster_role_grants_only_the_operators_own_kinds_events_and_crd_reads() {
    let docs = template("hipaa", "ops", &[]);
    let role = find(&docs, "ClusterRole", "hipaa-hipaa-operator");
    let mut granted: BTreeSet<String> = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        for field in ["apiGroups", "resources", "verbs"] {
            assert!(
                !rule[field].to_string().contains('*'),
                "wildcard in {field}: {rule}"
            );
        }
        for group in rule["apiGroups"].as_array().expect("apiGroups") {
            for resource in rule["resources"].as_array().expect("resources") {
                for verb in rule["verbs"].as_array().expect("verbs") {
                    granted.insert(format!(
                        "{}/{}:{}",
                        group.as_str().expect("group"),
                        resource.as_str().expect("resource"),
                        verb.as_str().expect("verb")
                    ));
                }
            }
        }
    }
    let allowed_resources: BTreeSet<&str> = [
        "hipaa-operator.io/hipaaworkspaces",
        "hipaa-operator.io/phistores",
        "hipaa-operator.io/accessreviews",
        "hipaa-operator.io/hipaaworkspaces/status",
        "hipaa-operator.io/phistores/status",
        "hipaa-operator.io/accessreviews/status",
        "hipaa-operator.io/hipaaworkspaces/finalizers",
        "hipaa-operator.io/phistores/finalizers",
        "hipaa-operator.io/accessreviews/finalizers",
        "/events",
        "events.k8s.io/events",
        "apiextensions.k8s.io/customresourcedefinitions",
        "hipaa-operator.io/azurescopegrants",
        "hipaa-operator.io/namespacegrants",
        "/namespaces",
        "/serviceaccounts/token",
    ]
    .into();
    for grant in &granted {
        let (resource, _) = grant.rsplit_once(':').expect("resource:verb");
        assert!(
            allowed_resources.contains(resource),
            "the ClusterRole grants {grant}, which the operator does not need"
        );
    }
    for needed in [
        "hipaa-operator.io/phistores:watch",
        "hipaa-operator.io/accessreviews:create",
        "hipaa-operator.io/accessreviews:delete",
        "hipaa-operator.io/phistores/status:patch",
        "hipaa-operator.io/phistores/finalizers:update",
        "/events:create",
        "/events:patch",
        "events.k8s.io/events:patch",
        "apiextensions.k8s.io/customresourcedefinitions:get",
        "hipaa-operator.io/azurescopegrants:watch",
        // Each namespace's NamespaceGrant, written from the grants.
        "hipaa-operator.io/namespacegrants:create",
        "hipaa-operator.io/namespacegrants:patch",
        "hipaa-operator.io/namespacegrants:delete",
        "/namespaces:get",
        "/namespaces:watch",
        "/serviceaccounts/token:create",
    ] {
        assert!(granted.contains(needed), "the ClusterRole lacks {needed}");
    }
    // Tokens only of the workspace ServiceAccount, by name.
    let token_rule = role["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["resources"] == json!(["serviceaccounts/token"]))
        .expect("the token rule");
    assert_eq!(token_rule["resourceNames"], json!(["hipaa-workspace"]));
    for never in [
        "hipaa-operator.io/phistores:delete",
        "hipaa-operator.io/hipaaworkspaces:delete",
        "hipaa-operator.io/phistores:create",
        // The operator reads what it was granted; it never writes it.
        "hipaa-operator.io/azurescopegrants:create",
        "hipaa-operator.io/azurescopegrants:update",
        "hipaa-operator.io/azurescopegrants:patch",
        "/namespaces:create",
        "/namespaces:update",
        "/namespaces:patch",
        "/namespaces:delete",
    ] {
        assert!(!granted.contains(never), "the ClusterRole grants {never}");
    }
}

/// The roles aggregated into edit/admin and view let users write workspaces, stores and review
/// decisions, but never open a review cycle, write a status, or touch a grant.
#[test]
fn aggregated_roles_give_users_no_cycle_creation_no_status_write_and_no_grants() {
    let docs = template("hipaa", "ops", &[]);
    let rules_of = |name: &str| -> BTreeSet<String> {
        let role = find(&docs, "ClusterRole", name);
        let mut out = BTreeSet::new();
        for rule in role["rules"].as_array().expect("rules") {
            for resource in rule["resources"].as_array().expect("resources") {
                for verb in rule["verbs"].as_array().expect("verbs") {
                    out.insert(format!(
                        "{}:{}",
                        resource.as_str().expect("resource"),
                        verb.as_str().expect("verb")
                    ));
                }
            }
        }
        out
    };
    let edit = rules_of("hipaa-hipaa-operator-edit");
    let view = rules_of("hipaa-hipaa-operator-view");
    for granted in [
        "phistores:create",
        "hipaaworkspaces:patch",
        "accessreviews:patch",
    ] {
        assert!(edit.contains(granted), "edit lacks {granted}: {edit:?}");
    }
    assert!(
        !edit.contains("accessreviews:create"),
        "only the operator opens review cycles"
    );
    for rule in edit.iter().chain(view.iter()) {
        let (resource, verb) = rule.split_once(':').expect("resource:verb");
        assert!(
            !(resource.ends_with("/status") && verb != "get"),
            "a user role writes status: {rule}"
        );
        assert!(
            !["azurescopegrants", "namespacegrants"].contains(&resource)
                || ["get", "list", "watch"].contains(&verb),
            "a user role writes grants: {rule}"
        );
    }
    assert!(view.contains("azurescopegrants:list"), "{view:?}");
    let edit_role = find(&docs, "ClusterRole", "hipaa-hipaa-operator-edit");
    assert_eq!(
        edit_role["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"],
        "true"
    );
}

/// `grants` values become AzureScopeGrants; the schema refuses a grant without scopes or with
/// a scope that is not an ASCII ARM scope.
#[test]
fn grants_values_render_azure_scope_grants_and_bad_ones_are_refused() {
    let scope =
        "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-clinical-phi";
    let docs = template(
        "hipaa",
        "ops",
        &[
            "--set",
            "grants[0].name=clinical",
            "--set",
            "grants[0].namespaces[0]=clinical",
            "--set",
            &format!("grants[0].scopes[0]={scope}"),
            "--set",
            "grants[0].allowEnforce=true",
        ],
    );
    let grant = find(&docs, "AzureScopeGrant", "clinical");
    assert_eq!(grant["spec"]["scopes"][0], scope);
    assert_eq!(grant["spec"]["allowEnforce"], true);
    assert_eq!(grant["spec"]["allowIrreversible"], false);
    assert_eq!(grant["spec"]["exclusive"], true, "exclusive by default");
    let docs = template(
        "hipaa",
        "ops",
        &[
            "--set",
            "grants[0].name=platform",
            "--set",
            "grants[0].namespaces[0]=platform",
            "--set",
            "grants[0].scopes[0]=/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
            "--set",
            "grants[0].exclusive=false",
        ],
    );
    assert_eq!(
        find(&docs, "AzureScopeGrant", "platform")["spec"]["exclusive"],
        false,
        "an explicit false is kept"
    );
    for bad in [
        format!("{scope}?x=1"),
        // A Kelvin sign where an ASCII K belongs.
        "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-\u{212A}"
            .to_string(),
        "rg-clinical-phi".to_string(),
    ] {
        assert_schema_refuses(
            &json!({"grants": [{"name": "clinical", "namespaces": ["clinical"], "scopes": [bad]}]}),
            "/grants/0/scopes/0",
        );
    }
    assert_schema_refuses(
        &json!({"grants": [{"name": "clinical", "namespaces": ["clinical"]}]}),
        "/grants/0",
    );
}

/// The grant-reservation policy (tested against the API server in `tests/grant_policy.rs`) is
/// rendered by default, denying, with the grants as params, and not when disabled.
/// The coverage policies: on by default, the NamespaceGrant as param; a create is refused when
/// the namespace has none, an update is not (the operator must still release its finalizer);
/// only the operator's ServiceAccount writes NamespaceGrants; one switch turns all off.
#[test]
fn grant_coverage_policies_are_rendered_by_default_and_not_when_disabled() {
    let docs = template("hipaa", "ops", &[]);
    for (policy, binding, operation, not_found) in [
        (
            "hipaa-hipaa-operator-grant-coverage",
            "hipaa-hipaa-operator-namespace-needs-an-azurescopegrant",
            "CREATE",
            "Deny",
        ),
        (
            "hipaa-hipaa-operator-grant-coverage-updates",
            "hipaa-hipaa-operator-grant-coverage-updates",
            "UPDATE",
            "Allow",
        ),
    ] {
        let p = find(&docs, "ValidatingAdmissionPolicy", policy);
        assert_eq!(p["spec"]["failurePolicy"], "Fail");
        assert_eq!(
            p["spec"]["paramKind"],
            json!({"apiVersion": "hipaa-operator.io/v1alpha1", "kind": "NamespaceGrant"})
        );
        assert_eq!(
            p["spec"]["matchConstraints"]["resourceRules"][0]["operations"],
            json!([operation])
        );
        let b = find(&docs, "ValidatingAdmissionPolicyBinding", binding);
        assert_eq!(b["spec"]["policyName"], policy);
        assert_eq!(
            b["spec"]["paramRef"],
            json!({"name": "azure-scope-grants", "parameterNotFoundAction": not_found})
        );
        assert_eq!(b["spec"]["validationActions"], json!(["Deny"]));
    }
    let writers = find(
        &docs,
        "ValidatingAdmissionPolicy",
        "hipaa-hipaa-operator-namespacegrant-writers",
    );
    assert_eq!(
        writers["spec"]["matchConditions"][0]["expression"],
        "request.userInfo.username != \"system:serviceaccount:ops:hipaa-hipaa-operator\""
    );
    let docs = template(
        "hipaa",
        "ops",
        &["--set", "admissionPolicy.coverage.enabled=false"],
    );
    assert!(
        !docs.iter().any(|d| d["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.contains("coverage")
                || n.contains("namespacegrant")
                || n.contains("needs-an-azurescopegrant"))),
        "coverage.enabled=false still renders a coverage policy"
    );
}

#[test]
fn grant_reservation_policy_is_rendered_by_default_and_not_when_disabled() {
    let docs = template("hipaa", "ops", &[]);
    let name = "hipaa-hipaa-operator-grant-reservations";
    let policy = find(&docs, "ValidatingAdmissionPolicy", name);
    assert_eq!(policy["spec"]["failurePolicy"], "Fail");
    assert_eq!(
        policy["spec"]["paramKind"],
        json!({"apiVersion": "hipaa-operator.io/v1alpha1", "kind": "AzureScopeGrant"})
    );
    assert_eq!(
        policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"],
        json!(["hipaaworkspaces", "phistores"])
    );
    assert_eq!(
        policy["spec"]["matchConstraints"]["resourceRules"][0]["operations"],
        json!(["CREATE", "UPDATE"])
    );
    let binding = find(&docs, "ValidatingAdmissionPolicyBinding", name);
    assert_eq!(binding["spec"]["policyName"], name);
    assert_eq!(binding["spec"]["validationActions"], json!(["Deny"]));
    assert_eq!(
        binding["spec"]["paramRef"],
        json!({"selector": {}, "parameterNotFoundAction": "Allow"})
    );
    // Like the other policies, it binds only the watched namespaces when some are listed.
    let docs = template("hipaa", "ops", &["--set", "watchNamespaces[0]=clinical"]);
    let binding = find(&docs, "ValidatingAdmissionPolicyBinding", name);
    assert_eq!(
        binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][0]["values"],
        json!(["clinical"])
    );

    for off in [
        vec!["--set", "admissionPolicy.grants.enabled=false"],
        vec![
            "--set",
            "admissionPolicy.grants.enabled=false",
            "--set",
            "admissionPolicy.enabled=false",
        ],
    ] {
        let docs = template("hipaa", "ops", &off);
        assert!(
            !docs.iter().any(|d| d["metadata"]["name"] == name),
            "{off:?} still renders the grant-reservation policy"
        );
    }
    // The warnings switch does not turn the denying policy off.
    let docs = template("hipaa", "ops", &["--set", "admissionPolicy.enabled=false"]);
    find(&docs, "ValidatingAdmissionPolicy", name);
    assert!(!docs.iter().any(|d| {
        d["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.ends_with("-warnings"))
    }));
    assert_schema_refuses(
        &json!({"admissionPolicy": {"grants": {"enabled": "yes"}}}),
        "/admissionPolicy/grants/enabled",
    );
    assert_schema_refuses(
        &json!({"grants": [{"name": "clinical", "namespaces": ["clinical"],
                            "scopes": ["/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"],
                            "exclusive": "no"}]}),
        "/grants/0/exclusive",
    );
}

// ---------------------------------------------------------------------------------------------
// Against the shared API server
// ---------------------------------------------------------------------------------------------

#[test]
fn rendered_chart_passes_server_side_dry_run() {
    let kubeconfig = shared_kubeconfig();
    let ns = create_namespace(kubeconfig, "helm-dryrun", &[]);
    let secrets_ns = create_namespace(kubeconfig, "helm-dryrun-secrets", &[]);
    let chart = chart_dir();
    let chart = chart.to_str().expect("a UTF-8 path");
    let values = all_features_values(&secrets_ns);
    let values = values.path().to_str().expect("a UTF-8 path");
    for (label, extra) in [("defaults", vec![]), ("every feature", vec!["-f", values])] {
        let release = unique("dry");
        let mut args = vec!["template", release.as_str(), chart, "--namespace", &ns];
        args.extend_from_slice(&extra);
        let rendered = helm(None, &args).expect_success("helm template");
        let applied = kubectl(
            kubeconfig,
            &["apply", "--dry-run=server", "-f", "-"],
            Some(&rendered.stdout),
        )
        .expect_success(&format!("server-side dry run ({label})"));
        for kind in [
            "deployment.apps",
            "serviceaccount",
            "clusterrole.rbac.authorization.k8s.io",
            "clusterrolebinding.rbac.authorization.k8s.io",
            "role.rbac.authorization.k8s.io",
            "rolebinding.rbac.authorization.k8s.io",
            "service",
            "poddisruptionbudget.policy",
            "validatingadmissionpolicy.admissionregistration.k8s.io",
            "validatingadmissionpolicybinding.admissionregistration.k8s.io",
        ] {
            assert!(
                applied
                    .stdout
                    .lines()
                    .any(|l| l.starts_with(&format!("{kind}/")) && l.contains("(server dry run)")),
                "{label}: no {kind} in the dry run:\n{}",
                applied.stdout
            );
        }
        if label == "every feature" {
            assert!(
                applied.stdout.contains("networkpolicy.networking.k8s.io/"),
                "no NetworkPolicy in the dry run:\n{}",
                applied.stdout
            );
        }
    }
    // A bad value fails `helm install` before anything reaches the cluster.
    let release = unique("bad");
    let ran = helm(
        Some(kubeconfig),
        &[
            "install",
            &release,
            chart,
            "-n",
            &ns,
            "--skip-crds",
            "--set",
            "replicaCount=0",
        ],
    );
    assert!(
        !ran.success && ran.stderr.contains("/replicaCount"),
        "helm install accepted replicaCount=0:\n{}",
        ran.stderr
    );
    let listed = helm(Some(kubeconfig), &["list", "-n", &ns, "-q"]).expect_success("helm list");
    assert!(
        listed.stdout.trim().is_empty(),
        "a failed install left a release: {}",
        listed.stdout
    );
    delete_namespace(kubeconfig, &ns);
    delete_namespace(kubeconfig, &secrets_ns);
}

#[test]
fn operator_service_account_has_least_privilege() {
    let kubeconfig = shared_kubeconfig();
    let ns = create_namespace(kubeconfig, "helm-rbac", &[]);
    let app = create_namespace(kubeconfig, "helm-rbac-app", &[]);
    let release = unique("rbac");
    install_release(kubeconfig, &release, &ns, &[&app]);
    let sa = format!("system:serviceaccount:{ns}:{release}-hipaa-operator");
    let lease = format!("leases.coordination.k8s.io/{release}-hipaa-operator");

    let allowed: &[&[&str]] = &[
        &[
            "patch",
            "phistores.hipaa-operator.io",
            "--subresource=status",
            "-n",
            &app,
        ],
        &[
            "update",
            "hipaaworkspaces.hipaa-operator.io",
            "--subresource=status",
            "-n",
            &app,
        ],
        &["watch", "phistores.hipaa-operator.io", "-A"],
        &[
            "update",
            "phistores.hipaa-operator.io",
            "--subresource=finalizers",
            "-n",
            &app,
        ],
        &["create", "accessreviews.hipaa-operator.io", "-n", &app],
        &["create", "events", "-n", &app],
        &["patch", "events.events.k8s.io", "-n", &app],
        &["create", "leases.coordination.k8s.io", "-n", &ns],
        &["update", &lease, "-n", &ns],
        &["get", &lease, "-n", &ns],
        &[
            "get",
            "customresourcedefinitions.apiextensions.k8s.io/phistores.hipaa-operator.io",
        ],
    ];
    let denied: &[&[&str]] = &[
        &["get", "secrets", "-n", &ns],
        &["get", "secrets", "-n", &app],
        &["list", "secrets", "-A"],
        &["list", "pods", "-n", &ns],
        &["list", "pods", "-A"],
        &["create", "deployments.apps", "-n", &ns],
        &["delete", "phistores.hipaa-operator.io", "-n", &app],
        &["delete", "hipaaworkspaces.hipaa-operator.io", "-n", &app],
        &["create", "phistores.hipaa-operator.io", "-n", &app],
        &["update", &lease, "-n", &app],
        &["create", "leases.coordination.k8s.io", "-n", &app],
        &[
            "update",
            "leases.coordination.k8s.io/someone-else",
            "-n",
            &ns,
        ],
        &[
            "get",
            "customresourcedefinitions.apiextensions.k8s.io/certificates.cert-manager.io",
        ],
        &["create", "customresourcedefinitions.apiextensions.k8s.io"],
        &["get", "configmaps", "-n", &ns],
        &["create", "clusterrolebindings.rbac.authorization.k8s.io"],
    ];
    for args in allowed {
        assert!(can_i(kubeconfig, &sa, args), "the operator CANNOT {args:?}");
    }
    for args in denied {
        assert!(!can_i(kubeconfig, &sa, args), "the operator CAN {args:?}");
    }
    helm(Some(kubeconfig), &["uninstall", &release, "-n", &ns]).expect_success("helm uninstall");
    delete_namespace(kubeconfig, &ns);
    delete_namespace(kubeconfig, &app);
}

fn workspace(name: &str) -> Value {
    let mut ws = support::example("workspace.yaml");
    ws["metadata"]["name"] = json!(name);
    ws
}

fn store_with_exemption_expiring_in(name: &str, days: i64) -> Value {
    let mut store = PhiStore::test("phistore-storage.yaml").named(name).json();
    let expires = (time::OffsetDateTime::now_utc() + time::Duration::days(days))
        .replace_nanosecond(0)
        .expect("whole seconds")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("an RFC 3339 time");
    store["spec"]["exemptions"][0]["expires"] = json!(expires);
    store
}

#[test]
fn admission_policy_warns_on_risky_settings_but_admits_them() {
    let kubeconfig = shared_kubeconfig();
    let ns = create_namespace(kubeconfig, "helm-vap", &[]);
    let team = create_namespace(kubeconfig, "helm-vap-team", &[]);
    let prod = create_namespace(
        kubeconfig,
        "helm-vap-prod",
        &[("environment", "production")],
    );
    let release = unique("vap");
    install_release(kubeconfig, &release, &ns, &[&team, &prod]);

    // Retention below six years: admitted, with a warning naming the field.
    let mut short = workspace("short-retention");
    short["spec"]["logAnalytics"]["totalRetentionInDays"] = json!(365);
    let ran = apply_expecting_warning(
        kubeconfig,
        &team,
        &short,
        "totalRetentionInDays is 365 days",
    );
    assert!(
        ran.stderr.contains("Warning:")
            && ran
                .stderr
                .contains("spec.logAnalytics.totalRetentionInDays is 365 days, below 2192")
            && ran.stderr.contains("law.retention-6y"),
        "no retention warning:\n{}",
        ran.stderr
    );
    assert!(
        get_json(
            kubeconfig,
            &["hipaaworkspace", "short-retention", "-n", &team]
        )
        .is_some(),
        "the workspace with a warning was not created"
    );

    let mut archive = workspace("short-archive");
    archive["spec"]["auditArchive"]["retentionDays"] = json!(400);
    let ran = apply_expecting_warning(kubeconfig, &team, &archive, "retentionDays is 400 days");
    assert!(
        ran.stderr.contains("storage.immutable-audit-archive"),
        "{}",
        ran.stderr
    );

    // The example (six years, Audit) in a namespace that is not production: no warning at all.
    let ran = apply(kubeconfig, &team, &workspace("compliant"), false).expect_success("apply");
    assert!(
        !ran.stderr.contains("Warning:"),
        "a compliant workspace got a warning:\n{}",
        ran.stderr
    );

    // Audit mode in a production namespace: a warning; Enforce: none.
    let ran = apply_expecting_warning(
        kubeconfig,
        &prod,
        &workspace("audit-in-prod"),
        "spec.mode is Audit",
    );
    assert!(
        ran.stderr.contains("environment=production"),
        "{}",
        ran.stderr
    );
    let mut enforced = workspace("enforced-in-prod");
    enforced["spec"]["mode"] = json!("Enforce");
    let ran = apply(kubeconfig, &prod, &enforced, false).expect_success("apply");
    assert!(
        !ran.stderr.contains("Warning:"),
        "an Enforce workspace in production got a warning:\n{}",
        ran.stderr
    );

    // Exemptions: more than a year ahead warns (on create and on update); within a year does not.
    let ran = apply_expecting_warning(
        kubeconfig,
        &team,
        &store_with_exemption_expiring_in("long-exemption", 800),
        "expire more than 365 days ahead",
    );
    assert!(
        ran.stderr.contains("storage.geo-redundant"),
        "{}",
        ran.stderr
    );
    let ran = apply(
        kubeconfig,
        &team,
        &store_with_exemption_expiring_in("short-exemption", 30),
        false,
    )
    .expect_success("apply");
    assert!(
        !ran.stderr.contains("Warning:"),
        "a 30-day exemption got a warning:\n{}",
        ran.stderr
    );
    let ran = apply(
        kubeconfig,
        &team,
        &store_with_exemption_expiring_in("short-exemption", 500),
        false,
    )
    .expect_success("apply");
    assert!(
        ran.stderr.contains("expire more than 365 days ahead"),
        "extending an exemption past a year gave no warning:\n{}",
        ran.stderr
    );

    helm(Some(kubeconfig), &["uninstall", &release, "-n", &ns]).expect_success("helm uninstall");
    for namespace in [&ns, &team, &prod] {
        delete_namespace(kubeconfig, namespace);
    }
}

// ---------------------------------------------------------------------------------------------
// The chart must not install broken: values the operator refuses, names over Kubernetes' limits
// ---------------------------------------------------------------------------------------------

/// Asserts that the schema refuses `values`, naming `field`.
fn assert_schema_refuses(values: &Value, field: &str) {
    let ran = render(values);
    assert!(
        !ran.success,
        "the chart accepted {values} (it must refuse {field})"
    );
    assert!(
        ran.stderr
            .contains("values don't meet the specifications of the schema")
            && ran.stderr.contains(field),
        "helm's error for {values} does not name {field}:\n{}",
        ran.stderr
    );
}

/// The operator's args rendered from `values`, which the chart must accept.
fn rendered_args(values: &Value) -> Vec<String> {
    let ran = render(values);
    assert!(ran.success, "the chart refused {values}:\n{}", ran.stderr);
    let docs = documents(&ran.stdout);
    let deployment = find(&docs, "Deployment", "check-hipaa-operator");
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string args").to_string())
        .collect()
}

#[test]
fn values_schema_refuses_cidrs_that_are_not_cidrs() {
    let not_cidrs = [
        "everywhere",
        "10.0.0.1",
        "10.0.0.0/",
        "10.0.0.0/33",
        "10.0.0.0/08",
        "256.0.0.0/8",
        "010.0.0.0/8",
        "10.0.0/8",
        "10.0.0.0.0/8",
        " 10.0.0.0/8",
        "::1",
        "::1/129",
        "::/0128",
        ":/64",
        "fe80:::1/64",
        "1:2:3:4:5:6:7:8:9/64",
        "1::2::3/64",
        "12345::/16",
        "gggg::/16",
        "fd00::/8,10.0.0.0/8",
    ];
    for list in ["apiServer", "azure"] {
        for cidr in not_cidrs {
            let values =
                json!({"networkPolicy": {"enabled": true, list: {"cidrs": ["10.0.0.0/8", cidr]}}});
            assert_schema_refuses(&values, &format!("/networkPolicy/{list}/cidrs/1"));
        }
    }

    // IPv4 and IPv6 CIDRs of every prefix length pass, render, and the API server takes them.
    let cidrs = [
        "0.0.0.0/0",
        "10.0.0.1/32",
        "20.0.0.0/8",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "::/0",
        "fd00::/8",
        "2001:db8::1/128",
        "2001:db8::/32",
        "fe80::/64",
        "FE80:0:0:0:1:2:3:4/128",
        "2001:db8:0:0:0:0:0:0/32",
        "2001:db8::2/127",
        "1::/16",
        "::1/128",
    ];
    // A managed identity gets its tokens from IMDS (169.254.169.254:80): the policy lets it
    // through then, and only then.
    let imds = |identity: &str| {
        let ran = render(&json!({"networkPolicy": {"enabled": true},
            "workloadIdentity": {"enabled": false}, "azure": {"identity": identity}}));
        assert!(ran.success, "{}", ran.stderr);
        let policy = documents(&ran.stdout)
            .into_iter()
            .find(|d| d["kind"] == "NetworkPolicy")
            .expect("a NetworkPolicy");
        policy["spec"]["egress"]
            .as_array()
            .expect("egress")
            .iter()
            .any(|rule| {
                rule["to"][0]["ipBlock"]["cidr"] == "169.254.169.254/32"
                    && rule["ports"][0]["port"] == 80
            })
    };
    assert!(imds("managed-identity"));
    assert!(!imds("azure-cli"));
    let values = json!({"networkPolicy": {
        "enabled": true,
        "apiServer": {"cidrs": cidrs},
        "azure": {"cidrs": cidrs}
    }});
    let ran = render(&values);
    assert!(ran.success, "CIDRs refused:\n{}", ran.stderr);
    let kubeconfig = shared_kubeconfig();
    let ns = create_namespace(kubeconfig, "helm-cidrs", &[]);
    let mut policy = documents(&ran.stdout)
        .into_iter()
        .find(|d| d["kind"] == "NetworkPolicy")
        .expect("a NetworkPolicy");
    policy["metadata"]["namespace"] = json!(ns);
    let applied = apply(kubeconfig, &ns, &policy, true)
        .expect_success("server-side dry run of a NetworkPolicy with IPv4 and IPv6 CIDRs");
    assert!(
        applied.stdout.contains("(server dry run)"),
        "{}",
        applied.stdout
    );

    // Bits set beyond the prefix length: the API server refuses the NetworkPolicy, so the chart
    // refuses the value.
    let host_bits = [
        "10.0.0.1/8",
        "0.0.0.1/0",
        "100.96.0.0/10",
        "192.168.1.0/16",
        "fe80::1:2:3/64",
        "::1/0",
        "2001:db8::1/127",
        "1::/15",
    ];
    for cidr in host_bits {
        let mut refused = policy.clone();
        refused["spec"]["egress"][1]["to"] = json!([{"ipBlock": {"cidr": cidr}}]);
        let ran = apply(kubeconfig, &ns, &refused, true);
        assert!(
            !ran.success
                && ran
                    .stderr
                    .contains("must not have bits set beyond the prefix length"),
            "the API server took {cidr}:\n{}{}",
            ran.stdout,
            ran.stderr
        );
        for list in ["apiServer", "azure"] {
            let ran = render(&json!({"networkPolicy": {list: {"cidrs": ["10.0.0.0/8", cidr]}}}));
            assert!(
                !ran.success
                    && ran.stderr.contains(&format!(
                        "networkPolicy.{list}.cidrs[1] {cidr} has bits set beyond the prefix length"
                    )),
                "the chart accepted {cidr} in {list}:\n{}",
                ran.stderr
            );
        }
    }
    delete_namespace(kubeconfig, &ns);
}

#[test]
fn values_schema_refuses_intervals_the_operator_refuses_or_that_never_check() {
    use hipaa_operator::api::duration;
    let field = "/reconcile/fullCheckInterval";
    let interval = |text: &str| json!({"reconcile": {"fullCheckInterval": text}});
    // The operator refuses these at startup (`--full-check-interval`): so must the chart.
    for text in [
        "PT0S",
        "P0D",
        "PT0H0M0S",
        "P0Y0M0W0DT0H0M0S",
        "",
        "P",
        "PT",
        "P1DT",
        "1h",
        "P1H",
        "PT1D",
        "P1D1Y",
        "-PT1H",
        "P1.5D",
        "p1d",
        "PT1m",
        "P99999999999999999999Y",
    ] {
        assert!(
            duration::parse(text).is_none(),
            "the operator accepts {text:?}: this list is of what it refuses"
        );
        assert_schema_refuses(&interval(text), field);
    }
    // Under a minute: the operator would accept them and read every store in full every few
    // seconds, spending the ARM budget on nothing.
    for text in ["PT1S", "PT30S", "PT59S", "PT0M59S", "PT059S"] {
        let parsed = duration::parse(text).expect("the operator parses it");
        assert!(parsed < Duration::from_secs(60), "{text}");
        assert_schema_refuses(&interval(text), field);
    }
    // From a minute to 30 days: accepted by the chart and by the operator binary.
    for text in [
        "PT1M",
        "PT60S",
        "PT90S",
        "PT100S",
        "PT5M",
        "PT1H",
        "PT6H30M",
        "P0DT1M",
        "P1D",
        "P1DT12H",
        "P1W",
        "P2W",
        "P1M",
        "P30D",
        "PT720H",
        "PT2592000S",
    ] {
        let parsed = duration::parse(text).expect("the operator parses it");
        assert!(
            parsed >= Duration::from_secs(60) && parsed <= Duration::from_secs(30 * 86_400),
            "{text}"
        );
        let args = rendered_args(&interval(text));
        assert!(
            args.contains(&format!("--full-check-interval={text}")),
            "{args:?}"
        );
        let ran = operator_accepts(&args);
        assert!(ran.success, "the operator refuses {text}:\n{}", ran.stderr);
    }
    // Over 30 days: keys, diagnostic settings and role assignments would in effect never be
    // read again.
    for text in [
        "P31D",
        "P1Y",
        "P2M",
        "P5W",
        "PT721H",
        "P1000Y",
        "PT2592001S",
    ] {
        assert!(duration::parse(text).is_some(), "{text}");
        let ran = render(&interval(text));
        assert!(
            !ran.success && ran.stderr.contains("is more than 30 days"),
            "the chart accepted fullCheckInterval {text}:\n{}",
            ran.stderr
        );
    }
}

#[test]
fn values_schema_refuses_what_the_operator_refuses_at_startup() {
    let defaults = rendered_args(&json!({}));
    let with_arg = |prefix: &str, value: &str| -> Vec<String> {
        defaults
            .iter()
            .map(|a| {
                if a.starts_with(prefix) {
                    format!("{prefix}{value}")
                } else {
                    a.clone()
                }
            })
            .collect()
    };
    // The defaults use workload identity: its webhook projects the token file into the pod.
    let webhook = [(
        "AZURE_FEDERATED_TOKEN_FILE",
        "/var/run/secrets/azure/tokens/azure-identity-token",
    )];
    operator_starts(&defaults, &webhook).expect("the operator starts with the default args");
    // Without the webhook's token (a missing label, a webhook outage) auto stops, naming what
    // is missing, instead of acting as the node's managed identity.
    let err = operator_starts(&defaults, &[]).expect_err("auto without a token starts");
    assert!(
        err.contains("does not fall back to a managed identity"),
        "{err}"
    );

    // Log filters: a directive with an unknown level stops the operator at startup.
    for bad in [
        "hipaa_operator=verbose",
        "info,kube=6",
        "=info",
        "kube[",
        "kube[span{}]=info",
        "info,hipaa_operator=debug=trace",
    ] {
        let err = operator_starts(&with_arg("--log=", bad), &[])
            .expect_err(&format!("the operator starts with --log={bad}"));
        assert!(
            err.contains("directive") || err.contains("filter") || err.contains("level"),
            "{bad}: {err}"
        );
        assert_schema_refuses(&json!({"logLevel": bad}), "/logLevel");
    }
    for good in [
        "info",
        "INFO",
        "3",
        "off",
        "debug,kube=info",
        "hipaa_operator=debug",
        "warn,hipaa_operator::controller=trace",
        "kube[reconcile]=debug",
        "[reconcile{object=store-1}]=debug",
        "hipaa_operator",
        "hipaa_operator=",
    ] {
        let args = rendered_args(&json!({"logLevel": good}));
        operator_starts(&args, &webhook)
            .unwrap_or_else(|e| panic!("the operator refuses --log={good}: {e}"));
    }

    // Custom endpoints: URLs the operator cannot parse stop it at startup.
    for bad in [
        "https://arm.example.net:99999",
        "https://[::1",
        "https://:443",
        "https://",
        "https://arm example.net",
    ] {
        for (key, flag) in [
            ("armEndpoint", "--arm-endpoint="),
            ("authorityHost", "--authority-host="),
        ] {
            let mut args = with_arg("--cloud=", "Custom");
            args.push("--arm-endpoint=https://arm.example.net".to_string());
            args.push("--authority-host=https://login.example.net".to_string());
            args.push(format!("{flag}{bad}"));
            assert!(
                !operator_accepts(&args).success,
                "the operator accepts {flag}{bad}"
            );
            let mut azure = json!({
                "cloud": "Custom",
                "armEndpoint": "https://arm.example.net",
                "authorityHost": "https://login.example.net"
            });
            azure[key] = json!(bad);
            assert_schema_refuses(&json!({"azure": azure}), &format!("/azure/{key}"));
        }
    }
    for good in [
        "https://127.0.0.1:8443",
        "https://management.usgovcloudapi.net/",
        "https://[::1]:8443/arm",
        "https://arm.example.net:65535/",
    ] {
        let args = rendered_args(&json!({"azure": {
            "cloud": "Custom", "armEndpoint": good, "authorityHost": good,
            "keyVaultEndpoint": "https://{vault}.vault.example.net:8443"
        }}));
        operator_starts(&args, &webhook)
            .unwrap_or_else(|e| panic!("the operator refuses the endpoint {good}: {e}"));
    }
    // Endpoints on a cloud that is not Custom would be ignored without a word: refused.
    for key in ["armEndpoint", "authorityHost", "keyVaultEndpoint"] {
        let mut azure = json!({"cloud": "AzureUSGovernment"});
        azure[key] = json!("https://arm.example.net");
        assert_schema_refuses(&json!({"azure": azure}), &format!("/azure/{key}"));
    }

    // client-secret-env: the operator exits at startup without AZURE_TENANT_ID, AZURE_CLIENT_ID
    // and AZURE_CLIENT_SECRET; the chart requires them in extraEnv, except what the workload
    // identity webhook injects (the tenant id, and the client id when clientId is set).
    let args = with_arg("--azure-identity=", "client-secret-env");
    let tenant = ("AZURE_TENANT_ID", "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7");
    let client = ("AZURE_CLIENT_ID", "8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d");
    let secret = ("AZURE_CLIENT_SECRET", "not-a-real-secret");
    let env_value = |(name, value): (&str, &str)| json!({"name": name, "value": value});
    for (env, missing) in [
        (vec![client, secret], "AZURE_TENANT_ID"),
        (vec![tenant, secret], "AZURE_CLIENT_ID"),
        (vec![tenant, client], "AZURE_CLIENT_SECRET"),
    ] {
        let err = operator_starts(&args, &env).expect_err("the operator starts");
        assert!(err.contains(&format!("{missing} is not set")), "{err}");
        let extra: Vec<Value> = env.iter().copied().map(env_value).collect();
        assert_schema_refuses(
            &json!({
                "workloadIdentity": {"enabled": false},
                "azure": {"identity": "client-secret-env"},
                "extraEnv": extra
            }),
            "/extraEnv",
        );
    }
    let all: Vec<Value> = [tenant, client, secret]
        .into_iter()
        .map(env_value)
        .collect();
    let args = rendered_args(&json!({
        "workloadIdentity": {"enabled": false},
        "azure": {"identity": "client-secret-env"},
        "extraEnv": all
    }));
    operator_starts(&args, &[tenant, client, secret])
        .expect("the operator starts with the three variables");
    // With workload identity on and a client id, the webhook supplies both ids.
    rendered_args(&json!({
        "workloadIdentity": {"enabled": true, "clientId": client.1},
        "azure": {"identity": "client-secret-env"},
        "extraEnv": [env_value(secret)]
    }));
    // auto without workload identity takes a client secret when there is one, so it needs the
    // ids too.
    let err = operator_starts(&with_arg("--azure-identity=", "auto"), &[secret])
        .expect_err("the operator starts");
    assert!(err.contains("AZURE_TENANT_ID is not set"), "{err}");
    assert_schema_refuses(
        &json!({"workloadIdentity": {"enabled": false}, "extraEnv": [env_value(secret)]}),
        "/extraEnv",
    );
    // workload-identity without the webhook's token file cannot get a token.
    assert_schema_refuses(
        &json!({"workloadIdentity": {"enabled": false}, "azure": {"identity": "workload-identity"}}),
        "/workloadIdentity/enabled",
    );

    // The operator runs as UID 65532 without capabilities: it cannot listen below 1024.
    for (values, field) in [
        (json!({"metrics": {"port": 80}}), "/metrics/port"),
        (json!({"metrics": {"port": 1023}}), "/metrics/port"),
        (json!({"health": {"port": 443}}), "/health/port"),
    ] {
        assert_schema_refuses(&values, field);
    }
    rendered_args(&json!({"metrics": {"port": 1024}, "health": {"port": 65535}}));

    // A priority class name that is not a name fails every pod.
    assert_schema_refuses(
        &json!({"priorityClassName": "High Priority"}),
        "/priorityClassName",
    );
}

/// Kinds whose names Kubernetes limits to 253 characters (a DNS subdomain) and whose template,
/// admissionpolicy.yaml, does not use the naming helpers yet: it appends its suffixes to the
/// full name. Held to 253 until it does.
const NAMES_UP_TO_253: [&str; 2] = [
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
];

/// Every rendered object's name fits Kubernetes: at most 63 characters (253 for the kinds
/// above), ending with a letter or digit, and the Service's a DNS-1035 label.
fn assert_names_fit(docs: &[Value], what: &str) {
    let dns_1035_label = |name: &str| {
        name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    for doc in docs {
        let kind = doc["kind"].as_str().expect("a kind");
        let name = doc["metadata"]["name"].as_str().expect("a name");
        let limit = if NAMES_UP_TO_253.contains(&kind) {
            253
        } else {
            63
        };
        assert!(
            name.len() <= limit,
            "{what}: {kind} {name} has {} characters (at most {limit})",
            name.len()
        );
        assert!(
            name.ends_with(|c: char| c.is_ascii_alphanumeric()),
            "{what}: {kind} {name} does not end with a letter or digit"
        );
        if kind == "Service" {
            assert!(
                dns_1035_label(name),
                "{what}: Service {name} is not a DNS-1035 label"
            );
        }
    }
}

/// A release name of `len` characters (Helm allows 53), unique in this process.
fn long_release(len: usize, filler: &str) -> String {
    let tail = unique("r");
    let mut name = filler.repeat(len);
    name.truncate(len - tail.len());
    let name = format!("{name}{tail}");
    assert_eq!(name.len(), len);
    name
}

#[test]
fn every_rendered_name_fits_kubernetes_limits_and_the_longest_release_installs() {
    let secrets = all_features_values("clinical-secrets");
    let secrets = secrets.path().to_str().expect("a UTF-8 path");
    let every_feature = [
        "-f",
        secrets,
        "--set",
        "metrics.serviceMonitor.enabled=true",
    ];
    let release_53 = "a".repeat(53);
    let release_45 = "b".repeat(45);
    let dotted = format!("{}.{}", "c".repeat(30), "d".repeat(22));
    let override_63 = format!("o{}", "p".repeat(62));
    let name_override = format!("--set=nameOverride={override_63}");
    let fullname_override = format!("--set=fullnameOverride={override_63}");
    for (release, extra) in [
        ("hipaa", vec![]),
        (release_45.as_str(), vec![]),
        (release_53.as_str(), vec![]),
        (dotted.as_str(), vec![]),
        (release_53.as_str(), vec![name_override.as_str()]),
        (release_53.as_str(), vec![fullname_override.as_str()]),
    ] {
        let mut args = extra.clone();
        args.extend_from_slice(&every_feature);
        let docs = template(release, "ops", &args);
        let what = format!("release {release} ({extra:?})");
        assert_names_fit(&docs, &what);
        // What refers to a name refers to the name rendered.
        let names = |kind: &str| -> BTreeSet<String> {
            docs.iter()
                .filter(|d| d["kind"] == kind)
                .map(|d| d["metadata"]["name"].as_str().expect("a name").to_string())
                .collect()
        };
        for binding in docs.iter().filter(|d| d["kind"] == "RoleBinding") {
            let role = binding["roleRef"]["name"].as_str().expect("a roleRef");
            assert!(names("Role").contains(role), "{what}: no Role {role}");
        }
        let deployment = docs
            .iter()
            .find(|d| d["kind"] == "Deployment")
            .expect("a Deployment");
        let lease = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .expect("args")
            .iter()
            .filter_map(|a| a.as_str()?.strip_prefix("--lease-name="))
            .next()
            .expect("--lease-name")
            .to_string();
        assert!(lease.len() <= 63, "{what}: lease {lease}");
        assert!(
            docs.iter()
                .any(|d| d["kind"] == "Role"
                    && d["rules"].to_string().contains(&format!("\"{lease}\""))),
            "{what}: no Role names the lease {lease}"
        );
        let account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
            .as_str()
            .expect("a service account");
        assert!(names("ServiceAccount").contains(account), "{what}");
    }
    // The Service keeps its suffix; only the prefix is cut.
    let docs = template(&release_53, "ops", &[]);
    let full = find(
        &docs,
        "PodDisruptionBudget",
        &format!("{release_53}-hipaa-ope"),
    )["metadata"]["name"]
        .as_str()
        .expect("a name");
    assert_eq!(full.len(), 63);
    let service = docs
        .iter()
        .find(|d| d["kind"] == "Service")
        .expect("the metrics Service");
    assert_eq!(
        service["metadata"]["name"],
        format!("{}-metrics", &full[..55])
    );

    // Overrides that would render over 63 characters, or that no Service name may hold.
    for (key, value) in [
        ("nameOverride", "n".repeat(64)),
        ("fullnameOverride", "f".repeat(64)),
        ("fullnameOverride", "ops.hipaa".to_string()),
        ("fullnameOverride", "Hipaa".to_string()),
        ("fullnameOverride", "hipaa-".to_string()),
        ("nameOverride", "hipaa.operator".to_string()),
    ] {
        assert_schema_refuses(&json!({key: value}), &format!("/{key}"));
    }

    // Helm's longest release name installs, with every feature that needs no extra CRD.
    let kubeconfig = shared_kubeconfig();
    let ns = create_namespace(kubeconfig, "helm-long", &[]);
    let secrets_ns = create_namespace(kubeconfig, "helm-long-secrets", &[]);
    let values = all_features_values(&secrets_ns);
    let chart = chart_dir();
    for release in [
        long_release(53, "longest-release-"),
        long_release(53, "v1.2."),
    ] {
        let installed = helm(
            Some(kubeconfig),
            &[
                "install",
                &release,
                chart.to_str().expect("a UTF-8 path"),
                "-n",
                &ns,
                "--skip-crds",
                "-f",
                values.path().to_str().expect("a UTF-8 path"),
            ],
        )
        .expect_success(&format!("helm install {release}"));
        let objects = release_objects(kubeconfig, &release, &[&ns, &secrets_ns]);
        assert!(
            objects.iter().any(|o| o.starts_with("service/")),
            "{release}: no Service installed: {objects:?}"
        );
        assert!(objects.len() >= 12, "{release}: {objects:?}");
        // NOTES.txt names the Service that was installed.
        let service = objects
            .iter()
            .find_map(|o| o.strip_prefix("service/"))
            .expect("the Service");
        assert!(
            installed.stdout.contains(&format!("svc/{service} ")),
            "the notes do not name svc/{service}:\n{}",
            installed.stdout
        );
        helm(Some(kubeconfig), &["uninstall", &release, "-n", &ns])
            .expect_success("helm uninstall");
    }
    delete_namespace(kubeconfig, &ns);
    delete_namespace(kubeconfig, &secrets_ns);
}

#[test]
fn readme_uninstall_releases_a_store_held_by_the_cleanup_finalizer() {
    use hipaa_operator::controller::phistore::FINALIZER;
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let start = readme
        .find("### Uninstall")
        .expect("README has an Uninstall section");
    let section = &readme[start..];
    let section = &section[..section[3..]
        .find("\n#")
        .map_or(section.len(), |end| end + 3)];
    for needle in [
        "helm uninstall",
        "CRDs",
        "HipaaWorkspace, PhiStore and AccessReview",
        "Azure",
        FINALIZER,
        "Retain",
    ] {
        assert!(
            section.contains(needle),
            "the Uninstall section lacks {needle:?}"
        );
    }
    let command_of = |prefix: &str| -> String {
        section
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("the Uninstall section has no `{prefix} ...`"))
            .to_string()
    };
    let list = command_of("kubectl get phistores");
    let patch = command_of("kubectl patch phistore");

    // A store that asked for cleanup, deleted while no operator runs: held by the finalizer.
    let kubeconfig = shared_kubeconfig();
    let ns = create_namespace(kubeconfig, "helm-uninstall", &[]);
    let mut store = store_with_exemption_expiring_in("held", 30);
    store["spec"]["deletionPolicy"] = json!("Delete");
    store["metadata"]["finalizers"] = json!([FINALIZER]);
    apply(kubeconfig, &ns, &store, false).expect_success("creating the store");
    kubectl(
        kubeconfig,
        &["delete", "phistore", "held", "-n", &ns, "--wait=false"],
        None,
    )
    .expect_success("deleting the store");
    let held = get_json(kubeconfig, &["phistore", "held", "-n", &ns]).expect("the store stays");
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");

    // The README's commands, as an admin runs them (kubectl pointed at this cluster).
    let shell = |command: &str| -> Ran {
        let kubectl = format!(
            "'{}' --kubeconfig '{}' ",
            tools().kubectl.display(),
            kubeconfig.display()
        );
        let command = command
            .replacen("kubectl ", &kubectl, 1)
            .replace("<name>", "held")
            .replace("<namespace>", &ns);
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(command);
        run(sh, None)
    };
    let listed = shell(&list).expect_success("the README's list command");
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with(&format!("{ns} held ")) && l.contains(FINALIZER)),
        "the README's list command does not show the held store:\n{}",
        listed.stdout
    );
    shell(&patch).expect_success("the README's patch command");
    poll(
        "the released store to be deleted",
        40,
        Duration::from_secs(10),
        || {
            get_json(kubeconfig, &["phistore", "held", "-n", &ns])
                .is_none()
                .then_some(())
        },
    );

    // The command removes only the operator's finalizer: with another one first, it fails.
    let mut store = store_with_exemption_expiring_in("held", 30);
    store["metadata"]["finalizers"] = json!(["example.com/other", FINALIZER]);
    apply(kubeconfig, &ns, &store, false).expect_success("creating the store");
    let ran = shell(&patch);
    assert!(!ran.success, "the patch removed another finalizer");
    let kept = get_json(kubeconfig, &["phistore", "held", "-n", &ns]).expect("the store");
    assert_eq!(
        kept["metadata"]["finalizers"],
        json!(["example.com/other", FINALIZER])
    );
    kubectl(
        kubeconfig,
        &[
            "patch",
            "phistore",
            "held",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
        None,
    )
    .expect_success("clearing the finalizers");
    delete_namespace(kubeconfig, &ns);
}

// ---------------------------------------------------------------------------------------------
// A cluster of its own: the chart installs the CRDs, upgrades, uninstalls cleanly
// ---------------------------------------------------------------------------------------------

/// The chart's objects of `release`, as `kind/name` (namespaced ones in `namespaces`).
fn release_objects(kubeconfig: &Path, release: &str, namespaces: &[&str]) -> BTreeSet<String> {
    let selector = format!("app.kubernetes.io/instance={release}");
    let mut found = BTreeSet::new();
    let mut collect = |args: &[&str]| {
        let mut full = vec!["get"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["-l", &selector, "-o", "name"]);
        let ran = kubectl(kubeconfig, &full, None).expect_success("kubectl get -l");
        found.extend(ran.stdout.lines().map(str::to_string));
    };
    for ns in namespaces {
        collect(&[
            "deployments,serviceaccounts,services,roles,rolebindings,poddisruptionbudgets,networkpolicies",
            "-n",
            ns,
        ]);
    }
    collect(&[
        "clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings",
    ]);
    found
}

#[test]
fn install_upgrade_uninstall_on_a_cluster_without_the_crds() {
    let tools = control_plane::Tools::locate().expect("the pinned tools");
    let plane = control_plane::ControlPlane::start(
        &tools,
        &control_plane::Options {
            controller_manager: false,
            ..Default::default()
        },
    )
    .expect("a control plane of this test's own");
    let kubeconfig = plane.kubeconfig_path();
    assert!(
        get_json(kubeconfig, &["crd", "phistores.hipaa-operator.io"]).is_none(),
        "a fresh cluster has no CRDs"
    );
    let ns = create_namespace(kubeconfig, "hipaa-system", &[]);
    let secrets_ns = create_namespace(kubeconfig, "clinical", &[]);
    let release = "hipaa-operator";
    let chart = chart_dir();
    let chart = chart.to_str().expect("a UTF-8 path");

    // Install: the CRDs come from the chart's crds/.
    let installed = helm(Some(kubeconfig), &["install", release, chart, "-n", &ns])
        .expect_success("helm install");
    // NOTES.txt tells the admin how to check the installation.
    for needle in [
        "kubectl get pods -n",
        "kubectl get hipaa -A",
        "Read the READY column",
        "/metrics",
        "--force-conflicts -f crds/",
    ] {
        assert!(
            installed.stdout.contains(needle),
            "the install notes lack {needle:?}:\n{}",
            installed.stdout
        );
    }
    kubectl(
        kubeconfig,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "crd/hipaaworkspaces.hipaa-operator.io",
            "crd/phistores.hipaa-operator.io",
            "crd/accessreviews.hipaa-operator.io",
        ],
        None,
    )
    .expect_success("the chart's CRDs become Established");
    let installed = release_objects(kubeconfig, release, &[&ns]);
    for expected in [
        "deployment.apps/hipaa-operator",
        "serviceaccount/hipaa-operator",
        "service/hipaa-operator-metrics",
        "role.rbac.authorization.k8s.io/hipaa-operator-leader-election",
        "rolebinding.rbac.authorization.k8s.io/hipaa-operator-leader-election",
        "poddisruptionbudget.policy/hipaa-operator",
        "clusterrole.rbac.authorization.k8s.io/hipaa-operator",
        "clusterrolebinding.rbac.authorization.k8s.io/hipaa-operator",
        "validatingadmissionpolicy.admissionregistration.k8s.io/hipaa-operator-workspace-warnings",
        "validatingadmissionpolicy.admissionregistration.k8s.io/hipaa-operator-phistore-warnings",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io/hipaa-operator-workspace-warnings",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io/hipaa-operator-phistore-warnings",
        "validatingadmissionpolicy.admissionregistration.k8s.io/hipaa-operator-grant-reservations",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io/hipaa-operator-grant-reservations",
        "validatingadmissionpolicy.admissionregistration.k8s.io/hipaa-operator-grant-coverage",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io/hipaa-operator-namespace-needs-an-azurescopegrant",
        "validatingadmissionpolicy.admissionregistration.k8s.io/hipaa-operator-grant-coverage-updates",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io/hipaa-operator-grant-coverage-updates",
        "validatingadmissionpolicy.admissionregistration.k8s.io/hipaa-operator-namespacegrant-writers",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io/hipaa-operator-namespacegrant-writers",
    ] {
        assert!(
            installed.contains(expected),
            "{expected} missing after install; found {installed:?}"
        );
    }
    let deployment =
        get_json(kubeconfig, &["deployment", release, "-n", &ns]).expect("the Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "--log=info"
    );
    let sa = format!("system:serviceaccount:{ns}:hipaa-operator");
    let secret = "secrets/clinical-sp";
    assert!(!can_i(kubeconfig, &sa, &["get", secret, "-n", &secrets_ns]));

    // Upgrade with changed values: visible in the Deployment and in RBAC.
    helm(
        Some(kubeconfig),
        &[
            "upgrade",
            release,
            chart,
            "-n",
            &ns,
            "--set",
            "logLevel=debug",
            "--set",
            "replicaCount=3",
            "--set",
            "clientSecretIdentities.enabled=true",
            "--set",
            &format!("clientSecretIdentities.secrets[0].namespace={secrets_ns}"),
            "--set",
            "clientSecretIdentities.secrets[0].names[0]=clinical-sp",
        ],
    )
    .expect_success("helm upgrade");
    let deployment =
        get_json(kubeconfig, &["deployment", release, "-n", &ns]).expect("the Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(args.contains("--log=debug"), "{args}");
    assert!(
        args.contains(&format!("--secret-namespaces-allowed={secrets_ns}")),
        "{args}"
    );
    assert!(can_i(kubeconfig, &sa, &["get", secret, "-n", &secrets_ns]));
    assert!(!can_i(
        kubeconfig,
        &sa,
        &["get", "secrets/another", "-n", &secrets_ns]
    ));
    assert!(!can_i(
        kubeconfig,
        &sa,
        &["list", "secrets", "-n", &secrets_ns]
    ));
    let history = helm(
        Some(kubeconfig),
        &["history", release, "-n", &ns, "-o", "json"],
    )
    .expect_success("helm history");
    let history: Value = serde_json::from_str(&history.stdout).expect("helm history JSON");
    assert_eq!(
        history.as_array().map(Vec::len),
        Some(2),
        "two revisions: {history}"
    );

    // Uninstall: none of the chart's objects remain in either namespace or cluster-wide; the
    // CRDs stay, as Helm leaves crds/ alone.
    helm(Some(kubeconfig), &["uninstall", release, "-n", &ns]).expect_success("helm uninstall");
    let left = poll(
        "the chart's objects to be deleted",
        40,
        Duration::from_secs(10),
        || {
            let left = release_objects(kubeconfig, release, &[&ns, &secrets_ns]);
            left.is_empty().then_some(left)
        },
    );
    assert!(left.is_empty());
    for crd in [
        "hipaaworkspaces.hipaa-operator.io",
        "phistores.hipaa-operator.io",
        "accessreviews.hipaa-operator.io",
    ] {
        assert!(
            get_json(kubeconfig, &["crd", crd]).is_some(),
            "{crd} was deleted by helm uninstall"
        );
    }
    drop(plane);
}

// ---------------------------------------------------------------------------------------------
// GitOps: the Argo CD health script, run by a real Lua interpreter
// ---------------------------------------------------------------------------------------------

fn lua_interpreter() -> PathBuf {
    for name in ["lua5.4", "lua"] {
        let works = Command::new(name)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if works {
            return PathBuf::from(name);
        }
    }
    panic!(
        "no Lua interpreter (lua5.4 or lua) on PATH: install one (apt-get install -y lua5.4) to test deploy/argocd/health.lua"
    )
}

fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\{}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON value as a Lua table constructor, the way Argo CD hands objects to health scripts.
fn lua_value(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lua_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(lua_value).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), lua_value(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

fn object(kind: &str, generation: i64, status: Option<Value>) -> Value {
    let mut object = json!({
        "apiVersion": "hipaa-operator.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "sample", "namespace": "clinical", "generation": generation},
        "spec": {},
    });
    if let Some(status) = status {
        object["status"] = status;
    }
    object
}

fn ready(status: &str, reason: &str, message: &str, generation: i64) -> Value {
    json!({
        "type": "Ready", "status": status, "reason": reason, "message": message,
        "lastTransitionTime": "2026-11-22T07:00:00Z", "observedGeneration": generation,
    })
}

#[test]
fn argocd_health_script_maps_status_to_health() {
    let drifted = "2 controls drifted: storage.min-tls-1-2, storage.public-network-disabled";
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "no status yet",
            object("PhiStore", 1, None),
            "Progressing",
            "Waiting for the operator",
        ),
        (
            "status of an older generation",
            object(
                "PhiStore",
                3,
                Some(json!({"observedGeneration": 2,
                             "conditions": [ready("True", "Compliant", "all controls compliant", 2)]})),
            ),
            "Progressing",
            "generation 3",
        ),
        (
            "observed but no Ready condition",
            object("HipaaWorkspace", 1, Some(json!({"observedGeneration": 1}))),
            "Progressing",
            "Ready",
        ),
        (
            "ready",
            object(
                "HipaaWorkspace",
                2,
                Some(json!({"observedGeneration": 2, "conditions": [
                    {"type": "EncryptedAtRest", "status": "True", "reason": "Compliant",
                     "message": "", "lastTransitionTime": "2026-11-22T07:00:00Z"},
                    ready("True", "Compliant", "25/25 controls compliant", 2)]})),
            ),
            "Healthy",
            "25/25 controls compliant",
        ),
        (
            "drifted",
            object(
                "PhiStore",
                1,
                Some(json!({"observedGeneration": 1,
                             "conditions": [ready("False", "Drifted", drifted, 1)]})),
            ),
            "Degraded",
            "Drifted: 2 controls drifted: storage.min-tls-1-2",
        ),
        (
            "Azure unavailable",
            object(
                "PhiStore",
                1,
                Some(json!({"observedGeneration": 1,
                             "conditions": [ready("False", "AzureUnavailable", "ARM returned 503", 1)]})),
            ),
            "Degraded",
            "AzureUnavailable",
        ),
        (
            "remediating",
            object(
                "PhiStore",
                4,
                Some(json!({"observedGeneration": 4,
                             "conditions": [ready("False", "Remediating", "applying storage.min-tls-1-2", 4)]})),
            ),
            "Progressing",
            "Remediating",
        ),
        (
            "Ready unknown",
            object(
                "HipaaWorkspace",
                1,
                Some(json!({"observedGeneration": 1,
                             "conditions": [ready("Unknown", "Reconciling", "first reconcile", 1)]})),
            ),
            "Progressing",
            "Reconciling",
        ),
        (
            "Ready condition of an older generation",
            object(
                "PhiStore",
                5,
                Some(json!({"observedGeneration": 5,
                             "conditions": [ready("True", "Compliant", "ok", 4)]})),
            ),
            "Progressing",
            "waiting for generation 5",
        ),
        (
            "review overdue",
            object(
                "AccessReview",
                1,
                Some(json!({"observedGeneration": 1, "phase": "Overdue",
                             "conditions": [ready("False", "Overdue", "3 of 5 principals undecided", 1)]})),
            ),
            "Degraded",
            "overdue",
        ),
        (
            "review overdue even if Ready is True",
            object(
                "AccessReview",
                1,
                Some(json!({"observedGeneration": 1, "phase": "Overdue",
                             "conditions": [ready("True", "Decided", "", 1)]})),
            ),
            "Degraded",
            "overdue",
        ),
        (
            "review open and not yet due",
            object(
                "AccessReview",
                1,
                Some(
                    json!({"observedGeneration": 1, "phase": "Open", "decided": "1/3",
                             "conditions": [ready("False", "ReviewPending", "waiting for a decision on every principal", 1)]}),
                ),
            ),
            "Progressing",
            "1/3 decided",
        ),
        (
            "review open but not the operator's",
            object(
                "AccessReview",
                1,
                Some(json!({"observedGeneration": 1, "phase": "Open",
                             "conditions": [ready("False", "NotOpenedByOperator", "not recorded by the store", 1)]})),
            ),
            "Degraded",
            "not recorded",
        ),
        (
            "review completed",
            object(
                "AccessReview",
                2,
                Some(json!({"observedGeneration": 2, "phase": "Completed",
                             "conditions": [ready("True", "Completed", "5/5 decided", 2)]})),
            ),
            "Healthy",
            "5/5 decided",
        ),
    ];

    let script = repo().join("deploy/argocd/health.lua");
    let mut wrapper = String::from("local script = assert(arg[1])\nlocal cases = {\n");
    for (name, obj, _, _) in &cases {
        wrapper.push_str(&format!(
            "  {{name = {}, obj = {}}},\n",
            lua_string(name),
            lua_value(obj)
        ));
    }
    wrapper.push_str(
        "}\n\
         for _, case in ipairs(cases) do\n\
         \x20 obj = case.obj\n\
         \x20 local hs = assert(loadfile(script))()\n\
         \x20 local message = (hs.message or ''):gsub('[\\t\\n]', ' ')\n\
         \x20 io.write(case.name, '\\t', tostring(hs.status), '\\t', message, '\\n')\n\
         end\n",
    );
    let mut file = tempfile::Builder::new()
        .suffix(".lua")
        .tempfile()
        .expect("a Lua wrapper file");
    file.write_all(wrapper.as_bytes())
        .expect("writing the Lua wrapper");
    let mut command = Command::new(lua_interpreter());
    command.arg(file.path()).arg(&script);
    let ran = run(command, None).expect_success("the Lua health script");
    let results: BTreeMap<&str, (&str, &str)> = ran
        .stdout
        .lines()
        .map(|line| {
            let mut parts = line.splitn(3, '\t');
            let name = parts.next().expect("a case name");
            let status = parts.next().expect("a status");
            let message = parts.next().unwrap_or("");
            (name, (status, message))
        })
        .collect();
    assert_eq!(
        results.len(),
        cases.len(),
        "one result per case:\n{}",
        ran.stdout
    );
    for (name, _, status, message) in &cases {
        let (got_status, got_message) = results[name];
        assert_eq!(
            got_status, *status,
            "case {name:?}: message {got_message:?}"
        );
        assert!(
            got_message.contains(message),
            "case {name:?}: message {got_message:?} lacks {message:?}"
        );
    }
}

#[test]
fn gitops_doc_installs_exactly_the_tested_health_script() {
    let script =
        std::fs::read_to_string(repo().join("deploy/argocd/health.lua")).expect("health.lua");
    let doc = std::fs::read_to_string(repo().join("docs/gitops.md")).expect("docs/gitops.md");
    let block = doc
        .split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .find(|block| block.contains("name: argocd-cm"))
        .expect("an argocd-cm block in docs/gitops.md");
    let cm: Value = serde_saphyr::from_str(block).expect("the argocd-cm block is YAML");
    for kind in ["HipaaWorkspace", "PhiStore", "AccessReview"] {
        let key = format!("resource.customizations.health.hipaa-operator.io_{kind}");
        assert_eq!(
            cm["data"][&key].as_str(),
            Some(script.as_str()),
            "{key} in docs/gitops.md is not deploy/argocd/health.lua"
        );
    }
    for needle in [
        "healthChecks:",
        "healthCheckExprs:",
        "kustomize.toolkit.fluxcd.io/v1",
    ] {
        assert!(
            doc.contains(needle),
            "docs/gitops.md lacks the Flux {needle}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The image the chart runs
// ---------------------------------------------------------------------------------------------

#[test]
fn dockerfile_builds_the_binary_the_chart_runs_as_the_user_the_chart_expects() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest.contains("name = \"hipaa-operator\"\npath = \"src/main.rs\""),
        "Cargo.toml no longer has the hipaa-operator binary the Dockerfile builds"
    );
    for needle in [
        "FROM rust:1.9",
        "AS builder",
        // Each platform's own musl target: the image is multi-arch (amd64 and arm64).
        "target=\"$(uname -m)-unknown-linux-musl\"",
        "cargo build --release --locked --bin hipaa-operator --target \"$target\"",
        "CARGO_BUILD_JOBS",
        "FROM gcr.io/distroless/static-debian12:nonroot",
        "USER 65532",
        "ENTRYPOINT [\"/usr/local/bin/hipaa-operator\"]",
    ] {
        assert!(
            dockerfile.contains(needle),
            "the Dockerfile lacks {needle:?}"
        );
    }
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    for needle in ["target/", ".git/"] {
        assert!(
            ignore.lines().any(|l| l.trim() == needle),
            ".dockerignore lacks {needle}"
        );
    }
    // The chart runs the image as the Dockerfile's user.
    let docs = template("hipaa", "ops", &[]);
    let deployment = find(&docs, "Deployment", "hipaa-hipaa-operator");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsUser"],
        65532
    );
}

/// An AccessReview as the operator opens it, in `reviewers`' hands, with `appliers` as GitOps
/// appliers.
fn cycle(name: &str, reviewers: &[&str], appliers: &[&str]) -> Value {
    let ra = |p: &str| {
        json!({
            "roleAssignmentId": format!("/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-clinical-phi/providers/Microsoft.Authorization/roleAssignments/{p}"),
            "principalId": p, "principalType": "User", "roleName": "Reader",
            "scope": "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-clinical-phi"
        })
    };
    json!({
        "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "AccessReview",
        "metadata": {"name": name, "labels": {"hipaa-operator.io/store": "referral-letters"}},
        "spec": {
            "storeRef": {"name": "referral-letters"}, "dueBy": "2099-01-01T00:00:00Z",
            "assignments": [ra(P1), ra(P2)],
            "reviewers": reviewers, "decisionsAppliedBy": appliers
        }
    })
}

const P1: &str = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
const P2: &str = "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a";
const ARGO: &str = "system:serviceaccount:argocd:argocd-application-controller";

fn decision(principal: &str, kind: &str, reviewer: &str) -> Value {
    json!({"principalId": principal, "decision": kind, "reviewer": reviewer,
           "justification": "quarterly access review CHG-3301"})
}

/// `kubectl patch` of an AccessReview's spec as `user` (extra groups for mallory).
fn patch_as(kubeconfig: &Path, ns: &str, name: &str, user: &str, patch: &Value) -> Ran {
    let patch = patch.to_string();
    let mut args = vec![
        "patch",
        "accessreview",
        name,
        "-n",
        ns,
        "--type",
        "merge",
        "-p",
        &patch,
        "--as",
        user,
    ];
    if user == "mallory" {
        args.extend(["--as-group", "system:masters"]);
    }
    kubectl(kubeconfig, &args, None)
}

/// The trust policy denies, at apply time, every way but the operator's to open or steer a
/// review cycle, and admits a decision only from the reviewer it names (or from the GitOps
/// applier the cycle lists, on a listed reviewer's behalf).
#[test]
fn trust_policy_lets_only_the_operator_open_cycles_and_only_reviewers_decide() {
    let kubeconfig = shared_kubeconfig();
    let ns = create_namespace(kubeconfig, "helm-trust", &[]);
    let team = create_namespace(kubeconfig, "helm-trust-team", &[]);
    let release = unique("trust");
    install_release(kubeconfig, &release, &ns, &[&team]);
    let operator = format!("system:serviceaccount:{ns}:{release}-hipaa-operator");
    // Team members hold the chart's user roles in the team's namespace.
    for role in ["edit", "view"] {
        kubectl(
            kubeconfig,
            &[
                "create",
                "rolebinding",
                &format!("team-{role}"),
                "-n",
                &team,
                &format!("--clusterrole={release}-hipaa-operator-{role}"),
                "--user=alice",
                "--user=carol",
                "--serviceaccount=argocd:argocd-application-controller",
            ],
            None,
        )
        .expect_success("rolebinding");
    }
    let create_as = |user: &str, manifest: &Value, dry_run: bool| {
        let mut args = vec!["create", "-n", team.as_str(), "-f", "-", "--as", user];
        if user == "mallory" {
            args.extend(["--as-group", "system:masters"]);
        }
        if dry_run {
            args.push("--dry-run=server");
        }
        kubectl(kubeconfig, &args, Some(&manifest.to_string()))
    };
    // Anyone else, even a cluster admin, is refused a new cycle (once the policy is active).
    let refused = poll(
        "the trust policy refuses a cycle not opened by the operator",
        120,
        Duration::from_secs(40),
        || {
            let ran = create_as("mallory", &cycle("forged", &["mallory"], &[]), true);
            (!ran.success).then_some(ran.stderr)
        },
    );
    assert!(
        refused.contains("only the operator opens access-review cycles"),
        "{refused}"
    );
    // The operator opens two cycles: one for reviewers in person, one through GitOps.
    create_as(&operator, &cycle("in-person", &["alice"], &[]), false)
        .expect_success("the operator opens a cycle");
    create_as(&operator, &cycle("gitops", &["alice"], &[ARGO]), false)
        .expect_success("the operator opens a GitOps cycle");

    let mine = decision(P1, "Approve", "alice");
    patch_as(
        kubeconfig,
        &team,
        "in-person",
        "alice",
        &json!({"spec": {"decisions": [mine]}}),
    )
    .expect_success("alice decides as alice");
    for (user, patch, says) in [
        // A decision in someone else's name.
        (
            "alice",
            json!({"spec": {"decisions": [mine, decision(P2, "Deny", "bob")]}}),
            "recorded by the reviewer it names",
        ),
        // A user who is not a reviewer of the cycle.
        (
            "carol",
            json!({"spec": {"decisions": [mine, decision(P2, "Deny", "carol")]}}),
            "one of the reviewers of the cycle",
        ),
        // Withdrawing another reviewer's decision.
        (
            "carol",
            json!({"spec": {"decisions": []}}),
            "only by the reviewer who made it",
        ),
        // The fields the operator wrote.
        (
            "alice",
            json!({"spec": {"dueBy": "2099-12-31T00:00:00Z"}}),
            "written by the operator",
        ),
        // (the schema refuses this one before admission: the field is immutable)
        (
            "alice",
            json!({"spec": {"reviewers": ["alice", "carol"]}}),
            "reviewers is immutable",
        ),
        (
            "alice",
            json!({"metadata": {"labels": {"hipaa-operator.io/store": "other-store"}}}),
            "labels and annotations",
        ),
        // Mallory as cluster admin is held to the same rules.
        (
            "mallory",
            json!({"spec": {"decisions": [mine, decision(P2, "Approve", "alice")]}}),
            "recorded by the reviewer it names",
        ),
        // A GitOps applier the cycle does not list.
        (
            ARGO,
            json!({"spec": {"decisions": [mine, decision(P2, "Approve", "alice")]}}),
            "recorded by the reviewer it names",
        ),
    ] {
        let ran = patch_as(kubeconfig, &team, "in-person", user, &patch);
        assert!(!ran.success, "{user} was admitted: {patch}");
        assert!(ran.stderr.contains(says), "{user}, {patch}: {}", ran.stderr);
    }
    // Through GitOps, the listed applier records decisions for listed reviewers only.
    patch_as(
        kubeconfig,
        &team,
        "gitops",
        ARGO,
        &json!({"spec": {"decisions": [decision(P1, "Approve", "alice")]}}),
    )
    .expect_success("the GitOps applier records alice's decision");
    let ran = patch_as(
        kubeconfig,
        &team,
        "gitops",
        ARGO,
        &json!({"spec": {"decisions": [decision(P1, "Approve", "alice"), decision(P2, "Approve", "eve")]}}),
    );
    assert!(
        !ran.success && ran.stderr.contains("one of the reviewers of the cycle"),
        "{}",
        ran.stderr
    );
    let decided =
        get_json(kubeconfig, &["accessreview", "in-person", "-n", &team]).expect("the cycle");
    assert_eq!(decided["spec"]["decisions"], json!([mine]));
    helm(Some(kubeconfig), &["uninstall", &release, "-n", &ns]).expect_success("uninstall");
    delete_namespace(kubeconfig, &team);
    delete_namespace(kubeconfig, &ns);
}
