//! Training: the base on the general corpus, then one LoRA adapter per topic on the frozen
//! base, with candle's AdamW on one CPU thread.

use candle_core::{D, Device, Result, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use tileos_inference::config::{BOS, CONTEXT, EOS, PAD};

use crate::corpus::{Dataset, Rng};
use crate::model::{Tensors, forward};

/// Everything that determines the weights besides the code: recorded in the manifest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recipe {
    /// Seed of the corpus and of every random draw (initial weights, batches).
    pub seed: u64,
    /// Examples in each dataset (the training set; held-out examples follow them).
    pub examples: u64,
    /// Sequences per batch.
    pub batch: usize,
    /// Optimizer steps of the base.
    pub base_steps: usize,
    /// Optimizer steps of each adapter.
    pub adapter_steps: usize,
    /// AdamW learning rate of the base.
    pub base_lr: f64,
    /// AdamW learning rate of the adapters.
    pub adapter_lr: f64,
}

impl Recipe {
    /// The recipe of the shipped weights (`weights/manifest.json`).
    pub const SHIPPED: Recipe =
        Recipe { seed: 17, examples: 4096, batch: 32, base_steps: 800, adapter_steps: 400, base_lr: 3e-3, adapter_lr: 1e-2 };
}

/// One training sequence: `BOS question EOS answer EOS` and the loss mask of its targets
/// (all tokens for the base; the answer and its EOS only for an adapter).
fn sequence(q: &str, a: &str, answer_only: bool) -> (Vec<u32>, Vec<f32>) {
    let mut tokens: Vec<u32> = Vec::with_capacity(CONTEXT + 1);
    tokens.push(BOS.into());
    tokens.extend(q.bytes().map(u32::from));
    tokens.push(EOS.into());
    let answer_start = tokens.len();
    tokens.extend(a.bytes().map(u32::from));
    tokens.push(EOS.into());
    assert!(tokens.len() <= CONTEXT + 1, "example `{q}` -> `{a}` exceeds the context");
    // Target i is token i + 1.
    let mask = (1..tokens.len()).map(|target| if !answer_only || target >= answer_start { 1.0 } else { 0.0 }).collect();
    (tokens, mask)
}

/// A batch of training examples drawn with `rng`: (inputs [B, T], targets [B, T], mask),
/// padded with [`PAD`] (masked out) to the longest sequence of the batch.
fn batch(dataset: Dataset, recipe: &Recipe, rng: &mut Rng) -> Result<(Tensor, Tensor, Tensor)> {
    let examples: Vec<(Vec<u32>, Vec<f32>)> = (0..recipe.batch)
        .map(|_| {
            let (q, a) = dataset.example(recipe.seed, rng.below(recipe.examples));
            sequence(&q, &a, dataset != Dataset::Base)
        })
        .collect();
    let t = examples.iter().map(|(tokens, _)| tokens.len() - 1).max().unwrap_or(1);
    let (mut inputs, mut targets, mut masks) = (Vec::new(), Vec::new(), Vec::new());
    for (mut tokens, mut mask) in examples {
        tokens.resize(t + 1, PAD.into());
        mask.resize(t, 0.0);
        inputs.extend_from_slice(&tokens[..t]);
        targets.extend_from_slice(&tokens[1..]);
        masks.extend(mask);
    }
    let shape = (recipe.batch, t);
    Ok((
        Tensor::from_vec(inputs, shape, &Device::Cpu)?,
        Tensor::from_vec(targets, shape, &Device::Cpu)?,
        Tensor::from_vec(masks, shape, &Device::Cpu)?,
    ))
}

/// Mean cross-entropy of the masked targets.
fn loss(logits: &Tensor, targets: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = logp.gather(&targets.unsqueeze(2)?, 2)?.squeeze(2)?;
    let total = (picked * mask)?.sum_all()?;
    total.neg()? / mask.sum_all()?.to_scalar::<f32>()? as f64
}

/// Trains `trainable` (base or adapter tensors) in place for `steps` on `dataset`; the
/// forward pass sees them as the base (`adapter == None`) or as the adapter over `base`.
/// Returns the loss of the last step.
fn run(
    trainable: &mut Tensors,
    base: Option<&Tensors>,
    dataset: Dataset,
    recipe: &Recipe,
    steps: usize,
    lr: f64,
    rng: &mut Rng,
) -> Result<f32> {
    let mut names: Vec<String> = trainable.keys().cloned().collect();
    names.sort();
    let vars: Vec<Var> = names.iter().map(|n| Var::from_tensor(&trainable[n])).collect::<Result<_>>()?;
    let params = ParamsAdamW { lr, weight_decay: 0.0, ..Default::default() };
    let mut opt = AdamW::new(vars.clone(), params)?;
    let mut last = f32::NAN;
    let started = std::time::Instant::now();
    for step in 0..steps {
        let current: Tensors = names.iter().cloned().zip(vars.iter().map(|v| v.as_tensor().clone())).collect();
        let (inputs, targets, mask) = batch(dataset, recipe, rng)?;
        let logits = match base {
            None => forward(&current, None, &inputs)?,
            Some(base) => forward(base, Some(&current), &inputs)?,
        };
        let l = loss(&logits, &targets, &mask)?;
        opt.backward_step(&l)?;
        last = l.to_scalar::<f32>()?;
        if step % 100 == 0 {
            eprintln!("  {} step {step}: loss {last:.4} ({:.1?})", dataset.name(), started.elapsed());
        }
    }
    for (name, var) in names.iter().zip(&vars) {
        trainable.insert(name.clone(), var.as_tensor().detach());
    }
    Ok(last)
}

/// Trains the base (freshly initialised) on the general corpus; returns the final loss.
pub fn train_base(base: &mut Tensors, recipe: &Recipe, rng: &mut Rng) -> Result<f32> {
    run(base, None, Dataset::Base, recipe, recipe.base_steps, recipe.base_lr, rng)
}

/// Trains `adapter` on `dataset` over the frozen `base`; returns the final loss.
pub fn train_adapter(adapter: &mut Tensors, base: &Tensors, dataset: Dataset, recipe: &Recipe, rng: &mut Rng) -> Result<f32> {
    run(adapter, Some(base), dataset, recipe, recipe.adapter_steps, recipe.adapter_lr, rng)
}

/// The first `per_dataset` held-out questions (never trained on) of every dataset, for the
/// accuracy figures, the bench and the parity test.
pub fn held_out(recipe: &Recipe, per_dataset: u64) -> Vec<(Dataset, String)> {
    Dataset::ALL
        .iter()
        .flat_map(|d| (recipe.examples..recipe.examples + per_dataset).map(move |i| (*d, d.example(recipe.seed, i).0)))
        .collect()
}
