//! The grants as a reconcile meets them: the cache of AzureScopeGrants the operator keeps,
//! the checks every pass makes against it before any Azure request, and each namespace's
//! [`NamespaceGrant`] (what the grants give it) for the chart's coverage admission policy.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector;
use kube::runtime::watcher::{self, watcher};

use super::context::Context;
use super::trust::{Permit, Refusal, first_claim, namespace_grants, permit, store_in_scope};
use crate::api::common::condition::Failed;
use crate::api::namespace_grant::{MAX_GRANTS, NAME};
use crate::api::{AzureScopeGrant, HipaaWorkspace, NamespaceGrant, NamespaceGrantSpec, PhiStore};

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

/// The field manager of the NamespaceGrants the operator writes.
pub const MANAGER: &str = "hipaa-operator-grants";

/// What a NamespaceGrant reconcile reads: the operator's context, the grants and the
/// NamespaceGrants as last written. The grants come from the same watch that triggers the
/// reconcile (a reflector updates its store before it passes the event on), so a pass never
/// reads grants older than the change that woke it.
struct Publisher {
    ctx: Arc<Context>,
    grants: reflector::Store<AzureScopeGrant>,
    published: reflector::Store<NamespaceGrant>,
    /// The HipaaWorkspaces and PhiStores, by metadata only: a namespace no grant covers keeps
    /// an empty NamespaceGrant while it holds any, so the coverage policy judges their spec
    /// changes too.
    workspaces: reflector::Store<PartialObjectMeta<HipaaWorkspace>>,
    stores: reflector::Store<PartialObjectMeta<PhiStore>>,
}

/// Why a NamespaceGrant could not be written.
#[derive(Debug, thiserror::Error)]
enum PublishError {
    #[error("the AzureScopeGrants or NamespaceGrants have not been listed yet")]
    GrantsNotSynced,
    #[error("writing the NamespaceGrant: {0}")]
    Kube(#[from] kube::Error),
    #[error("the reconcile panicked")]
    Panicked,
}

impl PublishError {
    /// The `category` label of `hipaa_reconcile_errors_total`.
    fn category(&self) -> &'static str {
        match self {
            PublishError::GrantsNotSynced => "not-synced",
            PublishError::Kube(_) => "kubernetes",
            PublishError::Panicked => "panic",
        }
    }
}

/// A cache of every `K` and the stream of its changes (deletions included) that fills it: the
/// cache is updated before a change is passed on, so a pass woken by one reads it.
fn reflected<K>(
    api: Api<K>,
) -> (
    reflector::Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (cache, writer) = reflector::store();
    let changes = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .touched_objects();
    (cache, changes)
}

/// Keeps, in every watched namespace a grant covers, the NamespaceGrant that lists those grants,
/// and none where no grant covers the namespace, until `shutdown` resolves. A grant added,
/// changed or revoked, a namespace relabelled, and a NamespaceGrant changed or deleted by
/// anyone else each bring the namespaces concerned back to what the grants say.
pub async fn publish(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    use kube::runtime::Controller;
    use kube::runtime::controller::Action;
    use kube::runtime::reflector::ObjectRef;

    let namespaces: Api<Namespace> = Api::all(ctx.kube.clone());
    let controller = Controller::new(namespaces, watcher::Config::default().any_semantic());
    let all = controller.store();
    let (published, written) = reflected(Api::<NamespaceGrant>::all(ctx.kube.clone()));
    let (grants, granted) = reflected(Api::<AzureScopeGrant>::all(ctx.kube.clone()));
    let (workspaces, workspace_changes) = reflected(Api::<PartialObjectMeta<HipaaWorkspace>>::all(
        ctx.kube.clone(),
    ));
    let (stores, store_changes) =
        reflected(Api::<PartialObjectMeta<PhiStore>>::all(ctx.kube.clone()));
    let publisher = Arc::new(Publisher {
        ctx,
        grants,
        published,
        workspaces,
        stores,
    });
    controller
        .watches_stream(workspace_changes, |ws| {
            Some(ObjectRef::<Namespace>::new(&ws.namespace()?))
        })
        .watches_stream(store_changes, |store| {
            Some(ObjectRef::<Namespace>::new(&store.namespace()?))
        })
        .watches_stream(granted, move |_grant| {
            all.state()
                .iter()
                .map(|ns| ObjectRef::from_obj(&**ns))
                .collect::<Vec<_>>()
        })
        .watches_stream(written, |grant| {
            Some(ObjectRef::<Namespace>::new(&grant.namespace()?))
        })
        .graceful_shutdown_on(shutdown)
        .run(
            |ns, publisher| async move {
                super::pipeline::contained(publish_one(ns, publisher), || PublishError::Panicked)
                    .await
            },
            |ns, error, publisher| {
                tracing::warn!(namespace = %ns.name_any(), %error, "NamespaceGrant not written");
                publisher
                    .ctx
                    .metrics
                    .reconcile_error("namespacegrant", error.category());
                Action::requeue(Duration::from_secs(30))
            },
            publisher,
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "NamespaceGrant loop");
            }
        })
        .await;
}

/// Whether `cache` has had its first full list, waiting at most 10 s. A store's readiness wakes
/// only its latest waiter, and reconciles of many namespaces wait at once: each waits in short
/// turns, so every one of them sees the memoized readiness.
async fn listed<K>(cache: &reflector::Store<K>) -> bool
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    for _ in 0..20 {
        match tokio::time::timeout(Duration::from_millis(500), cache.wait_until_ready()).await {
            Ok(result) => return result.is_ok(),
            Err(_) => continue,
        }
    }
    false
}

/// Brings `ns`'s NamespaceGrant to what the grants say; writes nothing when it already is.
async fn publish_one(
    ns: Arc<Namespace>,
    publisher: Arc<Publisher>,
) -> Result<kube::runtime::controller::Action, PublishError> {
    use kube::api::{DeleteParams, Patch, PatchParams};
    use kube::runtime::controller::Action;
    use kube::runtime::reflector::ObjectRef;

    let ctx = &publisher.ctx;
    let namespace = ns.name_any();
    if !ctx.acts_in(&namespace) || ns.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    // Every cache listed once: before that, a missing grant, NamespaceGrant, workspace or
    // store may only be unread yet.
    if !(listed(&publisher.grants).await
        && listed(&publisher.published).await
        && listed(&publisher.workspaces).await
        && listed(&publisher.stores).await)
    {
        return Err(PublishError::GrantsNotSynced);
    }
    let mut entries = namespace_grants(&namespace, ns.labels(), &publisher.grants.state());
    if entries.len() > MAX_GRANTS {
        // The API server would refuse the object: none (or an empty one, below), so the
        // coverage policy refuses the namespace's objects rather than judge them by grants no
        // longer current.
        tracing::error!(%namespace, grants = entries.len(), max = MAX_GRANTS, "more AzureScopeGrants cover the namespace than a NamespaceGrant lists; merge some: its workspaces and stores are refused at apply time until then");
        entries.clear();
    }
    // A namespace no grant covers (any more) that still holds workspaces or stores keeps an
    // empty NamespaceGrant: their spec changes are then refused at apply time too, in the
    // operator's words, while their metadata (finalizers) stays free to change.
    let here = Some(namespace.as_str());
    let holds_objects = publisher
        .workspaces
        .state()
        .iter()
        .any(|w| w.metadata.namespace.as_deref() == here)
        || publisher
            .stores
            .state()
            .iter()
            .any(|s| s.metadata.namespace.as_deref() == here);
    let keep_empty = entries.is_empty() && holds_objects;
    let current = publisher
        .published
        .get(&ObjectRef::new(NAME).within(&namespace));
    let api: Api<NamespaceGrant> = Api::namespaced(ctx.kube.clone(), &namespace);
    match current {
        Some(c) if entries.is_empty() && !keep_empty => {
            if c.metadata.deletion_timestamp.is_none() {
                match api.delete(NAME, &DeleteParams::default()).await {
                    Ok(_) => {
                        tracing::info!(%namespace, "no grant covers the namespace any more; NamespaceGrant deleted")
                    }
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        None if entries.is_empty() && !keep_empty => {}
        Some(c) if c.spec.grants == entries && c.metadata.deletion_timestamp.is_none() => {}
        _ => {
            let mut grant = NamespaceGrant::new(NAME, NamespaceGrantSpec { grants: entries });
            grant.metadata.labels = Some(
                [(
                    "app.kubernetes.io/managed-by".to_string(),
                    "hipaa-operator".to_string(),
                )]
                .into(),
            );
            api.patch(
                NAME,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&grant),
            )
            .await?;
            tracing::info!(%namespace, grants = ?grant.spec.grants.iter().map(|g| &g.name).collect::<Vec<_>>(), "NamespaceGrant written");
        }
    }
    Ok(Action::await_change())
}
