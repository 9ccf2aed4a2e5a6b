//! SASL/SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as the broker's side of the exchange.
//!
//! The broker feeds each SaslAuthenticate token to [`ScramServer::evaluate`] and sends back what it
//! returns; nothing here touches a socket. Message parsing follows Kafka's `ScramMessages` and
//! `ScramSaslServer`, with these deliberate differences, each stricter than Kafka and invisible to a
//! well-behaved client:
//!
//! * the client-final nonce must be exactly client nonce + server nonce (Kafka checks this too since
//!   CVE-2024-56128) and the `c=` attribute must be the base64 of the GS2 header the client sent
//!   (RFC 5802 requires it; Kafka does not check it);
//! * a reserved `m=` attribute is refused (RFC 5802 says a server that does not understand it must
//!   fail; Kafka would fail later, at the proof);
//! * an unknown user gets a server-first message built from a mock credential and fails at the
//!   client-final message, like a wrong password, instead of failing at once as Kafka does: the
//!   answer text is the same in both brokers, but here neither the round trip count nor the salt
//!   reveals whether the user exists;
//! * a stored credential whose iteration count is above Kafka's maximum is refused as well as one
//!   below the minimum;
//! * delegation tokens (`tokenauth=true`) are refused because Sluice has none.
//!
//! The authentication message is the RFC's client-first-message-bare as received, where Kafka
//! re-assembles it from the parsed parts; the two agree for every client that sends at most one
//! extension, which is every client we know of.

use std::fmt;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The largest SCRAM message accepted. Real client messages are a few hundred bytes (a username,
/// a nonce, a base64 proof); refusing anything larger keeps an unauthenticated peer from making
/// the broker parse or hash megabytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// The iteration count Kafka's tools use when none is given (`kafka-storage format --add-scram`,
/// `kafka-configs --alter --add-config 'SCRAM-SHA-256=[password=...]'`).
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// The value of the SCRAM extension Kafka clients send to authenticate with a delegation token.
pub const TOKEN_AUTH_EXTENSION: &str = "tokenauth";

/// One of Kafka's two SCRAM mechanisms. The broker names them in SaslHandshake, and
/// AlterUserScramCredentials / DescribeUserScramCredentials identify them by [`code`](Self::code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    /// `SCRAM-SHA-256`, code 1.
    Sha256,
    /// `SCRAM-SHA-512`, code 2.
    Sha512,
}

impl ScramMechanism {
    /// Both mechanisms, in code order, for listing what a listener may enable.
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// Kafka's minimum iteration count for both mechanisms: a credential below it is refused when
    /// created and when used, because fewer iterations make offline guessing cheap.
    pub const MIN_ITERATIONS: u32 = 4096;

    /// Kafka's maximum iteration count: above it, every login would cost the broker too much CPU,
    /// which an unauthenticated peer could exploit.
    pub const MAX_ITERATIONS: u32 = 16384;

    /// The SASL mechanism name, as clients request it in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism for a SASL name, exact and case-sensitive as in Kafka's `forMechanismName`.
    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The byte Kafka's AlterUserScramCredentials, DescribeUserScramCredentials and the
    /// `UserScramCredentialRecord` use for this mechanism (1 = SHA-256, 2 = SHA-512; 0 is Kafka's
    /// UNKNOWN).
    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The mechanism for a wire code; `None` for 0 (UNKNOWN) and anything else.
    pub fn from_code(code: i8) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.code() == code)
    }

    /// The smallest iteration count accepted ([`Self::MIN_ITERATIONS`]).
    pub fn min_iterations(self) -> u32 {
        Self::MIN_ITERATIONS
    }

    /// The largest iteration count accepted ([`Self::MAX_ITERATIONS`]).
    pub fn max_iterations(self) -> u32 {
        Self::MAX_ITERATIONS
    }

    /// The digest length, which is also the length of every key and proof of this mechanism.
    pub fn hash_len(self) -> usize {
        match self {
            ScramMechanism::Sha256 => 32,
            ScramMechanism::Sha512 => 64,
        }
    }

    fn check_iterations(self, iterations: u32) -> Result<(), ScramError> {
        if iterations < self.min_iterations() || iterations > self.max_iterations() {
            return Err(ScramError::IterationsOutOfRange {
                mechanism: self,
                iterations,
            });
        }
        Ok(())
    }

    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
                parts.iter().for_each(|p| mac.update(p));
                mac.finalize().into_bytes().to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC accepts keys of any length");
                parts.iter().for_each(|p| mac.update(p));
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// RFC 5802's `Hi(password, salt, i)`, which is PBKDF2 with this mechanism's HMAC. Kafka
    /// applies no SASLprep: the password is its UTF-8 bytes.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(vec![0u8; self.hash_len()]);
        match self {
            ScramMechanism::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out),
            ScramMechanism::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out),
        }
        out
    }
}

impl fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the broker stores for one user and mechanism: enough to verify a client proof and to
/// prove itself to the client, but not the password nor the salted password, so a leaked store
/// does not let anyone log in. Same fields as Kafka's `ScramCredential` and
/// `UserScramCredentialRecord`.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// The mechanism these keys belong to; a SHA-256 credential cannot serve a SHA-512 exchange.
    pub mechanism: ScramMechanism,
    /// The salt sent to the client in server-first.
    pub salt: Vec<u8>,
    /// `H(HMAC(SaltedPassword, "Client Key"))`, against which the client proof is checked.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`, with which the broker signs server-final.
    pub server_key: Vec<u8>,
    /// The PBKDF2 iteration count the salted password was derived with.
    pub iterations: u32,
}

impl ScramCredential {
    /// Derives the credential from a clear password, as `kafka-storage format --add-scram` and
    /// `kafka-configs` do. Refuses iteration counts outside Kafka's bounds.
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<ScramCredential, ScramError> {
        mechanism.check_iterations(iterations)?;
        let salted = mechanism.salted_password(password.as_bytes(), salt, iterations);
        Ok(Self::from_salted_unchecked(mechanism, salt, &salted, iterations))
    }

    /// Derives the credential from a salted password computed elsewhere: AlterUserScramCredentials
    /// carries the client-computed `SaltedPassword` (never the password), and `--add-scram`
    /// accepts `saltedpassword=`. Refuses iteration counts outside Kafka's bounds and an empty
    /// salted password.
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: u32,
    ) -> Result<ScramCredential, ScramError> {
        mechanism.check_iterations(iterations)?;
        if salted_password.is_empty() {
            return Err(ScramError::EmptySaltedPassword);
        }
        Ok(Self::from_salted_unchecked(
            mechanism,
            salt,
            salted_password,
            iterations,
        ))
    }

    /// Derives the credential with a fresh random 32-byte salt, for creating a user from a
    /// password when the operator gave no salt (Kafka's tools do the same).
    pub fn with_random_salt(
        mechanism: ScramMechanism,
        password: &str,
        iterations: u32,
    ) -> Result<ScramCredential, ScramError> {
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt).map_err(|_| ScramError::RandomUnavailable)?;
        Self::from_password(mechanism, password, &salt, iterations)
    }

    fn from_salted_unchecked(
        mechanism: ScramMechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: u32,
    ) -> ScramCredential {
        let client_key = Zeroizing::new(mechanism.hmac(salted_password, &[b"Client Key"]));
        ScramCredential {
            mechanism,
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, &[b"Server Key"]),
            iterations,
        }
    }
}

impl fmt::Debug for ScramCredential {
    /// Shows the mechanism and iteration count only: the keys let whoever holds them impersonate
    /// the broker to clients, so they stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredential")
            .field("mechanism", &self.mechanism)
            .field("salt", &format_args!("<{} bytes>", self.salt.len()))
            .field("stored_key", &format_args!("<redacted>"))
            .field("server_key", &format_args!("<redacted>"))
            .field("iterations", &self.iterations)
            .finish()
    }
}

/// Where a [`ScramServer`] finds the stored credential of a user. Implemented for any
/// `Fn(&str) -> Option<ScramCredential>`, so a broker can pass a closure over its metadata image.
/// Returning a credential of another mechanism counts as "no credential".
pub trait ScramCredentialLookup {
    /// The credential of `username` for `mechanism`, if the user has one.
    fn scram_credential(&self, mechanism: ScramMechanism, username: &str) -> Option<ScramCredential>;
}

impl<F> ScramCredentialLookup for F
where
    F: Fn(&str) -> Option<ScramCredential>,
{
    fn scram_credential(&self, _mechanism: ScramMechanism, username: &str) -> Option<ScramCredential> {
        self(username)
    }
}

/// Why a SCRAM exchange or credential was refused. The `Display` text is for the broker's log and
/// never holds a password, proof, key or nonce; what the client is told is
/// [`client_message`](Self::client_message), which follows Kafka.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// The token is larger than [`MAX_MESSAGE_BYTES`].
    #[error("SCRAM message of {len} bytes is larger than the limit of {MAX_MESSAGE_BYTES}")]
    MessageTooLarge {
        /// The size received.
        len: usize,
    },
    /// The token is not UTF-8.
    #[error("SCRAM message is not valid UTF-8")]
    NotUtf8,
    /// The client-first message does not follow RFC 5802 as Kafka parses it.
    #[error("Invalid SCRAM client first message format")]
    InvalidClientFirst,
    /// The client asked for channel binding (`p=`) or claimed support for it (`y`); Kafka
    /// supports neither.
    #[error("SCRAM channel binding is not supported")]
    ChannelBindingUnsupported,
    /// The username or authorization id uses `=` other than in `=2C` / `=3D`.
    #[error("Invalid SCRAM username encoding")]
    InvalidSaslName,
    /// The client asked to act as someone other than the user it authenticates as.
    #[error("Authentication failed: Client requested an authorization id that is different from username")]
    AuthorizationIdMismatch,
    /// The client asked for delegation-token authentication, which Sluice does not have.
    #[error("Token Authentication failed: delegation tokens are not supported")]
    TokenAuthUnsupported,
    /// A credential (stored, or being created) has an iteration count outside Kafka's bounds.
    #[error("Iterations {iterations} is outside [4096, 16384] for {mechanism}")]
    IterationsOutOfRange {
        /// The mechanism of the credential.
        mechanism: ScramMechanism,
        /// The refused count.
        iterations: u32,
    },
    /// A salted password handed over for a new credential is empty.
    #[error("The salted password of a SCRAM credential must not be empty")]
    EmptySaltedPassword,
    /// The client-final message does not follow RFC 5802 as Kafka parses it.
    #[error("Invalid SCRAM client final message format")]
    InvalidClientFinal,
    /// The `c=` attribute is not the GS2 header of the client-first message.
    #[error("Invalid channel binding in the final client message")]
    ChannelBindingMismatch,
    /// The nonce of client-final is not the one the server sent (a replayed or forged message).
    #[error("Invalid client nonce in the final client message.")]
    NonceMismatch,
    /// The proof does not match, or the user is unknown: one variant for both so that nothing,
    /// not even the broker's log line, tells them apart.
    #[error("Invalid client credentials")]
    InvalidCredentials,
    /// A message arrived after the exchange completed or failed.
    #[error("Unexpected SCRAM message in server state {0}")]
    UnexpectedMessage(&'static str),
    /// The operating system's random source failed, so no nonce or salt could be drawn.
    #[error("No secure random numbers available for SCRAM")]
    RandomUnavailable,
}

impl ScramError {
    /// The `error_message` the broker puts in its SaslAuthenticate answer, as Kafka's
    /// `SaslServerAuthenticator` words it: mechanism errors that Kafka raises as
    /// `SaslAuthenticationException` are passed on as they are, every other failure is replaced by
    /// the one generic sentence so that nothing about the user or the credential leaks.
    pub fn client_message(&self, mechanism: ScramMechanism, reauthentication: bool) -> String {
        match self {
            ScramError::AuthorizationIdMismatch | ScramError::UnexpectedMessage(_) => self.to_string(),
            _ => generic_failure_message(mechanism.name(), reauthentication),
        }
    }

    /// The Kafka error code of the SaslAuthenticate answer: 34 (ILLEGAL_SASL_STATE) for a message
    /// out of turn, 58 (SASL_AUTHENTICATION_FAILED) for everything else.
    pub fn error_code(&self) -> i16 {
        match self {
            ScramError::UnexpectedMessage(_) => 34,
            _ => 58,
        }
    }
}

/// Kafka's answer to a failed SASL exchange whose mechanism raised a plain `SaslException`
/// (`SaslServerAuthenticator.handleSaslToken`): it names only the phase and the mechanism.
pub(crate) fn generic_failure_message(mechanism: &str, reauthentication: bool) -> String {
    let phase = if reauthentication {
        "re-authentication"
    } else {
        "authentication"
    };
    format!("Authentication failed during {phase} due to invalid credentials with SASL mechanism {mechanism}")
}

/// The broker's side of one SCRAM exchange: created when the client picks a SCRAM mechanism in
/// SaslHandshake, fed client-first then client-final, answering server-first then server-final.
/// Any error leaves it failed for good; a new exchange needs a new server (and so a new nonce).
pub struct ScramServer<L> {
    mechanism: ScramMechanism,
    lookup: L,
    state: State,
    #[cfg(test)]
    fixed_server_nonce: Option<String>,
}

enum State {
    ClientFirst,
    ClientFinal(Box<Exchange>),
    Complete { user: String },
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::ClientFirst => "RECEIVE_CLIENT_FIRST_MESSAGE",
            State::ClientFinal(_) => "RECEIVE_CLIENT_FINAL_MESSAGE",
            State::Complete { .. } => "COMPLETE",
            State::Failed => "FAILED",
        }
    }
}

/// What server-first committed to, kept until client-final.
struct Exchange {
    username: String,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    credential: ScramCredential,
}

impl<L: ScramCredentialLookup> ScramServer<L> {
    /// A server for one exchange of `mechanism`, finding credentials through `lookup`.
    pub fn new(mechanism: ScramMechanism, lookup: L) -> ScramServer<L> {
        ScramServer {
            mechanism,
            lookup,
            state: State::ClientFirst,
            #[cfg(test)]
            fixed_server_nonce: None,
        }
    }

    /// The mechanism this server speaks.
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Whether the exchange succeeded.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Complete { .. })
    }

    /// The user the client proved to be, once the exchange succeeded; the broker makes it the
    /// connection's `User:` principal.
    pub fn authenticated_user(&self) -> Option<&str> {
        match &self.state {
            State::Complete { user } => Some(user),
            _ => None,
        }
    }

    /// Takes the next client token and returns the server's answer: server-first for
    /// client-first, server-final (`v=<signature>`) for client-final. After an error the exchange
    /// is over; the broker sends [`ScramError::client_message`] and closes the connection.
    pub fn evaluate(&mut self, client_message: &[u8]) -> Result<Vec<u8>, ScramError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let state_name = state.name();
        if client_message.len() > MAX_MESSAGE_BYTES {
            return Err(ScramError::MessageTooLarge {
                len: client_message.len(),
            });
        }
        let text = std::str::from_utf8(client_message).map_err(|_| ScramError::NotUtf8)?;
        match state {
            State::ClientFirst => {
                let (exchange, reply) = self.client_first(text)?;
                self.state = State::ClientFinal(Box::new(exchange));
                Ok(reply.into_bytes())
            }
            State::ClientFinal(exchange) => {
                let reply = self.client_final(&exchange, text)?;
                self.state = State::Complete {
                    user: exchange.username,
                };
                Ok(reply.into_bytes())
            }
            State::Complete { .. } | State::Failed => Err(ScramError::UnexpectedMessage(state_name)),
        }
    }

    fn client_first(&self, text: &str) -> Result<(Exchange, String), ScramError> {
        let first = parse_client_first(text)?;
        if first.token_auth {
            return Err(ScramError::TokenAuthUnsupported);
        }
        // Checked before the lookup, so that the answer does not depend on whether the user exists.
        if let Some(authzid) = &first.authzid {
            if *authzid != first.username {
                return Err(ScramError::AuthorizationIdMismatch);
            }
        }
        let credential = match self.lookup.scram_credential(self.mechanism, &first.username) {
            Some(c) if c.mechanism == self.mechanism => {
                self.mechanism.check_iterations(c.iterations)?;
                c
            }
            _ => mock_credential(self.mechanism, &first.username)?,
        };
        let server_nonce = self.server_nonce()?;
        let nonce = format!("{}{}", first.client_nonce, server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&credential.salt),
            credential.iterations
        );
        let exchange = Exchange {
            username: first.username,
            gs2_header: first.gs2_header.to_string(),
            client_first_bare: first.bare.to_string(),
            server_first: server_first.clone(),
            nonce,
            credential,
        };
        Ok((exchange, server_first))
    }

    fn client_final(&self, exchange: &Exchange, text: &str) -> Result<String, ScramError> {
        let last = parse_client_final(text)?;
        if last.channel_binding != exchange.gs2_header.as_bytes() {
            return Err(ScramError::ChannelBindingMismatch);
        }
        if !bool::from(last.nonce.as_bytes().ct_eq(exchange.nonce.as_bytes())) {
            return Err(ScramError::NonceMismatch);
        }
        let mechanism = self.mechanism;
        if last.proof.len() != mechanism.hash_len() {
            return Err(ScramError::InvalidClientFinal);
        }
        let auth_message = format!(
            "{},{},{}",
            exchange.client_first_bare, exchange.server_first, last.without_proof
        );
        let credential = &exchange.credential;
        let client_signature = mechanism.hmac(&credential.stored_key, &[auth_message.as_bytes()]);
        let client_key: Zeroizing<Vec<u8>> =
            Zeroizing::new(last.proof.iter().zip(&client_signature).map(|(p, s)| p ^ s).collect());
        let computed_stored_key = mechanism.hash(&client_key);
        // Always true for a mock credential's random keys (but computed the same way, so the
        // work done does not depend on whether the user exists).
        if !bool::from(computed_stored_key.ct_eq(&credential.stored_key)) {
            return Err(ScramError::InvalidCredentials);
        }
        let server_signature = mechanism.hmac(&credential.server_key, &[auth_message.as_bytes()]);
        Ok(format!("v={}", STANDARD.encode(server_signature)))
    }

    fn server_nonce(&self) -> Result<String, ScramError> {
        #[cfg(test)]
        if let Some(nonce) = &self.fixed_server_nonce {
            return Ok(nonce.clone());
        }
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).map_err(|_| ScramError::RandomUnavailable)?;
        Ok(STANDARD_NO_PAD.encode(bytes))
    }
}

#[cfg(test)]
impl<L> ScramServer<L> {
    /// Tests only: a fixed server nonce, to replay published test vectors.
    fn with_fixed_server_nonce(mut self, nonce: &str) -> Self {
        self.fixed_server_nonce = Some(nonce.to_string());
        self
    }
}

impl<L> fmt::Debug for ScramServer<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramServer")
            .field("mechanism", &self.mechanism)
            .field("state", &self.state.name())
            .finish()
    }
}

/// A stand-in credential for a user that does not exist, so that the exchange goes on to fail at
/// client-final exactly as a wrong password does. Its salt is a keyed hash of the username under
/// a per-process random key: the same name gets the same salt on every try (a salt that changed
/// would give the game away) without the salt revealing anything.
fn mock_credential(mechanism: ScramMechanism, username: &str) -> Result<ScramCredential, ScramError> {
    static MOCK_KEY: OnceLock<[u8; 32]> = OnceLock::new();
    let key = match MOCK_KEY.get() {
        Some(key) => key,
        None => {
            let mut fresh = [0u8; 32];
            getrandom::fill(&mut fresh).map_err(|_| ScramError::RandomUnavailable)?;
            MOCK_KEY.get_or_init(|| fresh)
        }
    };
    let derive = |label: &[u8]| {
        ScramMechanism::Sha256.hmac(key, &[label, mechanism.name().as_bytes(), &[0], username.as_bytes()])
    };
    Ok(ScramCredential {
        mechanism,
        salt: derive(b"salt"),
        stored_key: mechanism.hash(&derive(b"stored")),
        server_key: derive(b"server"),
        iterations: DEFAULT_ITERATIONS,
    })
}

/// client-first-message, split as Kafka's `ClientFirstMessage` pattern does.
struct ClientFirst<'a> {
    gs2_header: &'a str,
    authzid: Option<String>,
    bare: &'a str,
    username: String,
    client_nonce: &'a str,
    token_auth: bool,
}

fn parse_client_first(text: &str) -> Result<ClientFirst<'_>, ScramError> {
    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    let (flag, rest) = text.split_once(',').ok_or(ScramError::InvalidClientFirst)?;
    match flag {
        "n" => {}
        "y" => return Err(ScramError::ChannelBindingUnsupported),
        f if f.starts_with("p=") => return Err(ScramError::ChannelBindingUnsupported),
        _ => return Err(ScramError::InvalidClientFirst),
    }
    let (authz, bare) = rest.split_once(',').ok_or(ScramError::InvalidClientFirst)?;
    let authzid = if authz.is_empty() {
        None
    } else {
        let raw = authz.strip_prefix("a=").ok_or(ScramError::InvalidClientFirst)?;
        Some(decode_saslname(raw)?)
    };
    let gs2_header = &text[..text.len() - bare.len()];

    let mut attributes = bare.split(',');
    let name = attributes
        .next()
        .and_then(|a| a.strip_prefix("n="))
        .ok_or(ScramError::InvalidClientFirst)?;
    let username = decode_saslname(name)?;
    let client_nonce = attributes
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or(ScramError::InvalidClientFirst)?;
    if client_nonce.is_empty() || !client_nonce.bytes().all(is_printable) {
        return Err(ScramError::InvalidClientFirst);
    }
    let mut token_auth = false;
    for extension in attributes {
        let (key, value) = parse_extension(extension).ok_or(ScramError::InvalidClientFirst)?;
        // Kafka reads it with Boolean.parseBoolean; other extensions are ignored, as in Kafka.
        if key == TOKEN_AUTH_EXTENSION && value.eq_ignore_ascii_case("true") {
            token_auth = true;
        }
    }
    Ok(ClientFirst {
        gs2_header,
        authzid,
        bare,
        username,
        client_nonce,
        token_auth,
    })
}

/// client-final-message, split as Kafka's `ClientFinalMessage` pattern does.
struct ClientFinal<'a> {
    without_proof: &'a str,
    channel_binding: Vec<u8>,
    nonce: &'a str,
    proof: Vec<u8>,
}

fn parse_client_final(text: &str) -> Result<ClientFinal<'_>, ScramError> {
    let (without_proof, proof) = text.rsplit_once(",p=").ok_or(ScramError::InvalidClientFinal)?;
    let proof = decode_strict_base64(proof).ok_or(ScramError::InvalidClientFinal)?;
    let mut attributes = without_proof.split(',');
    let channel = attributes
        .next()
        .and_then(|a| a.strip_prefix("c="))
        .ok_or(ScramError::InvalidClientFinal)?;
    let channel_binding = decode_strict_base64(channel).ok_or(ScramError::InvalidClientFinal)?;
    let nonce = attributes
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or(ScramError::InvalidClientFinal)?;
    if nonce.is_empty() || !nonce.bytes().all(is_printable) {
        return Err(ScramError::InvalidClientFinal);
    }
    for extension in attributes {
        parse_extension(extension).ok_or(ScramError::InvalidClientFinal)?;
    }
    Ok(ClientFinal {
        without_proof,
        channel_binding,
        nonce,
        proof,
    })
}

/// RFC 5802 `printable`: `%x21-2B / %x2D-7E`, i.e. visible ASCII except the comma.
fn is_printable(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b','
}

/// An `ALPHA+ "=" VALUE` extension, as in Kafka's EXTENSIONS pattern (VALUE is ASCII 1-127
/// without the comma, at least one character).
fn parse_extension(extension: &str) -> Option<(&str, &str)> {
    let (key, value) = extension.split_once('=')?;
    let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphabetic());
    let value_ok = !value.is_empty() && value.bytes().all(|b| (0x01..=0x7f).contains(&b));
    (key_ok && value_ok).then_some((key, value))
}

/// Decodes an RFC 5802 `saslname`: ASCII 1-127 (Kafka's pattern admits nothing wider) where `,`
/// and `=` appear only as `=2C` and `=3D`.
fn decode_saslname(raw: &str) -> Result<String, ScramError> {
    if raw.is_empty() {
        return Err(ScramError::InvalidClientFirst);
    }
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' => {
                match bytes.get(i + 1..i + 3) {
                    Some(b"2C") => out.push(','),
                    Some(b"3D") => out.push('='),
                    _ => return Err(ScramError::InvalidSaslName),
                }
                i += 3;
            }
            b @ 0x01..=0x7f => {
                out.push(char::from(b));
                i += 1;
            }
            _ => return Err(ScramError::InvalidClientFirst),
        }
    }
    Ok(out)
}

/// Base64 as Kafka's SCRAM pattern admits it: the standard alphabet, padded, canonical.
fn decode_strict_base64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// Base64 as Java's `Base64.getDecoder()` reads it for `--add-scram`: padding optional, unused
/// trailing bits ignored.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Why a `kafka-storage format --add-scram` argument was refused. Texts follow Kafka's
/// `ScramParser`, except that salts and salted passwords are never echoed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddScramError {
    /// No `=` between the mechanism and the bracketed settings.
    #[error("Failed to find equals sign in SCRAM argument")]
    MissingEquals,
    /// The mechanism is not `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[error("The add-scram mechanism {0} is not supported.")]
    UnsupportedMechanism(String),
    /// The settings do not start with `[`.
    #[error("Expected configuration string to start with [")]
    MissingOpenBracket,
    /// The settings do not end with `]`.
    #[error("Expected configuration string to end with ]")]
    MissingCloseBracket,
    /// A comma-separated setting has no `=`; only its position is given, as it may be a password.
    #[error("No equals sign found in SCRAM component number {0}")]
    ComponentWithoutEquals(usize),
    /// `name=` is missing or empty.
    #[error("You must supply 'name' to add-scram")]
    MissingName,
    /// The salt is not base64.
    #[error("Failed to decode given salt")]
    InvalidSalt,
    /// `iterations=` is not a number.
    #[error("Failed to parse iterations count: {0}")]
    InvalidIterations(String),
    /// Neither `password=` nor `saltedpassword=` was given.
    #[error("You must supply one of 'password' or 'saltedpassword' to add-scram")]
    MissingPassword,
    /// `saltedpassword=` without `salt=`: the salt it was derived with is needed.
    #[error("You must supply 'salt' with 'saltedpassword' to add-scram")]
    SaltedPasswordWithoutSalt,
    /// The salted password is not base64.
    #[error("Failed to decode given saltedPassword")]
    InvalidSaltedPassword,
    /// Settings Kafka does not know, by name.
    #[error("Unknown SCRAM configurations: {0}")]
    UnknownConfigurations(String),
    /// The iteration count is below Kafka's minimum.
    #[error("The 'iterations' value must be >= 4096 for add-scram using {0}")]
    IterationsTooLow(ScramMechanism),
    /// The iteration count is above Kafka's maximum.
    #[error("The 'iterations' value must be <= 16384 for add-scram using {0}")]
    IterationsTooHigh(ScramMechanism),
    /// The credential could not be derived (no randomness for the salt, empty salted password).
    #[error(transparent)]
    Credential(#[from] ScramError),
}

/// Parses one `kafka-storage format --add-scram` argument, as Kafka's `ScramParser` does, into
/// the credential to store for a user, so that Sluice's `format` can bootstrap SCRAM users the way
/// Kafka operators already write them:
///
/// * `SCRAM-SHA-256=[name=alice,password=alice-secret]` (random salt, 4096 iterations);
/// * `SCRAM-SHA-512=[name=alice,password=alice-secret,iterations=8192,salt="<base64>"]`;
/// * `SCRAM-SHA-256=[name=alice,salt="<base64>",saltedpassword="<base64>"]`.
///
/// Components are separated by commas (so a password cannot hold one) and a value may be wrapped
/// in double quotes; a repeated component keeps its last value. `password` wins over
/// `saltedpassword` when both are given, as in Kafka. An empty name is refused (Kafka accepts it,
/// but no client could ever log in as it).
pub fn parse_add_scram(arg: &str) -> Result<(ScramMechanism, String, ScramCredential), AddScramError> {
    let arg = java_trim(arg);
    let (mechanism_name, config) = arg.split_once('=').ok_or(AddScramError::MissingEquals)?;
    let mechanism = ScramMechanism::from_name(mechanism_name)
        .ok_or_else(|| AddScramError::UnsupportedMechanism(mechanism_name.to_string()))?;
    let config = config.strip_prefix('[').ok_or(AddScramError::MissingOpenBracket)?;
    let config = config.strip_suffix(']').ok_or(AddScramError::MissingCloseBracket)?;

    let mut components: std::collections::BTreeMap<&str, Zeroizing<String>> = std::collections::BTreeMap::new();
    for (index, component) in java_split_comma(config).into_iter().enumerate() {
        let (key, mut value) = component
            .split_once('=')
            .ok_or(AddScramError::ComponentWithoutEquals(index + 1))?;
        if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            value = &value[1..value.len() - 1];
        }
        components.insert(key, Zeroizing::new(value.to_string()));
    }

    let name = components.remove("name").ok_or(AddScramError::MissingName)?;
    if name.is_empty() {
        return Err(AddScramError::MissingName);
    }
    let salt = match components.remove("salt") {
        Some(s) => Some(
            LENIENT_BASE64
                .decode(s.as_bytes())
                .map_err(|_| AddScramError::InvalidSalt)?,
        ),
        None => None,
    };
    let iterations = match components.remove("iterations") {
        Some(text) => parse_java_int(&text).ok_or_else(|| AddScramError::InvalidIterations(text.to_string()))?,
        None => i64::from(DEFAULT_ITERATIONS),
    };
    let password = components.remove("password");
    let salted_password = components.remove("saltedpassword");
    if password.is_none() && salted_password.is_none() {
        return Err(AddScramError::MissingPassword);
    }
    if password.is_none() && salt.is_none() {
        return Err(AddScramError::SaltedPasswordWithoutSalt);
    }
    let salted_password = match (&password, salted_password) {
        (None, Some(text)) => Some(Zeroizing::new(
            LENIENT_BASE64
                .decode(text.as_bytes())
                .map_err(|_| AddScramError::InvalidSaltedPassword)?,
        )),
        _ => None,
    };
    if !components.is_empty() {
        let names: Vec<&str> = components.keys().copied().collect();
        return Err(AddScramError::UnknownConfigurations(names.join(", ")));
    }
    if iterations < i64::from(mechanism.min_iterations()) {
        return Err(AddScramError::IterationsTooLow(mechanism));
    }
    if iterations > i64::from(mechanism.max_iterations()) {
        return Err(AddScramError::IterationsTooHigh(mechanism));
    }
    let iterations = u32::try_from(iterations).expect("checked against the bounds above");
    let credential = match (password, salted_password, salt) {
        (Some(password), _, Some(salt)) => ScramCredential::from_password(mechanism, &password, &salt, iterations)?,
        (Some(password), _, None) => ScramCredential::with_random_salt(mechanism, &password, iterations)?,
        (None, Some(salted), Some(salt)) => {
            ScramCredential::from_salted_password(mechanism, &salt, &salted, iterations)?
        }
        (None, _, _) => unreachable!("a salted password without salt was refused above"),
    };
    Ok((mechanism, name.to_string(), credential))
}

/// Java's `String.trim()`: strips every char up to U+0020 from both ends.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Java's `String.split(",")`: trailing empty strings are dropped; an empty input gives one empty
/// string.
fn java_split_comma(s: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(',').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts.len() == 1 && parts[0].is_empty() && !s.is_empty() {
        parts.clear();
    }
    parts
}

/// Java's `Integer.parseInt`: optional sign, ASCII digits, within i32.
fn parse_java_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = text.parse().ok()?;
    (i64::from(i32::MIN)..=i64::from(i32::MAX))
        .contains(&value)
        .then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A scripted RFC 5802 client, written from the RFC, to drive the server.
    struct TestClient {
        mechanism: ScramMechanism,
        password: String,
        gs2_header: String,
        client_first_bare: String,
        client_nonce: String,
        salted: Option<Vec<u8>>,
        auth_message: Option<String>,
    }

    impl TestClient {
        fn new(mechanism: ScramMechanism, user: &str, password: &str, nonce: &str) -> Self {
            TestClient {
                mechanism,
                password: password.to_string(),
                gs2_header: "n,,".to_string(),
                client_first_bare: format!("n={},r={nonce}", encode_saslname(user)),
                client_nonce: nonce.to_string(),
                salted: None,
                auth_message: None,
            }
        }

        fn first(&self) -> Vec<u8> {
            format!("{}{}", self.gs2_header, self.client_first_bare).into_bytes()
        }

        fn final_message(&mut self, server_first: &[u8]) -> Vec<u8> {
            let server_first = std::str::from_utf8(server_first).unwrap();
            let mut nonce = "";
            let mut salt = Vec::new();
            let mut iterations = 0;
            for attr in server_first.split(',') {
                let (k, v) = attr.split_once('=').unwrap();
                match k {
                    "r" => nonce = v,
                    "s" => salt = STANDARD.decode(v).unwrap(),
                    "i" => iterations = v.parse().unwrap(),
                    _ => {}
                }
            }
            assert!(nonce.starts_with(&self.client_nonce));
            let without_proof = format!("c={},r={nonce}", STANDARD.encode(&self.gs2_header));
            self.final_with(server_first, &salt, iterations, &without_proof)
        }

        fn final_with(&mut self, server_first: &str, salt: &[u8], iterations: u32, without_proof: &str) -> Vec<u8> {
            let m = self.mechanism;
            let salted = m.salted_password(self.password.as_bytes(), salt, iterations).to_vec();
            let client_key = m.hmac(&salted, &[b"Client Key"]);
            let stored_key = m.hash(&client_key);
            let auth = format!("{},{server_first},{without_proof}", self.client_first_bare);
            let signature = m.hmac(&stored_key, &[auth.as_bytes()]);
            let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
            self.salted = Some(salted);
            self.auth_message = Some(auth);
            format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes()
        }

        fn verify_server_final(&self, server_final: &[u8]) {
            let m = self.mechanism;
            let server_key = m.hmac(self.salted.as_ref().unwrap(), &[b"Server Key"]);
            let expected = m.hmac(&server_key, &[self.auth_message.as_ref().unwrap().as_bytes()]);
            assert_eq!(server_final, format!("v={}", STANDARD.encode(expected)).as_bytes());
        }
    }

    fn encode_saslname(user: &str) -> String {
        user.replace('=', "=3D").replace(',', "=2C")
    }

    fn store(mechanism: ScramMechanism, users: &[(&str, &str)]) -> impl Fn(&str) -> Option<ScramCredential> {
        let map: HashMap<String, ScramCredential> = users
            .iter()
            .map(|(u, p)| {
                let salt = format!("salt-of-{u}");
                let cred = ScramCredential::from_password(mechanism, p, salt.as_bytes(), 4096).unwrap();
                (u.to_string(), cred)
            })
            .collect();
        move |user: &str| map.get(user).cloned()
    }

    fn generic(mechanism: ScramMechanism) -> String {
        format!(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
        )
    }

    #[test]
    fn rfc7677_sha256_test_vector() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let cred = ScramCredential::from_password(ScramMechanism::Sha256, "pencil", &salt, 4096).unwrap();
        let mut server = ScramServer::new(ScramMechanism::Sha256, move |u: &str| {
            (u == "user").then(|| cred.clone())
        })
        .with_fixed_server_nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        let server_first = server.evaluate(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        assert_eq!(
            String::from_utf8(server_first).unwrap(),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let server_final = server
            .evaluate(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(
            String::from_utf8(server_final).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        assert_eq!(server.authenticated_user(), Some("user"));
        assert!(server.is_complete());
    }

    #[test]
    fn rfc5802_flow_adapted_to_both_mechanisms() {
        // RFC 5802 section 5's nonces, salt and password, with SHA-256 / SHA-512 in place of SHA-1.
        for mechanism in ScramMechanism::ALL {
            let salt = STANDARD.decode("QSXCR+Q6sek8bf92").unwrap();
            let cred = ScramCredential::from_password(mechanism, "pencil", &salt, 4096).unwrap();
            let mut server = ScramServer::new(mechanism, move |u: &str| (u == "user").then(|| cred.clone()))
                .with_fixed_server_nonce("3rfcNHYJY1ZVvWVs7j");
            let mut client = TestClient::new(mechanism, "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
            let server_first = server.evaluate(&client.first()).unwrap();
            assert_eq!(
                server_first,
                b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096".to_vec()
            );
            let server_final = server.evaluate(&client.final_message(&server_first)).unwrap();
            client.verify_server_final(&server_final);
            assert_eq!(server.authenticated_user(), Some("user"));
        }
    }

    #[test]
    fn full_exchange_with_random_nonces_both_mechanisms() {
        for mechanism in ScramMechanism::ALL {
            let mut server = ScramServer::new(mechanism, store(mechanism, &[("alice", "alice-secret")]));
            let mut client = TestClient::new(mechanism, "alice", "alice-secret", "abcdefgh12345678");
            let server_first = server.evaluate(&client.first()).unwrap();
            let server_final = server.evaluate(&client.final_message(&server_first)).unwrap();
            client.verify_server_final(&server_final);
            assert_eq!(server.authenticated_user(), Some("alice"));
            // A third message is out of turn.
            let err = server.evaluate(b"anything").unwrap_err();
            assert_eq!(err, ScramError::UnexpectedMessage("COMPLETE"));
            assert_eq!(err.error_code(), 34);
            assert_eq!(server.authenticated_user(), None);
        }
    }

    #[test]
    fn escaped_username_and_matching_authzid() {
        let m = ScramMechanism::Sha256;
        let mut server = ScramServer::new(m, store(m, &[("a,b=c", "pw")]));
        let mut client = TestClient::new(m, "a,b=c", "pw", "nonce1");
        client.gs2_header = "n,a=a=2Cb=3Dc,".to_string();
        let server_first = server.evaluate(&client.first()).unwrap();
        let server_final = server.evaluate(&client.final_message(&server_first)).unwrap();
        client.verify_server_final(&server_final);
        assert_eq!(server.authenticated_user(), Some("a,b=c"));
    }

    #[test]
    fn other_authzid_is_refused_with_kafkas_message_whether_or_not_user_exists() {
        let m = ScramMechanism::Sha512;
        for user in ["alice", "nobody"] {
            let mut server = ScramServer::new(m, store(m, &[("alice", "pw")]));
            let err = server
                .evaluate(format!("n,a=admin,n={user},r=abc").as_bytes())
                .unwrap_err();
            assert_eq!(err, ScramError::AuthorizationIdMismatch);
            assert_eq!(
                err.client_message(m, false),
                "Authentication failed: Client requested an authorization id that is different from username"
            );
        }
    }

    #[test]
    fn wrong_password_and_unknown_user_fail_alike() {
        let m = ScramMechanism::Sha256;
        let mut outcomes = Vec::new();
        for (user, password) in [("alice", "wrong"), ("mallory", "whatever")] {
            let mut server = ScramServer::new(m, store(m, &[("alice", "alice-secret")]));
            let mut client = TestClient::new(m, user, password, "n0nce");
            let server_first = server.evaluate(&client.first()).unwrap();
            let text = String::from_utf8(server_first.clone()).unwrap();
            assert!(text.ends_with(",i=4096"), "{text}");
            let err = server.evaluate(&client.final_message(&server_first)).unwrap_err();
            assert_eq!(err.client_message(m, false), generic(m));
            assert_eq!(err.error_code(), 58);
            assert!(server.authenticated_user().is_none());
            outcomes.push(err);
        }
        assert_eq!(outcomes[0], outcomes[1]);
        assert_eq!(outcomes[0].to_string(), "Invalid client credentials");
    }

    #[test]
    fn unknown_user_gets_a_stable_salt() {
        let m = ScramMechanism::Sha256;
        let salt_of = |user: &str| {
            let mut server = ScramServer::new(m, |_: &str| None);
            let first = String::from_utf8(server.evaluate(format!("n,,n={user},r=x").as_bytes()).unwrap()).unwrap();
            first.split(',').find(|a| a.starts_with("s=")).unwrap().to_string()
        };
        assert_eq!(salt_of("ghost"), salt_of("ghost"));
        assert_ne!(salt_of("ghost"), salt_of("phantom"));
    }

    #[test]
    fn credential_of_another_mechanism_counts_as_none() {
        let cred = ScramCredential::from_password(ScramMechanism::Sha512, "pw", b"salt", 4096).unwrap();
        let mut server = ScramServer::new(ScramMechanism::Sha256, move |_: &str| Some(cred.clone()));
        let mut client = TestClient::new(ScramMechanism::Sha256, "alice", "pw", "n");
        let first = server.evaluate(&client.first()).unwrap();
        assert_eq!(
            server.evaluate(&client.final_message(&first)),
            Err(ScramError::InvalidCredentials)
        );
    }

    #[test]
    fn tampered_nonce_is_refused() {
        let m = ScramMechanism::Sha256;
        let mut server = ScramServer::new(m, store(m, &[("alice", "pw")]));
        let mut client = TestClient::new(m, "alice", "pw", "clientnonce");
        let first = server.evaluate(&client.first()).unwrap();
        let first = String::from_utf8(first).unwrap();
        let salt = STANDARD.decode(&first.split(',').nth(1).unwrap()[2..]).unwrap();
        // Only the client's part of the nonce (CVE-2024-56128), and a different server part.
        for nonce in ["clientnonce".to_string(), "clientnonceXXXX".to_string()] {
            let mut server = ScramServer::new(m, store(m, &[("alice", "pw")]));
            let real_first = String::from_utf8(server.evaluate(&client.first()).unwrap()).unwrap();
            let msg = client.final_with(&real_first, &salt, 4096, &format!("c=biws,r={nonce}"));
            let err = server.evaluate(&msg).unwrap_err();
            assert_eq!(err, ScramError::NonceMismatch);
            assert_eq!(err.client_message(m, false), generic(m));
            assert!(!err.to_string().contains("clientnonce"));
        }
    }

    #[test]
    fn replayed_final_message_fails_on_a_new_exchange() {
        let m = ScramMechanism::Sha512;
        let lookup = store(m, &[("alice", "pw")]);
        let mut server = ScramServer::new(m, &lookup);
        let mut client = TestClient::new(m, "alice", "pw", "fixedclientnonce");
        let first = server.evaluate(&client.first()).unwrap();
        let captured_final = client.final_message(&first);
        server.evaluate(&captured_final).unwrap();

        // An eavesdropper replays both client messages on a new connection.
        let mut replay = ScramServer::new(m, &lookup);
        replay.evaluate(&client.first()).unwrap();
        assert_eq!(replay.evaluate(&captured_final), Err(ScramError::NonceMismatch));
    }

    #[test]
    fn channel_binding_is_refused() {
        let m = ScramMechanism::Sha256;
        for msg in ["p=tls-unique,,n=alice,r=abc", "y,,n=alice,r=abc"] {
            let mut server = ScramServer::new(m, store(m, &[("alice", "pw")]));
            assert_eq!(
                server.evaluate(msg.as_bytes()),
                Err(ScramError::ChannelBindingUnsupported)
            );
        }
        // c= that is not the GS2 header "n,," (here "y,,").
        let mut server = ScramServer::new(m, store(m, &[("alice", "pw")]));
        let mut client = TestClient::new(m, "alice", "pw", "abc");
        let first = String::from_utf8(server.evaluate(&client.first()).unwrap()).unwrap();
        let nonce = &first.split(',').next().unwrap()[2..];
        let salt = STANDARD.decode(&first.split(',').nth(1).unwrap()[2..]).unwrap();
        let msg = client.final_with(&first, &salt, 4096, &format!("c=eSws,r={nonce}"));
        assert_eq!(server.evaluate(&msg), Err(ScramError::ChannelBindingMismatch));
    }

    #[test]
    fn bad_client_first_messages() {
        let m = ScramMechanism::Sha256;
        let cases: &[(&[u8], ScramError)] = &[
            (b"", ScramError::InvalidClientFirst),
            (b"n,,", ScramError::InvalidClientFirst),
            (b"x,,n=alice,r=abc", ScramError::InvalidClientFirst),
            (b"n,alice,n=alice,r=abc", ScramError::InvalidClientFirst),
            (b"n,,m=ext,n=alice,r=abc", ScramError::InvalidClientFirst),
            (b"n,,n=,r=abc", ScramError::InvalidClientFirst),
            (b"n,,n=alice,r=", ScramError::InvalidClientFirst),
            (b"n,,n=alice", ScramError::InvalidClientFirst),
            (b"n,,r=abc,n=alice", ScramError::InvalidClientFirst),
            (b"n,,n=al=ice,r=abc", ScramError::InvalidSaslName),
            (b"n,,n=alice,r=abc,1=2", ScramError::InvalidClientFirst),
            (b"n,,n=alice,r=abc,ext", ScramError::InvalidClientFirst),
            (b"n,,n=al\xc3\xa9,r=abc", ScramError::InvalidClientFirst),
            (b"n,,n=alice,r=ab c", ScramError::InvalidClientFirst),
            (b"n,,n=alice,r=abc,tokenauth=true", ScramError::TokenAuthUnsupported),
            (b"n,,n=alice,r=abc,tokenauth=TRUE", ScramError::TokenAuthUnsupported),
            (b"\xff\xfe", ScramError::NotUtf8),
        ];
        for (msg, expected) in cases {
            let mut server = ScramServer::new(m, store(m, &[("alice", "pw")]));
            let err = server.evaluate(msg).unwrap_err();
            assert_eq!(&err, expected, "{}", String::from_utf8_lossy(msg));
            assert_eq!(
                err.client_message(m, true),
                generic(m).replace("during authentication", "during re-authentication")
            );
            // Failed for good.
            assert_eq!(
                server.evaluate(b"n,,n=alice,r=abc"),
                Err(ScramError::UnexpectedMessage("FAILED"))
            );
        }
        // Unknown extensions are ignored, as Kafka does, and tokenauth=false is no token.
        let mut server = ScramServer::new(m, store(m, &[("alice", "pw")]));
        assert!(server.evaluate(b"n,,n=alice,r=abc,tokenauth=false,foo=a=b").is_ok());
    }

    #[test]
    fn bad_client_final_messages() {
        let m = ScramMechanism::Sha256;
        let cases: &[&str] = &[
            "",
            "c=biws,r={n}",
            "c=biws,p=AAAA",
            "r={n},c=biws,p=AAAA",
            "c=bi!s,r={n},p=AAAA",
            "c=biws,r={n},p=AA",
            "c=biws,r={n},1x=y,p=AAAA",
            // A well-formed proof of the wrong length.
            "c=biws,r={n},p=AAAA",
        ];
        for case in cases {
            let mut server = ScramServer::new(m, store(m, &[("alice", "pw")]));
            let first = String::from_utf8(server.evaluate(b"n,,n=alice,r=abc").unwrap()).unwrap();
            let nonce = &first.split(',').next().unwrap()[2..];
            let err = server.evaluate(case.replace("{n}", nonce).as_bytes()).unwrap_err();
            assert_eq!(err, ScramError::InvalidClientFinal, "{case}");
        }
    }

    #[test]
    fn oversized_message_is_refused_before_parsing() {
        let m = ScramMechanism::Sha256;
        let mut server = ScramServer::new(m, store(m, &[("alice", "pw")]));
        let big = format!("n,,n=alice,r={}", "a".repeat(MAX_MESSAGE_BYTES));
        let err = server.evaluate(big.as_bytes()).unwrap_err();
        assert_eq!(err, ScramError::MessageTooLarge { len: big.len() });
        assert_eq!(err.client_message(m, false), generic(m));
    }

    #[test]
    fn iteration_bounds() {
        for m in ScramMechanism::ALL {
            for bad in [0, 1, 4095, 16385, u32::MAX] {
                assert_eq!(
                    ScramCredential::from_password(m, "pw", b"s", bad),
                    Err(ScramError::IterationsOutOfRange {
                        mechanism: m,
                        iterations: bad
                    })
                );
                assert!(ScramCredential::from_salted_password(m, b"s", &[1; 32], bad).is_err());
                // A stored credential out of bounds (e.g. written by another tool) is refused too.
                let cred = ScramCredential {
                    iterations: bad,
                    ..ScramCredential::from_password(m, "pw", b"s", 4096).unwrap()
                };
                let mut server = ScramServer::new(m, move |_: &str| Some(cred.clone()));
                let err = server.evaluate(b"n,,n=alice,r=abc").unwrap_err();
                assert!(matches!(err, ScramError::IterationsOutOfRange { .. }));
                assert_eq!(err.client_message(m, false), generic(m));
            }
            assert!(ScramCredential::from_password(m, "pw", b"s", 4096).is_ok());
            assert!(ScramCredential::from_password(m, "pw", b"s", 16384).is_ok());
        }
    }

    #[test]
    fn credentials_from_password_and_from_salted_password_agree() {
        for m in ScramMechanism::ALL {
            let salted = m.salted_password(b"secret", b"salt", 8192);
            let a = ScramCredential::from_password(m, "secret", b"salt", 8192).unwrap();
            let b = ScramCredential::from_salted_password(m, b"salt", &salted, 8192).unwrap();
            assert_eq!(a, b);
            assert_eq!(a.stored_key.len(), m.hash_len());
            let random = ScramCredential::with_random_salt(m, "secret", 4096).unwrap();
            assert_eq!(random.salt.len(), 32);
            assert_ne!(
                random.salt,
                ScramCredential::with_random_salt(m, "secret", 4096).unwrap().salt
            );
            let debug = format!("{a:?}");
            assert!(debug.contains("<redacted>") && !debug.contains(&format!("{:?}", a.stored_key)));
        }
        assert_eq!(
            ScramCredential::from_salted_password(ScramMechanism::Sha256, b"s", &[], 4096),
            Err(ScramError::EmptySaltedPassword)
        );
    }

    #[test]
    fn mechanism_names_and_codes() {
        assert_eq!(ScramMechanism::Sha256.name(), "SCRAM-SHA-256");
        assert_eq!(ScramMechanism::Sha512.to_string(), "SCRAM-SHA-512");
        assert_eq!(ScramMechanism::from_name("SCRAM-SHA-512"), Some(ScramMechanism::Sha512));
        assert_eq!(ScramMechanism::from_name("scram-sha-512"), None);
        assert_eq!(ScramMechanism::Sha256.code(), 1);
        assert_eq!(ScramMechanism::from_code(2), Some(ScramMechanism::Sha512));
        assert_eq!(ScramMechanism::from_code(0), None);
        assert_eq!(
            (
                ScramMechanism::Sha512.min_iterations(),
                ScramMechanism::Sha512.max_iterations()
            ),
            (4096, 16384)
        );
    }

    // Kafka's ScramParserTest data.
    const TEST_SALT_B64: &str = "MWx2NHBkbnc0ZndxN25vdGN4bTB5eTFrN3E=";
    const TEST_SALTED_PASSWORD_B64: &str = "mT0yyUUxnlJaC99HXgRTSYlbuqa4FSGtJCJfTMvjYCE=";

    #[test]
    fn add_scram_with_password_defaults_to_random_salt_and_4096() {
        let (m, name, cred) = parse_add_scram("SCRAM-SHA-256=[name=alice,password=alice-secret]").unwrap();
        assert_eq!(
            (m, name.as_str(), cred.iterations),
            (ScramMechanism::Sha256, "alice", 4096)
        );
        let expected = ScramCredential::from_password(m, "alice-secret", &cred.salt, 4096).unwrap();
        assert_eq!(cred, expected);
        let (_, _, again) = parse_add_scram("SCRAM-SHA-256=[name=alice,password=alice-secret]").unwrap();
        assert_ne!(again.salt, cred.salt);
    }

    #[test]
    fn add_scram_with_salt_iterations_and_quotes() {
        let salt = STANDARD.decode(TEST_SALT_B64).unwrap();
        let (m, name, cred) = parse_add_scram(&format!(
            "  SCRAM-SHA-512=[name=bob,password=my pass,iterations=8192,salt=\"{TEST_SALT_B64}\"] "
        ))
        .unwrap();
        assert_eq!((m, name.as_str()), (ScramMechanism::Sha512, "bob"));
        assert_eq!(cred, ScramCredential::from_password(m, "my pass", &salt, 8192).unwrap());
        // A password with an equals sign keeps it; a quoted one loses its quotes.
        let (_, _, cred) = parse_add_scram(&format!(
            "SCRAM-SHA-256=[name=bob,password=\"a=b\",salt={TEST_SALT_B64}]"
        ))
        .unwrap();
        assert_eq!(
            cred,
            ScramCredential::from_password(ScramMechanism::Sha256, "a=b", &salt, 4096).unwrap()
        );
    }

    #[test]
    fn add_scram_with_salted_password_matches_kafkas_record() {
        let salt = STANDARD.decode(TEST_SALT_B64).unwrap();
        let salted = STANDARD.decode(TEST_SALTED_PASSWORD_B64).unwrap();
        let (m, name, cred) = parse_add_scram(&format!(
            "SCRAM-SHA-512=[name=alice,salt=\"{TEST_SALT_B64}\",saltedpassword=\"{TEST_SALTED_PASSWORD_B64}\"]"
        ))
        .unwrap();
        assert_eq!(
            (m, name.as_str(), cred.iterations),
            (ScramMechanism::Sha512, "alice", 4096)
        );
        assert_eq!(cred.salt, salt);
        assert_eq!(cred.stored_key, m.hash(&m.hmac(&salted, &[b"Client Key"])));
        assert_eq!(cred.server_key, m.hmac(&salted, &[b"Server Key"]));
    }

    #[test]
    fn add_scram_errors_follow_kafka_and_hide_secrets() {
        let cases: &[(&str, &str)] = &[
            ("SCRAM-SHA-512", "Failed to find equals sign in SCRAM argument"),
            (
                "SCRAM-SHA-UNSUPPORTED=[name=scram-admin,password=scram-user-secret]",
                "The add-scram mechanism SCRAM-SHA-UNSUPPORTED is not supported.",
            ),
            (
                "SCRAM-SHA-256=name=scram-admin,password=s",
                "Expected configuration string to start with [",
            ),
            (
                "SCRAM-SHA-256=[name=scram-admin,password=s",
                "Expected configuration string to end with ]",
            ),
            ("SCRAM-SHA-256=[password=mypass]", "You must supply 'name' to add-scram"),
            (
                "SCRAM-SHA-256=[name=,password=mypass]",
                "You must supply 'name' to add-scram",
            ),
            (
                "SCRAM-SHA-256=[name=bar]",
                "You must supply one of 'password' or 'saltedpassword' to add-scram",
            ),
            (
                "SCRAM-SHA-256=[name=bob,password=mypass,unknown=something,unknown2=somethingelse]",
                "Unknown SCRAM configurations: unknown, unknown2",
            ),
            (
                "SCRAM-SHA-256=[name=alice,saltedpassword=\"mT0yyUUxnlJaC99HXgRTSYlbuqa4FSGtJCJfTMvjYCE=\"]",
                "You must supply 'salt' with 'saltedpassword' to add-scram",
            ),
            (
                "SCRAM-SHA-256=[name=a,mysecret]",
                "No equals sign found in SCRAM component number 2",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=p,salt=%%%]",
                "Failed to decode given salt",
            ),
            (
                "SCRAM-SHA-256=[name=a,salt=c2FsdA==,saltedpassword=s3cr3t!!]",
                "Failed to decode given saltedPassword",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=p,iterations=lots]",
                "Failed to parse iterations count: lots",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=p,iterations=4095]",
                "The 'iterations' value must be >= 4096 for add-scram using SCRAM-SHA-256",
            ),
            (
                "SCRAM-SHA-512=[name=a,password=p,iterations=16385]",
                "The 'iterations' value must be <= 16384 for add-scram using SCRAM-SHA-512",
            ),
            (
                "SCRAM-SHA-512=[name=a,password=p,iterations=99999999999]",
                "Failed to parse iterations count: 99999999999",
            ),
        ];
        for (arg, expected) in cases {
            let err = parse_add_scram(arg).unwrap_err();
            assert_eq!(err.to_string(), *expected, "{arg}");
            for secret in ["mysecret", "s3cr3t", "mT0yyUUx", "scram-user-secret", "%%%"] {
                assert!(!err.to_string().contains(secret), "{arg}");
            }
        }
    }
}
