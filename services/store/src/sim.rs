//! An in-memory block device with a volatile write cache and fault injection, for the
//! store's tests and the store domain's torture harness (cargo feature `sim`).
//!
//! Writes go to the cache as one pending write per sector, in order. [`SimDevice::crash`]
//! ends the power cycle: a [`CrashPlan`] says which pending sector writes reach the medium
//! and in which order (any subset: lost writes, reordering, a multi-sector write torn at
//! a sector), and optionally one sector that reaches it only partly (a torn sector).

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use crate::device::{BlockDevice, DeviceError};

/// One sector write still in the cache.
#[derive(Clone, Debug)]
struct Pending {
    lba: u64,
    data: Vec<u8>,
}

/// A sector that reaches the medium only in part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornSector {
    /// Index of the pending write.
    pub pending: usize,
    /// Leading bytes of it that reach the medium.
    pub bytes: usize,
}

/// What reaches the medium at a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrashPlan {
    /// Indices of the pending writes that reach the medium, in the order they do.
    pub keep: Vec<usize>,
    /// One more pending write that reaches it partly, after those.
    pub torn: Option<TornSector>,
}

impl CrashPlan {
    /// Every pending write is lost.
    pub fn lose_all() -> Self {
        CrashPlan::default()
    }

    /// The first `n` pending writes reach the medium, in order.
    pub fn prefix(n: usize) -> Self {
        CrashPlan { keep: (0..n).collect(), torn: None }
    }
}

/// The in-memory device.
#[derive(Clone, Debug)]
pub struct SimDevice {
    block: usize,
    blocks: u64,
    medium: Vec<u8>,
    pending: Vec<Pending>,
    cache: BTreeMap<u64, usize>,
    write_calls: u64,
    power_off_after: Option<u64>,
    powered_off: bool,
    failing_calls: u32,
    fail_one_after: Option<u64>,
}

impl SimDevice {
    /// A zeroed device of `blocks` sectors of `block_size` bytes.
    pub fn new(block_size: usize, blocks: u64) -> Self {
        SimDevice {
            block: block_size,
            blocks,
            medium: vec![0; block_size * blocks as usize],
            pending: Vec::new(),
            cache: BTreeMap::new(),
            write_calls: 0,
            power_off_after: None,
            powered_off: false,
            failing_calls: 0,
            fail_one_after: None,
        }
    }

    /// Sector writes in the cache, not yet on the medium.
    pub fn pending_writes(&self) -> usize {
        self.pending.len()
    }

    /// Write calls so far.
    pub fn write_calls(&self) -> u64 {
        self.write_calls
    }

    /// After `n` more write calls the power fails: that call and every later one fails
    /// until [`crash`](Self::crash).
    pub fn power_off_after_writes(&mut self, n: u64) {
        self.power_off_after = Some(n);
    }

    /// Whether the power has failed.
    pub fn is_powered_off(&self) -> bool {
        self.powered_off
    }

    /// The next `n` calls fail with a (transient) device error; the cache is kept.
    pub fn fail_next_calls(&mut self, n: u32) {
        self.failing_calls = n;
    }

    /// The call after `n` more calls (reads, writes, flushes) fails with a transient
    /// device error; the cache is kept.
    pub fn fail_one_call_after(&mut self, n: u64) {
        self.fail_one_after = Some(n);
    }

    /// Ends the power cycle: the writes `plan` names reach the medium, the rest of the
    /// cache is lost, and the device works again.
    pub fn crash(&mut self, plan: &CrashPlan) {
        let pending = core::mem::take(&mut self.pending);
        for &i in &plan.keep {
            if let Some(p) = pending.get(i) {
                self.put(p.lba, &p.data);
            }
        }
        if let Some(t) = plan.torn
            && let Some(p) = pending.get(t.pending)
        {
            let at = p.lba as usize * self.block;
            let n = t.bytes.min(self.block);
            self.medium[at..at + n].copy_from_slice(&p.data[..n]);
        }
        self.cache.clear();
        self.powered_off = false;
        self.power_off_after = None;
        self.failing_calls = 0;
        self.fail_one_after = None;
    }

    /// Flips bit `bit` of sector `lba` on the medium.
    pub fn flip_bit(&mut self, lba: u64, bit: usize) {
        self.medium[lba as usize * self.block + bit / 8] ^= 1 << (bit % 8);
    }

    fn put(&mut self, lba: u64, data: &[u8]) {
        let at = lba as usize * self.block;
        self.medium[at..at + self.block].copy_from_slice(data);
    }

    fn check(&mut self, lba: u64, len: usize) -> Result<(), DeviceError> {
        if self.powered_off {
            return Err(DeviceError);
        }
        if self.failing_calls > 0 {
            self.failing_calls -= 1;
            return Err(DeviceError);
        }
        if let Some(n) = self.fail_one_after {
            self.fail_one_after = n.checked_sub(1);
            if n == 0 {
                return Err(DeviceError);
            }
        }
        assert!(len % self.block == 0 && lba + (len / self.block) as u64 <= self.blocks, "access outside the device");
        Ok(())
    }
}

impl BlockDevice for SimDevice {
    fn block_size(&self) -> usize {
        self.block
    }

    fn blocks(&self) -> u64 {
        self.blocks
    }

    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        self.check(lba, buf.len())?;
        for (i, sector) in buf.chunks_mut(self.block).enumerate() {
            let l = lba + i as u64;
            match self.cache.get(&l) {
                Some(&p) => sector.copy_from_slice(&self.pending[p].data),
                None => sector.copy_from_slice(&self.medium[l as usize * self.block..(l as usize + 1) * self.block]),
            }
        }
        Ok(())
    }

    fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), DeviceError> {
        self.check(lba, buf.len())?;
        if let Some(n) = self.power_off_after {
            if n == 0 {
                self.powered_off = true;
                return Err(DeviceError);
            }
            self.power_off_after = Some(n - 1);
        }
        self.write_calls += 1;
        for (i, sector) in buf.chunks(self.block).enumerate() {
            let l = lba + i as u64;
            self.cache.insert(l, self.pending.len());
            self.pending.push(Pending { lba: l, data: sector.to_vec() });
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        self.check(0, 0)?;
        for p in core::mem::take(&mut self.pending) {
            self.put(p.lba, &p.data);
        }
        self.cache.clear();
        Ok(())
    }
}
