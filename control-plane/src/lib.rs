//! A real Kubernetes control plane on loopback: etcd, kube-apiserver and kube-controller-manager
//! built from the versions pinned in `scripts/versions.env`, started as local processes with
//! generated certificates, for the tests and the demo.
//!
//! * [`ControlPlane::start`] starts one and stops it when dropped.
//! * [`shared`] starts one per test binary on first use, and stops it when the process exits;
//!   [`TestNamespace`] gives each test its own namespace.
//!
//! Children are tied to the process that started them twice over: an `atexit` hook stops them
//! gracefully on a normal exit, and `PR_SET_PDEATHSIG` kills them if the process dies any other
//! way (a panic that aborts, SIGKILL), so no etcd or API server outlives its test run.

mod certs;
mod process;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

pub use process::{Tools, tie_to_parent};

/// Why the control plane could not start or be reached.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the pinned tools are not available: {0}")]
    Tools(String),
    #[error("could not generate certificates: {0}")]
    Certificates(#[from] rcgen::Error),
    #[error("I/O error while {action}: {source}")]
    Io {
        action: String,
        source: std::io::Error,
    },
    #[error("{component} did not become ready within {seconds} s; last log lines:\n{log}")]
    NotReady {
        component: &'static str,
        seconds: u64,
        log: String,
    },
    #[error("{component} exited while starting ({status}); last log lines:\n{log}")]
    Exited {
        component: &'static str,
        status: String,
        log: String,
    },
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

impl Error {
    /// Whether a component failed because its port was taken before it could bind it.
    fn is_port_taken(&self) -> bool {
        match self {
            Error::Exited { log, .. } | Error::NotReady { log, .. } => {
                log.to_ascii_lowercase().contains("address already in use")
            }
            _ => false,
        }
    }
}

pub(crate) fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let action = action.into();
    move |source| Error::Io { action, source }
}

/// A running etcd + kube-apiserver (+ kube-controller-manager).
pub struct ControlPlane {
    dir: tempfile::TempDir,
    server: String,
    kubeconfig: PathBuf,
    processes: process::Group,
}

/// What to start.
#[derive(Clone, Debug)]
pub struct Options {
    /// Also start kube-controller-manager (namespace deletion, garbage collection, service
    /// account tokens). Default true.
    pub controller_manager: bool,
    /// How long to wait for each component to be ready. Default 90 s.
    pub ready_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            controller_manager: true,
            ready_timeout: Duration::from_secs(90),
        }
    }
}

impl ControlPlane {
    /// Starts a control plane and waits until the API server is ready. Blocking; call it from a
    /// thread that is not inside an async runtime (see [`shared`]).
    ///
    /// etcd and kube-apiserver take their ports on the command line, so a port is chosen here
    /// first; another process can take it before they bind it. A start that failed that way
    /// is tried again with new ports, three times at most.
    pub fn start(tools: &Tools, options: &Options) -> Result<ControlPlane, Error> {
        const ATTEMPTS: usize = 3;
        let mut attempt = 1;
        loop {
            match Self::start_once(tools, options) {
                Err(e) if attempt < ATTEMPTS && e.is_port_taken() => attempt += 1,
                result => return result,
            }
        }
    }

    fn start_once(tools: &Tools, options: &Options) -> Result<ControlPlane, Error> {
        let dir = tempfile::Builder::new()
            .prefix("hipaa-control-plane-")
            .tempdir()
            .map_err(io("creating the control-plane directory"))?;
        let certs = certs::write_all(dir.path())?;
        let [etcd_port, etcd_peer_port, api_port] = free_ports()?;
        let server = format!("https://127.0.0.1:{api_port}");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, certs.kubeconfig(&server))
            .map_err(io("writing the kubeconfig"))?;

        let mut processes = process::Group::default();
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer_port}");
        let etcd_data = dir.path().join("etcd");
        processes.spawn(
            "etcd",
            &tools.etcd,
            &[
                "--name=hipaa-test",
                &format!("--data-dir={}", etcd_data.display()),
                &format!("--listen-client-urls={etcd_url}"),
                &format!("--advertise-client-urls={etcd_url}"),
                &format!("--listen-peer-urls={peer_url}"),
                &format!("--initial-advertise-peer-urls={peer_url}"),
                &format!("--initial-cluster=hipaa-test={peer_url}"),
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            dir.path(),
        )?;
        processes.wait_for_port("etcd", etcd_port, options.ready_timeout)?;

        let p = |f: &Path| f.display().to_string();
        processes.spawn(
            "kube-apiserver",
            &tools.kube_apiserver,
            &[
                &format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                // Loopback cannot be published as the `kubernetes` Service endpoint, and no pod
                // here needs it.
                "--endpoint-reconciler-type=none",
                &format!("--secure-port={api_port}"),
                &format!("--tls-cert-file={}", p(&certs.server_cert)),
                &format!("--tls-private-key-file={}", p(&certs.server_key)),
                &format!("--client-ca-file={}", p(&certs.ca_cert)),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                &format!("--service-account-key-file={}", p(&certs.sa_pub)),
                &format!("--service-account-signing-key-file={}", p(&certs.sa_key)),
                "--service-cluster-ip-range=10.96.0.0/16",
                "--authorization-mode=RBAC",
                "--allow-privileged=false",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--v=1",
            ],
            dir.path(),
        )?;
        let mut plane = ControlPlane {
            dir,
            server,
            kubeconfig,
            processes,
        };
        plane.wait_ready(options.ready_timeout)?;

        if options.controller_manager {
            let kcm_args = [
                format!("--kubeconfig={}", p(&plane.kubeconfig)),
                "--bind-address=127.0.0.1".to_string(),
                "--secure-port=0".to_string(),
                "--leader-elect=false".to_string(),
                "--controllers=namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller".to_string(),
                format!("--service-account-private-key-file={}", p(&certs.sa_key)),
                format!("--root-ca-file={}", p(&certs.ca_cert)),
                "--use-service-account-credentials=false".to_string(),
                "--v=1".to_string(),
            ];
            let args: Vec<&str> = kcm_args.iter().map(String::as_str).collect();
            let dir = plane.dir.path().to_path_buf();
            plane.processes.spawn(
                "kube-controller-manager",
                &tools.kube_controller_manager,
                &args,
                &dir,
            )?;
        }
        Ok(plane)
    }

    /// Polls `/readyz` until the API server answers ok, failing early if it exited.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io("starting a runtime to poll readiness"))?;
        let deadline = Instant::now() + timeout;
        runtime.block_on(async {
            let client = self.client().await?;
            loop {
                self.processes.check_running()?;
                let request = http::Request::get("/readyz")
                    .body(Vec::new())
                    .map_err(|e| Error::Kubeconfig(e.to_string()))?;
                match client.request_text(request).await {
                    Ok(body) if body.trim() == "ok" => break,
                    _ if Instant::now() > deadline => {
                        return Err(Error::NotReady {
                            component: "kube-apiserver",
                            seconds: timeout.as_secs(),
                            log: self.processes.log_tail("kube-apiserver"),
                        });
                    }
                    _ => tokio::time::sleep(Duration::from_millis(250)).await,
                }
            }
            // The bootstrap RBAC roles and the default namespace are created by post-start hooks
            // that /readyz already waited for; the `default` namespace is the last to appear.
            let namespaces: Api<Namespace> = Api::all(client);
            while namespaces.get_opt("default").await?.is_none() {
                if Instant::now() > deadline {
                    return Err(Error::NotReady {
                        component: "kube-apiserver (default namespace)",
                        seconds: timeout.as_secs(),
                        log: self.processes.log_tail("kube-apiserver"),
                    });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(())
        })
    }

    /// `https://127.0.0.1:{port}`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// A kubeconfig with cluster-admin (`system:masters`) client credentials.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The directory holding certificates, logs and etcd data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA that signed the API server's serving certificate and the client certificates.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.path().join(certs::CA_CERT)
    }

    /// A cluster-admin client. Make one per async runtime: a client's connection tasks live on
    /// the runtime that created it.
    pub async fn client(&self) -> Result<kube::Client, Error> {
        client_for(&self.kubeconfig).await
    }

    /// Process ids of the running components.
    pub fn pids(&self) -> Vec<u32> {
        self.processes.pids()
    }

    /// Stops every process (SIGTERM, then SIGKILL after a grace period).
    pub fn stop(&mut self) {
        self.processes.stop_all();
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A cluster-admin client from a kubeconfig file, for the calling runtime.
async fn client_for(kubeconfig: &Path) -> Result<kube::Client, Error> {
    let kubeconfig =
        Kubeconfig::read_from(kubeconfig).map_err(|e| Error::Kubeconfig(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Kubeconfig(e.to_string()))?;
    Ok(kube::Client::try_from(config)?)
}

/// `N` distinct loopback ports that are free now, chosen below the kernel's ephemeral range:
/// ports from that range are handed to every outgoing connection, so one picked there is the
/// likeliest to be taken before the component binds it.
fn free_ports<const N: usize>() -> Result<[u16; N], Error> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_low.max(10_256));
    // A start point that differs between processes, so parallel test binaries do not probe
    // the same ports in the same order.
    let seed = u64::from(std::process::id()).wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::from(d.subsec_nanos()))
            .unwrap_or(0);
    let span = u64::from(high - low);
    // The listeners are held until every port is chosen, so the ports differ.
    let mut held = Vec::with_capacity(N);
    for i in 0..1024u64 {
        if held.len() == N {
            break;
        }
        let port = low + ((seed.wrapping_add(i * 97)) % span) as u16;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(listener);
        }
    }
    while held.len() < N {
        held.push(TcpListener::bind("127.0.0.1:0").map_err(io("finding a free loopback port"))?);
    }
    let mut ports = [0u16; N];
    for (port, listener) in ports.iter_mut().zip(&held) {
        *port = listener
            .local_addr()
            .map_err(io("reading a loopback port"))?
            .port();
    }
    Ok(ports)
}

static SHARED: OnceLock<Result<SharedPlane, String>> = OnceLock::new();

/// The control plane of this test binary, as the supervisor thread keeps it.
pub struct SharedPlane {
    server: String,
    kubeconfig: PathBuf,
    ca_cert: PathBuf,
}

impl SharedPlane {
    /// `https://127.0.0.1:{port}`.
    pub fn server(&self) -> &str {
        &self.server
    }
    /// A cluster-admin kubeconfig.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }
    /// The cluster CA.
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_cert
    }
    /// A cluster-admin client for the calling runtime.
    pub async fn client(&self) -> Result<kube::Client, Error> {
        client_for(&self.kubeconfig).await
    }
}

/// The one control plane of this process, started on first use by a supervisor thread that
/// lives as long as the process (so `PR_SET_PDEATHSIG` fires only when the process dies).
/// Panics with the start-up error, since no test can run without it.
pub fn shared() -> &'static SharedPlane {
    let result = SHARED.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("control-plane-supervisor".into())
            .spawn(move || {
                let started = Tools::locate()
                    .and_then(|tools| ControlPlane::start(&tools, &Options::default()));
                match started {
                    Ok(plane) => {
                        let shared = SharedPlane {
                            server: plane.server.clone(),
                            kubeconfig: plane.kubeconfig.clone(),
                            ca_cert: plane.ca_cert_path(),
                        };
                        process::stop_at_exit(plane);
                        let _ = tx.send(Ok(shared));
                        loop {
                            std::thread::park();
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        match spawned {
            Ok(_) => rx
                .recv()
                .unwrap_or_else(|_| Err("the control-plane supervisor thread died".into())),
            Err(e) => Err(format!(
                "could not start the control-plane supervisor thread: {e}"
            )),
        }
    });
    match result {
        Ok(plane) => plane,
        Err(e) => panic!("the local control plane did not start: {e}"),
    }
}

/// A namespace of its own for one test, deleted by [`TestNamespace::delete`] (the
/// controller-manager finalizes it) or, at the latest, with the control plane.
pub struct TestNamespace {
    pub name: String,
    client: kube::Client,
}

impl TestNamespace {
    /// Creates `{prefix}-{random}`.
    pub async fn create(client: &kube::Client, prefix: &str) -> Result<TestNamespace, Error> {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                generate_name: Some(format!("{prefix}-")),
                labels: Some([("hipaa-operator.io/test".to_string(), "true".to_string())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let created = namespaces.create(&PostParams::default(), &ns).await?;
        let name = created.metadata.name.ok_or_else(|| {
            Error::Kubeconfig("the API server returned a namespace without a name".into())
        })?;
        Ok(TestNamespace {
            name,
            client: client.clone(),
        })
    }

    /// Deletes the namespace and everything in it.
    pub async fn delete(self) -> Result<(), Error> {
        let namespaces: Api<Namespace> = Api::all(self.client);
        namespaces
            .delete(&self.name, &DeleteParams::default())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod port_tests {
    use super::*;

    #[test]
    fn ports_are_distinct_free_and_below_the_ephemeral_range() {
        let ports: [u16; 3] = free_ports().unwrap();
        assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
        let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
            .unwrap_or(32768);
        for port in ports {
            assert!((10_000..low.max(10_256)).contains(&port), "{port}");
            // Released again: the component can bind it.
            TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
    }

    #[test]
    fn a_taken_port_is_recognised_from_the_component_log() {
        let taken = Error::Exited {
            component: "etcd",
            status: "exit status: 1".into(),
            log: "listen tcp 127.0.0.1:2379: bind: address already in use".into(),
        };
        assert!(taken.is_port_taken());
        let other = Error::Exited {
            component: "etcd",
            status: "exit status: 1".into(),
            log: "invalid flag".into(),
        };
        assert!(!other.is_port_taken());
    }
}
