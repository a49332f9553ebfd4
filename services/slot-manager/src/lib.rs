//! The slot manager's logic (`docs/slots.md`, "Running slots"): everything the
//! `slot-manager` domain decides, behind small traits so that it runs and is tested on the
//! host.
//!
//! The domain is thin glue: it receives on the slot's front endpoint, saves each caller's
//! reply capability, and hands every event to a [`Manager`]:
//!
//! - [`Manager::received`]: a message on the front endpoint (its label and words, borrowed
//!   where the glue received them), from a seat's module (badge
//!   [`tileos_protocol::module::SEAT_BADGE`]` | seat`), a service client or a control client
//!   ([`Access`]), with the saved reply capability ([`ReplyCap`]) the answer goes to;
//! - [`Manager::faulted`]: the supervisor's `seat-faults` signal (bit `1 << seat`);
//! - [`Manager::tick`]: the clock (every event ticks it first);
//! - [`Manager::deferred`]: after each message, before waiting for the next: the work kept
//!   off the clients' path (a promotion by the policy, its update-log entry first; lowering
//!   schedules), done when no client waits.
//!
//! The manager carries out what `tileos_slots::Slot` decides, through three traits: [`Seats`]
//! (answer a saved call, ask the root server to stage, start and stop seats, write a log
//! line), [`Clock`] and [`LogStore`] (where the update log's entries persist). It never
//! blocks on a module: a module's reply capability is answered only when there is work for
//! it, and a client's only with its answer.
//!
//! Every client request is answered exactly once: by the serving module's answer, by the
//! answer the slot hands over at a rollback, or with [`tileos_protocol::ProtocolError::Failed`]
//! when the serving module faulted on it (or the queue was full, or the client already had a
//! request outstanding).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod dev_keys;
mod manager;

pub use manager::{
    ADOPTION_DEADLINE, Config, DEFERRED_BOUND, HASH_UNITS_PER_STEP, INSTALL_CHUNKS_PER_STEP, INSTALL_HASH_STEP, LOG_RETRY_INTERVAL,
    MAX_UNLOGGED, Manager, ManagerStats, NVersionConfig, PROGRAM_SAVE_STEP, PersistedLog, READY_DEADLINE, REBUILD_CHUNKS_PER_STEP,
    RELEASE_PER_STEP, StartError, VERIFIER_DEADLINE,
};

use alloc::string::String;
use alloc::vec::Vec;
use tileos_protocol::{ERROR, MESSAGE, PAYLOAD_WORDS, ProtocolError};
use tileos_slots::Ticks;

/// Most words a message on the front endpoint carries (the message register limit).
pub const MAX_WORDS: usize = PAYLOAD_WORDS + 1;

/// One IPC message: its label and its words (at most [`MAX_WORDS`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The label.
    pub label: u64,
    /// The words.
    pub words: Vec<u64>,
}

impl Message {
    /// A message of `label` with no words.
    pub fn empty(label: u64) -> Message {
        Message { label, words: Vec::new() }
    }

    /// The error reply of the message convention ([`ERROR`], word 0 the code).
    pub fn error(error: ProtocolError) -> Message {
        Message { label: ERROR, words: alloc::vec![error as u64] }
    }

    /// `value` in the message convention ([`MESSAGE`]), or the error reply [`ProtocolError::TooLarge`].
    pub fn encode<T: serde::Serialize>(value: &T) -> Message {
        let mut words = [0u64; MAX_WORDS];
        match tileos_protocol::encode(value, &mut words) {
            Ok(length) => Message { label: MESSAGE, words: words[..length].to_vec() },
            Err(error) => Message::error(error),
        }
    }

    /// The bytes answers are compared as: the label, then every word, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(8 * (1 + self.words.len()));
        bytes.extend_from_slice(&self.label.to_le_bytes());
        for word in &self.words {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    /// Makes this the message [`Message::to_bytes`] made of `bytes`, in place (its words'
    /// storage kept); `false`, with nothing changed, for bytes it cannot have made.
    pub fn read_bytes(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() < 8 || !bytes.len().is_multiple_of(8) || bytes.len() > 8 * (1 + MAX_WORDS) {
            return false;
        }
        let mut words = bytes.chunks_exact(8).map(|chunk| {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            u64::from_le_bytes(word)
        });
        let Some(label) = words.next() else { return false };
        self.label = label;
        self.words.clear();
        self.words.extend(words);
        true
    }

    /// The message [`Message::to_bytes`] made (`None` for bytes it cannot have made).
    pub fn from_bytes(bytes: &[u8]) -> Option<Message> {
        if bytes.len() < 8 || !bytes.len().is_multiple_of(8) || bytes.len() > 8 * (1 + MAX_WORDS) {
            return None;
        }
        let mut words = bytes.chunks_exact(8).map(|chunk| {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            u64::from_le_bytes(word)
        });
        let label = words.next()?;
        Some(Message { label, words: words.collect() })
    }
}

/// Replaces `out`'s contents with the bytes [`Message::to_bytes`] makes of a message of
/// `label` and `words` (words past [`MAX_WORDS`] are cut). The glue lends the manager the
/// words it received in place, and `out` is the manager's kept buffer: once it has held
/// the longest message, this allocates nothing (nor clears a whole stack buffer first).
pub fn message_bytes_into(label: u64, words: &[u64], out: &mut Vec<u8>) {
    let words = &words[..words.len().min(MAX_WORDS)];
    out.clear();
    out.reserve(8 * (1 + words.len()));
    out.extend_from_slice(&label.to_le_bytes());
    for word in words {
        out.extend_from_slice(&word.to_le_bytes());
    }
}

/// The equivalence a manager's slot compares answers with under
/// [`tileos_slots::Comparator::Equivalent`]: the slot's protocol's
/// ([`tileos_protocol::equivalence::same_response`]: their canonical forms are equal), on the
/// answers' bytes ([`message_bytes_into`]) turned back into their label and words on the
/// stack (no allocation); identical bytes agree without that. A protocol that provides none
/// compares bytes; the manager refuses `Equivalent` for it ([`StartError::NoEquivalence`]),
/// so that is only the equivalence the other comparators never call. It also gives the
/// canonical form ([`ProtocolEquivalence::canonical`]) whose digest stands for a delivered
/// answer when a replay's answer is compared with it under `Equivalent`.
///
/// [`StartError::NoEquivalence`]: crate::StartError::NoEquivalence
#[derive(Clone, Copy, Debug)]
pub struct ProtocolEquivalence {
    same: Option<tileos_protocol::equivalence::SameResponse>,
    canonical: Option<tileos_protocol::equivalence::CanonicalForm>,
}

impl ProtocolEquivalence {
    /// The equivalence of the protocol named `protocol` (none if it provides none).
    pub fn of(protocol: &str) -> ProtocolEquivalence {
        use tileos_protocol::equivalence::{canonical_form, equivalence};
        ProtocolEquivalence { same: equivalence(protocol), canonical: canonical_form(protocol) }
    }

    /// Whether the protocol provides an equivalence (`Equivalent` may be used).
    pub fn provided(&self) -> bool {
        self.same.is_some()
    }

    /// The canonical form of the answer (`label`, `words`) into `out` (its label and length),
    /// or `None` when the protocol provides none or the answer has none
    /// ([`tileos_protocol::equivalence::canonical`]).
    pub fn canonical(&self, label: u64, words: &[u64], out: &mut tileos_protocol::equivalence::CanonicalWords) -> Option<(u64, usize)> {
        self.canonical.and_then(|form| form(label, words, out))
    }
}

impl tileos_slots::Equivalence for ProtocolEquivalence {
    fn equivalent(&self, incumbent: &[u8], other: &[u8]) -> bool {
        if incumbent == other {
            return true;
        }
        let Some(same) = self.same else { return false };
        let (mut a, mut b) = ([0u64; MAX_WORDS], [0u64; MAX_WORDS]);
        match (message_of_bytes(incumbent, &mut a), message_of_bytes(other, &mut b)) {
            (Some((a_label, a_words)), Some((b_label, b_words))) => same(a_label, a_words, b_label, b_words),
            // Bytes no message makes (never the manager's): equal only when identical.
            _ => false,
        }
    }
}

/// The label and words of the message whose bytes [`message_bytes_into`] made, the words
/// read into `words`; `None` for bytes it cannot have made.
fn message_of_bytes<'w>(bytes: &[u8], words: &'w mut [u64; MAX_WORDS]) -> Option<(u64, &'w [u64])> {
    if bytes.len() < 8 || !bytes.len().is_multiple_of(8) || bytes.len() > 8 * (1 + MAX_WORDS) {
        return None;
    }
    let mut chunks = bytes.chunks_exact(8).map(|chunk| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        u64::from_le_bytes(word)
    });
    let label = chunks.next()?;
    let mut n = 0;
    for (slot, word) in words.iter_mut().zip(chunks) {
        *slot = word;
        n += 1;
    }
    Some((label, &words[..n]))
}

/// A caller's reply capability, saved by the glue (the domain: a slot of its CNode). The
/// manager answers each exactly once ([`Seats::reply`]) or gives it back ([`Seats::release`]).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReplyCap(pub u64);

/// What a non-seat caller of the front endpoint may ask (the `control` parameter of its
/// description entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A client of the service: its requests go to the modules.
    Service,
    /// `control = 1`: slot control, status and log only.
    Read,
    /// `control = 2`: slot control, also install, promote and rollback.
    Full,
}

impl Access {
    /// The access of a client whose `control` parameter is `control` (`None`: none given).
    pub fn from_param(control: Option<u64>) -> Access {
        match control {
            Some(1) => Access::Read,
            Some(2) => Access::Full,
            _ => Access::Service,
        }
    }
}

/// The manager's side effects on the world: answers, the root server's seat requests, log
/// lines.
pub trait Seats {
    /// Answers a saved call with `message` (without blocking: `NbSend` on the saved reply
    /// capability), and frees the capability's slot.
    fn reply(&mut self, to: ReplyCap, message: &Message);
    /// Answers each of the saved calls `to` (emptied), in order, with the same `message`, as
    /// [`Seats::reply`] on each would (the glue: one `NbSendAll` system call per four).
    fn reply_all(&mut self, to: &mut Vec<ReplyCap>, message: &Message) {
        for cap in to.drain(..) {
            self.reply(cap, message);
        }
    }
    /// Frees a saved reply capability without answering (its caller is gone, or is a stray
    /// module that gets no work).
    fn release(&mut self, cap: ReplyCap);
    /// Calls the root server (`tileos_protocol::supervisor`) with a seat request; `Err` when
    /// the call itself failed.
    fn supervisor(
        &mut self,
        request: &tileos_protocol::supervisor::Request,
    ) -> Result<tileos_protocol::supervisor::Response, ProtocolError>;
    /// Writes a line to the tile's log (structured events start with `@event`).
    fn note(&mut self, line: core::fmt::Arguments<'_>);
}

/// The manager's monotonic clock.
pub trait Clock {
    /// Microseconds since some fixed moment (boot).
    fn now(&self) -> Ticks;
    /// A cycle counter for timing a piece of the manager's own work in its log lines (the
    /// glue: the time-stamp counter, guest instructions under `-icount`); 0 where there is
    /// none.
    fn cycles(&self) -> u64 {
        0
    }
}

/// Microseconds from a time-stamp counter of `per_ms` ticks per millisecond, for a
/// [`Clock`] (the glue's): ⌊ticks · 1000 / per_ms⌋ or 1 µs less, monotonic in the ticks,
/// in one 64 × 64 → 128-bit multiplication by ⌊2^64 · 1000 / per_ms⌋ when that fits 64 bits
/// (a counter faster than 1 MHz), else exactly in 64-bit division. The manager reads its
/// clock on every message, the narrow path of a copy's answer included (`slots39`: before,
/// every read was two 64-bit divisions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TicksToMicros {
    /// Ticks per millisecond (at least 1).
    per_ms: u64,
    /// ⌊2^64 · 1000 / `per_ms`⌋ when `per_ms` > 1000, else 0 (the division is used).
    scale: u64,
}

impl TicksToMicros {
    /// The conversion for a counter of `per_ms` ticks per millisecond (0 is taken as 1).
    pub fn new(per_ms: u64) -> TicksToMicros {
        let per_ms = per_ms.max(1);
        let scale = if per_ms > 1000 { u64::try_from((1000u128 << 64) / u128::from(per_ms)).unwrap_or(0) } else { 0 };
        TicksToMicros { per_ms, scale }
    }

    /// `ticks` in microseconds: ⌊ticks · 1000 / per_ms⌋ or 1 less (the scale is at most 1
    /// below the exact ratio and `ticks` < 2^64, so the product falls short by less than
    /// 2^64), saturating at `u64::MAX` in the division's case.
    #[inline]
    pub fn micros(&self, ticks: u64) -> Ticks {
        if self.scale != 0 {
            // The high half of the product: below 2^64 since scale < 2^64.
            return ((u128::from(ticks) * u128::from(self.scale)) >> 64) as u64;
        }
        let per_ms = self.per_ms;
        (ticks / per_ms).saturating_mul(1000).saturating_add((ticks % per_ms).saturating_mul(1000) / per_ms)
    }
}

/// Why the update log could not be read or written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogStoreError(pub String);

/// Where the update log's entries persist (the store, or RAM: [`MemoryLog`]), and the
/// program (ELF) of the slot's settled serving module, so that a restarted manager that
/// keeps that module serving can rebuild it after a fault.
pub trait LogStore {
    /// Every entry persisted so far, in order.
    fn load(&mut self) -> Result<Vec<Vec<u8>>, LogStoreError>;
    /// Persists entry `index` (the next one) durably before returning.
    fn append(&mut self, index: u64, entry: &[u8]) -> Result<(), LogStoreError>;
    /// Begins saving a settled module's program of `length` bytes, sent in parts
    /// ([`LogStore::save_part`]) and then committed ([`LogStore::save_commit`]); the program
    /// saved before stays until the commit replaces it. A new begin forgets an unfinished save.
    fn save_begin(&mut self, length: usize) -> Result<(), LogStoreError>;
    /// The next bytes of the program being saved, in order.
    fn save_part(&mut self, bytes: &[u8]) -> Result<(), LogStoreError>;
    /// Stores the program being saved durably (all its bytes must have been sent).
    fn save_commit(&mut self) -> Result<(), LogStoreError>;
    /// The program committed last, if any.
    fn saved_program(&mut self) -> Result<Option<Vec<u8>>, LogStoreError>;
}

/// An update log kept in RAM only (no store endpoint): lost at reboot (and, in the
/// manager's own memory, at its restart: so is the saved program).
#[derive(Clone, Debug, Default)]
pub struct MemoryLog {
    /// The entries.
    pub entries: Vec<Vec<u8>>,
    /// The program committed last.
    pub program: Option<Vec<u8>>,
    /// The program being saved: its length and the bytes so far.
    pub saving: Option<(usize, Vec<u8>)>,
}

impl LogStore for MemoryLog {
    fn load(&mut self) -> Result<Vec<Vec<u8>>, LogStoreError> {
        Ok(self.entries.clone())
    }

    fn append(&mut self, index: u64, entry: &[u8]) -> Result<(), LogStoreError> {
        if index != self.entries.len() as u64 {
            return Err(LogStoreError(alloc::format!("entry {index} is not the next one ({})", self.entries.len())));
        }
        self.entries.push(entry.to_vec());
        Ok(())
    }

    fn save_begin(&mut self, length: usize) -> Result<(), LogStoreError> {
        self.saving = Some((length, Vec::with_capacity(length)));
        Ok(())
    }

    fn save_part(&mut self, bytes: &[u8]) -> Result<(), LogStoreError> {
        match &mut self.saving {
            Some((length, saved)) if saved.len() + bytes.len() <= *length => {
                saved.extend_from_slice(bytes);
                Ok(())
            }
            Some((length, saved)) => Err(LogStoreError(alloc::format!("{} bytes past the program's {length}", saved.len() + bytes.len()))),
            None => Err(LogStoreError(String::from("no program is being saved"))),
        }
    }

    fn save_commit(&mut self) -> Result<(), LogStoreError> {
        match self.saving.take() {
            Some((length, saved)) if saved.len() == length => {
                self.program = Some(saved);
                Ok(())
            }
            Some((length, saved)) => Err(LogStoreError(alloc::format!("{} of the program's {length} bytes sent", saved.len()))),
            None => Err(LogStoreError(String::from("no program is being saved"))),
        }
    }

    fn saved_program(&mut self) -> Result<Option<Vec<u8>>, LogStoreError> {
        Ok(self.program.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_WORDS, Message, TicksToMicros, message_bytes_into};

    #[test]
    fn message_bytes_into_makes_what_to_bytes_returns() {
        let mut out = alloc::vec![0xee; 3];
        for words in [alloc::vec![], alloc::vec![7], (0..MAX_WORDS as u64).map(|w| w * 0x0101_0101).collect()] {
            let message = Message { label: 0x1234_5678_9abc, words };
            message_bytes_into(message.label, &message.words, &mut out);
            assert_eq!(out, message.to_bytes());
            assert_eq!(Message::from_bytes(&out), Some(message));
        }
        // Words past MAX_WORDS are cut.
        let long: alloc::vec::Vec<u64> = (0..MAX_WORDS as u64 + 3).collect();
        message_bytes_into(1, &long, &mut out);
        assert_eq!(out.len(), 8 * (1 + MAX_WORDS));
    }

    #[test]
    fn read_bytes_reads_what_from_bytes_reads_and_refuses_the_same() {
        let mut kept = Message { label: 9, words: alloc::vec![1, 2, 3, 4, 5] };
        for words in [alloc::vec![], alloc::vec![7], (0..MAX_WORDS as u64).collect()] {
            let bytes = Message { label: 0x40, words }.to_bytes();
            assert!(kept.read_bytes(&bytes));
            assert_eq!(Some(kept.clone()), Message::from_bytes(&bytes));
        }
        let before = kept.clone();
        let too_long = alloc::vec![0u8; 8 * (2 + MAX_WORDS)];
        for bad in [&[][..], &[1, 2, 3][..], &[0; 12][..], &too_long[..]] {
            assert!(!kept.read_bytes(bad));
            assert_eq!(Message::from_bytes(bad), None);
            assert_eq!(kept, before, "a refusal changes nothing");
        }
    }

    /// The exact ⌊ticks · 1000 / per_ms⌋, saturating.
    fn exact_micros(ticks: u64, per_ms: u64) -> u64 {
        u64::try_from(u128::from(ticks) * 1000 / u128::from(per_ms.max(1))).unwrap_or(u64::MAX)
    }

    #[test]
    fn ticks_to_micros_is_exact_or_one_less_and_monotonic() {
        // Counters around the switch between the multiplication and the division, typical
        // ones (QEMU's TSC, a few GHz) and extremes; ticks at the boundaries of a
        // millisecond, a spread of values and the largest.
        let counters = [0, 1, 7, 999, 1000, 1001, 1024, 999_983, 1_000_000, 2_893_421, 3_000_000_007, u64::MAX / 3, u64::MAX];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for per_ms in counters {
            let convert = TicksToMicros::new(per_ms);
            let mut ticks: alloc::vec::Vec<u64> =
                alloc::vec![0, 1, per_ms, per_ms.saturating_sub(1), per_ms.saturating_add(1), u64::MAX - 1, u64::MAX];
            for _ in 0..2000 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                ticks.push(seed >> (seed % 64));
            }
            ticks.sort_unstable();
            let mut last = 0;
            for &t in &ticks {
                let (got, exact) = (convert.micros(t), exact_micros(t, per_ms));
                assert!(got == exact || got + 1 == exact, "per_ms {per_ms}, ticks {t}: {got} against exact {exact}");
                if per_ms <= 1000 {
                    assert_eq!(got, exact, "the division is exact (per_ms {per_ms}, ticks {t})");
                }
                assert!(got >= last, "not monotonic at per_ms {per_ms}, ticks {t}");
                last = got;
            }
        }
        // A 1 GHz counter: one second of ticks is a million µs (to the µs).
        let second = TicksToMicros::new(1_000_000).micros(1_000_000_000);
        assert!(second == 1_000_000 || second == 999_999);
    }
}
