//! Session rules at their edges (found by mutation testing, docs/research.md, "Mutation
//! testing"): the peer's transfer MRU is inclusive, a keepalive of 0 means none, a session
//! that is not established neither keeps alive nor times out, and a pending control message
//! goes out alone, before the next segment.

use tileos_tcpcl::msg::Message;
use tileos_tcpcl::{Config, Role, SendError, Session};

const CH: [u8; 6] = *b"dtn!\x04\x00";

fn drain(s: &mut Session) -> Vec<u8> {
    let mut all = Vec::new();
    while let Some(bytes) = s.poll_transmit() {
        all.extend(bytes);
    }
    while s.poll_event().is_some() {}
    all
}

/// A passive session established with a peer offering `peer_keepalive` and `transfer_mru`,
/// ours offering `keepalive` (the session uses the smaller).
fn established(keepalive: u16, peer_keepalive: u16, transfer_mru: u64) -> Session {
    let mut config = Config::new("ipn:2.0");
    config.keepalive_s = keepalive;
    config.segment_mru = 1000;
    config.transfer_mru = 5000;
    config.max_extensions = 64;
    let mut s = Session::new(Role::Passive, config, 0);
    s.receive(&CH, 0);
    let mut init = Vec::new();
    Message::SessInit { keepalive: peer_keepalive, segment_mru: 500, transfer_mru, node_id: b"ipn:1.0".to_vec(), extensions: Vec::new() }
        .encode(&mut init);
    s.receive(&init, 0);
    assert!(s.is_established());
    drain(&mut s);
    s
}

#[test]
fn a_bundle_of_exactly_the_peers_transfer_mru_is_accepted() {
    let mut s = established(10, 30, 100);
    assert_eq!(s.send_bundle(vec![7; 100]), Ok(0));
    assert_eq!(s.send_bundle(vec![7; 101]), Err(SendError::TooLarge));
}

#[test]
fn without_a_keepalive_an_established_session_never_times_out() {
    let mut s = established(0, 30, 100);
    s.tick(1_000_000_000);
    assert!(s.is_established());
    assert_eq!(drain(&mut s), b"", "no keepalive, no SESS_TERM");
}

#[test]
fn a_session_ending_neither_keeps_alive_nor_times_out() {
    let mut s = established(10, 30, 100);
    s.terminate(tileos_tcpcl::TermReason::Unknown);
    drain(&mut s);
    // Far past both the keepalive interval and twice it: nothing is sent, the session waits
    // for the peer's reply.
    s.tick(1_000_000);
    assert_eq!(drain(&mut s), b"");
    assert!(!s.is_closed() && !s.is_established());
}

#[test]
fn a_pending_control_message_goes_out_alone_before_the_next_segment() {
    let mut s = established(10, 30, 100);
    s.send_bundle(b"bundle".to_vec()).unwrap();
    // A keepalive becomes due before the segment is asked for.
    s.tick(10_000);
    assert_eq!(s.poll_transmit(), Some(vec![0x04]), "the keepalive alone");
    let segment = s.poll_transmit().expect("then the segment");
    assert_eq!(segment[0], 0x01, "XFER_SEGMENT");
    assert!(segment.ends_with(b"bundle"));
}
