//! The `nvme` domain: drives one NVM Express controller (QEMU `-device nvme`) and serves the
//! block protocol of [`tileos_driver_nvme::block`] on its endpoint "block".
//!
//! What the description must grant (see `qemu/runner/tests/scenarios/nvme.toml`):
//! - the controller as the `[[pci_device]]` named "nvme" (class 0x010802): the root server
//!   maps its BAR 0 (the registers, [`MIN_BAR0_BYTES`] at least; 16 KiB on QEMU) as the
//!   region "nvme.bar0" and gives the capability "nvme.pci", with which the driver has the
//!   `pci` domain enable the controller ([`tileos_pci_attach`]);
//! - a shared region "nvme-dma" of [`DMA_PAGES`] pages for the queues, IDENTIFY data and
//!   the PRP list (physically contiguous; its physical address comes from the information
//!   page);
//! - a shared region "block-buffer" with the client: the data of reads and writes, which the
//!   controller reaches directly by DMA;
//! - for completion by interrupt: the device's `interrupt` routed to the notification
//!   "nvme-irq" (the driver gets the MSI handler "nvme.msi" and switches the controller to
//!   MSI-X, vector 0 for every queue; a controller without MSI-X interrupts on its INTx
//!   line, "nvme.intx"). Without it the driver polls the completion queues and says so in
//!   its log.
//!
//! **Restarts.** The supervisor may kill the driver at any moment (a fault, or a restart
//! asked through the supervisor control protocol), typically with a command in flight; the
//! controller stays enabled with the old queues. The next generation resets it (CC.EN = 0,
//! then the normal bring-up), which deletes every queue and ends every command. Before the
//! reset it tells the controller that the completions the dead generation never consumed are
//! consumed (it rings the completion-queue head doorbells up to the last posted entry):
//! otherwise a controller may keep its INTx line asserted for them across the reset (QEMU's
//! does: its pending-completion count survives the reset, and the line then never drops,
//! an interrupt storm). To know where the old queues' heads and phases were, every
//! generation keeps a handover record ([`HANDOVER_PAGE`] of "nvme-dma", which like every
//! shared region survives restarts) up to date with each consumed completion. A client
//! whose request was in flight gets a lost reply from the kernel and retries; a write in
//! flight may or may not have reached the disk, which a retry of the same write makes moot.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

use core::sync::atomic::{Ordering, fence};
use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_driver_nvme::block::{Block, Geometry, Refusal, Request, Response};
use tileos_driver_nvme::{
    CC_ENABLE, CSTS_FATAL, CSTS_READY, Capabilities, Command, Completion, ControllerIdentity, NamespaceIdentity, PAGE_SIZE, Ring,
    admin_queue_attributes, cq_head_doorbell, opcode, prps_for, reg, sq_tail_doorbell, trim_ascii,
};
use tileos_mmio::Mmio;
use tileos_pci_attach::{Attachment, Interrupt};
use tileos_sys::cap::IrqHandler;
use tileos_sys::log;

/// Smallest BAR 0 used: the registers (4 KiB) and the doorbells of two queue pairs at the
/// largest doorbell stride accepted ([`MAX_DOORBELL_STRIDE`]).
const MIN_BAR0_BYTES: u64 = 0x1000 + 4 * MAX_DOORBELL_STRIDE as u64;
/// Largest doorbell stride (bytes) this driver accepts.
const MAX_DOORBELL_STRIDE: usize = 1024;
/// Pages of the "nvme-dma" region: admin SQ, admin CQ, I/O SQ, I/O CQ, IDENTIFY, PRP list,
/// handover record (cut in this order at start).
const DMA_PAGES: u64 = 7;
/// The page of "nvme-dma" holding the handover record between generations: word 0
/// [`HANDOVER_MAGIC`], word 1 the admin completion queue's head and phase, word 2 the I/O
/// completion queue's (head in bits 15:0, phase in bit 16, bit 17 = the queue exists).
const HANDOVER_PAGE: u64 = 6;
// The handover record is the last page cut from "nvme-dma" (see `_start`).
const _: () = assert!(HANDOVER_PAGE == DMA_PAGES - 1);
/// Marks a valid handover record.
const HANDOVER_MAGIC: u32 = 0x4E56_4D48;
/// Entries of every queue (64-byte SQ entries: one page per submission queue).
const QUEUE_ENTRIES: u16 = 64;
/// The one namespace used.
const NSID: u32 = 1;
/// Entries of the PRP list page.
const PRP_LIST_ENTRIES: usize = (PAGE_SIZE / 8) as usize;
/// Nominal time-stamp counter ticks per millisecond for the readiness timeout.
const TSC_PER_MS: u64 = 1_000_000;

/// Why the controller could not be brought up or a command failed.
#[derive(Clone, Copy, Debug)]
enum DriverError {
    /// CSTS.RDY did not reach the wanted value within CAP.TO.
    ReadyTimeout { wanted: bool },
    /// The controller reported a fatal status (CSTS.CFS).
    Fatal,
    /// A command completed with a non-zero status (status field, opcode).
    Status { status: u16, opcode: u8 },
    /// A completion carried an unexpected command identifier.
    WrongCompletion { expected: u16, got: u16 },
    /// The namespace's formatted LBA format is not usable (metadata, or an odd block size).
    UnsupportedFormat,
}

impl core::fmt::Display for DriverError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DriverError::ReadyTimeout { wanted } => write!(f, "CSTS.RDY did not become {} within CAP.TO", u8::from(*wanted)),
            DriverError::Fatal => write!(f, "controller fatal status (CSTS.CFS)"),
            DriverError::Status { status, opcode } => write!(f, "command {opcode:#04x} failed with status {status:#x}"),
            DriverError::WrongCompletion { expected, got } => write!(f, "completion for command {got} while waiting for {expected}"),
            DriverError::UnsupportedFormat => write!(f, "namespace LBA format unsupported (metadata or block size)"),
        }
    }
}

/// Reads the 64-bit register at `offset` of `registers` as two 32-bit halves, low first.
fn read64(registers: &Mmio, offset: usize) -> u64 {
    u64::from(registers.read32(offset)) | u64::from(registers.read32(offset + 4)) << 32
}

/// Writes the 64-bit register at `offset` of `registers` as two 32-bit halves, low first.
fn write64(registers: &Mmio, offset: usize, value: u64) {
    registers.write32(offset, value as u32);
    registers.write32(offset + 4, (value >> 32) as u32);
}

/// Bytes of one page as an offset.
const PAGE: usize = PAGE_SIZE as usize;

/// One submission/completion queue pair.
struct Queue {
    id: u16,
    ring: Ring,
    /// The submission queue's page of "nvme-dma".
    sq: Mmio,
    /// The completion queue's page.
    cq: Mmio,
}

/// How completions are awaited.
enum Wait {
    /// IRQ handler capability and the notification it signals.
    Interrupt { handler: u64, notification: u64, count: u64 },
    /// Poll the completion queue, yielding between looks.
    Poll,
}

struct Controller {
    /// BAR 0: the registers and doorbells, mapped uncached.
    registers: Mmio,
    stride: usize,
    admin: Queue,
    io: Queue,
    /// The IDENTIFY data page.
    identify: Mmio,
    /// The PRP list page.
    prp_list: Mmio,
    /// The handover record for the next generation.
    handover: Mmio,
    wait: Wait,
    next_id: u16,
    /// Commands completed so far.
    completions: u64,
    /// Of those, the ones whose completion was awaited on the interrupt.
    after_interrupt: u64,
    /// Whether the I/O queue pair has been created (recorded for the next generation).
    io_created: bool,
}

/// Which queue a command goes to.
#[derive(Clone, Copy)]
enum Target {
    Admin,
    Io,
}

impl Controller {
    /// Resets the controller, sets up the admin queues and enables it.
    fn enable(&mut self, cap: Capabilities) -> Result<(), DriverError> {
        let r = &self.registers;
        r.write32(reg::CC, 0);
        self.wait_ready(cap, false)?;
        for page in [&self.admin.sq, &self.admin.cq, &self.io.sq, &self.io.cq] {
            page.fill(0, PAGE, 0);
        }
        self.admin.ring = Ring::new(QUEUE_ENTRIES);
        self.io.ring = Ring::new(QUEUE_ENTRIES);
        self.record(false);
        r.write32(reg::AQA, admin_queue_attributes(QUEUE_ENTRIES));
        write64(r, reg::ASQ, self.admin.sq.bus_address(0));
        write64(r, reg::ACQ, self.admin.cq.bus_address(0));
        // All interrupts unmasked (INTx: the one vector).
        r.write32(reg::INTMC, 1);
        r.write32(reg::CC, CC_ENABLE);
        self.wait_ready(cap, true)
    }

    /// Writes the handover record: both completion queues' head and phase, and whether the
    /// I/O queue exists.
    fn record(&self, io_exists: bool) {
        let word = |ring: &Ring, exists: bool| u32::from(ring.cq_head) | u32::from(ring.phase) << 16 | u32::from(exists) << 17;
        self.handover.write32(4, word(&self.admin.ring, true));
        self.handover.write32(8, word(&self.io.ring, io_exists));
        self.handover.write32(0, HANDOVER_MAGIC);
    }

    /// Takes over from a previous generation that left the controller enabled: consumes the
    /// completions it left in both completion queues (head doorbells up to the last posted
    /// entry, read from the handover record and the phase tags). Returns how many there were.
    fn take_over(&mut self) -> Option<u32> {
        let enabled = self.registers.read32(reg::CC) & CC_ENABLE != 0 && self.registers.read32(reg::CSTS) & CSTS_READY != 0;
        if !enabled || self.handover.read32(0) != HANDOVER_MAGIC {
            return None;
        }
        let mut stale = 0;
        for (id, word, page) in [(0u16, self.handover.read32(4), &self.admin.cq), (1, self.handover.read32(8), &self.io.cq)] {
            let head = (word & 0xFFFF) as u16;
            if word & 1 << 17 == 0 || head >= QUEUE_ENTRIES {
                continue;
            }
            let mut ring = Ring { entries: QUEUE_ENTRIES, sq_tail: 0, cq_head: head, phase: word & 1 << 16 != 0 };
            let mut consumed = 0;
            while consumed < QUEUE_ENTRIES {
                let base = usize::from(ring.cq_head) * 16;
                let entry = Completion::decode(core::array::from_fn(|index| page.read32(base + 4 * index)));
                if !ring.is_new(&entry) {
                    break;
                }
                ring.consume();
                consumed += 1;
            }
            if consumed > 0 {
                self.registers.write32(cq_head_doorbell(id, self.stride), u32::from(ring.cq_head));
                stale += u32::from(consumed);
            }
        }
        self.handover.write32(0, 0);
        Some(stale)
    }

    fn wait_ready(&self, cap: Capabilities, wanted: bool) -> Result<(), DriverError> {
        let deadline = tileos_sys::timestamp() + cap.timeout_ms().max(1000) * TSC_PER_MS;
        loop {
            let status = self.registers.read32(reg::CSTS);
            if wanted && status & CSTS_FATAL != 0 {
                return Err(DriverError::Fatal);
            }
            if (status & CSTS_READY != 0) == wanted {
                return Ok(());
            }
            if tileos_sys::timestamp() > deadline {
                return Err(DriverError::ReadyTimeout { wanted });
            }
            tileos_sys::yield_now();
        }
    }

    /// Submits `command` (its identifier is set here) and waits for its completion.
    fn execute(&mut self, target: Target, mut command: Command) -> Result<Completion, DriverError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        command.0[0] = command.0[0] & 0xFFFF | u32::from(id) << 16;
        let queue = match target {
            Target::Admin => &mut self.admin,
            Target::Io => &mut self.io,
        };
        let slot = usize::from(queue.ring.submit());
        for (index, &dword) in command.0.iter().enumerate() {
            queue.sq.write32(4 * (slot * 16 + index), dword);
        }
        // The entry (and any PRP list) must be in memory before the doorbell write.
        fence(Ordering::SeqCst);
        self.registers.write32(sq_tail_doorbell(queue.id, self.stride), u32::from(queue.ring.sq_tail));
        let completion = self.await_completion(target);
        if completion.command_id != id {
            return Err(DriverError::WrongCompletion { expected: id, got: completion.command_id });
        }
        if completion.status != 0 {
            return Err(DriverError::Status { status: completion.status, opcode: command.0[0] as u8 });
        }
        Ok(completion)
    }

    /// Consumes the next completion of `target`'s queue if one is there (and tells the
    /// controller, which then drops its interrupt).
    fn poll(&mut self, target: Target) -> Option<Completion> {
        let queue = match target {
            Target::Admin => &mut self.admin,
            Target::Io => &mut self.io,
        };
        let base = usize::from(queue.ring.cq_head) * 16;
        let entry = Completion::decode(core::array::from_fn(|index| queue.cq.read32(base + 4 * index)));
        if !queue.ring.is_new(&entry) {
            return None;
        }
        fence(Ordering::SeqCst);
        queue.ring.consume();
        let head = queue.ring.cq_head;
        let id = queue.id;
        self.record(self.io_created);
        self.registers.write32(cq_head_doorbell(id, self.stride), u32::from(head));
        Some(entry)
    }

    /// Waits for the next completion on `target`'s queue. With interrupts, every received
    /// notification is followed by an acknowledgement once the completion queue has been
    /// drained (so a level-triggered line is low again when the pin is unmasked).
    fn await_completion(&mut self, target: Target) -> Completion {
        let mut woken = false;
        let mut waited = false;
        loop {
            let found = self.poll(target);
            if let (Wait::Interrupt { handler, .. }, true) = (&self.wait, woken) {
                if let Err(error) = IrqHandler::from_cptr(*handler).ack() {
                    log!("nvme: acknowledging the interrupt failed: {error:?}");
                }
                woken = false;
            }
            if let Some(completion) = found {
                self.completions += 1;
                self.after_interrupt += u64::from(waited);
                return completion;
            }
            match &mut self.wait {
                Wait::Interrupt { notification, count, .. } => {
                    tileos_sys::recv(*notification, true);
                    *count += 1;
                    woken = true;
                    waited = true;
                }
                Wait::Poll => tileos_sys::yield_now(),
            }
        }
    }

    /// IDENTIFY structure `cns` of namespace `nsid`, copied out of the DMA page.
    fn identify(&mut self, nsid: u32, cns: u32) -> Result<[u8; 4096], DriverError> {
        let page = self.identify.bus_address(0);
        self.execute(Target::Admin, Command::identify(0, nsid, cns, page))?;
        let mut data = [0u8; 4096];
        for (index, chunk) in data.chunks_exact_mut(4).enumerate() {
            chunk.copy_from_slice(&self.identify.read32(4 * index).to_le_bytes());
        }
        Ok(data)
    }

    /// Reads or writes `blocks` blocks from `lba` at physical address `data`, in commands of
    /// at most `max_blocks` blocks.
    fn transfer(&mut self, opcode: u8, lba: u64, blocks: u64, data: u64, block_size: u64, max_blocks: u64) -> Result<(), (u16, u64)> {
        let mut done = 0;
        while done < blocks {
            let count = (blocks - done).min(max_blocks);
            let mut list = [0u64; PRP_LIST_ENTRIES];
            let prps = prps_for(data + done * block_size, count * block_size, &mut list, self.prp_list.bus_address(0))
                .expect("max_blocks keeps every command within one PRP list page");
            for (index, entry) in list[..prps.list_entries].iter().enumerate() {
                self.prp_list.write32(8 * index, *entry as u32);
                self.prp_list.write32(8 * index + 4, (*entry >> 32) as u32);
            }
            let command = Command::read_write(opcode, 0, NSID, lba + done, count as u32, prps);
            match self.execute(Target::Io, command) {
                Ok(_) => done += count,
                Err(DriverError::Status { status, .. }) => return Err((status, lba + done)),
                Err(error) => {
                    log!("nvme: {error} at block {}", lba + done);
                    return Err((0xFFFF, lba + done));
                }
            }
        }
        Ok(())
    }
}

/// Entry point.
#[allow(unsafe_code)] // the entry symbol: `#[unsafe(no_mangle)]` is all the unsafe here
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let (Some(endpoint), Some(dma), Some((_, buffer_paddr, buffer_size))) = (
        tileos_sys::domain::cap(CapKind::ServedEndpoint, "block"),
        tileos_sys::domain::take_region("nvme-dma"),
        tileos_sys::domain::region("block-buffer"),
    ) else {
        log!("nvme: needs the served endpoint \"block\" and the shared regions \"nvme-dma\" and \"block-buffer\"; stopping");
        stop();
    };
    let dma_size = dma.len() as u64;
    if dma_size < DMA_PAGES * PAGE_SIZE {
        log!("nvme: the \"nvme-dma\" region has {dma_size:#x} bytes, {:#x} needed; stopping", DMA_PAGES * PAGE_SIZE);
        stop();
    }
    let mut device = match Attachment::open("nvme") {
        Ok(device) => device,
        Err(error) => {
            log!("nvme: no PCI device \"nvme\" granted ({error:?}); stopping");
            stop();
        }
    };
    let Some((bar0, bar0_paddr, bar0_size)) = device.memory_bar(0).filter(|&(_, _, size)| size >= MIN_BAR0_BYTES) else {
        log!("nvme: the region \"nvme.bar0\" (the controller registers) is missing or smaller than {MIN_BAR0_BYTES:#x} bytes; stopping");
        stop();
    };
    let (address, msix) = match device.enable() {
        Ok(enabled) => enabled,
        Err(error) => {
            log!("nvme: the pci domain did not enable the controller: {error:?}; stopping");
            stop();
        }
    };
    log!("nvme: controller at {address}, BAR0 {bar0_paddr:#x} size {bar0_size:#x} mapped at {bar0:#x}");
    let wait = match (device.interrupt, tileos_sys::domain::cap(CapKind::WaitNotification, "nvme-irq"), msix) {
        (Some(Interrupt::Msix(handler)), Some(notification), Some(table)) => {
            log!("nvme: completions by interrupt (MSI-X vector 0 of {}, table in BAR{})", table.vectors, table.table_bar);
            Wait::Interrupt { handler: handler.cptr(), notification, count: 0 }
        }
        (Some(Interrupt::Intx(handler)), Some(notification), _) => {
            log!("nvme: completions by interrupt (INTx through the IOAPIC; the controller has no MSI-X)");
            Wait::Interrupt { handler: handler.cptr(), notification, count: 0 }
        }
        _ => {
            log!("nvme: no interrupt routed to the notification \"nvme-irq\": polling the completion queues");
            Wait::Poll
        }
    };
    let Some(registers) = device.take_bar(0) else {
        unreachable!("BAR 0 is mapped (checked above) and taken only here");
    };
    // "nvme-dma" cut into its pages, in the order of DMA_PAGES.
    let mut rest = Some(dma);
    let mut page = || {
        let (page, tail) = rest.take().expect("DMA_PAGES pages (checked above)").split_at(PAGE);
        rest = Some(tail);
        page
    };
    let mut controller = Controller {
        registers,
        stride: 4,
        admin: Queue { id: 0, ring: Ring::new(QUEUE_ENTRIES), sq: page(), cq: page() },
        io: Queue { id: 1, ring: Ring::new(QUEUE_ENTRIES), sq: page(), cq: page() },
        identify: page(),
        prp_list: page(),
        handover: page(),
        wait,
        next_id: 1,
        completions: 0,
        after_interrupt: 0,
        io_created: false,
    };
    let cap = Capabilities(read64(&controller.registers, reg::CAP));
    let version = controller.registers.read32(reg::VS);
    controller.stride = cap.doorbell_stride();
    if let Some(stale) = controller.take_over() {
        log!(
            "nvme: generation {}: the previous generation left the controller enabled; {stale} completions it never consumed acknowledged before the reset",
            tileos_sys::domain::info().generation
        );
    }
    log!(
        "nvme: version {}.{}, max queue entries {}, timeout {} ms, doorbell stride {}",
        version >> 16,
        version >> 8 & 0xFF,
        cap.max_queue_entries(),
        cap.timeout_ms(),
        controller.stride
    );
    if !cap.nvm_command_set() || cap.min_page_size() > PAGE_SIZE || cap.max_queue_entries() < u32::from(QUEUE_ENTRIES) {
        log!("nvme: controller lacks the NVM command set, 4 KiB pages or {QUEUE_ENTRIES}-entry queues; stopping");
        stop();
    }
    if controller.stride > MAX_DOORBELL_STRIDE {
        log!("nvme: doorbell stride {} is above the {MAX_DOORBELL_STRIDE} bytes this driver maps; stopping", controller.stride);
        stop();
    }
    let (geometry, max_transfer) = match bring_up(&mut controller, buffer_size) {
        Ok(found) => found,
        Err(error) => {
            log!("nvme: bring-up failed: {error}; stopping");
            stop();
        }
    };
    let max_blocks = (max_transfer.min(PRP_LIST_ENTRIES as u64 * PAGE_SIZE) / geometry.block_size).min(65536);
    log!(
        "nvme: ready: {} blocks of {} bytes ({} KiB), {} bytes per command at most; serving \"block\"",
        geometry.blocks,
        geometry.block_size,
        geometry.disk_size() / 1024,
        max_blocks * geometry.block_size
    );
    if let Wait::Interrupt { count, .. } = &controller.wait {
        log!("nvme: bring-up took {} commands and {count} interrupts", controller.completions);
    }
    tileos_sys::rpc::serve::<Block>(tileos_sys::cap::Endpoint::from_cptr(endpoint), |_, request| {
        let response = match request {
            Request::Read { disk_offset, length, buffer_offset } | Request::Write { disk_offset, length, buffer_offset } => {
                match geometry.check(disk_offset, length, buffer_offset) {
                    Ok(transfer) => {
                        let opcode = if matches!(request, Request::Read { .. }) { opcode::READ } else { opcode::WRITE };
                        let data = buffer_paddr + transfer.buffer_offset;
                        match controller.transfer(opcode, transfer.lba, transfer.blocks, data, geometry.block_size, max_blocks) {
                            Ok(()) => Response::Transferred { length },
                            Err((status, lba)) => Response::Refused(Refusal::Device { status, lba }),
                        }
                    }
                    Err(refusal) => Response::Refused(refusal),
                }
            }
            Request::Flush => {
                let response = match controller.execute(Target::Io, Command::new(opcode::FLUSH, 0, NSID)) {
                    Ok(_) => Response::Flushed,
                    Err(DriverError::Status { status, .. }) => Response::Refused(Refusal::Device { status, lba: 0 }),
                    Err(error) => {
                        log!("nvme: flush: {error}");
                        Response::Refused(Refusal::Device { status: 0xFFFF, lba: 0 })
                    }
                };
                if let Wait::Interrupt { count, .. } = &controller.wait {
                    log!(
                        "nvme: flush done; {} commands so far, {} completed after an interrupt ({count} interrupts)",
                        controller.completions,
                        controller.after_interrupt
                    );
                }
                response
            }
            Request::Capacity => {
                Response::Capacity { disk_size: geometry.disk_size(), block_size: geometry.block_size, buffer_size: geometry.buffer_size }
            }
        };
        Ok(response)
    })
}

/// Identifies controller and namespace and creates the I/O queue pair. Returns the disk
/// geometry and the controller's largest transfer in bytes.
fn bring_up(controller: &mut Controller, buffer_size: u64) -> Result<(Geometry, u64), DriverError> {
    let cap = Capabilities(read64(&controller.registers, reg::CAP));
    controller.enable(cap)?;
    let identity = ControllerIdentity::parse(&controller.identify(0, 1)?);
    log!(
        "nvme: controller {:04x} model \"{}\" serial \"{}\" firmware \"{}\", {} namespaces, mdts {}",
        identity.vendor,
        trim_ascii(&identity.model),
        trim_ascii(&identity.serial),
        trim_ascii(&identity.firmware),
        identity.namespaces,
        identity.mdts
    );
    let namespace = NamespaceIdentity::parse(&controller.identify(NSID, 0)?).ok_or(DriverError::UnsupportedFormat)?;
    let interrupts = matches!(controller.wait, Wait::Interrupt { .. });
    let (cq, sq) = (controller.io.cq.bus_address(0), controller.io.sq.bus_address(0));
    controller.execute(Target::Admin, Command::create_io_cq(0, 1, QUEUE_ENTRIES, cq, interrupts))?;
    controller.io_created = true;
    controller.record(true);
    controller.execute(Target::Admin, Command::create_io_sq(0, 1, QUEUE_ENTRIES, sq, 1))?;
    Ok((Geometry { blocks: namespace.blocks, block_size: namespace.block_size, buffer_size }, identity.max_transfer(PAGE_SIZE)))
}

/// Stops this domain's only thread.
fn stop() -> ! {
    let _ = tileos_sys::domain::own_tcb().suspend();
    unreachable!("a suspended thread does not run")
}
