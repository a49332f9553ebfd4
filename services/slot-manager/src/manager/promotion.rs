//! Promotions (docs/slots.md, "Promotion", "A promotion transfers before its switch",
//! "Abandoned promotions."): by the policy (its update-log entry, then its state transfer
//! as deferred work) and by hand (the operator's request), the transfer before the switch,
//! and the switch itself. A challenger's step from shadowing to serving.

use super::Manager;
use super::seats::{Job, Role};
use super::{ModuleInfo, refused};
use crate::{Clock, LogStore, Message, ReplyCap, Seats};
use alloc::format;
use alloc::string::String;
use tileos_protocol::slots::{self, RefusalKind};
use tileos_slots::{ModuleId, PromoteMode, State, Ticks};
use tileos_update_log::EventKind;

/// A promotion's switch, from the promotion to the promoted module's first delivered answer
/// (timed for `make bench`: the `slot.switch` line).
#[derive(Clone, Copy, Debug)]
pub(super) struct Switch {
    /// The promoted module.
    pub(super) module: ModuleId,
    /// When it was promoted.
    pub(super) since: Ticks,
    /// When it was ready to serve: its import done, or at once when it needed none.
    pub(super) ready: Option<Ticks>,
    /// Whether it imported the warm module's state first.
    pub(super) transfer: bool,
    /// The state was transferred just before the switch, with no request in between
    /// ([`PreTransfer`]): how long that transfer took (export asked for → import done).
    pub(super) pre_transfer: Option<Ticks>,
    /// When the warm module's exported state reached the manager (a transfer at the switch).
    pub(super) exported: Option<Ticks>,
}

/// A promotion's state transfer made before its switch (by the policy or by hand: its
/// update-log entry is persisted first): the serving module exports while it still
/// serves, the module to be promoted imports, and the switch follows the import at once.
/// The module keeps the copies of the requests that came after the export, in order, so
/// its state is the serving module's once it has computed them: the switch keeps them and
/// transfers nothing, unless the module skipped a copy meanwhile (it fell `queue_limit`
/// behind), when the switch transfers the state again.
#[derive(Clone, Copy, Debug)]
pub(super) struct PreTransfer {
    /// The module to be promoted.
    pub(super) module: ModuleId,
    /// Its seat.
    pub(super) seat: usize,
    /// When the export was asked for.
    pub(super) since: Ticks,
}

/// A promotion by hand under way ([`Manager::promote_by_hand`]): its update-log entry
/// (after the withdrawal of a superseded policy promotion's, if any) is a deferred step of
/// its own ([`Manager::hand_promotion_step`]), then it goes the way of a policy's (its
/// transfer's start, the switch at the module's import).
#[derive(Debug)]
pub(super) struct HandPromotion {
    /// The module to be promoted.
    pub(super) module: ModuleId,
    /// Promoted whatever the evidence says (`tilectl promote --force`).
    force: bool,
    /// Its entry is persisted (the entry step done): [`Manager::logged_promotion`] is its
    /// module, and the transfer's start is the next step.
    pub(super) logged: bool,
    /// The operator's request, answered when the switch is made or the promotion abandoned.
    reply: ReplyCap,
}

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    /// Persists the update-log entry of `module`'s promotion by the policy, as a deferred
    /// step of its own (no client request in flight): the transfer before the switch starts
    /// at the next step ([`Manager::start_due`]), and the switch at the module's import
    /// appends nothing. Nothing is written if the module is not promotable any more (its
    /// evidence fell short, or a promotion's window opened meanwhile). If the entry cannot
    /// be persisted, nothing is promoted: the failure is counted (`log_failures`) and the
    /// module stays promotable, for a promotion by hand.
    pub(super) fn log_policy_promotion(&mut self, module: ModuleId) {
        if !self.slot.module(module).is_some_and(|m| m.state == State::Promotable) || self.slot.warm().is_some() {
            return;
        }
        if self.rebuilding(module).is_some() {
            // Past the bound while it is rebuilt after a fault: due again once it runs.
            self.policy_due = Some(module);
            return;
        }
        let evidence = self.slot.module(module).map(|m| m.evidence).unwrap_or_default();
        let note = format!("promoted by policy: {} agreeing, {} disagreeing", evidence.agreeing, evidence.disagreeing);
        let info = self.module_info(module);
        self.entry_step_done = true;
        match self.append(EventKind::Promote, &info, &note) {
            Ok(index) => {
                self.logged_promotion = Some(module);
                self.start_due = Some(module);
                self.defer();
                self.host.note(format_args!("@event slot.promotion-logged slot={} module={module} index={index}", self.config.name));
            }
            Err(reason) => {
                self.stats.log_failures += 1;
                self.host.note(format_args!(
                    "slot {}: module {module} not promoted: its update-log entry was not persisted ({reason})",
                    self.config.name
                ));
            }
        }
    }

    /// Starts the state transfer before the switch of a promotion whose entry is persisted
    /// ([`PreTransfer`]): the module to be promoted gets the serving schedule now (so
    /// neither its import nor its first requests wait for a challenger's budget, and the
    /// switch makes no root-server call), the serving module exports after everything it
    /// was sent, and the module imports after everything it holds; the serving module goes
    /// on serving meanwhile, and copies of new requests queue behind the import. The switch
    /// follows at the import ([`Manager::pre_transfer_done`]). Returns false (the caller
    /// switches, with the transfer at the switch) when the module has no seat or nothing
    /// else serves; a module that left the slot meanwhile is abandoned.
    pub(super) fn start_pre_transfer(&mut self, module: ModuleId) -> bool {
        if !self.slot.module(module).is_some_and(|m| matches!(m.state, State::Shadowing | State::Promotable)) {
            self.abandon_promotion(module, "it is no longer shadowing");
            return true;
        }
        if self.rebuilding(module).is_some() {
            self.abandon_promotion(module, "it faulted and is being rebuilt");
            return true;
        }
        if self.lineages.is_some() || self.pre_transfer.is_some() {
            return false;
        }
        let Some(seat) = self.seat_of(Role::Module(module)) else { return false };
        let Some(source) = self.seat_of(Role::Module(self.slot.serving())).filter(|&x| x != seat) else { return false };
        let transfer = self.next_transfer();
        let now = self.clock.now();
        self.pre_transfer = Some(PreTransfer { module, seat, since: now });
        self.reschedule_due = true;
        self.generation += 1;
        self.reschedule();
        if let Some(s) = self.seats.get_mut(seat) {
            s.import_covers = s.missed;
        }
        self.push(seat, Job::Import { state: None, transfer });
        self.push(source, Job::Export { target: seat, transfer });
        true
    }

    /// Withdraws a persisted promotion that will not be carried out any more (abandoned:
    /// [`Manager::abandon_promotion`]): the log gets a `Rollback` entry saying so, so it
    /// never says a module serves that does not.
    pub(super) fn withdraw_stale_promotion(&mut self) {
        let Some(module) = self.logged_promotion else { return };
        if self.pre_transfer.is_some_and(|p| p.module == module) || self.start_due == Some(module) {
            return;
        }
        self.withdraw_promotion(module);
    }

    /// Appends the entry withdrawing the persisted, not carried out promotion of `module`
    /// ([`Manager::logged_promotion`]). If the store refuses it, it is kept and tried again
    /// as deferred work until the store takes it, as a breaker's entry is.
    fn withdraw_promotion(&mut self, module: ModuleId) {
        self.logged_promotion = None;
        let note = format!("promotion withdrawn: not carried out, module {} serves on", self.slot.serving());
        let event = self.event(EventKind::Rollback, &self.module_info(module), &note);
        self.entry_step_done = true;
        self.host.note(format_args!("@event slot.promotion-withdrawn slot={} module={module}", self.config.name));
        self.append_or_keep(event, format_args!("the withdrawal of module {module}'s promotion"));
    }

    /// Seat `seat` imported a state. If it is the seat of a promotion's transfer before its
    /// switch and no import is still queued for it (a catch-up's import may have replaced
    /// the transfer's own), the switch is made now, when the module skipped no copy since
    /// the import was asked for: its state plus the copies it holds (of every request since
    /// the export, in order) is the serving module's, so the switch keeps those copies and
    /// transfers nothing. A module that fell `queue_limit` behind meanwhile is catching up:
    /// the switch waits for the catch-up's import (the serving module serves on; the
    /// transfer's limit, `DEFERRED_BOUND` from its start, still holds). So a module is
    /// promoted only with the whole state: it never takes it from the warm module after
    /// the switch (were the warm module to fault first, the requests it skipped would be
    /// lost from its state).
    pub(super) fn pre_transfer_done(&mut self, seat: usize) {
        let Some(pre) = self.pre_transfer.filter(|p| p.seat == seat) else { return };
        let Some(s) = self.seats.get(seat) else { return };
        if s.queue.iter().any(|job| matches!(job, Job::Import { .. })) {
            return;
        }
        if s.role == Role::Module(pre.module) && !s.catching_up && s.missed == s.in_step {
            self.pre_transfer = None;
            self.in_step_for = Some((pre.module, self.message_at.saturating_sub(pre.since)));
            self.switch_to(pre.module);
            self.in_step_for = None;
        } else {
            self.host.note(format_args!(
                "slot {}: module {} skipped copies during its state transfer before its promotion: its switch waits for its catch-up",
                self.config.name, pre.module
            ));
        }
    }

    /// The promotion of `module` will not be carried out (`why`): its transfer's claim to a
    /// switch ends (an import under way still happens and changes nothing), a promotion by
    /// hand's operator is answered with the reason, and a persisted entry is withdrawn by
    /// the next deferred step ([`Manager::withdraw_stale_promotion`]).
    pub(super) fn abandon_promotion(&mut self, module: ModuleId, why: &str) {
        if self.pre_transfer.is_some_and(|p| p.module == module) {
            self.pre_transfer = None;
        }
        if self.start_due == Some(module) {
            self.start_due = None;
        }
        self.host.note(format_args!("@event slot.promotion-abandoned slot={} module={module} why=\"{why}\"", self.config.name));
        if let Some(hand) = self.hand.take_if(|h| h.module == module) {
            let reason = format!("the promotion of module {module} was abandoned: {why}; module {} serves on", self.slot.serving());
            self.host.reply(hand.reply, &Message::encode(&refused(RefusalKind::Policy, &reason)));
        }
        if self.logged_promotion == Some(module) {
            self.defer();
        }
    }

    /// A promotion by hand (`Promote`, tilectl): refused at once with its reason (no such
    /// module: `NotFound`; not shadowing, a rollback window open, evidence short without
    /// `force`: `Policy`, logged as refusals are; a promotion or a rollback by hand already
    /// under way: `Busy`), else taken: its reply capability is kept and nothing else is done
    /// in this span. A policy promotion under way is superseded (its transfer's claim ends
    /// now; its persisted entry, if any, is withdrawn by the next deferred step). The
    /// promotion's own update-log entry is the deferred step after that
    /// ([`Manager::hand_promotion_step`]), then it goes the way of a policy's: its state
    /// transfer before the switch starts as the next step ([`Manager::start_pre_transfer`]),
    /// the incumbent serving meanwhile, and the switch follows the module's import. The
    /// operator is answered then: `Promoted`, or the refusal saying why the promotion was
    /// abandoned (a persisted entry then withdrawn in the log). Returns the answer to give
    /// now, or `None` when `reply` is kept.
    pub(super) fn promote_by_hand(&mut self, module: u32, force: bool, reply: ReplyCap) -> Option<(ReplyCap, slots::Response)> {
        if let Some(hand) = &self.hand_rollback {
            let reason = format!("the rollback {} of module {} is under way: a promotion waits until it is done", hand.by(), hand.module);
            return Some((reply, refused(RefusalKind::Busy, &reason)));
        }
        if let Some(hand) = &self.hand {
            let reason = format!("the promotion by hand of module {} is under way: one at a time", hand.module);
            return Some((reply, refused(RefusalKind::Busy, &reason)));
        }
        if let Some(reason) = self.hand_off_pending() {
            return Some((reply, refused(RefusalKind::Busy, &reason)));
        }
        if let Some(reason) = self.rebuild_refusal(module) {
            return Some((reply, refused(RefusalKind::Busy, &reason)));
        }
        let mode = if force { PromoteMode::Forced } else { PromoteMode::IfEvidenceSuffices };
        let now = self.clock.now();
        match self.slot.check_promote(module, mode, now) {
            Ok(_) => {}
            Err(tileos_slots::PromoteRefusal::NoSuchModule(id)) => {
                return Some((reply, refused(RefusalKind::NotFound, &format!("no module {id} in the slot"))));
            }
            Err(refusal) => {
                let info = self.module_info(module);
                return Some((reply, self.refuse_logged(RefusalKind::Policy, &info, &format!("promotion refused: {refusal:?}"))));
            }
        }
        // A policy promotion under way (due, its entry persisted, its transfer under way)
        // is superseded: the log first says it was not carried out (the next step).
        self.policy_due = None;
        if let Some(other) = self.start_due.or(self.pre_transfer.map(|p| p.module)) {
            self.abandon_promotion(other, &format!("superseded by the promotion by hand of module {module}"));
        }
        self.hand = Some(HandPromotion { module, force, logged: false, reply });
        self.generation += 1;
        // Its entry is a later step's, not this request's.
        self.entry_step_done = true;
        self.defer();
        None
    }

    /// Why `module` cannot be promoted now, if it is being rebuilt after a fault (its
    /// module does not run: it would import nothing and serve nothing).
    fn rebuild_refusal(&self, module: ModuleId) -> Option<String> {
        let (seat, staged, bytes) = self.rebuilding(module)?;
        Some(format!(
            "module {module} is being rebuilt after a fault (seat {seat}, {staged} of {bytes} bytes staged): a promotion waits until it has started"
        ))
    }

    /// Why a promotion by hand must wait, if a restored module still waits for a hand-off's
    /// import ([`Manager::hand_off`]): were the hand-off to fail, the restored module would
    /// replay its journal, and a module promoted meanwhile would have imported its state
    /// without those requests (docs/slots.md, "The warm module's journal").
    fn hand_off_pending(&self) -> Option<String> {
        let (from, to) = self.seats.iter().enumerate().find_map(|(i, s)| s.handing.as_ref().map(|(_, to)| (i, *to)))?;
        Some(format!("a rollback's hand-off (seat {from} to seat {to}) is under way: a promotion waits until it is done"))
    }

    /// The entry step of the promotion by hand under way, alone in its busy span (no client
    /// request in flight, no message waiting): first, if a superseded policy promotion's
    /// entry is persisted, its withdrawal (a step of its own); then, at the next step, the
    /// promotion is checked again (`Slot::check_promote`: the module may have faulted, been
    /// rejected or lost its evidence meanwhile) and its own entry persisted
    /// (`@event slot.promotion-logged … by=hand`), after which the transfer's start is the
    /// next step. A promotion no longer allowed is refused with the reason (logged as
    /// refusals are); a store that refuses the entry answers `Store` and promotes nothing.
    pub(super) fn hand_promotion_step(&mut self) {
        self.entry_step_done = true;
        if let Some(superseded) = self.logged_promotion {
            // Not the hand's own (it is not persisted yet): the policy's it superseded.
            self.withdraw_promotion(superseded);
            return;
        }
        let Some(mut hand) = self.hand.take() else { return };
        let module = hand.module;
        if let Some(reason) = self.hand_off_pending() {
            // A rollback with a hand-off came after the request was accepted.
            let reason = format!("the promotion by hand of module {module} was abandoned before its entry: {reason}");
            self.host.reply(hand.reply, &Message::encode(&refused(RefusalKind::Busy, &reason)));
            return;
        }
        if let Some(reason) = self.rebuild_refusal(module) {
            // It faulted after the request was accepted.
            let reason = format!("the promotion by hand of module {module} was abandoned before its entry: {reason}");
            self.host.reply(hand.reply, &Message::encode(&refused(RefusalKind::Busy, &reason)));
            return;
        }
        let mode = if hand.force { PromoteMode::Forced } else { PromoteMode::IfEvidenceSuffices };
        let info = self.module_info(module);
        if let Err(refusal) = self.slot.check_promote(module, mode, self.clock.now()) {
            let serving = self.slot.serving();
            let response = match refusal {
                // It left the slot (a rejected module is forgotten): not logged, as in a request.
                tileos_slots::PromoteRefusal::NoSuchModule(_) => refused(
                    RefusalKind::NotFound,
                    &format!(
                        "no module {module} in the slot any more: the promotion by hand was abandoned before its entry; module {serving} serves on"
                    ),
                ),
                _ => self.refuse_logged(
                    RefusalKind::Policy,
                    &info,
                    &format!("the promotion of module {module} was abandoned before its entry: {refusal:?}; module {serving} serves on"),
                ),
            };
            self.host.reply(hand.reply, &Message::encode(&response));
            return;
        }
        let evidence = self.slot.module(module).map(|m| m.evidence).unwrap_or_default();
        let note = format!(
            "promoted by hand{}: {} agreeing, {} disagreeing, {} timeouts, {} faults",
            if hand.force { " (forced)" } else { "" },
            evidence.agreeing,
            evidence.disagreeing,
            evidence.timeouts,
            evidence.faults
        );
        match self.append(EventKind::Promote, &info, &note) {
            Ok(index) => {
                self.host
                    .note(format_args!("@event slot.promotion-logged slot={} module={module} index={index} by=hand", self.config.name));
                hand.logged = true;
                self.hand = Some(hand);
                self.generation += 1;
                self.logged_promotion = Some(module);
                self.start_due = Some(module);
                self.defer();
            }
            Err(reason) => {
                let reason = format!("the update log was not persisted ({reason}): nothing promoted");
                self.host.reply(hand.reply, &Message::encode(&refused(RefusalKind::Store, &reason)));
            }
        }
    }

    /// The switch of the promotion of `module`, whose update-log entry is persisted
    /// ([`Manager::logged_promotion`]: *written before it is acted on*): made at the
    /// module's import after its transfer before the switch ([`Manager::pre_transfer_done`]),
    /// so the switch itself appends nothing and (in step) transfers nothing. A module that
    /// is no longer promotable by its promotion's terms (the policy's evidence, or a promotion
    /// by hand's without `force`, fell short; it left the slot) is not promoted: the
    /// promotion is abandoned and its entry withdrawn. A promotion by hand's operator is
    /// answered here.
    pub(super) fn switch_to(&mut self, module: ModuleId) {
        if self.logged_promotion != Some(module) {
            // Never switched without its entry.
            self.abandon_promotion(module, "its update-log entry is not persisted");
            return;
        }
        let now = self.clock.now();
        let mode = match self.hand.as_ref().filter(|h| h.module == module) {
            Some(hand) if hand.force => PromoteMode::Forced,
            Some(_) => PromoteMode::IfEvidenceSuffices,
            None => PromoteMode::Policy,
        };
        // `Slot::promote` changes nothing when it refuses: no trial copy of the `Slot` (the
        // switch is on the serving path).
        match self.slot.promote(module, mode, now) {
            Ok(out) => {
                self.logged_promotion = None;
                self.process(out);
                if let Some(hand) = self.hand.take_if(|h| h.module == module) {
                    self.host.reply(hand.reply, &Message::encode(&slots::Response::Promoted { module }));
                }
            }
            Err(refusal) => self.abandon_promotion(module, &format!("refused at its switch: {refusal:?}")),
        }
    }

    /// What the update log says of module `id` (its manifest's name, version and hash).
    pub(super) fn module_info(&self, id: ModuleId) -> ModuleInfo {
        self.modules.get(&id).cloned().unwrap_or(ModuleInfo { name: format!("module {id}"), version: String::new(), hash: [0; 32] })
    }
}
