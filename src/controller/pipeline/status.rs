//! The status subresource: who else wrote it (from managed fields, or the cache's mark), and
//! clearing and writing it by server-side apply under the operator's field manager.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::controller::context::Context;

/// kubectl's client-side apply record: a copy of the whole object as last applied.
pub(super) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The mark the controllers' caches put on an object whose status someone else wrote (the
/// cache drops `managedFields`); never written to the API server.
pub const STATUS_WRITERS: &str = "hipaa-operator.io/status-written-by";

/// The field managers other than `ours` that own part of the object's status: a status the
/// operator did not write (`kubectl patch --subresource=status`, a tool that copies status
/// between clusters). Such a status is not evidence: the next pass evaluates afresh and writes
/// the whole status again.
pub fn foreign_status_writers(meta: &ObjectMeta, ours: &str) -> Vec<String> {
    let mut others: Vec<String> = meta
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .filter_map(|m| m.manager.clone())
        .filter(|m| m != ours)
        .collect();
    others.sort();
    others.dedup();
    others
}

/// [`foreign_status_writers`] of a full object, or the mark the cache left on a trimmed one.
pub fn status_written_by_others(meta: &ObjectMeta, ours: &str) -> Vec<String> {
    let mut others = foreign_status_writers(meta, ours);
    if let Some(mark) = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(STATUS_WRITERS))
    {
        others.extend(mark.split(',').map(str::to_string));
    }
    others.sort();
    others.dedup();
    others
}

/// Removes the whole status, under `manager`, so that no other manager owns any of it: the
/// status written next (by server-side apply) is the operator's alone. A merge of the new
/// status would leave another manager the fields it wrote with the same value.
pub async fn clear_status<K>(ctx: &Context, object: &K, manager: &str) -> Result<(), kube::Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), &object.namespace().unwrap_or_default());
    // A JSON merge patch's null removes the field.
    let patch = json!({ "status": null });
    api.patch_status(
        &object.name_any(),
        &PatchParams {
            field_manager: Some(manager.to_string()),
            ..PatchParams::default()
        },
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// Writes `status` by server-side apply under `manager`.
pub async fn patch_status<K>(
    ctx: &Context,
    object: &K,
    manager: &str,
    status: &impl Serialize,
) -> Result<(), kube::Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), &object.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &object.name_any(),
        &PatchParams::apply(manager).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}
