//! Errors of decoding, building, fragmenting and reassembling bundles.

use core::fmt;

/// Why a bundle could not be decoded, built, fragmented or reassembled.
#[derive(Debug)]
pub enum Error {
    /// `hardy-bpv7` rejected the bytes (CBOR structure, CRC, EID, block rules, ...).
    Invalid(hardy_bpv7::Error),
    /// The primary block has no CRC and no BIB targets it (RFC 9171 §4.3.1).
    PrimaryBlockUnprotected,
    /// The creation time is zero (no clock) but there is no bundle age block (RFC 9171 §4.4.2).
    MissingBundleAge,
    /// The bundle age block does not hold one unsigned integer (RFC 9171 §4.4.2).
    InvalidBundleAge,
    /// An extension block of this type does not hold the data RFC 9171 §4.4 defines for it.
    InvalidBlockData(u64),
    /// A CRC type other than 0, 1 or 2 (RFC 9171 §4.2.1).
    UnsupportedCrcType(u64),
    /// A field does not fit the range this implementation handles.
    OutOfRange(&'static str),
    /// The bundle has no payload block, or more than one.
    MissingPayload,
    /// The payload block is not the last block or is not block number 1 (RFC 9171 §4.1, §4.3.3).
    MisplacedPayload,
    /// Two blocks share a block number, or an extension block uses number 0 or 1.
    InvalidBlockNumber(u64),
    /// An extension block was given a reserved type (0 = primary, 1 = payload).
    ReservedBlockType(u64),
    /// The bundle-is-a-fragment flag and the fragment fields disagree (RFC 9171 §4.2.3).
    FragmentFlagMismatch,
    /// Fragmentation was asked for but the bundle's "must not be fragmented" flag is set.
    DoNotFragment,
    /// Fragmenting bundles that carry BPSec blocks is not supported.
    SecuredBundle,
    /// The size limit leaves no room for a single payload byte per fragment.
    MaxSizeTooSmall,
    /// A non-fragment was given to the reassembler.
    NotAFragment,
    /// A fragment's payload lies outside its total application data unit length.
    FragmentOutOfRange,
    /// Fragments of one bundle disagree on the total application data unit length.
    InconsistentFragments,
    /// The total application data unit is larger than the reassembler accepts.
    AduTooLarge,
    /// The reassembler's buffer limit would be exceeded.
    ReassemblyBufferFull,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(e) => write!(f, "invalid bundle: {e}"),
            Error::PrimaryBlockUnprotected => f.write_str("primary block has neither a CRC nor a BIB targeting it"),
            Error::MissingBundleAge => f.write_str("creation time is zero but there is no bundle age block"),
            Error::InvalidBundleAge => f.write_str("bundle age block is not an unsigned integer"),
            Error::InvalidBlockData(t) => write!(f, "block of type {t} does not hold what RFC 9171 §4.4 defines for it"),
            Error::UnsupportedCrcType(t) => write!(f, "unsupported CRC type {t}"),
            Error::OutOfRange(what) => write!(f, "{what} out of range"),
            Error::MissingPayload => f.write_str("bundle must have exactly one payload block"),
            Error::MisplacedPayload => f.write_str("payload block must be block number 1 and the last block"),
            Error::InvalidBlockNumber(n) => write!(f, "invalid or duplicate block number {n}"),
            Error::ReservedBlockType(t) => write!(f, "block type {t} is reserved"),
            Error::FragmentFlagMismatch => f.write_str("is-fragment flag disagrees with the fragment fields"),
            Error::DoNotFragment => f.write_str("bundle must not be fragmented"),
            Error::SecuredBundle => f.write_str("bundles with BPSec blocks are not fragmented"),
            Error::MaxSizeTooSmall => f.write_str("size limit too small for any payload"),
            Error::NotAFragment => f.write_str("bundle is not a fragment"),
            Error::FragmentOutOfRange => f.write_str("fragment lies outside its ADU"),
            Error::InconsistentFragments => f.write_str("fragments disagree on the total ADU length"),
            Error::AduTooLarge => f.write_str("total ADU length exceeds the reassembly limit"),
            Error::ReassemblyBufferFull => f.write_str("reassembly buffer limit reached"),
        }
    }
}

impl core::error::Error for Error {}
