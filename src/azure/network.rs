//! Microsoft.Network (api-version 2024-05-01): private endpoints and their private DNS zone
//! groups, created by the operator and kept as declared.

use azure_core::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::AzureClient;
use super::error::AzureError;
use super::types::ArmOp;
pub use super::types::Ensured;

pub const API_VERSION: &str = "2024-05-01";
const PROVIDER: &str = "Microsoft.Network";
const GET_ENDPOINT: ArmOp = ArmOp::new("PrivateEndpoints_Get", PROVIDER, API_VERSION);
const PUT_ENDPOINT: ArmOp = ArmOp::new("PrivateEndpoints_CreateOrUpdate", PROVIDER, API_VERSION);
const DELETE_ENDPOINT: ArmOp = ArmOp::new("PrivateEndpoints_Delete", PROVIDER, API_VERSION);
const GET_ZONE_GROUP: ArmOp = ArmOp::new("PrivateDnsZoneGroups_Get", PROVIDER, API_VERSION);
const PUT_ZONE_GROUP: ArmOp =
    ArmOp::new("PrivateDnsZoneGroups_CreateOrUpdate", PROVIDER, API_VERSION);

/// A private endpoint as GET returns it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpoint {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub properties: PrivateEndpointProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpointProperties {
    #[serde(default)]
    pub provisioning_state: Option<String>,
    #[serde(default)]
    pub subnet: Option<super::types::IdRef>,
    #[serde(default)]
    pub private_link_service_connections: Vec<PrivateLinkServiceConnection>,
}

impl PrivateEndpointProperties {
    /// Azure finished making the endpoint (`provisioningState` `Succeeded`).
    pub fn succeeded(&self) -> bool {
        self.provisioning_state
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("Succeeded"))
    }

    /// Azure gave up making it (`Failed` or `Canceled`).
    pub fn failed(&self) -> bool {
        self.provisioning_state
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("Failed") || s.eq_ignore_ascii_case("Canceled"))
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateLinkServiceConnection {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub properties: PrivateLinkServiceConnectionProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateLinkServiceConnectionProperties {
    #[serde(default)]
    pub private_link_service_id: String,
    #[serde(default)]
    pub group_ids: Vec<String>,
    #[serde(default)]
    pub private_link_service_connection_state: Option<super::types::ConnectionState>,
}

/// What the operator wants a private endpoint to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredPrivateEndpoint {
    /// ARM id of the endpoint to keep.
    pub id: String,
    pub location: String,
    pub subnet_id: String,
    /// The resource reached privately.
    pub target_id: String,
    pub group_id: String,
    /// Private DNS zones to register in (the `default` zone group).
    pub dns_zone_ids: Vec<String>,
}

impl DesiredPrivateEndpoint {
    /// Whether an existing endpoint already matches (ids compared case-insensitively, as ARM).
    pub fn is_met_by(&self, found: &PrivateEndpoint) -> bool {
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let subnet_ok = found
            .properties
            .subnet
            .as_ref()
            .is_some_and(|s| same(&s.id, &self.subnet_id));
        let connection_ok = found
            .properties
            .private_link_service_connections
            .iter()
            .any(|c| {
                same(&c.properties.private_link_service_id, &self.target_id)
                    && c.properties
                        .group_ids
                        .iter()
                        .any(|g| same(g, &self.group_id))
            });
        // A Failed or Canceled endpoint carries no traffic, whatever its shape: it is made again.
        subnet_ok && connection_ok && !found.properties.failed()
    }

    fn body(&self) -> serde_json::Value {
        let name = self.id.rsplit('/').next().unwrap_or("connection");
        json!({
            "location": self.location,
            "properties": {
                "subnet": { "id": self.subnet_id },
                "privateLinkServiceConnections": [{
                    "name": name,
                    "properties": {
                        "privateLinkServiceId": self.target_id,
                        "groupIds": [self.group_id],
                    }
                }]
            }
        })
    }
}

/// A private DNS zone group as GET returns it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateDnsZoneGroup {
    #[serde(default)]
    pub properties: PrivateDnsZoneGroupProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateDnsZoneGroupProperties {
    #[serde(default)]
    pub private_dns_zone_configs: Vec<PrivateDnsZoneConfig>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateDnsZoneConfig {
    #[serde(default)]
    pub properties: PrivateDnsZoneConfigProperties,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateDnsZoneConfigProperties {
    #[serde(default)]
    pub private_dns_zone_id: String,
}

impl AzureClient {
    /// `PrivateEndpoints_Get`, `None` when absent.
    pub async fn get_private_endpoint(
        &self,
        id: &str,
    ) -> Result<Option<PrivateEndpoint>, AzureError> {
        self.get_opt(&GET_ENDPOINT, id).await
    }

    /// Keeps the private endpoint and its `default` DNS zone group as desired: PUTs only what
    /// differs (a long-running operation in Network's `Azure-AsyncOperation` style).
    pub async fn ensure_private_endpoint(
        &self,
        desired: &DesiredPrivateEndpoint,
    ) -> Result<Ensured, AzureError> {
        let mut outcome = Ensured::Unchanged;
        let found = self.get_private_endpoint(&desired.id).await?;
        // An endpoint created just now has no DNS zone group yet: nothing to read.
        let created = found.is_none();
        if !found.as_ref().is_some_and(|f| desired.is_met_by(f)) {
            self.write_and_wait(
                &PUT_ENDPOINT,
                Method::Put,
                &desired.id,
                Some(&desired.body()),
            )
            .await?;
            outcome = Ensured::Written;
        }
        if desired.dns_zone_ids.is_empty() {
            return Ok(outcome);
        }
        let group_id = format!("{}/privateDnsZoneGroups/default", desired.id);
        let group: Option<PrivateDnsZoneGroup> = if created {
            None
        } else {
            self.get_opt(&GET_ZONE_GROUP, &group_id).await?
        };
        let mut have: Vec<String> = group
            .map(|g| {
                g.properties
                    .private_dns_zone_configs
                    .into_iter()
                    .map(|c| c.properties.private_dns_zone_id.to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        let mut want: Vec<String> = desired
            .dns_zone_ids
            .iter()
            .map(|z| z.to_ascii_lowercase())
            .collect();
        have.sort();
        want.sort();
        if have != want {
            let configs: Vec<serde_json::Value> = desired
                .dns_zone_ids
                .iter()
                .map(|zone| {
                    let name = zone.rsplit('/').next().unwrap_or("zone").replace('.', "-");
                    json!({ "name": name, "properties": { "privateDnsZoneId": zone } })
                })
                .collect();
            let body = json!({ "properties": { "privateDnsZoneConfigs": configs } });
            self.write_and_wait(&PUT_ZONE_GROUP, Method::Put, &group_id, Some(&body))
                .await?;
            outcome = Ensured::Written;
        }
        Ok(outcome)
    }

    /// Deletes a private endpoint the operator created; already gone is success.
    pub async fn ensure_private_endpoint_absent(&self, id: &str) -> Result<(), AzureError> {
        self.delete(&DELETE_ENDPOINT, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_endpoint_meets_the_same_desire_case_insensitively() {
        let example: serde_json::Value = serde_json::from_str(include_str!(
            "../../../shared/azure-rest-examples/Microsoft.Network/2024-05-01/PrivateEndpointCreate.json"
        ))
        .expect("example JSON");
        let found: PrivateEndpoint =
            serde_json::from_value(example["responses"]["200"]["body"].clone())
                .expect("an endpoint");
        let desired = DesiredPrivateEndpoint {
            id: found.id.clone(),
            location: found.location.clone(),
            subnet_id: "/subscriptions/subId/resourceGroups/RG1/providers/Microsoft.Network/virtualNetworks/myVnet/subnets/mySubnet".into(),
            target_id: "/subscriptions/subId/resourceGroups/rg1/providers/Microsoft.Network/privateLinkServices/testPls".into(),
            group_id: "groupIdFromResource".into(),
            dns_zone_ids: vec![],
        };
        assert!(desired.is_met_by(&found));
        let other_group = DesiredPrivateEndpoint {
            group_id: "blob".into(),
            ..desired.clone()
        };
        assert!(!other_group.is_met_by(&found));
        let body = desired.body();
        assert_eq!(
            body["properties"]["privateLinkServiceConnections"][0]["properties"]["groupIds"][0],
            "groupIdFromResource"
        );
    }
}
