//! What every reconcile shares: the Kubernetes client, Azure access, the event recorder,
//! metrics, and the namespaces to watch.

use std::sync::Arc;

use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::azure_access::AzureAccess;
use crate::azure::Cloud;
use crate::metrics::Metrics;

pub struct Context {
    pub kube: kube::Client,
    pub azure: Arc<AzureAccess>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Namespaces to act in; empty means all.
    pub namespaces: Vec<String>,
    pub readiness: Arc<crate::runtime::Readiness>,
    /// The PhiStore controller's cache, once it runs: the workspace controller counts stores
    /// from it instead of listing them.
    pub stores: std::sync::OnceLock<kube::runtime::reflector::Store<crate::api::PhiStore>>,
    /// When each workspace (`namespace/name`) was last evaluated in Azure, at which generation:
    /// a workspace woken by a store change recounts its stores without reading Azure again.
    pub workspace_evaluations:
        std::sync::Mutex<std::collections::HashMap<String, (Option<i64>, std::time::Instant)>>,
    cloud: Cloud,
}

impl Context {
    pub fn new(
        kube: kube::Client,
        azure: Arc<AzureAccess>,
        cloud: Cloud,
        metrics: Arc<Metrics>,
        namespaces: Vec<String>,
        instance: String,
        readiness: Arc<crate::runtime::Readiness>,
    ) -> Context {
        let reporter = Reporter {
            controller: "hipaa-operator".into(),
            instance: Some(instance),
        };
        Context {
            recorder: Recorder::new(kube.clone(), reporter),
            kube,
            azure,
            metrics,
            namespaces,
            readiness,
            stores: std::sync::OnceLock::new(),
            workspace_evaluations: Default::default(),
            cloud,
        }
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
