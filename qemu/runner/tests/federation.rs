//! Boot tests of the federation domain (scenario `tests/scenarios/federation.toml`,
//! docs/federation.md "The federation domain"): the tile's node `ipn:3.0` and the host's
//! `tileos-dtn-node` (its library: `transfer::send_bundles`, `serve::serve`) exchange
//! bundles over TCPCLv4 both ways; hostile TCPCL peers and malformed bundles are refused and
//! counted by reason while the node keeps serving; a bundle whose next hop is down expires
//! and is counted; a local client reads and updates replicated state through the federation
//! protocol and gets precise errors for hostile messages, and is refused the update agent's
//! local service (`NotOwner`); the agent refuses malformed update bundles by reason and
//! applies the good one after them; and a bundle the tile acknowledged
//! survives QEMU being killed and reaches its next hop after the next boot on the same disk.
//!
//! The neighbours' addresses are fixed in the scenario (10.0.2.2:47102 for node 2,
//! :47104 for node 4, :47105 for node 5, never listened on), so the tests take a lock and
//! run one at a time.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tileos_bpv7::{Bundle, CreationTimestamp, Eid, Policy};
use tileos_dtn_node::serve::{Sink, serve};
use tileos_dtn_node::transfer::send_bundles;
use tileos_qemu::host::boot_and_drive;
use tileos_qemu::images::fresh_disk;
use tileos_tcpcl::RefuseReason;

const TIMEOUT: Duration = Duration::from_secs(240);
/// The federation domain's TCPCL port in the scenario.
const LISTEN_PORT: u16 = 4556;
/// Host ports of the scenario's neighbours 2 and 4.
const NODE_2_PORT: u16 = 47102;
const NODE_4_PORT: u16 = 47104;

/// The tests use fixed host ports: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn eid(text: &str) -> Eid {
    text.parse().expect("a valid endpoint ID")
}

/// A bundle as `tileos-dtn-node send` builds it: creation time now, a bundle age block of 0,
/// CRC on every block.
fn bundle(source: &str, destination: &str, payload: &[u8], lifetime_ms: u64, sequence: u64) -> Vec<u8> {
    let creation_ms = tileos_dtn_node::dtn_now_ms().unwrap_or(0);
    Bundle::builder(eid(source), eid(destination))
        .creation(CreationTimestamp { time_ms: creation_ms, sequence })
        .lifetime_ms(lifetime_ms)
        .bundle_age_ms(0)
        .payload(payload.to_vec())
        .build()
        .expect("the bundle builds")
        .encode()
        .expect("the bundle encodes")
}

/// Sends `bundles` to the tile as node `node`, retrying the connection while QEMU's user
/// network is not yet forwarding.
fn send(port: u16, node: &str, bundles: Vec<Vec<u8>>) -> Result<tileos_dtn_node::transfer::SendOutcome, String> {
    let mut last = String::new();
    for _ in 0..20 {
        match send_bundles(&format!("127.0.0.1:{port}"), &eid(node), bundles.clone(), Instant::now() + Duration::from_secs(30), |_| {}) {
            Ok(outcome) => return Ok(outcome),
            Err(error) => last = error,
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!("cannot send to the tile: {last}"))
}

/// The host's listener: keeps every bundle it receives (decoded strictly).
#[derive(Default)]
struct Collector {
    bundles: Mutex<Vec<Bundle>>,
}

impl Sink for Collector {
    fn bundle(&self, _peer: &str, data: Vec<u8>) -> Result<(), RefuseReason> {
        let bundle = Bundle::decode(&data, Policy::Strict).map_err(|_| RefuseReason::NotAcceptable)?;
        self.bundles.lock().expect("not poisoned").push(bundle);
        Ok(())
    }

    fn session_failed(&self, peer: &str, error: &str) {
        eprintln!("host listener: session with {peer} failed: {error}");
    }
}

/// A host listener on `port` as `node`; the collector sees what it receives.
fn listen(port: u16, node: &str) -> Arc<Collector> {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|error| panic!("listen on {port}: {error}"));
    let collector = Arc::new(Collector::default());
    let sink: Arc<dyn Sink> = collector.clone();
    let node = eid(node);
    std::thread::spawn(move || serve(listener, &node, sink));
    collector
}

/// Waits until the collector holds a bundle with `payload`.
fn wait_for_payload(collector: &Collector, payload: &[u8], timeout: Duration) -> Result<Bundle, String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(found) = collector.bundles.lock().expect("not poisoned").iter().find(|b| b.payload() == payload) {
            return Ok(found.clone());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("the host never received the payload {:?}", String::from_utf8_lossy(payload)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A contact header (`dtn!`, version 4, no flags).
const CONTACT: [u8; 6] = *b"dtn!\x04\x00";

/// A SESS_INIT for node ID `node`: keepalive 0, MRUs 64 KiB, no extensions.
fn sess_init(node: &str) -> Vec<u8> {
    let mut m = vec![0x07];
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(&65536u64.to_be_bytes());
    m.extend_from_slice(&65536u64.to_be_bytes());
    m.extend_from_slice(&(node.len() as u16).to_be_bytes());
    m.extend_from_slice(node.as_bytes());
    m.extend_from_slice(&0u32.to_be_bytes());
    m
}

/// An XFER_SEGMENT with START and END, transfer 1, no extensions, declaring `length` bytes
/// and carrying `data`.
fn segment(length: u64, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0x01, 0x03];
    m.extend_from_slice(&1u64.to_be_bytes());
    m.extend_from_slice(&0u32.to_be_bytes());
    m.extend_from_slice(&length.to_be_bytes());
    m.extend_from_slice(data);
    m
}

/// Opens a raw connection, writes `pieces`, reads whatever comes for a moment, closes.
fn raw(port: u16, pieces: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_millis(1500))).ok();
    for piece in pieces {
        stream.write_all(piece).map_err(|e| format!("write: {e}"))?;
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
    }
    Ok(answer)
}

/// Fails unless the serial log shows an event line with all of `fields` within `timeout`.
fn wait_event(log: &Path, name: &str, fields: &[(&str, &str)], timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.lines().filter_map(tileos_qemu::Event::parse).any(|e| e.name == name && e.has(fields)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no event {name} with {fields:?} in the serial log"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Makes a payload.
type Payload = fn() -> Vec<u8>;

/// Update bundles for the agent that are not updates, and the reason each is refused with
/// (`@event fedagent.refused reason=`).
const MALFORMED_UPDATES: [(Payload, &str); 7] = [
    (|| b"\xff\xfe=not-text".to_vec(), "NotText"),
    (|| b"no-equals-sign".to_vec(), "NoEquals"),
    (|| b"=empty-key".to_vec(), "BadLength"),
    (|| b"empty-value=".to_vec(), "BadLength"),
    (|| [vec![b'k'; 65], b"=key-longer-than-a-register-name".to_vec()].concat(), "BadLength"),
    // Longer than a federation message carries (768 bytes): the agent sees it cut.
    (|| [b"big=".to_vec(), vec![b'v'; 1000]].concat(), "Truncated"),
    // A remote peer forging this tile's telemetry figures through the agent: the node
    // refuses the `telemetry.` name.
    (|| b"telemetry.tile.3=load=0 faults=0 restarts=0 calls=0 p99_us=0".to_vec(), "ReservedName"),
];

/// The update after the malformed ones: register `fedtest.agent` := `applied`.
const GOOD_UPDATE: &[u8] = b"fedtest.agent=applied";

/// What the interop run measured.
struct Interop {
    host_to_tile_ms: u128,
    tile_to_host_ms: u128,
    /// 1 KiB bundles per second host → tile over one session, each stored durably before
    /// its acknowledgement.
    custody_per_s: f64,
}

/// The host's side of the interop run.
fn drive_interop(port: u16, log: &Path, host: &Collector) -> Result<Interop, String> {
    // Host → tile: a bundle for the tile's service 1 is delivered (logged) byte-exact.
    let payload = b"host to tile: the quick brown fox \x00\x01\x02\xff".to_vec();
    let started = Instant::now();
    let outcome = send(port, "ipn:2.0", vec![bundle("ipn:2.1", "ipn:3.1", &payload, 3_600_000, 1)])?;
    if outcome.acked != 1 {
        return Err(format!("the tile acknowledged {} of 1 bundle: {outcome:?}", outcome.acked));
    }
    wait_event(log, "fed.delivered", &[("hex", &hex(&payload)), ("bytes", &payload.len().to_string())], Duration::from_secs(20))?;
    let host_to_tile_ms = started.elapsed().as_millis();
    // Tile → host: the local client's bundle (sent at start) reaches the host's node 2.
    let from_client = wait_for_payload(host, b"hello from the tile's federation client", Duration::from_secs(60))?;
    if from_client.source != eid("ipn:3.1") {
        return Err(format!("the client's bundle came from {}", from_client.source));
    }
    // Host → tile → host: a bundle for node 9 is stored, routed via node 2 and forwarded.
    let round_trip = b"around through the tile and back".to_vec();
    let started = Instant::now();
    let outcome = send(port, "ipn:2.0", vec![bundle("ipn:2.1", "ipn:9.1", &round_trip, 3_600_000, 2)])?;
    if outcome.acked != 1 {
        return Err(format!("the tile did not take the bundle for node 9: {outcome:?}"));
    }
    let forwarded = wait_for_payload(host, &round_trip, Duration::from_secs(30))?;
    let tile_to_host_ms = started.elapsed().as_millis();
    if forwarded.destination != eid("ipn:9.1") || forwarded.source != eid("ipn:2.1") {
        return Err(format!("forwarded bundle changed: {:?} -> {:?}", forwarded.source, forwarded.destination));
    }
    // Expiry: a 3 s bundle for node 5, which is never up, is held and then dropped.
    let outcome = send(port, "ipn:2.0", vec![bundle("ipn:2.1", "ipn:5.1", b"short-lived", 3_000, 3)])?;
    if outcome.acked != 1 {
        return Err(format!("the tile did not take the bundle for node 5: {outcome:?}"));
    }
    wait_event(log, "fed.dropped", &[("reason", "expired")], Duration::from_secs(30))?;
    // Throughput: 100 bundles of 1 KiB for the tile's service 2 over one session.
    let many: Vec<Vec<u8>> = (0..100u64).map(|i| bundle("ipn:2.1", "ipn:3.2", &[i as u8; 1024], 3_600_000, 100 + i)).collect();
    let started = Instant::now();
    let outcome = send(port, "ipn:2.0", many)?;
    let custody_per_s = outcome.acked as f64 / started.elapsed().as_secs_f64();
    if outcome.acked != 100 {
        return Err(format!("the tile acknowledged {} of 100 bundles: {outcome:?}", outcome.acked));
    }
    // The update agent (owner of local service 9): malformed updates first, then a good one.
    let bad: Vec<Vec<u8>> = MALFORMED_UPDATES.iter().map(|(payload, _)| payload()).collect();
    let mut updates: Vec<Vec<u8>> =
        bad.iter().enumerate().map(|(i, payload)| bundle("ipn:2.1", "ipn:3.9", payload, 3_600_000, 200 + i as u64)).collect();
    updates.push(bundle("ipn:2.1", "ipn:3.9", GOOD_UPDATE, 3_600_000, 299));
    let outcome = send(port, "ipn:2.0", updates)?;
    if outcome.acked != MALFORMED_UPDATES.len() + 1 {
        return Err(format!("the tile did not take every update bundle: {outcome:?}"));
    }
    // Held bundles are taken oldest first: the good one is applied after every refusal.
    wait_event(log, "fedagent.applied", &[("key", "fedtest.agent"), ("value", "applied")], Duration::from_secs(30))?;
    // Hostile TCPCL peers.
    raw(port, &[b"XXXX\x04\x00".to_vec()])?;
    wait_event(log, "fed.refused", &[("reason", "tcpcl-contact-header")], Duration::from_secs(20))?;
    raw(port, &[CONTACT.to_vec(), segment(4, b"abcd")])?;
    raw(port, &[CONTACT.to_vec(), sess_init("ipn:2.0"), vec![0xee; 40]])?;
    wait_event(log, "fed.refused", &[("reason", "tcpcl-message")], Duration::from_secs(20))?;
    raw(port, &[CONTACT.to_vec(), sess_init("ipn:2.0"), segment(1 << 40, b"x")])?;
    wait_event(log, "fed.refused", &[("reason", "tcpcl-too-large")], Duration::from_secs(20))?;
    raw(port, &[CONTACT.to_vec(), sess_init("ipn:2.0"), segment(100, &[0x9f; 10])])?;
    raw(port, &[CONTACT.to_vec(), sess_init("ipn:77.0")])?;
    wait_event(log, "fed.refused", &[("reason", "unknown-peer")], Duration::from_secs(20))?;
    let mut bad_sess_init = sess_init("ipn:2.0");
    bad_sess_init[3..11].copy_from_slice(&0u64.to_be_bytes()); // segment MRU 0
    raw(port, &[CONTACT.to_vec(), bad_sess_init])?;
    wait_event(log, "fed.refused", &[("reason", "tcpcl-sess-init")], Duration::from_secs(20))?;
    // Malformed bundles over a good session: bad CBOR, a bad CRC, a huge declared length.
    let mut bad_crc = bundle("ipn:2.1", "ipn:3.1", b"checksummed", 60_000, 4);
    let last = bad_crc.len() - 5;
    bad_crc[last] ^= 0x55;
    let huge = vec![0x9f, 0x89, 0x07, 0x00, 0x01, 0x82, 0x02, 0x82, 0x03, 0x01, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let outcome = send(port, "ipn:2.0", vec![b"not cbor at all".to_vec(), bad_crc, huge])?;
    if outcome.refused.len() != 3 || outcome.refused.iter().any(|(_, reason)| *reason != RefuseReason::NotAcceptable) {
        return Err(format!("malformed bundles were not all refused as not acceptable: {outcome:?}"));
    }
    wait_event(log, "fed.refused", &[("reason", "malformed-bundle")], Duration::from_secs(20))?;
    // Many connections opened and dropped at once.
    for _ in 0..30 {
        let _ = TcpStream::connect(("127.0.0.1", port));
    }
    // The node still serves: a good bundle gets through.
    let after = b"still serving after the attack".to_vec();
    let outcome = send(port, "ipn:2.0", vec![bundle("ipn:2.1", "ipn:3.1", &after, 3_600_000, 5)])?;
    if outcome.acked != 1 {
        return Err(format!("the good bundle after the attack was not acknowledged: {outcome:?}"));
    }
    wait_event(log, "fed.delivered", &[("hex", &hex(&after))], Duration::from_secs(20))?;
    // The status line counts it all (logged at most once a second).
    std::thread::sleep(Duration::from_millis(1500));
    Ok(Interop { host_to_tile_ms, tile_to_host_ms, custody_per_s })
}

#[test]
fn the_tile_and_the_host_exchange_bundles_both_ways_and_hostile_peers_are_refused_by_reason() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let disk = fresh_disk("federation-interop.img", 16 << 20);
    let host = listen(NODE_2_PORT, "ipn:2.0");
    let collector = host.clone();
    let started = Instant::now();
    let (outcome, figures) = boot_and_drive(
        "federation",
        "tile-federation-interop.log",
        tileos_qemu::nvme_disk_args(&disk),
        LISTEN_PORT,
        &["@event fed.ready", "@event fedclient.done"],
        TIMEOUT,
        move |port, log| drive_interop(port, log, &collector),
    );
    eprintln!(
        "federation interop: run {} s; host -> tile delivered in {} ms, host -> tile -> host in {} ms, {:.0} bundles/s of 1 KiB host -> tile (custody)",
        started.elapsed().as_secs(),
        figures.host_to_tile_ms,
        figures.tile_to_host_ms,
        figures.custody_per_s
    );
    for bad in ["FAILED", "KERNEL EXCEPTION", "panic at", "domain.restarted", "domain.stopped"] {
        assert!(!outcome.serial.contains(bad), "serial log contains {bad:?}:\n{}", outcome.tail(80));
    }
    // The local client: replicated state read back, precise errors for hostile messages.
    for what in [
        "counter",
        "register",
        "inventory",
        "register-not-found",
        "empty-name",
        "node-zero",
        "receive-not-local",
        "receive-not-owner",
        "confirm-not-owner",
        "forged-figures-refused",
        "publish-not-publisher",
        "no-forged-figures",
        "send",
        "hostile-unknown-label",
        "hostile-length-beyond-message",
        "hostile-undecodable",
        "still-serving",
        "config-refused",
    ] {
        outcome.assert_event("fedclient.check", &[("what", what), ("result", "ok")]);
    }
    assert_eq!(
        outcome
            .events("fedclient.check")
            .iter()
            .filter(|e| e.get("what") == Some("confirm-not-owner") && e.get("result") == Some("ok"))
            .count(),
        3,
        "the client confirmed forged numbers of the agent's service:\n{}",
        outcome.tail(80)
    );
    assert_eq!(
        outcome
            .events("fedclient.check")
            .iter()
            .filter(|e| e.get("what") == Some("forged-figures-refused") && e.get("result") == Some("ok"))
            .count(),
        3,
        "the client's forged telemetry writes (two registers, a counter) were not all refused:\n{}",
        outcome.tail(80)
    );
    outcome.assert_event("fedclient.counter", &[("value", "3")]);
    // The agent: each malformed update refused with its reason and from node 2, nothing of
    // them applied, and the good one after them applied.
    let refused = outcome.events("fedagent.refused");
    for reason in ["NotText", "NoEquals", "BadLength", "Truncated", "ReservedName"] {
        let expected = MALFORMED_UPDATES.iter().filter(|(_, r)| *r == reason).count();
        let seen = refused.iter().filter(|e| e.get("reason") == Some(reason) && e.get("from") == Some("2")).count();
        assert_eq!(seen, expected, "fedagent.refused reason={reason}:\n{}", outcome.tail(80));
    }
    assert_eq!(refused.len(), MALFORMED_UPDATES.len(), "{}", outcome.tail(80));
    let applied = outcome.events("fedagent.applied");
    assert_eq!(applied.len(), 1, "only the good update is applied: {:?}", applied.iter().map(|e| &e.line).collect::<Vec<_>>());
    assert!(outcome.events("fedagent.confirm-failed").is_empty() && outcome.events("fedagent.retry").is_empty(), "{}", outcome.tail(80));
    // The replicated state holds two registers: the client's and the agent's good update.
    let state = outcome.events("fed.state");
    assert_eq!(state.last().and_then(|e| e.get("registers")), Some("2"), "{}", outcome.tail(80));
    outcome.assert_event("fedclient.done", &[("server_restarted", "false")]);
    outcome.assert_event("federation-config.refused", &[("client", "federation-client"), ("reason", "NotFederationDomain")]);
    for reason in ["tcpcl-contact-header", "tcpcl-message", "tcpcl-too-large", "unknown-peer", "tcpcl-sess-init", "malformed-bundle"] {
        outcome.assert_event("fed.refused", &[("reason", reason)]);
    }
    outcome.assert_event("fed.dropped", &[("reason", "expired")]);
    outcome.assert_event("fed.forwarded", &[("to", "2")]);
    let status = outcome.events("fed.status");
    let last = status.last().expect("a status line");
    let number = |key: &str| last.get(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    assert!(number("received") >= 104, "received: {}", last.line);
    assert!(number("delivered") >= 102, "delivered: {}", last.line);
    assert!(number("expired") >= 1, "expired: {}", last.line);
    assert!(number("refused") >= 8, "refused: {}", last.line);
    assert!(host.bundles.lock().expect("not poisoned").len() >= 2);
}

#[test]
fn a_bundle_the_tile_acknowledged_reaches_its_next_hop_after_qemu_is_killed_and_the_tile_boots_again() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let disk = fresh_disk("federation-custody.img", 16 << 20);
    let payload = b"custody: kept across a power cut".to_vec();
    // First boot: node 4 is down; the tile stores the bundle durably, acknowledges it, and
    // QEMU is killed.
    let to_send = payload.clone();
    let (first, ()) = boot_and_drive(
        "federation",
        "tile-federation-custody-1.log",
        tileos_qemu::nvme_disk_args(&disk),
        LISTEN_PORT,
        &["@event fed.ready"],
        TIMEOUT,
        move |port, log| {
            let outcome = send(port, "ipn:2.0", vec![bundle("ipn:2.1", "ipn:4.1", &to_send, 3_600_000, 7)])?;
            if outcome.acked != 1 {
                return Err(format!("the tile did not acknowledge the bundle for node 4: {outcome:?}"));
            }
            wait_event(log, "fed.stored", &[], Duration::from_secs(10))
        },
    );
    assert!(first.events("fed.forwarded").iter().all(|e| e.get("to") != Some("4")), "node 4 was down:\n{}", first.tail(40));
    // Second boot on the same disk, node 4 up: it receives the bundle.
    let node_4 = listen(NODE_4_PORT, "ipn:4.0");
    let collector = node_4.clone();
    let wanted = payload.clone();
    let (second, received) = boot_and_drive(
        "federation",
        "tile-federation-custody-2.log",
        tileos_qemu::nvme_disk_args(&disk),
        LISTEN_PORT,
        &["@event fed.ready"],
        TIMEOUT,
        move |_, _| wait_for_payload(&collector, &wanted, Duration::from_secs(90)),
    );
    assert_eq!(received.payload(), payload.as_slice());
    assert_eq!(received.destination, eid("ipn:4.1"));
    let recovered = second.events("fed.recovered");
    let bundles = recovered.first().and_then(|e| e.get("bundles")).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    assert!(bundles >= 1, "recovery found no bundle:\n{}", second.tail(60));
}
