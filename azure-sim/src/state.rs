//! Everything the simulator remembers (subscriptions, resources, operations, principals, keys,
//! secrets),
//! and its persistence to `--state-dir`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::lower;
use crate::keyvault::{KvKey, KvSecret};
use crate::lro::Operation;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub subscription_id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub tenant_id: String,
}

/// One stored ARM resource. `body` is what a GET returns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub id: String,
    pub type_name: String,
    pub body: Value,
    pub etag: String,
    /// Who wrote it last (object id), for the request log and drift tests.
    #[serde(default)]
    pub last_modified_by: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum PrincipalType {
    #[default]
    ServicePrincipal,
    User,
    ManagedIdentity,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FederatedCredential {
    pub issuer: String,
    pub subject: String,
    #[serde(default = "default_federated_audiences")]
    pub audiences: Vec<String>,
}

fn default_federated_audiences() -> Vec<String> {
    vec!["api://AzureADTokenExchange".to_string()]
}

/// A security principal that can get tokens and hold role assignments.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    pub object_id: String,
    /// The application (client) id used in token requests; defaults to the object id.
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default, rename = "type")]
    pub principal_type: PrincipalType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub federated_credentials: Vec<FederatedCredential>,
    /// For a user-assigned managed identity: its ARM resource id (`msi_res_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
}

/// Settings that tests change at run time through the admin API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RuntimeConfig {
    /// How long a long-running operation stays in progress (simulated clock).
    pub lro_duration_ms: u64,
    /// The `Retry-After` seconds sent with 202 responses and while polling.
    pub lro_retry_after_secs: u64,
    pub throttle: crate::throttle::ThrottleConfig,
    /// Items per page of ARM lists; longer lists carry `nextLink`.
    pub list_page_size: usize,
    /// How long a change takes to show in Resource Graph results (real wall time).
    pub graph_lag_ms: u64,
    /// How many requests the request log keeps (the oldest go first).
    pub request_log_entries: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            lro_duration_ms: 0,
            lro_retry_after_secs: 1,
            throttle: crate::throttle::ThrottleConfig::default(),
            list_page_size: 1000,
            graph_lag_ms: 0,
            request_log_entries: crate::reqlog::DEFAULT_ENTRIES,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct State {
    pub tenant_id: String,
    pub subscriptions: BTreeMap<String, Subscription>,
    pub resources: BTreeMap<String, Resource>,
    pub operations: BTreeMap<String, Operation>,
    pub principals: BTreeMap<String, Principal>,
    pub keys: BTreeMap<String, KvKey>,
    /// Key Vault secrets by `{vault}/{name}`, lower-case.
    pub secrets: BTreeMap<String, KvSecret>,
    pub config: RuntimeConfig,
    pub clock_offset_ms: i64,
    /// Monotonic counter behind generated etags.
    pub etag_counter: u64,
    /// Host (and port, when configured) after `{vault}.` in vault URIs and key ids; set at start.
    #[serde(skip)]
    pub vault_authority: String,
}

impl State {
    pub fn new(tenant_id: &str) -> Self {
        Self {
            tenant_id: tenant_id.to_string(),
            ..Self::default()
        }
    }

    pub fn get(&self, id: &str) -> Option<&Resource> {
        self.resources.get(&lower(id))
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Resource> {
        self.resources.get_mut(&lower(id))
    }

    pub fn subscription(&self, id: &str) -> Option<&Subscription> {
        self.subscriptions.get(&lower(id))
    }

    pub fn principal(&self, object_id: &str) -> Option<&Principal> {
        self.principals.get(&lower(object_id))
    }

    pub fn principal_by_client_id(&self, client_id: &str) -> Option<&Principal> {
        self.principals
            .values()
            .find(|p| p.client_id.eq_ignore_ascii_case(client_id))
    }

    /// Resources whose id starts with `prefix/` (children, extension resources and, for a
    /// resource group, everything in it).
    pub fn descendants(&self, prefix: &str) -> Vec<String> {
        let p = format!("{}/", lower(prefix));
        self.resources
            .range(p.clone()..)
            .take_while(|(k, _)| k.starts_with(&p))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Extension resources of one kind stored at exactly `scope`: their ids are
    /// `{scope}{segment}{name}` (the segment lower-case, such as
    /// `/providers/microsoft.authorization/roleassignments/`), so they are one key range.
    pub fn extensions_at<'a>(
        &'a self,
        scope: &str,
        segment: &str,
    ) -> impl Iterator<Item = &'a Resource> + 'a {
        let prefix = format!("{}{segment}", lower(scope.trim_end_matches('/')));
        self.resources
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, r)| r)
    }

    /// Extension resources of one kind at `scope` or at any scope above it (segment-wise): one
    /// key range per ancestor, so a check costs the depth of the scope, not the size of the estate.
    pub fn extensions_at_or_above(&self, scope: &str, segment: &str) -> Vec<&Resource> {
        let s = lower(scope.trim_end_matches('/'));
        let mut ends: Vec<usize> = s.match_indices('/').map(|(i, _)| i).collect();
        ends.push(s.len());
        ends.dedup();
        ends.into_iter()
            .flat_map(|end| self.extensions_at(&s[..end], segment))
            .collect()
    }

    /// Role assignments stored at exactly `scope`.
    pub fn assignments_at<'a>(&'a self, scope: &str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.extensions_at(scope, crate::authz::ROLE_ASSIGNMENT_SEGMENT)
    }

    /// Role assignments at `scope` or at any scope above it.
    pub fn assignments_at_or_above(&self, scope: &str) -> Vec<&Resource> {
        self.extensions_at_or_above(scope, crate::authz::ROLE_ASSIGNMENT_SEGMENT)
    }

    pub fn next_etag_seed(&mut self) -> u64 {
        self.etag_counter += 1;
        self.etag_counter
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("reading or writing {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is not valid: {source}")]
    Parse {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
}

const STATE_FILE: &str = "state.json";

pub fn load(dir: &Path) -> Result<Option<State>, PersistError> {
    let path = dir.join(STATE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| PersistError::Parse { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PersistError::Io { path, source }),
    }
}

/// Writes the state atomically (temp file + rename) so a crash never leaves half a file.
pub fn save(dir: &Path, state: &State) -> Result<(), PersistError> {
    let path = dir.join(STATE_FILE);
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    let bytes = serde_json::to_vec(state).map_err(|source| PersistError::Parse {
        path: path.clone(),
        source,
    })?;
    std::fs::write(&tmp, bytes).map_err(|source| PersistError::Io {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &path).map_err(|source| PersistError::Io { path, source })
}
