//! Host tests of the store: a model of the expected contents and helpers to run workloads,
//! crash the simulated device and compare what a re-mount finds.

mod basic;
mod crash;
mod exhaustive;
mod faults;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::sim::{CrashPlan, SimDevice};
use crate::{BatchOp, Durability, Error, NamespaceConfig, RecoveryReport, Store};

/// The namespaces every test mounts with.
const NAMESPACES: [NamespaceConfig; 2] =
    [NamespaceConfig { id: 1, max_bytes: 64 << 20, max_keys: 1000 }, NamespaceConfig { id: 2, max_bytes: 64 << 20, max_keys: 1000 }];

/// Expected contents: (namespace, key) to value.
type Model = BTreeMap<(u32, Vec<u8>), Vec<u8>>;

/// A freshly formatted store on a device of `blocks` 512-byte sectors.
fn fresh(blocks: u64) -> Store<SimDevice> {
    Store::format(SimDevice::new(512, blocks), 0x5eed, &NAMESPACES).expect("format")
}

/// A formatted, flushed device of `blocks` sectors of `block` bytes.
fn formatted(block: usize, blocks: u64) -> SimDevice {
    Store::format(SimDevice::new(block, blocks), 0x5eed, &NAMESPACES).expect("format").into_device()
}

/// A formatted device of 512-byte sectors whose log has been used and emptied again:
/// `rounds` puts and deletes then a compaction, so the head is somewhere in the ring and
/// new records wrap around its end.
fn aged(blocks: u64, rounds: u8) -> SimDevice {
    let mut s = fresh(blocks);
    for i in 0..rounds {
        s.put(2, b"aging", &value(1000 + 50 * i as usize, i), Durability::Buffered).unwrap();
    }
    if rounds > 0 {
        s.delete(2, b"aging", Durability::Buffered).unwrap();
    }
    s.compact().unwrap();
    s.into_device()
}

/// Mounts `dev` with the test namespaces.
fn mount(dev: SimDevice) -> (Store<SimDevice>, RecoveryReport) {
    match Store::mount(dev, &NAMESPACES) {
        Ok(m) => m,
        Err(f) => panic!("mount failed: {:?}", f.error),
    }
}

/// Everything the store holds in the test namespaces (a failed read is a test failure).
fn dump(store: &mut Store<SimDevice>) -> Result<Model, String> {
    let mut m = Model::new();
    for ns in NAMESPACES {
        for key in store.list(ns.id, b"", None, usize::MAX).map_err(|e| format!("list: {e:?}"))? {
            let v = store.get(ns.id, &key).map_err(|e| format!("get {ns:?} {key:?}: {e:?}"))?;
            m.insert((ns.id, key), v);
        }
    }
    Ok(m)
}

/// One step of a workload.
#[derive(Clone, Debug)]
enum Action {
    /// `put`.
    Put { ns: u32, key: Vec<u8>, value: Vec<u8>, durability: Durability },
    /// `delete` (of a missing key: `NotFound`, nothing written).
    Delete { ns: u32, key: Vec<u8>, durability: Durability },
    /// `batch`: `None` deletes.
    Batch { ns: u32, ops: Vec<(Vec<u8>, Option<Vec<u8>>)>, durability: Durability },
    /// A whole compaction pass.
    Compact,
    /// A bounded compaction step.
    CompactStep(u64),
}

impl Action {
    /// The model after this action.
    fn apply(&self, m: &Model) -> Model {
        let mut m = m.clone();
        match self {
            Action::Put { ns, key, value, .. } => {
                m.insert((*ns, key.clone()), value.clone());
            }
            Action::Delete { ns, key, .. } => {
                m.remove(&(*ns, key.clone()));
            }
            Action::Batch { ns, ops, .. } => {
                for (k, v) in ops {
                    match v {
                        Some(v) => m.insert((*ns, k.clone()), v.clone()),
                        None => m.remove(&(*ns, k.clone())),
                    };
                }
            }
            Action::Compact | Action::CompactStep(_) => {}
        }
        m
    }

    /// Whether an acknowledged run of it makes everything before it durable.
    fn durable(&self) -> bool {
        match self {
            Action::Put { durability, .. } | Action::Delete { durability, .. } | Action::Batch { durability, .. } => {
                *durability == Durability::Durable
            }
            Action::Compact => true,
            Action::CompactStep(_) => false,
        }
    }

    /// Runs it on `store`.
    fn run(&self, store: &mut Store<SimDevice>) -> Result<(), Error> {
        match self {
            Action::Put { ns, key, value, durability } => store.put(*ns, key, value, *durability),
            Action::Delete { ns, key, durability } => store.delete(*ns, key, *durability),
            Action::Batch { ns, ops, durability } => {
                let ops: Vec<BatchOp<'_>> = ops
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => BatchOp::Put { key: k, value: v },
                        None => BatchOp::Delete { key: k },
                    })
                    .collect();
                store.batch(*ns, &ops, *durability)
            }
            Action::Compact => store.compact().map(|_| ()),
            Action::CompactStep(budget) => store.compact_step(*budget).map(|_| ()),
        }
    }
}

/// A value of `len` bytes that differs by `seed`.
fn value(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// How a workload ended.
struct Outcome {
    /// Model states: [0] before anything, [i] after the i-th acknowledged action, then the
    /// state after the interrupted action, if one was interrupted.
    states: Vec<Model>,
    /// The recovered state must be at least this far.
    durable: usize,
    /// The device after the power failure (or after the last action).
    device: SimDevice,
}

/// Runs `workload` on a copy of the `formatted` device, the power failing after `writes`
/// write calls (never when `None`).
fn run_until_crash(formatted: &SimDevice, workload: &[Action], writes: Option<u64>) -> Outcome {
    let mut store = mount(formatted.clone()).0;
    if let Some(n) = writes {
        store.device_mut().power_off_after_writes(n);
    }
    let mut states = vec![Model::new()];
    let mut durable = 0;
    for a in workload {
        let next = a.apply(states.last().unwrap());
        match a.run(&mut store) {
            Ok(()) => {
                states.push(next);
                if a.durable() {
                    durable = states.len() - 1;
                }
            }
            Err(Error::NotFound) if matches!(a, Action::Delete { .. }) => states.push(next),
            Err(Error::Unavailable) => {
                assert!(store.device_mut().is_powered_off(), "only a power failure fails a call here");
                states.push(next);
                break;
            }
            Err(e) => panic!("{a:?} failed: {e:?}"),
        }
    }
    Outcome { states, durable, device: store.into_device() }
}

/// Crashes the outcome's device with `plan`, re-mounts and checks the prefix property;
/// then checks the store still works. Returns the recovery report.
fn check_crash(outcome: &Outcome, plan: &CrashPlan) -> Result<RecoveryReport, String> {
    let mut dev = outcome.device.clone();
    dev.crash(plan);
    let (mut store, report) = mount(dev);
    let got = dump(&mut store)?;
    if !outcome.states[outcome.durable..].contains(&got) {
        return Err(format!(
            "recovered {got:?}\nis not a state at or after the durable prefix {}:\n{:?}\nreport {report:?}",
            outcome.durable, outcome.states
        ));
    }
    store.put(1, b"after-crash", b"x", Durability::Durable).map_err(|e| format!("put after crash: {e:?}"))?;
    let (mut again, _) = mount(store.into_device());
    let mut expect = got;
    expect.insert((1, b"after-crash".to_vec()), b"x".to_vec());
    if dump(&mut again)? != expect {
        return Err(String::from("a durable put after recovery did not survive a re-mount"));
    }
    Ok(report)
}
