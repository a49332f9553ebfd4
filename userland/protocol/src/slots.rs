//! The slot control protocol: status, run-time install of signed module bundles, promotion,
//! rollback and the update log of one shadow-execution slot (`docs/slots.md`).
//!
//! It is served by the slot's manager on the slot's front endpoint, to the clients of that
//! endpoint whose description entry carries the parameter `control` (`1`: status and log
//! only; `2`: also install, promote and rollback). Every other client of the endpoint
//! speaks the service's own protocol. The update agent (network, `tilectl`) and local
//! installers are such control clients.
//!
//! A bundle (`tileos_module_bundle`) is too large for one message: it is staged in
//! [`MAX_CHUNK`]-byte chunks ([`Request::InstallBegin`], [`Request::InstallChunk`] in order,
//! [`Request::InstallCommit`]), then verified and started by the manager. Every refusal
//! names its reason ([`Refused`]).

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// Bytes of a bundle one [`Request::InstallChunk`] carries at most.
pub const MAX_CHUNK: usize = 768;
/// Longest refusal reason, in bytes (a longer one is cut, visibly: [`Refused::new`]).
pub const MAX_REASON: usize = 240;
/// Longest slot or module name.
pub const MAX_NAME: usize = 32;
/// Most modules one [`Response::Status`] lists (serving, warm, challengers, replica).
pub const MAX_MODULES: usize = 6;
/// The module number [`ModuleStatus`] gives the noise replica of a `noise-cancelled` slot
/// (no module has it): its `agreeing` and `disagreeing` count its answers that were the same
/// as the serving module's and those that differed (the noise), its `state` is "replica".
pub const REPLICA: u32 = u32::MAX;
/// Most hashes of one proof answer (enough for logs of 2^24 entries).
pub const MAX_PROOF: usize = 24;
/// Largest log entry one [`Response::Entry`] carries.
pub const MAX_ENTRY: usize = 800;

/// A 32-byte hash (SHA-256).
pub type Hash = [u8; 32];

/// A request to a slot manager.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// Requests are decoded from one message and handled at once, never kept in collections.
#[allow(clippy::large_enum_variant)]
pub enum Request {
    /// The slot's modules, their states and evidence, and its counters.
    Status,
    /// Start staging a bundle of `length` bytes (discards any staging under way).
    InstallBegin {
        /// The bundle's size in bytes.
        length: u32,
    },
    /// The next chunk of the staged bundle, at byte `offset` (chunks come in order).
    InstallChunk {
        /// Where the chunk starts in the bundle.
        offset: u32,
        /// The bytes.
        #[serde(with = "crate::bytes")]
        bytes: Vec<u8, MAX_CHUNK>,
    },
    /// Verify the staged bundle and start it as a challenger. The answer comes when the
    /// install is over (verified, staged, started, logged, or refused); the manager serves
    /// its clients meanwhile, and refuses another install `Busy` until then.
    InstallCommit,
    /// Promote challenger `module` now (needs the policy's evidence unless `force`).
    Promote {
        /// The module's number in this slot.
        module: u32,
        /// Promote even without sufficient evidence.
        force: bool,
    },
    /// Roll back the promotion whose rollback window is open.
    Rollback,
    /// The update log's latest signed tree head.
    LogHead,
    /// Log entry `index`.
    LogEntry {
        /// The entry's index (from 0).
        index: u64,
    },
    /// The inclusion proof of entry `index` in the tree of `tree_size` entries.
    LogInclusion {
        /// The entry.
        index: u64,
        /// The tree it is proven in.
        tree_size: u64,
    },
    /// The consistency proof between the trees of `old_size` and `new_size` entries.
    LogConsistency {
        /// The earlier tree.
        old_size: u64,
        /// The later tree.
        new_size: u64,
    },
}

/// A slot manager's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum Response {
    /// The slot's state.
    Status(SlotStatus),
    /// Bytes of the bundle staged so far.
    Staged {
        /// Bytes received.
        received: u32,
    },
    /// The bundle was verified and its module started as challenger `module`.
    Installed {
        /// The module's number in this slot.
        module: u32,
    },
    /// The challenger was promoted.
    Promoted {
        /// The module now serving.
        module: u32,
    },
    /// The promotion was rolled back.
    RolledBack {
        /// The module serving again.
        module: u32,
    },
    /// A signed tree head of the update log.
    Head(SignedHead),
    /// A log entry.
    Entry {
        /// Its bytes (`tileos_update_log::UpdateEvent` encoding).
        bytes: Vec<u8, MAX_ENTRY>,
    },
    /// An inclusion or consistency proof.
    Proof {
        /// The proof's hashes, in RFC 6962 order.
        hashes: Vec<Hash, MAX_PROOF>,
    },
    /// The request was not carried out.
    Refused(Refused),
}

/// A refusal: its kind and the precise reason (the same words as the log line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// What kind of refusal.
    pub kind: RefusalKind,
    /// Why, in words.
    pub reason: String<MAX_REASON>,
}

impl Refused {
    /// What a cut reason ends with.
    pub const CUT: char = '…';

    /// A refusal of `kind` for `reason`: the whole reason when it fits in [`MAX_REASON`]
    /// bytes; else as many of its first characters as fit with [`Refused::CUT`] after them,
    /// so that a cut is never silent (the manager's log line has the whole reason).
    pub fn new(kind: RefusalKind, reason: &str) -> Self {
        let mut text = String::new();
        if text.push_str(reason).is_err() {
            let room = MAX_REASON - Self::CUT.len_utf8();
            for character in reason.chars() {
                if text.len() + character.len_utf8() > room {
                    break;
                }
                let _ = text.push(character);
            }
            let _ = text.push(Self::CUT);
        }
        Self { kind, reason: text }
    }
}

/// Kinds of [`Refused`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusalKind {
    /// The caller may only read status and log (`control = 1`).
    NotAllowed,
    /// A chunk out of order, past the announced length, or a commit before the last chunk.
    Staging,
    /// The bundle is malformed, unsigned, signed by an untrusted key, or its hash is wrong.
    Bundle,
    /// The bundle asks for capabilities beyond the slot's allowance.
    Capabilities,
    /// The module could not be built (the root server's reason).
    Build,
    /// The slot's policy refuses (too many challengers, rollback window open, evidence
    /// insufficient, nothing to roll back).
    Policy,
    /// No such module or log entry.
    NotFound,
    /// The update log could not be persisted: nothing was changed.
    Store,
    /// An install is under way (its commit not answered yet): another install's
    /// `InstallBegin`, `InstallChunk` or `InstallCommit` waits its turn.
    Busy,
}

/// A signed tree head of the update log (`tileos_update_log::SignedTreeHead`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHead {
    /// Entries in the tree.
    pub tree_size: u64,
    /// The log's clock when the head was signed, in milliseconds (the manager's own
    /// monotonic count, persisted with the log).
    pub timestamp_ms: u64,
    /// The tree's root hash.
    pub root: Hash,
    /// Ed25519 signature by the tile's log key.
    pub signature: Vec<u8, 64>,
}

/// A slot's state, for [`Response::Status`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotStatus {
    /// The slot's name.
    pub name: String<MAX_NAME>,
    /// The module serving clients.
    pub serving: u32,
    /// Every live module.
    pub modules: Vec<ModuleStatus, MAX_MODULES>,
    /// Modules installed since boot.
    pub installed: u64,
    /// Modules rejected (at install or while shadowing).
    pub rejected: u64,
    /// Promotions.
    pub promoted: u64,
    /// Rollbacks.
    pub rolled_back: u64,
    /// Client requests served.
    pub requests: u64,
    /// Copies that timed out.
    pub timeouts: u64,
    /// Entries in the update log.
    pub log_size: u64,
    /// Journaled requests a restored module replayed (since the manager started).
    pub replayed: u64,
    /// Replayed requests whose answer differed from the answer their client got.
    pub replay_disagreed: u64,
}

/// One module of [`SlotStatus`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleStatus {
    /// Its number in the slot (0: the description's incumbent).
    pub module: u32,
    /// Its name and version, from its manifest (the program's name for the incumbent).
    pub name: String<MAX_NAME>,
    /// Its state (`tileos_slots::State`, in words: "shadowing", "promoted", …).
    pub state: String<16>,
    /// Its seat.
    pub seat: u8,
    /// Agreeing answers compared.
    pub agreeing: u64,
    /// Disagreeing answers.
    pub disagreeing: u64,
    /// Copies not answered in time.
    pub timeouts: u64,
    /// Faults.
    pub faults: u64,
    /// Mean answer latency in guest time-stamp counter ticks (0: no samples).
    pub mean_latency: u64,
}

/// The slot control protocol.
pub struct SlotControl;

impl crate::Protocol for SlotControl {
    const NAME: &'static str = "slot-control";
    type Request = Request;
    type Response = Response;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    fn round_trip<T: Serialize + serde::de::DeserializeOwned + PartialEq + core::fmt::Debug>(value: T) {
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&value, &mut words).expect("fits one message");
        assert_eq!(decode::<T>(MESSAGE, &words[..length]), Ok(value));
    }

    #[test]
    fn a_reason_that_fits_is_kept_whole_and_a_longer_one_is_cut_visibly() {
        let whole: String<MAX_REASON> = core::iter::repeat_n('x', MAX_REASON).collect();
        assert_eq!(Refused::new(RefusalKind::Policy, &whole).reason, whole);
        // Two-byte characters straddling the limit: cut on a character boundary.
        let long: String<{ 4 * MAX_REASON }> = core::iter::repeat_n('é', MAX_REASON).collect();
        let cut = Refused::new(RefusalKind::Policy, &long).reason;
        assert!(cut.len() <= MAX_REASON && cut.ends_with(Refused::CUT), "{cut:?}");
        assert_eq!(cut.chars().filter(|&c| c == 'é').count(), (MAX_REASON - Refused::CUT.len_utf8()) / 'é'.len_utf8());
        assert!(long.starts_with(cut.trim_end_matches(Refused::CUT)));
        let just_over: String<{ 2 * MAX_REASON }> = core::iter::repeat_n('y', MAX_REASON + 1).collect();
        let cut = Refused::new(RefusalKind::Busy, &just_over).reason;
        assert_eq!(cut.len(), MAX_REASON);
        assert!(just_over.starts_with(cut.trim_end_matches(Refused::CUT)) && cut.ends_with(Refused::CUT), "{cut:?}");
    }

    #[test]
    fn the_largest_messages_fit() {
        round_trip(Request::InstallChunk { offset: u32::MAX, bytes: core::iter::repeat_n(0xff, MAX_CHUNK).collect() });
        round_trip(Response::Entry { bytes: core::iter::repeat_n(0xff, MAX_ENTRY).collect() });
        round_trip(Response::Proof { hashes: core::iter::repeat_n([0xff; 32], MAX_PROOF).collect() });
        round_trip(Response::Refused(Refused { kind: RefusalKind::Capabilities, reason: core::iter::repeat_n('r', MAX_REASON).collect() }));
        let name: String<MAX_NAME> = core::iter::repeat_n('n', MAX_NAME).collect();
        let module = ModuleStatus {
            module: u32::MAX,
            name: name.clone(),
            state: core::iter::repeat_n('s', 16).collect(),
            seat: u8::MAX,
            agreeing: u64::MAX,
            disagreeing: u64::MAX,
            timeouts: u64::MAX,
            faults: u64::MAX,
            mean_latency: u64::MAX,
        };
        round_trip(Response::Status(SlotStatus {
            name,
            serving: u32::MAX,
            modules: core::iter::repeat_n(module, MAX_MODULES).collect(),
            installed: u64::MAX,
            rejected: u64::MAX,
            promoted: u64::MAX,
            rolled_back: u64::MAX,
            requests: u64::MAX,
            timeouts: u64::MAX,
            log_size: u64::MAX,
            replayed: u64::MAX,
            replay_disagreed: u64::MAX,
        }));
        round_trip(Response::Head(SignedHead {
            tree_size: u64::MAX,
            timestamp_ms: u64::MAX,
            root: [0xff; 32],
            signature: core::iter::repeat_n(0xff, 64).collect(),
        }));
    }
}
