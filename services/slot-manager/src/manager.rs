//! The manager: the client queue, dispatch to seats, installs, promotion and rollback,
//! N-version voting, the slot control protocol and the update log.

use crate::{Access, Clock, LogStore, Message, ReplyCap, Seats, message_bytes_into};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use tileos_bundle_verifier::{Call, CallError};
use tileos_module_bundle::{CapabilityRequest, ContentHasher, Progress, Stage, TrustedKeys, Verification, VerifyError, signature_input};
use tileos_protocol::module::{EXPORT, IMPORT, IMPORTED, ImportRefusal, READY, SEAT_BADGE, STATE};
use tileos_protocol::slots::{
    self, MAX_CHUNK, MAX_ENTRY, MAX_MODULES, MAX_NAME, MAX_PROOF, ModuleStatus, RefusalKind, Refused, SignedHead, SlotStatus,
};
use tileos_protocol::supervisor::{self, SEAT_CHUNK, SeatProgram, SeatSchedule};
use tileos_protocol::{MESSAGE, ProtocolError, decode};
use tileos_slots::{
    Answered, Comparator, CopyTicket, ExactOnly, Mirror, ModuleId, NVersion, ORIGINAL_INCUMBENT, Outcome, PromoteMode, Reason, RequestId,
    Responder, Slot, SlotPolicy, State, Ticks, Transition, VoteOutcome, vote,
};
use tileos_update_log::{EventKind, LogError, MAX_TREE_SIZE, ModuleRef, SigningKey, UpdateEvent, UpdateLog};

/// Bytes of the longest message as compared ([`message_bytes_into`]).
const ANSWER_BYTES: usize = 8 * (1 + crate::MAX_WORDS);

/// Longest note of a log entry (entries must fit one [`slots::Response::Entry`]).
const MAX_NOTE: usize = 300;

/// Microseconds between the clock checks that messages trigger (deadlines, the soak, the
/// rollback window): a check costs the slot a pass over its exchanges and modules, and
/// every deadline of a policy is milliseconds or more.
const CLOCK_CHECK_MICROS: Ticks = 1_000;

/// Client requests' messages kept for reuse at most ([`Manager::kept_message`]): more than
/// are usually held at once (a request in flight, its copies not yet answered), few enough
/// that finding a free one is a short scan.
const KEPT_MESSAGES: usize = 8;

/// How long a challenger's module may take from its seat's start to its READY call; past
/// that (hung while starting) it is failed as if it had faulted: otherwise it would hold
/// its seat, and a place among the slot's challengers, for ever.
pub const READY_DEADLINE: Ticks = 10_000_000;

/// How long work deferred off the clients' path ([`Manager::deferred`]: a promotion by the
/// policy with its update-log entry, a rollback by hand's steps, a breaker entry's second
/// try, lowering a module's schedule) may wait for a moment when no client waits and no
/// switch is under way; past that, the next message does it whatever waits.
pub const DEFERRED_BOUND: Ticks = 100_000;

/// Bytes of an install's bundle hashed per install step ([`Manager::install_step`]): the
/// payload's content hash while verifying, the whole bundle's for a refused bundle's log entry.
/// SHA-256 costs ≈ 50 guest instructions a byte in the slot manager (software, no SIMD): a
/// 2 KiB step was ≈ 110,000 (`slots37`'s per-phase figures; 8 KiB before session 22), so a
/// step of this is ≈ 15,000 (a client arriving during it waits for it). 256 since `slots45`
/// (512 before, ≈ 28,000 a step: the 96 KiB install's longest `verify` steps were
/// 48,636–51,772 in three bench runs, ≈ 20,000 above the others, not explained: a step's
/// span holds the work of any domain that preempts it, the steps running at the glue's
/// background priority).
pub const INSTALL_HASH_STEP: usize = 256;

/// SHA-256 computations of the update log's tree per deferred hashing step
/// ([`Manager::deferred`]): an entry's leaf hash (its ≤ [`tileos_update_log::MAX_ENTRY_LEN`]
/// bytes, a few hundred for the manager's entries) and the interior nodes it completes (65
/// bytes each), whatever the log's size. An entry needs 1 + (the trailing one bits of its
/// index) of them, two on average, at most 1 + log₂ n.
pub const HASH_UNITS_PER_STEP: usize = 2;

/// How long an install waits for its verdict from the slot's verifier domain
/// (docs/slots.md, "Installs"), from its commit: a verifier that is starting, restarting or
/// starved has that long; then the install is refused with that reason (checked at the
/// clock checks messages trigger).
pub const VERIFIER_DEADLINE: Ticks = 30_000_000;

/// Root-server calls staging an install's ELF into its seat per install step (each carries
/// [`SEAT_CHUNK`] bytes; `SeatLoad` counts as one): one, as for a rebuild
/// ([`REBUILD_CHUNKS_PER_STEP`]), since a `SeatChunk` call costs ≈ 21,600 instructions
/// (four a step, ≈ 86,000, before).
pub const INSTALL_CHUNKS_PER_STEP: usize = 1;

/// Root-server calls staging a challenger's ELF per step of its rebuild after a fault
/// ([`Manager::rebuild_step`]; `SeatLoad` counts as one): one, since a `SeatChunk` call
/// costs ≈ 21,600 instructions on a booted tile (docs/slots.md, "A challenger's rebuild
/// after a fault").
pub const REBUILD_CHUNKS_PER_STEP: usize = 1;

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
    /// How answers are compared (`Equivalent` compares exactly: the manager is generic over
    /// protocols).
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
    /// The bundle keys the tile trusts.
    pub trusted: Vec<TrustedKeys>,
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
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::Policy(reason) => write!(f, "policy: {reason}"),
            StartError::Seats(seats) => write!(f, "{seats} seats are too few for this slot"),
            StartError::Log(reason) => write!(f, "update log: {reason}"),
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
    /// the policy (not carried out then), a circuit breaker's rollback (carried out; its
    /// entry failed twice and is lost).
    pub log_failures: u64,
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

/// The digest of an answer kept for a journaled request (docs/slots.md, "The warm
/// module's journal"): 64-bit FNV-1a over the answer's label and words, little-endian (the
/// bytes [`Message::to_bytes`] makes). Not a cryptographic hash: it tells a replay's answer
/// from the delivered one unless they collide by chance (2^-64 per pair), not against a
/// module built to collide.
fn answer_digest(label: u64, words: &[u64]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for word in core::iter::once(&label).chain(words) {
        for byte in word.to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Entries the warm module's journal holds beyond those a pending import covers before the
/// warm module is brought up to date instead, in `queue_limit`s (docs/slots.md, "The warm
/// module's journal").
pub const JOURNAL_LIMIT_QUEUES: usize = 2;

/// Journal entries released (their requests' messages dropped) per
/// [`Manager::release_step`]: a message freed is ≈ 450 guest instructions in the slot
/// manager (two frees in its linked-list heap), so a step is ≈ 7,000 (since `slots45`).
pub const RELEASE_PER_STEP: usize = 16;

/// What runs in a seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Nothing.
    Empty,
    /// A module of the slot.
    Module(ModuleId),
    /// The incumbent's noise replica.
    Replica,
    /// N-version lineage position `0..3`.
    Lineage(usize),
    /// A module that left the slot (rejected, retired, rolled back) at this time: it gets
    /// no work and its call is kept unanswered, so it waits blocked; its seat is torn down
    /// when the slot needs it again ([`Manager::reclaim_seat`]).
    Leaving(Ticks),
}

/// The program a seat is (re)started with.
#[derive(Clone, Debug)]
enum Program {
    /// A description program.
    Named(SeatProgram),
    /// A bundle's ELF, kept to restart it.
    Staged(Rc<Vec<u8>>),
}

/// A piece of work for a seat's module.
#[derive(Clone, Debug)]
enum Job {
    /// A client request; `copy_until` for a mirrored copy (skipped after it).
    Request { id: RequestId, message: Rc<Message>, copy_until: Option<Ticks> },
    /// Export the state for seat `target`'s import `transfer`.
    Export { target: usize, transfer: u64 },
    /// Import transfer `transfer`'s state (`None`: not exported yet; the seat waits for it).
    Import { state: Option<Rc<Vec<u64>>>, transfer: u64 },
    /// A request from the journal, replayed by a restored module before it serves: its
    /// client was answered already (by the rolled-back module); the answer is not delivered
    /// but compared with `answered`, the digest of the answer the client got (if kept).
    Replay { id: RequestId, message: Rc<Message>, answered: Option<u64> },
}

/// Where request `id` goes in a restored module's queue for the module to apply requests
/// in order: after any import still queued (applied first), past earlier requests and
/// replays, before a later one and before an export (the exported state must hold it: a
/// module installed during a hand-off takes the restored module's state at its start) —
/// unless an earlier request is queued behind that export: then past the export too (order
/// first: placed ahead of the export, the request ran before earlier ones queued behind
/// it, a wrong answer found by `right_answers`).
fn in_request_order(queue: &VecDeque<Job>, id: RequestId) -> usize {
    let earlier = |job: &Job| matches!(job, Job::Request { id: x, .. } | Job::Replay { id: x, .. } if *x <= id);
    let last_earlier = queue.iter().rposition(earlier);
    let mut at = queue.iter().rposition(|job| matches!(job, Job::Import { .. })).map_or(0, |at| at + 1);
    while queue.get(at).is_some_and(|job| match job {
        Job::Request { .. } | Job::Replay { .. } => earlier(job),
        Job::Export { .. } => last_earlier.is_some_and(|last| at < last),
        Job::Import { .. } => true,
    }) {
        at += 1;
    }
    at
}

/// One seat.
#[derive(Debug)]
struct Seat {
    role: Role,
    program: Option<Program>,
    /// The module's saved call, waiting for work.
    caller: Option<ReplyCap>,
    /// The work sent, awaiting its answer.
    current: Option<Job>,
    /// When `current` was sent (a mirrored answer's latency runs from it:
    /// `Slot::answer_worked`).
    current_since: Ticks,
    /// Work waiting.
    queue: VecDeque<Job>,
    /// The module needs the reference module's state when it calls READY.
    needs_state: bool,
    /// N-version lineages: copies were dropped, it imports the state again when it next
    /// calls.
    diverged: bool,
    /// Paced mirroring (modules and the replica): the seat fell `queue_limit` copies behind;
    /// it gets no copies until it has answered those it holds, then imports the serving
    /// module's state and is mirrored again ([`Manager::push_copy`]).
    catching_up: bool,
    /// Copies this seat's module did not get (skipped or dropped by the pacing) so far.
    missed: u64,
    /// Of `missed`, how many the state it last imported covers (it is behind the serving
    /// module while `missed > in_step`).
    in_step: u64,
    /// `missed` when its pending import was asked for (the import covers those).
    import_covers: u64,
    /// A rolled-back module handing its state to a restored module that was behind
    /// ([`Manager::hand_off`]): the requests it still answers on the restored module's
    /// behalf, and the restored module's seat.
    handing: Option<(Vec<RequestId>, usize)>,
    /// The warm module's journal: the requests, in order, whose copies it did not get
    /// (skipped by the pacing) or will not apply (dropped for an import), since the last
    /// import that covers them; replayed if it is restored without that import
    /// ([`Manager::replay_journal`]); with each, the digest of the answer its client got
    /// once it was delivered ([`answer_digest`]).
    journal: VecDeque<(RequestId, Rc<Message>, Option<u64>)>,
    /// The import waiting for its state that covers the journal's first entries: its
    /// transfer and how many entries it covers (dropped when its state arrives).
    journal_import: Option<(u64, usize)>,
    /// The schedule its running module has (`None`: no module runs).
    schedule: Option<SeatSchedule>,
    /// When the seat was last started, until its module calls READY.
    started_at: Option<Ticks>,
    /// The manager's generation ([`Manager::generation`]) in which the narrow path last
    /// found this seat's and the manager's conditions to hold ([`Manager::narrow_allowed`]):
    /// while it is unchanged, its copies' answers skip those checks.
    verified: u64,
    /// The slot's [`CopyTicket`] for its module's copies' answers (the slot's checks, kept
    /// likewise while the slot's generation is unchanged).
    ticket: Option<CopyTicket>,
}

impl Seat {
    fn empty() -> Seat {
        Seat {
            role: Role::Empty,
            program: None,
            caller: None,
            current: None,
            current_since: 0,
            queue: VecDeque::new(),
            needs_state: false,
            diverged: false,
            catching_up: false,
            missed: 0,
            in_step: 0,
            import_covers: 0,
            handing: None,
            journal: VecDeque::new(),
            journal_import: None,
            schedule: None,
            started_at: None,
            verified: 0,
            ticket: None,
        }
    }

    /// Whether it owes a state export.
    fn exporting(&self) -> bool {
        self.current.iter().chain(self.queue.iter()).any(|job| matches!(job, Job::Export { .. }))
    }
}

/// The schedule the root server gives a seat's module when it starts it: the incumbent's
/// in seat 0, the challengers' in the others.
fn start_schedule(seat: u8) -> SeatSchedule {
    if seat == 0 { SeatSchedule::Serving } else { SeatSchedule::Shadow }
}

/// A client request in flight.
#[derive(Debug)]
struct InFlight {
    id: RequestId,
    badge: u64,
    reply: ReplyCap,
    message: Rc<Message>,
    /// When it arrived.
    arrived: Ticks,
}

/// The client requests in flight, in the order they came (at most `queue_limit`: a short
/// list, searched linearly; its storage is kept, so the serving path allocates nothing
/// for it, where a map allocated and freed a node for nearly every request).
#[derive(Debug, Default)]
struct Flights(Vec<InFlight>);

impl Flights {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn insert(&mut self, flight: InFlight) {
        self.0.push(flight);
    }

    fn get(&self, id: RequestId) -> Option<&InFlight> {
        self.0.iter().find(|f| f.id == id)
    }

    fn remove(&mut self, id: RequestId) -> Option<InFlight> {
        let at = self.0.iter().position(|f| f.id == id)?;
        Some(self.0.remove(at))
    }

    /// Whether client `badge` has a request in flight.
    fn has_client(&self, badge: u64) -> bool {
        self.0.iter().any(|f| f.badge == badge)
    }

    fn ids(&self) -> impl Iterator<Item = RequestId> + '_ {
        self.0.iter().map(|f| f.id)
    }
}

/// A promotion's switch, from the promotion to the promoted module's first delivered answer
/// (timed for `make bench`: the `slot.switch` line).
#[derive(Clone, Copy, Debug)]
struct Switch {
    /// The promoted module.
    module: ModuleId,
    /// When it was promoted.
    since: Ticks,
    /// When it was ready to serve: its import done, or at once when it needed none.
    ready: Option<Ticks>,
    /// Whether it imported the warm module's state first.
    transfer: bool,
    /// The state was transferred just before the switch, with no request in between
    /// ([`PreTransfer`]): how long that transfer took (export asked for → import done).
    pre_transfer: Option<Ticks>,
    /// When the warm module's exported state reached the manager (a transfer at the switch).
    exported: Option<Ticks>,
}

/// A promotion's state transfer made before its switch (by the policy or by hand: its
/// update-log entry is persisted first): the serving module exports while it still
/// serves, the module to be promoted imports, and the switch follows the import at once.
/// The module keeps the copies of the requests that came after the export, in order, so
/// its state is the serving module's once it has computed them: the switch keeps them and
/// transfers nothing, unless the module skipped a copy meanwhile (it fell `queue_limit`
/// behind), when the switch transfers the state again.
#[derive(Clone, Copy, Debug)]
struct PreTransfer {
    /// The module to be promoted.
    module: ModuleId,
    /// Its seat.
    seat: usize,
    /// When the export was asked for.
    since: Ticks,
}

/// A promotion by hand under way ([`Manager::promote_by_hand`]): its update-log entry
/// (after the withdrawal of a superseded policy promotion's, if any) is a deferred step of
/// its own ([`Manager::hand_promotion_step`]), then it goes the way of a policy's (its
/// transfer's start, the switch at the module's import).
#[derive(Debug)]
struct HandPromotion {
    /// The module to be promoted.
    module: ModuleId,
    /// Promoted whatever the evidence says (`tilectl promote --force`).
    force: bool,
    /// Its entry is persisted (the entry step done): [`Manager::logged_promotion`] is its
    /// module, and the transfer's start is the next step.
    logged: bool,
    /// The operator's request, answered when the switch is made or the promotion abandoned.
    reply: ReplyCap,
}

/// The update log's persisted entries as the manager holds them ([`Manager::log`]): every
/// persisted entry, hashed into the tree or still pending ([`UpdateLog::pending`]).
#[derive(Clone, Copy, Debug)]
pub struct PersistedLog<'a> {
    tree: &'a UpdateLog,
}

impl<'a> PersistedLog<'a> {
    /// Entries persisted so far.
    pub fn size(&self) -> u64 {
        self.tree.appended()
    }

    /// The encoded entry at `index`, hashed into the tree or not yet.
    pub fn entry(&self, index: u64) -> Option<&'a [u8]> {
        self.tree.appended_entry(index)
    }

    /// The tree (its size and heads leave out the entries still to be hashed in).
    pub fn tree(&self) -> &'a UpdateLog {
        self.tree
    }
}

/// A rollback by hand ([`Manager::rollback_by_hand`]) or by the immune system
/// ([`Manager::immune_rollback`], since `slots21`) under way, carried out as two deferred
/// steps: its update-log entry, then the rollback.
#[derive(Debug)]
struct HandRollback {
    /// The module to be rolled back (the promoted one serving when it was asked).
    module: ModuleId,
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
    fn by(&self) -> &'static str {
        if self.alarm.is_some() { "by the immune system" } else { "by hand" }
    }
}

/// A bundle being staged.
struct Staging {
    length: u32,
    bytes: Vec<u8>,
}

/// An install under way after its commit ([`Manager::install_step`]): the commit's caller
/// is answered when it ends.
struct InstallJob {
    /// The commit's caller (answered at the end).
    reply: ReplyCap,
    /// The bundle, until it is verified (then the ELF moves to the stage).
    bundle: Vec<u8>,
    phase: InstallPhase,
}

/// Where an install stands.
enum InstallPhase {
    /// Both signatures, checked by the verifier domain (no manager step): job `job`'s
    /// signature input `input`, of which the verifier fetched `fetched` bytes; `dispatched`
    /// once the verifier has the job (before, the job waits for its `READY`); `since` the
    /// commit (for [`VERIFIER_DEADLINE`]). The verification (layout and signer checked) goes
    /// on from the manifest once the verdict is in.
    Signatures { job: u64, input: Vec<u8>, fetched: usize, dispatched: bool, since: Ticks, verification: Box<Verification> },
    /// The rest of the bundle's verification, a step at a time (boxed: it holds the decoded
    /// manifest).
    Verify(Box<Verification>),
    /// The bundle verified: the manifest's checks against the slot and the seat's choice,
    /// then the ELF (the bundle's bytes from `payload_at`) split off, a step of their own
    /// (`slots37`: with the hash's last piece the step was ≈ 74,000–88,000).
    Checks { manifest: Box<tileos_module_bundle::Manifest>, payload_at: usize },
    /// A refused bundle's hash (for its log entry), a step at a time; then the refusal
    /// with `reason`.
    Refuse { reason: String, hasher: ContentHasher, hashed: usize },
    /// The verified ELF staged into `seat` (`staged`: bytes sent; `None`: `SeatLoad` not yet),
    /// then its module built (`building`: the root server's build under way, a
    /// `SeatContinue` a step).
    Stage { seat: usize, info: ModuleInfo, elf: Rc<Vec<u8>>, staged: Option<usize>, building: bool },
    /// The module runs in `seat` (the root server's build is done); the slot's last checks
    /// and its update-log entry are the next step, of its own ([`Manager::install_started`]).
    /// Its seat's `READY` meanwhile is kept (`ready`) and handled at the step after the
    /// entry's ([`InstallPhase::Ready`]); any other call from the seat, or its fault, has
    /// these steps made first ([`Manager::install_steps_first`]).
    Started { seat: usize, info: ModuleInfo, elf: Rc<Vec<u8>>, ready: Option<ReplyCap> },
    /// The module installed as `module` in `seat` (its entry persisted): its kept `READY`
    /// handled (its state import begins), then the commit answered, a step of its own.
    Ready { seat: usize, module: ModuleId, ready: ReplyCap },
    /// The module installed as `module` in `seat` (its entry persisted) is still starting up
    /// at priority 0 ([`SeatSchedule::Start`]): no step; the glue raises it
    /// ([`Manager::raise_started`]) and the commit is answered at the seat's first call (its
    /// `READY`), its fault, or its hung start ([`Manager::install_steps_first`]).
    Up { seat: usize, module: ModuleId },
}

/// A challenger's rebuild after a fault, staged a step at a time
/// ([`Manager::rebuild_step`]) while the manager serves on; then its seat's module built by
/// the root server a piece a step (`SeatBegin`, then `SeatContinue` until `SeatStarted`).
struct Rebuild {
    /// The seat.
    seat: usize,
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

/// Name, version and content hash of a module (for the status and the log).
#[derive(Clone, Debug)]
struct ModuleInfo {
    name: String,
    version: String,
    hash: [u8; 32],
}

/// An N-version request's answers.
struct Ballot {
    answers: [Option<Vec<u8>>; 3],
    answered: [bool; 3],
    delivered: bool,
    deadline: Ticks,
}

/// N-version state.
struct Lineages {
    record: NVersion,
    /// The program answering in each lineage position (the fallback's once replaced).
    names: [String; 3],
    /// The fallback's program name.
    fallback: String,
    seats: [usize; 3],
    spare: Option<usize>,
    ballots: BTreeMap<RequestId, Ballot>,
    next: RequestId,
}

/// The slot manager of one slot.
pub struct Manager<S: Seats, C: Clock, L: LogStore> {
    host: S,
    clock: C,
    store: L,
    config: Config,
    slot: Slot<ExactOnly>,
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
    /// Circuit-breaker entries whose first write failed, to be tried again as deferred work
    /// ([`Manager::deferred`]), in order.
    unlogged: VecDeque<UpdateEvent>,
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

/// The name and kind of a capability request, for refusals.
fn capability_name(request: &CapabilityRequest) -> (&'static str, &str) {
    match request {
        CapabilityRequest::Endpoint { name, .. } => ("endpoint", name),
        CapabilityRequest::Notification { name } => ("notification", name),
        CapabilityRequest::MemoryRegion { name, .. } => ("region", name),
        CapabilityRequest::Irq { name } => ("irq", name),
        CapabilityRequest::IoPort { name } => ("io port", name),
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
        let slot =
            Slot::new(decisions, config.comparator, ExactOnly, now).map_err(|e| StartError::Policy(format!("{}: {e}", e.field())))?;
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
        for (index, entry) in entries.iter().enumerate() {
            let event = UpdateEvent::decode(entry).map_err(|e| StartError::Log(format!("entry {index}: {e}")))?;
            log_base_ms = event.timestamp_ms.saturating_add(1);
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
        modules.insert(ORIGINAL_INCUMBENT, ModuleInfo { name: config.incumbent.clone(), version: String::new(), hash: [0; 32] });
        let mut manager = Manager {
            host,
            clock,
            store,
            config,
            slot,
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
        };
        if manager.config.generation > 0 {
            manager.stop_predecessors_seats();
            if manager.lineages.is_none() {
                // The incumbent serves again, whatever schedule the predecessor left it with
                // (a promotion's switch lowers the warm incumbent to the challengers').
                manager.set_schedule(0, SeatSchedule::Serving);
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
        if generation > 0 {
            // A restart: what the manager held in memory is gone, and the log says so.
            let seats = manager.seats.len().min(usize::from(u8::MAX)) as u8;
            let info = manager.module_info(ORIGINAL_INCUMBENT);
            let note = format!(
                "the slot manager restarted (generation {generation}): challengers, evidence and any promotion are gone; the incumbent serves"
            );
            let event = UpdateEvent {
                kind: EventKind::ManagerStarted { generation, reloaded: size, seats },
                ..manager.event(EventKind::Install, &info, &note)
            };
            manager.host.note(format_args!("@event slot.manager-restarted slot={name} generation={generation} reloaded={size}"));
            manager.append_or_keep(event, format_args!("the entry of the manager's restart (generation {generation})"));
        }
        Ok(manager)
    }

    /// The slot's decision logic (read only).
    pub fn slot(&self) -> &Slot<ExactOnly> {
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
    /// [`Manager::rollback_by_hand`]).
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

    /// Whether journal entries wait for [`Manager::release_step`] (the glue then polls for
    /// a message before it waits, and steps if none is there and no client request is in
    /// flight, as for an install's steps).
    pub fn release_pending(&self) -> bool {
        !self.released.is_empty()
    }

    /// Releases up to [`RELEASE_PER_STEP`] of the journal entries no longer needed (their
    /// requests' messages dropped), oldest first.
    pub fn release_step(&mut self) {
        let n = RELEASE_PER_STEP.min(self.released.len());
        self.released.drain(..n);
    }

    /// The most journal entries kept for [`Manager::release_step`]: as many as a journal holds at
    /// most ((`JOURNAL_LIMIT_QUEUES` + 3) × `queue_limit` + 1), so the messages kept are at
    /// most twice a journal's. A glue that never steps (a tile that never idles) releases
    /// the excess at once, as before `slots45`.
    fn release_bound(&self) -> usize {
        (JOURNAL_LIMIT_QUEUES + 3) * self.config.queue_limit.max(1) + 1
    }

    /// The messages of journal entries no longer needed are kept for
    /// [`Manager::release_step`], up to [`Manager::release_bound`].
    fn release_later(&mut self, entries: impl Iterator<Item = (RequestId, Rc<Message>, Option<u64>)>) {
        self.released.extend(entries.map(|(_, message, _)| message));
        let excess = self.released.len().saturating_sub(self.release_bound());
        self.released.drain(..excess);
    }

    /// The seats of the three N-version lineage positions.
    pub fn lineage_seats(&self) -> Option<[usize; 3]> {
        self.lineages.as_ref().map(|l| l.seats)
    }

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

    /// Does the work kept off the clients' path, if there is any and now is the moment:
    /// no client request is in flight, no promotion's switch is under way with its rollback
    /// window open (the promoted module has delivered its first answer, or the window
    /// closed: [`Manager::switch_holds_deferred_work`]) and no step that persisted an update-log
    /// entry ran in this message's handling. The glue calls it after each message it
    /// handled, before it waits for the next, and [`Manager::deferred_step`] when it polled
    /// and found no message. That work, one step at a time: a promotion by the policy (its
    /// update-log entry persisted: encoding, the store's durable write, hashing into the
    /// tree; at the next step its state transfer before the switch started, for policy and
    /// hand promotions alike: [`Manager::start_pre_transfer`]), the second try of a circuit
    /// breaker's entry whose first write failed ([`Manager::log_breaker_rollbacks`]), the
    /// withdrawal of a persisted promotion that was abandoned, a promotion by hand's entry
    /// ([`Manager::hand_promotion_step`], after the withdrawal of a policy promotion it
    /// superseded), a rollback's (by hand or by the immune system) entry and then the
    /// rollback ([`Manager::hand_rollback_step`]: each a step alone, and not waiting for a
    /// switch to end), and lowering a module's
    /// schedule to the challengers' (the warm incumbent after the switch: a root-server
    /// call). Every entry is appended before any control request is answered (`control`
    /// does the deferred work first) and before any later entry; [`DEFERRED_BOUND`] after it
    /// was decided it is done whatever waits.
    /// A promotion by the policy also waits for its module to finish the copy it is working
    /// on ([`Manager::promotion_waits_for_module`]), within the same bound.
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
            // Nothing decided waits ([`DEFERRED_BOUND`] counts from a decision): only the
            // tree's hashing, if any.
            return self.hashing_is_next();
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
        policy || stale || self.start_due.is_some() || self.lowering_due || !self.unlogged.is_empty() || self.hashing_is_next()
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
        self.log.pending() > 0
            && !self.switch_holds_deferred_work()
            && self.unlogged.is_empty()
            && self.hand_rollback.is_none()
            && !self.hand_entry_due()
            && self.start_due.is_none()
            && self.logged_promotion.is_none()
            && !(self.pre_transfer.is_none() && self.policy_due.is_some())
            && !self.lowering_due
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
    fn do_deferred(&mut self) {
        let retried = !self.unlogged.is_empty();
        self.flush_log();
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

    /// Persists the update-log entry of `module`'s promotion by the policy, as a deferred
    /// step of its own (no client request in flight): the transfer before the switch starts
    /// at the next step ([`Manager::start_due`]), and the switch at the module's import
    /// appends nothing. Nothing is written if the module is not promotable any more (its
    /// evidence fell short, or a promotion's window opened meanwhile). If the entry cannot
    /// be persisted, nothing is promoted: the failure is counted (`log_failures`) and the
    /// module stays promotable, for a promotion by hand.
    fn log_policy_promotion(&mut self, module: ModuleId) {
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
    fn start_pre_transfer(&mut self, module: ModuleId) -> bool {
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
    fn withdraw_stale_promotion(&mut self) {
        let Some(module) = self.logged_promotion else { return };
        if self.pre_transfer.is_some_and(|p| p.module == module) || self.start_due == Some(module) {
            return;
        }
        self.withdraw_promotion(module);
    }

    /// Appends the entry withdrawing the persisted, not carried out promotion of `module`
    /// ([`Manager::logged_promotion`]). If the store refuses it, it is kept and tried once
    /// more with the next deferred work, as a breaker's entry is.
    fn withdraw_promotion(&mut self, module: ModuleId) {
        self.logged_promotion = None;
        let note = format!("promotion withdrawn: not carried out, module {} serves on", self.slot.serving());
        let event = self.event(EventKind::Rollback, &self.module_info(module), &note);
        self.flush_log();
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
    fn pre_transfer_done(&mut self, seat: usize) {
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
    fn abandon_promotion(&mut self, module: ModuleId, why: &str) {
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

    /// Notes that work was deferred now (the bound counts from the oldest).
    fn defer(&mut self) {
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

    /// The immune system asked the slot to roll back (`why`: its alarm, for the update log,
    /// docs/telemetry.md; `alarm`: its fields for the line at the end). Refused at once with
    /// the reason (nothing to roll back: logged like a manual refusal; a rollback already
    /// under way: `Busy`, which that rollback covers). Else taken (`None`) and carried out
    /// in steps like a rollback by hand (since `slots21`; [`Manager::hand_rollback_step`]):
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

    /// The narrow path for the commonest message of all: a shadowing challenger's answer to
    /// its mirrored copy (docs/slots.md, "A copy's answer: the narrow path"). `badge` must be
    /// a seat's; `label` and `words` its message, `reply` its saved call. Taken, with `Ok`,
    /// only when the answer can change nothing but the evidence's counters: the seat runs a
    /// module, holds no saved call and no queued work, and its current work is a copy of a
    /// request; the words fit [`crate::MAX_WORDS`] and the label is none of the seat
    /// protocol's own (`READY`, `STATE`, `IMPORTED`); [`Manager::narrow_allowed`] holds (no
    /// promotion under way and none by hand, no roles to reschedule, not N-version, the seat
    /// not catching up, diverged or handing off: checked once per generation, see
    /// [`Seat::verified`]); no clock check is due ([`Manager::tick`]); and
    /// [`Slot::copy_answer`] applies (the comparator exact, no rollback window, the module
    /// shadowing with its faults within the policy: once per slot generation, through the
    /// seat's [`CopyTicket`]; short of `min_agreeing` compared, the serving answer in, the
    /// copy pending and in time). The answer is then compared in place with the serving
    /// module's and counted exactly as [`Manager::received`] would, the seat keeps the call
    /// for its next work, and nothing else happens (no send: the seat has nothing queued; no
    /// outcome: the verdict cannot change). Otherwise `Err(reply)` with nothing changed but
    /// the seat's ticket (one clock read): the caller hands the message to
    /// [`Manager::received`], the general path, which keeps every rule.
    pub fn copy_answer(&mut self, badge: u64, label: u64, words: &[u64], reply: ReplyCap) -> Result<(), ReplyCap> {
        // The seat and its current work first: the serving module's answer (no copy), which
        // comes once per request, is refused by the first checks.
        let seat = usize::try_from(badge & !SEAT_BADGE).unwrap_or(usize::MAX);
        let Some(s) = self.seats.get(seat) else { return Err(reply) };
        let (Role::Module(module), Some(Job::Request { id, copy_until: Some(_), .. })) = (s.role, &s.current) else { return Err(reply) };
        let id = *id;
        if badge & SEAT_BADGE == 0
            || words.len() > crate::MAX_WORDS
            || matches!(label, READY | STATE | IMPORTED)
            || s.caller.is_some()
            || !s.queue.is_empty()
        {
            return Err(reply);
        }
        if s.verified == self.generation {
            debug_assert!(self.narrow_allowed(seat), "seat {seat} verified in a generation that outlived a change: a missed bump");
        } else if !self.narrow_allowed(seat) {
            return Err(reply);
        }
        let now = self.clock.now();
        if now.saturating_sub(self.last_tick) >= CLOCK_CHECK_MICROS {
            return Err(reply);
        }
        // (The seat is there: it was looked up above.)
        let Some(s) = self.seats.get_mut(seat) else { return Err(reply) };
        let worked = now.saturating_sub(s.current_since);
        if self.slot.copy_answer(&mut s.ticket, id, module, label, words, now, worked).is_none() {
            return Err(reply);
        }
        s.verified = self.generation;
        // As the general path leaves it: the seat's call saved for its next work, its copy
        // done (the request's message dropped with it if nothing else holds it). The job is a
        // request (matched above): its message is dropped here, in line, rather than through
        // the general drop of any job.
        match s.current.take() {
            Some(Job::Request { message, .. }) => drop(message),
            other => drop(other),
        }
        s.caller = Some(reply);
        self.entry_step_done = false;
        self.message_at = now;
        Ok(())
    }

    /// The narrow path's conditions that [`Seat::verified`] vouches for while the manager's
    /// generation is unchanged: no promotion under way and none by hand, no roles to
    /// reschedule, not N-version; `seat` not catching up, diverged or handing off.
    fn narrow_allowed(&self, seat: usize) -> bool {
        self.seats.get(seat).is_some_and(|s| !s.catching_up && !s.diverged && s.handing.is_none())
            && !self.reschedule_due
            && self.lineages.is_none()
            && self.hand.is_none()
            && !self.promotion_under_way()
    }

    /// Notes when the message being handled arrived ([`Manager::message_at`]), and
    /// [`Manager::tick`]s if [`CLOCK_CHECK_MICROS`] have passed since the last tick.
    fn check_clock(&mut self) {
        let now = self.clock.now();
        self.message_at = now;
        if now.saturating_sub(self.last_tick) >= CLOCK_CHECK_MICROS {
            self.tick();
        }
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

    // ---------------------------------------------------------------------------------
    // Clients and dispatch.

    fn client_request(&mut self, badge: u64, label: u64, words: &[u64], reply: ReplyCap) {
        // A service request is a MESSAGE. Any other label is answered as a module answers a
        // label it does not know, without reaching one: passed on, the seat protocol's
        // EXPORT and IMPORT would be the manager's work to the module (its state handed to
        // the client, or replaced by the client's).
        if label != MESSAGE {
            self.host.reply(reply, &Message::error(ProtocolError::UnknownLabel));
            return;
        }
        if self.inflight.has_client(badge) {
            self.stats.busy += 1;
            self.host.note(format_args!("slot {}: client {badge:#x} called with a request outstanding: refused", self.config.name));
            self.host.reply(reply, &Message::error(ProtocolError::Busy));
            return;
        }
        if self.inflight.len() >= self.config.queue_limit {
            self.stats.full += 1;
            self.host.reply(reply, &Message::error(ProtocolError::Busy));
            return;
        }
        let now = self.message_at;
        let message = self.kept_message(label, words);
        if self.lineages.is_some() {
            self.ballot_request(badge, message, reply, now);
            return;
        }
        let mirror = self.slot.request(now);
        let id = mirror.request;
        self.inflight.insert(InFlight { id, badge, reply, message: message.clone(), arrived: now });
        if self.send_to_waiting(id, &message, &mirror) {
            return;
        }
        match self.seat_of(Role::Module(mirror.serve)) {
            Some(seat) => self.push(seat, Job::Request { id, message: message.clone(), copy_until: None }),
            None => self.fail_request(id, mirror.serve),
        }
        for k in 0..mirror.copies {
            let Some(&module) = self.slot.mirrored().get(k) else { break };
            if let Some(seat) = self.seat_of(Role::Module(module)) {
                self.push_copy(seat, id, &message, mirror.deadline);
            }
        }
        if mirror.replica
            && let Some(seat) = self.seat_of(Role::Replica)
        {
            self.push_copy(seat, id, &message, mirror.deadline);
        }
    }

    /// A client request's message of `label` and `words`, shared by every seat and record
    /// that holds it: in the storage of a kept one that nothing holds any more (written in
    /// place), else new (and kept if fewer than [`KEPT_MESSAGES`] are). So once warm the
    /// serving path neither allocates nor frees a request's message: the last holder to drop
    /// it (the serving answer's delivery, or the last copy's answer) only decrements a count.
    fn kept_message(&mut self, label: u64, words: &[u64]) -> Rc<Message> {
        if let Some(kept) = self.messages.iter_mut().find(|m| Rc::strong_count(m) == 1)
            && let Some(message) = Rc::get_mut(kept)
        {
            message.label = label;
            message.words.clear();
            message.words.extend_from_slice(words);
            return kept.clone();
        }
        let message = Rc::new(Message { label, words: words.to_vec() });
        if self.messages.len() < KEPT_MESSAGES {
            self.messages.push(message.clone());
        }
        message
    }

    /// The common case of [`Manager::client_request`], done in one [`Seats::reply_all`] (the
    /// glue: one system call, not one per seat): the serving module's seat and every seat a
    /// copy of request `id` goes to (`mirror`'s) wait for work with nothing queued, and none
    /// of the copies' seats is catching up. Each is then sent the request at once, in the
    /// order and with the state the general path ([`Manager::push`],
    /// [`Manager::push_copy`]) gives it: the same jobs, only the sends made together.
    /// `false`, with nothing done, when any seat does not qualify (or the serving module has
    /// no seat) or no copy is made: the general path queues, paces and sends then.
    fn send_to_waiting(&mut self, id: RequestId, message: &Rc<Message>, mirror: &Mirror) -> bool {
        if mirror.copies == 0 && !mirror.replica {
            // One send: the general path's is the shorter.
            return false;
        }
        // The seats, found once per pair of generations: they depend only on the roles (the
        // manager's) and on the serving and mirrored modules (the slot's).
        let generations = (self.generation, self.slot.generation());
        if self.plan_for == Some(generations) {
            if cfg!(debug_assertions) {
                let (mut n, mut same) = (0, true);
                let found = self.seat_plan(mirror, |seat| {
                    same &= self.batch_seats.get(n) == Some(&seat);
                    n += 1;
                });
                debug_assert!(found && same && n == self.batch_seats.len(), "a seat plan outlived a change: a missed bump");
            }
        } else {
            let mut seats = core::mem::take(&mut self.batch_seats);
            seats.clear();
            let found = self.seat_plan(mirror, |seat| seats.push(seat));
            self.batch_seats = seats;
            if !found {
                self.plan_for = None;
                return false;
            }
            self.plan_for = Some(generations);
        }
        // The fields apart (no list taken out and put back on every request).
        let Self { seats: all, batch_seats: seats, batch: callers, host, message_at, .. } = self;
        // The serving seat first; a copy's seat must not be catching up (paced mirroring).
        let waiting = seats.iter().enumerate().all(|(k, &seat)| {
            all.get(seat).is_some_and(|s| s.current.is_none() && s.queue.is_empty() && s.caller.is_some() && (k == 0 || !s.catching_up))
        });
        if waiting {
            callers.clear();
            for (k, &seat) in seats.iter().enumerate() {
                let Some(s) = all.get_mut(seat) else { continue };
                let Some(caller) = s.caller.take() else { continue };
                callers.push(caller);
                s.current = Some(Job::Request { id, message: message.clone(), copy_until: (k > 0).then_some(mirror.deadline) });
                s.current_since = *message_at;
            }
            host.reply_all(callers, message);
        }
        waiting
    }

    /// Gives `each` the seats request `mirror` goes to, in order: the serving module's, then
    /// those of the modules it is mirrored to that have one, then the replica's if it gets a
    /// copy. `false` when the serving module has no seat (none given), or when a mirrored
    /// module's copies are held back ([`Manager::copies_held`]: the general path queues
    /// them; the seats given so far are to be dropped).
    fn seat_plan(&self, mirror: &Mirror, mut each: impl FnMut(usize)) -> bool {
        let Some(serving) = self.seat_of(Role::Module(mirror.serve)) else { return false };
        each(serving);
        for k in 0..mirror.copies {
            let Some(&module) = self.slot.mirrored().get(k) else { break };
            if let Some(seat) = self.seat_of(Role::Module(module)) {
                if self.copies_held(seat) {
                    return false;
                }
                each(seat);
            }
        }
        if mirror.replica
            && let Some(seat) = self.seat_of(Role::Replica)
        {
            each(seat);
        }
        true
    }

    /// The serving module cannot answer request `id`: its client gets `Failed` and the slot
    /// is told the exchange is over (an empty answer: nothing is compared with it, the serving
    /// module's copies were handed over).
    fn fail_request(&mut self, id: RequestId, serving: ModuleId) {
        let now = self.clock.now();
        let (answered, out) = self.slot.answer(id, Responder::Module(serving), &[], now);
        if let Some(flight) = self.inflight.remove(id) {
            self.stats.failed += 1;
            self.stats.answered += 1;
            self.host.reply(flight.reply, &Message::error(ProtocolError::Failed));
        }
        if answered != Answered::Deliver {
            self.host.note(format_args!("slot {}: request {id} failed ({answered:?})", self.config.name));
        }
        self.process(out);
    }

    fn seat_of(&self, role: Role) -> Option<usize> {
        if role == Role::Empty {
            return None;
        }
        self.seats.iter().position(|s| s.role == role)
    }

    /// Queues `job` for `seat` and dispatches. A seat whose module waits with nothing queued
    /// (the common case) is sent the job at once, past the queue.
    fn push(&mut self, seat: usize, job: Job) {
        let held = matches!(job, Job::Request { copy_until: Some(_), .. }) && self.copies_held(seat);
        let Some(s) = self.seats.get_mut(seat) else { return };
        if !held
            && s.current.is_none()
            && s.queue.is_empty()
            && !matches!(job, Job::Import { state: None, .. })
            && let Some(caller) = s.caller.take()
        {
            self.send_job(seat, caller, job);
            return;
        }
        s.queue.push_back(job);
        self.dispatch(seat);
    }

    /// A mirrored copy, paced (docs/slots.md, "Paced mirroring"). A module's state is the
    /// sum of the requests it got, so copies are sent in order without gaps while the seat
    /// keeps up: it holds at most `queue_limit` of them. A copy beyond that is **skipped**,
    /// and so is every copy after it until the seat has answered all it holds (catching
    /// up); then it imports the serving module's state (one export in the serving module's
    /// queue, after everything it was sent) and is mirrored again from the next request. A
    /// skipped copy is settled with the slot at once: not compared (`Slot::copy_skipped`),
    /// or a timeout (`Slot::copy_dropped`) when the seat's oldest copy is already past its
    /// deadline (its module is not answering in time, and would not have answered this one
    /// either). So the client never waits for a mirror, the mirror's memory is bounded, its
    /// compared requests come in gapless runs of at least `queue_limit` (every request while
    /// it keeps up), and each run costs the serving module at most one export.
    ///
    /// N-version lineages are not paced: one more copy is dropped and the seat marked
    /// diverged; when its module next calls, its queued copies are dropped and it imports a
    /// lineage's state again.
    fn push_copy(&mut self, seat: usize, id: RequestId, message: &Rc<Message>, deadline: Ticks) {
        let limit = self.config.queue_limit.max(1);
        let now = self.message_at;
        let Some(s) = self.seats.get_mut(seat) else { return };
        let is_copy = |job: &Job| matches!(job, Job::Request { copy_until: Some(_), .. });
        let copies = s.queue.iter().filter(|job| is_copy(job)).count();
        if let Role::Lineage(_) = s.role {
            if copies >= limit {
                s.diverged = true;
                self.generation += 1;
                self.copies_dropped(seat, &[id]);
                return;
            }
        } else if s.catching_up || copies >= limit {
            s.catching_up = true;
            self.generation += 1;
            let oldest = s.current.iter().chain(s.queue.iter()).find_map(|job| match job {
                Job::Request { copy_until: Some(until), .. } => Some(*until),
                _ => None,
            });
            self.stats.skipped += 1;
            s.missed += 1;
            // Journaled before it is settled: settling may trip the breaker (a timeout), and
            // the rollback then replays the journal.
            let journaled = self.journal_insert(seat, id, message);
            if oldest.is_some_and(|until| now > until) {
                self.copies_dropped(seat, &[id]);
            } else {
                self.copy_skipped(seat, id);
            }
            if journaled {
                self.check_journal(seat);
            }
            return;
        }
        self.push(seat, Job::Request { id, message: message.clone(), copy_until: Some(deadline) });
    }

    /// The copy of request `id` that `seat` will not get (paced mirroring) is settled with
    /// the slot as not compared.
    fn copy_skipped(&mut self, seat: usize, id: RequestId) {
        let Some(responder) = self.copy_responder(seat) else { return };
        let out = self.slot.copy_skipped(id, responder, self.message_at);
        self.process(out);
    }

    /// The copies of `requests` that `seat` held and will not run (dropped for an import,
    /// [`Manager::bring_up_to_date`]) are settled with the slot as not compared, as
    /// [`Manager::copy_skipped`] of each in turn would, in one call ([`Slot::copies_skipped`]:
    /// one pass over the exchanges in place of one per copy; since `slots45`).
    ///
    /// [`Slot::copies_skipped`]: tileos_slots::Slot::copies_skipped
    fn copies_skipped(&mut self, seat: usize, requests: &[RequestId]) {
        let Some(responder) = self.copy_responder(seat) else { return };
        let out = self.slot.copies_skipped(requests, responder, self.message_at);
        self.process(out);
    }

    /// Whom the copies `seat` is sent speak for in the slot: its module, or the noise
    /// replica; `None` for a seat whose copies the slot does not await (empty, leaving, a
    /// lineage).
    fn copy_responder(&self, seat: usize) -> Option<Responder> {
        match self.seats.get(seat).map(|s| s.role) {
            Some(Role::Module(module)) => Some(Responder::Module(module)),
            Some(Role::Replica) => Some(Responder::Replica),
            _ => None,
        }
    }

    /// Whether `seat` runs the warm module (the previous incumbent during a rollback window).
    fn is_warm_seat(&self, seat: usize) -> bool {
        matches!(self.seats.get(seat).map(|s| s.role), Some(Role::Module(m)) if self.slot.warm() == Some(m))
    }

    /// Adds request `id` to the journal of `seat` if it runs the warm module (docs/slots.md,
    /// "The warm module's journal"), in request order; returns whether it did.
    fn journal_insert(&mut self, seat: usize, id: RequestId, message: &Rc<Message>) -> bool {
        if !self.is_warm_seat(seat) {
            return false;
        }
        self.journal_add(seat, id, message);
        true
    }

    /// Adds request `id` to the journal of `seat`, in request order (nearly always at the end).
    fn journal_add(&mut self, seat: usize, id: RequestId, message: &Rc<Message>) {
        let Some(s) = self.seats.get_mut(seat) else { return };
        if s.journal.iter().any(|(x, _, _)| *x == id) {
            return;
        }
        let at = s.journal.iter().rposition(|(x, _, _)| *x < id).map_or(0, |at| at + 1);
        s.journal.insert(at, (id, message.clone(), None));
        if let Some((_, covered)) = &mut s.journal_import
            && at < *covered
        {
            // Older than what the pending import was asked to cover: it covers this one too.
            *covered = covered.saturating_add(1);
        }
    }

    /// Adds the requests `items` to the journal of `seat` as [`Manager::journal_add`] does
    /// each (in request order, once, the pending import's cover kept), in one pass over the
    /// journal: the copies a module held, dropped at once for an import
    /// ([`Manager::bring_up_to_date`]), are older than the copies it skipped since, which are
    /// journaled already, so each `journal_add` searched and moved the journal (since
    /// `slots44`; in a rollback's catch-up step, 32 copies into 54 entries, ≈ 40 % of the
    /// step on a booted tile).
    fn journal_merge(&mut self, seat: usize, items: &mut [(RequestId, Rc<Message>)]) {
        items.sort_by_key(|(id, _)| *id);
        let Some(s) = self.seats.get_mut(seat) else { return };
        let covered = s.journal_import.map(|(_, n)| n);
        let mut old = core::mem::take(&mut s.journal).into_iter().peekable();
        let mut merged = VecDeque::with_capacity(old.len() + items.len());
        let (mut old_before, mut newly_covered) = (0usize, 0usize);
        for (id, message) in items.iter() {
            while let Some(entry) = old.next_if(|(x, _, _)| x < id) {
                merged.push_back(entry);
                old_before += 1;
            }
            if old.peek().is_some_and(|(x, _, _)| x == id) || merged.back().is_some_and(|(x, _, _)| x == id) {
                continue;
            }
            // Inserted one by one, it lands before the cover's end exactly when fewer old
            // entries than the cover precede it.
            newly_covered += usize::from(covered.is_some_and(|n| old_before < n));
            merged.push_back((*id, message.clone(), None));
        }
        merged.extend(old);
        s.journal = merged;
        if let Some((_, n)) = &mut s.journal_import {
            *n = n.saturating_add(newly_covered);
        }
    }

    /// Keeps the warm module's journal bounded: past [`JOURNAL_LIMIT_QUEUES`] × `queue_limit`
    /// entries no import covers, the warm module is brought up to date
    /// ([`Manager::bring_up_to_date`]), unless an import already waits for its state (the
    /// serving module exports it after at most `queue_limit` requests, so at most
    /// `queue_limit` more requests can arrive meanwhile: the journal holds at most
    /// (`JOURNAL_LIMIT_QUEUES` + 3) × `queue_limit` + 1 entries, docs/slots.md).
    fn check_journal(&mut self, seat: usize) {
        let limit = self.config.queue_limit.max(1);
        let Some(s) = self.seats.get(seat) else { return };
        let covered = s.journal_import.map_or(0, |(_, n)| n.min(s.journal.len()));
        let waiting = s.queue.iter().any(|job| matches!(job, Job::Import { state: None, .. }));
        if s.journal.len() - covered > JOURNAL_LIMIT_QUEUES * limit && !waiting {
            self.bring_up_to_date(seat);
        }
    }

    /// The warm module's journal would overflow: the warm module imports the serving
    /// module's state next (after the work in progress and any export it owes), which covers
    /// the whole journal. The copies it holds are dropped into the journal (the import
    /// covers them; settled with the slot as not compared), and it is mirrored again from
    /// the next request on, its copies queued behind the import.
    fn bring_up_to_date(&mut self, seat: usize) {
        let Some(source) = self.seat_of(Role::Module(self.slot.serving())).filter(|&x| x != seat) else { return };
        let transfer = self.next_transfer();
        let mut held = Vec::new();
        if let Some(s) = self.seats.get_mut(seat) {
            s.queue.retain(|job| match job {
                Job::Request { id, message, copy_until: Some(_) } => {
                    held.push((*id, message.clone()));
                    false
                }
                _ => true,
            });
            s.missed += held.len() as u64;
            s.catching_up = false;
        }
        self.journal_merge(seat, &mut held);
        self.stats.skipped += held.len() as u64;
        let ids: Vec<RequestId> = held.iter().map(|(id, _)| *id).collect();
        self.copies_skipped(seat, &ids);
        let Some(s) = self.seats.get_mut(seat) else { return };
        if !matches!(s.role, Role::Module(_)) {
            return;
        }
        s.queue.push_back(Job::Import { state: None, transfer });
        s.import_covers = s.missed;
        s.journal_import = Some((transfer, s.journal.len()));
        let entries = s.journal.len();
        self.stats.journal_imports += 1;
        let count = self.stats.journal_imports;
        // Logged at the first and then every 64th (each line lengthens a client's call).
        if count % 64 == 1 {
            self.host
                .note(format_args!("@event slot.journal-import slot={} seat={seat} entries={entries} count={count}", self.config.name));
        }
        self.push(source, Job::Export { target: seat, transfer });
    }

    /// The state of import `transfer` of `seat` arrived: the import is in the module's hands
    /// now (it is applied unless the module itself fails, and then there is nothing to
    /// restore), so the journal entries it covers leave the journal (their messages are
    /// released in later steps, [`Manager::release_step`]: freed here they were most of this
    /// message's busy span, ≈ 24,000 for 54 entries on a booted tile, `slots45`), and so
    /// are the older imports still queued for the seat (this state is newer and covers
    /// them). A restored module waiting for it replays what no import covers.
    fn journal_state_arrived(&mut self, seat: usize, transfer: u64) {
        let Some(s) = self.seats.get_mut(seat) else { return };
        let Some((t, covered)) = s.journal_import else { return };
        if t != transfer {
            return;
        }
        s.journal_import = None;
        let covered = covered.min(s.journal.len());
        let rest = s.journal.split_off(covered);
        let entries = core::mem::replace(&mut s.journal, rest);
        self.release_later(entries.into_iter());
        let Some(s) = self.seats.get_mut(seat) else { return };
        if let Some(at) = s.queue.iter().position(|job| matches!(job, Job::Import { transfer: x, .. } if *x == transfer)) {
            let mut k = 0;
            s.queue.retain(|job| {
                let older = k < at && matches!(job, Job::Import { .. });
                k += 1;
                !older
            });
        }
        self.replay_journal(seat);
    }

    /// A restored module (serving now) replays its journal before it serves: each request
    /// its state misses (its copy skipped, or dropped for an import that did not come) whose
    /// client was answered already, in order, ahead of every later request in its queue;
    /// the answers are discarded, and ahead of any export queued meanwhile (the exported
    /// state must hold them). A request still in flight is served by it in its place
    /// (not replayed: its client waits for that answer). The journal holds no entry an
    /// import with its state in hand covers ([`Manager::journal_state_arrived`]); while an
    /// import waits for its state, nothing is replayed yet (called again when the state
    /// arrives or the import is abandoned).
    fn replay_journal(&mut self, seat: usize) {
        let serving = self.slot.serving();
        let Some(s) = self.seats.get_mut(seat) else { return };
        if s.journal.is_empty() || s.role != Role::Module(serving) {
            return;
        }
        if s.queue.iter().any(|job| matches!(job, Job::Import { state: None, .. })) {
            return;
        }
        // No import waits for its state: one that covered entries was abandoned.
        s.journal_import = None;
        let entries: Vec<(RequestId, Rc<Message>, Option<u64>)> = s.journal.drain(..).collect();
        let mut replayed = 0u64;
        for (id, message, answered) in entries {
            let in_flight = self.inflight.get(id).is_some();
            let Some(s) = self.seats.get_mut(seat) else { return };
            if in_flight {
                // Not acknowledged: the restored module serves it, in its place (not behind
                // later requests: it may have been sent to it at the back already).
                if s.current.as_ref().is_some_and(|job| matches!(job, Job::Request { id: x, .. } if *x == id)) {
                    continue;
                }
                if let Some(old) = s.queue.iter().position(|job| matches!(job, Job::Request { id: x, .. } if *x == id)) {
                    s.queue.remove(old);
                }
            }
            let at = in_request_order(&s.queue, id);
            if in_flight {
                s.queue.insert(at, Job::Request { id, message, copy_until: None });
            } else {
                s.queue.insert(at, Job::Replay { id, message, answered });
                replayed += 1;
            }
        }
        if replayed > 0 {
            self.host.note(format_args!("@event slot.replay slot={} seat={seat} requests={replayed}", self.config.name));
        }
        self.dispatch(seat);
    }

    /// A seat that was catching up ([`Manager::push_copy`]) and now holds no copy imports
    /// the serving module's state again, to be mirrored from the next request on.
    fn resync_if_caught_up(&mut self, seat: usize) {
        let Some(s) = self.seats.get_mut(seat) else { return };
        // Nearly every answer: nothing to look at (the queue is searched only while catching up).
        if !s.catching_up {
            return;
        }
        if s.current.iter().chain(s.queue.iter()).any(|job| matches!(job, Job::Request { copy_until: Some(_), .. })) {
            return;
        }
        s.catching_up = false;
        self.stats.resyncs += 1;
        let resyncs = self.stats.resyncs;
        // Logged at the first and then every 64th (each line lengthens a client's call).
        if resyncs % 64 == 1 {
            self.host.note(format_args!(
                "@event slot.mirror-paced slot={} seat={seat} resyncs={resyncs} skipped={}",
                self.config.name, self.stats.skipped
            ));
        }
        self.transfer_state(seat);
    }

    /// The copies of requests `ids` that `seat` will never get are settled with the slot at
    /// once (as timeouts), so their exchanges do not wait out the answer deadline.
    fn copies_dropped(&mut self, seat: usize, ids: &[RequestId]) {
        let Some(responder) = self.copy_responder(seat) else { return };
        let now = self.clock.now();
        for &id in ids {
            let out = self.slot.copy_dropped(id, responder, now);
            self.process(out);
        }
    }

    /// Sends the seat's next job if its module waits for work (and its copies are not held
    /// back: [`Manager::copies_held`]).
    fn dispatch(&mut self, seat: usize) {
        let held = self.copies_held(seat) || self.import_superseded(seat);
        let Some(s) = self.seats.get_mut(seat) else { return };
        if held || s.current.is_some() || s.caller.is_none() || matches!(s.queue.front(), None | Some(Job::Import { state: None, .. })) {
            return;
        }
        let (Some(job), Some(caller)) = (s.queue.pop_front(), s.caller.take()) else { return };
        self.send_job(seat, caller, job);
    }

    /// Whether `seat`'s next job is an import that a newer one, still waiting for its state,
    /// will supersede, during a rollback's catch-up ([`Manager::catch_up_before_rollback`]):
    /// the warm module waits for the newer state (its arrival drops the older import,
    /// [`Manager::journal_state_arrived`]), so that the import it does is of a state the
    /// promoted module exported at the catch-up, after every request acknowledged until
    /// then; a manager restarted during that import then finds the incumbent with every one
    /// of them (the journal, in the manager's memory, is gone). If the newer state never
    /// comes (the promoted module faults first), the older import is abandoned with it and
    /// the restored module gets the older one and replays its journal, as before.
    fn import_superseded(&self, seat: usize) -> bool {
        self.restoring == Some(seat)
            && self.seats.get(seat).is_some_and(|s| {
                matches!(s.queue.front(), Some(Job::Import { state: Some(_), .. }))
                    && s.queue.iter().skip(1).any(|job| matches!(job, Job::Import { state: None, .. }))
            })
    }

    /// Answers `seat`'s waiting call `caller` with `job`, which becomes its current work.
    fn send_job(&mut self, seat: usize, caller: ReplyCap, job: Job) {
        match &job {
            // The request as the client sent it (shared, not copied, with the other seats).
            Job::Request { message, .. } | Job::Replay { message, .. } => self.host.reply(caller, message),
            Job::Export { .. } => self.host.reply(caller, &Message::empty(EXPORT)),
            Job::Import { state, .. } => {
                self.host.reply(caller, &Message { label: IMPORT, words: state.as_deref().cloned().unwrap_or_default() })
            }
        }
        if let Some(s) = self.seats.get_mut(seat) {
            s.current = Some(job);
            s.current_since = self.message_at;
        }
    }

    fn module_call(&mut self, seat: usize, label: u64, words: &[u64], reply: ReplyCap) {
        let reply = match self.install.as_mut().map(|job| &mut job.phase) {
            Some(InstallPhase::Started { seat: installing, ready: ready @ None, .. }) if *installing == seat && label == READY => {
                // The installed module's READY before its entry: kept for the entry's step.
                *ready = Some(reply);
                return;
            }
            _ => {
                self.install_steps_first(seat);
                reply
            }
        };
        let Some(s) = self.seats.get_mut(seat) else { return };
        if s.handing.is_some() {
            self.handing_call(seat, label, words, reply);
            return;
        }
        if let Role::Leaving(_) = s.role {
            // Its answer to work it had when it left: nobody waits for it. Its call is kept,
            // so the module waits, blocked, until its seat is reclaimed.
            if let Some(old) = s.caller.replace(reply) {
                self.host.release(old);
            }
            return;
        }
        if s.role == Role::Empty || self.rebuilds.iter().any(|r| r.seat == seat) {
            self.stats.violations += 1;
            let what = if s.role == Role::Empty { "runs no module" } else { "is being rebuilt (no module runs)" };
            self.host.note(format_args!("slot {}: call from seat {seat}, which {what}", self.config.name));
            self.host.release(reply);
            return;
        }
        if let Some(old) = s.caller.take() {
            self.stats.violations += 1;
            self.host.release(old);
        }
        let current = s.current.take();
        let worked = self.message_at.saturating_sub(s.current_since);
        let mut answer: Option<RequestId> = None;
        let mut import_refused = None;
        let mut imported = None;
        match (label, current) {
            (READY, current) => {
                s.started_at = None;
                if s.schedule == Some(SeatSchedule::Start) {
                    // Started in pieces at priority 0 and now up: the schedule it should have.
                    self.reschedule_due = true;
                }
                // A fresh module: what it had been sent is lost with its predecessor.
                if let Some(job) = current {
                    s.queue.push_front(job);
                }
                if core::mem::take(&mut s.needs_state) {
                    s.caller = Some(reply);
                    self.ready_for_state(seat);
                    self.dispatch(seat);
                    return;
                }
            }
            (STATE, Some(Job::Export { target, transfer })) => {
                // The exporter may shadow now.
                self.reschedule_due = true;
                self.generation += 1;
                if let Some(switch) = &mut self.switching
                    && switch.transfer
                    && switch.exported.is_none()
                {
                    switch.exported = Some(self.message_at);
                }
                let state = Rc::new(words.to_vec());
                let waiting = |j: &&mut Job| matches!(j, Job::Import { state: None, transfer: t } if *t == transfer);
                if let Some(t) = self.seats.get_mut(target)
                    && let Some(Job::Import { state: slot @ None, .. }) = t.queue.iter_mut().find(waiting)
                {
                    *slot = Some(state);
                }
                self.journal_state_arrived(target, transfer);
                self.dispatch(target);
            }
            (IMPORTED, Some(Job::Import { transfer, .. })) => {
                let code = words.first().copied().unwrap_or(u64::from(ImportRefusal::Malformed as u8));
                import_refused = ImportRefusal::from_code(code);
                if import_refused.is_none() {
                    s.in_step = s.import_covers;
                    imported = Some(transfer);
                }
                if let (Role::Module(id), Some(switch)) = (s.role, &mut self.switching)
                    && switch.module == id
                    && switch.ready.is_none()
                {
                    switch.ready = Some(self.clock.now());
                }
            }
            // Whatever a module sends while a request is outstanding is its answer (a label
            // the service protocol does not have reaches the client as such).
            (_, Some(Job::Request { id, .. })) => answer = Some(id),
            // A journal request replayed: its client has its answer already, which this one
            // is compared with.
            (_, Some(Job::Replay { id, answered, .. })) => {
                self.stats.replayed += 1;
                if let Some(answered) = answered {
                    self.stats.replay_compared += 1;
                    if answer_digest(label, words) != answered {
                        self.stats.replay_disagreed += 1;
                        let count = self.stats.replay_disagreed;
                        self.host.note(format_args!(
                            "@event slot.replay-disagreed slot={} seat={seat} request={id} count={count}",
                            self.config.name
                        ));
                    }
                }
            }
            (STATE | IMPORTED, current) => {
                self.stats.violations += 1;
                self.host.note(format_args!("slot {}: seat {seat} sent label {label:#x} for {current:?}", self.config.name));
                if let Some(Job::Export { target, transfer }) = current {
                    self.unblock(target, transfer);
                }
            }
            (label, current) => {
                self.stats.violations += 1;
                self.host
                    .note(format_args!("slot {}: seat {seat} answered (label {label:#x}) with no request outstanding", self.config.name));
                if let Some(Job::Export { target, transfer }) = current {
                    self.unblock(target, transfer);
                }
            }
        }
        if let Some(s) = self.seats.get_mut(seat) {
            s.caller = Some(reply);
        }
        if let Some(refusal) = import_refused {
            self.host.note(format_args!("slot {}: seat {seat} refused the state ({refusal:?}): treated as a fault", self.config.name));
            self.seat_failed(seat, false);
            return;
        }
        if imported.is_some() {
            self.pre_transfer_done(seat);
        }
        if let Some(id) = answer {
            // Compared as bytes, in the kept buffer (no allocation per answer).
            let mut bytes = core::mem::take(&mut self.answer_bytes);
            message_bytes_into(label, words, &mut bytes);
            self.answered(seat, id, &bytes, worked);
            self.answer_bytes = bytes;
        }
        self.resync_if_caught_up(seat);
        if let Some(s) = self.seats.get_mut(seat)
            && core::mem::take(&mut s.diverged)
        {
            self.host.note(format_args!(
                "slot {}: seat {seat} fell {} copies behind: it imports the state again",
                self.config.name, self.config.queue_limit
            ));
            self.transfer_state(seat);
        }
        self.dispatch(seat);
    }

    /// The module of `seat` answered request `id` with `bytes`, `worked` after it was sent
    /// the request (a copy's latency: its wait in the seat's queue is the pacing's).
    fn answered(&mut self, seat: usize, id: RequestId, bytes: &[u8], worked: Ticks) {
        let role = self.seats.get(seat).map(|s| s.role).unwrap_or(Role::Empty);
        let now = self.message_at;
        let responder = match role {
            Role::Module(module) => Responder::Module(module),
            Role::Replica => Responder::Replica,
            Role::Lineage(k) => {
                if let Some(l) = &mut self.lineages
                    && let Some(ballot) = l.ballots.get_mut(&id)
                    && !ballot.answered[k]
                {
                    ballot.answered[k] = true;
                    ballot.answers[k] = Some(bytes.to_vec());
                }
                self.count_ballot(id, false);
                return;
            }
            Role::Empty | Role::Leaving(_) => return,
        };
        let (answered, out) = self.slot.answer_worked(id, responder, bytes, now, Some(worked));
        if answered == Answered::Deliver {
            let arrived = self.inflight.get(id).map(|f| f.arrived);
            self.deliver(id, bytes);
            if let (Some(switch), Responder::Module(by)) = (self.switching, responder)
                && switch.module == by
            {
                self.switching = None;
                // Its parts: the promotion until the module was ready, and the delivered
                // request's own time in the manager (arrival to delivery).
                let ready = switch.ready.unwrap_or(now).saturating_sub(switch.since);
                let exported = switch.exported.map_or(0, |at| at.saturating_sub(switch.since));
                self.host.note(format_args!(
                    "@event slot.switch slot={} module={} first_answer_micros={} ready_micros={ready} exported_micros={exported} request_micros={} transfer={} before_switch={} pre_transfer_micros={}",
                    self.config.name,
                    switch.module,
                    now.saturating_sub(switch.since),
                    now.saturating_sub(arrived.unwrap_or(now)),
                    switch.transfer,
                    switch.pre_transfer.is_some(),
                    switch.pre_transfer.unwrap_or(0),
                ));
            }
        }
        self.process(out);
    }

    /// Delivers `bytes` to the client of request `id` (once: a second delivery finds nobody).
    fn deliver(&mut self, id: RequestId, bytes: &[u8]) {
        let Some(flight) = self.inflight.remove(id) else { return };
        self.stats.answered += 1;
        // Into the kept answer (no allocation once it has held the longest).
        let mut message = core::mem::replace(&mut self.answer_message, Message::empty(0));
        if !message.read_bytes(bytes) {
            message = Message::error(ProtocolError::Failed);
        }
        self.host.reply(flight.reply, &message);
        // A request journaled before its answer keeps the digest of what its client got, for
        // its replay: only the warm module's journal takes requests before they are answered
        // (during a window), besides a hand-off's ([`Manager::handing_call`] records those).
        if self.slot.warm().is_some() {
            self.record_answer_digest(id, &message);
        }
        self.answer_message = message;
    }

    /// Keeps the digest of `message`, the answer request `id`'s client got, in the journal
    /// entries of `id` (docs/slots.md, "Replays compared"). Out of line: the clients'
    /// path only tests whether a window is open.
    #[cold]
    #[inline(never)]
    fn record_answer_digest(&mut self, id: RequestId, message: &Message) {
        if self.seats.iter().all(|s| s.journal.is_empty()) {
            return;
        }
        let digest = answer_digest(message.label, &message.words);
        for s in &mut self.seats {
            if let Ok(at) = s.journal.binary_search_by_key(&id, |(x, _, _)| *x) {
                s.journal[at].2 = Some(digest);
            }
        }
    }

    /// Carries out what the slot decided: the circuit breaker's rollbacks written to the
    /// update log first ([`Manager::log_breaker_rollbacks`]).
    fn process(&mut self, out: Outcome) {
        if out.transitions.is_empty() && out.deliver.is_empty() && out.reissue.is_empty() {
            // Nearly every answer: nothing to carry out.
            return;
        }
        self.log_breaker_rollbacks(&out);
        for transition in &out.transitions {
            self.transition(transition);
        }
        let handed: Vec<RequestId> =
            self.seats.iter().filter_map(|s| s.handing.as_ref()).flat_map(|(ids, _)| ids.iter().copied()).collect();
        for delivery in &out.deliver {
            // A request the rolled-back module still answers ([`Manager::hand_off`]) is not
            // answered from the restored module's copy, made in a state that was behind.
            if !handed.contains(&delivery.request) {
                self.deliver(delivery.request, &delivery.answer);
            }
        }
        if out.transitions.iter().any(|t| matches!(t.to, State::RolledBack | State::Retired)) {
            self.adopt();
            self.restored_waits_for_hand_off();
            if let Some(seat) = self.seat_of(Role::Module(self.slot.serving())) {
                self.replay_journal(seat);
            }
        }
        let serving = self.slot.serving();
        for id in out.reissue {
            if handed.contains(&id) {
                continue;
            }
            let Some(message) = self.inflight.get(id).map(|f| f.message.clone()) else { continue };
            // Sent to it already ([`Manager::adopt`] sends a request no seat holds any more).
            let held = |job: &Job| matches!(job, Job::Request { id: x, copy_until: None, .. } if *x == id);
            if self
                .seat_of(Role::Module(serving))
                .and_then(|seat| self.seats.get(seat))
                .is_some_and(|s| s.current.iter().chain(s.queue.iter()).any(held))
            {
                continue;
            }
            match self.seat_of(Role::Module(serving)) {
                Some(seat) => self.push(seat, Job::Request { id, message, copy_until: None }),
                None => self.fail_request(id, serving),
            }
        }
    }

    /// After a handover (rollback, or the warm module leaving), the serving module's copies
    /// of requests still in flight are now the requests it serves: they are no longer
    /// dropped at their deadline, and a request that no seat holds any more (its copy was
    /// dropped) is sent to it again.
    fn adopt(&mut self) {
        let Some(seat) = self.seat_of(Role::Module(self.slot.serving())) else { return };
        let waiting: Vec<RequestId> = self.inflight.ids().collect();
        let mut missing = Vec::new();
        let Some(s) = self.seats.get_mut(seat) else { return };
        for job in s.queue.iter_mut().chain(s.current.iter_mut()) {
            if let Job::Request { id, copy_until, .. } = job
                && self.inflight.get(*id).is_some()
            {
                *copy_until = None;
            }
        }
        for id in waiting {
            let held = |job: &Job| matches!(job, Job::Request { id: held, copy_until: None, .. } if *held == id);
            let anywhere = self.seats.iter().any(|s| s.current.iter().chain(s.queue.iter()).any(held));
            if !anywhere {
                missing.push(id);
            }
        }
        for id in missing {
            if let Some(message) = self.inflight.get(id).map(|f| f.message.clone()) {
                self.push(seat, Job::Request { id, message, copy_until: None });
            }
        }
    }

    fn transition(&mut self, t: &Transition) {
        self.reschedule_due = true;
        self.generation += 1;
        if matches!(t.to, State::Rejected | State::Retired | State::RolledBack)
            && (self.pre_transfer.is_some_and(|p| p.module == t.module) || self.start_due == Some(t.module))
        {
            // It left the slot before its promotion's switch: the import still happens, and
            // promotes nothing (the persisted entry is withdrawn by the deferred work). A
            // shortfall of evidence meanwhile is found at the switch.
            self.abandon_promotion(t.module, &format!("it left the slot ({:?})", t.reason));
        }
        let name = self.config.name.clone();
        self.host.note(format_args!(
            "@event slot.transition slot={name} module={} from={} to={} reason={:?}",
            t.module,
            state_name(t.from),
            state_name(t.to),
            t.reason
        ));
        match (t.to, t.reason) {
            (State::Promotable, _) if self.config.policy.auto_promote => {
                // Promoted by the deferred work, once the entry is in the log.
                self.policy_due = Some(t.module);
                self.defer();
            }
            (State::Settled, _) if self.config.policy.auto_promote => {
                // The window closed: a module that became promotable meanwhile is due now.
                let waiting = self.slot.modules().find(|m| m.state == State::Promotable).map(|m| m.id);
                if let Some(waiting) = waiting {
                    self.policy_due = Some(waiting);
                    self.defer();
                }
            }
            (State::Promoted, _) => {
                let now = self.clock.now();
                self.switching =
                    Some(Switch { module: t.module, since: now, ready: Some(now), transfer: false, pre_transfer: None, exported: None });
                if let Some((module, took)) = self.in_step_for.filter(|(module, _)| *module == t.module) {
                    // Transferred just before the switch, with no request in between
                    // ([`PreTransfer`]): its state is the warm module's now.
                    self.switching =
                        Some(Switch { module, since: now, ready: Some(now), transfer: true, pre_transfer: Some(took), exported: None });
                    return;
                }
                // State moves by transfer, at every promotion: the warm module exports
                // after every request it was sent, the promoted one imports before any
                // request it serves (docs/slots.md, "State moves by transfer").
                let promoted = self.seat_of(Role::Module(t.module));
                if let (Some(warm), Some(promoted)) = (self.slot.warm().and_then(|w| self.seat_of(Role::Module(w))), promoted) {
                    let transfer = self.next_transfer();
                    if let Some(s) = self.seats.get_mut(promoted) {
                        // Its copies still queued are of requests the warm module was sent,
                        // so the state it exports after them holds their effect, and the
                        // slot compares none of them any more (a promotion clears every
                        // copy): dropped, not computed before the import (they lengthened
                        // the switch by the module's backlog).
                        s.queue.retain(|job| !matches!(job, Job::Request { copy_until: Some(_), .. }));
                        s.queue.push_back(Job::Import { state: None, transfer });
                    }
                    if let Some(switch) = &mut self.switching {
                        switch.ready = None;
                        switch.transfer = true;
                    }
                    self.push(warm, Job::Export { target: promoted, transfer });
                }
            }
            (State::RolledBack, _) => {
                // A switch to it is over (its deferred work need not wait for its answer).
                if self.switching.is_some_and(|switch| switch.module == t.module) {
                    self.switching = None;
                }
                // Its entry is in the log already: a breaker's was written first
                // (`process`), a manual one before the slot decided it.
                if !self.hand_off(t.module) {
                    self.park_module(t.module);
                }
            }
            (State::Rejected | State::Retired, _) => self.park_module(t.module),
            _ => {}
        }
    }

    /// Module `module` left the slot: its seat is parked ([`Role::Leaving`]). It gets no
    /// more work; its saved call (or, if it is working, its next one) is kept unanswered, so
    /// it waits blocked and costs nothing. The root server's teardown of its domain (tens
    /// of thousands of instructions, `seat.stopped … ticks=`) waits until the seat is
    /// needed again, so that it never lands in a client's call at a promotion or rollback.
    fn park_module(&mut self, module: ModuleId) {
        let Some(seat) = self.seat_of(Role::Module(module)) else { return };
        let now = self.clock.now();
        let caller = self.seats.get_mut(seat).and_then(|s| s.caller.take());
        let jobs = self.clear_seat(seat);
        if let Some(s) = self.seats.get_mut(seat) {
            s.role = Role::Leaving(now);
            self.generation += 1;
            s.program = None;
            s.caller = caller;
            s.started_at = None;
        }
        self.unblock_exports(&jobs);
    }

    /// A rollback to a module that is behind (copies of it were skipped since its last
    /// import: "Paced mirroring"): instead of restoring it with a state that lacks those
    /// requests, the rolled-back module `module` answers the requests it already has
    /// (at most `queue_limit`; their clients get its answers, as at a promotion the warm
    /// module answers the requests it was serving), then exports its state, which the
    /// restored module imports before any request it serves. Whether it did (`false`: the
    /// module cannot hand off: no seat, no module running, or its own import not done;
    /// the restored module serves with the state it has).
    fn hand_off(&mut self, module: ModuleId) -> bool {
        let Some(from) = self.seat_of(Role::Module(module)) else { return false };
        let Some(to) = self.seat_of(Role::Module(self.slot.serving())) else { return false };
        let (Some(f), Some(t)) = (self.seats.get(from), self.seats.get(to)) else { return false };
        let behind = t.missed > t.in_step || t.catching_up;
        let importing = f.current.iter().chain(f.queue.iter()).any(|job| matches!(job, Job::Import { .. } | Job::Export { .. }));
        let alive = f.caller.is_some() || f.current.is_some();
        if !behind || importing || !alive {
            return false;
        }
        let requests: Vec<RequestId> = f
            .current
            .iter()
            .chain(f.queue.iter())
            .filter_map(|job| match job {
                Job::Request { id, copy_until: None, .. } => Some(*id),
                _ => None,
            })
            .collect();
        let transfer = self.next_transfer();
        let now = self.clock.now();
        if let Some(f) = self.seats.get_mut(from) {
            f.queue.retain(|job| matches!(job, Job::Request { copy_until: None, .. }));
            f.queue.push_back(Job::Export { target: to, transfer });
            f.role = Role::Leaving(now);
            f.program = None;
            f.started_at = None;
            f.handing = Some((requests, to));
            self.generation += 1;
        }
        self.host.note(format_args!("@event slot.hand-off slot={} from_seat={from} to_seat={to}", self.config.name));
        self.dispatch(from);
        true
    }

    /// After a hand-off's deliveries and handover: the restored module drops its queued
    /// copies and the requests the rolled-back module still answers (that state comes with
    /// the import), and waits for the import before anything else.
    fn restored_waits_for_hand_off(&mut self) {
        let Some((from, requests, to)) =
            self.seats.iter().enumerate().find_map(|(i, s)| s.handing.as_ref().map(|(ids, to)| (i, ids.clone(), *to)))
        else {
            return;
        };
        let Some(transfer) = self.seats.get(from).and_then(|f| {
            f.current.iter().chain(f.queue.iter()).find_map(|job| match job {
                Job::Export { transfer, .. } => Some(*transfer),
                _ => None,
            })
        }) else {
            return;
        };
        let mut dropped = Vec::new();
        if let Some(t) = self.seats.get_mut(to) {
            t.catching_up = false;
            t.queue.retain(|job| match job {
                Job::Request { id, message, copy_until: Some(_) } => {
                    dropped.push((*id, message.clone()));
                    false
                }
                // An import with its state in hand is kept (the journal entries it covers are
                // gone): the hand-off's import follows it.
                Job::Import { state, .. } => state.is_some(),
                Job::Request { id, .. } => !requests.contains(id),
                Job::Export { .. } | Job::Replay { .. } => true,
            });
            let at = t.queue.iter().rposition(|job| matches!(job, Job::Import { .. })).map_or(0, |at| at + 1);
            t.queue.insert(at, Job::Import { state: None, transfer });
            t.import_covers = t.missed;
        }
        // Journaled: if the hand-off fails, the restored module replays them (with what the
        // rolled-back module answers meanwhile, `handing_call`); the import covers them all.
        for (id, message) in &dropped {
            self.journal_add(to, *id, message);
        }
        if let Some(t) = self.seats.get_mut(to) {
            t.journal_import = Some((transfer, usize::MAX));
        }
    }

    /// A call of a module handing off ([`Manager::hand_off`]): an answer to one of the
    /// requests it still answers is delivered (the slot hears it as the restored module's:
    /// it serves them now); its state goes to the restored module's import, and then it is
    /// parked.
    fn handing_call(&mut self, seat: usize, label: u64, words: &[u64], reply: ReplyCap) {
        let Some(s) = self.seats.get_mut(seat) else { return };
        if let Some(old) = s.caller.replace(reply) {
            self.stats.violations += 1;
            self.host.release(old);
        }
        let current = s.current.take();
        let now = self.message_at;
        match (label, current) {
            (STATE, Some(Job::Export { target, transfer })) => {
                let state = Rc::new(words.to_vec());
                if let Some(s) = self.seats.get_mut(seat) {
                    s.handing = None;
                }
                let waiting = |j: &&mut Job| matches!(j, Job::Import { state: None, transfer: t } if *t == transfer);
                if let Some(t) = self.seats.get_mut(target)
                    && let Some(Job::Import { state: slot @ None, .. }) = t.queue.iter_mut().find(waiting)
                {
                    *slot = Some(state);
                }
                self.journal_state_arrived(target, transfer);
                self.dispatch(target);
                // Parked now: it gets no more work, its call is kept.
                return;
            }
            (READY | STATE | IMPORTED, current) => {
                // A restarted or confused module: it cannot hand off. What it still had goes
                // to the restored module.
                self.stats.violations += 1;
                if let Some(job) = current
                    && let Some(s) = self.seats.get_mut(seat)
                {
                    s.queue.push_front(job);
                }
                let caller = self.seats.get_mut(seat).and_then(|s| s.caller.take());
                let jobs = self.clear_seat(seat);
                if let Some(s) = self.seats.get_mut(seat) {
                    s.caller = caller;
                }
                self.unblock_exports(&jobs);
                return;
            }
            (_, Some(Job::Request { id, .. })) => {
                let mut bytes = core::mem::take(&mut self.answer_bytes);
                message_bytes_into(label, words, &mut bytes);
                if let Some(s) = self.seats.get_mut(seat)
                    && let Some((ids, _)) = &mut s.handing
                {
                    ids.retain(|x| *x != id);
                }
                let served = self.slot.serving();
                let restored = self.seats.get(seat).and_then(|s| s.handing.as_ref()).map(|(_, to)| *to);
                if let (Some(to), Some(message)) = (restored, self.inflight.get(id).map(|f| f.message.clone())) {
                    // Acknowledged now and in the restored module's state only through the
                    // import: replayed if the hand-off fails.
                    self.journal_add(to, id, &message);
                }
                let (_, out) = self.slot.answer(id, Responder::Module(served), &bytes, now);
                let delivered = self.inflight.get(id).is_some();
                self.deliver(id, &bytes);
                if delivered && self.slot.warm().is_none() {
                    let message = Message::from_bytes(&bytes).unwrap_or_else(|| Message::error(ProtocolError::Failed));
                    self.record_answer_digest(id, &message);
                }
                self.answer_bytes = bytes;
                self.process(out);
            }
            (_, current) => {
                self.stats.violations += 1;
                if let Some(Job::Export { target, transfer }) = current {
                    self.unblock(target, transfer);
                }
            }
        }
        self.dispatch(seat);
    }

    /// Tears down a parked seat's module now (the slot needs the seat).
    fn reclaim_seat(&mut self, seat: usize) {
        if matches!(self.seats.get(seat).map(|s| s.role), Some(Role::Leaving(_))) {
            self.stop_seat(seat);
        }
    }

    /// After a restart: the modules the manager before it started in the seats the root
    /// server does not start at boot (seats 1 and up; 3 and up in an N-version slot), a
    /// challenger, a module promoted or one whose promotion the restart cut, run on unknown
    /// to this manager; each is stopped, so that its seat is free for the next install (the
    /// root server refuses a start in a running seat) and its `READY`s stop. An empty seat's
    /// refusal (`NotRunning`) is expected. One root-server call per seat, at the start only.
    fn stop_predecessors_seats(&mut self) {
        let first = if self.lineages.is_some() { 3 } else { 1 };
        for seat in first..self.seats.len() {
            let Ok(number) = u8::try_from(seat) else { break };
            match self.host.supervisor(&supervisor::Request::SeatStop { seat: number }) {
                Ok(supervisor::Response::SeatStopped) => self.host.note(format_args!(
                    "@event slot.seat-reclaimed slot={} seat={seat} (its module was started before the manager's restart)",
                    self.config.name
                )),
                Ok(supervisor::Response::Refused(supervisor::Refusal::NotRunning(_))) => {}
                other => self.host.note(format_args!("slot {}: stopping seat {seat} after the restart: {other:?}", self.config.name)),
            }
        }
    }

    /// The lineage layout at the manager's start: lineage `k` in seat `k`, the spare seat
    /// free, and each position in `replaced` (the log holds a `LineageReplaced` entry for
    /// it) running the fallback. A replacement is a decision of the signed update log, and
    /// the fallback is a built-in program, so it stands at a restart and at a boot: the
    /// fallback is started in the position's own seat (after a `SeatStop` of whatever ran
    /// there: the lineage the root server started at boot, or, after a restart, a fallback
    /// of the predecessor's; a `NotRunning` answer expected), `@event
    /// slot.lineage-replacement-restored`. After a restart (its predecessor's seats from 3
    /// up were stopped), each other position's seat that does not run is started again with
    /// its lineage's program (`@event slot.lineage-restored`; a `SeatRunning` refusal
    /// expected). A seat started again imports a lineage's state, as a restarted lineage
    /// does. Dissent counts start again (the evidence is not in the log).
    fn restore_lineages(&mut self, replaced: [bool; 3]) {
        let restart = self.config.generation > 0;
        for (k, replaced) in (0..3u8).zip(replaced) {
            if replaced {
                match self.host.supervisor(&supervisor::Request::SeatStop { seat: k }) {
                    Ok(supervisor::Response::SeatStopped | supervisor::Response::Refused(supervisor::Refusal::NotRunning(_))) => {}
                    other => self
                        .host
                        .note(format_args!("slot {}: stopping seat {k} for the fallback of lineage {k}: {other:?}", self.config.name)),
                }
                self.clear_seat(usize::from(k));
            } else if !restart {
                continue;
            }
            let program = if replaced { SeatProgram::Fallback } else { SeatProgram::Lineage(k) };
            // Not a restart: the fallback is another module, and a lineage started again here
            // may have been stopped by the predecessor rather than at a fault (the manager
            // cannot tell which), so it is not counted.
            match self.host.supervisor(&supervisor::Request::SeatStart { seat: k, program, restart: false }) {
                Ok(supervisor::Response::SeatStarted { generation, ticks }) => {
                    self.started(k, generation, ticks, start_schedule(k));
                    if let Some(s) = self.seats.get_mut(usize::from(k)) {
                        s.needs_state = restart;
                        s.program = Some(Program::Named(program));
                    }
                    let event = if replaced { "lineage-replacement-restored" } else { "lineage-restored" };
                    self.host
                        .note(format_args!("@event slot.{event} slot={} lineage={k} seat={k} generation={generation}", self.config.name));
                    if replaced
                        && let Some(l) = &mut self.lineages
                        && let Some(name) = l.names.get_mut(usize::from(k))
                    {
                        name.clone_from(&l.fallback);
                    }
                }
                Ok(supervisor::Response::Refused(supervisor::Refusal::SeatRunning)) if !replaced => {}
                other => self.host.note(format_args!(
                    "slot {}: {} could not be started in seat {k} at the manager's start: {other:?}",
                    self.config.name,
                    if replaced { "the fallback of lineage" } else { "lineage" }
                )),
            }
        }
    }

    /// Stops a seat's module and forgets its work.
    fn stop_seat(&mut self, seat: usize) {
        let Ok(number) = u8::try_from(seat) else { return };
        match self.host.supervisor(&supervisor::Request::SeatStop { seat: number }) {
            Ok(supervisor::Response::SeatStopped) => {}
            other => self.host.note(format_args!("slot {}: stopping seat {seat}: {other:?}", self.config.name)),
        }
        let jobs = self.clear_seat(seat);
        if let Some(s) = self.seats.get_mut(seat) {
            s.role = Role::Empty;
            self.generation += 1;
            s.program = None;
        }
        self.unblock_exports(&jobs);
    }

    /// Empties a seat's queue and saved call; returns the jobs it had.
    fn clear_seat(&mut self, seat: usize) -> Vec<Job> {
        let Some(s) = self.seats.get_mut(seat) else { return Vec::new() };
        if let Some(caller) = s.caller.take() {
            self.host.release(caller);
        }
        s.needs_state = false;
        s.diverged = false;
        s.catching_up = false;
        (s.missed, s.in_step, s.import_covers) = (0, 0, 0);
        let entries = core::mem::take(&mut s.journal);
        s.journal_import = None;
        s.schedule = None;
        let handing = s.handing.take();
        self.reschedule_due = true;
        self.generation += 1;
        let mut jobs: Vec<Job> = s.current.take().into_iter().collect();
        jobs.extend(s.queue.drain(..));
        self.release_later(entries.into_iter());
        if let Some((requests, restored)) = handing {
            // It stopped before answering them all: the restored module serves the rest
            // (with the state it has), each in its place among the requests it was sent
            // during the hand-off (not behind them: its answer would count later requests).
            for id in requests {
                if let Some(message) = self.inflight.get(id).map(|f| f.message.clone())
                    && let Some(r) = self.seats.get_mut(restored)
                {
                    let at = in_request_order(&r.queue, id);
                    r.queue.insert(at, Job::Request { id, message, copy_until: None });
                }
            }
            self.dispatch(restored);
        }
        jobs
    }

    fn unblock_exports(&mut self, jobs: &[Job]) {
        for job in jobs {
            if let Job::Export { target, transfer } = job {
                self.unblock(*target, *transfer);
            }
        }
    }

    /// A number for a state transfer (an export and the import waiting for it).
    fn next_transfer(&mut self) -> u64 {
        self.transfers += 1;
        self.transfers
    }

    /// Seat `target` waited for the state of `transfer`, which will not come: it goes on
    /// without.
    fn unblock(&mut self, target: usize, transfer: u64) {
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
    fn ready_for_state(&mut self, seat: usize) {
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
    fn transfer_state(&mut self, seat: usize) {
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

    /// The module of `seat` faulted (`stopped`: the supervisor stopped it already) or broke
    /// the protocol badly enough to be treated so.
    fn seat_failed(&mut self, seat: usize, stopped: bool) {
        self.seat_lost(seat, stopped, None);
    }

    /// [`Manager::seat_failed`], or, with `unanswered` (the request and its wait), the
    /// promoted module taken for hung ([`Manager::fail_hung_serving`]): stopped here, and the
    /// slot told [`Slot::unanswered`] instead of [`Slot::faulted`].
    fn seat_lost(&mut self, seat: usize, stopped: bool, unanswered: Option<(RequestId, Ticks)>) {
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
    fn restart(&mut self, seat: usize, again: bool) {
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
        };
        self.rebuilt(seat, &program, result, now, 1);
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
    fn rebuilding(&self, module: ModuleId) -> Option<(usize, usize, usize)> {
        self.rebuilds.iter().find(|r| r.role == Role::Module(module)).map(|r| (r.seat, r.staged.unwrap_or(0), r.elf.len()))
    }

    /// Stages `elf` for seat `seat` in chunks.
    fn load(&mut self, seat: u8, elf: &[u8]) -> Result<(), String> {
        let length = u32::try_from(elf.len()).map_err(|_| "the ELF is larger than 4 GiB".to_string())?;
        self.seat_request(&supervisor::Request::SeatLoad { seat, length })?;
        for (index, chunk) in elf.chunks(SEAT_CHUNK).enumerate() {
            let offset = (index * SEAT_CHUNK) as u32;
            let bytes = heapless::Vec::from_slice(chunk).map_err(|_| "chunk".to_string())?;
            self.seat_request(&supervisor::Request::SeatChunk { seat, offset, bytes })?;
        }
        Ok(())
    }

    /// Starts seat `seat` with `program` at once (`SeatStart`, a `restart` of the seat's
    /// module or not); returns its generation.
    fn start(&mut self, seat: u8, program: SeatProgram, restart: bool) -> Result<u64, String> {
        match self.seat_request(&supervisor::Request::SeatStart { seat, program, restart })? {
            supervisor::Response::SeatStarted { generation, ticks } => Ok(self.started(seat, generation, ticks, start_schedule(seat))),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    /// One piece of a seat's start in pieces: `request` is its `SeatBegin` or a
    /// `SeatContinue`. Returns the seat's generation once it runs (`None`: pieces remain).
    fn start_piece(&mut self, request: &supervisor::Request) -> Result<Option<u64>, String> {
        let seat = match *request {
            supervisor::Request::SeatBegin { seat, .. } | supervisor::Request::SeatContinue { seat } => seat,
            _ => return Err("not a piece of a start".to_string()),
        };
        match self.seat_request(request)? {
            supervisor::Response::SeatBuilding { .. } => Ok(None),
            // A module built in pieces starts at priority 0 (its start-up is not inside this
            // step); the glue raises it once no build step follows (`raise_started`), or
            // its READY does.
            supervisor::Response::SeatStarted { generation, ticks } => Ok(Some(self.started(seat, generation, ticks, SeatSchedule::Start))),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    /// Seat `seat` runs, at `generation`, with `schedule`, the root server's own part of the
    /// call `ticks`: its schedule and start time; returns `generation`.
    fn started(&mut self, seat: u8, generation: u64, ticks: u64, schedule: SeatSchedule) -> u64 {
        let now = self.clock.now();
        self.start_ticks = Some(ticks);
        if let Some(s) = self.seats.get_mut(usize::from(seat)) {
            s.schedule = Some(schedule);
            s.started_at = Some(now);
        }
        self.reschedule_due = true;
        self.generation += 1;
        generation
    }

    /// Gives the serving module the incumbent's schedule and every other module the
    /// challengers' (N-version lineages keep theirs: they all serve). A module that owes a
    /// state export keeps, or gets, the serving schedule until it has sent it: the promoted
    /// module's import, and the clients waiting behind it, are never held up by a
    /// challenger's budget.
    ///
    /// Raising a module to the serving schedule is done at once; lowering one waits for
    /// [`Manager::deferred`] (a root-server call no client needs to wait for), and its
    /// mirrored copies wait with it ([`Manager::copies_held`]). A module
    /// started in pieces ([`SeatSchedule::Start`], priority 0) keeps that here until its
    /// READY (its start-up is never inside a step), unless it is to serve: then it is raised
    /// at once; the glue raises it sooner, at the manager's own priority, once no build step
    /// follows ([`Manager::raise_started`]).
    fn reschedule(&mut self) {
        self.reschedule_to(false);
    }

    /// [`Manager::reschedule`]; lowers schedules too when `lower`.
    fn reschedule_to(&mut self, lower: bool) {
        if self.lineages.is_some() || !core::mem::take(&mut self.reschedule_due) {
            return;
        }
        for seat in 0..self.seats.len() {
            let Some(s) = self.seats.get(seat) else { continue };
            let Some(current) = s.schedule else { continue };
            let wanted = self.wanted_schedule(seat);
            if wanted == current || current == SeatSchedule::Start && wanted == SeatSchedule::Shadow && s.started_at.is_some() {
                continue;
            }
            if wanted == SeatSchedule::Shadow && current == SeatSchedule::Serving && !lower {
                if !self.lowering_due {
                    // Its copies are held back from now on ([`Manager::copies_held`]): not
                    // on the narrow path's plan.
                    self.generation += 1;
                }
                self.lowering_due = true;
                self.defer();
                continue;
            }
            self.set_schedule(seat, wanted);
        }
        self.release_held_copies();
    }

    /// Whether seat `seat`'s mirrored copies are held back (since `slots44`): its module
    /// serves no more (the warm incumbent after a promotion's switch) but still has the
    /// serving schedule, whose lowering waits for a deferred step of its own
    /// ([`Manager::reschedule`]), and it holds nothing but copies. A copy sent to it now
    /// would run at the serving priority, above the step priority and the clients: beside
    /// the promoted module's first requests, and for the rest of it inside the very step
    /// that lowers it (with a long request, CRC-32 a bit at a time in the demo slot's
    /// incumbent, ≈ 16,000 instructions more in that step). Held, its copies queue in
    /// order (paced as ever: `queue_limit`, then skipped and journaled) and go out once it is
    /// lowered ([`Manager::release_held_copies`]); they are still its work, so the module
    /// stays a rollback target with every request, and a rollback meanwhile (it serves
    /// again) releases them. A client request or any other job queued for it is sent in
    /// order as ever, copies ahead of it included.
    fn copies_held(&self, seat: usize) -> bool {
        self.lowering_due
            && self.seats.get(seat).is_some_and(|s| {
                matches!(s.role, Role::Module(_))
                    && s.schedule == Some(SeatSchedule::Serving)
                    && s.queue.iter().all(|job| matches!(job, Job::Request { copy_until: Some(_), .. }))
            })
            && self.wanted_schedule(seat) == SeatSchedule::Shadow
    }

    /// Sends the next job of every module that waits for work with work queued: the copies
    /// held back ([`Manager::copies_held`]) once they are held no more (it was lowered, or
    /// serves again; at a rollback the held copy of a request its client still waits for
    /// has become that request: `Manager::adopt`). Nothing else leaves a waiting module
    /// with work queued. Called whenever the schedules are gone through, as every change
    /// that ends a hold is followed by that.
    fn release_held_copies(&mut self) {
        for seat in 0..self.seats.len() {
            let waits = self
                .seats
                .get(seat)
                .is_some_and(|s| matches!(s.role, Role::Module(_)) && s.caller.is_some() && s.current.is_none() && !s.queue.is_empty());
            if waits {
                self.dispatch(seat);
            }
        }
    }

    /// The schedule seat `seat`'s module should run with now: the serving one if it serves,
    /// exports its state or is being promoted or restored, the challengers' otherwise.
    fn wanted_schedule(&self, seat: usize) -> SeatSchedule {
        let serving = self.seat_of(Role::Module(self.slot.serving()));
        let Some(s) = self.seats.get(seat) else { return SeatSchedule::Shadow };
        let promoting = self.pre_transfer.is_some_and(|p| p.seat == seat) || self.restoring == Some(seat);
        if Some(seat) == serving || s.exporting() || promoting { SeatSchedule::Serving } else { SeatSchedule::Shadow }
    }

    /// Gives seat `seat`'s module `schedule` (`SeatSchedule`, a root-server call).
    fn set_schedule(&mut self, seat: usize, schedule: SeatSchedule) {
        let Ok(number) = u8::try_from(seat) else { return };
        let result = self.seat_request(&supervisor::Request::SeatSchedule { seat: number, schedule });
        let Some(s) = self.seats.get_mut(seat) else { return };
        match result {
            Ok(supervisor::Response::SeatScheduled) => s.schedule = Some(schedule),
            other => {
                // Not running after all (its fault is on its way): asked again at its restart.
                s.schedule = None;
                self.host.note(format_args!("slot {}: seat {seat} schedule {schedule:?}: {other:?}", self.config.name));
            }
        }
    }

    /// Whether a module started in pieces still runs at priority 0
    /// ([`SeatSchedule::Start`]) with no build step of the manager's to follow: the glue
    /// then raises it ([`Manager::raise_started`]) at its own priority.
    pub fn raise_due(&self) -> bool {
        self.lineages.is_none()
            && !self.install_steppable()
            && !self.rebuild_pending()
            && self.seats.iter().any(|s| s.schedule == Some(SeatSchedule::Start))
    }

    /// Gives every module still at [`SeatSchedule::Start`] the schedule it should have
    /// (docs/slots.md, "Installs"): called by the glue at the manager's own priority once
    /// no build step follows ([`Manager::raise_due`]), so that the module's start-up, which
    /// then runs above the install's and rebuild's steps, is in none of them and a client
    /// above the challengers preempts it. A module's `READY` raises it too (it is up).
    pub fn raise_started(&mut self) {
        for seat in 0..self.seats.len() {
            if self.seats.get(seat).is_some_and(|s| s.schedule == Some(SeatSchedule::Start)) {
                let wanted = self.wanted_schedule(seat);
                self.set_schedule(seat, wanted);
            }
        }
    }

    /// A message's handling (at the manager's own priority) that ended an install's steps
    /// (`steppable` before it): no build step follows now, so the modules a rebuild left at
    /// priority 0 while those steps were under way are raised here ([`Manager::raise_due`]),
    /// not at their `READY` (which needs time at priority 0 that a busy tile never gives).
    fn raise_if_install_ended(&mut self, steppable: bool) {
        if steppable && self.raise_due() {
            self.raise_started();
        }
    }

    fn seat_request(&mut self, request: &supervisor::Request) -> Result<supervisor::Response, String> {
        match self.host.supervisor(request) {
            Ok(supervisor::Response::Refused(refusal)) => Err(format!("the root server refused: {refusal:?}")),
            Ok(response) => Ok(response),
            Err(error) => Err(format!("the call to the root server failed: {error:?}")),
        }
    }

    // ---------------------------------------------------------------------------------
    // N-version.

    fn ballot_request(&mut self, badge: u64, message: Rc<Message>, reply: ReplyCap, now: Ticks) {
        let deadline = now.saturating_add(self.config.policy.answer_deadline);
        let Some(l) = &mut self.lineages else { return };
        let id = l.next;
        l.next += 1;
        l.ballots.insert(id, Ballot { answers: [None, None, None], answered: [false; 3], delivered: false, deadline });
        let seats = l.seats;
        self.inflight.insert(InFlight { id, badge, reply, message: message.clone(), arrived: now });
        for seat in seats {
            // Every lineage's answer counts, but none may hold the client past the deadline.
            self.push_copy(seat, id, &message, deadline);
        }
    }

    /// Counts ballot `id`: delivers the majority answer as soon as there is one; once every
    /// lineage answered (or `expired`), records the vote and replaces a dissenter past the
    /// threshold.
    fn count_ballot(&mut self, id: RequestId, expired: bool) {
        let Some(l) = &mut self.lineages else { return };
        let Some(ballot) = l.ballots.get_mut(&id) else { return };
        let answers = [ballot.answers[0].as_deref(), ballot.answers[1].as_deref(), ballot.answers[2].as_deref()];
        let outcome = vote(answers, |a, b| a == b);
        let mut deliver = None;
        if !ballot.delivered
            && let VoteOutcome::Unanimous(answer) | VoteOutcome::Majority { answer, .. } = outcome
        {
            ballot.delivered = true;
            deliver = Some(answer.to_vec());
        }
        let done = expired || ballot.answered.iter().all(|a| *a);
        let mut fail = false;
        let mut replacement = None;
        if done {
            fail = !ballot.delivered;
            if matches!(outcome, VoteOutcome::NoMajority) {
                self.stats.no_majority += 1;
            }
            replacement = l.record.record(&outcome);
            l.ballots.remove(&id);
        }
        if let Some(answer) = deliver {
            self.deliver(id, &answer);
        }
        if fail && let Some(flight) = self.inflight.remove(id) {
            self.stats.failed += 1;
            self.stats.answered += 1;
            self.host.reply(flight.reply, &Message::error(ProtocolError::Failed));
        }
        if let Some(r) = replacement {
            self.replace_lineage(r.lineage, r.dissents);
        }
    }

    /// Lineage position `k` dissented too often: the fallback takes it over in the spare
    /// seat, and its old seat becomes the spare.
    fn replace_lineage(&mut self, k: usize, dissents: u32) {
        let Some(l) = &self.lineages else { return };
        let (Some(spare), Some(&old)) = (l.spare, l.seats.get(k)) else {
            self.host.note(format_args!("slot {}: lineage {k} dissented {dissents} times, but there is no spare seat", self.config.name));
            return;
        };
        // The update-log entry first (persisted before the replacement is reported or made);
        // the replacement does not wait for the store: a refused entry is kept and tried
        // once more as deferred work, then counted in `log_failures` (as a breaker's).
        let cut_name = |name: &str| cut(name, MAX_NAME);
        let replaced = ModuleRef { module: cut_name(&l.names[k.min(2)]), version: String::new(), content_hash: [0; 32] };
        let fallback = ModuleInfo { name: l.fallback.clone(), version: String::new(), hash: [0; 32] };
        let note = format!(
            "lineage {k} dissented {dissents} times (replace_after {}): the fallback takes its place in seat {spare}",
            dissents.saturating_sub(1)
        );
        let lineage = u8::try_from(k).unwrap_or(u8::MAX);
        let event = UpdateEvent {
            kind: EventKind::LineageReplaced { lineage, dissents, replaced },
            ..self.event(EventKind::Install, &fallback, &note)
        };
        self.flush_log();
        self.append_or_keep(event, format_args!("the replacement of lineage {k}"));
        self.host.note(format_args!("@event slot.lineage-replaced slot={} lineage={k} dissents={dissents} seat={spare}", self.config.name));
        if let Some(l) = &mut self.lineages
            && let Some(name) = l.names.get_mut(k)
        {
            name.clone_from(&l.fallback);
        }
        if let Some(s) = self.seats.get_mut(spare) {
            s.role = Role::Lineage(k);
            self.generation += 1;
            s.program = Some(Program::Named(SeatProgram::Fallback));
        }
        // Another module in the spare seat: not a restart.
        self.restart(spare, false);
        self.stop_seat(old);
        if let Some(l) = &mut self.lineages {
            if let Some(slot) = l.seats.get_mut(k) {
                *slot = spare;
            }
            l.spare = Some(old);
        }
    }

    // ---------------------------------------------------------------------------------
    // Slot control.

    fn control(&mut self, access: Access, request: slots::Request) -> slots::Response {
        use slots::Request as R;
        // Whoever asks sees every entry the slot decided on (and the schedules it keeps),
        // each in the tree.
        self.hash_entries(usize::MAX);
        self.do_deferred();
        self.hash_entries(usize::MAX);
        let changes =
            matches!(request, R::InstallBegin { .. } | R::InstallChunk { .. } | R::InstallCommit | R::Promote { .. } | R::Rollback);
        if changes && access != Access::Full {
            return refused(RefusalKind::NotAllowed, "this client may read status and log only (control = 1)");
        }
        if self.install.is_some() && matches!(request, R::InstallBegin { .. } | R::InstallChunk { .. } | R::InstallCommit) {
            return refused(RefusalKind::Busy, "an install is under way (verifying or staging its bundle): one at a time");
        }
        match request {
            R::Status => slots::Response::Status(self.status()),
            R::InstallBegin { length } => {
                if length == 0 || length > self.config.max_bundle {
                    self.staging = None;
                    return refused(
                        RefusalKind::Staging,
                        &format!("a bundle of {length} bytes: the slot takes 1 to {} bytes", self.config.max_bundle),
                    );
                }
                self.staging = Some(Staging { length, bytes: Vec::new() });
                slots::Response::Staged { received: 0 }
            }
            R::InstallChunk { offset, bytes } => {
                let Some(staging) = &mut self.staging else {
                    return refused(RefusalKind::Staging, "a chunk with no staging under way (InstallBegin first)");
                };
                let received = staging.bytes.len() as u32;
                if offset != received {
                    return refused(RefusalKind::Staging, &format!("a chunk at byte {offset}: the next chunk starts at byte {received}"));
                }
                if u64::from(received) + bytes.len() as u64 > u64::from(staging.length) {
                    return refused(
                        RefusalKind::Staging,
                        &format!("a chunk of {} bytes at {offset} runs past the bundle's {} bytes", bytes.len(), staging.length),
                    );
                }
                if bytes.len() > MAX_CHUNK {
                    return refused(RefusalKind::Staging, "a chunk longer than the protocol allows");
                }
                staging.bytes.extend_from_slice(&bytes);
                slots::Response::Staged { received: staging.bytes.len() as u32 }
            }
            // Only a refusal reaches here (busy, or not allowed): `receive` starts the job.
            R::InstallCommit => refused(RefusalKind::Busy, "an install is under way: one at a time"),
            // A full client's are taken by `receive` (`promote_by_hand`, `rollback_by_hand`):
            // only a refusal here.
            R::Promote { .. } | R::Rollback => refused(RefusalKind::NotAllowed, "this client may read status and log only (control = 1)"),
            R::LogHead => {
                let head = self.log.signed_tree_head(self.log_time(), &self.config.log_key);
                let signature = heapless::Vec::from_slice(&head.signature).unwrap_or_default();
                slots::Response::Head(SignedHead {
                    tree_size: head.head.tree_size,
                    timestamp_ms: head.head.timestamp_ms,
                    root: head.head.root_hash,
                    signature,
                })
            }
            R::LogEntry { index } => match self.log.entry(index) {
                Some(entry) => match heapless::Vec::<u8, MAX_ENTRY>::from_slice(entry) {
                    Ok(bytes) => slots::Response::Entry { bytes },
                    Err(()) => refused(RefusalKind::NotFound, &format!("entry {index} is longer than one message")),
                },
                None => refused(RefusalKind::NotFound, &format!("no entry {index}: the log has {}", self.log.size())),
            },
            R::LogInclusion { index, tree_size } => {
                match self.tree_of(tree_size).and_then(|log| log.prove_inclusion_at(index, tree_size).map_err(|e| format!("{e}"))) {
                    Ok(proof) => Self::proof(&proof.path),
                    Err(reason) => refused(RefusalKind::NotFound, &reason),
                }
            }
            R::LogConsistency { old_size, new_size } => {
                match self.tree_of(new_size).and_then(|log| log.prove_consistency_between(old_size, new_size).map_err(|e| format!("{e}"))) {
                    Ok(proof) => Self::proof(&proof.path),
                    Err(reason) => refused(RefusalKind::NotFound, &reason),
                }
            }
        }
    }

    fn proof(path: &[[u8; 32]]) -> slots::Response {
        match heapless::Vec::<[u8; 32], MAX_PROOF>::from_slice(path) {
            Ok(hashes) => slots::Response::Proof { hashes },
            Err(()) => refused(RefusalKind::NotFound, "the proof is longer than one message"),
        }
    }

    /// The log, if it has a tree of `size` entries (its proofs at that size come from the
    /// nodes it stores: no rebuild, since `slots28`).
    fn tree_of(&self, size: u64) -> Result<&UpdateLog, String> {
        if size > self.log.size() {
            return Err(format!("no tree of {size} entries: the log has {}", self.log.size()));
        }
        Ok(&self.log)
    }

    fn status(&self) -> SlotStatus {
        let counters = self.slot.counters();
        let mut modules = heapless::Vec::<ModuleStatus, MAX_MODULES>::new();
        let name = |text: &str| -> heapless::String<MAX_NAME> { text.chars().take(MAX_NAME).collect() };
        if let Some(l) = &self.lineages {
            let dissents = l.record.dissents();
            for (k, &seat) in l.seats.iter().enumerate() {
                let program = match self.seats.get(seat).and_then(|s| s.program.as_ref()) {
                    Some(Program::Named(SeatProgram::Fallback)) => "fallback",
                    _ => "lineage",
                };
                let _ = modules.push(ModuleStatus {
                    module: k as u32,
                    name: name(program),
                    state: program.chars().take(16).collect(),
                    seat: seat as u8,
                    agreeing: 0,
                    disagreeing: u64::from(dissents.get(k).copied().unwrap_or(0)),
                    timeouts: 0,
                    faults: 0,
                    mean_latency: 0,
                });
            }
        } else {
            for view in self.slot.modules() {
                let info = self.modules.get(&view.id);
                let e = view.evidence;
                let _ = modules.push(ModuleStatus {
                    module: view.id,
                    name: name(info.map(|i| i.name.as_str()).unwrap_or("")),
                    state: state_name(view.state).chars().take(16).collect(),
                    seat: self.seat_of(Role::Module(view.id)).map(|s| s as u8).unwrap_or(u8::MAX),
                    agreeing: e.agreeing,
                    disagreeing: e.disagreeing,
                    timeouts: e.timeouts,
                    faults: u64::from(e.faults),
                    mean_latency: e.latency.mean().unwrap_or(0),
                });
            }
        }
        SlotStatus {
            name: name(&self.config.name),
            serving: self.slot.serving(),
            modules,
            installed: counters.installed,
            rejected: counters.rejected,
            promoted: counters.promoted,
            rolled_back: counters.rolled_back,
            requests: counters.requests,
            timeouts: counters.timeouts,
            log_size: self.log.size(),
            replayed: self.stats.replayed,
            replay_disagreed: self.stats.replay_disagreed,
        }
    }

    /// Starts the install of the staged bundle: the work is done by [`Manager::install_step`]
    /// (the bundle and where it starts), or the refusal at once (nothing staged, or not all).
    fn commit(&mut self) -> Result<(Vec<u8>, InstallPhase), Box<slots::Response>> {
        let Some(staging) = self.staging.take() else {
            return Err(Box::new(refused(RefusalKind::Staging, "a commit with no staging under way (InstallBegin first)")));
        };
        if staging.bytes.len() as u64 != u64::from(staging.length) {
            let reason = format!("a commit after {} of {} bytes", staging.bytes.len(), staging.length);
            return Err(Box::new(refused(RefusalKind::Staging, &reason)));
        }
        // The layout and the signer here (cheap); the signatures by the verifier domain.
        let phase = match Verification::start(&staging.bytes, &self.config.trusted).and_then(|v| Ok((v, signature_input(&staging.bytes)?)))
        {
            Ok((verification, input)) => {
                self.jobs = self.jobs.wrapping_add(1);
                let job = tileos_bundle_verifier::job_id(self.config.generation, self.jobs);
                let since = self.clock.now();
                InstallPhase::Signatures { job, input, fetched: 0, dispatched: false, since, verification: Box::new(verification) }
            }
            Err(error) => refusing(error),
        };
        Ok((staging.bytes, phase))
    }

    /// The phase of the install under way, for the glue's timing of its steps: `signatures`
    /// (the verifier's part), `manifest` (the manifest's decoding), `verify` (the payload's
    /// hash), `checks` (the verified manifest's checks and the seat's choice), `refuse`
    /// (a refused bundle's hash), `stage` (the ELF's chunks), `build` (the root server's
    /// pieces, the last of which starts the module), `entry` (the update-log entry) or
    /// `ready` (the module's `READY` kept meanwhile); `None` with no install under way.
    pub fn install_phase(&self) -> Option<&'static str> {
        self.install.as_ref().map(|job| match &job.phase {
            InstallPhase::Signatures { .. } => "signatures",
            InstallPhase::Verify(verification) if verification.stage() == Stage::Manifest => "manifest",
            InstallPhase::Verify(_) => "verify",
            InstallPhase::Checks { .. } => "checks",
            InstallPhase::Refuse { .. } => "refuse",
            InstallPhase::Stage { building: false, .. } => "stage",
            InstallPhase::Stage { building: true, .. } => "build",
            InstallPhase::Started { .. } => "entry",
            InstallPhase::Ready { .. } => "ready",
            InstallPhase::Up { .. } => "up",
        })
    }

    /// Whether an install is under way (its commit not answered yet): the glue then calls
    /// [`Manager::install_step`] whenever no message waits.
    pub fn install_pending(&self) -> bool {
        self.install.is_some()
    }

    /// Whether [`Manager::install_step`] has a step to do: an install is under way and not
    /// waiting for the verifier domain's verdict (the manager then waits for messages).
    pub fn install_steppable(&self) -> bool {
        self.install.as_ref().is_some_and(|job| !matches!(job.phase, InstallPhase::Signatures { .. } | InstallPhase::Up { .. }))
    }

    /// A call from the slot's verifier domain (badge
    /// [`tileos_bundle_verifier::VERIFIER_BADGE`], docs/slots.md "Installs"), with its saved
    /// reply capability: `READY` (it has no job; a job it had is refused with the reason it
    /// gives: a restart, a dropped job), a fetch of the waiting job's signature input, or its
    /// verdict on that job. A verdict counts only for the job waiting on it (its id) and once
    /// every byte was fetched; a call that is malformed, names another job, fetches out of
    /// range or comes early is answered `REFUSED` with its reason, counted as a violation,
    /// and changes nothing.
    pub fn verifier_call(&mut self, label: u64, words: &[u64], reply: ReplyCap) {
        let call = match Call::decode(label, words) {
            Ok(call) => call,
            Err(error) => return self.refuse_verifier(reply, error),
        };
        match call {
            Call::Ready(reason) => {
                if let Some(job) = self.install.as_mut()
                    && let InstallPhase::Signatures { job: id, dispatched: true, .. } = job.phase
                {
                    let why = format!("bundle not verified: {reason} during job {id:#x} (nothing installed; the install may be retried)");
                    self.host.note(format_args!("@event slot.verifier-dropped slot={} job={id:#x} reason=\"{reason}\"", self.config.name));
                    job.phase = InstallPhase::Refuse { reason: why, hasher: ContentHasher::new(), hashed: 0 };
                }
                if let Some(old) = self.verifier.replace(reply) {
                    // An earlier call of a verifier since restarted: nobody waits on it.
                    self.host.release(old);
                }
                self.dispatch_verifier();
            }
            Call::Fetch { job, offset } => {
                let message = match self.install.as_mut().map(|j| &mut j.phase) {
                    Some(InstallPhase::Signatures { job: id, input, fetched, dispatched: true, .. }) if *id == job => {
                        match usize::try_from(offset).ok().and_then(|at| Some((at, tileos_bundle_verifier::chunk(job, input, at)?))) {
                            Some((at, message)) => {
                                *fetched = (*fetched).max(at.saturating_add(tileos_bundle_verifier::CHUNK_BYTES).min(input.len()));
                                Ok(message)
                            }
                            None => Err(CallError::BadOffset),
                        }
                    }
                    Some(InstallPhase::Signatures { dispatched: true, .. }) => Err(CallError::WrongJob),
                    _ => Err(CallError::NoJob),
                };
                match message {
                    Ok((label, words)) => self.host.reply(reply, &Message { label, words }),
                    Err(error) => self.refuse_verifier(reply, error),
                }
            }
            Call::Verdict { job, verdict } => {
                let check = match self.install.as_ref().map(|j| &j.phase) {
                    Some(InstallPhase::Signatures { job: id, input, fetched, dispatched: true, .. }) if *id == job => {
                        if *fetched < input.len() { Err(CallError::Early) } else { Ok(()) }
                    }
                    Some(InstallPhase::Signatures { dispatched: true, .. }) => Err(CallError::WrongJob),
                    _ => Err(CallError::NoJob),
                };
                if let Err(error) = check {
                    return self.refuse_verifier(reply, error);
                }
                if let Some(mut install) = self.install.take() {
                    install.phase = match (install.phase, verdict.error()) {
                        (InstallPhase::Signatures { mut verification, .. }, None) => {
                            verification.signatures_verified_elsewhere();
                            InstallPhase::Verify(verification)
                        }
                        (_, Some(error)) => refusing(error),
                        // Checked above: the phase is the job's signatures.
                        (other, None) => other,
                    };
                    self.install = Some(install);
                }
                self.host.note(format_args!("@event slot.verdict slot={} job={job:#x} verdict={verdict:?}", self.config.name));
                if let Some(old) = self.verifier.replace(reply) {
                    self.host.release(old);
                }
                self.dispatch_verifier();
            }
        }
    }

    /// Answers a verifier's call `REFUSED` with `error` (a violation: the verifier's own
    /// code never makes such a call); its job, if any, is not touched.
    fn refuse_verifier(&mut self, reply: ReplyCap, error: CallError) {
        self.stats.violations += 1;
        self.host.note(format_args!("@event slot.verifier-refused slot={} reason={error:?}", self.config.name));
        let (label, words) = tileos_bundle_verifier::refused(error);
        self.host.reply(reply, &Message { label, words });
    }

    /// Gives the waiting job's first chunk to the verifier, if it waits and the job has not
    /// gone to it yet.
    fn dispatch_verifier(&mut self) {
        let Some(InstallPhase::Signatures { job, input, fetched, dispatched, .. }) = self.install.as_mut().map(|j| &mut j.phase) else {
            return;
        };
        if *dispatched {
            return;
        }
        let Some(cap) = self.verifier.take() else { return };
        let Some((label, words)) = tileos_bundle_verifier::chunk(*job, input, 0) else {
            self.verifier = Some(cap);
            return;
        };
        *dispatched = true;
        *fetched = input.len().min(tileos_bundle_verifier::CHUNK_BYTES);
        self.host.reply(cap, &Message { label, words });
    }

    /// Refuses the install waiting for a verdict past [`VERIFIER_DEADLINE`] (its hash and
    /// log entry follow in steps).
    fn check_verifier_deadline(&mut self, now: Ticks) {
        if let Some(job) = self.install.as_mut()
            && let InstallPhase::Signatures { job: id, since, dispatched, .. } = job.phase
            && now.saturating_sub(since) > VERIFIER_DEADLINE
        {
            let state = if dispatched { "it had the job" } else { "it never called READY" };
            let reason = format!(
                "bundle not verified: no verdict from the verifier domain within {} s of the commit ({state}; job {id:#x})",
                VERIFIER_DEADLINE / 1_000_000
            );
            job.phase = InstallPhase::Refuse { reason, hasher: ContentHasher::new(), hashed: 0 };
        }
    }

    /// One bounded step of the install under way, if any (docs/slots.md, "Installs"): the
    /// manifest's decoding, [`INSTALL_HASH_STEP`] bytes of a hash, the verified manifest's
    /// checks, [`INSTALL_CHUNKS_PER_STEP`] root-server calls staging the ELF, or one piece of
    /// the root server's build of the module (`SeatBegin`, then `SeatContinue`s; the last
    /// starts it); then the update-log entry, a step of its own, and the module's kept
    /// `READY` with the commit's answer, another. Every refusal answers the caller with its
    /// reason, as the commit always did.
    /// Clients are served between steps: the glue steps only when no message waits.
    pub fn install_step(&mut self) {
        self.check_clock();
        if let Some(job) = self.install.take() {
            self.install = self.advance_install(job);
        }
        self.reschedule();
    }

    /// Does one step of `job`; returns it if it is not over.
    fn advance_install(&mut self, mut job: InstallJob) -> Option<InstallJob> {
        if matches!(job.phase, InstallPhase::Stage { staged: None, .. }) && self.rebuild_pending() {
            // The root server stages one ELF per slot at a time: a challenger's rebuild
            // under way finishes first ([`Manager::rebuild_step`]).
            return Some(job);
        }
        let response = match job.phase {
            // The verifier domain's part: no step here (the glue waits for messages).
            phase @ InstallPhase::Signatures { .. } => {
                job.phase = phase;
                return Some(job);
            }
            InstallPhase::Verify(mut verification) => match verification.step(&job.bundle, &self.config.trusted, INSTALL_HASH_STEP) {
                Ok(Progress::Pending(_)) => {
                    job.phase = InstallPhase::Verify(verification);
                    return Some(job);
                }
                Err(error) => {
                    job.phase = refusing(error);
                    return Some(job);
                }
                Ok(Progress::Verified(verified)) => {
                    let payload_at = job.bundle.len() - verified.payload.len();
                    job.phase = InstallPhase::Checks { manifest: Box::new(verified.manifest), payload_at };
                    return Some(job);
                }
            },
            InstallPhase::Checks { manifest, payload_at } => match self.install_verified(&manifest) {
                Ok((seat, info)) => {
                    let elf = Rc::new(job.bundle.split_off(payload_at.min(job.bundle.len())));
                    job.bundle = Vec::new();
                    job.phase = InstallPhase::Stage { seat, info, elf, staged: None, building: false };
                    return Some(job);
                }
                Err(response) => *response,
            },
            InstallPhase::Refuse { reason, mut hasher, hashed } => {
                let end = hashed.saturating_add(INSTALL_HASH_STEP).min(job.bundle.len());
                hasher.update(job.bundle.get(hashed..end).unwrap_or_default());
                if end < job.bundle.len() {
                    job.phase = InstallPhase::Refuse { reason, hasher, hashed: end };
                    return Some(job);
                }
                let info = ModuleInfo { name: "(unverified bundle)".to_string(), version: String::new(), hash: hasher.finish() };
                self.refuse_logged(RefusalKind::Bundle, &info, &reason)
            }
            InstallPhase::Stage { seat, info, elf, staged, building } => {
                let step = if building { Ok(None) } else { self.stage_step(seat, &elf, staged) };
                match step {
                    Ok(Some(staged)) => {
                        job.phase = InstallPhase::Stage { seat, info, elf, staged: Some(staged), building: false };
                        return Some(job);
                    }
                    Ok(None) => match self.install_start(seat, &info, building) {
                        Ok(false) => {
                            job.phase = InstallPhase::Stage { seat, info, elf, staged, building: true };
                            return Some(job);
                        }
                        Ok(true) => {
                            // The entry is a step of its own (`slots37`: with the root
                            // server's last piece, the module's start-up above the step's
                            // priority and the entry, the step was ≈ 172,000–258,000).
                            job.phase = InstallPhase::Started { seat, info, elf, ready: None };
                            return Some(job);
                        }
                        Err(response) => *response,
                    },
                    Err(reason) => self.refuse_logged(RefusalKind::Build, &info, &format!("seat {seat}: {reason}")),
                }
            }
            InstallPhase::Started { seat, info, elf, ready } => match (self.install_started(seat, info, elf), ready) {
                (slots::Response::Installed { module }, Some(ready)) => {
                    // The module's READY, kept while its entry was due, at the next step.
                    job.phase = InstallPhase::Ready { seat, module, ready };
                    return Some(job);
                }
                (slots::Response::Installed { module }, None)
                    if self.seats.get(seat).is_some_and(|s| s.schedule == Some(SeatSchedule::Start)) =>
                {
                    // Still starting up at priority 0: answered once it is up (its READY).
                    job.phase = InstallPhase::Up { seat, module };
                    return Some(job);
                }
                (response, ready) => {
                    if let Some(ready) = ready {
                        // Refused: the seat was stopped, nobody answers its call.
                        self.host.release(ready);
                    }
                    response
                }
            },
            InstallPhase::Ready { seat, module, ready } => {
                // Handled as it would have been on arrival (its seat runs an installed module).
                self.module_call(seat, READY, &[], ready);
                slots::Response::Installed { module }
            }
            // Its seat called (its READY, handled next) or failed.
            InstallPhase::Up { module, .. } => slots::Response::Installed { module },
        };
        self.host.reply(job.reply, &Message::encode(&response));
        None
    }

    /// The checks of a verified bundle's manifest (the allowance, the slot's kind and
    /// policy) and the seat it will run in (a parked module's is torn down for it);
    /// `Err`: the refusal, logged.
    fn install_verified(&mut self, manifest: &tileos_module_bundle::Manifest) -> Result<(usize, ModuleInfo), Box<slots::Response>> {
        let version = format!("{}.{}.{}", manifest.version.major, manifest.version.minor, manifest.version.patch);
        let info = ModuleInfo { name: cut(&manifest.name, MAX_NAME), version, hash: manifest.content_hash };
        for request in &manifest.capabilities {
            if let Some(reason) = self.outside_allowance(request) {
                return Err(Box::new(self.refuse_logged(RefusalKind::Capabilities, &info, &reason)));
            }
        }
        if self.lineages.is_some() {
            return Err(Box::new(self.refuse_logged(RefusalKind::Policy, &info, "an N-version slot takes no challengers")));
        }
        // Checked here so that a doomed install stages nothing, and again at the start: a
        // promotion meanwhile opens the rollback window.
        if let Err(refusal) = self.slot.can_install() {
            return Err(Box::new(self.refuse_logged(RefusalKind::Policy, &info, &format!("install refused: {refusal:?}"))));
        }
        let free = |role: fn(&Role) -> bool| self.seats.iter().enumerate().skip(1).find(|(_, s)| role(&s.role)).map(|(i, _)| i);
        let seat = match (free(|r| *r == Role::Empty), free(|r| matches!(r, Role::Leaving(_)))) {
            (Some(seat), _) => seat,
            (None, Some(parked)) => {
                self.reclaim_seat(parked);
                parked
            }
            (None, None) => return Err(Box::new(self.refuse_logged(RefusalKind::Policy, &info, "no free seat in the slot"))),
        };
        Ok((seat, info))
    }

    /// Stages up to [`INSTALL_CHUNKS_PER_STEP`] root-server calls of `elf` into `seat`
    /// (`staged`: bytes sent so far, `None` before `SeatLoad`); `Ok(None)` when all was staged
    /// by the steps before (the next is the start).
    fn stage_step(&mut self, seat: usize, elf: &[u8], staged: Option<usize>) -> Result<Option<usize>, String> {
        self.stage_calls(seat, elf, staged, INSTALL_CHUNKS_PER_STEP)
    }

    /// [`Manager::stage_step`] with at most `max_calls` root-server calls.
    fn stage_calls(&mut self, seat: usize, elf: &[u8], staged: Option<usize>, max_calls: usize) -> Result<Option<usize>, String> {
        let number = u8::try_from(seat).map_err(|_| format!("no seat {seat}"))?;
        let mut calls = 0;
        let mut offset = match staged {
            Some(offset) => offset,
            None => {
                let length = u32::try_from(elf.len()).map_err(|_| "the ELF is larger than 4 GiB".to_string())?;
                self.seat_request(&supervisor::Request::SeatLoad { seat: number, length })?;
                calls += 1;
                0
            }
        };
        while offset < elf.len() && calls < max_calls {
            let end = offset.saturating_add(SEAT_CHUNK).min(elf.len());
            let bytes = heapless::Vec::from_slice(elf.get(offset..end).unwrap_or_default()).map_err(|_| "chunk".to_string())?;
            self.seat_request(&supervisor::Request::SeatChunk { seat: number, offset: offset as u32, bytes })?;
            calls += 1;
            offset = end;
        }
        // The start is a step of its own (the root server builds the domain then).
        Ok(if calls == 0 { None } else { Some(offset) })
    }

    /// A step of the install's start, once all is staged: the slot's checks again (the
    /// slot may have changed while the bundle was verified and staged), then its module's
    /// build, a piece a step (`SeatBegin`, unless `building`, then `SeatContinue`s).
    /// `Ok(false)`: pieces remain; `Ok(true)`: the module runs; `Err`: the refusal (a
    /// build under way stopped, which the root server abandons).
    fn install_start(&mut self, seat: usize, info: &ModuleInfo, building: bool) -> Result<bool, Box<slots::Response>> {
        let number = seat as u8;
        let refusal = match self.slot.can_install() {
            Err(refusal) => Some((RefusalKind::Policy, format!("install refused: {refusal:?}"))),
            Ok(_) if self.seats.get(seat).map(|s| s.role) != Some(Role::Empty) => {
                Some((RefusalKind::Build, format!("seat {seat} was taken while the bundle was staged")))
            }
            Ok(_) => None,
        };
        if let Some((kind, reason)) = refusal {
            if building {
                // The root server's build under way is abandoned.
                let _ = self.host.supervisor(&supervisor::Request::SeatStop { seat: number });
            }
            return Err(Box::new(self.refuse_logged(kind, info, &reason)));
        }
        let request = if building {
            supervisor::Request::SeatContinue { seat: number }
        } else {
            // A new module in an empty seat: not a restart.
            supervisor::Request::SeatBegin { seat: number, program: SeatProgram::Staged, restart: false }
        };
        match self.start_piece(&request) {
            Ok(generation) => Ok(generation.is_some()),
            Err(reason) => Err(Box::new(self.refuse_logged(RefusalKind::Build, info, &format!("seat {seat}: {reason}")))),
        }
    }

    /// The install's last step (a step of its own since `slots37`), its module running: the
    /// slot's checks again, the update-log entry; the answer. A refusal stops the seat.
    fn install_started(&mut self, seat: usize, info: ModuleInfo, elf: Rc<Vec<u8>>) -> slots::Response {
        let number = seat as u8;
        // Checked without a change (it was tried on a clone of the slot, which copied every
        // kept exchange); installed once the entry is in.
        let id = match self.slot.can_install() {
            Ok(id) => id,
            Err(refusal) => {
                let _ = self.host.supervisor(&supervisor::Request::SeatStop { seat: number });
                return self.refuse_logged(RefusalKind::Policy, &info, &format!("install refused: {refusal:?}"));
            }
        };
        let note = format!("installed as module {id} in seat {seat}");
        if let Err(reason) = self.append(EventKind::Install, &info, &note) {
            let _ = self.host.supervisor(&supervisor::Request::SeatStop { seat: number });
            return refused(RefusalKind::Store, &format!("the update log was not persisted ({reason}): nothing installed"));
        }
        let installed = self.slot.install(self.clock.now());
        debug_assert_eq!(installed, Ok(id), "Slot::install refused or numbered what Slot::can_install accepted");
        self.modules.insert(id, info);
        if let Some(s) = self.seats.get_mut(seat) {
            s.role = Role::Module(id);
            self.generation += 1;
            s.program = Some(Program::Staged(elf));
            s.needs_state = true;
        }
        self.host.note(format_args!("@event slot.installed slot={} module={id} seat={seat}", self.config.name));
        slots::Response::Installed { module: id }
    }

    /// If the install under way has started its module in `seat` and its entry, its kept
    /// `READY` or its commit's answer is due ([`InstallPhase::Started`],
    /// [`InstallPhase::Ready`], [`InstallPhase::Up`]), makes those steps now (at most two): a
    /// call from the seat (other than the `READY` kept for it) or its fault is then handled
    /// for an installed module, as when the start and the entry were one step.
    fn install_steps_first(&mut self, seat: usize) {
        let due = |job: &InstallJob| matches!(job.phase, InstallPhase::Started { seat: s, .. } | InstallPhase::Ready { seat: s, .. } | InstallPhase::Up { seat: s, .. } if s == seat);
        while self.install.as_ref().is_some_and(due)
            && let Some(job) = self.install.take()
        {
            self.install = self.advance_install(job);
        }
    }

    /// Why `request` is outside the slot's allowance, if it is.
    fn outside_allowance(&self, request: &CapabilityRequest) -> Option<String> {
        let (kind, name) = capability_name(request);
        match request {
            CapabilityRequest::Irq { .. } | CapabilityRequest::IoPort { .. } => {
                return Some(format!("asks for {kind} \"{}\": a challenger holds no {kind}", cut(name, 40)));
            }
            CapabilityRequest::Endpoint { rights, .. } if rights.read => {
                return Some(format!("asks to serve endpoint \"{}\": a challenger is a client only", cut(name, 40)));
            }
            _ => {}
        }
        if self.config.allowance.iter().any(|allowed| allowed == name) {
            None
        } else {
            Some(format!("asks for {kind} \"{}\", outside the slot's allowance", cut(name, 40)))
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
    fn promote_by_hand(&mut self, module: u32, force: bool, reply: ReplyCap) -> Option<(ReplyCap, slots::Response)> {
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
    fn hand_promotion_step(&mut self) {
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
    fn switch_to(&mut self, module: ModuleId) {
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
    fn module_info(&self, id: ModuleId) -> ModuleInfo {
        self.modules.get(&id).cloned().unwrap_or(ModuleInfo { name: format!("module {id}"), version: String::new(), hash: [0; 32] })
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
    fn rollback_waits_for_catch_up(&self) -> bool {
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
    fn rollback_by_hand(&mut self, reply: ReplyCap) -> Option<(ReplyCap, slots::Response)> {
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
    fn hand_rollback_step(&mut self, mut hand: HandRollback) {
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
        self.flush_log();
        self.append_or_keep(event, format_args!("the withdrawal of module {module}'s rollback"));
    }

    // ---------------------------------------------------------------------------------
    // The update log.

    /// The log's clock in milliseconds: after the last persisted entry's, then the manager's
    /// monotonic clock (so it never goes back across reboots).
    fn log_time(&self) -> u64 {
        self.log_base_ms.saturating_add(self.clock.now() / 1000)
    }

    /// Appends an entry (after the deferred ones, [`Manager::deferred`]): persisted, and
    /// hashed into the tree at a later step ([`Manager::hash_entries`]).
    fn append(&mut self, kind: EventKind, info: &ModuleInfo, note: &str) -> Result<u64, String> {
        self.flush_log();
        let event = self.event(kind, info, note);
        self.append_event(&event)
    }

    /// The log entry of `kind` for module `info` with `note`, stamped now.
    fn event(&self, kind: EventKind, info: &ModuleInfo, note: &str) -> UpdateEvent {
        UpdateEvent {
            kind,
            timestamp_ms: self.log_time(),
            slot: cut(&self.config.name, MAX_NAME),
            module: cut(&info.name, MAX_NAME),
            version: cut(&info.version, MAX_NAME),
            content_hash: info.hash,
            note: cut(note, MAX_NOTE),
        }
    }

    /// Persists `event`; it is hashed into the tree at a later step ([`Manager::hash_entries`]).
    /// Returns its index.
    fn append_event(&mut self, event: &UpdateEvent) -> Result<u64, String> {
        let entry = event.encode().map_err(|e| format!("{e}"))?;
        // The next index: after the entries already in the tree and those waiting for it.
        let index = self.log.appended();
        if index >= MAX_TREE_SIZE {
            return Err(format!("{}", LogError::Full));
        }
        self.store.append(index, &entry).map_err(|e| e.0)?;
        // Encoded within `MAX_ENTRY_LEN` and its index checked: the log takes it.
        if let Err(error) = self.log.push_entry(entry) {
            self.stats.log_failures += 1;
            self.host.note(format_args!("slot {}: a persisted update-log entry was not taken by the tree: {error}", self.config.name));
        }
        Ok(index)
    }

    /// Does up to `max_units` hashes of the persisted entries that wait for them
    /// ([`UpdateLog::hash_pending`]: an entry's leaf, then each node it completes), in order:
    /// at most [`HASH_UNITS_PER_STEP`] as a deferred step of its own
    /// ([`Manager::do_deferred`]), all of them first thing in a control request, so that
    /// whoever reads the log, its head or a proof sees every persisted entry. The line says
    /// how long the hashing took (`ticks=`, [`Clock::cycles`]).
    fn hash_entries(&mut self, max_units: usize) {
        let start = self.clock.cycles();
        let units = self.log.hash_pending(max_units);
        let ticks = self.clock.cycles().wrapping_sub(start);
        if units > 0 {
            self.host.note(format_args!(
                "@event slot.log-hashed slot={} units={units} size={} pending={} ticks={ticks}",
                self.config.name,
                self.log.size(),
                self.log.pending()
            ));
        }
    }

    /// A refusal of a state-changing request, logged (refusals are entries of kind `Install`
    /// whose note starts with "refused"); if the log cannot be persisted, a `Store` refusal.
    fn refuse_logged(&mut self, kind: RefusalKind, info: &ModuleInfo, reason: &str) -> slots::Response {
        self.host.note(format_args!("@event slot.refused slot={} kind={kind:?} reason=\"{reason}\"", self.config.name));
        match self.append(EventKind::Install, info, &format!("refused ({kind:?}): {reason}")) {
            Ok(_) => refused(kind, reason),
            Err(error) => refused(RefusalKind::Store, &format!("the update log was not persisted ({error}); refused: {reason}")),
        }
    }

    /// The circuit breaker's rollbacks in `out` (a fault, a disagreement with the warm
    /// module or a latency regression of the promoted one) are *written before they are
    /// acted on*: each entry is persisted and added to the tree here, before the manager
    /// announces, delivers, hands over or reschedules anything of the rollback, so a
    /// manager that faults while carrying it out leaves it in the log. The breaker does not
    /// wait for the store: if the entry cannot be persisted, the rollback goes ahead and the
    /// entry is kept for the deferred work, which tries it once more (a second failure is
    /// counted in `log_failures`). The durable write lands in the call of whichever client
    /// waits when the breaker trips (a rollback is rare; the breaker's decision was already
    /// made inside that call).
    fn log_breaker_rollbacks(&mut self, out: &Outcome) {
        for t in &out.transitions {
            if t.to != State::RolledBack || !matches!(t.reason, Reason::CircuitBreaker(_)) {
                continue;
            }
            let event = self.event(EventKind::Rollback, &self.module_info(t.module), &format!("{:?}", t.reason));
            self.flush_log();
            self.append_or_keep(event, format_args!("the breaker's rollback of module {}", t.module));
        }
    }

    /// Appends `event`; if the store refuses it, keeps it for the deferred work, which tries
    /// it once more ([`Manager::flush_log`]), and says so, naming the entry as `what`.
    fn append_or_keep(&mut self, event: UpdateEvent, what: core::fmt::Arguments<'_>) {
        if let Err(reason) = self.append_event(&event) {
            self.host.note(format_args!("slot {}: {what} was not persisted ({reason}): tried again as deferred work", self.config.name));
            self.unlogged.push_back(event);
            self.defer();
        }
    }

    /// Appends the entries whose first write failed, in order (a second failure loses the
    /// entry and is counted).
    fn flush_log(&mut self) {
        while let Some(event) = self.unlogged.pop_front() {
            if let Err(reason) = self.append_event(&event) {
                self.stats.log_failures += 1;
                self.host.note(format_args!("slot {}: update log entry not persisted: {reason}", self.config.name));
            }
        }
    }
}

/// The refusal phase of a bundle `error` (the bundle is hashed for its log entry first).
fn refusing(error: VerifyError) -> InstallPhase {
    InstallPhase::Refuse { reason: format!("bundle refused: {error}"), hasher: ContentHasher::new(), hashed: 0 }
}
