//! Sluice's Kafka wire protocol codec. It does no I/O: it turns [`bytes::Bytes`] into typed
//! values and typed values into [`bytes::BytesMut`].
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
//!
//! # How the generator works
//!
//! `cargo xtask codegen` (source in `xtask/`) reads Kafka's message schemas, the JSON files Kafka
//! itself generates its Java code from, from `../shared/kafka-reference/message/`. Where Kafka 4.0
//! dropped old versions (KIP-896), it takes them back from `message-legacy/`: the valid range is
//! extended downwards and fields only the old schema has are put back in place. For every schema
//! it writes one module under `src/generated/`:
//!
//! - one struct per message and per nested or common struct, with a field for every field any
//!   version has (`Option` where some version is nullable, `Bytes` for bytes and records, `Vec`
//!   for arrays), plus `unknown_tagged_fields` in flexible messages;
//! - `Default` following Kafka's rules (zero, false, empty, the schema's `default`, null records);
//! - `decode`, `encode` and `encoded_size` taking the version at run time, with each field's
//!   presence, nullability, compactness (`flexibleVersions`, including per-field overrides such
//!   as the request header's client id) and tagged-ness written as version conditions;
//! - the [`Message`] impl (name, version range, first flexible version), and in `mod.rs` the API
//!   table and the `RequestBody`/`ResponseBody` dispatch enums.
//!
//! It also writes `tests/round_trip_generated.rs`, a seeded property test for every message in
//! every version. The output goes through rustfmt and is committed; `cargo xtask codegen --check`
//! fails when the committed code differs from what the schemas produce.
//!
//! # Invariants the decoder keeps
//!
//! - No length or count read off the wire sizes an allocation before the bytes behind it are
//!   known to be there (see [`codec`]); an 8-byte frame never reserves more than a few KiB.
//! - No input makes it panic; every failure is a [`DecodeError`].
//! - `records` and `bytes` fields are slices of the frame, never copies.
//! - Unknown tagged fields are kept and re-emitted in tag order, never an error; they are kept
//!   as wire bytes, so they cost memory in proportion to the bytes they took. A tagged-field
//!   section may announce at most [`codec::TAGGED_FIELDS_MAX`] (10,000) fields, as in Kafka 4.4.
//! - Decompression never produces more than the caller's cap (see [`records`]).

pub mod codec;
pub mod error_code;
pub mod frame;
pub mod generated;
pub mod records;
pub mod registry;

pub use codec::{DecodeError, EncodeError, Message, Request, Uuid};
pub use error_code::ErrorCode;
pub use registry::{ApiInfo, Exposure, api};
