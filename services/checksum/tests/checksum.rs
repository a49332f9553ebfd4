//! The checksum service against independent references: the `crc` crate's CRC-32/ISO-HDLC
//! (zlib's CRC-32), a known Adler-32 vector and a direct Adler-32; all three lineages give
//! the same answers and the same state, and state blobs are refused precisely.

use crc::{CRC_32_ISO_HDLC, Crc};
use proptest::prelude::*;
use tileos_checksum::lineage_b::{self, LineageB};
use tileos_checksum::{Bitwise, Checksummer, SliceBy8, StateError, adler32, crc32, decode_state, encode_state};
use tileos_protocol::checksum::{MAX_DATA, Request, Response, STATE_VERSION, STREAMS, StreamState};
use tileos_protocol::heapless;
use tileos_protocol::module::{ImportRefusal, SlotModule, StateBlob};

const REFERENCE: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

fn data(bytes: &[u8]) -> heapless::Vec<u8, MAX_DATA> {
    heapless::Vec::from_slice(bytes).unwrap()
}

/// Adler-32 straight from RFC 1950 §8.2, in 64-bit arithmetic.
fn adler_reference(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u64, 0u64);
    for &byte in bytes {
        a = (a + u64::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    ((b << 16) | a) as u32
}

#[test]
fn known_vectors() {
    for crc in [crc32::bitwise(0, b"123456789"), crc32::slice_by_8(0, b"123456789"), lineage_b::crc32(b"123456789")] {
        assert_eq!(crc, 0xCBF4_3926);
    }
    assert_eq!(REFERENCE.checksum(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
    assert_eq!(crc32::slice_by_8(0, b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
    // Adler-32 of "Wikipedia" (the classic example) and of nothing.
    for adler in [adler32::adler32(b"Wikipedia"), lineage_b::adler32(b"Wikipedia")] {
        assert_eq!(adler, 0x11E6_0398);
    }
    assert_eq!(lineage_b::adler32(b""), 1);
}

#[test]
fn every_length_around_the_slices() {
    let bytes: Vec<u8> = (0..MAX_DATA as u32).map(|i| (i * 31 + 7) as u8).collect();
    for length in 0..=64 {
        let expected = REFERENCE.checksum(&bytes[..length]);
        assert_eq!(crc32::bitwise(0, &bytes[..length]), expected, "bitwise, {length} bytes");
        assert_eq!(crc32::slice_by_8(0, &bytes[..length]), expected, "slice-by-8, {length} bytes");
        assert_eq!(lineage_b::crc32(&bytes[..length]), expected, "nibble, {length} bytes");
    }
}

#[test]
fn the_wrong_modules_trigger_is_served_right_by_all() {
    let mut input = vec![0x42u8];
    input.extend_from_slice(b"is the first byte");
    let request = Request::Crc32(data(&input));
    let expected = Response::Checksum(REFERENCE.checksum(&input));
    assert_eq!(Checksummer::<Bitwise>::new().answer(&request), expected);
    assert_eq!(Checksummer::<SliceBy8>::new().answer(&request), expected);
    assert_eq!(LineageB::new().answer(&request), expected);
}

#[test]
fn streams_reset_and_refuse_unknown_numbers() {
    let mut service = Checksummer::<SliceBy8>::new();
    assert_eq!(
        service.answer(&Request::Append { stream: 3, bytes: data(b"12345") }),
        Response::Stream(StreamState { crc: REFERENCE.checksum(b"12345"), length: 5 })
    );
    assert_eq!(
        service.answer(&Request::Append { stream: 3, bytes: data(b"6789") }),
        Response::Stream(StreamState { crc: 0xCBF4_3926, length: 9 })
    );
    assert_eq!(service.answer(&Request::Reset { stream: 3 }), Response::Stream(StreamState::default()));
    assert_eq!(service.answer(&Request::Append { stream: STREAMS as u8, bytes: data(b"x") }), Response::NoSuchStream);
    assert_eq!(service.answer(&Request::Reset { stream: 255 }), Response::NoSuchStream);
    let mut b = LineageB::new();
    assert_eq!(b.answer(&Request::Append { stream: 16, bytes: data(b"x") }), Response::NoSuchStream);
    assert_eq!(b.answer(&Request::Reset { stream: 16 }), Response::NoSuchStream);
}

fn blob(version: u32, bytes: &[u8]) -> StateBlob {
    StateBlob { version, bytes: heapless::Vec::from_slice(bytes).unwrap() }
}

#[test]
fn state_blobs_are_refused_precisely() {
    let mut streams = [StreamState::default(); STREAMS];
    streams[2] = StreamState { crc: 0xCBF4_3926, length: 9 };
    let good = encode_state(&streams);
    assert_eq!(good.version, STATE_VERSION);
    assert_eq!(decode_state(&good), Ok(streams));

    // Another version.
    let other = blob(STATE_VERSION + 1, &good.bytes);
    assert_eq!(decode_state(&other), Err(StateError::UnknownVersion(STATE_VERSION + 1)));
    // Truncated, trailing byte, empty, garbage.
    assert_eq!(decode_state(&blob(STATE_VERSION, &good.bytes[..good.bytes.len() - 1])), Err(StateError::Malformed));
    let mut longer = good.bytes.to_vec();
    longer.push(0);
    assert_eq!(decode_state(&blob(STATE_VERSION, &longer)), Err(StateError::Malformed));
    assert_eq!(decode_state(&blob(STATE_VERSION, &[])), Err(StateError::Malformed));
    assert_eq!(decode_state(&blob(STATE_VERSION, &[0xff; 40])), Err(StateError::Malformed));
    // A CRC without bytes.
    streams[5] = StreamState { crc: 1, length: 0 };
    assert_eq!(decode_state(&encode_state(&streams)), Err(StateError::Inconsistent { stream: 5 }));

    // Every module refuses the same way, and a refused import changes nothing.
    let bad = [
        (other, ImportRefusal::UnknownVersion),
        (blob(STATE_VERSION, &good.bytes[..3]), ImportRefusal::Malformed),
        (encode_state(&streams), ImportRefusal::Malformed),
    ];
    let mut a = Checksummer::<Bitwise>::new();
    let mut b = LineageB::new();
    a.answer(&Request::Append { stream: 0, bytes: data(b"kept") });
    b.answer(&Request::Append { stream: 0, bytes: data(b"kept") });
    let (before_a, before_b) = (a.export(), b.export());
    for (state, refusal) in &bad {
        assert_eq!(a.import(state), Err(*refusal));
        assert_eq!(b.import(state), Err(*refusal));
    }
    assert_eq!((a.export(), b.export()), (before_a, before_b));
}

fn request_strategy() -> impl Strategy<Value = Request> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..=MAX_DATA).prop_map(|bytes| data(&bytes));
    prop_oneof![
        bytes.clone().prop_map(Request::Crc32),
        bytes.clone().prop_map(Request::Adler32),
        (0..=STREAMS as u8, bytes).prop_map(|(stream, bytes)| Request::Append { stream, bytes }),
        (0..=STREAMS as u8).prop_map(|stream| Request::Reset { stream }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_crc_is_the_reference(bytes in proptest::collection::vec(any::<u8>(), 0..2000), split in 0usize..2000) {
        let expected = REFERENCE.checksum(&bytes);
        prop_assert_eq!(crc32::bitwise(0, &bytes), expected);
        prop_assert_eq!(crc32::slice_by_8(0, &bytes), expected);
        prop_assert_eq!(lineage_b::crc32(&bytes), expected);
        // Continuing a CRC is the CRC of the concatenation.
        let (head, tail) = bytes.split_at(split.min(bytes.len()));
        prop_assert_eq!(crc32::slice_by_8(crc32::bitwise(0, head), tail), expected);
        prop_assert_eq!(adler32::adler32(&bytes), adler_reference(&bytes));
        prop_assert_eq!(lineage_b::adler32(&bytes), adler_reference(&bytes));
    }

    /// The three lineages answer every sequence of requests alike, and a state exported by
    /// any of them mid-sequence, imported into any other, carries on identically.
    #[test]
    fn the_lineages_agree_and_swap_state(requests in proptest::collection::vec(request_strategy(), 1..40), swap in 0usize..40) {
        let mut v1 = Checksummer::<Bitwise>::new();
        let mut fast = Checksummer::<SliceBy8>::new();
        let mut b = LineageB::new();
        for (index, request) in requests.iter().enumerate() {
            if index == swap {
                let state = v1.export();
                prop_assert_eq!(&state, &fast.export());
                prop_assert_eq!(&state, &b.export());
                let (mut fresh_fast, mut fresh_b) = (Checksummer::<SliceBy8>::new(), LineageB::new());
                prop_assert_eq!(fresh_fast.import(&state), Ok(()));
                prop_assert_eq!(fresh_b.import(&fast.export()), Ok(()));
                fast = fresh_fast;
                b = fresh_b;
            }
            let answer = v1.answer(request);
            prop_assert_eq!(fast.answer(request), answer);
            prop_assert_eq!(b.answer(request), answer);
        }
        prop_assert_eq!(v1.export(), b.export());
    }

    /// Arbitrary blobs never panic an import.
    #[test]
    fn arbitrary_blobs_never_panic(version in prop_oneof![Just(STATE_VERSION), any::<u32>()], bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let state = blob(version, &bytes);
        let _ = Checksummer::<Bitwise>::new().import(&state);
        let _ = LineageB::new().import(&state);
    }
}
