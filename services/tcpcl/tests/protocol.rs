//! Sans-IO tests of the TCPCLv4 session: exact wire bytes, negotiation, and every
//! malformed-input path ending in the right SESS_TERM / MSG_REJECT / XFER_REFUSE.

use proptest::prelude::*;
use tileos_tcpcl::msg::{self, ExtensionItem, Limits, Message};
use tileos_tcpcl::{Config, Deviation, Event, FinalAck, RefuseReason, RejectReason, Role, SendError, Session, SessionError, TermReason};

const CH: [u8; 6] = *b"dtn!\x04\x00";

fn sess_init(keepalive: u16, seg: u64, xfer: u64, node: &[u8], ext: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Message::SessInit { keepalive, segment_mru: seg, transfer_mru: xfer, node_id: node.to_vec(), extensions: ext.to_vec() }
        .encode(&mut out);
    out
}

fn segment(flags: u8, id: u64, ext: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    msg::encode_segment(&mut out, flags, id, ext, data);
    out
}

fn sess_term(flags: u8, reason: u8) -> Vec<u8> {
    vec![0x05, flags, reason]
}

fn msg_reject(reason: u8, header: u8) -> Vec<u8> {
    vec![0x06, reason, header]
}

fn xfer_refuse(reason: u8, id: u64) -> Vec<u8> {
    let mut v = vec![0x03, reason];
    v.extend_from_slice(&id.to_be_bytes());
    v
}

fn xfer_ack(flags: u8, id: u64, len: u64) -> Vec<u8> {
    let mut v = vec![0x02, flags];
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&len.to_be_bytes());
    v
}

fn config() -> Config {
    let mut c = Config::new("ipn:2.0");
    c.keepalive_s = 10;
    c.segment_mru = 1000;
    c.transfer_mru = 5000;
    c.max_extensions = 64;
    c
}

fn output(s: &mut Session) -> Vec<u8> {
    let mut all = Vec::new();
    while let Some(b) = s.poll_transmit() {
        all.extend(b);
    }
    all
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// A passive session that has received a contact header and SESS_INIT from "ipn:1.0".
fn established() -> Session {
    established_with(config())
}

fn established_with(config: Config) -> Session {
    let mut s = Session::new(Role::Passive, config, 0);
    s.receive(&CH, 0);
    s.receive(&sess_init(30, 500, 100_000, b"ipn:1.0", &[]), 0);
    assert!(s.is_established());
    output(&mut s);
    events(&mut s);
    s
}

fn closed_with(s: &mut Session) -> Option<SessionError> {
    events(s).into_iter().find_map(|e| match e {
        Event::Closed { error } => Some(error),
        _ => None,
    })?
}

#[test]
fn active_sends_exact_contact_header_then_sess_init() {
    let mut s = Session::new(Role::Active, config(), 0);
    assert_eq!(output(&mut s), CH);
    s.receive(&CH, 0);
    let expected =
        [&[0x07, 0x00, 0x0a][..], &1000u64.to_be_bytes(), &5000u64.to_be_bytes(), &[0x00, 0x07], b"ipn:2.0", &[0, 0, 0, 0]].concat();
    assert_eq!(output(&mut s), expected);
    assert!(!s.is_established());
    s.receive(&sess_init(4, 300, 900, b"ipn:9.0", &[]), 0);
    assert_eq!(output(&mut s), b"");
    let peer = s.peer().expect("peer").clone();
    assert_eq!((peer.keepalive_s, peer.segment_mru, peer.transfer_mru), (4, 300, 900));
    assert_eq!(peer.node_id, "ipn:9.0");
}

#[test]
fn passive_answers_contact_header_and_waits_for_sess_init() {
    let mut s = Session::new(Role::Passive, config(), 0);
    assert_eq!(output(&mut s), b"");
    s.receive(&CH, 0);
    assert_eq!(output(&mut s), CH);
    // Unknown non-critical session extension items are ignored.
    let ext = msg::encode_extensions(&[ExtensionItem { critical: false, item_type: 77, value: vec![1, 2] }]);
    s.receive(&sess_init(60, 500, 100_000, b"ipn:1.0", &ext), 0);
    assert_eq!(output(&mut s), sess_init(10, 1000, 5000, b"ipn:2.0", &[]));
    let ev = events(&mut s);
    assert!(matches!(&ev[..], [Event::Established(p)] if p.keepalive_s == 10 && p.segment_mru == 500));
}

#[test]
fn contact_header_split_byte_by_byte_and_peer_tls_flag_ignored() {
    let mut s = Session::new(Role::Passive, config(), 0);
    for b in b"dtn!\x04\x01" {
        s.receive(&[*b], 0);
    }
    assert_eq!(output(&mut s), CH, "we answer without CAN_TLS");
}

#[test]
fn bad_magic_closes_without_sess_term() {
    let mut s = Session::new(Role::Passive, config(), 0);
    s.receive(b"dtn?\x04\x00", 0);
    assert_eq!(output(&mut s), b"");
    assert_eq!(closed_with(&mut s), Some(SessionError::BadMagic));
    assert!(s.is_closed());
}

#[test]
fn version_mismatch_gets_sess_term() {
    let mut s = Session::new(Role::Passive, config(), 0);
    s.receive(b"dtn!\x03\x00", 0);
    assert_eq!(output(&mut s), [&CH[..], &sess_term(0, 0x02)].concat());
    assert_eq!(closed_with(&mut s), Some(SessionError::VersionMismatch(3)));
    let mut a = Session::new(Role::Active, config(), 0);
    output(&mut a);
    a.receive(b"dtn!\x05\x00", 0);
    assert_eq!(output(&mut a), sess_term(0, 0x02));
}

#[test]
fn bad_sess_init_is_contact_failure() {
    let critical = msg::encode_extensions(&[ExtensionItem { critical: true, item_type: 9, value: vec![] }]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (sess_init(1, 100, 100, b"\xff\xfe", &[]), "node ID is not UTF-8"),
        (sess_init(1, 100, 100, b"ipn:1.0", &critical), "unknown critical session extension"),
        (sess_init(1, 100, 100, b"ipn:1.0", &[0, 0, 1, 0, 9, 1]), "malformed session extension items"),
        (sess_init(1, 0, 100, b"ipn:1.0", &[]), "segment MRU of zero"),
    ];
    for (message, why) in cases {
        let mut s = Session::new(Role::Passive, config(), 0);
        s.receive(&CH, 0);
        output(&mut s);
        s.receive(&message, 0);
        assert_eq!(output(&mut s), sess_term(0, 0x04), "{why}");
        assert_eq!(closed_with(&mut s), Some(SessionError::ContactFailure(why)));
    }
}

#[test]
fn oversized_extension_list_is_resource_exhaustion() {
    let mut s = Session::new(Role::Passive, config(), 0);
    s.receive(&CH, 0);
    output(&mut s);
    // Only the header: the 65-byte list must be refused before it arrives.
    let mut m = sess_init(1, 100, 100, b"n", &[]);
    let at = m.len() - 4;
    m[at..].copy_from_slice(&65u32.to_be_bytes());
    s.receive(&m, 0);
    assert_eq!(output(&mut s), sess_term(0, 0x05));
    assert_eq!(closed_with(&mut s), Some(SessionError::ExtensionsTooLarge));

    let mut s = established();
    let mut start = segment(0x02, 1, &[], b"");
    start.truncate(10);
    start.extend_from_slice(&u32::MAX.to_be_bytes());
    s.receive(&start, 0);
    assert_eq!(output(&mut s), sess_term(0, 0x05));
}

#[test]
fn message_before_sess_init_is_rejected() {
    let mut s = Session::new(Role::Passive, config(), 0);
    s.receive(&CH, 0);
    output(&mut s);
    s.receive(&segment(0x03, 0, &[], b"x"), 0);
    assert_eq!(output(&mut s), [msg_reject(0x03, 0x01), sess_term(0, 0x04)].concat());
    assert_eq!(closed_with(&mut s), Some(SessionError::UnexpectedMessage(0x01)));
}

#[test]
fn unknown_message_type_is_rejected_and_ends_session() {
    for code in [0x00u8, 0x08, 0xff] {
        let mut s = established();
        s.receive(&[code, 1, 2, 3], 0);
        assert_eq!(output(&mut s), msg_reject(0x01, code), "then close, no SESS_TERM");
        assert_eq!(closed_with(&mut s), Some(SessionError::UnknownMessageType(code)));
    }
}

#[test]
fn segment_larger_than_mru_ends_session() {
    let mut s = established();
    let mut m = segment(0x03, 0, &[], b"");
    let at = m.len() - 8;
    m[at..].copy_from_slice(&1001u64.to_be_bytes());
    s.receive(&m, 0);
    assert_eq!(output(&mut s), sess_term(0, 0x05));
    assert_eq!(closed_with(&mut s), Some(SessionError::SegmentTooLarge));
}

#[test]
fn transfer_is_received_and_acked_cumulatively() {
    let mut s = established();
    let len_ext = msg::encode_extensions(&[ExtensionItem { critical: false, item_type: 1, value: 7u64.to_be_bytes().to_vec() }]);
    s.receive(&segment(0x02, 42, &len_ext, b"abc"), 0);
    s.receive(&segment(0x00, 42, &[], b"de"), 0);
    s.receive(&segment(0x01, 42, &[], b"fg"), 0);
    assert_eq!(output(&mut s), [xfer_ack(0x02, 42, 3), xfer_ack(0x00, 42, 5), xfer_ack(0x01, 42, 7)].concat());
    assert_eq!(events(&mut s), vec![Event::BundleReceived { transfer_id: 42, data: b"abcdefg".to_vec() }]);
}

#[test]
fn a_deferred_final_ack_waits_for_acknowledge_or_becomes_a_refusal() {
    let mut s = established_with(Config { final_ack: FinalAck::Deferred, ..config() });
    s.receive(&segment(0x02, 5, &[], b"ab"), 0);
    s.receive(&segment(0x01, 5, &[], b"c"), 0);
    // Intermediate segments are acknowledged at once; the last one waits.
    assert_eq!(output(&mut s), xfer_ack(0x02, 5, 2));
    assert_eq!(events(&mut s), vec![Event::BundleReceived { transfer_id: 5, data: b"abc".to_vec() }]);
    assert!(!s.acknowledge(6));
    assert!(s.acknowledge(5));
    assert_eq!(output(&mut s), xfer_ack(0x01, 5, 3));
    assert!(!s.acknowledge(5), "acknowledged once only");

    s.receive(&segment(0x03, 6, &[], b"xyz"), 0);
    assert_eq!(output(&mut s), b"");
    assert!(s.refuse_received(6, RefuseReason::NoResources));
    assert_eq!(output(&mut s), xfer_refuse(0x02, 6));
    assert!(!s.refuse_received(6, RefuseReason::NoResources));
}

#[test]
fn transfer_refusals() {
    let ext = |critical: bool, item_type: u16, value: Vec<u8>| msg::encode_extensions(&[ExtensionItem { critical, item_type, value }]);
    let cases = [
        (ext(false, 1, 5001u64.to_be_bytes().to_vec()), 0x02), // Transfer Length > MRU
        (ext(true, 99, vec![]), 0x05),                         // unknown critical item
        (ext(false, 1, vec![1, 2]), 0x05),                     // bad Transfer Length
        (vec![0, 0, 1, 0], 0x05),                              // truncated item list
    ];
    for (extensions, reason) in cases {
        let mut s = established();
        s.receive(&segment(0x02, 5, &extensions, b"abc"), 0);
        s.receive(&segment(0x01, 5, &[], b"def"), 0);
        assert_eq!(output(&mut s), xfer_refuse(reason, 5));
        assert_eq!(events(&mut s), vec![]);
        assert!(s.is_established(), "a refused transfer does not end the session");
    }
    // Exceeding the transfer MRU only while receiving.
    let mut s = established();
    let chunk = vec![0u8; 1000];
    s.receive(&segment(0x02, 6, &[], &chunk), 0);
    for _ in 0..4 {
        s.receive(&segment(0x00, 6, &[], &chunk), 0);
    }
    s.receive(&segment(0x01, 6, &[], b"x"), 0);
    let out = output(&mut s);
    assert!(out.ends_with(&xfer_refuse(0x02, 6)));
    assert_eq!(events(&mut s), vec![]);
}

#[test]
fn data_must_match_the_transfer_length_extension() {
    let length = |n: u64| msg::encode_extensions(&[ExtensionItem { critical: false, item_type: 1, value: n.to_be_bytes().to_vec() }]);
    // More data than announced.
    let mut s = established();
    s.receive(&segment(0x02, 1, &length(4), b"abc"), 0);
    s.receive(&segment(0x01, 1, &[], b"de"), 0);
    assert_eq!(output(&mut s), [xfer_ack(0x02, 1, 3), xfer_refuse(0x04, 1)].concat());
    assert_eq!(events(&mut s), vec![]);
    // Ends short of the announced length.
    s.receive(&segment(0x03, 2, &length(4), b"abc"), 0);
    assert_eq!(output(&mut s), xfer_refuse(0x04, 2));
    assert_eq!(events(&mut s), vec![]);
    // Exactly as announced.
    s.receive(&segment(0x03, 3, &length(3), b"abc"), 0);
    assert_eq!(output(&mut s), xfer_ack(0x03, 3, 3));
    assert_eq!(events(&mut s).len(), 1);
}

#[test]
fn out_of_place_transfer_messages_are_rejected() {
    let mut s = established();
    s.receive(&segment(0x00, 9, &[], b"x"), 0); // no START
    s.receive(&xfer_ack(0x01, 77, 1), 0); // unknown transfer
    s.receive(&xfer_refuse(0x00, 78), 0); // unknown transfer
    s.receive(&sess_init(1, 1, 1, b"again", &[]), 0);
    s.receive(&segment(0x02, 10, &[], b"a"), 0);
    s.receive(&segment(0x02, 11, &[], b"b"), 0); // interleaved START
    assert_eq!(
        output(&mut s),
        [
            msg_reject(0x03, 0x01),
            msg_reject(0x03, 0x02),
            msg_reject(0x03, 0x03),
            msg_reject(0x03, 0x07),
            xfer_ack(0x02, 10, 1),
            msg_reject(0x03, 0x01),
        ]
        .concat()
    );
    assert!(s.is_established());
}

#[test]
fn sending_segments_to_peer_mru_and_handling_acks_and_refusals() {
    let mut s = established(); // peer segment MRU 500, transfer MRU 100000
    assert_eq!(s.send_bundle(vec![0; 100_001]), Err(SendError::TooLarge));
    let id = s.send_bundle(vec![7; 1200]).expect("queue");
    let out = output(&mut s);
    let limits = Limits { segment_mru: u64::MAX, max_extensions: 1000 };
    let mut rest = &out[..];
    let mut segments = Vec::new();
    while let Some((m, n)) = msg::decode(rest, &limits).expect("decode") {
        segments.push(m);
        rest = &rest[n..];
    }
    let shape: Vec<(u8, usize, usize)> = segments
        .iter()
        .map(|m| match m {
            Message::XferSegment { flags, extensions, data, .. } => (*flags, extensions.len(), data.len()),
            other => panic!("{other:?}"),
        })
        .collect();
    // START carries the Transfer Length extension item (5-byte head + 8-byte value).
    assert_eq!(shape, vec![(0x02, 13, 500), (0x00, 0, 500), (0x01, 0, 200)]);
    s.receive(&xfer_ack(0x02, id, 500), 0);
    s.receive(&xfer_ack(0x01, id, 1200), 0);
    assert_eq!(
        events(&mut s),
        vec![
            Event::TransferAcked { transfer_id: id, acked: 500, complete: false },
            Event::TransferAcked { transfer_id: id, acked: 1200, complete: true },
        ]
    );
    assert!(s.is_idle());
    s.receive(&xfer_ack(0x01, id, 1200), 0);
    assert_eq!(output(&mut s), msg_reject(0x03, 0x02), "ack after completion is unexpected");

    // An acknowledgement beyond what has been sent so far is unexpected.
    let id3 = s.send_bundle(vec![2; 1000]).expect("queue");
    let first = s.poll_transmit().expect("first segment");
    assert_eq!(first.len(), 1 + 1 + 8 + 4 + 13 + 8 + 500);
    s.receive(&xfer_ack(0x01, id3, 1000), 0);
    let out = output(&mut s);
    assert_eq!(&out[..3], &msg_reject(0x03, 0x02)[..]);
    assert_eq!(out.len(), 3 + 1 + 1 + 8 + 8 + 500, "then the rest of the transfer");
    assert!(events(&mut s).is_empty());
    s.receive(&xfer_ack(0x01, id3, 1000), 0);
    assert_eq!(events(&mut s), vec![Event::TransferAcked { transfer_id: id3, acked: 1000, complete: true }]);

    let id2 = s.send_bundle(vec![1; 10]).expect("queue");
    output(&mut s);
    s.receive(&xfer_ack(0x03, id2, 11), 0);
    assert_eq!(output(&mut s), msg_reject(0x03, 0x02), "ack beyond the length");
    s.receive(&xfer_refuse(0x04, id2), 0);
    assert_eq!(events(&mut s), vec![Event::TransferRefused { transfer_id: id2, reason: RefuseReason::NotAcceptable }]);
    assert!(s.is_idle());
}

/// Issue #15 (c): deployed nodes acknowledge the last segment with a full-length XFER_ACK
/// whose flags lack END; the transfer is complete, and the deviation is reported.
#[test]
fn full_length_ack_without_end_completes_and_is_reported() {
    let mut s = established(); // peer segment MRU 500
    let id = s.send_bundle(vec![7; 800]).expect("queue");
    output(&mut s);
    s.receive(&xfer_ack(0x02, id, 500), 0);
    s.receive(&xfer_ack(0x00, id, 800), 0);
    assert_eq!(
        events(&mut s),
        vec![
            Event::TransferAcked { transfer_id: id, acked: 500, complete: false },
            Event::Tolerated(Deviation::FullAckWithoutEnd { transfer_id: id }),
            Event::TransferAcked { transfer_id: id, acked: 800, complete: true },
        ]
    );
    assert!(s.is_idle());
    assert!(Deviation::FullAckWithoutEnd { transfer_id: id }.to_string().contains("RFC 9174 §5.2.3"));
}

#[test]
fn peer_msg_reject_is_reported() {
    let mut s = established();
    s.receive(&msg_reject(0x02, 0x04), 0);
    assert_eq!(events(&mut s), vec![Event::Rejected { reason: RejectReason::Unsupported, header: 4 }]);
}

#[test]
fn sess_term_from_peer_is_answered_with_reply_flag() {
    let mut s = established();
    s.receive(&sess_term(0, 0x03), 0);
    assert_eq!(output(&mut s), sess_term(0x01, 0x03));
    assert_eq!(events(&mut s), vec![Event::Terminated { reason: TermReason::Busy, by_peer: true }, Event::Closed { error: None }]);
    assert_eq!(s.send_bundle(vec![]), Err(SendError::NotEstablished));
}

#[test]
fn local_terminate_waits_for_reply() {
    let mut s = established();
    s.send_bundle(vec![1; 10]).expect("queue");
    s.terminate(TermReason::ResourceExhaustion);
    assert_eq!(output(&mut s), sess_term(0, 0x05), "queued transfer dropped");
    assert!(!s.is_closed());
    s.receive(&segment(0x03, 1, &[], b"ignored"), 0);
    assert_eq!(output(&mut s), b"");
    s.receive(&sess_term(0x01, 0x05), 0);
    assert!(s.is_closed());
    assert_eq!(
        events(&mut s),
        vec![Event::Terminated { reason: TermReason::ResourceExhaustion, by_peer: false }, Event::Closed { error: None },]
    );
}

#[test]
fn keepalive_and_idle_timeout() {
    let mut s = established(); // keepalive min(30, 10) = 10 s
    s.tick(9_999);
    assert_eq!(output(&mut s), b"");
    s.tick(10_000);
    assert_eq!(output(&mut s), [0x04]);
    s.receive(&[0x04], 15_000);
    s.tick(34_999);
    output(&mut s);
    assert!(s.is_established());
    s.tick(35_000);
    assert_eq!(output(&mut s), sess_term(0, 0x01));
    assert_eq!(closed_with(&mut s), Some(SessionError::IdleTimeout));
}

#[test]
fn truncated_input_waits_then_eof_is_an_error() {
    let mut stream = CH.to_vec();
    stream.extend(sess_init(30, 500, 100_000, b"ipn:1.0", &[]));
    stream.extend(segment(0x03, 1, &[], b"hello"));
    stream.extend(sess_term(0, 0));
    for cut in 0..stream.len() {
        let mut s = Session::new(Role::Passive, config(), 0);
        s.receive(&stream[..cut], 0);
        assert!(!s.is_closed(), "cut at {cut}");
        events(&mut s);
        s.receive_eof();
        assert_eq!(closed_with(&mut s), Some(SessionError::UnexpectedEof), "cut at {cut}");
    }
}

/// Moves everything `from` wants to send into `to`, cut into pieces of the given sizes.
fn transfer(from: &mut Session, to: &mut Session, chunks: &[usize], i: &mut usize) -> bool {
    let mut moved = false;
    while let Some(bytes) = from.poll_transmit() {
        moved = true;
        for piece in bytes.chunks(chunks[*i % chunks.len()].max(1)) {
            *i += 1;
            to.receive(piece, 0);
        }
    }
    moved
}

/// Pumps bytes between two sessions until both are quiet.
fn pump(a: &mut Session, b: &mut Session, chunks: &[usize]) {
    let mut i = 0;
    while transfer(a, b, chunks, &mut i) | transfer(b, a, chunks, &mut i) {}
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_chunking_delivers_the_same_bundles(
        bundles in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 1..4),
        chunks in proptest::collection::vec(1usize..700, 1..8),
        seg in 1u64..2000,
    ) {
        let mut ca = config();
        ca.node_id = "ipn:1.0".into();
        let mut cb = config();
        cb.segment_mru = seg;
        let mut a = Session::new(Role::Active, ca, 0);
        let mut b = Session::new(Role::Passive, cb, 0);
        pump(&mut a, &mut b, &chunks);
        prop_assert!(a.is_established() && b.is_established());
        for bundle in &bundles {
            a.send_bundle(bundle.clone()).expect("queue");
        }
        pump(&mut a, &mut b, &chunks);
        let got: Vec<Vec<u8>> = events(&mut b)
            .into_iter()
            .filter_map(|e| match e { Event::BundleReceived { data, .. } => Some(data), _ => None })
            .collect();
        prop_assert_eq!(got, bundles);
        prop_assert!(a.is_idle());
        a.terminate(TermReason::Unknown);
        pump(&mut a, &mut b, &chunks);
        prop_assert!(a.is_closed() && b.is_closed());
    }

    #[test]
    fn garbage_never_panics(
        before in any::<bool>(),
        garbage in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut s = if before { Session::new(Role::Passive, config(), 0) } else { established() };
        s.receive(&garbage, 1);
        output(&mut s);
        events(&mut s);
        s.tick(1_000_000);
        s.receive_eof();
        prop_assert!(s.is_closed());
    }
}
