//! Just enough of the consumer protocol's embedded formats for the coordinator to know which
//! topics a classic consumer group subscribes to and which partitions its members own.
//!
//! Subscriptions and assignments are opaque bytes to the coordinator, written by the clients'
//! assignors. Every version starts with the fields of version 0, so reading version 0's prefix
//! works for all of them, as Kafka's coordinator does.

use bytes::{BufMut, Bytes, BytesMut};
use sluice_protocol::codec::{get_array_len, get_i16, get_i32, get_nullable_bytes, get_string};

/// Highest `ConsumerProtocolAssignment` version (all versions share one layout).
pub const ASSIGNMENT_VERSION_MAX: i16 = 3;

/// The topics of a `ConsumerProtocolSubscription`; `None` if the bytes are not one.
pub fn subscribed_topics(metadata: &Bytes) -> Option<Vec<String>> {
    let mut buf = metadata.clone();
    let version = get_i16(&mut buf).ok()?;
    if version < 0 {
        return None;
    }
    let n = get_array_len(&mut buf, false, 2).ok()??;
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        topics.push(get_string(&mut buf, false, "topic").ok()?);
    }
    Some(topics)
}

/// The partitions of a `ConsumerProtocolAssignment`, by topic; `None` if the bytes are not one
/// (an empty assignment, as a member gets when the leader assigned it nothing, is `Some([])`).
pub fn assigned_partitions(assignment: &Bytes) -> Option<Vec<(String, Vec<i32>)>> {
    if assignment.is_empty() {
        return Some(Vec::new());
    }
    let mut buf = assignment.clone();
    let version = get_i16(&mut buf).ok()?;
    if version < 0 {
        return None;
    }
    let n = get_array_len(&mut buf, false, 6).ok()??;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let topic = get_string(&mut buf, false, "topic").ok()?;
        let count = get_array_len(&mut buf, false, 4).ok()??;
        let mut partitions = Vec::with_capacity(count);
        for _ in 0..count {
            partitions.push(get_i32(&mut buf).ok()?);
        }
        out.push((topic, partitions));
    }
    Some(out)
}

/// The version of a `ConsumerProtocolSubscription`; `None` if the bytes are not one.
pub fn subscription_version(metadata: &Bytes) -> Option<i16> {
    let mut buf = metadata.clone();
    get_i16(&mut buf).ok().filter(|v| *v >= 0)
}

/// The partitions a member says it owns (`OwnedPartitions`, subscription v1+), by topic name:
/// empty for v0, `None` if the bytes are not a subscription.
pub fn owned_partitions(metadata: &Bytes) -> Option<Vec<(String, Vec<i32>)>> {
    let mut buf = metadata.clone();
    let version = get_i16(&mut buf).ok()?;
    if version < 0 {
        return None;
    }
    let n = get_array_len(&mut buf, false, 2).ok()??;
    for _ in 0..n {
        get_string(&mut buf, false, "topic").ok()?;
    }
    get_nullable_bytes(&mut buf, false).ok()?;
    if version < 1 {
        return Some(Vec::new());
    }
    let n = get_array_len(&mut buf, false, 6).ok()??;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let topic = get_string(&mut buf, false, "topic").ok()?;
        let count = get_array_len(&mut buf, false, 4).ok()??;
        let mut partitions = Vec::with_capacity(count);
        for _ in 0..count {
            partitions.push(get_i32(&mut buf).ok()?);
        }
        out.push((topic, partitions));
    }
    Some(out)
}

/// A `ConsumerProtocolAssignment` of `version` (clamped to the versions that exist) with no
/// user data: what the coordinator hands a classic member of a consumer group in SyncGroup,
/// as the client's own assignor would have.
pub fn encode_assignment(version: i16, partitions: &[(String, Vec<i32>)]) -> Bytes {
    let mut buf = BytesMut::with_capacity(16 + partitions.len() * 32);
    buf.put_i16(version.clamp(0, ASSIGNMENT_VERSION_MAX));
    buf.put_i32(partitions.len() as i32);
    for (topic, ps) in partitions {
        buf.put_i16(topic.len() as i16);
        buf.put_slice(topic.as_bytes());
        buf.put_i32(ps.len() as i32);
        for p in ps {
            buf.put_i32(*p);
        }
    }
    // User data: null.
    buf.put_i32(-1);
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    fn string(buf: &mut BytesMut, s: &str) {
        buf.put_i16(s.len() as i16);
        buf.put_slice(s.as_bytes());
    }

    #[test]
    fn reads_topics_of_any_subscription_version() {
        let mut b = BytesMut::new();
        b.put_i16(3);
        b.put_i32(2);
        string(&mut b, "orders");
        string(&mut b, "payments");
        b.put_i32(-1); // user data (v0+), then v1+ owned partitions etc. follow and are ignored
        assert_eq!(
            subscribed_topics(&b.freeze()),
            Some(vec!["orders".to_string(), "payments".to_string()])
        );
        assert_eq!(subscribed_topics(&Bytes::from_static(b"\x00")), None);
    }

    #[test]
    fn reads_assigned_partitions() {
        let mut b = BytesMut::new();
        b.put_i16(1);
        b.put_i32(1);
        string(&mut b, "orders");
        b.put_i32(2);
        b.put_i32(0);
        b.put_i32(5);
        b.put_i32(-1);
        assert_eq!(
            assigned_partitions(&b.freeze()),
            Some(vec![("orders".to_string(), vec![0, 5])])
        );
        assert_eq!(assigned_partitions(&Bytes::new()), Some(vec![]));
    }

    #[test]
    fn encoded_assignments_decode_back() {
        let parts = vec![("orders".to_string(), vec![0, 5]), ("b".to_string(), vec![])];
        let bytes = encode_assignment(7, &parts);
        assert_eq!(subscription_version(&bytes), Some(ASSIGNMENT_VERSION_MAX));
        assert_eq!(assigned_partitions(&bytes), Some(parts));
    }

    #[test]
    fn reads_owned_partitions_of_v1_subscriptions() {
        let mut b = BytesMut::new();
        b.put_i16(1);
        b.put_i32(1);
        string(&mut b, "orders");
        b.put_i32(2);
        b.put_slice(b"ud");
        b.put_i32(1);
        string(&mut b, "orders");
        b.put_i32(1);
        b.put_i32(3);
        let bytes = b.freeze();
        assert_eq!(owned_partitions(&bytes), Some(vec![("orders".to_string(), vec![3])]));
        assert_eq!(owned_partitions(&bytes.slice(..bytes.len() - 2)), None);
        let mut v0 = BytesMut::new();
        v0.put_i16(0);
        v0.put_i32(0);
        v0.put_i32(-1);
        assert_eq!(owned_partitions(&v0.freeze()), Some(vec![]));
    }
}
