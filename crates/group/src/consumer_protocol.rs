//! Just enough of the consumer protocol's embedded formats for the coordinator to know which
//! topics a classic consumer group subscribes to and which partitions its members own.
//!
//! Subscriptions and assignments are opaque bytes to the coordinator, written by the clients'
//! assignors. Every version starts with the fields of version 0, so reading version 0's prefix
//! works for all of them, as Kafka's coordinator does.

use bytes::Bytes;
use sluice_protocol::codec::{get_array_len, get_i16, get_i32, get_string};

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
}
