//! The clock and deferred work (docs/slots.md, "Deferred work", "The bound on a client's
//! delay"): the clock check on each event (deadlines, hung modules and starts), and the
//! work kept off the clients' path, done by [`Manager::deferred`] when no client waits.

use super::Manager;
use super::adoption::ADOPTION_DEADLINE;
use super::install::{InstallPhase, VERIFIER_DEADLINE};
use super::seats::Role;
use super::update_log::HASH_UNITS_PER_STEP;
use crate::{Clock, LogStore, Seats};
use alloc::vec::Vec;
use tileos_slots::{RequestId, State, Ticks};

/// Microseconds between the clock checks that messages trigger (deadlines, the soak, the
/// rollback window): a check costs the slot a pass over its exchanges and modules, and
/// every deadline of a policy is milliseconds or more.
pub(super) const CLOCK_CHECK_MICROS: Ticks = 1_000;

/// How long a challenger's module may take from its seat's start to its READY call; past
/// that (hung while starting) it is failed as if it had faulted: otherwise it would hold
/// its seat, and a place among the slot's challengers, for ever.
pub const READY_DEADLINE: Ticks = 10_000_000;

/// How long work deferred off the clients' path ([`Manager::deferred`]: a promotion by the
/// policy with its update-log entry, a rollback by hand's steps, a breaker entry's second
/// try, lowering a module's schedule) may wait for a moment when no client waits and no
/// switch is under way; past that, the next message does it whatever waits.
pub const DEFERRED_BOUND: Ticks = 100_000;

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    /// The clock advanced: copies past their deadline time out, the rollback window may
    /// close, N-version ballots past their deadline are counted.
    pub fn tick(&mut self) {
        let now = self.clock.now();
        self.last_tick = now;
        let out = self.slot.tick(now);
        self.process(out);
        let expired: Vec<RequestId> = match &self.lineages {
            Some(l) => l.ballots.iter().filter(|(_, b)| now > b.deadline).map(|(id, _)| *id).collect(),
            None => Vec::new(),
        };
        for id in expired {
            self.count_ballot(id, true);
        }
        self.fail_hung_starts(now);
        self.fail_hung_serving(now);
        self.stop_busy_leavers(now);
        self.check_verifier_deadline(now);
        self.check_adoption_deadline(now);
        if let Some(pre) = self.pre_transfer.filter(|p| now.saturating_sub(p.since) > DEFERRED_BOUND) {
            self.abandon_promotion(pre.module, "its state transfer before the switch did not complete within 100 ms");
        }
        self.reschedule();
        // Not the tree's hashing: it waits for a step of its own whatever the bound (a reader
        // of the log has it done first).
        if self.deferred_since.is_some_and(|since| now.saturating_sub(since) > DEFERRED_BOUND) && !self.hashing_is_next() {
            self.do_deferred();
        }
    }

    /// The earliest time at which [`Manager::tick`] finds something to do, if any: the
    /// slot's ([`tileos_slots::Slot::next_deadline`]: compared copies past the answer
    /// deadline, the rollback window's end, a hung serving module's bound), an N-version
    /// ballot's deadline, a leaving module's answer deadline, a started module's
    /// [`READY_DEADLINE`], the verifier's [`VERIFIER_DEADLINE`], a restarted manager's
    /// adoption's deadline, the state transfer before a switch and decided deferred work
    /// ([`DEFERRED_BOUND`]). The glue arms the timer domain for it (docs/timer.md), so that
    /// these deadlines pass with no message reaching the manager. Never later than the
    /// first of them; it may be earlier than the tick's action (a tick then finds nothing),
    /// and it may lie in the past for a deadline a tick leaves as it is (deferred work
    /// waiting for the tree's hashing step): the glue then arms a later retry.
    pub fn next_deadline(&self) -> Option<Ticks> {
        let answer = self.config.policy.answer_deadline;
        let after = |since: Ticks, bound: Ticks| since.saturating_add(bound).saturating_add(1);
        let slot = self.slot.next_deadline(self.lineages.is_none());
        let ballots = self.lineages.iter().flat_map(|l| l.ballots.values().map(|b| b.deadline.saturating_add(1)));
        let leaving = self.seats.iter().filter_map(|s| match s.role {
            Role::Leaving(since) if s.caller.is_none() => Some(after(since, answer)),
            _ => None,
        });
        let starts = self.seats.iter().filter_map(|s| {
            let installed = matches!(s.role, Role::Module(id) if self.slot.module(id).is_some_and(|m| m.state == State::Installed));
            s.started_at.filter(|_| installed).map(|at| after(at, READY_DEADLINE))
        });
        let verifier = self.install.as_ref().and_then(|job| match job.phase {
            InstallPhase::Signatures { since, .. } => Some(after(since, VERIFIER_DEADLINE)),
            _ => None,
        });
        let adoption = self.adoption.as_ref().map(|a| after(a.since, ADOPTION_DEADLINE));
        let transfer = self.pre_transfer.map(|p| after(p.since, DEFERRED_BOUND));
        let deferred = self.deferred_since.map(|since| after(since, DEFERRED_BOUND));
        slot.into_iter().chain(ballots).chain(leaving).chain(starts).chain(verifier).chain(adoption).chain(transfer).chain(deferred).min()
    }

    /// Does the work kept off the clients' path, if there is any and now is the moment:
    /// no client request is in flight, no promotion's switch is under way with its rollback
    /// window open (the promoted module has delivered its first answer, or the window
    /// closed: `Manager::switch_holds_deferred_work`) and no step that persisted an update-log
    /// entry ran in this message's handling. The glue calls it after each message it
    /// handled, before it waits for the next, and [`Manager::deferred_step`] when it polled
    /// and found no message. That work, one step at a time: a promotion by the policy (its
    /// update-log entry persisted: encoding, the store's durable write, hashing into the
    /// tree; at the next step its state transfer before the switch started, for policy and
    /// hand promotions alike: `Manager::start_pre_transfer`), the second try of a circuit
    /// breaker's entry whose first write failed (`Manager::log_breaker_rollbacks`), the
    /// withdrawal of a persisted promotion that was abandoned, a promotion by hand's entry
    /// (`Manager::hand_promotion_step`, after the withdrawal of a policy promotion it
    /// superseded), a rollback's (by hand or by the immune system) entry and then the
    /// rollback (`Manager::hand_rollback_step`: each a step alone, and not waiting for a
    /// switch to end), and lowering a module's
    /// schedule to the challengers' (the warm incumbent after the switch: a root-server
    /// call). Every entry is appended before any control request is answered (`control`
    /// does the deferred work first) and before any later entry; [`DEFERRED_BOUND`] after it
    /// was decided it is done whatever waits.
    /// A promotion by the policy also waits for its module to finish the copy it is working
    /// on (`Manager::promotion_waits_for_module`), within the same bound.
    /// Returns whether it did anything.
    pub fn deferred(&mut self) -> bool {
        // The tree's hashing is never done after a message, in its span: only as a step of
        // its own ([`Manager::deferred_step`], when no message waited).
        if self.hashing_is_next() {
            return false;
        }
        self.next_step()
    }

    /// The next deferred step, if one is ready and no entry was persisted in this span.
    fn next_step(&mut self) -> bool {
        if self.entry_step_done || !self.deferred_ready() {
            return false;
        }
        self.do_deferred();
        true
    }

    /// Whether [`Manager::deferred`] has a step to do now (the glue then polls for a message
    /// before it waits, and calls [`Manager::deferred_step`] if none is there).
    pub fn deferred_ready(&self) -> bool {
        if !self.inflight.is_empty() {
            return false;
        }
        if self.deferred_since.is_none() {
            // Nothing decided waits ([`DEFERRED_BOUND`] counts from a decision): only kept
            // entries due to be tried again, and the tree's hashing, if any.
            return self.log_retry_due() || self.hashing_is_next() || self.program_save_next();
        }
        // A rollback by hand does not wait for a switch to end (it ends it); a promotion by
        // hand's entry step is taken only with no switch under way (a switch opens a rollback
        // window, which refuses it), so it has none to wait for.
        if self.hand_rollback.is_some() {
            return !self.rollback_waits_for_catch_up();
        }
        if self.hand_entry_due() {
            return true;
        }
        if self.switch_holds_deferred_work() {
            return false;
        }
        let policy = self.policy_due.is_some()
            && self.logged_promotion.is_none()
            && self.pre_transfer.is_none()
            && self.start_due.is_none()
            && !self.promotion_waits_for_module();
        let stale = self.logged_promotion.is_some() && self.pre_transfer.is_none() && self.start_due.is_none();
        policy
            || stale
            || self.start_due.is_some()
            || self.lowering_due
            || self.log_retry_due()
            || self.hashing_is_next()
            || self.program_save_next()
    }

    /// Whether the next deferred step is one of the settled module's program's save
    /// ([`Manager::program_save_step`]): the last of the deferred work, after the tree's
    /// hashing.
    fn program_save_next(&self) -> bool {
        self.program_save_due() && self.log.pending() == 0 && !self.earlier_work_waits() && self.policy_due.is_none()
    }

    /// Whether deferred work that comes before the tree's hashing and the program's save
    /// waits: a switch holding it back, kept entries due, a rollback by hand, a promotion
    /// by hand's entry, a transfer's start, a persisted promotion's withdrawal, a schedule
    /// to lower.
    fn earlier_work_waits(&self) -> bool {
        self.switch_holds_deferred_work()
            || self.log_retry_due()
            || self.hand_rollback.is_some()
            || self.hand_entry_due()
            || self.start_due.is_some()
            || self.logged_promotion.is_some()
            || self.lowering_due
    }

    /// Whether a promotion's switch holds the deferred work back: it is under way (the
    /// promoted module has delivered no answer yet) and its rollback window is open. A
    /// switch whose window closed first (it elapsed, or the warm module faulted, before any
    /// client called) holds nothing back: its end waits for a client's request, and on an
    /// idle tile the work (a promotion by hand's transfer, say) would wait with it.
    fn switch_holds_deferred_work(&self) -> bool {
        self.switching.is_some() && self.slot.warm().is_some()
    }

    /// Whether the next deferred step is the tree's hashing ([`Manager::hash_entries`]): the
    /// last of the deferred work, after a rollback's and a promotion's steps, a withdrawal
    /// and lowering a schedule (so that it never joins the span of the message that ends a
    /// promotion's switch, as lowering the warm module's schedule does).
    fn hashing_is_next(&self) -> bool {
        self.log.pending() > 0 && !self.earlier_work_waits() && !(self.pre_transfer.is_none() && self.policy_due.is_some())
    }

    /// The next deferred step, in a busy span of its own: the glue polled the front endpoint
    /// and no message waited. Returns whether it did anything.
    pub fn deferred_step(&mut self) -> bool {
        self.check_clock();
        self.entry_step_done = false;
        let done = self.next_step();
        self.reschedule();
        done
    }

    /// Whether a promotion by the policy is due while its module is working on a copy. The
    /// transfer would wait for that copy anyway (the module imports the state after it),
    /// and a client request arriving meanwhile would wait with it; its answer is a message
    /// to the manager, after which the deferred work is tried again (and
    /// [`DEFERRED_BOUND`] still holds for a module that never answers).
    /// Or while its module is being rebuilt after a fault (it waits until it has started).
    fn promotion_waits_for_module(&self) -> bool {
        self.policy_due.is_some_and(|module| self.rebuilding(module).is_some())
            || self
                .policy_due
                .and_then(|module| self.seat_of(Role::Module(module)))
                .and_then(|seat| self.seats.get(seat))
                .is_some_and(|s| s.current.is_some())
    }

    /// Whether the promotion by hand under way has its entry (or the withdrawal of a
    /// superseded policy promotion before it) still to be persisted.
    fn hand_entry_due(&self) -> bool {
        self.hand.as_ref().is_some_and(|h| !h.logged)
    }

    /// One step of the deferred work ([`Manager::deferred`]): the entries whose first write
    /// failed, then either a promotion's next step (the start of the transfer of a
    /// promotion whose entry is persisted, or a policy promotion's entry) or the withdrawal
    /// of an abandoned promotion's entry, and the schedules due.
    pub(super) fn do_deferred(&mut self) {
        // Kept entries first: when due, or before a promotion by hand's entry (which must
        // follow them, and then waits for a step of its own). Refused, they stay kept and the
        // work below goes on (an entry it appends is refused in turn: `append` tries the
        // kept ones first).
        let retried = !self.unlogged.is_empty() && (self.log_retry_due() || self.hand_entry_due()) && self.flush_log().is_ok();
        let now = self.clock.now();
        if let Some(hand) = self.hand_rollback.take() {
            // A rollback by hand's step, alone in its span (the other work waits for the
            // next: `deferred_since` is kept).
            self.hand_rollback_step(hand);
            return;
        }
        if self.hand_entry_due() {
            // A promotion by hand's entry step (or its superseded policy promotion's
            // withdrawal), alone in its span: not after a retried entry in the same one.
            if !retried {
                self.hand_promotion_step();
            }
            return;
        }
        if let Some(module) = self.start_due.take() {
            if !self.start_pre_transfer(module) {
                // Nothing else serves, or no seat: the switch transfers the state itself.
                self.switch_to(module);
            }
        } else if self.logged_promotion.is_none()
            && self.pre_transfer.is_none()
            && let Some(module) = self.policy_due.take()
        {
            self.log_policy_promotion(module);
        } else if !retried && self.hashing_is_next() {
            // The tree catches up with the persisted entries, a step alone: at most
            // `HASH_UNITS_PER_STEP` hashes a step (the rest, if any, at the next steps).
            self.hash_entries(HASH_UNITS_PER_STEP);
            return;
        } else if !retried && self.program_save_next() {
            // The settled module's program, a part a step.
            self.program_save_step();
            return;
        }
        self.withdraw_stale_promotion();
        if core::mem::take(&mut self.lowering_due) {
            self.reschedule_due = true;
            self.generation += 1;
            self.reschedule_to(true);
        }
        let waits = self.policy_due.is_some() || self.start_due.is_some();
        self.deferred_since = if waits { Some(self.deferred_since.unwrap_or(now)) } else { None };
    }

    /// Notes that work was deferred now (the bound counts from the oldest).
    pub(super) fn defer(&mut self) {
        if self.deferred_since.is_none() {
            self.deferred_since = Some(self.clock.now());
        }
    }

    /// A module that left the slot while working on something is stopped once it has not
    /// come back to wait within the answer deadline (it may be spinning: a parked module
    /// must cost nothing).
    fn stop_busy_leavers(&mut self, now: Ticks) {
        let deadline = self.config.policy.answer_deadline;
        for seat in 0..self.seats.len() {
            let busy = matches!(self.seats[seat].role, Role::Leaving(since) if now.saturating_sub(since) > deadline)
                && self.seats[seat].caller.is_none();
            if busy {
                self.stop_seat(seat);
            }
        }
    }

    /// The serving module holding a request unanswered past its bound ([`Slot::overdue_serving`]:
    /// hung without a fault, in a loop or waiting for nothing) is stopped. The promoted one,
    /// past `breaker_unanswered` during the rollback window: the circuit breaker rolls back
    /// as at a fault (`Trip::Unanswered`), the restored module answering every request the
    /// hung one held. A settled one, past `restart_unanswered` (if the policy sets it): it is
    /// restarted as at a fault. Checked at every clock tick, so it needs a message to arrive
    /// (another client's request, a mirrored answer, a control request).
    ///
    /// [`Slot::overdue_serving`]: tileos_slots::Slot::overdue_serving
    fn fail_hung_serving(&mut self, now: Ticks) {
        if self.lineages.is_some() {
            return; // N-version: a lineage that does not answer is outvoted at its ballot's deadline.
        }
        let Some((request, waited)) = self.slot.overdue_serving(now) else { return };
        let serving = self.slot.serving();
        let Some(seat) = self.seat_of(Role::Module(serving)) else { return };
        let promoted = self.slot.module(serving).is_some_and(|m| m.state == State::Promoted);
        let policy = &self.config.policy;
        let (bound, then) = match promoted {
            true => (policy.breaker_unanswered, "rolled-back"),
            false => (policy.restart_unanswered.unwrap_or_default(), "restarted"),
        };
        self.host.note(format_args!(
            "@event slot.serving-hung slot={} module={serving} request={request} waited_ms={} bound_ms={} then={then}",
            self.config.name,
            waited / 1000,
            bound / 1000
        ));
        // The promoted module is rolled back (the warm module answers what it held); a
        // settled one is stopped and restarted as at a fault: the request it hangs on is
        // answered `Failed`, the others are asked again of the restarted module.
        self.seat_lost(seat, false, promoted.then_some((request, waited)));
    }

    /// Challengers started more than [`READY_DEADLINE`] ago that never called READY fail
    /// as if they had faulted (their seat is stopped; the slot rejects or rebuilds them).
    fn fail_hung_starts(&mut self, now: Ticks) {
        let hung: Vec<usize> = (0..self.seats.len())
            .filter(|&seat| {
                let s = &self.seats[seat];
                let installed = matches!(s.role, Role::Module(id) if self.slot.module(id).is_some_and(|m| m.state == State::Installed));
                installed && s.started_at.is_some_and(|at| now.saturating_sub(at) > READY_DEADLINE)
            })
            .collect();
        for seat in hung {
            self.seats[seat].started_at = None;
            self.host.note(format_args!(
                "slot {}: the module in seat {seat} never called READY within {} ms: treated as a fault",
                self.config.name,
                READY_DEADLINE / 1000
            ));
            self.seat_failed(seat, false);
        }
    }

    /// Notes when the message being handled arrived ([`Manager::message_at`]), and
    /// [`Manager::tick`]s if [`CLOCK_CHECK_MICROS`] have passed since the last tick.
    pub(super) fn check_clock(&mut self) {
        let now = self.clock.now();
        self.message_at = now;
        if now.saturating_sub(self.last_tick) >= CLOCK_CHECK_MICROS {
            self.tick();
        }
    }
}
