//! The verifier's side against a hostile or broken manager (malformed replies, oversized and
//! "negative" lengths, chunks out of order, refusals) and the wire format's round trips:
//! every fault ends in a `Ready` naming its reason, never a panic, and the next job works.
//! ML-DSA is slow in debug builds: the signed fixture is made once.

use std::sync::OnceLock;

use tileos_bundle_verifier::{
    CHUNK, CHUNK_BYTES, Call, CallError, DropReason, READY, REFUSED, VERDICT, Verdict, Verifier, chunk, decode_work, job_id, refused,
};
use tileos_module_bundle::{
    BundleSigner, Evidence, Lineage, MAX_SIGNATURE_INPUT, Manifest, Provenance, TestCounts, TrustedKeys, Version, build, content_hash,
    signature_input,
};

fn signer() -> &'static BundleSigner {
    static S: OnceLock<BundleSigner> = OnceLock::new();
    S.get_or_init(|| BundleSigner::from_seeds(&[7; 32], &[8; 32]))
}

fn trusted() -> Vec<TrustedKeys> {
    vec![signer().public_keys().clone()]
}

fn input() -> &'static [u8] {
    static I: OnceLock<Vec<u8>> = OnceLock::new();
    I.get_or_init(|| {
        let payload = b"an ELF, as far as the verifier is concerned".to_vec();
        let manifest = Manifest {
            name: "checksum".into(),
            version: Version { major: 1, minor: 2, patch: 3 },
            lineage: Lineage { id: "a".into(), parent: None, generation: 0 },
            provenance: Provenance { model_id: "hand".into(), prompt_hash: [0; 32], toolchain: "rustc".into() },
            content_hash: content_hash(&payload),
            payload_size: payload.len() as u32,
            capabilities: Vec::new(),
            evidence: Evidence { proofs: Vec::new(), fuzz: Vec::new(), tests: TestCounts { passed: 1, failed: 0, ignored: 0 } },
        };
        signature_input(&build(&manifest, &payload, signer()).unwrap()).unwrap()
    })
}

/// Plays the manager for `input` as job `job` until the verifier's verdict (or anything else
/// than a fetch): the calls it made.
fn run_job(verifier: &mut Verifier, job: u64, input: &[u8]) -> Vec<Call> {
    let mut calls = Vec::new();
    let (mut label, mut words) = chunk(job, input, 0).unwrap();
    loop {
        let call = verifier.handle(label, &words, &trusted());
        calls.push(call);
        match call {
            Call::Fetch { job: j, offset } => {
                assert_eq!(j, job);
                (label, words) = chunk(job, input, offset as usize).unwrap();
            }
            _ => return calls,
        }
    }
}

#[test]
fn a_job_is_fetched_in_order_and_verified() {
    let mut v = Verifier::new();
    assert_eq!(v.first_call(), Call::Ready(DropReason::Started));
    let job = job_id(3, 1);
    let calls = run_job(&mut v, job, input());
    assert_eq!(calls.len(), input().len().div_ceil(CHUNK_BYTES));
    assert_eq!(calls.last(), Some(&Call::Verdict { job, verdict: Verdict::Verified }));
    // The next job works the same (nothing of the last one is kept).
    let calls = run_job(&mut v, job + 1, input());
    assert_eq!(calls.last(), Some(&Call::Verdict { job: job + 1, verdict: Verdict::Verified }));
}

#[test]
fn each_signature_fault_is_named() {
    let mut v = Verifier::new();
    let cases = [(0, Verdict::UnknownSigner), (40, Verdict::BadEd25519Signature), (500, Verdict::BadMlDsaSignature)];
    for (i, (at, verdict)) in cases.into_iter().enumerate() {
        let mut bad = input().to_vec();
        bad[at] ^= 0x20;
        let calls = run_job(&mut v, i as u64 + 10, &bad);
        assert_eq!(calls.last(), Some(&Call::Verdict { job: i as u64 + 10, verdict }), "byte {at}");
    }
    let mut tampered = input().to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1; // the manifest's last byte: signed by both
    assert_eq!(run_job(&mut v, 20, &tampered).last(), Some(&Call::Verdict { job: 20, verdict: Verdict::BadEd25519Signature }));
    // A short input (no manifest) is malformed, not verified.
    let short = &input()[..3405];
    assert_eq!(run_job(&mut v, 21, short).last(), Some(&Call::Verdict { job: 21, verdict: Verdict::MalformedInput }));
}

#[test]
fn malformed_replies_drop_the_job_with_their_reason() {
    let job = 5;
    let (label, good) = chunk(job, input(), 0).unwrap();
    assert_eq!(label, CHUNK);
    let mut cases: Vec<(u64, Vec<u64>)> = vec![
        (0x999, good.clone()),                     // unknown label
        (CHUNK, vec![]),                           // no head
        (CHUNK, good[..3].to_vec()),               // a short head
        (CHUNK, good[..good.len() - 1].to_vec()),  // fewer words than its length says
        (CHUNK, [good.clone(), vec![0]].concat()), // more
        (REFUSED, vec![]),                         // a refusal without its code
        (REFUSED, vec![77]),                       // an unknown code
    ];
    for (length, total, offset) in [
        (0u64, 100u64, 0u64),                   // an empty chunk
        (CHUNK_BYTES as u64 + 1, 4000, 0),      // above the chunk size
        (u64::MAX, 4000, 0),                    // a "negative" length
        (8, 0, 0),                              // a total of 0
        (8, MAX_SIGNATURE_INPUT as u64 + 1, 0), // a total above the largest input
        (8, u64::MAX, 0),                       // a "negative" total
        (8, 100, 96),                           // bytes past the total
        (8, 100, u64::MAX),                     // an offset that overflows
    ] {
        let data = vec![0u64; (length.min(CHUNK_BYTES as u64 + 8) as usize).div_ceil(8)];
        cases.push((CHUNK, [vec![job, total, offset, length], data].concat()));
    }
    for (label, words) in cases {
        let mut v = Verifier::new();
        // Mid-job: the first chunk taken, then the bad reply.
        assert!(matches!(v.handle(CHUNK, &good, &trusted()), Call::Fetch { .. }));
        assert_eq!(v.handle(label, &words, &trusted()), Call::Ready(DropReason::MalformedWork), "{label:#x} {words:?}");
        // It keeps serving: a whole job afterwards verifies.
        assert_eq!(run_job(&mut v, job + 1, input()).last(), Some(&Call::Verdict { job: job + 1, verdict: Verdict::Verified }));
    }
}

#[test]
fn chunks_out_of_order_and_refusals_drop_the_job() {
    let (_, first) = chunk(1, input(), 0).unwrap();
    let (_, second) = chunk(1, input(), CHUNK_BYTES).unwrap();
    // A chunk with no job under way.
    let mut v = Verifier::new();
    assert_eq!(v.handle(CHUNK, &second, &trusted()), Call::Ready(DropReason::ChunkOutOfOrder));
    // Another job's, another offset, another total.
    for bad in [chunk(2, input(), CHUNK_BYTES).unwrap().1, chunk(1, input(), 2 * CHUNK_BYTES).unwrap().1, {
        let mut w = second.clone();
        w[1] += 1;
        w
    }] {
        let mut v = Verifier::new();
        assert!(matches!(v.handle(CHUNK, &first, &trusted()), Call::Fetch { job: 1, .. }));
        assert_eq!(v.handle(CHUNK, &bad, &trusted()), Call::Ready(DropReason::ChunkOutOfOrder));
    }
    // The manager's refusal of a call.
    for error in [CallError::Malformed, CallError::NoJob, CallError::WrongJob, CallError::BadOffset, CallError::Early] {
        let mut v = Verifier::new();
        let (label, words) = refused(error);
        assert_eq!(v.handle(label, &words, &trusted()), Call::Ready(DropReason::Refused(error)));
    }
}

#[test]
fn calls_round_trip_and_malformed_calls_are_refused() {
    let reasons = [
        DropReason::Started,
        DropReason::MalformedWork,
        DropReason::ChunkOutOfOrder,
        DropReason::Refused(CallError::Malformed),
        DropReason::Refused(CallError::Early),
    ];
    let verdicts =
        [Verdict::Verified, Verdict::UnknownSigner, Verdict::BadEd25519Signature, Verdict::BadMlDsaSignature, Verdict::MalformedInput];
    let mut calls: Vec<Call> = reasons.into_iter().map(Call::Ready).collect();
    calls.push(Call::Fetch { job: u64::MAX, offset: 0 });
    calls.extend(verdicts.into_iter().map(|verdict| Call::Verdict { job: 9, verdict }));
    for call in calls {
        let (label, words) = call.encode();
        assert_eq!(Call::decode(label, &words), Ok(call));
    }
    for (label, words) in [
        (READY, vec![]),
        (READY, vec![3]),
        (READY, vec![0x1ff]),
        (READY, vec![0, 0]),
        (VERDICT, vec![9]),
        (VERDICT, vec![9, 5]),
        (VERDICT, vec![9, u64::MAX]),
        (tileos_bundle_verifier::FETCH, vec![1]),
        (CHUNK, vec![1, 2, 3, 4]),
        (0, vec![]),
    ] {
        assert_eq!(Call::decode(label, &words), Err(CallError::Malformed), "{label:#x} {words:?}");
    }
}

#[test]
fn chunks_round_trip_every_length() {
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    for offset in [0, 1, 7, 8, 927, 928, 2999] {
        let (label, words) = chunk(4, &data, offset).unwrap();
        let mut out = [0u8; CHUNK_BYTES];
        match decode_work(label, &words, &mut out) {
            Some(tileos_bundle_verifier::Work::Chunk { job: 4, total: 3000, offset: o, bytes }) => {
                assert_eq!(o, offset);
                assert_eq!(bytes, &data[offset..(offset + CHUNK_BYTES).min(3000)]);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(chunk(4, &data, 3000), None);
    assert_eq!(chunk(4, &[], 0), None);
}
