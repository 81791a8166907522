//! The HTTP client of every Azure call: one `azure_core` pipeline per token audience (ARM, Key
//! Vault) with retries, `Retry-After`, user agent and client request id; the request budget;
//! error classification; and call statistics for metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azure_core::credentials::TokenCredential;
use azure_core::http::headers::HeaderName;
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{
    ClientOptions, Context, ExponentialRetryOptions, Method, Pipeline, PipelineSendOptions,
    Request, RetryOptions, Transport, Url,
};
use serde::de::DeserializeOwned;

use super::budget::{Access, Budget, BudgetConfig};
use super::cloud::Cloud;
use super::error::AzureError;
use super::id::ArmId;

mod ratelimit;
mod stats;

use ratelimit::{lowest_remaining, parse_hms};
pub use stats::{CallKey, CallStats};

/// How long-running operations are polled.
#[derive(Clone, Debug)]
pub struct LroOptions {
    /// Delay between polls when the service sends no `Retry-After`.
    pub default_poll_interval: Duration,
    /// Upper bound of one poll delay, whatever `Retry-After` says.
    pub max_poll_interval: Duration,
    /// Give up (with a `Deadline` error) after this long.
    pub deadline: Duration,
    /// Stop waiting after this long and hand the operation over as state
    /// ([`AzureError::Running`]): a reconcile records it and polls it again on a later pass,
    /// so no reconcile slot is held while Azure works. `None` waits to the end (or the deadline).
    pub hand_over_after: Option<Duration>,
}

impl Default for LroOptions {
    fn default() -> Self {
        Self {
            default_poll_interval: Duration::from_secs(5),
            max_poll_interval: Duration::from_secs(60),
            deadline: Duration::from_secs(600),
            hand_over_after: None,
        }
    }
}

/// Settings of the client that are not the cloud or the credential.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    pub budget: BudgetConfig,
    pub lro: LroOptions,
    /// Retries of one request on throttling, 5xx and dropped connections.
    pub max_retries: u32,
    /// The first retry delay; later ones grow exponentially (with jitter).
    pub retry_initial_delay: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            budget: BudgetConfig::default(),
            lro: LroOptions::default(),
            max_retries: 4,
            retry_initial_delay: Duration::from_millis(800),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// A response: status, the headers the operator reads, and the body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub etag: Option<String>,
    pub location: Option<String>,
    pub async_operation: Option<String>,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as `T`.
    pub fn json<T: DeserializeOwned>(
        &self,
        operation: &str,
        resource: &str,
    ) -> Result<T, AzureError> {
        serde_json::from_slice(&self.body).map_err(|e| AzureError::Unexpected {
            operation: operation.to_string(),
            resource: resource.to_string(),
            detail: format!("response body is not the expected JSON: {e}"),
        })
    }
}

pub use super::types::ArmOp;

/// Which token audience a call needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    ResourceManager,
    KeyVault,
}

/// What to send.
pub struct Call<'a> {
    pub operation: &'static str,
    pub provider: &'static str,
    pub method: Method,
    pub url: Url,
    /// The resource the call is about, for errors and budget (an ARM id, or a vault URL).
    pub resource: &'a str,
    pub body: Option<serde_json::Value>,
    pub if_match: Option<String>,
    pub audience: Audience,
}

/// The Azure client: the one place where HTTP and credentials live.
#[derive(Clone)]
pub struct AzureClient {
    inner: Arc<Inner>,
}

struct Inner {
    cloud: Cloud,
    /// Kept to learn whose token the client holds (its `oid`), never to log it.
    credential: Arc<dyn TokenCredential>,
    arm: Pipeline,
    key_vault: Pipeline,
    budget: Arc<Budget>,
    stats: Arc<CallStats>,
    lro: LroOptions,
    /// Role definitions by GUID with when they were read: they change rarely, and every
    /// evaluation of who can reach a store needs them.
    role_definitions: Mutex<HashMap<String, (std::time::Instant, super::roles::RoleDefinition)>>,
    /// Subscription-wide resources read lately (Defender plans), by lower-cased id: one read
    /// serves every store of the subscription for a short while. A write by this client to
    /// one of them drops it.
    shared_reads: Mutex<HashMap<String, (std::time::Instant, serde_json::Value)>>,
    /// No Resource Graph query before this: its per-user quota is used up until it resets.
    graph_quota_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for AzureClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureClient")
            .field("cloud", &self.inner.cloud.name)
            .finish_non_exhaustive()
    }
}

impl AzureClient {
    /// How this client polls long-running operations.
    pub(super) fn lro_options(&self) -> &LroOptions {
        &self.inner.lro
    }

    /// A client for `cloud` authenticating with `credential`, sending through `http`, with a
    /// request budget of its own.
    pub fn new(
        cloud: Cloud,
        credential: Arc<dyn TokenCredential>,
        http: reqwest::Client,
        settings: ClientSettings,
    ) -> AzureClient {
        let budget = Arc::new(Budget::new(settings.budget.clone()));
        AzureClient::with_budget(cloud, credential, http, settings, budget)
    }

    /// A client that spends `budget`, which its principal's other clients share: ARM throttles
    /// per subscription and principal, however many clients (namespaces, rotated secrets) the
    /// operator holds for that principal.
    pub fn with_budget(
        cloud: Cloud,
        credential: Arc<dyn TokenCredential>,
        http: reqwest::Client,
        settings: ClientSettings,
        budget: Arc<Budget>,
    ) -> AzureClient {
        let pipeline = |scope: String| {
            let options = ClientOptions {
                transport: Some(Transport::new(Arc::new(http.clone()))),
                retry: RetryOptions::exponential(ExponentialRetryOptions {
                    initial_delay: to_time(settings.retry_initial_delay),
                    max_retries: settings.max_retries,
                    max_total_elapsed: to_time(Duration::from_secs(120)),
                    max_delay: to_time(Duration::from_secs(30)),
                }),
                ..ClientOptions::default()
            };
            let auth: Arc<dyn Policy> = Arc::new(BearerTokenAuthorizationPolicy::new(
                credential.clone(),
                vec![scope],
            ));
            Pipeline::new(
                Some(env!("CARGO_PKG_NAME")),
                Some(env!("CARGO_PKG_VERSION")),
                options,
                Vec::new(),
                vec![auth],
                None,
            )
        };
        let arm = pipeline(cloud.resource_manager_scope());
        let key_vault = pipeline(cloud.key_vault_scope());
        AzureClient {
            inner: Arc::new(Inner {
                credential: credential.clone(),
                cloud,
                arm,
                key_vault,
                budget,
                stats: Arc::new(CallStats::default()),
                lro: settings.lro,
                graph_quota_until: Mutex::new(None),
                role_definitions: Mutex::new(HashMap::new()),
                shared_reads: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The object id of the principal this client acts as: the `oid` claim of its Resource
    /// Manager token (the token is decoded here and dropped; neither it nor its claims are
    /// logged). The token is the credential's cached one, so this costs no request when a call
    /// was made recently.
    pub async fn principal_object_id(&self) -> Result<String, AzureError> {
        let scope = self.inner.cloud.resource_manager_scope();
        let token = self
            .inner
            .credential
            .get_token(&[scope.as_str()], None)
            .await
            .map_err(|e| AzureError::Configuration(format!("no token for {scope}: {e}")))?;
        token_object_id(token.token.secret()).ok_or_else(|| {
            AzureError::Configuration("the Resource Manager token carries no oid claim".into())
        })
    }

    /// A subscription-wide resource this client read within `max_age`.
    pub(crate) fn shared_read(&self, id: &str, max_age: Duration) -> Option<serde_json::Value> {
        let cache = self
            .inner
            .shared_reads
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache
            .get(&id.to_ascii_lowercase())
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, r)| r.clone())
    }

    /// Remembers a subscription-wide resource just read.
    pub(crate) fn remember_shared(&self, id: &str, resource: serde_json::Value) {
        self.inner
            .shared_reads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id.to_ascii_lowercase(),
                (std::time::Instant::now(), resource),
            );
    }

    /// Forgets what was remembered of `id` (it was just written).
    pub(crate) fn forget_shared(&self, id: &str) {
        self.inner
            .shared_reads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id.to_ascii_lowercase());
    }

    /// A role definition read within `max_age`, by GUID.
    pub(crate) fn cached_role(
        &self,
        guid: &str,
        max_age: Duration,
    ) -> Option<super::roles::RoleDefinition> {
        let cache = self
            .inner
            .role_definitions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache
            .get(&guid.to_ascii_lowercase())
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, r)| r.clone())
    }

    pub(crate) fn cache_role(&self, guid: &str, role: &super::roles::RoleDefinition) {
        let mut cache = self
            .inner
            .role_definitions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache.insert(
            guid.to_ascii_lowercase(),
            (std::time::Instant::now(), role.clone()),
        );
    }

    /// The cloud this client talks to.
    pub fn cloud(&self) -> &Cloud {
        &self.inner.cloud
    }

    /// Call counts and latencies.
    pub fn stats(&self) -> Arc<CallStats> {
        self.inner.stats.clone()
    }

    /// The ARM URL of `path` (a resource id or a provider path) with `api-version`. The path is
    /// parsed as an [`ArmId`] first: no query, fragment, escape or dot segment of a string that
    /// reached it from an object can change which resource, host or operation the URL names.
    pub fn arm_url(&self, path: &str, api_version: &str) -> Result<Url, AzureError> {
        let id = ArmId::parse(path)?;
        let mut url = self.inner.cloud.resource_manager.clone();
        url.set_query(None);
        url.set_fragment(None);
        {
            let mut segments = url.path_segments_mut().map_err(|()| {
                AzureError::Configuration("the ARM endpoint cannot carry a path".into())
            })?;
            segments.pop_if_empty();
            segments.extend(id.segments());
        }
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        Ok(url)
    }

    /// A URL Azure returned to follow (`nextLink`): only on the ARM endpoint's own origin, so
    /// the operator's token never goes to another host.
    pub fn arm_link(&self, link: &str, operation: &str, resource: &str) -> Result<Url, AzureError> {
        same_origin(
            &self.inner.cloud.resource_manager,
            link,
            operation,
            resource,
        )
    }

    /// GET of an extension-resource collection at `scope`
    /// (`{scope}/providers/{op.provider}/{collection}`, built from the parsed scope) with
    /// `$filter=atScope()`: what is at the scope and what applies from above it, following
    /// `nextLink` (on the ARM endpoint only) for at most `max_pages` pages.
    pub async fn list_at_scope<T: DeserializeOwned>(
        &self,
        op: &ArmOp,
        scope: &str,
        collection: &str,
        max_pages: usize,
    ) -> Result<Vec<T>, AzureError> {
        #[derive(serde::Deserialize)]
        struct Page<T> {
            #[serde(default = "Vec::new")]
            value: Vec<T>,
            #[serde(default, rename = "nextLink")]
            next_link: Option<String>,
        }
        let path = ArmId::parse(scope)?
            .child("providers", Some(op.provider))?
            .child(collection, None)?;
        let mut url = self.arm_url(path.as_str(), op.api_version)?;
        url.query_pairs_mut().append_pair("$filter", "atScope()");
        let mut out = Vec::new();
        for _ in 0..max_pages {
            let reply = self
                .send(Call {
                    operation: op.operation,
                    provider: op.provider,
                    method: Method::Get,
                    url: url.clone(),
                    resource: scope,
                    body: None,
                    if_match: None,
                    audience: Audience::ResourceManager,
                })
                .await?;
            let page: Page<T> = reply.json(op.operation, scope)?;
            out.extend(page.value);
            match page.next_link {
                Some(next) => url = self.arm_link(&next, op.operation, scope)?,
                None => break,
            }
        }
        Ok(out)
    }

    /// Sends one call. A non-2xx status becomes a classified error.
    pub async fn send(&self, call: Call<'_>) -> Result<Reply, AzureError> {
        let reply = self.send_raw(&call).await?;
        if (200..300).contains(&reply.status) {
            Ok(reply)
        } else {
            Err(AzureError::from_response(
                call.operation,
                call.resource,
                reply.status,
                reply.retry_after,
                &reply.body,
            ))
        }
    }

    /// Sends one call and returns whatever came back (after the pipeline's retries).
    pub async fn send_raw(&self, call: &Call<'_>) -> Result<Reply, AzureError> {
        let access = if call.method == Method::Get || call.method == Method::Head {
            Access::Read
        } else {
            Access::Write
        };
        if call.provider == "Microsoft.ResourceGraph" {
            let until = *self
                .inner
                .graph_quota_until
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(wait) = until.and_then(|u| u.checked_duration_since(Instant::now())) {
                tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
            }
        }
        let subscription = subscription_of(call.resource);
        if let Some(subscription) = subscription {
            let waited = self.inner.budget.acquire(subscription, access).await;
            if !waited.is_zero() {
                *self
                    .inner
                    .stats
                    .budget_wait
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) += waited;
            }
        }
        let mut request = Request::new(call.url.clone(), call.method);
        request.insert_header("accept", "application/json");
        if let Some(body) = &call.body {
            let bytes = serde_json::to_vec(body)
                .map_err(|e| AzureError::Configuration(format!("request body: {e}")))?;
            request.insert_header("content-type", "application/json");
            request.set_body(bytes);
        }
        if let Some(etag) = &call.if_match {
            request.insert_header("if-match", etag.clone());
        }
        let pipeline = match call.audience {
            Audience::ResourceManager => &self.inner.arm,
            Audience::KeyVault => &self.inner.key_vault,
        };
        let started = Instant::now();
        let result = pipeline
            .send(
                &Context::new(),
                &mut request,
                Some(PipelineSendOptions {
                    skip_checks: true,
                    ..Default::default()
                }),
            )
            .await;
        let elapsed = started.elapsed();
        let key = |class: &str| CallKey {
            provider: call.provider.to_string(),
            operation: call.operation.to_string(),
            status_class: class.to_string(),
        };
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                self.inner.stats.record(key("error"), elapsed);
                return Err(match e.kind() {
                    azure_core::error::ErrorKind::Credential => {
                        AzureError::Credential(super::error::with_causes(&e))
                    }
                    _ => AzureError::Transient {
                        operation: call.operation.to_string(),
                        resource: call.resource.to_string(),
                        detail: super::error::with_causes(&e),
                    },
                });
            }
        };
        let (status, headers, body) = response.deconstruct();
        let status = u16::from(status);
        self.inner
            .stats
            .record(key(&format!("{}xx", status / 100)), elapsed);
        let header = |name: &'static str| headers.get_optional_string(&HeaderName::from(name));
        if let Some(subscription) = subscription {
            let remaining = lowest_remaining(access, call.method == Method::Delete, &header);
            if let Some(remaining) = remaining {
                self.inner
                    .budget
                    .observe_remaining(subscription, access, remaining);
            }
        }
        // Resource Graph has a quota of its own, per user: none left means no query until it
        // resets.
        if call.provider == "Microsoft.ResourceGraph"
            && let Some(0) =
                header("x-ms-user-quota-remaining").and_then(|r| r.trim().parse::<u32>().ok())
        {
            let resets = header("x-ms-user-quota-resets-after")
                .and_then(|r| parse_hms(&r))
                .unwrap_or(Duration::from_secs(5));
            *self
                .inner
                .graph_quota_until
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + resets);
            tracing::warn!(
                ?resets,
                "Azure Resource Graph quota used up; waiting for it to reset"
            );
        }
        Ok(Reply {
            status,
            etag: header("etag"),
            location: header("location"),
            async_operation: header("azure-asyncoperation"),
            retry_after: header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
            body: body.to_vec(),
        })
    }

    /// GET an ARM resource.
    pub async fn get<T: DeserializeOwned>(&self, op: &ArmOp, id: &str) -> Result<T, AzureError> {
        let reply = self
            .send(Call {
                operation: op.operation,
                provider: op.provider,
                method: Method::Get,
                url: self.arm_url(id, op.api_version)?,
                resource: id,
                body: None,
                if_match: None,
                audience: Audience::ResourceManager,
            })
            .await?;
        reply.json(op.operation, id)
    }

    /// GET an ARM resource, `None` when it does not exist.
    pub async fn get_opt<T: DeserializeOwned>(
        &self,
        op: &ArmOp,
        id: &str,
    ) -> Result<Option<T>, AzureError> {
        match self.get(op, id).await {
            Ok(v) => Ok(Some(v)),
            Err(AzureError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `link` parsed, when it has the origin of `base` (scheme, host and port).
pub fn same_origin(
    base: &Url,
    link: &str,
    operation: &str,
    resource: &str,
) -> Result<Url, AzureError> {
    let unexpected = |detail: String| AzureError::Unexpected {
        operation: operation.into(),
        resource: resource.into(),
        detail,
    };
    let url = Url::parse(link).map_err(|e| unexpected(format!("{link:?} is not a URL: {e}")))?;
    if url.origin() != base.origin() {
        return Err(unexpected(format!(
            "Azure answered with a link to {}, not {}; not followed",
            url.origin().ascii_serialization(),
            base.origin().ascii_serialization()
        )));
    }
    Ok(url)
}

/// The subscription id of an ARM resource id, for the budget.
pub fn subscription_of(resource: &str) -> Option<&str> {
    let mut segments = resource.trim_start_matches('/').split('/');
    match (segments.next(), segments.next()) {
        (Some(s), Some(id)) if s.eq_ignore_ascii_case("subscriptions") && !id.is_empty() => {
            Some(id)
        }
        _ => None,
    }
}

fn to_time(d: Duration) -> azure_core::time::Duration {
    azure_core::time::Duration::try_from(d).unwrap_or(azure_core::time::Duration::MAX)
}

/// The `oid` claim of a JWT, read without verifying it: only for a token the credential itself
/// returned.
fn token_object_id(jwt: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["oid"].as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_id_is_the_tokens_oid_claim_and_a_malformed_token_has_none() {
        use base64::Engine as _;
        let part = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let jwt = format!(
            "{}.{}.sig",
            part(serde_json::json!({"alg": "RS256"})),
            part(serde_json::json!({"oid": "5d6e7f80-9a1b-4c2d-8e3f-405162738495", "aud": "x"}))
        );
        assert_eq!(
            token_object_id(&jwt).as_deref(),
            Some("5d6e7f80-9a1b-4c2d-8e3f-405162738495")
        );
        for bad in [
            "",
            "a.b",
            "a.!!!.c",
            &format!("h.{}.s", part(serde_json::json!({"sub": "x"}))),
        ] {
            assert_eq!(token_object_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn subscription_is_read_from_resource_ids_case_insensitively() {
        assert_eq!(
            subscription_of("/subscriptions/abc/resourceGroups/rg"),
            Some("abc")
        );
        assert_eq!(subscription_of("/SUBSCRIPTIONS/abc"), Some("abc"));
        assert_eq!(subscription_of("https://kv.vault.azure.net/keys/k"), None);
        assert_eq!(
            subscription_of("/providers/Microsoft.ResourceGraph/resources"),
            None
        );
    }
}
