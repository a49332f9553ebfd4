//! A promotion's and a rollback's steps below a domain that never idles, on a booted tile
//! (scenario `tests/scenarios/slot-busy.toml`: the demo slot with `step_priority = 72` and
//! `busy`, the idle-counter loop, at 75 under a budget of 5 ms in 50). The manager lowers its
//! own thread to the step priority for each step and receives no message until it runs
//! again (docs/slots.md, "A promotion transfers before its switch"); the description check
//! requires a budget of every domain between the step priority and the manager's, so busy
//! takes its budget and the steps and messages get the rest.
//!
//! Checked: `checksum-fast` is promoted by hand on the policy's evidence (not forced) and
//! rolled back by hand while busy spins, the promotion not abandoned
//! (`slot.promotion-abandoned`); busy started under its budget and is still running at the
//! end, never restarted; every client round `wrong=0 errors=0`, at least one after the
//! rollback.

use std::path::Path;
use std::time::{Duration, Instant};

use tileos_qemu::host::{self, boot_and_drive, install_bundle, installed_module};
use tileos_tilectl::Command as Tilectl;
use tileos_tilectl_wire::PORT;

const TIMEOUT: Duration = Duration::from_secs(300);
const SLOT: &str = "checksum";
const ROUND: &str = "@event checksum.round client=checksum-client ";

fn tilectl(port: u16, command: Tilectl) -> Result<String, String> {
    host::tilectl(port, command, Duration::from_secs(30))
}

fn wait_status(port: u16, what: &str, seconds: u64, done: impl Fn(&str) -> bool) -> Result<String, String> {
    host::wait_status(port, what, seconds, Duration::from_millis(300), done)
}

/// The host's side: install, promote on the evidence, roll back, then a client round; the
/// serial log's length at the rollback and the last status.
fn drive(port: u16, serial: &Path) -> Result<(usize, String), String> {
    let fast = installed_module(&install_bundle(port, SLOT, "checksum-fast")?)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match tilectl(port, Tilectl::Promote { slot: SLOT.into(), module: fast, force: false }) {
            Ok(_) => break,
            Err(failure) if failure.contains("Policy") && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(500)),
            Err(failure) => return Err(format!("promotion of checksum-fast (module {fast}): {failure}")),
        }
    }
    wait_status(port, "checksum-fast serving", 30, |status| status.contains(&format!("module {fast} serving")))?;
    let rollback_at = host::serial_text(serial).len();
    tilectl(port, Tilectl::Rollback { slot: SLOT.into() })?;
    wait_status(port, "checksum-v1 serving again", 30, |status| status.contains("module 0 serving"))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !host::serial_text(serial).get(rollback_at..).unwrap_or("").contains(ROUND) {
        if Instant::now() > deadline {
            return Err("no client round within 120 s of the rollback".into());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok((rollback_at, tilectl(port, Tilectl::Status)?))
}

#[test]
fn promotion_and_rollback_steps_below_a_budgeted_busy_domain_complete_and_lose_nothing() {
    assert!(
        host::bundles_dir().join("checksum-fast.bundle").is_file(),
        "{} has no bundles: run `make bundles` (make test does)",
        host::bundles_dir().display()
    );
    let ready = &["update-agent: ready", "slot checksum: serving"];
    let (outcome, (rollback_at, status)) = boot_and_drive("slot-busy", "tile-slot-busy.log", Vec::new(), PORT, ready, TIMEOUT, drive);
    let serial = &outcome.serial;
    for bad in ["KERNEL EXCEPTION", "panic at", "@event slot.promotion-abandoned"] {
        assert!(!serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    assert!(
        serial.lines().any(|line| line.starts_with("@event domain.started domain=busy ") && line.contains(" budget=5ms/50ms ")),
        "busy never started under its budget:\n{}",
        outcome.tail(60)
    );
    let busy = status.lines().find(|line| line.trim_start().starts_with("busy ")).unwrap_or_default();
    assert!(busy.contains("running") && busy.contains("restarts 0"), "busy: {busy:?}\n{status}");
    assert!(
        serial.contains("from=promotable to=promoted reason=Promoted(Manual)"),
        "not promoted by hand on the policy's evidence:\n{}",
        outcome.tail(60)
    );
    assert!(serial.contains("to=rolled-back reason=ManualRollback"), "not rolled back by hand:\n{}", outcome.tail(60));
    let rounds: Vec<(usize, &str)> = serial.match_indices(ROUND).map(|(at, _)| (at, serial[at..].lines().next().unwrap_or(""))).collect();
    for (_, round) in &rounds {
        let fields: Vec<&str> = round.split_whitespace().collect();
        assert!(fields.contains(&"wrong=0") && fields.contains(&"errors=0"), "the client saw a wrong answer or an error: {round}");
    }
    assert!(rounds.iter().any(|(at, _)| *at > rollback_at), "no client round after the rollback");
    eprintln!("slot_busy: {} client rounds, all right\n{status}", rounds.len());
}
