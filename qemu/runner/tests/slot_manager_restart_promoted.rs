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
//!   reloaded, "the incumbent serves with the state of the module that served last (seat
//!   1)"), signature verified;
//! - `tilectl status`: module 0 serving, no module 1;
//! - no acknowledged request lost: the client checks every answer against its own model, so
//!   a request missing from the state the incumbent serves with after the restart (all those
//!   module 1 answered since the switch, without the adoption) makes its stream's later
//!   answers wrong: every round `wrong=0`, no `checksum.wrong`; its rounds go on after the
//!   restart; at most one failed call (the one the killed manager held);
//! - after the restart, the restarted manager's `slot.state-adoption slot=checksum seat=1`
//!   then `slot.state-adopted slot=checksum seat=1` (the manager's lines are queued, so only
//!   their own order is sure), and the incumbent's `import 1` before the latter (it logs at
//!   the start of its import, the manager notes the adoption once the import is answered);
//!   one adoption; no `slot.state-adoption-failed`.
//!
//! Before the manager's adoption (branch `adopt`'s first commit) this test fails at the
//! client's rounds: `wrong` > 0.
//!
//! The second case (scenario `slot-manager-restart-adopting`) kills the restarted manager
//! again during its adoption: the incumbent also signals "chaos-again" at the start of its
//! first import (the generation-1 manager's adoption), which the chaos domain waits on after
//! its first kill; the generation-2 manager finds seat 1 still running and still recorded
//! and adopts again. Checked: the second kill came after the first restart and at the
//! incumbent's import, before any `slot.state-adopted` line; the generation-2 manager's
//! `slot.state-adoption` and the one `slot.state-adopted slot=checksum seat=1` after it; the
//! log install, promote, manager-started (generation 1, 2 entries reloaded: the restarted
//! manager appends it as it starts, before its adoption's import), manager-started
//! (generation 2, 3 entries reloaded); the status and the client's rounds as in the first
//! case (at most two failed calls, one per kill).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use tileos_qemu::host::{self, install_bundle, installed_module, position};
use tileos_tilectl::Command as Tilectl;

const TIMEOUT: Duration = Duration::from_secs(300);
/// One tile at a time: the two cases boot one each.
static ONE_TILE_AT_A_TIME: Mutex<()> = Mutex::new(());
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
/// The restarted manager's update log entry says whose state the incumbent serves with.
const ADOPTED_NOTE: &str = "the incumbent serves with the state of the module that served last (seat 1)";
/// The incumbent's line at its first import (the adoption's).
const IMPORTED: &str = "checksum: import 1";
/// The incumbent's line at its first import in the second case.
const IMPORT_HOOK: &str = "checksum: import 1: signalling \"chaos-again\"";
/// The chaos domain's line once the supervisor restarted the manager a second time.
const RESTARTED_AGAIN: &str = "chaos-checksum.manager: supervisor answered again Restarted";
/// The generation-2 manager's line: install, promote, the generation-1 manager's
/// `ManagerStarted` and its own.
const SERVING_GENERATION_2: &str = "slot-manager: slot checksum: serving, log of 4 entries (generation 2)";

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

/// Installs and promotes module 1, waits for the manager of `generation` to serve, then
/// reads the status and the log around the client's rounds.
fn drive(port: u16, serial: &Path, generation: u32) -> Result<Seen, String> {
    let module = installed_module(&install_bundle(port, SLOT, "checksum-fast")?)?;
    // Promoted by force as soon as it shadows (as slot_manager_restart does).
    let promote = host::promote_by_force_once_shadowing(port, serial, SLOT, module).1?;
    // The incumbent signals about a second after the switch; the manager restarts.
    let after_restart = host::wait_for_text(serial, 0, &format!("(generation {generation})"), 90)?;
    // The client's calls go on after the restart: two rounds.
    host::wait_client_rounds(serial, after_restart, 2, 60)?;
    let status = host::tilectl(port, Tilectl::Status, Duration::from_secs(30))?;
    let log = host::verify_slot_log(port, serial, SLOT)?;
    let end = host::serial_text(serial).len();
    host::wait_client_rounds(serial, end, 1, 60)?;
    Ok(Seen { promote, status, log, end })
}

/// Each client round's requests and `wrong` count (both cumulative), for the report.
fn wrong_counts(serial: &str) -> Vec<String> {
    host::whole_lines_with(serial, "@event checksum.round ")
        .iter()
        .filter_map(|round| Some(format!("n={} wrong={}", host::event_field(round, "n")?, host::event_field(round, "wrong")?)))
        .collect()
}

/// The checks both cases share: the promotion answered; the first kill after the switch,
/// at the incumbent's signal (once), with no rollback before it; the restarted manager
/// serving module 0 and no module 1; every client round `wrong=0`, at most `max_errors`
/// failed calls, the rounds going on to the end; no failed adoption. The first kill's
/// position.
fn check_common(outcome: &tileos_qemu::RunOutcome, seen: &Seen, max_errors: u64) -> (usize, host::ClientRounds) {
    let serial = &outcome.serial;
    assert!(seen.promote.contains("promoted"), "the promotion: {}", seen.promote);

    // The kill came while module 1 served: after the switch, at the incumbent's signal, with
    // no rollback before it.
    let switch = position(serial, SWITCH);
    let hook = position(serial, WARM_HOOK);
    let restarted = position(serial, RESTARTED);
    assert!(switch < hook && hook < restarted, "switch at {switch}, warm hook at {hook}, restart at {restarted}");
    let before_kill = serial.get(..restarted).unwrap_or("");
    for rollback in ["@event slot.rollback", "to=rolled-back", "reason=ManualRollback"] {
        assert!(!before_kill.contains(rollback), "a rollback before the kill ({rollback:?}):\n{}", outcome.tail(60));
    }
    assert_eq!(serial.matches(WARM_HOOK).count(), 1, "one signal");
    // The restarted manager serves the incumbent, module 0; module 1 is gone.
    let slot_line = seen.status.lines().find(|l| l.starts_with("slot checksum:")).unwrap_or_default();
    assert!(slot_line.contains("module 0 serving"), "{}", seen.status);
    assert!(!seen.status.contains("\n  module 1 "), "module 1 outlived the restart:\n{}", seen.status);

    // The client load: no wrong answer ever (no acknowledged request lost from the state
    // the incumbent serves with, none applied twice); at most the one call in flight at the
    // kill failed; its rounds go on to the end.
    let client = host::check_client_rounds(serial, seen.end, max_errors);
    assert!(!serial.contains("@event slot.state-adoption-failed "), "the adoption failed:\n{}", outcome.tail(60));
    (restarted, client)
}

#[test]
fn a_manager_killed_while_a_promoted_module_serves_restarts_with_its_state_in_the_incumbent() {
    let _one = ONE_TILE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (outcome, seen) = host::boot_slot_on_fresh_disk("slot-manager-restart-promoted", TIMEOUT, |port, serial| drive(port, serial, 1));
    let serial = &outcome.serial;
    eprintln!("slot_manager_restart_promoted: the client's rounds: {:?}", wrong_counts(serial));
    // The kill, the status and the client's rounds first: without the adoption, the
    // client's answers go wrong.
    let (restarted, client) = check_common(&outcome, &seen, 1);
    // The log: the install, the promotion, the restart's entry right after it.
    host::assert_verified_log(
        &seen.log,
        &[
            &[" install ", "installed as module 1"],
            &[" promote "],
            &[" manager-started ", "generation 1, 2 entries reloaded", ADOPTED_NOTE],
        ],
    );
    assert!(restarted < position(serial, SERVING_AGAIN), "the generation-1 manager served before the kill");

    // The restarted manager took seat 1's state into seat 0.
    let adoption = position(serial, ADOPTION);
    let imported = position(serial, IMPORTED);
    let adopted = position(serial, ADOPTED);
    assert!(
        restarted < adoption && adoption < adopted && restarted < imported && imported < adopted,
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

#[test]
fn a_manager_killed_again_during_its_adoption_adopts_again_at_its_next_restart() {
    let _one = ONE_TILE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (outcome, seen) = host::boot_slot_on_fresh_disk("slot-manager-restart-adopting", TIMEOUT, |port, serial| drive(port, serial, 2));
    let serial = &outcome.serial;
    eprintln!("slot_manager_restart_adopting: the client's rounds: {:?}", wrong_counts(serial));
    // Two kills, one call each at most.
    let (restarted, client) = check_common(&outcome, &seen, 2);
    // The log: the install, the promotion, both restarts' entries (the generation-1 manager
    // appended its own as it started, before its adoption's import).
    host::assert_verified_log(
        &seen.log,
        &[
            &[" install ", "installed as module 1"],
            &[" promote "],
            &[" manager-started ", "generation 1, 2 entries reloaded", ADOPTED_NOTE],
            &[" manager-started ", "generation 2, 3 entries reloaded", ADOPTED_NOTE],
        ],
    );
    // The second kill: at the incumbent's first import, after the first restart, before
    // anything was adopted; then the generation-2 manager serves.
    let import_hook = position(serial, IMPORT_HOOK);
    let restarted_again = position(serial, RESTARTED_AGAIN);
    let serving = position(serial, SERVING_GENERATION_2);
    assert!(
        restarted < import_hook && import_hook < restarted_again && restarted_again < serving,
        "first restart at {restarted}, import hook at {import_hook}, second restart at {restarted_again}, generation 2 serving at {serving}"
    );
    assert_eq!(serial.matches(IMPORT_HOOK).count(), 1, "one hooked import");
    assert!(!serial.get(..restarted_again).unwrap_or("").contains(ADOPTED), "an adoption completed before the second kill");
    // The generation-2 manager adopted seat 1's state (seat 1 still ran, still recorded).
    let after = serial.get(restarted_again..).unwrap_or("");
    let (adoption, adopted) = (position(after, ADOPTION), position(after, ADOPTED));
    assert!(adoption < adopted, "the generation-2 manager's adoption at {adoption}, adopted at {adopted}:\n{}", outcome.tail(60));
    assert_eq!(serial.matches(ADOPTED).count(), 1, "one adoption completed");
    let adopted_line = host::whole_lines_with(serial, ADOPTED).first().copied().unwrap_or_default();
    eprintln!(
        "slot_manager_restart_adopting: {adopted_line}; {} client rounds, {} requests, {} failed",
        client.rounds, client.requests, client.errors
    );
    eprintln!("slot_manager_restart_adopting: the verified log:\n{}", seen.log);
}
