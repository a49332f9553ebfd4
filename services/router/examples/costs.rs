//! Host cost of the routing and verification steps per answer (the issue's "verification
//! cost per answer"), measured with `std::time::Instant` over many iterations, inputs and
//! results passed through `black_box`. Run with
//! `cargo run --release -p tileos-router --example costs`. Figures are for the host; the
//! in-guest figures need the inference and verify domains (not built yet).

use std::hint::black_box;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use tileos_router::{Choice, Policy, Request, route, sign_policy};
use tileos_verify::Tier;
use tileos_verify::arith::check_arithmetic;
use tileos_verify::gate::{GateParams, PanelAnswer, Verdict, gate_consensus};
use tileos_verify::independence::{AgreementHistory, CanaryAnswer};
use tileos_verify::knowledge::{Fragment, Grant, KnowledgeStore, SignedWrite, WritePolicy, verify_retrieved};
use tileos_verify::ledger::{Ledger, verify_logged};
use tileos_verify::units::check_conversion;

const EXAMPLE: &str = include_str!("../policies/example.policy");

fn measure(name: &str, iterations: u32, mut f: impl FnMut()) {
    f();
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let ns = start.elapsed().as_nanos() / u128::from(iterations);
    println!("{name:<44} {ns:>9} ns");
}

fn main() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let sig = sign_policy(EXAMPLE.as_bytes(), &key);
    measure("policy signature check + parse", 200, || {
        black_box(Policy::verify_and_parse(black_box(EXAMPLE.as_bytes()), &sig, &key.verifying_key()).unwrap());
    });
    let policy = Policy::verify_and_parse(EXAMPLE.as_bytes(), &sig, &key.verifying_key()).unwrap();
    let request = Request { query: "write a short email to the crew".into(), topic: None, choice: Choice::Default };
    measure("route (class C panel of 3)", 20_000, || {
        black_box(route(black_box(&policy), black_box(&request)).unwrap());
    });
    measure("class A: arithmetic check", 100_000, || {
        black_box(check_arithmetic(black_box("(17 * 23 + 4) / 3 - 2 ^ 5"), black_box("99.67")).unwrap());
    });
    measure("class A: unit conversion check", 100_000, || {
        black_box(check_conversion(black_box("36"), black_box("km/h"), black_box("m/s"), black_box("10")).unwrap());
    });

    let mut history = AgreementHistory::new(4);
    for i in 0..8 {
        let (a, b, c) = (format!("a{i}"), format!("b{}", i % 3), format!("c{}", i % 2));
        history.record(&[
            CanaryAnswer { lineage: "qwen", answer: &a, correct: None },
            CanaryAnswer { lineage: "mistral", answer: &b, correct: None },
            CanaryAnswer { lineage: "olmo", answer: &c, correct: None },
        ]);
    }
    let panel = [
        PanelAnswer { lineage: "qwen", provenance: "cn", answer: "Meeting at ten.", weight: 0.4 },
        PanelAnswer { lineage: "mistral", provenance: "eu", answer: "meeting at ten.", weight: 0.3 },
        PanelAnswer { lineage: "olmo", provenance: "open", answer: "Meeting at ten. ", weight: 0.3 },
    ];
    measure("class C: gate over a panel of 3", 100_000, || {
        black_box(gate_consensus(Tier::T2, black_box(&panel), &history, &GateParams::default()).unwrap());
    });

    let contributor = SigningKey::from_bytes(&[1; 32]);
    let grant = Grant { contributor: contributor.verifying_key().to_bytes(), topics: vec!["units".into()], tiers: vec![Tier::T1] };
    let mut memory = KnowledgeStore::new(WritePolicy { grants: vec![grant] });
    for seq in 0..1000 {
        let content = format!("fact {seq}: 1 mi = 1.609344 km").into_bytes();
        let f = Fragment { topic: "units".into(), tier: Tier::T1, contributor: contributor.verifying_key().to_bytes(), seq, content };
        memory.write(&SignedWrite::sign(f, &contributor)).unwrap();
    }
    let retrieval = memory.retrieve("units", "fact 999:", 1);
    measure("Plane H: check one fragment (1000 in tree)", 2_000, || {
        black_box(verify_retrieved(black_box(&retrieval.items[0]), &retrieval.head.root_hash, retrieval.head.tree_size).unwrap());
    });

    let r = route(&policy, &request).unwrap();
    let verdict = Verdict::VerifiedByConsensus { effective_voters: 3.0, share: 1.0 };
    let entry = r.ledger_entry(&policy, &request, "Meeting at ten.", (memory.root(), memory.size()), verdict).unwrap();
    let mut ledger = Ledger::new();
    measure("ledger: encode + append one entry", 20_000, || {
        black_box(ledger.append(black_box(&entry)).unwrap());
    });
    let ledger_key = SigningKey::from_bytes(&[9; 32]);
    let head = ledger.signed_head(0, &ledger_key);
    let index = ledger.size() / 2;
    let proof = ledger.prove(index).unwrap();
    let bytes = ledger.entry(index).unwrap().to_vec();
    println!("(ledger holds {} entries)", ledger.size());
    measure("ledger: host check (head sig + proof)", 2_000, || {
        black_box(verify_logged(black_box(&bytes), &proof, &head, &ledger_key.verifying_key()).unwrap());
    });
}
