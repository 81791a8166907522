//! Microsoft.Network (api-version 2024-05-01): private endpoints and their private DNS zone
//! groups, created by the operator and kept as declared.

use azure_core::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::AzureClient;
use super::error::AzureError;
use super::id::ArmId;
use super::types::ArmOp;
pub use super::types::Ensured;

pub const API_VERSION: &str = "2024-05-01";
const PROVIDER: &str = "Microsoft.Network";
const GET_ENDPOINT: ArmOp = ArmOp::new("PrivateEndpoints_Get", PROVIDER, API_VERSION);
const PUT_ENDPOINT: ArmOp = ArmOp::new("PrivateEndpoints_CreateOrUpdate", PROVIDER, API_VERSION);
const DELETE_ENDPOINT: ArmOp = ArmOp::new("PrivateEndpoints_Delete", PROVIDER, API_VERSION);
pub const GET_VNET: ArmOp = ArmOp::new("VirtualNetworks_Get", PROVIDER, API_VERSION);
const LIST_ZONE_GROUPS: ArmOp = ArmOp::new("PrivateDnsZoneGroups_List", PROVIDER, API_VERSION);
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

/// The name of the zone group the operator makes. A private endpoint has at most one group;
/// one made by someone else (an Azure Landing Zone policy, say) is used, never doubled.
pub const ZONE_GROUP_NAME: &str = "default";

/// The body of the operator's zone group when the endpoint is not registered in every desired
/// zone, `None` when it is (by any group) or when a group that is not the operator's exists:
/// an endpoint has one zone group, and someone else's is theirs to change (the control then
/// waits for a person). The operator's own group keeps every zone it already registers.
fn zone_group_body(
    desired: &DesiredPrivateEndpoint,
    groups: &[PrivateDnsZoneGroup],
) -> Option<serde_json::Value> {
    let registered = |zone_id: &str| {
        let name = zone_id.rsplit('/').next().unwrap_or_default();
        groups
            .iter()
            .flat_map(PrivateDnsZoneGroup::zone_names)
            .any(|z| z.eq_ignore_ascii_case(name))
    };
    if desired.dns_zone_ids.iter().all(|z| registered(z)) {
        return None;
    }
    if groups
        .iter()
        .any(|g| !g.name.eq_ignore_ascii_case(ZONE_GROUP_NAME))
    {
        return None;
    }
    let mut configs: Vec<serde_json::Value> = groups
        .iter()
        .flat_map(|g| g.properties.private_dns_zone_configs.iter())
        .map(|c| {
            let mut kept =
                json!({ "properties": { "privateDnsZoneId": c.properties.private_dns_zone_id } });
            if let Some(name) = &c.name {
                kept["name"] = json!(name);
            }
            kept
        })
        .collect();
    for zone in desired.dns_zone_ids.iter().filter(|z| !registered(z)) {
        let name = zone.rsplit('/').next().unwrap_or("zone").replace('.', "-");
        configs.push(json!({ "name": name, "properties": { "privateDnsZoneId": zone } }));
    }
    Some(json!({ "properties": { "privateDnsZoneConfigs": configs } }))
}

/// A private DNS zone group as GET returns it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateDnsZoneGroup {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub properties: PrivateDnsZoneGroupProperties,
}

impl PrivateDnsZoneGroup {
    /// The names of the zones the group registers the endpoint in (the last segment of each
    /// `privateDnsZoneId`); none until Azure has made the group (`Succeeded`).
    pub fn zone_names(&self) -> impl Iterator<Item = &str> {
        let made = self
            .properties
            .provisioning_state
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("Succeeded"));
        self.properties
            .private_dns_zone_configs
            .iter()
            .filter(move |_| made)
            .filter_map(|c| c.properties.private_dns_zone_id.rsplit('/').next())
            .filter(|z| !z.is_empty())
    }
}

#[derive(Deserialize)]
struct ZoneGroupList {
    #[serde(default)]
    value: Vec<PrivateDnsZoneGroup>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateDnsZoneGroupProperties {
    #[serde(default)]
    pub provisioning_state: Option<String>,
    #[serde(default)]
    pub private_dns_zone_configs: Vec<PrivateDnsZoneConfig>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrivateDnsZoneConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
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
        // An endpoint Azure is still making (an operation handed over earlier, or someone
        // else's) is neither written again nor registered yet: it is followed as it is.
        if let Some(pe) = &found
            && !pe.properties.succeeded()
            && !pe.properties.failed()
            && pe.properties.provisioning_state.is_some()
        {
            return Err(self.still_running(&PUT_ENDPOINT, &desired.id));
        }
        let created = found.is_none();
        if !found.as_ref().is_some_and(|f| desired.is_met_by(f)) {
            // Azure places an endpoint in its virtual network's region (a hub's, in a
            // hub-and-spoke network), whatever the target's: an existing endpoint keeps its own.
            let location = match &found {
                Some(pe) if !pe.location.is_empty() => Some(pe.location.clone()),
                _ => self.vnet_location(&desired.subnet_id).await?,
            };
            let mut body = desired.body();
            if let Some(location) = location {
                body["location"] = json!(location);
            }
            self.write_and_wait(&PUT_ENDPOINT, Method::Put, &desired.id, Some(&body))
                .await?;
            outcome = Ensured::Written;
        }
        if desired.dns_zone_ids.is_empty() {
            return Ok(outcome);
        }
        // An endpoint created just now has no DNS zone group yet: nothing to read.
        let groups = if created {
            Vec::new()
        } else {
            self.list_private_dns_zone_groups(&desired.id).await?
        };
        if let Some(body) = zone_group_body(desired, &groups) {
            let group_id =
                ArmId::parse(&desired.id)?.child("privateDnsZoneGroups", Some(ZONE_GROUP_NAME))?;
            self.write_and_wait(&PUT_ZONE_GROUP, Method::Put, group_id.as_str(), Some(&body))
                .await?;
            outcome = Ensured::Written;
        }
        Ok(outcome)
    }

    /// The region of the virtual network a subnet belongs to; `None` when it cannot be read
    /// as such (the endpoint's PUT then says what Azure thinks of the subnet).
    async fn vnet_location(&self, subnet_id: &str) -> Result<Option<String>, AzureError> {
        let subnet = ArmId::parse(subnet_id)?;
        let Some((vnet, _)) = subnet.as_str().rsplit_once("/subnets/") else {
            return Ok(None);
        };
        let vnet = ArmId::parse(vnet)?;
        Ok(self
            .get_resource(&GET_VNET, vnet.as_str())
            .await?
            .and_then(|v| v.location))
    }

    /// `PrivateDnsZoneGroups_List`: every zone group of an endpoint (at most one in practice),
    /// none when the endpoint is gone.
    pub async fn list_private_dns_zone_groups(
        &self,
        endpoint_id: &str,
    ) -> Result<Vec<PrivateDnsZoneGroup>, AzureError> {
        let path = ArmId::parse(endpoint_id)?.child("privateDnsZoneGroups", None)?;
        match self
            .get::<ZoneGroupList>(&LIST_ZONE_GROUPS, path.as_str())
            .await
        {
            Ok(list) => Ok(list.value),
            Err(AzureError::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
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

    fn group(name: &str, zones: &[&str]) -> PrivateDnsZoneGroup {
        serde_json::from_value(json!({
            "name": name,
            "properties": {
                "provisioningState": "Succeeded",
                "privateDnsZoneConfigs": zones.iter().map(|z| json!({
                    "name": z.replace('.', "-"),
                    "properties": {"privateDnsZoneId": format!("/subscriptions/hub/resourceGroups/dns/providers/Microsoft.Network/privateDnsZones/{z}")}
                })).collect::<Vec<_>>()
            }
        }))
        .expect("a zone group")
    }

    fn wanting(zones: &[&str]) -> DesiredPrivateEndpoint {
        DesiredPrivateEndpoint {
            id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe-st-blob".into(),
            location: "eastus".into(),
            subnet_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/pe".into(),
            target_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st".into(),
            group_id: "blob".into(),
            dns_zone_ids: zones
                .iter()
                .map(|z| format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/{z}"))
                .collect(),
        }
    }

    #[test]
    fn a_zone_group_is_written_only_when_a_zone_is_missing_and_never_doubled() {
        let blob = "privatelink.blob.core.windows.net";
        // No group: the operator's, with the zone.
        let body = zone_group_body(&wanting(&[blob]), &[]).expect("a group to write");
        assert_eq!(
            body["properties"]["privateDnsZoneConfigs"][0]["properties"]["privateDnsZoneId"]
                .as_str()
                .map(|z| z.ends_with(blob)),
            Some(true)
        );
        // Registered by anyone's group (another subscription's zone of the same name): met.
        assert_eq!(
            zone_group_body(&wanting(&[blob]), &[group("landing-zone-policy", &[blob])]),
            None
        );
        // Someone else's group lacks the zone: theirs to change, never a second group.
        assert_eq!(
            zone_group_body(&wanting(&[blob]), &[group("alz", &["other.zone"])]),
            None
        );
        // The operator's own group keeps what it has and gains what is missing.
        let merged = zone_group_body(&wanting(&[blob]), &[group("default", &["other.zone"])])
            .expect("a merge");
        let zones: Vec<&str> = merged["properties"]["privateDnsZoneConfigs"]
            .as_array()
            .expect("configs")
            .iter()
            .filter_map(|c| c["properties"]["privateDnsZoneId"].as_str())
            .filter_map(|z| z.rsplit('/').next())
            .collect();
        assert_eq!(zones, ["other.zone", blob]);
        // A group Azure has not finished registers nothing yet.
        let mut pending = group("default", &[blob]);
        pending.properties.provisioning_state = Some("Updating".into());
        assert!(zone_group_body(&wanting(&[blob]), &[pending]).is_some());
    }

    #[test]
    fn recorded_zone_group_names_its_zones() {
        let example: serde_json::Value = serde_json::from_str(include_str!(
            "../../../shared/azure-rest-examples/Microsoft.Network/2024-05-01/PrivateEndpointDnsZoneGroupGet.json"
        ))
        .expect("example JSON");
        let found: PrivateDnsZoneGroup =
            serde_json::from_value(example["responses"]["200"]["body"].clone()).expect("a group");
        assert_eq!(
            found.zone_names().collect::<Vec<_>>(),
            ["zone1.com", "zone2.com"]
        );
    }
}
