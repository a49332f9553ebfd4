//! [`FederationNode`]: the sans-IO state machine of a tile's federation service.
//!
//! The caller (the federation domain on a tile, the tile lab or a test) feeds it inputs —
//! the time, connections opening and closing, bytes read from them, local requests — and
//! takes its [`Output`]s with [`FederationNode::poll`]: bytes to write to a connection,
//! connections to open or close, bundles for local applications, log events. Storage goes
//! through the [`BundleStore`] the node owns, synchronously: when a call returns, what it
//! stored is stored.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use tileos_bpv7::{Bundle, CreationTimestamp, Eid, Policy, Reassembler};
use tileos_tcpcl::{self as tcpcl, FinalAck, RefuseReason, Session, SessionError, TermReason};

use crate::config::{Clock, ConfigError, NodeConfig, NodeNumber};
use crate::counters::{Counters, DropReason, Refusal};
use crate::record::{self, Kind};
use crate::replica::{FederatedState, REPLICATION_SERVICE, Replica, ReplicationError};
use crate::routing::{self, Contact, Query};
use crate::store::{BundleStore, Durability, StoreError};
use crate::{CONTACT_PLAN_SERVICE, ipn, node_of, service_of};

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
    /// Queued on a session: these transfers are not acknowledged yet.
    InFlight { conn: ConnId, to: NodeNumber, transfers: BTreeSet<u64>, fragments: usize },
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
}

impl<S: BundleStore> FederationNode<S> {
    /// Starts a node on `store`, reloading what an earlier run left there: bundles held
    /// (those for local applications are delivered again), fragments, the replica and a
    /// received contact plan. An empty store starts an empty node.
    pub fn recover(config: NodeConfig, store: S, now_ms: u64) -> Result<Self, RecoverError> {
        config.validate().map_err(RecoverError::Config)?;
        let neighbours: Vec<NodeNumber> = config.neighbours.iter().map(|n| n.node).collect();
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
        let outcome = change(&mut self.replica).map_err(UpdateError::Replication).and_then(|()| self.persist_replica().map_err(UpdateError::Store));
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

    // ---- connections -------------------------------------------------------------------

    /// A connection opened; the node starts a TCPCL session on it (an active one sends its
    /// contact header at once).
    pub fn connected(&mut self, conn: ConnId, origin: Origin, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        let role = match origin {
            Origin::Dialled(_) => tcpcl::Role::Active,
            Origin::Accepted => tcpcl::Role::Passive,
        };
        let mut config = tcpcl::Config::new(ipn(self.config.node, 0).to_string());
        config.keepalive_s = self.config.limits.keepalive_s;
        config.transfer_mru = self.config.limits.max_bundle_bytes;
        config.final_ack = FinalAck::Deferred;
        let session = Session::new(role, config, now_ms);
        if let Some(old) = self.connections.insert(conn, Connection { session, origin, peer: None, in_flight: BTreeMap::new() }) {
            self.requeue(old.in_flight);
        }
        self.drain(conn);
    }

    /// Bytes arrived on a connection. Work is proportional to `bytes.len()`.
    pub fn receive(&mut self, conn: ConnId, bytes: &[u8], now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        let Some(connection) = self.connections.get_mut(&conn) else { return };
        connection.session.receive(bytes, now_ms);
        self.drain(conn);
        self.forward();
    }

    /// The connection closed (or failed).
    pub fn disconnected(&mut self, conn: ConnId, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        let Some(connection) = self.connections.get_mut(&conn) else { return };
        connection.session.receive_eof();
        self.drain(conn);
    }

    /// Handles a session's events, then queues its bytes, then closes it if it is over.
    fn drain(&mut self, conn: ConnId) {
        while let Some(event) = self.connections.get_mut(&conn).and_then(|c| c.session.poll_event()) {
            self.on_event(conn, event);
        }
        let Some(connection) = self.connections.get_mut(&conn) else { return };
        while let Some(bytes) = connection.session.poll_transmit() {
            self.outputs.push_back(Output::Transmit { conn, bytes });
        }
        if connection.session.is_closed()
            && let Some(closed) = self.connections.remove(&conn)
        {
            self.requeue(closed.in_flight);
            self.outputs.push_back(Output::Close { conn });
        }
    }

    fn on_event(&mut self, conn: ConnId, event: tcpcl::Event) {
        match event {
            tcpcl::Event::Established(peer) => self.on_established(conn, &peer.node_id),
            tcpcl::Event::BundleReceived { transfer_id, data } => self.on_bundle(conn, transfer_id, &data),
            tcpcl::Event::TransferAcked { transfer_id, complete: true, .. } => self.on_acked(conn, transfer_id),
            tcpcl::Event::TransferRefused { transfer_id, reason } => self.on_refused(conn, transfer_id, reason),
            tcpcl::Event::Closed { error } => self.on_closed(conn, error),
            tcpcl::Event::TransferAcked { .. } | tcpcl::Event::Rejected { .. } | tcpcl::Event::Terminated { .. } => {}
        }
    }

    fn on_established(&mut self, conn: ConnId, node_id: &str) {
        let claimed = node_id.parse::<Eid>().ok().filter(|eid| service_of(eid) == Some(0)).and_then(|eid| node_of(&eid));
        let Some(connection) = self.connections.get_mut(&conn) else { return };
        let expected = match connection.origin {
            Origin::Dialled(node) => Some(node),
            Origin::Accepted => None,
        };
        let peer = claimed.filter(|node| self.config.is_neighbour(*node) && expected.is_none_or(|e| e == *node));
        match peer {
            Some(peer) => {
                connection.peer = Some(peer);
                self.last_ship.remove(&peer);
                self.log(LogEvent::SessionUp { conn, peer });
            }
            None => {
                connection.session.terminate(TermReason::ContactFailure);
                self.refuse(Some(conn), Refusal::UnknownPeer);
            }
        }
    }

    fn on_closed(&mut self, conn: ConnId, error: Option<SessionError>) {
        let peer = self.connections.get(&conn).and_then(|c| c.peer);
        match error.as_ref().map(session_refusal) {
            Some(Some(reason)) => self.refuse(Some(conn), reason),
            Some(None) => self.counters.sessions_lost += 1,
            None => {}
        }
        self.log(LogEvent::SessionDown { conn, peer, error });
    }

    fn on_acked(&mut self, conn: ConnId, transfer_id: u64) {
        let Some(Carried::Bundle(id)) = self.connections.get_mut(&conn).and_then(|c| c.in_flight.remove(&transfer_id)) else { return };
        let Some(entry) = self.spool.get_mut(&id) else { return };
        let EntryState::InFlight { transfers, to, fragments, .. } = &mut entry.state else { return };
        transfers.remove(&transfer_id);
        if !transfers.is_empty() {
            return;
        }
        let (to, fragments) = (*to, *fragments);
        self.remove_entry(id);
        self.counters.forwarded += 1;
        self.log(LogEvent::Forwarded { id, to, fragments });
    }

    /// The next hop refused a transfer: a bundle it will never take (RFC 9174 "not
    /// acceptable") is dropped; otherwise it is tried again later.
    fn on_refused(&mut self, conn: ConnId, transfer_id: u64, reason: RefuseReason) {
        let Some(Carried::Bundle(id)) = self.connections.get_mut(&conn).and_then(|c| c.in_flight.remove(&transfer_id)) else { return };
        self.counters.refused_by_peer += 1;
        if reason == RefuseReason::NotAcceptable && self.spool.contains_key(&id) {
            self.remove_entry(id);
            self.counters.drop_bundle(DropReason::RefusedByPeer);
            self.log(LogEvent::Dropped { id, reason: DropReason::RefusedByPeer });
            return;
        }
        let retry = self.now_ms.saturating_add(self.config.reconnect_interval_ms);
        if let Some(entry) = self.spool.get_mut(&id) {
            entry.state = EntryState::Waiting { not_before_ms: retry };
        }
    }

    /// Transfers of a connection that went away: their bundles wait for another chance.
    fn requeue(&mut self, in_flight: BTreeMap<u64, Carried>) {
        for carried in in_flight.into_values() {
            if let Carried::Bundle(id) = carried
                && let Some(entry) = self.spool.get_mut(&id)
                && matches!(entry.state, EntryState::InFlight { .. })
            {
                entry.state = EntryState::Waiting { not_before_ms: 0 };
            }
        }
    }

    // ---- custody: receiving ------------------------------------------------------------

    /// A whole bundle arrived. It is acknowledged only after it is stored (or consumed and
    /// its effect stored); otherwise the transfer is refused and the sender keeps custody.
    fn on_bundle(&mut self, conn: ConnId, transfer_id: u64, data: &[u8]) {
        let Some(peer) = self.connections.get(&conn).and_then(|c| c.peer) else { return };
        let outcome = self.take_bundle(peer, data);
        let Some(connection) = self.connections.get_mut(&conn) else { return };
        match outcome {
            Ok(()) => {
                connection.session.acknowledge(transfer_id);
            }
            Err(reason) => {
                let refuse = if matches!(reason, Refusal::SpoolFull | Refusal::StoreFailed) {
                    RefuseReason::NoResources
                } else {
                    RefuseReason::NotAcceptable
                };
                connection.session.refuse_received(transfer_id, refuse);
                self.refuse(Some(conn), reason);
            }
        }
    }

    fn take_bundle(&mut self, peer: NodeNumber, data: &[u8]) -> Result<(), Refusal> {
        let bundle = Bundle::decode(data, Policy::Strict).map_err(|e| bundle_refusal(&e))?;
        if self.is_expired(&bundle, self.now_ms) {
            self.counters.drop_bundle(DropReason::Expired);
            return Ok(());
        }
        if node_of(&bundle.destination) != Some(self.config.node) {
            self.hold(Kind::Forward, bundle, data)?;
            self.counters.received += 1;
            return Ok(());
        }
        if self.recent.contains(&(bundle.source.clone(), bundle.creation)) {
            // Sent again after a lost acknowledgement: acknowledge, do not deliver twice.
            self.counters.duplicates += 1;
            return Ok(());
        }
        match service_of(&bundle.destination) {
            Some(REPLICATION_SERVICE) => self.take_replication(peer, &bundle),
            Some(CONTACT_PLAN_SERVICE) => self.take_plan(&bundle),
            _ if bundle.fragment.is_some() => self.take_fragment(bundle, data),
            _ => {
                self.hold(Kind::Deliver, bundle, data)?;
                self.counters.received += 1;
                Ok(())
            }
        }
    }

    /// Stores a bundle durably and adds it to the spool; returns its spool number.
    fn hold(&mut self, kind: Kind, bundle: Bundle, encoded: &[u8]) -> Result<u64, Refusal> {
        let size = encoded.len() as u64;
        let limits = &self.config.limits;
        if self.spool.len() >= limits.max_spooled || self.spool_bytes.saturating_add(size) > limits.max_spool_bytes {
            return Err(Refusal::SpoolFull);
        }
        let id = self.next_id;
        let value = record::encode_held(kind, self.now_ms, encoded);
        self.store.put(&record::bundle_key(id), &value, Durability::Durable).map_err(|_| Refusal::StoreFailed)?;
        self.next_id += 1;
        let state = match kind {
            Kind::Forward => EntryState::Waiting { not_before_ms: 0 },
            Kind::Deliver => EntryState::Delivering,
            Kind::Fragment => EntryState::Fragment,
        };
        self.insert(id, Entry { kind, bundle, received_ms: self.now_ms, size, state });
        self.log(LogEvent::Stored { id, kind });
        if kind == Kind::Deliver {
            self.emit_delivery(id);
        }
        Ok(id)
    }

    fn insert(&mut self, id: u64, entry: Entry) {
        self.spool_bytes = self.spool_bytes.saturating_add(entry.size);
        self.spool.insert(id, entry);
    }

    /// Forgets a held bundle and deletes its record (durably: a crash after this does not
    /// bring it back; a crash just before it, after the next hop's acknowledgement, does,
    /// and the bundle is then sent or delivered twice — never lost).
    fn remove_entry(&mut self, id: u64) {
        if let Some(entry) = self.spool.remove(&id) {
            self.spool_bytes = self.spool_bytes.saturating_sub(entry.size);
        }
        self.delete_key(&record::bundle_key(id));
    }

    fn delete_key(&mut self, key: &[u8]) {
        // A failed delete leaves a record that recovery reloads: a duplicate, not a loss.
        let _ = self.store.delete(key, Durability::Durable);
    }

    fn emit_delivery(&mut self, id: u64) {
        let Some(entry) = self.spool.get(&id) else { return };
        if self.recent.len() >= RECENT_DELIVERIES {
            self.recent.pop_front();
        }
        self.recent.push_back((entry.bundle.source.clone(), entry.bundle.creation));
        let delivery = Delivery {
            id,
            source: entry.bundle.source.clone(),
            service: service_of(&entry.bundle.destination).unwrap_or(0),
            payload: entry.bundle.payload().to_vec(),
        };
        self.outputs.push_back(Output::Deliver(delivery));
    }

    /// The caller handed delivery `id` to its application: the bundle is deleted.
    pub fn delivered(&mut self, id: u64) {
        if self.spool.get(&id).is_some_and(|e| e.state == EntryState::Delivering) {
            self.remove_entry(id);
            self.counters.delivered += 1;
        }
    }

    /// A fragment for this node: stored until its bundle is whole; the whole bundle is
    /// stored before the fragments are deleted.
    fn take_fragment(&mut self, bundle: Bundle, data: &[u8]) -> Result<(), Refusal> {
        let original = (bundle.source.clone(), bundle.creation);
        let whole = self.reassembler.push(bundle.clone()).map_err(|_| Refusal::Reassembly)?;
        self.counters.received += 1;
        let Some(whole) = whole else {
            let id = self.hold(Kind::Fragment, bundle, data)?;
            self.fragments.entry(original).or_default().push(id);
            return Ok(());
        };
        let encoded = whole.encode().map_err(|_| Refusal::Reassembly)?;
        self.hold(Kind::Deliver, whole, &encoded)?;
        self.counters.reassembled += 1;
        for id in self.fragments.remove(&original).unwrap_or_default() {
            self.remove_entry(id);
        }
        Ok(())
    }

    fn take_replication(&mut self, peer: NodeNumber, bundle: &Bundle) -> Result<(), Refusal> {
        let from = node_of(&bundle.source).filter(|n| *n == peer && service_of(&bundle.source) == Some(REPLICATION_SERVICE));
        let from = from.ok_or(Refusal::MalformedReplication)?;
        let before = self.replica.clone();
        let received = self.replica.receive(from, bundle.payload()).map_err(|_| Refusal::MalformedReplication)?;
        if received.changed && self.persist_replica().is_err() {
            // Not stored, so not acknowledged: forget it; the peer sends it again.
            self.replica = before;
            return Err(Refusal::StoreFailed);
        }
        self.counters.replication_received += 1;
        if let Some(reply) = received.reply {
            self.send_replication(from, reply);
        }
        Ok(())
    }

    fn take_plan(&mut self, bundle: &Bundle) -> Result<(), Refusal> {
        let authorised = node_of(&bundle.source).is_some_and(|n| self.config.plan_authorities.contains(&n));
        if !authorised {
            return Err(Refusal::BadContactPlan);
        }
        let contacts = routing::decode_plan(bundle.payload()).map_err(|_| Refusal::BadContactPlan)?;
        if self.plan_stamp.is_some_and(|stamp| stamp >= bundle.creation) {
            return Ok(());
        }
        let value = record::encode_plan_record(bundle.creation, &contacts);
        self.store.put(record::PLAN_KEY, &value, Durability::Durable).map_err(|_| Refusal::StoreFailed)?;
        self.plan_stamp = Some(bundle.creation);
        let count = contacts.len();
        self.received_plan = contacts;
        self.log(LogEvent::PlanReceived { contacts: count });
        Ok(())
    }

    // ---- local requests ----------------------------------------------------------------

    /// A local application sends `payload` to `destination` from service `source_service`
    /// of this node. The bundle is stored before this returns; the answer is its creation
    /// sequence number.
    pub fn send(&mut self, source_service: u32, destination: Eid, payload: Vec<u8>, lifetime_ms: u64) -> Result<u64, SendError> {
        if destination.is_null() || payload.len() as u64 > self.config.limits.max_spool_bytes {
            return Err(SendError::BadDestination);
        }
        let bundle = self.new_bundle(source_service, destination, payload, lifetime_ms).map_err(|_| SendError::StoreFailed)?;
        let sequence = bundle.creation.sequence;
        let encoded = bundle.encode().map_err(|_| SendError::BadDestination)?;
        let kind = if node_of(&bundle.destination) == Some(self.config.node) { Kind::Deliver } else { Kind::Forward };
        self.hold(kind, bundle, &encoded).map_err(|reason| match reason {
            Refusal::SpoolFull => SendError::SpoolFull,
            _ => SendError::StoreFailed,
        })?;
        self.counters.created += 1;
        self.forward();
        Ok(sequence)
    }

    /// A new bundle from this node, stamped by its clock (creation time, or time 0 and a
    /// bundle age block without a synchronized clock).
    fn new_bundle(&mut self, service: u32, destination: Eid, payload: Vec<u8>, lifetime_ms: u64) -> Result<Bundle, StoreError> {
        let sequence = self.take_sequence()?;
        let mut builder = Bundle::builder(ipn(self.config.node, service), destination).lifetime_ms(lifetime_ms).payload(payload);
        builder = match self.config.clock {
            Clock::Synchronized => builder.creation(CreationTimestamp { time_ms: self.now_ms.max(1), sequence }),
            Clock::Unsynchronized => builder.creation(CreationTimestamp { time_ms: 0, sequence }).bundle_age_ms(0),
        };
        // The builder only fails on reserved block types or a fragment flag, neither used here.
        builder.build().map_err(|_| StoreError::Corrupt)
    }

    /// The next creation sequence number; the floor in the store is raised a block at a
    /// time, so numbers are never reused after a restart.
    fn take_sequence(&mut self) -> Result<u64, StoreError> {
        if self.next_sequence >= self.sequence_floor {
            let floor = self.next_sequence.saturating_add(SEQUENCE_BLOCK);
            self.store.put(record::SEQUENCE_KEY, &floor.to_le_bytes(), Durability::Durable)?;
            self.sequence_floor = floor;
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        Ok(sequence)
    }

    // ---- time, forwarding, replication -------------------------------------------------

    /// Advances the clock: session keepalives, expiry, dialling and ending scheduled
    /// contacts, replication rounds and forwarding.
    pub fn tick(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        let conns: Vec<ConnId> = self.connections.keys().copied().collect();
        for conn in &conns {
            if let Some(connection) = self.connections.get_mut(conn) {
                connection.session.tick(self.now_ms);
            }
            self.drain(*conn);
        }
        self.expire();
        let now = self.now_ms;
        self.contact_use.retain(|contact, _| contact.end_ms > now);
        self.manage_contacts();
        self.replicate();
        self.forward();
    }

    fn is_expired(&self, bundle: &Bundle, received_ms: u64) -> bool {
        let clock = match self.config.clock {
            Clock::Synchronized => Some(self.now_ms),
            Clock::Unsynchronized => None,
        };
        // A bundle whose age cannot be told is treated as expired.
        bundle.is_expired(clock, self.now_ms.saturating_sub(received_ms)).unwrap_or(true)
    }

    /// The node time by which `entry` must arrive.
    fn deadline(&self, entry: &Entry) -> u64 {
        let bundle = &entry.bundle;
        if self.config.clock == Clock::Synchronized && bundle.creation.time_ms != 0 {
            return bundle.creation.time_ms.saturating_add(bundle.lifetime_ms);
        }
        let age = bundle.bundle_age_ms().ok().flatten().unwrap_or(0);
        entry.received_ms.saturating_add(bundle.lifetime_ms.saturating_sub(age))
    }

    fn expire(&mut self) {
        let expired: Vec<u64> = self
            .spool
            .iter()
            .filter(|(_, e)| !matches!(e.state, EntryState::InFlight { .. }) && self.is_expired(&e.bundle, e.received_ms))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let original = self.spool.get(&id).filter(|e| e.kind == Kind::Fragment).map(|e| (e.bundle.source.clone(), e.bundle.creation));
            if let Some((source, creation)) = original {
                self.reassembler.discard(&source, creation);
                self.fragments.remove(&(source, creation));
            }
            self.remove_entry(id);
            self.counters.drop_bundle(DropReason::Expired);
            self.log(LogEvent::Dropped { id, reason: DropReason::Expired });
        }
    }

    /// Whether the link to `node` may be used now: during one of its contacts if the plan
    /// schedules it, always otherwise.
    fn link_open(&self, plan: &[Contact], node: NodeNumber) -> bool {
        let mut scheduled = plan.iter().filter(|c| c.from == self.config.node && c.to == node).peekable();
        scheduled.peek().is_none() || scheduled.any(|c| c.is_open(self.now_ms))
    }

    fn has_connection(&self, node: NodeNumber) -> bool {
        self.connections.values().any(|c| c.peer == Some(node) || c.origin == Origin::Dialled(node))
    }

    /// Dials neighbours whose link is open and ends sessions whose scheduled contact ended.
    fn manage_contacts(&mut self) {
        let plan = self.plan();
        let mut dial = Vec::new();
        for neighbour in &self.config.neighbours {
            let open = self.link_open(&plan, neighbour.node);
            let recently = self.last_dial.get(&neighbour.node).is_some_and(|t| self.now_ms < t.saturating_add(self.config.reconnect_interval_ms));
            if open && !recently && !self.has_connection(neighbour.node) {
                dial.push(neighbour.clone());
            }
        }
        for neighbour in dial {
            self.last_dial.insert(neighbour.node, self.now_ms);
            self.outputs.push_back(Output::Connect { node: neighbour.node, address: neighbour.address });
        }
        let closing: Vec<ConnId> =
            self.connections.iter().filter(|(_, c)| c.peer.is_some_and(|p| !self.link_open(&plan, p))).map(|(id, _)| *id).collect();
        for conn in closing {
            if let Some(connection) = self.connections.get_mut(&conn) {
                connection.session.terminate(TermReason::Unknown);
            }
            self.drain(conn);
        }
    }

    /// Ships replicated state to every neighbour with a session whose round is due.
    fn replicate(&mut self) {
        let due: Vec<NodeNumber> = self
            .connections
            .values()
            .filter(|c| c.session.is_established())
            .filter_map(|c| c.peer)
            .filter(|p| self.last_ship.get(p).is_none_or(|t| self.now_ms >= t.saturating_add(self.config.replication_interval_ms)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if due.is_empty() {
            return;
        }
        self.publish_counters();
        for peer in due {
            self.last_ship.insert(peer, self.now_ms);
            if let Ok(Some(payload)) = self.replica.ship(peer) {
                self.send_replication(peer, payload);
            }
        }
    }

    /// Adds what this node counted since the last round to the replicated `bundles.*`
    /// counters and stores the replica, or, if the store fails, changes nothing (a counter
    /// entry shipped but not stored could be shipped again lower after a restart, and its
    /// later increments would be lost in the join).
    fn publish_counters(&mut self) {
        let c = &self.counters;
        let current = [
            ("bundles.received", c.received),
            ("bundles.created", c.created),
            ("bundles.forwarded", c.forwarded),
            ("bundles.delivered", c.delivered),
            ("bundles.dropped.expired", c.dropped(DropReason::Expired)),
            ("bundles.dropped.unforwardable", c.dropped(DropReason::Unforwardable)),
            ("bundles.dropped.refused-by-peer", c.dropped(DropReason::RefusedByPeer)),
            ("bundles.refused", c.refused_total()),
        ];
        let changes: Vec<(&'static str, u64, i64)> = current
            .into_iter()
            .filter_map(|(name, value)| {
                let before = self.published.get(name).copied().unwrap_or(0);
                let delta = i64::try_from(value.saturating_sub(before)).unwrap_or(i64::MAX);
                (delta > 0).then_some((name, value, delta))
            })
            .collect();
        if changes.is_empty() {
            return;
        }
        let applied = self.update_replica(|replica| changes.iter().try_for_each(|(name, _, delta)| replica.add_to_counter(name, *delta)));
        if applied.is_ok() {
            for (name, value, _) in changes {
                self.published.insert(name, value);
            }
        }
    }

    /// Sends a replication message straight on a session to `peer` (not spooled).
    fn send_replication(&mut self, peer: NodeNumber, payload: Vec<u8>) {
        let lifetime = self.config.replication_interval_ms.saturating_mul(4);
        let payload_len = payload.len() as u64;
        let Ok(bundle) = self.new_bundle(REPLICATION_SERVICE, ipn(peer, REPLICATION_SERVICE), payload, lifetime) else { return };
        let Ok(encoded) = bundle.encode() else { return };
        let Some((conn, connection)) = self.connections.iter_mut().find(|(_, c)| c.peer == Some(peer) && c.session.is_established()) else {
            return;
        };
        if let Ok(transfer) = connection.session.send_bundle(encoded) {
            connection.in_flight.insert(transfer, Carried::Replication);
            self.counters.replication_sent += 1;
            self.counters.replication_bytes += payload_len;
            let conn = *conn;
            self.drain(conn);
        }
    }

    /// Routes every waiting bundle and queues those whose next hop has a session.
    fn forward(&mut self) {
        let plan = self.plan();
        // What was handed to a contact already is queued ahead of what is routed now.
        let mut booked: BTreeMap<usize, u64> =
            plan.iter().enumerate().filter_map(|(i, c)| Some((i, *self.contact_use.get(c)?))).collect();
        let ids: Vec<u64> = self.spool.iter().filter(|(_, e)| e.kind == Kind::Forward).map(|(id, _)| *id).collect();
        for id in ids {
            let Some(entry) = self.spool.get(&id) else { continue };
            let Some(hop) = self.next_hop(entry, &plan, &mut booked) else { continue };
            let ready = matches!(entry.state, EntryState::Waiting { not_before_ms } if not_before_ms <= self.now_ms);
            if ready {
                self.send_to(id, hop, &plan);
            }
        }
        let conns: Vec<ConnId> = self.connections.keys().copied().collect();
        for conn in conns {
            self.drain(conn);
        }
    }

    /// The neighbour to hand `entry` to: contact-graph routing if the plan has contacts from
    /// this node, then a neighbour that is the destination, then the static routes.
    fn next_hop(&self, entry: &Entry, plan: &[Contact], booked: &mut BTreeMap<usize, u64>) -> Option<NodeNumber> {
        let destination = node_of(&entry.bundle.destination);
        if let Some(to) = destination
            && plan.iter().any(|c| c.from == self.config.node)
        {
            let query = Query { from: self.config.node, to, now_ms: self.now_ms, size: entry.size, deadline_ms: self.deadline(entry) };
            if let Some(route) = routing::earliest_arrival(plan, &query, booked) {
                *booked.entry(route.contacts[0]).or_insert(0) += entry.size;
                return Some(route.next_hop);
            }
        }
        if let Some(to) = destination.filter(|d| self.config.is_neighbour(*d)) {
            return Some(to);
        }
        let text = entry.bundle.destination.to_string();
        self.config.routes.iter().find(|r| r.matches(&text)).map(|r| r.via)
    }

    /// The scheduled contact to `hop` open now, if there is one.
    fn open_contact(&self, hop: NodeNumber, plan: &[Contact]) -> Option<Contact> {
        plan.iter().filter(|c| c.from == self.config.node && c.to == hop && c.is_open(self.now_ms)).max_by_key(|c| c.end_ms).copied()
    }

    /// What `contact` can still carry: its volume left in time, less what was handed to it.
    fn residual_volume(&self, contact: &Contact) -> u64 {
        let used = self.contact_use.get(contact).copied().unwrap_or(0);
        let unused = contact.remaining_volume(contact.start_ms).saturating_sub(used);
        contact.remaining_volume(self.now_ms).min(unused)
    }

    /// Queues spooled bundle `id` on a session to `hop`, in fragments if it does not fit.
    /// Nothing goes to a scheduled neighbour outside its contacts, even if it has dialled in.
    fn send_to(&mut self, id: u64, hop: NodeNumber, plan: &[Contact]) {
        if !self.link_open(plan, hop) {
            return;
        }
        let max_in_flight = self.config.limits.max_in_flight;
        let Some((conn, peer_mru)) = self
            .connections
            .iter()
            .find(|(_, c)| c.peer == Some(hop) && c.session.is_established() && c.in_flight.len() < max_in_flight)
            .and_then(|(id, c)| Some((*id, c.session.peer()?.transfer_mru)))
        else {
            return;
        };
        let contact = self.open_contact(hop, plan);
        let fit = Fit { largest: self.config.limits.max_bundle_bytes.min(peer_mru), volume: contact.map(|c| self.residual_volume(&c)) };
        let Some(pieces) = self.pieces(id, fit) else { return };
        let Some(connection) = self.connections.get_mut(&conn) else { return };
        let mut transfers = BTreeSet::new();
        for piece in &pieces {
            match connection.session.send_bundle(piece.clone()) {
                Ok(transfer) => {
                    connection.in_flight.insert(transfer, Carried::Bundle(id));
                    transfers.insert(transfer);
                }
                Err(_) => break,
            }
        }
        if transfers.len() != pieces.len() {
            // Those queued go anyway; the bundle stays waiting and goes again later.
            for transfer in &transfers {
                connection.in_flight.remove(transfer);
            }
            return;
        }
        if let Some(contact) = contact {
            let bytes: u64 = pieces.iter().map(|p| p.len() as u64).sum();
            *self.contact_use.entry(contact).or_insert(0) += bytes;
        }
        if let Some(entry) = self.spool.get_mut(&id) {
            entry.state = EntryState::InFlight { conn, to: hop, transfers, fragments: pieces.len() };
        }
    }

    /// What to send now for bundle `id` (its age brought up to date): the whole bundle if
    /// it fits; fragments of at most `fit.largest` bytes if the contact can carry it all;
    /// else a first fragment that fits the contact's remaining volume, the rest being
    /// stored as a new bundle for later contacts before anything is sent. A bundle that
    /// can never be sent is dropped; one that does not fit this contact waits.
    fn pieces(&mut self, id: u64, fit: Fit) -> Option<Vec<Vec<u8>>> {
        let entry = self.spool.get(&id)?;
        let bundle = aged(entry, self.now_ms);
        let encoded = bundle.encode().ok()?;
        let size = encoded.len() as u64;
        let volume = fit.volume.unwrap_or(u64::MAX);
        if size <= fit.largest.min(volume) {
            return Some(alloc::vec![encoded]);
        }
        let split = if size <= volume { fragment_all(&bundle, fit.largest) } else { self.split_head(&bundle, fit.largest.min(volume)) };
        match split {
            Some(pieces) => {
                self.counters.fragments_made += pieces.len() as u64;
                Some(pieces)
            }
            None => {
                if fit.volume.is_none_or(|v| v >= fit.largest) && fit.largest >= self.config.limits.max_bundle_bytes {
                    self.remove_entry(id);
                    self.counters.drop_bundle(DropReason::Unforwardable);
                    self.log(LogEvent::Dropped { id, reason: DropReason::Unforwardable });
                }
                None
            }
        }
    }

    /// Cuts `bundle` into a first fragment of at most `limit` bytes, returned encoded, and
    /// the rest, stored as a new bundle to forward.
    fn split_head(&mut self, bundle: &Bundle, limit: u64) -> Option<Vec<Vec<u8>>> {
        let pieces = bundle.fragment(usize::try_from(limit).ok()?).ok()?;
        let (head, tail) = pieces.split_first()?;
        let mut rest = tail.first()?.clone();
        if let Some(payload) = rest.blocks.last_mut() {
            payload.data = tail.iter().flat_map(|piece| piece.payload().iter().copied()).collect();
        }
        let encoded_rest = rest.encode().ok()?;
        self.hold(Kind::Forward, rest, &encoded_rest).ok()?;
        Some(alloc::vec![head.encode().ok()?])
    }
}

/// How large what is sent to a hop now may be.
#[derive(Clone, Copy, Debug)]
struct Fit {
    /// Largest bundle: the configured maximum and the peer's transfer MRU.
    largest: u64,
    /// What the scheduled contact open now can still carry, if the link is scheduled.
    volume: Option<u64>,
}

/// A copy of a held bundle whose bundle age block (if it has one, or has no creation time)
/// includes the time it was held here.
fn aged(entry: &Entry, now_ms: u64) -> Bundle {
    let mut bundle = entry.bundle.clone();
    if bundle.creation.time_ms == 0 || bundle.block(tileos_bpv7::block_type::BUNDLE_AGE).is_some() {
        let age = bundle.bundle_age_ms().ok().flatten().unwrap_or(0);
        bundle.set_bundle_age_ms(age.saturating_add(now_ms.saturating_sub(entry.received_ms)));
    }
    bundle
}

/// All fragments of `bundle` at most `limit` bytes each, encoded.
fn fragment_all(bundle: &Bundle, limit: u64) -> Option<Vec<Vec<u8>>> {
    let pieces = bundle.fragment(usize::try_from(limit).ok()?).ok()?;
    pieces.iter().map(Bundle::encode).collect::<Result<Vec<_>, _>>().ok()
}

/// The refusal a session error counts as, or `None` for a lost connection (not bad input).
fn session_refusal(error: &SessionError) -> Option<Refusal> {
    match error {
        SessionError::BadMagic | SessionError::VersionMismatch(_) => Some(Refusal::TcpclContactHeader),
        SessionError::ContactFailure(_) => Some(Refusal::TcpclSessionInit),
        SessionError::UnknownMessageType(_) | SessionError::UnexpectedMessage(_) => Some(Refusal::TcpclMessage),
        SessionError::SegmentTooLarge | SessionError::ExtensionsTooLarge => Some(Refusal::TcpclTooLarge),
        SessionError::IdleTimeout | SessionError::UnexpectedEof => None,
    }
}

/// The refusal a bundle decoding error counts as.
fn bundle_refusal(error: &tileos_bpv7::Error) -> Refusal {
    match error {
        tileos_bpv7::Error::PrimaryBlockUnprotected => Refusal::UnprotectedPrimary,
        tileos_bpv7::Error::MissingBundleAge | tileos_bpv7::Error::InvalidBundleAge => Refusal::BadBundleAge,
        _ => Refusal::MalformedBundle,
    }
}
