//! Boot tests of many domains on one tile, from a generated description (a console, an echo
//! server and N echo clients, like issue 20's):
//! - one that does not fit in the machine's RAM. The root server must not panic: it logs
//!   each domain that does not fit and why (bytes needed and left), builds the rest, and
//!   every client it built gets its answers. The image builder, told the machine's RAM,
//!   refuses the same description before it boots.
//! - a thousand domains on a machine sized by the image builder's own figure
//!   (`Sized::ram_needed`): none is refused, every client answers, each domain's memory is
//!   used exactly as computed, the boot log's figures are the builder's size table's, and the
//!   root server drops its boot authority as always.
//! - (ignored: minutes; `make domains`) the most domains the builder fits in a machine's RAM
//!   (256 MiB unless `TILEOS_DOMAINS_RAM_MIB` says otherwise), booted under `-icount`: none
//!   refused, every client answers; prints N and the boot-to-ready instructions.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;
use tileos_imagebuild::Programs;
use tileos_imagebuild::sizes::Row;
use tileos_qemu::generated::{self, program_dir};
use tileos_qemu::images::{TestImages, test_images};
use tileos_qemu::{Machine, run_until};

const TIMEOUT: Duration = Duration::from_secs(180);
/// The machine: small, so that memory runs out before the root server's CNode does.
const MEMORY_MIB: u32 = 32;
/// Clients: more than 32 MiB hold.
const CLIENTS: usize = 150;
/// Domains of the thousand-domain test: console, echo server, witness and clients.
const THOUSAND: usize = 1000;
/// Its time limit: it boots in about a minute on the loaded 2-core build machine.
const THOUSAND_TIMEOUT: Duration = Duration::from_secs(300);

fn images() -> &'static TestImages {
    test_images().unwrap_or_else(|error| panic!("{error}"))
}

/// The description of `clients` echo clients (`tileos_qemu::generated`).
fn description(clients: usize) -> String {
    generated::echo_clients("many-clients", clients)
}

/// Writes the description and builds its archive; returns its path and the RAM it needs.
fn archive(name: &str, text: &str) -> (PathBuf, u64) {
    generated::archive(name, text).unwrap_or_else(|error| panic!("{error}"))
}

/// Boots the archive of `toml` on `machine` until the witness is done; checks that nothing
/// panicked.
fn boot(toml: &std::path::Path, machine: &Machine, timeout: Duration) -> tileos_qemu::RunOutcome {
    boot_with(toml, machine, timeout, "")
}

/// [`boot`] with `words` added to the root server's command line.
fn boot_with(toml: &std::path::Path, machine: &Machine, timeout: Duration, words: &str) -> tileos_qemu::RunOutcome {
    let images = images();
    let name = toml.file_stem().and_then(|n| n.to_str()).expect("description name");
    let log = images.logs.join(format!("tile-{name}.log"));
    std::fs::create_dir_all(&images.logs).expect("log directory");
    std::fs::write(&log, b"").expect("empty the serial log");
    let mut boot = images.tile_boot(toml.with_extension("archive"));
    if let tileos_qemu::Boot::Kernel { modules, .. } = &mut boot {
        modules[0].cmdline.push_str(words);
    }
    let outcome = run_until(machine, &boot, &log, timeout, &["witness: done"]).unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    for bad in ["KERNEL EXCEPTION", "panic at", "WRONG"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(40));
    }
    outcome
}

/// Checks that every built domain's boot-log memory line (`domain.memory`) gives the figures
/// of the image builder's size table row for it (`--sizes`): built bytes, keeper and
/// everything beyond the segments; and that a minimal domain (an echo client: no heap, a
/// 16 KiB stack, a 16-slot CNode) takes at most 64 KiB beyond its segments.
fn assert_figures_agree(outcome: &tileos_qemu::RunOutcome, rows: &[Row]) {
    let memory = outcome.events("domain.memory");
    assert!(!memory.is_empty(), "no domain.memory line");
    for event in &memory {
        let name = event.get("domain").expect("domain.memory names its domain");
        let row = rows.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no size-table row for {name}"));
        let f = &row.footprint;
        for (key, expected) in [("bytes", f.built()), ("keeper", f.keeper), ("beyond_segments", f.beyond_segments())] {
            assert_eq!(
                event.get(key),
                Some(expected.to_string().as_str()),
                "{key} of {name}: boot log against the size table: {}",
                event.line
            );
        }
    }
    let client = rows.iter().find(|r| r.name == "client-0").expect("client-0's row");
    assert!(client.footprint.beyond_segments() <= 64 * 1024, "a minimal domain takes {:?}", client.footprint);
}

/// Checks that clients `0..built` each answered their three rounds and finished, and that
/// every built domain's memory (`domains` of them) was used exactly as computed; events are
/// read once (a thousand clients).
fn assert_answered(outcome: &tileos_qemu::RunOutcome, built: usize, domains: usize) {
    let answered: HashSet<String> = outcome
        .events("echo.round")
        .iter()
        .filter(|e| e.has(&[("round", "3"), ("answer", "4"), ("verdict", "ok")]))
        .filter_map(|e| e.get("client").map(String::from))
        .collect();
    let done: HashSet<&str> =
        outcome.serial.lines().filter_map(|l| l.trim_end().strip_suffix(": done")).map(|l| l.rsplit(' ').next().unwrap_or(l)).collect();
    for i in 0..built {
        let client = format!("client-{i}");
        assert!(answered.contains(&client), "{client} did not answer its third round:\n{}", outcome.tail(40));
        assert!(done.contains(client.as_str()), "{client} did not finish:\n{}", outcome.tail(40));
    }
    let memory = outcome.events("domain.memory");
    assert_eq!(memory.len(), domains, "one memory line per built domain");
    for event in &memory {
        assert_eq!(event.get("bytes"), event.get("used"), "memory not used as computed: {}", event.line);
    }
}

#[test]
fn domains_that_do_not_fit_are_named_and_the_others_answer() {
    let text = description(CLIENTS);
    let (toml, _) = archive("many-clients", &text);
    let machine = Machine { memory_mib: MEMORY_MIB, ..Machine::default() };
    let outcome = boot(&toml, &machine, TIMEOUT);
    // Admission goes in description order: the refused are the last clients, the first of
    // them named with what it needs and what was left.
    let refused: Vec<String> = outcome.events("domain.refused").iter().filter_map(|e| e.get("domain").map(String::from)).collect();
    assert!(!refused.is_empty(), "every domain fit in {MEMORY_MIB} MiB:\n{}", outcome.tail(40));
    let first = refused[0].strip_prefix("client-").and_then(|n| n.parse::<usize>().ok()).expect("a client is refused first");
    let expected: Vec<String> = (first..CLIENTS).map(|i| format!("client-{i}")).collect();
    assert_eq!(refused, expected, "the refused are not the last clients");
    let line = outcome.serial.lines().find(|l| l.contains(&format!("domain \"client-{first}\" does not fit"))).expect("the refusal line");
    assert!(line.contains("no memory for it: it needs") && line.contains("KiB of RAM are left"), "{line}");
    outcome.assert_serial_contains(&format!("rootserver: domain \"client-{first}\" not started: no memory for it"));
    // Every client built answered its three rounds and its badge check; the boot log's
    // figures: each built domain's memory, all of it used as computed.
    assert_answered(&outcome, first, 3 + first);
    outcome.assert_event("tile.memory", &[("domains", &(3 + first).to_string()), ("refused", &(CLIENTS - first).to_string())]);

    // Told the machine's RAM, the image builder refuses the description before it boots,
    // naming the total, the RAM and the largest consumers.
    let programs = Programs { overrides: Vec::new(), dirs: vec![program_dir()] };
    let error = match tileos_imagebuild::build_for(&toml, &programs, Some(u64::from(MEMORY_MIB) << 20)) {
        Ok(archive) => panic!("the builder accepted it ({} bytes)", archive.len()),
        Err(error) => error.to_string(),
    };
    assert!(error.contains(&format!("the {} domains need", CLIENTS + 3)) && error.contains("largest: \""), "{error}");
    assert!(error.contains(&format!("the tile's {} KiB", MEMORY_MIB * 1024)), "{error}");
}

/// Checks that the refused domains, for `budget` (`domain.refused`), are the last clients of
/// `clients`, that the first of them is named with `reason` in its refusal and in its build's
/// failure, and that every client built answered; returns how many clients were built.
fn assert_refused_last(outcome: &tileos_qemu::RunOutcome, clients: usize, budget: &str, reason: &str) -> usize {
    let events = outcome.events("domain.refused");
    let refused: Vec<String> = events.iter().filter_map(|e| e.get("domain").map(String::from)).collect();
    assert!(!refused.is_empty(), "every domain fit:\n{}", outcome.tail(40));
    let first = refused[0].strip_prefix("client-").and_then(|n| n.parse::<usize>().ok()).expect("a client is refused first");
    assert!(first > 0, "no client fit:\n{}", outcome.tail(40));
    let expected: Vec<String> = (first..clients).map(|i| format!("client-{i}")).collect();
    assert_eq!(refused, expected, "the refused are not the last clients");
    assert!(events.iter().all(|e| e.get("budget") == Some(budget)), "refused for something else than {budget}");
    let line = outcome.serial.lines().find(|l| l.contains(&format!("domain \"client-{first}\" does not fit"))).expect("the refusal line");
    assert!(line.contains(reason), "{line}");
    outcome.assert_serial_contains(&format!("rootserver: domain \"client-{first}\" not started: {reason}"));
    assert_answered(outcome, first, 3 + first);
    first
}

#[test]
fn domains_the_root_servers_heap_cannot_hold_are_named_and_the_others_answer() {
    // The same 153 domains on the dev machine's RAM, which holds them all, with admission
    // told to count on 267 KiB of the root server's heap (`admit_heap_kib=`): about 105 KiB
    // are in use when it decides, it keeps back 128 KiB and 16 bytes per domain, and each
    // client's records take 344 bytes: about 100 fit.
    let (toml, _) = archive("heap-clients", &description(CLIENTS));
    let outcome = boot_with(&toml, &Machine::default(), TIMEOUT, " admit_heap_kib=267");
    assert_refused_last(&outcome, CLIENTS, "heap", "no root-server heap for it: its records need");
    // What admission charged covers what the admitted domains' records then took.
    let admitted = &outcome.events("tile.admitted")[0];
    let field = |event: &tileos_qemu::Event, key: &str| event.get(key).and_then(|v| v.parse::<u64>().ok()).expect(key);
    let memory = &outcome.events("tile.memory")[0];
    let grew = (field(memory, "heap_used_kib") * 1024).saturating_sub(field(admitted, "heap_used"));
    assert!(grew <= field(admitted, "heap_charged"), "the records took {grew} bytes, admission charged {}", admitted.line);
}

#[test]
fn domains_beyond_the_address_spaces_are_named_and_the_others_answer() {
    // 43 domains, admission told that domains have 20 address spaces
    // (`admit_address_spaces=`; the kernel's 4,094 take a 4,095-domain boot of minutes):
    // the console, the server, the witness and 17 clients are built.
    let clients = 40;
    let (toml, _) = archive("asid-clients", &description(clients));
    let outcome = boot_with(&toml, &Machine::default(), TIMEOUT, " admit_address_spaces=20");
    let built = assert_refused_last(&outcome, clients, "address-spaces", "no address space for it: the kernel has 20 for domains");
    assert_eq!(built, 17);
}

#[test]
fn a_thousand_domains_boot_in_the_ram_the_builder_computes_and_all_answer() {
    let clients = THOUSAND - 3;
    let (toml, ram, rows) = generated::sized_archive("thousand-domains", &description(clients)).unwrap_or_else(|error| panic!("{error}"));
    let memory_mib = u32::try_from(ram >> 20).expect("RAM in MiB");
    let machine = Machine { memory_mib, ..Machine::default() };
    let started = std::time::Instant::now();
    let outcome = boot(&toml, &machine, THOUSAND_TIMEOUT);
    eprintln!("{THOUSAND} domains in {memory_mib} MiB: witness done after {:.1} s", started.elapsed().as_secs_f64());
    assert!(outcome.events("domain.refused").is_empty(), "a domain was refused in {memory_mib} MiB:\n{}", outcome.tail(40));
    assert_answered(&outcome, clients, THOUSAND);
    assert_figures_agree(&outcome, &rows);
    outcome.assert_event("tile.memory", &[("domains", &THOUSAND.to_string()), ("refused", "0")]);
    // Dropping the boot authority still works with every domain's objects in its keeper.
    outcome.assert_event("tile.boot-done", &[("still_working", "0")]);
}

/// The most echo clients whose description the image builder fits in `ram_mib` MiB
/// (`Sized::ram_needed`), by bisection; with its archive and size table.
fn largest_fitting(ram_mib: u64) -> (usize, PathBuf, Vec<Row>) {
    let fits = |clients: usize| {
        let (toml, ram, rows) = generated::sized_archive("largest-tile", &description(clients)).unwrap_or_else(|error| panic!("{error}"));
        (ram <= ram_mib << 20).then_some((toml, rows))
    };
    let (mut low, mut high) = (1, 16_384);
    while high - low > 1 {
        let middle = (low + high) / 2;
        if fits(middle).is_some() { low = middle } else { high = middle }
    }
    let (toml, rows) = fits(low).expect("one client fits");
    (low, toml, rows)
}

#[test]
#[ignore = "boots about 2,470 domains under -icount: a minute or two; run by make domains"]
fn the_most_domains_the_builder_fits_in_the_ram_boot_and_all_answer() {
    let ram_mib: u64 = std::env::var("TILEOS_DOMAINS_RAM_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let (clients, toml, rows) = largest_fitting(ram_mib);
    let domains = clients + 3;
    eprintln!("the image builder fits {domains} domains ({clients} echo clients) in {ram_mib} MiB; booting them under -icount");
    let machine = Machine { memory_mib: ram_mib as u32, icount: true, ..Machine::default() };
    let started = std::time::Instant::now();
    let outcome = boot(&toml, &machine, Duration::from_secs(1800));
    let refused = outcome.events("domain.refused");
    assert!(refused.is_empty(), "{} domains refused in {ram_mib} MiB, the first: {}", refused.len(), refused[0].line);
    assert_answered(&outcome, clients, domains);
    assert_figures_agree(&outcome, &rows);
    let ready = outcome.events("tile.supervising");
    let ready = ready.first().expect("a tile.supervising line");
    eprintln!(
        "{domains} domains in {ram_mib} MiB: all answered; boot to ready {} instructions ({} in the root server); witness done after {:.1} s; {}",
        ready.get("ready_ticks").unwrap_or("?"),
        ready.get("rootserver_ticks").unwrap_or("?"),
        started.elapsed().as_secs_f64(),
        outcome.events("tile.memory").first().map_or("", |e| e.line.as_str())
    );
}
