//! Custody under random crashes: nodes 1 → 2 → 3, bundles sent at node 1 while links are
//! cut and healed and nodes lose power at random moments. Every bundle whose `send`
//! returned is stored, and every bundle a custodian acknowledged stays stored somewhere, so
//! once everything is up again every bundle reaches node 3.

mod common;

use std::collections::BTreeSet;

use common::{Host, Lab};
use proptest::prelude::*;
use tileos_federation::{NodeConfig, Role, ipn};

#[derive(Clone, Debug)]
enum Step {
    Send,
    Crash(u32),
    Cut(u32),
    Heal(u32),
    Run(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Send),
        1 => (1u32..=3).prop_map(Step::Crash),
        1 => (1u32..=2).prop_map(Step::Cut),
        1 => (1u32..=2).prop_map(Step::Heal),
        3 => (1u64..40).prop_map(|n| Step::Run(n * 50)),
    ]
}

fn lab() -> Lab {
    let mut lab = Lab::new();
    lab.add(NodeConfig::new(1, Role::Tile).neighbour(2, "").route("ipn:*", 2));
    lab.add(NodeConfig::new(2, Role::Pod).neighbour(1, "").neighbour(3, ""));
    lab.add(NodeConfig::new(3, Role::Tile).neighbour(2, ""));
    lab.link(1, 2, 10);
    lab.link(2, 3, 10);
    lab
}

fn up(lab: &Lab, node: u32) -> bool {
    matches!(lab.hosts.get(&node), Some(Host::Up(_)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_bundle_that_was_accepted_is_lost(steps in proptest::collection::vec(step(), 1..40)) {
        let mut lab = lab();
        let mut sent = BTreeSet::new();
        for step in steps {
            match step {
                Step::Send if up(&lab, 1) => {
                    let n = sent.len() as u32;
                    if lab.node(1).send(1, ipn(3, 1), n.to_be_bytes().to_vec(), 3_600_000).is_ok() {
                        sent.insert(n);
                    }
                }
                Step::Send => {}
                Step::Crash(node) if up(&lab, node) => lab.crash(node),
                Step::Crash(node) => lab.restart(node),
                Step::Cut(a) => lab.cut(a, a + 1),
                Step::Heal(a) => lab.heal(a, a + 1),
                Step::Run(ms) => { let until = lab.now_ms + ms; lab.run(until, 50) }
            }
        }
        for node in 1..=3 {
            if !up(&lab, node) {
                lab.restart(node);
            }
        }
        lab.heal(1, 2);
        lab.heal(2, 3);
        let until = lab.now_ms + 30_000;
        lab.run(until, 100);
        let delivered: BTreeSet<u32> = lab
            .delivered
            .get(&3)
            .map(|d| d.iter().map(|d| u32::from_be_bytes(d.payload[..4].try_into().unwrap())).collect())
            .unwrap_or_default();
        prop_assert_eq!(&delivered, &sent);
        for node in 1..=3 {
            prop_assert_eq!(lab.node(node).spooled(), 0, "node {} still holds bundles", node);
        }
    }
}
