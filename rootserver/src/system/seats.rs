//! A slot manager's seat authority (`tileos_protocol::supervisor`, `Seat*` requests;
//! `docs/slots.md`): the manager of a slot — and no other domain — stages a module ELF for
//! one of its seats, starts a module in a seat from the seat's own memory region (revoked
//! first: every start is fresh memory), and stops it. A seat's module that faults is stopped,
//! never restarted, and its manager is told on its `seat-faults` notification.
//!
//! Staging: one ELF at a time per slot (a `SeatLoad` discards the slot's staging under way,
//! whatever its seat), copied into the root server's heap, at most the slot's
//! `module_memory` bytes; a start of the staged program consumes the staging, whatever the
//! outcome. Every input is checked before anything is built: the ELF is parsed with
//! `tileos_elf` (which checks every header against the bytes) and its segments plus the
//! seat's heap must fit the seat's memory; anything else is refused with the precise
//! [`Refusal`], never a panic.
//!
//! Builds in pieces (`SeatBegin`, then `SeatContinue`s): one per slot, kept between the
//! manager's calls ([`SeatBuild`]); a `SeatLoad`, `SeatStart` or `SeatBegin` of any of the
//! slot's seats, a `SeatStop` of the seat built or the manager's fault abandons it first
//! (what it made destroyed as a failed build's); a continue with none under way for that
//! seat is refused `NotBuilding`. `SeatStart` runs the same pieces to the end in one call.
//! A module built in pieces starts at priority 0 (`SeatSchedule::Start`: its start-up runs
//! on time no domain wants, not inside its manager's step) until its manager schedules it;
//! `SeatStart`'s starts at its declared priority. A start's answer (`SeatStarted`) carries
//! the root server's own ticks of that request, its lines included.
//!
//! Restarts: a start the manager marks `restart` (the same module again after it stopped
//! at a fault or a hang) counts one in the seat's `restarts` when its module runs (a build
//! abandoned or failed counts none); a restart of a seat that never ran is refused
//! `NeverStarted`. The count is the status's only: the supervisor's `max_restarts` never
//! applies to a seat (its manager's policy does).

use super::State;
use super::build::{Building, Piece};
use super::supervise::Supervision;
use ::alloc_crate::boxed::Box;
use ::alloc_crate::format;
use ::alloc_crate::string::String;
use ::alloc_crate::vec::Vec;
use tileos_abi::bootinfo::slot;
use tileos_abi::invocation::{CNodeDelete, CNodeMint, CPtr, Slot as CSlot, TcbSetPriority, TcbSetSchedParams};
use tileos_abi::object::Rights;
use tileos_protocol::supervisor::{Refusal, Response, SEAT_FAULTS_SIGNAL, SeatProgram, SeatSchedule};
use tileos_sys::cap::{CNode, Notification, Tcb};
use tileos_sys::{event, println};
use tileos_sysdesc::Slot;
use tileos_sysdesc::archive::Archive;

// The description's seat badge is the seat interface's.
const _: () = assert!(tileos_sysdesc::SEAT_BADGE == tileos_protocol::module::SEAT_BADGE);

/// A module ELF being staged for a seat.
pub(super) struct Staging {
    /// The seat.
    seat: u8,
    /// Bytes announced.
    length: u32,
    /// Bytes received so far (in order).
    bytes: Vec<u8>,
}

/// A seat's module being built in pieces (`SeatBegin`, then `SeatContinue`s): at most one
/// per slot.
pub(super) struct SeatBuild {
    /// The seat.
    seat: u8,
    /// Which program (for its `seat.started` line).
    program: SeatProgram,
    /// The program's bytes.
    elf: SeatElf,
    /// The build.
    building: Building,
    /// Whether its begin counted a new generation (taken back if it is abandoned).
    new_generation: bool,
    /// Whether the manager marked it a restart (counted in `restarts` when it runs).
    restart: bool,
}

/// Where a seat build's ELF is.
enum SeatElf {
    /// Staged (the staging was consumed by the begin).
    Staged(Vec<u8>),
    /// Archive entry (the incumbent's, a lineage's or the fallback program).
    Archive(u32),
}

impl SeatElf {
    /// The bytes.
    fn bytes<'a>(&'a self, archive: &Archive<'a>) -> &'a [u8] {
        match self {
            SeatElf::Staged(bytes) => bytes,
            SeatElf::Archive(program) => program_bytes(archive, *program),
        }
    }
}

/// The bytes of archive entry `program` (empty if there is none: refused as a bad ELF).
fn program_bytes<'d>(archive: &Archive<'d>, program: u32) -> &'d [u8] {
    archive.entry(program as usize).map(|entry| entry.data).unwrap_or(&[])
}

/// The name of `refusal`'s variant (one word, for event lines).
pub(super) fn refusal_name(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::UnknownDomain => "UnknownDomain",
        Refusal::RestartPolicyNever => "RestartPolicyNever",
        Refusal::NotRunning(_) => "NotRunning",
        Refusal::RestartFailed => "RestartFailed",
        Refusal::ScheduleFailed => "ScheduleFailed",
        Refusal::NotAllowed => "NotAllowed",
        Refusal::NotSlotManager => "NotSlotManager",
        Refusal::NotFederationDomain => "NotFederationDomain",
        Refusal::NoSuchSeat { .. } => "NoSuchSeat",
        Refusal::SeatRunning => "SeatRunning",
        Refusal::ModuleTooLarge { .. } => "ModuleTooLarge",
        Refusal::ChunkOutOfOrder { .. } => "ChunkOutOfOrder",
        Refusal::StagingIncomplete { .. } => "StagingIncomplete",
        Refusal::BadProgram => "BadProgram",
        Refusal::NoSuchProgram => "NoSuchProgram",
        Refusal::NotTelemetryDomain => "NotTelemetryDomain",
        Refusal::UnknownReporter => "UnknownReporter",
        Refusal::DisagreeingAboveCompared => "DisagreeingAboveCompared",
        Refusal::NotBuilding => "NotBuilding",
        Refusal::NeverStarted => "NeverStarted",
    }
}

/// Bytes the loadable segments of `exe` take, each rounded out to whole pages.
pub(super) fn image_size(exe: &tileos_elf::Executable<'_>) -> u64 {
    exe.segments().map(|s| ((s.vaddr & 0xFFF) + s.mem_size).div_ceil(4096).saturating_mul(4096)).fold(0, u64::saturating_add)
}

impl Supervision<'_, '_> {
    /// Serves a seat request of the manager of slot `slot_index`, named `client` in logs.
    pub(super) fn serve_seat(&mut self, slot_index: usize, client: &str, request: SeatRequest) -> Response {
        let began = crate::clock::tsc();
        let slot = &self.description.slots[slot_index];
        let seat = request.seat();
        let seats = slot.seats.len() as u8;
        let response = if seat >= seats {
            Response::Refused(Refusal::NoSuchSeat { seats })
        } else {
            match request {
                SeatRequest::Load { seat, length } => {
                    self.abandon_seat_build(slot_index, "a SeatLoad");
                    self.seat_load(slot_index, seat, length)
                }
                SeatRequest::Chunk { seat, offset, bytes } => self.seat_chunk(slot_index, seat, offset, &bytes),
                SeatRequest::Start { seat, program, restart } => {
                    self.abandon_seat_build(slot_index, "a SeatStart");
                    self.seat_start(slot_index, seat, program, restart, true)
                }
                SeatRequest::Begin { seat, program, restart } => {
                    self.abandon_seat_build(slot_index, "a SeatBegin");
                    self.seat_start(slot_index, seat, program, restart, false)
                }
                SeatRequest::Continue { seat } => self.seat_continue(slot_index, seat),
                SeatRequest::Stop { seat } if self.seat_building(slot_index) == Some(seat) => {
                    self.abandon_seat_build(slot_index, "a SeatStop");
                    Response::SeatStopped
                }
                SeatRequest::Stop { seat } => self.seat_stop(slot, seat),
                SeatRequest::Schedule { seat, schedule } => self.seat_schedule(slot, seat, schedule),
                SeatRequest::Serving { seat, settled } => self.seat_serving(slot_index, seat, settled),
                SeatRequest::ServingQuery => {
                    let (seat, settled) = self.serving_seats[slot_index];
                    Response::ServingSeat { seat, settled }
                }
            }
        };
        if let Response::Refused(refusal) = response {
            println!("supervisor: seat request of \"{client}\" (slot \"{}\", seat {seat}) refused: {refusal:?}", slot.name);
            event!("seat.refused", slot = slot.name, seat = seat, reason = refusal_name(refusal));
        }
        let mut response = response;
        if let Response::SeatStarted { ticks, .. } = &mut response {
            // The root server's own part of the call, its lines included (docs/slots.md).
            *ticks = crate::clock::tsc().saturating_sub(began);
        }
        response
    }

    /// `SeatLoad`: a fresh staging of `length` bytes for `seat`.
    fn seat_load(&mut self, slot_index: usize, seat: u8, length: u32) -> Response {
        let slot = &self.description.slots[slot_index];
        let max = u32::try_from(slot.module_memory).unwrap_or(u32::MAX);
        // The slot's staging under way, if any, is discarded first (its memory is reused).
        self.staging[slot_index] = None;
        if length > max {
            return Response::Refused(Refusal::ModuleTooLarge { max });
        }
        let mut bytes = Vec::new();
        if bytes.try_reserve_exact(length as usize).is_err() {
            println!("supervisor: no heap left to stage {length} bytes for slot \"{}\"", slot.name);
            return Response::Refused(Refusal::ModuleTooLarge { max });
        }
        self.staging[slot_index] = Some(Staging { seat, length, bytes });
        Response::SeatStaged { received: 0 }
    }

    /// `SeatChunk`: the next bytes of the staging for `seat`, in order.
    fn seat_chunk(&mut self, slot_index: usize, seat: u8, offset: u32, chunk: &[u8]) -> Response {
        let Some(staging) = self.staging[slot_index].as_mut().filter(|s| s.seat == seat) else {
            // Nothing is staged for this seat: the only chunk that could come is a load's.
            return Response::Refused(Refusal::ChunkOutOfOrder { expected: 0 });
        };
        let received = staging.bytes.len() as u32;
        let fits = (received as usize).checked_add(chunk.len()).is_some_and(|end| end <= staging.length as usize);
        if offset != received || !fits {
            return Response::Refused(Refusal::ChunkOutOfOrder { expected: received });
        }
        staging.bytes.extend_from_slice(chunk);
        Response::SeatStaged { received: staging.bytes.len() as u32 }
    }

    /// `SeatStart` (`at_once`) and `SeatBegin`: checks `program` for `seat`, then builds the
    /// seat's domain afresh with it and starts it, all at once or (`SeatBegin`) only the
    /// build's begin, the build kept for [`Supervision::seat_continue`]; a `restart` counts
    /// in the seat's `restarts` once its module runs.
    fn seat_start(&mut self, slot_index: usize, seat: u8, program: SeatProgram, restart: bool, at_once: bool) -> Response {
        let description = self.description;
        let archive = self.archive;
        let slot = &description.slots[slot_index];
        let index = slot.seats[seat as usize] as usize;
        if matches!(self.tile.states[index].state, State::Running | State::Restarting) {
            return Response::Refused(Refusal::SeatRunning);
        }
        // A restart is of a module the seat ran (checked before the staging is consumed).
        if restart && !self.tile.states[index].ever_started {
            return Response::Refused(Refusal::NeverStarted);
        }
        // The program's bytes: the staging (taken: a start consumes it) or an archive entry.
        let source = match program {
            SeatProgram::Staged => {
                let staging = match self.staging[slot_index].take() {
                    Some(staging) if staging.seat == seat => staging,
                    other => {
                        self.staging[slot_index] = other;
                        return Response::Refused(Refusal::StagingIncomplete { received: 0, length: 0 });
                    }
                };
                if staging.bytes.len() < staging.length as usize {
                    let refusal = Refusal::StagingIncomplete { received: staging.bytes.len() as u32, length: staging.length };
                    self.staging[slot_index] = Some(staging);
                    return Response::Refused(refusal);
                }
                SeatElf::Staged(staging.bytes)
            }
            SeatProgram::Incumbent => SeatElf::Archive(description.domains[slot.incumbent as usize].program),
            SeatProgram::Lineage(n) => match slot.n_version.and_then(|l| l.programs.get(usize::from(n)).copied()) {
                Some(program) => SeatElf::Archive(program),
                None => return Response::Refused(Refusal::NoSuchProgram),
            },
            SeatProgram::Fallback => match slot.n_version {
                Some(lineages) => SeatElf::Archive(lineages.fallback),
                None => return Response::Refused(Refusal::NoSuchProgram),
            },
        };
        let elf = source.bytes(archive);
        let domain = &description.domains[index];
        let fits = match tileos_elf::parse(elf) {
            Ok(exe) => image_size(&exe).saturating_add(domain.heap_size) <= self.tile.states[index].capacity,
            Err(error) => {
                println!("supervisor: slot \"{}\" seat {seat}: the program is not a loadable ELF: {error:?}", slot.name);
                return Response::Refused(Refusal::BadProgram);
            }
        };
        if !fits {
            println!(
                "supervisor: slot \"{}\" seat {seat}: the program's segments and heap do not fit the seat's {} KiB",
                slot.name,
                self.tile.states[index].capacity / 1024
            );
            return Response::Refused(Refusal::BadProgram);
        }
        // Fresh memory: whatever a failed build or the last module left is destroyed first.
        if let Err(error) = self.tile.destroy(self.alloc, index) {
            println!("supervisor: slot \"{}\" seat {seat}: its memory could not be reclaimed: {error}", slot.name);
            return Response::Refused(Refusal::BadProgram);
        }
        let state = &mut self.tile.states[index];
        let new_generation = state.ever_started;
        if new_generation {
            state.generation += 1;
        }
        match self.tile.begin(self.alloc, index, elf) {
            Ok(mut building) => {
                if !at_once {
                    // Its start-up runs when nothing else wants the CPU, not inside the
                    // manager's step; the manager raises it (`SeatSchedule`).
                    building.start_at_priority_0();
                }
                // Boxed: a slot without a build under way keeps only an empty `Option`.
                let build = Box::new(SeatBuild { seat, program, elf: source, building, new_generation, restart });
                if at_once {
                    return self.advance_seat_build(slot_index, build, true);
                }
                // The begin is a piece of its own (the destroy of what the seat had with it).
                let total = u32::try_from(build.building.pages()).unwrap_or(u32::MAX);
                self.seat_builds[slot_index] = Some(build);
                Response::SeatBuilding { done: 0, total }
            }
            Err(error) => self.seat_not_built(slot_index, seat, error),
        }
    }

    /// `SeatContinue`: the next piece of the build under way for `seat`.
    fn seat_continue(&mut self, slot_index: usize, seat: u8) -> Response {
        match self.seat_builds[slot_index].take() {
            Some(build) if build.seat == seat => self.advance_seat_build(slot_index, build, false),
            other => {
                self.seat_builds[slot_index] = other;
                Response::Refused(Refusal::NotBuilding)
            }
        }
    }

    /// The seat whose build is under way in slot `slot_index`, if one is.
    fn seat_building(&self, slot_index: usize) -> Option<u8> {
        self.seat_builds[slot_index].as_ref().map(|build| build.seat)
    }

    /// Does the next piece of `build` (all that remain if `at_once`): answers
    /// `SeatBuilding` with it kept, `SeatStarted`, or the refusal of a failed build.
    fn advance_seat_build(&mut self, slot_index: usize, mut build: Box<SeatBuild>, at_once: bool) -> Response {
        let archive = self.archive;
        loop {
            let elf = build.elf.bytes(archive);
            match self.tile.build_piece(self.alloc, &mut build.building, elf) {
                Ok(Piece::Started) => return self.seat_started(slot_index, &build),
                Ok(Piece::Building { mapped, total }) if !at_once => {
                    let (done, total) = (u32::try_from(mapped).unwrap_or(u32::MAX), u32::try_from(total).unwrap_or(u32::MAX));
                    self.seat_builds[slot_index] = Some(build);
                    return Response::SeatBuilding { done, total };
                }
                Ok(Piece::Building { .. }) => {}
                Err(error) => return self.seat_not_built(slot_index, build.seat, error),
            }
        }
    }

    /// The lines of a seat's start, and its answer.
    fn seat_started(&mut self, slot_index: usize, build: &SeatBuild) -> Response {
        let slot = &self.description.slots[slot_index];
        let (seat, program) = (build.seat, build.program);
        let index = slot.seats[seat as usize] as usize;
        let state = &mut self.tile.states[index];
        if build.restart {
            // The status's count only: no `max_restarts` applies to a seat.
            state.restarts = state.restarts.saturating_add(1);
        }
        let (generation, restarts) = (state.generation, state.restarts);
        let ticks = build.building.piece_ticks();
        let longest = ticks.iter().copied().max().unwrap_or(0);
        let each: Vec<String> = ticks.iter().map(|t| format!("{t}")).collect();
        let again = if build.restart { format!(", a restart of its module (restarts {restarts})") } else { String::new() };
        println!("supervisor: slot \"{}\" seat {seat} started {program:?} (generation {generation}){again}", slot.name);
        let program = match program {
            SeatProgram::Staged => "staged",
            SeatProgram::Incumbent => "incumbent",
            SeatProgram::Lineage(_) => "lineage",
            SeatProgram::Fallback => "fallback",
        };
        event!(
            "seat.started",
            slot = slot.name,
            seat = seat,
            generation = generation,
            program = program,
            restart = build.restart,
            restarts = restarts,
            pieces = ticks.len(),
            longest_piece_ticks = longest,
            piece_ticks = each.join("/")
        );
        // The root server's ticks are filled in by `serve_seat`, last.
        Response::SeatStarted { generation, ticks: 0 }
    }

    /// A seat's build failed with `error` (what it took is destroyed): says so.
    fn seat_not_built(&mut self, slot_index: usize, seat: u8, error: crate::loader::LoadError) -> Response {
        let slot = &self.description.slots[slot_index];
        println!("supervisor: slot \"{}\" seat {seat}: the module could not be built: {error}", slot.name);
        // Reclaim what the failed build took (again: nothing, if it was); the seat stays stopped.
        let _ = self.tile.destroy(self.alloc, slot.seats[seat as usize] as usize);
        Response::Refused(Refusal::BadProgram)
    }

    /// Abandons the build under way in slot `slot_index`, if any, for `why` (a seat request
    /// of the slot, or its manager's fault): destroys what it made, as a failed build's; the
    /// seat stays stopped. Says so.
    pub(super) fn abandon_seat_build(&mut self, slot_index: usize, why: &str) {
        let Some(build) = self.seat_builds[slot_index].take() else { return };
        let build = *build;
        let slot = &self.description.slots[slot_index];
        let pieces = build.building.piece_ticks().len();
        self.tile.abandon(self.alloc, build.building);
        // It never ran: its generation is the next start's.
        let state = &mut self.tile.states[slot.seats[build.seat as usize] as usize];
        if build.new_generation {
            state.generation -= 1;
        }
        println!("supervisor: slot \"{}\" seat {}: its build under way abandoned after {pieces} pieces ({why})", slot.name, build.seat);
        event!("seat.build-abandoned", slot = slot.name, seat = build.seat, pieces = pieces);
    }

    /// `SeatStop`: stops `seat`'s module and destroys everything it had.
    fn seat_stop(&mut self, slot: &Slot, seat: u8) -> Response {
        let index = slot.seats[seat as usize] as usize;
        let state = self.tile.states[index].state;
        if state != State::Running {
            return Response::Refused(Refusal::NotRunning(state));
        }
        let start = tileos_sys::timestamp();
        if let Err(error) = self.tile.destroy(self.alloc, index) {
            println!("supervisor: slot \"{}\" seat {seat} could not be destroyed: {error}", slot.name);
        }
        self.tile.states[index].state = State::Stopped;
        let ticks = tileos_sys::timestamp().wrapping_sub(start);
        println!("supervisor: slot \"{}\" seat {seat} stopped on request of its manager", slot.name);
        event!("seat.stopped", slot = slot.name, seat = seat, generation = self.tile.states[index].generation, ticks = ticks);
        Response::SeatStopped
    }

    /// `SeatSchedule`: gives `seat`'s running module the incumbent's declared priority and
    /// budget ([`SeatSchedule::Serving`]), the slot's challenger ones
    /// ([`SeatSchedule::Shadow`]; the incumbent's too if the slot has no other seat), or
    /// priority 0 with the seat's own declared budget ([`SeatSchedule::Start`], as a
    /// start in pieces leaves it).
    fn seat_schedule(&mut self, slot: &Slot, seat: u8, schedule: SeatSchedule) -> Response {
        let index = slot.seats[seat as usize] as usize;
        let state = &self.tile.states[index];
        if state.state != State::Running {
            return Response::Refused(Refusal::NotRunning(state.state));
        }
        let model = match schedule {
            SeatSchedule::Serving => slot.seats[0],
            SeatSchedule::Shadow => slot.seats.get(1).copied().unwrap_or(slot.seats[0]),
            SeatSchedule::Start => slot.seats[seat as usize],
        };
        let model = &self.description.domains[model as usize];
        let priority = if schedule == SeatSchedule::Start { 0 } else { model.priority };
        let (budget, period) =
            model.budget.map_or((0, 0), |b| (crate::clock::ms_to_ticks(b.budget_ms), crate::clock::ms_to_ticks(b.period_ms)));
        let thread = Tcb::from_cptr(state.tcb);
        let result = thread
            .invoke(TcbSetPriority { priority: u64::from(priority), authority: CPtr(slot::TCB) })
            .and_then(|_| thread.invoke(TcbSetSchedParams { budget, period, authority: CPtr(slot::TCB) }));
        if let Err(error) = result {
            // The root server holds every seat's thread with the highest MCP: not expected.
            println!("supervisor: slot \"{}\" seat {seat}: its schedule could not be changed: {error:?}", slot.name);
            return Response::Refused(Refusal::ScheduleFailed);
        }
        let name = match schedule {
            SeatSchedule::Serving => "serving",
            SeatSchedule::Shadow => "shadow",
            SeatSchedule::Start => "start",
        };
        event!("seat.scheduled", slot = slot.name, seat = seat, schedule = name, priority = priority);
        Response::SeatScheduled
    }

    /// `SeatServing`: records `seat` (running) as the one whose module's answers the manager
    /// of slot `slot_index` delivers, and whether it serves settled, for its next start to
    /// keep it serving (settled) or take the state from it.
    fn seat_serving(&mut self, slot_index: usize, seat: u8, settled: bool) -> Response {
        let slot = &self.description.slots[slot_index];
        let state = self.tile.states[slot.seats[seat as usize] as usize].state;
        if state != State::Running {
            return Response::Refused(Refusal::NotRunning(state));
        }
        self.serving_seats[slot_index] = (seat, settled);
        Response::SeatServingRecorded
    }

    /// Domain `index`, seat `seat` of `slot`, faulted (`fault`: its kind, already logged as
    /// `domain.stopped`): stops it for good — its manager decides what runs there next —
    /// and signals bit `1 << seat` of the manager's seat-faults notification.
    pub(super) fn on_seat_fault(&mut self, slot: &Slot, seat: u8, index: usize, fault: &str) {
        if let Err(error) = self.tile.destroy(self.alloc, index) {
            println!("supervisor: slot \"{}\" seat {seat} could not be destroyed: {error}", slot.name);
        }
        self.tile.states[index].state = State::Stopped;
        let generation = self.tile.states[index].generation;
        println!("supervisor: slot \"{}\" seat {seat}: its module faulted ({fault}); left stopped, manager told", slot.name);
        event!("seat.faulted", slot = slot.name, seat = seat, fault = fault, generation = generation);
        self.signal_manager(slot, 1 << seat);
    }

    /// Signals `word` on `slot`'s seat-faults notification, which its manager waits on
    /// (bit `1 << seat`: a seat's module faulted; `IMMUNE_DOORBELL`: the immune system asks
    /// for a rollback), with `SEAT_FAULTS_SIGNAL` set, which tells the manager it is the
    /// signal and not a client's empty call. Never blocks; without a free slot for the
    /// badged copy it logs and gives up.
    pub(super) fn signal_manager(&mut self, slot: &Slot, word: u64) {
        let badged = match self.alloc.slots.try_take() {
            Ok(badged) => badged,
            Err(error) => {
                println!("supervisor: cannot signal the manager of slot \"{}\": {error}", slot.name);
                return;
            }
        };
        let notification = self.tile.notifications[slot.seat_faults as usize];
        let minted = CNode::ROOT.invoke(CNodeMint {
            dest: CSlot::at(badged),
            src: CSlot::at(notification),
            rights: Rights::WRITE,
            badge: word | SEAT_FAULTS_SIGNAL,
            src_root: CPtr(slot::CNODE),
        });
        match minted {
            Ok(_) => {
                Notification::from_cptr(badged).signal();
                let _ = CNode::ROOT.invoke(CNodeDelete { slot: CSlot::at(badged) });
            }
            Err(error) => println!("supervisor: cannot signal the manager of slot \"{}\": {error:?}", slot.name),
        }
        self.alloc.slots.recycled.push(badged);
    }
}

/// A seat request, decoded from the supervisor protocol.
pub(super) enum SeatRequest {
    /// `SeatLoad`.
    Load {
        /// The seat.
        seat: u8,
        /// Bytes announced.
        length: u32,
    },
    /// `SeatChunk`.
    Chunk {
        /// The seat.
        seat: u8,
        /// Where the bytes start.
        offset: u32,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// `SeatStart`.
    Start {
        /// The seat.
        seat: u8,
        /// Which program.
        program: SeatProgram,
        /// Whether it is a restart of the same module.
        restart: bool,
    },
    /// `SeatBegin`.
    Begin {
        /// The seat.
        seat: u8,
        /// Which program.
        program: SeatProgram,
        /// Whether it is a restart of the same module.
        restart: bool,
    },
    /// `SeatContinue`.
    Continue {
        /// The seat.
        seat: u8,
    },
    /// `SeatStop`.
    Stop {
        /// The seat.
        seat: u8,
    },
    /// `SeatSchedule`.
    Schedule {
        /// The seat.
        seat: u8,
        /// Which schedule.
        schedule: SeatSchedule,
    },
    /// `SeatServing`.
    Serving {
        /// The seat.
        seat: u8,
        /// Whether it serves settled.
        settled: bool,
    },
    /// `ServingSeat` (about no seat: seat 0, which every slot has, stands for it).
    ServingQuery,
}

impl SeatRequest {
    /// The seat request `request` is, if it is one.
    pub(super) fn of(request: tileos_protocol::supervisor::Request) -> Option<SeatRequest> {
        use tileos_protocol::supervisor::Request;
        Some(match request {
            Request::SeatLoad { seat, length } => SeatRequest::Load { seat, length },
            Request::SeatChunk { seat, offset, bytes } => SeatRequest::Chunk { seat, offset, bytes: bytes.as_slice().to_vec() },
            Request::SeatStart { seat, program, restart } => SeatRequest::Start { seat, program, restart },
            Request::SeatStop { seat } => SeatRequest::Stop { seat },
            Request::SeatSchedule { seat, schedule } => SeatRequest::Schedule { seat, schedule },
            Request::SeatBegin { seat, program, restart } => SeatRequest::Begin { seat, program, restart },
            Request::SeatContinue { seat } => SeatRequest::Continue { seat },
            Request::SeatServing { seat, settled } => SeatRequest::Serving { seat, settled },
            Request::ServingSeat => SeatRequest::ServingQuery,
            Request::Restart { .. }
            | Request::Status { .. }
            | Request::SlotConfig { .. }
            | Request::FederationConfig { .. }
            | Request::Figures { .. }
            | Request::Observe { .. }
            | Request::PendingRollback
            | Request::SlotEvidence { .. } => {
                return None;
            }
        })
    }

    /// The seat the request is about.
    fn seat(&self) -> u8 {
        match *self {
            SeatRequest::Load { seat, .. }
            | SeatRequest::Chunk { seat, .. }
            | SeatRequest::Start { seat, .. }
            | SeatRequest::Begin { seat, .. }
            | SeatRequest::Continue { seat }
            | SeatRequest::Stop { seat }
            | SeatRequest::Schedule { seat, .. }
            | SeatRequest::Serving { seat, .. } => seat,
            SeatRequest::ServingQuery => 0,
        }
    }
}
