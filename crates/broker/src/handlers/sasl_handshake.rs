//! SaslHandshake (key 17) where no SASL is configured.
//!
//! On SASL listeners the authentication gate (`crate::authenticate`) answers SaslHandshake before
//! dispatch; a handler is reached only on PLAINTEXT and SSL listeners, where Kafka answers
//! ILLEGAL_SASL_STATE with no mechanisms.

use super::Output;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::{SaslHandshakeRequest, SaslHandshakeResponse};

pub const API_KEY: i16 = 17;
/// Versions served: all (v0 is followed by raw tokens, v1 by SaslAuthenticate).
pub const VERSIONS: (i16, i16) = (0, 1);

pub fn handle(_ctx: &RequestContext<'_>, _req: SaslHandshakeRequest) -> Output {
    Output::respond(SaslHandshakeResponse {
        error_code: ErrorCode::IllegalSaslState.code(),
        mechanisms: Vec::new(),
    })
}
