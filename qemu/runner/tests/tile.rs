//! Boot tests of whole tiles: the root server builds the domains of a system description
//! (the default `tile.toml`, or a scenario in `tests/scenarios/`) and they run; each test
//! waits for the log lines that show the scenario played out, then stops QEMU.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tileos_abi::invocation::{Label, Object, TABLE};
use tileos_qemu::host::{converse, datagram, free_ports, free_ports_besides, read_status, reported_calls, tilectl, wait_for};
use tileos_qemu::images::{TestImages, scenario_archive, test_images, workspace_root};
use tileos_qemu::{Machine, RunOutcome, TileDevices, run_until, run_until_host_done};

const TIMEOUT: Duration = Duration::from_secs(180);

fn images() -> &'static TestImages {
    test_images().unwrap_or_else(|error| panic!("{error}"))
}

/// Boots the test kernel with the root server and `archive`, until every `markers` text
/// has appeared in the serial log.
fn boot_tile(name: &str, archive: PathBuf, markers: &[&str]) -> RunOutcome {
    boot_tile_on(&Machine::default(), name, archive, markers, None)
}

/// [`boot_tile`] on `machine`; with `host_done`, QEMU is stopped only once that is set too
/// (the host side has its answers: a domain logs an answer before it sends it).
fn boot_tile_on(machine: &Machine, name: &str, archive: PathBuf, markers: &[&str], host_done: Option<&AtomicBool>) -> RunOutcome {
    let images = images();
    let boot = images.tile_boot(archive);
    let log = images.logs.join(format!("tile-{name}.log"));
    std::fs::create_dir_all(&images.logs).expect("log directory");
    // No line from an earlier run may be seen before QEMU starts.
    std::fs::write(&log, b"").expect("empty the serial log");
    let outcome = match host_done {
        Some(done) => run_until_host_done(machine, &boot, &log, TIMEOUT, markers, done),
        None => run_until(machine, &boot, &log, TIMEOUT, markers),
    };
    let outcome = outcome.unwrap_or_else(|error| panic!("{error}"));
    outcome.assert_reached();
    outcome
}

/// Checks the root server's one `tile.boot-done` event (what it dropped and kept after the
/// boot) against `fields`, that it gave back some unused memory, that it checked every
/// capability it dropped (spare and device regions, IRQ and IO-port control when `none`
/// keeps them, fault-endpoint copies) and found none still working, and that it logged
/// what it keeps, its working region with its size included.
fn assert_boot_done(outcome: &RunOutcome, fields: &[(&str, &str)]) {
    let events = outcome.events("tile.boot-done");
    assert_eq!(events.len(), 1, "{}", outcome.tail(40));
    outcome.assert_event("tile.boot-done", fields);
    let event = &events[0];
    let number =
        |key: &str| event.get(key).and_then(|n| n.parse::<usize>().ok()).unwrap_or_else(|| panic!("no number {key}: {}", event.line));
    assert!(number("spare_regions") > 0, "no unused memory dropped: {}", event.line);
    let controls = ["irq_control", "io_port_control"].iter().filter(|key| event.get(key) == Some("none")).count();
    let dropped = number("spare_regions") + number("device_regions") + number("never_rebuilt") + controls;
    assert_eq!(number("dropped_caps"), dropped, "dropped capabilities checked: {}", event.line);
    assert_eq!(number("still_working"), 0, "dropped capabilities still work: {}", event.line);
    let working = number("working_region_kib");
    outcome.assert_serial_contains("its working untyped region (slot ");
    outcome.assert_serial_contains(&format!(", {working} KiB; the parent of every domain's region"));
}

/// Latency reporters of the default tile whose reports the test waits for (docs/telemetry.md,
/// "Who reports"): the update agent (every 20 receipts of data from tilectl: the test's own
/// `tilectl telemetry` calls make them) and the demo slot's manager (every 100 answered
/// client requests). Not the store: it reports every 100 requests it served, and on the
/// default tile it now serves fewer than that in the test's time (seen on 2026-12-04: its
/// row stays at 0 calls), so its reports are not checked by this test.
const REPORTERS: [&str; 2] = ["update-agent", "checksum.manager"];

/// Asks `tilectl telemetry` (through the update agent on `agent_port`) until every one of
/// [`REPORTERS`] shows reported calls, or `deadline` passes.
fn reports_arrive(agent_port: u16, deadline: Instant) -> Result<(), String> {
    let mut last = String::new();
    while Instant::now() < deadline {
        match tilectl(agent_port, tileos_tilectl::Command::Telemetry, Duration::from_secs(20)) {
            Ok(figures) if REPORTERS.iter().all(|name| reported_calls(&figures, name).is_some_and(|calls| calls > 0)) => return Ok(()),
            Ok(figures) => last = figures,
            Err(failure) => last = failure,
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    Err(format!("not every one of {REPORTERS:?} reported latencies in time; the last figures: {last}"))
}

#[test]
fn default_tile_starts_every_domain_with_its_capabilities_and_serves() {
    // The machine `make run` boots: NVMe on a fresh disk image, virtio-net with the status
    // service forwarded to a free host port, virtio-gpu.
    let logs = &images().logs;
    std::fs::create_dir_all(logs).expect("log directory");
    let disk = logs.join("default-tile-disk.img");
    let _ = std::fs::remove_file(&disk);
    std::fs::File::create(&disk).and_then(|file| file.set_len(68 << 20)).expect("create the disk image");
    let (tcp_port, udp_port) = free_ports();
    let (client_tcp_port, client_udp_port) = free_ports_besides(&[tcp_port, udp_port]);
    let (agent_port, _) = free_ports_besides(&[tcp_port, udp_port, client_tcp_port, client_udp_port]);
    let devices = TileDevices { disk, tcp_port, udp_port, client_tcp_port, client_udp_port, agent_port };
    let machine = Machine { extra_args: devices.args(), ..Machine::default() };
    // The host reads the tile status over TCP once the netstack is ready, then has the
    // net-client (the socket protocol's example client) answer a line and a datagram.
    let watched = logs.join("tile-default.log");
    let _ = std::fs::write(&watched, b"");
    let done = Arc::new(AtomicBool::new(false));
    let host_done = done.clone();
    let host = std::thread::spawn(move || -> Result<(String, String, Vec<u8>), String> {
        let talk = || -> Result<(String, String, Vec<u8>), String> {
            let deadline = Instant::now() + TIMEOUT;
            if !wait_for(&watched, "netstack: ready", deadline) {
                return Err("the netstack never logged \"netstack: ready\"".into());
            }
            let status = read_status(tcp_port)?;
            if !wait_for(&watched, "net-client: ready", deadline) {
                return Err("the net-client never logged \"net-client: ready\"".into());
            }
            let answers = (status, converse(client_tcp_port, &["default tile\n"])?, datagram(client_udp_port, b"udp to the tile")?);
            // Ends before the run's time limit, so that a missing report is named.
            reports_arrive(agent_port, deadline - Duration::from_secs(30))?;
            Ok(answers)
        };
        let result = talk();
        host_done.store(true, Ordering::SeqCst);
        result
    });
    let markers = [
        "client: done",
        "block-check: done",
        "gpu-status: status screen shown",
        // The twin's state on the status screen: its two rows (14, 15), each logged the
        // first time the display answered `Shown` for it.
        "gpu-status: twin row 14 first shown \"twin: bearing",
        "gpu-status: twin row 15 first shown \"",
        "netstack: status served",
        "net-client: udp datagram of 15 bytes",
        "store-demo: done",
        "@event model-loader.done",
        "@event inference.ready",
    ];
    let outcome = boot_tile_on(&machine, "default", workspace_root().join("build/test/tile.archive"), &markers, Some(&done));
    let talk = host.join().expect("the host side does not panic");
    let (status, line, answer) = talk.unwrap_or_else(|error| panic!("{error}; last serial lines:\n{}", outcome.tail(40)));
    assert!(status.starts_with("tileos tile: up (netstack \"netstack\" generation 0, address 10.0.2.15/24)"), "status line {status:?}");
    assert_eq!(line, "net-client heard: default tile\n");
    assert_eq!(answer, b"net-client got: udp to the tile");
    for bad in ["KERNEL EXCEPTION", "panic at", "stopping"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(40));
    }
    for bad in ["domain.stopped", "domain.not-started"] {
        assert!(outcome.events(bad).is_empty(), "event {bad}:\n{}", outcome.tail(40));
    }
    // 28 domains: 23 declared, and the demo slot's manager, seats 1..=3, which stay
    // empty until a module is installed, and verifier (25 started).
    outcome.assert_serial_contains("rootserver: tile \"dev-tile\": 28 domains");
    assert_eq!(outcome.events("domain.started").len(), 25, "{}", outcome.tail(40));
    assert_eq!(outcome.events("seat.empty").len(), 3, "{}", outcome.tail(40));
    outcome.assert_event("tile.supervising", &[("domains", "28")]);
    // The timer service (docs/timer.md) on the CMOS RTC's interrupt.
    outcome.assert_event("timer.ready", &[("generation", "0")]);
    outcome.assert_event("domain.started", &[("domain", "checksum.verifier"), ("priority", "70")]);
    outcome.assert_serial_contains("slot-manager: slot checksum: serving");
    // After boot the root server keeps only what restarts need (the slot's seats are
    // rebuilt by its manager).
    assert_boot_done(
        &outcome,
        &[
            ("restartable", "22"),
            ("never_rebuilt", "6"),
            ("irq_control", "gpu,nvme,net,netstack,timer"),
            ("io_port_control", "console,pci,net,sensors,timer"),
        ],
    );
    // The PCI driver lists QEMU's host bridge (8086:1237) among the tile's devices.
    outcome.assert_serial_contains("8086:1237");
    outcome.assert_event(
        "domain.started",
        &[("domain", "console"), ("priority", "200"), ("generation", "0"), ("grants", "log:ServedEndpoint,0x3f8:IoPort")],
    );
    outcome.assert_event(
        "domain.started",
        &[("domain", "client"), ("priority", "90"), ("generation", "0"), ("grants", "log:ClientEndpoint:0x2,echo:ClientEndpoint:0x10")],
    );
    // All four drivers and the netstack came up, each device found by class through the
    // pci domain and interrupting by MSI-X.
    for (device, address, id) in [("nvme", "00:03.0", "1b36:0010"), ("net", "00:04.0", "1af4:1000"), ("gpu", "00:02.0", "1af4:1050")] {
        outcome.assert_event("pci.located", &[("device", device), ("address", address), ("id", id), ("msix", "yes")]);
    }
    outcome.assert_serial_contains("nvme: completions by interrupt (MSI-X vector 0");
    outcome.assert_serial_contains("net: virtio-net ready: MAC 52:54:00:12:34:56");
    outcome.assert_serial_contains("gpu: first frame shown");
    outcome.assert_serial_contains("netstack: DHCP lease 10.0.2.15/24");
    outcome.assert_serial_contains("block-check: read back 5 of 5 ranges as written");
    // The store formats its window of the fresh disk and serves its demo client.
    outcome.assert_event("store.formatted", &[]);
    outcome.assert_serial_contains("store-demo: this tile has booted 1 times with this disk");
    outcome.assert_serial_contains("store-demo: 256 KiB value stored durably and read back intact");
    // The console domain writes these lines; the client speaks the typed echo protocol.
    for round in 1..=3 {
        outcome.assert_event(
            "echo.round",
            &[("client", "client"), ("round", &round.to_string()), ("answer", &(round + 1).to_string()), ("verdict", "ok")],
        );
    }
    outcome.assert_event(
        "echo.checked",
        &[("client", "client"), ("reverse", "soelit"), ("badge", "16"), ("malformed_label", "0x101"), ("malformed_error", "3")],
    );
    assert!(!outcome.serial.contains("WRONG"), "{}", outcome.tail(30));
    // The model loader put the base and the four adapter bundles in place; the inference
    // domain checked the base from its read-only mapping (docs/inference.md "On the tile").
    outcome.assert_event("model-loader.done", &[("adapters", "7")]);
    outcome.assert_event("inference.ready", &[("domain", "inference"), ("generation", "0"), ("base_bytes", "284736")]);
}

#[test]
fn supervisor_restarts_a_crashed_server_and_gives_up_on_a_crash_loop() {
    let outcome =
        boot_tile("supervisor", scenario_archive("supervisor"), &["prober: done", "@event domain.gave-up domain=doomed restarts=3"]);
    // No restartable domain here has interrupts or IO ports: the root server gives up
    // IRQ and IO-port control after boot, and restarts still work without them.
    assert_boot_done(&outcome, &[("restartable", "2"), ("never_rebuilt", "2"), ("irq_control", "none"), ("io_port_control", "none")]);
    let device_regions = outcome.events("tile.boot-done")[0].get("device_regions").and_then(|n| n.parse::<u32>().ok());
    assert!(device_regions.is_some_and(|n| n > 0), "unused device memory kept:\n{}", outcome.tail(40));
    // The structured event lines beside the log lines (docs/architecture.md, "Event lines").
    outcome.assert_event("prober.answered", &[("request", "1"), ("value", "2")]);
    outcome.assert_serial_contains("flaky: request 13: crashing mid-request");
    outcome.assert_event("domain.stopped", &[("domain", "flaky"), ("generation", "0"), ("fault", "page-fault"), ("address", "0x0")]);
    outcome.assert_event("prober.reply-lost", &[("request", "13")]);
    outcome.assert_event("domain.restarted", &[("domain", "flaky"), ("generation", "1"), ("restart", "1"), ("max", "2")]);
    outcome.assert_event("flaky.serving", &[("generation", "1")]);
    outcome.assert_event("prober.answered", &[("request", "2"), ("value", "4")]);
    for generation in 0..=3 {
        let generation = generation.to_string();
        outcome.assert_event("doomed.starting", &[("generation", &generation)]);
        outcome
            .assert_event("domain.stopped", &[("domain", "doomed"), ("generation", &generation), ("fault", "exception"), ("vector", "6")]);
    }
    outcome.assert_event("domain.gave-up", &[("domain", "doomed"), ("restarts", "3"), ("fault", "exception")]);
}

#[test]
fn hostile_domain_is_contained_and_the_service_keeps_answering() {
    // Without scheduling budgets the spinning hostile domain (priority 120) would starve the
    // echo server (100) and the pinger (50): the last marker would never appear.
    let outcome = boot_tile("isolation", scenario_archive("isolation"), &["hostile: all attacks done", "while the hostile domain spins"]);
    // One access to memory it was never granted per generation, each a page fault the
    // supervisor reports at the address the domain announced; where the address is fixed
    // the announcement must name it (`None`: where its code or stack happens to be).
    let memory_attacks: [Option<&str>; 7] = [
        Some("0xffff800000100000"), // read kernel memory
        None,                       // write its own code
        None,                       // execute data on its stack
        Some("0x20000000"),         // read another domain's code address, unmapped here
        Some("0xffff800000100000"), // write kernel memory
        Some("0x7fffffffc000"),     // write its read-only information page
        Some("0x600000010000"),     // read just past its 64 KiB heap
    ];
    for (generation, fixed) in memory_attacks.iter().enumerate() {
        let prefix = format!("hostile: attack {generation}: ");
        let announced =
            outcome.serial.lines().find_map(|line| line.split_once(prefix.as_str())).and_then(|(_, rest)| rest.rsplit(' ').next());
        let address = announced.unwrap_or_else(|| panic!("no line {prefix:?}:\n{}", outcome.tail(40)));
        assert!(fixed.is_none_or(|fixed| fixed == address), "attack {generation} announced {address}, the table says {fixed:?}");
        let generation = generation.to_string();
        outcome.assert_event(
            "domain.stopped",
            &[("domain", "hostile"), ("generation", generation.as_str()), ("fault", "page-fault"), ("address", address)],
        );
    }
    // Every label on every slot, against its expectation table: the hostile domain holds its
    // TCB, CNode and VSpace and four IPC capabilities (log, supervisor and echo endpoints, the
    // "spinning" notification); those and its objects' methods without arguments are not
    // probed, everything else must be refused with the expected error.
    let labels = Label::ALL.len();
    let without_arguments = |object| TABLE.iter().filter(|entry| entry.object == object && entry.args.is_empty()).count();
    let skipped = 4 * labels + without_arguments(Object::Tcb) + without_arguments(Object::CNode);
    let checked = 256 * labels - skipped;
    // Each unexpected answer is its own event naming the label and the slot.
    let mismatches: Vec<String> = outcome.events("hostile.mismatch").iter().map(|event| event.line.clone()).collect();
    assert!(mismatches.is_empty(), "the hostile probe got unexpected answers (label, slot):\n{}", mismatches.join("\n"));
    outcome.assert_event("hostile.probe", &[("checked", &checked.to_string()), ("skipped", &skipped.to_string()), ("mismatched", "0")]);
    outcome.assert_serial_contains(&format!("hostile: every label on every slot: {checked} invocations refused as expected"));
    outcome.assert_serial_contains("hostile: syscall with RFLAGS.NT set: the kernel survived, NT cleared");
    outcome.assert_serial_contains("hostile: spin with RFLAGS.NT set through timer interrupts: the kernel survived, NT cleared");
    outcome.assert_serial_contains("hostile: vector registers across a failed call: kept");
    outcome.assert_serial_contains("pinger: segment selectors after the hostile domain loaded its own: DS 0x0 ES 0x0 FS 0x0 GS 0x0");
    for attempt in ["retype", "map", "forge-badge", "restart-echo", "lift-budget", "raise-priority"] {
        outcome.assert_event("hostile.attempt", &[("attempt", attempt), ("verdict", "refused")]);
    }
    assert_eq!(outcome.events("hostile.attempt").len(), 6, "{}", outcome.tail(40));
    outcome.assert_event("restart.refused", &[("domain", "echo"), ("client", "hostile"), ("reason", "status-only")]);
    outcome.assert_serial_contains("hostile: the echo server still sees its badge as Ok(Number(102))");
    let heap = outcome.serial.split("exhausted its own heap after ").nth(1).and_then(|rest| rest.split(' ').next()?.parse::<u64>().ok());
    assert!(heap.is_some_and(|kib| kib > 0 && kib <= 64), "heap exhaustion not reported within its 64 KiB: {heap:?}\n{}", outcome.tail(40));
    outcome.assert_serial_contains("pinger: 20 of 20 calls answered correctly");
    outcome.assert_event("domain.started", &[("domain", "hostile"), ("priority", "120"), ("generation", "0"), ("budget", "10ms/50ms")]);
    let spin = outcome.serial.find("hostile: last attack: spin forever at priority 120, within its budget");
    let answered = outcome.serial.find("pinger: 20 of 20 calls answered correctly while the hostile domain spins");
    assert!(spin.is_some() && answered > spin, "the pinger was not answered while the hostile domain spun:\n{}", outcome.tail(40));
    assert!(!outcome.serial.contains("ISOLATION BROKEN"), "{}", outcome.tail(40));
    assert!(!outcome.serial.contains("KERNEL EXCEPTION") && !outcome.serial.contains("panic at"), "{}", outcome.tail(40));
}

#[test]
fn device_memory_and_shared_regions_reach_exactly_their_domains() {
    // Each domain, after using its grant, touches one it was not given: the shared region
    // from the HPET reader, the HPET from the writer, a write through the reader's read-only
    // mapping. Each must be a page fault at that address.
    let ungranted = [("hpet-reader", "0x50000000"), ("writer", "0x60000000"), ("reader", "0x50000000")];
    let markers: Vec<String> = ungranted
        .iter()
        .map(|(domain, address)| format!("@event domain.stopped domain={domain} generation=0 fault=page-fault address={address}"))
        .collect();
    let markers: Vec<&str> = markers.iter().map(String::as_str).chain(["\nreader: 257-page"]).collect();
    let outcome = boot_tile("memory", scenario_archive("memory"), &markers);
    for (domain, address) in ungranted {
        outcome.assert_event("domain.stopped", &[("domain", domain), ("generation", "0"), ("fault", "page-fault"), ("address", address)]);
    }
    assert!(!outcome.serial.contains("ISOLATION BROKEN"), "{}", outcome.tail(40));
    // QEMU's HPET: vendor 0x8086 in bits 16..32 of its capability register.
    outcome.assert_serial_contains("vendor 0x8086");
    outcome.assert_serial_contains("writer: filled the shared region");
    outcome.assert_serial_contains("reader: 512 of 512 shared words as written; region listed with its physical address: true");
    outcome.assert_serial_contains("reader: 257-page region listed: true, last word 0xb16");
}

#[test]
fn mappings_over_a_programs_own_memory_are_refused_with_what_they_overlap() {
    let outcome = boot_tile("layout", scenario_archive("layout"), &["probe: no test for a domain named \"fine\""]);
    outcome.assert_serial_contains("rootserver: domain \"over-code\" not started: the mapping at 0x39bc40000000 (region \"shadow\") overlaps the program's segment at 0x39bc40000000");
    outcome.assert_serial_contains("rootserver: domain \"over-heap\" not started: the mapping at 0x600000001000 (region \"hpet\") overlaps the program's heap (0x600000000000..0x600000002000)");
    outcome.assert_event("domain.not-started", &[("domain", "over-code")]);
    outcome.assert_event("domain.not-started", &[("domain", "over-heap")]);
    outcome.assert_event("domain.started", &[("domain", "fine")]);
}

#[test]
fn a_pci_domain_that_faults_before_reporting_the_bus_does_not_hang_the_boot() {
    let outcome = boot_tile(
        "pci-fault",
        scenario_archive("pci-fault"),
        &["@event domain.gave-up domain=pci restarts=1", "probe: no test for a domain named \"bystander\""],
    );
    outcome.assert_event("pci.unreported", &[("domain", "pci")]);
    outcome.assert_serial_contains("rootserver: domain \"nvme\" not started: pci device \"nvme\": the PCI bus domain has not reported the bus (it faulted or is not running)");
    outcome.assert_event("domain.not-started", &[("domain", "nvme")]);
    outcome.assert_serial_contains("probe: no test for a domain named \"bystander\"");
    outcome.assert_event("tile.supervising", &[]);
    outcome.assert_event("domain.stopped", &[("domain", "pci"), ("generation", "0"), ("fault", "exception"), ("vector", "6")]);
}

#[test]
fn clients_of_a_server_that_did_not_start_get_an_error() {
    // The "echo" server drives an NVMe controller this machine lacks: it is not started,
    // its endpoint is withdrawn, and its client's calls fail instead of waiting forever.
    // The same program runs as "echo2" under its own endpoint (`names`), and the template.
    let outcome = boot_tile("missing-server", scenario_archive("missing-server"), &["client: done", "client2: done", "client3: done"]);
    outcome.assert_serial_contains("rootserver: domain \"echo\" not started: pci device \"nvme\"");
    outcome.assert_event("endpoint.withdrawn", &[("endpoint", "echo"), ("server", "echo"), ("clients", "client")]);
    for round in 1..=3 {
        let round_text = round.to_string();
        outcome.assert_event("echo.round", &[("client", "client"), ("round", &round_text), ("answer", "no-server"), ("verdict", "error")]);
        for client in ["client2", "client3"] {
            outcome.assert_event(
                "echo.round",
                &[("client", client), ("round", &round_text), ("answer", &(round + 1).to_string()), ("verdict", "ok")],
            );
        }
    }
    // echo2 is the echo server's program, given endpoint "echo2" as its "echo".
    outcome.assert_serial_contains("echo2: serving \"echo\" (generation 0)");
    outcome.assert_event(
        "domain.started",
        &[("domain", "echo2"), ("priority", "100"), ("generation", "0"), ("grants", "log:ClientEndpoint:0x3,echo:ServedEndpoint")],
    );
    outcome.assert_event("echo.checked", &[("client", "client2"), ("badge", "32")]);
    outcome.assert_serial_contains("greeter: serving (generation 0)");
    for bad in ["KERNEL EXCEPTION", "panic at", "stopped:", "WRONG"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(40));
    }
}

#[test]
fn the_default_tile_without_its_devices_tells_the_drivers_clients() {
    // The "ISO under plain QEMU": no NVMe, virtio-net or virtio-GPU. The drivers
    // are not started; the root server withdraws the endpoints they serve, and their
    // clients' calls fail with NoServer instead of waiting forever.
    let outcome = boot_tile(
        "default-no-devices",
        workspace_root().join("build/test/tile.archive"),
        &["client: done", "gpu-status: nobody serves the display (NoServer); stopping", "store-demo: the store stayed unavailable"],
    );
    for (server, endpoint, client) in [("gpu", "display", "gpu-status"), ("nvme", "block", "block-check,store")] {
        outcome.assert_serial_contains(&format!("rootserver: domain \"{server}\" not started: pci device \"{server}\""));
        outcome.assert_event("endpoint.withdrawn", &[("endpoint", endpoint), ("server", server), ("clients", client)]);
    }
    for client in ["block-check", "gpu-status"] {
        let told = outcome.serial.lines().any(|line| line.starts_with(&format!("{client}: ")) && line.contains("NoServer"));
        assert!(told, "{client} was not told its server is missing:\n{}", outcome.tail(40));
    }
    // The store, a client of the missing driver, says so once and answers its own clients
    // Unavailable; its client gives up with the reason.
    outcome.assert_serial_contains(
        "store: disk not available (the driver did not answer the capacity request: Protocol(NoServer)); answering Unavailable until it is",
    );
    outcome
        .assert_serial_contains("store-demo: the store stayed unavailable for 3000 ms (Store(Unavailable)): is its disk missing? stopping");
}

/// `make run` itself (the README's first command) builds the dev images and boots the
/// default tile with serial on standard output; the host reads the tile status through the
/// forwarded port (README: "Talking to the tile"), then does what the README's "Managing a
/// running tile with tilectl" shows: `tilectl --dev-key accept t1`, `ask "12+7"` (the toy
/// model's wrong answer, refuted) and `ask "5 km in m"` (verified), each ledger entry
/// checked; stopped after that.
#[test]
fn make_run_boots_the_default_tile() {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::sync::Mutex;
    let logs = &images().logs;
    std::fs::create_dir_all(logs).expect("log directory");
    let disk = logs.join("make-run-disk.img");
    let _ = std::fs::remove_file(&disk);
    let (tcp_port, udp_port) = free_ports();
    let (client_tcp_port, client_udp_port) = free_ports_besides(&[tcp_port, udp_port]);
    let (agent_port, _) = free_ports_besides(&[tcp_port, udp_port, client_tcp_port, client_udp_port]);
    let mut make = Command::new("make")
        .args(["--no-print-directory", "-C"])
        .arg(workspace_root())
        .arg("run")
        .arg(format!("TILE_DISK={}", disk.display()))
        .arg(format!("TILE_TCP_PORT={tcp_port}"))
        .arg(format!("TILE_UDP_PORT={udp_port}"))
        .arg(format!("TILE_CLIENT_TCP_PORT={client_tcp_port}"))
        .arg(format!("TILE_CLIENT_UDP_PORT={client_udp_port}"))
        .arg(format!("TILE_AGENT_PORT={agent_port}"))
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("cannot run make");
    let group = make.id();
    let mut stdout = make.stdout.take().expect("piped stdout");
    // The serial output is read to its end (a full pipe would stall the guest).
    let output = Arc::new(Mutex::new(String::new()));
    let reader_output = output.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(read) = stdout.read(&mut chunk) {
            if read == 0 {
                break;
            }
            reader_output.lock().expect("output").push_str(&String::from_utf8_lossy(&chunk[..read]));
        }
    });
    let seen = |markers: &[&str]| {
        let text = output.lock().expect("output");
        markers.iter().all(|m| text.contains(m))
    };
    // Building the dev images from scratch takes a while on a slow machine.
    let deadline = Instant::now() + Duration::from_secs(900);
    let wait = |markers: &[&str]| {
        while !seen(markers) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        seen(markers)
    };
    let status = wait(&["netstack: ready"]).then(|| read_status(tcp_port));
    let demo = wait(&["client: done", "block-check: done", "gpu-status: status screen shown"]);
    let ready = wait(&["@event model-loader.done", "@event inference.ready", "@event verify.ready", "update-agent: ready"]);
    let readme = ready.then(|| -> Result<Vec<String>, String> {
        let command = |command| tilectl(agent_port, command, Duration::from_secs(120));
        let ask = |question: &str| tileos_tilectl::Command::Ask { question: question.into(), topic: None, ledger_key: None };
        Ok(vec![command(tileos_tilectl::Command::Accept { adapter: "t1".into() })?, command(ask("12+7"))?, command(ask("5 km in m"))?])
    });
    let _ = Command::new("kill").args(["-TERM", "--", &format!("-{group}")]).status();
    let _ = make.wait();
    let output = output.lock().expect("output").clone();
    assert!(demo && ready, "make run did not bring up the tile's demo and the ask path within 15 minutes:\n{output}");
    assert!(output.contains("run: booting"), "{output}");
    assert!(output.contains(&format!("run: tile status: nc 127.0.0.1 {tcp_port}")), "{output}");
    assert!(output.contains("rootserver: all domains started; supervising"), "{output}");
    let status = status.unwrap_or_else(|| panic!("the netstack never got ready:\n{output}"));
    let status = status.unwrap_or_else(|error| panic!("{error}\n{output}"));
    assert!(status.starts_with("tileos tile: up"), "status line {status:?}");
    assert!(disk.exists(), "make run did not create its disk image");
    // The README's words: t1 accepted, "12+7" answered 22 and refuted, "5 km in m" answered
    // 5000 and verified, both entries checked against the signed head.
    let readme = readme.expect("ready").unwrap_or_else(|error| panic!("tilectl on make run's tile: {error}"));
    for text in &readme {
        eprintln!("{text}");
    }
    assert!(readme[0].starts_with("adapter t1 accepted (file sha256 "), "{}", readme[0]);
    for (text, lines) in [
        (&readme[1], ["answer: 22\n", "verification: refuted by the class A checker (expected 19)\n"]),
        (&readme[2], ["answer: 5000\n", "verification: verified (class A checker)\n"]),
    ] {
        assert!(lines.iter().all(|line| text.contains(line)), "{text}");
        assert!(text.contains("ledger check: inclusion proof and signed head verified"), "{text}");
    }
}
