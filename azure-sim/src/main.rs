//! The `azure-sim` command: parse flags, start the simulator, print its endpoints, wait for Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "azure-sim",
    about = "Simulated Azure Resource Manager, Entra ID and Key Vault over HTTPS"
)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seed file (YAML or JSON) applied when there is no saved state.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Directory for state, CA and token-signing key; state survives restarts.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Directory for the CA when no state dir is given (default: a temporary directory).
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// Tenant id of the simulated directory.
    #[arg(long, default_value = azure_sim::DEFAULT_TENANT)]
    tenant_id: String,
    /// Put the listening port into vault URIs and key ids (https://{vault}.vault.azure.net:{port}).
    #[arg(long)]
    vault_uri_with_port: bool,
    /// Accept request bodies that do not conform to Azure's published models (unknown or
    /// readOnly properties, enum values outside the model, missing required properties). Off by
    /// default: tests always run strict; this is for exploring by hand.
    #[arg(long)]
    allow_nonconformant_requests: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let seed = match &args.seed {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => match azure_sim::seed::parse(&text) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("azure-sim: seed file {}: {e}", path.display());
                    return std::process::ExitCode::from(2);
                }
            },
            Err(e) => {
                eprintln!("azure-sim: reading seed file {}: {e}", path.display());
                return std::process::ExitCode::from(2);
            }
        },
    };
    let config = azure_sim::SimConfig {
        listen: args.listen,
        state_dir: args.state_dir,
        cert_dir: args.cert_dir,
        seed,
        tenant_id: args.tenant_id,
        vault_uri_with_port: args.vault_uri_with_port,
        conformance: if args.allow_nonconformant_requests {
            azure_sim::conformance::Strictness::Off
        } else {
            azure_sim::conformance::Strictness::Strict
        },
        ..azure_sim::SimConfig::default()
    };
    let sim = match azure_sim::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("azure-sim: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("ARM endpoint:        {}", sim.base_url);
    println!("Authority host:      {}", sim.base_url);
    println!("Tenant id:           {}", sim.tenant_id);
    println!(
        "Managed identity:    {}/metadata/identity/oauth2/token",
        sim.base_url
    );
    println!(
        "Key Vault:           https://{{vault}}.vault.azure.net:{} (route that host to {})",
        sim.addr.port(),
        sim.addr.ip()
    );
    println!("Admin API:           {}/_sim", sim.base_url);
    println!("CA certificate:      {}", sim.ca_path.display());
    wait_for_stop_signal().await;
    match sim.shutdown().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("azure-sim: saving state: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Ctrl-C, or SIGTERM from a supervisor (test harness, demo script, Kubernetes).
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                tokio::signal::ctrl_c().await.ok();
            }
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.ok();
    }
}
