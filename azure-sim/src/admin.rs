//! The admin API under `/_sim/`: seed, reset, state dump, clock, runtime config, faults, the
//! request log, and token minting for tests. Not part of Azure; unauthenticated, loopback only.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock::{arm_timestamp, parse_iso8601_duration};
use crate::errors::ArmError;
use crate::faults::FaultRule;
use crate::http::{Req, json_response};
use crate::server::Shared;
use crate::state::RuntimeConfig;

fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, &v)
}

fn bad(msg: impl Into<String>) -> Response {
    ArmError::bad_request("InvalidAdminRequest", msg).into_response()
}

fn parse_json<T: for<'de> Deserialize<'de>>(req: &Req) -> Result<T, String> {
    serde_json::from_slice(&req.body).map_err(|e| format!("invalid JSON body: {e}"))
}

pub async fn handle(shared: &Arc<Shared>, req: &Req) -> Response {
    let path = req.path.trim_end_matches('/');
    let segs: Vec<&str> = path
        .trim_start_matches("/_sim")
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match (req.method.clone(), segs.as_slice()) {
        (Method::GET, ["health"]) => ok(json!({"status": "ok"})),
        (Method::GET, ["info"]) => ok(info(shared)),
        (Method::POST, ["seed"]) => seed(shared, req),
        (Method::POST, ["reset"]) => match shared.reset() {
            Ok(()) => ok(json!({"reset": true})),
            Err(e) => bad(e),
        },
        (Method::GET, ["state"]) => {
            let mut snapshot = shared.lock().clone();
            snapshot.clock_offset_ms = shared.clock.offset_ms();
            match serde_json::to_value(&snapshot) {
                Ok(v) => ok(v),
                Err(e) => ArmError::internal(e.to_string()).into_response(),
            }
        }
        (Method::GET, ["clock"]) => ok(clock(shared)),
        (Method::POST, ["clock", "advance"]) => advance(shared, req),
        (Method::PUT, ["clock"]) => set_clock(shared, req),
        (Method::GET, ["config"]) => {
            ok(serde_json::to_value(&shared.lock().config).unwrap_or(Value::Null))
        }
        (Method::PUT, ["config"]) => put_config(shared, req),
        (Method::GET, ["throttle"]) => ok(json!({"throttled": shared.throttle.throttled()})),
        (Method::GET, ["faults"]) => ok(json!({"value": shared.faults.list()})),
        (Method::POST, ["faults"]) => match parse_json::<FaultRule>(req) {
            Ok(rule) => json_response(
                StatusCode::CREATED,
                &serde_json::to_value(shared.faults.add(rule)).unwrap_or(Value::Null),
            ),
            Err(e) => bad(e),
        },
        (Method::DELETE, ["faults"]) => {
            shared.faults.clear();
            ok(json!({"cleared": true}))
        }
        (Method::DELETE, ["faults", id]) => {
            if shared.faults.remove(id) {
                ok(json!({"deleted": id}))
            } else {
                ArmError::new(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("No fault rule '{id}'."),
                )
                .into_response()
            }
        }
        (Method::GET, ["requests"]) => ok(requests(shared, req)),
        (Method::DELETE, ["requests"]) => {
            shared.log.clear();
            ok(json!({"cleared": true}))
        }
        (Method::POST, ["tokens"]) => mint(shared, req),
        _ => ArmError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("No admin endpoint {} {}.", req.method, req.path),
        )
        .into_response(),
    }
}

/// Merges the given fields into the runtime config (JSON merge), so a test can change one knob.
fn put_config(shared: &Shared, req: &Req) -> Response {
    let patch: Value = match parse_json(req) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    if !patch.is_object() {
        return bad("the config must be a JSON object");
    }
    let mut st = shared.lock();
    let mut current = serde_json::to_value(&st.config).unwrap_or(Value::Null);
    crate::arm::merge_json(&mut current, &patch);
    match serde_json::from_value::<RuntimeConfig>(current) {
        Ok(c) => {
            st.config = c.clone();
            drop(st);
            shared.throttle.reset();
            shared.log.set_capacity(c.request_log_entries);
            shared.mark_keys_dirty();
            ok(serde_json::to_value(c).unwrap_or(Value::Null))
        }
        Err(e) => bad(format!("invalid config: {e}")),
    }
}

fn info(shared: &Shared) -> Value {
    let tenant = shared.lock().tenant_id.clone();
    json!({
        "armEndpoint": shared.base_url,
        "authorityHost": shared.base_url,
        "tenantId": tenant,
        "tokenEndpoint": format!("{}/{tenant}/oauth2/v2.0/token", shared.base_url),
        "managedIdentityEndpoint": format!("{}/metadata/identity/oauth2/token", shared.base_url),
        "keyVaultUrlTemplate": format!("https://{{vault}}.vault.azure.net:{}", shared.port),
        "caPath": shared.ca_path,
        "adminApi": format!("{}/_sim", shared.base_url),
    })
}

fn seed(shared: &Shared, req: &Req) -> Response {
    let text = String::from_utf8_lossy(&req.body);
    let parsed = match crate::seed::parse(&text) {
        Ok(s) => s,
        Err(e) => return bad(e.to_string()),
    };
    let now = shared.clock.now();
    let mut st = shared.lock();
    // Apply to a copy so a seed that fails half-way changes nothing.
    let mut next = st.clone();
    match crate::seed::apply(&mut next, &parsed, now) {
        Ok(()) => {
            *st = next;
            drop(st);
            shared.mark_keys_dirty();
            ok(json!({
                "subscriptions": parsed.subscriptions.len(),
                "principals": parsed.principals.len(),
                "resourceGroups": parsed.resource_groups.len(),
                "resources": parsed.resources.len(),
                "roleAssignments": parsed.role_assignments.len(),
            }))
        }
        // Whatever ARM would have answered, a seed that does not apply is a bad admin request.
        Err(e) => ArmError {
            status: StatusCode::BAD_REQUEST,
            ..e
        }
        .into_response(),
    }
}

fn clock(shared: &Shared) -> Value {
    json!({"now": arm_timestamp(shared.clock.now()), "offsetMs": shared.clock.offset_ms()})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: Option<i64>,
    duration: Option<String>,
}

fn advance(shared: &Shared, req: &Req) -> Response {
    let a: Advance = match parse_json(req) {
        Ok(a) => a,
        Err(e) => return bad(e),
    };
    let by = match (a.seconds, a.duration.as_deref()) {
        (Some(s), None) if s >= 0 => time::Duration::seconds(s),
        (None, Some(d)) => match parse_iso8601_duration(d) {
            Some(d) => d,
            None => return bad(format!("'{d}' is not an ISO 8601 duration")),
        },
        _ => return bad("give exactly one of a non-negative 'seconds' or an ISO 8601 'duration'"),
    };
    shared.clock.advance(by);
    // Completing operations and rotations now keeps dumps and logs consistent with the clock.
    drop(shared.lock());
    shared.mark_keys_dirty();
    ok(clock(shared))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetClock {
    now: String,
}

fn set_clock(shared: &Shared, req: &Req) -> Response {
    let s: SetClock = match parse_json(req) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    match time::OffsetDateTime::parse(&s.now, &time::format_description::well_known::Rfc3339) {
        Ok(t) => {
            shared.clock.set(t);
            drop(shared.lock());
            shared.mark_keys_dirty();
            ok(clock(shared))
        }
        Err(e) => bad(format!("'now' must be RFC 3339: {e}")),
    }
}

fn requests(shared: &Shared, req: &Req) -> Value {
    let method = req.query("method").map(str::to_ascii_uppercase);
    let path = req.query("path").map(str::to_string);
    let caller = req.query("caller").map(str::to_ascii_lowercase);
    let since: u64 = req.query("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let value: Vec<_> = shared
        .log
        .entries()
        .into_iter()
        .filter(|e| e.seq > since)
        .filter(|e| !e.path.starts_with("/_sim"))
        .filter(|e| method.as_deref().is_none_or(|m| e.method == m))
        .filter(|e| {
            path.as_deref()
                .is_none_or(|p| crate::authz::action_matches(p, &e.path))
        })
        .filter(|e| {
            caller.as_deref().is_none_or(|c| {
                e.caller
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(c))
            })
        })
        .collect();
    json!({"count": value.len(), "value": value})
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Mint {
    object_id: Option<String>,
    client_id: Option<String>,
    #[serde(default = "default_audience")]
    audience: String,
    #[serde(default = "default_lifetime")]
    lifetime_seconds: i64,
}

fn default_audience() -> String {
    "https://management.azure.com".to_string()
}

fn default_lifetime() -> i64 {
    crate::entra::TOKEN_LIFETIME_SECS
}

/// Issues a token without a credential exchange; a negative lifetime gives an expired token.
fn mint(shared: &Shared, req: &Req) -> Response {
    let m: Mint = match parse_json(req) {
        Ok(m) => m,
        Err(e) => return bad(e),
    };
    let st = shared.lock();
    let principal = match (&m.object_id, &m.client_id) {
        (Some(o), _) => st.principal(o).cloned(),
        (None, Some(c)) => st.principal_by_client_id(c).cloned(),
        (None, None) => return bad("give 'objectId' or 'clientId'"),
    };
    let tenant = st.tenant_id.clone();
    drop(st);
    let Some(p) = principal else {
        return ArmError::new(
            StatusCode::NOT_FOUND,
            "PrincipalNotFound",
            "No such principal in the simulator.",
        )
        .into_response();
    };
    match crate::entra::issue(shared, &p, &tenant, &m.audience, m.lifetime_seconds) {
        Ok(t) => {
            ok(json!({"access_token": t, "token_type": "Bearer", "expires_in": m.lifetime_seconds}))
        }
        Err(e) => ArmError::internal(e.to_string()).into_response(),
    }
}
