//! Connections: TCPCL sessions, their events, and what happens to transfers in flight when
//! one ends.

use alloc::collections::BTreeMap;
use alloc::string::ToString;

use tileos_bpv7::Eid;
use tileos_tcpcl::{self as tcpcl, FinalAck, RefuseReason, Session, SessionError, TermReason};

use super::{Carried, ConnId, Connection, EntryState, FederationNode, LogEvent, Origin, Output};
use crate::config::NodeNumber;
use crate::counters::{DropReason, Refusal};
use crate::store::BundleStore;
use crate::{ipn, node_of, service_of};

impl<S: BundleStore> FederationNode<S> {
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
    pub(super) fn drain(&mut self, conn: ConnId) {
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
            tcpcl::Event::Tolerated(deviation) => self.log(LogEvent::Tolerated { conn, deviation }),
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
                self.end_duplicate_session(conn, peer);
            }
            None => {
                connection.session.terminate(TermReason::ContactFailure);
                self.refuse(Some(conn), Refusal::UnknownPeer);
            }
        }
    }

    /// Two neighbours that dial each other at the same time end up with two sessions; each
    /// costs both a connection (a tile has few). Both ends keep the same one: the session
    /// dialled by the lower node number (between two sessions dialled by the same node, the
    /// newer). The other is terminated; its transfers in flight are queued again when it
    /// closes, and replication resends what it carried.
    fn end_duplicate_session(&mut self, conn: ConnId, peer: NodeNumber) {
        let me = self.config.node;
        let dialler = |origin: Origin| if matches!(origin, Origin::Dialled(_)) { me } else { peer };
        let Some(new_dialler) = self.connections.get(&conn).map(|c| dialler(c.origin)) else { return };
        let other = self
            .connections
            .iter()
            .find(|(id, c)| **id != conn && c.peer == Some(peer) && c.session.is_established())
            .map(|(id, c)| (*id, dialler(c.origin)));
        let Some((other, other_dialler)) = other else { return };
        let preferred = me.min(peer);
        let loser = if other_dialler == new_dialler || new_dialler == preferred { other } else { conn };
        if let Some(connection) = self.connections.get_mut(&loser) {
            connection.session.terminate(TermReason::Unknown);
        }
        self.counters.duplicate_sessions += 1;
        self.drain(loser);
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
