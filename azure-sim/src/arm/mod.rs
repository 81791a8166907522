//! Azure Resource Manager: authentication, throttling, api-version and resource-type checks,
//! authorization, and dispatch to the resource handlers and provider rules.

mod actions;
pub mod graph;
mod groups;
mod kql;
pub mod locks;
mod ops;
mod providers;
pub mod registry;
mod resources;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use time::OffsetDateTime;

use crate::entra::{self, Audience, Identity, with_caller};
use crate::errors::{ArmError, ArmResult};
use crate::http::{Req, set_header};
use crate::ids::{self, ProviderPath, Target};
use crate::server::Shared;
use crate::state::State;
use crate::throttle::{Decision, Kind};

/// One authenticated ARM call, as the handlers need it.
pub struct Call<'a> {
    pub shared: &'a Shared,
    pub req: &'a Req,
    pub who: &'a Identity,
    pub api_version: String,
    pub now: OffsetDateTime,
}

pub fn handle(shared: &Shared, req: &Req) -> Response {
    let who = match entra::authenticate(shared, req, Audience::Arm) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let resp = match handle_authenticated(shared, req, &who) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    with_caller(resp, &who.object_id)
}

fn throttle_subscription(target: &Target) -> String {
    match target {
        Target::Subscriptions => String::new(),
        Target::Subscription { sub }
        | Target::ResourceGroups { sub }
        | Target::ResourceGroup { sub, .. }
        | Target::OperationResult { sub, .. } => sub.clone(),
        Target::Provider(p) => p.subscription.clone().unwrap_or_default(),
    }
}

fn handle_authenticated(shared: &Shared, req: &Req, who: &Identity) -> ArmResult<Response> {
    let target = ids::parse(&req.path)?;
    let kind = Kind::of(&req.method);
    let sub = throttle_subscription(&target);
    let cfg = shared.lock().config.throttle.clone();
    let remaining = match shared.throttle.take(&cfg, &sub, &who.object_id, kind) {
        Decision::Allowed { remaining } => remaining,
        Decision::Throttled { retry_after_secs } => {
            let until =
                OffsetDateTime::now_utc() + time::Duration::seconds(retry_after_secs as i64);
            return Err(ArmError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "SubscriptionRequestsThrottled",
                format!(
                    "Number of '{}' requests for subscription '{sub}' actor '{}' exceeded. Please try after '{retry_after_secs}' seconds after '{}' and refer to https://aka.ms/arm-throttling for additional information.",
                    kind.word(),
                    who.object_id,
                    crate::clock::arm_timestamp(until)
                ),
            )
            .with_header("retry-after", retry_after_secs.to_string())
            .with_header(kind.header(), "0"));
        }
    };
    let result = crate::conformance::check(
        shared.conformance,
        crate::conformance::models(),
        crate::conformance::Plane::Arm,
        req,
    )
    .and_then(|()| dispatch(shared, req, who, target));
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    set_header(&mut resp, kind.header(), &remaining.to_string());
    Ok(resp)
}

fn dispatch(shared: &Shared, req: &Req, who: &Identity, target: Target) -> ArmResult<Response> {
    let now = shared.clock.now();
    match target {
        Target::Subscriptions | Target::Subscription { .. } | Target::ResourceGroups { .. } => {
            let call = Call {
                shared,
                req,
                who,
                api_version: check_api_version(req, registry::RESOURCES, "subscriptions")?,
                now,
            };
            groups::subscriptions(&call, &target)
        }
        Target::ResourceGroup { sub, rg } => {
            let call = Call {
                shared,
                req,
                who,
                api_version: check_api_version(req, registry::RESOURCES, "resourceGroups")?,
                now,
            };
            groups::resource_group(&call, &sub, &rg)
        }
        Target::OperationResult { sub, op } => {
            let call = Call {
                shared,
                req,
                who,
                api_version: check_api_version(req, registry::RESOURCES, "operationresults")?,
                now,
            };
            ops::poll_subscription_operation(&call, &sub, &op)
        }
        Target::Provider(p) => provider(shared, req, who, p, now),
    }
}

const OPERATION_SEGMENTS: &[&str] = &["operationStatuses", "operationResults", "asyncoperations"];

fn provider(
    shared: &Shared,
    req: &Req,
    who: &Identity,
    p: ProviderPath,
    now: OffsetDateTime,
) -> ArmResult<Response> {
    if p.types.len() == 2
        && !p.is_collection()
        && p.types[0].eq_ignore_ascii_case("locations")
        && OPERATION_SEGMENTS
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&p.types[1]))
    {
        let versions = registry::namespace_versions(&p.namespace);
        let call = Call {
            shared,
            req,
            who,
            api_version: check_api_version(req, &versions, &p.namespace)?,
            now,
        };
        return ops::poll(&call, &p);
    }
    // ARM resolves the subscription before it authorizes anything in it.
    if let Some(sub) = &p.subscription
        && shared.lock().subscription(sub).is_none()
    {
        return Err(groups::subscription_not_found(sub));
    }
    if req.method == Method::POST {
        return actions::handle(shared, req, who, &p, now);
    }
    let spec = lookup_type(req, &p)?;
    let call = Call {
        shared,
        req,
        who,
        api_version: check_api_version(req, spec.api_versions, spec.name)?,
        now,
    };
    let verb = match req.method {
        Method::GET | Method::HEAD => "read",
        Method::PUT | Method::PATCH => "write",
        Method::DELETE => "delete",
        _ => {
            return Err(method_not_allowed(&req.method));
        }
    };
    let scope = if p.is_collection() {
        p.parent_id()
    } else {
        p.id()
    };
    authorize(
        &shared.lock(),
        who,
        &format!("{}/{verb}", spec.name),
        &scope,
    )?;
    if spec.read_only && matches!(req.method, Method::PUT | Method::DELETE) {
        return Err(method_not_allowed(&req.method));
    }
    // Resource Manager applies management locks before the provider sees the request; locks
    // themselves stay writable, or no lock could ever be removed.
    if !p.is_collection() && spec.name != locks::LOCK_TYPE {
        let op = match req.method {
            Method::PUT | Method::PATCH => Some(locks::Operation::Write),
            Method::DELETE => Some(locks::Operation::Delete),
            _ => None,
        };
        if let Some(op) = op {
            locks::enforce(&shared.lock(), &p.id(), op)?;
        }
    }
    match (req.method.clone(), p.is_collection()) {
        (Method::GET, true) => resources::list(&call, spec, &p),
        (Method::GET, false) => resources::get(&call, spec, &p),
        (Method::HEAD, false) => resources::get(&call, spec, &p).map(|r| {
            let mut out = crate::http::empty(r.status());
            *out.headers_mut() = r.headers().clone();
            out.headers_mut().remove(axum::http::header::CONTENT_TYPE);
            out
        }),
        (Method::PUT, false) => resources::put(&call, spec, &p),
        (Method::PATCH, false) => resources::patch(&call, spec, &p),
        (Method::DELETE, false) => resources::delete(&call, spec, &p),
        (m, _) => Err(method_not_allowed(&m)),
    }
}

pub fn method_not_allowed(m: &Method) -> ArmError {
    ArmError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("The requested resource does not support http method '{m}'."),
    )
}

fn lookup_type(req: &Req, p: &ProviderPath) -> ArmResult<&'static registry::TypeSpec> {
    if let Some(spec) = registry::lookup(&p.type_name()) {
        return Ok(spec);
    }
    let v = req.query("api-version").unwrap_or_default();
    if registry::namespace_known(&p.namespace) {
        Err(ArmError::bad_request(
            "InvalidResourceType",
            format!(
                "The resource type '{}' could not be found in the namespace '{}' for api version '{v}'.",
                p.types.join("/"),
                p.namespace
            ),
        ))
    } else {
        Err(ArmError::bad_request(
            "InvalidResourceNamespace",
            format!("The resource namespace '{}' is invalid.", p.namespace),
        ))
    }
}

pub fn check_api_version(req: &Req, versions: &[&str], what: &str) -> ArmResult<String> {
    let Some(v) = req.query("api-version") else {
        return Err(ArmError::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    if versions.iter().any(|x| x.eq_ignore_ascii_case(v)) {
        Ok(v.to_string())
    } else {
        Err(ArmError::bad_request(
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{v}' is invalid. The supported versions for '{what}' are '{}'.",
                versions.join(",")
            ),
        ))
    }
}

pub fn authorize(st: &State, who: &Identity, action: &str, scope: &str) -> ArmResult<()> {
    let scope = if scope.is_empty() { "/" } else { scope };
    if crate::authz::is_allowed(st, &who.object_id, action, scope, false) {
        return Ok(());
    }
    let client = if who.app_id.is_empty() {
        &who.object_id
    } else {
        &who.app_id
    };
    if crate::authz::granted(st, &who.object_id, action, scope, false)
        && let Some(deny) = crate::authz::denied_by(st, &who.object_id, action, scope, false)
    {
        let p = &deny.body["properties"];
        return Err(ArmError::new(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            format!(
                "The client '{client}' with object id '{}' has permission to perform action '{action}' on scope '{scope}'; however, the access is denied because of the deny assignment with name '{}' and Id '{}' at scope '{}'.",
                who.object_id,
                p["denyAssignmentName"].as_str().unwrap_or_default(),
                deny.id.rsplit('/').next().unwrap_or_default(),
                p["scope"].as_str().unwrap_or_default()
            ),
        ));
    }
    Err(ArmError::new(
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
        format!(
            "The client '{client}' with object id '{}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            who.object_id
        ),
    ))
}

/// RFC 7396 JSON merge, shared with the admin API's config updates.
pub fn merge_json(target: &mut Value, patch: &Value) {
    resources::merge(target, patch);
}

/// A fresh etag for resources a provider creates implicitly (the blob service of an account).
pub fn resources_etag(st: &mut State) -> String {
    resources::new_etag(st, registry::EtagStyle::Guid)
}

/// Writes a resource or resource group from a seed file: the same validation and computed
/// properties as a PUT, but complete at once and without a caller.
pub fn seed_write(st: &mut State, id: &str, body: Value, now: OffsetDateTime) -> ArmResult<()> {
    let Value::Object(map) = body else {
        return Err(ArmError::invalid_content(format!(
            "The seed body of '{id}' must be a JSON object."
        )));
    };
    match ids::parse(id)? {
        Target::ResourceGroup { sub, rg } => groups::write_group(st, &sub, &rg, &map).map(|_| ()),
        Target::Provider(p) if !p.is_collection() => {
            let spec = registry::lookup(&p.type_name()).ok_or_else(|| {
                ArmError::bad_request(
                    "InvalidResourceType",
                    format!("The seed resource type '{}' is not served.", p.type_name()),
                )
            })?;
            resources::apply_put(st, spec, &p, map, now, "seed").map(|_| ())
        }
        _ => Err(ArmError::bad_request(
            "InvalidResourceId",
            format!("The seed id '{id}' does not address a resource group or resource."),
        )),
    }
}
