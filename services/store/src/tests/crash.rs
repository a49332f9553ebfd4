//! Property test: random workloads on a store whose log starts anywhere in the ring, a
//! power failure at a random write, random loss, reordering and tearing of the unflushed
//! writes; the re-mounted store holds the state
//! after a prefix of the acknowledged operations that includes every durable one.

use alloc::vec::Vec;

use proptest::prelude::*;

use super::{Action, aged, check_crash, run_until_crash, value};
use crate::Durability;
use crate::sim::{CrashPlan, TornSector};

fn durability() -> impl Strategy<Value = Durability> {
    prop_oneof![Just(Durability::Durable), Just(Durability::Buffered)]
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    (0u8..4).prop_map(|k| alloc::vec![b'k', k])
}

fn val() -> impl Strategy<Value = Vec<u8>> {
    (prop_oneof![Just(0usize), 1usize..100, 400usize..1200, 4000usize..9000], any::<u8>()).prop_map(|(len, seed)| value(len, seed))
}

fn action() -> impl Strategy<Value = Action> {
    let ns = 1u32..3;
    prop_oneof![
        4 => (ns.clone(), key(), val(), durability()).prop_map(|(ns, key, value, durability)| Action::Put { ns, key, value, durability }),
        2 => (ns.clone(), key(), durability()).prop_map(|(ns, key, durability)| Action::Delete { ns, key, durability }),
        2 => (ns, proptest::collection::vec((key(), proptest::option::of(val())), 1..4), durability())
            .prop_map(|(ns, ops, durability)| Action::Batch { ns, ops, durability }),
        1 => Just(Action::Compact),
        1 => (512u64..8192).prop_map(Action::CompactStep),
    ]
}

/// Which pending writes survive: a bit mask, a shuffle seed and perhaps one torn sector.
#[derive(Clone, Debug)]
struct Loss {
    mask: u64,
    shuffle: u64,
    torn: Option<(usize, usize)>,
}

impl Loss {
    fn plan(&self, pending: usize) -> CrashPlan {
        let mut keep: Vec<usize> = (0..pending).filter(|i| self.mask >> (i % 64) & 1 == 1).collect();
        let mut x = self.shuffle | 1;
        for i in (1..keep.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            keep.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let torn = self.torn.filter(|_| pending > 0).map(|(p, bytes)| TornSector { pending: p % pending, bytes });
        CrashPlan { keep, torn }
    }
}

fn loss() -> impl Strategy<Value = Loss> {
    (any::<u64>(), any::<u64>(), proptest::option::of((any::<usize>(), 1usize..512))).prop_map(|(mask, shuffle, torn)| Loss {
        mask,
        shuffle,
        torn,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn recovery_keeps_a_prefix_with_every_durable_operation(
        workload in proptest::collection::vec(action(), 1..14),
        crash_after in 0u64..30,
        loss in loss(),
        age in 0u8..60,
    ) {
        let dev = aged(2 + 190, age);
        let outcome = run_until_crash(&dev, &workload, Some(crash_after));
        let pending = outcome.device.pending_writes();
        check_crash(&outcome, &loss.plan(pending)).map_err(TestCaseError::fail)?;
    }
}
