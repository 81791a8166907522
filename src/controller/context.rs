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
    /// Watch one namespace, or all when `None`.
    pub namespace: Option<String>,
    cloud: Cloud,
}

impl Context {
    pub fn new(
        kube: kube::Client,
        azure: Arc<AzureAccess>,
        cloud: Cloud,
        metrics: Arc<Metrics>,
        namespace: Option<String>,
        instance: String,
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
            namespace,
            cloud,
        }
    }

    /// The API of `K` in the watched namespace, or in all namespaces.
    pub fn scoped_api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        match &self.namespace {
            Some(ns) => Api::namespaced(self.kube.clone(), ns),
            None => Api::all(self.kube.clone()),
        }
    }

    /// The Azure cloud the operator talks to.
    pub fn azure_cloud(&self) -> &Cloud {
        &self.cloud
    }
}
