//! Host tests of tileos-bpv7: RFC 9173 Appendix A vectors, round trips, CRC and truncation
//! rejection, expiry, fragmentation and reassembly.

use hex_literal::hex;
use proptest::prelude::*;
use tileos_bpv7::{
    Bundle, CanonicalBlock, CrcType, CreationTimestamp, Eid, Error, FragmentInfo, HopCount, Policy, Reassembler, block_flags, block_type,
    bundle_flags,
};

/// RFC 9173 Appendix A.1.4: BIB (HMAC-SHA2) over the payload.
const A1: &[u8] = &hex!(
    "9f88070000820282010282028202018202820201820018281a000f4240850b0200"
    "005856810101018202820201828201078203008181820158403bdc69b3a34a2b5d3a"
    "8554368bd1e808f606219d2a10a846eae3886ae4ecc83c4ee550fdfb1cc636b904e2"
    "f1a73e303dcd4b6ccece003e95e8164dcc89a156e185010100005823526561647920"
    "746f2067656e657261746520612033322d62797465207061796c6f6164ff"
);
/// RFC 9173 Appendix A.2.4: BCB (AES-GCM) over the payload.
const A2: &[u8] = &hex!(
    "9f88070000820282010282028202018202820201820018281a000f4240850c0201"
    "0058508101020182028202018482014c5477656c7665313231323132820201820358"
    "1869c411276fecddc4780df42c8a2af89296fabf34d7fae7008204008181820150ef"
    "a4b5ac0108e3816c5606479801bc04850101000058233a09c1e63fe23a7f66a59c73"
    "03837241e070b02619fc59c5214a22f08cd70795e73e9aff"
);
/// RFC 9173 Appendix A.3.5: BIB over primary and bundle age blocks, BCB over the payload.
const A3: &[u8] = &hex!(
    "9f88070000820282010282028202018202820201820018281a000f4240850b0300"
    "00585c8200020101820282030082820105820300828182015820cac6ce8e4c5dae57"
    "988b757e49a6dd1431dc04763541b2845098265bc817241b81820158203ed614c0d9"
    "7f49b3633627779aa18a338d212bf3c92b97759d9739cd50725596850c0401005834"
    "8101020182028202018382014c5477656c7665313231323132820201820400818182"
    "0150efa4b5ac0108e3816c5606479801bc0485070200004319012c85010100005823"
    "3a09c1e63fe23a7f66a59c7303837241e070b02619fc59c5214a22f08cd70795e73e"
    "9aff"
);
/// RFC 9173 Appendix A.4.5: BCB covering both the payload and the BIB that signs it.
const A4: &[u8] = &hex!(
    "9f88070000820282010282028202018202820201820018281a000f4240850b0300"
    "005846438ed6208eb1c1ffb94d952175167df0902902064a2983910c4fb2340790bf"
    "420a7d1921d5bf7c4721e02ab87a93ab1e0b75cf62e4948727c8b5dae46ed2af0543"
    "9b88029191850c0201005849820301020182028202018382014c5477656c76653132"
    "313231328202038204078281820150220ffc45c8a901999ecc60991dd78b29818201"
    "50d2c51cb2481792dae8b21d848cede99b8501010000582390eab6457593379298a8"
    "724e16e61f837488e127212b59ac91f8a86287b7d07630a122ff"
);

fn eid(s: &str) -> Eid {
    s.parse().expect("test EID")
}

fn sample(payload: Vec<u8>, crc: CrcType) -> Bundle {
    Bundle::builder(eid("ipn:1.1"), eid("ipn:2.1"))
        .creation(CreationTimestamp { time_ms: 800_000_000_000, sequence: 7 })
        .lifetime_ms(3_600_000)
        .crc_type(crc)
        .extension_block(block_type::HOP_COUNT, block_flags::MUST_REPLICATE, vec![0x82, 0x18, 0x1e, 0x00])
        .payload(payload)
        .build()
        .expect("valid sample")
}

#[test]
fn rfc9173_appendix_a_bundles_reencode_byte_for_byte() {
    let mut vectors = vec![("A.1", A1, 2), ("A.2", A2, 2), ("A.3", A3, 4)];
    if cfg!(feature = "rfc9173") {
        vectors.push(("A.4", A4, 3));
    } else {
        // Without the RFC 9173 contexts hardy-bpv7 cannot tell what the encrypted BIB covers.
        assert!(Bundle::decode(A4, Policy::Permissive).is_err());
    }
    for (name, vector, blocks) in vectors {
        let bundle = Bundle::decode(vector, Policy::Permissive).unwrap_or_else(|e| panic!("{name} must decode: {e}"));
        assert_eq!(bundle.blocks.len(), blocks, "{name} block count");
        assert_eq!(bundle.source, eid("ipn:2.1"), "{name} source");
        assert_eq!(bundle.destination, eid("ipn:1.2"), "{name} destination");
        assert_eq!(bundle.creation, CreationTimestamp { time_ms: 0, sequence: 40 });
        assert_eq!(bundle.lifetime_ms, 1_000_000);
        assert_eq!(bundle.encode().expect("encode"), vector, "{name} re-encoding");
    }
    let a1 = Bundle::decode(A1, Policy::Permissive).expect("A.1");
    assert_eq!(a1.payload(), b"Ready to generate a 32-byte payload");
    assert_eq!(a1.blocks[0].block_type, block_type::BIB);
}

#[test]
fn strict_policy_rejects_unprotected_primary_of_rfc9173_vectors() {
    for vector in [A1, A2, A4] {
        if vector == A4 && !cfg!(feature = "rfc9173") {
            continue;
        }
        assert!(matches!(Bundle::decode(vector, Policy::Strict), Err(Error::PrimaryBlockUnprotected)));
    }
    // A.3's BIB covers the primary block, and it carries a bundle age block.
    let a3 = Bundle::decode(A3, Policy::Strict).expect("A.3 is valid under the strict policy");
    assert_eq!(a3.bundle_age_ms().expect("age"), Some(300));
}

#[test]
fn primary_without_crc_or_bib_is_rejected() {
    let mut bundle = sample(b"hello".to_vec(), CrcType::Crc32C);
    bundle.crc_type = CrcType::None;
    let bytes = bundle.encode().expect("encode");
    assert!(matches!(Bundle::decode(&bytes, Policy::Strict), Err(Error::PrimaryBlockUnprotected)));
    assert_eq!(Bundle::decode(&bytes, Policy::Permissive).expect("permissive"), bundle);
}

#[test]
fn unclocked_bundle_needs_age_block() {
    let no_age = Bundle::builder(eid("ipn:1.1"), eid("ipn:2.1")).payload(vec![1]).build().expect("build");
    let bytes = no_age.encode().expect("encode");
    assert!(matches!(Bundle::decode(&bytes, Policy::Strict), Err(Error::MissingBundleAge)));
    let with_age = Bundle::builder(eid("ipn:1.1"), eid("ipn:2.1")).bundle_age_ms(5).payload(vec![1]).build().expect("build");
    let decoded = Bundle::decode(&with_age.encode().expect("encode"), Policy::Strict).expect("decode");
    assert_eq!(decoded.bundle_age_ms().expect("age"), Some(5));
}

#[test]
fn crc16_and_crc32c_match_known_values() {
    // hardy-bpv7 checks every block's CRC with its own code, independently of our encoder.
    for crc in [CrcType::Crc16X25, CrcType::Crc32C] {
        let bundle = sample(b"crc".to_vec(), crc);
        let bytes = bundle.encode().expect("encode");
        assert_eq!(Bundle::decode(&bytes, Policy::Strict).expect("decode"), bundle);
    }
    // The CRC-16/X.25 and CRC-32C check values ("123456789") of the crc catalogue.
    assert_eq!(crc::Crc::<u16>::new(&crc::CRC_16_IBM_SDLC).checksum(b"123456789"), 0x906e);
    assert_eq!(crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(b"123456789"), 0xe306_9283);
}

#[test]
fn corrupted_crc_is_rejected() {
    for crc in [CrcType::Crc16X25, CrcType::Crc32C] {
        let bytes = sample(b"payload".to_vec(), crc).encode().expect("encode");
        // The payload block's CRC value is the last bytes before the break code.
        let mut bad = bytes.clone();
        let at = bad.len() - 2;
        bad[at] ^= 0x01;
        assert!(matches!(Bundle::decode(&bad, Policy::Strict), Err(Error::Invalid(_))));
    }
}

#[test]
fn every_single_bit_flip_is_detected() {
    let bytes = sample(b"flip me".to_vec(), CrcType::Crc32C).encode().expect("encode");
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut bad = bytes.clone();
            bad[i] ^= 1 << bit;
            assert!(Bundle::decode(&bad, Policy::Strict).is_err(), "flip at byte {i} bit {bit}");
        }
    }
}

#[test]
fn truncation_at_every_length_is_an_error() {
    let own = sample(vec![0x55; 300], CrcType::Crc16X25).encode().expect("encode");
    for vector in [A1, A2, A3, A4, own.as_slice()] {
        for len in 0..vector.len() {
            assert!(Bundle::decode(&vector[..len], Policy::Permissive).is_err(), "length {len}");
        }
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = sample(b"x".to_vec(), CrcType::Crc32C).encode().expect("encode");
    bytes.push(0);
    assert!(Bundle::decode(&bytes, Policy::Strict).is_err());
}

#[test]
fn dtn_scheme_eids_round_trip() {
    let bundle = Bundle::builder(eid("dtn://tile-a/fed"), eid("dtn://hub/inbox"))
        .report_to(eid("dtn:none"))
        .creation(CreationTimestamp { time_ms: 1, sequence: 0 })
        .payload(b"dtn".to_vec())
        .build()
        .expect("build");
    let decoded = Bundle::decode(&bundle.encode().expect("encode"), Policy::Strict).expect("decode");
    assert_eq!(decoded, bundle);
    assert_eq!(decoded.destination.to_string(), "dtn://hub/inbox");
}

#[test]
fn builder_rejects_reserved_block_types() {
    for t in [0, block_type::PAYLOAD] {
        let built = Bundle::builder(eid("ipn:1.1"), eid("ipn:2.1")).extension_block(t, 0, vec![]).build();
        assert!(matches!(built, Err(Error::ReservedBlockType(x)) if x == t));
    }
    let fragment_flag = Bundle::builder(eid("ipn:1.1"), eid("ipn:2.1")).flags(bundle_flags::IS_FRAGMENT).build();
    assert!(matches!(fragment_flag, Err(Error::FragmentFlagMismatch)));
}

#[test]
fn encode_checks_structure() {
    let mut bundle = sample(b"p".to_vec(), CrcType::Crc32C);
    bundle.blocks.swap(0, 1);
    assert!(matches!(bundle.encode(), Err(Error::MisplacedPayload)));
    let mut dup = sample(b"p".to_vec(), CrcType::Crc32C);
    let mut extra = dup.blocks[0].clone();
    extra.block_type = 200;
    dup.blocks.insert(0, extra);
    assert!(matches!(dup.encode(), Err(Error::InvalidBlockNumber(2))));
    let mut none = sample(b"p".to_vec(), CrcType::Crc32C);
    none.blocks.clear();
    assert!(matches!(none.encode(), Err(Error::MissingPayload)));
}

#[test]
fn expiry_uses_creation_time_or_age() {
    let clocked = sample(vec![], CrcType::Crc32C);
    assert!(!clocked.is_expired(Some(800_000_000_000 + 3_599_999), 0).expect("expiry"));
    assert!(clocked.is_expired(Some(800_000_000_000 + 3_600_000), 0).expect("expiry"));
    // Without a local clock the clocked bundle has no age block to go by.
    assert!(matches!(clocked.is_expired(None, 0), Err(Error::MissingBundleAge)));

    let mut unclocked = Bundle::builder(eid("ipn:1.1"), eid("ipn:2.1")).lifetime_ms(1000).bundle_age_ms(400).build().expect("build");
    assert!(!unclocked.is_expired(Some(u64::MAX), 599).expect("expiry"));
    assert!(unclocked.is_expired(None, 600).expect("expiry"));
    unclocked.set_bundle_age_ms(1000);
    assert_eq!(unclocked.blocks.len(), 2, "age block replaced, not added");
    assert!(unclocked.is_expired(None, 0).expect("expiry"));
}

#[test]
fn fragmentation_respects_limit_and_reassembles() {
    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let mut bundle = sample(payload.clone(), CrcType::Crc32C);
    bundle.blocks.insert(0, CanonicalBlock { block_type: 192, number: 3, flags: 0, crc_type: CrcType::Crc32C, data: vec![9; 10] });
    let fragments = bundle.fragment(600).expect("fragment");
    assert!(fragments.len() >= 9);
    for (i, f) in fragments.iter().enumerate() {
        let bytes = f.encode().expect("encode");
        assert!(bytes.len() <= 600, "fragment {i} is {} bytes", bytes.len());
        assert_eq!(Bundle::decode(&bytes, Policy::Strict).expect("decode"), *f);
        assert!(f.block(block_type::HOP_COUNT).is_some(), "replicated block in every fragment");
        assert_eq!(f.block(192).is_some(), i == 0, "non-replicated block only in the first");
    }
    let mut r = Reassembler::new(1 << 20, 1 << 20);
    let mut out = None;
    for f in fragments.into_iter().rev() {
        assert!(out.is_none());
        out = r.push(f).expect("push");
    }
    assert_eq!(out.expect("complete"), bundle);
    assert_eq!((r.pending(), r.buffered()), (0, 0));
}

/// Issue #15 (a): every fragment used to clone the whole bundle, so 4 MiB cut into 1,100-byte
/// fragments held ~3,900 copies of the payload (16.6 GB at peak). Each fragment must hold only
/// its own piece: the payload bytes held by all fragments together equal the payload.
#[test]
fn fragmenting_4_mib_holds_each_payload_byte_once() {
    let payload: Vec<u8> = (0..4u32 << 20).map(|i| (i % 253) as u8).collect();
    let bundle = sample(payload.clone(), CrcType::Crc32C);
    let fragments = bundle.fragment(1100).expect("fragment");
    assert!(fragments.len() > 3800, "{} fragments", fragments.len());
    let held: usize = fragments.iter().map(|f| f.blocks.iter().map(|b| b.data.capacity()).sum::<usize>()).sum();
    let extension_bytes: usize = bundle.blocks.iter().filter(|b| b.block_type != block_type::PAYLOAD).map(|b| b.data.len()).sum();
    assert!(held <= payload.len() + fragments.len() * extension_bytes, "fragments hold {held} bytes for a {} byte payload", payload.len());
    let mut r = Reassembler::new(8 << 20, 8 << 20);
    let mut done = Vec::new();
    for f in fragments {
        assert!(f.encoded_len().expect("length") <= 1100);
        done.extend(r.push(f).expect("push"));
    }
    assert_eq!(done, vec![bundle]);
}

/// What a forwarding node changes (RFC 9171 §4.4.1, §4.4.3): the previous node block names
/// it (one block, replaced at every hop) and the hop count grows.
#[test]
fn previous_node_and_hop_count_blocks() {
    let mut bundle = sample(b"x".to_vec(), CrcType::Crc32C); // hop count block [30, 0]
    assert_eq!(bundle.hop_count().expect("hop count"), Some(HopCount { limit: 30, count: 0 }));
    bundle.set_hop_count(HopCount { limit: 30, count: 1 });
    assert_eq!(bundle.block(block_type::HOP_COUNT).expect("block").data, [0x82, 0x18, 0x1e, 0x01]);
    assert_eq!(bundle.previous_node().expect("previous node"), None);
    bundle.set_previous_node(&eid("ipn:2.0"));
    bundle.set_previous_node(&eid("ipn:3.0"));
    assert_eq!(bundle.blocks.iter().filter(|b| b.block_type == block_type::PREVIOUS_NODE).count(), 1);
    assert_eq!(bundle.block(block_type::PREVIOUS_NODE).expect("block").data, [0x82, 0x02, 0x82, 0x03, 0x00]);
    let decoded = Bundle::decode(&bundle.encode().expect("encode"), Policy::Strict).expect("decode");
    assert_eq!(decoded.previous_node().expect("previous node"), Some(eid("ipn:3.0")));
    assert_eq!(decoded.hop_count().expect("hop count"), Some(HopCount { limit: 30, count: 1 }));

    let mut bad = decoded;
    for block in &mut bad.blocks {
        if block.block_type != block_type::PAYLOAD {
            block.data = vec![0xff];
        }
    }
    assert!(matches!(bad.hop_count(), Err(Error::InvalidBlockData(block_type::HOP_COUNT))));
    assert!(matches!(bad.previous_node(), Err(Error::InvalidBlockData(block_type::PREVIOUS_NODE))));
}

#[test]
fn refragmenting_keeps_original_offsets() {
    let payload: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
    let bundle = sample(payload, CrcType::Crc16X25);
    let first = bundle.fragment(1200).expect("fragment");
    let mut pieces = Vec::new();
    for f in &first {
        pieces.extend(f.fragment(300).expect("refragment"));
    }
    assert!(pieces.iter().all(|p| p.fragment.expect("fragment").total_adu_length == 2000));
    let mut r = Reassembler::new(4096, 4096);
    let mut out = None;
    for p in pieces {
        if let Some(b) = r.push(p).expect("push") {
            out = Some(b);
        }
    }
    assert_eq!(out.expect("complete"), bundle);
}

#[test]
fn fragmentation_refusals() {
    let mut dnf = sample(vec![0; 1000], CrcType::Crc32C);
    dnf.flags |= bundle_flags::DO_NOT_FRAGMENT;
    assert!(matches!(dnf.fragment(200), Err(Error::DoNotFragment)));
    let small = sample(vec![0; 1000], CrcType::Crc32C);
    assert!(matches!(small.fragment(20), Err(Error::MaxSizeTooSmall)));
    assert_eq!(small.fragment(10_000).expect("fits"), vec![small.clone()]);
    let secured = Bundle::decode(A1, Policy::Permissive).expect("A.1");
    assert!(matches!(secured.fragment(100), Err(Error::SecuredBundle)));
}

#[test]
fn reassembler_rejects_bad_fragments() {
    let mut r = Reassembler::new(100, 150);
    assert!(matches!(r.push(sample(vec![1], CrcType::Crc32C)), Err(Error::NotAFragment)));
    let frag = |offset: u64, total: u64, len: usize| {
        let mut b = sample(vec![7; len], CrcType::Crc32C);
        b.flags |= bundle_flags::IS_FRAGMENT;
        b.fragment = Some(FragmentInfo { offset, total_adu_length: total });
        b
    };
    assert!(matches!(r.push(frag(0, 1000, 10)), Err(Error::AduTooLarge)));
    assert!(matches!(r.push(frag(95, 100, 10)), Err(Error::FragmentOutOfRange)));
    assert!(matches!(r.push(frag(u64::MAX, 100, 10)), Err(Error::FragmentOutOfRange)));
    assert_eq!(r.push(frag(0, 100, 50)).expect("first"), None);
    assert!(matches!(r.push(frag(50, 90, 10)), Err(Error::InconsistentFragments)));
    // An overlapping piece is fine.
    assert_eq!(r.push(frag(40, 100, 20)).expect("overlap"), None);
    assert_eq!(r.buffered(), 70);
    let mut other = frag(0, 100, 90);
    other.creation.sequence = 99;
    assert!(matches!(r.push(other), Err(Error::ReassemblyBufferFull)));
    let done = r.push(frag(60, 100, 40)).expect("last").expect("complete");
    assert_eq!(done.payload(), &[7; 100][..]);
    assert_eq!(done.fragment, None);
    assert_eq!(done.flags & bundle_flags::IS_FRAGMENT, 0);
    assert_eq!(r.buffered(), 0);
    r.push(frag(0, 100, 10)).expect("start another");
    r.discard(&eid("ipn:1.1"), CreationTimestamp { time_ms: 800_000_000_000, sequence: 7 });
    assert_eq!((r.pending(), r.buffered()), (0, 0));
}

fn arb_eid() -> impl Strategy<Value = Eid> {
    prop_oneof![
        (1u32..u32::MAX, 0u32..u32::MAX).prop_map(|(n, s)| eid(&format!("ipn:{n}.{s}"))),
        ("[a-z][a-z0-9-]{0,15}", "[a-z0-9]{0,12}").prop_map(|(n, s)| eid(&format!("dtn://{n}/{s}"))),
    ]
}

fn arb_crc() -> impl Strategy<Value = CrcType> {
    prop_oneof![Just(CrcType::Crc16X25), Just(CrcType::Crc32C)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn encode_decode_round_trip(
        source in arb_eid(),
        dest in arb_eid(),
        time_ms in 1u64..u64::MAX,
        sequence in any::<u64>(),
        lifetime_ms in any::<u64>(),
        crc in arb_crc(),
        ext in proptest::collection::vec((13u64..100_000, any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..4),
        payload in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        let mut builder = Bundle::builder(source, dest)
            .creation(CreationTimestamp { time_ms, sequence })
            .lifetime_ms(lifetime_ms)
            .crc_type(crc)
            .payload(payload);
        for (t, flags, data) in ext {
            builder = builder.extension_block(t, u64::from(flags & 0x13), data);
        }
        let bundle = builder.build().expect("valid");
        let bytes = bundle.encode().expect("encode");
        let decoded = Bundle::decode(&bytes, Policy::Strict).expect("decode");
        prop_assert_eq!(&decoded, &bundle);
        prop_assert_eq!(bundle.encoded_len().expect("length"), bytes.len());
        prop_assert_eq!(decoded.encode().expect("re-encode"), bytes);
    }

    #[test]
    fn fragment_reassemble_round_trip(
        payload in proptest::collection::vec(any::<u8>(), 1..3000),
        max in 80usize..1500,
        order in any::<u64>(),
    ) {
        let bundle = sample(payload, CrcType::Crc32C);
        let mut fragments = bundle.fragment(max).expect("fragment");
        for f in &fragments {
            prop_assert!(fragments.len() == 1 || f.encode().expect("encode").len() <= max);
        }
        // A deterministic shuffle driven by `order`.
        let n = fragments.len();
        for i in 0..n {
            fragments.swap(i, (order as usize).wrapping_mul(i + 7) % n);
        }
        if n == 1 {
            prop_assert_eq!(&fragments[0], &bundle);
        } else {
            let mut r = Reassembler::new(1 << 20, 1 << 20);
            let mut done = Vec::new();
            for f in fragments {
                done.extend(r.push(f).expect("push"));
            }
            prop_assert_eq!(done, vec![bundle]);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Bundle::decode(&data, Policy::Strict);
    }

    #[test]
    fn mutated_bundles_never_panic(
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        at in any::<usize>(),
        value in any::<u8>(),
    ) {
        let mut bytes = sample(payload, CrcType::Crc16X25).encode().expect("encode");
        let i = at % bytes.len();
        bytes[i] = value;
        let _ = Bundle::decode(&bytes, Policy::Permissive);
    }
}
