//! Bad input always gets the ARM error envelope, never a panic or a hung connection.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn malformed_bodies_content_types_sizes_and_paths() {
    let h = Harness::start().await;
    let acct = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/badinput?api-version={STORAGE_API}"
    );
    let t = h.owner_token.clone();
    let raw = |method: Method, path: String, ct: &'static str, body: Vec<u8>| {
        let h = &h;
        let t = t.clone();
        async move {
            let r = h
                .client
                .request(method, h.url(&path))
                .bearer_auth(t)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .expect("answer");
            let status = r.status().as_u16();
            let v: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
            (
                status,
                v["error"]["code"].as_str().unwrap_or_default().to_string(),
            )
        }
    };
    assert_eq!(
        raw(
            Method::PUT,
            acct.clone(),
            "application/json",
            b"{\"location\":".to_vec()
        )
        .await,
        (400, "InvalidRequestContent".into())
    );
    assert_eq!(
        raw(
            Method::PUT,
            acct.clone(),
            "application/json",
            b"[1,2]".to_vec()
        )
        .await,
        (400, "InvalidRequestContent".into())
    );
    assert_eq!(
        raw(Method::PUT, acct.clone(), "application/json", b"".to_vec()).await,
        (400, "InvalidRequestContent".into())
    );
    assert_eq!(
        raw(Method::PUT, acct.clone(), "text/plain", b"{}".to_vec()).await,
        (415, "UnsupportedMediaType".into())
    );
    assert_eq!(
        raw(
            Method::PUT,
            acct.clone(),
            "application/json",
            vec![b' '; 5 * 1024 * 1024]
        )
        .await,
        (413, "RequestEntityTooLarge".into())
    );
    assert_eq!(
        raw(
            Method::PUT,
            acct.clone(),
            "application/json",
            vec![0xff, 0xfe, 0x00]
        )
        .await,
        (400, "InvalidRequestContent".into())
    );
    let props_not_object = raw(
        Method::PUT,
        acct.clone(),
        "application/json",
        br#"{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"},"properties":7}"#
            .to_vec(),
    )
    .await;
    assert_eq!(props_not_object, (400, "InvalidRequestContent".into()));

    for path in [
        format!(
            "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/a%2Fb?api-version={STORAGE_API}"
        ),
        format!("/subscriptions/{SUB}//resourceGroups?api-version=2024-03-01"),
    ] {
        let r = h.arm(Method::GET, &path, None).await;
        assert_eq!((r.status, r.code()), (400, "InvalidRequestUri"), "{path}");
    }
    // Clients normalise dot segments, so traversal is sent raw over TLS.
    for raw_path in [
        format!("/subscriptions/{SUB}/resourceGroups/{RG}/../../x?api-version={STORAGE_API}"),
        format!(
            "/subscriptions/{SUB}/resourceGroups/%2e%2e/providers/Microsoft.Storage/storageAccounts/a?api-version={STORAGE_API}"
        ),
    ] {
        let (status, body) = raw_request(&h, &format!("GET {raw_path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n", h.owner_token)).await;
        assert_eq!(status, 400, "{raw_path}: {body}");
        assert!(body.contains("InvalidRequestUri"), "{body}");
    }
    let (status, _) = raw_request(&h, "GARBAGE\r\n\r\n").await;
    assert_eq!(
        status, 400,
        "hyper answers a malformed request line with 400"
    );
    let nowhere = h.arm(Method::GET, "/definitely/not/arm", None).await;
    assert_eq!(nowhere.status, 404);
    assert!(!nowhere.code().is_empty());
    let method = h.arm(Method::POST, &format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/a?api-version={STORAGE_API}"), Some(&json!({}))).await;
    assert_eq!(method.status, 405);
    let admin_bad = h
        .send(Method::PUT, &h.url("/_sim/config"), None, None, &[])
        .await;
    assert_eq!(admin_bad.status, 400);
    let token_bad = h
        .client
        .post(h.url(&format!("/{}/oauth2/v2.0/token", h.sim.tenant_id)))
        .body("%%%")
        .send()
        .await
        .expect("answer");
    assert_eq!(token_bad.status().as_u16(), 400);
    // Still serving after all of that.
    assert_eq!(
        h.arm(
            Method::GET,
            &format!("/subscriptions/{SUB}/resourceGroups/{RG}?api-version=2024-03-01"),
            None
        )
        .await
        .status,
        200
    );
}

/// Sends bytes as they are over TLS and reads the answer's status and body (bounded in time).
async fn raw_request(h: &Harness, request: &str) -> (u16, String) {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(
            h.sim.ca_pem.as_bytes(),
        )
    {
        roots.add(cert.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(h.sim.addr)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    tls.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tls.read_to_end(&mut buf),
    )
    .await;
    assert!(read.is_ok(), "the server answers and closes within 10 s");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Bodies of every JSON shape in the places providers read: always an answer below 500.
#[tokio::test(flavor = "multi_thread")]
async fn odd_shapes_in_every_served_type_never_cause_a_server_error() {
    let h = Harness::start().await;
    // Hundreds of writes: the subject here is input handling, not throttling.
    h.set_config(json!({"throttle": {"enabled": false}})).await;
    let acct = h.storage_account("shapes01").await;
    let vnet = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/virtualNetworks/vshapes"
    );
    let v = h
        .arm(Method::PUT, &format!("{vnet}?api-version=2024-05-01"), Some(&json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.9.0.0/16"]}, "subnets": [{"name": "s", "properties": {"addressPrefix": "10.9.0.0/24"}}]}})))
        .await;
    assert_eq!(v.status, 201);
    let odd = [
        json!(null),
        json!(7),
        json!("x"),
        json!([1, "a", null]),
        json!({"nested": {"deep": []}}),
        json!(true),
    ];
    let mut checked = 0;
    for spec in azure_sim::arm::registry::TYPES {
        let segments: Vec<&str> = spec.name.split('/').collect();
        let path = match segments.len() {
            2 => format!(
                "/subscriptions/{SUB}/resourceGroups/{RG}/providers/{}/shape{checked}",
                spec.name
            ),
            _ if spec.name == "Microsoft.Storage/storageAccounts/blobServices/containers" => {
                format!("{acct}/blobServices/default/containers/shape{checked}")
            }
            _ if spec.name == "Microsoft.Network/virtualNetworks/subnets" => {
                format!("{vnet}/subnets/shape{checked}")
            }
            _ => continue,
        };
        let path = if spec.name.starts_with("Microsoft.Insights/")
            || spec.name.starts_with("Microsoft.Authorization/")
        {
            format!("{acct}/providers/{}/{}", spec.name, uuid::Uuid::new_v4())
        } else {
            path
        };
        let api = spec.api_versions[0];
        for value in &odd {
            let bodies = [
                json!({"location": "eastus", "properties": value}),
                json!({"location": value, "sku": value, "kind": value, "identity": value, "tags": value}),
                json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "identity": {"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": value},
                       "properties": {"encryption": {"services": {"blob": value}, "keySource": "Microsoft.Keyvault", "keyvaultproperties": value},
                       "subnet": {"id": value}, "privateLinkServiceConnections": [value], "privateDnsZoneConfigs": [value], "networkAcls": {"ipRules": [value]},
                       "tenantId": value, "roleDefinitionId": value, "principalId": value, "scope": value, "settings": value, "logs": [value], "retentionInDays": value}}),
            ];
            for body in &bodies {
                for method in [Method::PUT, Method::PATCH] {
                    let r = h
                        .arm(
                            method.clone(),
                            &format!("{path}?api-version={api}"),
                            Some(body),
                        )
                        .await;
                    assert!(
                        r.status < 500,
                        "{method} {} with {body}: {} {:?}",
                        spec.name,
                        r.status,
                        r.body
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100, "{checked} requests checked");
    let kv = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/kv-shapes?api-version=2024-11-01"
    );
    let made = h.arm(Method::PUT, &kv, Some(&json!({"location": "eastus", "properties": {"tenantId": h.sim.tenant_id, "sku": {"family": "A", "name": "standard"}, "enableRbacAuthorization": true}}))).await;
    assert_eq!(made.status, 201);
    let token = h.token_for(OWNER, "https://vault.azure.net", 600).await;
    for value in &odd {
        for (method, path) in [
            (Method::POST, "/keys/k/create"),
            (Method::PUT, "/keys/k/rotationpolicy"),
        ] {
            let body = json!({"kty": value, "key_size": value, "key_ops": value, "attributes": value, "tags": value, "crv": value, "lifetimeActions": [value], "attributes2": value});
            let url = format!("{}{path}?api-version=7.5", h.sim.vault_url("kv-shapes"));
            let r = h.send(method, &url, Some(&token), Some(&body), &[]).await;
            assert!(
                r.status < 500,
                "{path} with {body}: {} {:?}",
                r.status,
                r.body
            );
        }
    }
}
