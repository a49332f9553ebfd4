//! What a description costs in RAM, at build time: every domain's footprint
//! (`tileos_sysdesc::footprint`, the figures the root server allocates and logs), the total,
//! a size table (`--sizes`), and the check that refuses a description whose domains do not
//! fit in the tile's RAM (`[tile] ram`, or `--ram` from the machine that boots it).

use std::fmt::Write as _;
use tileos_sysdesc::SystemDescription;
use tileos_sysdesc::footprint::{self, Consumer, Footprint, Program, Segment, admission};

/// RAM the domains never get, measured: the root server's boot log counts 249,128 KiB of
/// untyped RAM on the dev machine (256 MiB of guest RAM) and 17,760 KiB on a 32 MiB one, so
/// 13,016 KiB and 15,008 KiB go to the first MiB, firmware holes, the kernel, its boot-time
/// tables, the boot modules and the pieces too small to be untyped regions; with the test
/// images (a 13 MiB root server ELF) and the 1 MiB root CNode it is 16,620 KiB on 256 MiB
/// (245,524 KiB untyped); rounded up to 17 MiB, plus the root server's heap (4 MiB,
/// `rootserver/src/system/mod.rs`), plus 1 MiB for what admission keeps back (a largest
/// piece per untyped region and one where the keepers end: 22 × 64 KiB = 1,408 KiB for the
/// generated tiles on 256 MiB, which this 1 MiB and the rounding's 788 KiB cover) and the
/// regions' unusable ends: with 16 MiB instead of 17 the generated 2,479-domain tile came 5
/// domains (485 KiB) short on 256 MiB. The boot archive's own bytes are added
/// separately.
pub const RESERVED: u64 = 18 * 1024 * 1024 + 4 * 1024 * 1024;

/// One domain's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The domain's name.
    pub name: String,
    /// Its program's name.
    pub program: String,
    /// Its footprint.
    pub footprint: Footprint,
}

/// The loadable segments of an ELF (empty if it does not parse: the archive check names it).
pub fn segments(elf: &[u8]) -> Vec<Segment> {
    match tileos_elf::parse(elf) {
        Ok(exe) => exe.segments().map(|s| Segment { vaddr: s.vaddr, mem_size: s.mem_size }).collect(),
        Err(_) => Vec::new(),
    }
}

/// Every domain's row; `elfs[i]` is archive entry `i + 1`, `programs[i]` its name. A seat's
/// row counts its slot's `module_memory` as the root server does.
pub fn rows(description: &SystemDescription, programs: &[&str], elfs: &[Vec<u8>]) -> Vec<Row> {
    description
        .domains
        .iter()
        .enumerate()
        .map(|(index, domain)| {
            let entry = (domain.program as usize).checked_sub(1);
            let elf = entry.and_then(|e| elfs.get(e)).map_or(&[][..], Vec::as_slice);
            let segments = segments(elf);
            let image: u64 = segments.iter().map(|s| ((s.vaddr & 0xFFF) + s.mem_size).div_ceil(4096) * 4096).sum();
            let program = match description.seat(index as u32) {
                Some((slot, _)) => Program::Seat { bytes: (image + domain.heap_size).max(slot.module_memory) - domain.heap_size },
                None => Program::Segments(&segments),
            };
            Row {
                name: domain.name.clone(),
                program: entry.and_then(|e| programs.get(e)).map_or_else(String::new, |p| p.to_string()),
                footprint: footprint::domain(description, index, program),
            }
        })
        .collect()
}

/// Bytes the shared regions take (each retyped from a power-of-two untyped of its own).
pub fn shared_bytes(description: &SystemDescription) -> u64 {
    description.shared_regions.iter().map(|r| r.size.next_power_of_two().max(4096)).sum()
}

/// RAM left for the domains of a tile with `ram` bytes booting an archive of `archive` bytes.
pub fn available(ram: u64, archive: u64, description: &SystemDescription) -> u64 {
    ram.saturating_sub(RESERVED + archive + shared_bytes(description))
}

/// The RAM, in whole MiB, a tile needs to boot an archive of `archive` bytes holding
/// `description` with the domains of `rows`: their footprints plus what domains never get.
pub fn needed(rows: &[Row], archive: u64, description: &SystemDescription) -> u64 {
    let domains: u64 = rows.iter().map(|r| r.footprint.total()).sum();
    (domains + RESERVED + archive + shared_bytes(description)).next_multiple_of(1 << 20)
}

/// Checks the limits that do not depend on the RAM: every domain needs one of the kernel's
/// [`admission::ADDRESS_SPACES`] address spaces, and the root server's heap
/// ([`admission::ROOT_HEAP_BYTES`]) must hold its records of all of them
/// ([`admission::heap_estimate`], an estimate measured on the generated tiles). The error
/// names the limit, the count and the first domain beyond it.
pub fn check_limits(rows: &[Row]) -> Result<(), String> {
    let domains = rows.len() as u64;
    if domains > admission::ADDRESS_SPACES {
        return Err(format!(
            "the {domains} domains need as many address spaces, but the kernel has {} for domains (ASIDs); the first beyond them: \"{}\"",
            admission::ADDRESS_SPACES,
            rows[admission::ADDRESS_SPACES as usize].name
        ));
    }
    let heap = admission::heap_estimate(domains);
    if heap > admission::ROOT_HEAP_BYTES {
        let most = (admission::ROOT_HEAP_BYTES - admission::heap_estimate(0)) / admission::HEAP_PER_DOMAIN_MEASURED;
        return Err(format!(
            "the {domains} domains need about {} KiB of the root server's heap ({} bytes each, measured), but it has {} KiB: it holds about {most} domains; the first beyond them: \"{}\"",
            heap.div_ceil(1024),
            admission::HEAP_PER_DOMAIN_MEASURED,
            admission::ROOT_HEAP_BYTES / 1024,
            rows[most as usize].name
        ));
    }
    Ok(())
}

/// Checks that the domains fit in `available` bytes; the error names the total, the RAM
/// left for domains (of `ram`) and the three largest consumers.
pub fn check_fit(rows: &[Row], ram: u64, available: u64) -> Result<(), String> {
    let total: u64 = rows.iter().map(|r| r.footprint.total()).sum();
    if total <= available {
        return Ok(());
    }
    let consumers: Vec<Consumer> = rows.iter().map(|r| Consumer { name: &r.name, footprint: r.footprint }).collect();
    let largest: Vec<String> =
        footprint::largest(&consumers, 3).iter().map(|c| format!("\"{}\" {} KiB", c.name, c.footprint.total().div_ceil(1024))).collect();
    Err(format!(
        "the {} domains need {} KiB of RAM, but the tile's {} KiB leave {} KiB for domains (the rest: kernel, root server, boot archive, shared regions); largest: {}",
        rows.len(),
        total.div_ceil(1024),
        ram / 1024,
        available / 1024,
        largest.join(", ")
    ))
}

/// The size table: one line per domain (KiB), then the total and, with `available`, the RAM
/// left for domains.
pub fn table(rows: &[Row], available: Option<u64>) -> String {
    let kib = |bytes: u64| bytes.div_ceil(1024);
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(6).max(6);
    let mut out = format!(
        "{:<width$} {:>9} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8}  program\n",
        "domain", "segments", "stack", "heap", "tables", "other", "total", "beyond"
    );
    for row in rows {
        let f = &row.footprint;
        let other = f.ipc_buffer + f.info_page + f.cnode + f.tcb + f.keeper;
        let _ = writeln!(
            out,
            "{:<width$} {:>9} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8}  {}",
            row.name,
            kib(f.segments),
            kib(f.stack),
            kib(f.heap),
            kib(f.paging),
            kib(other),
            kib(f.total()),
            kib(f.beyond_segments()),
            row.program
        );
    }
    let total: u64 = rows.iter().map(|r| r.footprint.total()).sum();
    let _ =
        write!(out, "total: {} KiB for {} domains (KiB; other: IPC buffer, information page, CNode, TCB, keeper)", kib(total), rows.len());
    if let Some(available) = available {
        let _ = write!(out, "; {} KiB of RAM left for domains", available / 1024);
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests;
