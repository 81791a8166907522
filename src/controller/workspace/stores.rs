//! The roll-up of a workspace's stores (`status.stores`): counted from the PhiStore
//! controller's cache by their `Ready` condition, and written alone on a store-triggered wake-up.

use std::sync::Arc;

use kube::ResourceExt;
use kube::api::Api;

use super::{MANAGER, ReconcileError};
use crate::api::common::condition::{READY, reason};
use crate::api::workspace::StoreCounts;
use crate::api::{HipaaWorkspace, PhiStore};
use crate::controller::context::Context;

/// Stores named in `status.stores.notReady`, at most.
const NOT_READY_LISTED: usize = 20;

/// The roll-up of the workspace's stores, from the PhiStore controller's cache (or a list
/// when that cache is not running).
pub(super) async fn store_counts(
    ctx: &Context,
    ws: &HipaaWorkspace,
) -> Result<StoreCounts, kube::Error> {
    let namespace = ws.namespace().unwrap_or_default();
    let name = ws.name_any();
    let stores: Vec<Arc<PhiStore>> = match ctx.stores.get() {
        Some(cache) => cache
            .state()
            .into_iter()
            .filter(|s| s.namespace().as_deref() == Some(&namespace))
            .filter(|s| s.spec.workspace_ref.name == name)
            .collect(),
        None => {
            let api: Api<PhiStore> = Api::namespaced(ctx.kube.clone(), &namespace);
            api.list(&Default::default())
                .await?
                .items
                .into_iter()
                .filter(|s| s.spec.workspace_ref.name == name)
                .map(Arc::new)
                .collect()
        }
    };
    Ok(count(&stores))
}

/// Counts stores by their `Ready` condition: ready, drifted (drift, remediation or conflict),
/// erroring (could not be evaluated); stores not yet evaluated are only in the total.
pub fn count(stores: &[Arc<PhiStore>]) -> StoreCounts {
    let mut counts = StoreCounts::default();
    let mut not_ready: Vec<String> = Vec::new();
    for store in stores {
        counts.total += 1;
        let ready = store.status.as_ref().and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == READY)
                .map(|c| (c.status.clone(), c.reason.clone()))
        });
        match ready {
            Some((status, _)) if status == "True" => counts.ready += 1,
            Some((_, why)) => {
                if [reason::DRIFTED, reason::REMEDIATING, reason::CONFLICT].contains(&why.as_str())
                {
                    counts.drifted += 1;
                } else {
                    counts.erroring += 1;
                }
                not_ready.push(format!("{} ({why})", store.name_any()));
            }
            None => not_ready.push(format!("{} (NotEvaluated)", store.name_any())),
        }
    }
    not_ready.sort();
    if not_ready.len() > NOT_READY_LISTED {
        let more = not_ready.len() - NOT_READY_LISTED;
        not_ready.truncate(NOT_READY_LISTED);
        not_ready.push(format!("and {more} more"));
    }
    counts.summary = format!("{}/{}", counts.ready, counts.total);
    counts.not_ready = not_ready;
    counts
}

/// A store-triggered wake-up: only the counts can have changed.
pub(super) async fn recount(
    ws: &HipaaWorkspace,
    ctx: &Context,
    counts: StoreCounts,
) -> Result<(), ReconcileError> {
    if ws.status.as_ref().and_then(|s| s.stores.as_ref()) == Some(&counts) {
        return Ok(());
    }
    // Only the counts: the rest of the status in this (cached) object may be older than what
    // the last evaluation wrote, and must not be written back.
    let api: Api<HipaaWorkspace> =
        Api::namespaced(ctx.kube.clone(), &ws.namespace().unwrap_or_default());
    api.patch_status(
        &ws.name_any(),
        &kube::api::PatchParams {
            field_manager: Some(MANAGER.to_string()),
            ..Default::default()
        },
        &kube::api::Patch::Merge(serde_json::json!({ "status": { "stores": counts } })),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(name: &str, ready: Option<(&str, &str)>) -> Arc<PhiStore> {
        let mut v = json!({
            "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "PhiStore",
            "metadata": {"name": name, "namespace": "n"},
            "spec": {"workspaceRef": {"name": "w"}, "resource": {"kind": "StorageAccount",
                "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a"}}
        });
        if let Some((status, why)) = ready {
            v["status"] = json!({"conditions": [{"type": "Ready", "status": status, "reason": why,
                "message": "", "lastTransitionTime": "2026-11-22T08:00:00Z"}]});
        }
        Arc::new(serde_json::from_value(v).expect("store"))
    }

    #[test]
    fn stores_are_counted_by_their_ready_condition() {
        let counts = count(&[
            store("a", Some(("True", "Compliant"))),
            store("b", Some(("False", "Drifted"))),
            store("c", Some(("False", "Conflict"))),
            store("d", Some(("False", "Forbidden"))),
            store("e", None),
        ]);
        assert_eq!(
            (counts.total, counts.ready, counts.drifted, counts.erroring),
            (5, 1, 2, 1)
        );
        assert_eq!(counts.summary, "1/5");
        assert_eq!(
            counts.not_ready,
            vec![
                "b (Drifted)",
                "c (Conflict)",
                "d (Forbidden)",
                "e (NotEvaluated)"
            ]
        );
    }

    #[test]
    fn long_not_ready_lists_are_cut() {
        let stores: Vec<_> = (0..30)
            .map(|i| store(&format!("s{i:02}"), Some(("False", "Drifted"))))
            .collect();
        let counts = count(&stores);
        assert_eq!(counts.not_ready.len(), NOT_READY_LISTED + 1);
        assert_eq!(
            counts.not_ready.last().map(String::as_str),
            Some("and 10 more")
        );
    }
}
