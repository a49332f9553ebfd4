//! The tilectl wire protocol: how `tilectl` (host) talks to the update agent (a domain on
//! the tile) over TCP, and the agent's session logic (`docs/tilectl.md`).
//!
//! - **Frames.** Every message is one frame: a 4-byte big-endian length, then that many
//!   bytes of a `postcard` encoding ([`ClientFrame`] from the client, [`ServerFrame`] from
//!   the agent). A length of 0 or above [`MAX_FRAME`] is refused before any byte of the
//!   body is read ([`frame::FrameReader`]); nothing on the wire is trusted to be small.
//! - **Authentication.** On connect the agent sends [`Hello`] with a fresh 32-byte
//!   challenge. Each command carries a counter (0, 1, 2, … on that connection) and,
//!   for the privileged ones (install, promote, rollback: [`Command::is_privileged`]), an
//!   Ed25519 signature by the operator key over [`auth::signed_bytes`] (a context string,
//!   the challenge, the counter and the command's encoding). A signature is therefore good
//!   for one command on one connection: replaying it on another connection (another
//!   challenge) or twice on the same one (the counter moved on) fails.
//! - **Reading** (status, domains, log) needs no signature: the log is verified by the
//!   client against the tile's log key anyway, and the status shows no secrets. A read
//!   command that does carry a signature must carry a good one.
//! - **The agent** ([`session::Agent`]) turns commands into requests of the slot control
//!   protocol (`tileos_protocol::slots`) and the supervisor's status request, through a
//!   [`session::Backend`]: on the tile the real endpoints, in tests a fake.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod auth;
pub mod dev_keys;
pub mod entropy;
pub mod frame;
#[cfg(feature = "std")]
pub mod host;
pub mod session;

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};
use tileos_protocol::{slots, supervisor, telemetry, twin, verify};

pub use tileos_protocol;

/// The TCP port the update agent listens on (guest side).
pub const PORT: u16 = 7700;
/// The protocol version [`Hello`] announces; a client refuses any other.
pub const VERSION: u16 = 1;
/// Largest frame body in bytes (the length prefix excluded).
pub const MAX_FRAME: usize = 1400;
/// Bytes of the length prefix.
pub const LENGTH_BYTES: usize = 4;
/// Most slots one agent fronts.
pub const MAX_SLOTS: usize = 8;
/// Longest slot name (as the slot control protocol's names).
pub const MAX_NAME: usize = slots::MAX_NAME;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;
/// Bytes of a challenge.
pub const CHALLENGE_BYTES: usize = 32;

/// A slot's name on the wire.
pub type SlotName = String<MAX_NAME>;

/// The agent's first frame on a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version ([`VERSION`]).
    pub version: u16,
    /// This connection's challenge: every signature on it covers these bytes.
    pub challenge: [u8; CHALLENGE_BYTES],
}

/// A frame from the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFrame {
    /// This command's number on the connection: 0 for the first, then one more each time.
    pub counter: u64,
    /// What to do.
    pub command: Command,
    /// The operator's Ed25519 signature over [`auth::signed_bytes`] (required for
    /// [`Command::is_privileged`] commands).
    pub signature: Option<Vec<u8, SIGNATURE_BYTES>>,
}

/// What a client asks the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// Commands are decoded from one frame and handled at once, never kept in collections.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// The names of the slots this agent fronts.
    Slots,
    /// The supervisor's status of the domains from index `first` on.
    Domains {
        /// The first domain listed (description order).
        first: u16,
    },
    /// A request of the slot control protocol to the slot `slot`.
    Slot {
        /// The slot (the name of the endpoint it fronts).
        slot: SlotName,
        /// The request.
        request: slots::Request,
    },
    /// The telemetry domain's figures of the domains from index `first` on
    /// (`tileos_protocol::telemetry`: calls, latency percentiles, faults, restarts, CPU
    /// time, power estimate).
    Telemetry {
        /// The first domain listed (description order).
        first: u16,
    },
    /// A request of the verify protocol to the verify domain (`tilectl ask`, docs/tilectl.md;
    /// `tileos_protocol::verify`).
    Verify(verify::Request),
    /// A read of the digital twin's state (`tilectl twin`, docs/twin.md "Over the network").
    /// Only reads: the export gate is not reachable over the network (no [`TwinRead`] names
    /// it, so no frame can carry an export).
    Twin(TwinRead),
    /// Begins an install session into `slot` (the slot manager's `InstallBegin` of
    /// `length`): signed once, it binds the bundle's length and SHA-256, and the session's
    /// chunks and commit on this connection need no signature of their own; the commit is
    /// passed on only if the bytes staged are exactly those (`session` module, "Install
    /// sessions").
    Install {
        /// The slot.
        slot: SlotName,
        /// The bundle's length in bytes.
        length: u32,
        /// The bundle's SHA-256.
        sha256: [u8; 32],
    },
}

/// What `tilectl twin` may read from the twin: the twin protocol's two read requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TwinRead {
    /// The twin's state (`tileos_protocol::twin::Request::State`).
    State,
    /// Its maintenance alarms (`tileos_protocol::twin::Request::Alarms`).
    Alarms,
}

impl TwinRead {
    /// The twin protocol's request for this read.
    pub fn request(self) -> twin::Request {
        match self {
            TwinRead::State => twin::Request::State,
            TwinRead::Alarms => twin::Request::Alarms,
        }
    }
}

impl Command {
    /// Whether the command changes the tile and so needs the operator's signature: installs,
    /// promotions and rollbacks. (The chunks and the commit of an install session are
    /// authorised by its signed [`Command::Install`] instead: `session`, "Install sessions".)
    pub fn is_privileged(&self) -> bool {
        match self {
            Command::Slots | Command::Domains { .. } | Command::Telemetry { .. } | Command::Twin(_) => false,
            Command::Install { .. } => true,
            // Asking, reading the ledger and standings need no key; knowledge writes are
            // signed by their contributor anyway; acceptance, judging and audits change what
            // the tile trusts (an audit moves reputation and uses up canary reveals; a panel
            // audit moves the agreement history the class-C gate weighs by).
            Command::Verify(request) => {
                matches!(
                    request,
                    verify::Request::Judge { .. }
                        | verify::Request::Accept { .. }
                        | verify::Request::Audit { .. }
                        | verify::Request::PanelAudit { .. }
                        | verify::Request::Challenge { .. }
                )
            }
            Command::Slot { request, .. } => matches!(
                request,
                slots::Request::InstallBegin { .. }
                    | slots::Request::InstallChunk { .. }
                    | slots::Request::InstallCommit
                    | slots::Request::Promote { .. }
                    | slots::Request::Rollback
            ),
        }
    }
}

/// A frame from the agent (not `Eq`: the twin's answers carry floating-point figures).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum ServerFrame {
    /// The first frame of every connection.
    Hello(Hello),
    /// The answer to the command with `counter`.
    Answer {
        /// The command's counter.
        counter: u64,
        /// The answer.
        answer: Answer,
    },
    /// A frame could not be taken as a command at all (no counter to answer to), or the
    /// connection is being closed; [`WireError::closes`] says which.
    Error(WireError),
}

/// The agent's answer to one command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum Answer {
    /// The slots the agent fronts.
    Slots(Vec<SlotName, MAX_SLOTS>),
    /// Domains `first..first + domains.len()` of `total`.
    Domains {
        /// Domains of the tile.
        total: u16,
        /// Their states.
        domains: Vec<supervisor::DomainStatus, { supervisor::MAX_STATUS }>,
    },
    /// The slot manager's answer (its refusals included: they are its own words).
    Slot(slots::Response),
    /// The command was not carried out.
    Error(WireError),
    /// Domains `first..first + domains.len()` of `total`, as the telemetry domain counts them.
    Telemetry {
        /// Domains of the tile.
        total: u16,
        /// How to read the figures.
        units: telemetry::Units,
        /// Their figures.
        domains: Vec<telemetry::DomainFigures, { telemetry::MAX_FIGURES }>,
    },
    /// The verify domain's answer to a [`Command::Verify`].
    Verify(verify::Response),
    /// The twin's answer to a [`Command::Twin`] (its refusals included: its own words).
    Twin(twin::Response),
}

/// Why the agent did not carry out a frame or a command. Every variant is a precise,
/// fixed reason; [`WireError::closes`] tells the ones after which the agent closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireError {
    /// The length prefix announced `length` bytes, more than `max` (or 0). The stream
    /// cannot be resynchronised: the connection closes.
    BadLength {
        /// The announced length.
        length: u32,
        /// The largest allowed.
        max: u32,
    },
    /// The frame's body is not a [`ClientFrame`] (bad encoding, trailing bytes).
    Malformed,
    /// The frame names a command (or a slot request) this agent does not know.
    UnknownCommand,
    /// The counter is not the one expected next (a replayed, repeated or reordered command).
    Replay {
        /// The counter expected.
        expected: u64,
        /// The counter received.
        got: u64,
    },
    /// The command changes the tile and carries no signature.
    SignatureRequired,
    /// The signature is not the operator's over this connection's challenge, this counter
    /// and this command.
    BadSignature,
    /// Too many bad signatures on this connection: it closes.
    TooManyFailures,
    /// The agent fronts no slot of that name.
    UnknownSlot,
    /// A chunk or commit for a slot without an install begun on this connection.
    NotStaging,
    /// Another connection is installing into that slot.
    StagingBusy,
    /// The agent serves as many connections as it can: this one closes.
    Busy,
    /// Nothing arrived for too long: the connection closes.
    IdleTimeout,
    /// The slot manager or supervisor is gone (no server, or it restarted during the call).
    ServerUnavailable,
    /// The slot manager or supervisor answered something that is not its protocol.
    ServerFailed,
    /// The agent has no supervisor status capability.
    NoSupervisor,
    /// The agent has no telemetry capability (a client endpoint "telemetry").
    NoTelemetry,
    /// The agent has no verify capability (client endpoint `verify`).
    NoVerify,
    /// The agent has no twin capability (client endpoint `twin`).
    NoTwin,
    /// The telemetry domain refused (its reason).
    TelemetryRefused(telemetry::Refusal),
    /// An install session's commit, but the bytes the slot manager staged are not the
    /// length and SHA-256 its signed [`Command::Install`] named (a chunk refused, missing or
    /// altered in flight): nothing was committed, and the staging is discarded.
    BundleDiffers,
}

impl WireError {
    /// Whether the agent closes the connection after sending this error.
    pub fn closes(&self) -> bool {
        matches!(self, WireError::BadLength { .. } | WireError::TooManyFailures | WireError::Busy | WireError::IdleTimeout)
    }
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WireError::BadLength { length, max } => write!(f, "frame length {length} outside 1..={max}"),
            WireError::Malformed => f.write_str("malformed frame"),
            WireError::UnknownCommand => f.write_str("unknown command"),
            WireError::Replay { expected, got } => write!(f, "command counter {got}, expected {expected} (replayed or reordered)"),
            WireError::SignatureRequired => f.write_str("this command needs the operator's signature"),
            WireError::BadSignature => f.write_str("bad signature (not the operator key, or not for this connection and command)"),
            WireError::TooManyFailures => f.write_str("too many bad signatures: connection closed"),
            WireError::UnknownSlot => f.write_str("no such slot"),
            WireError::NotStaging => f.write_str("no install begun on this connection for that slot"),
            WireError::StagingBusy => f.write_str("another connection is installing into that slot"),
            WireError::Busy => f.write_str("the agent is busy with other connections"),
            WireError::IdleTimeout => f.write_str("connection idle too long"),
            WireError::ServerUnavailable => f.write_str("the slot manager or supervisor is unavailable"),
            WireError::ServerFailed => f.write_str("the slot manager or supervisor answered outside its protocol"),
            WireError::NoSupervisor => f.write_str("the agent has no supervisor status capability"),
            WireError::NoTelemetry => f.write_str("the agent has no telemetry capability (client endpoint \"telemetry\")"),
            WireError::NoVerify => f.write_str("the agent has no verify capability (client endpoint \"verify\")"),
            WireError::NoTwin => f.write_str("the agent has no twin capability (client endpoint \"twin\")"),
            WireError::TelemetryRefused(refusal) => write!(f, "the telemetry domain refused: {refusal:?}"),
            WireError::BundleDiffers => {
                f.write_str("the bytes staged are not the length and SHA-256 the signed install named: discarded, nothing committed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tileos_protocol::slots::{MAX_CHUNK, MAX_ENTRY, MAX_MODULES, MAX_PROOF, ModuleStatus, Request, Response, SlotStatus};

    fn encoded_len<T: Serialize>(value: &T) -> usize {
        let mut buffer = [0u8; MAX_FRAME];
        postcard::to_slice(value, &mut buffer).expect("fits MAX_FRAME").len()
    }

    fn full_name<const N: usize>() -> String<N> {
        core::iter::repeat_n('n', N).collect()
    }

    /// The largest frames either side sends fit [`MAX_FRAME`].
    #[test]
    fn the_largest_frames_fit() {
        let chunk = ClientFrame {
            counter: u64::MAX,
            command: Command::Slot {
                slot: full_name(),
                request: Request::InstallChunk { offset: u32::MAX, bytes: core::iter::repeat_n(0xff, MAX_CHUNK).collect() },
            },
            signature: Some(core::iter::repeat_n(0xff, SIGNATURE_BYTES).collect()),
        };
        encoded_len(&chunk);
        let entry = Response::Entry { bytes: core::iter::repeat_n(0xff, MAX_ENTRY).collect() };
        encoded_len(&ServerFrame::Answer { counter: u64::MAX, answer: Answer::Slot(entry) });
        let proof = Response::Proof { hashes: core::iter::repeat_n([0xff; 32], MAX_PROOF).collect() };
        encoded_len(&ServerFrame::Answer { counter: u64::MAX, answer: Answer::Slot(proof) });
        let module = ModuleStatus {
            module: u32::MAX,
            name: full_name(),
            state: full_name(),
            seat: u8::MAX,
            agreeing: u64::MAX,
            disagreeing: u64::MAX,
            timeouts: u64::MAX,
            faults: u64::MAX,
            mean_latency: u64::MAX,
        };
        let status = SlotStatus {
            name: full_name(),
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
        };
        encoded_len(&ServerFrame::Answer { counter: u64::MAX, answer: Answer::Slot(Response::Status(status)) });
        let line =
            supervisor::DomainStatus { name: full_name(), state: supervisor::State::Restarting, generation: u64::MAX, restarts: u32::MAX };
        let domains = core::iter::repeat_n(line, supervisor::MAX_STATUS).collect();
        encoded_len(&ServerFrame::Answer { counter: u64::MAX, answer: Answer::Domains { total: u16::MAX, domains } });
        encoded_len(&ServerFrame::Answer {
            counter: u64::MAX,
            answer: Answer::Slots(core::iter::repeat_n(full_name(), MAX_SLOTS).collect()),
        });
        // A verify request or response fits one IPC message (tileos_protocol::verify's
        // test), so the frame around it, a counter and two tags more, fits a frame.
        const _: () = assert!(tileos_protocol::MAX_PAYLOAD + 16 <= MAX_FRAME);
        let judge = verify::Request::Judge {
            query: full_name(),
            topic: Some(full_name()),
            answers: core::iter::repeat_n(verify::GivenAnswer { specialist: full_name(), answer: full_name() }, verify::MAX_PANEL)
                .collect(),
        };
        let signed = ClientFrame {
            counter: u64::MAX,
            command: Command::Verify(judge),
            signature: Some(core::iter::repeat_n(0xff, SIGNATURE_BYTES).collect()),
        };
        encoded_len(&signed);
        let chunk = verify::Response::EntryChunk { len: u32::MAX, bytes: core::iter::repeat_n(0xff, verify::ENTRY_CHUNK).collect() };
        encoded_len(&ServerFrame::Answer { counter: u64::MAX, answer: Answer::Verify(chunk) });
    }

    #[test]
    fn asking_needs_no_key_but_judging_and_acceptance_do() {
        assert!(!Command::Verify(verify::Request::Ask { query: String::try_from("1+1").unwrap(), topic: None }).is_privileged());
        assert!(!Command::Verify(verify::Request::Entry { index: 0, offset: 0 }).is_privileged());
        assert!(Command::Verify(verify::Request::Accept { adapter: String::try_from("t1").unwrap() }).is_privileged());
        let t1 = || String::try_from("t1").unwrap();
        let arith = || String::try_from("arith").unwrap();
        assert!(
            Command::Verify(verify::Request::Audit { specialist: t1(), topic: arith(), pool: verify::AuditPool::Public, count: 4 })
                .is_privileged()
        );
        assert!(!Command::Verify(verify::Request::Standing { specialist: t1(), topic: arith() }).is_privileged());
        assert!(Command::Verify(verify::Request::Challenge { slot: t1(), challenger: t1() }).is_privileged());
        assert!(!Command::Verify(verify::Request::ChallengeState { slot: t1() }).is_privileged());
        let panel = verify::Request::PanelAudit { topic: arith(), specialists: Vec::new(), count: 1 };
        assert!(Command::Verify(panel).is_privileged());
        let judge = verify::Request::Judge { query: String::try_from("1+1").unwrap(), topic: None, answers: Vec::new() };
        assert!(Command::Verify(judge).is_privileged());
    }

    #[test]
    fn only_changes_are_privileged() {
        let slot = |request| Command::Slot { slot: String::try_from("checksum").unwrap(), request };
        assert!(!Command::Slots.is_privileged());
        assert!(!Command::Domains { first: 0 }.is_privileged());
        for request in [
            Request::Status,
            Request::LogHead,
            Request::LogEntry { index: 0 },
            Request::LogInclusion { index: 0, tree_size: 1 },
            Request::LogConsistency { old_size: 1, new_size: 2 },
        ] {
            assert!(!slot(request).is_privileged());
        }
        for request in [
            Request::InstallBegin { length: 1 },
            Request::InstallChunk { offset: 0, bytes: Vec::new() },
            Request::InstallCommit,
            Request::Promote { module: 1, force: false },
            Request::Rollback,
        ] {
            assert!(slot(request).is_privileged());
        }
        assert!(Command::Install { slot: String::try_from("checksum").unwrap(), length: 1, sha256: [0; 32] }.is_privileged());
    }
}
