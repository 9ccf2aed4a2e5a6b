//! Layering of defaults < file < environment < `--override`.

use crate::defs::{IGNORED_KEYS, IGNORED_PREFIXES, REMOVED_PREFIXES, broker_key};
use crate::{ConfigError, ConfigWarning, MAX_ENTRIES, MAX_FILE_BYTES, Origin, WarningKind, parse_properties};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Longest single override or environment value accepted; bounds memory
/// from a hostile environment.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// `SLUICE_*` environment variables that are not configuration keys (read
/// by the binary itself, e.g. the log filter), so no warning is raised.
pub const SLUICE_NON_CONFIG_ENV_VARS: &[&str] = &["SLUICE_LOG", "SLUICE_LOG_FORMAT", "SLUICE_BACKTRACE"];

/// One explicitly set value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawValue {
    /// The value as text, before typing.
    pub value: String,
    /// Which layer set it; the highest layer wins.
    pub origin: Origin,
}

/// Every explicitly set key after layering (defaults are not included; they
/// live in the key table). Kept so DescribeConfigs can tell a default from a
/// static setting, and so unknown keys survive for diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawConfig {
    /// Key -> winning value. Ordered so output is deterministic.
    pub values: BTreeMap<String, RawValue>,
}

impl RawConfig {
    /// The explicitly set value for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|v| v.value.as_str())
    }

    pub(crate) fn set(&mut self, key: String, value: String, origin: Origin) -> Result<(), ConfigError> {
        if value.len() > MAX_VALUE_BYTES {
            return Err(ConfigError::TooLarge {
                what: format!("value of '{key}'"),
                limit: MAX_VALUE_BYTES,
            });
        }
        if !self.values.contains_key(&key) && self.values.len() >= MAX_ENTRIES {
            return Err(ConfigError::TooLarge {
                what: "number of configuration keys".into(),
                limit: MAX_ENTRIES,
            });
        }
        self.values.insert(key, RawValue { value, origin });
        Ok(())
    }
}

/// Reads the file given with `-c`, refusing anything over [`MAX_FILE_BYTES`]
/// or not UTF-8. (Java reads properties as ISO-8859-1; real configs are
/// ASCII, and `\uXXXX` escapes cover the rest.)
pub fn read_config_file(path: &Path) -> Result<String, ConfigError> {
    let io_err = |e: std::io::Error| ConfigError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut buf = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io_err)?;
    if buf.len() > MAX_FILE_BYTES {
        return Err(ConfigError::TooLarge {
            what: format!("configuration file '{}'", path.display()),
            limit: MAX_FILE_BYTES,
        });
    }
    String::from_utf8(buf).map_err(|_| ConfigError::Io {
        path: path.display().to_string(),
        message: "the file is not valid UTF-8".into(),
    })
}

/// Maps an environment variable to a property name, if it has one of the
/// prefixes. `SLUICE_LOG_RETENTION_HOURS` -> `log.retention.hours`; as in
/// the common Kafka container images, `___` means `-` and `__` means `_`.
pub fn env_var_to_key(var: &str) -> Option<(&'static str, String)> {
    let (prefix, rest) = if let Some(r) = var.strip_prefix("SLUICE_") {
        ("SLUICE_", r)
    } else if let Some(r) = var.strip_prefix("KAFKA_") {
        ("KAFKA_", r)
    } else {
        return None;
    };
    if rest.is_empty() {
        return None;
    }
    // Private-use placeholders can't occur in a sane variable name; if one
    // does, the name maps to no known key and is ignored.
    let key = rest
        .to_ascii_lowercase()
        .replace("___", "\u{E000}")
        .replace("__", "\u{E001}")
        .replace('_', ".")
        .replace('\u{E000}', "-")
        .replace('\u{E001}', "_");
    Some((prefix, key))
}

fn is_known(key: &str) -> bool {
    broker_key(key).is_some() || is_ignored(key) || is_removed(key) || crate::security::is_security_key(key)
}

fn is_ignored(key: &str) -> bool {
    IGNORED_KEYS.contains(&key) || IGNORED_PREFIXES.iter().any(|p| key.starts_with(p))
}

fn is_removed(key: &str) -> bool {
    REMOVED_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Builds the layered raw configuration. `file_text` is the content of the
/// `-c` file, `env` the process environment (passed in so tests are
/// hermetic), `overrides` the `key=value` arguments of `-o/--override` in
/// command-line order (later wins).
pub fn layer(
    file_text: Option<&str>,
    env: &[(String, String)],
    overrides: &[String],
) -> Result<(RawConfig, Vec<ConfigWarning>), ConfigError> {
    let mut raw = RawConfig::default();
    let mut warnings = Vec::new();
    if let Some(text) = file_text {
        for e in parse_properties(text)? {
            raw.set(e.key, e.value, Origin::File { line: e.line })?;
        }
    }
    // KAFKA_ first, then SLUICE_, so SLUICE_ wins when both name a key.
    for wanted in ["KAFKA_", "SLUICE_"] {
        for (var, value) in env {
            let Some((prefix, key)) = env_var_to_key(var) else {
                continue;
            };
            if prefix != wanted {
                continue;
            }
            // KAFKA_SASL_USERNAME and the like belong to clients sharing the environment: a
            // security key from KAFKA_* counts only if it is one the broker enforces.
            let client_setting = prefix == "KAFKA_"
                && crate::security::is_security_key(&key)
                && crate::security::check_key(&key).is_err();
            if is_known(&key) && !client_setting {
                raw.set(key, value.clone(), Origin::Env { var: var.clone() })?;
            } else if prefix == "SLUICE_" && !SLUICE_NON_CONFIG_ENV_VARS.contains(&var.as_str()) {
                // KAFKA_* is shared with unrelated tooling (KAFKA_OPTS,
                // KAFKA_HEAP_OPTS...), so only Sluice's own prefix is
                // worth warning about.
                warnings.push(ConfigWarning {
                    kind: WarningKind::UnknownEnvVar,
                    key: var.clone(),
                    origin: Origin::Env { var: var.clone() },
                    message: format!("Environment variable {var} does not name a known configuration key ('{key}')."),
                });
            }
        }
    }
    for arg in overrides {
        let Some((k, v)) = arg.split_once('=') else {
            return Err(ConfigError::BadOverride { arg: arg.clone() });
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(ConfigError::BadOverride { arg: arg.clone() });
        }
        raw.set(k.to_string(), v.trim_start().to_string(), Origin::Override)?;
    }
    for (key, v) in &raw.values {
        if crate::security::PEER_CONNECTION_KEYS.contains(&key.as_str()) {
            warnings.push(ConfigWarning {
                kind: WarningKind::Ignored,
                key: key.clone(),
                origin: v.origin.clone(),
                message: format!(
                    "Configuration '{key}' has no effect: this broker has no inter-broker or controller connections."
                ),
            });
            continue;
        }
        if broker_key(key).is_some() || crate::security::is_security_key(key) {
            continue;
        }
        let (kind, message) = if is_ignored(key) {
            (
                WarningKind::Ignored,
                format!("Configuration '{key}' is a Kafka setting that has no effect in Sluice."),
            )
        } else if is_removed(key) {
            (
                WarningKind::Deprecated,
                format!("Configuration '{key}' was removed in Kafka 4.0 (ZooKeeper mode) and is ignored."),
            )
        } else {
            (
                WarningKind::UnknownKey,
                format!("Unknown configuration '{key}' is ignored."),
            )
        };
        warnings.push(ConfigWarning {
            kind,
            key: key.clone(),
            origin: v.origin.clone(),
            message,
        });
    }
    Ok((raw, warnings))
}
