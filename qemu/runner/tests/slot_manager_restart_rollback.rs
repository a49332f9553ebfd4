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
//!   no module 1; module 1, recorded as the serving seat, still runs at the restart, so the
//!   manager adopts its state into the incumbent (`slot.state-adoption`, then
//!   `slot.state-adopted` once the incumbent imported it and seat 1 was stopped);
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
use std::time::Duration;

use tileos_qemu::host::{self, install_bundle, installed_module, position};
use tileos_tilectl::Command as Tilectl;

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
    let promote = host::promote_by_force_once_shadowing(port, serial, SLOT, module).1?;
    // The warm incumbent holds the copies it is sent: a second of the client's load puts it
    // well past `queue_limit` (32) behind.
    std::thread::sleep(Duration::from_secs(1));
    let rollback_sent = host::serial_text(serial).len();
    let rollback = host::tilectl(port, Tilectl::Rollback { slot: SLOT.into() }, Duration::from_secs(30));
    let after_restart = host::wait_for_text(serial, 0, "(generation 1)", 60)?;
    // The client's calls go on after the restart: two rounds.
    host::wait_client_rounds(serial, after_restart, 2, 60)?;
    let status = host::tilectl(port, Tilectl::Status, Duration::from_secs(30))?;
    let log = host::verify_slot_log(port, serial, SLOT)?;
    let end = host::serial_text(serial).len();
    host::wait_client_rounds(serial, end, 1, 60)?;
    Ok(Seen { promote, rollback_sent, rollback, status, log, end })
}

#[test]
fn a_manager_killed_mid_rollback_restarts_serving_its_incumbent_with_every_acknowledged_request() {
    let (outcome, seen) = host::boot_slot_on_fresh_disk("slot-manager-restart-rollback", TIMEOUT, drive);
    let serial = &outcome.serial;
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
    host::assert_verified_log(
        &seen.log,
        &[
            &[" install ", "installed as module 1"],
            &[" promote "],
            &[" rollback ", "rolled back by hand"],
            &[" manager-started ", "generation 1, 3 entries reloaded"],
        ],
    );

    // The restarted manager serves the incumbent; the promoted module's seat was stopped.
    let slot_line = seen.status.lines().find(|l| l.starts_with("slot checksum:")).unwrap_or_default();
    assert!(slot_line.contains("module 0 serving"), "{}", seen.status);
    assert!(!seen.status.contains("\n  module 1 "), "module 1 outlived the restart:\n{}", seen.status);
    // Module 1 served last (the root server's record): the restarted manager adopts its
    // state into the incumbent, then stops seat 1 (docs/slots.md, "A restarted manager
    // takes the state of the module that served last").
    let adoption = position(serial, "@event slot.state-adoption slot=checksum seat=1\n");
    let adopted = position(serial, "@event slot.state-adopted slot=checksum seat=1 ");
    assert!(
        restarted < adoption && adoption < serving_again && adoption < adopted,
        "the restarted manager did not adopt seat 1's state as it started"
    );
    assert!(!serial.contains("state-adoption-failed"), "{}", outcome.tail(60));

    // The client load: no wrong answer ever (no acknowledged request lost from the state
    // the incumbent serves with, none applied twice); at most the one call in flight at the
    // kill failed; its rounds go on to the end.
    // (The client has one call at a time.)
    let client = host::check_client_rounds(serial, seen.end, 1);
    let (requests, errors) = (client.requests, client.errors);
    eprintln!(
        "slot_manager_restart_rollback: rollback answered {:?}; {} client rounds, {requests} requests, {errors} failed",
        seen.rollback, client.rounds
    );
    eprintln!("slot_manager_restart_rollback: the verified log:\n{}", seen.log);
}
