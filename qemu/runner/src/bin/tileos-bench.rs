//! `tileos-bench`: boots the bench image under `-icount shift=0,sleep=off` (guest rdtsc
//! counts guest instructions, so every figure repeats exactly), collects the root server's
//! `bench <name> <per-op> <iterations>` lines, writes them to `build/bench.json` as
//! `{"name": {"instructions": n, "iterations": n}}` and prints a table beside the seL4
//! reference figures. Benchmarks print figures; they assert nothing.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;
use tileos_abi::test_exit::GuestVerdict;
use tileos_qemu::images::{test_images, workspace_root};
use tileos_qemu::{Boot, BootModule, Ended, Machine, run};

/// seL4 reference figures measured by the same method (issue 5): guest instructions.
const SEL4: [(&str, &str); 7] = [
    ("ipc_roundtrip_same_as", "494"),
    ("ipc_roundtrip_cross_as", "496"),
    ("ipc_roundtrip_cross_as_4words", "526"),
    ("notify_signal_wait_cross_as", "1,661"),
    ("null_syscall", "303"),
    ("page_map_unmap", "1,432"),
    ("boot_to_rootserver", "≈ 210 M (kernel part)"),
];

fn main() -> ExitCode {
    let images = match test_images() {
        Ok(images) => images,
        Err(error) => {
            eprintln!("tileos-bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    let boot = Boot::Kernel {
        kernel: images.kernel.clone(),
        cmdline: String::new(),
        modules: vec![
            BootModule { path: images.rootserver.clone(), cmdline: "rootserver bench".into() },
            BootModule { path: images.bench_server.clone(), cmdline: "bench-server".into() },
        ],
    };
    let machine = Machine { icount: true, ..Machine::default() };
    eprintln!("tileos-bench: booting the bench image under -icount (takes a minute)...");
    let outcome = match run(&machine, &boot, &images.logs.join("bench.log"), Duration::from_secs(600)) {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!("tileos-bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    if outcome.ended != Ended::Verdict(GuestVerdict::Pass) {
        eprintln!("tileos-bench: the bench run ended with {:?}; last serial lines:\n{}", outcome.ended, outcome.tail(30));
        return ExitCode::FAILURE;
    }
    let mut figures = BTreeMap::new();
    for line in outcome.serial.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["bench", name, per_op, iterations] = words.as_slice() {
            if let (Ok(per_op), Ok(iterations)) = (per_op.parse::<u64>(), iterations.parse::<u64>()) {
                figures.insert(name.to_string(), (per_op, iterations));
            }
        }
    }
    let json: Vec<String> = figures
        .iter()
        .map(|(name, (per_op, iterations))| format!("  \"{name}\": {{\"instructions\": {per_op}, \"iterations\": {iterations}}}"))
        .collect();
    let path = workspace_root().join("build/bench.json");
    if let Err(error) = std::fs::write(&path, format!("{{\n{}\n}}\n", json.join(",\n"))) {
        eprintln!("tileos-bench: cannot write {}: {error}", path.display());
        return ExitCode::FAILURE;
    }
    println!("{:<32} {:>14} {:>10} {:>24}", "figure (guest instructions)", "tileos", "iterations", "seL4 reference");
    for (name, (per_op, iterations)) in &figures {
        let reference = SEL4.iter().find(|(n, _)| n == name).map_or("-", |(_, r)| r);
        println!("{name:<32} {per_op:>14} {iterations:>10} {reference:>24}");
    }
    println!("written to {}", path.display());
    ExitCode::SUCCESS
}
