//! What a domain costs in RAM: the exact bytes the root server retypes for it from the
//! tile's memory, computed from the description and the program's segments.
//!
//! The root server builds a domain from its own memory (`rootserver/src/loader.rs`): one
//! 4 KiB frame per page of each segment, of the stack (its guard page below is left
//! unmapped and costs nothing), of the heap, the IPC buffer and the information page; its
//! CNode ([`crate::Domain::cnode_slots`] slots of 2^[`SLOT_SIZE_BITS`] bytes), its TCB
//! (2^[`TCB_SIZE_BITS`] bytes), its paging structures: the PML4 and one PDPT, page directory or page table per
//! 512 GiB, 1 GiB or 2 MiB block that any of its mappings touches (shared regions, device
//! memory and PCI windows included: their frames are the tile's, their tables the domain's),
//! and its *keeper*: a CNode of the root server holding the capabilities of the domain's
//! memory pieces, of everything built from them and of its copies of shared frames, so that
//! the root server's own CNode needs a fixed handful of slots per domain
//! ([`Footprint::root_slots`]) whatever its size.
//!
//! The keeper is made once, at boot, and lasts across restarts. The rest is cut into
//! power-of-two untyped pieces ([`Footprint::pieces`]), the binary digits of what the builds
//! take ([`Footprint::built`]), so nothing is lost to rounding up to a power of two. Built in
//! the order the loader uses (largest object first: a CNode of 4 KiB or more, the 4 KiB
//! objects, the TCB, a smaller CNode) and from the largest piece down, every object lands at
//! its natural alignment with no gap: the pieces hold exactly [`Footprint::built`] bytes.
//! [`keeper`] is the keeper's slot bookkeeping.
//!
//! The image builder uses the same figures to refuse a description that does not fit in the
//! tile's RAM and to print its size table (`tileos-imagebuild --sizes`).

use crate::SystemDescription;
use alloc::vec::Vec;
use tileos_abi::bootinfo::{domain, domain_info};
use tileos_abi::object::{SLOT_SIZE_BITS, TCB_SIZE_BITS};

pub mod admission;
pub mod keeper;

const PAGE: u64 = 4096;
/// Bytes of a domain's TCB.
pub const TCB_BYTES: u64 = 1 << TCB_SIZE_BITS;
/// Smallest keeper radix (16 slots, 1 KiB): every build keeps more objects than that.
const MIN_KEEPER_RADIX: u32 = 4;
/// Root-server slots a built domain holds: its keeper, its TCB (the supervisor reads and
/// changes its thread) and its badged fault endpoint.
const ROOT_SLOTS: u64 = 3;

/// A loadable segment of a domain's program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address of its first byte.
    pub vaddr: u64,
    /// Bytes in memory.
    pub mem_size: u64,
}

/// The program a domain runs, as far as its memory goes.
#[derive(Clone, Copy, Debug)]
pub enum Program<'a> {
    /// A known executable's segments.
    Segments(&'a [Segment]),
    /// A seat of a shadow-execution slot: whatever module its manager loads, at most `bytes`
    /// of segments at addresses not known in advance (paging counted for the worst case).
    Seat {
        /// The slot's `module_memory` (or the boot program's image, if larger).
        bytes: u64,
    },
}

/// A domain's RAM, by what it holds (bytes; every figure is really retyped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// The program's segments (whole pages).
    pub segments: u64,
    /// The stack (the guard page below it is unmapped: 0 bytes).
    pub stack: u64,
    /// The heap.
    pub heap: u64,
    /// The IPC buffer.
    pub ipc_buffer: u64,
    /// The read-only information page.
    pub info_page: u64,
    /// The CNode.
    pub cnode: u64,
    /// The TCB.
    pub tcb: u64,
    /// The PML4 and every PDPT, page directory and page table.
    pub paging: u64,
    /// The keeper: the root server's CNode for the capabilities of its memory pieces, its
    /// objects and the shared frames, device frames and badged notifications it is given.
    pub keeper: u64,
}

impl Footprint {
    /// Every byte the domain takes.
    pub fn total(&self) -> u64 {
        self.segments + self.beyond_segments()
    }

    /// Every byte beyond its program's segments (the figure a minimal domain keeps small).
    pub fn beyond_segments(&self) -> u64 {
        self.stack + self.heap + self.ipc_buffer + self.info_page + self.cnode + self.tcb + self.paging + self.keeper
    }

    /// Kernel objects one build retypes besides the keeper (each takes a slot of the root
    /// server's CNode while the domain is built).
    pub fn objects(&self) -> u64 {
        (self.segments + self.stack + self.heap + self.ipc_buffer + self.info_page + self.paging) / PAGE + 2
    }

    /// log2 of the keeper's slot count.
    pub fn keeper_radix(&self) -> u32 {
        self.keeper.trailing_zeros() - SLOT_SIZE_BITS
    }

    /// Slots of the root server's CNode the built domain holds: its keeper, TCB and fault
    /// endpoint, whatever its size. While it is built it takes up to the keeper's slot count
    /// more, given back once its pieces and objects are moved into the keeper.
    pub fn root_slots(&self) -> u64 {
        ROOT_SLOTS
    }

    /// Bytes a build retypes from the domain's pieces: everything but the keeper.
    pub fn built(&self) -> u64 {
        self.total() - self.keeper
    }

    /// log2 sizes of the untyped pieces that hold its builds, largest first: the binary
    /// digits of [`Footprint::built`] (a multiple of the TCB's size).
    pub fn pieces(&self) -> impl Iterator<Item = u32> {
        let built = self.built();
        (0..64u32).rev().filter(move |bit| built & (1 << bit) != 0)
    }
}

/// Distinct blocks of `1 << shift` bytes that the page ranges touch.
fn blocks(ranges: &[(u64, u64)], shift: u32) -> u64 {
    let mut touched: Vec<u64> = Vec::new();
    for &(start, end) in ranges.iter().filter(|&&(start, end)| start < end) {
        touched.extend((start >> shift)..=((end - 1) >> shift));
    }
    touched.sort_unstable();
    touched.dedup();
    touched.len() as u64
}

/// Paging structures (PML4 included) for mappings covering `ranges` (start, end).
fn paging_structures(ranges: &[(u64, u64)]) -> u64 {
    1 + blocks(ranges, 39) + blocks(ranges, 30) + blocks(ranges, 21)
}

/// The footprint of domain `index` of `description` running `program`.
pub fn domain(description: &SystemDescription, index: usize, program: Program) -> Footprint {
    let d = &description.domains[index];
    let pages = |bytes: u64| bytes.div_ceil(PAGE) * PAGE;
    let stack = pages(d.stack_size).max(PAGE);
    let heap = pages(d.heap_size);
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    ranges.push((domain::STACK_TOP - stack, domain::STACK_TOP));
    ranges.push((domain::IPC_BUFFER_VADDR, domain::IPC_BUFFER_VADDR + PAGE));
    ranges.push((domain_info::VADDR, domain_info::VADDR + PAGE));
    if heap > 0 {
        ranges.push((domain_info::HEAP_VADDR, domain_info::HEAP_VADDR + heap));
    }
    let this = index as u32;
    // Capabilities the keeper holds besides the domain's objects: a copy of every shared and
    // device frame mapped, a PCI device's window frames and up to 8 more of its capabilities,
    // and the badged notification bound to each IRQ handler.
    let mut copies = 0;
    for region in &description.shared_regions {
        for mapping in region.mappings.iter().filter(|m| m.domain == this) {
            ranges.push((mapping.vaddr, mapping.vaddr + region.size));
            copies += region.size.div_ceil(PAGE);
        }
    }
    for device in description.device_memory.iter().filter(|m| m.domain == this) {
        ranges.push((device.vaddr, device.vaddr + device.size));
        copies += device.size.div_ceil(PAGE);
    }
    for pci in description.pci_devices.iter().filter(|p| p.domain == this) {
        ranges.push((pci.vaddr, pci.vaddr + pci.window));
        copies += pci.window.div_ceil(PAGE) + 8;
    }
    copies += description.irqs.iter().filter(|irq| irq.domain == this).count() as u64;
    let (segments, extra_tables) = match program {
        Program::Segments(segments) => {
            let mut bytes = 0;
            for segment in segments {
                let (start, end) = (segment.vaddr & !(PAGE - 1), pages(segment.vaddr + segment.mem_size));
                bytes += end - start;
                ranges.push((start, end));
            }
            (bytes, 0)
        }
        // Anywhere: a page table per 2 MiB and one more for a straddle, likewise a page
        // directory per GiB, and a PDPT of their own.
        Program::Seat { bytes } => {
            let bytes = pages(bytes);
            (bytes, bytes.div_ceil(1 << 21) + 1 + bytes.div_ceil(1 << 30) + 1 + 1)
        }
    };
    let mut footprint = Footprint {
        segments,
        stack,
        heap,
        ipc_buffer: PAGE,
        info_page: PAGE,
        cnode: u64::from(d.cnode_slots) << SLOT_SIZE_BITS,
        tcb: TCB_BYTES,
        paging: (paging_structures(&ranges) + extra_tables) * PAGE,
        keeper: 0,
    };
    // The keeper holds every object but the TCB (which stays in the root server's CNode),
    // the copies and the pieces.
    let kept = footprint.objects() - 1 + copies + footprint.pieces().count() as u64;
    let radix = (64 - (kept.max(1) - 1).leading_zeros()).max(MIN_KEEPER_RADIX);
    footprint.keeper = 1 << (radix + SLOT_SIZE_BITS);
    footprint
}

/// One domain's line in a size table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Consumer<'a> {
    /// Its name.
    pub name: &'a str,
    /// What it takes.
    pub footprint: Footprint,
}

/// The `count` largest consumers, largest first (ties in description order).
pub fn largest<'a>(consumers: &[Consumer<'a>], count: usize) -> Vec<Consumer<'a>> {
    let mut sorted: Vec<Consumer> = consumers.to_vec();
    sorted.sort_by_key(|c| core::cmp::Reverse(c.footprint.total()));
    sorted.truncate(count);
    sorted
}

#[cfg(test)]
pub(crate) mod tests;
