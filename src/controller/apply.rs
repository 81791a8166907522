//! The apply stage shared by every kind: a [`Plan`] made of data becomes Azure writes, in a
//! safe order — private endpoints first (so public access is never cut before the private path
//! exists), then the resource writes, then the diagnostic settings. Also the observation every
//! private-link target needs: the group ids of the endpoints connected to it.

use std::collections::BTreeMap;

use azure_core::http::Method;
use serde_json::Value;

use super::context::Context;
use crate::api::HipaaWorkspace;
use crate::azure::network::DesiredPrivateEndpoint;
use crate::azure::{AzureClient, AzureError};
use crate::controls::plan::{ArmWrite, Plan, at};

/// The private endpoint the operator keeps for one sub-resource of a target, in the target's
/// resource group.
pub fn endpoint_id(target_id: &str, target_name: &str, group: &str) -> String {
    let rg_prefix = target_id.split("/providers/").next().unwrap_or_default();
    format!(
        "{rg_prefix}/providers/Microsoft.Network/privateEndpoints/pe-{}-{}",
        target_name.to_ascii_lowercase(),
        group.to_ascii_lowercase()
    )
}

/// Creates (or keeps) the operator's private endpoint for each of `groups` on `target_id`, in
/// the workspace's subnet, with the private DNS zone of the group when the workspace lists it.
pub async fn ensure_private_endpoints(
    azure: &AzureClient,
    ctx: &Context,
    ws: &HipaaWorkspace,
    target_id: &str,
    target_location: &str,
    groups: &[String],
) -> Result<(), AzureError> {
    if groups.is_empty() {
        return Ok(());
    }
    let Some(networking) = ws.spec.private_networking.as_ref() else {
        return Err(AzureError::Configuration(
            "the workspace has no spec.privateNetworking.subnetId, so no private endpoint can be created".into(),
        ));
    };
    let name = target_id.rsplit('/').next().unwrap_or_default();
    for group in groups {
        let zone = ctx
            .azure_cloud()
            .private_dns
            .for_group(group)
            .map(str::to_ascii_lowercase);
        let dns_zone_ids = networking
            .private_dns_zone_ids
            .iter()
            .filter(|z| {
                zone.as_deref()
                    .is_some_and(|zone| z.to_ascii_lowercase().ends_with(&format!("/{zone}")))
            })
            .cloned()
            .collect();
        let desired = DesiredPrivateEndpoint {
            id: endpoint_id(target_id, name, group),
            location: ws
                .spec
                .location
                .clone()
                .unwrap_or_else(|| target_location.to_string()),
            subnet_id: networking.subnet_id.clone(),
            target_id: target_id.to_string(),
            group_id: group.clone(),
            dns_zone_ids,
        };
        azure.ensure_private_endpoint(&desired).await?;
    }
    Ok(())
}

/// Applies `plan` to the target `target_id` (whose private endpoints it may create).
pub async fn apply_plan(
    azure: &AzureClient,
    ctx: &Context,
    ws: &HipaaWorkspace,
    target_id: &str,
    target_location: &str,
    plan: &Plan,
) -> Result<(), AzureError> {
    if plan.ensure_key
        && let Some(key) = &plan.key_name
    {
        // The key, with its rotation policy, exists before anything points at it.
        let vault = ws
            .spec
            .key_vault
            .resource_id
            .rsplit('/')
            .next()
            .unwrap_or_default();
        let rotation = &ws.spec.key_vault.rotation;
        let kty = match ws.spec.key_vault.key_type {
            crate::api::workspace::KeyType::Rsa => "RSA",
            crate::api::workspace::KeyType::RsaHsm => "RSA-HSM",
        };
        azure
            .ensure_key(
                vault,
                key,
                kty,
                u32::try_from(ws.spec.key_vault.key_size).unwrap_or(3072),
                &crate::azure::keyvault::RotationPolicy::new(
                    &rotation.rotate_after,
                    &rotation.expire_after,
                    &rotation.notify_before,
                ),
            )
            .await?;
    }
    ensure_private_endpoints(
        azure,
        ctx,
        ws,
        target_id,
        target_location,
        &plan.private_endpoint_groups,
    )
    .await?;
    for write in &plan.writes {
        match write {
            ArmWrite::Patch { op, id, body } => {
                azure.write(op, Method::Patch, id, Some(body), None).await?;
            }
            ArmWrite::Put { op, id, body } => {
                azure.write(op, Method::Put, id, Some(body), None).await?;
            }
            ArmWrite::Post {
                op,
                id,
                body,
                if_match,
            } => {
                azure
                    .write(op, Method::Post, id, body.as_ref(), if_match.clone())
                    .await?;
            }
            ArmWrite::Delete { op, id } => azure.delete(op, id).await?,
            ArmWrite::Merge { get, put, id, set } => {
                azure
                    .read_modify_write(get, put, id, |body| merge(body, set))
                    .await?;
            }
        }
    }
    for setting in &plan.diagnostics {
        azure.ensure_diagnostic_setting(setting).await?;
    }
    Ok(())
}

/// Sets each JSON pointer of `set` in `body` (creating objects on the way); whether anything
/// changed.
fn merge(body: &mut Value, set: &[(String, Value)]) -> bool {
    let mut changed = false;
    for (pointer, value) in set {
        let mut at_node = &mut *body;
        let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !at_node.get(*part).is_some_and(Value::is_object) {
                at_node[*part] = Value::Object(Default::default());
            }
            at_node = &mut at_node[*part];
        }
        let last = parts.last().copied().unwrap_or_default();
        if at_node.get(last) != Some(value) {
            at_node[last] = value.clone();
            changed = true;
        }
    }
    changed
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_set_pointers_and_report_changes() {
        let mut body = json!({"properties": {"corsConfiguration": {"origins": ["*"]}}});
        let set = vec![
            (
                "/properties/corsConfiguration/origins".to_string(),
                json!([]),
            ),
            (
                "/properties/encryption/customerManagedKeyEncryption/keyEncryptionKeyUrl"
                    .to_string(),
                json!("https://kv/keys/k"),
            ),
        ];
        assert!(merge(&mut body, &set));
        assert_eq!(
            body["properties"]["corsConfiguration"]["origins"],
            json!([])
        );
        assert_eq!(
            body["properties"]["encryption"]["customerManagedKeyEncryption"]["keyEncryptionKeyUrl"],
            json!("https://kv/keys/k")
        );
        assert!(!merge(&mut body, &set), "a second merge changes nothing");
    }

    #[test]
    fn endpoint_ids_live_in_the_targets_resource_group() {
        assert_eq!(
            endpoint_id(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/KV-Clinical",
                "KV-Clinical",
                "vault"
            ),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe-kv-clinical-vault"
        );
    }
}
