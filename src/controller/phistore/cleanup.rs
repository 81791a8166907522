//! `deletionPolicy: Delete`: what the operator made for a store (its private endpoints and
//! diagnostic settings) is removed through the executor when the store goes; never the
//! resource, its data or its key.

use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::{FINALIZER, ReconcileError, kinds};
use crate::api::HipaaWorkspace;
use crate::api::common::Mode;
use crate::api::phistore::{PhiStore, ResourceKind};
use crate::controller::context::Context;
use crate::controller::execute::Executor;
use crate::controller::grants;
use crate::controller::intent::{self, Intent, WritePlan};
use crate::controller::pipeline::{self, Failure};

pub async fn remove_finalizer(store: &PhiStore, ctx: &Context) -> Result<(), kube::Error> {
    let api: Api<PhiStore> =
        Api::namespaced(ctx.kube.clone(), &store.namespace().unwrap_or_default());
    let finalizers: Vec<&String> = store
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .collect();
    let patch = json!({ "metadata": { "finalizers": finalizers, "resourceVersion": store.resource_version() } });
    api.patch(
        &store.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// `deletionPolicy: Delete`: removes the private endpoints and the diagnostic settings the
/// operator created. Never the account, its data or its key; "already gone" is success.
pub async fn cleanup(store: Arc<PhiStore>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    ctx.drift.forget(&ObjectRef::from_obj(&*store));
    let namespace = store.namespace().unwrap_or_default();
    let workspaces: Api<HipaaWorkspace> = Api::namespaced(ctx.kube.clone(), &namespace);
    let Some(ws) = workspaces.get_opt(&store.spec.workspace_ref.name).await? else {
        // Without the workspace there is no identity to clean up with: let the object go.
        tracing::warn!(store = %store.name_any(), "workspace gone; nothing can be cleaned up in Azure");
        return Ok(Action::await_change());
    };
    // Cleanup writes to Azure like any pass: only inside what a grant allows, and never for a
    // store that was not the resource's governing one (what it would delete is another's).
    let permit = match grants::check_store(&ctx, &store, &ws).await {
        Ok(permit) => permit,
        Err(refusal) => {
            pipeline::publish(
            &ctx,
            &store.object_ref(&()),
            EventType::Warning,
            "CleanupSkipped",
            "Delete",
            format!(
                "{}: {}; nothing was removed in Azure, and what the operator created for this store (private endpoints, diagnostic settings) stays",
                refusal.reason, refusal.message
            ),
        )
            .await;
            return Ok(Action::await_change());
        }
    };
    // Cleanup writes like a remediation: only where a grant allows Enforce. Without that, what
    // the operator made stays, and the store is let go.
    if !permit.allow_enforce {
        pipeline::publish(
            &ctx,
            &store.object_ref(&()),
            EventType::Warning,
            "CleanupSkipped",
            "Delete",
            format!(
                "no AzureScopeGrant of {} allows Enforce, so nothing was removed in Azure; what the operator created for this store (private endpoints, diagnostic settings) stays",
                permit.grants.join(", ")
            ),
        )
        .await;
        return Ok(Action::await_change());
    }
    let id = store.spec.resource.id.clone();
    // The workspace's own vault keeps what the workspace controller made for it.
    let shared = id.eq_ignore_ascii_case(&ws.spec.key_vault.resource_id);
    let (groups, diagnostics_on): (Vec<String>, Vec<String>) = match store.spec.resource.kind {
        ResourceKind::StorageAccount => (
            kinds::store_endpoint_groups(&store),
            kinds::diagnostic_services(&store)
                .iter()
                .map(|service| format!("{id}/{service}Services/default"))
                .collect(),
        ),
        ResourceKind::KeyVault if !shared => (vec!["vault".into()], vec![id.clone()]),
        ResourceKind::CosmosDbAccount => (kinds::store_endpoint_groups(&store), vec![id.clone()]),
        ResourceKind::SqlServer => (
            kinds::store_endpoint_groups(&store),
            vec![format!("{id}/databases/master")],
        ),
        // Services sit behind their workspace's endpoint: only the setting is theirs.
        ResourceKind::FhirService | ResourceKind::DicomService => (vec![], vec![id.clone()]),
        ResourceKind::HealthDataWorkspace => (kinds::store_endpoint_groups(&store), vec![]),
        _ => return Ok(Action::await_change()),
    };
    // Ids that cannot be built (an unparseable resource id) name no endpoint the operator made.
    let mut intents: Vec<Intent> = groups
        .iter()
        .filter_map(|group| intent::endpoint_id(&ws, &id, group).ok())
        .map(Intent::RemovePrivateEndpoint)
        .collect();
    intents.extend(
        diagnostics_on
            .into_iter()
            .map(Intent::RemoveDiagnosticSetting),
    );
    let plan = WritePlan {
        intents,
        remediates: vec![],
    };
    let result: Result<Option<String>, Failure> = async {
        let azure = ctx.azure.client_for(&ws, &permit).await?;
        let executed = Executor::new(Some(&azure), &ctx.kube, &permit, Mode::Enforce)
            .run(&plan)
            .await;
        match (executed.error, executed.running) {
            (Some(e), _) => Err(e.into()),
            // A delete Azure is still working on: the store keeps its finalizer until it ends.
            (None, Some(running)) => Ok(Some(running.resource)),
            (None, None) => Ok(None),
        }
    }
    .await;
    if let Ok(Some(resource)) = &result {
        let note =
            format!("Azure is still deleting {resource}; the store is released once it is gone");
        pipeline::publish(
            &ctx,
            &store.object_ref(&()),
            EventType::Normal,
            "CleanupWaiting",
            "Delete",
            note.clone(),
        )
        .await;
        return Err(ReconcileError::Finalizer(note));
    }
    match result {
        Ok(_) => {
            pipeline::publish(
                &ctx,
                &store.object_ref(&()),
                EventType::Normal,
                "CleanedUp",
                "Delete",
                "removed the private endpoint and diagnostic setting the operator created".into(),
            )
            .await;
            Ok(Action::await_change())
        }
        Err(f) => {
            pipeline::publish(
                &ctx,
                &store.object_ref(&()),
                EventType::Warning,
                "CleanupFailed",
                "Delete",
                f.message.clone(),
            )
            .await;
            Err(ReconcileError::Finalizer(f.message))
        }
    }
}
