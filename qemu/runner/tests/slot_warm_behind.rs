//! A fault rollback while the warm module is behind, on a booted tile (scenario
//! `tests/scenarios/slot-warm-behind.toml`: the demo slot with a 4 s rollback window and no
//! latency judgement by the breaker), `checksum-client` calling the slot in a steady loop
//! and checking every answer:
//!
//! 0. `checksum-crash` shadows as a challenger: it faults on its 51st copy, is rebuilt
//!    (since `slots30` in steps: `@event slot.rebuild-steps`, one root-server call a step,
//!    its `SeatStart` last; the whole timed by `@event slot.seat-rebuilt … program=staged …
//!    micros=`), faults again and is rejected
//!    (`max_faults = 1`);
//! 1. `checksum-slow` (right answers, three hundred times the work) is forced in as soon as
//!    it shadows, and settles when the window elapses (`checksum-v1` retires);
//! 2. `checksum-crash` (faults on its 51st request, mirrored copies included) is forced in
//!    as soon as it shadows: the warm module is now `checksum-slow`, at a challenger's
//!    schedule, and falls behind the client's requests (its copies skipped past
//!    `queue_limit`, journaled);
//! 3. `checksum-crash` faults; the circuit breaker restores `checksum-slow`, which replays
//!    its journal before it serves (`@event slot.replay`) and compares each replay with the
//!    answer the client got. Whether `checksum-slow` is behind at that fault depends on how
//!    many of `checksum-crash`'s requests came before the host's promotion landed (timing):
//!    when it replayed nothing, steps 2–3 are done again, up to three times.
//!
//! The test requires the rollback to be the breaker's on a fault, with a replay (the warm
//! module was behind), no replay that disagrees, and every client round after it
//! `wrong=0 errors=0` (at least two after the rollback): every request answered once, and
//! right.

use std::path::Path;
use std::time::{Duration, Instant};

use tileos_qemu::host::{self, boot_and_drive_on, install_bundle, installed_module};
use tileos_tilectl::Command as Tilectl;
use tileos_tilectl_wire::PORT;

const TIMEOUT: Duration = Duration::from_secs(300);
/// Times checksum-crash is forced in to find the warm module behind at its fault.
const CRASH_ATTEMPTS: u32 = 3;
const SLOT: &str = "checksum";

fn tilectl(port: u16, command: Tilectl) -> Result<String, String> {
    host::tilectl(port, command, Duration::from_secs(30))
}

/// Polls tilectl status every 200 ms until `done` holds for it (or the deadline): the last
/// status.
fn wait_status(port: u16, what: &str, seconds: u64, done: impl Fn(&str) -> bool) -> Result<String, String> {
    host::wait_status(port, what, seconds, Duration::from_millis(200), done)
}

/// Installs `bundle` and forces it in as soon as it shadows; its module number.
fn force_in(port: u16, bundle: &str) -> Result<u32, String> {
    let module = installed_module(&install_bundle(port, SLOT, bundle)?)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match tilectl(port, Tilectl::Promote { slot: SLOT.into(), module, force: true }) {
            Err(failure) if failure.contains("NotShadowing(Installed)") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => {
                other.map_err(|failure| format!("forcing {bundle} (module {module}) in: {failure}"))?;
                return Ok(module);
            }
        }
    }
}

/// Client rounds in the serial log after its first line containing `mark`.
fn rounds_after(serial: &Path, mark: &str) -> usize {
    let text = std::fs::read_to_string(serial).unwrap_or_default();
    let Some(at) = text.find(mark) else { return 0 };
    text[at..].lines().filter(|line| line.contains("@event checksum.round")).count()
}

/// The host's side; returns the final status.
fn drive(port: u16, serial: &Path) -> Result<String, String> {
    let crash = installed_module(&install_bundle(port, SLOT, "checksum-crash")?)?;
    wait_status(port, "checksum-crash rejected after its second fault", 120, |status| {
        !status.contains(&format!("  module {crash:<3} ")) && status.contains("rejected 1")
    })?;
    let slow = force_in(port, "checksum-slow")?;
    // Settled when the window elapses: checksum-v1 (module 0) retires and leaves the list.
    wait_status(port, "checksum-slow settled", 60, |status| {
        status.contains(&format!("module {slow} serving")) && status.contains("settled") && !status.contains("  module 0 ")
    })?;
    // checksum-crash forced in, and rolled back by the breaker at its fault, until the warm
    // checksum-slow was behind at that fault (it replays): how many of checksum-crash's 50
    // requests come after its promotion, rather than as copies while it shadowed before the
    // host's promotion landed, is a matter of timing; at most `CRASH_ATTEMPTS` times.
    for attempt in 1..=CRASH_ATTEMPTS {
        let from = host::serial_text(serial).len();
        let crash = force_in(port, "checksum-crash")?;
        // The breaker's rollback to checksum-slow.
        wait_status(port, "checksum-crash rolled back", 60, |status| {
            status.contains(&format!("module {slow} serving")) && !status.contains(&format!("  module {crash:<3} "))
        })?;
        // The replay, if any, is written with the rollback's lines.
        let deadline = Instant::now() + Duration::from_secs(5);
        let replayed = loop {
            let text = host::serial_text(serial);
            let since = text.get(from..).unwrap_or("");
            if since.contains("@event slot.replay slot=checksum") {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        if replayed {
            break;
        }
        eprintln!("slot_warm_behind: attempt {attempt}: checksum-slow was not behind at checksum-crash's fault (no replay)");
    }
    // Two client rounds (of 500 requests) after the rollback: the first spans it.
    let deadline = Instant::now() + Duration::from_secs(150);
    while rounds_after(serial, "reason=CircuitBreaker(Fault)") < 2 {
        if Instant::now() > deadline {
            return Err("fewer than two client rounds within 150 s of the rollback".into());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    tilectl(port, Tilectl::Status)
}

#[test]
fn a_fault_rollback_while_the_warm_module_is_behind_gives_no_client_a_wrong_answer_or_an_error() {
    assert!(
        host::bundles_dir().join("checksum-crash.bundle").is_file(),
        "{} has no bundles: run `make bundles` (make test does)",
        host::bundles_dir().display()
    );
    let ready = &["update-agent: ready", "slot checksum: serving"];
    // With TILEOS_SLOT_ICOUNT set the machine counts instructions (the guest's TSC then
    // advances one tick per instruction), so the rebuild's figure below is in instructions.
    let icount = std::env::var_os("TILEOS_SLOT_ICOUNT").is_some();
    let (outcome, status) =
        boot_and_drive_on(icount, "slot-warm-behind", "tile-slot-warm-behind.log", Vec::new(), PORT, ready, TIMEOUT, |port, serial| {
            drive(port, serial)
        });
    for bad in ["KERNEL EXCEPTION", "panic at"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    let serial = &outcome.serial;
    // The rollback was the breaker's, on the fault.
    let rollback = serial
        .lines()
        .position(|line| line.contains("to=rolled-back reason=CircuitBreaker(Fault)"))
        .unwrap_or_else(|| panic!("no breaker rollback on a fault:\n{}", outcome.tail(80)));
    // The warm module was behind: it replayed its journal (or was brought up to date by an
    // import before, which the line names).
    // The challenger's rebuild after its first fault, timed.
    let rebuilt = serial
        .lines()
        .find(|line| line.contains("@event slot.seat-rebuilt slot=checksum") && line.contains("program=staged"))
        .unwrap_or_else(|| panic!("no staged rebuild of checksum-crash:\n{}", outcome.tail(120)));
    let micros: u64 = rebuilt.rsplit("micros=").next().and_then(|m| m.trim().parse().ok()).expect("micros=");
    assert!(micros > 0, "{rebuilt}");
    // In TSC ticks (instructions under -icount): the TSC's rate from the kernel's line, and
    // the root server's build of the seat's start (`build_ticks`) as part of it.
    let khz: u64 = serial
        .lines()
        .find_map(|line| line.strip_prefix("timer: TSC ")?.split(" kHz").next()?.parse().ok())
        .expect("the kernel's timer line");
    let start = serial
        .lines()
        .find(|line| line.contains("@event domain.started domain=checksum.seat1 ") && line.contains(" generation=1 "))
        .and_then(|line| line.rsplit("build_ticks=").next())
        .unwrap_or("?");
    eprintln!(
        "slot_warm_behind: the rebuild took {micros} us = {} TSC ticks{} (of it the root server's SeatStart build_ticks={start})",
        micros * khz / 1000,
        if icount { ", instructions under -icount" } else { " (wall clock under TCG)" }
    );
    // Since `slots30` the rebuild is staged in steps (one root-server call each, the
    // `SeatStart` last), the manager serving between them.
    let steps_line = serial
        .lines()
        .find(|line| line.contains("@event slot.rebuild-steps slot=checksum"))
        .unwrap_or_else(|| panic!("no rebuild's steps line:\n{}", outcome.tail(120)));
    let field = |name: &str| -> u64 {
        steps_line
            .split_whitespace()
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("{name}= in {steps_line}"))
    };
    let steps = field("steps");
    assert!(steps >= 3, "the rebuild was not staged in steps: {steps_line}");
    assert!(rebuilt.contains(&format!(" steps={steps} ")), "{rebuilt} / {steps_line}");
    eprintln!(
        "slot_warm_behind: the rebuild in {steps} steps, TSC ticks{}: longest staging step {}, the last (SeatStart) {}, all steps {}, first step to last {}",
        if icount { " (instructions under -icount)" } else { " (wall clock under TCG)" },
        field("longest_stage_step"),
        field("last_step"),
        field("work"),
        field("ticks")
    );
    let replay = serial.lines().find(|line| line.contains("@event slot.replay slot=checksum"));
    assert!(replay.is_some(), "the restored module replayed nothing (was the warm module behind?):\n{}", outcome.tail(120));
    assert!(!serial.contains("@event slot.replay-disagreed"), "a replay disagreed with a delivered answer:\n{}", outcome.tail(80));
    assert!(status.contains("replays disagreeing 0"), "{status}");
    // Every client round, before and after, right and without errors; at least two after
    // the rollback.
    let rounds: Vec<(usize, &str)> = serial.lines().enumerate().filter(|(_, line)| line.contains("@event checksum.round")).collect();
    for (_, round) in &rounds {
        let fields: Vec<&str> = round.split_whitespace().collect();
        assert!(fields.contains(&"wrong=0") && fields.contains(&"errors=0"), "the client saw a wrong answer or an error: {round}");
    }
    let after = rounds.iter().filter(|(at, _)| *at > rollback).count();
    assert!(after >= 2, "{after} client rounds after the rollback:\n{}", outcome.tail(60));
    eprintln!("{rebuilt}\n{steps_line}\n{}\n{}", replay.unwrap_or_default(), status);
}
