//! The `inference` part of `tileos-bench`: boots scenario `inference` under `-icount` on a
//! fresh disk and reads the parity client's `inference-client.answer` events (each call's
//! time-stamp counter ticks: guest instructions while the guest computes); runs the host
//! core (`tileos_inference`) on the same prompts and the host's swap (bundle verification
//! and adapter parse) on the same bundles, in wall-clock time, in the same run.
//!
//! Guest figures: per generated token, the first domain's calls that swapped nothing,
//! ticks summed over tokens summed (prompt prefill, the IPC round trip and the domain's
//! request checks included); per swap, for each adapter the call that swapped it in minus
//! the same question asked again at once (store read, whose disk I/O is virtual time,
//! bundle verification, adapter parse).

use std::time::Instant;

use tileos_inference::service::adapter_manifest;
use tileos_inference::{Adapter, Base, Catalog, Engine};
use tileos_module_bundle::{build, dev_keys, verify};
use tileos_qemu::images::{TestImages, workspace_root};
use tileos_qemu::{Ended, Event, run_watch};

/// Serial texts that end the run as failed: the I/O parts' but "stopped:", which the
/// scenario's base writer causes on purpose (its write to the read-only base faults).
const FAILURES: [&str; 3] = ["FAILED", "panic at", "KERNEL EXCEPTION"];

/// The figures of the part.
pub struct InferenceFigures {
    /// Guest ticks per generated token (calls without a swap).
    pub guest_per_token: f64,
    /// Tokens those calls generated.
    pub tokens: u64,
    /// Guest ticks per swap (mean over the adapters).
    pub guest_per_swap: f64,
    /// Swaps measured.
    pub swaps: u64,
    /// Host core: nanoseconds per generated token over the same calls.
    pub host_ns_per_token: f64,
    /// Host: nanoseconds per swap (verify the same bundle, parse the adapter).
    pub host_ns_per_swap: f64,
}

fn weights(name: &str) -> Result<Vec<u8>, String> {
    let path = workspace_root().join("weights").join(name);
    std::fs::read(&path).map_err(|error| format!("{}: {error}", path.display()))
}

fn hex(text: &str) -> Vec<u8> {
    if text == "-" {
        return Vec::new();
    }
    (0..text.len() / 2).filter_map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()).collect()
}

fn number(event: &Event, key: &str) -> Result<u64, String> {
    event.get(key).and_then(|v| v.parse().ok()).ok_or_else(|| format!("no {key} in {}", event.line))
}

/// Boots the scenario and measures both sides.
pub fn inference_figures(images: &TestImages) -> Result<InferenceFigures, String> {
    std::fs::create_dir_all(&images.logs).map_err(|error| format!("log directory: {error}"))?;
    let disk = images.logs.join("bench-inference-disk.img");
    let file = std::fs::File::create(&disk).map_err(|error| format!("disk image {}: {error}", disk.display()))?;
    file.set_len(32 << 20).map_err(|error| format!("disk image: {error}"))?;
    drop(file);
    let (machine, boot) = super::scenario(images, "inference", tileos_qemu::nvme_disk_args(&disk));
    eprintln!("tileos-bench: inference figures: booting scenario inference under -icount...");
    let outcome = run_watch(
        &machine,
        &boot,
        &images.logs.join("bench-inference.log"),
        super::IO_TIMEOUT,
        &["@event inference-client.done"],
        &FAILURES,
    )
    .map_err(|error| error.to_string())?;
    if !matches!(outcome.ended, Ended::Reached(_)) {
        return Err(super::failed("inference figures", &outcome));
    }
    let answers: Vec<Event> = outcome.events("inference-client.answer").into_iter().filter(|a| a.has(&[("domain", "first")])).collect();
    if answers.len() < 2 {
        return Err(super::failed("inference figures: too few answers", &outcome));
    }

    // Guest: per token over calls without a swap; per swap from each swapped call and the
    // same question right after it.
    let (mut ticks, mut tokens) = (0u64, 0u64);
    let mut swap_ticks = Vec::new();
    for (i, answer) in answers.iter().enumerate() {
        if answer.has(&[("swapped", "true")]) {
            let again = answers.get(i + 1).ok_or_else(|| format!("no repeat after {}", answer.line))?;
            if again.get("prompt") != answer.get("prompt") || again.get("text") != answer.get("text") {
                return Err(format!("the call after a swap is not the same question: {}", again.line));
            }
            swap_ticks.push(number(answer, "ticks")? as f64 - number(again, "ticks")? as f64);
        } else {
            ticks += number(answer, "ticks")?;
            tokens += number(answer, "tokens")?;
        }
    }

    // Host: the same calls on the core, then the same swaps.
    let base_file = weights("base.safetensors")?;
    let base = Base::parse(&base_file).map_err(|e| e.to_string())?;
    let names = ["t1", "t2", "t3", "t1-backdoor"];
    let files: Vec<Vec<u8>> = names.iter().map(|n| weights(&format!("{n}.safetensors"))).collect::<Result<_, _>>()?;
    let mut catalog = Catalog::new();
    for (name, file) in names.iter().zip(&files) {
        catalog.insert(name, file).map_err(|e| e.to_string())?;
    }
    let mut engine = Engine::new(&base);
    let (mut host_ns, mut host_tokens) = (0u128, 0u64);
    for answer in answers.iter().filter(|a| !a.has(&[("swapped", "true")])) {
        let prompt = hex(answer.get("prompt").unwrap_or("-"));
        let adapter = answer.get("adapter").unwrap_or("-");
        // Load the adapter outside the timed call, as the guest's calls measured here swap nothing.
        if adapter != "-" {
            engine.request(&catalog, adapter, b"1", 1).map_err(|e| e.to_string())?;
        }
        let started = Instant::now();
        let generation = if adapter == "-" { engine.request_base(&prompt, 40) } else { engine.request(&catalog, adapter, &prompt, 40) }
            .map_err(|e| e.to_string())?;
        host_ns += started.elapsed().as_nanos();
        host_tokens += generation.answer.len() as u64;
    }
    let signer = dev_keys::bundle_signer();
    let trusted = dev_keys::trusted_bundle_keys().map_err(|e| e.to_string())?;
    let bundles: Vec<Vec<u8>> = names
        .iter()
        .zip(&files)
        .map(|(n, f)| build(&adapter_manifest(n, f), f, &signer).map_err(|e| format!("{e:?}")))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    for bundle in &bundles {
        let verified = verify(bundle, &trusted).map_err(|e| e.to_string())?;
        Adapter::parse(verified.payload).map_err(|e| e.to_string())?;
    }
    let host_swap_ns = started.elapsed().as_nanos() as f64 / bundles.len() as f64;

    Ok(InferenceFigures {
        guest_per_token: ticks as f64 / tokens.max(1) as f64,
        tokens,
        guest_per_swap: swap_ticks.iter().sum::<f64>() / swap_ticks.len().max(1) as f64,
        swaps: swap_ticks.len() as u64,
        host_ns_per_token: host_ns as f64 / host_tokens.max(1) as f64,
        host_ns_per_swap: host_swap_ns,
    })
}

impl InferenceFigures {
    /// Prints the table.
    pub fn print(&self) {
        println!("Inference (scenario inference; guest: instructions under -icount; host: the same core, wall-clock on this machine)");
        println!(
            "  per generated token   guest {:>12.0} instructions   host {:>9.0} ns   ({} tokens)",
            self.guest_per_token, self.host_ns_per_token, self.tokens
        );
        println!(
            "  per adapter swap      guest {:>12.0} ticks          host {:>9.0} ns   ({} swaps; guest: store read incl. disk I/O in virtual time, verify, parse)",
            self.guest_per_swap, self.host_ns_per_swap, self.swaps
        );
    }

    /// The part's entries of `build/bench.json`.
    pub fn json(&self) -> Vec<String> {
        vec![
            format!(
                "  \"inference_per_token\": {{\"guest_instructions\": {:.0}, \"host_ns\": {:.0}, \"tokens\": {}}}",
                self.guest_per_token, self.host_ns_per_token, self.tokens
            ),
            format!(
                "  \"inference_per_swap\": {{\"guest_ticks\": {:.0}, \"host_ns\": {:.0}, \"swaps\": {}}}",
                self.guest_per_swap, self.host_ns_per_swap, self.swaps
            ),
        ]
    }
}
