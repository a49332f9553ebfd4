//! The demo slot's signed module bundles (`make bundles`, `docs/slots.md`, "The demo slot"):
//! which bundles there are, their manifests, and how each bad one is made bad.
//!
//! Every bundle is built from a module program's ELF (stripped of symbols and debug
//! information) with `tileos_module_bundle::build`, signed with the DEV ONLY bundle signer
//! of `tileos_module_bundle::dev_keys`. The bad ones are spoilt after (or instead of)
//! signing, each so that verification fails at one precise step ([`Expect`]).

use tileos_module_bundle::{
    BundleSigner, CapabilityRequest, Evidence, HEADER_LEN, Hash, Lineage, Manifest, Provenance, Rights, TestCounts, TrustedKeys,
    VerifyError, Version, build, content_hash, verify,
};

/// The endpoints the demo slot's allowance holds (what `tile.toml`'s `[[slot]]` "checksum"
/// allows a challenger). A manifest asking for anything else is greedy.
pub const DEMO_ALLOWANCE: &[&str] = &["log"];

/// How a bundle's verification must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// It verifies, and asks only for capabilities within [`DEMO_ALLOWANCE`].
    Good,
    /// It verifies, but asks for a capability outside [`DEMO_ALLOWANCE`]: the manager must
    /// refuse it after verification.
    OutsideAllowance(&'static str),
    /// Verification fails with this error.
    Fails(VerifyError),
}

/// How a bundle is spoilt after the program's ELF is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spoil {
    /// Not at all.
    Nothing,
    /// Both signatures zeroed: an unsigned bundle.
    Unsigned,
    /// Signed by the untrusted dev signer.
    WrongKey,
    /// One payload byte flipped after signing.
    Tampered,
}

/// One bundle of the demo.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// File name without `.bundle`.
    pub bundle: &'static str,
    /// The program whose ELF is the payload.
    pub program: &'static str,
    /// Its version.
    pub version: Version,
    /// Lineage id (independent N-version lineages differ).
    pub lineage: &'static str,
    /// Derived from `checksum-v1` (the lineage's parent is v1's content hash), or a first
    /// of its lineage.
    pub derived_from_v1: bool,
    /// What it is, in a sentence: hashed as the provenance's "prompt".
    pub description: &'static str,
    /// An endpoint asked for beyond the allowance, if any.
    pub greedy: Option<&'static str>,
    /// What is done to it after signing.
    pub spoil: Spoil,
    /// What verification must say.
    pub expect: Expect,
}

const fn version(major: u32, minor: u32, patch: u32) -> Version {
    Version { major, minor, patch }
}

/// The endpoint `checksum-greedy` asks for.
pub const GREEDY_ENDPOINT: &str = "store";

/// Every bundle `make bundles` writes.
pub const SPECS: &[Spec] = &[
    Spec {
        bundle: "checksum-fast",
        program: "checksum-fast",
        version: version(1, 1, 0),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum service, slice-by-8 CRC-32: the same answers as checksum-v1, faster",
        greedy: None,
        spoil: Spoil::Nothing,
        expect: Expect::Good,
    },
    Spec {
        bundle: "checksum-wrong",
        program: "checksum-wrong",
        version: version(1, 1, 1),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum service that answers wrongly for data starting with 0x42",
        greedy: None,
        spoil: Spoil::Nothing,
        expect: Expect::Good,
    },
    Spec {
        bundle: "checksum-crash",
        program: "checksum-crash",
        version: version(1, 1, 2),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum service that page-faults on its 51st request",
        greedy: None,
        spoil: Spoil::Nothing,
        expect: Expect::Good,
    },
    Spec {
        bundle: "checksum-hang",
        program: "checksum-hang",
        version: version(1, 1, 4),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum service that loops forever (no fault) on its 401st request",
        greedy: None,
        spoil: Spoil::Nothing,
        expect: Expect::Good,
    },
    Spec {
        bundle: "checksum-adopt-fault",
        program: "checksum-adopt-fault",
        version: version(1, 1, 5),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum service that page-faults at its first export after serving 500 requests as the promoted module",
        greedy: None,
        spoil: Spoil::Nothing,
        expect: Expect::Good,
    },
    Spec {
        bundle: "checksum-adopt-hang",
        program: "checksum-adopt-hang",
        version: version(1, 1, 6),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum service that loops forever at its first export after serving 500 requests as the promoted module",
        greedy: None,
        spoil: Spoil::Nothing,
        expect: Expect::Good,
    },
    Spec {
        bundle: "checksum-adopt-unknown",
        program: "checksum-adopt-unknown",
        version: version(1, 1, 7),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum service that exports an unknown state version after serving 500 requests as the promoted module",
        greedy: None,
        spoil: Spoil::Nothing,
        expect: Expect::Good,
    },
    Spec {
        bundle: "checksum-settle-signal",
        program: "checksum-settle-signal",
        version: version(1, 2, 1),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum service that signals chaos 3 s after its promotion, then page-faults 400 requests later",
        greedy: None,
        spoil: Spoil::Nothing,
        expect: Expect::Good,
    },
    Spec {
        bundle: "checksum-padded",
        program: "checksum-padded",
        version: version(1, 1, 8),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum service with checksum-fast's answers, junk in each answer's padding and an extra word",
        greedy: None,
        spoil: Spoil::Nothing,
        expect: Expect::Good,
    },
    Spec {
        bundle: "checksum-noisy-fast",
        program: "checksum-noisy-fast",
        version: version(1, 1, 9),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum service with checksum-fast's answers and an extra word on about 1 answer in 8 (time-stamp counter)",
        greedy: None,
        spoil: Spoil::Nothing,
        expect: Expect::Good,
    },
    Spec {
        bundle: "checksum-noisy-wrong",
        program: "checksum-noisy-wrong",
        version: version(1, 1, 10),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum service wrong on data starting with 0x42 or an odd byte, with an extra word on about 1 answer in 8",
        greedy: None,
        spoil: Spoil::Nothing,
        expect: Expect::Good,
    },
    Spec {
        bundle: "checksum-slow",
        program: "checksum-slow",
        version: version(1, 0, 1),
        lineage: "checksum-bitwise",
        derived_from_v1: true,
        description: "checksum service, right but about three hundred times slower than checksum-v1",
        greedy: None,
        spoil: Spoil::Nothing,
        expect: Expect::Good,
    },
    Spec {
        bundle: "checksum-greedy",
        program: "checksum-greedy",
        version: version(1, 1, 3),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum service whose manifest asks for the store endpoint",
        greedy: Some(GREEDY_ENDPOINT),
        spoil: Spoil::Nothing,
        expect: Expect::OutsideAllowance(GREEDY_ENDPOINT),
    },
    Spec {
        bundle: "checksum-unsigned",
        program: "checksum-fast",
        version: version(1, 1, 0),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum-fast with both signatures zeroed",
        greedy: None,
        spoil: Spoil::Unsigned,
        expect: Expect::Fails(VerifyError::BadEd25519Signature),
    },
    Spec {
        bundle: "checksum-wrongkey",
        program: "checksum-fast",
        version: version(1, 1, 0),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum-fast signed by a key no image trusts",
        greedy: None,
        spoil: Spoil::WrongKey,
        expect: Expect::Fails(VerifyError::UnknownSigner),
    },
    Spec {
        bundle: "checksum-tampered",
        program: "checksum-fast",
        version: version(1, 1, 0),
        lineage: "checksum-slice-by-8",
        derived_from_v1: true,
        description: "checksum-fast with a payload byte flipped after signing",
        greedy: None,
        spoil: Spoil::Tampered,
        expect: Expect::Fails(VerifyError::ContentHashMismatch),
    },
    Spec {
        bundle: "checksum-lineage-b",
        program: "checksum-lineage-b",
        version: version(1, 0, 0),
        lineage: "checksum-nibble",
        derived_from_v1: false,
        description: "checksum service written independently: nibble-table CRC-32, per-byte Adler-32",
        greedy: None,
        spoil: Spoil::Nothing,
        expect: Expect::Good,
    },
    Spec {
        bundle: "checksum-big",
        program: "checksum-big",
        version: version(1, 0, 2),
        lineage: "checksum-bitwise",
        derived_from_v1: true,
        description: "checksum-v1 padded to a bundle of about 100 KiB, for the install-time benchmark",
        greedy: None,
        spoil: Spoil::Nothing,
        expect: Expect::Good,
    },
];

/// The program every derived module comes from.
pub const PARENT_PROGRAM: &str = "checksum-v1";
/// The provenance's generator for these modules: people, not a model.
pub const GENERATOR: &str = "hand-written (tileos demo, no model)";

/// What the manifests share besides the spec: the toolchain, v1's content hash, evidence.
#[derive(Clone, Debug)]
pub struct Context {
    /// `rustc --version` of the build.
    pub toolchain: String,
    /// Content hash of the parent program's payload.
    pub parent: Hash,
    /// The host test counts of the modules' logic (`cargo test -p tileos-checksum`).
    pub tests: TestCounts,
}

/// The manifest of `spec` over `payload`.
pub fn manifest(spec: &Spec, payload: &[u8], context: &Context) -> Manifest {
    let log =
        CapabilityRequest::Endpoint { name: "log".into(), rights: Rights { read: false, write: true, grant: false, grant_reply: false } };
    let mut capabilities = vec![log];
    if let Some(greedy) = spec.greedy {
        capabilities.push(CapabilityRequest::Endpoint {
            name: greedy.into(),
            rights: Rights { read: false, write: true, grant: false, grant_reply: false },
        });
    }
    Manifest {
        name: "checksum".into(),
        version: spec.version,
        lineage: Lineage {
            id: spec.lineage.into(),
            parent: spec.derived_from_v1.then_some(context.parent),
            generation: u32::from(spec.derived_from_v1),
        },
        provenance: Provenance {
            model_id: GENERATOR.into(),
            prompt_hash: content_hash(spec.description.as_bytes()),
            toolchain: context.toolchain.clone(),
        },
        content_hash: content_hash(payload),
        payload_size: payload.len() as u32,
        capabilities,
        evidence: Evidence { proofs: Vec::new(), fuzz: Vec::new(), tests: context.tests },
    }
}

/// Offset of the signatures in a bundle (right after the fixed header).
const SIGNATURES_AT: usize = HEADER_LEN;
/// Length of both signatures.
const SIGNATURES_LEN: usize = tileos_module_bundle::ED25519_SIGNATURE_LEN + tileos_module_bundle::ML_DSA_65_SIGNATURE_LEN;

/// Builds the bundle of `spec` over `payload`, signed by `signer` (or, for
/// [`Spoil::WrongKey`], by `untrusted`), and spoils it as the spec says.
pub fn make(spec: &Spec, payload: &[u8], context: &Context, signer: &BundleSigner, untrusted: &BundleSigner) -> Result<Vec<u8>, String> {
    let manifest = manifest(spec, payload, context);
    let key = if spec.spoil == Spoil::WrongKey { untrusted } else { signer };
    let mut bytes = build(&manifest, payload, key).map_err(|error| format!("{}: {error}", spec.bundle))?;
    match spec.spoil {
        Spoil::Nothing | Spoil::WrongKey => {}
        Spoil::Unsigned => bytes[SIGNATURES_AT..SIGNATURES_AT + SIGNATURES_LEN].fill(0),
        Spoil::Tampered => {
            // A byte in the middle of the payload (the payload ends the bundle).
            let at = bytes.len() - payload.len() / 2 - 1;
            bytes[at] ^= 0x01;
        }
    }
    Ok(bytes)
}

/// The endpoints `manifest` asks for that `allowance` does not hold (other capability
/// kinds are all outside: the demo allowance holds endpoints only).
pub fn outside_allowance(manifest: &Manifest, allowance: &[&str]) -> Vec<String> {
    manifest
        .capabilities
        .iter()
        .filter_map(|request| match request {
            CapabilityRequest::Endpoint { name, .. } if allowance.contains(&name.as_str()) => None,
            CapabilityRequest::Endpoint { name, .. }
            | CapabilityRequest::Notification { name }
            | CapabilityRequest::MemoryRegion { name, .. }
            | CapabilityRequest::Irq { name }
            | CapabilityRequest::IoPort { name } => Some(name.clone()),
        })
        .collect()
}

/// What verifying `bytes` against `trusted` gives, in the terms of [`Expect`].
pub fn outcome(bytes: &[u8], trusted: &[TrustedKeys]) -> Result<Expect, VerifyError> {
    let verified = verify(bytes, trusted)?;
    Ok(match outside_allowance(&verified.manifest, DEMO_ALLOWANCE).first() {
        None => Expect::Good,
        Some(name) => match SPECS.iter().find_map(|spec| spec.greedy.filter(|greedy| greedy == name)) {
            Some(name) => Expect::OutsideAllowance(name),
            None => Expect::OutsideAllowance("(another capability)"),
        },
    })
}

/// Whether `bytes` verify as `spec` expects; the difference in words if not.
pub fn check(spec: &Spec, bytes: &[u8], trusted: &[TrustedKeys]) -> Result<(), String> {
    let found = match outcome(bytes, trusted) {
        Ok(expect) => expect,
        Err(error) => Expect::Fails(error),
    };
    if found == spec.expect { Ok(()) } else { Err(format!("{}: expected {:?}, found {:?}", spec.bundle, spec.expect, found)) }
}

/// The keys an image trusts, as the tool writes them to `build/keys/trusted.bin`: the dev
/// signer's public halves (the same bytes as `dev_keys::DEV_TRUSTED_BUNDLE_KEYS`).
pub fn trusted_file(signer: &BundleSigner) -> Vec<u8> {
    tileos_module_bundle::trusted_keys_file(core::slice::from_ref(signer.public_keys()))
}

/// Sums the `test result:` lines of `cargo test` output.
pub fn test_counts(output: &str) -> TestCounts {
    let mut counts = TestCounts { passed: 0, failed: 0, ignored: 0 };
    for line in output.lines().filter(|line| line.starts_with("test result:")) {
        let number = |word: &str| -> u32 {
            line.split(';')
                .find_map(|part| part.trim().strip_suffix(word).map(str::trim).map(|n| n.rsplit(' ').next().unwrap_or(n)))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        counts.passed += number("passed");
        counts.failed += number("failed");
        counts.ignored += number("ignored");
    }
    counts
}
