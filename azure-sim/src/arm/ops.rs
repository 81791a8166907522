//! The operation endpoints clients poll: `Azure-AsyncOperation` status documents and `Location`
//! result URLs (202 while running, the result when done).

use axum::http::StatusCode;
use axum::response::Response;

use super::{Call, authorize};
use crate::errors::{ArmError, ArmResult};
use crate::http::{empty, json_response, set_header};
use crate::ids::ProviderPath;
use crate::lro::{OpKind, OpStatus};

pub fn poll(call: &Call<'_>, p: &ProviderPath) -> ArmResult<Response> {
    let sub = p.subscription.clone().unwrap_or_default();
    let action = format!("{}/locations/{}/read", p.namespace, p.types[1]);
    let status_document = p.types[1].eq_ignore_ascii_case("operationStatuses");
    poll_operation(
        call,
        &sub,
        &p.namespace,
        &p.names[1],
        &action,
        status_document,
    )
}

/// `GET /subscriptions/{sub}/operationresults/{id}`: Resource Manager's own operations
/// (resource group deletion).
pub fn poll_subscription_operation(call: &Call<'_>, sub: &str, op_id: &str) -> ArmResult<Response> {
    poll_operation(
        call,
        sub,
        "Microsoft.Resources",
        op_id,
        "Microsoft.Resources/subscriptions/operationresults/read",
        false,
    )
}

fn poll_operation(
    call: &Call<'_>,
    sub: &str,
    namespace: &str,
    op_id: &str,
    action: &str,
    status_document: bool,
) -> ArmResult<Response> {
    let st = call.shared.lock();
    let op = st
        .operations
        .get(op_id)
        .filter(|o| {
            o.namespace.eq_ignore_ascii_case(namespace) && o.subscription.eq_ignore_ascii_case(sub)
        })
        .cloned();
    // ARM lets whoever may read the resource follow the operation on it: a principal with a
    // role on one resource group can poll the operations it starts there. Unknown operations
    // are checked at the subscription, so their existence is not disclosed to everyone.
    let scope = op
        .as_ref()
        .map(|o| o.resource_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("/subscriptions/{sub}"));
    authorize(&st, call.who, action, &scope)?;
    let op = op.ok_or_else(|| {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "OperationNotFound",
            format!("The operation '{op_id}' could not be found."),
        )
    })?;
    let base = &call.shared.base_url;
    if status_document {
        return Ok(json_response(StatusCode::OK, &op.status_body(base)));
    }
    match op.status {
        OpStatus::InProgress => {
            let mut r = empty(StatusCode::ACCEPTED);
            set_header(&mut r, "location", &op.result_url(base));
            set_header(
                &mut r,
                "retry-after",
                &st.config.lro_retry_after_secs.to_string(),
            );
            Ok(r)
        }
        OpStatus::Failed => {
            let e = op.error.unwrap_or(crate::lro::OpError {
                code: "InternalServerError".into(),
                message: "The operation failed.".into(),
            });
            let status = if e.code == "InternalServerError" {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_REQUEST
            };
            Err(ArmError::new(status, &e.code, e.message))
        }
        OpStatus::Succeeded => match (op.kind, st.get(&op.resource_id)) {
            (OpKind::Delete, _) | (_, None) => Ok(empty(StatusCode::NO_CONTENT)),
            (_, Some(r)) => Ok(json_response(StatusCode::OK, &r.body)),
        },
    }
}
