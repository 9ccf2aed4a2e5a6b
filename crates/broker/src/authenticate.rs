//! The authentication gate: SASL in front of dispatch.
//!
//! Every frame passes through [`Authenticator::intercept`] before a handler can see it. On a SASL
//! listener, until authentication completes only ApiVersions, SaslHandshake and SaslAuthenticate
//! are served (anything else closes the connection, as Kafka's `SaslServerAuthenticator` does),
//! frames are limited to `sasl.server.max.receive.size`, and a failed authentication is answered
//! after `connection.failed.authentication.delay.ms` and the connection closed. SaslHandshake v0
//! is followed by raw SASL tokens (no Kafka header), as older clients send them. On success the
//! connection gets a new [`Session`] with the authenticated principal; re-authentication (KIP-368)
//! must keep that principal and mechanism, and a session past its lifetime is closed at its next
//! request.
//!
//! Nothing here logs a token, password or SASL payload: failures are logged by reason only.

use crate::context::Broker;
use crate::session::Session;
use bytes::Bytes;
use sluice_protocol::ErrorCode;
use sluice_protocol::codec::Message;
use sluice_protocol::frame::peek_api_key_and_version;
use sluice_protocol::generated::{
    ResponseBody, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use sluice_protocol::registry::API_KEY_API_VERSIONS;
use sluice_security::KafkaPrincipal;
use sluice_security::oauth::{OAuthBearerServer, Step, TokenValidator, system_now_ms};
use sluice_security::plain::{PlainCredentials, PlainServer};
use sluice_security::scram::{ScramCredential, ScramCredentialLookup, ScramMechanism, ScramServer};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info};

/// SaslHandshake's API key.
pub const API_KEY_SASL_HANDSHAKE: i16 = 17;
/// SaslAuthenticate's API key.
pub const API_KEY_SASL_AUTHENTICATE: i16 = 36;

/// How a SASL listener authenticates, fixed at start-up.
pub struct SaslSettings {
    /// `sasl.enabled.mechanisms` for the listener, upper-case.
    pub mechanisms: Vec<String>,
    /// PLAIN's users, from the listener's `PlainLoginModule` JAAS options.
    pub plain: Option<Arc<PlainCredentials>>,
    /// OAUTHBEARER's token validator (JWKS-backed, or Kafka's unsecured one when named).
    pub oauth: Option<Arc<dyn TokenValidator>>,
    /// `sasl.server.max.receive.size`: the largest frame before authentication completes.
    pub max_receive_size: usize,
    /// `connections.max.reauth.ms` (0: sessions do not expire unless a token does).
    pub reauth_ms: i64,
    /// `connection.failed.authentication.delay.ms`.
    pub failed_delay: Duration,
}

impl std::fmt::Debug for SaslSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslSettings")
            .field("mechanisms", &self.mechanisms)
            .field("max_receive_size", &self.max_receive_size)
            .field("reauth_ms", &self.reauth_ms)
            .finish_non_exhaustive()
    }
}

/// What the connection does with a frame after the gate looked at it.
pub enum Intercept {
    /// Not the gate's business: decode and dispatch it.
    Pass,
    /// Answer with this response (Kafka framing, the request's version and correlation id).
    Reply {
        body: ResponseBody,
        version: i16,
        correlation_id: i32,
    },
    /// Answer with these raw SASL bytes (after a v0 handshake), length-prefixed, no header.
    RawReply(Bytes),
    /// Answer, then close after `delay`: a failed authentication.
    ReplyAndClose {
        /// The response.
        body: ResponseBody,
        /// Its version.
        version: i16,
        /// Its correlation id.
        correlation_id: i32,
        /// How long to hold the answer (and the connection) first.
        delay: Duration,
        /// For the log.
        reason: String,
    },
    /// Close without an answer.
    Close(String),
}

/// One mechanism's server side, as the gate drives it.
trait Exchange: Send {
    /// Takes the client's token; returns the server's, or the client-facing failure.
    fn evaluate(&mut self, token: &[u8], reauthenticating: bool) -> Result<Vec<u8>, Failure>;
    /// The authenticated user and, for tokens, when the credential expires (ms since the epoch).
    fn outcome(&self) -> Option<(String, Option<i64>)>;
}

/// A refused exchange: the code and message for the client, the reason for the log.
struct Failure {
    code: ErrorCode,
    message: String,
    log: String,
}

fn code_of(code: i16) -> ErrorCode {
    ErrorCode::from_code(code).unwrap_or(ErrorCode::SaslAuthenticationFailed)
}

impl Exchange for ScramServer<ImageScram> {
    fn evaluate(&mut self, token: &[u8], reauthenticating: bool) -> Result<Vec<u8>, Failure> {
        let mechanism = self.mechanism();
        ScramServer::evaluate(self, token).map_err(|e| Failure {
            code: code_of(e.error_code()),
            message: e.client_message(mechanism, reauthenticating),
            log: e.to_string(),
        })
    }
    fn outcome(&self) -> Option<(String, Option<i64>)> {
        self.authenticated_user().map(|u| (u.to_string(), None))
    }
}

impl Exchange for PlainServer<Arc<PlainCredentials>> {
    fn evaluate(&mut self, token: &[u8], reauthenticating: bool) -> Result<Vec<u8>, Failure> {
        PlainServer::evaluate(self, token).map_err(|e| Failure {
            code: code_of(e.error_code()),
            message: e.client_message(reauthenticating),
            log: e.to_string(),
        })
    }
    fn outcome(&self) -> Option<(String, Option<i64>)> {
        self.authenticated_user().map(|u| (u.to_string(), None))
    }
}

impl Exchange for OAuthBearerServer {
    fn evaluate(&mut self, token: &[u8], reauthenticating: bool) -> Result<Vec<u8>, Failure> {
        match OAuthBearerServer::evaluate(self, token) {
            Ok(Step::Complete) => Ok(Vec::new()),
            Ok(Step::Challenge(bytes)) => Ok(bytes),
            Err(e) => Err(Failure {
                code: ErrorCode::SaslAuthenticationFailed,
                message: e.client_message(reauthenticating),
                log: e.to_string(),
            }),
        }
    }
    fn outcome(&self) -> Option<(String, Option<i64>)> {
        self.authorization_id()
            .map(|u| (u.to_string(), self.credential_lifetime_ms()))
    }
}

/// SCRAM credentials read from the metadata image at the moment of the exchange, so a credential
/// changed by AlterUserScramCredentials applies to the next authentication.
pub struct ImageScram(Arc<Broker>);

impl ScramCredentialLookup for ImageScram {
    fn scram_credential(&self, mechanism: ScramMechanism, username: &str) -> Option<ScramCredential> {
        let store = self.0.metadata();
        let entry = store.image().scram.get(username)?.get(&mechanism.code())?.clone();
        Some(ScramCredential {
            mechanism,
            salt: entry.salt,
            stored_key: entry.stored_key,
            server_key: entry.server_key,
            iterations: u32::try_from(entry.iterations).ok()?,
        })
    }
}

enum State {
    /// Waiting for a SaslHandshake (or, authenticated, for nothing in particular).
    Idle,
    /// A mechanism was chosen; tokens come in SaslAuthenticate requests, or raw after v0.
    Exchanging {
        mechanism: String,
        exchange: Box<dyn Exchange>,
        raw: bool,
    },
}

/// One connection's authentication state.
pub struct Authenticator {
    sasl: Option<Arc<SaslSettings>>,
    state: State,
    authenticated: bool,
    /// When the session ends (KIP-368), if it does.
    expires_at: Option<Instant>,
}

impl Authenticator {
    /// The gate for a connection on a listener with these SASL settings (`None`: not a SASL
    /// listener, so the connection is authenticated by its transport from the start).
    pub fn new(sasl: Option<Arc<SaslSettings>>) -> Authenticator {
        let authenticated = sasl.is_none();
        Authenticator {
            sasl,
            state: State::Idle,
            authenticated,
            expires_at: None,
        }
    }

    /// Whether requests other than the SASL ones may be served.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// The largest frame to accept now: `sasl.server.max.receive.size` until authenticated.
    pub fn frame_bytes_max(&self, normal: usize) -> usize {
        match &self.sasl {
            Some(s) if !self.authenticated => normal.min(s.max_receive_size),
            _ => normal,
        }
    }

    /// Looks at a frame before dispatch; may replace the session on success.
    pub fn intercept(&mut self, broker: &Arc<Broker>, session: &mut Arc<Session>, frame: &Bytes) -> Intercept {
        let Some(sasl) = self.sasl.clone() else {
            return Intercept::Pass;
        };
        if let State::Exchanging { raw: true, .. } = self.state {
            return self.raw_token(session, frame);
        }
        let Some((key, version)) = peek_api_key_and_version(frame) else {
            return Intercept::Pass; // the connection reports it as malformed
        };
        match key {
            API_KEY_SASL_HANDSHAKE | API_KEY_SASL_AUTHENTICATE => {
                let mut rest = frame.clone();
                let header = match sluice_protocol::frame::decode_request_header(&mut rest) {
                    Ok((h, _)) => h,
                    Err(_) => return Intercept::Pass,
                };
                if !crate::handlers::serves(key, version) {
                    return Intercept::Pass;
                }
                let correlation_id = header.correlation_id;
                if key == API_KEY_SASL_HANDSHAKE {
                    match SaslHandshakeRequest::decode(&mut rest, version) {
                        Ok(req) => self.handshake(broker, &sasl, session, req, version, correlation_id),
                        Err(e) => Intercept::Close(format!("malformed SaslHandshake: {e}")),
                    }
                } else {
                    match SaslAuthenticateRequest::decode(&mut rest, version) {
                        Ok(req) => self.authenticate(&sasl, session, &req.auth_bytes, version, correlation_id),
                        Err(e) => Intercept::Close(format!("malformed SaslAuthenticate: {e}")),
                    }
                }
            }
            API_KEY_API_VERSIONS => Intercept::Pass,
            _ if !self.authenticated => {
                let name = sluice_protocol::api(key).map(|a| a.name).unwrap_or("unknown");
                Intercept::Close(format!(
                    "unexpected {name} request before SASL authentication completed"
                ))
            }
            _ => match self.expires_at {
                Some(at) if Instant::now() >= at && matches!(self.state, State::Idle) => {
                    Intercept::Close("the SASL session expired and the client did not re-authenticate".into())
                }
                _ => Intercept::Pass,
            },
        }
    }

    fn handshake(
        &mut self,
        broker: &Arc<Broker>,
        sasl: &SaslSettings,
        session: &Arc<Session>,
        req: SaslHandshakeRequest,
        version: i16,
        correlation_id: i32,
    ) -> Intercept {
        let mechanisms = sasl.mechanisms.clone();
        let refuse = |code: ErrorCode, reason: String| Intercept::ReplyAndClose {
            body: SaslHandshakeResponse {
                error_code: code.code(),
                mechanisms: mechanisms.clone(),
            }
            .into(),
            version,
            correlation_id,
            delay: sasl.failed_delay,
            reason,
        };
        if !matches!(self.state, State::Idle) {
            return refuse(
                ErrorCode::IllegalSaslState,
                "SaslHandshake during a SASL exchange".into(),
            );
        }
        let mechanism = req.mechanism.to_ascii_uppercase();
        if !sasl.mechanisms.contains(&mechanism) {
            return refuse(
                ErrorCode::UnsupportedSaslMechanism,
                format!("client asked for SASL mechanism {:.40}, not enabled", req.mechanism),
            );
        }
        if self.authenticated {
            if version == 0 {
                return refuse(
                    ErrorCode::IllegalSaslState,
                    "re-authentication needs SaslHandshake v1".into(),
                );
            }
            if session.sasl_mechanism.as_deref() != Some(mechanism.as_str()) {
                return refuse(
                    ErrorCode::IllegalSaslState,
                    "re-authentication must use the mechanism of the session".into(),
                );
            }
        }
        let Some(exchange) = new_exchange(broker, sasl, &mechanism) else {
            return refuse(
                ErrorCode::UnsupportedSaslMechanism,
                format!("{mechanism} has no credentials"),
            );
        };
        self.state = State::Exchanging {
            mechanism,
            exchange,
            raw: version == 0,
        };
        Intercept::Reply {
            body: SaslHandshakeResponse {
                error_code: 0,
                mechanisms,
            }
            .into(),
            version,
            correlation_id,
        }
    }

    fn authenticate(
        &mut self,
        sasl: &SaslSettings,
        session: &mut Arc<Session>,
        token: &[u8],
        version: i16,
        correlation_id: i32,
    ) -> Intercept {
        let reply = |error: Option<(ErrorCode, String)>, bytes: Vec<u8>, lifetime_ms: i64| SaslAuthenticateResponse {
            error_code: error.as_ref().map_or(0, |e| e.0.code()),
            error_message: error.map(|e| e.1),
            auth_bytes: Bytes::from(bytes),
            session_lifetime_ms: lifetime_ms,
            ..Default::default()
        };
        match self.step(sasl, session, token) {
            Step2::Continue(bytes, lifetime_ms) => Intercept::Reply {
                body: reply(None, bytes, lifetime_ms).into(),
                version,
                correlation_id,
            },
            Step2::Fail { code, message, log } => Intercept::ReplyAndClose {
                body: reply(Some((code, message)), Vec::new(), 0).into(),
                version,
                correlation_id,
                delay: sasl.failed_delay,
                reason: log,
            },
        }
    }

    fn raw_token(&mut self, session: &mut Arc<Session>, token: &Bytes) -> Intercept {
        let sasl = self.sasl.clone().expect("raw tokens only on SASL listeners");
        match self.step(&sasl, session, token) {
            Step2::Continue(bytes, _) => Intercept::RawReply(Bytes::from(bytes)),
            // Kafka closes a v0 exchange without a Kafka response: there is no frame for one.
            Step2::Fail { log, .. } => Intercept::Close(log),
        }
    }

    /// Feeds one token to the current exchange and settles the session when it completes.
    fn step(&mut self, sasl: &SaslSettings, session: &mut Arc<Session>, token: &[u8]) -> Step2 {
        let reauthenticating = self.authenticated;
        let State::Exchanging {
            mechanism, exchange, ..
        } = &mut self.state
        else {
            return Step2::Fail {
                code: ErrorCode::IllegalSaslState,
                message: "SaslAuthenticate before SaslHandshake".into(),
                log: "SaslAuthenticate before SaslHandshake".into(),
            };
        };
        let bytes = match exchange.evaluate(token, reauthenticating) {
            Ok(bytes) => bytes,
            Err(f) => {
                self.state = State::Idle;
                return Step2::Fail {
                    code: f.code,
                    message: f.message,
                    log: format!("SASL authentication failed: {}", f.log),
                };
            }
        };
        let Some((user, token_expiry_ms)) = exchange.outcome() else {
            return Step2::Continue(bytes, 0);
        };
        let mechanism = mechanism.clone();
        self.state = State::Idle;
        let principal = KafkaPrincipal::user(user);
        if reauthenticating && principal != session.principal {
            return Step2::Fail {
                code: ErrorCode::SaslAuthenticationFailed,
                message: "Cannot change principals during re-authentication".into(),
                log: "re-authentication tried to change the principal".into(),
            };
        }
        let lifetime_ms = session_lifetime_ms(sasl.reauth_ms, token_expiry_ms, system_now_ms());
        self.expires_at = (lifetime_ms > 0).then(|| Instant::now() + Duration::from_millis(lifetime_ms as u64));
        if !reauthenticating {
            info!(peer = %session.peer, listener = %session.listener.name, %principal, %mechanism, "authenticated");
        } else {
            debug!(peer = %session.peer, %principal, "re-authenticated");
        }
        let mut next = (**session).clone();
        next.principal = principal;
        next.sasl_mechanism = Some(mechanism);
        *session = Arc::new(next);
        self.authenticated = true;
        Step2::Continue(bytes, lifetime_ms)
    }
}

/// The result of one token.
enum Step2 {
    /// Send these bytes; the session lifetime in ms (0: unlimited) once complete.
    Continue(Vec<u8>, i64),
    /// Refused.
    Fail {
        code: ErrorCode,
        message: String,
        log: String,
    },
}

/// A session's lifetime as KIP-368 sets it: `connections.max.reauth.ms` if set, capped by the
/// token's expiry; 0 when neither applies. An already expired token gets 1 ms, never 0 (which
/// would mean "forever").
fn session_lifetime_ms(reauth_ms: i64, token_expiry_ms: Option<i64>, now_ms: i64) -> i64 {
    let token_left = token_expiry_ms.map(|exp| (exp - now_ms).max(1));
    match (reauth_ms > 0, token_left) {
        (true, Some(left)) => reauth_ms.min(left),
        (true, None) => reauth_ms,
        (false, Some(left)) => left,
        (false, None) => 0,
    }
}

fn new_exchange(broker: &Arc<Broker>, sasl: &SaslSettings, mechanism: &str) -> Option<Box<dyn Exchange>> {
    if let Some(m) = ScramMechanism::from_name(mechanism) {
        return Some(Box::new(ScramServer::new(m, ImageScram(broker.clone()))));
    }
    match mechanism {
        "PLAIN" => sasl
            .plain
            .clone()
            .map(|c| Box::new(PlainServer::new(c)) as Box<dyn Exchange>),
        "OAUTHBEARER" => sasl
            .oauth
            .clone()
            .map(|v| Box::new(OAuthBearerServer::new(v)) as Box<dyn Exchange>),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_lifetime_follows_kip_368() {
        assert_eq!(session_lifetime_ms(0, None, 1_000), 0);
        assert_eq!(session_lifetime_ms(60_000, None, 1_000), 60_000);
        assert_eq!(session_lifetime_ms(60_000, Some(31_000), 1_000), 30_000);
        assert_eq!(session_lifetime_ms(0, Some(31_000), 1_000), 30_000);
        assert_eq!(
            session_lifetime_ms(0, Some(500), 1_000),
            1,
            "an expired token never means forever"
        );
    }
}
