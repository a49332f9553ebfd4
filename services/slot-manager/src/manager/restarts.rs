//! Faults and restarts (docs/slots.md, "Faults.", "A challenger's rebuild after a fault"):
//! the supervisor's fault signal, a seat lost (its requests failed or handed over), a
//! module restarted in its seat, and a challenger's rebuild done in steps.

use super::install::InstallPhase;
use super::seats::{Job, Program, Role};
use super::{Manager, ModuleInfo};
use crate::{Clock, LogStore, Seats};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use tileos_protocol::supervisor::{self, SeatProgram};
use tileos_slots::{ModuleId, RequestId, State, Ticks};
use tileos_update_log::EventKind;

/// Root-server calls staging a challenger's ELF per step of its rebuild after a fault
/// ([`Manager::rebuild_step`]; `SeatLoad` counts as one): one, since a `SeatChunk` call
/// costs ≈ 21,600 instructions on a booted tile (docs/slots.md, "A challenger's rebuild
/// after a fault").
pub const REBUILD_CHUNKS_PER_STEP: usize = 1;

/// A challenger's rebuild after a fault, staged a step at a time
/// ([`Manager::rebuild_step`]) while the manager serves on; then its seat's module built by
/// the root server a piece a step (`SeatBegin`, then `SeatContinue` until `SeatStarted`).
pub(super) struct Rebuild {
    /// The seat.
    pub(super) seat: usize,
    /// The seat's role when it faulted: the rebuild is abandoned if it changes.
    role: Role,
    /// The ELF.
    elf: Rc<Vec<u8>>,
    /// Bytes staged so far (`None`: `SeatLoad` not yet).
    staged: Option<usize>,
    /// Whether the root server's build of the seat is under way (`SeatBegin` answered
    /// `SeatBuilding`): the next step is a `SeatContinue`.
    building: bool,
    /// When the fault was handled.
    since: Ticks,
    /// Steps taken so far.
    steps: u32,
    /// Whether it starts the same module again (its `SeatBegin`'s `restart`: counted in
    /// the seat's `restarts` by the root server).
    restart: bool,
}

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    /// The supervisor's seat-faults signal: bit `1 << seat` for each seat whose module
    /// faulted (the supervisor stopped it).
    pub fn faulted(&mut self, bits: u64) {
        let steppable = self.install_steppable();
        self.check_clock();
        for seat in 0..self.seats.len().min(64) {
            if bits & (1 << seat) == 0 {
                continue;
            }
            if self.rebuilds.iter().any(|r| r.seat == seat) {
                // Not running (stopped at its fault, not started again yet): no new fault.
                self.stats.violations += 1;
                self.host.note(format_args!("slot {}: a fault signal for seat {seat}, which is being rebuilt: ignored", self.config.name));
                continue;
            }
            self.seat_failed(seat, true);
        }
        self.reschedule();
        self.raise_if_install_ended(steppable);
    }

    /// The module of `seat` faulted (`stopped`: the supervisor stopped it already) or broke
    /// the protocol badly enough to be treated so.
    pub(super) fn seat_failed(&mut self, seat: usize, stopped: bool) {
        self.seat_lost(seat, stopped, None);
    }

    /// [`Manager::seat_failed`], or, with `unanswered` (the request and its wait), the
    /// promoted module taken for hung ([`Manager::fail_hung_serving`]): stopped here, and the
    /// slot told [`Slot::unanswered`] instead of [`Slot::faulted`].
    ///
    /// [`Slot::unanswered`]: tileos_slots::Slot::unanswered
    /// [`Slot::faulted`]: tileos_slots::Slot::faulted
    pub(super) fn seat_lost(&mut self, seat: usize, stopped: bool, unanswered: Option<(RequestId, Ticks)>) {
        self.install_steps_first(seat);
        let now = self.clock.now();
        if !stopped && let Ok(number) = u8::try_from(seat) {
            let _ = self.host.supervisor(&supervisor::Request::SeatStop { seat: number });
        }
        let role = self.seats.get(seat).map(|s| s.role).unwrap_or(Role::Empty);
        if let Some(pre) = self.pre_transfer.filter(|p| p.seat == seat || self.seat_of(Role::Module(self.slot.serving())) == Some(seat)) {
            // Its module (or the serving module it imports from) failed during its transfer
            // before the switch, which will not complete: abandoned (the entry withdrawn).
            // A module rebuilt within `max_faults` that is promotable again is due again.
            let who = if pre.seat == seat { "it faulted" } else { "the serving module faulted" };
            self.abandon_promotion(pre.module, &format!("{who} during its state transfer before the switch"));
        }
        let current = self.seats.get(seat).and_then(|s| match s.current {
            Some(Job::Request { id, copy_until: None, .. }) => Some(id),
            _ => None,
        });
        let jobs = self.clear_seat(seat);
        self.host.note(format_args!("@event slot.seat-fault slot={} seat={seat} role={role:?}", self.config.name));
        match role {
            Role::Empty => {}
            Role::Leaving(_) => {
                // Stopped already: the seat is free.
                if let Some(s) = self.seats.get_mut(seat) {
                    s.role = Role::Empty;
                    self.generation += 1;
                }
            }
            Role::Predecessor => {
                if let Some(s) = self.seats.get_mut(seat) {
                    s.role = Role::Empty;
                    self.generation += 1;
                }
                self.adoption_failed("its module faulted before the incumbent imported its state");
            }
            Role::Module(id) => {
                let serving_settled = self.slot.serving() == id && self.slot.module(id).is_some_and(|m| m.state == State::Settled);
                // The request the settled serving module was working on when it faulted is
                // answered `Failed` (asking it again might crash it again); the others wait
                // for its restart.
                let crashed = current.filter(|_| serving_settled);
                let result = match unanswered {
                    Some((request, waited)) => self.slot.unanswered(id, request, waited, now),
                    None => self.slot.faulted(id, now),
                };
                match result {
                    Ok(mut out) => {
                        if let Some(c) = crashed {
                            out.reissue.retain(|r| *r != c);
                        }
                        self.process(out);
                        if let Some(c) = crashed {
                            self.fail_request(c, id);
                        }
                    }
                    Err(e) => self.host.note(format_args!("slot {}: fault of module {id}: {e:?}", self.config.name)),
                }
                // Rejected for it: its domain is stopped already, nothing to park.
                if let Some(s) = self.seats.get_mut(seat)
                    && matches!(s.role, Role::Leaving(_))
                {
                    s.role = Role::Empty;
                    self.generation += 1;
                    if let Some(caller) = s.caller.take() {
                        self.host.release(caller);
                    }
                }
                if self.seats.get(seat).is_some_and(|s| s.role == Role::Module(id)) && self.slot.module(id).is_some() {
                    self.restart(seat, true);
                }
            }
            Role::Replica => self.restart(seat, true),
            Role::Lineage(k) => {
                let ids: Vec<RequestId> = self.lineages.as_ref().map(|l| l.ballots.keys().copied().collect()).unwrap_or_default();
                for id in ids {
                    if let Some(l) = &mut self.lineages
                        && let Some(b) = l.ballots.get_mut(&id)
                    {
                        b.answered[k] = true;
                    }
                    self.count_ballot(id, false);
                }
                self.restart(seat, true);
            }
        }
        // The imports that waited for its exports go on without, once the slot has taken the
        // fault: a warm module whose import covered its journal is restored by then (the
        // fault of the promoted module it imported from rolls back), and replays the journal
        // before anything queued behind the import (unblocked first, it ran a request queued
        // there ahead of the older journaled ones: a wrong answer, found by `right_answers`).
        self.unblock_exports(&jobs);
    }

    /// (Re)builds the seat's module from its program. A module that does not serve imports
    /// the reference module's state when it calls READY. A challenger's staged program is
    /// rebuilt in steps ([`Manager::rebuild_step`]): the seat's copies are
    /// skipped meanwhile. A named program (one `SeatStart`) and the serving module's
    /// (clients wait for it whatever the manager does) are rebuilt at once. `again`: the
    /// seat's module is started again after it stopped at a fault or a hang (the root
    /// server counts it in the seat's `restarts`); false for another module in the seat.
    pub(super) fn restart(&mut self, seat: usize, again: bool) {
        let Some(program) = self.seats.get(seat).and_then(|s| s.program.clone()) else { return };
        let serving_seat = self.seat_of(Role::Module(self.slot.serving()));
        let now = self.clock.now();
        if let Program::Staged(elf) = &program
            && serving_seat != Some(seat)
            && self.lineages.is_none()
            && let Some(s) = self.seats.get_mut(seat)
        {
            // No copies until it is started (skipped and settled as for a seat that is
            // behind, not queued to time out), no READY deadline from an older start.
            s.catching_up = true;
            s.started_at = None;
            self.generation += 1;
            let (role, bytes) = (s.role, elf.len());
            let rebuild = Rebuild { seat, role, elf: elf.clone(), staged: None, building: false, since: now, steps: 0, restart: again };
            self.rebuilds.push_back(rebuild);
            self.host.note(format_args!("@event slot.seat-rebuilding slot={} seat={seat} bytes={bytes}", self.config.name));
            return;
        }
        let Ok(number) = u8::try_from(seat) else { return };
        // Its `SeatLoad` discards the root server's staging under way, and its `SeatLoad` or
        // `SeatStart` the root server's build under way (one of each per slot).
        if let Some(r) = self.rebuilds.front_mut()
            && (r.building || matches!(program, Program::Staged(_)) && r.staged.is_some())
        {
            (r.staged, r.building) = (None, false);
            self.host
                .note(format_args!("slot {}: seat {}'s rebuild stages again (seat {seat} was rebuilt first)", self.config.name, r.seat));
        }
        if let Some(job) = &mut self.install
            && let InstallPhase::Stage { seat: installing, staged, building, .. } = &mut job.phase
            && (*building || matches!(program, Program::Staged(_)) && staged.is_some())
        {
            // Likewise an install's staging or build: it stages its ELF again from the start.
            (*staged, *building) = (None, false);
            self.host.note(format_args!(
                "slot {}: the install into seat {installing} stages again (seat {seat} was rebuilt first)",
                self.config.name
            ));
        }
        let result = match &program {
            Program::Named(program) => self.start(number, *program, again),
            Program::Staged(elf) => self.load(number, elf).and_then(|()| self.start(number, SeatProgram::Staged, again)),
            Program::Kept => {
                self.kept_module_lost(seat);
                return;
            }
        };
        self.rebuilt(seat, &program, result, now, 1);
    }

    /// The module a restarted manager kept serving in `seat` ([`Program::Kept`]) faulted
    /// or hung: its ELF is not held, so the incumbent serves again in seat 0, started
    /// afresh (its state lost, as a settled module's is at a fault), the requests that
    /// waited for the seat moved to it in order; the update log gets a `Rollback` entry
    /// naming the lost module, so that it never says a module serves that does not.
    pub(super) fn kept_module_lost(&mut self, seat: usize) {
        let Some(Role::Module(id)) = self.seats.get(seat).map(|s| s.role) else { return };
        let lost = self.module_info(id);
        let jobs = self.clear_seat(seat);
        if let Some(s) = self.seats.get_mut(seat) {
            (s.role, s.program) = (Role::Empty, None);
        }
        if let Some(s) = self.seats.first_mut() {
            (s.role, s.program) = (Role::Module(id), Some(Program::Named(SeatProgram::Incumbent)));
        }
        self.generation += 1;
        self.modules.insert(id, ModuleInfo::incumbent(&self.config.incumbent));
        let note = format!(
            "module {} {} (kept serving at the manager's restart) was lost in seat {seat}: its bundle is not held since the restart, so the incumbent serves again, started afresh",
            lost.name, lost.version
        );
        self.host.note(format_args!("@event slot.kept-module-lost slot={} seat={seat} module=\"{}\"", self.config.name, lost.name));
        let event = self.event(EventKind::Rollback, &lost, &note);
        self.append_or_keep(event, format_args!("the entry of the kept module's loss"));
        self.restart(0, false);
        self.unblock_exports(&jobs);
        for job in jobs {
            if let Job::Request { copy_until: None, .. } = job {
                self.push(0, job);
            }
        }
    }

    /// The end of seat `seat`'s rebuild (begun at `since`, in `steps` steps): its line, or
    /// what could not be started.
    fn rebuilt(&mut self, seat: usize, program: &Program, result: Result<u64, String>, since: Ticks, steps: u32) {
        let took = self.clock.now().saturating_sub(since);
        let serving_seat = self.seat_of(Role::Module(self.slot.serving()));
        match result {
            Ok(generation) => {
                let (kind, bytes) = match program {
                    Program::Named(_) => ("named", 0),
                    Program::Staged(elf) => ("staged", elf.len()),
                    Program::Kept => ("kept", 0),
                };
                self.host.note(format_args!(
                    "@event slot.seat-rebuilt slot={} seat={seat} generation={generation} program={kind} bytes={bytes} steps={steps} micros={took}",
                    self.config.name
                ));
                if let Some(s) = self.seats.get_mut(seat) {
                    s.needs_state = serving_seat != Some(seat) || self.lineages.is_some();
                }
            }
            Err(reason) => {
                self.host.note(format_args!("slot {}: seat {seat} could not be started: {reason}", self.config.name));
                if serving_seat == Some(seat) && self.lineages.is_none() {
                    // Nobody will answer what waits for this seat.
                    let serving = self.slot.serving();
                    let jobs = self.clear_seat(seat);
                    for job in jobs {
                        if let Job::Request { id, copy_until: None, .. } = job {
                            self.fail_request(id, serving);
                        }
                    }
                }
            }
        }
    }

    /// Whether a challenger's rebuild after a fault is under way: the glue then calls
    /// [`Manager::rebuild_step`] whenever no message waits and no client request is in flight.
    pub fn rebuild_pending(&self) -> bool {
        !self.rebuilds.is_empty()
    }

    /// The root server's own ticks (`SeatStarted`'s `ticks`: from its dispatch of the call
    /// to its answer) of the call that last started a seat's module, if one did since the
    /// last take: with the glue's span of that call, the root server's part of it.
    pub fn take_start_ticks(&mut self) -> Option<u64> {
        self.start_ticks.take()
    }

    /// One bounded step of the first rebuild under way (docs/slots.md, "A challenger's
    /// rebuild after a fault"): [`REBUILD_CHUNKS_PER_STEP`] root-server calls staging its
    /// ELF, or, once all is staged, one piece of the root server's build of the seat
    /// (`SeatBegin`, then `SeatContinue`s until `SeatStarted`). A rebuild whose seat no longer
    /// holds its module (it left the slot meanwhile) is abandoned, the root server's
    /// staging released. The root server stages one ELF per slot at a time, so while an
    /// install stages (its `SeatLoad` made) the rebuild waits for it: returns whether
    /// anything was done (false: [`Manager::install_step`] is next).
    pub fn rebuild_step(&mut self) -> bool {
        self.check_clock();
        let done = self.advance_rebuild();
        self.reschedule();
        done
    }

    /// The body of [`Manager::rebuild_step`].
    fn advance_rebuild(&mut self) -> bool {
        if self.install.as_ref().is_some_and(|job| matches!(job.phase, InstallPhase::Stage { staged: Some(_), .. })) {
            return false;
        }
        let Some(mut r) = self.rebuilds.pop_front() else { return false };
        let role = self.seats.get(r.seat).map(|s| s.role);
        if role != Some(r.role) {
            self.abandon_rebuild(&r, &format!("its seat's role changed from {:?} to {role:?}", r.role));
            return true;
        }
        r.steps += 1;
        let program = Program::Staged(r.elf.clone());
        let Ok(number) = u8::try_from(r.seat) else {
            self.rebuilt(r.seat, &program, Err(format!("no seat {}", r.seat)), r.since, r.steps);
            return true;
        };
        let staged = if r.building { Ok(None) } else { self.stage_calls(r.seat, &r.elf, r.staged, REBUILD_CHUNKS_PER_STEP) };
        match staged {
            Ok(Some(staged)) => {
                r.staged = Some(staged);
                self.rebuilds.push_front(r);
            }
            Ok(None) => {
                let request = if r.building {
                    supervisor::Request::SeatContinue { seat: number }
                } else {
                    supervisor::Request::SeatBegin { seat: number, program: SeatProgram::Staged, restart: r.restart }
                };
                let result = self.start_piece(&request);
                if let Ok(None) = result {
                    r.building = true;
                    self.rebuilds.push_front(r);
                    return true;
                }
                if let Some(s) = self.seats.get_mut(r.seat) {
                    // Copies from the next request on (it imports the state at READY).
                    s.catching_up = false;
                    self.generation += 1;
                }
                let result = result.map(|generation| generation.unwrap_or_default());
                self.rebuilt(r.seat, &program, result, r.since, r.steps);
            }
            Err(reason) => {
                let result = Err(format!("its staging was refused after {} bytes: {reason}", r.staged.unwrap_or(0)));
                self.rebuilt(r.seat, &program, result, r.since, r.steps);
            }
        }
        true
    }

    /// Drops rebuild `r` (its seat's module left the slot): the root server's staging, if
    /// it began, is released by an empty `SeatLoad`, so the seat and its memory serve the
    /// next start.
    fn abandon_rebuild(&mut self, r: &Rebuild, why: &str) {
        if r.staged.is_some()
            && let Ok(seat) = u8::try_from(r.seat)
            && let Err(reason) = self.seat_request(&supervisor::Request::SeatLoad { seat, length: 0 })
        {
            self.host.note(format_args!("slot {}: seat {seat}'s staging not released: {reason}", self.config.name));
        }
        self.host.note(format_args!(
            "@event slot.rebuild-abandoned slot={} seat={} staged={} steps={}: {why}",
            self.config.name,
            r.seat,
            r.staged.unwrap_or(0),
            r.steps
        ));
    }

    /// The rebuild under way of `module`'s seat, if it is being rebuilt: (seat, bytes
    /// staged, bytes).
    pub(super) fn rebuilding(&self, module: ModuleId) -> Option<(usize, usize, usize)> {
        self.rebuilds.iter().find(|r| r.role == Role::Module(module)).map(|r| (r.seat, r.staged.unwrap_or(0), r.elf.len()))
    }
}
