//! Dynamic broker configs (Kafka's KIP-226): values set at runtime with AlterConfigs or
//! IncrementalAlterConfigs on a BROKER resource, either for the whole cluster (resource name
//! `""`, source DYNAMIC_DEFAULT_BROKER_CONFIG) or for one broker (its node id, source
//! DYNAMIC_BROKER_CONFIG). Precedence, highest first: per-broker, cluster default, static
//! (file, environment, overrides), built-in default.
//!
//! Sluice accepts the keys it applies at runtime: the broker defaults of topic configs
//! (`log.retention.ms`, `log.segment.bytes`, `compression.type`, `message.max.bytes`, ...) and
//! `producer.id.expiration.ms`. Kafka also lets thread pools, listeners, connection quotas and
//! TLS change at runtime; Sluice cannot apply those without a restart, so it refuses them the
//! way Kafka refuses its read-only keys.

use crate::broker::BrokerConfig;
use crate::defs::{broker_key, check_value};
use crate::{ConfigError, Origin};
use std::collections::BTreeMap;

/// Broker keys that are not topic defaults but may still change at runtime.
const OTHER_DYNAMIC_KEYS: &[&str] = &["producer.id.expiration.ms"];

/// The dynamic broker configs in force, as stored in the metadata log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicBrokerConfigs {
    /// Cluster-wide defaults (resource name `""`); below per-broker values.
    pub cluster_default: BTreeMap<String, String>,
    /// This broker's own values (resource name = its node id); the highest layer.
    pub per_broker: BTreeMap<String, String>,
}

impl DynamicBrokerConfigs {
    /// The dynamic value of `key` and its layer, per-broker first.
    pub fn get(&self, key: &str) -> Option<(&str, crate::ConfigSource)> {
        if let Some(v) = self.per_broker.get(key) {
            return Some((v, crate::ConfigSource::DynamicBrokerConfig));
        }
        self.cluster_default
            .get(key)
            .map(|v| (v.as_str(), crate::ConfigSource::DynamicDefaultBrokerConfig))
    }

    /// True when nothing is set dynamically.
    pub fn is_empty(&self) -> bool {
        self.cluster_default.is_empty() && self.per_broker.is_empty()
    }
}

/// Whether Sluice lets `key` change at runtime.
pub fn is_dynamic_broker_config(key: &str) -> bool {
    OTHER_DYNAMIC_KEYS.contains(&key) || crate::topic::is_topic_default_key(key)
}

/// Kafka's rendering of a Scala `Set` of names in its error messages.
fn scala_set(names: &[&str]) -> String {
    format!("Set({})", names.join(", "))
}

/// Checks a resource's complete new set of dynamic values the way Kafka's
/// `DynamicBrokerConfig.validate` does: keys Sluice knows but cannot change at runtime are
/// refused first (`Cannot update these configs dynamically: Set(...)`), then each value against
/// its type and range, then the whole effective configuration (rules that span keys). Kafka
/// answers every failure here with INVALID_REQUEST and this message. Keys Sluice does not know
/// are kept without effect, as Kafka keeps unknown keys.
pub fn validate_dynamic_broker_configs(
    static_config: &BrokerConfig,
    current: &DynamicBrokerConfigs,
    props: &BTreeMap<String, String>,
    per_broker: bool,
) -> Result<(), String> {
    let read_only: Vec<&str> = props
        .keys()
        .map(String::as_str)
        // Security keys are never dynamic here: a JAAS config, callback handler or key store
        // set through AlterConfigs could load code or read files (Kafka's CVE-2025-27818 class).
        .filter(|k| (broker_key(k).is_some() || crate::security::is_security_key(k)) && !is_dynamic_broker_config(k))
        .collect();
    if !read_only.is_empty() {
        return Err(format!(
            "Cannot update these configs dynamically: {}",
            scala_set(&read_only)
        ));
    }
    for (key, value) in props {
        if let Some(d) = broker_key(key) {
            check_value(key, value, d.ty, d.check).map_err(|e| e.to_string())?;
        }
    }
    let mut next = current.clone();
    if per_broker {
        next.per_broker = props.clone();
    } else {
        next.cluster_default = props.clone();
    }
    static_config.with_dynamic(&next).map(|_| ()).map_err(|e| e.to_string())
}

impl BrokerConfig {
    /// The configuration in force: this (static) configuration with the dynamic layers on top.
    /// Its `raw` holds the dynamic values too, so `value_text` answers with them; describing
    /// sources needs the static configuration and the layers separately.
    pub fn with_dynamic(&self, dynamic: &DynamicBrokerConfigs) -> Result<BrokerConfig, ConfigError> {
        if dynamic.is_empty() {
            return Ok(self.clone());
        }
        let mut raw = self.raw.clone();
        for (k, v) in dynamic.cluster_default.iter().chain(&dynamic.per_broker) {
            // Only keys Sluice knows take part; unknown ones are kept but have no effect.
            if broker_key(k).is_some() {
                raw.set(k.clone(), v.clone(), Origin::Override)?;
            }
        }
        Ok(BrokerConfig::from_raw(raw)?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn read_only_keys_bad_values_and_cross_key_rules_are_refused() {
        let b = BrokerConfig::defaults().unwrap();
        let none = DynamicBrokerConfigs::default();
        assert_eq!(
            validate_dynamic_broker_configs(&b, &none, &props(&[("node.id", "2"), ("log.dirs", "/x")]), true),
            Err("Cannot update these configs dynamically: Set(log.dirs, node.id)".into())
        );
        // No security setting can be set at runtime: a JAAS login module or a callback handler
        // could load code (CVE-2025-27818).
        let jaas = props(&[(
            "listener.name.external.plain.sasl.jaas.config",
            "com.sun.security.auth.module.JndiLoginModule required;",
        )]);
        assert_eq!(
            validate_dynamic_broker_configs(&b, &none, &jaas, false),
            Err("Cannot update these configs dynamically: Set(listener.name.external.plain.sasl.jaas.config)".into())
        );
        let e = validate_dynamic_broker_configs(
            &b,
            &none,
            &props(&[("sasl.server.callback.handler.class", "x.Y")]),
            true,
        )
        .unwrap_err();
        assert!(e.contains("sasl.server.callback.handler.class"), "{e}");
        let e = validate_dynamic_broker_configs(&b, &none, &props(&[("log.retention.ms", "soon")]), false).unwrap_err();
        assert!(e.contains("log.retention.ms"), "{e}");
        let e = validate_dynamic_broker_configs(&b, &none, &props(&[("log.retention.ms", "0")]), false).unwrap_err();
        assert!(e.contains("retention"), "{e}");
        let ok = props(&[
            ("log.retention.ms", "1000"),
            ("compression.type", "gzip"),
            ("x.custom", "1"),
        ]);
        assert_eq!(validate_dynamic_broker_configs(&b, &none, &ok, false), Ok(()));
    }

    #[test]
    fn per_broker_values_win_over_cluster_defaults_which_win_over_static() {
        let (b, _) = crate::load_from_str(Some("log.retention.ms=5000\nnum.partitions=2\n"), &[], &[])
            .map(|l| (l.config, l.warnings))
            .unwrap();
        let d = DynamicBrokerConfigs {
            cluster_default: props(&[("log.retention.ms", "6000"), ("log.segment.bytes", "2097152")]),
            per_broker: props(&[("log.retention.ms", "7000")]),
        };
        let e = b.with_dynamic(&d).unwrap();
        assert_eq!(e.log_retention_ms, 7000);
        assert_eq!(e.log_segment_bytes, 2_097_152);
        assert_eq!(e.num_partitions, 2);
        assert_eq!(
            d.get("log.retention.ms"),
            Some(("7000", crate::ConfigSource::DynamicBrokerConfig))
        );
        assert!(is_dynamic_broker_config("log.retention.hours"));
        assert!(is_dynamic_broker_config("producer.id.expiration.ms"));
        assert!(!is_dynamic_broker_config("listeners"));
    }
}
