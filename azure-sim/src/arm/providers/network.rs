//! Microsoft.Network: virtual networks and subnets, private DNS zones, private endpoints (the
//! subnet must exist; creating one adds an Approved connection to the target) and their
//! private DNS zone groups (record sets computed from the endpoint's address). Network security
//! groups and their subnets are in `nsg`.

use serde_json::{Value, json};

use crate::arm::registry::TypeSpec;
use crate::errors::{ArmError, ArmResult};
use crate::ids::{self, ProviderPath, Target, lower};
use crate::state::{Resource, State};

use super::nsg;

pub const VNET: &str = "Microsoft.Network/virtualNetworks";
pub const SUBNET: &str = "Microsoft.Network/virtualNetworks/subnets";
pub const ENDPOINT: &str = "Microsoft.Network/privateEndpoints";
pub const ZONE_GROUP: &str = "Microsoft.Network/privateEndpoints/privateDnsZoneGroups";
pub const ZONE: &str = "Microsoft.Network/privateDnsZones";

fn missing_reference(referenced: &str, by: &str) -> ArmError {
    ArmError::bad_request(
        "InvalidResourceReference",
        format!(
            "Resource {referenced} referenced by resource {by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."
        ),
    )
}

pub fn on_put(
    st: &State,
    spec: &TypeSpec,
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
) -> ArmResult<()> {
    if !body["properties"].is_object() {
        body["properties"] = json!({});
    }
    let id = p.id();
    match spec.name {
        VNET => {
            if body["properties"]["addressSpace"]["addressPrefixes"]
                .as_array()
                .is_none_or(Vec::is_empty)
            {
                return Err(ArmError::bad_request(
                    "InvalidAddressSpace",
                    "The virtual network must have at least one address prefix in properties.addressSpace.addressPrefixes.",
                ));
            }
            body["properties"]["resourceGuid"] = existing
                .map(|e| e.body["properties"]["resourceGuid"].clone())
                .unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string()));
            // VirtualNetworkGet.json (2024-07-01) lists the (empty) peerings.
            if !body["properties"]["virtualNetworkPeerings"].is_array() {
                body["properties"]["virtualNetworkPeerings"] = json!([]);
            }
            for sub in body["properties"]["subnets"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let name = sub["name"].as_str().unwrap_or_default();
                nsg::check_reference(st, &sub["properties"], &format!("{id}/subnets/{name}"))?;
            }
            Ok(())
        }
        SUBNET => {
            let props = &mut body["properties"];
            strip_subnet_read_only(props);
            if props["addressPrefix"].as_str().is_none()
                && props["addressPrefixes"].as_array().is_none()
            {
                return Err(ArmError::bad_request(
                    "InvalidRequestFormat",
                    "A subnet needs properties.addressPrefix or properties.addressPrefixes.",
                ));
            }
            if props.get("privateEndpointNetworkPolicies").is_none() {
                props["privateEndpointNetworkPolicies"] = json!("Disabled");
            }
            nsg::check_reference(st, props, &id)
        }
        nsg::NSG => nsg::on_put_nsg(st, &id, existing, body),
        nsg::RULE => nsg::on_put_rule(st, &p.parent_id(), &id, body),
        ENDPOINT => endpoint(st, p, &id, existing, body),
        ZONE_GROUP => zone_group(st, p, &id, body),
        ZONE => {
            let props = &mut body["properties"];
            props["numberOfRecordSets"] = json!(1);
            props["maxNumberOfRecordSets"] = json!(25000);
            props["numberOfVirtualNetworkLinks"] = json!(0);
            props["maxNumberOfVirtualNetworkLinks"] = json!(1000);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The first free address in a subnet, counting the endpoints already placed there.
fn next_address(st: &State, subnet_id: &str, self_id: &str) -> String {
    let used = st
        .resources
        .values()
        .filter(|r| r.type_name == ENDPOINT && !r.id.eq_ignore_ascii_case(self_id))
        .filter(|r| {
            r.body["properties"]["subnet"]["id"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(subnet_id))
        })
        .count();
    let prefix = st
        .get(subnet_id)
        .and_then(|s| {
            s.body["properties"]["addressPrefix"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "10.0.0.0/24".to_string());
    let base: Vec<u8> = prefix
        .split('/')
        .next()
        .unwrap_or("10.0.0.0")
        .split('.')
        .filter_map(|o| o.parse().ok())
        .collect();
    let (a, b, c, d) = match base.as_slice() {
        [a, b, c, d] => (*a, *b, *c, *d),
        _ => (10, 0, 0, 0),
    };
    // Azure reserves the first four addresses of every subnet.
    let host = u32::from(d) + 4 + u32::try_from(used).unwrap_or(0);
    format!("{a}.{b}.{}.{}", u32::from(c) + host / 256, host % 256)
}

/// Well-known private DNS zone suffix per target type and group id.
fn private_fqdn(target_id: &str, group: &str) -> Option<String> {
    let name = target_id.rsplit('/').next()?;
    let t = lower(target_id);
    let suffix = if t.contains("/microsoft.storage/storageaccounts/") {
        format!(
            "privatelink.{}.core.windows.net",
            group.to_ascii_lowercase()
        )
    } else if t.contains("/microsoft.keyvault/vaults/") {
        "privatelink.vaultcore.azure.net".to_string()
    } else if t.contains("/microsoft.sql/servers/") {
        "privatelink.database.windows.net".to_string()
    } else if t.contains("/microsoft.documentdb/databaseaccounts/") {
        "privatelink.documents.azure.com".to_string()
    } else if t.contains("/microsoft.healthcareapis/workspaces/") {
        "privatelink.workspace.azurehealthcareapis.com".to_string()
    } else {
        return None;
    };
    Some(format!("{name}.{suffix}"))
}

/// Group ids each served target type accepts.
fn valid_groups(target_id: &str) -> Option<&'static [&'static str]> {
    let t = lower(target_id);
    if t.contains("/microsoft.storage/storageaccounts/") {
        Some(&[
            "blob",
            "blob_secondary",
            "file",
            "queue",
            "table",
            "web",
            "dfs",
        ])
    } else if t.contains("/microsoft.keyvault/vaults/") {
        Some(&["vault"])
    } else if t.contains("/microsoft.sql/servers/") {
        Some(&["sqlServer"])
    } else if t.contains("/microsoft.documentdb/databaseaccounts/") {
        Some(&[
            "Sql",
            "MongoDB",
            "Cassandra",
            "Gremlin",
            "Table",
            "Analytical",
        ])
    } else if t.contains("/microsoft.healthcareapis/workspaces/") {
        Some(&["healthcareworkspace"])
    } else {
        None
    }
}

fn endpoint(
    st: &State,
    p: &ProviderPath,
    id: &str,
    existing: Option<&Resource>,
    body: &mut Value,
) -> ArmResult<()> {
    let Some(subnet_id) = body["properties"]["subnet"]["id"]
        .as_str()
        .map(str::to_string)
    else {
        return Err(ArmError::bad_request(
            "InvalidRequestFormat",
            "A private endpoint needs properties.subnet.id.",
        ));
    };
    if st.get(&subnet_id).is_none_or(|s| s.type_name != SUBNET) {
        return Err(missing_reference(&subnet_id, id));
    }
    let pe_name = p.name().unwrap_or_default().to_string();
    let ip = existing
        .and_then(|e| e.body["properties"]["customDnsConfigs"][0]["ipAddresses"][0].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| next_address(st, &subnet_id, id));
    let mut dns = Vec::new();
    let props = &mut body["properties"];
    for list in [
        "privateLinkServiceConnections",
        "manualPrivateLinkServiceConnections",
    ] {
        let manual = list.starts_with("manual");
        let Some(conns) = props.get_mut(list).and_then(Value::as_array_mut) else {
            props[list] = json!([]);
            continue;
        };
        for (i, c) in conns.iter_mut().enumerate() {
            let name = c["name"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{pe_name}-connection-{i}"));
            let Some(target) = c["properties"]["privateLinkServiceId"]
                .as_str()
                .map(str::to_string)
            else {
                return Err(ArmError::bad_request(
                    "InvalidRequestFormat",
                    "Each private link service connection needs properties.privateLinkServiceId.",
                ));
            };
            // Targets of types the simulator models must exist; others are taken as given.
            if let Some(groups) = valid_groups(&target) {
                if st.get(&target).is_none() {
                    return Err(ArmError::bad_request(
                        "PrivateLinkServiceNotFound",
                        format!(
                            "Private link service or resource {target} referenced by private endpoint {id} was not found."
                        ),
                    ));
                }
                for g in c["properties"]["groupIds"].as_array().into_iter().flatten() {
                    let g = g.as_str().unwrap_or_default();
                    if !groups.iter().any(|v| v.eq_ignore_ascii_case(g)) {
                        return Err(ArmError::bad_request(
                            "PrivateEndpointBadRequest",
                            format!(
                                "Call to {target} failed. Error message: The group id '{g}' is not valid. Valid group ids are: {}.",
                                groups.join(", ")
                            ),
                        ));
                    }
                    if let Some(fqdn) = private_fqdn(&target, g) {
                        dns.push(json!({"fqdn": fqdn, "ipAddresses": [ip]}));
                    }
                }
            }
            c["name"] = json!(name);
            c["id"] = json!(format!("{id}/{list}/{name}"));
            let (status, description) = if manual {
                ("Pending", "Awaiting approval")
            } else {
                ("Approved", "Auto-approved")
            };
            c["properties"]["privateLinkServiceConnectionState"] =
                json!({"status": status, "description": description, "actionsRequired": "None"});
            c["properties"]["provisioningState"] = json!("Succeeded");
        }
    }
    let nic_name = props["customNetworkInterfaceName"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "{pe_name}.nic.{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            )
        });
    let rg_id = format!(
        "/subscriptions/{}/resourceGroups/{}",
        p.subscription.clone().unwrap_or_default(),
        p.resource_group.clone().unwrap_or_default()
    );
    props["networkInterfaces"] = existing
        .map(|e| e.body["properties"]["networkInterfaces"].clone())
        .filter(Value::is_array)
        .unwrap_or_else(|| json!([{"id": format!("{rg_id}/providers/Microsoft.Network/networkInterfaces/{nic_name}")}]));
    props["customDnsConfigs"] = json!(dns);
    for k in ["applicationSecurityGroups", "ipConfigurations"] {
        if props.get(k).is_none() {
            props[k] = json!([]);
        }
    }
    Ok(())
}

fn zone_group(st: &State, p: &ProviderPath, id: &str, body: &mut Value) -> ArmResult<()> {
    let pe_id = p.parent_id();
    let dns: Vec<Value> = st
        .get(&pe_id)
        .and_then(|pe| {
            pe.body["properties"]["customDnsConfigs"]
                .as_array()
                .cloned()
        })
        .unwrap_or_default();
    let Some(configs) = body["properties"]["privateDnsZoneConfigs"].as_array_mut() else {
        return Err(ArmError::bad_request(
            "InvalidRequestFormat",
            "A private DNS zone group needs properties.privateDnsZoneConfigs.",
        ));
    };
    for (i, cfg) in configs.iter_mut().enumerate() {
        let Some(zone_id) = cfg["properties"]["privateDnsZoneId"]
            .as_str()
            .map(str::to_string)
        else {
            return Err(ArmError::bad_request(
                "InvalidRequestFormat",
                "Each privateDnsZoneConfig needs properties.privateDnsZoneId.",
            ));
        };
        if st.get(&zone_id).is_none_or(|z| z.type_name != ZONE) {
            return Err(missing_reference(&zone_id, id));
        }
        let zone = zone_id.rsplit('/').next().unwrap_or_default().to_string();
        if cfg.get("name").is_none() {
            cfg["name"] = json!(format!("config{}", i + 1));
        }
        let records: Vec<Value> = dns
            .iter()
            .filter_map(|d| {
                let fqdn = d["fqdn"].as_str()?;
                let host = fqdn.split('.').next()?;
                Some(json!({
                    "recordType": "A",
                    "recordSetName": host,
                    "fqdn": format!("{host}.{zone}"),
                    "ttl": 10,
                    "ipAddresses": d["ipAddresses"],
                    "provisioningState": "Succeeded"
                }))
            })
            .collect();
        cfg["properties"]["recordSets"] = json!(records);
    }
    Ok(())
}

/// The connection a target resource lists for one private endpoint connection.
fn connection_entry(target: &Resource, pe: &Resource, conn: &Value) -> Value {
    let pe_name = pe.id.rsplit('/').next().unwrap_or_default();
    let name = format!(
        "{pe_name}.{}",
        uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            pe.id.to_ascii_lowercase().as_bytes()
        )
    );
    json!({
        "id": format!("{}/privateEndpointConnections/{name}", target.id),
        "name": name,
        "type": format!("{}/privateEndpointConnections", target.type_name),
        "properties": {
            "privateEndpoint": {"id": pe.id},
            "groupIds": conn["properties"]["groupIds"],
            "privateLinkServiceConnectionState": conn["properties"]["privateLinkServiceConnectionState"],
            "provisioningState": "Succeeded"
        }
    })
}

/// The resources a private endpoint's connections point at.
fn targets(pe: &Resource) -> Vec<String> {
    [
        "privateLinkServiceConnections",
        "manualPrivateLinkServiceConnections",
    ]
    .iter()
    .flat_map(|list| {
        pe.body["properties"][*list]
            .as_array()
            .into_iter()
            .flatten()
    })
    .filter_map(|c| c["properties"]["privateLinkServiceId"].as_str())
    .map(str::to_string)
    .collect()
}

/// Removes the endpoint's connection from the resources it pointed at (the only ones that list
/// it).
fn remove_connections(st: &mut State, pe: &Resource) {
    for target in targets(pe) {
        let Some(r) = st.get_mut(&target) else {
            continue;
        };
        if let Some(list) = r.body["properties"]["privateEndpointConnections"].as_array_mut() {
            list.retain(|c| {
                !c["properties"]["privateEndpoint"]["id"]
                    .as_str()
                    .is_some_and(|id| id.eq_ignore_ascii_case(&pe.id))
            });
        }
    }
}

pub fn after_write(st: &mut State, spec: &TypeSpec, r: &Resource, previous: Option<&Resource>) {
    match spec.name {
        ENDPOINT => {
            // Connections are rebuilt from the endpoint's current body, wherever they pointed.
            let mut touched = targets(r);
            if let Some(previous) = previous {
                touched.extend(targets(previous));
                remove_connections(st, previous);
            }
            remove_connections(st, r);
            for list in [
                "privateLinkServiceConnections",
                "manualPrivateLinkServiceConnections",
            ] {
                for conn in r.body["properties"][list].as_array().into_iter().flatten() {
                    let Some(target_id) = conn["properties"]["privateLinkServiceId"].as_str()
                    else {
                        continue;
                    };
                    let Some(target) = st.get(target_id).cloned() else {
                        continue;
                    };
                    let entry = connection_entry(&target, r, conn);
                    if let Some(t) = st.get_mut(target_id) {
                        if !t.body["properties"].is_object() {
                            t.body["properties"] = json!({});
                        }
                        let list = &mut t.body["properties"]["privateEndpointConnections"];
                        if !list.is_array() {
                            *list = json!([]);
                        }
                        if let Some(a) = list.as_array_mut() {
                            a.push(entry);
                        }
                    }
                }
            }
            for target in touched {
                super::health::sync_network_access(st, &target);
            }
        }
        VNET => {
            let mut touched = nsg::nsgs_of_vnet(st, &r.id);
            sync_inline_subnets(st, r);
            touched.extend(nsg::nsgs_of_vnet(st, &r.id));
            nsg::refresh_subnets(st, &touched);
        }
        SUBNET => {
            if let Ok(Target::Provider(p)) = ids::parse(&r.id) {
                refresh_vnet_subnets(st, &p.parent_id());
            }
            let touched: Vec<String> = [
                previous.and_then(|p| nsg::nsg_of(&p.body)),
                nsg::nsg_of(&r.body),
            ]
            .into_iter()
            .flatten()
            .collect();
            nsg::refresh_subnets(st, &touched);
        }
        nsg::NSG => nsg::sync_inline_rules(st, r),
        nsg::RULE => {
            if let Ok(Target::Provider(p)) = ids::parse(&r.id) {
                nsg::refresh_rules(st, &p.parent_id());
            }
        }
        _ => {}
    }
}

/// The read-only properties of a subnet (`SubnetPropertiesFormat` in virtualNetwork.json): Azure
/// computes them from the resources that use the subnet, so a request cannot set them. The
/// writable ones (delegations, serviceEndpoints, routeTable, networkSecurityGroup, the network
/// policies...) are kept as sent.
const SUBNET_READ_ONLY: &[&str] = &[
    "ipConfigurations",
    "ipConfigurationProfiles",
    "privateEndpoints",
    "resourceNavigationLinks",
    "serviceAssociationLinks",
    "purpose",
];

fn strip_subnet_read_only(props: &mut Value) {
    if let Some(o) = props.as_object_mut() {
        for k in SUBNET_READ_ONLY {
            o.remove(*k);
        }
    }
}

/// Subnets sent inline in a virtual network PUT become child resources, as in Azure.
fn sync_inline_subnets(st: &mut State, vnet: &Resource) {
    let inline = vnet.body["properties"]["subnets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for s in inline {
        let Some(name) = s["name"].as_str() else {
            continue;
        };
        let id = format!("{}/subnets/{name}", vnet.id);
        let mut props = s["properties"].clone();
        if !props.is_object() {
            props = json!({});
        }
        strip_subnet_read_only(&mut props);
        props["provisioningState"] = json!("Succeeded");
        if props.get("privateEndpointNetworkPolicies").is_none() {
            props["privateEndpointNetworkPolicies"] = json!("Disabled");
        }
        let etag = format!("W/\"{}\"", uuid::Uuid::new_v4());
        let body =
            json!({"id": id, "name": name, "type": SUBNET, "etag": etag, "properties": props});
        st.resources.insert(
            lower(&id),
            Resource {
                id,
                type_name: SUBNET.to_string(),
                body,
                etag,
                last_modified_by: vnet.last_modified_by.clone(),
            },
        );
    }
    refresh_vnet_subnets(st, &vnet.id);
}

/// A virtual network's body lists its subnets.
fn refresh_vnet_subnets(st: &mut State, vnet_id: &str) {
    let prefix = format!("{}/subnets/", lower(vnet_id));
    let subnets: Vec<Value> = st
        .resources
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(k, _)| !k[prefix.len()..].contains('/'))
        .map(|(_, r)| r.body.clone())
        .collect();
    if let Some(v) = st.get_mut(vnet_id)
        && v.body["properties"].is_object()
    {
        v.body["properties"]["subnets"] = json!(subnets);
    }
}

/// Endpoints placed in the subnet (or in any subnet of the virtual network).
fn endpoints_in(st: &State, prefix: &str) -> Vec<String> {
    let prefix = lower(prefix);
    st.resources
        .values()
        .filter(|r| r.type_name == ENDPOINT)
        .filter(|r| {
            r.body["properties"]["subnet"]["id"]
                .as_str()
                .map(lower)
                .is_some_and(|s| s == prefix || s.starts_with(&format!("{prefix}/")))
        })
        .map(|r| r.id.clone())
        .collect()
}

pub fn on_delete(st: &mut State, spec: &TypeSpec, r: &Resource) -> ArmResult<()> {
    match spec.name {
        ENDPOINT => {
            remove_connections(st, r);
            for target in targets(r) {
                super::health::sync_network_access(st, &target);
            }
        }
        SUBNET | VNET => {
            let users = endpoints_in(st, &r.id);
            if let Some(first) = users.first() {
                let name = r.id.rsplit('/').next().unwrap_or_default();
                return Err(ArmError::bad_request(
                    "InUseSubnetCannotBeDeleted",
                    format!(
                        "Subnet {name} is in use by {first} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet."
                    ),
                ));
            }
            if spec.name == SUBNET {
                nsg::forget_subnet(st, r);
            } else {
                let prefix = format!("{}/subnets/", lower(&r.id));
                let subnets: Vec<Resource> = st
                    .resources
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .filter(|(_, s)| s.type_name == SUBNET)
                    .map(|(_, s)| s.clone())
                    .collect();
                for s in &subnets {
                    nsg::forget_subnet(st, s);
                }
            }
            if spec.name == SUBNET
                && let Ok(Target::Provider(p)) = ids::parse(&r.id)
                && let Some(v) = st.get_mut(&p.parent_id())
                && let Some(list) = v.body["properties"]["subnets"].as_array_mut()
            {
                list.retain(|s| {
                    !s["id"]
                        .as_str()
                        .is_some_and(|id| id.eq_ignore_ascii_case(&r.id))
                });
            }
        }
        nsg::NSG => nsg::check_delete(st, r)?,
        nsg::RULE => {
            if let Ok(Target::Provider(p)) = ids::parse(&r.id) {
                nsg::forget_rule(st, &p.parent_id(), &r.id);
            }
        }
        _ => {}
    }
    Ok(())
}
