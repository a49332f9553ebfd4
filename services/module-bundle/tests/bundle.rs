//! Build and verify bundles: the valid case and every rejection the format promises (tampered
//! manifest or payload, wrong or unknown key, only one of the two signatures valid, truncation at
//! every length, oversized input and declared lengths, unknown versions).
//!
//! ML-DSA is slow in debug builds, so signed fixtures are made once and shared.

use std::sync::OnceLock;

use ed25519_dalek::Signer;
use ml_dsa::{ExpandedSigningKey, MlDsa65};
use tileos_module_bundle::{
    BuildError, BundleSigner, CapabilityRequest, Evidence, FuzzResult, HEADER_LEN, KeyError, Lineage, MAX_BUNDLE_LEN, MAX_MANIFEST_LEN,
    MAX_PAYLOAD_LEN, ML_DSA_65_SIGNATURE_LEN, ML_DSA_CONTEXT, Manifest, ProofResult, Provenance, Rights, TestCounts, TrustedKeys, Verdict,
    VerifyError, Version, build, content_hash, signed_message, verify,
};
use tileos_module_bundle::{ContentHasher, Progress, Stage, Verification};

const SIGNER_SEEDS: ([u8; 32], [u8; 32]) = ([1; 32], [2; 32]);
const OTHER_SEEDS: ([u8; 32], [u8; 32]) = ([3; 32], [4; 32]);
/// Offset of the manifest: header, Ed25519 signature, ML-DSA-65 signature.
const MANIFEST_AT: usize = HEADER_LEN + 64 + ML_DSA_65_SIGNATURE_LEN;

fn payload() -> Vec<u8> {
    let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
    elf.extend((0..200u32).map(|i| (i * 7) as u8));
    elf
}

fn manifest_for(payload: &[u8]) -> Manifest {
    Manifest {
        name: "netstack".into(),
        version: Version { major: 1, minor: 4, patch: 2 },
        lineage: Lineage { id: "netstack-b".into(), parent: Some([9; 32]), generation: 3 },
        provenance: Provenance { model_id: "codegen-7b@sha256:0123".into(), prompt_hash: [5; 32], toolchain: "rustc 1.95.0".into() },
        content_hash: content_hash(payload),
        payload_size: payload.len() as u32,
        capabilities: vec![
            CapabilityRequest::Endpoint {
                name: "net_rx".into(),
                rights: Rights { read: true, write: true, grant: false, grant_reply: true },
            },
            CapabilityRequest::Notification { name: "net_irq".into() },
            CapabilityRequest::MemoryRegion { name: "rx_ring".into(), writable: true },
            CapabilityRequest::Irq { name: "nic".into() },
            CapabilityRequest::IoPort { name: "com2".into() },
        ],
        evidence: Evidence {
            proofs: vec![ProofResult { property: "no packet answered twice".into(), tool: "kani 0.60".into(), verdict: Verdict::Proved }],
            fuzz: vec![FuzzResult { target: "tcp_parse".into(), seed: 0xdead_beef, iterations: 1_000_000, failures: 0 }],
            tests: TestCounts { passed: 412, failed: 0, ignored: 2 },
        },
    }
}

fn signer() -> &'static BundleSigner {
    static S: OnceLock<BundleSigner> = OnceLock::new();
    S.get_or_init(|| BundleSigner::from_seeds(&SIGNER_SEEDS.0, &SIGNER_SEEDS.1))
}

fn other() -> &'static BundleSigner {
    static S: OnceLock<BundleSigner> = OnceLock::new();
    S.get_or_init(|| BundleSigner::from_seeds(&OTHER_SEEDS.0, &OTHER_SEEDS.1))
}

fn trusted() -> Vec<TrustedKeys> {
    vec![signer().public_keys().clone()]
}

/// The valid bundle every test starts from.
fn bundle() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| {
        let p = payload();
        build(&manifest_for(&p), &p, signer()).unwrap()
    })
}

fn manifest_len(b: &[u8]) -> usize {
    u32::from_be_bytes(b[46..50].try_into().unwrap()) as usize
}

/// Lays out a bundle from raw parts, bypassing `build`'s checks.
fn assemble(key_id: &[u8; 32], ed: &[u8], ml: &[u8], manifest: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = b"TILEBNDL\x00\x01".to_vec();
    out.extend_from_slice(key_id);
    out.extend_from_slice(&64u16.to_be_bytes());
    out.extend_from_slice(&(ML_DSA_65_SIGNATURE_LEN as u16).to_be_bytes());
    out.extend_from_slice(&(manifest.len() as u32).to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(ed);
    out.extend_from_slice(ml);
    out.extend_from_slice(manifest);
    out.extend_from_slice(payload);
    out
}

fn ed25519_sign(seed: &[u8; 32], message: &[u8]) -> Vec<u8> {
    ed25519_dalek::SigningKey::from_bytes(seed).sign(message).to_bytes().to_vec()
}

fn ml_dsa_sign(seed: &[u8; 32], message: &[u8]) -> Vec<u8> {
    ExpandedSigningKey::<MlDsa65>::from_seed(&(*seed).into()).sign_deterministic(message, ML_DSA_CONTEXT).unwrap().encode().to_vec()
}

fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn valid_bundle_verifies() {
    let p = payload();
    let v = verify(bundle(), &trusted()).unwrap();
    assert_eq!(v.manifest, manifest_for(&p));
    assert_eq!(v.payload, &p[..]);
    assert_eq!(v.signer, signer().public_keys().key_id());
    // Building is deterministic.
    assert_eq!(build(&manifest_for(&p), &p, signer()).unwrap(), bundle());
}

#[test]
fn right_pair_is_found_among_several() {
    let keys = vec![other().public_keys().clone(), signer().public_keys().clone()];
    assert!(verify(bundle(), &keys).is_ok());
}

#[test]
fn unknown_signer_is_rejected() {
    let keys = vec![other().public_keys().clone()];
    assert_eq!(verify(bundle(), &keys), Err(VerifyError::UnknownSigner));
    assert_eq!(verify(bundle(), &[]), Err(VerifyError::UnknownSigner));
}

#[test]
fn wrong_keys_claiming_a_trusted_key_id_are_rejected() {
    // Someone with their own key pair signs the right message under the trusted key id.
    let b = bundle();
    let key_id = signer().public_keys().key_id();
    let manifest = &b[MANIFEST_AT..MANIFEST_AT + manifest_len(b)];
    let message = signed_message(&key_id, manifest);
    let ed = ed25519_sign(&OTHER_SEEDS.0, &message);
    let ml = &b[HEADER_LEN + 64..MANIFEST_AT]; // reuse: the Ed25519 check fails first anyway
    let forged = assemble(&key_id, &ed, ml, manifest, &payload());
    assert_eq!(verify(&forged, &trusted()), Err(VerifyError::BadEd25519Signature));
}

#[test]
fn tampered_manifest_is_rejected() {
    let b = bundle();
    for at in [MANIFEST_AT, MANIFEST_AT + 5, MANIFEST_AT + manifest_len(b) - 1] {
        let mut t = b.to_vec();
        t[at] ^= 0x01;
        assert_eq!(verify(&t, &trusted()), Err(VerifyError::BadEd25519Signature));
    }
}

#[test]
fn tampered_payload_is_rejected() {
    let mut t = bundle().to_vec();
    let last = t.len() - 1;
    t[last] ^= 0x80;
    assert_eq!(verify(&t, &trusted()), Err(VerifyError::ContentHashMismatch));
}

/// Runs a stepwise verification to its end with `budget` hash bytes per step: the stages
/// seen, in order, and the verdict (the manifest, or the error).
fn stepwise(bytes: &[u8], budget: usize) -> (Vec<Stage>, Result<Manifest, VerifyError>) {
    let mut verification = match Verification::start(bytes, &trusted()) {
        Ok(v) => v,
        Err(error) => return (Vec::new(), Err(error)),
    };
    let mut stages = vec![verification.stage()];
    for _ in 0..100_000 {
        match verification.step(bytes, &trusted(), budget) {
            Ok(Progress::Pending(stage)) => stages.push(stage),
            Ok(Progress::Verified(bundle)) => return (stages, Ok(bundle.manifest)),
            Err(error) => return (stages, Err(error)),
        }
    }
    panic!("a verification that never ends");
}

#[test]
fn stepwise_verification_checks_in_verifys_order_and_hashes_within_the_budget() {
    let p = payload();
    for budget in [1, 7, 64, 199, 207, 1000, usize::MAX] {
        let (stages, verdict) = stepwise(bundle(), budget);
        assert_eq!(verdict, Ok(manifest_for(&p)), "budget {budget}");
        let hashed: Vec<usize> = stages.iter().filter_map(|s| if let Stage::Hash(n) = s { Some(*n) } else { None }).collect();
        assert_eq!(stages[..3], [Stage::Ed25519, Stage::MlDsa, Stage::Manifest]);
        // One hash step per `budget` bytes: the stage records the bytes hashed before each.
        assert_eq!(hashed.len(), p.len().div_ceil(budget.min(p.len())), "budget {budget}");
        assert!(hashed.windows(2).all(|w| w[1] - w[0] == budget), "budget {budget}: {hashed:?}");
    }
}

#[test]
fn a_payload_tampered_in_its_last_byte_is_refused_only_by_the_last_hash_step() {
    let mut t = bundle().to_vec();
    let last = t.len() - 1;
    t[last] ^= 0x80;
    let (stages, verdict) = stepwise(&t, 16);
    assert_eq!(verdict, Err(VerifyError::ContentHashMismatch));
    // Every hash step ran: the mismatch shows only once the whole payload is hashed.
    assert_eq!(stages.last(), Some(&Stage::Hash(payload().len() / 16 * 16)));
}

#[test]
fn stepwise_verification_refuses_exactly_as_verify() {
    let b = bundle();
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for at in [0, 9, 12, 43, 47, 52, HEADER_LEN + 1, HEADER_LEN + 64 + 7, MANIFEST_AT + 2, b.len() - 100, b.len() - 1] {
        let mut t = b.to_vec();
        t[at] ^= 0x21;
        cases.push(t);
    }
    cases.push(b[..b.len() - 1].to_vec());
    cases.push([b, &[0u8][..]].concat());
    for t in &cases {
        for budget in [1, 50, usize::MAX] {
            assert_eq!(stepwise(t, budget).1, verify(t, &trusted()).map(|v| v.manifest), "budget {budget}");
        }
    }
    // Other bytes handed to a later step are checked again, never trusted: a longer payload
    // behind the same header is refused, not read past.
    let mut verification = Verification::start(b, &trusted()).unwrap();
    for _ in 0..3 {
        verification.step(b, &trusted(), 8).unwrap();
    }
    assert!(verification.step(&b[..b.len() - 3], &trusted(), 8).is_err());
}

#[test]
fn content_hasher_in_pieces_is_content_hash() {
    let p = payload();
    for piece in [1, 3, 64, 1000] {
        let mut hasher = ContentHasher::new();
        p.chunks(piece).for_each(|c| hasher.update(c));
        assert_eq!(hasher.finish(), content_hash(&p));
    }
}

#[test]
fn only_ed25519_valid_is_rejected() {
    // A genuine ML-DSA-65 signature over the right message, but by another ML-DSA key.
    let b = bundle();
    let key_id = signer().public_keys().key_id();
    let manifest = &b[MANIFEST_AT..MANIFEST_AT + manifest_len(b)];
    let message = signed_message(&key_id, manifest);
    let ed = ed25519_sign(&SIGNER_SEEDS.0, &message);
    let ml = ml_dsa_sign(&OTHER_SEEDS.1, &message);
    let t = assemble(&key_id, &ed, &ml, manifest, &payload());
    assert_eq!(verify(&t, &trusted()), Err(VerifyError::BadMlDsaSignature));

    // A bit flipped in the genuine ML-DSA signature.
    let mut t = b.to_vec();
    t[HEADER_LEN + 64 + 100] ^= 0x04;
    assert_eq!(verify(&t, &trusted()), Err(VerifyError::BadMlDsaSignature));
}

#[test]
fn only_ml_dsa_valid_is_rejected() {
    // The genuine ML-DSA signature, with an Ed25519 signature by another Ed25519 key.
    let b = bundle();
    let key_id = signer().public_keys().key_id();
    let manifest = &b[MANIFEST_AT..MANIFEST_AT + manifest_len(b)];
    let message = signed_message(&key_id, manifest);
    let ed = ed25519_sign(&OTHER_SEEDS.0, &message);
    let t = assemble(&key_id, &ed, &b[HEADER_LEN + 64..MANIFEST_AT], manifest, &payload());
    assert_eq!(verify(&t, &trusted()), Err(VerifyError::BadEd25519Signature));

    // A bit flipped in the genuine Ed25519 signature, or the signature zeroed.
    let mut t = b.to_vec();
    t[HEADER_LEN + 3] ^= 0x10;
    assert_eq!(verify(&t, &trusted()), Err(VerifyError::BadEd25519Signature));
    let mut t = b.to_vec();
    t[HEADER_LEN..HEADER_LEN + 64].fill(0);
    assert_eq!(verify(&t, &trusted()), Err(VerifyError::BadEd25519Signature));
}

#[test]
fn signed_but_non_canonical_or_inconsistent_manifests_are_rejected() {
    let key_id = signer().public_keys().key_id();
    let p = payload();
    let sign_and_assemble = |manifest: &[u8], payload: &[u8]| {
        let message = signed_message(&key_id, manifest);
        let ed = ed25519_sign(&SIGNER_SEEDS.0, &message);
        let ml = ml_dsa_sign(&SIGNER_SEEDS.1, &message);
        assemble(&key_id, &ed, &ml, manifest, payload)
    };

    let mut trailing = postcard::to_allocvec(&manifest_for(&p)).unwrap();
    trailing.push(0);
    let t = sign_and_assemble(&trailing, &p);
    assert_eq!(verify(&t, &trusted()), Err(VerifyError::NonCanonicalManifest));

    let mut wrong_size = manifest_for(&p);
    wrong_size.payload_size += 1;
    let t = sign_and_assemble(&postcard::to_allocvec(&wrong_size).unwrap(), &p);
    assert_eq!(verify(&t, &trusted()), Err(VerifyError::PayloadSizeMismatch));
}

#[test]
fn truncation_at_every_length_is_rejected() {
    let b = bundle();
    let trusted = trusted();
    for len in 0..b.len() {
        match verify(&b[..len], &trusted) {
            Err(VerifyError::Truncated { actual, expected }) => {
                assert_eq!(actual, len);
                assert!(expected > len);
            }
            other => panic!("length {len}: {other:?}"),
        }
    }
}

#[test]
fn oversized_input_and_trailing_bytes_are_rejected() {
    let mut t = bundle().to_vec();
    t.push(0);
    assert_eq!(verify(&t, &trusted()), Err(VerifyError::TrailingBytes { expected: t.len() - 1, actual: t.len() }));
    let mut huge = bundle().to_vec();
    huge.resize(MAX_BUNDLE_LEN + 1, 0);
    assert_eq!(verify(&huge, &trusted()), Err(VerifyError::TooLarge));
}

#[test]
fn oversized_or_wrong_declared_lengths_are_rejected() {
    let b = bundle();
    let check = |at: usize, v: u32, want: VerifyError| {
        let mut t = b.to_vec();
        set_u32(&mut t, at, v);
        assert_eq!(verify(&t, &trusted()), Err(want), "field at {at} = {v}");
    };
    let max_m = MAX_MANIFEST_LEN as u32;
    let max_p = MAX_PAYLOAD_LEN as u32;
    check(46, max_m + 1, VerifyError::ManifestTooLarge(max_m + 1));
    check(46, u32::MAX, VerifyError::ManifestTooLarge(u32::MAX));
    check(46, 0, VerifyError::EmptyManifest);
    check(50, max_p + 1, VerifyError::PayloadTooLarge(max_p + 1));
    check(50, u32::MAX, VerifyError::PayloadTooLarge(u32::MAX));
    // Declared lengths within limits but not matching the input.
    let len = b.len();
    let payload_len = payload().len() as u32;
    check(50, max_p, VerifyError::Truncated { expected: len - payload_len as usize + MAX_PAYLOAD_LEN, actual: len });
    check(50, payload_len - 1, VerifyError::TrailingBytes { expected: len - 1, actual: len });
    for (at, v) in [(42usize, 63u16), (42, 0), (44, 3308), (44, u16::MAX)] {
        let mut t = b.to_vec();
        t[at..at + 2].copy_from_slice(&v.to_be_bytes());
        assert_eq!(verify(&t, &trusted()), Err(VerifyError::BadSignatureLength));
    }
}

#[test]
fn unknown_format_version_and_bad_magic_are_rejected() {
    for v in [0u16, 2, 0x0100, u16::MAX] {
        let mut t = bundle().to_vec();
        t[8..10].copy_from_slice(&v.to_be_bytes());
        assert_eq!(verify(&t, &trusted()), Err(VerifyError::UnsupportedVersion(v)));
        // A short future-version bundle still reports its version.
        assert_eq!(verify(&t[..12], &trusted()), Err(VerifyError::UnsupportedVersion(v)));
    }
    let mut t = bundle().to_vec();
    t[0] = b'X';
    assert_eq!(verify(&t, &trusted()), Err(VerifyError::BadMagic));
}

#[test]
fn build_rejects_inconsistent_or_oversized_input() {
    let p = payload();
    let mut m = manifest_for(&p);
    m.content_hash[0] ^= 1;
    assert_eq!(build(&m, &p, signer()), Err(BuildError::ContentHashMismatch));
    let mut m = manifest_for(&p);
    m.payload_size -= 1;
    assert_eq!(build(&m, &p, signer()), Err(BuildError::PayloadSizeMismatch));
    let mut m = manifest_for(&p);
    m.name = "n".repeat(MAX_MANIFEST_LEN);
    assert_eq!(build(&m, &p, signer()), Err(BuildError::ManifestTooLarge));
    let big = vec![0u8; MAX_PAYLOAD_LEN + 1];
    assert_eq!(build(&manifest_for(&big), &big, signer()), Err(BuildError::PayloadTooLarge));
}

#[test]
fn trusted_keys_roundtrip_and_reject_bad_bytes() {
    let pk = signer().public_keys();
    let again = TrustedKeys::from_bytes(&pk.ed25519_bytes(), &pk.ml_dsa_bytes()).unwrap();
    assert_eq!(&again, pk);
    assert_eq!(again.key_id(), pk.key_id());
    assert_eq!(TrustedKeys::from_bytes(&pk.ed25519_bytes(), &pk.ml_dsa_bytes()[1..]), Err(KeyError::BadMlDsaKeyLength));
    // The identity point is a small-order (weak) key.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(TrustedKeys::from_bytes(&identity, &pk.ml_dsa_bytes()), Err(KeyError::BadEd25519Key));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-z0-9 ._@-]{0,24}").unwrap()
    }

    fn capability() -> impl Strategy<Value = CapabilityRequest> {
        prop_oneof![
            (text(), any::<[bool; 4]>()).prop_map(|(name, r)| CapabilityRequest::Endpoint {
                name,
                rights: Rights { read: r[0], write: r[1], grant: r[2], grant_reply: r[3] },
            }),
            text().prop_map(|name| CapabilityRequest::Notification { name }),
            (text(), any::<bool>()).prop_map(|(name, writable)| CapabilityRequest::MemoryRegion { name, writable }),
            text().prop_map(|name| CapabilityRequest::Irq { name }),
            text().prop_map(|name| CapabilityRequest::IoPort { name }),
        ]
    }

    /// A random manifest for a random payload.
    fn manifest_and_payload() -> impl Strategy<Value = (Manifest, Vec<u8>)> {
        (
            (text(), any::<[u32; 3]>(), text(), any::<Option<[u8; 32]>>(), any::<u32>()),
            (text(), any::<[u8; 32]>(), text()),
            proptest::collection::vec(capability(), 0..6),
            proptest::collection::vec((text(), text(), 0u8..3), 0..3),
            proptest::collection::vec((text(), any::<[u64; 3]>()), 0..3),
            any::<[u32; 3]>(),
            proptest::collection::vec(any::<u8>(), 0..512),
        )
            .prop_map(|(head, prov, capabilities, proofs, fuzz, tests, payload)| {
                let (name, v, lineage_id, parent, generation) = head;
                let manifest = Manifest {
                    name,
                    version: Version { major: v[0], minor: v[1], patch: v[2] },
                    lineage: Lineage { id: lineage_id, parent, generation },
                    provenance: Provenance { model_id: prov.0, prompt_hash: prov.1, toolchain: prov.2 },
                    content_hash: content_hash(&payload),
                    payload_size: payload.len() as u32,
                    capabilities,
                    evidence: Evidence {
                        proofs: proofs
                            .into_iter()
                            .map(|(property, tool, v)| ProofResult {
                                property,
                                tool,
                                verdict: [Verdict::Proved, Verdict::Refuted, Verdict::Inconclusive][v as usize],
                            })
                            .collect(),
                        fuzz: fuzz
                            .into_iter()
                            .map(|(target, n)| FuzzResult { target, seed: n[0], iterations: n[1], failures: n[2] })
                            .collect(),
                        tests: TestCounts { passed: tests[0], failed: tests[1], ignored: tests[2] },
                    },
                };
                (manifest, payload)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any manifest and payload survive build and verify unchanged, and building twice
        /// gives the same bytes (the encoding and both signatures are deterministic).
        #[test]
        fn build_verify_roundtrip((manifest, payload) in manifest_and_payload()) {
            let b = build(&manifest, &payload, signer()).unwrap();
            let v = verify(&b, &trusted()).unwrap();
            prop_assert_eq!(&v.manifest, &manifest);
            prop_assert_eq!(v.payload, &payload[..]);
            prop_assert_eq!(build(&manifest, &payload, signer()).unwrap(), b);
        }

        /// Arbitrary bytes, with or without a valid magic and version, never panic and never
        /// verify.
        #[test]
        fn arbitrary_input_is_rejected(
            prefix in any::<bool>(),
            rest in proptest::collection::vec(any::<u8>(), 0..4000),
        ) {
            let mut input = if prefix { b"TILEBNDL\x00\x01".to_vec() } else { Vec::new() };
            input.extend(rest);
            prop_assert!(verify(&input, &trusted()).is_err());
        }

        /// Changing any byte anywhere in a valid bundle is rejected.
        #[test]
        fn any_byte_change_is_rejected(pos in any::<usize>(), xor in 1u8..=255) {
            let mut t = bundle().to_vec();
            let at = pos % t.len();
            t[at] ^= xor;
            prop_assert!(verify(&t, &trusted()).is_err());
        }
    }
}

#[test]
fn the_format_limits_are_the_documented_ones() {
    // The layout in the crate documentation: manifest 1 ..= 64 KiB, payload 0 ..= 16 MiB,
    // after a 54-byte header and the two signatures.
    assert_eq!((HEADER_LEN, ML_DSA_65_SIGNATURE_LEN), (54, 3309));
    assert_eq!((MAX_MANIFEST_LEN, MAX_PAYLOAD_LEN), (65_536, 16_777_216));
    assert_eq!(MAX_BUNDLE_LEN, 54 + 64 + 3309 + 65_536 + 16_777_216);
}

#[test]
fn the_largest_manifest_and_payload_make_the_largest_bundle_which_verifies() {
    let big = vec![7u8; MAX_PAYLOAD_LEN];
    let mut m = manifest_for(&big);
    let base = manifest_len(&build(&m, &big, signer()).unwrap());
    m.name.push_str(&"n".repeat(MAX_MANIFEST_LEN - base));
    // The name's length prefix grows with the name: trim until the manifest fits.
    let b = loop {
        match build(&m, &big, signer()) {
            Err(BuildError::ManifestTooLarge) => _ = m.name.pop(),
            other => break other.unwrap(),
        }
    };
    assert_eq!((manifest_len(&b), b.len()), (MAX_MANIFEST_LEN, MAX_BUNDLE_LEN));
    assert!(verify(&b, &trusted()).is_ok());
    m.name.push('n');
    assert_eq!(build(&m, &big, signer()), Err(BuildError::ManifestTooLarge));
}

#[test]
fn a_ten_byte_input_is_judged_by_its_magic() {
    assert_eq!(verify(b"NOTABNDL\0\x01", &trusted()), Err(VerifyError::BadMagic));
    assert_eq!(verify(b"NOTABNDL\0", &trusted()), Err(VerifyError::Truncated { expected: HEADER_LEN, actual: 9 }));
}

#[test]
fn errors_and_the_signer_print_what_they_are() {
    assert_eq!(BuildError::ManifestTooLarge.to_string(), "manifest longer than the maximum");
    assert_eq!(VerifyError::BadMagic.to_string(), "not a module bundle (bad magic)");
    assert_eq!(KeyError::BadEd25519Key.to_string(), "invalid or weak Ed25519 public key");
    // The signer's Debug names its key id only, never the secret keys.
    let debug = format!("{:?}", signer());
    assert!(debug.starts_with("BundleSigner { key_id: ") && debug.ends_with(".. }"), "{debug}");
}

/// The signatures checked apart (`signature_input` + `verify_signatures`, the verifier
/// domain's part) give the verdict `verify` gives on the same bundle, for the valid bundle and
/// each signature fault; the stepwise verification told the signatures were verified
/// elsewhere goes on from the manifest.
#[test]
fn signatures_checked_apart_agree_with_verify() {
    let b = bundle();
    let input = tileos_module_bundle::signature_input(b).unwrap();
    assert_eq!(input.len(), tileos_module_bundle::SIGNATURE_INPUT_HEAD + manifest_len(b));
    assert_eq!(tileos_module_bundle::verify_signatures(&input, &trusted()), Ok(()));
    assert_eq!(tileos_module_bundle::verify_signatures(&input, &[other().public_keys().clone()]), Err(VerifyError::UnknownSigner));
    for at in [HEADER_LEN + 3, HEADER_LEN + 64 + 100, MANIFEST_AT + 5] {
        let mut t = b.to_vec();
        t[at] ^= 0x04;
        let apart = tileos_module_bundle::verify_signatures(&tileos_module_bundle::signature_input(&t).unwrap(), &trusted());
        assert_eq!(apart, verify(&t, &trusted()).map(|_| ()), "byte {at}");
    }
    let mut verification = Verification::start(b, &trusted()).unwrap();
    verification.signatures_verified_elsewhere();
    assert_eq!(verification.stage(), Stage::Manifest);
    let mut last = None;
    for _ in 0..100 {
        match verification.step(b, &trusted(), 4096).unwrap() {
            Progress::Pending(_) => {}
            Progress::Verified(v) => {
                last = Some(v.manifest);
                break;
            }
        }
    }
    assert_eq!(last, Some(manifest_for(&payload())));
}

/// Malformed signature inputs are refused with their reason, never a panic.
#[test]
fn malformed_signature_inputs_are_refused() {
    use tileos_module_bundle::{SIGNATURE_INPUT_HEAD, verify_signatures};
    for len in [0, 1, 31, 32, 95, SIGNATURE_INPUT_HEAD - 1] {
        assert_eq!(
            verify_signatures(&vec![0u8; len], &trusted()),
            Err(VerifyError::Truncated { expected: SIGNATURE_INPUT_HEAD, actual: len })
        );
    }
    assert_eq!(verify_signatures(&vec![0u8; SIGNATURE_INPUT_HEAD], &trusted()), Err(VerifyError::EmptyManifest));
    let huge = vec![0u8; SIGNATURE_INPUT_HEAD + MAX_MANIFEST_LEN + 1];
    assert_eq!(verify_signatures(&huge, &trusted()), Err(VerifyError::ManifestTooLarge((MAX_MANIFEST_LEN + 1) as u32)));
    // The right key id, garbage signatures.
    let mut garbage = vec![0xa5u8; SIGNATURE_INPUT_HEAD + 10];
    garbage[..32].copy_from_slice(&signer().public_keys().key_id());
    assert_eq!(verify_signatures(&garbage, &trusted()), Err(VerifyError::BadEd25519Signature));
}

/// A verification given key ids only (`TrustedSet` for `[Hash]`, read by
/// `trusted_key_ids_from_file` without decoding the keys: the slot manager's): the signer
/// is checked by id (an unknown one refused `UnknownSigner`), a signature step is refused
/// `SignaturesNotChecked`, and once the signatures are marked checked elsewhere the rest
/// verifies as with the keys; a tampered payload is still refused. The ids read from a
/// trusted-key file are the decoded pairs' ids; a file of a bad length is refused.
#[test]
fn a_verification_by_key_ids_checks_everything_but_the_signatures() {
    use tileos_module_bundle::{KeyError, trusted_key_ids_from_file, trusted_keys_file};
    let file = trusted_keys_file(&trusted());
    let ids = trusted_key_ids_from_file(&file).unwrap();
    assert_eq!(ids, trusted().iter().map(TrustedKeys::key_id).collect::<Vec<_>>());
    assert_eq!(trusted_key_ids_from_file(&file[1..]), Err(KeyError::BadMlDsaKeyLength));
    let b = bundle();
    let other_ids = vec![other().public_keys().key_id()];
    assert!(matches!(Verification::start(b, &other_ids), Err(VerifyError::UnknownSigner)));
    let mut verification = Verification::start(b, &ids).unwrap();
    assert!(matches!(verification.step(b, &ids, 4096), Err(VerifyError::SignaturesNotChecked)));
    verification.signatures_verified_elsewhere();
    let run = |mut verification: Verification, bytes: &[u8]| {
        for _ in 0..100 {
            match verification.step(bytes, &ids, 4096)? {
                Progress::Pending(_) => {}
                Progress::Verified(v) => return Ok(v.manifest),
            }
        }
        panic!("no verdict in 100 steps")
    };
    assert_eq!(run(verification.clone(), b), Ok(manifest_for(&payload())));
    let mut tampered = b.to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(run(verification, &tampered), Err(VerifyError::ContentHashMismatch));
}
