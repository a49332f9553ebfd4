//! The boot archive: a small versioned container holding the compiled system description and
//! every domain's ELF, loaded as one boot module.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! offset  size  header
//! 0       8     magic "TILEOSAR"
//! 8       2     version (VERSION: 8)
//! 10      2     flags (0)
//! 12      4     entry count n (at most MAX_ENTRIES)
//! 16      8     total length of the archive in bytes (bytes after it are ignored)
//! 24      8     reserved (0)
//! 32      96*n  entry table
//!
//! offset  size  entry
//! 0       40    name: 1..=40 bytes of [A-Za-z0-9_.-], NUL-padded
//! 40      8     offset of the data from the start of the archive
//! 48      8     length of the data
//! 56      4     flags: bit 0 = the sha256 field is present
//! 60      4     reserved (0)
//! 64      32    sha256 of the data (all zero when absent)
//! ```
//!
//! Data lies after the table, inside the total length; two entries' data never overlap and
//! names are unique. [`build`] aligns every entry's data to [`DATA_ALIGN`] so the root server
//! can map or copy ELF pages without shifting them; [`Archive::parse`] does not require it.
//! Entry 0 is the postcard-encoded [`SystemDescription`](crate::SystemDescription), named
//! [`DESCRIPTION_ENTRY`]; the other entries are programs.

use alloc::vec::Vec;
use sha2::{Digest, Sha256};

/// The archive magic.
pub const MAGIC: [u8; 8] = *b"TILEOSAR";
/// The only archive version this crate reads and writes (it covers the description encoding
/// too: a change to either bumps it; 3 added the description's shadow-execution slots, 4 their
/// managers, seats and seat memory, 5 the federation node, 6 the domains' CNode sizes, 7 a
/// slot's step priority, 8 a slot's verifier domain).
pub const VERSION: u16 = 8;
/// Size of the header in bytes.
pub const HEADER_LEN: usize = 32;
/// Size of one entry-table record in bytes.
pub const ENTRY_LEN: usize = 96;
/// Longest entry name in bytes.
pub const MAX_ENTRY_NAME: usize = 40;
/// Most entries an archive may have.
pub const MAX_ENTRIES: u32 = 4096;
/// Alignment [`build`] gives every entry's data.
pub const DATA_ALIGN: usize = 4096;
/// Name of entry 0, the encoded system description.
pub const DESCRIPTION_ENTRY: &str = "system";
/// Entry flag: the sha256 field is present.
const FLAG_SHA256: u32 = 1;

/// Why an archive was rejected. Entry numbers are indices into the entry table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveError {
    /// The input ends before byte `needed` (the header, the table or the declared length).
    Truncated {
        /// Bytes the archive needs.
        needed: u64,
        /// Bytes there are.
        have: u64,
    },
    /// The first eight bytes are not [`MAGIC`].
    BadMagic,
    /// The version is not [`VERSION`].
    UnsupportedVersion(u16),
    /// A reserved header field or header flag at this byte offset is not zero.
    ReservedNotZero {
        /// Byte offset of the field in the archive.
        offset: usize,
    },
    /// The declared total length is shorter than the header.
    BadTotalLength(u64),
    /// More than [`MAX_ENTRIES`] entries.
    TooManyEntries(u32),
    /// The entry's name is empty, too long, not NUL-padded or uses other characters than
    /// `[A-Za-z0-9_.-]`.
    BadName {
        /// The entry.
        entry: usize,
    },
    /// The entry has flags this version does not know, or a non-zero reserved field.
    UnknownFlags {
        /// The entry.
        entry: usize,
        /// Its flags.
        flags: u32,
    },
    /// The entry has no sha256 flag but a non-zero sha256 field.
    StrayDigest {
        /// The entry.
        entry: usize,
    },
    /// The entry's data does not lie inside the archive's total length.
    OutOfBounds {
        /// The entry.
        entry: usize,
        /// Its data offset.
        offset: u64,
        /// Its data length.
        length: u64,
        /// The archive's total length.
        total: u64,
    },
    /// The entry's data starts inside the header or entry table.
    InsideTable {
        /// The entry.
        entry: usize,
    },
    /// The data of two entries overlap.
    Overlap {
        /// The later entry.
        entry: usize,
        /// The earlier entry it overlaps.
        other: usize,
    },
    /// Two entries have the same name.
    DuplicateName {
        /// The later entry.
        entry: usize,
        /// The earlier entry with that name.
        other: usize,
    },
    /// The entry's data does not match its sha256.
    DigestMismatch {
        /// The entry.
        entry: usize,
    },
    /// Entry 0 is missing or not named [`DESCRIPTION_ENTRY`].
    MissingDescription,
    /// [`build`] was given a name that is not a valid entry name.
    InvalidName,
}

impl core::fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            ArchiveError::Truncated { needed, have } => {
                write!(f, "truncated: needs {needed} bytes, has {have}")
            }
            ArchiveError::BadMagic => write!(f, "bad magic (not a tileos boot archive)"),
            ArchiveError::UnsupportedVersion(v) => {
                write!(f, "version {v} is not supported (expected {VERSION})")
            }
            ArchiveError::ReservedNotZero { offset } => {
                write!(f, "reserved header field at byte {offset} is not zero")
            }
            ArchiveError::BadTotalLength(n) => {
                write!(f, "total length {n} is shorter than the {HEADER_LEN}-byte header")
            }
            ArchiveError::TooManyEntries(n) => {
                write!(f, "{n} entries (at most {MAX_ENTRIES})")
            }
            ArchiveError::BadName { entry } => write!(f, "entry {entry}: invalid name"),
            ArchiveError::UnknownFlags { entry, flags } => {
                write!(f, "entry {entry}: unknown flags {flags:#x} or reserved field not zero")
            }
            ArchiveError::StrayDigest { entry } => {
                write!(f, "entry {entry}: sha256 field set without the sha256 flag")
            }
            ArchiveError::OutOfBounds { entry, offset, length, total } => {
                write!(f, "entry {entry}: data {offset}+{length} lies outside the archive ({total} bytes)")
            }
            ArchiveError::InsideTable { entry } => {
                write!(f, "entry {entry}: data starts inside the header or entry table")
            }
            ArchiveError::Overlap { entry, other } => {
                write!(f, "entry {entry}: data overlaps entry {other}")
            }
            ArchiveError::DuplicateName { entry, other } => {
                write!(f, "entry {entry}: same name as entry {other}")
            }
            ArchiveError::DigestMismatch { entry } => {
                write!(f, "entry {entry}: data does not match its sha256")
            }
            ArchiveError::MissingDescription => {
                write!(f, "entry 0 is not the system description \"{DESCRIPTION_ENTRY}\"")
            }
            ArchiveError::InvalidName => write!(f, "invalid entry name"),
        }
    }
}

/// Whether `name` is a valid entry name: 1..=[`MAX_ENTRY_NAME`] bytes of `[A-Za-z0-9_.-]`.
pub fn valid_entry_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_ENTRY_NAME && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// One entry of a parsed archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The entry's name.
    pub name: &'a str,
    /// The entry's data.
    pub data: &'a [u8],
    /// The sha256 of the data, if the archive records one.
    pub sha256: Option<[u8; 32]>,
}

/// A parsed, structurally valid boot archive borrowing its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Archive<'a> {
    /// The archive, cut to its declared total length.
    bytes: &'a [u8],
    /// Number of entries.
    count: usize,
}

/// Reads a little-endian integer of `N` bytes at `at`, if the bytes are there.
fn le<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Reads a `u16` at `at` (the caller has checked the length).
fn u16_at(bytes: &[u8], at: usize) -> u16 {
    le::<2>(bytes, at).map_or(0, u16::from_le_bytes)
}

/// Reads a `u32` at `at` (the caller has checked the length).
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    le::<4>(bytes, at).map_or(0, u32::from_le_bytes)
}

/// Reads a `u64` at `at` (the caller has checked the length).
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    le::<8>(bytes, at).map_or(0, u64::from_le_bytes)
}

/// A decoded table record, before cross-entry checks.
struct Record<'a> {
    /// Name.
    name: &'a str,
    /// Data offset.
    offset: u64,
    /// Data length.
    length: u64,
    /// Digest, if flagged.
    sha256: Option<[u8; 32]>,
}

impl<'a> Archive<'a> {
    /// Parses and structurally validates an archive: header, every table record, bounds,
    /// overlaps and name uniqueness. Digests are checked by [`Archive::verify_digests`].
    /// Never panics, whatever the input.
    pub fn parse(bytes: &'a [u8]) -> Result<Archive<'a>, ArchiveError> {
        let have = bytes.len() as u64;
        if bytes.len() < HEADER_LEN {
            return Err(ArchiveError::Truncated { needed: HEADER_LEN as u64, have });
        }
        if bytes.get(0..8) != Some(&MAGIC[..]) {
            return Err(ArchiveError::BadMagic);
        }
        let version = u16_at(bytes, 8);
        if version != VERSION {
            return Err(ArchiveError::UnsupportedVersion(version));
        }
        if u16_at(bytes, 10) != 0 {
            return Err(ArchiveError::ReservedNotZero { offset: 10 });
        }
        if u64_at(bytes, 24) != 0 {
            return Err(ArchiveError::ReservedNotZero { offset: 24 });
        }
        let count = u32_at(bytes, 12);
        let total = u64_at(bytes, 16);
        if total < HEADER_LEN as u64 {
            return Err(ArchiveError::BadTotalLength(total));
        }
        if total > have {
            return Err(ArchiveError::Truncated { needed: total, have });
        }
        if count > MAX_ENTRIES {
            return Err(ArchiveError::TooManyEntries(count));
        }
        // total <= have, so it fits in usize; count <= MAX_ENTRIES keeps the table small.
        let bytes = bytes.get(..total as usize).unwrap_or(bytes);
        let table_end = HEADER_LEN as u64 + u64::from(count) * ENTRY_LEN as u64;
        if table_end > total {
            return Err(ArchiveError::Truncated { needed: table_end, have: total });
        }
        let archive = Archive { bytes, count: count as usize };
        for entry in 0..archive.count {
            let record = archive.record(entry)?;
            if record.offset < table_end {
                return Err(ArchiveError::InsideTable { entry });
            }
            let end = record.offset.checked_add(record.length);
            if end.is_none_or(|end| end > total) {
                return Err(ArchiveError::OutOfBounds { entry, offset: record.offset, length: record.length, total });
            }
            for other in 0..entry {
                let earlier = archive.record(other)?;
                if earlier.name == record.name {
                    return Err(ArchiveError::DuplicateName { entry, other });
                }
                let disjoint = record.length == 0
                    || earlier.length == 0
                    || record.offset + record.length <= earlier.offset
                    || earlier.offset + earlier.length <= record.offset;
                if !disjoint {
                    return Err(ArchiveError::Overlap { entry, other });
                }
            }
        }
        Ok(archive)
    }

    /// Decodes table record `entry` and checks it on its own.
    fn record(&self, entry: usize) -> Result<Record<'a>, ArchiveError> {
        let at = HEADER_LEN + entry * ENTRY_LEN;
        let raw = self
            .bytes
            .get(at..at + ENTRY_LEN)
            .ok_or(ArchiveError::Truncated { needed: (at + ENTRY_LEN) as u64, have: self.bytes.len() as u64 })?;
        let name_field = raw.get(..MAX_ENTRY_NAME).unwrap_or_default();
        let name_len = name_field.iter().position(|&b| b == 0).unwrap_or(MAX_ENTRY_NAME);
        let (name, padding) = name_field.split_at(name_len);
        let name = core::str::from_utf8(name).map_err(|_| ArchiveError::BadName { entry })?;
        if !valid_entry_name(name) || padding.iter().any(|&b| b != 0) {
            return Err(ArchiveError::BadName { entry });
        }
        let flags = u32_at(raw, 56);
        if flags & !FLAG_SHA256 != 0 || u32_at(raw, 60) != 0 {
            return Err(ArchiveError::UnknownFlags { entry, flags });
        }
        let digest: [u8; 32] = le::<32>(raw, 64).unwrap_or_default();
        let sha256 = if flags & FLAG_SHA256 != 0 {
            Some(digest)
        } else if digest.iter().any(|&b| b != 0) {
            return Err(ArchiveError::StrayDigest { entry });
        } else {
            None
        };
        Ok(Record { name, offset: u64_at(raw, 40), length: u64_at(raw, 48), sha256 })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the archive has no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Entry `index`, or `None` past the end.
    pub fn entry(&self, index: usize) -> Option<Entry<'a>> {
        if index >= self.count {
            return None;
        }
        // Every record was validated by `parse`, so neither lookup fails here.
        let record = self.record(index).ok()?;
        let start = usize::try_from(record.offset).ok()?;
        let end = start.checked_add(usize::try_from(record.length).ok()?)?;
        Some(Entry { name: record.name, data: self.bytes.get(start..end)?, sha256: record.sha256 })
    }

    /// The entries in table order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        (0..self.count).filter_map(|i| self.entry(i))
    }

    /// The entry named `name` and its index.
    pub fn find(&self, name: &str) -> Option<(usize, Entry<'a>)> {
        self.entries().enumerate().find(|(_, e)| e.name == name)
    }

    /// Entry 0, which must be the description named [`DESCRIPTION_ENTRY`].
    pub fn description(&self) -> Result<Entry<'a>, ArchiveError> {
        self.entry(0).filter(|e| e.name == DESCRIPTION_ENTRY).ok_or(ArchiveError::MissingDescription)
    }

    /// Checks every recorded sha256 against its data.
    pub fn verify_digests(&self) -> Result<(), ArchiveError> {
        for (entry, e) in self.entries().enumerate() {
            if let Some(expected) = e.sha256 {
                if <[u8; 32]>::from(Sha256::digest(e.data)) != expected {
                    return Err(ArchiveError::DigestMismatch { entry });
                }
            }
        }
        Ok(())
    }
}

/// Writes an archive holding `entries` (name, data) in order, each with its sha256 and its
/// data aligned to [`DATA_ALIGN`]. Names must be valid and unique; at most [`MAX_ENTRIES`].
/// For a boot archive, entry 0 is ([`DESCRIPTION_ENTRY`], encoded description).
pub fn build(entries: &[(&str, &[u8])]) -> Result<Vec<u8>, ArchiveError> {
    let count = u32::try_from(entries.len()).ok().filter(|&n| n <= MAX_ENTRIES).ok_or(ArchiveError::TooManyEntries(u32::MAX))?;
    for (entry, (name, _)) in entries.iter().enumerate() {
        if !valid_entry_name(name) {
            return Err(ArchiveError::InvalidName);
        }
        if let Some(other) = entries[..entry].iter().position(|(n, _)| n == name) {
            return Err(ArchiveError::DuplicateName { entry, other });
        }
    }
    let align = |n: usize| n.div_ceil(DATA_ALIGN) * DATA_ALIGN;
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes()); // total length, patched below
    out.extend_from_slice(&0u64.to_le_bytes());
    let mut offset = align(HEADER_LEN + entries.len() * ENTRY_LEN);
    for (name, data) in entries {
        let mut name_field = [0u8; MAX_ENTRY_NAME];
        name_field[..name.len()].copy_from_slice(name.as_bytes());
        out.extend_from_slice(&name_field);
        out.extend_from_slice(&(offset as u64).to_le_bytes());
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        out.extend_from_slice(&FLAG_SHA256.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&<[u8; 32]>::from(Sha256::digest(data)));
        offset = align(offset + data.len());
    }
    for (_, data) in entries {
        out.resize(align(out.len()), 0);
        out.extend_from_slice(data);
    }
    let total = out.len() as u64;
    out[16..24].copy_from_slice(&total.to_le_bytes());
    Ok(out)
}
