//! Boot test of a slot's topology and its manager's seat authority (docs/slots.md): the
//! scenario `slots` declares a slot whose incumbent runs the seat-interface test module
//! seat-probe and whose manager is the test stand-in seat-tester. The image builder made the
//! manager, the seats and the seat-faults notification; the root server starts the manager
//! and seat 0, leaves seats 1..=3 empty, and serves the manager's seat requests: every bad
//! input refused precisely, modules started from fresh memory (a new generation each time),
//! stopped, and a faulting module stopped for good with the manager told; a supervisor
//! client that manages no slot is refused.

use std::time::Duration;
use tileos_qemu::images::{scenario_archive, test_images};
use tileos_qemu::{Machine, run_until};

const TIMEOUT: Duration = Duration::from_secs(180);

/// Every step seat-tester checks (`tester.check name=…`), in its order.
const STEPS: &[&str] = &[
    "incumbent-ready",
    "no-such-seat",
    "restart-no-such-seat",
    "restart-never-started",
    "begin-restart-never-started",
    "seat3-no-restarts",
    "too-large-load",
    "chunk-without-load",
    "load",
    "chunk-out-of-order",
    "chunk-wrong-seat",
    "chunk",
    "start-before-complete",
    "chunk-past-length",
    "last-chunk",
    "garbage-elf",
    "staging-consumed",
    "truncated-staged",
    "truncated-elf",
    "oversized-staged",
    "oversized-segments",
    "no-lineage",
    "no-fallback",
    "stop-empty",
    "schedule-empty",
    "start-while-running",
    "serving-seat-at-boot",
    "serving-no-such-seat",
    "serving-empty",
    "serving-seat-after-refusals",
    "start-incumbent",
    "seat1-ready",
    "schedule-serving",
    "schedule-shadow",
    "serving-running",
    "serving-seat-recorded",
    "serving-settled",
    "serving-seat-settled",
    "start-seat1-again",
    "stop",
    "stop-again",
    "serving-seat-after-stop",
    "serving-stopped",
    "serving-incumbent",
    "serving-seat-incumbent",
    "seat1-started-no-restart",
    "restart-fresh",
    "seat1-restarted-once",
    "seat1-ready-again",
    "seat1-fault-signalled",
    "seat1-not-restarted",
    "stop-faulted",
    "continue-nothing",
    "begin",
    "continue-wrong-seat",
    "continue-no-such-seat",
    "schedule-building",
    "stop-while-building",
    "continue-after-stop",
    "begin-again",
    "load-other-seat-while-building",
    "continue-after-load",
    "begin-third",
    "start-other-seat-while-building",
    "continue-after-start",
    "begin-fourth",
    "continue",
    "begin-while-building",
    "built-in-pieces",
    "continue-after-start-done",
    "seat1-restarted-twice",
    "schedule-shadow-after-pieces",
    "schedule-start",
    "seat1-ready-pieces",
    "seat1-pieces-fault-signalled",
    "module-staged",
    "staged-module-started",
    "staged-module-faulted",
    "staged-module-again",
    "seat2-restarted-once",
    "module-staged-again",
    "staged-module-faulted-again",
    "nv-lineages-ready",
    "nv-lineage-running",
    "nv-no-lineage-3",
    "nv-spare-restart-never-started",
    "nv-spare-lineage",
    "nv-spare-ready",
    "nv-spare-stop",
    "nv-spare-fallback",
    "nv-fallback-ready",
    "nv-spare-no-restarts",
    "nv-fallback-fault-signalled",
];

#[test]
fn a_slot_manager_loads_starts_stops_seats_and_hears_of_their_faults() {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    std::fs::create_dir_all(&images.logs).expect("log directory");
    let log = images.logs.join("tile-slots.log");
    std::fs::write(&log, b"").expect("empty the serial log");
    let outcome = run_until(
        &Machine::default(),
        &images.tile_boot(scenario_archive("slots")),
        &log,
        TIMEOUT,
        &["@event tester.done slot=probe-slot", "@event tester.done slot=vote", "@event intruder.seat-start-restart"],
    )
    .unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    for bad in ["KERNEL EXCEPTION", "panic at", "panicked"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    // The topology: the manager and seat 0 run, seats 1..=3 are left empty.
    outcome.assert_event("domain.started", &[("domain", "probe-slot.manager")]);
    outcome.assert_event("domain.started", &[("domain", "probe-svc")]);
    for seat in 1..=3 {
        let (seat, domain) = (seat.to_string(), format!("probe-slot.seat{seat}"));
        outcome.assert_event("seat.empty", &[("slot", "probe-slot"), ("seat", &seat), ("domain", &domain)]);
    }
    outcome.assert_event("probe.ready", &[("domain", "probe-svc"), ("generation", "0")]);
    // Every step as expected.
    let checks = outcome.events("tester.check");
    for &step in STEPS {
        assert!(checks.iter().any(|event| event.has(&[("name", step), ("verdict", "ok")])), "step {step} not ok:\n{}", outcome.tail(80));
    }
    assert!(!checks.iter().any(|event| event.has(&[("verdict", "wrong")])), "a step went wrong:\n{}", outcome.tail(80));
    outcome.assert_event("tester.done", &[("slot", "probe-slot"), ("failures", "0")]);
    outcome.assert_event("tester.done", &[("slot", "vote"), ("failures", "0")]);
    // A supervisor client that manages no slot is refused.
    outcome.assert_event("intruder.seat-stop", &[("domain", "intruder"), ("verdict", "refused")]);
    outcome.assert_event("seat.refused", &[("client", "intruder"), ("reason", "NotSlotManager")]);
    outcome.assert_event("intruder.seat-restart", &[("domain", "intruder"), ("verdict", "refused")]);
    // Nor may it record the serving seat or read it (SeatServing, ServingSeat).
    outcome.assert_event("intruder.seat-serving", &[("domain", "intruder"), ("verdict", "refused")]);
    outcome.assert_event("intruder.serving-seat", &[("domain", "intruder"), ("verdict", "refused")]);
    outcome.assert_event("intruder.seat-start-restart", &[("domain", "intruder"), ("verdict", "refused")]);
    // The root server's side: refusals, starts with fresh generations, the stop, the faults.
    for reason in [
        "NoSuchSeat",
        "ModuleTooLarge",
        "ChunkOutOfOrder",
        "StagingIncomplete",
        "BadProgram",
        "NoSuchProgram",
        "SeatRunning",
        "NotBuilding",
        "NeverStarted",
    ] {
        let refused = outcome.events("seat.refused");
        assert!(
            refused.iter().any(|event| event.get("reason") == Some(reason)),
            "no seat.refused with reason {reason}:\n{}",
            outcome.tail(80)
        );
    }
    outcome.assert_event("seat.stopped", &[("slot", "probe-slot"), ("seat", "1"), ("generation", "0")]);
    outcome.assert_event(
        "seat.started",
        &[("slot", "probe-slot"), ("seat", "1"), ("generation", "0"), ("restart", "false"), ("restarts", "0")],
    );
    outcome.assert_event(
        "seat.started",
        &[("slot", "probe-slot"), ("seat", "1"), ("generation", "1"), ("restart", "true"), ("restarts", "1")],
    );
    outcome.assert_event("probe.ready", &[("domain", "probe-slot.seat1"), ("generation", "1")]);
    outcome.assert_event("seat.faulted", &[("slot", "probe-slot"), ("seat", "1"), ("fault", "exception"), ("generation", "1")]);
    // The build in pieces: four abandoned (a stop, another seat's load, another seat's start, a begin
    // while building, each once), what they made destroyed, then one started.
    let abandoned = outcome.events("seat.build-abandoned");
    assert_eq!(abandoned.iter().filter(|event| event.has(&[("slot", "probe-slot"), ("seat", "1")])).count(), 4, "{}", outcome.tail(80));
    outcome.assert_event(
        "seat.started",
        &[("slot", "probe-slot"), ("seat", "1"), ("generation", "2"), ("restart", "true"), ("restarts", "2")],
    );
    outcome.assert_event("seat.faulted", &[("slot", "probe-slot"), ("seat", "1"), ("fault", "exception"), ("generation", "2")]);
    outcome.assert_event("seat.started", &[("slot", "probe-slot"), ("seat", "2"), ("generation", "0")]);
    outcome.assert_event("seat.faulted", &[("slot", "probe-slot"), ("seat", "2"), ("fault", "exception"), ("generation", "0")]);
    outcome.assert_event(
        "seat.started",
        &[("slot", "probe-slot"), ("seat", "2"), ("generation", "1"), ("restart", "true"), ("restarts", "1")],
    );
    outcome.assert_event("seat.faulted", &[("slot", "probe-slot"), ("seat", "2"), ("fault", "exception"), ("generation", "1")]);
    // The N-version slot: its lineages run in seats 0..=2 from the boot, only seat 3 is empty.
    for domain in ["vote-svc", "vote.seat1", "vote.seat2"] {
        outcome.assert_event("probe.ready", &[("domain", domain), ("generation", "0")]);
    }
    outcome.assert_event("seat.empty", &[("slot", "vote"), ("seat", "3")]);
    assert!(!outcome.events("seat.empty").iter().any(|event| event.has(&[("slot", "vote"), ("seat", "1")])));
    outcome.assert_event("seat.started", &[("slot", "vote"), ("seat", "3"), ("generation", "0"), ("program", "lineage")]);
    outcome.assert_event(
        "seat.started",
        &[("slot", "vote"), ("seat", "3"), ("generation", "1"), ("program", "fallback"), ("restart", "false"), ("restarts", "0")],
    );
    outcome.assert_event("seat.faulted", &[("slot", "vote"), ("seat", "3"), ("generation", "1")]);
    // A seat is never restarted by the supervisor.
    assert!(outcome.events("domain.restarted").iter().all(|event| !event.get("domain").is_some_and(|d| d.contains(".seat"))));
}
