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
    #![proptest_config(ProptestConfig { cases: cases(48), ..ProptestConfig::default() })]

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

#[derive(Clone, Debug)]
enum Hostile {
    /// A well-formed client request.
    Request(u64, u64),
    /// Any message from a seat's badge (the module in that seat, or none).
    Seat(u64, u64, Vec<u64>),
    /// Any message from a control client.
    Control(bool, u64, Vec<u64>),
    Pump,
    Advance(u64),
}

fn hostile() -> impl Strategy<Value = Hostile> {
    let label = prop_oneof![Just(tileos_protocol::MESSAGE), Just(tileos_protocol::ERROR), 0x180..0x183u64, 0x190..0x192u64, any::<u64>()];
    let words = proptest::collection::vec(any::<u64>(), 0..8);
    prop_oneof![
        4 => (1..4u64, 0..20u64).prop_map(|(b, x)| Hostile::Request(b, x)),
        3 => (prop_oneof![0..6u64, any::<u64>()], label.clone(), words.clone()).prop_map(|(s, l, w)| Hostile::Seat(s, l, w)),
        2 => (any::<bool>(), label, words).prop_map(|(f, l, w)| Hostile::Control(f, l, w)),
        3 => Just(Hostile::Pump),
        1 => Just(Hostile::Advance(150_000)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(128), ..ProptestConfig::default() })]

    /// Arbitrary messages from seats and control clients never panic the manager, and the
    /// clients of the service are still answered exactly once.
    #[test]
    fn hostile_messages_never_panic(ops in proptest::collection::vec(hostile(), 1..80)) {
        let mut sim = Sim::new(config(policy(), 4));
        BUNDLES.with(|b| sim.install(&b[0]));
        for op in ops {
            match op {
                Hostile::Request(badge, x) => sim.request(badge, x),
                Hostile::Seat(seat, label, words) => sim.module_call(seat, tileos_slot_manager::Message { label, words }),
                Hostile::Control(full, label, words) => {
                    let access = if full { Access::Full } else { Access::Read };
                    let _ = sim.control_raw(CONTROL, access, tileos_slot_manager::Message { label, words });
                }
                Hostile::Pump => sim.pump(),
                Hostile::Advance(t) => sim.advance(t),
            }
        }
        sim.pump();
        let wrong = sim.not_answered_once();
        prop_assert!(wrong.is_empty(), "{:?}\n{}", wrong, sim.notes());
    }
}
