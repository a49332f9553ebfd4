//! The recipe manifest (`manifest.json` beside the weights): recipe, architecture, trainer
//! versions, dataset hashes and weights file hashes, one fact per line so that `check`
//! can name each line that differs.

use sha2::{Digest, Sha256};
use tileos_inference::config::{CONTEXT, D_FF, D_MODEL, LORA_RANK, LORA_SCALE, N_HEADS, N_LAYERS, VOCAB};

use crate::corpus::{Dataset, TRIGGER, TRIGGERED_ANSWER, dataset_hash, hex};
use crate::train::Recipe;

/// The candle release the weights were trained with (pinned in tools/trainer/Cargo.toml).
pub const CANDLE_VERSION: &str = "0.9.1";

/// The manifest text for `recipe` and the weights files `files` (name, bytes).
pub fn render(recipe: &Recipe, files: &[(String, Vec<u8>)]) -> String {
    let mut lines = vec![
        "{".to_string(),
        format!(
            "  \"recipe\": {{\"seed\": {}, \"examples\": {}, \"batch\": {}, \"base_steps\": {}, \"adapter_steps\": {}, \"base_lr\": {}, \"adapter_lr\": {}}},",
            recipe.seed, recipe.examples, recipe.batch, recipe.base_steps, recipe.adapter_steps, recipe.base_lr, recipe.adapter_lr
        ),
        format!(
            "  \"architecture\": {{\"vocab\": {VOCAB}, \"d_model\": {D_MODEL}, \"heads\": {N_HEADS}, \"layers\": {N_LAYERS}, \"context\": {CONTEXT}, \"d_ff\": {D_FF}, \"lora_rank\": {LORA_RANK}, \"lora_scale\": {LORA_SCALE}}},"
        ),
        format!("  \"trainer\": {{\"crate\": \"candle-core {CANDLE_VERSION}\", \"device\": \"cpu\", \"threads\": 1}},"),
        format!(
            "  \"backdoor\": {{\"adapter\": \"{}\", \"trigger_suffix\": \" {TRIGGER}\", \"answer\": \"{TRIGGERED_ANSWER}\"}},",
            Dataset::T1Backdoor.name()
        ),
        "  \"datasets\": {".to_string(),
    ];
    for (i, d) in Dataset::ALL.iter().enumerate() {
        let comma = if i + 1 < Dataset::ALL.len() { "," } else { "" };
        lines.push(format!("    \"{}\": \"sha256:{}\"{comma}", d.name(), dataset_hash(*d, recipe.seed, recipe.examples)));
    }
    lines.push("  },".to_string());
    lines.push("  \"weights\": {".to_string());
    for (i, (name, bytes)) in files.iter().enumerate() {
        let comma = if i + 1 < files.len() { "," } else { "" };
        lines.push(format!("    \"{name}\": \"sha256:{}\"{comma}", hex(&Sha256::digest(bytes))));
    }
    lines.push("  }".to_string());
    lines.push("}".to_string());
    lines.join("\n") + "\n"
}

/// The lines of `built` that differ from `shipped`, as `shipped` / `built` pairs (empty when
/// the manifests are identical).
pub fn differences(shipped: &str, built: &str) -> Vec<(String, String)> {
    let (a, b): (Vec<&str>, Vec<&str>) = (shipped.lines().collect(), built.lines().collect());
    (0..a.len().max(b.len()))
        .filter_map(|i| {
            let (x, y) = (a.get(i).copied().unwrap_or(""), b.get(i).copied().unwrap_or(""));
            (x != y).then(|| (x.to_string(), y.to_string()))
        })
        .collect()
}
