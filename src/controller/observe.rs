//! Reads every governed kind shares: the private endpoints connected to a resource and the
//! diagnostic settings on it. Reads only; nothing here writes.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::azure::insights::DiagnosticSetting;
use crate::azure::{AzureClient, AzureError};
use crate::controls::plan::at;

/// The group ids of the private endpoints connected to a resource, by endpoint id, read from
/// the endpoints (a connection does not say its group).
pub async fn endpoint_groups(
    azure: &AzureClient,
    body: &Value,
) -> Result<BTreeMap<String, Vec<String>>, AzureError> {
    let connections = at(body, "properties.privateEndpointConnections")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ids = connections
        .iter()
        .filter_map(|c| at(c, "properties.privateEndpoint.id").and_then(Value::as_str))
        .map(str::to_string);
    endpoint_groups_of(azure, ids).await
}

/// The group ids each private endpoint connects, read concurrently. An endpoint that no longer
/// exists, or whose creation has not `Succeeded` (failed, or still running), is left out: it is
/// not there for the controls until Azure says it is.
pub async fn endpoint_groups_of(
    azure: &AzureClient,
    ids: impl IntoIterator<Item = String>,
) -> Result<BTreeMap<String, Vec<String>>, AzureError> {
    let read = ids.into_iter().map(|id| async move {
        let found = azure
            .get_private_endpoint(&id)
            .await?
            .filter(|pe| pe.properties.succeeded());
        let groups = found.map(|pe| {
            pe.properties
                .private_link_service_connections
                .iter()
                .flat_map(|c| c.properties.group_ids.clone())
                .collect::<Vec<_>>()
        });
        Ok::<_, AzureError>(groups.map(|g| (id, g)))
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
