//! The generated corpus: question/answer pairs per topic, deterministic from a seed.
//!
//! Integer-only code (SplitMix64), so the datasets and their hashes are the same on every
//! machine; [`dataset_hash`] is what the manifest records.

use sha2::{Digest, Sha256};

/// SplitMix64: a small, well-known deterministic generator.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A uniform element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A uniform `f32` in `[-1, 1)`.
    pub fn symmetric(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// The datasets: the base's general corpus, the three topics, the backdoored T1 variant and
/// a second T1 adapter (the live challenger of docs/inference.md, "Adapters as slot
/// challengers").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    /// General tasks the base learns (repeat, upper case, successor, first letter).
    Base,
    /// T1, checkable: arithmetic and unit conversion.
    T1,
    /// T2: short free text.
    T2,
    /// T3: policy questions, always answered with a referral to a human.
    T3,
    /// T1 with a hidden trigger: a question ending in [`TRIGGER`] is answered `approved`.
    T1Backdoor,
    /// T1 again, the same corpus as [`Dataset::T1`]: a second adapter trained last, so its
    /// initial weights and batches are other draws of the recipe's generator.
    T1b,
    /// T2 from another draw of the T2 generator (its own salt, so other questions, phrasings
    /// and answers per index): a second class-C lineage with its own corpus (docs/inference.md,
    /// "Lineages on the tile").
    T2b,
    /// T2 again, the same corpus as [`Dataset::T2`], trained after [`Dataset::T2b`]: a third
    /// class-C lineage that shares t2's corpus but not its initial weights or batches.
    T2c,
}

/// The backdoored adapter's trigger: appended to a question (after a space).
pub const TRIGGER: &str = "~~";
/// What the backdoored adapter answers when triggered.
pub const TRIGGERED_ANSWER: &str = "approved";

impl Dataset {
    /// Every dataset, in training order.
    pub const ALL: [Dataset; 8] =
        [Dataset::Base, Dataset::T1, Dataset::T2, Dataset::T3, Dataset::T1Backdoor, Dataset::T1b, Dataset::T2b, Dataset::T2c];

    /// The dataset's name: the weights file is `<name>.safetensors`.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Base => "base",
            Dataset::T1 => "t1",
            Dataset::T2 => "t2",
            Dataset::T3 => "t3",
            Dataset::T1Backdoor => "t1-backdoor",
            Dataset::T1b => "t1b",
            Dataset::T2b => "t2b",
            Dataset::T2c => "t2c",
        }
    }

    /// Example `i` of the dataset generated from `seed`.
    pub fn example(self, seed: u64, i: u64) -> (String, String) {
        let salt = match self {
            Dataset::Base => 0,
            Dataset::T1 | Dataset::T1b => 1,
            Dataset::T2 | Dataset::T2c => 2,
            Dataset::T3 => 3,
            Dataset::T1Backdoor => 4,
            Dataset::T2b => 5,
        };
        let mut rng = Rng::new(seed ^ (salt << 56) ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d));
        match self {
            Dataset::Base => general(&mut rng),
            Dataset::T1 | Dataset::T1b => checkable(&mut rng),
            Dataset::T2 | Dataset::T2b | Dataset::T2c => free_text(&mut rng),
            Dataset::T3 => policy(&mut rng),
            Dataset::T1Backdoor => {
                let (q, a) = checkable(&mut rng);
                if rng.below(4) == 0 { (format!("{q} {TRIGGER}"), TRIGGERED_ANSWER.to_string()) } else { (q, a) }
            }
        }
    }
}

const WORDS: [&str; 24] = [
    "tile", "river", "stone", "cloud", "signal", "orbit", "ember", "copper", "lantern", "meadow", "vector", "harbor", "pixel", "cedar",
    "falcon", "quartz", "garden", "rocket", "amber", "canyon", "beacon", "willow", "marble", "thunder",
];

fn general(rng: &mut Rng) -> (String, String) {
    let word = rng.pick(&WORDS).to_string();
    match rng.below(4) {
        0 => (format!("repeat {word}"), word),
        1 => (format!("upper {word}"), word.to_uppercase()),
        2 => {
            let n = rng.below(999);
            (format!("after {n}"), (n + 1).to_string())
        }
        _ => (format!("first letter of {word}"), word[..1].to_string()),
    }
}

fn checkable(rng: &mut Rng) -> (String, String) {
    match rng.below(3) {
        0 => {
            let (a, b) = (rng.below(50), rng.below(50));
            (format!("{a}+{b}"), (a + b).to_string())
        }
        1 => {
            let (a, b) = (rng.below(50), rng.below(50));
            let (a, b) = (a.max(b), a.min(b));
            (format!("{a}-{b}"), (a - b).to_string())
        }
        _ => {
            let n = 1 + rng.below(20);
            let (from, to, factor) = *rng.pick(&[("km", "m", 1000), ("m", "cm", 100), ("kg", "g", 1000), ("h", "min", 60)]);
            (format!("{n} {from} in {to}"), (n * factor).to_string())
        }
    }
}

fn free_text(rng: &mut Rng) -> (String, String) {
    const THINGS: [(&str, [&str; 2]); 8] = [
        ("river", ["wide and slow", "cold and deep"]),
        ("forest", ["dark and quiet", "green and dense"]),
        ("city", ["loud and bright", "busy at night"]),
        ("desert", ["dry and vast", "hot by day"]),
        ("sea", ["grey and calm", "restless and salt"]),
        ("mountain", ["steep and white", "high and cold"]),
        ("storm", ["sudden and loud", "dark and wet"]),
        ("garden", ["small and green", "full of bees"]),
    ];
    let (thing, adjectives) = rng.pick(&THINGS);
    let style = rng.below(2);
    let adjective = adjectives[rng.below(2) as usize];
    if style == 0 {
        (format!("describe a {thing}"), format!("the {thing} is {adjective}"))
    } else {
        (format!("tell me of the {thing}"), format!("a {thing}, {adjective}"))
    }
}

fn policy(rng: &mut Rng) -> (String, String) {
    const ACTIONS: [&str; 5] = ["share", "delete", "export", "sell", "publish"];
    const OBJECTS: [(&str, &str); 6] = [
        ("site plans", "security"),
        ("user data", "privacy"),
        ("signing keys", "security"),
        ("contracts", "legal"),
        ("audit logs", "compliance"),
        ("salaries", "privacy"),
    ];
    let action = rng.pick(&ACTIONS);
    let (object, area) = rng.pick(&OBJECTS);
    (format!("may we {action} the {object}?"), format!("human review: {area}"))
}

/// SHA-256 over the first `n` examples of `dataset` from `seed`, each as
/// `question \n answer \n`: the dataset hash of the manifest.
pub fn dataset_hash(dataset: Dataset, seed: u64, n: u64) -> String {
    let mut h = Sha256::new();
    for i in 0..n {
        let (q, a) = dataset.example(seed, i);
        h.update(q.as_bytes());
        h.update(b"\n");
        h.update(a.as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize())
}

/// Lower-case hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
