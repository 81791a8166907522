//! azure-sim for tests: started in-process, seeded with `examples/azure-estate.yaml`, with an
//! Azure client of the operator pointed at it and helpers for the admin API.

use std::time::Duration;

use hipaa_operator::azure::client::ClientSettings;
use hipaa_operator::azure::lro::LroOptions;
use hipaa_operator::azure::{AzureClient, Cloud, Identity, credential, transport};
use serde_json::{Value, json};

pub const SUBSCRIPTION: &str = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
pub const RG: &str =
    "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-clinical-phi";
pub const TENANT: &str = "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7";
pub const OPERATOR_OBJECT_ID: &str = "5d6e7f80-9a1b-4c2d-8e3f-405162738495";
pub const OPERATOR_CLIENT_ID: &str = "8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d";
pub const OPERATOR_SECRET: &str = "simulator-only-operator-secret";
pub const READER_CLIENT_ID: &str = "9b0c1d2e-3f4a-4b5c-9d8e-0f1a2b3c4d5e";
pub const READER_SECRET: &str = "simulator-only-reader-secret";
pub const LEGACY_CLIENT_ID: &str = "7f8091a2-b3c4-4d5e-8f60-718293a4b5c6";
pub const LEGACY_SECRET: &str = "simulator-only-legacy-secret";

pub fn account_id() -> String {
    format!("{RG}/providers/Microsoft.Storage/storageAccounts/streferralletters")
}

/// A running simulator with the example estate.
pub struct Sim {
    pub sim: azure_sim::Simulator,
    admin: reqwest::Client,
}

impl Sim {
    pub async fn start() -> Sim {
        let text = std::fs::read_to_string(super::repo().join("examples/azure-estate.yaml"))
            .expect("estate");
        let seed = azure_sim::seed::parse(&text).expect("the estate parses as a seed");
        let sim = azure_sim::start(azure_sim::SimConfig {
            seed: Some(seed),
            tenant_id: TENANT.into(),
            ..Default::default()
        })
        .await
        .expect("azure-sim starts");
        let admin = transport::http_client(Some(&sim.ca_path), Duration::from_secs(30))
            .expect("admin client");
        Sim { sim, admin }
    }

    /// The custom cloud that reaches the simulator (vaults as `{vault}.vault.localhost`).
    pub fn cloud(&self) -> Cloud {
        let base = url::Url::parse(&self.sim.base_url).expect("base URL");
        Cloud::custom(
            base.clone(),
            base,
            Some(format!(
                "https://{{vault}}.vault.localhost:{}",
                self.sim.addr.port()
            )),
            Some(self.sim.ca_path.clone()),
        )
    }

    /// The operator's client, with fast long-running-operation polling.
    pub fn client(&self, identity: Identity) -> AzureClient {
        self.client_with(
            identity,
            ClientSettings {
                lro: LroOptions {
                    default_poll_interval: Duration::from_millis(200),
                    max_poll_interval: Duration::from_secs(2),
                    deadline: Duration::from_secs(30),
                    hand_over_after: None,
                },
                retry_initial_delay: Duration::from_millis(200),
                ..ClientSettings::default()
            },
        )
    }

    pub fn client_with(&self, identity: Identity, settings: ClientSettings) -> AzureClient {
        let cloud = self.cloud();
        let http =
            transport::http_client(cloud.extra_ca_bundle.as_deref(), settings.request_timeout)
                .expect("http");
        let credential = credential::credential(&identity, &cloud, &http).expect("credential");
        AzureClient::new(cloud, credential, http, settings)
    }

    /// Another principal, for drift made out of band.
    pub fn legacy_identity() -> Identity {
        Identity::ClientSecret {
            tenant_id: TENANT.into(),
            client_id: LEGACY_CLIENT_ID.into(),
            secret: azure_core::credentials::Secret::new(LEGACY_SECRET),
        }
    }

    /// The operator's arguments and environment to reach this simulator.
    pub fn operator_args(&self) -> Vec<String> {
        vec![
            "--cloud".into(),
            "Custom".into(),
            "--arm-endpoint".into(),
            self.sim.base_url.clone(),
            "--authority-host".into(),
            self.sim.base_url.clone(),
            "--key-vault-endpoint".into(),
            format!("https://{{vault}}.vault.localhost:{}", self.sim.addr.port()),
            "--ca-bundle".into(),
            self.sim.ca_path.display().to_string(),
            "--azure-identity".into(),
            "client-secret-env".into(),
        ]
    }

    pub const OPERATOR_ENV: &'static [(&'static str, &'static str)] = &[
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", OPERATOR_CLIENT_ID),
        ("AZURE_CLIENT_SECRET", OPERATOR_SECRET),
    ];

    pub fn operator_identity() -> Identity {
        Identity::ClientSecret {
            tenant_id: TENANT.into(),
            client_id: OPERATOR_CLIENT_ID.into(),
            secret: azure_core::credentials::Secret::new(OPERATOR_SECRET),
        }
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/_sim/{path}", self.sim.base_url);
        let mut request = self.admin.request(method, &url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body).expect("json"));
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status();
        let text = response.text().await.expect("admin body");
        assert!(status.is_success(), "{url}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A PUT to ARM as the operator's principal but outside the operator's client: what another
    /// tool (a portal user, an Azure Landing Zone policy) writes. Waits for nothing.
    pub async fn arm_put(&self, url: &str, body: &Value) -> Value {
        let token = self
            .admin(
                reqwest::Method::POST,
                "tokens",
                Some(serde_json::json!({"clientId": OPERATOR_CLIENT_ID})),
            )
            .await;
        let token = token["access_token"].as_str().expect("a token").to_string();
        let response = self
            .admin
            .put(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).expect("json"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status();
        let text = response.text().await.expect("body");
        assert!(status.is_success(), "PUT {url}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Requests in the simulator's log since the last [`Sim::clear_log`].
    pub async fn requests(&self) -> Vec<Value> {
        let log = self.admin(reqwest::Method::GET, "requests", None).await;
        log.get("value")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// `(method, path)` of every write (anything but GET/HEAD) in the log, admin calls excluded.
    pub async fn writes(&self) -> Vec<(String, String)> {
        self.requests()
            .await
            .into_iter()
            .filter_map(|r| {
                let method = r["method"].as_str()?.to_string();
                let path = r["path"].as_str()?.to_string();
                (method != "GET"
                    && method != "HEAD"
                    && !read_only_post(&method, &path)
                    && !path.starts_with("/_sim")
                    && !path.contains("/oauth2/"))
                .then_some((method, path))
            })
            .collect()
    }

    /// The writes the operator's principal made.
    pub async fn operator_writes(&self) -> Vec<(String, String)> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["caller"].as_str() == Some(OPERATOR_OBJECT_ID))
            .filter_map(|r| {
                let method = r["method"].as_str()?.to_string();
                let path = r["path"].as_str()?.to_string();
                (method != "GET" && method != "HEAD" && !read_only_post(&method, &path))
                    .then_some((method, path))
            })
            .collect()
    }

    pub async fn clear_log(&self) {
        self.admin(reqwest::Method::DELETE, "requests", None).await;
    }

    pub async fn fault(&self, rule: Value) {
        self.admin(reqwest::Method::POST, "faults", Some(rule))
            .await;
    }

    pub async fn set_config(&self, config: Value) {
        self.admin(reqwest::Method::PUT, "config", Some(config))
            .await;
    }

    pub async fn advance_clock(&self, duration: &str) {
        self.admin(
            reqwest::Method::POST,
            "clock/advance",
            Some(json!({ "duration": duration })),
        )
        .await;
    }
}

/// POSTs that only read: Azure Policy summaries and Resource Graph queries.
pub fn read_only_post(method: &str, path: &str) -> bool {
    let path = path.to_ascii_lowercase();
    method == "POST"
        && (path.contains("/providers/microsoft.policyinsights/policystates/")
            || path.starts_with("/providers/microsoft.resourcegraph/resources"))
}
