//! Hostile input on every decoder and checker of `tileos-verify`: arbitrary bytes and text
//! never panic, decoders accept only canonical encodings, a refused write stores nothing,
//! and the arithmetic evaluator agrees with checked `i128` arithmetic.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use tileos_verify::Tier;
use tileos_verify::arith::evaluate;
use tileos_verify::claim::Claim;
use tileos_verify::knowledge::{Fragment, Grant, KnowledgeStore, SignedWrite, WritePolicy};
use tileos_verify::ledger::LedgerEntry;
use tileos_verify::rational::Rational;
use tileos_verify::schema::{Field, FieldKind, Schema, check_record};
use tileos_verify::units::{convert, resolve};

const SCHEMA: Schema = Schema {
    fields: &[
        Field { name: "a", kind: FieldKind::Number { min: Rational::int(-5), max: Rational::int(5), integer: true }, required: true },
        Field { name: "b", kind: FieldKind::Text(8), required: false },
    ],
};

fn store() -> KnowledgeStore {
    let k = SigningKey::from_bytes(&[1; 32]);
    KnowledgeStore::new(WritePolicy {
        grants: vec![Grant { contributor: k.verifying_key().to_bytes(), topics: vec!["t".into()], tiers: vec![Tier::T1] }],
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_writes_never_panic_and_refusals_store_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut s = store();
        if s.write_bytes(&bytes).is_err() {
            prop_assert_eq!(s.size(), 0);
        }
    }

    #[test]
    fn a_single_bit_flip_in_a_signed_write_is_refused(byte in 0usize..80, bit in 0u8..8) {
        let k = SigningKey::from_bytes(&[1; 32]);
        let f = Fragment { topic: "t".into(), tier: Tier::T1, contributor: k.verifying_key().to_bytes(), seq: 0, content: b"forty two".to_vec() };
        let mut bytes = SignedWrite::sign(f, &k).encode();
        let at = byte % bytes.len();
        bytes[at] ^= 1 << bit;
        let mut s = store();
        prop_assert!(s.write_bytes(&bytes).is_err());
        prop_assert_eq!(s.size(), 0);
    }

    #[test]
    fn ledger_decoding_is_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(entry) = LedgerEntry::decode(&bytes) {
            prop_assert_eq!(entry.encode().unwrap(), bytes);
        }
    }

    #[test]
    fn checkers_answer_any_text(text in "[0-9a-zA-Z.+*/^()= ;_-]{0,80}") {
        let _ = evaluate(&text);
        let _ = resolve(&text);
        let _ = convert(Rational::ONE, &text, "m");
        let _ = Claim::parse(&text);
        let _ = check_record(&SCHEMA, &text);
    }

    #[test]
    fn evaluator_agrees_with_checked_integers(a in -10_000i128..10_000, b in -10_000i128..10_000, c in -100i128..100, e in 0u32..4) {
        let expr = format!("({a}) + ({b}) * ({c}) - ({a}) ^ {e}");
        let expected = a + b * c - a.pow(e);
        prop_assert_eq!(evaluate(&expr).unwrap(), Rational::int(expected));
        if b != 0 {
            prop_assert_eq!(evaluate(&format!("({a}) / ({b}) * ({b})")).unwrap(), Rational::int(a));
        }
    }
}
