//! The HTTPS transport every Azure call goes through: reqwest with rustls (ring), the Mozilla
//! root store, and optionally a CA bundle of a custom cloud (the simulator's).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::error::AzureError;

/// Builds the HTTP client shared by ARM, Key Vault and credential requests.
pub fn http_client(
    extra_ca_bundle: Option<&Path>,
    timeout: Duration,
) -> Result<reqwest::Client, AzureError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(bundle) = extra_ca_bundle {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(bundle)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| {
                AzureError::Configuration(format!("reading CA bundle {}: {e}", bundle.display()))
            })?;
        if certs.is_empty() {
            return Err(AzureError::Configuration(format!(
                "CA bundle {} holds no certificate",
                bundle.display()
            )));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                AzureError::Configuration(format!("CA bundle {}: {e}", bundle.display()))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AzureError::Configuration(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .dns_resolver(Arc::new(LocalhostAware))
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| AzureError::Configuration(format!("HTTP client: {e}")))
}

/// System DNS, except that `localhost` and every name under `.localhost` resolve to the loopback
/// address without asking DNS (RFC 6761 §6.3). A custom cloud served on one machine, such as the
/// simulator, can then give each vault its own host name (`{vault}.vault.localhost`).
struct LocalhostAware;

impl reqwest::dns::Resolve for LocalhostAware {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            if host == "localhost" || host.ends_with(".localhost") {
                let loopback: Vec<std::net::SocketAddr> = vec![
                    std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                    std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
                ];
                return Ok(Box::new(loopback.into_iter()) as reqwest::dns::Addrs);
            }
            let found: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
