//! SASL/PLAIN (RFC 4616) as the broker's side of the exchange, with Kafka's JAAS-configured
//! users (`user_<name>="<password>"` options of `PlainLoginModule`).
//!
//! Parsing and error texts follow Kafka's `PlainSaslServer` and `PlainServerCallbackHandler`.
//! One deliberate difference: a token with more than two NUL separators is refused, where Kafka's
//! splitter silently drops what follows the third field.

use std::collections::HashMap;
use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::jaas::JaasConfig;
use crate::scram::generic_failure_message;

/// The SASL mechanism name.
pub const PLAIN_MECHANISM: &str = "PLAIN";

/// The login module whose options hold the PLAIN users, as Kafka requires.
pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

/// The prefix of the JAAS options that define users.
pub const JAAS_USER_PREFIX: &str = "user_";

/// The largest PLAIN token accepted. RFC 4616 asks for 255 bytes per field; passwords that are
/// really tokens can be longer, so allow generously, but keep an unauthenticated peer from making
/// the broker hash megabytes.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// Checks a username and password. [`PlainCredentials`] implements it from a JAAS config; a broker
/// may implement it over another store. Implementations must not reveal through timing whether
/// the user exists.
pub trait PlainAuthenticator {
    /// Whether `password` is the password of `username`.
    fn authenticate(&self, username: &str, password: &str) -> bool;
}

impl<A: PlainAuthenticator + ?Sized> PlainAuthenticator for &A {
    fn authenticate(&self, username: &str, password: &str) -> bool {
        (**self).authenticate(username, password)
    }
}

impl<A: PlainAuthenticator + ?Sized> PlainAuthenticator for std::sync::Arc<A> {
    fn authenticate(&self, username: &str, password: &str) -> bool {
        (**self).authenticate(username, password)
    }
}

/// The users Kafka's `PlainServerCallbackHandler` would accept, held as SHA-256 digests of the
/// passwords so that comparisons take the same time whatever the password lengths, and no clear
/// password stays in memory longer than the JAAS config does.
#[derive(Clone, Default)]
pub struct PlainCredentials {
    users: HashMap<String, [u8; 32]>,
}

impl PlainCredentials {
    /// No users; fill with [`insert`](Self::insert).
    pub fn new() -> PlainCredentials {
        PlainCredentials::default()
    }

    /// The users defined by the `user_<name>` options of a `PlainLoginModule` config (the
    /// `listener.name.<l>.plain.sasl.jaas.config` of the listener). A config of another login
    /// module is refused: Kafka would silently accept nobody, which is never what was meant.
    pub fn from_jaas(config: &JaasConfig) -> Result<PlainCredentials, PlainError> {
        if config.login_module != PLAIN_LOGIN_MODULE {
            return Err(PlainError::WrongLoginModule(config.login_module.clone()));
        }
        let mut credentials = PlainCredentials::new();
        for (key, value) in config.options() {
            if let Some(user) = key.strip_prefix(JAAS_USER_PREFIX) {
                credentials.insert(user, value);
            }
        }
        Ok(credentials)
    }

    /// Adds or replaces a user.
    pub fn insert(&mut self, username: impl Into<String>, password: &str) {
        self.users.insert(username.into(), digest(password));
    }

    /// How many users are defined.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether no user is defined (then every PLAIN login fails).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

fn digest(password: &str) -> [u8; 32] {
    Sha256::digest(password.as_bytes()).into()
}

impl PlainAuthenticator for PlainCredentials {
    fn authenticate(&self, username: &str, password: &str) -> bool {
        // An unknown user is compared against a digest no password has, so that the work done is
        // the same as for a known user.
        const NO_PASSWORD: [u8; 32] = [0; 32];
        let given = digest(password);
        let (expected, known) = match self.users.get(username) {
            Some(d) => (d, true),
            None => (&NO_PASSWORD, false),
        };
        bool::from(given.ct_eq(expected)) & known
    }
}

impl fmt::Debug for PlainCredentials {
    /// Lists the user names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.users.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("PlainCredentials").field("users", &names).finish()
    }
}

/// Why a PLAIN exchange (or its configuration) was refused. The `Display` text never holds the
/// password; what the client is told is [`client_message`](Self::client_message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlainError {
    /// The token is larger than [`MAX_MESSAGE_BYTES`].
    #[error("SASL/PLAIN response of {len} bytes is larger than the limit of {MAX_MESSAGE_BYTES}")]
    MessageTooLarge {
        /// The size received.
        len: usize,
    },
    /// The token is not UTF-8.
    #[error("Invalid SASL/PLAIN response: not valid UTF-8")]
    NotUtf8,
    /// The token is not `[authzid] NUL authcid NUL passwd`.
    #[error("Invalid SASL/PLAIN response: expected 3 tokens, got {0}")]
    WrongTokenCount(usize),
    /// The username is empty.
    #[error("Authentication failed: username not specified")]
    EmptyUsername,
    /// The password is empty.
    #[error("Authentication failed: password not specified")]
    EmptyPassword,
    /// Unknown user or wrong password (one variant for both).
    #[error("Authentication failed: Invalid username or password")]
    InvalidCredentials,
    /// The client authenticated but asked to act as someone else.
    #[error("Authentication failed: Client requested an authorization id that is different from username")]
    AuthorizationIdMismatch,
    /// A token arrived after the exchange completed or failed.
    #[error("Unexpected SASL/PLAIN message after the exchange ended")]
    UnexpectedMessage,
    /// The JAAS config given for PLAIN names another login module.
    #[error("JAAS config for SASL/PLAIN names login module {0}, expected {PLAIN_LOGIN_MODULE}")]
    WrongLoginModule(String),
}

impl PlainError {
    /// The `error_message` of the SaslAuthenticate answer, as Kafka words it: the two failures
    /// `PlainSaslServer` raises as `SaslAuthenticationException` are passed on, anything else
    /// becomes the generic sentence.
    pub fn client_message(&self, reauthentication: bool) -> String {
        match self {
            PlainError::InvalidCredentials | PlainError::AuthorizationIdMismatch => self.to_string(),
            _ => generic_failure_message(PLAIN_MECHANISM, reauthentication),
        }
    }

    /// The Kafka error code of the SaslAuthenticate answer: 34 (ILLEGAL_SASL_STATE) for a token
    /// out of turn, 58 (SASL_AUTHENTICATION_FAILED) otherwise.
    pub fn error_code(&self) -> i16 {
        match self {
            PlainError::UnexpectedMessage => 34,
            _ => 58,
        }
    }
}

/// The broker's side of one PLAIN exchange: one client token, an empty answer on success.
pub struct PlainServer<A> {
    authenticator: A,
    state: State,
}

enum State {
    Waiting,
    Complete(String),
    Failed,
}

impl<A: PlainAuthenticator> PlainServer<A> {
    /// A server for one exchange, checking passwords with `authenticator`.
    pub fn new(authenticator: A) -> PlainServer<A> {
        PlainServer {
            authenticator,
            state: State::Waiting,
        }
    }

    /// Checks the client's token and returns the (empty) answer. As in Kafka, the password is
    /// checked before the authorization id, so a wrong password never learns whether the
    /// authorization id would have been accepted.
    pub fn evaluate(&mut self, client_message: &[u8]) -> Result<Vec<u8>, PlainError> {
        if !matches!(self.state, State::Waiting) {
            self.state = State::Failed;
            return Err(PlainError::UnexpectedMessage);
        }
        self.state = State::Failed;
        let username = self.check(client_message)?;
        self.state = State::Complete(username);
        Ok(Vec::new())
    }

    fn check(&self, message: &[u8]) -> Result<String, PlainError> {
        if message.len() > MAX_MESSAGE_BYTES {
            return Err(PlainError::MessageTooLarge { len: message.len() });
        }
        let text = std::str::from_utf8(message).map_err(|_| PlainError::NotUtf8)?;
        let fields: Vec<&str> = text.split('\0').collect();
        let [authzid, username, password] = fields[..] else {
            return Err(PlainError::WrongTokenCount(fields.len()));
        };
        if username.is_empty() {
            return Err(PlainError::EmptyUsername);
        }
        if password.is_empty() {
            return Err(PlainError::EmptyPassword);
        }
        if !self.authenticator.authenticate(username, password) {
            return Err(PlainError::InvalidCredentials);
        }
        if !authzid.is_empty() && authzid != username {
            return Err(PlainError::AuthorizationIdMismatch);
        }
        Ok(username.to_string())
    }

    /// Whether the exchange succeeded.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Complete(_))
    }

    /// The authenticated user, once the exchange succeeded.
    pub fn authenticated_user(&self) -> Option<&str> {
        match &self.state {
            State::Complete(user) => Some(user),
            _ => None,
        }
    }
}

impl<A> fmt::Debug for PlainServer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Waiting => "waiting",
            State::Complete(_) => "complete",
            State::Failed => "failed",
        };
        f.debug_struct("PlainServer").field("state", &state).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENERIC: &str =
        "Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN";

    fn credentials() -> PlainCredentials {
        let jaas = JaasConfig::parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" \
             password=\"admin-secret\" user_admin=\"admin-secret\" user_alice=\"alice-secret\";",
        )
        .unwrap();
        PlainCredentials::from_jaas(&jaas).unwrap()
    }

    #[test]
    fn users_come_from_user_options_only() {
        let creds = credentials();
        assert_eq!(creds.len(), 2);
        assert!(creds.authenticate("alice", "alice-secret"));
        assert!(creds.authenticate("admin", "admin-secret"));
        assert!(!creds.authenticate("alice", "alice-secret "));
        assert!(!creds.authenticate("username", "admin"));
        assert!(!creds.authenticate("bob", ""));
        assert_eq!(
            format!("{creds:?}"),
            "PlainCredentials { users: [\"admin\", \"alice\"] }"
        );
    }

    #[test]
    fn other_login_module_is_refused() {
        let jaas = JaasConfig::parse("org.apache.kafka.common.security.scram.ScramLoginModule required;").unwrap();
        assert!(matches!(
            PlainCredentials::from_jaas(&jaas),
            Err(PlainError::WrongLoginModule(_))
        ));
    }

    #[test]
    fn successful_logins() {
        for token in [&b"\0alice\0alice-secret"[..], b"alice\0alice\0alice-secret"] {
            let mut server = PlainServer::new(credentials());
            assert_eq!(server.evaluate(token), Ok(Vec::new()));
            assert!(server.is_complete());
            assert_eq!(server.authenticated_user(), Some("alice"));
            assert_eq!(server.evaluate(token), Err(PlainError::UnexpectedMessage));
            assert_eq!(PlainError::UnexpectedMessage.error_code(), 34);
        }
    }

    #[test]
    fn refusals_with_kafkas_texts() {
        let cases: &[(&[u8], PlainError, &str)] = &[
            (
                b"\0alice\0wrong",
                PlainError::InvalidCredentials,
                "Authentication failed: Invalid username or password",
            ),
            (
                b"\0nobody\0x",
                PlainError::InvalidCredentials,
                "Authentication failed: Invalid username or password",
            ),
            (
                b"admin\0alice\0alice-secret",
                PlainError::AuthorizationIdMismatch,
                "Authentication failed: Client requested an authorization id that is different from username",
            ),
            // A wrong password with another authzid: the password is reported, not the authzid.
            (
                b"admin\0alice\0wrong",
                PlainError::InvalidCredentials,
                "Authentication failed: Invalid username or password",
            ),
            (b"\0\0alice-secret", PlainError::EmptyUsername, GENERIC),
            (b"\0alice\0", PlainError::EmptyPassword, GENERIC),
            (b"alice\0alice-secret", PlainError::WrongTokenCount(2), GENERIC),
            (b"alice", PlainError::WrongTokenCount(1), GENERIC),
            (b"", PlainError::WrongTokenCount(1), GENERIC),
            (b"\0alice\0alice-secret\0extra", PlainError::WrongTokenCount(4), GENERIC),
            (b"\0alice\0\xff", PlainError::NotUtf8, GENERIC),
        ];
        for (token, expected, message) in cases {
            let mut server = PlainServer::new(credentials());
            let err = server.evaluate(token).unwrap_err();
            assert_eq!(&err, expected, "{}", String::from_utf8_lossy(token));
            assert_eq!(err.client_message(false), *message);
            assert_eq!(err.error_code(), 58);
            assert!(!err.to_string().contains("secret") && !err.to_string().contains("wrong"));
            assert_eq!(server.authenticated_user(), None);
            assert_eq!(
                server.evaluate(b"\0alice\0alice-secret"),
                Err(PlainError::UnexpectedMessage)
            );
        }
    }

    #[test]
    fn oversized_token_is_refused() {
        let mut token = b"\0alice\0".to_vec();
        token.resize(MAX_MESSAGE_BYTES + 1, b'x');
        let mut server = PlainServer::new(credentials());
        let err = server.evaluate(&token).unwrap_err();
        assert_eq!(
            err,
            PlainError::MessageTooLarge {
                len: MAX_MESSAGE_BYTES + 1
            }
        );
        assert_eq!(
            err.client_message(true),
            GENERIC.replace("during authentication", "during re-authentication")
        );
    }

    #[test]
    fn programmatic_credentials_and_custom_authenticators() {
        let mut creds = PlainCredentials::new();
        assert!(creds.is_empty());
        creds.insert("bob", "pw");
        creds.insert("bob", "pw2");
        assert!(creds.authenticate("bob", "pw2") && !creds.authenticate("bob", "pw"));

        struct Everyone;
        impl PlainAuthenticator for Everyone {
            fn authenticate(&self, _: &str, _: &str) -> bool {
                true
            }
        }
        let shared = std::sync::Arc::new(creds);
        assert!(PlainServer::new(&shared).evaluate(b"\0bob\0pw2").is_ok());
        let mut server = PlainServer::new(Everyone);
        server.evaluate(b"\0carol\0x").unwrap();
        assert_eq!(server.authenticated_user(), Some("carol"));
    }
}
