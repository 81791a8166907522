//! Test harness: an in-process simulator with a standard estate, and an HTTPS client that trusts
//! its CA and resolves every host (`*.vault.azure.net` included) to 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use azure_sim::{SimConfig, Simulator};
use reqwest::Method;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

pub const SUB: &str = "6a1c2f1e-1111-4c6e-9b57-3c2f0a1d0001";
pub const OTHER_SUB: &str = "6a1c2f1e-2222-4c6e-9b57-3c2f0a1d0002";
pub const OWNER: &str = "0b0b0b0b-0000-4000-8000-000000000001";
pub const READER: &str = "0b0b0b0b-0000-4000-8000-000000000002";
pub const NOBODY: &str = "0b0b0b0b-0000-4000-8000-000000000003";
pub const OPERATOR: &str = "0b0b0b0b-0000-4000-8000-000000000004";
pub const OPERATOR_APP: &str = "a9a9a9a9-0000-4000-8000-0000000000a4";
pub const OPERATOR_SECRET: &str = "s3cret-value";
pub const MI: &str = "0b0b0b0b-0000-4000-8000-000000000005";
pub const MI_CLIENT: &str = "a9a9a9a9-0000-4000-8000-0000000000a5";
pub const RG: &str = "rg-phi";
pub const STORAGE_API: &str = "2025-01-01";

pub fn base_seed() -> Value {
    json!({
        "subscriptions": [{"subscriptionId": SUB, "displayName": "phi"}, {"subscriptionId": OTHER_SUB}],
        "principals": [
            {"objectId": OWNER, "displayName": "owner", "type": "User"},
            {"objectId": READER, "displayName": "reader", "type": "User"},
            {"objectId": NOBODY, "displayName": "nobody"},
            {"objectId": OPERATOR, "clientId": OPERATOR_APP, "displayName": "hipaa-operator",
             "clientSecret": OPERATOR_SECRET,
             "federatedCredentials": [{"issuer": "https://oidc.example.test/cluster", "subject": "system:serviceaccount:hipaa:operator"}]},
            {"objectId": MI, "clientId": MI_CLIENT, "displayName": "mi", "type": "ManagedIdentity"}
        ],
        "resourceGroups": [{"subscriptionId": SUB, "name": RG, "location": "eastus"}],
        "roleAssignments": [
            {"scope": format!("/subscriptions/{SUB}"), "principalId": OWNER, "role": "Owner"},
            {"scope": format!("/subscriptions/{SUB}"), "principalId": READER, "role": "Reader"},
            {"scope": format!("/subscriptions/{SUB}/resourceGroups/{RG}"), "principalId": OPERATOR, "role": "Contributor"},
            {"scope": format!("/subscriptions/{SUB}"), "principalId": MI, "role": "Reader"}
        ]
    })
}

struct Loopback;

impl reqwest::dns::Resolve for Loopback {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async {
            let addrs: reqwest::dns::Addrs =
                Box::new(std::iter::once(SocketAddr::from(([127, 0, 0, 1], 0))));
            Ok(addrs)
        })
    }
}

pub struct Harness {
    pub sim: Simulator,
    pub client: reqwest::Client,
    pub owner_token: String,
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

pub fn client_for(ca_pem: &str) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.expect("CA PEM parses"))
            .expect("CA is a valid root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .dns_resolver(Arc::new(Loopback))
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client builds")
}

impl Harness {
    pub async fn start() -> Self {
        Self::with_seed(base_seed()).await
    }

    pub async fn with_seed(seed: Value) -> Self {
        let seed: azure_sim::Seed = serde_json::from_value(seed).expect("seed parses");
        Self::with_config(SimConfig {
            seed: Some(seed),
            ..SimConfig::default()
        })
        .await
    }

    /// A simulator that does not check request bodies against the published models: for tests
    /// of how Azure itself treats input a conformant client never sends (a readOnly property on a
    /// PUT, a property a PATCH model does not have), which strict mode refuses first.
    pub async fn lenient() -> Self {
        let seed: azure_sim::Seed = serde_json::from_value(base_seed()).expect("seed parses");
        Self::with_config(SimConfig {
            seed: Some(seed),
            conformance: azure_sim::conformance::Strictness::Off,
            ..SimConfig::default()
        })
        .await
    }

    pub async fn with_config(config: SimConfig) -> Self {
        let sim = azure_sim::start(config).await.expect("simulator starts");
        let client = client_for(&sim.ca_pem);
        let mut h = Harness {
            sim,
            client,
            owner_token: String::new(),
        };
        h.owner_token = h.token(OWNER).await;
        h
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sim.base_url, path)
    }

    pub async fn send(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self.client.request(method, url);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let r = rb.send().await.expect("request completes");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.expect("body reads");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    /// An ARM call as the Owner.
    pub async fn arm(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        let t = self.owner_token.clone();
        self.send(method, &self.url(path), Some(&t), body, &[])
            .await
    }

    pub async fn arm_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Resp {
        self.send(method, &self.url(path), Some(token), body, &[])
            .await
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        self.send(method, &self.url(&format!("/_sim{path}")), None, body, &[])
            .await
    }

    pub async fn token_for(&self, object_id: &str, audience: &str, lifetime: i64) -> String {
        let r = self
            .admin(
                Method::POST,
                "/tokens",
                Some(&json!({"objectId": object_id, "audience": audience, "lifetimeSeconds": lifetime})),
            )
            .await;
        assert_eq!(r.status, 200, "mint token: {:?}", r.body);
        r.body["access_token"].as_str().expect("token").to_string()
    }

    pub async fn token(&self, object_id: &str) -> String {
        self.token_for(object_id, "https://management.azure.com", 3600)
            .await
    }

    pub async fn set_config(&self, config: Value) {
        let r = self.admin(Method::PUT, "/config", Some(&config)).await;
        assert_eq!(r.status, 200, "config: {:?}", r.body);
    }

    /// Creates a storage account and waits for its create LRO (zero duration by default).
    pub async fn storage_account(&self, name: &str) -> String {
        let id = format!(
            "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/{name}"
        );
        let r = self
            .arm(
                Method::PUT,
                &format!("{id}?api-version={STORAGE_API}"),
                Some(&json!({"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}})),
            )
            .await;
        assert_eq!(r.status, 202, "create account: {:?}", r.body);
        id
    }

    /// Follows an operation URL until it stops answering 202, bounded in count.
    pub async fn poll_location(&self, url: &str) -> Resp {
        for _ in 0..20 {
            let r = self.arm_url(Method::GET, url).await;
            if r.status != 202 {
                return r;
            }
            self.admin(Method::POST, "/clock/advance", Some(&json!({"seconds": 5})))
                .await;
        }
        panic!("operation at {url} did not finish in 20 polls");
    }

    pub async fn arm_url(&self, method: Method, url: &str) -> Resp {
        let t = self.owner_token.clone();
        self.send(method, url, Some(&t), None, &[]).await
    }
}
