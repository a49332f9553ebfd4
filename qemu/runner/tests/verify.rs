//! Boot test of the verify domain (docs/inference.md "Boot tests"), scenario `verify`,
//! booted twice with the same disk: a hostile judge's answers are judged and logged, its
//! entries and fragments check on the client against the signed head and the knowledge
//! root, every hostile call gets its precise refusal (also after the supervisor restarted
//! the verify domain, whose ledger is read back from the store), a stranger's badge may not
//! judge, and on the second boot the ledger holds the first boot's entries. Plane B audits
//! and standings with bad names or counts, and challenges that cannot start, are refused precisely (no inference domain here,
//! so no audit is applied: `tilectl audit` in the `ask` boot test applies them).

use std::path::Path;
use std::time::Duration;

use tileos_qemu::images::{fresh_disk, scenario_archive, test_images};
use tileos_qemu::{Machine, RunOutcome, run_until};

const TIMEOUT: Duration = Duration::from_secs(120);

fn boot(disk: &Path, log: &str) -> RunOutcome {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let machine = Machine { extra_args: tileos_qemu::nvme_disk_args(disk), ..Machine::default() };
    let markers = ["@event verifyhostile.done", "@event verifyhostile.stranger-done"];
    let outcome = run_until(&machine, &images.tile_boot(scenario_archive("verify")), &images.logs.join(log), TIMEOUT, &markers)
        .unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    for bad in ["FAILED", "KERNEL EXCEPTION", "panic at"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(80));
    }
    outcome
}

const CHECKS: [&str; 57] = [
    "right-verified",
    "wrong-refuted",
    "t3-needs-human",
    "entry-checked-by-client",
    "write-accepted",
    "retrieved-proof-checks",
    "tampered-leaf-fails",
    "tampered-proof-fails",
    "replayed-write",
    "forged-write",
    "altered-write",
    "unauthorised-write",
    "malformed-write",
    "unknown-topic",
    "t2-panel-incomplete",
    "not-checkable",
    "not-routed",
    "missing-answer",
    "answered-twice",
    "empty-query",
    "no-entry",
    "no-proof",
    "bad-offset",
    "no-fragment",
    "ask-without-inference",
    "accept-without-inference",
    "hostile-unknown-label",
    "hostile-length-beyond-message",
    "hostile-negative-length",
    "hostile-undecodable",
    "hostile-oversized-query",
    "audit-unknown-specialist",
    "audit-not-its-topic",
    "audit-zero-canaries",
    "audit-nine-canaries",
    "audit-without-inference",
    "standing-unknown-specialist",
    "hostile-audit-long-name",
    "challenge-unknown-slot",
    "challenge-class-c-slot",
    "challenge-not-accepted",
    "challenge-state-none",
    "hostile-challenge-long-name",
    "standing-untouched",
    "nothing-logged-by-refusals",
    "restart-verify",
    "ledger-survives-restart",
    "entry-same-after-restart",
    "serves-after-restart",
    "refused-after-restart",
    "audit-refused-after-restart",
    "challenge-refused-after-restart",
    "stranger-judge-refused",
    "stranger-audit-refused",
    "stranger-reads-standing",
    "stranger-challenge-refused",
    "stranger-reads-challenge-state",
];

fn assert_checks(outcome: &RunOutcome) {
    for what in CHECKS {
        outcome.assert_event("verifyhostile.check", &[("what", what), ("result", "ok")]);
    }
    outcome.assert_event("verifyhostile.stranger", &[("badge", "113")]);
    // The verify domain restarted once (the judge had it restarted) and logged refusals.
    outcome.assert_event("verify.ready", &[("generation", "1")]);
    for error in [
        "Route",
        "NotCheckable",
        "Answers",
        "Write",
        "NoEntry",
        "BadOffset",
        "NoFragment",
        "NoInference",
        "Audit",
        "Challenge",
        "NotAccepted",
    ] {
        outcome.assert_event("verify.refused", &[("badge", "112"), ("error", error)]);
    }
    outcome.assert_event("verify.refused", &[("badge", "113"), ("error", "NotPermitted")]);
}

#[test]
fn the_verify_domain_judges_logs_and_proves_refuses_hostile_calls_and_keeps_its_ledger_across_restarts_and_reboots() {
    let disk = fresh_disk("verify-disk.img", 32 << 20);
    let first = boot(&disk, "tile-verify.log");
    assert_checks(&first);
    first.assert_event("verifyhostile.start", &[("ledger", "0"), ("memory", "0")]);
    // Three entries before the restart, one after.
    first.assert_event("verifyhostile.done", &[("ledger", "4")]);
    let second = boot(&disk, "tile-verify-2.log");
    assert_checks(&second);
    second.assert_event("verify.ready", &[("generation", "0"), ("ledger", "4"), ("memory", "1")]);
    second.assert_event("verifyhostile.start", &[("ledger", "4"), ("memory", "1")]);
    second.assert_event("verifyhostile.done", &[("ledger", "8")]);
}
