//! The routing function: a deterministic map from (policy, request) to a [`Route`].
//!
//! 1. The query is checked (non-empty, at most [`MAX_QUERY_LEN`] bytes).
//! 2. Topic: the one the requester names, else the topic with the most keyword hits among the
//!    query's tokens (runs of letters and digits, lower-cased, and single symbols such as
//!    `+`), earlier topics winning ties, else the policy's default topic.
//! 3. Candidates: the topic's specialists whose provenance the tier allows and the chosen
//!    variant does not exclude, and (unless the requester names them) whose competence
//!    reaches the topic's minimum.
//! 4. Selection: the requester's explicit specialists, each checked; otherwise a greedy
//!    diversity-first pick — each step takes the candidate adding the most *new* lineages and
//!    provenances to the panel, then the most competent, then the lowest
//!    `SHA-256(policy digest ‖ query ‖ name)` (deterministic load spreading among equals).
//!    A provenance mix first takes one specialist of each requested provenance. Class-C
//!    panels must span at least two lineages.
//!
//! No clock, randomness or hidden state enters: the same policy and request give the same
//! route byte for byte ([`Route::encode`]).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use sha2::{Digest, Sha256};
use tileos_verify::Tier;
use tileos_verify::gate::Verdict;
use tileos_verify::ledger::{LedgerEntry, MAX_QUERY_LEN, MAX_REQUEST_LEN, SpecialistRef};
use tileos_verify::wire::{Reader, WireError, Writer};

use crate::policy::{Class, MAX_PANEL, Policy, Specialist};

/// The requester's choice (seed: "requester's choice").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The policy's default routing.
    Default,
    /// Exactly these specialists, in this order.
    Specialists(Vec<String>),
    /// At least one specialist of each of these provenances, the rest by default.
    ProvenanceMix(Vec<String>),
    /// A named variant of the policy.
    Variant(String),
}

/// A routing request: the query, optionally its topic, and the requester's choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The query text.
    pub query: String,
    /// The topic, if the requester names it.
    pub topic: Option<String>,
    /// The requester's choice.
    pub choice: Choice,
}

/// A route: the policy it came from, the topic, tier and class, and the specialists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The policy's digest.
    pub policy: [u8; 32],
    /// The policy's version.
    pub version: u64,
    /// Index of the routed topic in the policy.
    pub topic: usize,
    /// Other topics whose keywords the query also hit, by decreasing hits.
    pub also: Vec<usize>,
    /// The topic's tier.
    pub tier: Tier,
    /// The topic's class.
    pub class: Class,
    /// Indices of the chosen specialists in the policy, in panel order.
    pub specialists: Vec<usize>,
}

/// Why a query could not be routed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// The query is empty or only spaces.
    EmptyQuery,
    /// The query is longer than [`MAX_QUERY_LEN`] bytes (its length).
    QueryTooLong(usize),
    /// The requester named a topic the policy does not define.
    UnknownTopic(String),
    /// No keyword matched and the policy has no default topic.
    NoTopic,
    /// The requester named a variant the policy does not define.
    UnknownVariant(String),
    /// The requester named a specialist the policy does not define.
    UnknownSpecialist(String),
    /// The requester named a specialist twice.
    DuplicateSpecialist(String),
    /// The requester named more than [`MAX_PANEL`] specialists or provenances.
    TooManyChoices,
    /// The requester named a specialist that does not serve the topic.
    NotForTopic {
        /// The specialist.
        specialist: String,
        /// The topic.
        topic: String,
    },
    /// The specialist's provenance may not answer this tier (or the variant excludes it).
    ProvenanceDisallowed {
        /// The specialist.
        specialist: String,
        /// Its provenance.
        provenance: String,
        /// The topic's tier.
        tier: Tier,
    },
    /// A requested provenance may not answer this tier.
    MixDisallowed {
        /// The provenance.
        provenance: String,
        /// The topic's tier.
        tier: Tier,
    },
    /// No eligible specialist of a requested provenance serves the topic.
    MixUnavailable(String),
    /// No eligible specialist serves the topic.
    NoSpecialist(String),
    /// A class-C panel would span fewer than two lineages.
    NotDiverse {
        /// The topic.
        topic: String,
        /// Distinct lineages available among eligible candidates.
        lineages: usize,
    },
    /// A logged request does not decode.
    Malformed(WireError),
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyQuery => f.write_str("query is empty"),
            Self::QueryTooLong(n) => write!(f, "query is {n} bytes, more than {MAX_QUERY_LEN}"),
            Self::UnknownTopic(t) => write!(f, "unknown topic '{t}'"),
            Self::NoTopic => f.write_str("no topic matches the query and the policy has no default"),
            Self::UnknownVariant(v) => write!(f, "unknown policy variant '{v}'"),
            Self::UnknownSpecialist(s) => write!(f, "unknown specialist '{s}'"),
            Self::DuplicateSpecialist(s) => write!(f, "specialist '{s}' named twice"),
            Self::TooManyChoices => write!(f, "more than {MAX_PANEL} specialists or provenances requested"),
            Self::NotForTopic { specialist, topic } => write!(f, "specialist '{specialist}' does not serve topic '{topic}'"),
            Self::ProvenanceDisallowed { specialist, provenance, tier } => {
                write!(f, "specialist '{specialist}' has provenance '{provenance}', not allowed for {tier}")
            }
            Self::MixDisallowed { provenance, tier } => write!(f, "provenance '{provenance}' is not allowed for {tier}"),
            Self::MixUnavailable(p) => write!(f, "no eligible specialist of provenance '{p}' serves the topic"),
            Self::NoSpecialist(t) => write!(f, "no eligible specialist serves topic '{t}'"),
            Self::NotDiverse { topic, lineages } => {
                write!(f, "topic '{topic}': eligible specialists span {lineages} lineage(s), a panel needs 2")
            }
            Self::Malformed(e) => write!(f, "logged request: {e}"),
        }
    }
}

/// Splits a query into lower-cased tokens: runs of ASCII letters and digits, and single
/// other non-space characters.
fn tokens(query: &str) -> impl Iterator<Item = &str> {
    let b = query.as_bytes();
    let mut i = 0;
    core::iter::from_fn(move || {
        while i < b.len() && (b[i].is_ascii_whitespace() || !b[i].is_ascii()) {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let start = i;
        if b[i].is_ascii_alphanumeric() {
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
        } else {
            i += 1;
        }
        Some(&query[start..i])
    })
}

/// The topic indices with keyword hits, by decreasing hits (earlier topics first on ties).
fn classify(policy: &Policy, query: &str) -> Vec<usize> {
    let mut hits: Vec<(usize, usize)> = policy
        .topics
        .iter()
        .enumerate()
        .map(|(i, t)| (tokens(query).filter(|tok| t.keywords.iter().any(|k| k.eq_ignore_ascii_case(tok))).count(), i))
        .filter(|(n, _)| *n > 0)
        .collect();
    hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    hits.into_iter().map(|(_, i)| i).collect()
}

fn spread_key(policy: &Policy, query: &str, s: &Specialist) -> [u8; 32] {
    Sha256::new()
        .chain_update(policy.digest)
        .chain_update(query.as_bytes())
        .chain_update([0])
        .chain_update(s.name.as_bytes())
        .finalize()
        .into()
}

/// Greedy diversity-first pick of up to `k` more specialists from `candidates` into `panel`.
fn pick(policy: &Policy, query: &str, candidates: &[usize], panel: &mut Vec<usize>, k: usize) {
    while panel.len() < k {
        let best = candidates.iter().copied().filter(|c| !panel.contains(c)).max_by(|&a, &b| {
            let key = |i: usize| {
                let s = &policy.specialists[i];
                let new_lineage = !panel.iter().any(|&p| policy.specialists[p].lineage == s.lineage);
                let new_provenance = !panel.iter().any(|&p| policy.specialists[p].provenance == s.provenance);
                (u8::from(new_lineage) + u8::from(new_provenance), s.competence)
            };
            // max_by: larger key wins; on equal keys the *smaller* spread hash wins.
            key(a)
                .cmp(&key(b))
                .then_with(|| spread_key(policy, query, &policy.specialists[b]).cmp(&spread_key(policy, query, &policy.specialists[a])))
        });
        match best {
            Some(b) => panel.push(b),
            None => break,
        }
    }
}

/// Routes a request under a policy (see the module documentation).
pub fn route(policy: &Policy, request: &Request) -> Result<Route, RouteError> {
    let query = request.query.as_str();
    if query.trim().is_empty() {
        return Err(RouteError::EmptyQuery);
    }
    if query.len() > MAX_QUERY_LEN {
        return Err(RouteError::QueryTooLong(query.len()));
    }
    let matched = classify(policy, query);
    let topic = match &request.topic {
        Some(name) => policy.topics.iter().position(|t| t.name == *name).ok_or_else(|| RouteError::UnknownTopic(name.clone()))?,
        None => matched.first().copied().or(policy.default_topic).ok_or(RouteError::NoTopic)?,
    };
    let also = matched.into_iter().filter(|&t| t != topic).collect();
    let t = &policy.topics[topic];
    let variant = match &request.choice {
        Choice::Variant(name) => {
            Some(policy.variants.iter().find(|v| v.name == *name).ok_or_else(|| RouteError::UnknownVariant(name.clone()))?)
        }
        _ => None,
    };
    let allowed = |s: &Specialist| policy.allows(t.tier, &s.provenance) && !variant.is_some_and(|v| v.exclude.contains(&s.provenance));
    let k = match t.class {
        Class::A => 1,
        Class::C => usize::from(variant.and_then(|v| v.panel).unwrap_or(t.panel)),
    };
    let candidates: Vec<usize> = (0..policy.specialists.len())
        .filter(|&i| {
            let s = &policy.specialists[i];
            s.topics.contains(&topic) && allowed(s) && s.competence >= t.min_competence
        })
        .collect();
    let mut panel = Vec::new();
    match &request.choice {
        Choice::Specialists(names) => {
            if names.len() > MAX_PANEL {
                return Err(RouteError::TooManyChoices);
            }
            for name in names {
                let i =
                    policy.specialists.iter().position(|s| s.name == *name).ok_or_else(|| RouteError::UnknownSpecialist(name.clone()))?;
                let s = &policy.specialists[i];
                if panel.contains(&i) {
                    return Err(RouteError::DuplicateSpecialist(name.clone()));
                }
                if !s.topics.contains(&topic) {
                    return Err(RouteError::NotForTopic { specialist: name.clone(), topic: t.name.clone() });
                }
                if !allowed(s) {
                    return Err(RouteError::ProvenanceDisallowed {
                        specialist: name.clone(),
                        provenance: s.provenance.clone(),
                        tier: t.tier,
                    });
                }
                panel.push(i);
            }
        }
        Choice::ProvenanceMix(provenances) => {
            if provenances.len() > MAX_PANEL {
                return Err(RouteError::TooManyChoices);
            }
            for p in provenances {
                if !policy.allows(t.tier, p) || variant.is_some_and(|v| v.exclude.contains(p)) {
                    return Err(RouteError::MixDisallowed { provenance: p.clone(), tier: t.tier });
                }
                let of_p: Vec<usize> = candidates.iter().copied().filter(|&c| policy.specialists[c].provenance == *p).collect();
                let before = panel.len();
                pick(policy, query, &of_p, &mut panel, before + 1);
                if panel.len() == before {
                    return Err(RouteError::MixUnavailable(p.clone()));
                }
            }
            let k = k.max(panel.len());
            pick(policy, query, &candidates, &mut panel, k);
        }
        Choice::Default | Choice::Variant(_) => pick(policy, query, &candidates, &mut panel, k),
    }
    if panel.is_empty() {
        return Err(RouteError::NoSpecialist(t.name.clone()));
    }
    if t.class == Class::C {
        let mut lineages: Vec<&str> = panel.iter().map(|&i| policy.specialists[i].lineage.as_str()).collect();
        lineages.sort_unstable();
        lineages.dedup();
        if lineages.len() < 2 {
            let mut all: Vec<&str> = candidates.iter().map(|&i| policy.specialists[i].lineage.as_str()).collect();
            all.sort_unstable();
            all.dedup();
            return Err(RouteError::NotDiverse { topic: t.name.clone(), lineages: all.len().max(lineages.len()) });
        }
    }
    Ok(Route { policy: policy.digest, version: policy.version, topic, also, tier: t.tier, class: t.class, specialists: panel })
}

const CHOICE_DEFAULT: u8 = 0;
const CHOICE_SPECIALISTS: u8 = 1;
const CHOICE_MIX: u8 = 2;
const CHOICE_VARIANT: u8 = 3;
const REQUEST_FORMAT: u8 = 1;

impl Request {
    /// The canonical encoding of the topic and choice (the query is logged on its own),
    /// as stored in a ledger entry's `request` field. More than [`MAX_PANEL`] names is
    /// `TooManyChoices`, as in [`route`].
    pub fn encode_choice(&self) -> Result<Vec<u8>, RouteError> {
        let mut out = Vec::new();
        let mut w = Writer(&mut out);
        w.u8(REQUEST_FORMAT);
        match &self.topic {
            None => w.u8(0),
            Some(t) => {
                w.u8(1);
                w.bytes(t.as_bytes());
            }
        }
        let (code, names): (u8, &[String]) = match &self.choice {
            Choice::Default => (CHOICE_DEFAULT, &[]),
            Choice::Specialists(n) => (CHOICE_SPECIALISTS, n),
            Choice::ProvenanceMix(n) => (CHOICE_MIX, n),
            Choice::Variant(v) => (CHOICE_VARIANT, core::slice::from_ref(v)),
        };
        if names.len() > MAX_PANEL {
            return Err(RouteError::TooManyChoices);
        }
        w.u8(code);
        w.u8(names.len() as u8);
        for n in names {
            w.bytes(n.as_bytes());
        }
        Ok(out)
    }

    /// Rebuilds a request from a logged query and its encoded choice.
    pub fn decode(query: &str, choice: &[u8]) -> Result<Request, RouteError> {
        let m = RouteError::Malformed;
        if choice.len() > MAX_REQUEST_LEN {
            return Err(m(WireError::TooLong("request")));
        }
        let mut r = Reader { s: choice };
        if r.u8("format").map_err(m)? != REQUEST_FORMAT {
            return Err(m(WireError::BadValue("format")));
        }
        let topic = match r.u8("topic").map_err(m)? {
            0 => None,
            1 => Some(r.string(MAX_REQUEST_LEN, "topic").map_err(m)?),
            _ => return Err(m(WireError::BadValue("topic"))),
        };
        let code = r.u8("choice").map_err(m)?;
        let count = usize::from(r.u8("count").map_err(m)?);
        if count > MAX_PANEL {
            return Err(m(WireError::TooLong("count")));
        }
        let mut names = Vec::new();
        for _ in 0..count {
            names.push(r.string(MAX_REQUEST_LEN, "name").map_err(m)?);
        }
        r.finish().map_err(m)?;
        let choice = match (code, count) {
            (CHOICE_DEFAULT, 0) => Choice::Default,
            (CHOICE_SPECIALISTS, _) => Choice::Specialists(names),
            (CHOICE_MIX, _) => Choice::ProvenanceMix(names),
            (CHOICE_VARIANT, 1) => Choice::Variant(names.remove(0)),
            _ => return Err(m(WireError::BadValue("choice"))),
        };
        Ok(Request { query: query.to_string(), topic, choice })
    }
}

impl Route {
    /// The canonical encoding of the route: policy digest, version, topic, other topics,
    /// tier, class and specialist indices. Equal routes have equal bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer(&mut out);
        w.raw(&self.policy);
        w.u64(self.version);
        w.u32(self.topic as u32);
        w.u8(self.also.len() as u8);
        for &t in &self.also {
            w.u32(t as u32);
        }
        w.u8(self.tier.code());
        w.u8(match self.class {
            Class::A => b'A',
            Class::C => b'C',
        });
        w.u8(self.specialists.len() as u8);
        for &s in &self.specialists {
            w.u32(s as u32);
        }
        out
    }

    /// The routed specialists as the ledger records them.
    pub fn specialist_refs(&self, policy: &Policy) -> Vec<SpecialistRef> {
        self.specialists
            .iter()
            .map(|&i| {
                let s = &policy.specialists[i];
                SpecialistRef {
                    name: s.name.clone(),
                    base: s.base.clone(),
                    adapter: s.adapter.clone(),
                    lineage: s.lineage.clone(),
                    provenance: s.provenance.clone(),
                }
            })
            .collect()
    }

    /// The ledger entry of an answer given on this route: the query, topic, tier, policy
    /// digest, the requester's encoded choice and the routed specialists, with the answer,
    /// the knowledge root (and size) it was given against, and its verdict.
    pub fn ledger_entry(
        &self,
        policy: &Policy,
        request: &Request,
        answer: &str,
        memory: ([u8; 32], u64),
        verdict: Verdict,
    ) -> Result<LedgerEntry, RouteError> {
        Ok(LedgerEntry {
            query: request.query.clone(),
            topic: policy.topics[self.topic].name.clone(),
            tier: self.tier,
            policy: policy.digest,
            request: request.encode_choice()?,
            specialists: self.specialist_refs(policy),
            answer: answer.to_string(),
            memory_root: memory.0,
            memory_size: memory.1,
            verdict,
        })
    }

    /// A human-readable rendering, one fact per line (the replay tool prints it).
    pub fn render(&self, policy: &Policy) -> String {
        use core::fmt::Write;
        let mut s = String::new();
        let t = &policy.topics[self.topic];
        let _ = writeln!(s, "policy {} version {} sha256 {}", policy.name, policy.version, Hex(&self.policy));
        let _ = writeln!(s, "topic {} tier {} class {:?}", t.name, self.tier, self.class);
        for &a in &self.also {
            let _ = writeln!(s, "also-matched {}", policy.topics[a].name);
        }
        for r in self.specialist_refs(policy) {
            let _ = writeln!(
                s,
                "specialist {} base {} adapter {} lineage {} provenance {}",
                r.name, r.base, r.adapter, r.lineage, r.provenance
            );
        }
        s
    }
}

/// Lower-case hex of a byte string.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}
