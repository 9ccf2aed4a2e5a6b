//! The JSON Web Key Set: parsing (RFC 7517), key selection for a token, and the cache that keeps
//! it fresh from a `file:` or `http(s):` URL without ever putting I/O on the request path.
//!
//! The cache follows Kafka's `RefreshingHttpsJwks`: one load at start, then a reload every
//! `sasl.oauthbearer.jwks.endpoint.refresh.ms`; each load retries with exponential backoff from
//! `retry.backoff.ms` for up to `retry.backoff.max.ms`; a failed load keeps the last good set; a
//! token naming a `kid` the set lacks asks for an early reload, at most once a minute per `kid`
//! (16 `kid`s remembered, `kid`s over 1000 characters ignored). It fails closed where Kafka would
//! refuse to start: until the first load succeeds, every token is refused.

use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tokio::sync::Notify;

use super::config::{JwksLocation, JwtValidatorConfig};

/// Largest JWKS document accepted, in bytes. Real key sets are a few KiB; the cap keeps a
/// misbehaving or hostile endpoint from filling the broker's memory.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// Timeout for one HTTP fetch (connect plus body).
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
/// Kafka's `MISSING_KEY_ID_CACHE_MAX_ENTRIES`.
const MISSING_KID_MAX_ENTRIES: usize = 16;
/// Kafka's `MISSING_KEY_ID_CACHE_IN_FLIGHT_MS`: one early refresh per unknown `kid` per minute.
const MISSING_KID_IN_FLIGHT_MS: i64 = 60_000;
/// Kafka's `MISSING_KEY_ID_MAX_KEY_LENGTH`.
const MISSING_KID_MAX_LENGTH: usize = 1000;
/// Sluice's floor between two early (unknown-`kid`) refreshes, so that a client spraying made-up
/// `kid`s cannot turn the broker into a load generator against the identity provider.
const MIN_EXPEDITED_INTERVAL: Duration = Duration::from_secs(1);

/// Why a key set could not be loaded or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JwksError(pub String);

/// The key families a JWS algorithm needs, per RFC 7518.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    Ec,
    Okp,
}

/// One usable verification key.
#[derive(Clone)]
struct VerificationKey {
    kid: Option<String>,
    kty: KeyType,
    crv: Option<String>,
    alg: Option<String>,
    usage: Option<String>,
    key_ops: Option<Vec<String>>,
    key: DecodingKey,
}

/// A parsed JSON Web Key Set, holding only the public keys Sluice can verify with.
///
/// As in jose4j (Kafka's JOSE library), a key that cannot be used (an unknown `kty`, a private or
/// symmetric key, a malformed member) is skipped rather than failing the whole set; a document
/// without a `keys` array is an error.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<Option<&str>> = self.keys.iter().map(|k| k.kid.as_deref()).collect();
        f.debug_struct("KeySet").field("kids", &kids).finish()
    }
}

fn str_member(map: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    map.get(name).and_then(Value::as_str).map(String::from)
}

fn parse_key(value: &Value) -> Option<VerificationKey> {
    let map = value.as_object()?;
    let kty = match map.get("kty")?.as_str()? {
        "RSA" => KeyType::Rsa,
        "EC" => KeyType::Ec,
        "OKP" => KeyType::Okp,
        // "oct" keys are shared secrets: a JWKS that publishes one is misconfigured, and HMAC
        // algorithms are refused anyway.
        _ => return None,
    };
    let crv = str_member(map, "crv");
    let key = match kty {
        KeyType::Rsa => DecodingKey::from_rsa_components(map.get("n")?.as_str()?, map.get("e")?.as_str()?).ok()?,
        KeyType::Ec => {
            let x = map.get("x")?.as_str()?;
            let y = map.get("y")?.as_str()?;
            let len = match crv.as_deref()? {
                "P-256" => 32,
                "P-384" => 48,
                _ => return None,
            };
            let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            if engine.decode(x).ok()?.len() != len || engine.decode(y).ok()?.len() != len {
                return None;
            }
            DecodingKey::from_ec_components(x, y).ok()?
        }
        KeyType::Okp => {
            if crv.as_deref()? != "Ed25519" {
                return None;
            }
            DecodingKey::from_ed_components(map.get("x")?.as_str()?).ok()?
        }
    };
    let key_ops = match map.get("key_ops") {
        None => None,
        Some(ops) => Some(
            ops.as_array()?
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
        ),
    };
    Some(VerificationKey {
        kid: str_member(map, "kid"),
        kty,
        crv,
        alg: str_member(map, "alg"),
        usage: str_member(map, "use"),
        key_ops,
        key,
    })
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`).
    pub fn from_json(bytes: &[u8]) -> Result<Self, JwksError> {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| JwksError(format!("JWKS is not valid JSON: {e}")))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JwksError("The JSON JWKS content does not include the keys member.".into()))?;
        let mut parsed = Vec::new();
        for key in keys {
            match parse_key(key) {
                Some(k) => parsed.push(k),
                None => tracing::debug!("ignoring a JWK that cannot be used for signature verification"),
            }
        }
        Ok(KeySet { keys: parsed })
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no usable key (then every token is refused).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Picks the key for a token as jose4j's `VerificationJwkSelector` does: the `kid` must match
    /// when the token names one; the key type (and curve) must suit the algorithm; `use`, when
    /// present, must be `sig`; `key_ops`, when present, must include `verify`; `alg`, when the
    /// key names one, must equal the token's. The first key that fits wins.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Option<&DecodingKey> {
        let (kty, crv) = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => (KeyType::Rsa, None),
            Algorithm::ES256 => (KeyType::Ec, Some("P-256")),
            Algorithm::ES384 => (KeyType::Ec, Some("P-384")),
            Algorithm::EdDSA => (KeyType::Okp, Some("Ed25519")),
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => return None,
        };
        let alg_name = format!("{alg:?}");
        self.keys
            .iter()
            .find(|k| {
                (kid.is_none() || k.kid.as_deref() == kid)
                    && k.kty == kty
                    && (crv.is_none() || k.crv.as_deref() == crv)
                    && k.usage.as_deref().is_none_or(|u| u == "sig")
                    && k.key_ops.as_ref().is_none_or(|ops| ops.iter().any(|o| o == "verify"))
                    && k.alg.as_deref().is_none_or(|a| a == alg_name)
            })
            .map(|k| &k.key)
    }

    /// Whether any key carries this `kid`, whatever its type.
    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

/// Fetches one copy of the key set document.
enum Source {
    File(std::path::PathBuf),
    Http { url: reqwest::Url, client: reqwest::Client },
}

impl Source {
    async fn fetch(&self) -> Result<KeySet, JwksError> {
        let bytes = match self {
            Source::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|e| JwksError(format!("could not read JWKS file {}: {e}", path.display())))?;
                if bytes.len() > MAX_JWKS_BYTES {
                    return Err(JwksError(format!("JWKS file is larger than {MAX_JWKS_BYTES} bytes")));
                }
                bytes
            }
            Source::Http { url, client } => {
                let mut response = client
                    .get(url.clone())
                    .header(reqwest::header::ACCEPT, "application/json")
                    .send()
                    .await
                    .map_err(|e| JwksError(format!("could not fetch JWKS from {url}: {e}")))?;
                if response.status() != reqwest::StatusCode::OK {
                    return Err(JwksError(format!(
                        "Non 200 status code ({}) returned from {url}",
                        response.status().as_u16()
                    )));
                }
                if response.content_length().is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
                    return Err(JwksError(format!(
                        "JWKS from {url} is larger than {MAX_JWKS_BYTES} bytes"
                    )));
                }
                let mut body = Vec::new();
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|e| JwksError(format!("could not read JWKS from {url}: {e}")))?
                {
                    if body.len() + chunk.len() > MAX_JWKS_BYTES {
                        return Err(JwksError(format!(
                            "JWKS from {url} is larger than {MAX_JWKS_BYTES} bytes"
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                body
            }
        };
        KeySet::from_json(&bytes)
    }
}

/// The broker's copy of the identity provider's key set, kept fresh by a background task.
///
/// Share one per listener configuration (Kafka shares one per distinct configuration too): the
/// request path calls [`keys`](Self::keys), which only reads memory.
pub struct JwksCache {
    location: String,
    source: Source,
    refresh: Duration,
    retry_backoff_ms: u64,
    retry_backoff_max_ms: u64,
    keys: RwLock<Option<Arc<KeySet>>>,
    /// Unknown `kid` -> when it may trigger another early refresh (ms since the epoch), with the
    /// insertion order for eviction.
    missing_kids: Mutex<Vec<(String, i64)>>,
    wake: Arc<Notify>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("location", &self.location)
            .field("loaded", &self.is_loaded())
            .finish_non_exhaustive()
    }
}

fn build_source(config: &JwtValidatorConfig) -> Result<Source, JwksError> {
    match &config.jwks_location {
        JwksLocation::File(path) => Ok(Source::File(path.clone())),
        JwksLocation::Http(url) => {
            let mut builder = reqwest::Client::builder()
                .use_rustls_tls()
                .timeout(FETCH_TIMEOUT)
                .connect_timeout(FETCH_TIMEOUT)
                // An allow-listed URL must not be able to send the broker elsewhere.
                .redirect(reqwest::redirect::Policy::none());
            if let Some(path) = &config.truststore_location {
                let pem = std::fs::read(path)
                    .map_err(|e| JwksError(format!("could not read truststore {}: {e}", path.display())))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| JwksError(format!("could not parse truststore {}: {e}", path.display())))?;
                if certs.is_empty() {
                    return Err(JwksError(format!("truststore {} holds no certificate", path.display())));
                }
                builder = builder.tls_built_in_root_certs(false);
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
            }
            let client = builder
                .build()
                .map_err(|e| JwksError(format!("could not build the JWKS client: {e}")))?;
            Ok(Source::Http {
                url: url.clone(),
                client,
            })
        }
    }
}

impl JwksCache {
    /// Creates the cache and spawns its refresh task on the current tokio runtime; the first
    /// load starts at once. Returns immediately: until that load succeeds, [`keys`](Self::keys)
    /// is `None` and every token is refused. Fails if called outside a tokio runtime or if the
    /// HTTP client or truststore cannot be set up.
    ///
    /// The task holds only a weak reference: dropping the last `Arc` stops it.
    pub fn start(config: &JwtValidatorConfig) -> Result<Arc<Self>, JwksError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| JwksError("JwksCache::start must be called within a tokio runtime".into()))?;
        if let JwksLocation::Http(url) = &config.jwks_location {
            if url.scheme() == "http" {
                // Kafka allows it, so Sluice does; but anyone on the path can substitute keys.
                tracing::warn!(%url, "OAuth JWKS is fetched over plain HTTP; use https outside tests");
            }
        }
        let cache = Arc::new(JwksCache {
            location: config.jwks_endpoint_url.clone(),
            source: build_source(config)?,
            refresh: Duration::from_millis(config.jwks_refresh_ms),
            retry_backoff_ms: config.jwks_retry_backoff_ms,
            retry_backoff_max_ms: config.jwks_retry_backoff_max_ms,
            keys: RwLock::new(None),
            missing_kids: Mutex::new(Vec::new()),
            wake: Arc::new(Notify::new()),
            task: Mutex::new(None),
        });
        let handle = runtime.spawn(run(Arc::downgrade(&cache), Arc::clone(&cache.wake)));
        *cache.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(cache)
    }

    /// The current key set, or `None` if none has ever loaded. Never blocks on I/O.
    pub fn keys(&self) -> Option<Arc<KeySet>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether a key set has loaded at least once.
    pub fn is_loaded(&self) -> bool {
        self.keys().is_some()
    }

    /// The configured URL, for logs.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Waits until a key set has loaded, or `timeout` passes; returns whether one has. For broker
    /// start-up (to log or delay readiness) and tests; authentication never waits.
    pub async fn wait_loaded(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.is_loaded() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Loads the key set once, now, without retrying; on success it replaces the cached set, on
    /// failure the cached set (if any) stays. Returns the number of usable keys loaded. For an
    /// operator-triggered reload and for tests.
    pub async fn refresh_now(&self) -> Result<usize, JwksError> {
        let set = self.source.fetch().await?;
        let n = set.len();
        self.install(set);
        Ok(n)
    }

    fn install(&self, set: KeySet) {
        {
            let mut missing = self.missing_kids.lock().unwrap_or_else(|e| e.into_inner());
            missing.retain(|(kid, _)| !set.has_kid(kid));
        }
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(set));
    }

    /// One refresh with Kafka's `Retry` schedule: attempts until `retry_backoff_max_ms` has
    /// passed, sleeping `retry_backoff_ms * 2^(attempt-1)` (capped by the time left) between them.
    async fn refresh_with_retry(&self) -> Result<usize, JwksError> {
        let start = tokio::time::Instant::now();
        let end = start + Duration::from_millis(self.retry_backoff_max_ms);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let error = match self.refresh_now().await {
                Ok(n) => return Ok(n),
                Err(e) => e,
            };
            tracing::warn!(location = %self.location, attempt, error = %error, "OAuth JWKS refresh attempt failed");
            let now = tokio::time::Instant::now();
            let left = end.saturating_duration_since(now);
            let backoff = Duration::from_millis(
                self.retry_backoff_ms
                    .saturating_mul(1u64.checked_shl(attempt - 1).unwrap_or(u64::MAX)),
            );
            let wait = backoff.min(left);
            if wait.is_zero() {
                return Err(error);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Called when a token names a `kid` the current set lacks: asks the task for an early
    /// refresh unless this `kid` already asked within the last minute. Kafka's
    /// `maybeExpediteRefresh`, including its limits. Returns whether a refresh was requested.
    pub(crate) fn maybe_expedite_refresh(&self, kid: &str, now_ms: i64) -> bool {
        if kid.len() > MISSING_KID_MAX_LENGTH {
            tracing::warn!(
                len = kid.len(),
                "JWT key ID too long to cache; not refreshing the JWKS for it"
            );
            return false;
        }
        let mut missing = self.missing_kids.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = missing.iter().position(|(k, _)| k == kid) {
            if missing[pos].1 > now_ms {
                return false;
            }
            missing.remove(pos);
        }
        missing.push((kid.to_string(), now_ms.saturating_add(MISSING_KID_IN_FLIGHT_MS)));
        if missing.len() > MISSING_KID_MAX_ENTRIES {
            missing.remove(0);
        }
        drop(missing);
        self.wake.notify_one();
        true
    }
}

impl Drop for JwksCache {
    fn drop(&mut self) {
        if let Some(handle) = self.task.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            handle.abort();
        }
    }
}

/// The refresh task: load (retrying until it succeeds the first time), then reload every
/// `refresh` or when woken for an unknown `kid`.
async fn run(cache: Weak<JwksCache>, wake: Arc<Notify>) {
    loop {
        let fetch_started = tokio::time::Instant::now();
        let wait = {
            let Some(cache) = cache.upgrade() else { return };
            match cache.refresh_with_retry().await {
                Ok(n) => {
                    tracing::info!(location = %cache.location, keys = n, "OAuth JWKS refresh complete");
                    cache.refresh
                }
                Err(e) if cache.is_loaded() => {
                    tracing::warn!(location = %cache.location, error = %e,
                        "OAuth JWKS refresh failed; keeping the previous key set");
                    cache.refresh
                }
                Err(e) => {
                    // Never loaded: every token is being refused, so keep trying at the longest
                    // backoff rather than waiting a whole refresh interval.
                    tracing::error!(location = %cache.location, error = %e,
                        "OAuth JWKS could not be loaded; all OAUTHBEARER tokens are refused until it is");
                    Duration::from_millis(cache.retry_backoff_max_ms.max(100)).min(cache.refresh)
                }
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => tokio::time::sleep_until(fetch_started + MIN_EXPEDITED_INTERVAL).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyset_skips_unusable_keys_and_requires_keys_member() {
        assert!(KeySet::from_json(b"{}").is_err());
        assert!(KeySet::from_json(b"not json").is_err());
        let set = KeySet::from_json(
            br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"EC","crv":"P-256","x":"AA","y":"AA"},
                {"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
                42, {"kty":"RSA"}]}"#,
        )
        .unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.select(Some("ed"), Algorithm::EdDSA).is_some());
        assert!(set.select(None, Algorithm::EdDSA).is_some());
        assert!(set.select(Some("other"), Algorithm::EdDSA).is_none());
        assert!(set.select(Some("ed"), Algorithm::RS256).is_none());
        assert!(set.select(Some("ed"), Algorithm::HS256).is_none());
    }

    fn file_config() -> (tempfile::NamedTempFile, JwtValidatorConfig) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), br#"{"keys":[]}"#).unwrap();
        let url = format!("file://{}", file.path().display());
        let config = JwtValidatorConfig::from_properties(&|k| match k {
            "sasl.oauthbearer.jwks.endpoint.url" | "org.apache.kafka.sasl.oauthbearer.allowed.urls" => {
                Some(url.clone())
            }
            _ => None,
        })
        .unwrap();
        (file, config)
    }

    #[test]
    fn start_outside_a_runtime_is_an_error_not_a_panic() {
        let (_file, config) = file_config();
        assert!(JwksCache::start(&config).is_err());
    }

    #[tokio::test]
    async fn unknown_kid_refreshes_are_rate_limited_like_kafkas() {
        let (_file, config) = file_config();
        let cache = JwksCache::start(&config).unwrap();
        assert!(cache.wait_loaded(Duration::from_secs(5)).await);
        let now = 1_000_000;
        assert!(cache.maybe_expedite_refresh("a", now));
        assert!(!cache.maybe_expedite_refresh("a", now + MISSING_KID_IN_FLIGHT_MS - 1));
        assert!(cache.maybe_expedite_refresh("a", now + MISSING_KID_IN_FLIGHT_MS));
        assert!(!cache.maybe_expedite_refresh(&"k".repeat(MISSING_KID_MAX_LENGTH + 1), now));
        for i in 0..2 * MISSING_KID_MAX_ENTRIES {
            assert!(cache.maybe_expedite_refresh(&format!("kid-{i}"), now));
        }
        assert_eq!(cache.missing_kids.lock().unwrap().len(), MISSING_KID_MAX_ENTRIES);
        // The oldest entries were evicted, so they may ask again.
        assert!(cache.maybe_expedite_refresh("kid-0", now));
    }
}
