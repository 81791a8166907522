//! Helm and kubectl as an admin runs them, for the chart's tests (and any test that installs
//! what the chart renders): the pinned binaries with a private Helm home, commands whose output
//! is kept for the assertion message, `helm template` parsed into its documents, and a shared
//! API server with the CRDs applied the way the README tells admins to. Every wait is bounded
//! in attempts and time.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    super::repo().join("charts/hipaa-operator")
}

/// The pinned binaries, and a private Helm home so the tests never touch the user's.
pub struct Tools {
    pub helm: PathBuf,
    pub kubectl: PathBuf,
    pub helm_home: tempfile::TempDir,
}

pub fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let located = control_plane::Tools::locate().expect("the pinned helm and kubectl");
        Tools {
            helm: located.helm,
            kubectl: located.kubectl,
            helm_home: tempfile::Builder::new()
                .prefix("hipaa-helm-home-")
                .tempdir()
                .expect("a Helm home directory"),
        }
    })
}

/// What a command printed, and whether it succeeded.
pub struct Ran {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn expect_success(self, what: &str) -> Ran {
        assert!(
            self.success,
            "{what} failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs `command` to completion, with `stdin` piped in when given.
pub fn run(mut command: Command, stdin: Option<&str>) -> Ran {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let description = format!("{command:?}");
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {description}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("a stdin pipe");
        pipe.write_all(input.as_bytes())
            .unwrap_or_else(|e| panic!("writing stdin of {description}: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {description}: {e}"));
    Ran {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `helm` with a private home; with a kubeconfig when it talks to a cluster.
pub fn helm(kubeconfig: Option<&Path>, args: &[&str]) -> Ran {
    let tools = tools();
    let home = tools.helm_home.path();
    let mut command = Command::new(&tools.helm);
    command
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("KUBECONFIG");
    if let Some(kubeconfig) = kubeconfig {
        command.arg("--kubeconfig").arg(kubeconfig);
    }
    command.args(args);
    // The chart names no image of its own: every render and install passes one, as users must
    // (`a_chart_without_an_image_repository_says_what_to_set` renders without).
    if matches!(
        args.first(),
        Some(&("template" | "install" | "upgrade" | "lint"))
    ) && !args.iter().any(|a| a.contains("image.repository"))
    {
        command.args([
            "--set",
            &format!("image.repository={TEST_IMAGE_REPOSITORY}"),
        ]);
    }
    run(command, None)
}

/// The image repository the tests install from.
pub const TEST_IMAGE_REPOSITORY: &str = "registry.example.com/hipaa-operator";

/// `kubectl` against `kubeconfig`, with `stdin` piped in when given.
pub fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Ran {
    let mut command = Command::new(&tools().kubectl);
    command.arg("--kubeconfig").arg(kubeconfig).args(args);
    run(command, stdin)
}

/// The shared control plane of this test binary, with the CRDs applied (once) the way the
/// README tells admins to upgrade them.
pub fn shared_kubeconfig() -> &'static Path {
    static CRDS: OnceLock<()> = OnceLock::new();
    let kubeconfig = control_plane::shared().kubeconfig_path();
    CRDS.get_or_init(|| {
        let crds = super::repo().join("crds");
        let crds = crds.to_str().expect("a UTF-8 path");
        kubectl(
            kubeconfig,
            &["apply", "--server-side", "--force-conflicts", "-f", crds],
            None,
        )
        .expect_success("kubectl apply --server-side -f crds/");
        kubectl(
            kubeconfig,
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "-f",
                crds,
            ],
            None,
        )
        .expect_success("waiting for the CRDs to be Established");
    });
    kubeconfig
}

/// A name unique in this process: `{prefix}-{n}`.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Creates a namespace `{prefix}-{n}` with the given labels.
pub fn create_namespace(kubeconfig: &Path, prefix: &str, labels: &[(&str, &str)]) -> String {
    let name = unique(prefix);
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let manifest = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels},
    });
    kubectl(
        kubeconfig,
        &["create", "-f", "-"],
        Some(&manifest.to_string()),
    )
    .expect_success("creating a namespace");
    name
}

/// Deletes a namespace, best effort and without waiting.
pub fn delete_namespace(kubeconfig: &Path, name: &str) {
    // Best effort and without waiting: the control plane goes away with the test binary.
    let _ = kubectl(
        kubeconfig,
        &["delete", "namespace", name, "--wait=false"],
        None,
    );
}

/// `kubectl get ... -o json`, parsed; None when the object does not exist.
pub fn get_json(kubeconfig: &Path, args: &[&str]) -> Option<Value> {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json", "--ignore-not-found"]);
    let ran = kubectl(kubeconfig, &full, None).expect_success("kubectl get");
    if ran.stdout.trim().is_empty() {
        return None;
    }
    Some(serde_json::from_str(&ran.stdout).expect("kubectl prints JSON"))
}

/// Parses a multi-document YAML stream (`helm template` output) into its non-empty documents.
pub fn documents(yaml: &str) -> Vec<Value> {
    // Empty documents (a template that renders nothing) are skipped.
    serde_saphyr::from_multiple(yaml).expect("valid YAML from helm template")
}

/// `helm template` with the given extra arguments, parsed.
pub fn template(release: &str, namespace: &str, extra: &[&str]) -> Vec<Value> {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        release,
        chart.to_str().expect("a UTF-8 path"),
        "--namespace",
        namespace,
    ];
    args.extend_from_slice(extra);
    documents(&helm(None, &args).expect_success("helm template").stdout)
}

/// `helm template check` with `values` over the chart's defaults, not asserted.
pub fn render(values: &Value) -> Ran {
    let file = values_file(values);
    let chart = chart_dir();
    helm(
        None,
        &[
            "template",
            "check",
            chart.to_str().expect("a UTF-8 path"),
            "--namespace",
            "ops",
            "-f",
            file.path().to_str().expect("a UTF-8 path"),
        ],
    )
}

/// A values file holding `values` (JSON is YAML).
pub fn values_file(values: &Value) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("a values file");
    file.write_all(values.to_string().as_bytes())
        .expect("writing the values file");
    file
}

/// The rendered object of `kind` named `name`; a panic lists what was rendered otherwise.
pub fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| {
            let have: Vec<String> = docs
                .iter()
                .map(|d| format!("{}/{}", d["kind"], d["metadata"]["name"]))
                .collect();
            panic!("no {kind} {name} rendered; rendered: {have:?}")
        })
}

/// The kinds rendered.
pub fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .filter_map(|d| d["kind"].as_str().map(str::to_string))
        .collect()
}

/// `helm install` of the chart as `release` into `ns`, the CRDs being installed already, its
/// admission policies bound to the namespaces in `scope` only (`watchNamespaces`), or to every
/// namespace when `scope` is empty. In a control plane that other tests share, a release's
/// policies must not judge their objects: the trust policy of one release refuses the cycles
/// the operator of another opens.
pub fn install_release(kubeconfig: &Path, release: &str, ns: &str, scope: &[&str]) {
    let chart = chart_dir();
    let watched = format!("watchNamespaces={{{}}}", scope.join(","));
    let mut args = vec![
        "install",
        release,
        chart.to_str().expect("a UTF-8 path"),
        "-n",
        ns,
        "--skip-crds",
        // The coverage policy refuses every HipaaWorkspace and PhiStore of a namespace that has
        // no NamespaceGrant, which only a running operator writes: tests/grant_coverage.rs
        // installs it with one, on a plane of its own.
        "--set",
        "admissionPolicy.coverage.enabled=false",
    ];
    if !scope.is_empty() {
        args.extend(["--set", watched.as_str()]);
    }
    helm(Some(kubeconfig), &args).expect_success("helm install");
}

/// Retries `attempt` until it returns Some, at most `tries` times and for at most `limit`.
pub fn poll<T>(
    what: &str,
    tries: usize,
    limit: Duration,
    mut attempt: impl FnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    for _ in 0..tries {
        if let Some(done) = attempt() {
            return done;
        }
        if started.elapsed() > limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "{what}: not done after {tries} attempts / {:?}",
        started.elapsed()
    )
}

/// Applies `manifest` and returns kubectl's result.
pub fn apply(kubeconfig: &Path, ns: &str, manifest: &Value, dry_run: bool) -> Ran {
    let mut args = vec!["apply", "-n", ns, "-f", "-"];
    if dry_run {
        args.push("--dry-run=server");
    }
    kubectl(kubeconfig, &args, Some(&manifest.to_string()))
}

/// Waits (by server-side dry runs) until applying `manifest` returns a warning containing
/// `needle` — the policy is compiled and the namespace labels are visible to it — then applies
/// it for real and returns that result.
pub fn apply_expecting_warning(kubeconfig: &Path, ns: &str, manifest: &Value, needle: &str) -> Ran {
    poll(
        &format!("a warning containing {needle:?}"),
        80,
        Duration::from_secs(30),
        || {
            let ran = apply(kubeconfig, ns, manifest, true);
            // A policy with params just installed is refused until the API server has synced
            // its param kind: not an answer yet.
            if !ran.success && ran.stderr.contains("not yet synced") {
                return None;
            }
            let ran = ran.expect_success("dry-run apply");
            ran.stderr.contains(needle).then_some(())
        },
    );
    apply(kubeconfig, ns, manifest, false).expect_success("apply")
}

/// `kubectl auth can-i` as the operator's ServiceAccount.
pub fn can_i(kubeconfig: &Path, service_account: &str, args: &[&str]) -> bool {
    let mut full = vec!["auth", "can-i"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--as", service_account]);
    let ran = kubectl(kubeconfig, &full, None);
    match ran.stdout.trim() {
        "yes" => true,
        "no" => false,
        other => panic!(
            "kubectl auth can-i {args:?} printed {other:?}; stderr: {}",
            ran.stderr
        ),
    }
}

/// Runs the operator binary with `args` followed by `--help`: clap parses (and validates) every
/// argument before it reaches `--help`, so this succeeds only when the binary accepts them all.
pub fn operator_accepts(args: &[String]) -> Ran {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hipaa-operator"));
    command
        .env_clear()
        .args(
            args.iter()
                .map(|a| a.replace("$(POD_NAMESPACE)", "hipaa-system")),
        )
        .arg("--help");
    run(command, None)
}

/// Runs the operator binary with `args` and nothing but `env`, and no cluster: it stops at its
/// first startup failure. Ok when that failure is the missing kubeconfig, i.e. every check the
/// binary makes before it talks to the cluster (flags, log filter, cloud, own identity) passed;
/// Err with what it printed otherwise.
pub fn operator_starts(args: &[String], env: &[(&str, &str)]) -> Result<(), String> {
    let kubeconfig = std::env::temp_dir().join(format!(
        "hipaa-helm-chart-no-such-kubeconfig-{}",
        std::process::id()
    ));
    let mut command = Command::new(env!("CARGO_BIN_EXE_hipaa-operator"));
    command
        .env_clear()
        .env("KUBECONFIG", &kubeconfig)
        .envs(env.iter().copied())
        .args(
            args.iter()
                .map(|a| a.replace("$(POD_NAMESPACE)", "hipaa-system")),
        );
    let ran = run(command, None);
    let needle = kubeconfig.to_str().expect("a UTF-8 path");
    if !ran.success && ran.stderr.contains(needle) {
        Ok(())
    } else {
        Err(format!(
            "exit success {}; stderr:\n{}",
            ran.success, ran.stderr
        ))
    }
}

/// A values file with every optional feature on (except the ServiceMonitor, whose CRD a bare
/// cluster lacks), for one namespace holding client secrets.
pub fn all_features_values(secrets_namespace: &str) -> tempfile::NamedTempFile {
    let values = json!({
        "replicaCount": 3,
        "logLevel": "debug,kube=info",
        "logFormat": "text",
        "watchNamespaces": [secrets_namespace, "clinical"],
        "azure": {
            "cloud": "Custom",
            "armEndpoint": "https://127.0.0.1:8443",
            "authorityHost": "https://127.0.0.1:8443/entra",
            "keyVaultEndpoint": "https://{vault}.vault.sim.local:8443",
            "identity": "client-secret-env",
            "caBundle": {"configMapName": "azure-sim-ca", "key": "ca.crt"}
        },
        "workloadIdentity": {
            "enabled": true,
            "clientId": "8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d",
            "tenantId": "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"
        },
        "clientSecretIdentities": {
            "enabled": true,
            "secrets": [
                {"namespace": secrets_namespace, "names": ["clinical-sp"]},
                {"namespace": secrets_namespace, "names": ["research-sp", "clinical-sp"]}
            ]
        },
        "networkPolicy": {
            "enabled": true,
            "apiServer": {"cidrs": ["10.0.0.1/32"], "ports": [443]},
            "azure": {"cidrs": ["20.0.0.0/8"]},
            "ingressFrom": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
        },
        "extraEnv": [
            {"name": "AZURE_TENANT_ID", "value": "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"},
            {"name": "AZURE_CLIENT_SECRET",
             "valueFrom": {"secretKeyRef": {"name": "operator-sp", "key": "secret"}}}
        ],
        "podLabels": {"team": "platform"},
        "priorityClassName": ""
    });
    let mut file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("a values file");
    // JSON is YAML.
    file.write_all(values.to_string().as_bytes())
        .expect("writing the values file");
    file
}

/// Writes to `path` a kubeconfig that authenticates as ServiceAccount `ns/account` (a token
/// the API server issues, valid an hour), for running the operator with exactly the RBAC and
/// the admission identity the chart gives it.
pub fn service_account_kubeconfig(admin: &Path, ns: &str, account: &str, path: &Path) {
    let plane = control_plane::shared();
    let token = kubectl(
        admin,
        &["create", "token", account, "-n", ns, "--duration", "1h"],
        None,
    )
    .expect_success("a token of the ServiceAccount")
    .stdout
    .trim()
    .to_string();
    use base64::Engine as _;
    let ca = std::fs::read(plane.ca_cert_path()).expect("CA");
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: operator\n  user:\n    token: {token}\ncontexts:\n- name: local\n  context:\n    cluster: local\n    user: operator\ncurrent-context: local\n",
        plane.server(),
        base64::engine::general_purpose::STANDARD.encode(ca)
    );
    std::fs::write(path, kubeconfig).expect("kubeconfig");
}
