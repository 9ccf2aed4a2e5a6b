//! The feature flags ApiVersions reports (KIP-584): what this broker supports and the level in
//! force, for Kafka 4 clients and `kafka-features describe`.
//!
//! Only what Sluice really serves is claimed: KIP-848 consumer groups (`group.version` 1), a
//! static quorum of one (`kraft.version` 0), and none of transactions V2, eligible leader
//! replicas, share groups or streams groups (each supported at level 0 only). `metadata.version`
//! is the Kafka 4.1 level whose protocol versions Sluice speaks; being a single node it cannot
//! run at an older one, so the range is that one level.

use sluice_protocol::generated::api_versions_response::{FinalizedFeatureKey, SupportedFeatureKey};

/// One feature: its name, the supported range, and the level in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// Kafka's feature name.
    pub name: &'static str,
    /// Lowest supported level.
    pub min_level: i16,
    /// Highest supported level.
    pub max_level: i16,
    /// The level in force; 0 means not enabled (Kafka leaves it out of the finalized list).
    pub finalized_level: i16,
}

/// `metadata.version` 27 is Kafka's `4.1-IV1`.
pub const METADATA_VERSION_LEVEL: i16 = 27;

/// Every feature, sorted by name.
pub const FEATURES: &[Feature] = &[
    feature("eligible.leader.replicas.version", 0, 0),
    feature("group.version", 1, 1),
    feature("kraft.version", 0, 0),
    Feature {
        name: "metadata.version",
        min_level: METADATA_VERSION_LEVEL,
        max_level: METADATA_VERSION_LEVEL,
        finalized_level: METADATA_VERSION_LEVEL,
    },
    feature("share.version", 0, 0),
    feature("streams.version", 0, 0),
    feature("transaction.version", 0, 0),
];

const fn feature(name: &'static str, max_level: i16, finalized_level: i16) -> Feature {
    Feature {
        name,
        min_level: 0,
        max_level,
        finalized_level,
    }
}

/// The supported features for an ApiVersions answer in `version`. Clients older than
/// ApiVersions v4 reject a supported range starting at 0, so for them Kafka starts such a range
/// at 1 and leaves out the features supported at level 0 only.
pub fn supported(version: i16) -> Vec<SupportedFeatureKey> {
    let zero_allowed = version >= 4;
    FEATURES
        .iter()
        .filter(|f| zero_allowed || f.max_level > 0)
        .map(|f| SupportedFeatureKey {
            name: f.name.into(),
            min_version: if zero_allowed { f.min_level } else { f.min_level.max(1) },
            max_version: f.max_level,
            ..Default::default()
        })
        .collect()
}

/// The finalized features: those enabled at a level above 0.
pub fn finalized() -> Vec<FinalizedFeatureKey> {
    FEATURES
        .iter()
        .filter(|f| f.finalized_level > 0)
        .map(|f| FinalizedFeatureKey {
            name: f.name.into(),
            max_version_level: f.finalized_level,
            min_version_level: f.finalized_level,
            ..Default::default()
        })
        .collect()
}

/// The level of `name` in force, 0 when unknown or not enabled.
pub fn finalized_level(name: &str) -> i16 {
    FEATURES
        .iter()
        .find(|f| f.name == name)
        .map_or(0, |f| f.finalized_level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finalized_levels_lie_within_the_supported_ranges() {
        for f in FEATURES {
            assert!(f.min_level <= f.max_level, "{}", f.name);
            assert!(f.finalized_level == 0 || (f.min_level..=f.max_level).contains(&f.finalized_level));
        }
        assert!(FEATURES.windows(2).all(|w| w[0].name < w[1].name), "sorted by name");
    }

    #[test]
    fn transactions_v2_is_not_claimed_and_kip_848_is() {
        assert_eq!(finalized_level("transaction.version"), 0);
        assert_eq!(finalized_level("group.version"), 1);
        let names: Vec<String> = finalized().into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["group.version", "metadata.version"]);
    }

    #[test]
    fn old_clients_get_no_range_starting_at_zero() {
        let v3: Vec<(String, i16, i16)> = supported(3)
            .into_iter()
            .map(|f| (f.name, f.min_version, f.max_version))
            .collect();
        assert_eq!(
            v3,
            [
                ("group.version".to_owned(), 1, 1),
                (
                    "metadata.version".to_owned(),
                    METADATA_VERSION_LEVEL,
                    METADATA_VERSION_LEVEL
                )
            ]
        );
        assert_eq!(supported(4).len(), FEATURES.len());
        assert_eq!(supported(4)[1].min_version, 0, "group.version from 0 for v4 clients");
    }
}
