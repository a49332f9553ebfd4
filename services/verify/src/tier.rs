//! Trust tiers (seed `002_…`, "Substrate & trust tiers").

use core::fmt;

/// A topic's trust tier: what provenance may answer and how answers are verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Checkable topics: any provenance behind an objective (class-A) checker.
    T1,
    /// Subjective, low-risk topics: verified by consensus (class C).
    T2,
    /// Strategic topics: restricted provenance, and a human decides; never "verified".
    T3,
}

impl Tier {
    /// All tiers, in order.
    pub const ALL: [Tier; 3] = [Tier::T1, Tier::T2, Tier::T3];

    /// The tier's wire code (1, 2, 3).
    pub fn code(self) -> u8 {
        match self {
            Tier::T1 => 1,
            Tier::T2 => 2,
            Tier::T3 => 3,
        }
    }

    /// The tier with this wire code.
    pub fn from_code(code: u8) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The tier named `T1`, `T2` or `T3`.
    pub fn parse(name: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.name() == name)
    }

    /// `T1`, `T2` or `T3`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::T1 => "T1",
            Tier::T2 => "T2",
            Tier::T3 => "T3",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
