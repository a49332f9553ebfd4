//! The node's records in the store: their keys and value formats.
//!
//! | key | value |
//! |---|---|
//! | `b/` + 8-byte big-endian spool number | a held bundle: version 1, kind (1 forward, 2 deliver, 3 fragment for local reassembly), the time it was received (8 bytes LE), the bundle's BPv7 encoding |
//! | `r` | the replica: postcard of its state and sequence counter |
//! | `p` | the contact plan received in bundles: its bundle's creation time and sequence (8 bytes LE each), then [`crate::routing::encode_plan`] |
//! | `n` | floor of the next bundle sequence number (8 bytes LE) |
//!
//! Spool numbers only grow, so listing `b/` returns bundles in arrival order.

use alloc::vec::Vec;

use tileos_bpv7::CreationTimestamp;

use crate::routing::{self, Contact};

/// Prefix of held bundles' keys.
pub const BUNDLE_PREFIX: &[u8] = b"b/";
/// Key of the replica.
pub const REPLICA_KEY: &[u8] = b"r";
/// Key of the received contact plan.
pub const PLAN_KEY: &[u8] = b"p";
/// Key of the sequence floor.
pub const SEQUENCE_KEY: &[u8] = b"n";

const VERSION: u8 = 1;
const HEADER: usize = 10;

/// Why a bundle is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// To be forwarded to another node.
    Forward,
    /// For a local application, until it has taken it.
    Deliver,
    /// A fragment of a bundle for this node, until all fragments are here.
    Fragment,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Forward => 1,
            Kind::Deliver => 2,
            Kind::Fragment => 3,
        }
    }

    fn from_code(code: u8) -> Option<Kind> {
        match code {
            1 => Some(Kind::Forward),
            2 => Some(Kind::Deliver),
            3 => Some(Kind::Fragment),
            _ => None,
        }
    }
}

/// The key of held bundle `number`.
pub fn bundle_key(number: u64) -> Vec<u8> {
    let mut key = BUNDLE_PREFIX.to_vec();
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// The spool number in a held bundle's key.
pub fn bundle_number(key: &[u8]) -> Option<u64> {
    let digits: [u8; 8] = key.strip_prefix(BUNDLE_PREFIX)?.try_into().ok()?;
    Some(u64::from_be_bytes(digits))
}

/// A held bundle's value.
pub fn encode_held(kind: Kind, received_ms: u64, bundle: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(HEADER + bundle.len());
    value.push(VERSION);
    value.push(kind.code());
    value.extend_from_slice(&received_ms.to_le_bytes());
    value.extend_from_slice(bundle);
    value
}

/// A held bundle's record, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held<'a> {
    /// Why it is held.
    pub kind: Kind,
    /// When it was received (node time, ms).
    pub received_ms: u64,
    /// Its BPv7 encoding.
    pub bundle: &'a [u8],
}

/// A held bundle's record, or `None` if the value is not one.
pub fn decode_held(value: &[u8]) -> Option<Held<'_>> {
    let (header, bundle) = value.split_at_checked(HEADER)?;
    if header[0] != VERSION {
        return None;
    }
    let kind = Kind::from_code(header[1])?;
    let received: [u8; 8] = header[2..HEADER].try_into().ok()?;
    Some(Held { kind, received_ms: u64::from_le_bytes(received), bundle })
}

/// The received contact plan's record.
pub fn encode_plan_record(stamp: CreationTimestamp, contacts: &[Contact]) -> Vec<u8> {
    let mut value = Vec::new();
    value.extend_from_slice(&stamp.time_ms.to_le_bytes());
    value.extend_from_slice(&stamp.sequence.to_le_bytes());
    value.extend_from_slice(&routing::encode_plan(contacts));
    value
}

/// The received contact plan's bundle creation stamp and contacts, or `None` if the value
/// is not a plan record.
pub fn decode_plan_record(value: &[u8]) -> Option<(CreationTimestamp, Vec<Contact>)> {
    let (stamp, plan) = value.split_at_checked(16)?;
    let time_ms = u64::from_le_bytes(stamp[..8].try_into().ok()?);
    let sequence = u64::from_le_bytes(stamp[8..].try_into().ok()?);
    Some((CreationTimestamp { time_ms, sequence }, routing::decode_plan(plan).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip() {
        assert_eq!(bundle_number(&bundle_key(0x0102)), Some(0x0102));
        assert_eq!(bundle_number(b"b/short"), None);
        assert!(bundle_key(1) < bundle_key(256), "keys sort in spool order");
        let value = encode_held(Kind::Fragment, 77, b"bundle");
        assert_eq!(decode_held(&value), Some(Held { kind: Kind::Fragment, received_ms: 77, bundle: b"bundle" }));
        assert_eq!(decode_held(&value[..5]), None);
        let mut bad = value.clone();
        bad[1] = 9;
        assert_eq!(decode_held(&bad), None);
    }
}
