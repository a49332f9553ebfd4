//! A specialist's lineage and provenance in the signed tile policy against its adapter's
//! signed bundle manifest (`tileos_verify_service::provenance`), on bundles signed as the
//! image build signs them (`tileos_inference::service::adapter_manifest`, DEV ONLY key):
//! every shipped adapter matches; a bundle claiming another lineage, another provenance,
//! none or two is refused naming the specialist and both values; a forged or tampered
//! bundle fails its verification before any comparison.

use tileos_inference::service::{adapter_manifest, adapter_provenance};
use tileos_module_bundle::{Manifest, VerifyError, build, dev_keys as bundle_keys};
use tileos_router::Policy;
use tileos_verify_service::dev_keys;
use tileos_verify_service::provenance::{Claim, Mismatch, Refusal, check, check_bundle};

fn policy() -> Policy {
    let signature = dev_keys::tile_policy_signature().expect("signature");
    Policy::verify_and_parse(dev_keys::TILE_POLICY.as_bytes(), &signature, &dev_keys::policy_signer().verifying_key()).expect("policy")
}

fn weights(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../weights/{name}.safetensors", env!("CARGO_MANIFEST_DIR"))).expect("weights file")
}

/// Adapter `name`'s bundle with its manifest changed by `edit`, signed with the DEV key.
fn bundle(name: &str, edit: impl FnOnce(&mut Manifest)) -> Vec<u8> {
    let payload = weights(name);
    let mut manifest = adapter_manifest(name, &payload);
    edit(&mut manifest);
    build(&manifest, &payload, &bundle_keys::bundle_signer()).expect("bundle")
}

fn trusted() -> Vec<tileos_module_bundle::TrustedKeys> {
    bundle_keys::trusted_bundle_keys().expect("keys")
}

#[test]
fn every_shipped_adapter_matches_its_specialists() {
    let policy = policy();
    for name in ["t1", "t2", "t2b", "t2c", "t3"] {
        assert_eq!(check_bundle(&policy, name, &bundle(name, |_| {}), &trusted()), Ok(()), "{name}");
    }
    // The policy's provenance is the one the build signs.
    for s in &policy.specialists {
        assert_eq!(adapter_provenance(&s.adapter), s.provenance, "{}", s.name);
    }
}

#[test]
fn an_adapter_no_specialist_names_has_nothing_to_match() {
    assert_eq!(check_bundle(&policy(), "t1-backdoor", &bundle("t1-backdoor", |_| {}), &trusted()), Ok(()));
}

#[test]
fn another_lineage_is_refused_naming_both() {
    let b = bundle("t2c", |m| m.lineage.id = "t2".into());
    let expected = Mismatch::LineageMismatch { specialist: "t2c".into(), policy: "t2c".into(), manifest: "t2".into() };
    assert_eq!(check_bundle(&policy(), "t2c", &b, &trusted()), Err(Refusal::Mismatch(expected.clone())));
    assert_eq!(expected.to_string(), "specialist 't2c': policy lineage 't2c', manifest lineage 't2'");
}

#[test]
fn another_provenance_is_refused_naming_both() {
    // t2 signed as if it came from t2b's provenance: a panel would count it as diverse.
    let b = bundle("t2", |m| m.provenance.model_id = m.provenance.model_id.replace("provenance tile", "provenance tile-b"));
    let expected = Mismatch::ProvenanceMismatch { specialist: "t2".into(), policy: "tile".into(), manifest: "tile-b".into() };
    assert_eq!(check_bundle(&policy(), "t2", &b, &trusted()), Err(Refusal::Mismatch(expected.clone())));
    assert_eq!(expected.to_string(), "specialist 't2': policy provenance 'tile', manifest provenance 'tile-b'");
    // A tag that only starts like the policy's is another tag.
    let b = bundle("t3", |m| m.provenance.model_id = m.provenance.model_id.replace("provenance tile", "provenance tile2"));
    assert!(matches!(check_bundle(&policy(), "t3", &b, &trusted()), Err(Refusal::Mismatch(Mismatch::ProvenanceMismatch { .. }))));
}

#[test]
fn a_manifest_without_the_provenance_item_is_refused() {
    let b = bundle("t3", |m| m.provenance.model_id = m.provenance.model_id.replace(", provenance tile", ""));
    let expected = Mismatch::ProvenanceMissing { specialist: "t3".into(), policy: "tile".into() };
    assert_eq!(check_bundle(&policy(), "t3", &b, &trusted()), Err(Refusal::Mismatch(expected)));
    // The tag only counts as its own item, not inside another.
    let claim = Claim { lineage: "t3", provenance: "recipe, corpus provenance tile" };
    assert!(matches!(check(&policy(), "t3", claim), Err(Mismatch::ProvenanceMissing { .. })));
    let claim = Claim { lineage: "t3", provenance: "" };
    assert!(matches!(check(&policy(), "t3", claim), Err(Mismatch::ProvenanceMissing { .. })));
}

#[test]
fn two_provenance_items_are_refused() {
    let claim = Claim { lineage: "t2b", provenance: "recipe, provenance tile-b, provenance tile" };
    let expected = Mismatch::ProvenanceAmbiguous { specialist: "t2b".into(), policy: "tile-b".into() };
    assert_eq!(check(&policy(), "t2b", claim), Err(expected));
}

#[test]
fn a_forged_or_tampered_bundle_fails_before_the_comparison() {
    let payload = weights("t2");
    // Signed by an untrusted key, claiming another provenance: the signer is refused.
    let mut manifest = adapter_manifest("t2", &payload);
    manifest.provenance.model_id = manifest.provenance.model_id.replace("provenance tile", "provenance tile-b");
    let forged = build(&manifest, &payload, &bundle_keys::untrusted_signer()).unwrap();
    assert_eq!(check_bundle(&policy(), "t2", &forged, &trusted()), Err(Refusal::Bundle(VerifyError::UnknownSigner)));
    // A genuine bundle whose manifest text was edited after signing: a signature fails.
    let mut tampered = bundle("t2", |_| {});
    let at = tampered.windows(15).position(|w| w == b"provenance tile").expect("the item") + 14;
    tampered[at] = b'x';
    assert!(matches!(
        check_bundle(&policy(), "t2", &tampered, &trusted()),
        Err(Refusal::Bundle(VerifyError::BadEd25519Signature | VerifyError::BadMlDsaSignature))
    ));
}
