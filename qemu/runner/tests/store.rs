//! Boot tests of the store (docs/store.md):
//! - scenario `store`: an honest client (store-demo) is served while a hostile one attacks
//!   the protocol and a client without a namespace is refused; data survives a reboot;
//! - scenario `store-fault`: the NVMe driver, the store and its client are killed in turn
//!   while the client writes; nothing acknowledged as durable is lost;
//! - the power-cut torture (`make torture`) in a short fixed-seed run.

use std::path::Path;
use std::time::Duration;
use tileos_qemu::images::{fresh_disk, scenario_archive, test_images};
use tileos_qemu::torture::{Config, check_log, run};
use tileos_qemu::{Machine, RunOutcome, run_until};

const TIMEOUT: Duration = Duration::from_secs(240);

fn with_disk(disk: &Path) -> Machine {
    Machine { extra_args: tileos_qemu::nvme_disk_args(disk), ..Machine::default() }
}

fn boot(scenario: &str, disk: &Path, log: &str, markers: &[&str]) -> RunOutcome {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let outcome = run_until(&with_disk(disk), &images.tile_boot(scenario_archive(scenario)), &images.logs.join(log), TIMEOUT, markers)
        .unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    for bad in ["FAILED", "KERNEL EXCEPTION", "panic at", "ALLOWED"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    outcome
}

#[test]
fn the_store_serves_an_honest_client_refuses_a_hostile_one_precisely_and_keeps_data_across_a_reboot() {
    let disk = fresh_disk("store-disk.img", 32 << 20);
    let markers = ["store-demo: done", "store-hostile: done", "store-stranger: done"];
    let first = boot("store", &disk, "tile-store.log", &markers);
    first.assert_event("store.formatted", &[]);
    first.assert_serial_contains("store-demo: this tile has booted 1 times with this disk");
    first.assert_serial_contains("store-demo: keys under fruit/: [\"fruit/apple\", \"fruit/pear\"]");
    first.assert_serial_contains("store-demo: greeting reads back \"hello from the store\"");
    first.assert_serial_contains("store-demo: 4096 KiB value stored durably and read back intact");
    first.assert_serial_contains("store-demo: fruit/pear deleted");
    let attempts = first.events("store-hostile.attempt");
    for name in [
        "malformed-message",
        "key-outside-region",
        "overflowing-span",
        "value-outside-region",
        "empty-key",
        "oversized-key",
        "oversized-upload",
        "part-without-upload",
        "early-commit",
        "part-past-length",
        "batch-of-none",
        "batch-of-thousands",
        "garbage-batch",
        "read-into-outside",
        "other-namespace-key",
        "list-everything",
        "fifth-key",
        "over-byte-quota",
        "quota-left-nothing",
        "stranger-usage",
        "stranger-sync",
        "stranger-get",
        "stranger-list",
    ] {
        assert!(
            attempts.iter().any(|event| event.has(&[("name", name), ("verdict", "refused")])),
            "no refused attempt {name}:\n{}",
            first.tail(80)
        );
    }
    assert!(attempts.iter().all(|event| event.get("verdict") == Some("refused")));
    // The second boot finds the store (no format) and the demo's boot counter.
    let second = boot("store", &disk, "tile-store-2.log", &markers);
    assert!(second.events("store.formatted").is_empty(), "{}", second.tail(40));
    second.assert_event("store.mounted", &[("discarded", "none")]);
    second.assert_serial_contains("store-demo: this tile has booted 2 times with this disk");
}

#[test]
fn the_disk_driver_the_store_and_its_client_restart_without_losing_acknowledged_writes() {
    let disk = fresh_disk("store-fault-disk.img", 16 << 20);
    let outcome = boot("store-fault", &disk, "tile-store-fault.log", &["store-chaos: done"]);
    for victim in ["nvme", "store", "store-writer"] {
        outcome.assert_serial_contains(&format!("store-chaos: \"{victim}\": Restarted"));
    }
    // The writer checked its data at its first start and again after its restart.
    assert!(outcome.events("torture.present").len() >= 2, "{}", outcome.tail(60));
    let report = check_log(&outcome.serial);
    assert!(report.passed(), "{report}\n{}", outcome.tail(60));
    assert!(report.verified > 0 && report.acknowledged > 50, "{report}");
}

#[test]
fn power_cuts_at_random_moments_lose_no_acknowledged_write() {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let disk = images.logs.join("torture-test-disk.img");
    let _ = std::fs::remove_file(&disk);
    let config =
        Config { cycles: 10, seed: 1, disk, serial_log: images.logs.join("torture-test.log"), boot_timeout: Duration::from_secs(120) };
    let report = run(&config, &Machine::default(), &images.tile_boot(scenario_archive("torture")), |line| eprintln!("{line}"))
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(report.passed(), "{report}");
    assert_eq!(report.cycles, 10);
    assert!(report.verified > 0 && report.durable > 0, "{report}");
}
