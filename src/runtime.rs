//! Process-level pieces of the operator: start-up checks, logging set-up and shutdown signals.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;

/// Why the operator cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "the CRD {name} is not installed: install the chart (helm install hipaa-operator charts/hipaa-operator) or run `kubectl apply --server-side --force-conflicts -f crds/`"
    )]
    CrdMissing { name: String },
    #[error(
        "the CRD {name} does not serve {version}: upgrade the CRDs from this release (`kubectl apply --server-side --force-conflicts -f crds/`)"
    )]
    CrdVersionMissing { name: String, version: String },
    #[error("the CRD {name} is not Established yet: check `kubectl describe crd {name}`")]
    CrdNotEstablished { name: String },
    #[error("reading CRD {name} from the API server: {source}")]
    Kube {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Checks that every CRD the operator needs is installed, Established and serves the version
/// this build uses, so a missing install step is reported once with a hint instead of as
/// watch errors forever.
pub async fn check_crds(
    client: &kube::Client,
    expected: &[CustomResourceDefinition],
) -> Result<(), StartupError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for want in expected {
        let name = want.metadata.name.clone().unwrap_or_default();
        let found = api
            .get_opt(&name)
            .await
            .map_err(|source| StartupError::Kube {
                name: name.clone(),
                source,
            })?
            .ok_or_else(|| StartupError::CrdMissing { name: name.clone() })?;
        for version in &want.spec.versions {
            if !found
                .spec
                .versions
                .iter()
                .any(|v| v.name == version.name && v.served)
            {
                return Err(StartupError::CrdVersionMissing {
                    name: name.clone(),
                    version: version.name.clone(),
                });
            }
        }
        let established = found
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if !established {
            return Err(StartupError::CrdNotEstablished { name });
        }
    }
    Ok(())
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log collectors).
    Json,
    /// Human-readable lines (for a terminal).
    Text,
}

/// Installs the global tracing subscriber. `filter` uses `RUST_LOG` syntax.
pub fn init_logging(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    }
    .map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}

/// Resolves when the process receives SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the operator");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

/// What `/readyz` reports: the CRDs were found and, on the leader, the controllers' caches are
/// synced. A standby replica is ready as soon as the CRDs are present.
#[derive(Debug, Default)]
pub struct Readiness {
    crds: std::sync::atomic::AtomicBool,
    leading: std::sync::atomic::AtomicBool,
    /// Controller caches that have synced.
    synced: std::sync::atomic::AtomicUsize,
}

/// Controllers whose caches must sync before the operator is ready (PhiStore, HipaaWorkspace,
/// AccessReview).
pub const CONTROLLER_CACHES: usize = 3;

impl Readiness {
    pub fn crds_present(&self) {
        self.crds.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn leading(&self) {
        self.leading
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn synced(&self) {
        self.synced
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.crds.load(SeqCst)
            && (!self.leading.load(SeqCst) || self.synced.load(SeqCst) >= CONTROLLER_CACHES)
    }
}

/// Serves `/healthz` and `/readyz` on `health`, and `/metrics` (rendered by `metrics`) on
/// `metrics_addr`, until `shutdown` resolves.
pub async fn serve(
    health: std::net::SocketAddr,
    metrics_addr: std::net::SocketAddr,
    readiness: std::sync::Arc<Readiness>,
    metrics: std::sync::Arc<dyn Fn() -> String + Send + Sync>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(std::net::SocketAddr, std::net::SocketAddr)> {
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::get;

    let health_router = Router::new()
        .route("/healthz", get(|| async { (StatusCode::OK, "ok") }))
        .route(
            "/readyz",
            get(move || {
                let readiness = readiness.clone();
                async move {
                    if readiness.is_ready() {
                        (StatusCode::OK, "ok")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
                    }
                }
            }),
        );
    let metrics_router = Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics(),
                )
            }
        }),
    );
    let health_listener = tokio::net::TcpListener::bind(health).await?;
    let metrics_listener = tokio::net::TcpListener::bind(metrics_addr).await?;
    let bound = (
        health_listener.local_addr()?,
        metrics_listener.local_addr()?,
    );
    for (listener, router) in [
        (health_listener, health_router),
        (metrics_listener, metrics_router),
    ] {
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let stop = async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
    }
    Ok(bound)
}

/// A held leader lease: the channel that reports whether this replica still holds it.
pub struct LeaseHeld {
    state: tokio::sync::watch::Receiver<bool>,
    _task: tokio::task::JoinHandle<kube_lease_manager::Result<kube_lease_manager::LeaseManager>>,
}

/// Waits until this replica holds the Lease `namespace/name` (renewed in the background).
pub async fn leader_lease(
    client: kube::Client,
    name: &str,
    namespace: &str,
    identity: &str,
) -> anyhow::Result<LeaseHeld> {
    let manager = kube_lease_manager::LeaseManagerBuilder::new(client, name)
        .with_namespace(namespace)
        .with_identity(identity)
        .with_duration(15)
        .with_grace(5)
        .build()
        .await?;
    let (mut state, task) = manager.watch().await;
    tracing::info!(lease = %format!("{namespace}/{name}"), identity, "waiting for the leader lease");
    state.wait_for(|held| *held).await?;
    tracing::info!(identity, "holding the leader lease");
    Ok(LeaseHeld { state, _task: task })
}

/// Resolves when the lease is lost (or its renewal task ends).
pub async fn watch_lease(mut held: LeaseHeld) {
    let _ = held.state.wait_for(|held| !*held).await;
}
