//! The slot manager killed in the middle of a promotion's state transfer on a booted tile
//! (scenario `tests/scenarios/slot-manager-restart.toml`: the demo slot with its update log
//! on the store, the checking client load, the test incumbent `checksum-export-hook` and
//! the fault-injection domain `chaos-checksum.manager`).
//!
//! The host installs checksum-fast (module 1) and promotes it by force as soon as it
//! shadows. The promotion by hand's steps (docs/slots.md, "A promotion transfers before its
//! switch"): the operator's request, the entry (persisted), the transfer's start (the
//! serving module, the incumbent, is asked to export), the switch at the module's import.
//! The incumbent signals "chaos" at the start of its second export, the promotion's (its
//! first was module 1's start), and the chaos domain, above it and the manager by priority,
//! has the supervisor kill and restart the manager at once, so the kill is deterministic:
//! after the entry, before the exported state reached the manager, so before the switch.
//!
//! Checked, so that each check fails if the behaviour broke:
//! - the kill landed mid-promotion: the incumbent's `export 2` line comes after the host
//!   sent the promotion and before the supervisor's `Restarted`; the operator was never
//!   answered `promoted` (its call failed: the manager died holding it; a switch answers it
//!   at once); the log holds the promotion's entry (so the kill came after the entry's
//!   step) followed directly by the restart's `ManagerStarted` entry (no withdrawal, no
//!   rollback: nothing else ran in between);
//! - the restarted manager (generation 1) serves the slot's incumbent, module 0, as
//!   docs/slots.md says a restart must ("the manager started again serves its incumbent"):
//!   `tilectl status` shows module 0 serving, promoted 0, and no module 1 left; it stopped
//!   the cut module as it started (`slot.seat-reclaimed`, seat 1) and gave the incumbent
//!   the serving schedule (`seat.scheduled … seat=0 schedule=serving`);
//! - the seat of the module whose promotion was cut is free again: a new install of
//!   checksum-fast takes it (module 1 of the new generation, seat 1);
//! - the update log reloads and verifies (`tilectl log --verify`): install, promote,
//!   manager-started (generation 1, 2 entries reloaded), install;
//! - the client load: every round `wrong=0` (a request applied twice or lost in the state
//!   would make every later answer of its stream wrong, the client checks each against its
//!   own model), its rounds go on after the restart, and errors (calls that failed: the
//!   client has one call at a time, so at most the one in flight at the kill) at most 1.

use std::path::Path;
use std::time::Duration;

use tileos_qemu::host::{self, install_bundle, installed_module, position};
use tileos_tilectl::Command as Tilectl;

const TIMEOUT: Duration = Duration::from_secs(300);
const SLOT: &str = "checksum";
/// The incumbent's line at the promotion's export (`checksum_export_hook.rs`).
const EXPORT_HOOK: &str = "checksum: export 2: signalling \"chaos\"";
/// The chaos domain's line once the supervisor restarted the manager.
const RESTARTED: &str = "chaos-checksum.manager: supervisor answered Restarted";
/// The restarted manager's line (glue `slot-manager`).
const SERVING_AGAIN: &str = "slot-manager: slot checksum: serving, log of 3 entries (generation 1)";

/// What the host saw.
struct Seen {
    /// The serial log's length when the promotion was sent (its last try).
    promote_sent: usize,
    /// tilectl's answer to the promotion (an error expected).
    promote: Result<String, String>,
    /// `tilectl status` after the restart.
    status: String,
    /// tilectl's output for the install after the restart.
    reinstalled: String,
    /// `tilectl log --verify`.
    log: String,
    /// The serial log's length after everything (client rounds after it must appear).
    end: usize,
}

fn drive(port: u16, serial: &Path) -> Result<Seen, String> {
    let module = installed_module(&install_bundle(port, SLOT, "checksum-fast")?)?;
    // Promoted by force as soon as it shadows (as slot_cycles does).
    let (promote_sent, promote) = host::promote_by_force_once_shadowing(port, serial, SLOT, module);
    let after_restart = host::wait_for_text(serial, 0, "(generation 1)", 60)?;
    // The client's calls go on after the restart: two rounds.
    host::wait_client_rounds(serial, after_restart, 2, 60)?;
    let status = host::tilectl(port, Tilectl::Status, Duration::from_secs(30))?;
    let reinstalled = install_bundle(port, SLOT, "checksum-fast")?;
    let log = host::verify_slot_log(port, serial, SLOT)?;
    let end = host::serial_text(serial).len();
    host::wait_client_rounds(serial, end, 1, 60)?;
    Ok(Seen { promote_sent, promote, status, reinstalled, log, end })
}

#[test]
fn a_manager_killed_mid_promotion_restarts_serving_its_incumbent_with_the_log_verified() {
    let (outcome, seen) = host::boot_slot_on_fresh_disk("slot-manager-restart", TIMEOUT, drive);
    let serial = &outcome.serial;

    // The kill landed mid-promotion: after the promotion was sent and the incumbent began
    // the promotion's export, before the exported state reached the manager.
    let hook = position(serial, EXPORT_HOOK);
    let restarted = position(serial, RESTARTED);
    let serving_again = position(serial, SERVING_AGAIN);
    assert!(
        seen.promote_sent <= hook && hook < restarted && restarted < serving_again,
        "promotion sent at {}, export hook at {hook}, restart at {restarted}, generation 1 serving at {serving_again}",
        seen.promote_sent
    );
    assert_eq!(serial.matches("export 2: signalling").count(), 1, "one hooked export");
    assert!(
        !matches!(&seen.promote, Ok(answer) if answer.contains("promoted")),
        "the operator was answered as if the switch had been made: {:?}",
        seen.promote
    );
    // The log: the install, the promotion's entry (the kill came after its step), the
    // restart's entry right after it (nothing withdrawn or rolled back in between), the
    // install after the restart.
    host::assert_verified_log(
        &seen.log,
        &[
            &[" install ", "installed as module 1"],
            &[" promote "],
            &[" manager-started ", "generation 1, 2 entries reloaded"],
            &[" install ", "installed as module 1"],
        ],
    );

    // The restarted manager serves the incumbent, and the cut promotion's seat is free.
    let slot_line = seen.status.lines().find(|l| l.starts_with("slot checksum:")).unwrap_or_default();
    assert!(slot_line.contains("module 0 serving") && slot_line.contains("promoted 0"), "{}", seen.status);
    assert!(!seen.status.contains("\n  module 1 "), "module 1 outlived the restart:\n{}", seen.status);
    let reclaimed = position(serial, "@event slot.seat-reclaimed slot=checksum seat=1 ");
    assert!(restarted < reclaimed && reclaimed < serving_again, "seat 1 was not reclaimed as the restarted manager started");
    // It gave the incumbent the serving schedule as it started (whatever its predecessor
    // left it with).
    let rescheduled = serial[restarted..].find("@event seat.scheduled slot=checksum seat=0 schedule=serving").map(|at| restarted + at);
    assert!(rescheduled.is_some_and(|at| at < serving_again), "the restarted manager did not give seat 0 the serving schedule");
    assert!(seen.reinstalled.contains("installed as module 1"), "{}", seen.reinstalled);

    // The client load: no wrong answer ever; at most the one call in flight at the kill
    // failed; its rounds go on to the end.
    // (The client has one call at a time.)
    let client = host::check_client_rounds(serial, seen.end, 1);
    let (requests, errors) = (client.requests, client.errors);
    eprintln!(
        "slot_manager_restart: promotion answered {:?}; {} client rounds, {requests} requests, {errors} failed",
        seen.promote, client.rounds
    );
    eprintln!("slot_manager_restart: the verified log:\n{}", seen.log);
}
