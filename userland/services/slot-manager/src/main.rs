//! The slot manager domain `<slot>.manager` (docs/slots.md, "Running slots"): the glue
//! between the kernel and the manager's logic (`tileos_slot_manager::Manager`), which holds
//! every decision and is tested on the host.
//!
//! One receive loop on the slot's front endpoint (local name `front`). The seat-faults
//! notification (`seat-faults`) is bound to this thread, so a receive also returns its
//! signals: a message with label 0 and no words whose badge is the notification word
//! (bit `1 << seat`, with `SEAT_FAULTS_SIGNAL` set, which no client's badge has: a client's
//! empty call is answered `ERROR` `UnknownLabel` and nothing else). Every other caller's reply capability is given a free slot of this
//! domain's CNode and answered with `NbSend` on it, so the manager never blocks on a module
//! or a client; it is moved there by the next receive, `SaveRecv` (docs/abi.md), unless it
//! was answered first (then with `Reply`, from where the kernel put it). A client request
//! that its serving module and every mirrored module wait for goes to all of them in one
//! `NbSendAll` (`Seats::reply_all`, docs/abi.md §3.2), not one `NbSend` each. A message's words
//! are received into one buffer on the stack and lent to the manager (no heap per message).
//! After each message the manager does the work it keeps off the clients' path
//! (`Manager::deferred`, one step) if no client waits; when more is ready
//! (`Manager::deferred_ready`: a promotion's or a rollback by hand's next step) the loop polls the front endpoint
//! and does the next step (`Manager::deferred_step`) only if no message waits, so no busy
//! span holds two steps (docs/slots.md, "A promotion transfers before its switch"). Such a
//! step runs at the slot's `step_priority` (its own thread lowered; by default its own
//! priority), so a client above that but below the manager runs first. Seat
//! requests go to
//! the root server (`supervisor`), the update log to the store (`store`, with a region
//! `store-buffer.<badge>`; without them it lives in RAM and the manager says so).
//!
//! The manager's log lines do not wait for the serial port on the serving path
//! ([`PendingLines`]): a 100-character line costs ≈ 20,000 instructions through the
//! console (one `IoPortOutBytes` system call per 16 bytes), and the console outranks
//! everyone, so a line written while a client waits lengthens that client's call by the
//! whole line.
//!
//! When the tile has a timer domain (docs/timer.md), the image builder makes the manager its
//! client (`timer`) and has the timer signal `seat-faults` with `TIMER_SIGNAL`: before each
//! wait the glue arms it for `Manager::next_deadline` (unless a deadline no later is armed),
//! and at its signal calls `Manager::tick`, so a hung serving module, a hung start, the
//! verifier's and the adoption's deadlines pass with no message reaching the manager.
//!
//! An install's commit is a job of bounded steps (`Manager::install_step`, docs/slots.md
//! "Installs"): while one is under way and no client request is in flight, the loop polls
//! the front endpoint (`NbRecv`) and, when nothing waits, does one step at
//! [`BACKGROUND_PRIORITY`] (its own thread's priority lowered, below every client; the
//! last, the installed module's kept `READY` and the commit's answer, at its own priority,
//! so that the domains those sends wake run after it), going
//! back to its own priority to handle what arrives; with a client request in flight it
//! waits for the answer as usual. So a client's call waits for at most the one step in
//! progress when it called, and the job uses time nobody else wants ([`InstallTiming`]
//! times it for `make bench`).
//! A challenger's rebuild after a fault (`Manager::rebuild_step`: its ELF staged one
//! root-server call a step, then the root server's build of the seat a piece a step:
//! `SeatBegin`, `SeatContinue`s) is stepped the same way, before an
//! install's steps ([`RebuildTiming`] times it). A module built in pieces starts at
//! priority 0, below the steps' [`BACKGROUND_PRIORITY`], so its start-up runs once the
//! manager waits, not inside the step that started it; once no build step follows the
//! glue raises it to its schedule at the manager's own priority (`raise_started`), or its
//! `READY` does (`Manager::reschedule`).
//!
//! The install's two signatures are not checked here: the slot's verifier domain
//! (`<slot>.verifier`, program `bundle-verifier`, badge `VERIFIER_BADGE` on `front`) calls in
//! for the work and back with its verdict (`Manager::verifier_call`); while the install
//! waits for it the manager has no step to do and simply receives.
//!
//! The immune system (docs/telemetry.md) rings [`IMMUNE_DOORBELL`] on the same
//! notification when it asks the slot to roll back: the manager takes the alarm
//! (`supervisor::Request::PendingRollback`), rolls back (`Manager::immune_rollback`, the
//! update log noting the alarm) and logs `@event slot.immune-rollback`. Every
//! [`EVIDENCE_EVERY`] answered requests it reports the slot's comparison totals
//! (`supervisor::Request::SlotEvidence`) when they changed, for the disagreement detector.
//!
//! The slot's configuration comes from the root server (`supervisor::Request::SlotConfig`,
//! the postcard of the caller's `tileos_sysdesc::Slot`). Trusted bundle keys and the log
//! key are the development keys (`tileos_slot_manager::dev_keys`: DEV ONLY).
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use tileos_abi::bootinfo::domain;
use tileos_abi::invocation::{CNodeDelete, CNodeSaveCaller, CPtr, Slot, TcbBindNotification, TcbSetPriority};
use tileos_abi::message::{LABEL_SAVE_FAILED, MessageInfo};
use tileos_abi::syscall::{NB_SEND_ALL_TARGETS, Syscall};
use tileos_protocol::module::SEAT_BADGE;
use tileos_protocol::slots::{self, SlotControl};
use tileos_protocol::store::Durability;
use tileos_protocol::supervisor::{self, IMMUNE_DOORBELL, SEAT_CHUNK, SEAT_FAULTS_SIGNAL, Supervisor, TIMER_SIGNAL};
use tileos_protocol::timer::{self, Timer};
use tileos_protocol::{ERROR, PAYLOAD_WORDS, ProtocolError};
use tileos_service_store::StoreClient;
use tileos_slot_manager::{
    Access, Clock, Config, LogStore, LogStoreError, Manager, MemoryLog, Message, NVersionConfig, ReplyCap, Seats, TicksToMicros, dev_keys,
};
use tileos_sys::cap::CNode;
use tileos_sys::log;
use tileos_sys::rpc::{CallError, Client};
use tileos_telemetry::comparisons::{ComparisonTotals, ModuleComparisons};

tileos_sys::resources! {
    /// The manager's capabilities (the image builder grants them when it expands a slot).
    struct Resources {
        /// The slot's front endpoint: clients, control clients and the seats' modules call it.
        front: ServedEndpoint("front"),
        /// The root server's supervisor endpoint, with seat authority for this slot.
        supervisor: ClientEndpoint("supervisor"),
        /// Signalled by the supervisor with bit `1 << seat` when a seat's module faults.
        seat_faults: WaitNotification("seat-faults"),
        /// The store, for the update log.
        store: ClientEndpoint("store", optional),
        /// The telemetry domain, when the tile has one (the image builder grants it).
        telemetry: ClientEndpoint("telemetry", optional),
        /// The timer domain, when the tile has one (the image builder grants it, and has
        /// the timer signal `seat-faults` with `TIMER_SIGNAL`): armed for the manager's
        /// next deadline.
        timer: ClientEndpoint("timer", optional),
    }
}

tileos_sys::entry!(main);

// The image builder's badge for the verifier is the one the manager recognises.
const _: () = assert!(tileos_sysdesc::VERIFIER_BADGE == tileos_bundle_verifier::VERIFIER_BADGE);

/// Client requests outstanding at most (more are answered `Failed` at once).
const QUEUE_LIMIT: usize = 32;
/// Largest bundle staged (the manager's heap holds it and the payload it keeps).
const MAX_BUNDLE: u32 = 384 * 1024;
/// Key prefix of the update log's entries in the store.
const LOG_PREFIX: &str = "slot-log/";
/// The key prefix of each slot's settled module's program on the store (`slot-program/<slot>`).
const PROGRAM_PREFIX: &str = "slot-program/";

/// The kernel side of the manager: answers, seat requests, log lines.
struct Glue {
    supervisor: Client<Supervisor>,
    /// Free slots of this domain's CNode for saved reply capabilities.
    free: Vec<u64>,
    /// The slot given to the reply capability of the message being handled, which is
    /// still in the thread's REPLY slot: the next receive (`SaveRecv`) moves it there,
    /// unless it is answered (`Reply`) or released first.
    unsaved: Option<u64>,
    /// The manager's log lines not written yet.
    lines: PendingLines,
    /// Time-stamp counter ticks spent in the system calls of the serving path (saving a
    /// caller, answering a saved call), for `slot.cost`.
    kernel_ticks: u64,
    /// Time-stamp counter ticks spent in calls to the root server (`supervisor`), for the
    /// install-commit line's per-phase figures ([`InstallTiming`]).
    supervisor_ticks: u64,
}

/// Time-stamp counter ticks spent in the update log's store appends ([`AnyLog`]), for the
/// install-commit line's per-phase figures ([`InstallTiming`]). The manager owns its log
/// store, so the glue reads the count here (one thread: relaxed is enough).
static STORE_TICKS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Lines queued at most; one more writes the oldest at once (lines are never dropped).
const MAX_PENDING_LINES: usize = 64;

/// The manager's log lines, in order, waiting to be written through the console. A line
/// costs ≈ 20,000 instructions per 100 characters (≈ 70,000 when the console wrote each
/// byte with a system call of its own), at a priority above every client: at a promotion
/// the manager notes about eight lines while handling one answer, and written at once they
/// made one client call 560,000 instructions longer (with the per-byte console). Queued
/// here, they go out one per client request received (each client call waits for at most
/// one line), or all at once when nobody waits: on a control request (tilectl's own call),
/// a seat fault, or a message that finds no client request in flight and none answered in
/// the last [`QUIET_MS`] (so lines still appear, in order, when the slot is idle).
struct PendingLines {
    queue: VecDeque<String>,
    /// Lines queued so far (to tell which step noted the last one).
    pushed: u64,
}

impl PendingLines {
    /// Queues `line` (writing the oldest now if [`MAX_PENDING_LINES`] wait already).
    fn push(&mut self, line: String) {
        if self.queue.len() >= MAX_PENDING_LINES {
            self.write_one();
        }
        self.queue.push_back(line);
        self.pushed += 1;
    }

    /// Whether the last line queued since `pushed` lines is the update log's hashing
    /// (`slot.log-hashed`: a deferred step that hashed into the tree).
    fn hashed_since(&self, pushed: u64) -> bool {
        self.pushed > pushed && self.queue.back().is_some_and(|line| line.starts_with("@event slot.log-hashed "))
    }

    /// Writes the oldest line, if any.
    fn write_one(&mut self) {
        if let Some(line) = self.queue.pop_front() {
            log!("{line}");
        }
    }

    /// Writes every line.
    fn write_all(&mut self) {
        while !self.queue.is_empty() {
            self.write_one();
        }
    }
}

/// How long after the last client answer the slot counts as idle (its lines are written
/// all at once then).
const QUIET_MS: u64 = 10;

impl Glue {
    /// Gives the current caller's reply capability a free slot (it moves there at the next
    /// receive: [`Glue::receive`]); `None` when no slot is free.
    fn save_caller(&mut self) -> Option<ReplyCap> {
        let slot = self.free.pop()?;
        self.unsaved = Some(slot);
        Some(ReplyCap(slot))
    }

    /// Receives the next message on `front`, first moving the last caller's reply
    /// capability to its slot if it is still unanswered (`SaveRecv`: one system call).
    fn receive(&mut self, front: u64) -> tileos_sys::Message {
        let Some(slot) = self.unsaved.take() else {
            return tileos_sys::raw_syscall(Syscall::Recv, front, MessageInfo::default(), [0; 4]);
        };
        let received = tileos_sys::raw_syscall(Syscall::SaveRecv, front, MessageInfo::default(), [slot, 0, 0, 0]);
        if received.info.label() != LABEL_SAVE_FAILED {
            return received;
        }
        // Only a slot this glue handed out is named, and it is empty: a refusal is a bug
        // here. The caller whose capability it was loses it (its call returns
        // `LABEL_REPLY_LOST`, and a module calls READY again); the slot is not reused.
        log!(
            "slot-manager: cannot save a caller into slot {slot}: SaveRecv refused (code {}, details {} {}): that caller loses its reply",
            received.words[0],
            received.words[1],
            received.words[2]
        );
        tileos_sys::raw_syscall(Syscall::Recv, front, MessageInfo::default(), [0; 4])
    }
}

impl Glue {
    /// Takes the next message on `front` if one waits (`NbRecv`), first moving the last
    /// caller's reply capability to its slot if it is still unanswered (`CNodeSaveCaller`:
    /// `SaveRecv` has no non-blocking form). `None`: nothing waits (a poll that found
    /// nothing returns badge 0, label 0 and no words; a signal of the bound notification has
    /// its bits as badge, never 0).
    fn poll(&mut self, front: u64) -> Option<tileos_sys::Message> {
        if let Some(slot) = self.unsaved.take()
            && let Err(error) = CNode::ROOT.invoke(CNodeSaveCaller { dest: Slot::at(slot) })
        {
            // As for SaveRecv: only an empty slot this glue handed out is named.
            log!("slot-manager: cannot save a caller into slot {slot}: {error:?}: that caller loses its reply");
        }
        let received = tileos_sys::raw_syscall(Syscall::NbRecv, front, MessageInfo::default(), [0; 4]);
        (received.badge != 0 || received.info.label() != 0 || received.info.length() != 0).then_some(received)
    }
}

/// How long after a deadline that a tick left in place (deferred work waiting for the
/// update log's hashing step) the timer is armed again, microseconds.
const STALE_RETRY_MICROS: u64 = 100_000;

/// The timer domain (docs/timer.md), when the tile has one: armed for the manager's next
/// deadline (`Manager::next_deadline`), so that those deadlines pass with no message
/// reaching the manager. Its signal arrives on the seat-faults notification with
/// `TIMER_SIGNAL`, and the manager then ticks (`Manager::tick`).
struct Alarm {
    timer: Client<Timer>,
    /// The deadline armed (manager clock, µs) and not yet signalled.
    armed: Option<u64>,
    /// The timer refused to arm (the description gives it no way to signal this manager):
    /// not asked again; the deadlines are read at messages, as without a timer.
    refused: bool,
}

impl Alarm {
    /// Arms the timer for the manager's next deadline, unless one no later is armed (an
    /// earlier one fires, the tick finds nothing due, and the next is armed then: so the
    /// timer is called about once per deadline, not once per request that moves it). A
    /// deadline already past is ticked at once; one a tick leaves in place is retried
    /// [`STALE_RETRY_MICROS`] later.
    fn update(&mut self, manager: &mut Manager<Glue, TscClock, AnyLog>) {
        if self.refused {
            return;
        }
        let Some(mut next) = manager.next_deadline() else { return };
        if self.armed.is_some_and(|armed| armed <= next) {
            return;
        }
        let mut now = manager.clock_mut().now();
        if next <= now {
            manager.tick();
            let Some(after_tick) = manager.next_deadline() else { return };
            now = manager.clock_mut().now();
            next = if after_tick <= now { now + STALE_RETRY_MICROS } else { after_tick };
            if self.armed.is_some_and(|armed| armed <= next) {
                return;
            }
        }
        match self.timer.call(&timer::Request::Arm { after_micros: next - now }) {
            Ok(timer::Response::Armed { .. }) => self.armed = Some(next),
            // Restarting: asked again at the next message (the restarted timer signals
            // every client once, so that is soon).
            Err(CallError::ServerRestarted) => self.armed = None,
            other => {
                log!("slot-manager: the timer did not arm {} µs ahead ({other:?}): deadlines are read at messages only", next - now);
                self.armed = None;
                self.refused = true;
            }
        }
    }

    /// The timer signalled: nothing is armed any more.
    fn fired(&mut self) {
        self.armed = None;
    }
}

/// The priority the manager's thread runs an install's steps at when nothing else waits for
/// it: below every client (the lowest domain priority the tiles use is 10), so that the steps
/// take only time no client wants. A caller whose message lands during a step waits for the
/// rest of that step; then the manager is at its own priority again.
const BACKGROUND_PRIORITY: u64 = 1;

/// Sets this thread's priority (the authority: itself, bounded by its MCP).
fn set_priority(priority: u64) {
    let tcb = tileos_sys::domain::own_tcb();
    if let Err(error) = tcb.invoke(TcbSetPriority { priority, authority: CPtr(domain::TCB) }) {
        log!("slot-manager: cannot set its priority to {priority}: {error:?}");
    }
}

/// Raises the modules started in pieces at priority 0 (`Manager::raise_started`) once no
/// build step follows, at the manager's own `priority` (`current` becomes it): the module's
/// start-up then runs once the manager waits, above the build steps but in none of them, and
/// a client above the challengers preempts it. Notes `@event slot.raised`; returns the span
/// and its root-server ticks.
fn raise_started(manager: &mut Manager<Glue, TscClock, AnyLog>, slot_name: &str, current: &mut u64, priority: u64) -> (u64, u64) {
    change_priority(current, priority);
    let root_before = manager.host_mut().supervisor_ticks;
    let start = tileos_sys::timestamp();
    manager.raise_started();
    let ticks = tileos_sys::timestamp().wrapping_sub(start);
    let root = manager.host_mut().supervisor_ticks.wrapping_sub(root_before);
    manager.host_mut().note(format_args!("@event slot.raised slot={slot_name} ticks={ticks} root={root}"));
    (ticks, root)
}

/// Sets this thread's priority to `priority` unless it is at it already (`current`).
fn change_priority(current: &mut u64, priority: u64) {
    if *current != priority {
        set_priority(priority);
        *current = priority;
    }
}

/// An install job's figures for `make bench` (the `slot.install-commit` line at its end):
/// from the commit's arrival to its answer, the manager's own work for it (the commit's
/// handling and every step), the steps and the longest one (the most a client can wait
/// for the job: the rest of one step).
#[derive(Default)]
struct InstallTiming {
    /// When the commit arrived (time-stamp counter).
    since: u64,
    /// Ticks of the manager's own work for it.
    work: u64,
    /// Steps done.
    steps: u64,
    /// The longest step (or the commit's own handling, if longer), in time-stamp ticks from
    /// its start to its end: a thread that preempted the manager meanwhile (it runs steps at
    /// [`BACKGROUND_PRIORITY`]) counts in it.
    longest: u64,
    /// The longest step before the last one (the commit's handling included): the last is
    /// the kept `READY`'s (since `slots37`; before, the module's start with its update-log
    /// entry), the others the hashing, the checks, the staging, the build and the entry.
    longest_before_last: u64,
    /// The phase ([`Manager::install_phase`]; `commit`: the commit's handling) of the
    /// longest step, and of the longest before the last.
    longest_phase: &'static str,
    /// See `longest_phase`.
    before_last_phase: &'static str,
    /// Client requests answered during the job.
    answered: u64,
    /// When a client was last answered during the job (or the commit arrived).
    last_answer: u64,
    /// The longest time during the job between two client answers (or the commit and the
    /// first, or the last and the job's end): a bound on any client call made and answered
    /// within it, as the client has one call outstanding at a time.
    longest_gap: u64,
    /// Per phase, in the order first seen: its steps and its longest step with the ticks of
    /// that step spent in root-server calls and in store appends ([`PhaseFigures`]).
    phases: Vec<PhaseFigures>,
    /// Of the `start` step's root-server call, the root server's own ticks (its answer's
    /// `ticks`: its piece and its lines; the rest of the call is the IPC and whatever ran
    /// above the step's priority before it returned).
    start_root_own: u64,
}

/// One phase's figures in an install's `slot.install-commit` line (`phases=`, each
/// `name:steps:total:longest:root:store:sends`, in the order first seen; `total` the ticks
/// of all its steps): `name` is [`Manager::install_phase`]'s, except that the `verify` step
/// that ends the verification is `verified` (the payload hash's last piece and its
/// comparison with the manifest's) and the `build` step whose root-server piece started the
/// module is `start`; `entry-in-call` is the busy span of a message (the module's call or
/// fault) whose handling made the entry first (its root, store and send ticks not split
/// out: 0). `root`, `store` and `sends` are the time-stamp ticks of the phase's longest step
/// spent in root-server calls, in the update log's store appends and in the manager's sends
/// (`NbSend`, `NbSendAll`, `Reply`: `Glue::kernel_ticks`); a thread above the step's
/// priority that the call or send made ready runs before it returns (the module a build
/// piece started at a priority above the step's before `slots40`, a module sent work) and
/// counts in it. The install-commit line's `start_root_own=` is the root server's own part of
/// the `start` step's call (its answer's `ticks`).
struct PhaseFigures {
    name: &'static str,
    steps: u64,
    total: u64,
    longest: u64,
    root: u64,
    store: u64,
    sends: u64,
}

/// A challenger's rebuild after a fault in steps (`Manager::rebuild_step`, at
/// [`BACKGROUND_PRIORITY`] like an install's), timed for `make bench` and the boot tests
/// (`@event slot.rebuild-steps`): its steps, the manager's work in them, the longest step
/// but the last (staging, or a piece of the root server's build) and the last (the
/// build's last piece: the module's start), each in time-stamp ticks from its start
/// to its end (a thread that preempted the manager meanwhile counts in it).
#[derive(Default)]
struct RebuildTiming {
    /// When its first step began (time-stamp counter; 0: no rebuild under way).
    since: u64,
    /// Steps done.
    steps: u64,
    /// Ticks of the steps.
    work: u64,
    /// The longest step but the last.
    longest_stage: u64,
    /// The last step.
    last: u64,
    /// Of the last step, the ticks in root-server calls (a thread above the step's priority
    /// that runs before the call returns counts in it).
    last_root: u64,
    /// Of those, the root server's own ticks of the call that started the module (its
    /// answer's `ticks`).
    last_root_own: u64,
}

impl RebuildTiming {
    /// Counts the step that began at `start` and ended at `end`; notes the line once no
    /// rebuild is pending.
    /// `root` of the step's ticks were spent in root-server calls, `root_own` of those the
    /// root server's own part of a call that started the module (0: none did).
    fn step(&mut self, manager: &mut Manager<Glue, TscClock, AnyLog>, slot: &str, start: u64, end: u64, root: u64, root_own: u64) {
        if self.since == 0 {
            self.since = start;
        }
        let ticks = end.wrapping_sub(start);
        self.steps += 1;
        self.work = self.work.saturating_add(ticks);
        self.longest_stage = self.longest_stage.max(self.last);
        self.last = ticks;
        self.last_root = root;
        self.last_root_own = root_own;
        if !manager.rebuild_pending() {
            manager.host_mut().note(format_args!(
                "@event slot.rebuild-steps slot={slot} steps={} work={} longest_stage_step={} last_step={} ticks={} last_step_root={} last_step_root_own={}",
                self.steps,
                self.work,
                self.longest_stage,
                self.last,
                end.wrapping_sub(self.since),
                self.last_root,
                self.last_root_own
            ));
            *self = RebuildTiming::default();
        }
    }
}

impl InstallTiming {
    /// Counts one step (or the commit's handling) of `ticks` in `phase`, `root` and `store` of
    /// them in root-server calls and store appends.
    fn add_step(&mut self, ticks: u64, phase: &'static str, root: u64, store: u64, sends: u64) {
        self.add(ticks, phase);
        let at = match self.phases.iter().position(|p| p.name == phase) {
            Some(at) => at,
            None => {
                self.phases.push(PhaseFigures { name: phase, steps: 0, total: 0, longest: 0, root: 0, store: 0, sends: 0 });
                self.phases.len() - 1
            }
        };
        if let Some(p) = self.phases.get_mut(at) {
            p.steps += 1;
            p.total = p.total.saturating_add(ticks);
            if ticks >= p.longest {
                (p.longest, p.root, p.store, p.sends) = (ticks, root, store, sends);
            }
        }
    }

    /// The `phases=` field's value ([`PhaseFigures`]).
    fn phase_list(&self) -> String {
        let mut out = String::new();
        for (i, p) in self.phases.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            out.push_str(&format!("{comma}{}:{}:{}:{}:{}:{}:{}", p.name, p.steps, p.total, p.longest, p.root, p.store, p.sends));
        }
        out
    }

    /// The job ended at `now` (its answer sent): notes its `slot.install-commit` line and the
    /// `slot.answer-gap` line since the last install's (`gap_since`, `gap_where`, then reset).
    fn finish(
        &mut self,
        manager: &mut Manager<Glue, TscClock, AnyLog>,
        slot_name: &str,
        now: u64,
        gap_since: &mut u64,
        gap_where: &mut (u64, u64, u64),
    ) {
        self.answer_at(now);
        manager.host_mut().note(format_args!(
            "@event slot.install-commit slot={slot_name} ticks={} work={} steps={} longest_step={} answered={} longest_answer_gap={} answer_gap_since_last={} longest_step_before_last={} longest_phase={} before_last_phase={} phases={} start_root_own={}",
            now.wrapping_sub(self.since),
            self.work,
            self.steps,
            self.longest,
            self.answered,
            self.longest_gap,
            (*gap_since).max(self.longest_gap),
            self.longest_before_last,
            self.longest_phase,
            self.before_last_phase,
            self.phase_list(),
            self.start_root_own
        ));
        manager.host_mut().note(format_args!(
            "@event slot.answer-gap slot={slot_name} ticks={gap_since} controls={} to_first_control={} from_last_control={}",
            gap_where.0, gap_where.1, gap_where.2
        ));
        *gap_since = 0;
        *gap_where = (0, 0, 0);
    }

    /// Counts one step (or the commit's handling) of `ticks`.
    fn add(&mut self, ticks: u64, phase: &'static str) {
        self.work = self.work.saturating_add(ticks);
        self.longest_before_last = self.longest;
        self.before_last_phase = self.longest_phase;
        if ticks > self.longest {
            self.longest = ticks;
            self.longest_phase = phase;
        }
    }

    /// Notes a client answer (or the job's end) at `now`.
    fn answer_at(&mut self, now: u64) {
        self.longest_gap = self.longest_gap.max(now.wrapping_sub(self.last_answer));
        self.last_answer = now;
    }
}

impl Seats for Glue {
    fn reply(&mut self, to: ReplyCap, message: &Message) {
        let start = tileos_sys::timestamp();
        if self.unsaved == Some(to.0) {
            // Answered while it is handled: the capability is still in the REPLY slot.
            self.unsaved = None;
            send(Syscall::Reply, 0, message);
        } else {
            send(Syscall::NbSend, to.0, message);
        }
        self.kernel_ticks = self.kernel_ticks.wrapping_add(tileos_sys::timestamp().wrapping_sub(start));
        // The send consumed the one-shot reply capability: the slot is empty again.
        self.free.push(to.0);
    }

    fn reply_all(&mut self, to: &mut Vec<ReplyCap>, message: &Message) {
        // One still in the REPLY slot (never one of a request's seats: the client's is) is
        // answered on its own, with `Reply`.
        if let Some(at) = to.iter().position(|cap| self.unsaved == Some(cap.0)) {
            let cap = to.remove(at);
            self.reply(cap, message);
        }
        if to.is_empty() {
            return;
        }
        let start = tileos_sys::timestamp();
        // The message is placed once (registers, then the IPC buffer) for every target.
        let (info, registers) = place(message);
        for chunk in to.chunks(NB_SEND_ALL_TARGETS) {
            let mut targets = [0u64; NB_SEND_ALL_TARGETS];
            for (target, cap) in targets.iter_mut().zip(chunk) {
                *target = cap.0;
            }
            let not_sent = tileos_sys::nb_send_all(&targets[..chunk.len()], info, registers);
            if not_sent != 0 {
                // Only slots holding saved calls are named: a refusal is a bug here.
                log!("slot-manager: NbSendAll sent nothing to targets {not_sent:#b} of {:?}", &targets[..chunk.len()]);
            }
        }
        self.kernel_ticks = self.kernel_ticks.wrapping_add(tileos_sys::timestamp().wrapping_sub(start));
        // Each send consumed its one-shot reply capability: the slots are empty again.
        self.free.extend(to.drain(..).map(|cap| cap.0));
    }

    fn release(&mut self, cap: ReplyCap) {
        if self.unsaved == Some(cap.0) {
            // Still in the REPLY slot, which no CNode invocation names: save it, then delete.
            self.unsaved = None;
            if let Err(error) = CNode::ROOT.invoke(CNodeSaveCaller { dest: Slot::at(cap.0) }) {
                log!("slot-manager: cannot save a released caller into slot {}: {error:?}", cap.0);
            }
        }
        let _ = CNode::ROOT.invoke(CNodeDelete { slot: Slot::at(cap.0) });
        self.free.push(cap.0);
    }

    fn supervisor(&mut self, request: &supervisor::Request) -> Result<supervisor::Response, ProtocolError> {
        let start = tileos_sys::timestamp();
        let result = self.supervisor.call(request).map_err(|error| match error {
            tileos_sys::rpc::CallError::Protocol(error) => error,
            tileos_sys::rpc::CallError::ServerRestarted => ProtocolError::NoServer,
        });
        self.supervisor_ticks = self.supervisor_ticks.wrapping_add(tileos_sys::timestamp().wrapping_sub(start));
        result
    }

    fn note(&mut self, line: core::fmt::Arguments<'_>) {
        self.lines.push(format!("{line}"));
    }
}

/// Sends `message` on `cptr` with `syscall` (registers first, then the IPC buffer).
fn send(syscall: Syscall, cptr: u64, message: &Message) {
    let (info, registers) = place(message);
    tileos_sys::raw_syscall(syscall, cptr, info, registers);
}

/// Places `message` for a send: its words beyond the registers' four into the IPC buffer;
/// returns its info word and its register words.
fn place(message: &Message) -> (MessageInfo, [u64; 4]) {
    let mut registers = [0u64; 4];
    let length = message.words.len().min(PAYLOAD_WORDS + 1);
    for (index, &word) in message.words.iter().enumerate().take(length) {
        match registers.get_mut(index) {
            Some(register) => *register = word,
            None => tileos_sys::set_buffer_word(index, word),
        }
    }
    (MessageInfo::new(message.label, 0, 0, length as u64), registers)
}

/// Copies the words of a received message (registers, then the IPC buffer) into `out`, in
/// place (no heap); returns how many.
fn words_of(received: &tileos_sys::Message, out: &mut [u64; PAYLOAD_WORDS + 1]) -> usize {
    let length = received.info.length().min(PAYLOAD_WORDS + 1);
    for (index, word) in out.iter_mut().enumerate().take(length) {
        *word = received.words.get(index).copied().unwrap_or_else(|| tileos_sys::buffer_word(index));
    }
    length
}

/// Microseconds since boot from the time-stamp counter.
struct TscClock(TicksToMicros);

impl Clock for TscClock {
    fn now(&self) -> u64 {
        self.0.micros(tileos_sys::timestamp())
    }

    fn cycles(&self) -> u64 {
        tileos_sys::timestamp()
    }
}

/// The update log on the store: entry `i` under the key `slot-log/<slot>/<i, 16 hex digits>`;
/// the settled module's program under `slot-program/<slot>`.
struct StoreLog {
    client: StoreClient,
    prefix: String,
    program_key: String,
}

impl LogStore for StoreLog {
    fn load(&mut self) -> Result<Vec<Vec<u8>>, LogStoreError> {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        self.client.list(self.prefix.as_bytes(), |key| keys.push(key.to_vec())).map_err(|e| LogStoreError(format!("list: {e:?}")))?;
        keys.sort();
        let mut entries = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            if *key != self.key(index as u64).into_bytes() {
                return Err(LogStoreError(format!("entry {index} is missing from the store")));
            }
            entries.push(self.client.get(key).map_err(|e| LogStoreError(format!("get: {e:?}")))?);
        }
        Ok(entries)
    }

    fn append(&mut self, index: u64, entry: &[u8]) -> Result<(), LogStoreError> {
        self.client.put(self.key(index).as_bytes(), entry, Durability::Durable).map_err(|e| LogStoreError(format!("{e:?}")))
    }

    fn save_begin(&mut self, length: usize) -> Result<(), LogStoreError> {
        self.client.put_begin(self.program_key.as_bytes(), length).map_err(|e| LogStoreError(format!("{e:?}")))
    }

    fn save_part(&mut self, bytes: &[u8]) -> Result<(), LogStoreError> {
        self.client.put_part(bytes).map_err(|e| LogStoreError(format!("{e:?}")))
    }

    fn save_commit(&mut self) -> Result<(), LogStoreError> {
        self.client.put_commit(Durability::Durable).map_err(|e| LogStoreError(format!("{e:?}")))
    }

    fn saved_program(&mut self) -> Result<Option<Vec<u8>>, LogStoreError> {
        match self.client.get(self.program_key.as_bytes()) {
            Ok(program) => Ok(Some(program)),
            Err(tileos_service_store::ClientError::Store(tileos_protocol::store::Error::NotFound)) => Ok(None),
            Err(e) => Err(LogStoreError(format!("{e:?}"))),
        }
    }
}

impl StoreLog {
    fn key(&self, index: u64) -> String {
        format!("{}{index:016x}", self.prefix)
    }
}

/// Either log store.
enum AnyLog {
    Store(StoreLog),
    Memory(MemoryLog),
}

impl LogStore for AnyLog {
    fn load(&mut self) -> Result<Vec<Vec<u8>>, LogStoreError> {
        match self {
            AnyLog::Store(store) => store.load(),
            AnyLog::Memory(memory) => memory.load(),
        }
    }

    fn append(&mut self, index: u64, entry: &[u8]) -> Result<(), LogStoreError> {
        let start = tileos_sys::timestamp();
        let result = match self {
            AnyLog::Store(store) => store.append(index, entry),
            AnyLog::Memory(memory) => memory.append(index, entry),
        };
        let ticks = tileos_sys::timestamp().wrapping_sub(start);
        STORE_TICKS.fetch_add(ticks, core::sync::atomic::Ordering::Relaxed);
        result
    }

    fn save_begin(&mut self, length: usize) -> Result<(), LogStoreError> {
        self.as_store().save_begin(length)
    }

    fn save_part(&mut self, bytes: &[u8]) -> Result<(), LogStoreError> {
        self.as_store().save_part(bytes)
    }

    fn save_commit(&mut self) -> Result<(), LogStoreError> {
        self.as_store().save_commit()
    }

    fn saved_program(&mut self) -> Result<Option<Vec<u8>>, LogStoreError> {
        self.as_store().saved_program()
    }
}

impl AnyLog {
    /// The one in use.
    fn as_store(&mut self) -> &mut dyn LogStore {
        match self {
            AnyLog::Store(store) => store,
            AnyLog::Memory(memory) => memory,
        }
    }
}

/// The key ids of the bundle key pairs this tile trusts (the development keys for now: DEV
/// ONLY), read without decoding the keys: the verifier domain checks the signatures.
fn trusted_keys() -> Vec<tileos_module_bundle::Hash> {
    match dev_keys::trusted_bundle_key_ids() {
        Ok(ids) => ids,
        Err(error) => {
            log!("slot-manager: the trusted bundle key file does not read ({error}): every bundle will be refused");
            Vec::new()
        }
    }
}

/// The caller's slot, read from the root server in pieces.
fn slot_config(glue: &mut Glue) -> Result<tileos_sysdesc::Slot, String> {
    tileos_sysdesc::read_in_pieces(64 * SEAT_CHUNK, |offset| match glue.supervisor(&supervisor::Request::SlotConfig { offset }) {
        Ok(supervisor::Response::SlotConfig { length, bytes }) => Ok((length, bytes.to_vec())),
        Ok(other) => Err(format!("{other:?}")),
        Err(error) => Err(format!("{error:?}")),
    })
}

/// The description index of each seat's domain (for checking fault signals against the
/// supervisor's status): seat 0 is the incumbent, seat `k` the domain `<slot>.seat<k>`.
fn seat_domains(glue: &mut Glue, slot: &tileos_sysdesc::Slot, seats: u8) -> Vec<Option<u16>> {
    let mut names: Vec<String> = Vec::new();
    loop {
        match glue.supervisor(&supervisor::Request::Status { first: names.len() as u16 }) {
            Ok(supervisor::Response::Status { total, domains }) if !domains.is_empty() => {
                names.extend(domains.iter().map(|d| String::from(d.name.as_str())));
                if names.len() >= usize::from(total) {
                    break;
                }
            }
            _ => break,
        }
    }
    (0..seats)
        .map(|k| match k {
            0 => u16::try_from(slot.incumbent).ok(),
            k => names.iter().position(|n| *n == format!("{}.seat{k}", slot.name)).and_then(|i| u16::try_from(i).ok()),
        })
        .collect()
}

/// The bits of `word` whose seat's domain really is not running, checked against the
/// supervisor's status (a seat whose domain is unknown is believed): only the supervisor
/// signals the seat-faults notification, with `SEAT_FAULTS_SIGNAL`, which no client's badge
/// has; the check is kept so that a seat is stopped only on the supervisor's own record.
fn verified_faults(glue: &mut Glue, domains: &[Option<u16>], word: u64) -> u64 {
    let mut verified = 0;
    for (seat, domain) in domains.iter().enumerate().take(64) {
        if word & (1 << seat) == 0 {
            continue;
        }
        let running = match domain {
            Some(index) => matches!(
                glue.supervisor(&supervisor::Request::Status { first: *index }),
                Ok(supervisor::Response::Status { domains, .. }) if domains.first().is_some_and(|d| d.state == supervisor::State::Running)
            ),
            None => false,
        };
        if running {
            log!("slot-manager: a fault signal for seat {seat}, whose module runs: ignored");
        } else {
            verified |= 1 << seat;
        }
    }
    verified
}

/// Seats the image builder gives a slot: max_challengers + 1 (+ 1 noise-cancelled; at least
/// 3 in N-version slots), plus seat 0.
fn seat_count(slot: &tileos_sysdesc::Slot) -> u8 {
    let noise = u8::from(slot.comparator == tileos_slots::Comparator::NoiseCancelled);
    let mut beyond = slot.policy.max_challengers.saturating_add(1).saturating_add(noise);
    if slot.n_version.is_some() {
        beyond = beyond.max(3);
    }
    beyond.saturating_add(1).min(32)
}

/// The update log's store: the store endpoint and this domain's region `store-buffer.*`.
fn store_log(store: Option<tileos_sys::cap::Endpoint>, slot: &str) -> AnyLog {
    let info = tileos_sys::domain::info();
    let region = info.regions[..(info.region_count as usize).min(info.regions.len())]
        .iter()
        .map(|entry| String::from(core::str::from_utf8(&entry.name).unwrap_or("").trim_end_matches('\0')))
        .find(|name| name.starts_with("store-buffer."));
    match (store, region.and_then(|name| tileos_sys::domain::take_region(&name))) {
        (Some(endpoint), Some(buffer)) => AnyLog::Store(StoreLog {
            client: StoreClient::new(endpoint, buffer),
            prefix: format!("{LOG_PREFIX}{slot}/"),
            program_key: format!("{PROGRAM_PREFIX}{slot}"),
        }),
        (store, _) => {
            log!(
                "slot-manager: the update log lives in RAM only ({}): it is lost at restart",
                if store.is_none() { "no store endpoint" } else { "no store-buffer region" }
            );
            AnyLog::Memory(MemoryLog::default())
        }
    }
}

fn main(resources: Resources) -> ! {
    // Painted for its high-water mark: the start's (the trusted keys' parsing, the log's
    // reload) logged once started, the serving's at every status request
    // (`slot.manager-stack`).
    tileos_sys::stack::paint();
    let info = tileos_sys::domain::info();
    let name = tileos_sys::domain::name();
    let slot_name = String::from(name.strip_suffix(".manager").unwrap_or(name));
    let granted = domain::FIRST_GRANTED + info.cap_count;
    let mut glue = Glue {
        supervisor: Client::new(resources.supervisor),
        free: (granted..(1u64 << domain::CNODE_RADIX)).rev().collect(),
        unsaved: None,
        lines: PendingLines { queue: VecDeque::new(), pushed: 0 },
        kernel_ticks: 0,
        supervisor_ticks: 0,
    };
    if let Err(error) = tileos_sys::domain::own_tcb().invoke(TcbBindNotification { notification: CPtr(resources.seat_faults.cptr()) }) {
        log!("slot-manager: cannot bind \"seat-faults\" to the thread ({error:?}): seat faults go unseen");
    }
    let mut seat_domain_index = Vec::new();
    // The slot's step priority (`None` without a configuration: the manager's own).
    let mut step_priority = None;
    let config = match slot_config(&mut glue) {
        Ok(slot) => {
            step_priority = slot.step_priority;
            let seats = seat_count(&slot);
            seat_domain_index = seat_domains(&mut glue, &slot, seats);
            Config {
                seats,
                name: slot.name.clone(),
                incumbent: format!("{} (incumbent)", slot.protocol),
                policy: slot.policy,
                protocol: slot.protocol.clone(),
                comparator: slot.comparator,
                allowance: slot.allowance.clone(),
                // The slot's description names programs by archive index only.
                n_version: slot.n_version.map(|n| NVersionConfig {
                    replace_after: n.replace_after,
                    lineages: n.programs.map(|p| format!("archive program {p}")),
                    fallback: format!("archive program {}", n.fallback),
                }),
                queue_limit: QUEUE_LIMIT,
                max_bundle: MAX_BUNDLE,
                trusted: trusted_keys(),
                log_key: dev_keys::log_key(),
                generation: info.generation,
            }
        }
        Err(reason) => {
            log!(
                "slot-manager: slot {slot_name}: no slot configuration from the root server ({reason}): default policy, no allowance, 4 seats"
            );
            Config {
                seats: 4,
                name: slot_name.clone(),
                incumbent: String::from("incumbent"),
                policy: tileos_slots::SlotPolicy::default(),
                // No protocol known: no equivalence, and the exact comparator needs none.
                protocol: String::new(),
                comparator: tileos_slots::Comparator::Exact,
                allowance: Vec::new(),
                n_version: None,
                queue_limit: QUEUE_LIMIT,
                max_bundle: MAX_BUNDLE,
                trusted: trusted_keys(),
                log_key: dev_keys::log_key(),
                generation: info.generation,
            }
        }
    };
    let log_store = store_log(resources.store, &config.name);
    let clock = TscClock(TicksToMicros::new(info.tsc_per_ms));
    let mut manager = match Manager::new(config, glue, clock, log_store) {
        Ok(manager) => manager,
        Err(error) => {
            log!("slot-manager: slot {slot_name}: cannot start: {error}");
            tileos_sys::domain::stop();
        }
    };
    manager.host_mut().lines.write_all();
    log!("slot-manager: slot {slot_name}: serving, log of {} entries (generation {})", manager.log().size(), info.generation);
    // The start's depth, then painted again: the status lines give the serving's alone.
    let stack_at_start = tileos_sys::stack::high_water();
    log!("@event slot.manager-stack slot={slot_name} phase=start used={stack_at_start} size={}", tileos_sys::stack::size());
    tileos_sys::stack::paint();
    let front = resources.front.cptr();
    let mut alarm = resources.timer.map(|timer| Alarm { timer: Client::new(timer), armed: None, refused: false });
    // Each client's `control` parameter (badge, value), read once: the information page's
    // lookup by name costs more than the rest of a request's dispatch.
    let controls: Vec<(u64, u64)> =
        tileos_sys::domain::params("front").filter(|(_, param, _)| *param == "control").map(|(badge, _, value)| (badge, value)).collect();
    let mut cost = ServiceCost::default();
    let quiet_ticks = info.tsc_per_ms.saturating_mul(QUIET_MS);
    // When a client request was last answered (time-stamp counter).
    let mut last_answer = 0u64;
    // Each message's words, received in place.
    let mut words = [0u64; PAYLOAD_WORDS + 1];
    let (mut totals, mut evidence_at) = (ComparisonTotals::default(), EVIDENCE_EVERY);
    let telemetry = resources.telemetry.map(Client::new);
    // The priority the root server started this thread at (the information page's).
    let priority = info.priority;
    // A promotion's and a rollback's deferred steps run at the slot's step priority (its
    // `step_priority`, at most the manager's own: checked by the image builder), so that a
    // client above it but below the manager is not kept waiting for the steps back to back.
    let step_priority = step_priority.map_or(priority, |p| u64::from(p).min(priority));
    // The thread's priority now (`priority`, `step_priority` or `BACKGROUND_PRIORITY`).
    let mut current = priority;
    let mut install = InstallTiming::default();
    let mut rebuild = RebuildTiming::default();
    // The longest time between two client answers since the last install's line (its
    // upload included: `answer_gap_since_last=`, for `make bench`).
    let mut gap_since_install = 0u64;
    // Control requests since the last client answer, the first's and the last's arrival, and
    // where they fell in the longest gap so far: (count, its start to the first, the last to
    // its end).
    let (mut gap_controls, mut gap_first_control, mut gap_last_control) = (0u64, 0u64, 0u64);
    let mut gap_where = (0u64, 0u64, 0u64);
    let mut switch = SwitchTiming::default();
    let mut stall = StallTiming::new("promotion-stall");
    // The same for a rollback by hand (`slot.rollback-stall`): its request, its entry's
    // step, its rollback's step and the messages between them.
    let mut rollback_stall = StallTiming::new("rollback-stall");
    loop {
        // An install's step only when no client request is in flight (its answer is on the
        // way from the serving module, which outranks a step: waiting for it costs nothing)
        // and no message waits: so a client's call waits for at most the one step in
        // progress when it called.
        // (An install waiting for the verifier domain's verdict has no step: the manager
        // waits for messages then, and the verifier, below every client, runs.)
        if let Some(alarm) = alarm.as_mut() {
            alarm.update(&mut manager);
        }
        let received = if manager.adoption_under_way() && alarm.as_ref().is_none_or(|alarm| alarm.refused) {
            // A restarted manager's adoption (`Manager::adoption_under_way`): its deadline
            // must pass even when no message comes (a module that hangs in its export, one
            // client waiting behind the import). With the timer its deadline is among
            // `Manager::next_deadline`'s; without one (a tile with no timer domain, or a
            // timer that refused) the manager polls, and when nothing waits gives up the
            // processor at BACKGROUND_PRIORITY and reads its clock (`Manager::tick`). At
            // most `ADOPTION_DEADLINE`, on time nobody else wants.
            match manager.host_mut().poll(front) {
                Some(received) => {
                    change_priority(&mut current, priority);
                    received
                }
                None => {
                    change_priority(&mut current, BACKGROUND_PRIORITY);
                    tileos_sys::yield_now();
                    manager.tick();
                    continue;
                }
            }
        } else if (manager.install_steppable() || manager.rebuild_pending() || manager.deferred_ready() || manager.release_pending())
            && manager.outstanding() == 0
        {
            match manager.host_mut().poll(front) {
                Some(received) => {
                    change_priority(&mut current, priority);
                    received
                }
                None if manager.deferred_ready() => {
                    // The next deferred step (a promotion's entry, its transfer's start…),
                    // in a busy span of its own: no message waited. At the step priority: a
                    // thread above it that wakes meanwhile runs first, and a message that
                    // arrives is handled at the manager's own priority after this step.
                    change_priority(&mut current, step_priority);
                    let start = tileos_sys::timestamp();
                    let was_promoting = manager.promotion_under_way();
                    let was_rolling = manager.rollback_under_way();
                    let promoted = manager.slot().counters().promoted;
                    let pushed = manager.host_mut().lines.pushed;
                    if manager.deferred_step() {
                        let ticks = tileos_sys::timestamp().wrapping_sub(start);
                        let event = if manager.slot().counters().promoted != promoted { "promotion-handled" } else { "deferred" };
                        if manager.host_mut().lines.hashed_since(pushed) {
                            // The update log's hashing step (`slots28`: its longest at a
                            // large log is a figure of `slot_cycles`).
                            let (size, pending) = (manager.log().tree().size(), manager.unhashed_entries());
                            manager.host_mut().note(format_args!(
                                "@event slot.{event} slot={slot_name} ticks={ticks} hashing=1 size={size} pending={pending}"
                            ));
                        } else {
                            manager.host_mut().note(format_args!("@event slot.{event} slot={slot_name} ticks={ticks}"));
                        }
                    }
                    let promoting = manager.promotion_under_way();
                    stall.span(&mut manager, &slot_name, start, was_promoting, promoting);
                    let rolling = manager.rollback_under_way();
                    rollback_stall.span(&mut manager, &slot_name, start, was_rolling, rolling);
                    continue;
                }
                None => {
                    change_priority(&mut current, BACKGROUND_PRIORITY);
                    if manager.release_pending() {
                        // Journal entries no longer needed, a bounded step of their
                        // release (`Manager::release_step`, since `slots45`): freed in the
                        // span of the import's state, 54 of them were ≈ 24,000 of its
                        // 27,630 on a booted tile.
                        manager.release_step();
                        continue;
                    }
                    // A challenger's rebuild first (an install's staging waits for it; it
                    // waits for an install whose staging is under way: then it does nothing).
                    let root_before = manager.host_mut().supervisor_ticks;
                    let _ = manager.take_start_ticks();
                    let start = tileos_sys::timestamp();
                    if manager.rebuild_pending() && manager.rebuild_step() {
                        let end = tileos_sys::timestamp();
                        let root = manager.host_mut().supervisor_ticks.wrapping_sub(root_before);
                        let root_own = manager.take_start_ticks().unwrap_or(0);
                        rebuild.step(&mut manager, &slot_name, start, end, root, root_own);
                        if manager.raise_due() {
                            raise_started(&mut manager, &slot_name, &mut current, priority);
                        }
                        continue;
                    }
                    let phase = manager.install_phase().unwrap_or("none");
                    if phase == "ready" {
                        // The kept READY's step (its import's EXPORT to the serving module
                        // and the commit's answer) at the manager's own priority: at
                        // BACKGROUND_PRIORITY the domains its sends wake ran inside it
                        // (≈ 110,000 of ≈ 114,000, `slots37`); now they run once the manager
                        // waits, which a message then preempts.
                        change_priority(&mut current, priority);
                    }
                    let root_before = manager.host_mut().supervisor_ticks;
                    let store_before = STORE_TICKS.load(core::sync::atomic::Ordering::Relaxed);
                    let sends_before = manager.host_mut().kernel_ticks;
                    let start = tileos_sys::timestamp();
                    manager.install_step();
                    let now = tileos_sys::timestamp();
                    let root = manager.host_mut().supervisor_ticks.wrapping_sub(root_before);
                    let sends = manager.host_mut().kernel_ticks.wrapping_sub(sends_before);
                    let store = STORE_TICKS.load(core::sync::atomic::Ordering::Relaxed).wrapping_sub(store_before);
                    let phase = match (phase, manager.install_phase()) {
                        ("verify", Some(after)) if after != "verify" => "verified",
                        ("build", Some("entry")) => "start",
                        _ => phase,
                    };
                    if let Some(own) = manager.take_start_ticks() {
                        install.start_root_own = own;
                    }
                    install.add_step(now.wrapping_sub(start), phase, root, store, sends);
                    install.steps += 1;
                    if manager.raise_due() {
                        let (ticks, root) = raise_started(&mut manager, &slot_name, &mut current, priority);
                        install.add_step(ticks, "raise", root, 0, 0);
                        install.steps += 1;
                    }
                    if !manager.install_pending() {
                        change_priority(&mut current, priority);
                        install.finish(&mut manager, &slot_name, now, &mut gap_since_install, &mut gap_where);
                        // Its lines go out as usual (one per client request, or all when
                        // the slot is idle): written now, they would lengthen a client's call.
                    }
                    continue;
                }
            }
        } else {
            change_priority(&mut current, priority);
            manager.host_mut().receive(front)
        };
        let start = tileos_sys::timestamp();
        let label = received.info.label();
        if label == 0 && received.info.length() == 0 && received.badge & (SEAT_BADGE | SEAT_FAULTS_SIGNAL) == 0 {
            // A client's empty call (no client's badge has the signal's bit): no request of
            // any protocol here.
            send(Syscall::Reply, 0, &Message { label: ERROR, words: alloc::vec![ProtocolError::UnknownLabel as u64] });
            continue;
        }
        if label == 0 && received.info.length() == 0 && received.badge & SEAT_BADGE == 0 {
            // The bound notification's word, with `SEAT_FAULTS_SIGNAL` set.
            let bits = verified_faults(
                manager.host_mut(),
                &seat_domain_index,
                received.badge & !(IMMUNE_DOORBELL | SEAT_FAULTS_SIGNAL | TIMER_SIGNAL),
            );
            if bits != 0 {
                let was_pending = manager.install_pending();
                let phase_before = manager.install_phase();
                manager.faulted(bits);
                if was_pending && !manager.install_pending() {
                    // The installed module's fault before its entry's step (the entry was
                    // made first, `Manager::install_started`) or while it started up after
                    // it: the commit was answered in this span.
                    let now = tileos_sys::timestamp();
                    install.add_step(
                        now.wrapping_sub(start),
                        if phase_before == Some("up") { "up-in-call" } else { "entry-in-call" },
                        0,
                        0,
                        0,
                    );
                    install.finish(&mut manager, &slot_name, now, &mut gap_since_install, &mut gap_where);
                }
            }
            if received.badge & TIMER_SIGNAL != 0
                && let Some(alarm) = alarm.as_mut()
            {
                // The timer's signal at the armed deadline: the clock is read now.
                alarm.fired();
                manager.tick();
            }
            let immune = received.badge & IMMUNE_DOORBELL != 0;
            if immune {
                immune_rollback(&mut manager, &slot_name, start);
            }
            // Not while the immune system's rollback is under way (its steps follow; a line
            // here would lengthen the span, as for a rollback by hand).
            if !(immune && manager.rollback_under_way()) {
                manager.host_mut().lines.write_all();
            }
            if immune {
                // The whole busy span of the immune system's signal (for `slots21`'s timing
                // of its rollback, carried out at once): from the signal's arrival to the
                // next wait, its log lines included.
                let ticks = tileos_sys::timestamp().wrapping_sub(start);
                manager.host_mut().note(format_args!("@event slot.immune-span slot={slot_name} ticks={ticks}"));
            }
            continue;
        }
        let length = words_of(&received, &mut words);
        let Some(reply) = manager.host_mut().save_caller() else {
            log!("slot-manager: no free slot to save a caller: answered Failed");
            send(Syscall::Reply, 0, &Message::error(ProtocolError::Failed));
            continue;
        };
        // A seat's message: first the narrow path of a shadowing challenger's answer
        // (`Manager::copy_answer`), which changes nothing but the evidence's counters, so
        // none of the bookkeeping below applies to it but its cost, the deferred work and
        // the held lines of an idle slot. Anything else comes back for the general path.
        let reply = if received.badge & SEAT_BADGE != 0 {
            let logic_start = tileos_sys::timestamp();
            match manager.copy_answer(received.badge, label, &words[..length], reply) {
                Ok(()) => {
                    let now = tileos_sys::timestamp();
                    // No system call on it: all of it is the manager's logic.
                    let logic = now.wrapping_sub(logic_start);
                    cost.narrow(logic);
                    cost.add(now.wrapping_sub(start), 0, logic, manager.stats().answered, &slot_name, manager.host_mut());
                    run_deferred(&mut manager, &mut current, step_priority, &slot_name, now);
                    // No promotion is under way (the narrow path is not taken then, and
                    // starts none): the lines are held unless the slot is idle, as below.
                    if manager.outstanding() == 0 && now.wrapping_sub(last_answer) > quiet_ticks {
                        manager.host_mut().lines.write_all();
                    }
                    continue;
                }
                Err(reply) => reply,
            }
        } else {
            reply
        };
        // The general path's bookkeeping (a refusal by the narrow path changed nothing).
        let was_switching = manager.switching();
        let was_promoting = manager.promotion_under_way();
        let was_rolling = manager.rollback_under_way();
        let kernel_before = manager.host_mut().kernel_ticks;
        let access = if received.badge & SEAT_BADGE != 0 {
            Access::Service
        } else {
            Access::from_param(controls.iter().find(|(badge, _)| *badge == received.badge).map(|(_, value)| *value))
        };
        // Timed for `make bench`: an install's commit (verify, stage, build, start: a job of
        // steps), and a rollback's and a promotion's request by hand (`slot.control-span`:
        // their window for the bench's probe).
        let (commit, by_hand) = if access == Access::Full {
            match tileos_sys::rpc::decode_request::<SlotControl>(&received) {
                Ok(slots::Request::InstallCommit) => (true, false),
                Ok(slots::Request::Rollback | slots::Request::Promote { .. }) => (false, true),
                _ => (false, false),
            }
        } else {
            (false, false)
        };
        // A read of the update log (`slot.log-read`, since `slots28`): its head (signed) or a
        // proof, with the hashing of any entry still pending before it.
        // A status request (`slot.manager-stack`, since session 29): the stack's high-water
        // mark after it.
        let mut status = false;
        let log_read = if access == Access::Service {
            None
        } else {
            match tileos_sys::rpc::decode_request::<SlotControl>(&received) {
                Ok(slots::Request::Status) => {
                    status = true;
                    None
                }
                Ok(slots::Request::LogHead) => Some("head"),
                Ok(slots::Request::LogInclusion { .. }) => Some("inclusion"),
                Ok(slots::Request::LogConsistency { .. }) => Some("consistency"),
                _ => None,
            }
        };
        let answered = manager.stats().answered;
        let promoted = manager.slot().counters().promoted;
        let was_pending = manager.install_pending();
        let phase_before = manager.install_phase();
        let logic_start = tileos_sys::timestamp();
        manager.received(received.badge, access, label, &words[..length], reply);
        let now = tileos_sys::timestamp();
        let spent = now.wrapping_sub(start);
        let in_manager = now.wrapping_sub(logic_start);
        if let Some(kind) = log_read {
            let size = manager.log().size();
            manager.host_mut().note(format_args!("@event slot.log-read slot={slot_name} kind={kind} size={size} ticks={in_manager}"));
        }
        if status {
            let (used, size) = (tileos_sys::stack::high_water(), tileos_sys::stack::size());
            manager.host_mut().note(format_args!(
                "@event slot.manager-stack slot={slot_name} phase=serving used={used} size={size} start={stack_at_start}"
            ));
        }
        if access != Access::Service {
            gap_controls += 1;
            gap_last_control = start;
            if gap_controls == 1 {
                gap_first_control = start;
            }
        }
        if manager.stats().answered != answered {
            if last_answer != 0 && now.wrapping_sub(last_answer) > gap_since_install {
                gap_since_install = now.wrapping_sub(last_answer);
                // Where the longest gap's control requests fell in it (for tracing it).
                gap_where = if gap_controls == 0 {
                    (0, 0, 0)
                } else {
                    (gap_controls, gap_first_control.wrapping_sub(last_answer), now.wrapping_sub(gap_last_control))
                };
            }
            gap_controls = 0;
            last_answer = now;
            if was_pending && manager.install_pending() {
                install.answered += manager.stats().answered - answered;
                install.answer_at(now);
            }
        }
        if was_pending && !manager.install_pending() {
            // A call from the installed module's seat before its entry's step (not its
            // READY, which waits for that step): the entry was made first, in this span; or
            // the first call (its READY) of a module still starting up after its entry: the
            // commit was answered in this span.
            install.add_step(spent, if phase_before == Some("up") { "up-in-call" } else { "entry-in-call" }, 0, 0, 0);
            install.finish(&mut manager, &slot_name, now, &mut gap_since_install, &mut gap_where);
        }
        if commit && was_pending {
            // Refused Busy: the job under way keeps its timing.
        } else if commit && manager.install_pending() {
            // The job's steps follow (the line comes at its end).
            install = InstallTiming { since: start, last_answer: start, ..InstallTiming::default() };
            install.add(spent, "commit");
        } else if commit {
            manager
                .host_mut()
                .note(format_args!("@event slot.install-commit slot={slot_name} ticks={spent} work={spent} steps=0 longest_step={spent} answered=0 longest_answer_gap={spent}"));
        }
        // The manager's own stall at a promotion (for `make bench`): its handling of the
        // message that switched (by hand or by the policy: the promoted module's IMPORTED
        // after its transfer before the switch; else a deferred step, timed below).
        if manager.slot().counters().promoted != promoted {
            manager.host_mut().note(format_args!("@event slot.promotion-handled slot={slot_name} ticks={spent}"));
        }
        if access == Access::Service {
            let kernel = manager.host_mut().kernel_ticks.wrapping_sub(kernel_before);
            cost.add(spent, kernel, in_manager.saturating_sub(kernel), manager.stats().answered, &slot_name, manager.host_mut());
            if manager.stats().answered >= evidence_at {
                evidence_at = manager.stats().answered.saturating_add(EVIDENCE_EVERY);
                report_evidence(&mut manager, &mut totals);
                report_latencies(telemetry.as_ref());
            }
        }
        run_deferred(&mut manager, &mut current, step_priority, &slot_name, now);
        // The lines noted meanwhile (PendingLines says when they are written).
        // While a promotion is under way (due, its transfer before the switch, its switch
        // until the promoted module's first answer) no line is written on the serving path:
        // a client's request then waits for at most the manager's step in progress and its
        // own service, not also for a line (≈ 20,000 instructions); the lines follow, one
        // per client request, once the promotion is over (a control request writes them
        // all, but not while a promotion is under way: a promotion by hand's own request).
        // The same while a rollback by hand is under way (since `slots20`: its entry and its
        // rollback are steps, and a line in a span with one would lengthen it).
        let promoting = manager.promotion_under_way() || manager.rollback_under_way();
        let idle = manager.outstanding() == 0 && now.wrapping_sub(last_answer) > quiet_ticks;
        let lines = &mut manager.host_mut().lines;
        let (lines_before, lines_start) = (lines.queue.len(), tileos_sys::timestamp());
        // A rollback or a promotion by hand writes none in its own span either (since
        // `slots16`: a rollback's lines made its span ≈ 19,000 longer): they go out as any held
        // line, one per client request or all when the slot is idle.
        if (access != Access::Service && !promoting && !by_hand) || (received.badge & SEAT_BADGE != 0 && idle && !promoting) {
            lines.write_all();
        } else if received.badge & SEAT_BADGE == 0 && !promoting {
            lines.write_one();
        }
        let written = lines_before.saturating_sub(lines.queue.len());
        let line_ticks = if written == 0 { 0 } else { tileos_sys::timestamp().wrapping_sub(lines_start) };
        let switching = manager.switching();
        if was_switching || switching {
            if !was_switching {
                switch = SwitchTiming { since: lines_start, ..SwitchTiming::default() };
            } else if received.badge & SEAT_BADGE != 0 {
                switch.seat_messages += 1;
                switch.seat_ticks += spent;
            } else {
                switch.other_messages += 1;
                switch.other_ticks += spent;
            }
            switch.lines += written as u64;
            switch.line_ticks += line_ticks;
            if !switching {
                let end = tileos_sys::timestamp();
                manager.host_mut().note(format_args!(
                    "@event slot.switch-glue slot={slot_name} ticks={} seat_messages={} seat_ticks={} other_messages={} other_ticks={} lines={} line_ticks={}",
                    end.wrapping_sub(switch.since),
                    switch.seat_messages,
                    switch.seat_ticks,
                    switch.other_messages,
                    switch.other_ticks,
                    switch.lines,
                    switch.line_ticks
                ));
            }
        }
        // The longest time the manager is busy without waiting for a message while a
        // promotion is under way (its message's handling, the deferred work and the lines
        // written): a client request that arrives as such a span starts waits for all of
        // it, then for its own service (for `make bench`, `slot.promotion-stall`).
        let promoting = manager.promotion_under_way();
        stall.span(&mut manager, &slot_name, start, was_promoting, promoting);
        let rolling = manager.rollback_under_way();
        rollback_stall.span(&mut manager, &slot_name, start, was_rolling, rolling);
        if by_hand {
            let end = tileos_sys::timestamp();
            manager.host_mut().note(format_args!(
                "@event slot.control-span slot={slot_name} label={label} ticks={} from={start} to={end}",
                end.wrapping_sub(start)
            ));
        }
    }
}

/// The work kept off the clients' path (update-log entries, a promotion by the policy with its
/// entry persisted first, lowering a schedule), done after a message (handled until `now`)
/// if no client waits and no switch is under way; timed for `make bench`.
fn run_deferred(manager: &mut Manager<Glue, TscClock, AnyLog>, current: &mut u64, step_priority: u64, slot: &str, now: u64) {
    let promoted = manager.slot().counters().promoted;
    if manager.deferred_ready() {
        // A promotion's or a rollback's step: at the step priority, as in the loop's poll (no
        // client request is in flight: `deferred_ready` says so).
        change_priority(current, step_priority);
    }
    if manager.deferred() {
        let ticks = tileos_sys::timestamp().wrapping_sub(now);
        let event = if manager.slot().counters().promoted != promoted { "promotion-handled" } else { "deferred" };
        manager.host_mut().note(format_args!("@event slot.{event} slot={slot} ticks={ticks}"));
    }
}

/// The glue's view of the manager's busy spans while a promotion (or a rollback by hand) is
/// under way (for `make bench`): the messages handled, the longest span from a message's
/// arrival to the next wait (its handling, the deferred work, the lines written) and which
/// message it was.
struct StallTiming {
    /// The line's event (`promotion-stall`, `rollback-stall`).
    event: &'static str,
    messages: u64,
    longest: u64,
    longest_at: u64,
    /// When the promotion was first seen under way (time-stamp counter), for the bench to
    /// find the client calls around it.
    since: u64,
}

impl StallTiming {
    /// No span counted yet; its line will be `slot.EVENT`.
    fn new(event: &'static str) -> StallTiming {
        StallTiming { event, messages: 0, longest: 0, longest_at: 0, since: 0 }
    }

    /// Counts the busy span that began at `start` (a message's handling, or a deferred
    /// step) if the promotion (or rollback) was under way before or after it; logs the
    /// figures once it is over (`slot.promotion-stall` or `slot.rollback-stall`, with
    /// `from=` and `to=`, the time-stamp counter when it was first seen under way and when
    /// it ended).
    fn span(&mut self, manager: &mut Manager<Glue, TscClock, AnyLog>, slot: &str, start: u64, was: bool, now: bool) {
        if !was && !now {
            return;
        }
        let end = tileos_sys::timestamp();
        if self.messages == 0 {
            self.since = start;
        }
        let busy = end.wrapping_sub(start);
        self.messages += 1;
        if busy > self.longest {
            self.longest = busy;
            self.longest_at = self.messages;
        }
        if !now {
            manager.host_mut().note(format_args!(
                "@event slot.{} slot={slot} messages={} longest_busy={} longest_at={} from={} to={end}",
                self.event, self.messages, self.longest, self.longest_at, self.since
            ));
            *self = StallTiming::new(self.event);
        }
    }
}

/// The glue's view of a promotion's switch (from the end of the manager's handling of the
/// promotion to the promoted module's first delivered answer), for `make bench`: the
/// messages it handled meanwhile (the modules' and the clients') and their ticks, and the
/// log lines it wrote meanwhile and their ticks (`slot.switch-glue`).
#[derive(Default)]
struct SwitchTiming {
    /// When the promotion's handling ended (time-stamp counter: before the lines written
    /// after it, which count in `lines`).
    since: u64,
    seat_messages: u64,
    seat_ticks: u64,
    other_messages: u64,
    other_ticks: u64,
    lines: u64,
    line_ticks: u64,
}

/// Answered client requests between two checks of the slot's comparison totals.
const EVIDENCE_EVERY: u64 = 100;

/// Takes the rollback the immune system asks of this slot. Refused at once (nothing to roll
/// back, or a rollback under way): this line says so. Else taken: its entry and its
/// rollback are the manager's next deferred steps (since `slots21`), and the manager notes
/// `slot.immune-rollback … outcome=…` when it is done; this line is then
/// `slot.immune-taken`. `rollback_ticks=` is the manager's part, `span_ticks=` from `start`
/// (the signal's arrival) to its end, before the line is written.
fn immune_rollback(manager: &mut Manager<Glue, TscClock, AnyLog>, slot: &str, start: u64) {
    let alarm = match manager.host_mut().supervisor(&supervisor::Request::PendingRollback) {
        Ok(supervisor::Response::PendingRollback { alarm: Some(alarm) }) => alarm,
        Ok(supervisor::Response::PendingRollback { alarm: None }) => {
            log!("slot-manager: slot {slot}: the immune doorbell rang, but no rollback is pending (a client's empty call?): ignored");
            return;
        }
        other => {
            log!("slot-manager: slot {slot}: the immune system's pending rollback could not be read: {other:?}");
            return;
        }
    };
    let (domain, finding) = alarm;
    let why = format!(
        "{:?} drift of domain {domain}: observed {:.1} against baseline {:.1}",
        finding.metric,
        finding.observed_milli as f64 / 1000.0,
        finding.baseline_milli as f64 / 1000.0
    );
    let alarm = format!("domain={domain} metric={:?}", finding.metric);
    let rollback_start = tileos_sys::timestamp();
    let response = manager.immune_rollback(&why, &alarm);
    let end = tileos_sys::timestamp();
    let (rollback_ticks, span_ticks) = (end.wrapping_sub(rollback_start), end.wrapping_sub(start));
    match response {
        // Taken: its line is queued (written once the rollback is done), not written here.
        None => manager
            .host_mut()
            .note(format_args!("@event slot.immune-taken slot={slot} {alarm} rollback_ticks={rollback_ticks} span_ticks={span_ticks}")),
        Some(other) => {
            let outcome = format!("refused ({other:?})").replace(' ', "_");
            log!(
                "@event slot.immune-rollback slot={slot} {alarm} outcome={outcome} rollback_ticks={rollback_ticks} span_ticks={span_ticks}"
            );
        }
    }
}

/// Reports the manager's own call latencies (to the supervisor and the store) to the
/// telemetry domain, every [`EVIDENCE_EVERY`] answered client requests.
fn report_latencies(telemetry: Option<&Client<tileos_protocol::telemetry::Telemetry>>) {
    if let Some(telemetry) = telemetry
        && let Err(error) = tileos_sys::telemetry::report(telemetry)
    {
        log!("slot-manager: telemetry report not taken: {error:?}");
    }
}

/// Reports the slot's comparison totals to the supervisor when they changed.
fn report_evidence(manager: &mut Manager<Glue, TscClock, AnyLog>, totals: &mut ComparisonTotals) {
    let modules = manager.slot().modules().map(|view| ModuleComparisons {
        module: view.id,
        compared: view.evidence.compared(),
        disagreeing: view.evidence.disagreeing.saturating_add(view.evidence.timeouts),
    });
    if totals.update(modules) {
        let request = supervisor::Request::SlotEvidence { compared: totals.compared, disagreeing: totals.disagreeing };
        if let Err(error) = manager.host_mut().supervisor(&request) {
            log!("slot-manager: the slot's evidence was not taken by the supervisor: {error:?}");
        }
    }
}

/// Client requests per `slot.cost` line.
const COST_WINDOW: u64 = 1000;

/// The manager's own work for the service (client requests and the seats' calls: queueing,
/// dispatch, mirroring, comparison, the replies it sends), measured from each receive's
/// return to the end of its handling; logged per answered client request every
/// [`COST_WINDOW`] requests (`make bench` reads it: the mirroring overhead without the
/// modules' own work or the kernel's receive path), with the part of it spent in the
/// serving path's system calls (`NbSend`, `NbSendAll` or `Reply` of each answer and piece of work, and a
/// released caller's `CNodeSaveCaller`: `kernel_ticks_per_request`, their time-stamp reads
/// included) and the part in the manager's logic (`Manager::received` without those system
/// calls: `logic_ticks_per_request`); the rest is this glue's own handling of the message.
/// Of the logic, the part spent on the narrow path's copy answers (`Manager::copy_answer`:
/// `narrow_logic_ticks_per_request`, over `narrow_answers` answers in the window), so the
/// per-challenger logic splits into the copies' answers and the request's side.
/// The receive (`SaveRecv`, which also saves the last caller's reply capability) is outside
/// the measure.
#[derive(Default)]
struct ServiceCost {
    /// Ticks spent since the last line.
    ticks: u64,
    /// Of those, ticks in the serving path's system calls.
    kernel: u64,
    /// Of those, ticks in the manager's logic (its system calls not included).
    logic: u64,
    /// Of the logic, ticks on the narrow path of copies' answers.
    narrow: u64,
    /// Copies' answers the narrow path took.
    narrow_answers: u64,
    /// Requests answered at the last line.
    answered_then: u64,
}

impl ServiceCost {
    /// Counts `logic` ticks of one copy's answer on the narrow path (before its [`ServiceCost::add`]).
    fn narrow(&mut self, logic: u64) {
        self.narrow = self.narrow.saturating_add(logic);
        self.narrow_answers += 1;
    }

    /// Counts `spent` ticks, `kernel` of them in system calls and `logic` in the manager's
    /// logic; notes a line once [`COST_WINDOW`] more requests were answered.
    fn add(&mut self, spent: u64, kernel: u64, logic: u64, answered: u64, slot: &str, glue: &mut Glue) {
        self.ticks = self.ticks.saturating_add(spent);
        self.kernel = self.kernel.saturating_add(kernel);
        self.logic = self.logic.saturating_add(logic);
        let requests = answered.saturating_sub(self.answered_then);
        if requests >= COST_WINDOW {
            glue.note(format_args!(
                "@event slot.cost slot={slot} requests={requests} ticks_per_request={} kernel_ticks_per_request={} logic_ticks_per_request={} narrow_logic_ticks_per_request={} narrow_answers={}",
                self.ticks / requests,
                self.kernel / requests,
                self.logic / requests,
                self.narrow / requests,
                self.narrow_answers
            ));
            *self = ServiceCost { answered_then: answered, ..ServiceCost::default() };
        }
    }
}
