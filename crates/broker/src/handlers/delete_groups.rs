//! DeleteGroups (key 42): remove empty groups and their offsets.

use super::{Output, ResponseFuture};
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use sluice_protocol::generated::delete_groups_response::DeletableGroupResult;
use sluice_protocol::generated::{DeleteGroupsRequest, DeleteGroupsResponse, ResponseBody};
use sluice_security::acl::{AclOperation, ResourceType};

pub const API_KEY: i16 = 42;
/// Versions served: all.
pub const VERSIONS: (i16, i16) = (0, 2);

pub fn handle(ctx: &RequestContext<'_>, req: DeleteGroupsRequest) -> Output {
    let broker = ctx.broker;

    if let Err(e) = broker.groups.ensure_ready(broker) {
        return Output::Respond(ResponseBody::DeleteGroups(DeleteGroupsResponse {
            results: req
                .groups_names
                .iter()
                .map(|g| DeletableGroupResult {
                    group_id: g.clone(),
                    error_code: e.code().code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }));
    }
    let names = req.groups_names;
    // DELETE on each group; a denied group is answered GROUP_AUTHORIZATION_FAILED and untouched.
    let allowed: Vec<bool> = names
        .iter()
        .map(|g| ctx.authorize(AclOperation::Delete, ResourceType::Group, g))
        .collect();
    let applied = broker.groups.run(|c, _| {
        let mut fx = sluice_group::Effects::default();
        let mut codes = Vec::with_capacity(names.len());
        for (g, allowed) in names.iter().zip(&allowed) {
            if !allowed {
                codes.push(ErrorCode::GroupAuthorizationFailed);
                continue;
            }
            let (code, more) = c.delete_group(g);
            fx.records.extend(more.records);
            fx.replies.extend(more.replies);
            codes.push(code);
        }
        (codes, fx)
    });
    let broker = broker.clone();
    let future: ResponseFuture = Box::pin(async move {
        let codes = broker.groups.finish(applied).await;
        let results = names
            .into_iter()
            .enumerate()
            .map(|(i, group_id)| DeletableGroupResult {
                error_code: match &codes {
                    Ok(codes) => codes[i].code(),
                    Err(code) => code.code(),
                },
                group_id,
                ..Default::default()
            })
            .collect();
        Some(ResponseBody::DeleteGroups(DeleteGroupsResponse {
            results,
            ..Default::default()
        }))
    });
    Output::Defer(future)
}
