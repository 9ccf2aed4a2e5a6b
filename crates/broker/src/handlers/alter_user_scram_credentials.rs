//! AlterUserScramCredentials (key 51): set or delete users' SCRAM credentials.
//!
//! The client sends the salted password (never the password); the broker derives the stored and
//! server keys and commits them to the metadata log, where SaslAuthenticate reads them. Kafka's
//! checks and codes, per user: an unknown mechanism is UNSUPPORTED_SASL_MECHANISM, an empty name
//! or an iteration count outside 4096..=16384 UNACCEPTABLE_CREDENTIAL, a user named twice
//! DUPLICATE_RESOURCE, a deletion of a credential that does not exist RESOURCE_NOT_FOUND. All of
//! a request's accepted changes are committed together.

use super::Output;
use crate::session::RequestContext;
use sluice_metadata::{MetadataRecord, ScramCredentialEntry};
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use sluice_protocol::generated::{AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse};
use sluice_security::scram::{ScramCredential, ScramMechanism};
use std::collections::{BTreeMap, HashMap};

pub const API_KEY: i16 = 51;
/// Versions served: all.
pub const VERSIONS: (i16, i16) = (0, 0);

type Refusal = (ErrorCode, String);

pub fn handle(ctx: &RequestContext<'_>, req: AlterUserScramCredentialsRequest) -> Output {
    // ALTER on the cluster, else every user is CLUSTER_AUTHORIZATION_FAILED.
    if !ctx.authorize_cluster(sluice_security::acl::AclOperation::Alter) {
        let mut users: Vec<String> = Vec::new();
        for n in req
            .deletions
            .iter()
            .map(|d| &d.name)
            .chain(req.upsertions.iter().map(|u| &u.name))
        {
            if !users.contains(n) {
                users.push(n.clone());
            }
        }
        return Output::respond(AlterUserScramCredentialsResponse {
            results: users
                .into_iter()
                .map(|user| AlterUserScramCredentialsResult {
                    user,
                    error_code: ErrorCode::ClusterAuthorizationFailed.code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        });
    }
    Output::respond(answer(ctx, &req))
}

fn answer(ctx: &RequestContext<'_>, req: &AlterUserScramCredentialsRequest) -> AlterUserScramCredentialsResponse {
    // Users in request order; Kafka answers once per user.
    let mut order: Vec<String> = Vec::new();
    let mut outcome: HashMap<String, Result<Vec<MetadataRecord>, Refusal>> = HashMap::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for name in req
        .deletions
        .iter()
        .map(|d| &d.name)
        .chain(req.upsertions.iter().map(|u| &u.name))
    {
        *seen.entry(name.clone()).or_default() += 1;
        if !order.contains(name) {
            order.push(name.clone());
        }
    }
    let store_view = ctx.broker.metadata().image().scram.clone();
    let mut note = |name: &String, r: Result<MetadataRecord, Refusal>| {
        let slot = outcome.entry(name.clone()).or_insert_with(|| Ok(Vec::new()));
        match (slot.as_mut(), r) {
            (Ok(records), Ok(rec)) => records.push(rec),
            (Ok(_), Err(e)) => *slot = Err(e),
            (Err(_), _) => {}
        }
    };
    for d in &req.deletions {
        note(&d.name, deletion(&store_view, &d.name, d.mechanism));
    }
    for u in &req.upsertions {
        note(
            &u.name,
            upsertion(&u.name, u.mechanism, u.iterations, &u.salt, &u.salted_password),
        );
    }
    let mut records = Vec::new();
    let mut results = Vec::new();
    for name in order {
        let result = if seen.get(&name).copied().unwrap_or(0) > 1 {
            Err((
                ErrorCode::DuplicateResource,
                "A user credential cannot be altered twice in the same request".to_string(),
            ))
        } else {
            outcome.remove(&name).unwrap_or_else(|| Ok(Vec::new()))
        };
        let (code, message) = match result {
            Ok(mut recs) => {
                records.append(&mut recs);
                (ErrorCode::None, None)
            }
            Err((code, message)) => (code, Some(message)),
        };
        results.push(AlterUserScramCredentialsResult {
            user: name,
            error_code: code.code(),
            error_message: message,
            ..Default::default()
        });
    }
    if !records.is_empty()
        && let Err(e) = ctx.broker.metadata().commit(&records)
    {
        tracing::error!(error = %e, "could not store SCRAM credentials");
        for r in results.iter_mut().filter(|r| r.error_code == 0) {
            r.error_code = ErrorCode::UnknownServerError.code();
            r.error_message = Some("The credential change could not be stored".into());
        }
    }
    AlterUserScramCredentialsResponse {
        results,
        ..Default::default()
    }
}

fn mechanism(code: i8) -> Result<ScramMechanism, Refusal> {
    ScramMechanism::from_code(code).ok_or((ErrorCode::UnsupportedSaslMechanism, "Unknown SCRAM mechanism".into()))
}

fn deletion(
    image: &BTreeMap<String, BTreeMap<i8, ScramCredentialEntry>>,
    name: &str,
    code: i8,
) -> Result<MetadataRecord, Refusal> {
    if name.is_empty() {
        return Err((ErrorCode::UnacceptableCredential, "Username must not be empty".into()));
    }
    let m = mechanism(code)?;
    if !image.get(name).is_some_and(|u| u.contains_key(&m.code())) {
        return Err((
            ErrorCode::ResourceNotFound,
            "Attempt to delete a user credential that does not exist".into(),
        ));
    }
    Ok(MetadataRecord::RemoveScramCredential {
        name: name.to_string(),
        mechanism: m.code(),
    })
}

fn upsertion(name: &str, code: i8, iterations: i32, salt: &[u8], salted: &[u8]) -> Result<MetadataRecord, Refusal> {
    if name.is_empty() {
        return Err((ErrorCode::UnacceptableCredential, "Username must not be empty".into()));
    }
    let m = mechanism(code)?;
    let unacceptable = |m: &str| (ErrorCode::UnacceptableCredential, m.to_string());
    let iterations_u32 = u32::try_from(iterations).map_err(|_| unacceptable("Too few iterations"))?;
    if iterations_u32 < m.min_iterations() {
        return Err(unacceptable("Too few iterations"));
    }
    if iterations_u32 > m.max_iterations() {
        return Err(unacceptable("Too many iterations"));
    }
    if salt.is_empty() || salted.len() != m.hash_len() {
        return Err(unacceptable("Invalid salt or salted password"));
    }
    let c = ScramCredential::from_salted_password(m, salt, salted, iterations_u32)
        .map_err(|_| unacceptable("Invalid salt or salted password"))?;
    Ok(MetadataRecord::ScramCredential(ScramCredentialEntry {
        name: name.to_string(),
        mechanism: m.code(),
        salt: c.salt,
        stored_key: c.stored_key,
        server_key: c.server_key,
        iterations,
    }))
}
