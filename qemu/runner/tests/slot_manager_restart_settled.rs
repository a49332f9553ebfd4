//! A settled promotion outliving a slot manager restart, on a booted tile (scenario
//! `tests/scenarios/slot-manager-restart-settled.toml`: the demo slot with its update log on
//! the store, a rollback window of 1 s, the checking client load, the plain incumbent
//! checksum-v1 and the fault-injection domain `chaos-checksum.manager`).
//!
//! The host installs checksum-settle-signal (module 1: checksum-fast's answers) and promotes
//! it by force as soon as it shadows. Its window closes 1 s after the switch: the module
//! settles, the manager records seat 1 in the root server again, settled, and saves the
//! module's program (its ELF) on the store in deferred steps. 3 s after its promotion the
//! module signals "chaos" and the chaos domain has the manager killed and restarted at
//! once. The restarted manager reads the record (`ServingSeat`: seat 1, settled), finds the
//! module the update log's last promotion names and its program on the store (its content
//! hash the log's), and keeps it serving in seat 1 as module 0, with its own state,
//! stopping the retired incumbent's seat 0 (before session 31 it reverted to the incumbent,
//! with module 1's state adopted: the tile ran the old version again after a manager
//! crash). 400 requests later the kept module page-faults: the manager rebuilds it in seat
//! 1 from the saved program (its state fresh, as at any settled module's fault), and the
//! same version serves on. (Without a saved program the incumbent would serve again,
//! logged as a rollback: host-tested, `manager.rs`.)
//!
//! Checked, so that each check fails if the behaviour broke:
//! - the order: the switch, module 1's transition to `settled`, its seat recorded settled
//!   (`slot.serving-recorded … seat=1 settled=true`), its program saved
//!   (`slot.program-saved`), the signal, the supervisor's `Restarted`, the restarted
//!   manager serving; no rollback before the kill;
//! - after the restart: `slot.serving-kept slot=checksum seat=1 module="checksum"
//!   version="1.2.1"` (the bundle's manifest), seat 0 stopped, no adoption
//!   (`slot.state-adoption`), no line saying the program is not held, and no start of seat
//!   0 at all; `tilectl status`: module 0 serving, in seat 1;
//! - the fault: the module's line, then seat 1 rebuilt from the staged program
//!   (`slot.seat-rebuilt … seat=1 … program=staged`), no `slot.kept-module-lost`;
//!   `tilectl status` after it: module 0 serving, in seat 1; a later install works;
//! - `tilectl log --verify`: install, promote, manager-started ("settled, serves on in seat
//!   1 with its own state"), install: no rollback entry (the same module serves);
//! - the client: its rounds go on to the end, every answer right (`wrong=0`: the kept module
//!   serves with its own state; after the fault every stream is reset), at most two failed
//!   calls (the one the killed manager held, the one the fault hit);
//! - the manager's stack high-water mark within half its stack.
//!
//! The second case (`a_settled_promotion_is_restored_at_a_reboot_from_its_saved_program`)
//! boots the same scenario twice on one disk: checksum-fast promoted and settled, its
//! program saved, then a reboot restores it in seat 1 from the store (see its doc).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use tileos_qemu::host::{self, install_bundle, installed_module, position};
use tileos_tilectl::Command as Tilectl;

const TIMEOUT: Duration = Duration::from_secs(300);
/// One tile at a time: both tests boot the same scenario on its disk image.
static ONE_TILE_AT_A_TIME: Mutex<()> = Mutex::new(());
const SLOT: &str = "checksum";
const SCENARIO: &str = "slot-manager-restart-settled";
const BUNDLE: &str = "checksum-settle-signal";
/// The bundle's manifest name and version, as the log and the manager name it (the
/// incumbent is also named "checksum", with no version).
const MODULE: &str = "checksum 1.2.1";
/// The promoted module's line as it signals.
const SIGNAL: &str = "checksum.seat1: settled 3000 ms after its promotion: signalling \"chaos\"";
/// The chaos domain's line once the supervisor restarted the manager.
const RESTARTED: &str = "chaos-checksum.manager: supervisor answered Restarted";
/// The restarted manager's line (install, promote, and its own `ManagerStarted`).
const SERVING_AGAIN: &str = "slot-manager: slot checksum: serving, log of 3 entries (generation 1)";
/// The manager's line at the promotion's switch.
const SWITCH: &str = "@event slot.switch slot=checksum module=1 ";
/// Module 1's window closed.
const SETTLED: &str = "@event slot.transition slot=checksum module=1 from=promoted to=settled";
/// Seat 1 recorded in the root server as serving settled.
const RECORDED: &str = "@event slot.serving-recorded slot=checksum seat=1 settled=true";
/// Its program saved on the store.
const SAVED: &str = "@event slot.program-saved slot=checksum module=1 bytes=";
/// The restarted manager keeps seat 1 serving.
const KEPT: &str = "@event slot.serving-kept slot=checksum seat=1 module=\"checksum\" version=\"1.2.1\"";
/// The module's line at its deliberate fault.
const FAULTING: &str = "checksum.seat1: faulting at request 400 after its signal (deliberately)";
/// The manager's line once the kept module is rebuilt from its saved program.
const REBUILT: &str = "@event slot.seat-rebuilt slot=checksum seat=1 ";
/// The root server's lines at seat 0's stop and start.
const SEAT0_STOPPED: &str = "@event seat.stopped slot=checksum seat=0 ";
/// See [`SEAT0_STOPPED`].
const SEAT0_STARTED: &str = "@event seat.started slot=checksum seat=0 ";
/// The restarted manager's line when it keeps a module without its program.
const NOT_HELD: &str = "the kept module's program is not held";
const ROUND: &str = "@event checksum.round ";

/// What the host saw.
struct Seen {
    /// tilectl's answer to the promotion.
    promote: String,
    /// `tilectl status` while the kept module serves.
    status_kept: String,
    /// `tilectl status` after the kept module's rebuild.
    status_rebuilt: String,
    /// The later install's answer.
    install: String,
    /// `tilectl log --verify`.
    log: String,
    /// The serial log's length after everything (client rounds after it must appear).
    end: usize,
}

fn drive(port: u16, serial: &Path) -> Result<Seen, String> {
    let module = installed_module(&install_bundle(port, SLOT, BUNDLE)?)?;
    let promote = host::promote_by_force_once_shadowing(port, serial, SLOT, module).1?;
    let restarted = host::wait_for_text(serial, 0, RESTARTED, 90)?;
    let kept = host::wait_for_text(serial, restarted, KEPT, 30)?;
    host::wait_client_rounds(serial, kept, 1, 60)?;
    let status_kept = host::tilectl(port, Tilectl::Status, Duration::from_secs(30))?;
    let rebuilt = host::wait_for_text(serial, kept, REBUILT, 120)?;
    host::wait_client_rounds(serial, rebuilt, 2, 60)?;
    let status_rebuilt = host::tilectl(port, Tilectl::Status, Duration::from_secs(30))?;
    let install = install_bundle(port, SLOT, "checksum-fast")?;
    let log = host::verify_slot_log(port, serial, SLOT)?;
    let end = host::serial_text(serial).len();
    host::wait_client_rounds(serial, end, 1, 60)?;
    Ok(Seen { promote, status_kept, status_rebuilt, install, log, end })
}

/// The `key=` field of a client round line, as a number.
fn round_field(round: &str, key: &str) -> u64 {
    host::event_field(round, key).and_then(|value| value.parse().ok()).unwrap_or(u64::MAX)
}

/// The status line of module 0.
fn module0(status: &str) -> &str {
    status.lines().find(|l| l.starts_with("  module 0 ")).unwrap_or_default()
}

#[test]
fn a_settled_promotion_outlives_a_manager_restart_and_is_rebuilt_from_its_saved_program() {
    let _one = ONE_TILE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (outcome, seen) = host::boot_slot_on_fresh_disk(SCENARIO, TIMEOUT, drive);
    let serial = &outcome.serial;
    let tail = || outcome.tail(80);
    assert!(seen.promote.contains("promoted"), "the promotion: {}", seen.promote);

    // The kill came after module 1 settled and its seat was recorded settled.
    let order = [SWITCH, SETTLED, RECORDED, SAVED, SIGNAL, RESTARTED, SERVING_AGAIN];
    let at: Vec<usize> = order.iter().map(|needle| position(serial, needle)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "out of order {:?} at {at:?}:\n{}", order, tail());
    let restarted = at[5];
    let before_kill = serial.get(..restarted).unwrap_or("");
    for rollback in ["@event slot.rollback", "to=rolled-back"] {
        assert!(!before_kill.contains(rollback), "a rollback before the kill ({rollback:?}):\n{}", tail());
    }

    // Kept with its program: no adoption, the incumbent's seat stopped and never started
    // again, module 0 in seat 1.
    let after = serial.get(restarted..).unwrap_or("");
    let (kept, faulting, rebuilt) = (position(after, KEPT), position(after, FAULTING), position(after, REBUILT));
    assert!(kept < faulting && faulting < rebuilt, "kept at {kept}, the fault at {faulting}, rebuilt at {rebuilt}:\n{}", tail());
    assert!(!serial.contains("@event slot.state-adoption"), "an adoption:\n{}", tail());
    assert!(after.contains(SEAT0_STOPPED), "seat 0 not stopped at the restart:\n{}", tail());
    for absent in [SEAT0_STARTED, NOT_HELD, "@event slot.kept-module-lost"] {
        assert!(!after.contains(absent), "{absent:?} after the restart:\n{}", tail());
    }
    let rebuilt_line = host::whole_lines_with(after, REBUILT);
    assert!(rebuilt_line.first().is_some_and(|l| l.contains(" program=staged ")), "seat 1 not rebuilt from its program: {rebuilt_line:?}");
    for status in [&seen.status_kept, &seen.status_rebuilt] {
        let line = module0(status);
        assert!(
            status.contains("module 0 serving") && line.contains("seat 1 "),
            "module 0 is not the kept module in seat 1: {line:?}\n{status}"
        );
    }
    let later = installed_module(&seen.install).unwrap_or_else(|e| panic!("the later install: {e}: {}", seen.install));
    host::assert_verified_log(
        &seen.log,
        &[
            &[" install ", "installed as module 1"],
            &[" promote ", MODULE],
            &[" manager-started ", MODULE, "settled, serves on in seat 1 with its own state"],
            &[" install ", &format!("installed as module {later}")],
        ],
    );

    // The client: right throughout; at most the kill's and the fault's calls failed.
    let rounds = host::whole_lines_with(serial, ROUND);
    assert!(!host::whole_lines_with(serial.get(seen.end..).unwrap_or(""), ROUND).is_empty(), "the client's rounds stopped");
    for round in &rounds {
        assert_eq!(host::event_field(round, "wrong"), Some("0"), "a wrong answer: {round}");
    }
    assert!(!serial.contains("@event checksum.wrong "), "a wrong answer:\n{}", tail());
    let last = rounds.last().copied().unwrap_or_default();
    let (requests, errors) = (round_field(last, "n"), round_field(last, "errors"));
    assert!(errors <= 2, "{errors} failed client calls (at most the kill's and the fault's): {last}");
    let (used, size) = host::assert_manager_stack_within_half(serial, SLOT);
    eprintln!("slot_manager_restart_settled: {} client rounds, {requests} requests, {errors} failed, 0 wrong", rounds.len());
    eprintln!("slot_manager_restart_settled: the manager's stack high-water mark serving: {used} of {size} bytes");
    eprintln!("slot_manager_restart_settled: the verified log:\n{}", seen.log);
}

/// The first boot's line once checksum-fast (module 1), promoted and settled, has its
/// program saved on the store.
const SAVED_FAST: &str = "@event slot.program-saved slot=checksum module=1 bytes=";
/// The second boot's line: the settled module started again from its saved program.
const RESTORED: &str = "@event slot.promotion-restored slot=checksum seat=1 module=\"checksum\" version=\"1.1.0\"";

/// A settled promotion is restored at a reboot (same scenario, two boots on one disk):
/// the first boot installs checksum-fast, promotes it by force and waits until its window
/// closed and its program is saved on the store; the second boot starts it again from
/// that program in seat 1 (its hash checked against the signed log's), stops the
/// incumbent's seat 0, and serves with it. Checked: the restore line; seat 0 stopped;
/// `tilectl status` module 0 serving in seat 1; `tilectl log --verify` install, promote,
/// manager-started of generation 0 ("serves again in seat 1, started from its program on
/// the store"); the second boot's client rounds (two or more) every one `wrong=0 errors=0`.
#[test]
fn a_settled_promotion_is_restored_at_a_reboot_from_its_saved_program() {
    let _one = ONE_TILE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (first, ()) = host::boot_slot_on_fresh_disk(SCENARIO, TIMEOUT, |port, serial| {
        let module = installed_module(&install_bundle(port, SLOT, "checksum-fast")?)?;
        host::promote_by_force_once_shadowing(port, serial, SLOT, module).1?;
        host::wait_for_text(serial, 0, SAVED_FAST, 60).map(|_| ())
    });
    assert!(first.serial.contains(SETTLED), "module 1 did not settle:\n{}", first.tail(40));
    let disk = host::slot_disk(SCENARIO);
    let log = format!("tile-{SCENARIO}-reboot.log");
    let (second, (status, verified)) = host::boot_slot_on_disk(SCENARIO, &log, &disk, TIMEOUT, |port, serial| {
        host::wait_client_rounds(serial, 0, 2, 60)?;
        let status = host::tilectl(port, Tilectl::Status, Duration::from_secs(30))?;
        Ok((status, host::verify_slot_log(port, serial, SLOT)?))
    });
    let serial = &second.serial;
    assert!(serial.contains(RESTORED), "no restore:\n{}", second.tail(60));
    assert!(serial.contains(SEAT0_STOPPED), "seat 0 not stopped:\n{}", second.tail(60));
    let line = module0(&status);
    assert!(status.contains("module 0 serving") && line.contains("seat 1 "), "module 0 after the reboot: {line:?}\n{status}");
    host::assert_verified_log(
        &verified,
        &[
            &[" install ", "installed as module 1"],
            &[" promote ", "checksum 1.1.0"],
            &[" manager-started ", "checksum 1.1.0", "generation 0", "serves again in seat 1, started from its program on the store"],
        ],
    );
    let rounds = host::whole_lines_with(serial, ROUND);
    assert!(rounds.len() >= 2, "client rounds after the reboot: {rounds:?}");
    for round in &rounds {
        assert_eq!(host::event_field(round, "wrong"), Some("0"), "a wrong answer: {round}");
        assert_eq!(host::event_field(round, "errors"), Some("0"), "a failed call: {round}");
    }
    eprintln!("slot_manager_restart_settled (reboot): {} client rounds after the reboot; the verified log:\n{verified}", rounds.len());
}
