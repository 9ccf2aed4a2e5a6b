//! Who is calling and what they may do.
//!
//! Everything here is a pure building block the broker's request path uses: the principal an
//! authenticated connection acts as, the SASL mechanisms as server-side state machines (bytes in,
//! bytes out), the mapping of TLS certificate subjects to principals, TLS key material in the
//! forms Kafka users hand over, and the ACL authorizer with Kafka's `StandardAuthorizer`
//! semantics. None of it reads a socket; the broker owns the connection and calls in.

pub mod acl;
pub mod jaas;
pub mod mapping;
pub mod oauth;
pub mod plain;
pub mod principal;
pub mod scram;
pub mod scram_client;
pub mod tls;

pub use principal::KafkaPrincipal;
