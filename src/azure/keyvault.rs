//! Key Vault data plane (api-version 7.5): customer-managed keys, their versions, rotation and
//! rotation policies. Typed calls on the operator's own pipeline rather than the
//! `azure_security_keyvault_keys` crate, whose challenge authentication insists that the vault
//! host be a Key Vault DNS name, which rules out custom clouds such as the simulator.

use azure_core::http::{Method, Url};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::{Audience, AzureClient, Call};
use super::error::AzureError;
use super::types::Ensured;

pub const API_VERSION: &str = "7.5";
const PROVIDER: &str = "KeyVault";

/// A key version (`KeyBundle`); timestamps are Unix seconds.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct KeyBundle {
    pub key: JsonWebKey,
    #[serde(default)]
    pub attributes: KeyAttributes,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct JsonWebKey {
    /// `https://{vault}.vault.azure.net/keys/{name}/{version}`.
    pub kid: String,
    pub kty: String,
    /// The RSA modulus (base64url), whose length gives the key size.
    #[serde(default)]
    pub n: Option<String>,
}

impl JsonWebKey {
    /// The version part of `kid`.
    pub fn version(&self) -> &str {
        self.kid.rsplit('/').next().unwrap_or_default()
    }

    /// RSA key size in bits, from the modulus.
    pub fn rsa_bits(&self) -> Option<usize> {
        let n = self.n.as_deref()?;
        // base64url without padding: 4 characters carry 3 bytes.
        let bytes = n.len() * 3 / 4;
        Some(bytes * 8)
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct KeyAttributes {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub created: Option<i64>,
    #[serde(default)]
    pub updated: Option<i64>,
    #[serde(default)]
    pub exp: Option<i64>,
}

/// A key's rotation policy.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RotationPolicy {
    #[serde(default)]
    pub lifetime_actions: Vec<LifetimeAction>,
    #[serde(default)]
    pub attributes: RotationPolicyAttributes,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct LifetimeAction {
    pub trigger: Trigger,
    pub action: Action,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_after_create: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_before_expiry: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Action {
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RotationPolicyAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_time: Option<String>,
}

impl RotationPolicy {
    /// Rotate after `rotate_after`, notify `notify_before` expiry, expire after `expire_after`.
    pub fn new(rotate_after: &str, expire_after: &str, notify_before: &str) -> RotationPolicy {
        RotationPolicy {
            lifetime_actions: vec![
                LifetimeAction {
                    trigger: Trigger {
                        time_after_create: Some(rotate_after.into()),
                        time_before_expiry: None,
                    },
                    action: Action {
                        kind: "Rotate".into(),
                    },
                },
                LifetimeAction {
                    trigger: Trigger {
                        time_after_create: None,
                        time_before_expiry: Some(notify_before.into()),
                    },
                    action: Action {
                        kind: "Notify".into(),
                    },
                },
            ],
            attributes: RotationPolicyAttributes {
                expiry_time: Some(expire_after.into()),
            },
        }
    }

    /// `timeAfterCreate` of the Rotate action.
    pub fn rotate_after(&self) -> Option<&str> {
        self.lifetime_actions
            .iter()
            .find(|a| a.action.kind.eq_ignore_ascii_case("Rotate"))
            .and_then(|a| a.trigger.time_after_create.as_deref())
    }

    /// Whether `self` (read from the vault) says the same as `want` (action order ignored).
    pub fn matches(&self, want: &RotationPolicy) -> bool {
        let norm = |p: &RotationPolicy| {
            let mut actions: Vec<(String, Option<String>, Option<String>)> = p
                .lifetime_actions
                .iter()
                .map(|a| {
                    (
                        a.action.kind.to_ascii_lowercase(),
                        a.trigger.time_after_create.clone(),
                        a.trigger.time_before_expiry.clone(),
                    )
                })
                .collect();
            actions.sort();
            (actions, p.attributes.expiry_time.clone())
        };
        norm(self) == norm(want)
    }
}

#[derive(Debug, Deserialize)]
struct KeyItems {
    #[serde(default)]
    value: Vec<KeyItem>,
    #[serde(default, rename = "nextLink")]
    next_link: Option<String>,
}

/// One entry of a key's version list.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct KeyItem {
    pub kid: String,
    #[serde(default)]
    pub attributes: KeyAttributes,
}

/// A data-plane URL and the resource name errors use for it.
struct VaultTarget {
    url: Url,
    resource: String,
}

impl VaultTarget {
    fn call(
        &self,
        operation: &'static str,
        method: Method,
        body: Option<serde_json::Value>,
    ) -> Call<'_> {
        Call {
            operation,
            provider: PROVIDER,
            method,
            url: self.url.clone(),
            resource: &self.resource,
            body,
            if_match: None,
            audience: Audience::KeyVault,
        }
    }
}

impl AzureClient {
    fn vault_target(&self, vault: &str, path: &str) -> Result<VaultTarget, AzureError> {
        // The vault name becomes part of a host name and the key name part of a path: both are
        // held to Key Vault's own character rules first, so neither can name another host or
        // operation.
        let plain = |s: &str, max: usize| {
            (1..=max).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if !plain(vault, 24) || vault.len() < 3 {
            return Err(AzureError::Configuration(format!(
                "{:?} is not a Key Vault name (3-24 letters, digits and hyphens); nothing was sent",
                vault.chars().take(64).collect::<String>()
            )));
        }
        if let Some(bad) = path.split('/').find(|s| !plain(s, 127)) {
            return Err(AzureError::Configuration(format!(
                "{:?} is not a Key Vault object name (1-127 letters, digits and hyphens); nothing was sent",
                bad.chars().take(64).collect::<String>()
            )));
        }
        let base = self
            .cloud()
            .vault_url(vault)
            .map_err(|e| AzureError::Configuration(format!("Key Vault URL of {vault}: {e}")))?;
        let mut url: Url = base
            .join(path)
            .map_err(|e| AzureError::Configuration(format!("Key Vault URL {path}: {e}")))?;
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);
        Ok(VaultTarget {
            url,
            resource: format!("{}{path}", self.cloud().vault_uri(vault)),
        })
    }

    /// `GetKey` of the latest version, `None` when the key does not exist.
    pub async fn get_key(&self, vault: &str, name: &str) -> Result<Option<KeyBundle>, AzureError> {
        let target = self.vault_target(vault, &format!("keys/{name}"))?;
        match self.send(target.call("GetKey", Method::Get, None)).await {
            Ok(reply) => Ok(Some(reply.json("GetKey", &target.resource)?)),
            Err(AzureError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GetKeyVersions`, every page (at most 100 pages).
    pub async fn list_key_versions(
        &self,
        vault: &str,
        name: &str,
    ) -> Result<Vec<KeyItem>, AzureError> {
        let mut target = self.vault_target(vault, &format!("keys/{name}/versions"))?;
        let mut items = Vec::new();
        for _ in 0..100 {
            let reply = self
                .send(target.call("GetKeyVersions", Method::Get, None))
                .await?;
            let page: KeyItems = reply.json("GetKeyVersions", &target.resource)?;
            items.extend(page.value);
            match page.next_link {
                Some(next) => {
                    target.url = super::client::same_origin(
                        &target.url,
                        &next,
                        "GetKeyVersions",
                        &target.resource,
                    )?;
                }
                None => break,
            }
        }
        Ok(items)
    }

    /// `CreateKey`: a key of type `kty` (`RSA`, `RSA-HSM`) and `bits` bits for wrapping
    /// data-encryption keys.
    pub async fn create_key(
        &self,
        vault: &str,
        name: &str,
        kty: &str,
        bits: u32,
        exp: Option<i64>,
    ) -> Result<KeyBundle, AzureError> {
        let mut body = json!({ "kty": kty, "key_size": bits, "key_ops": ["wrapKey", "unwrapKey"], "attributes": { "enabled": true } });
        if let Some(exp) = exp {
            body["attributes"]["exp"] = json!(exp);
        }
        let target = self.vault_target(vault, &format!("keys/{name}/create"))?;
        self.send(target.call("CreateKey", Method::Post, Some(body)))
            .await?
            .json("CreateKey", &target.resource)
    }

    /// `UpdateKey` of one version: its expiry (`exp`, seconds since the epoch) and nothing
    /// else.
    pub async fn set_key_expiry(
        &self,
        vault: &str,
        name: &str,
        version: &str,
        exp: i64,
    ) -> Result<KeyBundle, AzureError> {
        let target = self.vault_target(vault, &format!("keys/{name}/{version}"))?;
        let body = json!({ "attributes": { "exp": exp } });
        self.send(target.call("UpdateKey", Method::Patch, Some(body)))
            .await?
            .json("UpdateKey", &target.resource)
    }

    /// `RotateKey`: a new version now.
    pub async fn rotate_key(&self, vault: &str, name: &str) -> Result<KeyBundle, AzureError> {
        let target = self.vault_target(vault, &format!("keys/{name}/rotate"))?;
        self.send(target.call("RotateKey", Method::Post, None))
            .await?
            .json("RotateKey", &target.resource)
    }

    /// `GetKeyRotationPolicy`, `None` when the key has none.
    pub async fn get_rotation_policy(
        &self,
        vault: &str,
        name: &str,
    ) -> Result<Option<RotationPolicy>, AzureError> {
        let target = self.vault_target(vault, &format!("keys/{name}/rotationpolicy"))?;
        match self
            .send(target.call("GetKeyRotationPolicy", Method::Get, None))
            .await
        {
            Ok(reply) => {
                let policy: RotationPolicy =
                    reply.json("GetKeyRotationPolicy", &target.resource)?;
                // A key without a policy answers with an empty one.
                Ok((!policy.lifetime_actions.is_empty()).then_some(policy))
            }
            Err(AzureError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Keeps a customer-managed key: creates it (type `kty`, `bits` bits) when missing, and keeps
    /// its rotation policy as `policy`. Returns the latest version and whether anything was
    /// written. An existing key is never replaced: its strength is a control to report.
    pub async fn ensure_key(
        &self,
        vault: &str,
        name: &str,
        kty: &str,
        bits: u32,
        policy: &RotationPolicy,
    ) -> Result<(KeyBundle, Ensured), AzureError> {
        let (key, mut outcome) = match self.get_key(vault, name).await? {
            Some(key) => (key, Ensured::Unchanged),
            None => {
                return self
                    .create_key_with_policy(vault, name, kty, bits, policy)
                    .await;
            }
        };
        if self.ensure_rotation_policy(vault, name, policy).await? == Ensured::Written {
            outcome = Ensured::Written;
        }
        Ok((key, outcome))
    }

    /// Creates the key and sets its rotation policy, reading neither first: for a key the
    /// caller has just seen missing. A key created has the vault's default policy, so the
    /// policy is written without reading it. (Should someone create the key in between, the
    /// create makes a new version of it, as a rotation would.)
    pub async fn create_key_with_policy(
        &self,
        vault: &str,
        name: &str,
        kty: &str,
        bits: u32,
        policy: &RotationPolicy,
    ) -> Result<(KeyBundle, Ensured), AzureError> {
        // The first version expires like the ones rotation makes (the policy's expiryTime
        // applies only to those).
        let exp = policy
            .attributes
            .expiry_time
            .as_deref()
            .and_then(lifetime_secs)
            .map(|l| now_secs() + l);
        let key = self.create_key(vault, name, kty, bits, exp).await?;
        self.set_rotation_policy(vault, name, policy).await?;
        Ok((key, Ensured::Written))
    }

    /// Keeps the key's rotation policy as desired; writes only when it differs.
    pub async fn ensure_rotation_policy(
        &self,
        vault: &str,
        name: &str,
        want: &RotationPolicy,
    ) -> Result<Ensured, AzureError> {
        if self
            .get_rotation_policy(vault, name)
            .await?
            .is_some_and(|p| p.matches(want))
        {
            return Ok(Ensured::Unchanged);
        }
        self.set_rotation_policy(vault, name, want).await?;
        Ok(Ensured::Written)
    }

    /// `UpdateKeyRotationPolicy`: the key's whole policy, as given.
    async fn set_rotation_policy(
        &self,
        vault: &str,
        name: &str,
        want: &RotationPolicy,
    ) -> Result<(), AzureError> {
        let body = serde_json::to_value(want)
            .map_err(|e| AzureError::Configuration(format!("rotation policy: {e}")))?;
        let target = self.vault_target(vault, &format!("keys/{name}/rotationpolicy"))?;
        self.send(target.call("UpdateKeyRotationPolicy", Method::Put, Some(body)))
            .await?;
        Ok(())
    }
}

/// A Key Vault lifetime (`P90D`, `P3M`, `P1Y`: one unit of days, months or years, months of
/// 30 days and years of 365 as Key Vault counts them) in seconds.
pub fn lifetime_secs(text: &str) -> Option<i64> {
    let rest = text.strip_prefix('P')?;
    let (number, unit) = rest.split_at(rest.len().checked_sub(1)?);
    let n: i64 = number.parse().ok()?;
    let days = match unit {
        "D" => 1,
        "M" => 30,
        "Y" => 365,
        _ => return None,
    };
    n.checked_mul(days * 86_400)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(file: &str) -> serde_json::Value {
        let path = format!(
            "{}/../shared/azure-rest-examples/KeyVault.DataPlane/7.5/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).expect("example JSON")
    }

    #[test]
    fn recorded_key_bundle_gives_version_and_size() {
        let bundle: KeyBundle = serde_json::from_value(
            example("CreateKey-example.json")["responses"]["200"]["body"].clone(),
        )
        .expect("bundle");
        assert_eq!(bundle.key.version(), "78deebed173b48e48f55abf87ed4cf71");
        assert_eq!(bundle.key.rsa_bits(), Some(2048));
        assert_eq!(bundle.attributes.created, Some(1493942451));
    }

    #[test]
    fn recorded_rotation_policy_matches_the_same_policy_built_here() {
        let found: RotationPolicy = serde_json::from_value(
            example("GetKeyRotationPolicy-example.json")["responses"]["200"]["body"].clone(),
        )
        .expect("policy");
        assert!(found.matches(&RotationPolicy::new("P90D", "P2Y", "P30D")));
        assert!(!found.matches(&RotationPolicy::new("P60D", "P2Y", "P30D")));
        assert_eq!(found.rotate_after(), Some("P90D"));
    }
}
