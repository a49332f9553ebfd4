//! What a description costs in RAM, at build time: every domain's footprint
//! (`tileos_sysdesc::footprint`, the figures the root server allocates and logs), the total,
//! a size table (`--sizes`), and the check that refuses a description whose domains do not
//! fit in the tile's RAM (`[tile] ram`, or `--ram` from the machine that boots it).

use std::fmt::Write as _;
use tileos_sysdesc::SystemDescription;
use tileos_sysdesc::footprint::{self, Consumer, Footprint, Program, Segment, admission};

/// RAM the domains never get besides the boot modules' bytes and the root server's image
/// (those are counted from the files: [`rootserver_bytes`] and the archive's length). Measured
/// on the test images (2026-12-06, `slots33`): the RAM minus the untyped RAM the root server's
/// boot log counts minus the root server ELF's pages, its segments' pages and the archive's
/// pages is 2,684 KiB on 32, 117 and 256 MiB alike (the first MiB, firmware holes, the
/// kernel, its boot-time tables, the 1 MiB root CNode, the pieces too small to be untyped
/// regions), and the root server's image has 64 frames beyond its segments' (stack, IPC
/// buffer, BootInfo): 2,940 KiB, rounded up to 3 MiB; plus the root server's heap (4 MiB,
/// `rootserver/src/system/mod.rs`); plus 1.5 MiB for what admission keeps back (a largest
/// piece per untyped region and one where the keepers end: 22 × 64 KiB = 1,408 KiB for the
/// generated tiles on 256 MiB) and the regions' unusable ends. Until `slots33` this was one
/// figure of 22 MiB measured with a root server ELF of 13 MiB: the root server ELF (a boot
/// module kept in RAM whole, its debug information included) grew to 13.4 MiB, and the
/// seat build in pieces made it 322 KiB larger still, which the thousand-domain boot test
/// ran out of (its last domain refused for want of 84 KiB).
pub const RESERVED: u64 = 3 * 1024 * 1024 + 4 * 1024 * 1024 + 1536 * 1024;

/// The root server's file name among the programs (`BOOT_PROGRAMS` in the Makefile builds it
/// into the same directory as the domains' programs).
pub const ROOTSERVER_PROGRAM: &str = "tileos-rootserver";

/// What [`rootserver_bytes`] is taken to be when the root server's ELF is not among the
/// programs (a description built without it): 16 MiB, above the test images' 13.7 MiB.
pub const ROOTSERVER_ASSUMED: u64 = 16 * 1024 * 1024;

/// RAM the root server ELF `elf` takes before any domain: the whole file in pages (the first
/// boot module, which stays in RAM) and the pages of its loadable segments (the kernel copies
/// them into frames of their own). An ELF that does not parse counts its file only.
pub fn rootserver_bytes(elf: &[u8]) -> u64 {
    let segment_pages = match tileos_elf::parse(elf) {
        Ok(exe) => exe.segments().map(|s| (s.vaddr + s.mem_size).div_ceil(4096) - s.vaddr / 4096).sum(),
        Err(_) => 0,
    };
    (elf.len() as u64).div_ceil(4096) * 4096 + segment_pages * 4096
}

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

/// RAM left for the domains of a tile with `ram` bytes booting an archive of `archive` bytes
/// with a root server that takes `rootserver` bytes ([`rootserver_bytes`]).
pub fn available(ram: u64, archive: u64, rootserver: u64, description: &SystemDescription) -> u64 {
    ram.saturating_sub(RESERVED + rootserver + archive + shared_bytes(description))
}

/// The RAM, in whole MiB, a tile needs to boot an archive of `archive` bytes holding
/// `description` with the domains of `rows` and a root server that takes `rootserver` bytes
/// ([`rootserver_bytes`]): their footprints plus what domains never get.
pub fn needed(rows: &[Row], archive: u64, rootserver: u64, description: &SystemDescription) -> u64 {
    let domains: u64 = rows.iter().map(|r| r.footprint.total()).sum();
    (domains + RESERVED + rootserver + archive + shared_bytes(description)).next_multiple_of(1 << 20)
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
