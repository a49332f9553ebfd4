//! The store: mount, the client operations, quotas and appends.

use alloc::vec;
use alloc::vec::Vec;

use crate::compact::Cleaner;
use crate::device::BlockDevice;
use crate::error::{Corruption, Error, Limit};
use crate::format::{
    Entry, FRAME, Header, MAX_BATCH_OPS, MAX_KEY_LEN, MAX_VALUE_LEN, Op, SUPERBLOCK_COPIES, Superblock, encode_meta, record_len,
};
use crate::index::{Index, Loc, Usage};
use crate::log::{DataRef, FrameError, Geometry, RecordWriter};
use crate::recovery::{RecoveryReport, read_superblock, replay, write_superblocks};

/// Fewest log sectors a device must offer.
const MIN_LOG_SECTORS: u64 = 16;
/// Largest sector size accepted.
const MAX_BLOCK: usize = 64 * 1024;

/// When a mutating operation returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// After the write is on the medium (written, then flushed).
    Durable,
    /// After the write is in the device's cache: a crash may lose it (and every buffered
    /// write after it), but never keeps part of it.
    Buffered,
}

/// The quotas of one namespace, given at mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamespaceConfig {
    /// The namespace id (the domain maps a client badge to it).
    pub id: u32,
    /// Most bytes of keys and values together.
    pub max_bytes: u64,
    /// Most keys.
    pub max_keys: u64,
}

/// One operation of an atomic batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchOp<'a> {
    /// Sets `key` to `value`.
    Put {
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
    },
    /// Removes `key` (nothing happens when it does not exist).
    Delete {
        /// The key.
        key: &'a [u8],
    },
}

/// A failed mount or format, with the device handed back.
#[derive(Debug)]
pub struct MountFailure<D> {
    /// Why.
    pub error: Error,
    /// The device.
    pub device: D,
}

/// Space figures of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Space {
    /// Bytes of the log ring.
    pub capacity: u64,
    /// Bytes between head and tail (live and dead records).
    pub used: u64,
}

/// The persistent object store over a block device.
pub struct Store<D: BlockDevice> {
    pub(crate) dev: D,
    pub(crate) geo: Geometry,
    namespaces: Vec<NamespaceConfig>,
    pub(crate) sb: Superblock,
    pub(crate) tail: u64,
    pub(crate) next_seq: u64,
    pub(crate) durable_seq: u64,
    pub(crate) max_record: u64,
    pub(crate) index: Index,
    pub(crate) cleaner: Option<Cleaner>,
    poisoned: bool,
    remount_report: Option<RecoveryReport>,
}

fn geometry(dev: &impl BlockDevice) -> Result<Geometry, Error> {
    let block = dev.block_size();
    if block < 512 || block % 512 != 0 || block > MAX_BLOCK || dev.blocks() < SUPERBLOCK_COPIES + MIN_LOG_SECTORS {
        return Err(Error::BadGeometry);
    }
    Ok(Geometry { block: block as u64, log_sectors: dev.blocks() - SUPERBLOCK_COPIES })
}

fn check_key(key: &[u8]) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_KEY_LEN { Err(Error::InvalidKey) } else { Ok(()) }
}

/// A store's state as loaded from the device.
struct Loaded {
    geo: Geometry,
    sb: Superblock,
    index: Index,
    tail: u64,
    next_seq: u64,
    max_record: u64,
}

/// Reads the superblocks, replays the log and starts a new epoch (both superblock copies
/// rewritten, durably, before anything else is written).
fn load(dev: &mut impl BlockDevice) -> Result<(Loaded, RecoveryReport), Error> {
    let geo = geometry(dev)?;
    let (mut sb, copies) = read_superblock(&geo, dev)?;
    if sb.block_size as u64 != geo.block || sb.blocks != dev.blocks() || sb.head_seq == 0 {
        return Err(Error::BadGeometry);
    }
    let r = replay(&geo, dev, &sb)?;
    let report = RecoveryReport {
        generation: sb.generation,
        superblock_copies_valid: copies,
        head: sb.head,
        tail: r.tail,
        records: r.records,
        next_seq: r.next_seq,
        discarded: r.discarded,
        damaged: r.damaged,
    };
    sb.epoch += 1;
    sb.checkpoint = r.next_seq;
    write_superblocks(&geo, dev, &mut sb)?;
    let loaded = Loaded { geo, sb, index: r.index, tail: r.tail, next_seq: r.next_seq, max_record: r.max_record };
    Ok((loaded, report))
}

impl<D: BlockDevice> Store<D> {
    /// Writes an empty store to `dev` (both superblocks, durably) and mounts it. `volume`
    /// must differ from the volume id of any earlier store on this device (a timestamp or
    /// a random number): records of an earlier store are then never mistaken for ours.
    pub fn format(mut dev: D, volume: u64, namespaces: &[NamespaceConfig]) -> Result<Self, MountFailure<D>> {
        let result = geometry(&dev).and_then(|geo| {
            let mut sb = Superblock {
                block_size: geo.block as u32,
                blocks: dev.blocks(),
                generation: 0,
                epoch: 1,
                head: 0,
                head_seq: 1,
                volume,
                checkpoint: 1,
            };
            Ok(write_superblocks(&geo, &mut dev, &mut sb)?)
        });
        match result {
            Ok(()) => Self::mount(dev, namespaces).map(|(store, _)| store),
            Err(error) => Err(MountFailure { error, device: dev }),
        }
    }

    /// Mounts the store on `dev`: replays the log, discarding a torn tail, and says what
    /// it found. Keys of namespaces missing from `namespaces` stay on disk, unreachable.
    pub fn mount(mut dev: D, namespaces: &[NamespaceConfig]) -> Result<(Self, RecoveryReport), MountFailure<D>> {
        match load(&mut dev) {
            Ok((l, report)) => {
                let store = Store {
                    dev,
                    geo: l.geo,
                    namespaces: namespaces.to_vec(),
                    sb: l.sb,
                    tail: l.tail,
                    next_seq: l.next_seq,
                    durable_seq: l.next_seq - 1,
                    max_record: l.max_record,
                    index: l.index,
                    cleaner: None,
                    poisoned: false,
                    remount_report: None,
                };
                Ok((store, report))
            }
            Err(error) => Err(MountFailure { error, device: dev }),
        }
    }

    /// The device back (the store's state is on it).
    pub fn into_device(self) -> D {
        self.dev
    }

    /// The device, for fault injection in tests and harnesses.
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    /// The report of the last re-mount the store did by itself after a device error, once.
    pub fn take_remount_report(&mut self) -> Option<RecoveryReport> {
        self.remount_report.take()
    }

    /// The quotas of `namespace`, if it was configured at mount.
    pub fn namespace(&self, namespace: u32) -> Option<NamespaceConfig> {
        self.config(namespace).ok()
    }

    /// Space figures of the log.
    pub fn space(&self) -> Space {
        Space { capacity: self.geo.capacity(), used: self.tail - self.sb.head }
    }

    /// Reads the whole value of `key`.
    pub fn get(&mut self, namespace: u32, key: &[u8]) -> Result<Vec<u8>, Error> {
        self.run(|s| {
            let loc = s.lookup(namespace, key)?;
            let mut value = vec![0u8; loc.len as usize];
            s.read_loc(namespace, key, &loc, 0, &mut value)?;
            Ok(value)
        })
    }

    /// Reads value bytes of `key` from `offset` into `buf`; returns how many (fewer than
    /// `buf.len()` only at the end of the value). Memory: one 4 KiB frame.
    pub fn read(&mut self, namespace: u32, key: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
        self.run(|s| {
            let loc = s.lookup(namespace, key)?;
            let n = (loc.len.saturating_sub(offset)).min(buf.len() as u64) as usize;
            s.read_loc(namespace, key, &loc, offset, &mut buf[..n])?;
            Ok(n)
        })
    }

    /// Length of the value of `key`.
    pub fn value_len(&mut self, namespace: u32, key: &[u8]) -> Result<u64, Error> {
        self.run(|s| Ok(s.lookup(namespace, key)?.len))
    }

    /// Up to `max` keys of `namespace` that start with `prefix`, in byte order, after
    /// `after` when given (to page through a long list).
    pub fn list(&mut self, namespace: u32, prefix: &[u8], after: Option<&[u8]>, max: usize) -> Result<Vec<Vec<u8>>, Error> {
        self.run(|s| {
            s.config(namespace)?;
            Ok(s.index.list(namespace, prefix, after, max))
        })
    }

    /// What `namespace` uses.
    pub fn usage(&mut self, namespace: u32) -> Result<Usage, Error> {
        self.run(|s| {
            s.config(namespace)?;
            Ok(s.index.usage(namespace))
        })
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, namespace: u32, key: &[u8], value: &[u8], durability: Durability) -> Result<(), Error> {
        self.batch(namespace, &[BatchOp::Put { key, value }], durability)
    }

    /// Removes `key`; [`Error::NotFound`] (and nothing written) when it does not exist.
    pub fn delete(&mut self, namespace: u32, key: &[u8], durability: Durability) -> Result<(), Error> {
        self.run(|s| {
            s.lookup(namespace, key)?;
            s.write_batch(namespace, &[BatchOp::Delete { key }], durability)
        })
    }

    /// Applies `ops` in order, all or nothing, also across a crash. At most
    /// [`MAX_BATCH_OPS`] operations whose values add up to at most [`MAX_VALUE_LEN`].
    pub fn batch(&mut self, namespace: u32, ops: &[BatchOp<'_>], durability: Durability) -> Result<(), Error> {
        self.run(|s| s.write_batch(namespace, ops, durability))
    }

    /// Makes every buffered write durable.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.run(|s| {
            s.dev.flush()?;
            s.durable_seq = s.next_seq - 1;
            Ok(())
        })
    }

    /// Runs `op` on a mounted store: re-mounts first after a device error, and marks the
    /// store for a re-mount when `op` meets one (its in-memory state may then be behind
    /// what reached the device).
    pub(crate) fn run<T>(&mut self, op: impl FnOnce(&mut Self) -> Result<T, Error>) -> Result<T, Error> {
        if self.poisoned {
            let (l, report) = load(&mut self.dev)?;
            self.geo = l.geo;
            self.sb = l.sb;
            self.index = l.index;
            self.tail = l.tail;
            self.next_seq = l.next_seq;
            self.durable_seq = l.next_seq - 1;
            self.max_record = l.max_record;
            self.cleaner = None;
            self.poisoned = false;
            self.remount_report = Some(report);
        }
        let result = op(self);
        if matches!(result, Err(Error::Unavailable)) {
            self.poisoned = true;
        }
        result
    }

    fn config(&self, namespace: u32) -> Result<NamespaceConfig, Error> {
        self.namespaces.iter().find(|n| n.id == namespace).copied().ok_or(Error::UnknownNamespace(namespace))
    }

    fn lookup(&self, namespace: u32, key: &[u8]) -> Result<Loc, Error> {
        self.config(namespace)?;
        check_key(key)?;
        self.index.get(namespace, key).ok_or(Error::NotFound)
    }

    /// Reads value bytes of `loc` (the value of `key`) from `offset` into `out`.
    pub(crate) fn read_loc(&mut self, namespace: u32, key: &[u8], loc: &Loc, offset: u64, out: &mut [u8]) -> Result<(), Error> {
        let mut scratch = Vec::with_capacity(FRAME as usize);
        loc.data.read(&self.geo, &mut self.dev, loc.value_off + offset, out, &mut scratch).map_err(|e| match e {
            FrameError::Device => Error::Unavailable,
            FrameError::Corrupt(lba) => Error::Corrupt(Corruption::new(namespace, key, lba)),
        })
    }

    /// Checks limits and quotas of a batch, then appends it as one record.
    fn write_batch(&mut self, namespace: u32, ops: &[BatchOp<'_>], durability: Durability) -> Result<(), Error> {
        let config = self.config(namespace)?;
        if ops.len() > MAX_BATCH_OPS {
            return Err(Error::TooLarge);
        }
        let mut entries = Vec::with_capacity(ops.len());
        let mut values: Vec<&[u8]> = Vec::with_capacity(ops.len());
        for op in ops {
            let (op, key, value) = match *op {
                BatchOp::Put { key, value } => (Op::Put, key, value),
                BatchOp::Delete { key } => (Op::Delete, key, &[][..]),
            };
            check_key(key)?;
            entries.push(Entry { op, namespace, key: key.to_vec(), value_len: value.len() as u64 });
            values.push(value);
        }
        if values.iter().map(|v| v.len() as u64).sum::<u64>() > MAX_VALUE_LEN {
            return Err(Error::TooLarge);
        }
        if entries.is_empty() {
            return Ok(());
        }
        self.check_quota(&config, &entries)?;
        self.append(&entries, &values, durability)
    }

    /// What the namespace would use after `entries`, against its quotas.
    fn check_quota(&self, config: &NamespaceConfig, entries: &[Entry]) -> Result<(), Error> {
        let mut after: Vec<(&[u8], Option<u64>)> = Vec::new();
        let mut usage = self.index.usage(config.id);
        for e in entries {
            let before = match after.iter().rev().find(|(k, _)| *k == e.key.as_slice()) {
                Some((_, len)) => *len,
                None => self.index.get(config.id, &e.key).map(|l| l.len),
            };
            let key_len = e.key.len() as u64;
            if let Some(len) = before {
                usage.bytes -= key_len + len;
                usage.keys -= 1;
            }
            let now = (e.op == Op::Put).then_some(e.value_len);
            if let Some(len) = now {
                usage.bytes += key_len + len;
                usage.keys += 1;
            }
            after.push((&e.key, now));
        }
        let exceeded = |limit, max, would_use| Err(Error::QuotaExceeded { namespace: config.id, limit, max, would_use });
        let before = self.index.usage(config.id);
        if usage.keys > config.max_keys && usage.keys > before.keys {
            return exceeded(Limit::Keys, config.max_keys, usage.keys);
        }
        if usage.bytes > config.max_bytes && usage.bytes > before.bytes {
            return exceeded(Limit::Bytes, config.max_bytes, usage.bytes);
        }
        Ok(())
    }

    /// Free bytes of the log ring.
    pub(crate) fn free(&self) -> u64 {
        self.geo.capacity() - (self.tail - self.sb.head)
    }

    /// Appends one record of `entries` with `values` and applies it to the index.
    fn append(&mut self, entries: &[Entry], values: &[&[u8]], durability: Durability) -> Result<(), Error> {
        let meta = encode_meta(entries);
        let data_len = values.iter().map(|v| v.len() as u64).sum();
        self.make_room(record_len(meta.len() as u64, data_len, self.geo.block))?;
        let header = self.next_header(entries.len(), meta.len(), data_len);
        let mut w = RecordWriter::new(self.tail, &header, &meta);
        for v in values {
            w.push(&self.geo, &mut self.dev, v)?;
        }
        w.finish(&self.geo, &mut self.dev)?;
        if durability == Durability::Durable {
            self.dev.flush()?;
        }
        self.applied(header, entries, durability == Durability::Durable);
        Ok(())
    }

    /// The header of the next record.
    pub(crate) fn next_header(&self, entries: usize, meta_len: usize, data_len: u64) -> Header {
        Header {
            entries: entries as u16,
            seq: self.next_seq,
            epoch: self.sb.epoch,
            durable_seq: self.durable_seq,
            volume: self.sb.volume,
            data_len,
            meta_len: meta_len as u32,
        }
    }

    /// Records that the record with `header` was written at the tail.
    pub(crate) fn applied(&mut self, header: Header, entries: &[Entry], durable: bool) {
        let len = header.record_len(self.geo.block);
        let data = DataRef { start: self.tail + header.data_offset(), len: header.data_len, seq: header.seq, volume: header.volume };
        self.index.apply(self.tail, data, entries);
        self.tail += len;
        self.next_seq += 1;
        self.max_record = self.max_record.max(len);
        if durable {
            self.durable_seq = header.seq;
        }
    }
}
