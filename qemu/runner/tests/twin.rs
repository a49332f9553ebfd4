//! Boot tests of the twin domain (docs/twin.md "Boot tests"), with the tile simulator
//! (`tools/tile-sim`, its library in a host thread) behind QEMU's COM2:
//! - scenario `twin-bearing`, booted twice for the same simulated time at 110x: with the
//!   simulator's `twin-bearing` scenario (a bearing that wears from 3600 s and would fail at
//!   7200 s) the twin learns its baseline before the onset and its wear alarm comes after
//!   the onset and before the failure; with `twin-healthy` (the same tile, no fault) it
//!   never comes;
//! - scenario `twin-gate`, booted twice with the same disk: a hostile client cannot get raw
//!   samples out of the export gate and every hostile call gets its precise refusal, also
//!   after the supervisor restarted the twin (its account read back from the store); a
//!   stranger's badge has no budget; an honest recipient's budget stops its exports, and
//!   after the reboot it is still spent.

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tileos_qemu::images::{fresh_disk, scenario_archive, test_images, workspace_root};
use tileos_qemu::{Event, Machine, RunOutcome, nvme_disk_args, run_until_host_done, sensor_link_args};
use tileos_sensor_wire::chips::Chip;
use tileos_tile_sim::link::{Mode, Shared, Sim, serve};
use tileos_tile_sim::model::Model;
use tileos_tile_sim::scenario::Scenario;

const TIMEOUT: Duration = Duration::from_secs(180);
/// Simulated seconds per wall-clock second in the maintenance test.
const BEARING_SPEED: f64 = 110.0;
/// The two tests boot one tile at a time: the bearing test's simulator runs on the wall
/// clock, so a second QEMU beside it (cargo runs a binary's tests in parallel) would cut
/// the windows the twin sees before the onset.
static ONE_TILE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn scenario(name: &str) -> Scenario {
    let path = workspace_root().join(format!("tools/tile-sim/scenarios/{name}.toml"));
    tileos_tile_sim::scenario::load(&path).unwrap_or_else(|error| panic!("{error}"))
}

/// Starts the simulator on a free loopback port.
fn start_simulator(scenario: Scenario, speed: f64) -> (u16, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the simulator's port");
    let port = listener.local_addr().expect("bound").port();
    let sim: Shared = Arc::new(Mutex::new(Sim::new(Model::new(scenario), Mode::Healthy)));
    let server = sim.clone();
    std::thread::spawn(move || serve(listener, server, speed));
    (port, sim)
}

fn lock(sim: &Shared) -> std::sync::MutexGuard<'_, Sim> {
    sim.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The events named `name` in the serial log now.
fn events_in(log: &Path, name: &str) -> Vec<Event> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().filter_map(Event::parse).filter(|e| e.name == name).collect()
}

/// Boots `scenario` with the simulator on COM2 (and `disk` as the NVMe disk, if any) while
/// `drive` runs on the host; QEMU stops when `drive` returns. Panics with the log's tail if
/// `drive` fails or the serial log shows a failure.
fn boot(
    scenario: &str,
    log: &str,
    port: u16,
    disk: Option<&Path>,
    drive: impl FnOnce(&Path) -> Result<(), String> + Send + 'static,
) -> RunOutcome {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    std::fs::create_dir_all(&images.logs).expect("log directory");
    let log = images.logs.join(log);
    std::fs::write(&log, b"").expect("empty the serial log");
    let mut extra_args = sensor_link_args("127.0.0.1", port);
    if let Some(disk) = disk {
        extra_args.extend(nvme_disk_args(disk));
    }
    let machine = Machine { extra_args, ..Machine::default() };
    let done = Arc::new(AtomicBool::new(false));
    let (host_done, watched) = (done.clone(), log.clone());
    let host = std::thread::spawn(move || {
        let result = drive(&watched);
        host_done.store(true, Ordering::SeqCst);
        result
    });
    let outcome =
        run_until_host_done(&machine, &images.tile_boot(scenario_archive(scenario)), &log, TIMEOUT, &["@event twin.ready"], &done)
            .unwrap_or_else(|error| panic!("{error}"));
    if let Err(error) = host.join().expect("the host side does not panic") {
        panic!("{error}; last serial lines:\n{}", outcome.tail(60));
    }
    outcome.assert_reached();
    for bad in ["FAILED", "KERNEL EXCEPTION", "panic at"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(80));
    }
    outcome
}

/// Waits until `done` holds of the serial log, or `timeout` passes.
fn wait_for(log: &Path, what: &str, timeout: Duration, mut done: impl FnMut(&Path) -> bool) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while !done(log) {
        if Instant::now() > deadline {
            return Err(format!("{what}: not within {} s", timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[test]
fn the_twin_detects_bearing_wear_before_the_failure_and_never_on_a_healthy_bearing() {
    let _one = ONE_TILE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let worn = scenario("twin-bearing");
    let fault = worn.faults.first().copied().expect("twin-bearing has a fault");
    let (begins_ms, fails_ms) = ((fault.begins_s * 1000.0) as u64, (fault.fails_s * 1000.0) as u64);

    // The wearing bearing: run until the alarm (or the failure).
    let (port, sim) = start_simulator(worn, BEARING_SPEED);
    let watched = sim.clone();
    let learned = Arc::new(Mutex::new(None));
    let learned_at = learned.clone();
    let outcome = boot("twin-bearing", "tile-twin-bearing.log", port, None, move |log| {
        wait_for(log, "a wear alarm (in the twin's log and through the protocol), or the ground-truth failure", TIMEOUT, |log| {
            let now_ms = lock(&watched).model().time_ms();
            let mut learned = learned_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if learned.is_none() && !events_in(log, "twin.learned").is_empty() {
                *learned = Some(now_ms);
            }
            let raised = !events_in(log, "twin.wear-alarm").is_empty() && !events_in(log, "twinwatch.alarm").is_empty();
            raised || now_ms > fails_ms + 60_000
        })
    });
    // The baseline was learnt from a healthy bearing (seen by the host within 100 ms of
    // the event: 11 simulated seconds).
    let learned_ms = learned.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).expect("the twin learnt its baseline");
    assert!(learned_ms < begins_ms, "the baseline was still being learnt at {learned_ms} ms, after the wear began at {begins_ms} ms");
    let alarms = outcome.events("twin.wear-alarm");
    assert_eq!(alarms.len(), 1, "one wear alarm expected:\n{}", outcome.tail(40));
    let alarm = &alarms[0];
    // The alarm also reached the twin's client through the protocol.
    outcome.assert_event("twinwatch.alarm", &[("trigger", alarm.get("trigger").unwrap_or("?"))]);
    // The vibration window that raised it, found among what the simulator answered.
    let channel = |key: &str| alarm.get(key).and_then(|v| v.parse::<i32>().ok()).unwrap_or_else(|| panic!("no {key} in {}", alarm.line));
    let window = [channel("rms"), channel("kurtosis"), channel("band")];
    let simulator = lock(&sim);
    let served = simulator.served().iter().find(|s| s.chip == Chip::Vibration && !s.garbled && s.channels == window);
    let at_ms = served.unwrap_or_else(|| panic!("the simulator never sent the window {window:?} of {}", alarm.line)).time_ms;
    eprintln!(
        "wear alarm ({}) on the window of simulated time {} s: {} s after the onset, {} s before the failure",
        alarm.get("trigger").unwrap_or("?"),
        at_ms / 1000,
        at_ms.saturating_sub(begins_ms) / 1000,
        fails_ms.saturating_sub(at_ms) / 1000
    );
    assert!(at_ms >= begins_ms, "false alarm: raised at {at_ms} ms, before the wear began at {begins_ms} ms");
    assert!(at_ms < fails_ms, "late alarm: raised at {at_ms} ms, the bearing failed at {fails_ms} ms");
    drop(simulator);

    // The same tile with a healthy bearing, for as long as the wearing one would have lasted.
    let (port, sim) = start_simulator(scenario("twin-healthy"), BEARING_SPEED);
    let watched = sim.clone();
    let outcome = boot("twin-bearing", "tile-twin-healthy.log", port, None, move |log| {
        wait_for(log, "the simulated time of the failure", TIMEOUT, |_| lock(&watched).model().time_ms() > fails_ms)?;
        // One more round of samples reaches the twin.
        std::thread::sleep(Duration::from_millis(500));
        Ok(())
    });
    assert!(outcome.events("twin.wear-alarm").is_empty(), "false alarm on a healthy bearing:\n{}", outcome.tail(40));
    outcome.assert_event("twin.learned", &[]);
    // One twin.update event per window assessed. The count depends on the machine's speed
    // (about two rounds of samples a second under TCG); 80 leaves 40 after the baseline,
    // more than the wearing run needed to alarm after its onset.
    let windows = outcome.events("twin.update").len();
    let simulated = lock(&sim).model().time_ms() / 1000;
    eprintln!("healthy: {windows} windows assessed over {simulated} simulated seconds, no alarm");
    assert!(windows >= 80, "too few windows assessed ({windows}) for the healthy run to mean anything:\n{}", outcome.tail(40));
}

/// The host side of a `twin-gate` boot: waits for the three clients to finish.
fn gate_done(log: &Path) -> Result<(), String> {
    wait_for(log, "the twin-gate clients", Duration::from_secs(150), |log| {
        ["twinrecipient.done", "twinhostile.done", "twinhostile.stranger-done"].iter().all(|name| !events_in(log, name).is_empty())
    })
}

const HOSTILE_CHECKS: [&str; 14] = [
    "raw-by-name",
    "epsilon-refused",
    "delta-refused",
    "gaussian-epsilon-refused",
    "snapping-range-refused",
    "over-budget-refused",
    "hostile-unknown-label",
    "hostile-length-beyond-message",
    "hostile-negative-length",
    "hostile-undecodable",
    "hostile-oversized-name",
    "still-serving",
    "restart-twin",
    "budget-survives-restart",
];

fn assert_hostile_refused(outcome: &RunOutcome) {
    for what in HOSTILE_CHECKS.iter().chain(&["refused-after-restart", "raw-refused-after-restart", "stranger-export-refused"]) {
        outcome.assert_event("twinhostile.check", &[("what", what), ("result", "ok")]);
    }
    outcome.assert_event("twinhostile.stranger", &[("badge", "114")]);
    // The twin restarted once (the attacker had it restarted) and logged the refusals.
    outcome.assert_event("twin.ready", &[("generation", "1")]);
    for error in [
        "UnknownQuery",
        "Epsilon",
        "Delta",
        "GaussianEpsilon",
        "SnappingRange",
        "BudgetExhausted",
        "UnknownLabel",
        "Truncated",
        "Malformed",
    ] {
        outcome.assert_event("twin.refused", &[("badge", "113"), ("error", error)]);
    }
    outcome.assert_event("twin.refused", &[("badge", "114"), ("error", "NoBudget")]);
}

#[test]
fn the_export_gate_releases_no_raw_sample_refuses_hostile_calls_and_a_spent_budget_stays_spent_across_a_reboot() {
    let _one = ONE_TILE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let disk = fresh_disk("twin-disk.img", 32 << 20);
    let (port, sim) = start_simulator(scenario("healthy"), 10.0);

    let first = boot("twin-gate", "tile-twin-gate.log", port, Some(&disk), gate_done);
    assert_hostile_refused(&first);
    first.assert_event("twin.ledger", &[("state", "open"), ("created", "true")]);
    first.assert_event("twinrecipient.account", &[("budget_micros", "1000000"), ("spent_micros", "0")]);
    // Three releases of 300 001 µε fit a budget of 1 000 000 µε; the fourth is refused.
    first.assert_event("twinrecipient.exhausted", &[("released", "3"), ("remaining", "99997"), ("requested", "300001")]);
    let released = first.events("twinrecipient.released");
    assert_eq!(released.len(), 3, "{}", first.tail(40));
    // Nothing raw: no released value is a temperature the simulator sent (m°C / 1000), and
    // each is a mean near the tile's temperature.
    let simulator = lock(&sim);
    for event in &released {
        let bits: u64 = event.get("bits").and_then(|b| b.parse().ok()).unwrap_or_else(|| panic!("no bits in {}", event.line));
        let value = f64::from_bits(bits);
        let raw = simulator.served().iter().filter(|s| s.chip == Chip::Thermal).any(|s| f64::from(s.channels[0]) / 1000.0 == value);
        assert!(!raw, "a released value {value} is a raw temperature sample: {}", event.line);
        // Clamped to the query's bounds; the noise over a few dozen samples is large.
        assert!((0.0..=100.0).contains(&value), "released mean temperature {value} °C: {}", event.line);
        eprintln!("released mean temperature: {value:.2} °C");
    }
    drop(simulator);

    let second = boot("twin-gate", "tile-twin-gate-2.log", port, Some(&disk), gate_done);
    assert_hostile_refused(&second);
    second.assert_event("twin.ledger", &[("state", "open"), ("created", "false")]);
    second.assert_event("twinrecipient.account", &[("budget_micros", "1000000"), ("spent_micros", "900003")]);
    second.assert_event("twinrecipient.exhausted", &[("released", "0"), ("remaining", "99997"), ("requested", "300001")]);
}
