//! Session rules at their edges (found by mutation testing, docs/research.md, "Mutation
//! testing"): the peer's transfer MRU and ours are inclusive, a keepalive of 0 means none, a
//! session that is not established neither keeps alive nor times out, a pending control
//! message goes out alone, before the next segment, and acknowledgements and refusals must
//! name a transfer we sent.

use tileos_tcpcl::msg::{self, ExtensionItem, FLAG_END, FLAG_START, Message};
use tileos_tcpcl::{Config, Event, RefuseReason, Role, SendError, Session};

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
    established_accepting(keepalive, peer_keepalive, transfer_mru, 5000)
}

/// As [`established`], accepting transfers of at most `our_transfer_mru` bytes.
fn established_accepting(keepalive: u16, peer_keepalive: u16, transfer_mru: u64, our_transfer_mru: u64) -> Session {
    let mut config = Config::new("ipn:2.0");
    config.keepalive_s = keepalive;
    config.segment_mru = 1000;
    config.transfer_mru = our_transfer_mru;
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

fn encoded(message: Message) -> Vec<u8> {
    let mut out = Vec::new();
    message.encode(&mut out);
    out
}

fn segment(transfer_id: u64, extensions: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    msg::encode_segment(&mut out, FLAG_START | FLAG_END, transfer_id, extensions, data);
    out
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn output(s: &mut Session) -> Vec<u8> {
    std::iter::from_fn(|| s.poll_transmit()).flatten().collect()
}

#[test]
fn a_received_transfer_of_exactly_our_transfer_mru_is_accepted() {
    let mut s = established_accepting(10, 30, 100, 8);
    s.receive(&segment(1, &[], &[1; 8]), 0);
    assert_eq!(output(&mut s), encoded(Message::XferAck { flags: FLAG_START | FLAG_END, transfer_id: 1, length: 8 }));
    assert_eq!(events(&mut s), vec![Event::BundleReceived { transfer_id: 1, data: vec![1; 8] }]);
    s.receive(&segment(2, &[], &[1; 9]), 0);
    assert_eq!(output(&mut s), encoded(Message::XferRefuse { reason: RefuseReason::NoResources, transfer_id: 2 }));
    assert_eq!(events(&mut s), vec![]);
}

#[test]
fn a_declared_transfer_length_of_exactly_our_transfer_mru_is_accepted() {
    let length = |n: u64| msg::encode_extensions(&[ExtensionItem { critical: false, item_type: 1, value: n.to_be_bytes().to_vec() }]);
    let mut s = established_accepting(10, 30, 100, 8);
    s.receive(&segment(1, &length(8), &[1; 8]), 0);
    assert_eq!(output(&mut s), encoded(Message::XferAck { flags: FLAG_START | FLAG_END, transfer_id: 1, length: 8 }));
    assert_eq!(events(&mut s).len(), 1);
    s.receive(&segment(2, &length(9), &[1; 8]), 0);
    assert_eq!(output(&mut s), encoded(Message::XferRefuse { reason: RefuseReason::NoResources, transfer_id: 2 }));
    assert_eq!(events(&mut s), vec![]);
}

#[test]
fn acknowledgements_of_transfers_not_sent_are_rejected() {
    // The MSG_REJECT goes out alone (control messages first), no segment with it.
    let rejected = |s: &mut Session| s.poll_transmit().is_some_and(|b| b[0] == 0x06) && events(s).is_empty();
    // Queued, nothing of it sent yet: even a zero-length acknowledgement is refused.
    let mut s = established(10, 30, 10_000);
    assert_eq!(s.send_bundle(vec![5; 1000]), Ok(0));
    s.receive(&encoded(Message::XferAck { flags: 0, transfer_id: 0, length: 0 }), 0);
    assert!(rejected(&mut s), "an acknowledgement of an unsent transfer was accepted");
    // Partly sent (the peer's segment MRU is 500): an acknowledgement naming another transfer.
    let first = s.poll_transmit().expect("the first segment");
    assert!(first[0] == 0x01 && first.len() < 1000, "one segment of the 1,000 bytes");
    s.receive(&encoded(Message::XferAck { flags: 0, transfer_id: 99, length: 0 }), 0);
    assert!(rejected(&mut s), "an acknowledgement of an unknown transfer was accepted");
    // The transfer being sent is acknowledged.
    s.receive(&encoded(Message::XferAck { flags: FLAG_START, transfer_id: 0, length: 100 }), 0);
    assert_eq!(events(&mut s), vec![Event::TransferAcked { transfer_id: 0, acked: 100, complete: false }]);
}

#[test]
fn a_refusal_must_name_the_transfer_being_sent() {
    let mut s = established(10, 30, 10_000);
    assert_eq!(s.send_bundle(vec![5; 10]), Ok(0));
    s.receive(&encoded(Message::XferRefuse { reason: RefuseReason::NoResources, transfer_id: 7 }), 0);
    assert_eq!(output(&mut s).first(), Some(&0x06), "MSG_REJECT");
    assert_eq!(events(&mut s), vec![]);
    s.receive(&encoded(Message::XferRefuse { reason: RefuseReason::NoResources, transfer_id: 0 }), 0);
    assert_eq!(events(&mut s), vec![Event::TransferRefused { transfer_id: 0, reason: RefuseReason::NoResources }]);
    assert!(s.is_idle(), "the refused transfer is dropped");
}

#[test]
fn a_message_before_sess_init_is_rejected_by_its_own_type_code() {
    use tileos_tcpcl::SessionError;
    for (message, code) in [
        (Message::XferAck { flags: 0, transfer_id: 1, length: 0 }, 0x02),
        (Message::XferRefuse { reason: RefuseReason::NoResources, transfer_id: 1 }, 0x03),
        (Message::Keepalive, 0x04),
        (Message::MsgReject { reason: tileos_tcpcl::RejectReason::Unexpected, header: 0x01 }, 0x06),
    ] {
        let mut s = Session::new(Role::Passive, Config::new("ipn:2.0"), 0);
        s.receive(&CH, 0);
        output(&mut s);
        s.receive(&encoded(message.clone()), 0);
        let sent = output(&mut s);
        assert_eq!(sent[..3], [0x06, tileos_tcpcl::RejectReason::Unexpected.code(), code], "{message:?}");
        let closed = events(&mut s).into_iter().find_map(|e| match e {
            Event::Closed { error } => error,
            _ => None,
        });
        assert_eq!(closed, Some(SessionError::UnexpectedMessage(code)), "{message:?}");
    }
}
