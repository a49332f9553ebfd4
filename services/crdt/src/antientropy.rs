//! Delta-interval anti-entropy with acknowledgements and causal delta-merging: the
//! paper's Algorithm 2 (with its Definitions 4–6 of delta-intervals and the causal
//! delta-merging condition), as a sans-IO state machine. The caller moves [`Message`]s
//! between nodes over any transport that may lose, duplicate or reorder them, and calls
//! [`Node::ship`] and [`Node::gc`] periodically.

use alloc::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Lattice, ReplicaId};

/// An anti-entropy message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message<T> {
    /// A delta-interval: the join of the sender's buffered deltas from the receiver's last
    /// acknowledgement up to `seq` (exclusive), or the sender's whole state if those deltas
    /// were already collected.
    Delta {
        /// The delta-interval (or full state).
        delta: T,
        /// The sender's sequence counter when it sent this.
        seq: u64,
    },
    /// "I have merged your deltas up to `seq` (exclusive)."
    Ack {
        /// The `seq` of the acknowledged [`Message::Delta`].
        seq: u64,
    },
}

/// One replica running Algorithm 2. The state `X` and the sequence counter `c` are the
/// durable part (persist them, and [`Node::restore`] after a crash); the delta buffer `D`
/// and the acknowledgement map `A` are volatile.
#[derive(Debug, Clone)]
pub struct Node<T> {
    id: ReplicaId,
    state: T,
    seq: u64,
    deltas: BTreeMap<u64, T>,
    acks: BTreeMap<ReplicaId, u64>,
}

impl<T: Lattice + Clone + PartialEq> Node<T> {
    /// A fresh replica with the bottom state, talking to `neighbours`.
    pub fn new(id: ReplicaId, neighbours: impl IntoIterator<Item = ReplicaId>) -> Self {
        Self::restore(id, neighbours, T::default(), 0)
    }

    /// A replica restarted from its durable state and sequence counter. The buffer is
    /// empty and no neighbour has acknowledged anything, so the first shipment to each
    /// neighbour is the full state (as in the paper after a crash).
    pub fn restore(id: ReplicaId, neighbours: impl IntoIterator<Item = ReplicaId>, state: T, seq: u64) -> Self {
        let acks = neighbours.into_iter().filter(|n| *n != id).map(|n| (n, 0)).collect();
        Node { id, state, seq, deltas: BTreeMap::new(), acks }
    }

    /// This replica's id.
    pub fn id(&self) -> ReplicaId {
        self.id
    }

    /// The current state `X`.
    pub fn state(&self) -> &T {
        &self.state
    }

    /// The sequence counter `c` (durable, with the state).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// How many deltas are buffered (not yet acknowledged by every neighbour).
    pub fn buffered(&self) -> usize {
        self.deltas.len()
    }

    /// A local operation: `d = m^δ(X)`, `X ← X ⊔ d`, buffer `d`. The mutator is one of the
    /// delta mutators, e.g. `|x| x.inc(me, 1)` or `|x| x.store().add(x.context(), me, e)`.
    pub fn update<F>(&mut self, mutator: F) -> Result<(), Error>
    where
        F: FnOnce(&T) -> Result<T, Error>,
    {
        let delta = mutator(&self.state)?;
        self.merge(delta)
    }

    /// `X ← X ⊔ d` and buffer `d` under the next sequence number.
    fn merge(&mut self, delta: T) -> Result<(), Error> {
        let next = self.seq.checked_add(1).ok_or(Error::Overflow)?;
        self.state.join(delta.clone());
        self.deltas.insert(self.seq, delta);
        self.seq = next;
        Ok(())
    }

    /// The periodic shipment to neighbour `to`: the delta-interval since its last
    /// acknowledgement, the full state if part of that interval was already collected, or
    /// nothing if it is up to date.
    pub fn ship(&self, to: ReplicaId) -> Result<Option<Message<T>>, Error> {
        let acked = *self.acks.get(&to).ok_or(Error::UnknownNeighbour(to))?;
        if acked >= self.seq {
            return Ok(None);
        }
        let delta = match self.deltas.first_key_value() {
            Some((first, _)) if *first <= acked => {
                let mut interval = T::default();
                for d in self.deltas.range(acked..self.seq).map(|(_, d)| d) {
                    interval.join(d.clone());
                }
                interval
            }
            _ => self.state.clone(),
        };
        Ok(Some(Message::Delta { delta, seq: self.seq }))
    }

    /// Handles a message from neighbour `from`; returns the acknowledgement to send back,
    /// if any. A delta that adds nothing to the state is acknowledged but not buffered, so
    /// it is not forwarded again (the paper's `d ⋢ X` test). An acknowledgement beyond
    /// what this node has sent is capped at its own counter.
    pub fn receive(&mut self, from: ReplicaId, message: Message<T>) -> Result<Option<Message<T>>, Error> {
        let acked = self.acks.get_mut(&from).ok_or(Error::UnknownNeighbour(from))?;
        match message {
            Message::Ack { seq } => {
                *acked = (*acked).max(seq.min(self.seq));
                Ok(None)
            }
            Message::Delta { delta, seq } => {
                if !self.state.includes(&delta) {
                    self.merge(delta)?;
                }
                Ok(Some(Message::Ack { seq }))
            }
        }
    }

    /// Drops the deltas every neighbour has acknowledged.
    pub fn gc(&mut self) {
        let oldest = self.acks.values().copied().min().unwrap_or(self.seq);
        self.deltas = self.deltas.split_off(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GCounter;

    fn exchange(from: &mut Node<GCounter>, to: &mut Node<GCounter>) {
        let msg = from.ship(to.id()).unwrap();
        let ack = msg.and_then(|m| to.receive(from.id(), m).unwrap());
        if let Some(ack) = ack {
            from.receive(to.id(), ack).unwrap();
        }
    }

    #[test]
    fn intervals_acks_and_gc() {
        let mut a: Node<GCounter> = Node::new(1, [2]);
        let mut b = Node::new(2, [1]);
        for _ in 0..3 {
            a.update(|x| x.inc(1, 1)).unwrap();
        }
        assert_eq!(a.buffered(), 3);
        exchange(&mut a, &mut b);
        assert_eq!(b.state().value(), 3);
        assert_eq!(a.ship(2).unwrap(), None);
        a.gc();
        assert_eq!(a.buffered(), 0);
        // b buffered what it merged (for its other neighbours) but a needs none of it back.
        assert_eq!(b.buffered(), 1);
        let echo = b.ship(1).unwrap().unwrap();
        let before = a.seq();
        a.receive(2, echo).unwrap();
        assert_eq!(a.seq(), before);
    }

    #[test]
    fn restart_ships_full_state() {
        let mut a: Node<GCounter> = Node::new(1, [2, 3]);
        let mut b = Node::new(2, [1]);
        let mut c = Node::new(3, [1]);
        a.update(|x| x.inc(1, 5)).unwrap();
        exchange(&mut a, &mut b);
        exchange(&mut a, &mut c);
        a.gc();
        a.update(|x| x.inc(1, 1)).unwrap();
        exchange(&mut a, &mut b);
        a.gc();
        // a restarts: volatile buffer and acks are gone, so c gets the full state.
        let mut a = Node::restore(1, [2, 3], a.state().clone(), a.seq());
        assert_eq!(a.buffered(), 0);
        match a.ship(3).unwrap() {
            Some(Message::Delta { delta, .. }) => assert_eq!(delta, *a.state()),
            other => panic!("expected full state, got {other:?}"),
        }
        exchange(&mut a, &mut c);
        assert_eq!(c.state(), a.state());
    }

    #[test]
    fn strangers_and_inflated_acks_are_handled() {
        let mut a: Node<GCounter> = Node::new(1, [2]);
        assert_eq!(a.ship(9), Err(Error::UnknownNeighbour(9)));
        assert_eq!(a.receive(9, Message::Ack { seq: 1 }), Err(Error::UnknownNeighbour(9)));
        a.update(|x| x.inc(1, 1)).unwrap();
        a.receive(2, Message::Ack { seq: u64::MAX }).unwrap();
        assert_eq!(a.ship(2).unwrap(), None);
        a.update(|x| x.inc(1, 1)).unwrap();
        assert!(a.ship(2).unwrap().is_some());
    }
}
