//! One request's path through the simulator: injected faults, the body limit, the request id and
//! request log, and the routing between ARM, Entra, managed identity, Key Vault and the admin API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use crate::clock::arm_timestamp;
use crate::errors::ArmError;
use crate::faults::FaultAction;
use crate::http::{Req, parse_query, set_header};
use crate::reqlog::{Caller, LogEntry};
use crate::server::Shared;
use crate::{admin, arm, entra, keyvault};

/// The error a service returns to make hyper close the connection without answering.
#[derive(Debug)]
pub struct DroppedByFault;

impl std::fmt::Display for DroppedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DroppedByFault {}

/// Serves one request: faults first (except on the admin API), then the bounded body, then the
/// route; every answer gets a request id and a request-log entry naming the caller.
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response, DroppedByFault> {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let method = parts.method.clone();
    let mut entry = LogEntry {
        seq: 0,
        time: arm_timestamp(shared.clock.now()),
        method: method.to_string(),
        host: host.clone(),
        path: path.clone(),
        query: raw_query.clone(),
        status: 0,
        caller: None,
        request_id: request_id.clone(),
        duration_ms: 0,
        fault: None,
    };
    let is_admin = path.starts_with("/_sim/") || path == "/_sim";

    let mut fault_response = None;
    if !is_admin && let Some((id, action)) = shared.faults.take(method.as_str(), &path, false) {
        entry.fault = Some(id);
        match action {
            FaultAction::Latency { ms } => {
                tokio::time::sleep(Duration::from_millis(ms.min(600_000))).await;
            }
            FaultAction::Drop => {
                entry.duration_ms = elapsed_ms(started);
                shared.log.push(entry);
                return Err(DroppedByFault);
            }
            FaultAction::Status {
                status,
                code,
                message,
                retry_after_secs,
            } => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let msg = if message.is_empty() {
                    format!("Injected fault: {code}.")
                } else {
                    message
                };
                let mut e = ArmError::new(status, &code, msg);
                if let Some(s) = retry_after_secs {
                    e = e.with_header("retry-after", s.to_string());
                }
                fault_response = Some(e.into_response());
            }
            FaultAction::FailOperation { .. } => {}
        }
    }

    let mut resp = match fault_response {
        Some(r) => r,
        None => {
            let limit = if is_admin {
                shared.max_body_bytes.saturating_mul(8)
            } else {
                shared.max_body_bytes
            };
            match read_body(body, limit).await {
                Ok(bytes) => {
                    let r = Req {
                        method,
                        host,
                        path,
                        query: parse_query(&raw_query),
                        raw_query,
                        headers: parts.headers,
                        body: bytes,
                        request_id: request_id.clone(),
                    };
                    // A handler bug must cost one 500, not the connection or the server.
                    let task_shared = shared.clone();
                    match tokio::spawn(async move { route(&task_shared, r).await }).await {
                        Ok(resp) => resp,
                        Err(_) => ArmError::internal(
                            "The simulator failed while handling this request; see its log.",
                        )
                        .into_response(),
                    }
                }
                Err(BodyError::TooLarge) => ArmError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLarge",
                    format!("The request content length exceeds the limit of {limit} bytes."),
                )
                .into_response(),
                Err(BodyError::Unreadable) => ArmError::bad_request(
                    "InvalidRequestContent",
                    "The request body could not be read.",
                )
                .into_response(),
            }
        }
    };
    set_header(&mut resp, "x-ms-request-id", &request_id);
    set_header(&mut resp, "x-ms-correlation-request-id", &request_id);
    entry.status = resp.status().as_u16();
    entry.caller = resp.extensions().get::<Caller>().map(|c| c.0.clone());
    entry.duration_ms = elapsed_ms(started);
    shared.log.push(entry);
    Ok(resp)
}

enum BodyError {
    TooLarge,
    Unreadable,
}

/// Past this many bytes an oversized body is no longer drained and the connection just closes.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// Reads the body up to `limit`; an oversized body is read to its end (up to [`DRAIN_LIMIT`],
/// for at most 30 s) and discarded, so that ordinary clients still receive the 413.
async fn read_body(
    mut body: hyper::body::Incoming,
    limit: usize,
) -> Result<axum::body::Bytes, BodyError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::Unreadable),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(BodyError::Unreadable),
            Ok(Some(Ok(f))) => f,
        };
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen <= limit {
                buf.extend_from_slice(&data);
            } else if seen > DRAIN_LIMIT {
                return Err(BodyError::TooLarge);
            }
        }
    }
    if seen > limit {
        Err(BodyError::TooLarge)
    } else {
        Ok(axum::body::Bytes::from(buf))
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn route(shared: &Arc<Shared>, req: Req) -> Response {
    if req.path == "/_sim" || req.path.starts_with("/_sim/") {
        return admin::handle(shared, &req).await;
    }
    if let Some(vault) = keyvault::vault_from_host(&req.host) {
        return keyvault::handle(shared, &req, &vault);
    }
    if req
        .path
        .eq_ignore_ascii_case("/metadata/identity/oauth2/token")
    {
        return entra::managed_identity(shared, &req);
    }
    if let Some(r) = entra::route(shared, &req) {
        return r;
    }
    arm::handle(shared, &req)
}
