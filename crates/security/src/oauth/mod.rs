//! SASL/OAUTHBEARER (RFC 7628) on the broker side, with Kafka's JWT validation built in.
//!
//! The pieces, in the order a connection meets them:
//!
//! - [`OAuthBearerServer`] is the SASL exchange as a state machine (bytes in, bytes out, no I/O),
//!   following Kafka's `OAuthBearerSaslServer`: it parses the client's initial response, hands the
//!   bearer token to a [`TokenValidator`], and either completes (recording the principal and the
//!   token's expiry, which caps the session under KIP-368 re-authentication) or answers with
//!   Kafka's error JSON and fails when the client acknowledges it with `0x01`.
//! - [`JwtValidator`] is the production [`TokenValidator`]: Kafka's broker-side JWT rules
//!   (`BrokerJwtValidator` over jose4j) checked against keys from a [`JwksCache`].
//! - [`JwksCache`] holds the JSON Web Key Set from a `file:`, `https:` or `http:` URL, refreshed on
//!   a schedule and when a token names an unknown `kid`. It fails closed: no key set, no tokens.
//! - [`UnsecuredValidator`] is Kafka's `OAuthBearerUnsecuredValidatorCallbackHandler` (`alg: none`
//!   tokens, no signature at all), for development only and only when chosen explicitly.
//! - [`JwtValidatorConfig`] reads Kafka's property names and defaults, including the
//!   `org.apache.kafka.sasl.oauthbearer.allowed.urls` allow-list from CVE-2025-27817.
//!
//! Validation never touches the network: the request path reads the key set the background task
//! last loaded, so a slow or dead identity provider cannot stall authentication, only starve it.

mod config;
mod jwks;
mod jwt;
mod sasl;
mod unsecured;

use std::collections::BTreeSet;
use std::fmt;

pub use config::{
    ALLOWED_URLS_CONFIG, CLOCK_SKEW_SECONDS_CONFIG, ConfigError, DEFAULT_CLOCK_SKEW_SECONDS,
    DEFAULT_JWKS_ENDPOINT_REFRESH_MS, DEFAULT_JWKS_ENDPOINT_RETRY_BACKOFF_MAX_MS,
    DEFAULT_JWKS_ENDPOINT_RETRY_BACKOFF_MS, DEFAULT_SCOPE_CLAIM_NAME, DEFAULT_SUB_CLAIM_NAME, EXPECTED_AUDIENCE_CONFIG,
    EXPECTED_ISSUER_CONFIG, JWKS_ENDPOINT_REFRESH_MS_CONFIG, JWKS_ENDPOINT_RETRY_BACKOFF_MAX_MS_CONFIG,
    JWKS_ENDPOINT_RETRY_BACKOFF_MS_CONFIG, JWKS_ENDPOINT_TRUSTSTORE_CONFIG, JWKS_ENDPOINT_URL_CONFIG, JwksLocation,
    JwtValidatorConfig, SCOPE_CLAIM_NAME_CONFIG, SUB_CLAIM_NAME_CONFIG,
};
pub use jwks::{JwksCache, JwksError, KeySet};
pub use jwt::{JwtValidator, SUPPORTED_ALGORITHMS};
pub use sasl::{ClientInitialResponse, MAX_CLIENT_MESSAGE_BYTES, MECHANISM, OAuthBearerServer, SaslError, Step};
pub use unsecured::{
    ALLOWABLE_CLOCK_SKEW_MS_OPTION, PRINCIPAL_CLAIM_NAME_OPTION, REQUIRED_SCOPE_OPTION, SCOPE_CLAIM_NAME_OPTION,
    UnsecuredValidator, UnsecuredValidatorOptions,
};

/// A bearer token that passed validation: what the broker learns about the caller.
///
/// This is Kafka's `OAuthBearerToken`. The broker takes [`principal_name`](Self::principal_name)
/// as the `User:` principal, and [`lifetime_ms`](Self::lifetime_ms) as the credential's expiry:
/// with `connections.max.reauth.ms` set, a session may not outlive the token (KIP-368).
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthBearerToken {
    /// The compact serialization the client sent. Kept because a custom authorizer may want the
    /// raw claims (Kafka exposes it as the `OAUTHBEARER.token` negotiated property); never logged
    /// (the `Debug` impl redacts it) because it is a live credential.
    pub value: String,
    /// The principal the token names (the configured subject claim, `sub` by default).
    pub principal_name: String,
    /// The scopes the token grants, as Kafka computes them (see the validators for the rules).
    pub scope: BTreeSet<String>,
    /// When the token expires, in milliseconds since the Unix epoch (the `exp` claim).
    pub lifetime_ms: i64,
    /// When the token was issued, in milliseconds since the Unix epoch (the `iat` claim), if known.
    pub start_time_ms: Option<i64>,
}

impl fmt::Debug for OAuthBearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerToken")
            .field("value", &"<redacted>")
            .field("principal_name", &self.principal_name)
            .field("scope", &self.scope)
            .field("lifetime_ms", &self.lifetime_ms)
            .field("start_time_ms", &self.start_time_ms)
            .finish()
    }
}

/// Why a token was refused, in the two forms Kafka keeps apart.
///
/// `status`, `scope` and `openid_configuration` go to the client inside the RFC 7628 error JSON
/// (see [`TokenError::to_kafka_json`]); `reason` is for the broker's log only, since telling an
/// unauthenticated client exactly which check failed helps an attacker more than an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    /// The RFC 6750 error code: `invalid_token`, or `insufficient_scope` when a required scope is
    /// missing.
    pub status: String,
    /// The scope the client should have asked for, sent in the error JSON when set.
    pub scope: Option<String>,
    /// The OpenID configuration URL, sent in the error JSON when set.
    pub openid_configuration: Option<String>,
    /// The detailed reason, for logs.
    pub reason: String,
}

impl TokenError {
    /// A token that is malformed, expired, unsigned, signed by an unknown key, and so on: the
    /// only status Kafka's JWT validator ever reports.
    pub fn invalid_token(reason: impl Into<String>) -> Self {
        TokenError {
            status: "invalid_token".into(),
            scope: None,
            openid_configuration: None,
            reason: reason.into(),
        }
    }

    /// A valid token that lacks a required scope; `scope` is what was required, which Kafka's
    /// unsecured validator reports back to the client.
    pub fn insufficient_scope(reason: impl Into<String>, scope: impl Into<String>) -> Self {
        TokenError {
            status: "insufficient_scope".into(),
            scope: Some(scope.into()),
            openid_configuration: None,
            reason: reason.into(),
        }
    }

    /// The server's error challenge, byte for byte as Kafka's `OAuthBearerSaslServer` builds it
    /// (including its `", "` separators and its lack of escaping), so clients that parse or log it
    /// see what a Kafka broker would send.
    pub fn to_kafka_json(&self) -> String {
        let mut json = format!("{{\"status\":\"{}\"", self.status);
        if let Some(scope) = &self.scope {
            json.push_str(&format!(", \"scope\":\"{scope}\""));
        }
        if let Some(openid) = &self.openid_configuration {
            json.push_str(&format!(", \"openid-configuration\":\"{openid}\""));
        }
        json.push('}');
        json
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.reason)
    }
}

impl std::error::Error for TokenError {}

/// Decides whether a bearer token is good, and whom it names.
///
/// The SASL state machine is generic over this so the broker can choose the JWT validator, the
/// unsecured one, or its own. Implementations must not block on I/O: `validate` runs on the
/// request path.
pub trait TokenValidator: Send + Sync {
    /// Validates `token` (the compact serialization from `auth=Bearer ...`) as of `now_ms`
    /// (milliseconds since the Unix epoch; passed in so tests and the broker share one clock).
    fn validate(&self, token: &str, now_ms: i64) -> Result<OAuthBearerToken, TokenError>;

    /// Checks the SASL extensions (RFC 7628 key=value pairs other than `auth`) a client sent with
    /// a token that validated; returns the names and values of the ones refused. Both of Kafka's
    /// validator callback handlers accept every extension, and so does this default.
    fn validate_extensions(
        &self,
        _token: &OAuthBearerToken,
        _extensions: &std::collections::BTreeMap<String, String>,
    ) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Milliseconds since the Unix epoch, from the system clock; the `now_ms` the broker passes.
pub fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
