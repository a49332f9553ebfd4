//! Custody: taking bundles from peers and local applications (stored before they are
//! acknowledged or answered), local delivery, reassembly, replication and plan bundles.

use alloc::vec::Vec;

use tileos_bpv7::{Bundle, CreationTimestamp, Eid, Policy};
use tileos_tcpcl::RefuseReason;

use super::{
    ConnId, Delivery, Entry, EntryState, FederationNode, LogEvent, Original, Output, RECENT_DELIVERIES, SEQUENCE_BLOCK, SendError,
};
use crate::config::{Clock, NodeNumber};
use crate::counters::{DropReason, Refusal};
use crate::record::{self, Kind};
use crate::replica::REPLICATION_SERVICE;
use crate::routing;
use crate::store::{BundleStore, Durability, StoreError};
use crate::{CONTACT_PLAN_SERVICE, ipn, node_of, service_of};

impl<S: BundleStore> FederationNode<S> {
    /// A whole bundle arrived. It is acknowledged only after it is stored (or consumed and
    /// its effect stored); otherwise the transfer is refused and the sender keeps custody.
    pub(super) fn on_bundle(&mut self, conn: ConnId, transfer_id: u64, data: &[u8]) {
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
    pub(super) fn hold(&mut self, kind: Kind, bundle: Bundle, encoded: &[u8]) -> Result<u64, Refusal> {
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

    pub(super) fn insert(&mut self, id: u64, entry: Entry) {
        self.spool_bytes = self.spool_bytes.saturating_add(entry.size);
        self.spool.insert(id, entry);
    }

    /// Forgets a held bundle and deletes its record (durably: a crash after this does not
    /// bring it back; a crash just before it, after the next hop's acknowledgement, does,
    /// and the bundle is then sent or delivered twice — never lost).
    pub(super) fn remove_entry(&mut self, id: u64) {
        if let Some(entry) = self.spool.remove(&id) {
            self.spool_bytes = self.spool_bytes.saturating_sub(entry.size);
        }
        self.delete_key(&record::bundle_key(id));
    }

    pub(super) fn delete_key(&mut self, key: &[u8]) {
        // A failed delete leaves a record that recovery reloads: a duplicate, not a loss.
        let _ = self.store.delete(key, Durability::Durable);
    }

    pub(super) fn emit_delivery(&mut self, id: u64) {
        let Some(entry) = self.spool.get(&id) else { return };
        if self.recent.len() >= RECENT_DELIVERIES {
            self.recent.pop_front();
        }
        self.recent.push_back((entry.bundle.source.clone(), entry.bundle.creation));
        let delivery = Delivery {
            id,
            source: entry.bundle.source.clone(),
            service: service_of(&entry.bundle.destination).unwrap_or(0),
            creation: entry.bundle.creation,
            previous_node: entry.bundle.previous_node().ok().flatten(),
            payload: entry.bundle.payload().to_vec(),
        };
        if self.config.local_service(delivery.service).is_some() {
            self.held_for_local.push_back(id);
            self.outputs.push_back(Output::Held(delivery));
        } else {
            self.outputs.push_back(Output::Deliver(delivery));
        }
    }

    /// The oldest bundle held for local service `service`: its spool number and bundle.
    pub(crate) fn held_for(&self, service: u32) -> Option<(u64, &Bundle)> {
        self.held_for_local.iter().find_map(|id| {
            let bundle = &self.spool.get(id)?.bundle;
            (service_of(&bundle.destination) == Some(service)).then_some((*id, bundle))
        })
    }

    /// A local domain took held bundle `id` of service `service`: it is deleted. False if
    /// no such bundle is held for that service.
    pub(crate) fn confirm_held(&mut self, id: u64, service: u32) -> bool {
        let held = self.held_for_local.iter().position(|h| *h == id);
        let Some(position) = held.filter(|_| self.spool.get(&id).is_some_and(|e| service_of(&e.bundle.destination) == Some(service)))
        else {
            return false;
        };
        self.held_for_local.remove(position);
        self.remove_entry(id);
        self.counters.delivered += 1;
        true
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
        let Some(whole) = whole else {
            let id = self.hold(Kind::Fragment, bundle, data)?;
            self.fragments.entry(original).or_default().push(id);
            self.counters.received += 1;
            return Ok(());
        };
        let stored = whole.encode().map_err(|_| Refusal::Reassembly).and_then(|encoded| self.hold(Kind::Deliver, whole, &encoded));
        if let Err(reason) = stored {
            // The reassembler let go of the pieces; give it back the stored ones, so that the
            // refused fragment, sent again, completes the bundle.
            self.refill_reassembler(&original);
            return Err(reason);
        }
        self.counters.received += 1;
        self.counters.reassembled += 1;
        for id in self.fragments.remove(&original).unwrap_or_default() {
            self.remove_entry(id);
        }
        Ok(())
    }

    /// Pushes the stored fragments of `original` into the reassembler again.
    fn refill_reassembler(&mut self, original: &Original) {
        for id in self.fragments.get(original).cloned().unwrap_or_default() {
            if let Some(entry) = self.spool.get(&id) {
                // These pieces were accepted before; the buffer they need was just freed.
                let _ = self.reassembler.push(entry.bundle.clone());
            }
        }
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

    /// A local application sends `payload` to `destination` from service `source_service`
    /// of this node. The bundle is stored before this returns; the answer is its creation
    /// sequence number.
    pub fn send(&mut self, source_service: u32, destination: Eid, payload: Vec<u8>, lifetime_ms: u64) -> Result<u64, SendError> {
        if destination.is_null() || payload.len() as u64 > self.config.limits.max_spool_bytes {
            return Err(SendError::BadDestination);
        }
        let bundle = self.new_bundle(source_service, destination, payload, lifetime_ms)?;
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
    pub(super) fn new_bundle(&mut self, service: u32, destination: Eid, payload: Vec<u8>, lifetime_ms: u64) -> Result<Bundle, SendError> {
        let sequence = self.take_sequence().map_err(|_| SendError::StoreFailed)?;
        let mut builder = Bundle::builder(ipn(self.config.node, service), destination).lifetime_ms(lifetime_ms).payload(payload);
        builder = match self.config.clock {
            Clock::Synchronized => builder.creation(CreationTimestamp { time_ms: self.now_ms.max(1), sequence }),
            Clock::Unsynchronized => builder.creation(CreationTimestamp { time_ms: 0, sequence }).bundle_age_ms(0),
        };
        // The builder only fails on reserved block types or a fragment flag, neither used here.
        builder.build().map_err(|_| SendError::BadDestination)
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
}

/// The refusal a bundle decoding error counts as.
fn bundle_refusal(error: &tileos_bpv7::Error) -> Refusal {
    match error {
        tileos_bpv7::Error::PrimaryBlockUnprotected => Refusal::UnprotectedPrimary,
        tileos_bpv7::Error::MissingBundleAge | tileos_bpv7::Error::InvalidBundleAge => Refusal::BadBundleAge,
        _ => Refusal::MalformedBundle,
    }
}
