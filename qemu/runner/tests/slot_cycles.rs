//! A thousand promotions and rollbacks under a steady client load on a booted tile
//! (scenario `tests/scenarios/slot-cycles.toml`): the host installs checksum-fast, promotes
//! it by force as soon as it shadows (state transfer from the incumbent), and rolls it back
//! (the warm incumbent serves again), `TILEOS_SLOT_CYCLES` times (1,000 unless set), while
//! checksum-client calls the slot in a loop and checks every answer against its own running
//! state.
//!
//! What is counted: a request lost at a switch would leave the client blocked in its call
//! for good (its rounds would stop); a request applied twice, or a state transferred
//! without one, would make every later answer of the stream wrong (the client checks each
//! against its own state); an error answer is counted by the client. So: the client's
//! rounds go on after the last cycle, with 0 wrong answers and 0 errors in every round, and
//! the slot counts exactly one promotion and one rollback per cycle.

use std::time::{Duration, Instant};

use tileos_qemu::host::{self, boot_and_drive, install_bundle, installed_module};
use tileos_tilectl::Command as Tilectl;
use tileos_tilectl_wire::PORT;

const SLOT: &str = "checksum";

/// Cycles to run: `TILEOS_SLOT_CYCLES`, 1,000 by default.
fn cycles() -> u32 {
    std::env::var("TILEOS_SLOT_CYCLES").ok().and_then(|value| value.parse().ok()).unwrap_or(1000)
}

fn tilectl(port: u16, command: Tilectl) -> Result<String, String> {
    host::tilectl(port, command, Duration::from_secs(30))
}

/// The client's `checksum.round` lines in `serial`.
fn rounds(serial: &str) -> Vec<&str> {
    // Whole lines only: QEMU may have been stopped, or the log read, in the middle of one.
    let whole = serial.rfind('\n').map_or("", |end| &serial[..end]);
    whole.lines().filter(|line| line.starts_with("@event checksum.round ")).collect()
}

/// One cycle: install, forced promotion once it shadows, rollback.
fn cycle(port: u16) -> Result<(), String> {
    let module = installed_module(&install_bundle(port, SLOT, "checksum-fast")?)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match tilectl(port, Tilectl::Promote { slot: SLOT.into(), module, force: true }) {
            Ok(output) if output.contains(&format!("module {module} promoted")) => break,
            Err(failure) if failure.contains("NotShadowing(Installed)") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            other => return Err(format!("promotion of module {module}: {other:?}")),
        }
    }
    let rolled = tilectl(port, Tilectl::Rollback { slot: SLOT.into() })?;
    if !rolled.contains("module 0 serves again") {
        return Err(format!("rollback after module {module}: {rolled}"));
    }
    Ok(())
}

/// The host's side: every cycle, then two more client rounds; the slot's status at the end,
/// the client's rounds after the last cycle and how long the cycles took.
fn drive(port: u16, serial: &std::path::Path, cycles: u32) -> Result<(String, Vec<String>, Duration), String> {
    let started = Instant::now();
    for n in 1..=cycles {
        cycle(port).map_err(|failure| format!("cycle {n}: {failure}"))?;
        if n % 100 == 0 {
            eprintln!("slot_cycles: {n} of {cycles} cycles ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    let took = started.elapsed();
    let after = std::fs::read_to_string(serial).map(|text| text.len()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(serial).unwrap_or_default();
        let later: Vec<String> = rounds(text.get(after..).unwrap_or("")).into_iter().map(str::to_owned).collect();
        if later.len() >= 2 {
            return Ok((tilectl(port, Tilectl::Status)?, later, took));
        }
        if Instant::now() > deadline {
            return Err("the client's rounds stopped after the last cycle: a request was lost".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_thousand_promotions_and_rollbacks_under_load_lose_and_duplicate_nothing() {
    assert!(host::bundles_dir().join("checksum-fast.bundle").is_file(), "no bundles: run `make bundles` (make test does)");
    let cycles = cycles();
    let ready = &["update-agent: ready", "slot checksum: serving"];
    let timeout = Duration::from_secs(120 + u64::from(cycles) * 2);
    let (outcome, (status, after_last, took)) =
        boot_and_drive("slot-cycles", "tile-slot-cycles.log", Vec::new(), PORT, ready, timeout, move |port, serial| {
            drive(port, serial, cycles)
        });
    for bad in ["KERNEL EXCEPTION", "panic at", "panicked"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    for round in rounds(&outcome.serial).iter().chain(after_last.iter().map(String::as_str).collect::<Vec<_>>().iter()) {
        let fields: Vec<&str> = round.split_whitespace().collect();
        assert!(fields.contains(&"wrong=0") && fields.contains(&"errors=0"), "the client saw a wrong answer or an error: {round}");
    }
    let expected = format!("promoted {cycles}, rolled back {cycles};");
    assert!(status.contains(&expected), "the slot did not count {cycles} promotions and rollbacks:\n{status}");
    let last = after_last.last().map(String::as_str).unwrap_or_default();
    let requests = last.split_whitespace().find_map(|word| word.strip_prefix("n=")).unwrap_or("?");
    eprintln!(
        "slot_cycles: {cycles} promote/rollback cycles in {:.1} s; the client's {requests} requests: 0 lost, 0 answered twice or \
         applied twice, 0 wrong, 0 errors",
        took.as_secs_f64()
    );
}
