//! The warm module's journal (docs/slots.md, "The warm module's journal", "A rollback to a
//! module that is behind"): the requests the warm module has not yet seen, kept until an
//! import covers them, replayed into it after its state arrives, and released off the
//! clients' path ([`Manager::release_step`]). Used after a promotion, while the predecessor
//! stays warm, until a rollback or its retirement.

use super::Manager;
use super::seats::{Job, Role, in_request_order};
use crate::{Clock, LogStore, Message, Seats};
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use tileos_slots::{Comparator, RequestId};

/// The digest of an answer kept for a journaled request (docs/slots.md, "The warm
/// module's journal"): 64-bit FNV-1a over the answer's label and words, little-endian (the
/// bytes [`Message::to_bytes`] makes). Not a cryptographic hash: it tells a replay's answer
/// from the delivered one unless they collide by chance (2^-64 per pair), not against a
/// module built to collide.
pub(super) fn answer_digest(label: u64, words: &[u64]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for word in core::iter::once(&label).chain(words) {
        for byte in word.to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    /// The digest ([`answer_digest`]) that stands for the answer (`label`, `words`) when a
    /// replay's answer is compared with the answer a client got: under `Equivalent`, of the
    /// answer's canonical form (an equivalent replay is no disagreement), otherwise of its
    /// bytes.
    pub(super) fn compared_digest(&self, label: u64, words: &[u64]) -> u64 {
        if self.config.comparator == Comparator::Equivalent {
            let mut form = [0; tileos_protocol::PAYLOAD_WORDS + 1];
            if let Some((label, length)) = self.equivalence.canonical(label, words, &mut form) {
                return answer_digest(label, &form[..length]);
            }
        }
        answer_digest(label, words)
    }
}

/// Entries the warm module's journal holds beyond those a pending import covers before the
/// warm module is brought up to date instead, in `queue_limit`s (docs/slots.md, "The warm
/// module's journal").
pub const JOURNAL_LIMIT_QUEUES: usize = 2;

/// Journal entries released (their requests' messages dropped) per
/// [`Manager::release_step`]: a message freed is ≈ 450 guest instructions in the slot
/// manager (two frees in its linked-list heap), so a step is ≈ 7,000 (since `slots45`).
pub const RELEASE_PER_STEP: usize = 16;

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    /// Whether journal entries wait for [`Manager::release_step`] (the glue then polls for
    /// a message before it waits, and steps if none is there and no client request is in
    /// flight, as for an install's steps).
    pub fn release_pending(&self) -> bool {
        !self.released.is_empty()
    }

    /// Releases up to [`RELEASE_PER_STEP`] of the journal entries no longer needed (their
    /// requests' messages dropped), oldest first.
    pub fn release_step(&mut self) {
        let n = RELEASE_PER_STEP.min(self.released.len());
        self.released.drain(..n);
    }

    /// The most journal entries kept for [`Manager::release_step`]: as many as a journal holds at
    /// most ((`JOURNAL_LIMIT_QUEUES` + 3) × `queue_limit` + 1), so the messages kept are at
    /// most twice a journal's. A glue that never steps (a tile that never idles) releases
    /// the excess at once, as before `slots45`.
    fn release_bound(&self) -> usize {
        (JOURNAL_LIMIT_QUEUES + 3) * self.config.queue_limit.max(1) + 1
    }

    /// The messages of journal entries no longer needed are kept for
    /// [`Manager::release_step`], up to [`Manager::release_bound`].
    pub(super) fn release_later(&mut self, entries: impl Iterator<Item = (RequestId, Rc<Message>, Option<u64>)>) {
        self.released.extend(entries.map(|(_, message, _)| message));
        let excess = self.released.len().saturating_sub(self.release_bound());
        self.released.drain(..excess);
    }

    /// Adds request `id` to the journal of `seat` if it runs the warm module (docs/slots.md,
    /// "The warm module's journal"), in request order; returns whether it did.
    pub(super) fn journal_insert(&mut self, seat: usize, id: RequestId, message: &Rc<Message>) -> bool {
        if !self.is_warm_seat(seat) {
            return false;
        }
        self.journal_add(seat, id, message);
        true
    }

    /// Adds request `id` to the journal of `seat`, in request order (nearly always at the end).
    pub(super) fn journal_add(&mut self, seat: usize, id: RequestId, message: &Rc<Message>) {
        let Some(s) = self.seats.get_mut(seat) else { return };
        if s.journal.iter().any(|(x, _, _)| *x == id) {
            return;
        }
        let at = s.journal.iter().rposition(|(x, _, _)| *x < id).map_or(0, |at| at + 1);
        s.journal.insert(at, (id, message.clone(), None));
        if let Some((_, covered)) = &mut s.journal_import
            && at < *covered
        {
            // Older than what the pending import was asked to cover: it covers this one too.
            *covered = covered.saturating_add(1);
        }
    }

    /// Adds the requests `items` to the journal of `seat` as [`Manager::journal_add`] does
    /// each (in request order, once, the pending import's cover kept), in one pass over the
    /// journal: the copies a module held, dropped at once for an import
    /// ([`Manager::bring_up_to_date`]), are older than the copies it skipped since, which are
    /// journaled already, so each `journal_add` searched and moved the journal (since
    /// `slots44`; in a rollback's catch-up step, 32 copies into 54 entries, ≈ 40 % of the
    /// step on a booted tile).
    fn journal_merge(&mut self, seat: usize, items: &mut [(RequestId, Rc<Message>)]) {
        items.sort_by_key(|(id, _)| *id);
        let Some(s) = self.seats.get_mut(seat) else { return };
        let covered = s.journal_import.map(|(_, n)| n);
        let mut old = core::mem::take(&mut s.journal).into_iter().peekable();
        let mut merged = VecDeque::with_capacity(old.len() + items.len());
        let (mut old_before, mut newly_covered) = (0usize, 0usize);
        for (id, message) in items.iter() {
            while let Some(entry) = old.next_if(|(x, _, _)| x < id) {
                merged.push_back(entry);
                old_before += 1;
            }
            if old.peek().is_some_and(|(x, _, _)| x == id) || merged.back().is_some_and(|(x, _, _)| x == id) {
                continue;
            }
            // Inserted one by one, it lands before the cover's end exactly when fewer old
            // entries than the cover precede it.
            newly_covered += usize::from(covered.is_some_and(|n| old_before < n));
            merged.push_back((*id, message.clone(), None));
        }
        merged.extend(old);
        s.journal = merged;
        if let Some((_, n)) = &mut s.journal_import {
            *n = n.saturating_add(newly_covered);
        }
    }

    /// Keeps the warm module's journal bounded: past [`JOURNAL_LIMIT_QUEUES`] × `queue_limit`
    /// entries no import covers, the warm module is brought up to date
    /// ([`Manager::bring_up_to_date`]), unless an import already waits for its state (the
    /// serving module exports it after at most `queue_limit` requests, so at most
    /// `queue_limit` more requests can arrive meanwhile: the journal holds at most
    /// (`JOURNAL_LIMIT_QUEUES` + 3) × `queue_limit` + 1 entries, docs/slots.md).
    pub(super) fn check_journal(&mut self, seat: usize) {
        let limit = self.config.queue_limit.max(1);
        let Some(s) = self.seats.get(seat) else { return };
        let covered = s.journal_import.map_or(0, |(_, n)| n.min(s.journal.len()));
        let waiting = s.queue.iter().any(|job| matches!(job, Job::Import { state: None, .. }));
        if s.journal.len() - covered > JOURNAL_LIMIT_QUEUES * limit && !waiting {
            self.bring_up_to_date(seat);
        }
    }

    /// The warm module's journal would overflow: the warm module imports the serving
    /// module's state next (after the work in progress and any export it owes), which covers
    /// the whole journal. The copies it holds are dropped into the journal (the import
    /// covers them; settled with the slot as not compared), and it is mirrored again from
    /// the next request on, its copies queued behind the import.
    pub(super) fn bring_up_to_date(&mut self, seat: usize) {
        let Some(source) = self.seat_of(Role::Module(self.slot.serving())).filter(|&x| x != seat) else { return };
        let transfer = self.next_transfer();
        let mut held = Vec::new();
        if let Some(s) = self.seats.get_mut(seat) {
            s.queue.retain(|job| match job {
                Job::Request { id, message, copy_until: Some(_) } => {
                    held.push((*id, message.clone()));
                    false
                }
                _ => true,
            });
            s.missed += held.len() as u64;
            s.catching_up = false;
        }
        self.journal_merge(seat, &mut held);
        self.stats.skipped += held.len() as u64;
        let ids: Vec<RequestId> = held.iter().map(|(id, _)| *id).collect();
        self.copies_skipped(seat, &ids);
        let Some(s) = self.seats.get_mut(seat) else { return };
        if !matches!(s.role, Role::Module(_)) {
            return;
        }
        s.queue.push_back(Job::Import { state: None, transfer });
        s.import_covers = s.missed;
        s.journal_import = Some((transfer, s.journal.len()));
        let entries = s.journal.len();
        self.stats.journal_imports += 1;
        let count = self.stats.journal_imports;
        // Logged at the first and then every 64th (each line lengthens a client's call).
        if count % 64 == 1 {
            self.host
                .note(format_args!("@event slot.journal-import slot={} seat={seat} entries={entries} count={count}", self.config.name));
        }
        self.push(source, Job::Export { target: seat, transfer });
    }

    /// The state of import `transfer` of `seat` arrived: the import is in the module's hands
    /// now (it is applied unless the module itself fails, and then there is nothing to
    /// restore), so the journal entries it covers leave the journal (their messages are
    /// released in later steps, [`Manager::release_step`]: freed here they were most of this
    /// message's busy span, ≈ 24,000 for 54 entries on a booted tile, `slots45`), and so
    /// are the older imports still queued for the seat (this state is newer and covers
    /// them). A restored module waiting for it replays what no import covers.
    pub(super) fn journal_state_arrived(&mut self, seat: usize, transfer: u64) {
        let Some(s) = self.seats.get_mut(seat) else { return };
        let Some((t, covered)) = s.journal_import else { return };
        if t != transfer {
            return;
        }
        s.journal_import = None;
        let covered = covered.min(s.journal.len());
        let rest = s.journal.split_off(covered);
        let entries = core::mem::replace(&mut s.journal, rest);
        self.release_later(entries.into_iter());
        let Some(s) = self.seats.get_mut(seat) else { return };
        if let Some(at) = s.queue.iter().position(|job| matches!(job, Job::Import { transfer: x, .. } if *x == transfer)) {
            let mut k = 0;
            s.queue.retain(|job| {
                let older = k < at && matches!(job, Job::Import { .. });
                k += 1;
                !older
            });
        }
        self.replay_journal(seat);
    }

    /// A restored module (serving now) replays its journal before it serves: each request
    /// its state misses (its copy skipped, or dropped for an import that did not come) whose
    /// client was answered already, in order, ahead of every later request in its queue;
    /// the answers are discarded, and ahead of any export queued meanwhile (the exported
    /// state must hold them). A request still in flight is served by it in its place
    /// (not replayed: its client waits for that answer). The journal holds no entry an
    /// import with its state in hand covers ([`Manager::journal_state_arrived`]); while an
    /// import waits for its state, nothing is replayed yet (called again when the state
    /// arrives or the import is abandoned).
    pub(super) fn replay_journal(&mut self, seat: usize) {
        let serving = self.slot.serving();
        let Some(s) = self.seats.get_mut(seat) else { return };
        if s.journal.is_empty() || s.role != Role::Module(serving) {
            return;
        }
        if s.queue.iter().any(|job| matches!(job, Job::Import { state: None, .. })) {
            return;
        }
        // No import waits for its state: one that covered entries was abandoned.
        s.journal_import = None;
        let entries: Vec<(RequestId, Rc<Message>, Option<u64>)> = s.journal.drain(..).collect();
        let mut replayed = 0u64;
        for (id, message, answered) in entries {
            let in_flight = self.inflight.get(id).is_some();
            let Some(s) = self.seats.get_mut(seat) else { return };
            if in_flight {
                // Not acknowledged: the restored module serves it, in its place (not behind
                // later requests: it may have been sent to it at the back already).
                if s.current.as_ref().is_some_and(|job| matches!(job, Job::Request { id: x, .. } if *x == id)) {
                    continue;
                }
                if let Some(old) = s.queue.iter().position(|job| matches!(job, Job::Request { id: x, .. } if *x == id)) {
                    s.queue.remove(old);
                }
            }
            let at = in_request_order(&s.queue, id);
            if in_flight {
                s.queue.insert(at, Job::Request { id, message, copy_until: None });
            } else {
                s.queue.insert(at, Job::Replay { id, message, answered });
                replayed += 1;
            }
        }
        if replayed > 0 {
            self.host.note(format_args!("@event slot.replay slot={} seat={seat} requests={replayed}", self.config.name));
        }
        self.dispatch(seat);
    }

    /// A seat that was catching up ([`Manager::push_copy`]) and now holds no copy imports
    /// the serving module's state again, to be mirrored from the next request on.
    pub(super) fn resync_if_caught_up(&mut self, seat: usize) {
        let Some(s) = self.seats.get_mut(seat) else { return };
        // Nearly every answer: nothing to look at (the queue is searched only while catching up).
        if !s.catching_up {
            return;
        }
        if s.current.iter().chain(s.queue.iter()).any(|job| matches!(job, Job::Request { copy_until: Some(_), .. })) {
            return;
        }
        s.catching_up = false;
        self.stats.resyncs += 1;
        let resyncs = self.stats.resyncs;
        // Logged at the first and then every 64th (each line lengthens a client's call).
        if resyncs % 64 == 1 {
            self.host.note(format_args!(
                "@event slot.mirror-paced slot={} seat={seat} resyncs={resyncs} skipped={}",
                self.config.name, self.stats.skipped
            ));
        }
        self.transfer_state(seat);
    }

    /// The copies of requests `ids` that `seat` will never get are settled with the slot at
    /// once (as timeouts), so their exchanges do not wait out the answer deadline.
    pub(super) fn copies_dropped(&mut self, seat: usize, ids: &[RequestId]) {
        let Some(responder) = self.copy_responder(seat) else { return };
        let now = self.clock.now();
        for &id in ids {
            let out = self.slot.copy_dropped(id, responder, now);
            self.process(out);
        }
    }
}
