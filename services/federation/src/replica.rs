//! The replicated state of a federation (a pod's tile inventory, counters, registers) as
//! one delta-CRDT, and a [`Replica`] of it running delta-interval anti-entropy
//! (`tileos_crdt::Node`, Almeida et al. Algorithm 2) with the node's neighbours.
//!
//! A replication message is the payload of a bundle from `ipn:A.`[`REPLICATION_SERVICE`]
//! to `ipn:B.`[`REPLICATION_SERVICE`]: the byte [`REPLICATION_VERSION`], then the postcard
//! encoding (`tileos_crdt::to_bytes`) of a `tileos_crdt::Message<FederatedState>`, either a
//! delta-interval with its sequence number or an acknowledgement.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use tileos_crdt::{AwSet, Causal, Lattice, LwwRegister, Message, Node, OrMap, PnCounter, ReplicaId};

use crate::config::NodeNumber;

/// The service number replication bundles are addressed to on every node.
pub const REPLICATION_SERVICE: u32 = 7;
/// First byte of a replication message.
pub const REPLICATION_VERSION: u8 = 1;
/// Longest counter or register name, in bytes.
pub const MAX_NAME: usize = 64;
/// Longest register value, module name or module version, in bytes.
pub const MAX_VALUE: usize = 128;

/// A module version installed on a tile.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Module {
    /// The module's name (e.g. `checksum`).
    pub name: String,
    /// Its version (e.g. `1.2.0`).
    pub version: String,
}

/// The inventory: tile node number → the modules it runs (an observed-remove map of
/// add-wins sets: a concurrent add survives a remove).
pub type Inventory = Causal<OrMap<NodeNumber, AwSet<Module>>>;

/// Everything a federation replicates, as one join-semilattice: the tile inventory,
/// named counters (positive-negative, one entry per node) and named last-writer-wins
/// registers. Counters and registers at their bottom value are never stored, so equal
/// states compare equal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StateParts")]
pub struct FederatedState {
    inventory: Inventory,
    counters: BTreeMap<String, PnCounter>,
    registers: BTreeMap<String, LwwRegister<String>>,
}

/// The decoded, not yet canonical form of a [`FederatedState`].
#[derive(Deserialize)]
struct StateParts {
    inventory: Inventory,
    counters: BTreeMap<String, PnCounter>,
    registers: BTreeMap<String, LwwRegister<String>>,
}

impl From<StateParts> for FederatedState {
    fn from(mut parts: StateParts) -> Self {
        parts.counters.retain(|_, c| *c != PnCounter::default());
        parts.registers.retain(|_, r| r.get().is_some());
        FederatedState { inventory: parts.inventory, counters: parts.counters, registers: parts.registers }
    }
}

impl Lattice for FederatedState {
    fn join(&mut self, other: Self) {
        self.inventory.join(other.inventory);
        for (name, counter) in other.counters {
            if counter != PnCounter::default() {
                self.counters.entry(name).or_default().join(counter);
            }
        }
        for (name, register) in other.registers {
            if register.get().is_some() {
                self.registers.entry(name).or_default().join(register);
            }
        }
    }
}

impl FederatedState {
    /// The modules `tile` runs, in order.
    pub fn modules(&self, tile: NodeNumber) -> Vec<Module> {
        self.inventory.store().get(&tile).map(|set| set.elements().cloned().collect()).unwrap_or_default()
    }

    /// The tiles in the inventory, in order.
    pub fn tiles(&self) -> Vec<NodeNumber> {
        self.inventory.store().iter().map(|(tile, _)| *tile).collect()
    }

    /// The value of counter `name` (0 if never changed).
    pub fn counter(&self, name: &str) -> i128 {
        self.counters.get(name).map_or(0, PnCounter::value)
    }

    /// The counters' names, in order.
    pub fn counter_names(&self) -> impl Iterator<Item = &str> {
        self.counters.keys().map(String::as_str)
    }

    /// Register `name`'s value and its timestamp, if written.
    pub fn register(&self, name: &str) -> Option<(&str, u64)> {
        let register = self.registers.get(name)?;
        Some((register.get()?.as_str(), register.timestamp()?))
    }

    /// The registers whose name starts with `prefix`, in name order: name, value, and the
    /// node that wrote the winning value.
    pub fn registers_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str, u64)> + 'a {
        use core::ops::Bound;
        self.registers
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(name, _)| name.starts_with(prefix))
            .filter_map(|(name, register)| Some((name.as_str(), register.get()?.as_str(), register.writer()?)))
    }

    /// How many entries the state holds: modules (over all tiles), counters, registers.
    pub fn sizes(&self) -> StateSizes {
        StateSizes {
            modules: self.inventory.store().iter().map(|(_, set)| set.elements().count()).sum(),
            counters: self.counters.len(),
            registers: self.registers.len(),
        }
    }

    /// Bytes of its canonical encoding: what one full-state replication message carries.
    pub fn encoded_len(&self) -> usize {
        tileos_crdt::to_bytes(self).map_or(0, |bytes| bytes.len())
    }

    /// A 64-bit FNV-1a digest of the state's encoding: equal states have equal digests
    /// (the encoding is canonical: ordered maps, bottom values never stored), so replicas
    /// can be compared from their logs. Not a cryptographic hash.
    pub fn digest(&self) -> u64 {
        let bytes = tileos_crdt::to_bytes(self).unwrap_or_default();
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
    }
}

/// What [`FederatedState::sizes`] counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateSizes {
    /// Modules in the inventory, over all tiles.
    pub modules: usize,
    /// Counters that are not zero.
    pub counters: usize,
    /// Registers written.
    pub registers: usize,
}

/// Why a replicated-state operation or message failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicationError {
    /// A name or value is empty or longer than [`MAX_NAME`] / [`MAX_VALUE`].
    BadName,
    /// The message's first byte is not [`REPLICATION_VERSION`].
    Version,
    /// The CRDT layer refused: decoding, an unknown neighbour, or overflow.
    Crdt(tileos_crdt::Error),
}

impl From<tileos_crdt::Error> for ReplicationError {
    fn from(error: tileos_crdt::Error) -> Self {
        ReplicationError::Crdt(error)
    }
}

/// The durable part of a replica, as stored: state and sequence counter.
#[derive(Serialize, Deserialize)]
struct Durable {
    state: FederatedState,
    seq: u64,
}

/// This node's replica of the [`FederatedState`], exchanging delta-intervals with its
/// neighbours.
#[derive(Clone, Debug)]
pub struct Replica {
    me: ReplicaId,
    node: Node<FederatedState>,
}

fn check_text(text: &str, max: usize) -> Result<(), ReplicationError> {
    if text.is_empty() || text.len() > max { Err(ReplicationError::BadName) } else { Ok(()) }
}

impl Replica {
    /// A fresh replica of node `me` with the given neighbours.
    pub fn new(me: NodeNumber, neighbours: impl IntoIterator<Item = NodeNumber>) -> Self {
        Replica { me: u64::from(me), node: Node::new(u64::from(me), neighbours.into_iter().map(u64::from)) }
    }

    /// A replica restarted from [`Replica::durable_bytes`]; `None` if they do not decode.
    pub fn restore(me: NodeNumber, neighbours: impl IntoIterator<Item = NodeNumber>, durable: &[u8]) -> Option<Self> {
        let Durable { state, seq } = tileos_crdt::from_bytes(durable).ok()?;
        let node = Node::restore(u64::from(me), neighbours.into_iter().map(u64::from), state, seq);
        Some(Replica { me: u64::from(me), node })
    }

    /// What must be stored (durably) after every change: the state and sequence counter.
    pub fn durable_bytes(&self) -> Vec<u8> {
        let durable = Durable { state: self.node.state().clone(), seq: self.node.seq() };
        // The state is plain maps, strings and integers: postcard cannot fail on it.
        tileos_crdt::to_bytes(&durable).unwrap_or_default()
    }

    /// The current state.
    pub fn state(&self) -> &FederatedState {
        self.node.state()
    }

    /// Deltas buffered for neighbours that have not acknowledged them.
    pub fn buffered(&self) -> usize {
        self.node.buffered()
    }

    /// Records that `tile` runs `module`.
    pub fn add_module(&mut self, tile: NodeNumber, module: Module) -> Result<(), ReplicationError> {
        check_text(&module.name, MAX_VALUE)?;
        check_text(&module.version, MAX_VALUE)?;
        let me = self.me;
        self.node.update(|x| {
            let delta = x.inventory.store().apply(x.inventory.context(), tile, |set, ctx| set.add(ctx, me, module))?;
            Ok(FederatedState { inventory: delta, ..FederatedState::default() })
        })?;
        Ok(())
    }

    /// Records that `tile` no longer runs `module` (as observed here).
    pub fn remove_module(&mut self, tile: NodeNumber, module: &Module) -> Result<(), ReplicationError> {
        self.node.update(|x| {
            let delta = x.inventory.store().apply(x.inventory.context(), tile, |set, _| Ok(set.remove(module)))?;
            Ok(FederatedState { inventory: delta, ..FederatedState::default() })
        })?;
        Ok(())
    }

    /// Adds `delta` (negative: subtracts) to counter `name`.
    pub fn add_to_counter(&mut self, name: &str, delta: i64) -> Result<(), ReplicationError> {
        check_text(name, MAX_NAME)?;
        if delta == 0 {
            return Ok(());
        }
        let me = self.me;
        self.node.update(|x| {
            let current = x.counters.get(name).cloned().unwrap_or_default();
            let change = if delta > 0 { current.inc(me, delta.unsigned_abs())? } else { current.dec(me, delta.unsigned_abs())? };
            Ok(FederatedState { counters: BTreeMap::from([(String::from(name), change)]), ..FederatedState::default() })
        })?;
        Ok(())
    }

    /// Writes `value` to register `name` at `timestamp` (raised past the current winner).
    pub fn set_register(&mut self, name: &str, value: &str, timestamp: u64) -> Result<(), ReplicationError> {
        check_text(name, MAX_NAME)?;
        check_text(value, MAX_VALUE)?;
        let me = self.me;
        self.node.update(|x| {
            let current = x.registers.get(name).cloned().unwrap_or_default();
            let write = current.set(me, timestamp, String::from(value))?;
            Ok(FederatedState { registers: BTreeMap::from([(String::from(name), write)]), ..FederatedState::default() })
        })?;
        Ok(())
    }

    /// The replication message for neighbour `to`, if it is missing anything.
    pub fn ship(&self, to: NodeNumber) -> Result<Option<Vec<u8>>, ReplicationError> {
        match self.node.ship(u64::from(to))? {
            Some(message) => Ok(Some(encode_message(&message)?)),
            None => Ok(None),
        }
    }

    /// Applies a replication message from neighbour `from`; returns the acknowledgement to
    /// send back, if any, and whether the state changed.
    pub fn receive(&mut self, from: NodeNumber, payload: &[u8]) -> Result<Received, ReplicationError> {
        let message = decode_message(payload)?;
        let seq_before = self.node.seq();
        let ack = self.node.receive(u64::from(from), message)?;
        let reply = match ack {
            Some(ack) => Some(encode_message(&ack)?),
            None => None,
        };
        self.node.gc();
        Ok(Received { reply, changed: self.node.seq() != seq_before })
    }
}

/// What [`Replica::receive`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The acknowledgement to send back.
    pub reply: Option<Vec<u8>>,
    /// Whether the state changed (and must be stored).
    pub changed: bool,
}

/// A replication message's payload: version byte, then postcard.
pub fn encode_message(message: &Message<FederatedState>) -> Result<Vec<u8>, ReplicationError> {
    let mut out = alloc::vec![REPLICATION_VERSION];
    out.extend_from_slice(&tileos_crdt::to_bytes(message)?);
    Ok(out)
}

/// Decodes a replication message's payload.
pub fn decode_message(payload: &[u8]) -> Result<Message<FederatedState>, ReplicationError> {
    match payload.split_first() {
        Some((&REPLICATION_VERSION, body)) => Ok(tileos_crdt::from_bytes(body)?),
        _ => Err(ReplicationError::Version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str, version: &str) -> Module {
        Module { name: name.into(), version: version.into() }
    }

    fn sync(a: &mut Replica, a_id: NodeNumber, b: &mut Replica, b_id: NodeNumber) {
        if let Some(message) = a.ship(b_id).unwrap() {
            let received = b.receive(a_id, &message).unwrap();
            if let Some(ack) = received.reply {
                a.receive(b_id, &ack).unwrap();
            }
        }
    }

    #[test]
    fn inventory_counters_and_registers_converge_and_survive_a_restore() {
        let mut a = Replica::new(1, [2]);
        let mut b = Replica::new(2, [1]);
        a.add_module(5, module("checksum", "1.0")).unwrap();
        b.add_module(5, module("checksum", "1.1")).unwrap();
        a.add_to_counter("jobs", 3).unwrap();
        b.add_to_counter("jobs", -1).unwrap();
        a.set_register("policy", "v1", 10).unwrap();
        b.set_register("policy", "v2", 20).unwrap();
        sync(&mut a, 1, &mut b, 2);
        sync(&mut b, 2, &mut a, 1);
        assert_eq!(a.state(), b.state());
        assert_eq!(a.state().modules(5), [module("checksum", "1.0"), module("checksum", "1.1")]);
        assert_eq!(a.state().counter("jobs"), 2);
        assert_eq!(a.state().register("policy"), Some(("v2", 20)));
        assert_eq!(a.state().digest(), b.state().digest(), "equal states, equal digests");
        assert_eq!(a.state().sizes(), StateSizes { modules: 2, counters: 1, registers: 1 });
        let before = a.state().digest();
        a.set_register("policy", "v3", 30).unwrap();
        assert_ne!(a.state().digest(), before);
        let restored = Replica::restore(1, [2], &a.durable_bytes()).unwrap();
        assert_eq!(restored.state(), a.state());
        assert!(Replica::restore(1, [2], b"junk").is_none());
    }

    #[test]
    fn bad_names_versions_and_strangers_are_errors() {
        let mut a = Replica::new(1, [2]);
        assert_eq!(a.add_to_counter("", 1), Err(ReplicationError::BadName));
        assert_eq!(a.set_register("x", &"v".repeat(MAX_VALUE + 1), 0), Err(ReplicationError::BadName));
        assert_eq!(a.receive(2, &[9, 0]), Err(ReplicationError::Version));
        assert!(matches!(a.receive(2, &[REPLICATION_VERSION, 0xff]), Err(ReplicationError::Crdt(_))));
        let message = encode_message(&Message::Ack { seq: 0 }).unwrap();
        assert_eq!(a.receive(3, &message), Err(ReplicationError::Crdt(tileos_crdt::Error::UnknownNeighbour(3))));
    }
}
