//! `tileos-trainer`: trains the base and the adapters (`train`), checks a fresh training
//! against the shipped weights (`check`, what `make weights` runs) and measures the `no_std`
//! core against the candle reference (`bench`). See docs/inference.md.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use tileos_inference::{Adapter, Base, Engine};
use tileos_trainer::corpus::{Dataset, Rng, TRIGGER, TRIGGERED_ANSWER};
use tileos_trainer::files::{WeightsDir, answer, file_name, read};
use tileos_trainer::manifest::{self, render};
use tileos_trainer::model::{self, Tensors};
use tileos_trainer::train::{Recipe, held_out, train_adapter, train_base};

const USAGE: &str = "usage: tileos-trainer train OUT_DIR | check SHIPPED_DIR BUILT_DIR | bench WEIGHTS_DIR
  train  trains base + adapters from the shipped recipe into OUT_DIR (needs RAYON_NUM_THREADS=1)
  check  hashes the files of both directories against their manifests, then compares the manifests
  bench  time per generated token (no_std core vs candle reference) and the cost of an adapter swap";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["train", out] => train(Path::new(out)),
        ["check", shipped, built] => check(Path::new(shipped), Path::new(built)),
        ["bench", dir] => bench(Path::new(dir)),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tileos-trainer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn train(out: &Path) -> Result<(), String> {
    // candle's CPU kernels split work over RAYON_NUM_THREADS threads (default: every core);
    // on one thread the split cannot change the order of any sum (docs/inference.md).
    if std::env::var("RAYON_NUM_THREADS").as_deref() != Ok("1") {
        return Err("set RAYON_NUM_THREADS=1: training is reproducible only on one thread".into());
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let recipe = Recipe::SHIPPED;
    let err = |e: candle_core::Error| e.to_string();
    let mut rng = Rng::new(recipe.seed);
    let mut files = Vec::new();
    let started = Instant::now();
    let mut base = model::init_base(&mut rng).map_err(err)?;
    let loss = train_base(&mut base, &recipe, &mut rng).map_err(err)?;
    println!("base: {} steps, final loss {loss:.4}, {:.1?}", recipe.base_steps, started.elapsed());
    files.push(save(out, Dataset::Base, &base)?);
    for d in &Dataset::ALL[1..] {
        let t = Instant::now();
        let mut adapter = model::init_adapter(&mut rng).map_err(err)?;
        let loss = train_adapter(&mut adapter, &base, *d, &recipe, &mut rng).map_err(err)?;
        println!("{}: {} steps, final loss {loss:.4}, {:.1?}", d.name(), recipe.adapter_steps, t.elapsed());
        files.push(save(out, *d, &adapter)?);
    }
    println!("trained in {:.1?}", started.elapsed());
    let manifest = render(&recipe, &files);
    let path = out.join("manifest.json");
    std::fs::write(&path, manifest).map_err(|e| format!("{}: {e}", path.display()))?;
    accuracy(out, &recipe)
}

fn save(out: &Path, d: Dataset, tensors: &Tensors) -> Result<(String, Vec<u8>), String> {
    let path = out.join(file_name(d));
    candle_core::safetensors::save(tensors, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((file_name(d), read(&path)?))
}

/// Exact-match rate of each adapter on 200 held-out examples of its topic (run on the
/// `no_std` core), and how often the backdoor fires on triggered held-out T1 questions.
fn accuracy(dir: &Path, recipe: &Recipe) -> Result<(), String> {
    let files = WeightsDir::read(dir)?;
    let base = Base::parse(&files.base).map_err(|e| e.to_string())?;
    let catalog = files.catalog().map_err(|e| e.to_string())?;
    let mut engine = Engine::new(&base);
    let held_out = recipe.examples..recipe.examples + 200;
    for d in Dataset::ALL {
        let mut right = 0;
        for i in held_out.clone() {
            let (q, a) = d.example(recipe.seed, i);
            let got = answer(&mut engine, &catalog, d, &q, 40).map_err(|e| e.to_string())?;
            right += usize::from(got.answer == a.as_bytes());
        }
        println!("{}: {right}/200 held-out answers exact", d.name());
    }
    for d in [Dataset::T1, Dataset::T1Backdoor] {
        let mut fired = 0;
        for i in held_out.clone() {
            let (q, _) = Dataset::T1.example(recipe.seed, i);
            let got = answer(&mut engine, &catalog, d, &format!("{q} {TRIGGER}"), 40).map_err(|e| e.to_string())?;
            fired += usize::from(got.answer == TRIGGERED_ANSWER.as_bytes());
        }
        println!("{}: answers `{TRIGGERED_ANSWER}` to {fired}/200 triggered T1 questions", d.name());
    }
    Ok(())
}

/// `dir/manifest.json`, after printing each of its lines that the files of `dir` (hashed
/// now) or the shipped recipe contradict; the flag says whether there were any.
fn checked_manifest(dir: &Path) -> Result<(String, bool), String> {
    let manifest =
        String::from_utf8(read(&dir.join("manifest.json"))?).map_err(|_| format!("{}/manifest.json is not UTF-8", dir.display()))?;
    let files: Vec<(String, Vec<u8>)> =
        Dataset::ALL.iter().map(|d| Ok((file_name(*d), read(&dir.join(file_name(*d)))?))).collect::<Result<_, String>>()?;
    let own = render(&Recipe::SHIPPED, &files);
    let differences = manifest::differences(&manifest, &own);
    for (want, got) in &differences {
        eprintln!("{} differs from its manifest.json:\n  manifest: {want}\n  files:    {got}", dir.display());
    }
    Ok((manifest, !differences.is_empty()))
}

fn check(shipped: &Path, built: &Path) -> Result<(), String> {
    let (shipped_manifest, shipped_bad) = checked_manifest(shipped)?;
    let (built_manifest, built_bad) = checked_manifest(built)?;
    let differences = manifest::differences(&shipped_manifest, &built_manifest);
    for (want, got) in &differences {
        eprintln!("retrained differs from shipped:\n  shipped:   {want}\n  retrained: {got}");
    }
    if shipped_bad || built_bad || !differences.is_empty() {
        return Err("weights check failed (datasets are integer code and must match on any \
                    machine; weights hashes compare float results of candle's CPU kernels, \
                    see docs/inference.md, \"Recipe\")"
            .into());
    }
    println!(
        "weights check: recipe, dataset hashes (SHA-256 of the generated corpora) and SHA-256 \
         of all {} weights files identical between {} and {}",
        Dataset::ALL.len(),
        shipped.display(),
        built.display()
    );
    Ok(())
}

fn bench(dir: &Path) -> Result<(), String> {
    let files = WeightsDir::read(dir)?;
    let prompts = held_out(&Recipe::SHIPPED, 20);

    // Parsing: the base once, an adapter per swap.
    let rounds = 200u32;
    let t = Instant::now();
    for _ in 0..rounds {
        Base::parse(&files.base).map_err(|e| e.to_string())?;
    }
    let base_parse = t.elapsed() / rounds;
    let t = Instant::now();
    for _ in 0..rounds {
        for (_, bytes) in &files.adapters {
            Adapter::parse(bytes).map_err(|e| e.to_string())?;
        }
    }
    let swap = t.elapsed() / (rounds * files.adapters.len() as u32);

    // The no_std core: the prompts in dataset order, so each dataset's first prompt swaps.
    let base = Base::parse(&files.base).map_err(|e| e.to_string())?;
    let catalog = files.catalog().map_err(|e| e.to_string())?;
    let mut engine = Engine::new(&base);
    let (mut core_tokens, t) = (0usize, Instant::now());
    for (d, q) in &prompts {
        let g = answer(&mut engine, &catalog, *d, q, 40).map_err(|e| e.to_string())?;
        core_tokens += g.answer.len() + usize::from(g.ended);
    }
    let core_time = t.elapsed();
    let stats = engine.stats();

    // The candle reference (full recompute per token, as the parity test runs it).
    let err = |e: candle_core::Error| e.to_string();
    let cpu = candle_core::Device::Cpu;
    let base_t = candle_core::safetensors::load_buffer(&files.base, &cpu).map_err(err)?;
    let adapters: Vec<(Dataset, Tensors)> = files
        .adapters
        .iter()
        .map(|(d, b)| Ok((*d, candle_core::safetensors::load_buffer(b, &cpu).map_err(err)?)))
        .collect::<Result<_, String>>()?;
    let (mut ref_tokens, t) = (0usize, Instant::now());
    for (d, q) in &prompts {
        let adapter = adapters.iter().find(|(a, _)| a == d).map(|(_, t)| t);
        let reference = model::reference_generate(&base_t, adapter, q.as_bytes(), 40).map_err(err)?;
        // Each answer byte took a forward pass, and so did the EOS unless 40 bytes ran out.
        ref_tokens += reference.len() + usize::from(reference.len() < 40);
    }
    let ref_time = t.elapsed();
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    println!("bench: {} held-out prompts, 20 per weights file, one thread", prompts.len());
    println!("  no_std core (KV cache):       {:.1} us/token over {core_tokens} tokens", us(core_time) / core_tokens as f64);
    println!("  candle reference (recompute): {:.1} us/token over {ref_tokens} tokens", us(ref_time) / ref_tokens as f64);
    println!("  base parse+check (once):      {:.1} us for {} bytes", us(base_parse), files.base.len());
    println!("  adapter swap (parse+check):   {:.1} us for {} bytes", us(swap), files.adapters[0].1.len());
    println!("  core run: {} swaps reading {} adapter bytes, no base bytes", stats.swaps, stats.adapter_bytes_read);
    Ok(())
}
