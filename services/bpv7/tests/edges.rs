//! Fragmentation, reassembly and structure rules at their edges (found by mutation testing,
//! docs/research.md, "Mutation testing"): fragments fill the size limit exactly, the
//! reassembler's buffer limit is inclusive, a duplicate piece keeps the longer data with
//! exact accounting, `pending` counts incomplete bundles, and the payload block must be
//! block number 1.

use tileos_bpv7::{Bundle, CrcType, CreationTimestamp, Eid, Error, FragmentInfo, Reassembler, block_flags, block_type, bundle_flags};

fn sample(payload: Vec<u8>) -> Bundle {
    let eid = |s: &str| s.parse::<Eid>().expect("test EID");
    Bundle::builder(eid("ipn:1.1"), eid("ipn:2.1"))
        .creation(CreationTimestamp { time_ms: 800_000_000_000, sequence: 7 })
        .lifetime_ms(3_600_000)
        .crc_type(CrcType::Crc32C)
        .extension_block(block_type::HOP_COUNT, block_flags::MUST_REPLICATE, vec![0x82, 0x18, 0x1e, 0x00])
        .payload(payload)
        .build()
        .expect("valid sample")
}

/// A fragment of `base` at `offset` of a `total`-byte payload, carrying `data`.
fn piece(base: &Bundle, offset: u64, total: u64, data: &[u8]) -> Bundle {
    let mut fragment = base.clone();
    fragment.flags |= bundle_flags::IS_FRAGMENT;
    fragment.fragment = Some(FragmentInfo { offset, total_adu_length: total });
    fragment.blocks.last_mut().expect("payload block").data = data.to_vec();
    fragment
}

#[test]
fn every_fragment_but_the_last_fills_the_size_limit_exactly() {
    // Payload lengths in each CBOR head size class: under 256 bytes (2-byte head), under
    // 64 KiB (3 bytes), from 64 KiB (5 bytes).
    for (payload_len, max_size) in [(2_000usize, 100usize), (20_000, 1_000), (300_000, 100_000)] {
        let bundle = sample((0..payload_len).map(|i| (i % 251) as u8).collect());
        let fragments = bundle.fragment(max_size).expect("fragment");
        assert!(fragments.len() >= 3, "{payload_len} bytes in {max_size}-byte fragments");
        for (i, fragment) in fragments.iter().enumerate() {
            let length = fragment.encode().expect("encode").len();
            if i + 1 < fragments.len() {
                assert_eq!(length, max_size, "fragment {i} of {payload_len} bytes at {max_size}");
            } else {
                assert!(length <= max_size);
            }
        }
    }
}

#[test]
fn the_payload_block_must_be_block_number_1() {
    let mut bundle = sample(b"p".to_vec());
    bundle.blocks.last_mut().expect("payload block").number = 7;
    assert!(matches!(bundle.encode(), Err(Error::MisplacedPayload)));
}

#[test]
fn errors_print_what_they_are() {
    for (error, text) in [
        (Error::MissingPayload, "bundle must have exactly one payload block"),
        (Error::MisplacedPayload, "payload block must be block number 1 and the last block"),
        (Error::MaxSizeTooSmall, "size limit too small for any payload"),
        (Error::NotAFragment, "bundle is not a fragment"),
        (Error::AduTooLarge, "total ADU length exceeds the reassembly limit"),
        (Error::ReassemblyBufferFull, "reassembly buffer limit reached"),
    ] {
        assert_eq!(error.to_string(), text);
    }
}

#[test]
fn the_buffer_limit_is_inclusive_and_pending_counts_incomplete_bundles() {
    let base = sample(vec![0; 20]);
    let mut r = Reassembler::new(100, 10);
    assert!(matches!(r.push(piece(&base, 0, 20, &[1; 10])), Ok(None)), "exactly the limit");
    assert_eq!((r.pending(), r.buffered()), (1, 10));
    assert!(matches!(r.push(piece(&base, 10, 20, &[2; 1])), Err(Error::ReassemblyBufferFull)));
}

#[test]
fn a_duplicate_piece_keeps_the_longer_data() {
    let payload: Vec<u8> = (0..30u8).collect();
    let base = sample(payload.clone());
    // The longer first: a shorter duplicate is ignored.
    let mut r = Reassembler::new(100, 100);
    assert!(matches!(r.push(piece(&base, 0, 30, &payload[..10])), Ok(None)));
    assert!(matches!(r.push(piece(&base, 0, 30, &payload[..5])), Ok(None)));
    assert_eq!((r.pending(), r.buffered()), (1, 10));
    let whole = r.push(piece(&base, 10, 30, &payload[10..])).expect("push").expect("complete");
    assert_eq!(whole, base);
    assert_eq!((r.pending(), r.buffered()), (0, 0));
    // The shorter first: a longer duplicate replaces it, and the count follows.
    let mut r = Reassembler::new(100, 100);
    assert!(matches!(r.push(piece(&base, 0, 30, &payload[..5])), Ok(None)));
    assert_eq!(r.buffered(), 5);
    assert!(matches!(r.push(piece(&base, 0, 30, &payload[..10])), Ok(None)));
    assert_eq!(r.buffered(), 10);
    let whole = r.push(piece(&base, 10, 30, &payload[10..])).expect("push").expect("complete");
    assert_eq!(whole, base);
    assert_eq!((r.pending(), r.buffered()), (0, 0));
}
