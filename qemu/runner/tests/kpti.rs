//! The in-guest kernel suite on the test kernel built without the Meltdown mitigation
//! (`make test-images`: build/test/kernel-no-kpti.elf32, cargo feature `no-kpti`): the
//! kernel still passes every check, and its `meltdown_*` checks expect a user-mode read of
//! kernel memory to be a protection fault (page-fault error code P = 1) where the default
//! kernel's (the `kernel_suite` test) is a not-present fault (P = 0). The timed preemption
//! checks are left out (`untimed`): they do not depend on the mitigation and `kernel_suite`
//! runs them.

mod suite_log;

fn main() {
    let kernel = tileos_qemu::images::workspace_root().join("build/test/kernel-no-kpti.elf32");
    suite_log::run_suite(suite_log::SuiteRun {
        kernel: Some(&kernel),
        machine: tileos_qemu::Machine::default(),
        rootserver_cmdline: "rootserver test=kernel untimed no-kpti",
        log_name: "kernel-suite-no-kpti.log",
        run_name: "kpti_off_suite_run",
        required_lines: &[],
    })
}
