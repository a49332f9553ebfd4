//! The store protocol: domains keep named values in the persistent store through it
//! (docs/store.md).
//!
//! The store domain serves it on the endpoint named [`Store::NAME`](crate::Protocol::NAME) (`"store"`). A client's
//! badge selects its namespace (declared in the description with its quota); a client can
//! only ever see the keys of its own namespace. Keys and values never travel in messages:
//! each client shares a region with the store (the store maps it as `store-buffer.<badge>`,
//! the badge in decimal), and requests name [`Span`]s of it. The store checks every span
//! against the region's size and answers [`Error::OutsideBuffer`] otherwise.
//!
//! A value that fits in the region is stored with one [`Request::Put`]. A larger one (up to
//! [`MAX_VALUE`]) is uploaded in parts: [`Request::PutBegin`], [`Request::PutPart`]s in
//! order, then [`Request::PutCommit`], which stores it atomically; nothing of an upload is
//! visible before its commit, and an upload not committed is forgotten. A value is read in
//! pieces with [`Request::Get`]'s `value_offset`.

use serde::{Deserialize, Serialize};

/// The store protocol.
pub struct Store;

impl crate::Protocol for Store {
    const NAME: &'static str = "store";
    type Request = Request;
    type Response = Response;
}

/// Longest key in bytes.
pub const MAX_KEY: usize = 255;
/// Largest value in bytes.
pub const MAX_VALUE: u64 = 4 << 20;
/// Most operations in one [`Request::Batch`].
pub const MAX_BATCH: usize = 32;

/// A byte range of the client's shared region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// First byte, from the start of the region.
    pub offset: u32,
    /// Length in bytes.
    pub length: u32,
}

impl Span {
    /// The span's byte range, or `None` if it does not lie inside a region of `region_bytes`.
    pub fn range(self, region_bytes: usize) -> Option<core::ops::Range<usize>> {
        let start = self.offset as usize;
        let end = start.checked_add(self.length as usize)?;
        (end <= region_bytes).then_some(start..end)
    }
}

/// When a change is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Durability {
    /// Only once it is on the medium (written, then flushed): it survives a power cut.
    Durable,
    /// Once it is in the log; a power cut may lose it (whole, never in part) until the next
    /// durable change or [`Request::Sync`].
    Buffered,
}

/// A request to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Store the bytes of `value` under the key in `key`, replacing any value. Answer:
    /// [`Response::Stored`].
    Put {
        /// The key's bytes in the region.
        key: Span,
        /// The value's bytes in the region.
        value: Span,
        /// When to answer.
        durability: Durability,
    },
    /// Start uploading a value of `length` bytes for the key in `key` (one upload at a time
    /// per client: a new one forgets the previous). Answer: [`Response::Uploading`].
    PutBegin {
        /// The key's bytes in the region.
        key: Span,
        /// The value's total length.
        length: u64,
    },
    /// The next bytes of the upload, in order. Answer: [`Response::Uploading`].
    PutPart {
        /// The bytes in the region.
        data: Span,
    },
    /// Store the uploaded value (all `length` bytes must have arrived). Answer:
    /// [`Response::Stored`].
    PutCommit {
        /// When to answer.
        durability: Durability,
    },
    /// Copy the value of the key in `key`, from byte `value_offset` on, into `into` (as much
    /// as fits). Answer: [`Response::Value`].
    Get {
        /// The key's bytes in the region.
        key: Span,
        /// First byte of the value to copy.
        value_offset: u64,
        /// Where the bytes go.
        into: Span,
    },
    /// Remove the key in `key`. Answer: [`Response::Deleted`] ([`Error::NotFound`] if it
    /// does not exist).
    Delete {
        /// The key's bytes in the region.
        key: Span,
        /// When to answer.
        durability: Durability,
    },
    /// The keys that start with the bytes of `prefix` and sort after the bytes of `after`
    /// (all of them if `after` is empty), in byte order, written into `into` as a length
    /// byte then the key's bytes each, as many as fit. Answer: [`Response::Listed`]; the
    /// last key listed is the next call's `after`.
    List {
        /// The prefix's bytes in the region.
        prefix: Span,
        /// The key to continue after (empty: from the start).
        after: Span,
        /// Where the keys go.
        into: Span,
    },
    /// Several changes at once, all or none, even across a power cut: `count` operations
    /// encoded one after the other in `operations` (see [`BatchOperation`]). Answer:
    /// [`Response::Stored`].
    Batch {
        /// The encoded operations in the region.
        operations: Span,
        /// How many there are (1..=[`MAX_BATCH`]).
        count: u32,
        /// When to answer.
        durability: Durability,
    },
    /// Make every change acknowledged so far durable. Answer: [`Response::Synced`].
    Sync,
    /// The namespace's use and quota. Answer: [`Response::Usage`].
    Usage,
}

/// What the store answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The change is stored (durably if asked).
    Stored,
    /// An upload is in progress: `received` of its bytes arrived so far.
    Uploading {
        /// Bytes received.
        received: u64,
    },
    /// Part of a value was copied.
    Value {
        /// The value's whole length.
        length: u64,
        /// Bytes copied into the span (from `value_offset`).
        copied: u32,
    },
    /// The key was removed.
    Deleted,
    /// Keys were listed.
    Listed {
        /// How many.
        count: u32,
        /// Bytes written into the span.
        bytes: u32,
        /// Whether further keys match (continue after the last one listed).
        more: bool,
    },
    /// Every acknowledged change is durable.
    Synced,
    /// The namespace's use and quota.
    Usage {
        /// Bytes of keys and values stored.
        bytes: u64,
        /// Keys stored.
        keys: u64,
        /// The byte quota.
        max_bytes: u64,
        /// The key quota.
        max_keys: u64,
    },
    /// The request was not carried out; nothing of it was stored.
    Failed(Error),
}

/// Which quota a change would exceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quota {
    /// Bytes of keys and values.
    Bytes,
    /// Number of keys.
    Keys,
}

/// Bytes of a key an error names: all of a key up to this long, else its start.
pub const KEY_NAMED: usize = 32;

/// A key named in an error (its first [`KEY_NAMED`] bytes).
pub type Key = heapless::Vec<u8, KEY_NAMED>;

/// Why a request was not carried out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// The key does not exist.
    NotFound,
    /// The change would take the namespace past its quota.
    QuotaExceeded {
        /// Which quota.
        quota: Quota,
        /// What the namespace would use.
        needed: u64,
        /// The quota.
        limit: u64,
    },
    /// The key or value is longer than the store takes.
    TooLarge {
        /// The length asked for.
        length: u64,
        /// The largest allowed.
        max: u64,
    },
    /// A key is empty.
    EmptyKey,
    /// The stored value failed its checksum: the store will not return it.
    Corrupt {
        /// Its key (the first [`KEY_NAMED`] bytes of a longer one).
        key: Key,
        /// The key's whole length.
        key_length: u8,
    },
    /// The log is damaged at this sector of the store's disk window (found while
    /// reclaiming space): the change was not made.
    CorruptLog {
        /// The sector.
        sector: u64,
    },
    /// The disk is not available now (its driver is restarting): retry.
    Unavailable,
    /// The disk is full, even after reclaiming dead space.
    NoSpace,
    /// A span reaches past the end of the shared region.
    OutsideBuffer {
        /// End of the span.
        end: u64,
        /// Size of the region.
        region: u64,
    },
    /// [`Request::PutPart`] or [`Request::PutCommit`] without an upload, a part beyond the
    /// announced length, or a commit before all of it arrived.
    Upload {
        /// Bytes announced.
        length: u64,
        /// Bytes received.
        received: u64,
    },
    /// A batch's operations are malformed: the one at `index` (from 0), or the count.
    BadBatch {
        /// Which operation.
        index: u32,
    },
    /// The client's badge has no namespace in the description: it may not use the store.
    NoNamespace {
        /// The badge.
        badge: u64,
    },
}

/// One operation of a [`Request::Batch`], encoded in the region as: a kind byte (1 put,
/// 2 delete), the key's length (1 byte), the value's length (4 bytes, little-endian; 0 for
/// a delete), the key, the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchOperation<'a> {
    /// Store `value` under `key`.
    Put {
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
    },
    /// Remove `key` (a key that does not exist is no error in a batch).
    Delete {
        /// The key.
        key: &'a [u8],
    },
}

const BATCH_PUT: u8 = 1;
const BATCH_DELETE: u8 = 2;
const BATCH_HEADER: usize = 6;

impl<'a> BatchOperation<'a> {
    /// Bytes of its encoding.
    pub fn encoded_len(&self) -> usize {
        BATCH_HEADER
            + match *self {
                BatchOperation::Put { key, value } => key.len() + value.len(),
                BatchOperation::Delete { key } => key.len(),
            }
    }

    /// Appends the operation's encoding to `out` at `at`; returns the end, or `None` if it
    /// does not fit or a length is out of range.
    pub fn encode(&self, out: &mut [u8], at: usize) -> Option<usize> {
        let (kind, key, value): (u8, &[u8], &[u8]) = match *self {
            BatchOperation::Put { key, value } => (BATCH_PUT, key, value),
            BatchOperation::Delete { key } => (BATCH_DELETE, key, &[]),
        };
        let key_length = u8::try_from(key.len()).ok()?;
        let value_length = u32::try_from(value.len()).ok()?;
        let end = at.checked_add(BATCH_HEADER + key.len() + value.len())?;
        let target = out.get_mut(at..end)?;
        target[0] = kind;
        target[1] = key_length;
        target[2..6].copy_from_slice(&value_length.to_le_bytes());
        target[6..6 + key.len()].copy_from_slice(key);
        target[6 + key.len()..].copy_from_slice(value);
        Some(end)
    }

    /// Decodes `count` operations from `bytes`, calling `each` for every one; the index of
    /// the first malformed one is the error (the count's index, `count`, if bytes are left
    /// over or `count` is out of range).
    pub fn decode_all(bytes: &'a [u8], count: u32, mut each: impl FnMut(BatchOperation<'a>)) -> Result<(), u32> {
        if count == 0 || count as usize > MAX_BATCH {
            return Err(count);
        }
        let mut at = 0;
        for index in 0..count {
            let header = bytes.get(at..at + BATCH_HEADER).ok_or(index)?;
            let key_length = usize::from(header[1]);
            let value_length = u32::from_le_bytes([header[2], header[3], header[4], header[5]]) as usize;
            let key = bytes.get(at + BATCH_HEADER..at + BATCH_HEADER + key_length).ok_or(index)?;
            let value_start = at + BATCH_HEADER + key_length;
            let value = bytes.get(value_start..value_start.checked_add(value_length).ok_or(index)?).ok_or(index)?;
            if key.is_empty() {
                return Err(index);
            }
            match header[0] {
                BATCH_PUT => each(BatchOperation::Put { key, value }),
                BATCH_DELETE if value.is_empty() => each(BatchOperation::Delete { key }),
                _ => return Err(index),
            }
            at = value_start + value_length;
        }
        if at != bytes.len() { Err(count) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};
    use std::vec::Vec;

    #[test]
    fn spans_outside_the_region_have_no_range() {
        assert_eq!(Span { offset: 0, length: 16 }.range(16), Some(0..16));
        assert_eq!(Span { offset: 8, length: 9 }.range(16), None);
        assert_eq!(Span { offset: u32::MAX, length: u32::MAX }.range(16), None);
        assert_eq!(Span { offset: 16, length: 0 }.range(16), Some(16..16));
    }

    #[test]
    fn the_largest_messages_fit() {
        let mut words = [0; PAYLOAD_WORDS + 1];
        let corrupt = Response::Failed(Error::Corrupt { key: Key::from_slice(&[0xFF; KEY_NAMED]).unwrap(), key_length: u8::MAX });
        let length = encode(&corrupt, &mut words).unwrap();
        assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(corrupt));
        let span = Span { offset: u32::MAX, length: u32::MAX };
        let list = Request::List { prefix: span, after: span, into: span };
        let length = encode(&list, &mut words).unwrap();
        assert_eq!(decode::<Request>(MESSAGE, &words[..length]), Ok(list));
    }

    #[test]
    fn batches_round_trip_and_malformed_ones_name_the_operation() {
        let mut bytes = [0u8; 64];
        let mut end = BatchOperation::Put { key: b"a", value: b"xyz" }.encode(&mut bytes, 0).unwrap();
        end = BatchOperation::Delete { key: b"bb" }.encode(&mut bytes, end).unwrap();
        let mut seen = Vec::new();
        BatchOperation::decode_all(&bytes[..end], 2, |operation| seen.push(operation)).unwrap();
        assert_eq!(seen, [BatchOperation::Put { key: b"a", value: b"xyz" }, BatchOperation::Delete { key: b"bb" }]);
        assert_eq!(BatchOperation::decode_all(&bytes[..end], 3, |_| {}), Err(2));
        assert_eq!(BatchOperation::decode_all(&bytes[..end], 1, |_| {}), Err(1));
        assert_eq!(BatchOperation::decode_all(&bytes[..end - 1], 2, |_| {}), Err(1));
        assert_eq!(BatchOperation::decode_all(&bytes[..end], 0, |_| {}), Err(0));
        assert_eq!(BatchOperation::decode_all(&bytes[..end], 33, |_| {}), Err(33));
        let mut bad = bytes;
        bad[0] = 7;
        assert_eq!(BatchOperation::decode_all(&bad[..end], 2, |_| {}), Err(0));
        let mut empty_key = bytes;
        empty_key[1] = 0;
        assert_eq!(BatchOperation::decode_all(&empty_key[..end], 2, |_| {}), Err(0));
        let mut huge = bytes;
        huge[2..6].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(BatchOperation::decode_all(&huge[..end], 2, |_| {}), Err(0));
        assert_eq!(BatchOperation::Put { key: &[0; 300], value: b"" }.encode(&mut [0; 400], 0), None);
        assert_eq!(BatchOperation::Put { key: b"k", value: b"v" }.encode(&mut [0; 7], 0), None);
    }
}
