//! The log area as a ring of bytes: log offsets grow forever, sector `offset / block`
//! lives at LBA `2 + (offset / block) % log_sectors`. Whole-sector I/O, split at the wrap.

use alloc::vec;
use alloc::vec::Vec;

use crate::device::{BlockDevice, DeviceError};
use crate::format::{FRAME, Header, SUPERBLOCK_COPIES, frame_crc};

/// Bytes a record writer collects before it writes them out (its peak buffer).
pub(crate) const WRITE_CHUNK: usize = 64 * 1024;

/// Sector size and size of the log ring.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    /// Sector size.
    pub block: u64,
    /// Sectors in the log ring.
    pub log_sectors: u64,
}

impl Geometry {
    /// Bytes in the log ring.
    pub fn capacity(&self) -> u64 {
        self.block * self.log_sectors
    }

    /// The LBA of the sector holding log offset `off`.
    pub fn lba(&self, off: u64) -> u64 {
        SUPERBLOCK_COPIES + (off / self.block) % self.log_sectors
    }

    /// Reads `buf.len()` bytes at log offset `off`.
    pub fn read(&self, dev: &mut impl BlockDevice, off: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        let start = off / self.block * self.block;
        let end = (off + buf.len() as u64).div_ceil(self.block) * self.block;
        let mut sectors = vec![0u8; (end - start) as usize];
        let mut done = 0u64;
        while start + done < end {
            let first = (start + done) / self.block;
            let run = (end - start - done).min((self.log_sectors - first % self.log_sectors) * self.block);
            dev.read(self.lba(start + done), &mut sectors[done as usize..(done + run) as usize])?;
            done += run;
        }
        let skip = (off - start) as usize;
        buf.copy_from_slice(&sectors[skip..skip + buf.len()]);
        Ok(())
    }

    /// Writes whole sectors `data` at the sector-aligned log offset `off`.
    pub fn write(&self, dev: &mut impl BlockDevice, off: u64, data: &[u8]) -> Result<(), DeviceError> {
        let mut done = 0u64;
        let len = data.len() as u64;
        while done < len {
            let first = (off + done) / self.block;
            let run = (len - done).min((self.log_sectors - first % self.log_sectors) * self.block);
            dev.write(self.lba(off + done), &data[done as usize..(done + run) as usize])?;
            done += run;
        }
        Ok(())
    }
}

/// Streams one record to the log: header and entry table, then the values in frames,
/// written [`WRITE_CHUNK`] bytes at a time.
pub(crate) struct RecordWriter {
    /// Log offset where the buffered bytes go.
    off: u64,
    buf: Vec<u8>,
    volume: u64,
    seq: u64,
    frame: u64,
    frame_fill: usize,
    frame_start: usize,
}

impl RecordWriter {
    /// A writer of the record with `header` and entry table `meta` at log offset `off`.
    pub fn new(off: u64, header: &Header, meta: &[u8]) -> Self {
        let mut buf = Vec::with_capacity(WRITE_CHUNK + FRAME as usize + 8);
        buf.extend_from_slice(&header.encode(meta));
        buf.extend_from_slice(meta);
        let frame_start = buf.len();
        RecordWriter { off, buf, volume: header.volume, seq: header.seq, frame: 0, frame_fill: 0, frame_start }
    }

    /// Appends value bytes.
    pub fn push(&mut self, geo: &Geometry, dev: &mut impl BlockDevice, mut data: &[u8]) -> Result<(), DeviceError> {
        while !data.is_empty() {
            let n = data.len().min(FRAME as usize - self.frame_fill);
            self.buf.extend_from_slice(&data[..n]);
            self.frame_fill += n;
            data = &data[n..];
            if self.frame_fill == FRAME as usize {
                self.end_frame();
                self.drain(geo, dev, false)?;
            }
        }
        Ok(())
    }

    /// Writes what is left, padded to a whole sector; returns the log offset after the record.
    pub fn finish(mut self, geo: &Geometry, dev: &mut impl BlockDevice) -> Result<u64, DeviceError> {
        if self.frame_fill > 0 {
            self.end_frame();
        }
        self.drain(geo, dev, true)?;
        Ok(self.off)
    }

    fn end_frame(&mut self) {
        let crc = frame_crc(self.volume, self.seq, self.frame, &self.buf[self.frame_start..]);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.frame += 1;
        self.frame_fill = 0;
        self.frame_start = self.buf.len();
    }

    fn drain(&mut self, geo: &Geometry, dev: &mut impl BlockDevice, all: bool) -> Result<(), DeviceError> {
        if all {
            self.buf.resize(self.buf.len().div_ceil(geo.block as usize) * geo.block as usize, 0);
        } else if self.buf.len() < WRITE_CHUNK {
            return Ok(());
        }
        let whole = self.buf.len() / geo.block as usize * geo.block as usize;
        geo.write(dev, self.off, &self.buf[..whole])?;
        self.off += whole as u64;
        self.buf.drain(..whole);
        self.frame_start -= whole.min(self.frame_start);
        Ok(())
    }
}

/// Where a record's values are: enough to read and check any frame of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DataRef {
    /// Log offset of the first frame.
    pub start: u64,
    /// Total value bytes of the record.
    pub len: u64,
    /// The record's sequence number.
    pub seq: u64,
    /// The store's volume id.
    pub volume: u64,
}

/// Why a frame could not be read.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The device failed.
    Device,
    /// The frame's CRC does not match; its first sector.
    Corrupt(u64),
}

impl From<DeviceError> for FrameError {
    fn from(_: DeviceError) -> Self {
        FrameError::Device
    }
}

impl DataRef {
    /// Reads and checks frame `index` into `buf` (resized to the frame's data).
    pub fn frame(&self, geo: &Geometry, dev: &mut impl BlockDevice, index: u64, buf: &mut Vec<u8>) -> Result<(), FrameError> {
        let len = (self.len - index * FRAME).min(FRAME) as usize;
        let off = self.start + index * (FRAME + 4);
        buf.resize(len + 4, 0);
        geo.read(dev, off, buf)?;
        let stored = u32::from_le_bytes([buf[len], buf[len + 1], buf[len + 2], buf[len + 3]]);
        buf.truncate(len);
        if frame_crc(self.volume, self.seq, index, buf) != stored {
            return Err(FrameError::Corrupt(geo.lba(off)));
        }
        Ok(())
    }

    /// Reads `out.len()` value bytes starting at data offset `at`, checking every frame
    /// touched; `scratch` holds one frame.
    pub fn read(
        &self,
        geo: &Geometry,
        dev: &mut impl BlockDevice,
        at: u64,
        out: &mut [u8],
        scratch: &mut Vec<u8>,
    ) -> Result<(), FrameError> {
        let mut done = 0usize;
        while done < out.len() {
            let pos = at + done as u64;
            self.frame(geo, dev, pos / FRAME, scratch)?;
            let inner = (pos % FRAME) as usize;
            let n = (scratch.len() - inner).min(out.len() - done);
            out[done..done + n].copy_from_slice(&scratch[inner..inner + n]);
            done += n;
        }
        Ok(())
    }
}
