//! The slot manager killed while a promoted module serves, on a booted tile (scenario
//! `tests/scenarios/slot-manager-restart-promoted.toml`: the demo slot with its update log on
//! the store, the checking client load, the test incumbent `checksum-warm-hook` and the
//! fault-injection domain `chaos-checksum.manager`).
//!
//! The host installs checksum-fast (module 1) and promotes it by force as soon as it
//! shadows. The incumbent, warm after the switch, holds each request until it has run 25 ms
//! with no break over 40 ms, which the challengers' schedule it gets after the switch never
//! gives: it is behind by construction (its copies skipped into the journal, which is the
//! manager's memory). Once it has been warm for 1 s of the client's load (well over the
//! slot's `queue_limit` copies behind) it signals "chaos", and the chaos domain, above it
//! and the manager by priority, has the supervisor kill and restart the manager at once:
//! module 1 serves, no rollback asked. The restarted manager reads the serving seat the root
//! server kept (`ServingSeat`: seat 1, running) and has the incumbent in seat 0 import
//! module 1's state before any client request (`slot.state-adoption`, then
//! `slot.state-adopted`), then serves seat 0.
//!
//! Checked, so that each check fails if the behaviour broke:
//! - the kill came while module 1 served: after the manager's `slot.switch` line, with no
//!   rollback line (`slot.rollback…`, a transition to `rolled-back`) before the supervisor's
//!   `Restarted`; the incumbent signalled once;
//! - `tilectl log --verify`: install, promote, manager-started (generation 1, 2 entries
//!   reloaded), signature verified;
//! - `tilectl status`: module 0 serving, no module 1;
//! - no acknowledged request lost: the client checks every answer against its own model, so
//!   a request missing from the state the incumbent serves with after the restart (all those
//!   module 1 answered since the switch, without the adoption) makes its stream's later
//!   answers wrong: every round `wrong=0`, no `checksum.wrong`; its rounds go on after the
//!   restart; at most one failed call (the one the killed manager held);
//! - the restarted manager's `slot.state-adoption slot=checksum seat=1`, the incumbent's
//!   `import 1`, then `slot.state-adopted slot=checksum seat=1`, after the restart; no
//!   `slot.state-adoption-failed`.
//!
//! Before the manager's adoption (branch `adopt`'s first commit) this test fails at the
//! client's rounds: `wrong` > 0.

use std::path::Path;
use std::time::Duration;

use tileos_qemu::host::{self, install_bundle, installed_module, position};
use tileos_tilectl::Command as Tilectl;

const TIMEOUT: Duration = Duration::from_secs(300);
const SLOT: &str = "checksum";
/// The incumbent's line once warm for a while (`checksum_warm_hook.rs`).
const WARM_HOOK: &str = " ms: signalling \"chaos\"";
/// The chaos domain's line once the supervisor restarted the manager.
const RESTARTED: &str = "chaos-checksum.manager: supervisor answered Restarted";
/// The restarted manager's line (glue `slot-manager`): install, promote, and its own
/// `ManagerStarted`.
const SERVING_AGAIN: &str = "slot-manager: slot checksum: serving, log of 3 entries (generation 1)";
/// The manager's line at the promotion's switch (module 1's first delivered answer).
const SWITCH: &str = "@event slot.switch slot=checksum module=1 ";
/// The restarted manager's lines as it takes seat 1's state into seat 0.
const ADOPTION: &str = "@event slot.state-adoption slot=checksum seat=1";
/// See [`ADOPTION`].
const ADOPTED: &str = "@event slot.state-adopted slot=checksum seat=1 ";
/// The incumbent's line at its first import (the adoption's).
const IMPORTED: &str = "checksum: import 1";

/// What the host saw.
struct Seen {
    /// tilectl's answer to the promotion.
    promote: String,
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
    // The incumbent signals about a second after the switch; the manager restarts.
    let after_restart = host::wait_for_text(serial, 0, "(generation 1)", 90)?;
    // The client's calls go on after the restart: two rounds.
    host::wait_client_rounds(serial, after_restart, 2, 60)?;
    let status = host::tilectl(port, Tilectl::Status, Duration::from_secs(30))?;
    let log = host::verify_slot_log(port, serial, SLOT)?;
    let end = host::serial_text(serial).len();
    host::wait_client_rounds(serial, end, 1, 60)?;
    Ok(Seen { promote, status, log, end })
}

/// The client's rounds' `wrong` counts (cumulative) and the last round's requests.
fn wrong_counts(serial: &str) -> Vec<String> {
    host::whole_lines_with(serial, "@event checksum.round ")
        .iter()
        .filter_map(|round| Some(format!("n={} wrong={}", host::event_field(round, "n")?, host::event_field(round, "wrong")?)))
        .collect()
}

#[test]
fn a_manager_killed_while_a_promoted_module_serves_restarts_with_its_state_in_the_incumbent() {
    let (outcome, seen) = host::boot_slot_on_fresh_disk("slot-manager-restart-promoted", TIMEOUT, drive);
    let serial = &outcome.serial;
    eprintln!("slot_manager_restart_promoted: the client's rounds: {:?}", wrong_counts(serial));
    assert!(seen.promote.contains("promoted"), "the promotion: {}", seen.promote);

    // The kill came while module 1 served: after the switch, at the incumbent's signal, with
    // no rollback before it.
    let switch = position(serial, SWITCH);
    let hook = position(serial, WARM_HOOK);
    let restarted = position(serial, RESTARTED);
    let serving_again = position(serial, SERVING_AGAIN);
    assert!(
        switch < hook && hook < restarted && restarted < serving_again,
        "switch at {switch}, warm hook at {hook}, restart at {restarted}, generation 1 serving at {serving_again}"
    );
    let before_kill = serial.get(..restarted).unwrap_or("");
    for rollback in ["@event slot.rollback", "to=rolled-back", "reason=ManualRollback"] {
        assert!(!before_kill.contains(rollback), "a rollback before the kill ({rollback:?}):\n{}", outcome.tail(60));
    }
    assert_eq!(serial.matches(WARM_HOOK).count(), 1, "one signal");
    // The log: the install, the promotion, the restart's entry right after it.
    host::assert_verified_log(
        &seen.log,
        &[&[" install ", "installed as module 1"], &[" promote "], &[" manager-started ", "generation 1, 2 entries reloaded"]],
    );
    // The restarted manager serves the incumbent, module 0; module 1 is gone.
    let slot_line = seen.status.lines().find(|l| l.starts_with("slot checksum:")).unwrap_or_default();
    assert!(slot_line.contains("module 0 serving"), "{}", seen.status);
    assert!(!seen.status.contains("\n  module 1 "), "module 1 outlived the restart:\n{}", seen.status);

    // The client load: no wrong answer ever (no acknowledged request lost from the state
    // the incumbent serves with, none applied twice); at most the one call in flight at the
    // kill failed; its rounds go on to the end.
    let client = host::check_client_rounds(serial, seen.end, 1);

    // The restarted manager took seat 1's state into seat 0.
    assert!(!serial.contains("@event slot.state-adoption-failed "), "the adoption failed:\n{}", outcome.tail(60));
    let adoption = position(serial, ADOPTION);
    let imported = position(serial, IMPORTED);
    let adopted = position(serial, ADOPTED);
    assert!(
        restarted < adoption && adoption < imported && imported < adopted,
        "restart at {restarted}, adoption at {adoption}, incumbent's import at {imported}, adopted at {adopted}:\n{}",
        outcome.tail(60)
    );
    assert_eq!(serial.matches(ADOPTED).count(), 1, "one adoption");
    let adopted_line = host::whole_lines_with(serial, ADOPTED).first().copied().unwrap_or_default();
    eprintln!(
        "slot_manager_restart_promoted: {adopted_line}; {} client rounds, {} requests, {} failed",
        client.rounds, client.requests, client.errors
    );
    eprintln!("slot_manager_restart_promoted: the verified log:\n{}", seen.log);
}
