//! `agent-fake-slot`: a test stand-in for a slot manager, for the update agent's boot test
//! (`qemu/runner/tests/agent.rs`, scenario `agent-slot.toml`) until real slot managers
//! exist. It serves the slot control protocol (`tileos_protocol::slots`) on the endpoint
//! "checksum" with a real update log (`tileos_update_log`, heads signed with the
//! development log key), but runs nothing: an "install" stages the bytes in chunks and, on
//! commit, only logs an install event; promote and rollback only move a number. Clients
//! need `params = { control = 2 }` for changes (`control = 1`: reads only), as with a real
//! manager. Not for real tiles.
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

use alloc::string::String;
use alloc::vec::Vec;
use heapless::Vec as HVec;
use sha2::{Digest, Sha256};
use tileos_protocol::slots::{ModuleStatus, RefusalKind, Refused, Request, Response, SignedHead, SlotControl, SlotStatus};
use tileos_sys::log;
use tileos_tilectl_wire::dev_keys;
use tileos_update_log::{EventKind, SigningKey, UpdateEvent, UpdateLog};

tileos_sys::resources! {
    /// What the fake slot needs.
    struct Resources {
        /// The slot's front endpoint.
        front: ServedEndpoint("checksum"),
    }
}

tileos_sys::entry!(main);

/// Largest bundle it stages.
const MAX_BUNDLE: u32 = 0x10000;

/// The fake slot's state.
struct Fake {
    /// Staged bytes, and the announced length.
    staged: Vec<u8>,
    /// Announced length of the staging under way.
    length: Option<u32>,
    /// Installed "modules" (their SHA-256), numbered from 1.
    installed: Vec<[u8; 32]>,
    /// The module serving.
    serving: u32,
    /// The module promoted, while its "window" is open.
    promoted: Option<u32>,
    /// The update log.
    log: UpdateLog,
}

fn refused(kind: RefusalKind, reason: &str) -> Response {
    Response::Refused(Refused::new(kind, reason))
}

fn now_ms() -> u64 {
    tileos_sys::timestamp() / tileos_sys::domain::info().tsc_per_ms.max(1)
}

impl Fake {
    /// Appends an event; whether the log took it.
    fn event(&mut self, kind: EventKind, module: u32) -> bool {
        let content_hash = module.checked_sub(1).and_then(|index| self.installed.get(index as usize)).copied().unwrap_or([0; 32]);
        let event = UpdateEvent {
            kind,
            timestamp_ms: now_ms(),
            slot: String::from("checksum"),
            module: alloc::format!("fake-module-{module}"),
            version: String::from("0.0.1"),
            content_hash,
            note: String::from("agent-fake-slot: nothing runs"),
        };
        self.log.append(&event).is_ok()
    }

    fn handle(&mut self, control: u64, request: Request) -> Response {
        let changes = matches!(
            request,
            Request::InstallBegin { .. }
                | Request::InstallChunk { .. }
                | Request::InstallCommit
                | Request::Promote { .. }
                | Request::Rollback
        );
        if control == 0 || (changes && control < 2) {
            return refused(RefusalKind::NotAllowed, "this client may not do that (control parameter)");
        }
        match request {
            Request::Status => {
                let mut modules = HVec::new();
                for module in 0..=self.installed.len().min(5) as u32 {
                    let mut name = heapless::String::new();
                    let _ = name.push_str(if module == 0 { "checksum-v1" } else { "fake-module" });
                    let mut state = heapless::String::new();
                    let _ = state.push_str(if module == self.serving { "settled" } else { "shadowing" });
                    let _ = modules.push(ModuleStatus {
                        module,
                        name,
                        state,
                        seat: module as u8,
                        agreeing: 0,
                        disagreeing: 0,
                        timeouts: 0,
                        faults: 0,
                        mean_latency: 0,
                    });
                }
                let mut name = heapless::String::new();
                let _ = name.push_str("checksum");
                Response::Status(SlotStatus {
                    name,
                    serving: self.serving,
                    modules,
                    installed: self.installed.len() as u64,
                    rejected: 0,
                    promoted: 0,
                    rolled_back: 0,
                    requests: 0,
                    timeouts: 0,
                    log_size: self.log.size(),
                    replayed: 0,
                    replay_disagreed: 0,
                })
            }
            Request::InstallBegin { length: 0 } => {
                log!("agent-fake-slot: staging discarded ({} bytes were staged)", self.staged.len());
                self.staged.clear();
                self.length = None;
                Response::Staged { received: 0 }
            }
            Request::InstallBegin { length } if length > MAX_BUNDLE => refused(RefusalKind::Staging, "bundle larger than this fake stages"),
            Request::InstallBegin { length } => {
                self.staged.clear();
                self.length = Some(length);
                Response::Staged { received: 0 }
            }
            Request::InstallChunk { offset, bytes } => match self.length {
                Some(length) if offset as usize == self.staged.len() && self.staged.len() + bytes.len() <= length as usize => {
                    self.staged.extend_from_slice(&bytes);
                    Response::Staged { received: self.staged.len() as u32 }
                }
                _ => refused(RefusalKind::Staging, "chunk out of order or past the length"),
            },
            Request::InstallCommit => match self.length {
                Some(length) if self.staged.len() == length as usize => {
                    let hash: [u8; 32] = Sha256::digest(&self.staged).into();
                    self.installed.push(hash);
                    self.staged.clear();
                    self.length = None;
                    let module = self.installed.len() as u32;
                    if !self.event(EventKind::Install, module) {
                        return refused(RefusalKind::Store, "the log refused the entry");
                    }
                    log!("agent-fake-slot: module {module} installed ({length} bytes)");
                    Response::Installed { module }
                }
                _ => refused(RefusalKind::Staging, "commit before the last chunk"),
            },
            Request::Promote { module, .. } if module == 0 || module as usize > self.installed.len() => {
                refused(RefusalKind::NotFound, "no such module")
            }
            Request::Promote { module, .. } => {
                if !self.event(EventKind::Promote, module) {
                    return refused(RefusalKind::Store, "the log refused the entry");
                }
                self.promoted = Some(module);
                self.serving = module;
                Response::Promoted { module }
            }
            Request::Rollback => match self.promoted {
                None => refused(RefusalKind::Policy, "nothing to roll back"),
                Some(module) => {
                    if !self.event(EventKind::Rollback, module) {
                        return refused(RefusalKind::Store, "the log refused the entry");
                    }
                    self.promoted = None;
                    self.serving = 0;
                    Response::RolledBack { module: 0 }
                }
            },
            Request::LogHead => {
                let head = self.log.signed_tree_head(now_ms(), &SigningKey::from_bytes(&dev_keys::LOG_SEED));
                Response::Head(SignedHead {
                    tree_size: head.head.tree_size,
                    timestamp_ms: head.head.timestamp_ms,
                    root: head.head.root_hash,
                    signature: HVec::from_slice(&head.signature).unwrap_or_default(),
                })
            }
            Request::LogEntry { index } => match self.log.entry(index).map(HVec::from_slice) {
                Some(Ok(bytes)) => Response::Entry { bytes },
                _ => refused(RefusalKind::NotFound, "no such entry"),
            },
            Request::LogInclusion { index, tree_size } if tree_size == self.log.size() => match self.log.prove_inclusion(index) {
                Ok(proof) => Response::Proof { hashes: proof.path.iter().copied().take(24).collect() },
                Err(_) => refused(RefusalKind::NotFound, "no such entry"),
            },
            Request::LogConsistency { old_size, new_size } if new_size == self.log.size() => match self.log.prove_consistency(old_size) {
                Ok(proof) => Response::Proof { hashes: proof.path.iter().copied().take(24).collect() },
                Err(_) => refused(RefusalKind::NotFound, "no such tree"),
            },
            Request::LogInclusion { .. } | Request::LogConsistency { .. } => {
                refused(RefusalKind::NotFound, "this fake proves against its current size only")
            }
        }
    }
}

fn main(resources: Resources) -> ! {
    log!("agent-fake-slot: serving the slot control protocol on \"checksum\" (a test stand-in: nothing runs)");
    let mut fake = Fake { staged: Vec::new(), length: None, installed: Vec::new(), serving: 0, promoted: None, log: UpdateLog::new() };
    tileos_sys::rpc::serve::<SlotControl>(resources.front, |badge, request| {
        let control = tileos_sys::domain::param("checksum", badge, "control").unwrap_or(0);
        Ok(fake.handle(control, request))
    })
}
