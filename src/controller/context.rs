//! What every reconcile shares: the Kubernetes client, Azure access, the event recorder,
//! metrics, and the namespaces to watch.

use std::sync::Arc;

use kube::runtime::events::Reporter;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::azure_access::AzureAccess;
use crate::azure::Cloud;
use crate::metrics::Metrics;

/// The operator instance's name (for events) and how hard the controllers work: the
/// full-check interval and reconciles at once.
#[derive(Clone, Debug)]
pub struct Pacing {
    pub instance: String,
    pub full_check: std::time::Duration,
    pub concurrency: u16,
    /// How long after Azure records a role assignment the operator counts on it being in
    /// effect (before switching a vault to RBAC authorization).
    pub role_settle: std::time::Duration,
}

pub struct Context {
    pub kube: kube::Client,
    pub azure: Arc<AzureAccess>,
    /// Who publishes events. A recorder is made per event (see [`super::pipeline::publish`]).
    pub reporter: Reporter,
    pub metrics: Arc<Metrics>,
    /// Namespaces to act in; empty means all.
    pub namespaces: Vec<String>,
    pub readiness: Arc<crate::runtime::Readiness>,
    /// The PhiStore controller's cache, once it runs: the workspace controller counts stores
    /// from it instead of listing them.
    pub stores: std::sync::OnceLock<kube::runtime::reflector::Store<crate::api::PhiStore>>,
    /// The HipaaWorkspace controller's cache, once it runs.
    pub workspaces:
        std::sync::OnceLock<kube::runtime::reflector::Store<crate::api::HipaaWorkspace>>,
    /// When each workspace (`namespace/name`) is next due to be evaluated in Azure, and the
    /// generation it was last evaluated at: a workspace woken by a store change before then
    /// recounts its stores without reading Azure again.
    pub workspace_evaluations:
        std::sync::Mutex<std::collections::HashMap<String, (Option<i64>, std::time::Instant)>>,
    /// Batched drift detection: the stores' baselines and the Resource Graph sweeps' wake-ups.
    pub drift: super::drift::DriftWatch,
    /// Reconciles of one kind that may run at once.
    pub concurrency: u16,
    /// See [`Pacing::role_settle`].
    pub role_settle: std::time::Duration,
    /// The admins' AzureScopeGrants ([`super::trust`]), filled by [`super::trust::run`].
    pub grants: kube::runtime::reflector::Store<crate::api::AzureScopeGrant>,
    grants_writer: std::sync::Mutex<
        Option<kube::runtime::reflector::store::Writer<crate::api::AzureScopeGrant>>,
    >,
    cloud: Cloud,
}

impl Context {
    pub fn new(
        kube: kube::Client,
        azure: Arc<AzureAccess>,
        cloud: Cloud,
        metrics: Arc<Metrics>,
        namespaces: Vec<String>,
        readiness: Arc<crate::runtime::Readiness>,
        pacing: Pacing,
    ) -> Context {
        let (grants, grants_writer) = super::trust::grants_store();
        let reporter = Reporter {
            controller: "hipaa-operator".into(),
            instance: Some(pacing.instance.clone()),
        };
        Context {
            reporter,
            kube,
            azure,
            metrics,
            namespaces,
            readiness,
            stores: std::sync::OnceLock::new(),
            workspaces: std::sync::OnceLock::new(),
            workspace_evaluations: Default::default(),
            drift: super::drift::DriftWatch::new(pacing.full_check),
            concurrency: pacing.concurrency,
            role_settle: pacing.role_settle,
            grants,
            grants_writer: std::sync::Mutex::new(Some(grants_writer)),
            cloud,
        }
    }

    /// The writer of [`Context::grants`], once: for the task that watches the grants.
    pub fn take_grants_writer(
        &self,
    ) -> Option<kube::runtime::reflector::store::Writer<crate::api::AzureScopeGrant>> {
        self.grants_writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// The API of `K` in the one watched namespace, or in all namespaces (several watched
    /// namespaces are filtered by [`Context::acts_in`]).
    pub fn scoped_api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        match self.namespaces.as_slice() {
            [ns] => Api::namespaced(self.kube.clone(), ns),
            _ => Api::all(self.kube.clone()),
        }
    }

    /// Whether the operator acts on objects in `namespace`.
    pub fn acts_in(&self, namespace: &str) -> bool {
        self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace)
    }

    /// The Azure cloud the operator talks to.
    pub fn azure_cloud(&self) -> &Cloud {
        &self.cloud
    }
}

/// The states of every control of every PhiStore and HipaaWorkspace the controllers cache: the
/// source of the `hipaa_controls` gauge.
pub fn cached_controls(ctx: &Context) -> Vec<(String, crate::api::ControlState)> {
    let mut out = Vec::new();
    if let Some(stores) = ctx.stores.get() {
        for s in stores.state() {
            if let Some(status) = &s.status {
                out.extend(status.controls.iter().map(|c| (c.id.clone(), c.state)));
            }
        }
    }
    if let Some(workspaces) = ctx.workspaces.get() {
        for w in workspaces.state() {
            if let Some(status) = &w.status {
                out.extend(status.controls.iter().map(|c| (c.id.clone(), c.state)));
            }
        }
    }
    out
}
