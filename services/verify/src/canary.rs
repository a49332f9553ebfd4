//! Plane B's control tasks (seed `002_…`, "Canary lifecycle"): canaries of classes A
//! (objective, judged by a checker), B (reference, matched against a known answer) and C
//! (open-ended, judged only by agreement), with rotation and expiry, a secret reserve for
//! blind audits, and an [`AuditBook`] that turns scored canaries into per-node, per-topic
//! reputation (class A only, through `tileos-reputation`) and detects overfitting ("good on
//! public, poor on secret") with a slashing penalty.
//!
//! Sampling is deterministic given a seed: the eligible canaries are ordered by
//! `SHA-256(seed ‖ id)`. Under commit-reveal the seed is revealed only after nodes commit,
//! so which canaries are drawn is unpredictable to them (the commit-reveal exchange itself is
//! the caller's). Every draw is a reveal; a canary retires after `max_reveals` reveals
//! (it may have leaked into training) and expires at its `expires_at` time.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use sha2::{Digest, Sha256};
use tileos_reputation::{Audit, Params, Reputation, TopicRecord, VoteWeights, vote_weights};

use crate::arith::{CheckOutcome, check_arithmetic, evaluate};
use crate::text::same_answer;
use crate::units::{check_conversion, convert};

/// A canary's verification class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanaryClass {
    /// Objective: an algorithm judges the answer.
    A,
    /// Reference: the answer must match a known reference.
    B,
    /// Consensus: no fixed answer; used to measure how specialists agree.
    C,
}

/// Which pool a canary belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool {
    /// Reward-bearing: scored results feed reputation.
    Public,
    /// The secret reserve: only for blind audits, never reward-bearing.
    Secret,
}

/// What a canary asks and how its answer is judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CanaryTask {
    /// Class A: evaluate an arithmetic expression.
    Arithmetic(String),
    /// Class A: convert `value` from one unit expression to another.
    Conversion {
        /// The value, as a number.
        value: String,
        /// The source unit expression.
        from: String,
        /// The target unit expression.
        to: String,
    },
    /// Class B: the reference answer from a signed snapshot.
    Reference(String),
    /// Class C: an open task without a reference answer; the text is the question asked.
    Open(String),
}

impl CanaryTask {
    /// The class this task belongs to.
    pub fn class(&self) -> CanaryClass {
        match self {
            CanaryTask::Arithmetic(_) | CanaryTask::Conversion { .. } => CanaryClass::A,
            CanaryTask::Reference(_) => CanaryClass::B,
            CanaryTask::Open(_) => CanaryClass::C,
        }
    }
}

/// One control task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canary {
    /// Unique ID.
    pub id: u32,
    /// The topic it tests.
    pub topic: String,
    /// Public (reward-bearing) or secret reserve.
    pub pool: Pool,
    /// The task and its judge.
    pub task: CanaryTask,
    /// Difficulty weight in (0, 1], the `d_a` of the reputation formula, in thousandths.
    pub difficulty_milli: u16,
    /// First time it may be drawn.
    pub issued_at: u64,
    /// First time it may no longer be drawn or scored.
    pub expires_at: u64,
}

/// Why a canary operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CanaryError {
    /// A canary with this ID already exists.
    DuplicateId(u32),
    /// This canary's expiry is not after its issue time.
    BadLifetime(u32),
    /// This canary's difficulty is not in 1..=1000 thousandths.
    BadDifficulty(u32),
    /// This class-A canary's task is itself malformed (the checker cannot evaluate it).
    InvalidTask(u32),
    /// No canary has this ID.
    Unknown(u32),
    /// This canary has expired.
    Expired(u32),
    /// This canary is class C: it has no objective judge and is not scored.
    NotObjective(u32),
    /// `max_reveals` is zero.
    ZeroReveals,
}

impl fmt::Display for CanaryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateId(id) => write!(f, "canary {id} already exists"),
            Self::BadLifetime(id) => write!(f, "canary {id} expires before it is issued"),
            Self::BadDifficulty(id) => write!(f, "canary {id} difficulty not in 1..=1000 thousandths"),
            Self::InvalidTask(id) => write!(f, "canary {id} task cannot be evaluated by its checker"),
            Self::Unknown(id) => write!(f, "no canary {id}"),
            Self::Expired(id) => write!(f, "canary {id} has expired"),
            Self::NotObjective(id) => write!(f, "canary {id} is class C and has no objective judge"),
            Self::ZeroReveals => f.write_str("max_reveals must be at least 1"),
        }
    }
}

/// The score of one answer to one canary.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// The canary scored.
    pub id: u32,
    /// Its class (A or B).
    pub class: CanaryClass,
    /// Its pool.
    pub pool: Pool,
    /// Difficulty in (0, 1].
    pub difficulty: f64,
    /// Whether the answer was right.
    pub passed: bool,
}

struct Entry {
    canary: Canary,
    reveals: u32,
}

/// The living canary set: rotation (retirement after `max_reveals` reveals), expiry, and
/// the public/secret split.
pub struct CanarySet {
    entries: Vec<Entry>,
    max_reveals: u32,
}

impl CanarySet {
    /// An empty set whose canaries retire after `max_reveals` reveals.
    pub fn new(max_reveals: u32) -> Result<Self, CanaryError> {
        if max_reveals == 0 {
            return Err(CanaryError::ZeroReveals);
        }
        Ok(CanarySet { entries: Vec::new(), max_reveals })
    }

    /// Adds a canary after checking its ID, lifetime, difficulty and (class A) its task.
    pub fn add(&mut self, canary: Canary) -> Result<(), CanaryError> {
        let id = canary.id;
        if self.entries.iter().any(|e| e.canary.id == id) {
            return Err(CanaryError::DuplicateId(id));
        }
        if canary.expires_at <= canary.issued_at {
            return Err(CanaryError::BadLifetime(id));
        }
        if !(1..=1000).contains(&canary.difficulty_milli) {
            return Err(CanaryError::BadDifficulty(id));
        }
        let valid = match &canary.task {
            CanaryTask::Arithmetic(expr) => evaluate(expr).is_ok(),
            CanaryTask::Conversion { value, from, to } => {
                crate::claim::Claim::parse(value).is_ok_and(|v| convert(v.value, from, to).is_ok())
            }
            CanaryTask::Reference(answer) => !answer.trim().is_empty(),
            CanaryTask::Open(question) => !question.trim().is_empty(),
        };
        if !valid {
            return Err(CanaryError::InvalidTask(id));
        }
        self.entries.push(Entry { canary, reveals: 0 });
        Ok(())
    }

    /// Every canary of the set, in the order added.
    pub fn iter(&self) -> impl Iterator<Item = &Canary> {
        self.entries.iter().map(|e| &e.canary)
    }

    /// The canary with this ID and how many times it has been revealed.
    pub fn get(&self, id: u32) -> Option<(&Canary, u32)> {
        self.entries.iter().find(|e| e.canary.id == id).map(|e| (&e.canary, e.reveals))
    }

    /// Whether the canary can still be drawn at `now`: issued, not expired, not retired.
    pub fn is_active(&self, id: u32, now: u64) -> bool {
        self.entries.iter().any(|e| e.canary.id == id && self.eligible(e, now))
    }

    fn eligible(&self, e: &Entry, now: u64) -> bool {
        e.canary.issued_at <= now && now < e.canary.expires_at && e.reveals < self.max_reveals
    }

    /// Draws up to `n` active canaries of `topic` from `pool`, in the order of
    /// `SHA-256(seed ‖ id)`, and counts a reveal for each. Use [`Pool::Secret`] only for
    /// blind audits.
    pub fn draw(&mut self, topic: &str, pool: Pool, now: u64, n: usize, seed: &[u8; 32]) -> Vec<u32> {
        let ids = self.pick(topic, pool, now, n, seed);
        for &id in &ids {
            self.reveal(id);
        }
        ids
    }

    /// The canaries [`CanarySet::draw`] would draw, without revealing them: a caller that
    /// must check an audit before it changes anything picks first and reveals after.
    pub fn pick(&self, topic: &str, pool: Pool, now: u64, n: usize, seed: &[u8; 32]) -> Vec<u32> {
        let mut picked: Vec<([u8; 32], usize)> = (0..self.entries.len())
            .filter(|&i| {
                let e = &self.entries[i];
                e.canary.topic == topic && e.canary.pool == pool && self.eligible(e, now)
            })
            .map(|i| (Sha256::new().chain_update(seed).chain_update(self.entries[i].canary.id.to_be_bytes()).finalize().into(), i))
            .collect();
        picked.sort_unstable();
        picked.truncate(n);
        picked.into_iter().map(|(_, i)| self.entries[i].canary.id).collect()
    }

    /// Counts one reveal of canary `id` (a picked canary that was asked); unknown IDs are
    /// ignored. Returns whether the canary exists.
    pub fn reveal(&mut self, id: u32) -> bool {
        match self.entries.iter_mut().find(|e| e.canary.id == id) {
            Some(e) => {
                e.reveals = e.reveals.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// Scores a node's answer to a class-A or class-B canary at `now`. A malformed answer is
    /// a wrong answer (it fails), not an error.
    pub fn score(&self, id: u32, answer: &str, now: u64) -> Result<Score, CanaryError> {
        let c = self.get(id).ok_or(CanaryError::Unknown(id))?.0;
        if now >= c.expires_at {
            return Err(CanaryError::Expired(id));
        }
        let passed = match &c.task {
            CanaryTask::Arithmetic(expr) => matches!(check_arithmetic(expr, answer), Ok(CheckOutcome::Pass)),
            CanaryTask::Conversion { value, from, to } => matches!(check_conversion(value, from, to, answer), Ok(CheckOutcome::Pass)),
            CanaryTask::Reference(reference) => same_answer(reference, answer),
            CanaryTask::Open(_) => return Err(CanaryError::NotObjective(id)),
        };
        Ok(Score { id, class: c.task.class(), pool: c.pool, difficulty: f64::from(c.difficulty_milli) / 1000.0, passed })
    }
}

/// When a public/secret gap counts as overfitting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OverfitRule {
    /// Public scores needed before judging.
    pub min_public: u32,
    /// Secret (blind audit) scores needed before judging.
    pub min_secret: u32,
    /// Largest tolerated `public pass rate − secret pass rate`.
    pub max_gap: f64,
}

impl Default for OverfitRule {
    /// 8 public and 8 secret scores, a gap above 0.25 is overfitting (placeholders to be
    /// calibrated, like the reputation knobs).
    fn default() -> Self {
        OverfitRule { min_public: 8, min_secret: 8, max_gap: 0.25 }
    }
}

/// An overfitting finding: the pass rates that triggered it. The node was slashed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Overfit {
    /// Pass rate on public canaries.
    pub public_rate: f64,
    /// Pass rate on secret canaries.
    pub secret_rate: f64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    scored: u32,
    passed: u32,
}

impl Tally {
    fn add(&mut self, passed: bool) {
        self.scored += 1;
        self.passed += u32::from(passed);
    }
    fn rate(&self) -> f64 {
        f64::from(self.passed) / f64::from(self.scored.max(1))
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct NodeTopic {
    record: TopicRecord,
    public: Tally,
    secret: Tally,
    overfits: u32,
}

/// A node's audit tallies on a topic since its last overfit finding, and the findings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tallies {
    /// Public canaries scored.
    pub public_scored: u32,
    /// Public canaries passed.
    pub public_passed: u32,
    /// Secret-reserve canaries scored.
    pub secret_scored: u32,
    /// Secret-reserve canaries passed.
    pub secret_passed: u32,
    /// Overfit findings (each slashed the node and restarted the tallies).
    pub overfits: u32,
}

/// Why the audit book refused an update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BookError {
    /// The reputation core refused the update (bad time, parameter or value).
    Reputation(tileos_reputation::Error),
    /// A class-C score was given; class C carries no objective evidence.
    NotObjective,
}

impl fmt::Display for BookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reputation(e) => write!(f, "reputation: {e:?}"),
            Self::NotObjective => f.write_str("class-C results carry no objective evidence"),
        }
    }
}

/// Per-node, per-topic reputation from scored canaries, with overfit detection.
pub struct AuditBook {
    params: Params,
    rule: OverfitRule,
    entries: BTreeMap<(String, String), NodeTopic>,
}

impl AuditBook {
    /// An empty book with reputation parameters and an overfit rule.
    pub fn new(params: Params, rule: OverfitRule) -> Result<Self, BookError> {
        params.validate().map_err(BookError::Reputation)?;
        Ok(AuditBook { params, rule, entries: BTreeMap::new() })
    }

    /// Records a score of `node` on `topic` at `time`. Public class-A scores are evidence
    /// for the node's reputation; public and secret class-A/B scores are tallied for overfit
    /// detection. When the rule fires, the node is slashed on the topic, its tallies restart
    /// (one penalty per body of evidence), and the finding is returned.
    pub fn record(&mut self, node: &str, topic: &str, score: &Score, time: f64) -> Result<Option<Overfit>, BookError> {
        if score.class == CanaryClass::C {
            return Err(BookError::NotObjective);
        }
        // Checked before anything is tallied, so a refused score changes nothing.
        if !time.is_finite() {
            return Err(BookError::Reputation(tileos_reputation::Error::NonFiniteTime));
        }
        let e = self.entries.entry((String::from(node), String::from(topic))).or_default();
        if score.pool == Pool::Public && score.class == CanaryClass::A {
            let audit = Audit { time, difficulty: score.difficulty, outcome: if score.passed { 1.0 } else { 0.0 } };
            e.record.record(&self.params, audit).map_err(BookError::Reputation)?;
        }
        match score.pool {
            Pool::Public => e.public.add(score.passed),
            Pool::Secret => e.secret.add(score.passed),
        }
        if e.public.scored < self.rule.min_public || e.secret.scored < self.rule.min_secret {
            return Ok(None);
        }
        let finding = Overfit { public_rate: e.public.rate(), secret_rate: e.secret.rate() };
        if finding.public_rate - finding.secret_rate <= self.rule.max_gap {
            return Ok(None);
        }
        e.record.slash(&self.params, time).map_err(BookError::Reputation)?;
        e.public = Tally::default();
        e.secret = Tally::default();
        e.overfits = e.overfits.saturating_add(1);
        Ok(Some(finding))
    }

    /// The node's tallies on the topic (all zero for a node never scored there).
    pub fn tallies(&self, node: &str, topic: &str) -> Tallies {
        let e = self.entries.get(&(String::from(node), String::from(topic))).copied().unwrap_or_default();
        Tallies {
            public_scored: e.public.scored,
            public_passed: e.public.passed,
            secret_scored: e.secret.scored,
            secret_passed: e.secret.passed,
            overfits: e.overfits,
        }
    }

    /// The node's reputation on the topic at `now` (stake is not modelled here: 0).
    pub fn reputation(&self, node: &str, topic: &str, now: f64) -> Result<Reputation, BookError> {
        let record = self.entries.get(&(String::from(node), String::from(topic))).map(|e| e.record).unwrap_or_default();
        record.reputation(&self.params, 0.0, now).map_err(BookError::Reputation)
    }

    /// The clipped vote weights of `nodes` on `topic` at `now` (seed §9.9), in `nodes`
    /// order: the weights a class-C panel's answers carry into the gate ("reputation is
    /// earned on class A, spent on class C"). `bound_met = false` means too few nodes have
    /// reputation for the `w_max` clip, and all of them weigh the same.
    pub fn vote_weights(&self, topic: &str, nodes: &[&str], now: f64) -> Result<VoteWeights, BookError> {
        let raw = nodes.iter().map(|n| self.reputation(n, topic, now).map(|r| r.raw)).collect::<Result<Vec<f64>, _>>()?;
        vote_weights(&self.params, &raw).map_err(BookError::Reputation)
    }

    /// The reputation parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn canary(id: u32, topic: &str, pool: Pool, task: CanaryTask) -> Canary {
        Canary { id, topic: topic.to_string(), pool, task, difficulty_milli: 800, issued_at: 0, expires_at: 100 }
    }

    fn arith(id: u32, pool: Pool) -> Canary {
        canary(id, "arith", pool, CanaryTask::Arithmetic(alloc::format!("{id} * 3")))
    }

    #[test]
    fn add_validates_each_canary() {
        let mut s = CanarySet::new(3).unwrap();
        s.add(arith(1, Pool::Public)).unwrap();
        assert_eq!(s.add(arith(1, Pool::Public)), Err(CanaryError::DuplicateId(1)));
        assert_eq!(s.add(Canary { expires_at: 0, ..arith(2, Pool::Public) }), Err(CanaryError::BadLifetime(2)));
        assert_eq!(s.add(Canary { difficulty_milli: 0, ..arith(3, Pool::Public) }), Err(CanaryError::BadDifficulty(3)));
        assert_eq!(s.add(canary(4, "arith", Pool::Public, CanaryTask::Arithmetic("1 +".into()))), Err(CanaryError::InvalidTask(4)));
        let bad_units = CanaryTask::Conversion { value: "1".into(), from: "m".into(), to: "kg".into() };
        assert_eq!(s.add(canary(5, "units", Pool::Public, bad_units)), Err(CanaryError::InvalidTask(5)));
        assert_eq!(s.add(canary(6, "ref", Pool::Public, CanaryTask::Reference(" ".into()))), Err(CanaryError::InvalidTask(6)));
        assert!(matches!(CanarySet::new(0), Err(CanaryError::ZeroReveals)));
    }

    #[test]
    fn canaries_rotate_out_after_reveals_and_expire() {
        let mut s = CanarySet::new(2).unwrap();
        s.add(arith(1, Pool::Public)).unwrap();
        s.add(Canary { expires_at: 10, ..arith(2, Pool::Public) }).unwrap();
        s.add(Canary { issued_at: 50, ..arith(3, Pool::Public) }).unwrap();
        let seed = [9; 32];
        let mut first = s.draw("arith", Pool::Public, 5, 10, &seed);
        first.sort();
        assert_eq!(first, vec![1, 2], "3 is not issued yet");
        assert_eq!(s.draw("arith", Pool::Public, 20, 10, &seed), vec![1], "2 expired at 10");
        assert_eq!(s.get(1).unwrap().1, 2);
        assert!(!s.is_active(1, 20), "1 retired after two reveals");
        assert_eq!(s.draw("arith", Pool::Public, 60, 10, &seed), vec![3]);
        assert_eq!(s.score(2, "6", 20), Err(CanaryError::Expired(2)));
        assert_eq!(s.score(99, "6", 20), Err(CanaryError::Unknown(99)));
    }

    #[test]
    fn sampling_is_seeded_and_public_draws_never_touch_the_secret_reserve() {
        let mut a = CanarySet::new(100).unwrap();
        let mut b = CanarySet::new(100).unwrap();
        for id in 0..40 {
            let pool = if id % 4 == 0 { Pool::Secret } else { Pool::Public };
            a.add(arith(id, pool)).unwrap();
            b.add(arith(id, pool)).unwrap();
        }
        let x = a.draw("arith", Pool::Public, 1, 5, &[1; 32]);
        assert_eq!(x, b.draw("arith", Pool::Public, 1, 5, &[1; 32]), "same seed, same draw");
        assert_ne!(x, a.draw("arith", Pool::Public, 1, 5, &[2; 32]), "another seed, another draw");
        assert!(x.iter().all(|id| id % 4 != 0));
        let secret = a.draw("arith", Pool::Secret, 1, 100, &[1; 32]);
        assert_eq!(secret.len(), 10);
        assert!(secret.iter().all(|id| id % 4 == 0));
        // Picking reveals nothing; revealing what was picked is drawing.
        let picked = a.pick("arith", Pool::Public, 1, 3, &[9; 32]);
        assert_eq!(picked, a.pick("arith", Pool::Public, 1, 3, &[9; 32]));
        let before = picked.iter().map(|&id| a.get(id).unwrap().1).collect::<Vec<_>>();
        assert!(picked.iter().all(|&id| a.reveal(id)));
        assert!(!a.reveal(1000), "an unknown canary");
        let after = picked.iter().map(|&id| a.get(id).unwrap().1).collect::<Vec<_>>();
        assert_eq!(after, before.iter().map(|r| r + 1).collect::<Vec<_>>());
        assert_eq!(picked, b.draw("arith", Pool::Public, 1, 3, &[9; 32]), "a draw is a pick");
    }

    #[test]
    fn scoring_judges_class_a_and_b_and_refuses_c() {
        let mut s = CanarySet::new(5).unwrap();
        s.add(arith(7, Pool::Public)).unwrap();
        let conv = CanaryTask::Conversion { value: "36".into(), from: "km/h".into(), to: "m/s".into() };
        s.add(canary(8, "units", Pool::Secret, conv)).unwrap();
        s.add(canary(9, "capitals", Pool::Public, CanaryTask::Reference("Kyiv".into()))).unwrap();
        s.add(canary(10, "drafts", Pool::Public, CanaryTask::Open("draft a note".into()))).unwrap();
        assert_eq!(s.add(canary(11, "drafts", Pool::Public, CanaryTask::Open(" ".into()))), Err(CanaryError::InvalidTask(11)));
        assert!(s.score(7, "21", 1).unwrap().passed);
        assert!(!s.score(7, "22", 1).unwrap().passed);
        assert!(!s.score(7, "twenty-one", 1).unwrap().passed, "a malformed answer fails");
        let sc = s.score(8, "10", 1).unwrap();
        assert!(sc.passed && sc.pool == Pool::Secret && sc.class == CanaryClass::A);
        assert!(s.score(9, " kyiv ", 1).unwrap().passed);
        assert!(!s.score(9, "Kiev", 1).unwrap().passed);
        assert_eq!(s.score(10, "anything", 1), Err(CanaryError::NotObjective(10)));
    }

    fn score(pool: Pool, passed: bool) -> Score {
        Score { id: 0, class: CanaryClass::A, pool, difficulty: 0.8, passed }
    }

    #[test]
    fn class_a_results_build_reputation_per_node_and_topic() {
        let mut book = AuditBook::new(Params::default(), OverfitRule::default()).unwrap();
        for t in 0..20 {
            book.record("good", "arith", &score(Pool::Public, true), f64::from(t)).unwrap();
            book.record("bad", "arith", &score(Pool::Public, t % 4 == 0), f64::from(t)).unwrap();
        }
        let good = book.reputation("good", "arith", 20.0).unwrap();
        let bad = book.reputation("bad", "arith", 20.0).unwrap();
        assert!(good.raw > 2.0 * bad.raw, "{good:?} vs {bad:?}");
        assert_eq!(book.reputation("good", "units", 20.0).unwrap().mass, 0.0, "reputation is per topic");
        let secret_only = {
            let mut b = AuditBook::new(Params::default(), OverfitRule::default()).unwrap();
            b.record("n", "arith", &score(Pool::Secret, true), 1.0).unwrap();
            b.reputation("n", "arith", 1.0).unwrap().mass
        };
        assert_eq!(secret_only, 0.0, "blind audits are not reward-bearing");
        assert_eq!(
            book.record("good", "arith", &score(Pool::Secret, true), f64::NAN),
            Err(BookError::Reputation(tileos_reputation::Error::NonFiniteTime))
        );
        // Two nodes cannot meet the default 15 % clip, so they weigh the same...
        let w = book.vote_weights("arith", &["good", "bad"], 20.0).unwrap();
        assert_eq!((w.weights.as_slice(), w.bound_met), (&[0.5, 0.5][..], false));
        // ...while without the clip the better record carries the larger vote.
        let mut unclipped = AuditBook::new(Params { w_max: 1.0, ..Params::default() }, OverfitRule::default()).unwrap();
        for t in 0..20 {
            unclipped.record("good", "arith", &score(Pool::Public, true), f64::from(t)).unwrap();
            unclipped.record("bad", "arith", &score(Pool::Public, t % 4 == 0), f64::from(t)).unwrap();
        }
        let w = unclipped.vote_weights("arith", &["good", "bad"], 20.0).unwrap();
        assert!(w.weights[0] > 2.0 * w.weights[1] && w.bound_met, "{w:?}");
        assert_eq!(
            book.vote_weights("units", &["good", "bad"], 20.0),
            Err(BookError::Reputation(tileos_reputation::Error::NoPositiveReputation)),
            "no class-A evidence on the topic, no vote"
        );
        let c = Score { class: CanaryClass::C, ..score(Pool::Public, true) };
        assert_eq!(book.record("good", "arith", &c, 21.0), Err(BookError::NotObjective));
    }

    #[test]
    fn overfitting_is_detected_and_penalised() {
        let mut book = AuditBook::new(Params::default(), OverfitRule::default()).unwrap();
        let mut honest = AuditBook::new(Params::default(), OverfitRule::default()).unwrap();
        let mut finding = None;
        for t in 0..8 {
            let time = f64::from(t);
            // The overfit node aces every public canary but fails most secret ones.
            book.record("gamer", "arith", &score(Pool::Public, true), time).unwrap();
            finding = finding.or(book.record("gamer", "arith", &score(Pool::Secret, t == 0), time).unwrap());
            honest.record("honest", "arith", &score(Pool::Public, t != 3), time).unwrap();
            assert_eq!(honest.record("honest", "arith", &score(Pool::Secret, t != 5), time).unwrap(), None);
        }
        let f = finding.expect("the gap is detected once both tallies are full");
        assert_eq!((f.public_rate, f.secret_rate), (1.0, 0.125));
        let gamer = book.reputation("gamer", "arith", 8.0).unwrap();
        let honest_rep = honest.reputation("honest", "arith", 8.0).unwrap();
        assert!(gamer.slashing < 0.11, "slashed: {gamer:?}");
        assert!(gamer.raw < honest_rep.raw / 5.0, "the penalty outweighs the perfect public record");
        // Tallies restart: the same evidence is not penalised twice.
        assert_eq!(book.tallies("gamer", "arith"), Tallies { overfits: 1, ..Tallies::default() });
        assert_eq!(book.record("gamer", "arith", &score(Pool::Secret, false), 9.0).unwrap(), None);
        assert_eq!(book.tallies("gamer", "arith"), Tallies { secret_scored: 1, overfits: 1, ..Tallies::default() });
        let h = honest.tallies("honest", "arith");
        assert_eq!((h.public_scored, h.public_passed, h.secret_scored, h.secret_passed, h.overfits), (8, 7, 8, 7, 0));
        assert_eq!(honest.tallies("nobody", "arith"), Tallies::default());
    }
}
