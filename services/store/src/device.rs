//! The block device the store runs on: whole sectors, a volatile write cache and a flush.

/// A device failure. Every device error is retryable: the driver restarted or the device
/// was reset, and the same call may succeed later. The store never turns one into data;
/// it reports [`Error::Unavailable`](crate::Error::Unavailable) and re-mounts before its
/// next operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceError;

/// A block device with `blocks()` sectors of `block_size()` bytes each.
///
/// Writes may sit in a volatile cache: until [`flush`](BlockDevice::flush) returns, a crash
/// may lose any of them, keep any subset in any order, and tear a multi-sector write at any
/// sector (and a sector inside). Reads return the newest write, cached or not.
pub trait BlockDevice {
    /// Bytes per sector (at least 512, a multiple of 512).
    fn block_size(&self) -> usize;
    /// Number of sectors.
    fn blocks(&self) -> u64;
    /// Reads `buf.len() / block_size()` sectors starting at `lba`.
    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DeviceError>;
    /// Writes `buf.len() / block_size()` sectors starting at `lba` (into the cache).
    fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), DeviceError>;
    /// Returns once every earlier write is on the medium.
    fn flush(&mut self) -> Result<(), DeviceError>;
}
