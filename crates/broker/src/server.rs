//! Listeners, connection limits and shutdown.

use crate::SecurityProtocol;
use crate::connection;
use crate::context::Broker;
use crate::session::{ListenerInfo, Session};
use sluice_security::KafkaPrincipal;
use sluice_security::mapping::SslPrincipalMapper;
use sluice_security::tls::{ReloadableTls, client_certificate_subject};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

/// A running broker's listeners.
pub struct Server {
    /// The broker state every connection shares.
    pub broker: Arc<Broker>,
    /// Where each listener is bound (port 0 in the settings becomes the real port here).
    pub bound: Vec<(String, SocketAddr)>,
    /// Set to true to stop accepting and close every connection.
    shutdown: watch::Sender<bool>,
    /// The accept loops and connections.
    tasks: JoinSet<()>,
}

/// Counts connections per client IP, so one host cannot take them all (`max.connections.per.ip`).
struct PerIp {
    counts: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
}

/// `max.connection.creation.rate` as a token bucket of one second's worth of connections.
struct CreationRate {
    per_s: f64,
    /// (tokens left, when they were counted).
    state: Mutex<(f64, Instant)>,
}

impl CreationRate {
    fn new(per_s: u32) -> CreationRate {
        CreationRate {
            per_s: f64::from(per_s),
            state: Mutex::new((f64::from(per_s), Instant::now())),
        }
    }

    /// Takes one connection's token; returns how long to wait before accepting it.
    fn take(&self) -> Duration {
        if self.per_s >= f64::from(i32::MAX) {
            return Duration::ZERO;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (tokens, at) = *state;
        let tokens = (tokens + now.duration_since(at).as_secs_f64() * self.per_s).min(self.per_s.max(1.0)) - 1.0;
        *state = (tokens, now);
        if tokens >= 0.0 || self.per_s <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-tokens / self.per_s)
        }
    }
}

impl PerIp {
    fn try_add(&self, ip: IpAddr) -> bool {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return false;
        }
        *n += 1;
        true
    }

    fn remove(&self, ip: IpAddr) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&ip);
            }
        }
    }
}

/// How long a client has to complete its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often TLS key and trust files are checked for replacement (cert-manager and Strimzi rotate
/// them in place); connections already open keep their session.
const TLS_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// Runs the TLS handshake and records what it proved: the client certificate's subject and, on an
/// SSL listener, the principal mapped from it (`ssl.principal.mapping.rules`). A client without a
/// certificate (where `ssl.client.auth` allows it) stays `User:ANONYMOUS`, as in Kafka.
async fn tls_handshake(
    tls: &ReloadableTls,
    stream: TcpStream,
    mut session: Session,
    mapper: Option<&SslPrincipalMapper>,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, Session)> {
    let peer = session.peer;
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            warn!(%peer, listener = %session.listener.name, error = %e, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            warn!(%peer, listener = %session.listener.name, "TLS handshake timed out");
            return None;
        }
    };
    let cert = stream.get_ref().1.peer_certificates().and_then(|c| c.first());
    if let Some(cert) = cert {
        let subject = match client_certificate_subject(cert.as_ref()) {
            Ok(s) => s,
            Err(e) => {
                warn!(%peer, error = %e, "unreadable client certificate subject");
                return None;
            }
        };
        if session.listener.security_protocol == SecurityProtocol::Ssl {
            let name = match mapper.map(|m| m.map(&subject)).unwrap_or(Ok(subject.clone())) {
                Ok(n) => n,
                Err(e) => {
                    warn!(%peer, error = %e, "no ssl.principal.mapping.rules rule matches the client certificate");
                    return None;
                }
            };
            session.principal = KafkaPrincipal::user(name);
        }
        session.client_cert_subject = Some(subject);
    }
    Some((stream, session))
}

/// Re-reads a listener's TLS files when they change, keeping the old material if the new is bad.
async fn reload_tls(tls: Arc<ReloadableTls>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TLS_RELOAD_INTERVAL) => {}
            _ = stop.changed() => return,
        }
        match tls.reload_if_changed() {
            Ok(true) => info!("TLS key or trust material changed on disk; new connections use it"),
            Ok(false) => {}
            Err(e) => warn!(error = %e, "TLS material changed on disk but cannot be used; keeping the old"),
        }
    }
}

impl Server {
    /// Binds every listener and starts accepting.
    pub async fn start(broker: Arc<Broker>) -> std::io::Result<Server> {
        let (shutdown, _) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut bound = Vec::new();
        let connections = Arc::new(Semaphore::new(
            broker.settings.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        let rate = Arc::new(CreationRate::new(broker.settings.max_connection_creation_rate));
        let per_ip = Arc::new(PerIp {
            counts: Mutex::new(HashMap::new()),
            max: broker.settings.max_connections_per_ip,
        });
        for l in &broker.settings.listeners {
            let listener = TcpListener::bind(l.bind).await?;
            let addr = listener.local_addr()?;
            info!(listener = %l.name, %addr, "listening");
            bound.push((l.name.clone(), addr));
            let advertised = Arc::new(ListenerInfo {
                name: l.name.clone(),
                security_protocol: l.security_protocol,
                sasl: l.sasl.clone(),
                advertised_host: l.advertised_host.clone().unwrap_or_else(|| addr.ip().to_string()),
                advertised_port: l.advertised_port.unwrap_or(addr.port()),
            });
            let (tls, mapper) = (l.tls.clone(), l.principal_mapper.clone());
            let rate = rate.clone();
            let (broker, connections, per_ip, mut stop) = (
                broker.clone(),
                connections.clone(),
                per_ip.clone(),
                shutdown.subscribe(),
            );
            tasks.spawn(async move {
                let mut open = JoinSet::new();
                loop {
                    let accepted = tokio::select! {
                        a = listener.accept() => a,
                        _ = stop.changed() => break,
                        // Reap finished connections so the set does not grow without bound.
                        Some(_) = open.join_next(), if !open.is_empty() => continue,
                    };
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            warn!(error = %e, "accept failed");
                            continue;
                        }
                    };
                    // Past max.connection.creation.rate this listener stops accepting for a while,
                    // as Kafka's acceptor blocks: the backlog waits in the kernel, not in memory.
                    let wait = rate.take();
                    if !wait.is_zero() {
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = stop.changed() => break,
                        }
                    }
                    // An IP over its connection_creation_rate quota: closed after the throttle
                    // time, as Kafka's acceptor does with a throttled connection.
                    let throttle_ms = broker.quotas.record_connection(peer.ip(), crate::quotas::now_ms());
                    if throttle_ms > 0 {
                        debug!(%peer, throttle_ms, "connection_creation_rate exceeded; closing after the throttle time");
                        let mut stop = stop.clone();
                        open.spawn(async move {
                            tokio::select! {
                                _ = tokio::time::sleep(std::time::Duration::from_millis(throttle_ms as u64)) => {}
                                _ = stop.changed() => {}
                            }
                            drop(stream);
                        });
                        continue;
                    }
                    let Ok(slot) = connections.clone().try_acquire_owned() else {
                        warn!(%peer, "max.connections reached; refusing connection");
                        continue;
                    };
                    if !per_ip.try_add(peer.ip()) {
                        warn!(%peer, "max.connections.per.ip reached; refusing connection");
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let session = Session::new(advertised.clone(), peer);
                    let (broker, per_ip, stop) = (broker.clone(), per_ip.clone(), stop.clone());
                    let (tls, mapper) = (tls.clone(), mapper.clone());
                    open.spawn(async move {
                        match tls {
                            None => connection::serve(broker, stream, session, stop).await,
                            Some(tls) => {
                                if let Some((stream, session)) =
                                    tls_handshake(&tls, stream, session, mapper.as_deref()).await
                                {
                                    connection::serve(broker, stream, session, stop).await;
                                }
                            }
                        }
                        per_ip.remove(peer.ip());
                        drop(slot);
                    });
                }
                // Shutting down: let connections finish their in-progress responses.
                while open.join_next().await.is_some() {}
            });
        }
        for tls in broker.settings.listeners.iter().filter_map(|l| l.tls.clone()) {
            tasks.spawn(reload_tls(tls, shutdown.subscribe()));
        }
        tasks.spawn(crate::maintenance::run(broker.clone(), shutdown.subscribe()));
        {
            let groups = broker.groups.clone();
            let mut stop = shutdown.subscribe();
            tasks.spawn(async move {
                tokio::select! {
                    _ = groups.run_timers() => {}
                    _ = stop.changed() => {}
                }
            });
        }
        Ok(Server {
            broker,
            bound,
            shutdown,
            tasks,
        })
    }

    /// The bound address of a listener by name.
    pub fn address(&self, listener: &str) -> Option<SocketAddr> {
        self.bound.iter().find(|(n, _)| n == listener).map(|(_, a)| *a)
    }

    /// Stops accepting, closes every connection after its in-progress responses, and waits.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        // Every connection is gone: flush the logs so a clean stop needs no recovery scan.
        self.broker.logs.close_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_rate_waits_once_a_second_of_tokens_is_spent() {
        let rate = CreationRate::new(10);
        for _ in 0..10 {
            assert_eq!(rate.take(), Duration::ZERO);
        }
        let wait = rate.take();
        assert!(
            wait > Duration::from_millis(50) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert_eq!(CreationRate::new(i32::MAX as u32).take(), Duration::ZERO);
    }
}
