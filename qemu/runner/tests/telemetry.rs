//! Boot test of the telemetry domain and the supervisor's immune system (scenario
//! `immune.toml`, docs/telemetry.md): a latency regression injected into one client's
//! calls raises a drift alarm and the configured restart; a client that makes as many
//! calls without a regression raises none; the telemetry domain answers hostile requests
//! with precise errors and keeps serving, also after a restart.

use std::time::Duration;
use tileos_qemu::images::{scenario_archive, test_images};
use tileos_qemu::{Machine, run_until};

#[test]
fn a_latency_regression_raises_a_drift_alarm_and_the_configured_restart() {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let boot = images.tile_boot(scenario_archive("immune"));
    let log = images.logs.join("tile-immune.log");
    std::fs::create_dir_all(&images.logs).expect("log directory");
    std::fs::write(&log, b"").expect("empty the serial log");
    // Guest instructions as time: latencies are exact, so the healthy run is not noisy.
    let machine = Machine { icount: true, ..Machine::default() };
    let markers = ["@event prober.done domain=steady", "@event prober.done domain=drifter generation=1", "@event hostile.done"];
    let outcome = run_until(&machine, &boot, &log, Duration::from_secs(180), &markers).unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    // The regression: an alarm with its evidence, and the restart it configured.
    let alarms = outcome.events("immune.alarm");
    let drifter: Vec<_> = alarms.iter().filter(|a| a.get("domain") == Some("drifter") && a.get("state") == Some("raised")).collect();
    assert!(!drifter.is_empty(), "no drift alarm for the drifter:\n{}", outcome.tail(60));
    assert!(drifter.iter().any(|a| a.get("action") == Some("Restarted")), "{:?}", drifter.iter().map(|a| &a.line).collect::<Vec<_>>());
    for alarm in &drifter {
        let observed: f64 = alarm.get("observed").and_then(|v| v.parse().ok()).expect("observed");
        let baseline: f64 = alarm.get("baseline").and_then(|v| v.parse().ok()).expect("baseline");
        assert!(observed > 4.0 * baseline, "evidence: {}", alarm.line);
        assert!(alarm.get("metric").is_some_and(|m| m.starts_with("Latency")), "{}", alarm.line);
    }
    outcome.assert_event("domain.restarted", &[("domain", "drifter"), ("generation", "1")]);
    // The healthy run of the same length: no alarm at all.
    let steady: Vec<_> = alarms.iter().filter(|a| a.get("domain") == Some("steady")).map(|a| &a.line).collect();
    assert!(steady.is_empty(), "false alarms for the steady prober: {steady:?}");
    outcome.assert_event("prober.done", &[("domain", "steady"), ("generation", "0"), ("calls", "6000")]);
    // The hostile client: every step answered as expected, the telemetry domain serving.
    let wrong: Vec<_> = outcome.events("hostile.check").into_iter().filter(|c| c.get("verdict") != Some("ok")).map(|c| c.line).collect();
    assert!(wrong.is_empty(), "hostile checks failed: {wrong:?}\n{}", outcome.tail(40));
    assert_eq!(outcome.events("hostile.check").len(), 12, "{}", outcome.tail(40));
    outcome.assert_event("hostile.done", &[("failures", "0")]);
}
