//! Boot test of the in-guest syscall fuzzer (docs/fuzzing.md): a short fixed-seed run of
//! the hostile `fuzzer` domain must end with the Pass verdict — the kernel neither crashed
//! nor hung, the witness domain kept answering and the root server's canary is intact —
//! and print its summary. `make fuzz SEED=… ITERS=…` runs longer and other seeds.

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

#[test]
fn fixed_seed_fuzz_run_passes_with_witness_intact() {
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
    let outcome = run(&Machine::default(), &boot, &images.logs.join("fuzz.log"), TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_verdict(GuestVerdict::Pass);
    outcome.assert_serial_contains(&format!("fuzz done {ITERATIONS} {SEED}"));
    outcome.assert_serial_contains(&format!("fuzz summary: iterations={ITERATIONS}, faults="));
    outcome.assert_serial_contains("witness_ok=true, canary_ok=true");
}
