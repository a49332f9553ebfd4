//! Boot test of the first driver domains (scenario `tests/scenarios/nvme.toml`): the pci
//! domain enumerates the bus and enables the NVMe controller, the nvme domain brings it up
//! with completions by interrupt and serves the block protocol, and the block-check domain
//! writes patterns across a fresh 4 MiB disk, flushes, reads them back and checks the error
//! replies. A second boot on the same disk image finds the patterns again.
//!
//! The ring test (scenario `tests/scenarios/nvme-rings.toml`): two `block-ring` clients in
//! different windows of the disk write and read back every block of their windows through
//! their rings at depth 32, beside a hostile client breaking every rule of its ring and one
//! without a window; the driver refuses each bad thing precisely and keeps serving, and
//! each client's blocks land in its window only.
//!
//! The fault-tolerance test (scenario `tests/scenarios/nvme-fault.toml`) kills the driver,
//! through the supervisor control protocol, while block-stress has a write in flight: the
//! supervisor restarts it, the driver resets and re-initialises the controller, and
//! block-stress retries and finds every block it wrote intact.

use std::path::Path;
use std::time::Duration;
use tileos_qemu::images::{fresh_disk, scenario_archive, test_images};
use tileos_qemu::{Machine, RunOutcome, run_until};

const TIMEOUT: Duration = Duration::from_secs(180);
/// Size of the disk image (8192 blocks of 512 bytes).
const DISK_BYTES: u64 = 4 << 20;

/// Boots the nvme scenario with `disk` as the NVMe drive until block-check is done.
fn boot(disk: &Path, log_name: &str) -> RunOutcome {
    boot_scenario("nvme", disk, log_name, &["block-check: done"])
}

/// Boots `scenario` with `disk` as the NVMe drive until every one of `markers` is logged,
/// and checks that nothing went wrong.
fn boot_scenario(scenario: &str, disk: &Path, log_name: &str, markers: &[&str]) -> RunOutcome {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let boot = images.tile_boot(scenario_archive(scenario));
    let machine = Machine { extra_args: tileos_qemu::nvme_disk_args(disk), ..Machine::default() };
    let outcome = run_until(&machine, &boot, &images.logs.join(log_name), TIMEOUT, markers).unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    for bad in ["WRONG", "MISMATCH", "FAILED", "FAIL:", "KERNEL EXCEPTION", "panic at", "stopped:", "could not be"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(40));
    }
    outcome
}

#[test]
fn nvme_driver_writes_flushes_reads_back_refuses_bad_requests_and_data_survives_a_reboot() {
    let disk = fresh_disk("nvme-disk.img", DISK_BYTES);
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
    // Writes counted as the driver answered them: all five ranges, 512 + 512 + 1024 + 65536
    // + 512 bytes.
    first.assert_serial_contains("block-check: wrote 5 of 5 ranges (68096 of 68096 bytes); flush ok");
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

#[test]
fn ring_clients_in_their_own_windows_never_see_each_others_blocks_and_a_hostile_ring_is_refused_precisely() {
    let disk = fresh_disk("nvme-rings-disk.img", DISK_BYTES);
    let outcome =
        boot_scenario("nvme-rings", &disk, "tile-nvme-rings.log", &["ring-a: PASS", "ring-b: PASS", "hostile: done", "nowindow: done"]);
    // The driver found each client's window from its endpoint parameters.
    outcome.assert_serial_contains("nvme: client 49: blocks 2048..4096 of the disk, data region 0x20000 bytes, ring yes");
    outcome.assert_serial_contains("nvme: client 50: blocks 4096..6144 of the disk, data region 0x20000 bytes, ring yes");
    outcome.assert_serial_contains("nvme: client 51: blocks 6144..6272 of the disk, data region 0x2000 bytes, ring yes");
    outcome
        .assert_serial_contains("nvme: client 52: no disk window (endpoint parameter \"disk_offset\" missing): its requests are refused");
    for name in ["ring-a", "ring-b"] {
        outcome.assert_serial_contains(&format!(
            "{name}: writing 256 blocks of 4 KiB through the ring at depth 32 in a window of 0x100000 bytes"
        ));
        outcome.assert_serial_contains(&format!(
            "{name}: PASS: 256 blocks written and read back through the ring at depth 32; past the window refused"
        ));
    }
    for refusal in [
        "hostile: unknown operation: refused as expected: Some(Err(UnknownOperation { code: 77 }))",
        "hostile: read past the window: refused as expected: Some(Err(OutOfRange { end: 69632, disk_size: 65536 }))",
        "hostile: huge write: refused as expected: Some(Err(TooLong { length: 4294963200, max: 32768 }))",
        "hostile: misaligned read: refused as expected: Some(Err(Misaligned { value: 100, block_size: 512 }))",
        "hostile: read past the data region: refused as expected: Some(Err(BufferOverflow { end: 12288, buffer_size: 8192 }))",
        "hostile: good read after bad entries: served",
        "hostile: good read after scribbled driver indices: served",
        "hostile: producer index 5000 ahead: refused as expected",
        "hostile: good read after a producer index far ahead: served",
        "nvme: client 51: ring index ",
        "nowindow: capacity without a window: refused as expected: MissingParam { param: DiskOffset }",
        "nowindow: ring read without a window: refused as expected: Some(Err(MissingParam { param: DiskOffset }))",
    ] {
        outcome.assert_serial_contains(refusal);
    }
    // Each window holds its own client's pattern (`pattern` and `tag_of` in
    // drivers/nvme/src/bin/block_ring.rs), the disk before the first window nothing.
    let image = std::fs::read(&disk).expect("read the disk image");
    let word = |offset: u64| u64::from_le_bytes(image[offset as usize..offset as usize + 8].try_into().unwrap());
    let tag = |name: &str| name.bytes().fold(0xCBF2_9CE4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01B3));
    for (name, start) in [("ring-a", 0x10_0000u64), ("ring-b", 0x20_0000)] {
        for offset in (0..0x10_0000u64).step_by(8) {
            let expected = tag(name) ^ (offset / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(word(start + offset), expected, "{name}'s window, byte {offset:#x}");
        }
    }
    assert!(image[..0x10_0000].iter().all(|&b| b == 0), "a block before the first window was written");
}

#[test]
fn nvme_driver_killed_during_a_write_stream_is_restarted_and_the_client_retries_without_losing_data() {
    let disk = fresh_disk("nvme-fault-disk.img", DISK_BYTES);
    let outcome = boot_scenario("nvme-fault", &disk, "tile-nvme-fault.log", &["block-stress: PASS", "chaos-nvme: done"]);
    let log = &outcome.serial;
    // The kill, on request of the domain the description allows, while a write was in flight.
    outcome.assert_serial_contains("started domain \"chaos-nvme\" (priority 80, generation 0): log ClientEndpoint badge 0x4, supervisor ClientEndpoint badge 0x8000000000000040, chaos WaitNotification");
    outcome.assert_serial_contains("block-stress: round 16: asking for the driver to be killed during this write");
    outcome.assert_serial_contains("supervisor: domain \"nvme\" killed on request of \"chaos-nvme\" (generation 0)");
    outcome.assert_serial_contains("supervisor: domain \"nvme\" restarted with fresh memory (generation 1, restart 1 of 3)");
    outcome.assert_serial_contains("rootserver: started domain \"nvme\" (priority 120, generation 1)");
    outcome.assert_serial_contains("chaos-nvme: supervisor answered Restarted { generation: 1, restarts: 1 }");
    // The client saw the kill as a lost reply, waited for the restarted driver and retried.
    // (The write of round 16 or its read-back, whichever the kill hit.)
    outcome.assert_serial_contains(": reply lost (the driver died); waiting for it and retrying");
    outcome.assert_serial_contains("block-stress: driver serving again (same geometry)");
    // The restarted driver reset the controller the first generation left enabled and
    // brought it up again, with interrupts.
    assert_eq!(log.matches("nvme: ready: 8192 blocks of 512 bytes (4096 KiB)").count(), 2, "{}", outcome.tail(40));
    assert_eq!(log.matches("nvme: completions by interrupt (MSI-X vector 0 of 65, table in BAR0)").count(), 2, "{}", outcome.tail(40));
    outcome.assert_serial_contains("nvme: generation 1: the previous generation left the controller enabled; ");
    // No interrupt storm after the restart: about one interrupt per command
    // ("nvme: flush done; C commands so far, A completed after an interrupt (I interrupts)").
    let counts: Vec<u64> = log
        .lines()
        .find_map(|line| line.strip_prefix("nvme: flush done; "))
        .unwrap_or_else(|| panic!("no command counts in the log:\n{}", outcome.tail(40)))
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|number| number.parse().ok())
        .collect();
    let [commands, _, interrupts] = counts[..] else { panic!("command counts {counts:?}") };
    assert!(interrupts <= 2 * commands, "interrupt storm after the restart: {counts:?}");
    outcome.assert_serial_contains(
        "block-stress: PASS: 48 chunks written and verified twice; 1 lost replies, 0 interrupted requests and 0 device errors retried",
    );
    // The supervisor's view afterwards, and its refusals.
    outcome.assert_serial_contains("chaos-nvme: status: nvme Running generation 1 restarts 1");
    outcome.assert_serial_contains("chaos-nvme: status: console Running generation 0 restarts 0");
    outcome.assert_serial_contains("chaos-nvme: restart of \"no-such-domain\" refused as expected: UnknownDomain");
    outcome.assert_serial_contains("chaos-nvme: restart of \"console\" refused as expected: RestartPolicyNever");
    outcome.assert_serial_contains("supervisor: restart of domain \"console\" asked by \"chaos-nvme\" refused: RestartPolicyNever");
    // The data reached the disk: the first chunk holds some boot's pattern (tag ^ index × φ),
    // the same tag for every word.
    let image = std::fs::read(&disk).expect("read the disk image");
    let word = |index: u64| u64::from_le_bytes(image[8 * index as usize..8 * index as usize + 8].try_into().unwrap());
    let tag = word(0);
    assert_ne!(tag, 0, "nothing was written");
    for index in 0..48 * 512u64 {
        assert_eq!(word(index) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15), tag, "disk image word {index}");
    }
}

#[test]
fn nvme_driver_killed_with_a_ring_request_in_flight_answers_it_interrupted_and_the_client_submits_it_again() {
    let disk = fresh_disk("nvme-fault-ring-disk.img", DISK_BYTES);
    let outcome = boot_scenario("nvme-fault-ring", &disk, "tile-nvme-fault-ring.log", &["block-stress: PASS", "chaos-nvme: done"]);
    outcome.assert_serial_contains(
        "block-stress: streaming 48 rounds of 4096-byte writes and read-backs through the ring; the driver is killed in round 16",
    );
    outcome.assert_serial_contains("supervisor: domain \"nvme\" restarted with fresh memory (generation 1, restart 1 of 3)");
    // The restarted driver found the request the first one had in flight and answered it.
    outcome.assert_serial_contains(
        "nvme: client 48: 1 ring requests were in flight when the previous driver generation ended; answered Interrupted",
    );
    outcome.assert_serial_contains(": interrupted by the driver's restart; waiting for it and submitting again");
    outcome.assert_serial_contains("block-stress: driver serving again (same geometry)");
    outcome.assert_serial_contains(
        "block-stress: PASS: 48 chunks written and verified twice; 0 lost replies, 1 interrupted requests and 0 device errors retried",
    );
    let image = std::fs::read(&disk).expect("read the disk image");
    let word = |index: u64| u64::from_le_bytes(image[8 * index as usize..8 * index as usize + 8].try_into().unwrap());
    let tag = word(0);
    assert_ne!(tag, 0, "nothing was written");
    for index in 0..48 * 512u64 {
        assert_eq!(word(index) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15), tag, "disk image word {index}");
    }
}
