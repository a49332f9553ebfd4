//! Time and forwarding: expiry, dialling and ending scheduled contacts, replication rounds,
//! routing and queueing bundles on sessions (in fragments when they do not fit).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::ToString;
use alloc::vec::Vec;

use tileos_bpv7::Bundle;
use tileos_tcpcl::TermReason;

use super::{Carried, ConnId, Entry, EntryState, FederationNode, LogEvent, Origin, Output};
use crate::config::{Clock, NodeNumber};
use crate::counters::DropReason;
use crate::record::Kind;
use crate::replica::REPLICATION_SERVICE;
use crate::routing::{self, Contact, Query};
use crate::store::BundleStore;
use crate::{ipn, node_of};

impl<S: BundleStore> FederationNode<S> {
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

    pub(super) fn is_expired(&self, bundle: &Bundle, received_ms: u64) -> bool {
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

    /// Dials neighbours whose link is open (never a client neighbour, which has no address)
    /// and ends sessions whose scheduled contact ended.
    fn manage_contacts(&mut self) {
        let plan = self.plan();
        let mut dial = Vec::new();
        for neighbour in &self.config.neighbours {
            let open = self.link_open(&plan, neighbour.node);
            let recently =
                self.last_dial.get(&neighbour.node).is_some_and(|t| self.now_ms < t.saturating_add(self.config.reconnect_interval_ms));
            if open && !recently && !neighbour.client && !self.has_connection(neighbour.node) {
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
        let full_state = self.replica.state().encoded_len() as u64;
        for peer in due {
            self.last_ship.insert(peer, self.now_ms);
            self.counters.replication_full_bytes += full_state;
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
    pub(super) fn send_replication(&mut self, peer: NodeNumber, payload: Vec<u8>) {
        let lifetime = self.config.replication_interval_ms.saturating_mul(4);
        let payload_len = payload.len() as u64;
        // Without a bundle (the store cannot keep the sequence floor) the round is skipped;
        // anti-entropy ships the same interval next round.
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

    /// Routes every waiting bundle, in arrival order, and queues those whose next hop has
    /// a session.
    pub(super) fn forward(&mut self) {
        let plan = self.plan();
        // What was handed to a contact already (bundles in flight included) is queued ahead
        // of what is routed now.
        let mut booked: BTreeMap<usize, u64> = plan.iter().enumerate().filter_map(|(i, c)| Some((i, *self.contact_use.get(c)?))).collect();
        let waiting: Vec<(u64, u64)> = self
            .spool
            .iter()
            .filter_map(|(id, e)| match e.state {
                EntryState::Waiting { not_before_ms } if e.kind == Kind::Forward => Some((*id, not_before_ms)),
                _ => None,
            })
            .collect();
        for (id, not_before_ms) in waiting {
            let Some(entry) = self.spool.get(&id) else { continue };
            let Some(hop) = self.next_hop(entry, &plan, &mut booked) else { continue };
            if not_before_ms <= self.now_ms {
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
            entry.state = EntryState::InFlight { to: hop, transfers, fragments: pieces.len() };
        }
    }

    /// What to send now for bundle `id` (its age brought up to date): the whole bundle if
    /// it fits; fragments of at most `fit.largest` bytes if the contact can carry it all;
    /// else a first fragment that fits the contact's remaining volume, the rest being
    /// stored as a new bundle for later contacts before anything is sent. A bundle that
    /// can never be sent is dropped; one that does not fit this contact waits.
    fn pieces(&mut self, id: u64, fit: Fit) -> Option<Vec<Vec<u8>>> {
        let entry = self.spool.get(&id)?;
        let bundle = outgoing(entry, self.now_ms, self.config.node);
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

/// The copy of a held bundle that leaves this node: its previous node block names this node
/// (RFC 9171 §4.4.1, replacing the last forwarder's), and its bundle age block (if it has
/// one, or has no creation time) includes the time it was held here.
fn outgoing(entry: &Entry, now_ms: u64, me: NodeNumber) -> Bundle {
    let mut bundle = entry.bundle.clone();
    bundle.set_previous_node(&ipn(me, 0));
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
