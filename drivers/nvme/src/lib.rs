//! NVM Express, the parts that need no device: controller register offsets and fields,
//! submission-entry encoding, completion-entry decoding, queue ring bookkeeping (tail, head,
//! phase), IDENTIFY data parsing and PRP (physical region page) layout. The `nvme` domain
//! (`src/bin/nvme/`) drives the device with these and serves the block protocol
//! (`tileos_protocol::block`).
//!
//! References: NVM Express Base Specification 1.4, §3.1 (registers), §4.2–4.6 (queue
//! entries, PRPs), §5 (admin commands), NVM Command Set §6 (read, write, flush).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

/// Controller register offsets in BAR 0.
pub mod reg {
    /// Controller capabilities (64-bit).
    pub const CAP: usize = 0x00;
    /// Version.
    pub const VS: usize = 0x08;
    /// Interrupt mask set.
    pub const INTMS: usize = 0x0C;
    /// Interrupt mask clear.
    pub const INTMC: usize = 0x10;
    /// Controller configuration.
    pub const CC: usize = 0x14;
    /// Controller status.
    pub const CSTS: usize = 0x1C;
    /// Admin queue attributes (sizes).
    pub const AQA: usize = 0x24;
    /// Admin submission queue base address (64-bit).
    pub const ASQ: usize = 0x28;
    /// Admin completion queue base address (64-bit).
    pub const ACQ: usize = 0x30;
    /// First doorbell register.
    pub const DOORBELLS: usize = 0x1000;
}

/// Fields of the capabilities register (CAP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities(pub u64);

impl Capabilities {
    /// Maximum queue entries supported (MQES is zero-based).
    pub fn max_queue_entries(self) -> u32 {
        (self.0 & 0xFFFF) as u32 + 1
    }

    /// Worst-case time for CSTS.RDY to follow CC.EN, in milliseconds (CAP.TO × 500 ms).
    pub fn timeout_ms(self) -> u64 {
        ((self.0 >> 24) & 0xFF) * 500
    }

    /// Distance between doorbell registers in bytes (4 << CAP.DSTRD).
    pub fn doorbell_stride(self) -> usize {
        4 << ((self.0 >> 32) & 0xF)
    }

    /// Whether the NVM command set is supported (CAP.CSS bit 0).
    pub fn nvm_command_set(self) -> bool {
        (self.0 >> 37) & 1 == 1
    }

    /// Smallest memory page size the controller supports, in bytes (2^(12 + MPSMIN)).
    pub fn min_page_size(self) -> u64 {
        1 << (12 + ((self.0 >> 48) & 0xF))
    }
}

/// Byte offset of the submission-queue tail doorbell of queue `queue`.
pub fn sq_tail_doorbell(queue: u16, stride: usize) -> usize {
    reg::DOORBELLS + 2 * usize::from(queue) * stride
}

/// Byte offset of the completion-queue head doorbell of queue `queue`.
pub fn cq_head_doorbell(queue: u16, stride: usize) -> usize {
    reg::DOORBELLS + (2 * usize::from(queue) + 1) * stride
}

/// Controller configuration (CC) that enables the controller: NVM command set, 4 KiB
/// memory pages, round-robin arbitration, 64-byte submission and 16-byte completion
/// entries.
pub const CC_ENABLE: u32 = 1 | 6 << 16 | 4 << 20;
/// CSTS.RDY: the controller is ready.
pub const CSTS_READY: u32 = 1;
/// CSTS.CFS: controller fatal status.
pub const CSTS_FATAL: u32 = 1 << 1;

/// Admin queue attributes for admin queues of `entries` entries each.
pub fn admin_queue_attributes(entries: u16) -> u32 {
    let zero_based = u32::from(entries - 1);
    zero_based << 16 | zero_based
}

/// Command opcodes.
pub mod opcode {
    /// Admin: create I/O submission queue.
    pub const CREATE_IO_SQ: u8 = 0x01;
    /// Admin: create I/O completion queue.
    pub const CREATE_IO_CQ: u8 = 0x05;
    /// Admin: identify.
    pub const IDENTIFY: u8 = 0x06;
    /// NVM: flush.
    pub const FLUSH: u8 = 0x00;
    /// NVM: write.
    pub const WRITE: u8 = 0x01;
    /// NVM: read.
    pub const READ: u8 = 0x02;
}

/// A 64-byte submission queue entry as sixteen dwords.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Command(pub [u32; 16]);

impl Command {
    /// A command with `opcode`, command identifier `id` and namespace `nsid`, PRPs and
    /// command dwords zero.
    pub fn new(opcode: u8, id: u16, nsid: u32) -> Command {
        let mut dwords = [0; 16];
        dwords[0] = u32::from(opcode) | u32::from(id) << 16;
        dwords[1] = nsid;
        Command(dwords)
    }

    /// Sets PRP entry 1 and 2 (physical addresses).
    pub fn prps(mut self, prp1: u64, prp2: u64) -> Command {
        self.0[6] = prp1 as u32;
        self.0[7] = (prp1 >> 32) as u32;
        self.0[8] = prp2 as u32;
        self.0[9] = (prp2 >> 32) as u32;
        self
    }

    /// Sets command dword `index` (10..=15).
    pub fn dword(mut self, index: usize, value: u32) -> Command {
        self.0[index] = value;
        self
    }

    /// IDENTIFY with controller-or-namespace structure `cns` into the 4 KiB page at `page`.
    pub fn identify(id: u16, nsid: u32, cns: u32, page: u64) -> Command {
        Command::new(opcode::IDENTIFY, id, nsid).prps(page, 0).dword(10, cns)
    }

    /// CREATE I/O COMPLETION QUEUE `queue` of `entries` entries at `base` (physically
    /// contiguous), with interrupts on vector 0 if `interrupts`.
    pub fn create_io_cq(id: u16, queue: u16, entries: u16, base: u64, interrupts: bool) -> Command {
        Command::new(opcode::CREATE_IO_CQ, id, 0)
            .prps(base, 0)
            .dword(10, u32::from(entries - 1) << 16 | u32::from(queue))
            .dword(11, u32::from(interrupts) << 1 | 1)
    }

    /// CREATE I/O SUBMISSION QUEUE `queue` of `entries` entries at `base` (physically
    /// contiguous), completing on completion queue `cq`.
    pub fn create_io_sq(id: u16, queue: u16, entries: u16, base: u64, cq: u16) -> Command {
        Command::new(opcode::CREATE_IO_SQ, id, 0)
            .prps(base, 0)
            .dword(10, u32::from(entries - 1) << 16 | u32::from(queue))
            .dword(11, u32::from(cq) << 16 | 1)
    }

    /// READ or WRITE (`opcode`) of `blocks` logical blocks (1..=65536) from `lba` of
    /// namespace `nsid`, data at `prps`.
    pub fn read_write(opcode: u8, id: u16, nsid: u32, lba: u64, blocks: u32, prps: Prps) -> Command {
        Command::new(opcode, id, nsid).prps(prps.prp1, prps.prp2).dword(10, lba as u32).dword(11, (lba >> 32) as u32).dword(12, blocks - 1)
    }
}

/// A decoded 16-byte completion queue entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// Command-specific result (dword 0).
    pub result: u32,
    /// Submission queue head pointer as the controller saw it.
    pub sq_head: u16,
    /// Submission queue the command came from.
    pub sq_id: u16,
    /// Command identifier.
    pub command_id: u16,
    /// Phase tag.
    pub phase: bool,
    /// Status field: status code (bits 0..8) and status code type (bits 8..11); 0 = success.
    pub status: u16,
}

impl Completion {
    /// Decodes the four dwords of a completion entry.
    pub fn decode(dwords: [u32; 4]) -> Completion {
        Completion {
            result: dwords[0],
            sq_head: dwords[2] as u16,
            sq_id: (dwords[2] >> 16) as u16,
            command_id: dwords[3] as u16,
            phase: (dwords[3] >> 16) & 1 == 1,
            status: ((dwords[3] >> 17) & 0x7FF) as u16,
        }
    }
}

/// Position bookkeeping of one submission/completion queue pair of equal size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    /// Entries in each queue.
    pub entries: u16,
    /// Next submission slot (the tail doorbell value after submitting).
    pub sq_tail: u16,
    /// Next completion slot to look at (the head doorbell value after consuming).
    pub cq_head: u16,
    /// Phase tag that marks a new completion at `cq_head`.
    pub phase: bool,
}

impl Ring {
    /// A fresh queue pair: both queues empty, expected phase 1 (the queue memory is zero).
    pub fn new(entries: u16) -> Ring {
        Ring { entries, sq_tail: 0, cq_head: 0, phase: true }
    }

    /// Takes the next submission slot; returns its index. The caller writes the entry there
    /// and rings the tail doorbell with the new `sq_tail`.
    pub fn submit(&mut self) -> u16 {
        let slot = self.sq_tail;
        self.sq_tail = (self.sq_tail + 1) % self.entries;
        slot
    }

    /// Whether `entry`, read at `cq_head`, is a new completion.
    pub fn is_new(&self, entry: &Completion) -> bool {
        entry.phase == self.phase
    }

    /// Consumes the completion at `cq_head`; the caller rings the head doorbell with the
    /// new `cq_head`.
    pub fn consume(&mut self) {
        self.cq_head += 1;
        if self.cq_head == self.entries {
            self.cq_head = 0;
            self.phase = !self.phase;
        }
    }
}

/// The two PRP entries of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prps {
    /// First data page (may start inside a page).
    pub prp1: u64,
    /// Second data page, or the PRP list's address when the data spans more than two pages,
    /// or 0.
    pub prp2: u64,
    /// Entries written to the PRP list (0 when no list is needed).
    pub list_entries: usize,
}

/// Page size the driver configures (CC.MPS = 0).
pub const PAGE_SIZE: u64 = 4096;

/// PRP entries for `length` bytes (non-zero) of physically contiguous memory at `data`.
/// When more than two pages are touched, the entries after the first are written to
/// `list` (the PRP list page's entries, at physical address `list_paddr`), which must hold
/// them all; returns `None` if it cannot.
pub fn prps_for(data: u64, length: u64, list: &mut [u64], list_paddr: u64) -> Option<Prps> {
    let first_page = data & !(PAGE_SIZE - 1);
    let last_page = (data + length - 1) & !(PAGE_SIZE - 1);
    let pages = (last_page - first_page) / PAGE_SIZE + 1;
    match pages {
        1 => Some(Prps { prp1: data, prp2: 0, list_entries: 0 }),
        2 => Some(Prps { prp1: data, prp2: first_page + PAGE_SIZE, list_entries: 0 }),
        _ => {
            let rest = (pages - 1) as usize;
            if rest > list.len() {
                return None;
            }
            for (index, entry) in list[..rest].iter_mut().enumerate() {
                *entry = first_page + (index as u64 + 1) * PAGE_SIZE;
            }
            Some(Prps { prp1: data, prp2: list_paddr, list_entries: rest })
        }
    }
}

/// What the driver uses from IDENTIFY CONTROLLER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerIdentity {
    /// PCI vendor ID.
    pub vendor: u16,
    /// Serial number (ASCII, space-padded).
    pub serial: [u8; 20],
    /// Model number (ASCII, space-padded).
    pub model: [u8; 40],
    /// Firmware revision (ASCII, space-padded).
    pub firmware: [u8; 8],
    /// Maximum data transfer size as a power of two of the minimum page size; 0 = no limit.
    pub mdts: u8,
    /// Number of namespaces.
    pub namespaces: u32,
}

impl ControllerIdentity {
    /// Parses the 4096-byte IDENTIFY CONTROLLER structure.
    pub fn parse(data: &[u8; 4096]) -> ControllerIdentity {
        let mut serial = [0; 20];
        serial.copy_from_slice(&data[4..24]);
        let mut model = [0; 40];
        model.copy_from_slice(&data[24..64]);
        let mut firmware = [0; 8];
        firmware.copy_from_slice(&data[64..72]);
        ControllerIdentity {
            vendor: u16::from_le_bytes([data[0], data[1]]),
            serial,
            model,
            firmware,
            mdts: data[77],
            namespaces: u32::from_le_bytes([data[516], data[517], data[518], data[519]]),
        }
    }

    /// Largest transfer in bytes for memory pages of `page_size` bytes (`u64::MAX` when
    /// the controller states no limit).
    pub fn max_transfer(&self, page_size: u64) -> u64 {
        if self.mdts == 0 { u64::MAX } else { page_size << self.mdts }
    }
}

/// What the driver uses from IDENTIFY NAMESPACE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamespaceIdentity {
    /// Namespace size in logical blocks.
    pub blocks: u64,
    /// Logical block size in bytes of the formatted LBA format.
    pub block_size: u64,
}

impl NamespaceIdentity {
    /// Parses the 4096-byte IDENTIFY NAMESPACE structure; `None` if the formatted LBA
    /// format is out of the table or its block size is not 512..=65536 bytes, or if the
    /// format carries metadata inline (not supported).
    pub fn parse(data: &[u8; 4096]) -> Option<NamespaceIdentity> {
        let blocks = u64::from_le_bytes(data[0..8].try_into().ok()?);
        let formats = usize::from(data[25]) + 1;
        let format = usize::from(data[26] & 0xF);
        if format >= formats {
            return None;
        }
        let entry = u32::from_le_bytes(data[128 + 4 * format..132 + 4 * format].try_into().ok()?);
        let metadata = entry & 0xFFFF;
        let shift = (entry >> 16) & 0xFF;
        if metadata != 0 || !(9..=16).contains(&shift) {
            return None;
        }
        Some(NamespaceIdentity { blocks, block_size: 1 << shift })
    }
}

/// ASCII identity text without its padding.
pub fn trim_ascii(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("?").trim_end_matches([' ', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_fields() {
        // QEMU's nvme: MQES 2047, CQR, TO 15 (7.5 s), DSTRD 0, CSS NVM, MPSMIN 0, MPSMAX 4.
        let cap = Capabilities(0x0040_0020_0F00_07FF | 1 << 37);
        assert_eq!(cap.max_queue_entries(), 2048);
        assert_eq!(cap.timeout_ms(), 7500);
        assert_eq!(cap.doorbell_stride(), 4);
        assert!(cap.nvm_command_set());
        assert_eq!(cap.min_page_size(), 4096);
        assert_eq!(Capabilities(2 << 32).doorbell_stride(), 16);
    }

    #[test]
    fn doorbells_and_configuration() {
        assert_eq!(sq_tail_doorbell(0, 4), 0x1000);
        assert_eq!(cq_head_doorbell(0, 4), 0x1004);
        assert_eq!(sq_tail_doorbell(1, 4), 0x1008);
        assert_eq!(cq_head_doorbell(1, 16), 0x1030);
        assert_eq!(CC_ENABLE, 0x0046_0001);
        assert_eq!(admin_queue_attributes(64), 0x003F_003F);
    }

    #[test]
    fn command_encoding() {
        let c =
            Command::read_write(opcode::WRITE, 7, 1, 0x1_0000_0002, 8, Prps { prp1: 0x1234_5000, prp2: 0xA_0000_1000, list_entries: 0 });
        assert_eq!(c.0[0], 0x0007_0001);
        assert_eq!(c.0[1], 1);
        assert_eq!((c.0[6], c.0[7], c.0[8], c.0[9]), (0x1234_5000, 0, 0x1000, 0xA));
        assert_eq!((c.0[10], c.0[11], c.0[12]), (2, 1, 7));
        let cq = Command::create_io_cq(1, 1, 64, 0x20_3000, true);
        assert_eq!((cq.0[0] & 0xFF, cq.0[10], cq.0[11]), (0x05, 0x003F_0001, 0x3));
        let sq = Command::create_io_sq(2, 1, 64, 0x20_2000, 1);
        assert_eq!((sq.0[0] & 0xFF, sq.0[10], sq.0[11]), (0x01, 0x003F_0001, 0x0001_0001));
        let id = Command::identify(3, 1, 0, 0x20_4000);
        assert_eq!((id.0[0], id.0[1], id.0[6], id.0[10]), (0x0003_0006, 1, 0x20_4000, 0));
    }

    #[test]
    fn completion_decoding() {
        let c = Completion::decode([0xAB, 0, 0x0001_0005, 0x0001_0009 | 0x2 << 17]);
        assert_eq!(c, Completion { result: 0xAB, sq_head: 5, sq_id: 1, command_id: 9, phase: true, status: 2 });
        assert_eq!(Completion::decode([0, 0, 0, 0x0001_0000]).status, 0);
    }

    #[test]
    fn ring_wraps_and_flips_phase() {
        let mut ring = Ring::new(3);
        assert_eq!([ring.submit(), ring.submit(), ring.submit(), ring.submit()], [0, 1, 2, 0]);
        let new = Completion::decode([0, 0, 0, 1 << 16]);
        let old = Completion::decode([0, 0, 0, 0]);
        assert!(ring.is_new(&new) && !ring.is_new(&old));
        for _ in 0..3 {
            ring.consume();
        }
        assert_eq!((ring.cq_head, ring.phase), (0, false));
        assert!(ring.is_new(&old));
    }

    #[test]
    fn prp_layout() {
        let mut list = [0u64; 4];
        assert_eq!(prps_for(0x10_0200, 512, &mut list, 0x9000), Some(Prps { prp1: 0x10_0200, prp2: 0, list_entries: 0 }));
        assert_eq!(prps_for(0x10_0000, 8192, &mut list, 0x9000), Some(Prps { prp1: 0x10_0000, prp2: 0x10_1000, list_entries: 0 }));
        assert_eq!(prps_for(0x10_0E00, 1024, &mut list, 0x9000), Some(Prps { prp1: 0x10_0E00, prp2: 0x10_1000, list_entries: 0 }));
        assert_eq!(prps_for(0x10_0000, 0x4000, &mut list, 0x9000), Some(Prps { prp1: 0x10_0000, prp2: 0x9000, list_entries: 3 }));
        assert_eq!(list[..3], [0x10_1000, 0x10_2000, 0x10_3000]);
        assert_eq!(prps_for(0x10_0000, 0x6000, &mut list, 0x9000), None);
    }

    #[test]
    fn identify_parsing() {
        let mut data = [0u8; 4096];
        data[0..2].copy_from_slice(&0x1B36u16.to_le_bytes());
        data[4..10].copy_from_slice(b"tileos");
        data[4 + 6..24].fill(b' ');
        data[24..28].copy_from_slice(b"QEMU");
        data[77] = 7;
        data[516..520].copy_from_slice(&1u32.to_le_bytes());
        let controller = ControllerIdentity::parse(&data);
        assert_eq!((controller.vendor, trim_ascii(&controller.serial), trim_ascii(&controller.model)), (0x1B36, "tileos", "QEMU"));
        assert_eq!((controller.namespaces, controller.max_transfer(4096)), (1, 512 * 1024));

        let mut ns = [0u8; 4096];
        ns[0..8].copy_from_slice(&8192u64.to_le_bytes());
        ns[25] = 1; // two formats
        ns[26] = 1; // formatted with the second
        ns[128..132].copy_from_slice(&(9u32 << 16).to_le_bytes());
        ns[132..136].copy_from_slice(&(12u32 << 16).to_le_bytes());
        assert_eq!(NamespaceIdentity::parse(&ns), Some(NamespaceIdentity { blocks: 8192, block_size: 4096 }));
        ns[26] = 2;
        assert_eq!(NamespaceIdentity::parse(&ns), None, "format index beyond the table");
        ns[26] = 0;
        ns[128..132].copy_from_slice(&(9u32 << 16 | 8).to_le_bytes());
        assert_eq!(NamespaceIdentity::parse(&ns), None, "inline metadata");
    }
}
