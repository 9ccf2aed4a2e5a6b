//! Deadlines the coordinator keeps for itself, so its logic stays free of clocks and tasks.
//!
//! Every timer has a key; scheduling a key again replaces its deadline (a heartbeat pushes its
//! member's expiry forward), and cancelling removes it. The runtime asks for the earliest
//! deadline, sleeps until then, and hands the coordinator the current time; tests do the same with
//! a made-up clock, so every expiry is deterministic.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// Timers keyed by `K`, each carrying an action `A` for when it fires.
#[derive(Debug)]
pub struct Timers<K, A> {
    /// Pending timers ordered by deadline, ties broken by scheduling order.
    by_deadline: BTreeMap<(i64, u64), K>,
    /// Each key's slot in `by_deadline` and its action.
    by_key: HashMap<K, ((i64, u64), A)>,
    /// Scheduling counter: makes ties fire in the order they were scheduled.
    seq: u64,
}

impl<K: Clone + Eq + Hash, A> Default for Timers<K, A> {
    fn default() -> Self {
        Timers {
            by_deadline: BTreeMap::new(),
            by_key: HashMap::new(),
            seq: 0,
        }
    }
}

impl<K: Clone + Eq + Hash, A> Timers<K, A> {
    /// Schedules `key` to fire at `deadline_ms` with `action`, replacing any earlier schedule.
    pub fn schedule(&mut self, key: K, deadline_ms: i64, action: A) {
        self.cancel(&key);
        self.seq += 1;
        let slot = (deadline_ms, self.seq);
        self.by_deadline.insert(slot, key.clone());
        self.by_key.insert(key, (slot, action));
    }

    /// Removes `key`'s timer, if any.
    pub fn cancel(&mut self, key: &K) {
        if let Some((slot, _)) = self.by_key.remove(key) {
            self.by_deadline.remove(&slot);
        }
    }

    /// Whether `key` is scheduled.
    pub fn contains(&self, key: &K) -> bool {
        self.by_key.contains_key(key)
    }

    /// The earliest deadline, if any timer is pending.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.by_deadline.keys().next().map(|(d, _)| *d)
    }

    /// Removes and returns the earliest timer due at `now_ms`.
    pub fn pop_due(&mut self, now_ms: i64) -> Option<(K, A)> {
        let (&slot, _) = self.by_deadline.iter().next()?;
        if slot.0 > now_ms {
            return None;
        }
        let key = self.by_deadline.remove(&slot)?;
        let (_, action) = self.by_key.remove(&key)?;
        Some((key, action))
    }

    /// Number of pending timers.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_order_and_rescheduling_replaces() {
        let mut t: Timers<&str, u8> = Timers::default();
        t.schedule("a", 100, 1);
        t.schedule("b", 50, 2);
        t.schedule("a", 200, 3);
        assert_eq!(t.len(), 2);
        assert_eq!(t.next_deadline_ms(), Some(50));
        assert_eq!(t.pop_due(49), None);
        assert_eq!(t.pop_due(150), Some(("b", 2)));
        assert_eq!(t.pop_due(150), None);
        assert_eq!(t.pop_due(200), Some(("a", 3)));
        assert!(t.is_empty());
    }

    #[test]
    fn cancel_removes_and_ties_fire_in_schedule_order() {
        let mut t: Timers<u32, ()> = Timers::default();
        t.schedule(1, 10, ());
        t.schedule(2, 10, ());
        t.schedule(3, 10, ());
        t.cancel(&2);
        assert!(!t.contains(&2));
        assert_eq!(t.pop_due(10).map(|x| x.0), Some(1));
        assert_eq!(t.pop_due(10).map(|x| x.0), Some(3));
    }
}
