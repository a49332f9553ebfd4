//! The ACPI tables the kernel reads, reached from the RSDP the firmware leaves in the EBDA or
//! the BIOS area, through the RSDT or XSDT: the MADT ("APIC"), for the machine's processors,
//! and the DMAR, for the IOMMU's register page.
//!
//! Read through [`PhysicalMemory`], as the Multiboot information is, so the same parser runs
//! in the kernel (over the direct map) and in host tests (over a byte vector). Every table
//! it uses is checksummed and bounded; a malformed table is an error naming the table and
//! its address, never a guess.

use crate::multiboot::{MultibootError, PhysicalMemory};
use core::fmt;
use heapless::Vec;

/// Most processors the kernel brings up (the boot CPU included). Enabled processors beyond
/// it are counted in [`Processors::left_offline`] and stay off.
pub const MAX_CPUS: usize = 4;

/// Where the BIOS data area keeps the EBDA's real-mode segment.
const EBDA_SEGMENT_POINTER: u64 = 0x40E;
/// The BIOS read-only area the RSDP may lie in (ACPI 5.2.5.1), besides the EBDA's first KiB.
const BIOS_AREA: (u64, u64) = (0xE_0000, 0x10_0000);
/// Longest root or MADT table accepted (far more than any real firmware's).
const MAX_TABLE_LENGTH: u32 = 64 * 1024;
/// Length of the common ACPI table header.
const HEADER_LENGTH: u32 = 36;
/// Offset of the remapping structures in the DMAR table.
const DMAR_STRUCTURES: u64 = 48;
/// DMAR structure type of a DMA-remapping hardware unit (DRHD).
const DRHD_STRUCTURE: u16 = 0;
/// MADT entry type of a processor's local APIC.
const LOCAL_APIC_ENTRY: u8 = 0;
/// MADT local-APIC flag: the processor is enabled.
const PROCESSOR_ENABLED: u32 = 1;

/// The processors the MADT lists as enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Processors {
    /// Local APIC IDs, in table order (the boot CPU's among them), at most [`MAX_CPUS`].
    pub apic_ids: Vec<u8, MAX_CPUS>,
    /// Enabled processors listed after the first [`MAX_CPUS`]: not started.
    pub left_offline: usize,
}

/// Why the processors could not be found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// No valid RSDP in the EBDA or the BIOS area.
    NoRsdp,
    /// A table (its signature) at an address whose bytes do not sum to zero.
    BadChecksum(&'static str, u64),
    /// A table (its signature) at an address whose length is too short or too long.
    BadLength(&'static str, u64),
    /// The root table lists no MADT.
    NoMadt,
    /// The root table lists no DMAR table: the machine has no VT-d IOMMU.
    NoDmar,
    /// The DMAR table lists no DRHD (remapping unit).
    NoDrhd,
    /// A MADT entry or DMAR structure (at this address) shorter than its header, too short
    /// for its fields or running past the table.
    MalformedEntry(u64),
    /// A table points at memory the kernel cannot read.
    Unreadable(u64),
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcpiError::NoRsdp => f.write_str("no ACPI RSDP in the EBDA or at 0xe0000..0xfffff"),
            AcpiError::BadChecksum(table, at) => write!(f, "ACPI table {table} at {at:#x}: bad checksum"),
            AcpiError::BadLength(table, at) => write!(f, "ACPI table {table} at {at:#x}: length out of range"),
            AcpiError::NoMadt => f.write_str("the ACPI root table lists no MADT (\"APIC\")"),
            AcpiError::NoDmar => f.write_str("the ACPI root table lists no DMAR (the machine has no VT-d IOMMU)"),
            AcpiError::NoDrhd => f.write_str("the ACPI DMAR table lists no DRHD (remapping unit)"),
            AcpiError::MalformedEntry(at) => write!(f, "ACPI table entry at {at:#x} is malformed"),
            AcpiError::Unreadable(at) => write!(f, "ACPI table at unreadable address {at:#x}"),
        }
    }
}

fn read<const N: usize>(memory: &impl PhysicalMemory, at: u64) -> Result<[u8; N], AcpiError> {
    let mut bytes = [0; N];
    memory.read(at, &mut bytes).map_err(|error| match error {
        MultibootError::Unreadable(address) => AcpiError::Unreadable(address),
        _ => AcpiError::Unreadable(at),
    })?;
    Ok(bytes)
}

fn read_u32(memory: &impl PhysicalMemory, at: u64) -> Result<u32, AcpiError> {
    read::<4>(memory, at).map(u32::from_le_bytes)
}

fn read_u64(memory: &impl PhysicalMemory, at: u64) -> Result<u64, AcpiError> {
    read::<8>(memory, at).map(u64::from_le_bytes)
}

/// Whether the `length` bytes at `at` sum to zero (modulo 256), read 64 bytes at a time.
fn sums_to_zero(memory: &impl PhysicalMemory, at: u64, length: u32) -> Result<bool, AcpiError> {
    let mut sum = 0u8;
    let mut offset = 0;
    while offset < u64::from(length) {
        let chunk = read::<64>(memory, at + offset);
        // The last chunk may run past readable memory: read it byte by byte.
        let take = (u64::from(length) - offset).min(64) as usize;
        match chunk {
            Ok(bytes) => sum = bytes[..take].iter().fold(sum, |s, b| s.wrapping_add(*b)),
            Err(_) => {
                for index in 0..take as u64 {
                    sum = sum.wrapping_add(read::<1>(memory, at + offset + index)?[0]);
                }
            }
        }
        offset += 64;
    }
    Ok(sum == 0)
}

/// The RSDP's address: in the first KiB of the EBDA, or in the BIOS area, on a 16-byte
/// boundary, with signature "RSD PTR " and a valid checksum over its first 20 bytes.
pub fn find_rsdp(memory: &impl PhysicalMemory) -> Result<u64, AcpiError> {
    let ebda = u64::from(u16::from_le_bytes(read::<2>(memory, EBDA_SEGMENT_POINTER)?)) << 4;
    let areas = [(ebda, ebda + 1024), BIOS_AREA];
    for (start, end) in areas.into_iter().filter(|&(start, _)| start != 0) {
        for at in (start..end).step_by(16) {
            if read::<8>(memory, at).is_ok_and(|signature| &signature == b"RSD PTR ") && sums_to_zero(memory, at, 20)? {
                return Ok(at);
            }
        }
    }
    Err(AcpiError::NoRsdp)
}

/// Checks the header of the table at `at` (`name` for errors) and returns its length.
fn table_length(memory: &impl PhysicalMemory, at: u64, name: &'static str) -> Result<u32, AcpiError> {
    let length = read_u32(memory, at + 4)?;
    if !(HEADER_LENGTH..=MAX_TABLE_LENGTH).contains(&length) {
        return Err(AcpiError::BadLength(name, at));
    }
    if !sums_to_zero(memory, at, length)? {
        return Err(AcpiError::BadChecksum(name, at));
    }
    Ok(length)
}

/// The address of the table with `signature`, from the XSDT (ACPI 2.0 RSDP with one) or
/// else the RSDT; `missing` if the root table does not list it.
fn find_table(memory: &impl PhysicalMemory, rsdp: u64, signature: &[u8; 4], missing: AcpiError) -> Result<u64, AcpiError> {
    let revision = read::<1>(memory, rsdp + 15)?[0];
    let xsdt = if revision >= 2 { read_u64(memory, rsdp + 24)? } else { 0 };
    let (root, name, entry_size) = if xsdt != 0 { (xsdt, "XSDT", 8u64) } else { (u64::from(read_u32(memory, rsdp + 16)?), "RSDT", 4) };
    let length = u64::from(table_length(memory, root, name)?);
    let entries = (length - u64::from(HEADER_LENGTH)) / entry_size;
    for entry in (0..entries).map(|index| u64::from(HEADER_LENGTH) + index * entry_size) {
        let table = if entry_size == 8 { read_u64(memory, root + entry)? } else { u64::from(read_u32(memory, root + entry)?) };
        if &read::<4>(memory, table)? == signature {
            return Ok(table);
        }
    }
    Err(missing)
}

/// Physical address of the register page of the DMAR table's first DRHD.
pub fn find_drhd(memory: &impl PhysicalMemory) -> Result<u64, AcpiError> {
    let dmar = find_table(memory, find_rsdp(memory)?, b"DMAR", AcpiError::NoDmar)?;
    let length = u64::from(table_length(memory, dmar, "DMAR")?);
    let mut offset = DMAR_STRUCTURES;
    while offset + 4 <= length {
        let header = read::<4>(memory, dmar + offset)?;
        let kind = u16::from_le_bytes([header[0], header[1]]);
        let size = u64::from(u16::from_le_bytes([header[2], header[3]]));
        if size < 4 || offset + size > length || (kind == DRHD_STRUCTURE && size < 16) {
            return Err(AcpiError::MalformedEntry(dmar + offset));
        }
        if kind == DRHD_STRUCTURE {
            return read_u64(memory, dmar + offset + 8);
        }
        offset += size;
    }
    Err(AcpiError::NoDrhd)
}

/// The enabled processors the MADT lists (local APIC entries with the enabled flag).
pub fn processors(memory: &impl PhysicalMemory) -> Result<Processors, AcpiError> {
    let madt = find_table(memory, find_rsdp(memory)?, b"APIC", AcpiError::NoMadt)?;
    let length = u64::from(table_length(memory, madt, "APIC")?);
    let mut found = Processors { apic_ids: Vec::new(), left_offline: 0 };
    // Entries start after the header, the local APIC address and the flags.
    let mut offset = u64::from(HEADER_LENGTH) + 8;
    while offset < length {
        let [kind, entry_length] = read::<2>(memory, madt + offset)?;
        let entry_length = u64::from(entry_length);
        if entry_length < 2 || offset + entry_length > length {
            return Err(AcpiError::MalformedEntry(madt + offset));
        }
        if kind == LOCAL_APIC_ENTRY {
            if entry_length < 8 {
                return Err(AcpiError::MalformedEntry(madt + offset));
            }
            let apic_id = read::<1>(memory, madt + offset + 3)?[0];
            if read_u32(memory, madt + offset + 4)? & PROCESSOR_ENABLED != 0 && found.apic_ids.push(apic_id).is_err() {
                found.left_offline += 1;
            }
        }
        offset += entry_length;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multiboot::TestMemory;

    const RSDP: usize = 0xF_0010;
    const ROOT: usize = 0x1000;
    const MADT: usize = 0x2000;

    impl TestMemory {
        fn put(&mut self, at: usize, bytes: &[u8]) {
            self.0[at..at + bytes.len()].copy_from_slice(bytes);
        }
        /// Makes the `length` bytes at `at` sum to zero by adjusting the byte at `checksum`.
        fn fix_checksum(&mut self, at: usize, length: usize, checksum: usize) {
            self.0[checksum] = 0;
            let sum = self.0[at..at + length].iter().fold(0u8, |s, b| s.wrapping_add(*b));
            self.0[checksum] = 0u8.wrapping_sub(sum);
        }
        /// A table header with `signature` and `length` at `at`, checksummed.
        fn table(&mut self, at: usize, signature: &[u8; 4], body: &[u8]) {
            let length = HEADER_LENGTH as usize + body.len();
            self.put(at, signature);
            self.put(at + 4, &(length as u32).to_le_bytes());
            self.put(at + HEADER_LENGTH as usize, body);
            self.fix_checksum(at, length, at + 9);
        }
    }

    /// A MADT body: local APIC address, flags, then `entries`.
    fn madt_body(entries: &[[u8; 8]]) -> std::vec::Vec<u8> {
        let mut body = std::vec::Vec::from(0xFEE0_0000u32.to_le_bytes());
        body.extend(1u32.to_le_bytes());
        for entry in entries {
            body.extend(entry);
        }
        body
    }

    fn local_apic(processor: u8, apic_id: u8, enabled: bool) -> [u8; 8] {
        [LOCAL_APIC_ENTRY, 8, processor, apic_id, enabled as u8, 0, 0, 0]
    }

    /// An ACPI 1.0 machine (RSDP in the BIOS area, an RSDT) with a MADT listing `entries`.
    fn machine(entries: &[[u8; 8]]) -> TestMemory {
        let mut memory = TestMemory(vec![0; 0x10_0000]);
        memory.put(RSDP, b"RSD PTR ");
        memory.put(RSDP + 16, &(ROOT as u32).to_le_bytes());
        memory.fix_checksum(RSDP, 20, RSDP + 8);
        memory.table(ROOT, b"RSDT", &[0x3000u32.to_le_bytes(), (MADT as u32).to_le_bytes()].concat());
        memory.table(0x3000, b"FACP", &[0; 8]);
        memory.table(MADT, b"APIC", &madt_body(entries));
        memory
    }

    #[test]
    fn finds_the_enabled_processors_through_the_rsdt() {
        let memory = machine(&[local_apic(0, 0, true), local_apic(1, 1, true), local_apic(2, 5, false)]);
        let found = processors(&memory).unwrap();
        assert_eq!(found.apic_ids.as_slice(), &[0, 1]);
        assert_eq!(found.left_offline, 0);
    }

    #[test]
    fn finds_the_madt_through_the_xsdt_of_an_acpi2_rsdp() {
        let mut memory = machine(&[local_apic(0, 0, true)]);
        // A revision-2 RSDP naming an XSDT that lists a second MADT with two processors.
        memory.put(RSDP + 15, &[2]);
        memory.put(RSDP + 24, &0x4000u64.to_le_bytes());
        memory.fix_checksum(RSDP, 20, RSDP + 8);
        memory.table(0x4000, b"XSDT", &0x5000u64.to_le_bytes());
        memory.table(0x5000, b"APIC", &madt_body(&[local_apic(0, 3, true), local_apic(1, 7, true)]));
        assert_eq!(processors(&memory).unwrap().apic_ids.as_slice(), &[3, 7]);
    }

    #[test]
    fn finds_the_rsdp_in_the_ebda() {
        let mut memory = machine(&[local_apic(0, 0, true), local_apic(1, 2, true)]);
        let rsdp: std::vec::Vec<u8> = memory.0[RSDP..RSDP + 20].to_vec();
        memory.put(RSDP, &[0; 20]);
        memory.put(EBDA_SEGMENT_POINTER as usize, &0x9FC0u16.to_le_bytes());
        memory.put(0x9_FC00 + 32, &rsdp);
        assert_eq!(find_rsdp(&memory), Ok(0x9_FC00 + 32));
        assert_eq!(processors(&memory).unwrap().apic_ids.as_slice(), &[0, 2]);
    }

    #[test]
    fn processors_beyond_the_limit_are_counted_as_left_offline() {
        let entries: std::vec::Vec<[u8; 8]> = (0..MAX_CPUS as u8 + 2).map(|id| local_apic(id, id, true)).collect();
        let found = processors(&machine(&entries)).unwrap();
        assert_eq!(found.apic_ids.len(), MAX_CPUS);
        assert_eq!(found.left_offline, 2);
    }

    #[test]
    fn a_missing_rsdp_is_an_error() {
        let mut memory = machine(&[local_apic(0, 0, true)]);
        memory.put(RSDP, &[0; 8]);
        assert_eq!(processors(&memory), Err(AcpiError::NoRsdp));
    }

    #[test]
    fn a_bad_rsdp_checksum_is_not_an_rsdp() {
        let mut memory = machine(&[local_apic(0, 0, true)]);
        memory.0[RSDP + 8] ^= 1;
        assert_eq!(processors(&memory), Err(AcpiError::NoRsdp));
    }

    #[test]
    fn a_madt_with_a_bad_checksum_is_named() {
        let mut memory = machine(&[local_apic(0, 0, true)]);
        memory.0[MADT + 44 + 3] ^= 1;
        assert_eq!(processors(&memory), Err(AcpiError::BadChecksum("APIC", MADT as u64)));
    }

    #[test]
    fn a_root_table_without_a_madt_is_an_error() {
        let mut memory = machine(&[local_apic(0, 0, true)]);
        memory.put(MADT, b"XXXX");
        assert_eq!(processors(&memory), Err(AcpiError::NoMadt));
    }

    #[test]
    fn table_lengths_out_of_range_are_refused() {
        for length in [0u32, 35, MAX_TABLE_LENGTH + 1, u32::MAX] {
            let mut memory = machine(&[local_apic(0, 0, true)]);
            memory.put(ROOT + 4, &length.to_le_bytes());
            assert_eq!(processors(&memory), Err(AcpiError::BadLength("RSDT", ROOT as u64)), "length {length}");
        }
    }

    #[test]
    fn malformed_madt_entries_are_refused() {
        // A zero-length entry (which would loop forever), a local APIC entry too short for its
        // fields, and an entry running past the table's end.
        let zero_length = [9u8, 0, 0, 0, 0, 0, 0, 0];
        let short_local_apic = [LOCAL_APIC_ENTRY, 4, 0, 0, 0, 0, 0, 0];
        let past_the_end = [1u8, 200, 0, 0, 0, 0, 0, 0];
        for entry in [zero_length, short_local_apic, past_the_end] {
            let memory = machine(&[local_apic(0, 0, true), entry]);
            assert_eq!(processors(&memory), Err(AcpiError::MalformedEntry((MADT + 44 + 8) as u64)), "entry {entry:?}");
        }
    }

    #[test]
    fn a_table_in_unreadable_memory_is_named() {
        let mut memory = machine(&[local_apic(0, 0, true)]);
        memory.put(ROOT + HEADER_LENGTH as usize + 4, &0x7FFF_0000u32.to_le_bytes());
        memory.fix_checksum(ROOT, 44, ROOT + 9);
        assert_eq!(processors(&memory), Err(AcpiError::Unreadable(0x7FFF_0000)));
        memory.put(RSDP + 16, &0x7FFF_0000u32.to_le_bytes());
        memory.fix_checksum(RSDP, 20, RSDP + 8);
        assert_eq!(processors(&memory), Err(AcpiError::Unreadable(0x7FFF_0004)));
    }
    /// A DMAR body: host address width, flags, reserved bytes, then `structures`.
    fn dmar_body(structures: &[u8]) -> std::vec::Vec<u8> {
        let mut body = std::vec::Vec::from([38u8, 0]);
        body.resize(12, 0);
        body.extend(structures);
        body
    }

    /// A DRHD structure for the register page at `base`.
    fn drhd(base: u64) -> std::vec::Vec<u8> {
        let mut structure = std::vec::Vec::from([0u8, 0, 16, 0, 1, 0, 0, 0]);
        structure.extend(base.to_le_bytes());
        structure
    }

    /// `machine` with the FACP replaced by a DMAR table listing `structures`.
    fn iommu_machine(structures: &[u8]) -> TestMemory {
        let mut memory = machine(&[local_apic(0, 0, true)]);
        memory.table(0x3000, b"DMAR", &dmar_body(structures));
        memory
    }

    #[test]
    fn the_drhd_base_is_found_through_the_rsdt_and_the_dmar() {
        let reserved_memory_region = [1u8, 0, 8, 0, 0, 0, 0, 0];
        let memory = iommu_machine(&[&reserved_memory_region[..], &drhd(0xFED9_0000)].concat());
        assert_eq!(find_drhd(&memory), Ok(0xFED9_0000));
    }

    #[test]
    fn a_missing_dmar_or_drhd_is_named() {
        assert_eq!(find_drhd(&machine(&[local_apic(0, 0, true)])), Err(AcpiError::NoDmar));
        assert_eq!(find_drhd(&iommu_machine(&[])), Err(AcpiError::NoDrhd));
    }

    #[test]
    fn malformed_dmar_structures_are_refused() {
        // A zero-length structure (which would loop forever), a DRHD too short for its base,
        // and a structure running past the table's end.
        let zero_length = [1u8, 0, 0, 0];
        let short_drhd = [0u8, 0, 8, 0, 0, 0, 0, 0];
        let past_the_end = [1u8, 0, 200, 0];
        for structure in [&zero_length[..], &short_drhd, &past_the_end] {
            let at = 0x3000 + DMAR_STRUCTURES;
            assert_eq!(find_drhd(&iommu_machine(structure)), Err(AcpiError::MalformedEntry(at)), "structure {structure:?}");
        }
    }

    /// Every error prints what it names: the table's signature and address, or the entry's.
    #[test]
    fn errors_print_what_they_name() {
        let cases = [
            (AcpiError::NoRsdp, "no ACPI RSDP in the EBDA or at 0xe0000..0xfffff"),
            (AcpiError::BadChecksum("APIC", 0x2000), "ACPI table APIC at 0x2000: bad checksum"),
            (AcpiError::BadLength("RSDT", 0x1000), "ACPI table RSDT at 0x1000: length out of range"),
            (AcpiError::NoMadt, "the ACPI root table lists no MADT (\"APIC\")"),
            (AcpiError::NoDmar, "the ACPI root table lists no DMAR (the machine has no VT-d IOMMU)"),
            (AcpiError::NoDrhd, "the ACPI DMAR table lists no DRHD (remapping unit)"),
            (AcpiError::MalformedEntry(0x2034), "ACPI table entry at 0x2034 is malformed"),
            (AcpiError::Unreadable(0x7fff_0000), "ACPI table at unreadable address 0x7fff0000"),
        ];
        for (error, text) in cases {
            assert_eq!(std::format!("{error}"), text);
        }
    }

    /// The longest table accepted is 64 KiB exactly (a root table padded with null entries
    /// after the MADT's, which the search never reaches).
    #[test]
    fn a_table_of_exactly_64_kib_is_accepted_and_one_byte_more_is_not() {
        for (length, accepted) in [(65_536usize, true), (65_537, false)] {
            let mut memory = machine(&[local_apic(0, 4, true)]);
            let mut body = [0x3000u32.to_le_bytes(), (MADT as u32).to_le_bytes()].concat();
            body.resize(length - HEADER_LENGTH as usize, 0);
            memory.table(0x1_0000, b"RSDT", &body);
            memory.put(RSDP + 16, &0x1_0000u32.to_le_bytes());
            memory.fix_checksum(RSDP, 20, RSDP + 8);
            let found = processors(&memory).map(|found| found.apic_ids.as_slice().to_vec());
            let expected = if accepted { Ok(std::vec![4]) } else { Err(AcpiError::BadLength("RSDT", 0x1_0000)) };
            assert_eq!(found, expected, "length {length}");
        }
    }

    /// The checksum covers the table's own bytes only, not the rest of its last 64-byte chunk.
    #[test]
    fn bytes_after_a_table_are_not_summed() {
        // 76 bytes: the second chunk holds 12 of the table's bytes and 52 after it.
        let entries: std::vec::Vec<[u8; 8]> = (0..4).map(|id| local_apic(id, id, true)).collect();
        let mut memory = machine(&entries);
        memory.put(MADT + HEADER_LENGTH as usize + 8 + 32, &[0x5A; 52]);
        assert_eq!(processors(&memory).unwrap().apic_ids.as_slice(), &[0, 1, 2, 3]);
    }

    /// A table ending a few bytes before the end of readable memory: its last 64-byte chunk
    /// cannot be read whole, so it is summed byte by byte, at the right addresses.
    #[test]
    fn a_table_at_the_end_of_readable_memory_is_summed_byte_by_byte() {
        let entries: std::vec::Vec<[u8; 8]> = (0..10).map(|id| local_apic(id, 10 + id, true)).collect();
        let body = madt_body(&entries);
        let length = HEADER_LENGTH as usize + body.len();
        assert_eq!(length, 124);
        let mut memory = machine(&[local_apic(0, 0, true)]);
        // 124 bytes ending 2 bytes before the end: the 64 bytes at offset 64 run past it.
        let madt = memory.0.len() - length - 2;
        memory.table(madt, b"APIC", &body);
        memory.table(ROOT, b"RSDT", &(madt as u32).to_le_bytes());
        let found = processors(&memory).unwrap();
        assert_eq!(found.apic_ids.as_slice(), &[10, 11, 12, 13]);
        assert_eq!(found.left_offline, 6);
        memory.0[madt + length - 1] ^= 1;
        assert_eq!(processors(&memory), Err(AcpiError::BadChecksum("APIC", madt as u64)), "the last byte counts");
    }

    /// A memory that reports the first unreadable byte of a read, not the read's start (the
    /// kernel's `DirectMap` and `TestMemory` report the start; `read` passes on whichever
    /// address the memory names).
    struct Truncated(TestMemory);

    impl PhysicalMemory for Truncated {
        fn read(&self, phys: u64, out: &mut [u8]) -> Result<(), MultibootError> {
            let end = self.0.0.len() as u64;
            if phys + out.len() as u64 > end {
                return Err(MultibootError::Unreadable(phys.max(end)));
            }
            self.0.read(phys, out)
        }
    }

    /// An unreadable table is named by the address the memory reports as unreadable.
    #[test]
    fn the_unreadable_address_is_the_one_the_memory_reports() {
        let mut memory = machine(&[local_apic(0, 0, true)]);
        let end = memory.0.len() as u64;
        // The RSDT's length field starts two bytes before the end of memory.
        memory.put(RSDP + 16, &((end - 6) as u32).to_le_bytes());
        memory.fix_checksum(RSDP, 20, RSDP + 8);
        assert_eq!(processors(&Truncated(memory)), Err(AcpiError::Unreadable(end)));
    }

    /// Only the EBDA's first KiB is searched: an RSDP just past it is not found.
    #[test]
    fn an_rsdp_past_the_ebdas_first_kib_is_not_found() {
        let mut memory = machine(&[local_apic(0, 0, true)]);
        let rsdp: std::vec::Vec<u8> = memory.0[RSDP..RSDP + 20].to_vec();
        memory.put(RSDP, &[0; 20]);
        memory.put(EBDA_SEGMENT_POINTER as usize, &0x9FC0u16.to_le_bytes());
        memory.put(0x9_FC00 + 1024, &rsdp);
        assert_eq!(find_rsdp(&memory), Err(AcpiError::NoRsdp));
        memory.put(0x9_FC00 + 1024 - 16, &rsdp);
        assert_eq!(find_rsdp(&memory), Ok(0x9_FC00 + 1024 - 16), "the last place in it is searched");
    }

    /// The root table's entries end with the table: an address just after it is not read.
    #[test]
    fn only_the_root_tables_own_entries_are_searched() {
        let mut memory = machine(&[local_apic(0, 0, true)]);
        memory.table(ROOT, b"RSDT", &0x3000u32.to_le_bytes());
        memory.put(ROOT + HEADER_LENGTH as usize + 4, &(MADT as u32).to_le_bytes());
        assert_eq!(processors(&memory), Err(AcpiError::NoMadt));
    }

    /// The shortest structures accepted: a 4-byte header alone, and a DRHD of exactly 16
    /// bytes, ending exactly at the table's end.
    #[test]
    fn the_shortest_dmar_structures_are_accepted() {
        let header_only = [1u8, 0, 4, 0];
        let memory = iommu_machine(&[&header_only[..], &drhd(0xFED9_1000)].concat());
        assert_eq!(find_drhd(&memory), Ok(0xFED9_1000));
    }

    /// The shortest MADT entry accepted is its 2-byte header (an entry of another kind),
    /// here the table's last.
    #[test]
    fn a_two_byte_madt_entry_is_accepted() {
        let mut memory = machine(&[]);
        let mut body = madt_body(&[local_apic(0, 3, true)]);
        body.extend([9u8, 2]);
        memory.table(MADT, b"APIC", &body);
        assert_eq!(processors(&memory).unwrap().apic_ids.as_slice(), &[3]);
    }
}
