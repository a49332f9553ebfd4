//! Boot tests of the kernel foundation: each boots the test kernel under QEMU with a
//! `tileos.test=` self-test and checks the guest's verdict and serial log.

use std::path::PathBuf;
use std::time::Duration;
use tileos_abi::test_exit::GuestVerdict;
use tileos_qemu::images::{TestImages, test_images};
use tileos_qemu::{Boot, BootModule, Ended, Machine, RunOutcome, run};

/// Generous: the CI machine has two cores and several QEMUs may run at once.
const TIMEOUT: Duration = Duration::from_secs(120);

fn images() -> &'static TestImages {
    test_images().unwrap_or_else(|error| panic!("{error}"))
}

fn boot(test: &str, cmdline: &str, modules: Vec<BootModule>, timeout: Duration) -> RunOutcome {
    let images = images();
    let boot = Boot::Kernel { kernel: images.kernel.clone(), cmdline: cmdline.into(), modules };
    let log = images.logs.join(format!("{test}.log"));
    run(&Machine::default(), &boot, &log, timeout).unwrap_or_else(|error| panic!("{error}"))
}

/// The value printed after `label` on the line containing `line_marker`.
fn field(outcome: &RunOutcome, line_marker: &str, label: &str) -> String {
    let line = outcome
        .serial
        .lines()
        .find(|line| line.contains(line_marker))
        .unwrap_or_else(|| panic!("no line with {line_marker:?}; last serial lines:\n{}", outcome.tail(30)));
    let rest = &line[line.find(label).unwrap_or_else(|| panic!("no {label:?} in {line:?}")) + label.len()..];
    rest.split_whitespace().next().unwrap_or("").to_string()
}

#[test]
fn boot_prints_banner_memory_map_and_modules_then_passes() {
    let module: PathBuf = images().logs.join("sample-module.bin");
    std::fs::create_dir_all(&images().logs).unwrap();
    std::fs::write(&module, vec![0x5a; 5000]).unwrap();
    let outcome = boot("boot", "tileos.test=boot", vec![BootModule { path: module, cmdline: "sample-module extra words".into() }], TIMEOUT);
    outcome.assert_verdict(GuestVerdict::Pass);
    assert!(outcome.serial.starts_with("tileos "), "banner must open the log:\n{}", outcome.tail(30));
    outcome.assert_serial_contains("memory map (");
    outcome.assert_serial_contains("available: ");
    // QEMU's -m 256M machine: usable RAM from 1 MiB up to just below 256 MiB.
    outcome.assert_serial_contains("0x000000100000..0x00000ffe0000");
    outcome.assert_serial_contains("modules (1):");
    outcome.assert_serial_contains("5000 bytes");
    outcome.assert_serial_contains("sample-module extra words");
    outcome.assert_serial_contains("tileos: boot complete (kernel-only self-test)");
}

#[test]
fn invalid_opcode_in_kernel_is_reported_with_all_fields() {
    let outcome = boot("invalid-opcode", "tileos.test=invalid-opcode", vec![], TIMEOUT);
    outcome.assert_verdict(GuestVerdict::KernelException);
    let expected_rip = field(&outcome, "executing ud2 at", "at");
    assert_eq!(field(&outcome, "KERNEL EXCEPTION", "vector"), "6");
    outcome.assert_serial_contains("(#UD invalid opcode) error code 0x0");
    let rip = field(&outcome, "  rip ", "rip");
    assert_eq!(u64::from_str_radix(&rip[2..], 16).unwrap(), u64::from_str_radix(&expected_rip[2..], 16).unwrap());
    assert_eq!(field(&outcome, "  rip ", "cs"), "0x8");
    for register in ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8 ", "r15", "rsp", "cr2", "rflags"] {
        outcome.assert_serial_contains(&format!("  {register}"));
    }
    outcome.assert_serial_contains("kernel stopped.");
}

#[test]
fn page_fault_in_kernel_reports_address_and_error_code() {
    let outcome = boot("page-fault", "tileos.test=page-fault", vec![], TIMEOUT);
    outcome.assert_verdict(GuestVerdict::KernelException);
    assert_eq!(field(&outcome, "KERNEL EXCEPTION", "vector"), "14");
    // Error code 0: page not present, read access, supervisor mode.
    outcome.assert_serial_contains("(#PF page fault) error code 0x0");
    assert_eq!(field(&outcome, "  rsp ", "cr2"), "0xffffff0000000000");
    assert!(!outcome.serial.contains("expected a page fault"), "the read must not return");
}

#[test]
fn panic_reports_file_line_and_message() {
    let outcome = boot("panic", "tileos.test=panic", vec![], TIMEOUT);
    outcome.assert_verdict(GuestVerdict::Panic);
    outcome.assert_serial_contains("panic at kernel/src/selftest.rs:");
    outcome.assert_serial_contains(": selftest panic requested on the command line");
}

#[test]
fn hung_guest_fails_by_timeout_with_last_serial_lines() {
    let timeout = Duration::from_secs(20);
    let outcome = boot("hang", "tileos.test=hang", vec![], timeout);
    assert_eq!(outcome.ended, Ended::TimedOut(timeout), "log:\n{}", outcome.tail(30));
    assert!(outcome.tail(3).contains("selftest: hanging on purpose"), "tail:\n{}", outcome.tail(3));
    let caught = std::panic::catch_unwind(|| outcome.assert_verdict(GuestVerdict::Pass)).unwrap_err();
    let message = caught.downcast_ref::<String>().unwrap();
    assert!(message.contains("timed out after 20 s") && message.contains("hanging on purpose"), "{message}");
}

/// The GRUB ISO carries the kernel and the root server (in kernel-test mode): it boots to
/// the same banner, starts the root server from the GRUB module and passes the suite.
#[test]
fn grub_iso_boots_to_the_same_banner() {
    let images = images();
    let log = images.logs.join("iso.log");
    let outcome = run(&Machine::default(), &Boot::Iso(images.iso.clone()), &log, TIMEOUT).unwrap();
    outcome.assert_verdict(GuestVerdict::Pass);
    assert!(outcome.serial.starts_with("tileos "), "{}", outcome.tail(30));
    outcome.assert_serial_contains("boot loader: GRUB");
    outcome.assert_serial_contains("memory map (");
}

#[test]
fn boot_without_root_server_module_fails_clearly() {
    let outcome = boot("no-rootserver", "", vec![], TIMEOUT);
    outcome.assert_verdict(GuestVerdict::Fail);
    outcome.assert_serial_contains("boot failed: no boot module: pass the root server ELF as the first multiboot module");
}

#[test]
fn boot_with_a_non_elf_root_server_fails_clearly() {
    let module: PathBuf = images().logs.join("not-an-elf.bin");
    std::fs::create_dir_all(&images().logs).unwrap();
    std::fs::write(&module, b"this is not an ELF file at all, but long enough to be read as one....").unwrap();
    let outcome = boot("bad-rootserver", "", vec![BootModule { path: module, cmdline: "rootserver".into() }], TIMEOUT);
    outcome.assert_verdict(GuestVerdict::Fail);
    outcome.assert_serial_contains("boot failed: root server module: not an ELF file (bad magic)");
}

/// Release kernels leave the debug console out: the root server's first DebugPutChar is an
/// unknown system call, reported on the kernel log (the root server has no fault handler).
#[test]
fn release_kernel_has_no_debug_console() {
    let images = images();
    let boot = Boot::Kernel {
        kernel: tileos_qemu::images::workspace_root().join("build/release/kernel.elf32"),
        cmdline: String::new(),
        modules: vec![BootModule { path: images.rootserver.clone(), cmdline: "rootserver".into() }],
    };
    let log = images.logs.join("release.log");
    let outcome = tileos_qemu::run_until(&Machine::default(), &boot, &log, TIMEOUT, &["unhandled fault unknown syscall"])
        .unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    outcome.assert_serial_contains("tileos: boot complete, starting the root server");
    assert!(!outcome.serial.contains("rootserver: started"), "the root server printed through a compiled-out syscall");
}

/// Functions of `core` that the kernel links precompiled, with SSE: its formatting, reached
/// only through the kernel log, which saves the live thread's vector state first
/// (`arch::serial::print`). Any other function that uses a vector or x87 register fails.
const PRECOMPILED_FORMATTING: [&str; 2] = ["core3fmt", "core3str5count"];

/// Names of the functions in `elf` (disassembled as x86_64) that use vector or x87
/// registers other than through `fxsave64`/`fxrstor64` (the thread-switch state save).
fn functions_using_vector_registers(elf: &std::path::Path) -> Vec<String> {
    let output = std::process::Command::new("objdump")
        .args(["-d", "--no-show-raw-insn", "-M", "intel", "-m", "i386:x86-64"])
        .arg(elf)
        .output()
        .unwrap_or_else(|error| panic!("objdump (Debian binutils, installed by make deps): {error}"));
    assert!(output.status.success(), "objdump {}: {}", elf.display(), String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    let vector = [
        "xmm", "ymm", "zmm", "mxcsr", " mm0", " mm1", " mm2", " mm3", " mm4", " mm5", " mm6", " mm7", "st(", " fld", " fst", " fild",
        " fist",
    ];
    let mut function = String::new();
    let mut found: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.ends_with(">:") {
            function = line.rsplit_once('<').map_or(line, |(_, name)| name).trim_end_matches(">:").to_string();
        } else if vector.iter().any(|pattern| line.contains(pattern)) && found.last() != Some(&function) {
            found.push(function.clone());
        }
    }
    assert!(text.contains("syscall_entry"), "{}: no kernel code disassembled", elf.display());
    found
}

/// The kernel never touches a thread's vector registers (docs/security.md): it is compiled
/// without SSE, and the only code in the image that uses vector registers is `core`'s
/// precompiled formatting, behind the kernel log's state save. Checked on the test and the
/// release kernel.
#[test]
fn kernel_code_uses_no_vector_registers() {
    let images = images();
    let root = tileos_qemu::images::workspace_root();
    for elf in [images.kernel.with_file_name("kernel.elf"), root.join("build/release/kernel.elf32")] {
        let offending: Vec<String> = functions_using_vector_registers(&elf)
            .into_iter()
            .filter(|function| !PRECOMPILED_FORMATTING.iter().any(|allowed| function.contains(allowed)))
            .collect();
        assert!(offending.is_empty(), "{}: kernel functions using vector registers: {offending:?}", elf.display());
    }
}

#[test]
fn processors_beyond_max_cpus_are_left_off_and_the_rest_come_online() {
    // Six CPUs, no root server: the kernel starts the application processors it has per-CPU
    // state for (MAX_CPUS = 4), says how many it left off, then stops for want of a root
    // server.
    let images = images();
    let boot = Boot::Kernel { kernel: images.kernel.clone(), cmdline: String::new(), modules: vec![] };
    let machine = Machine { cpus: 6, ..Machine::default() };
    let outcome = run(&machine, &boot, &images.logs.join("smp-limit.log"), TIMEOUT).unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_verdict(GuestVerdict::Fail);
    outcome.assert_serial_contains("smp: madt processors=4 boot-apic=0\n");
    outcome.assert_serial_contains("smp: 2 more enabled processors left off (at most 4 CPUs)\n");
    for cpu in 1..4 {
        outcome.assert_serial_contains(&format!("smp: cpu {cpu} online apic={cpu}\n"));
    }
    outcome.assert_serial_contains("smp: online=4\n");
    outcome.assert_serial_contains("boot failed: no boot module");
}
