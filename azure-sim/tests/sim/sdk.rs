//! The operator's real client stack — azure_identity 1.x over azure_core's reqwest transport,
//! with a custom authority host and the simulator's CA — obtains tokens ARM accepts.

use std::sync::Arc;

use azure_core::cloud::CustomConfiguration;
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientMethodOptions, ClientOptions, Transport};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::Method;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

use crate::common::*;

/// Client options the operator would build: trust the simulator's CA, custom authority host.
fn client_options(h: &Harness) -> ClientOptions {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(h.sim.ca_pem.as_bytes()) {
        roots.add(cert.expect("CA parses")).expect("CA is a root");
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let http = reqwest13::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .expect("reqwest 0.13 client");
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = h.sim.base_url.clone();
    ClientOptions {
        transport: Some(Transport::new(Arc::new(http))),
        cloud: Some(Arc::new(cloud.into())),
        ..ClientOptions::default()
    }
}

async fn arm_status_with(h: &Harness, token: &str) -> u16 {
    h.arm_as(
        token,
        Method::GET,
        &format!("/subscriptions/{SUB}/resourceGroups/{RG}?api-version=2024-03-01"),
        None,
    )
    .await
    .status
}

#[tokio::test(flavor = "multi_thread")]
async fn client_secret_credential_gets_an_arm_token() {
    let h = Harness::start().await;
    let cred = ClientSecretCredential::new(
        &h.sim.tenant_id,
        OPERATOR_APP.to_string(),
        Secret::from(OPERATOR_SECRET),
        Some(ClientSecretCredentialOptions {
            client_options: client_options(&h),
        }),
    )
    .expect("credential");
    let token = cred
        .get_token(&["https://management.azure.com/.default"], None)
        .await
        .expect("azure_identity gets a token from the simulator");
    assert!(token.expires_on > time::OffsetDateTime::now_utc() + time::Duration::minutes(50));
    assert_eq!(arm_status_with(&h, token.token.secret()).await, 200);

    let wrong = ClientSecretCredential::new(
        &h.sim.tenant_id,
        OPERATOR_APP.to_string(),
        Secret::from("wrong"),
        Some(ClientSecretCredentialOptions {
            client_options: client_options(&h),
        }),
    )
    .expect("credential");
    let err = wrong
        .get_token(&["https://management.azure.com/.default"], None)
        .await
        .expect_err("a wrong secret is refused");
    assert!(
        err.to_string().contains("AADSTS7000215"),
        "the Entra error reaches the caller: {err}"
    );
}

#[derive(Debug)]
struct ServiceAccountToken(String);

#[async_trait::async_trait]
impl ClientAssertion for ServiceAccountToken {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        Ok(self.0.clone())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_assertion_credential_exchanges_a_workload_identity_token() {
    let h = Harness::start().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = B64.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string());
    let claims = B64.encode(
        json!({"iss": "https://oidc.example.test/cluster", "sub": "system:serviceaccount:hipaa:operator",
               "aud": ["api://AzureADTokenExchange"], "exp": now + 3600, "iat": now})
        .to_string(),
    );
    let assertion = ServiceAccountToken(format!("{header}.{claims}.c2ln"));
    let cred = ClientAssertionCredential::new(
        h.sim.tenant_id.clone(),
        OPERATOR_APP.to_string(),
        assertion,
        Some(ClientAssertionCredentialOptions {
            client_options: client_options(&h),
        }),
    )
    .expect("credential");
    let token = cred
        .get_token(&["https://management.azure.com/.default"], None)
        .await
        .expect("token");
    assert_eq!(arm_status_with(&h, token.token.secret()).await, 200);
    let log = h
        .admin(
            Method::GET,
            &format!("/requests?path=/{}/oauth2/v2.0/token", h.sim.tenant_id),
            None,
        )
        .await;
    assert_eq!(
        log.body["count"], 1,
        "one token request; later calls use the credential's cache"
    );
}
