//! The seats and their jobs: what runs in a seat ([`Seat`], its role and program), the work
//! queued for its module ([`Job`]), the requests in flight, dispatching a job to a module
//! that waits for work, starting a module in a seat through the root server, stopping and
//! clearing a seat, and the seats' schedules (docs/slots.md, "Seat authority (the root
//! server)" and "Running slots"). Every stage of a module's lifecycle runs through here.

use super::Manager;
use crate::{Clock, LogStore, Message, ReplyCap, Seats};
use alloc::collections::VecDeque;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use tileos_protocol::module::{EXPORT, IMPORT};
use tileos_protocol::supervisor::{self, SEAT_CHUNK, SeatProgram, SeatSchedule};
use tileos_slots::{CopyTicket, ModuleId, RequestId, Ticks};

/// What runs in a seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
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
    /// The module that served under the manager before its restart: it exports its state
    /// for the incumbent's import ([`Manager::begin_adoption`]), gets no other work, and is
    /// stopped once the incumbent has imported it.
    Predecessor,
}

/// The program a seat is (re)started with.
#[derive(Clone, Debug)]
pub(super) enum Program {
    /// A description program.
    Named(SeatProgram),
    /// A bundle's ELF, kept to restart it.
    Staged(Rc<Vec<u8>>),
    /// A settled module a restarted manager kept serving ([`Manager::keep_settled_module`]):
    /// its ELF is not held, so it is not restarted; if lost, the incumbent serves again
    /// ([`Manager::kept_module_lost`]).
    Kept,
}

/// A piece of work for a seat's module.
#[derive(Clone, Debug)]
pub(super) enum Job {
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
pub(super) fn in_request_order(queue: &VecDeque<Job>, id: RequestId) -> usize {
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
pub(super) struct Seat {
    pub(super) role: Role,
    pub(super) program: Option<Program>,
    /// The module's saved call, waiting for work.
    pub(super) caller: Option<ReplyCap>,
    /// The work sent, awaiting its answer.
    pub(super) current: Option<Job>,
    /// When `current` was sent (a mirrored answer's latency runs from it:
    /// `Slot::answer_worked`).
    pub(super) current_since: Ticks,
    /// Work waiting.
    pub(super) queue: VecDeque<Job>,
    /// The module needs the reference module's state when it calls READY.
    pub(super) needs_state: bool,
    /// N-version lineages: copies were dropped, it imports the state again when it next
    /// calls.
    pub(super) diverged: bool,
    /// Paced mirroring (modules and the replica): the seat fell `queue_limit` copies behind;
    /// it gets no copies until it has answered those it holds, then imports the serving
    /// module's state and is mirrored again ([`Manager::push_copy`]).
    pub(super) catching_up: bool,
    /// Copies this seat's module did not get (skipped or dropped by the pacing) so far.
    pub(super) missed: u64,
    /// Of `missed`, how many the state it last imported covers (it is behind the serving
    /// module while `missed > in_step`).
    pub(super) in_step: u64,
    /// `missed` when its pending import was asked for (the import covers those).
    pub(super) import_covers: u64,
    /// A rolled-back module handing its state to a restored module that was behind
    /// ([`Manager::hand_off`]): the requests it still answers on the restored module's
    /// behalf, and the restored module's seat.
    pub(super) handing: Option<(Vec<RequestId>, usize)>,
    /// The warm module's journal: the requests, in order, whose copies it did not get
    /// (skipped by the pacing) or will not apply (dropped for an import), since the last
    /// import that covers them; replayed if it is restored without that import
    /// ([`Manager::replay_journal`]); with each, the digest of the answer its client got
    /// once it was delivered ([`answer_digest`]).
    ///
    /// [`answer_digest`]: super::journal::answer_digest
    pub(super) journal: VecDeque<(RequestId, Rc<Message>, Option<u64>)>,
    /// The import waiting for its state that covers the journal's first entries: its
    /// transfer and how many entries it covers (dropped when its state arrives).
    pub(super) journal_import: Option<(u64, usize)>,
    /// The schedule its running module has (`None`: no module runs).
    pub(super) schedule: Option<SeatSchedule>,
    /// When the seat was last started, until its module calls READY.
    pub(super) started_at: Option<Ticks>,
    /// The manager's generation ([`Manager::generation`]) in which the narrow path last
    /// found this seat's and the manager's conditions to hold ([`Manager::narrow_allowed`]):
    /// while it is unchanged, its copies' answers skip those checks.
    pub(super) verified: u64,
    /// The slot's [`CopyTicket`] for its module's copies' answers (the slot's checks, kept
    /// likewise while the slot's generation is unchanged).
    pub(super) ticket: Option<CopyTicket>,
}

impl Seat {
    pub(super) fn empty() -> Seat {
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
pub(super) fn start_schedule(seat: u8) -> SeatSchedule {
    if seat == 0 { SeatSchedule::Serving } else { SeatSchedule::Shadow }
}

/// A client request in flight.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) id: RequestId,
    pub(super) badge: u64,
    pub(super) reply: ReplyCap,
    pub(super) message: Rc<Message>,
    /// When it arrived.
    pub(super) arrived: Ticks,
}

/// The client requests in flight, in the order they came (at most `queue_limit`: a short
/// list, searched linearly; its storage is kept, so the serving path allocates nothing
/// for it, where a map allocated and freed a node for nearly every request).
#[derive(Debug, Default)]
pub(super) struct Flights(pub(super) Vec<InFlight>);

impl Flights {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn insert(&mut self, flight: InFlight) {
        self.0.push(flight);
    }

    pub(super) fn get(&self, id: RequestId) -> Option<&InFlight> {
        self.0.iter().find(|f| f.id == id)
    }

    pub(super) fn remove(&mut self, id: RequestId) -> Option<InFlight> {
        let at = self.0.iter().position(|f| f.id == id)?;
        Some(self.0.remove(at))
    }

    /// Whether client `badge` has a request in flight.
    pub(super) fn has_client(&self, badge: u64) -> bool {
        self.0.iter().any(|f| f.badge == badge)
    }

    pub(super) fn ids(&self) -> impl Iterator<Item = RequestId> + '_ {
        self.0.iter().map(|f| f.id)
    }
}

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    /// Sends the seat's next job if its module waits for work (and its copies are not held
    /// back: [`Manager::copies_held`]).
    pub(super) fn dispatch(&mut self, seat: usize) {
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
    pub(super) fn send_job(&mut self, seat: usize, caller: ReplyCap, job: Job) {
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

    /// Stops a seat's module and forgets its work.
    pub(super) fn stop_seat(&mut self, seat: usize) {
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
    pub(super) fn clear_seat(&mut self, seat: usize) -> Vec<Job> {
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

    /// Stages `elf` for seat `seat` in chunks.
    pub(super) fn load(&mut self, seat: u8, elf: &[u8]) -> Result<(), String> {
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
    pub(super) fn start(&mut self, seat: u8, program: SeatProgram, restart: bool) -> Result<u64, String> {
        match self.seat_request(&supervisor::Request::SeatStart { seat, program, restart })? {
            supervisor::Response::SeatStarted { generation, ticks } => Ok(self.started(seat, generation, ticks, start_schedule(seat))),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    /// One piece of a seat's start in pieces: `request` is its `SeatBegin` or a
    /// `SeatContinue`. Returns the seat's generation once it runs (`None`: pieces remain).
    pub(super) fn start_piece(&mut self, request: &supervisor::Request) -> Result<Option<u64>, String> {
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
    pub(super) fn started(&mut self, seat: u8, generation: u64, ticks: u64, schedule: SeatSchedule) -> u64 {
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
    pub(super) fn reschedule(&mut self) {
        self.reschedule_to(false);
    }

    /// [`Manager::reschedule`]; lowers schedules too when `lower`.
    pub(super) fn reschedule_to(&mut self, lower: bool) {
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
    pub(super) fn copies_held(&self, seat: usize) -> bool {
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
    pub(super) fn set_schedule(&mut self, seat: usize, schedule: SeatSchedule) {
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
    pub(super) fn raise_if_install_ended(&mut self, steppable: bool) {
        if steppable && self.raise_due() {
            self.raise_started();
        }
    }

    pub(super) fn seat_request(&mut self, request: &supervisor::Request) -> Result<supervisor::Response, String> {
        match self.host.supervisor(request) {
            Ok(supervisor::Response::Refused(refusal)) => Err(format!("the root server refused: {refusal:?}")),
            Ok(response) => Ok(response),
            Err(error) => Err(format!("the call to the root server failed: {error:?}")),
        }
    }
}
