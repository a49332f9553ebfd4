//! Boot test of the in-guest fuzzer (docs/fuzzing.md): a short fixed-seed run of the
//! hostile `fuzzer` domain with every feature on must end with the Pass verdict — the
//! kernel neither crashed nor hung; the witness domain kept answering; the canaries in the
//! root server and in the witness's address space, the kernel image checksum and the root
//! server's segment selectors are intact; and the fuzzer's own checks held: registers,
//! RFLAGS, segment selectors, xmm0–15 and MXCSR preserved across every fuzzed syscall,
//! every instruction snippet ended as it must, and its shadow model of its mappings matched
//! what it read and probed; its second thread (the runner) held the same register checks
//! and snippet outcomes. The summary's counters must show that each kind of check ran.
//! `make fuzz SEED=… ITERS=… [FEATURES=…]` runs longer, other seeds, or a subset.

use std::time::Duration;
use tileos_abi::test_exit::GuestVerdict;
use tileos_qemu::images::test_images;
use tileos_qemu::{Boot, BootModule, Machine, run};

/// The fixed seed of the test run.
const SEED: u64 = 1;
/// Iterations of the test run (about a second under TCG on an idle machine).
const ITERATIONS: u64 = 20_000;
/// Generous: the CI machine has two cores and several QEMUs may run at once.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The number after `key=` in `line`.
fn counter(line: &str, key: &str) -> u64 {
    let start = line.find(&format!(" {key}=")).unwrap_or_else(|| panic!("no {key} in {line:?}")) + key.len() + 2;
    let digits: String = line[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("{key} is not a number in {line:?}"))
}

#[test]
fn fixed_seed_fuzz_run_passes_with_witness_intact() {
    fuzz_run(Machine::default(), "fuzz.log");
}

/// The same run on two CPUs: the fuzzer's `TcbSetAffinity` moves its threads (and itself)
/// to CPU 1 and back, so its IPC with the runner and the witness crosses CPUs.
#[test]
fn fixed_seed_fuzz_run_on_two_cpus_passes_with_witness_intact() {
    fuzz_run(Machine { cpus: 2, ..Machine::default() }, "fuzz-smp.log");
}

/// One fixed-seed run on `machine`, logged to `log_name`, and its checks.
fn fuzz_run(machine: Machine, log_name: &str) {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let boot = Boot::Kernel {
        kernel: images.kernel.clone(),
        cmdline: String::new(),
        modules: vec![
            BootModule { path: images.rootserver.clone(), cmdline: format!("rootserver fuzz seed={SEED} iters={ITERATIONS}") },
            BootModule { path: images.bench_server.clone(), cmdline: "bench-server".into() },
            BootModule { path: images.fuzzer.clone(), cmdline: "fuzzer".into() },
        ],
    };
    let outcome = run(&machine, &boot, &images.logs.join(log_name), TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_verdict(GuestVerdict::Pass);
    outcome.assert_serial_contains("fuzz: features=0x1ff");
    outcome.assert_serial_contains(&format!("fuzz done {ITERATIONS} {SEED}"));
    outcome.assert_serial_contains(&format!("fuzz summary: iterations={ITERATIONS}, faults="));
    outcome.assert_serial_contains("witness_ok=true, canary_ok=true, witness_canary_ok=true, kernel_ok=true, segments_ok=true");
    let summary = outcome.serial.lines().find(|line| line.starts_with("fuzz summary:")).expect("summary line");
    // Every kind of check ran (the counters come from the fuzzer at its end).
    assert!(counter(summary, "checked_syscalls") >= ITERATIONS, "{summary}");
    assert!(counter(summary, "snippets") > 1000, "{summary}");
    assert!(counter(summary, "armed_faults") > 1000, "{summary}");
    assert!(counter(summary, "model_pages") > 0, "{summary}");
    assert!(counter(summary, "model_probes") > 1000, "{summary}");
    assert!(counter(summary, "model_ops") > 100, "{summary}");
    assert!(counter(summary, "runner_messages") > 100, "{summary}");
}
