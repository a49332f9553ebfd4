//! The on-disk format: superblock, record header, entry table and value frames
//! (docs/store.md has the byte tables). Decoding checks every length against the limits
//! before anything is allocated.

use alloc::vec::Vec;
use crc::{CRC_32_ISCSI, Crc, Table};

/// CRC-32C, the checksum of superblocks, headers and frames.
pub(crate) const CRC: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// Longest key, in bytes (keys are 1..=255 bytes).
pub const MAX_KEY_LEN: usize = 255;
/// Longest value, in bytes (4 MiB); also the limit of a batch's values together.
pub const MAX_VALUE_LEN: u64 = 4 << 20;
/// Most operations in one batch.
pub const MAX_BATCH_OPS: usize = 64;

/// Value bytes per frame; each frame is followed by its CRC.
pub(crate) const FRAME: u64 = 4096;
/// Length of a record header.
pub(crate) const HEADER_LEN: usize = 64;
/// Fixed part of an entry in the entry table (op, key length, namespace, value length).
const ENTRY_FIXED: usize = 14;
/// Longest entry table.
pub(crate) const MAX_META: usize = MAX_BATCH_OPS * (ENTRY_FIXED + MAX_KEY_LEN);
/// Sectors 0 and 1 hold the two superblock copies; the log starts at sector 2.
pub(crate) const SUPERBLOCK_COPIES: u64 = 2;

const SB_MAGIC: [u8; 8] = *b"TILESTOR";
const SB_VERSION: u32 = 1;
const SB_LEN: usize = 76;
const REC_MAGIC: u32 = u32::from_le_bytes(*b"TREC");
const REC_VERSION: u8 = 1;

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]))
}

/// One superblock copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Superblock {
    /// Sector size the store was formatted with.
    pub block_size: u32,
    /// Sector count the store was formatted with.
    pub blocks: u64,
    /// Bumped by every superblock write; the newer valid copy wins.
    pub generation: u64,
    /// Bumped by every mount; records carry the epoch they were written in.
    pub epoch: u64,
    /// Log offset (bytes) of the first live record.
    pub head: u64,
    /// Sequence number of the record at `head`.
    pub head_seq: u64,
    /// Chosen at format; every record carries it.
    pub volume: u64,
    /// Every record below this sequence number was flushed when this copy was written.
    pub checkpoint: u64,
}

impl Superblock {
    /// Writes this copy into `sector` (zeroing the rest).
    pub fn encode(&self, sector: &mut [u8]) {
        sector.fill(0);
        sector[0..8].copy_from_slice(&SB_MAGIC);
        sector[8..12].copy_from_slice(&SB_VERSION.to_le_bytes());
        sector[12..16].copy_from_slice(&self.block_size.to_le_bytes());
        for (at, v) in [
            (16, self.blocks),
            (24, self.generation),
            (32, self.epoch),
            (40, self.head),
            (48, self.head_seq),
            (56, self.volume),
            (64, self.checkpoint),
        ] {
            sector[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        let crc = CRC.checksum(&sector[..72]);
        sector[72..SB_LEN].copy_from_slice(&crc.to_le_bytes());
    }

    /// The copy in `sector`, if its magic, version and CRC are right.
    pub fn decode(sector: &[u8]) -> Option<Superblock> {
        if sector.len() < SB_LEN || sector[0..8] != SB_MAGIC || le32(sector, 8) != SB_VERSION {
            return None;
        }
        if CRC.checksum(&sector[..72]) != le32(sector, 72) {
            return None;
        }
        Some(Superblock {
            block_size: le32(sector, 12),
            blocks: le64(sector, 16),
            generation: le64(sector, 24),
            epoch: le64(sector, 32),
            head: le64(sector, 40),
            head_seq: le64(sector, 48),
            volume: le64(sector, 56),
            checkpoint: le64(sector, 64),
        })
    }
}

/// The fixed header at the start of every record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// Entries in the entry table.
    pub entries: u16,
    /// The record's sequence number: one more than the record before it in the log.
    pub seq: u64,
    /// Mount epoch the record was written in.
    pub epoch: u64,
    /// Every record up to this sequence number was flushed before this one was written.
    pub durable_seq: u64,
    /// The store's volume id.
    pub volume: u64,
    /// Sum of the value lengths.
    pub data_len: u64,
    /// Bytes of the entry table.
    pub meta_len: u32,
}

impl Header {
    /// The header bytes, CRC over header and entry table included.
    pub fn encode(&self, meta: &[u8]) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..4].copy_from_slice(&REC_MAGIC.to_le_bytes());
        h[4] = REC_VERSION;
        h[6..8].copy_from_slice(&self.entries.to_le_bytes());
        for (at, v) in [(8, self.seq), (16, self.epoch), (24, self.durable_seq), (32, self.volume), (40, self.data_len)] {
            h[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        h[48..52].copy_from_slice(&self.meta_len.to_le_bytes());
        let crc = header_crc(&h, meta);
        h[60..64].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Whether `h` starts with the record magic and version.
    pub fn has_magic(h: &[u8]) -> bool {
        h.len() >= HEADER_LEN && le32(h, 0) == REC_MAGIC && h[4] == REC_VERSION
    }

    /// The fields of the fixed header in `h`, unchecked: neither magic nor CRC (that
    /// needs the entry table, whose length [`within_limits`](Self::within_limits) checks).
    pub fn parse(h: &[u8]) -> Option<Header> {
        if h.len() < HEADER_LEN {
            return None;
        }
        Some(Header {
            entries: u16::from_le_bytes([h[6], h[7]]),
            seq: le64(h, 8),
            epoch: le64(h, 16),
            durable_seq: le64(h, 24),
            volume: le64(h, 32),
            data_len: le64(h, 40),
            meta_len: le32(h, 48),
        })
    }

    /// Whether the lengths are within the limits (checked before reading the entry table).
    pub fn within_limits(&self) -> bool {
        self.entries >= 1
            && self.entries as usize <= MAX_BATCH_OPS
            && self.meta_len as usize <= MAX_META
            && self.data_len <= MAX_VALUE_LEN
            && self.meta_len as usize >= self.entries as usize * (ENTRY_FIXED + 1)
    }

    /// Offset of the value data from the record start.
    pub fn data_offset(&self) -> u64 {
        HEADER_LEN as u64 + self.meta_len as u64
    }

    /// Length of the whole record on disk, whole sectors.
    pub fn record_len(&self, block: u64) -> u64 {
        record_len(self.meta_len as u64, self.data_len, block)
    }
}

/// Whether the CRC stored in header `h` matches header and entry table.
pub(crate) fn header_crc_ok(h: &[u8], meta: &[u8]) -> bool {
    header_crc(h, meta) == le32(h, 60)
}

fn header_crc(h: &[u8], meta: &[u8]) -> u32 {
    let mut d = CRC.digest();
    d.update(&h[..60]);
    d.update(meta);
    d.finalize()
}

/// Number of frames of `data_len` value bytes.
pub(crate) fn frames(data_len: u64) -> u64 {
    data_len.div_ceil(FRAME)
}

/// Bytes a record takes on disk, rounded up to whole sectors.
pub(crate) fn record_len(meta_len: u64, data_len: u64, block: u64) -> u64 {
    (HEADER_LEN as u64 + meta_len + data_len + 4 * frames(data_len)).div_ceil(block) * block
}

/// The CRC of frame `index` of record `seq`: binds the frame to its record and place, so a
/// stale frame of an older record never passes.
pub(crate) fn frame_crc(volume: u64, seq: u64, index: u64, data: &[u8]) -> u32 {
    let mut d = CRC.digest();
    d.update(&volume.to_le_bytes());
    d.update(&seq.to_le_bytes());
    d.update(&index.to_le_bytes());
    d.update(data);
    d.finalize()
}

/// What an entry does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Sets the key to the value.
    Put,
    /// Removes the key.
    Delete,
}

/// One entry of a record's entry table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Put or delete.
    pub op: Op,
    /// Namespace of the key.
    pub namespace: u32,
    /// The key (1..=255 bytes).
    pub key: Vec<u8>,
    /// Length of the value (0 for a delete).
    pub value_len: u64,
}

/// Length of the entry table of `entries`.
pub(crate) fn meta_len(entries: &[Entry]) -> usize {
    entries.iter().map(|e| ENTRY_FIXED + e.key.len()).sum()
}

/// The entry table of `entries`.
pub(crate) fn encode_meta(entries: &[Entry]) -> Vec<u8> {
    let mut m = Vec::with_capacity(meta_len(entries));
    for e in entries {
        m.push(match e.op {
            Op::Put => 1,
            Op::Delete => 2,
        });
        m.push(e.key.len() as u8);
        m.extend_from_slice(&e.namespace.to_le_bytes());
        m.extend_from_slice(&e.value_len.to_le_bytes());
        m.extend_from_slice(&e.key);
    }
    m
}

/// Parses an entry table of `count` entries whose values add up to `data_len`.
/// `None` when anything is inconsistent.
pub(crate) fn decode_meta(meta: &[u8], count: u16, data_len: u64) -> Option<Vec<Entry>> {
    let mut entries = Vec::with_capacity(count as usize);
    let mut at = 0;
    let mut total = 0u64;
    for _ in 0..count {
        let fixed = meta.get(at..at + ENTRY_FIXED)?;
        let op = match fixed[0] {
            1 => Op::Put,
            2 => Op::Delete,
            _ => return None,
        };
        let key_len = fixed[1] as usize;
        let namespace = le32(fixed, 2);
        let value_len = le64(fixed, 6);
        if key_len == 0 || (op == Op::Delete && value_len != 0) || value_len > MAX_VALUE_LEN {
            return None;
        }
        let key = meta.get(at + ENTRY_FIXED..at + ENTRY_FIXED + key_len)?.to_vec();
        total = total.checked_add(value_len)?;
        at += ENTRY_FIXED + key_len;
        entries.push(Entry { op, namespace, key, value_len });
    }
    (at == meta.len() && total == data_len).then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn superblock_round_trips_and_rejects_a_flipped_bit() {
        let sb = Superblock { block_size: 512, blocks: 99, generation: 7, epoch: 3, head: 1024, head_seq: 40, volume: 5, checkpoint: 41 };
        let mut sector = vec![0u8; 512];
        sb.encode(&mut sector);
        assert_eq!(Superblock::decode(&sector), Some(sb));
        for bit in 0..SB_LEN * 8 {
            let mut s = sector.clone();
            s[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(Superblock::decode(&s), None, "bit {bit}");
        }
    }

    #[test]
    fn meta_round_trips() {
        let entries = vec![
            Entry { op: Op::Put, namespace: 1, key: b"a".to_vec(), value_len: 10 },
            Entry { op: Op::Delete, namespace: 2, key: vec![7; 255], value_len: 0 },
        ];
        let m = encode_meta(&entries);
        assert_eq!(m.len(), meta_len(&entries));
        assert_eq!(decode_meta(&m, 2, 10), Some(entries));
        assert_eq!(decode_meta(&m, 2, 11), None);
        assert_eq!(decode_meta(&m, 3, 10), None);
        assert_eq!(decode_meta(&m[..m.len() - 1], 2, 10), None);
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocation() {
        let h = Header { entries: 1, seq: 1, epoch: 1, durable_seq: 0, volume: 0, data_len: u64::MAX, meta_len: 15 };
        assert!(Header::has_magic(&h.encode(&[])));
        assert!(!Header::parse(&h.encode(&[])).unwrap().within_limits());
        let h = Header { data_len: 0, meta_len: u32::MAX, ..h };
        assert!(!Header::parse(&h.encode(&[])).unwrap().within_limits());
        let h = Header { meta_len: 15, entries: u16::MAX, ..h };
        assert!(!Header::parse(&h.encode(&[])).unwrap().within_limits());
    }
}
