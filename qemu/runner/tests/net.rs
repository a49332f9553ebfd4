//! Boot test of the network (scenario `tests/scenarios/net.toml`): the pci domain enables
//! the virtio-net device, the net driver brings it up with interrupts, the netstack (clock
//! and wake-up timer: the HPET) takes its address by DHCP from QEMU user networking and
//! pings the router; then, from the
//! host, through QEMU's `hostfwd`, the test reads the tile status line over TCP (on two
//! connections, one after the other) and gets a UDP datagram echoed.
//!
//! The socket test boots the same scenario with two more ports forwarded: the net-client
//! domain, a client of the netstack's socket protocol, answers lines on TCP and datagrams
//! on UDP; the host checks every answer byte for byte.
//!
//! The fault-tolerance test (scenario `tests/scenarios/net-fault.toml`) has the net driver
//! killed and restarted, through the supervisor, while the host sends a stream of numbered
//! UDP datagrams: every echo must be exactly a datagram that was sent (never corrupted),
//! echoes must come back after the restart, and the tile status must still be served by the
//! same netstack generation.

use std::io::Read;
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tileos_qemu::host::{converse, datagram, free_ports, free_ports_besides, read_status, wait_for};
use tileos_qemu::images::{scenario_archive, test_images};
use tileos_qemu::{
    CLIENT_TCP_PORT, CLIENT_UDP_PORT, Forward, Machine, forwarded_network, forwarded_network_with, run_until, run_until_host_done,
};

const TIMEOUT: Duration = Duration::from_secs(90);
/// What the host sends to the echo port.
const DATAGRAM: &[u8] = b"tileos udp echo check";

/// The host's side, once the netstack is ready: the status line over TCP (twice), then the
/// echo.
fn talk_to_the_tile(tcp_port: u16, udp_port: u16) -> Result<(String, Vec<u8>), String> {
    // (read_status retries a connection QEMU's user network closed without data: that
    // happens when the guest answers QEMU's connection attempt late, on a loaded host.)
    let status = read_status(tcp_port)?;
    // The status socket listens again after a connection: a second client is served too.
    let again = read_status(tcp_port)?;
    if again != status {
        return Err(format!("second status line {again:?} differs from the first {status:?}"));
    }
    let echo = datagram(udp_port, DATAGRAM).map_err(|error| format!("{error} (status line was {status:?})"))?;
    Ok((status, echo))
}

/// Boots the net scenario with `network` as QEMU's network arguments (host ports `tcp_port`
/// and `udp_port` forwarded) into the serial log `log_name`; the host reads the status twice
/// and gets a datagram echoed once the netstack is ready. Returns the run and what the host
/// got, after checking that nothing went wrong.
fn boot_and_talk(network: Vec<String>, tcp_port: u16, udp_port: u16, log_name: &str) -> (tileos_qemu::RunOutcome, String, Vec<u8>) {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let boot = images.tile_boot(scenario_archive("net"));
    let machine = Machine { extra_args: network, ..Machine::default() };
    let log = images.logs.join(log_name);
    std::fs::create_dir_all(&images.logs).expect("log directory");
    // No ready line from an earlier run may be seen before QEMU starts.
    std::fs::write(&log, b"").expect("empty the serial log");
    // The host side runs beside QEMU: it waits for the netstack's ready line, then talks.
    let (sender, results) = mpsc::channel();
    let watched = log.clone();
    let done = Arc::new(AtomicBool::new(false));
    let host_done = done.clone();
    let host = std::thread::spawn(move || {
        let result = if wait_for(&watched, "netstack: ready", Instant::now() + TIMEOUT) {
            talk_to_the_tile(tcp_port, udp_port)
        } else {
            Err("the netstack never logged \"netstack: ready\"".into())
        };
        let _ = sender.send(result);
        host_done.store(true, Ordering::SeqCst);
    });
    let outcome = run_until_host_done(&machine, &boot, &log, TIMEOUT, &["netstack: status served", "netstack: udp echo of"], &done)
        .unwrap_or_else(|error| panic!("{error}"));
    host.join().expect("the host side does not panic");
    let talk = results.try_recv().unwrap_or_else(|_| Err("the host side did not finish".into()));
    outcome.assert_reached();
    let (status, echo) = talk.unwrap_or_else(|error| panic!("{error}; last serial lines:\n{}", outcome.tail(40)));
    for bad in ["KERNEL EXCEPTION", "panic at", "stopped:", "faults so far"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(40));
    }
    assert_eq!(outcome.netstack_ring_errors(), None, "{}", outcome.tail(40));
    assert_eq!(status, "tileos tile: up (netstack \"netstack\" generation 0, address 10.0.2.15/24)\n");
    assert_eq!(echo, DATAGRAM);
    (outcome, status, echo)
}

#[test]
fn netstack_gets_a_dhcp_lease_serves_tile_status_over_tcp_and_echoes_udp() {
    let (tcp_port, udp_port) = free_ports();
    let (outcome, _, _) = boot_and_talk(forwarded_network(tcp_port, udp_port), tcp_port, udp_port, "tile-net.log");
    // The pci domain's view, and the driver using what it reported.
    outcome.assert_serial_contains("pci: 00:03.0 1af4:1000 class 02.00.00 (Ethernet controller), irq line 11 pin INTA");
    outcome.assert_serial_contains("pci: 00:03.0   BAR0 io at 0xc000 size 0x20");
    outcome.assert_event(
        "pci.located",
        &[
            ("device", "net"),
            ("address", "00:03.0"),
            ("id", "1af4:1000"),
            ("msix", "yes"),
            ("bars", "BAR0:io:0xc000+0x20,BAR1:mem:0xfebd1000+0x1000,BAR4:mem:0xfe000000+0x4000"),
        ],
    );
    outcome.assert_serial_contains("net: virtio-net at 00:03.0: IO ports 0xc000.., MSI-X");
    outcome.assert_serial_contains(
        "net: virtio-net ready: MAC 52:54:00:12:34:56, queues of 256 and 256 entries, 32 buffers each way, interrupts on MSI-X vector 0",
    );
    outcome.assert_serial_contains("net: first interrupt");
    outcome.assert_serial_contains("net: first frame sent");
    outcome.assert_serial_contains("net: first frame received");
    // The netstack's clock and wake-up timer (the HPET), and a sleep it woke from by timer.
    outcome.assert_serial_contains("netstack: clock and wake-up timer: HPET at 100000 kHz, timer 0 on IOAPIC pin 2");
    outcome.assert_serial_contains("netstack: wake-up timer checked: its interrupt arrived on IOAPIC pin 2");
    // DHCP from QEMU user networking, the lease in the log, and a ping to the router.
    outcome.assert_serial_contains("netstack: MAC 52-54-00-12-34-56, asking for an address by DHCP");
    outcome.assert_serial_contains("netstack: DHCP lease 10.0.2.15/24 router 10.0.2.2");
    outcome.assert_serial_contains("netstack: ready: 10.0.2.15/24 serving the tile status on TCP port 8080 and UDP echo on port 7");
    outcome.assert_serial_contains("netstack: ping 10.0.2.2: echo reply 1 with 6 bytes");
    outcome.assert_serial_contains(&format!("netstack: udp echo of {} bytes to 10.0.2.2:", DATAGRAM.len()));
    // Both connections were served before the datagram was sent.
    // (More than two when QEMU gave up on a slow connection attempt that the guest served
    // later: read_status retried it.)
    assert!(outcome.serial.matches("netstack: status served to 10.0.2.2:").count() >= 2, "{}", outcome.tail(20));
}

/// A device without MSI-X (QEMU's `vectors=0`): the root server routes its INTx line to the
/// driver instead (IOAPIC pin 11 here), and the driver reads the ISR to lower it.
#[test]
fn net_driver_takes_interrupts_on_the_intx_line_of_a_device_without_msix() {
    let (tcp_port, udp_port) = free_ports();
    let mut network = forwarded_network(tcp_port, udp_port);
    let device = network.iter_mut().find(|arg| arg.starts_with("virtio-net-pci")).expect("the network device");
    device.push_str(",vectors=0");
    let (outcome, _, _) = boot_and_talk(network, tcp_port, udp_port, "tile-net-intx.log");
    outcome.assert_event(
        "pci.located",
        &[("device", "net"), ("address", "00:03.0"), ("msix", "no"), ("bars", "BAR0:io:0xc000+0x20,BAR4:mem:0xfe000000+0x4000")],
    );
    outcome.assert_serial_contains("net.intx IrqHandler");
    outcome.assert_serial_contains("pci: 00:03.0 enabled for its driver (command 0x0107, INTx)");
    outcome.assert_serial_contains("net: virtio-net at 00:03.0: IO ports 0xc000.., INTx");
    outcome.assert_serial_contains(
        "net: virtio-net ready: MAC 52:54:00:12:34:56, queues of 256 and 256 entries, 32 buffers each way, interrupts on INTx",
    );
    outcome.assert_serial_contains("net: first interrupt");
}

/// The host's side of the fault-tolerance test: numbered datagrams every 50 ms from when the
/// netstack is ready until `after_wanted` echoes came back after the driver's restart
/// (or the deadline), then the tile status over TCP.
struct Traffic {
    /// Datagrams sent.
    sent: u32,
    /// Echoes received before the kill line was in the log.
    before_kill: u32,
    /// Echoes received between the kill and the restart line.
    during_restart: u32,
    /// Echoes received after the restart line.
    after_restart: u32,
    /// The status line read at the end.
    status: String,
}

/// The datagram with sequence number `sequence`.
fn numbered(sequence: u32) -> Vec<u8> {
    let mut datagram = format!("tileos fault-tolerance echo {sequence:06} ").into_bytes();
    datagram.extend((0..200u32).map(|index| (index.wrapping_mul(31) ^ sequence) as u8));
    datagram
}

fn traffic_through_a_driver_restart(log: &Path, tcp_port: u16, udp_port: u16, deadline: Instant) -> Result<Traffic, String> {
    if !wait_for(log, "netstack: ready", deadline) {
        return Err("the netstack never logged \"netstack: ready\"".into());
    }
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|error| format!("bind UDP: {error}"))?;
    socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut traffic = Traffic { sent: 0, before_kill: 0, during_restart: 0, after_restart: 0, status: String::new() };
    let mut buffer = [0u8; 1500];
    let log_text = || std::fs::read(log).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default();
    while traffic.after_restart < 10 {
        if Instant::now() > deadline {
            return Err(format!(
                "deadline passed: {} sent, {} echoed before the kill, {} during, {} after the restart",
                traffic.sent, traffic.before_kill, traffic.during_restart, traffic.after_restart
            ));
        }
        socket.send_to(&numbered(traffic.sent), ("127.0.0.1", udp_port)).map_err(|error| format!("send: {error}"))?;
        traffic.sent += 1;
        let receive_until = Instant::now() + Duration::from_millis(50);
        while Instant::now() < receive_until {
            let Ok((length, _)) = socket.recv_from(&mut buffer) else { break };
            let echo = &buffer[..length];
            let sequence: Option<u32> = std::str::from_utf8(&echo[28..34.min(length)]).ok().and_then(|digits| digits.parse().ok());
            match sequence {
                Some(sequence) if sequence < traffic.sent && echo == numbered(sequence).as_slice() => {}
                _ => return Err(format!("corrupted echo of {length} bytes: {:?}", String::from_utf8_lossy(echo))),
            }
            let text = log_text();
            if text.contains("@event domain.restarted domain=net ") {
                traffic.after_restart += 1;
            } else if text.contains("@event domain.killed domain=net ") {
                traffic.during_restart += 1;
            } else {
                traffic.before_kill += 1;
            }
        }
    }
    for _ in 0..5 {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", tcp_port)) {
            stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            if stream.read_to_string(&mut traffic.status).is_ok() && !traffic.status.is_empty() {
                return Ok(traffic);
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!("no tile status after the restart (got {:?})", traffic.status))
}

#[test]
fn net_driver_killed_during_udp_traffic_is_restarted_and_the_netstack_keeps_serving() {
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let boot = images.tile_boot(scenario_archive("net-fault"));
    let (tcp_port, udp_port) = free_ports();
    let machine = Machine { extra_args: forwarded_network(tcp_port, udp_port), ..Machine::default() };
    let log = images.logs.join("tile-net-fault.log");
    std::fs::create_dir_all(&images.logs).expect("log directory");
    std::fs::write(&log, b"").expect("empty the serial log");
    let timeout = Duration::from_secs(150);
    let (sender, results) = mpsc::channel();
    let watched = log.clone();
    let host = std::thread::spawn(move || {
        let _ = sender.send(traffic_through_a_driver_restart(&watched, tcp_port, udp_port, Instant::now() + timeout));
    });
    let outcome =
        run_until(&machine, &boot, &log, timeout, &["chaos-net: done", "@event domain.restarted domain=net ", "netstack: status served"])
            .unwrap_or_else(|error| panic!("{error}"));
    host.join().expect("the host side does not panic");
    let traffic = results.try_recv().unwrap_or_else(|_| Err("the host side did not finish".into()));
    outcome.assert_reached();
    let traffic = traffic.unwrap_or_else(|error| panic!("{error}; last serial lines:\n{}", outcome.tail(40)));
    for bad in ["KERNEL EXCEPTION", "panic at", "stopped:", "faults so far", "FAIL", "could not be"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(40));
    }
    assert_eq!(outcome.netstack_ring_errors(), None, "{}", outcome.tail(40));
    // The kill came while the host's traffic was being echoed, and echoes resumed after it.
    assert!(traffic.before_kill > 0, "no echo before the kill: the kill did not hit running traffic ({} sent)", traffic.sent);
    assert!(traffic.after_restart >= 10, "{} echoes after the restart", traffic.after_restart);
    outcome.assert_event("domain.killed", &[("domain", "net"), ("client", "chaos-net"), ("generation", "0")]);
    outcome.assert_event("domain.restarted", &[("domain", "net"), ("generation", "1"), ("restart", "1"), ("max", "3")]);
    outcome.assert_serial_contains("chaos-net: supervisor answered Restarted { generation: 1, restarts: 1 }");
    outcome.assert_serial_contains("chaos-net: status: netstack Running generation 0 restarts 0");
    // The new driver generation re-initialised the device and took over the frame rings.
    assert_eq!(outcome.serial.matches("net: virtio-net ready: MAC 52:54:00:12:34:56").count(), 2, "{}", outcome.tail(40));
    outcome.assert_serial_contains("net: generation 1: took over the frame rings: ");
    outcome.assert_serial_contains(", 0 rings resynchronised");
    // The netstack survived: same generation, same address, one DHCP lease only.
    assert!(!outcome.serial.contains("started domain \"netstack\" (priority 100, generation 1)"), "{}", outcome.tail(40));
    assert_eq!(outcome.serial.matches("netstack: DHCP lease 10.0.2.15/24").count(), 1, "{}", outcome.tail(40));
    assert_eq!(traffic.status, "tileos tile: up (netstack \"netstack\" generation 0, address 10.0.2.15/24)\n");
    println!(
        "{} datagrams sent; echoes: {} before the kill, {} during the restart, {} after",
        traffic.sent, traffic.before_kill, traffic.during_restart, traffic.after_restart
    );
}

/// What the net-client answers to `lines`.
fn heard(lines: &[&str]) -> String {
    lines.iter().map(|line| format!("net-client heard: {line}\n")).collect()
}

/// The host's side of the socket test: two TCP conversations (one line split across
/// writes), then two datagrams; every answer is checked byte for byte.
fn talk_to_the_client(tcp_port: u16, udp_port: u16) -> Result<(), String> {
    let first = converse(tcp_port, &["hello tile\n", "second li", "ne\n"])?;
    if first != heard(&["hello tile", "second line"]) {
        return Err(format!("first conversation answered {first:?}"));
    }
    let second = converse(tcp_port, &["one\ntwo\nthree\n"])?;
    if second != heard(&["one", "two", "three"]) {
        return Err(format!("second conversation answered {second:?}"));
    }
    for payload in [&b"datagram one"[..], b"and two"] {
        let answer = datagram(udp_port, payload)?;
        if answer != [&b"net-client got: "[..], payload].concat() {
            return Err(format!("datagram {:?} answered {:?}", String::from_utf8_lossy(payload), String::from_utf8_lossy(&answer)));
        }
    }
    Ok(())
}

#[test]
fn a_client_domain_answers_tcp_lines_and_udp_datagrams_through_the_socket_protocol() {
    let (tcp_port, udp_port) = free_ports();
    let (client_tcp, client_udp) = free_ports_besides(&[tcp_port, udp_port]);
    let network = forwarded_network_with(
        tcp_port,
        udp_port,
        &[
            Forward { udp: false, host: client_tcp, guest: CLIENT_TCP_PORT },
            Forward { udp: true, host: client_udp, guest: CLIENT_UDP_PORT },
        ],
    );
    let images = test_images().unwrap_or_else(|error| panic!("{error}"));
    let boot = images.tile_boot(scenario_archive("net"));
    let machine = Machine { extra_args: network, ..Machine::default() };
    let log = images.logs.join("tile-net-sockets.log");
    std::fs::create_dir_all(&images.logs).expect("log directory");
    std::fs::write(&log, b"").expect("empty the serial log");
    let (sender, results) = mpsc::channel();
    let watched = log.clone();
    let done = Arc::new(AtomicBool::new(false));
    let host_done = done.clone();
    let host = std::thread::spawn(move || {
        let deadline = Instant::now() + TIMEOUT;
        let result = if wait_for(&watched, "netstack: ready", deadline) && wait_for(&watched, "net-client: ready", deadline) {
            talk_to_the_client(client_tcp, client_udp)
        } else {
            Err("the netstack or the net-client never logged its ready line".into())
        };
        let _ = sender.send(result);
        host_done.store(true, Ordering::SeqCst);
    });
    let outcome = run_until_host_done(
        &machine,
        &boot,
        &log,
        TIMEOUT,
        &["closed, 2 lines answered", "closed, 3 lines answered", "net-client: udp datagram of 7 bytes"],
        &done,
    )
    .unwrap_or_else(|error| panic!("{error}"));
    host.join().expect("the host side does not panic");
    let talk = results.try_recv().unwrap_or_else(|_| Err("the host side did not finish".into()));
    talk.unwrap_or_else(|error| panic!("{error}; last serial lines:\n{}", outcome.tail(40)));
    outcome.assert_reached();
    for bad in ["KERNEL EXCEPTION", "panic at", "stopped:", "faults so far", "stopping", "not sent", "dropped:"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(40));
    }
    outcome.assert_event("domain.started", &[("domain", "net-client")]);
    outcome.assert_serial_contains("TCP discard on port 9, sockets for other domains on endpoint \"socket\"");
    outcome.assert_serial_contains("netstack: socket client 0x1: buffer of 0x1000 bytes, notification yes");
    outcome.assert_serial_contains("net-client: ready: answering lines on TCP port 7070 and datagrams on UDP port 5000");
    let accepted = outcome
        .serial
        .lines()
        .filter(|line| line.starts_with("net-client: tcp connection from 10.0.2.2:") && !line.contains("closed"))
        .count();
    // (More when QEMU gave up on a slow connection attempt that the guest accepted later.)
    assert!(accepted >= 2, "{}", outcome.tail(20));
    outcome.assert_serial_contains("net-client: udp datagram of 12 bytes from 10.0.2.2:");
}
