//! Boot test of the first driver domains (scenario `tests/scenarios/nvme.toml`): the pci
//! domain enumerates the bus and enables the NVMe controller, the nvme domain brings it up
//! with completions by interrupt and serves the block protocol, and the block-check domain
//! writes patterns across a fresh 4 MiB disk, flushes, reads them back and checks the error
//! replies. A second boot on the same disk image finds the patterns again.

use std::path::Path;
use std::time::Duration;
use tileos_qemu::images::{test_images, workspace_root};
use tileos_qemu::{Boot, BootModule, Machine, RunOutcome, run_until};

const TIMEOUT: Duration = Duration::from_secs(180);
/// Size of the disk image (8192 blocks of 512 bytes).
const DISK_BYTES: u64 = 4 << 20;

/// Boots the nvme scenario with `disk` as the NVMe drive until block-check is done.
fn boot(disk: &Path, log_name: &str) -> RunOutcome {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let boot = Boot::Kernel {
        kernel: images.kernel.clone(),
        cmdline: String::new(),
        modules: vec![
            BootModule { path: images.rootserver.clone(), cmdline: "rootserver".into() },
            BootModule { path: workspace_root().join("build/test/scenarios/nvme.archive"), cmdline: "tile-archive".into() },
        ],
    };
    let machine = Machine {
        extra_args: vec![
            "-drive".into(),
            format!("file={},if=none,format=raw,id=nvm", disk.display().to_string().replace(',', ",,")),
            "-device".into(),
            "nvme,serial=tileos,drive=nvm".into(),
        ],
        ..Machine::default()
    };
    let outcome = run_until(&machine, &boot, &images.logs.join(log_name), TIMEOUT, &["block-check: done"])
        .unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    for bad in ["WRONG", "MISMATCH", "FAILED", "KERNEL EXCEPTION", "panic at", "stopped:"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(40));
    }
    outcome
}

#[test]
fn nvme_driver_writes_flushes_reads_back_refuses_bad_requests_and_data_survives_a_reboot() {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    std::fs::create_dir_all(&images.logs).expect("log directory");
    let disk = images.logs.join("nvme-disk.img");
    let file = std::fs::File::create(&disk).expect("create the disk image");
    file.set_len(DISK_BYTES).expect("size the disk image");
    drop(file);

    let first = boot(&disk, "tile-nvme.log");
    // The pci domain's enumeration: the controller, its 64-bit BAR and INTx line.
    first.assert_serial_contains("pci: 00:04.0 1b36:0010 class 01.08.02 (NVMe controller), irq line 11 pin INTA");
    first.assert_serial_contains("pci: 00:04.0   BAR0 mem64 at 0xfebf0000 size 0x4000");
    first.assert_serial_contains("pci: 00:00.0 8086:1237 class 06.00.00 (host bridge)");
    // The root server located the controller through the pci domain and granted it.
    first.assert_serial_contains("rootserver: pci device \"nvme\" is 00:04.0 (1b36:0010): BAR0 mem 0xfebf0000+0x4000, MSI-X");
    first.assert_serial_contains("nvme.msi IrqHandler, nvme.pci ClientEndpoint badge 0x10000000020");
    first.assert_serial_contains("pci: 00:04.0 enabled for its driver (command 0x0107, MSI-X)");
    first.assert_serial_contains("nvme: controller at 00:04.0, BAR0 0xfebf0000 size 0x4000 mapped at 0x60000000");
    first.assert_serial_contains("nvme: completions by interrupt (MSI-X vector 0 of 65, table in BAR0)");
    first.assert_serial_contains("serial \"tileos\"");
    first.assert_serial_contains("nvme: ready: 8192 blocks of 512 bytes (4096 KiB)");
    first.assert_serial_contains("block-check: disk 4194304 bytes, blocks of 512 bytes, buffer 65536 bytes");
    first.assert_serial_contains("block-check: wrote 5 ranges");
    first.assert_serial_contains("flush ok");
    first.assert_serial_contains("block-check: read back 5 of 5 ranges as written");
    for refusal in [
        "block-check: out-of-range read: refused as expected: Refused(OutOfRange { end: 4194816, disk_size: 4194304 })",
        "block-check: read across the end: refused as expected: Refused(OutOfRange { end: 4194816, disk_size: 4194304 })",
        "block-check: misaligned read: refused as expected: Refused(Misaligned { value: 513, block_size: 512 })",
        "block-check: partial-block write: refused as expected: Refused(Misaligned { value: 256, block_size: 512 })",
        "block-check: read beyond the buffer: refused as expected: Refused(BufferOverflow { end: 66048, buffer_size: 65536 })",
        "block-check: message with label 99: error reply UnknownLabel as expected",
    ] {
        first.assert_serial_contains(refusal);
    }
    // "nvme: flush done; C commands so far, A completed after an interrupt (I interrupts)"
    let counts: Vec<u64> = first
        .serial
        .lines()
        .find_map(|line| line.strip_prefix("nvme: flush done; "))
        .unwrap_or_else(|| panic!("no command counts in the log:\n{}", first.tail(40)))
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|number| number.parse().ok())
        .collect();
    let [commands, after_interrupt, interrupts] = counts[..] else { panic!("command counts {counts:?}") };
    // 4 admin commands, 5 reads, 5 writes, the flush.
    assert_eq!(commands, 15);
    assert!(after_interrupt > 0 && interrupts >= after_interrupt, "completions never came by interrupt: {counts:?}");

    // The data reached the image file: block 0 starts with the pattern's first words
    // (`pattern` in drivers/nvme/src/bin/block_check.rs: 0x711505a5_00000000 ^ index × φ).
    let image = std::fs::read(&disk).expect("read the disk image");
    let word = |index: u64| u64::from_le_bytes(image[8 * index as usize..8 * index as usize + 8].try_into().unwrap());
    for index in 0..4u64 {
        assert_eq!(word(index), 0x7115_05A5_0000_0000 ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15), "disk image word {index}");
    }
    assert!(image[DISK_BYTES as usize / 8..DISK_BYTES as usize / 4].iter().all(|&b| b == 0), "a range nobody wrote is not zero");

    // Written data survives QEMU exiting: the second boot finds every pattern.
    let second = boot(&disk, "tile-nvme-reboot.log");
    second.assert_serial_contains("block-check: patterns from an earlier boot intact in all 5 ranges");
}
