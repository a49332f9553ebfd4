//! Every demo bundle, built over a stand-in payload, verifies exactly as its spec says: the
//! good ones verify with the trusted dev keys, the greedy one verifies but asks for a
//! capability outside the allowance, and the unsigned, wrong-key and tampered ones fail with
//! their precise `VerifyError`. (`make bundles` checks the real files the same way.)

use std::sync::OnceLock;

use tileos_bundle_tool::{
    Context, DEMO_ALLOWANCE, Expect, GREEDY_ENDPOINT, SPECS, Spec, check, make, outcome, outside_allowance, test_counts, trusted_file,
};
use tileos_module_bundle::{BundleSigner, TestCounts, TrustedKeys, VerifyError, content_hash, dev_keys, verify};

fn signer() -> &'static BundleSigner {
    static SIGNER: OnceLock<BundleSigner> = OnceLock::new();
    SIGNER.get_or_init(dev_keys::bundle_signer)
}

fn untrusted() -> &'static BundleSigner {
    static SIGNER: OnceLock<BundleSigner> = OnceLock::new();
    SIGNER.get_or_init(dev_keys::untrusted_signer)
}

/// The keys an image trusts (the committed dev file).
fn trusted() -> Vec<TrustedKeys> {
    dev_keys::trusted_bundle_keys().expect("the committed dev keys decode")
}

fn payload(program: &str) -> Vec<u8> {
    let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
    elf.extend(program.bytes().cycle().take(4000));
    elf
}

fn context() -> Context {
    Context {
        toolchain: "rustc 1.0.0 (test)".into(),
        parent: content_hash(&payload("checksum-v1")),
        tests: TestCounts { passed: 3, failed: 0, ignored: 0 },
    }
}

fn bundle(name: &str) -> (&'static Spec, Vec<u8>) {
    let spec = SPECS.iter().find(|spec| spec.bundle == name).unwrap();
    (spec, make(spec, &payload(spec.program), &context(), signer(), untrusted()).unwrap())
}

#[test]
fn every_bundle_verifies_as_its_spec_says() {
    for spec in SPECS {
        let (_, bytes) = bundle(spec.bundle);
        assert_eq!(check(spec, &bytes, &trusted()), Ok(()));
    }
    let names: Vec<&str> = SPECS.iter().map(|spec| spec.bundle).collect();
    for required in [
        "checksum-fast",
        "checksum-wrong",
        "checksum-crash",
        "checksum-hang",
        "checksum-padded",
        "checksum-noisy-fast",
        "checksum-noisy-wrong",
        "checksum-slow",
        "checksum-greedy",
        "checksum-unsigned",
        "checksum-wrongkey",
        "checksum-tampered",
        "checksum-big",
    ] {
        assert!(names.contains(&required), "{required}");
    }
}

#[test]
fn the_good_bundle_carries_a_real_manifest() {
    let (spec, bytes) = bundle("checksum-fast");
    let verified = verify(&bytes, &trusted()).unwrap();
    let manifest = &verified.manifest;
    assert_eq!(manifest.name, "checksum");
    assert_eq!(manifest.version, spec.version);
    assert_eq!(manifest.lineage.id, "checksum-slice-by-8");
    assert_eq!(manifest.lineage.parent, Some(content_hash(&payload("checksum-v1"))));
    assert_eq!(manifest.provenance.model_id, "hand-written (tileos demo, no model)");
    assert_eq!(manifest.provenance.prompt_hash, content_hash(spec.description.as_bytes()));
    assert_eq!(manifest.content_hash, content_hash(&payload("checksum-fast")));
    assert_eq!(verified.payload, payload("checksum-fast").as_slice());
    assert_eq!(manifest.evidence.tests.passed, 3);
    assert_eq!(verified.signer, signer().public_keys().key_id());
    assert!(outside_allowance(manifest, DEMO_ALLOWANCE).is_empty());
}

#[test]
fn the_lineage_b_bundle_starts_its_own_lineage() {
    let (_, bytes) = bundle("checksum-lineage-b");
    let manifest = verify(&bytes, &trusted()).unwrap().manifest;
    assert_eq!((manifest.lineage.id.as_str(), manifest.lineage.parent, manifest.lineage.generation), ("checksum-nibble", None, 0));
}

#[test]
fn greedy_verifies_but_asks_for_the_store() {
    let (_, bytes) = bundle("checksum-greedy");
    let verified = verify(&bytes, &trusted()).expect("greedy is properly signed");
    assert_eq!(outside_allowance(&verified.manifest, DEMO_ALLOWANCE), vec![GREEDY_ENDPOINT.to_string()]);
    assert_eq!(outcome(&bytes, &trusted()), Ok(Expect::OutsideAllowance(GREEDY_ENDPOINT)));
}

#[test]
fn the_bad_bundles_fail_precisely() {
    assert_eq!(verify(&bundle("checksum-unsigned").1, &trusted()).unwrap_err(), VerifyError::BadEd25519Signature);
    assert_eq!(verify(&bundle("checksum-wrongkey").1, &trusted()).unwrap_err(), VerifyError::UnknownSigner);
    assert_eq!(verify(&bundle("checksum-tampered").1, &trusted()).unwrap_err(), VerifyError::ContentHashMismatch);
    // The wrong-key bundle is well signed: trusting its signer makes it verify.
    let untrusted = [untrusted().public_keys().clone()];
    assert!(verify(&bundle("checksum-wrongkey").1, &untrusted).is_ok());
}

#[test]
fn the_trusted_file_is_the_committed_dev_file() {
    assert_eq!(trusted_file(signer()), dev_keys::DEV_TRUSTED_BUNDLE_KEYS);
}

#[test]
fn test_counts_sum_cargo_output() {
    let output = "running 9 tests\n.........\ntest result: ok. 9 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.10s\n\ntest result: ok. 8 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.04s\n";
    assert_eq!(test_counts(output), TestCounts { passed: 17, failed: 2, ignored: 1 });
}
