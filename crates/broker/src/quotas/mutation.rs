//! The controller mutation quota for one request (Kafka's `ControllerMutationQuota`): CreateTopics,
//! CreatePartitions and DeleteTopics count the partitions they create or delete against
//! `controller_mutation_rate`.
//!
//! From the version that carries THROTTLING_QUOTA_EXCEEDED (CreateTopics v6, CreatePartitions v3,
//! DeleteTopics v5) the quota is strict: a topic whose turn comes while the bucket is empty is
//! refused with that error and the time until it refills, and one admitted is counted whole even
//! if that overdraws the bucket. Older versions are permissive: every change is made and counted,
//! and the response carries the throttle time its overdraft costs.

use super::now_ms;
use crate::context::Broker;
use crate::session::RequestContext;
use sluice_protocol::ErrorCode;
use std::sync::Arc;

/// One request's use of the controller mutation quota.
pub struct MutationQuota {
    broker: Arc<Broker>,
    user: String,
    client_id: String,
    /// Whether an exhausted quota refuses (true) or only throttles.
    strict: bool,
    /// The throttle time the response carries.
    throttle_ms: i64,
}

impl MutationQuota {
    /// The quota for the caller of `ctx`; strict from version `strict_since`.
    pub fn new(ctx: &RequestContext<'_>, strict_since: i16) -> MutationQuota {
        MutationQuota {
            broker: ctx.broker.clone(),
            user: ctx.session.principal.name.clone(),
            client_id: ctx.client_id().to_owned(),
            strict: ctx.version() >= strict_since,
            throttle_ms: 0,
        }
    }

    /// Before a change: refused with THROTTLING_QUOTA_EXCEEDED when strict and the bucket is empty.
    pub fn admit(&mut self) -> Result<(), (ErrorCode, String)> {
        if !self.strict {
            return Ok(());
        }
        let ms = self
            .broker
            .quotas
            .mutation_throttle_ms(&self.user, &self.client_id, now_ms());
        if ms > 0 {
            self.throttle_ms = self.throttle_ms.max(ms);
            return Err((
                ErrorCode::ThrottlingQuotaExceeded,
                ErrorCode::ThrottlingQuotaExceeded.message().to_owned(),
            ));
        }
        Ok(())
    }

    /// After a change of `partitions` partitions was made.
    pub fn record(&mut self, partitions: i64) {
        let quotas = &self.broker.quotas;
        let outcome = quotas.record_mutation(&self.user, &self.client_id, partitions as f64, false, now_ms());
        if !self.strict {
            // Permissive: the overdraft is the response's throttle time.
            let ms = outcome.unwrap_or_else(|ms| ms);
            self.throttle_ms = self.throttle_ms.max(ms);
        }
    }

    /// The throttle time for the response's `throttle_time_ms`.
    pub fn throttle_time_ms(&self) -> i32 {
        if self.throttle_ms > 0 {
            self.broker
                .quotas
                .stats
                .add(super::QuotaType::ControllerMutation, self.throttle_ms);
        }
        self.throttle_ms.min(i32::MAX as i64) as i32
    }
}
