//! Private endpoints: the subnet must exist, the target gets an Approved connection, DNS zone
//! groups compute record sets, deleting the endpoint removes the connection.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

const NET: &str = "2024-05-01";

#[tokio::test(flavor = "multi_thread")]
async fn private_endpoint_to_a_storage_account_end_to_end() {
    let h = Harness::start().await;
    let acct = h.storage_account("phiblob01").await;
    let vnet = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/virtualNetworks/vnet-phi"
    );
    let v = h.arm(Method::PUT, &format!("{vnet}?api-version={NET}"), Some(&json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.20.0.0/16"]}}}))).await;
    assert_eq!(v.status, 201);
    let subnet = format!("{vnet}/subnets/endpoints");
    let s = h
        .arm(
            Method::PUT,
            &format!("{subnet}?api-version={NET}"),
            Some(&json!({"properties": {"addressPrefix": "10.20.1.0/24"}})),
        )
        .await;
    assert_eq!(s.status, 201, "{:?}", s.body);
    let vg = h
        .arm(Method::GET, &format!("{vnet}?api-version={NET}"), None)
        .await;
    assert_eq!(
        vg.body["properties"]["subnets"][0]["name"], "endpoints",
        "the vnet lists its subnets"
    );

    let pe = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/privateEndpoints/pe-blob"
    );
    let body = |subnet_id: &str| {
        json!({"location": "eastus", "properties": {"subnet": {"id": subnet_id},
            "privateLinkServiceConnections": [{"name": "blob", "properties": {"privateLinkServiceId": acct, "groupIds": ["blob"]}}]}})
    };
    let missing = h
        .arm(
            Method::PUT,
            &format!("{pe}?api-version={NET}"),
            Some(&body(&format!("{vnet}/subnets/nope"))),
        )
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (400, "InvalidResourceReference")
    );
    let bad_group = h
        .arm(Method::PUT, &format!("{pe}?api-version={NET}"), Some(&json!({"location": "eastus", "properties": {"subnet": {"id": subnet},
            "privateLinkServiceConnections": [{"name": "x", "properties": {"privateLinkServiceId": acct, "groupIds": ["vault"]}}]}})))
        .await;
    assert_eq!(bad_group.status, 400);

    let r = h
        .arm(
            Method::PUT,
            &format!("{pe}?api-version={NET}"),
            Some(&body(&subnet)),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(r.header("azure-asyncoperation").is_some());
    assert!(
        r.body["etag"]
            .as_str()
            .is_some_and(|e| e.starts_with("W/\""))
    );
    let conn = &r.body["properties"]["privateLinkServiceConnections"][0];
    assert_eq!(
        conn["properties"]["privateLinkServiceConnectionState"]["status"],
        "Approved"
    );
    assert_eq!(
        r.body["properties"]["customDnsConfigs"][0]["fqdn"],
        "phiblob01.privatelink.blob.core.windows.net"
    );
    assert_eq!(
        r.body["properties"]["customDnsConfigs"][0]["ipAddresses"][0],
        "10.20.1.4"
    );

    let target = h
        .arm(
            Method::GET,
            &format!("{acct}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    let pecs = target.body["properties"]["privateEndpointConnections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(pecs.len(), 1);
    assert_eq!(pecs[0]["properties"]["privateEndpoint"]["id"], pe);
    assert_eq!(
        pecs[0]["properties"]["privateLinkServiceConnectionState"]["status"],
        "Approved"
    );

    let zone = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net"
    );
    let group = format!("{pe}/privateDnsZoneGroups/default");
    let gbody = json!({"properties": {"privateDnsZoneConfigs": [{"name": "blob", "properties": {"privateDnsZoneId": zone}}]}});
    let no_zone = h
        .arm(
            Method::PUT,
            &format!("{group}?api-version={NET}"),
            Some(&gbody),
        )
        .await;
    assert_eq!(no_zone.code(), "InvalidResourceReference");
    let z = h
        .arm(
            Method::PUT,
            &format!("{zone}?api-version=2020-06-01"),
            Some(&json!({"location": "global"})),
        )
        .await;
    assert_eq!(z.status, 201, "{:?}", z.body);
    let g = h
        .arm(
            Method::PUT,
            &format!("{group}?api-version={NET}"),
            Some(&gbody),
        )
        .await;
    assert_eq!(g.status, 201, "{:?}", g.body);
    let rs = &g.body["properties"]["privateDnsZoneConfigs"][0]["properties"]["recordSets"][0];
    assert_eq!(rs["fqdn"], "phiblob01.privatelink.blob.core.windows.net");
    assert_eq!(rs["ipAddresses"][0], "10.20.1.4");

    let in_use = h
        .arm(Method::DELETE, &format!("{subnet}?api-version={NET}"), None)
        .await;
    assert_eq!(
        (in_use.status, in_use.code()),
        (400, "InUseSubnetCannotBeDeleted")
    );
    let d = h
        .arm(Method::DELETE, &format!("{pe}?api-version={NET}"), None)
        .await;
    assert_eq!(d.status, 202);
    let target = h
        .arm(
            Method::GET,
            &format!("{acct}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(
        target.body["properties"]["privateEndpointConnections"],
        json!([])
    );
    assert_eq!(
        h.arm(Method::GET, &format!("{group}?api-version={NET}"), None)
            .await
            .status,
        404
    );
    let free = h
        .arm(Method::DELETE, &format!("{subnet}?api-version={NET}"), None)
        .await;
    assert_eq!(free.status, 202, "an unused subnet can go");
    let vg = h
        .arm(Method::GET, &format!("{vnet}?api-version={NET}"), None)
        .await;
    assert_eq!(vg.body["properties"]["subnets"], json!([]));
}

fn net_id(kind: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/{kind}/{name}")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_nsg_associated_with_a_subnet_shows_on_both_and_stays_while_in_use() {
    let h = Harness::start().await;
    let nsg = net_id("networkSecurityGroups", "nsg-phi");
    let vnet = net_id("virtualNetworks", "vnet-nsg");
    let subnet = format!("{vnet}/subnets/data");
    let v = h
        .arm(Method::PUT, &format!("{vnet}?api-version={NET}"), Some(&json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.30.0.0/16"]}}})))
        .await;
    assert_eq!(v.status, 201, "{:?}", v.body);
    let subnet_body = |nsg_id: Option<&str>| {
        let mut b = json!({"properties": {"addressPrefix": "10.30.1.0/24",
            "privateEndpointNetworkPolicies": "Enabled",
            "serviceEndpoints": [{"service": "Microsoft.Storage", "locations": ["eastus"]}],
            "delegations": [{"name": "sql", "properties": {"serviceName": "Microsoft.Sql/managedInstances"}}],
            "routeTable": {"id": net_id("routeTables", "rt-phi")}}});
        if let Some(id) = nsg_id {
            b["properties"]["networkSecurityGroup"] = json!({"id": id});
        }
        b
    };
    let missing = h
        .arm(
            Method::PUT,
            &format!("{subnet}?api-version={NET}"),
            Some(&subnet_body(Some(&nsg))),
        )
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (400, "InvalidResourceReference")
    );

    let n = h
        .arm(Method::PUT, &format!("{nsg}?api-version={NET}"), Some(&json!({"location": "eastus", "properties": {"securityRules": [
            {"name": "deny-internet", "properties": {"protocol": "*", "access": "Deny", "direction": "Inbound", "priority": 4000,
             "sourceAddressPrefix": "Internet", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "*"}}]}})))
        .await;
    assert_eq!(n.status, 201, "{:?}", n.body);
    assert!(n.header("azure-asyncoperation").is_some());
    assert_eq!(
        n.body["properties"]["defaultSecurityRules"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );
    assert!(n.body["properties"].get("subnets").is_none());

    let s = h
        .arm(
            Method::PUT,
            &format!("{subnet}?api-version={NET}"),
            Some(&subnet_body(Some(&nsg))),
        )
        .await;
    assert_eq!(s.status, 201, "{:?}", s.body);
    let got = h
        .arm(Method::GET, &format!("{subnet}?api-version={NET}"), None)
        .await;
    let props = &got.body["properties"];
    assert_eq!(props["networkSecurityGroup"]["id"], nsg);
    assert_eq!(props["privateEndpointNetworkPolicies"], "Enabled");
    assert_eq!(
        props["delegations"][0]["properties"]["serviceName"],
        "Microsoft.Sql/managedInstances"
    );
    assert_eq!(props["serviceEndpoints"][0]["service"], "Microsoft.Storage");
    assert_eq!(props["routeTable"]["id"], net_id("routeTables", "rt-phi"));
    let n = h
        .arm(Method::GET, &format!("{nsg}?api-version={NET}"), None)
        .await;
    assert_eq!(n.body["properties"]["subnets"], json!([{"id": subnet}]));
    let v = h
        .arm(Method::GET, &format!("{vnet}?api-version={NET}"), None)
        .await;
    assert_eq!(
        v.body["properties"]["subnets"][0]["properties"]["networkSecurityGroup"]["id"],
        nsg
    );

    let in_use = h
        .arm(Method::DELETE, &format!("{nsg}?api-version={NET}"), None)
        .await;
    assert_eq!(
        (in_use.status, in_use.code()),
        (400, "InUseNetworkSecurityGroupCannotBeDeleted")
    );

    // Tags change without touching the association.
    let tagged = h
        .arm(
            Method::PATCH,
            &format!("{nsg}?api-version={NET}"),
            Some(&json!({"tags": {"data": "phi"}, "properties": {"securityRules": []}})),
        )
        .await;
    assert_eq!(tagged.status, 200, "{:?}", tagged.body);
    assert_eq!(tagged.body["tags"]["data"], "phi");
    assert_eq!(
        tagged.body["properties"]["securityRules"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "UpdateTags changes tags only"
    );

    let bare = h
        .arm(
            Method::PUT,
            &format!("{subnet}?api-version={NET}"),
            Some(&subnet_body(None)),
        )
        .await;
    assert_eq!(bare.status, 200, "{:?}", bare.body);
    let n = h
        .arm(Method::GET, &format!("{nsg}?api-version={NET}"), None)
        .await;
    assert!(
        n.body["properties"].get("subnets").is_none(),
        "{:?}",
        n.body
    );

    // A virtual network PUT naming the NSG on an inline subnet associates it too.
    let v = h
        .arm(Method::PUT, &format!("{vnet}?api-version={NET}"), Some(&json!({"location": "eastus", "properties": {
            "addressSpace": {"addressPrefixes": ["10.30.0.0/16"]},
            "subnets": [{"name": "data", "properties": {"addressPrefix": "10.30.1.0/24", "networkSecurityGroup": {"id": nsg}}}]}})))
        .await;
    assert_eq!(v.status, 200, "{:?}", v.body);
    let n = h
        .arm(Method::GET, &format!("{nsg}?api-version={NET}"), None)
        .await;
    assert_eq!(n.body["properties"]["subnets"], json!([{"id": subnet}]));
    let gone = h
        .arm(Method::DELETE, &format!("{subnet}?api-version={NET}"), None)
        .await;
    assert_eq!(gone.status, 202, "{:?}", gone.body);
    let n = h
        .arm(Method::GET, &format!("{nsg}?api-version={NET}"), None)
        .await;
    assert!(n.body["properties"].get("subnets").is_none());
    let deleted = h
        .arm(Method::DELETE, &format!("{nsg}?api-version={NET}"), None)
        .await;
    assert_eq!(deleted.status, 202, "{:?}", deleted.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn security_rules_are_children_with_unique_priorities_per_direction() {
    let h = Harness::start().await;
    let nsg = net_id("networkSecurityGroups", "nsg-rules");
    let rule = |name: &str, priority: i64, direction: &str| {
        json!({"name": name, "properties": {"protocol": "Tcp", "access": "Allow", "direction": direction, "priority": priority,
            "sourceAddressPrefix": "10.0.0.0/8", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "443"}})
    };
    let clash = h
        .arm(Method::PUT, &format!("{nsg}?api-version={NET}"), Some(&json!({"location": "eastus", "properties": {"securityRules": [rule("a", 200, "Inbound"), rule("b", 200, "Inbound")]}})))
        .await;
    assert_eq!((clash.status, clash.code()), (400, "SecurityRuleConflict"));
    let n = h
        .arm(Method::PUT, &format!("{nsg}?api-version={NET}"), Some(&json!({"location": "eastus", "properties": {"securityRules": [rule("https-in", 200, "Inbound")]}})))
        .await;
    assert_eq!(n.status, 201, "{:?}", n.body);
    let r1 = format!("{nsg}/securityRules/https-in");
    let got = h
        .arm(Method::GET, &format!("{r1}?api-version={NET}"), None)
        .await;
    assert_eq!(got.status, 200, "an inline rule is a child resource");
    assert_eq!(got.body["properties"]["provisioningState"], "Succeeded");

    let r2 = format!("{nsg}/securityRules/https-out");
    let same_in = h
        .arm(
            Method::PUT,
            &format!("{r2}?api-version={NET}"),
            Some(&json!({"properties": rule("x", 200, "Inbound")["properties"]})),
        )
        .await;
    assert_eq!(
        (same_in.status, same_in.code()),
        (400, "SecurityRuleConflict")
    );
    assert!(
        same_in.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Rules cannot have the same Priority and Direction"))
    );
    let out = h
        .arm(
            Method::PUT,
            &format!("{r2}?api-version={NET}"),
            Some(&json!({"properties": rule("x", 200, "Outbound")["properties"]})),
        )
        .await;
    assert_eq!(
        out.status, 201,
        "the same priority in the other direction: {:?}",
        out.body
    );
    assert!(out.header("azure-asyncoperation").is_some());
    let too_high = h
        .arm(
            Method::PUT,
            &format!("{nsg}/securityRules/late?api-version={NET}"),
            Some(&json!({"properties": rule("x", 5000, "Inbound")["properties"]})),
        )
        .await;
    assert_eq!(
        (too_high.status, too_high.code()),
        (400, "SecurityRuleInvalidPriority")
    );
    let listed = h
        .arm(Method::GET, &format!("{nsg}?api-version={NET}"), None)
        .await;
    assert_eq!(
        listed.body["properties"]["securityRules"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let d = h
        .arm(Method::DELETE, &format!("{r2}?api-version={NET}"), None)
        .await;
    assert_eq!(d.status, 202);
    let listed = h
        .arm(Method::GET, &format!("{nsg}?api-version={NET}"), None)
        .await;
    assert_eq!(
        listed.body["properties"]["securityRules"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // An NSG PUT carries the whole rule set: rules it leaves out are gone.
    let replaced = h
        .arm(Method::PUT, &format!("{nsg}?api-version={NET}"), Some(&json!({"location": "eastus", "properties": {"securityRules": [rule("ssh-in", 300, "Inbound")]}})))
        .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    let old = h
        .arm(Method::GET, &format!("{r1}?api-version={NET}"), None)
        .await;
    assert_eq!(old.status, 404);
    let rules = h
        .arm(
            Method::GET,
            &format!("{nsg}/securityRules?api-version={NET}"),
            None,
        )
        .await;
    assert_eq!(rules.body["value"][0]["name"], "ssh-in");
}
