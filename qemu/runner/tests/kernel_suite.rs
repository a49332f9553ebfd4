//! The in-guest kernel test suite as cargo tests: boots the test kernel (with the Meltdown
//! mitigation) with the root server in kernel-test mode once, then reports every
//! `ktest <name> ... ok|FAILED: …` line of the serial log as a test of its own (plus one test
//! for the run as a whole). The `kpti` test runs the suite on the kernel without it.

mod suite_log;

fn main() {
    suite_log::run_suite(suite_log::SuiteRun {
        kernel: None,
        machine: tileos_qemu::Machine::default(),
        rootserver_cmdline: "rootserver test=kernel",
        log_name: "kernel-suite.log",
        run_name: "kernel_suite_run",
        required_lines: &[("single_cpu_online", "smp: online=1")],
    })
}
