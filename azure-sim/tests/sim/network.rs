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
