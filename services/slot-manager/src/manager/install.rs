//! Installs (docs/slots.md, "Running slots", "Installs.", "The install-commit line"): an
//! install session's commit, the install job done in steps (hashing, the verifier
//! domain's verdict, staging the module's ELF into a seat, its start) and the checks of
//! the module's capability requests. The first stage of a module's lifecycle.

use super::Manager;
use super::seats::{Program, Role};
use super::{ModuleInfo, cut, refused};
use crate::{Clock, LogStore, Message, ReplyCap, Seats};
use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use tileos_bundle_verifier::{Call, CallError};
use tileos_module_bundle::{CapabilityRequest, ContentHasher, Progress, Stage, Verification, VerifyError, signature_input};
use tileos_protocol::module::READY;
use tileos_protocol::slots::{self, MAX_NAME, RefusalKind};
use tileos_protocol::supervisor::{self, SEAT_CHUNK, SeatProgram, SeatSchedule};
use tileos_slots::{ModuleId, Ticks};
use tileos_update_log::EventKind;

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

/// How long an install waits for its verdict from the slot's verifier domain
/// (docs/slots.md, "Installs"), from its commit: a verifier that is starting, restarting or
/// starved has that long; then the install is refused with that reason (checked at the
/// clock checks messages trigger).
pub const VERIFIER_DEADLINE: Ticks = 30_000_000;

/// Root-server calls staging an install's ELF into its seat per install step (each carries
/// [`SEAT_CHUNK`] bytes; `SeatLoad` counts as one): one, as for a rebuild
/// ([`REBUILD_CHUNKS_PER_STEP`]), since a `SeatChunk` call costs ≈ 21,600 instructions
/// (four a step, ≈ 86,000, before).
///
/// [`REBUILD_CHUNKS_PER_STEP`]: super::REBUILD_CHUNKS_PER_STEP
pub const INSTALL_CHUNKS_PER_STEP: usize = 1;

/// A bundle being staged.
pub(super) struct Staging {
    pub(super) length: u32,
    pub(super) bytes: Vec<u8>,
}

/// An install under way after its commit ([`Manager::install_step`]): the commit's caller
/// is answered when it ends.
pub(super) struct InstallJob {
    /// The commit's caller (answered at the end).
    pub(super) reply: ReplyCap,
    /// The bundle, until it is verified (then the ELF moves to the stage).
    pub(super) bundle: Vec<u8>,
    pub(super) phase: InstallPhase,
}

/// Where an install stands.
pub(super) enum InstallPhase {
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

/// The refusal phase of a bundle `error` (the bundle is hashed for its log entry first).
fn refusing(error: VerifyError) -> InstallPhase {
    InstallPhase::Refuse { reason: format!("bundle refused: {error}"), hasher: ContentHasher::new(), hashed: 0 }
}

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    /// Starts the install of the staged bundle: the work is done by [`Manager::install_step`]
    /// (the bundle and where it starts), or the refusal at once (nothing staged, or not all).
    pub(super) fn commit(&mut self) -> Result<(Vec<u8>, InstallPhase), Box<slots::Response>> {
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
    pub(super) fn dispatch_verifier(&mut self) {
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
    pub(super) fn check_verifier_deadline(&mut self, now: Ticks) {
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
    pub(super) fn stage_calls(
        &mut self,
        seat: usize,
        elf: &[u8],
        staged: Option<usize>,
        max_calls: usize,
    ) -> Result<Option<usize>, String> {
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
    pub(super) fn install_steps_first(&mut self, seat: usize) {
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
}
