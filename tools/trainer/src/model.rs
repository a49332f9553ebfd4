//! The host reference: the model's forward pass in candle (batched, full recompute), used
//! for training and as the reference the `no_std` core is checked against.
//!
//! The architecture is `tileos_inference::config`'s; the tensor names are its
//! `base_names` / `adapter_names`.

use std::collections::HashMap;

use candle_core::{D, Device, Result, Tensor};
use tileos_inference::config::{self, BOS, CONTEXT, D_MODEL, EOS, HEAD_DIM, LORA_SCALE, N_HEADS, N_LAYERS, NORM_EPS};

/// The tensors of a base or an adapter by name.
pub type Tensors = HashMap<String, Tensor>;

/// `x W^T` for a batched `x` [B, T, in] and `w` [out, in], plus the adapter's delta
/// `LORA_SCALE * (x A^T) B^T` if `lora` names its pair.
fn linear(x: &Tensor, w: &Tensor, lora: Option<(&Tensor, &Tensor)>) -> Result<Tensor> {
    let y = x.broadcast_matmul(&w.t()?)?;
    match lora {
        None => Ok(y),
        Some((a, b)) => {
            let delta = x.broadcast_matmul(&a.t()?)?.broadcast_matmul(&b.t()?)?;
            y + (delta * LORA_SCALE as f64)?
        }
    }
}

fn rms_norm(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let denom = (x.sqr()?.mean_keepdim(D::Minus1)? + NORM_EPS as f64)?.sqrt()?;
    x.broadcast_div(&denom)?.broadcast_mul(w)
}

/// Logits [B, T, VOCAB] for token ids `ids` [B, T] (u32), with the adapter if given.
pub fn forward(base: &Tensors, adapter: Option<&Tensors>, ids: &Tensor) -> Result<Tensor> {
    let (b, t) = ids.dims2()?;
    let get = |name: &str| base.get(name).ok_or_else(|| candle_core::Error::Msg(format!("base tensor `{name}` missing")));
    let lora = |layer: usize, p: &str| -> Result<Option<(&Tensor, &Tensor)>> {
        match adapter {
            None => Ok(None),
            Some(ad) => {
                let find = |suffix: &str| {
                    let name = format!("l{layer}.{p}.{suffix}");
                    ad.get(&name).ok_or_else(|| candle_core::Error::Msg(format!("adapter tensor `{name}` missing")))
                };
                Ok(Some((find("a")?, find("b")?)))
            }
        }
    };
    let tok = get("tok_emb")?.embedding(&ids.flatten_all()?)?.reshape((b, t, D_MODEL))?;
    let mut x = tok.broadcast_add(&get("pos_emb")?.narrow(0, 0, t)?)?;
    let mask: Vec<f32> = (0..t).flat_map(|i| (0..t).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY })).collect();
    let mask = Tensor::from_vec(mask, (t, t), ids.device())?;
    let scale = 1.0 / (HEAD_DIM as f64).sqrt();
    for layer in 0..N_LAYERS {
        let w = |p: &str| get(&format!("l{layer}.{p}"));
        let h = rms_norm(&x, w("norm1")?)?;
        let qkv = linear(&h, w("qkv")?, lora(layer, "qkv")?)?;
        let heads = |i: usize| -> Result<Tensor> {
            qkv.narrow(2, i * D_MODEL, D_MODEL)?.reshape((b, t, N_HEADS, HEAD_DIM))?.transpose(1, 2)?.contiguous()
        };
        let (q, k, v) = (heads(0)?, heads(1)?, heads(2)?);
        let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&mask)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let y = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, D_MODEL))?;
        x = (x + linear(&y, w("out")?, lora(layer, "out")?)?)?;
        let h = rms_norm(&x, w("norm2")?)?;
        let f = linear(&h, w("fc1")?, lora(layer, "fc1")?)?.relu()?;
        x = (x + linear(&f, w("fc2")?, lora(layer, "fc2")?)?)?;
    }
    let x = rms_norm(&x, get("norm_f")?)?;
    linear(&x, get("head")?, None)
}

/// The host reference's greedy decoding of a printable-ASCII `prompt` (full recompute for
/// every token): the answer bytes without the final EOS, as the core's `Generation::answer`.
pub fn reference_generate(base: &Tensors, adapter: Option<&Tensors>, prompt: &[u8], max_new: usize) -> Result<Vec<u8>> {
    let mut tokens: Vec<u32> = std::iter::once(BOS).chain(prompt.iter().copied()).chain(std::iter::once(EOS)).map(u32::from).collect();
    let mut answer = Vec::new();
    if max_new == 0 {
        return Ok(answer);
    }
    loop {
        let t = tokens.len();
        let ids = Tensor::from_slice(&tokens, (1, t), &Device::Cpu)?;
        let logits = forward(base, adapter, &ids)?.narrow(1, t - 1, 1)?.flatten_all()?;
        let next = logits.argmax(0)?.to_scalar::<u32>()?;
        if next == u32::from(EOS) {
            return Ok(answer);
        }
        answer.push(next as u8);
        if answer.len() >= max_new || t >= CONTEXT {
            return Ok(answer);
        }
        tokens.push(next);
    }
}

/// Fresh weights for `names`: a tensor for which `fixed` gives a value is filled with it;
/// the others are drawn from `rng` in the order of `names`, embeddings uniform in ±0.1,
/// matrices uniform in ±1/√fan-in.
fn init(names: Vec<(String, Vec<usize>)>, rng: &mut crate::corpus::Rng, fixed: impl Fn(&str) -> Option<f32>) -> Result<Tensors> {
    let mut out = Tensors::new();
    for (name, shape) in names {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = match fixed(&name) {
            Some(v) => vec![v; n],
            None => {
                let bound = if name.ends_with("emb") { 0.1 } else { 1.0 / (shape[1] as f32).sqrt() };
                (0..n).map(|_| rng.symmetric() * bound).collect()
            }
        };
        out.insert(name, Tensor::from_vec(values, shape, &Device::Cpu)?);
    }
    Ok(out)
}

/// Fresh base weights (norms at one), in the order of `config::base_names`.
pub fn init_base(rng: &mut crate::corpus::Rng) -> Result<Tensors> {
    init(config::base_names(), rng, |name| name.contains("norm").then_some(1.0))
}

/// Fresh adapter weights, in the order of `config::adapter_names`: `b` is zero, so the
/// adapter starts as the identity on the base.
pub fn init_adapter(rng: &mut crate::corpus::Rng) -> Result<Tensors> {
    init(config::adapter_names(), rng, |name| name.ends_with(".b").then_some(0.0))
}
