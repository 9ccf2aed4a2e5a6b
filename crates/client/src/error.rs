//! The client's error type: Kafka error codes keep their name so messages read like
//! "Topic 'x' already exists (TOPIC_ALREADY_EXISTS)".

use sluice_protocol::ErrorCode;
use std::time::Duration;

/// Everything the client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The broker answered with a Kafka error code.
    #[error("{message} ({})", code_name(*.code))]
    Kafka {
        /// The wire code (kept raw: a newer broker may send a code this table lacks).
        code: i16,
        /// One sentence: the broker's message, or Kafka's default message with context.
        message: String,
    },
    /// Connecting, reading or writing failed.
    #[error("{context}: {source}")]
    Io {
        /// What the client was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A request got no answer in time.
    #[error("{what} timed out after {:?} (REQUEST_TIMED_OUT)", .after)]
    Timeout {
        /// What timed out.
        what: String,
        /// How long the client waited.
        after: Duration,
    },
    /// The connection closed while requests were outstanding.
    #[error("the connection to {0} closed (NETWORK_EXCEPTION)")]
    Disconnected(String),
    /// The broker does not implement an API (or no version both sides know).
    #[error("the broker does not support {0} (UNSUPPORTED_VERSION)")]
    Unsupported(&'static str),
    /// A frame could not be encoded or decoded, or the broker broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The caller asked for something impossible (unknown topic name format, bad partition...).
    #[error("{0}")]
    Invalid(String),
}

fn code_name(code: i16) -> String {
    match ErrorCode::from_code(code) {
        Some(c) => c.name().to_owned(),
        None => format!("error code {code}"),
    }
}

impl Error {
    /// The Kafka error code, when the broker sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Kafka { code, .. } => ErrorCode::from_code(*code),
            Error::Timeout { .. } => Some(ErrorCode::RequestTimedOut),
            Error::Disconnected(_) => Some(ErrorCode::NetworkException),
            Error::Unsupported(_) => Some(ErrorCode::UnsupportedVersion),
            _ => None,
        }
    }

    /// Whether retrying (after refreshing metadata) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Kafka { code, .. } => ErrorCode::from_code(*code).is_some_and(|c| c.is_retriable()),
            Error::Timeout { .. } | Error::Disconnected(_) | Error::Io { .. } => true,
            _ => false,
        }
    }

    /// Checks a response's error code: `Ok` for 0, else an error whose message is the broker's
    /// `message` when it sent one, else `context` followed by Kafka's default message.
    pub fn check(code: i16, message: Option<&str>, context: impl FnOnce() -> String) -> Result<(), Error> {
        if code == 0 {
            return Ok(());
        }
        let message = match message.map(str::trim).filter(|m| !m.is_empty()) {
            Some(m) => m.trim_end_matches('.').to_owned(),
            None => {
                let default = ErrorCode::from_code(code).map_or("unknown error", |c| c.message());
                format!("{}: {}", context(), default.trim_end_matches('.'))
            }
        };
        Err(Error::Kafka { code, message })
    }
}

impl From<sluice_protocol::DecodeError> for Error {
    fn from(e: sluice_protocol::DecodeError) -> Error {
        Error::Protocol(format!("cannot decode a response: {e}"))
    }
}

impl From<sluice_protocol::EncodeError> for Error {
    fn from(e: sluice_protocol::EncodeError) -> Error {
        Error::Protocol(format!("cannot encode a request: {e}"))
    }
}

impl From<sluice_protocol::records::RecordsError> for Error {
    fn from(e: sluice_protocol::records::RecordsError) -> Error {
        Error::Protocol(format!("bad record batch: {e}"))
    }
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
