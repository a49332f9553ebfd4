//! Boot test of the timer domain (scenario `timer.toml`, docs/timer.md): an honest client's
//! 60 deadlines (5–250 ms) wake it on time while a hostile client sends malformed messages,
//! negative and huge durations, an absolute deadline past the bound and 2,000 re-arms, and
//! has the supervisor restart the timer; a stranger whose badge has no notification is
//! refused `UnknownClient`. Every hostile call gets its precise answer, the timer serves
//! on (also after its restart, which wakes every client once), and the honest client is
//! never woken early and at most [`MAX_LATE_MICROS`] late.

use std::time::Duration;
use tileos_qemu::images::{scenario_archive, test_images};
use tileos_qemu::{Machine, run_until};

/// The latest an honest deadline may wake its client, µs: the RTC's finest period
/// (976 µs) plus room for QEMU's timers and the host's scheduling under TCG.
const MAX_LATE_MICROS: u64 = 20_000;
/// The hostile client's checks (`timer-hostile.check` lines).
const HOSTILE_CHECKS: usize = 29;

#[test]
fn the_timer_answers_hostile_clients_precisely_and_wakes_an_honest_one_on_time() {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let boot = images.tile_boot(scenario_archive("timer"));
    let log = images.logs.join("tile-timer.log");
    std::fs::create_dir_all(&images.logs).expect("log directory");
    std::fs::write(&log, b"").expect("empty the serial log");
    let markers = ["@event timer-honest.done", "@event timer-hostile.done", "@event timer-stranger.done"];
    let outcome = run_until(&Machine::default(), &boot, &log, Duration::from_secs(180), &markers).unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    for bad in ["KERNEL EXCEPTION", "panic at", "domain.stopped domain=timer generation=0 fault"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    // The hostile client: every step answered as expected.
    let checks = outcome.events("timer-hostile.check");
    let wrong: Vec<_> = checks.iter().filter(|c| c.get("verdict") != Some("ok")).map(|c| &c.line).collect();
    assert!(wrong.is_empty(), "hostile checks failed: {wrong:?}\n{}", outcome.tail(60));
    assert_eq!(checks.len(), HOSTILE_CHECKS, "{}", outcome.tail(60));
    outcome.assert_event("timer-hostile.done", &[("failures", "0")]);
    // The stranger: refused, answered.
    let checks = outcome.events("timer-stranger.check");
    assert_eq!(checks.len(), 3, "{}", outcome.tail(60));
    assert!(checks.iter().all(|c| c.get("verdict") == Some("ok")), "{:?}", checks.iter().map(|c| &c.line).collect::<Vec<_>>());
    outcome.assert_event("timer.refused", &[("badge", "34"), ("error", "UnknownClient")]);
    outcome.assert_event("timer.refused", &[("badge", "33"), ("error", "TooFar")]);
    outcome.assert_event("timer.refused", &[("badge", "33"), ("error", "Malformed")]);
    // The restart: a new generation, which woke both clients with a notification once.
    outcome.assert_event("domain.restarted", &[("domain", "timer"), ("generation", "1")]);
    outcome.assert_event("timer.ready", &[("generation", "1"), ("woken", "2")]);
    // The honest client: every round armed and woken, never early, on time.
    let done = &outcome.events("timer-honest.done")[0];
    assert_eq!(done.get("rounds"), Some("60"), "{}", done.line);
    assert_eq!(done.get("failed"), Some("0"), "{}", done.line);
    let woken = outcome.events("timer-honest.woken");
    assert_eq!(woken.len(), 60, "{}", outcome.tail(60));
    let late: Vec<u64> = woken.iter().map(|w| w.get("late_micros").and_then(|v| v.parse().ok()).expect("late_micros")).collect();
    let max = late.iter().copied().max().unwrap_or(0);
    assert!(max <= MAX_LATE_MICROS, "an honest deadline woke its client {max} µs late: {}", done.line);
    println!("timer: honest lateness over 60 deadlines: {}", done.line);
    // The interrupt is switched off whenever no deadline is armed.
    assert!(!outcome.events("timer.off").is_empty(), "the timer never switched its interrupt off:\n{}", outcome.tail(60));
}
