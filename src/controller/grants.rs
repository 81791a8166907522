//! The grants as a reconcile meets them: the cache of AzureScopeGrants the operator keeps,
//! and the checks every pass makes against it before any Azure request.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector;
use kube::runtime::watcher::{self, watcher};

use super::context::Context;
use super::trust::{Permit, Refusal, first_claim, permit, store_in_scope};
use crate::api::common::condition::Failed;
use crate::api::{AzureScopeGrant, HipaaWorkspace, PhiStore};

/// The permit of `ws`, from the grants cache (and the namespace's labels when a grant selects
/// namespaces by label). Waits a little for the cache after a start.
pub async fn permit_of(ctx: &Context, ws: &HipaaWorkspace) -> Result<Permit, Refusal> {
    let unavailable = |why: String| Refusal {
        reason: Failed::GrantsUnavailable,
        message: format!(
            "the AzureScopeGrants could not be read ({why}); nothing was sent to Azure"
        ),
    };
    tokio::time::timeout(Duration::from_secs(10), ctx.grants.wait_until_ready())
        .await
        .map_err(|_| {
            unavailable(
                "the watch has not synced; check the operator's RBAC on azurescopegrants".into(),
            )
        })?
        .map_err(|e| unavailable(e.to_string()))?;
    let grants = ctx.grants.state();
    let labels = if grants.iter().any(|g| g.spec.namespace_selector.is_some()) {
        let namespaces: Api<Namespace> = Api::all(ctx.kube.clone());
        namespaces
            .get_opt(&ws.namespace().unwrap_or_default())
            .await
            .map_err(|e| unavailable(format!("namespace labels: {e}")))?
            .map(|n| n.labels().clone())
    } else {
        None
    };
    permit(ws, labels.as_ref(), &grants)
}

/// A store's checks before any Azure request: its workspace's permit, its resource inside the
/// workspace's scope and the grants, and no earlier store governing the same resource.
pub async fn check_store(
    ctx: &Context,
    store: &PhiStore,
    ws: &HipaaWorkspace,
) -> Result<Permit, Refusal> {
    let permit = permit_of(ctx, ws).await?;
    store_in_scope(store, ws, &permit)?;
    let all = ctx.stores.get().map(|c| c.state()).unwrap_or_default();
    if let Some(first) = first_claim(store, &all) {
        return Err(Refusal {
            reason: Failed::AlreadyGoverned,
            message: format!(
                "PhiStore {}/{} already governs {}; one resource has one governing store, so this one makes no Azure request (delete one of the two)",
                first.namespace().unwrap_or_default(),
                first.name_any(),
                store.spec.resource.id
            ),
        });
    }
    Ok(permit)
}

/// Keeps the grants cache ([`Context::grants`]) until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let Some(writer) = ctx.take_grants_writer() else {
        return;
    };
    let grants: Api<AzureScopeGrant> = Api::all(ctx.kube.clone());
    let stream = reflector::reflector(writer, watcher(grants, watcher::Config::default()))
        .default_backoff()
        .for_each(|event| async move {
            if let Err(e) = event {
                tracing::warn!(error = %e, "watching AzureScopeGrants");
            }
        });
    tokio::select! {
        () = stream => {}
        () = shutdown => {}
    }
}
