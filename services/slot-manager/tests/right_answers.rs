//! Property: with modules that compute right (the Sim's modules answer the running sum of
//! every request they applied), whatever the operators, the clock and the seats' pace do
//! (installs, promotions and rollbacks by hand or by the policy, seats paused and resumed,
//! faults of any seat but a settled serving module's, whose state is not kept), every
//! request the slot accepted is answered exactly once, with the running sum of every
//! accepted request up to it: no request lost, applied twice or out of order, across every
//! transfer, hand-off and journal replay.

mod common;

use common::*;
use proptest::prelude::*;
use tileos_protocol::slots::Request;
use tileos_protocol::{ERROR, MESSAGE, ProtocolError};
use tileos_slot_manager::{Access, Message};

#[derive(Clone, Debug)]
enum Op {
    /// A client request (each from a client of its own: a client has one outstanding).
    Send(u64),
    Pump,
    Advance(u64),
    Pause(usize),
    Resume(usize),
    ServePaused(usize, usize),
    Install,
    Promote(u32, bool),
    /// A rollback by hand (`true`: with the clock past `DEFERRED_BOUND` at its steps).
    Rollback(bool),
    Fault(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..50u64).prop_map(Op::Send),
        2 => Just(Op::Pump),
        1 => prop_oneof![4 => Just(1_000u64), 4 => Just(150_000), 1 => Just(20_000_000)].prop_map(Op::Advance),
        3 => (0..4usize).prop_map(Op::Pause),
        1 => (0..4usize).prop_map(Op::Resume),
        2 => (0..4usize, 1..4usize).prop_map(|(s, n)| Op::ServePaused(s, n)),
        1 => Just(Op::Install),
        2 => (1..4u32, any::<bool>()).prop_map(|(m, f)| Op::Promote(m, f)),
        2 => any::<bool>().prop_map(Op::Rollback),
        1 => (0..4usize).prop_map(Op::Fault),
    ]
}

thread_local! {
    static FAST: Vec<u8> = bundle(b"fast");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(128), ..ProptestConfig::default() })]

    #[test]
    fn every_accepted_request_is_answered_once_with_the_running_sum(ops in proptest::collection::vec(op(), 1..120), auto in any::<bool>(), queue_limit in 2..6usize) {
        let mut p = policy();
        p.auto_promote = auto;
        p.min_agreeing = 3;
        let mut c = config(p, 4);
        // A short queue, so that seats fall behind (catch-ups, hand-offs, journals) within
        // a case's few dozen requests.
        c.queue_limit = queue_limit;
        let mut sim = Sim::new(c);
        // (client badge, the running sum its answer must be)
        let mut expected: Vec<(u64, u64)> = Vec::new();
        let mut total = 0u64;
        let mut badge = 100;
        for op in ops {
            match op {
                Op::Send(x) => {
                    badge += 1;
                    sim.request(badge, x);
                    sim.pump();
                    if sim.answers[&(badge, 0)].first() == Some(&Message::error(ProtocolError::Busy)) {
                        // Refused at once (the queue is full), nothing done: not counted.
                        continue;
                    }
                    total += x;
                    expected.push((badge, total));
                }
                Op::Pump => sim.pump(),
                Op::Advance(t) => sim.advance(t),
                Op::Pause(seat) => {
                    sim.paused.insert(seat);
                }
                Op::Resume(seat) => {
                    sim.paused.remove(&seat);
                    sim.pump();
                }
                Op::ServePaused(seat, n) => sim.serve_paused(seat, n),
                Op::Install => {
                    let bundle = FAST.with(Clone::clone);
                    sim.install(&bundle);
                }
                Op::Promote(module, force) => {
                    sim.send_control(CONTROL, Access::Full, Message::encode(&Request::Promote { module, force }));
                    sim.pump();
                }
                Op::Rollback(past_the_bound) => {
                    sim.send_control(CONTROL, Access::Full, Message::encode(&Request::Rollback));
                    sim.pump();
                    if past_the_bound {
                        // Its steps forced one per clock check: a warm module behind is
                        // handed the state off by the rolled-back one.
                        for _ in 0..2 {
                            sim.advance(tileos_slot_manager::DEFERRED_BOUND + 1);
                        }
                    }
                }
                Op::Fault(seat) => {
                    // Not this property's case: a settled serving module's fault loses its
                    // state (it starts again fresh: docs/slots.md, "What is partial").
                    let serving = sim.m.seat_of_module(sim.m.slot().serving());
                    if sim.modules.contains_key(&seat) && (serving != Some(seat) || sim.m.slot().warm().is_some()) {
                        sim.fault(seat);
                    }
                }
            }
        }
        sim.paused.clear();
        sim.pump();
        for _ in 0..3 {
            sim.advance(p.rollback_window + p.answer_deadline + 1);
        }
        let wrong = sim.not_answered_once();
        prop_assert!(wrong.is_empty(), "{:?}\n{}", wrong, sim.notes());
        for (badge, sum) in &expected {
            let answer = &sim.answers[&(*badge, 0)][0];
            prop_assert!(answer.label != ERROR, "client {badge}: {answer:?}\n{}", sim.notes());
            prop_assert_eq!(answer, &Message { label: MESSAGE, words: vec![*sum] }, "client {}\n{}", badge, sim.notes());
        }
    }
}
