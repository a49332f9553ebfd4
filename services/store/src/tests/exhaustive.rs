//! Exhaustive crash points: every workload of up to three operations from a six-letter
//! alphabet, the power failing after every single device write, and then every subset of
//! the unflushed sector writes reaching the medium (when at most eight are pending; else
//! every prefix, every "all but one" and every prefix followed by a half-written sector).

use alloc::vec;
use alloc::vec::Vec;

use super::{Action, check_crash, formatted, run_until_crash, value};
use crate::Durability::{Buffered, Durable};
use crate::sim::{CrashPlan, SimDevice, TornSector};

/// The alphabet: small put, multi-sector and multi-frame put, put of another key, delete,
/// a batch over both keys, a compaction pass.
fn alphabet() -> Vec<Action> {
    vec![
        Action::Put { ns: 1, key: b"k1".to_vec(), value: value(10, 1), durability: Buffered },
        Action::Put { ns: 1, key: b"k1".to_vec(), value: value(5000, 2), durability: Durable },
        Action::Put { ns: 1, key: b"k2".to_vec(), value: value(100, 3), durability: Buffered },
        Action::Delete { ns: 1, key: b"k1".to_vec(), durability: Durable },
        Action::Batch { ns: 1, ops: vec![(b"k1".to_vec(), Some(value(20, 4))), (b"k2".to_vec(), None)], durability: Buffered },
        Action::Compact,
    ]
}

/// Every crash plan tried for `pending` unflushed sector writes.
fn plans(pending: usize) -> Vec<CrashPlan> {
    if pending <= 8 {
        return (0..1u32 << pending).map(|m| CrashPlan { keep: (0..pending).filter(|i| m >> i & 1 == 1).collect(), torn: None }).collect();
    }
    let mut plans: Vec<CrashPlan> = (0..=pending).map(CrashPlan::prefix).collect();
    plans.extend((0..pending).map(|skip| CrashPlan { keep: (0..pending).filter(|&i| i != skip).collect(), torn: None }));
    plans.extend((0..pending).map(|n| CrashPlan { keep: (0..n).collect(), torn: Some(TornSector { pending: n, bytes: 256 }) }));
    plans
}

/// Enumerates 258 workloads (6 + 36 + 216), every crash point of each and every plan of
/// each crash point, on 512-byte sectors (3,003 crash-and-recover cases) and on 4 KiB
/// sectors (2,977 cases); the counts are checked.
#[test]
fn every_crash_point_of_every_short_workload_recovers_a_durable_prefix() {
    assert_eq!(enumerate(formatted(512, 2 + 62)), 3_003);
    assert_eq!(enumerate(formatted(4096, 2 + 16)), 2_977);
}

/// Runs every case on a copy of `dev`; returns how many.
fn enumerate(dev: SimDevice) -> usize {
    let alphabet = alphabet();
    let mut workloads: Vec<Vec<usize>> = Vec::new();
    for len in 1..=3u32 {
        for n in 0..6usize.pow(len) {
            workloads.push((0..len).map(|i| n / 6usize.pow(i) % 6).collect());
        }
    }
    let mut cases = 0usize;
    for w in &workloads {
        let workload: Vec<Action> = w.iter().map(|&i| alphabet[i].clone()).collect();
        let full = run_until_crash(&dev, &workload, None);
        let writes = full.device.write_calls() - dev.write_calls();
        for crash_after in 0..=writes {
            let outcome = run_until_crash(&dev, &workload, Some(crash_after));
            for plan in plans(outcome.device.pending_writes()) {
                if let Err(e) = check_crash(&outcome, &plan) {
                    panic!("workload {w:?}, crash after {crash_after} writes, plan {plan:?}: {e}");
                }
                cases += 1;
            }
        }
    }
    assert_eq!(workloads.len(), 258);
    std::println!("{cases} crash cases");
    cases
}
