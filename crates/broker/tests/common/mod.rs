//! What the raw-frame group tests share: a broker with one PLAINTEXT listener on an ephemeral
//! loopback port, and one request/response round trip over a plain TCP stream.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use bytes::Bytes;
use sluice_broker::{Broker, BrokerSettings, ListenerSettings, Server};
use sluice_protocol::frame::{decode_response, encode_request};
use sluice_protocol::generated::{RequestBody, RequestHeader, ResponseBody};
use std::net::SocketAddr;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts a broker with its data in `dir`; `tweak` adjusts the settings first.
pub async fn start_with(dir: &Path, tweak: impl FnOnce(&mut BrokerSettings)) -> Server {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let mut settings = BrokerSettings {
        listeners: vec![ListenerSettings {
            name: "PLAINTEXT".into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertised_host: None,
            advertised_port: None,
            security_protocol: sluice_broker::SecurityProtocol::Plaintext,
            sasl: None,
            tls: None,
            principal_mapper: None,
        }],
        ..Default::default()
    };
    tweak(&mut settings);
    let broker = Broker::open(settings, dir).expect("broker opens");
    Server::start(broker).await.expect("server starts")
}

/// A connection to the broker's listener.
pub async fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.address("PLAINTEXT").unwrap()).await.unwrap()
}

/// Sends `body` as `key` v`version` and returns the decoded response.
pub async fn call(stream: &mut TcpStream, key: i16, version: i16, body: RequestBody) -> ResponseBody {
    let header = RequestHeader {
        request_api_key: key,
        request_api_version: version,
        correlation_id: 7,
        client_id: Some("raw-group-test".into()),
        ..Default::default()
    };
    let frame = encode_request(&header, &body).expect("encodes");
    stream.write_all(&frame).await.unwrap();
    let size = stream.read_i32().await.expect("a response");
    let mut buf = vec![0; size as usize];
    stream.read_exact(&mut buf).await.unwrap();
    decode_response(Bytes::from(buf), key, version)
        .expect("response decodes")
        .1
}
