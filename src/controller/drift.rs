//! Batched drift detection. A PhiStore pass that read its resource and settled leaves a
//! baseline: the fingerprint of the resource's envelope as the GET returned it. Every drift
//! interval, Resource Graph queries read the same envelopes for all the workspace's stores (by
//! resource group and type where many stores share them, else 200 ids a query, paged);
//! a store whose row differs from its baseline (or is missing) is re-reconciled at once, and that
//! pass confirms the drift with its own GETs before it writes anything (Resource Graph lags ARM).
//! Everything else a pass reads (child resources such as blob services and diagnostic settings,
//! keys, role assignments), which Resource Graph does not carry, is re-read by a full pass every
//! `--full-check-interval`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures::{Stream, StreamExt};
use kube::runtime::reflector::ObjectRef;
use serde_json::Value;

use crate::api::phistore::{PhiStore, ResourceKind};

use crate::azure::graph;
use crate::azure::resources::ArmResource;
use crate::azure::storage::StorageAccount;

/// What a settled pass saw of one store's resource.
#[derive(Clone, Debug)]
struct Baseline {
    workspace: String,
    resource_id: String,
    kind: ResourceKind,
    /// The fingerprint of the envelope the last GET returned.
    print: u64,
    /// A Resource Graph fingerprint that stands for the same envelope: one that differed from
    /// the GET's in two sweeps in a row while GETs showed no change (Resource Graph can shape a
    /// resource differently from the api-version the operator reads it with).
    alias: Option<u64>,
    /// A differing Resource Graph fingerprint and how many sweeps in a row have seen it.
    suspect: Option<(u64, u32)>,
    /// What else the pass depended on (see [`Settled::inputs`]).
    inputs: u64,
    /// The store's status as the pass left it (see [`Settled::status`]).
    status: u64,
    /// When the next full pass is due.
    due: Instant,
    /// A sweep woke the store and no pass has settled since.
    woken: bool,
}

/// What a settled pass leaves for batched drift detection.
#[derive(Clone, Debug)]
pub struct Settled {
    /// The workspace key ([`workspace_key`]).
    pub workspace: String,
    pub resource_id: String,
    pub kind: ResourceKind,
    /// The fingerprint of the resource's envelope as the pass read it.
    pub print: u64,
    /// A fingerprint of everything else the pass's outcome depended on in Kubernetes (the
    /// store's spec and review request, the workspace's spec and vault controls, the mode, the
    /// store's review cycles): a reconcile with the same inputs and no sweep wake-up before
    /// `due` has nothing new to read.
    pub inputs: u64,
    /// A fingerprint of the store's status as the pass wrote it: a status someone else wrote
    /// differs, and the next reconcile is then a full pass that writes it back.
    pub status: u64,
    /// When the next full pass is due.
    pub due: Instant,
}

/// The baselines, the sweep schedule per workspace, and the channel that wakes stores.
pub struct DriftWatch {
    full_check: Duration,
    baselines: Mutex<HashMap<ObjectRef<PhiStore>, Baseline>>,
    due: Mutex<HashMap<String, Instant>>,
    trigger: UnboundedSender<ObjectRef<PhiStore>>,
    receiver: Mutex<Option<UnboundedReceiver<ObjectRef<PhiStore>>>>,
    /// Stores whose last pass failed: not before this instant, unless what the pass read in
    /// Kubernetes changes (the store's or its workspace's spec). Their own status write, a
    /// review cycle or a sweep does not cut the wait short.
    holds: Mutex<HashMap<ObjectRef<PhiStore>, (Instant, u64)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The key of a workspace: `namespace/name`.
pub fn workspace_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

impl DriftWatch {
    pub fn new(full_check: Duration) -> DriftWatch {
        let (trigger, receiver) = unbounded();
        DriftWatch {
            full_check,
            baselines: Mutex::default(),
            due: Mutex::default(),
            trigger,
            receiver: Mutex::new(Some(receiver)),
            holds: Mutex::default(),
        }
    }

    /// After a failed pass: no new pass for `wait` (the later of Azure's `Retry-After` and the
    /// failure's backoff) while the `specs` it read (a fingerprint) stay the same.
    pub fn hold(&self, store: ObjectRef<PhiStore>, specs: u64, wait: Duration) {
        lock(&self.holds).insert(store, (Instant::now() + wait, specs));
    }

    /// How long the store still waits after a failed pass, if it does: the specs are unchanged
    /// and the wait is not over.
    pub fn held(&self, store: &ObjectRef<PhiStore>, specs: u64, now: Instant) -> Option<Duration> {
        let mut holds = lock(&self.holds);
        match holds.get(store) {
            Some((until, g)) if *g == specs && now < *until => Some(*until - now),
            Some(_) => {
                holds.remove(store);
                None
            }
            None => None,
        }
    }

    /// How often a store is read in full when nothing changes.
    pub fn full_check(&self) -> Duration {
        self.full_check
    }

    /// Whether stores checked every `interval` are watched through Resource Graph between full
    /// passes (when the full-check interval is not longer, every check is a full pass).
    pub fn batched(&self, interval: Duration) -> bool {
        interval < self.full_check
    }

    /// The stores to reconcile because a sweep saw them change; once (the controller takes it).
    pub fn wakes(&self) -> impl Stream<Item = ObjectRef<PhiStore>> + Send + 'static {
        match lock(&self.receiver).take() {
            Some(r) => r.left_stream(),
            None => futures::stream::empty().right_stream(),
        }
    }

    /// A pass read the store's resource and settled.
    pub fn settled(&self, store: ObjectRef<PhiStore>, seen: Settled) {
        let resource_id = seen.resource_id.to_ascii_lowercase();
        let mut baselines = lock(&self.baselines);
        match baselines.get_mut(&store) {
            Some(b) if b.resource_id == resource_id && b.kind == seen.kind => {
                if b.print == seen.print {
                    // Unchanged in ARM: a Resource Graph view seen twice in a row is its shape.
                    if let Some((p, n)) = b.suspect
                        && n >= 2
                    {
                        b.alias = Some(p);
                        b.suspect = None;
                    }
                } else {
                    b.print = seen.print;
                    b.alias = None;
                    b.suspect = None;
                }
                b.workspace = seen.workspace;
                b.inputs = seen.inputs;
                b.status = seen.status;
                b.due = seen.due;
                b.woken = false;
            }
            _ => {
                baselines.insert(
                    store,
                    Baseline {
                        workspace: seen.workspace,
                        resource_id,
                        kind: seen.kind,
                        print: seen.print,
                        alias: None,
                        suspect: None,
                        inputs: seen.inputs,
                        status: seen.status,
                        due: seen.due,
                        woken: false,
                    },
                );
            }
        }
    }

    /// How long until the store's next full pass, when a reconcile now has nothing new to read:
    /// its last pass settled with the same `inputs`, no sweep has woken it since, and its full
    /// pass is not due. A store's own status write, its review cycles' status, a workspace's
    /// status: none of these changes what a pass would find.
    pub fn quiet(
        &self,
        store: &ObjectRef<PhiStore>,
        inputs: u64,
        status: u64,
        now: Instant,
    ) -> Option<Duration> {
        let baselines = lock(&self.baselines);
        let b = baselines.get(store)?;
        (!b.woken && b.inputs == inputs && b.status == status && now < b.due).then(|| b.due - now)
    }

    /// The store is gone, or its last pass did not settle: sweeps leave it alone.
    pub fn forget(&self, store: &ObjectRef<PhiStore>) {
        lock(&self.baselines).remove(store);
    }

    /// Keeps the baselines of the stores `keep` says still exist.
    pub fn retain(&self, keep: impl Fn(&ObjectRef<PhiStore>) -> bool) {
        lock(&self.baselines).retain(|store, _| keep(store));
    }

    /// Whether the store has a baseline in this process.
    pub fn knows(&self, store: &ObjectRef<PhiStore>) -> bool {
        lock(&self.baselines).contains_key(store)
    }

    /// How many stores have a baseline.
    pub fn watched(&self) -> usize {
        lock(&self.baselines).len()
    }

    pub fn targets(&self, workspace: &str) -> Vec<(ObjectRef<PhiStore>, String, ResourceKind)> {
        lock(&self.baselines)
            .iter()
            .filter(|(_, b)| b.workspace == workspace)
            .map(|(s, b)| (s.clone(), b.resource_id.clone(), b.kind))
            .collect()
    }

    /// The stores of `workspace` whose Resource Graph row (by lower-case id, as [`row_prints`]
    /// reads it) is missing or differs from the baseline.
    pub fn compare(
        &self,
        workspace: &str,
        rows: &HashMap<String, RowPrints>,
    ) -> Vec<ObjectRef<PhiStore>> {
        let mut changed = Vec::new();
        for (store, b) in lock(&self.baselines).iter_mut() {
            if b.workspace != workspace {
                continue;
            }
            let seen = rows.get(&b.resource_id).and_then(|p| p[model(b.kind)]);
            match seen {
                Some(p) if p == b.print || Some(p) == b.alias => b.suspect = None,
                Some(p) => {
                    b.suspect = match b.suspect {
                        Some((q, n)) if q == p => Some((p, n + 1)),
                        _ => Some((p, 1)),
                    };
                    changed.push(store.clone());
                }
                None => changed.push(store.clone()),
            }
        }
        changed
    }

    /// Whether `workspace` is due a sweep now; the first time, a random point within the
    /// interval, so a restarted operator does not sweep every workspace at once.
    pub fn due(&self, workspace: &str, interval: Duration, now: Instant) -> bool {
        let mut due = lock(&self.due);
        let next = due
            .entry(workspace.to_string())
            .or_insert_with(|| now + interval.mul_f64(rand::random::<f64>()));
        if now < *next {
            return false;
        }
        *next = now + interval.mul_f64(0.9 + 0.2 * rand::random::<f64>());
        true
    }

    pub fn wake(&self, stores: impl IntoIterator<Item = ObjectRef<PhiStore>>) {
        let mut baselines = lock(&self.baselines);
        for s in stores {
            if let Some(b) = baselines.get_mut(&s) {
                b.woken = true;
            }
            let _ = self.trigger.unbounded_send(s);
        }
    }
}

/// The fingerprint of a storage account as a pass read it.
pub fn storage_print(account: &StorageAccount) -> u64 {
    graph::fingerprint(account)
}

/// The fingerprint of any other governed resource as a pass read it.
pub fn resource_print(resource: &ArmResource) -> u64 {
    graph::fingerprint(resource)
}

/// A Resource Graph row's fingerprints through the typed models drift detection reads
/// resources with: `[storage account, generic ARM envelope]` ([`model`]); `None` for a model no
/// store of the resource uses, or when the row does not read as it.
pub type RowPrints = [Option<u64>; 2];

/// Which of [`RowPrints`] a store of `kind` compares with.
pub fn model(kind: ResourceKind) -> usize {
    usize::from(kind != ResourceKind::StorageAccount)
}

/// Reads `row` through the models `wanted` names (by [`model`]). A sweep keeps only these
/// fingerprints, not the rows: a page of rows at a time is all it holds.
pub fn row_prints(row: Value, wanted: [bool; 2]) -> RowPrints {
    match wanted {
        [true, true] => [
            graph::row_fingerprint::<StorageAccount>(row.clone()),
            graph::row_fingerprint::<ArmResource>(row),
        ],
        [true, false] => [graph::row_fingerprint::<StorageAccount>(row), None],
        [false, true] => [None, graph::row_fingerprint::<ArmResource>(row)],
        [false, false] => [None, None],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(name: &str) -> ObjectRef<PhiStore> {
        ObjectRef::new(name).within("ns")
    }

    fn account(tls: &str) -> Value {
        json!({"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st",
               "name": "st", "location": "eastus", "properties": {"minimumTlsVersion": tls}})
    }

    fn print(tls: &str) -> u64 {
        storage_print(&serde_json::from_value(account(tls)).unwrap())
    }

    fn seen(tls: &str) -> Settled {
        Settled {
            workspace: "ns/ws".into(),
            resource_id: account(tls)["id"].as_str().unwrap().to_string(),
            kind: ResourceKind::StorageAccount,
            print: print(tls),
            inputs: 7,
            status: 1,
            due: Instant::now() + Duration::from_secs(3600),
        }
    }

    fn rows(row: Value) -> HashMap<String, RowPrints> {
        let id = row["id"].as_str().unwrap().to_ascii_lowercase();
        HashMap::from([(id, row_prints(row, [true, false]))])
    }

    #[test]
    fn a_row_is_read_through_the_models_its_stores_use() {
        let row = account("TLS1_2");
        let storage = graph::row_fingerprint::<StorageAccount>(row.clone());
        let generic = graph::row_fingerprint::<ArmResource>(row.clone());
        assert!(storage.is_some() && generic.is_some());
        assert_eq!(row_prints(row.clone(), [true, true]), [storage, generic]);
        assert_eq!(row_prints(row.clone(), [false, true]), [None, generic]);
        assert_eq!(row_prints(row, [false, false]), [None, None]);
        assert_eq!(model(ResourceKind::StorageAccount), 0);
        assert_eq!(model(ResourceKind::KeyVault), 1);
    }

    #[test]
    fn unchanged_rows_wake_nothing_and_a_drifted_or_missing_one_wakes_its_store() {
        let w = DriftWatch::new(Duration::from_secs(86_400));
        w.settled(store("a"), seen("TLS1_2"));
        assert!(w.compare("ns/ws", &rows(account("TLS1_2"))).is_empty());
        assert!(w.compare("ns/other", &rows(account("TLS1_0"))).is_empty());
        assert_eq!(
            w.compare("ns/ws", &rows(account("TLS1_0"))),
            vec![store("a")]
        );
        assert_eq!(w.compare("ns/ws", &HashMap::new()), vec![store("a")]);
        w.forget(&store("a"));
        assert!(w.compare("ns/ws", &rows(account("TLS1_0"))).is_empty());
        w.settled(store("b"), seen("TLS1_2"));
        w.retain(|s| s.name != "b");
        assert_eq!(w.watched(), 0, "a deleted store's baseline is dropped");
    }

    #[test]
    fn a_graph_shape_seen_twice_while_arm_is_unchanged_becomes_an_alias_and_real_drift_clears_it() {
        let w = DriftWatch::new(Duration::from_secs(86_400));
        let settle = |tls: &str| w.settled(store("a"), seen(tls));
        settle("TLS1_2");
        let mut shaped = account("TLS1_2");
        shaped["properties"]["extra"] = json!("shown only by Resource Graph");
        shaped["properties"]["minimumTlsVersion"] = json!("TLS1_2");
        // The typed model ignores fields the evaluator does not read.
        assert!(w.compare("ns/ws", &rows(shaped)).is_empty());
        // A lagging view: woken, the GET shows no change; once is not enough for an alias.
        assert_eq!(w.compare("ns/ws", &rows(account("TLS1_1"))).len(), 1);
        settle("TLS1_2");
        assert!(w.compare("ns/ws", &rows(account("TLS1_2"))).is_empty());
        // The same differing view twice in a row with ARM unchanged: an alias.
        assert_eq!(w.compare("ns/ws", &rows(account("TLS1_1"))).len(), 1);
        assert_eq!(w.compare("ns/ws", &rows(account("TLS1_1"))).len(), 1);
        settle("TLS1_2");
        assert!(w.compare("ns/ws", &rows(account("TLS1_1"))).is_empty());
        // A change in ARM drops it.
        settle("TLS1_0");
        assert_eq!(w.compare("ns/ws", &rows(account("TLS1_1"))).len(), 1);
    }

    #[test]
    fn a_reconcile_is_quiet_only_with_the_same_inputs_no_wake_up_and_the_full_pass_not_due() {
        let w = DriftWatch::new(Duration::from_secs(86_400));
        let now = Instant::now();
        assert_eq!(w.quiet(&store("a"), 7, 1, now), None, "unknown store");
        w.settled(store("a"), seen("TLS1_2"));
        let left = w.quiet(&store("a"), 7, 1, now).expect("quiet");
        assert!(left > Duration::from_secs(3500) && left <= Duration::from_secs(3601));
        assert_eq!(w.quiet(&store("a"), 8, 1, now), None, "inputs changed");
        assert_eq!(
            w.quiet(&store("a"), 7, 2, now),
            None,
            "a status the operator did not write"
        );
        assert_eq!(
            w.quiet(&store("a"), 7, 1, now + Duration::from_secs(3602)),
            None,
            "full pass due"
        );
        w.wake([store("a")]);
        assert_eq!(w.quiet(&store("a"), 7, 1, now), None, "woken by a sweep");
        w.settled(store("a"), seen("TLS1_2"));
        assert!(
            w.quiet(&store("a"), 7, 1, now).is_some(),
            "a settled pass clears the wake-up"
        );
        w.forget(&store("a"));
        assert_eq!(w.quiet(&store("a"), 7, 1, now), None, "forgotten");
    }

    #[test]
    fn a_failed_pass_holds_the_store_until_the_wait_is_over_or_the_spec_changes() {
        let w = DriftWatch::new(Duration::from_secs(86_400));
        let now = Instant::now();
        assert_eq!(w.held(&store("a"), 1, now), None);
        w.hold(store("a"), 1, Duration::from_secs(20));
        let left = w.held(&store("a"), 1, now).expect("held");
        assert!(left > Duration::from_secs(18) && left <= Duration::from_secs(21));
        assert_eq!(
            w.held(&store("a"), 1, now + Duration::from_secs(21)),
            None,
            "the wait is over"
        );
        w.hold(store("a"), 1, Duration::from_secs(20));
        assert_eq!(w.held(&store("a"), 2, now), None, "a spec changed");
        assert_eq!(w.held(&store("a"), 1, now), None, "released for good");
    }

    #[test]
    fn sweeps_start_at_a_random_point_and_then_keep_the_interval() {
        let w = DriftWatch::new(Duration::from_secs(86_400));
        let t0 = Instant::now();
        let interval = Duration::from_secs(100);
        let first = (0..=100)
            .map(|s| t0 + Duration::from_secs(s))
            .find(|t| w.due("ns/ws", interval, *t))
            .expect("due within one interval");
        assert!(!w.due("ns/ws", interval, first + Duration::from_secs(89)));
        assert!(w.due("ns/ws", interval, first + Duration::from_secs(111)));
        assert!(w.batched(Duration::from_secs(3600)));
        assert!(!w.batched(Duration::from_secs(86_400)));
    }
}
