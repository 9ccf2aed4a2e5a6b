//! DescribeConfigs (key 32), AlterConfigs (key 33) and IncrementalAlterConfigs (key 44).
//!
//! Topic configs are overrides kept in the metadata log; every change is validated with Kafka's
//! rules (an unknown name or a bad value is INVALID_CONFIG, with the reason) and then committed
//! in one step, and open partition logs pick the new values up at once.
//!
//! Broker configs (KIP-226): a BROKER resource named `""` holds cluster-wide dynamic defaults,
//! one named with this node's id its own values; other ids are refused as Kafka's
//! ConfigAdminManager refuses them. Only keys Sluice applies at runtime may be set (the broker
//! defaults of topic configs and `producer.id.expiration.ms`); the rest is refused with
//! INVALID_REQUEST `Cannot update these configs dynamically: Set(...)`. Changes are stored as
//! metadata records, so they survive restarts, and apply at once: topics without their own
//! override follow a changed default. DescribeConfigs reports the layers as
//! DYNAMIC_BROKER_CONFIG / DYNAMIC_DEFAULT_BROKER_CONFIG. Changing logger levels at runtime
//! (BROKER_LOGGER) is not supported and refused.

use super::Output;
use crate::context::Broker;
use crate::session::RequestContext;
use sluice_config::{ConfigEntry, describe_broker_dynamic, describe_topic_dynamic, validate_topic_overrides};
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
use sluice_security::acl::{AclOperation, ResourceType};
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
const RESOURCE_BROKER_LOGGER: i8 = 8;

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

/// DescribeConfigs: the handler.
/// Kafka's authorization of a config resource: topics by name, brokers (and broker loggers) as
/// the cluster; the refusal code names which.
fn config_access(ctx: &RequestContext<'_>, op: AclOperation, resource_type: i8, name: &str) -> Result<(), ErrorCode> {
    match resource_type {
        RESOURCE_TOPIC if !ctx.authorize(op, ResourceType::Topic, name) => Err(ErrorCode::TopicAuthorizationFailed),
        RESOURCE_TOPIC => Ok(()),
        super::config_resources::RESOURCE_GROUP if !ctx.authorize(op, ResourceType::Group, name) => {
            Err(ErrorCode::GroupAuthorizationFailed)
        }
        super::config_resources::RESOURCE_GROUP => Ok(()),
        _ if !ctx.authorize_cluster(op) => Err(ErrorCode::ClusterAuthorizationFailed),
        _ => Ok(()),
    }
}

pub fn handle_describe(ctx: &RequestContext<'_>, req: DescribeConfigsRequest) -> Output {
    let mut response = describe_answer(ctx.broker, ctx.header, &req);
    for r in &mut response.results {
        if let Err(code) = config_access(ctx, AclOperation::DescribeConfigs, r.resource_type, &r.resource_name) {
            r.error_code = code.code();
            r.error_message = None;
            r.configs.clear();
        }
    }
    Output::respond(response)
}

fn describe_answer(broker: &Broker, header: &RequestHeader, req: &DescribeConfigsRequest) -> DescribeConfigsResponse {
    let version = header.request_api_version;
    let results = req
        .resources
        .iter()
        .map(|r| {
            let entries: Result<Vec<ConfigEntry>, Refusal> = match r.resource_type {
                RESOURCE_TOPIC => topic_overrides(broker, &r.resource_name).and_then(|overrides| {
                    let pairs: Vec<(String, String)> = overrides.into_iter().collect();
                    describe_topic_dynamic(&broker.settings.config, &broker.dynamic_state().layers, &pairs)
                        .map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))
                }),
                // The cluster-default resource lists only what is set there, as Kafka does.
                RESOURCE_BROKER if r.resource_name.is_empty() => Ok(describe_broker_dynamic(
                    &broker.settings.config,
                    &broker.dynamic_state().layers,
                    false,
                )),
                RESOURCE_BROKER => match r.resource_name.parse::<i32>() {
                    Ok(id) if id == broker.settings.node_id => Ok(describe_broker_dynamic(
                        &broker.settings.config,
                        &broker.dynamic_state().layers,
                        true,
                    )),
                    Ok(_) => Err((
                        ErrorCode::InvalidRequest,
                        format!(
                            "Unexpected broker id, expected {} or empty string, but received {}",
                            broker.settings.node_id, r.resource_name
                        ),
                    )),
                    Err(_) => Err((
                        ErrorCode::InvalidRequest,
                        format!("Broker id must be an integer, but it is: {}", r.resource_name),
                    )),
                },
                t @ (super::config_resources::RESOURCE_CLIENT_METRICS | super::config_resources::RESOURCE_GROUP) => {
                    super::config_resources::describe(broker, t, &r.resource_name)
                }
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

/// Kafka's check of a BROKER resource name before any change: empty (the cluster default) or
/// this node's id.
fn check_broker_name(broker: &Broker, name: &str) -> Result<(), Refusal> {
    if name.is_empty() {
        return Ok(());
    }
    let id: i32 = name.parse().map_err(|_| {
        (
            ErrorCode::InvalidRequest,
            format!("Node id must be an integer, but it is: {name}"),
        )
    })?;
    if id != broker.settings.node_id {
        return Err((
            ErrorCode::InvalidRequest,
            format!(
                "Unexpected broker id, expected {}, but received {name}",
                broker.settings.node_id
            ),
        ));
    }
    Ok(())
}

/// The dynamic values a BROKER resource holds now.
fn broker_layer(broker: &Broker, name: &str) -> BTreeMap<String, String> {
    let layers = broker.dynamic_state().layers;
    if name.is_empty() {
        layers.cluster_default
    } else {
        layers.per_broker
    }
}

/// Validates a BROKER resource's complete new set of dynamic values and, unless
/// `validate_only`, commits the difference and applies it.
fn replace_broker_configs(
    broker: &Broker,
    name: &str,
    new: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), Refusal> {
    let per_broker = !name.is_empty();
    let current = broker.dynamic_state().layers;
    sluice_config::validate_dynamic_broker_configs(&broker.settings.config, &current, &new, per_broker)
        .map_err(|message| (ErrorCode::InvalidRequest, message))?;
    if validate_only {
        return Ok(());
    }
    let old = if per_broker {
        current.per_broker
    } else {
        current.cluster_default
    };
    let record = |key: &str, value: Option<String>| MetadataRecord::Config {
        resource: ConfigResource::Broker,
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
    broker
        .metadata()
        .commit(&records)
        .map_err(|e| (ErrorCode::UnknownServerError, e.to_string()))?;
    broker.reload_dynamic_configs();
    Ok(())
}

/// Kafka's checks of every resource before it is altered (ConfigAdminManager.preprocess): each
/// resource at most once, each key at most once per resource, and no null value except to
/// delete. `nulls` are the names given a null value where one is not allowed.
fn preprocess<'a>(
    resources: impl Iterator<Item = (i8, &'a str)> + Clone,
    index: usize,
    keys: &[&str],
    nulls: &[&str],
) -> Result<(), Refusal> {
    let (kind, name) = resources.clone().nth(index).unwrap_or_default();
    if resources.filter(|r| *r == (kind, name)).count() > 1 {
        return Err((
            ErrorCode::InvalidRequest,
            "Each resource must appear at most once.".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if !keys.iter().all(|k| seen.insert(*k)) {
        return Err((ErrorCode::InvalidRequest, "Error due to duplicate config keys".into()));
    }
    if !nulls.is_empty() {
        return Err((
            ErrorCode::InvalidRequest,
            format!("Null value not supported for : {}", nulls.join(", ")),
        ));
    }
    Ok(())
}

/// Refusal of BROKER_LOGGER changes: Sluice's log filter is fixed at start-up.
const LOGGER_UNSUPPORTED: &str =
    "Changing logger levels at runtime (BROKER_LOGGER) is not supported by Sluice; set SLUICE_LOG at start-up.";

/// A resource's outcome as the error code and message fields of its result.
fn wire_outcome(outcome: Result<(), Refusal>) -> (i16, Option<String>) {
    match outcome {
        Ok(()) => (0, None),
        Err((code, message)) => (code.code(), Some(message)),
    }
}

/// AlterConfigs: the handler.
/// Takes out of `resources` those the caller may not alter (ALTER_CONFIGS), returning each with its
/// refusal code: they are answered without being looked at.
fn take_denied<R>(
    ctx: &RequestContext<'_>,
    resources: &mut Vec<R>,
    id: impl Fn(&R) -> (i8, &str),
) -> Vec<(ErrorCode, i8, String)> {
    let mut denied = Vec::new();
    resources.retain(|r| {
        let (resource_type, name) = id(r);
        match config_access(ctx, AclOperation::AlterConfigs, resource_type, name) {
            Ok(()) => true,
            Err(code) => {
                denied.push((code, resource_type, name.to_string()));
                false
            }
        }
    });
    denied
}

pub fn handle_alter(ctx: &RequestContext<'_>, req: AlterConfigsRequest) -> Output {
    let mut req = req;
    let denied = take_denied(ctx, &mut req.resources, |r| (r.resource_type, r.resource_name.as_str()));
    let mut response = alter_answer(ctx.broker, &req);
    response
        .responses
        .extend(
            denied
                .into_iter()
                .map(|(code, resource_type, resource_name)| AlterConfigsResourceResponse {
                    error_code: code.code(),
                    resource_type,
                    resource_name,
                    ..Default::default()
                }),
        );
    Output::respond(response)
}

fn alter_answer(broker: &Broker, req: &AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .enumerate()
        .map(|(index, r)| {
            let all = req
                .resources
                .iter()
                .map(|r| (r.resource_type, r.resource_name.as_str()));
            let keys: Vec<&str> = r.configs.iter().map(|c| c.name.as_str()).collect();
            let nulls: Vec<&str> = r
                .configs
                .iter()
                .filter(|c| c.value.is_none())
                .map(|c| c.name.as_str())
                .collect();
            let new: BTreeMap<String, String> = r
                .configs
                .iter()
                .filter_map(|c| c.value.clone().map(|v| (c.name.clone(), v)))
                .collect();
            let outcome = preprocess(all, index, &keys, &nulls).and_then(|()| match r.resource_type {
                RESOURCE_TOPIC => topic_overrides(broker, &r.resource_name)
                    .and_then(|_| replace_topic_configs(broker, &r.resource_name, new, req.validate_only)),
                RESOURCE_BROKER => check_broker_name(broker, &r.resource_name)
                    .and_then(|()| replace_broker_configs(broker, &r.resource_name, new, req.validate_only)),
                t @ (super::config_resources::RESOURCE_CLIENT_METRICS | super::config_resources::RESOURCE_GROUP) => {
                    super::config_resources::replace(broker, t, &r.resource_name, &new, req.validate_only)
                }
                other => Err((ErrorCode::InvalidRequest, format!("Unknown resource type {other}"))),
            });
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

/// A LIST value with `items` appended (those not already there) or removed.
pub(crate) fn edit_list(current: &str, items: &str, append: bool) -> String {
    let mut list: Vec<&str> = current.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    for item in items.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if append {
            if !list.contains(&item) {
                list.push(item);
            }
        } else {
            list.retain(|i| *i != item);
        }
    }
    list.join(",")
}

/// IncrementalAlterConfigs: the handler.
pub fn handle_incremental_alter(ctx: &RequestContext<'_>, req: IncrementalAlterConfigsRequest) -> Output {
    let mut req = req;
    let denied = take_denied(ctx, &mut req.resources, |r| (r.resource_type, r.resource_name.as_str()));
    let mut response = incremental_alter_answer(ctx.broker, &req);
    response.responses.extend(
        denied
            .into_iter()
            .map(|(code, resource_type, resource_name)| IncrementalResult {
                error_code: code.code(),
                resource_type,
                resource_name,
                ..Default::default()
            }),
    );
    Output::respond(response)
}

fn incremental_alter_answer(broker: &Broker, req: &IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .enumerate()
        .map(|(index, r)| {
            let all = req
                .resources
                .iter()
                .map(|r| (r.resource_type, r.resource_name.as_str()));
            let keys: Vec<&str> = r.configs.iter().map(|c| c.name.as_str()).collect();
            let nulls: Vec<&str> = r
                .configs
                .iter()
                .filter(|c| c.value.is_none() && c.config_operation != OP_DELETE)
                .map(|c| c.name.as_str())
                .collect();
            let checked = preprocess(all, index, &keys, &nulls);
            let outcome = checked.and_then(|()| match r.resource_type {
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
                                    None => sluice_config::TopicConfig::from_broker(&broker.effective_config())
                                        .value_text(&c.name)
                                        .unwrap_or_default(),
                                };
                                new.insert(
                                    c.name.clone(),
                                    edit_list(&current, &value, c.config_operation == OP_APPEND),
                                );
                            }
                            op => return Err((ErrorCode::InvalidRequest, format!("Unknown config operation {op}"))),
                        }
                    }
                    replace_topic_configs(broker, &r.resource_name, new, req.validate_only)
                }),
                RESOURCE_BROKER => check_broker_name(broker, &r.resource_name).and_then(|()| {
                    let mut new = broker_layer(broker, &r.resource_name);
                    for c in &r.configs {
                        let value = c.value.clone().unwrap_or_default();
                        match c.config_operation {
                            OP_SET => {
                                new.insert(c.name.clone(), value);
                            }
                            OP_DELETE => {
                                new.remove(&c.name);
                            }
                            op @ (OP_APPEND | OP_SUBTRACT) => {
                                let verb = if op == OP_APPEND { "append" } else { "subtract" };
                                if sluice_config::broker_config_type(&c.name) != Some(sluice_config::ConfigType::List) {
                                    return Err((
                                        ErrorCode::InvalidConfig,
                                        format!("Config value {verb} is not allowed for config key: {}", c.name),
                                    ));
                                }
                                // Kafka edits the stored value, or the key's default when unset.
                                let current = new
                                    .get(&c.name)
                                    .cloned()
                                    .or_else(|| sluice_config::BrokerConfig::defaults().ok()?.value_text(&c.name))
                                    .unwrap_or_default();
                                new.insert(c.name.clone(), edit_list(&current, &value, op == OP_APPEND));
                            }
                            op => return Err((ErrorCode::InvalidRequest, format!("Unknown operations type {op}"))),
                        }
                    }
                    replace_broker_configs(broker, &r.resource_name, new, req.validate_only)
                }),
                RESOURCE_BROKER_LOGGER => Err((ErrorCode::InvalidRequest, LOGGER_UNSUPPORTED.to_owned())),
                t @ (super::config_resources::RESOURCE_CLIENT_METRICS | super::config_resources::RESOURCE_GROUP) => {
                    let changes: Vec<super::config_resources::Change<'_>> = r
                        .configs
                        .iter()
                        .map(|c| (c.name.as_str(), c.config_operation, c.value.as_deref()))
                        .collect();
                    super::config_resources::alter(broker, t, &r.resource_name, &changes, req.validate_only)
                }
                other => Err((ErrorCode::InvalidRequest, format!("Unknown resource type {other}"))),
            });
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
