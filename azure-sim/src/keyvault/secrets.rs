//! Key Vault secrets (data plane 7.5 and 7.6): set (a new version each time), get (latest or one
//! version), list with `maxresults` paging, list versions, and update of a version's attributes,
//! content type and tags. Shapes follow GetSecret-example.json and GetSecrets-example.json:
//! a `SecretBundle` carries the value, a listed `SecretItem` does not; `exp` and `nbf` are Unix
//! seconds like the key attributes.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{kv_error, recovery_level, vault_base};
use crate::errors::ArmError;
use crate::http::{Req, json_response};
use crate::state::State;

/// Key Vault's size limit for a secret value (25 KB).
const MAX_VALUE_BYTES: usize = 25 * 1024;
/// `maxresults` of GetSecrets and GetSecretVersions runs from 1 to 25.
const MAX_RESULTS: usize = 25;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretVersion {
    pub version: String,
    pub value: String,
    #[serde(default)]
    pub content_type: Option<String>,
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
pub struct KvSecret {
    pub vault: String,
    pub name: String,
    pub versions: Vec<SecretVersion>,
}

fn index(vault: &str, name: &str) -> String {
    format!(
        "{}/{}",
        vault.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    )
}

fn not_found(name: &str) -> ArmError {
    kv_error(
        StatusCode::NOT_FOUND,
        "SecretNotFound",
        format!(
            "A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
        ),
    )
}

fn bad(message: impl Into<String>) -> ArmError {
    kv_error(StatusCode::BAD_REQUEST, "BadParameter", message)
}

fn attributes(st: &State, s: &KvSecret, v: &SecretVersion) -> Value {
    let mut a = json!({
        "enabled": v.enabled,
        "created": v.created,
        "updated": v.updated,
        "recoveryLevel": recovery_level(st, &s.vault),
        "recoverableDays": 90,
    });
    if let Some(e) = v.exp {
        a["exp"] = json!(e);
    }
    if let Some(n) = v.nbf {
        a["nbf"] = json!(n);
    }
    a
}

/// The `SecretBundle` of one version.
fn bundle(st: &State, s: &KvSecret, v: &SecretVersion) -> Value {
    let mut b = json!({
        "value": v.value,
        "id": format!("{}/secrets/{}/{}", vault_base(st, &s.vault), s.name, v.version),
        "attributes": attributes(st, s, v),
    });
    if let Some(c) = &v.content_type {
        b["contentType"] = json!(c);
    }
    if let Some(t) = &v.tags {
        b["tags"] = t.clone();
    }
    b
}

/// A `SecretItem`: the metadata a list shows, never the value.
fn item(st: &State, s: &KvSecret, v: &SecretVersion, with_version: bool) -> Value {
    let id = if with_version {
        format!(
            "{}/secrets/{}/{}",
            vault_base(st, &s.vault),
            s.name,
            v.version
        )
    } else {
        format!("{}/secrets/{}", vault_base(st, &s.vault), s.name)
    };
    let mut b = json!({"id": id, "attributes": attributes(st, s, v)});
    if let Some(c) = &v.content_type {
        b["contentType"] = json!(c);
    }
    if let Some(t) = &v.tags {
        b["tags"] = t.clone();
    }
    b
}

/// `exp` / `nbf` of a request's attributes: Unix seconds, or null to clear.
fn time_attr(attrs: &Value, field: &str, slot: &mut Option<i64>) -> Result<(), ArmError> {
    match attrs.get(field) {
        Some(Value::Null) => *slot = None,
        Some(x) => {
            *slot = Some(
                x.as_i64()
                    .ok_or_else(|| bad(format!("attributes.{field} must be Unix seconds.")))?,
            );
        }
        None => {}
    }
    Ok(())
}

/// One page of a list. The continuation names the host and port the client reached the vault at
/// (the recorded link carries `myvault.vault.azure.net:443`).
fn page(req: &Req, path: &str, all: Vec<Value>) -> Result<Value, ArmError> {
    let base = format!("https://{}", req.host);
    let max = match req.query("maxresults") {
        None => MAX_RESULTS,
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|m| (1..=MAX_RESULTS).contains(m))
            .ok_or_else(|| bad(format!("maxresults must be between 1 and {MAX_RESULTS}.")))?,
    };
    let skip = match req.query("$skiptoken") {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| bad(format!("The skip token '{t}' is not valid.")))?,
    };
    let total = all.len();
    let value: Vec<Value> = all.into_iter().skip(skip).take(max).collect();
    let next = if skip + max < total {
        json!(format!(
            "{base}{path}?api-version={}&$skiptoken={}&maxresults={max}",
            req.query("api-version").unwrap_or_default(),
            skip + max
        ))
    } else {
        Value::Null
    };
    Ok(json!({"value": value, "nextLink": next}))
}

/// The secret operations; `None` when the path is not a secrets path.
pub fn dispatch(
    st: &mut State,
    req: &Req,
    vault: &str,
    segs: &[&str],
    now: i64,
    authorize: &dyn Fn(&State, &str, &str) -> Result<(), ArmError>,
) -> Option<Result<(Response, bool), ArmError>> {
    let result = match (req.method.clone(), segs) {
        (Method::PUT, ["secrets", name]) => set(st, req, vault, name, now, authorize),
        (Method::GET, ["secrets"]) => list(st, req, vault, authorize),
        (Method::GET, ["secrets", name, "versions"]) => versions(st, req, vault, name, authorize),
        (Method::GET, ["secrets", name]) => get(st, vault, name, None, authorize),
        (Method::GET, ["secrets", name, version]) => get(
            st,
            vault,
            name,
            Some(*version).filter(|v| !v.is_empty()),
            authorize,
        ),
        (Method::PATCH, ["secrets", name]) => update(st, req, vault, name, None, now, authorize),
        (Method::PATCH, ["secrets", name, version]) => {
            update(st, req, vault, name, Some(*version), now, authorize)
        }
        _ => return None,
    };
    Some(result)
}

fn set(
    st: &mut State,
    req: &Req,
    vault: &str,
    name: &str,
    now: i64,
    authorize: &dyn Fn(&State, &str, &str) -> Result<(), ArmError>,
) -> Result<(Response, bool), ArmError> {
    authorize(
        st,
        "Microsoft.KeyVault/vaults/secrets/setSecret/action",
        "set",
    )?;
    if !(1..=127).contains(&name.len())
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(bad(format!(
            "The secret name '{name}' is invalid: 1-127 letters, digits and '-'."
        )));
    }
    let body: Map<String, Value> = req.json_object()?;
    let Some(value) = body.get("value").and_then(Value::as_str) else {
        return Err(bad("The secret needs a string 'value'."));
    };
    if value.len() > MAX_VALUE_BYTES {
        return Err(bad("A secret value can hold at most 25 KB."));
    }
    let attrs = body.get("attributes").cloned().unwrap_or(json!({}));
    let mut v = SecretVersion {
        version: uuid::Uuid::new_v4().simple().to_string(),
        value: value.to_string(),
        content_type: body
            .get("contentType")
            .and_then(Value::as_str)
            .map(str::to_string),
        created: now,
        updated: now,
        enabled: attrs["enabled"].as_bool().unwrap_or(true),
        exp: None,
        nbf: None,
        tags: body.get("tags").cloned().filter(|t| !t.is_null()),
    };
    time_attr(&attrs, "exp", &mut v.exp)?;
    time_attr(&attrs, "nbf", &mut v.nbf)?;
    let secret = st
        .secrets
        .entry(index(vault, name))
        .or_insert_with(|| KvSecret {
            vault: vault.to_string(),
            name: name.to_string(),
            versions: Vec::new(),
        });
    secret.versions.push(v.clone());
    let secret = secret.clone();
    Ok((
        json_response(StatusCode::OK, &bundle(st, &secret, &v)),
        true,
    ))
}

fn get(
    st: &State,
    vault: &str,
    name: &str,
    version: Option<&str>,
    authorize: &dyn Fn(&State, &str, &str) -> Result<(), ArmError>,
) -> Result<(Response, bool), ArmError> {
    authorize(
        st,
        "Microsoft.KeyVault/vaults/secrets/getSecret/action",
        "get",
    )?;
    let s = st
        .secrets
        .get(&index(vault, name))
        .ok_or_else(|| not_found(name))?;
    let v = match version {
        Some(ver) => s
            .versions
            .iter()
            .find(|v| v.version.eq_ignore_ascii_case(ver))
            .ok_or_else(|| not_found(&format!("{name}/{ver}")))?,
        None => s.versions.last().ok_or_else(|| not_found(name))?,
    };
    if !v.enabled {
        return Err(kv_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Operation get is not allowed on a disabled secret.",
        )
        .with_target("SecretDisabled"));
    }
    Ok((json_response(StatusCode::OK, &bundle(st, s, v)), false))
}

fn list(
    st: &State,
    req: &Req,
    vault: &str,
    authorize: &dyn Fn(&State, &str, &str) -> Result<(), ArmError>,
) -> Result<(Response, bool), ArmError> {
    authorize(
        st,
        "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        "list",
    )?;
    let prefix = format!("{}/", vault.to_ascii_lowercase());
    let all: Vec<Value> = st
        .secrets
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .filter_map(|(_, s)| Some(item(st, s, s.versions.last()?, false)))
        .collect();
    let body = page(req, "/secrets", all)?;
    Ok((json_response(StatusCode::OK, &body), false))
}

fn versions(
    st: &State,
    req: &Req,
    vault: &str,
    name: &str,
    authorize: &dyn Fn(&State, &str, &str) -> Result<(), ArmError>,
) -> Result<(Response, bool), ArmError> {
    authorize(
        st,
        "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        "list",
    )?;
    let s = st
        .secrets
        .get(&index(vault, name))
        .ok_or_else(|| not_found(name))?;
    let all: Vec<Value> = s.versions.iter().map(|v| item(st, s, v, true)).collect();
    let body = page(req, &format!("/secrets/{name}/versions"), all)?;
    Ok((json_response(StatusCode::OK, &body), false))
}

/// UpdateSecret: the attributes, content type and tags of one version (the latest without one);
/// the value cannot change this way.
fn update(
    st: &mut State,
    req: &Req,
    vault: &str,
    name: &str,
    version: Option<&str>,
    now: i64,
    authorize: &dyn Fn(&State, &str, &str) -> Result<(), ArmError>,
) -> Result<(Response, bool), ArmError> {
    authorize(
        st,
        "Microsoft.KeyVault/vaults/secrets/setSecret/action",
        "set",
    )?;
    let body: Map<String, Value> = req.json_object()?;
    let s = st
        .secrets
        .get_mut(&index(vault, name))
        .ok_or_else(|| not_found(name))?;
    let v = match version.filter(|v| !v.is_empty()) {
        Some(ver) => s
            .versions
            .iter_mut()
            .find(|v| v.version.eq_ignore_ascii_case(ver)),
        None => s.versions.last_mut(),
    }
    .ok_or_else(|| not_found(name))?;
    let attrs = body.get("attributes").cloned().unwrap_or(Value::Null);
    if let Some(e) = attrs.get("enabled").and_then(Value::as_bool) {
        v.enabled = e;
    }
    time_attr(&attrs, "exp", &mut v.exp)?;
    time_attr(&attrs, "nbf", &mut v.nbf)?;
    if let Some(c) = body.get("contentType") {
        v.content_type = c.as_str().map(str::to_string);
    }
    if let Some(t) = body.get("tags") {
        v.tags = Some(t.clone()).filter(|t| !t.is_null());
    }
    v.updated = now;
    let v = v.clone();
    let s = s.clone();
    // UpdateSecret answers with the bundle's metadata; the value is not returned.
    let mut b = bundle(st, &s, &v);
    if let Some(o) = b.as_object_mut() {
        o.remove("value");
    }
    Ok((json_response(StatusCode::OK, &b), true))
}
