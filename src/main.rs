//! The operator binary: parses configuration, checks the cluster, serves health and metrics,
//! waits for the lease, runs the controllers until SIGTERM.

use std::sync::Arc;

use clap::Parser;
use hipaa_operator::config::Args;
use hipaa_operator::controller::azure_access::AzureAccess;
use hipaa_operator::controller::{Context, context, grants, phistore, review, sweep, workspace};
use hipaa_operator::metrics::Metrics;
use hipaa_operator::{api, runtime};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(hipaa_operator::config::Command::AzureRole { scopes, name }) = &args.command {
        let role = hipaa_operator::azure::permissions::role_definition(name, scopes);
        println!("{}", serde_json::to_string_pretty(&role)?);
        return Ok(());
    }
    runtime::init_logging(&args.log, args.log_format)?;
    let cloud = args.cloud()?;
    let identity = args.identity()?;
    let client = kube::Client::try_default().await?;

    let readiness = Arc::new(runtime::Readiness::default());
    let metrics = Arc::new(Metrics::default());
    let access = Arc::new(
        AzureAccess::new(
            client.clone(),
            cloud.clone(),
            args.client_settings(),
            identity,
        )?
        .with_secret_namespaces(args.secret_namespaces_allowed.clone())
        .with_workspace_service_account(args.workspace_service_account.clone()),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let render = {
        let metrics = metrics.clone();
        let access = access.clone();
        Arc::new(move || metrics.render(&access.clients())) as Arc<dyn Fn() -> String + Send + Sync>
    };
    let (health, scrape) = runtime::serve(
        args.health_bind_address,
        args.metrics_bind_address,
        readiness.clone(),
        render,
        stop_rx.clone(),
    )
    .await?;
    tracing::info!(%health, metrics = %scrape, cloud = %cloud.name, "serving health and metrics");

    let crds: Vec<_> = api::crds().into_iter().map(|(_, crd)| crd).collect();
    if let Err(e) = runtime::check_crds(&client, &crds).await {
        tracing::error!(error = %e, "cannot start");
        return Err(e.into());
    }
    readiness.crds_present();

    let instance = args
        .pod_name
        .clone()
        .unwrap_or_else(|| format!("hipaa-operator-{}", std::process::id()));
    // Signals end the process at any stage; losing the lease ends it too (a replica that is no
    // longer the leader must stop writing at once, and a restart puts it back in line).
    let signal_tx = stop_tx.clone();
    tokio::spawn(async move {
        runtime::shutdown_signal().await;
        tracing::info!("shutdown signal received");
        let _ = signal_tx.send(true);
    });
    if args.leader_elect {
        let lease = runtime::leader_lease(
            client.clone(),
            &args.lease_name,
            &args.lease_namespace,
            &instance,
        );
        let won = tokio::select! {
            won = lease => won?,
            _ = wait(stop_rx.clone()) => return Ok(()),
        };
        readiness.leading();
        let lost_tx = stop_tx.clone();
        tokio::spawn(async move {
            runtime::watch_lease(won).await;
            tracing::error!("lost the leader lease; stopping");
            let _ = lost_tx.send(true);
        });
    }

    tracing::info!("starting controllers");
    let namespaces = args.namespaces();
    let ctx = Arc::new(Context::new(
        client,
        access,
        cloud,
        metrics,
        namespaces,
        readiness.clone(),
        context::Pacing {
            instance,
            full_check: args.full_check_interval,
            concurrency: args.max_concurrent_reconciles,
            role_settle: args.role_assignment_settle,
        },
    ));
    {
        let ctx = ctx.clone();
        ctx.metrics
            .clone()
            .set_control_source(Box::new(move || context::cached_controls(&ctx)));
    }
    // The grants' watch outlives the controllers: a reconcile still in flight when the signal
    // comes asks for its workspace's permit, which waits for that watch to sync. Stopped with
    // them, a signal during start-up left such a reconcile waiting out its timeout while the
    // process did not exit.
    let (drained_tx, drained_rx) = tokio::sync::watch::channel(false);
    tokio::join!(
        async {
            tokio::join!(
                phistore::run(ctx.clone(), wait(stop_rx.clone())),
                workspace::run(ctx.clone(), wait(stop_rx.clone())),
                review::run(ctx.clone(), wait(stop_rx.clone())),
                grants::publish(ctx.clone(), wait(stop_rx.clone())),
                sweep::run(ctx.clone(), wait(stop_rx.clone())),
            );
            let _ = drained_tx.send(true);
        },
        grants::run(ctx.clone(), wait(drained_rx)),
    );
    tracing::info!("controllers stopped");
    Ok(())
}

async fn wait(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
