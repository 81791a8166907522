//! The operator binary: parses configuration, checks the cluster, runs until told to stop.

use clap::Parser;
use hipaa_operator::{api, runtime};

/// Keeps Azure resources holding PHI configured as the HIPAA Security Rule expects, and reports
/// every control in the status of HipaaWorkspace, PhiStore and AccessReview objects.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Log filter in RUST_LOG syntax, e.g. `info` or `hipaa_operator=debug,kube=info`.
    #[arg(long, env = "HIPAA_LOG", default_value = "info")]
    log: String,
    /// Log format.
    #[arg(long, env = "HIPAA_LOG_FORMAT", value_enum, default_value = "json")]
    log_format: runtime::LogFormat,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    runtime::init_logging(&args.log, args.log_format)?;
    let client = kube::Client::try_default().await?;
    let crds: Vec<_> = api::crds().into_iter().map(|(_, crd)| crd).collect();
    if let Err(e) = runtime::check_crds(&client, &crds).await {
        tracing::error!(error = %e, "cannot start");
        return Err(e.into());
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        "CRDs present; waiting for a shutdown signal"
    );
    runtime::shutdown_signal().await;
    tracing::info!("shutting down");
    Ok(())
}
