//! The simulator's configuration, shared state and HTTPS listener (TLS accept loop, one hyper
//! connection per client, periodic persistence).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::SimClock;
use crate::faults::Faults;
use crate::jwt::Signer;
use crate::reqlog::RequestLog;
use crate::seed::Seed;
use crate::state::{self, State};
use crate::throttle::Throttle;
use crate::{keyvault, lro, tls};

pub const DEFAULT_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    /// Keeps state, the CA and the token-signing key across restarts.
    pub state_dir: Option<PathBuf>,
    /// Where `ca.pem` goes when there is no state dir (a temp dir otherwise).
    pub cert_dir: Option<PathBuf>,
    pub seed: Option<Seed>,
    pub tenant_id: String,
    pub max_body_bytes: usize,
    /// Report vault URIs and key ids as `https://{vault}.vault.azure.net:{port}`, so a client that
    /// resolves `*.vault.azure.net` to loopback reaches the data plane without rewriting URLs.
    pub vault_uri_with_port: bool,
    /// Whether request bodies are checked against Azure's published models
    /// (`conformance/models.json`). Strict unless someone exploring turns it off.
    pub conformance: crate::conformance::Strictness,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_dir: None,
            cert_dir: None,
            seed: None,
            tenant_id: DEFAULT_TENANT.to_string(),
            max_body_bytes: 4 * 1024 * 1024,
            vault_uri_with_port: false,
            conformance: crate::conformance::Strictness::Strict,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Persist(#[from] state::PersistError),
    #[error("token signing key: {0}")]
    Signer(#[from] crate::jwt::JwtError),
    #[error("seeding: {0}")]
    Seed(String),
    #[error("I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Everything handlers share.
pub struct Shared {
    state: Mutex<State>,
    pub clock: SimClock,
    pub signer: Signer,
    pub log: RequestLog,
    pub throttle: Throttle,
    pub faults: Faults,
    /// Resource Graph's view of the resources, behind by the configured lag.
    pub graph: crate::arm::graph::GraphIndex,
    pub base_url: String,
    pub port: u16,
    pub max_body_bytes: usize,
    /// How request bodies are checked against the published models.
    pub conformance: crate::conformance::Strictness,
    pub state_dir: Option<PathBuf>,
    pub ca_path: PathBuf,
    dirty: AtomicBool,
    /// When the next operation completes (simulated ms); `i64::MIN` after a change, so the
    /// next request looks.
    next_operation_ms: std::sync::atomic::AtomicI64,
    /// When the next key rotates (simulated ms); `i64::MIN` after a change to keys.
    next_rotation_ms: std::sync::atomic::AtomicI64,
    initial_seed: Option<Seed>,
    vault_authority: String,
}

impl Shared {
    /// Locks the state after completing due operations and key rotations, so every handler sees
    /// the estate as of the simulated now.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        let mut g = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let now = self.clock.now();
        // Only when an operation or a key rotation may be due: otherwise a request would walk
        // every operation and key of the estate.
        let now_ms = lro::ms(now);
        if now_ms >= self.next_operation_ms.load(Ordering::SeqCst) {
            let next = lro::settle(&mut g, now);
            self.next_operation_ms
                .store(next.unwrap_or(i64::MAX), Ordering::SeqCst);
        }
        if now_ms >= self.next_rotation_ms.load(Ordering::SeqCst) {
            let next = keyvault::rotate_due(&mut g, now).map(|s| s.saturating_mul(1000));
            self.next_rotation_ms
                .store(next.unwrap_or(i64::MAX), Ordering::SeqCst);
        }
        g
    }

    /// The state changed: persist it, and look for due operations again (any ARM write may
    /// start one).
    pub fn mark_dirty(&self) {
        self.next_operation_ms.store(i64::MIN, Ordering::SeqCst);
        self.dirty.store(true, Ordering::SeqCst);
    }

    /// Keys or their rotation policies changed (or the whole state did): also look for due
    /// rotations again.
    pub fn mark_keys_dirty(&self) {
        self.next_rotation_ms.store(i64::MIN, Ordering::SeqCst);
        self.mark_dirty();
    }

    /// Replaces the whole state (admin reset) and re-applies the start-up seed.
    pub fn reset(&self) -> Result<(), String> {
        let tenant = self.lock().tenant_id.clone();
        let mut fresh = State::new(&tenant);
        fresh.vault_authority = self.vault_authority.clone();
        if let Some(seed) = &self.initial_seed {
            crate::seed::apply(&mut fresh, seed, self.clock.now()).map_err(|e| e.message)?;
        }
        *self.lock() = fresh;
        self.clock.reset();
        self.throttle.reset();
        self.throttle.reset_counts();
        self.faults.clear();
        self.graph.clear();
        self.log.clear();
        self.mark_keys_dirty();
        Ok(())
    }

    pub fn persist_now(&self) -> Result<(), state::PersistError> {
        if let Some(dir) = &self.state_dir {
            let mut snapshot = self.lock().clone();
            snapshot.clock_offset_ms = self.clock.offset_ms();
            state::save(dir, &snapshot)?;
        }
        self.dirty.store(false, Ordering::SeqCst);
        Ok(())
    }
}

/// A running simulator. Dropping it stops the listener.
pub struct Simulator {
    pub addr: SocketAddr,
    /// `https://127.0.0.1:{port}`: ARM endpoint, Entra authority host and IMDS endpoint.
    pub base_url: String,
    pub ca_pem: String,
    pub ca_path: PathBuf,
    pub tenant_id: String,
    pub shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    _temp: Option<TempDir>,
}

impl Simulator {
    /// The Key Vault data-plane URL of a vault (host routing on the same port).
    pub fn vault_url(&self, vault: &str) -> String {
        format!("https://{vault}.vault.azure.net:{}", self.addr.port())
    }

    /// Stops accepting connections and writes the state when a state dir was given.
    pub async fn shutdown(mut self) -> Result<(), state::PersistError> {
        self.shutdown.send(true).ok();
        if let Some(t) = self.task.take() {
            t.await.ok();
        }
        self.shared.persist_now()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shutdown.send(true).ok();
    }
}

/// A directory removed on drop (for the CA when no state dir is given).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

pub async fn start(config: SimConfig) -> Result<Simulator, StartError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let (cert_dir, temp) = match (&config.state_dir, &config.cert_dir) {
        (Some(d), _) | (None, Some(d)) => (d.clone(), None),
        (None, None) => {
            let d = std::env::temp_dir().join(format!("azure-sim-{}", uuid::Uuid::new_v4()));
            (d.clone(), Some(TempDir(d)))
        }
    };
    let material = tls::load_or_create(&cert_dir, &[])?;
    let ca_path = cert_dir.join("ca.pem");

    let key_path = cert_dir.join("token-signing.key");
    let key_pem = std::fs::read_to_string(&key_path).ok();
    let signer = Signer::from_pem_or_new(key_pem.as_deref())?;
    if key_pem.is_none() {
        std::fs::write(&key_path, signer.pem()).map_err(|source| StartError::Io {
            path: key_path.clone(),
            source,
        })?;
    }

    let clock = SimClock::default();
    let vault_authority = if config.vault_uri_with_port {
        format!("vault.azure.net:{}", addr.port())
    } else {
        "vault.azure.net".to_string()
    };
    let loaded = match &config.state_dir {
        Some(d) => state::load(d)?,
        None => None,
    };
    let st = match loaded {
        Some(mut s) => {
            clock.set_offset_ms(s.clock_offset_ms);
            s.vault_authority = vault_authority.clone();
            s
        }
        None => {
            let mut s = State::new(&config.tenant_id);
            s.vault_authority = vault_authority.clone();
            if let Some(seed) = &config.seed {
                crate::seed::apply(&mut s, seed, clock.now())
                    .map_err(|e| StartError::Seed(e.message))?;
            }
            s
        }
    };
    let tenant_id = st.tenant_id.clone();
    // A wildcard listen address is reached on loopback; IPv6 needs brackets in URLs.
    let base_url = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            format!("https://127.0.0.1:{}", addr.port())
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => format!("https://[::1]:{}", addr.port()),
        std::net::IpAddr::V4(ip) => format!("https://{ip}:{}", addr.port()),
        std::net::IpAddr::V6(ip) => format!("https://[{ip}]:{}", addr.port()),
    };
    let shared = Arc::new(Shared {
        state: Mutex::new(st),
        clock,
        signer,
        log: RequestLog::default(),
        throttle: Throttle::default(),
        faults: Faults::default(),
        graph: Default::default(),
        base_url: base_url.clone(),
        port: addr.port(),
        max_body_bytes: config.max_body_bytes,
        conformance: config.conformance,
        state_dir: config.state_dir.clone(),
        ca_path: ca_path.clone(),
        dirty: AtomicBool::new(false),
        next_operation_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
        next_rotation_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
        initial_seed: config.seed.clone(),
        vault_authority,
    });
    let (tx, rx) = watch::channel(false);
    let acceptor = tokio_rustls::TlsAcceptor::from(material.server_config.clone());
    let task = tokio::spawn(accept_loop(listener, acceptor, shared.clone(), rx));
    Ok(Simulator {
        addr,
        base_url,
        ca_pem: material.ca_pem,
        ca_path,
        tenant_id,
        shared,
        shutdown: tx,
        task: Some(task),
        _temp: temp,
    })
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut persist_tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = persist_tick.tick() => {
                if shared.dirty.load(Ordering::SeqCst)
                    && let Err(e) = shared.persist_now()
                {
                    tracing::warn!(error = %e, "could not persist state");
                }
            }
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let shared = shared.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    // A client that never finishes the handshake must not hold a task forever.
                    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        _ => return,
                    };
                    serve_connection(tls, shared, stop).await;
                });
            }
        }
    }
}

async fn serve_connection(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let shared = shared.clone();
        async move { crate::service::handle(shared, req).await }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(tls), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {}
    }
}
