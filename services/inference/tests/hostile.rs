//! Hostile input to the inference core: malformed weights files (truncated, absurd header,
//! missing, extra, mistyped, misshaped and non-finite tensors), bad prompts, unknown topics;
//! each gets its precise error and the engine keeps serving. Also the adapter swap count.
//!
//! The weights here are synthetic (written by [`file`]), so these tests need no training;
//! the trained weights are checked against the candle reference in tools/trainer's tests.

use tileos_inference::config::{self, CONTEXT, MAX_PROMPT};
use tileos_inference::{Adapter, Base, Catalog, Engine, Error};

/// A safetensors file holding `tensors` (name, dtype, shape, little-endian data), written by
/// hand so that every field can be made wrong.
fn file(tensors: &[(String, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (i, (name, dtype, shape, bytes)) in tensors.iter().enumerate() {
        let start = data.len();
        data.extend_from_slice(bytes);
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!("\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape:?},\"data_offsets\":[{start},{}]}}", data.len()));
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

/// Deterministic small weights for `names` (norm weights at one), with `seed` varying them.
fn tensors(names: Vec<(String, Vec<usize>)>, seed: u32) -> Vec<(String, &'static str, Vec<usize>, Vec<u8>)> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    names
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let bytes = (0..n)
                .flat_map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let v = if name.contains("norm") { 1.0 } else { ((state >> 8) as f32 / (1 << 24) as f32 - 0.5) * 0.6 };
                    v.to_le_bytes()
                })
                .collect();
            (name, "F32", shape, bytes)
        })
        .collect()
}

fn base_file() -> Vec<u8> {
    file(&tensors(config::base_names(), 1))
}

fn adapter_file(seed: u32) -> Vec<u8> {
    file(&tensors(config::adapter_names(), seed))
}

#[test]
fn malformed_containers_are_format_errors() {
    let good = base_file();
    for bad in [&good[..4], &good[..good.len() - 1], &[0xff; 16][..]] {
        assert!(matches!(Base::parse(bad), Err(Error::Format { file: "base", .. })), "{bad:?}");
    }
    let mut huge = good.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(Base::parse(&huge), Err(Error::Format { file: "base", .. })));
    let mut json = good.clone();
    json[8] = b'[';
    assert!(matches!(Base::parse(&json), Err(Error::Format { .. })));
}

#[test]
fn every_tensor_is_checked_by_name_dtype_shape_and_value() {
    let mut t = tensors(config::base_names(), 1);
    let removed = t.remove(3);
    assert_eq!(Base::parse(&file(&t)).err(), Some(Error::MissingTensor { file: "base", name: removed.0.clone() }));

    let mut t = tensors(config::base_names(), 1);
    t.push(("l9.qkv".into(), "F32", vec![1], vec![0; 4]));
    assert_eq!(Base::parse(&file(&t)).err(), Some(Error::UnexpectedTensor { file: "base", name: "l9.qkv".into() }));

    let mut t = tensors(config::base_names(), 1);
    t[0].1 = "I32";
    assert_eq!(Base::parse(&file(&t)).err(), Some(Error::WrongDtype { file: "base", name: "tok_emb".into() }));

    let mut t = tensors(config::base_names(), 1);
    t[1].2 = vec![config::D_MODEL, CONTEXT];
    assert_eq!(
        Base::parse(&file(&t)).err(),
        Some(Error::WrongShape {
            file: "base",
            name: "pos_emb".into(),
            expected: vec![CONTEXT, config::D_MODEL],
            found: vec![config::D_MODEL, CONTEXT],
        })
    );

    let mut t = tensors(config::adapter_names(), 2);
    t[5].3[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    let name = t[5].0.clone();
    assert_eq!(Adapter::parse(&file(&t)).err(), Some(Error::NonFinite { file: "adapter", name, index: 2 }));

    // A file for the other role names the first tensor the role lacks or does not know.
    assert!(matches!(Base::parse(&adapter_file(2)), Err(Error::UnexpectedTensor { file: "base", .. })));
    assert!(matches!(Adapter::parse(&base_file()).err(), Some(Error::UnexpectedTensor { file: "adapter", .. })));
}

#[test]
fn bad_prompts_get_precise_errors_and_the_engine_keeps_serving() {
    let bytes = base_file();
    let base = Base::parse(&bytes).unwrap();
    let mut engine = Engine::new(&base);
    let first = engine.request_base(b"hello", 8).unwrap();
    assert_eq!(engine.request_base(b"", 8), Err(Error::EmptyPrompt));
    let long = vec![b'a'; MAX_PROMPT + 1];
    assert_eq!(engine.request_base(&long, 8), Err(Error::PromptTooLong { len: MAX_PROMPT + 1, max: MAX_PROMPT }));
    assert_eq!(engine.request_base(b"ab\ncd", 8), Err(Error::PromptByte { index: 2, byte: b'\n' }));
    assert_eq!(engine.request_base(b"caf\xc3\xa9", 8), Err(Error::PromptByte { index: 3, byte: 0xc3 }));
    assert_eq!(engine.request_base(b"\x02x", 8), Err(Error::PromptByte { index: 0, byte: 2 }));
    // The refusals changed nothing: the same prompt gets the same answer.
    assert_eq!(engine.request_base(b"hello", 8).unwrap(), first);
}

#[test]
fn generation_stays_within_max_new_and_the_context() {
    let bytes = base_file();
    let base = Base::parse(&bytes).unwrap();
    let mut engine = Engine::new(&base);
    for max_new in [0, 1, 5, 30] {
        let g = engine.request_base(b"count", max_new).unwrap();
        assert!(g.answer.len() <= max_new);
    }
    // The longest prompt leaves CONTEXT - (MAX_PROMPT + 2) positions, plus the last token,
    // which is emitted but never fed back.
    let g = engine.request_base(&[b'z'; MAX_PROMPT], 1000).unwrap();
    assert!(g.answer.len() <= CONTEXT + 1 - (MAX_PROMPT + 2), "{}", g.answer.len());
}

#[test]
fn unknown_topics_and_broken_adapters_are_refused_and_the_loaded_adapter_stays() {
    let bytes = base_file();
    let base = Base::parse(&bytes).unwrap();
    let (t1, broken) = (adapter_file(3), adapter_file(4)[..100].to_vec());
    let mut catalog = Catalog::new();
    catalog.insert("t1", &t1).unwrap();
    catalog.insert("bad", &broken).unwrap();
    assert_eq!(catalog.insert("t1", &t1), Err(Error::DuplicateTopic { topic: "t1".into() }));
    let mut engine = Engine::new(&base);
    let answer = engine.request(&catalog, "t1", b"2+2", 8).unwrap();
    assert_eq!(engine.request(&catalog, "t9", b"2+2", 8), Err(Error::UnknownTopic { topic: "t9".into() }));
    assert!(matches!(engine.request(&catalog, "bad", b"2+2", 8), Err(Error::Format { file: "adapter", .. })));
    let before = engine.stats();
    assert_eq!(engine.request(&catalog, "t1", b"2+2", 8).unwrap(), answer);
    assert_eq!(engine.stats(), before, "t1 is still loaded: no swap");
}

#[test]
fn an_adapter_changes_answers_only_through_its_delta() {
    let bytes = base_file();
    let base = Base::parse(&bytes).unwrap();
    // B = 0 makes the delta zero: the answer is the base's.
    let mut zero = tensors(config::adapter_names(), 5);
    for t in zero.iter_mut().filter(|t| t.0.ends_with(".b")) {
        t.3.fill(0);
    }
    let zero = file(&zero);
    let strong = adapter_file(6);
    let mut catalog = Catalog::new();
    catalog.insert("zero", &zero).unwrap();
    catalog.insert("strong", &strong).unwrap();
    let mut engine = Engine::new(&base);
    let prompts: [&[u8]; 4] = [b"hello", b"12+7", b"describe a river", b"policy: may we?"];
    let mut differs = 0;
    for p in prompts {
        let plain = engine.request_base(p, 20).unwrap();
        assert_eq!(engine.request(&catalog, "zero", p, 20).unwrap(), plain);
        differs += usize::from(engine.request(&catalog, "strong", p, 20).unwrap() != plain);
    }
    assert!(differs > 0, "a non-zero adapter changed no answer");
}

#[test]
fn swaps_read_only_the_adapter_never_the_base() {
    let bytes = base_file();
    let base = Base::parse(&bytes).unwrap();
    let (a, b) = (adapter_file(7), adapter_file(8));
    let mut catalog = Catalog::new();
    catalog.insert("t1", &a).unwrap();
    catalog.insert("t2", &b).unwrap();
    let mut engine = Engine::new(&base);
    for topic in ["t1", "t1", "t2", "t1", "t2", "t2"] {
        engine.request(&catalog, topic, b"x", 2).unwrap();
    }
    let stats = engine.stats();
    assert_eq!(stats.swaps, 4);
    assert_eq!(stats.adapter_bytes_read, (2 * a.len() + 2 * b.len()) as u64);
    assert!(a.len() * 8 < bytes.len(), "an adapter ({}) is far smaller than the base ({})", a.len(), bytes.len());
}
