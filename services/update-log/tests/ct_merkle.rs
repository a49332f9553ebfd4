//! The log's own tree (since `slots28`) against `ct-merkle`'s `MemoryBackedTree`, the tree it
//! replaced: roots, inclusion proofs and consistency proofs byte for byte for every size
//! 1..=300 (every index, every older size, against the current size and, from a larger log,
//! against each earlier size) and for random larger logs; the same when the hashing is done
//! a bounded number of units at a time.

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use proptest::prelude::*;
use sha2::Sha256;
use tileos_update_log::{Hash, LogError, UpdateLog};

fn entry(i: usize, seed: u8) -> Vec<u8> {
    let len = (i * 7 + seed as usize) % 41;
    (0..len).map(|j| (i * 31 + j) as u8 ^ seed).collect()
}

fn hashes(bytes: &[u8]) -> Vec<Hash> {
    bytes.chunks_exact(32).map(|c| c.try_into().unwrap()).collect()
}

fn ct_root(ct: &MemoryBackedTree<Sha256, Vec<u8>>) -> Hash {
    (*ct.root().as_bytes()).into()
}

/// Checks every proof of the `ct` tree (its current size `n`) against `log`'s at size `n`.
fn check_size(log: &UpdateLog, ct: &MemoryBackedTree<Sha256, Vec<u8>>, n: usize) {
    let size = n as u64;
    let root: Hash = ct_root(ct);
    assert_eq!(log.root_at(size).unwrap(), root, "root at {n}");
    for m in 0..n {
        let ours = log.prove_inclusion_at(m as u64, size).unwrap();
        assert_eq!(ours.path, hashes(ct.prove_inclusion(m).as_bytes()), "inclusion of {m} at {n}");
        assert_eq!((ours.leaf_index, ours.tree_size), (m as u64, size));
    }
    for old in 1..=n {
        let ours = log.prove_consistency_between(old as u64, size).unwrap();
        assert_eq!(ours.path, hashes(ct.prove_consistency(n - old).as_bytes()), "consistency {old} to {n}");
    }
}

#[test]
fn every_size_to_300_matches_ct_merkle() {
    let entries: Vec<Vec<u8>> = (0..300).map(|i| entry(i, 5)).collect();
    let full = UpdateLog::from_entries(entries.clone()).unwrap();
    let mut grown = UpdateLog::new();
    let mut ct = MemoryBackedTree::<Sha256, Vec<u8>>::new();
    for (i, e) in entries.iter().enumerate() {
        ct.push(e.clone());
        grown.append_entry(e.clone()).unwrap();
        let n = i + 1;
        // The current size's root and proofs, in the log grown to it.
        assert_eq!(grown.root(), ct_root(&ct), "root at {n}");
        assert_eq!(grown.prove_inclusion(i as u64).unwrap().path, hashes(ct.prove_inclusion(i).as_bytes()));
        assert_eq!(grown.prove_consistency(1).unwrap().path, hashes(ct.prove_consistency(n - 1).as_bytes()));
        // Every proof at this size, from the log of 300.
        check_size(&full, &ct, n);
    }
}

#[test]
fn hashing_a_unit_at_a_time_gives_the_same_tree_and_hides_pending_entries() {
    let mut log = UpdateLog::new();
    let mut ct = MemoryBackedTree::<Sha256, Vec<u8>>::new();
    let mut units = 0;
    for i in 0..600 {
        let e = entry(i, 9);
        assert_eq!(log.push_entry(e.clone()), Ok(i as u64));
        // Not in the tree until hashed: heads and proofs leave it out.
        assert_eq!((log.size(), log.pending(), log.appended()), (i as u64, 1, i as u64 + 1));
        assert_eq!(log.entry(i as u64), None);
        assert_eq!(log.appended_entry(i as u64), Some(e.as_slice()));
        assert_eq!(log.prove_inclusion(i as u64), Err(LogError::IndexOutOfRange));
        assert_eq!(log.prove_inclusion_at(0, i as u64 + 1), Err(LogError::TreeSizeTooLarge));
        ct.push(e);
        // A leaf and then one node per trailing one bit of its index: at most 2 a call.
        let needed = 1 + (i as u64).trailing_ones() as usize;
        let mut done = 0;
        while log.pending() > 0 {
            let step = log.hash_pending(2);
            assert!((1..=2).contains(&step));
            done += step;
        }
        assert_eq!(done, needed, "units of entry {i}");
        assert_eq!(log.hash_pending(2), 0, "nothing left");
        units += done;
        assert_eq!(log.root(), ct_root(&ct), "root at {}", i + 1);
    }
    // Amortized under two units an entry.
    assert!(units < 2 * 600, "{units}");
}

#[test]
fn hashing_several_pending_entries_in_bounded_calls_matches() {
    let mut log = UpdateLog::new();
    let mut ct = MemoryBackedTree::<Sha256, Vec<u8>>::new();
    for round in 0..40 {
        for j in 0..(round % 7 + 1) {
            let e = entry(round * 10 + j, 3);
            log.push_entry(e.clone()).unwrap();
            ct.push(e);
        }
        while log.hash_pending(3) > 0 {}
        assert_eq!(log.pending(), 0);
        assert_eq!(log.size(), ct.len());
        assert_eq!(log.root(), ct_root(&ct));
    }
}

#[test]
fn proofs_beyond_the_hashed_size_are_refused_precisely() {
    let log = UpdateLog::from_entries((0..10).map(|i| entry(i, 1))).unwrap();
    assert_eq!(log.root_at(11), Err(LogError::TreeSizeTooLarge));
    assert_eq!(log.prove_inclusion_at(3, 11), Err(LogError::TreeSizeTooLarge));
    assert_eq!(log.prove_inclusion_at(7, 7), Err(LogError::IndexOutOfRange));
    assert_eq!(log.prove_consistency_between(3, 11), Err(LogError::TreeSizeTooLarge));
    assert_eq!(log.prove_consistency_between(8, 7), Err(LogError::OldSizeTooLarge));
    assert_eq!(log.prove_consistency_between(0, 7).unwrap().path, Vec::<Hash>::new());
    assert_eq!(log.prove_consistency_between(7, 7).unwrap().path, Vec::<Hash>::new());
    assert_eq!(log.root_at(0), Ok(tileos_update_log::EMPTY_ROOT));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn random_larger_logs_match_ct_merkle(n in 301usize..2500, seed: u8, picks in proptest::collection::vec(any::<usize>(), 8)) {
        let entries: Vec<Vec<u8>> = (0..n).map(|i| entry(i, seed)).collect();
        let log = UpdateLog::from_entries(entries.clone()).unwrap();
        let mut ct = MemoryBackedTree::<Sha256, Vec<u8>>::new();
        for e in entries {
            ct.push(e);
        }
        prop_assert_eq!(log.root(), ct_root(&ct));
        for p in picks {
            let m = p % n;
            prop_assert_eq!(log.prove_inclusion(m as u64).unwrap().path, hashes(ct.prove_inclusion(m).as_bytes()));
            let old = p % n + 1;
            prop_assert_eq!(log.prove_consistency(old as u64).unwrap().path, hashes(ct.prove_consistency(n - old).as_bytes()));
        }
    }
}
