//! Adapters as slot challengers (DIIP class 1 on live traffic; docs/inference.md "Adapters
//! as slot challengers"): the verify domain is the slot.
//!
//! A *slot* is an adapter name of the routing policy (`t1`): the specialists routed to it
//! are answered by whichever accepted adapter file serves the slot, and
//! `verify/accepted/SLOT` holds that file's digest. A [`Challenge`] puts an accepted
//! challenger beside the serving adapter:
//!
//! 1. [`Phase::Shadowing`]: on each live class-A question routed to the slot, the
//!    challenger is asked too (never answered to the client, never logged as the answer);
//!    both answers are judged by the class-A checker and tallied. After
//!    [`Rule::min_live`] questions it is promoted when its pass rate is not below the
//!    incumbent's by more than [`Rule::margin_ppm`], else [`Phase::Rejected`].
//! 2. [`Phase::Promoted`]: the challenger serves; the old incumbent (its digest kept)
//!    answers beside it for a rollback window of [`Rule::window`] live questions. If the
//!    promoted adapter's pass rate falls below the old one's by more than the margin over
//!    the window, [`Phase::RolledBack`] (the old digest serves again), else
//!    [`Phase::Settled`] (the old digest is dropped).
//!
//! The state is a small value: [`Challenge::observe`] returns the next state and changes
//! nothing, so the domain persists it ([`Challenge::encode`], canonical; under
//! `verify/challenge/SLOT`) before it applies it. Each step but a tally is first logged
//! in the ledger ([`Challenge::ledger_entry`], a `tileos_verify::ledger::ChallengeEntry`). [`Challenge::decode`] refuses anything
//! but the canonical bytes of a consistent state, naming the field.
//!
//! Why not `tileos_slots::Slot`: its evidence is agreement between incumbent and
//! challenger under a comparator, with latency and soak time; a better adapter disagrees
//! exactly where it is better. Here the evidence is a verdict per answer.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use tileos_verify::ledger::{AdapterRef, ChallengeEntry, ChallengeStep, Evidence};

/// The longest slot or adapter name in a record (the protocol's name limit).
pub const MAX_NAME: usize = 32;
const VERSION: u8 = 1;
const MILLION: u64 = 1_000_000;

/// When a challenger is promoted, and when a promotion is rolled back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Live questions judged for both before the promotion decision (at least 1).
    pub min_live: u32,
    /// How far (in millionths of pass rate) the newcomer may fall below the other and
    /// still count as not worse.
    pub margin_ppm: u32,
    /// Live questions of the rollback window after a promotion (at least 1).
    pub window: u32,
}

impl Default for Rule {
    /// The dev tile's rule: 6 live questions, a margin of 0.1 of pass rate, a window of
    /// 6 questions. Placeholders sized for a boot test, not calibrated: 6 questions cannot
    /// tell pass rates apart by less than about 0.3 with any confidence.
    fn default() -> Rule {
        Rule { min_live: 6, margin_ppm: 100_000, window: 6 }
    }
}

/// An accepted adapter file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adapter {
    /// Its name in the inference domain's catalog.
    pub name: String,
    /// SHA-256 of the file that was accepted.
    pub digest: [u8; 32],
}

/// Live answers judged, and how many passed the checker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Answers judged.
    pub asked: u32,
    /// Of which the checker passed.
    pub passed: u32,
}

impl Tally {
    fn add(self, passed: bool) -> Tally {
        Tally { asked: self.asked + 1, passed: self.passed + u32::from(passed) }
    }
}

/// Where a challenge stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The incumbent serves; the challenger answers beside it, unseen.
    Shadowing,
    /// The challenger serves; the old incumbent answers beside it for the rollback window.
    Promoted,
    /// The promoted challenger held its pass rate through the window; the old digest is
    /// dropped.
    Settled,
    /// The challenger fell short of the incumbent; the incumbent serves.
    Rejected,
    /// The promoted challenger's pass rate fell in the window; the old incumbent serves
    /// again.
    RolledBack,
}

impl Phase {
    fn code(self) -> u8 {
        match self {
            Phase::Shadowing => 0,
            Phase::Promoted => 1,
            Phase::Settled => 2,
            Phase::Rejected => 3,
            Phase::RolledBack => 4,
        }
    }

    /// Whether the challenge still runs (a second adapter is asked on live questions).
    pub fn running(self) -> bool {
        matches!(self, Phase::Shadowing | Phase::Promoted)
    }
}

/// A challenge of a slot's serving adapter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The slot: an adapter name of the routing policy.
    pub slot: String,
    /// The adapter that served the slot when the challenge started.
    pub incumbent: Adapter,
    /// The challenger.
    pub challenger: Adapter,
    /// Where it stands.
    pub phase: Phase,
    /// Shadowing: the incumbent's and the challenger's live tallies.
    pub shadow: [Tally; 2],
    /// Rollback window: the promoted challenger's and the old incumbent's live tallies.
    pub window: [Tally; 2],
    /// Ledger size when it started (the index of its Started entry).
    pub started_at: u64,
    /// Ledger size after the question that decided promotion or rejection (the index of
    /// the decision's entry; after it, the entries of the slot were answered by the
    /// adapter then serving).
    pub decided_at: Option<u64>,
    /// Ledger size after the question that settled or rolled back the promotion (the
    /// index of that step's entry).
    pub ended_at: Option<u64>,
}

/// What an observation changed, for the domain's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Tallied; the phase is the same.
    Tallied,
    /// The challenger now serves.
    Promoted,
    /// The challenger was dropped before serving.
    Rejected,
    /// The promotion holds; the old digest is dropped.
    Settled,
    /// The old incumbent serves again.
    RolledBack,
}

impl Step {
    /// The ledger's step for this one; `None` for a tally (tallies are not entries).
    pub fn logged(self) -> Option<ChallengeStep> {
        match self {
            Step::Tallied => None,
            Step::Promoted => Some(ChallengeStep::Promoted),
            Step::Rejected => Some(ChallengeStep::Rejected),
            Step::Settled => Some(ChallengeStep::Settled),
            Step::RolledBack => Some(ChallengeStep::RolledBack),
        }
    }
}

/// Why a challenge could not start, or stored bytes were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChallengeError {
    /// The challenger is the adapter serving the slot, or the same file.
    SameAdapter,
    /// A challenge of this slot is still running (its phase).
    Running(Phase),
    /// Stored bytes end inside a field (its name).
    Truncated(&'static str),
    /// An unknown version byte.
    Version(u8),
    /// An unknown phase byte.
    PhaseByte(u8),
    /// A name that is empty, too long or not printable ASCII (the field).
    BadName(&'static str),
    /// An optional field's flag other than 0 or 1 (the field).
    Flag(&'static str),
    /// Tallies or ledger marks that this phase cannot have under the rule (the field).
    Inconsistent(&'static str),
    /// Bytes after the record.
    Trailing(usize),
}

impl fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SameAdapter => f.write_str("the challenger is the adapter serving the slot"),
            Self::Running(phase) => write!(f, "a challenge of this slot is still running ({phase:?})"),
            Self::Truncated(field) => write!(f, "challenge record ends inside {field}"),
            Self::Version(v) => write!(f, "challenge record version {v} (expected {VERSION})"),
            Self::PhaseByte(p) => write!(f, "challenge record phase {p} (0 to 4)"),
            Self::BadName(field) => write!(f, "challenge record {field}: empty, over {MAX_NAME} bytes or not printable ASCII"),
            Self::Flag(field) => write!(f, "challenge record {field}: flag other than 0 or 1"),
            Self::Inconsistent(field) => write!(f, "challenge record {field} inconsistent with its phase"),
            Self::Trailing(n) => write!(f, "{n} bytes after the challenge record"),
        }
    }
}

fn good_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME && name.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Whether `newcomer` is not below `other` by more than `margin_ppm` of pass rate (both
/// over the same questions; integer arithmetic).
fn not_worse(newcomer: Tally, other: Tally, margin_ppm: u32) -> bool {
    let asked = u64::from(newcomer.asked.max(1));
    u64::from(newcomer.passed) * MILLION + u64::from(margin_ppm) * asked >= u64::from(other.passed) * MILLION
}

impl Challenge {
    /// A challenge of `slot` (served by `serving`) by `challenger`, starting at ledger
    /// size `ledger_size`; `previous` is the slot's last challenge, if any.
    pub fn start(
        slot: &str,
        serving: Adapter,
        challenger: Adapter,
        previous: Option<&Challenge>,
        ledger_size: u64,
    ) -> Result<Challenge, ChallengeError> {
        if let Some(p) = previous.filter(|p| p.phase.running()) {
            return Err(ChallengeError::Running(p.phase));
        }
        if !good_name(slot) {
            return Err(ChallengeError::BadName("slot"));
        }
        if !good_name(&challenger.name) {
            return Err(ChallengeError::BadName("challenger"));
        }
        if challenger.name == serving.name || challenger.digest == serving.digest {
            return Err(ChallengeError::SameAdapter);
        }
        Ok(Challenge {
            slot: slot.into(),
            incumbent: serving,
            challenger,
            phase: Phase::Shadowing,
            shadow: [Tally::default(); 2],
            window: [Tally::default(); 2],
            started_at: ledger_size,
            decided_at: None,
            ended_at: None,
        })
    }

    /// The adapter that answers the slot's questions now.
    pub fn serving(&self) -> &Adapter {
        match self.phase {
            Phase::Shadowing | Phase::Rejected | Phase::RolledBack => &self.incumbent,
            Phase::Promoted | Phase::Settled => &self.challenger,
        }
    }

    /// The adapter asked beside it, unseen by the client, while the challenge runs.
    pub fn shadow(&self) -> Option<&Adapter> {
        match self.phase {
            Phase::Shadowing => Some(&self.challenger),
            Phase::Promoted => Some(&self.incumbent),
            _ => None,
        }
    }

    /// The state after one live question whose serving answer the checker judged
    /// `serving_passed` and whose shadow answer `shadow_passed`; `ledger_next` is the
    /// ledger size after this question's entry. Changes nothing; `None` when the challenge
    /// no longer runs.
    pub fn observe(&self, serving_passed: bool, shadow_passed: bool, ledger_next: u64, rule: &Rule) -> Option<(Challenge, Step)> {
        let mut next = self.clone();
        let step = match self.phase {
            Phase::Shadowing => {
                next.shadow = [self.shadow[0].add(serving_passed), self.shadow[1].add(shadow_passed)];
                if next.shadow[0].asked < rule.min_live.max(1) {
                    Step::Tallied
                } else {
                    next.decided_at = Some(ledger_next);
                    if not_worse(next.shadow[1], next.shadow[0], rule.margin_ppm) {
                        next.phase = Phase::Promoted;
                        Step::Promoted
                    } else {
                        next.phase = Phase::Rejected;
                        Step::Rejected
                    }
                }
            }
            Phase::Promoted => {
                next.window = [self.window[0].add(serving_passed), self.window[1].add(shadow_passed)];
                if next.window[0].asked < rule.window.max(1) {
                    Step::Tallied
                } else {
                    next.ended_at = Some(ledger_next);
                    if not_worse(next.window[0], next.window[1], rule.margin_ppm) {
                        next.phase = Phase::Settled;
                        Step::Settled
                    } else {
                        next.phase = Phase::RolledBack;
                        Step::RolledBack
                    }
                }
            }
            _ => return None,
        };
        Some((next, step))
    }

    /// The ledger entry of `step` taken to reach this state: the slot, both files and the
    /// tallies (docs/inference.md, "Adapters as slot challengers").
    pub fn ledger_entry(&self, step: ChallengeStep) -> ChallengeEntry {
        let adapter = |a: &Adapter| AdapterRef { name: a.name.clone(), digest: a.digest };
        let evidence = |t: &Tally| Evidence { asked: t.asked, passed: t.passed };
        ChallengeEntry {
            slot: self.slot.clone(),
            incumbent: adapter(&self.incumbent),
            challenger: adapter(&self.challenger),
            step,
            shadow: [evidence(&self.shadow[0]), evidence(&self.shadow[1])],
            window: [evidence(&self.window[0]), evidence(&self.window[1])],
        }
    }

    /// The canonical encoding (version 1, length-prefixed ASCII names, big-endian
    /// integers, optional ledger marks as a flag byte and a value).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        out.push(VERSION);
        for name in [&self.slot, &self.incumbent.name, &self.challenger.name] {
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
        }
        out.extend_from_slice(&self.incumbent.digest);
        out.extend_from_slice(&self.challenger.digest);
        out.push(self.phase.code());
        for t in self.shadow.iter().chain(&self.window) {
            out.extend_from_slice(&t.asked.to_be_bytes());
            out.extend_from_slice(&t.passed.to_be_bytes());
        }
        out.extend_from_slice(&self.started_at.to_be_bytes());
        for mark in [self.decided_at, self.ended_at] {
            match mark {
                None => out.push(0),
                Some(at) => {
                    out.push(1);
                    out.extend_from_slice(&at.to_be_bytes());
                }
            }
        }
        out
    }

    /// Decodes the canonical encoding of a state that `rule` can reach, refusing anything
    /// else with the field at fault.
    pub fn decode(bytes: &[u8], rule: &Rule) -> Result<Challenge, ChallengeError> {
        let mut r = Reader { bytes, at: 0 };
        let version = r.byte("version")?;
        if version != VERSION {
            return Err(ChallengeError::Version(version));
        }
        let slot = r.name("slot")?;
        let incumbent_name = r.name("incumbent")?;
        let challenger_name = r.name("challenger")?;
        let incumbent = Adapter { name: incumbent_name, digest: r.array("incumbent digest")? };
        let challenger = Adapter { name: challenger_name, digest: r.array("challenger digest")? };
        let phase = match r.byte("phase")? {
            0 => Phase::Shadowing,
            1 => Phase::Promoted,
            2 => Phase::Settled,
            3 => Phase::Rejected,
            4 => Phase::RolledBack,
            other => return Err(ChallengeError::PhaseByte(other)),
        };
        let mut tallies = [Tally::default(); 4];
        for t in &mut tallies {
            *t = Tally { asked: u32::from_be_bytes(r.array("tally")?), passed: u32::from_be_bytes(r.array("tally")?) };
        }
        let started_at = u64::from_be_bytes(r.array("started_at")?);
        let decided_at = r.mark("decided_at")?;
        let ended_at = r.mark("ended_at")?;
        if r.at != bytes.len() {
            return Err(ChallengeError::Trailing(bytes.len() - r.at));
        }
        let c = Challenge {
            slot,
            incumbent,
            challenger,
            phase,
            shadow: [tallies[0], tallies[1]],
            window: [tallies[2], tallies[3]],
            started_at,
            decided_at,
            ended_at,
        };
        c.check(rule)?;
        Ok(c)
    }

    /// Whether the state is one `rule` can reach from a start.
    fn check(&self, rule: &Rule) -> Result<(), ChallengeError> {
        if self.challenger.name == self.incumbent.name || self.challenger.digest == self.incumbent.digest {
            return Err(ChallengeError::SameAdapter);
        }
        let bad = |field| Err(ChallengeError::Inconsistent(field));
        if self.shadow.iter().chain(&self.window).any(|t| t.passed > t.asked)
            || self.shadow[0].asked != self.shadow[1].asked
            || self.window[0].asked != self.window[1].asked
        {
            return bad("tally");
        }
        let (min_live, window) = (rule.min_live.max(1), rule.window.max(1));
        let decided = self.shadow[0].asked == min_live;
        let ended = self.window[0].asked == window;
        let shape_ok = match self.phase {
            Phase::Shadowing => self.shadow[0].asked < min_live && self.window[0].asked == 0,
            Phase::Rejected => decided && self.window[0].asked == 0 && !not_worse(self.shadow[1], self.shadow[0], rule.margin_ppm),
            Phase::Promoted => decided && self.window[0].asked < window && not_worse(self.shadow[1], self.shadow[0], rule.margin_ppm),
            Phase::Settled => decided && ended && not_worse(self.window[0], self.window[1], rule.margin_ppm),
            Phase::RolledBack => decided && ended && !not_worse(self.window[0], self.window[1], rule.margin_ppm),
        };
        if !shape_ok {
            return bad("tally");
        }
        let marks_ok = match self.phase {
            Phase::Shadowing => self.decided_at.is_none() && self.ended_at.is_none(),
            Phase::Rejected | Phase::Promoted => self.decided_at.is_some() && self.ended_at.is_none(),
            Phase::Settled | Phase::RolledBack => self.decided_at.is_some() && self.ended_at.is_some(),
        };
        let ordered = self.decided_at.is_none_or(|d| d > self.started_at) && self.ended_at.is_none_or(|e| Some(e) > self.decided_at);
        if !marks_ok || !ordered {
            return bad("ledger marks");
        }
        Ok(())
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&[u8], ChallengeError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or(ChallengeError::Truncated(field))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, ChallengeError> {
        Ok(self.take(1, field)?[0])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ChallengeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn name(&mut self, field: &'static str) -> Result<String, ChallengeError> {
        let len = usize::from(self.byte(field)?);
        let bytes = self.take(len, field)?;
        match core::str::from_utf8(bytes) {
            Ok(s) if good_name(s) => Ok(s.into()),
            _ => Err(ChallengeError::BadName(field)),
        }
    }

    fn mark(&mut self, field: &'static str) -> Result<Option<u64>, ChallengeError> {
        match self.byte(field)? {
            0 => Ok(None),
            1 => Ok(Some(u64::from_be_bytes(self.array(field)?))),
            _ => Err(ChallengeError::Flag(field)),
        }
    }
}
