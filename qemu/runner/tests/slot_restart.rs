//! A restart of the slot manager on a booted tile (scenario
//! `tests/scenarios/slot-restart.toml`: the demo slot with its update log on the store, plus
//! the test domain `chaos-checksum.manager`, which asks the supervisor to kill and restart
//! the slot's manager 8 s after it starts).
//!
//! The kill comes 8 s after the chaos domain starts, while the tile is still starting (the
//! first manager may not have served yet), so the acknowledged entry comes from a boot
//! before: the first boot (scenario `slot-store`, no chaos) installs checksum-fast
//! (acknowledged: its entry is persisted on the disk's store). The second boot, on the same
//! disk, restarts the manager; the host waits for the restarted manager (generation 1),
//! installs again, and verifies the update log with `tilectl log --verify`: the install
//! acknowledged in the first boot, then the restart's `ManagerStarted` entry (generation 1,
//! one entry reloaded), then the install after it; the client's rounds after the restart go
//! on with no wrong answer and no error.

use std::path::Path;
use std::time::{Duration, Instant};

use tileos_qemu::host::{self, boot_and_drive, install_bundle, installed_module};
use tileos_qemu::images::test_images;
use tileos_tilectl::Command as Tilectl;
use tileos_tilectl_wire::PORT;

const TIMEOUT: Duration = Duration::from_secs(300);
const SLOT: &str = "checksum";
/// The restarted manager's line (glue `slot-manager`: "serving, log of N entries (generation G)").
const RESTARTED: &str = "(generation 1)";

/// The client's `checksum.round` lines of `serial` (whole lines only).
fn rounds(serial: &str) -> Vec<String> {
    let whole = serial.rfind('\n').map_or("", |end| &serial[..end]);
    whole.lines().filter(|line| line.starts_with("@event checksum.round ")).map(str::to_owned).collect()
}

/// The second boot's host side: the restart awaited, an install after it, two client rounds
/// after the restart, the log verified. Returns the verified log's text and the client's
/// rounds after the restart.
fn drive(port: u16, serial: &Path) -> Result<(String, Vec<String>), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !host::serial_text(serial).contains(RESTARTED) {
        if Instant::now() > deadline {
            return Err("no restarted slot manager (generation 1) within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let at_restart = host::serial_text(serial).find(RESTARTED).unwrap_or(0);
    let second = installed_module(&install_bundle(port, SLOT, "checksum-fast")?)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let later = loop {
        let later = rounds(host::serial_text(serial).get(at_restart..).unwrap_or(""));
        if later.len() >= 2 {
            break later;
        }
        if Instant::now() > deadline {
            return Err(format!("the client's rounds stopped after the restart ({} since)", later.len()));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // A state file of its own (not the user's `~/.tileos`): the first head this test verifies.
    let state = serial.with_file_name("slot-restart-heads.json");
    let _ = std::fs::remove_file(&state);
    let log =
        host::tilectl(port, Tilectl::Log { slot: SLOT.into(), verify: true, log_key: None, state: Some(state) }, Duration::from_secs(60))
            .map_err(|failure| format!("tilectl log --verify: {failure}"))?;
    eprintln!("slot_restart: module {second} installed after the restart");
    Ok((log, later))
}

#[test]
fn a_restarted_slot_manager_keeps_its_log_logs_the_restart_and_serves_on() {
    assert!(host::bundles_dir().join("checksum-fast.bundle").is_file(), "no bundles: run `make bundles` (make test does)");
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let disk = images.logs.join("slot-restart-disk.img");
    std::fs::File::create(&disk).and_then(|file| file.set_len(16 << 20)).expect("a fresh disk image");
    let ready = &["update-agent: ready", "slot checksum: serving"];
    // The first boot: one install, acknowledged, on the store.
    let (first, installed) =
        boot_and_drive("slot-store", "tile-slot-restart-1.log", tileos_qemu::nvme_disk_args(&disk), PORT, ready, TIMEOUT, |port, _| {
            installed_module(&install_bundle(port, SLOT, "checksum-fast")?)
        });
    assert_eq!(installed, 1, "{}", first.tail(20));
    first.assert_serial_contains("slot-manager: slot checksum: serving, log of 0 entries (generation 0)");
    // The second boot: the manager restarted by the chaos domain.
    let (outcome, (log, later)) =
        boot_and_drive("slot-restart", "tile-slot-restart.log", tileos_qemu::nvme_disk_args(&disk), PORT, ready, TIMEOUT, drive);
    for bad in ["KERNEL EXCEPTION", "panic at", "panicked"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    // The supervisor restarted the manager at the chaos domain's request.
    outcome.assert_serial_contains("chaos-checksum.manager: supervisor answered Restarted");
    outcome.assert_serial_contains("slot-manager: slot checksum: serving, log of 2 entries (generation 1)");
    // The verified log: the install before, the restart's entry, the install after.
    assert!(log.contains("update log of 3 entries") && log.contains("(signature verified)"), "{log}");
    let entries: Vec<&str> = log.lines().skip(1).collect();
    assert!(entries.first().is_some_and(|e| e.contains(" install ") && e.contains("installed as module 1")), "{log}");
    assert!(
        entries.get(1).is_some_and(|e| e.contains(" manager-started ") && e.contains("generation 1, 1 entries reloaded")),
        "no ManagerStarted entry after the first install:\n{log}"
    );
    assert!(entries.get(2).is_some_and(|e| e.contains(" install ") && e.contains("installed as module 1")), "{log}");
    for round in rounds(&outcome.serial).iter().chain(later.iter()) {
        let fields: Vec<&str> = round.split_whitespace().collect();
        assert!(fields.contains(&"wrong=0") && fields.contains(&"errors=0"), "the client saw a wrong answer or an error: {round}");
    }
    eprintln!("slot_restart: the verified log:\n{log}");
}
