//! Test stand-in for a slot manager (scenario `slots`, qemu/runner/tests/slots.rs; the
//! slot names it with `manager_program = "seat-tester"`): it holds what the image builder
//! gives a manager — the slot's front endpoint (`front`), the supervisor endpoint with seat
//! authority (`supervisor`), the `seat-faults` notification — and drives the root server's
//! `Seat*` requests through every refusal and the start/stop/fault paths, logging one
//! `tester.check name=… verdict=ok|wrong` event per step and `tester.done` at the end.
//! Run by a domain that is no slot's manager but a supervisor client, it asks to stop seat 0
//! and to restart the domain of seat 0, and to start seat 1 marked as a restart, and logs
//! `intruder.seat-stop verdict=refused`, `intruder.seat-restart verdict=refused` and
//! `intruder.seat-start-restart verdict=refused` when the root server refuses; likewise it
//! asks to record seat 0 as the serving one and which seat is recorded
//! (`intruder.seat-serving`, `intruder.serving-seat`).
//! The serving seat a restarted manager keeps serving or takes the slot's state from
//! (`SeatServing`, `ServingSeat`): seat 0, not settled, at boot; a seat past the slot's or
//! one that runs no module is refused and leaves the record as it was; a running seat is
//! recorded with its `settled` flag (recorded again when it settles), and stays recorded
//! once it stopped.
//! Seat restarts: a start marked `restart` counts one in the seat's `restarts` (the
//! supervisor's status) once its module runs, an unmarked one or an abandoned build none, and
//! a restart of a seat that never ran is refused `NeverStarted`.
//! The slot's verifier domain calls the front endpoint too (`READY`, badge
//! `VERIFIER_BADGE`): this stand-in gives it no work, parking its call in a free slot of its
//! CNode so that it waits for good ([`Tester::recv_seat`]).
#![no_std]
#![no_main]

extern crate tileos_rt;

use heapless::Vec;
use tileos_protocol::module::{READY, SEAT_BADGE, VERIFIER_BADGE};
use tileos_protocol::supervisor::{
    DomainStatus, Refusal, Request, Response, SEAT_CHUNK, SEAT_FAULTS_SIGNAL, SeatProgram, SeatSchedule, State, Supervisor,
};
use tileos_sys::rpc::Client;
use tileos_sys::{log, log_event};

/// Label of the reply asking a seat-probe module to fault (seat-probe has the same).
const FAULT_NOW: u64 = 0x1FF;
/// The slot's module memory in the scenario (the default).
const MODULE_MEMORY: u32 = 0x8_0000;
/// Seats of the scenario's slot: the incumbent, max_challengers (2) + 1.
const SEATS: u8 = 4;
/// Where the tiny test module's code is loaded.
const TINY_VADDR: u64 = 0x0000_1000_0000_0078;

/// The test's state: the supervisor client and the failures so far.
struct Tester {
    supervisor: Client<Supervisor>,
    front: tileos_sys::cap::Endpoint,
    failures: u32,
}

impl Tester {
    /// The next call on the front endpoint that is not the slot's verifier's: a verifier's
    /// call is parked (`CNodeSaveCaller` into the first free slot of this domain's CNode,
    /// never answered), so it does not call again.
    fn recv_seat(&mut self) -> tileos_sys::Message {
        loop {
            let message = self.front.recv();
            if message.badge != VERIFIER_BADGE {
                return message;
            }
            let info = tileos_sys::domain::info();
            let free = tileos_abi::bootinfo::domain::FIRST_GRANTED + info.cap_count;
            let save = tileos_abi::invocation::CNodeSaveCaller { dest: tileos_abi::invocation::Slot::at(free) };
            if let Err(error) = tileos_sys::cap::CNode::ROOT.invoke(save) {
                log!("seat-tester: cannot park the verifier's call: {error:?}");
            }
        }
    }

    /// Sends `request`, compares the answer with `expected` and logs the step `name`.
    fn check(&mut self, name: &str, request: Request, expected: Response) -> Option<Response> {
        let answer = self.supervisor.call(&request).ok();
        // A start's answer carries the root server's ticks, which vary: its generation counts.
        let ok = match (&answer, &expected) {
            (Some(Response::SeatStarted { generation, .. }), Response::SeatStarted { generation: wanted, .. }) => generation == wanted,
            (answer, expected) => answer.as_ref() == Some(expected),
        };
        if !ok {
            self.failures += 1;
            log!("seat-tester: {name}: expected {expected:?}, got {answer:?}");
        }
        log_event!("tester.check", name = name, verdict = if ok { "ok" } else { "wrong" });
        answer
    }

    /// Logs step `name` with `ok`.
    fn verdict(&mut self, name: &str, ok: bool, detail: core::fmt::Arguments<'_>) {
        if !ok {
            self.failures += 1;
            log!("seat-tester: {name}: {detail}");
        }
        log_event!("tester.check", name = name, verdict = if ok { "ok" } else { "wrong" });
    }

    /// Waits for the next call on the front endpoint and checks it is `READY` from `seat`.
    fn ready(&mut self, name: &str, seat: u64) {
        let message = self.recv_seat();
        let ok = message.badge == SEAT_BADGE | seat && message.info.label() == READY;
        self.verdict(name, ok, format_args!("badge {:#x}, label {:#x}", message.badge, message.info.label()));
    }

    /// Stages `elf` for `seat` in protocol-sized chunks; true if every step was answered.
    fn stage(&mut self, seat: u8, elf: &[u8]) -> bool {
        let load = self.supervisor.call(&Request::SeatLoad { seat, length: elf.len() as u32 });
        if load != Ok(Response::SeatStaged { received: 0 }) {
            return false;
        }
        for (index, piece) in elf.chunks(SEAT_CHUNK).enumerate() {
            let bytes: Vec<u8, SEAT_CHUNK> = piece.iter().copied().collect();
            let offset = (index * SEAT_CHUNK) as u32;
            let answer = self.supervisor.call(&Request::SeatChunk { seat, offset, bytes });
            if answer != Ok(Response::SeatStaged { received: offset + piece.len() as u32 }) {
                return false;
            }
        }
        true
    }

    /// `SeatBegin` of `seat`'s incumbent program, marked as a restart, logged as step
    /// `name`: a build in pieces begins (nothing mapped yet).
    fn begin(&mut self, name: &str, seat: u8) {
        let answer = self.supervisor.call(&Request::SeatBegin { seat, program: SeatProgram::Incumbent, restart: true });
        let ok = matches!(answer, Ok(Response::SeatBuilding { done: 0, total }) if total > 0);
        self.verdict(name, ok, format_args!("{answer:?}"));
    }

    /// The supervisor's state of domain `name`.
    fn state_of(&self, name: &str) -> Option<State> {
        self.status_of(name).map(|line| line.state)
    }

    /// Checks (step `name`) that the supervisor's status counts `expected` restarts of
    /// domain `domain`.
    fn restarts(&mut self, name: &str, domain: &str, expected: u32) {
        let restarts = self.status_of(domain).map(|line| line.restarts);
        self.verdict(name, restarts == Some(expected), format_args!("{domain}: restarts {restarts:?}, expected {expected}"));
    }

    /// The supervisor's status line of domain `name`.
    fn status_of(&self, name: &str) -> Option<DomainStatus> {
        let mut first = 0;
        loop {
            let Ok(Response::Status { total, domains }) = self.supervisor.call(&Request::Status { first }) else { return None };
            if let Some(line) = domains.iter().find(|line| line.name == name) {
                return Some(line.clone());
            }
            first += domains.len() as u16;
            if domains.is_empty() || first >= total {
                return None;
            }
        }
    }
}

/// A minimal x86_64 ELF64 executable: one read-execute segment at [`TINY_VADDR`] holding
/// `code`, `mem_size` bytes in memory; entry at its start.
fn tiny_elf(code: &[u8], mem_size: u64) -> Vec<u8, 256> {
    let mut elf: Vec<u8, 256> = Vec::new();
    let _ = elf.resize(120, 0);
    elf[..4].copy_from_slice(b"\x7fELF");
    (elf[4], elf[5], elf[6]) = (2, 1, 1);
    elf[16] = 2; // ET_EXEC
    elf[18] = 62; // x86_64
    elf[24..32].copy_from_slice(&TINY_VADDR.to_le_bytes());
    elf[32..40].copy_from_slice(&64u64.to_le_bytes());
    elf[54] = 56;
    elf[56] = 1;
    let header = &mut elf[64..120];
    header[0] = 1; // PT_LOAD
    header[4] = 5; // read, execute
    header[8..16].copy_from_slice(&120u64.to_le_bytes());
    header[16..24].copy_from_slice(&TINY_VADDR.to_le_bytes());
    header[32..40].copy_from_slice(&(code.len() as u64).to_le_bytes());
    header[40..48].copy_from_slice(&mem_size.to_le_bytes());
    let _ = elf.extend_from_slice(code);
    elf
}

/// `count` bytes of garbage.
fn garbage(count: usize, seed: u8) -> Vec<u8, SEAT_CHUNK> {
    (0..count).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let name = tileos_sys::domain::name();
    if let (None, Some(supervisor)) = (tileos_sys::domain::served_endpoint("front"), tileos_sys::domain::client_endpoint("supervisor")) {
        // Not a manager (the scenario's "intruder"): seat requests must be refused.
        let answer = Client::<Supervisor>::new(supervisor).call(&Request::SeatStop { seat: 0 });
        let verdict = if answer == Ok(Response::Refused(Refusal::NotSlotManager)) { "refused" } else { "ALLOWED" };
        log!("seat-tester: \"{name}\", no slot's manager, asked to stop seat 0: {answer:?}");
        log_event!("intruder.seat-stop", domain = name, verdict = verdict);
        // Nor is a seat restarted by the supervisor on request.
        let domain = heapless::String::try_from("probe-svc").unwrap_or_default();
        let answer = Client::<Supervisor>::new(supervisor).call(&Request::Restart { domain });
        let verdict = if answer == Ok(Response::Refused(Refusal::RestartPolicyNever)) { "refused" } else { "ALLOWED" };
        log!("seat-tester: \"{name}\" asked to restart seat 0 of probe-slot: {answer:?}");
        log_event!("intruder.seat-restart", domain = name, verdict = verdict);
        // Nor may it record a seat as the serving one, or read which one is.
        let answer = Client::<Supervisor>::new(supervisor).call(&Request::SeatServing { seat: 0, settled: false });
        let verdict = if answer == Ok(Response::Refused(Refusal::NotSlotManager)) { "refused" } else { "ALLOWED" };
        log!("seat-tester: \"{name}\" asked to record seat 0 as serving: {answer:?}");
        log_event!("intruder.seat-serving", domain = name, verdict = verdict);
        let answer = Client::<Supervisor>::new(supervisor).call(&Request::ServingSeat);
        let verdict = if answer == Ok(Response::Refused(Refusal::NotSlotManager)) { "refused" } else { "ALLOWED" };
        log!("seat-tester: \"{name}\" asked which seat serves: {answer:?}");
        log_event!("intruder.serving-seat", domain = name, verdict = verdict);
        // Nor may it count a restart of a seat (its start marked `restart`).
        let answer =
            Client::<Supervisor>::new(supervisor).call(&Request::SeatStart { seat: 1, program: SeatProgram::Incumbent, restart: true });
        let verdict = if answer == Ok(Response::Refused(Refusal::NotSlotManager)) { "refused" } else { "ALLOWED" };
        log!("seat-tester: \"{name}\" asked to restart seat 1 of a slot: {answer:?}");
        log_event!("intruder.seat-start-restart", domain = name, verdict = verdict);
        tileos_sys::domain::stop();
    }
    let (Some(front), Some(supervisor), Some(faults)) = (
        tileos_sys::domain::served_endpoint("front"),
        tileos_sys::domain::client_endpoint("supervisor"),
        tileos_sys::domain::wait_notification("seat-faults"),
    ) else {
        log!("seat-tester: \"{name}\" lacks a manager's capabilities (front, supervisor, seat-faults)");
        tileos_sys::domain::stop();
    };
    let mut t = Tester { supervisor: Client::new(supervisor), front, failures: 0 };
    log_event!("tester.started", domain = name);
    if name.starts_with("vote.") {
        n_version(&mut t, faults);
    }
    // Seat 0, the incumbent, was started at boot: its module says READY.
    t.ready("incumbent-ready", 0);

    let refused = |refusal| Response::Refused(refusal);
    t.check(
        "no-such-seat",
        Request::SeatStart { seat: SEATS, program: SeatProgram::Incumbent, restart: false },
        refused(Refusal::NoSuchSeat { seats: SEATS }),
    );
    // A restart of a seat outside the slot, or of one that never ran: refused, nothing counted.
    t.check(
        "restart-no-such-seat",
        Request::SeatStart { seat: SEATS, program: SeatProgram::Incumbent, restart: true },
        refused(Refusal::NoSuchSeat { seats: SEATS }),
    );
    t.check(
        "restart-never-started",
        Request::SeatStart { seat: 3, program: SeatProgram::Incumbent, restart: true },
        refused(Refusal::NeverStarted),
    );
    t.check(
        "begin-restart-never-started",
        Request::SeatBegin { seat: 3, program: SeatProgram::Incumbent, restart: true },
        refused(Refusal::NeverStarted),
    );
    t.restarts("seat3-no-restarts", "probe-slot.seat3", 0);
    t.check(
        "too-large-load",
        Request::SeatLoad { seat: 1, length: MODULE_MEMORY + 1 },
        refused(Refusal::ModuleTooLarge { max: MODULE_MEMORY }),
    );
    t.check(
        "chunk-without-load",
        Request::SeatChunk { seat: 1, offset: 0, bytes: garbage(10, 1) },
        refused(Refusal::ChunkOutOfOrder { expected: 0 }),
    );
    t.check("load", Request::SeatLoad { seat: 1, length: 100 }, Response::SeatStaged { received: 0 });
    t.check(
        "chunk-out-of-order",
        Request::SeatChunk { seat: 1, offset: 50, bytes: garbage(10, 2) },
        refused(Refusal::ChunkOutOfOrder { expected: 0 }),
    );
    t.check(
        "chunk-wrong-seat",
        Request::SeatChunk { seat: 2, offset: 0, bytes: garbage(10, 3) },
        refused(Refusal::ChunkOutOfOrder { expected: 0 }),
    );
    t.check("chunk", Request::SeatChunk { seat: 1, offset: 0, bytes: garbage(60, 4) }, Response::SeatStaged { received: 60 });
    t.check(
        "start-before-complete",
        Request::SeatStart { seat: 1, program: SeatProgram::Staged, restart: false },
        refused(Refusal::StagingIncomplete { received: 60, length: 100 }),
    );
    t.check(
        "chunk-past-length",
        Request::SeatChunk { seat: 1, offset: 60, bytes: garbage(41, 5) },
        refused(Refusal::ChunkOutOfOrder { expected: 60 }),
    );
    t.check("last-chunk", Request::SeatChunk { seat: 1, offset: 60, bytes: garbage(40, 6) }, Response::SeatStaged { received: 100 });
    t.check("garbage-elf", Request::SeatStart { seat: 1, program: SeatProgram::Staged, restart: false }, refused(Refusal::BadProgram));
    t.check(
        "staging-consumed",
        Request::SeatStart { seat: 1, program: SeatProgram::Staged, restart: false },
        refused(Refusal::StagingIncomplete { received: 0, length: 0 }),
    );
    // A header whose program headers lie past the end of the file.
    let truncated = tiny_elf(&[0x0F, 0x0B], 2);
    let staged = t.stage(1, &truncated[..100]);
    t.verdict("truncated-staged", staged, format_args!("staging refused"));
    t.check("truncated-elf", Request::SeatStart { seat: 1, program: SeatProgram::Staged, restart: false }, refused(Refusal::BadProgram));
    // A well-formed ELF whose segment needs 64 MiB: more than the seat's memory.
    let oversized = tiny_elf(&[0x0F, 0x0B], 64 << 20);
    let staged = t.stage(1, &oversized);
    t.verdict("oversized-staged", staged, format_args!("staging refused"));
    t.check(
        "oversized-segments",
        Request::SeatStart { seat: 1, program: SeatProgram::Staged, restart: false },
        refused(Refusal::BadProgram),
    );
    t.check(
        "no-lineage",
        Request::SeatStart { seat: 1, program: SeatProgram::Lineage(0), restart: false },
        refused(Refusal::NoSuchProgram),
    );
    t.check("no-fallback", Request::SeatStart { seat: 1, program: SeatProgram::Fallback, restart: false }, refused(Refusal::NoSuchProgram));
    t.check("stop-empty", Request::SeatStop { seat: 1 }, refused(Refusal::NotRunning(State::Stopped)));
    t.check(
        "schedule-empty",
        Request::SeatSchedule { seat: 1, schedule: SeatSchedule::Serving },
        refused(Refusal::NotRunning(State::Stopped)),
    );
    t.check(
        "start-while-running",
        Request::SeatStart { seat: 0, program: SeatProgram::Incumbent, restart: false },
        refused(Refusal::SeatRunning),
    );
    // The serving seat: seat 0 at boot; a seat past the slot's, or one running nothing,
    // refused (the record unchanged: still seat 0).
    t.check("serving-seat-at-boot", Request::ServingSeat, Response::ServingSeat { seat: 0, settled: false });
    t.check("serving-no-such-seat", Request::SeatServing { seat: SEATS, settled: false }, refused(Refusal::NoSuchSeat { seats: SEATS }));
    t.check("serving-empty", Request::SeatServing { seat: 1, settled: true }, refused(Refusal::NotRunning(State::Stopped)));
    t.check("serving-seat-after-refusals", Request::ServingSeat, Response::ServingSeat { seat: 0, settled: false });

    // Seat 1 runs the incumbent's program, is stopped, and runs again: a fresh generation.
    t.check(
        "start-incumbent",
        Request::SeatStart { seat: 1, program: SeatProgram::Incumbent, restart: false },
        Response::SeatStarted { generation: 0, ticks: 0 },
    );
    t.ready("seat1-ready", 1);
    // The serving schedule (the incumbent's priority) and back to the challengers'.
    t.check("schedule-serving", Request::SeatSchedule { seat: 1, schedule: SeatSchedule::Serving }, Response::SeatScheduled);
    t.check("schedule-shadow", Request::SeatSchedule { seat: 1, schedule: SeatSchedule::Shadow }, Response::SeatScheduled);
    // A running seat is recorded as the serving one, and read back.
    t.check("serving-running", Request::SeatServing { seat: 1, settled: false }, Response::SeatServingRecorded);
    t.check("serving-seat-recorded", Request::ServingSeat, Response::ServingSeat { seat: 1, settled: false });
    // Its rollback window closed: recorded again, settled.
    t.check("serving-settled", Request::SeatServing { seat: 1, settled: true }, Response::SeatServingRecorded);
    t.check("serving-seat-settled", Request::ServingSeat, Response::ServingSeat { seat: 1, settled: true });
    t.check(
        "start-seat1-again",
        Request::SeatStart { seat: 1, program: SeatProgram::Incumbent, restart: false },
        refused(Refusal::SeatRunning),
    );
    t.check("stop", Request::SeatStop { seat: 1 }, Response::SeatStopped);
    t.check("stop-again", Request::SeatStop { seat: 1 }, refused(Refusal::NotRunning(State::Stopped)));
    // The record outlives the seat's stop (a restarted manager checks that the seat runs);
    // the stopped seat cannot be recorded again; seat 0 can.
    t.check("serving-seat-after-stop", Request::ServingSeat, Response::ServingSeat { seat: 1, settled: true });
    t.check("serving-stopped", Request::SeatServing { seat: 1, settled: true }, refused(Refusal::NotRunning(State::Stopped)));
    t.check("serving-incumbent", Request::SeatServing { seat: 0, settled: true }, Response::SeatServingRecorded);
    t.check("serving-seat-incumbent", Request::ServingSeat, Response::ServingSeat { seat: 0, settled: true });
    t.restarts("seat1-started-no-restart", "probe-slot.seat1", 0);
    // Started again after its stop, marked as a restart: counted.
    t.check(
        "restart-fresh",
        Request::SeatStart { seat: 1, program: SeatProgram::Incumbent, restart: true },
        Response::SeatStarted { generation: 1, ticks: 0 },
    );
    t.restarts("seat1-restarted-once", "probe-slot.seat1", 1);
    t.ready("seat1-ready-again", 1);
    // Tell the module to fault: the root server stops the seat and signals bit 1.
    tileos_sys::reply(FAULT_NOW, &[]);
    let word = faults.wait();
    t.verdict("seat1-fault-signalled", word == SEAT_FAULTS_SIGNAL | 1 << 1, format_args!("seat-faults word {word:#x}"));
    let state = t.state_of("probe-slot.seat1");
    t.verdict("seat1-not-restarted", state == Some(State::Stopped), format_args!("state {state:?}"));
    t.check("stop-faulted", Request::SeatStop { seat: 1 }, refused(Refusal::NotRunning(State::Stopped)));

    // A start in bounded pieces (SeatBegin, then SeatContinue until SeatStarted), and every
    // request that must discard a build under way or be refused around one.
    t.check("continue-nothing", Request::SeatContinue { seat: 1 }, refused(Refusal::NotBuilding));
    t.begin("begin", 1);
    t.check("continue-wrong-seat", Request::SeatContinue { seat: 2 }, refused(Refusal::NotBuilding));
    t.check("continue-no-such-seat", Request::SeatContinue { seat: SEATS }, refused(Refusal::NoSuchSeat { seats: SEATS }));
    t.check(
        "schedule-building",
        Request::SeatSchedule { seat: 1, schedule: SeatSchedule::Shadow },
        refused(Refusal::NotRunning(State::Stopped)),
    );
    t.check("stop-while-building", Request::SeatStop { seat: 1 }, Response::SeatStopped);
    t.check("continue-after-stop", Request::SeatContinue { seat: 1 }, refused(Refusal::NotBuilding));
    t.begin("begin-again", 1);
    t.check("load-other-seat-while-building", Request::SeatLoad { seat: 2, length: 10 }, Response::SeatStaged { received: 0 });
    t.check("continue-after-load", Request::SeatContinue { seat: 1 }, refused(Refusal::NotBuilding));
    t.begin("begin-third", 1);
    t.check(
        "start-other-seat-while-building",
        Request::SeatStart { seat: 3, program: SeatProgram::Lineage(0), restart: false },
        refused(Refusal::NoSuchProgram),
    );
    t.check("continue-after-start", Request::SeatContinue { seat: 1 }, refused(Refusal::NotBuilding));
    t.begin("begin-fourth", 1);
    let answer = t.supervisor.call(&Request::SeatContinue { seat: 1 });
    t.verdict("continue", matches!(answer, Ok(Response::SeatBuilding { .. })), format_args!("{answer:?}"));
    // A begin while building starts afresh (the manager restarted, say).
    t.begin("begin-while-building", 1);
    let mut pieces = 1;
    let answer = loop {
        let answer = t.supervisor.call(&Request::SeatContinue { seat: 1 });
        pieces += 1;
        if !matches!(answer, Ok(Response::SeatBuilding { .. })) || pieces > 1_000 {
            break answer;
        }
    };
    // Its generation: the abandoned builds never ran, so the next after restart-fresh's 1.
    t.verdict(
        "built-in-pieces",
        matches!(answer, Ok(Response::SeatStarted { generation: 2, ticks: 1.. })) && pieces > 3,
        format_args!("{answer:?} after {pieces} pieces"),
    );
    t.check("continue-after-start-done", Request::SeatContinue { seat: 1 }, refused(Refusal::NotBuilding));
    // Every begin was marked a restart: the one built counts, the four abandoned none.
    t.restarts("seat1-restarted-twice", "probe-slot.seat1", 2);
    // Started in pieces, it runs at priority 0 (SeatSchedule::Start) until given another;
    // given the challengers' and then priority 0 again, it calls READY once this tester
    // waits (nothing else wants the CPU then).
    t.check("schedule-shadow-after-pieces", Request::SeatSchedule { seat: 1, schedule: SeatSchedule::Shadow }, Response::SeatScheduled);
    t.check("schedule-start", Request::SeatSchedule { seat: 1, schedule: SeatSchedule::Start }, Response::SeatScheduled);
    t.ready("seat1-ready-pieces", 1);
    tileos_sys::reply(FAULT_NOW, &[]);
    let word = faults.wait();
    t.verdict("seat1-pieces-fault-signalled", word == SEAT_FAULTS_SIGNAL | 1 << 1, format_args!("seat-faults word {word:#x}"));

    // A staged module of our own making (ud2 at its entry) in seat 2: built, started, faults.
    let module = tiny_elf(&[0x0F, 0x0B], 2);
    let staged = t.stage(2, &module);
    t.verdict("module-staged", staged, format_args!("staging refused"));
    t.check(
        "staged-module-started",
        Request::SeatStart { seat: 2, program: SeatProgram::Staged, restart: false },
        Response::SeatStarted { generation: 0, ticks: 0 },
    );
    let word = faults.wait();
    t.verdict("staged-module-faulted", word == SEAT_FAULTS_SIGNAL | 1 << 2, format_args!("seat-faults word {word:#x}"));
    // The seat's memory came back: the same module starts again in it, generation 1.
    let staged = t.stage(2, &module);
    t.verdict("module-staged-again", staged, format_args!("staging refused"));
    t.check(
        "staged-module-again",
        Request::SeatStart { seat: 2, program: SeatProgram::Staged, restart: true },
        Response::SeatStarted { generation: 1, ticks: 0 },
    );
    t.restarts("seat2-restarted-once", "probe-slot.seat2", 1);
    let word = faults.wait();
    t.verdict("staged-module-faulted-again", word == SEAT_FAULTS_SIGNAL | 1 << 2, format_args!("seat-faults word {word:#x}"));

    log!("seat-tester: done, {} failures", t.failures);
    log_event!("tester.done", slot = "probe-slot", failures = t.failures);
    tileos_sys::domain::stop()
}

/// The N-version slot "vote" (lineages seat-probe, seat-probe-b, seat-probe-c, fallback
/// seat-probe): seats 0, 1 and 2 run the lineages from the boot; seat 3, the spare, starts a
/// lineage and the fallback; there is no lineage 3.
fn n_version(t: &mut Tester, faults: tileos_sys::cap::Notification) -> ! {
    let mut ready = [false; 3];
    for _ in 0..3 {
        let message = t.recv_seat();
        let seat = message.badge & !SEAT_BADGE;
        if message.badge & SEAT_BADGE != 0 && seat < 3 && message.info.label() == READY {
            ready[seat as usize] = true;
        }
    }
    t.verdict("nv-lineages-ready", ready == [true; 3], format_args!("ready {ready:?}"));
    let refused = |refusal| Response::Refused(refusal);
    t.check(
        "nv-lineage-running",
        Request::SeatStart { seat: 1, program: SeatProgram::Lineage(1), restart: false },
        refused(Refusal::SeatRunning),
    );
    t.check(
        "nv-no-lineage-3",
        Request::SeatStart { seat: 3, program: SeatProgram::Lineage(3), restart: false },
        refused(Refusal::NoSuchProgram),
    );
    t.check(
        "nv-spare-restart-never-started",
        Request::SeatStart { seat: 3, program: SeatProgram::Lineage(2), restart: true },
        refused(Refusal::NeverStarted),
    );
    t.check(
        "nv-spare-lineage",
        Request::SeatStart { seat: 3, program: SeatProgram::Lineage(2), restart: false },
        Response::SeatStarted { generation: 0, ticks: 0 },
    );
    t.ready("nv-spare-ready", 3);
    t.check("nv-spare-stop", Request::SeatStop { seat: 3 }, Response::SeatStopped);
    t.check(
        "nv-spare-fallback",
        Request::SeatStart { seat: 3, program: SeatProgram::Fallback, restart: false },
        Response::SeatStarted { generation: 1, ticks: 0 },
    );
    t.ready("nv-fallback-ready", 3);
    // Another module in the seat (the fallback after a lineage), unmarked: no restart.
    t.restarts("nv-spare-no-restarts", "vote.seat3", 0);
    // The fallback in seat 3 faults: stopped, the manager told.
    tileos_sys::reply(FAULT_NOW, &[]);
    let word = faults.wait();
    t.verdict("nv-fallback-fault-signalled", word == SEAT_FAULTS_SIGNAL | 1 << 3, format_args!("seat-faults word {word:#x}"));
    log!("seat-tester: N-version done, {} failures", t.failures);
    log_event!("tester.done", slot = "vote", failures = t.failures);
    tileos_sys::domain::stop()
}
