//! The server side of the SASL/OAUTHBEARER exchange (RFC 7628), as Kafka's `OAuthBearerSaslServer`
//! runs it.
//!
//! The exchange is at most two round trips. The client's first message carries the token; on
//! success the server answers with nothing and is done. On failure the server answers with an
//! error JSON (RFC 7628 section 3.2.2) and waits: the client must acknowledge with the single
//! byte `0x01`, and the server then fails the authentication with the JSON as the message.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{OAuthBearerToken, TokenValidator, system_now_ms};

/// The SASL mechanism name, as clients request it in `SaslHandshake`.
pub const MECHANISM: &str = "OAUTHBEARER";

/// The largest client message accepted, in bytes: Kafka's default `sasl.server.max.receive.size`
/// (524288). The broker should bound frames before they get here; this keeps the state machine
/// safe on its own, since a token is parsed and a regex-like scan runs over the whole message.
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 524_288;

const SEPARATOR: u8 = 0x01;
const AUTH_KEY: &str = "auth";

/// What the server answers to one client message, when the exchange goes on or has succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Authentication succeeded; send an empty `SaslAuthenticate` response. The principal and the
    /// token's lifetime are now available from the server.
    Complete,
    /// The token was refused; send these bytes (Kafka's error JSON) as the challenge. The client
    /// is expected to reply `0x01`, at which point [`OAuthBearerServer::evaluate`] fails with
    /// [`SaslError::Authentication`] carrying the same JSON.
    Challenge(Vec<u8>),
}

/// How an exchange fails, split the way Kafka splits it because the two reach the client
/// differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// Kafka's `SaslAuthenticationException`: the message is meant for the client and goes into
    /// the `SaslAuthenticate` response's error message verbatim.
    #[error("{0}")]
    Authentication(String),
    /// Kafka's plain `SaslException` (a malformed message, an exchange driven out of order): the
    /// detail is for the broker's log only; the client gets [`SaslError::client_message`].
    #[error("{0}")]
    Protocol(String),
}

impl SaslError {
    /// The error message the broker should put in the `SaslAuthenticate` response, exactly as a
    /// Kafka broker words it (`SaslServerAuthenticator`): the detail for
    /// [`SaslError::Authentication`], a generic sentence for [`SaslError::Protocol`] so that
    /// nothing about the failure leaks to an unauthenticated client.
    pub fn client_message(&self, reauthenticating: bool) -> String {
        match self {
            SaslError::Authentication(message) => message.clone(),
            SaslError::Protocol(_) => format!(
                "Authentication failed during {} due to invalid credentials with SASL mechanism {MECHANISM}",
                if reauthenticating {
                    "re-authentication"
                } else {
                    "authentication"
                }
            ),
        }
    }
}

/// The parsed client initial response: `n,[a=authzid],^Aauth=Bearer <token>^A[key=value^A...]^A`.
///
/// Parsing follows Kafka's `OAuthBearerClientInitialResponse` regular expressions exactly: the
/// authzid is a SASLname kept in its encoded form (`=2C`, `=3D` are not decoded, as in Kafka),
/// keys are `[A-Za-z]+`, values `[\x21-\x7E \t\r\n]+`, a repeated key keeps its last value, and the
/// `auth` value must be a `bearer` scheme (any case) followed by a token of RFC 6750 `b64token`
/// characters.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientInitialResponse {
    /// The bearer token.
    pub token: String,
    /// The requested authorization id, empty when the client sent none.
    pub authorization_id: String,
    /// The SASL extensions (every key=value pair except `auth`).
    pub extensions: BTreeMap<String, String>,
}

impl std::fmt::Debug for ClientInitialResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientInitialResponse")
            .field("token", &"<redacted>")
            .field("authorization_id", &self.authorization_id)
            .field("extensions", &self.extensions)
            .finish()
    }
}

fn invalid_first_message() -> SaslError {
    SaslError::Protocol("Invalid OAUTHBEARER client first message".into())
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphabetic()
}

fn is_value_byte(b: u8) -> bool {
    (0x21..=0x7E).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Checks a SASLname: one or more of `[\x01-\x7F]` except `=` and `,`, or the escapes `=2C`/`=3D`.
fn is_sasl_name(name: &[u8]) -> bool {
    if name.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < name.len() {
        match name[i] {
            b'=' => {
                let escape = name.get(i + 1..i + 3);
                if escape != Some(b"2C") && escape != Some(b"3D") {
                    return false;
                }
                i += 3;
            }
            b',' => return false,
            0x01..=0x7F => i += 1,
            _ => return false,
        }
    }
    true
}

/// Splits `auth` into scheme and token per Kafka's `(?<scheme>\w+)[ ]+(?<token>[-_~+/.a-zA-Z0-9]+=*)`.
fn parse_auth(auth: &str) -> Option<(&str, &str)> {
    let bytes = auth.as_bytes();
    let scheme_end = bytes.iter().position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))?;
    if scheme_end == 0 {
        return None;
    }
    let mut token_start = scheme_end;
    while token_start < bytes.len() && bytes[token_start] == b' ' {
        token_start += 1;
    }
    if token_start == scheme_end {
        return None;
    }
    let token = &bytes[token_start..];
    let body_end = token
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~' | b'+' | b'/' | b'.')))
        .unwrap_or(token.len());
    if body_end == 0 || !token[body_end..].iter().all(|b| *b == b'=') {
        return None;
    }
    Some((&auth[..scheme_end], &auth[token_start..]))
}

impl ClientInitialResponse {
    /// Parses a client first message; errors carry Kafka's `SaslException` messages.
    pub fn parse(message: &[u8]) -> Result<Self, SaslError> {
        if message.len() > MAX_CLIENT_MESSAGE_BYTES {
            return Err(SaslError::Protocol(format!(
                "OAUTHBEARER client first message of {} bytes exceeds the limit of {MAX_CLIENT_MESSAGE_BYTES}",
                message.len()
            )));
        }
        let rest = message.strip_prefix(b"n,").ok_or_else(invalid_first_message)?;
        // gs2 header: optional `a=<saslname>`, then `,`.
        let (authorization_id, rest) = if let Some(after) = rest.strip_prefix(b"a=") {
            let comma = after
                .iter()
                .position(|b| *b == b',')
                .ok_or_else(invalid_first_message)?;
            let name = &after[..comma];
            if !is_sasl_name(name) {
                return Err(invalid_first_message());
            }
            // ASCII-only by the check above.
            (String::from_utf8_lossy(name).into_owned(), &after[comma + 1..])
        } else {
            (
                String::new(),
                rest.strip_prefix(b",").ok_or_else(invalid_first_message)?,
            )
        };
        let mut rest = rest.strip_prefix(&[SEPARATOR]).ok_or_else(invalid_first_message)?;
        let mut properties = BTreeMap::new();
        loop {
            if rest == [SEPARATOR] {
                break;
            }
            let key_end = rest
                .iter()
                .position(|b| !is_key_byte(*b))
                .ok_or_else(invalid_first_message)?;
            if key_end == 0 || rest[key_end] != b'=' {
                return Err(invalid_first_message());
            }
            let value = &rest[key_end + 1..];
            let value_end = value
                .iter()
                .position(|b| !is_value_byte(*b))
                .ok_or_else(invalid_first_message)?;
            if value_end == 0 || value[value_end] != SEPARATOR {
                return Err(invalid_first_message());
            }
            // Both parts are ASCII by the byte checks.
            let key = String::from_utf8_lossy(&rest[..key_end]).into_owned();
            let val = String::from_utf8_lossy(&value[..value_end]).into_owned();
            properties.insert(key, val);
            rest = &value[value_end + 1..];
        }
        let auth = properties.remove(AUTH_KEY).ok_or_else(|| {
            SaslError::Protocol("Invalid OAUTHBEARER client first message: 'auth' not specified".into())
        })?;
        // Every remaining key and value already matched Kafka's extension patterns above, and
        // `auth` has been removed, so Kafka's `validateExtensions` has nothing left to refuse.
        let (scheme, token) = parse_auth(&auth).ok_or_else(|| {
            SaslError::Protocol("Invalid OAUTHBEARER client first message: invalid 'auth' format".into())
        })?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(SaslError::Protocol(format!(
                "Invalid scheme in OAUTHBEARER client first message: {scheme}"
            )));
        }
        Ok(ClientInitialResponse {
            token: token.to_string(),
            authorization_id,
            extensions: properties,
        })
    }
}

/// What a completed exchange established.
#[derive(Debug, Clone)]
struct Authenticated {
    token: OAuthBearerToken,
    extensions: BTreeMap<String, String>,
}

/// One connection's SASL/OAUTHBEARER exchange, as a state machine with no I/O.
///
/// Create one per authentication (and per KIP-368 re-authentication), feed it each
/// `SaslAuthenticate` request's bytes through [`evaluate`](Self::evaluate), and send back what it
/// returns. Once [`is_complete`](Self::is_complete), read the principal from
/// [`authorization_id`](Self::authorization_id) and cap the session at
/// [`credential_lifetime_ms`](Self::credential_lifetime_ms).
pub struct OAuthBearerServer {
    validator: Arc<dyn TokenValidator>,
    /// The error JSON last sent, so the client's `0x01` acknowledgement can fail with it.
    error_message: Option<String>,
    authenticated: Option<Authenticated>,
}

impl std::fmt::Debug for OAuthBearerServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthBearerServer")
            .field("error_message", &self.error_message)
            .field("authenticated", &self.authenticated)
            .finish_non_exhaustive()
    }
}

impl OAuthBearerServer {
    /// A fresh exchange that validates tokens with `validator`.
    pub fn new(validator: Arc<dyn TokenValidator>) -> Self {
        OAuthBearerServer {
            validator,
            error_message: None,
            authenticated: None,
        }
    }

    /// Processes one client message, reading the clock for token time checks.
    pub fn evaluate(&mut self, client_message: &[u8]) -> Result<Step, SaslError> {
        self.evaluate_at(client_message, system_now_ms())
    }

    /// Processes one client message as of `now_ms` (milliseconds since the Unix epoch).
    ///
    /// As in Kafka: the byte `0x01` after an error challenge fails with the challenge's JSON as a
    /// [`SaslError::Authentication`]; any other message is parsed as a (new) initial response. A
    /// malformed message is a [`SaslError::Protocol`]; an authzid that differs from the token's
    /// principal, or refused extensions, are [`SaslError::Authentication`] with Kafka's text.
    pub fn evaluate_at(&mut self, client_message: &[u8], now_ms: i64) -> Result<Step, SaslError> {
        if self.authenticated.is_some() {
            return Err(SaslError::Protocol("OAUTHBEARER exchange has already completed".into()));
        }
        if client_message == [SEPARATOR] {
            if let Some(error) = self.error_message.take() {
                return Err(SaslError::Authentication(error));
            }
        }
        self.error_message = None;
        let response = ClientInitialResponse::parse(client_message)?;
        let token = match self.validator.validate(&response.token, now_ms) {
            Ok(token) => token,
            Err(error) => {
                tracing::debug!(reason = %error.reason, "OAUTHBEARER token refused");
                let json = error.to_kafka_json();
                self.error_message = Some(json.clone());
                return Ok(Step::Challenge(json.into_bytes()));
            }
        };
        if !response.authorization_id.is_empty() && response.authorization_id != token.principal_name {
            return Err(SaslError::Authentication(format!(
                "Authentication failed: Client requested an authorization id ({}) that is different from the token's principal name ({})",
                response.authorization_id, token.principal_name
            )));
        }
        let invalid = self.validator.validate_extensions(&token, &response.extensions);
        if !invalid.is_empty() {
            let listed: Vec<String> = invalid.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            return Err(SaslError::Authentication(format!(
                "Authentication failed: {} extensions are invalid! They are: {}",
                invalid.len(),
                listed.join("; ")
            )));
        }
        tracing::debug!(principal = %token.principal_name, "OAUTHBEARER authentication succeeded");
        self.authenticated = Some(Authenticated {
            token,
            extensions: response.extensions,
        });
        Ok(Step::Complete)
    }

    /// Whether the exchange has succeeded.
    pub fn is_complete(&self) -> bool {
        self.authenticated.is_some()
    }

    /// The authenticated principal name (Kafka's `getAuthorizationID`), once complete.
    pub fn authorization_id(&self) -> Option<&str> {
        self.authenticated.as_ref().map(|a| a.token.principal_name.as_str())
    }

    /// The validated token (Kafka's `OAUTHBEARER.token` negotiated property), once complete.
    pub fn token(&self) -> Option<&OAuthBearerToken> {
        self.authenticated.as_ref().map(|a| &a.token)
    }

    /// When the credential expires, in milliseconds since the Unix epoch (Kafka's
    /// `CREDENTIAL.LIFETIME.MS` negotiated property): the broker must end or re-authenticate the
    /// session by then (KIP-368), so a revoked or expired token cannot keep a connection alive.
    pub fn credential_lifetime_ms(&self) -> Option<i64> {
        self.authenticated.as_ref().map(|a| a.token.lifetime_ms)
    }

    /// The accepted SASL extensions, once complete (Kafka exposes each as a negotiated property).
    pub fn extensions(&self) -> Option<&BTreeMap<String, String>> {
        self.authenticated.as_ref().map(|a| &a.extensions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_client_messages() {
        let r = ClientInitialResponse::parse(b"n,,\x01auth=Bearer abc.def.ghi\x01\x01").unwrap();
        assert_eq!(r.token, "abc.def.ghi");
        assert_eq!(r.authorization_id, "");
        assert!(r.extensions.is_empty());

        let r =
            ClientInitialResponse::parse(b"n,a=us=2Cer,\x01auth=bearer   tok==\x01ext=a b=c\x01ext=2\x01\x01").unwrap();
        assert_eq!(r.token, "tok==");
        assert_eq!(r.authorization_id, "us=2Cer");
        assert_eq!(r.extensions.get("ext").map(String::as_str), Some("2"));
    }

    #[test]
    fn refuses_malformed_client_messages() {
        let bad: &[&[u8]] = &[
            b"",
            b"\x01",
            b"y,,\x01auth=Bearer t\x01\x01",
            b"n,,\x01auth=Bearer t\x01",
            b"n,,auth=Bearer t\x01\x01",
            b"n,a=,\x01auth=Bearer t\x01\x01",
            b"n,a=x=41,\x01auth=Bearer t\x01\x01",
            b"n,,\x01auth=Bearer t\x01\x01\x01",
            b"n,,\x01k1=v\x01\x01",
            b"n,,\x01auth=Bearer t\x01bad-key=v\x01\x01",
            b"n,,\x01auth=Bearer t\x01k=\x01\x01",
            b"n,,\x01auth=Bearer t\x01k=\xc3\xa9\x01\x01",
            b"n,,\x01auth=Bearer\x01\x01",
            b"n,,\x01auth=Bearer t=x\x01\x01",
            b"n,,\x01auth= Bearer t\x01\x01",
            b"n,,\x01auth=Basic dXNlcg==\x01\x01",
        ];
        for message in bad {
            assert!(
                matches!(ClientInitialResponse::parse(message), Err(SaslError::Protocol(_))),
                "{:?}",
                String::from_utf8_lossy(message)
            );
        }
        let huge = vec![b'a'; MAX_CLIENT_MESSAGE_BYTES + 1];
        assert!(ClientInitialResponse::parse(&huge).is_err());
    }

    #[test]
    fn protocol_errors_reach_the_client_as_kafka_words_them() {
        let e = SaslError::Protocol("detail".into());
        assert_eq!(
            e.client_message(false),
            "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER"
        );
        assert!(e.client_message(true).contains("during re-authentication"));
        assert_eq!(SaslError::Authentication("x".into()).client_message(false), "x");
    }
}

#[cfg(test)]
mod server_tests {
    use super::*;
    use crate::oauth::TokenError;

    /// Accepts the token "good" as principal "alice"; refuses anything else; refuses the
    /// extension `bad`.
    struct Stub;

    impl TokenValidator for Stub {
        fn validate(&self, token: &str, _now_ms: i64) -> Result<OAuthBearerToken, TokenError> {
            if token != "good" {
                return Err(TokenError::invalid_token("not good"));
            }
            Ok(OAuthBearerToken {
                value: token.into(),
                principal_name: "alice".into(),
                scope: Default::default(),
                lifetime_ms: 42_000,
                start_time_ms: None,
            })
        }

        fn validate_extensions(
            &self,
            _token: &OAuthBearerToken,
            extensions: &BTreeMap<String, String>,
        ) -> Vec<(String, String)> {
            extensions
                .iter()
                .filter(|(k, _)| *k == "bad")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
    }

    fn server() -> OAuthBearerServer {
        OAuthBearerServer::new(Arc::new(Stub))
    }

    #[test]
    fn success_records_principal_and_lifetime_and_then_refuses_more_messages() {
        let mut s = server();
        assert!(!s.is_complete());
        assert_eq!(s.authorization_id(), None);
        assert_eq!(
            s.evaluate_at(b"n,a=alice,\x01auth=Bearer good\x01x=1\x01\x01", 0),
            Ok(Step::Complete)
        );
        assert_eq!(s.authorization_id(), Some("alice"));
        assert_eq!(s.credential_lifetime_ms(), Some(42_000));
        assert_eq!(s.extensions().unwrap().get("x").map(String::as_str), Some("1"));
        assert!(matches!(s.evaluate_at(b"\x01", 0), Err(SaslError::Protocol(_))));
    }

    #[test]
    fn a_refused_token_gets_the_error_json_then_fails_on_the_acknowledgement() {
        let mut s = server();
        let challenge = s.evaluate_at(b"n,,\x01auth=Bearer nope\x01\x01", 0).unwrap();
        assert_eq!(challenge, Step::Challenge(br#"{"status":"invalid_token"}"#.to_vec()));
        assert_eq!(
            s.evaluate_at(b"\x01", 0),
            Err(SaslError::Authentication(r#"{"status":"invalid_token"}"#.into()))
        );
        // As in Kafka, a client that answers the challenge with a new initial response gets a
        // fresh evaluation instead.
        let mut s = server();
        assert!(matches!(
            s.evaluate_at(b"n,,\x01auth=Bearer nope\x01\x01", 0),
            Ok(Step::Challenge(_))
        ));
        assert_eq!(s.evaluate_at(b"n,,\x01auth=Bearer good\x01\x01", 0), Ok(Step::Complete));
    }

    #[test]
    fn authzid_and_extension_refusals_use_kafkas_messages() {
        let err = server()
            .evaluate_at(b"n,a=bob,\x01auth=Bearer good\x01\x01", 0)
            .unwrap_err();
        assert_eq!(
            err,
            SaslError::Authentication(
                "Authentication failed: Client requested an authorization id (bob) that is different from the token's principal name (alice)".into()
            )
        );
        let err = server()
            .evaluate_at(b"n,,\x01auth=Bearer good\x01bad=v w\x01\x01", 0)
            .unwrap_err();
        assert_eq!(
            err,
            SaslError::Authentication("Authentication failed: 1 extensions are invalid! They are: bad: v w".into())
        );
    }

    #[test]
    fn error_json_carries_scope_and_openid_configuration_like_kafka() {
        let mut e = TokenError::insufficient_scope("r", "[a, b]");
        e.openid_configuration = Some("https://idp/.well-known/openid-configuration".into());
        assert_eq!(
            e.to_kafka_json(),
            r#"{"status":"insufficient_scope", "scope":"[a, b]", "openid-configuration":"https://idp/.well-known/openid-configuration"}"#
        );
    }
}
