//! Azure credentials from `azure_identity`: workload identity (the AKS default), managed
//! identity, client secret and Azure CLI. Token caching and refresh are the library's.

use std::path::PathBuf;
use std::sync::Arc;

use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};

use super::cloud::Cloud;
use super::error::AzureError;

/// Supplies the federated token that a [`Identity::FederatedAssertion`] presents to Entra (for
/// a workspace: a token of a ServiceAccount in the workspace's own namespace). The Azure layer
/// knows nothing of where it comes from.
#[async_trait::async_trait]
pub trait AssertionSource: Send + Sync + std::fmt::Debug {
    /// A current assertion, or why none can be had (a message a person can act on).
    async fn assertion(&self) -> Result<String, String>;
}

/// [`AssertionSource`] as azure_identity's client assertion.
#[derive(Debug)]
struct Assertion(Arc<dyn AssertionSource>);

#[async_trait::async_trait]
impl azure_identity::ClientAssertion for Assertion {
    async fn secret(
        &self,
        _options: Option<azure_core::http::ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        self.0.assertion().await.map_err(|why| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, why)
        })
    }
}

/// Which identity to authenticate as.
#[derive(Clone)]
pub enum Identity {
    /// A federated service-account token exchanged for an Entra token (AKS workload identity).
    /// Unset fields come from `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
    /// `AZURE_FEDERATED_TOKEN_FILE`, which the AKS webhook sets.
    WorkloadIdentity {
        tenant_id: Option<String>,
        client_id: Option<String>,
        token_file: Option<PathBuf>,
    },
    /// A federated token from `source` exchanged for the Entra application `client_id`: a
    /// workspace's identity, bound by its federated credential to one namespace's ServiceAccount.
    FederatedAssertion {
        tenant_id: String,
        client_id: String,
        source: Arc<dyn AssertionSource>,
    },
    /// An application with a client secret (read from a Kubernetes Secret, never a CR).
    ClientSecret {
        tenant_id: String,
        client_id: String,
        secret: Secret,
    },
    /// The managed identity of the node or VM; a user-assigned one by client id.
    ManagedIdentity { client_id: Option<String> },
    /// The signed-in Azure CLI user, for local development.
    AzureCli { tenant_id: Option<String> },
}

impl std::fmt::Debug for Identity {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::WorkloadIdentity {
                tenant_id,
                client_id,
                ..
            } => f
                .debug_struct("WorkloadIdentity")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Identity::ClientSecret {
                tenant_id,
                client_id,
                ..
            } => f
                .debug_struct("ClientSecret")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Identity::FederatedAssertion {
                tenant_id,
                client_id,
                source,
            } => f
                .debug_struct("FederatedAssertion")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("source", source)
                .finish(),
            Identity::ManagedIdentity { client_id } => f
                .debug_struct("ManagedIdentity")
                .field("client_id", client_id)
                .finish(),
            Identity::AzureCli { tenant_id } => f
                .debug_struct("AzureCli")
                .field("tenant_id", tenant_id)
                .finish(),
        }
    }
}

/// Creates the credential for `identity`, talking to `cloud`'s authority through `http`.
pub fn credential(
    identity: &Identity,
    cloud: &Cloud,
    http: &reqwest::Client,
) -> Result<Arc<dyn TokenCredential>, AzureError> {
    let client_options = ClientOptions {
        transport: Some(Transport::new(Arc::new(http.clone()))),
        cloud: Some(Arc::new(cloud.core_configuration())),
        ..ClientOptions::default()
    };
    let failed = |what: &str, e: azure_core::Error| {
        AzureError::Credential(format!("{what}: {}", super::error::with_causes(&e)))
    };
    let credential: Arc<dyn TokenCredential> = match identity {
        Identity::WorkloadIdentity {
            tenant_id,
            client_id,
            token_file,
        } => WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
            credential_options: ClientAssertionCredentialOptions { client_options },
            client_id: client_id.clone(),
            tenant_id: tenant_id.clone(),
            token_file_path: token_file.clone(),
        }))
        .map_err(|e| failed("workload identity", e))?,
        Identity::FederatedAssertion {
            tenant_id,
            client_id,
            source,
        } => azure_identity::ClientAssertionCredential::new(
            tenant_id.clone(),
            client_id.clone(),
            Assertion(source.clone()),
            Some(ClientAssertionCredentialOptions { client_options }),
        )
        .map_err(|e| failed("federated service-account token", e))?,
        Identity::ClientSecret {
            tenant_id,
            client_id,
            secret,
        } => ClientSecretCredential::new(
            tenant_id,
            client_id.clone(),
            secret.clone(),
            Some(ClientSecretCredentialOptions { client_options }),
        )
        .map_err(|e| failed("client secret", e))?,
        Identity::ManagedIdentity { client_id } => {
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                client_options,
            }))
            .map_err(|e| failed("managed identity", e))?
        }
        Identity::AzureCli { tenant_id } => {
            AzureCliCredential::new(Some(AzureCliCredentialOptions {
                tenant_id: tenant_id.clone(),
                ..Default::default()
            }))
            .map_err(|e| failed("Azure CLI", e))?
        }
    };
    Ok(credential)
}
