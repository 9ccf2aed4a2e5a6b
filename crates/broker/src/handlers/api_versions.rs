//! ApiVersions (key 18): which APIs and versions this broker serves.

use super::Output;
use super::SERVED;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::api_versions_response::ApiVersion;
use sluice_protocol::generated::{ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseBody};

pub const API_KEY: i16 = 18;
/// Versions served: all Kafka 4 defines.
pub const VERSIONS: (i16, i16) = (0, 4);

fn advertised() -> Vec<ApiVersion> {
    SERVED
        .iter()
        .map(|a| ApiVersion {
            api_key: a.key,
            min_version: a.min_version,
            max_version: a.max_version,
            ..Default::default()
        })
        .collect()
}

/// Kafka's rule for the client software name and version (KIP-511): letters, digits, `-` and
/// `.`, starting and ending with a letter or digit.
fn valid_software_field(s: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    !s.is_empty()
        && s.chars().all(ok)
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}
pub fn handle(ctx: &RequestContext<'_>, req: ApiVersionsRequest) -> Output {
    let mut response = answer(ctx.header, &req);
    if response.error_code == ErrorCode::None.code() && ctx.header.request_api_version >= 3 {
        add_features(
            &mut response,
            ctx.header.request_api_version,
            ctx.broker.metadata().image().offset,
        );
    }
    Output::respond(response)
}

/// The feature flags (v3+ tagged fields). The epoch is the metadata offset, as in Kafka; it is
/// never negative, since clients ignore finalized features with epoch -1.
fn add_features(response: &mut ApiVersionsResponse, version: i16, metadata_offset: i64) {
    response.supported_features = crate::features::supported(version);
    response.finalized_features = crate::features::finalized();
    response.finalized_features_epoch = metadata_offset.max(0);
}

fn answer(header: &RequestHeader, req: &ApiVersionsRequest) -> ApiVersionsResponse {
    if header.request_api_version >= 3
        && !(valid_software_field(&req.client_software_name) && valid_software_field(&req.client_software_version))
    {
        return ApiVersionsResponse {
            error_code: ErrorCode::InvalidRequest.code(),
            ..Default::default()
        };
    }
    ApiVersionsResponse {
        error_code: ErrorCode::None.code(),
        api_keys: advertised(),
        ..Default::default()
    }
}

/// The answer to an ApiVersions request in a version the broker does not know: Kafka replies in
/// v0 with UNSUPPORTED_VERSION and the ApiVersions versions it does serve, so the client can
/// retry.
pub fn unsupported_version_response() -> ResponseBody {
    ResponseBody::ApiVersions(ApiVersionsResponse {
        error_code: ErrorCode::UnsupportedVersion.code(),
        api_keys: vec![ApiVersion {
            api_key: API_KEY,
            min_version: VERSIONS.0,
            max_version: VERSIONS.1,
            ..Default::default()
        }],
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_names_follow_kip_511() {
        for ok in ["librdkafka", "apache-kafka-java", "2.16.0", "a"] {
            assert!(valid_software_field(ok), "{ok}");
        }
        for bad in ["", "-x", "x-", "has space", "ünï"] {
            assert!(!valid_software_field(bad), "{bad}");
        }
    }
}
