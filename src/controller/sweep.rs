//! The Resource Graph sweep: every drift interval, each workspace's settled stores are read
//! in batches ([`super::drift`] keeps their baselines), and the stores whose resource changed
//! are woken for a pass.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::context::Context;
use super::drift::{RowPrints, model, row_prints, workspace_key};
use crate::api::{HipaaWorkspace, duration};
use kube::ResourceExt;

/// Sweeps each workspace's stores through Resource Graph once per drift interval, until
/// `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: impl std::future::Future<Output = ()> + Send) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let Some(cache) = ctx.workspaces.get() else {
            continue;
        };
        let now = Instant::now();
        for ws in cache.state() {
            let namespace = ws.namespace().unwrap_or_default();
            if !ctx.acts_in(&namespace) {
                continue;
            }
            let interval =
                duration::parse(&ws.spec.drift_check_interval).unwrap_or(Duration::from_secs(3600));
            if !ctx.drift.batched(interval) {
                continue;
            }
            let key = workspace_key(&namespace, &ws.name_any());
            if ctx.drift.due(&key, interval, now) {
                sweep(&ctx, &ws, &key).await;
            }
        }
    }
}

async fn sweep(ctx: &Context, ws: &HipaaWorkspace, key: &str) {
    // A store deleted without a finalizer is never reconciled again: drop its baseline here.
    if let Some(cache) = ctx.stores.get() {
        ctx.drift.retain(|store| cache.get(store).is_some());
    }
    let targets = ctx.drift.targets(key);
    if targets.is_empty() {
        return;
    }
    let mut wanted: HashMap<String, [bool; 2]> = HashMap::new();
    for (_, id, kind) in &targets {
        wanted.entry(id.clone()).or_default()[model(*kind)] = true;
    }
    let mut ids: Vec<String> = wanted.keys().cloned().collect();
    ids.sort_unstable();
    let mut rows: HashMap<String, RowPrints> = HashMap::with_capacity(ids.len());
    // No sweep for a workspace no grant covers any more: its stores are woken, and their own
    // reconciles refuse them and drop their baselines.
    let permit = match super::grants::permit_of(ctx, ws).await {
        Ok(permit) => permit,
        Err(refusal) => {
            tracing::info!(
                workspace = key,
                reason = refusal.reason.as_str(),
                "no sweep: {}",
                refusal.message
            );
            ctx.drift.wake(targets.into_iter().map(|(s, _, _)| s));
            return;
        }
    };
    let read = match ctx.azure.client_for(ws, &permit).await {
        Ok(client) => client
            .envelopes(&ids, |row| {
                let Some(id) = row["id"].as_str().map(str::to_ascii_lowercase) else {
                    return;
                };
                if let Some(models) = wanted.get(&id) {
                    let prints = row_prints(row, *models);
                    rows.insert(id, prints);
                }
            })
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match read {
        Ok(()) => {
            let changed = ctx.drift.compare(key, &rows);
            tracing::debug!(
                workspace = key,
                stores = targets.len(),
                changed = changed.len(),
                "drift sweep"
            );
            ctx.metrics.drift_sweep(true, targets.len(), changed.len());
            ctx.drift.wake(changed);
        }
        Err(error) => {
            // Without Resource Graph, every store is read the direct way.
            tracing::warn!(workspace = key, %error, "Resource Graph sweep failed; re-reading each store");
            ctx.metrics.drift_sweep(false, targets.len(), targets.len());
            ctx.drift.wake(targets.into_iter().map(|(s, _, _)| s));
        }
    }
}
