//! Reading the Multiboot1 information structure the boot loader leaves in memory: the
//! command line, the physical memory map and the boot modules.
//!
//! The structure is read through [`PhysicalMemory`], so the same parser runs in the kernel
//! (over the direct physical map) and in host tests (over a byte vector). Nothing is
//! truncated silently: a map or module list longer than the fixed capacities is an error.

use core::fmt;
use heapless::{String, Vec};

/// Value of EAX when a Multiboot1 loader enters the kernel.
pub const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;
/// Capacity for memory map entries.
pub const MAX_MEMORY_REGIONS: usize = 64;
/// Capacity for boot modules.
pub const MAX_MODULES: usize = 16;
/// Capacity of the kernel command line in bytes.
pub const MAX_CMDLINE: usize = 256;
/// Capacity of one module's command line in bytes.
pub const MAX_MODULE_CMDLINE: usize = 128;

const FLAG_CMDLINE: u32 = 1 << 2;
const FLAG_MODULES: u32 = 1 << 3;
const FLAG_MEMORY_MAP: u32 = 1 << 6;
const FLAG_LOADER_NAME: u32 = 1 << 9;

/// Read access to physical memory, as the parser needs it.
pub trait PhysicalMemory {
    /// Fills `out` with the bytes at physical address `phys`, or fails if any of them is
    /// outside readable memory.
    fn read(&self, phys: u64, out: &mut [u8]) -> Result<(), MultibootError>;
}

/// What a memory map entry says about its range (Multiboot1 `type` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Usable RAM (type 1).
    Available,
    /// Reserved, e.g. firmware or device memory (type 2).
    Reserved,
    /// ACPI tables, usable after they are read (type 3).
    AcpiReclaimable,
    /// ACPI non-volatile storage (type 4).
    AcpiNvs,
    /// Defective RAM (type 5).
    Defective,
    /// A type this kernel does not know; treated as reserved.
    Other(u32),
}

impl MemoryKind {
    fn from_raw(raw: u32) -> MemoryKind {
        match raw {
            1 => MemoryKind::Available,
            2 => MemoryKind::Reserved,
            3 => MemoryKind::AcpiReclaimable,
            4 => MemoryKind::AcpiNvs,
            5 => MemoryKind::Defective,
            other => MemoryKind::Other(other),
        }
    }
}

impl fmt::Display for MemoryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryKind::Available => f.write_str("available"),
            MemoryKind::Reserved => f.write_str("reserved"),
            MemoryKind::AcpiReclaimable => f.write_str("ACPI reclaimable"),
            MemoryKind::AcpiNvs => f.write_str("ACPI NVS"),
            MemoryKind::Defective => f.write_str("defective"),
            MemoryKind::Other(raw) => write!(f, "type {raw}"),
        }
    }
}

/// One physical memory range from the boot loader's map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    /// First physical address.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// What the range is.
    pub kind: MemoryKind,
}

/// One boot module (a file the loader placed in memory, e.g. the root server ELF).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// First physical address of the module.
    pub start: u64,
    /// One past the last physical address.
    pub end: u64,
    /// The module's command line (by convention its name first).
    pub cmdline: String<MAX_MODULE_CMDLINE>,
}

/// Everything the kernel takes from the Multiboot1 information structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultibootInfo {
    /// Kernel command line (empty if the loader gave none).
    pub cmdline: String<MAX_CMDLINE>,
    /// Boot loader name, if given.
    pub loader_name: String<64>,
    /// Physical memory map, in the loader's order.
    pub memory: Vec<MemoryRegion, MAX_MEMORY_REGIONS>,
    /// Boot modules, in the loader's order.
    pub modules: Vec<Module, MAX_MODULES>,
}

/// Why the Multiboot1 information could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultibootError {
    /// EAX did not hold [`BOOTLOADER_MAGIC`]: not started by a Multiboot1 loader.
    BadMagic(u32),
    /// The loader gave no memory map (flag bit 6 clear).
    NoMemoryMap,
    /// The structure points at physical memory the kernel cannot read.
    Unreadable(u64),
    /// More memory map entries than [`MAX_MEMORY_REGIONS`].
    TooManyMemoryRegions,
    /// More modules than [`MAX_MODULES`].
    TooManyModules(u32),
    /// A memory map entry's size field is too small to hold an entry.
    MalformedMemoryMapEntry(u64),
    /// A module whose end lies before its start.
    MalformedModule(u32),
    /// A string (command line, module name) longer than its capacity or not UTF-8.
    BadString(&'static str),
}

impl fmt::Display for MultibootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultibootError::BadMagic(magic) => {
                write!(f, "boot loader magic is {magic:#x}, expected {BOOTLOADER_MAGIC:#x}: not started by a Multiboot1 loader")
            }
            MultibootError::NoMemoryMap => f.write_str("the boot loader provided no memory map"),
            MultibootError::Unreadable(phys) => {
                write!(f, "multiboot information refers to unreadable physical address {phys:#x}")
            }
            MultibootError::TooManyMemoryRegions => {
                write!(f, "memory map has more than {MAX_MEMORY_REGIONS} entries")
            }
            MultibootError::TooManyModules(count) => {
                write!(f, "{count} boot modules given, at most {MAX_MODULES} supported")
            }
            MultibootError::MalformedMemoryMapEntry(at) => {
                write!(f, "memory map entry at {at:#x} has an invalid size")
            }
            MultibootError::MalformedModule(index) => {
                write!(f, "boot module {index} ends before it starts")
            }
            MultibootError::BadString(what) => {
                write!(f, "{what} is too long or not UTF-8")
            }
        }
    }
}

fn read_u32(mem: &impl PhysicalMemory, phys: u64) -> Result<u32, MultibootError> {
    let mut bytes = [0; 4];
    mem.read(phys, &mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

fn read_u64(mem: &impl PhysicalMemory, phys: u64) -> Result<u64, MultibootError> {
    let mut bytes = [0; 8];
    mem.read(phys, &mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// Reads a NUL-terminated string of at most `N` bytes.
fn read_string<const N: usize>(mem: &impl PhysicalMemory, phys: u64, what: &'static str) -> Result<String<N>, MultibootError> {
    let mut bytes: Vec<u8, N> = Vec::new();
    for offset in 0..=N as u64 {
        let mut byte = [0];
        mem.read(phys + offset, &mut byte)?;
        if byte[0] == 0 {
            return String::from_utf8(bytes).map_err(|_| MultibootError::BadString(what));
        }
        bytes.push(byte[0]).map_err(|_| MultibootError::BadString(what))?;
    }
    Err(MultibootError::BadString(what))
}

/// Parses the Multiboot1 information at `info_phys`, given the loader's `magic` (EAX).
pub fn parse(magic: u32, info_phys: u64, mem: &impl PhysicalMemory) -> Result<MultibootInfo, MultibootError> {
    if magic != BOOTLOADER_MAGIC {
        return Err(MultibootError::BadMagic(magic));
    }
    let flags = read_u32(mem, info_phys)?;
    let mut info = MultibootInfo { cmdline: String::new(), loader_name: String::new(), memory: Vec::new(), modules: Vec::new() };
    if flags & FLAG_CMDLINE != 0 {
        let at = read_u32(mem, info_phys + 16)?;
        info.cmdline = read_string(mem, at.into(), "kernel command line")?;
    }
    if flags & FLAG_LOADER_NAME != 0 {
        let at = read_u32(mem, info_phys + 64)?;
        info.loader_name = read_string(mem, at.into(), "boot loader name")?;
    }
    if flags & FLAG_MODULES != 0 {
        let count = read_u32(mem, info_phys + 20)?;
        let table = u64::from(read_u32(mem, info_phys + 24)?);
        if count as usize > MAX_MODULES {
            return Err(MultibootError::TooManyModules(count));
        }
        for index in 0..count {
            let entry = table + u64::from(index) * 16;
            let start = read_u32(mem, entry)?;
            let end = read_u32(mem, entry + 4)?;
            if end < start {
                return Err(MultibootError::MalformedModule(index));
            }
            let name_at = read_u32(mem, entry + 8)?;
            let cmdline = if name_at == 0 { String::new() } else { read_string(mem, name_at.into(), "boot module command line")? };
            let module = Module { start: start.into(), end: end.into(), cmdline };
            // Cannot fail: count was checked against the capacity above.
            let _ = info.modules.push(module);
        }
    }
    if flags & FLAG_MEMORY_MAP == 0 {
        return Err(MultibootError::NoMemoryMap);
    }
    let map_length = u64::from(read_u32(mem, info_phys + 44)?);
    let map_start = u64::from(read_u32(mem, info_phys + 48)?);
    let mut entry = map_start;
    while entry < map_start + map_length {
        let size = u64::from(read_u32(mem, entry)?);
        if size < 20 {
            return Err(MultibootError::MalformedMemoryMapEntry(entry));
        }
        let region = MemoryRegion {
            base: read_u64(mem, entry + 4)?,
            length: read_u64(mem, entry + 12)?,
            kind: MemoryKind::from_raw(read_u32(mem, entry + 20)?),
        };
        info.memory.push(region).map_err(|_| MultibootError::TooManyMemoryRegions)?;
        entry += size + 4;
    }
    Ok(info)
}

/// Physical memory for host tests (of this parser and `acpi`): a byte vector starting at
/// physical address 0.
#[cfg(test)]
pub(crate) struct TestMemory(pub(crate) std::vec::Vec<u8>);

#[cfg(test)]
impl PhysicalMemory for TestMemory {
    fn read(&self, phys: u64, out: &mut [u8]) -> Result<(), MultibootError> {
        let start = phys as usize;
        let bytes = self.0.get(start..start + out.len()).ok_or(MultibootError::Unreadable(phys))?;
        out.copy_from_slice(bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl TestMemory {
        fn put_u32(&mut self, at: usize, value: u32) {
            self.0[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        fn put_u64(&mut self, at: usize, value: u64) {
            self.0[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
        fn put_str(&mut self, at: usize, text: &str) {
            self.0[at..at + text.len()].copy_from_slice(text.as_bytes());
            self.0[at + text.len()] = 0;
        }
    }

    /// Info at 0x100, strings at 0x400.., module table at 0x800, memory map at 0xA00.
    fn sample() -> TestMemory {
        let mut mem = TestMemory(vec![0; 0x1000]);
        mem.put_u32(0x100, FLAG_CMDLINE | FLAG_MODULES | FLAG_MEMORY_MAP | FLAG_LOADER_NAME);
        mem.put_u32(0x100 + 16, 0x400);
        mem.put_str(0x400, "tileos.test=boot");
        mem.put_u32(0x100 + 64, 0x480);
        mem.put_str(0x480, "GRUB 2.06");
        mem.put_u32(0x100 + 20, 1);
        mem.put_u32(0x100 + 24, 0x800);
        mem.put_u32(0x800, 0x20_0000);
        mem.put_u32(0x804, 0x21_0000);
        mem.put_u32(0x808, 0x500);
        mem.put_str(0x500, "rootserver");
        mem.put_u32(0x100 + 44, 48);
        mem.put_u32(0x100 + 48, 0xA00);
        for (i, (base, length, kind)) in [(0u64, 0x9FC00u64, 1u32), (0x10_0000, 0x7F0_0000, 1)].iter().enumerate() {
            let at = 0xA00 + i * 24;
            mem.put_u32(at, 20);
            mem.put_u64(at + 4, *base);
            mem.put_u64(at + 12, *length);
            mem.put_u32(at + 20, *kind);
        }
        mem
    }

    #[test]
    fn parses_cmdline_modules_and_memory_map() {
        let info = parse(BOOTLOADER_MAGIC, 0x100, &sample()).unwrap();
        assert_eq!(info.cmdline.as_str(), "tileos.test=boot");
        assert_eq!(info.loader_name.as_str(), "GRUB 2.06");
        assert_eq!(info.modules.len(), 1);
        assert_eq!(info.modules[0].start, 0x20_0000);
        assert_eq!(info.modules[0].end, 0x21_0000);
        assert_eq!(info.modules[0].cmdline.as_str(), "rootserver");
        assert_eq!(info.memory.len(), 2);
        assert_eq!(info.memory[1], MemoryRegion { base: 0x10_0000, length: 0x7F0_0000, kind: MemoryKind::Available });
    }

    #[test]
    fn reads_only_what_the_flags_announce() {
        // The sample's command line, loader name and module table are all in memory: with
        // only the memory-map flag set, none of them may be read.
        let mut mem = sample();
        mem.put_u32(0x100, FLAG_MEMORY_MAP);
        let info = parse(BOOTLOADER_MAGIC, 0x100, &mem).unwrap();
        assert_eq!((info.cmdline.as_str(), info.loader_name.as_str(), info.modules.len()), ("", "", 0));
        assert_eq!(info.memory.len(), 2);
        for (flag, field) in [(FLAG_CMDLINE, 0), (FLAG_LOADER_NAME, 1), (FLAG_MODULES, 2)] {
            mem.put_u32(0x100, FLAG_MEMORY_MAP | flag);
            let info = parse(BOOTLOADER_MAGIC, 0x100, &mem).unwrap();
            let read = [!info.cmdline.is_empty(), !info.loader_name.is_empty(), !info.modules.is_empty()];
            assert_eq!(read, core::array::from_fn(|i| i == field), "flag {flag:#x}");
        }
    }

    #[test]
    fn accepts_the_most_modules_each_from_its_own_entry() {
        // MAX_MODULES modules (the limit is inclusive), each read from its own table entry;
        // the first one empty (end == start is a module of zero bytes, not a malformed one).
        let mut mem = sample();
        mem.put_u32(0x100 + 20, MAX_MODULES as u32);
        for i in 0..MAX_MODULES {
            let (at, start) = (0x800 + i * 16, 0x20_0000 + i as u32 * 0x1000);
            mem.put_u32(at, start);
            mem.put_u32(at + 4, if i == 0 { start } else { start + 0x800 });
            mem.put_u32(at + 8, 0x500);
        }
        let info = parse(BOOTLOADER_MAGIC, 0x100, &mem).unwrap();
        assert_eq!(info.modules.len(), MAX_MODULES);
        for (i, module) in info.modules.iter().enumerate() {
            let start = 0x20_0000 + i as u64 * 0x1000;
            assert_eq!((module.start, module.end), (start, if i == 0 { start } else { start + 0x800 }), "module {i}");
        }
    }

    #[test]
    fn kinds_and_errors_are_named() {
        let kinds = [
            MemoryKind::Available,
            MemoryKind::Reserved,
            MemoryKind::AcpiReclaimable,
            MemoryKind::AcpiNvs,
            MemoryKind::Defective,
            MemoryKind::Other(9),
        ];
        let names: std::vec::Vec<std::string::String> = kinds.iter().map(|kind| std::format!("{kind}")).collect();
        assert_eq!(names, ["available", "reserved", "ACPI reclaimable", "ACPI NVS", "defective", "type 9"]);
        let error = |e: MultibootError| std::format!("{e}");
        assert!(error(MultibootError::BadMagic(0x1234)).contains("0x1234"));
        assert!(error(MultibootError::BadString("boot loader name")).contains("boot loader name"));
        assert!(error(MultibootError::Unreadable(0xFFFF_0000)).contains("0xffff0000"));
        assert!(error(MultibootError::MalformedModule(3)).contains('3'));
        assert!(!error(MultibootError::NoMemoryMap).is_empty());
    }

    #[test]
    fn rejects_wrong_magic() {
        assert_eq!(parse(0x1234, 0x100, &sample()), Err(MultibootError::BadMagic(0x1234)));
    }

    #[test]
    fn requires_memory_map() {
        let mut mem = sample();
        mem.put_u32(0x100, FLAG_CMDLINE);
        assert_eq!(parse(BOOTLOADER_MAGIC, 0x100, &mem), Err(MultibootError::NoMemoryMap));
    }

    #[test]
    fn rejects_too_many_modules_instead_of_truncating() {
        let mut mem = sample();
        mem.put_u32(0x100 + 20, MAX_MODULES as u32 + 1);
        assert_eq!(parse(BOOTLOADER_MAGIC, 0x100, &mem), Err(MultibootError::TooManyModules(17)));
    }

    #[test]
    fn rejects_module_ending_before_start() {
        let mut mem = sample();
        mem.put_u32(0x804, 0x1000);
        assert_eq!(parse(BOOTLOADER_MAGIC, 0x100, &mem), Err(MultibootError::MalformedModule(0)));
    }

    #[test]
    fn rejects_undersized_map_entry_instead_of_looping() {
        let mut mem = sample();
        mem.put_u32(0xA00, 0);
        assert_eq!(parse(BOOTLOADER_MAGIC, 0x100, &mem), Err(MultibootError::MalformedMemoryMapEntry(0xA00)));
    }

    #[test]
    fn rejects_overlong_unterminated_cmdline() {
        let mut mem = sample();
        for at in 0x400..0x400 + MAX_CMDLINE + 1 {
            mem.0[at] = b'x';
        }
        assert_eq!(parse(BOOTLOADER_MAGIC, 0x100, &mem), Err(MultibootError::BadString("kernel command line")));
    }

    #[test]
    fn reports_unreadable_pointers() {
        let mut mem = sample();
        mem.put_u32(0x100 + 48, 0xFFFF_0000);
        assert_eq!(parse(BOOTLOADER_MAGIC, 0x100, &mem), Err(MultibootError::Unreadable(0xFFFF_0000)));
    }
}
