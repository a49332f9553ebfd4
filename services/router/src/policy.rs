//! The routing policy: its text format, parser and signature check.
//!
//! A policy is UTF-8 text, one directive per line; `#` starts a comment line. Tokens are
//! separated by spaces; after the directive and its name come `key=value` pairs (lists are
//! comma-separated). Every line but `policy` and `default` names a new object.
//!
//! ```text
//! policy tile-default version=3
//! topic arith tier=T1 class=A keywords=plus,minus,times,+,-,*,/
//! topic drafts tier=T2 class=C panel=3 min-competence=40 keywords=draft,write,email
//! allow T3 provenance=eu,us,open
//! specialist calc-q base=tiny-v1 adapter=arith-v2 lineage=qwen provenance=cn competence=90 topics=arith
//! variant eu-only exclude=cn,ru panel=2
//! default drafts
//! ```
//!
//! - `topic NAME tier=T1|T2|T3 class=A|C [panel=N] [min-competence=N] keywords=K,…`: class A
//!   topics get one specialist (its answer is judged by a checker), class C topics a panel of
//!   `panel` (2..=8) specialists.
//! - `allow TIER provenance=P,…`: the only provenances that may answer topics of that tier;
//!   a tier without an `allow` line admits any provenance.
//! - `specialist NAME base= adapter= lineage= provenance= competence=0..100 topics=T,…`:
//!   `competence` is the reputation snapshot this policy version was cut with.
//! - `variant NAME [exclude=P,…] [panel=N]`: a requester-selectable variant; it can only
//!   exclude provenances and resize panels, never widen what a tier admits.
//! - `default TOPIC`: the topic of queries no keyword matches (without it they are refused).
//!
//! A policy is accepted only with a valid Ed25519 signature (`verify_strict`) over
//! [`POLICY_DOMAIN`] followed by the exact text bytes; its digest is SHA-256 of the text.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use tileos_verify::Tier;
use tileos_verify::ledger::{MAX_NAME_LEN, MAX_SPECIALISTS};

/// Domain separation prefix of the signed bytes of a policy.
pub const POLICY_DOMAIN: &[u8] = b"tileos-routing-policy-v1\0";
/// The longest policy text, in bytes.
pub const MAX_POLICY_LEN: usize = 16 * 1024;
/// The most topics a policy may define.
pub const MAX_TOPICS: usize = 32;
/// The most specialists a policy may define.
pub const MAX_POLICY_SPECIALISTS: usize = 64;
/// The most keywords one topic may have.
pub const MAX_KEYWORDS: usize = 32;
/// The largest panel (the ledger's limit on specialists per entry).
pub const MAX_PANEL: usize = MAX_SPECIALISTS;

/// How a topic's answers are verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// One specialist; an objective checker judges the answer.
    A,
    /// A provenance-diverse panel; independence-weighted consensus judges.
    C,
}

/// One topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    /// Its name.
    pub name: String,
    /// Its trust tier.
    pub tier: Tier,
    /// Its verification class.
    pub class: Class,
    /// Panel size (1 for class A).
    pub panel: u8,
    /// The least competence a specialist needs to be routed this topic by default.
    pub min_competence: u8,
    /// Lower-case keywords that classify a query into this topic.
    pub keywords: Vec<String>,
}

/// One specialist: a base plus an adapter, with its declared lineage and provenance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Specialist {
    /// Its name.
    pub name: String,
    /// Its frozen base model.
    pub base: String,
    /// Its adapter.
    pub adapter: String,
    /// Its base-model lineage.
    pub lineage: String,
    /// Its provenance class.
    pub provenance: String,
    /// Competence snapshot, 0..=100.
    pub competence: u8,
    /// Indices of the topics it serves.
    pub topics: Vec<usize>,
}

/// A requester-selectable policy variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// Its name.
    pub name: String,
    /// Provenances it excludes on top of the tier rules.
    pub exclude: Vec<String>,
    /// Panel size for class-C topics, if it overrides the topic's.
    pub panel: Option<u8>,
}

/// A parsed, signature-checked routing policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The policy's name.
    pub name: String,
    /// Its version.
    pub version: u64,
    /// Topics in declaration order (earlier wins keyword ties).
    pub topics: Vec<Topic>,
    /// Specialists in declaration order.
    pub specialists: Vec<Specialist>,
    /// Per tier (T1, T2, T3): the allowed provenances, or `None` for any.
    pub allow: [Option<Vec<String>>; 3],
    /// Variants.
    pub variants: Vec<Variant>,
    /// The topic of queries no keyword matches.
    pub default_topic: Option<usize>,
    /// SHA-256 of the policy text.
    pub digest: [u8; 32],
}

/// What is wrong with a policy line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyErrorKind {
    /// The first directive is not `policy`, or `policy` appears again.
    Header,
    /// A directive this format does not define.
    UnknownDirective(String),
    /// The directive's name token is missing.
    MissingName,
    /// A name longer than the ledger's limit or with characters outside `[A-Za-z0-9._-]`.
    BadName(String),
    /// A token that is not `key=value`.
    NotKeyValue(String),
    /// A key the directive does not take.
    UnknownKey(String),
    /// A key given twice.
    DuplicateKey(String),
    /// A required key that is absent.
    MissingKey(&'static str),
    /// A value outside its field's set or range.
    BadValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// A second topic, specialist or variant of this name, or a second `allow` for a tier.
    Duplicate(String),
    /// A topic named by a specialist or `default` that the policy does not define (yet).
    UnknownTopic(String),
    /// More topics, specialists or keywords than allowed.
    TooMany(&'static str),
}

/// A policy error and the 1-based line it is on (0 for whole-text errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// The signature does not verify under the trusted policy key.
    BadSignature,
    /// The text is longer than [`MAX_POLICY_LEN`].
    TooLarge,
    /// The text is not UTF-8.
    NotUtf8,
    /// The text has no `policy` line.
    NoHeader,
    /// A line is malformed.
    Line(usize, PolicyErrorKind),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSignature => f.write_str("routing policy signature does not verify under the policy key"),
            Self::TooLarge => write!(f, "routing policy longer than {MAX_POLICY_LEN} bytes"),
            Self::NotUtf8 => f.write_str("routing policy is not UTF-8"),
            Self::NoHeader => f.write_str("routing policy has no 'policy' line"),
            Self::Line(line, kind) => {
                write!(f, "routing policy line {line}: ")?;
                match kind {
                    PolicyErrorKind::Header => f.write_str("the first directive must be the only 'policy' line"),
                    PolicyErrorKind::UnknownDirective(d) => write!(f, "unknown directive '{d}'"),
                    PolicyErrorKind::MissingName => f.write_str("missing name"),
                    PolicyErrorKind::BadName(n) => write!(f, "bad name '{n}' (1..={MAX_NAME_LEN} of A-Z a-z 0-9 . _ -)"),
                    PolicyErrorKind::NotKeyValue(t) => write!(f, "'{t}' is not key=value"),
                    PolicyErrorKind::UnknownKey(k) => write!(f, "unknown key '{k}'"),
                    PolicyErrorKind::DuplicateKey(k) => write!(f, "key '{k}' given twice"),
                    PolicyErrorKind::MissingKey(k) => write!(f, "missing key '{k}'"),
                    PolicyErrorKind::BadValue { key, value } => write!(f, "bad value '{value}' for '{key}'"),
                    PolicyErrorKind::Duplicate(n) => write!(f, "'{n}' defined twice"),
                    PolicyErrorKind::UnknownTopic(t) => write!(f, "unknown topic '{t}'"),
                    PolicyErrorKind::TooMany(what) => write!(f, "too many {what}"),
                }
            }
        }
    }
}

fn signed_bytes(text: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(POLICY_DOMAIN.len() + text.len());
    m.extend_from_slice(POLICY_DOMAIN);
    m.extend_from_slice(text);
    m
}

/// Signs a policy text (for the policy's publisher and for tests).
pub fn sign_policy(text: &[u8], key: &SigningKey) -> [u8; 64] {
    key.sign(&signed_bytes(text)).to_bytes()
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// One line's `key=value` pairs, checked against the keys its directive takes.
struct Pairs<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Pairs<'a> {
    fn parse(tokens: &[&'a str], allowed: &[&str]) -> Result<Self, PolicyErrorKind> {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for t in tokens {
            let (k, v) = t.split_once('=').ok_or_else(|| PolicyErrorKind::NotKeyValue(t.to_string()))?;
            if !allowed.contains(&k) {
                return Err(PolicyErrorKind::UnknownKey(k.to_string()));
            }
            if pairs.iter().any(|(pk, _)| *pk == k) {
                return Err(PolicyErrorKind::DuplicateKey(k.to_string()));
            }
            pairs.push((k, v));
        }
        Ok(Pairs { pairs })
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn required(&self, key: &'static str) -> Result<&'a str, PolicyErrorKind> {
        self.get(key).ok_or(PolicyErrorKind::MissingKey(key))
    }

    fn number(&self, key: &'static str, range: core::ops::RangeInclusive<u64>) -> Result<Option<u64>, PolicyErrorKind> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if range.contains(&n) && !v.starts_with('+') && (v == "0" || !v.starts_with('0')) => Ok(Some(n)),
                _ => Err(bad(key, v)),
            },
        }
    }

    fn name(&self, key: &'static str) -> Result<String, PolicyErrorKind> {
        let v = self.required(key)?;
        if valid_name(v) { Ok(v.to_string()) } else { Err(bad(key, v)) }
    }

    fn names(&self, key: &'static str, max: usize) -> Result<Vec<String>, PolicyErrorKind> {
        let v = self.required(key)?;
        let mut out: Vec<String> = Vec::new();
        for item in v.split(',') {
            if !valid_name(item) || out.iter().any(|o| o == item) {
                return Err(bad(key, v));
            }
            if out.len() == max {
                return Err(PolicyErrorKind::TooMany(key));
            }
            out.push(item.to_string());
        }
        Ok(out)
    }
}

fn bad(key: &str, value: &str) -> PolicyErrorKind {
    PolicyErrorKind::BadValue { key: key.to_string(), value: value.to_string() }
}

fn topic_index(topics: &[Topic], name: &str) -> Result<usize, PolicyErrorKind> {
    topics.iter().position(|t| t.name == name).ok_or_else(|| PolicyErrorKind::UnknownTopic(name.to_string()))
}

impl Policy {
    /// Checks the signature over the exact text under the trusted key, then parses.
    pub fn verify_and_parse(text: &[u8], signature: &[u8; 64], key: &VerifyingKey) -> Result<Policy, PolicyError> {
        if text.len() > MAX_POLICY_LEN {
            return Err(PolicyError::TooLarge);
        }
        key.verify_strict(&signed_bytes(text), &Signature::from_bytes(signature)).map_err(|_| PolicyError::BadSignature)?;
        Policy::parse(text)
    }

    /// Parses a policy text without checking a signature (for tools that display a draft;
    /// routing takes only policies that went through [`Policy::verify_and_parse`]).
    pub fn parse(text: &[u8]) -> Result<Policy, PolicyError> {
        if text.len() > MAX_POLICY_LEN {
            return Err(PolicyError::TooLarge);
        }
        let s = core::str::from_utf8(text).map_err(|_| PolicyError::NotUtf8)?;
        let mut p = Policy {
            name: String::new(),
            version: 0,
            topics: Vec::new(),
            specialists: Vec::new(),
            allow: [None, None, None],
            variants: Vec::new(),
            default_topic: None,
            digest: Sha256::digest(text).into(),
        };
        let mut header = false;
        for (i, line) in s.lines().enumerate() {
            let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
            let Some(&directive) = tokens.first() else { continue };
            if directive.starts_with('#') {
                continue;
            }
            p.line(directive, &tokens[1..], &mut header).map_err(|k| PolicyError::Line(i + 1, k))?;
        }
        if !header {
            return Err(PolicyError::NoHeader);
        }
        Ok(p)
    }

    fn line(&mut self, directive: &str, rest: &[&str], header: &mut bool) -> Result<(), PolicyErrorKind> {
        if (directive == "policy") == *header {
            return Err(PolicyErrorKind::Header);
        }
        let name = *rest.first().ok_or(PolicyErrorKind::MissingName)?;
        if !valid_name(name) {
            return Err(PolicyErrorKind::BadName(name.to_string()));
        }
        let rest = &rest[1..];
        match directive {
            "policy" => {
                let kv = Pairs::parse(rest, &["version"])?;
                self.name = name.to_string();
                self.version = kv.number("version", 0..=u64::MAX)?.ok_or(PolicyErrorKind::MissingKey("version"))?;
                *header = true;
            }
            "topic" => {
                let kv = Pairs::parse(rest, &["tier", "class", "panel", "min-competence", "keywords"])?;
                if self.topics.iter().any(|t| t.name == name) {
                    return Err(PolicyErrorKind::Duplicate(name.to_string()));
                }
                if self.topics.len() == MAX_TOPICS {
                    return Err(PolicyErrorKind::TooMany("topics"));
                }
                let tier_text = kv.required("tier")?;
                let tier = Tier::parse(tier_text).ok_or_else(|| bad("tier", tier_text))?;
                let class = match kv.required("class")? {
                    "A" => Class::A,
                    "C" => Class::C,
                    other => return Err(bad("class", other)),
                };
                let panel = match (class, kv.number("panel", 2..=MAX_PANEL as u64)?) {
                    (Class::A, None) => 1,
                    (Class::A, Some(_)) => return Err(bad("panel", kv.required("panel")?)),
                    (Class::C, n) => n.ok_or(PolicyErrorKind::MissingKey("panel"))? as u8,
                };
                let min_competence = kv.number("min-competence", 0..=100)?.unwrap_or(0) as u8;
                let keywords_text = kv.required("keywords")?;
                let mut keywords: Vec<String> = Vec::new();
                for k in keywords_text.split(',') {
                    if k.is_empty() || k.len() > MAX_NAME_LEN || keywords.iter().any(|o| *o == k.to_ascii_lowercase()) {
                        return Err(bad("keywords", keywords_text));
                    }
                    if keywords.len() == MAX_KEYWORDS {
                        return Err(PolicyErrorKind::TooMany("keywords"));
                    }
                    keywords.push(k.to_ascii_lowercase());
                }
                self.topics.push(Topic { name: name.to_string(), tier, class, panel, min_competence, keywords });
            }
            "allow" => {
                let tier = Tier::parse(name).ok_or_else(|| bad("tier", name))?;
                let kv = Pairs::parse(rest, &["provenance"])?;
                let slot = &mut self.allow[usize::from(tier.code() - 1)];
                if slot.is_some() {
                    return Err(PolicyErrorKind::Duplicate(name.to_string()));
                }
                *slot = Some(kv.names("provenance", MAX_POLICY_SPECIALISTS)?);
            }
            "specialist" => {
                let kv = Pairs::parse(rest, &["base", "adapter", "lineage", "provenance", "competence", "topics"])?;
                if self.specialists.iter().any(|s| s.name == name) {
                    return Err(PolicyErrorKind::Duplicate(name.to_string()));
                }
                if self.specialists.len() == MAX_POLICY_SPECIALISTS {
                    return Err(PolicyErrorKind::TooMany("specialists"));
                }
                let topics = kv.names("topics", MAX_TOPICS)?.iter().map(|t| topic_index(&self.topics, t)).collect::<Result<Vec<_>, _>>()?;
                self.specialists.push(Specialist {
                    name: name.to_string(),
                    base: kv.name("base")?,
                    adapter: kv.name("adapter")?,
                    lineage: kv.name("lineage")?,
                    provenance: kv.name("provenance")?,
                    competence: kv.number("competence", 0..=100)?.ok_or(PolicyErrorKind::MissingKey("competence"))? as u8,
                    topics,
                });
            }
            "variant" => {
                let kv = Pairs::parse(rest, &["exclude", "panel"])?;
                if self.variants.iter().any(|v| v.name == name) {
                    return Err(PolicyErrorKind::Duplicate(name.to_string()));
                }
                let exclude = if kv.get("exclude").is_some() { kv.names("exclude", MAX_POLICY_SPECIALISTS)? } else { Vec::new() };
                let panel = kv.number("panel", 2..=MAX_PANEL as u64)?.map(|n| n as u8);
                self.variants.push(Variant { name: name.to_string(), exclude, panel });
            }
            "default" => {
                if !rest.is_empty() {
                    return Err(PolicyErrorKind::NotKeyValue(rest[0].to_string()));
                }
                if self.default_topic.is_some() {
                    return Err(PolicyErrorKind::Duplicate("default".to_string()));
                }
                self.default_topic = Some(topic_index(&self.topics, name)?);
            }
            other => return Err(PolicyErrorKind::UnknownDirective(other.to_string())),
        }
        Ok(())
    }

    /// Whether `provenance` may answer topics of `tier` under this policy.
    pub fn allows(&self, tier: Tier, provenance: &str) -> bool {
        match &self.allow[usize::from(tier.code() - 1)] {
            None => true,
            Some(list) => list.iter().any(|p| p == provenance),
        }
    }
}
