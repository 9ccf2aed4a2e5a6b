//! DescribeConfigs (key 32), AlterConfigs (key 33) and IncrementalAlterConfigs (key 44).
//!
//! Topic configs are overrides kept in the metadata log; every change is validated with Kafka's
//! rules (an unknown name or a bad value is INVALID_CONFIG, with the reason) and then committed
//! in one step, and open partition logs pick the new values up at once. Broker configs are
//! described with their sources and synonyms; they are static here (set in server.properties),
//! so altering them is refused with INVALID_REQUEST until dynamic broker configs exist.

use crate::context::Broker;
use sluice_config::{ConfigEntry, describe_broker, describe_topic, validate_topic_overrides};
use sluice_metadata::{ConfigResource, MetadataRecord};
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::alter_configs_response::AlterConfigsResourceResponse;
use sluice_protocol::generated::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use sluice_protocol::generated::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResult;
use sluice_protocol::generated::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, RequestHeader,
};
use std::collections::BTreeMap;

pub const DESCRIBE_API_KEY: i16 = 32;
pub const DESCRIBE_VERSIONS: (i16, i16) = (0, 4);
pub const ALTER_API_KEY: i16 = 33;
pub const ALTER_VERSIONS: (i16, i16) = (0, 2);
pub const INCREMENTAL_API_KEY: i16 = 44;
pub const INCREMENTAL_VERSIONS: (i16, i16) = (0, 1);

/// Kafka's resource types on the wire.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

type Refusal = (ErrorCode, String);

fn entry_to_wire(e: ConfigEntry, version: i16, synonyms: bool, documentation: bool) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult {
        name: e.name,
        value: if e.is_sensitive { None } else { e.value },
        read_only: e.read_only,
        // IsDefault exists only in v0; ConfigSource replaces it from v1.
        is_default: version == 0 && e.source == sluice_config::ConfigSource::DefaultConfig,
        config_source: if version >= 1 { e.source.code() } else { -1 },
        is_sensitive: e.is_sensitive,
        synonyms: if version >= 1 && synonyms {
            e.synonyms
                .into_iter()
                .map(|s| DescribeConfigsSynonym {
                    name: s.name,
                    value: s.value,
                    source: s.source.code(),
                    ..Default::default()
                })
                .collect()
        } else {
            Vec::new()
        },
        config_type: if version >= 3 { e.config_type.code() } else { 0 },
        documentation: (version >= 3 && documentation).then_some(e.documentation),
        ..Default::default()
    }
}

/// The overrides a topic has now, or UNKNOWN_TOPIC_OR_PARTITION.
fn topic_overrides(broker: &Broker, name: &str) -> Result<BTreeMap<String, String>, Refusal> {
    let store = broker.metadata();
    let image = store.image();
    if image.topic(name).is_none() {
        return Err((
            ErrorCode::UnknownTopicOrPartition,
            "This server does not host this topic-partition.".into(),
        ));
    }
    Ok(image.topic_configs(name).cloned().unwrap_or_default())
}

fn is_this_broker(broker: &Broker, name: &str) -> bool {
    name.is_empty() || name.parse::<i32>().ok() == Some(broker.settings.node_id)
}

pub fn describe(broker: &Broker, header: &RequestHeader, req: &DescribeConfigsRequest) -> DescribeConfigsResponse {
    let version = header.request_api_version;
    let results = req
        .resources
        .iter()
        .map(|r| {
            let entries: Result<Vec<ConfigEntry>, Refusal> = match r.resource_type {
                RESOURCE_TOPIC => topic_overrides(broker, &r.resource_name).and_then(|overrides| {
                    let pairs: Vec<(String, String)> = overrides.into_iter().collect();
                    describe_topic(&broker.settings.config, &pairs)
                        .map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))
                }),
                RESOURCE_BROKER if is_this_broker(broker, &r.resource_name) => {
                    Ok(describe_broker(&broker.settings.config))
                }
                RESOURCE_BROKER => Err((
                    ErrorCode::InvalidRequest,
                    format!("Unexpected broker id, expected {}", broker.settings.node_id),
                )),
                other => Err((ErrorCode::InvalidRequest, format!("Unsupported resource type {other}"))),
            };
            let mut result = DescribeConfigsResult {
                resource_type: r.resource_type,
                resource_name: r.resource_name.clone(),
                ..Default::default()
            };
            match entries {
                Ok(entries) => {
                    result.configs = entries
                        .into_iter()
                        .filter(|e| r.configuration_keys.as_ref().is_none_or(|keys| keys.contains(&e.name)))
                        .map(|e| entry_to_wire(e, version, req.include_synonyms, req.include_documentation))
                        .collect();
                }
                Err((code, message)) => {
                    result.error_code = code.code();
                    result.error_message = Some(message);
                }
            }
            result
        })
        .collect();
    DescribeConfigsResponse {
        results,
        ..Default::default()
    }
}

/// Validates a topic's complete new set of overrides and, unless `validate_only`, commits the
/// difference and applies it to the open logs.
fn replace_topic_configs(
    broker: &Broker,
    name: &str,
    new: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), Refusal> {
    validate_topic_overrides(new.iter()).map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
    if validate_only {
        return Ok(());
    }
    let mut store = broker.metadata();
    let Some(topic) = store.image().topic(name).cloned() else {
        return Err((
            ErrorCode::UnknownTopicOrPartition,
            "This server does not host this topic-partition.".into(),
        ));
    };
    let old = store.image().topic_configs(name).cloned().unwrap_or_default();
    let record = |key: &str, value: Option<String>| MetadataRecord::Config {
        resource: ConfigResource::Topic,
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
    if records.is_empty() {
        return Ok(());
    }
    store
        .commit(&records)
        .map_err(|e| (ErrorCode::UnknownServerError, e.to_string()))?;
    let overrides = store.image().topic_configs(name).cloned();
    drop(store);
    broker.logs.reconfigure_topic(&topic, overrides.as_ref());
    Ok(())
}

/// A resource's outcome as the error code and message fields of its result.
fn wire_outcome(outcome: Result<(), Refusal>) -> (i16, Option<String>) {
    match outcome {
        Ok(()) => (0, None),
        Err((code, message)) => (code.code(), Some(message)),
    }
}

const BROKER_READ_ONLY: &str = "Broker configs are read-only in this version of Sluice; set them in server.properties.";

pub fn alter(broker: &Broker, req: &AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let outcome = match r.resource_type {
                RESOURCE_TOPIC => {
                    let mut new = BTreeMap::new();
                    let mut null = None;
                    for c in &r.configs {
                        match &c.value {
                            Some(v) => {
                                new.insert(c.name.clone(), v.clone());
                            }
                            None => null = Some(c.name.clone()),
                        }
                    }
                    match null {
                        Some(name) => Err((
                            ErrorCode::InvalidConfig,
                            format!("Null value not supported for topic configs: {name}"),
                        )),
                        None => topic_overrides(broker, &r.resource_name)
                            .and_then(|_| replace_topic_configs(broker, &r.resource_name, new, req.validate_only)),
                    }
                }
                RESOURCE_BROKER => Err((ErrorCode::InvalidRequest, BROKER_READ_ONLY.to_owned())),
                other => Err((ErrorCode::InvalidRequest, format!("Unsupported resource type {other}"))),
            };
            let (error_code, error_message) = wire_outcome(outcome);
            AlterConfigsResourceResponse {
                error_code,
                error_message,
                resource_type: r.resource_type,
                resource_name: r.resource_name.clone(),
                ..Default::default()
            }
        })
        .collect();
    AlterConfigsResponse {
        responses,
        ..Default::default()
    }
}

/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

pub fn incremental_alter(broker: &Broker, req: &IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let outcome = match r.resource_type {
                RESOURCE_TOPIC => topic_overrides(broker, &r.resource_name).and_then(|mut new| {
                    for c in &r.configs {
                        let value = c.value.clone().unwrap_or_default();
                        match c.config_operation {
                            OP_SET => {
                                new.insert(c.name.clone(), value);
                            }
                            OP_DELETE => {
                                new.remove(&c.name);
                            }
                            // List configs (cleanup.policy): add or remove items.
                            OP_APPEND | OP_SUBTRACT => {
                                let current = match new.get(&c.name) {
                                    Some(v) => v.clone(),
                                    None => sluice_config::TopicConfig::from_broker(&broker.settings.config)
                                        .value_text(&c.name)
                                        .unwrap_or_default(),
                                };
                                let mut items: Vec<String> = current
                                    .split(',')
                                    .map(str::trim)
                                    .filter(|s| !s.is_empty())
                                    .map(str::to_owned)
                                    .collect();
                                for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                                    if c.config_operation == OP_APPEND {
                                        if !items.iter().any(|i| i == item) {
                                            items.push(item.to_owned());
                                        }
                                    } else {
                                        items.retain(|i| i != item);
                                    }
                                }
                                new.insert(c.name.clone(), items.join(","));
                            }
                            op => return Err((ErrorCode::InvalidRequest, format!("Unknown config operation {op}"))),
                        }
                    }
                    replace_topic_configs(broker, &r.resource_name, new, req.validate_only)
                }),
                RESOURCE_BROKER => Err((ErrorCode::InvalidRequest, BROKER_READ_ONLY.to_owned())),
                other => Err((ErrorCode::InvalidRequest, format!("Unsupported resource type {other}"))),
            };
            let (error_code, error_message) = wire_outcome(outcome);
            IncrementalResult {
                error_code,
                error_message,
                resource_type: r.resource_type,
                resource_name: r.resource_name.clone(),
                ..Default::default()
            }
        })
        .collect();
    IncrementalAlterConfigsResponse {
        responses,
        ..Default::default()
    }
}
