//! A rustls client configuration from PEM, for Sluice's own client and for tests.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

use super::material::{pem_certificates, pem_private_key};
use super::{TlsConfigError, provider};

/// A client configuration that trusts the CA certificates in `ca_pem` and, when `identity` is
/// given as `(certificate chain PEM, private key PEM)`, presents that certificate for
/// `ssl.client.auth`. Uses the same ring provider and protocol versions (TLS 1.2 and 1.3) as
/// the server side, so a configuration that works in tests works against the broker.
///
/// The key must be unencrypted PEM (PKCS#8, PKCS#1 or SEC1).
pub fn client_config(ca_pem: &str, identity: Option<(&str, &str)>) -> Result<ClientConfig, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in pem_certificates(ca_pem, "CA certificates")? {
        roots
            .add(cert)
            .map_err(|e| TlsConfigError::material("CA certificates", format!("not usable as a trust anchor: {e}")))?;
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError::Rustls(e.to_string()))?
        .with_root_certificates(Arc::new(roots));
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some((chain_pem, key_pem)) => {
            let chain = pem_certificates(chain_pem, "client certificate")?;
            let key = pem_private_key(key_pem, "client key", None)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsConfigError::material("client certificate", e.to_string()))
        }
    }
}
