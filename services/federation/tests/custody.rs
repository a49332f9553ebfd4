//! Store-and-forward with custody: persist before acknowledging, delete only after the next
//! hop acknowledged (or local delivery), survive crashes, expire, fragment and reassemble.

mod common;

use common::{Lab, Peer};
use tileos_bpv7::{Bundle, CreationTimestamp};
use tileos_federation::record::{self, Kind};
use tileos_federation::{BundleStore, Clock, ConnId, Contact, DropReason, FederationNode, MemoryStore, NodeConfig, Refusal, Role, ipn};
use tileos_tcpcl::{Event, RefuseReason};

fn line(clock: Clock) -> Lab {
    let mut lab = Lab::new();
    let mut one = NodeConfig::new(1, Role::Tile).neighbour(2, "pod").route("ipn:*", 2);
    let mut two = NodeConfig::new(2, Role::Pod).neighbour(1, "tile-1").neighbour(3, "tile-3");
    let mut three = NodeConfig::new(3, Role::Tile).neighbour(2, "pod").route("ipn:*", 2);
    for config in [&mut one, &mut two, &mut three] {
        config.clock = clock;
        config.replication_interval_ms = 60_000;
    }
    lab.add(one);
    lab.add(two);
    lab.add(three);
    lab.link(1, 2, 5);
    lab.link(2, 3, 5);
    lab
}

fn held(store: &mut MemoryStore) -> usize {
    store.list(record::BUNDLE_PREFIX, None, 1000).unwrap().len()
}

#[test]
fn a_bundle_crosses_two_hops_and_every_custodian_lets_go() {
    let mut lab = line(Clock::Synchronized);
    lab.run(2_000, 50);
    let sequence = lab.node(1).send(100, ipn(3, 100), b"hello".to_vec(), 60_000).unwrap();
    assert_eq!(sequence, 0);
    let at = lab.run_until(10_000, 50, |lab| lab.delivered.get(&3).is_some_and(|d| !d.is_empty()));
    assert!(at.is_some(), "delivered at node 3");
    let delivery = &lab.delivered[&3][0];
    assert_eq!((delivery.payload.as_slice(), delivery.service), (&b"hello"[..], 100));
    assert_eq!(delivery.source, ipn(1, 100));
    assert_eq!(delivery.previous_node, Some(ipn(2, 0)), "the last forwarder names itself (RFC 9171 §4.4.1)");
    lab.run(lab.now_ms + 500, 50);
    for number in [1, 2, 3] {
        let node = lab.node(number);
        assert_eq!(node.spooled(), 0, "node {number} holds nothing");
    }
    assert_eq!(lab.node(1).counters().forwarded, 1);
    assert_eq!((lab.node(2).counters().received, lab.node(2).counters().forwarded), (1, 1));
    assert_eq!(lab.node(3).counters().delivered, 1);
}

#[test]
fn the_final_ack_follows_the_durable_put_and_a_failed_put_refuses() {
    let config = NodeConfig::new(2, Role::Pod).neighbour(1, "").neighbour(3, "");
    let mut node = FederationNode::recover(config, MemoryStore::new(), 0).unwrap();
    let mut peer = Peer::connect(&mut node, 1, ConnId(1));
    let bundle = Bundle::builder(ipn(1, 1), ipn(3, 1))
        .creation(CreationTimestamp { time_ms: 1, sequence: 1 })
        .lifetime_ms(u64::MAX / 2)
        .payload(b"custody".to_vec())
        .build()
        .unwrap();

    // The store refuses: the transfer is refused, never acknowledged; the sender keeps it.
    node.store_mut().fail_writes(true);
    let id = peer.session.send_bundle(bundle.encode().unwrap()).unwrap();
    peer.exchange(&mut node, 0);
    assert!(peer.events.contains(&Event::TransferRefused { transfer_id: id, reason: RefuseReason::NoResources }));
    assert!(!peer.events.iter().any(|e| matches!(e, Event::TransferAcked { complete: true, .. })));
    assert_eq!(node.counters().refused(Refusal::StoreFailed), 1);

    // The store works: once the peer sees the final ack, the bundle is on the medium.
    node.store_mut().fail_writes(false);
    let id = peer.session.send_bundle(bundle.encode().unwrap()).unwrap();
    peer.exchange(&mut node, 0);
    assert!(peer.events.contains(&Event::TransferAcked { transfer_id: id, acked: bundle.encode().unwrap().len() as u64, complete: true }));
    let mut store = node.into_store();
    store.crash();
    assert_eq!(held(&mut store), 1, "the acknowledged bundle survived the crash");
    let value = store.get(&record::bundle_key(0)).unwrap().unwrap();
    assert_eq!(record::decode_held(&value).unwrap().kind, Kind::Forward);
}

#[test]
fn a_custodian_that_crashes_after_acknowledging_still_forwards() {
    let mut lab = line(Clock::Synchronized);
    lab.cut(2, 3);
    lab.run(2_000, 50);
    lab.node(1).send(5, ipn(3, 5), vec![7; 300], 600_000).unwrap();
    // Node 1 lets go once node 2 acknowledged.
    lab.run_until(10_000, 50, |lab| lab.node(1).counters().forwarded == 1).expect("node 2 took custody");
    assert_eq!(lab.node(1).spooled(), 0);
    assert_eq!(lab.node(2).spooled(), 1);
    lab.crash(2);
    lab.run(lab.now_ms + 1_000, 50);
    lab.restart(2);
    assert_eq!(lab.node(2).spooled(), 1, "recovered from the store");
    lab.heal(2, 3);
    lab.run_until(lab.now_ms + 20_000, 50, |lab| lab.delivered.get(&3).is_some_and(|d| d.len() == 1)).expect("delivered after restart");
    assert_eq!(lab.delivered[&3][0].payload, vec![7; 300]);
}

#[test]
fn a_delivery_not_confirmed_before_a_crash_is_delivered_again() {
    let config = NodeConfig::new(4, Role::Tile);
    let mut node = FederationNode::recover(config.clone(), MemoryStore::new(), 10).unwrap();
    node.send(9, ipn(4, 9), b"local".to_vec(), 60_000).unwrap();
    let first = std::iter::from_fn(|| node.poll()).find_map(|o| match o {
        tileos_federation::Output::Deliver(d) => Some(d),
        _ => None,
    });
    assert_eq!(first.as_ref().map(|d| d.payload.as_slice()), Some(&b"local"[..]));
    let mut store = node.into_store();
    store.crash();
    let mut node = FederationNode::recover(config.clone(), store, 20).unwrap();
    let again = std::iter::from_fn(|| node.poll()).find_map(|o| match o {
        tileos_federation::Output::Deliver(d) => Some(d),
        _ => None,
    });
    let again = again.expect("delivered again");
    node.delivered(again.id);
    assert_eq!(node.spooled(), 0);
    let mut store = node.into_store();
    store.crash();
    let node = FederationNode::recover(config, store, 30).unwrap();
    assert_eq!(node.spooled(), 0, "a confirmed delivery stays deleted");
}

#[test]
fn expired_bundles_are_dropped_and_counted() {
    let mut lab = line(Clock::Synchronized);
    lab.cut(1, 2);
    lab.run(2_000, 100);
    lab.node(1).send(1, ipn(3, 1), b"short".to_vec(), 3_000).unwrap();
    lab.node(1).send(1, ipn(3, 1), b"long".to_vec(), 600_000).unwrap();
    lab.run(6_000, 100);
    let node = lab.node(1);
    assert_eq!(node.counters().dropped(DropReason::Expired), 1);
    assert_eq!(node.spooled(), 1);
}

/// Without clocks, age travels in the bundle age block: node 1 holds the bundle for 5 s,
/// node 2 (whose next link is down) drops it when its age, not its time at node 2,
/// reaches the 8 s lifetime.
#[test]
fn without_clocks_the_bundle_age_block_carries_residence_time() {
    let mut lab = line(Clock::Unsynchronized);
    lab.cut(1, 2);
    lab.cut(2, 3);
    lab.run(2_000, 100);
    lab.node(1).send(1, ipn(3, 1), b"aging".to_vec(), 8_000).unwrap();
    lab.run(7_000, 100);
    lab.heal(1, 2);
    lab.run_until(12_000, 100, |lab| lab.node(1).counters().forwarded == 1).expect("handed to node 2");
    assert_eq!(lab.node(2).spooled(), 1);
    let dropped = lab.run_until(30_000, 100, |lab| lab.node(2).counters().dropped(DropReason::Expired) == 1);
    let dropped = dropped.expect("node 2 drops it");
    assert!(dropped <= 2_000 + 8_000 + 200, "dropped at {dropped} ms: its age counted the 5 s at node 1");
}

#[test]
fn large_payloads_are_fragmented_and_reassembled_at_the_destination() {
    let mut lab = Lab::new();
    let mut one = NodeConfig::new(1, Role::Tile).neighbour(2, "").route("ipn:*", 2);
    one.limits.max_bundle_bytes = 1_000;
    let two = NodeConfig::new(2, Role::Tile).neighbour(1, "");
    lab.add(one);
    lab.add(two);
    lab.link(1, 2, 5);
    lab.run(2_000, 50);
    let payload: Vec<u8> = (0..5_000u32).map(|i| (i % 251) as u8).collect();
    lab.node(1).send(3, ipn(2, 3), payload.clone(), 60_000).unwrap();
    lab.run_until(10_000, 50, |lab| lab.delivered.get(&2).is_some_and(|d| !d.is_empty())).expect("reassembled and delivered");
    assert_eq!(lab.delivered[&2][0].payload, payload);
    assert!(lab.node(1).counters().fragments_made >= 6, "{:?}", lab.node(1).counters());
    assert_eq!(lab.node(2).counters().reassembled, 1);
    lab.run(lab.now_ms + 200, 50);
    assert_eq!(lab.node(2).spooled(), 0, "fragments deleted once whole");
}

#[test]
fn a_contact_too_short_for_the_bundle_carries_a_fragment_and_the_rest_waits_for_the_next() {
    let mut lab = Lab::new();
    // 2,000 bytes/s for 2 s from t = 3 s: a 4,000-byte volume for a 6,000-byte payload; the
    // rest goes in the next contact, from t = 8 s.
    let first = Contact { from: 1, to: 2, start_ms: 3_000, end_ms: 5_000, rate_bytes_per_s: 2_000, owlt_ms: 5 };
    let second = Contact { from: 1, to: 2, start_ms: 8_000, end_ms: 20_000, rate_bytes_per_s: 2_000, owlt_ms: 5 };
    let one = NodeConfig::new(1, Role::Tile).neighbour(2, "").contact(first).contact(second);
    let two = NodeConfig::new(2, Role::Tile).neighbour(1, "");
    lab.add(one);
    lab.add(two);
    lab.link(1, 2, 5);
    let payload: Vec<u8> = (0..6_000u32).map(|i| (i % 253) as u8).collect();
    lab.node(1).send(3, ipn(2, 3), payload.clone(), 600_000).unwrap();
    lab.run(7_000, 50);
    // The first contact carried fragments up to its volume; the rest waits at node 1.
    assert!(lab.node(2).spooled() >= 1 && lab.node(2).counters().reassembled == 0);
    assert_eq!(lab.node(1).spooled(), 1, "the rest waits at node 1");
    let at = lab.run_until(20_000, 50, |lab| lab.delivered.get(&2).is_some_and(|d| !d.is_empty())).expect("delivered");
    assert!(at >= 8_000, "the rest waited for the second contact (delivered at {at} ms)");
    assert_eq!(lab.delivered[&2][0].payload, payload);
    assert_eq!(lab.node(2).counters().reassembled, 1);
}

#[test]
fn recovery_reloads_fragments_and_a_stored_plan() {
    let config = NodeConfig::new(5, Role::Tile).neighbour(6, "");
    let mut store = MemoryStore::new();
    let whole = Bundle::builder(ipn(6, 1), ipn(5, 1))
        .creation(CreationTimestamp { time_ms: 5, sequence: 0 })
        .lifetime_ms(u64::MAX / 2)
        .payload(vec![3; 900])
        .build()
        .unwrap();
    let pieces = whole.fragment(400).unwrap();
    assert!(pieces.len() >= 3);
    for (i, piece) in pieces.iter().enumerate().skip(1) {
        store.plant(&record::bundle_key(i as u64), &record::encode_held(Kind::Fragment, 0, &piece.encode().unwrap()));
    }
    let plan = [Contact { from: 5, to: 6, start_ms: 0, end_ms: 10, rate_bytes_per_s: 1, owlt_ms: 0 }];
    store.plant(record::PLAN_KEY, &record::encode_plan_record(CreationTimestamp { time_ms: 1, sequence: 1 }, &plan));
    let node = FederationNode::recover(config, store, 1).unwrap();
    assert_eq!(node.spooled(), pieces.len() - 1);
    assert_eq!(node.plan(), plan);
}

#[test]
fn a_completing_fragment_refused_for_a_store_failure_completes_the_bundle_when_sent_again() {
    let config = NodeConfig::new(2, Role::Tile).neighbour(1, "");
    let mut node = FederationNode::recover(config, MemoryStore::new(), 0).unwrap();
    let mut peer = Peer::connect(&mut node, 1, ConnId(1));
    let whole = Bundle::builder(ipn(1, 4), ipn(2, 4))
        .creation(CreationTimestamp { time_ms: 1, sequence: 9 })
        .lifetime_ms(u64::MAX / 2)
        .payload((0..1_000u32).map(|i| i as u8).collect())
        .build()
        .unwrap();
    let pieces: Vec<Vec<u8>> = whole.fragment(300).unwrap().iter().map(|f| f.encode().unwrap()).collect();
    let (last, first) = pieces.split_last().unwrap();
    for piece in first {
        peer.session.send_bundle(piece.clone()).unwrap();
    }
    peer.exchange(&mut node, 0);
    node.store_mut().fail_writes(true);
    let refused = peer.session.send_bundle(last.clone()).unwrap();
    peer.exchange(&mut node, 0);
    assert!(peer.events.contains(&Event::TransferRefused { transfer_id: refused, reason: RefuseReason::NoResources }));
    node.store_mut().fail_writes(false);
    peer.session.send_bundle(last.clone()).unwrap();
    peer.exchange(&mut node, 0);
    assert_eq!(node.counters().reassembled, 1);
    assert_eq!(node.spooled(), 1, "the whole bundle, awaiting delivery; its fragments are gone");
}

#[test]
fn neighbours_that_dial_each_other_keep_one_session_each() {
    let mut lab = line(Clock::Synchronized);
    lab.run(3_000, 50);
    // Every pair dialled both ways at once; the session dialled by the lower node is kept.
    assert_eq!(lab.node(1).sessions(), 1);
    assert_eq!(lab.node(2).sessions(), 2);
    assert_eq!(lab.node(3).sessions(), 1);
    assert!(lab.node(2).counters().duplicate_sessions >= 2, "{:?}", lab.node(2).counters());
    // The kept sessions carry bundles.
    lab.node(1).send(100, ipn(3, 100), b"after".to_vec(), 60_000).unwrap();
    assert!(lab.run_until(lab.now_ms + 5_000, 50, |lab| lab.delivered.get(&3).is_some_and(|d| !d.is_empty())).is_some());
}
