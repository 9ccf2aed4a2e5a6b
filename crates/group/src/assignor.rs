//! Server-side assignors of consumer groups (KIP-848): `uniform` (the default) and `range`.
//!
//! An assignor maps the group's members, their subscriptions and their current target
//! assignment to a new target assignment. Both are deterministic (members and partitions are
//! visited in a fixed order), so replaying the same events gives the same assignment, and both
//! are sticky: a partition stays with its member when balance allows, because every move costs
//! a revocation round trip.

use crate::consumer_records::Assignment;
use sluice_protocol::Uuid;
use std::collections::{BTreeMap, BTreeSet};

/// Name of the default assignor.
pub const UNIFORM: &str = "uniform";
/// Name of the range assignor.
pub const RANGE: &str = "range";

/// What an assignor knows of a member.
#[derive(Debug, Clone, Default)]
pub struct MemberSpec {
    /// Topics the member subscribes to that exist, by id.
    pub topics: BTreeSet<Uuid>,
    /// The member's current target assignment, the starting point for stickiness.
    pub current: Assignment,
}

/// Runs the assignor `name` (one of [`UNIFORM`], [`RANGE`]); `partitions` is each subscribed
/// topic's partition count. Every member gets an entry, possibly empty.
pub fn assign(
    name: &str,
    members: &BTreeMap<String, MemberSpec>,
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    if name == RANGE {
        range(members, partitions)
    } else {
        uniform(members, partitions)
    }
}

/// Spreads every subscribed partition so that members' counts differ by at most one among the
/// members that could take it, keeping current owners first.
///
/// Partitions are handed out topic by topic, each to one of its subscribers: first to its
/// current owner while that owner is below its fair share, then to the subscriber with the
/// fewest partitions. With identical subscriptions (the common case) this is exactly balanced.
fn uniform(members: &BTreeMap<String, MemberSpec>, partitions: &BTreeMap<Uuid, i32>) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members.keys().map(|m| (m.clone(), Assignment::new())).collect();
    let mut counts: BTreeMap<&str, usize> = members.keys().map(|m| (m.as_str(), 0)).collect();
    // Fair share per member: the partitions it could take divided among their subscribers.
    let mut share: BTreeMap<&str, usize> = BTreeMap::new();
    let total: usize = partitions.values().map(|n| (*n).max(0) as usize).sum();
    let subscribed_members = members.values().filter(|m| !m.topics.is_empty()).count().max(1);
    let homogeneous = {
        let mut it = members.values().map(|m| &m.topics);
        let first = it.next();
        it.all(|t| Some(t) == first)
    };
    let mut extra = if homogeneous { total % subscribed_members } else { 0 };
    for (id, m) in members {
        let own: usize = if homogeneous {
            total / subscribed_members
        } else {
            m.topics
                .iter()
                .filter_map(|t| partitions.get(t))
                .map(|n| (*n).max(0) as usize)
                .sum::<usize>()
                .div_ceil(subscribed_members)
        };
        share.insert(id.as_str(), own);
    }
    // Sticky pass: members keep what they had up to their share (one more for the first
    // members that had more, while the remainder lasts).
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    for (id, m) in members {
        let quota = share[id.as_str()];
        let mut kept = 0usize;
        let mut owned: Vec<(Uuid, i32)> = m
            .current
            .iter()
            .filter(|(t, _)| m.topics.contains(*t))
            .flat_map(|(t, ps)| {
                let n = partitions.get(t).copied().unwrap_or(0);
                ps.iter().filter(move |p| **p < n).map(move |p| (*t, *p))
            })
            .collect();
        owned.sort();
        let limit = if owned.len() > quota && extra > 0 {
            extra -= 1;
            quota + 1
        } else {
            quota
        };
        for tp in owned {
            if kept >= limit || taken.contains(&tp) {
                continue;
            }
            taken.insert(tp);
            out.get_mut(id).expect("member").entry(tp.0).or_default().insert(tp.1);
            kept += 1;
        }
        counts.insert(id.as_str(), kept);
    }
    // Fill pass: every remaining partition goes to the least loaded subscriber (ties to the
    // smallest member id, for determinism). Members are kept ordered by load, so with identical
    // subscriptions each pick is the first entry.
    let mut by_load: BTreeSet<(usize, &str)> = counts.iter().map(|(id, c)| (*c, *id)).collect();
    for (topic, n) in partitions {
        if !members.values().any(|m| m.topics.contains(topic)) {
            continue;
        }
        for p in 0..*n {
            if taken.contains(&(*topic, p)) {
                continue;
            }
            let (load, best) = by_load
                .iter()
                .find(|(_, id)| members[*id].topics.contains(topic))
                .copied()
                .expect("the topic has a subscriber");
            by_load.remove(&(load, best));
            by_load.insert((load + 1, best));
            out.get_mut(best).expect("member").entry(*topic).or_default().insert(p);
        }
    }
    out
}

/// Kafka's range assignment: for each topic, its subscribers in member id order get contiguous
/// ranges, the first `partitions % subscribers` one partition more. Members subscribed to the
/// same topics get the same partition numbers of each, which co-partitioned joins rely on.
fn range(members: &BTreeMap<String, MemberSpec>, partitions: &BTreeMap<Uuid, i32>) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members.keys().map(|m| (m.clone(), Assignment::new())).collect();
    for (topic, n) in partitions {
        let subscribers: Vec<&String> = members
            .iter()
            .filter(|(_, m)| m.topics.contains(topic))
            .map(|(id, _)| id)
            .collect();
        if subscribers.is_empty() || *n <= 0 {
            continue;
        }
        let n = *n as usize;
        let base = n / subscribers.len();
        let extra = n % subscribers.len();
        let mut next = 0usize;
        for (i, id) in subscribers.into_iter().enumerate() {
            let count = base + usize::from(i < extra);
            if count == 0 {
                continue;
            }
            let set = out.get_mut(id).expect("member").entry(*topic).or_default();
            set.extend((next..next + count).map(|p| p as i32));
            next += count;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u8) -> Uuid {
        Uuid([n; 16])
    }

    fn members(ids: &[&str], topics: &[u8]) -> BTreeMap<String, MemberSpec> {
        ids.iter()
            .map(|id| {
                (
                    id.to_string(),
                    MemberSpec {
                        topics: topics.iter().map(|n| t(*n)).collect(),
                        current: Assignment::new(),
                    },
                )
            })
            .collect()
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    #[test]
    fn uniform_is_balanced_complete_and_sticky() {
        let parts: BTreeMap<Uuid, i32> = [(t(1), 7), (t(2), 3)].into_iter().collect();
        let mut ms = members(&["a", "b"], &[1, 2]);
        let first = assign(UNIFORM, &ms, &parts);
        assert_eq!(first.values().map(count).sum::<usize>(), 10);
        assert_eq!(count(&first["a"]), 5);
        assert_eq!(count(&first["b"]), 5);
        for (id, a) in &first {
            ms.get_mut(id).unwrap().current = a.clone();
        }
        ms.insert(
            "c".into(),
            MemberSpec {
                topics: [t(1), t(2)].into_iter().collect(),
                current: Assignment::new(),
            },
        );
        let second = assign(UNIFORM, &ms, &parts);
        let counts: Vec<usize> = second.values().map(count).collect();
        assert_eq!(counts.iter().sum::<usize>(), 10);
        assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1);
        // a and b only lose partitions, never trade them.
        for id in ["a", "b"] {
            for (topic, ps) in &second[id] {
                assert!(
                    ps.is_subset(&first[id][topic]),
                    "{id} gained a partition it did not have"
                );
            }
        }
    }

    #[test]
    fn range_gives_contiguous_ranges_per_topic() {
        let parts: BTreeMap<Uuid, i32> = [(t(1), 5)].into_iter().collect();
        let ms = members(&["a", "b"], &[1]);
        let out = assign(RANGE, &ms, &parts);
        assert_eq!(out["a"][&t(1)], [0, 1, 2].into_iter().collect());
        assert_eq!(out["b"][&t(1)], [3, 4].into_iter().collect());
    }

    #[test]
    fn unsubscribed_topics_are_not_assigned() {
        let parts: BTreeMap<Uuid, i32> = [(t(1), 2), (t(2), 2)].into_iter().collect();
        let mut ms = members(&["a"], &[1]);
        ms.extend(members(&["b"], &[2]));
        let out = assign(UNIFORM, &ms, &parts);
        assert_eq!(out["a"].keys().collect::<Vec<_>>(), vec![&t(1)]);
        assert_eq!(out["b"].keys().collect::<Vec<_>>(), vec![&t(2)]);
    }

    #[test]
    fn uniform_scales_to_large_groups() {
        let parts: BTreeMap<Uuid, i32> = (1..=10).map(|i| (t(i), 1000)).collect();
        let ids: Vec<String> = (0..1000).map(|i| format!("m{i:04}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let ms = members(&refs, &(1..=10).collect::<Vec<u8>>());
        let started = std::time::Instant::now();
        let out = assign(UNIFORM, &ms, &parts);
        assert!(out.values().all(|a| count(a) == 10));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
