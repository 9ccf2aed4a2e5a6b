//! One connection to one broker: length-prefixed frames, correlation ids, pipelining (the
//! broker answers in order, so responses are matched to requests in order and their ids
//! checked), ApiVersions negotiation and per-request timeouts; over TCP or TLS, and
//! authenticated with SASL (SaslHandshake v1 + SaslAuthenticate) when the [`Security`] asks.

use crate::error::{Error, Result};
use crate::security::{SaslConfig, SaslMechanism, Security, server_name};
use bytes::{BufMut, Bytes, BytesMut};
use sluice_protocol::api;
use sluice_protocol::frame::{decode_response, encode_request};
use sluice_protocol::generated::{
    ApiVersionsRequest, RequestBody, RequestHeader, ResponseBody, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use sluice_security::scram_client::ScramClient;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Requests queued for the writer; sending blocks when it is full.
const QUEUE_DEPTH: usize = 256;
/// Requests written but not yet answered; the writer waits when it is full.
const MAX_IN_FLIGHT: usize = 256;
/// The largest response frame accepted.
const MAX_RESPONSE_BYTES: usize = 256 << 20;
/// Byte offset of the correlation id in an encoded request frame (after size, key, version).
const CORRELATION_ID_AT: usize = 8;

/// The highest version of each API this client knows how to fill in. Newer versions change
/// field meanings (Produce and Fetch v13 address topics by id only).
fn client_max_version(key: i16) -> i16 {
    match key {
        0 => 12, // Produce
        1 => 12, // Fetch
        2 => 8,  // ListOffsets
        3 => 12, // Metadata
        8 => 9,  // OffsetCommit (v10 addresses topics by id only)
        9 => 9,  // OffsetFetch (v10 addresses topics by id only)
        18 => 3, // ApiVersions
        19 => 7, // CreateTopics
        20 => 6, // DeleteTopics
        22 => 5, // InitProducerId
        32 => 4, // DescribeConfigs
        37 => 3, // CreatePartitions
        44 => 1, // IncrementalAlterConfigs
        60 => 1, // DescribeCluster
        _ => api(key).map_or(-1, |a| a.versions.1),
    }
}

struct Outgoing {
    frame: BytesMut,
    key: i16,
    version: i16,
    reply: Option<oneshot::Sender<Result<ResponseBody>>>,
    /// For requests without a response: told once the frame has been flushed to the socket.
    written: Option<oneshot::Sender<()>>,
}

struct InFlight {
    correlation_id: i32,
    key: i16,
    version: i16,
    reply: oneshot::Sender<Result<ResponseBody>>,
}

/// A connection to one broker. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Connection {
    address: String,
    client_id: String,
    timeout: Duration,
    queue: mpsc::Sender<Outgoing>,
    versions: HashMap<i16, i16>,
}

impl Connection {
    /// Connects to `address` over PLAINTEXT and negotiates API versions.
    pub async fn connect(address: &str, client_id: &str, timeout: Duration) -> Result<Arc<Connection>> {
        Connection::connect_with(address, client_id, timeout, &Security::default()).await
    }

    /// Connects to `address` secured as `security` says: TCP, then the TLS handshake (SSL,
    /// SASL_SSL), then ApiVersions, then SaslHandshake and SaslAuthenticate (SASL_PLAINTEXT,
    /// SASL_SSL). Returns once the connection may carry any request.
    pub async fn connect_with(
        address: &str,
        client_id: &str,
        timeout: Duration,
        security: &Security,
    ) -> Result<Arc<Connection>> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| Error::Timeout {
                what: format!("connecting to {address}"),
                after: timeout,
            })?
            .map_err(|source| Error::Io {
                context: format!("cannot connect to {address}"),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let (queue, outgoing) = mpsc::channel(QUEUE_DEPTH);
        let (in_flight_tx, in_flight_rx) = mpsc::channel(MAX_IN_FLIGHT);
        if security.protocol.uses_tls() {
            let config = security.tls.clone().ok_or_else(|| {
                Error::Invalid("security.protocol uses TLS but no TLS configuration was given".into())
            })?;
            let connector = tokio_rustls::TlsConnector::from(config);
            let tls = tokio::time::timeout(timeout, connector.connect(server_name(address)?, stream))
                .await
                .map_err(|_| Error::Timeout {
                    what: format!("the TLS handshake with {address}"),
                    after: timeout,
                })?
                .map_err(|source| Error::Io {
                    context: format!("TLS handshake with {address} failed"),
                    source,
                })?;
            let (read, write) = tokio::io::split(tls);
            spawn_loops(read, write, outgoing, in_flight_tx, in_flight_rx, address);
        } else {
            let (read, write) = stream.into_split();
            spawn_loops(read, write, outgoing, in_flight_tx, in_flight_rx, address);
        }
        let mut conn = Connection {
            address: address.to_owned(),
            client_id: client_id.to_owned(),
            timeout,
            queue,
            versions: HashMap::new(),
        };
        conn.versions = conn.negotiate().await?;
        if security.protocol.uses_sasl() {
            let sasl = security.sasl.as_ref().ok_or_else(|| {
                Error::Invalid("security.protocol uses SASL but no SASL mechanism and credentials were given".into())
            })?;
            conn.authenticate(sasl).await?;
        }
        Ok(Arc::new(conn))
    }

    /// SaslHandshake v1 then SaslAuthenticate rounds until the mechanism is done.
    async fn authenticate(&self, sasl: &SaslConfig) -> Result<()> {
        let mechanism = sasl.mechanism;
        let handshake = self.version(17).filter(|v| *v >= 1).ok_or_else(|| {
            Error::Invalid(format!(
                "{} does not offer SaslHandshake v1: is this a SASL listener?",
                self.address
            ))
        })?;
        let body = self
            .send_version(
                RequestBody::SaslHandshake(SaslHandshakeRequest {
                    mechanism: mechanism.name().into(),
                }),
                handshake,
            )
            .await?;
        let ResponseBody::SaslHandshake(r) = body else {
            return Err(Error::Protocol("SaslHandshake answered with another response".into()));
        };
        if r.error_code != 0 {
            return Err(Error::Kafka {
                code: r.error_code,
                message: format!(
                    "{} does not enable SASL mechanism {mechanism}; it offers {}",
                    self.address,
                    if r.mechanisms.is_empty() {
                        "none".to_owned()
                    } else {
                        r.mechanisms.join(", ")
                    }
                ),
            });
        }
        let failed = |e: String| Error::Kafka {
            code: sluice_protocol::ErrorCode::SaslAuthenticationFailed.code(),
            message: format!(
                "SASL/{mechanism} authentication of '{}' at {} failed: {e}",
                sasl.username, self.address
            ),
        };
        match mechanism {
            SaslMechanism::Plain => {
                let mut token = Vec::with_capacity(sasl.username.len() + sasl.password.len() + 2);
                token.push(0);
                token.extend_from_slice(sasl.username.as_bytes());
                token.push(0);
                token.extend_from_slice(sasl.password.as_bytes());
                self.sasl_authenticate(token, mechanism, &sasl.username).await?;
            }
            SaslMechanism::Scram(m) => {
                let mut scram =
                    ScramClient::new(m, &sasl.username, &sasl.password).map_err(|e| failed(e.to_string()))?;
                let first = scram.client_first().map_err(|e| failed(e.to_string()))?;
                let server_first = self.sasl_authenticate(first, mechanism, &sasl.username).await?;
                let last = scram
                    .handle_server_first(&server_first)
                    .map_err(|e| failed(e.to_string()))?;
                let server_final = self.sasl_authenticate(last, mechanism, &sasl.username).await?;
                scram
                    .verify_server_final(&server_final)
                    .map_err(|e| failed(e.to_string()))?;
            }
        }
        Ok(())
    }

    async fn sasl_authenticate(&self, token: Vec<u8>, mechanism: SaslMechanism, user: &str) -> Result<Bytes> {
        let body = self
            .send(RequestBody::SaslAuthenticate(SaslAuthenticateRequest {
                auth_bytes: Bytes::from(token),
                ..Default::default()
            }))
            .await?;
        let ResponseBody::SaslAuthenticate(r) = body else {
            return Err(Error::Protocol(
                "SaslAuthenticate answered with another response".into(),
            ));
        };
        if r.error_code != 0 {
            let reason = r
                .error_message
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(|m| m.trim_end_matches('.').to_owned())
                .unwrap_or_else(|| {
                    sluice_protocol::ErrorCode::from_code(r.error_code)
                        .map_or("unknown error", |c| c.message())
                        .trim_end_matches('.')
                        .to_owned()
                });
            return Err(Error::Kafka {
                code: r.error_code,
                message: format!(
                    "SASL/{mechanism} authentication of '{user}' at {} failed: {reason}",
                    self.address
                ),
            });
        }
        Ok(r.auth_bytes)
    }

    async fn negotiate(&self) -> Result<HashMap<i16, i16>> {
        let request = || {
            RequestBody::ApiVersions(ApiVersionsRequest {
                client_software_name: "sluice-client".into(),
                client_software_version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            })
        };
        // A broker that lacks v3 answers in v0, which does not decode as v3: then ask in v0.
        let response = match self.send_version(request(), 3).await {
            Ok(r) => r,
            Err(Error::Protocol(_)) => self.send_version(request(), 0).await?,
            Err(e) => return Err(e),
        };
        let ResponseBody::ApiVersions(r) = response else {
            return Err(Error::Protocol("ApiVersions answered with another response".into()));
        };
        let mut versions = HashMap::new();
        if r.error_code != 0 && r.api_keys.is_empty() {
            Error::check(r.error_code, None, || format!("ApiVersions at {}", self.address))?;
        }
        for k in r.api_keys {
            let Some(info) = api(k.api_key) else { continue };
            let ours = client_max_version(k.api_key).min(info.versions.1);
            let chosen = ours.min(k.max_version);
            if chosen >= k.min_version.max(info.versions.0) {
                versions.insert(k.api_key, chosen);
            }
        }
        Ok(versions)
    }

    /// The broker address this connection goes to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The version negotiated for `key`, or `None` when no version is usable.
    pub fn version(&self, key: i16) -> Option<i16> {
        self.versions.get(&key).copied()
    }

    /// The negotiated version of `key` or an `Unsupported` error.
    pub fn require(&self, key: i16) -> Result<i16> {
        self.version(key)
            .ok_or_else(|| Error::Unsupported(api(key).map_or("this API", |a| a.name)))
    }

    /// Sends a request at the negotiated version and waits for its response.
    pub async fn send(&self, body: RequestBody) -> Result<ResponseBody> {
        let version = self.require(body.api_key())?;
        self.send_version(body, version).await
    }

    /// Sends a request at `version` and waits for its response.
    pub async fn send_version(&self, body: RequestBody, version: i16) -> Result<ResponseBody> {
        let name = api(body.api_key()).map_or("a", |a| a.name);
        let rx = self.enqueue(body, version, true).await?.expect("a reply channel");
        let what = || format!("{name} request to {}", self.address);
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Disconnected(self.address.clone())),
            Err(_) => Err(Error::Timeout {
                what: what(),
                after: self.timeout,
            }),
        }
    }

    /// Sends a request that gets no response (Produce with acks=0); returns once it has been
    /// written to the socket.
    pub async fn send_no_response(&self, body: RequestBody) -> Result<()> {
        let version = self.require(body.api_key())?;
        let (tx, rx) = oneshot::channel();
        self.enqueue_with(body, version, None, Some(tx)).await?;
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Error::Disconnected(self.address.clone())),
            Err(_) => Err(Error::Timeout {
                what: format!("writing to {}", self.address),
                after: self.timeout,
            }),
        }
    }

    /// Starts a request and returns a future for its response: callers pipeline by starting
    /// several before awaiting any.
    pub async fn start(&self, body: RequestBody) -> Result<PendingResponse> {
        let version = self.require(body.api_key())?;
        self.start_version(body, version).await
    }

    /// Starts a request at `version` (which the caller knows the broker serves), like
    /// [`Connection::start`].
    pub async fn start_version(&self, body: RequestBody, version: i16) -> Result<PendingResponse> {
        let rx = self.enqueue(body, version, true).await?.expect("a reply channel");
        Ok(PendingResponse {
            rx,
            timeout: self.timeout,
            address: self.address.clone(),
        })
    }

    async fn enqueue(
        &self,
        body: RequestBody,
        version: i16,
        reply: bool,
    ) -> Result<Option<oneshot::Receiver<Result<ResponseBody>>>> {
        let (tx, rx) = if reply {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        self.enqueue_with(body, version, tx, None).await?;
        Ok(rx)
    }

    async fn enqueue_with(
        &self,
        body: RequestBody,
        version: i16,
        reply: Option<oneshot::Sender<Result<ResponseBody>>>,
        written: Option<oneshot::Sender<()>>,
    ) -> Result<()> {
        let key = body.api_key();
        let header = RequestHeader {
            request_api_key: key,
            request_api_version: version,
            correlation_id: 0,
            client_id: Some(self.client_id.clone()),
            ..Default::default()
        };
        let frame = encode_request(&header, &body)?;
        self.queue
            .send(Outgoing {
                frame,
                key,
                version,
                reply,
                written,
            })
            .await
            .map_err(|_| Error::Disconnected(self.address.clone()))
    }

    /// Whether the connection still works (its writer is alive).
    pub fn is_open(&self) -> bool {
        !self.queue.is_closed()
    }
}

/// A response not yet awaited; see [`Connection::start`].
pub struct PendingResponse {
    rx: oneshot::Receiver<Result<ResponseBody>>,
    timeout: Duration,
    address: String,
}

impl PendingResponse {
    /// Waits for the response.
    pub async fn wait(self) -> Result<ResponseBody> {
        match tokio::time::timeout(self.timeout, self.rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Disconnected(self.address)),
            Err(_) => Err(Error::Timeout {
                what: format!("a request to {}", self.address),
                after: self.timeout,
            }),
        }
    }
}

fn spawn_loops<R, W>(
    read: R,
    write: W,
    outgoing: mpsc::Receiver<Outgoing>,
    in_flight_tx: mpsc::Sender<InFlight>,
    in_flight_rx: mpsc::Receiver<InFlight>,
    address: &str,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(write_loop(
        BufWriter::with_capacity(256 << 10, write),
        outgoing,
        in_flight_tx,
    ));
    tokio::spawn(read_loop(
        BufReader::with_capacity(256 << 10, read),
        in_flight_rx,
        address.to_owned(),
    ));
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut out: BufWriter<W>,
    mut queue: mpsc::Receiver<Outgoing>,
    in_flight: mpsc::Sender<InFlight>,
) {
    let mut next_id: i32 = 1;
    let mut written = Vec::new();
    while let Some(mut first) = queue.recv().await {
        loop {
            written.extend(first.written.take());
            let correlation_id = next_id;
            next_id = next_id.checked_add(1).unwrap_or(1);
            first.frame[CORRELATION_ID_AT..CORRELATION_ID_AT + 4].copy_from_slice(&correlation_id.to_be_bytes());
            if let Some(reply) = first.reply {
                let entry = InFlight {
                    correlation_id,
                    key: first.key,
                    version: first.version,
                    reply,
                };
                // Flush what is buffered before waiting for room, so the reader can progress.
                if let Err(mpsc::error::TrySendError::Full(entry)) = in_flight.try_send(entry) {
                    if out.flush().await.is_err() || in_flight.send(entry).await.is_err() {
                        return;
                    }
                }
            }
            if out.write_all(&first.frame).await.is_err() {
                return;
            }
            match queue.try_recv() {
                Ok(next) => first = next,
                Err(_) => break,
            }
        }
        if out.flush().await.is_err() {
            return;
        }
        for w in written.drain(..) {
            let _ = w.send(());
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut input: BufReader<R>,
    mut in_flight: mpsc::Receiver<InFlight>,
    address: String,
) {
    while let Some(waiting) = in_flight.recv().await {
        let frame = match read_frame(&mut input).await {
            Ok(f) => f,
            Err(e) => {
                let _ = waiting.reply.send(Err(e));
                return;
            }
        };
        let result = decode_response(frame, waiting.key, waiting.version)
            .map_err(Error::from)
            .and_then(|(header, body)| {
                if header.correlation_id == waiting.correlation_id {
                    Ok(body)
                } else {
                    Err(Error::Protocol(format!(
                        "{address} answered correlation id {} where {} was next",
                        header.correlation_id, waiting.correlation_id
                    )))
                }
            });
        let fatal = matches!(&result, Err(Error::Protocol(m)) if m.contains("correlation id"));
        let _ = waiting.reply.send(result);
        if fatal {
            return;
        }
    }
}

async fn read_frame<R: AsyncRead + Unpin>(input: &mut BufReader<R>) -> Result<Bytes> {
    let io = |source| Error::Io {
        context: "reading a response".into(),
        source,
    };
    let size = input.read_i32().await.map_err(io)?;
    if size < 4 || size as usize > MAX_RESPONSE_BYTES {
        return Err(Error::Protocol(format!("response frame of {size} bytes")));
    }
    // Read into spare capacity rather than a zeroed buffer: zeroing megabytes per fetch response
    // cost as much as receiving them.
    let size = size as usize;
    let mut buf = BytesMut::with_capacity(size);
    while buf.len() < size {
        let missing = size - buf.len();
        let mut rest = (&mut buf).limit(missing);
        if input.read_buf(&mut rest).await.map_err(io)? == 0 {
            return Err(io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
    Ok(buf.freeze())
}
