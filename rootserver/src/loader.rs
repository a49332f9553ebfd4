//! Building a domain from an ELF executable: a new address space with the executable's
//! segments (text not writable, data not executable), a stack with an unmapped guard page
//! below it, an IPC buffer, a heap, the read-only domain information page, a CNode holding
//! exactly the granted capabilities, and a TCB — then starting it.

use crate::alloc::{AllocError, Allocator};
use crate::vspace::map;
use ::alloc_crate::format;
use ::alloc_crate::string::String;
use tileos_abi::bootinfo::domain_info::{self, CapEntry, CapKind, DomainInfo, ParamEntry, RegionEntry};
use tileos_abi::bootinfo::{BootInfo, domain, slot};
use tileos_abi::invocation::{
    CNodeCopy, CNodeMint, CNodeMove, CPtr, FrameUnmap, Registers, Slot, TcbConfigure, TcbSetMcPriority, TcbSetPriority, TcbSetSchedParams,
    TcbWriteRegisters, frame_attributes,
};
use tileos_abi::object::{ObjectType, Rights};
use tileos_sys::Error;
use tileos_sys::cap::{CNode, Frame, Tcb};
use tileos_sysdesc::footprint::admission::Refusal;

/// Where the root server maps frames it is filling or reading.
const SCRATCH: u64 = 0x3000_0000;
/// Where the root server maps boot modules to read them.
const MODULES: u64 = 0x4000_0000;

/// Why a domain could not be built.
#[derive(Clone, Debug)]
pub enum LoadError {
    /// The program is not a loadable executable.
    Elf(tileos_elf::ElfError),
    /// A kernel invocation failed.
    Kernel(&'static str, Error),
    /// An object could not be made: no memory or no slot left, or the kernel refused.
    Alloc(&'static str, AllocError),
    /// Admission refused it: the RAM, the root server's CNode slots, the kernel's address
    /// spaces or the root server's heap left cannot hold it (`tileos_sysdesc::footprint::admission`).
    Refused(Refusal),
    /// The domain's keeper CNode has too few slots for its pieces and what its build made
    /// (its footprint counted too few: a bug of `tileos_sysdesc::footprint`).
    KeeperFull {
        /// The keeper's slots.
        capacity: u64,
    },
    /// No boot module has this name.
    NoSuchModule,
    /// More capabilities than the domain information page lists.
    TooManyCapabilities,
    /// A device the domain is granted cannot be given to it (the message says why).
    Device(String),
    /// A mapping the description asks for overlaps the program's own memory.
    Layout(String),
    /// The domain's CNode has too few slots for its own capabilities and its grants.
    CNodeTooSmall {
        /// Its slots (the description's `cnode_slots`).
        slots: u64,
        /// Capabilities it is granted.
        grants: u64,
    },
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::Elf(error) => write!(f, "program: {error}"),
            LoadError::Kernel(what, error) => write!(f, "{what}: kernel error {:?} (details {:?})", error.code, error.details),
            LoadError::Alloc(what, error) => write!(f, "{what}: {error}"),
            LoadError::Refused(refusal) => write!(f, "{refusal}"),
            LoadError::KeeperFull { capacity } => write!(f, "its keeper CNode ({capacity} slots) is full: the footprint counted too few"),
            LoadError::NoSuchModule => f.write_str("no boot module with that name"),
            LoadError::TooManyCapabilities => write!(f, "more than {} capabilities", domain_info::MAX_CAPS),
            LoadError::Device(problem) | LoadError::Layout(problem) => f.write_str(problem),
            LoadError::CNodeTooSmall { slots, grants } => write!(
                f,
                "its CNode (cnode_slots = {slots}) has room for {} granted capabilities besides its own {}, it is granted {grants}",
                slots - domain::FIRST_GRANTED,
                domain::FIRST_GRANTED
            ),
        }
    }
}

fn kernel(what: &'static str) -> impl Fn(Error) -> LoadError {
    move |error| LoadError::Kernel(what, error)
}

fn allocation(what: &'static str) -> impl Fn(AllocError) -> LoadError {
    move |error| LoadError::Alloc(what, error)
}

/// Maps the frames of boot module `name` read-only into the root server and returns its bytes.
pub fn module<'a>(alloc: &mut Allocator, info: &'a BootInfo, name: &str) -> Result<&'a [u8], LoadError> {
    let mut base = MODULES;
    for desc in &info.modules[..info.module_count as usize] {
        let module_name = core::str::from_utf8(&desc.name).unwrap_or("").trim_end_matches('\0');
        let frames = desc.frames.end - desc.frames.start;
        // The command line is the file (QEMU passes its path, GRUB its path in the ISO)
        // followed by words; the module matches if its file name or any word is `name`.
        let matches = module_name.split_whitespace().any(|word| {
            let file = word.rsplit('/').next().unwrap_or(word);
            word == name || file == name || file.strip_suffix(".elf") == Some(name)
        });
        if matches {
            for (index, frame) in (desc.frames.start..desc.frames.end).enumerate() {
                let vaddr = base + index as u64 * 4096;
                match map(alloc, slot::VSPACE, frame, vaddr, Rights::READ.0 as u64, 0) {
                    Ok(()) => {}
                    // Already mapped by an earlier load of the same module.
                    Err(AllocError::Kernel(e)) if e.code == Some(tileos_abi::error::InvocationError::IllegalOperation) => {}
                    Err(e) => return Err(LoadError::Alloc("map module", e)),
                }
            }
            // SAFETY: the module's frames were just mapped read-only at `base`.
            return Ok(unsafe { core::slice::from_raw_parts(base as *const u8, desc.size as usize) });
        }
        base += (frames + 1) * 4096;
    }
    Err(LoadError::NoSuchModule)
}

/// A capability to place in the domain's CNode.
#[derive(Clone, Copy, Debug)]
pub struct Grant<'a> {
    /// Root-server slot of the capability to copy (or, with `moved`, to move).
    pub source: u64,
    /// Rights mask of the copy.
    pub rights: Rights,
    /// Badge to mint (0: plain copy).
    pub badge: u64,
    /// Move the capability instead of copying it (IRQ handlers, IO ports issued for it).
    pub moved: bool,
    /// Kind, for the information page.
    pub kind: CapKind,
    /// Name, for the information page.
    pub name: &'a str,
}

/// A frame (a root-server slot whose capability is not mapped yet) to map into the domain.
#[derive(Clone, Copy, Debug)]
pub struct ExtraMapping {
    /// Frame capability slot.
    pub frame: u64,
    /// Where it goes.
    pub vaddr: u64,
    /// Rights of the mapping.
    pub rights: Rights,
    /// Frame attributes (executable, uncached).
    pub attributes: u64,
}

/// Parameters of a domain to build.
pub struct Spec<'a> {
    /// Name (information page, logs).
    pub name: &'a str,
    /// The executable.
    pub elf: &'a [u8],
    /// Scheduling priority.
    pub priority: u8,
    /// Maximum controlled priority.
    pub mcp: u8,
    /// Stack size in bytes (rounded up to pages).
    pub stack_size: u64,
    /// log2 of its CNode's slots (at most [`domain::CNODE_RADIX`], which the kernel-test,
    /// bench and fuzz domains get).
    pub cnode_radix: u32,
    /// Heap size in bytes (rounded up to pages; 0: none).
    pub heap_size: u64,
    /// Root-server slot of the (badged) fault endpoint capability (0: none).
    pub fault_endpoint: u64,
    /// Capabilities for the domain's CNode, from [`domain::FIRST_GRANTED`] on.
    pub grants: &'a [Grant<'a>],
    /// Further frames to map (shared regions, device memory).
    pub mappings: &'a [ExtraMapping],
    /// Regions to list on the information page (shared regions, device memory, PCI BARs):
    /// (name, address, physical address, size).
    pub regions: &'a [(&'a str, u64, u64, u64)],
    /// Value of `rdi` at the domain's entry.
    pub argument: u64,
    /// How many times this domain has been started before.
    pub generation: u64,
    /// Scheduling budget: (budget, period) in milliseconds; `None`: unlimited.
    pub budget_ms: Option<(u32, u32)>,
    /// Endpoint parameters of the clients of the endpoints the domain serves (at most
    /// [`domain_info::MAX_PARAMS`], checked with the description).
    pub params: &'a [ParamEntry],
}

/// Builds a domain from `alloc`'s current untyped and starts it; returns its TCB slot.
pub fn spawn(alloc: &mut Allocator, spec: &Spec) -> Result<u64, LoadError> {
    spawn_domain(alloc, spec).map(|domain| domain.tcb)
}

/// The root server's slots of a domain's TCB, CNode and VSpace (unguarded CNode capability).
pub struct Spawned {
    /// Its TCB.
    pub tcb: u64,
    /// Its CNode.
    pub cnode: u64,
    /// Its VSpace (PML4).
    pub vspace: u64,
}

/// [`spawn`], returning the domain's TCB, CNode and VSpace (for a second thread in it).
pub fn spawn_domain(alloc: &mut Allocator, spec: &Spec) -> Result<Spawned, LoadError> {
    let exe = tileos_elf::parse(spec.elf).map_err(LoadError::Elf)?;
    check(&exe, spec)?;
    let mut image = Image::begin(alloc, &exe, spec.cnode_radix, spec.stack_size, spec.heap_size)?;
    image.map_pages(alloc, &exe, u64::MAX)?;
    let spawned = image.finish(alloc, &exe, spec)?;
    release(spawned.tcb, exe.entry, spec.argument)?;
    Ok(spawned)
}

/// The checks of `spec` made before anything is built: the grants fit the information page
/// and the CNode, and no extra mapping overlaps the program's own memory.
fn check(exe: &tileos_elf::Executable, spec: &Spec) -> Result<(), LoadError> {
    if spec.grants.len() > domain_info::MAX_CAPS {
        return Err(LoadError::TooManyCapabilities);
    }
    if domain::FIRST_GRANTED + spec.grants.len() as u64 > 1 << spec.cnode_radix {
        return Err(LoadError::CNodeTooSmall { slots: 1 << spec.cnode_radix, grants: spec.grants.len() as u64 });
    }
    check_layout(exe, spec)
}

/// A domain's address space being filled, a bounded number of pages at a time: what
/// [`spawn_domain`] does, in pieces ([`Image::begin`], [`Image::map_pages`] until it says
/// all is mapped, [`Image::finish`], [`release`]), for a build that must not hold the root
/// server for long. Every object comes from the allocator's current regions (a domain's
/// own memory: between pieces the caller keeps where it stands, `crate::alloc::OwnRegions`).
pub struct Image {
    /// Its CNode, when made first (one of a page or more).
    early_cnode: Option<u64>,
    /// Its VSpace (PML4).
    vspace: u64,
    /// Pages of its stack.
    stack_pages: u64,
    /// Pages of its heap.
    heap_pages: u64,
    /// Pages mapped so far: the segments' in order, then the stack's, then the heap's.
    mapped: u64,
    /// Pages to map in all.
    total: u64,
}

/// Pages the loadable segments of `exe` take (each page of each segment counted).
fn segment_pages(exe: &tileos_elf::Executable) -> u64 {
    exe.segments().map(|s| (s.vaddr + s.mem_size).div_ceil(4096) - s.vaddr / 4096).fold(0, u64::saturating_add)
}

impl Image {
    /// Makes the domain's VSpace (and a CNode of `cnode_radix` of a page or more first, so
    /// that every object keeps its natural alignment with no gap in the domain's memory:
    /// largest first, then the 4 KiB objects, the TCB, and a smaller CNode last).
    pub fn begin(
        alloc: &mut Allocator,
        exe: &tileos_elf::Executable,
        cnode_radix: u32,
        stack_size: u64,
        heap_size: u64,
    ) -> Result<Image, LoadError> {
        let early_cnode = if ObjectType::CNode.size_bits(cnode_radix) >= 12 {
            Some(alloc.object(ObjectType::CNode, u64::from(cnode_radix)).map_err(allocation("create CNode"))?)
        } else {
            None
        };
        let vspace = alloc.object(ObjectType::Pml4, 0).map_err(allocation("create VSpace"))?;
        let (stack_pages, heap_pages) = (stack_size.div_ceil(4096).max(1), heap_size.div_ceil(4096));
        let total = segment_pages(exe).saturating_add(stack_pages).saturating_add(heap_pages);
        Ok(Image { early_cnode, vspace, stack_pages, heap_pages, mapped: 0, total })
    }

    /// Pages mapped so far and in all.
    pub fn progress(&self) -> (u64, u64) {
        (self.mapped, self.total)
    }

    /// Maps up to `budget` more pages (segment pages filled from `exe`, whose segments must
    /// be those [`Image::begin`] counted; stack and heap pages fresh, zeroed by the kernel);
    /// returns whether every page is mapped.
    pub fn map_pages(&mut self, alloc: &mut Allocator, exe: &tileos_elf::Executable, budget: u64) -> Result<bool, LoadError> {
        let mut left = budget;
        let mut first = 0;
        for segment in exe.segments() {
            let pages = (segment.vaddr + segment.mem_size).div_ceil(4096) - segment.vaddr / 4096;
            while self.mapped < first + pages && left > 0 {
                let page = (segment.vaddr & !0xFFF) + (self.mapped - first) * 4096;
                let frame = alloc.object(ObjectType::Frame4K, 0).map_err(allocation("create frame"))?;
                let (start, end) = (page.max(segment.vaddr), (page + 4096).min(segment.vaddr + segment.data.len() as u64));
                if start < end {
                    let bytes = &segment.data[(start - segment.vaddr) as usize..(end - segment.vaddr) as usize];
                    fill(alloc, frame, (start - page) as usize, bytes)?;
                }
                let rights = if segment.permissions.write { Rights::ALL } else { Rights::READ };
                let attributes = if segment.permissions.execute { frame_attributes::EXECUTABLE } else { 0 };
                map(alloc, self.vspace, frame, page, rights.0 as u64, attributes).map_err(allocation("map segment"))?;
                self.mapped += 1;
                left -= 1;
            }
            first += pages;
        }
        while self.mapped < first + self.stack_pages && left > 0 {
            let page = self.mapped - first;
            self.map_fresh(alloc, domain::STACK_TOP - (page + 1) * 4096, Rights::ALL, "stack")?;
            self.mapped += 1;
            left -= 1;
        }
        first += self.stack_pages;
        while self.mapped < first + self.heap_pages && left > 0 {
            let page = self.mapped - first;
            self.map_fresh(alloc, domain_info::HEAP_VADDR + page * 4096, Rights::ALL, "heap")?;
            self.mapped += 1;
            left -= 1;
        }
        Ok(self.mapped >= self.total)
    }

    /// A fresh frame mapped at `vaddr`; returns its slot.
    fn map_fresh(&self, alloc: &mut Allocator, vaddr: u64, rights: Rights, what: &'static str) -> Result<u64, LoadError> {
        let frame = alloc.object(ObjectType::Frame4K, 0).map_err(allocation(what))?;
        map(alloc, self.vspace, frame, vaddr, rights.0 as u64, 0).map_err(allocation(what))?;
        Ok(frame)
    }

    /// After every page is mapped ([`Image::map_pages`]): checks `spec` (as [`spawn_domain`]
    /// does first), then makes the IPC buffer, the further mappings, the information page,
    /// the TCB and the CNode, grants the capabilities and configures the thread, which is
    /// not started yet ([`release`] does).
    pub fn finish(self, alloc: &mut Allocator, exe: &tileos_elf::Executable, spec: &Spec) -> Result<Spawned, LoadError> {
        check(exe, spec)?;
        let (vspace, depth) = (self.vspace, u64::from(spec.cnode_radix));
        let ipc_frame = self.map_fresh(alloc, domain::IPC_BUFFER_VADDR, Rights::ALL, "IPC buffer")?;
        for extra in spec.mappings {
            map(alloc, vspace, extra.frame, extra.vaddr, extra.rights.0 as u64, extra.attributes)
                .map_err(allocation("map shared region"))?;
        }
        let info_frame = alloc.object(ObjectType::Frame4K, 0).map_err(allocation("information page"))?;
        let tcb = alloc.object(ObjectType::Tcb, 0).map_err(allocation("create TCB"))?;
        let cnode = match self.early_cnode {
            Some(cnode) => cnode,
            None => alloc.object(ObjectType::CNode, depth).map_err(allocation("create CNode"))?,
        };

        // The domain's CNode: its own TCB, CNode (guarded so pointers are slot numbers),
        // VSpace, then exactly the granted capabilities.
        let guard = 64 - depth;
        let all = Rights::ALL.0 as u64;
        let copy = |dest: u64, source: u64| {
            CNode::from_cptr(cnode).invoke(CNodeCopy {
                dest: Slot::new(dest, depth),
                src: Slot::at(source),
                rights: Rights::from_word(all),
                src_root: CPtr(slot::CNODE),
            })
        };
        copy(domain::TCB, tcb).map_err(kernel("grant TCB"))?;
        CNode::from_cptr(cnode)
            .invoke(CNodeMint {
                dest: Slot::new(domain::CNODE, depth),
                src: Slot::at(cnode),
                rights: Rights::from_word(all),
                badge: guard,
                src_root: CPtr(slot::CNODE),
            })
            .map_err(kernel("grant CNode"))?;
        copy(domain::VSPACE, vspace).map_err(kernel("grant VSpace"))?;
        let mut info = DomainInfo {
            magic: domain_info::MAGIC,
            name: [0; 32],
            generation: spec.generation,
            heap_size: self.heap_pages * 4096,
            cap_count: spec.grants.len() as u64,
            caps: [CapEntry { kind: 0, name: [0; 31], slot: 0 }; domain_info::MAX_CAPS],
            region_count: spec.regions.len().min(domain_info::MAX_REGIONS) as u64,
            regions: [RegionEntry { name: [0; 32], vaddr: 0, paddr: 0, size: 0 }; domain_info::MAX_REGIONS],
            tsc_per_ms: crate::clock::tsc_per_ms(),
            param_count: spec.params.len().min(domain_info::MAX_PARAMS) as u64,
            params: [ParamEntry { badge: 0, value: 0, cap: 0, name: [0; domain_info::MAX_PARAM_NAME] }; domain_info::MAX_PARAMS],
            priority: u64::from(spec.priority),
            stack_size: self.stack_pages * 4096,
        };
        for (entry, param) in info.params.iter_mut().zip(spec.params) {
            *entry = *param;
        }
        for (entry, &(name, vaddr, paddr, size)) in info.regions.iter_mut().zip(spec.regions) {
            copy_name(&mut entry.name, name);
            (entry.vaddr, entry.paddr, entry.size) = (vaddr, paddr, size);
        }
        copy_name(&mut info.name, spec.name);
        for (index, grant) in spec.grants.iter().enumerate() {
            let dest = domain::FIRST_GRANTED + index as u64;
            let rights = grant.rights.0 as u64;
            let result = if grant.moved {
                CNode::from_cptr(cnode).invoke(CNodeMove {
                    dest: Slot::new(dest, depth),
                    src: Slot::at(grant.source),
                    src_root: CPtr(slot::CNODE),
                })
            } else {
                CNode::from_cptr(cnode).invoke(CNodeMint {
                    dest: Slot::new(dest, depth),
                    src: Slot::at(grant.source),
                    rights: Rights::from_word(rights),
                    badge: grant.badge,
                    src_root: CPtr(slot::CNODE),
                })
            };
            result.map_err(kernel("grant capability"))?;
            info.caps[index].kind = grant.kind as u8;
            info.caps[index].slot = dest;
            copy_name(&mut info.caps[index].name, grant.name);
        }
        // SAFETY: DomainInfo is plain old data that fits in a page.
        let bytes = unsafe { core::slice::from_raw_parts((&info as *const DomainInfo).cast::<u8>(), core::mem::size_of::<DomainInfo>()) };
        fill(alloc, info_frame, 0, bytes)?;
        map(alloc, vspace, info_frame, domain_info::VADDR, Rights::READ.0 as u64, 0).map_err(allocation("map information page"))?;

        Tcb::from_cptr(tcb)
            .invoke(TcbConfigure {
                fault_endpoint: spec.fault_endpoint,
                cspace_guard: guard,
                ipc_buffer: domain::IPC_BUFFER_VADDR,
                cspace: CPtr(cnode),
                vspace: CPtr(vspace),
                buffer_frame: CPtr(ipc_frame),
            })
            .map_err(kernel("configure TCB"))?;
        Tcb::from_cptr(tcb).invoke(TcbSetMcPriority { mcp: u64::from(spec.mcp), authority: CPtr(slot::TCB) }).map_err(kernel("set MCP"))?;
        Tcb::from_cptr(tcb)
            .invoke(TcbSetPriority { priority: u64::from(spec.priority), authority: CPtr(slot::TCB) })
            .map_err(kernel("set priority"))?;
        if let Some((budget, period)) = spec.budget_ms {
            let (budget, period) = (crate::clock::ms_to_ticks(budget), crate::clock::ms_to_ticks(period));
            Tcb::from_cptr(tcb).invoke(TcbSetSchedParams { budget, period, authority: CPtr(slot::TCB) }).map_err(kernel("set budget"))?;
        }
        Ok(Spawned { tcb, cnode, vspace })
    }
}

/// Starts the thread of TCB `tcb` (configured by [`Image::finish`]) at `entry`, with the
/// stack at its top and `argument` in `rdi`.
pub fn release(tcb: u64, entry: u64, argument: u64) -> Result<(), LoadError> {
    // Registers: rip, rsp, rflags, rax, rbx, rcx, rdx, rsi, rdi.
    let registers = Registers::new(&[entry, domain::STACK_TOP - 8, 0, 0, 0, 0, 0, 0, argument]);
    Tcb::from_cptr(tcb).invoke(TcbWriteRegisters { resume: 1, registers }).map_err(kernel("start thread"))?;
    Ok(())
}

/// Checks that no mapping the description asks for (shared regions, device memory, PCI
/// BARs) lands on the program's own memory: its segments, stack with guard page, heap, IPC
/// buffer or information page. The error names the mapping (by its region where it has
/// one) and what it overlaps.
fn check_layout(exe: &tileos_elf::Executable, spec: &Spec) -> Result<(), LoadError> {
    // Nothing here allocates unless a conflict is found: the root server's kernel-test,
    // bench and fuzz modes spawn domains without a heap.
    let stack_pages = spec.stack_size.div_ceil(4096).max(1);
    let fixed = [
        (domain::STACK_TOP - (stack_pages + 1) * 4096, domain::STACK_TOP, "stack and its guard page"),
        (domain_info::HEAP_VADDR, domain_info::HEAP_VADDR + spec.heap_size.div_ceil(4096) * 4096, "heap"),
        (domain::IPC_BUFFER_VADDR, domain::IPC_BUFFER_VADDR + 4096, "IPC buffer"),
        (domain_info::VADDR, domain_info::VADDR + 4096, "information page"),
    ];
    for extra in spec.mappings {
        let segments = exe
            .segments()
            .map(|segment| (segment.vaddr & !0xFFF, (segment.vaddr + segment.mem_size + 0xFFF) & !0xFFF, "segment", Some(segment.vaddr)));
        let mut own = segments.chain(fixed.iter().map(|&(start, end, what)| (start, end, what, None)));
        let Some((start, end, what, segment)) = own.find(|&(start, end, ..)| start <= extra.vaddr && extra.vaddr < end) else { continue };
        let region = spec
            .regions
            .iter()
            .find(|&&(_, vaddr, _, size)| vaddr <= extra.vaddr && extra.vaddr < vaddr + size.max(1))
            .map_or(String::from("device memory"), |&(name, ..)| format!("region \"{name}\""));
        let what = match segment {
            Some(vaddr) => format!("{what} at {vaddr:#x}"),
            None => String::from(what),
        };
        return Err(LoadError::Layout(format!(
            "the mapping at {:#x} ({region}) overlaps the program's {what} ({start:#x}..{end:#x}); move it in the description",
            extra.vaddr
        )));
    }
    Ok(())
}

fn copy_name(dest: &mut [u8], name: &str) {
    let length = name.len().min(dest.len() - 1);
    dest[..length].copy_from_slice(&name.as_bytes()[..length]);
}

/// Creates the root server's page table for the scratch mapping from its general memory,
/// before any domain is built (else the first fill would take it from that domain's memory).
pub fn prepare_scratch(alloc: &mut Allocator) -> Result<(), AllocError> {
    let frame = alloc.object(ObjectType::Frame4K, 0)?;
    map(alloc, slot::VSPACE, frame, SCRATCH, Rights::ALL.0 as u64, 0)?;
    Frame::from_cptr(frame).invoke(FrameUnmap {})?;
    CNode::ROOT.invoke(tileos_abi::invocation::CNodeDelete { slot: Slot::at(frame) })?;
    Ok(())
}

/// Writes `bytes` at `offset` into a new frame through the scratch mapping.
fn fill(alloc: &mut Allocator, frame: u64, offset: usize, bytes: &[u8]) -> Result<(), LoadError> {
    map(alloc, slot::VSPACE, frame, SCRATCH, Rights::ALL.0 as u64, 0).map_err(allocation("map scratch"))?;
    // SAFETY: the frame is mapped writable at SCRATCH; callers keep offset + len within the page.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), (SCRATCH as *mut u8).add(offset), bytes.len().min(4096 - offset)) };
    Frame::from_cptr(frame).invoke(FrameUnmap {}).map_err(kernel("unmap scratch"))?;
    Ok(())
}
