//! Finding the IOMMU: the register base of the first DMA-remapping hardware unit (DRHD) of
//! the ACPI DMAR table, reached from the RSDP (in the BIOS area) through the RSDT or XSDT.
//! Only what the kernel needs is read; every length is checked against the table's.

use crate::multiboot::PhysicalMemory;
use core::fmt;

/// Where the RSDP may lie: the BIOS read-only area (the EBDA is not searched; QEMU's
/// SeaBIOS puts it here).
const RSDP_AREA: (u64, u64) = (0xE_0000, 0x10_0000);
/// Length of an ACPI table header.
const HEADER: u64 = 36;
/// Offset of the remapping structures in the DMAR table.
const DMAR_STRUCTURES: u64 = 48;
/// Most tables listed by the RSDT/XSDT that are looked at.
const MAX_TABLES: u64 = 64;

/// Why no IOMMU was found or its table could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// No RSDP ("RSD PTR " with a valid checksum) in the BIOS area.
    NoRsdp,
    /// The RSDT/XSDT lists no DMAR table: the machine has no IOMMU.
    NoDmar,
    /// The DMAR table has no DRHD structure.
    NoDrhd,
    /// A table (named) is unreadable, too short, or has a bad length or checksum.
    Malformed(&'static str),
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcpiError::NoRsdp => f.write_str("no ACPI RSDP in the BIOS area 0xe0000..0x100000"),
            AcpiError::NoDmar => f.write_str("no ACPI DMAR table (the machine has no VT-d IOMMU)"),
            AcpiError::NoDrhd => f.write_str("the ACPI DMAR table lists no DRHD (remapping unit)"),
            AcpiError::Malformed(table) => write!(f, "the ACPI {table} is malformed (length, checksum or unreadable)"),
        }
    }
}

fn read<const N: usize>(memory: &impl PhysicalMemory, phys: u64, table: &'static str) -> Result<[u8; N], AcpiError> {
    let mut out = [0; N];
    memory.read(phys, &mut out).map_err(|_| AcpiError::Malformed(table))?;
    Ok(out)
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0; 8];
    let end = (offset + 8).min(bytes.len());
    word[..end - offset].copy_from_slice(&bytes[offset..end]);
    u64::from_le_bytes(word)
}

/// The RSDT or XSDT: its address and entry width (4 or 8 bytes).
fn root_table(memory: &impl PhysicalMemory) -> Result<(u64, u64), AcpiError> {
    for phys in (RSDP_AREA.0..RSDP_AREA.1).step_by(16) {
        if read::<8>(memory, phys, "RSDP").ok().is_none_or(|signature| &signature != b"RSD PTR ") {
            continue;
        }
        let rsdp: [u8; 36] = read(memory, phys, "RSDP")?;
        if rsdp[..20].iter().fold(0u8, |sum, b| sum.wrapping_add(*b)) != 0 {
            continue;
        }
        let xsdt = u64_at(&rsdp, 24);
        return Ok(if rsdp[15] >= 2 && xsdt != 0 { (xsdt, 8) } else { (u64_at(&rsdp[..20], 16) & 0xFFFF_FFFF, 4) });
    }
    Err(AcpiError::NoRsdp)
}

/// Signature and length of the table at `phys`.
fn header(memory: &impl PhysicalMemory, phys: u64, table: &'static str) -> Result<([u8; 4], u64), AcpiError> {
    let bytes: [u8; 8] = read(memory, phys, table)?;
    let length = u64_at(&bytes[4..8], 0);
    if length < HEADER {
        return Err(AcpiError::Malformed(table));
    }
    Ok(([bytes[0], bytes[1], bytes[2], bytes[3]], length))
}

/// Physical address of the register page of the first DRHD in the DMAR table.
pub fn find_drhd(memory: &impl PhysicalMemory) -> Result<u64, AcpiError> {
    let (root, width) = root_table(memory)?;
    let (_, length) = header(memory, root, "RSDT/XSDT")?;
    let count = ((length - HEADER) / width).min(MAX_TABLES);
    let dmar = (0..count)
        .map(|i| {
            let entry = root + HEADER + i * width;
            let low = u64_at(&read::<4>(memory, entry, "RSDT/XSDT")?, 0);
            Ok(if width == 8 { low | u64_at(&read::<4>(memory, entry + 4, "RSDT/XSDT")?, 0) << 32 } else { low })
        })
        .find_map(|table| match table {
            Ok(phys) => match header(memory, phys, "table listed by the RSDT/XSDT") {
                Ok((signature, length)) if &signature == b"DMAR" => Some(Ok((phys, length))),
                Ok(_) => None,
                Err(error) => Some(Err(error)),
            },
            Err(error) => Some(Err(error)),
        })
        .ok_or(AcpiError::NoDmar)??;
    let (dmar, length) = dmar;
    let mut offset = DMAR_STRUCTURES;
    while offset + 16 <= length {
        let structure: [u8; 16] = read(memory, dmar + offset, "DMAR")?;
        let kind = u16::from_le_bytes([structure[0], structure[1]]);
        let size = u64::from(u16::from_le_bytes([structure[2], structure[3]]));
        if size < 4 {
            return Err(AcpiError::Malformed("DMAR"));
        }
        if kind == 0 {
            if size < 16 {
                return Err(AcpiError::Malformed("DMAR"));
            }
            return Ok(u64_at(&structure, 8));
        }
        offset += size;
    }
    Err(AcpiError::NoDrhd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multiboot::MultibootError;

    /// Physical memory as a few byte ranges.
    struct Memory(Vec<(u64, Vec<u8>)>);

    impl PhysicalMemory for Memory {
        fn read(&self, phys: u64, out: &mut [u8]) -> Result<(), MultibootError> {
            for (base, bytes) in &self.0 {
                if phys >= *base && phys + out.len() as u64 <= base + bytes.len() as u64 {
                    let start = (phys - base) as usize;
                    out.copy_from_slice(&bytes[start..start + out.len()]);
                    return Ok(());
                }
            }
            if (RSDP_AREA.0..RSDP_AREA.1).contains(&phys) {
                out.fill(0);
                return Ok(());
            }
            Err(MultibootError::Unreadable(phys))
        }
    }

    fn table(signature: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut bytes = signature.to_vec();
        bytes.extend_from_slice(&((HEADER as usize + body.len()) as u32).to_le_bytes());
        bytes.resize(HEADER as usize, 0);
        bytes.extend_from_slice(body);
        bytes
    }

    /// An RSDP (revision 0) at 0xF5000 pointing at an RSDT at 0x100_0000 listing `tables`.
    fn machine(tables: &[(u64, Vec<u8>)]) -> Memory {
        let mut rsdp = b"RSD PTR ".to_vec();
        rsdp.extend_from_slice(&[0; 7]);
        rsdp.push(0);
        rsdp.extend_from_slice(&0x100_0000u32.to_le_bytes());
        let sum = rsdp.iter().fold(0u8, |s, b| s.wrapping_add(*b));
        rsdp[8] = 0u8.wrapping_sub(sum);
        rsdp.resize(36, 0);
        let entries: Vec<u8> = tables.iter().flat_map(|(phys, _)| (*phys as u32).to_le_bytes()).collect();
        let mut ranges = vec![(0xF_5000, rsdp), (0x100_0000, table(b"RSDT", &entries))];
        ranges.extend(tables.iter().cloned());
        Memory(ranges)
    }

    fn dmar(structures: &[u8]) -> Vec<u8> {
        let mut body = vec![38, 0];
        body.resize(12, 0);
        body.extend_from_slice(structures);
        table(b"DMAR", &body)
    }

    #[test]
    fn the_drhd_base_is_found_through_rsdp_rsdt_and_dmar() {
        let mut drhd = vec![0, 0, 16, 0, 1, 0, 0, 0];
        drhd.extend_from_slice(&0xFED9_0000u64.to_le_bytes());
        let reserved = [1u8, 0, 8, 0, 0, 0, 0, 0];
        let machine = machine(&[(0x200_0000, table(b"APIC", &[])), (0x300_0000, dmar(&[&reserved[..], &drhd].concat()))]);
        assert_eq!(find_drhd(&machine), Ok(0xFED9_0000));
    }

    #[test]
    fn a_missing_or_broken_dmar_is_reported() {
        assert_eq!(find_drhd(&Memory(vec![])), Err(AcpiError::NoRsdp));
        assert_eq!(find_drhd(&machine(&[(0x200_0000, table(b"APIC", &[]))])), Err(AcpiError::NoDmar));
        assert_eq!(find_drhd(&machine(&[(0x300_0000, dmar(&[]))])), Err(AcpiError::NoDrhd));
        let endless = [1u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(find_drhd(&machine(&[(0x300_0000, dmar(&endless))])), Err(AcpiError::Malformed("DMAR")), "a zero-length structure");
        assert_eq!(find_drhd(&machine(&[(0x400_0000, vec![0; 4])])), Err(AcpiError::Malformed("table listed by the RSDT/XSDT")));
    }
}
