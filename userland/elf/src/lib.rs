//! ELF64 executables, as far as loading them needs: the entry point and the loadable
//! segments with their permissions. Used by the kernel (root server) and the root server
//! (domains); every field is checked, so a malformed file is an error, never a panic or an
//! out-of-bounds read.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use core::fmt;

/// Why a file is not a loadable x86_64 ELF64 executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than the ELF header.
    TooShort,
    /// No `\x7fELF` magic.
    NotElf,
    /// Not 64-bit little-endian x86_64.
    WrongMachine,
    /// Not an executable (`ET_EXEC`).
    NotExecutable,
    /// Program header table outside the file or with a wrong entry size.
    BadProgramHeaders,
    /// Segment `index` has file data outside the file, or file size above memory size.
    BadSegment(usize),
    /// Segment `index` wraps the address space or reaches the kernel half.
    SegmentAddress(usize),
    /// Segments `a` and `b` overlap in memory.
    OverlappingSegments(usize, usize),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::TooShort => f.write_str("file is shorter than an ELF header"),
            ElfError::NotElf => f.write_str("not an ELF file (bad magic)"),
            ElfError::WrongMachine => f.write_str("not a 64-bit little-endian x86_64 ELF"),
            ElfError::NotExecutable => f.write_str("not an executable (ELF type is not EXEC)"),
            ElfError::BadProgramHeaders => f.write_str("program header table is malformed"),
            ElfError::BadSegment(i) => write!(f, "segment {i}: file data outside the file or larger than its memory size"),
            ElfError::SegmentAddress(i) => write!(f, "segment {i}: address range wraps or is not in the user half"),
            ElfError::OverlappingSegments(a, b) => write!(f, "segments {a} and {b} overlap"),
        }
    }
}

/// Highest user virtual address + 1 (the canonical lower half).
pub const USER_TOP: u64 = 0x0000_8000_0000_0000;
/// Most loadable segments accepted.
pub const MAX_SEGMENTS: usize = 16;

/// Access a segment needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permissions {
    /// Writable (`PF_W`).
    pub write: bool,
    /// Executable (`PF_X`).
    pub execute: bool,
}

/// One `PT_LOAD` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Size in memory (the part beyond `data` is zero-filled).
    pub mem_size: u64,
    /// The bytes from the file.
    pub data: &'a [u8],
    /// Access the segment needs.
    pub permissions: Permissions,
}

/// A parsed executable.
#[derive(Clone, Copy, Debug)]
pub struct Executable<'a> {
    /// Entry point.
    pub entry: u64,
    segments: [Option<Segment<'a>>; MAX_SEGMENTS],
}

impl<'a> Executable<'a> {
    /// The loadable segments, in file order.
    pub fn segments(&self) -> impl Iterator<Item = &Segment<'a>> {
        self.segments.iter().flatten()
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}
fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}
fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;

/// Parses an x86_64 ELF64 executable and checks its loadable segments.
pub fn parse(bytes: &[u8]) -> Result<Executable<'_>, ElfError> {
    if bytes.len() < 64 {
        return Err(ElfError::TooShort);
    }
    if bytes[0..4] != *b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    // Class 64-bit, little-endian, version 1, machine x86_64 (62).
    if bytes[4] != 2 || bytes[5] != 1 || read_u16(bytes, 18) != Some(62) {
        return Err(ElfError::WrongMachine);
    }
    if read_u16(bytes, 16) != Some(2) {
        return Err(ElfError::NotExecutable);
    }
    let bad_headers = ElfError::BadProgramHeaders;
    let entry = read_u64(bytes, 24).ok_or(bad_headers)?;
    let table = usize::try_from(read_u64(bytes, 32).ok_or(bad_headers)?).map_err(|_| bad_headers)?;
    let entry_size = usize::from(read_u16(bytes, 54).ok_or(bad_headers)?);
    let count = usize::from(read_u16(bytes, 56).ok_or(bad_headers)?);
    if entry_size != 56 || table.checked_add(count * 56).is_none_or(|end| end > bytes.len()) {
        return Err(bad_headers);
    }
    let mut segments: [Option<Segment<'_>>; MAX_SEGMENTS] = [None; MAX_SEGMENTS];
    let mut file_indices = [0usize; MAX_SEGMENTS];
    let mut loaded = 0;
    for index in 0..count {
        let header = table + index * 56;
        let field = |offset| read_u64(bytes, header + offset).ok_or(bad_headers);
        if read_u32(bytes, header).ok_or(bad_headers)? != PT_LOAD {
            continue;
        }
        let flags = read_u32(bytes, header + 4).ok_or(bad_headers)?;
        let (offset, vaddr, file_size, mem_size) = (field(8)?, field(16)?, field(32)?, field(40)?);
        if file_size > mem_size {
            return Err(ElfError::BadSegment(index));
        }
        let data = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(file_size).ok())
            .and_then(|(start, len)| bytes.get(start..start.checked_add(len)?))
            .ok_or(ElfError::BadSegment(index))?;
        if vaddr.checked_add(mem_size).is_none_or(|end| end > USER_TOP) {
            return Err(ElfError::SegmentAddress(index));
        }
        if mem_size == 0 {
            continue;
        }
        if loaded == MAX_SEGMENTS {
            return Err(bad_headers);
        }
        let segment = Segment { vaddr, mem_size, data, permissions: Permissions { write: flags & PF_W != 0, execute: flags & PF_X != 0 } };
        for (other, &other_index) in segments[..loaded].iter().flatten().zip(&file_indices) {
            if segment.vaddr < other.vaddr + other.mem_size && other.vaddr < segment.vaddr + segment.mem_size {
                return Err(ElfError::OverlappingSegments(other_index, index));
            }
        }
        segments[loaded] = Some(segment);
        file_indices[loaded] = index;
        loaded += 1;
    }
    Ok(Executable { entry, segments })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// A minimal executable with the given (flags, vaddr, file bytes, mem size) segments.
    fn build(segments: &[(u32, u64, &[u8], u64)]) -> Vec<u8> {
        let mut file = std::vec![0u8; 64 + 56 * segments.len()];
        file[0..4].copy_from_slice(b"\x7fELF");
        file[4] = 2;
        file[5] = 1;
        file[6] = 1;
        file[16..18].copy_from_slice(&2u16.to_le_bytes());
        file[18..20].copy_from_slice(&62u16.to_le_bytes());
        file[24..32].copy_from_slice(&0x40_1000u64.to_le_bytes());
        file[32..40].copy_from_slice(&64u64.to_le_bytes());
        file[54..56].copy_from_slice(&56u16.to_le_bytes());
        file[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for (i, (flags, vaddr, data, mem_size)) in segments.iter().enumerate() {
            let offset = file.len() as u64;
            file.extend_from_slice(data);
            let h = 64 + i * 56;
            file[h..h + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            file[h + 4..h + 8].copy_from_slice(&flags.to_le_bytes());
            file[h + 8..h + 16].copy_from_slice(&offset.to_le_bytes());
            file[h + 16..h + 24].copy_from_slice(&vaddr.to_le_bytes());
            file[h + 32..h + 40].copy_from_slice(&(data.len() as u64).to_le_bytes());
            file[h + 40..h + 48].copy_from_slice(&mem_size.to_le_bytes());
        }
        file
    }

    #[test]
    fn parses_segments_and_permissions() {
        let file = build(&[(PF_X, 0x40_0000, b"code", 4), (PF_W, 0x60_0000, b"data", 0x2000)]);
        let exe = parse(&file).unwrap();
        assert_eq!(exe.entry, 0x40_1000);
        let segments: Vec<_> = exe.segments().collect();
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[0].data, b"code");
        assert_eq!(segments[0].permissions, Permissions { write: false, execute: true });
        assert_eq!(segments[1].mem_size, 0x2000);
        assert_eq!(segments[1].permissions, Permissions { write: true, execute: false });
    }

    #[test]
    fn rejects_bad_files_precisely() {
        assert_eq!(parse(b"short").unwrap_err(), ElfError::TooShort);
        let mut file = build(&[(0, 0x40_0000, b"x", 1)]);
        file[0] = 0;
        assert_eq!(parse(&file).unwrap_err(), ElfError::NotElf);
        let mut file = build(&[(0, 0x40_0000, b"x", 1)]);
        file[18] = 3;
        assert_eq!(parse(&file).unwrap_err(), ElfError::WrongMachine);
        let mut file = build(&[(0, 0x40_0000, b"x", 1)]);
        file[16] = 3;
        assert_eq!(parse(&file).unwrap_err(), ElfError::NotExecutable);
        assert_eq!(parse(&build(&[(0, 0x40_0000, b"xyz", 1)])).unwrap_err(), ElfError::BadSegment(0));
        assert_eq!(parse(&build(&[(0, USER_TOP - 1, b"x", 2)])).unwrap_err(), ElfError::SegmentAddress(0));
        assert_eq!(parse(&build(&[(0, u64::MAX, b"x", 2)])).unwrap_err(), ElfError::SegmentAddress(0));
        assert_eq!(
            parse(&build(&[(0, 0x40_0000, b"x", 0x2000), (0, 0x40_1000, b"y", 1)])).unwrap_err(),
            ElfError::OverlappingSegments(0, 1)
        );
        let mut file = build(&[(0, 0x40_0000, b"x", 1)]);
        file[56] = 200;
        assert_eq!(parse(&file).unwrap_err(), ElfError::BadProgramHeaders);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let file = build(&[(PF_X, 0x40_0000, b"code", 4), (PF_W, 0x60_0000, b"data", 8)]);
        for len in 0..file.len() {
            assert!(parse(&file[..len]).is_err(), "truncated to {len} bytes parsed");
        }
    }

    /// Seed corpus: real domain executables (stripped), as the kernel and root server load them.
    const CORPUS: [&[u8]; 2] = [include_bytes!("../corpus/bench-server.elf"), include_bytes!("../corpus/console.elf")];

    #[test]
    fn corpus_executables_parse() {
        for file in CORPUS {
            let exe = parse(file).unwrap();
            assert!(exe.segments().any(|s| s.permissions.execute && !s.permissions.write), "a text segment");
            assert!(exe.segments().all(|s| !(s.permissions.execute && s.permissions.write)), "W^X");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Host fuzz target over the corpus: mutations of real executables never panic.
        #[test]
        fn mutated_corpus_files_never_panic(which in 0usize..2, edits in proptest::collection::vec((0usize..30_000, any::<u8>()), 1..16), cut in 64usize..30_000) {
            let mut file = CORPUS[which].to_vec();
            for (at, value) in edits {
                if at < file.len() { file[at] = value; }
            }
            file.truncate(cut);
            if let Ok(exe) = parse(&file) {
                for segment in exe.segments() {
                    prop_assert!(segment.data.len() as u64 <= segment.mem_size);
                    prop_assert!(segment.vaddr + segment.mem_size <= USER_TOP);
                }
            }
        }

        /// Host fuzz target: arbitrary mutations of a valid file never panic, and whatever
        /// parses has segments inside the file and the user half.
        #[test]
        fn mutated_files_never_panic(edits in proptest::collection::vec((0usize..300, any::<u8>()), 0..12), cut in 0usize..400) {
            let mut file = build(&[(PF_X, 0x40_0000, b"code", 4), (PF_W, 0x60_0000, b"data", 8)]);
            for (at, value) in edits {
                if at < file.len() { file[at] = value; }
            }
            file.truncate(cut.max(1));
            if let Ok(exe) = parse(&file) {
                for segment in exe.segments() {
                    prop_assert!(segment.data.len() as u64 <= segment.mem_size);
                    prop_assert!(segment.vaddr + segment.mem_size <= USER_TOP);
                }
            }
        }
    }
}
