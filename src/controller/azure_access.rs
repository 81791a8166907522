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
use crate::azure::budget::Budget;
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
    #[error(
        "spec.identity.clientId needs a tenant: spec.identity.tenantId or the operator's AZURE_TENANT_ID"
    )]
    NoTenant,
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
    /// `AZURE_CLIENT_ID` as the process started: the workload identity's client when it
    /// names none (read once, never by a reconcile).
    default_client: Option<String>,
    http: reqwest::Client,
    clients: Mutex<HashMap<String, AzureClient>>,
    /// Request budgets by principal (tenant and client id): every client of one principal
    /// spends the same per-subscription buckets, as ARM counts them.
    budgets: Mutex<HashMap<String, Arc<Budget>>>,
    secret_namespaces: Vec<String>,
    /// The ServiceAccount, in each workspace's namespace, whose tokens stand for the
    /// workspace's own identity.
    workspace_service_account: String,
}

/// The default name of the ServiceAccount whose tokens carry a workspace's identity.
pub const WORKSPACE_SERVICE_ACCOUNT: &str = "hipaa-workspace";

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
            default_client: std::env::var("AZURE_CLIENT_ID")
                .ok()
                .filter(|c| !c.is_empty()),
            http,
            clients: Mutex::new(HashMap::new()),
            budgets: Mutex::new(HashMap::new()),
            secret_namespaces: Vec::new(),
            workspace_service_account: WORKSPACE_SERVICE_ACCOUNT.into(),
        })
    }

    /// The operator's own tenant (`AZURE_TENANT_ID` at start-up), when it has one.
    pub fn default_tenant(&self) -> Option<&str> {
        self.default_tenant.as_deref()
    }

    /// The ServiceAccount name whose tokens carry workspace identities (default
    /// [`WORKSPACE_SERVICE_ACCOUNT`]).
    pub fn with_workspace_service_account(mut self, name: String) -> AzureAccess {
        if !name.trim().is_empty() {
            self.workspace_service_account = name.trim().to_string();
        }
        self
    }

    /// Namespaces whose Secrets may hold workspace client secrets (none by default).
    pub fn with_secret_namespaces(mut self, namespaces: Vec<String>) -> AzureAccess {
        self.secret_namespaces = namespaces.into_iter().filter(|n| !n.is_empty()).collect();
        self
    }

    /// The client for `workspace`'s identity. Only with the workspace's [`Permit`], which only
    /// [`super::trust`] makes from the admins' grants: without a grant there is no client.
    pub async fn client_for(
        &self,
        workspace: &HipaaWorkspace,
        _permit: &super::trust::Permit,
    ) -> Result<AzureClient, AccessError> {
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
            // The workspace's own identity, through a token of a ServiceAccount in the
            // workspace's namespace: Entra accepts it only where that identity's federated
            // credential names `system:serviceaccount:<namespace>:<name>`, so another namespace
            // naming the same client id gets nothing.
            Some(id) if id.client_id.is_some() => {
                let client_id = id.client_id.clone().ok_or(AccessError::Incomplete)?;
                let tenant_id = id
                    .tenant_id
                    .clone()
                    .or_else(|| self.default_tenant.clone())
                    .ok_or(AccessError::NoTenant)?;
                let account = self.workspace_service_account.clone();
                let key = format!("federated/{namespace}/{account}/{tenant_id}/{client_id}");
                (
                    key,
                    Identity::FederatedAssertion {
                        tenant_id,
                        client_id,
                        source: Arc::new(ServiceAccountToken {
                            kube: self.kube.clone(),
                            namespace: namespace.clone(),
                            name: account,
                            audience: self.cloud.token_exchange_audience(),
                            cached: Default::default(),
                        }),
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
        let budget = self
            .budgets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(principal_key(
                &identity,
                &key,
                (
                    self.default_tenant.as_deref(),
                    self.default_client.as_deref(),
                ),
            ))
            .or_insert_with(|| Arc::new(Budget::new(self.settings.budget.clone())))
            .clone();
        let client = AzureClient::with_budget(
            self.cloud.clone(),
            credential,
            self.http.clone(),
            self.settings.clone(),
            budget,
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

/// Who ARM counts a client's calls against: its tenant and application (client) id when the
/// identity names them (or the environment does, for workload identity), else the client's
/// cache key (a managed identity or the CLI user without a client id).
fn principal_key(
    identity: &Identity,
    client_key: &str,
    (env_tenant, env_client): (Option<&str>, Option<&str>),
) -> String {
    let (tenant, client) = match identity {
        Identity::ClientSecret {
            tenant_id,
            client_id,
            ..
        }
        | Identity::FederatedAssertion {
            tenant_id,
            client_id,
            ..
        } => (Some(tenant_id.clone()), Some(client_id.clone())),
        Identity::WorkloadIdentity {
            tenant_id,
            client_id,
            ..
        } => (
            tenant_id.clone().or_else(|| env_tenant.map(str::to_string)),
            client_id.clone().or_else(|| env_client.map(str::to_string)),
        ),
        Identity::ManagedIdentity { client_id } => (None, client_id.clone()),
        Identity::AzureCli { .. } => (None, None),
    };
    match (tenant, client) {
        (tenant, Some(client)) => format!(
            "principal/{}/{}",
            tenant.unwrap_or_default().to_ascii_lowercase(),
            client.to_ascii_lowercase()
        ),
        _ => format!("client/{client_key}"),
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

/// Tokens of one ServiceAccount (TokenRequest, the cloud's token-exchange audience, one hour),
/// kept until ten minutes before they expire.
struct ServiceAccountToken {
    kube: kube::Client,
    namespace: String,
    name: String,
    audience: &'static str,
    cached: tokio::sync::Mutex<Option<(String, std::time::Instant)>>,
}

impl std::fmt::Debug for ServiceAccountToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountToken")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

const TOKEN_SECONDS: i64 = 3600;

#[async_trait::async_trait]
impl crate::azure::credential::AssertionSource for ServiceAccountToken {
    async fn assertion(&self) -> Result<String, String> {
        use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::ServiceAccount;
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && *until > std::time::Instant::now()
        {
            return Ok(token.clone());
        }
        let accounts: Api<ServiceAccount> = Api::namespaced(self.kube.clone(), &self.namespace);
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: Some(vec![self.audience.to_string()]),
                expiration_seconds: Some(TOKEN_SECONDS),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (ns, name) = (&self.namespace, &self.name);
        let made = accounts
            .create_token_request(name, &Default::default(), &request)
            .await
            .map_err(|e| match e {
                kube::Error::Api(s) if s.code == 404 => format!(
                    "the ServiceAccount {ns}/{name} does not exist: create it, and give the workspace's Entra identity a federated credential with subject system:serviceaccount:{ns}:{name}"
                ),
                kube::Error::Api(s) if s.code == 403 => format!(
                    "the operator may not request tokens of the ServiceAccount {ns}/{name} (RBAC serviceaccounts/token, limited to that name by the chart)"
                ),
                other => format!("a token of the ServiceAccount {ns}/{name}: {other}"),
            })?;
        let token = made
            .status
            .and_then(|s| s.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("the API server returned no token for {ns}/{name}"))?;
        let keep = std::time::Duration::from_secs((TOKEN_SECONDS - 600) as u64);
        *cached = Some((token.clone(), std::time::Instant::now() + keep));
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_principal_is_one_budget_whatever_the_credential() {
        const NONE: (Option<&str>, Option<&str>) = (None, None);
        let secret = Identity::ClientSecret {
            tenant_id: "T".into(),
            client_id: "C".into(),
            secret: AzureSecret::new("not logged"),
        };
        let federated = Identity::WorkloadIdentity {
            tenant_id: Some("t".into()),
            client_id: Some("c".into()),
            token_file: None,
        };
        assert_eq!(
            principal_key(&secret, "secret/T/C/1", NONE),
            principal_key(&federated, "default", NONE)
        );
        let other = Identity::ClientSecret {
            tenant_id: "t".into(),
            client_id: "d".into(),
            secret: AzureSecret::new("not logged"),
        };
        assert_ne!(
            principal_key(&secret, "a", NONE),
            principal_key(&other, "b", NONE)
        );
        // A workload identity that names no client is the one the process was started as.
        let from_env = Identity::WorkloadIdentity {
            tenant_id: None,
            client_id: None,
            token_file: None,
        };
        assert_eq!(
            principal_key(&from_env, "default", (Some("T"), Some("C"))),
            principal_key(&secret, "x", NONE)
        );
        assert_eq!(
            principal_key(&Identity::AzureCli { tenant_id: None }, "default", NONE),
            "client/default"
        );
    }
}
