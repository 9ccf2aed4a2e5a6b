//! One client connection: frames in, responses out, in order.
//!
//! The reader takes one frame at a time: it reads the 4-byte length, refuses a frame longer than
//! `socket.request.max.bytes`, then reads the frame, taking the broker-wide
//! `queued.max.request.bytes` budget for each chunk as it arrives (never for bytes announced but
//! not sent), so memory held by requests is bounded however many clients announce huge frames
//! and stall. The handler's ordered part runs before the
//! next frame is read, so requests that change state (appends) take effect in arrival order; what
//! a handler may wait on afterwards (an fsync, a long poll) is a future the writer awaits in
//! request order, so responses go back in the order the requests came, as Kafka requires.
//! Requests that get no response (produce with acks=0) are simply not written.
//!
//! Bytes after a request's body are ignored, as Kafka ignores them. A malformed frame, an API
//! key or version the broker does not serve (other than ApiVersions,
//! which answers with UNSUPPORTED_VERSION as Kafka does), a connection idle for
//! `connections.max.idle.ms` in either direction, or a frame that does not arrive in time (30 s
//! plus 1 s per MiB, see [`frame_deadline`]) is logged and closed. Nothing read off the wire can
//! panic the broker.
//!
//! Responses are bounded too: fetched records hold their share of `queued.max.response.bytes`
//! until the socket has taken them, so clients that ask and never read cannot grow the broker.

use crate::authenticate::{Authenticator, Intercept};
use crate::context::Broker;
use crate::handlers::{self, Output};
use crate::session::{RequestContext, Session};
use bytes::{Buf, Bytes, BytesMut};
use futures::stream::{FuturesOrdered, StreamExt};
use sluice_protocol::codec::DecodeError;
use sluice_protocol::frame::{
    GatheredFrame, decode_request_header, encode_response_gathered, peek_api_key_and_version, peek_correlation_id,
};
use sluice_protocol::generated::{RequestBody, ResponseBody};
use sluice_protocol::registry::API_KEY_API_VERSIONS;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tracing::{debug, warn};

/// How much of an undecodable frame is logged (at debug level) to diagnose it.
const FRAME_DUMP_BYTES_MAX: usize = 512;

/// A response being produced: resolves to the encoded frame, or `None` for no response.
type PendingResponse = Pin<Box<dyn Future<Output = Option<GatheredFrame>> + Send>>;

/// Byte strings (Fetch `records`) at least this long are written from the buffer they were read
/// into rather than copied into the response: copying costs more than one more write segment.
const GATHER_MIN_BYTES: usize = 16 << 10;

/// Most segments handed to one vectored write (Linux accepts 1,024).
const WRITE_SEGMENTS_MAX: usize = 64;

/// Time any frame may take to arrive once its length is read, on top of the time its size
/// needs at [`FRAME_RATE_MIN_BYTES_PER_S`].
const FRAME_DEADLINE_BASE: Duration = Duration::from_secs(30);
/// The slowest sending rate a frame is allowed (1 MiB/s: a 100 MiB frame gets 130 s).
const FRAME_RATE_MIN_BYTES_PER_S: u64 = 1 << 20;

/// How long a frame of `size` bytes may take to arrive. Its share of `queued.max.request.bytes`
/// grows with what has arrived, so a stalled client holds little; this bounds how long it may hold
/// that, and its connection, sooner than the idle timeout (10 minutes by default) would.
fn frame_deadline(size: usize) -> Duration {
    FRAME_DEADLINE_BASE + Duration::from_millis(size as u64 * 1000 / FRAME_RATE_MIN_BYTES_PER_S)
}

/// How long a stopping broker lets a connection's pending responses finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Encodes a response frame for the writer.
fn encode(correlation_id: i32, body: &ResponseBody, version: i16) -> Result<GatheredFrame, String> {
    encode_response_gathered(correlation_id, body, version, GATHER_MIN_BYTES).map_err(|e| e.to_string())
}

/// Why a connection ended; every variant is logged.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {size} bytes exceeds socket.request.max.bytes ({max_bytes})")]
    FrameTooLarge { size: i64, max_bytes: usize },
    #[error("invalid frame length {0}")]
    InvalidFrameLength(i32),
    #[error("idle for {0} ms")]
    Idle(u64),
    #[error("a frame of {size} bytes did not arrive within {ms} ms")]
    FrameTimeout { size: usize, ms: u64 },
    #[error(
        "a TLS handshake arrived on this listener, which does not speak TLS (check security.protocol and the listener's entry in listener.security.protocol.map)"
    )]
    TlsOnPlaintext,
    #[error("authentication: {0}")]
    Authentication(String),
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("could not encode a response: {0}")]
    Encode(String),
}

/// The first read of a frame asks for at most this many bytes: a client that announces a large
/// frame and sends nothing costs the broker this much, not the frame's size.
const FRAME_READ_FIRST_BYTES: usize = 4 << 10;

/// Serves one connection until the client closes it, it breaks a rule, or the broker shuts down.
/// The stream is anything that reads and writes bytes (TCP, or TLS over TCP): security below the
/// Kafka protocol is a layer the caller puts under it.
pub async fn serve<S>(broker: Arc<Broker>, stream: S, session: Session, mut shutdown: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let peer = session.peer;
    let mut auth = Authenticator::new(session.listener.sasl.clone());
    let mut session = Arc::new(session);
    let (mut reader, writer) = tokio::io::split(stream);
    let in_flight_max = broker.settings.connection_in_flight_requests_max.max(1);
    let (tx, rx) = mpsc::channel::<PendingResponse>(in_flight_max);
    let idle = Duration::from_millis(broker.settings.connections_max_idle_ms);
    let mut writer_task = tokio::spawn(write_responses(writer, rx, in_flight_max, idle));
    // Quota throttling mutes the connection: no request is handled until the gate opens.
    let gate = Arc::new(crate::quotas::throttle::Gate::default());

    let result: Result<(), ConnectionError> = async {
        loop {
            let size = tokio::select! {
                r = tokio::time::timeout(idle, reader.read_i32()) => match r {
                    Err(_) => return Err(ConnectionError::Idle(broker.settings.connections_max_idle_ms)),
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                    Ok(r) => r?,
                },
                _ = shutdown.changed() => return Ok(()),
            };
            let size = check_frame_size(
                &broker,
                size,
                auth.frame_bytes_max(broker.settings.socket_request_max_bytes),
            )?;
            let deadline = frame_deadline(size).min(idle);
            let read = tokio::select! {
                r = tokio::time::timeout(deadline, read_frame(&broker, &mut reader, size)) => r,
                _ = shutdown.changed() => return Ok(()),
            };
            let (frame, permit) = read.map_err(|_| ConnectionError::FrameTimeout {
                size,
                ms: deadline.as_millis() as u64,
            })??;
            tokio::select! {
                _ = gate.wait() => {}
                _ = shutdown.changed() => return Ok(()),
            }
            let (pending, close) = match auth.intercept(&broker, &mut session, &frame) {
                Intercept::Pass => (handle_frame(&broker, &session, &gate, frame)?, None),
                Intercept::Reply {
                    body,
                    version,
                    correlation_id,
                } => (
                    Some(ready(
                        encode(correlation_id, &body, version).map_err(ConnectionError::Encode)?,
                    )),
                    None,
                ),
                Intercept::RawReply(bytes) => (Some(ready(raw_frame(bytes))), None),
                Intercept::ReplyAndClose {
                    body,
                    version,
                    correlation_id,
                    delay,
                    reason,
                } => {
                    let encoded = encode(correlation_id, &body, version).map_err(ConnectionError::Encode)?;
                    let delayed: PendingResponse = Box::pin(async move {
                        tokio::time::sleep(delay).await;
                        Some(encoded)
                    });
                    (Some(delayed), Some(reason))
                }
                Intercept::Close(reason) => return Err(ConnectionError::Authentication(reason)),
            };
            if let Some(pending) = pending {
                // The permit lives until the response is produced: the request's bytes may be
                // referenced until then.
                let pending: PendingResponse = Box::pin(async move {
                    let out = pending.await;
                    drop(permit);
                    out
                });
                if tx.send(pending).await.is_err() {
                    return Ok(()); // the writer is gone: the socket closed
                }
            }
            if let Some(reason) = close {
                return Err(ConnectionError::Authentication(reason));
            }
        }
    }
    .await;
    match &result {
        Ok(()) => debug!(%peer, "connection closed"),
        Err(e) => warn!(%peer, listener = %session.listener.name, error = %e, "closing connection"),
    }
    drop(tx);
    // Let responses already in progress go out, then close. When the broker is stopping, those
    // that wait on something that may take long (a JoinGroup parked until the rebalance ends, a
    // long poll) get a short grace and are then dropped: the client retries against the
    // restarted broker, as it would after any lost connection.
    if *shutdown.borrow() {
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut writer_task).await.is_err() {
            debug!(%peer, "dropping responses still waiting at shutdown");
            writer_task.abort();
        }
    } else {
        let _ = writer_task.await;
    }
}

/// Checks an announced frame length against `socket.request.max.bytes` and the whole request
/// budget (a frame larger than the budget could never be read).
fn check_frame_size(broker: &Broker, size: i32, max_bytes: usize) -> Result<usize, ConnectionError> {
    if size <= 0 {
        return Err(ConnectionError::InvalidFrameLength(size));
    }
    let size = size as usize;
    // A TLS ClientHello starts 0x16 0x03: read as a length, about 369 million.
    if (size as u32) >> 16 == 0x1603 {
        return Err(ConnectionError::TlsOnPlaintext);
    }
    if size > max_bytes || size > broker.settings.queued_max_request_bytes {
        return Err(ConnectionError::FrameTooLarge {
            size: size as i64,
            max_bytes,
        });
    }
    Ok(size)
}

/// Reads a frame of `size` bytes, taking its share of `queued.max.request.bytes` as the bytes
/// arrive rather than when the length is announced: a client that announces 100 MiB and stalls
/// holds only what it sent, so it cannot starve the others. The buffer grows with what arrived
/// (at most about twice that, plus [`FRAME_READ_FIRST_BYTES`]), for the same reason. A read
/// that finds the budget taken waits for it, which stops this connection reading until others
/// finish.
async fn read_frame<R: AsyncRead + Unpin>(
    broker: &Broker,
    reader: &mut R,
    size: usize,
) -> Result<(Bytes, OwnedSemaphorePermit), ConnectionError> {
    let budget = &broker.request_bytes_budget;
    let mut buf = BytesMut::new();
    let mut held: Option<OwnedSemaphorePermit> = None;
    while buf.len() < size {
        let want = (size - buf.len()).min(buf.len().max(FRAME_READ_FIRST_BYTES));
        buf.reserve(want);
        let n = (&mut *reader).take(want as u64).read_buf(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        let permit = budget
            .clone()
            .acquire_many_owned(n as u32)
            .await
            .map_err(|_| ConnectionError::Malformed("broker shutting down".into()))?;
        match held.as_mut() {
            Some(h) => h.merge(permit),
            None => held = Some(permit),
        }
    }
    let permit = held.expect("a frame has at least one byte");
    debug_assert_eq!(permit.num_permits(), size);
    Ok((buf.freeze(), permit))
}

/// A response that is ready now.
fn ready(frame: GatheredFrame) -> PendingResponse {
    Box::pin(async move { Some(frame) })
}

/// A raw SASL token as the v0 handshake's exchange sends it: a length and the bytes, no header.
fn raw_frame(token: Bytes) -> GatheredFrame {
    let len = Bytes::copy_from_slice(&(token.len() as i32).to_be_bytes());
    GatheredFrame {
        parts: vec![len, token],
    }
}

/// Decodes one frame and runs its handler's ordered part; returns the response still to come.
fn handle_frame(
    broker: &Arc<Broker>,
    session: &Arc<Session>,
    gate: &Arc<crate::quotas::throttle::Gate>,
    frame: Bytes,
) -> Result<Option<PendingResponse>, ConnectionError> {
    let mut rest = frame.clone();
    let (header, api) = match decode_request_header(&mut rest) {
        Ok(ok) => ok,
        Err(e) => {
            // ApiVersions in a version we do not know is answered, so the client can retry with
            // one we do (KIP-511); anything else unreadable closes the connection, as in Kafka.
            // Only a version it does not know: a malformed header in a known version (a flood of
            // tagged fields, say) is closed like any other malformed request.
            if let (
                Some((API_KEY_API_VERSIONS, version)),
                Some(correlation_id),
                DecodeError::UnsupportedVersion { .. },
            ) = (peek_api_key_and_version(&frame), peek_correlation_id(&frame), &e)
            {
                debug!(version, "ApiVersions in an unsupported version");
                let body = handlers::api_versions::unsupported_version_response();
                let encoded = encode(correlation_id, &body, 0).map_err(ConnectionError::Encode)?;
                return Ok(Some(Box::pin(async move { Some(encoded) })));
            }
            return Err(ConnectionError::Malformed(e.to_string()));
        }
    };
    let version = header.request_api_version;
    if !handlers::serves(api.key, version) {
        if api.key == API_KEY_API_VERSIONS {
            let body = handlers::api_versions::unsupported_version_response();
            let encoded = encode(header.correlation_id, &body, 0).map_err(ConnectionError::Encode)?;
            return Ok(Some(Box::pin(async move { Some(encoded) })));
        }
        return Err(ConnectionError::Malformed(format!(
            "{} v{version} is not served",
            api.name
        )));
    }
    let mut body = RequestBody::decode(api.key, version, &mut rest).map_err(|e| {
        debug!(frame = ?&frame[..frame.len().min(FRAME_DUMP_BYTES_MAX)], "undecodable request");
        ConnectionError::Malformed(format!("{} v{version}: {e}", api.name))
    })?;
    if !rest.is_empty() {
        // Kafka parses a request and ignores whatever follows it, and clients rely on that:
        // librdkafka 2.16's all-topics Metadata v13 carries three extra bytes. Do the same.
        debug!(api = api.name, version, trailing = rest.len(), frame = ?&frame[..frame.len().min(FRAME_DUMP_BYTES_MAX)], "ignoring bytes after the request body");
    }
    let correlation_id = header.correlation_id;
    let ctx = RequestContext {
        broker,
        session,
        header: &header,
    };
    crate::quotas::throttle::limit_request(&ctx, &mut body);
    let started = std::time::Instant::now();
    let output = handlers::dispatch(&ctx, body);
    let output = crate::quotas::throttle::around(&ctx, gate, output, frame.len(), started.elapsed());
    let encode = move |body: ResponseBody| encode(correlation_id, &body, version);
    Ok(match output {
        Output::NoResponse => None,
        Output::Respond(body) => {
            let encoded = encode(body).map_err(ConnectionError::Encode)?;
            Some(Box::pin(async move { Some(encoded) }))
        }
        Output::Defer(future) => Some(Box::pin(async move {
            let body = future.await?;
            match encode(body) {
                Ok(encoded) => Some(encoded),
                Err(e) => {
                    warn!(error = %e, "could not encode a response");
                    None
                }
            }
        })),
    })
}

/// Writes responses in request order as they complete, holding at most `in_flight_max` at once.
/// A client that takes nothing off its socket for `idle` is disconnected, as Kafka closes a
/// connection without activity: the responses it holds (and their share of the response budget)
/// must not be held forever.
async fn write_responses<W: AsyncWrite>(
    mut writer: WriteHalf<W>,
    mut rx: mpsc::Receiver<PendingResponse>,
    in_flight_max: usize,
    idle: Duration,
) {
    let mut pending = FuturesOrdered::new();
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            Some(done) = pending.next(), if !pending.is_empty() => {
                if let Some(frame) = done {
                    if let Err(e) = write_frame(&mut writer, frame, idle).await {
                        debug!(error = %e, "closing connection: a response could not be written");
                        return;
                    }
                }
            }
            next = rx.recv(), if open && pending.len() < in_flight_max => match next {
                Some(p) => pending.push_back(p),
                None => open = false,
            },
            else => break,
        }
    }
    let _ = writer.shutdown().await;
}

/// Writes a frame's parts in order with vectored writes, so records go from the buffer they were
/// read into straight to the socket. Each part is dropped (and its share of the response budget
/// given back) as soon as the socket has taken it. Fails when no byte is taken for `idle`.
async fn write_frame<W: AsyncWrite>(
    writer: &mut WriteHalf<W>,
    frame: GatheredFrame,
    idle: Duration,
) -> std::io::Result<()> {
    let mut parts: std::collections::VecDeque<Bytes> = frame.parts.into_iter().filter(|p| !p.is_empty()).collect();
    while !parts.is_empty() {
        let slices: Vec<std::io::IoSlice<'_>> = parts
            .iter()
            .take(WRITE_SEGMENTS_MAX)
            .map(|p| std::io::IoSlice::new(p))
            .collect();
        let mut written = tokio::time::timeout(idle, writer.write_vectored(&slices))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the client read nothing while idle"))??;
        drop(slices);
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let Some(first) = parts.front_mut() else { break };
            if written >= first.len() {
                written -= first.len();
                parts.pop_front();
            } else {
                first.advance(written);
                written = 0;
            }
        }
    }
    // TLS buffers what it could not send yet: without a flush the tail of the last response can
    // sit in the session until the next write, and a client waiting for it times out. (A no-op
    // on plain TCP.)
    tokio::time::timeout(idle, writer.flush())
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the client read nothing while idle"))??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_gets_thirty_seconds_plus_one_per_mib() {
        assert_eq!(frame_deadline(0), Duration::from_secs(30));
        assert_eq!(frame_deadline(1 << 20), Duration::from_secs(31));
        assert_eq!(frame_deadline(100 << 20), Duration::from_secs(130));
    }
}
