//! The `domains` part of `tileos-bench`: boot to tile-ready for 10, 100 and 1,000 domains
//! (or the counts `TILEOS_BENCH_DOMAINS` names).
//! Each size is a generated description (`tileos_qemu::generated::echo_clients`: console,
//! echo server, witness and N − 3 echo clients) booted under `-icount` on a machine with the
//! RAM the image builder computes for it; the root server's `tile.supervising` event, logged
//! once every domain is built and started, gives the guest instructions from the kernel's
//! first instruction (`ready_ticks`) and from the root server's (`rootserver_ticks`: reading
//! the description, admitting, building and starting every domain, dropping its boot
//! authority). A boot that refuses a domain is a failure, not a figure.

use std::time::Duration;
use tileos_qemu::images::TestImages;
use tileos_qemu::{Boot, Ended, Machine, run_watch};

/// Domain counts measured, unless `TILEOS_BENCH_DOMAINS` names others (comma-separated,
/// e.g. `2468`: the most `make domains` fits in 256 MiB).
pub const SIZES: [usize; 3] = [10, 100, 1000];

/// The domain counts to measure: `TILEOS_BENCH_DOMAINS`, or [`SIZES`].
fn sizes() -> Result<Vec<usize>, String> {
    let Ok(list) = std::env::var("TILEOS_BENCH_DOMAINS") else { return Ok(SIZES.to_vec()) };
    list.split(',')
        .map(|n| {
            n.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n >= 3)
                .ok_or_else(|| format!("TILEOS_BENCH_DOMAINS: {n:?} is not a count of 3 or more domains"))
        })
        .collect()
}
/// Serial texts that end a run as failed.
const FAILURES: [&str; 3] = ["panic at", "KERNEL EXCEPTION", "does not fit"];

/// Boot to ready of one size.
pub struct DomainsFigure {
    /// Domains built and started.
    pub domains: usize,
    /// Guest RAM of the machine (MiB): the builder's figure.
    pub memory_mib: u64,
    /// Guest instructions from the kernel's first instruction to tile-ready.
    pub ready: u64,
    /// Of those, from the root server's first instruction.
    pub rootserver: u64,
}

/// Boots each size and reads its figures.
pub fn domains_figures(images: &TestImages) -> Result<Vec<DomainsFigure>, String> {
    std::fs::create_dir_all(&images.logs).map_err(|error| format!("log directory: {error}"))?;
    let mut figures = Vec::new();
    for domains in sizes()? {
        let name = format!("bench-domains-{domains}");
        let (toml, ram) = tileos_qemu::generated::archive(&name, &tileos_qemu::generated::echo_clients(&name, domains - 3))?;
        let memory_mib = ram >> 20;
        let machine = Machine { icount: true, memory_mib: memory_mib as u32, ..Machine::default() };
        let boot: Boot = images.tile_boot(toml.with_extension("archive"));
        eprintln!("tileos-bench: domains figures: booting {domains} domains in {memory_mib} MiB under -icount...");
        let outcome =
            run_watch(&machine, &boot, &images.logs.join(format!("{name}.log")), Duration::from_secs(600), &["supervising"], &FAILURES)
                .map_err(|error| error.to_string())?;
        if !matches!(outcome.ended, Ended::Reached(_)) {
            return Err(format!("domains figures, {domains} domains: {}; last serial lines:\n{}", outcome.ended, outcome.tail(30)));
        }
        let event =
            outcome.events("tile.supervising").into_iter().next().ok_or_else(|| format!("{domains} domains: no tile.supervising event"))?;
        let number = |key: &str| event.get(key).and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| format!("no {key} in {}", event.line));
        if number("domains")? != domains as u64 {
            return Err(format!("{domains} domains: {}", event.line));
        }
        figures.push(DomainsFigure { domains, memory_mib, ready: number("ready_ticks")?, rootserver: number("rootserver_ticks")? });
    }
    Ok(figures)
}

/// Prints the table.
pub fn print(figures: &[DomainsFigure]) {
    println!("{:<10} {:>8} {:>18} {:>18} {:>16}", "domains", "RAM MiB", "boot to ready", "root server part", "per domain");
    for f in figures {
        println!("{:<10} {:>8} {:>18} {:>18} {:>16}", f.domains, f.memory_mib, f.ready, f.rootserver, f.rootserver / f.domains as u64);
    }
    println!("(guest instructions under -icount; per domain: the root server's part divided by the domains)");
}

/// The figures' entries of bench.json.
pub fn json(figures: &[DomainsFigure]) -> Vec<String> {
    figures
        .iter()
        .map(|f| {
            format!(
                "  \"boot_to_ready_{}_domains\": {{\"instructions\": {}, \"rootserver_instructions\": {}, \"memory_mib\": {}, \"sel4\": \"n/a\"}}",
                f.domains, f.ready, f.rootserver, f.memory_mib
            )
        })
        .collect()
}
