//! Known-answer tests against the published RFC 6962 vectors of transparency-dev/merkle
//! (`proof/verify_test.go`: the 8-leaf tree, its roots for sizes 1..8, its inclusion and
//! consistency proofs and its corruption probes; `testonly/reference_test.go` as copied into the
//! `ct-merkle` crate's `tests/known_answer.rs` for the two extra 2-leaf inclusion proofs).

use tileos_update_log::{EMPTY_ROOT, Hash, ProofError, UpdateLog, leaf_hash, verify_consistency, verify_inclusion};

const LEAVES: [&str; 8] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

/// Roots of the trees over the first 1..=8 leaves.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (leaf index, tree size, audit path).
const INCLUSION: [(u64, u64, &[&str]); 7] = [
    (0, 1, &[]),
    (0, 2, &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
    (1, 2, &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (old size, new size, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// `sha256SomeHash` of verify_test.go.
const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

/// (description, leaf index, tree size, entry, root, audit path).
type InclusionProbe = (&'static str, u64, u64, Vec<u8>, Hash, Vec<Hash>);
/// (description, old size, new size, old root, new root, proof).
type ConsistencyProbe = (&'static str, u64, u64, Hash, Hash, Vec<Hash>);

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn path(p: &[&str]) -> Vec<Hash> {
    p.iter().map(|s| h(s)).collect()
}

fn leaf(i: u64) -> Vec<u8> {
    hex::decode(LEAVES[i as usize]).unwrap()
}

fn log_of(size: u64) -> UpdateLog {
    UpdateLog::from_entries((0..size).map(leaf)).unwrap()
}

fn root(size: u64) -> Hash {
    h(ROOTS[size as usize - 1])
}

#[test]
fn roots_for_every_size() {
    assert_eq!(UpdateLog::new().root(), EMPTY_ROOT);
    for size in 1..=8 {
        assert_eq!(log_of(size).root(), root(size), "size {size}");
    }
}

#[test]
fn generated_inclusion_proofs_match_vectors() {
    for (index, size, expected) in INCLUSION {
        let proof = log_of(size).prove_inclusion(index).unwrap();
        assert_eq!(proof.path, path(expected), "index {index} size {size}");
        assert_eq!((proof.leaf_index, proof.tree_size), (index, size));
    }
}

#[test]
fn generated_consistency_proofs_match_vectors() {
    for (old, new, expected) in CONSISTENCY {
        let proof = log_of(new).prove_consistency(old).unwrap();
        assert_eq!(proof.path, path(expected), "{old} -> {new}");
    }
}

/// The probes of verify_test.go's `corruptInclusionProof` (those expressible with fixed-size
/// hashes): each must be rejected.
#[test]
fn inclusion_vectors_verify_and_corruptions_fail() {
    for (index, size, p) in INCLUSION {
        let (entry, root, proof) = (leaf(index), root(size), path(p));
        verify_inclusion(&entry, index, size, &root, &proof).unwrap();

        let mut probes: Vec<InclusionProbe> = vec![
            ("index - 1", index.wrapping_sub(1), size, entry.clone(), root, proof.clone()),
            ("index + 1", index + 1, size, entry.clone(), root, proof.clone()),
            ("index ^ 2", index ^ 2, size, entry.clone(), root, proof.clone()),
            ("size * 2", index, size * 2, entry.clone(), root, proof.clone()),
            ("size / 2", index, size / 2, entry.clone(), root, proof.clone()),
            ("wrong leaf", index, size, b"WrongLeaf".to_vec(), root, proof.clone()),
            ("empty root", index, size, entry.clone(), EMPTY_ROOT, proof.clone()),
            ("random root", index, size, entry.clone(), h(SOME_HASH), proof.clone()),
        ];
        let mut trailing = proof.clone();
        trailing.push(root);
        probes.push(("trailing root", index, size, entry.clone(), root, trailing));
        let mut preceding = vec![root];
        preceding.extend(&proof);
        probes.push(("preceding root", index, size, entry.clone(), root, preceding));
        for i in 0..proof.len() {
            let mut flipped = proof.clone();
            flipped[i][0] ^= 8;
            probes.push(("modified proof", index, size, entry.clone(), root, flipped));
        }
        if !proof.is_empty() {
            let removed = proof[..proof.len() - 1].to_vec();
            probes.push(("removed component", index, size, entry.clone(), root, removed));
        }
        if proof.len() > 1 {
            let mut inserted = vec![proof[0], h(SOME_HASH)];
            inserted.extend(&proof[1..]);
            probes.push(("inserted component", index, size, entry.clone(), root, inserted));
        }
        for (desc, i, s, e, r, p) in probes {
            assert!(verify_inclusion(&e, i, s, &r, &p).is_err(), "{desc} accepted for index {index} size {size}");
        }
    }
}

/// The probes of verify_test.go's `corruptConsistencyProof`: each must be rejected.
#[test]
fn consistency_vectors_verify_and_corruptions_fail() {
    for (old, new, p) in CONSISTENCY {
        let (r1, r2, proof) = (root(old), root(new), path(p));
        verify_consistency(old, &r1, new, &r2, &proof).unwrap();
        if proof.is_empty() {
            continue; // as in verify_test.go: only non-trivial proofs are probed
        }
        let wrong = h(SOME_HASH);
        let mut probes: Vec<ConsistencyProbe> = vec![
            ("size1 - 1", old - 1, new, r1, r2, proof.clone()),
            ("size1 + 1", old + 1, new, r1, r2, proof.clone()),
            ("size1 ^ 2", old ^ 2, new, r1, r2, proof.clone()),
            ("size2 * 2", old, new * 2, r1, r2, proof.clone()),
            ("size2 / 2", old, new / 2, r1, r2, proof.clone()),
            ("wrong root1", old, new, wrong, r2, proof.clone()),
            ("wrong root2", old, new, r1, wrong, proof.clone()),
            ("swapped roots", old, new, r2, r1, proof.clone()),
            ("empty proof", old, new, r1, r2, Vec::new()),
            ("truncated", old, new, r1, r2, proof[..proof.len() - 1].to_vec()),
        ];
        for (desc, extra) in [("trailing root1", r1), ("trailing root2", r2)] {
            let mut p = proof.clone();
            p.push(extra);
            probes.push((desc, old, new, r1, r2, p));
        }
        for (desc, extra) in [("preceding root1", r1), ("preceding root2", r2), ("preceding proof[0]", proof[0])] {
            let mut p = vec![extra];
            p.extend(&proof);
            probes.push((desc, old, new, r1, r2, p));
        }
        for i in 0..proof.len() {
            let mut flipped = proof.clone();
            flipped[i][0] ^= 16;
            probes.push(("modified proof", old, new, r1, r2, flipped));
        }
        for (desc, s1, s2, a, b, p) in probes {
            assert!(verify_consistency(s1, &a, s2, &b, &p).is_err(), "{desc} accepted for {old} -> {new}");
        }
    }
}

/// verify_test.go's `TestVerifyConsistency` edge cases, with this crate's stricter rule that a
/// size-0 tree must have the empty-tree root.
#[test]
fn consistency_edge_cases() {
    let (a, b) = (h(SOME_HASH), root(1));
    assert_eq!(verify_consistency(0, &EMPTY_ROOT, 0, &EMPTY_ROOT, &[]), Ok(()));
    assert_eq!(verify_consistency(0, &EMPTY_ROOT, 1, &b, &[]), Ok(()));
    assert_eq!(verify_consistency(0, &a, 1, &b, &[]), Err(ProofError::RootMismatch));
    assert_eq!(verify_consistency(0, &EMPTY_ROOT, 1, &b, &[EMPTY_ROOT]), Err(ProofError::WrongProofLength));
    assert_eq!(verify_consistency(1, &b, 1, &b, &[]), Ok(()));
    assert_eq!(verify_consistency(1, &a, 1, &b, &[]), Err(ProofError::RootMismatch));
    assert_eq!(verify_consistency(1, &b, 1, &b, &[EMPTY_ROOT]), Err(ProofError::WrongProofLength));
    assert_eq!(verify_consistency(1, &a, 0, &b, &[]), Err(ProofError::OldTreeLarger));
    assert_eq!(verify_consistency(2, &a, 1, &b, &[]), Err(ProofError::OldTreeLarger));
    assert_eq!(verify_consistency(1, &a, 2, &b, &[]), Err(ProofError::WrongProofLength));
}

/// verify_test.go's `TestVerifyInclusion` probes on empty/out-of-range trees and
/// `TestVerifyInclusionSingleEntry`.
#[test]
fn inclusion_edge_cases() {
    for (index, size) in [(0, 0), (1, 0), (2, 1)] {
        assert_eq!(verify_inclusion(b"x", index, size, &EMPTY_ROOT, &[]), Err(ProofError::IndexOutOfRange));
    }
    let single = leaf_hash(b"data");
    assert_eq!(verify_inclusion(b"data", 0, 1, &single, &[]), Ok(()));
    assert_eq!(verify_inclusion(b"other", 0, 1, &single, &[]), Err(ProofError::RootMismatch));
    assert_eq!(verify_inclusion(b"data", 0, 1, &EMPTY_ROOT, &[]), Err(ProofError::RootMismatch));
}
