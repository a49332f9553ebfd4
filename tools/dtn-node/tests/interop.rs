//! Defects independent peers found in `tileos-dtn-node` (issue #15, "Interop"), each tried
//! as a user would: the real binary against a hand-driven TCPCLv4 peer or its own listener.

mod common;

use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::{RawPeer, Running, send};
use serde_json::Value;
use tileos_bpv7::Eid;
use tileos_dtn_node::node_id_of;
use tileos_tcpcl::TermReason;
use tileos_tcpcl::msg::{FLAG_END, FLAG_REPLY, FLAG_START, Message};

/// A fake passive peer on a free port; `script` plays the session after the handshake and
/// gets the node ID the sender announced.
fn fake_peer<T: Send + 'static>(script: impl FnOnce(&mut RawPeer, String) -> T + Send + 'static) -> (String, thread::JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut peer = RawPeer::new(stream);
        let node_id = peer.accept_session("ipn:2.0");
        script(&mut peer, node_id)
    });
    (addr, handle)
}

/// Acknowledges one transfer properly (flags with END), answers SESS_TERM, returns the
/// sender's node ID.
fn ack_one_bundle(peer: &mut RawPeer, node_id: String) -> String {
    let (transfer_id, length) = peer.transfer();
    peer.send(&Message::XferAck { flags: FLAG_END, transfer_id, length });
    if let Some(Message::SessTerm { reason, .. }) = peer.message() {
        peer.send(&Message::SessTerm { flags: FLAG_REPLY, reason });
    }
    node_id
}

/// (e) `--node` used to default to the source endpoint (`ipn:1.1`); it is the source's node ID.
#[test]
fn node_id_defaults_to_the_node_of_the_source() {
    let (addr, peer) = fake_peer(ack_one_bundle);
    let out = send(&addr, &["--source", "ipn:1.1", "--dest", "ipn:2.1"], b"x");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(peer.join().expect("peer"), "ipn:1.0");

    let (addr, peer) = fake_peer(ack_one_bundle);
    let out = send(&addr, &["--source", "dtn://alpha/app/inbox", "--dest", "ipn:2.1"], b"x");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(peer.join().expect("peer"), "dtn://alpha/");

    let (addr, peer) = fake_peer(ack_one_bundle);
    let out = send(&addr, &["--source", "ipn:1.1", "--dest", "ipn:2.1", "--node", "ipn:7.0"], b"x");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(peer.join().expect("peer"), "ipn:7.0", "an explicit --node wins");

    let null: Eid = "dtn:none".parse().expect("dtn:none");
    assert_eq!(node_id_of(&null), None);
}

/// (c) A peer that acknowledges the whole transfer with flags lacking END (seen in deployed
/// nodes, against RFC 9174 §5.2.3) used to leave `send` waiting for its timeout and exiting 1.
#[test]
fn full_length_ack_without_end_counts_as_delivered_with_a_warning() {
    let (addr, peer) = fake_peer(|peer, _| {
        let (transfer_id, length) = peer.transfer();
        peer.send(&Message::XferAck { flags: 0, transfer_id, length });
        let rest = peer.rest();
        if let Some(Message::SessTerm { reason, .. }) = rest.first() {
            assert_eq!(*reason, TermReason::Unknown);
        }
        rest
    });
    let start = Instant::now();
    let out = send(&addr, &["--source", "ipn:1.1", "--dest", "ipn:2.1", "--timeout", "20"], &[7u8; 3000]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(start.elapsed() < Duration::from_secs(10), "send waited {:?}", start.elapsed());
    assert!(stderr.contains("warning") && stderr.contains("lacking the END flag") && stderr.contains("RFC 9174 §5.2.3"), "{stderr}");
    let rest = peer.join().expect("peer");
    assert!(matches!(rest.first(), Some(Message::SessTerm { .. })), "the session is ended: {rest:?}");
}

/// (d) `send` that gave up used to close the connection without SESS_TERM.
#[test]
fn send_that_gives_up_ends_the_session_with_sess_term() {
    let (addr, peer) = fake_peer(|peer, _| {
        peer.transfer();
        peer.rest() // never acknowledges; collects what arrives until the close
    });
    let out = send(&addr, &["--source", "ipn:1.1", "--dest", "ipn:2.1", "--timeout", "1"], b"never acknowledged");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("did not finish in time") && stderr.contains("1 bundle(s) unacknowledged"), "{stderr}");
    let rest = peer.join().expect("peer");
    assert_eq!(rest, vec![Message::SessTerm { flags: 0, reason: TermReason::Unknown }]);
}

/// (b) The listener used to serve one session at a time: a peer holding its session open
/// blocked every other sender.
#[test]
fn a_held_session_does_not_block_other_senders() {
    let listener = Running::start(&["listen", "127.0.0.1:0", "--node", "ipn:2.0", "--count", "1"]);
    let addr = listener.addr();
    let mut holder = RawPeer::new(TcpStream::connect(&addr).expect("connect"));
    assert_eq!(holder.open_session("ipn:9.0"), "ipn:2.0");

    let out = send(&addr, &["--source", "ipn:1.1", "--dest", "ipn:2.1", "--timeout", "10"], b"past the holder");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut listener = listener;
    let status = listener.child.wait().expect("listener exits after --count 1");
    assert!(status.success());
    drop(holder);
}

/// `send --count N` sends N bundles (sequence numbers 0..N) in one session.
#[test]
fn send_count_sends_many_bundles_in_one_session() {
    let listener = Running::start(&["listen", "127.0.0.1:0", "--node", "ipn:2.0", "--count", "200"]);
    let addr = listener.addr();
    let out = send(&addr, &["--source", "ipn:1.1", "--dest", "ipn:2.1", "--count", "200"], b"many");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (output, log) = listener_output(listener);
    let mut sequences: Vec<u64> = output
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line")["creation_timestamp"]["sequence"].as_u64().expect("sequence"))
        .collect();
    sequences.sort_unstable();
    assert_eq!(sequences, (0..200).collect::<Vec<u64>>());
    assert_eq!(log.matches("session with ipn:1.0").count(), 1, "{log}");
}

/// Waits for a `listen --count` to exit; returns its standard output and error.
fn listener_output(mut listener: Running) -> (String, String) {
    let stdout = listener.child.stdout.take().expect("stdout");
    let status = listener.child.wait().expect("listener exits");
    assert!(status.success());
    (std::io::read_to_string(stdout).expect("stdout"), listener.stderr())
}

/// Found by the federation domain's custody boot test (issue #15): the tile forwarded a
/// spooled bundle to node 2 over the session a `send` of node 2 had opened, `send`
/// acknowledged it (the session's default) and threw it away, and the tile deleted its
/// copy. A sender now refuses what it is sent with "No Resources", so the peer keeps it.
#[test]
fn send_refuses_bundles_the_peer_offers_so_the_peer_keeps_them() {
    let (addr, peer) = fake_peer(|peer, node_id| {
        let offered =
            Message::XferSegment { flags: FLAG_START | FLAG_END, transfer_id: 41, extensions: Vec::new(), data: b"for you".to_vec() };
        peer.send(&offered);
        let mut answer = None;
        let mut acked_theirs = false;
        while answer.is_none() || !acked_theirs {
            match peer.message() {
                Some(Message::XferRefuse { reason, transfer_id: 41 }) => answer = Some(format!("refused {reason:?}")),
                Some(Message::XferAck { transfer_id: 41, .. }) => answer = Some(String::from("acknowledged")),
                Some(Message::XferSegment { flags, transfer_id, data, .. }) if flags & FLAG_END != 0 => {
                    peer.send(&Message::XferAck { flags, transfer_id, length: data.len() as u64 });
                    acked_theirs = true;
                }
                Some(_) => {}
                None => break,
            }
        }
        if let Some(Message::SessTerm { reason, .. }) = peer.message() {
            peer.send(&Message::SessTerm { flags: FLAG_REPLY, reason });
        }
        (node_id, answer)
    });
    let out = send(&addr, &["--source", "ipn:1.1", "--dest", "ipn:2.1"], b"payload");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, answer) = peer.join().expect("peer");
    assert_eq!(answer.as_deref(), Some("refused NoResources"));
}
