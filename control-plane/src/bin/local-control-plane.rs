//! Runs a local control plane until SIGINT or SIGTERM, for the demo and for poking at the CRDs
//! by hand: `local-control-plane --kubeconfig-out /tmp/kubeconfig`.

use std::path::PathBuf;
use std::time::Duration;

use control_plane::{ControlPlane, Options, Tools};

fn main() {
    let mut kubeconfig_out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--kubeconfig-out" => kubeconfig_out = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!(
                    "local-control-plane [--kubeconfig-out FILE]\n\nStarts etcd, kube-apiserver and kube-controller-manager (the versions pinned in\nscripts/versions.env) on loopback, writes a cluster-admin kubeconfig, and runs until\nSIGINT or SIGTERM, then stops them all."
                );
                return;
            }
            other => {
                eprintln!("unknown argument {other}; see --help");
                std::process::exit(2);
            }
        }
    }
    let plane = match Tools::locate().and_then(|tools| {
        ControlPlane::start(
            &tools,
            &Options {
                controller_manager: true,
                ready_timeout: Duration::from_secs(120),
            },
        )
    }) {
        Ok(plane) => plane,
        Err(e) => {
            eprintln!("local-control-plane: {e}");
            std::process::exit(1);
        }
    };
    let kubeconfig = match kubeconfig_out {
        Some(path) => match std::fs::copy(plane.kubeconfig_path(), &path) {
            Ok(_) => path,
            Err(e) => {
                eprintln!("local-control-plane: writing {}: {e}", path.display());
                std::process::exit(1);
            }
        },
        None => plane.kubeconfig_path().to_path_buf(),
    };
    println!("API server: {}", plane.server());
    println!("export KUBECONFIG={}", kubeconfig.display());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("local-control-plane: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {},
        }
    });
    println!("stopping the control plane");
    drop(plane);
}
