//! The one API registry: key, name, versions, flexibility and exposure of every API, and the
//! header versions that go with each request version. The table itself ([`APIS`]) is generated
//! from the schemas; this module gives it its types and lookups.

pub use crate::generated::APIS;

/// Who may call an API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Served on the broker's client listeners (the schema lists the `broker` listener).
    Client,
    /// Spoken only between brokers and controllers (controller-only or ZooKeeper-era APIs).
    Internal,
}

/// One API of the Kafka protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiInfo {
    /// The API key on the wire.
    pub key: i16,
    /// The API's name without the Request/Response suffix, e.g. `Fetch`.
    pub name: &'static str,
    /// Lowest and highest version the codec reads and writes (legacy versions included).
    pub versions: (i16, i16),
    /// First version with compact encodings and tagged fields, if any.
    pub first_flexible_version: Option<i16>,
    /// Whether clients may call it.
    pub exposure: Exposure,
    /// The schema's listener list (`broker`, `controller`, `zkBroker`), kept for reference.
    pub listeners: &'static [&'static str],
    /// Kafka marks its newest version as still under development; brokers should not advertise it.
    pub latest_version_unstable: bool,
    /// Versions Kafka deprecated, if any.
    pub deprecated_versions: Option<(i16, i16)>,
    /// Versions taken from the schemas before Kafka 4.0 (KIP-896), if any.
    pub legacy_versions: Option<(i16, i16)>,
}

impl ApiInfo {
    /// Whether the codec reads and writes `version` of this API.
    pub fn supports(&self, version: i16) -> bool {
        self.versions.0 <= version && version <= self.versions.1
    }

    /// Whether `version` uses compact encodings and tagged fields.
    pub fn is_flexible(&self, version: i16) -> bool {
        self.first_flexible_version.is_some_and(|f| version >= f)
    }

    /// The request header version that goes with `version`: 2 for flexible versions, 1 otherwise,
    /// 0 only for ControlledShutdown v0 (its one client predates the client id).
    pub fn request_header_version(&self, version: i16) -> i16 {
        if self.is_flexible(version) {
            2
        } else if self.key == API_KEY_CONTROLLED_SHUTDOWN && version == 0 {
            0
        } else {
            1
        }
    }

    /// The response header version that goes with `version`: 1 for flexible versions, 0 otherwise,
    /// and always 0 for ApiVersions, so that a client can read the answer before it knows which
    /// versions the broker speaks.
    pub fn response_header_version(&self, version: i16) -> i16 {
        if self.key != API_KEY_API_VERSIONS && self.is_flexible(version) {
            1
        } else {
            0
        }
    }
}

/// ApiVersions' key, special in the response header rule.
pub const API_KEY_API_VERSIONS: i16 = 18;
/// ControlledShutdown's key, special in the request header rule.
pub const API_KEY_CONTROLLED_SHUTDOWN: i16 = 7;

/// Looks an API up by key.
pub fn api(key: i16) -> Option<&'static ApiInfo> {
    // The table is sorted and small; keys are dense from 0, so try the direct index first.
    match usize::try_from(key).ok().and_then(|i| APIS.get(i)) {
        Some(info) if info.key == key => Some(info),
        _ => APIS.iter().find(|a| a.key == key),
    }
}
