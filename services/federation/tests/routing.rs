//! Routing end to end: contact-graph routing over links with light time, contact plans
//! received in bundles, static routes.

mod common;

use common::Lab;
use tileos_federation::routing::encode_plan;
use tileos_federation::{CONTACT_PLAN_SERVICE, Contact, DropReason, FederationNode, MemoryStore, NodeConfig, Refusal, Role, ipn};

fn contact(from: u32, to: u32, start_ms: u64, end_ms: u64, rate: u64, owlt_ms: u64) -> Contact {
    Contact { from, to, start_ms, end_ms, rate_bytes_per_s: rate, owlt_ms }
}

/// Node 1 can reach 3 directly, but with a 20-minute one-way light time; through 2 it waits
/// a minute for the 2→3 contact and two 1.3 s light times. The bundle goes through 2 and
/// arrives after about a minute, not twenty.
#[test]
fn three_nodes_with_long_light_time_deliver_over_the_earliest_arrival_path() {
    let plan = vec![
        contact(1, 3, 0, 3_600_000, 1_000, 1_200_000),
        contact(1, 2, 0, 3_600_000, 100_000, 1_300),
        contact(2, 3, 60_000, 3_600_000, 100_000, 1_300),
        contact(2, 1, 0, 3_600_000, 100_000, 1_300),
        contact(3, 2, 60_000, 3_600_000, 100_000, 1_300),
        contact(3, 1, 0, 3_600_000, 1_000, 1_200_000),
    ];
    let mut lab = Lab::new();
    for (node, neighbours) in [(1, [2, 3]), (2, [1, 3]), (3, [1, 2])] {
        let mut config = NodeConfig::new(node, Role::Regional);
        for n in neighbours {
            config = config.neighbour(n, "");
        }
        config.contacts = plan.clone();
        config.replication_interval_ms = 600_000;
        lab.add(config);
    }
    lab.link(1, 2, 1_300);
    lab.link(2, 3, 1_300);
    lab.link(1, 3, 1_200_000);
    lab.run(5_000, 100);
    lab.node(1).send(1, ipn(3, 1), vec![5; 10_000], 7_200_000).unwrap();
    let at = lab.run_until(300_000, 100, |lab| lab.delivered.get(&3).is_some_and(|d| !d.is_empty()));
    let at = at.expect("delivered within five minutes");
    // The 2→3 contact opens at 60 s; session set-up (contact headers, SESS_INIT) and the
    // transfer take a few light times.
    println!("delivered at {at} ms through node 2");
    assert!((60_000..70_000).contains(&at), "delivered at {at} ms");
    lab.run(at + 5_000, 100);
    assert_eq!(lab.node(2).counters().forwarded, 1, "through node 2");
    assert_eq!(lab.node(1).counters().forwarded, 1);
    assert_eq!(lab.delivered[&3][0].payload, vec![5; 10_000]);
}

#[test]
fn a_contact_plan_bundle_from_an_authority_replaces_the_received_plan() {
    let mut lab = Lab::new();
    let mut one = NodeConfig::new(1, Role::Tile).neighbour(2, "");
    one.plan_authorities = vec![2];
    lab.add(one);
    lab.add(NodeConfig::new(2, Role::Hub).neighbour(1, "").neighbour(3, ""));
    lab.add(NodeConfig::new(3, Role::Tile).neighbour(2, "").route("ipn:*", 2));
    lab.link(1, 2, 5);
    lab.link(2, 3, 5);
    lab.run(2_000, 50);
    let plan = [contact(1, 2, 0, 1_000_000, 1_000, 5)];
    lab.node(2).send(0, ipn(1, CONTACT_PLAN_SERVICE), encode_plan(&plan), 60_000).unwrap();
    // Node 3 is no authority for node 1: its plan is refused and counted.
    lab.node(3).send(0, ipn(1, CONTACT_PLAN_SERVICE), encode_plan(&[]), 60_000).unwrap();
    lab.run(6_000, 50);
    assert_eq!(lab.node(1).plan(), plan);
    assert_eq!(lab.node(1).counters().refused(Refusal::BadContactPlan), 1);
    assert_eq!(lab.node(2).counters().dropped(DropReason::RefusedByPeer), 1, "the hub does not try again");
    // The plan is stored: a restart keeps it.
    lab.crash(1);
    lab.restart(1);
    assert_eq!(lab.node(1).plan(), plan);
}

#[test]
fn static_routes_pick_the_first_matching_pattern() {
    let mut lab = Lab::new();
    lab.add(NodeConfig::new(1, Role::Tile).neighbour(2, "").neighbour(3, "").route("ipn:9.*", 3).route("ipn:*", 2));
    lab.add(NodeConfig::new(2, Role::Pod).neighbour(1, ""));
    lab.add(NodeConfig::new(3, Role::Pod).neighbour(1, ""));
    lab.link(1, 2, 5);
    lab.link(1, 3, 5);
    lab.run(2_000, 50);
    lab.node(1).send(1, ipn(9, 1), b"to nine".to_vec(), 60_000).unwrap();
    lab.node(1).send(1, ipn(8, 1), b"to eight".to_vec(), 60_000).unwrap();
    lab.run(4_000, 50);
    assert_eq!((lab.node(3).spooled(), lab.node(2).spooled()), (1, 1), "9 via 3, 8 via 2");
}

#[test]
fn invalid_configurations_name_the_entry_at_fault() {
    use tileos_federation::{ConfigError, ContactProblem, RecoverError};
    let recover = |config: NodeConfig| FederationNode::recover(config, MemoryStore::new(), 0).err();
    assert_eq!(recover(NodeConfig::new(0, Role::Tile)), Some(RecoverError::Config(ConfigError::NodeZero)));
    let stranger = NodeConfig::new(1, Role::Tile).neighbour(2, "").route("ipn:*", 4);
    assert_eq!(recover(stranger), Some(RecoverError::Config(ConfigError::RouteViaStranger { index: 0, via: 4 })));
    let twice = NodeConfig::new(1, Role::Tile).neighbour(2, "").neighbour(2, "");
    assert_eq!(recover(twice), Some(RecoverError::Config(ConfigError::DuplicateNeighbour { node: 2 })));
    let empty = NodeConfig::new(1, Role::Tile).contact(contact(1, 2, 5, 5, 1, 0));
    assert_eq!(recover(empty), Some(RecoverError::Config(ConfigError::BadContact { index: 0, problem: ContactProblem::Empty })));
    let pattern = NodeConfig::new(1, Role::Tile).neighbour(2, "").route("http://x", 2);
    assert_eq!(recover(pattern), Some(RecoverError::Config(ConfigError::BadRoutePattern { index: 0 })));
}

#[test]
fn a_configuration_deserializes_with_defaults_for_what_it_leaves_out() {
    let text = r#"{
        "node": 10, "role": "pod",
        "neighbours": [{ "node": 1, "address": "hub:4556" }, { "node": 11 }],
        "routes": [{ "pattern": "ipn:*", "via": 1 }],
        "contacts": [{ "from": 10, "to": 1, "start_ms": 0, "end_ms": 60000, "rate_bytes_per_s": 125000, "owlt_ms": 20 }],
        "limits": { "max_bundle_bytes": 65536 }
    }"#;
    let config: NodeConfig = serde_json::from_str(text).unwrap();
    assert_eq!(config.role, Role::Pod);
    assert_eq!(config.clock, tileos_federation::Clock::Synchronized);
    assert_eq!(config.neighbours[1].address, "");
    assert_eq!(config.limits.max_bundle_bytes, 65_536);
    assert_eq!(config.limits.max_spooled, tileos_federation::Limits::default().max_spooled);
    assert_eq!(config.validate(), Ok(()));
    assert!(serde_json::from_str::<NodeConfig>(r#"{ "node": 1, "role": "moon" }"#).is_err());
}
