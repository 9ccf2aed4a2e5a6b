//! The security section of a broker's configuration: listeners' protocols, SASL, TLS material,
//! authorization.
//!
//! Kafka's keys are taken as Kafka names them, with its per-listener prefixes: a value is looked
//! up as `listener.name.<listener>.<mechanism>.<key>`, then `listener.name.<listener>.<key>`,
//! then `<key>` ([`SecurityConfig::value`]). The rule here is **fail closed**: every key of the
//! security families (`ssl.*`, `sasl.*`, `listener.name.*`, the authorizer's) must be one Sluice
//! enforces, and a value Sluice cannot honour (a plugin class, a mechanism it does not
//! implement, a keystore type it cannot read) stops start-up with a message naming the key.
//! Nothing is accepted and then ignored. Values are never echoed in errors: many are secrets.

use crate::error::ConfigError;
use crate::layers::RawConfig;
use std::collections::BTreeMap;

/// Kafka's `StandardAuthorizer`, the one authorizer Sluice implements (and its older name).
pub const STANDARD_AUTHORIZER_CLASSES: &[&str] = &[
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "kafka.security.authorizer.AclAuthorizer",
];

/// Kafka's secured OAUTHBEARER validator (JWTs checked against a JWKS).
pub const OAUTH_VALIDATOR_CLASS: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
/// Kafka's older package name for the same validator.
pub const OAUTH_VALIDATOR_CLASS_OLD: &str =
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler";
/// Kafka's unsecured (alg `none`) validator: only when named explicitly.
pub const OAUTH_UNSECURED_VALIDATOR_CLASS: &str =
    "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler";

/// The SASL mechanisms Sluice implements.
pub const SASL_MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// Keys that may stand alone or behind `listener.name.<listener>.` and that Sluice enforces.
const LISTENER_KEYS: &[&str] = &[
    "sasl.enabled.mechanisms",
    "sasl.jaas.config",
    "sasl.server.callback.handler.class",
    "sasl.server.max.receive.size",
    "connections.max.reauth.ms",
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
    "ssl.principal.mapping.rules",
    "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm",
    "ssl.engine.factory.class",
    "ssl.provider",
    "ssl.secure.random.implementation",
    "ssl.allow.dn.changes",
    "ssl.allow.san.changes",
    "sasl.oauthbearer.jwks.endpoint.url",
    "sasl.oauthbearer.jwks.endpoint.refresh.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
    "sasl.oauthbearer.expected.audience",
    "sasl.oauthbearer.expected.issuer",
    "sasl.oauthbearer.sub.claim.name",
    "sasl.oauthbearer.scope.claim.name",
    "sasl.oauthbearer.clock.skew.seconds",
    "org.apache.kafka.sasl.oauthbearer.allowed.urls",
    "principal.builder.class",
];

/// Broker-wide security keys (no listener prefix in Kafka).
const BROKER_KEYS: &[&str] = &[
    "authorizer.class.name",
    "super.users",
    "allow.everyone.if.no.acl.found",
    "connection.failed.authentication.delay.ms",
    "security.inter.broker.protocol",
    "sasl.mechanism.inter.broker.protocol",
    "sasl.mechanism.controller.protocol",
];

/// Keys about connections between brokers and to a controller quorum. A single node has none,
/// so there is nothing to enforce; they are accepted (real server.properties files set them) and
/// warned about, never silently taken.
pub(crate) const PEER_CONNECTION_KEYS: &[&str] = &[
    "security.inter.broker.protocol",
    "sasl.mechanism.inter.broker.protocol",
    "sasl.mechanism.controller.protocol",
];

/// Keys that are set with no value to mean "off" and must stay that way: each loads code or
/// swaps a component Sluice does not have (Kafka's CVE-2025-27818 class for the login modules).
const EMPTY_ONLY_KEYS: &[&str] = &[
    "ssl.engine.factory.class",
    "ssl.provider",
    "ssl.secure.random.implementation",
];

/// Whether `key` belongs to a security family this module owns.
pub(crate) fn is_security_key(key: &str) -> bool {
    key.starts_with("ssl.")
        || key.starts_with("sasl.")
        || key.starts_with("listener.name.")
        || key.starts_with("org.apache.kafka.sasl.")
        || BROKER_KEYS.contains(&key)
        || LISTENER_KEYS.contains(&key)
}

/// The validated security section.
#[derive(Clone, Default, PartialEq)]
pub struct SecurityConfig {
    /// Every security key as set, listener names in the prefixes lower-cased.
    values: BTreeMap<String, String>,
}

impl std::fmt::Debug for SecurityConfig {
    /// Keys only: the values include passwords and private keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityConfig")
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn refuse(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Security {
        key: key.to_string(),
        message: message.into(),
    }
}

/// Splits `listener.name.<listener>.<rest>` into the lower-cased listener and the rest.
fn split_listener_prefix(key: &str) -> Option<(String, &str)> {
    let rest = key.strip_prefix("listener.name.")?;
    let (listener, rest) = rest.split_once('.')?;
    Some((listener.to_ascii_lowercase(), rest))
}

/// Splits a mechanism prefix (`plain.`, `scram-sha-256.`, ...) off a listener key.
fn split_mechanism_prefix(rest: &str) -> Option<(&'static str, &str)> {
    SASL_MECHANISMS.iter().find_map(|m| {
        let lower = m.to_ascii_lowercase();
        rest.strip_prefix(&lower)
            .and_then(|r| r.strip_prefix('.'))
            .map(|r| (*m, r))
    })
}

impl SecurityConfig {
    /// Picks the security keys out of `raw` and checks each is one Sluice enforces.
    pub fn from_raw(raw: &RawConfig) -> Result<SecurityConfig, ConfigError> {
        let mut values = BTreeMap::new();
        for (key, v) in &raw.values {
            if !is_security_key(key) {
                continue;
            }
            let stored = check_key(key)?;
            check_value(key, &v.value)?;
            values.insert(stored, v.value.clone());
        }
        let config = SecurityConfig { values };
        config.check_authorizer()?;
        Ok(config)
    }

    /// The effective value of `key` for `listener` (and SASL `mechanism`), with Kafka's
    /// precedence: mechanism-prefixed, listener-prefixed, then the plain key.
    pub fn value(&self, listener: &str, mechanism: Option<&str>, key: &str) -> Option<&str> {
        let listener = listener.to_ascii_lowercase();
        if let Some(m) = mechanism {
            let k = format!("listener.name.{listener}.{}.{key}", m.to_ascii_lowercase());
            if let Some(v) = self.values.get(&k) {
                return Some(v);
            }
        }
        self.values
            .get(&format!("listener.name.{listener}.{key}"))
            .or_else(|| self.values.get(key))
            .map(String::as_str)
    }

    /// A broker-wide key's value.
    pub fn broker_value(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Whether `authorizer.class.name` names Kafka's standard authorizer (ACLs enforced).
    pub fn authorizer_enabled(&self) -> bool {
        self.broker_value("authorizer.class.name")
            .is_some_and(|v| !v.trim().is_empty())
    }

    /// `super.users`: `User:alice;User:bob`.
    pub fn super_users(&self) -> Vec<String> {
        self.broker_value("super.users")
            .map(|v| {
                v.split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `allow.everyone.if.no.acl.found` (Kafka's default false).
    pub fn allow_everyone_if_no_acl_found(&self) -> bool {
        self.broker_value("allow.everyone.if.no.acl.found")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// `connection.failed.authentication.delay.ms` (Kafka's default 100).
    pub fn failed_authentication_delay_ms(&self) -> u64 {
        self.broker_value("connection.failed.authentication.delay.ms")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(100)
    }

    /// `sasl.server.max.receive.size` for a listener (Kafka's default 524288): the largest frame
    /// accepted before authentication completes.
    pub fn sasl_max_receive_size(&self, listener: &str) -> usize {
        self.value(listener, None, "sasl.server.max.receive.size")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(524_288)
    }

    /// `connections.max.reauth.ms` for a listener (0: sessions never expire, Kafka's default).
    pub fn connections_max_reauth_ms(&self, listener: &str) -> i64 {
        self.value(listener, None, "connections.max.reauth.ms")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// `sasl.enabled.mechanisms` for a listener, upper-cased. Kafka's default is `GSSAPI`, which
    /// Sluice does not implement: a SASL listener must name its mechanisms.
    pub fn sasl_mechanisms(&self, listener: &str) -> Result<Vec<String>, ConfigError> {
        let key = "sasl.enabled.mechanisms";
        let text = self.value(listener, None, key).unwrap_or("GSSAPI");
        let mut out = Vec::new();
        for m in text.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let upper = m.to_ascii_uppercase();
            if !SASL_MECHANISMS.contains(&upper.as_str()) {
                return Err(refuse(
                    key,
                    format!(
                        "listener {listener} enables SASL mechanism {m}, which Sluice does not implement \
                         (it implements {}); Kafka's default is GSSAPI, so a SASL listener must set this key",
                        SASL_MECHANISMS.join(", ")
                    ),
                ));
            }
            if !out.contains(&upper) {
                out.push(upper);
            }
        }
        if out.is_empty() {
            return Err(refuse(key, format!("listener {listener} enables no SASL mechanism")));
        }
        Ok(out)
    }

    fn check_authorizer(&self) -> Result<(), ConfigError> {
        let key = "authorizer.class.name";
        if let Some(v) = self.broker_value(key).map(str::trim).filter(|v| !v.is_empty())
            && !STANDARD_AUTHORIZER_CLASSES.contains(&v)
        {
            return Err(refuse(
                key,
                format!(
                    "Sluice implements only Kafka's standard ACL authorizer ({}); it loads no authorizer plugins",
                    STANDARD_AUTHORIZER_CLASSES[0]
                ),
            ));
        }
        Ok(())
    }
}

/// Checks a key's name and returns it as stored (listener names lower-cased).
pub(crate) fn check_key(key: &str) -> Result<String, ConfigError> {
    let unknown = || {
        refuse(
            key,
            "Sluice does not implement this security setting, so it refuses to start rather than ignore it",
        )
    };
    if let Some((listener, rest)) = split_listener_prefix(key) {
        let plain = match split_mechanism_prefix(rest) {
            Some((_, r)) => r,
            None => rest,
        };
        if !LISTENER_KEYS.contains(&plain) {
            return Err(unknown());
        }
        return Ok(format!("listener.name.{listener}.{rest}"));
    }
    if LISTENER_KEYS.contains(&key) || BROKER_KEYS.contains(&key) {
        return Ok(key.to_string());
    }
    Err(unknown())
}

/// Checks what can be checked of a value without reading files; never echoes it.
fn check_value(key: &str, value: &str) -> Result<(), ConfigError> {
    let base = split_listener_prefix(key)
        .map(|(_, rest)| split_mechanism_prefix(rest).map(|(_, r)| r).unwrap_or(rest).to_string())
        .unwrap_or_else(|| key.to_string());
    let v = value.trim();
    match base.as_str() {
        k if EMPTY_ONLY_KEYS.contains(&k) && !v.is_empty() => Err(refuse(
            key,
            "Sluice uses its own TLS implementation (rustls) and loads no providers or engine factories; leave it unset",
        )),
        "ssl.keymanager.algorithm" if !v.is_empty() && v != "SunX509" && v != "PKIX" => {
            Err(refuse(key, "only Kafka's default key manager (SunX509) is available"))
        }
        "ssl.trustmanager.algorithm" if !v.is_empty() && v != "PKIX" => {
            Err(refuse(key, "only Kafka's default trust manager (PKIX) is available"))
        }
        "principal.builder.class"
            if !v.is_empty() && v != "org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder" =>
        {
            Err(refuse(
                key,
                "Sluice builds principals as Kafka's DefaultKafkaPrincipalBuilder does and loads no plugins",
            ))
        }
        "sasl.server.callback.handler.class"
            if !v.is_empty()
                && ![
                    OAUTH_VALIDATOR_CLASS,
                    OAUTH_VALIDATOR_CLASS_OLD,
                    OAUTH_UNSECURED_VALIDATOR_CLASS,
                ]
                .contains(&v) =>
        {
            Err(refuse(
                key,
                "Sluice loads no callback handler plugins; it accepts only Kafka's OAUTHBEARER validators here",
            ))
        }
        "ssl.client.auth" if !["none", "requested", "required"].contains(&v.to_ascii_lowercase().as_str()) => {
            Err(refuse(key, "must be one of none, requested, required"))
        }
        "allow.everyone.if.no.acl.found" | "ssl.allow.dn.changes" | "ssl.allow.san.changes"
            if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") =>
        {
            Err(refuse(key, "must be true or false"))
        }
        "sasl.server.max.receive.size" | "connection.failed.authentication.delay.ms" | "connections.max.reauth.ms"
            if v.parse::<i64>().map_or(true, |n| n < 0 || n > i64::from(i32::MAX)) =>
        {
            Err(refuse(key, "must be an integer between 0 and 2147483647"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::layer;

    fn config(lines: &[&str]) -> Result<SecurityConfig, ConfigError> {
        let text = lines.join("\n");
        let (raw, _) = layer(Some(&text), &[], &[])?;
        SecurityConfig::from_raw(&raw)
    }

    #[test]
    fn listener_and_mechanism_prefixes_take_precedence() {
        let c = config(&[
            "sasl.enabled.mechanisms=PLAIN",
            "listener.name.EXTERNAL.sasl.enabled.mechanisms=SCRAM-SHA-512,plain",
            "listener.name.external.plain.sasl.jaas.config=x required;",
            "sasl.jaas.config=y required;",
        ])
        .unwrap();
        assert_eq!(c.sasl_mechanisms("EXTERNAL").unwrap(), vec!["SCRAM-SHA-512", "PLAIN"]);
        assert_eq!(c.sasl_mechanisms("INTERNAL").unwrap(), vec!["PLAIN"]);
        assert_eq!(
            c.value("EXTERNAL", Some("PLAIN"), "sasl.jaas.config"),
            Some("x required;")
        );
        assert_eq!(
            c.value("EXTERNAL", Some("SCRAM-SHA-512"), "sasl.jaas.config"),
            Some("y required;")
        );
    }

    #[test]
    fn unknown_or_unhonourable_settings_stop_start_up_without_echoing_values() {
        for bad in [
            "ssl.keystore.secret.thing=hunter2",
            "listener.name.x.ssl.bogus=hunter2",
            "authorizer.class.name=com.example.MyAuthorizer",
            "ssl.engine.factory.class=com.example.Factory",
            "sasl.server.callback.handler.class=com.example.Handler",
            "principal.builder.class=com.example.Builder",
            "ssl.client.auth=hunter2",
        ] {
            let err = config(&[bad]).unwrap_err().to_string();
            assert!(!err.contains("hunter2") && !err.contains("com.example"), "{err}");
            assert!(err.contains(bad.split('=').next().unwrap()), "{err}");
        }
        let err = config(&["sasl.enabled.mechanisms=GSSAPI"])
            .unwrap()
            .sasl_mechanisms("X")
            .unwrap_err();
        assert!(err.to_string().contains("GSSAPI"), "{err}");
        assert!(
            config(&[]).unwrap().sasl_mechanisms("X").is_err(),
            "Kafka's default GSSAPI is refused"
        );
    }

    #[test]
    fn authorizer_and_super_users() {
        let c = config(&[
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users=User:admin; User:ops",
        ])
        .unwrap();
        assert!(c.authorizer_enabled());
        assert_eq!(c.super_users(), vec!["User:admin", "User:ops"]);
        assert!(!c.allow_everyone_if_no_acl_found());
        assert!(!config(&[]).unwrap().authorizer_enabled());
    }

    #[test]
    fn debug_shows_no_values() {
        let c = config(&["ssl.keystore.password=hunter2"]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
