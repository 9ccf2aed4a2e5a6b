//! AlterClientQuotas (key 49): set or remove client quotas, kept in the metadata log.
//!
//! Kafka's `ClientQuotaControlManager` rules, per entity: an empty entity, an unknown entity type,
//! an empty name, an IP combined with a user or client id, an IP that is not an address, an
//! unknown key for the entity's kind, a value not greater than 0, or a fractional value for a whole
//! number key are INVALID_REQUEST with Kafka's message; a key named twice makes the entity
//! "Ignoring duplicate entity ...", as does the entity named twice. Removing a quota that is not
//! set, or setting one to its current value, writes nothing. The accepted entities' changes are
//! committed together (unless `validate_only`) and the quota index rebuilt.
//!
//! ALTER_CONFIGS on the cluster is required, else every entity is CLUSTER_AUTHORIZATION_FAILED.

use super::Output;
use crate::quotas::{ENTITY_CLIENT_ID, ENTITY_IP, ENTITY_USER, IP_KEYS, QuotaKeyType, USER_CLIENT_KEYS};
use crate::session::RequestContext;
use sluice_metadata::{MetadataRecord, QuotaEntity, QuotaValue};
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::alter_client_quotas_request::EntryData as RequestEntry;
use sluice_protocol::generated::alter_client_quotas_response::{EntityData, EntryData};
use sluice_protocol::generated::{AlterClientQuotasRequest, AlterClientQuotasResponse};
use sluice_security::acl::AclOperation;
use std::collections::BTreeMap;

pub const API_KEY: i16 = 49;
/// Versions served: all Kafka 4 defines.
pub const VERSIONS: (i16, i16) = (0, 1);

/// Most records one request may write (Kafka's `MAX_RECORDS_PER_USER_OP`).
const RECORDS_MAX: usize = 10_000;

/// An entity's refusal: code and message.
type Refusal = (ErrorCode, String);

/// Each entity with its outcome, in request order.
type Outcomes = Vec<(QuotaEntity, Result<(), Refusal>)>;

pub fn handle(ctx: &RequestContext<'_>, req: AlterClientQuotasRequest) -> Output {
    let entities: Vec<QuotaEntity> = req.entries.iter().map(entity_of).collect();
    if !ctx.authorize_cluster(AclOperation::AlterConfigs) {
        let denied = (
            ErrorCode::ClusterAuthorizationFailed,
            ErrorCode::ClusterAuthorizationFailed.message().to_owned(),
        );
        let results = entities.into_iter().map(|e| (e, Err(denied.clone()))).collect();
        return Output::respond(response(results));
    }
    let current = ctx.broker.metadata().image().client_quotas.clone();
    let (mut results, records) = evaluate(&current, &req.entries, &entities);
    if records.len() > RECORDS_MAX {
        let refusal = (
            ErrorCode::InvalidRequest,
            format!("the request would write more than {RECORDS_MAX} quota records"),
        );
        for (_, r) in results.iter_mut() {
            *r = Err(refusal.clone());
        }
    } else if !req.validate_only && !records.is_empty() {
        let mut store = ctx.broker.metadata();
        match store.commit(&records) {
            Ok(_) => ctx.broker.quotas.rebuild(store.image()),
            Err(e) => {
                tracing::error!(error = %e, "could not commit client quotas");
                let failed = (ErrorCode::UnknownServerError, e.to_string());
                for (_, r) in results.iter_mut().filter(|(_, r)| r.is_ok()) {
                    *r = Err(failed.clone());
                }
            }
        }
    }
    Output::respond(response(results))
}

/// A request entity as Kafka's `ClientQuotaEntity`: a map, so a type named twice keeps its last
/// name.
fn entity_of(entry: &RequestEntry) -> QuotaEntity {
    entry
        .entity
        .iter()
        .map(|e| (e.entity_type.clone(), e.entity_name.clone()))
        .collect()
}

/// Kafka's rendering of an entity in messages (`ClientQuotaEntity(entries={user=alice})`).
fn entity_text(entity: &QuotaEntity) -> String {
    let parts: Vec<String> = entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("null")))
        .collect();
    format!("ClientQuotaEntity(entries={{{}}})", parts.join(", "))
}

/// Every entity's outcome, in first-appearance order, and the records of the accepted ones.
pub(crate) fn evaluate(
    current: &BTreeMap<QuotaEntity, BTreeMap<String, QuotaValue>>,
    entries: &[RequestEntry],
    entities: &[QuotaEntity],
) -> (Outcomes, Vec<MetadataRecord>) {
    let mut results: Outcomes = Vec::new();
    let mut records = Vec::new();
    for (entry, entity) in entries.iter().zip(entities) {
        let mut ops: BTreeMap<&str, Option<f64>> = BTreeMap::new();
        let mut duplicate_key = false;
        for op in &entry.ops {
            if ops.contains_key(op.key.as_str()) {
                duplicate_key = true;
            } else {
                ops.insert(&op.key, (!op.remove).then_some(op.value));
            }
        }
        let seen = results.iter().position(|(e, _)| e == entity);
        if duplicate_key || seen.is_some() {
            let refusal = Err((
                ErrorCode::InvalidRequest,
                format!("Ignoring duplicate entity {}", entity_text(entity)),
            ));
            match seen {
                Some(i) => results[i].1 = refusal,
                None => results.push((entity.clone(), refusal)),
            }
            continue;
        }
        let outcome = alter_entity(current.get(entity), entity, &ops).map(|mut new| records.append(&mut new));
        results.push((entity.clone(), outcome));
    }
    // An entity refused after an earlier one of the same name was accepted (a duplicate) must
    // not have its records written.
    let refused: Vec<&QuotaEntity> = results.iter().filter(|(_, r)| r.is_err()).map(|(e, _)| e).collect();
    records.retain(|r| match r {
        MetadataRecord::ClientQuota { entity, .. } => !refused.contains(&entity),
        _ => true,
    });
    (results, records)
}

/// One entity's records, or why it is refused.
fn alter_entity(
    current: Option<&BTreeMap<String, QuotaValue>>,
    entity: &QuotaEntity,
    ops: &BTreeMap<&str, Option<f64>>,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let keys = keys_for(entity)?;
    let mut records = Vec::new();
    for (key, value) in ops {
        let existing = current.and_then(|c| c.get(*key));
        match value {
            None if existing.is_some() => records.push(record(entity, key, None)),
            None => {}
            Some(v) => {
                validate_value(keys, key, *v)?;
                if existing != Some(&QuotaValue(*v)) {
                    records.push(record(entity, key, Some(*v)));
                }
            }
        }
    }
    Ok(records)
}

fn record(entity: &QuotaEntity, key: &str, value: Option<f64>) -> MetadataRecord {
    MetadataRecord::ClientQuota {
        entity: entity.clone(),
        key: key.to_owned(),
        value: value.map(QuotaValue),
    }
}

fn invalid(message: impl Into<String>) -> Refusal {
    (ErrorCode::InvalidRequest, message.into())
}

/// Kafka's `validateEntity` and `configKeysForEntityType`: the keys this entity may set.
fn keys_for(entity: &QuotaEntity) -> Result<&'static [(&'static str, QuotaKeyType)], Refusal> {
    if entity.is_empty() {
        return Err(invalid("Invalid empty client quota entity"));
    }
    for (entity_type, name) in entity {
        if ![ENTITY_USER, ENTITY_CLIENT_ID, ENTITY_IP].contains(&entity_type.as_str()) {
            return Err(invalid(format!("Unhandled client quota entity type: {entity_type}")));
        }
        if name.as_deref() == Some("") {
            return Err(invalid(format!("Empty {entity_type} not supported")));
        }
    }
    match entity.get(ENTITY_IP) {
        Some(_) if entity.len() > 1 => Err(invalid(
            "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
        )),
        Some(Some(ip)) if ip.parse::<std::net::IpAddr>().is_err() => {
            Err(invalid(format!("{ip} is not a valid IP or resolvable host.")))
        }
        Some(_) => Ok(IP_KEYS),
        None => Ok(USER_CLIENT_KEYS),
    }
}

/// Kafka's `validateQuotaKeyValue`.
fn validate_value(keys: &[(&str, QuotaKeyType)], key: &str, value: f64) -> Result<(), Refusal> {
    let Some((_, ty)) = keys.iter().find(|(k, _)| *k == key) else {
        return Err(invalid(format!("Invalid configuration key {key}")));
    };
    // Kafka lets NaN and infinity through for DOUBLE keys; they would disable or break the
    // rate arithmetic, so Sluice refuses them with the same message as a non-positive value.
    if value <= 0.0 || !value.is_finite() {
        return Err(invalid(format!("Quota {key} must be greater than 0")));
    }
    let (too_large, type_name) = match ty {
        QuotaKeyType::Double => return Ok(()),
        QuotaKeyType::Int => (value > i32::MAX as f64, "an INT"),
        QuotaKeyType::Long => (value > i64::MAX as f64, "a LONG"),
    };
    if too_large {
        return Err(invalid(format!(
            "Proposed value for {key} is too large for {type_name}."
        )));
    }
    if (value % 1.0).abs() > 1e-6 {
        return Err(invalid(format!("{key} cannot be a fractional value.")));
    }
    Ok(())
}

fn response(results: Outcomes) -> AlterClientQuotasResponse {
    AlterClientQuotasResponse {
        entries: results
            .into_iter()
            .map(|(entity, result)| {
                let (error_code, error_message) = match result {
                    Ok(()) => (0, None),
                    Err((code, message)) => (code.code(), Some(message)),
                };
                EntryData {
                    error_code,
                    error_message,
                    entity: entity
                        .into_iter()
                        .map(|(entity_type, entity_name)| EntityData {
                            entity_type,
                            entity_name,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }
            })
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::generated::alter_client_quotas_request::{EntityData as ReqEntity, OpData};

    fn entry(entity: &[(&str, Option<&str>)], ops: &[(&str, f64, bool)]) -> RequestEntry {
        RequestEntry {
            entity: entity
                .iter()
                .map(|(t, n)| ReqEntity {
                    entity_type: t.to_string(),
                    entity_name: n.map(str::to_owned),
                    ..Default::default()
                })
                .collect(),
            ops: ops
                .iter()
                .map(|(k, v, remove)| OpData {
                    key: k.to_string(),
                    value: *v,
                    remove: *remove,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn run(
        current: &BTreeMap<QuotaEntity, BTreeMap<String, QuotaValue>>,
        entries: Vec<RequestEntry>,
    ) -> (Vec<Result<(), Refusal>>, Vec<MetadataRecord>) {
        let entities: Vec<QuotaEntity> = entries.iter().map(entity_of).collect();
        let (results, records) = evaluate(current, &entries, &entities);
        (results.into_iter().map(|(_, r)| r).collect(), records)
    }

    fn message(r: &Result<(), Refusal>) -> String {
        r.as_ref().expect_err("refused").1.clone()
    }

    #[test]
    fn kafkas_entity_rules_and_messages() {
        let none = BTreeMap::new();
        let cases: Vec<(RequestEntry, &str)> = vec![
            (
                entry(&[], &[("producer_byte_rate", 1.0, false)]),
                "Invalid empty client quota entity",
            ),
            (
                entry(&[("group", Some("g"))], &[("producer_byte_rate", 1.0, false)]),
                "Unhandled client quota entity type: group",
            ),
            (
                entry(&[("user", Some(""))], &[("producer_byte_rate", 1.0, false)]),
                "Empty user not supported",
            ),
            (
                entry(
                    &[("user", Some("a")), ("ip", None)],
                    &[("producer_byte_rate", 1.0, false)],
                ),
                "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
            ),
            (
                entry(
                    &[("ip", Some("not an ip"))],
                    &[("connection_creation_rate", 1.0, false)],
                ),
                "not an ip is not a valid IP or resolvable host.",
            ),
            (
                entry(&[("ip", None)], &[("producer_byte_rate", 1.0, false)]),
                "Invalid configuration key producer_byte_rate",
            ),
            (
                entry(&[("user", None)], &[("connection_creation_rate", 1.0, false)]),
                "Invalid configuration key connection_creation_rate",
            ),
            (
                entry(&[("user", Some("a"))], &[("producer_byte_rate", -5.0, false)]),
                "Quota producer_byte_rate must be greater than 0",
            ),
            (
                entry(&[("user", Some("a"))], &[("request_percentage", 0.0, false)]),
                "Quota request_percentage must be greater than 0",
            ),
            (
                entry(&[("client-id", Some("c"))], &[("consumer_byte_rate", 10.5, false)]),
                "consumer_byte_rate cannot be a fractional value.",
            ),
            (
                entry(&[("ip", Some("10.0.0.1"))], &[("connection_creation_rate", 3e9, false)]),
                "Proposed value for connection_creation_rate is too large for an INT.",
            ),
        ];
        for (e, expected) in cases {
            let (results, records) = run(&none, vec![e]);
            assert_eq!(message(&results[0]), expected);
            assert_eq!(results[0].as_ref().unwrap_err().0, ErrorCode::InvalidRequest);
            assert!(records.is_empty());
        }
    }

    #[test]
    fn accepted_entities_write_only_changes_and_refused_ones_nothing() {
        let mut current = BTreeMap::new();
        let alice: QuotaEntity = [("user".to_string(), Some("alice".to_string()))].into_iter().collect();
        current.insert(
            alice.clone(),
            [("producer_byte_rate".to_string(), QuotaValue(100.0))]
                .into_iter()
                .collect(),
        );
        let (results, records) = run(
            &current,
            vec![
                // Same value: nothing written. Removal of an unset key: nothing written.
                entry(
                    &[("user", Some("alice"))],
                    &[("producer_byte_rate", 100.0, false), ("consumer_byte_rate", 0.0, true)],
                ),
                entry(
                    &[("user", None), ("client-id", None)],
                    &[
                        ("request_percentage", 12.5, false),
                        ("controller_mutation_rate", 2.0, false),
                    ],
                ),
                entry(&[("client-id", Some("c"))], &[("bogus", 1.0, false)]),
            ],
        );
        assert!(results[0].is_ok() && results[1].is_ok() && results[2].is_err());
        assert_eq!(records.len(), 2);
        let (results, records) = run(
            &current,
            vec![entry(&[("user", Some("alice"))], &[("producer_byte_rate", 0.0, true)])],
        );
        assert!(results[0].is_ok());
        assert_eq!(
            records,
            vec![MetadataRecord::ClientQuota {
                entity: alice,
                key: "producer_byte_rate".into(),
                value: None
            }]
        );
    }

    #[test]
    fn duplicates_are_refused_as_kafka_words_them() {
        let none = BTreeMap::new();
        let (results, records) = run(
            &none,
            vec![entry(
                &[("user", Some("a"))],
                &[("producer_byte_rate", 1.0, false), ("producer_byte_rate", 2.0, false)],
            )],
        );
        assert_eq!(
            message(&results[0]),
            "Ignoring duplicate entity ClientQuotaEntity(entries={user=a})"
        );
        assert!(records.is_empty());
        let (results, records) = run(
            &none,
            vec![
                entry(&[("user", Some("a"))], &[("producer_byte_rate", 1.0, false)]),
                entry(&[("user", Some("a"))], &[("consumer_byte_rate", 1.0, false)]),
            ],
        );
        assert_eq!(results.len(), 1);
        assert!(message(&results[0]).starts_with("Ignoring duplicate entity"));
        assert!(records.is_empty());
    }
}
