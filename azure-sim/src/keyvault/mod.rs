//! Key Vault data plane: the stored keys and versions, their JSON form, rotation policies and
//! clock-driven rotation; secrets in `secrets`. The HTTP operations live in `api`.

mod api;
mod secrets;

pub use api::handle;
pub use secrets::{KvSecret, SecretVersion};

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::clock::parse_iso8601_duration;
use crate::errors::ArmError;
use crate::state::State;

/// 7.5 (the recorded key examples) and 7.6 (the recorded secret examples).
pub const API_VERSIONS: &[&str] = &["7.5", "7.6"];
const VAULT_TYPE: &str = "Microsoft.KeyVault/vaults";
/// Each clock jump rotates at most this many versions per key, so a huge jump cannot stall.
const MAX_ROTATIONS_PER_SETTLE: usize = 1000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KeyVersion {
    pub version: String,
    pub kty: String,
    pub key_ops: Vec<String>,
    #[serde(default)]
    pub material: serde_json::Map<String, Value>,
    pub created: i64,
    pub updated: i64,
    pub enabled: bool,
    #[serde(default)]
    pub exp: Option<i64>,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub tags: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RotationPolicy {
    pub lifetime_actions: Vec<Value>,
    pub expiry_time: Option<String>,
    pub created: i64,
    pub updated: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KvKey {
    pub vault: String,
    pub name: String,
    pub versions: Vec<KeyVersion>,
    #[serde(default)]
    pub rotation_policy: Option<RotationPolicy>,
}

fn key_index(vault: &str, name: &str) -> String {
    format!(
        "{}/{}",
        vault.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    )
}

/// `https://{vault}.vault.azure.net`, with the simulator's port when it was started with
/// `vault_uri_with_port` (so clients can reach the data plane by resolving the host only).
pub fn vault_base(st: &State, vault: &str) -> String {
    let authority = if st.vault_authority.is_empty() {
        "vault.azure.net"
    } else {
        st.vault_authority.as_str()
    };
    format!("https://{vault}.{authority}")
}

/// `{vault}.vault.azure.net[:port]` or `{vault}.vault.localhost[:port]` → the vault name.
pub fn vault_from_host(host: &str) -> Option<String> {
    let h = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let h = h.to_ascii_lowercase();
    let name = h
        .strip_suffix(".vault.azure.net")
        .or_else(|| h.strip_suffix(".vault.localhost"))?;
    if name.is_empty() || name.contains('.') {
        return None;
    }
    Some(name.to_string())
}

/// The latest version of a key, for Storage's CMK auto-rotation (`keyvaulturi` + `keyname`).
pub fn latest_version(st: &State, vault_uri: &str, key: &str) -> Option<String> {
    let host = vault_uri.trim_start_matches("https://").split('/').next()?;
    let vault = vault_from_host(host)?;
    st.keys
        .get(&key_index(&vault, key))
        .and_then(|k| k.versions.last())
        .map(|v| v.version.clone())
}

fn kv_error(status: StatusCode, code: &str, message: impl Into<String>) -> ArmError {
    ArmError::new(status, code, message)
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    if SystemRandom::new().fill(&mut b).is_err() {
        // ring's system RNG does not fail on supported platforms; fall back to UUID entropy.
        for chunk in b.chunks_mut(16) {
            let u = uuid::Uuid::new_v4();
            chunk.copy_from_slice(&u.as_bytes()[..chunk.len()]);
        }
    }
    b
}

/// Public key material of the right shape. Values are random, not a usable key pair: the
/// simulator serves key management, not cryptography.
fn material(kty: &str, size: Option<u64>, crv: Option<&str>) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    match kty {
        "RSA" | "RSA-HSM" => {
            let bytes = usize::try_from(size.unwrap_or(2048) / 8).unwrap_or(256);
            let mut n = random_bytes(bytes);
            if let Some(first) = n.first_mut() {
                *first |= 0x80;
            }
            m.insert("n".into(), json!(B64.encode(n)));
            m.insert("e".into(), json!("AQAB"));
        }
        "EC" | "EC-HSM" => {
            let crv = crv.unwrap_or("P-256");
            let len = match crv {
                "P-384" => 48,
                "P-521" => 66,
                _ => 32,
            };
            m.insert("crv".into(), json!(crv));
            m.insert("x".into(), json!(B64.encode(random_bytes(len))));
            m.insert("y".into(), json!(B64.encode(random_bytes(len))));
        }
        _ => {}
    }
    m
}

fn recovery_level(st: &State, vault: &str) -> &'static str {
    let props = find_vault(st, vault)
        .map(|v| v.body["properties"].clone())
        .unwrap_or_default();
    match (
        props["enableSoftDelete"].as_bool().unwrap_or(true),
        props["enablePurgeProtection"].as_bool().unwrap_or(false),
    ) {
        (false, _) => "Purgeable",
        (true, true) => "Recoverable",
        (true, false) => "Recoverable+Purgeable",
    }
}

fn bundle(st: &State, key: &KvKey, v: &KeyVersion) -> Value {
    let mut k = json!({
        "kid": format!("{}/keys/{}/{}", vault_base(st, &key.vault), key.name, v.version),
        "kty": v.kty,
        "key_ops": v.key_ops,
    });
    for (name, value) in &v.material {
        k[name] = value.clone();
    }
    let mut attributes = json!({
        "enabled": v.enabled,
        "created": v.created,
        "updated": v.updated,
        "recoveryLevel": recovery_level(st, &key.vault),
        "recoverableDays": 90,
    });
    if let Some(e) = v.exp {
        attributes["exp"] = json!(e);
    }
    if let Some(n) = v.nbf {
        attributes["nbf"] = json!(n);
    }
    let mut b = json!({"key": k, "attributes": attributes});
    if let Some(t) = &v.tags {
        b["tags"] = t.clone();
    }
    b
}

fn policy_body(st: &State, key: &KvKey) -> Value {
    let id = format!(
        "{}/keys/{}/rotationpolicy",
        vault_base(st, &key.vault),
        key.name
    );
    match &key.rotation_policy {
        Some(p) => {
            let mut attributes = json!({"created": p.created, "updated": p.updated});
            if let Some(e) = &p.expiry_time {
                attributes["expiryTime"] = json!(e);
            }
            json!({"id": id, "lifetimeActions": p.lifetime_actions, "attributes": attributes})
        }
        // A key without a policy reports Key Vault's default: notify 30 days before expiry.
        None => json!({
            "id": id,
            "lifetimeActions": [{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}],
            "attributes": {}
        }),
    }
}

fn expiry_from_policy(key: &KvKey, created: i64) -> Option<i64> {
    let p = key.rotation_policy.as_ref()?;
    let d = parse_iso8601_duration(p.expiry_time.as_deref()?)?;
    Some(created.saturating_add(d.whole_seconds()))
}

/// Adds a version like the latest one, created at `at` (unix seconds).
fn add_version(key: &mut KvKey, at: i64) -> Option<KeyVersion> {
    let last = key.versions.last()?.clone();
    let size = last
        .material
        .get("n")
        .and_then(Value::as_str)
        .map(|n| (n.len() * 6 / 8 * 8) as u64);
    let crv = last
        .material
        .get("crv")
        .and_then(Value::as_str)
        .map(str::to_string);
    let v = KeyVersion {
        version: uuid::Uuid::new_v4().simple().to_string(),
        kty: last.kty.clone(),
        key_ops: last.key_ops.clone(),
        material: material(&last.kty, size, crv.as_deref()),
        created: at,
        updated: at,
        enabled: true,
        exp: expiry_from_policy(key, at),
        nbf: None,
        tags: last.tags.clone(),
    };
    key.versions.push(v.clone());
    Some(v)
}

/// When the rotation trigger of a version passes on the simulated clock, the next version appears.
fn due_at(key: &KvKey) -> Option<i64> {
    let p = key.rotation_policy.as_ref()?;
    let last = key.versions.last()?;
    p.lifetime_actions
        .iter()
        .filter(|a| {
            a["action"]["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("Rotate"))
        })
        .filter_map(|a| {
            if let Some(d) = a["trigger"]["timeAfterCreate"]
                .as_str()
                .and_then(parse_iso8601_duration)
            {
                Some(last.created.saturating_add(d.whole_seconds()))
            } else {
                let before = a["trigger"]["timeBeforeExpiry"]
                    .as_str()
                    .and_then(parse_iso8601_duration)?;
                Some(last.exp?.saturating_sub(before.whole_seconds()))
            }
        })
        .min()
}

/// Adds the versions whose rotation is due by `now`; returns when the next rotation is due
/// (Unix seconds), if any key has one ahead.
pub fn rotate_due(st: &mut State, now: OffsetDateTime) -> Option<i64> {
    let now = now.unix_timestamp();
    let mut next: Option<i64> = None;
    for key in st.keys.values_mut() {
        for _ in 0..MAX_ROTATIONS_PER_SETTLE {
            match due_at(key) {
                Some(at)
                    if at <= now && at > key.versions.last().map_or(i64::MIN, |v| v.created) =>
                {
                    add_version(key, at);
                }
                Some(at) if at > now => {
                    next = Some(next.map_or(at, |n| n.min(at)));
                    break;
                }
                _ => break,
            }
        }
    }
    next
}

/// The vault's ARM resource, by name.
/// Whether `id` names a key as an ARM resource (`…/Microsoft.KeyVault/vaults/{v}/keys/{k}`,
/// ARM type `Microsoft.KeyVault/vaults/keys`) that exists here. Keys live in the data-plane
/// state, so this is how extension resources such as role assignments can be scoped to a key.
pub(crate) fn key_scope_exists(st: &State, id: &str) -> bool {
    let lower = id.to_ascii_lowercase();
    let Some(rest) = lower.split("/providers/microsoft.keyvault/vaults/").nth(1) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [vault, "keys", key] => {
            find_vault(st, vault).is_some() && st.keys.contains_key(&key_index(vault, key))
        }
        _ => false,
    }
}

pub(crate) fn find_vault<'a>(st: &'a State, vault: &str) -> Option<&'a crate::state::Resource> {
    st.resources.values().find(|r| {
        r.type_name == VAULT_TYPE
            && r.body["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(vault))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_names_come_from_host() {
        assert_eq!(
            vault_from_host("myvault.vault.azure.net:8443").as_deref(),
            Some("myvault")
        );
        assert_eq!(
            vault_from_host("MyVault.vault.localhost").as_deref(),
            Some("myvault")
        );
        assert_eq!(vault_from_host("127.0.0.1:8443"), None);
        assert_eq!(vault_from_host(".vault.azure.net"), None);
    }

    #[test]
    fn rotation_happens_when_the_trigger_passes() {
        let mut st = State::default();
        let mut key = KvKey {
            vault: "v".into(),
            name: "k".into(),
            versions: Vec::new(),
            rotation_policy: None,
        };
        key.versions.push(KeyVersion {
            version: "1".into(),
            kty: "RSA".into(),
            key_ops: vec![],
            material: material("RSA", Some(2048), None),
            created: 0,
            updated: 0,
            enabled: true,
            exp: None,
            nbf: None,
            tags: None,
        });
        key.rotation_policy = Some(RotationPolicy {
            lifetime_actions: vec![
                json!({"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}}),
            ],
            expiry_time: None,
            created: 0,
            updated: 0,
        });
        st.keys.insert("v/k".into(), key);
        let day = 86_400;
        rotate_due(
            &mut st,
            OffsetDateTime::from_unix_timestamp(89 * day).expect("time"),
        );
        assert_eq!(st.keys["v/k"].versions.len(), 1);
        rotate_due(
            &mut st,
            OffsetDateTime::from_unix_timestamp(181 * day).expect("time"),
        );
        let versions = &st.keys["v/k"].versions;
        assert_eq!(versions.len(), 3);
        assert_eq!(versions[1].created, 90 * day);
        assert_eq!(versions[2].created, 180 * day);
    }
}
