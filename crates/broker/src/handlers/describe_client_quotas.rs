//! DescribeClientQuotas (key 48): the quotas of the entities a filter matches.
//!
//! Kafka's `ClientQuotasImage.describe`: each filter component names an entity type at most once
//! (`user`, `client-id` or `ip`; another type is UNSUPPORTED_VERSION) and matches it exactly
//! (match type 0, a name), as the default (1, no name) or as any specified entity of that type (2,
//! no name); IP components cannot be combined with user or client-id ones. Without `strict` an
//! entity matches when it has every component; with it, it must have no other part. Errors are
//! INVALID_REQUEST with Kafka's messages and no entries. DESCRIBE_CONFIGS on the cluster is
//! required, else CLUSTER_AUTHORIZATION_FAILED.

use super::Output;
use crate::quotas::{ENTITY_CLIENT_ID, ENTITY_IP, ENTITY_USER};
use crate::session::RequestContext;
use sluice_metadata::{QuotaEntity, QuotaValue};
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::describe_client_quotas_request::ComponentData;
use sluice_protocol::generated::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use sluice_protocol::generated::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use sluice_security::acl::AclOperation;
use std::collections::{BTreeMap, BTreeSet};

pub const API_KEY: i16 = 48;
/// Versions served: all Kafka 4 defines.
pub const VERSIONS: (i16, i16) = (0, 1);

const MATCH_TYPE_EXACT: i8 = 0;
const MATCH_TYPE_DEFAULT: i8 = 1;
const MATCH_TYPE_SPECIFIED: i8 = 2;

/// A validated filter: exact matches (a `None` name is the default) and types that must be present.
#[derive(Debug, Default)]
struct Filter {
    exact: BTreeMap<String, Option<String>>,
    present: BTreeSet<String>,
    strict: bool,
}

pub fn handle(ctx: &RequestContext<'_>, req: DescribeClientQuotasRequest) -> Output {
    if !ctx.authorize_cluster(AclOperation::DescribeConfigs) {
        return Output::respond(error(
            ErrorCode::ClusterAuthorizationFailed,
            ErrorCode::ClusterAuthorizationFailed.message().to_owned(),
        ));
    }
    let filter = match filter_of(&req.components, req.strict) {
        Ok(f) => f,
        Err((code, message)) => return Output::respond(error(code, message)),
    };
    let store = ctx.broker.metadata();
    let entries = store
        .image()
        .client_quotas
        .iter()
        .filter(|(entity, _)| filter.matches(entity))
        .map(|(entity, values)| entry(entity, values))
        .collect();
    Output::respond(DescribeClientQuotasResponse {
        entries: Some(entries),
        ..Default::default()
    })
}

fn error(code: ErrorCode, message: String) -> DescribeClientQuotasResponse {
    DescribeClientQuotasResponse {
        error_code: code.code(),
        error_message: Some(message),
        entries: None,
        ..Default::default()
    }
}

fn invalid(message: impl Into<String>) -> (ErrorCode, String) {
    (ErrorCode::InvalidRequest, message.into())
}

/// Kafka's validation of the filter components, in its order.
fn filter_of(components: &[ComponentData], strict: bool) -> Result<Filter, (ErrorCode, String)> {
    let mut f = Filter {
        strict,
        ..Default::default()
    };
    for c in components {
        let t = &c.entity_type;
        if t.is_empty() {
            return Err(invalid("Invalid empty entity type."));
        }
        if f.exact.contains_key(t) || f.present.contains(t) {
            return Err(invalid(format!(
                "Entity type {t} cannot appear more than once in the filter."
            )));
        }
        if ![ENTITY_IP, ENTITY_USER, ENTITY_CLIENT_ID].contains(&t.as_str()) {
            return Err((ErrorCode::UnsupportedVersion, format!("Unsupported entity type {t}")));
        }
        match (c.match_type, &c.r#match) {
            (MATCH_TYPE_EXACT, None) => {
                return Err(invalid(
                    "Request specified MATCH_TYPE_EXACT, but set match string to null.",
                ));
            }
            (MATCH_TYPE_EXACT, Some(name)) => {
                f.exact.insert(t.clone(), Some(name.clone()));
            }
            (MATCH_TYPE_DEFAULT, Some(_)) => {
                return Err(invalid(
                    "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
                ));
            }
            (MATCH_TYPE_DEFAULT, None) => {
                f.exact.insert(t.clone(), None);
            }
            (MATCH_TYPE_SPECIFIED, Some(_)) => {
                return Err(invalid(
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.",
                ));
            }
            (MATCH_TYPE_SPECIFIED, None) => {
                f.present.insert(t.clone());
            }
            (other, _) => return Err(invalid(format!("Unknown match type {other}"))),
        }
    }
    let has = |t: &str| f.exact.contains_key(t) || f.present.contains(t);
    if has(ENTITY_IP) && (has(ENTITY_USER) || has(ENTITY_CLIENT_ID)) {
        return Err(invalid(
            "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.",
        ));
    }
    Ok(f)
}

impl Filter {
    fn matches(&self, entity: &QuotaEntity) -> bool {
        if self.strict && entity.len() != self.exact.len() + self.present.len() {
            return false;
        }
        self.exact.iter().all(|(t, name)| entity.get(t) == Some(name))
            && self.present.iter().all(|t| entity.contains_key(t))
    }
}

fn entry(entity: &QuotaEntity, values: &BTreeMap<String, QuotaValue>) -> EntryData {
    EntryData {
        entity: entity
            .iter()
            .map(|(t, n)| EntityData {
                entity_type: t.clone(),
                entity_name: n.clone(),
                ..Default::default()
            })
            .collect(),
        values: values
            .iter()
            .map(|(k, v)| ValueData {
                key: k.clone(),
                value: v.0,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comp(t: &str, match_type: i8, m: Option<&str>) -> ComponentData {
        ComponentData {
            entity_type: t.into(),
            match_type,
            r#match: m.map(str::to_owned),
            ..Default::default()
        }
    }

    fn entity(parts: &[(&str, Option<&str>)]) -> QuotaEntity {
        parts
            .iter()
            .map(|(t, n)| (t.to_string(), n.map(str::to_owned)))
            .collect()
    }

    fn err(components: &[ComponentData]) -> (ErrorCode, String) {
        filter_of(components, false).expect_err("refused")
    }

    #[test]
    fn kafkas_filter_errors() {
        assert_eq!(err(&[comp("", 0, Some("a"))]).1, "Invalid empty entity type.");
        assert_eq!(
            err(&[comp("user", 0, Some("a")), comp("user", 2, None)]).1,
            "Entity type user cannot appear more than once in the filter."
        );
        assert_eq!(
            err(&[comp("group", 0, Some("a"))]),
            (ErrorCode::UnsupportedVersion, "Unsupported entity type group".into())
        );
        assert_eq!(
            err(&[comp("user", 0, None)]).1,
            "Request specified MATCH_TYPE_EXACT, but set match string to null."
        );
        assert_eq!(
            err(&[comp("user", 1, Some("a"))]).1,
            "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
        );
        assert_eq!(
            err(&[comp("user", 2, Some("a"))]).1,
            "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."
        );
        assert_eq!(err(&[comp("user", 7, None)]).1, "Unknown match type 7");
        assert_eq!(
            err(&[comp("ip", 2, None), comp("client-id", 1, None)]).0,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn strict_and_loose_matching() {
        let alice = entity(&[("user", Some("alice"))]);
        let alice_c = entity(&[("user", Some("alice")), ("client-id", Some("c"))]);
        let default_user = entity(&[("user", None)]);
        let loose = filter_of(&[comp("user", 0, Some("alice"))], false).unwrap();
        assert!(loose.matches(&alice) && loose.matches(&alice_c) && !loose.matches(&default_user));
        let strict = filter_of(&[comp("user", 0, Some("alice"))], true).unwrap();
        assert!(strict.matches(&alice) && !strict.matches(&alice_c));
        let defaults = filter_of(&[comp("user", 1, None)], false).unwrap();
        assert!(defaults.matches(&default_user) && !defaults.matches(&alice));
        let any_client = filter_of(&[comp("client-id", 2, None)], false).unwrap();
        assert!(any_client.matches(&alice_c) && !any_client.matches(&alice));
        let everything = filter_of(&[], false).unwrap();
        assert!(everything.matches(&alice) && everything.matches(&default_user));
        let nothing_strict = filter_of(&[], true).unwrap();
        assert!(!nothing_strict.matches(&alice));
    }
}
