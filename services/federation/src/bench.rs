//! What a partition costs to heal: bytes of replication messages until every replica holds
//! the same state, with delta-interval anti-entropy ([`Replica`], what the node sends)
//! against full-state synchronisation, for the same replicas in the same states.
//!
//! The scenario: `replicas` replicas in a ring, each the tile of its number with three
//! modules and a counter, synchronised; the ring is cut into two halves; each half makes
//! `updates_per_side` independent updates (module adds, counter adds, register writes)
//! and converges inside itself; then the ring heals. From that moment on, in rounds, every
//! replica sends to each neighbour: with deltas, what [`Replica::ship`] gives (nothing
//! once a neighbour has acknowledged everything) and the acknowledgements; with full
//! state, its whole encoded state, every round, until all states are equal (so full-state
//! is not charged for the rounds in which it cannot know that it is done). Nothing here
//! takes time; a bench binary or test prints the figures.

use alloc::vec::Vec;

use crate::config::NodeNumber;
use crate::replica::{FederatedState, Module, Replica, ReplicationError};
use tileos_crdt::Lattice;

/// The figures of one [`partition_heal`] run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionFigures {
    /// Replicas in the ring.
    pub replicas: usize,
    /// Independent updates made on each side of the partition.
    pub updates_per_side: usize,
    /// Encoded size of the converged state, in bytes.
    pub state_bytes: usize,
    /// Replication payload bytes (deltas and acknowledgements) sent after the heal.
    pub delta_bytes: usize,
    /// Replication messages sent after the heal.
    pub delta_messages: usize,
    /// Rounds until no replica had anything left to send.
    pub delta_rounds: usize,
    /// Full-state bytes sent after the heal until all states were equal.
    pub full_bytes: usize,
    /// Full-state messages sent.
    pub full_messages: usize,
    /// Rounds until all states were equal.
    pub full_rounds: usize,
    /// Whether delta anti-entropy left every replica in the state full-state sync reached.
    pub converged: bool,
}

/// Most rounds either method may take (a ring of `n` converges in about `n / 2`).
const MAX_ROUNDS: usize = 1000;

fn ring(n: usize, i: usize) -> [NodeNumber; 2] {
    let id = |k: usize| (k % n + 1) as NodeNumber;
    [id(i + n - 1), id(i + 1)]
}

/// Whether the link between replica indices `a` and `b` is cut: the ring splits into
/// `0..n/2` and `n/2..n`.
fn cut(n: usize, a: usize, b: usize) -> bool {
    (a < n / 2) != (b < n / 2)
}

/// One synchronous round of delta anti-entropy over the links that are up: every replica
/// ships to each neighbour from its state at the start of the round, then the messages are
/// delivered and acknowledged. Returns (bytes, messages).
fn delta_round(replicas: &mut [Replica], partitioned: bool) -> Result<(usize, usize), ReplicationError> {
    let n = replicas.len();
    let mut shipped = Vec::new();
    for (i, replica) in replicas.iter().enumerate() {
        for to in ring(n, i) {
            let j = to as usize - 1;
            if j == i || (partitioned && cut(n, i, j)) {
                continue;
            }
            if let Some(message) = replica.ship(to)? {
                shipped.push((i, j, message));
            }
        }
    }
    let (mut bytes, mut messages) = (0, 0);
    for (i, j, message) in shipped {
        bytes += message.len();
        messages += 1;
        let received = replicas[j].receive((i + 1) as NodeNumber, &message)?;
        if let Some(ack) = received.reply {
            bytes += ack.len();
            messages += 1;
            replicas[i].receive((j + 1) as NodeNumber, &ack)?;
        }
    }
    Ok((bytes, messages))
}

/// Runs delta rounds until one sends nothing; returns (bytes, messages, rounds).
fn delta_until_quiet(replicas: &mut [Replica], partitioned: bool) -> Result<(usize, usize, usize), ReplicationError> {
    let (mut bytes, mut messages) = (0, 0);
    for round in 0..MAX_ROUNDS {
        let (b, m) = delta_round(replicas, partitioned)?;
        if m == 0 {
            return Ok((bytes, messages, round));
        }
        bytes += b;
        messages += m;
    }
    Ok((bytes, messages, MAX_ROUNDS))
}

/// Full-state rounds from `states` until all are equal; returns (bytes, messages, rounds).
fn full_until_equal(states: &mut [FederatedState]) -> Result<(usize, usize, usize), ReplicationError> {
    let n = states.len();
    let (mut bytes, mut messages) = (0, 0);
    for round in 0..MAX_ROUNDS {
        if states.windows(2).all(|w| w[0] == w[1]) {
            return Ok((bytes, messages, round));
        }
        let snapshot: Vec<Vec<u8>> = states.iter().map(tileos_crdt::to_bytes).collect::<Result<_, _>>()?;
        for (i, encoded) in snapshot.iter().enumerate() {
            for to in ring(n, i) {
                let j = to as usize - 1;
                if j == i {
                    continue;
                }
                bytes += encoded.len();
                messages += 1;
                states[j].join(tileos_crdt::from_bytes(encoded)?);
            }
        }
    }
    Ok((bytes, messages, MAX_ROUNDS))
}

/// Update `k` on replica `i`: a module added to its tile, a counter add, or a register write.
fn update(replica: &mut Replica, i: usize, k: usize) -> Result<(), ReplicationError> {
    let tile = (i + 1) as NodeNumber;
    match k % 3 {
        0 => replica.add_module(tile, Module { name: alloc::format!("job-{k}"), version: alloc::format!("{i}.{k}") }),
        1 => replica.add_to_counter("jobs.done", 1),
        _ => replica.set_register("policy", &alloc::format!("v{i}.{k}"), k as u64),
    }
}

/// Runs the scenario (module docs) and measures both methods after the heal.
pub fn partition_heal(replicas: usize, updates_per_side: usize) -> Result<PartitionFigures, ReplicationError> {
    let n = replicas.max(2);
    let mut nodes: Vec<Replica> = (0..n).map(|i| Replica::new((i + 1) as NodeNumber, ring(n, i))).collect();
    for (i, node) in nodes.iter_mut().enumerate() {
        for m in 0..3 {
            let module = Module { name: alloc::format!("module-{m}"), version: alloc::format!("1.{m}") };
            node.add_module((i + 1) as NodeNumber, module)?;
        }
        node.add_to_counter("bundles.forwarded", (i + 1) as i64)?;
    }
    delta_until_quiet(&mut nodes, false)?;
    for side in [0..n / 2, n / 2..n] {
        let members: Vec<usize> = side.collect();
        for k in 0..updates_per_side {
            let i = members[k % members.len()];
            update(&mut nodes[i], i, k)?;
        }
    }
    delta_until_quiet(&mut nodes, true)?;
    let at_heal: Vec<FederatedState> = nodes.iter().map(|r| r.state().clone()).collect();
    let (delta_bytes, delta_messages, delta_rounds) = delta_until_quiet(&mut nodes, false)?;
    let mut full = at_heal;
    let (full_bytes, full_messages, full_rounds) = full_until_equal(&mut full)?;
    let converged = nodes.iter().all(|r| *r.state() == full[0]);
    let state_bytes = tileos_crdt::to_bytes(nodes[0].state())?.len();
    Ok(PartitionFigures {
        replicas: n,
        updates_per_side,
        state_bytes,
        delta_bytes,
        delta_messages,
        delta_rounds,
        full_bytes,
        full_messages,
        full_rounds,
        converged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_heal_a_partition_with_fewer_bytes_than_full_state() {
        for (replicas, updates) in [(4, 4), (8, 16), (16, 8)] {
            let figures = partition_heal(replicas, updates).unwrap();
            assert!(figures.converged, "{figures:?}");
            assert!(figures.delta_bytes < figures.full_bytes, "{figures:?}");
            assert!(figures.delta_rounds < MAX_ROUNDS && figures.full_rounds < MAX_ROUNDS, "{figures:?}");
        }
    }
}
