//! Applying quotas to a request: what the connection calls around each handler.
//!
//! After the handler's ordered part, [`apply`] records the request's handler time against
//! `request_percentage` and, for Produce, the request's size against `producer_byte_rate`; a Fetch
//! response's size is recorded against `consumer_byte_rate` when the response is ready, and a
//! throttled Fetch is answered empty (its bytes taken back out of the rate), as Kafka does. The
//! largest throttle time goes into the response's `throttle_time_ms` (never lowering one the
//! handler set) and is applied the way Kafka applies it: a client that throttles itself (KIP-219)
//! gets its response at once and the connection reads nothing more for that long ([`Gate`]); an
//! older client gets its response that much later.

use super::{QuotaType, client_throttles, now_ms, throttle_slot};
use crate::context::Broker;
use crate::handlers::Output;
use sluice_protocol::codec::Message;
use sluice_protocol::generated::ResponseBody;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A connection's mute: the connection handles no request before this instant.
#[derive(Debug, Default)]
pub struct Gate {
    until: Mutex<Option<Instant>>,
}

impl Gate {
    /// Mutes the connection for `ms` from now (extending, never shortening, a mute in force).
    pub fn mute(&self, ms: i64) {
        if ms <= 0 {
            return;
        }
        let end = Instant::now() + Duration::from_millis(ms as u64);
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if until.is_none_or(|u| u < end) {
            *until = Some(end);
        }
    }

    /// Waits until the connection is no longer muted.
    pub async fn wait(&self) {
        loop {
            let until = *self.until.lock().unwrap_or_else(|p| p.into_inner());
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }
}

/// Who a request is measured for and how its throttle is applied.
#[derive(Clone)]
pub struct Caller {
    /// The broker, whose quotas are used.
    pub broker: Arc<Broker>,
    /// The principal's name (Kafka's quota user).
    pub user: String,
    /// The request's client id.
    pub client_id: String,
    /// The request's API key.
    pub api_key: i16,
    /// The request's version.
    pub version: i16,
    /// The connection's mute.
    pub gate: Arc<Gate>,
}

/// Produce's API key (its request size is what `producer_byte_rate` counts).
const PRODUCE: i16 = 0;
/// Fetch's API key (its response size is what `consumer_byte_rate` counts).
const FETCH: i16 = 1;

/// What the connection calls before the handler: a consumer's Fetch is capped at what its
/// `consumer_byte_rate` allows over the quota's sampled span, `(quota.window.num - 1) ×
/// quota.window.size.seconds × rate` bytes, as Kafka caps it, so one response is never a step the
/// quota cannot absorb.
pub fn limit_request(ctx: &crate::session::RequestContext<'_>, body: &mut sluice_protocol::generated::RequestBody) {
    let sluice_protocol::generated::RequestBody::Fetch(fetch) = body else {
        return;
    };
    let quotas = &ctx.broker.quotas;
    if !quotas.any_client_quota() {
        return;
    }
    let Some((rate, _)) = quotas.resolve(QuotaType::Fetch, &ctx.session.principal.name, ctx.client_id()) else {
        return;
    };
    let cfg = quotas.settings().client;
    let window_bytes = rate * (cfg.samples.saturating_sub(1)) as f64 * (cfg.window_ms as f64 / 1000.0);
    let cap = window_bytes.clamp(0.0, i32::MAX as f64) as i32;
    fetch.max_bytes = fetch.max_bytes.min(cap);
    fetch.min_bytes = fetch.min_bytes.min(fetch.max_bytes);
}

/// What the connection calls after the handler's ordered part: `output` unchanged when no client
/// quota is set, else [`apply`]d for this caller.
pub fn around(
    ctx: &crate::session::RequestContext<'_>,
    gate: &Arc<Gate>,
    output: Output,
    request_bytes: usize,
    handler_time: Duration,
) -> Output {
    if !ctx.broker.quotas.any_client_quota() {
        return output;
    }
    let caller = Caller {
        broker: ctx.broker.clone(),
        user: ctx.session.principal.name.clone(),
        client_id: ctx.client_id().to_owned(),
        api_key: ctx.header.request_api_key,
        version: ctx.header.request_api_version,
        gate: gate.clone(),
    };
    apply(caller, output, request_bytes, handler_time)
}

/// Applies quotas to a handler's output. `request_bytes` is the request frame's size and
/// `handler_time` how long the handler's ordered part took.
pub fn apply(caller: Caller, output: Output, request_bytes: usize, handler_time: Duration) -> Output {
    let quotas = &caller.broker.quotas;
    let now = now_ms();
    // Kafka's request quota counts handler time as a percentage of one thread over a second.
    let percent = handler_time.as_nanos() as f64 * 100.0 / 1e9;
    let request_ms = quotas.record(QuotaType::Request, &caller.user, &caller.client_id, percent, now);
    let produce_ms = if caller.api_key == PRODUCE {
        quotas.record(
            QuotaType::Produce,
            &caller.user,
            &caller.client_id,
            request_bytes as f64,
            now,
        )
    } else {
        0
    };
    let early = ThrottleChoice::of(&[(QuotaType::Request, request_ms), (QuotaType::Produce, produce_ms)]);
    match output {
        Output::NoResponse => {
            // acks=0: nothing to carry the time, but the connection is still muted.
            early.count(&caller);
            caller.gate.mute(early.ms);
            Output::NoResponse
        }
        Output::Respond(body) if caller.api_key != FETCH => finish_now(&caller, body, early),
        Output::Respond(body) => {
            let future = Box::pin(async move { Some(finish(&caller, body, early).await) });
            Output::Defer(future)
        }
        Output::Defer(future) => {
            if client_throttles(caller.api_key, caller.version) {
                // Known now (Produce, request time): the mute starts now, not once acks=all
                // completes, so pipelined requests wait behind it.
                caller.gate.mute(early.ms);
            }
            Output::Defer(Box::pin(async move {
                let body = future.await?;
                Some(finish(&caller, body, early).await)
            }))
        }
    }
}

/// The largest throttle among quota types, and its type.
#[derive(Debug, Clone, Copy)]
struct ThrottleChoice {
    ms: i64,
    quota: QuotaType,
}

impl ThrottleChoice {
    fn of(candidates: &[(QuotaType, i64)]) -> ThrottleChoice {
        candidates.iter().fold(
            ThrottleChoice {
                ms: 0,
                quota: QuotaType::Request,
            },
            |best, &(quota, ms)| {
                if ms > best.ms {
                    ThrottleChoice { ms, quota }
                } else {
                    best
                }
            },
        )
    }

    fn count(self, caller: &Caller) {
        caller.broker.quotas.stats.add(self.quota, self.ms);
    }
}

/// Sets the throttle time on a response ready now and mutes or delays as the version wants.
fn finish_now(caller: &Caller, mut body: ResponseBody, choice: ThrottleChoice) -> Output {
    let ms = set_throttle(&mut body, choice.ms);
    choice.count(caller);
    if ms <= 0 || client_throttles(caller.api_key, caller.version) {
        caller.gate.mute(ms);
        return Output::Respond(body);
    }
    caller.gate.mute(ms);
    Output::Defer(Box::pin(async move {
        tokio::time::sleep(Duration::from_millis(ms as u64)).await;
        Some(body)
    }))
}

/// The same for a response produced later; a Fetch is measured here, once its size is known.
async fn finish(caller: &Caller, mut body: ResponseBody, early: ThrottleChoice) -> ResponseBody {
    let mut choice = early;
    if let ResponseBody::Fetch(fetch) = &mut body {
        let quotas = &caller.broker.quotas;
        let now = now_ms();
        let size = fetch.encoded_size(caller.version) as f64;
        let fetch_ms = quotas.record(QuotaType::Fetch, &caller.user, &caller.client_id, size, now);
        choice = ThrottleChoice::of(&[(early.quota, early.ms), (QuotaType::Fetch, fetch_ms)]);
        if choice.ms > 0 {
            // Kafka answers a throttled fetch empty and takes its bytes back out of the rate:
            // the client fetches the same offsets again after the throttle.
            quotas.unrecord(QuotaType::Fetch, &caller.user, &caller.client_id, size, now);
            fetch.responses.clear();
        }
    }
    let ms = set_throttle(&mut body, choice.ms);
    choice.count(caller);
    if ms <= 0 {
        return body;
    }
    if !client_throttles(caller.api_key, caller.version) {
        caller.gate.mute(ms);
        tokio::time::sleep(Duration::from_millis(ms as u64)).await;
    } else if ms > early.ms {
        // A throttle found only now (Fetch, or one the handler set): the mute starts now. One
        // known at dispatch was applied then and is not extended.
        caller.gate.mute(ms);
    }
    body
}

/// Puts `ms` in the response's `throttle_time_ms` unless the handler set a longer one (the
/// controller mutation quota); returns the time in force.
fn set_throttle(body: &mut ResponseBody, ms: i64) -> i64 {
    let ms = ms.min(i32::MAX as i64);
    match throttle_slot(body) {
        Some(slot) => {
            let kept = (*slot as i64).max(ms);
            *slot = kept as i32;
            kept
        }
        None => ms,
    }
}
