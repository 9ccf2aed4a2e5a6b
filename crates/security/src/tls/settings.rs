//! A listener's `ssl.*` keys, parsed and checked the way Kafka's `DefaultSslEngineFactory` checks
//! them, plus the refusals that follow from running on rustls instead of Java's JSSE.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls::SupportedCipherSuite;
use rustls::SupportedProtocolVersion;

use super::TlsConfigError;

/// Every `ssl.*` key Sluice accepts on a listener; the broker refuses any other `ssl.*` key
/// rather than ignoring it, because an ignored security setting is a silent weakening.
///
/// Decision per key (Kafka's names; "honoured" means it has Kafka's meaning):
/// - `ssl.keystore.type`: honoured; `PEM` and `PKCS12`. `JKS` (Kafka's default) is honoured only
///   when the file is in fact PKCS#12, as Java's compatibility mode also reads it; a real JKS or
///   JCEKS file is refused with the `keytool -importkeystore` command that converts it.
/// - `ssl.keystore.location`, `ssl.keystore.password`, `ssl.key.password`,
///   `ssl.keystore.certificate.chain`, `ssl.keystore.key`: honoured, with Kafka's rules on which
///   may be combined. Beyond Kafka, an unencrypted PEM key is accepted even when
///   `ssl.key.password` is set (the password is then unused), and unencrypted PKCS#1/SEC1 keys
///   are read too; both only accept more files, never weaker ones. A PKCS#12 key whose password
///   differs from the store's is not supported (keytool cannot create one either).
/// - `ssl.truststore.type`, `ssl.truststore.location`, `ssl.truststore.password`,
///   `ssl.truststore.certificates`: honoured likewise.
/// - `ssl.client.auth`: honoured (`none`, `requested`, `required`); an unknown value is refused,
///   where Kafka would log a warning and fall back to `none`, because a typo must not turn off
///   client authentication.
/// - `ssl.enabled.protocols`: honoured for `TLSv1.2` and `TLSv1.3`; older names are dropped
///   (rustls does not implement them) and reported; none left is refused.
/// - `ssl.protocol`: accepted for `TLS`, `TLSv1.2`, `TLSv1.3`. In Java it names the
///   `SSLContext` algorithm while `ssl.enabled.protocols` decides what is negotiated, so its value
///   changes nothing here; older protocol names are refused.
/// - `ssl.cipher.suites`: honoured; Java/IANA names are mapped to rustls suites, names rustls
///   lacks are dropped and reported; none left is refused. Empty means rustls' defaults.
/// - `ssl.endpoint.identification.algorithm`: accepted and ignored: it is a client-side check
///   of the server's host name, and Kafka ignores it on the server too.
/// - `ssl.keymanager.algorithm`: accepted for Java's built-in `SunX509`, `NewSunX509`, `PKIX`:
///   with one key they choose the same certificate. Anything else (a custom provider's key
///   manager) is refused.
/// - `ssl.trustmanager.algorithm`: accepted for `PKIX` (and its aliases `SunPKIX`, `X509`,
///   `X.509`) and `SunX509`; rustls' WebPKI verifier does PKIX path validation, which is at least
///   as strict as either. Anything else is refused.
/// - `ssl.secure.random.implementation`: accepted and ignored: ring always uses the operating
///   system's CSPRNG, at least as strong as any `SecureRandom` a user names.
/// - `ssl.provider`, `ssl.engine.factory.class`: refused when set (other than Kafka's own
///   `DefaultSslEngineFactory`): they plug in Java code Sluice cannot run.
/// - `ssl.allow.dn.changes`, `ssl.allow.san.changes`: honoured when a reload replaces the key
///   store: by default (false) a new certificate must keep the old subject and SANs, as in Kafka.
/// - `ssl.principal.mapping.rules`: accepted here but not read: the principal-mapping module owns
///   it.
pub const ACCEPTED_KEYS: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.truststore.certificates",
    "ssl.client.auth",
    "ssl.enabled.protocols",
    "ssl.protocol",
    "ssl.cipher.suites",
    "ssl.endpoint.identification.algorithm",
    "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm",
    "ssl.secure.random.implementation",
    "ssl.provider",
    "ssl.engine.factory.class",
    "ssl.allow.dn.changes",
    "ssl.allow.san.changes",
    "ssl.principal.mapping.rules",
];

/// Whether `key` is one of [`ACCEPTED_KEYS`]. Being accepted does not mean every value is:
/// [`TlsSettings::from_properties`] still refuses values it cannot honour.
pub fn is_accepted_key(key: &str) -> bool {
    ACCEPTED_KEYS.contains(&key)
}

/// The format of a key store or trust store, from `ssl.keystore.type` / `ssl.truststore.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    /// PEM text: certificates, and for a key store one PKCS#8 private key (optionally encrypted).
    Pem,
    /// A PKCS#12 archive as written by `openssl pkcs12 -export` or `keytool`.
    Pkcs12,
    /// Kafka's default type name. Java reads PKCS#12 files under this name too, so a file that
    /// turns out to be PKCS#12 is read as such; a real JKS file is refused with a conversion hint.
    Jks,
}

/// Whether the server asks for a client certificate (`ssl.client.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for (Kafka's default).
    #[default]
    None,
    /// A client certificate is asked for; a client may go without, but one it presents must be
    /// signed by the trust store.
    Requested,
    /// A client certificate signed by the trust store is mandatory.
    Required,
}

/// A password or inline key: kept out of `Debug` output so settings can be logged.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the server's own certificate and key come from.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    File {
        path: PathBuf,
        store_type: StoreType,
        password: Option<Secret>,
    },
    InlinePem {
        chain: String,
        key: Secret,
    },
}

/// Where the certificates that sign client certificates come from.
#[derive(Debug, Clone)]
pub(crate) enum TrustSource {
    File {
        path: PathBuf,
        store_type: StoreType,
        password: Option<Secret>,
    },
    InlinePem(String),
}

/// One listener's TLS settings, checked and ready to load key material from.
///
/// Parsing does not read files: [`super::ReloadableTls::new`] does, so that parsing can be done
/// (and refused early) when the broker reads its configuration. `Debug` never shows passwords or
/// inline keys.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub(crate) key: KeySource,
    pub(crate) key_password: Option<Secret>,
    pub(crate) trust: Option<TrustSource>,
    pub(crate) client_auth: ClientAuth,
    pub(crate) versions: Vec<&'static SupportedProtocolVersion>,
    pub(crate) suites: Option<Vec<SupportedCipherSuite>>,
    pub(crate) dropped_protocols: Vec<String>,
    pub(crate) dropped_cipher_suites: Vec<String>,
    pub(crate) allow_dn_changes: bool,
    pub(crate) allow_san_changes: bool,
}

const DEFAULT_ENGINE_FACTORY: &str = "org.apache.kafka.common.security.ssl.DefaultSslEngineFactory";

impl TlsSettings {
    /// Parses a listener's effective `ssl.*` settings. `get(key)` returns the value for this
    /// listener (the broker has already resolved `listener.name.<l>.ssl.*` overrides), or `None`
    /// when the key is not set.
    ///
    /// Applies Kafka's rules (e.g. `ssl.keystore.key` only with type `PEM`, no key store password
    /// with PEM, a password with a PKCS#12 key store) and Sluice's refusals (see
    /// [`ACCEPTED_KEYS`]). Files are not read here.
    pub fn from_properties(get: &dyn Fn(&str) -> Option<String>) -> Result<TlsSettings, TlsConfigError> {
        // A value that is set but blank counts as unset, except passwords, which may be empty.
        let value = |key: &str| get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let secret = |key: &str| get(key).map(Secret);

        refuse_unsupported(&value)?;

        let key = parse_key_source(&value, &secret)?;
        let trust = parse_trust_source(&value, &secret)?;
        let key_password = secret("ssl.key.password");

        let client_auth = match value("ssl.client.auth").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("none") => ClientAuth::None,
            Some("requested") => ClientAuth::Requested,
            Some("required") => ClientAuth::Required,
            Some(other) => {
                return Err(TlsConfigError::setting(
                    "ssl.client.auth",
                    format!("unknown value `{other}`; expected none, requested or required"),
                ));
            }
        };
        if client_auth != ClientAuth::None && trust.is_none() {
            return Err(TlsConfigError::setting(
                "ssl.client.auth",
                "client authentication needs trust material to check client certificates against: set \
                 ssl.truststore.location or ssl.truststore.certificates",
            ));
        }

        match value("ssl.protocol").as_deref() {
            None | Some("TLS") | Some("TLSv1.2") | Some("TLSv1.3") => {}
            Some(other) => {
                return Err(TlsConfigError::setting(
                    "ssl.protocol",
                    format!("`{other}` is not supported; use TLSv1.3, TLSv1.2 or TLS"),
                ));
            }
        }

        let protocol_names = list(value("ssl.enabled.protocols").as_deref().unwrap_or("TLSv1.2,TLSv1.3"));
        let protocol_names = if protocol_names.is_empty() {
            list("TLSv1.2,TLSv1.3")
        } else {
            protocol_names
        };
        let mut versions: Vec<&'static SupportedProtocolVersion> = Vec::new();
        let mut dropped_protocols = Vec::new();
        for name in protocol_names {
            let version = match name.as_str() {
                "TLSv1.3" => Some(&rustls::version::TLS13),
                "TLSv1.2" => Some(&rustls::version::TLS12),
                _ => None,
            };
            match version {
                Some(v) if !versions.iter().any(|have| have.version == v.version) => versions.push(v),
                Some(_) => {}
                None => dropped_protocols.push(name),
            }
        }
        if versions.is_empty() {
            return Err(TlsConfigError::setting(
                "ssl.enabled.protocols",
                format!(
                    "none of {} is supported; Sluice supports TLSv1.2 and TLSv1.3",
                    dropped_protocols.join(",")
                ),
            ));
        }

        let suite_names = list(value("ssl.cipher.suites").as_deref().unwrap_or(""));
        let (suites, dropped_cipher_suites) = if suite_names.is_empty() {
            (None, Vec::new())
        } else {
            let (found, dropped) = map_cipher_suites(&suite_names);
            if found.is_empty() {
                return Err(TlsConfigError::setting(
                    "ssl.cipher.suites",
                    format!(
                        "none of the listed suites is supported ({}); supported: {}",
                        dropped.join(","),
                        supported_suite_names().join(",")
                    ),
                ));
            }
            (Some(found), dropped)
        };
        let usable = |v: &SupportedProtocolVersion| match &suites {
            None => true,
            Some(s) => s.iter().any(|suite| suite.version().version == v.version),
        };
        if !versions.iter().any(|v| usable(v)) {
            return Err(TlsConfigError::setting(
                "ssl.cipher.suites",
                "none of the listed suites can be used with the protocols in ssl.enabled.protocols",
            ));
        }

        let allow_dn_changes = parse_bool(&value, "ssl.allow.dn.changes")?;
        let allow_san_changes = parse_bool(&value, "ssl.allow.san.changes")?;

        Ok(TlsSettings {
            key,
            key_password,
            trust,
            client_auth,
            versions,
            suites,
            dropped_protocols,
            dropped_cipher_suites,
            allow_dn_changes,
            allow_san_changes,
        })
    }

    /// The client authentication mode, so the broker knows whether to expect a certificate.
    pub fn client_auth(&self) -> ClientAuth {
        self.client_auth
    }

    /// The protocol names that will be negotiated (`TLSv1.3`, `TLSv1.2`), in configured order.
    pub fn enabled_protocols(&self) -> Vec<&'static str> {
        self.versions
            .iter()
            .map(|v| {
                if v.version == rustls::ProtocolVersion::TLSv1_3 {
                    "TLSv1.3"
                } else {
                    "TLSv1.2"
                }
            })
            .collect()
    }

    /// Names in `ssl.enabled.protocols` that were dropped because rustls does not implement them
    /// (e.g. `TLSv1.1`), for the broker to log as a warning.
    pub fn dropped_protocols(&self) -> &[String] {
        &self.dropped_protocols
    }

    /// Names in `ssl.cipher.suites` that were dropped, because rustls lacks the suite (CBC, RSA
    /// key exchange, ...) or the name is unknown, for the broker to log as a warning.
    pub fn dropped_cipher_suites(&self) -> &[String] {
        &self.dropped_cipher_suites
    }

    /// The files [`super::ReloadableTls::reload_if_changed`] watches: the key store and trust
    /// store locations, when they are files rather than inline PEM.
    pub fn watched_files(&self) -> Vec<&Path> {
        let mut files = Vec::new();
        if let KeySource::File { path, .. } = &self.key {
            files.push(path.as_path());
        }
        if let Some(TrustSource::File { path, .. }) = &self.trust {
            files.push(path.as_path());
        }
        files
    }
}

/// Refuses keys that would plug in Java code or a behaviour rustls cannot reproduce.
fn refuse_unsupported(value: &dyn Fn(&str) -> Option<String>) -> Result<(), TlsConfigError> {
    if let Some(p) = value("ssl.provider") {
        return Err(TlsConfigError::setting(
            "ssl.provider",
            format!("`{p}`: Java security providers cannot be used; Sluice uses rustls with ring, remove the key"),
        ));
    }
    if let Some(class) = value("ssl.engine.factory.class")
        && class != DEFAULT_ENGINE_FACTORY
    {
        return Err(TlsConfigError::setting(
            "ssl.engine.factory.class",
            format!("`{class}`: custom SSL engine factories are Java code Sluice cannot run"),
        ));
    }
    if let Some(alg) = value("ssl.keymanager.algorithm")
        && !matches!(alg.as_str(), "SunX509" | "NewSunX509" | "PKIX")
    {
        return Err(TlsConfigError::setting(
            "ssl.keymanager.algorithm",
            format!("`{alg}` is not supported; only Java's built-in SunX509/NewSunX509/PKIX behaviour is"),
        ));
    }
    if let Some(alg) = value("ssl.trustmanager.algorithm")
        && !matches!(alg.as_str(), "PKIX" | "SunPKIX" | "X509" | "X.509" | "SunX509")
    {
        return Err(TlsConfigError::setting(
            "ssl.trustmanager.algorithm",
            format!("`{alg}` is not supported; only PKIX certificate path validation is"),
        ));
    }
    Ok(())
}

fn parse_store_type(value: &dyn Fn(&str) -> Option<String>, key: &str) -> Result<StoreType, TlsConfigError> {
    match value(key).map(|v| v.to_ascii_uppercase()).as_deref() {
        None | Some("JKS") => Ok(StoreType::Jks),
        Some("PEM") => Ok(StoreType::Pem),
        Some("PKCS12") => Ok(StoreType::Pkcs12),
        Some("JCEKS") | Some("BCFKS") => Err(TlsConfigError::setting(key, jks_hint("this store type"))),
        Some(other) => Err(TlsConfigError::setting(
            key,
            format!("unknown store type `{other}`; use PEM or PKCS12"),
        )),
    }
}

/// How to convert a Java key store to PKCS#12, the advice every JKS refusal carries.
pub(crate) fn jks_hint(what: &str) -> String {
    format!(
        "{what}: Java KeyStore (JKS/JCEKS) files are not supported; convert to PKCS#12 with \
         `keytool -importkeystore -srckeystore x.jks -destkeystore x.p12 -deststoretype PKCS12` and set the \
         type to PKCS12"
    )
}

fn parse_key_source(
    value: &dyn Fn(&str) -> Option<String>,
    secret: &dyn Fn(&str) -> Option<Secret>,
) -> Result<KeySource, TlsConfigError> {
    let store_type = parse_store_type(value, "ssl.keystore.type")?;
    let location = value("ssl.keystore.location");
    let password = secret("ssl.keystore.password");
    let inline_key = value("ssl.keystore.key");
    let inline_chain = value("ssl.keystore.certificate.chain");

    if let Some(key) = inline_key {
        if store_type != StoreType::Pem {
            return Err(TlsConfigError::setting(
                "ssl.keystore.key",
                "an inline private key needs ssl.keystore.type=PEM",
            ));
        }
        let Some(chain) = inline_chain else {
            return Err(TlsConfigError::setting(
                "ssl.keystore.key",
                "an inline private key needs ssl.keystore.certificate.chain too",
            ));
        };
        if location.is_some() {
            return Err(TlsConfigError::setting(
                "ssl.keystore.location",
                "set either ssl.keystore.location or ssl.keystore.key, not both",
            ));
        }
        if password.is_some() {
            return Err(TlsConfigError::setting(
                "ssl.keystore.password",
                "not used with PEM; an encrypted key's password goes in ssl.key.password",
            ));
        }
        return Ok(KeySource::InlinePem {
            chain,
            key: Secret(key),
        });
    }
    if inline_chain.is_some() {
        return Err(TlsConfigError::setting(
            "ssl.keystore.certificate.chain",
            "an inline certificate chain needs ssl.keystore.key too",
        ));
    }
    let Some(path) = location else {
        if password.is_some() {
            return Err(TlsConfigError::setting(
                "ssl.keystore.password",
                "set, but ssl.keystore.location is not",
            ));
        }
        return Err(TlsConfigError::setting(
            "ssl.keystore.location",
            "a TLS listener needs its own certificate: set ssl.keystore.location, or ssl.keystore.key with \
             ssl.keystore.certificate.chain",
        ));
    };
    match store_type {
        StoreType::Pem if password.is_some() => Err(TlsConfigError::setting(
            "ssl.keystore.password",
            "not used with PEM; an encrypted key's password goes in ssl.key.password",
        )),
        StoreType::Pkcs12 | StoreType::Jks if password.is_none() => Err(TlsConfigError::setting(
            "ssl.keystore.password",
            "a PKCS#12 key store needs its password",
        )),
        _ => Ok(KeySource::File {
            path: PathBuf::from(path),
            store_type,
            password,
        }),
    }
}

fn parse_trust_source(
    value: &dyn Fn(&str) -> Option<String>,
    secret: &dyn Fn(&str) -> Option<Secret>,
) -> Result<Option<TrustSource>, TlsConfigError> {
    let store_type = parse_store_type(value, "ssl.truststore.type")?;
    let location = value("ssl.truststore.location");
    let password = secret("ssl.truststore.password");
    if let Some(certs) = value("ssl.truststore.certificates") {
        if store_type != StoreType::Pem {
            return Err(TlsConfigError::setting(
                "ssl.truststore.certificates",
                "inline trusted certificates need ssl.truststore.type=PEM",
            ));
        }
        if location.is_some() {
            return Err(TlsConfigError::setting(
                "ssl.truststore.location",
                "set either ssl.truststore.location or ssl.truststore.certificates, not both",
            ));
        }
        if password.is_some() {
            return Err(TlsConfigError::setting("ssl.truststore.password", "not used with PEM"));
        }
        return Ok(Some(TrustSource::InlinePem(certs)));
    }
    match location {
        None if password.is_some() => Err(TlsConfigError::setting(
            "ssl.truststore.password",
            "set, but ssl.truststore.location is not",
        )),
        None => Ok(None),
        Some(_) if store_type == StoreType::Pem && password.is_some() => {
            Err(TlsConfigError::setting("ssl.truststore.password", "not used with PEM"))
        }
        // As in Java, a PKCS#12 trust store may be read without a password (no integrity check).
        Some(path) => Ok(Some(TrustSource::File {
            path: PathBuf::from(path),
            store_type,
            password,
        })),
    }
}

fn parse_bool(value: &dyn Fn(&str) -> Option<String>, key: &str) -> Result<bool, TlsConfigError> {
    match value(key).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(TlsConfigError::setting(key, format!("`{other}` is not true or false"))),
    }
}

/// Kafka's LIST type: comma-separated, each item trimmed, empty items dropped.
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Maps Java/IANA suite names to the ring provider's suites. Java names TLS 1.3 suites without
/// rustls' `TLS13_` prefix and some legacy suites with `SSL_`; both spellings are accepted.
fn map_cipher_suites(names: &[String]) -> (Vec<SupportedCipherSuite>, Vec<String>) {
    let mut found: Vec<SupportedCipherSuite> = Vec::new();
    let mut dropped = Vec::new();
    for name in names {
        let suite = rustls::crypto::ring::ALL_CIPHER_SUITES.iter().find(|s| {
            s.suite()
                .as_str()
                .is_some_and(|rustls_name| same_suite(name, rustls_name))
        });
        match suite {
            Some(s) if !found.iter().any(|f| f.suite() == s.suite()) => found.push(*s),
            Some(_) => {}
            None => dropped.push(name.clone()),
        }
    }
    (found, dropped)
}

fn same_suite(java: &str, rustls_name: &str) -> bool {
    let java = java
        .strip_prefix("SSL_")
        .map_or_else(|| java.to_string(), |rest| format!("TLS_{rest}"));
    if java == rustls_name {
        return true;
    }
    // TLS 1.3: Java `TLS_AES_128_GCM_SHA256`, rustls `TLS13_AES_128_GCM_SHA256`.
    rustls_name
        .strip_prefix("TLS13_")
        .is_some_and(|rest| java.strip_prefix("TLS_") == Some(rest))
}

/// The Java names of the suites Sluice supports, for error messages.
fn supported_suite_names() -> Vec<String> {
    rustls::crypto::ring::ALL_CIPHER_SUITES
        .iter()
        .filter_map(|s| s.suite().as_str())
        .map(|n| {
            n.strip_prefix("TLS13_")
                .map_or_else(|| n.to_string(), |rest| format!("TLS_{rest}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<TlsSettings, TlsConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        TlsSettings::from_properties(&|k| map.get(k).cloned())
    }

    const PEM_FILE: &[(&str, &str)] = &[("ssl.keystore.type", "PEM"), ("ssl.keystore.location", "/k.pem")];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut v = PEM_FILE.to_vec();
        v.extend_from_slice(extra);
        v
    }

    fn err_key(r: Result<TlsSettings, TlsConfigError>) -> String {
        match r.unwrap_err() {
            TlsConfigError::InvalidSetting { key, .. } => key,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn defaults_match_kafka() {
        let s = parse(PEM_FILE).unwrap();
        assert_eq!(s.client_auth(), ClientAuth::None);
        assert_eq!(s.enabled_protocols(), vec!["TLSv1.2", "TLSv1.3"]);
        assert!(s.suites.is_none());
        assert!(s.dropped_protocols().is_empty());
        assert_eq!(s.watched_files(), vec![Path::new("/k.pem")]);
    }

    #[test]
    fn protocols_keep_supported_and_report_dropped() {
        let s = parse(&with(&[("ssl.enabled.protocols", "TLSv1, TLSv1.1,TLSv1.3")])).unwrap();
        assert_eq!(s.enabled_protocols(), vec!["TLSv1.3"]);
        assert_eq!(s.dropped_protocols(), ["TLSv1", "TLSv1.1"]);
        assert_eq!(
            err_key(parse(&with(&[("ssl.enabled.protocols", "TLSv1.1")]))),
            "ssl.enabled.protocols"
        );
        assert_eq!(err_key(parse(&with(&[("ssl.protocol", "TLSv1.1")]))), "ssl.protocol");
        parse(&with(&[("ssl.protocol", "TLS")])).unwrap();
    }

    #[test]
    fn cipher_suites_map_java_names() {
        let s = parse(&with(&[(
            "ssl.cipher.suites",
            "TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_RSA_WITH_AES_128_CBC_SHA,BOGUS",
        )]))
        .unwrap();
        let names: Vec<_> = s.suites.as_ref().unwrap().iter().map(|s| s.suite()).collect();
        assert_eq!(
            names,
            vec![
                rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
                rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
            ]
        );
        assert_eq!(s.dropped_cipher_suites(), ["TLS_RSA_WITH_AES_128_CBC_SHA", "BOGUS"]);
        assert_eq!(
            err_key(parse(&with(&[("ssl.cipher.suites", "TLS_RSA_WITH_AES_128_CBC_SHA")]))),
            "ssl.cipher.suites"
        );
        // TLS 1.2 suites only, TLS 1.3 only: nothing can be negotiated.
        assert_eq!(
            err_key(parse(&with(&[
                ("ssl.cipher.suites", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
                ("ssl.enabled.protocols", "TLSv1.3")
            ]))),
            "ssl.cipher.suites"
        );
    }

    #[test]
    fn client_auth_values() {
        let trust = [("ssl.truststore.type", "PEM"), ("ssl.truststore.location", "/t.pem")];
        for (v, want) in [
            ("required", ClientAuth::Required),
            ("REQUESTED", ClientAuth::Requested),
            ("none", ClientAuth::None),
        ] {
            let mut p = with(&trust);
            p.push(("ssl.client.auth", v));
            assert_eq!(parse(&p).unwrap().client_auth(), want);
        }
        assert_eq!(
            err_key(parse(&with(&[("ssl.client.auth", "require")]))),
            "ssl.client.auth"
        );
        // required without trust material
        assert_eq!(
            err_key(parse(&with(&[("ssl.client.auth", "required")]))),
            "ssl.client.auth"
        );
        assert_eq!(
            err_key(parse(&with(&[("ssl.client.auth", "requested")]))),
            "ssl.client.auth"
        );
    }

    #[test]
    fn kafka_combination_rules() {
        // PEM key store with a store password
        assert_eq!(
            err_key(parse(&with(&[("ssl.keystore.password", "x")]))),
            "ssl.keystore.password"
        );
        // inline key with a non-PEM type
        assert_eq!(
            err_key(parse(&[
                ("ssl.keystore.key", "k"),
                ("ssl.keystore.certificate.chain", "c")
            ])),
            "ssl.keystore.key"
        );
        // inline key without chain
        assert_eq!(
            err_key(parse(&[("ssl.keystore.type", "PEM"), ("ssl.keystore.key", "k")])),
            "ssl.keystore.key"
        );
        // chain without key
        assert_eq!(
            err_key(parse(&[
                ("ssl.keystore.type", "PEM"),
                ("ssl.keystore.certificate.chain", "c")
            ])),
            "ssl.keystore.certificate.chain"
        );
        // PKCS12 without password
        assert_eq!(
            err_key(parse(&[
                ("ssl.keystore.type", "PKCS12"),
                ("ssl.keystore.location", "/k.p12")
            ])),
            "ssl.keystore.password"
        );
        // no key store at all
        assert_eq!(err_key(parse(&[])), "ssl.keystore.location");
        // inline trust with a password
        assert_eq!(
            err_key(parse(&with(&[
                ("ssl.truststore.type", "PEM"),
                ("ssl.truststore.certificates", "c"),
                ("ssl.truststore.password", "p")
            ]))),
            "ssl.truststore.password"
        );
        // JCEKS type refused with the conversion hint
        let err = parse(&with(&[
            ("ssl.truststore.type", "JCEKS"),
            ("ssl.truststore.location", "/t"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("keytool -importkeystore"), "{err}");
    }

    #[test]
    fn refuses_java_plugins_and_accepts_defaults() {
        assert_eq!(err_key(parse(&with(&[("ssl.provider", "BC")]))), "ssl.provider");
        assert_eq!(
            err_key(parse(&with(&[("ssl.engine.factory.class", "com.x.F")]))),
            "ssl.engine.factory.class"
        );
        assert_eq!(
            err_key(parse(&with(&[("ssl.keymanager.algorithm", "Custom")]))),
            "ssl.keymanager.algorithm"
        );
        assert_eq!(
            err_key(parse(&with(&[("ssl.trustmanager.algorithm", "Custom")]))),
            "ssl.trustmanager.algorithm"
        );
        parse(&with(&[
            ("ssl.keymanager.algorithm", "SunX509"),
            ("ssl.trustmanager.algorithm", "PKIX"),
            ("ssl.engine.factory.class", DEFAULT_ENGINE_FACTORY),
            ("ssl.secure.random.implementation", "SHA1PRNG"),
            ("ssl.endpoint.identification.algorithm", "https"),
        ]))
        .unwrap();
        assert!(is_accepted_key("ssl.keystore.location"));
        assert!(!is_accepted_key("ssl.keystore.alias"));
    }

    #[test]
    fn debug_hides_secrets() {
        let s = parse(&[
            ("ssl.keystore.type", "PKCS12"),
            ("ssl.keystore.location", "/k.p12"),
            ("ssl.keystore.password", "hunter2-store"),
            ("ssl.key.password", "hunter2-key"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
