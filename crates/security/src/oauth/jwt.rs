//! Kafka's broker-side JWT validation (`BrokerJwtValidator`, formerly
//! `ValidatorAccessTokenValidator`), which delegates most checks to jose4j's `JwtConsumer` built
//! with `DISALLOW_NONE`, required `exp` and `iat`, the configured clock skew, audience and issuer,
//! and a key resolver over the JWKS. The rules below are jose4j's defaults as Kafka uses them.

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::config::JwtValidatorConfig;
use super::jwks::{JwksCache, JwksError, KeySet};
use super::{OAuthBearerToken, TokenError, TokenValidator};

/// The JWS algorithms accepted: the asymmetric ones Kafka's jose4j validator accepts and `ring`
/// can verify. HMAC (`HS*`) is refused because a JWKS publishes public keys, and verifying an
/// HMAC with a public key as the secret is the classic algorithm-confusion forgery; `none` is
/// refused as in Kafka (`DISALLOW_NONE`). `ES512` (P-521), which jose4j also knows, is refused
/// because `ring` cannot verify it.
pub const SUPPORTED_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

fn algorithm(name: &str) -> Result<Algorithm, TokenError> {
    Ok(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        "none" => return Err(TokenError::invalid_token("JWS algorithm 'none' is not allowed")),
        "HS256" | "HS384" | "HS512" => {
            return Err(TokenError::invalid_token(format!(
                "JWS algorithm {name} (a shared-secret MAC) is not allowed with JWKS public keys"
            )));
        }
        other => {
            return Err(TokenError::invalid_token(format!(
                "JWS algorithm {other:.40} is not supported"
            )));
        }
    })
}

fn b64url_json(section: &str, what: &str) -> Result<Map<String, Value>, TokenError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(section)
        .map_err(|_| TokenError::invalid_token(format!("malformed JWT: the {what} is not base64url")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(TokenError::invalid_token(format!(
            "malformed JWT: the {what} is not a JSON object"
        ))),
    }
}

/// A NumericDate claim in whole seconds, as jose4j reads it (`Number.longValue()`: fractions
/// truncated); a claim of another JSON type is malformed.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, TokenError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(Some(
            n.as_i64()
                .or_else(|| n.as_u64().map(|_| i64::MAX))
                .or_else(|| n.as_f64().map(|f| f as i64))
                .unwrap_or(0),
        )),
        Some(_) => Err(TokenError::invalid_token(format!(
            "Could not extract the '{name}' claim from the access token"
        ))),
    }
}

/// Kafka's `ClaimValidationUtils.validateString`: non-null, non-empty, not only whitespace;
/// returned trimmed.
fn non_blank(name: &str, value: Option<&str>) -> Result<String, TokenError> {
    let value = value.ok_or_else(|| TokenError::invalid_token(format!("{name} value must be non-null")))?;
    if value.is_empty() {
        return Err(TokenError::invalid_token(format!("{name} value must be non-empty")));
    }
    let value = value.trim();
    if value.is_empty() {
        return Err(TokenError::invalid_token(format!(
            "{name} value must not contain only whitespace"
        )));
    }
    Ok(value.to_string())
}

/// The claim-checking half of the validator, separate from the key cache so it can be exercised
/// against a fixed key set.
#[derive(Debug, Clone)]
struct Rules {
    clock_skew_seconds: i64,
    expected_audience: BTreeSet<String>,
    expected_issuer: Option<String>,
    scope_claim_name: String,
    sub_claim_name: String,
}

/// Validates signed JWTs against the identity provider's keys, with Kafka's broker semantics.
///
/// A token is accepted only if all of these hold (the jose4j and Kafka checks, in order):
///
/// 1. it is three non-empty base64url sections, the header and payload JSON objects;
/// 2. its `alg` is one of [`SUPPORTED_ALGORITHMS`] and the header has no `crit` member (jose4j
///    refuses critical headers it does not understand) and is not a nested JWT (`cty: JWT`);
/// 3. a key set has loaded, and it holds a key for the token's `kid` (if any) suited to the `alg`
///    (see [`KeySet`]); an unknown `kid` also asks the cache for an early refresh;
/// 4. the signature verifies with that key;
/// 5. `exp` is present, numeric, non-negative, and `now - skew < exp`;
/// 6. `iat` is present, numeric and non-negative, and `exp` is not before it (Kafka requires
///    `iat` but, like jose4j by default, does not compare it with the clock);
/// 7. `nbf`, if present, is numeric, not after `exp`, and `now + skew >= nbf`;
/// 8. `aud`: with an expected audience configured, the token's `aud` (a string or an array of
///    strings) must contain one of them; with none configured, a token carrying `aud` at all is
///    refused (jose4j's default, which Kafka keeps; set the expected audience to accept them);
/// 9. `iss` equals the expected issuer, if one is configured;
/// 10. the subject claim is a string, not blank (trimmed, it becomes the principal);
/// 11. the scope claim, if present, is a string (taken whole as **one** scope, as Kafka does; it
///     is not split on spaces) or an array of non-blank strings without duplicates; any other
///     type counts as no scope.
///
/// Every refusal reports `invalid_token`, as Kafka's validator callback handler does.
pub struct JwtValidator {
    keys: Arc<JwksCache>,
    rules: Rules,
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtValidator")
            .field("keys", &self.keys)
            .field("rules", &self.rules)
            .finish()
    }
}

impl JwtValidator {
    /// A validator over an existing key cache (so several listeners can share one cache).
    pub fn new(config: &JwtValidatorConfig, keys: Arc<JwksCache>) -> Self {
        JwtValidator {
            keys,
            rules: Rules {
                clock_skew_seconds: config.clock_skew_seconds,
                expected_audience: config.expected_audience.clone(),
                expected_issuer: config.expected_issuer.clone(),
                scope_claim_name: config.scope_claim_name.clone(),
                sub_claim_name: config.sub_claim_name.clone(),
            },
        }
    }

    /// Starts a key cache for `config` (see [`JwksCache::start`]) and returns a validator over it.
    /// Must be called within a tokio runtime.
    pub fn start(config: &JwtValidatorConfig) -> Result<Arc<Self>, JwksError> {
        Ok(Arc::new(JwtValidator::new(config, JwksCache::start(config)?)))
    }

    /// The key cache behind this validator.
    pub fn keys(&self) -> &Arc<JwksCache> {
        &self.keys
    }
}

impl TokenValidator for JwtValidator {
    fn validate(&self, token: &str, now_ms: i64) -> Result<OAuthBearerToken, TokenError> {
        let keys = self.keys.keys();
        self.rules.validate(token, now_ms, keys.as_deref(), &|kid| {
            self.keys.maybe_expedite_refresh(kid, now_ms);
        })
    }
}

impl Rules {
    fn validate(
        &self,
        token: &str,
        now_ms: i64,
        keys: Option<&KeySet>,
        on_unknown_kid: &dyn Fn(&str),
    ) -> Result<OAuthBearerToken, TokenError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(TokenError::invalid_token(
                "Empty JWT provided; expected three sections (header, payload, and signature)",
            ));
        }
        let sections: Vec<&str> = token.split('.').collect();
        if sections.len() != 3 || sections.iter().any(|s| s.is_empty()) {
            return Err(TokenError::invalid_token(format!(
                "Malformed JWT provided; expected three non-empty sections (header, payload, and signature), got {}",
                sections.len()
            )));
        }
        let header = b64url_json(sections[0], "header")?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| TokenError::invalid_token("JWS header has no 'alg'"))?;
        let alg = algorithm(alg)?;
        if header.contains_key("crit") {
            return Err(TokenError::invalid_token(
                "JWS header has critical extensions that are not understood",
            ));
        }
        if header
            .get("cty")
            .and_then(Value::as_str)
            .is_some_and(|c| c.eq_ignore_ascii_case("jwt"))
        {
            return Err(TokenError::invalid_token("nested JWTs are not supported"));
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(TokenError::invalid_token("JWS header 'kid' is not a string")),
        };
        let keys = keys.ok_or_else(|| {
            TokenError::invalid_token("no JWKS has been loaded yet; refusing every token until one is")
        })?;
        let Some(key) = keys.select(kid, alg) else {
            // As Kafka does for any failed key lookup: the provider may have rotated keys.
            if let Some(kid) = kid {
                on_unknown_kid(kid);
            }
            return Err(TokenError::invalid_token(format!(
                "Unable to find a suitable verification key for JWS with kid {:.100} and alg {alg:?}",
                kid.unwrap_or("(none)")
            )));
        };
        let signed_len = sections[0].len() + 1 + sections[1].len();
        let verified =
            jsonwebtoken::crypto::verify(sections[2], &token.as_bytes()[..signed_len], key, alg).unwrap_or(false);
        if !verified {
            return Err(TokenError::invalid_token("JWS signature is invalid"));
        }
        let claims = b64url_json(sections[1], "payload")?;
        self.check_claims(token, &claims, now_ms)
    }

    fn check_claims(
        &self,
        token: &str,
        claims: &Map<String, Value>,
        now_ms: i64,
    ) -> Result<OAuthBearerToken, TokenError> {
        let now = now_ms.div_euclid(1000);
        let skew = self.clock_skew_seconds;
        let exp = numeric_date(claims, "exp")?
            .ok_or_else(|| TokenError::invalid_token("No Expiration Time (exp) claim present."))?;
        if now.saturating_sub(skew) >= exp {
            return Err(TokenError::invalid_token(format!(
                "The JWT is no longer valid - the evaluation time {now} is on or after the Expiration Time {exp} (skew {skew} s)"
            )));
        }
        let iat = numeric_date(claims, "iat")?
            .ok_or_else(|| TokenError::invalid_token("No Issued At (iat) claim present."))?;
        let nbf = numeric_date(claims, "nbf")?;
        if exp < iat {
            return Err(TokenError::invalid_token(format!(
                "The Expiration Time (exp={exp}) claim value cannot be before the Issued At (iat={iat}) claim value"
            )));
        }
        if let Some(nbf) = nbf {
            if exp < nbf {
                return Err(TokenError::invalid_token(format!(
                    "The Expiration Time (exp={exp}) claim value cannot be before the Not Before (nbf={nbf}) claim value"
                )));
            }
            if now.saturating_add(skew) < nbf {
                return Err(TokenError::invalid_token(format!(
                    "The JWT is not yet valid as the evaluation time {now} is before the Not Before {nbf} (skew {skew} s)"
                )));
            }
        }
        match claims.get("aud") {
            None | Some(Value::Null) => {
                if !self.expected_audience.is_empty() {
                    return Err(TokenError::invalid_token("No Audience (aud) claim present."));
                }
            }
            Some(aud) => {
                let audiences: Vec<&str> = match aud {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(items) => items
                        .iter()
                        .map(Value::as_str)
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| TokenError::invalid_token("Could not extract the 'aud' claim"))?,
                    _ => return Err(TokenError::invalid_token("Could not extract the 'aud' claim")),
                };
                if !audiences.iter().any(|a| self.expected_audience.contains(*a)) {
                    return Err(TokenError::invalid_token(if self.expected_audience.is_empty() {
                        "Audience (aud) claim present in the JWT but no expected audience value(s) were configured"
                    } else {
                        "Audience (aud) claim doesn't contain an acceptable identifier"
                    }));
                }
            }
        }
        if let Some(expected) = &self.expected_issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(expected.as_str()) {
                return Err(TokenError::invalid_token(
                    "Issuer (iss) claim is missing or does not match",
                ));
            }
        }
        let scope_name = &self.scope_claim_name;
        let raw_scopes: Vec<Option<&str>> = match claims.get(scope_name) {
            Some(Value::String(s)) => vec![Some(s.as_str())],
            Some(Value::Array(items)) => items.iter().map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let mut scope = BTreeSet::new();
        for raw in raw_scopes {
            let s = non_blank(scope_name, raw)?;
            if !scope.insert(s.clone()) {
                return Err(TokenError::invalid_token(format!(
                    "{scope_name} value must not contain duplicates - {s} already present"
                )));
            }
        }
        if exp < 0 {
            return Err(TokenError::invalid_token(format!(
                "exp value must be non-negative; value given was \"{exp}\""
            )));
        }
        let sub_name = &self.sub_claim_name;
        let sub = match claims.get(sub_name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                return Err(TokenError::invalid_token(format!(
                    "Could not extract the '{sub_name}' claim from the access token"
                )));
            }
        };
        let principal_name = non_blank(sub_name, sub)?;
        if iat < 0 {
            return Err(TokenError::invalid_token(format!(
                "iat value must be null or non-negative; value given was \"{iat}\""
            )));
        }
        Ok(OAuthBearerToken {
            value: token.to_string(),
            principal_name,
            scope,
            lifetime_ms: exp.saturating_mul(1000),
            start_time_ms: Some(iat.saturating_mul(1000)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            clock_skew_seconds: 30,
            expected_audience: BTreeSet::new(),
            expected_issuer: None,
            scope_claim_name: "scope".into(),
            sub_claim_name: "sub".into(),
        }
    }

    fn claims(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn claim_rules_follow_kafka() {
        let r = rules();
        let now = 1_000_000_000_000;
        let ok = r.check_claims(
            "t",
            &claims(r#"{"sub":" alice ","exp":1000000100,"iat":1000000000,"scope":"a b"}"#),
            now,
        );
        let ok = ok.unwrap();
        assert_eq!(ok.principal_name, "alice");
        assert_eq!(ok.scope.iter().collect::<Vec<_>>(), ["a b"]);
        assert_eq!(ok.lifetime_ms, 1_000_000_100_000);
        // Within the skew, still good; at the skew boundary, expired.
        assert!(
            r.check_claims("t", &claims(r#"{"sub":"a","exp":999999990,"iat":0}"#), now)
                .is_ok()
        );
        assert!(
            r.check_claims("t", &claims(r#"{"sub":"a","exp":999999970,"iat":0}"#), now)
                .is_err()
        );
        for bad in [
            r#"{"sub":"a","iat":0}"#,
            r#"{"sub":"a","exp":2000000000}"#,
            r#"{"sub":"a","exp":"2000000000","iat":0}"#,
            r#"{"exp":2000000000,"iat":0}"#,
            r#"{"sub":"  ","exp":2000000000,"iat":0}"#,
            r#"{"sub":7,"exp":2000000000,"iat":0}"#,
            r#"{"sub":"a","exp":2000000000,"iat":0,"nbf":1000000031}"#,
            r#"{"sub":"a","exp":2000000000,"iat":0,"aud":"x"}"#,
            r#"{"sub":"a","exp":2000000000,"iat":-1}"#,
            r#"{"sub":"a","exp":2000000000,"iat":2000000001}"#,
            r#"{"sub":"a","exp":2000000000,"iat":0,"nbf":2000000001}"#,
            r#"{"sub":"a","exp":2000000000,"iat":0,"scope":["a","a"]}"#,
            r#"{"sub":"a","exp":2000000000,"iat":0,"scope":["a",""]}"#,
            r#"{"sub":"a","exp":2000000000,"iat":0,"scope":["a",1]}"#,
        ] {
            assert!(r.check_claims("t", &claims(bad), now).is_err(), "{bad}");
        }
        assert!(
            r.check_claims(
                "t",
                &claims(r#"{"sub":"a","exp":2000000000,"iat":0,"nbf":1000000030}"#),
                now
            )
            .is_ok()
        );
        let mut aud = rules();
        aud.expected_audience = ["kafka".to_string(), "other".to_string()].into();
        aud.expected_issuer = Some("https://idp".into());
        let base = r#""sub":"a","exp":2000000000,"iat":0,"iss":"https://idp""#;
        assert!(
            aud.check_claims("t", &claims(&format!(r#"{{{base},"aud":["x","kafka"]}}"#)), now)
                .is_ok()
        );
        assert!(
            aud.check_claims("t", &claims(&format!(r#"{{{base},"aud":"other"}}"#)), now)
                .is_ok()
        );
        assert!(
            aud.check_claims("t", &claims(&format!(r#"{{{base},"aud":"x"}}"#)), now)
                .is_err()
        );
        assert!(aud.check_claims("t", &claims(&format!(r#"{{{base}}}"#)), now).is_err());
        let wrong_iss = r#"{"sub":"a","exp":2000000000,"iat":0,"iss":"https://evil","aud":"kafka"}"#;
        assert!(aud.check_claims("t", &claims(wrong_iss), now).is_err());
    }

    #[test]
    fn structure_and_algorithm_are_checked_before_keys() {
        let r = rules();
        let never = |_: &str| panic!("no refresh expected");
        let set = KeySet::default();
        for token in ["", "a.b", "a.b.c.d", "a..c", "!!.b.c"] {
            assert!(r.validate(token, 0, Some(&set), &never).is_err(), "{token}");
        }
        let h = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS256"}"#,
            r#"{"alg":"ES512"}"#,
            r#"{"typ":"JWT"}"#,
        ] {
            let token = format!("{}.e30.c2ln", h(header));
            assert!(r.validate(&token, 0, Some(&set), &never).is_err(), "{header}");
        }
        let token = format!("{}.e30.c2ln", h(r#"{"alg":"RS256","kid":"k1"}"#));
        assert!(
            r.validate(&token, 0, None, &never)
                .unwrap_err()
                .reason
                .contains("no JWKS")
        );
        let asked = std::cell::Cell::new(false);
        assert!(
            r.validate(&token, 0, Some(&set), &|kid| asked.set(kid == "k1"))
                .is_err()
        );
        assert!(asked.get());
    }
}
