//! [`FederationNode`]: the sans-IO state machine of a tile's federation service.
//!
//! The caller (the federation domain on a tile, the tile lab or a test) feeds it inputs —
//! the time, connections opening and closing, bytes read from them, local requests — and
//! takes its [`Output`]s with [`FederationNode::poll`]: bytes to write to a connection,
//! connections to open or close, bundles for local applications, log events. Storage goes
//! through the [`BundleStore`] the node owns, synchronously: when a call returns, what it
//! stored is stored.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use tileos_bpv7::{Bundle, CreationTimestamp, Eid, Policy, Reassembler};
use tileos_tcpcl::{Session, SessionError};

use crate::config::{ConfigError, NodeConfig, NodeNumber};
use crate::counters::{Counters, DropReason, Refusal};
use crate::record::{self, Kind};
use crate::replica::{FederatedState, Replica, ReplicationError};
use crate::routing::Contact;
use crate::store::{BundleStore, Durability, StoreError};

mod custody;
mod forward;
mod session;

/// Identifies one connection of the caller's (e.g. a TCP socket).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// How a connection came about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The caller dialled this neighbour after an [`Output::Connect`].
    Dialled(NodeNumber),
    /// The caller accepted it; the peer says who it is in its SESS_INIT.
    Accepted,
}

/// Something for the caller to do or know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes to the connection.
    Transmit {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Close the connection (everything for it has been transmitted).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Open a connection to this neighbour, then call [`FederationNode::connected`] with
    /// [`Origin::Dialled`].
    Connect {
        /// The neighbour.
        node: NodeNumber,
        /// Its configured address.
        address: String,
    },
    /// A bundle for a local application. It stays stored until the caller confirms with
    /// [`FederationNode::delivered`]; after a restart it is delivered again.
    Deliver(Delivery),
    /// A bundle for one of the configured `local_services`: the node holds it, in custody,
    /// until its owning domain takes it (`Request::Receive`, then `Request::Confirm`); after a
    /// restart it is held again. For the caller's log only: nothing to confirm.
    Held(Delivery),
    /// Something happened worth a log line.
    Log(LogEvent),
}

/// A bundle for a local application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Confirm delivery with this ([`FederationNode::delivered`]).
    pub id: u64,
    /// The sender.
    pub source: Eid,
    /// The service number it is addressed to.
    pub service: u32,
    /// Its creation timestamp (with `source`, the bundle's identity).
    pub creation: CreationTimestamp,
    /// The node it came from last (its previous-node block), if it named one.
    pub previous_node: Option<Eid>,
    /// The payload (whole: fragments are reassembled first).
    pub payload: Vec<u8>,
}

/// What the node logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEvent {
    /// Recovery finished.
    Recovered(Recovery),
    /// A session with a neighbour is up.
    SessionUp {
        /// The connection.
        conn: ConnId,
        /// The neighbour.
        peer: NodeNumber,
    },
    /// The peer departed from RFC 9174 in a way the session tolerates (its meaning is
    /// unambiguous).
    Tolerated {
        /// The connection.
        conn: ConnId,
        /// What the peer did.
        deviation: tileos_tcpcl::Deviation,
    },
    /// A session ended.
    SessionDown {
        /// The connection.
        conn: ConnId,
        /// The neighbour, if it had said who it is.
        peer: Option<NodeNumber>,
        /// Why, if it ended abnormally.
        error: Option<SessionError>,
    },
    /// Input was refused.
    Refused {
        /// The connection it came on, if any.
        conn: Option<ConnId>,
        /// Why.
        reason: Refusal,
    },
    /// A bundle was stored (and then acknowledged, if it came from a peer).
    Stored {
        /// Its spool number.
        id: u64,
        /// Why it is held.
        kind: Kind,
    },
    /// A bundle was handed on and acknowledged by the next hop, and deleted.
    Forwarded {
        /// Its spool number.
        id: u64,
        /// The next hop.
        to: NodeNumber,
        /// In how many fragments.
        fragments: usize,
    },
    /// A held bundle was dropped.
    Dropped {
        /// Its spool number.
        id: u64,
        /// Why.
        reason: DropReason,
    },
    /// A contact plan arrived in a bundle and replaced the previous one.
    PlanReceived {
        /// Its number of contacts.
        contacts: usize,
    },
}

/// What [`FederationNode::recover`] found in the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Bundles reloaded (to forward, to deliver, fragments).
    pub bundles: usize,
    /// Records that did not decode (deleted).
    pub corrupt: u64,
    /// Whether a stored replica was restored.
    pub replica_restored: bool,
    /// Whether bundles were left in the store because the spool limit was reached.
    pub left_behind: bool,
}

/// Why [`FederationNode::recover`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoverError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The store failed.
    Store(StoreError),
}

/// Why a local bundle was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The destination is the null endpoint or the bundle is larger than the spool takes.
    BadDestination,
    /// The spool is full.
    SpoolFull,
    /// The store failed.
    StoreFailed,
}

/// Why [`FederationNode::update_replica`] changed nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// The change itself was refused (bad name, overflow).
    Replication(ReplicationError),
    /// The store failed.
    Store(StoreError),
}

/// What a transfer on a session carries.
#[derive(Clone, Copy, Debug)]
enum Carried {
    /// (A fragment of) spooled bundle `n`.
    Bundle(u64),
    /// A replication message (not spooled: anti-entropy resends what is lost).
    Replication,
}

#[derive(Debug)]
struct Connection {
    session: Session,
    origin: Origin,
    peer: Option<NodeNumber>,
    in_flight: BTreeMap<u64, Carried>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum EntryState {
    /// Waiting for a route, a session or `not_before_ms`.
    Waiting { not_before_ms: u64 },
    /// Queued on a session to `to`, in `fragments` pieces: `transfers` are not acknowledged yet.
    InFlight { to: NodeNumber, transfers: BTreeSet<u64>, fragments: usize },
    /// Handed to the caller, awaiting [`FederationNode::delivered`].
    Delivering,
    /// A fragment waiting for the rest of its bundle.
    Fragment,
}

#[derive(Debug)]
struct Entry {
    kind: Kind,
    bundle: Bundle,
    received_ms: u64,
    size: u64,
    state: EntryState,
}

/// The original bundle a fragment belongs to.
type Original = (Eid, CreationTimestamp);

/// Sequence numbers reserved per store write of the floor.
const SEQUENCE_BLOCK: u64 = 1024;
/// Keys listed per store call during recovery.
const RECOVERY_PAGE: usize = 64;
/// Bundles remembered as delivered, to recognise duplicates.
const RECENT_DELIVERIES: usize = 256;

/// A tile's federation node: store-and-forward with custody over TCPCL sessions, routing,
/// fragmentation and reassembly, and the replicated state.
#[derive(Debug)]
pub struct FederationNode<S: BundleStore> {
    config: NodeConfig,
    store: S,
    now_ms: u64,
    connections: BTreeMap<ConnId, Connection>,
    spool: BTreeMap<u64, Entry>,
    spool_bytes: u64,
    next_id: u64,
    next_sequence: u64,
    sequence_floor: u64,
    reassembler: Reassembler,
    fragments: BTreeMap<Original, Vec<u64>>,
    /// Bundles delivered here lately (the last [`RECENT_DELIVERIES`]), to drop duplicates.
    recent: VecDeque<Original>,
    replica: Replica,
    published: BTreeMap<&'static str, u64>,
    last_ship: BTreeMap<NodeNumber, u64>,
    last_dial: BTreeMap<NodeNumber, u64>,
    received_plan: Vec<Contact>,
    plan_stamp: Option<CreationTimestamp>,
    /// Bytes handed to each scheduled contact so far (until it ends).
    contact_use: BTreeMap<Contact, u64>,
    counters: Counters,
    outputs: VecDeque<Output>,
    /// Spool numbers of bundles held for local services, oldest first.
    held_for_local: VecDeque<u64>,
}

impl<S: BundleStore> FederationNode<S> {
    /// Starts a node on `store`, reloading what an earlier run left there: bundles held
    /// (those for local applications are delivered again), fragments, the replica and a
    /// received contact plan. An empty store starts an empty node.
    pub fn recover(config: NodeConfig, store: S, now_ms: u64) -> Result<Self, RecoverError> {
        config.validate().map_err(RecoverError::Config)?;
        let neighbours: Vec<NodeNumber> = config.neighbours.iter().filter(|n| !n.client).map(|n| n.node).collect();
        let limits = config.limits.clone();
        let mut node = FederationNode {
            replica: Replica::new(config.node, neighbours.iter().copied()),
            config,
            store,
            now_ms,
            connections: BTreeMap::new(),
            spool: BTreeMap::new(),
            spool_bytes: 0,
            next_id: 0,
            next_sequence: 0,
            sequence_floor: 0,
            reassembler: Reassembler::new(limits.max_reassembly_bytes, usize::try_from(limits.max_reassembly_bytes).unwrap_or(usize::MAX)),
            fragments: BTreeMap::new(),
            recent: VecDeque::new(),
            published: BTreeMap::new(),
            last_ship: BTreeMap::new(),
            last_dial: BTreeMap::new(),
            received_plan: Vec::new(),
            plan_stamp: None,
            contact_use: BTreeMap::new(),
            counters: Counters::default(),
            outputs: VecDeque::new(),
            held_for_local: VecDeque::new(),
        };
        let mut recovery = Recovery::default();
        node.recover_replica(&neighbours, &mut recovery).map_err(RecoverError::Store)?;
        node.recover_plan(&mut recovery).map_err(RecoverError::Store)?;
        node.recover_sequence().map_err(RecoverError::Store)?;
        node.recover_bundles(&mut recovery).map_err(RecoverError::Store)?;
        node.log(LogEvent::Recovered(recovery));
        Ok(node)
    }

    fn recover_replica(&mut self, neighbours: &[NodeNumber], recovery: &mut Recovery) -> Result<(), StoreError> {
        let Some(bytes) = self.store.get(record::REPLICA_KEY)? else { return Ok(()) };
        match Replica::restore(self.config.node, neighbours.iter().copied(), &bytes) {
            Some(replica) => {
                self.replica = replica;
                recovery.replica_restored = true;
            }
            None => self.corrupt_record(record::REPLICA_KEY, recovery),
        }
        Ok(())
    }

    fn recover_plan(&mut self, recovery: &mut Recovery) -> Result<(), StoreError> {
        let Some(bytes) = self.store.get(record::PLAN_KEY)? else { return Ok(()) };
        match record::decode_plan_record(&bytes) {
            Some((stamp, contacts)) => {
                self.plan_stamp = Some(stamp);
                self.received_plan = contacts;
            }
            None => self.corrupt_record(record::PLAN_KEY, recovery),
        }
        Ok(())
    }

    fn recover_sequence(&mut self) -> Result<(), StoreError> {
        let floor = self.store.get(record::SEQUENCE_KEY)?.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok()).map(u64::from_le_bytes);
        self.next_sequence = floor.unwrap_or(0);
        self.sequence_floor = self.next_sequence;
        Ok(())
    }

    /// Reloads held bundles page by page, at most `max_spooled` of them, visiting at most
    /// four times as many keys (so garbage in the store bounds the work too).
    fn recover_bundles(&mut self, recovery: &mut Recovery) -> Result<(), StoreError> {
        let budget = self.config.limits.max_spooled.saturating_mul(4);
        let mut visited = 0usize;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let keys = self.store.list(record::BUNDLE_PREFIX, after.as_deref(), RECOVERY_PAGE)?;
            let Some(last) = keys.last().cloned() else { break };
            for key in keys {
                visited += 1;
                if self.spool.len() >= self.config.limits.max_spooled || visited > budget {
                    recovery.left_behind = true;
                    return Ok(());
                }
                self.recover_one(&key, recovery)?;
            }
            after = Some(last);
        }
        Ok(())
    }

    fn recover_one(&mut self, key: &[u8], recovery: &mut Recovery) -> Result<(), StoreError> {
        let value = self.store.get(key)?.unwrap_or_default();
        let parsed = record::bundle_number(key).zip(record::decode_held(&value)).and_then(|(id, held)| {
            let bundle = Bundle::decode(held.bundle, Policy::Strict).ok()?;
            Some((id, held.kind, held.received_ms, bundle, held.bundle.len() as u64))
        });
        let Some((id, kind, received_ms, bundle, size)) = parsed else {
            self.corrupt_record(key, recovery);
            return Ok(());
        };
        self.next_id = self.next_id.max(id.saturating_add(1));
        recovery.bundles += 1;
        match kind {
            Kind::Forward => self.insert(id, Entry { kind, bundle, received_ms, size, state: EntryState::Waiting { not_before_ms: 0 } }),
            Kind::Deliver => {
                self.insert(id, Entry { kind, bundle, received_ms, size, state: EntryState::Delivering });
                self.emit_delivery(id);
            }
            Kind::Fragment => self.recover_fragment(id, bundle, received_ms, size),
        }
        Ok(())
    }

    /// A stored fragment goes back into the reassembler. If it completes a bundle, that
    /// bundle was stored whole before the fragments were deleted: the fragments go.
    fn recover_fragment(&mut self, id: u64, bundle: Bundle, received_ms: u64, size: u64) {
        let original = (bundle.source.clone(), bundle.creation);
        match self.reassembler.push(bundle.clone()) {
            Ok(None) => {
                self.fragments.entry(original).or_default().push(id);
                self.insert(id, Entry { kind: Kind::Fragment, bundle, received_ms, size, state: EntryState::Fragment });
            }
            Ok(Some(_)) => {
                for earlier in self.fragments.remove(&original).unwrap_or_default() {
                    self.remove_entry(earlier);
                }
                self.delete_key(&record::bundle_key(id));
            }
            Err(_) => self.delete_key(&record::bundle_key(id)),
        }
    }

    fn corrupt_record(&mut self, key: &[u8], recovery: &mut Recovery) {
        recovery.corrupt += 1;
        self.counters.refuse(Refusal::CorruptRecord);
        self.delete_key(key);
    }

    /// This node's number.
    pub fn node(&self) -> NodeNumber {
        self.config.node
    }

    /// Its configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Its counters since start.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The replicated state as this node sees it.
    pub fn state(&self) -> &FederatedState {
        self.replica.state()
    }

    /// Changes the replicated state with `change` (e.g. `|r| r.add_to_counter("jobs", 1)`)
    /// and stores it; if either fails, the replica is left as it was.
    pub fn update_replica(&mut self, change: impl FnOnce(&mut Replica) -> Result<(), ReplicationError>) -> Result<(), UpdateError> {
        let before = self.replica.clone();
        let outcome =
            change(&mut self.replica).map_err(UpdateError::Replication).and_then(|()| self.persist_replica().map_err(UpdateError::Store));
        if outcome.is_err() {
            self.replica = before;
        }
        outcome
    }

    fn persist_replica(&mut self) -> Result<(), StoreError> {
        self.store.put(record::REPLICA_KEY, &self.replica.durable_bytes(), Durability::Durable)
    }

    /// Bundles held (to forward, to deliver, fragments).
    pub fn spooled(&self) -> usize {
        self.spool.len()
    }

    /// Established sessions.
    pub fn sessions(&self) -> usize {
        self.connections.values().filter(|c| c.peer.is_some() && c.session.is_established()).count()
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably (e.g. to inject faults in tests).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Stops the node and gives its store back (to simulate a crash, or to shut down).
    pub fn into_store(self) -> S {
        self.store
    }

    /// The contact plan in force: the configured contacts, then those received in bundles.
    pub fn plan(&self) -> Vec<Contact> {
        let mut plan = self.config.contacts.clone();
        plan.extend_from_slice(&self.received_plan);
        plan
    }

    /// The next output, if any.
    pub fn poll(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Outputs waiting to be polled.
    pub fn pending_outputs(&self) -> usize {
        self.outputs.len()
    }

    fn log(&mut self, event: LogEvent) {
        self.outputs.push_back(Output::Log(event));
    }

    fn refuse(&mut self, conn: Option<ConnId>, reason: Refusal) {
        self.counters.refuse(reason);
        self.log(LogEvent::Refused { conn, reason });
    }
}
