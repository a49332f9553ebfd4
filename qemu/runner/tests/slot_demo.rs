//! The demo slot end to end (scenario `tests/scenarios/slot-demo.toml`): the real slot
//! manager fronts the checksum service (incumbent `checksum-v1`, seat 0) while
//! `checksum-client` calls it in a steady loop and checks every answer; the host drives the
//! slot with tilectl's own commands (the `tileos_tilectl` library) through the update agent,
//! with the signed bundles `make bundles` writes to `build/bundles`:
//!
//! 1. unsigned, wrong-key, tampered and greedy (capabilities beyond the allowance) bundles
//!    are refused at install, each with its reason;
//! 2. `checksum-wrong` (wrong on inputs starting with 0x42) and `checksum-crash` (faults on
//!    its 51st request) are installed, shadow, and are rejected without ever serving;
//! 3. `checksum-fast` shadows until the policy's evidence suffices (200 agreeing copies, at
//!    least 1 s) and is promoted (not forced: the policy decides), with state transfer; the
//!    client never saw a wrong answer or an error up to here;
//! 4. a manual rollback brings `checksum-v1` back; `checksum-wrong` installed again and
//!    promoted by force (the "deliberately loose policy") is rolled back by the circuit
//!    breaker on its first disagreement with the warm incumbent; `checksum-hang` (loops
//!    forever, no fault, on its 401st request) forced in is rolled back by the breaker once
//!    it has held a request past `breaker_unanswered` (`CircuitBreaker(Unanswered …)`),
//!    contained meanwhile by the incumbent's budget (40 ms in 50);
//! 5. `checksum-slow` (right answers, three hundred times the work) is never promoted: its
//!    promotion is refused for its latency, or it is rejected for answering after the
//!    deadline, whichever comes first;
//! 6. `tilectl log --verify` checks the update log: the head's signature, every entry's
//!    inclusion proof, and consistency with the head it verified before.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tileos_qemu::host::{self, boot_and_drive, install_bundle, installed_module};
use tileos_qemu::images::test_images;
use tileos_tilectl::Command as Tilectl;
use tileos_tilectl_wire::PORT;

const TIMEOUT: Duration = Duration::from_secs(300);
const SLOT: &str = "checksum";

/// Runs one tilectl command against the tile.
fn tilectl(port: u16, command: Tilectl) -> Result<String, String> {
    host::tilectl(port, command, Duration::from_secs(30))
}

/// The status line of module `module`, if the slot still lists it.
fn module_line(status: &str, module: u32) -> Option<String> {
    let prefix = format!("  module {module:<3} ");
    status.lines().find(|line| line.starts_with(&prefix)).map(str::to_owned)
}

/// Polls tilectl status every 500 ms until `done` holds for it (or the deadline): the last
/// status.
fn wait_status(port: u16, what: &str, seconds: u64, done: impl Fn(&str) -> bool) -> Result<String, String> {
    host::wait_status(port, what, seconds, Duration::from_millis(500), done)
}

/// Forces `module` in as soon as it shadows (it is started, not yet ready, when its install
/// returns), before its evidence can reject it; tilectl's answer.
fn force_in(port: u16, module: u32) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match tilectl(port, Tilectl::Promote { slot: SLOT.into(), module, force: true }) {
            Err(failure) if failure.contains("NotShadowing(Installed)") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other,
        }
    }
}

/// The host's side: every step, checked; returns the serial log's length when the forced
/// promotion began (the client's rounds before it must show no wrong answer).
fn drive_the_slot(port: u16, serial: &Path, scratch: &Path) -> Result<(usize, Vec<String>), String> {
    let mut outputs = Vec::new();
    // 1. Refused at install, with the reason.
    for (bundle, reason) in [
        ("checksum-unsigned", "Bundle"),
        ("checksum-wrongkey", "Bundle"),
        ("checksum-tampered", "Bundle"),
        ("checksum-greedy", "Capabilities"),
    ] {
        match install_bundle(port, SLOT, bundle) {
            Err(failure) if failure.contains(&format!("refused the install's commit: {reason}:")) => outputs.push(failure),
            other => return Err(format!("{bundle}: expected a refusal ({reason}), got {other:?}")),
        }
    }
    // 2. Installed, shadowing, rejected.
    for (bundle, why) in [("checksum-wrong", "disagreeing"), ("checksum-crash", "faulting")] {
        let installed = install_bundle(port, SLOT, bundle)?;
        let module = installed_module(&installed)?;
        outputs.push(installed);
        let status = wait_status(port, &format!("{bundle} (module {module}) rejected for {why}"), 120, |status| {
            module_line(status, module).is_none() && status.contains("rejected ")
        })?;
        outputs.push(status);
    }
    let status = tilectl(port, Tilectl::Status)?;
    if !status.contains("module 0 serving") || !status.contains("rejected 2") {
        return Err(format!("after two rejections: {status}"));
    }
    // 3. The good challenger: promoted on the policy's evidence.
    let installed = install_bundle(port, SLOT, "checksum-fast")?;
    let fast = installed_module(&installed)?;
    outputs.push(installed);
    let mut promoted = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    while promoted.is_none() {
        match tilectl(port, Tilectl::Promote { slot: SLOT.into(), module: fast, force: false }) {
            Ok(output) => promoted = Some(output),
            Err(failure) if failure.contains("Policy") && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(500)),
            Err(failure) => return Err(format!("promotion of checksum-fast: {failure}")),
        }
    }
    outputs.push(promoted.unwrap_or_default());
    let status = wait_status(port, "checksum-fast serving", 30, |status| status.contains(&format!("module {fast} serving")))?;
    outputs.push(status);
    // 4. Back to the incumbent by hand; a wrong module forced in is rolled back by the breaker.
    outputs.push(tilectl(port, Tilectl::Rollback { slot: SLOT.into() })?);
    let wrong = installed_module(&install_bundle(port, SLOT, "checksum-wrong")?)?;
    let before_force = std::fs::read_to_string(serial).map(|text| text.len()).unwrap_or(0);
    outputs.push(force_in(port, wrong)?);
    let status = wait_status(port, "the breaker's rollback of the forced checksum-wrong", 120, |status| {
        status.contains("module 0 serving") && status.contains("rolled back 2")
    })?;
    outputs.push(status);
    // 4b. A module that loops forever (no fault) once it has answered 400 requests, forced
    // in: at the incumbent's budget (40 ms in 50) it cannot starve the tile, and the breaker
    // takes it for hung once it has held a request past `breaker_unanswered` (1 s) and rolls
    // back to the warm incumbent, which answers what it held.
    let hang = installed_module(&install_bundle(port, SLOT, "checksum-hang")?)?;
    outputs.push(force_in(port, hang)?);
    let status = wait_status(port, "the breaker's rollback of the hung checksum-hang", 120, |status| {
        status.contains("module 0 serving") && status.contains("rolled back 3")
    })?;
    outputs.push(status);
    let text = std::fs::read_to_string(serial).unwrap_or_default();
    let tripped = format!("module={hang} from=promoted to=rolled-back reason=CircuitBreaker(Unanswered");
    let hung = format!("@event slot.serving-hung slot={SLOT} module={hang} request=");
    if !text.contains(&tripped) || !host::whole_lines_with(&text, &hung).iter().any(|line| line.trim_end().ends_with("then=rolled-back")) {
        return Err(format!("checksum-hang (module {hang}) was rolled back, but not as hung ({tripped:?} missing)"));
    }
    // 5. A slow challenger (right answers, three hundred times the work) is never promoted:
    // its promotion is refused because its mean latency is above the policy's bound (4 × the
    // incumbent's), or it is rejected first because one of its answers came after the
    // answer deadline (a timeout counts against it like a disagreement). Which comes first
    // depends on how far behind it falls; either is logged with its reason.
    let slow = installed_module(&install_bundle(port, SLOT, "checksum-slow")?)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let verdict = loop {
        match tilectl(port, Tilectl::Promote { slot: SLOT.into(), module: slow, force: false }) {
            Err(failure) if failure.contains("TooSlow") => break failure,
            Err(failure) if failure.contains(&format!("no module {slow} in the slot")) => {
                let serial = std::fs::read_to_string(serial).unwrap_or_default();
                let rejected = format!("module={slow} from=shadowing to=rejected");
                match serial.lines().find(|line| line.contains(&rejected)) {
                    Some(line) if line.contains("timeouts: ") && !line.contains("timeouts: 0,") => break line.to_owned(),
                    other => return Err(format!("checksum-slow left the slot, but not for its timeouts: {other:?}")),
                }
            }
            Err(failure) if failure.contains("Policy") && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(500)),
            other => return Err(format!("promotion of checksum-slow: expected a refusal or a rejection, got {other:?}")),
        }
    };
    outputs.push(verdict);
    // 6. The update log verifies.
    let state = scratch.join("heads.json");
    let log = tilectl(port, Tilectl::Log { slot: SLOT.into(), verify: true, log_key: None, state: Some(state.clone()) })?;
    outputs.push(log);
    outputs.push(tilectl(port, Tilectl::Log { slot: SLOT.into(), verify: true, log_key: None, state: Some(state) })?);
    Ok((before_force, outputs))
}

/// Fails the test unless `make bundles` has written the bundles.
fn assert_bundles() {
    let dir = host::bundles_dir();
    assert!(dir.join("checksum-fast.bundle").is_file(), "{} has no bundles: run `make bundles` (make test does)", dir.display());
}

#[test]
fn the_demo_slot_refuses_rejects_promotes_and_rolls_back_and_its_log_verifies() {
    assert_bundles();
    let scratch = test_images().unwrap_or_else(|error| panic!("{error}")).logs.join("slot-demo-scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let ready = &["update-agent: ready", "slot checksum: serving"];
    let (outcome, (before_force, outputs)) =
        boot_and_drive("slot-demo", "tile-slot-demo.log", Vec::new(), PORT, ready, TIMEOUT, move |port, serial| {
            drive_the_slot(port, serial, &scratch)
        });
    for bad in ["KERNEL EXCEPTION", "panic at"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    // Until the forced promotion, the client saw only right answers and no errors.
    let rounds: Vec<&str> =
        outcome.serial[..before_force.min(outcome.serial.len())].lines().filter(|line| line.contains("@event checksum.round")).collect();
    assert!(rounds.len() >= 4, "too few client rounds before the forced promotion: {rounds:?}");
    for round in &rounds {
        let fields: Vec<&str> = round.split_whitespace().collect();
        assert!(fields.contains(&"wrong=0") && fields.contains(&"errors=0"), "the client saw a wrong answer or an error: {round}");
    }
    // Refusals, rejections, the promotion and both rollbacks are in the log lines and the
    // verified update log.
    outcome.assert_serial_contains("@event slot.refused slot=checksum kind=Capabilities");
    outcome.assert_serial_contains("@event slot.refused slot=checksum kind=Bundle");
    outcome.assert_serial_contains("reason=CircuitBreaker");
    let verified = &outputs[outputs.len() - 2];
    assert!(verified.contains("(signature verified)"), "{verified}");
    for kind in ["install", "promote", "rollback"] {
        assert!(
            verified.lines().any(|line| line.split_whitespace().nth(1) == Some(kind)),
            "no {kind} entry in the verified log:\n{verified}"
        );
    }
    assert!(outputs[outputs.len() - 1].contains("consistency"), "{}", outputs[outputs.len() - 1]);
    // The manager's stack high-water mark (`tileos_sys::stack`): its start's (the trusted
    // keys' parsing) once, then the serving's at each status request, after installs,
    // refusals, a promotion and rollbacks: the serving part stays within half the stack.
    let (used, size) = host::assert_manager_stack_within_half(&outcome.serial, SLOT);
    eprintln!("slot_demo: the manager's stack high-water mark serving: {used} of {size} bytes");
}

/// The update log on the store survives a reboot: two boots of scenario `slot-store` on one
/// disk image; the log the first boot wrote (an install and a refusal) verifies after the
/// second, consistent with the head the host verified before the reboot.
#[test]
fn the_update_log_on_the_store_verifies_after_a_reboot() {
    assert_bundles();
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let scratch = images.logs.join("slot-store-scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let disk = images.logs.join("slot-store-disk.img");
    std::fs::File::create(&disk).and_then(|file| file.set_len(16 << 20)).expect("a fresh disk image");
    let state = scratch.join("heads.json");
    let ready = &["update-agent: ready", "slot checksum: serving"];
    let verify =
        |port: u16, state: PathBuf| tilectl(port, Tilectl::Log { slot: SLOT.into(), verify: true, log_key: None, state: Some(state) });
    let first_state = state.clone();
    let (first, before) =
        boot_and_drive("slot-store", "tile-slot-store.log", tileos_qemu::nvme_disk_args(&disk), PORT, ready, TIMEOUT, move |port, _| {
            installed_module(&install_bundle(port, SLOT, "checksum-fast")?)?;
            match install_bundle(port, SLOT, "checksum-wrongkey") {
                Err(failure) if failure.contains("Bundle:") => {}
                other => return Err(format!("checksum-wrongkey: expected a refusal, got {other:?}")),
            }
            verify(port, first_state)
        });
    first.assert_serial_contains("slot-manager: slot checksum: serving, log of 0 entries");
    assert!(before.contains("update log of 2 entries") && before.contains("consistency: first head verified"), "{before}");
    let (second, after) =
        boot_and_drive("slot-store", "tile-slot-store-2.log", tileos_qemu::nvme_disk_args(&disk), PORT, ready, TIMEOUT, move |port, _| {
            verify(port, state)
        });
    second.assert_serial_contains("slot-manager: slot checksum: serving, log of 2 entries");
    assert!(after.contains("update log of 2 entries") && after.contains("(signature verified)"), "{after}");
    assert!(after.contains("consistency: extends the head of 2 entries verified before"), "{after}");
    for outcome in [&first, &second] {
        assert!(!outcome.serial.contains("panic at"), "{}", outcome.tail(40));
    }
}
