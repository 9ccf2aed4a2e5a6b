//! The one error type of TLS configuration, safe to log.

/// Why a listener's TLS settings or key material cannot be used.
///
/// Every message names the setting or file at fault and what to do about it, so the broker can
/// log it as is. No variant ever carries a password, a private key or decrypted bytes: messages
/// are built from key names, file paths and the underlying library's description of the failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsConfigError {
    /// A setting has a value Sluice does not accept (bad value, forbidden combination, or a
    /// behaviour rustls cannot provide). `key` is the `ssl.*` name as the user wrote it.
    #[error("invalid TLS setting {key}: {reason}")]
    InvalidSetting {
        /// The `ssl.*` key at fault.
        key: String,
        /// What is wrong and, where possible, how to fix it.
        reason: String,
    },
    /// A key store or trust store file could not be read.
    #[error("cannot read {what} {path}: {reason}")]
    Io {
        /// Which store (`key store`, `trust store`).
        what: &'static str,
        /// The configured path.
        path: String,
        /// The operating system's description.
        reason: String,
    },
    /// Key material was read but is unusable: malformed PEM or PKCS#12, a wrong or missing
    /// password, a key that does not match its certificate, no certificate, and so on.
    #[error("invalid {what}: {reason}")]
    Material {
        /// Which store or setting the material came from.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A replacement key store was refused by a rule that protects running clients (Kafka's
    /// `ssl.allow.dn.changes` / `ssl.allow.san.changes`, or an expired certificate); the old
    /// configuration stays in use.
    #[error("refused reloaded key store: {0}")]
    ReloadRefused(String),
    /// rustls refused to build a configuration from otherwise valid material.
    #[error("cannot build TLS configuration: {0}")]
    Rustls(String),
}

impl TlsConfigError {
    pub(crate) fn setting(key: &str, reason: impl Into<String>) -> TlsConfigError {
        TlsConfigError::InvalidSetting {
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn material(what: impl Into<String>, reason: impl Into<String>) -> TlsConfigError {
        TlsConfigError::Material {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
