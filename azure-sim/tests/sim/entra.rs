//! The Entra token endpoint (client secret and federated assertion), discovery, and the
//! managed-identity endpoint, checked the way azure_identity calls them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

async fn token_request(h: &Harness, tenant: &str, form: &[(&str, &str)]) -> Resp {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let r = h
        .client
        .post(h.url(&format!("/{tenant}/oauth2/v2.0/token")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("token request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
    }
}

fn assertion(iss: &str, sub: &str, exp_offset: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = B64.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string());
    let claims = B64.encode(json!({"iss": iss, "sub": sub, "aud": ["api://AzureADTokenExchange"], "exp": now + exp_offset, "iat": now}).to_string());
    format!("{header}.{claims}.c2lnbmF0dXJl")
}

#[tokio::test(flavor = "multi_thread")]
async fn client_secret_grant_issues_a_token_arm_accepts() {
    let h = Harness::start().await;
    let tenant = h.sim.tenant_id.clone();
    let r = token_request(
        &h,
        &tenant,
        &[
            ("client_id", OPERATOR_APP),
            ("client_secret", OPERATOR_SECRET),
            ("grant_type", "client_credentials"),
            ("scope", "https://management.azure.com/.default"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["token_type"], "Bearer");
    assert!(r.body["expires_in"].is_i64(), "expires_in is a JSON number");
    assert!(r.body["ext_expires_in"].is_i64());
    let token = r.body["access_token"].as_str().expect("token").to_string();
    let claims: Value = serde_json::from_slice(
        &B64.decode(token.split('.').nth(1).expect("claims"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(claims["aud"], "https://management.azure.com");
    assert_eq!(claims["oid"], OPERATOR);
    assert_eq!(claims["tid"], tenant);
    let g = h
        .arm_as(
            &token,
            Method::GET,
            &format!("/subscriptions/{SUB}/resourceGroups/{RG}?api-version=2024-03-01"),
            None,
        )
        .await;
    assert_eq!(g.status, 200);
    let log = h
        .admin(
            Method::GET,
            &format!("/requests?caller={OPERATOR}&method=GET"),
            None,
        )
        .await;
    assert_eq!(
        log.body["count"], 1,
        "the request log names the caller: {:?}",
        log.body
    );

    let wrong = token_request(
        &h,
        &tenant,
        &[
            ("client_id", OPERATOR_APP),
            ("client_secret", "nope"),
            ("grant_type", "client_credentials"),
            ("scope", "https://management.azure.com/.default"),
        ],
    )
    .await;
    assert_eq!(
        (wrong.status, wrong.body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        wrong.body["error_description"]
            .as_str()
            .unwrap_or_default()
            .starts_with("AADSTS7000215")
    );
    assert_eq!(wrong.body["error_codes"], json!([7000215]));
    let scope = token_request(
        &h,
        &tenant,
        &[
            ("client_id", OPERATOR_APP),
            ("client_secret", OPERATOR_SECRET),
            ("grant_type", "client_credentials"),
            ("scope", "https://management.azure.com"),
        ],
    )
    .await;
    assert_eq!(
        (scope.status, scope.body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let other_tenant = token_request(
        &h,
        "00000000-0000-0000-0000-000000000000",
        &[
            ("client_id", OPERATOR_APP),
            ("client_secret", OPERATOR_SECRET),
            ("grant_type", "client_credentials"),
            ("scope", "https://management.azure.com/.default"),
        ],
    )
    .await;
    assert_eq!(other_tenant.status, 400);
    let unknown_app = token_request(
        &h,
        &tenant,
        &[
            ("client_id", "ffffffff-0000-4000-8000-000000000000"),
            ("client_secret", "x"),
            ("grant_type", "client_credentials"),
            ("scope", "https://management.azure.com/.default"),
        ],
    )
    .await;
    assert_eq!(unknown_app.body["error"], "unauthorized_client");
}

#[tokio::test(flavor = "multi_thread")]
async fn federated_assertion_grant_matches_issuer_subject_and_audience() {
    let h = Harness::start().await;
    let tenant = h.sim.tenant_id.clone();
    let good = assertion(
        "https://oidc.example.test/cluster",
        "system:serviceaccount:hipaa:operator",
        600,
    );
    let form = |a: &str| {
        vec![
            ("client_id".to_string(), OPERATOR_APP.to_string()),
            ("client_assertion".to_string(), a.to_string()),
            (
                "client_assertion_type".to_string(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("grant_type".to_string(), "client_credentials".to_string()),
            (
                "scope".to_string(),
                "https://vault.azure.net/.default".to_string(),
            ),
        ]
    };
    let send = |a: String| {
        let h = &h;
        let tenant = tenant.clone();
        async move {
            let f = form(&a);
            let pairs: Vec<(&str, &str)> =
                f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            token_request(h, &tenant, &pairs).await
        }
    };
    let ok = send(good).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let wrong_subject = send(assertion(
        "https://oidc.example.test/cluster",
        "system:serviceaccount:other:sa",
        600,
    ))
    .await;
    assert_eq!(wrong_subject.status, 400);
    assert!(
        wrong_subject.body["error_description"]
            .as_str()
            .unwrap_or_default()
            .starts_with("AADSTS70021")
    );
    let expired = send(assertion(
        "https://oidc.example.test/cluster",
        "system:serviceaccount:hipaa:operator",
        -10,
    ))
    .await;
    assert!(
        expired.body["error_description"]
            .as_str()
            .unwrap_or_default()
            .starts_with("AADSTS700024")
    );
    let garbage = send("garbage".to_string()).await;
    assert_eq!(garbage.status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_documents_and_jwks_are_published() {
    let h = Harness::start().await;
    let tenant = h.sim.tenant_id.clone();
    let oidc = h
        .send(
            Method::GET,
            &h.url(&format!("/{tenant}/v2.0/.well-known/openid-configuration")),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(oidc.status, 200);
    assert_eq!(
        oidc.body["token_endpoint"],
        h.url(&format!("/{tenant}/oauth2/v2.0/token"))
    );
    let jwks_url = oidc.body["jwks_uri"]
        .as_str()
        .expect("jwks_uri")
        .to_string();
    let jwks = h.send(Method::GET, &jwks_url, None, None, &[]).await;
    assert_eq!(jwks.body["keys"][0]["kty"], "EC");
    let header: Value = serde_json::from_slice(
        &B64.decode(h.owner_token.split('.').next().expect("header"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(
        header["kid"], jwks.body["keys"][0]["kid"],
        "tokens name the published key"
    );
    let instance = h
        .send(
            Method::GET,
            &h.url("/common/discovery/instance"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(instance.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_identity_endpoint_answers_in_imds_string_form() {
    let h = Harness::start().await;
    let url = h.url("/metadata/identity/oauth2/token?api-version=2019-08-01&resource=https://management.azure.com");
    let r = h
        .send(Method::GET, &url, None, None, &[("Metadata", "true")])
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    for k in [
        "access_token",
        "expires_in",
        "expires_on",
        "resource",
        "token_type",
        "client_id",
    ] {
        assert!(r.body[k].is_string(), "{k} is a string: {:?}", r.body);
    }
    assert_eq!(r.body["client_id"], MI_CLIENT);
    let token = r.body["access_token"].as_str().expect("token").to_string();
    let g = h
        .arm_as(
            &token,
            Method::GET,
            &format!("/subscriptions/{SUB}?api-version=2022-12-01"),
            None,
        )
        .await;
    assert_eq!(g.status, 200, "the MI holds Reader on the subscription");
    let app_service = h
        .send(
            Method::GET,
            &url,
            None,
            None,
            &[("X-IDENTITY-HEADER", "secret")],
        )
        .await;
    assert_eq!(app_service.status, 200);
    let no_header = h.send(Method::GET, &url, None, None, &[]).await;
    assert_eq!(no_header.status, 400);
    let unknown = h
        .send(
            Method::GET,
            &format!("{url}&client_id=00000000-0000-0000-0000-000000000000"),
            None,
            None,
            &[("Metadata", "true")],
        )
        .await;
    assert_eq!(unknown.status, 400);
}
