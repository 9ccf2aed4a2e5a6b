//! The CLIENT_METRICS (16) and GROUP (32) config resources of DescribeConfigs and
//! IncrementalAlterConfigs, and ListConfigResources (key 74).
//!
//! A client metrics subscription (KIP-714: `metrics`, `interval.ms`, `match`) and a group's
//! configs (KIP-848: `consumer.session.timeout.ms`, `consumer.heartbeat.interval.ms`) are
//! overrides kept in the metadata log like topic configs. Values are checked as Kafka's
//! `ClientMetricsConfigs` and `GroupConfig` check them, group values against the broker's
//! `group.consumer.{min,max}.*` bounds, and a group's values are handed to the coordinator,
//! which uses them from each member's next heartbeat. Share and streams group keys are refused
//! as unknown: Sluice serves neither kind of group.

use super::Output;
use crate::context::Broker;
use crate::session::RequestContext;
use sluice_config::{ConfigEntry, ConfigSource, ConfigSynonym, ConfigType};
use sluice_metadata::{ConfigResource, MetadataRecord};
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::list_config_resources_response::ConfigResource as ListedResource;
use sluice_protocol::generated::{ListConfigResourcesRequest, ListConfigResourcesResponse};
use sluice_security::acl::{AclOperation, CLUSTER_NAME, ResourceType};
use std::collections::BTreeMap;

/// Kafka's resource type of client metrics subscriptions.
pub const RESOURCE_CLIENT_METRICS: i8 = 16;
/// Kafka's resource type of group configs.
pub const RESOURCE_GROUP: i8 = 32;
/// ListConfigResources (formerly ListClientMetricsResources).
pub const LIST_API_KEY: i16 = 74;
/// Versions of ListConfigResources served: all Kafka 4 defines.
pub const LIST_VERSIONS: (i16, i16) = (0, 1);

/// An error code and its message.
pub type Refusal = (ErrorCode, String);

const METRICS: &str = "metrics";
const INTERVAL_MS: &str = "interval.ms";
const MATCH: &str = "match";
/// Kafka's bounds of a subscription's push interval.
const INTERVAL_MS_BOUNDS: (i64, i64) = (100, 3_600_000);
const INTERVAL_MS_DEFAULT: &str = "300000";
/// The client properties a subscription may match on (KIP-714).
const MATCH_KEYS: &[&str] = &[
    "client_instance_id",
    "client_id",
    "client_software_name",
    "client_software_version",
    "client_source_address",
    "client_source_port",
];
const SESSION_TIMEOUT: &str = "consumer.session.timeout.ms";
const HEARTBEAT_INTERVAL: &str = "consumer.heartbeat.interval.ms";

/// The metadata resource behind a wire resource type served here.
pub fn stored_resource(resource_type: i8) -> Option<ConfigResource> {
    match resource_type {
        RESOURCE_CLIENT_METRICS => Some(ConfigResource::ClientMetrics),
        RESOURCE_GROUP => Some(ConfigResource::Group),
        _ => None,
    }
}

fn overrides(broker: &Broker, resource: ConfigResource, name: &str) -> BTreeMap<String, String> {
    let store = broker.metadata();
    store
        .image()
        .configs
        .get(&(resource, name.to_owned()))
        .cloned()
        .unwrap_or_default()
}

fn check_name(resource: ConfigResource, name: &str) -> Result<(), Refusal> {
    if !name.is_empty() {
        return Ok(());
    }
    let message = match resource {
        ConfigResource::ClientMetrics => "Subscription name can't be empty",
        _ => "Group name can't be empty",
    };
    Err((ErrorCode::InvalidRequest, message.into()))
}

/// DescribeConfigs of one resource: every key, set ones with their source.
pub fn describe(broker: &Broker, resource_type: i8, name: &str) -> Result<Vec<ConfigEntry>, Refusal> {
    let resource = stored_resource(resource_type).ok_or((ErrorCode::InvalidRequest, String::new()))?;
    check_name(resource, name)?;
    let set = overrides(broker, resource, name);
    let (defaults, source) = match resource {
        ConfigResource::ClientMetrics => (client_metrics_defaults(), ConfigSource::ClientMetricsConfig),
        _ => (group_defaults(broker), ConfigSource::GroupConfig),
    };
    Ok(defaults
        .into_iter()
        .map(|(key, ty, default)| {
            // Kafka names the value's own layer as its one synonym, the default included.
            let (value, source) = match set.get(key) {
                Some(v) => (v.clone(), source),
                None => (default, ConfigSource::DefaultConfig),
            };
            let synonyms = vec![ConfigSynonym {
                name: key.to_owned(),
                value: Some(value.clone()),
                source,
            }];
            ConfigEntry {
                name: key.to_owned(),
                source,
                value: Some(value),
                is_sensitive: false,
                read_only: false,
                config_type: ty,
                documentation: String::new(),
                synonyms,
            }
        })
        .collect())
}

fn client_metrics_defaults() -> Vec<(&'static str, ConfigType, String)> {
    vec![
        (INTERVAL_MS, ConfigType::Int, INTERVAL_MS_DEFAULT.into()),
        (MATCH, ConfigType::List, String::new()),
        (METRICS, ConfigType::List, String::new()),
    ]
}

fn group_defaults(broker: &Broker) -> Vec<(&'static str, ConfigType, String)> {
    let config = broker.groups.config();
    vec![
        (
            HEARTBEAT_INTERVAL,
            ConfigType::Int,
            config.consumer_heartbeat_interval_ms.to_string(),
        ),
        (
            SESSION_TIMEOUT,
            ConfigType::Int,
            config.consumer_session_timeout_ms.to_string(),
        ),
    ]
}

/// One IncrementalAlterConfigs change: key, operation (0 set, 1 delete, 2 append, 3 subtract)
/// and value.
pub type Change<'a> = (&'a str, i8, Option<&'a str>);

/// IncrementalAlterConfigs of one resource: applies `changes` to the stored values, checks the
/// result and, unless `validate_only`, commits it.
pub fn alter(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    changes: &[Change<'_>],
    validate_only: bool,
) -> Result<(), Refusal> {
    let resource = stored_resource(resource_type).ok_or((ErrorCode::InvalidRequest, String::new()))?;
    check_name(resource, name)?;
    let old = overrides(broker, resource, name);
    let mut new = old.clone();
    for (key, op, value) in changes {
        let value = value.unwrap_or_default();
        match op {
            0 => {
                new.insert((*key).to_owned(), value.to_owned());
            }
            1 => {
                new.remove(*key);
            }
            2 | 3 if resource == ConfigResource::ClientMetrics && (*key == METRICS || *key == MATCH) => {
                let current = new.get(*key).cloned().unwrap_or_default();
                new.insert((*key).to_owned(), super::configs::edit_list(&current, value, *op == 2));
            }
            2 | 3 => {
                let verb = if *op == 2 { "append" } else { "subtract" };
                return Err((
                    ErrorCode::InvalidConfig,
                    format!("Config value {verb} is not allowed for config key: {key}"),
                ));
            }
            other => return Err((ErrorCode::InvalidRequest, format!("Unknown operations type {other}"))),
        }
    }
    match resource {
        ConfigResource::ClientMetrics => validate_client_metrics(&new)?,
        _ => validate_group(broker, &new)?,
    }
    if validate_only || new == old {
        return Ok(());
    }
    commit(broker, resource, name, &old, &new)?;
    if resource == ConfigResource::Group {
        broker.groups.set_group_overrides(name, group_overrides(&new));
    }
    Ok(())
}

fn commit(
    broker: &Broker,
    resource: ConfigResource,
    name: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Result<(), Refusal> {
    let record = |key: &str, value: Option<String>| MetadataRecord::Config {
        resource,
        name: name.to_owned(),
        key: key.to_owned(),
        value,
    };
    let mut records: Vec<MetadataRecord> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(|k| record(k, None))
        .collect();
    records.extend(
        new.iter()
            .filter(|(k, v)| old.get(*k) != Some(v))
            .map(|(k, v)| record(k, Some(v.clone()))),
    );
    broker
        .metadata()
        .commit(&records)
        .map(|_| ())
        .map_err(|e| (ErrorCode::UnknownServerError, e.to_string()))
}

/// AlterConfigs (the legacy, whole-set form) of one resource: `values` replace what is stored.
pub fn replace(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    values: &BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), Refusal> {
    let resource = stored_resource(resource_type).ok_or((ErrorCode::InvalidRequest, String::new()))?;
    let stored = overrides(broker, resource, name);
    let mut changes: Vec<Change<'_>> = stored
        .keys()
        .filter(|k| !values.contains_key(*k))
        .map(|k| (k.as_str(), 1, None))
        .collect();
    changes.extend(values.iter().map(|(k, v)| (k.as_str(), 0, Some(v.as_str()))));
    alter(broker, resource_type, name, &changes, validate_only)
}

/// The coordinator's view of a group's stored values (validated before they were stored).
pub fn group_overrides(values: &BTreeMap<String, String>) -> sluice_group::GroupOverrides {
    sluice_group::GroupOverrides {
        session_timeout_ms: values.get(SESSION_TIMEOUT).and_then(|v| v.parse().ok()),
        heartbeat_interval_ms: values.get(HEARTBEAT_INTERVAL).and_then(|v| v.parse().ok()),
    }
}

/// Hands every stored group config to the coordinator (at start-up).
pub fn load_group_overrides(broker: &Broker) {
    let groups: Vec<(String, BTreeMap<String, String>)> = {
        let store = broker.metadata();
        store
            .image()
            .configs
            .iter()
            .filter(|((resource, _), _)| *resource == ConfigResource::Group)
            .map(|((_, name), values)| (name.clone(), values.clone()))
            .collect()
    };
    for (name, values) in groups {
        broker.groups.set_group_overrides(&name, group_overrides(&values));
    }
}

fn invalid_config(message: String) -> Refusal {
    (ErrorCode::InvalidConfig, message)
}

/// Kafka's checks of a subscription: known keys, the interval within bounds, and each match
/// entry `key=regex` with a known key.
fn validate_client_metrics(values: &BTreeMap<String, String>) -> Result<(), Refusal> {
    for (key, value) in values {
        match key.as_str() {
            METRICS => {}
            INTERVAL_MS => {
                let ms: i64 = value.trim().parse().map_err(|_| {
                    invalid_config(format!(
                        "Invalid value {value} for configuration {key}: Not a number of type INT"
                    ))
                })?;
                if ms < INTERVAL_MS_BOUNDS.0 || ms > INTERVAL_MS_BOUNDS.1 {
                    return Err((
                        ErrorCode::InvalidRequest,
                        format!("Invalid value {ms} for {key}, interval must be between 100 and 3600000 (1 hour)"),
                    ));
                }
            }
            MATCH => validate_match(value)?,
            _ => {
                return Err((
                    ErrorCode::InvalidRequest,
                    format!("Unknown client metrics configuration: {key}"),
                ));
            }
        }
    }
    Ok(())
}

fn validate_match(value: &str) -> Result<(), Refusal> {
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((key, pattern)) = entry.split_once('=') else {
            return Err((
                ErrorCode::InvalidConfig,
                format!("Illegal client matching pattern: {entry}"),
            ));
        };
        if !MATCH_KEYS.contains(&key.trim()) {
            return Err((
                ErrorCode::InvalidConfig,
                format!("Invalid client matching pattern: {key}"),
            ));
        }
        if regex::Regex::new(pattern.trim()).is_err() {
            return Err((ErrorCode::InvalidConfig, format!("Illegal regex pattern: {pattern}")));
        }
    }
    Ok(())
}

/// Kafka's `GroupConfig` checks: known keys, integers, within the broker's bounds, and the
/// heartbeat interval below the session timeout.
fn validate_group(broker: &Broker, values: &BTreeMap<String, String>) -> Result<(), Refusal> {
    let config = broker.effective_config();
    let int = |key: &str| -> Result<Option<i32>, Refusal> {
        values
            .get(key)
            .map(|v| {
                v.trim().parse::<i32>().map_err(|_| {
                    invalid_config(format!(
                        "Invalid value {v} for configuration {key}: Not a number of type INT"
                    ))
                })
            })
            .transpose()
    };
    if let Some(key) = values
        .keys()
        .find(|k| *k != SESSION_TIMEOUT && *k != HEARTBEAT_INTERVAL)
    {
        return Err(invalid_config(format!("Unknown group config name: {key}")));
    }
    let session = int(SESSION_TIMEOUT)?.unwrap_or(broker.groups.config().consumer_session_timeout_ms);
    let heartbeat = int(HEARTBEAT_INTERVAL)?.unwrap_or(broker.groups.config().consumer_heartbeat_interval_ms);
    within(
        SESSION_TIMEOUT,
        session,
        config.group_consumer_session_timeout_bounds_ms,
        "session.timeout.ms",
    )?;
    within(
        HEARTBEAT_INTERVAL,
        heartbeat,
        config.group_consumer_heartbeat_interval_bounds_ms,
        "heartbeat.interval.ms",
    )?;
    if heartbeat >= session {
        return Err(invalid_config(format!(
            "{HEARTBEAT_INTERVAL} must be less than {SESSION_TIMEOUT}"
        )));
    }
    Ok(())
}

fn within(key: &str, value: i32, (min, max): (i32, i32), suffix: &str) -> Result<(), Refusal> {
    if value < min {
        return Err(invalid_config(format!(
            "{key} must be greater than or equal to group.consumer.min.{suffix}"
        )));
    }
    if value > max {
        return Err(invalid_config(format!(
            "{key} must be less than or equal to group.consumer.max.{suffix}"
        )));
    }
    Ok(())
}

/// ListConfigResources: v0 lists client metrics subscriptions; v1 the resources of the types
/// asked for (all types served when none are named). DESCRIBE_CONFIGS on the cluster is
/// required.
pub fn handle_list(ctx: &RequestContext<'_>, req: ListConfigResourcesRequest) -> Output {
    if !ctx.authorize(AclOperation::DescribeConfigs, ResourceType::Cluster, CLUSTER_NAME) {
        return Output::respond(ListConfigResourcesResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        });
    }
    const ALL: [i8; 5] = [2, 4, 8, RESOURCE_CLIENT_METRICS, RESOURCE_GROUP];
    let types: Vec<i8> = match ctx.header.request_api_version {
        0 => vec![RESOURCE_CLIENT_METRICS],
        _ if req.resource_types.is_empty() => ALL.to_vec(),
        _ => req.resource_types.clone(),
    };
    if let Some(bad) = types.iter().find(|t| !ALL.contains(t)) {
        tracing::debug!(resource_type = bad, "ListConfigResources for an unsupported type");
        return Output::respond(ListConfigResourcesResponse {
            error_code: ErrorCode::UnsupportedVersion.code(),
            ..Default::default()
        });
    }
    let mut listed = Vec::new();
    for t in types {
        listed.extend(names_of(ctx.broker, t).into_iter().map(|name| ListedResource {
            resource_name: name,
            resource_type: t,
            ..Default::default()
        }));
    }
    Output::respond(ListConfigResourcesResponse {
        config_resources: listed,
        ..Default::default()
    })
}

/// The resources of one type: topics, this broker, its logger, subscriptions, configured groups.
fn names_of(broker: &Broker, resource_type: i8) -> Vec<String> {
    let store = broker.metadata();
    let image = store.image();
    let stored = |resource: ConfigResource| -> Vec<String> {
        image
            .configs
            .iter()
            .filter(|((r, _), values)| *r == resource && !values.is_empty())
            .map(|((_, name), _)| name.clone())
            .collect()
    };
    match resource_type {
        2 => image.topic_ids.keys().cloned().collect(),
        4 | 8 => vec![broker.settings.node_id.to_string()],
        RESOURCE_CLIENT_METRICS => stored(ConfigResource::ClientMetrics),
        _ => stored(ConfigResource::Group),
    }
}
