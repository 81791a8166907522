//! Reads every governed kind shares: the private endpoints connected to a resource and the
//! diagnostic settings on it. Reads only; nothing here writes.

use serde_json::Value;

use crate::azure::insights::DiagnosticSetting;
use crate::azure::network::ZONE_GROUP_NAME;
use crate::azure::{AzureClient, AzureError};
use crate::controls::common::{SeenEndpoint, SeenEndpoints};
use crate::controls::plan::at;
use crate::controls::vault_rbac::{HeldRole, RoleHolders};

/// The private endpoints connected to a resource (its ARM body's
/// `properties.privateEndpointConnections`), read from the endpoints themselves.
pub async fn endpoints(azure: &AzureClient, body: &Value) -> Result<SeenEndpoints, AzureError> {
    let connections = at(body, "properties.privateEndpointConnections")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ids = connections
        .iter()
        .filter_map(|c| at(c, "properties.privateEndpoint.id").and_then(Value::as_str))
        .map(str::to_string);
    endpoints_of(azure, ids).await
}

/// Each private endpoint's groups and the DNS zones it is registered in, read concurrently
/// (the endpoint, then its zone groups). An endpoint that no longer exists, or whose creation
/// has not `Succeeded` (failed, or still running), is left out: it is not there for the
/// controls until Azure says it is.
pub async fn endpoints_of(
    azure: &AzureClient,
    ids: impl IntoIterator<Item = String>,
) -> Result<SeenEndpoints, AzureError> {
    let read = ids.into_iter().map(|id| async move {
        let Some(pe) = azure
            .get_private_endpoint(&id)
            .await?
            .filter(|pe| pe.properties.succeeded())
        else {
            return Ok::<_, AzureError>(None);
        };
        let zone_groups = azure.list_private_dns_zone_groups(&id).await?;
        let seen = SeenEndpoint {
            groups: pe
                .properties
                .private_link_service_connections
                .iter()
                .flat_map(|c| c.properties.group_ids.clone())
                .collect(),
            zones: zone_groups
                .iter()
                .flat_map(|g| g.zone_names())
                .map(str::to_ascii_lowercase)
                .collect(),
            foreign_zone_group: zone_groups
                .iter()
                .map(|g| g.name.clone())
                .find(|n| !n.eq_ignore_ascii_case(ZONE_GROUP_NAME)),
        };
        Ok(Some((id, seen)))
    });
    Ok(futures::future::try_join_all(read)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// The diagnostic settings on a resource; none when it has none (or does not exist yet).
pub async fn diagnostic_settings(
    azure: &AzureClient,
    id: &str,
) -> Result<Vec<DiagnosticSetting>, AzureError> {
    match azure.list_diagnostic_settings(id).await {
        Ok(s) => Ok(s),
        Err(AzureError::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The role assignments reaching `scope` (at it and inherited), for a vault's move from access
/// policies to roles: who holds which role since when, judged in effect `settle` after Azure
/// recorded it.
pub async fn role_holders(
    azure: &AzureClient,
    scope: &str,
    settle: std::time::Duration,
) -> Result<RoleHolders, AzureError> {
    let held = azure
        .list_role_assignments(scope)
        .await?
        .into_iter()
        .map(|a| HeldRole {
            created_on: a
                .properties
                .created_on
                .as_deref()
                .and_then(|c| c.parse().ok()),
            principal_id: a.properties.principal_id,
            role_definition_id: a.properties.role_definition_id,
        })
        .collect();
    Ok(RoleHolders {
        held,
        now: k8s_openapi::jiff::Timestamp::now(),
        settle: k8s_openapi::jiff::SignedDuration::try_from(settle).unwrap_or_default(),
    })
}

/// GET of a Defender plan, its failure as the control's evidence.
pub async fn defender_plan(
    azure: &AzureClient,
    expect: &crate::controls::defender::DefenderExpectations,
) -> crate::controls::defender::DefenderObservation {
    match azure.defender_plan(&expect.pricing_id).await {
        Ok(Some(pricing)) => Ok(pricing),
        Ok(None) => Err(format!("Azure has no {} plan in this cloud", expect.plan)),
        Err(e) => Err(e.to_string()),
    }
}
