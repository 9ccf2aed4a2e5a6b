//! Kafka's unsecured token validator (`OAuthBearerUnsecuredValidatorCallbackHandler`): it accepts
//! unsigned `alg: none` JWTs, checking only their claims.
//!
//! **Anyone can mint such a token for any principal.** It exists, as in Kafka, for development
//! and tests without an identity provider. It is never the default: the broker must choose it
//! explicitly, and should log a warning at start-up each time it does (Kafka makes this the
//! default callback handler; Sluice does not).

use std::collections::BTreeSet;

use base64::Engine;
use serde_json::{Map, Value};

use super::config::ConfigError;
use super::{OAuthBearerToken, TokenError, TokenValidator};

/// The JAAS option naming the principal claim (default `sub`).
pub const PRINCIPAL_CLAIM_NAME_OPTION: &str = "unsecuredValidatorPrincipalClaimName";
/// The JAAS option naming the scope claim (default `scope`).
pub const SCOPE_CLAIM_NAME_OPTION: &str = "unsecuredValidatorScopeClaimName";
/// The JAAS option listing, space-separated, the scopes every token must have (default none).
pub const REQUIRED_SCOPE_OPTION: &str = "unsecuredValidatorRequiredScope";
/// The JAAS option giving the clock skew allowed, in milliseconds (default 0).
pub const ALLOWABLE_CLOCK_SKEW_MS_OPTION: &str = "unsecuredValidatorAllowableClockSkewMs";

/// The unsecured validator's settings, from the OAUTHBEARER JAAS login module options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsecuredValidatorOptions {
    /// The claim whose string value is the principal.
    pub principal_claim_name: String,
    /// The claim holding the scopes.
    pub scope_claim_name: String,
    /// Scopes a token must all have, or it is refused with `insufficient_scope`.
    pub required_scope: Vec<String>,
    /// Clock skew allowed for `exp` and `iat`, in milliseconds.
    pub allowable_clock_skew_ms: i64,
}

/// Kafka's scope item pattern `[\x23-\x5B\x5D-\x7E\x21]+` (RFC 6749 `scope-token`).
fn is_scope_item(item: &str) -> bool {
    !item.is_empty()
        && item
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl UnsecuredValidatorOptions {
    /// Reads the options through `option`, a lookup into the JAAS module options, with Kafka's
    /// defaults (blank counts as absent) and its refusals (a malformed required scope, a
    /// non-integer or negative skew).
    pub fn from_options(option: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let non_blank = |key: &str| option(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let principal_claim_name = non_blank(PRINCIPAL_CLAIM_NAME_OPTION).unwrap_or_else(|| "sub".into());
        let scope_claim_name = non_blank(SCOPE_CLAIM_NAME_OPTION).unwrap_or_else(|| "scope".into());
        let mut required_scope = Vec::new();
        if let Some(required) = non_blank(REQUIRED_SCOPE_OPTION) {
            for item in required.split(' ').filter(|s| !s.is_empty()) {
                if !is_scope_item(item) {
                    return Err(ConfigError(format!("Invalid scope value: {item}")));
                }
                required_scope.push(item.to_string());
            }
        }
        let allowable_clock_skew_ms = match non_blank(ALLOWABLE_CLOCK_SKEW_MS_OPTION) {
            None => 0,
            Some(v) => {
                let skew: i32 = v
                    .parse()
                    .map_err(|_| ConfigError(format!("For input string: \"{v}\"")))?;
                if skew < 0 {
                    return Err(ConfigError(format!(
                        "Allowable clock skew millis must not be negative: {v}"
                    )));
                }
                skew.into()
            }
        };
        Ok(UnsecuredValidatorOptions {
            principal_claim_name,
            scope_claim_name,
            required_scope,
            allowable_clock_skew_ms,
        })
    }
}

/// Validates unsigned (`alg: none`) JWTs with Kafka's unsecured rules: the token must be
/// `header.payload.` with an empty signature and `alg` exactly `none`; `exp` must be a number and,
/// less the skew, still in the future; `iat`, if present, a number not after now plus the skew and
/// before `exp`; the principal claim a non-blank string (kept untrimmed, as Kafka does); and every
/// required scope present, else `insufficient_scope` naming the required scopes.
///
/// A string scope claim is one scope (trimmed; blank means none), an array gives one scope per
/// non-blank element; array elements that are not strings are taken as their JSON text, as
/// Kafka's Jackson conversion does.
///
/// Only difference from Kafka: sections are decoded as base64url (RFC 7515) as well as standard
/// base64, where Kafka's unsecured validator accepts only the standard alphabet.
#[derive(Debug, Clone)]
pub struct UnsecuredValidator {
    options: UnsecuredValidatorOptions,
}

impl UnsecuredValidator {
    /// A validator with these options. The caller is responsible for the start-up warning: this
    /// accepts tokens anyone can forge.
    pub fn new(options: UnsecuredValidatorOptions) -> Self {
        UnsecuredValidator { options }
    }
}

fn decode_section(section: &str) -> Result<Map<String, Value>, TokenError> {
    use base64::engine::DecodePaddingMode;
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    let config = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let url = GeneralPurpose::new(&base64::alphabet::URL_SAFE, config);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let bytes = url
        .decode(section)
        .or_else(|_| standard.decode(section))
        .map_err(|_| TokenError::invalid_token("malformed Base64 URL encoded value"))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(TokenError::invalid_token("malformed JSON")),
    }
}

/// A claim Kafka reads as `Number`: absent is `None`, another type is an error.
fn number(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(TokenError::invalid_token(format!(
            "The '{name}' claim was not of type Number: {}",
            json_type(other)
        ))),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "List",
        Value::Number(_) => "Number",
        _ => "String",
    }
}

/// Jackson's `asText` for an array element.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

impl TokenValidator for UnsecuredValidator {
    fn validate(&self, token: &str, now_ms: i64) -> Result<OAuthBearerToken, TokenError> {
        let o = &self.options;
        if token.contains("..") {
            return Err(TokenError::invalid_token(
                "Malformed compact serialization contains '..'",
            ));
        }
        let sections: Vec<&str> = token.split('.').collect();
        if sections.len() != 3 {
            return Err(TokenError::invalid_token(
                "Unsecured JWS compact serializations must have 3 dot-separated Base64URL-encoded values",
            ));
        }
        let header = decode_section(sections[0])?;
        let claims = decode_section(sections[1])?;
        match header.get("alg") {
            Some(Value::String(alg)) if alg == "none" => {}
            Some(_) => {
                return Err(TokenError::invalid_token(
                    "Unsecured JWS must have 'none' for an algorithm",
                ));
            }
            None => return Err(TokenError::invalid_token("JWS header must have an Algorithm value")),
        }
        if !sections[2].is_empty() {
            return Err(TokenError::invalid_token(
                "Unsecured JWS must not contain a digital signature",
            ));
        }
        let scope: BTreeSet<String> = match claims.get(&o.scope_claim_name) {
            None => BTreeSet::new(),
            Some(Value::String(s)) if s.trim().is_empty() => BTreeSet::new(),
            Some(Value::String(s)) => [s.trim().to_string()].into(),
            Some(Value::Array(items)) => items
                .iter()
                .map(as_text)
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().to_string())
                .collect(),
            Some(other) => {
                return Err(TokenError::invalid_token(format!(
                    "The '{}' claim was not of type List: {}",
                    o.scope_claim_name,
                    json_type(other)
                )));
            }
        };
        let exp = number(&claims, "exp")?.ok_or_else(|| TokenError::invalid_token("No expiration time in JWT"))?;
        let principal_name = match claims.get(&o.principal_claim_name) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) | None => {
                return Err(TokenError::invalid_token(format!(
                    "No principal name in JWT claim: {}",
                    o.principal_claim_name
                )));
            }
            Some(other) => {
                return Err(TokenError::invalid_token(format!(
                    "The '{}' claim was not of type String: {}",
                    o.principal_claim_name,
                    json_type(other)
                )));
            }
        };
        let iat = number(&claims, "iat")?;
        let skew = o.allowable_clock_skew_ms as f64;
        let now = now_ms as f64;
        if let Some(iat) = iat {
            if 1000.0 * iat > now + skew {
                return Err(TokenError::invalid_token(format!(
                    "The Issued At value ({iat} seconds) was after the indicated time ({now_ms} ms) plus allowable clock skew ({} ms)",
                    o.allowable_clock_skew_ms
                )));
            }
        }
        if now - skew >= 1000.0 * exp {
            return Err(TokenError::invalid_token(format!(
                "The indicated time ({now_ms} ms) minus allowable clock skew ({} ms) was on or after the Expiration Time value ({exp} seconds)",
                o.allowable_clock_skew_ms
            )));
        }
        if let Some(iat) = iat {
            if exp <= iat {
                return Err(TokenError::invalid_token(format!(
                    "The Expiration Time time ({exp} seconds) was not after the Issued At time ({iat} seconds)"
                )));
            }
        }
        for required in &o.required_scope {
            if !scope.contains(required) {
                return Err(TokenError::insufficient_scope(
                    format!(
                        "The provided scope ({scope:?}) was missing a required scope ({required}).  All required scope elements: {:?}",
                        o.required_scope
                    ),
                    format!("[{}]", o.required_scope.join(", ")),
                ));
            }
        }
        Ok(OAuthBearerToken {
            value: token.to_string(),
            principal_name,
            scope,
            lifetime_ms: (exp * 1000.0).round() as i64,
            start_time_ms: iat.map(|iat| (iat * 1000.0).round() as i64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str, claims: &str) -> String {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("{}.{}.", e.encode(header), e.encode(claims))
    }

    fn validator(pairs: &[(&str, &str)]) -> UnsecuredValidator {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let options = UnsecuredValidatorOptions::from_options(&|k| {
            pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
        })
        .unwrap();
        UnsecuredValidator::new(options)
    }

    const NONE: &str = r#"{"alg":"none"}"#;

    #[test]
    fn accepts_unsigned_tokens_with_kafkas_rules() {
        let v = validator(&[]);
        let t = v
            .validate(
                &token(NONE, r#"{"sub":"alice","exp":100,"iat":10,"scope":["a"," b ",""]}"#),
                50_000,
            )
            .unwrap();
        assert_eq!(t.principal_name, "alice");
        assert_eq!(t.lifetime_ms, 100_000);
        assert_eq!(t.start_time_ms, Some(10_000));
        assert_eq!(t.scope, ["a".to_string(), "b".to_string()].into());

        for (claims, now) in [
            (r#"{"sub":"alice","exp":100}"#, 100_000),
            (r#"{"sub":"alice","iat":1}"#, 0),
            (r#"{"exp":100}"#, 0),
            (r#"{"sub":" ","exp":100}"#, 0),
            (r#"{"sub":1,"exp":100}"#, 0),
            (r#"{"sub":"a","exp":100,"iat":60}"#, 50_000),
            (r#"{"sub":"a","exp":100,"iat":100}"#, 0),
            (r#"{"sub":"a","exp":"100"}"#, 0),
            (r#"{"sub":"a","exp":100,"scope":7}"#, 0),
        ] {
            assert!(v.validate(&token(NONE, claims), now).is_err(), "{claims}");
        }
        assert!(
            v.validate(&token(r#"{"alg":"RS256"}"#, r#"{"sub":"a","exp":100}"#), 0)
                .is_err()
        );
        assert!(
            v.validate(&format!("{}sig", token(NONE, r#"{"sub":"a","exp":100}"#)), 0)
                .is_err()
        );
    }

    #[test]
    fn options_and_required_scope() {
        let v = validator(&[
            (PRINCIPAL_CLAIM_NAME_OPTION, "user"),
            (SCOPE_CLAIM_NAME_OPTION, "scp"),
            (REQUIRED_SCOPE_OPTION, "read  write"),
            (ALLOWABLE_CLOCK_SKEW_MS_OPTION, "5000"),
        ]);
        let ok = token(NONE, r#"{"user":"bob","exp":100,"scp":["read","write"]}"#);
        assert_eq!(v.validate(&ok, 104_000).unwrap().principal_name, "bob");
        let missing = token(NONE, r#"{"user":"bob","exp":100,"scp":"read"}"#);
        let err = v.validate(&missing, 0).unwrap_err();
        assert_eq!(
            err.to_kafka_json(),
            r#"{"status":"insufficient_scope", "scope":"[read, write]"}"#
        );
        for bad in [
            (REQUIRED_SCOPE_OPTION, "a\"b"),
            (ALLOWABLE_CLOCK_SKEW_MS_OPTION, "-1"),
            (ALLOWABLE_CLOCK_SKEW_MS_OPTION, "x"),
        ] {
            assert!(UnsecuredValidatorOptions::from_options(&|k| (k == bad.0).then(|| bad.1.to_string())).is_err());
        }
    }
}
