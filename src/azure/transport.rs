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
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| AzureError::Configuration(format!("HTTP client: {e}")))
}
