//! Property: whatever happens (installs of right, wrong and crashing modules, promotions,
//! rollbacks, faults of any seat, the clock), every client request is answered exactly once.

mod common;

use common::*;
use proptest::prelude::*;
use tileos_protocol::slots::Request;
use tileos_slot_manager::Access;

#[derive(Clone, Debug)]
enum Op {
    Request(u64, u64),
    Pump,
    Advance(u64),
    Install(usize),
    Promote(u32, bool),
    Rollback,
    Fault(usize),
}

const PAYLOADS: [&[u8]; 4] = [b"fast", b"wrong", b"crash2", b"crash5"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..6u64, 0..20u64).prop_map(|(b, x)| Op::Request(b, x)),
        4 => Just(Op::Pump),
        1 => prop_oneof![Just(1_000u64), Just(150_000), Just(20_000_000)].prop_map(Op::Advance),
        1 => (0..PAYLOADS.len()).prop_map(Op::Install),
        1 => (1..6u32, any::<bool>()).prop_map(|(m, f)| Op::Promote(m, f)),
        1 => Just(Op::Rollback),
        1 => (0..4usize).prop_map(Op::Fault),
    ]
}

thread_local! {
    static BUNDLES: Vec<Vec<u8>> = PAYLOADS.iter().map(|p| bundle(p)).collect();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_request_is_answered_exactly_once(ops in proptest::collection::vec(op(), 1..60), auto in any::<bool>(), faults in 0..3u32) {
        let mut p = policy();
        p.auto_promote = auto;
        p.max_faults = faults;
        p.min_agreeing = 3;
        let mut sim = Sim::new(config(p, 4));
        for op in ops {
            match op {
                Op::Request(badge, x) => sim.request(badge, x),
                Op::Pump => sim.pump(),
                Op::Advance(t) => sim.advance(t),
                Op::Install(i) => {
                    let bundle = BUNDLES.with(|b| b[i].clone());
                    sim.install(&bundle);
                }
                Op::Promote(module, force) => {
                    sim.control(Access::Full, &Request::Promote { module, force });
                }
                Op::Rollback => {
                    sim.control(Access::Full, &Request::Rollback);
                }
                Op::Fault(seat) => {
                    if sim.modules.contains_key(&seat) {
                        sim.fault(seat);
                    }
                }
            }
        }
        sim.pump();
        sim.advance(p.rollback_window + p.answer_deadline + 1);
        sim.pump();
        let wrong = sim.not_answered_once();
        prop_assert!(wrong.is_empty(), "{:?}\n{}", wrong, sim.notes());
        prop_assert_eq!(sim.m.outstanding(), 0);
    }
}
