//! Compaction: the cleaner walks the log from its head, copies the records' live values to
//! the tail and then moves the head past them. The head moves only by a superblock write
//! after a flush, so the copies are on the medium before the old records stop counting;
//! a crash in between leaves both, and the copies are duplicates with the same values.

use alloc::vec;
use alloc::vec::Vec;

use crate::device::BlockDevice;
use crate::error::{Corruption, Error};
use crate::format::{Entry, FRAME, Op, encode_meta, record_len};
use crate::index::Loc;
use crate::log::{FrameError, RecordWriter};
use crate::recovery::{Expect, Probe, Scanned, probe, write_superblocks};
use crate::store::Store;

/// Log bytes one automatic step may clean when free space runs low.
const AUTO_BUDGET: u64 = 64 * 1024;

/// Where the cleaner is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cleaner {
    /// Log offset of the next record to clean.
    cursor: u64,
    /// Its sequence number.
    seq: u64,
    /// The tail when this pass started: the pass ends there.
    pass_end: u64,
}

/// What one compaction step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactProgress {
    /// Log bytes released (the head moved by this much).
    pub released: u64,
    /// Whether the pass is complete (every record that was in the log when it started has
    /// been cleaned); the next step starts a new pass.
    pub pass_done: bool,
}

impl<D: BlockDevice> Store<D> {
    /// Cleans at most about `budget` bytes of log (at least one record), copying live
    /// values to the tail, then releases the cleaned records durably. A domain calls it
    /// between requests; writes also call it when free space runs low.
    pub fn compact_step(&mut self, budget: u64) -> Result<CompactProgress, Error> {
        self.run(|s| s.step(budget))
    }

    /// Runs a whole compaction pass; returns the bytes released.
    pub fn compact(&mut self) -> Result<u64, Error> {
        self.run(|s| {
            let mut released = 0;
            loop {
                let p = s.step(u64::MAX)?;
                released += p.released;
                if p.pass_done {
                    return Ok(released);
                }
            }
        })
    }

    /// Makes room for a record of `len` bytes, keeping enough free for the cleaner to copy
    /// the longest record in the log: a bounded step when space is low, whole passes when
    /// the record does not fit. Compaction errors become [`Error::NoSpace`] here (they may
    /// name another namespace's key).
    pub(crate) fn make_room(&mut self, len: u64) -> Result<(), Error> {
        let need = len + self.max_record.max(len);
        if need > self.geo.capacity() {
            return Err(Error::NoSpace);
        }
        let quiet = |r: Result<CompactProgress, Error>| match r {
            Err(Error::Unavailable) => Err(Error::Unavailable),
            _ => Ok(()),
        };
        if self.free() < need + self.geo.capacity() / 4 {
            quiet(self.step(AUTO_BUDGET))?;
        }
        for _ in 0..2 {
            if self.free() >= need {
                return Ok(());
            }
            quiet(self.step(u64::MAX))?;
        }
        if self.free() >= need { Ok(()) } else { Err(Error::NoSpace) }
    }

    /// One step: clean up to `budget` bytes, then commit the new head.
    fn step(&mut self, budget: u64) -> Result<CompactProgress, Error> {
        let mut c = self.cleaner.take().unwrap_or(Cleaner { cursor: self.sb.head, seq: self.sb.head_seq, pass_end: self.tail });
        let head = self.sb.head;
        let cleaned = self.clean(&mut c, budget);
        if cleaned == Err(Error::Unavailable) {
            return Err(Error::Unavailable);
        }
        if c.cursor > self.sb.head {
            self.commit_head(&c)?;
        }
        let pass_done = c.cursor >= c.pass_end;
        if !pass_done {
            self.cleaner = Some(c);
        }
        cleaned?;
        Ok(CompactProgress { released: self.sb.head - head, pass_done })
    }

    /// Cleans records from the cursor until `budget` bytes are done or the pass ends.
    fn clean(&mut self, c: &mut Cleaner, budget: u64) -> Result<(), Error> {
        let mut done = 0;
        while done < budget && c.cursor < c.pass_end {
            let expect = Expect { seq: c.seq, min_epoch: 0, max_epoch: self.sb.epoch, volume: self.sb.volume, room: self.tail - c.cursor };
            let Probe::Record(rec) = probe(&self.geo, &mut self.dev, c.cursor, &expect)? else {
                return Err(Error::CorruptLog { lba: self.geo.lba(c.cursor) });
            };
            // The last entry of a key in the record is the one the index can point to.
            let mut live: Vec<(&Entry, Loc)> = Vec::new();
            for (i, e) in rec.entries.iter().enumerate().rev() {
                let later = rec.entries[i + 1..].iter().any(|l| l.namespace == e.namespace && l.key == e.key);
                if e.op == Op::Put && !later {
                    if let Some(loc) = self.index.get(e.namespace, &e.key).filter(|l| l.record == c.cursor) {
                        live.push((e, loc));
                    }
                }
            }
            live.reverse();
            if !live.is_empty() {
                self.copy(c, &rec, &live)?;
            }
            c.cursor += rec.len;
            c.seq += 1;
            done += rec.len;
        }
        Ok(())
    }

    /// Appends one record with the `live` values of `rec`, read and checked frame by frame.
    fn copy(&mut self, c: &Cleaner, rec: &Scanned, live: &[(&Entry, Loc)]) -> Result<(), Error> {
        let entries: Vec<Entry> = live.iter().map(|(e, _)| (*e).clone()).collect();
        let meta = encode_meta(&entries);
        let data_len = entries.iter().map(|e| e.value_len).sum();
        let len = record_len(meta.len() as u64, data_len, self.geo.block);
        if self.free() < len {
            self.commit_head(c)?;
            if self.free() < len {
                return Err(Error::NoSpace);
            }
        }
        debug_assert!(len <= rec.len);
        let header = self.next_header(entries.len(), meta.len(), data_len);
        let mut w = RecordWriter::new(self.tail, &header, &meta);
        let mut chunk = vec![0u8; FRAME as usize];
        let mut scratch = Vec::with_capacity(FRAME as usize);
        for (e, loc) in live {
            let mut at = 0;
            while at < loc.len {
                let n = (loc.len - at).min(FRAME) as usize;
                loc.data.read(&self.geo, &mut self.dev, loc.value_off + at, &mut chunk[..n], &mut scratch).map_err(|err| match err {
                    FrameError::Device => Error::Unavailable,
                    FrameError::Corrupt(lba) => Error::Corrupt(Corruption::new(e.namespace, &e.key, lba)),
                })?;
                w.push(&self.geo, &mut self.dev, &chunk[..n])?;
                at += n as u64;
            }
        }
        w.finish(&self.geo, &mut self.dev)?;
        self.applied(header, &entries, false);
        Ok(())
    }

    /// Flushes the copies, then moves the head to the cursor in both superblock copies.
    fn commit_head(&mut self, c: &Cleaner) -> Result<(), Error> {
        let mut sb = self.sb;
        sb.head = c.cursor;
        sb.head_seq = c.seq;
        sb.checkpoint = self.next_seq;
        write_superblocks(&self.geo, &mut self.dev, &mut sb)?;
        self.sb = sb;
        self.durable_seq = self.next_seq - 1;
        Ok(())
    }
}
