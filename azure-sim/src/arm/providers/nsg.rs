//! Microsoft.Network network security groups and their security rules
//! (networkSecurityGroup.json 2024-05-01), and their association with subnets.
//!
//! A rule is a child resource; rules sent inline in an NSG PUT become those children (the PUT
//! defines the whole set) and the NSG lists its children. Every NSG carries the six default
//! rules of the recorded examples. A subnet names its NSG in
//! `properties.networkSecurityGroup.id`; the NSG lists the subnets that name it in
//! `properties.subnets[]`, and cannot be deleted while any does.

use serde_json::{Value, json};

use crate::errors::{ArmError, ArmResult};
use crate::ids::lower;
use crate::state::{Resource, State};

pub const NSG: &str = "Microsoft.Network/networkSecurityGroups";
pub const RULE: &str = "Microsoft.Network/networkSecurityGroups/securityRules";
const SUBNET: &str = super::network::SUBNET;

/// The default rules every NSG carries, as NetworkSecurityGroupCreateWithRule.json and
/// NetworkSecurityGroupGet.json record them: (name, description, source, destination, access,
/// priority, direction).
const DEFAULT_RULES: &[(&str, &str, &str, &str, &str, u32, &str)] = &[
    (
        "AllowVnetInBound",
        "Allow inbound traffic from all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Inbound",
    ),
    (
        "AllowAzureLoadBalancerInBound",
        "Allow inbound traffic from azure load balancer",
        "AzureLoadBalancer",
        "*",
        "Allow",
        65001,
        "Inbound",
    ),
    (
        "DenyAllInBound",
        "Deny all inbound traffic",
        "*",
        "*",
        "Deny",
        65500,
        "Inbound",
    ),
    (
        "AllowVnetOutBound",
        "Allow outbound traffic from all VMs to all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Outbound",
    ),
    (
        "AllowInternetOutBound",
        "Allow outbound traffic from all VMs to Internet",
        "*",
        "Internet",
        "Allow",
        65001,
        "Outbound",
    ),
    (
        "DenyAllOutBound",
        "Deny all outbound traffic",
        "*",
        "*",
        "Deny",
        65500,
        "Outbound",
    ),
];

fn default_rules(nsg_id: &str) -> Value {
    let rules: Vec<Value> = DEFAULT_RULES
        .iter()
        .map(
            |(name, description, source, destination, access, priority, direction)| {
                json!({
                    "name": name,
                    "id": format!("{nsg_id}/defaultSecurityRules/{name}"),
                    "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "description": description,
                        "protocol": "*",
                        "sourcePortRange": "*",
                        "destinationPortRange": "*",
                        "sourceAddressPrefix": source,
                        "destinationAddressPrefix": destination,
                        "access": access,
                        "priority": priority,
                        "direction": direction
                    }
                })
            },
        )
        .collect();
    json!(rules)
}

fn bad(code: &str, message: impl Into<String>) -> ArmError {
    ArmError::bad_request(code, message)
}

fn one_of(props: &Value, key: &str, allowed: &[&str]) -> ArmResult<()> {
    let v = props[key].as_str().unwrap_or_default();
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) {
        Ok(())
    } else {
        Err(bad(
            "InvalidRequestFormat",
            format!(
                "Security rule property '{key}' is '{v}'; it must be one of {}.",
                allowed.join(", ")
            ),
        ))
    }
}

/// A rule's required properties (`SecurityRulePropertiesFormat`): protocol, access, direction,
/// and a priority from 100 to 4096.
fn validate_rule(name: &str, props: &Value) -> ArmResult<()> {
    if !props.is_object() {
        return Err(bad(
            "InvalidRequestFormat",
            format!("Security rule {name} needs properties."),
        ));
    }
    one_of(props, "protocol", &["Tcp", "Udp", "Icmp", "Esp", "*", "Ah"])?;
    one_of(props, "access", &["Allow", "Deny"])?;
    one_of(props, "direction", &["Inbound", "Outbound"])?;
    match props["priority"].as_i64() {
        Some(p) if (100..=4096).contains(&p) => Ok(()),
        other => Err(bad(
            "SecurityRuleInvalidPriority",
            format!(
                "Security rule has invalid Priority. Value provided: {}. Allowed range 100-4096.",
                other.map_or_else(|| "none".to_string(), |p| p.to_string())
            ),
        )),
    }
}

/// Two rules of one NSG may not share priority and direction (the 400 Azure answers, as quoted
/// in hashicorp/terraform-provider-azurerm#11137).
fn conflict(existing: &str, new: &str) -> ArmError {
    bad(
        "SecurityRuleConflict",
        format!(
            "Security rule {existing} conflicts with rule {new}. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules."
        ),
    )
}

fn same_slot(a: &Value, b: &Value) -> bool {
    a["priority"] == b["priority"]
        && a["direction"]
            .as_str()
            .zip(b["direction"].as_str())
            .is_some_and(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// The subnets that name this NSG, as the NSG lists them.
fn subnets_of(st: &State, nsg_id: &str) -> Vec<Value> {
    let nsg = lower(nsg_id);
    st.resources
        .values()
        .filter(|r| r.type_name == SUBNET)
        .filter(|r| {
            r.body["properties"]["networkSecurityGroup"]["id"]
                .as_str()
                .is_some_and(|id| lower(id) == nsg)
        })
        .map(|r| json!({"id": r.id}))
        .collect()
}

fn set_subnets(props: &mut Value, subnets: Vec<Value>) {
    if let Some(o) = props.as_object_mut() {
        if subnets.is_empty() {
            o.remove("subnets");
        } else {
            o.insert("subnets".into(), json!(subnets));
        }
    }
}

/// An NSG PUT: inline rules validated and given ids, default rules, and the computed lists.
pub fn on_put_nsg(
    st: &State,
    id: &str,
    existing: Option<&Resource>,
    body: &mut Value,
) -> ArmResult<()> {
    let props = &mut body["properties"];
    let mut rules = props["securityRules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, rule) in rules.iter_mut().enumerate() {
        let Some(name) = rule["name"].as_str().map(str::to_string) else {
            return Err(bad(
                "InvalidRequestFormat",
                format!("properties.securityRules[{i}] needs a name."),
            ));
        };
        validate_rule(&name, &rule["properties"])?;
        rule["id"] = json!(format!("{id}/securityRules/{name}"));
        rule["properties"]["provisioningState"] = json!("Succeeded");
    }
    for (i, a) in rules.iter().enumerate() {
        for b in &rules[i + 1..] {
            if same_slot(&a["properties"], &b["properties"]) {
                return Err(conflict(
                    a["name"].as_str().unwrap_or_default(),
                    b["name"].as_str().unwrap_or_default(),
                ));
            }
        }
    }
    props["securityRules"] = json!(rules);
    props["defaultSecurityRules"] = default_rules(id);
    props["resourceGuid"] = existing
        .map(|e| e.body["properties"]["resourceGuid"].clone())
        .filter(Value::is_string)
        .unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string()));
    if let Some(o) = props.as_object_mut() {
        o.remove("networkInterfaces");
        o.remove("flowLogs");
    }
    set_subnets(props, subnets_of(st, id));
    Ok(())
}

/// A security rule PUT: validated, and its priority free in its direction.
pub fn on_put_rule(st: &State, nsg_id: &str, id: &str, body: &mut Value) -> ArmResult<()> {
    let name = id.rsplit('/').next().unwrap_or_default().to_string();
    validate_rule(&name, &body["properties"])?;
    if let Some(nsg) = st.get(nsg_id) {
        for other in nsg.body["properties"]["securityRules"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let other_name = other["name"].as_str().unwrap_or_default();
            if !other_name.eq_ignore_ascii_case(&name)
                && same_slot(&other["properties"], &body["properties"])
            {
                return Err(conflict(other_name, &name));
            }
        }
    }
    Ok(())
}

fn rule_resource(nsg: &Resource, rule: &Value) -> Option<Resource> {
    let name = rule["name"].as_str()?;
    let id = format!("{}/securityRules/{name}", nsg.id);
    let etag = format!("W/\"{}\"", uuid::Uuid::new_v4());
    let body = json!({"name": name, "id": id, "type": RULE, "etag": etag, "properties": rule["properties"]});
    Some(Resource {
        id,
        type_name: RULE.to_string(),
        body,
        etag,
        last_modified_by: nsg.last_modified_by.clone(),
    })
}

/// After an NSG PUT: its inline rules are its child rules, no more and no fewer.
pub fn sync_inline_rules(st: &mut State, nsg: &Resource) {
    let inline = nsg.body["properties"]["securityRules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let prefix = format!("{}/securityrules/", lower(&nsg.id));
    let stale: Vec<String> = st
        .resources
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in stale {
        st.resources.remove(&k);
    }
    for rule in &inline {
        if let Some(r) = rule_resource(nsg, rule) {
            st.resources.insert(lower(&r.id), r);
        }
    }
    refresh_rules(st, &nsg.id);
}

/// An NSG lists its child rules.
pub fn refresh_rules(st: &mut State, nsg_id: &str) {
    let prefix = format!("{}/securityrules/", lower(nsg_id));
    let rules: Vec<Value> = st
        .resources
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(k, _)| !k[prefix.len()..].contains('/'))
        .map(|(_, r)| r.body.clone())
        .collect();
    if let Some(n) = st.get_mut(nsg_id)
        && n.body["properties"].is_object()
    {
        n.body["properties"]["securityRules"] = json!(rules);
    }
}

/// Removes a rule from its NSG's list (the rule itself goes when its delete completes).
pub fn forget_rule(st: &mut State, nsg_id: &str, rule_id: &str) {
    if let Some(n) = st.get_mut(nsg_id)
        && let Some(list) = n.body["properties"]["securityRules"].as_array_mut()
    {
        list.retain(|r| {
            !r["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(rule_id))
        });
    }
}

/// The NSG a subnet body names, if any.
pub fn nsg_of(subnet_body: &Value) -> Option<String> {
    subnet_body["properties"]["networkSecurityGroup"]["id"]
        .as_str()
        .map(str::to_string)
}

/// A subnet (or a VNet's inline subnet) may name only an NSG that exists.
pub fn check_reference(st: &State, subnet_props: &Value, by: &str) -> ArmResult<()> {
    let Some(nsg) = subnet_props["networkSecurityGroup"]["id"].as_str() else {
        if subnet_props["networkSecurityGroup"].is_null()
            || subnet_props.get("networkSecurityGroup").is_none()
        {
            return Ok(());
        }
        return Err(bad(
            "InvalidRequestFormat",
            "properties.networkSecurityGroup needs an id.",
        ));
    };
    if st.get(nsg).is_none_or(|r| r.type_name != NSG) {
        return Err(bad(
            "InvalidResourceReference",
            format!(
                "Resource {nsg} referenced by resource {by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."
            ),
        ));
    }
    Ok(())
}

/// Recomputes the subnet lists of the given NSGs.
pub fn refresh_subnets(st: &mut State, nsg_ids: &[String]) {
    for nsg_id in nsg_ids {
        let subnets = subnets_of(st, nsg_id);
        if let Some(n) = st.get_mut(nsg_id)
            && n.body["properties"].is_object()
        {
            set_subnets(&mut n.body["properties"], subnets);
        }
    }
}

/// Removes a subnet about to be deleted from the list of the NSG it names.
pub fn forget_subnet(st: &mut State, subnet: &Resource) {
    let Some(nsg_id) = nsg_of(&subnet.body) else {
        return;
    };
    if let Some(n) = st.get_mut(&nsg_id)
        && let Some(list) = n.body["properties"]["subnets"].as_array_mut()
    {
        list.retain(|s| {
            !s["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(&subnet.id))
        });
        if list.is_empty()
            && let Some(o) = n.body["properties"].as_object_mut()
        {
            o.remove("subnets");
        }
    }
}

/// An NSG still named by a subnet cannot be deleted (the 400 Azure answers, as quoted in
/// pulumi/pulumi-azure-native#3051 and DataBiosphere/terra-workspace-manager#502).
pub fn check_delete(st: &State, nsg: &Resource) -> ArmResult<()> {
    let users = subnets_of(st, &nsg.id);
    if users.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = users.iter().filter_map(|s| s["id"].as_str()).collect();
    Err(bad(
        "InUseNetworkSecurityGroupCannotBeDeleted",
        format!(
            "Network security group {} cannot be deleted because it is in use by the following resources: {}. In order to delete the Network security group, remove the association with the resource(s).",
            nsg.id,
            ids.join(", ")
        ),
    ))
}

/// The NSGs a virtual network's subnets name, now or before a write.
pub fn nsgs_of_vnet(st: &State, vnet_id: &str) -> Vec<String> {
    let prefix = format!("{}/subnets/", lower(vnet_id));
    st.resources
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(_, r)| r.type_name == SUBNET)
        .filter_map(|(_, r)| nsg_of(&r.body))
        .collect()
}
