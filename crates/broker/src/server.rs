//! Listeners, connection limits and shutdown.

use crate::connection;
use crate::context::Broker;
use crate::session::{ListenerInfo, Session};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

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

impl Server {
    /// Binds every listener and starts accepting.
    pub async fn start(broker: Arc<Broker>) -> std::io::Result<Server> {
        let (shutdown, _) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut bound = Vec::new();
        let connections = Arc::new(Semaphore::new(
            broker.settings.max_connections.min(Semaphore::MAX_PERMITS),
        ));
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
                    open.spawn(async move {
                        connection::serve(broker, stream, session, stop).await;
                        per_ip.remove(peer.ip());
                        drop(slot);
                    });
                }
                // Shutting down: let connections finish their in-progress responses.
                while open.join_next().await.is_some() {}
            });
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
