//! Mount: pick the newer valid superblock, replay the log from its head, stop at the first
//! record that is not the next one or fails a check, and say exactly what was discarded.

use alloc::vec;
use alloc::vec::Vec;

use crate::device::{BlockDevice, DeviceError};
use crate::error::Error;
use crate::format::{Entry, HEADER_LEN, Header, SUPERBLOCK_COPIES, Superblock, decode_meta, frames, header_crc_ok};
use crate::index::Index;
use crate::log::{DataRef, FrameError, Geometry};

/// Most sequence numbers a [`Discarded`] lists.
pub const MAX_REPORTED_SEQS: usize = 16;

/// What a mount found and what it threw away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Generation of the superblock copy used.
    pub generation: u64,
    /// How many of the two superblock copies were valid.
    pub superblock_copies_valid: u8,
    /// Log offset of the first record replayed.
    pub head: u64,
    /// Log offset after the last record replayed: new records go here.
    pub tail: u64,
    /// Records replayed.
    pub records: u64,
    /// Sequence number the next record gets.
    pub next_seq: u64,
    /// What was discarded, if anything.
    pub discarded: Option<Discarded>,
    /// Flushed records kept although a value frame fails its CRC (medium damage, not a
    /// torn write): reading an affected value returns [`Error::Corrupt`].
    pub damaged: Vec<DamagedRecord>,
}

/// A flushed record with a damaged value frame, kept in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DamagedRecord {
    /// Its sequence number.
    pub seq: u64,
    /// First sector of the first bad frame.
    pub lba: u64,
}

/// Log contents a mount discarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discarded {
    /// Log offset of the first discarded byte (the new tail).
    pub start: u64,
    /// Log offset after the last byte identified as discarded.
    pub end: u64,
    /// LBA of the sector at `start`.
    pub first_lba: u64,
    /// Why the log ended there.
    pub cause: Cause,
    /// Sequence numbers of the discarded records, in order (at most [`MAX_REPORTED_SEQS`]).
    pub seqs: Vec<u64>,
    /// A discarded record had been flushed (a later record or the superblock says so): the
    /// medium was damaged, this is not a torn write.
    pub flushed: bool,
}

/// Why a mount ended the log where it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The next record's header (or entry table) failed its CRC or limits.
    TornHeader,
    /// A value frame of the next record failed its CRC.
    TornFrame {
        /// The frame's index in the record.
        frame: u64,
        /// The frame's first sector.
        lba: u64,
    },
    /// No record where the superblock says flushed records are (a header was destroyed).
    Missing,
}

/// What the next record must look like.
pub(crate) struct Expect {
    /// Its sequence number.
    pub seq: u64,
    /// Smallest epoch (that of the record before it).
    pub min_epoch: u64,
    /// Largest epoch (the store's current one).
    pub max_epoch: u64,
    /// The volume id.
    pub volume: u64,
    /// Bytes of log it may take.
    pub room: u64,
}

/// A record whose header and entry table passed their checks.
pub(crate) struct Scanned {
    /// Its header.
    pub header: Header,
    /// Its entries.
    pub entries: Vec<Entry>,
    /// Its length on disk.
    pub len: u64,
    /// Its values.
    pub data: DataRef,
}

/// What is at a log offset.
pub(crate) enum Probe {
    /// The expected record (frames not checked yet).
    Record(Scanned),
    /// Not the expected record: the log ends here.
    End,
    /// The expected record's header, damaged.
    TornHeader,
}

/// Reads the header and entry table at `off`; the lengths are checked before allocating.
///
/// A header whose CRC fails is told apart from stale or foreign bytes by three fields:
/// magic, volume id and sequence number. A single flipped bit leaves two of them right,
/// so a header with two right is damaged ([`Probe::TornHeader`], reported), unless all
/// but the sequence number are right and the CRC holds: an older record (the log's end).
pub(crate) fn probe(geo: &Geometry, dev: &mut impl BlockDevice, off: u64, expect: &Expect) -> Result<Probe, DeviceError> {
    let mut h = [0u8; HEADER_LEN];
    geo.read(dev, off, &mut h)?;
    let Some(header) = Header::parse(&h) else { return Ok(Probe::End) };
    let magic = Header::has_magic(&h);
    let volume = header.volume == expect.volume;
    let seq = header.seq == expect.seq;
    match (magic, volume, seq) {
        (true, true, true) => {}
        (true, true, false) => {
            let stale = header.within_limits() && header_crc_ok(&h, &read_meta(geo, dev, off, &header)?);
            return Ok(if stale { Probe::End } else { Probe::TornHeader });
        }
        (true, false, true) | (false, true, true) => return Ok(Probe::TornHeader),
        _ => return Ok(Probe::End),
    }
    if !header.within_limits() || header.record_len(geo.block) > expect.room {
        return Ok(Probe::TornHeader);
    }
    let meta = read_meta(geo, dev, off, &header)?;
    if !header_crc_ok(&h, &meta) {
        return Ok(Probe::TornHeader);
    }
    if header.epoch < expect.min_epoch || header.epoch > expect.max_epoch {
        return Ok(Probe::End);
    }
    let Some(entries) = decode_meta(&meta, header.entries, header.data_len) else { return Ok(Probe::TornHeader) };
    let data = DataRef { start: off + header.data_offset(), len: header.data_len, seq: header.seq, volume: header.volume };
    Ok(Probe::Record(Scanned { header, entries, len: header.record_len(geo.block), data }))
}

/// The entry table of the record at `off` (its length already checked).
fn read_meta(geo: &Geometry, dev: &mut impl BlockDevice, off: u64, header: &Header) -> Result<Vec<u8>, DeviceError> {
    let mut meta = vec![0u8; header.meta_len as usize];
    geo.read(dev, off + HEADER_LEN as u64, &mut meta)?;
    Ok(meta)
}

/// The first frame of `data` that fails its CRC, as (index, LBA).
fn bad_frame(geo: &Geometry, dev: &mut impl BlockDevice, data: &DataRef) -> Result<Option<(u64, u64)>, DeviceError> {
    let mut buf = Vec::new();
    for i in 0..frames(data.len) {
        match data.frame(geo, dev, i, &mut buf) {
            Ok(()) => {}
            Err(FrameError::Device) => return Err(DeviceError),
            Err(FrameError::Corrupt(lba)) => return Ok(Some((i, lba))),
        }
    }
    Ok(None)
}

/// Both superblock copies: the newer valid one and how many were valid.
pub(crate) fn read_superblock(geo: &Geometry, dev: &mut impl BlockDevice) -> Result<(Superblock, u8), Error> {
    let mut sector = vec![0u8; geo.block as usize];
    let mut best: Option<Superblock> = None;
    let mut valid = 0;
    for lba in 0..SUPERBLOCK_COPIES {
        dev.read(lba, &mut sector)?;
        if let Some(sb) = Superblock::decode(&sector) {
            valid += 1;
            if best.is_none_or(|b| sb.generation > b.generation) {
                best = Some(sb);
            }
        }
    }
    best.map(|sb| (sb, valid)).ok_or(Error::Unformatted)
}

/// Writes both superblock copies (the older slot first), each followed by a flush, after a
/// flush of everything written before.
pub(crate) fn write_superblocks(geo: &Geometry, dev: &mut impl BlockDevice, sb: &mut Superblock) -> Result<(), DeviceError> {
    dev.flush()?;
    let mut sector = vec![0u8; geo.block as usize];
    for _ in 0..SUPERBLOCK_COPIES {
        sb.generation += 1;
        sb.encode(&mut sector);
        dev.write(sb.generation % SUPERBLOCK_COPIES, &sector)?;
        dev.flush()?;
    }
    Ok(())
}

/// The replayed log.
pub(crate) struct Replayed {
    /// Every live key.
    pub index: Index,
    /// Log offset after the last record.
    pub tail: u64,
    /// Sequence number of the next record.
    pub next_seq: u64,
    /// Longest record seen.
    pub max_record: u64,
    /// Records replayed.
    pub records: u64,
    /// What was discarded.
    pub discarded: Option<Discarded>,
    /// Flushed records with a damaged frame, kept.
    pub damaged: Vec<DamagedRecord>,
}

/// Replays the log from the superblock's head.
pub(crate) fn replay(geo: &Geometry, dev: &mut impl BlockDevice, sb: &Superblock) -> Result<Replayed, DeviceError> {
    let mut r = Replayed {
        index: Index::default(),
        tail: sb.head,
        next_seq: sb.head_seq,
        max_record: 0,
        records: 0,
        discarded: None,
        damaged: Vec::new(),
    };
    let mut min_epoch = 0;
    loop {
        let room = geo.capacity() - (r.tail - sb.head);
        let expect = Expect { seq: r.next_seq, min_epoch, max_epoch: sb.epoch, volume: sb.volume, room };
        let seq = r.next_seq;
        let damaged = match probe(geo, dev, r.tail, &expect)? {
            Probe::End => break,
            Probe::TornHeader => Damaged { seq, cause: Cause::TornHeader, len: geo.block, epoch: min_epoch },
            Probe::Record(rec) => match bad_frame(geo, dev, &rec.data)? {
                Some((frame, lba)) if !was_flushed(geo, dev, sb, &rec, r.tail, room)? => {
                    Damaged { seq, cause: Cause::TornFrame { frame, lba }, len: rec.len, epoch: rec.header.epoch }
                }
                found => {
                    if let Some((_, lba)) = found {
                        r.damaged.push(DamagedRecord { seq, lba });
                    }
                    r.index.apply(r.tail, rec.data, &rec.entries);
                    r.tail += rec.len;
                    r.next_seq += 1;
                    r.records += 1;
                    r.max_record = r.max_record.max(rec.len);
                    min_epoch = rec.header.epoch;
                    continue;
                }
            },
        };
        r.discarded = Some(discarded_after(geo, dev, sb, r.tail, damaged)?);
        return Ok(r);
    }
    if r.next_seq < sb.checkpoint {
        let seqs = (r.next_seq..sb.checkpoint).take(MAX_REPORTED_SEQS).collect();
        let first_lba = geo.lba(r.tail);
        r.discarded = Some(Discarded { start: r.tail, end: r.tail, first_lba, cause: Cause::Missing, seqs, flushed: true });
    }
    Ok(r)
}

/// Whether record `rec` at `off` had been flushed: the superblock's checkpoint or the next
/// record says so. Such a record with a bad frame is medium damage, not a torn write.
fn was_flushed(
    geo: &Geometry,
    dev: &mut impl BlockDevice,
    sb: &Superblock,
    rec: &Scanned,
    off: u64,
    room: u64,
) -> Result<bool, DeviceError> {
    let seq = rec.header.seq;
    if seq < sb.checkpoint {
        return Ok(true);
    }
    let expect = Expect { seq: seq + 1, min_epoch: rec.header.epoch, max_epoch: sb.epoch, volume: sb.volume, room: room - rec.len };
    Ok(matches!(probe(geo, dev, off + rec.len, &expect)?, Probe::Record(next) if next.header.durable_seq >= seq))
}

/// The damaged record a replay stopped at.
struct Damaged {
    /// Its (expected) sequence number.
    seq: u64,
    /// What is wrong with it.
    cause: Cause,
    /// Its length (one sector when the header is damaged).
    len: u64,
    /// Its epoch (the previous record's when the header is damaged).
    epoch: u64,
}

/// The report of the damaged record at `start`: it and the intact records after it that
/// the mount drops with it.
fn discarded_after(
    geo: &Geometry,
    dev: &mut impl BlockDevice,
    sb: &Superblock,
    start: u64,
    damaged: Damaged,
) -> Result<Discarded, DeviceError> {
    let Damaged { seq, cause, len, epoch } = damaged;
    let mut d = Discarded { start, end: start + len, first_lba: geo.lba(start), cause, seqs: vec![seq], flushed: seq < sb.checkpoint };
    if cause == Cause::TornHeader {
        return Ok(d);
    }
    let mut min_epoch = epoch;
    while d.seqs.len() < MAX_REPORTED_SEQS {
        let room = geo.capacity() - (d.end - sb.head);
        let expect = Expect { seq: seq + d.seqs.len() as u64, min_epoch, max_epoch: sb.epoch, volume: sb.volume, room };
        let Probe::Record(rec) = probe(geo, dev, d.end, &expect)? else { break };
        d.flushed |= rec.header.durable_seq >= seq;
        d.seqs.push(rec.header.seq);
        d.end += rec.len;
        min_epoch = rec.header.epoch;
    }
    Ok(d)
}
