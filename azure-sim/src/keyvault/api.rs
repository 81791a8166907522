//! Key Vault operations over HTTP: keys (create, get (+ versions), list, rotate, rotation policy)
//! and secrets (in `secrets`), authorized by RBAC data actions or by the vault's access policies.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{
    API_VERSIONS, KeyVersion, KvKey, RotationPolicy, add_version, bundle, expiry_from_policy,
    find_vault, key_index, kv_error, material, policy_body, vault_base,
};
use crate::clock::parse_iso8601_duration;
use crate::entra::{self, Audience, Identity, with_caller};
use crate::errors::ArmError;
use crate::http::{Req, json_response};
use crate::server::Shared;
use crate::state::State;

/// RBAC data action, or the access-policy permission when the vault does not use RBAC.
fn authorize(
    st: &State,
    who: &Identity,
    vault: &str,
    data_action: &str,
    permission: &str,
) -> Result<(), ArmError> {
    authorize_object(st, who, vault, "keys", data_action, permission)
}

/// `object` is the access-policy permission list (`keys`, `secrets`).
fn authorize_object(
    st: &State,
    who: &Identity,
    vault: &str,
    object: &str,
    data_action: &str,
    permission: &str,
) -> Result<(), ArmError> {
    let Some(v) = find_vault(st, vault) else {
        return Err(kv_error(
            StatusCode::NOT_FOUND,
            "VaultNotFound",
            format!("The vault '{vault}' does not exist."),
        ));
    };
    let location = v.body["location"].as_str().unwrap_or_default();
    let rbac = v.body["properties"]["enableRbacAuthorization"]
        .as_bool()
        .unwrap_or(false);
    let allowed = if rbac {
        crate::authz::is_allowed(st, &who.object_id, data_action, &v.id, true)
    } else {
        v.body["properties"]["accessPolicies"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|ap| {
                ap["objectId"]
                    .as_str()
                    .is_some_and(|o| o.eq_ignore_ascii_case(&who.object_id))
                    && ap["permissions"][object]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| {
                            p.as_str().is_some_and(|p| {
                                p.eq_ignore_ascii_case(permission) || p.eq_ignore_ascii_case("all")
                            })
                        })
            })
    };
    if allowed {
        return Ok(());
    }
    let caller = format!("appid={};oid={}", who.app_id, who.object_id);
    let message = if rbac {
        format!(
            "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: {caller}\r\nAction: '{data_action}'\r\nResource: '{}'\r\nAssignment: (not found)\r\nVault: {vault};location={location}\r\n",
            v.id.to_ascii_lowercase()
        )
    } else {
        format!(
            "The user, group or application '{caller}' does not have {object} {permission} permission on key vault '{vault};location={location}'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287"
        )
    };
    let inner = if rbac {
        "ForbiddenByRbac"
    } else {
        "AccessDenied"
    };
    Err(ArmError::new(StatusCode::FORBIDDEN, "Forbidden", message).with_target(inner))
}

fn respond_error(e: ArmError) -> Response {
    // Key Vault nests its reason in `innererror` rather than `target`.
    let mut body = json!({"error": {"code": e.code, "message": e.message}});
    if let Some(t) = &e.target {
        body["error"]["innererror"] = json!({"code": t});
    }
    let mut r = json_response(e.status, &body);
    for (name, value) in &e.headers {
        crate::http::set_header(&mut r, name, value);
    }
    r
}

pub fn handle(shared: &Shared, req: &Req, vault: &str) -> Response {
    let who = match entra::authenticate(shared, req, Audience::KeyVault) {
        Ok(w) => w,
        Err(e) => return respond_error(e),
    };
    let checked = crate::conformance::check(
        shared.conformance,
        crate::conformance::models(),
        crate::conformance::Plane::KeyVault,
        req,
    );
    let resp = match checked.and_then(|()| dispatch(shared, req, vault, &who)) {
        Ok(r) => r,
        Err(e) => respond_error(e),
    };
    with_caller(resp, &who.object_id)
}

fn dispatch(shared: &Shared, req: &Req, vault: &str, who: &Identity) -> Result<Response, ArmError> {
    match req.query("api-version") {
        None => {
            return Err(kv_error(
                StatusCode::BAD_REQUEST,
                "BadParameter",
                "The 'api-version' query parameter is required.",
            ));
        }
        Some(v) if !API_VERSIONS.contains(&v) => {
            return Err(kv_error(
                StatusCode::BAD_REQUEST,
                "BadParameter",
                format!(
                    "The specified version ({v}) is not recognized. Consider using the latest supported version ({}).",
                    API_VERSIONS.join(", ")
                ),
            ));
        }
        Some(_) => {}
    }
    let segs: Vec<&str> = req
        .path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let now = shared.clock.now().unix_timestamp();
    let mut st = shared.lock();
    let not_found = |name: &str| {
        kv_error(
            StatusCode::NOT_FOUND,
            "KeyNotFound",
            format!(
                "A key with (name/id) {name} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
            ),
        )
    };
    let valid_name = |n: &str| {
        (1..=127).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let allow = |st: &State, action: &str, permission: &str| {
        authorize_object(st, who, vault, "secrets", action, permission)
    };
    if let Some(done) = super::secrets::dispatch(&mut st, req, vault, &segs, now, &allow) {
        let (resp, changed) = done?;
        if changed {
            drop(st);
            shared.mark_dirty();
        }
        return Ok(resp);
    }
    match (req.method.clone(), segs.as_slice()) {
        (Method::POST, ["keys", name, "create"]) => {
            authorize(
                &st,
                who,
                vault,
                "Microsoft.KeyVault/vaults/keys/create/action",
                "create",
            )?;
            if !valid_name(name) {
                return Err(kv_error(
                    StatusCode::BAD_REQUEST,
                    "BadParameter",
                    format!("The key name '{name}' is invalid: 1-127 letters, digits and '-'."),
                ));
            }
            let body = req.json_object()?;
            let kty = body
                .get("kty")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if !["RSA", "RSA-HSM", "EC", "EC-HSM", "oct-HSM"].contains(&kty.as_str()) {
                return Err(kv_error(
                    StatusCode::BAD_REQUEST,
                    "BadParameter",
                    format!(
                        "The key type '{kty}' is not valid. Valid values: RSA, RSA-HSM, EC, EC-HSM, oct-HSM."
                    ),
                ));
            }
            let size = body.get("key_size").and_then(Value::as_u64);
            if kty.starts_with("RSA") && size.is_some_and(|s| ![2048, 3072, 4096].contains(&s)) {
                return Err(kv_error(
                    StatusCode::BAD_REQUEST,
                    "BadParameter",
                    "RSA key size must be 2048, 3072 or 4096.",
                ));
            }
            let default_ops = [
                "encrypt",
                "decrypt",
                "sign",
                "verify",
                "wrapKey",
                "unwrapKey",
            ];
            let key_ops: Vec<String> = body
                .get("key_ops")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_else(|| default_ops.iter().map(|s| s.to_string()).collect());
            let attrs = body.get("attributes").cloned().unwrap_or(json!({}));
            let idx = key_index(vault, name);
            let key = st.keys.entry(idx).or_insert_with(|| KvKey {
                vault: vault.to_string(),
                name: name.to_string(),
                versions: Vec::new(),
                rotation_policy: None,
            });
            let exp = attrs["exp"]
                .as_i64()
                .or_else(|| expiry_from_policy(key, now));
            let v = KeyVersion {
                version: uuid::Uuid::new_v4().simple().to_string(),
                kty: kty.clone(),
                key_ops,
                material: material(&kty, size, body.get("crv").and_then(Value::as_str)),
                created: now,
                updated: now,
                enabled: attrs["enabled"].as_bool().unwrap_or(true),
                exp,
                nbf: attrs["nbf"].as_i64(),
                tags: body.get("tags").cloned(),
            };
            key.versions.push(v.clone());
            let key = key.clone();
            shared.mark_keys_dirty();
            Ok(json_response(StatusCode::OK, &bundle(&st, &key, &v)))
        }
        (Method::GET, ["keys"]) => {
            authorize(
                &st,
                who,
                vault,
                "Microsoft.KeyVault/vaults/keys/read",
                "list",
            )?;
            let prefix = format!("{}/", vault.to_ascii_lowercase());
            let value: Vec<Value> = st
                .keys
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .filter_map(|(_, k)| {
                    let last = k.versions.last()?;
                    let b = bundle(&st, k, last);
                    Some(json!({"kid": format!("{}/keys/{}", vault_base(&st, &k.vault), k.name), "attributes": b["attributes"], "tags": b.get("tags").cloned().unwrap_or(Value::Null)}))
                })
                .collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({"value": value, "nextLink": null}),
            ))
        }
        (Method::GET, ["keys", name]) | (Method::GET, ["keys", name, ""]) => {
            authorize(
                &st,
                who,
                vault,
                "Microsoft.KeyVault/vaults/keys/read",
                "get",
            )?;
            let key = st
                .keys
                .get(&key_index(vault, name))
                .ok_or_else(|| not_found(name))?;
            let v = key.versions.last().ok_or_else(|| not_found(name))?;
            Ok(json_response(StatusCode::OK, &bundle(&st, key, v)))
        }
        (Method::GET, ["keys", name, "versions"]) => {
            authorize(
                &st,
                who,
                vault,
                "Microsoft.KeyVault/vaults/keys/read",
                "list",
            )?;
            let key = st
                .keys
                .get(&key_index(vault, name))
                .ok_or_else(|| not_found(name))?;
            let value: Vec<Value> = key
                .versions
                .iter()
                .map(|v| {
                    let b = bundle(&st, key, v);
                    json!({"kid": b["key"]["kid"], "attributes": b["attributes"], "tags": b.get("tags").cloned().unwrap_or(Value::Null)})
                })
                .collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({"value": value, "nextLink": null}),
            ))
        }
        (Method::GET, ["keys", name, "rotationpolicy"]) => {
            authorize(
                &st,
                who,
                vault,
                "Microsoft.KeyVault/vaults/keyrotationpolicies/read",
                "getrotationpolicy",
            )?;
            let key = st
                .keys
                .get(&key_index(vault, name))
                .ok_or_else(|| not_found(name))?;
            Ok(json_response(StatusCode::OK, &policy_body(&st, key)))
        }
        (Method::PUT, ["keys", name, "rotationpolicy"]) => {
            authorize(
                &st,
                who,
                vault,
                "Microsoft.KeyVault/vaults/keyrotationpolicies/write",
                "setrotationpolicy",
            )?;
            let body = req.json_object()?;
            let (actions, expiry) = validate_policy(&body)?;
            let key = st
                .keys
                .get_mut(&key_index(vault, name))
                .ok_or_else(|| not_found(name))?;
            let created = key.rotation_policy.as_ref().map_or(now, |p| p.created);
            key.rotation_policy = Some(RotationPolicy {
                lifetime_actions: actions,
                expiry_time: expiry,
                created,
                updated: now,
            });
            let key = key.clone();
            let out = policy_body(&st, &key);
            drop(st);
            shared.mark_keys_dirty();
            Ok(json_response(StatusCode::OK, &out))
        }
        (Method::POST, ["keys", name, "rotate"]) => {
            authorize(
                &st,
                who,
                vault,
                "Microsoft.KeyVault/vaults/keys/rotate/action",
                "rotate",
            )?;
            let key = st
                .keys
                .get_mut(&key_index(vault, name))
                .ok_or_else(|| not_found(name))?;
            let v = add_version(key, now).ok_or_else(|| not_found(name))?;
            let key = key.clone();
            shared.mark_keys_dirty();
            Ok(json_response(StatusCode::OK, &bundle(&st, &key, &v)))
        }
        (Method::GET, ["keys", name, version]) => {
            authorize(
                &st,
                who,
                vault,
                "Microsoft.KeyVault/vaults/keys/read",
                "get",
            )?;
            let key = st
                .keys
                .get(&key_index(vault, name))
                .ok_or_else(|| not_found(name))?;
            let v = key
                .versions
                .iter()
                .find(|v| v.version.eq_ignore_ascii_case(version))
                .ok_or_else(|| not_found(&format!("{name}/{version}")))?;
            Ok(json_response(StatusCode::OK, &bundle(&st, key, v)))
        }
        // UpdateKey: attributes (enabled, exp, nbf), key_ops and tags of one version (the latest
        // when no version is given).
        (Method::PATCH, ["keys", name]) | (Method::PATCH, ["keys", name, _]) => {
            authorize(
                &st,
                who,
                vault,
                "Microsoft.KeyVault/vaults/keys/update/action",
                "update",
            )?;
            let body = req.json_object()?;
            let wanted = segs.get(2).copied();
            let key = st
                .keys
                .get_mut(&key_index(vault, name))
                .ok_or_else(|| not_found(name))?;
            let v = match wanted {
                Some(ver) => key
                    .versions
                    .iter_mut()
                    .find(|v| v.version.eq_ignore_ascii_case(ver)),
                None => key.versions.last_mut(),
            }
            .ok_or_else(|| not_found(name))?;
            let attrs = body.get("attributes").cloned().unwrap_or(Value::Null);
            if let Some(e) = attrs.get("enabled").and_then(Value::as_bool) {
                v.enabled = e;
            }
            for (field, slot) in [("exp", &mut v.exp), ("nbf", &mut v.nbf)] {
                match attrs.get(field) {
                    Some(Value::Null) => *slot = None,
                    Some(x) => {
                        *slot = Some(x.as_i64().ok_or_else(|| {
                            kv_error(
                                StatusCode::BAD_REQUEST,
                                "BadParameter",
                                format!("attributes.{field} must be Unix seconds."),
                            )
                        })?)
                    }
                    None => {}
                }
            }
            if let Some(ops) = body.get("key_ops").and_then(Value::as_array) {
                v.key_ops = ops
                    .iter()
                    .filter_map(|o| o.as_str().map(str::to_string))
                    .collect();
            }
            if let Some(t) = body.get("tags") {
                v.tags = Some(t.clone());
            }
            v.updated = now;
            let v = v.clone();
            let key = key.clone();
            shared.mark_keys_dirty();
            Ok(json_response(StatusCode::OK, &bundle(&st, &key, &v)))
        }
        _ => Err(kv_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "The operation {} {} is not supported by this Key Vault simulator.",
                req.method, req.path
            ),
        )),
    }
}

/// Checks a rotation policy like Key Vault: ISO-8601 triggers, Rotate/Notify, sane minimums.
fn validate_policy(
    body: &serde_json::Map<String, Value>,
) -> Result<(Vec<Value>, Option<String>), ArmError> {
    let bad = |m: String| kv_error(StatusCode::BAD_REQUEST, "BadParameter", m);
    let actions = body
        .get("lifetimeActions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let expiry = body
        .get("attributes")
        .and_then(|a| a.get("expiryTime"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(e) = &expiry {
        let d = parse_iso8601_duration(e).ok_or_else(|| {
            bad(format!(
                "Invalid expiryTime '{e}': expected an ISO 8601 duration such as P2Y."
            ))
        })?;
        if d < time::Duration::days(28) {
            return Err(bad(
                "expiryTime must be at least 28 days (P28D).".to_string()
            ));
        }
    }
    for a in &actions {
        let kind = a["action"]["type"].as_str().unwrap_or_default();
        if !kind.eq_ignore_ascii_case("Rotate") && !kind.eq_ignore_ascii_case("Notify") {
            return Err(bad(format!(
                "Invalid lifetime action type '{kind}': expected Rotate or Notify."
            )));
        }
        let after = a["trigger"]["timeAfterCreate"].as_str();
        let before = a["trigger"]["timeBeforeExpiry"].as_str();
        let (which, value) = match (after, before) {
            (Some(v), None) => ("timeAfterCreate", v),
            (None, Some(v)) => ("timeBeforeExpiry", v),
            _ => return Err(bad("Each lifetime action trigger needs exactly one of timeAfterCreate and timeBeforeExpiry.".to_string())),
        };
        let d = parse_iso8601_duration(value).ok_or_else(|| {
            bad(format!(
                "Invalid {which} '{value}': expected an ISO 8601 duration such as P90D."
            ))
        })?;
        if d < time::Duration::days(7) {
            return Err(bad(format!("{which} must be at least 7 days (P7D).")));
        }
        if which == "timeBeforeExpiry" && expiry.is_none() && kind.eq_ignore_ascii_case("Rotate") {
            return Err(bad(
                "A Rotate action triggered by timeBeforeExpiry needs attributes.expiryTime."
                    .to_string(),
            ));
        }
    }
    Ok((actions, expiry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_validated() {
        let ok = json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}}], "attributes": {"expiryTime": "P2Y"}});
        assert!(validate_policy(ok.as_object().expect("object")).is_ok());
        let short = json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P1D"}, "action": {"type": "Rotate"}}]});
        assert!(validate_policy(short.as_object().expect("object")).is_err());
        let both = json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P9D", "timeBeforeExpiry": "P9D"}, "action": {"type": "Rotate"}}]});
        assert!(validate_policy(both.as_object().expect("object")).is_err());
    }
}
