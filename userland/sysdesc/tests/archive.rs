//! Boot archive: build/parse round trips, truncation at every length, garbage and mutations
//! never panic, each structural error, and `load` end to end.

mod common;

use common::sample;
use proptest::prelude::*;
use tileos_sysdesc::archive::*;
use tileos_sysdesc::{LoadError, load};

fn entry_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,40}"
}

fn entries() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::vec((entry_name(), prop::collection::vec(any::<u8>(), 0..300)), 0..5).prop_map(|mut v| {
        let mut seen = std::collections::HashSet::new();
        v.retain(|(n, _)| seen.insert(n.clone()));
        v
    })
}

fn built(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    build(&refs).expect("valid entries build")
}

fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

proptest! {
    #[test]
    fn round_trip(entries in entries()) {
        let bytes = built(&entries);
        let archive = Archive::parse(&bytes).expect("built archives parse");
        prop_assert_eq!(archive.verify_digests(), Ok(()));
        prop_assert_eq!(archive.len(), entries.len());
        for (i, (name, data)) in entries.iter().enumerate() {
            let e = archive.entry(i).expect("entry exists");
            prop_assert_eq!(e.name, name.as_str());
            prop_assert_eq!(e.data, data.as_slice());
            prop_assert!(e.sha256.is_some());
            prop_assert_eq!(archive.find(name).map(|(j, _)| j), Some(i));
        }
        prop_assert!(archive.entry(entries.len()).is_none());
        // Trailing padding after the declared length is ignored.
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0xAA; 100]);
        prop_assert_eq!(Archive::parse(&padded).map(|a| a.len()), Ok(entries.len()));
        // Every truncation is rejected as truncated.
        for len in 0..bytes.len() {
            let r = Archive::parse(&bytes[..len]);
            prop_assert!(matches!(r, Err(ArchiveError::Truncated { .. })), "len {} gave {:?}", len, r);
        }
    }

    #[test]
    fn garbage_never_panics(mut bytes in prop::collection::vec(any::<u8>(), 0..2048), magic in any::<bool>()) {
        if magic && bytes.len() >= 32 {
            bytes[..8].copy_from_slice(&MAGIC);
            bytes[8..10].copy_from_slice(&VERSION.to_le_bytes());
        }
        if let Ok(a) = Archive::parse(&bytes) {
            let _ = a.verify_digests();
            let _ = a.description();
            prop_assert_eq!(a.entries().count(), a.len());
        }
        let _ = load(&bytes);
    }

    #[test]
    fn mutations_never_panic(entries in entries(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut bytes = built(&entries);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Ok(a) = Archive::parse(&bytes) {
            let _ = a.verify_digests();
            for e in a.entries() {
                prop_assert!(e.data.len() <= bytes.len());
            }
        }
        let _ = load(&bytes);
    }
}

#[test]
fn layout_is_as_documented() {
    let bytes = build(&[("system", b"abc"), ("prog", b"")]).unwrap();
    assert_eq!(&bytes[..8], b"TILEOSAR");
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 8);
    assert_eq!(u32::from_le_bytes(bytes[12..16].try_into().unwrap()), 2);
    assert_eq!(u64::from_le_bytes(bytes[16..24].try_into().unwrap()), bytes.len() as u64);
    assert_eq!(&bytes[32..38], b"system");
    let offset = u64::from_le_bytes(bytes[72..80].try_into().unwrap());
    assert_eq!(offset, DATA_ALIGN as u64);
    assert_eq!(&bytes[DATA_ALIGN..DATA_ALIGN + 3], b"abc");
}

#[test]
fn structural_errors() {
    let good = build(&[("system", b"abc"), ("prog", b"xyz")]).unwrap();
    let parse = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        Archive::parse(&b).map(|_| ())
    };
    assert_eq!(parse(&|b| b[0] = b'X'), Err(ArchiveError::BadMagic));
    assert_eq!(parse(&|b| b[8] = 1), Err(ArchiveError::UnsupportedVersion(1)));
    assert_eq!(parse(&|b| b[10] = 1), Err(ArchiveError::ReservedNotZero { offset: 10 }));
    assert_eq!(parse(&|b| b[30] = 1), Err(ArchiveError::ReservedNotZero { offset: 24 }));
    assert_eq!(parse(&|b| put_u64(b, 16, 8)), Err(ArchiveError::BadTotalLength(8)));
    assert_eq!(parse(&|b| b[12..16].copy_from_slice(&5000u32.to_le_bytes())), Err(ArchiveError::TooManyEntries(5000)));
    // Entry 1's record starts at 32 + 96.
    let e1 = 32 + 96;
    assert_eq!(parse(&|b| b[e1] = b' '), Err(ArchiveError::BadName { entry: 1 }));
    assert_eq!(parse(&|b| b[e1] = 0), Err(ArchiveError::BadName { entry: 1 }));
    assert_eq!(parse(&|b| b[e1 + 39] = b'a'), Err(ArchiveError::BadName { entry: 1 }));
    assert_eq!(parse(&|b| b[e1 + 56] = 3), Err(ArchiveError::UnknownFlags { entry: 1, flags: 3 }));
    assert_eq!(parse(&|b| b[e1 + 56] = 0), Err(ArchiveError::StrayDigest { entry: 1 }));
    assert_eq!(parse(&|b| put_u64(b, e1 + 40, 40)), Err(ArchiveError::InsideTable { entry: 1 }));
    let total = good.len() as u64;
    assert_eq!(
        parse(&|b| put_u64(b, e1 + 48, u64::MAX)),
        Err(ArchiveError::OutOfBounds { entry: 1, offset: 2 * DATA_ALIGN as u64, length: u64::MAX, total })
    );
    assert_eq!(parse(&|b| put_u64(b, e1 + 40, DATA_ALIGN as u64 + 1)), Err(ArchiveError::Overlap { entry: 1, other: 0 }));
    assert_eq!(parse(&|b| b[e1..e1 + 6].copy_from_slice(b"system")), Err(ArchiveError::DuplicateName { entry: 1, other: 0 }));
    assert_eq!(parse(&|b| put_u64(b, 16, total + 1)), Err(ArchiveError::Truncated { needed: total + 1, have: total }));
    // A clean digest-free entry is accepted.
    assert!(
        parse(&|b| {
            b[e1 + 56] = 0;
            b[e1 + 64..e1 + 96].fill(0)
        })
        .is_ok()
    );
    // Digest mismatch is found by verify_digests.
    let mut b = good.clone();
    b[2 * DATA_ALIGN] ^= 1;
    assert_eq!(Archive::parse(&b).unwrap().verify_digests(), Err(ArchiveError::DigestMismatch { entry: 1 }));
}

#[test]
fn build_rejects_bad_names() {
    assert_eq!(build(&[("a b", b"")]), Err(ArchiveError::InvalidName));
    assert_eq!(build(&[("", b"")]), Err(ArchiveError::InvalidName));
    assert_eq!(build(&[(&"x".repeat(41), b"")]), Err(ArchiveError::InvalidName));
    assert_eq!(build(&[("a", b""), ("a", b"")]), Err(ArchiveError::DuplicateName { entry: 1, other: 0 }));
}

#[test]
fn load_end_to_end() {
    let d = sample();
    let encoded = d.encode();
    let bytes = build(&[("system", &encoded), ("console", b"\x7fELF1"), ("echo", b"\x7fELF2")]).unwrap();
    let (archive, loaded) = load(&bytes).expect("sample loads");
    assert_eq!(loaded, d);
    assert_eq!(archive.entry(loaded.domains[1].program as usize).unwrap().name, "echo");

    // Entry 0 must be the description.
    let swapped = build(&[("console", b"\x7fELF1"), ("system", &encoded), ("echo", b"")]).unwrap();
    assert_eq!(load(&swapped).map(|_| ()), Err(LoadError::Archive(ArchiveError::MissingDescription)));
    // A description that references a missing program fails the check.
    let short = build(&[("system", &encoded), ("console", b"")]).unwrap();
    match load(&short) {
        Err(LoadError::Check(e)) => assert!(e.message.contains("field \"program\""), "{e}"),
        other => panic!("unexpected {other:?}"),
    }
    // Undecodable description.
    let junk = build(&[("system", b"\xff\xff\xff"), ("console", b"")]).unwrap();
    assert!(matches!(load(&junk), Err(LoadError::Decode(_))));
}
