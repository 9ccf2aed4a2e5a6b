//! TLS for a Kafka `SSL`/`SASL_SSL` listener: a listener's `ssl.*` settings, exactly as a Kafka
//! user's `server.properties` spells them, turned into a rustls server configuration that can be
//! reloaded without a restart.
//!
//! Kafka's `DefaultSslEngineFactory` and `SslFactory` are the reference for what each key means
//! and which combinations are refused; where rustls cannot honour a setting, the setting is
//! refused rather than silently weakened (see [`settings::ACCEPTED_KEYS`]).
//!
//! The pieces:
//! - [`TlsSettings`]: the parsed, validated `ssl.*` keys of one listener.
//! - [`ReloadableTls`]: the live server configuration, handed out as a
//!   [`tokio_rustls::TlsAcceptor`], re-read when the key or trust files change.
//! - [`client_certificate_subject`]: a client certificate's subject as Java's
//!   `X500Principal.getName()` renders it, the name Kafka's principal mapping starts from.
//! - [`client_config`]: a rustls client configuration for Sluice's own client and tests.
//!
//! Only the *ring* crypto provider is used (never aws-lc-rs), so the broker builds without a C
//! toolchain for a second crypto library and every configuration here uses one provider.

mod client;
mod error;
mod material;
mod pem;
mod reload;
pub mod settings;
mod subject;

pub use client::client_config;
pub use error::TlsConfigError;
pub use reload::ReloadableTls;
pub use settings::{ACCEPTED_KEYS, ClientAuth, StoreType, TlsSettings, is_accepted_key};
pub use subject::client_certificate_subject;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// The one crypto provider every configuration in this module is built with.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
