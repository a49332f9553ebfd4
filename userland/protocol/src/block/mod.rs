//! The block protocol the `nvme` domain serves on its endpoint (named "block" in the
//! description), in the tileos message convention (`tileos_protocol`: typed requests and
//! responses, postcard-encoded), and the checks every request passes before it reaches the
//! device.
//!
//! Data travels through a shared region mapped into both the client and the driver (named
//! "block-buffer"); requests name byte offsets into it. All sizes and offsets are bytes.
//! Disk offset, length and buffer offset must be multiples of the block size and the length
//! non-zero; a request that breaks a rule is answered with [`Response::Refused`] naming the
//! rule. A message that is no valid [`Request`] gets the convention's error reply.

use serde::{Deserialize, Serialize};

/// The block protocol.
pub struct Block;

impl tileos_protocol::Protocol for Block {
    const NAME: &'static str = "block";
    type Request = Request;
    type Response = Response;
}

/// What a client asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Read `length` bytes at `disk_offset` into the buffer at `buffer_offset`.
    Read {
        /// Byte offset on the disk.
        disk_offset: u64,
        /// Bytes to transfer.
        length: u64,
        /// Byte offset in the shared buffer.
        buffer_offset: u64,
    },
    /// Write `length` bytes from the buffer at `buffer_offset` to `disk_offset`.
    Write {
        /// Byte offset on the disk.
        disk_offset: u64,
        /// Bytes to transfer.
        length: u64,
        /// Byte offset in the shared buffer.
        buffer_offset: u64,
    },
    /// Make every completed write durable.
    Flush,
    /// Disk size, block size and buffer size.
    Capacity,
}

/// What the driver answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A read or write completed: `length` bytes moved.
    Transferred {
        /// Bytes moved.
        length: u64,
    },
    /// A flush completed.
    Flushed,
    /// The answer to [`Request::Capacity`].
    Capacity {
        /// Disk size in bytes.
        disk_size: u64,
        /// Logical block size in bytes.
        block_size: u64,
        /// Size of the shared buffer in bytes.
        buffer_size: u64,
    },
    /// The request was not carried out.
    Refused(Refusal),
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// An offset or the length is not a multiple of the block size, or the length is zero.
    Misaligned {
        /// The offending offset or length.
        value: u64,
        /// The block size.
        block_size: u64,
    },
    /// The range reaches past the end of the disk.
    OutOfRange {
        /// End of the requested range.
        end: u64,
        /// Disk size.
        disk_size: u64,
    },
    /// The range reaches past the end of the shared buffer.
    BufferOverflow {
        /// End of the requested range in the buffer.
        end: u64,
        /// Buffer size.
        buffer_size: u64,
    },
    /// The controller failed the command.
    Device {
        /// NVMe status field (status code and type), or 0xFFFF if the driver lost track of
        /// the command.
        status: u16,
        /// First block of the failed command (0 for a flush).
        lba: u64,
    },
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
    /// `buffer_offset`.
    pub fn check(&self, disk_offset: u64, length: u64, buffer_offset: u64) -> Result<Transfer, Refusal> {
        for value in [disk_offset, length, buffer_offset] {
            if value % self.block_size != 0 {
                return Err(Refusal::Misaligned { value, block_size: self.block_size });
            }
        }
        if length == 0 {
            return Err(Refusal::Misaligned { value: 0, block_size: self.block_size });
        }
        let end = disk_offset.saturating_add(length);
        if end > self.disk_size() {
            return Err(Refusal::OutOfRange { end, disk_size: self.disk_size() });
        }
        let buffer_end = buffer_offset.saturating_add(length);
        if buffer_end > self.buffer_size {
            return Err(Refusal::BufferOverflow { end: buffer_end, buffer_size: self.buffer_size });
        }
        Ok(Transfer { lba: disk_offset / self.block_size, blocks: length / self.block_size, buffer_offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tileos_protocol::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    const DISK: Geometry = Geometry { blocks: 8192, block_size: 512, buffer_size: 0x1_0000 };

    #[test]
    fn accepted_requests_become_block_ranges() {
        assert_eq!(DISK.check(0, 512, 0), Ok(Transfer { lba: 0, blocks: 1, buffer_offset: 0 }));
        assert_eq!(DISK.check(8191 * 512, 512, 0x200), Ok(Transfer { lba: 8191, blocks: 1, buffer_offset: 0x200 }));
        assert_eq!(DISK.check(1000 * 512, 0x1_0000, 0), Ok(Transfer { lba: 1000, blocks: 128, buffer_offset: 0 }));
    }

    #[test]
    fn refusals_name_the_problem() {
        assert_eq!(DISK.check(513, 512, 0), Err(Refusal::Misaligned { value: 513, block_size: 512 }));
        assert_eq!(DISK.check(0, 100, 0), Err(Refusal::Misaligned { value: 100, block_size: 512 }));
        assert_eq!(DISK.check(0, 512, 8), Err(Refusal::Misaligned { value: 8, block_size: 512 }));
        assert_eq!(DISK.check(0, 0, 0), Err(Refusal::Misaligned { value: 0, block_size: 512 }));
        let disk_size = 8192 * 512;
        assert_eq!(DISK.check(8192 * 512, 512, 0), Err(Refusal::OutOfRange { end: 8193 * 512, disk_size }));
        assert_eq!(DISK.check(8191 * 512, 1024, 0), Err(Refusal::OutOfRange { end: 8193 * 512, disk_size }));
        assert_eq!(DISK.check(u64::MAX - 511, 512, 0), Err(Refusal::OutOfRange { end: u64::MAX, disk_size }));
        assert_eq!(DISK.check(0, 1024, 0xFE00), Err(Refusal::BufferOverflow { end: 0x1_0200, buffer_size: 0x1_0000 }));
    }

    #[test]
    fn messages_fit_and_round_trip() {
        let mut words = [0; PAYLOAD_WORDS + 1];
        let request = Request::Write { disk_offset: u64::MAX, length: u64::MAX, buffer_offset: u64::MAX };
        let length = encode(&request, &mut words).unwrap();
        assert_eq!(decode::<Request>(MESSAGE, &words[..length]), Ok(request));
        let response = Response::Refused(Refusal::Device { status: 0x281, lba: 77 });
        let length = encode(&response, &mut words).unwrap();
        assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(response));
    }
}
