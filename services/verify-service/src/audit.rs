//! Plane B audits on the tile: what one audit of a specialist asked and was answered, as
//! the verify domain persists it (`verify/audit/NNNNNNNN`) before it applies it to the
//! audit book, and reads back at start ([`crate::desk::Desk::restore_audit`]).
//!
//! A class-C agreement audit ([`PanelRecord`], `verify/panel/NNNNNNNN`) is the same for a
//! panel: every named specialist answers the same drawn class-C canaries, and the answers
//! feed the agreement history ([`crate::desk::Desk::apply_panel_audit`]).
//!
//! The encodings are canonical: [`AuditRecord::decode`] and [`PanelRecord::decode`] accept
//! only the bytes their `encode` produces (version 1, big-endian integers, length-prefixed
//! UTF-8 names and answers, nothing after the last answer).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use tileos_verify::canary::Pool;

/// The most canaries one audit asks.
pub const MAX_AUDIT: usize = 8;
/// The longest specialist or topic name in a record.
pub const MAX_NAME: usize = 32;
/// The longest answer in a record (the model generates at most 61 bytes).
pub const MAX_ANSWER: usize = 64;
/// The most canaries one class-C agreement audit asks (its answer, every member's answer
/// to each, fits one IPC message).
pub const MAX_PANEL_AUDIT: usize = 2;
/// The most specialists a class-C agreement audit asks.
pub const MAX_MEMBERS: usize = 4;
const VERSION: u8 = 1;

/// One audit: who was asked which canaries, drawn how, and what it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Plane B time of the audit (the desk's audit clock, ms; never goes back).
    pub time: u64,
    /// The specialist audited (a name in the routing policy).
    pub node: String,
    /// The topic audited.
    pub topic: String,
    /// The pool drawn from.
    pub pool: Pool,
    /// The draw's seed.
    pub seed: [u8; 32],
    /// The canaries drawn, in draw order, and the specialist's answer to each.
    pub answers: Vec<(u32, String)>,
}

/// Why stored audit bytes were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// The bytes end inside a field (its name).
    Truncated(&'static str),
    /// An unknown version byte.
    Version(u8),
    /// A pool byte other than 0 (public) or 1 (secret).
    Pool(u8),
    /// A field longer than its limit (its name).
    TooLong(&'static str),
    /// A name or answer that is not UTF-8 (its name).
    NotUtf8(&'static str),
    /// No canary, or more than [`MAX_AUDIT`].
    Count(u8),
    /// Bytes after the last answer.
    Trailing(usize),
    /// A panel record of fewer than 2 or more than [`MAX_MEMBERS`] specialists.
    Members(u8),
    /// A panel record of no canary, or more than [`MAX_PANEL_AUDIT`].
    PanelCount(u8),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated(field) => write!(f, "audit record ends inside {field}"),
            Self::Version(v) => write!(f, "audit record version {v} (expected {VERSION})"),
            Self::Pool(p) => write!(f, "audit record pool {p} (0 public, 1 secret)"),
            Self::TooLong(field) => write!(f, "audit record {field} too long"),
            Self::NotUtf8(field) => write!(f, "audit record {field} is not UTF-8"),
            Self::Count(n) => write!(f, "audit record of {n} canaries (1 to {MAX_AUDIT})"),
            Self::Trailing(n) => write!(f, "{n} bytes after the audit record"),
            Self::Members(n) => write!(f, "panel record of {n} specialists (2 to {MAX_MEMBERS})"),
            Self::PanelCount(n) => write!(f, "panel record of {n} canaries (1 to {MAX_PANEL_AUDIT})"),
        }
    }
}

impl AuditRecord {
    /// The canonical encoding. Fields beyond their limits are the caller's error: the desk
    /// checks them before it encodes ([`crate::desk::Desk::check_audit`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.answers.len() * 24);
        out.push(VERSION);
        out.extend_from_slice(&self.time.to_be_bytes());
        out.push(match self.pool {
            Pool::Public => 0,
            Pool::Secret => 1,
        });
        out.extend_from_slice(&self.seed);
        for text in [&self.node, &self.topic] {
            out.push(text.len() as u8);
            out.extend_from_slice(text.as_bytes());
        }
        out.push(self.answers.len() as u8);
        for (id, answer) in &self.answers {
            out.extend_from_slice(&id.to_be_bytes());
            out.push(answer.len() as u8);
            out.extend_from_slice(answer.as_bytes());
        }
        out
    }

    /// Decodes the canonical encoding, refusing anything else with the field at fault.
    pub fn decode(bytes: &[u8]) -> Result<AuditRecord, RecordError> {
        let mut r = Reader { bytes, at: 0 };
        let version = r.byte("version")?;
        if version != VERSION {
            return Err(RecordError::Version(version));
        }
        let time = u64::from_be_bytes(r.array("time")?);
        let pool = match r.byte("pool")? {
            0 => Pool::Public,
            1 => Pool::Secret,
            other => return Err(RecordError::Pool(other)),
        };
        let seed = r.array("seed")?;
        let node = r.text("node", MAX_NAME)?;
        let topic = r.text("topic", MAX_NAME)?;
        let count = r.byte("count")?;
        if count == 0 || usize::from(count) > MAX_AUDIT {
            return Err(RecordError::Count(count));
        }
        let mut answers = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let id = u32::from_be_bytes(r.array("canary")?);
            answers.push((id, r.text("answer", MAX_ANSWER)?));
        }
        if r.at != bytes.len() {
            return Err(RecordError::Trailing(bytes.len() - r.at));
        }
        Ok(AuditRecord { time, node, topic, pool, seed, answers })
    }
}

/// One class-C agreement audit: which specialists answered which drawn class-C canaries
/// of a topic, and what each said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanelRecord {
    /// Plane B time of the audit (ms; never goes back from one panel audit to the next).
    pub time: u64,
    /// The class-C topic.
    pub topic: String,
    /// The draw's seed (public canaries only).
    pub seed: [u8; 32],
    /// The specialists asked (names in the routing policy), in answer order.
    pub specialists: Vec<String>,
    /// The canaries drawn, in draw order.
    pub canaries: Vec<PanelCanary>,
}

/// One canary of a [`PanelRecord`] and every specialist's answer to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanelCanary {
    /// The canary's ID.
    pub id: u32,
    /// The answers, one per specialist of the record, in its order.
    pub answers: Vec<String>,
}

impl PanelRecord {
    /// The canonical encoding. Fields beyond their limits are the caller's error: the desk
    /// checks them before it encodes ([`crate::desk::Desk::check_panel_audit`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.push(VERSION);
        out.extend_from_slice(&self.time.to_be_bytes());
        out.extend_from_slice(&self.seed);
        out.push(self.topic.len() as u8);
        out.extend_from_slice(self.topic.as_bytes());
        out.push(self.specialists.len() as u8);
        for s in &self.specialists {
            out.push(s.len() as u8);
            out.extend_from_slice(s.as_bytes());
        }
        out.push(self.canaries.len() as u8);
        for c in &self.canaries {
            out.extend_from_slice(&c.id.to_be_bytes());
            for a in &c.answers {
                out.push(a.len() as u8);
                out.extend_from_slice(a.as_bytes());
            }
        }
        out
    }

    /// Decodes the canonical encoding, refusing anything else with the field at fault.
    pub fn decode(bytes: &[u8]) -> Result<PanelRecord, RecordError> {
        let mut r = Reader { bytes, at: 0 };
        let version = r.byte("version")?;
        if version != VERSION {
            return Err(RecordError::Version(version));
        }
        let time = u64::from_be_bytes(r.array("time")?);
        let seed = r.array("seed")?;
        let topic = r.text("topic", MAX_NAME)?;
        let members = r.byte("members")?;
        if !(2..=MAX_MEMBERS).contains(&usize::from(members)) {
            return Err(RecordError::Members(members));
        }
        let specialists = (0..members).map(|_| r.text("specialist", MAX_NAME)).collect::<Result<Vec<_>, _>>()?;
        let count = r.byte("count")?;
        if count == 0 || usize::from(count) > MAX_PANEL_AUDIT {
            return Err(RecordError::PanelCount(count));
        }
        let mut canaries = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let id = u32::from_be_bytes(r.array("canary")?);
            let answers = (0..members).map(|_| r.text("answer", MAX_ANSWER)).collect::<Result<Vec<_>, _>>()?;
            canaries.push(PanelCanary { id, answers });
        }
        if r.at != bytes.len() {
            return Err(RecordError::Trailing(bytes.len() - r.at));
        }
        Ok(PanelRecord { time, topic, seed, specialists, canaries })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&[u8], RecordError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or(RecordError::Truncated(field))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, RecordError> {
        Ok(self.take(1, field)?[0])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RecordError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn text(&mut self, field: &'static str, max: usize) -> Result<String, RecordError> {
        let len = usize::from(self.byte(field)?);
        if len > max {
            return Err(RecordError::TooLong(field));
        }
        let bytes = self.take(len, field)?;
        core::str::from_utf8(bytes).map(String::from).map_err(|_| RecordError::NotUtf8(field))
    }
}
