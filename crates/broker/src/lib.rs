//! The Kafka broker: listeners, connections, and one handler module per API.
//!
//! - [`server`]: binds each listener, accepts connections within the connection limits, and
//!   shuts down cleanly.
//! - [`connection`]: reads length-prefixed frames within the frame-size limit and the
//!   broker-wide bytes-in-flight budget, hands each request to its handler in arrival order, and
//!   writes responses back in request order.
//! - [`session`]: who is calling (one `Session` per connection) and the one `RequestContext`
//!   every handler receives.
//! - [`handlers`]: one module per API and the registry of what the broker serves, which also
//!   answers ApiVersions.

pub mod acls;
pub mod authenticate;
pub mod connection;
pub mod context;
pub mod errors;
pub mod features;
pub mod groups;
pub mod handlers;
pub mod legacy;
pub mod logs;
pub mod maintenance;
pub mod producers;
pub mod quotas;
pub mod server;
pub mod session;
pub mod topics;
pub mod validate;

pub use context::{Broker, BrokerSettings, ListenerSettings};
pub use server::Server;
pub use sluice_config::SecurityProtocol;
