//! The owned bundle model: decoding (through `hardy-bpv7`), canonical encoding, building and
//! the expiry check.

use alloc::vec::Vec;
use hardy_bpv7::block::BibCoverage;
use hardy_bpv7::bundle::ParsedBundle;
use hardy_cbor::encode::{Array, Bytes, emit_array};

use crate::Eid;
use crate::error::Error;

/// Bundle processing control flags (RFC 9171 §4.2.3).
pub mod bundle_flags {
    /// The bundle is a fragment.
    pub const IS_FRAGMENT: u64 = 0x01;
    /// The payload is an administrative record.
    pub const ADMIN_RECORD: u64 = 0x02;
    /// The bundle must not be fragmented.
    pub const DO_NOT_FRAGMENT: u64 = 0x04;
    /// The destination application is asked to acknowledge receipt.
    pub const APP_ACK_REQUESTED: u64 = 0x20;
    /// Status reports should carry the time of the reported event.
    pub const STATUS_TIME_REQUESTED: u64 = 0x40;
    /// Request reporting of bundle reception.
    pub const RECEPTION_REPORT: u64 = 0x4000;
    /// Request reporting of bundle forwarding.
    pub const FORWARDING_REPORT: u64 = 0x1_0000;
    /// Request reporting of bundle delivery.
    pub const DELIVERY_REPORT: u64 = 0x2_0000;
    /// Request reporting of bundle deletion.
    pub const DELETION_REPORT: u64 = 0x4_0000;
}

/// Block processing control flags (RFC 9171 §4.2.4).
pub mod block_flags {
    /// The block must be replicated in every fragment.
    pub const MUST_REPLICATE: u64 = 0x01;
    /// Report a status if the block cannot be processed.
    pub const REPORT_ON_FAILURE: u64 = 0x02;
    /// Delete the bundle if the block cannot be processed.
    pub const DELETE_BUNDLE_ON_FAILURE: u64 = 0x04;
    /// Discard the block if it cannot be processed.
    pub const DELETE_BLOCK_ON_FAILURE: u64 = 0x10;
}

/// Block type codes (RFC 9171 §9.1, RFC 9172 §11.1).
pub mod block_type {
    /// Bundle payload block.
    pub const PAYLOAD: u64 = 1;
    /// Previous node block.
    pub const PREVIOUS_NODE: u64 = 6;
    /// Bundle age block.
    pub const BUNDLE_AGE: u64 = 7;
    /// Hop count block.
    pub const HOP_COUNT: u64 = 10;
    /// Block integrity block (BPSec).
    pub const BIB: u64 = 11;
    /// Block confidentiality block (BPSec).
    pub const BCB: u64 = 12;
}

/// CRC type of a block (RFC 9171 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcType {
    /// No CRC (type 0).
    None,
    /// CRC-16/X.25 (type 1), two bytes.
    Crc16X25,
    /// CRC-32C / Castagnoli (type 2), four bytes.
    Crc32C,
}

/// Slice-by-16 tables (8 KiB and 16 KiB): encoding large payloads is bound by the CRC.
const CRC16: crc::Crc<u16, crc::Table<16>> = crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_IBM_SDLC);
const CRC32C: crc::Crc<u32, crc::Table<16>> = crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

impl CrcType {
    /// The wire code of the CRC type.
    pub fn code(self) -> u64 {
        match self {
            CrcType::None => 0,
            CrcType::Crc16X25 => 1,
            CrcType::Crc32C => 2,
        }
    }

    fn from_hardy(t: hardy_bpv7::crc::CrcType) -> Result<Self, Error> {
        use hardy_bpv7::crc::CrcType as H;
        match t {
            H::None => Ok(CrcType::None),
            H::CRC16_X25 => Ok(CrcType::Crc16X25),
            H::CRC32_CASTAGNOLI => Ok(CrcType::Crc32C),
            H::Unrecognised(code) => Err(Error::UnsupportedCrcType(code)),
        }
    }

    /// Appends the CRC value field (zeroed) to a block array being emitted.
    fn emit_placeholder(self, a: &mut Array) {
        match self {
            CrcType::None => {}
            CrcType::Crc16X25 => {
                a.emit(&Bytes(&[0u8; 2]));
            }
            CrcType::Crc32C => {
                a.emit(&Bytes(&[0u8; 4]));
            }
        }
    }

    /// Computes the CRC over a block encoded with a zeroed CRC field and fills the field in
    /// (RFC 9171 §4.2.1: the CRC is computed over the block with the CRC value set to zero).
    fn fill(self, block: &mut [u8]) {
        match self {
            CrcType::None => {}
            CrcType::Crc16X25 => write_tail(block, &CRC16.checksum(block).to_be_bytes()),
            CrcType::Crc32C => write_tail(block, &CRC32C.checksum(block).to_be_bytes()),
        }
    }

    /// Number of entries a block array gets for the CRC field.
    fn field_count(self) -> usize {
        usize::from(self != CrcType::None)
    }
}

/// Overwrites the last `value.len()` bytes of `block` (the zeroed CRC field) with `value`.
fn write_tail(block: &mut [u8], value: &[u8]) {
    let start = block.len().saturating_sub(value.len());
    for (dst, src) in block[start..].iter_mut().zip(value) {
        *dst = *src;
    }
}

/// Creation timestamp (RFC 9171 §4.2.7): DTN time in milliseconds (0 = no clock) and a
/// sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CreationTimestamp {
    /// Milliseconds since 2000-01-01T00:00:00Z, or 0 if the source had no accurate clock.
    pub time_ms: u64,
    /// Sequence number distinguishing bundles created in the same millisecond.
    pub sequence: u64,
}

/// The hop count block's fields (RFC 9171 §4.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopCount {
    /// Most hops the bundle may take (1 to 255).
    pub limit: u64,
    /// Hops taken so far: incremented by every node that forwards the bundle.
    pub count: u64,
}

/// Fragment fields of the primary block (RFC 9171 §4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentInfo {
    /// Offset of this fragment's payload in the original application data unit.
    pub offset: u64,
    /// Length of the whole original application data unit.
    pub total_adu_length: u64,
}

/// A non-primary block (RFC 9171 §4.3.2), kept with its block-type-specific data as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalBlock {
    /// Block type code (see [`block_type`]).
    pub block_type: u64,
    /// Block number, unique in the bundle; the payload block is number 1.
    pub number: u64,
    /// Block processing control flags (see [`block_flags`]).
    pub flags: u64,
    /// CRC type of the block.
    pub crc_type: CrcType,
    /// Block-type-specific data.
    pub data: Vec<u8>,
}

/// Length of the CBOR head of a byte string of `len` bytes (RFC 8949 §3.1).
pub(crate) fn bstr_head_len(len: u64) -> u64 {
    match len {
        0..24 => 1,
        24..0x100 => 2,
        0x100..0x1_0000 => 3,
        0x1_0000..0x1_0000_0000 => 5,
        _ => 9,
    }
}

impl CanonicalBlock {
    /// Length of the block's encoding, found by encoding it without its data.
    fn encoded_len(&self) -> usize {
        let empty = CanonicalBlock { data: Vec::new(), ..*self };
        let mut out = Vec::new();
        empty.encode_into(&mut out);
        let len = self.data.len() as u64;
        out.len() + self.data.len() + (bstr_head_len(len) - 1) as usize
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        let mut block = emit_array(Some(5 + self.crc_type.field_count()), |a| {
            a.emit(&self.block_type);
            a.emit(&self.number);
            a.emit(&self.flags);
            a.emit(&self.crc_type.code());
            a.emit(&Bytes(&self.data));
            self.crc_type.emit_placeholder(a);
        });
        self.crc_type.fill(&mut block);
        out.extend_from_slice(&block);
    }
}

/// How strictly [`Bundle::decode`] applies the RFC 9171 rules that `hardy-bpv7` leaves to the
/// node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Also require a CRC or a BIB on the primary block (§4.3.1) and a bundle age block when
    /// the creation time is zero (§4.4.2). Use this for bundles from the network.
    Strict,
    /// Skip those two checks. The RFC 9173 Appendix A example bundles need this: they have no
    /// primary-block CRC (only A.3's BIB covers the primary block) and no bundle age block.
    Permissive,
}

/// An owned BPv7 bundle: the primary block fields and the other blocks in wire order, the
/// payload block last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Bundle processing control flags (see [`bundle_flags`]).
    pub flags: u64,
    /// CRC type of the primary block.
    pub crc_type: CrcType,
    /// Destination endpoint.
    pub destination: Eid,
    /// Source node endpoint.
    pub source: Eid,
    /// Endpoint that status reports go to.
    pub report_to: Eid,
    /// Creation timestamp; with the source it identifies the bundle.
    pub creation: CreationTimestamp,
    /// Lifetime in milliseconds, counted from the creation time.
    pub lifetime_ms: u64,
    /// Present exactly when this bundle is a fragment.
    pub fragment: Option<FragmentInfo>,
    /// Extension blocks then the payload block, in the order they are encoded.
    pub blocks: Vec<CanonicalBlock>,
}

impl Bundle {
    /// Starts building a new bundle from `source` to `destination`.
    pub fn builder(source: Eid, destination: Eid) -> BundleBuilder {
        BundleBuilder::new(source, destination)
    }

    /// Decodes and validates one bundle that fills `data` exactly.
    pub fn decode(data: &[u8], policy: Policy) -> Result<Bundle, Error> {
        let parsed = ParsedBundle::parse(data, hardy_bpv7::bpsec::no_keys).map_err(Error::Invalid)?.bundle;

        let mut ordered: Vec<(usize, CanonicalBlock)> = Vec::with_capacity(parsed.blocks.len());
        let mut primary_bib = BibCoverage::None;
        for (&number, block) in &parsed.blocks {
            if number == 0 {
                primary_bib = block.bib.clone();
                continue;
            }
            let body = block.payload(data).ok_or(Error::OutOfRange("block data"))?;
            ordered.push((
                block.extent.start,
                CanonicalBlock {
                    block_type: u64::from(block.block_type),
                    number,
                    flags: u64::from(&block.flags),
                    crc_type: CrcType::from_hardy(block.crc_type)?,
                    data: body.to_vec(),
                },
            ));
        }
        ordered.sort_by_key(|(start, _)| *start);

        let timestamp = &parsed.id.timestamp;
        let bundle = Bundle {
            flags: u64::from(&parsed.flags),
            crc_type: CrcType::from_hardy(parsed.crc_type)?,
            destination: parsed.destination.clone(),
            source: parsed.id.source.clone(),
            report_to: parsed.report_to.clone(),
            creation: CreationTimestamp {
                time_ms: timestamp.creation_time().map_or(0, |t| t.millisecs()),
                sequence: timestamp.sequence_number(),
            },
            lifetime_ms: u64::try_from(parsed.lifetime.as_millis()).map_err(|_| Error::OutOfRange("lifetime"))?,
            fragment: parsed.id.fragment_info.as_ref().map(|f| FragmentInfo { offset: f.offset, total_adu_length: f.total_adu_length }),
            blocks: ordered.into_iter().map(|(_, b)| b).collect(),
        };
        bundle.check_structure()?;

        if policy == Policy::Strict {
            if bundle.crc_type == CrcType::None && !matches!(primary_bib, BibCoverage::Some(_)) {
                return Err(Error::PrimaryBlockUnprotected);
            }
            if bundle.creation.time_ms == 0 && bundle.bundle_age_ms()?.is_none() {
                return Err(Error::MissingBundleAge);
            }
        }
        Ok(bundle)
    }

    /// Encodes the bundle as canonical CBOR: an indefinite-length array of the primary block
    /// and the other blocks, each with its CRC (RFC 9171 §4.1, §4.2.1).
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        self.check_structure()?;
        let mut out = Vec::with_capacity(64 + self.blocks.iter().map(|b| b.data.len() + 16).sum::<usize>());
        out.push(0x9f);
        self.encode_primary_into(&mut out);
        for block in &self.blocks {
            block.encode_into(&mut out);
        }
        out.push(0xff);
        Ok(out)
    }

    /// Length of what [`Bundle::encode`] returns, computed without copying the payload.
    pub fn encoded_len(&self) -> Result<usize, Error> {
        self.check_structure()?;
        let mut primary = Vec::new();
        self.encode_primary_into(&mut primary);
        Ok(2 + primary.len() + self.blocks.iter().map(CanonicalBlock::encoded_len).sum::<usize>())
    }

    fn encode_primary_into(&self, out: &mut Vec<u8>) {
        let fields = 8 + 2 * usize::from(self.fragment.is_some()) + self.crc_type.field_count();
        let mut block = emit_array(Some(fields), |a| {
            a.emit(&7u64);
            a.emit(&self.flags);
            a.emit(&self.crc_type.code());
            a.emit(&self.destination);
            a.emit(&self.source);
            a.emit(&self.report_to);
            a.emit(&(self.creation.time_ms, self.creation.sequence));
            a.emit(&self.lifetime_ms);
            if let Some(fragment) = &self.fragment {
                a.emit(&fragment.offset);
                a.emit(&fragment.total_adu_length);
            }
            self.crc_type.emit_placeholder(a);
        });
        self.crc_type.fill(&mut block);
        out.extend_from_slice(&block);
    }

    /// Checks the invariants `encode` relies on: one payload block, number 1, last; unique
    /// extension block numbers above 1; fragment flag matching the fragment fields.
    fn check_structure(&self) -> Result<(), Error> {
        let (payload, extensions) = self.blocks.split_last().ok_or(Error::MissingPayload)?;
        if payload.block_type != block_type::PAYLOAD || payload.number != 1 {
            return Err(Error::MisplacedPayload);
        }
        let mut numbers: Vec<u64> = Vec::with_capacity(extensions.len());
        for block in extensions {
            if block.block_type == block_type::PAYLOAD {
                return Err(Error::MissingPayload);
            }
            if block.block_type == 0 {
                return Err(Error::ReservedBlockType(0));
            }
            if block.number <= 1 || numbers.contains(&block.number) {
                return Err(Error::InvalidBlockNumber(block.number));
            }
            numbers.push(block.number);
        }
        let flagged = self.flags & bundle_flags::IS_FRAGMENT != 0;
        if flagged != self.fragment.is_some() {
            return Err(Error::FragmentFlagMismatch);
        }
        Ok(())
    }

    /// The payload (the application data unit, or a piece of it in a fragment).
    pub fn payload(&self) -> &[u8] {
        self.blocks.last().map_or(&[], |b| b.data.as_slice())
    }

    /// The first block of type `block_type`, if any.
    pub fn block(&self, block_type: u64) -> Option<&CanonicalBlock> {
        self.blocks.iter().find(|b| b.block_type == block_type)
    }

    /// The bundle age in milliseconds from the bundle age block (RFC 9171 §4.4.2), if present.
    pub fn bundle_age_ms(&self) -> Result<Option<u64>, Error> {
        match self.block(block_type::BUNDLE_AGE) {
            None => Ok(None),
            Some(block) => hardy_cbor::decode::parse::<u64>(&block.data).map(Some).map_err(|_| Error::InvalidBundleAge),
        }
    }

    /// Sets the bundle age block to `age_ms`, adding the block if there is none. A forwarding
    /// node calls this with the age it received plus its own residence time (RFC 9171 §4.4.2).
    pub fn set_bundle_age_ms(&mut self, age_ms: u64) {
        self.set_extension_data(block_type::BUNDLE_AGE, hardy_cbor::encode::emit(&age_ms).0);
    }

    /// The node that forwarded the bundle to this one, from the previous node block
    /// (RFC 9171 §4.4.1), if present.
    pub fn previous_node(&self) -> Result<Option<Eid>, Error> {
        match self.block(block_type::PREVIOUS_NODE) {
            None => Ok(None),
            Some(block) => {
                hardy_cbor::decode::parse::<Eid>(&block.data).map(Some).map_err(|_| Error::InvalidBlockData(block_type::PREVIOUS_NODE))
            }
        }
    }

    /// Sets the previous node block to `node`, replacing the one a previous forwarder put
    /// there (RFC 9171 §4.4.1: at most one). A forwarding node calls this with its node ID.
    pub fn set_previous_node(&mut self, node: &Eid) {
        self.set_extension_data(block_type::PREVIOUS_NODE, hardy_cbor::encode::emit(node).0);
    }

    /// The hop limit and hop count from the hop count block (RFC 9171 §4.4.3), if present.
    pub fn hop_count(&self) -> Result<Option<HopCount>, Error> {
        match self.block(block_type::HOP_COUNT) {
            None => Ok(None),
            Some(block) => hardy_cbor::decode::parse::<hardy_bpv7::hop_info::HopInfo>(&block.data)
                .map(|h| Some(HopCount { limit: h.limit, count: h.count }))
                .map_err(|_| Error::InvalidBlockData(block_type::HOP_COUNT)),
        }
    }

    /// Sets the hop count block, adding it if there is none.
    pub fn set_hop_count(&mut self, hops: HopCount) {
        let data = hardy_cbor::encode::emit(&hardy_bpv7::hop_info::HopInfo { limit: hops.limit, count: hops.count }).0;
        self.set_extension_data(block_type::HOP_COUNT, data);
    }

    /// Replaces the data of the first block of `block_type`, or adds such a block (no flags,
    /// the primary block's CRC type) before the payload block.
    fn set_extension_data(&mut self, block_type: u64, data: Vec<u8>) {
        if let Some(block) = self.blocks.iter_mut().find(|b| b.block_type == block_type) {
            block.data = data;
            return;
        }
        let number = self.next_block_number();
        let at = self.blocks.len().saturating_sub(1);
        self.blocks.insert(at, CanonicalBlock { block_type, number, flags: 0, crc_type: self.crc_type, data });
    }

    fn next_block_number(&self) -> u64 {
        self.blocks.iter().map(|b| b.number).max().unwrap_or(1).saturating_add(1).max(2)
    }

    /// Whether the bundle's lifetime is over (RFC 9171 §4.2.6).
    ///
    /// `now_ms` is the current DTN time (ms since 2000-01-01) or `None` if this node has no
    /// accurate clock; `residence_ms` is how long this node has held the bundle. A bundle
    /// with a creation time expires at creation time + lifetime; without one (or without a
    /// local clock) its age (bundle age block + residence) is compared with the lifetime.
    pub fn is_expired(&self, now_ms: Option<u64>, residence_ms: u64) -> Result<bool, Error> {
        if let (Some(now), true) = (now_ms, self.creation.time_ms != 0) {
            return Ok(now >= self.creation.time_ms.saturating_add(self.lifetime_ms));
        }
        let age = self.bundle_age_ms()?.ok_or(Error::MissingBundleAge)?;
        Ok(age.saturating_add(residence_ms) >= self.lifetime_ms)
    }
}

/// Builds a new, unfragmented bundle.
#[derive(Debug, Clone)]
pub struct BundleBuilder {
    bundle: Bundle,
    payload_flags: u64,
    payload: Vec<u8>,
}

impl BundleBuilder {
    /// A builder with report-to = source, creation time 0 / sequence 0, lifetime one hour,
    /// CRC-32C on every block and an empty payload.
    pub fn new(source: Eid, destination: Eid) -> Self {
        BundleBuilder {
            bundle: Bundle {
                flags: 0,
                crc_type: CrcType::Crc32C,
                destination,
                report_to: source.clone(),
                source,
                creation: CreationTimestamp { time_ms: 0, sequence: 0 },
                lifetime_ms: 3_600_000,
                fragment: None,
                blocks: Vec::new(),
            },
            payload_flags: 0,
            payload: Vec::new(),
        }
    }

    /// Sets the endpoint that status reports go to.
    pub fn report_to(mut self, report_to: Eid) -> Self {
        self.bundle.report_to = report_to;
        self
    }

    /// Sets the bundle processing control flags (the fragment flag is refused by `build`).
    pub fn flags(mut self, flags: u64) -> Self {
        self.bundle.flags = flags;
        self
    }

    /// Sets the creation timestamp.
    pub fn creation(mut self, creation: CreationTimestamp) -> Self {
        self.bundle.creation = creation;
        self
    }

    /// Sets the lifetime in milliseconds.
    pub fn lifetime_ms(mut self, lifetime_ms: u64) -> Self {
        self.bundle.lifetime_ms = lifetime_ms;
        self
    }

    /// Sets the CRC type used on every block.
    pub fn crc_type(mut self, crc_type: CrcType) -> Self {
        self.bundle.crc_type = crc_type;
        self
    }

    /// Adds a bundle age block (required when the creation time is 0).
    pub fn bundle_age_ms(mut self, age_ms: u64) -> Self {
        self.bundle.set_bundle_age_ms(age_ms);
        self
    }

    /// Adds an extension block with the next free block number.
    pub fn extension_block(mut self, block_type: u64, flags: u64, data: Vec<u8>) -> Self {
        let number = self.bundle.next_block_number();
        self.bundle.blocks.push(CanonicalBlock { block_type, number, flags, crc_type: self.bundle.crc_type, data });
        self
    }

    /// Sets the payload block's processing flags.
    pub fn payload_flags(mut self, flags: u64) -> Self {
        self.payload_flags = flags;
        self
    }

    /// Sets the payload.
    pub fn payload(mut self, payload: Vec<u8>) -> Self {
        self.payload = payload;
        self
    }

    /// Finishes the bundle, checking it can be encoded.
    pub fn build(self) -> Result<Bundle, Error> {
        let mut bundle = self.bundle;
        for block in &mut bundle.blocks {
            if block.block_type <= block_type::PAYLOAD {
                return Err(Error::ReservedBlockType(block.block_type));
            }
            block.crc_type = bundle.crc_type;
        }
        bundle.blocks.push(CanonicalBlock {
            block_type: block_type::PAYLOAD,
            number: 1,
            flags: self.payload_flags,
            crc_type: bundle.crc_type,
            data: self.payload,
        });
        bundle.check_structure()?;
        Ok(bundle)
    }
}
