//! Microsoft Entra ID: the v2.0 token endpoint (client secret and client assertion grants),
//! the discovery documents, the managed-identity endpoint, and validation of the bearer tokens
//! presented to ARM and Key Vault.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::errors::ArmError;
use crate::http::{Req, json_response, parse_query};
use crate::jwt;
use crate::server::Shared;
use crate::state::{Principal, PrincipalType};

/// Lifetime of issued tokens, in seconds (Entra's usual figure for app tokens).
pub const TOKEN_LIFETIME_SECS: i64 = 3599;

pub const ARM_AUDIENCES: &[&str] = &[
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
];
pub const VAULT_AUDIENCES: &[&str] = &["https://vault.azure.net", "https://vault.azure.net/"];

/// Resources the token endpoint issues tokens for (scope minus `/.default`).
const KNOWN_RESOURCES: &[&str] = &[
    "https://management.azure.com",
    "https://management.core.windows.net",
    "https://vault.azure.net",
    "https://graph.microsoft.com",
];

/// The authenticated caller of an ARM or Key Vault request.
#[derive(Debug, Clone)]
pub struct Identity {
    pub object_id: String,
    pub app_id: String,
    pub tenant_id: String,
}

fn oauth_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let now = time::OffsetDateTime::now_utc();
    json_response(
        status,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code],
            "timestamp": crate::clock::arm_timestamp(now),
            "trace_id": uuid::Uuid::new_v4().to_string(),
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        }),
    )
}

/// Routes `/{tenant}/oauth2/v2.0/token`, `/{tenant}/v2.0/.well-known/openid-configuration`,
/// `/{tenant}/discovery/v2.0/keys` and `/common/discovery/instance`; `None` when the path is not Entra's.
pub fn route(shared: &Shared, req: &Req) -> Option<Response> {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        [tenant, "oauth2", "v2.0", "token"] => Some(token(shared, req, tenant)),
        [tenant, "v2.0", ".well-known", "openid-configuration"] => {
            Some(openid_configuration(shared, tenant))
        }
        [_, "discovery", "v2.0", "keys"] | ["common", "discovery", "keys"] => {
            Some(json_response(StatusCode::OK, &shared.signer.jwks()))
        }
        ["common", "discovery", "instance"] => Some(json_response(
            StatusCode::OK,
            &json!({
                "tenant_discovery_endpoint": format!("{}/common/v2.0/.well-known/openid-configuration", shared.base_url),
                "api-version": "1.1",
                "metadata": [{
                    "preferred_network": "127.0.0.1",
                    "preferred_cache": "127.0.0.1",
                    "aliases": ["127.0.0.1", "localhost"]
                }]
            }),
        )),
        _ => None,
    }
}

fn openid_configuration(shared: &Shared, tenant: &str) -> Response {
    let tid =
        if tenant.eq_ignore_ascii_case("common") || tenant.eq_ignore_ascii_case("organizations") {
            shared.lock().tenant_id.clone()
        } else {
            tenant.to_string()
        };
    let base = &shared.base_url;
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": format!("{base}/{tid}/v2.0"),
            "authorization_endpoint": format!("{base}/{tid}/oauth2/v2.0/authorize"),
            "token_endpoint": format!("{base}/{tid}/oauth2/v2.0/token"),
            "jwks_uri": format!("{base}/{tid}/discovery/v2.0/keys"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "azure-sim",
        }),
    )
}

/// Signs an access token for `principal` and `audience` (no trailing `/.default`).
pub fn issue(
    shared: &Shared,
    principal: &Principal,
    tenant: &str,
    audience: &str,
    lifetime_secs: i64,
) -> Result<String, jwt::JwtError> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now,
        "nbf": now - 300,
        "exp": now + lifetime_secs,
        "oid": principal.object_id,
        "sub": principal.object_id,
        "tid": tenant,
        "appid": principal.client_id,
        "idtyp": if principal.principal_type == PrincipalType::User { "user" } else { "app" },
        "ver": "1.0",
        "uti": uuid::Uuid::new_v4().simple().to_string(),
    });
    if let Some(rid) = &principal.resource_id {
        claims["xms_mirid"] = json!(rid);
    }
    shared.signer.sign(&claims)
}

fn scope_to_resource(scope: &str) -> Option<String> {
    let mut scopes = scope.split_whitespace();
    let first = scopes.next()?;
    if scopes.next().is_some() {
        return None;
    }
    let resource = first.strip_suffix("/.default")?;
    KNOWN_RESOURCES
        .iter()
        .find(|r| r.eq_ignore_ascii_case(resource.trim_end_matches('/')))
        .map(|r| r.to_string())
}

fn token(shared: &Shared, req: &Req, tenant: &str) -> Response {
    if req.method != Method::POST {
        return oauth_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    let ct = req.header("content-type").unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    }
    let form = parse_query(&String::from_utf8_lossy(&req.body));
    let get = |k: &str| {
        form.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
    };
    let tenant_id = shared.lock().tenant_id.clone();
    if !tenant.eq_ignore_ascii_case(&tenant_id) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    if get("grant_type") != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let Some(client_id) = get("client_id") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(resource) = get("scope").and_then(scope_to_resource) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid: '{}'.",
                get("scope").unwrap_or_default()
            ),
        );
    };
    let Some(principal) = shared.lock().principal_by_client_id(client_id).cloned() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            ),
        );
    };
    let authenticated = if let Some(secret) = get("client_secret") {
        principal.client_secret.as_deref() == Some(secret)
    } else if let Some(assertion) = get("client_assertion") {
        if get("client_assertion_type")
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50027,
                "Invalid client_assertion_type.",
            );
        }
        match federated_assertion_ok(&principal, assertion) {
            Ok(()) => true,
            Err((code, msg)) => {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_client", code, &msg);
            }
        }
    } else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    };
    if !authenticated {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
    }
    match issue(
        shared,
        &principal,
        &tenant_id,
        &resource,
        TOKEN_LIFETIME_SECS,
    ) {
        Ok(token) => with_caller(
            json_response(
                StatusCode::OK,
                &json!({
                    "token_type": "Bearer",
                    "expires_in": TOKEN_LIFETIME_SECS,
                    "ext_expires_in": TOKEN_LIFETIME_SECS,
                    "access_token": token,
                }),
            ),
            &principal.object_id,
        ),
        Err(_) => oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable",
            50000,
            "There was an error issuing a token.",
        ),
    }
}

/// Accepts a workload-identity assertion whose issuer, subject and audience match one of the
/// app's federated credentials and which has not expired. Its signature is not checked: the
/// simulator cannot fetch the cluster's service-account keys.
fn federated_assertion_ok(principal: &Principal, assertion: &str) -> Result<(), (u32, String)> {
    let invalid = |code: u32, msg: &str| Err((code, msg.to_string()));
    let Ok(claims) = jwt::unverified_claims(assertion) else {
        return invalid(50027, "JWT token is invalid or malformed.");
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if claims.get("exp").and_then(Value::as_i64).unwrap_or(0) <= now {
        return invalid(
            700024,
            "Client assertion is not within its valid time range.",
        );
    }
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    let auds: Vec<String> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let matched = principal.federated_credentials.iter().any(|fc| {
        fc.issuer == iss && fc.subject == sub && fc.audiences.iter().any(|a| auds.contains(a))
    });
    if matched {
        Ok(())
    } else {
        invalid(
            70021,
            &format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'."
            ),
        )
    }
}

pub fn with_caller(mut resp: Response, object_id: &str) -> Response {
    resp.extensions_mut()
        .insert(crate::reqlog::Caller(object_id.to_string()));
    resp
}

/// `GET /metadata/identity/oauth2/token?api-version=…&resource=…` with `Metadata: true` (IMDS) or
/// `X-IDENTITY-HEADER` (App Service style, which azure_identity uses when `IDENTITY_ENDPOINT` is set).
pub fn managed_identity(shared: &Shared, req: &Req) -> Response {
    let imds_error = |status: StatusCode, error: &str, description: &str| {
        json_response(
            status,
            &json!({"error": error, "error_description": description}),
        )
    };
    let has_metadata = req
        .header("metadata")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !has_metadata && req.header("x-identity-header").is_none() {
        return imds_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required metadata header not specified",
        );
    }
    if req.query("api-version").is_none() {
        return imds_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required query variable 'api-version' is missing",
        );
    }
    let Some(resource) = req.query("resource").map(str::to_string) else {
        return imds_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required query variable 'resource' is missing",
        );
    };
    let known = KNOWN_RESOURCES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(resource.trim_end_matches('/')));
    if !known {
        return imds_error(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            &format!(
                "AADSTS500011: The resource principal named {resource} was not found in the tenant."
            ),
        );
    }
    let st = shared.lock();
    let tenant = st.tenant_id.clone();
    let mut identities = st
        .principals
        .values()
        .filter(|p| p.principal_type == PrincipalType::ManagedIdentity);
    let selected = if let Some(cid) = req.query("client_id") {
        identities.find(|p| p.client_id.eq_ignore_ascii_case(cid))
    } else if let Some(oid) = req.query("object_id").or_else(|| req.query("principal_id")) {
        identities.find(|p| p.object_id.eq_ignore_ascii_case(oid))
    } else if let Some(rid) = req.query("msi_res_id").or_else(|| req.query("mi_res_id")) {
        identities.find(|p| {
            p.resource_id
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(rid))
        })
    } else {
        identities.next()
    }
    .cloned();
    drop(st);
    let Some(principal) = selected else {
        return imds_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Identity not found",
        );
    };
    let audience = resource.trim_end_matches('/').to_string();
    let Ok(token) = issue(shared, &principal, &tenant, &audience, TOKEN_LIFETIME_SECS) else {
        return imds_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "token signing failed",
        );
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    // IMDS sends every value as a string; token_type is added although the recorded example
    // omits it, because azure_identity requires it.
    with_caller(
        json_response(
            StatusCode::OK,
            &json!({
                "access_token": token,
                "client_id": principal.client_id,
                "expires_in": TOKEN_LIFETIME_SECS.to_string(),
                "expires_on": (now + TOKEN_LIFETIME_SECS).to_string(),
                "ext_expires_in": TOKEN_LIFETIME_SECS.to_string(),
                "not_before": now.to_string(),
                "resource": resource,
                "token_type": "Bearer",
            }),
        ),
        &principal.object_id,
    )
}

/// Which service is checking a token: the error wording and audiences differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Arm,
    KeyVault,
}

fn arm_401(code: &str, message: String, description: &str) -> ArmError {
    ArmError::new(StatusCode::UNAUTHORIZED, code, message).with_header(
        "www-authenticate",
        format!(
            "Bearer authorization_uri=\"https://login.windows.net/\", error=\"invalid_token\", error_description=\"{description}\""
        ),
    )
}

/// Validates the bearer token of a request: signature, expiry (real time), audience, tenant.
pub fn authenticate(shared: &Shared, req: &Req, audience: Audience) -> Result<Identity, ArmError> {
    let tenant = shared.lock().tenant_id.clone();
    let kv_challenge = || {
        format!(
            "Bearer authorization=\"{}/{tenant}\", resource=\"https://vault.azure.net\"",
            shared.base_url
        )
    };
    let unauthorized = |code: &str, message: String, description: &str| match audience {
        Audience::Arm => arm_401(code, message, description),
        Audience::KeyVault => ArmError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
            .with_header("www-authenticate", kv_challenge()),
    };
    let Some(header) = req.header("authorization") else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".to_string(),
            "The authentication failed because of missing 'Authorization' header.",
        ));
    };
    let Some(token) = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
    else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format."
                .to_string(),
            "The authentication failed because of invalid 'Authorization' header format.",
        ));
    };
    let claims = shared.signer.verify(token.trim()).map_err(|_| {
        unauthorized(
            "InvalidAuthenticationToken",
            "The access token is invalid.".to_string(),
            "The access token is invalid.",
        )
    })?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    if exp <= now {
        let fmt = |t: i64| {
            OffsetDateTime::from_unix_timestamp(t)
                .map(crate::clock::arm_timestamp)
                .unwrap_or_default()
        };
        return Err(unauthorized(
            "ExpiredAuthenticationToken",
            format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                fmt(exp),
                fmt(now)
            ),
            "The access token has expired.",
        ));
    }
    let aud = claims.get("aud").and_then(Value::as_str).unwrap_or("");
    let allowed = match audience {
        Audience::Arm => ARM_AUDIENCES,
        Audience::KeyVault => VAULT_AUDIENCES,
    };
    if !allowed.contains(&aud) {
        let list = allowed
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(",");
        let code = match audience {
            Audience::Arm => "InvalidAuthenticationTokenAudience",
            Audience::KeyVault => "Unauthorized",
        };
        return Err(unauthorized(
            code,
            format!(
                "The access token has been obtained for wrong audience or resource '{aud}'. It should exactly match with one of the allowed audiences {list}."
            ),
            "The access token has been obtained for wrong audience.",
        ));
    }
    let tid = claims.get("tid").and_then(Value::as_str).unwrap_or("");
    if !tid.eq_ignore_ascii_case(&tenant) {
        return Err(unauthorized(
            "InvalidAuthenticationTokenTenant",
            format!(
                "The access token is from the wrong issuer 'https://sts.windows.net/{tid}/'. It must match the tenant 'https://sts.windows.net/{tenant}/' associated with this subscription."
            ),
            "The access token is from the wrong issuer.",
        ));
    }
    Ok(Identity {
        object_id: claims
            .get("oid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        app_id: claims
            .get("appid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        tenant_id: tid.to_string(),
    })
}
