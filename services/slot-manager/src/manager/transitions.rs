//! The slot's decisions carried out: an [`Outcome`]'s transitions applied to the seats
//! (roles, schedules, the log lines), leaving modules parked, the serving module's hand-off
//! of the clients' requests to its successor, and the lineages restored after a rollback
//! (docs/slots.md, "Running slots", "Leaving modules are parked, not torn down.").

use super::Manager;
use super::promotion::Switch;
use super::seats::{Job, Program, Role, start_schedule};
use super::state_name;
use crate::{Clock, LogStore, Message, ReplyCap, Seats, message_bytes_into};
use alloc::format;
use alloc::rc::Rc;
use alloc::vec::Vec;
use tileos_protocol::ProtocolError;
use tileos_protocol::module::{IMPORTED, READY, STATE};
use tileos_protocol::supervisor::{self, SeatProgram};
use tileos_slots::{ModuleId, Outcome, RequestId, Responder, State, Transition};

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    /// Carries out what the slot decided: the circuit breaker's rollbacks written to the
    /// update log first ([`Manager::log_breaker_rollbacks`]).
    pub(super) fn process(&mut self, out: Outcome) {
        if out.transitions.is_empty() && out.deliver.is_empty() && out.reissue.is_empty() {
            // Nearly every answer: nothing to carry out.
            return;
        }
        self.log_breaker_rollbacks(&out);
        for transition in &out.transitions {
            self.transition(transition);
        }
        let handed: Vec<RequestId> =
            self.seats.iter().filter_map(|s| s.handing.as_ref()).flat_map(|(ids, _)| ids.iter().copied()).collect();
        for delivery in &out.deliver {
            // A request the rolled-back module still answers ([`Manager::hand_off`]) is not
            // answered from the restored module's copy, made in a state that was behind.
            if !handed.contains(&delivery.request) {
                self.deliver(delivery.request, &delivery.answer);
            }
        }
        if out.transitions.iter().any(|t| matches!(t.to, State::RolledBack | State::Retired)) {
            self.adopt();
            self.restored_waits_for_hand_off();
            if let Some(seat) = self.seat_of(Role::Module(self.slot.serving())) {
                self.replay_journal(seat);
            }
        }
        let serving = self.slot.serving();
        for id in out.reissue {
            if handed.contains(&id) {
                continue;
            }
            let Some(message) = self.inflight.get(id).map(|f| f.message.clone()) else { continue };
            // Sent to it already ([`Manager::adopt`] sends a request no seat holds any more).
            let held = |job: &Job| matches!(job, Job::Request { id: x, copy_until: None, .. } if *x == id);
            if self
                .seat_of(Role::Module(serving))
                .and_then(|seat| self.seats.get(seat))
                .is_some_and(|s| s.current.iter().chain(s.queue.iter()).any(held))
            {
                continue;
            }
            match self.seat_of(Role::Module(serving)) {
                Some(seat) => self.push(seat, Job::Request { id, message, copy_until: None }),
                None => self.fail_request(id, serving),
            }
        }
    }

    /// After a handover (rollback, or the warm module leaving), the serving module's copies
    /// of requests still in flight are now the requests it serves: they are no longer
    /// dropped at their deadline, and a request that no seat holds any more (its copy was
    /// dropped) is sent to it again.
    fn adopt(&mut self) {
        let Some(seat) = self.seat_of(Role::Module(self.slot.serving())) else { return };
        let waiting: Vec<RequestId> = self.inflight.ids().collect();
        let mut missing = Vec::new();
        let Some(s) = self.seats.get_mut(seat) else { return };
        for job in s.queue.iter_mut().chain(s.current.iter_mut()) {
            if let Job::Request { id, copy_until, .. } = job
                && self.inflight.get(*id).is_some()
            {
                *copy_until = None;
            }
        }
        for id in waiting {
            let held = |job: &Job| matches!(job, Job::Request { id: held, copy_until: None, .. } if *held == id);
            let anywhere = self.seats.iter().any(|s| s.current.iter().chain(s.queue.iter()).any(held));
            if !anywhere {
                missing.push(id);
            }
        }
        for id in missing {
            if let Some(message) = self.inflight.get(id).map(|f| f.message.clone()) {
                self.push(seat, Job::Request { id, message, copy_until: None });
            }
        }
    }

    fn transition(&mut self, t: &Transition) {
        self.reschedule_due = true;
        self.generation += 1;
        if matches!(t.to, State::Rejected | State::Retired | State::RolledBack)
            && (self.pre_transfer.is_some_and(|p| p.module == t.module) || self.start_due == Some(t.module))
        {
            // It left the slot before its promotion's switch: the import still happens, and
            // promotes nothing (the persisted entry is withdrawn by the deferred work). A
            // shortfall of evidence meanwhile is found at the switch.
            self.abandon_promotion(t.module, &format!("it left the slot ({:?})", t.reason));
        }
        let name = self.config.name.clone();
        self.host.note(format_args!(
            "@event slot.transition slot={name} module={} from={} to={} reason={:?}",
            t.module,
            state_name(t.from),
            state_name(t.to),
            t.reason
        ));
        match (t.to, t.reason) {
            (State::Promotable, _) if self.config.policy.auto_promote => {
                // Promoted by the deferred work, once the entry is in the log.
                self.policy_due = Some(t.module);
                self.defer();
            }
            (State::Settled, _) if self.config.policy.auto_promote => {
                // The window closed: a module that became promotable meanwhile is due now.
                let waiting = self.slot.modules().find(|m| m.state == State::Promotable).map(|m| m.id);
                if let Some(waiting) = waiting {
                    self.policy_due = Some(waiting);
                    self.defer();
                }
            }
            (State::Promoted, _) => {
                let now = self.clock.now();
                self.switching =
                    Some(Switch { module: t.module, since: now, ready: Some(now), transfer: false, pre_transfer: None, exported: None });
                if let Some((module, took)) = self.in_step_for.filter(|(module, _)| *module == t.module) {
                    // Transferred just before the switch, with no request in between
                    // ([`PreTransfer`]): its state is the warm module's now.
                    self.switching =
                        Some(Switch { module, since: now, ready: Some(now), transfer: true, pre_transfer: Some(took), exported: None });
                    return;
                }
                // State moves by transfer, at every promotion: the warm module exports
                // after every request it was sent, the promoted one imports before any
                // request it serves (docs/slots.md, "State moves by transfer").
                let promoted = self.seat_of(Role::Module(t.module));
                if let (Some(warm), Some(promoted)) = (self.slot.warm().and_then(|w| self.seat_of(Role::Module(w))), promoted) {
                    let transfer = self.next_transfer();
                    if let Some(s) = self.seats.get_mut(promoted) {
                        // Its copies still queued are of requests the warm module was sent,
                        // so the state it exports after them holds their effect, and the
                        // slot compares none of them any more (a promotion clears every
                        // copy): dropped, not computed before the import (they lengthened
                        // the switch by the module's backlog).
                        s.queue.retain(|job| !matches!(job, Job::Request { copy_until: Some(_), .. }));
                        s.queue.push_back(Job::Import { state: None, transfer });
                    }
                    if let Some(switch) = &mut self.switching {
                        switch.ready = None;
                        switch.transfer = true;
                    }
                    self.push(warm, Job::Export { target: promoted, transfer });
                }
            }
            (State::RolledBack, _) => {
                // A switch to it is over (its deferred work need not wait for its answer).
                if self.switching.is_some_and(|switch| switch.module == t.module) {
                    self.switching = None;
                }
                // Its entry is in the log already: a breaker's was written first
                // (`process`), a manual one before the slot decided it.
                if !self.hand_off(t.module) {
                    self.park_module(t.module);
                }
            }
            (State::Rejected | State::Retired, _) => self.park_module(t.module),
            _ => {}
        }
        if t.to == State::Settled {
            self.record_settled(t.module);
            self.save_settled_program(t.module);
        }
    }

    /// Module `module` left the slot: its seat is parked ([`Role::Leaving`]). It gets no
    /// more work; its saved call (or, if it is working, its next one) is kept unanswered, so
    /// it waits blocked and costs nothing. The root server's teardown of its domain (tens
    /// of thousands of instructions, `seat.stopped … ticks=`) waits until the seat is
    /// needed again, so that it never lands in a client's call at a promotion or rollback.
    fn park_module(&mut self, module: ModuleId) {
        let Some(seat) = self.seat_of(Role::Module(module)) else { return };
        let now = self.clock.now();
        let caller = self.seats.get_mut(seat).and_then(|s| s.caller.take());
        let jobs = self.clear_seat(seat);
        if let Some(s) = self.seats.get_mut(seat) {
            s.role = Role::Leaving(now);
            self.generation += 1;
            s.program = None;
            s.caller = caller;
            s.started_at = None;
        }
        self.unblock_exports(&jobs);
    }

    /// A rollback to a module that is behind (copies of it were skipped since its last
    /// import: "Paced mirroring"): instead of restoring it with a state that lacks those
    /// requests, the rolled-back module `module` answers the requests it already has
    /// (at most `queue_limit`; their clients get its answers, as at a promotion the warm
    /// module answers the requests it was serving), then exports its state, which the
    /// restored module imports before any request it serves. Whether it did (`false`: the
    /// module cannot hand off: no seat, no module running, or its own import not done;
    /// the restored module serves with the state it has).
    fn hand_off(&mut self, module: ModuleId) -> bool {
        let Some(from) = self.seat_of(Role::Module(module)) else { return false };
        let Some(to) = self.seat_of(Role::Module(self.slot.serving())) else { return false };
        let (Some(f), Some(t)) = (self.seats.get(from), self.seats.get(to)) else { return false };
        let behind = t.missed > t.in_step || t.catching_up;
        let importing = f.current.iter().chain(f.queue.iter()).any(|job| matches!(job, Job::Import { .. } | Job::Export { .. }));
        let alive = f.caller.is_some() || f.current.is_some();
        if !behind || importing || !alive {
            return false;
        }
        let requests: Vec<RequestId> = f
            .current
            .iter()
            .chain(f.queue.iter())
            .filter_map(|job| match job {
                Job::Request { id, copy_until: None, .. } => Some(*id),
                _ => None,
            })
            .collect();
        let transfer = self.next_transfer();
        let now = self.clock.now();
        if let Some(f) = self.seats.get_mut(from) {
            f.queue.retain(|job| matches!(job, Job::Request { copy_until: None, .. }));
            f.queue.push_back(Job::Export { target: to, transfer });
            f.role = Role::Leaving(now);
            f.program = None;
            f.started_at = None;
            f.handing = Some((requests, to));
            self.generation += 1;
        }
        self.host.note(format_args!("@event slot.hand-off slot={} from_seat={from} to_seat={to}", self.config.name));
        self.dispatch(from);
        true
    }

    /// After a hand-off's deliveries and handover: the restored module drops its queued
    /// copies and the requests the rolled-back module still answers (that state comes with
    /// the import), and waits for the import before anything else.
    fn restored_waits_for_hand_off(&mut self) {
        let Some((from, requests, to)) =
            self.seats.iter().enumerate().find_map(|(i, s)| s.handing.as_ref().map(|(ids, to)| (i, ids.clone(), *to)))
        else {
            return;
        };
        let Some(transfer) = self.seats.get(from).and_then(|f| {
            f.current.iter().chain(f.queue.iter()).find_map(|job| match job {
                Job::Export { transfer, .. } => Some(*transfer),
                _ => None,
            })
        }) else {
            return;
        };
        let mut dropped = Vec::new();
        if let Some(t) = self.seats.get_mut(to) {
            t.catching_up = false;
            t.queue.retain(|job| match job {
                Job::Request { id, message, copy_until: Some(_) } => {
                    dropped.push((*id, message.clone()));
                    false
                }
                // An import with its state in hand is kept (the journal entries it covers are
                // gone): the hand-off's import follows it.
                Job::Import { state, .. } => state.is_some(),
                Job::Request { id, .. } => !requests.contains(id),
                Job::Export { .. } | Job::Replay { .. } => true,
            });
            let at = t.queue.iter().rposition(|job| matches!(job, Job::Import { .. })).map_or(0, |at| at + 1);
            t.queue.insert(at, Job::Import { state: None, transfer });
            t.import_covers = t.missed;
        }
        // Journaled: if the hand-off fails, the restored module replays them (with what the
        // rolled-back module answers meanwhile, `handing_call`); the import covers them all.
        for (id, message) in &dropped {
            self.journal_add(to, *id, message);
        }
        if let Some(t) = self.seats.get_mut(to) {
            t.journal_import = Some((transfer, usize::MAX));
        }
    }

    /// A call of a module handing off ([`Manager::hand_off`]): an answer to one of the
    /// requests it still answers is delivered (the slot hears it as the restored module's:
    /// it serves them now); its state goes to the restored module's import, and then it is
    /// parked.
    pub(super) fn handing_call(&mut self, seat: usize, label: u64, words: &[u64], reply: ReplyCap) {
        let Some(s) = self.seats.get_mut(seat) else { return };
        if let Some(old) = s.caller.replace(reply) {
            self.stats.violations += 1;
            self.host.release(old);
        }
        let current = s.current.take();
        let now = self.message_at;
        match (label, current) {
            (STATE, Some(Job::Export { target, transfer })) => {
                let state = Rc::new(words.to_vec());
                if let Some(s) = self.seats.get_mut(seat) {
                    s.handing = None;
                }
                let waiting = |j: &&mut Job| matches!(j, Job::Import { state: None, transfer: t } if *t == transfer);
                if let Some(t) = self.seats.get_mut(target)
                    && let Some(Job::Import { state: slot @ None, .. }) = t.queue.iter_mut().find(waiting)
                {
                    *slot = Some(state);
                }
                self.journal_state_arrived(target, transfer);
                self.dispatch(target);
                // Parked now: it gets no more work, its call is kept.
                return;
            }
            (READY | STATE | IMPORTED, current) => {
                // A restarted or confused module: it cannot hand off. What it still had goes
                // to the restored module.
                self.stats.violations += 1;
                if let Some(job) = current
                    && let Some(s) = self.seats.get_mut(seat)
                {
                    s.queue.push_front(job);
                }
                let caller = self.seats.get_mut(seat).and_then(|s| s.caller.take());
                let jobs = self.clear_seat(seat);
                if let Some(s) = self.seats.get_mut(seat) {
                    s.caller = caller;
                }
                self.unblock_exports(&jobs);
                return;
            }
            (_, Some(Job::Request { id, .. })) => {
                let mut bytes = core::mem::take(&mut self.answer_bytes);
                message_bytes_into(label, words, &mut bytes);
                if let Some(s) = self.seats.get_mut(seat)
                    && let Some((ids, _)) = &mut s.handing
                {
                    ids.retain(|x| *x != id);
                }
                let served = self.slot.serving();
                let restored = self.seats.get(seat).and_then(|s| s.handing.as_ref()).map(|(_, to)| *to);
                if let (Some(to), Some(message)) = (restored, self.inflight.get(id).map(|f| f.message.clone())) {
                    // Acknowledged now and in the restored module's state only through the
                    // import: replayed if the hand-off fails.
                    self.journal_add(to, id, &message);
                }
                let (_, out) = self.slot.answer(id, Responder::Module(served), &bytes, now);
                let delivered = self.inflight.get(id).is_some();
                self.deliver(id, &bytes);
                if delivered && self.slot.warm().is_none() {
                    let message = Message::from_bytes(&bytes).unwrap_or_else(|| Message::error(ProtocolError::Failed));
                    self.record_answer_digest(id, &message);
                }
                self.answer_bytes = bytes;
                self.process(out);
            }
            (_, current) => {
                self.stats.violations += 1;
                if let Some(Job::Export { target, transfer }) = current {
                    self.unblock(target, transfer);
                }
            }
        }
        self.dispatch(seat);
    }

    /// Tears down a parked seat's module now (the slot needs the seat).
    pub(super) fn reclaim_seat(&mut self, seat: usize) {
        if matches!(self.seats.get(seat).map(|s| s.role), Some(Role::Leaving(_))) {
            self.stop_seat(seat);
        }
    }

    /// After a restart: the modules the manager before it started in the seats the root
    /// server does not start at boot (seats 1 and up; 3 and up in an N-version slot), a
    /// challenger, a module promoted or one whose promotion the restart cut, run on unknown
    /// to this manager; each is stopped, so that its seat is free for the next install (the
    /// root server refuses a start in a running seat) and its `READY`s stop. An empty seat's
    /// refusal (`NotRunning`) is expected. One root-server call per seat, at the start only.
    /// Seat `keep` (the serving one the root server recorded) is not stopped: its module's
    /// state is adopted first ([`Manager::begin_adoption`]).
    pub(super) fn stop_predecessors_seats(&mut self, keep: usize) {
        let first = if self.lineages.is_some() { 3 } else { 1 };
        for seat in (first..self.seats.len()).filter(|&seat| seat != keep) {
            let Ok(number) = u8::try_from(seat) else { break };
            match self.host.supervisor(&supervisor::Request::SeatStop { seat: number }) {
                Ok(supervisor::Response::SeatStopped) => self.host.note(format_args!(
                    "@event slot.seat-reclaimed slot={} seat={seat} (its module was started before the manager's restart)",
                    self.config.name
                )),
                Ok(supervisor::Response::Refused(supervisor::Refusal::NotRunning(_))) => {}
                other => self.host.note(format_args!("slot {}: stopping seat {seat} after the restart: {other:?}", self.config.name)),
            }
        }
    }

    /// The lineage layout at the manager's start: lineage `k` in seat `k`, the spare seat
    /// free, and each position in `replaced` (the log holds a `LineageReplaced` entry for
    /// it) running the fallback. A replacement is a decision of the signed update log, and
    /// the fallback is a built-in program, so it stands at a restart and at a boot: the
    /// fallback is started in the position's own seat (after a `SeatStop` of whatever ran
    /// there: the lineage the root server started at boot, or, after a restart, a fallback
    /// of the predecessor's; a `NotRunning` answer expected), `@event
    /// slot.lineage-replacement-restored`. After a restart (its predecessor's seats from 3
    /// up were stopped), each other position's seat that does not run is started again with
    /// its lineage's program (`@event slot.lineage-restored`; a `SeatRunning` refusal
    /// expected). A seat started again imports a lineage's state, as a restarted lineage
    /// does. Dissent counts start again (the evidence is not in the log).
    pub(super) fn restore_lineages(&mut self, replaced: [bool; 3]) {
        let restart = self.config.generation > 0;
        for (k, replaced) in (0..3u8).zip(replaced) {
            if replaced {
                match self.host.supervisor(&supervisor::Request::SeatStop { seat: k }) {
                    Ok(supervisor::Response::SeatStopped | supervisor::Response::Refused(supervisor::Refusal::NotRunning(_))) => {}
                    other => self
                        .host
                        .note(format_args!("slot {}: stopping seat {k} for the fallback of lineage {k}: {other:?}", self.config.name)),
                }
                self.clear_seat(usize::from(k));
            } else if !restart {
                continue;
            }
            let program = if replaced { SeatProgram::Fallback } else { SeatProgram::Lineage(k) };
            // Not a restart: the fallback is another module, and a lineage started again here
            // may have been stopped by the predecessor rather than at a fault (the manager
            // cannot tell which), so it is not counted.
            match self.host.supervisor(&supervisor::Request::SeatStart { seat: k, program, restart: false }) {
                Ok(supervisor::Response::SeatStarted { generation, ticks }) => {
                    self.started(k, generation, ticks, start_schedule(k));
                    if let Some(s) = self.seats.get_mut(usize::from(k)) {
                        s.needs_state = restart;
                        s.program = Some(Program::Named(program));
                    }
                    let event = if replaced { "lineage-replacement-restored" } else { "lineage-restored" };
                    self.host
                        .note(format_args!("@event slot.{event} slot={} lineage={k} seat={k} generation={generation}", self.config.name));
                    if replaced
                        && let Some(l) = &mut self.lineages
                        && let Some(name) = l.names.get_mut(usize::from(k))
                    {
                        name.clone_from(&l.fallback);
                    }
                }
                Ok(supervisor::Response::Refused(supervisor::Refusal::SeatRunning)) if !replaced => {}
                other => self.host.note(format_args!(
                    "slot {}: {} could not be started in seat {k} at the manager's start: {other:?}",
                    self.config.name,
                    if replaced { "the fallback of lineage" } else { "lineage" }
                )),
            }
        }
    }
}
