//! A module's calls on the front endpoint (`READY`, an answer, `STATE`, `IMPORTED`): each is
//! also the module's request for its next job; an answer is compared by the slot and the
//! serving module's delivered to its client (docs/slots.md, "Running slots", "The loop").

use super::Manager;
use super::install::InstallPhase;
use super::seats::{Job, Role};
use crate::{Clock, LogStore, Message, ReplyCap, Seats, message_bytes_into};
use alloc::rc::Rc;
use tileos_protocol::ProtocolError;
use tileos_protocol::module::{IMPORTED, ImportRefusal, READY, STATE};
use tileos_protocol::supervisor::SeatSchedule;
use tileos_slots::{Answered, RequestId, Responder, Ticks};

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    pub(super) fn module_call(&mut self, seat: usize, label: u64, words: &[u64], reply: ReplyCap) {
        let reply = match self.install.as_mut().map(|job| &mut job.phase) {
            Some(InstallPhase::Started { seat: installing, ready: ready @ None, .. }) if *installing == seat && label == READY => {
                // The installed module's READY before its entry: kept for the entry's step.
                *ready = Some(reply);
                return;
            }
            _ => {
                self.install_steps_first(seat);
                reply
            }
        };
        let Some(s) = self.seats.get_mut(seat) else { return };
        if s.handing.is_some() {
            self.handing_call(seat, label, words, reply);
            return;
        }
        if let Role::Leaving(_) = s.role {
            // Its answer to work it had when it left: nobody waits for it. Its call is kept,
            // so the module waits, blocked, until its seat is reclaimed.
            if let Some(old) = s.caller.replace(reply) {
                self.host.release(old);
            }
            return;
        }
        if s.role == Role::Empty || self.rebuilds.iter().any(|r| r.seat == seat) {
            self.stats.violations += 1;
            let what = if s.role == Role::Empty { "runs no module" } else { "is being rebuilt (no module runs)" };
            self.host.note(format_args!("slot {}: call from seat {seat}, which {what}", self.config.name));
            self.host.release(reply);
            return;
        }
        if let Some(old) = s.caller.take() {
            self.stats.violations += 1;
            self.host.release(old);
        }
        let current = s.current.take();
        let worked = self.message_at.saturating_sub(s.current_since);
        let mut answer: Option<RequestId> = None;
        let mut import_refused = None;
        let mut imported = None;
        match (label, current) {
            (READY, current) => {
                s.started_at = None;
                if s.schedule == Some(SeatSchedule::Start) {
                    // Started in pieces at priority 0 and now up: the schedule it should have.
                    self.reschedule_due = true;
                }
                // A fresh module: what it had been sent is lost with its predecessor.
                if let Some(job) = current {
                    s.queue.push_front(job);
                }
                if core::mem::take(&mut s.needs_state) {
                    s.caller = Some(reply);
                    self.ready_for_state(seat);
                    self.dispatch(seat);
                    return;
                }
            }
            (STATE, Some(Job::Export { target, transfer })) => {
                // The exporter may shadow now.
                self.reschedule_due = true;
                self.generation += 1;
                if let Some(switch) = &mut self.switching
                    && switch.transfer
                    && switch.exported.is_none()
                {
                    switch.exported = Some(self.message_at);
                }
                let state = Rc::new(words.to_vec());
                let waiting = |j: &&mut Job| matches!(j, Job::Import { state: None, transfer: t } if *t == transfer);
                if let Some(t) = self.seats.get_mut(target)
                    && let Some(Job::Import { state: slot @ None, .. }) = t.queue.iter_mut().find(waiting)
                {
                    *slot = Some(state);
                }
                self.journal_state_arrived(target, transfer);
                self.dispatch(target);
            }
            (IMPORTED, Some(Job::Import { transfer, .. })) => {
                let code = words.first().copied().unwrap_or(u64::from(ImportRefusal::Malformed as u8));
                import_refused = ImportRefusal::from_code(code).map(|refusal| (refusal, transfer));
                if import_refused.is_none() {
                    s.in_step = s.import_covers;
                    imported = Some(transfer);
                }
                if let (Role::Module(id), Some(switch)) = (s.role, &mut self.switching)
                    && switch.module == id
                    && switch.ready.is_none()
                {
                    switch.ready = Some(self.clock.now());
                }
            }
            // Whatever a module sends while a request is outstanding is its answer (a label
            // the service protocol does not have reaches the client as such).
            (_, Some(Job::Request { id, .. })) => answer = Some(id),
            // A journal request replayed: its client has its answer already, which this one
            // is compared with.
            (_, Some(Job::Replay { id, answered, .. })) => {
                self.stats.replayed += 1;
                if let Some(answered) = answered {
                    self.stats.replay_compared += 1;
                    if self.compared_digest(label, words) != answered {
                        self.stats.replay_disagreed += 1;
                        let count = self.stats.replay_disagreed;
                        self.host.note(format_args!(
                            "@event slot.replay-disagreed slot={} seat={seat} request={id} count={count}",
                            self.config.name
                        ));
                    }
                }
            }
            (STATE | IMPORTED, current) => {
                self.stats.violations += 1;
                self.host.note(format_args!("slot {}: seat {seat} sent label {label:#x} for {current:?}", self.config.name));
                if let Some(Job::Export { target, transfer }) = current {
                    self.unblock(target, transfer);
                }
            }
            (label, current) => {
                self.stats.violations += 1;
                self.host
                    .note(format_args!("slot {}: seat {seat} answered (label {label:#x}) with no request outstanding", self.config.name));
                if let Some(Job::Export { target, transfer }) = current {
                    self.unblock(target, transfer);
                }
            }
        }
        if let Some(s) = self.seats.get_mut(seat) {
            s.caller = Some(reply);
        }
        if let Some((refusal, transfer)) = import_refused {
            if seat == 0 && self.adoption.is_some_and(|a| a.transfer == transfer) {
                // The adoption's import refused: the incumbent answered (it runs) and took
                // nothing, so it serves on with the state it has; restarting its seat, as
                // for any other refusal, would leave it none at all.
                self.host.note(format_args!(
                    "slot {}: seat 0 refused the adopted state ({refusal:?}): it serves on with its own",
                    self.config.name
                ));
                self.adoption_failed("the incumbent refused the state");
            } else {
                self.host.note(format_args!("slot {}: seat {seat} refused the state ({refusal:?}): treated as a fault", self.config.name));
                self.seat_failed(seat, false);
                return;
            }
        }
        if let Some(transfer) = imported {
            self.pre_transfer_done(seat);
            self.adoption_imported(seat, transfer);
        }
        if let Some(id) = answer {
            // Compared as bytes, in the kept buffer (no allocation per answer).
            let mut bytes = core::mem::take(&mut self.answer_bytes);
            message_bytes_into(label, words, &mut bytes);
            self.answered(seat, id, &bytes, worked);
            self.answer_bytes = bytes;
        }
        self.resync_if_caught_up(seat);
        if let Some(s) = self.seats.get_mut(seat)
            && core::mem::take(&mut s.diverged)
        {
            self.host.note(format_args!(
                "slot {}: seat {seat} fell {} copies behind: it imports the state again",
                self.config.name, self.config.queue_limit
            ));
            self.transfer_state(seat);
        }
        self.dispatch(seat);
    }

    /// The module of `seat` answered request `id` with `bytes`, `worked` after it was sent
    /// the request (a copy's latency: its wait in the seat's queue is the pacing's).
    fn answered(&mut self, seat: usize, id: RequestId, bytes: &[u8], worked: Ticks) {
        let role = self.seats.get(seat).map(|s| s.role).unwrap_or(Role::Empty);
        let now = self.message_at;
        let responder = match role {
            Role::Module(module) => Responder::Module(module),
            Role::Replica => Responder::Replica,
            Role::Lineage(k) => {
                if let Some(l) = &mut self.lineages
                    && let Some(ballot) = l.ballots.get_mut(&id)
                    && !ballot.answered[k]
                {
                    ballot.answered[k] = true;
                    ballot.answers[k] = Some(bytes.to_vec());
                }
                self.count_ballot(id, false);
                return;
            }
            Role::Empty | Role::Leaving(_) | Role::Predecessor => return,
        };
        let (answered, out) = self.slot.answer_worked(id, responder, bytes, now, Some(worked));
        if answered == Answered::Deliver {
            if seat != self.serving_recorded {
                // A module that did not serve before: the root server knows it serves (and
                // holds every acknowledged request) before its first answer is delivered.
                self.record_serving(seat);
            }
            let arrived = self.inflight.get(id).map(|f| f.arrived);
            self.deliver(id, bytes);
            if let (Some(switch), Responder::Module(by)) = (self.switching, responder)
                && switch.module == by
            {
                self.switching = None;
                // Its parts: the promotion until the module was ready, and the delivered
                // request's own time in the manager (arrival to delivery).
                let ready = switch.ready.unwrap_or(now).saturating_sub(switch.since);
                let exported = switch.exported.map_or(0, |at| at.saturating_sub(switch.since));
                self.host.note(format_args!(
                    "@event slot.switch slot={} module={} first_answer_micros={} ready_micros={ready} exported_micros={exported} request_micros={} transfer={} before_switch={} pre_transfer_micros={}",
                    self.config.name,
                    switch.module,
                    now.saturating_sub(switch.since),
                    now.saturating_sub(arrived.unwrap_or(now)),
                    switch.transfer,
                    switch.pre_transfer.is_some(),
                    switch.pre_transfer.unwrap_or(0),
                ));
            }
        }
        self.process(out);
    }

    /// Delivers `bytes` to the client of request `id` (once: a second delivery finds nobody).
    pub(super) fn deliver(&mut self, id: RequestId, bytes: &[u8]) {
        let Some(flight) = self.inflight.remove(id) else { return };
        self.stats.answered += 1;
        // Into the kept answer (no allocation once it has held the longest).
        let mut message = core::mem::replace(&mut self.answer_message, Message::empty(0));
        if !message.read_bytes(bytes) {
            message = Message::error(ProtocolError::Failed);
        }
        self.host.reply(flight.reply, &message);
        // A request journaled before its answer keeps the digest of what its client got, for
        // its replay: only the warm module's journal takes requests before they are answered
        // (during a window), besides a hand-off's ([`Manager::handing_call`] records those).
        if self.slot.warm().is_some() {
            self.record_answer_digest(id, &message);
        }
        self.answer_message = message;
    }

    /// Keeps the digest of `message`, the answer request `id`'s client got, in the journal
    /// entries of `id` (docs/slots.md, "Replays compared"). Out of line: the clients'
    /// path only tests whether a window is open.
    #[cold]
    #[inline(never)]
    pub(super) fn record_answer_digest(&mut self, id: RequestId, message: &Message) {
        if self.seats.iter().all(|s| s.journal.is_empty()) {
            return;
        }
        let digest = self.compared_digest(message.label, &message.words);
        for s in &mut self.seats {
            if let Ok(at) = s.journal.binary_search_by_key(&id, |(x, _, _)| *x) {
                s.journal[at].2 = Some(digest);
            }
        }
    }
}
