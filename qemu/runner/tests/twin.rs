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
//!   after the reboot it is still spent;
//! - scenario `twin-net`: `tilectl twin` (text and JSON) over QEMU's forwarded port through
//!   the update agent; hostile frames (an export smuggled as a twin read, truncated,
//!   replayed, oversized, a connection dropped mid-frame) get precise errors and the agent
//!   keeps serving; after the twin restarts, `tilectl twin` is answered again; the twin's
//!   state carries the telemetry domain's figures and the load it reported to the sensors
//!   domain reaches the simulator.

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tileos_qemu::host::boot_and_drive;
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

/// Runs `tilectl twin` (JSON when `json`) against the forwarded port.
fn tilectl_twin(port: u16, json: bool) -> Result<String, String> {
    let options =
        tileos_tilectl::Options { tile: format!("127.0.0.1:{port}"), key: None, dev_key: false, json, timeout: Duration::from_secs(20) };
    let mut out = Vec::new();
    tileos_tilectl::run(&options, &tileos_tilectl::Command::Twin, &mut out).map_err(|failure| format!("tilectl twin: {failure}"))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A fresh connection to the agent, retried while QEMU's user network closes connections
/// the guest has not accepted yet.
fn agent_connection(port: u16) -> Result<tileos_tilectl_wire::host::Client, String> {
    let mut last = String::new();
    for _ in 0..20 {
        match tileos_tilectl_wire::host::Client::connect(&format!("127.0.0.1:{port}"), None, Duration::from_secs(20)) {
            Ok(client) => return Ok(client),
            Err(error) => last = error.to_string(),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!("cannot connect to the agent: {last}"))
}

/// Sends `bytes` raw on a fresh connection and reads one frame back.
fn raw_exchange(port: u16, bytes: &[u8]) -> Result<(tileos_tilectl_wire::host::Client, tileos_tilectl_wire::ServerFrame), String> {
    let mut client = agent_connection(port)?;
    client.write_raw(bytes).map_err(|error| error.to_string())?;
    let frame = client.read_server_frame().map_err(|error| error.to_string())?;
    Ok((client, frame))
}

/// The pod aggregates (`twinkicker.pod`) that are exactly one tile's — this one, node 3 —
/// figures as the twin published them (`twin.published`): one tile, nothing refused, the
/// mean and largest load the tile's load, the sums its counts, the largest 99th percentile
/// its own.
fn matching_pods<'a>(published: &[Event], pods: &'a [Event]) -> Vec<&'a Event> {
    pods.iter()
        .filter(|pod| {
            pod.get("tiles") == Some("1")
                && pod.get("busiest") == Some("3")
                && pod.get("refused") == Some("0")
                && published.iter().any(|figures| {
                    [
                        ("load_mean", "load_permille"),
                        ("load_max", "load_permille"),
                        ("faults", "faults"),
                        ("restarts", "restarts"),
                        ("calls", "calls"),
                        ("p99_max_us", "p99_us"),
                    ]
                    .iter()
                    .all(|(aggregate, own)| pod.get(aggregate).is_some() && pod.get(aggregate) == figures.get(own))
                })
        })
        .collect()
}

/// The host's side of `twin-net`: what `tilectl twin` printed before and after the restart.
fn read_the_twin_over_the_network(port: u16, log: &Path, sim: Shared) -> Result<(String, String, serde_json::Value), String> {
    use tileos_tilectl_wire::{ClientFrame, Command, MAX_FRAME, ServerFrame, TwinRead, WireError, frame};
    // The twin has taken readings (the agent answers before the twin is ready: wait).
    let mut json = serde_json::Value::Null;
    wait_for(log, "a twin state with readings, through tilectl twin --json", Duration::from_secs(60), |_| {
        match tilectl_twin(port, true).ok().and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok()) {
            Some(value) if value["state"]["readings"].as_u64().unwrap_or(0) > 0 => {
                json = value;
                true
            }
            _ => false,
        }
    })?;
    // The twin's compute state, from the telemetry domain's figures, and the load it reported
    // to the sensors domain: the simulator's model runs on it (the scenario's own loads are
    // 0.2, 0.9 and 0.4).
    let mut compute = serde_json::Value::Null;
    wait_for(log, "the twin's compute state through tilectl twin --json", Duration::from_secs(60), |_| {
        match tilectl_twin(port, true).ok().and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok()) {
            Some(value) if !value["state"]["compute"].is_null() => {
                compute = value["state"]["compute"].clone();
                true
            }
            _ => false,
        }
    })?;
    wait_for(log, "a load the twin reported, in the simulator's model", Duration::from_secs(30), |log| {
        let reported: Vec<u64> = events_in(log, "twin.compute").iter().filter_map(|e| e.get("load_permille")?.parse().ok()).collect();
        let simulated = (lock(&sim).model().truth().load * 1000.0).round() as u64;
        reported.contains(&simulated) && ![200, 400, 900].contains(&simulated)
    })?;
    json["state"]["compute"] = compute;
    // The twin publishes the tile's figures to the federation domain after each compute
    // state; twin-kicker reads the pod's aggregates back: they are the figures of one of
    // the twin's publishes.
    wait_for(log, "the pod's aggregates holding figures the twin published", Duration::from_secs(60), |log| {
        !matching_pods(&events_in(log, "twin.published"), &events_in(log, "twinkicker.pod")).is_empty()
    })?;
    let before = tilectl_twin(port, false)?;
    // An export smuggled in as a twin read (read tag 2: the twin protocol's Export).
    match raw_exchange(port, &[0, 0, 0, 3, 0, 5, 2])?.1 {
        ServerFrame::Error(WireError::UnknownCommand) => {}
        other => return Err(format!("a twin read with tag 2 answered {other:?}")),
    }
    // Truncated: the twin command without its read.
    match raw_exchange(port, &[0, 0, 0, 2, 0, 5])?.1 {
        ServerFrame::Error(WireError::Malformed) => {}
        other => return Err(format!("a truncated twin command answered {other:?}")),
    }
    // Replayed: the same frame twice on one connection.
    let state = frame::encode(&ClientFrame { counter: 0, command: Command::Twin(TwinRead::State), signature: None }).expect("fits");
    let (mut replay, first) = raw_exchange(port, &state)?;
    if !matches!(first, ServerFrame::Answer { counter: 0, answer: tileos_tilectl_wire::Answer::Twin(_) }) {
        return Err(format!("a twin read answered {first:?}"));
    }
    replay.write_raw(&state).map_err(|error| error.to_string())?;
    match replay.read_server_frame().map_err(|error| error.to_string())? {
        ServerFrame::Answer { answer: tileos_tilectl_wire::Answer::Error(WireError::Replay { expected: 1, got: 0 }), .. } => {}
        other => return Err(format!("a replayed twin read answered {other:?}")),
    }
    drop(replay);
    // Oversized: the agent names the length and closes.
    let (mut oversized, answer) = raw_exchange(port, &[0xff, 0xff, 0xff, 0xff])?;
    match answer {
        ServerFrame::Error(WireError::BadLength { length: u32::MAX, max }) if max == MAX_FRAME as u32 => {}
        other => return Err(format!("a length of 2^32 - 1 answered {other:?}")),
    }
    if oversized.read_server_frame().is_ok() {
        return Err("after a bad length the connection stayed open".into());
    }
    drop(oversized);
    // A client that goes in the middle of a frame.
    let mut gone = agent_connection(port)?;
    gone.write_raw(&state[..3]).map_err(|error| error.to_string())?;
    drop(gone);
    // The simulator goes: the twin's state turns stale, on which twin-kicker has the
    // supervisor restart the twin; then the simulator comes back.
    lock(&sim).set_mode(Mode::Disconnected);
    wait_for(log, "the twin restarted by twin-kicker", Duration::from_secs(60), |log| {
        !events_in(log, "twinkicker.restarted").is_empty() && events_in(log, "twin.ready").iter().any(|e| e.get("generation") == Some("1"))
    })?;
    lock(&sim).set_mode(Mode::Healthy);
    let after = tilectl_twin(port, false)?;
    Ok((before, after, json))
}

#[test]
fn tilectl_twin_reads_the_twin_over_the_network_refuses_hostile_frames_and_survives_a_twin_restart() {
    let _one = ONE_TILE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (sim_port, sim) = start_simulator(scenario("healthy"), 10.0);
    // The federation domain's replica (the twin publishes the tile's figures to it).
    let disk = fresh_disk("twin-net.img", 16 << 20);
    let mut extra_args = sensor_link_args("127.0.0.1", sim_port);
    extra_args.extend(nvme_disk_args(&disk));
    let started = Instant::now();
    let (outcome, (before, after, json)) = boot_and_drive(
        "twin-net",
        "tile-twin-net.log",
        extra_args,
        tileos_tilectl_wire::PORT,
        &["update-agent: ready", "@event twin.ready"],
        Duration::from_secs(150),
        move |port, log| read_the_twin_over_the_network(port, log, sim),
    );
    eprintln!("twin-net: {:.1} s\nbefore the restart:\n{before}after:\n{after}", started.elapsed().as_secs_f64());
    outcome.assert_reached();
    for bad in ["FAILED", "KERNEL EXCEPTION", "panic at", "stopped:"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(60));
    }
    assert!(before.starts_with("bearing: learning its healthy baseline"), "{before}");
    assert!(before.contains("sensors fresh"), "{before}");
    assert!(before.contains("exports closed"), "no store in twin-net: {before}");
    assert!(after.starts_with("bearing: "), "{after}");
    assert!(json["state"]["windows"].is_u64() && json["alarms"].is_array(), "{json}");
    // Every domain of the scenario is counted; the twin reports its latencies.
    let compute = &json["state"]["compute"];
    assert!(compute["domains"].as_u64().unwrap_or(0) >= 9, "{compute}");
    assert!(compute["reporters"].as_u64().unwrap_or(0) >= 1 && compute["calls"].as_u64().unwrap_or(0) > 0, "{compute}");
    assert!(compute["load_permille"].as_u64().is_some_and(|load| load <= 1000), "{compute}");
    assert!(before.contains("compute: load "), "{before}");
    // Without a store the twin has no ledger: a badge without budget is refused an export
    // and its account with exports closed (twin-gate tests NoBudget with the ledger open).
    let refused = outcome.events("twinkicker.refused");
    assert_eq!(refused.iter().filter(|e| e.get("error") == Some("LedgerUnavailable")).count(), 2, "{}", outcome.tail(40));
    outcome.assert_event("twin.refused", &[("badge", "98"), ("error", "LedgerUnavailable")]);
    outcome.assert_event("twinkicker.restarted", &[("generation", "1")]);
    outcome.assert_serial_contains("closed by the protocol");
    // The tile's figures reached the federation domain: only the twin, the description's
    // figures publisher, publishes; twin-kicker is refused (a load of 5000 too) and reads
    // the pod's aggregates back, which are the figures the twin logged it published.
    let published = outcome.events("twin.published");
    let pods = outcome.events("twinkicker.pod");
    let matching = matching_pods(&published, &pods);
    assert!(!matching.is_empty(), "no pod aggregates match a publish:\n{published:?}\n{pods:?}");
    assert!(published.iter().all(|f| f.get("calls").and_then(|c| c.parse::<u64>().ok()).is_some_and(|c| c > 0)), "{published:?}");
    let refused = outcome.events("twinkicker.publish_refused");
    for load in ["1", "5000"] {
        assert!(refused.iter().any(|e| e.get("error") == Some("NotPublisher") && e.get("load_permille") == Some(load)), "{refused:?}");
    }
    assert!(outcome.events("twin.publish_failed").is_empty(), "{}", outcome.tail(40));
    eprintln!(
        "twin-net: {} publishes, {} pod aggregates read, {} matching; last matching: {:?}",
        published.len(),
        pods.len(),
        matching.len(),
        matching.last()
    );
}
