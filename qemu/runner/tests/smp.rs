//! The in-guest kernel suite on a two-CPU machine (`-smp 2`): the kernel finds both
//! processors in the ACPI MADT, starts the application processor through its real-mode
//! trampoline and sees it report its own local APIC ID from long mode on the kernel's page
//! tables, and the whole suite still passes, with its cross-CPU part (suite/smp.rs: threads
//! on CPU 1, cross-CPU IPC and notifications, revoke of an endpoint a thread on CPU 1 waits
//! on, TLB shootdown), which a one-CPU run skips (docs/architecture.md, "Concurrency").
//! The timed preemption checks are left out (`untimed`: `kernel_suite` runs them).

mod suite_log;

fn main() {
    suite_log::run_suite(suite_log::SuiteRun {
        kernel: None,
        machine: tileos_qemu::Machine { cpus: 2, ..tileos_qemu::Machine::default() },
        // The timed checks run in `kernel_suite`; with two virtual CPUs on a loaded host
        // they measured the host's scheduling (2026-12-04: a delete entry of 1,867 µs).
        rootserver_cmdline: "rootserver test=kernel untimed",
        log_name: "kernel-suite-smp.log",
        run_name: "smp_suite_run",
        required_lines: &[
            ("smp_madt_lists_both_processors", "smp: madt processors=2 boot-apic=0"),
            ("smp_application_processor_online", "smp: cpu 1 online apic=1"),
            ("smp_two_cpus_online", "smp: online=2"),
            ("smp_cross_cpu_part_ran", "ktest smp_call_reply_recv_across_cpus ... ok"),
            ("smp_shootdown_ran", "ktest smp_shootdown_thread_on_cpu_1_faults_after_unmap ... ok"),
        ],
    })
}
