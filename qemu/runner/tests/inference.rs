//! Boot test of the inference domains (docs/inference.md "Boot tests"), scenario
//! `inference` on a fresh disk: the model loader puts the base into the shared region and
//! the signed adapters into the store; then
//! - every answer of both inference domains equals the host core's for the same adapter and
//!   prompt (`tileos_inference`, whose parity with the candle reference the trainer's tests
//!   check), byte for byte, and names the shipped base's and adapter's SHA-256;
//! - the two domains read one set of frames: both report the same physical address of the
//!   base region and the base read whole once each (`base_loads = 1`, counted by the
//!   service's `BaseFile::load`, so a second read would show as 2);
//! - an adapter swap reads the adapter's bundle from the store and nothing of the base: the
//!   bytes swaps read add up to the bundles' sizes; asking the loaded adapter again swaps
//!   nothing;
//! - a domain that writes to its read-only mapping of the base faults, and the supervisor
//!   reports the fault at the address written; the answers after it are still right;
//! - the hostile client's every check is refused precisely and the domain keeps serving,
//!   also after the supervisor restarted it; a stranger's badge is refused.

use std::time::Duration;

use tileos_inference::{Base, Catalog, Engine};
use tileos_qemu::images::{fresh_disk, scenario_archive, test_images, workspace_root};
use tileos_qemu::{Event, Machine, RunOutcome, nvme_disk_args, run_until};

const TIMEOUT: Duration = Duration::from_secs(120);

/// The hostile client's checks, each of which must log `result=ok`.
const HOSTILE_CHECKS: [&str; 21] = [
    "plant",
    "prompt-too-long",
    "prompt-wire-maximum",
    "prompt-empty",
    "prompt-byte",
    "max-new-zero",
    "max-new-huge",
    "unknown-adapter",
    "forged-bundle",
    "tampered-bundle",
    "replayed-bundle",
    "not-an-adapter",
    "oversized-bundle",
    "still-serving",
    "unknown-label",
    "negative-length",
    "undecodable",
    "oversized-wire-prompt",
    "restart",
    "forged-after-restart",
    "restarted-counters",
];

fn weights(name: &str) -> Vec<u8> {
    let path = workspace_root().join("weights").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn hex(text: &str) -> Vec<u8> {
    if text == "-" {
        return Vec::new();
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    tileos_module_bundle::content_hash(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn field<'a>(event: &'a Event, key: &str) -> &'a str {
    event.get(key).unwrap_or_else(|| panic!("no {key} in {}", event.line))
}

fn number(event: &Event, key: &str) -> u64 {
    let text = field(event, key);
    text.strip_prefix("0x")
        .map_or_else(|| text.parse(), |h| u64::from_str_radix(h, 16))
        .unwrap_or_else(|_| panic!("{key} in {}", event.line))
}

/// Boots scenario `inference` on a fresh disk until the clients are done.
fn boot_inference(log: &str) -> RunOutcome {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let disk = fresh_disk(&format!("{log}.img"), 32 << 20);
    let machine = Machine { extra_args: nvme_disk_args(&disk), ..Machine::default() };
    let markers = ["@event inference-client.done", "@event inference-hostile.done", "@event inference-hostile.stranger-done"];
    let outcome = run_until(&machine, &images.tile_boot(scenario_archive("inference")), &images.logs.join(log), TIMEOUT, &markers)
        .unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    for bad in ["FAILED", "KERNEL EXCEPTION", "panic at", "WROTE"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(80));
    }
    outcome
}

#[test]
fn two_inference_domains_share_one_read_only_base_match_the_host_core_swap_adapters_from_the_store_and_refuse_hostile_calls() {
    let outcome = boot_inference("tile-inference.log");
    let base_file = weights("base.safetensors");
    let base = Base::parse(&base_file).expect("the shipped base");
    let adapters: Vec<(String, Vec<u8>)> =
        ["t1", "t2", "t3", "t1-backdoor"].iter().map(|t| (t.to_string(), weights(&format!("{t}.safetensors")))).collect();
    let mut catalog = Catalog::new();
    for (topic, file) in &adapters {
        catalog.insert(topic, file).expect("catalog");
    }
    let mut engine = Engine::new(&base);

    // Parity: every answer equals the host core's.
    let answers = outcome.events("inference-client.answer");
    assert_eq!(answers.len(), 22, "20 answers of the first domain and 2 of the second expected:\n{}", outcome.tail(60));
    for answer in &answers {
        let adapter = field(answer, "adapter");
        let prompt = hex(field(answer, "prompt"));
        let expected = match adapter {
            "-" => engine.request_base(&prompt, 40),
            topic => engine.request(&catalog, topic, &prompt, 40),
        }
        .unwrap_or_else(|e| panic!("host core: {e} for {}", answer.line));
        assert_eq!(
            hex(field(answer, "text")),
            expected.answer,
            "guest answer {:?} differs from the host core's {:?}: {}",
            String::from_utf8_lossy(&hex(field(answer, "text"))),
            String::from_utf8_lossy(&expected.answer),
            answer.line
        );
        assert_eq!(field(answer, "ended"), expected.ended.to_string(), "{}", answer.line);
        assert_eq!(field(answer, "base_sha256"), sha256_hex(&base_file), "{}", answer.line);
        let adapter_sha = adapters.iter().find(|(t, _)| t == adapter).map_or("-".to_string(), |(_, f)| sha256_hex(f));
        assert_eq!(field(answer, "adapter_sha256"), adapter_sha, "{}", answer.line);
        eprintln!(
            "{} {adapter}: {:?} -> {:?}",
            field(answer, "domain"),
            String::from_utf8_lossy(&prompt),
            String::from_utf8_lossy(&expected.answer)
        );
    }

    // Sharing: one region, the same frames in both domains, the base checked once in each.
    let loaded = outcome.events("model-loader.base");
    assert_eq!(loaded.len(), 1, "{}", outcome.tail(40));
    let paddr = number(&loaded[0], "paddr");
    assert_eq!(number(&loaded[0], "bytes"), base_file.len() as u64);
    let statuses = outcome.events("inference-client.status");
    for domain in ["first", "second"] {
        let status = statuses.iter().find(|s| s.has(&[("domain", domain)])).unwrap_or_else(|| panic!("no status of {domain}"));
        assert_eq!(number(status, "base_paddr"), paddr, "{}", status.line);
        assert_eq!(field(status, "base_sha256"), sha256_hex(&base_file));
        assert_eq!((number(status, "base_loads"), number(status, "base_bytes_read")), (1, base_file.len() as u64), "{}", status.line);
    }
    let ready = outcome.events("inference.ready");
    assert!(ready.len() >= 2 && ready.iter().all(|r| number(r, "base_paddr") == paddr), "{}", outcome.tail(40));
    eprintln!("both inference domains read the base from physical address {paddr:#x}");

    // Swaps: the bytes read add up to the bundles' sizes, and no request for the loaded
    // adapter swaps.
    let bundle_bytes: std::collections::HashMap<String, u64> =
        outcome.events("model-loader.adapter").iter().map(|e| (field(e, "name").to_string(), number(e, "bytes"))).collect();
    assert_eq!(bundle_bytes.len(), 7, "{}", outcome.tail(40));
    let mut read = 0;
    let mut loaded_adapter = String::new();
    for answer in answers.iter().filter(|a| a.has(&[("domain", "first")])) {
        let adapter = field(answer, "adapter");
        let swapped = field(answer, "swapped") == "true";
        let expected_swap = adapter != "-" && adapter != loaded_adapter;
        assert_eq!(swapped, expected_swap, "{}", answer.line);
        if swapped {
            read += bundle_bytes[adapter];
            loaded_adapter = adapter.to_string();
        }
    }
    let swaps = outcome.events("inference.swap");
    let first_swaps: Vec<&Event> = swaps.iter().filter(|e| e.has(&[("domain", "inference")])).take(4).collect();
    let last = first_swaps.last().expect("swaps");
    assert_eq!((number(last, "swaps"), number(last, "adapter_bytes_read"), number(last, "base_loads")), (4, read, 1), "{}", last.line);
    eprintln!("4 swaps read {read} bytes of adapter bundles and no byte of the base");

    // The write to the read-only base faulted at the address written.
    let writing = outcome.events("base-writer.writing");
    assert_eq!(writing.len(), 1, "{}", outcome.tail(40));
    let stopped = outcome.events("domain.stopped");
    let fault = stopped
        .iter()
        .find(|e| e.has(&[("domain", "base-writer")]))
        .unwrap_or_else(|| panic!("no fault of base-writer:\n{}", outcome.tail(40)));
    assert_eq!(field(fault, "fault"), "page-fault");
    assert_eq!(number(fault, "address"), number(&writing[0], "vaddr"), "{}", fault.line);

    // Hostile calls.
    for what in HOSTILE_CHECKS.iter().chain(&["stranger-generate", "stranger-status"]) {
        outcome.assert_event("inference-hostile.check", &[("what", what), ("result", "ok")]);
    }
    assert!(outcome.events("inference-hostile.check").iter().all(|e| e.has(&[("result", "ok")])), "{}", outcome.tail(60));
    outcome.assert_event("inference.ready", &[("domain", "inference"), ("generation", "1")]);
}
