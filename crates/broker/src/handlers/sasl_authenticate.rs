//! SaslAuthenticate (key 36) where no SASL is configured: as for SaslHandshake, the gate answers
//! it on SASL listeners; elsewhere Kafka answers ILLEGAL_SASL_STATE.

use super::Output;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::{SaslAuthenticateRequest, SaslAuthenticateResponse};

pub const API_KEY: i16 = 36;
/// Versions served: all (v1 adds the session lifetime, v2 is flexible).
pub const VERSIONS: (i16, i16) = (0, 2);

pub fn handle(_ctx: &RequestContext<'_>, _req: SaslAuthenticateRequest) -> Output {
    Output::respond(SaslAuthenticateResponse {
        error_code: ErrorCode::IllegalSaslState.code(),
        error_message: Some("SASL authentication is not enabled on this listener".into()),
        ..Default::default()
    })
}
