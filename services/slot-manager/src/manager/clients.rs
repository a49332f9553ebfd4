//! Client requests: a service client's request taken into the slot, its message kept for
//! reuse, sent at once to every seat that waits for work or queued on the seats (the
//! serving module's and the mirrored copies'), and a copy's answer compared on the narrow
//! path ([`Manager::copy_answer`]). docs/slots.md, "Running slots": "The queue", "Paced
//! mirroring", "A copy's answer: the narrow path"; the first step of every request.

use super::KEPT_MESSAGES;
use super::Manager;
use super::deferred::CLOCK_CHECK_MICROS;
use super::seats::{InFlight, Job, Role};
use crate::{Clock, LogStore, Message, ReplyCap, Seats};
use alloc::rc::Rc;
use tileos_protocol::module::{IMPORTED, READY, SEAT_BADGE, STATE};
use tileos_protocol::{MESSAGE, ProtocolError};
use tileos_slots::{Answered, Mirror, ModuleId, RequestId, Responder, Ticks};

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    /// The narrow path for the commonest message of all: a shadowing challenger's answer to
    /// its mirrored copy (docs/slots.md, "A copy's answer: the narrow path"). `badge` must be
    /// a seat's; `label` and `words` its message, `reply` its saved call. Taken, with `Ok`,
    /// only when the answer can change nothing but the evidence's counters: the seat runs a
    /// module, holds no saved call and no queued work, and its current work is a copy of a
    /// request; the words fit [`crate::MAX_WORDS`] and the label is none of the seat
    /// protocol's own (`READY`, `STATE`, `IMPORTED`); `Manager::narrow_allowed` holds (no
    /// promotion under way and none by hand, no roles to reschedule, not N-version, the seat
    /// not catching up, diverged or handing off: checked once per generation, see
    /// `Seat::verified`); no clock check is due ([`Manager::tick`]); and
    /// [`Slot::copy_answer`] applies (the comparator exact, no rollback window, the module
    /// shadowing with its faults within the policy: once per slot generation, through the
    /// seat's [`CopyTicket`]; short of `min_agreeing` compared, the serving answer in, the
    /// copy pending and in time). The answer is then compared in place with the serving
    /// module's and counted exactly as [`Manager::received`] would, the seat keeps the call
    /// for its next work, and nothing else happens (no send: the seat has nothing queued; no
    /// outcome: the verdict cannot change). Otherwise `Err(reply)` with nothing changed but
    /// the seat's ticket (one clock read): the caller hands the message to
    /// [`Manager::received`], the general path, which keeps every rule.
    ///
    /// [`Slot::copy_answer`]: tileos_slots::Slot::copy_answer
    /// [`CopyTicket`]: tileos_slots::CopyTicket
    pub fn copy_answer(&mut self, badge: u64, label: u64, words: &[u64], reply: ReplyCap) -> Result<(), ReplyCap> {
        // The seat and its current work first: the serving module's answer (no copy), which
        // comes once per request, is refused by the first checks.
        let seat = usize::try_from(badge & !SEAT_BADGE).unwrap_or(usize::MAX);
        let Some(s) = self.seats.get(seat) else { return Err(reply) };
        let (Role::Module(module), Some(Job::Request { id, copy_until: Some(_), .. })) = (s.role, &s.current) else { return Err(reply) };
        let id = *id;
        if badge & SEAT_BADGE == 0
            || words.len() > crate::MAX_WORDS
            || matches!(label, READY | STATE | IMPORTED)
            || s.caller.is_some()
            || !s.queue.is_empty()
        {
            return Err(reply);
        }
        if s.verified == self.generation {
            debug_assert!(self.narrow_allowed(seat), "seat {seat} verified in a generation that outlived a change: a missed bump");
        } else if !self.narrow_allowed(seat) {
            return Err(reply);
        }
        let now = self.clock.now();
        if now.saturating_sub(self.last_tick) >= CLOCK_CHECK_MICROS {
            return Err(reply);
        }
        // (The seat is there: it was looked up above.)
        let Some(s) = self.seats.get_mut(seat) else { return Err(reply) };
        let worked = now.saturating_sub(s.current_since);
        if self.slot.copy_answer(&mut s.ticket, id, module, label, words, now, worked).is_none() {
            return Err(reply);
        }
        s.verified = self.generation;
        // As the general path leaves it: the seat's call saved for its next work, its copy
        // done (the request's message dropped with it if nothing else holds it). The job is a
        // request (matched above): its message is dropped here, in line, rather than through
        // the general drop of any job.
        match s.current.take() {
            Some(Job::Request { message, .. }) => drop(message),
            other => drop(other),
        }
        s.caller = Some(reply);
        self.entry_step_done = false;
        self.message_at = now;
        Ok(())
    }

    /// The narrow path's conditions that [`Seat::verified`] vouches for while the manager's
    /// generation is unchanged: no promotion under way and none by hand, no roles to
    /// reschedule, not N-version; `seat` not catching up, diverged or handing off.
    ///
    /// [`Seat::verified`]: super::seats::Seat::verified
    fn narrow_allowed(&self, seat: usize) -> bool {
        self.seats.get(seat).is_some_and(|s| !s.catching_up && !s.diverged && s.handing.is_none())
            && !self.reschedule_due
            && self.lineages.is_none()
            && self.hand.is_none()
            && !self.promotion_under_way()
    }

    pub(super) fn client_request(&mut self, badge: u64, label: u64, words: &[u64], reply: ReplyCap) {
        // A service request is a MESSAGE. Any other label is answered as a module answers a
        // label it does not know, without reaching one: passed on, the seat protocol's
        // EXPORT and IMPORT would be the manager's work to the module (its state handed to
        // the client, or replaced by the client's).
        if label != MESSAGE {
            self.host.reply(reply, &Message::error(ProtocolError::UnknownLabel));
            return;
        }
        if self.inflight.has_client(badge) {
            self.stats.busy += 1;
            self.host.note(format_args!("slot {}: client {badge:#x} called with a request outstanding: refused", self.config.name));
            self.host.reply(reply, &Message::error(ProtocolError::Busy));
            return;
        }
        if self.inflight.len() >= self.config.queue_limit {
            self.stats.full += 1;
            self.host.reply(reply, &Message::error(ProtocolError::Busy));
            return;
        }
        let now = self.message_at;
        let message = self.kept_message(label, words);
        if self.lineages.is_some() {
            self.ballot_request(badge, message, reply, now);
            return;
        }
        let mirror = self.slot.request(now);
        let id = mirror.request;
        self.inflight.insert(InFlight { id, badge, reply, message: message.clone(), arrived: now });
        if self.send_to_waiting(id, &message, &mirror) {
            return;
        }
        match self.seat_of(Role::Module(mirror.serve)) {
            Some(seat) => self.push(seat, Job::Request { id, message: message.clone(), copy_until: None }),
            None => self.fail_request(id, mirror.serve),
        }
        for k in 0..mirror.copies {
            let Some(&module) = self.slot.mirrored().get(k) else { break };
            if let Some(seat) = self.seat_of(Role::Module(module)) {
                self.push_copy(seat, id, &message, mirror.deadline);
            }
        }
        if mirror.replica
            && let Some(seat) = self.seat_of(Role::Replica)
        {
            self.push_copy(seat, id, &message, mirror.deadline);
        }
    }

    /// A client request's message of `label` and `words`, shared by every seat and record
    /// that holds it: in the storage of a kept one that nothing holds any more (written in
    /// place), else new (and kept if fewer than [`KEPT_MESSAGES`] are). So once warm the
    /// serving path neither allocates nor frees a request's message: the last holder to drop
    /// it (the serving answer's delivery, or the last copy's answer) only decrements a count.
    fn kept_message(&mut self, label: u64, words: &[u64]) -> Rc<Message> {
        if let Some(kept) = self.messages.iter_mut().find(|m| Rc::strong_count(m) == 1)
            && let Some(message) = Rc::get_mut(kept)
        {
            message.label = label;
            message.words.clear();
            message.words.extend_from_slice(words);
            return kept.clone();
        }
        let message = Rc::new(Message { label, words: words.to_vec() });
        if self.messages.len() < KEPT_MESSAGES {
            self.messages.push(message.clone());
        }
        message
    }

    /// The common case of [`Manager::client_request`], done in one [`Seats::reply_all`] (the
    /// glue: one system call, not one per seat): the serving module's seat and every seat a
    /// copy of request `id` goes to (`mirror`'s) wait for work with nothing queued, and none
    /// of the copies' seats is catching up. Each is then sent the request at once, in the
    /// order and with the state the general path ([`Manager::push`],
    /// [`Manager::push_copy`]) gives it: the same jobs, only the sends made together.
    /// `false`, with nothing done, when any seat does not qualify (or the serving module has
    /// no seat) or no copy is made: the general path queues, paces and sends then.
    fn send_to_waiting(&mut self, id: RequestId, message: &Rc<Message>, mirror: &Mirror) -> bool {
        if mirror.copies == 0 && !mirror.replica {
            // One send: the general path's is the shorter.
            return false;
        }
        // The seats, found once per pair of generations: they depend only on the roles (the
        // manager's) and on the serving and mirrored modules (the slot's).
        let generations = (self.generation, self.slot.generation());
        if self.plan_for == Some(generations) {
            if cfg!(debug_assertions) {
                let (mut n, mut same) = (0, true);
                let found = self.seat_plan(mirror, |seat| {
                    same &= self.batch_seats.get(n) == Some(&seat);
                    n += 1;
                });
                debug_assert!(found && same && n == self.batch_seats.len(), "a seat plan outlived a change: a missed bump");
            }
        } else {
            let mut seats = core::mem::take(&mut self.batch_seats);
            seats.clear();
            let found = self.seat_plan(mirror, |seat| seats.push(seat));
            self.batch_seats = seats;
            if !found {
                self.plan_for = None;
                return false;
            }
            self.plan_for = Some(generations);
        }
        // The fields apart (no list taken out and put back on every request).
        let Self { seats: all, batch_seats: seats, batch: callers, host, message_at, .. } = self;
        // The serving seat first; a copy's seat must not be catching up (paced mirroring).
        let waiting = seats.iter().enumerate().all(|(k, &seat)| {
            all.get(seat).is_some_and(|s| s.current.is_none() && s.queue.is_empty() && s.caller.is_some() && (k == 0 || !s.catching_up))
        });
        if waiting {
            callers.clear();
            for (k, &seat) in seats.iter().enumerate() {
                let Some(s) = all.get_mut(seat) else { continue };
                let Some(caller) = s.caller.take() else { continue };
                callers.push(caller);
                s.current = Some(Job::Request { id, message: message.clone(), copy_until: (k > 0).then_some(mirror.deadline) });
                s.current_since = *message_at;
            }
            host.reply_all(callers, message);
        }
        waiting
    }

    /// Gives `each` the seats request `mirror` goes to, in order: the serving module's, then
    /// those of the modules it is mirrored to that have one, then the replica's if it gets a
    /// copy. `false` when the serving module has no seat (none given), or when a mirrored
    /// module's copies are held back ([`Manager::copies_held`]: the general path queues
    /// them; the seats given so far are to be dropped).
    fn seat_plan(&self, mirror: &Mirror, mut each: impl FnMut(usize)) -> bool {
        let Some(serving) = self.seat_of(Role::Module(mirror.serve)) else { return false };
        each(serving);
        for k in 0..mirror.copies {
            let Some(&module) = self.slot.mirrored().get(k) else { break };
            if let Some(seat) = self.seat_of(Role::Module(module)) {
                if self.copies_held(seat) {
                    return false;
                }
                each(seat);
            }
        }
        if mirror.replica
            && let Some(seat) = self.seat_of(Role::Replica)
        {
            each(seat);
        }
        true
    }

    /// The serving module cannot answer request `id`: its client gets `Failed` and the slot
    /// is told the exchange is over (an empty answer: nothing is compared with it, the serving
    /// module's copies were handed over).
    pub(super) fn fail_request(&mut self, id: RequestId, serving: ModuleId) {
        let now = self.clock.now();
        let (answered, out) = self.slot.answer(id, Responder::Module(serving), &[], now);
        if let Some(flight) = self.inflight.remove(id) {
            self.stats.failed += 1;
            self.stats.answered += 1;
            self.host.reply(flight.reply, &Message::error(ProtocolError::Failed));
        }
        if answered != Answered::Deliver {
            self.host.note(format_args!("slot {}: request {id} failed ({answered:?})", self.config.name));
        }
        self.process(out);
    }

    pub(super) fn seat_of(&self, role: Role) -> Option<usize> {
        if role == Role::Empty {
            return None;
        }
        self.seats.iter().position(|s| s.role == role)
    }

    /// Queues `job` for `seat` and dispatches. A seat whose module waits with nothing queued
    /// (the common case) is sent the job at once, past the queue.
    pub(super) fn push(&mut self, seat: usize, job: Job) {
        let held = matches!(job, Job::Request { copy_until: Some(_), .. }) && self.copies_held(seat);
        let Some(s) = self.seats.get_mut(seat) else { return };
        if !held
            && s.current.is_none()
            && s.queue.is_empty()
            && !matches!(job, Job::Import { state: None, .. })
            && let Some(caller) = s.caller.take()
        {
            self.send_job(seat, caller, job);
            return;
        }
        s.queue.push_back(job);
        self.dispatch(seat);
    }

    /// A mirrored copy, paced (docs/slots.md, "Paced mirroring"). A module's state is the
    /// sum of the requests it got, so copies are sent in order without gaps while the seat
    /// keeps up: it holds at most `queue_limit` of them. A copy beyond that is **skipped**,
    /// and so is every copy after it until the seat has answered all it holds (catching
    /// up); then it imports the serving module's state (one export in the serving module's
    /// queue, after everything it was sent) and is mirrored again from the next request. A
    /// skipped copy is settled with the slot at once: not compared (`Slot::copy_skipped`),
    /// or a timeout (`Slot::copy_dropped`) when the seat's oldest copy is already past its
    /// deadline (its module is not answering in time, and would not have answered this one
    /// either). So the client never waits for a mirror, the mirror's memory is bounded, its
    /// compared requests come in gapless runs of at least `queue_limit` (every request while
    /// it keeps up), and each run costs the serving module at most one export.
    ///
    /// N-version lineages are not paced: one more copy is dropped and the seat marked
    /// diverged; when its module next calls, its queued copies are dropped and it imports a
    /// lineage's state again.
    pub(super) fn push_copy(&mut self, seat: usize, id: RequestId, message: &Rc<Message>, deadline: Ticks) {
        let limit = self.config.queue_limit.max(1);
        let now = self.message_at;
        let Some(s) = self.seats.get_mut(seat) else { return };
        let is_copy = |job: &Job| matches!(job, Job::Request { copy_until: Some(_), .. });
        let copies = s.queue.iter().filter(|job| is_copy(job)).count();
        if let Role::Lineage(_) = s.role {
            if copies >= limit {
                s.diverged = true;
                self.generation += 1;
                self.copies_dropped(seat, &[id]);
                return;
            }
        } else if s.catching_up || copies >= limit {
            s.catching_up = true;
            self.generation += 1;
            let oldest = s.current.iter().chain(s.queue.iter()).find_map(|job| match job {
                Job::Request { copy_until: Some(until), .. } => Some(*until),
                _ => None,
            });
            self.stats.skipped += 1;
            s.missed += 1;
            // Journaled before it is settled: settling may trip the breaker (a timeout), and
            // the rollback then replays the journal.
            let journaled = self.journal_insert(seat, id, message);
            if oldest.is_some_and(|until| now > until) {
                self.copies_dropped(seat, &[id]);
            } else {
                self.copy_skipped(seat, id);
            }
            if journaled {
                self.check_journal(seat);
            }
            return;
        }
        self.push(seat, Job::Request { id, message: message.clone(), copy_until: Some(deadline) });
    }

    /// The copy of request `id` that `seat` will not get (paced mirroring) is settled with
    /// the slot as not compared.
    fn copy_skipped(&mut self, seat: usize, id: RequestId) {
        let Some(responder) = self.copy_responder(seat) else { return };
        let out = self.slot.copy_skipped(id, responder, self.message_at);
        self.process(out);
    }

    /// The copies of `requests` that `seat` held and will not run (dropped for an import,
    /// [`Manager::bring_up_to_date`]) are settled with the slot as not compared, as
    /// [`Manager::copy_skipped`] of each in turn would, in one call ([`Slot::copies_skipped`]:
    /// one pass over the exchanges in place of one per copy; since `slots45`).
    ///
    /// [`Slot::copies_skipped`]: tileos_slots::Slot::copies_skipped
    pub(super) fn copies_skipped(&mut self, seat: usize, requests: &[RequestId]) {
        let Some(responder) = self.copy_responder(seat) else { return };
        let out = self.slot.copies_skipped(requests, responder, self.message_at);
        self.process(out);
    }

    /// Whom the copies `seat` is sent speak for in the slot: its module, or the noise
    /// replica; `None` for a seat whose copies the slot does not await (empty, leaving, a
    /// lineage).
    pub(super) fn copy_responder(&self, seat: usize) -> Option<Responder> {
        match self.seats.get(seat).map(|s| s.role) {
            Some(Role::Module(module)) => Some(Responder::Module(module)),
            Some(Role::Replica) => Some(Responder::Replica),
            _ => None,
        }
    }

    /// Whether `seat` runs the warm module (the previous incumbent during a rollback window).
    pub(super) fn is_warm_seat(&self, seat: usize) -> bool {
        matches!(self.seats.get(seat).map(|s| s.role), Some(Role::Module(m)) if self.slot.warm() == Some(m))
    }
}
