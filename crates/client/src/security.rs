//! How connections are secured: TLS (rustls with the ring provider) and SASL (PLAIN,
//! SCRAM-SHA-256, SCRAM-SHA-512), configured from Kafka's client properties as both the Java
//! client and librdkafka name them, so the `--command-config` file of a Kafka tool works as is.

use crate::error::{Error, Result};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sluice_security::jaas::JaasConfig;
use sluice_security::scram::ScramMechanism;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Kafka's `security.protocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No TLS, no SASL.
    #[default]
    Plaintext,
    /// TLS, no SASL.
    Ssl,
    /// SASL over plain TCP.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Parses Kafka's names, case-insensitively as Kafka does.
    pub fn parse(name: &str) -> Result<SecurityProtocol> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
            "SSL" => Ok(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
            _ => Err(Error::Invalid(format!(
                "security.protocol '{name}' is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
            ))),
        }
    }

    /// Whether the protocol uses TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether the protocol uses SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

/// A SASL mechanism the client can authenticate with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    /// `PLAIN` (RFC 4616): the password goes to the broker; use it over TLS.
    Plain,
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    Scram(ScramMechanism),
}

impl SaslMechanism {
    /// Parses a `sasl.mechanism` value (exact, as Kafka compares it).
    pub fn parse(name: &str) -> Result<SaslMechanism> {
        match name.trim() {
            "PLAIN" => Ok(SaslMechanism::Plain),
            other => ScramMechanism::from_name(other)
                .map(SaslMechanism::Scram)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "sasl.mechanism '{other}' is not supported by this client (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"
                    ))
                }),
        }
    }

    /// The name sent in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::Scram(m) => m.name(),
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SASL credentials.
#[derive(Clone)]
pub struct SaslConfig {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &format_args!("<redacted>"))
            .finish()
    }
}

/// How every connection of a client is secured. `Security::default()` is PLAINTEXT.
#[derive(Clone, Default)]
pub struct Security {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    /// SASL credentials, required when the protocol uses SASL.
    pub sasl: Option<SaslConfig>,
    /// The TLS configuration, required when the protocol uses TLS (see [`tls_config`]).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field("protocol", &self.protocol)
            .field("sasl", &self.sasl)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// The properties this client reads; anything else in a properties file is ignored, as the Java
/// client ignores (and warns about) settings it does not know.
pub const SECURITY_PROPERTIES: &[&str] = &[
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "sasl.jaas.config",
    "ssl.truststore.location",
    "ssl.truststore.type",
    "ssl.truststore.certificates",
    "ssl.ca.location",
    "ssl.ca.pem",
    "ssl.keystore.location",
    "ssl.keystore.type",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.certificate.location",
    "ssl.certificate.pem",
    "ssl.key.location",
    "ssl.key.pem",
    "ssl.endpoint.identification.algorithm",
];

impl Security {
    /// PLAINTEXT.
    pub fn plaintext() -> Security {
        Security::default()
    }

    /// Reads a Java properties file (`--command-config`) and applies [`Security::from_properties`].
    pub fn from_properties_file(path: &Path) -> Result<Security> {
        let text = read(path, "the client properties file")?;
        let entries =
            sluice_config::parse_properties(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        Security::from_properties(&entries.into_iter().map(|e| (e.key, e.value)).collect())
    }

    /// Builds the security settings from Kafka client properties:
    ///
    /// - `security.protocol`: PLAINTEXT (default), SSL, SASL_PLAINTEXT, SASL_SSL;
    /// - `sasl.mechanism` (librdkafka also accepts `sasl.mechanisms`): PLAIN, SCRAM-SHA-256,
    ///   SCRAM-SHA-512;
    /// - credentials from `sasl.username` / `sasl.password` (librdkafka), or else the `username`
    ///   and `password` options of `sasl.jaas.config` (a PlainLoginModule or ScramLoginModule);
    /// - trust: `ssl.truststore.location` (PEM) or `ssl.ca.location` (PEM file),
    ///   `ssl.truststore.certificates` or `ssl.ca.pem` (PEM text); without any, the operating
    ///   system's trust store;
    /// - identity: `ssl.keystore.location` (a PEM file holding the certificate chain and the key),
    ///   `ssl.certificate.location` + `ssl.key.location` (librdkafka), or
    ///   `ssl.keystore.certificate.chain` + `ssl.keystore.key` (PEM text); keys unencrypted;
    /// - `ssl.endpoint.identification.algorithm`: `https` (default) checks that the broker's
    ///   certificate names the host connected to; empty (or `none`) does not.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Security> {
        let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let protocol = get("security.protocol").map_or(Ok(SecurityProtocol::Plaintext), SecurityProtocol::parse)?;
        let sasl = if protocol.uses_sasl() {
            let mechanism = get("sasl.mechanism").or_else(|| get("sasl.mechanisms")).ok_or_else(|| {
                Error::Invalid(format!(
                    "security.protocol {} needs sasl.mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; this client has \
                     no GSSAPI)",
                    protocol_name(protocol)
                ))
            })?;
            let mechanism = SaslMechanism::parse(mechanism)?;
            let (username, password) = match (props.get("sasl.username"), props.get("sasl.password")) {
                (Some(u), Some(p)) => (u.clone(), p.clone()),
                _ => {
                    let jaas = get("sasl.jaas.config").ok_or_else(|| {
                        Error::Invalid(format!(
                            "SASL/{mechanism} needs sasl.jaas.config (or sasl.username and sasl.password)"
                        ))
                    })?;
                    let jaas = JaasConfig::parse(jaas).map_err(|e| Error::Invalid(format!("sasl.jaas.config: {e}")))?;
                    let option = |k: &str| {
                        jaas.option(k).map(str::to_owned).ok_or_else(|| {
                            Error::Invalid(format!("sasl.jaas.config for SASL/{mechanism} has no {k} option"))
                        })
                    };
                    (option("username")?, option("password")?)
                }
            };
            Some(SaslConfig {
                mechanism,
                username,
                password,
            })
        } else {
            None
        };
        let tls = if protocol.uses_tls() {
            for (key, type_key) in [
                ("ssl.truststore.location", "ssl.truststore.type"),
                ("ssl.keystore.location", "ssl.keystore.type"),
            ] {
                if let Some(t) = get(type_key).filter(|t| !t.eq_ignore_ascii_case("PEM")) {
                    if get(key).is_some() {
                        return Err(Error::Invalid(format!(
                            "{type_key}={t} is not supported by this client: give {key} as a PEM file"
                        )));
                    }
                }
            }
            let ca = match (
                get("ssl.truststore.certificates").or_else(|| get("ssl.ca.pem")),
                get("ssl.truststore.location").or_else(|| get("ssl.ca.location")),
            ) {
                (Some(pem), _) => Some(pem.to_owned()),
                (None, Some(path)) => Some(read(Path::new(path), "the trust store")?),
                (None, None) => None,
            };
            let identity = if let Some(path) = get("ssl.keystore.location") {
                let bundle = read(Path::new(path), "the key store")?;
                Some((bundle.clone(), bundle))
            } else if let Some(chain) = get("ssl.keystore.certificate.chain").or_else(|| get("ssl.certificate.pem")) {
                let key = get("ssl.keystore.key").or_else(|| get("ssl.key.pem")).ok_or_else(|| {
                    Error::Invalid("a client certificate was given without its key (ssl.keystore.key)".into())
                })?;
                Some((chain.to_owned(), key.to_owned()))
            } else if let Some(cert) = get("ssl.certificate.location") {
                let key = get("ssl.key.location").ok_or_else(|| {
                    Error::Invalid("ssl.certificate.location was given without ssl.key.location".into())
                })?;
                Some((
                    read(Path::new(cert), "the client certificate")?,
                    read(Path::new(key), "the client key")?,
                ))
            } else {
                None
            };
            let verify_hostname = match get("ssl.endpoint.identification.algorithm") {
                None => props.get("ssl.endpoint.identification.algorithm").is_none(),
                Some(a) if a.eq_ignore_ascii_case("https") => true,
                Some(a) if a.eq_ignore_ascii_case("none") => false,
                Some(a) => {
                    return Err(Error::Invalid(format!(
                        "ssl.endpoint.identification.algorithm '{a}' is not https or empty"
                    )));
                }
            };
            let identity = identity.as_ref().map(|(c, k)| (c.as_str(), k.as_str()));
            Some(Arc::new(tls_config(ca.as_deref(), identity, verify_hostname)?))
        } else {
            None
        };
        Ok(Security { protocol, sasl, tls })
    }
}

fn protocol_name(p: SecurityProtocol) -> &'static str {
    match p {
        SecurityProtocol::Plaintext => "PLAINTEXT",
        SecurityProtocol::Ssl => "SSL",
        SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
        SecurityProtocol::SaslSsl => "SASL_SSL",
    }
}

fn read(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        context: format!("cannot read {what} {}", path.display()),
        source,
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client configuration (ring provider, TLS 1.2 and 1.3): trusting the CA certificates
/// in `ca_pem` (or, when `None`, the operating system's trust store), presenting `identity`
/// (certificate chain PEM, private key PEM; one bundle may serve as both) when given, and
/// checking the broker's host name against its certificate when `verify_hostname`.
pub fn tls_config(
    ca_pem: Option<&str>,
    identity: Option<(&str, &str)>,
    verify_hostname: bool,
) -> Result<rustls::ClientConfig> {
    let invalid = |e: String| Error::Invalid(format!("TLS configuration: {e}"));
    let mut roots = RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| invalid(format!("the CA certificates are not valid PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| invalid(format!("a CA certificate is not usable as a trust anchor: {e}")))?;
            }
            if roots.is_empty() {
                return Err(invalid("the trust store holds no certificate".into()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(invalid(
                    "no CA given (ssl.truststore.location or ssl.ca.location) and no system trust store found".into(),
                ));
            }
        }
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| invalid(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = if verify_hostname {
        webpki
    } else {
        Arc::new(NoHostnameVerifier(webpki))
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some((chain_pem, key_pem)) => {
            let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| invalid(format!("the client certificate is not valid PEM: {e}")))?;
            if chain.is_empty() {
                return Err(invalid("the key store holds no certificate".into()));
            }
            let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| {
                invalid(format!(
                    "the key store holds no usable unencrypted private key (PKCS#8, PKCS#1 or SEC1): {e}"
                ))
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| invalid(format!("the client certificate and key: {e}")))
        }
    }
}

/// `ssl.endpoint.identification.algorithm=` (empty): the chain must still lead to a trusted CA
/// and be valid now, but it need not name the host.
#[derive(Debug)]
struct NoHostnameVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for NoHostnameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // The webpki verifier checks the chain first and the name last, so a name error means
        // the chain was fine.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The host part of `host:port` (without brackets for `[v6]:port`), as the TLS server name.
pub(crate) fn server_name(address: &str) -> Result<ServerName<'static>> {
    let host = match address.rsplit_once(':') {
        Some((h, _)) => h,
        None => address,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .map_err(|_| Error::Invalid(format!("'{host}' is not a host name usable for TLS")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn plaintext_by_default() {
        let s = Security::from_properties(&props(&[("client.id", "x")])).unwrap();
        assert_eq!(s.protocol, SecurityProtocol::Plaintext);
        assert!(s.sasl.is_none() && s.tls.is_none());
    }

    #[test]
    fn sasl_credentials_from_jaas() {
        let s = Security::from_properties(&props(&[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"a;b\";",
            ),
        ]))
        .unwrap();
        let sasl = s.sasl.unwrap();
        assert_eq!(sasl.mechanism, SaslMechanism::Scram(ScramMechanism::Sha512));
        assert_eq!((sasl.username.as_str(), sasl.password.as_str()), ("alice", "a;b"));
        assert!(!format!("{:?}", s.protocol).is_empty());
    }

    #[test]
    fn sasl_credentials_librdkafka_style() {
        let s = Security::from_properties(&props(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanisms", "PLAIN"),
            ("sasl.username", "bob"),
            ("sasl.password", "pw"),
        ]))
        .unwrap();
        let sasl = s.sasl.unwrap();
        assert_eq!(sasl.mechanism, SaslMechanism::Plain);
        assert_eq!(sasl.username, "bob");
        assert!(!format!("{sasl:?}").contains("pw"));
    }

    #[test]
    fn clear_errors_for_incomplete_settings() {
        let err = |p: &[(&str, &str)]| Security::from_properties(&props(p)).unwrap_err().to_string();
        assert!(err(&[("security.protocol", "TLS")]).contains("security.protocol 'TLS'"));
        assert!(err(&[("security.protocol", "SASL_PLAINTEXT")]).contains("needs sasl.mechanism"));
        assert!(err(&[("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "GSSAPI")]).contains("GSSAPI"));
        assert!(
            err(&[("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "PLAIN")]).contains("sasl.jaas.config")
        );
        assert!(
            err(&[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "PLAIN"),
                (
                    "sasl.jaas.config",
                    "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\";"
                ),
            ])
            .contains("no password option")
        );
        assert!(
            err(&[
                ("security.protocol", "SSL"),
                ("ssl.truststore.location", "/nonexistent/ca.pem")
            ])
            .contains("cannot read the trust store /nonexistent/ca.pem")
        );
        assert!(
            err(&[
                ("security.protocol", "SSL"),
                ("ssl.truststore.type", "JKS"),
                ("ssl.truststore.location", "/x.jks")
            ])
            .contains("ssl.truststore.type=JKS is not supported")
        );
        assert!(
            err(&[("security.protocol", "SSL"), ("ssl.truststore.certificates", "not pem")]).contains("no certificate")
        );
    }

    #[test]
    fn server_names() {
        assert_eq!(server_name("localhost:9092").unwrap().to_str(), "localhost");
        assert_eq!(server_name("127.0.0.1:9092").unwrap().to_str(), "127.0.0.1");
        assert_eq!(server_name("[::1]:9092").unwrap().to_str(), "::1");
    }
}
