//! The broker-side OAUTHBEARER settings, under Kafka's property names and with Kafka's defaults
//! (`SaslConfigs`, `BrokerSecurityConfigs`) and checks (`ConfigurationUtils`).

use std::collections::BTreeSet;
use std::path::PathBuf;

/// `sasl.oauthbearer.jwks.endpoint.url`: where the JSON Web Key Set lives (`file:`, `http:` or
/// `https:`, as Kafka allows). Required.
pub const JWKS_ENDPOINT_URL_CONFIG: &str = "sasl.oauthbearer.jwks.endpoint.url";
/// `sasl.oauthbearer.jwks.endpoint.refresh.ms`: how often the key set is reloaded.
pub const JWKS_ENDPOINT_REFRESH_MS_CONFIG: &str = "sasl.oauthbearer.jwks.endpoint.refresh.ms";
/// Kafka's default refresh interval: one hour.
pub const DEFAULT_JWKS_ENDPOINT_REFRESH_MS: u64 = 3_600_000;
/// `sasl.oauthbearer.jwks.endpoint.retry.backoff.ms`: the first wait after a failed load.
pub const JWKS_ENDPOINT_RETRY_BACKOFF_MS_CONFIG: &str = "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms";
/// Kafka's default first backoff: 100 ms.
pub const DEFAULT_JWKS_ENDPOINT_RETRY_BACKOFF_MS: u64 = 100;
/// `sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms`: how long one refresh keeps retrying.
pub const JWKS_ENDPOINT_RETRY_BACKOFF_MAX_MS_CONFIG: &str = "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms";
/// Kafka's default retry window: 10 s.
pub const DEFAULT_JWKS_ENDPOINT_RETRY_BACKOFF_MAX_MS: u64 = 10_000;
/// `sasl.oauthbearer.clock.skew.seconds`: tolerance for the identity provider's clock.
pub const CLOCK_SKEW_SECONDS_CONFIG: &str = "sasl.oauthbearer.clock.skew.seconds";
/// Kafka's default clock skew: 30 s.
pub const DEFAULT_CLOCK_SKEW_SECONDS: i64 = 30;
/// `sasl.oauthbearer.expected.audience`: comma-separated; the token's `aud` must contain one.
pub const EXPECTED_AUDIENCE_CONFIG: &str = "sasl.oauthbearer.expected.audience";
/// `sasl.oauthbearer.expected.issuer`: the token's `iss` must equal it when set.
pub const EXPECTED_ISSUER_CONFIG: &str = "sasl.oauthbearer.expected.issuer";
/// `sasl.oauthbearer.scope.claim.name`: the claim holding the token's scopes.
pub const SCOPE_CLAIM_NAME_CONFIG: &str = "sasl.oauthbearer.scope.claim.name";
/// Kafka's default scope claim.
pub const DEFAULT_SCOPE_CLAIM_NAME: &str = "scope";
/// `sasl.oauthbearer.sub.claim.name`: the claim holding the principal name.
pub const SUB_CLAIM_NAME_CONFIG: &str = "sasl.oauthbearer.sub.claim.name";
/// Kafka's default subject claim.
pub const DEFAULT_SUB_CLAIM_NAME: &str = "sub";
/// `org.apache.kafka.sasl.oauthbearer.allowed.urls`: the allow-list of OAuth URLs (CVE-2025-27817).
///
/// In Kafka this is a JVM system property; Sluice reads it as a property through the same lookup
/// as everything else. The semantics are Kafka 4's (`ConfigurationUtils.throwIfURLIsNotAllowed`):
/// the value is split on `,`, each entry trimmed, and the configured URL (trimmed) must equal one
/// entry exactly, as a string: no normalization, no prefix or pattern matching, case-sensitive.
/// The default is empty, so with no allow-list **no** URL is allowed, `file:` URLs included
/// (Kafka 3.9.1 defaulted to allowing everything; Kafka 4.0 reversed that, and Sluice follows 4).
pub const ALLOWED_URLS_CONFIG: &str = "org.apache.kafka.sasl.oauthbearer.allowed.urls";
/// Sluice-only: a PEM file of CA certificates to trust for an `https:` JWKS endpoint instead of
/// the operating system's roots.
///
/// Kafka takes the JWKS client's TLS settings from the JAAS options (`ssl.truststore.location`
/// and friends, as `JaasOptionsUtils.createSSLSocketFactory` reads them) and, when given, trusts
/// only that store. Sluice has no JAAS layer, so this property stands in for it with the same
/// meaning: when set, only these CAs are trusted.
pub const JWKS_ENDPOINT_TRUSTSTORE_CONFIG: &str = "sasl.oauthbearer.jwks.endpoint.ssl.truststore.location";

/// A configuration value Kafka would refuse, with Kafka's wording where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where the JSON Web Key Set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksLocation {
    /// A local file (from a `file:` URL), re-read on every refresh.
    File(PathBuf),
    /// An `http:` or `https:` URL, fetched on every refresh.
    Http(reqwest::Url),
}

/// Everything the JWT validator and its key cache need, read from broker properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtValidatorConfig {
    /// The JWKS source, after the allow-list check.
    pub jwks_location: JwksLocation,
    /// The URL as configured (trimmed), for logs.
    pub jwks_endpoint_url: String,
    /// Milliseconds between scheduled key set reloads.
    pub jwks_refresh_ms: u64,
    /// First backoff after a failed load, doubling per attempt.
    pub jwks_retry_backoff_ms: u64,
    /// How long one refresh keeps retrying before it gives up until the next one.
    pub jwks_retry_backoff_max_ms: u64,
    /// Allowed clock skew, in seconds, for `exp` and `nbf`.
    pub clock_skew_seconds: i64,
    /// Audiences of which the token's `aud` must contain one; empty means "no audience expected",
    /// in which case (as with Kafka's jose4j) a token that carries `aud` at all is refused.
    pub expected_audience: BTreeSet<String>,
    /// The issuer the token's `iss` must equal, if set.
    pub expected_issuer: Option<String>,
    /// The claim naming the scopes.
    pub scope_claim_name: String,
    /// The claim naming the principal.
    pub sub_claim_name: String,
    /// CA certificates (PEM) to trust for `https:` instead of the system roots.
    pub truststore_location: Option<PathBuf>,
}

fn trimmed(get: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn parse_u64(get: &dyn Fn(&str) -> Option<String>, name: &str, default: u64) -> Result<u64, ConfigError> {
    match trimmed(get, name) {
        None => Ok(default),
        Some(v) => v.parse::<u64>().map_err(|_| {
            ConfigError(format!(
                "Invalid value {v} for configuration {name}: Not a non-negative number"
            ))
        }),
    }
}

/// Kafka's `ConfigurationUtils.validateUrl` plus the allow-list check: a well-formed URL with an
/// `http`, `https` or `file` scheme that the allow-list names exactly.
fn validate_url(name: &str, value: &str, allowed_urls: &str) -> Result<JwksLocation, ConfigError> {
    let scheme = value
        .split_once(':')
        .map(|(s, _)| s.to_ascii_lowercase())
        .ok_or_else(|| {
            ConfigError(format!(
                "The OAuth configuration option {name} contains a URL ({value}) that is missing the protocol"
            ))
        })?;
    if !matches!(scheme.as_str(), "http" | "https" | "file") {
        return Err(ConfigError(format!(
            "The OAuth configuration option {name} contains a URL ({value}) that contains an invalid protocol ({scheme}); only \"http\", \"https\", and \"file\" protocol are supported"
        )));
    }
    let allowed: BTreeSet<&str> = allowed_urls.split(',').map(str::trim).collect();
    if !allowed.contains(value) {
        return Err(ConfigError(format!(
            "{value} is not allowed. Update property '{ALLOWED_URLS_CONFIG}' to allow {value}"
        )));
    }
    let url = reqwest::Url::parse(value).map_err(|e| {
        ConfigError(format!(
            "The OAuth configuration option {name} contains a URL ({value}) that is malformed: {e}"
        ))
    })?;
    if scheme != "file" {
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError(format!(
                "The OAuth configuration option {name} contains a URL ({value}) that is malformed: no host"
            )));
        }
        return Ok(JwksLocation::Http(url));
    }
    // Kafka opens `new File(url.toURI().getRawPath())`: the raw (still percent-encoded) path.
    if url.host_str().is_some_and(|h| !h.is_empty() && h != "localhost") {
        return Err(ConfigError(format!(
            "The OAuth configuration option {name} contains a URL ({value}) that is malformed: a file URL must not name a remote host"
        )));
    }
    let path = PathBuf::from(url.path());
    let meta = std::fs::metadata(&path).map_err(|_| {
        ConfigError(format!(
            "The OAuth configuration option {name} contains a file ({}) that doesn't exist",
            path.display()
        ))
    })?;
    if meta.is_dir() {
        return Err(ConfigError(format!(
            "The OAuth configuration option {name} references a directory ({}), not a file",
            path.display()
        )));
    }
    if std::fs::File::open(&path).is_err() {
        return Err(ConfigError(format!(
            "The OAuth configuration option {name} contains a file ({}) that doesn't have read permission",
            path.display()
        )));
    }
    Ok(JwksLocation::File(path))
}

impl JwtValidatorConfig {
    /// Reads the validator's settings through `get`, a property lookup that has already resolved
    /// listener and mechanism prefixes (`listener.name.<l>.oauthbearer.<key>`), as the broker
    /// does for every SASL setting. Missing keys take Kafka's defaults; values are trimmed, and a
    /// blank value counts as missing, as in Kafka's `ConfigurationUtils`.
    pub fn from_properties(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let url = trimmed(get, JWKS_ENDPOINT_URL_CONFIG).ok_or_else(|| {
            ConfigError(format!(
                "The OAuth configuration option {JWKS_ENDPOINT_URL_CONFIG} value is required"
            ))
        })?;
        let allowed = get(ALLOWED_URLS_CONFIG).unwrap_or_default();
        let jwks_location = validate_url(JWKS_ENDPOINT_URL_CONFIG, &url, &allowed)?;

        let jwks_refresh_ms = parse_u64(get, JWKS_ENDPOINT_REFRESH_MS_CONFIG, DEFAULT_JWKS_ENDPOINT_REFRESH_MS)?;
        if jwks_refresh_ms == 0 {
            // RefreshingHttpsJwks refuses a non-positive interval.
            return Err(ConfigError(format!(
                "The OAuth configuration option {JWKS_ENDPOINT_REFRESH_MS_CONFIG} value must be positive"
            )));
        }
        let jwks_retry_backoff_ms = parse_u64(
            get,
            JWKS_ENDPOINT_RETRY_BACKOFF_MS_CONFIG,
            DEFAULT_JWKS_ENDPOINT_RETRY_BACKOFF_MS,
        )?;
        let jwks_retry_backoff_max_ms = parse_u64(
            get,
            JWKS_ENDPOINT_RETRY_BACKOFF_MAX_MS_CONFIG,
            DEFAULT_JWKS_ENDPOINT_RETRY_BACKOFF_MAX_MS,
        )?;
        if jwks_retry_backoff_max_ms < jwks_retry_backoff_ms {
            // Kafka's Retry refuses this combination.
            return Err(ConfigError(format!(
                "retryBackoffMaxMs value ({jwks_retry_backoff_max_ms}) is less than retryBackoffMs value ({jwks_retry_backoff_ms})"
            )));
        }
        let clock_skew_seconds = match trimmed(get, CLOCK_SKEW_SECONDS_CONFIG) {
            None => DEFAULT_CLOCK_SKEW_SECONDS,
            Some(v) => v
                .parse::<i32>()
                .map_err(|_| {
                    ConfigError(format!(
                        "Invalid value {v} for configuration {CLOCK_SKEW_SECONDS_CONFIG}"
                    ))
                })?
                .into(),
        };
        // Kafka's LIST type: comma-separated, entries trimmed, empty entries dropped.
        let expected_audience = get(EXPECTED_AUDIENCE_CONFIG)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let expected_issuer = trimmed(get, EXPECTED_ISSUER_CONFIG);
        let scope_claim_name =
            trimmed(get, SCOPE_CLAIM_NAME_CONFIG).unwrap_or_else(|| DEFAULT_SCOPE_CLAIM_NAME.to_string());
        let sub_claim_name = trimmed(get, SUB_CLAIM_NAME_CONFIG).unwrap_or_else(|| DEFAULT_SUB_CLAIM_NAME.to_string());
        let truststore_location = trimmed(get, JWKS_ENDPOINT_TRUSTSTORE_CONFIG).map(PathBuf::from);
        Ok(JwtValidatorConfig {
            jwks_location,
            jwks_endpoint_url: url,
            jwks_refresh_ms,
            jwks_retry_backoff_ms,
            jwks_retry_backoff_max_ms,
            clock_skew_seconds,
            expected_audience,
            expected_issuer,
            scope_claim_name,
            sub_claim_name,
            truststore_location,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<JwtValidatorConfig, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        JwtValidatorConfig::from_properties(&|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_kafkas() {
        let url = "https://idp.example/jwks";
        let c = config(&[(JWKS_ENDPOINT_URL_CONFIG, url), (ALLOWED_URLS_CONFIG, url)]).unwrap();
        assert_eq!(c.jwks_refresh_ms, 3_600_000);
        assert_eq!(c.jwks_retry_backoff_ms, 100);
        assert_eq!(c.jwks_retry_backoff_max_ms, 10_000);
        assert_eq!(c.clock_skew_seconds, 30);
        assert!(c.expected_audience.is_empty());
        assert_eq!(c.expected_issuer, None);
        assert_eq!(c.scope_claim_name, "scope");
        assert_eq!(c.sub_claim_name, "sub");
        assert!(matches!(c.jwks_location, JwksLocation::Http(_)));
    }

    #[test]
    fn allow_list_is_exact_and_empty_by_default() {
        let url = "https://idp.example/jwks";
        assert!(
            config(&[(JWKS_ENDPOINT_URL_CONFIG, url)])
                .unwrap_err()
                .0
                .contains("is not allowed")
        );
        assert!(config(&[(JWKS_ENDPOINT_URL_CONFIG, url), (ALLOWED_URLS_CONFIG, "")]).is_err());
        // Prefixes, other cases and trailing slashes are different strings.
        for allowed in [
            "https://idp.example",
            "https://IDP.example/jwks",
            "https://idp.example/jwks/",
        ] {
            assert!(
                config(&[(JWKS_ENDPOINT_URL_CONFIG, url), (ALLOWED_URLS_CONFIG, allowed)]).is_err(),
                "{allowed}"
            );
        }
        // Entries and the configured value are trimmed.
        let ok = config(&[
            (JWKS_ENDPOINT_URL_CONFIG, &format!("  {url} ")),
            (ALLOWED_URLS_CONFIG, &format!("http://other , {url} ,")),
        ]);
        assert!(ok.is_ok());
    }

    #[test]
    fn refuses_bad_urls_and_numbers() {
        for url in ["ftp://x/jwks", "no-scheme", "https://"] {
            assert!(
                config(&[(JWKS_ENDPOINT_URL_CONFIG, url), (ALLOWED_URLS_CONFIG, url)]).is_err(),
                "{url}"
            );
        }
        let missing = "file:///definitely/not/here.json";
        let e = config(&[(JWKS_ENDPOINT_URL_CONFIG, missing), (ALLOWED_URLS_CONFIG, missing)]).unwrap_err();
        assert!(e.0.contains("doesn't exist"), "{e}");
        let url = "http://127.0.0.1:1/jwks";
        let base = [(JWKS_ENDPOINT_URL_CONFIG, url), (ALLOWED_URLS_CONFIG, url)];
        for (k, v) in [
            (JWKS_ENDPOINT_REFRESH_MS_CONFIG, "0"),
            (JWKS_ENDPOINT_REFRESH_MS_CONFIG, "soon"),
            (CLOCK_SKEW_SECONDS_CONFIG, "x"),
            (JWKS_ENDPOINT_RETRY_BACKOFF_MS_CONFIG, "20000"),
        ] {
            let mut pairs = base.to_vec();
            pairs.push((k, v));
            assert!(config(&pairs).is_err(), "{k}={v}");
        }
        assert!(config(&[(ALLOWED_URLS_CONFIG, url)]).is_err());
    }
}
