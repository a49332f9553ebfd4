//! Building a domain from an ELF executable: a new address space with the executable's
//! segments (text not writable, data not executable), a stack with an unmapped guard page
//! below it, an IPC buffer, a CNode, and a TCB — then granting capabilities and starting it.

use crate::alloc::Allocator;
use crate::vspace::map;
use tileos_abi::bootinfo::{BootInfo, domain, slot};
use tileos_abi::invocation::{Label, frame_attributes};
use tileos_abi::object::{ObjectType, Rights};
use tileos_sys::{Error, invoke};

/// Where the root server maps frames it is filling or reading.
const SCRATCH: u64 = 0x3000_0000;
/// Where the root server maps boot modules to read them.
const MODULES: u64 = 0x4000_0000;

/// Why a domain could not be built.
#[derive(Debug)]
pub enum LoadError {
    /// The program is not a loadable executable.
    Elf(tileos_elf::ElfError),
    /// A kernel invocation failed.
    Kernel(&'static str, Error),
    /// No boot module has this name.
    NoSuchModule,
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::Elf(error) => write!(f, "program: {error}"),
            LoadError::Kernel(what, error) => write!(f, "{what}: kernel error {:?} (details {:?})", error.code, error.details),
            LoadError::NoSuchModule => f.write_str("no boot module with that name"),
        }
    }
}

fn kernel(what: &'static str) -> impl Fn(Error) -> LoadError {
    move |error| LoadError::Kernel(what, error)
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
                    Err(e) if e.code == Some(tileos_abi::error::InvocationError::IllegalOperation) => {}
                    Err(e) => return Err(LoadError::Kernel("map module", e)),
                }
            }
            // SAFETY: the module's frames were just mapped read-only at `base`.
            return Ok(unsafe { core::slice::from_raw_parts(base as *const u8, desc.size as usize) });
        }
        base += (frames + 1) * 4096;
    }
    Err(LoadError::NoSuchModule)
}

/// Parameters of a domain to build.
pub struct Spec<'a> {
    /// The executable.
    pub elf: &'a [u8],
    /// Scheduling priority (and maximum controlled priority).
    pub priority: u8,
    /// Stack size in bytes (rounded up to pages).
    pub stack_size: u64,
    /// Root-server slot of the fault endpoint capability (0: none).
    pub fault_endpoint: u64,
    /// Root-server slots of capabilities to copy into the domain's CNode, from
    /// [`domain::FIRST_GRANTED`] on.
    pub grants: &'a [u64],
    /// Value of `rdi` at the domain's entry.
    pub argument: u64,
}

/// Builds a domain and starts it.
pub fn spawn(alloc: &mut Allocator, spec: &Spec) -> Result<(), LoadError> {
    let exe = tileos_elf::parse(spec.elf).map_err(LoadError::Elf)?;
    let vspace = alloc.try_make(ObjectType::Pml4, 0).map_err(kernel("create VSpace"))?;
    let cnode = alloc.try_make(ObjectType::CNode, u64::from(domain::CNODE_RADIX)).map_err(kernel("create CNode"))?;
    let tcb = alloc.try_make(ObjectType::Tcb, 0).map_err(kernel("create TCB"))?;

    for segment in exe.segments() {
        let mut page = segment.vaddr & !0xFFF;
        while page < segment.vaddr + segment.mem_size {
            let frame = alloc.try_make(ObjectType::Frame4K, 0).map_err(kernel("create frame"))?;
            fill(alloc, frame, page, segment)?;
            let rights = if segment.permissions.write { Rights::ALL } else { Rights::READ };
            let attributes = if segment.permissions.execute { frame_attributes::EXECUTABLE } else { 0 };
            map(alloc, vspace, frame, page, rights.0 as u64, attributes).map_err(kernel("map segment"))?;
            page += 4096;
        }
    }
    let stack_pages = spec.stack_size.div_ceil(4096).max(1);
    for page in 0..stack_pages {
        let frame = alloc.try_make(ObjectType::Frame4K, 0).map_err(kernel("create stack"))?;
        let vaddr = domain::STACK_TOP - (page + 1) * 4096;
        map(alloc, vspace, frame, vaddr, Rights::ALL.0 as u64, 0).map_err(kernel("map stack"))?;
    }
    let ipc_frame = alloc.try_make(ObjectType::Frame4K, 0).map_err(kernel("create IPC buffer"))?;
    map(alloc, vspace, ipc_frame, domain::IPC_BUFFER_VADDR, Rights::ALL.0 as u64, 0).map_err(kernel("map IPC buffer"))?;

    // The domain's CNode: its own TCB, CNode (guarded so pointers are slot numbers),
    // VSpace, then the granted capabilities.
    let depth = u64::from(domain::CNODE_RADIX);
    let guard = 64 - depth;
    let all = Rights::ALL.0 as u64;
    let copy = |dest: u64, source: u64| invoke(cnode, Label::CNodeCopy, &[dest, depth, source, 64, all], &[slot::CNODE]);
    copy(domain::TCB, tcb).map_err(kernel("grant TCB"))?;
    invoke(cnode, Label::CNodeMint, &[domain::CNODE, depth, cnode, 64, all, guard], &[slot::CNODE]).map_err(kernel("grant CNode"))?;
    copy(domain::VSPACE, vspace).map_err(kernel("grant VSpace"))?;
    for (index, &grant) in spec.grants.iter().enumerate() {
        copy(domain::FIRST_GRANTED + index as u64, grant).map_err(kernel("grant capability"))?;
    }

    invoke(tcb, Label::TcbConfigure, &[spec.fault_endpoint, guard, domain::IPC_BUFFER_VADDR], &[cnode, vspace, ipc_frame])
        .map_err(kernel("configure TCB"))?;
    let priority = u64::from(spec.priority);
    invoke(tcb, Label::TcbSetMcPriority, &[priority], &[slot::TCB]).map_err(kernel("set MCP"))?;
    invoke(tcb, Label::TcbSetPriority, &[priority], &[slot::TCB]).map_err(kernel("set priority"))?;
    // Registers: rip, rsp, rflags, rax, rbx, rcx, rdx, rsi, rdi.
    let registers = [1, 9, exe.entry, domain::STACK_TOP - 8, 0, 0, 0, 0, 0, 0, spec.argument];
    invoke(tcb, Label::TcbWriteRegisters, &registers, &[]).map_err(kernel("start thread"))?;
    Ok(())
}

/// Fills a new frame (the page at `page` of `segment`) through the scratch mapping.
fn fill(alloc: &mut Allocator, frame: u64, page: u64, segment: &tileos_elf::Segment) -> Result<(), LoadError> {
    let data_start = segment.vaddr;
    let data_end = segment.vaddr + segment.data.len() as u64;
    let (from, to) = (page.max(data_start), (page + 4096).min(data_end));
    if from >= to {
        return Ok(()); // all zero (bss): retyped frames are cleared
    }
    map(alloc, slot::VSPACE, frame, SCRATCH, Rights::ALL.0 as u64, 0).map_err(kernel("map scratch"))?;
    let bytes = &segment.data[(from - data_start) as usize..(to - data_start) as usize];
    // SAFETY: the frame is mapped writable at SCRATCH; the copy stays inside the page.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), (SCRATCH + (from - page)) as *mut u8, bytes.len()) };
    invoke(frame, Label::FrameUnmap, &[], &[]).map_err(kernel("unmap scratch"))?;
    Ok(())
}
