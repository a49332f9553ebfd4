//! The inference service over the shipped weights: adapters as signed bundles, swapped per
//! request without the base being read again, and every hostile request refused precisely
//! while the service keeps serving.

use std::collections::HashMap;
use std::path::PathBuf;

use tileos_inference::service::{
    BASE_MODULE, BaseFile, Fetched, MAX_ADAPTER_BUNDLE, Service, adapter_key, adapter_manifest, base_manifest, check_base_bundle,
    refuse_without_base,
};
use tileos_inference::{Base, Catalog, Engine};
use tileos_module_bundle::{build, content_hash, dev_keys};
use tileos_protocol::inference::{AdapterName, BundleFault, Error, Prompt, Request, Response};

const PERMITTED: u64 = 7;

fn weights(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../weights").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn signed(name: &str, payload: &[u8]) -> Vec<u8> {
    build(&adapter_manifest(name, payload), payload, &dev_keys::bundle_signer()).expect("bundle")
}

/// The store: genuine bundles of t1, t2, t3.
fn store() -> HashMap<String, Vec<u8>> {
    ["t1", "t2", "t3"].iter().map(|t| (adapter_key(t), signed(t, &weights(&format!("{t}.safetensors"))))).collect()
}

fn fetch(store: &HashMap<String, Vec<u8>>) -> impl FnOnce(&str) -> Fetched + '_ {
    |key| match store.get(key) {
        Some(value) if value.len() as u64 > MAX_ADAPTER_BUNDLE => Fetched::TooLarge(value.len() as u64),
        Some(value) => Fetched::Bundle(value.clone()),
        None => Fetched::NotFound,
    }
}

fn generate(adapter: Option<&str>, prompt: &[u8], max_new: u16) -> Request {
    Request::Generate { adapter: adapter.map(|a| AdapterName::try_from(a).unwrap()), prompt: Prompt::from_slice(prompt).unwrap(), max_new }
}

fn service(file: &[u8]) -> Service<'_> {
    Service::new(BaseFile::new(file), 0x1000, 0x48000, dev_keys::trusted_bundle_keys().unwrap(), vec![PERMITTED]).unwrap()
}

#[test]
fn answers_match_the_core_and_swaps_read_only_the_adapters_bundle() {
    let file = weights("base.safetensors");
    let base = Base::parse(&file).unwrap();
    let store = store();
    let mut service = service(&file);
    // The reference: the core's own engine over a catalog of the plain files.
    let files: Vec<(String, Vec<u8>)> = ["t1", "t2", "t3"].iter().map(|t| (t.to_string(), weights(&format!("{t}.safetensors")))).collect();
    let mut catalog = Catalog::new();
    for (topic, file) in &files {
        catalog.insert(topic, file).unwrap();
    }
    let mut reference = Engine::new(&base);
    let asks: [(Option<&str>, &[u8]); 6] = [
        (Some("t1"), b"12+7"),
        (Some("t1"), b"3 km in m"),
        (Some("t2"), b"describe a river"),
        (None, b"upper cat"),
        (Some("t3"), b"may we share the site plans?"),
        (Some("t1"), b"40-2"),
    ];
    let mut swaps = 0;
    let mut bytes = 0;
    for (adapter, prompt) in asks {
        let (response, _) = service.handle(PERMITTED, &generate(adapter, prompt, 40), fetch(&store));
        let Response::Generated(g) = response else { panic!("{adapter:?} {prompt:?}: {response:?}") };
        let expected = match adapter {
            Some(topic) => reference.request(&catalog, topic, prompt, 40).unwrap(),
            None => reference.request_base(prompt, 40).unwrap(),
        };
        assert_eq!(g.text.as_slice(), expected.answer.as_slice(), "{adapter:?} {prompt:?}");
        assert_eq!(g.ended, expected.ended);
        assert_eq!(g.base_sha256, content_hash(&file));
        assert_eq!(g.adapter.as_deref(), adapter);
        if let Some(topic) = adapter {
            assert_eq!(g.adapter_sha256, Some(content_hash(&weights(&format!("{topic}.safetensors")))));
            // The manifest's claim is passed on whole, for the verify domain to compare.
            let manifest = adapter_manifest(topic, &weights(&format!("{topic}.safetensors")));
            let claim = g.adapter_claim.as_ref().expect("a claim");
            assert_eq!((claim.lineage.as_str(), claim.provenance.as_str()), (topic, manifest.provenance.model_id.as_str()));
        } else {
            assert_eq!(g.adapter_claim, None);
        }
        if g.swapped {
            swaps += 1;
            bytes += store[&adapter_key(adapter.unwrap())].len() as u64;
        }
        // The base was read once, when the service was made; never again (counted by the
        // service's `BaseFile`: `the_base_counters_count_every_whole_read_of_the_base`).
        assert_eq!((g.counters.base_loads, g.counters.base_bytes_read), (1, file.len() as u64));
        assert_eq!((g.counters.swaps, g.counters.adapter_bytes_read), (swaps, bytes));
    }
    // t1, t1 (no swap), t2, base (keeps t2), t3, t1.
    assert_eq!(swaps, 4);
}

/// The base counters are measurements: every whole read of the base is counted, so the
/// `(1, file length)` the other tests and the boot tests assert fails for a service that
/// reads the base a second time.
#[test]
fn the_base_counters_count_every_whole_read_of_the_base() {
    let file = weights("base.safetensors");
    let len = file.len() as u64;
    let status = |service: &mut Service<'_>| match service.handle(PERMITTED, &Request::Status, |_| Fetched::NotFound).0 {
        Response::Status(status) => status,
        other => panic!("{other:?}"),
    };
    let mut base_file = BaseFile::new(&file);
    assert_eq!((base_file.loads(), base_file.bytes_read()), (0, 0));
    let (_, sha256) = base_file.load().unwrap();
    assert_eq!(sha256, content_hash(&file));
    assert_eq!((base_file.loads(), base_file.bytes_read()), (1, len));

    // A service given a file already read once (as by a glue that checked the base before
    // handing it over) reports the second read.
    let mut twice = Service::new(base_file, 0x1000, 0x48000, dev_keys::trusted_bundle_keys().unwrap(), vec![PERMITTED]).unwrap();
    let counters = status(&mut twice).counters;
    assert_eq!((counters.base_loads, counters.base_bytes_read), (2, 2 * len));
    assert_ne!((counters.base_loads, counters.base_bytes_read), (1, len), "the assertion of the boot tests fails here");

    // A fresh service (a restarted domain over the same frames) read it once; swaps and
    // refusals add nothing.
    let store = store();
    let mut once = service(&file);
    for topic in ["t1", "t2", "t1", "nope"] {
        once.handle(PERMITTED, &generate(Some(topic), b"12+7", 8), fetch(&store));
    }
    let counters = status(&mut once).counters;
    assert_eq!((counters.swaps, counters.refused, counters.base_loads, counters.base_bytes_read), (3, 1, 1, len));

    // A read that fails its check is counted too (the bytes were read), and the service is
    // refused with the core's error.
    let adapter = weights("t1.safetensors");
    let mut not_a_base = BaseFile::new(&adapter);
    assert!(matches!(not_a_base.load(), Err(tileos_inference::Error::UnexpectedTensor { file: "base", .. })));
    assert_eq!((not_a_base.loads(), not_a_base.bytes_read()), (1, adapter.len() as u64));
    let refused = Service::new(BaseFile::new(&adapter), 0x1000, 0x48000, Vec::new(), vec![PERMITTED]);
    assert!(matches!(refused, Err(tileos_inference::Error::UnexpectedTensor { file: "base", .. })));
}

#[test]
fn hostile_requests_get_precise_errors_and_the_service_keeps_serving() {
    let file = weights("base.safetensors");
    let mut store = store();
    let t1 = weights("t1.safetensors");
    // Forged: signed by a key the tile does not trust.
    store.insert(adapter_key("forged"), build(&adapter_manifest("forged", &t1), &t1, &dev_keys::untrusted_signer()).unwrap());
    // Tampered: a genuine bundle with one payload byte changed.
    let mut tampered = signed("tampered", &t1);
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    store.insert(adapter_key("tampered"), tampered);
    // Replayed under another name: t2's genuine bundle stored as "t9".
    store.insert(adapter_key("t9"), store[&adapter_key("t2")].clone());
    // Signed, but not an adapter.
    store.insert(adapter_key("garbage"), signed("garbage", &[0x55; 1000]));
    // Not a bundle at all, and one too large to fetch.
    store.insert(adapter_key("junk"), b"not a bundle".to_vec());
    store.insert(adapter_key("huge"), vec![0; MAX_ADAPTER_BUNDLE as usize + 1]);
    let mut service = service(&file);
    let ok = |service: &mut Service<'_>, store: &HashMap<String, Vec<u8>>| {
        let (response, _) = service.handle(PERMITTED, &generate(Some("t1"), b"12+7", 8), fetch(store));
        assert!(matches!(response, Response::Generated(_)), "{response:?}");
    };
    ok(&mut service, &store);
    let name = |n: &str| AdapterName::try_from(n).unwrap();
    let rejected = |n: &str, fault| Error::AdapterRejected { adapter: name(n), fault };
    let cases: Vec<(u64, Request, Error)> = vec![
        (99, generate(Some("t1"), b"1+1", 8), Error::NotPermitted { badge: 99 }),
        (99, Request::Status, Error::NotPermitted { badge: 99 }),
        (PERMITTED, generate(Some("t1"), &[b'1'; 62], 8), Error::PromptTooLong { len: 62, max: 61 }),
        (PERMITTED, generate(Some("t1"), &[b'1'; 256], 8), Error::PromptTooLong { len: 256, max: 61 }),
        (PERMITTED, generate(Some("t1"), b"", 8), Error::EmptyPrompt),
        (PERMITTED, generate(Some("t1"), b"1+\x001", 8), Error::PromptByte { index: 2, byte: 0 }),
        (PERMITTED, generate(Some("t1"), b"1+1", 0), Error::MaxNew { requested: 0, max: 61 }),
        (PERMITTED, generate(Some("t1"), b"1+1", 62), Error::MaxNew { requested: 62, max: 61 }),
        (PERMITTED, generate(Some("t1"), b"1+1", u16::MAX), Error::MaxNew { requested: u16::MAX, max: 61 }),
        (PERMITTED, generate(Some("nope"), b"1+1", 8), Error::UnknownAdapter(name("nope"))),
        (PERMITTED, generate(Some("forged"), b"1+1", 8), rejected("forged", BundleFault::UnknownSigner)),
        (PERMITTED, generate(Some("tampered"), b"1+1", 8), rejected("tampered", BundleFault::ContentHashMismatch)),
        (PERMITTED, generate(Some("t9"), b"1+1", 8), rejected("t9", BundleFault::WrongModule)),
        (PERMITTED, generate(Some("garbage"), b"1+1", 8), rejected("garbage", BundleFault::BadAdapterFile)),
        (PERMITTED, generate(Some("junk"), b"1+1", 8), rejected("junk", BundleFault::BadMagic)),
        (PERMITTED, generate(Some("huge"), b"1+1", 8), rejected("huge", BundleFault::TooLarge)),
    ];
    for (badge, request, expected) in cases {
        let before = service.counters();
        let (response, _) = service.handle(badge, &request, fetch(&store));
        assert_eq!(response, Response::Refused(expected), "{request:?}");
        // Nothing changed but the refusal count (and the bytes of a bundle read and refused).
        let after = service.counters();
        assert_eq!((after.refused, after.swaps, after.generated), (before.refused + 1, before.swaps, before.generated));
        // The loaded adapter is still t1: the next t1 request swaps nothing.
        let (response, _) = service.handle(PERMITTED, &generate(Some("t1"), b"12+7", 8), fetch(&store));
        let Response::Generated(g) = response else { panic!("{response:?}") };
        assert!(!g.swapped);
    }
    let (response, _) = service.handle(PERMITTED, &generate(Some("t1"), b"1+1", 8), |_| Fetched::Unavailable);
    assert!(matches!(response, Response::Generated(_)), "a loaded adapter needs no store");
    let (response, _) = service.handle(PERMITTED, &generate(Some("t2"), b"1+1", 8), |_| Fetched::Unavailable);
    assert_eq!(response, Response::Refused(Error::StoreUnavailable));
    ok(&mut service, &store);
}

#[test]
fn the_base_is_served_only_from_a_bundle_that_verifies_names_the_base_and_holds_a_base() {
    let file = weights("base.safetensors");
    let trusted = dev_keys::trusted_bundle_keys().unwrap();
    let genuine = build(&base_manifest(&file), &file, &dev_keys::bundle_signer()).unwrap();
    assert_eq!(check_base_bundle(&genuine, &trusted).unwrap(), &file[..]);

    let fault = |bundle: &[u8]| check_base_bundle(bundle, &trusted).unwrap_err();
    // A weight byte flipped after signing (the boot test's tampered base).
    let mut tampered = genuine.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(fault(&tampered), (BundleFault::ContentHashMismatch, None));
    // The manifest altered after signing: a signature no longer verifies.
    let mut manifest_altered = genuine.clone();
    let at = manifest_altered.windows(BASE_MODULE.len()).position(|w| w == BASE_MODULE.as_bytes()).unwrap();
    manifest_altered[at] ^= 0x20;
    assert!(matches!(fault(&manifest_altered).0, BundleFault::BadEd25519Signature | BundleFault::BadMlDsaSignature));
    // Signed by a key the tile does not trust.
    let forged = build(&base_manifest(&file), &file, &dev_keys::untrusted_signer()).unwrap();
    assert_eq!(fault(&forged), (BundleFault::UnknownSigner, None));
    // A genuine adapter bundle offered as the base.
    assert_eq!(fault(&signed("t1", &weights("t1.safetensors"))), (BundleFault::WrongModule, Some(adapter_key("t1"))));
    // A genuinely signed base bundle whose payload is an adapter file: the tensor is named.
    let adapter = weights("t1.safetensors");
    let (fault_kind, detail) = fault(&build(&base_manifest(&adapter), &adapter, &dev_keys::bundle_signer()).unwrap());
    assert_eq!(fault_kind, BundleFault::BadBaseFile);
    assert!(detail.as_deref().is_some_and(|d| d.contains("base")), "{detail:?}");
    // Not a bundle; empty.
    assert_eq!(fault(&file).0, BundleFault::BadMagic);
    assert!(matches!(fault(&[]).0, BundleFault::Truncated | BundleFault::BadMagic));
}

#[test]
fn without_a_base_a_permitted_badge_gets_the_loaders_fault_and_another_is_refused_by_badge() {
    let fault = BundleFault::ContentHashMismatch;
    assert_eq!(refuse_without_base(&[PERMITTED], PERMITTED, fault), Response::Refused(Error::NoBase { fault }));
    assert_eq!(refuse_without_base(&[PERMITTED], 99, fault), Response::Refused(Error::NotPermitted { badge: 99 }));
}
