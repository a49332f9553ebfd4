//! State transfers between seats (docs/slots.md, "State moves by transfer."): a module's
//! `EXPORT` answered into the target's `IMPORT`, the transfers numbered, and the seats a
//! transfer holds up released. Used by promotions, rollbacks and restarts.

use super::Manager;
use super::seats::{Job, Role};
use crate::{Clock, LogStore, Seats};
use alloc::vec::Vec;
use tileos_slots::State;

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    pub(super) fn unblock_exports(&mut self, jobs: &[Job]) {
        for job in jobs {
            if let Job::Export { target, transfer } = job {
                self.unblock(*target, *transfer);
            }
        }
    }

    /// A number for a state transfer (an export and the import waiting for it).
    pub(super) fn next_transfer(&mut self) -> u64 {
        self.transfers += 1;
        self.transfers
    }

    /// Seat `target` waited for the state of `transfer`, which will not come: it goes on
    /// without.
    pub(super) fn unblock(&mut self, target: usize, transfer: u64) {
        if let Some(t) = self.seats.get_mut(target)
            && let Some(at) = t.queue.iter().position(|j| matches!(j, Job::Import { state: None, transfer: x } if *x == transfer))
        {
            t.queue.remove(at);
            if t.journal_import.is_some_and(|(x, _)| x == transfer) {
                t.journal_import = None;
            }
            if let Some(pre) = self.pre_transfer.filter(|p| p.seat == target) {
                self.abandon_promotion(pre.module, "its state's source stopped during its transfer before the switch");
            }
            self.host.note(format_args!("slot {}: seat {target} gets no state (its source stopped)", self.config.name));
        }
        if self.is_warm_seat(target) {
            // Still warm (its source broke the protocol): brought up to date by another
            // import if its journal is past its limit.
            self.check_journal(target);
        } else {
            // Restored: it replays what its state misses before it serves.
            self.replay_journal(target);
        }
        self.dispatch(target);
    }

    /// The module of `seat` called READY and needs the reference module's state first.
    pub(super) fn ready_for_state(&mut self, seat: usize) {
        let now = self.clock.now();
        self.transfer_state(seat);
        if let Some(Role::Module(id)) = self.seats.get(seat).map(|s| s.role)
            && self.slot.module(id).is_some_and(|m| m.state == State::Installed)
        {
            match self.slot.started(id, now) {
                Ok(out) => self.process(out),
                Err(e) => self.host.note(format_args!("slot {}: module {id} started: {e:?}", self.config.name)),
            }
        }
    }

    /// Seat `seat` imports the reference module's state before anything else: its queued
    /// copies (in that state already, or never to be applied) are dropped, and the reference
    /// module exports after everything it was sent.
    pub(super) fn transfer_state(&mut self, seat: usize) {
        let source = match self.seats.get(seat).map(|s| s.role) {
            Some(Role::Lineage(_)) => self
                .lineages
                .as_ref()
                .and_then(|l| l.seats.iter().copied().find(|&x| x != seat && self.seats.get(x).is_some_and(|s| s.program.is_some()))),
            Some(Role::Module(_) | Role::Replica) => self.seat_of(Role::Module(self.slot.serving())).filter(|&x| x != seat),
            _ => None,
        };
        if let Some(source) = source {
            let transfer = self.next_transfer();
            let mut dropped = Vec::new();
            let mut messages = Vec::new();
            if let Some(s) = self.seats.get_mut(seat) {
                // Copies queued so far are in the exported state already (or never will be).
                s.queue.retain(|job| match job {
                    Job::Request { id, message, copy_until: Some(_) } => {
                        dropped.push(*id);
                        messages.push(message.clone());
                        false
                    }
                    Job::Import { .. } => false,
                    _ => true,
                });
                s.queue.push_front(Job::Import { state: None, transfer });
                s.import_covers = s.missed;
            }
            if self.is_warm_seat(seat) {
                // The import covers the journal and the dropped copies (the serving module
                // was sent them all before its export).
                for (&id, message) in dropped.iter().zip(&messages) {
                    self.journal_add(seat, id, message);
                }
                if let Some(s) = self.seats.get_mut(seat) {
                    s.journal_import = Some((transfer, s.journal.len()));
                }
            }
            self.copies_dropped(seat, &dropped);
            self.push(source, Job::Export { target: seat, transfer });
        }
    }
}
