//! The restarted slot manager's adoption failing, on a booted tile (scenario
//! `tests/scenarios/slot-adoption-failed.toml`: the demo slot with its update log on the
//! store, the checking client load, the incumbent `checksum-v1`, the fault-injection domain
//! `chaos-checksum.manager`, and a slot allowance that lets a challenger's seat signal
//! "chaos").
//!
//! Each case installs an adoption spoiler (`tileos_checksum_modules::spoil_adoption`:
//! checksum-fast's answers) as module 1 and promotes it by force once it shadows. Once it
//! has served 500 requests as the promoted module it signals "chaos", and the chaos domain,
//! above it and the manager by priority, has the supervisor kill and restart the manager
//! at once: module 1 served last, so the restarted manager asks it to export its state into
//! the incumbent (`slot.state-adoption … seat=1`), which is the module's next export. There
//! the adoption fails, by case:
//! - `checksum-adopt-fault` faults at the export: `why="its module faulted before the
//!   incumbent imported its state…"`;
//! - `checksum-adopt-unknown` exports a state version no checksum module reads, which the
//!   incumbent refuses: `why="the incumbent refused the state…"`;
//! - `checksum-adopt-hang` loops forever in the export (inside the serving schedule's 40 ms
//!   in 50, so the client still runs): `why="its module did not export its state, or the
//!   incumbent did not import it, within 1 s…"` once the timer domain wakes the manager
//!   at the deadline (or a client request reaches it past the deadline first).
//!
//! Checked, each check failing if the behaviour broke:
//! - the kill came while module 1 served: the manager's `slot.switch … module=1` < the
//!   module's signal < the chaos domain's `supervisor answered Restarted` < the generation-1
//!   manager's `serving, log of 3 entries`; no rollback line before the kill; one signal;
//! - after the restart `slot.state-adoption slot=checksum seat=1` < `slot.state-adoption-
//!   failed slot=checksum seat=1 why="<the case's cause>: the incumbent serves with the
//!   state it has"`, exactly one such line, no `slot.state-adopted`; the module's own line
//!   at its spoiled export, after the restart; seat 1 stopped (`seat.stopped … seat=1`)
//!   or faulted (`slot.seat-fault … seat=1 role=Predecessor`) after the restart; the
//!   incumbent's seat neither faulted nor started again (before session 30 a refused
//!   adoption was taken for the incumbent's fault: its seat restarted with no state, and a
//!   second client call failed);
//! - `tilectl status`: module 0 serving, no module 1;
//! - the manager serves later requests: a later install of checksum-fast is answered
//!   "installed as module N" and the module shows in `tilectl status`;
//! - `tilectl log --verify`: install, promote, manager-started (generation 1, 2 entries
//!   reloaded), install, signature verified;
//! - the client: its rounds go on to the end, every call answered but at most the one the
//!   killed manager held (`errors` ≤ 1), no wrong answer before the kill;
//! - the restarted manager's stack high-water mark within half its stack
//!   (`host::assert_manager_stack_within_half`, as slot_demo and slot_nversion check).
//!
//! **The documented loss**: the incumbent serves with its own state, in which the requests
//! module 1 answered but the warm incumbent had not yet been given (its copies journaled in
//! the killed manager's memory) are missing; the client then sees wrong running sums on
//! those streams until it resets them. Those answers are counted (`wrong=` after the kill,
//! and printed), not hidden: the test does not require them (how far behind the warm
//! incumbent is at the kill is timing), but it does require that none came before the kill.
//! In the runs so far they were 0: the plain incumbent kept up with its copies closely
//! enough, and the client resets every running stream after a failed call (the one the
//! kill fails in most runs), which hides a lost state from its model. So this test shows
//! the failure is answered and survived; it cannot show the size of the loss.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use tileos_qemu::host::{self, install_bundle, installed_module, position};
use tileos_tilectl::Command as Tilectl;

const TIMEOUT: Duration = Duration::from_secs(300);
/// One tile at a time: the cases boot one each.
static ONE_TILE_AT_A_TIME: Mutex<()> = Mutex::new(());
const SLOT: &str = "checksum";
const SCENARIO: &str = "slot-adoption-failed";
/// The promoted module's line as it signals (`tileos_checksum_modules::spoil_adoption`).
const SIGNAL: &str = "checksum.seat1: served 500 requests since its promotion: signalling \"chaos\"";
/// The chaos domain's line once the supervisor restarted the manager.
const RESTARTED: &str = "chaos-checksum.manager: supervisor answered Restarted";
/// The restarted manager's line (glue `slot-manager`): install, promote, and its own
/// `ManagerStarted`.
const SERVING_AGAIN: &str = "slot-manager: slot checksum: serving, log of 3 entries (generation 1)";
/// The manager's line at the promotion's switch (module 1's first delivered answer).
const SWITCH: &str = "@event slot.switch slot=checksum module=1 ";
/// The restarted manager's line as it asks seat 1 for its state.
const ADOPTION: &str = "@event slot.state-adoption slot=checksum seat=1";
/// The restarted manager's line when the adoption fails.
const FAILED: &str = "@event slot.state-adoption-failed slot=checksum seat=1 why=\"";
/// The end of every failure line's `why`.
const FAILED_END: &str = ": the incumbent serves with the state it has\"";
/// The line of an adoption that did not fail.
const ADOPTED: &str = "@event slot.state-adopted ";
/// The client's round line.
const ROUND: &str = "@event checksum.round ";

/// One way the adoption fails.
struct Case {
    /// The bundle installed and promoted.
    bundle: &'static str,
    /// The module's line at its spoiled export.
    spoiled: &'static str,
    /// The failure line's cause (the start of `why`).
    why: &'static str,
    /// What shows seat 1 gone after the restart.
    seat_gone: &'static str,
}

/// What the host saw.
struct Seen {
    /// tilectl's answer to the promotion.
    promote: String,
    /// `tilectl status` after the failed adoption.
    status: String,
    /// The later install's answer.
    install: String,
    /// `tilectl status` after the later install.
    status_after_install: String,
    /// `tilectl log --verify`.
    log: String,
    /// The serial log's length after everything (client rounds after it must appear).
    end: usize,
}

/// Installs and promotes `bundle`, waits for the restarted manager and its failed adoption
/// (sending the manager nothing meanwhile: the client's one call waits behind the import,
/// so the manager must read its clock without a message for the deadline to pass), then
/// reads the status, installs checksum-fast and reads the log.
fn drive(port: u16, serial: &Path, bundle: &str) -> Result<Seen, String> {
    let module = installed_module(&install_bundle(port, SLOT, bundle)?)?;
    let promote = host::promote_by_force_once_shadowing(port, serial, SLOT, module).1?;
    let restarted = host::wait_for_text(serial, 0, "(generation 1)", 90)?;
    let failed = host::wait_for_text(serial, restarted, FAILED, 60)
        .map_err(|e| format!("no {FAILED:?} within 60 s of the restart, no message sent to the manager meanwhile: {e}"))?;
    host::wait_client_rounds(serial, failed, 2, 60)?;
    let status = host::tilectl(port, Tilectl::Status, Duration::from_secs(30))?;
    let install = install_bundle(port, SLOT, "checksum-fast")?;
    let status_after_install = host::tilectl(port, Tilectl::Status, Duration::from_secs(30))?;
    let log = host::verify_slot_log(port, serial, SLOT)?;
    let end = host::serial_text(serial).len();
    host::wait_client_rounds(serial, end, 1, 60)?;
    Ok(Seen { promote, status, install, status_after_install, log, end })
}

/// The `key=` field of a client round line, as a number.
fn round_field(round: &str, key: &str) -> u64 {
    host::event_field(round, key).and_then(|value| value.parse().ok()).unwrap_or(u64::MAX)
}

/// Boots the tile, drives `case` and checks everything the module's doc lists.
fn run(case: &Case) {
    let _one = ONE_TILE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let bundle = case.bundle;
    let (outcome, seen) = host::boot_slot_on_fresh_disk(SCENARIO, TIMEOUT, move |port, serial| drive(port, serial, bundle));
    let serial = &outcome.serial;
    let tail = || outcome.tail(80);
    assert!(seen.promote.contains("promoted"), "the promotion: {}", seen.promote);

    // The kill came while module 1 served, at its signal, with no rollback before it.
    let switch = position(serial, SWITCH);
    let signal = position(serial, SIGNAL);
    let restarted = position(serial, RESTARTED);
    let serving = position(serial, SERVING_AGAIN);
    assert!(
        switch < signal && signal < restarted && restarted < serving,
        "switch at {switch}, signal at {signal}, restart at {restarted}, generation 1 serving at {serving}:\n{}",
        tail()
    );
    assert_eq!(serial.matches(SIGNAL).count(), 1, "one signal");
    let before_kill = serial.get(..restarted).unwrap_or("");
    for rollback in ["@event slot.rollback", "to=rolled-back", "reason=ManualRollback"] {
        assert!(!before_kill.contains(rollback), "a rollback before the kill ({rollback:?}):\n{}", tail());
    }

    // The restarted manager began the adoption, and it failed for the case's cause.
    let after = serial.get(restarted..).unwrap_or("");
    let (adoption, failed) = (position(after, ADOPTION), position(after, FAILED));
    assert!(adoption < failed, "adoption at {adoption}, its failure at {failed} (after the restart):\n{}", tail());
    let failures = host::whole_lines_with(serial, FAILED);
    assert_eq!(failures.len(), 1, "one failed adoption: {failures:?}");
    let why = failures[0].split_once("why=\"").map_or("", |(_, why)| why);
    assert!(why.starts_with(case.why) && failures[0].ends_with(FAILED_END), "the failure's cause: {}", failures[0]);
    assert!(!serial.contains(ADOPTED), "an adoption completed:\n{}", tail());
    assert!(after.contains(case.spoiled), "the module's spoiled export ({:?}) after the restart:\n{}", case.spoiled, tail());
    assert!(after.contains(case.seat_gone), "seat 1 gone ({:?}) after the restart:\n{}", case.seat_gone, tail());
    // The incumbent serves on in its seat, with the state it has: neither taken for faulted
    // nor started again (which would leave it no state at all).
    for restarted_incumbent in ["@event slot.seat-fault slot=checksum seat=0 ", "@event seat.started slot=checksum seat=0 "] {
        assert!(!after.contains(restarted_incumbent), "the incumbent's seat restarted ({restarted_incumbent:?}):\n{}", tail());
    }

    // The incumbent serves; module 1 is gone; the manager serves a later install.
    let slot_line = seen.status.lines().find(|l| l.starts_with("slot checksum:")).unwrap_or_default();
    assert!(slot_line.contains("module 0 serving"), "{}", seen.status);
    assert!(!seen.status.contains("\n  module 1 "), "module 1 outlived the restart:\n{}", seen.status);
    let later = installed_module(&seen.install).unwrap_or_else(|e| panic!("the later install: {e}: {}", seen.install));
    assert!(seen.status_after_install.contains(&format!("\n  module {later} ")), "module {later}:\n{}", seen.status_after_install);
    host::assert_verified_log(
        &seen.log,
        &[
            &[" install ", "installed as module 1"],
            &[" promote "],
            &[" manager-started ", "generation 1, 2 entries reloaded"],
            &[" install ", &format!("installed as module {later}")],
        ],
    );

    // The client: its rounds go on to the end; at most the call the killed manager held
    // failed; no wrong answer before the kill; the wrong answers after it (the documented
    // loss) counted.
    let rounds = host::whole_lines_with(serial, ROUND);
    assert!(!host::whole_lines_with(serial.get(seen.end..).unwrap_or(""), ROUND).is_empty(), "the client's rounds stopped");
    for round in host::whole_lines_with(before_kill, ROUND) {
        assert_eq!(host::event_field(round, "wrong"), Some("0"), "a wrong answer before the kill: {round}");
    }
    assert!(!before_kill.contains("@event checksum.wrong "), "a wrong answer before the kill");
    let last = rounds.last().copied().unwrap_or_default();
    let (requests, wrong, errors) = (round_field(last, "n"), round_field(last, "wrong"), round_field(last, "errors"));
    assert!(errors <= 1, "{errors} failed client calls (at most the one the killed manager held): {last}");
    // The restarted manager's stack (its reload, the failed adoption, the later install)
    // stays within half, as in slot_demo.
    let (used, size) = host::assert_manager_stack_within_half(serial, SLOT);
    eprintln!("slot_adoption_failed ({}): the manager's stack high-water mark serving: {used} of {size} bytes", case.bundle);
    eprintln!(
        "slot_adoption_failed ({}): {}; {} client rounds, {requests} requests, {errors} failed, {wrong} wrong after the kill (the lost state)",
        case.bundle,
        failures[0],
        rounds.len()
    );
    eprintln!("slot_adoption_failed ({}): the verified log:\n{}", case.bundle, seen.log);
}

#[test]
fn a_module_faulting_at_the_adoptions_export_leaves_the_incumbent_serving_with_its_own_state() {
    run(&Case {
        bundle: "checksum-adopt-fault",
        spoiled: "checksum.seat1: faulting at the export after its signal (deliberately)",
        why: "its module faulted before the incumbent imported its state",
        seat_gone: "@event slot.seat-fault slot=checksum seat=1 role=Predecessor",
    });
}

#[test]
fn an_incumbent_refusing_the_adopted_state_serves_with_its_own() {
    run(&Case {
        bundle: "checksum-adopt-unknown",
        spoiled: "checksum.seat1: exporting state version 4294967295 after its signal (deliberately)",
        why: "the incumbent refused the state",
        seat_gone: "@event seat.stopped slot=checksum seat=1 ",
    });
}

#[test]
fn a_module_hanging_in_the_adoptions_export_is_given_up_after_the_deadline() {
    run(&Case {
        bundle: "checksum-adopt-hang",
        spoiled: "checksum.seat1: looping forever at the export after its signal (deliberately)",
        why: "its module did not export its state, or the incumbent did not import it, within 1 s",
        seat_gone: "@event seat.stopped slot=checksum seat=1 ",
    });
}
