//! Sluice's Kafka wire protocol codec.
//!
//! - [`generated`]: one module per message of Kafka's schemas (requests, responses, headers and
//!   data messages), each a Rust type covering every version, with `decode`, `encode` and
//!   `encoded_size`. Written by `cargo xtask codegen`; never edited by hand.
//! - [`codec`]: the wire primitives the generated code calls, and the invariants that keep
//!   decoding safe against hostile input.
//! - [`registry`]: the API table (key, versions, flexibility, exposure) and header versions.
//! - [`frame`]: whole request and response frames: header plus body.
//! - [`records`]: record batches (magic v2), records and compression.
//! - [`error_code`]: Kafka's error-code table: code, name, retriable, default message.

pub mod codec;
pub mod error_code;
pub mod frame;
pub mod generated;
pub mod records;
pub mod registry;

pub use codec::{DecodeError, EncodeError, Message, Request, Uuid};
pub use error_code::ErrorCode;
pub use registry::{ApiInfo, Exposure, api};
