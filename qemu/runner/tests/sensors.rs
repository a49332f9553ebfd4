//! Boot tests of the sensors domain (scenario `tests/scenarios/sensors.toml`,
//! docs/sensors.md "The boot test"): the tile simulator (`tools/tile-sim`, its library in a
//! host thread) runs scenario `sensors-boot` at 10x and QEMU's COM2 connects to it; the
//! subscriber reads every quantity and takes subscription updates, each value one the
//! simulator really answered; hostile messages and an intruder's badge get their precise
//! errors while the domain keeps serving; then the test disconnects the simulator (the
//! readings turn stale, the link silent), makes it garble every answer (the link is
//! garbled, the readings stay stale and never take a corrupt value), and heals it (fresh
//! readings again) — the sensors domain never faults.

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tileos_qemu::images::{scenario_archive, test_images, workspace_root};
use tileos_qemu::{Event, Machine, run_until_host_done, sensor_link_args};
use tileos_sensor_wire::chips::Chip;
use tileos_tile_sim::link::{Mode, Served, Shared, Sim, serve};
use tileos_tile_sim::model::Model;

const TIMEOUT: Duration = Duration::from_secs(240);
/// Simulated seconds per wall-clock second.
const SPEED: f64 = 10.0;

/// Starts the simulator on a free loopback port with the boot scenario.
fn start_simulator() -> (u16, Shared) {
    let path = workspace_root().join("tools/tile-sim/scenarios/sensors-boot.toml");
    let scenario = tileos_tile_sim::scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the simulator's port");
    let port = listener.local_addr().expect("bound").port();
    let sim: Shared = Arc::new(Mutex::new(Sim::new(Model::new(scenario), Mode::Healthy)));
    let server = sim.clone();
    std::thread::spawn(move || serve(listener, server, SPEED));
    (port, sim)
}

fn set_mode(sim: &Shared, mode: Mode) {
    sim.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).set_mode(mode);
}

/// The events named `name` with all of `fields` in the serial log now.
fn events_in(log: &Path, name: &str, fields: &[(&str, &str)]) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().filter_map(Event::parse).filter(|e| e.name == name && e.has(fields)).count()
}

/// Waits until the serial log holds at least `count` events `name` with `fields`.
fn wait_events(log: &Path, name: &str, fields: &[(&str, &str)], count: usize, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while events_in(log, name, fields) < count {
        if Instant::now() > deadline {
            return Err(format!("no {count} event(s) {name} with {fields:?} in the serial log within {} s", timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The host's side: waits for the client's checks, then breaks and heals the simulator.
fn drive(log: &Path, sim: &Shared) -> Result<(), String> {
    wait_events(log, "sensorclient.ready-for-faults", &[], 1, Duration::from_secs(150))?;
    wait_events(log, "sensorclient.intruder-done", &[], 1, Duration::from_secs(30))?;
    wait_events(log, "sensorclient.state", &[("stale", "false"), ("link", "up")], 1, Duration::from_secs(30))?;
    // The simulator goes away: the link falls silent, the readings turn stale.
    set_mode(sim, Mode::Disconnected);
    wait_events(log, "sensors.link", &[("state", "silent"), ("fault", "timeout")], 1, Duration::from_secs(30))?;
    wait_events(log, "sensorclient.state", &[("stale", "true"), ("link", "silent")], 1, Duration::from_secs(30))?;
    // It comes back garbling every answer (QEMU reconnects within a second).
    set_mode(sim, Mode::Garble { every: 1 });
    wait_events(log, "sensors.link", &[("state", "garbled")], 1, Duration::from_secs(30))?;
    wait_events(log, "sensorclient.state", &[("stale", "true"), ("link", "garbled")], 1, Duration::from_secs(30))?;
    // Long enough for both kinds of corruption (a bit flipped; a false start before it).
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).counters().garbled < 20 {
        if Instant::now() > deadline {
            return Err("the simulator garbled fewer than 20 answers in 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Healthy again: fresh readings.
    set_mode(sim, Mode::Healthy);
    wait_events(log, "sensorclient.state", &[("stale", "false"), ("link", "up")], 2, Duration::from_secs(30))?;
    Ok(())
}

/// The chip and channel a quantity's value comes from.
fn source_of(quantity: &str) -> (Chip, usize) {
    match quantity {
        "temperature" => (Chip::Thermal, 0),
        "power" => (Chip::Power, 0),
        "pump-flow" => (Chip::Pump, 0),
        "pump-pressure" => (Chip::Pump, 1),
        "vibration-rms" => (Chip::Vibration, 0),
        "vibration-kurtosis" => (Chip::Vibration, 1),
        "vibration-fault-band" => (Chip::Vibration, 2),
        "presence" => (Chip::Presence, 0),
        "presence-distance" => (Chip::Presence, 1),
        other => panic!("unknown quantity {other:?}"),
    }
}

/// Panics unless `value` of `quantity` is one the simulator sent intact.
fn assert_served(served: &[Served], quantity: &str, value: &str, line: &str) {
    let (chip, channel) = source_of(quantity);
    let value: i32 = value.parse().unwrap_or_else(|_| panic!("no number in {line}"));
    let sent = served.iter().any(|s| s.chip == chip && !s.garbled && s.channels.get(channel) == Some(&value));
    assert!(sent, "the tile reported {quantity} = {value}, which the simulator never sent intact: {line}");
    if served.iter().any(|s| s.chip == chip && s.garbled && s.channels.get(channel) == Some(&value)) {
        eprintln!("note: {quantity} = {value} was also sent garbled once (a coincidence of values): {line}");
    }
}

#[test]
fn the_sensors_domain_serves_the_simulators_readings_and_reports_a_dead_or_garbling_simulator_as_stale() {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    std::fs::create_dir_all(&images.logs).expect("log directory");
    let log = images.logs.join("tile-sensors.log");
    std::fs::write(&log, b"").expect("empty the serial log");
    let (port, sim) = start_simulator();
    let machine = Machine { extra_args: sensor_link_args("127.0.0.1", port), ..Machine::default() };
    let boot = images.tile_boot(scenario_archive("sensors"));
    let done = Arc::new(AtomicBool::new(false));
    let (host_done, watched, controlled) = (done.clone(), log.clone(), sim.clone());
    let host = std::thread::spawn(move || {
        let result = drive(&watched, &controlled);
        host_done.store(true, Ordering::SeqCst);
        result
    });
    let outcome = run_until_host_done(&machine, &boot, &log, TIMEOUT, &["@event sensorclient.ready-for-faults"], &done)
        .unwrap_or_else(|error| panic!("{error}"));
    let driven = host.join().expect("the host side does not panic");
    if let Err(error) = driven {
        panic!("{error}; last serial lines:\n{}", outcome.tail(60));
    }
    outcome.assert_reached();
    for bad in ["FAILED", "KERNEL EXCEPTION", "panic at", "domain.restarted", "domain.stopped"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(80));
    }
    for what in [
        "link-up",
        "load-out-of-range",
        "load-accepted",
        "load-written",
        "subscribe",
        "updates",
        "hostile-unknown-label",
        "hostile-length-beyond-message",
        "hostile-negative-length",
        "hostile-undecodable",
        "subscribe-nothing",
        "subscribe-unknown-bits",
        "subscribe-too-fast",
        "still-serving",
        "intruder-subscribe-refused",
        "intruder-updates-refused",
        "intruder-unsubscribe-refused",
    ] {
        outcome.assert_event("sensorclient.check", &[("what", what), ("result", "ok")]);
    }
    outcome.assert_event("sensorclient.intruder", &[("badge", "97")]);
    // The domain logs each refusal by its error.
    for (badge, error) in [
        ("96", "UnknownLabel"),
        ("96", "Truncated"),
        ("96", "Malformed"),
        ("96", "NoQuantities"),
        ("96", "UnknownQuantities"),
        ("96", "IntervalTooShort"),
        ("96", "LoadOutOfRange"),
        ("97", "NoNotification"),
        ("97", "NotSubscribed"),
    ] {
        outcome.assert_event("sensors.refused", &[("badge", badge), ("error", error)]);
    }
    // Every value the tile reported, fresh or stale, is one the simulator sent intact.
    let simulator = sim.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let served = simulator.served();
    let readings = outcome.events("sensorclient.reading");
    assert_eq!(readings.len(), 9, "one reading per quantity:\n{}", outcome.tail(40));
    for event in &readings {
        assert_served(served, event.get("quantity").unwrap_or(""), event.get("value").unwrap_or(""), &event.line);
    }
    let updates = outcome.events("sensorclient.update");
    assert!(updates.len() >= 5, "updates:\n{}", outcome.tail(40));
    for event in &updates {
        assert_served(served, event.get("quantity").unwrap_or(""), event.get("value").unwrap_or(""), &event.line);
    }
    let states = outcome.events("sensorclient.state");
    for event in &states {
        assert_served(served, "temperature", event.get("value").unwrap_or(""), &event.line);
    }
    // The tile's reported load drives the simulator: 10 % (the scenario's) before, about
    // 53 W; full load after, about 215 W.
    let power = |event: Option<&Event>| event.and_then(|e| e.get("power").or(e.get("value"))?.parse::<i32>().ok()).unwrap_or(0);
    let before = power(readings.iter().find(|e| e.get("quantity") == Some("power")));
    let loaded = outcome.events("sensorclient.loaded");
    let after = power(loaded.first());
    assert!(before < 80_000 && after > 180_000, "power before the load report {before} mW, after {after} mW");
    assert_served(served, "power", &after.to_string(), &loaded[0].line);
    // Someone stands 1.2 m from the tile throughout; the tile is warmer than the air.
    outcome.assert_event("sensorclient.reading", &[("quantity", "presence"), ("value", "1")]);
    let temperature = readings.iter().find(|e| e.get("quantity") == Some("temperature")).and_then(|e| e.get("value")?.parse::<i32>().ok());
    assert!(temperature.is_some_and(|t| t > 25_000), "temperature {temperature:?}");
    // The link's story: up, silent (timeouts), garbled (corrupt answers), up again.
    let links: Vec<String> = outcome.events("sensors.link").iter().filter_map(|e| e.get("state").map(String::from)).collect();
    let story: Vec<&str> = links.iter().map(String::as_str).collect();
    let expected = ["up", "silent", "garbled", "up"];
    let mut position = 0;
    for state in &story {
        if position < expected.len() && *state == expected[position] {
            position += 1;
        }
    }
    assert_eq!(position, expected.len(), "link states {story:?} do not go up, silent, garbled, up");
    assert!(simulator.counters().garbled > 0, "the simulator garbled nothing: {:?}", simulator.counters());
    let garbled = states.iter().find(|e| e.get("link") == Some("garbled")).expect("a garbled state");
    assert!(garbled.get("corrupt").and_then(|c| c.parse::<u32>().ok()).is_some_and(|c| c > 0), "{}", garbled.line);
    // Healed: the domain counted the corrupt answers it refused.
    let healed = outcome.events("sensors.link");
    let healed = healed.last().expect("link events");
    let corrupt = healed.get("corrupt").and_then(|c| c.parse::<u32>().ok()).unwrap_or(0);
    assert!(healed.get("state") == Some("up") && corrupt >= 10, "{}", healed.line);
}
