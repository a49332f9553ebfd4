//! The export gate: queries, sample windows, per-recipient budgets, the export log and the
//! persisted ledger. Design and citations in the [module docs](super).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crc::{CRC_32_ISCSI, Crc};
use serde::{Deserialize, Serialize};

use super::fixed::{DELTA_SCALE, Delta, EPSILON_SCALE, Epsilon, MAX_EPSILON, ParamError};
use super::noise::{RandomSource, gaussian, snapped_laplace};
use crate::Millis;

/// The longest name of a recipient or query, bytes.
pub const MAX_NAME: usize = 64;
/// The largest window capacity and [`GateConfig::max_window`].
pub const MAX_WINDOW: u32 = 1 << 24;
/// The largest [`GateConfig::log_capacity`].
pub const MAX_LOG: u32 = 1 << 16;

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME`] bytes (its length).
    TooLong(usize),
    /// The byte at this index is not one of `A–Z a–z 0–9 . _ : -`.
    BadByte(usize),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("empty name"),
            NameError::TooLong(len) => write!(f, "name of {len} bytes exceeds {MAX_NAME}"),
            NameError::BadByte(i) => write!(f, "name byte {i} is not one of A-Z a-z 0-9 . _ : -"),
        }
    }
}

fn check_name(s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    if s.len() > MAX_NAME {
        return Err(NameError::TooLong(s.len()));
    }
    match s.bytes().position(|b| !(b.is_ascii_alphanumeric() || b"._:-".contains(&b))) {
        Some(i) => Err(NameError::BadByte(i)),
        None => Ok(()),
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps a name (1 to [`MAX_NAME`] bytes of `A–Z a–z 0–9 . _ : -`).
            pub fn new(name: &str) -> Result<Self, NameError> {
                check_name(name)?;
                Ok($name(String::from(name)))
            }

            /// The name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                check_name(&s)?;
                Ok($name(s))
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// Who receives exports (a federation peer, an operator, a hub), e.g. `hub-7`.
    Recipient
);
name_type!(
    /// A query's name in the export log, e.g. `pump.flow.mean.1h`.
    QueryName
);

/// Declared bounds of the samples of a sum or mean; samples are clipped into them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    lo: f64,
    hi: f64,
}

/// Why bounds were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundsError {
    /// A bound is NaN or infinite.
    NonFinite,
    /// `lo ≥ hi`: a sum or mean over a single value releases nothing worth noise.
    Empty,
}

impl Bounds {
    /// `[lo, hi]`, both finite, `lo < hi`.
    pub fn new(lo: f64, hi: f64) -> Result<Self, BoundsError> {
        if !(lo.is_finite() && hi.is_finite()) {
            return Err(BoundsError::NonFinite);
        }
        if lo >= hi {
            return Err(BoundsError::Empty);
        }
        Ok(Bounds { lo, hi })
    }

    /// Lower bound.
    pub fn lo(&self) -> f64 {
        self.lo
    }

    /// Upper bound.
    pub fn hi(&self) -> f64 {
        self.hi
    }
}

/// What a query computes over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    /// Number of samples (sensitivity 1).
    Count,
    /// Sum of the clipped samples (sensitivity `max(|lo|, |hi|)`).
    Sum(Bounds),
    /// Mean of the clipped samples, as a noisy midpoint-centred sum over a noisy count, each
    /// with half the query's ε (and δ): Google's `BoundedMean` construction.
    Mean(Bounds),
}

/// [`Aggregate`] without its bounds, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggregateKind {
    /// [`Aggregate::Count`].
    Count,
    /// [`Aggregate::Sum`].
    Sum,
    /// [`Aggregate::Mean`].
    Mean,
}

/// The noise mechanism and its privacy parameters, as the requester asks for them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mechanism {
    /// Laplace noise by the snapping mechanism: pure ε-DP, charged `ε·(1 + 2⁻⁴⁹·B + 2⁻⁵⁰)` (rounded up) with
    /// `B` = [`GateConfig::max_window`].
    Laplace {
        /// ε of this query.
        epsilon: f64,
    },
    /// Gaussian noise, `σ = Δ·√(2 ln(1.25/δ))/ε` (Dwork & Roth 2014, Theorem A.1, which
    /// needs ε < 1): (ε, δ)-DP.
    Gaussian {
        /// ε of this query, in (0, 1).
        epsilon: f64,
        /// δ of this query, in (0, 1).
        delta: f64,
    },
}

/// One export request.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Its name in the log.
    pub name: QueryName,
    /// What to compute.
    pub aggregate: Aggregate,
    /// How to noise it.
    pub mechanism: Mechanism,
}

/// Why a sample was not added to a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowError {
    /// Capacity 0 or above [`MAX_WINDOW`].
    Capacity,
    /// The sample is NaN or infinite.
    NonFinite,
    /// The window holds its capacity.
    Full,
}

/// Raw samples held on the tile. There is deliberately no way to read them back: the only
/// consumer is [`ExportGate::export`]; `Debug` shows the length only, so a debug log cannot
/// leak them either, and there is no `PartialEq` to probe them with.
#[derive(Clone)]
pub struct SampleWindow {
    samples: Vec<f64>,
    capacity: u32,
}

impl fmt::Debug for SampleWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SampleWindow").field("len", &self.samples.len()).field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl SampleWindow {
    /// An empty window holding up to `capacity` samples (1 to [`MAX_WINDOW`]).
    pub fn new(capacity: u32) -> Result<Self, WindowError> {
        if capacity == 0 || capacity > MAX_WINDOW {
            return Err(WindowError::Capacity);
        }
        Ok(SampleWindow { samples: Vec::new(), capacity })
    }

    /// Adds a sample.
    pub fn push(&mut self, x: f64) -> Result<(), WindowError> {
        if !x.is_finite() {
            return Err(WindowError::NonFinite);
        }
        if self.samples.len() >= self.capacity as usize {
            return Err(WindowError::Full);
        }
        self.samples.push(x);
        Ok(())
    }

    /// Adds a sample, dropping the oldest when the window is full (a sliding window of
    /// the newest `capacity` samples).
    pub fn push_sliding(&mut self, x: f64) -> Result<(), WindowError> {
        if !x.is_finite() {
            return Err(WindowError::NonFinite);
        }
        if self.samples.len() >= self.capacity as usize {
            self.samples.remove(0);
        }
        self.samples.push(x);
        Ok(())
    }

    /// Samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// No samples held.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Capacity.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Discards every sample (a new window starts).
    pub fn clear(&mut self) {
        self.samples.clear();
    }
}

/// An (ε, δ) pair in fixed point: a budget, a spend or a remainder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowance {
    /// ε.
    pub epsilon: Epsilon,
    /// δ.
    pub delta: Delta,
}

impl fmt::Display for Allowance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ε = {} µε, δ = {} fδ", self.epsilon.micros(), self.delta.femtos())
    }
}

/// A recipient's budget and what it has spent (`spent ≤ budget` always).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The total, fixed when the recipient was added.
    pub budget: Allowance,
    /// The sum of the charges so far (basic sequential composition).
    pub spent: Allowance,
}

impl Account {
    /// What is left.
    pub fn remaining(&self) -> Allowance {
        Allowance {
            epsilon: self.budget.epsilon.saturating_sub(self.spent.epsilon),
            delta: self.budget.delta.saturating_sub(self.spent.delta),
        }
    }
}

/// The gate's fixed parameters (persisted with the ledger).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateConfig {
    /// The most samples a window may hold for an export (1 to [`MAX_WINDOW`]). It is the
    /// snapping mechanism's bound `B` (in sensitivity units), so it must exceed `1/ε` of
    /// every Laplace invocation (`2/ε` for a mean).
    pub max_window: u32,
    /// Export log entries kept (1 to [`MAX_LOG`]); the oldest go first.
    pub log_capacity: u32,
}

/// Why an export was refused, as logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// Not a known recipient.
    UnknownRecipient,
    /// The recipient's budget does not cover the charge.
    BudgetExhausted,
    /// The query's privacy parameters were refused.
    InvalidQuery,
    /// The window is larger than [`GateConfig::max_window`].
    WindowTooLarge,
}

/// What became of an export request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// The noised aggregate that left.
    Released(f64),
    /// Nothing left.
    Refused(Refusal),
}

/// One export log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// When.
    pub at: Millis,
    /// To whom.
    pub recipient: Recipient,
    /// Which query.
    pub query: QueryName,
    /// What it computed.
    pub kind: AggregateKind,
    /// What was charged (zero when refused).
    pub charged: Allowance,
    /// The result.
    pub outcome: Outcome,
}

/// A released aggregate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Release {
    /// The noised value: the only thing that may leave the tile.
    pub value: f64,
    /// What the query cost.
    pub charged: Allowance,
    /// The recipient's budget left after it.
    pub remaining: Allowance,
}

/// Why the gate refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportError {
    /// A configuration field is out of range (named).
    Config(&'static str),
    /// The query's (or budget's) ε was refused.
    Epsilon(ParamError),
    /// The query's (or budget's) δ was refused.
    Delta(ParamError),
    /// A Gaussian query's ε is not below 1 (the classical calibration's range).
    GaussianEpsilon,
    /// A Laplace query's ε is outside the snapping mechanism's range for this gate: each
    /// invocation needs `1/max_window < ε_i < 2⁴⁶/max_window` (`ε_i` is ε, or ε/2 for a
    /// mean).
    SnappingRange {
        /// The smallest ε (exclusive) accepted for this aggregate.
        min_epsilon: f64,
    },
    /// The window holds more samples than [`GateConfig::max_window`].
    WindowTooLarge {
        /// Samples held.
        len: usize,
        /// The gate's maximum.
        max: u32,
    },
    /// Not a known recipient.
    UnknownRecipient(Recipient),
    /// [`ExportGate::add_recipient`] for a recipient that already has a budget.
    RecipientExists(Recipient),
    /// The charge exceeds what the recipient has left.
    BudgetExhausted {
        /// Who.
        recipient: Recipient,
        /// What is left.
        remaining: Allowance,
        /// What the query would cost.
        requested: Allowance,
    },
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Config(field) => write!(f, "gate configuration: {field} out of range"),
            ExportError::Epsilon(e) => write!(f, "ε refused: {e:?}"),
            ExportError::Delta(e) => write!(f, "δ refused: {e:?}"),
            ExportError::GaussianEpsilon => f.write_str("Gaussian mechanism needs ε < 1"),
            ExportError::SnappingRange { min_epsilon } => write!(f, "Laplace ε must exceed {min_epsilon} for this gate's window bound"),
            ExportError::WindowTooLarge { len, max } => write!(f, "window of {len} samples exceeds the gate's {max}"),
            ExportError::UnknownRecipient(r) => write!(f, "unknown recipient {r}"),
            ExportError::RecipientExists(r) => write!(f, "recipient {r} already has a budget"),
            ExportError::BudgetExhausted { recipient, remaining, requested } => {
                write!(f, "privacy budget of {recipient} exhausted: remaining {remaining}, query needs {requested}")
            }
        }
    }
}

/// Why a persisted ledger was refused. A refused ledger is never replaced by an empty one
/// by this crate: the domain must stop exporting and report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerError {
    /// Shorter than its header and checksum, or than the payload length it declares.
    Truncated,
    /// Does not start with [`LEDGER_MAGIC`].
    BadMagic,
    /// A format version this build does not read.
    UnsupportedVersion(u16),
    /// Longer than the payload length it declares.
    TrailingBytes,
    /// The CRC-32C does not match.
    Checksum {
        /// Stored in the frame.
        stored: u32,
        /// Computed over the frame.
        computed: u32,
    },
    /// The payload does not decode (postcard), or a name in it is invalid.
    Malformed,
    /// The payload decodes but breaks an invariant (named).
    Invalid(&'static str),
}

/// The ledger frame's first bytes.
pub const LEDGER_MAGIC: [u8; 4] = *b"TWDP";
/// The ledger format version this build writes and reads.
pub const LEDGER_VERSION: u16 = 1;
const HEADER: usize = 4 + 2 + 4;
const CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

#[derive(Serialize, Deserialize)]
struct Persisted {
    config: GateConfig,
    accounts: BTreeMap<Recipient, Account>,
    log: VecDeque<ExportRecord>,
    log_dropped: u64,
}

/// The export gate (module docs of [`crate::privacy`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportGate {
    config: GateConfig,
    accounts: BTreeMap<Recipient, Account>,
    log: VecDeque<ExportRecord>,
    log_dropped: u64,
}

fn validate_config(c: &GateConfig) -> Result<(), &'static str> {
    if c.max_window == 0 || c.max_window > MAX_WINDOW {
        return Err("max_window");
    }
    if c.log_capacity == 0 || c.log_capacity > MAX_LOG {
        return Err("log_capacity");
    }
    Ok(())
}

impl ExportGate {
    /// A gate with no recipients.
    pub fn new(config: GateConfig) -> Result<Self, ExportError> {
        validate_config(&config).map_err(ExportError::Config)?;
        Ok(ExportGate { config, accounts: BTreeMap::new(), log: VecDeque::new(), log_dropped: 0 })
    }

    /// Gives a recipient its budget: ε in `(0, MAX_EPSILON]`, δ in `[0, 1)`, both rounded
    /// down to fixed point. A budget is set once; it cannot be raised or reset through this
    /// API.
    pub fn add_recipient(&mut self, recipient: Recipient, epsilon_total: f64, delta_total: f64) -> Result<(), ExportError> {
        let epsilon = Epsilon::budget(epsilon_total).map_err(ExportError::Epsilon)?;
        let delta = Delta::budget(delta_total).map_err(ExportError::Delta)?;
        if self.accounts.contains_key(&recipient) {
            return Err(ExportError::RecipientExists(recipient));
        }
        self.accounts.insert(recipient, Account { budget: Allowance { epsilon, delta }, spent: Allowance::default() });
        Ok(())
    }

    /// A recipient's account.
    pub fn account(&self, recipient: &Recipient) -> Option<&Account> {
        self.accounts.get(recipient)
    }

    /// The gate's configuration.
    pub fn config(&self) -> GateConfig {
        self.config
    }

    /// The export log, oldest first.
    pub fn log(&self) -> impl Iterator<Item = &ExportRecord> {
        self.log.iter()
    }

    /// Log entries dropped to stay within [`GateConfig::log_capacity`].
    pub fn log_dropped(&self) -> u64 {
        self.log_dropped
    }

    /// Validates a query's parameters and computes its charge.
    fn charge(&self, query: &Query) -> Result<Allowance, ExportError> {
        let b = self.config.max_window as f64;
        let halves = matches!(query.aggregate, Aggregate::Mean(_));
        let charged = match query.mechanism {
            Mechanism::Laplace { epsilon } => {
                let base = Epsilon::spend(epsilon).map_err(ExportError::Epsilon)?;
                let per = if halves { epsilon / 2.0 } else { epsilon };
                let min_epsilon = if halves { 2.0 / b } else { 1.0 / b };
                // λ = 1/ε_i must satisfy λ < B < 2⁴⁶·λ (ε_i is finite and positive here).
                if 1.0 / per >= b {
                    return Err(ExportError::SnappingRange { min_epsilon });
                }
                if b >= libm::ldexp(1.0, 46) / per {
                    return Err(ExportError::Epsilon(ParamError::TooLarge));
                }
                // Mironov's extra 2⁻⁴⁹·B/λ per invocation, summed: ε·2⁻⁴⁹·B; plus ε·2⁻⁵⁰ for
                // λ = 1/εᵢ being computed in f64 (a few ulps, so the λ used may stand for an
                // εᵢ larger by a relative 2⁻⁵¹); inflated by 2⁻⁵⁰ relative to cover this
                // product's own rounding, then rounded up to whole µε.
                let extra = epsilon * (b * libm::ldexp(1.0, -49) + libm::ldexp(1.0, -50)) * (1.0 + libm::ldexp(1.0, -50));
                let extra = Epsilon::spend(extra).map_err(ExportError::Epsilon)?;
                let epsilon = base.checked_add(extra).ok_or(ExportError::Epsilon(ParamError::TooLarge))?;
                Allowance { epsilon, delta: Delta::ZERO }
            }
            Mechanism::Gaussian { epsilon, delta } => {
                let e = Epsilon::spend(epsilon).map_err(ExportError::Epsilon)?;
                let d = Delta::spend(delta).map_err(ExportError::Delta)?;
                if epsilon >= 1.0 {
                    return Err(ExportError::GaussianEpsilon);
                }
                Allowance { epsilon: e, delta: d }
            }
        };
        Ok(charged)
    }

    /// The factor by which a floating-point sum's sensitivity may exceed the exact one.
    /// Recursive summation of `n` terms errs by at most `γ_{n−1}·Σ|xᵢ|`, `γ_k = k·u/(1 − k·u)`,
    /// `u = 2⁻⁵³` (Higham, *Accuracy and Stability of Numerical Algorithms*, 2002, §4.2), so two
    /// neighbouring windows' computed sums, of `n` and `n + 1` terms each at most `Δ`, differ by
    /// at most `Δ·(1 + (2n + 1)·γ_{n+1})` (one more γ term for a centring subtraction). The
    /// Laplace path then divides by the sensitivity, which errs by up to `u·n` per sum; the
    /// factor used, `1 + (2n + 3)·γ_{n+2}`, exceeds the first by more than `(4n + 5)·u`, which
    /// covers both quotients. With `n = max_window`: `1 + 2.2·10⁻¹⁰` for 1000 samples,
    /// `1 + 2⁻⁴` at [`MAX_WINDOW`].
    /// Casacuberta, Shoemate, Vadhan, Wagaman (CCS 2022) show what ignoring this costs.
    fn sum_slack(&self) -> f64 {
        let n = self.config.max_window as f64;
        let u = libm::ldexp(1.0, -53);
        let gamma = (n + 2.0) * u / (1.0 - (n + 2.0) * u);
        // The factor's own rounding is covered by the last term.
        (1.0 + (2.0 * n + 3.0) * gamma) * (1.0 + libm::ldexp(1.0, -50))
    }

    /// Noises a sensitivity-`sens` value with `share` of the query's parameters.
    fn noised<R: RandomSource + ?Sized>(&self, rng: &mut R, mechanism: Mechanism, share: f64, value: f64, sens: f64) -> f64 {
        match mechanism {
            Mechanism::Laplace { epsilon } => {
                let lambda = 1.0 / (epsilon * share);
                sens * snapped_laplace(rng, value / sens, lambda, self.config.max_window as f64)
            }
            Mechanism::Gaussian { epsilon, delta } => {
                let (e, d) = (epsilon * share, delta * share);
                // σ is inflated by 2⁻⁴⁰ relative, more than the few ulps its f64 evaluation
                // (division, ln within an ulp, sqrt) can err by, so it is never below the
                // exact calibration for the charged (ε, δ).
                let sigma = sens * libm::sqrt(2.0 * libm::log(1.25 / d)) / e * (1.0 + libm::ldexp(1.0, -40));
                gaussian(rng, value, sigma)
            }
        }
    }

    fn record(&mut self, at: Millis, recipient: &Recipient, query: &Query, charged: Allowance, outcome: Outcome) {
        if self.log.len() >= self.config.log_capacity as usize {
            self.log.pop_front();
            self.log_dropped += 1;
        }
        let kind = match query.aggregate {
            Aggregate::Count => AggregateKind::Count,
            Aggregate::Sum(_) => AggregateKind::Sum,
            Aggregate::Mean(_) => AggregateKind::Mean,
        };
        self.log.push_back(ExportRecord { at, recipient: recipient.clone(), query: query.name.clone(), kind, charged, outcome });
    }

    /// Answers `query` over `window` for `recipient` at time `at`: checks the query and the
    /// window, charges the recipient's budget, and returns only the noised aggregate. Every
    /// call is logged, refusals included (with a zero charge). The caller must persist
    /// [`ExportGate::to_bytes`] before the value leaves the tile, so a crash cannot refund
    /// a spend.
    pub fn export<R: RandomSource + ?Sized>(
        &mut self,
        recipient: &Recipient,
        query: &Query,
        window: &SampleWindow,
        rng: &mut R,
        at: Millis,
    ) -> Result<Release, ExportError> {
        let refuse = |gate: &mut Self, refusal, err| {
            gate.record(at, recipient, query, Allowance::default(), Outcome::Refused(refusal));
            Err(err)
        };
        let charged = match self.charge(query) {
            Ok(c) => c,
            Err(e) => return refuse(self, Refusal::InvalidQuery, e),
        };
        if window.len() > self.config.max_window as usize {
            return refuse(self, Refusal::WindowTooLarge, ExportError::WindowTooLarge { len: window.len(), max: self.config.max_window });
        }
        let Some(account) = self.accounts.get(recipient).copied() else {
            return refuse(self, Refusal::UnknownRecipient, ExportError::UnknownRecipient(recipient.clone()));
        };
        let spent = account
            .spent
            .epsilon
            .checked_add(charged.epsilon)
            .zip(account.spent.delta.checked_add(charged.delta))
            .map(|(epsilon, delta)| Allowance { epsilon, delta })
            .filter(|s| s.epsilon <= account.budget.epsilon && s.delta <= account.budget.delta);
        let Some(spent) = spent else {
            let err = ExportError::BudgetExhausted { recipient: recipient.clone(), remaining: account.remaining(), requested: charged };
            return refuse(self, Refusal::BudgetExhausted, err);
        };

        let n = window.samples.len() as f64;
        let m = query.mechanism;
        let value = match query.aggregate {
            Aggregate::Count => self.noised(rng, m, 1.0, n, 1.0).clamp(0.0, self.config.max_window as f64),
            Aggregate::Sum(bounds) => {
                let sum: f64 = window.samples.iter().map(|x| x.clamp(bounds.lo, bounds.hi)).sum();
                let sens = bounds.lo.abs().max(bounds.hi.abs()) * self.sum_slack();
                self.noised(rng, m, 1.0, sum, sens)
            }
            Aggregate::Mean(bounds) => {
                let mid = bounds.lo + (bounds.hi - bounds.lo) / 2.0;
                let centred: f64 = window.samples.iter().map(|x| x.clamp(bounds.lo, bounds.hi) - mid).sum();
                // The largest |x − mid|, each subtraction rounded to nearest: covered by 2⁻⁵¹.
                let half = (bounds.hi - mid).max(mid - bounds.lo) * (1.0 + libm::ldexp(1.0, -51));
                let noisy_sum = self.noised(rng, m, 0.5, centred, half * self.sum_slack());
                let noisy_count = self.noised(rng, m, 0.5, n, 1.0);
                (mid + noisy_sum / noisy_count.max(1.0)).clamp(bounds.lo, bounds.hi)
            }
        };
        let account = Account { spent, ..account };
        self.accounts.insert(recipient.clone(), account);
        let remaining = account.remaining();
        self.record(at, recipient, query, charged, Outcome::Released(value));
        Ok(Release { value, charged, remaining })
    }

    /// The ledger (configuration, accounts, log) as a frame: `LEDGER_MAGIC`, version (u16
    /// LE), payload length (u32 LE), postcard payload, CRC-32C (u32 LE) of all before it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let persisted =
            Persisted { config: self.config, accounts: self.accounts.clone(), log: self.log.clone(), log_dropped: self.log_dropped };
        let payload = postcard::to_allocvec(&persisted).expect("postcard encodes these types into a Vec");
        let mut out = Vec::with_capacity(HEADER + payload.len() + 4);
        out.extend_from_slice(&LEDGER_MAGIC);
        out.extend_from_slice(&LEDGER_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(&CRC32C.checksum(&out).to_le_bytes());
        out
    }

    /// Reloads a ledger written by [`ExportGate::to_bytes`], refusing anything truncated,
    /// corrupt, of another version, or inconsistent.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LedgerError> {
        if bytes.len() < 4 {
            return Err(LedgerError::Truncated);
        }
        if bytes[..4] != LEDGER_MAGIC {
            return Err(LedgerError::BadMagic);
        }
        if bytes.len() < HEADER + 4 {
            return Err(LedgerError::Truncated);
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != LEDGER_VERSION {
            return Err(LedgerError::UnsupportedVersion(version));
        }
        let len = u32::from_le_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]) as usize;
        let total = HEADER.checked_add(len).and_then(|t| t.checked_add(4)).ok_or(LedgerError::Truncated)?;
        if bytes.len() < total {
            return Err(LedgerError::Truncated);
        }
        if bytes.len() > total {
            return Err(LedgerError::TrailingBytes);
        }
        let body = &bytes[..HEADER + len];
        let stored = u32::from_le_bytes([bytes[total - 4], bytes[total - 3], bytes[total - 2], bytes[total - 1]]);
        let computed = CRC32C.checksum(body);
        if stored != computed {
            return Err(LedgerError::Checksum { stored, computed });
        }
        let p: Persisted = match postcard::from_bytes(&body[HEADER..]) {
            Ok(p) => p,
            Err(_) => return Err(LedgerError::Malformed),
        };
        validate_config(&p.config).map_err(LedgerError::Invalid)?;
        for a in p.accounts.values() {
            if a.budget.epsilon.micros() == 0 || a.budget.epsilon.micros() > (MAX_EPSILON as u64) * EPSILON_SCALE {
                return Err(LedgerError::Invalid("budget epsilon"));
            }
            if a.budget.delta.femtos() >= DELTA_SCALE {
                return Err(LedgerError::Invalid("budget delta"));
            }
            if a.spent.epsilon > a.budget.epsilon || a.spent.delta > a.budget.delta {
                return Err(LedgerError::Invalid("spent exceeds budget"));
            }
        }
        if p.log.len() > p.config.log_capacity as usize {
            return Err(LedgerError::Invalid("log longer than its capacity"));
        }
        if p.log.iter().any(|r| matches!(r.outcome, Outcome::Released(v) if !v.is_finite())) {
            return Err(LedgerError::Invalid("non-finite released value"));
        }
        Ok(ExportGate { config: p.config, accounts: p.accounts, log: p.log, log_dropped: p.log_dropped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_sum_slack_matches_its_documented_sizes() {
        let slack = |max_window| ExportGate::new(GateConfig { max_window, log_capacity: 1 }).unwrap().sum_slack();
        assert!((slack(1000) - 1.0 - 2.228e-10).abs() < 1e-12, "{}", slack(1000) - 1.0);
        assert!((slack(MAX_WINDOW) - 1.0 - 0.0625).abs() < 1e-6, "{}", slack(MAX_WINDOW) - 1.0);
        assert!(slack(1) > 1.0);
    }

    #[test]
    fn a_sliding_window_keeps_the_newest_samples() {
        let mut w = SampleWindow::new(3).unwrap();
        for x in 1..=5 {
            w.push_sliding(f64::from(x)).unwrap();
        }
        assert_eq!(w.samples, [3.0, 4.0, 5.0]);
        assert_eq!(w.push_sliding(f64::NAN), Err(WindowError::NonFinite));
        assert_eq!(w.push(6.0), Err(WindowError::Full));
    }
}
