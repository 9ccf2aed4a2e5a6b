//! Turns a listener's security settings into what the broker enforces: SASL mechanisms with
//! their credentials, TLS material, and the certificate-to-principal mapping. Anything that
//! cannot be honoured is an error that stops start-up, naming the key (never its value).

use sluice_broker::authenticate::SaslSettings;
use sluice_config::{
    OAUTH_UNSECURED_VALIDATOR_CLASS, OAUTH_VALIDATOR_CLASS, OAUTH_VALIDATOR_CLASS_OLD, SecurityConfig, SecurityProtocol,
};
use sluice_security::acl::{AuthorizerConfig, parse_super_users};
use sluice_security::jaas::JaasConfig;
use sluice_security::mapping::SslPrincipalMapper;
use sluice_security::oauth::{
    JwtValidator, JwtValidatorConfig, TokenValidator, UnsecuredValidator, UnsecuredValidatorOptions,
};
use sluice_security::plain::PlainCredentials;
use sluice_security::tls::{ReloadableTls, TlsSettings};
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// What one listener enforces.
pub struct ListenerSecurity {
    /// SASL settings on SASL_PLAINTEXT and SASL_SSL listeners.
    pub sasl: Option<Arc<SaslSettings>>,
    /// TLS on SSL and SASL_SSL listeners.
    pub tls: Option<Arc<ReloadableTls>>,
    /// `ssl.principal.mapping.rules` for client certificates.
    pub principal_mapper: Option<Arc<SslPrincipalMapper>>,
}

/// Builds a listener's security from the configuration. Must run inside the tokio runtime (the
/// OAUTHBEARER validator starts its JWKS refresh task).
pub fn build(
    security: &SecurityConfig,
    listener: &str,
    protocol: SecurityProtocol,
) -> Result<ListenerSecurity, String> {
    let uses_tls = matches!(protocol, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl);
    let uses_sasl = matches!(protocol, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl);
    let tls = if uses_tls {
        Some(Arc::new(tls(security, listener)?))
    } else {
        None
    };
    let principal_mapper = if uses_tls {
        let rules = security
            .value(listener, None, "ssl.principal.mapping.rules")
            .unwrap_or("DEFAULT");
        Some(Arc::new(SslPrincipalMapper::parse(rules).map_err(|e| {
            format!("listener {listener}: ssl.principal.mapping.rules cannot be used: {e}")
        })?))
    } else {
        None
    };
    let sasl = if uses_sasl {
        Some(Arc::new(sasl(security, listener)?))
    } else {
        None
    };
    Ok(ListenerSecurity {
        sasl,
        tls,
        principal_mapper,
    })
}

fn tls(security: &SecurityConfig, listener: &str) -> Result<ReloadableTls, String> {
    let get = |k: &str| security.value(listener, None, k).map(str::to_string);
    let settings = TlsSettings::from_properties(&get).map_err(|e| format!("listener {listener}: {e}"))?;
    for p in settings.dropped_protocols() {
        warn!(listener, protocol = %p, "ssl.enabled.protocols names a protocol rustls does not offer; it is not enabled");
    }
    for s in settings.dropped_cipher_suites() {
        warn!(listener, suite = %s, "ssl.cipher.suites names a suite rustls does not offer; it is not enabled");
    }
    ReloadableTls::new(settings).map_err(|e| format!("listener {listener}: {e}"))
}

fn sasl(security: &SecurityConfig, listener: &str) -> Result<SaslSettings, String> {
    let mechanisms = security.sasl_mechanisms(listener).map_err(|e| e.to_string())?;
    let jaas = |mechanism: &str| -> Result<Option<JaasConfig>, String> {
        security
            .value(listener, Some(mechanism), "sasl.jaas.config")
            .map(|text| {
                JaasConfig::parse(text)
                    .map_err(|e| format!("listener {listener}: the {mechanism} sasl.jaas.config cannot be parsed: {e}"))
            })
            .transpose()
    };
    let plain = if mechanisms.iter().any(|m| m == "PLAIN") {
        let config = jaas("PLAIN")?.ok_or_else(|| {
            format!(
                "listener {listener} enables PLAIN but has no users: set listener.name.{}.plain.sasl.jaas.config \
                 to org.apache.kafka.common.security.plain.PlainLoginModule required user_<name>=\"<password>\";",
                listener.to_ascii_lowercase()
            )
        })?;
        let creds = PlainCredentials::from_jaas(&config).map_err(|e| format!("listener {listener}: {e}"))?;
        Some(Arc::new(creds))
    } else {
        None
    };
    let oauth = if mechanisms.iter().any(|m| m == "OAUTHBEARER") {
        Some(oauth_validator(security, listener, jaas("OAUTHBEARER")?)?)
    } else {
        None
    };
    Ok(SaslSettings {
        mechanisms,
        plain,
        oauth,
        max_receive_size: security.sasl_max_receive_size(listener),
        reauth_ms: security.connections_max_reauth_ms(listener),
        failed_delay: Duration::from_millis(security.failed_authentication_delay_ms()),
    })
}

/// Kafka's default OAUTHBEARER validator is the unsecured one; Sluice requires the operator to
/// name a validator, so a token is never accepted unsigned by accident.
fn oauth_validator(
    security: &SecurityConfig,
    listener: &str,
    jaas: Option<JaasConfig>,
) -> Result<Arc<dyn TokenValidator>, String> {
    let key = "sasl.server.callback.handler.class";
    let class = security.value(listener, Some("OAUTHBEARER"), key).map(str::trim);
    match class {
        Some(c) if c == OAUTH_VALIDATOR_CLASS || c == OAUTH_VALIDATOR_CLASS_OLD => {
            let get = |k: &str| security.value(listener, Some("OAUTHBEARER"), k).map(str::to_string);
            let config =
                JwtValidatorConfig::from_properties(&get).map_err(|e| format!("listener {listener}: {}", e.0))?;
            let validator = JwtValidator::start(&config).map_err(|e| format!("listener {listener}: {e}"))?;
            Ok(validator)
        }
        Some(c) if c == OAUTH_UNSECURED_VALIDATOR_CLASS => {
            warn!(
                listener,
                "OAUTHBEARER uses Kafka's UNSECURED validator: tokens are not signed and anyone can claim any principal"
            );
            let option = |k: &str| jaas.as_ref().and_then(|j| j.option(k)).map(str::to_string);
            let options = UnsecuredValidatorOptions::from_options(&option)
                .map_err(|e| format!("listener {listener}: {}", e.0))?;
            Ok(Arc::new(UnsecuredValidator::new(options)))
        }
        _ => Err(format!(
            "listener {listener} enables OAUTHBEARER but names no validator: set listener.name.{}.oauthbearer.{key} \
             to {OAUTH_VALIDATOR_CLASS} (tokens checked against sasl.oauthbearer.jwks.endpoint.url); Sluice never \
             falls back to Kafka's unsecured validator",
            listener.to_ascii_lowercase()
        )),
    }
}

/// The ACL authorizer's settings when `authorizer.class.name` names Kafka's standard authorizer
/// (the config check refuses any other class); `super.users` must parse as principals.
pub fn authorizer(security: &SecurityConfig) -> Result<Option<AuthorizerConfig>, String> {
    if !security.authorizer_enabled() {
        return Ok(None);
    }
    let super_users = parse_super_users(&security.super_users().join(";"))
        .map_err(|e| format!("Configuration 'super.users' cannot be used: {e}"))?;
    Ok(Some(AuthorizerConfig {
        super_users,
        allow_everyone_if_no_acl_found: security.allow_everyone_if_no_acl_found(),
    }))
}
