//! Operations, limits, quotas and namespaces, without faults.

use alloc::vec;
use alloc::vec::Vec;

use super::{NAMESPACES, fresh, mount, value};
use crate::sim::SimDevice;
use crate::{BatchOp, Durability::*, Error, Limit, MAX_BATCH_OPS, MAX_KEY_LEN, MAX_VALUE_LEN, NamespaceConfig, Store, Usage};

#[test]
fn put_get_delete_survive_a_remount() {
    let mut s = fresh(256);
    s.put(1, b"a", b"one", Durable).unwrap();
    s.put(1, b"b", b"two", Buffered).unwrap();
    s.put(1, b"a", b"uno", Buffered).unwrap();
    s.delete(1, b"b", Durable).unwrap();
    assert_eq!(s.get(1, b"a").unwrap(), b"uno");
    assert_eq!(s.get(1, b"b"), Err(Error::NotFound));
    assert_eq!(s.delete(1, b"b", Durable), Err(Error::NotFound));
    let (mut s, report) = mount(s.into_device());
    assert_eq!(report.discarded, None);
    assert_eq!(report.records, 4);
    assert_eq!(s.get(1, b"a").unwrap(), b"uno");
    assert_eq!(s.get(1, b"b"), Err(Error::NotFound));
}

#[test]
fn empty_and_4_mib_values() {
    let mut s = fresh(2 + 3 * 8192 + 512);
    s.put(1, b"empty", b"", Durable).unwrap();
    let big = value(MAX_VALUE_LEN as usize, 7);
    s.put(1, b"big", &big, Durable).unwrap();
    assert_eq!(s.get(1, b"empty").unwrap(), b"");
    assert_eq!(s.value_len(1, b"big").unwrap(), MAX_VALUE_LEN);
    let mut chunk = vec![0u8; 10_000];
    assert_eq!(s.read(1, b"big", 4_000_000, &mut chunk).unwrap(), 10_000);
    assert_eq!(chunk, big[4_000_000..4_010_000]);
    assert_eq!(s.read(1, b"big", MAX_VALUE_LEN - 5, &mut chunk).unwrap(), 5);
    let (mut s, _) = mount(s.into_device());
    assert_eq!(s.get(1, b"big").unwrap(), big);
    assert_eq!(s.get(1, b"empty").unwrap(), b"");
    let too_big = vec![0u8; MAX_VALUE_LEN as usize + 1];
    assert_eq!(s.put(1, b"big", &too_big, Durable), Err(Error::TooLarge));
    assert_eq!(s.get(1, b"big").unwrap().len(), MAX_VALUE_LEN as usize);
}

#[test]
fn keys_must_be_1_to_255_bytes() {
    let mut s = fresh(64);
    assert_eq!(s.put(1, b"", b"v", Durable), Err(Error::InvalidKey));
    let long = [b'k'; MAX_KEY_LEN + 1];
    assert_eq!(s.put(1, &long, b"v", Durable), Err(Error::InvalidKey));
    s.put(1, &long[..MAX_KEY_LEN], b"v", Durable).unwrap();
    assert_eq!(s.get(1, &long[..MAX_KEY_LEN]).unwrap(), b"v");
    assert_eq!(s.get(1, &long), Err(Error::InvalidKey));
}

#[test]
fn list_by_prefix_pages_in_order() {
    let mut s = fresh(256);
    for k in [&b"app/b"[..], b"app/a", b"apq", b"ap", b"app/c", b"b"] {
        s.put(1, k, k, Buffered).unwrap();
    }
    s.put(2, b"app/x", b"other namespace", Buffered).unwrap();
    assert_eq!(s.list(1, b"app/", None, 10).unwrap(), vec![b"app/a".to_vec(), b"app/b".to_vec(), b"app/c".to_vec()]);
    assert_eq!(s.list(1, b"app/", None, 2).unwrap(), vec![b"app/a".to_vec(), b"app/b".to_vec()]);
    assert_eq!(s.list(1, b"app/", Some(b"app/b"), 10).unwrap(), vec![b"app/c".to_vec()]);
    assert_eq!(s.list(1, b"app/", Some(b"a"), 1).unwrap(), vec![b"app/a".to_vec()]);
    assert_eq!(s.list(1, b"", None, 100).unwrap().len(), 6);
    assert_eq!(s.list(2, b"", None, 100).unwrap(), vec![b"app/x".to_vec()]);
}

#[test]
fn batches_apply_all_or_nothing() {
    let mut s = fresh(256);
    s.put(1, b"gone", b"x", Buffered).unwrap();
    let ops = [BatchOp::Put { key: b"a", value: b"1" }, BatchOp::Delete { key: b"gone" }, BatchOp::Put { key: b"a", value: b"2" }];
    s.batch(1, &ops, Durable).unwrap();
    assert_eq!(s.get(1, b"a").unwrap(), b"2");
    assert_eq!(s.get(1, b"gone"), Err(Error::NotFound));
    let bad = [BatchOp::Put { key: b"c", value: b"1" }, BatchOp::Put { key: b"", value: b"1" }];
    assert_eq!(s.batch(1, &bad, Durable), Err(Error::InvalidKey));
    assert_eq!(s.get(1, b"c"), Err(Error::NotFound));
    let many: Vec<BatchOp<'_>> = (0..=MAX_BATCH_OPS).map(|_| BatchOp::Put { key: b"k", value: b"" }).collect();
    assert_eq!(s.batch(1, &many, Durable), Err(Error::TooLarge));
    let half = vec![0u8; MAX_VALUE_LEN as usize / 2 + 1];
    let two = [BatchOp::Put { key: b"x", value: &half }, BatchOp::Put { key: b"y", value: &half }];
    assert_eq!(s.batch(1, &two, Durable), Err(Error::TooLarge));
    assert_eq!(s.usage(1).unwrap(), Usage { bytes: 2, keys: 1 });
}

#[test]
fn quotas_are_exact_and_nothing_is_half_written() {
    let ns = [NamespaceConfig { id: 7, max_bytes: 10, max_keys: 2 }];
    let mut s = Store::format(SimDevice::new(512, 64), 1, &ns).unwrap();
    s.put(7, b"k", b"123456789", Durable).unwrap();
    assert_eq!(
        s.put(7, b"k", b"1234567890", Durable),
        Err(Error::QuotaExceeded { namespace: 7, limit: Limit::Bytes, max: 10, would_use: 11 })
    );
    s.put(7, b"k", b"12345678", Durable).unwrap();
    s.put(7, b"l", b"", Durable).unwrap();
    let r = s.batch(
        7,
        &[BatchOp::Delete { key: b"l" }, BatchOp::Put { key: b"m", value: b"" }, BatchOp::Put { key: b"n", value: b"" }],
        Durable,
    );
    assert_eq!(r, Err(Error::QuotaExceeded { namespace: 7, limit: Limit::Keys, max: 2, would_use: 3 }));
    assert_eq!(s.get(7, b"l").unwrap(), b"");
    assert_eq!(s.get(7, b"m"), Err(Error::NotFound));
    s.batch(7, &[BatchOp::Delete { key: b"l" }, BatchOp::Put { key: b"m", value: b"" }], Durable).unwrap();
    assert_eq!(s.usage(7).unwrap(), Usage { bytes: 10, keys: 2 });
}

#[test]
fn namespaces_are_isolated_and_unconfigured_ones_are_kept() {
    let mut s = fresh(256);
    s.put(1, b"secret", b"one", Durable).unwrap();
    s.put(2, b"secret", b"two", Durable).unwrap();
    assert_eq!(s.get(2, b"secret").unwrap(), b"two");
    s.delete(2, b"secret", Durable).unwrap();
    assert_eq!(s.get(1, b"secret").unwrap(), b"one");
    assert_eq!(s.get(3, b"secret"), Err(Error::UnknownNamespace(3)));
    assert_eq!(s.list(3, b"", None, 10), Err(Error::UnknownNamespace(3)));
    assert_eq!(s.put(3, b"x", b"", Durable), Err(Error::UnknownNamespace(3)));
    // Mount without namespace 1: its key is unreachable but survives, also compaction.
    let only2 = [NAMESPACES[1]];
    let (mut s, _) = Store::mount(s.into_device(), &only2).map_err(|f| f.error).unwrap();
    assert_eq!(s.get(1, b"secret"), Err(Error::UnknownNamespace(1)));
    s.put(2, b"filler", &[0; 3000], Buffered).unwrap();
    s.compact().unwrap();
    let (mut s, _) = mount(s.into_device());
    assert_eq!(s.get(1, b"secret").unwrap(), b"one");
}

#[test]
fn unformatted_and_bad_geometry_are_refused() {
    let e = Store::mount(SimDevice::new(512, 64), &NAMESPACES).err().unwrap().error;
    assert_eq!(e, Error::Unformatted);
    let e = Store::format(SimDevice::new(500, 64), 1, &NAMESPACES).err().unwrap().error;
    assert_eq!(e, Error::BadGeometry);
    let e = Store::format(SimDevice::new(512, 4), 1, &NAMESPACES).err().unwrap().error;
    assert_eq!(e, Error::BadGeometry);
}

#[test]
fn compaction_reclaims_dead_space_in_bounded_steps() {
    let mut s = fresh(2 + 200);
    for i in 0..20u8 {
        s.put(1, b"hot", &value(2000, i), Buffered).unwrap();
    }
    s.put(1, b"cold", b"keep", Durable).unwrap();
    let used = s.space().used;
    let mut steps = 0;
    loop {
        let p = s.compact_step(4096).unwrap();
        steps += 1;
        if p.pass_done {
            break;
        }
    }
    assert!(steps > 3, "a 4 KiB budget takes several steps");
    assert!(s.space().used < used / 4, "used {} of {used}", s.space().used);
    assert_eq!(s.get(1, b"hot").unwrap(), value(2000, 19));
    assert_eq!(s.get(1, b"cold").unwrap(), b"keep");
    let (mut s, _) = mount(s.into_device());
    assert_eq!(s.get(1, b"hot").unwrap(), value(2000, 19));
    assert_eq!(s.get(1, b"cold").unwrap(), b"keep");
}

#[test]
fn writes_compact_automatically_and_fill_to_no_space() {
    let mut s = fresh(2 + 64);
    // Far more than the log holds, overwriting: only automatic compaction makes it fit.
    for i in 0..200u8 {
        s.put(1, &[i % 4], &value(1500, i), Buffered).unwrap();
    }
    for i in 196..200u8 {
        assert_eq!(s.get(1, &[i % 4]).unwrap(), value(1500, i));
    }
    // Live data that cannot fit ends in NoSpace, with nothing half-written.
    let mut n = 0u8;
    let err = loop {
        match s.put(1, &[b'f', n], &value(3000, n), Durable) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err, Error::NoSpace);
    let (mut s, _) = mount(s.into_device());
    for i in 0..n {
        assert_eq!(s.get(1, &[b'f', i]).unwrap(), value(3000, i));
    }
    assert_eq!(s.get(1, &[b'f', n]), Err(Error::NotFound));
}

#[test]
fn errors_are_small_enough_for_an_ipc_reply() {
    assert_eq!(core::mem::size_of::<Error>(), 48);
}

#[test]
fn records_wrap_around_the_end_of_the_ring() {
    let (mut s, _) = mount(super::aged(2 + 190, 60));
    let capacity = s.space().capacity;
    let start = s.tail % capacity;
    assert!(start > 0, "the log starts inside the ring");
    let big = value((capacity - start) as usize + 1000, 3);
    s.put(1, b"wraps", &big, Buffered).unwrap();
    assert!(start + big.len() as u64 > capacity, "the record crosses the end (starts at {start} of {capacity})");
    let (mut s, report) = mount(s.into_device());
    assert_eq!(report.discarded, None);
    assert_eq!(s.get(1, b"wraps").unwrap(), big);
}
