//! The slot: its modules' lifecycle, request mirroring, evidence, promotion, the rollback
//! window and the circuit breaker.

use crate::evidence::Tally;
use crate::{Comparator, Equivalence, Evidence, Noise, PolicyError, Shortfall, SlotPolicy, Ticks};
use alloc::vec::Vec;

/// A module of a slot: [`ORIGINAL_INCUMBENT`] is the incumbent of the system description,
/// challengers are numbered from 1 in installation order.
pub type ModuleId = u32;
/// The incumbent the system description declares.
pub const ORIGINAL_INCUMBENT: ModuleId = 0;
/// A client request, numbered from 0 by [`Slot::request`].
pub type RequestId = u64;

/// Where a module is in its lifecycle (`docs/slots.md` draws it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Installed as a challenger, not yet running.
    Installed,
    /// Running, getting mirrored requests, gathering evidence.
    Shadowing,
    /// Its evidence meets the policy; waiting for a manual promotion, or for the rollback
    /// window of another promotion to close.
    Promotable,
    /// Serving the slot, under the circuit breaker, while the old incumbent is kept warm.
    Promoted,
    /// Serving the slot, no rollback pending (the description's incumbent starts here).
    Settled,
    /// The previous incumbent, kept running and mirrored during the rollback window.
    Warm,
    /// A warm incumbent released when the window closed (or when it faulted). Final.
    Retired,
    /// A challenger turned away. Final.
    Rejected,
    /// A promoted module replaced by the warm incumbent again. Final.
    RolledBack,
}

impl State {
    /// Whether the module is a challenger still in the running for promotion.
    fn is_challenger(self) -> bool {
        matches!(self, State::Installed | State::Shadowing | State::Promotable)
    }

    /// Whether the module has left the slot for good.
    fn is_final(self) -> bool {
        matches!(self, State::Retired | State::Rejected | State::RolledBack)
    }
}

/// Who promoted a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromotedBy {
    /// The policy, as soon as the evidence sufficed ([`SlotPolicy::auto_promote`]).
    Policy,
    /// By hand, with sufficient evidence.
    Manual,
    /// By hand, forced past insufficient evidence.
    Forced,
}

/// Why the circuit breaker tripped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trip {
    /// The promoted module faulted.
    Fault,
    /// The promoted module's disagreement with the warm incumbent exceeded the policy's
    /// allowance (with no allowance: its first disagreement), at this request.
    DisagreedWithWarm {
        /// The request that tipped it.
        request: RequestId,
    },
    /// After [`SlotPolicy::breaker_latency_samples`] answers, the promoted module's mean
    /// latency is above the latency bound times the warm incumbent's.
    LatencyRegression {
        /// The promoted module's mean latency.
        mean: Ticks,
        /// The warm incumbent's mean latency over the same requests.
        warm_mean: Ticks,
    },
    /// The promoted module held a request unanswered for longer than
    /// [`SlotPolicy::breaker_unanswered`] without faulting (hung: a loop, a wait for
    /// nothing); its manager stops it ([`Slot::unanswered`]).
    Unanswered {
        /// The oldest request it held.
        request: RequestId,
        /// How long that request had waited for its answer.
        waited: Ticks,
    },
}

/// Why a module changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Installed → Shadowing: the challenger runs.
    Started,
    /// Shadowing → Promotable: the evidence meets the policy.
    EvidenceSufficient,
    /// Promotable → Shadowing: the evidence no longer meets the policy.
    EvidenceLost(Shortfall),
    /// Shadowing or Promotable → Promoted.
    Promoted(PromotedBy),
    /// Settled → Warm: another module was promoted.
    Replaced {
        /// The promoted module.
        by: ModuleId,
    },
    /// → Rejected: more faults than the policy allows ([`Shortfall::TooManyFaults`]).
    Faulted(Shortfall),
    /// → Rejected: after at least `min_agreeing` compared requests, the disagreement is above
    /// the allowance ([`Shortfall::TooMuchDisagreement`]).
    Disagreed(Shortfall),
    /// → Rejected: another challenger was promoted (evidence gathered against the old
    /// incumbent does not speak for the new one).
    Superseded {
        /// The promoted module.
        by: ModuleId,
    },
    /// Promoted → Settled and Warm → Retired: the rollback window closed.
    WindowElapsed,
    /// Warm → Retired and Promoted → Settled: the warm incumbent faulted, so there is nothing
    /// left to roll back to.
    WarmFaulted,
    /// Promoted → RolledBack and Warm → Settled: the circuit breaker tripped.
    CircuitBreaker(Trip),
    /// Promoted → RolledBack and Warm → Settled: rolled back by hand.
    ManualRollback,
}

/// One state change, reported in an [`Outcome`] (the update log records these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The module.
    pub module: ModuleId,
    /// Its state before.
    pub from: State,
    /// Its state after.
    pub to: State,
    /// Why.
    pub reason: Reason,
    /// When.
    pub at: Ticks,
    /// The module's evidence at that moment (for a promotion: what it was promoted on).
    pub evidence: Evidence,
}

/// What the slot manager must do after an event, besides what the event's own result says.
#[must_use]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// State changes, in order.
    pub transitions: Vec<Transition>,
    /// Answers to deliver now: requests whose serving module was rolled back or lost before
    /// answering, answered already by the module that serves now (its mirrored copy).
    pub deliver: Vec<Delivery>,
    /// Requests to send again to the module that serves now (its mirrored copy is gone); its
    /// answer will be delivered ([`Answered::Deliver`]).
    pub reissue: Vec<RequestId>,
}

/// An answer to deliver to a request's client ([`Outcome::deliver`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The request.
    pub request: RequestId,
    /// The answer.
    pub answer: Vec<u8>,
}

/// Where to send a new request ([`Slot::request`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    /// The request's number, to quote with every answer.
    pub request: RequestId,
    /// The module that serves it: its answer is delivered.
    pub serve: ModuleId,
    /// How many modules get a copy: challengers, or the warm incumbent during a rollback
    /// window ([`Slot::mirrored`] names them). Their answers are compared, never delivered.
    pub copies: usize,
    /// Whether the incumbent's replica gets a copy too ([`Comparator::NoiseCancelled`]).
    pub replica: bool,
    /// A mirrored answer arriving after this counts as a timeout. The client never waits for
    /// it: the serving module's answer is delivered whenever it comes.
    pub deadline: Ticks,
}

/// Who answered a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Responder {
    /// A module of the slot.
    Module(ModuleId),
    /// The incumbent's second replica (noise-cancelled slots).
    Replica,
}

/// What became of an answer ([`Slot::answer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answered {
    /// It is the serving module's answer: deliver it to the client now.
    Deliver,
    /// Compared with the serving module's answer.
    Compared {
        /// Whether they agreed.
        agree: bool,
    },
    /// Kept until the serving module's answer arrives to compare with.
    Held,
    /// After the deadline: counted as a timeout, not compared.
    Late,
    /// Nobody waits for it (an unknown request, a responder it was not sent to, one already
    /// counted, or a module that left the slot): dropped.
    Unexpected,
}

/// Why [`Slot::install`] refused a challenger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstallRefusal {
    /// The slot already has [`SlotPolicy::max_challengers`] challengers.
    TooManyChallengers {
        /// The limit.
        max: u8,
    },
    /// A promotion's rollback window is open: challengers would shadow a module that may still
    /// be rolled back.
    RollbackWindowOpen {
        /// The promoted module.
        promoted: ModuleId,
    },
}

/// Why [`Slot::promote`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromoteRefusal {
    /// No such module in the slot.
    NoSuchModule(ModuleId),
    /// The module is not shadowing (nor promotable).
    NotShadowing(State),
    /// Another promotion's rollback window is open.
    RollbackWindowOpen {
        /// The promoted module.
        promoted: ModuleId,
    },
    /// The evidence does not meet the policy (promote with [`PromoteMode::Forced`] to
    /// override).
    Insufficient(Shortfall),
}

/// Why [`Slot::rollback`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollbackRefusal {
    /// No promotion is within its rollback window.
    NothingToRollBack,
}

/// An event named a module the slot does not have, or one in the wrong state for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotApplicable {
    /// No such module in the slot.
    NoSuchModule(ModuleId),
    /// The module is in a state the event does not apply to.
    WrongState(ModuleId, State),
}

/// How [`Slot::promote`] weighs the evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromoteMode {
    /// Promote only if the evidence meets the policy.
    IfEvidenceSuffices,
    /// Promote whatever the evidence (the breaker still watches the rollback window).
    Forced,
    /// The policy's own promotion, carried out by the slot's owner after it recorded the
    /// decision (a slot whose policy has `auto_promote` off, the owner promoting by policy
    /// itself): as [`PromoteMode::IfEvidenceSuffices`], with the reason
    /// `Promoted(Policy)`.
    Policy,
}

/// Running totals of a slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotCounters {
    /// Challengers installed.
    pub installed: u64,
    /// Challengers rejected.
    pub rejected: u64,
    /// Promotions.
    pub promoted: u64,
    /// Promotions rolled back.
    pub rolled_back: u64,
    /// Promotions settled (the window closed, or the warm incumbent faulted).
    pub settled: u64,
    /// Requests mirrored ([`Slot::request`]).
    pub requests: u64,
    /// Answers handed out for delivery: [`Answered::Deliver`] plus [`Outcome::deliver`].
    pub delivered: u64,
    /// Mirrored answers counted as timeouts.
    pub timeouts: u64,
    /// Mirrored copies skipped by pacing ([`Slot::copy_skipped`]): not compared.
    pub skipped: u64,
}

/// A module as [`Slot::module`] shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModuleView {
    /// The module.
    pub id: ModuleId,
    /// Its state.
    pub state: State,
    /// When it entered that state.
    pub since: Ticks,
    /// Its evidence: as a challenger, against the serving module; once promoted, against the
    /// warm incumbent during the rollback window.
    pub evidence: Evidence,
    /// Why it entered its state (`None` for the description's incumbent).
    pub reason: Option<Reason>,
}

/// A module of the slot. Its `Debug` shows the evidence as readers see it (the tally folded
/// in), not how it is kept: two slots given the same events print alike whichever path
/// counted the answers.
#[derive(Clone)]
struct Module {
    /// What [`Slot::module`] shows, but for the answers still in `tally` (it shows them
    /// folded into the evidence: [`Module::folded`]).
    view: ModuleView,
    /// When it started shadowing.
    shadow_since: Ticks,
    /// Whether time alone may change its verdict: at its last evaluation it fell short only
    /// of the soak, or met the policy (promotable, waiting). `Slot::finish` re-judges only
    /// these; a change of its evidence is judged where it is recorded.
    rejudge: bool,
    /// Its answers counted on the narrow path ([`Slot::copy_answer`]) since the last fold:
    /// part of its evidence, folded into `view.evidence` ([`Module::fold`]) before anything
    /// reads or changes that ([`Module::evidence_mut`], [`Module::folded`]).
    tally: Tally,
    /// How many answers the narrow path may count in `tally` before the module's verdict could
    /// change (`min_agreeing − 1 −` its compared requests, when last worked out): the narrow
    /// path takes an answer while `tally.answers < room`. Every change of the evidence other
    /// than a fold sets it to 0 ([`Module::evidence_mut`]), so that it is worked out again.
    room: u64,
}

impl core::fmt::Debug for Module {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Module")
            .field("view", &self.folded())
            .field("shadow_since", &self.shadow_since)
            .field("rejudge", &self.rejudge)
            .finish_non_exhaustive()
    }
}

impl Module {
    /// A module with no evidence yet.
    fn new(view: ModuleView, shadow_since: Ticks) -> Module {
        Module { view, shadow_since, rejudge: true, tally: Tally::default(), room: 0 }
    }

    /// Folds the narrow path's tally into the evidence.
    #[inline]
    fn fold(&mut self) {
        self.view.evidence.fold(&mut self.tally);
    }

    /// The evidence to change, folded first; the narrow path's room is worked out again after.
    fn evidence_mut(&mut self) -> &mut Evidence {
        self.fold();
        self.room = 0;
        &mut self.view.evidence
    }

    /// The view with the evidence as it stands (the tally folded into a copy).
    fn folded(&self) -> ModuleView {
        let mut view = self.view;
        let mut tally = self.tally;
        view.evidence.fold(&mut tally);
        view
    }
}

/// An answer as it arrived.
#[derive(Clone, Debug)]
struct Reply {
    /// Its bytes.
    bytes: Vec<u8>,
    /// How long after the request it came.
    latency: Ticks,
}

/// A mirrored answer compared with the serving module's answer to the same request.
#[derive(Clone, Copy, Debug)]
struct Comparison {
    /// Whether they agreed.
    agree: bool,
    /// How long after the request the serving module answered.
    served_latency: Ticks,
    /// How long after the request the mirrored answer came.
    latency: Ticks,
}

/// A mirrored copy's answer that came before the serving module's, kept to be compared with
/// it when it comes.
#[derive(Clone, Debug)]
struct Held {
    /// Who answered.
    responder: Responder,
    /// The answer.
    reply: Reply,
}

/// The order in which an exchange's copies are made, and its held answers judged: the
/// replica's first, then the modules' in table order (which is the order of their numbers).
fn copy_rank(responder: Responder) -> u64 {
    match responder {
        Responder::Replica => 0,
        Responder::Module(id) => u64::from(id) + 1,
    }
}

/// One request in flight.
#[derive(Clone, Debug)]
struct Exchange {
    /// The request.
    request: RequestId,
    /// When it was sent.
    sent: Ticks,
    /// The module whose answer is delivered.
    serving: ModuleId,
    /// How long after the request the serving module answered, once it did (its answer is
    /// then in `answer`).
    served: Option<Ticks>,
    /// The serving module's answer (meaningful once `served` is set). Its storage, like
    /// `copies`', is kept when the exchange is recycled ([`Slot::recycle`]).
    answer: Vec<u8>,
    /// Every mirrored copy made of the request, in the order they were made ([`copy_rank`]),
    /// each marked while it is still awaited (neither compared, held, timed out nor given up).
    /// A copy keeps its place for the exchange's life, so an answer's copy is found by its
    /// position (kept in the caller's [`CopyTicket`]) and settled by clearing its mark: no
    /// search, nothing moved.
    copies: Vec<MirrorCopy>,
    /// How many of `copies` are still awaited.
    awaiting: usize,
    /// The copies' answers that came before the serving module's, in the same order (empty
    /// once the serving answer is in: later answers are compared as they come).
    held: Vec<Held>,
    /// Answers of copies that count as evidence no more, while the serving answer is not in:
    /// one that came past the deadline (a timeout already), after its copy was given up at
    /// the deadline ([`Slot::tick`]), or the promoted module's answer to a copy made before
    /// its promotion ([`Slot::promote_now`] keeps those and drops the other modules').
    /// Compared with nothing: each is kept because its module's state holds the request
    /// (a copy is always run once sent), so if the request is handed over to that module
    /// ([`Slot::hand_over`]) this answer is the request's, never a second run of it.
    standby: Vec<(ModuleId, Reply)>,
}

impl Exchange {
    /// Records the serving module's answer (copied into the kept buffer).
    fn serve(&mut self, bytes: &[u8], latency: Ticks) {
        self.answer.clear();
        self.answer.extend_from_slice(bytes);
        self.served = Some(latency);
    }

    /// Keeps `from`'s answer as a standby one ([`Exchange::standby`]) if it is a module's,
    /// the serving answer is not in and `from` has no answer held or kept yet (a module
    /// answers a copy once); whether it did.
    fn keep_standby(&mut self, from: Responder, answer: &[u8], latency: Ticks) -> bool {
        let Responder::Module(module) = from else { return false };
        let kept = self.held.iter().any(|h| h.responder == from) || self.standby.iter().any(|(m, _)| *m == module);
        if self.served.is_some() || module == self.serving || kept {
            return false;
        }
        self.standby.push((module, Reply { bytes: answer.to_vec(), latency }));
        true
    }

    /// Whether nothing more is awaited: the serving answer is in and every copy compared,
    /// timed out or given up.
    fn done(&self) -> bool {
        self.served.is_some() && self.awaiting == 0 && self.held.is_empty()
    }

    /// The position of `from`'s copy in `copies` if it is still awaited.
    fn awaited(&self, from: Responder) -> Option<usize> {
        self.copies.iter().position(|c| c.awaited && c.responder == from)
    }

    /// The copy at `p` (awaited) is settled: compared, held, timed out or given up.
    #[inline(always)]
    fn settle(&mut self, p: usize) {
        if let Some(c) = self.copies.get_mut(p)
            && c.awaited
        {
            c.awaited = false;
            self.awaiting -= 1;
        }
    }

    /// Every copy still awaited is settled; their responders, in the copies' order, are
    /// appended to `to` when given.
    fn settle_all(&mut self, mut to: Option<&mut Vec<Responder>>) {
        if self.awaiting == 0 {
            return;
        }
        for c in self.copies.iter_mut().filter(|c| c.awaited) {
            c.awaited = false;
            if let Some(to) = to.as_deref_mut() {
                to.push(c.responder);
            }
        }
        self.awaiting = 0;
    }
}

/// A mirrored copy of an exchange's request ([`Exchange::copies`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MirrorCopy {
    /// Who got it.
    responder: Responder,
    /// Whether its answer is still awaited.
    awaited: bool,
}

/// Finished exchanges kept for reuse at most (their buffers make a request allocation-free
/// once the slot has seen as many requests in flight).
const SPARE_EXCHANGES: usize = 64;

/// What [`Slot::copy_answer`] verified of a challenger for its narrow path, kept by the
/// caller (the slot manager keeps one per seat) and valid while the slot's generation
/// ([`Slot::generation`]) is unchanged: the comparator is exact, no rollback window is open,
/// and the module at `index` of the table is `module`, shadowing, with its faults within the
/// policy. Every change that can falsify one of those (a module's state, the window, a fault,
/// a module leaving the table) bumps the generation, so a ticket of an earlier generation
/// is never used: [`Slot::copy_answer`] checks those things again and issues a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyTicket {
    /// The slot's generation when it was issued.
    generation: u64,
    /// The module it speaks for.
    module: ModuleId,
    /// The module's index in the table.
    index: usize,
    /// Where the module's copy was in the copies of the last exchange it answered on the
    /// narrow path ([`Exchange::copies`]): tried first on the next (the copies of every
    /// request made between two changes of the modules are alike), looked for only when
    /// another module is there.
    position: usize,
}

/// An open rollback window.
#[derive(Clone, Copy, Debug)]
struct Window {
    /// The warm incumbent.
    warm: ModuleId,
    /// When the window closes.
    until: Ticks,
}

/// The decision logic of one slot. Every event method takes the current time; none blocks and
/// none does I/O. `E` is the protocol's equivalence, used by [`Comparator::Equivalent`].
#[derive(Clone, Debug)]
pub struct Slot<E> {
    /// The promotion policy.
    policy: SlotPolicy,
    /// How answers are compared.
    comparator: Comparator,
    /// The protocol's equivalence.
    equivalence: E,
    /// Every module still in the slot (final ones are forgotten once reported).
    modules: Vec<Module>,
    /// The module whose answers are delivered.
    serving: ModuleId,
    /// The open rollback window, if any.
    window: Option<Window>,
    /// Incumbent-versus-replica comparisons.
    noise: Noise,
    /// Requests in flight (the first `live`, in request order), then finished exchanges
    /// kept for their storage (at most [`SPARE_EXCHANGES`]): a finished exchange moves past
    /// the live ones rather than out of the list, and a request takes the first spare in place.
    /// Request `r`'s exchange is at index `r −` the first's request or before it (before it by
    /// as many as finished in between): looked at there first (`Slot::exchange_of`).
    exchanges: Vec<Exchange>,
    /// How many of `exchanges` are in flight.
    live: usize,
    /// Bumped by every change that can falsify a [`CopyTicket`] (its choke points: a module's
    /// state change, the rollback window opened or closed, a fault, a module leaving the
    /// table).
    generation: u64,
    /// The modules that got a copy of the last request ([`Slot::mirrored`]; kept storage).
    mirrored: Vec<ModuleId>,
    /// The generation `mirrored` was computed in: it depends only on the modules' states and
    /// the rollback window, which change only with a generation bump.
    mirrored_for: Option<u64>,
    /// The next challenger's number.
    next_module: ModuleId,
    /// The next request's number.
    next_request: RequestId,
    /// Running totals.
    counters: SlotCounters,
}

impl<E: Equivalence> Slot<E> {
    /// A slot whose incumbent [`ORIGINAL_INCUMBENT`] serves from `now`, or why `policy` is
    /// unusable.
    pub fn new(policy: SlotPolicy, comparator: Comparator, equivalence: E, now: Ticks) -> Result<Slot<E>, PolicyError> {
        policy.validate()?;
        let incumbent =
            ModuleView { id: ORIGINAL_INCUMBENT, state: State::Settled, since: now, evidence: Evidence::default(), reason: None };
        Ok(Slot {
            policy,
            comparator,
            equivalence,
            modules: alloc::vec![Module::new(incumbent, now)],
            serving: ORIGINAL_INCUMBENT,
            window: None,
            noise: Noise::default(),
            exchanges: Vec::new(),
            live: 0,
            generation: 0,
            mirrored: Vec::new(),
            mirrored_for: None,
            next_module: ORIGINAL_INCUMBENT + 1,
            next_request: 0,
            counters: SlotCounters::default(),
        })
    }

    /// The policy.
    pub fn policy(&self) -> &SlotPolicy {
        &self.policy
    }

    /// The module whose answers are delivered.
    pub fn serving(&self) -> ModuleId {
        self.serving
    }

    /// The warm incumbent, while a rollback window is open.
    pub fn warm(&self) -> Option<ModuleId> {
        self.window.map(|w| w.warm)
    }

    /// The incumbent-versus-replica comparisons since the serving module settled.
    pub fn noise(&self) -> Noise {
        self.noise
    }

    /// Running totals.
    pub fn counters(&self) -> SlotCounters {
        self.counters
    }

    /// Requests whose serving answer has not come yet, or whose mirrored copies are still
    /// awaited.
    pub fn in_flight(&self) -> usize {
        self.live
    }

    /// The generation [`CopyTicket`]s are issued in (it only grows).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A module still in the slot.
    pub fn module(&self, id: ModuleId) -> Option<ModuleView> {
        self.find(id).map(|i| self.modules[i].folded())
    }

    /// Every module still in the slot, in installation order (the description's incumbent
    /// first while it remains).
    pub fn modules(&self) -> impl Iterator<Item = ModuleView> + '_ {
        self.modules.iter().map(Module::folded)
    }

    /// Whether [`Slot::install`] would install a challenger now, and the id it would give
    /// it: the same checks, nothing changed (so a caller can check before it builds the
    /// module, and write the id into its log before it installs).
    pub fn can_install(&self) -> Result<ModuleId, InstallRefusal> {
        if self.window.is_some() {
            return Err(InstallRefusal::RollbackWindowOpen { promoted: self.serving });
        }
        let challengers = self.modules.iter().filter(|m| m.view.state.is_challenger()).count();
        if challengers >= usize::from(self.policy.max_challengers) {
            return Err(InstallRefusal::TooManyChallengers { max: self.policy.max_challengers });
        }
        Ok(self.next_module)
    }

    /// Installs a challenger (its bundle verified, its domain about to be built): it is
    /// [`State::Installed`] until [`Slot::started`]. Refused exactly when
    /// [`Slot::can_install`] refuses; otherwise the id is the one it gave.
    pub fn install(&mut self, now: Ticks) -> Result<ModuleId, InstallRefusal> {
        let id = self.can_install()?;
        self.next_module += 1;
        let view = ModuleView { id, state: State::Installed, since: now, evidence: Evidence::default(), reason: None };
        self.modules.push(Module::new(view, now));
        self.counters.installed += 1;
        Ok(id)
    }

    /// The challenger's domain runs: it shadows from now on.
    pub fn started(&mut self, id: ModuleId, now: Ticks) -> Result<Outcome, NotApplicable> {
        let i = self.find(id).ok_or(NotApplicable::NoSuchModule(id))?;
        let state = self.modules[i].view.state;
        if state != State::Installed {
            return Err(NotApplicable::WrongState(id, state));
        }
        let mut out = Outcome::default();
        self.modules[i].shadow_since = now;
        self.change(id, State::Shadowing, Reason::Started, now, &mut out);
        Ok(out)
    }

    /// A client request arrives: where to send it.
    pub fn request(&mut self, now: Ticks) -> Mirror {
        let request = self.next_request;
        self.next_request += 1;
        self.counters.requests += 1;
        // Into kept storage: after the first requests, a request allocates nothing. Computed
        // again only after a change of generation.
        if self.mirrored_for != Some(self.generation) {
            self.mirrored.clear();
            match self.window {
                Some(window) => self.mirrored.push(window.warm),
                None => self.mirrored.extend(shadowing(&self.modules)),
            }
            self.mirrored_for = Some(self.generation);
        } else {
            debug_assert!(
                match self.window {
                    Some(window) => self.mirrored == [window.warm],
                    None => self.mirrored.iter().copied().eq(shadowing(&self.modules)),
                },
                "the mirrored modules outlived a change: a missed generation bump"
            );
        }
        let replica = self.window.is_none() && self.comparator == Comparator::NoiseCancelled;
        if self.live == self.exchanges.len() {
            self.exchanges.push(Exchange {
                request,
                sent: now,
                serving: self.serving,
                served: None,
                answer: Vec::new(),
                copies: Vec::new(),
                awaiting: 0,
                held: Vec::new(),
                standby: Vec::new(),
            });
        }
        // The first spare, in place (pushed just above if there was none).
        let exchange = &mut self.exchanges[self.live];
        self.live += 1;
        exchange.request = request;
        exchange.sent = now;
        exchange.serving = self.serving;
        exchange.served = None;
        exchange.copies.clear();
        exchange.held.clear();
        exchange.standby.clear();
        // The replica first: its comparison updates the noise before the challengers' are
        // judged against it ([`copy_rank`]).
        if replica {
            exchange.copies.push(MirrorCopy { responder: Responder::Replica, awaited: true });
        }
        exchange.copies.extend(self.mirrored.iter().map(|&id| MirrorCopy { responder: Responder::Module(id), awaited: true }));
        exchange.awaiting = exchange.copies.len();
        Mirror {
            request,
            serve: self.serving,
            copies: self.mirrored.len(),
            replica,
            deadline: now.saturating_add(self.policy.answer_deadline),
        }
    }

    /// The modules that got a copy of the last request ([`Slot::request`]), in order.
    pub fn mirrored(&self) -> &[ModuleId] {
        &self.mirrored
    }

    /// An answer to `request` from `from` arrived at `now`. Its latency runs from the request
    /// ([`Slot::request`]).
    pub fn answer(&mut self, request: RequestId, from: Responder, answer: &[u8], now: Ticks) -> (Answered, Outcome) {
        self.answer_worked(request, from, answer, now, None)
    }

    /// [`Slot::answer`], where a mirrored copy's latency is `worked` when given: the time
    /// since the copy was sent to the module, as the slot manager's paced mirroring sees it
    /// (its copies may wait in the manager's queue for the seat to take them: that wait is
    /// the pacing's, not the module's). The serving module's latency, and every deadline,
    /// still run from the request.
    pub fn answer_worked(
        &mut self,
        request: RequestId,
        from: Responder,
        answer: &[u8],
        now: Ticks,
        worked: Option<Ticks>,
    ) -> (Answered, Outcome) {
        let mut out = Outcome::default();
        let Some(x) = self.exchange_of(request) else {
            return (Answered::Unexpected, out);
        };
        let exchange = &mut self.exchanges[x];
        let serving_answer = from == Responder::Module(exchange.serving) && exchange.served.is_none();
        let latency = match worked {
            Some(worked) if !serving_answer => worked.min(now.saturating_sub(exchange.sent)),
            _ => now.saturating_sub(exchange.sent),
        };
        if serving_answer {
            // Copies answered before it are compared now (held answers are rare: a copy
            // usually runs after the serving module, so nothing is taken out in the common case).
            let held: Vec<(Responder, Comparison)> = if exchange.held.is_empty() {
                Vec::new()
            } else {
                core::mem::take(&mut exchange.held)
                    .into_iter()
                    .map(|Held { responder, reply }| {
                        let agree = self.comparator.agree(&self.equivalence, answer, &reply.bytes);
                        (responder, Comparison { agree, served_latency: latency, latency: reply.latency })
                    })
                    .collect()
            };
            exchange.serve(answer, latency);
            for (responder, compared) in held {
                self.judge(request, responder, compared, now, &mut out);
            }
            self.counters.delivered += 1;
            self.finish(now, &mut out);
            return (Answered::Deliver, out);
        }
        let Some(p) = exchange.awaited(from) else {
            if exchange.keep_standby(from, answer, latency) {
                return (Answered::Held, out);
            }
            return (Answered::Unexpected, out);
        };
        if now > exchange.sent.saturating_add(self.policy.answer_deadline) {
            exchange.settle(p);
            exchange.keep_standby(from, answer, latency);
            self.timed_out(from, now, &mut out);
            self.finish(now, &mut out);
            return (Answered::Late, out);
        }
        let Some(served_latency) = exchange.served else {
            exchange.settle(p);
            // In the copies' order, so that the held answers are judged in it.
            let at = exchange.held.iter().position(|h| copy_rank(h.responder) > copy_rank(from)).unwrap_or(exchange.held.len());
            exchange.held.insert(at, Held { responder: from, reply: Reply { bytes: answer.to_vec(), latency } });
            return (Answered::Held, out);
        };
        let agree = self.comparator.agree(&self.equivalence, &exchange.answer, answer);
        let compared = Comparison { agree, served_latency, latency };
        exchange.settle(p);
        self.judge(request, from, compared, now, &mut out);
        self.finish_compared(x, now, &mut out);
        (Answered::Compared { agree }, out)
    }

    /// The narrow path of [`Slot::answer_worked`] for the common mirrored answer: a
    /// shadowing challenger `from`'s answer to `request` (`worked` after its copy was sent),
    /// given as the message's `label` and `words` and compared **in place** with the serving
    /// module's answer bytes (equal exactly when `Message::to_bytes` of it would be: the label
    /// and then each word, little-endian). It applies only when that answer cannot change
    /// anything but the module's counters, so that the outcome is empty for certain: the
    /// comparator is exact, no rollback window is open (a warm module's answer feeds the
    /// breaker), `from` is shadowing with its faults within the policy (these four are what
    /// `ticket` certifies, below), `from` has fewer than `min_agreeing − 1` compared requests
    /// (so its verdict cannot change: the policy's judgement (`evaluate_at`) returns at once
    /// for it, host test `the_verdict_is_skipped_only_while_it_cannot_change`), and the
    /// exchange's serving answer is in and `from`'s copy is pending and within the answer
    /// deadline. It then records exactly what [`Slot::answer_worked`] records and returns
    /// whether the answer agreed: what `judge`, `evaluate_at` and `finish_compared` do for
    /// such an answer, done in place (the answer counted in the module's tally, which the
    /// slot folds into its evidence in batches, before anything reads or changes the evidence,
    /// so every reader sees what `record_answer` would have made; its verdict marked as not to
    /// be re-judged by time; the copy settled and the exchange recycled when it is done), with
    /// no [`Outcome`] made
    /// (property test `the_narrow_path_records_exactly_what_the_general_path_records`). The
    /// `min_agreeing − 1` bound is a count too: the tally's room, worked out at a fold.
    /// Otherwise `None`, with nothing changed but `ticket` (and a fold, which changes nothing
    /// any reader sees): the caller takes the general path.
    ///
    /// `ticket` is the caller's [`CopyTicket`] for `from`: when it is of the current
    /// generation and for `from`, the module's table index and the four conditions it
    /// certifies are taken from it (debug builds check them again and panic on a difference:
    /// a missed generation bump); otherwise they are checked here and, when they hold, a new
    /// ticket is written into it. The exchange is found at its index (searched for only when
    /// a later request's exchange finished before it: `Slot::exchange_of`) and the
    /// copy at the ticket's position, looked for among the exchange's copies only when
    /// another module's copy is there; the position the answer was found at is kept in the
    /// ticket for the next.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn copy_answer(
        &mut self,
        ticket: &mut Option<CopyTicket>,
        request: RequestId,
        from: ModuleId,
        label: u64,
        words: &[u64],
        now: Ticks,
        worked: Ticks,
    ) -> Option<bool> {
        let i = match *ticket {
            Some(t) if t.generation == self.generation && t.module == from => {
                debug_assert_eq!(self.narrow_module(from), Some(t.index), "a CopyTicket outlived a change: a missed generation bump");
                t.index
            }
            _ => {
                let i = self.narrow_module(from)?;
                *ticket =
                    Some(CopyTicket { generation: self.generation, module: from, index: i, position: ticket.map_or(0, |t| t.position) });
                i
            }
        };
        // Fewer than `min_agreeing − 1` compared: the tally has room (a count against a bound
        // worked out once per fold, not the evidence's sum per answer).
        let module = self.modules.get_mut(i)?;
        if module.tally.answers >= module.room {
            module.fold();
            module.room = self.policy.min_agreeing.saturating_sub(module.view.evidence.compared().saturating_add(1));
            if module.room == 0 {
                return None;
            }
        }
        debug_assert!(
            module.folded().evidence.compared().saturating_add(1) < self.policy.min_agreeing,
            "the narrow path's room outlived a change of the evidence"
        );
        // The exchange at its index, the copy at the ticket's position (its place
        // in the copies of the last exchange the module answered: the same in every request
        // made since the modules last changed), looked for only when another is there.
        let x = self.exchange_of(request)?;
        let exchange = &mut self.exchanges[x];
        // `from` is shadowing (the ticket says so), and no module that ever served a request
        // shadows again (no state leads back to `Shadowing` from a serving one): its answer
        // is never an exchange's serving answer, so that is not checked here.
        debug_assert_ne!(from, exchange.serving, "a shadowing module serves a request");
        if now > exchange.sent.saturating_add(self.policy.answer_deadline) {
            return None;
        }
        let served_latency = exchange.served?;
        let responder = Responder::Module(from);
        let mut p = ticket.as_ref().map_or(0, |t| t.position);
        if exchange.copies.get(p).is_none_or(|c| c.responder != responder) {
            p = exchange.copies.iter().position(|c| c.responder == responder)?;
        }
        if !exchange.copies[p].awaited {
            return None;
        }
        if let Some(t) = ticket.as_mut() {
            t.position = p;
        }
        let latency = worked.min(now.saturating_sub(exchange.sent));
        let agree = same_bytes(&exchange.answer, label, words);
        exchange.copies[p].awaited = false;
        exchange.awaiting -= 1;
        // The serving answer is in, so nothing is held: done when no other copy is awaited.
        let done = exchange.awaiting == 0;
        debug_assert_eq!(done, exchange.done());
        // `judge` for a shadowing challenger outside a rollback window: its evidence records
        // the answer (counted in its tally, folded in before anything reads the evidence);
        // then `evaluate_at`, with fewer than `min_agreeing` compared (one more than checked
        // above) and its faults within the policy, only marks its verdict as one time cannot
        // change.
        let module = &mut self.modules[i];
        module.tally.record(agree, latency, served_latency, self.policy.latency_bound);
        module.rejudge = false;
        // `finish_compared` with no transition and an exact comparator: the exchange is
        // recycled if no other copy is awaited.
        if done {
            self.recycle(x);
        }
        Some(agree)
    }

    /// The index of `from` in the table when a [`CopyTicket`] may speak for it: the
    /// comparator is exact, no rollback window is open, and `from` is shadowing with its
    /// faults within the policy.
    fn narrow_module(&self, from: ModuleId) -> Option<usize> {
        if self.comparator != Comparator::Exact || self.window.is_some() {
            return None;
        }
        let i = self.find(from)?;
        let m = &self.modules[i].view;
        (m.state == State::Shadowing && m.evidence.faults <= self.policy.max_faults).then_some(i)
    }

    /// `request`'s mirrored copy will never reach `from` (its seat fell behind and the
    /// manager dropped the copy): it counts as a timeout now, as it would at its deadline,
    /// and the exchange does not wait for it (so a seat that cannot keep up does not make
    /// the exchanges pile up for a whole answer deadline).
    pub fn copy_dropped(&mut self, request: RequestId, from: Responder, now: Ticks) -> Outcome {
        let mut out = Outcome::default();
        let pending = self.exchange_of(request).and_then(|x| {
            let exchange = &mut self.exchanges[x];
            let p = exchange.awaited(from)?;
            exchange.settle(p);
            Some(p)
        });
        if pending.is_some() {
            self.timed_out(from, now, &mut out);
            self.finish(now, &mut out);
        }
        out
    }

    /// `request`'s mirrored copy to `from` was skipped by the slot manager's pacing (its seat
    /// had fallen behind and catches up before it is mirrored again, docs/slots.md "Paced
    /// mirroring"): the request is **not compared** for the module it speaks for (the
    /// challenger itself; during a rollback window, when `from` is the warm incumbent, the
    /// promoted module), counted in [`Evidence::skipped`] and [`SlotCounters::skipped`],
    /// never as agreement and never as a timeout; the exchange does not wait for it. A copy
    /// not (or no longer) pending changes nothing.
    pub fn copy_skipped(&mut self, request: RequestId, from: Responder, now: Ticks) -> Outcome {
        let mut out = Outcome::default();
        let pending = self.exchange_of(request).and_then(|x| {
            let exchange = &mut self.exchanges[x];
            let p = exchange.awaited(from)?;
            exchange.settle(p);
            Some(p)
        });
        if pending.is_none() {
            return out;
        }
        self.counters.skipped += 1;
        let speaks_for = match from {
            Responder::Module(id) if self.window.is_some_and(|w| w.warm == id) => Some(self.serving),
            Responder::Module(id) => Some(id),
            Responder::Replica => None,
        };
        if let Some(i) = speaks_for.and_then(|id| self.find(id))
            && matches!(self.modules[i].view.state, State::Promoted | State::Installed | State::Shadowing | State::Promotable)
        {
            self.modules[i].evidence_mut().record_skipped();
        }
        self.finish(now, &mut out);
        out
    }

    /// [`Slot::copy_skipped`] of each of `requests` from `from`, in the order given, with
    /// the same outcome and the same slot after it (host property test
    /// `skipping_a_batch_records_exactly_what_skipping_each_records`), in one pass: each
    /// `copy_skipped` ends with `Slot::finish`, whose walk of the live exchanges and
    /// recycling of the finished one (the later live ones moved down over it) made a run of
    /// `n` skipped copies `n` × the exchanges in flight (the slot manager's catch-up of a
    /// warm module that held `queue_limit` copies, since `slots45`). Taken in one pass when
    /// `requests` are in request order and `finish` would do nothing else (no challenger to
    /// judge again, no module to forget); otherwise each is skipped in turn.
    pub fn copies_skipped(&mut self, requests: &[RequestId], from: Responder, now: Ticks) -> Outcome {
        let noise = self.comparator == Comparator::NoiseCancelled;
        let judged = self
            .modules
            .iter()
            .any(|m| (matches!(m.view.state, State::Shadowing | State::Promotable) && (m.rejudge || noise)) || m.view.state.is_final());
        if judged || !requests.is_sorted() {
            let mut out = Outcome::default();
            for &request in requests {
                let more = self.copy_skipped(request, from, now);
                out.transitions.extend(more.transitions);
                out.deliver.extend(more.deliver);
                out.reissue.extend(more.reissue);
            }
            return out;
        }
        // Every event ends with the finished exchanges recycled, so the exchanges done below
        // are the ones these copies finished, in request order.
        debug_assert!(!self.exchanges[..self.live].iter().any(Exchange::done), "a finished exchange is live");
        let speaks_for = match from {
            Responder::Module(id) if self.window.is_some_and(|w| w.warm == id) => Some(self.serving),
            Responder::Module(id) => Some(id),
            Responder::Replica => None,
        };
        let counted = speaks_for
            .and_then(|id| self.find(id))
            .filter(|&i| matches!(self.modules[i].view.state, State::Promoted | State::Installed | State::Shadowing | State::Promotable));
        // Nothing moves until the end, so each exchange is found as `copy_skipped` finds it
        // (one finished here has no copy awaited, as one recycled is not found).
        let (mut skipped, mut finished) = (0u64, false);
        for &request in requests {
            let Some(x) = self.exchange_of(request) else { continue };
            let exchange = &mut self.exchanges[x];
            let Some(p) = exchange.awaited(from) else { continue };
            exchange.settle(p);
            finished |= exchange.done();
            skipped += 1;
        }
        self.counters.skipped += skipped;
        if let Some(i) = counted
            && skipped > 0
        {
            self.modules[i].evidence_mut().record_skipped_many(skipped);
        }
        if finished {
            self.recycle_done();
        }
        Outcome::default()
    }

    /// The live exchanges that are done, finished in request order, recycled as
    /// [`Slot::recycle`] of each in that order leaves them (the others in order, then the
    /// recycled ones, the last first, then the older spares, at most [`SPARE_EXCHANGES`] of
    /// them), in place: each kept exchange moved down once, the recycled ones sorted.
    fn recycle_done(&mut self) {
        let mut kept = 0;
        for x in 0..self.live {
            if !self.exchanges[x].done() {
                self.exchanges.swap(kept, x);
                kept += 1;
            }
        }
        self.exchanges[kept..self.live].sort_unstable_by_key(|e| core::cmp::Reverse(e.request));
        self.live = kept;
        self.exchanges.truncate(kept + SPARE_EXCHANGES);
    }

    /// The clock advanced: mirrored copies past their deadline count as timeouts, the rollback
    /// window may close, and soaking challengers may become promotable.
    pub fn tick(&mut self, now: Ticks) -> Outcome {
        let mut out = Outcome::default();
        let deadline = self.policy.answer_deadline;
        let mut expired = Vec::new();
        for exchange in &mut self.exchanges[..self.live] {
            if exchange.awaiting > 0 && now > exchange.sent.saturating_add(deadline) {
                exchange.settle_all(Some(&mut expired));
            }
        }
        for responder in expired {
            self.timed_out(responder, now, &mut out);
        }
        if let Some(window) = self.window
            && now >= window.until
        {
            let promoted = self.serving;
            self.change(promoted, State::Settled, Reason::WindowElapsed, now, &mut out);
            self.change(window.warm, State::Retired, Reason::WindowElapsed, now, &mut out);
            self.settle();
            self.hand_over(window.warm, promoted, now, &mut out);
        }
        self.finish(now, &mut out);
        out
    }

    /// A module faulted (the supervisor saw it).
    pub fn faulted(&mut self, id: ModuleId, now: Ticks) -> Result<Outcome, NotApplicable> {
        let i = self.find(id).ok_or(NotApplicable::NoSuchModule(id))?;
        let mut out = Outcome::default();
        // A fault can make the module's faults exceed the policy.
        self.generation += 1;
        match self.modules[i].view.state {
            State::Installed | State::Shadowing | State::Promotable => {
                self.modules[i].evidence_mut().record_fault();
                self.evaluate(id, now, &mut out);
            }
            State::Promoted => self.roll_back(Reason::CircuitBreaker(Trip::Fault), now, &mut out),
            State::Warm => {
                let promoted = self.serving;
                self.change(promoted, State::Settled, Reason::WarmFaulted, now, &mut out);
                self.change(id, State::Retired, Reason::WarmFaulted, now, &mut out);
                self.settle();
                self.hand_over(id, promoted, now, &mut out);
            }
            // The supervisor restarts a settled incumbent; what it had not answered is asked
            // again of the restarted domain.
            State::Settled => self.hand_over(id, id, now, &mut out),
            state @ (State::Retired | State::Rejected | State::RolledBack) => return Err(NotApplicable::WrongState(id, state)),
        }
        self.finish(now, &mut out);
        Ok(out)
    }

    /// The earliest time at which [`Slot::tick`] or [`Slot::overdue_serving`] finds
    /// something to do, if any: a compared copy past its answer deadline, the rollback
    /// window's end and, with `serving` (a manager that stops a hung serving module),
    /// the serving module's oldest unanswered request past its bound (`breaker_unanswered`
    /// during the window, else `restart_unanswered` if the policy sets it). Both checks are
    /// strict (`now > sent + bound`), so the time given is one tick past the bound. A
    /// manager with a timer arms it for this (docs/timer.md) instead of waiting for a
    /// message to read its clock.
    pub fn next_deadline(&self, serving: bool) -> Option<Ticks> {
        let live = &self.exchanges[..self.live];
        let answer = self.policy.answer_deadline;
        let copies = live.iter().filter(|e| e.awaiting > 0).map(|e| e.sent.saturating_add(answer).saturating_add(1));
        let window = self.window.map(|w| w.until);
        let bound = self.unanswered_bound().filter(|_| serving);
        let held = bound.into_iter().flat_map(|bound| self.held_by_serving().map(move |e| e.sent.saturating_add(bound).saturating_add(1)));
        copies.chain(window).chain(held).min()
    }

    /// How long the serving module may hold a request unanswered: the breaker's bound
    /// during the rollback window, otherwise the policy's `restart_unanswered`, if set.
    fn unanswered_bound(&self) -> Option<Ticks> {
        match self.window {
            Some(_) => Some(self.policy.breaker_unanswered),
            None => self.policy.restart_unanswered,
        }
    }

    /// The live exchanges whose request the serving module has not answered yet.
    fn held_by_serving(&self) -> impl Iterator<Item = &Exchange> {
        self.exchanges[..self.live].iter().filter(|e| e.serving == self.serving && e.served.is_none())
    }

    /// The request the serving module has held unanswered the longest, past its bound, with
    /// how long it has waited: the module is taken for hung. During the rollback window the
    /// bound is [`SlotPolicy::breaker_unanswered`] and the promoted module is then rolled back
    /// ([`Slot::unanswered`], [`Trip::Unanswered`]); outside it, [`SlotPolicy::restart_unanswered`]
    /// (if set) and the settled serving module is stopped and restarted as at a fault
    /// ([`Slot::faulted`]). `None` while every request it holds is within the bound, or
    /// outside a window without `restart_unanswered`.
    pub fn overdue_serving(&self, now: Ticks) -> Option<(RequestId, Ticks)> {
        let bound = self.unanswered_bound()?;
        self.held_by_serving()
            .map(|e| (e.request, now.saturating_sub(e.sent)))
            .filter(|&(_, waited)| waited > bound)
            .max_by_key(|&(_, waited)| waited)
    }

    /// The promoted module `id` held `request` unanswered for `waited`
    /// ([`Slot::overdue_serving`]) and was stopped by its manager: the circuit breaker rolls
    /// back as at a fault ([`Trip::Unanswered`]), the restored module answering what it held.
    /// Refused for a module that is not the promoted one.
    pub fn unanswered(&mut self, id: ModuleId, request: RequestId, waited: Ticks, now: Ticks) -> Result<Outcome, NotApplicable> {
        let i = self.find(id).ok_or(NotApplicable::NoSuchModule(id))?;
        let state = self.modules[i].view.state;
        if state != State::Promoted {
            return Err(NotApplicable::WrongState(id, state));
        }
        let mut out = Outcome::default();
        self.generation += 1;
        self.roll_back(Reason::CircuitBreaker(Trip::Unanswered { request, waited }), now, &mut out);
        self.finish(now, &mut out);
        Ok(out)
    }

    /// Promotes challenger `id` by hand.
    pub fn promote(&mut self, id: ModuleId, mode: PromoteMode, now: Ticks) -> Result<Outcome, PromoteRefusal> {
        let by = self.check_promote(id, mode, now)?;
        let mut out = Outcome::default();
        self.promote_now(id, by, now, &mut out);
        self.finish(now, &mut out);
        Ok(out)
    }

    /// Whether [`Slot::promote`] would promote challenger `id` in `mode` now (its checks,
    /// changing nothing): how it would be promoted, or the refusal.
    pub fn check_promote(&self, id: ModuleId, mode: PromoteMode, now: Ticks) -> Result<PromotedBy, PromoteRefusal> {
        let i = self.find(id).ok_or(PromoteRefusal::NoSuchModule(id))?;
        let module = &self.modules[i];
        if !matches!(module.view.state, State::Shadowing | State::Promotable) {
            return Err(PromoteRefusal::NotShadowing(module.view.state));
        }
        if self.window.is_some() {
            return Err(PromoteRefusal::RollbackWindowOpen { promoted: self.serving });
        }
        match (mode, self.shortfall(i, now)) {
            (PromoteMode::IfEvidenceSuffices | PromoteMode::Policy, Some(shortfall)) => Err(PromoteRefusal::Insufficient(shortfall)),
            (PromoteMode::IfEvidenceSuffices, None) => Ok(PromotedBy::Manual),
            (PromoteMode::Policy, None) => Ok(PromotedBy::Policy),
            (PromoteMode::Forced, _) => Ok(PromotedBy::Forced),
        }
    }

    /// Rolls the open promotion back by hand.
    pub fn rollback(&mut self, now: Ticks) -> Result<Outcome, RollbackRefusal> {
        if self.window.is_none() {
            return Err(RollbackRefusal::NothingToRollBack);
        }
        let mut out = Outcome::default();
        self.roll_back(Reason::ManualRollback, now, &mut out);
        self.finish(now, &mut out);
        Ok(out)
    }

    /// Index of module `id` in the table.
    fn find(&self, id: ModuleId) -> Option<usize> {
        self.modules.iter().position(|m| m.view.id == id)
    }

    /// The noise to subtract from challengers' disagreement.
    fn noise_for_comparison(&self) -> Noise {
        if self.comparator == Comparator::NoiseCancelled { self.noise } else { Noise::default() }
    }

    /// The first policy criterion module `i` misses now.
    fn shortfall(&self, i: usize, now: Ticks) -> Option<Shortfall> {
        let m = &self.modules[i];
        m.folded().evidence.shortfall(&self.policy, self.noise_for_comparison(), now.saturating_sub(m.shadow_since))
    }

    /// Moves module `id` to `to` for `reason`, reporting it in `out` and counting it.
    fn change(&mut self, id: ModuleId, to: State, reason: Reason, now: Ticks, out: &mut Outcome) {
        let Some(i) = self.find(id) else { return };
        self.generation += 1;
        self.modules[i].fold();
        let view = &mut self.modules[i].view;
        out.transitions.push(Transition { module: id, from: view.state, to, reason, at: now, evidence: view.evidence });
        let from = view.state;
        view.state = to;
        view.since = now;
        view.reason = Some(reason);
        let c = &mut self.counters;
        match (from, to) {
            (_, State::Rejected) => c.rejected += 1,
            (_, State::Promoted) => c.promoted += 1,
            (_, State::RolledBack) => c.rolled_back += 1,
            (State::Promoted, State::Settled) => c.settled += 1,
            _ => {}
        }
    }

    /// Counts `other`'s answer to `request`, compared with the serving module's.
    fn judge(&mut self, request: RequestId, other: Responder, compared: Comparison, now: Ticks, out: &mut Outcome) {
        let Comparison { agree, served_latency, latency } = compared;
        let bound = self.policy.latency_bound;
        match other {
            Responder::Replica => self.noise.record(agree),
            Responder::Module(id) if self.window.is_some_and(|w| w.warm == id) => {
                // During the window the warm incumbent is the reference: the evidence is the
                // promoted module's, against it.
                let promoted = self.serving;
                let Some(p) = self.find(promoted) else { return };
                let evidence = self.modules[p].evidence_mut();
                evidence.record_answer(agree, served_latency, latency, bound);
                let evidence = *evidence;
                // Under noise cancellation the warm incumbent differs from the promoted module
                // by the noise as well: it is subtracted (as measured before the promotion:
                // the replica gets no copies in the window), and, as for a rejection, the rate
                // is judged only from `min_agreeing` compared answers on (one noisy answer
                // would be a rate of 1). Other comparators trip at the first disagreement
                // beyond the policy's.
                let noise = self.noise_for_comparison();
                let judged = self.comparator != Comparator::NoiseCancelled || evidence.compared() >= self.policy.min_agreeing;
                if judged && evidence.disagreement_exceeds(self.policy.max_disagreement, noise) {
                    self.roll_back(Reason::CircuitBreaker(Trip::DisagreedWithWarm { request }), now, out);
                } else if evidence.latency.samples >= self.policy.breaker_latency_samples && evidence.too_slow(bound) {
                    let trip = Trip::LatencyRegression {
                        mean: evidence.latency.mean().unwrap_or(0),
                        warm_mean: evidence.incumbent_latency.mean().unwrap_or(0),
                    };
                    self.roll_back(Reason::CircuitBreaker(trip), now, out);
                }
            }
            Responder::Module(id) => {
                let Some(i) = self.find(id) else { return };
                if self.modules[i].view.state.is_challenger() {
                    self.modules[i].evidence_mut().record_answer(agree, latency, served_latency, bound);
                    self.evaluate_at(i, now, out);
                }
            }
        }
    }

    /// A mirrored copy to `responder` went unanswered past the deadline.
    fn timed_out(&mut self, responder: Responder, now: Ticks, out: &mut Outcome) {
        self.counters.timeouts += 1;
        // Timeouts of the replica and of the warm incumbent are not the promoted module's
        // doing; only challengers are charged.
        if let Responder::Module(id) = responder
            && let Some(i) = self.find(id)
            && self.modules[i].view.state.is_challenger()
        {
            self.modules[i].evidence_mut().record_timeout();
            self.evaluate(id, now, out);
        }
    }

    /// Re-judges challenger `id` on its evidence: rejected, promotable, promoted, or back to
    /// shadowing.
    fn evaluate(&mut self, id: ModuleId, now: Ticks, out: &mut Outcome) {
        if let Some(i) = self.find(id) {
            self.evaluate_at(i, now, out);
        }
    }

    /// [`Slot::evaluate`] of the module at index `i` of the table (modules leave the table
    /// only in [`Slot::finish`], after the judging: an index stays valid until then).
    fn evaluate_at(&mut self, i: usize, now: Ticks, out: &mut Outcome) {
        let Some(module) = self.modules.get_mut(i) else { return };
        // What follows reads the evidence: the narrow path's tally is folded in first.
        module.fold();
        let (id, state) = (module.view.id, module.view.state);
        if !state.is_challenger() {
            return;
        }
        // Nothing can change a shadowing module's state while fewer than `min_agreeing`
        // requests were compared and its faults are within the policy: it cannot be
        // promotable (agreeing ≤ compared), rejection for disagreement waits for
        // `min_agreeing` compared, and time cannot help (the shortfall is not the soak). So
        // the policy is not computed for every answer before then (host test
        // `the_verdict_is_skipped_only_while_it_cannot_change`).
        let e = &module.view.evidence;
        if state == State::Shadowing && e.compared() < self.policy.min_agreeing && e.faults <= self.policy.max_faults {
            self.modules[i].rejudge = false;
            return;
        }
        let evidence = self.modules[i].view.evidence;
        let policy = self.policy;
        let shortfall = self.shortfall(i, now);
        self.modules[i].rejudge = matches!(shortfall, None | Some(Shortfall::SoakTooShort { .. }));
        match shortfall {
            Some(s @ Shortfall::TooManyFaults { .. }) => self.change(id, State::Rejected, Reason::Faulted(s), now, out),
            Some(s @ Shortfall::TooMuchDisagreement { .. }) if evidence.compared() >= policy.min_agreeing => {
                self.change(id, State::Rejected, Reason::Disagreed(s), now, out)
            }
            Some(s) if state == State::Promotable => self.change(id, State::Shadowing, Reason::EvidenceLost(s), now, out),
            Some(_) => {}
            None if state == State::Installed => {}
            None => {
                if state == State::Shadowing {
                    self.change(id, State::Promotable, Reason::EvidenceSufficient, now, out);
                }
                if policy.auto_promote && self.window.is_none() {
                    self.promote_now(id, PromotedBy::Policy, now, out);
                }
            }
        }
    }

    /// Promotes `id`: other challengers are superseded, the serving module goes warm, the
    /// rollback window opens.
    fn promote_now(&mut self, id: ModuleId, by: PromotedBy, now: Ticks, out: &mut Outcome) {
        let others: Vec<ModuleId> =
            self.modules.iter().filter(|m| m.view.state.is_challenger() && m.view.id != id).map(|m| m.view.id).collect();
        for other in others {
            self.change(other, State::Rejected, Reason::Superseded { by: id }, now, out);
        }
        let old = self.serving;
        self.change(old, State::Warm, Reason::Replaced { by: id }, now, out);
        self.change(id, State::Promoted, Reason::Promoted(by), now, out);
        if let Some(i) = self.find(id) {
            // From now on its evidence is against the warm incumbent.
            *self.modules[i].evidence_mut() = Evidence::default();
        }
        self.serving = id;
        self.window = Some(Window { warm: old, until: now.saturating_add(self.policy.rollback_window) });
        self.generation += 1;
        // Copies mirrored against the old incumbent no longer count for anyone: the promoted
        // module's answers to those the old incumbent has not answered are kept as standby
        // ones (a pending copy's when it comes, `keep_standby`), the others' dropped.
        let copy = Responder::Module(id);
        for exchange in &mut self.exchanges[..self.live] {
            exchange.standby.retain(|(module, _)| *module == id);
            if let Some(h) = exchange.held.iter().position(|h| h.responder == copy) {
                exchange.standby.push((id, exchange.held.remove(h).reply));
            }
            exchange.settle_all(None);
            exchange.held.clear();
        }
    }

    /// Rolls the open promotion back: the promoted module leaves, the warm one serves again.
    fn roll_back(&mut self, reason: Reason, now: Ticks, out: &mut Outcome) {
        let Some(window) = self.window.take() else { return };
        self.generation += 1;
        let promoted = self.serving;
        self.change(promoted, State::RolledBack, reason, now, out);
        self.change(window.warm, State::Settled, reason, now, out);
        self.serving = window.warm;
        self.hand_over(promoted, window.warm, now, out);
    }

    /// The window closed for good (the promotion settled): the serving module is a new
    /// program, so the noise measured on the old one no longer applies.
    fn settle(&mut self) {
        self.window = None;
        self.generation += 1;
        self.noise = Noise::default();
    }

    /// Requests `from` was serving and had not answered are handed to `to`: delivered from
    /// `to`'s mirrored answer (held, or a standby one: [`Exchange::standby`]) if it came,
    /// awaited from `to` if its copy is pending, else reissued to it (a copy given up at
    /// its deadline or by a promotion included: the slot manager makes the copy the module
    /// still holds the request, and sends the request only if no seat holds it).
    fn hand_over(&mut self, from: ModuleId, to: ModuleId, now: Ticks, out: &mut Outcome) {
        for exchange in &mut self.exchanges[..self.live] {
            if exchange.serving != from || exchange.served.is_some() {
                continue;
            }
            exchange.serving = to;
            let copy = Responder::Module(to);
            let came = match exchange.held.iter().position(|h| h.responder == copy) {
                Some(h) => Some(exchange.held.remove(h).reply),
                None => exchange.standby.iter().position(|(module, _)| *module == to).map(|k| exchange.standby.swap_remove(k).1),
            };
            if let Some(reply) = came {
                exchange.serve(&reply.bytes, reply.latency);
                out.deliver.push(Delivery { request: exchange.request, answer: reply.bytes });
                self.counters.delivered += 1;
            } else if exchange.awaited(copy).is_none() {
                out.reissue.push(exchange.request);
                exchange.sent = now;
            }
            exchange.settle_all(None);
            exchange.held.clear();
            exchange.standby.clear();
        }
    }

    /// [`Slot::finish`] after a mirrored answer to exchange `x` was compared, for the common
    /// case in one step: when the comparison changed no module's state (so none became
    /// final) and the noise did not move (not noise-cancelled), the only work left is
    /// exchange `x`, recycled if it is done. The re-judging of verdicts that time alone can
    /// change (the soak) waits for the next serving answer or clock tick, which run the
    /// whole [`Slot::finish`]. Otherwise, the whole of it.
    fn finish_compared(&mut self, x: usize, now: Ticks, out: &mut Outcome) {
        if !out.transitions.is_empty() || self.comparator == Comparator::NoiseCancelled {
            self.finish(now, out);
            return;
        }
        // Exchanges leave the live ones only in `finish`: index `x` is still the exchange.
        if self.exchanges[..self.live].get(x).is_some_and(Exchange::done) {
            self.recycle(x);
        }
    }

    /// The exchange of `request`, if it is live. Requests are numbered in order and each
    /// has an exchange until it finishes, so it is at index `request −` the first live
    /// one's, or before it by as many as finished in between: looked at there first and then
    /// down from there (at once, in the common case that none finished out of order).
    #[inline(always)]
    fn exchange_of(&self, request: RequestId) -> Option<usize> {
        let first = self.exchanges[..self.live].first()?.request;
        let guess = usize::try_from(request.checked_sub(first)?).unwrap_or(usize::MAX).min(self.live - 1);
        if self.exchanges[guess].request == request {
            return Some(guess);
        }
        self.exchanges[..guess].iter().rposition(|e| e.request == request)
    }

    /// Live exchange `x` is done: it moves past the live ones, kept for its storage, the
    /// others staying in request order (nothing moves when it is the last in flight, the
    /// common case); spares beyond [`SPARE_EXCHANGES`] are freed.
    #[inline]
    fn recycle(&mut self, x: usize) {
        // The common case in place: the last in flight, with room among the spares.
        if x + 1 == self.live && self.exchanges.len() - self.live < SPARE_EXCHANGES {
            self.live = x;
        } else {
            self.recycle_any(x);
        }
    }

    /// [`Slot::recycle`] of any live exchange: the others move down over it.
    #[inline(never)]
    fn recycle_any(&mut self, x: usize) {
        if x >= self.live {
            return;
        }
        if x + 1 < self.live {
            self.exchanges[x..self.live].rotate_left(1);
        }
        self.live -= 1;
        if self.exchanges.len() - self.live > SPARE_EXCHANGES {
            self.exchanges.truncate(self.live + SPARE_EXCHANGES);
        }
    }

    /// Re-judges the challengers (soak is a matter of time), then forgets final modules,
    /// their mirrored copies and finished exchanges.
    fn finish(&mut self, now: Ticks, out: &mut Outcome) {
        // By index, without collecting: this runs after every event. A module evaluated
        // here may promote another and supersede the rest; those are final and skipped.
        // Only verdicts that time (the soak, the window) or the noise can change are taken
        // again: with other shortfalls, nothing changed since the evidence was judged.
        let noise = self.comparator == Comparator::NoiseCancelled;
        let mut i = 0;
        while let Some(m) = self.modules.get(i) {
            if matches!(m.view.state, State::Shadowing | State::Promotable) && (m.rejudge || noise) {
                self.evaluate_at(i, now, out);
            }
            i += 1;
        }
        if self.modules.iter().any(|m| m.view.state.is_final()) {
            let gone: Vec<ModuleId> = self.modules.iter().filter(|m| m.view.state.is_final()).map(|m| m.view.id).collect();
            self.modules.retain(|m| !m.view.state.is_final());
            // Indices into the table changed (they are already stale: every state change
            // bumped the generation; bumped again for the table itself).
            self.generation += 1;
            let stays = |r: &Responder| !matches!(r, Responder::Module(id) if gone.contains(id));
            for exchange in &mut self.exchanges[..self.live] {
                for p in 0..exchange.copies.len() {
                    if !stays(&exchange.copies[p].responder) {
                        exchange.settle(p);
                    }
                }
                exchange.held.retain(|h| stays(&h.responder));
            }
        }
        // Finished exchanges are kept for their storage, in order of the others.
        let mut i = 0;
        while let Some(exchange) = self.exchanges[..self.live].get(i) {
            if exchange.done() {
                self.recycle(i);
            } else {
                i += 1;
            }
        }
    }
}

/// The modules a request is mirrored to outside a rollback window (shadowing or promotable), in
/// table order.
fn shadowing(modules: &[Module]) -> impl Iterator<Item = ModuleId> + '_ {
    modules.iter().filter(|m| matches!(m.view.state, State::Shadowing | State::Promotable)).map(|m| m.view.id)
}

/// Whether `bytes` are the message of `label` and `words` as bytes (the label, then each word,
/// little-endian: `Message::to_bytes`), compared without making them (word by word). Inline:
/// it is on the narrow path of every copy's answer, whose caller is in another crate.
#[inline(always)]
fn same_bytes(bytes: &[u8], label: u64, words: &[u64]) -> bool {
    let Some((head, rest)) = bytes.split_first_chunk::<8>() else { return false };
    let (chunks, tail) = rest.as_chunks::<8>();
    u64::from_le_bytes(*head) == label
        && tail.is_empty()
        && chunks.len() == words.len()
        && chunks.iter().zip(words).all(|(chunk, &word)| u64::from_le_bytes(*chunk) == word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExactOnly;

    /// The narrow path counts a challenger's answers in its tally, and they reach its
    /// evidence only when something reads or changes that: in between, the kept evidence is
    /// untouched and every reader sees the folded sum.
    #[test]
    fn the_narrow_paths_answers_are_folded_in_batches_before_any_reader() {
        let policy = SlotPolicy { min_agreeing: 10, max_faults: 1, min_soak: 0, answer_deadline: 20, ..SlotPolicy::default() };
        let mut s = Slot::new(policy, Comparator::Exact, ExactOnly, 0).unwrap();
        let c = s.install(0).unwrap();
        let _ = s.started(c, 0).unwrap();
        let mut ticket = None;
        for k in 0..4u64 {
            let m = s.request(10 * k);
            let _ = s.answer(m.request, Responder::Module(m.serve), &[1, 0, 0, 0, 0, 0, 0, 0], 10 * k + 1);
            let label = if k == 2 { 2 } else { 1 };
            assert_eq!(s.copy_answer(&mut ticket, m.request, c, label, &[], 10 * k + 3, 2), Some(k != 2));
        }
        let i = s.find(c).unwrap();
        assert_eq!(s.modules[i].tally.answers, 4, "counted, not folded");
        assert_eq!(s.modules[i].view.evidence, Evidence::default());
        let seen = s.module(c).unwrap().evidence;
        assert_eq!((seen.agreeing, seen.disagreeing, seen.latency.samples, seen.latency.sum, seen.incumbent_latency.max), (3, 1, 4, 8, 1));
        // A fault reads and changes the evidence: folded first.
        let _ = s.faulted(c, 50).unwrap();
        assert_eq!(s.modules[i].tally, Tally::default());
        assert_eq!(s.modules[i].view.evidence, Evidence { faults: 1, ..seen });
        assert_eq!(s.modules[i].room, 0, "worked out again at the next narrow answer");
    }
}
