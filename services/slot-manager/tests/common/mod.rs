//! A simulated tile for the manager's host tests: fake modules in the seats (stateful
//! running sums), fake clients, a fake root server, a clock and a log store.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use tileos_module_bundle::{BundleSigner, CapabilityRequest, Evidence, Lineage, Manifest, Provenance, TestCounts, Version, content_hash};
use tileos_protocol::module::{EXPORT, IMPORT, IMPORTED, READY, SEAT_BADGE, STATE};
use tileos_protocol::slots;
use tileos_protocol::supervisor::{self, SeatProgram, SeatSchedule};
use tileos_protocol::{MESSAGE, ProtocolError};
use tileos_slot_manager::{Access, Clock, Config, LogStore, LogStoreError, Manager, Message, ReplyCap, Seats, dev_keys};
use tileos_slots::{Comparator, Ratio, SlotPolicy};

/// What the fake root server saw, and the answers the manager sent.
#[derive(Default)]
pub struct World {
    /// The program the root server starts for `SeatProgram::Fallback` (`None`: "correct").
    pub fallback_program: Option<Vec<u8>>,
    pub events: VecDeque<Event>,
    pub released: Vec<u64>,
    pub notes: Vec<String>,
    pub supervisor: Vec<supervisor::Request>,
    /// The root server's staging (one per slot, as in `rootserver/src/system/seats.rs`):
    /// its seat, the length announced, the bytes received.
    pub staging: Option<(u8, u32, Vec<u8>)>,
    /// The bytes each seat's last start of a staged program consumed.
    pub started_staged: BTreeMap<u8, Vec<u8>>,
    pub refuse_start: bool,
    pub running: BTreeSet<u8>,
    /// The schedule of each running seat (as the root server would set it).
    pub schedules: BTreeMap<u8, SeatSchedule>,
    /// The manager "crashes" (the host panics) when it notes a line containing this: a
    /// fault at that step of its work (what it persisted before survives).
    pub crash_on_note: Option<String>,
    /// How many saved calls each `reply_all` answered, in order.
    pub batches: Vec<usize>,
    /// `SeatContinue`s a `SeatBegin`'s build takes before its module runs (0: the begin
    /// starts it), as the root server's pieces.
    pub build_pieces: u32,
    /// The root server's build under way, one per slot: (seat, its ELF, continues left,
    /// whether its begin was a restart).
    pub building: Option<(u8, Vec<u8>, u32, bool)>,
    /// Each seat's restarts as the root server counts them: starts marked `restart` whose
    /// module runs.
    pub restarts: BTreeMap<u8, u32>,
    /// The `SeatContinue` that is refused `BadProgram` when this many remain (a piece that
    /// fails: the build is destroyed).
    pub refuse_piece_at: Option<u32>,
    /// The seat the manager recorded last as the serving one (`SeatServing`; 0 at boot),
    /// kept across the manager's restarts as the root server keeps it.
    pub serving_seat: u8,
    /// Whether it was recorded as serving settled (its window closed).
    pub serving_settled: bool,
}

/// Something the manager did that the simulation reacts to.
#[derive(Debug)]
pub enum Event {
    Reply(u64, Message),
    Started(u8, Vec<u8>),
    Stopped(u8),
}

pub struct Host(pub Rc<RefCell<World>>);

impl Seats for Host {
    fn reply(&mut self, to: ReplyCap, message: &Message) {
        self.0.borrow_mut().events.push_back(Event::Reply(to.0, message.clone()));
    }
    fn reply_all(&mut self, to: &mut Vec<ReplyCap>, message: &Message) {
        let mut w = self.0.borrow_mut();
        w.batches.push(to.len());
        for cap in to.drain(..) {
            w.events.push_back(Event::Reply(cap.0, message.clone()));
        }
    }
    fn release(&mut self, cap: ReplyCap) {
        self.0.borrow_mut().released.push(cap.0);
    }
    fn supervisor(&mut self, request: &supervisor::Request) -> Result<supervisor::Response, ProtocolError> {
        use supervisor::{Request as R, Response as A};
        let mut w = self.0.borrow_mut();
        w.supervisor.push(request.clone());
        // One build per slot: a load or start of any seat, or a stop of its seat, ends it.
        let abandons = match request {
            R::SeatLoad { .. } | R::SeatStart { .. } | R::SeatBegin { .. } => true,
            R::SeatStop { seat } => w.building.as_ref().is_some_and(|b| b.0 == *seat),
            _ => false,
        };
        if abandons && w.building.take().is_some() && matches!(request, R::SeatStop { .. }) {
            return Ok(A::SeatStopped);
        }
        Ok(match request {
            R::SeatLoad { seat, length } => {
                // A load discards the slot's staging under way, whatever its seat.
                w.staging = Some((*seat, *length, Vec::new()));
                A::SeatStaged { received: 0 }
            }
            R::SeatChunk { seat, offset, bytes } => {
                let Some((_, length, staged)) = w.staging.as_mut().filter(|(s, ..)| s == seat) else {
                    return Ok(A::Refused(supervisor::Refusal::ChunkOutOfOrder { expected: 0 }));
                };
                let received = staged.len() as u32;
                if *offset != received || received as usize + bytes.len() > *length as usize {
                    return Ok(A::Refused(supervisor::Refusal::ChunkOutOfOrder { expected: received }));
                }
                staged.extend_from_slice(bytes);
                A::SeatStaged { received: staged.len() as u32 }
            }
            R::SeatBegin { seat, program, restart } | R::SeatStart { seat, program, restart } => {
                if w.refuse_start {
                    return Ok(A::Refused(supervisor::Refusal::BadProgram));
                }
                if w.running.contains(seat) {
                    return Ok(A::Refused(supervisor::Refusal::SeatRunning));
                }
                let elf = match program {
                    SeatProgram::Staged => match w.staging.take() {
                        Some((s, length, bytes)) if s == *seat && bytes.len() == length as usize => {
                            w.started_staged.insert(*seat, bytes.clone());
                            bytes
                        }
                        Some((s, length, bytes)) if s == *seat => {
                            // Kept for the chunks still to come, as the root server does.
                            let refusal = supervisor::Refusal::StagingIncomplete { received: bytes.len() as u32, length };
                            w.staging = Some((s, length, bytes));
                            return Ok(A::Refused(refusal));
                        }
                        other => {
                            w.staging = other;
                            return Ok(A::Refused(supervisor::Refusal::StagingIncomplete { received: 0, length: 0 }));
                        }
                    },
                    SeatProgram::Incumbent => b"correct".to_vec(),
                    SeatProgram::Lineage(k) => format!("lineage{k}").into_bytes(),
                    SeatProgram::Fallback => w.fallback_program.clone().unwrap_or_else(|| b"correct".to_vec()),
                };
                if matches!(request, R::SeatBegin { .. }) && w.build_pieces > 0 {
                    let pieces = w.build_pieces;
                    w.building = Some((*seat, elf, pieces, *restart));
                    return Ok(A::SeatBuilding { done: 0, total: pieces });
                }
                start_seat(&mut w, *seat, elf, matches!(request, R::SeatBegin { .. }), *restart)
            }
            R::SeatContinue { seat } => match w.building.take() {
                Some((building, elf, left, restart)) if building == *seat => {
                    if w.refuse_piece_at == Some(left) {
                        return Ok(A::Refused(supervisor::Refusal::BadProgram));
                    }
                    if left > 1 {
                        w.building = Some((building, elf, left - 1, restart));
                        A::SeatBuilding { done: w.build_pieces - left + 1, total: w.build_pieces }
                    } else {
                        start_seat(&mut w, *seat, elf, true, restart)
                    }
                }
                other => {
                    w.building = other;
                    A::Refused(supervisor::Refusal::NotBuilding)
                }
            },
            R::SeatSchedule { seat, schedule } => {
                if !w.running.contains(seat) {
                    return Ok(A::Refused(supervisor::Refusal::NotRunning(supervisor::State::Stopped)));
                }
                w.schedules.insert(*seat, *schedule);
                A::SeatScheduled
            }
            R::SeatStop { seat } => {
                if !w.running.contains(seat) {
                    return Ok(A::Refused(supervisor::Refusal::NotRunning(supervisor::State::Stopped)));
                }
                w.schedules.remove(seat);
                w.running.remove(seat);
                w.events.push_back(Event::Stopped(*seat));
                A::SeatStopped
            }
            R::SeatServing { seat, settled } => {
                if !w.running.contains(seat) {
                    return Ok(A::Refused(supervisor::Refusal::NotRunning(supervisor::State::Stopped)));
                }
                w.serving_seat = *seat;
                w.serving_settled = *settled;
                A::SeatServingRecorded
            }
            R::ServingSeat => A::ServingSeat { seat: w.serving_seat, settled: w.serving_settled },
            _ => A::Refused(supervisor::Refusal::NotAllowed),
        })
    }
    fn note(&mut self, line: core::fmt::Arguments<'_>) {
        let line = line.to_string();
        let crash = self.0.borrow().crash_on_note.as_ref().is_some_and(|at| line.contains(at.as_str()));
        self.0.borrow_mut().notes.push(line);
        if crash {
            panic!("the manager faults here (crash_on_note)");
        }
    }
}

/// The root server's own ticks the fake root server answers a start with.
pub const START_TICKS: u64 = 20_000;

/// The fake root server starts `seat` with `elf`: at priority 0 (`SeatSchedule::Start`) if
/// it was built in pieces (`SeatBegin`), as the root server does; a `restart` counted in
/// the seat's restarts.
fn start_seat(w: &mut World, seat: u8, elf: Vec<u8>, in_pieces: bool, restart: bool) -> supervisor::Response {
    w.running.insert(seat);
    if restart {
        *w.restarts.entry(seat).or_default() += 1;
    }
    let schedule = match (in_pieces, seat) {
        (true, _) => SeatSchedule::Start,
        (false, 0) => SeatSchedule::Serving,
        (false, _) => SeatSchedule::Shadow,
    };
    w.schedules.insert(seat, schedule);
    w.events.push_back(Event::Started(seat, elf));
    supervisor::Response::SeatStarted { generation: 0, ticks: START_TICKS }
}

pub struct TestClock(pub Rc<Cell<u64>>);

impl Clock for TestClock {
    fn now(&self) -> u64 {
        self.0.get()
    }
}

/// A log store that can be made to fail.
#[derive(Clone, Default)]
pub struct TestStore {
    pub entries: Rc<RefCell<Vec<Vec<u8>>>>,
    pub fail: Rc<Cell<bool>>,
    /// The next this many appends fail (then it works again).
    pub fail_next: Rc<Cell<u32>>,
    /// The settled module's program committed last (`LogStore::save_commit`).
    pub program: Rc<RefCell<Option<Vec<u8>>>>,
    /// The program being saved.
    pub saving: Rc<RefCell<Option<ProgramBeingSaved>>>,
}

/// A program being saved: its length and the bytes so far.
pub type ProgramBeingSaved = (usize, Vec<u8>);

impl LogStore for TestStore {
    fn load(&mut self) -> Result<Vec<Vec<u8>>, LogStoreError> {
        Ok(self.entries.borrow().clone())
    }
    fn append(&mut self, index: u64, entry: &[u8]) -> Result<(), LogStoreError> {
        if self.fail.get() {
            return Err(LogStoreError("the store is unavailable".into()));
        }
        if self.fail_next.get() > 0 {
            self.fail_next.set(self.fail_next.get() - 1);
            return Err(LogStoreError("the store is unavailable for a moment".into()));
        }
        assert_eq!(index, self.entries.borrow().len() as u64);
        self.entries.borrow_mut().push(entry.to_vec());
        Ok(())
    }
    fn save_begin(&mut self, length: usize) -> Result<(), LogStoreError> {
        self.available()?;
        *self.saving.borrow_mut() = Some((length, Vec::new()));
        Ok(())
    }
    fn save_part(&mut self, bytes: &[u8]) -> Result<(), LogStoreError> {
        self.available()?;
        let mut saving = self.saving.borrow_mut();
        let (length, saved) = saving.as_mut().expect("a part with no save begun");
        assert!(saved.len() + bytes.len() <= *length, "a part past the program's length");
        saved.extend_from_slice(bytes);
        Ok(())
    }
    fn save_commit(&mut self) -> Result<(), LogStoreError> {
        self.available()?;
        let (length, saved) = self.saving.borrow_mut().take().expect("a commit with no save begun");
        assert_eq!(saved.len(), length, "a commit before every byte was sent");
        *self.program.borrow_mut() = Some(saved);
        Ok(())
    }
    fn saved_program(&mut self) -> Result<Option<Vec<u8>>, LogStoreError> {
        self.available()?;
        Ok(self.program.borrow().clone())
    }
}

impl TestStore {
    /// Refused while `fail` is set.
    fn available(&self) -> Result<(), LogStoreError> {
        if self.fail.get() { Err(LogStoreError("the store is unavailable".into())) } else { Ok(()) }
    }
}

/// How a fake module behaves (chosen by its ELF bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// Running sum: answers `sum + x` and adds `x`.
    Correct,
    /// As Correct, but one more on every multiple of 7.
    Wrong,
    /// Takes work and never answers.
    Silent,
    /// Faults on its `n`th request.
    CrashAfter(u32),
    /// Refuses every import.
    RefuseImport,
    /// Answers `lineage`: as Correct (N-version lineages).
    Lineage(u8),
    /// Hangs while starting: never calls READY.
    Hung,
    /// As Correct, but its answers differ from Correct's byte for byte and not for a
    /// client: under [`Sim::encoded`], junk in the last word's padding and an extra word
    /// (the `Equivalent` comparator's case); otherwise an extra word.
    Padded,
}

pub fn behavior(elf: &[u8]) -> Behavior {
    match elf {
        b"correct" | b"fast" => Behavior::Correct,
        b"wrong" => Behavior::Wrong,
        b"silent" => Behavior::Silent,
        b"hung" => Behavior::Hung,
        b"padded" => Behavior::Padded,
        b"refuse-import" => Behavior::RefuseImport,
        b"lineage0" => Behavior::Lineage(0),
        b"lineage1" => Behavior::Lineage(1),
        b"lineage2" => Behavior::Lineage(2),
        other => match other.strip_prefix(b"crash") {
            Some(n) => Behavior::CrashAfter(std::str::from_utf8(n).ok().and_then(|n| n.parse().ok()).unwrap_or(1)),
            None => Behavior::Correct,
        },
    }
}

pub struct FakeModule {
    pub behavior: Behavior,
    pub state: u64,
    pub served: u32,
    pub generation: u64,
}

#[derive(Clone, Copy, Debug)]
enum Owner {
    Seat(usize, u64),
    Client(u64, u64),
    Control,
    /// The verifier domain's call.
    Verifier,
}

/// The simulated tile around one manager.
pub struct Sim {
    pub m: Manager<Host, TestClock, TestStore>,
    pub world: Rc<RefCell<World>>,
    pub time: Rc<Cell<u64>>,
    pub store: TestStore,
    pub modules: BTreeMap<usize, FakeModule>,
    owners: BTreeMap<u64, Owner>,
    next_cap: u64,
    generation: u64,
    /// Work given to modules that have not answered yet (seat, generation, message).
    pub work: VecDeque<(usize, u64, Message)>,
    /// Held work of silent modules.
    pub held: Vec<(usize, Message)>,
    /// Every answer each (client, request number) got.
    pub answers: BTreeMap<(u64, u64), Vec<Message>>,
    /// Requests sent per client.
    pub sent: BTreeMap<u64, u64>,
    /// Lineage 1 answers wrong when set (N-version tests).
    pub wrong_lineage: Option<u8>,
    /// State imports the modules took, per seat.
    pub imports: BTreeMap<usize, u32>,
    /// Seats whose work waits until [`Sim::serve_paused`] serves it (a module that runs
    /// slower than its clients call: paced mirroring).
    pub paused: BTreeSet<usize>,
    /// Control replies the pump came across (a promotion by hand is answered at its switch).
    control_replies: BTreeMap<u64, Message>,
    /// Seats' messages are offered to the narrow path first, as the glue does
    /// (`Manager::copy_answer`); off, they all take the general path (`Manager::received`).
    pub narrow: bool,
    /// Messages the narrow path took.
    pub narrow_taken: u64,
    /// The manager's deferred steps do not run (neither after a message nor when the pump
    /// finds nothing to do): its thread at a low `step_priority` below a busy domain gets
    /// no CPU for them, while messages are still handled (at the manager's own priority).
    pub hold_steps: bool,
    /// [`Sim::pump`] takes no rebuild step (the test takes them).
    pub hold_rebuild: bool,
    /// A module started at priority 0 (`SeatSchedule::Start`) does not start up until it is
    /// raised, as on a tile whose domains above priority 0 never idle: its start waits in
    /// [`Sim::starved`]. Off, every module starts up at once whatever its schedule.
    pub starve_priority_0: bool,
    /// The starts held back by [`Sim::starve_priority_0`]: seat and ELF.
    pub starved: Vec<(u8, Vec<u8>)>,
    /// Rebuild steps [`Sim::pump`] took ([`Manager::rebuild_step`]).
    pub rebuild_steps: usize,
    /// Release steps [`Sim::pump`] took ([`Manager::release_step`]).
    pub release_steps: usize,
    /// Every piece of work sent to a seat's module: its seat, label and the seat's schedule
    /// (the fake root server's) when it was sent.
    pub sent_work: Vec<(usize, u64, Option<SeatSchedule>)>,
    /// The simulated verifier domain (the real logic of `tileos_bundle_verifier`, run at
    /// once when the manager answers its call, unless [`Sim::hold_verifier`]).
    pub verifier: tileos_bundle_verifier::Verifier,
    /// The manager's answers to the verifier's calls not handled yet.
    pub verifier_work: VecDeque<Message>,
    /// The verifier does not run (its work waits in `verifier_work`): for hostile tests.
    pub hold_verifier: bool,
    /// Modules answer in the checksum protocol ([`encoded_answer`]: the running sum `v` as
    /// `Response::Stream { crc: v as u32, length: v }`) rather than the bare word `v`, so
    /// that the protocol's equivalence decodes their answers.
    pub encoded: bool,
    /// The lineage whose answers are padded as [`Behavior::Padded`]'s (N-version tests).
    pub padded_lineage: Option<u8>,
}

/// A property test's number of cases: `PROPTEST_CASES` when set (a long soak), else `default`
/// (what `make test` runs).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

pub fn policy() -> SlotPolicy {
    SlotPolicy {
        min_agreeing: 5,
        max_disagreement: Ratio { num: 0, den: 1 },
        max_faults: 0,
        latency_bound: Ratio { num: 1000, den: 1 },
        min_soak: 0,
        rollback_window: 10_000_000,
        answer_deadline: 100_000,
        breaker_latency_samples: 1000,
        breaker_unanswered: 1_000_000,
        restart_unanswered: None,
        max_challengers: 2,
        auto_promote: false,
    }
}

pub fn config(policy: SlotPolicy, seats: u8) -> Config {
    Config {
        name: "checksum".into(),
        incumbent: "checksum-v1".into(),
        policy,
        protocol: "checksum".into(),
        comparator: Comparator::Exact,
        allowance: vec!["log".into()],
        seats,
        n_version: None,
        queue_limit: 16,
        max_bundle: 1 << 20,
        trusted: dev_keys::trusted_bundle_key_ids().unwrap(),
        log_key: dev_keys::log_key(),
        generation: 0,
    }
}

pub fn manifest(name: &str, payload: &[u8], capabilities: Vec<CapabilityRequest>) -> Manifest {
    Manifest {
        name: name.into(),
        version: Version { major: 1, minor: 0, patch: 0 },
        lineage: Lineage { id: name.into(), parent: None, generation: 0 },
        provenance: Provenance { model_id: "hand".into(), prompt_hash: [0; 32], toolchain: "rustc".into() },
        content_hash: content_hash(payload),
        payload_size: payload.len() as u32,
        capabilities,
        evidence: Evidence { proofs: vec![], fuzz: vec![], tests: TestCounts { passed: 1, failed: 0, ignored: 0 } },
    }
}

/// A bundle of `payload` (the fake module's behaviour) signed by `signer`.
pub fn bundle_with(signer: &BundleSigner, payload: &[u8], capabilities: Vec<CapabilityRequest>) -> Vec<u8> {
    tileos_module_bundle::build(&manifest("checksum-fast", payload, capabilities), payload, signer).unwrap()
}

pub fn bundle(payload: &[u8]) -> Vec<u8> {
    thread_local!(static SIGNER: BundleSigner = dev_keys::bundle_signer());
    SIGNER.with(|signer| bundle_with(signer, payload, vec![]))
}

pub const CONTROL: u64 = 0x7700;
pub const READER: u64 = 0x7701;

impl Sim {
    /// A slot of 4 seats promoting by `policy` (`auto_promote` set) with two challengers
    /// installed, "fast" (module 1) then "fast2" (module 2).
    pub fn auto_promoting_two_fast(mut policy: SlotPolicy) -> Sim {
        policy.auto_promote = true;
        let mut sim = Sim::new(config(policy, 4));
        for payload in [&b"fast"[..], b"fast2"] {
            sim.install(&bundle(payload));
            sim.pump();
        }
        sim
    }

    pub fn new(config: Config) -> Sim {
        Sim::with_store(config, TestStore::default())
    }

    pub fn with_store(config: Config, store: TestStore) -> Sim {
        // The root server builds a seat in pieces: a begin and two continues.
        let world = Rc::new(RefCell::new(World { build_pieces: 2, ..World::default() }));
        // The root server starts seat 0 at boot (seats 0-2 in an N-version slot).
        let booted = if config.n_version.is_some() { 3 } else { 1 };
        world.borrow_mut().running.extend(0..booted);
        Sim::with_world(config, store, world)
    }

    /// A manager started on `world` (a restarted manager's: what the root server kept).
    pub fn with_world(config: Config, store: TestStore, world: Rc<RefCell<World>>) -> Sim {
        let time = Rc::new(Cell::new(1_000));
        let m = Manager::new(config, Host(world.clone()), TestClock(time.clone()), store.clone()).unwrap();
        let mut sim = Sim {
            m,
            world,
            time,
            store,
            modules: BTreeMap::new(),
            owners: BTreeMap::new(),
            next_cap: 1,
            generation: 0,
            work: VecDeque::new(),
            held: Vec::new(),
            answers: BTreeMap::new(),
            sent: BTreeMap::new(),
            wrong_lineage: None,
            imports: BTreeMap::new(),
            paused: BTreeSet::new(),
            control_replies: BTreeMap::new(),
            narrow: true,
            narrow_taken: 0,
            hold_steps: false,
            hold_rebuild: false,
            starve_priority_0: false,
            starved: Vec::new(),
            rebuild_steps: 0,
            release_steps: 0,
            verifier: tileos_bundle_verifier::Verifier::new(),
            verifier_work: VecDeque::new(),
            hold_verifier: false,
            sent_work: Vec::new(),
            encoded: false,
            padded_lineage: None,
        };
        // The verifier domain starts with the manager and calls READY.
        let first = sim.verifier.first_call();
        sim.verifier_call(first);
        // Seat 0 was started by the root server at boot.
        if sim.m.lineage_seats().is_some() {
            for k in 0..3u8 {
                // A seat the manager started again as it started (the fallback of a
                // replaced lineage) starts its module from the world's event.
                if sim.world.borrow().events.iter().any(|event| matches!(event, Event::Started(seat, _) if *seat == k)) {
                    continue;
                }
                sim.world.borrow_mut().running.insert(k);
                sim.start_module(usize::from(k), format!("lineage{k}").as_bytes());
            }
        } else {
            sim.start_module(0, b"correct");
        }
        sim.pump();
        sim
    }

    fn cap(&mut self, owner: Owner) -> ReplyCap {
        let cap = self.next_cap;
        self.next_cap += 1;
        self.owners.insert(cap, owner);
        ReplyCap(cap)
    }

    fn start_module(&mut self, seat: usize, elf: &[u8]) {
        self.generation += 1;
        let generation = self.generation;
        self.modules.insert(seat, FakeModule { behavior: behavior(elf), state: 0, served: 0, generation });
        self.work.retain(|(s, _, _)| *s != seat);
        self.held.retain(|(s, _)| *s != seat);
        if behavior(elf) == Behavior::Hung {
            return;
        }
        let cap = self.cap(Owner::Seat(seat, generation));
        self.receive(SEAT_BADGE | seat as u64, Access::Service, Message::empty(READY), cap);
    }

    /// Hands the manager a message as the glue does (a seat's to the narrow path first, unless
    /// [`Sim::narrow`] is off): then its deferred work, if now is the moment for it.
    fn receive(&mut self, badge: u64, access: Access, message: Message, cap: ReplyCap) {
        let cap = if self.narrow && badge & SEAT_BADGE != 0 {
            match self.m.copy_answer(badge, message.label, &message.words, cap) {
                Ok(()) => {
                    self.narrow_taken += 1;
                    self.m.deferred();
                    return;
                }
                Err(cap) => cap,
            }
        } else {
            cap
        };
        self.m.received(badge, access, message.label, &message.words, cap);
        if !self.hold_steps {
            self.m.deferred();
        }
    }

    /// A module's call from `seat` with `message` (for hostile tests).
    pub fn module_call(&mut self, seat: u64, message: Message) {
        // Badges are unforgeable: the call comes from the module in that seat, if any.
        let owner = match usize::try_from(seat).ok().and_then(|s| self.modules.get(&s).map(|m| (s, m.generation))) {
            Some((s, generation)) => Owner::Seat(s, generation),
            None => Owner::Seat(usize::MAX, 0),
        };
        let cap = self.cap(owner);
        self.receive(SEAT_BADGE | seat, Access::Service, message, cap);
    }

    /// The verifier domain's call `call` (badge `VERIFIER_BADGE`).
    pub fn verifier_call(&mut self, call: tileos_bundle_verifier::Call) {
        let (label, words) = call.encode();
        self.verifier_raw(Message { label, words });
    }

    /// A raw message from the verifier's badge (for hostile tests: any label and words).
    pub fn verifier_raw(&mut self, message: Message) {
        let cap = self.cap(Owner::Verifier);
        self.receive(tileos_bundle_verifier::VERIFIER_BADGE, Access::Service, message, cap);
    }

    /// The verifier handles the oldest answer it has, and makes its next call; `false`
    /// when it has none.
    pub fn verifier_turn(&mut self) -> bool {
        let Some(work) = self.verifier_work.pop_front() else { return false };
        let trusted = vec![dev_keys::trusted_bundle_keys().unwrap()];
        let call = self.verifier.handle(work.label, &work.words, &trusted);
        self.verifier_call(call);
        true
    }

    /// Client `badge` sends request `x`.
    pub fn request(&mut self, badge: u64, x: u64) {
        let n = self.sent.entry(badge).or_default();
        let seq = *n;
        *n += 1;
        let cap = self.cap(Owner::Client(badge, seq));
        self.answers.entry((badge, seq)).or_default();
        self.receive(badge, Access::Service, Message { label: MESSAGE, words: vec![x] }, cap);
    }

    /// A raw control message from `badge` with `access`; its reply (an install's commit is
    /// answered when its steps are done: they are run here, nothing else in between).
    pub fn control_raw(&mut self, badge: u64, access: Access, message: Message) -> Message {
        let id = self.send_control(badge, access, message);
        let mut steps = 0;
        let mut steps_only = false;
        loop {
            if let Some(reply) = self.take_reply(id) {
                return reply;
            }
            if !steps_only {
                // A promotion by hand is answered at its switch (after its transfer).
                self.pump();
                steps_only = true;
                continue;
            }
            assert!(self.m.install_pending(), "a control request neither answered once nothing moves nor an install under way");
            let rebuild_can_step = !self.hold_rebuild && self.m.rebuild_pending();
            if !(self.m.install_steppable() || rebuild_can_step) && self.m.install_phase() == Some("up") {
                // The installed module starts up (raised after the entry's step): its READY
                // answers the commit.
                self.pump();
                assert!(
                    self.control_replies.contains_key(&id),
                    "the installed module never called READY (a hung start is answered at READY_DEADLINE: use send_control and step the clock)"
                );
                continue;
            }
            if !(self.m.install_steppable() || rebuild_can_step) {
                // The verifier's part: it runs when the manager waits.
                assert!(self.verifier_turn(), "an install waiting for a verifier with nothing to do");
                self.pump();
                continue;
            }
            // A rebuild's step first, as the glue does (the install's staging waits for it).
            if !(rebuild_can_step && self.m.rebuild_step()) {
                self.m.install_step();
            }
            self.raise_as_the_glue_does();
            steps += 1;
            assert!(steps < 100_000, "an install that never ends");
        }
    }

    /// Sends a raw control message from `badge` with `access`, without waiting for its
    /// reply; returns the reply capability's number ([`Sim::take_reply`]).
    pub fn send_control(&mut self, badge: u64, access: Access, message: Message) -> u64 {
        let cap = self.cap(Owner::Control);
        let id = cap.0;
        self.receive(badge, access, message, cap);
        id
    }

    /// The reply sent to capability `id`, if it came (taken out of the events).
    pub fn take_reply(&mut self, id: u64) -> Option<Message> {
        if let Some(reply) = self.control_replies.remove(&id) {
            return Some(reply);
        }
        let mut w = self.world.borrow_mut();
        let at = w.events.iter().position(|e| matches!(e, Event::Reply(c, _) if *c == id))?;
        let Some(Event::Reply(_, reply)) = w.events.remove(at) else { unreachable!() };
        Some(reply)
    }

    /// Stages `bundle` in protocol-sized chunks, and sends its commit without waiting for the
    /// answer: returns the commit's reply capability ([`Sim::take_reply`]). Every staging
    /// request must be accepted.
    pub fn stage_and_commit(&mut self, bundle: &[u8]) -> u64 {
        let begin = self.control(Access::Full, &slots::Request::InstallBegin { length: bundle.len() as u32 });
        assert!(matches!(begin, slots::Response::Staged { .. }), "{begin:?}");
        for (i, chunk) in bundle.chunks(slots::MAX_CHUNK).enumerate() {
            let request =
                slots::Request::InstallChunk { offset: (i * slots::MAX_CHUNK) as u32, bytes: heapless::Vec::from_slice(chunk).unwrap() };
            let staged = self.control(Access::Full, &request);
            assert!(matches!(staged, slots::Response::Staged { .. }), "{staged:?}");
        }
        self.send_control(CONTROL, Access::Full, Message::encode(&slots::Request::InstallCommit))
    }

    pub fn control(&mut self, access: Access, request: &slots::Request) -> slots::Response {
        let reply = self.control_raw(if access == Access::Full { CONTROL } else { READER }, access, Message::encode(request));
        let response = tileos_protocol::decode::<slots::Response>(reply.label, &reply.words).expect("a control response");
        self.pump();
        response
    }

    /// Stages and commits `bundle` in protocol-sized chunks.
    pub fn install(&mut self, bundle: &[u8]) -> slots::Response {
        match self.control(Access::Full, &slots::Request::InstallBegin { length: bundle.len() as u32 }) {
            slots::Response::Staged { .. } => {}
            other => return other,
        }
        for (i, chunk) in bundle.chunks(slots::MAX_CHUNK).enumerate() {
            let request =
                slots::Request::InstallChunk { offset: (i * slots::MAX_CHUNK) as u32, bytes: heapless::Vec::from_slice(chunk).unwrap() };
            match self.control(Access::Full, &request) {
                slots::Response::Staged { .. } => {}
                other => return other,
            }
        }
        self.control(Access::Full, &slots::Request::InstallCommit)
    }

    pub fn advance(&mut self, micros: u64) {
        self.time.set(self.time.get() + micros);
        self.m.tick();
        self.pump();
    }

    /// The module in `seat` faults (the supervisor stops it and signals the manager).
    pub fn fault(&mut self, seat: usize) {
        self.modules.remove(&seat);
        self.work.retain(|(s, _, _)| *s != seat);
        self.held.retain(|(s, _)| *s != seat);
        self.world.borrow_mut().running.remove(&(seat as u8));
        self.starved.retain(|(s, _)| usize::from(*s) != seat);
        self.m.faulted(1 << seat);
        self.pump();
    }

    /// The manager domain killed and restarted by the root server as `config` (its
    /// `generation` set by the caller), on the same store, clock and root server, whose
    /// seats run on. Every call the old manager held dies with it: a client's (no answer
    /// comes), the verifier's and a module's (its runtime calls READY again, keeping its
    /// state, as `tileos_sys::module::run` does). Work a module was given before the kill
    /// stays with it: its result reaches the new manager as its next call.
    pub fn restart_manager(&mut self, config: Config) {
        self.owners.clear();
        self.control_replies.clear();
        self.world.borrow_mut().events.clear();
        self.m = Manager::new(config, Host(self.world.clone()), TestClock(self.time.clone()), self.store.clone()).unwrap();
        // The seats the new manager stopped as it started: their modules call no more.
        let stopped: Vec<usize> = self
            .world
            .borrow()
            .events
            .iter()
            .filter_map(|event| if let Event::Stopped(seat) = event { Some(usize::from(*seat)) } else { None })
            .collect();
        for seat in stopped {
            self.modules.remove(&seat);
            self.work.retain(|(s, _, _)| *s != seat);
            self.held.retain(|(s, _)| *s != seat);
        }
        self.verifier = tileos_bundle_verifier::Verifier::new();
        self.verifier_work.clear();
        let first = self.verifier.first_call();
        self.verifier_call(first);
        let waiting: Vec<(usize, u64)> = self
            .modules
            .iter()
            .filter(|(seat, _)| !self.work.iter().any(|(s, _, _)| s == *seat) && !self.held.iter().any(|(s, _)| s == *seat))
            .map(|(seat, module)| (*seat, module.generation))
            .collect();
        for (seat, generation) in waiting {
            let cap = self.cap(Owner::Seat(seat, generation));
            self.receive(SEAT_BADGE | seat as u64, Access::Service, Message::empty(READY), cap);
        }
    }

    /// After a build step, the glue's raise of a module started at priority 0 once no build
    /// step follows (`Manager::raise_due`, `Manager::raise_started`).
    pub fn raise_as_the_glue_does(&mut self) {
        if self.m.raise_due() {
            self.m.raise_started();
        }
    }

    /// Runs until nothing moves.
    pub fn pump(&mut self) {
        loop {
            let raised = self.starved.iter().position(|(seat, _)| self.world.borrow().schedules.get(seat) != Some(&SeatSchedule::Start));
            if let Some(at) = raised {
                let (seat, elf) = self.starved.remove(at);
                self.start_module(usize::from(seat), &elf);
                continue;
            }
            let event = self.world.borrow_mut().events.pop_front();
            if let Some(event) = event {
                match event {
                    Event::Reply(cap, message) => match self.owners.remove(&cap) {
                        Some(Owner::Seat(seat, generation)) => {
                            let schedule = u8::try_from(seat).ok().and_then(|k| self.world.borrow().schedules.get(&k).copied());
                            self.sent_work.push((seat, message.label, schedule));
                            self.work.push_back((seat, generation, message));
                        }
                        Some(Owner::Client(badge, seq)) => self.answers.entry((badge, seq)).or_default().push(message),
                        Some(Owner::Control) => {
                            self.control_replies.insert(cap, message);
                        }
                        Some(Owner::Verifier) => self.verifier_work.push_back(message),
                        None => {}
                    },
                    Event::Started(seat, elf)
                        if self.starve_priority_0 && self.world.borrow().schedules.get(&seat) == Some(&SeatSchedule::Start) =>
                    {
                        self.starved.push((seat, elf));
                    }
                    Event::Started(seat, elf) => self.start_module(seat as usize, &elf),
                    Event::Stopped(seat) => {
                        self.starved.retain(|(s, _)| *s != seat);
                        self.modules.remove(&(seat as usize));
                        self.work.retain(|(s, _, _)| *s != seat as usize);
                        self.held.retain(|(s, _)| *s != seat as usize);
                    }
                }
                continue;
            }
            if !self.hold_verifier && self.verifier_turn() {
                continue;
            }
            let Some(at) = self.work.iter().position(|(seat, _, _)| !self.paused.contains(seat)) else {
                // Nothing waits: the glue's deferred step, as when its poll finds no message.
                // (Its clock check may do the work itself, past `DEFERRED_BOUND`: then the
                // step finds nothing more, but the work's messages are out.)
                if !self.hold_steps && self.m.deferred_ready() && (self.m.deferred_step() || !self.world.borrow().events.is_empty()) {
                    continue;
                }
                // Then a rebuild's step, as the glue does with no client request in flight.
                if !self.hold_steps && !self.hold_rebuild && self.m.outstanding() == 0 && self.m.rebuild_pending() && self.m.rebuild_step()
                {
                    self.rebuild_steps += 1;
                    self.raise_as_the_glue_does();
                    continue;
                }
                // Then the release of journal entries no longer needed, likewise.
                if !self.hold_steps && self.m.outstanding() == 0 && self.m.release_pending() {
                    self.m.release_step();
                    self.release_steps += 1;
                    continue;
                }
                return;
            };
            let Some((seat, generation, message)) = self.work.remove(at) else { return };
            self.serve(seat, generation, message);
        }
    }

    /// Serves up to `n` pieces of the work waiting for paused seat `seat`, then pumps.
    pub fn serve_paused(&mut self, seat: usize, n: usize) {
        for _ in 0..n {
            let Some(at) = self.work.iter().position(|(s, _, _)| *s == seat) else { break };
            let Some((seat, generation, message)) = self.work.remove(at) else { break };
            self.serve(seat, generation, message);
            self.pump();
        }
        self.pump();
    }

    fn serve(&mut self, seat: usize, generation: u64, message: Message) {
        let (wrong_lineage, padded_lineage, encoded) = (self.wrong_lineage, self.padded_lineage, self.encoded);
        let Some(module) = self.modules.get_mut(&seat) else { return };
        if module.generation != generation {
            return;
        }
        let answer = match message.label {
            EXPORT => Message { label: STATE, words: vec![module.state] },
            IMPORT => {
                if module.behavior == Behavior::RefuseImport {
                    Message { label: IMPORTED, words: vec![1] }
                } else {
                    module.state = message.words.first().copied().unwrap_or(0);
                    *self.imports.entry(seat).or_default() += 1;
                    Message { label: IMPORTED, words: vec![0] }
                }
            }
            _ => {
                let x = message.words.first().copied().unwrap_or(0);
                module.served += 1;
                match module.behavior {
                    Behavior::Silent => {
                        self.held.push((seat, message));
                        return;
                    }
                    Behavior::CrashAfter(n) if module.served >= n => {
                        self.fault(seat);
                        return;
                    }
                    _ => {}
                }
                module.state = module.state.wrapping_add(x);
                let mut value = module.state;
                if module.behavior == Behavior::Wrong && x % 7 == 0 {
                    value += 1;
                }
                if let Behavior::Lineage(k) = module.behavior
                    && Some(k) == wrong_lineage
                {
                    value += 1000;
                }
                let padded =
                    module.behavior == Behavior::Padded || matches!(module.behavior, Behavior::Lineage(k) if Some(k) == padded_lineage);
                match (encoded, padded) {
                    (true, _) => encoded_answer(value, padded),
                    (false, false) => Message { label: MESSAGE, words: vec![value] },
                    (false, true) => Message { label: MESSAGE, words: vec![value, 0x5a5a] },
                }
            }
        };
        let cap = self.cap(Owner::Seat(seat, generation));
        self.receive(SEAT_BADGE | seat as u64, Access::Service, answer, cap);
    }

    /// Requests answered other than exactly once.
    pub fn not_answered_once(&self) -> Vec<((u64, u64), usize)> {
        self.answers.iter().filter(|(_, a)| a.len() != 1).map(|(k, a)| (*k, a.len())).collect()
    }

    pub fn notes(&self) -> String {
        self.world.borrow().notes.join("\n")
    }
}

/// The checksum protocol's answer a module under [`Sim::encoded`] gives for the running sum
/// `value`; `padded`: the same answer to a client, but junk in the last word's padding (when
/// the payload leaves some) and an extra word.
pub fn encoded_answer(value: u64, padded: bool) -> Message {
    use tileos_protocol::checksum::{Response, StreamState};
    let mut message = Message::encode(&Response::Stream(StreamState { crc: value as u32, length: value }));
    if padded {
        let length = message.words[0] % 8;
        if length != 0 {
            *message.words.last_mut().unwrap() |= u64::MAX << (8 * length);
        }
        message.words.push(0xa5a5_a5a5);
    }
    message
}

/// The running sum an answer under [`Sim::encoded`] carries (panics on any other answer).
pub fn decoded_sum(message: &Message) -> u64 {
    match tileos_protocol::decode(message.label, &message.words) {
        Ok(tileos_protocol::checksum::Response::Stream(state)) => state.length,
        other => panic!("not a checksum stream answer: {other:?} ({message:?})"),
    }
}

/// Client requests whose answers are the running sum of every value sent so far (the Sim's
/// modules), with the answer each must get: `expected` holds `((client badge, its request's
/// number), sum)` in arrival order.
#[derive(Default)]
pub struct RunningSums {
    /// Every request sent, with the answer it must get.
    pub expected: Vec<((u64, u64), u64)>,
    total: u64,
    seqs: [u64; 8],
}

impl RunningSums {
    /// Sends `(client badge, value)` requests in order and records their answers.
    pub fn burst(&mut self, sim: &mut Sim, requests: &[(u64, u64)]) {
        for &(badge, x) in requests {
            self.total += x;
            self.expected.push(((badge, self.seqs[badge as usize]), self.total));
            self.seqs[badge as usize] += 1;
            sim.request(badge, x);
        }
    }
}

/// The kind and reason of a refusal (panics on any other answer).
pub fn refusal(response: slots::Response) -> (slots::RefusalKind, String) {
    match response {
        slots::Response::Refused(r) => (r.kind, r.reason.to_string()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Every request client 1 sent answered exactly once, each with the running sum of its values.
pub fn clients_answered_right(sim: &Sim) {
    assert!(sim.not_answered_once().is_empty(), "{:?}", sim.not_answered_once());
    let mut sum = 0u64;
    for seq in 0..sim.sent[&1] {
        sum = sum.wrapping_add(seq);
        assert_eq!(sim.answers[&(1, seq)][0], Message { label: MESSAGE, words: vec![sum] }, "request {seq}");
    }
}
