//! The client's side of SASL/SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), for Sluice's
//! own client and CLI; [`crate::scram`] is the broker's side.
//!
//! [`ScramClient`] is a state machine with no I/O: [`client_first`](ScramClient::client_first)
//! gives the first token, [`handle_server_first`](ScramClient::handle_server_first) turns the
//! server's answer into client-final, and [`verify_server_final`](ScramClient::verify_server_final)
//! checks that the server knew the credential (its signature), so a server that merely accepts
//! everything is caught. As in Kafka's `ScramSaslClient`: no channel binding (`n,,`), no SASLprep
//! (the password is its UTF-8 bytes), and an iteration count below 4096 from the server is
//! refused.
//!
//! [`salted_password`] is RFC 5802's `Hi()`, which AlterUserScramCredentials carries instead of
//! the password (`kafka-configs --alter --add-config 'SCRAM-SHA-512=[password=...]'` computes it on
//! the client, with a random salt: see [`random_salt`]).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::scram::ScramMechanism;

/// Why a client-side SCRAM exchange failed. No variant carries a password, key or proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramClientError {
    /// The server's message is not what RFC 5802 describes.
    #[error("invalid SCRAM {0} message from the server")]
    InvalidServerMessage(&'static str),
    /// The server's nonce does not extend the client's (a replay or a broken server).
    #[error("the SCRAM server nonce does not start with the client nonce")]
    NonceMismatch,
    /// The server asked for fewer iterations than Kafka's minimum, which would make the proof
    /// cheap to attack offline.
    #[error("the server asked for {0} SCRAM iterations, fewer than the minimum of 4096")]
    TooFewIterations(u32),
    /// The server's signature is wrong: it does not hold this user's credential.
    #[error("the server's SCRAM signature is invalid: it does not know this credential")]
    InvalidServerSignature,
    /// The server answered with `e=<error>`.
    #[error("the SCRAM server refused: {0}")]
    ServerError(String),
    /// A message arrived in the wrong state.
    #[error("unexpected SCRAM message in client state {0}")]
    UnexpectedMessage(&'static str),
    /// The operating system's random source failed.
    #[error("no secure random numbers available for SCRAM")]
    RandomUnavailable,
}

enum State {
    Initial,
    ClientFirstSent,
    ClientFinalSent { server_signature: Vec<u8> },
    Complete,
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Initial => "SEND_CLIENT_FIRST_MESSAGE",
            State::ClientFirstSent => "RECEIVE_SERVER_FIRST_MESSAGE",
            State::ClientFinalSent { .. } => "RECEIVE_SERVER_FINAL_MESSAGE",
            State::Complete => "COMPLETE",
            State::Failed => "FAILED",
        }
    }
}

/// One client-side SCRAM exchange.
pub struct ScramClient {
    mechanism: ScramMechanism,
    username: String,
    password: Zeroizing<String>,
    client_nonce: String,
    state: State,
}

impl ScramClient {
    /// An exchange for `username` with a fresh random client nonce.
    pub fn new(mechanism: ScramMechanism, username: &str, password: &str) -> Result<ScramClient, ScramClientError> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).map_err(|_| ScramClientError::RandomUnavailable)?;
        Ok(Self::with_nonce(
            mechanism,
            username,
            password,
            &STANDARD_NO_PAD.encode(bytes),
        ))
    }

    /// An exchange with a given client nonce (printable ASCII without `,`), to replay published
    /// test vectors. Real exchanges use [`ScramClient::new`].
    pub fn with_nonce(mechanism: ScramMechanism, username: &str, password: &str, nonce: &str) -> ScramClient {
        ScramClient {
            mechanism,
            username: username.to_owned(),
            password: Zeroizing::new(password.to_owned()),
            client_nonce: nonce.to_owned(),
            state: State::Initial,
        }
    }

    /// The mechanism.
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Whether the server proved itself (after [`verify_server_final`](Self::verify_server_final)).
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Complete)
    }

    fn client_first_bare(&self) -> String {
        format!("n={},r={}", encode_saslname(&self.username), self.client_nonce)
    }

    /// The client-first message: `n,,n=<user>,r=<nonce>`.
    pub fn client_first(&mut self) -> Result<Vec<u8>, ScramClientError> {
        if !matches!(self.state, State::Initial) {
            return Err(ScramClientError::UnexpectedMessage(self.state.name()));
        }
        self.state = State::ClientFirstSent;
        Ok(format!("n,,{}", self.client_first_bare()).into_bytes())
    }

    /// Takes server-first (`r=<nonce>,s=<salt>,i=<iterations>`) and returns client-final with the
    /// proof.
    pub fn handle_server_first(&mut self, message: &[u8]) -> Result<Vec<u8>, ScramClientError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        if !matches!(state, State::ClientFirstSent) {
            return Err(ScramClientError::UnexpectedMessage(state.name()));
        }
        const WHAT: &str = "server-first";
        let text = std::str::from_utf8(message).map_err(|_| ScramClientError::InvalidServerMessage(WHAT))?;
        if let Some(error) = text.strip_prefix("e=") {
            return Err(ScramClientError::ServerError(error.to_owned()));
        }
        let mut attributes = text.split(',');
        // A reserved `m=` extension first would fail here, as RFC 5802 asks.
        let nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramClientError::InvalidServerMessage(WHAT))?;
        let salt = attributes
            .next()
            .and_then(|a| a.strip_prefix("s="))
            .and_then(|s| STANDARD.decode(s).ok())
            .ok_or(ScramClientError::InvalidServerMessage(WHAT))?;
        let iterations: u32 = attributes
            .next()
            .and_then(|a| a.strip_prefix("i="))
            .and_then(|i| i.parse().ok())
            .ok_or(ScramClientError::InvalidServerMessage(WHAT))?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(ScramClientError::NonceMismatch);
        }
        if !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',') {
            return Err(ScramClientError::InvalidServerMessage(WHAT));
        }
        if iterations < ScramMechanism::MIN_ITERATIONS {
            return Err(ScramClientError::TooFewIterations(iterations));
        }
        let mechanism = self.mechanism;
        let salted = salted_password(mechanism, &self.password, &salt, iterations);
        let client_key = Zeroizing::new(hmac(mechanism, &salted, b"Client Key"));
        let stored_key = hash(mechanism, &client_key);
        // c=biws is base64("n,,"): no channel binding, no authorization id.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{},{}", self.client_first_bare(), text, without_proof);
        let client_signature = hmac(mechanism, &stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&client_signature).map(|(k, s)| k ^ s).collect();
        let server_key = hmac(mechanism, &salted, b"Server Key");
        let server_signature = hmac(mechanism, &server_key, auth_message.as_bytes());
        self.state = State::ClientFinalSent { server_signature };
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes())
    }

    /// Checks server-final (`v=<signature>`); `e=<error>` and a wrong signature fail.
    pub fn verify_server_final(&mut self, message: &[u8]) -> Result<(), ScramClientError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let State::ClientFinalSent { server_signature } = state else {
            return Err(ScramClientError::UnexpectedMessage(state.name()));
        };
        const WHAT: &str = "server-final";
        let text = std::str::from_utf8(message).map_err(|_| ScramClientError::InvalidServerMessage(WHAT))?;
        if let Some(error) = text.strip_prefix("e=") {
            return Err(ScramClientError::ServerError(error.to_owned()));
        }
        let signature = text
            .split(',')
            .next()
            .and_then(|a| a.strip_prefix("v="))
            .and_then(|v| STANDARD.decode(v).ok())
            .ok_or(ScramClientError::InvalidServerMessage(WHAT))?;
        if !bool::from(signature.ct_eq(&server_signature)) {
            return Err(ScramClientError::InvalidServerSignature);
        }
        self.state = State::Complete;
        Ok(())
    }
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &format_args!("<redacted>"))
            .field("state", &self.state.name())
            .finish()
    }
}

/// RFC 5802's `SaltedPassword := Hi(password, salt, iterations)` (PBKDF2 with the mechanism's
/// HMAC), which AlterUserScramCredentials carries.
pub fn salted_password(mechanism: ScramMechanism, password: &str, salt: &[u8], iterations: u32) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; mechanism.hash_len()]);
    match mechanism {
        ScramMechanism::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out),
        ScramMechanism::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), salt, iterations, &mut out),
    }
    out
}

/// A fresh random 32-byte salt, as Kafka's tools draw it (`ScramFormatter.secureRandomBytes`)
/// for both mechanisms.
pub fn random_salt() -> Result<Vec<u8>, ScramClientError> {
    let mut salt = vec![0u8; 32];
    getrandom::fill(&mut salt).map_err(|_| ScramClientError::RandomUnavailable)?;
    Ok(salt)
}

fn hmac(mechanism: ScramMechanism, key: &[u8], data: &[u8]) -> Vec<u8> {
    match mechanism {
        ScramMechanism::Sha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        ScramMechanism::Sha512 => {
            let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC accepts keys of any length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

fn hash(mechanism: ScramMechanism, data: &[u8]) -> Vec<u8> {
    match mechanism {
        ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
        ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
    }
}

/// RFC 5802 `saslname`: `,` and `=` written as `=2C` and `=3D`.
fn encode_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scram::{ScramCredential, ScramServer};

    /// RFC 7677 section 3: user "user", password "pencil".
    #[test]
    fn rfc7677_sha256_vector() {
        let mut client = ScramClient::with_nonce(ScramMechanism::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(client.client_first().unwrap(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final = client.handle_server_first(server_first).unwrap();
        assert_eq!(
            String::from_utf8(client_final).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        client
            .verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(client.is_complete());
    }

    #[test]
    fn rfc7677_wrong_server_signature_is_refused() {
        let mut client = ScramClient::with_nonce(ScramMechanism::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        client.client_first().unwrap();
        client
            .handle_server_first(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            )
            .unwrap();
        assert_eq!(
            client.verify_server_final(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(ScramClientError::InvalidServerSignature)
        );
        assert!(!client.is_complete());
    }

    fn exchange(mechanism: ScramMechanism, user: &str, stored: &str, given: &str) -> Result<(), String> {
        let credential = ScramCredential::with_random_salt(mechanism, stored, 4096).unwrap();
        let name = user.to_owned();
        let mut server = ScramServer::new(mechanism, move |u: &str| (u == name).then(|| credential.clone()));
        let mut client = ScramClient::new(mechanism, user, given).unwrap();
        let first = client.client_first().unwrap();
        let server_first = server.evaluate(&first).map_err(|e| e.to_string())?;
        let client_final = client.handle_server_first(&server_first).map_err(|e| e.to_string())?;
        let server_final = server.evaluate(&client_final).map_err(|e| e.to_string())?;
        client.verify_server_final(&server_final).map_err(|e| e.to_string())?;
        assert_eq!(server.authenticated_user(), Some(user));
        Ok(())
    }

    #[test]
    fn against_the_broker_side_both_mechanisms() {
        for mechanism in ScramMechanism::ALL {
            exchange(mechanism, "alice", "s3cret", "s3cret").unwrap();
            // Names with the characters saslname escapes.
            exchange(mechanism, "a=b,c", "pw", "pw").unwrap();
            assert_eq!(
                exchange(mechanism, "alice", "s3cret", "wrong").unwrap_err(),
                "Invalid client credentials"
            );
        }
    }

    #[test]
    fn salted_password_matches_the_brokers_credential() {
        let salt = b"0123456789abcdef";
        for mechanism in ScramMechanism::ALL {
            let salted = salted_password(mechanism, "pw", salt, 8192);
            assert_eq!(
                ScramCredential::from_salted_password(mechanism, salt, &salted, 8192).unwrap(),
                ScramCredential::from_password(mechanism, "pw", salt, 8192).unwrap()
            );
        }
    }

    #[test]
    fn bad_server_first_messages_are_refused() {
        let start = || {
            let mut c = ScramClient::with_nonce(ScramMechanism::Sha512, "u", "p", "abc");
            c.client_first().unwrap();
            c
        };
        assert_eq!(
            start().handle_server_first(b"r=xyzdef,s=AAAA,i=4096"),
            Err(ScramClientError::NonceMismatch)
        );
        assert_eq!(
            start().handle_server_first(b"r=abc,s=AAAA,i=4096"),
            Err(ScramClientError::NonceMismatch)
        );
        assert_eq!(
            start().handle_server_first(b"r=abcdef,s=AAAA,i=100"),
            Err(ScramClientError::TooFewIterations(100))
        );
        assert_eq!(
            start().handle_server_first(b"e=unknown-user"),
            Err(ScramClientError::ServerError("unknown-user".into()))
        );
        assert!(matches!(
            start().handle_server_first(b"r=abcdef,i=4096"),
            Err(ScramClientError::InvalidServerMessage(_))
        ));
        let mut fresh = ScramClient::with_nonce(ScramMechanism::Sha512, "u", "p", "abc");
        assert!(matches!(
            fresh.handle_server_first(b"r=abcdef,s=AAAA,i=4096"),
            Err(ScramClientError::UnexpectedMessage(_))
        ));
    }
}
