//! The manager: the client queue, dispatch to seats, installs, promotion and rollback,
//! N-version voting, the slot control protocol and the update log.
//!
//! This module holds the [`Manager`] struct, its configuration, its construction (the
//! update log reloaded, the noise replica started), its accessors and the message
//! dispatch ([`Manager::received`]: a module's call, a client's request or a control
//! request; docs/slots.md, "Running slots", "The loop"). Each concern is a file of its own
//! with its own `impl Manager` block and the private types only it uses; first the stages
//! of a module's lifecycle (docs/slots.md, "Lifecycle"), then what every stage uses:
//!
//! - `adoption`: the serving seat the root server keeps, and a restarted manager's
//!   adoption of the state of the module that served last ("A restarted manager takes the
//!   state of the module that served last");
//! - `install`: installs, their steps and the verifier domain ("Installs.");
//! - `clients`: client requests, their queue and the mirrored copies ("The queue",
//!   "Paced mirroring", "A copy's answer: the narrow path");
//! - `module_calls`: a module's calls (`READY`, answers, `STATE`, `IMPORTED`) and the
//!   delivery of answers;
//! - `nversion`: N-version ballots and lineage replacement ("N-version");
//! - `promotion`: promotions by the policy and by hand, and the transfer before the switch
//!   ("Promotion", "A promotion transfers before its switch");
//! - `transitions`: the slot's decisions carried out (transitions, parked modules and
//!   hand-offs);
//! - `journal`: the warm module's journal, its replay and catch-up ("The warm module's
//!   journal");
//! - `rollback`: rollbacks by hand and the immune system's ("A rollback by hand");
//! - `restarts`: faults, restarts and challengers' rebuilds ("Faults.", "A challenger's
//!   rebuild after a fault");
//! - `seats`: the seats, their jobs, starting modules in them and their schedules;
//! - `transfer`: state transfers between seats ("State moves by transfer.");
//! - `update_log`: the update log's entries and their persistence ("The update log");
//! - `control`: the slot control protocol and the status;
//! - `deferred`: the clock, hang checks and the work kept off the clients' path
//!   ("Deferred work").

mod adoption;
mod clients;
mod control;
mod deferred;
mod install;
mod journal;
mod module_calls;
mod nversion;
mod promotion;
mod restarts;
mod rollback;
mod saved_program;
mod seats;
mod transfer;
mod transitions;
mod update_log;

pub use self::adoption::ADOPTION_DEADLINE;
use self::adoption::Adoption;
pub use self::deferred::{DEFERRED_BOUND, READY_DEADLINE};
pub use self::install::{INSTALL_CHUNKS_PER_STEP, INSTALL_HASH_STEP, VERIFIER_DEADLINE};
use self::install::{InstallJob, Staging};
pub use self::journal::RELEASE_PER_STEP;
use self::nversion::Lineages;
use self::promotion::{HandPromotion, PreTransfer, Switch};
pub use self::restarts::REBUILD_CHUNKS_PER_STEP;
use self::restarts::Rebuild;
use self::rollback::HandRollback;
pub use self::saved_program::PROGRAM_SAVE_STEP;
use self::saved_program::ProgramSave;
use self::seats::{Flights, Program, Role, Seat};
pub use self::update_log::{HASH_UNITS_PER_STEP, LOG_RETRY_INTERVAL, MAX_UNLOGGED, PersistedLog};
use crate::{Access, Clock, LogStore, Message, ProtocolEquivalence, ReplyCap, Seats};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use tileos_module_bundle::Hash;
use tileos_protocol::module::SEAT_BADGE;
use tileos_protocol::slots::{self, RefusalKind, Refused};
use tileos_protocol::supervisor::{SeatProgram, SeatSchedule};
use tileos_protocol::{ProtocolError, decode};
use tileos_slots::{Comparator, ModuleId, NVersion, ORIGINAL_INCUMBENT, Slot, SlotPolicy, State, Ticks};
use tileos_update_log::{EventKind, SigningKey, UpdateEvent, UpdateLog};

/// Bytes of the longest message as compared ([`message_bytes_into`]).
///
/// [`message_bytes_into`]: crate::message_bytes_into
const ANSWER_BYTES: usize = 8 * (1 + crate::MAX_WORDS);

/// Client requests' messages kept for reuse at most ([`Manager::kept_message`]): more than
/// are usually held at once (a request in flight, its copies not yet answered), few enough
/// that finding a free one is a short scan.
const KEPT_MESSAGES: usize = 8;

/// N-version mode of a slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NVersionConfig {
    /// Dissents a lineage may accumulate; the next one replaces it by the fallback.
    pub replace_after: u32,
    /// The three lineages' program names (for the update log's `LineageReplaced` entry).
    pub lineages: [String; 3],
    /// The fallback's program name.
    pub fallback: String,
}

/// What the manager knows of its slot (the system description's `[[slot]]`, expanded).
pub struct Config {
    /// The slot's name.
    pub name: String,
    /// The incumbent's program name (module 0's name in the status).
    pub incumbent: String,
    /// The promotion policy.
    pub policy: SlotPolicy,
    /// The slot's protocol (the description's `slot.protocol`): its equivalence of answers
    /// ([`tileos_protocol::equivalence::equivalence`]) is what `Equivalent` compares with.
    pub protocol: String,
    /// How answers are compared: a challenger's with the serving module's, the promoted
    /// module's with the warm one's, and the lineages' in an N-version vote
    /// (`NoiseCancelled` compares exactly; `Equivalent` with the protocol's equivalence,
    /// refused for a protocol that provides none).
    pub comparator: Comparator,
    /// Names of the objects a challenger may hold (as a client).
    pub allowance: Vec<String>,
    /// The slot's seats (seat 0: the incumbent).
    pub seats: u8,
    /// N-version mode: seats 0..3 are the lineages, seat 3 the fallback's spare.
    pub n_version: Option<NVersionConfig>,
    /// Client requests outstanding at most; more are refused at once.
    pub queue_limit: usize,
    /// Largest bundle staged, in bytes (the manager's heap holds it).
    pub max_bundle: u32,
    /// The key ids of the bundle key pairs the tile trusts (`TrustedKeys::key_id`): a
    /// bundle's signer is checked here, its signatures by the verifier domain, which holds
    /// the keys.
    pub trusted: Vec<Hash>,
    /// The tile's update-log key.
    pub log_key: SigningKey,
    /// The manager domain's generation (0 at boot; each restart by the root server adds
    /// one). From 1 on, the manager appends a `ManagerStarted` entry when it starts.
    pub generation: u64,
}

/// Why the manager could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartError {
    /// The policy is unusable (`tileos_slots::PolicyError`, in words).
    Policy(String),
    /// The slot has no seat, or an N-version slot fewer than three.
    Seats(u8),
    /// The persisted update log could not be read or does not rebuild.
    Log(String),
    /// The comparator is `Equivalent` but the slot's protocol (named) provides no
    /// equivalence of answers.
    NoEquivalence(String),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::Policy(reason) => write!(f, "policy: {reason}"),
            StartError::Seats(seats) => write!(f, "{seats} seats are too few for this slot"),
            StartError::Log(reason) => write!(f, "update log: {reason}"),
            StartError::NoEquivalence(protocol) => write!(
                f,
                "comparator \"equivalent\": protocol \"{protocol}\" provides no equivalence: use \"exact\" or \"noise-cancelled\""
            ),
        }
    }
}

/// Counts of what the manager refused or dropped (for tests and the status line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ManagerStats {
    /// Client requests answered (by a module, a handover or an error).
    pub answered: u64,
    /// Requests refused because the client had one outstanding already.
    pub busy: u64,
    /// Requests refused because the queue was full.
    pub full: u64,
    /// Requests answered with `Failed` because the serving module faulted on them.
    pub failed: u64,
    /// Module calls that broke the seat protocol (an answer with no outstanding work, a
    /// wrong label, a call from a seat with no module).
    pub violations: u64,
    /// Log entries the manager writes by itself that could not be persisted: a promotion by
    /// the policy (not carried out then), or a kept entry (a circuit breaker's rollback, a
    /// lineage's replacement, a restart, a withdrawal) dropped because [`MAX_UNLOGGED`]
    /// entries already waited for the store.
    pub log_failures: u64,
    /// Writes of kept entries the store refused (each try of each entry; they stay kept).
    pub log_retries_failed: u64,
    /// N-version requests with no majority.
    pub no_majority: u64,
    /// Copies skipped by paced mirroring (a seat that fell `queue_limit` copies behind gets
    /// none until it has caught up: docs/slots.md, "Paced mirroring"); the slot counts them
    /// as not compared, or as timeouts when the seat's oldest copy is past its deadline.
    pub skipped: u64,
    /// Times a seat that had fallen behind caught up and imported the serving module's
    /// state again, to be mirrored from there on.
    pub resyncs: u64,
    /// Times the warm module's journal would have overflowed and the warm module was
    /// brought up to date by an import instead (docs/slots.md, "The warm module's journal").
    pub journal_imports: u64,
    /// Journal requests a restored module replayed before serving (their answers are not
    /// delivered: their clients were answered).
    pub replayed: u64,
    /// Replayed requests whose answer was compared with the digest of the answer their
    /// client got (a request journaled after its client was answered has none).
    pub replay_compared: u64,
    /// Replayed requests whose answer differed from the answer their client got
    /// (`@event slot.replay-disagreed`): the restored module disagrees with what was
    /// delivered.
    pub replay_disagreed: u64,
}

/// Name, version and content hash of a module (for the status and the log).
#[derive(Clone, Debug, PartialEq, Eq)]
struct ModuleInfo {
    name: String,
    version: String,
    hash: [u8; 32],
}

impl ModuleInfo {
    /// The module an update-log entry names.
    fn of(event: &UpdateEvent) -> ModuleInfo {
        ModuleInfo { name: event.module.clone(), version: event.version.clone(), hash: event.content_hash }
    }

    /// The description's incumbent `name` (no bundle: no version, no content hash).
    fn incumbent(name: &str) -> ModuleInfo {
        ModuleInfo { name: String::from(name), version: String::new(), hash: [0; 32] }
    }

    /// Whether it is the description's incumbent (no bundle: no version, no content hash).
    fn is_incumbent(&self) -> bool {
        self.version.is_empty() && self.hash == [0; 32]
    }
}

/// The promoted modules the update log says serve, read entry by entry at the manager's
/// start: each `Promote` pushes its module (a withdrawn rollback's too), a `Rollback` of
/// the module on top pops it (a breaker's, by hand, a withdrawn promotion, a kept module
/// lost), a `ManagerStarted` leaves only the module it names (none if the incumbent). The
/// top is the bundle a settled seat kept by a restarted manager runs
/// ([`Manager::keep_settled_module`]).
#[derive(Default)]
struct PromotedModules(Vec<ModuleInfo>);

impl PromotedModules {
    /// Follows one entry.
    fn follow(&mut self, event: &UpdateEvent) {
        let module = ModuleInfo::of(event);
        match event.kind {
            EventKind::Promote => self.0.push(module),
            EventKind::Rollback if self.0.last() == Some(&module) => {
                self.0.pop();
            }
            EventKind::ManagerStarted { .. } => {
                self.0.clear();
                if !module.is_incumbent() {
                    self.0.push(module);
                }
            }
            _ => {}
        }
    }

    /// The promoted module the log says serves, if any.
    fn serving(&self) -> Option<ModuleInfo> {
        self.0.last().cloned()
    }
}

/// The slot manager of one slot.
pub struct Manager<S: Seats, C: Clock, L: LogStore> {
    host: S,
    clock: C,
    store: L,
    config: Config,
    slot: Slot<ProtocolEquivalence>,
    /// The equivalence `slot` compares with, for the N-version vote (which the manager
    /// counts itself) under the same comparator.
    equivalence: ProtocolEquivalence,
    lineages: Option<Lineages>,
    seats: Vec<Seat>,
    inflight: Flights,
    staging: Option<Staging>,
    /// The update log: every persisted entry, hashed into its tree by deferred steps of at
    /// most [`HASH_UNITS_PER_STEP`] hashes, or before the log is read
    /// ([`Manager::hash_entries`]).
    log: UpdateLog,
    /// The seat of the warm module a rollback under way catches up before it is carried out
    /// ([`Manager::catch_up_before_rollback`]): it has the serving schedule meanwhile.
    restoring: Option<usize>,
    log_base_ms: u64,
    modules: BTreeMap<ModuleId, ModuleInfo>,
    stats: ManagerStats,
    /// State transfers so far (numbers exports and the imports waiting for them).
    transfers: u64,
    /// The switch to the module promoted last, until its first delivered answer.
    switching: Option<Switch>,
    /// When the clock was last checked ([`Manager::tick`]).
    last_tick: Ticks,
    /// When the message being handled arrived (read once per message: its request's and
    /// its answer's time).
    message_at: Ticks,
    /// Roles or seats changed since the schedules were last brought in line with them.
    reschedule_due: bool,
    /// The root server's own ticks of the call that started a seat's module last
    /// (`SeatStarted`'s `ticks`), until the glue takes them ([`Manager::take_start_ticks`]).
    start_ticks: Option<u64>,
    /// Entries the manager writes by itself (a circuit breaker's rollback, a lineage's
    /// replacement, a restart, a withdrawal) whose write failed, kept in order until the
    /// store takes them (at most [`MAX_UNLOGGED`]), tried again as deferred work
    /// ([`Manager::deferred`]) at most every [`LOG_RETRY_INTERVAL`].
    unlogged: VecDeque<UpdateEvent>,
    /// When the kept entries may be tried again (a failed write puts it
    /// [`LOG_RETRY_INTERVAL`] ahead).
    log_retry_at: Ticks,
    /// When the oldest deferred work was decided (`None`: nothing deferred).
    deferred_since: Option<Ticks>,
    /// A module's schedule is to be lowered (to the challengers') when nobody waits; until
    /// then its mirrored copies are held back ([`Manager::copies_held`]).
    lowering_due: bool,
    /// A module the policy promotes, as deferred work: its update-log entry is persisted by
    /// the next deferred step ([`Manager::log_policy_promotion`]), its transfer starts at a
    /// later one.
    policy_due: Option<ModuleId>,
    /// A promotion whose entry is persisted and whose state transfer before the switch is
    /// to start, as a deferred step of its own ([`Manager::start_pre_transfer`]).
    start_due: Option<ModuleId>,
    /// The state transfer under way before a promotion's switch.
    pre_transfer: Option<PreTransfer>,
    /// The module promoted next has the warm module's state already ([`PreTransfer`]),
    /// transferred in this long.
    in_step_for: Option<(ModuleId, Ticks)>,
    /// A promotion whose update-log entry is persisted (and in the tree) but whose switch
    /// has not happened yet (a policy's or a promotion by hand's, each written by a deferred
    /// step of its own). Its switch appends nothing; if it does
    /// not happen, the log gets an entry withdrawing it ([`Manager::withdraw_promotion`]).
    logged_promotion: Option<ModuleId>,
    /// The promotion by hand under way (its entry to be persisted, or persisted and its
    /// transfer before the switch to start or under way): the operator's request, answered
    /// when it switches or is abandoned.
    hand: Option<HandPromotion>,
    /// The rollback by hand under way (its entry to be persisted, or persisted and the
    /// rollback to be carried out): the operator's request, answered when it is done.
    hand_rollback: Option<HandRollback>,
    /// A step that persisted an update-log entry ran in the handling of the message (or the
    /// deferred step) now under way, or the message was the operator's rollback or
    /// promotion by hand:
    /// [`Manager::deferred`] does no more until the next one, so that no busy span holds
    /// two such steps.
    entry_step_done: bool,
    /// The requests' messages of journal entries no longer needed (covered by an import
    /// whose state arrived, or a seat's journal cleared), released [`RELEASE_PER_STEP`] at a
    /// time by the glue's [`Manager::release_step`] when nothing else waits, so that a
    /// journal's release (up to (`JOURNAL_LIMIT_QUEUES` + 3) × `queue_limit` + 1 messages,
    /// 161 at a `queue_limit` of 32: ≈ 70,000 instructions) is in no message's busy span
    /// (since `slots45`). At most [`Manager::release_bound`]: beyond it the oldest are
    /// released at once.
    released: VecDeque<Rc<Message>>,
    /// The bytes of the module answer being handled (kept: [`ANSWER_BYTES`] allocated once).
    answer_bytes: Vec<u8>,
    /// The answer being delivered, as a message (kept likewise: [`Manager::deliver`]).
    answer_message: Message,
    /// Client requests' messages kept for their storage ([`Manager::kept_message`]; at most
    /// [`KEPT_MESSAGES`]).
    messages: Vec<Rc<Message>>,
    /// The install under way since its commit, done in steps ([`Manager::install_step`]).
    install: Option<InstallJob>,
    /// Challengers' rebuilds after a fault, in order, done in steps
    /// ([`Manager::rebuild_step`]): the first is under way.
    rebuilds: VecDeque<Rebuild>,
    /// The verifier domain's saved call: it has no job and waits for one
    /// ([`Manager::verifier_call`]).
    verifier: Option<ReplyCap>,
    /// Install jobs numbered so far (the low half of a job's id, `tileos_bundle_verifier::job_id`).
    jobs: u32,
    /// The saved calls a client request is sent to at once ([`Manager::send_to_waiting`];
    /// kept: allocated once).
    batch: Vec<ReplyCap>,
    /// Their seats, in the order [`Manager::send_to_waiting`] sends (the serving module's,
    /// the copies', the replica's): computed once per generation pair in `plan_for` (kept
    /// likewise).
    batch_seats: Vec<usize>,
    /// The manager's and the slot's generations `batch_seats` was computed in (`None`:
    /// never, or the serving module had no seat).
    plan_for: Option<(u64, u64)>,
    /// Bumped (from 1) wherever a condition of the narrow path that [`Seat::verified`]
    /// vouches for may turn on (a promotion under way or by hand, roles to reschedule, a
    /// seat catching up, diverged or handing off) and wherever a seat's role changes (the
    /// request's seat plan, `batch_seats`). Debug builds check on every use that what it
    /// vouches for still holds.
    generation: u64,
    /// The seat the root server has recorded as the serving one (`SeatServing`): the
    /// module whose answers were delivered last, which a restarted manager keeps serving
    /// (settled) or whose state it adopts ([`Manager::record_serving`]).
    serving_recorded: usize,
    /// Whether it was recorded as serving settled (its rollback window closed).
    serving_recorded_settled: bool,
    /// A restarted manager's adoption of the state of the module that served last, under
    /// way ([`Manager::begin_adoption`]).
    adoption: Option<Adoption>,
    /// The settled serving module's program being saved on the store, if any.
    program_save: Option<ProgramSave>,
}

/// A refusal in the control protocol.
fn refused(kind: RefusalKind, reason: &str) -> slots::Response {
    slots::Response::Refused(Refused::new(kind, reason))
}

/// `text` cut to at most `max` characters.
fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A state's name in the status.
fn state_name(state: State) -> &'static str {
    match state {
        State::Installed => "installed",
        State::Shadowing => "shadowing",
        State::Promotable => "promotable",
        State::Promoted => "promoted",
        State::Settled => "settled",
        State::Warm => "warm",
        State::Retired => "retired",
        State::Rejected => "rejected",
        State::RolledBack => "rolled-back",
    }
}

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    /// A manager for `config`: reloads the update log from `store`, and starts the noise
    /// replica of a noise-cancelled slot. Seat 0 (the incumbent, or lineage 0) and N-version
    /// lineages 1 and 2 were started by the root server at boot.
    pub fn new(config: Config, host: S, clock: C, mut store: L) -> Result<Manager<S, C, L>, StartError> {
        let now = clock.now();
        // The manager promotes by policy itself, off the clients' path and after the update
        // log holds the entry ([`Manager::deferred`]): the `Slot` only says when the
        // evidence suffices.
        let decisions = SlotPolicy { auto_promote: false, ..config.policy };
        let equivalence = ProtocolEquivalence::of(&config.protocol);
        if config.comparator == Comparator::Equivalent && !equivalence.provided() {
            return Err(StartError::NoEquivalence(config.protocol.clone()));
        }
        let slot =
            Slot::new(decisions, config.comparator, equivalence, now).map_err(|e| StartError::Policy(format!("{}: {e}", e.field())))?;
        let needed = match (&config.n_version, config.comparator) {
            (Some(_), _) => 3,
            (None, Comparator::NoiseCancelled) => 2,
            (None, _) => 1,
        };
        if config.seats < needed {
            return Err(StartError::Seats(config.seats));
        }
        let entries = store.load().map_err(|e| StartError::Log(e.0))?;
        // Every reloaded entry must decode (a `ManagerStarted` entry says they did).
        let mut log_base_ms = 0;
        // The lineage positions the log says the fallback took over (`LineageReplaced`).
        let mut replaced = [false; 3];
        let mut promoted = PromotedModules::default();
        for (index, entry) in entries.iter().enumerate() {
            let event = UpdateEvent::decode(entry).map_err(|e| StartError::Log(format!("entry {index}: {e}")))?;
            log_base_ms = event.timestamp_ms.saturating_add(1);
            promoted.follow(&event);
            if let EventKind::LineageReplaced { lineage, .. } = event.kind
                && let Some(position) = replaced.get_mut(usize::from(lineage))
            {
                *position = true;
            }
        }
        let log = UpdateLog::from_entries(entries).map_err(|e| StartError::Log(format!("{e}")))?;
        let mut seats: Vec<Seat> = (0..config.seats).map(|_| Seat::empty()).collect();
        let lineages = config.n_version.as_ref().map(|n| Lineages {
            record: NVersion::new(n.replace_after),
            names: n.lineages.clone(),
            fallback: n.fallback.clone(),
            seats: [0, 1, 2],
            spare: (config.seats > 3).then_some(3),
            ballots: BTreeMap::new(),
            next: 0,
        });
        if let Some(first) = seats.first_mut() {
            first.role = if lineages.is_some() { Role::Lineage(0) } else { Role::Module(ORIGINAL_INCUMBENT) };
            first.program = Some(Program::Named(SeatProgram::Incumbent));
            first.schedule = Some(SeatSchedule::Serving);
        }
        let config_queue_limit = config.queue_limit;
        let mut modules = BTreeMap::new();
        modules.insert(ORIGINAL_INCUMBENT, ModuleInfo::incumbent(&config.incumbent));
        let mut manager = Manager {
            host,
            clock,
            store,
            config,
            slot,
            equivalence,
            lineages,
            seats,
            inflight: Flights(Vec::with_capacity(config_queue_limit)),
            staging: None,
            log,
            restoring: None,
            log_base_ms,
            modules,
            stats: ManagerStats::default(),
            transfers: 0,
            switching: None,
            last_tick: now,
            message_at: now,
            reschedule_due: false,
            start_ticks: None,
            unlogged: VecDeque::new(),
            log_retry_at: 0,
            deferred_since: None,
            lowering_due: false,
            policy_due: None,
            pre_transfer: None,
            start_due: None,
            in_step_for: None,
            hand: None,
            hand_rollback: None,
            entry_step_done: false,
            logged_promotion: None,
            released: VecDeque::new(),
            answer_bytes: Vec::with_capacity(ANSWER_BYTES),
            answer_message: Message { label: 0, words: Vec::with_capacity(crate::MAX_WORDS) },
            messages: Vec::with_capacity(KEPT_MESSAGES),
            batch: Vec::new(),
            batch_seats: Vec::new(),
            plan_for: None,
            generation: 1,
            install: None,
            rebuilds: VecDeque::new(),
            verifier: None,
            jobs: 0,
            serving_recorded: 0,
            serving_recorded_settled: false,
            adoption: None,
            program_save: None,
        };
        let (mut adopting, mut kept) = (None, None);
        if manager.config.generation > 0 {
            // The module that served last keeps its seat: it serves on if it had settled,
            // otherwise until its state is adopted.
            let (serving, settled) = if manager.lineages.is_none() { manager.recorded_serving_seat() } else { (0, false) };
            (manager.serving_recorded, manager.serving_recorded_settled) = (serving, settled);
            manager.stop_predecessors_seats(serving);
            if manager.lineages.is_none() {
                if settled && serving != 0 && manager.keep_settled_module(serving, promoted.serving()) {
                    kept = Some(serving);
                } else {
                    manager.incumbent_serves_again();
                    if manager.begin_adoption(serving) {
                        adopting = Some(serving);
                    }
                }
            }
        }
        if manager.lineages.is_some() {
            // The root server starts lineages 1 and 2 at boot, as it starts seat 0.
            for k in 1..3 {
                if let Some(seat) = manager.seats.get_mut(k) {
                    seat.role = Role::Lineage(k);
                    seat.program = Some(Program::Named(SeatProgram::Lineage(k as u8)));
                }
            }
            manager.restore_lineages(replaced);
        } else if manager.config.comparator == Comparator::NoiseCancelled {
            let last = manager.seats.len() - 1;
            if let Some(seat) = manager.seats.get_mut(last) {
                seat.role = Role::Replica;
                seat.program = Some(Program::Named(SeatProgram::Incumbent));
            }
            // Its first start under this manager (a predecessor's was stopped): not a restart.
            manager.restart(last, false);
        }
        let size = manager.log.size();
        let name = manager.config.name.clone();
        manager.host.note(format_args!("@event slot.manager slot={name} seats={} log={size}", manager.seats.len()));
        let generation = manager.config.generation;
        // At a boot (generation 0) the module the reloaded log names serving (a settled
        // promotion) is started again from its program on the store, or, if it cannot be,
        // the log says the promotion is not kept (the incumbent serves).
        let at_boot = if generation == 0 && manager.lineages.is_none() { promoted.serving() } else { None };
        let restored = at_boot.as_ref().map(|module| manager.restore_at_boot(module));
        if generation > 0 || at_boot.is_some() {
            // What the manager held in memory is gone, and the log says so.
            let seats = manager.seats.len().min(usize::from(u8::MAX)) as u8;
            let info = manager.module_info(ORIGINAL_INCUMBENT);
            let serves = match (kept, adopting) {
                (Some(seat), _) => format!("module {} {}, settled, serves on in seat {seat} with its own state", info.name, info.version),
                (None, Some(seat)) => format!("the incumbent serves with the state of the module that served last (seat {seat})"),
                (None, None) => String::from("the incumbent serves"),
            };
            let note = match (&at_boot, &restored) {
                (Some(module), Some(Ok(seat))) => format!(
                    "the tile started: module {} {}, settled before the reboot, serves again in seat {seat}, started from its program on the store (its state fresh)",
                    module.name, module.version
                ),
                (Some(module), Some(Err(why))) => format!(
                    "the tile started: the promotion of module {} {} is not kept across the reboot ({why}); {serves}",
                    module.name, module.version
                ),
                _ => format!(
                    "the slot manager restarted (generation {generation}): challengers, evidence and any promotion under way are gone; {serves}"
                ),
            };
            let event = UpdateEvent {
                kind: EventKind::ManagerStarted { generation, reloaded: size, seats },
                ..manager.event(EventKind::Install, &info, &note)
            };
            match (&at_boot, &restored) {
                (Some(module), Some(Ok(seat))) => manager.host.note(format_args!(
                    "@event slot.promotion-restored slot={name} seat={seat} module=\"{}\" version=\"{}\"",
                    module.name, module.version
                )),
                (Some(module), Some(Err(why))) => manager.host.note(format_args!(
                    "@event slot.promotion-not-kept slot={name} module=\"{}\" version=\"{}\" reloaded={size} why=\"{why}\"",
                    module.name, module.version
                )),
                _ => manager.host.note(format_args!("@event slot.manager-restarted slot={name} generation={generation} reloaded={size}")),
            }
            manager.append_or_keep(event, format_args!("the entry of the manager's start (generation {generation})"));
        }
        Ok(manager)
    }

    /// The slot's decision logic (read only).
    pub fn slot(&self) -> &Slot<ProtocolEquivalence> {
        &self.slot
    }

    /// What the manager refused and dropped so far.
    pub fn stats(&self) -> ManagerStats {
        self.stats
    }

    /// The update log's persisted entries: those in the tree and those still waiting for
    /// their step to be hashed in ([`Manager::unhashed_entries`]).
    pub fn log(&self) -> PersistedLog<'_> {
        PersistedLog { tree: &self.log }
    }

    /// How many persisted entries wait for their steps to be hashed into the tree (the last
    /// of them may be partly hashed).
    pub fn unhashed_entries(&self) -> usize {
        usize::try_from(self.log.pending()).unwrap_or(usize::MAX)
    }

    /// The host side (for tests).
    pub fn host(&self) -> &S {
        &self.host
    }

    /// The host side, mutably (for tests).
    pub fn host_mut(&mut self) -> &mut S {
        &mut self.host
    }

    /// The clock, mutably (for tests).
    pub fn clock_mut(&mut self) -> &mut C {
        &mut self.clock
    }

    /// Whether a promotion's switch is under way: from the promotion until the promoted
    /// module's first delivered answer (the `slot.switch` line).
    pub fn switching(&self) -> bool {
        self.switching.is_some()
    }

    /// Whether a promotion is under way (for `make bench`'s figure of the longest stall a
    /// client can meet at a promotion): due by the policy, a promotion by hand taken (its
    /// entry still to be persisted, or any later step), its persisted entry waiting for its
    /// transfer or its switch, its state transfer before the switch, or its switch until the
    /// promoted module's first answer.
    pub fn promotion_under_way(&self) -> bool {
        self.hand.is_some()
            || self.policy_due.is_some()
            || self.start_due.is_some()
            || self.pre_transfer.is_some()
            || self.logged_promotion.is_some()
            || self.switching.is_some()
    }

    /// Whether a rollback by hand is under way (its entry or its rollback still to come:
    /// `Manager::rollback_by_hand`).
    pub fn rollback_under_way(&self) -> bool {
        self.hand_rollback.is_some()
    }

    /// Client requests outstanding.
    pub fn outstanding(&self) -> usize {
        self.inflight.len()
    }

    /// The seat of module `id`, if it runs in one.
    pub fn seat_of_module(&self, id: ModuleId) -> Option<usize> {
        self.seat_of(Role::Module(id))
    }

    /// Entries in the warm module's journal (docs/slots.md, "The warm module's journal"):
    /// requests its state misses, 0 when there is no warm module.
    pub fn journal_entries(&self) -> usize {
        self.slot.warm().and_then(|w| self.seat_of(Role::Module(w))).and_then(|seat| self.seats.get(seat)).map_or(0, |s| s.journal.len())
    }

    /// Journal entries waiting for [`Manager::release_step`].
    pub fn released_entries(&self) -> usize {
        self.released.len()
    }

    /// The seats of the three N-version lineage positions.
    pub fn lineage_seats(&self) -> Option<[usize; 3]> {
        self.lineages.as_ref().map(|l| l.seats)
    }

    /// A message of `label` and `words` on the front endpoint from `badge` (with `access`, the
    /// caller's `control` parameter; ignored for seats), whose saved reply capability is
    /// `reply`. The words are borrowed: a module's answer is compared and delivered from them
    /// without a copy on the heap (only a client request, which waits in queues, is kept).
    pub fn received(&mut self, badge: u64, access: Access, label: u64, words: &[u64], reply: ReplyCap) {
        let steppable = self.install_steppable();
        self.entry_step_done = false;
        self.check_clock();
        self.receive(badge, access, label, words, reply);
        self.reschedule();
        self.raise_if_install_ended(steppable);
    }

    /// The body of [`Manager::received`].
    fn receive(&mut self, badge: u64, access: Access, label: u64, words: &[u64], reply: ReplyCap) {
        if words.len() > crate::MAX_WORDS {
            self.stats.violations += 1;
            self.host.reply(reply, &Message::error(ProtocolError::TooLarge));
            return;
        }
        if badge == tileos_bundle_verifier::VERIFIER_BADGE {
            return self.verifier_call(label, words, reply);
        }
        if badge & SEAT_BADGE != 0 {
            let seat = badge & !SEAT_BADGE;
            match usize::try_from(seat) {
                Ok(seat) if seat < self.seats.len() => self.module_call(seat, label, words, reply),
                _ => {
                    self.stats.violations += 1;
                    self.host.note(format_args!("slot {}: call from seat {seat:#x}, which the slot does not have", self.config.name));
                    self.host.release(reply);
                }
            }
            return;
        }
        match access {
            Access::Service => self.client_request(badge, label, words, reply),
            Access::Read | Access::Full => {
                let response = match decode::<slots::Request>(label, words) {
                    Ok(slots::Request::InstallCommit) if access == Access::Full && self.install.is_none() => {
                        self.do_deferred();
                        match self.commit() {
                            Ok((bundle, phase)) => {
                                // Answered when the install ends (install_step); the
                                // signatures go to the verifier domain first.
                                self.install = Some(InstallJob { reply, bundle, phase });
                                self.dispatch_verifier();
                                return;
                            }
                            Err(response) => *response,
                        }
                    }
                    Ok(slots::Request::Rollback) if access == Access::Full => {
                        // Answered at once if refused, else when the rollback is done (two
                        // deferred steps: its entry, then the rollback).
                        if let Some((reply, response)) = self.rollback_by_hand(reply) {
                            self.host.reply(reply, &Message::encode(&response));
                        }
                        return;
                    }
                    Ok(slots::Request::Promote { module, force }) if access == Access::Full => {
                        // Answered at once if refused, else when the switch is made or the
                        // promotion abandoned.
                        if let Some((reply, response)) = self.promote_by_hand(module, force, reply) {
                            self.host.reply(reply, &Message::encode(&response));
                        }
                        return;
                    }
                    Ok(request) => self.control(access, request),
                    Err(error) => {
                        self.host.reply(reply, &Message::error(error));
                        return;
                    }
                };
                self.host.reply(reply, &Message::encode(&response));
            }
        }
    }
}
