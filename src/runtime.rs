//! Process-level pieces of the operator: start-up checks, logging set-up and shutdown signals.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;

/// Why the operator cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "the CRD {name} is not installed: install the chart (helm install hipaa-operator charts/hipaa-operator) or run `kubectl apply -f crds/`"
    )]
    CrdMissing { name: String },
    #[error(
        "the CRD {name} does not serve {version}: upgrade the CRDs from this release (`kubectl apply --server-side -f crds/`)"
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
