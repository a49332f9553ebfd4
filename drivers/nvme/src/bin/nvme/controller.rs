//! The controller: registers, the admin and I/O queue pairs, commands one at a time (the
//! bring-up and the endpoint's requests) or in batches (the rings, [`crate::queued`]), the
//! wait for completions, and the handover record between driver generations.

use core::sync::atomic::{Ordering, fence};
use tileos_driver_nvme::{
    CC_ENABLE, CSTS_FATAL, CSTS_READY, Capabilities, Command, Completion, ControllerIdentity, NamespaceIdentity, PAGE_SIZE, Ring,
    admin_queue_attributes, cq_head_doorbell, prps_for, reg, sq_tail_doorbell, trim_ascii,
};
use tileos_mmio::Mmio;
use tileos_protocol::block::Geometry;
use tileos_sys::cap::IrqHandler;
use tileos_sys::log;

/// Smallest BAR 0 used: the registers (4 KiB) and the doorbells of two queue pairs at the
/// largest doorbell stride accepted ([`MAX_DOORBELL_STRIDE`]).
pub const MIN_BAR0_BYTES: u64 = 0x1000 + 4 * MAX_DOORBELL_STRIDE as u64;
/// Largest doorbell stride (bytes) this driver accepts.
pub const MAX_DOORBELL_STRIDE: usize = 1024;
/// Pages of the "nvme-dma" region: admin SQ, admin CQ, I/O SQ, I/O CQ, IDENTIFY, PRP list,
/// handover record (cut in this order at start).
pub const DMA_PAGES: u64 = 7;
/// The page of "nvme-dma" holding the handover record between generations: word 0
/// [`HANDOVER_MAGIC`], word 1 the admin completion queue's head and phase, word 2 the I/O
/// completion queue's (head in bits 15:0, phase in bit 16, bit 17 = the queue exists).
pub const HANDOVER_PAGE: u64 = 6;
// The handover record is the last page cut from "nvme-dma" (see `_start`).
const _: () = assert!(HANDOVER_PAGE == DMA_PAGES - 1);
/// Marks a valid handover record.
const HANDOVER_MAGIC: u32 = 0x4E56_4D48;
/// Entries of every queue (64-byte SQ entries: one page per submission queue).
pub const QUEUE_ENTRIES: u16 = 64;
/// The one namespace used.
pub const NSID: u32 = 1;
/// Entries of the PRP list page.
pub const PRP_LIST_ENTRIES: usize = (PAGE_SIZE / 8) as usize;
/// Nominal time-stamp counter ticks per millisecond for the readiness timeout.
const TSC_PER_MS: u64 = 1_000_000;

/// Why the controller could not be brought up or a command failed.
#[derive(Clone, Copy, Debug)]
pub enum DriverError {
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
pub fn read64(registers: &Mmio, offset: usize) -> u64 {
    u64::from(registers.read32(offset)) | u64::from(registers.read32(offset + 4)) << 32
}

/// Writes the 64-bit register at `offset` of `registers` as two 32-bit halves, low first.
fn write64(registers: &Mmio, offset: usize, value: u64) {
    registers.write32(offset, value as u32);
    registers.write32(offset + 4, (value >> 32) as u32);
}

/// Bytes of one page as an offset.
pub const PAGE: usize = PAGE_SIZE as usize;

/// One submission/completion queue pair.
pub struct Queue {
    /// Queue identifier.
    pub id: u16,
    /// Positions in the queues.
    pub ring: Ring,
    /// The submission queue's page of "nvme-dma".
    pub sq: Mmio,
    /// The completion queue's page.
    pub cq: Mmio,
}

/// How completions are awaited.
pub enum Wait {
    /// IRQ handler capability and the notification it signals.
    Interrupt { handler: u64, notification: u64, count: u64 },
    /// Poll the completion queue, yielding between looks.
    Poll,
}

/// The controller and the driver's memory for it.
pub struct Controller {
    /// BAR 0: the registers and doorbells, mapped uncached.
    pub registers: Mmio,
    /// Doorbell stride in bytes.
    pub stride: usize,
    /// The admin queue pair.
    pub admin: Queue,
    /// The I/O queue pair.
    pub io: Queue,
    /// The IDENTIFY data page.
    pub identify: Mmio,
    /// The PRP list page.
    pub prp_list: Mmio,
    /// The handover record for the next generation.
    pub handover: Mmio,
    /// How completions are awaited.
    pub wait: Wait,
    /// Identifier of the next command executed on its own.
    pub next_id: u16,
    /// Commands completed so far.
    pub completions: u64,
    /// Of those, the ones whose completion was awaited on the interrupt.
    pub after_interrupt: u64,
    /// Flushes completed so far (the command counts are logged after the 1st, 2nd, 4th,
    /// 8th … flush: a store flushes after every durable write).
    pub flushes: u64,
    /// Whether the I/O queue pair has been created (recorded for the next generation).
    pub io_created: bool,
    /// Whether a wait for a completion consumed a client's signal (a bit of "nvme-irq"
    /// other than [`IRQ_BIT`]): its ring must be looked at before the driver sleeps.
    pub kicked: bool,
}

/// The bit of "nvme-irq" the controller's interrupt sets; the clients' rings signal the
/// others.
pub const IRQ_BIT: u64 = 1;

/// Which queue a command goes to.
#[derive(Clone, Copy)]
pub enum Target {
    /// The admin queue pair.
    Admin,
    /// The I/O queue pair.
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
    pub fn take_over(&mut self) -> Option<u32> {
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

    /// The queue pair of `target`.
    fn queue(&mut self, target: Target) -> &mut Queue {
        match target {
            Target::Admin => &mut self.admin,
            Target::Io => &mut self.io,
        }
    }

    /// Writes `command` into the next slot of `target`'s submission queue without telling
    /// the controller ([`Controller::ring`] does, once for a batch).
    pub fn push(&mut self, target: Target, command: Command) {
        let queue = self.queue(target);
        let slot = usize::from(queue.ring.submit());
        for (index, &dword) in command.0.iter().enumerate() {
            queue.sq.write32(4 * (slot * 16 + index), dword);
        }
    }

    /// Tells the controller about every command pushed to `target`'s queue: one tail
    /// doorbell write.
    pub fn ring(&mut self, target: Target) {
        let (id, tail) = {
            let queue = self.queue(target);
            (queue.id, queue.ring.sq_tail)
        };
        // The entries (and any PRP lists) must be in memory before the doorbell write.
        fence(Ordering::SeqCst);
        self.registers.write32(sq_tail_doorbell(id, self.stride), u32::from(tail));
    }

    /// Submits `command` (its identifier is set here) and waits for its completion.
    pub fn execute(&mut self, target: Target, mut command: Command) -> Result<Completion, DriverError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        command.0[0] = command.0[0] & 0xFFFF | u32::from(id) << 16;
        self.push(target, command);
        self.ring(target);
        let completion = self.await_completion(target);
        if completion.command_id != id {
            return Err(DriverError::WrongCompletion { expected: id, got: completion.command_id });
        }
        if completion.status != 0 {
            return Err(DriverError::Status { status: completion.status, opcode: command.0[0] as u8 });
        }
        Ok(completion)
    }

    /// Consumes every completion `target`'s queue holds, handing each to `each`, then
    /// tells the controller once (one head doorbell write; it then drops its interrupt) and
    /// updates the handover record. Returns how many there were.
    fn reap(&mut self, target: Target, each: &mut impl FnMut(Completion)) -> u64 {
        let queue = self.queue(target);
        let mut found = 0;
        loop {
            let base = usize::from(queue.ring.cq_head) * 16;
            let entry = Completion::decode(core::array::from_fn(|index| queue.cq.read32(base + 4 * index)));
            if !queue.ring.is_new(&entry) {
                break;
            }
            fence(Ordering::SeqCst);
            queue.ring.consume();
            found += 1;
            each(entry);
        }
        if found > 0 {
            let (id, head) = (queue.id, queue.ring.cq_head);
            self.record(self.io_created);
            self.registers.write32(cq_head_doorbell(id, self.stride), u32::from(head));
        }
        found
    }

    /// Waits for the next completion on `target`'s queue.
    fn await_completion(&mut self, target: Target) -> Completion {
        let mut found = None;
        self.await_completions(target, 1, |completion| found = Some(completion));
        found.expect("await_completions returns after one completion")
    }

    /// Waits until `count` completions of `target`'s queue have been consumed, handing each
    /// to `each`, in batches: every look consumes all the queue holds. With interrupts,
    /// every received notification is followed by an acknowledgement once the completion
    /// queue has been drained (so a level-triggered line is low again when the pin is
    /// unmasked).
    pub fn await_completions(&mut self, target: Target, mut count: u64, mut each: impl FnMut(Completion)) {
        let mut woken = false;
        let mut waited = false;
        loop {
            let found = self.reap(target, &mut each);
            if let (Wait::Interrupt { handler, .. }, true) = (&self.wait, woken) {
                if let Err(error) = IrqHandler::from_cptr(*handler).ack() {
                    log!("nvme: acknowledging the interrupt failed: {error:?}");
                }
                woken = false;
            }
            self.completions += found;
            if waited {
                self.after_interrupt += found;
            }
            count = count.saturating_sub(found);
            if count == 0 {
                return;
            }
            match &mut self.wait {
                Wait::Interrupt { notification, count, .. } => {
                    let word = tileos_sys::recv(*notification, true).badge;
                    self.kicked |= word & !IRQ_BIT != 0;
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
    pub fn transfer(&mut self, opcode: u8, lba: u64, blocks: u64, data: u64, block_size: u64, max_blocks: u64) -> Result<(), (u16, u64)> {
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

/// Identifies controller and namespace and creates the I/O queue pair. Returns the whole
/// disk's geometry (no buffer) and the controller's largest transfer in bytes.
pub fn bring_up(controller: &mut Controller) -> Result<(Geometry, u64), DriverError> {
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
    Ok((
        Geometry { first_block: 0, blocks: namespace.blocks, block_size: namespace.block_size, buffer_size: 0 },
        identity.max_transfer(PAGE_SIZE),
    ))
}
