//! The `dma-attack` domain: a hostile NVMe driver for the IOMMU boot test
//! (`qemu/runner/tests/iommu.rs`, scenario `iommu.toml`). It holds the controller as an
//! ordinary driver does ("nvme.bar0", "nvme.pci", the shared region "nvme-dma" of three
//! pages: admin submission queue, admin completion queue, a data page) and brings up the
//! admin queue pair, polling for completions. Then it programs the controller to write
//! (an IDENTIFY command's 4 KiB of data, PRP 1 = the target's physical address):
//!
//! 1. into its own data page: the one legitimate DMA, which must work (the controller's
//!    serial number arrives) — the IOMMU confines the device, it does not stop it;
//! 2. into the kernel's text, at [`KERNEL_TEXT`]: the kernel's checksum of its text and
//!    read-only data (`DebugKernelChecksum`, test kernels) must not change;
//! 3. into the page whose physical address the `dma-victim` domain sends on the endpoint
//!    "attack": the victim checks its page afterwards.
//!
//! Each attack must leave its target unchanged, and the kernel logs the IOMMU's fault with
//! the device and the address. Between attacks the
//! domain waits [`FAULT_GAP_MS`], so that the kernel (which reads the fault records at every
//! timer tick) has cleared the previous record: QEMU merges faults of one device while one
//! is pending.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

use tileos_abi::message::MessageInfo;
use tileos_abi::syscall::Syscall;
use tileos_driver_nvme::{CC_ENABLE, CSTS_READY, Command, Completion, ControllerIdentity, admin_queue_attributes, reg};
use tileos_mmio::Mmio;
use tileos_pci_attach::Attachment;
use tileos_sys::domain::stop;
use tileos_sys::log;

/// A physical address inside the kernel's text (link.ld: the text follows the boot stub at
/// 1 MiB and spans more than 100 KiB from 0x109000).
const KERNEL_TEXT: u64 = 0x11_0000;
/// Entries of the admin queues.
const ENTRIES: u16 = 8;
/// Pause after an attack, in milliseconds (a few timer ticks).
const FAULT_GAP_MS: u64 = 30;
/// Polls of the completion queue before a command counts as lost.
const POLLS: u32 = 2_000_000;

/// The controller's admin queue pair, driven one command at a time.
struct Admin {
    registers: Mmio,
    sq: Mmio,
    cq: Mmio,
    tail: u16,
    head: u16,
    phase: bool,
}

impl Admin {
    /// Submits `command` and polls for its completion; its status (0: success), or `None`
    /// if the controller never answered.
    fn run(&mut self, command: Command) -> Option<u16> {
        for (index, dword) in command.0.iter().enumerate() {
            self.sq.write32(usize::from(self.tail) * 64 + index * 4, *dword);
        }
        self.tail = (self.tail + 1) % ENTRIES;
        self.registers.write32(reg::DOORBELLS, u32::from(self.tail));
        for _ in 0..POLLS {
            let base = usize::from(self.head) * 16;
            let entry = Completion::decode(core::array::from_fn(|index| self.cq.read32(base + 4 * index)));
            if entry.phase == self.phase {
                self.head = (self.head + 1) % ENTRIES;
                if self.head == 0 {
                    self.phase = !self.phase;
                }
                self.registers.write32(reg::DOORBELLS + 4, u32::from(self.head));
                return Some(entry.status);
            }
            tileos_sys::yield_now();
        }
        None
    }
}

/// The kernel's checksum of its text and read-only data.
fn kernel_checksum() -> u64 {
    tileos_sys::raw_syscall(Syscall::DebugKernelChecksum, 0, MessageInfo(0), [0; 4]).badge
}

/// IDENTIFY (controller data) written by the device to `target`; logs and returns the
/// command's status. The status is no verdict: QEMU's controller completes an IDENTIFY
/// whose transfer the IOMMU refused with success; the target's owner checks its memory.
fn attack(admin: &mut Admin, id: u16, what: &str, target: u64) -> Option<u16> {
    let status = admin.run(Command::identify(id, 0, 1, target));
    match status {
        Some(status) => log!("dma-attack: had the device write {what} at {target:#x} (completion status {status:#x})"),
        None => log!("dma-attack: FAIL: no completion for the write to {what} at {target:#x}"),
    }
    tileos_sys::pause_ms(FAULT_GAP_MS);
    status
}

/// Entry point.
#[allow(unsafe_code)] // the entry symbol: `#[unsafe(no_mangle)]` is all the unsafe here
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let (Some(endpoint), Some(dma)) = (tileos_sys::domain::served_endpoint("attack"), tileos_sys::domain::take_region("nvme-dma")) else {
        log!("dma-attack: FAIL: needs the served endpoint \"attack\" and the shared region \"nvme-dma\"");
        stop();
    };
    let mut device = match Attachment::open("nvme") {
        Ok(device) => device,
        Err(error) => {
            log!("dma-attack: FAIL: no PCI device \"nvme\": {error:?}");
            stop();
        }
    };
    let Ok((address, _)) = device.enable() else {
        log!("dma-attack: FAIL: the pci domain did not enable the controller");
        stop();
    };
    let (Some(registers), true) = (device.take_bar(0), dma.len() >= 3 * 4096) else {
        log!("dma-attack: FAIL: needs \"nvme.bar0\" and three pages of \"nvme-dma\"");
        stop();
    };
    let (sq, rest) = dma.split_at(4096);
    let (cq, data) = rest.split_at(4096);
    registers.write32(reg::CC, 0);
    while registers.read32(reg::CSTS) & CSTS_READY != 0 {
        tileos_sys::yield_now();
    }
    sq.fill(0, 4096, 0);
    cq.fill(0, 4096, 0);
    registers.write32(reg::AQA, admin_queue_attributes(ENTRIES));
    for (offset, queue) in [(reg::ASQ, &sq), (reg::ACQ, &cq)] {
        let paddr = queue.bus_address(0);
        registers.write32(offset, paddr as u32);
        registers.write32(offset + 4, (paddr >> 32) as u32);
    }
    registers.write32(reg::CC, CC_ENABLE);
    while registers.read32(reg::CSTS) & CSTS_READY == 0 {
        tileos_sys::yield_now();
    }
    let mut admin = Admin { registers, sq, cq, tail: 0, head: 0, phase: true };

    // 1. The legitimate DMA: into its own data page.
    let status = admin.run(Command::identify(1, 0, 1, data.bus_address(0)));
    let mut page = [0u8; 4096];
    for (index, byte) in page.iter_mut().enumerate() {
        *byte = data.read8(index);
    }
    let serial = ControllerIdentity::parse(&page).serial;
    let serial = tileos_driver_nvme::trim_ascii(&serial);
    log!("dma-attack: controller {address}: IDENTIFY into its own DMA page: status {status:?}, serial \"{serial}\"");

    // 2. The kernel's text.
    let before = kernel_checksum();
    attack(&mut admin, 2, "the kernel's text", KERNEL_TEXT);
    let after = kernel_checksum();
    if before == after {
        log!("dma-attack: kernel text unchanged (checksum {after:#018x})");
    } else {
        log!("dma-attack: WRONG: the kernel's text changed (checksum {before:#x} -> {after:#x})");
    }

    // 3. Another domain's page, whose address its owner sends.
    let mut message = tileos_sys::recv(endpoint.cptr(), true);
    let mut id = 3;
    loop {
        let target = message.words[0];
        let status = attack(&mut admin, id, "the victim's page", target);
        id = id.wrapping_add(1).max(3);
        message = tileos_sys::reply_recv(endpoint.cptr(), 0, &[u64::from(status.unwrap_or(u16::MAX))]);
    }
}
