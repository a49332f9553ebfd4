//! The supervisor control protocol: a domain the description grants the endpoint served by
//! `"supervisor"` may ask the root server's supervisor to kill a domain and restart it now
//! (as if it had faulted, under its restart policy), and may read every domain's state.
//!
//! A slot's manager (`docs/slots.md`) is a client too: it loads, starts and stops the
//! modules in its slot's seats ([`Request::SeatLoad`] … [`Request::SeatStop`]); only the
//! manager of a slot may, and only for that slot's seats (numbered from 0, the seat of the
//! description's incumbent). A module ELF is staged in [`SEAT_CHUNK`]-byte chunks, then
//! built from the seat's own fresh untyped memory with the slot's challenger priority and
//! budget and the capabilities the slot allows. When a seat's module faults, the root
//! server stops it (seats are never restarted by the supervisor) and signals the manager's
//! `seat-faults` notification with bit `1 << seat`.
//!
//! The immune system (docs/telemetry.md) asks a slot to roll back without calling its
//! manager: it keeps the request and rings [`IMMUNE_DOORBELL`] on the same notification;
//! the manager takes the request with [`Request::PendingRollback`]. A manager reports its
//! slot's comparisons ([`Request::SlotEvidence`]) for the immune system's disagreement
//! detector.
//!
//! The supervisor answers from its own loop, which also receives fault messages; it never
//! blocks on a client (it answers through the caller's one-shot reply capability).

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// Longest domain name (as `tileos_sysdesc::MAX_NAME_LEN`).
pub const MAX_NAME: usize = 64;
/// The bit the supervisor signals on a slot's `seat-faults` notification when the immune
/// system asks the slot to roll back (seats use bits 0..32 only): the manager then asks
/// [`Request::PendingRollback`].
pub const IMMUNE_DOORBELL: u64 = 1 << 63;
/// Set in every word the supervisor signals on a slot's `seat-faults` notification (with
/// the seats' bits or [`IMMUNE_DOORBELL`]). The manager receives the notification on its
/// front endpoint, where a signal arrives as an empty label-0 message with the word as its
/// badge, as a client's empty call would with the client's badge; no client of a slot's
/// front endpoint may have this bit (or [`IMMUNE_DOORBELL`]) in its badge (the image
/// builder checks), so a client's empty call is never taken for the signal.
pub const SEAT_FAULTS_SIGNAL: u64 = 1 << 61;
/// Set, with [`SEAT_FAULTS_SIGNAL`], in the word the timer domain signals on a slot's
/// `seat-faults` notification at the manager's deadline (docs/timer.md; the image builder
/// makes the manager a timer client when the tile has one): the manager then ticks its
/// clock (`Manager::tick`).
pub const TIMER_SIGNAL: u64 = 1 << 60;
/// Most domains one [`Response::Status`] lists; ask again from `first + MAX_STATUS` for more.
pub const MAX_STATUS: usize = 8;

/// Bytes of a module ELF one [`Request::SeatChunk`] carries at most.
pub const SEAT_CHUNK: usize = 768;

/// A request to the supervisor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// Requests are decoded from one message and handled at once, never kept in collections.
#[allow(clippy::large_enum_variant)]
pub enum Request {
    /// Kill the named domain now and restart it under its restart policy, as if it had
    /// faulted (the restart uses up one of its `max_restarts`).
    Restart {
        /// The domain's name in the description.
        domain: String<MAX_NAME>,
    },
    /// The state of the domains from index `first` (description order) on.
    Status {
        /// Index of the first domain listed.
        first: u16,
    },
    /// Start staging a module ELF of `length` bytes for `seat` (discards a staging under
    /// way). Slot managers only.
    SeatLoad {
        /// The seat, in the caller's slot.
        seat: u8,
        /// The ELF's size in bytes.
        length: u32,
    },
    /// The next chunk of the ELF staged for `seat`, at byte `offset` (in order).
    SeatChunk {
        /// The seat.
        seat: u8,
        /// Where the chunk starts.
        offset: u32,
        /// The bytes.
        #[serde(with = "crate::bytes")]
        bytes: Vec<u8, SEAT_CHUNK>,
    },
    /// Build and start the module of `seat` from fresh memory. The seat must be stopped.
    SeatStart {
        /// The seat.
        seat: u8,
        /// Which program.
        program: SeatProgram,
        /// Whether this start is a *restart*: the same module the seat ran, started again
        /// after it stopped at a fault or a hang (counted in the seat's `restarts` once it
        /// runs; never against a restart limit: the manager's policy governs seats). False
        /// for a different module (an install, a promotion's or rollback's seat change, a
        /// lineage's fallback). A restart of a seat that never ran a module is refused
        /// [`Refusal::NeverStarted`].
        restart: bool,
    },
    /// Stop the module of `seat` and destroy everything it had (its memory returns to the
    /// seat's region).
    SeatStop {
        /// The seat.
        seat: u8,
    },
    /// Give the module of `seat` the serving or the shadow schedule (priority and budget):
    /// the module that answers clients runs as the incumbent was declared, every other as
    /// the slot's challengers ([`SeatSchedule::Start`]: priority 0, as a module built in
    /// pieces starts). The seat must be running.
    SeatSchedule {
        /// The seat.
        seat: u8,
        /// Which schedule.
        schedule: SeatSchedule,
    },
    /// The caller's slot as the system description has it (postcard of
    /// `tileos_sysdesc::Slot`, read in [`SEAT_CHUNK`]-byte pieces from byte `offset`): how
    /// the manager learns its policy, comparator, allowance, seats and N-version mode.
    /// Slot managers only.
    SlotConfig {
        /// Where the piece starts.
        offset: u32,
    },
    /// The tile's federation node configuration (postcard of `tileos_sysdesc::Federation`,
    /// read in [`SEAT_CHUNK`]-byte pieces from byte `offset`). Only the domain the
    /// description's `[federation]` names gets it; others get
    /// [`Refusal::NotFederationDomain`].
    FederationConfig {
        /// Where the piece starts.
        offset: u32,
    },
    /// The figures the supervisor keeps of the domains from index `first` on: faults,
    /// restarts, CPU time consumed (read from each domain's TCB, which only the supervisor
    /// holds), and each domain's badge on the `telemetry` endpoint. Any client may read
    /// them (`access = "status"` suffices): numbers, no authority.
    Figures {
        /// Index of the first domain listed.
        first: u16,
    },
    /// One reporting interval of a domain's protocol-call latencies, for the immune system
    /// (docs/telemetry.md, "The immune system"). Only the domain serving the endpoint
    /// named `telemetry` may send it; others get [`Refusal::NotTelemetryDomain`].
    Observe {
        /// The domain, as its badge on the `telemetry` endpoint.
        reporter: u64,
        /// Calls in the interval (an interval without calls carries no latency figures
        /// and is not observed).
        calls: u64,
        /// The interval's median latency: upper bound of its log2 bucket, time-stamp ticks.
        p50_ticks: u64,
        /// The interval's 99th percentile, likewise.
        p99_ticks: u64,
    },
    /// The rollback the immune system asks of the caller's slot, if any (taken: asked
    /// once). Slot managers only; others get [`Refusal::NotSlotManager`].
    PendingRollback,
    /// The caller's slot compared `compared` mirrored answers so far, `disagreeing` of them
    /// disagreeing or timed out (cumulative since the manager started: totals lower than
    /// the last ones mean it started again): fed to the immune system's disagreement
    /// detector of the domains watched for that slot. Slot managers only; more disagreeing
    /// than compared is refused [`Refusal::DisagreeingAboveCompared`].
    SlotEvidence {
        /// Mirrored answers compared (timeouts included).
        compared: u64,
        /// Of them, disagreeing or timed out.
        disagreeing: u64,
    },
    /// [`Request::SeatStart`] in bounded pieces: checks the program and begins building
    /// the seat's module from fresh memory, answering [`Response::SeatBuilding`] (then
    /// [`Request::SeatContinue`] does the next piece) or, if nothing is left to do,
    /// [`Response::SeatStarted`]; the module it starts runs with [`SeatSchedule::Start`]
    /// (priority 0) until the manager gives it another. One build per slot: a `SeatLoad`, `SeatStart` or
    /// `SeatBegin` of any of its seats, a `SeatStop` of the seat built, or the manager's
    /// fault first destroys the half-built module. Slot managers only.
    SeatBegin {
        /// The seat.
        seat: u8,
        /// Which program.
        program: SeatProgram,
        /// Whether this start is a restart, as [`Request::SeatStart`]'s `restart` (counted
        /// when the last piece starts the module).
        restart: bool,
    },
    /// The next bounded piece of the build [`Request::SeatBegin`] began for `seat`:
    /// [`Response::SeatBuilding`] while pieces remain, [`Response::SeatStarted`] after the
    /// last; [`Refusal::NotBuilding`] if no build of that seat is under way.
    SeatContinue {
        /// The seat.
        seat: u8,
    },
    /// Record `seat` as the one whose module's answers the manager delivers from now on: the
    /// seat a restarted manager takes the slot's state from ([`Request::ServingSeat`]). The
    /// manager records it before it delivers the first answer of a module that did not
    /// serve before (a promotion's switch, a rollback), so that the recorded seat's module
    /// always holds every request a client was answered; and again, `settled`, when its
    /// module's rollback window closes (a restarted manager keeps a settled module serving
    /// rather than reverting to the incumbent). The seat must be running. Slot managers
    /// only; answered [`Response::SeatServingRecorded`].
    SeatServing {
        /// The seat.
        seat: u8,
        /// Whether its module serves settled (no rollback window open).
        settled: bool,
    },
    /// The seat [`Request::SeatServing`] recorded last for the caller's slot, and whether
    /// settled (seat 0, the incumbent's, not settled, until one is recorded): answered [`Response::ServingSeat`]. Slot
    /// managers only.
    ServingSeat,
}

/// The program a seat starts ([`Request::SeatStart`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeatProgram {
    /// The ELF staged with [`Request::SeatLoad`] and [`Request::SeatChunk`].
    Staged,
    /// The description's incumbent program (for the noise replica, or to bring the
    /// incumbent back).
    Incumbent,
    /// N-version lineage `0..3`'s program.
    Lineage(u8),
    /// The N-version fallback program.
    Fallback,
}

/// The schedule of a seat's module ([`Request::SeatSchedule`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeatSchedule {
    /// The incumbent domain's priority and budget, as declared: for the module that serves.
    Serving,
    /// The slot's challenger priority and budget: for every module that only shadows.
    Shadow,
    /// Priority 0, below every domain, with the seat's declared budget: what a module
    /// built in pieces ([`Request::SeatBegin`]) starts with, so that its start-up is never
    /// inside its manager's step; its manager gives it [`SeatSchedule::Shadow`] or
    /// [`SeatSchedule::Serving`] once no build step of its follows (or at its `READY`).
    Start,
}

/// The supervisor's answer. (The status variant is large, but every answer is serialised
/// into a message at once and never kept in collections, so its size does not matter.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum Response {
    /// The domain was killed and runs again, freshly built.
    Restarted {
        /// Its generation now (starts so far minus one).
        generation: u64,
        /// Restarts used up, this one included.
        restarts: u32,
    },
    /// The domain was killed but its restart budget was used up: it stays stopped.
    GaveUp {
        /// Restarts used up.
        restarts: u32,
    },
    /// Domains `first..first + domains.len()` of `total`.
    Status {
        /// Number of domains in the tile.
        total: u16,
        /// Their states, in description order.
        domains: Vec<DomainStatus, MAX_STATUS>,
    },
    /// Bytes staged for a seat so far.
    SeatStaged {
        /// Bytes received.
        received: u32,
    },
    /// The seat's module was built and runs (after a [`Request::SeatStart`] with its
    /// declared schedule, after the last [`Request::SeatContinue`] with
    /// [`SeatSchedule::Start`]).
    SeatStarted {
        /// The seat's generation (starts so far minus one).
        generation: u64,
        /// The root server's own time-stamp counter ticks for the request this answers,
        /// from its dispatch to this answer (its lines included; the module's start-up, the
        /// IPC and anything that ran meanwhile not): with the caller's span of the call, it
        /// splits the call into the root server's work and the rest.
        ticks: u64,
    },
    /// The seat's module was stopped and destroyed.
    SeatStopped,
    /// The seat's module runs with the schedule asked for.
    SeatScheduled,
    /// A piece of the caller's slot description ([`Request::SlotConfig`]).
    SlotConfig {
        /// The whole encoding's length in bytes.
        length: u32,
        /// The bytes from the asked offset (empty at or past the end).
        bytes: Vec<u8, SEAT_CHUNK>,
    },
    /// A piece of the federation configuration ([`Request::FederationConfig`]).
    FederationConfig {
        /// The whole encoding's length in bytes.
        length: u32,
        /// The bytes from the asked offset (empty at or past the end).
        bytes: Vec<u8, SEAT_CHUNK>,
    },
    /// The request was not carried out; nothing was killed.
    Refused(Refusal),
    /// Domains `first..first + domains.len()` of `total` ([`Request::Figures`]).
    Figures {
        /// Number of domains in the tile.
        total: u16,
        /// Time-stamp ticks per millisecond.
        tsc_per_ms: u64,
        /// Microseconds per kernel timer tick (the unit of `cpu_ticks`).
        tick_us: u64,
        /// Milliseconds since the processor's reset (time-stamp counter over `tsc_per_ms`).
        uptime_ms: u64,
        /// Their figures, in description order.
        domains: Vec<SupervisedFigures, MAX_FIGURES>,
    },
    /// What the immune system made of an observation ([`Request::Observe`]): the alarms
    /// it raised or cleared and what it did (each also logged with its evidence).
    Observed {
        /// The findings (usually none).
        findings: Vec<ImmuneFinding, MAX_FINDINGS>,
    },
    /// The rollback asked of the caller's slot ([`Request::PendingRollback`]).
    PendingRollback {
        /// The alarm that asked for it, with the domain it was raised for; `None`: no
        /// rollback is asked.
        alarm: Option<(String<MAX_NAME>, ImmuneFinding)>,
    },
    /// The slot's comparisons were taken ([`Request::SlotEvidence`]).
    EvidenceTaken,
    /// The seat's module is being built ([`Request::SeatBegin`]) and pieces remain: ask
    /// [`Request::SeatContinue`] for the next. Progress is counted in the pages of its
    /// segments, stack and heap; `done == total` while the last pieces (its capabilities
    /// and thread, its keeper, its start) remain.
    SeatBuilding {
        /// Pages mapped so far.
        done: u32,
        /// Pages to map in all.
        total: u32,
    },
    /// The seat is recorded as the serving one ([`Request::SeatServing`]).
    SeatServingRecorded,
    /// The seat recorded as the serving one ([`Request::ServingSeat`]).
    ServingSeat {
        /// The seat.
        seat: u8,
        /// Whether it was recorded as serving settled.
        settled: bool,
    },
}

/// Most domains one [`Response::Figures`] lists.
pub const MAX_FIGURES: usize = 4;
/// Most findings one [`Response::Observed`] carries (one per watched metric).
pub const MAX_FINDINGS: usize = 4;

/// One domain's line in [`Response::Figures`], cumulative across its restarts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisedFigures {
    /// The domain's name.
    pub name: String<MAX_NAME>,
    /// Faults the supervisor received from it.
    pub faults: u64,
    /// Restarts (after faults, on request, or by the immune system; of a slot's seat, its
    /// manager's restarts of the same module, as in [`DomainStatus`]).
    pub restarts: u64,
    /// CPU time consumed, kernel timer ticks (`TcbConsumedTime` word 0, sampled; summed
    /// over its restarts).
    pub cpu_ticks: u64,
    /// CPU time consumed, time-stamp-counter cycles (`TcbConsumedTime` word 1, charged
    /// precisely at every kernel entry and exit; summed over its restarts).
    pub cpu_cycles: u64,
    /// Its badge on the `telemetry` endpoint (0: it is no client of it, so reports none).
    pub telemetry_badge: u64,
    /// The immune system's alarms raised for it now.
    pub alarms: RaisedAlarms,
}

/// A metric the immune system watches (as `tileos_twin::drift::Metric`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImmuneMetric {
    /// Median protocol-call latency.
    LatencyP50,
    /// 99th-percentile protocol-call latency.
    LatencyP99,
    /// Faults per second.
    FaultRate,
    /// Share of mirrored requests the slot's versions disagreed on.
    SlotDisagreement,
}

impl ImmuneMetric {
    /// Every metric, in the bit order of [`RaisedAlarms`].
    pub const ALL: [ImmuneMetric; 4] =
        [ImmuneMetric::LatencyP50, ImmuneMetric::LatencyP99, ImmuneMetric::FaultRate, ImmuneMetric::SlotDisagreement];
}

/// The immune system's alarms raised now for one domain: bit `i` stands for
/// [`ImmuneMetric::ALL`]`[i]` (higher bits mean nothing and are ignored).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaisedAlarms(pub u8);

impl RaisedAlarms {
    /// These alarms and `metric`'s.
    pub fn with(self, metric: ImmuneMetric) -> RaisedAlarms {
        RaisedAlarms(self.0 | 1 << metric as u8)
    }

    /// The metrics raised, in [`ImmuneMetric::ALL`]'s order.
    pub fn metrics(self) -> impl Iterator<Item = ImmuneMetric> {
        ImmuneMetric::ALL.into_iter().filter(move |metric| self.0 & (1 << *metric as u8) != 0)
    }

    /// Whether no alarm is raised.
    pub fn is_empty(self) -> bool {
        self.metrics().next().is_none()
    }
}

/// What the immune system did about an alarm, by the domain's `on_drift` configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImmuneAction {
    /// Nothing beyond the alarm (`on_drift = 0`, or an alarm cleared).
    AlarmOnly,
    /// The domain was killed for a restart (`on_drift = 1`).
    Restarted,
    /// A restart was configured but the domain's policy or state forbids it (the reason).
    RestartRefused(Refusal),
    /// The domain was killed for a restart, but its restart budget was used up: it stays
    /// stopped.
    GaveUp,
    /// A slot rollback was configured (`on_drift = 2`): the request is kept for the slot's
    /// manager and its doorbell rung ([`IMMUNE_DOORBELL`]); the manager carries it out
    /// (the supervisor never calls a domain, so it never blocks on one).
    RollbackRequested,
}

/// One alarm raised or cleared ([`Response::Observed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImmuneFinding {
    /// The drifting metric.
    pub metric: ImmuneMetric,
    /// Raised (`true`) or cleared.
    pub raised: bool,
    /// The baseline mean, in thousandths of the metric's unit (µs, faults/s, share).
    pub baseline_milli: u64,
    /// The observation, likewise.
    pub observed_milli: u64,
    /// What was done.
    pub action: ImmuneAction,
}

/// Why the supervisor refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// No domain has that name.
    UnknownDomain,
    /// The domain's restart policy is "never": killing it would stop it for good.
    RestartPolicyNever,
    /// The domain is not running (it is stopped or was given up), so there is nothing to kill.
    NotRunning(State),
    /// The domain was killed but could not be built again (it is now stopped).
    RestartFailed,
    /// The kernel refused the seat's new priority or budget (the module keeps running
    /// with the old ones).
    ScheduleFailed,
    /// The caller may only read the status (`access = "status"` in the description).
    NotAllowed,
    /// Seat requests are for a slot's manager, and the caller is none.
    NotSlotManager,
    /// Only the domain the description's `[federation]` names may read its configuration
    /// (or the tile runs no federation node).
    NotFederationDomain,
    /// The caller's slot has no such seat.
    NoSuchSeat {
        /// Seats the slot has.
        seats: u8,
    },
    /// The seat's module runs: stop it first.
    SeatRunning,
    /// The ELF is larger than the seat's memory allows.
    ModuleTooLarge {
        /// Largest ELF the seat takes, in bytes.
        max: u32,
    },
    /// A chunk does not start where the staged bytes end, or runs past the length.
    ChunkOutOfOrder {
        /// The offset expected next.
        expected: u32,
    },
    /// Start of a staged program before all its bytes arrived.
    StagingIncomplete {
        /// Bytes received.
        received: u32,
        /// Bytes announced.
        length: u32,
    },
    /// The program is not a loadable ELF for this tile, or does not fit the seat.
    BadProgram,
    /// The slot has no such lineage or fallback program.
    NoSuchProgram,
    /// Only the domain serving the `telemetry` endpoint may send observations.
    NotTelemetryDomain,
    /// No client of the `telemetry` endpoint has that badge.
    UnknownReporter,
    /// A slot's evidence counted more disagreeing answers than compared ones.
    DisagreeingAboveCompared,
    /// [`Request::SeatContinue`] for a seat with no build under way (none was begun, it
    /// ended, or a later seat request or the manager's fault discarded it).
    NotBuilding,
    /// A start marked as a restart ([`Request::SeatStart`]'s `restart`) of a seat that
    /// never ran a module: there is nothing to start again.
    NeverStarted,
}

/// What the supervisor knows of a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Built and started.
    Running,
    /// Killed or faulted; waiting out its back-off before it is built again.
    Restarting,
    /// Faulted or killed after its last allowed restart: left stopped.
    GivenUp,
    /// Stopped for good: faulted with restart policy "never", or could not be built.
    Stopped,
}

/// One domain's line in [`Response::Status`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainStatus {
    /// The domain's name.
    pub name: String<MAX_NAME>,
    /// Its state.
    pub state: State,
    /// Its generation (starts so far minus one).
    pub generation: u64,
    /// Restarts: of a plain domain, the supervisor's (after faults, on request, or by the
    /// immune system), each using up one of its `max_restarts`; of a slot's seat, its
    /// manager's starts of the same module again after it stopped at a fault or a hang
    /// ([`Request::SeatStart`]'s `restart`), under no limit.
    pub restarts: u32,
}

/// The supervisor control protocol.
pub struct Supervisor;

impl crate::Protocol for Supervisor {
    const NAME: &'static str = "supervisor";
    type Request = Request;
    type Response = Response;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    /// The largest status answer (every name at its longest, every number at its largest)
    /// fits one message.
    #[test]
    fn the_largest_status_fits_one_message() {
        let name: String<MAX_NAME> = core::iter::repeat_n('n', MAX_NAME).collect();
        let line = DomainStatus { name, state: State::Restarting, generation: u64::MAX, restarts: u32::MAX };
        let domains: Vec<DomainStatus, MAX_STATUS> = core::iter::repeat_n(line, MAX_STATUS).collect();
        let response = Response::Status { total: u16::MAX, domains };
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&response, &mut words).expect("fits");
        assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(response));
    }

    #[test]
    fn the_largest_slot_config_piece_fits_one_message() {
        let response = Response::SlotConfig { length: u32::MAX, bytes: core::iter::repeat_n(0xff, SEAT_CHUNK).collect() };
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&response, &mut words).expect("fits");
        assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(response));
    }

    #[test]
    fn raised_alarms_name_their_metrics_and_ignore_unknown_bits() {
        let alarms = RaisedAlarms::default().with(ImmuneMetric::SlotDisagreement).with(ImmuneMetric::LatencyP50);
        assert_eq!(alarms, RaisedAlarms(0b1001));
        assert_eq!(alarms.metrics().collect::<heapless::Vec<_, 4>>(), [ImmuneMetric::LatencyP50, ImmuneMetric::SlotDisagreement]);
        assert!(RaisedAlarms::default().is_empty() && RaisedAlarms(0xf0).is_empty() && !alarms.is_empty());
        assert_eq!(RaisedAlarms(u8::MAX).metrics().count(), 4);
    }

    #[test]
    fn the_largest_figures_fit_one_message() {
        let line = SupervisedFigures {
            name: core::iter::repeat_n('n', MAX_NAME).collect(),
            faults: u64::MAX,
            restarts: u64::MAX,
            cpu_ticks: u64::MAX,
            cpu_cycles: u64::MAX,
            telemetry_badge: u64::MAX,
            alarms: RaisedAlarms(u8::MAX),
        };
        let domains = core::iter::repeat_n(line, MAX_FIGURES).collect();
        let response = Response::Figures { total: u16::MAX, tsc_per_ms: u64::MAX, tick_us: u64::MAX, uptime_ms: u64::MAX, domains };
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&response, &mut words).expect("fits");
        assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(response));
        let finding = ImmuneFinding {
            metric: ImmuneMetric::SlotDisagreement,
            raised: true,
            baseline_milli: u64::MAX,
            observed_milli: u64::MAX,
            action: ImmuneAction::RestartRefused(Refusal::NotRunning(State::GivenUp)),
        };
        let response = Response::Observed { findings: core::iter::repeat_n(finding, MAX_FINDINGS).collect() };
        let length = encode(&response, &mut words).expect("fits");
        assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(response));
        let response = Response::PendingRollback { alarm: Some((core::iter::repeat_n('n', MAX_NAME).collect(), finding)) };
        let length = encode(&response, &mut words).expect("fits");
        assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(response));
        let request = Request::SlotEvidence { compared: u64::MAX, disagreeing: u64::MAX };
        let length = encode(&request, &mut words).expect("fits");
        assert_eq!(decode::<Request>(MESSAGE, &words[..length]), Ok(request));
    }

    #[test]
    fn requests_and_refusals_round_trip() {
        let mut words = [0; PAYLOAD_WORDS + 1];
        for request in [
            Request::Restart { domain: String::try_from("nvme").unwrap() },
            Request::SeatBegin { seat: 255, program: SeatProgram::Lineage(2), restart: true },
            Request::SeatStart { seat: 255, program: SeatProgram::Fallback, restart: false },
            Request::SeatContinue { seat: 255 },
            Request::SeatServing { seat: 255, settled: true },
            Request::ServingSeat,
        ] {
            let length = encode(&request, &mut words).unwrap();
            assert_eq!(decode::<Request>(MESSAGE, &words[..length]), Ok(request));
        }
        for response in [
            Response::SeatBuilding { done: u32::MAX, total: u32::MAX },
            Response::SeatStarted { generation: u64::MAX, ticks: u64::MAX },
            Response::SeatServingRecorded,
            Response::ServingSeat { seat: 255, settled: true },
        ] {
            let length = encode(&response, &mut words).unwrap();
            assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(response));
        }
        for schedule in [SeatSchedule::Serving, SeatSchedule::Shadow, SeatSchedule::Start] {
            let request = Request::SeatSchedule { seat: 1, schedule };
            let length = encode(&request, &mut words).unwrap();
            assert_eq!(decode::<Request>(MESSAGE, &words[..length]), Ok(request));
        }
        for refusal in [
            Refusal::UnknownDomain,
            Refusal::RestartPolicyNever,
            Refusal::NotRunning(State::GivenUp),
            Refusal::RestartFailed,
            Refusal::NotAllowed,
            Refusal::NotBuilding,
            Refusal::NeverStarted,
        ] {
            let length = encode(&Response::Refused(refusal), &mut words).unwrap();
            assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(Response::Refused(refusal)));
        }
    }
}
