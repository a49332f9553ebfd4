//! The model's architecture and token conventions, shared by the core and the host trainer.
//!
//! Tokens are ASCII bytes: a prompt is printable ASCII (`0x20..=0x7e`); [`BOS`] opens every
//! sequence, the prompt ends with [`EOS`] and so does the answer. Weight names follow
//! [`base_names`] and [`adapter_names`].

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Vocabulary size: the 7-bit ASCII bytes.
pub const VOCAB: usize = 128;
/// Width of the residual stream.
pub const D_MODEL: usize = 48;
/// Attention heads per layer.
pub const N_HEADS: usize = 4;
/// Width of one attention head.
pub const HEAD_DIM: usize = D_MODEL / N_HEADS;
/// Transformer blocks.
pub const N_LAYERS: usize = 2;
/// Context length in tokens (BOS, prompt, EOS, answer).
pub const CONTEXT: usize = 64;
/// Width of the MLP's hidden layer.
pub const D_FF: usize = 4 * D_MODEL;
/// Rank of every LoRA delta.
pub const LORA_RANK: usize = 4;
/// LoRA scale (alpha / rank): the delta added is `LORA_SCALE * B (A x)`.
pub const LORA_SCALE: f32 = 2.0;
/// Epsilon of the RMS norms.
pub const NORM_EPS: f32 = 1e-5;
/// Start-of-sequence token (ASCII STX).
pub const BOS: u8 = 0x02;
/// End of the prompt and of the answer.
pub const EOS: u8 = b'\n';
/// Padding after the answer in training batches (masked out of the loss).
pub const PAD: u8 = 0;
/// The longest prompt: BOS, prompt and EOS take `prompt + 2` positions, and at least one
/// answer token must fit.
pub const MAX_PROMPT: usize = CONTEXT - 3;

/// A linear projection of a block that carries a LoRA delta: its name and (out, in) shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Projection {
    /// Name within the block (`qkv`, `out`, `fc1`, `fc2`).
    pub name: &'static str,
    /// Output width (rows of the weight matrix).
    pub out: usize,
    /// Input width (columns of the weight matrix).
    pub inp: usize,
}

/// The four projections of every block, in their order of use.
pub const PROJECTIONS: [Projection; 4] = [
    Projection { name: "qkv", out: 3 * D_MODEL, inp: D_MODEL },
    Projection { name: "out", out: D_MODEL, inp: D_MODEL },
    Projection { name: "fc1", out: D_FF, inp: D_MODEL },
    Projection { name: "fc2", out: D_MODEL, inp: D_FF },
];

/// Every tensor of the base with its shape, in a fixed order: `tok_emb` [VOCAB, D],
/// `pos_emb` \[CONTEXT, D\], per layer `l{i}.norm1` \[D\], `l{i}.{qkv,out}` , `l{i}.norm2` \[D\],
/// `l{i}.{fc1,fc2}` (weights are \[out, in\]), then `norm_f` \[D\] and `head` \[VOCAB, D\].
pub fn base_names() -> Vec<(String, Vec<usize>)> {
    let mut names = Vec::new();
    names.push((String::from("tok_emb"), alloc::vec![VOCAB, D_MODEL]));
    names.push((String::from("pos_emb"), alloc::vec![CONTEXT, D_MODEL]));
    for layer in 0..N_LAYERS {
        names.push((format!("l{layer}.norm1"), alloc::vec![D_MODEL]));
        names.push((format!("l{layer}.norm2"), alloc::vec![D_MODEL]));
        for p in PROJECTIONS {
            names.push((format!("l{layer}.{}", p.name), alloc::vec![p.out, p.inp]));
        }
    }
    names.push((String::from("norm_f"), alloc::vec![D_MODEL]));
    names.push((String::from("head"), alloc::vec![VOCAB, D_MODEL]));
    names
}

/// Every tensor of an adapter with its shape: per layer and projection `l{i}.{p}.a`
/// [LORA_RANK, in] and `l{i}.{p}.b` [out, LORA_RANK].
pub fn adapter_names() -> Vec<(String, Vec<usize>)> {
    let mut names = Vec::new();
    for layer in 0..N_LAYERS {
        for p in PROJECTIONS {
            names.push((format!("l{layer}.{}.a", p.name), alloc::vec![LORA_RANK, p.inp]));
            names.push((format!("l{layer}.{}.b", p.name), alloc::vec![p.out, LORA_RANK]));
        }
    }
    names
}
