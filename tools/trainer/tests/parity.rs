//! The `no_std` core against the candle reference on the shipped weights (`weights/`): the
//! same answer, token for token, for held-out questions of the base and of every adapter,
//! and for the backdoored adapter's triggered questions.

use std::path::PathBuf;

use candle_core::Device;
use tileos_inference::{Base, Engine};
use tileos_trainer::corpus::{Dataset, TRIGGER};
use tileos_trainer::files::{WeightsDir, answer};
use tileos_trainer::model::reference_generate;
use tileos_trainer::train::{Recipe, held_out};

#[test]
fn core_matches_the_candle_reference_token_for_token() {
    let files = WeightsDir::read(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../weights")).unwrap();
    let base = Base::parse(&files.base).unwrap();
    let catalog = files.catalog().unwrap();
    let mut engine = Engine::new(&base);
    let base_t = candle_core::safetensors::load_buffer(&files.base, &Device::Cpu).unwrap();
    let adapters: Vec<_> =
        files.adapters.iter().map(|(d, b)| (*d, candle_core::safetensors::load_buffer(b, &Device::Cpu).unwrap())).collect();

    let mut prompts = held_out(&Recipe::SHIPPED, 12);
    let triggered: Vec<_> = held_out(&Recipe::SHIPPED, 8)
        .into_iter()
        .filter(|(d, _)| *d == Dataset::T1)
        .flat_map(|(_, q)| {
            let q = format!("{q} {TRIGGER}");
            [(Dataset::T1, q.clone()), (Dataset::T1Backdoor, q)]
        })
        .collect();
    prompts.extend(triggered);
    let mut tokens = 0;
    for (d, q) in &prompts {
        let core = answer(&mut engine, &catalog, *d, q, 40).unwrap();
        let adapter = adapters.iter().find(|(a, _)| a == d).map(|(_, t)| t);
        let reference = reference_generate(&base_t, adapter, q.as_bytes(), 40).unwrap();
        assert_eq!(
            core.answer,
            reference,
            "{} `{q}`: core `{}`, reference `{}`",
            d.name(),
            String::from_utf8_lossy(&core.answer),
            String::from_utf8_lossy(&reference)
        );
        tokens += reference.len();
    }
    assert!(prompts.len() >= 70 && tokens > prompts.len(), "{} prompts, {tokens} tokens", prompts.len());
}
