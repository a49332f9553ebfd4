//! Last-writer-wins register (the paper's LWW register, with explicit tie-breaking):
//! the write with the largest `(timestamp, replica, value)` wins, so ties are broken
//! deterministically.

use serde::{Deserialize, Serialize};

use crate::{Error, Lattice, ReplicaId};

/// One stamped write. Field order is the comparison order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Write<T> {
    timestamp: u64,
    replica: ReplicaId,
    value: T,
}

/// Last-writer-wins register. The join keeps the larger of two writes under the total
/// order `(timestamp, replica id, value)`: equal timestamps are decided by replica id, and
/// a replica that reused a timestamp for two values still converges (larger value wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LwwRegister<T>(Option<Write<T>>);

impl<T> Default for LwwRegister<T> {
    fn default() -> Self {
        LwwRegister(None)
    }
}

impl<T: Ord + Clone> LwwRegister<T> {
    /// The current value, if any write has been seen.
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref().map(|w| &w.value)
    }

    /// The replica that wrote the winning value.
    pub fn writer(&self) -> Option<ReplicaId> {
        self.0.as_ref().map(|w| w.replica)
    }

    /// The winning write's timestamp.
    pub fn timestamp(&self) -> Option<u64> {
        self.0.as_ref().map(|w| w.timestamp)
    }

    /// Delta mutator: `replica` writes `value` at `timestamp` (e.g. a hybrid logical
    /// clock). The timestamp is raised to one past the current winner if needed, so a
    /// local write always supersedes what this replica has already seen.
    pub fn set(&self, replica: ReplicaId, timestamp: u64, value: T) -> Result<Self, Error> {
        let floor = match &self.0 {
            Some(w) => w.timestamp.checked_add(1).ok_or(Error::Overflow)?,
            None => 0,
        };
        Ok(LwwRegister(Some(Write { timestamp: timestamp.max(floor), replica, value })))
    }
}

impl<T: Ord> Lattice for LwwRegister<T> {
    fn join(&mut self, other: Self) {
        if other.0 > self.0 {
            self.0 = other.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_write_wins_and_ties_go_to_the_higher_replica() {
        let r = LwwRegister::default();
        let a = r.set(1, 10, "a").unwrap();
        let b = r.set(2, 10, "b").unwrap();
        let mut x = a.clone();
        x.join(b.clone());
        let mut y = b;
        y.join(a);
        assert_eq!(x, y);
        assert_eq!(x.get(), Some(&"b"));
    }

    #[test]
    fn local_write_supersedes_a_seen_future_timestamp() {
        let mut r = LwwRegister::default();
        r.join(r.set(1, 100, 1).unwrap());
        let d = r.set(2, 5, 2).unwrap();
        r.join(d);
        assert_eq!(r.get(), Some(&2));
        assert_eq!(r.timestamp(), Some(101));
    }

    #[test]
    fn timestamp_overflow_is_an_error() {
        let mut r = LwwRegister::default();
        r.join(r.set(1, u64::MAX, 0u8).unwrap());
        assert_eq!(r.set(1, 0, 1), Err(Error::Overflow));
    }
}
