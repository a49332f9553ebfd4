//! The store's errors: small, `Copy`, one variant per thing a client can act on.

use core::fmt;

use crate::device::DeviceError;

/// Which quota a write would exceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `max_bytes`: the sum of key and value lengths of the namespace's live keys.
    Bytes,
    /// `max_keys`: the number of live keys.
    Keys,
}

/// How many leading bytes of a key a [`Corruption`] carries.
pub const KEY_PREFIX: usize = 24;

/// Where a corrupt record was found: its namespace and (the start of) its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// Namespace of the key.
    pub namespace: u32,
    /// Full length of the key.
    pub key_len: u8,
    /// The first `min(key_len, KEY_PREFIX)` bytes of the key, zero-padded.
    pub key_prefix: [u8; KEY_PREFIX],
    /// First sector of the damaged frame or header.
    pub lba: u64,
}

impl Corruption {
    /// The corruption of `key` in `namespace` found at `lba`.
    pub fn new(namespace: u32, key: &[u8], lba: u64) -> Self {
        let mut key_prefix = [0; KEY_PREFIX];
        let n = key.len().min(KEY_PREFIX);
        key_prefix[..n].copy_from_slice(&key[..n]);
        Corruption { namespace, key_len: key.len() as u8, key_prefix, lba }
    }

    /// The key bytes carried (all of the key when it is at most [`KEY_PREFIX`] bytes).
    pub fn key(&self) -> &[u8] {
        &self.key_prefix[..(self.key_len as usize).min(KEY_PREFIX)]
    }
}

/// An error of a store operation. Nothing was changed when a mutating operation fails,
/// except after [`Error::Unavailable`]: then the operation may or may not have happened
/// (as after a crash), and repeating it is safe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The key does not exist in the namespace.
    NotFound,
    /// The write would exceed a quota of the namespace; nothing was written.
    QuotaExceeded {
        /// The namespace.
        namespace: u32,
        /// Which quota.
        limit: Limit,
        /// The quota.
        max: u64,
        /// What the namespace would use after the write.
        would_use: u64,
    },
    /// A value (or a batch's values together) is longer than [`MAX_VALUE_LEN`](crate::MAX_VALUE_LEN),
    /// or a batch has more than [`MAX_BATCH_OPS`](crate::MAX_BATCH_OPS) operations.
    TooLarge,
    /// A stored record of this key failed its CRC: the data is not returned.
    Corrupt(Corruption),
    /// The log itself is damaged at this sector (found while compacting).
    CorruptLog {
        /// The sector.
        lba: u64,
    },
    /// The device failed (the driver restarted); retry. The store re-mounts first.
    Unavailable,
    /// Not enough free space even after compaction.
    NoSpace,
    /// The key is empty or longer than [`MAX_KEY_LEN`](crate::MAX_KEY_LEN).
    InvalidKey,
    /// The namespace was not configured at mount.
    UnknownNamespace(u32),
    /// The device holds no store (no valid superblock): format it.
    Unformatted,
    /// The device's geometry does not fit: sector size not a multiple of 512 (or above
    /// 64 KiB), too few sectors, or not the geometry the superblock records.
    BadGeometry,
}

impl From<DeviceError> for Error {
    fn from(_: DeviceError) -> Self {
        Error::Unavailable
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound => write!(f, "no such key"),
            Error::QuotaExceeded { namespace, limit, max, would_use } => {
                write!(f, "namespace {namespace}: {limit:?} quota {max} exceeded ({would_use} needed)")
            }
            Error::TooLarge => write!(f, "value or batch too large"),
            Error::Corrupt(c) => {
                write!(f, "namespace {}: record of key {:?}", c.namespace, c.key())?;
                if c.key_len as usize > KEY_PREFIX {
                    write!(f, "… ({} bytes)", c.key_len)?;
                }
                write!(f, " is corrupt at sector {}", c.lba)
            }
            Error::CorruptLog { lba } => write!(f, "log corrupt at sector {lba}"),
            Error::Unavailable => write!(f, "device unavailable, retry"),
            Error::NoSpace => write!(f, "no space left"),
            Error::InvalidKey => write!(f, "key must be 1..=255 bytes"),
            Error::UnknownNamespace(id) => write!(f, "namespace {id} is not configured"),
            Error::Unformatted => write!(f, "no store on the device"),
            Error::BadGeometry => write!(f, "device geometry unsuitable or changed"),
        }
    }
}
