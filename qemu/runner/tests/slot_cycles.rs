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
//!
//! `tilectl log --verify` checks the whole update log at 70 % of the cycles and after the
//! last (three entries a cycle: 3,000 after 1,000 cycles; every entry's inclusion proof
//! against the signed head, and at the end the consistency proof from the head verified at
//! 70 %), and the
//! test prints the longest update-log hashing step (`slot.deferred … hashing=1`) at a log of
//! 2,000 entries or more and the manager's longest log reads (`slot.log-read`: the head and
//! the proofs). With `TILEOS_SLOT_ICOUNT` set the machine counts guest instructions (the
//! TSC advances one tick per instruction), so those figures are instructions (`slots28`).

use std::time::{Duration, Instant};

use tileos_qemu::host::{self, boot_and_drive_on, install_bundle, installed_module};
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

/// The `ticks=` of `line`, and its `size=`.
fn ticks_and_size(line: &str) -> Option<(u64, u64)> {
    let field = |name: &str| line.split_whitespace().find_map(|word| word.strip_prefix(name)).and_then(|v| v.parse().ok());
    Some((field("ticks=")?, field("size=")?))
}

/// The longest `ticks=` of the lines starting with `marker` (and containing `with`) whose
/// `size=` is at least `from`, with that size; and how many there were.
fn longest(serial: &str, marker: &str, with: &str, from: u64) -> (Option<(u64, u64)>, usize) {
    let found: Vec<(u64, u64)> = serial
        .lines()
        .filter(|l| l.starts_with(marker) && l.contains(with))
        .filter_map(ticks_and_size)
        .filter(|(_, s)| *s >= from)
        .collect();
    (found.iter().copied().max(), found.len())
}

/// `tilectl log --verify` with the test's own state file (not the user's `~/.tileos`):
/// the first line of its output, checked to say the signature verified.
fn verify_log(port: u16, state: &std::path::Path) -> Result<String, String> {
    let command = Tilectl::Log { slot: SLOT.into(), verify: true, log_key: None, state: Some(state.to_owned()) };
    let log = host::tilectl(port, command, Duration::from_secs(600)).map_err(|failure| format!("tilectl log --verify: {failure}"))?;
    let first = log.lines().next().unwrap_or_default().to_owned();
    if !first.contains("(signature verified)") {
        return Err(format!("tilectl log --verify: {first}"));
    }
    let consistency = log.lines().find(|line| line.starts_with("consistency:")).unwrap_or("consistency: (no line)");
    eprintln!("slot_cycles: {first}; {consistency}");
    Ok(first)
}

/// The host's side: every cycle (the log verified at 70 % of them), then two more client
/// rounds, then the update log verified again; the slot's status at the end, the client's
/// rounds after the last cycle and how long the cycles took (without the verification).
fn drive(port: u16, serial: &std::path::Path, cycles: u32) -> Result<(String, Vec<String>, Duration), String> {
    let state = serial.with_file_name("slot-cycles-heads.json");
    let _ = std::fs::remove_file(&state);
    let started = Instant::now();
    let mut verifying = Duration::ZERO;
    for n in 1..=cycles {
        cycle(port).map_err(|failure| format!("cycle {n}: {failure}"))?;
        if n == cycles * 7 / 10 {
            let at = Instant::now();
            verify_log(port, &state)?;
            verifying += at.elapsed();
        }
        if n % 100 == 0 {
            eprintln!("slot_cycles: {n} of {cycles} cycles ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    let took = started.elapsed() - verifying;
    let after = std::fs::read_to_string(serial).map(|text| text.len()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(serial).unwrap_or_default();
        let later: Vec<String> = rounds(text.get(after..).unwrap_or("")).into_iter().map(str::to_owned).collect();
        if later.len() >= 2 {
            let status = tilectl(port, Tilectl::Status)?;
            verify_log(port, &state)?;
            return Ok((status, later, took));
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
    let icount = std::env::var_os("TILEOS_SLOT_ICOUNT").is_some();
    let timeout = Duration::from_secs(if icount { 1200 } else { 300 } + u64::from(cycles) * if icount { 4 } else { 2 });
    let (outcome, (status, after_last, took)) =
        boot_and_drive_on(icount, "slot-cycles", "tile-slot-cycles.log", Vec::new(), PORT, ready, timeout, move |port, serial| {
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
    let unit = if icount { "instructions" } else { "TSC ticks (not -icount)" };
    let (hashing, steps) = longest(&outcome.serial, "@event slot.deferred ", "hashing=1", 2000);
    eprintln!(
        "slot_cycles: update-log hashing steps at a log of >= 2,000 entries: {steps}, the longest {hashing:?} ((ticks, size) in {unit})"
    );
    // The hashing itself, timed by the manager around it (`slot.log-hashed … ticks=`): in a
    // step (at most two hashes) and in a control request (everything pending).
    let (step_hash, _) = longest(&outcome.serial, "@event slot.log-hashed ", " units=2 ", 2000);
    let (all_hash, hashings) = longest(&outcome.serial, "@event slot.log-hashed ", " units=", 2000);
    eprintln!(
        "slot_cycles: the hashing itself at >= 2,000 entries: {hashings} calls, the longest of two units {step_hash:?}, of any {all_hash:?} ((ticks, size) in {unit})"
    );
    for kind in ["head", "inclusion", "consistency"] {
        let (read, reads) = longest(&outcome.serial, "@event slot.log-read ", &format!("kind={kind} "), 2000);
        eprintln!("slot_cycles: log reads ({kind}) at >= 2,000 entries: {reads}, the longest {read:?} ((ticks, size) in {unit})");
    }
    eprintln!(
        "slot_cycles: {cycles} promote/rollback cycles in {:.1} s; the client's {requests} requests: 0 lost, 0 answered twice or \
         applied twice, 0 wrong, 0 errors",
        took.as_secs_f64()
    );
}
