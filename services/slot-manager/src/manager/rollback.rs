//! Rollbacks (docs/slots.md, "A rollback by hand", "The immune system",
//! "A rollback to a module that is behind"): by hand (the operator's request, its entry
//! persisted first) and the immune system's, with the warm module caught up before the
//! rollback is carried out. The end of a promoted module's window.

use super::Manager;
use super::deferred::DEFERRED_BOUND;
use super::refused;
use super::seats::{Job, Role};
use crate::{Clock, LogStore, Message, ReplyCap, Seats};
use alloc::format;
use alloc::string::String;
use tileos_protocol::slots::{self, RefusalKind};
use tileos_slots::ModuleId;
use tileos_update_log::EventKind;

/// A rollback by hand ([`Manager::rollback_by_hand`]) or by the immune system
/// ([`Manager::immune_rollback`], since `slots21`) under way, carried out as two deferred
/// steps: its update-log entry, then the rollback.
#[derive(Debug)]
pub(super) struct HandRollback {
    /// The module to be rolled back (the promoted one serving when it was asked).
    pub(super) module: ModuleId,
    /// Its entry is persisted (the first step done): the next step catches the warm module
    /// up, or rolls back.
    logged: bool,
    /// The catch-up step is done ([`Manager::catch_up_before_rollback`]): the next step
    /// rolls back, once the warm module's import is done (or past [`DEFERRED_BOUND`]).
    caught_up: bool,
    /// The operator's request (a rollback by hand), answered when the rollback is done or
    /// not carried out.
    reply: Option<ReplyCap>,
    /// The immune system's rollback: the alarm's fields for the manager's
    /// `@event slot.immune-rollback slot=… {alarm} outcome=…` line when it is done.
    alarm: Option<String>,
    /// Its update-log entry's note.
    note: String,
}

impl HandRollback {
    /// Who asked ("by hand", "by the immune system"), for refusals.
    pub(super) fn by(&self) -> &'static str {
        if self.alarm.is_some() { "by the immune system" } else { "by hand" }
    }
}

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    /// The immune system asked the slot to roll back (`why`: its alarm, for the update log,
    /// docs/telemetry.md; `alarm`: its fields for the line at the end). Refused at once with
    /// the reason (nothing to roll back: logged like a manual refusal; a rollback already
    /// under way: `Busy`, which that rollback covers). Else taken (`None`) and carried out
    /// in steps like a rollback by hand (since `slots21`; `Manager::hand_rollback_step`):
    /// its entry ("rolled back by the immune system: `why`") a deferred step, the rollback
    /// the next; when it is done (or cannot be) the manager notes
    /// `@event slot.immune-rollback slot=… {alarm} outcome=…`.
    pub fn immune_rollback(&mut self, why: &str, alarm: &str) -> Option<slots::Response> {
        self.check_clock();
        if let Some(hand) = &self.hand_rollback {
            let reason = format!("the rollback {} of module {} is under way", hand.by(), hand.module);
            return Some(refused(RefusalKind::Busy, &reason));
        }
        let serving = self.slot.serving();
        if self.slot.warm().is_none() {
            let refusal = tileos_slots::RollbackRefusal::NothingToRollBack;
            return Some(self.refuse_logged(RefusalKind::Policy, &self.module_info(serving), &format!("rollback refused: {refusal:?}")));
        }
        self.hand_rollback = Some(HandRollback {
            module: serving,
            logged: false,
            caught_up: false,
            reply: None,
            alarm: Some(alarm.into()),
            note: format!("rolled back by the immune system: {why}"),
        });
        self.entry_step_done = true;
        self.defer();
        None
    }

    /// The step between a rollback's entry and the rollback (since `slots25`) when the warm
    /// module is behind (copies of it were skipped since its last import): instead of the
    /// rolled-back module handing its state over in the rollback's own step
    /// ([`Manager::hand_off`]), the warm module catches up first, the promoted module
    /// serving meanwhile: it gets the serving schedule, its held copies go to its journal
    /// and it imports the serving module's state, exported after every request that module
    /// was sent ([`Manager::bring_up_to_date`]; an import already under way is waited for
    /// instead only when the module is doing it now; one still queued is superseded by a
    /// fresh one, since `rollrestart`, so that a restart during the catch-up's import leaves
    /// the incumbent with every acknowledged request); the copies of requests that arrive
    /// meanwhile queue behind the import. The
    /// rollback is the next step, once the import is done
    /// ([`Manager::rollback_waits_for_catch_up`]): the warm module is then in step and is
    /// restored with no hand-off. Whether a catch-up was started (`false`: the warm module
    /// kept up, or has no seat: the rollback is this step).
    fn catch_up_before_rollback(&mut self) -> bool {
        let Some(seat) = self.slot.warm().and_then(|warm| self.seat_of(Role::Module(warm))) else { return false };
        let Some(s) = self.seats.get(seat) else { return false };
        let importing = s.current.iter().chain(s.queue.iter()).any(|job| matches!(job, Job::Import { .. }));
        if !(s.missed > s.in_step || s.catching_up || importing) {
            return false;
        }
        // A fresh export unless the module is importing now: an import still queued is of a
        // state exported before the requests journaled since, which only this manager's
        // memory holds (since `rollrestart`; [`Manager::import_superseded`]).
        if !matches!(s.current, Some(Job::Import { .. })) {
            self.bring_up_to_date(seat);
        }
        let importing =
            self.seats.get(seat).is_some_and(|s| s.current.iter().chain(s.queue.iter()).any(|job| matches!(job, Job::Import { .. })));
        if !importing {
            return false;
        }
        self.restoring = Some(seat);
        self.reschedule_due = true;
        self.host.note(format_args!("@event slot.rollback-catch-up slot={} seat={seat}", self.config.name));
        true
    }

    /// Whether the rollback under way waits for the warm module's catch-up import
    /// ([`Manager::catch_up_before_rollback`]).
    pub(super) fn rollback_waits_for_catch_up(&self) -> bool {
        // Only while the rollback is still to be made (the breaker may have made one, or the
        // warm module left: the next step then says so).
        let warm = self.slot.warm().and_then(|warm| self.seat_of(Role::Module(warm)));
        self.restoring
            .filter(|&seat| warm == Some(seat))
            .and_then(|seat| self.seats.get(seat))
            .is_some_and(|s| s.current.iter().chain(s.queue.iter()).any(|job| matches!(job, Job::Import { .. })))
    }

    /// A rollback by hand (`Rollback`, tilectl): refused at once with its reason (a rollback
    /// or a promotion by hand already under way: `Busy`; no rollback window open: `Policy`, logged as
    /// refusals are), else taken and carried out as two deferred steps of their own
    /// ([`Manager::hand_rollback_step`]): its update-log entry persisted, then the rollback.
    /// The serving (promoted) module serves the requests that arrive meanwhile, as before.
    /// The operator is answered when the rollback is done (`RolledBack`), or with the
    /// reason it was not carried out. Returns the answer to give now, or `None` when
    /// `reply` is kept.
    pub(super) fn rollback_by_hand(&mut self, reply: ReplyCap) -> Option<(ReplyCap, slots::Response)> {
        if let Some(hand) = &self.hand_rollback {
            let reason = format!("the rollback {} of module {} is under way: one at a time", hand.by(), hand.module);
            return Some((reply, refused(RefusalKind::Busy, &reason)));
        }
        if let Some(hand) = &self.hand {
            let reason = format!("the promotion by hand of module {} is under way: a rollback waits until it is done", hand.module);
            return Some((reply, refused(RefusalKind::Busy, &reason)));
        }
        let serving = self.slot.serving();
        if self.slot.warm().is_none() {
            let refusal = tileos_slots::RollbackRefusal::NothingToRollBack;
            return Some((
                reply,
                self.refuse_logged(RefusalKind::Policy, &self.module_info(serving), &format!("rollback refused: {refusal:?}")),
            ));
        }
        self.hand_rollback = Some(HandRollback {
            module: serving,
            logged: false,
            caught_up: false,
            reply: Some(reply),
            alarm: None,
            note: "rolled back by hand".into(),
        });
        // Its entry is the next step's, not this request's.
        self.entry_step_done = true;
        self.defer();
        None
    }

    /// One step of the rollback by hand under way: first its update-log entry (persisted,
    /// then in the tree: *written before it is acted on*), then, at the next step, the
    /// rollback itself (the transitions, the restored module's hand-off or journal, its
    /// schedule at the switch of roles), after which the operator is answered. If the
    /// promoted module was rolled back meanwhile (the breaker, the immune system: their own
    /// entries), the operator is answered `RolledBack` and nothing more is written; if the
    /// window closed meanwhile (it elapsed, or the warm module faulted), nothing is rolled
    /// back: before the entry the refusal is logged as any, after it the entry is withdrawn
    /// ([`Manager::withdraw_hand_rollback`]).
    pub(super) fn hand_rollback_step(&mut self, mut hand: HandRollback) {
        let module = hand.module;
        let open = self.slot.warm().is_some() && self.slot.serving() == module;
        self.entry_step_done = true;
        if !open {
            self.hand_rollback_overtaken(hand);
            return;
        }
        if !hand.logged {
            let note = core::mem::take(&mut hand.note);
            match self.append(EventKind::Rollback, &self.module_info(module), &note) {
                Ok(index) => {
                    self.host.note(format_args!("@event slot.rollback-logged slot={} module={module} index={index}", self.config.name));
                    hand.logged = true;
                    self.hand_rollback = Some(hand);
                }
                Err(reason) => {
                    let reason = format!("the update log was not persisted ({reason}): nothing rolled back");
                    self.answer_rollback(hand, &refused(RefusalKind::Store, &reason));
                }
            }
            return;
        }
        if !hand.caught_up {
            hand.caught_up = true;
            if self.catch_up_before_rollback() {
                self.hand_rollback = Some(hand);
                return;
            }
        }
        if self.rollback_waits_for_catch_up() {
            // Past `DEFERRED_BOUND`: rolled back now, the import still under way (the
            // restored module gets the state of the import's export, or replays its journal).
            self.host.note(format_args!(
                "slot {}: the warm module's catch-up did not complete within {} ms: rolled back without it",
                self.config.name,
                DEFERRED_BOUND / 1000
            ));
        }
        self.restoring = None;
        self.reschedule_due = true;
        let now = self.clock.now();
        match self.slot.rollback(now) {
            Ok(out) => {
                self.process(out);
                let response = slots::Response::RolledBack { module: self.slot.serving() };
                self.answer_rollback(hand, &response);
            }
            // Not reached: the window was checked just above and nothing ran in between.
            Err(_) => self.hand_rollback_overtaken(hand),
        }
    }

    /// The rollback by hand `hand` cannot be carried out as asked: the promoted module was
    /// rolled back meanwhile (answered `RolledBack`), or the window closed (refused, and a
    /// persisted entry withdrawn).
    fn hand_rollback_overtaken(&mut self, hand: HandRollback) {
        let serving = self.slot.serving();
        if serving != hand.module {
            self.host.note(format_args!(
                "slot {}: module {} was rolled back before the rollback by hand was carried out: module {serving} serves",
                self.config.name, hand.module
            ));
            self.answer_rollback(hand, &slots::Response::RolledBack { module: serving });
            return;
        }
        let reason = format!("the rollback window closed before the rollback {} was carried out: module {serving} serves on", hand.by());
        let response = if hand.logged {
            self.withdraw_hand_rollback(hand.module);
            refused(RefusalKind::Policy, &reason)
        } else {
            self.refuse_logged(RefusalKind::Policy, &self.module_info(serving), &reason)
        };
        self.answer_rollback(hand, &response);
    }

    /// The end of the rollback `hand` (`response`: done, or why not): the operator of a
    /// rollback by hand is answered; the immune system's gets the manager's line
    /// `@event slot.immune-rollback slot=… {alarm} outcome=…`.
    fn answer_rollback(&mut self, hand: HandRollback, response: &slots::Response) {
        if self.restoring.take().is_some() {
            // Not restored after all: its schedule follows its role again.
            self.reschedule_due = true;
        }
        if let Some(reply) = hand.reply {
            self.host.reply(reply, &Message::encode(response));
        }
        if let Some(alarm) = hand.alarm {
            let outcome = match response {
                slots::Response::RolledBack { module } => format!("rolled-back serving={module}"),
                other => format!("refused ({other:?})").replace(' ', "_"),
            };
            self.host.note(format_args!("@event slot.immune-rollback slot={} {alarm} outcome={outcome}", self.config.name));
        }
    }

    /// Appends the entry withdrawing the persisted, not carried out rollback by hand of
    /// `module` (a `Promote` entry noting "rollback withdrawn", so the log's last word on the
    /// slot is the module that serves). If the store refuses it, it is kept and tried once
    /// more with the next deferred work, as a breaker's entry is.
    fn withdraw_hand_rollback(&mut self, module: ModuleId) {
        let note = format!("rollback withdrawn: not carried out (the rollback window closed), module {module} serves on");
        let event = self.event(EventKind::Promote, &self.module_info(module), &note);
        self.host.note(format_args!("@event slot.rollback-withdrawn slot={} module={module}", self.config.name));
        // Older kept entries first: the log's timestamps never go back (`tilectl log --verify`).
        self.append_or_keep(event, format_args!("the withdrawal of module {module}'s rollback"));
    }
}
