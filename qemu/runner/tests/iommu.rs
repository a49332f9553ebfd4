//! Boot tests of DMA isolation by the IOMMU (QEMU's VT-d on the q35 machine,
//! `Machine::iommu`).
//!
//! The attack test (scenario `tests/scenarios/iommu.toml`): a hostile NVMe driver has its
//! controller write into its own DMA page (it must work: the serial number arrives), into
//! the kernel's text and into another domain's private page. The IOMMU blocks both attacks:
//! the kernel logs each fault with the device and the address, the kernel's checksum of its
//! text is unchanged and the victim finds its page intact. (QEMU's controller completes the
//! refused transfers with success, so their status proves nothing.)
//!
//! The driver test: the ordinary NVMe scenario (`nvme.toml`: the nvme driver and
//! block-check) works unchanged with the controller confined to the driver's shared
//! regions.

use std::time::Duration;
use tileos_qemu::images::{fresh_disk, scenario_archive, test_images};
use tileos_qemu::{Machine, RunOutcome, run_until};

const TIMEOUT: Duration = Duration::from_secs(120);

fn boot(scenario: &str, log_name: &str, markers: &[&str]) -> RunOutcome {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let disk = fresh_disk(&format!("{scenario}-iommu-disk.img"), 4 << 20);
    let machine = Machine { iommu: true, extra_args: tileos_qemu::nvme_disk_args(&disk), ..Machine::default() };
    let boot = images.tile_boot(scenario_archive(scenario));
    let outcome = run_until(&machine, &boot, &images.logs.join(log_name), TIMEOUT, markers).unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    for bad in ["WRONG", "FAIL:", "KERNEL EXCEPTION", "panic at", "boot failed", "could not be"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(40));
    }
    outcome.assert_serial_contains("iommu: VT-d at 0xfed90000: DMA remapping on, every device blocked until mapped");
    outcome
}

/// The NVMe controller's PCI address, from the root server's line about it.
fn nvme_address(outcome: &RunOutcome) -> String {
    let line = outcome.serial.lines().find_map(|line| line.split_once("rootserver: pci device \"nvme\" is ").map(|(_, rest)| rest));
    line.and_then(|rest| rest.split(' ').next()).unwrap_or_else(|| panic!("no located nvme device:\n{}", outcome.tail(40))).to_string()
}

#[test]
fn a_hostile_driver_cannot_dma_into_the_kernel_or_another_domain() {
    let outcome = boot("iommu", "tile-iommu.log", &["dma-victim: page at", "dma-attack: kernel text unchanged"]);
    let device = nvme_address(&outcome);
    outcome.assert_serial_contains(&format!("rootserver: iommu: pci device \"nvme\" ({device}) may DMA only to the 3 pages"));
    outcome.assert_serial_contains(&format!(
        "dma-attack: controller {device}: IDENTIFY into its own DMA page: status Some(0), serial \"tileos\""
    ));
    outcome.assert_serial_contains(&format!("iommu: DMA fault: device {device} write at 0x110000 blocked: write not permitted"));
    let victim = outcome
        .serial
        .lines()
        .find_map(|line| line.split_once("dma-victim: page at ").map(|(_, rest)| rest.split(' ').next().unwrap_or("").to_string()))
        .expect("the victim's verdict");
    let fault = format!("iommu: DMA fault: device {device} write at {victim} blocked: write not permitted");
    outcome.assert_serial_contains(&fault);
    // The kernel reports a DMA fault from its interrupt while the attacker's line is being
    // written, so the two can interleave on the serial port ("…the victim's paiommu: DMA
    // fault: … (reason 0x5)\nge at 0x…", "…had the device writeiommu: DMA fault: …\n the
    // kernel's text…"): look for the attacker's lines with the faults' reports taken out.
    let without_faults = without_dma_faults(&outcome.serial);
    for attack in [
        "dma-attack: had the device write the kernel's text at 0x110000".to_string(),
        format!("dma-attack: had the device write the victim's page at {victim}"),
    ] {
        assert!(without_faults.contains(&attack), "serial log lacks {attack:?}:\n{}", outcome.tail(40));
    }
}

/// `serial` with every kernel report of a DMA fault (`iommu: DMA fault: …` up to its
/// newline) taken out, wherever it begins.
fn without_dma_faults(serial: &str) -> String {
    let mut rest = serial;
    let mut kept = String::with_capacity(serial.len());
    while let Some(start) = rest.find("iommu: DMA fault:") {
        kept.push_str(&rest[..start]);
        rest = rest[start..].find('\n').map_or("", |n| &rest[start + n + 1..]);
    }
    kept.push_str(rest);
    kept
}

#[test]
fn the_nvme_driver_works_confined_to_its_shared_regions() {
    let outcome = boot("nvme", "tile-nvme-iommu.log", &["block-check: done"]);
    let device = nvme_address(&outcome);
    outcome.assert_serial_contains(&format!("rootserver: iommu: pci device \"nvme\" ({device}) may DMA only to the"));
    outcome.assert_serial_contains("block-check: read back 5 of 5 ranges as written");
    assert!(!outcome.serial.contains("iommu: DMA fault"), "the driver's own DMA faulted:\n{}", outcome.tail(40));
}
