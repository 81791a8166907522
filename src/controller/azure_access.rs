//! Which Azure client a workspace uses: the operator's own identity by default, or the
//! workspace's (a client id for workload identity, or a client secret read from a Kubernetes
//! Secret). Clients are cached per identity, so each identity keeps one token cache and one
//! request budget, as ARM counts its limits per principal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use azure_core::credentials::Secret as AzureSecret;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::api::HipaaWorkspace;
use crate::azure::{AzureClient, ClientSettings, Cloud, Identity, credential, transport};

/// Why a workspace's identity could not be set up; reported as `InvalidSpec` or `Forbidden`.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("the Secret {namespace}/{name} named by spec.identity.clientSecretRef {problem}")]
    Secret {
        namespace: String,
        name: String,
        problem: String,
    },
    #[error(
        "spec.identity.clientSecretRef needs spec.identity.clientId and a tenant (spec.identity.tenantId or the operator's AZURE_TENANT_ID)"
    )]
    Incomplete,
    #[error("{0}")]
    Azure(#[from] crate::azure::AzureError),
}

/// Builds and caches Azure clients.
pub struct AzureAccess {
    kube: kube::Client,
    cloud: Cloud,
    settings: ClientSettings,
    default_identity: Identity,
    default_tenant: Option<String>,
    http: reqwest::Client,
    clients: Mutex<HashMap<String, AzureClient>>,
    secret_namespaces: Vec<String>,
}

impl AzureAccess {
    pub fn new(
        kube: kube::Client,
        cloud: Cloud,
        settings: ClientSettings,
        default_identity: Identity,
    ) -> Result<AzureAccess, crate::azure::AzureError> {
        let http =
            transport::http_client(cloud.extra_ca_bundle.as_deref(), settings.request_timeout)?;
        Ok(AzureAccess {
            kube,
            cloud,
            settings,
            default_identity,
            default_tenant: std::env::var("AZURE_TENANT_ID")
                .ok()
                .filter(|t| !t.is_empty()),
            http,
            clients: Mutex::new(HashMap::new()),
            secret_namespaces: Vec::new(),
        })
    }

    /// Namespaces whose Secrets may hold workspace client secrets (none by default).
    pub fn with_secret_namespaces(mut self, namespaces: Vec<String>) -> AzureAccess {
        self.secret_namespaces = namespaces.into_iter().filter(|n| !n.is_empty()).collect();
        self
    }

    /// The client for `workspace`'s identity.
    pub async fn client_for(&self, workspace: &HipaaWorkspace) -> Result<AzureClient, AccessError> {
        let namespace = workspace.metadata.namespace.clone().unwrap_or_default();
        let identity = workspace.spec.identity.as_ref();
        let (key, identity) = match identity {
            Some(id) if id.client_secret_ref.is_some() => {
                let secret_ref = id
                    .client_secret_ref
                    .as_ref()
                    .ok_or(AccessError::Incomplete)?;
                let client_id = id.client_id.clone().ok_or(AccessError::Incomplete)?;
                let tenant_id = id
                    .tenant_id
                    .clone()
                    .or_else(|| self.default_tenant.clone())
                    .ok_or(AccessError::Incomplete)?;
                let secret = self
                    .read_secret(&namespace, &secret_ref.name, &secret_ref.key)
                    .await?;
                // The key includes the secret's content hash so a rotated secret gets a new client.
                let key = format!(
                    "secret/{tenant_id}/{client_id}/{}",
                    fingerprint(secret.secret())
                );
                (
                    key,
                    Identity::ClientSecret {
                        tenant_id,
                        client_id,
                        secret,
                    },
                )
            }
            Some(id) if id.client_id.is_some() => {
                let client_id = id.client_id.clone();
                let tenant_id = id.tenant_id.clone();
                let key = format!("workload/{tenant_id:?}/{client_id:?}");
                (
                    key,
                    Identity::WorkloadIdentity {
                        tenant_id,
                        client_id,
                        token_file: None,
                    },
                )
            }
            _ => ("default".to_string(), self.default_identity.clone()),
        };
        if let Some(client) = self
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(client.clone());
        }
        let credential = credential::credential(&identity, &self.cloud, &self.http)?;
        let client = AzureClient::new(
            self.cloud.clone(),
            credential,
            self.http.clone(),
            self.settings.clone(),
        );
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, client.clone());
        Ok(client)
    }

    async fn read_secret(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
    ) -> Result<AzureSecret, AccessError> {
        let err = |problem: String| AccessError::Secret {
            namespace: namespace.to_string(),
            name: name.to_string(),
            problem,
        };
        if !self.secret_namespaces.iter().any(|n| n == namespace) {
            return Err(err(format!(
                "is in namespace {namespace}, where the operator is not allowed to read Secrets: add it to the chart's secretAccess.namespaces (--secret-namespaces-allowed)"
            )));
        }
        let secrets: Api<Secret> = Api::namespaced(self.kube.clone(), namespace);
        let secret = match secrets.get_opt(name).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(err("does not exist".into())),
            Err(kube::Error::Api(status)) if status.code == 403 => {
                return Err(err(
                    "cannot be read by the operator: allow it in the chart's secretAccess values"
                        .into(),
                ));
            }
            Err(e) => return Err(err(format!("could not be read: {e}"))),
        };
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .ok_or_else(|| err(format!("has no key {key}")))?;
        let text = String::from_utf8(value.0.clone())
            .map_err(|_| err(format!("key {key} is not UTF-8 text")))?;
        Ok(AzureSecret::new(text.trim().to_string()))
    }

    /// Every cached client, for metrics.
    pub fn clients(&self) -> Vec<AzureClient> {
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

/// A short, non-reversible fingerprint of a secret, for cache keys (never logged).
fn fingerprint(secret: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    secret.hash(&mut h);
    h.finish()
}

/// Shared handle.
pub type SharedAccess = Arc<AzureAccess>;
