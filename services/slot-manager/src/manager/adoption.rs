//! The serving seat kept by the root server, a restarted manager's settled module kept
//! serving, and its adoption of the state of the module that served last otherwise
//! (docs/slots.md, "A restarted manager takes the state of the module that served last",
//! "A settled promotion outlives a manager restart").
//!
//! The journal and the copies queued for a warm module are the manager's memory: a
//! restart loses them. What does not die with the manager is the module that served last,
//! which holds every request a client was answered. So the manager records, in the root
//! server (`SeatServing`), the seat whose module's answers it delivers, before it delivers
//! the first answer of a module that did not serve before; a restarted manager reads it
//! back (`ServingSeat`) and, if it is not seat 0, has that module export its state into
//! the incumbent in seat 0 (the module a restarted manager serves) before any client
//! request reaches it, then stops the module's seat. Recorded again, *settled*, when the
//! module's rollback window closes: a restarted manager then keeps that module serving in
//! its seat, as module 0 (the update log names its bundle), and stops the incumbent's.

use super::seats::{Job, Role};
use super::{Manager, ModuleInfo};
use crate::{Clock, LogStore, Seats};
use alloc::format;
use alloc::string::String;
use tileos_protocol::supervisor::{self, SeatProgram, SeatSchedule};
use tileos_slots::{ORIGINAL_INCUMBENT, State, Ticks};

/// How long the module that served last may take, from the manager's start, to export its
/// state into the incumbent and the incumbent to import it; past that (it hangs) the
/// adoption is given up and the incumbent serves with the state it has. Clients wait
/// meanwhile, so it is short; an export and an import take well under a millisecond.
pub const ADOPTION_DEADLINE: Ticks = 1_000_000;

/// The adoption under way: seat `source`'s module exports its state for seat 0's import
/// `transfer`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Adoption {
    pub(super) source: usize,
    pub(super) transfer: u64,
    pub(super) since: Ticks,
}

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    /// The seat the root server has recorded as the serving one (`ServingSeat`) and whether
    /// its module served settled; seat 0, not settled (the incumbent's), if it cannot say,
    /// noted.
    pub(super) fn recorded_serving_seat(&mut self) -> (usize, bool) {
        match self.host.supervisor(&supervisor::Request::ServingSeat) {
            Ok(supervisor::Response::ServingSeat { seat, settled }) if usize::from(seat) < self.seats.len() => (usize::from(seat), settled),
            other => {
                self.host.note(format_args!(
                    "slot {}: the root server did not say which seat served last ({other:?}): taken to be seat 0",
                    self.config.name
                ));
                (0, false)
            }
        }
    }

    /// Records `seat` as the serving one in the root server, before its module's first
    /// delivered answer, with whether the serving module is settled (no rollback window
    /// open). A refusal (not expected: the seat's module is answering) is noted, and not
    /// asked again until another seat serves or the module settles.
    #[cold]
    #[inline(never)]
    pub(super) fn record_serving(&mut self, seat: usize) {
        let settled = self.slot.module(self.slot.serving()).is_some_and(|m| m.state == State::Settled);
        (self.serving_recorded, self.serving_recorded_settled) = (seat, settled);
        let Ok(number) = u8::try_from(seat) else { return };
        match self.seat_request(&supervisor::Request::SeatServing { seat: number, settled }) {
            Ok(_) => {
                self.host.note(format_args!("@event slot.serving-recorded slot={} seat={seat} settled={settled}", self.config.name))
            }
            Err(error) => self.host.note(format_args!(
                "slot {}: seat {seat} could not be recorded as the serving one ({error}): a restart would take the state of seat {}'s module",
                self.config.name, self.serving_recorded
            )),
        }
    }

    /// Module `module` settled (its window closed, or its warm module faulted): if its
    /// seat is the one recorded as serving, it is recorded again, settled, so that a
    /// restarted manager keeps it serving. (A module restored by a rollback is recorded,
    /// settled, before its first delivered answer, once it holds every answered request.)
    pub(super) fn record_settled(&mut self, module: tileos_slots::ModuleId) {
        if module == self.slot.serving()
            && !self.serving_recorded_settled
            && self.seat_of(Role::Module(module)) == Some(self.serving_recorded)
        {
            self.record_serving(self.serving_recorded);
        }
    }

    /// At a restart, when the root server recorded seat `seat` (not the incumbent's) as
    /// serving settled: its module serves on as module 0, named by the update log's last
    /// promotion still standing (`promoted`), with its own state, and the incumbent's seat
    /// (its module retired at the window's close, parked) is stopped. Its program is the
    /// one saved on the store if that is the module's ([`Manager::kept_program`]), so a fault
    /// rebuilds it; otherwise [`Program::Kept`]: if it is lost later, the incumbent serves
    /// again ([`Manager::kept_module_lost`]). Returns false, noted, when it cannot be kept (the
    /// log names no promoted module, or the seat runs no module): the restart then goes on
    /// as for a module whose window was open.
    pub(super) fn keep_settled_module(&mut self, seat: usize, promoted: Option<ModuleInfo>) -> bool {
        let name = self.config.name.clone();
        let Some(info) = promoted else {
            self.host.note(format_args!(
                "slot {name}: seat {seat} was recorded as serving settled, but the update log names no promoted module that serves: the incumbent serves again"
            ));
            return false;
        };
        if let Err(refusal) = self.serves_at_the_serving_schedule(seat) {
            self.host.note(format_args!(
                "slot {name}: seat {seat}, recorded as serving settled, runs no module ({refusal}): the incumbent serves again"
            ));
            return false;
        }
        self.free_the_incumbents_seat("at the restart");
        let program = self.kept_program(&info.hash);
        if let Some(s) = self.seats.get_mut(seat) {
            (s.role, s.program, s.schedule) = (Role::Module(ORIGINAL_INCUMBENT), Some(program), Some(SeatSchedule::Serving));
        }
        self.generation += 1;
        self.host
            .note(format_args!("@event slot.serving-kept slot={name} seat={seat} module=\"{}\" version=\"{}\"", info.name, info.version));
        self.modules.insert(ORIGINAL_INCUMBENT, info);
        true
    }

    /// Stops the incumbent's seat 0 (its module retired, parked, or started by the root
    /// server at boot; a `NotRunning` refusal expected) and frees it, as another seat's
    /// module serves as module 0 (`when`: for the line of an unexpected answer).
    pub(super) fn free_the_incumbents_seat(&mut self, when: &str) {
        match self.host.supervisor(&supervisor::Request::SeatStop { seat: 0 }) {
            Ok(supervisor::Response::SeatStopped | supervisor::Response::Refused(supervisor::Refusal::NotRunning(_))) => {}
            other => self.host.note(format_args!("slot {}: stopping the incumbent's seat 0 {when}: {other:?}", self.config.name)),
        }
        if let Some(s) = self.seats.first_mut() {
            (s.role, s.program, s.schedule) = (Role::Empty, None, None);
        }
    }

    /// At a restart: gives the module of `seat`, which served last, the serving schedule
    /// (`SeatSchedule`); the root server's refusal (its module runs no more) as text.
    fn serves_at_the_serving_schedule(&mut self, seat: usize) -> Result<(), String> {
        let number = u8::try_from(seat).map_err(|_| format!("no seat {seat}"))?;
        match self.host.supervisor(&supervisor::Request::SeatSchedule { seat: number, schedule: SeatSchedule::Serving }) {
            Ok(supervisor::Response::SeatScheduled) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    }

    /// At a restart: the incumbent in seat 0 gets the serving schedule, whatever schedule
    /// the predecessor left it with (a promotion's switch lowers the warm incumbent to the
    /// challengers'); a seat 0 that runs no module (the refusal says so) is started afresh
    /// with the incumbent, whose state is then only what an adoption brings.
    pub(super) fn incumbent_serves_again(&mut self) {
        self.set_schedule(0, SeatSchedule::Serving);
        if self.seats.first().is_some_and(|s| s.schedule.is_some()) {
            return;
        }
        let name = self.config.name.clone();
        match self.host.supervisor(&supervisor::Request::SeatStart { seat: 0, program: SeatProgram::Incumbent, restart: false }) {
            Ok(supervisor::Response::SeatStarted { generation, ticks }) => {
                self.started(0, generation, ticks, SeatSchedule::Serving);
                self.host.note(format_args!(
                    "@event slot.incumbent-started slot={name} seat=0 generation={generation} (it ran no module at the manager's restart)"
                ));
            }
            other => self.host.note(format_args!("slot {name}: starting the incumbent in seat 0 at the restart: {other:?}")),
        }
    }

    /// At a restart, after [`Manager::incumbent_serves_again`]: if `serving` (the seat the
    /// root server recorded as serving) is not seat 0 and its module runs, that module's
    /// state is adopted: an export queued for it, seat 0's import ahead of everything.
    /// Returns whether an adoption began.
    pub(super) fn begin_adoption(&mut self, serving: usize) -> bool {
        let name = self.config.name.clone();
        if serving == 0 {
            return false;
        }
        // It exports at the serving schedule (the clients wait for its state); a refusal
        // says it runs nothing.
        if let Err(refusal) = self.serves_at_the_serving_schedule(serving) {
            self.host.note(format_args!(
                "@event slot.state-adoption-failed slot={name} seat={serving} why=\"its module, which served last, runs no more ({refusal}): the incumbent serves with the state it has\""
            ));
            return false;
        }
        let transfer = self.next_transfer();
        let since = self.clock.now();
        if let Some(s) = self.seats.get_mut(serving) {
            s.role = Role::Predecessor;
            s.schedule = Some(SeatSchedule::Serving);
            s.queue.push_back(Job::Export { target: 0, transfer });
        }
        if let Some(s) = self.seats.get_mut(0) {
            s.queue.push_front(Job::Import { state: None, transfer });
        }
        self.adoption = Some(Adoption { source: serving, transfer, since });
        self.generation += 1;
        self.host.note(format_args!("@event slot.state-adoption slot={name} seat={serving}"));
        true
    }

    /// Seat `seat` imported transfer `transfer`: if it was the adoption's, the adopted
    /// module's seat is stopped.
    pub(super) fn adoption_imported(&mut self, seat: usize, transfer: u64) {
        let Some(adoption) = self.adoption.filter(|a| seat == 0 && a.transfer == transfer) else { return };
        self.adoption = None;
        self.stop_seat(adoption.source);
        let micros = self.clock.now().saturating_sub(adoption.since);
        self.host.note(format_args!("@event slot.state-adopted slot={} seat={} micros={micros}", self.config.name, adoption.source));
    }

    /// The adoption ends without its state (`why`): the adopted module's seat is stopped
    /// (if it still runs) and the incumbent goes on with the state it has.
    pub(super) fn adoption_failed(&mut self, why: &str) {
        let Some(adoption) = self.adoption.take() else { return };
        self.host.note(format_args!(
            "@event slot.state-adoption-failed slot={} seat={} why=\"{why}: the incumbent serves with the state it has\"",
            self.config.name, adoption.source
        ));
        if self.seats.get(adoption.source).is_some_and(|s| s.role == Role::Predecessor) {
            self.stop_seat(adoption.source);
        }
        // Whatever still waits for the state goes on without it.
        self.unblock(0, adoption.transfer);
    }

    /// Whether a restarted manager's adoption is under way: its deadline
    /// ([`ADOPTION_DEADLINE`]) is checked at [`Manager::tick`], which the glue then calls
    /// while no message comes.
    pub fn adoption_under_way(&self) -> bool {
        self.adoption.is_some()
    }

    /// The adoption's deadline ([`ADOPTION_DEADLINE`]), checked with the clock.
    pub(super) fn check_adoption_deadline(&mut self, now: Ticks) {
        if self.adoption.is_some_and(|a| now.saturating_sub(a.since) > ADOPTION_DEADLINE) {
            self.adoption_failed("its module did not export its state, or the incumbent did not import it, within 1 s");
        }
    }
}
