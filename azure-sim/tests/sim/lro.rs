//! Long-running operations: each provider's style, polling to Succeeded and to Failed, conflicts
//! while an operation runs.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn storage_create_polls_from_accepted_to_succeeded_on_the_clock() {
    let h = Harness::start().await;
    h.set_config(json!({"lroDurationMs": 30000, "lroRetryAfterSecs": 2}))
        .await;
    let id = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/slow01"
    );
    let body = json!({"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}});
    let r = h
        .arm(
            Method::PUT,
            &format!("{id}?api-version={STORAGE_API}"),
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.header("retry-after"), Some("2"));
    let location = r.header("location").expect("location").to_string();
    let running = h.arm_url(Method::GET, &location).await;
    assert_eq!(running.status, 202);
    assert!(running.header("location").is_some());
    let g = h
        .arm(
            Method::GET,
            &format!("{id}?api-version={STORAGE_API}"),
            None,
        )
        .await;
    assert_eq!(g.body["properties"]["provisioningState"], "Creating");
    let conflict = h
        .arm(
            Method::PATCH,
            &format!("{id}?api-version={STORAGE_API}"),
            Some(&json!({"tags": {}})),
        )
        .await;
    assert_eq!((conflict.status, conflict.code()), (409, "Conflict"));
    h.admin(
        Method::POST,
        "/clock/advance",
        Some(&json!({"seconds": 31})),
    )
    .await;
    let done = h.arm_url(Method::GET, &location).await;
    assert_eq!(done.status, 200);
    assert_eq!(done.body["properties"]["provisioningState"], "Succeeded");
}

async fn vnet_and_subnet(h: &Harness) -> String {
    let vnet = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/virtualNetworks/vnet1"
    );
    let r = h
        .arm(
            Method::PUT,
            &format!("{vnet}?api-version=2024-05-01"),
            Some(&json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
                "subnets": [{"name": "pe", "properties": {"addressPrefix": "10.1.2.0/24"}}]}})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    format!("{vnet}/subnets/pe")
}

#[tokio::test(flavor = "multi_thread")]
async fn network_put_uses_azure_async_operation_and_can_fail() {
    let h = Harness::start().await;
    let subnet = vnet_and_subnet(&h).await;
    let pe = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/privateEndpoints/pe-fail"
    );
    let fault = h
        .admin(Method::POST, "/faults", Some(&json!({"method": "PUT", "path": "*/privateEndpoints/pe-fail", "times": 1,
            "action": {"kind": "failOperation", "code": "PrivateEndpointCreationFailed", "message": "simulated failure"}})))
        .await;
    assert_eq!(fault.status, 201);
    h.set_config(json!({"lroDurationMs": 5000})).await;
    let body = json!({"location": "eastus", "properties": {"subnet": {"id": subnet},
        "privateLinkServiceConnections": [{"name": "c", "properties": {"privateLinkServiceId": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/privateLinkServices/pls", "groupIds": ["g"]}}]}});
    let r = h
        .arm(
            Method::PUT,
            &format!("{pe}?api-version=2024-05-01"),
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["properties"]["provisioningState"], "Creating");
    let op = r
        .header("azure-asyncoperation")
        .expect("Azure-AsyncOperation")
        .to_string();
    assert!(op.contains("/providers/Microsoft.Network/locations/eastus/operationStatuses/"));
    let running = h.arm_url(Method::GET, &op).await;
    assert_eq!(running.body["status"], "InProgress");
    h.admin(Method::POST, "/clock/advance", Some(&json!({"seconds": 6})))
        .await;
    let failed = h.arm_url(Method::GET, &op).await;
    assert_eq!(failed.status, 200);
    assert_eq!(failed.body["status"], "Failed");
    assert_eq!(
        failed.body["error"]["code"],
        "PrivateEndpointCreationFailed"
    );
    let g = h
        .arm(Method::GET, &format!("{pe}?api-version=2024-05-01"), None)
        .await;
    assert_eq!(g.body["properties"]["provisioningState"], "Failed");

    // The fault fired once: the retry succeeds.
    let retry = h
        .arm(
            Method::PUT,
            &format!("{pe}?api-version=2024-05-01"),
            Some(&body),
        )
        .await;
    assert_eq!(retry.status, 200);
    h.admin(Method::POST, "/clock/advance", Some(&json!({"seconds": 6})))
        .await;
    let ok = h
        .arm_url(
            Method::GET,
            retry.header("azure-asyncoperation").expect("header"),
        )
        .await;
    assert_eq!(ok.body["status"], "Succeeded");

    let d = h
        .arm(
            Method::DELETE,
            &format!("{pe}?api-version=2024-05-01"),
            None,
        )
        .await;
    assert_eq!(d.status, 202);
    assert!(d.header("azure-asyncoperation").is_some() && d.header("location").is_some());
    h.admin(Method::POST, "/clock/advance", Some(&json!({"seconds": 6})))
        .await;
    let after = h
        .poll_location(d.header("location").expect("location"))
        .await;
    assert_eq!(after.status, 204);
    assert_eq!(
        h.arm(Method::GET, &format!("{pe}?api-version=2024-05-01"), None)
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_patch_answers_202_with_location() {
    let h = Harness::start().await;
    let srv =
        format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Sql/servers/sql-phi");
    let c = h
        .arm(Method::PUT, &format!("{srv}?api-version=2023-08-01"), Some(&json!({"location": "eastus", "properties": {"administratorLogin": "a", "administratorLoginPassword": "p"}})))
        .await;
    assert_eq!(c.status, 202);
    let created = h
        .poll_location(c.header("location").expect("location"))
        .await;
    assert_eq!(created.status, 200);
    assert!(
        created.body["properties"]
            .get("administratorLoginPassword")
            .is_none(),
        "write-only"
    );
    let p = h.arm(Method::PATCH, &format!("{srv}?api-version=2023-08-01"), Some(&json!({"properties": {"minimalTlsVersion": "1.2", "publicNetworkAccess": "Disabled"}}))).await;
    assert_eq!(p.status, 202);
    let done = h
        .poll_location(p.header("location").expect("location"))
        .await;
    assert_eq!(done.status, 200);
    assert_eq!(done.body["properties"]["publicNetworkAccess"], "Disabled");
    let bad = h
        .arm(
            Method::PATCH,
            &format!("{srv}?api-version=2023-08-01"),
            Some(&json!({"properties": {"minimalTlsVersion": "1.9"}})),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (400, "InvalidMinimalTlsVersion"));
}

#[tokio::test(flavor = "multi_thread")]
async fn health_data_services_patch_changes_tags_but_not_properties() {
    // Sends the readOnly `publicNetworkAccess` and a PATCH property the model does not have, to
    // show Azure ignores them: only a lenient simulator lets such bodies reach the provider.
    let h = Harness::lenient().await;
    let ws = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.HealthcareApis/workspaces/hdsws"
    );
    let c = h
        .arm(
            Method::PUT,
            &format!("{ws}?api-version=2024-03-31"),
            Some(&json!({"location": "eastus", "properties": {"publicNetworkAccess": "Enabled"}})),
        )
        .await;
    assert_eq!(c.status, 201);
    assert!(c.header("azure-asyncoperation").is_some());
    assert!(c.header("etag").is_some());
    let p = h
        .arm(
            Method::PATCH,
            &format!("{ws}?api-version=2024-03-31"),
            Some(&json!({"tags": {"k": "v"}, "properties": {"publicNetworkAccess": "Disabled"}})),
        )
        .await;
    assert_eq!(p.status, 202);
    let g = h
        .arm(Method::GET, &format!("{ws}?api-version=2024-03-31"), None)
        .await;
    assert_eq!(g.body["tags"], json!({"k": "v"}));
    assert_eq!(
        g.body["properties"]["publicNetworkAccess"], "Enabled",
        "PATCH cannot change properties"
    );
    let put = h
        .arm(
            Method::PUT,
            &format!("{ws}?api-version=2024-03-31"),
            Some(&json!({"location": "eastus", "properties": {"publicNetworkAccess": "Disabled"}})),
        )
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(
        put.body["properties"]["publicNetworkAccess"], "Enabled",
        "read-only: a PUT cannot change it either (it follows the private link)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resource_group_contributor_polls_the_operations_it_starts() {
    let h = Harness::start().await;
    h.set_config(json!({"lroDurationMs": 1000})).await;
    let op = h.token(OPERATOR).await;
    let id = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/byop01?api-version={STORAGE_API}"
    );
    let body = json!({"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}});
    let r = h.arm_as(&op, Method::PUT, &id, Some(&body)).await;
    assert_eq!(r.status, 202);
    let location = r.header("location").expect("location").to_string();
    let poll = h.send(Method::GET, &location, Some(&op), None, &[]).await;
    assert_eq!(
        poll.status, 202,
        "Contributor on the group may follow its operation: {:?}",
        poll.body
    );
    let nobody = h.token(NOBODY).await;
    let stranger = h
        .send(Method::GET, &location, Some(&nobody), None, &[])
        .await;
    assert_eq!(
        stranger.status, 403,
        "a principal without access to the resource may not"
    );
    h.admin(Method::POST, "/clock/advance", Some(&json!({"seconds": 2})))
        .await;
    let done = h.send(Method::GET, &location, Some(&op), None, &[]).await;
    assert_eq!(done.status, 200);
    let create_only = h
        .send(
            Method::PUT,
            &h.url(&id),
            Some(&op),
            Some(&body),
            &[("If-None-Match", "*")],
        )
        .await;
    assert_eq!(
        (create_only.status, create_only.code()),
        (412, "PreconditionFailed"),
        "If-None-Match: * makes a PUT create-only"
    );
}

/// `publicNetworkAccess` is read-only on a Health Data Services workspace and its services
/// (healthcare-apis.json 2024-03-31, `ResourcePublicNetworkAccess` is `readOnly`): an approved
/// private endpoint to the workspace disables public access for the workspace and every FHIR and
/// DICOM service in it (Microsoft Learn, "Configure Private Link for Azure Health Data Services").
#[tokio::test(flavor = "multi_thread")]
async fn health_data_services_public_access_follows_the_workspace_private_link() {
    // Sends the readOnly property to show it is ignored: a lenient simulator (strict mode would
    // refuse the body before the provider sees it, as `conformance.rs` shows).
    let h = Harness::lenient().await;
    let api = "api-version=2024-03-31";
    let net = "api-version=2024-05-01";
    let rg = format!("/subscriptions/{SUB}/resourceGroups/{RG}");
    let ws = format!("{rg}/providers/Microsoft.HealthcareApis/workspaces/hdsnet");
    let w = h
        .arm(
            Method::PUT,
            &format!("{ws}?{api}"),
            Some(&json!({"location": "eastus", "properties": {"publicNetworkAccess": "Disabled"}})),
        )
        .await;
    assert_eq!(w.status, 201);
    assert_eq!(
        w.body["properties"]["publicNetworkAccess"], "Enabled",
        "read-only: no private link yet, so public access stays on"
    );
    let fhir = format!("{ws}/fhirservices/fhir1?{api}");
    let f = h
        .arm(Method::PUT, &fhir, Some(&json!({"location": "eastus", "kind": "fhir-R4", "properties": {"publicNetworkAccess": "Disabled"}})))
        .await;
    assert_eq!(f.status, 201);
    assert_eq!(f.body["properties"]["publicNetworkAccess"], "Enabled");

    let vnet = format!("{rg}/providers/Microsoft.Network/virtualNetworks/vnet-hds");
    let v = h.arm(Method::PUT, &format!("{vnet}?{net}"), Some(&json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.30.0.0/16"]},
        "subnets": [{"name": "pe", "properties": {"addressPrefix": "10.30.1.0/24"}}]}}))).await;
    assert_eq!(v.status, 201, "{:?}", v.body);
    let pe = format!("{rg}/providers/Microsoft.Network/privateEndpoints/pe-hds?{net}");
    let e = h.arm(Method::PUT, &pe, Some(&json!({"location": "eastus", "properties": {"subnet": {"id": format!("{vnet}/subnets/pe")},
        "privateLinkServiceConnections": [{"name": "hds", "properties": {"privateLinkServiceId": ws, "groupIds": ["healthcareworkspace"]}}]}}))).await;
    assert!(e.status < 300, "{:?}", e.body);
    for (what, url) in [("workspace", format!("{ws}?{api}")), ("FHIR", fhir.clone())] {
        let g = h.arm(Method::GET, &url, None).await;
        assert_eq!(
            g.body["properties"]["publicNetworkAccess"], "Disabled",
            "{what} after the approved endpoint: {:?}",
            g.body
        );
    }
    let dicom = format!("{ws}/dicomservices/dicom1?{api}");
    let d = h
        .arm(
            Method::PUT,
            &dicom,
            Some(&json!({"location": "eastus", "properties": {"publicNetworkAccess": "Enabled"}})),
        )
        .await;
    assert_eq!(
        d.body["properties"]["publicNetworkAccess"], "Disabled",
        "a service added later is behind the workspace's private link too"
    );
    // A read-modify-write PUT of the workspace keeps its connections and its derived setting.
    let current = h.arm(Method::GET, &format!("{ws}?{api}"), None).await;
    let mut body = current.body.clone();
    body["properties"]["privateEndpointConnections"] = json!([]);
    body["properties"]["publicNetworkAccess"] = json!("Enabled");
    let again = h
        .arm(Method::PUT, &format!("{ws}?{api}"), Some(&body))
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["properties"]["publicNetworkAccess"], "Disabled");
    assert_eq!(
        again.body["properties"]["privateEndpointConnections"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let del = h.arm(Method::DELETE, &pe, None).await;
    assert!(del.status < 300, "{:?}", del.body);
    if let Some(poll) = del.header("location").map(str::to_string) {
        h.poll_location(&poll).await;
    }
    let g = h.arm(Method::GET, &fhir, None).await;
    assert_eq!(
        g.body["properties"]["publicNetworkAccess"], "Enabled",
        "without the endpoint, public access is back"
    );
}
