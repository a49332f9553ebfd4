//! Boot tests of the module runtime (`tileos_sys::module::run`, docs/slots.md, "Modules:
//! the runtime") and the demo slot's programs, on the real kernel: a checksum module runs
//! in a one-seat stand-in for the slot manager (`checksum-seat-harness`, scenarios
//! `seat-harness*.toml`), which checks the module's export, import, refusal of an unknown
//! state version and answer to a malformed request, then forwards `checksum-client`'s
//! requests to it.

use std::time::Duration;
use tileos_qemu::images::{scenario_archive, test_images};
use tileos_qemu::{Machine, RunOutcome, run_until};

const TIMEOUT: Duration = Duration::from_secs(180);

fn boot(name: &str, markers: &[&str]) -> RunOutcome {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let log = images.logs.join(format!("tile-{name}.log"));
    std::fs::create_dir_all(&images.logs).expect("log directory");
    std::fs::write(&log, b"").expect("empty the serial log");
    let outcome = run_until(&Machine::default(), &images.tile_boot(scenario_archive(name)), &log, TIMEOUT, markers)
        .unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    outcome
}

/// The seat interface as the harness saw it: version-1 state exported, imported back
/// (code 0), a version-99 blob refused as unknown (code 1), a malformed request answered
/// with the ERROR label and code 3, as an rpc server answers.
const CHECKED: &[(&str, &str)] = &[
    ("export_version", "1"),
    ("import_back", "0"),
    ("import_unknown_version", "1"),
    ("malformed_label", "0x101"),
    ("malformed_error", "3"),
    ("answered_as_rpc", "true"),
];

#[test]
fn a_module_speaks_the_seat_interface_and_serves_every_request_right() {
    let outcome = boot("seat-harness", &["@event seat-harness.checked", "@event checksum.round client=checksum-client n=2000 "]);
    outcome.assert_event("seat-harness.checked", CHECKED);
    let rounds = outcome.events("checksum.round");
    assert!(!rounds.is_empty(), "{}", outcome.tail(30));
    for round in &rounds {
        assert!(round.has(&[("wrong", "0"), ("errors", "0")]), "{}\n{}", round.line, outcome.tail(30));
    }
    assert!(outcome.events("checksum.wrong").is_empty(), "{}", outcome.tail(30));
}

#[test]
fn the_client_sees_and_reports_the_wrong_modules_answers() {
    let outcome = boot("seat-harness-wrong", &["@event seat-harness.checked", "@event checksum.round client=checksum-client n=1000 "]);
    outcome.assert_event("seat-harness.checked", CHECKED);
    let wrong = outcome.events("checksum.wrong");
    assert!(!wrong.is_empty(), "{}", outcome.tail(30));
    // Only inputs starting with 0x42 are answered wrongly.
    for event in &wrong {
        assert!(event.has(&[("trigger", "true")]), "{}", event.line);
    }
    let round = &outcome.events("checksum.round")[0];
    assert!(!round.has(&[("wrong", "0")]), "{}", round.line);
}

#[test]
fn the_crashing_module_faults_on_its_51st_request() {
    let outcome = boot("seat-harness-crash", &["@event domain.stopped domain=checksum "]);
    outcome.assert_event("seat-harness.checked", CHECKED);
    outcome.assert_event("domain.stopped", &[("domain", "checksum"), ("fault", "page-fault"), ("address", "0x10")]);
    assert!(outcome.serial.contains("checksum: faulting on request 51 (deliberately)"), "{}", outcome.tail(30));
}
