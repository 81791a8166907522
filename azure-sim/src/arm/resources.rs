//! Generic resource handlers: PUT (create/replace), PATCH (merge), GET, LIST and DELETE with
//! ETag / If-Match, provisioning states and each provider's long-running-operation style.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::registry::{EtagStyle, PatchScope, TypeSpec};
use super::{Call, groups, providers};
use crate::errors::{ArmError, ArmResult};
use crate::faults::FaultAction;
use crate::http::{empty, json_response, set_header};
use crate::ids::{ProviderPath, lower};
use crate::lro::{self, OpError, OpKind, Operation, Style};
use crate::state::{Resource, State};

/// Top-level keys a PUT body may carry; everything else is ignored as ARM ignores unknown fields.
const WRITABLE: &[&str] = &[
    "location",
    "extendedLocation",
    "kind",
    "sku",
    "identity",
    "tags",
    "zones",
    "plan",
    "properties",
];

const RUNNING: &[&str] = &[
    "Creating",
    "ProvisioningAccount",
    "Updating",
    "Deleting",
    "Accepted",
    "Provisioning",
];

/// The 404 for a missing resource, naming the first missing level like ARM does.
pub fn missing(st: &State, p: &ProviderPath, spec: &TypeSpec) -> ArmError {
    if let Some(sub) = &p.subscription
        && st.subscription(sub).is_none()
    {
        return groups::subscription_not_found(sub);
    }
    if let (Some(sub), Some(rg)) = (&p.subscription, &p.resource_group)
        && st
            .get(&format!("/subscriptions/{sub}/resourceGroups/{rg}"))
            .is_none()
    {
        return groups::group_not_found(rg);
    }
    // A nested resource whose parent is gone: ARM says so, not that the child is missing.
    let parent = p.parent_id();
    if lower(&parent).contains("/providers/")
        && parent != p.scope
        && st.get(&parent).is_none()
        && !crate::keyvault::key_scope_exists(st, &parent)
    {
        let parent_name = parent.rsplit('/').next().unwrap_or_default();
        return ArmError::new(
            StatusCode::NOT_FOUND,
            "ParentResourceNotFound",
            format!(
                "Can not perform requested operation on nested resource. Parent resource '{parent_name}' not found."
            ),
        );
    }
    let name = p.names.join("/");
    // Authorization answers for its own resources with codes of its own.
    if spec
        .name
        .eq_ignore_ascii_case("Microsoft.Authorization/roleAssignments")
    {
        return ArmError::new(
            StatusCode::NOT_FOUND,
            "RoleAssignmentNotFound",
            format!("The role assignment '{name}' is not found."),
        );
    }
    ArmError::not_found(spec.name, &name, p.resource_group.as_deref())
}

/// Checks that everything this resource hangs from exists.
fn ensure_parent(st: &State, p: &ProviderPath, spec: &TypeSpec) -> ArmResult<()> {
    if let Some(sub) = &p.subscription
        && st.subscription(sub).is_none()
    {
        return Err(groups::subscription_not_found(sub));
    }
    if let (Some(sub), Some(rg)) = (&p.subscription, &p.resource_group)
        && st
            .get(&format!("/subscriptions/{sub}/resourceGroups/{rg}"))
            .is_none()
    {
        return Err(groups::group_not_found(rg));
    }
    let parent = p.parent_id();
    let parent_is_resource = lower(&parent).contains("/providers/");
    if parent_is_resource
        && st.get(&parent).is_none()
        && !crate::keyvault::key_scope_exists(st, &parent)
    {
        if parent == p.scope {
            return Err(ArmError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                format!("The Resource '{parent}' was not found."),
            ));
        }
        let parent_name = parent.rsplit('/').next().unwrap_or_default();
        return Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "ParentResourceNotFound",
            format!(
                "Can not perform requested operation on nested resource. Parent resource '{parent_name}' not found."
            ),
        ));
    }
    if let Some(fixed) = spec.fixed_name
        && !p.name().is_some_and(|n| n.eq_ignore_ascii_case(fixed))
    {
        return Err(ArmError::bad_request(
            "InvalidResourceName",
            format!(
                "The resource name '{}' is invalid for type '{}': it must be '{fixed}'.",
                p.name().unwrap_or_default(),
                spec.name
            ),
        ));
    }
    Ok(())
}

fn normalize_etag(e: &str) -> &str {
    e.trim().trim_start_matches("W/").trim_matches('"')
}

/// If-Match and If-None-Match against the stored resource (412 on mismatch).
fn check_preconditions(call: &Call<'_>, existing: Option<&Resource>) -> ArmResult<()> {
    let failed = |detail: String| {
        ArmError::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            detail,
        )
    };
    if let Some(im) = call.req.header("if-match") {
        match existing {
            None => {
                return Err(failed(
                    "The condition specified using HTTP conditional header(s) is not met: the resource does not exist.".to_string(),
                ));
            }
            Some(r) if im.trim() != "*" && normalize_etag(im) != normalize_etag(&r.etag) => {
                return Err(failed(format!(
                    "The condition specified using HTTP conditional header(s) is not met: If-Match '{im}' does not match the current ETag '{}'.",
                    r.etag
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(inm) = call.req.header("if-none-match")
        && inm.trim() == "*"
        && existing.is_some()
    {
        return Err(failed(
            "The condition specified using HTTP conditional header(s) is not met: the resource already exists.".to_string(),
        ));
    }
    Ok(())
}

fn conflict_if_running(r: &Resource) -> ArmResult<()> {
    let state = r.body["properties"]["provisioningState"]
        .as_str()
        .unwrap_or_default();
    if RUNNING.contains(&state) {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Another operation on resource '{}' is in progress (provisioningState '{state}'). Retry after it completes.",
                r.id
            ),
        ));
    }
    Ok(())
}

pub fn new_etag(st: &mut State, style: EtagStyle) -> String {
    let n = st.next_etag_seed();
    match style {
        EtagStyle::Hex => format!("\"8d{:013x}\"", n.wrapping_mul(0x9e37_79b9)),
        EtagStyle::WeakGuid => format!("W/\"{}\"", uuid::Uuid::new_v4()),
        EtagStyle::Guid | EtagStyle::None => format!("\"{}\"", uuid::Uuid::new_v4()),
    }
}

/// Fills `principalId` / `tenantId` of a system-assigned identity, keeping an earlier one.
fn fill_identity(body: &mut Value, previous: Option<&Value>, tenant: &str) {
    let Some(identity) = body.get_mut("identity").and_then(Value::as_object_mut) else {
        return;
    };
    // Each user-assigned identity reports its principal and client ids (stable per identity).
    if let Some(uais) = identity
        .get_mut("userAssignedIdentities")
        .and_then(Value::as_object_mut)
    {
        for (uai_id, v) in uais.iter_mut() {
            let key = uai_id.to_ascii_lowercase();
            let principal = uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                format!("principal:{key}").as_bytes(),
            );
            let client = uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                format!("client:{key}").as_bytes(),
            );
            *v = json!({"principalId": principal.to_string(), "clientId": client.to_string()});
        }
    }
    let system = identity
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.to_ascii_lowercase().contains("systemassigned"));
    if !system {
        identity.remove("principalId");
        identity.remove("tenantId");
        return;
    }
    let kept = previous
        .and_then(|p| p.get("principalId"))
        .and_then(Value::as_str)
        .map(str::to_string);
    identity.insert(
        "principalId".into(),
        json!(kept.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())),
    );
    identity.insert("tenantId".into(), json!(tenant));
}

/// Stores a stamped resource body: etag, identity, provisioning state.
/// ARM's `systemData`: who created and last modified the resource, and when.
fn system_data(
    st: &State,
    previous: Option<&Resource>,
    caller: &str,
    now: OffsetDateTime,
) -> Value {
    let by_type = match st.principal(caller).map(|p| p.principal_type) {
        Some(crate::state::PrincipalType::User) => "User",
        Some(crate::state::PrincipalType::ManagedIdentity) => "ManagedIdentity",
        _ => "Application",
    };
    let ts = crate::clock::arm_timestamp(now);
    let created = previous
        .map(|p| p.body["systemData"].clone())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"createdBy": caller, "createdByType": by_type, "createdAt": ts}));
    json!({
        "createdBy": created["createdBy"],
        "createdByType": created["createdByType"],
        "createdAt": created["createdAt"],
        "lastModifiedBy": caller,
        "lastModifiedByType": by_type,
        "lastModifiedAt": ts,
    })
}

fn store(
    st: &mut State,
    spec: &TypeSpec,
    id: String,
    mut body: Value,
    previous: Option<&Resource>,
    caller: &str,
    now: OffsetDateTime,
) -> Resource {
    let tenant = st.tenant_id.clone();
    fill_identity(
        &mut body,
        previous.and_then(|p| p.body.get("identity")),
        &tenant,
    );
    if spec.provisioning_state {
        if !body.get("properties").is_some_and(Value::is_object) {
            body["properties"] = json!({});
        }
        body["properties"]["provisioningState"] = json!("Succeeded");
    }
    let etag = new_etag(st, spec.etag);
    if spec.etag != EtagStyle::None {
        body["etag"] = json!(etag);
    }
    body["systemData"] = system_data(st, previous, caller, now);
    let r = Resource {
        id: id.clone(),
        type_name: spec.name.to_string(),
        body,
        etag,
        last_modified_by: caller.to_string(),
    };
    st.resources.insert(lower(&id), r.clone());
    r
}

/// Outcome of a PUT applied to the state.
pub struct Written {
    pub resource: Resource,
    pub created: bool,
}

/// Validates and writes a PUT body: the shared part of ARM PUTs and seeding.
pub fn apply_put(
    st: &mut State,
    spec: &TypeSpec,
    p: &ProviderPath,
    body: Map<String, Value>,
    now: OffsetDateTime,
    caller: &str,
) -> ArmResult<Written> {
    ensure_parent(st, p, spec)?;
    let id = p.id();
    let existing = st.get(&id).cloned();
    if spec.requires_location && !body.get("location").is_some_and(Value::is_string) {
        return Err(ArmError::bad_request(
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    }
    if let Some(props) = body.get("properties")
        && !props.is_object()
    {
        return Err(ArmError::invalid_content(
            "'properties' must be a JSON object.",
        ));
    }
    if let Some(tags) = body.get("tags")
        && !(tags.is_object() || tags.is_null())
    {
        return Err(ArmError::invalid_content("'tags' must be a JSON object."));
    }
    let id = existing.as_ref().map(|e| e.id.clone()).unwrap_or(id);
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.insert("name".into(), json!(p.name().unwrap_or_default()));
    out.insert("type".into(), json!(spec.name));
    for k in WRITABLE {
        if let Some(v) = body.get(*k) {
            out.insert((*k).to_string(), v.clone());
        }
    }
    let mut out = Value::Object(out);
    if let Some(props) = out.get_mut("properties").and_then(Value::as_object_mut) {
        props.remove("provisioningState");
    }
    providers::on_put(st, spec, p, existing.as_ref(), &mut out, now)?;
    let r = store(st, spec, id, out, existing.as_ref(), caller, now);
    providers::after_write(st, spec, &r, existing.as_ref(), now);
    Ok(Written {
        resource: st.get(&r.id).cloned().unwrap_or(r),
        created: existing.is_none(),
    })
}

fn location_of(st: &State, id: &str, body: &Value) -> String {
    if let Some(l) = body.get("location").and_then(Value::as_str) {
        return l.replace(' ', "").to_ascii_lowercase();
    }
    // Child resources report their operations in the region of their top-level resource.
    let mut cur = id.to_string();
    while let Some(idx) = cur.rfind('/') {
        cur.truncate(idx);
        if let Some(l) = st
            .get(&cur)
            .and_then(|r| r.body.get("location"))
            .and_then(Value::as_str)
        {
            return l.replace(' ', "").to_ascii_lowercase();
        }
    }
    "eastus".to_string()
}

/// Turns a completed write into the provider's response: synchronous, or the start of a
/// long-running operation with its headers.
/// How a write answers: the provider's style, the kind of operation, the synchronous status.
struct Reply {
    style: Style,
    kind: OpKind,
    status: StatusCode,
}

fn respond_write(
    call: &Call<'_>,
    st: &mut State,
    spec: &TypeSpec,
    p: &ProviderPath,
    reply: Reply,
    resource: Resource,
) -> Response {
    let Reply {
        style,
        kind,
        status: sync_status,
    } = reply;
    let include_etag = spec.etag != EtagStyle::None;
    if style == Style::Sync || p.subscription.is_none() {
        let mut resp = json_response(sync_status, &resource.body);
        if include_etag {
            set_header(&mut resp, "etag", &resource.etag);
        }
        return resp;
    }
    let planned_error =
        match call
            .shared
            .faults
            .take(call.req.method.as_str(), &call.req.path, true)
        {
            Some((_, FaultAction::FailOperation { code, message })) => Some(OpError {
                message: if message.is_empty() {
                    format!("The operation failed: {code}.")
                } else {
                    message
                },
                code,
            }),
            _ => None,
        };
    let op = lro::start(
        st,
        Operation {
            id: uuid::Uuid::new_v4().to_string(),
            resource_id: resource.id.clone(),
            kind,
            namespace: p.namespace.clone(),
            location: location_of(st, &resource.id, &resource.body),
            subscription: p.subscription.clone().unwrap_or_default(),
            api_version: call.api_version.clone(),
            started_ms: 0,
            completes_ms: 0,
            status: lro::OpStatus::InProgress,
            planned_error,
            error: None,
        },
        call.now,
    );
    let base = &call.shared.base_url;
    let retry = st.config.lro_retry_after_secs.to_string();
    let current = st.get(&resource.id).map(|r| r.body.clone());
    let mut resp = match style {
        Style::AsyncOperation => {
            let body = current.unwrap_or(resource.body);
            let mut r = json_response(sync_status, &body);
            set_header(&mut r, "azure-asyncoperation", &op.status_url(base));
            r
        }
        Style::Location => {
            let mut r = empty(StatusCode::ACCEPTED);
            set_header(&mut r, "location", &op.result_url(base));
            r
        }
        Style::Both | Style::Sync => {
            let mut r = empty(StatusCode::ACCEPTED);
            set_header(&mut r, "azure-asyncoperation", &op.status_url(base));
            set_header(&mut r, "location", &op.result_url(base));
            r
        }
    };
    set_header(&mut resp, "retry-after", &retry);
    if include_etag && kind != OpKind::Delete {
        set_header(&mut resp, "etag", &resource.etag);
    }
    resp
}

pub fn put(call: &Call<'_>, spec: &TypeSpec, p: &ProviderPath) -> ArmResult<Response> {
    let body = call.req.json_object()?;
    let mut st = call.shared.lock();
    let existing = st.get(&p.id()).cloned();
    check_preconditions(call, existing.as_ref())?;
    if let Some(e) = &existing {
        conflict_if_running(e)?;
    }
    let w = apply_put(&mut st, spec, p, body, call.now, &call.who.object_id)?;
    call.shared.mark_dirty();
    let (style, kind, status) = if w.created {
        (
            spec.create,
            OpKind::Create,
            StatusCode::from_u16(spec.created_status).unwrap_or(StatusCode::CREATED),
        )
    } else {
        (
            spec.update,
            OpKind::Update,
            StatusCode::from_u16(spec.updated_status).unwrap_or(StatusCode::OK),
        )
    };
    let reply = Reply {
        style,
        kind,
        status,
    };
    Ok(respond_write(call, &mut st, spec, p, reply, w.resource))
}

/// RFC 7396 merge of `patch` into `target`.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(pm)) => {
            for (k, v) in pm {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

pub fn patch(call: &Call<'_>, spec: &TypeSpec, p: &ProviderPath) -> ArmResult<Response> {
    if spec.patch_scope == PatchScope::None {
        return Err(super::method_not_allowed(&call.req.method));
    }
    let body = call.req.json_object()?;
    let mut st = call.shared.lock();
    let existing = st
        .get(&p.id())
        .cloned()
        .ok_or_else(|| missing(&st, p, spec))?;
    check_preconditions(call, Some(&existing))?;
    conflict_if_running(&existing)?;
    let mut merged = existing.body.clone();
    let keys: &[&str] = match spec.patch_scope {
        PatchScope::TagsAndIdentity => &["tags", "identity"],
        PatchScope::Tags => &["tags"],
        _ => &["tags", "identity", "sku", "kind", "properties"],
    };
    for k in keys {
        let Some(v) = body.get(*k) else { continue };
        match *k {
            // Tags and identity are replaced whole, as ARM does for PATCH.
            "tags" | "identity" | "kind" => {
                merged[*k] = v.clone();
            }
            _ => {
                if !v.is_object() {
                    return Err(ArmError::invalid_content(format!(
                        "'{k}' must be a JSON object."
                    )));
                }
                let mut clean = v.clone();
                if let Some(o) = clean.as_object_mut() {
                    o.remove("provisioningState");
                }
                merge(&mut merged[*k], &clean);
            }
        }
    }
    if let Some(loc) = body.get("location").and_then(Value::as_str) {
        let old = existing.body["location"].as_str().unwrap_or_default();
        if !loc
            .replace(' ', "")
            .eq_ignore_ascii_case(&old.replace(' ', ""))
        {
            return Err(ArmError::bad_request(
                "LocationNotUpdatable",
                format!(
                    "The location of resource '{}' cannot be changed from '{old}' to '{loc}'.",
                    existing.id
                ),
            ));
        }
    }
    providers::on_patch(spec, &existing, &body, &mut merged)?;
    providers::on_put(&st, spec, p, Some(&existing), &mut merged, call.now)?;
    let r = store(
        &mut st,
        spec,
        existing.id.clone(),
        merged,
        Some(&existing),
        &call.who.object_id,
        call.now,
    );
    providers::after_write(&mut st, spec, &r, Some(&existing), call.now);
    let r = st.get(&r.id).cloned().unwrap_or(r);
    call.shared.mark_dirty();
    let reply = Reply {
        style: spec.patch,
        kind: OpKind::Update,
        status: StatusCode::OK,
    };
    Ok(respond_write(call, &mut st, spec, p, reply, r))
}

pub fn get(call: &Call<'_>, spec: &TypeSpec, p: &ProviderPath) -> ArmResult<Response> {
    let st = call.shared.lock();
    if let Some(body) = providers::virtual_get(&st, spec, p) {
        return body.map(|b| json_response(StatusCode::OK, &b));
    }
    let r = st.get(&p.id()).ok_or_else(|| missing(&st, p, spec))?;
    let mut resp = json_response(StatusCode::OK, &r.body);
    if spec.etag != EtagStyle::None {
        set_header(&mut resp, "etag", &r.etag);
    }
    Ok(resp)
}

/// The direct children of a collection path, or every resource of the type below a
/// subscription or resource group for top-level types.
pub fn list(call: &Call<'_>, spec: &TypeSpec, p: &ProviderPath) -> ArmResult<Response> {
    let st = call.shared.lock();
    if let Some(v) = providers::virtual_list(call, &st, spec, p) {
        return v.and_then(|value| page(call, &st, value));
    }
    let parent = p.parent_id();
    let parent_is_resource = lower(&parent).contains("/providers/");
    if parent_is_resource
        && st.get(&parent).is_none()
        && !crate::keyvault::key_scope_exists(&st, &parent)
    {
        return Err(missing(&st, p, spec));
    }
    if let (Some(sub), Some(rg)) = (&p.subscription, &p.resource_group)
        && st
            .get(&format!("/subscriptions/{sub}/resourceGroups/{rg}"))
            .is_none()
    {
        return Err(groups::group_not_found(rg));
    }
    let scope_prefix = format!("{}/", lower(&parent));
    let direct = format!("{}/", lower(&p.id()));
    let value: Vec<Value> = st
        .resources
        .range(scope_prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&scope_prefix))
        .filter(|(k, r)| {
            r.type_name == spec.name
                && (!parent_is_resource
                    || k.starts_with(&direct) && !k[direct.len()..].contains('/'))
        })
        .map(|(_, r)| r.body.clone())
        .collect();
    page(call, &st, value)
}

/// One page of a list, with `nextLink` (carrying `$skiptoken`) when more remain.
fn page(call: &Call<'_>, st: &State, value: Vec<Value>) -> ArmResult<Response> {
    let size = st.config.list_page_size.max(1);
    let skip = match call.req.query("$skiptoken") {
        None => 0,
        Some(t) => t.parse::<usize>().map_err(|_| {
            ArmError::bad_request(
                "InvalidSkipToken",
                format!("The skip token '{t}' is not valid."),
            )
        })?,
    };
    let total = value.len();
    let items: Vec<Value> = value.into_iter().skip(skip).take(size).collect();
    let mut body = json!({ "value": items });
    if skip.saturating_add(size) < total {
        let query: Vec<(String, String)> = call
            .req
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .cloned()
            .chain([("$skiptoken".to_string(), (skip + size).to_string())])
            .collect();
        let qs = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        body["nextLink"] = json!(format!("{}{}?{qs}", call.shared.base_url, call.req.path));
    }
    Ok(json_response(StatusCode::OK, &body))
}

pub fn delete(call: &Call<'_>, spec: &TypeSpec, p: &ProviderPath) -> ArmResult<Response> {
    providers::check_delete(spec, p)?;
    let mut st = call.shared.lock();
    let Some(existing) = st.get(&p.id()).cloned() else {
        check_preconditions(call, None)?;
        if spec.delete_absent_not_found {
            return Err(missing(&st, p, spec));
        }
        if let (Some(sub), Some(rg)) = (&p.subscription, &p.resource_group)
            && st
                .get(&format!("/subscriptions/{sub}/resourceGroups/{rg}"))
                .is_none()
        {
            return Err(groups::group_not_found(rg));
        }
        return Ok(empty(StatusCode::NO_CONTENT));
    };
    check_preconditions(call, Some(&existing))?;
    conflict_if_running(&existing)?;
    providers::on_delete(&mut st, spec, &existing)?;
    call.shared.mark_dirty();
    if spec.delete == Style::Sync || p.subscription.is_none() {
        for child in st.descendants(&existing.id) {
            st.resources.remove(&child);
        }
        st.resources.remove(&lower(&existing.id));
        let body = providers::delete_body(spec, &existing);
        return Ok(match body {
            Some(b) => json_response(StatusCode::OK, &b),
            None => empty(StatusCode::OK),
        });
    }
    let reply = Reply {
        style: spec.delete,
        kind: OpKind::Delete,
        status: StatusCode::ACCEPTED,
    };
    Ok(respond_write(call, &mut st, spec, p, reply, existing))
}
