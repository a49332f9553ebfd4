//! Boot: turning the memory map and the first boot module into a running root server.
//!
//! A boot-time allocator carves the root server's objects (CNode, TCB, PML4, paging
//! structures, image/stack/BootInfo/IPC-buffer frames) out of free RAM; everything left
//! becomes untyped capabilities, and the holes below 4 GiB become device untyped. After this
//! the kernel allocates nothing: all further memory comes from retyping untyped.
#![deny(unsafe_code)]

use crate::arch::apic::{IOAPIC_BASE, LAPIC_BASE};
use crate::arch::memory::{PHYS_MAP_SIZE, kernel_image_range};
use crate::arch::paging::{self, NO_EXECUTE, PRESENT, USER, WRITABLE};
use crate::invoke::untyped::create_at_boot as create_object;
use crate::state::{KernelMemory, Reg, boot_module, copy_to, init_object, tcb, zero};
use crate::{kprintln, thread};
use heapless::Vec;
use tileos_abi::bootinfo::{self, BootInfo, ModuleDesc, SlotRange, UntypedDesc, slot};
use tileos_abi::object::{MAX_UNTYPED_BITS, ObjectType, Rights};
use tileos_kernel::cap::{Cap, Mapping, tcb_slot};
use tileos_kernel::cspace::{self, CSpaceMemory, slot_address};
use tileos_kernel::multiboot::{MemoryKind, MultibootInfo};

/// Why the root server could not be started.
#[derive(Debug)]
pub enum BootError {
    /// No boot module was given.
    NoRootServer,
    /// The root server module is not a loadable ELF.
    BadElf(tileos_elf::ElfError),
    /// Two ELF segments share a page (the root server must be linked page-aligned).
    SharedPage(u64),
    /// Not enough free memory for the root server's objects.
    OutOfMemory,
    /// More boot modules, untyped regions or image frames than the BootInfo page or the
    /// root CNode can describe.
    TooMany(&'static str),
    /// The ACPI DMAR table is broken or the IOMMU it names could not be set up.
    Iommu(&'static str),
}

impl core::fmt::Display for BootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BootError::NoRootServer => f.write_str("no boot module: pass the root server ELF as the first multiboot module"),
            BootError::BadElf(e) => write!(f, "root server module: {e}"),
            BootError::SharedPage(v) => write!(f, "root server segments share the page at {v:#x}; link it with page-aligned segments"),
            BootError::OutOfMemory => f.write_str("not enough free memory for the root server"),
            BootError::TooMany(what) => write!(f, "too many {what} for the root server's BootInfo/CNode"),
            BootError::Iommu(problem) => write!(f, "IOMMU: {problem}"),
        }
    }
}

/// Free physical ranges `[start, end)` below the direct-map limit.
struct FreeMemory {
    ranges: Vec<(u64, u64), 64>,
}

impl FreeMemory {
    /// Available RAM above 1 MiB, minus the kernel image and the boot modules.
    fn new(info: &MultibootInfo) -> Result<FreeMemory, BootError> {
        let mut free = FreeMemory { ranges: Vec::new() };
        for region in info.memory.iter().filter(|r| r.kind == MemoryKind::Available) {
            let start = region.base.max(0x10_0000);
            let end = (region.base + region.length).min(PHYS_MAP_SIZE);
            if start < end {
                free.ranges.push((start, end)).map_err(|_| BootError::TooMany("memory regions"))?;
            }
        }
        let (kernel_start, kernel_end) = kernel_image_range();
        free.remove(kernel_start, kernel_end)?;
        for module in &info.modules {
            free.remove(module.start & !0xFFF, (module.end + 0xFFF) & !0xFFF)?;
        }
        Ok(free)
    }

    /// Takes `[start, end)` out of the free ranges.
    fn remove(&mut self, start: u64, end: u64) -> Result<(), BootError> {
        let mut kept: Vec<(u64, u64), 64> = Vec::new();
        for &(a, b) in &self.ranges {
            for piece in [(a, b.min(start)), (a.max(end), b)] {
                if piece.0 < piece.1 {
                    kept.push(piece).map_err(|_| BootError::TooMany("memory regions"))?;
                }
            }
        }
        self.ranges = kept;
        Ok(())
    }

    /// Allocates `2^bits` bytes aligned to their size.
    fn allocate(&mut self, bits: u32) -> Result<u64, BootError> {
        let size = 1u64 << bits;
        let found = self.ranges.iter().find_map(|&(a, b)| {
            let start = (a + size - 1) & !(size - 1);
            (start + size <= b).then_some(start)
        });
        let start = found.ok_or(BootError::OutOfMemory)?;
        self.remove(start, start + size)?;
        Ok(start)
    }
}

/// Slots of the root CNode filled so far.
struct Slots {
    cnode: u64,
    next: u64,
}

impl Slots {
    fn put(&mut self, cap: Cap) -> Result<u64, BootError> {
        if self.next >= 1 << bootinfo::ROOT_CNODE_RADIX {
            return Err(BootError::TooMany("capabilities"));
        }
        let index = self.next;
        cspace::insert_root(&mut KernelMemory, slot_address(self.cnode, index), cap);
        self.next += 1;
        Ok(index)
    }
}

/// Builds the root server from the first boot module and makes it runnable.
pub fn create(info: &MultibootInfo) -> Result<(), BootError> {
    let module = info.modules.first().ok_or(BootError::NoRootServer)?;
    // The module lies in RAM below 4 GiB, reserved from allocation above.
    let image = boot_module(module.start, module.end - module.start);
    let elf = tileos_elf::parse(image).map_err(BootError::BadElf)?;
    let mut free = FreeMemory::new(info)?;

    // The root CNode: radix `ROOT_CNODE_RADIX` (14), its guard the remaining bits of zero, so capability pointers are slot numbers.
    let cnode_bits = bootinfo::ROOT_CNODE_RADIX + tileos_abi::object::SLOT_SIZE_BITS;
    let cnode = free.allocate(cnode_bits)?;
    let cnode_cap = create_object(ObjectType::CNode, cnode, cnode_bits, bootinfo::ROOT_CNODE_RADIX as u8);
    let Cap::CNode { paddr, radix, .. } = cnode_cap else { return Err(BootError::OutOfMemory) };
    let cnode_cap = Cap::CNode { paddr, radix, guard_bits: 64 - radix, guard: 0 };
    let mut slots = Slots { cnode, next: slot::TCB };

    let tcb_paddr = free.allocate(tileos_abi::object::TCB_SIZE_BITS)?;
    create_object(ObjectType::Tcb, tcb_paddr, tileos_abi::object::TCB_SIZE_BITS, 0);
    let pml4 = free.allocate(12)?;
    let vspace_cap = create_object(ObjectType::Pml4, pml4, 12, 0);
    let Cap::Pml4 { asid, .. } = vspace_cap else { return Err(BootError::OutOfMemory) };

    slots.put(Cap::Tcb { paddr: tcb_paddr })?;
    slots.put(cnode_cap)?;
    slots.put(vspace_cap)?;
    slots.put(Cap::IrqControl)?;
    slots.put(Cap::IoPortControl)?;
    let iommu = iommu(&mut free)?;

    let map = |free: &mut FreeMemory, vaddr: u64, flags: u64| -> Result<(u64, Cap), BootError> {
        let frame = free.allocate(12)?;
        create_object(ObjectType::Frame4K, frame, 12, 0);
        map_page(free, pml4, vaddr, frame | flags)?;
        let rights = if flags & WRITABLE != 0 { Rights::ALL } else { Rights::READ };
        Ok((frame, Cap::Frame { paddr: frame, size_bits: 12, rights, device: false, mapping: Mapping { asid, vaddr } }))
    };
    let (bootinfo_frame, bootinfo_cap) = map(&mut free, bootinfo::ROOT_BOOTINFO_VADDR, PRESENT | USER | NO_EXECUTE)?;
    let (_, ipc_cap) = map(&mut free, bootinfo::ROOT_IPC_BUFFER_VADDR, PRESENT | USER | WRITABLE | NO_EXECUTE)?;
    slots.put(bootinfo_cap)?;
    slots.put(ipc_cap)?;
    let iospace_control = if iommu.is_some() { slots.put(Cap::IoSpaceControl)? } else { 0 };

    // Image: one fresh frame per page, file bytes copied in, permissions from the ELF.
    let image_start = slots.next;
    let mut last_page = None;
    for segment in elf.segments() {
        let first_page = segment.vaddr & !0xFFF;
        let end = segment.vaddr + segment.mem_size;
        let mut page = first_page;
        while page < end {
            if last_page.is_some_and(|last| page <= last) {
                return Err(BootError::SharedPage(page));
            }
            let mut flags = PRESENT | USER;
            if segment.permissions.write {
                flags |= WRITABLE;
            }
            if !segment.permissions.execute {
                flags |= NO_EXECUTE;
            }
            let (frame, cap) = map(&mut free, page, flags)?;
            // Copy the part of the file data that falls in this page.
            let data_start = segment.vaddr;
            let data_end = segment.vaddr + segment.data.len() as u64;
            let (copy_start, copy_end) = (page.max(data_start), (page + 4096).min(data_end));
            if copy_start < copy_end {
                let source = &segment.data[(copy_start - data_start) as usize..(copy_end - data_start) as usize];
                // The frame was just allocated and cleared; the copy stays inside it.
                copy_to(frame + (copy_start - page), source);
            }
            slots.put(cap)?;
            last_page = Some(page);
            page += 4096;
        }
    }
    let stack_bottom = bootinfo::ROOT_STACK_TOP - bootinfo::ROOT_STACK_SIZE;
    for page in (stack_bottom..bootinfo::ROOT_STACK_TOP).step_by(4096) {
        let (_, cap) = map(&mut free, page, PRESENT | USER | WRITABLE | NO_EXECUTE)?;
        slots.put(cap)?;
    }
    let image_frames = SlotRange { start: image_start, end: slots.next };

    // Boot modules after the root server: their frames, unmapped.
    let mut modules = [ModuleDesc { frames: SlotRange::default(), size: 0, name: [0; 128] }; bootinfo::MAX_MODULES];
    if info.modules.len() - 1 > bootinfo::MAX_MODULES {
        return Err(BootError::TooMany("boot modules"));
    }
    for (desc, module) in modules.iter_mut().zip(info.modules.iter().skip(1)) {
        let start = slots.next;
        let mut page = module.start & !0xFFF;
        while page < module.end {
            slots.put(Cap::Frame { paddr: page, size_bits: 12, rights: Rights::ALL, device: false, mapping: Mapping::NONE })?;
            page += 4096;
        }
        let name = module.cmdline.as_bytes();
        let tail = &name[name.len().saturating_sub(127)..];
        desc.name[..tail.len()].copy_from_slice(tail);
        *desc = ModuleDesc { frames: SlotRange { start, end: slots.next }, size: module.end - module.start, name: desc.name };
    }

    // Untyped: every remaining free range, then device untyped for the holes below 4 GiB.
    let untyped_start = slots.next;
    let mut untyped_list = [UntypedDesc::default(); bootinfo::MAX_UNTYPED];
    let mut count = 0;
    let mut add_untyped = |slots: &mut Slots, paddr: u64, bits: u32, device: bool| -> Result<(), BootError> {
        if count == bootinfo::MAX_UNTYPED {
            return Err(BootError::TooMany("untyped regions"));
        }
        slots.put(Cap::Untyped { paddr, size_bits: bits as u8, device, free_offset: 0, prepared_to: 0, prepared_kind: 0 })?;
        untyped_list[count] = UntypedDesc { paddr, size_bits: bits as u8, is_device: device as u8, reserved: [0; 6] };
        count += 1;
        Ok(())
    };
    for &(start, end) in &free.ranges {
        for (paddr, bits) in aligned_blocks(start, end) {
            add_untyped(&mut slots, paddr, bits, false)?;
        }
    }
    for (start, end) in device_ranges(info, iommu)? {
        for (paddr, bits) in aligned_blocks(start, end) {
            add_untyped(&mut slots, paddr, bits, true)?;
        }
    }
    let untyped = SlotRange { start: untyped_start, end: slots.next };

    let mut cmdline = [0u8; 128];
    let own = module.cmdline.as_bytes();
    cmdline[..own.len().min(127)].copy_from_slice(&own[..own.len().min(127)]);
    let boot_info = BootInfo {
        magic: bootinfo::MAGIC,
        cmdline,
        boot_tsc: crate::arch::memory::boot_timestamp(),
        ipc_buffer: bootinfo::ROOT_IPC_BUFFER_VADDR,
        image_frames,
        untyped,
        empty: SlotRange { start: slots.next, end: 1 << bootinfo::ROOT_CNODE_RADIX },
        module_count: (info.modules.len() - 1) as u64,
        modules,
        untyped_list,
        tsc_per_ms: crate::arch::apic::calibration().tsc_per_ms,
        tick_us: crate::arch::apic::TICK_US,
        iospace_control,
    };
    // The BootInfo frame is a fresh 4 KiB frame; BootInfo fits in it.
    init_object(bootinfo_frame, boot_info);
    const _: () = assert!(core::mem::size_of::<BootInfo>() <= 4096);

    // The root server's thread: highest priority, its own CSpace and VSpace.
    let mut memory = KernelMemory;
    let t = tcb(tcb_paddr);
    t.set_priority(255);
    t.set_mcp(255);
    t.set_ipc_buffer_vaddr(bootinfo::ROOT_IPC_BUFFER_VADDR);
    t.set_reg(Reg::Rip, elf.entry);
    t.set_reg(Reg::Rsp, bootinfo::ROOT_STACK_TOP - 8);
    t.set_reg(Reg::Rdi, bootinfo::ROOT_BOOTINFO_VADDR);
    for (tcb_index, root_index) in
        [(tcb_slot::CSPACE, slot::CNODE), (tcb_slot::VSPACE, slot::VSPACE), (tcb_slot::IPC_BUFFER, slot::IPC_BUFFER_FRAME)]
    {
        let source = slot_address(cnode, root_index);
        let cap = memory.read(source).cap;
        cspace::insert_derived(&mut memory, source, thread::tcb_slot_address(tcb_paddr, tcb_index), cap, false);
    }
    kprintln!(
        "root server: entry {:#x}, {} image frames, {} untyped ({} device), {} module(s), free slots {}..{}",
        elf.entry,
        image_frames.end - image_frames.start,
        untyped.end - untyped.start,
        untyped_list[..count].iter().filter(|u| u.is_device != 0).count(),
        boot_info.module_count,
        boot_info.empty.start,
        boot_info.empty.end
    );
    thread::make_runnable(tcb_paddr);
    Ok(())
}

/// Maps one 4 KiB page during boot, creating missing paging structures from `free`.
fn map_page(free: &mut FreeMemory, pml4: u64, vaddr: u64, entry: u64) -> Result<(), BootError> {
    let mut table_paddr = pml4;
    // Tables reached from the new PML4 are boot-allocated paging structures.
    for level in (2..=4).rev() {
        let index = paging::index(vaddr, level);
        let mut next = paging::read_entry(table_paddr, index);
        if next & PRESENT == 0 {
            let new = free.allocate(12)?;
            zero(new, 4096); // freshly allocated page-sized memory
            next = new | PRESENT | WRITABLE | USER;
            paging::write_entry(table_paddr, index, next);
        }
        table_paddr = next & paging::ADDRESS_MASK;
    }
    paging::write_entry(table_paddr, paging::index(vaddr, 1), entry);
    Ok(())
}

/// Splits `[start, end)` into naturally aligned power-of-two blocks of at least 4 KiB.
fn aligned_blocks(start: u64, end: u64) -> impl Iterator<Item = (u64, u32)> {
    let mut at = (start + 0xFFF) & !0xFFF;
    let end = end & !0xFFF;
    core::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let align_bits = if at == 0 { 63 } else { at.trailing_zeros() };
        let size_bits = 63 - (end - at).leading_zeros();
        let bits = align_bits.min(size_bits).min(MAX_UNTYPED_BITS);
        let block = (at, bits);
        at += 1 << bits;
        Some(block)
    })
}

/// Physical ranges below 4 GiB that are neither RAM nor reserved in the memory map nor
/// the APICs: where PCI devices place their registers.
fn device_ranges(info: &MultibootInfo, iommu: Option<u64>) -> Result<Vec<(u64, u64), 16>, BootError> {
    let ram_top = info
        .memory
        .iter()
        .filter(|r| r.kind == MemoryKind::Available && r.base < PHYS_MAP_SIZE)
        .map(|r| (r.base + r.length).min(PHYS_MAP_SIZE))
        .max()
        .unwrap_or(0);
    let mut holes = FreeMemory { ranges: Vec::new() };
    holes.ranges.push(((ram_top + 0xFFF) & !0xFFF, PHYS_MAP_SIZE)).map_err(|_| BootError::TooMany("device ranges"))?;
    for region in info.memory.iter().filter(|r| r.kind != MemoryKind::Available) {
        holes.remove(region.base & !0xFFF, (region.base + region.length + 0xFFF) & !0xFFF)?;
    }
    holes.remove(LAPIC_BASE, LAPIC_BASE + 0x1000)?;
    holes.remove(IOAPIC_BASE, IOAPIC_BASE + 0x1000)?;
    if let Some(base) = iommu {
        holes.remove(base, base + 0x1000)?;
    }
    let mut ranges = Vec::new();
    for range in holes.ranges {
        ranges.push(range).map_err(|_| BootError::TooMany("device ranges"))?;
    }
    Ok(ranges)
}

/// Finds the IOMMU (ACPI DMAR) and sets it up with its root and context tables taken from
/// `free`, every device blocked; returns its register address. A machine without a DMAR
/// table (QEMU's `pc`) runs without one, as the log says.
fn iommu(free: &mut FreeMemory) -> Result<Option<u64>, BootError> {
    use tileos_kernel::acpi::{AcpiError, find_drhd};
    let base = match find_drhd(&crate::arch::memory::DirectMap) {
        Ok(base) => base,
        Err(error @ (AcpiError::NoRsdp | AcpiError::NoDmar)) => {
            kprintln!("iommu: none ({error}): devices can DMA to all of memory");
            return Ok(None);
        }
        Err(error) => {
            kprintln!("iommu: {error}");
            return Err(BootError::Iommu("the ACPI DMAR table or a table leading to it is malformed"));
        }
    };
    let root = free.allocate(12)?;
    let contexts_bits = 12 + crate::arch::iommu::BUSES.trailing_zeros();
    let contexts = free.allocate(contexts_bits)?;
    zero(root, 4096);
    zero(contexts, 1 << contexts_bits);
    crate::arch::iommu::init(base, root, contexts).map_err(BootError::Iommu)?;
    Ok(Some(base))
}
