//! The kube-runtime plumbing the controllers share: lean caches, change-filtered watches,
//! cache-sync readiness, and reconciles contained against panics.

use std::time::Duration;

use super::status::{LAST_APPLIED, STATUS_WRITERS, foreign_status_writers};

/// Runs one reconcile and turns a panic into `panicked()`, so a bug met by one object is
/// retried with backoff instead of stopping the operator.
pub async fn contained<T, E>(
    reconcile: impl std::future::Future<Output = Result<T, E>>,
    panicked: impl FnOnce() -> E,
) -> Result<T, E> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(reconcile).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(panicked()),
    }
}

/// Marks `readiness` synced once `cache` has its first full list.
pub fn report_synced<K>(
    cache: kube::runtime::reflector::Store<K>,
    readiness: std::sync::Arc<crate::runtime::Readiness>,
    kind: &'static str,
) where
    K: kube::runtime::reflector::Lookup + Clone + Send + Sync + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone + Send + Sync,
{
    tokio::spawn(async move {
        // The store's readiness is a oneshot channel that wakes only its latest waiter, and the
        // controller waits on it too: poll with a timeout so this waiter re-registers and sees
        // the memoized value once the controller's wait has taken it.
        loop {
            match tokio::time::timeout(Duration::from_millis(500), cache.wait_until_ready()).await {
                Ok(Ok(())) => {
                    tracing::info!(kind, "cache synced");
                    readiness.synced();
                    break;
                }
                Ok(Err(e)) => {
                    tracing::warn!(kind, error = %e, "cache never synced");
                    break;
                }
                Err(_) => continue,
            }
        }
    });
}

/// A controller for `K` whose cache keeps each object without `metadata.managedFields` and
/// without kubectl's `last-applied-configuration` annotation: with server-side-applied status of
/// a few dozen controls, the managed fields are as large as the status itself, and no
/// controller reads either (passes read the object itself). `slim` drops whatever else of `K`
/// no reader of the cache needs. Memory then grows with the number of objects and the size of
/// what the controllers use.
pub fn lean_controller<K>(
    api: kube::Api<K>,
    manager: &'static str,
    slim: fn(&mut K),
) -> kube::runtime::Controller<K>
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Unpin,
{
    use kube::runtime::WatchStreamExt;
    let (reader, writer) = kube::runtime::reflector::store();
    let stream = kube::runtime::watcher(
        api,
        kube::runtime::watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .modify(move |o: &mut K| {
        let meta = o.meta_mut();
        // Who else wrote the status survives the trim, as a mark only the cache carries.
        let others = foreign_status_writers(meta, manager);
        if !others.is_empty() {
            meta.annotations
                .get_or_insert_with(Default::default)
                .insert(STATUS_WRITERS.into(), others.join(","));
        }
        meta.managed_fields = None;
        if let Some(annotations) = meta.annotations.as_mut() {
            annotations.remove(LAST_APPLIED);
        }
        slim(o);
    })
    .reflect(writer)
    .applied_objects();
    kube::runtime::Controller::for_stream(stream, reader)
}

/// A watch of `api` that passes an object on only when `signature` of it changes, and always
/// when it is deleted: for triggers that should not fire on changes their reconciles do not
/// read (another controller's status writes, for example). A restart passes every object on
/// once.
pub fn changes<K>(
    api: kube::Api<K>,
    signature: fn(&K) -> u64,
) -> impl futures::Stream<Item = Result<K, kube::runtime::watcher::Error>> + Send + 'static
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send,
{
    use futures::TryStreamExt;
    use kube::runtime::WatchStreamExt;
    use kube::runtime::watcher::Event;
    let seen: std::sync::Mutex<
        std::collections::HashMap<kube::runtime::reflector::ObjectRef<K>, u64>,
    > = std::sync::Mutex::default();
    kube::runtime::watcher(
        api,
        kube::runtime::watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .try_filter_map(move |event| {
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        let passed = match event {
            Event::Apply(o) | Event::InitApply(o) => {
                let key = kube::runtime::reflector::ObjectRef::from_obj(&o);
                let print = signature(&o);
                (seen.insert(key, print) != Some(print)).then_some(o)
            }
            Event::Delete(o) => {
                seen.remove(&kube::runtime::reflector::ObjectRef::from_obj(&o));
                Some(o)
            }
            Event::Init | Event::InitDone => None,
        };
        futures::future::ready(Ok(passed))
    })
}
