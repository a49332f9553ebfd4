//! The bundle verifier (docs/slots.md, "Installs"): the domain `<slot>.verifier` checks an
//! install's two signatures (Ed25519 and ML-DSA-65) for its slot manager, so that the
//! manager's thread never runs a verification (≈ 1.23 M instructions for ML-DSA-65, in one
//! call of the signature crate) while clients wait for it.
//!
//! **Who talks to whom.** The verifier holds one capability: the slot's front endpoint,
//! badged [`VERIFIER_BADGE`] (the seat bit with seat number 63, which no slot
//! has: the image builder refuses a declared badge with the seat bit, so no other domain
//! can send with it). It only ever *calls* the manager, like a seat's module: each call
//! says what it has ([`Call`]) and the manager's reply gives its next piece of work
//! ([`Work`]). The manager keeps the call's reply capability until it has work, so it never
//! waits for the verifier and keeps serving clients while the verifier (by default at the
//! challengers' priority under its own budget, below every serving path) verifies.
//!
//! **A job.** At an install's commit the manager checks the bundle's layout and signer
//! itself, numbers the job ([`job_id`]: its own generation and a counter, so an id is
//! never reused, not even across a restart of the manager) and answers the waiting verifier
//! with the first [`Work::Chunk`] of the bundle's
//! [`tileos_module_bundle::signature_input`] (key id, both signatures, the manifest:
//! 3,405 bytes plus the manifest). The verifier asks for the rest ([`Call::Fetch`], in
//! order), checks both signatures against the trusted keys built into its image, and
//! calls with its [`Call::Verdict`], which names the job. The manager takes a verdict only
//! for the job it is waiting on, and only once every byte was fetched; anything else is
//! answered [`Work::Refused`] and changes nothing. A verifier that (re)starts calls
//! [`Call::Ready`]: a job it had is refused by the manager with that reason.
//!
//! [`Verifier`] is the verifier's side (the domain's loop is `call(next) → handle(reply)`);
//! the manager's side is `tileos_slot_manager`'s install path. Everything here is checked
//! on the host (`tests/hostile.rs`).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

use alloc::vec::Vec;
use tileos_module_bundle::{MAX_SIGNATURE_INPUT, TrustedKeys, VerifyError, verify_signatures};
use tileos_protocol::PAYLOAD_WORDS;

/// The badge of the verifier's capability to its slot's front endpoint.
pub use tileos_protocol::module::VERIFIER_BADGE;

/// Label of the verifier's call when it has no job: at its start, after a restart, or after
/// it dropped a job (word 0: [`DropReason`] code, 0 at a start).
pub const READY: u64 = 0x1a0;
/// Label of the verifier's call asking for the chunk of job word 0 at offset word 1.
pub const FETCH: u64 = 0x1a1;
/// Label of the verifier's call with its verdict on job word 0 (word 1: [`Verdict`] code).
pub const VERDICT: u64 = 0x1a2;
/// Label of the manager's reply carrying a chunk of a job's signature input.
pub const CHUNK: u64 = 0x1b0;
/// Label of the manager's reply refusing the verifier's call (word 0: [`CallError`] code).
pub const REFUSED: u64 = 0x1b1;

/// Words of a [`CHUNK`] before its bytes: job, total, offset, length.
const CHUNK_HEAD_WORDS: usize = 4;
/// Bytes a chunk carries at most: the message's words after its head.
pub const CHUNK_BYTES: usize = (PAYLOAD_WORDS + 1 - CHUNK_HEAD_WORDS) * 8;

/// A job's number: the manager's generation (high 32 bits) and its counter of jobs (low 32
/// bits, from 1), so that a verdict for a job of an earlier manager never matches.
pub fn job_id(generation: u64, counter: u32) -> u64 {
    (generation << 32) | u64::from(counter)
}

/// The verifier's verdict on a job's signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Both signatures verify under a trusted key pair.
    Verified,
    /// No trusted key pair has the bundle's key id.
    UnknownSigner,
    /// The Ed25519 signature does not verify.
    BadEd25519Signature,
    /// The ML-DSA-65 signature does not verify.
    BadMlDsaSignature,
    /// The signature input is not one (too short, no manifest, manifest too large).
    MalformedInput,
}

impl Verdict {
    /// The verdict of [`verify_signatures`]'s result.
    pub fn of(result: Result<(), VerifyError>) -> Verdict {
        match result {
            Ok(()) => Verdict::Verified,
            Err(VerifyError::UnknownSigner) => Verdict::UnknownSigner,
            Err(VerifyError::BadEd25519Signature) => Verdict::BadEd25519Signature,
            Err(VerifyError::BadMlDsaSignature) => Verdict::BadMlDsaSignature,
            Err(_) => Verdict::MalformedInput,
        }
    }

    /// The bundle error a refusing verdict stands for (`None`: verified); the manager's
    /// refusal names it as its own verification did.
    pub fn error(self) -> Option<VerifyError> {
        match self {
            Verdict::Verified => None,
            Verdict::UnknownSigner => Some(VerifyError::UnknownSigner),
            Verdict::BadEd25519Signature => Some(VerifyError::BadEd25519Signature),
            Verdict::BadMlDsaSignature => Some(VerifyError::BadMlDsaSignature),
            Verdict::MalformedInput => Some(VerifyError::BadSignatureLength),
        }
    }

    fn code(self) -> u64 {
        match self {
            Verdict::Verified => 0,
            Verdict::UnknownSigner => 1,
            Verdict::BadEd25519Signature => 2,
            Verdict::BadMlDsaSignature => 3,
            Verdict::MalformedInput => 4,
        }
    }

    fn from_code(code: u64) -> Option<Verdict> {
        Some(match code {
            0 => Verdict::Verified,
            1 => Verdict::UnknownSigner,
            2 => Verdict::BadEd25519Signature,
            3 => Verdict::BadMlDsaSignature,
            4 => Verdict::MalformedInput,
            _ => return None,
        })
    }
}

/// Why the verifier dropped a job (or none: it started).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// It (re)started: whatever job it had is gone.
    Started,
    /// The manager's reply was not a well-formed [`Work`].
    MalformedWork,
    /// A chunk did not continue the job it assembles (another job, offset or total).
    ChunkOutOfOrder,
    /// The manager refused its last call (the [`CallError`]).
    Refused(CallError),
}

impl DropReason {
    fn code(self) -> u64 {
        match self {
            DropReason::Started => 0,
            DropReason::MalformedWork => 1,
            DropReason::ChunkOutOfOrder => 2,
            DropReason::Refused(error) => 0x100 | error.code(),
        }
    }

    fn from_code(code: u64) -> Option<DropReason> {
        Some(match code {
            0 => DropReason::Started,
            1 => DropReason::MalformedWork,
            2 => DropReason::ChunkOutOfOrder,
            c if c & !0xff == 0x100 => DropReason::Refused(CallError::from_code(c & 0xff)?),
            _ => return None,
        })
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DropReason::Started => f.write_str("the verifier domain restarted"),
            DropReason::MalformedWork => f.write_str("the verifier dropped the job: a malformed reply"),
            DropReason::ChunkOutOfOrder => f.write_str("the verifier dropped the job: a chunk out of order"),
            DropReason::Refused(error) => write!(f, "the verifier dropped the job: its call was refused ({error:?})"),
        }
    }
}

/// Why the manager refused a verifier's call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// Not a [`Call`]: unknown label, wrong number of words, unknown code.
    Malformed,
    /// No job waits for the verifier.
    NoJob,
    /// The call names another job than the one waiting (stale, replayed or forged).
    WrongJob,
    /// A fetch at or past the end of the job's input.
    BadOffset,
    /// A verdict before every byte of the job's input was fetched.
    Early,
}

impl CallError {
    fn code(self) -> u64 {
        match self {
            CallError::Malformed => 1,
            CallError::NoJob => 2,
            CallError::WrongJob => 3,
            CallError::BadOffset => 4,
            CallError::Early => 5,
        }
    }

    fn from_code(code: u64) -> Option<CallError> {
        Some(match code {
            1 => CallError::Malformed,
            2 => CallError::NoJob,
            3 => CallError::WrongJob,
            4 => CallError::BadOffset,
            5 => CallError::Early,
            _ => return None,
        })
    }
}

/// A verifier's call to its manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// No job: ready for one (and why the last one, if any, was dropped).
    Ready(DropReason),
    /// The chunk of `job` at `offset`.
    Fetch {
        /// The job.
        job: u64,
        /// Bytes of its input received so far.
        offset: u64,
    },
    /// The verdict on `job`.
    Verdict {
        /// The job.
        job: u64,
        /// The verdict.
        verdict: Verdict,
    },
}

impl Call {
    /// The call's label and words.
    pub fn encode(&self) -> (u64, Vec<u64>) {
        match *self {
            Call::Ready(reason) => (READY, alloc::vec![reason.code()]),
            Call::Fetch { job, offset } => (FETCH, alloc::vec![job, offset]),
            Call::Verdict { job, verdict } => (VERDICT, alloc::vec![job, verdict.code()]),
        }
    }

    /// The call a message from the verifier's badge is, or [`CallError::Malformed`].
    pub fn decode(label: u64, words: &[u64]) -> Result<Call, CallError> {
        match (label, words) {
            (READY, &[code]) => DropReason::from_code(code).map(Call::Ready).ok_or(CallError::Malformed),
            (FETCH, &[job, offset]) => Ok(Call::Fetch { job, offset }),
            (VERDICT, &[job, code]) => Verdict::from_code(code).map(|verdict| Call::Verdict { job, verdict }).ok_or(CallError::Malformed),
            _ => Err(CallError::Malformed),
        }
    }
}

/// The manager's reply to a verifier's call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Work<'a> {
    /// Bytes `offset..offset + bytes.len()` of job `job`'s input of `total` bytes.
    Chunk {
        /// The job.
        job: u64,
        /// The input's length.
        total: usize,
        /// Where these bytes start.
        offset: usize,
        /// The bytes (1 ..= [`CHUNK_BYTES`]).
        bytes: &'a [u8],
    },
    /// The call was refused.
    Refused(CallError),
}

/// Encodes the chunk of `input` (job `job`) at `offset`: at most [`CHUNK_BYTES`] bytes;
/// `None` when `offset` is not inside `input`.
pub fn chunk(job: u64, input: &[u8], offset: usize) -> Option<(u64, Vec<u64>)> {
    if offset >= input.len() {
        return None;
    }
    let bytes = &input[offset..input.len().min(offset.saturating_add(CHUNK_BYTES))];
    let mut words = Vec::with_capacity(CHUNK_HEAD_WORDS + bytes.len().div_ceil(8));
    words.extend_from_slice(&[job, input.len() as u64, offset as u64, bytes.len() as u64]);
    for piece in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..piece.len()].copy_from_slice(piece);
        words.push(u64::from_le_bytes(word));
    }
    Some((CHUNK, words))
}

/// The refusal of a call, encoded.
pub fn refused(error: CallError) -> (u64, Vec<u64>) {
    (REFUSED, alloc::vec![error.code()])
}

/// The verifier's side: assembles a job's input from the manager's chunks and verifies it.
#[derive(Default)]
pub struct Verifier {
    job: Option<Assembly>,
}

/// A job's input being received.
struct Assembly {
    job: u64,
    total: usize,
    bytes: Vec<u8>,
}

impl Verifier {
    /// A verifier with no job.
    pub fn new() -> Verifier {
        Verifier::default()
    }

    /// The first call after a (re)start.
    pub fn first_call(&self) -> Call {
        Call::Ready(DropReason::Started)
    }

    /// Handles the manager's reply (`label`, `words`) to the last call; returns the next
    /// call: the next fetch, the verdict once the input is whole (both signatures checked
    /// against `trusted` here, the expensive part), or [`Call::Ready`] with the reason the
    /// job was dropped (a malformed reply, a chunk out of order, a refusal). Never panics.
    pub fn handle(&mut self, label: u64, words: &[u64], trusted: &[TrustedKeys]) -> Call {
        let mut bytes = [0u8; CHUNK_BYTES];
        let Some(work) = decode_work(label, words, &mut bytes) else {
            return self.drop_job(DropReason::MalformedWork);
        };
        let (job, total, offset, piece) = match work {
            Work::Refused(error) => return self.drop_job(DropReason::Refused(error)),
            Work::Chunk { job, total, offset, bytes } => (job, total, offset, bytes),
        };
        if offset == 0 {
            // A new job (the manager sends a job's first chunk only to a verifier with none).
            self.job = Some(Assembly { job, total, bytes: Vec::with_capacity(total) });
        }
        let Some(assembly) = self.job.as_mut().filter(|a| a.job == job && a.total == total && a.bytes.len() == offset) else {
            return self.drop_job(DropReason::ChunkOutOfOrder);
        };
        assembly.bytes.extend_from_slice(piece);
        if assembly.bytes.len() < assembly.total {
            return Call::Fetch { job, offset: assembly.bytes.len() as u64 };
        }
        let verdict = Verdict::of(verify_signatures(&assembly.bytes, trusted));
        self.job = None;
        Call::Verdict { job, verdict }
    }

    /// Drops the job under way, if any; the call saying so.
    fn drop_job(&mut self, reason: DropReason) -> Call {
        self.job = None;
        Call::Ready(reason)
    }
}

/// Decodes the manager's reply; a chunk's bytes are unpacked into `out`. `None`: not a
/// well-formed [`Work`] (unknown label, a length of 0 or above [`CHUNK_BYTES`], words that
/// do not match it, a total of 0 or above [`MAX_SIGNATURE_INPUT`], bytes past the total).
pub fn decode_work<'a>(label: u64, words: &[u64], out: &'a mut [u8; CHUNK_BYTES]) -> Option<Work<'a>> {
    match label {
        REFUSED => match words {
            &[code] => CallError::from_code(code).map(Work::Refused),
            _ => None,
        },
        CHUNK => {
            let (&[job, total, offset, length], data) = words.split_first_chunk::<CHUNK_HEAD_WORDS>()?;
            let length = usize::try_from(length).ok().filter(|&n| (1..=CHUNK_BYTES).contains(&n))?;
            let total = usize::try_from(total).ok().filter(|&n| (1..=MAX_SIGNATURE_INPUT).contains(&n))?;
            let offset = usize::try_from(offset).ok()?;
            if data.len() != length.div_ceil(8) || offset.checked_add(length).is_none_or(|end| end > total) {
                return None;
            }
            for (at, word) in data.iter().enumerate() {
                let piece = word.to_le_bytes();
                let end = (at * 8 + 8).min(length);
                out[at * 8..end].copy_from_slice(&piece[..end - at * 8]);
            }
            Some(Work::Chunk { job, total, offset, bytes: &out[..length] })
        }
        _ => None,
    }
}
