//! The live server configuration of a TLS listener and its reload when the files change.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

use super::material::{self, FileContents, Material};
use super::settings::{ClientAuth, TlsSettings};
use super::subject::client_certificate_subject;
use super::{TlsConfigError, provider};

/// A listener's TLS server configuration that follows its key and trust store files.
///
/// The broker builds one per TLS listener, wraps each accepted socket with [`Self::acceptor`],
/// and calls [`Self::reload_if_changed`] on a timer, as Kafka re-reads a keystore whose file has
/// changed. A reload swaps in a fully validated new configuration or keeps the old one: a bad
/// replacement never takes the listener down. Connections keep the configuration they were
/// accepted with; only new handshakes see the new certificate.
pub struct ReloadableTls {
    settings: TlsSettings,
    current: RwLock<Arc<ServerConfig>>,
    /// Held across a whole reload so two timers cannot interleave reads and swaps.
    state: Mutex<Loaded>,
}

impl std::fmt::Debug for ReloadableTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadableTls")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What the current configuration was built from, for change detection and reload rules.
struct Loaded {
    fingerprint: Vec<Option<[u8; 32]>>,
    leaf: CertificateDer<'static>,
}

impl ReloadableTls {
    /// Reads the key material named by `settings` and builds the first configuration; any
    /// problem (unreadable file, wrong password, key not matching its certificate, unparsable
    /// trust store) is an error here, so a listener never starts half-configured.
    pub fn new(settings: TlsSettings) -> Result<ReloadableTls, TlsConfigError> {
        let files = FileContents::read(&settings)?;
        let material = material::load(&settings, &files)?;
        let leaf = material.chain[0].clone();
        let config = build_server_config(&settings, material)?;
        Ok(ReloadableTls {
            current: RwLock::new(config),
            state: Mutex::new(Loaded {
                fingerprint: files.fingerprint(),
                leaf,
            }),
            settings,
        })
    }

    /// The settings this listener was configured with (for logging dropped protocols/suites).
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// An acceptor for the current configuration: an `Arc` clone, cheap enough to take per
    /// connection, so each connection is accepted with whatever configuration is current.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config())
    }

    /// The current rustls configuration, for callers that drive rustls themselves.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Re-reads the key store and trust store files; when their contents differ from what the
    /// current configuration was built from, builds and validates a new configuration and swaps
    /// it in.
    ///
    /// Contents are compared by SHA-256, not modification time: Strimzi and cert-manager replace
    /// files by swapping a symlink, which can expose a file with an older mtime.
    ///
    /// Returns `Ok(true)` when a new configuration is in use, `Ok(false)` when nothing changed
    /// (always, for inline PEM). On error the old configuration stays in use and the error says
    /// why, for the broker to log; the next call tries again, so a half-written replacement that
    /// is completed later is picked up. A replacement certificate must keep the old one's subject
    /// and subject alternative names unless `ssl.allow.dn.changes` / `ssl.allow.san.changes` is
    /// true (Kafka's rule, so clients that pin the broker's identity are not surprised), and must
    /// be within its validity period.
    pub fn reload_if_changed(&self) -> Result<bool, TlsConfigError> {
        let mut loaded = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let files = FileContents::read(&self.settings)?;
        let fingerprint = files.fingerprint();
        if fingerprint == loaded.fingerprint {
            return Ok(false);
        }
        let material = material::load(&self.settings, &files)?;
        let leaf = material.chain[0].clone();
        if leaf != loaded.leaf {
            check_replacement(&self.settings, &loaded.leaf, &leaf)?;
        }
        let config = build_server_config(&self.settings, material)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = config;
        *loaded = Loaded { fingerprint, leaf };
        Ok(true)
    }
}

/// Kafka's rules for a keystore replaced at run time (`SslFactory`'s certificate comparison),
/// plus: the new certificate must be currently valid.
fn check_replacement(
    settings: &TlsSettings,
    old: &CertificateDer<'_>,
    new: &CertificateDer<'_>,
) -> Result<(), TlsConfigError> {
    let (old_cert, new_cert) = (parse_cert(old)?, parse_cert(new)?);
    if !new_cert.validity().is_valid() {
        return Err(TlsConfigError::ReloadRefused(
            "the new certificate is expired or not yet valid".to_string(),
        ));
    }
    if !settings.allow_dn_changes {
        let (old_dn, new_dn) = (client_certificate_subject(old)?, client_certificate_subject(new)?);
        if old_dn != new_dn {
            return Err(TlsConfigError::ReloadRefused(format!(
                "the subject changed from `{old_dn}` to `{new_dn}`; set ssl.allow.dn.changes=true to allow it"
            )));
        }
    }
    if !settings.allow_san_changes {
        let san = |c: &x509_parser::certificate::X509Certificate<'_>| {
            c.extensions()
                .iter()
                .find(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_SUBJECT_ALT_NAME)
                .map(|e| e.value.to_vec())
        };
        if san(&old_cert) != san(&new_cert) {
            return Err(TlsConfigError::ReloadRefused(
                "the subject alternative names changed; set ssl.allow.san.changes=true to allow it".to_string(),
            ));
        }
    }
    Ok(())
}

fn parse_cert<'a>(der: &'a [u8]) -> Result<x509_parser::certificate::X509Certificate<'a>, TlsConfigError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c)
        .map_err(|e| TlsConfigError::ReloadRefused(format!("certificate is not valid X.509: {e}")))
}

/// Builds the rustls server configuration: protocol versions and suites from the settings, the
/// key checked against its certificate, and client authentication per `ssl.client.auth`.
fn build_server_config(settings: &TlsSettings, material: Material) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let mut provider = Arc::unwrap_or_clone(provider());
    if let Some(suites) = &settings.suites {
        provider.cipher_suites = suites.clone();
    }
    let provider = Arc::new(provider);

    // Trust material is parsed even when not used for client authentication, so a broken
    // trust store is reported rather than silently carried.
    let mut roots = RootCertStore::empty();
    for cert in material.roots {
        roots.add(cert).map_err(|e| {
            TlsConfigError::material("trust store", format!("a certificate cannot be a trust anchor: {e}"))
        })?;
    }

    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&settings.versions)
        .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
    let builder = match settings.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        mode => {
            let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if mode == ClientAuth::Requested {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|e| {
                TlsConfigError::material("trust store", format!("cannot verify client certificates with it: {e}"))
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(material.chain, material.key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                TlsConfigError::material("key store", "the private key does not match the certificate")
            }
            other => TlsConfigError::material("key store", format!("unusable certificate or private key: {other}")),
        })?;
    Ok(Arc::new(config))
}
