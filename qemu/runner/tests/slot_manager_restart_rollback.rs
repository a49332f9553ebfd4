//! The slot manager killed in the middle of a rollback by hand on a booted tile (scenario
//! `tests/scenarios/slot-manager-restart-rollback.toml`: the demo slot with its update log
//! on the store, the checking client load, the test incumbent `checksum-import-hook` and the
//! fault-injection domain `chaos-checksum.manager`).
//!
//! The host installs checksum-fast (module 1), promotes it by force as soon as it shadows,
//! lets the client run a second, then rolls back by hand. The incumbent, warm after the
//! switch, holds each request until it has run 25 ms with no break over 40 ms, which the
//! challengers' schedule it gets after the switch never gives: it is behind by construction
//! (its copies skipped into the journal). The rollback by hand's steps (docs/slots.md, "A
//! rollback by hand"): the operator's request, the entry (persisted), the catch-up (the warm
//! module gets the serving schedule, finishes the copy it held and imports the promoted
//! module's state), then the rollback. The incumbent signals "chaos" at the start of its
//! first import, and the chaos domain, above it and the manager by priority, has the
//! supervisor kill and restart the manager at once: the kill is deterministic, after the
//! entry and the catch-up's start, before the import is answered, so before the rollback.
//!
//! Checked, so that each check fails if the behaviour broke:
//! - the kill landed mid-rollback: the root server's line for the catch-up's raise of the
//!   warm incumbent to the serving schedule, then the incumbent's `import 1` line, come
//!   after the host sent the rollback and before the supervisor's `Restarted`; before it no
//!   line of the rollback's end (`slot.rollback-stall`, the `ManualRollback` transitions, a
//!   rollback past the bound without the catch-up: the manager queues its lines while a
//!   rollback is under way, and those died with it); the operator was never answered
//!   `rolled back`; the log holds the rollback's entry (so the kill came after its step)
//!   followed directly by the restart's `ManagerStarted`;
//! - the restarted manager (generation 1) serves the incumbent, module 0, which is what the
//!   log's last word before the restart says: `tilectl status` shows `module 0 serving` and
//!   no module 1 (its seat was stopped, `slot.seat-reclaimed`);
//! - the incumbent serves with a state that holds every acknowledged request: the catch-up
//!   import it finishes after the kill is of a state the promoted module exported at the
//!   catch-up (docs/slots.md, "The manager restarted mid-rollback on a booted tile"); the
//!   client checks every answer against its own model, so a request lost from the state
//!   (or applied twice) makes its stream's later answers wrong: every round `wrong=0`;
//! - `tilectl log --verify`: install, promote, rollback, manager-started (generation 1, 3
//!   entries reloaded), signature verified;
//! - the client's rounds go on after the restart, and errors (calls that failed: one call
//!   at a time, so at most the one in flight at the kill) at most 1.

use std::path::Path;
use std::time::{Duration, Instant};

use tileos_qemu::host::{self, boot_and_drive, install_bundle, installed_module, position};
use tileos_qemu::images::test_images;
use tileos_tilectl::Command as Tilectl;
use tileos_tilectl_wire::PORT;

const TIMEOUT: Duration = Duration::from_secs(300);
const SLOT: &str = "checksum";
/// The incumbent's line at its first import (`checksum_import_hook.rs`).
const IMPORT_HOOK: &str = "checksum: import 1: signalling \"chaos\"";
/// The chaos domain's line once the supervisor restarted the manager.
const RESTARTED: &str = "chaos-checksum.manager: supervisor answered Restarted";
/// The restarted manager's line (glue `slot-manager`): install, promote, rollback, and its
/// own `ManagerStarted`.
const SERVING_AGAIN: &str = "slot-manager: slot checksum: serving, log of 4 entries (generation 1)";
/// The root server's line as the catch-up gives the warm incumbent the serving schedule
/// (written at once; the manager's own lines are queued while a rollback is under way and
/// die with it).
const RAISED: &str = "@event seat.scheduled slot=checksum seat=0 schedule=serving ";

/// Waits until `serial` from byte `from` on has `count` whole client rounds.
fn wait_rounds(serial: &Path, from: usize, count: usize, seconds: u64) -> Result<(), String> {
    host::wait_for_lines(serial, from, "@event checksum.round ", count, seconds).map_err(|e| format!("the client's rounds stopped ({e})"))
}

/// What the host saw.
struct Seen {
    /// tilectl's answer to the promotion.
    promote: String,
    /// The serial log's length when the rollback was sent.
    rollback_sent: usize,
    /// tilectl's answer to the rollback (an error expected).
    rollback: Result<String, String>,
    /// `tilectl status` after the restart.
    status: String,
    /// `tilectl log --verify`.
    log: String,
    /// The serial log's length after everything (client rounds after it must appear).
    end: usize,
}

fn drive(port: u16, serial: &Path) -> Result<Seen, String> {
    let module = installed_module(&install_bundle(port, SLOT, "checksum-fast")?)?;
    // Promoted by force as soon as it shadows (as slot_manager_restart does).
    let deadline = Instant::now() + Duration::from_secs(30);
    let promote = loop {
        match host::tilectl(port, Tilectl::Promote { slot: SLOT.into(), module, force: true }, Duration::from_secs(30)) {
            Err(failure) if failure.contains("NotShadowing(Installed)") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            other => break other?,
        }
    };
    // The warm incumbent holds the copies it is sent: a second of the client's load puts it
    // well past `queue_limit` (32) behind.
    std::thread::sleep(Duration::from_secs(1));
    let rollback_sent = host::serial_text(serial).len();
    let rollback = host::tilectl(port, Tilectl::Rollback { slot: SLOT.into() }, Duration::from_secs(30));
    let after_restart = host::wait_for_text(serial, 0, "(generation 1)", 60)?;
    // The client's calls go on after the restart: two rounds.
    wait_rounds(serial, after_restart, 2, 60)?;
    let status = host::tilectl(port, Tilectl::Status, Duration::from_secs(30))?;
    let state = serial.with_file_name("slot-manager-restart-rollback-heads.json");
    let _ = std::fs::remove_file(&state);
    let log =
        host::tilectl(port, Tilectl::Log { slot: SLOT.into(), verify: true, log_key: None, state: Some(state) }, Duration::from_secs(60))
            .map_err(|failure| format!("tilectl log --verify: {failure}"))?;
    let end = host::serial_text(serial).len();
    wait_rounds(serial, end, 1, 60)?;
    Ok(Seen { promote, rollback_sent, rollback, status, log, end })
}

#[test]
fn a_manager_killed_mid_rollback_restarts_serving_its_incumbent_with_every_acknowledged_request() {
    assert!(host::bundles_dir().join("checksum-fast.bundle").is_file(), "no bundles: run `make bundles` (make test does)");
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    std::fs::create_dir_all(&images.logs).expect("log directory");
    let disk = images.logs.join("slot-manager-restart-rollback-disk.img");
    std::fs::File::create(&disk).and_then(|file| file.set_len(16 << 20)).expect("a fresh disk image");
    let ready = &["update-agent: ready", "slot checksum: serving"];
    let (outcome, seen) = boot_and_drive(
        "slot-manager-restart-rollback",
        "tile-slot-manager-restart-rollback.log",
        tileos_qemu::nvme_disk_args(&disk),
        PORT,
        ready,
        TIMEOUT,
        drive,
    );
    let serial = &outcome.serial;
    for bad in ["KERNEL EXCEPTION", "panic at", "panicked", "FAIL:"] {
        assert!(!serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    assert!(seen.promote.contains("promoted"), "the promotion: {}", seen.promote);

    // The kill landed mid-rollback: after the catch-up gave the warm incumbent the serving
    // schedule, at the incumbent's first import, before the rollback was made (its end, the
    // `slot.rollback-stall` line, would have written the manager's queued lines).
    let raised = seen.rollback_sent + position(serial.get(seen.rollback_sent..).unwrap_or(""), RAISED);
    let hook = position(serial, IMPORT_HOOK);
    let restarted = position(serial, RESTARTED);
    let serving_again = position(serial, SERVING_AGAIN);
    assert!(
        raised < hook && hook < restarted && restarted < serving_again,
        "rollback sent at {}, warm module raised at {raised}, import hook at {hook}, restart at {restarted}, generation 1 serving at {serving_again}",
        seen.rollback_sent
    );
    let before_kill = serial.get(..restarted).unwrap_or("");
    for made in ["@event slot.rollback-stall ", "reason=ManualRollback", "catch-up did not complete"] {
        assert!(!before_kill.contains(made), "the rollback was made before the kill ({made:?}):\n{}", outcome.tail(60));
    }
    assert_eq!(serial.matches("import 1: signalling").count(), 1, "one hooked import");
    assert!(
        !matches!(&seen.rollback, Ok(answer) if answer.contains("rolled back")),
        "the operator was answered as if the rollback had been made: {:?}",
        seen.rollback
    );
    // The log: the install, the promotion, the rollback's entry (the kill came after its
    // step), the restart's entry right after it (nothing withdrawn in between).
    assert!(seen.log.contains("update log of 4 entries") && seen.log.contains("(signature verified)"), "{}", seen.log);
    let entries: Vec<&str> = seen.log.lines().skip(1).collect();
    assert!(entries.first().is_some_and(|e| e.contains(" install ") && e.contains("installed as module 1")), "{}", seen.log);
    assert!(entries.get(1).is_some_and(|e| e.contains(" promote ")), "no promotion entry:\n{}", seen.log);
    assert!(
        entries.get(2).is_some_and(|e| e.contains(" rollback ") && e.contains("rolled back by hand")),
        "no rollback entry:\n{}",
        seen.log
    );
    assert!(
        entries.get(3).is_some_and(|e| e.contains(" manager-started ") && e.contains("generation 1, 3 entries reloaded")),
        "no ManagerStarted entry right after the rollback's:\n{}",
        seen.log
    );

    // The restarted manager serves the incumbent; the promoted module's seat was stopped.
    let slot_line = seen.status.lines().find(|l| l.starts_with("slot checksum:")).unwrap_or_default();
    assert!(slot_line.contains("module 0 serving"), "{}", seen.status);
    assert!(!seen.status.contains("\n  module 1 "), "module 1 outlived the restart:\n{}", seen.status);
    let reclaimed = position(serial, "@event slot.seat-reclaimed slot=checksum seat=1 ");
    assert!(restarted < reclaimed && reclaimed < serving_again, "seat 1 was not reclaimed as the restarted manager started");

    // The client load: no wrong answer ever (no acknowledged request lost from the state
    // the incumbent serves with, none applied twice); at most the one call in flight at the
    // kill failed; its rounds go on to the end.
    let client = host::whole_lines_with(serial, "@event checksum.round ");
    assert!(
        !host::whole_lines_with(serial.get(seen.end..).unwrap_or(""), "@event checksum.round ").is_empty(),
        "the client's rounds stopped"
    );
    for round in &client {
        assert_eq!(host::event_field(round, "wrong"), Some("0"), "the client saw a wrong answer: {round}");
    }
    assert!(!serial.contains("@event checksum.wrong "), "a wrong answer:\n{}", outcome.tail(60));
    let errors: u64 = client.last().and_then(|r| host::event_field(r, "errors")).and_then(|e| e.parse().ok()).unwrap_or(u64::MAX);
    assert!(errors <= 1, "{errors} failed client calls (the client has one call at a time)");
    let requests = client.last().and_then(|r| host::event_field(r, "n")).unwrap_or("?");
    eprintln!(
        "slot_manager_restart_rollback: rollback answered {:?}; {} client rounds, {requests} requests, {errors} failed",
        seen.rollback,
        client.len()
    );
    eprintln!("slot_manager_restart_rollback: the verified log:\n{}", seen.log);
}
