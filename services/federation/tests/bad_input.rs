//! Bad input is refused and counted by reason, never panics and never stalls the node:
//! malformed TCPCL, strangers, malformed bundles and blocks, garbage replication messages,
//! arbitrary bytes on a connection and arbitrary store contents at recovery.

mod common;

use common::Peer;
use proptest::prelude::*;
use tileos_bpv7::{Bundle, CrcType, CreationTimestamp};
use tileos_federation::record::{self, Kind};
use tileos_federation::{ConnId, FederationNode, MemoryStore, NodeConfig, Origin, Output, REPLICATION_SERVICE, Refusal, Role, ipn};
use tileos_tcpcl::{Event, RefuseReason};

fn node() -> FederationNode<MemoryStore> {
    let config = NodeConfig::new(2, Role::Pod).neighbour(1, "").neighbour(3, "");
    FederationNode::recover(config, MemoryStore::new(), 0).unwrap()
}

fn bundle(to: u32, service: u32) -> tileos_bpv7::BundleBuilder {
    Bundle::builder(ipn(1, service), ipn(to, service)).creation(CreationTimestamp { time_ms: 5, sequence: 1 }).lifetime_ms(1 << 40)
}

/// Sends `bytes` as one bundle transfer from neighbour 1; returns how the node answered.
fn transfer(node: &mut FederationNode<MemoryStore>, bytes: Vec<u8>) -> Event {
    let mut peer = Peer::connect(node, 1, ConnId(7));
    let id = peer.session.send_bundle(bytes).unwrap();
    peer.exchange(node, 0);
    peer.events
        .into_iter()
        .find(|e| matches!(e, Event::TransferAcked { transfer_id, complete: true, .. } | Event::TransferRefused { transfer_id, .. } if *transfer_id == id))
        .expect("the transfer was answered")
}

#[test]
fn malformed_bundles_and_blocks_are_refused_by_reason() {
    let mut n = node();
    let good = bundle(3, 1).payload(b"ok".to_vec()).build().unwrap().encode().unwrap();
    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 2;
    bad_crc[last] ^= 0x55;
    let no_crc = bundle(3, 1).crc_type(CrcType::None).payload(b"x".to_vec()).build().unwrap().encode().unwrap();
    let no_age = Bundle::builder(ipn(1, 1), ipn(3, 1)).payload(b"x".to_vec()).build().unwrap().encode().unwrap();
    let garbage_replication = bundle(2, REPLICATION_SERVICE).payload(vec![1, 0xff, 0xff]).build().unwrap().encode().unwrap();
    let cases = [
        (b"not a bundle".to_vec(), Refusal::MalformedBundle),
        (bad_crc, Refusal::MalformedBundle),
        (good[..good.len() - 1].to_vec(), Refusal::MalformedBundle),
        (no_crc, Refusal::UnprotectedPrimary),
        (no_age, Refusal::BadBundleAge),
        (garbage_replication, Refusal::MalformedReplication),
    ];
    let mut expected = std::collections::BTreeMap::new();
    for (i, (bytes, reason)) in cases.into_iter().enumerate() {
        let answer = transfer(&mut n, bytes);
        assert!(matches!(answer, Event::TransferRefused { reason: RefuseReason::NotAcceptable, .. }), "case {i}: {answer:?}");
        *expected.entry(reason).or_insert(0u64) += 1;
        assert_eq!(n.counters().refused(reason), expected[&reason], "case {i}");
    }
    assert_eq!(n.counters().refused(Refusal::MalformedBundle), 3);
    assert_eq!(n.spooled(), 0);
    // The node still takes a good bundle.
    assert!(matches!(transfer(&mut n, good), Event::TransferAcked { .. }));
    assert_eq!(n.spooled(), 1);
}

#[test]
fn tcpcl_garbage_and_strangers_are_counted() {
    let mut n = node();
    n.connected(ConnId(1), Origin::Accepted, 0);
    n.receive(ConnId(1), b"http/1.1", 0);
    assert_eq!(n.counters().refused(Refusal::TcpclContactHeader), 1);
    assert!(std::iter::from_fn(|| n.poll()).any(|o| o == Output::Close { conn: ConnId(1) }));
    // A peer claiming to be node 9, which is no neighbour.
    let _stranger = Peer::connect(&mut n, 9, ConnId(2));
    assert_eq!(n.counters().refused(Refusal::UnknownPeer), 1);
    assert_eq!(n.sessions(), 0);
    // A neighbour that sends an unknown message type after SESS_INIT.
    let mut peer = Peer::connect(&mut n, 1, ConnId(3));
    assert_eq!(n.sessions(), 1);
    n.receive(ConnId(3), &[0x7f, 0, 0], 0);
    peer.exchange(&mut n, 0);
    assert_eq!(n.counters().refused(Refusal::TcpclMessage), 1);
    assert_eq!(n.sessions(), 0);
}

#[test]
fn a_full_spool_refuses_with_no_resources() {
    let mut config = NodeConfig::new(2, Role::Pod).neighbour(1, "");
    config.limits.max_spooled = 1;
    let mut n = FederationNode::recover(config, MemoryStore::new(), 0).unwrap();
    let one = bundle(3, 1).payload(b"1".to_vec()).build().unwrap().encode().unwrap();
    let two = bundle(3, 2).payload(b"2".to_vec()).build().unwrap().encode().unwrap();
    assert!(matches!(transfer(&mut n, one), Event::TransferAcked { .. }));
    assert!(matches!(transfer(&mut n, two), Event::TransferRefused { reason: RefuseReason::NoResources, .. }));
    assert_eq!(n.counters().refused(Refusal::SpoolFull), 1);
}

/// A valid contact header and SESS_INIT from neighbour 1, so that fuzzed bytes reach the
/// established session too.
fn session_prefix() -> Vec<u8> {
    let mut session = tileos_tcpcl::Session::new(tileos_tcpcl::Role::Active, tileos_tcpcl::Config::new("ipn:1.0"), 0);
    let mut bytes = session.poll_transmit().unwrap();
    // The SESS_INIT follows the peer's contact header; feed one to get it.
    session.receive(b"dtn!\x04\x00", 0);
    while let Some(more) = session.poll_transmit() {
        bytes.extend(more);
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary bytes on a connection, after nothing or after a valid session start: no
    /// panic, output bounded by the input, and the node still serves another neighbour.
    #[test]
    fn arbitrary_connection_bytes_are_harmless(prefix in any::<bool>(), chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8)) {
        let mut n = node();
        n.connected(ConnId(1), Origin::Accepted, 0);
        let mut fed = 0usize;
        if prefix {
            let start = session_prefix();
            fed += start.len();
            n.receive(ConnId(1), &start, 0);
        }
        for (t, chunk) in chunks.iter().enumerate() {
            fed += chunk.len();
            n.receive(ConnId(1), chunk, t as u64);
            n.tick(t as u64 * 1000);
        }
        let outputs: Vec<Output> = std::iter::from_fn(|| n.poll()).collect();
        prop_assert!(outputs.len() <= 16 + fed / 4, "{} outputs for {} bytes", outputs.len(), fed);
        let sent: usize = outputs.iter().map(|o| match o { Output::Transmit { bytes, .. } => bytes.len(), _ => 0 }).sum();
        prop_assert!(sent <= 256 + 4 * fed, "{} bytes out for {} in", sent, fed);
        prop_assert!(n.spooled() <= 8);
        let good = bundle(3, 1).payload(b"still here".to_vec()).build().unwrap().encode().unwrap();
        let mut peer = Peer::connect(&mut n, 3, ConnId(2));
        peer.session.send_bundle(good).unwrap();
        peer.exchange(&mut n, 10_000);
        let acked = peer.events.iter().any(|e| matches!(e, Event::TransferAcked { complete: true, .. }));
        prop_assert!(acked);
    }

    /// Arbitrary store contents: recovery never panics, deletes what does not decode, and
    /// holds at most the spool limit.
    #[test]
    fn arbitrary_store_contents_recover(entries in proptest::collection::vec((0u8..6, any::<u64>(), proptest::collection::vec(any::<u8>(), 0..64)), 0..40)) {
        let mut store = MemoryStore::new();
        let good = bundle(3, 1).payload(b"kept".to_vec()).build().unwrap().encode().unwrap();
        let mut planted = std::collections::BTreeMap::new();
        for (kind, number, bytes) in &entries {
            let key = match kind {
                0 | 5 => record::bundle_key(*number),
                1 => record::REPLICA_KEY.to_vec(),
                2 => record::PLAN_KEY.to_vec(),
                3 => record::SEQUENCE_KEY.to_vec(),
                _ => [record::BUNDLE_PREFIX, &bytes[..bytes.len().min(3)]].concat(),
            };
            let value = if *kind == 5 { record::encode_held(Kind::Forward, 0, &good) } else { bytes.clone() };
            store.plant(&key, &value);
            planted.insert(key, value);
        }
        let valid = planted.iter().filter(|(k, v)| k.starts_with(record::BUNDLE_PREFIX) && record::decode_held(v).is_some_and(|h| h.bundle == good.as_slice())).count();
        let mut config = NodeConfig::new(2, Role::Pod).neighbour(1, "").neighbour(3, "");
        config.limits.max_spooled = 16;
        let recovered = FederationNode::recover(config, store, 0);
        prop_assert!(recovered.is_ok());
        let mut n = recovered.unwrap();
        prop_assert_eq!(n.spooled(), valid.min(16));
        n.tick(1_000);
        while n.poll().is_some() {}
    }
}

#[test]
fn session_init_oversized_segments_and_impossible_fragments_are_counted() {
    // A SESS_INIT offering a segment MRU of 0.
    let mut n = node();
    let mut config = tileos_tcpcl::Config::new("ipn:1.0");
    config.segment_mru = 0;
    let mut session = tileos_tcpcl::Session::new(tileos_tcpcl::Role::Active, config, 0);
    n.connected(ConnId(1), Origin::Accepted, 0);
    n.receive(ConnId(1), &session.poll_transmit().unwrap(), 0);
    session.receive(b"dtn!\x04\x00", 0);
    n.receive(ConnId(1), &session.poll_transmit().unwrap(), 0);
    assert_eq!(n.counters().refused(Refusal::TcpclSessionInit), 1);

    // A segment announcing more data than the node's segment MRU.
    n.connected(ConnId(2), Origin::Accepted, 0);
    n.receive(ConnId(2), &session_prefix(), 0);
    let mut segment = vec![0x01, 0x03];
    segment.extend_from_slice(&7u64.to_be_bytes());
    segment.extend_from_slice(&0u32.to_be_bytes());
    segment.extend_from_slice(&(1u64 << 40).to_be_bytes());
    n.receive(ConnId(2), &segment, 0);
    assert_eq!(n.counters().refused(Refusal::TcpclTooLarge), 1);

    // A fragment of an original larger than the node reassembles.
    let mut fragment = bundle(2, 1).payload(vec![0; 10]).build().unwrap();
    fragment.flags |= tileos_bpv7::bundle_flags::IS_FRAGMENT;
    fragment.fragment = Some(tileos_bpv7::FragmentInfo { offset: 0, total_adu_length: 1 << 40 });
    let answer = transfer(&mut n, fragment.encode().unwrap());
    assert!(matches!(answer, Event::TransferRefused { reason: RefuseReason::NotAcceptable, .. }), "{answer:?}");
    assert_eq!(n.counters().refused(Refusal::Reassembly), 1);
}
