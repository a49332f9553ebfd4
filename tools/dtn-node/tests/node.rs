//! Node mode (`tileos-dtn-node node`) as an operator runs it: node processes in a chain, a
//! node killed after acknowledging and restarted, lifetime expiry, and malformed input.

mod common;

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{RawPeer, Running, send};
use serde_json::Value;
use tileos_tcpcl::RefuseReason;
use tileos_tcpcl::msg::{FLAG_END, FLAG_START, Message};

/// A spool directory, removed when the test ends.
struct Spool(PathBuf);

impl std::ops::Deref for Spool {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A fresh spool directory for `name`.
fn spool(name: &str) -> Spool {
    let dir = std::env::temp_dir().join(format!("dtn-node-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    Spool(dir)
}

/// Starts `node` as node `node_id` with `routes`, listening on `addr`.
fn start_node(addr: &str, node_id: &str, spool: &Path, routes: &[String]) -> Running {
    let mut args = vec!["node", addr, "--node", node_id, "--spool", spool.to_str().expect("path")];
    args.extend(["--retry-max-ms", "300", "--status-interval-ms", "200"]);
    for route in routes {
        args.extend(["--route", route.as_str()]);
    }
    Running::start(&args)
}

/// The files in `dir` with extension `ext`.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).filter(|p| p.extension().is_some_and(|x| x == ext)).collect())
        .unwrap_or_default();
    found.sort();
    found
}

/// Waits up to 30 s for `count` delivered bundles in `spool` and returns them as JSON.
fn delivered(spool: &Path, count: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let found = files(&spool.join("delivered"), "json");
        assert!(found.len() <= count, "more than {count} bundles delivered in {}", spool.display());
        if found.len() == count {
            return found.iter().map(|p| serde_json::from_str(&fs::read_to_string(p).expect("read")).expect("JSON")).collect();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{} of {count} bundles delivered in {}", found.len(), spool.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send_ok(addr: &str, dest: &str, extra: &[&str], payload: &[u8]) {
    let mut args = vec!["--source", "ipn:1.1", "--dest", dest, "--timeout", "20"];
    args.extend(extra);
    let out = send(addr, &args, payload);
    assert!(out.status.success(), "send to {addr}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A status line of `node` containing every one of `fields`.
fn status_with(node: &Running, fields: &[&str]) -> String {
    node.wait_for(&format!("status with {fields:?}"), |l| l.starts_with("status:") && fields.iter().all(|f| l.split(' ').any(|w| w == *f)))
}

#[test]
fn a_chain_of_three_nodes_delivers_over_two_hops() {
    let (sa, sb, sc) = (spool("chain-a"), spool("chain-b"), spool("chain-c"));
    let c = start_node("127.0.0.1:0", "ipn:3.0", &sc, &[]);
    let b = start_node("127.0.0.1:0", "ipn:2.0", &sb, &[format!("ipn:3.*={}", c.addr())]);
    let a = start_node("127.0.0.1:0", "ipn:1.0", &sa, &[format!("ipn:3.*={}", b.addr())]);

    send_ok(&a.addr(), "ipn:3.1", &["--hop-limit", "5"], b"over two hops");
    // Hop limit 1: A forwards it (hop 1), B may not (hop 2 would exceed the limit).
    send_ok(&a.addr(), "ipn:3.1", &["--hop-limit", "1"], b"one hop only");
    let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    send_ok(&a.addr(), "ipn:3.1", &["--max-bundle-size", "4000"], &big);

    let got = delivered(&sc, 2);
    let text = got.iter().find(|j| j["payload_utf8"] == "over two hops").expect("the small bundle");
    assert_eq!(text["source"], "ipn:1.1");
    assert_eq!(text["destination"], "ipn:3.1");
    assert_eq!(text["previous_node"], "ipn:2.0", "each hop names itself as the previous node");
    assert_eq!(text["hop_count"]["count"], 2);
    assert_eq!(text["hop_count"]["limit"], 5);
    let whole = got.iter().find(|j| j["payload_length"] == 20_000).expect("the fragmented bundle, reassembled");
    assert_eq!(whole["flags"], 0);

    // Six fragments and the small bundle crossed each of the two hops; the hop-limited one
    // only the first.
    status_with(&a, &["received=8", "forwarded=8", "spooled=0"]);
    status_with(&b, &["received=8", "forwarded=7", "hop_limit_exceeded=1", "spooled=0"]);
    status_with(&c, &["received=7", "delivered=2", "spooled=0"]);
    assert!(files(&sa.join("queue"), "bundle").is_empty() && files(&sb.join("queue"), "bundle").is_empty());
    assert!(files(&sc.join("queue"), "bundle").is_empty(), "fragments leave the spool once reassembled");
}

/// A port nobody listens on yet.
fn free_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

#[test]
fn a_node_killed_after_acknowledging_forwards_the_bundle_after_restart() {
    let (sb, sc) = (spool("restart-b"), spool("restart-c"));
    let c_addr = free_port();
    let route = [format!("ipn:3.*={c_addr}")];
    let mut b = start_node("127.0.0.1:0", "ipn:2.0", &sb, &route);
    send_ok(&b.addr(), "ipn:3.1", &[], b"kept across a crash");
    assert_eq!(files(&sb.join("queue"), "bundle").len(), 1, "spooled before it was acknowledged");
    b.wait_for("a failed attempt to reach C", |l| l.contains(&format!("cannot forward to {c_addr}")));
    b.child.kill().expect("SIGKILL");
    b.child.wait().expect("reaped");

    let b = start_node("127.0.0.1:0", "ipn:2.0", &sb, &route);
    b.wait_for("the reload", |l| l.starts_with("reloaded 1 bundle(s)"));
    let c = start_node(&c_addr, "ipn:3.0", &sc, &[]);
    let got = delivered(&sc, 1);
    assert_eq!(got[0]["payload_utf8"], "kept across a crash");
    status_with(&b, &["forwarded=1", "spooled=0"]);
    status_with(&c, &["delivered=1"]);
}

#[test]
fn expired_bundles_are_dropped_and_counted() {
    let sb = spool("expiry");
    let b = start_node("127.0.0.1:0", "ipn:2.0", &sb, &[]);
    // No route: the bundle waits in the spool until its one-second lifetime runs out.
    send_ok(&b.addr(), "ipn:9.1", &["--lifetime", "1"], b"short-lived");
    b.wait_for("no route", |l| l.starts_with("no route for ipn:9.1"));
    // Already expired on arrival: acknowledged, then dropped.
    send_ok(&b.addr(), "ipn:9.1", &["--lifetime", "0"], b"dead on arrival");
    status_with(&b, &["received=2", "expired=2", "spooled=0"]);
    assert!(files(&sb.join("queue"), "bundle").is_empty());
}

#[test]
fn malformed_input_is_refused_and_counted_while_others_are_served() {
    let sb = spool("malformed");
    let b = start_node("127.0.0.1:0", "ipn:2.0", &sb, &[]);
    let addr = b.addr();

    let mut bad = RawPeer::new(TcpStream::connect(&addr).expect("connect"));
    assert_eq!(bad.open_session("ipn:6.0"), "ipn:2.0");
    bad.send(&Message::XferSegment {
        flags: FLAG_START | FLAG_END,
        transfer_id: 1,
        extensions: Vec::new(),
        data: b"not a bundle".to_vec(),
    });
    assert_eq!(bad.message(), Some(Message::XferRefuse { reason: RefuseReason::NotAcceptable, transfer_id: 1 }));

    let mut garbage = TcpStream::connect(&addr).expect("connect");
    std::io::Write::write_all(&mut garbage, b"HTTP/1.1 GET /\r\n\r\n").expect("write");

    // The first session is still open; another sender is served meanwhile.
    send_ok(&addr, "ipn:2.7", &[], b"still served");
    assert_eq!(delivered(&sb, 1)[0]["payload_utf8"], "still served");
    status_with(&b, &["refused_malformed=1", "failed_sessions=1", "delivered=1"]);
    drop(bad);
}

/// Plays a next hop at `listener` for one session: reads one transfer, answers it with
/// `answer`, then answers the node's SESS_TERM.
fn next_hop_session(listener: &TcpListener, answer: impl FnOnce(u64, u64) -> Message) {
    let (stream, _) = listener.accept().expect("the node connects");
    let mut peer = RawPeer::new(stream);
    assert_eq!(peer.accept_session("ipn:3.0"), "ipn:2.0");
    let (transfer_id, length) = peer.transfer();
    peer.send(&answer(transfer_id, length));
    if let Some(Message::SessTerm { reason, .. }) = peer.message() {
        peer.send(&Message::SessTerm { flags: tileos_tcpcl::msg::FLAG_REPLY, reason });
    }
}

#[test]
fn a_refused_bundle_stays_spooled_and_is_offered_again() {
    let next_hop = TcpListener::bind("127.0.0.1:0").expect("bind");
    let route = [format!("ipn:3.*={}", next_hop.local_addr().expect("addr"))];
    let sb = spool("refused");
    let b = start_node("127.0.0.1:0", "ipn:2.0", &sb, &route);
    send_ok(&b.addr(), "ipn:3.1", &[], b"try again later");

    next_hop_session(&next_hop, |transfer_id, _| Message::XferRefuse { reason: RefuseReason::Retransmit, transfer_id });
    b.wait_for("the refusal", |l| l.contains("Retransmit") && l.contains("stays in the spool"));
    assert_eq!(files(&sb.join("queue"), "bundle").len(), 1);
    next_hop_session(&next_hop, |transfer_id, length| Message::XferAck { flags: FLAG_END, transfer_id, length });
    status_with(&b, &["received=1", "forwarded=1", "spooled=0"]);
    assert!(files(&sb.join("queue"), "bundle").is_empty());
}
