//! The block protocol the `nvme` domain serves on its endpoint (named "block" in the
//! description), and the checks every request passes before it reaches the device.
//!
//! Data travels through a shared region mapped into both the client and the driver (named
//! "block-buffer"); requests name byte offsets into it. All sizes and offsets are bytes.
//!
//! | label | request words | success reply (label 0) |
//! |---|---|---|
//! | [`READ`] | disk offset, length, buffer offset | length |
//! | [`WRITE`] | disk offset, length, buffer offset | length |
//! | [`FLUSH`] | — | — |
//! | [`CAPACITY`] | — | disk size, block size, buffer size |
//!
//! Disk offset, length and buffer offset must be multiples of the block size and the length
//! non-zero. A failed request is answered with one of the [`BlockError`] labels and two
//! detail words (see each variant).

/// Request label: read from the disk into the buffer.
pub const READ: u64 = 1;
/// Request label: write the buffer to the disk.
pub const WRITE: u64 = 2;
/// Request label: make every completed write durable.
pub const FLUSH: u64 = 3;
/// Request label: disk size, block size, buffer size.
pub const CAPACITY: u64 = 4;

/// Why a request was refused; the discriminant is the reply label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum BlockError {
    /// Unknown label or too few words. Details: the label, the word count.
    BadRequest = 1,
    /// An offset or the length is not a multiple of the block size, or the length is zero.
    /// Details: the offending value, the block size.
    Misaligned = 2,
    /// The range reaches past the end of the disk. Details: end of the requested range,
    /// disk size.
    OutOfRange = 3,
    /// The range reaches past the end of the shared buffer. Details: end of the requested
    /// buffer range, buffer size.
    BufferOverflow = 4,
    /// The controller reported an error. Details: NVMe status field, first block of the
    /// failed command.
    Device = 5,
}

impl BlockError {
    /// The error for reply label `label`, if it is one.
    pub fn from_label(label: u64) -> Option<BlockError> {
        [BlockError::BadRequest, BlockError::Misaligned, BlockError::OutOfRange, BlockError::BufferOverflow, BlockError::Device]
            .into_iter()
            .find(|error| *error as u64 == label)
    }
}

/// Geometry a request is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Logical blocks on the disk.
    pub blocks: u64,
    /// Logical block size in bytes.
    pub block_size: u64,
    /// Size of the shared buffer in bytes.
    pub buffer_size: u64,
}

/// A checked read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// First logical block.
    pub lba: u64,
    /// Number of logical blocks.
    pub blocks: u64,
    /// Byte offset into the shared buffer.
    pub buffer_offset: u64,
}

impl Geometry {
    /// Disk size in bytes.
    pub fn disk_size(&self) -> u64 {
        self.blocks * self.block_size
    }

    /// Checks a read or write of `length` bytes at `disk_offset` through the buffer at
    /// `buffer_offset`. On refusal returns the error and its two detail words.
    pub fn check(&self, disk_offset: u64, length: u64, buffer_offset: u64) -> Result<Transfer, (BlockError, [u64; 2])> {
        for value in [disk_offset, length, buffer_offset] {
            if value % self.block_size != 0 {
                return Err((BlockError::Misaligned, [value, self.block_size]));
            }
        }
        if length == 0 {
            return Err((BlockError::Misaligned, [0, self.block_size]));
        }
        let end = disk_offset.saturating_add(length);
        if end > self.disk_size() {
            return Err((BlockError::OutOfRange, [end, self.disk_size()]));
        }
        let buffer_end = buffer_offset.saturating_add(length);
        if buffer_end > self.buffer_size {
            return Err((BlockError::BufferOverflow, [buffer_end, self.buffer_size]));
        }
        Ok(Transfer { lba: disk_offset / self.block_size, blocks: length / self.block_size, buffer_offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISK: Geometry = Geometry { blocks: 8192, block_size: 512, buffer_size: 0x1_0000 };

    #[test]
    fn accepted_requests_become_block_ranges() {
        assert_eq!(DISK.check(0, 512, 0), Ok(Transfer { lba: 0, blocks: 1, buffer_offset: 0 }));
        assert_eq!(DISK.check(8191 * 512, 512, 0x200), Ok(Transfer { lba: 8191, blocks: 1, buffer_offset: 0x200 }));
        assert_eq!(DISK.check(1000 * 512, 0x1_0000, 0), Ok(Transfer { lba: 1000, blocks: 128, buffer_offset: 0 }));
    }

    #[test]
    fn refusals_name_the_problem() {
        assert_eq!(DISK.check(513, 512, 0), Err((BlockError::Misaligned, [513, 512])));
        assert_eq!(DISK.check(0, 100, 0), Err((BlockError::Misaligned, [100, 512])));
        assert_eq!(DISK.check(0, 512, 8), Err((BlockError::Misaligned, [8, 512])));
        assert_eq!(DISK.check(0, 0, 0), Err((BlockError::Misaligned, [0, 512])));
        assert_eq!(DISK.check(8192 * 512, 512, 0), Err((BlockError::OutOfRange, [8193 * 512, 8192 * 512])));
        assert_eq!(DISK.check(8191 * 512, 1024, 0), Err((BlockError::OutOfRange, [8193 * 512, 8192 * 512])));
        assert_eq!(DISK.check(u64::MAX - 511, 512, 0), Err((BlockError::OutOfRange, [u64::MAX, 8192 * 512])));
        assert_eq!(DISK.check(0, 1024, 0xFE00), Err((BlockError::BufferOverflow, [0x1_0200, 0x1_0000])));
    }

    #[test]
    fn labels_round_trip() {
        for label in 1..=5 {
            assert_eq!(BlockError::from_label(label).map(|e| e as u64), Some(label));
        }
        assert_eq!(BlockError::from_label(0), None);
        assert_eq!(BlockError::from_label(6), None);
    }
}
