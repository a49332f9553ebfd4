//! Limits at their exact values and the errors' texts (killing the mutants `make mutants`
//! found missed here: docs/research.md, "Mutation testing").

use tileos_update_log::EventKind;
use tileos_update_log::{
    ConsistencyProof, EventError, LogError, MAX_ENTRY_LEN, MAX_TREE_SIZE, ProofError, SignedTreeHead, SigningKey, TreeHeadError,
    UpdateEvent, UpdateLog, verify_consistency, verify_inclusion,
};

#[test]
fn an_entry_of_exactly_the_maximum_is_appended_and_one_byte_more_is_refused() {
    let mut log = UpdateLog::new();
    assert_eq!(log.append_entry(vec![0; MAX_ENTRY_LEN]), Ok(0));
    assert_eq!(log.append_entry(vec![0; MAX_ENTRY_LEN + 1]), Err(LogError::EntryTooLarge));
    // Decoding reads an entry of the maximum length (and then finds its format unknown).
    assert_eq!(UpdateEvent::decode(&[0xFF; MAX_ENTRY_LEN]), Err(EventError::UnknownFormat(0xFF)));
    assert_eq!(UpdateEvent::decode(&[0xFF; MAX_ENTRY_LEN + 1]), Err(EventError::TooLarge));
}

/// An event whose note is `note_len` bytes long.
fn event_with_note(note_len: usize) -> UpdateEvent {
    UpdateEvent {
        kind: EventKind::Install,
        timestamp_ms: 1,
        slot: "checksum".into(),
        module: "checksum-fast".into(),
        version: "1.0.0".into(),
        content_hash: [7; 32],
        note: "n".repeat(note_len),
    }
}

#[test]
fn an_event_encoding_to_exactly_the_maximum_is_encoded_and_one_byte_more_is_refused() {
    // A note of 128 to 16,383 bytes has a two-byte length prefix, one more than an empty one.
    let empty_note_len = event_with_note(0).encode().unwrap().len();
    let note_len = MAX_ENTRY_LEN - empty_note_len - 1;
    let largest = event_with_note(note_len);
    let entry = largest.encode().expect("an entry of exactly MAX_ENTRY_LEN bytes is encoded");
    assert_eq!(entry.len(), MAX_ENTRY_LEN);
    assert_eq!(UpdateEvent::decode(&entry), Ok(largest));
    assert_eq!(event_with_note(note_len + 1).encode(), Err(EventError::TooLarge));
}

#[test]
fn proofs_at_the_size_bounds() {
    // A tree of exactly the maximum size is not refused as too large.
    assert_eq!(verify_inclusion(b"x", MAX_TREE_SIZE, MAX_TREE_SIZE, &[0; 32], &[]), Err(ProofError::IndexOutOfRange));
    let mut log = UpdateLog::new();
    for i in 0..3u8 {
        log.append_entry(vec![i]).unwrap();
    }
    let head = log.tree_head(0);
    assert_ne!(verify_consistency(1, &[0; 32], MAX_TREE_SIZE, &[0; 32], &[]), Err(ProofError::TreeTooLarge));
    assert_eq!(verify_consistency(1, &[0; 32], MAX_TREE_SIZE + 1, &[0; 32], &[]), Err(ProofError::TreeTooLarge));
    // A tree is consistent with itself; an older tree cannot be larger.
    assert_eq!(verify_consistency(3, &head.root_hash, 3, &head.root_hash, &[]), Ok(()));
    assert_eq!(verify_consistency(3, &head.root_hash, 2, &head.root_hash, &[]), Err(ProofError::OldTreeLarger));
    // A proof whose old size alone differs from the old head's is refused.
    let older = UpdateLog::from_entries([vec![0u8], vec![1]]).unwrap().tree_head(0);
    let proof = log.prove_consistency(2).unwrap();
    assert_eq!(proof.verify(&older, &head), Ok(()));
    let wrong_old = ConsistencyProof { old_size: 1, ..proof.clone() };
    assert_eq!(wrong_old.verify(&older, &head), Err(ProofError::SizeMismatch));
}

#[test]
fn a_signed_tree_head_of_the_maximum_size_parses() {
    let mut bytes = UpdateLog::new().signed_tree_head(0, &SigningKey::from_bytes(&[1; 32])).to_bytes();
    // The tree size field of the signed part (bytes 10..18): the layout is parsed, the
    // signature is checked only by `verify`.
    bytes[10..18].copy_from_slice(&MAX_TREE_SIZE.to_be_bytes());
    assert_eq!(SignedTreeHead::from_bytes(&bytes).map(|h| h.head.tree_size), Ok(MAX_TREE_SIZE));
    bytes[10..18].copy_from_slice(&(MAX_TREE_SIZE + 1).to_be_bytes());
    assert_eq!(SignedTreeHead::from_bytes(&bytes).map(|h| h.head.tree_size), Err(TreeHeadError::TreeTooLarge));
}

#[test]
fn errors_print_what_they_are() {
    assert_eq!(TreeHeadError::TreeTooLarge.to_string(), "tree size above the supported maximum");
    assert_eq!(ProofError::TreeTooLarge.to_string(), "tree size above the supported maximum");
    assert_eq!(LogError::EntryTooLarge.to_string(), "entry longer than the maximum");
    assert_eq!(EventError::TooLarge.to_string(), "entry longer than the maximum");
}
