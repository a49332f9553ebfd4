//! The slot control protocol (docs/slots.md, "Running slots"): a control client's request
//! (installs, promotions and rollbacks by hand, the log, its proofs) dispatched, and the
//! slot's status.

use super::Manager;
use super::install::Staging;
use super::seats::{Program, Role};
use super::{refused, state_name};
use crate::{Access, Clock, LogStore, Seats};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use tileos_protocol::slots::{
    self, MAX_CHUNK, MAX_ENTRY, MAX_MODULES, MAX_NAME, MAX_PROOF, ModuleStatus, RefusalKind, SignedHead, SlotStatus,
};
use tileos_protocol::supervisor::SeatProgram;
use tileos_update_log::UpdateLog;

impl<S: Seats, C: Clock, L: LogStore> Manager<S, C, L> {
    pub(super) fn control(&mut self, access: Access, request: slots::Request) -> slots::Response {
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
            // The noise a noise-cancelled slot measures: its replica's answers against the
            // serving module's (since the last promotion settled).
            if self.config.comparator == tileos_slots::Comparator::NoiseCancelled {
                let noise = self.slot.noise();
                let _ = modules.push(ModuleStatus {
                    module: slots::REPLICA,
                    name: name("noise replica"),
                    state: "replica".chars().collect(),
                    seat: self.seat_of(Role::Replica).map(|s| s as u8).unwrap_or(u8::MAX),
                    agreeing: noise.compared.saturating_sub(noise.disagreeing),
                    disagreeing: noise.disagreeing,
                    timeouts: 0,
                    faults: 0,
                    mean_latency: 0,
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
}
