//! Property test of Algorithm 2 (delta-interval anti-entropy) for every CRDT type: 2–8
//! replicas on a random connected topology run random operations while delta-intervals and
//! acks are shipped, delivered in any order, duplicated, lost, and garbage collected, all
//! through the postcard encoding. Once the network is drained and the nodes keep shipping
//! until quiet, every replica must hold the state that full-state merging gives: the join
//! of all replicas' states, which is also the join of every delta any operation produced.

mod common;

use common::Model;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tileos_crdt::{Message, Node, from_bytes, to_bytes};

#[derive(Debug, Clone)]
enum Event {
    Op { replica: u8, code: u8, arg: u8 },
    Ship { from: u8, to: u8 },
    Deliver { pick: u16, duplicate: bool },
    Drop { pick: u16 },
    Gc { replica: u8 },
}

#[derive(Debug, Clone)]
struct Scenario {
    replicas: usize,
    extra_edges: Vec<(u8, u8)>,
    events: Vec<Event>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let event = prop_oneof![
        3 => (any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(replica, code, arg)| Event::Op { replica, code, arg }),
        3 => (any::<u8>(), any::<u8>()).prop_map(|(from, to)| Event::Ship { from, to }),
        4 => (any::<u16>(), prop::bool::weighted(0.2))
            .prop_map(|(pick, duplicate)| Event::Deliver { pick, duplicate }),
        1 => any::<u16>().prop_map(|pick| Event::Drop { pick }),
        1 => any::<u8>().prop_map(|replica| Event::Gc { replica }),
    ];
    (2usize..=8, prop::collection::vec((any::<u8>(), any::<u8>()), 0..6), prop::collection::vec(event, 0..120))
        .prop_map(|(replicas, extra_edges, events)| Scenario { replicas, extra_edges, events })
}

/// A ring (a single edge for two replicas) plus the extra edges: always connected.
fn topology(s: &Scenario) -> Vec<Vec<u64>> {
    let n = s.replicas;
    let mut adj = vec![Vec::new(); n];
    let mut link = |a: usize, b: usize| {
        if a != b && !adj[a].contains(&(b as u64)) {
            adj[a].push(b as u64);
            adj[b].push(a as u64);
        }
    };
    for i in 0..n {
        link(i, (i + 1) % n);
    }
    for &(a, b) in &s.extra_edges {
        link(usize::from(a) % n, usize::from(b) % n);
    }
    adj
}

/// (from, to, encoded message) in flight.
type Wire = Vec<(u64, u64, Vec<u8>)>;

fn deliver<T: Model>(nodes: &mut [Node<T>], wire: &mut Wire, (from, to, bytes): (u64, u64, Vec<u8>)) {
    let message: Message<T> = from_bytes(&bytes).unwrap();
    if let Some(ack) = nodes[to as usize].receive(from, message).unwrap() {
        wire.push((to, from, to_bytes(&ack).unwrap()));
    }
}

fn ship<T: Model>(nodes: &[Node<T>], wire: &mut Wire, from: usize, to: u64) -> bool {
    match nodes[from].ship(to).unwrap() {
        Some(message) => {
            wire.push((from as u64, to, to_bytes(&message).unwrap()));
            true
        }
        None => false,
    }
}

fn check_convergence<T: Model>(s: Scenario) -> Result<(), TestCaseError> {
    let adj = topology(&s);
    let n = s.replicas;
    let mut nodes: Vec<Node<T>> = (0..n).map(|i| Node::new(i as u64, adj[i].clone())).collect();
    let mut wire: Wire = Vec::new();
    let mut all_deltas = T::default();

    for event in s.events {
        match event {
            Event::Op { replica, code, arg } => {
                let node = &mut nodes[usize::from(replica) % n];
                let id = node.id();
                node.update(|x| {
                    let delta = T::op(x, id, code, arg);
                    all_deltas.join(delta.clone());
                    Ok(delta)
                })
                .unwrap();
            }
            Event::Ship { from, to } => {
                let from = usize::from(from) % n;
                let to = adj[from][usize::from(to) % adj[from].len()];
                ship(&nodes, &mut wire, from, to);
            }
            Event::Deliver { pick, duplicate } if !wire.is_empty() => {
                let i = usize::from(pick) % wire.len();
                let message = if duplicate { wire[i].clone() } else { wire.swap_remove(i) };
                deliver(&mut nodes, &mut wire, message);
            }
            Event::Drop { pick } if !wire.is_empty() => {
                wire.swap_remove(usize::from(pick) % wire.len());
            }
            Event::Gc { replica } => nodes[usize::from(replica) % n].gc(),
            Event::Deliver { .. } | Event::Drop { .. } => {}
        }
    }

    // Full-state merging of the replicas reaches the join of all deltas.
    let mut full = T::default();
    for node in &nodes {
        full.join(node.state().clone());
    }
    prop_assert_eq!(&full, &all_deltas);

    // Drain the wire (stale and duplicate messages included), then let every node ship to
    // every neighbour until a whole round ships nothing.
    let mut quiet = false;
    for _round in 0..=2 * n + 2 {
        while let Some(message) = wire.pop() {
            deliver(&mut nodes, &mut wire, message);
        }
        if quiet {
            break;
        }
        quiet = true;
        for (from, neighbours) in adj.iter().enumerate() {
            for &to in neighbours {
                quiet &= !ship(&nodes, &mut wire, from, to);
            }
        }
    }
    prop_assert!(quiet, "anti-entropy did not go quiet");
    for node in &mut nodes {
        prop_assert_eq!(node.state(), &full, "replica {} diverged", node.id());
        node.gc();
        prop_assert_eq!(node.buffered(), 0, "replica {} kept acknowledged deltas", node.id());
    }
    Ok(())
}

for_every_type!(128, check_convergence, s in scenario());
