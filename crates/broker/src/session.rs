//! Who is calling: one [`Session`] per connection, one [`RequestContext`] per request.
//!
//! Every handler has the same shape, `fn handle(ctx: &RequestContext<'_>, req: XRequest) ->
//! Output`, so what a handler may know about its caller (listener, peer, TLS facts, principal)
//! arrives in one place and cannot be threaded through some handlers and forgotten in others.
//! The connection builds the session; authentication (in the connection, in front of dispatch)
//! is the only thing that changes its principal.

use crate::acls::java_host;
use crate::context::Broker;
use sluice_config::SecurityProtocol;
use sluice_protocol::generated::RequestHeader;
use sluice_security::KafkaPrincipal;
use sluice_security::acl::{AclOperation, CLUSTER_NAME, ResourceType};
use std::net::SocketAddr;
use std::sync::Arc;

/// The listener a connection came in on, as clients must be told to reach it.
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    /// The listener name, e.g. `EXTERNAL`.
    pub name: String,
    /// How the listener secures connections (`listener.security.protocol.map`).
    pub security_protocol: SecurityProtocol,
    /// Host to advertise in Metadata for this listener.
    pub advertised_host: String,
    /// Port to advertise.
    pub advertised_port: u16,
    /// How SASL authenticates here, on SASL_PLAINTEXT and SASL_SSL listeners.
    pub sasl: Option<Arc<crate::authenticate::SaslSettings>>,
}

/// What the broker knows about one connection's caller. Immutable once handed to handlers: a
/// successful authentication makes a new session rather than changing one that in-flight
/// requests still hold.
#[derive(Debug, Clone)]
pub struct Session {
    /// The listener it arrived on: Metadata answers with that listener's addresses.
    pub listener: Arc<ListenerInfo>,
    /// The client's address, for logs and per-IP limits.
    pub peer: SocketAddr,
    /// The client's address as Kafka's ACLs name hosts (Java's `getHostAddress()`), written once
    /// per connection instead of on every authorization.
    pub acl_host: String,
    /// The client certificate's subject (RFC 2253, as Java's `X500Principal.getName()`), when
    /// the connection is TLS and the client presented one.
    pub client_cert_subject: Option<String>,
    /// Who the requests act as: `User:ANONYMOUS` on PLAINTEXT, the mapped certificate subject
    /// on SSL with a client certificate, the SASL identity once authenticated.
    pub principal: KafkaPrincipal,
    /// The SASL mechanism that authenticated the principal, if any.
    pub sasl_mechanism: Option<String>,
}

impl Session {
    /// A new connection's session before any authentication: anonymous.
    pub fn new(listener: Arc<ListenerInfo>, peer: SocketAddr) -> Session {
        Session {
            listener,
            acl_host: java_host(peer.ip()),
            peer,
            client_cert_subject: None,
            principal: KafkaPrincipal::anonymous(),
            sasl_mechanism: None,
        }
    }

    /// Kafka's notation for the client's address in group descriptions (`/127.0.0.1`).
    pub fn client_host(&self) -> String {
        format!("/{}", self.peer.ip())
    }
}

/// Everything a handler gets besides its request body.
pub struct RequestContext<'a> {
    /// The broker's shared state.
    pub broker: &'a Arc<Broker>,
    /// The caller.
    pub session: &'a Arc<Session>,
    /// The request header (API key and version, correlation id, client id).
    pub header: &'a RequestHeader,
}

impl RequestContext<'_> {
    /// The request's API version: handlers shape their answer by it.
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }

    /// Whether the caller may perform `op` on the resource: the one authorization question every
    /// handler asks. Always true without an authorizer, as in Kafka.
    pub fn authorize(&self, op: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        let Some(authorizer) = self.broker.acls.current() else {
            return true;
        };
        let host = &self.session.acl_host;
        let allowed = authorizer.authorize(&self.session.principal, host, op, resource_type, name);
        if !allowed {
            tracing::debug!(
                principal = %self.session.principal,
                host = %host,
                operation = %op,
                resource_type = %resource_type,
                resource = name,
                "denied"
            );
        }
        allowed
    }

    /// `authorize` on the cluster resource (`kafka-cluster`).
    pub fn authorize_cluster(&self, op: AclOperation) -> bool {
        self.authorize(op, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// Kafka's authorized-operations bit field for a resource (every supported operation without
    /// an authorizer).
    pub fn authorized_operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        match self.broker.acls.current() {
            Some(a) => a.authorized_operations(&self.session.principal, &self.session.acl_host, resource_type, name),
            None => resource_type
                .supported_operations()
                .iter()
                .fold(0, |bits, op| bits | (1 << op.code())),
        }
    }

    /// Kafka's `authorizeByResourceType`: whether some resource of the type may be acted on
    /// (InitProducerId without a transactional id asks it for WRITE on topics).
    pub fn authorize_by_resource_type(&self, op: AclOperation, resource_type: ResourceType) -> bool {
        match self.broker.acls.current() {
            Some(a) => a.authorize_by_resource_type(&self.session.principal, &self.session.acl_host, op, resource_type),
            None => true,
        }
    }

    /// The client id the request carries (empty when null, as Kafka treats it).
    pub fn client_id(&self) -> &str {
        self.header.client_id.as_deref().unwrap_or("")
    }
}
