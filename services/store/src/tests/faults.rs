//! Bit flips, device errors, hostile lengths and crashes during compaction.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::{Action, Model, dump, fresh, mount, run_until_crash, value};
use crate::Durability::{Buffered, Durable};
use crate::format::{HEADER_LEN, Header};
use crate::sim::{CrashPlan, SimDevice};
use crate::{BlockDevice, Cause, Error};

/// Every (key, value) pair a key ever had.
type History = BTreeSet<(Vec<u8>, Vec<u8>)>;

/// Puts and deletes over a few keys, ending in a flush, with the model and every value
/// each key ever had.
fn settled_store(ops: &[(u8, u16, bool)]) -> (SimDevice, Model, History) {
    let mut s = fresh(2 + 120);
    let mut model = Model::new();
    let mut history = BTreeSet::new();
    for (i, &(k, len, delete)) in ops.iter().enumerate() {
        let key = alloc::vec![b'k', k];
        if delete {
            let _ = s.delete(1, &key, Buffered);
            model.remove(&(1, key));
        } else {
            let v = value(len as usize, i as u8);
            s.put(1, &key, &v, Buffered).unwrap();
            history.insert((key.clone(), v.clone()));
            model.insert((1, key), v);
        }
    }
    s.flush().unwrap();
    (s.into_device(), model, history)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A flipped bit anywhere never yields wrong data silently: every value read is the
    /// current one or `Corrupt`; anything else only with a report naming the damage.
    #[test]
    fn a_flipped_bit_is_reported_never_returned(
        ops in proptest::collection::vec((0u8..4, 0u16..6000, proptest::bool::weighted(0.2)), 1..12),
        sector in 0u64..40,
        bit in 0usize..4096,
    ) {
        let (mut dev, model, history) = settled_store(&ops);
        dev.flip_bit(sector, bit);
        let (mut s, report) = mount(dev);
        let reported = report.discarded.is_some() || !report.damaged.is_empty();
        for ((ns, key), want) in &model {
            match s.get(*ns, key) {
                Ok(v) if &v == want => {}
                Ok(v) => prop_assert!(reported && history.contains(&(key.clone(), v)), "wrong value for {:?}, report {:?}", key, report),
                Err(Error::Corrupt(c)) => prop_assert_eq!(c.key(), key.as_slice()),
                Err(Error::NotFound) => prop_assert!(reported, "{key:?} lost silently"),
                Err(e) => prop_assert!(false, "{e:?}"),
            }
        }
        for key in s.list(1, b"", None, 100).unwrap() {
            prop_assert!(model.contains_key(&(1, key.clone())) || reported, "{key:?} came back silently");
        }
    }
}

#[test]
fn a_flipped_value_bit_reads_as_corrupt_naming_the_key() {
    let mut s = fresh(64);
    s.put(2, b"victim", &value(6000, 1), Durable).unwrap();
    s.put(2, b"other", b"fine", Durable).unwrap();
    let mut dev = s.into_device();
    dev.flip_bit(3, 100);
    let (mut s, report) = mount(dev);
    assert_eq!(report.discarded, None);
    assert_eq!(report.damaged.len(), 1);
    match s.get(2, b"victim") {
        Err(Error::Corrupt(c)) => assert_eq!((c.namespace, c.key(), c.lba), (2, &b"victim"[..], 2)),
        r => panic!("{r:?}"),
    }
    let mut buf = [0u8; 10];
    assert!(matches!(s.read(2, b"victim", 5000, &mut buf), Ok(10)), "frames after the damaged one still read");
    assert_eq!(s.get(2, b"other").unwrap(), b"fine");
    // The client can delete the damaged key; compaction then gets past it.
    assert!(matches!(s.compact(), Err(Error::Corrupt(_))));
    s.delete(2, b"victim", Durable).unwrap();
    s.compact().unwrap();
    assert_eq!(mount(s.into_device()).0.get(2, b"other").unwrap(), b"fine");
}

#[test]
fn a_torn_tail_is_reported_with_its_sequence_numbers() {
    let mut s = fresh(128);
    s.put(1, b"a", b"durable", Durable).unwrap();
    s.put(1, b"b", &value(2000, 1), Buffered).unwrap();
    s.put(1, b"c", b"after", Buffered).unwrap();
    let mut dev = s.into_device();
    // b's record is 5 sectors: keep its first 4 and all of c's.
    let pending = dev.pending_writes();
    assert_eq!(pending, 6);
    dev.crash(&CrashPlan { keep: alloc::vec![0, 1, 2, 3, 5], torn: None });
    let (mut s, report) = mount(dev);
    let d = report.discarded.expect("a discarded tail");
    assert_eq!(d.seqs, [2, 3]);
    assert_eq!((d.start, d.end, d.first_lba), (512, 512 * 7, 3));
    assert!(matches!(d.cause, Cause::TornFrame { .. }));
    assert!(!d.flushed);
    assert_eq!(s.get(1, b"a").unwrap(), b"durable");
    assert_eq!(s.get(1, b"c"), Err(Error::NotFound));
}

#[test]
fn hostile_lengths_end_the_log_without_allocating() {
    let mut s = fresh(64);
    s.put(1, b"a", b"1", Durable).unwrap();
    let mut dev = s.into_device();
    // A header for the next sequence number at the tail claiming a 4 GiB entry table.
    let forged = Header { entries: 1, seq: 2, epoch: 2, durable_seq: 1, volume: 0x5eed, data_len: 0, meta_len: u32::MAX };
    let mut sector = alloc::vec![0u8; 512];
    sector[..HEADER_LEN].copy_from_slice(&forged.encode(&[]));
    dev.write(3, &sector).unwrap();
    dev.flush().unwrap();
    let (mut s, report) = mount(dev);
    assert_eq!(report.discarded.map(|d| d.cause), Some(Cause::TornHeader));
    assert_eq!(s.get(1, b"a").unwrap(), b"1");
}

#[test]
fn device_errors_are_unavailable_and_the_store_remounts() {
    let mut s = fresh(128);
    s.put(1, b"a", b"1", Durable).unwrap();
    s.device_mut().fail_next_calls(1);
    assert_eq!(s.put(1, b"b", b"2", Durable), Err(Error::Unavailable));
    s.put(1, b"b", b"2", Durable).unwrap();
    assert!(s.take_remount_report().is_some());
    s.device_mut().fail_next_calls(1);
    assert_eq!(s.get(1, b"a"), Err(Error::Unavailable));
    // A failure during the re-mount is Unavailable too; the next call tries again.
    s.device_mut().fail_next_calls(1);
    assert_eq!(s.get(1, b"a"), Err(Error::Unavailable));
    assert_eq!(s.get(1, b"a").unwrap(), b"1");
    // Every call of a compaction failing in turn: Unavailable or done, the data stays.
    for i in 0..20u8 {
        s.put(1, b"c", &value(1000, i), Buffered).unwrap();
    }
    let mut failed = 0;
    for n in 0..200 {
        s.device_mut().fail_one_call_after(n);
        match s.compact() {
            Ok(_) => {}
            Err(Error::Unavailable) => failed += 1,
            Err(e) => panic!("{e:?}"),
        }
        assert_eq!(s.get(1, b"c").unwrap(), value(1000, 19));
        assert_eq!(s.get(1, b"a").unwrap(), b"1");
        s.put(1, b"c", &value(1000, 19), Buffered).unwrap();
    }
    assert!(failed > 10, "{failed} compactions met the error");
}

#[test]
fn a_crash_anywhere_in_compaction_loses_nothing() {
    let mut s = fresh(2 + 126);
    for i in 0..12u8 {
        s.put(1, &[b'k', i % 5], &value(700 + i as usize * 90, i), Buffered).unwrap();
    }
    s.put(2, b"other", &value(5000, 9), Buffered).unwrap();
    s.delete(1, b"k\x01", Buffered).unwrap();
    s.flush().unwrap();
    let dev = s.into_device();
    let (mut s, _) = mount(dev.clone());
    let expect = dump(&mut s).unwrap();
    let full = run_until_crash(&dev, &[Action::Compact], None);
    let writes = full.device.write_calls() - dev.write_calls();
    assert!(writes > 5, "the pass copies and commits ({writes} writes)");
    for crash_after in 0..=writes {
        let outcome = run_until_crash(&dev, &[Action::Compact], Some(crash_after));
        let pending = outcome.device.pending_writes();
        for plan in [CrashPlan::lose_all(), CrashPlan::prefix(pending), CrashPlan::prefix(pending / 2)] {
            let mut d = outcome.device.clone();
            d.crash(&plan);
            let (mut s, _) = mount(d);
            assert!(dump(&mut s).unwrap() == expect, "crash after {crash_after} writes, plan {plan:?}");
        }
    }
}
