//! The block protocol the `nvme` domain serves on its endpoint (named "block" in the
//! description), in the tileos message convention (typed requests and responses,
//! postcard-encoded), the checks every request passes before it reaches the device, and the
//! shared-memory rings ([`ring`]) through which a client keeps many requests in flight.
//!
//! Data travels through a shared region mapped into both the client and the driver (named
//! "block-data.&lt;badge&gt;" in the description, the client's badge in decimal); requests name
//! byte offsets into it. All sizes and offsets are bytes. Each client sees only its own
//! window of the disk ([`Window`], declared as the endpoint parameters `disk_offset` and
//! `disk_bytes` of its client entry): disk offsets are relative to the window. Disk offset,
//! length and buffer offset must be multiples of the block size and the length non-zero; a
//! request that breaks a rule is answered with [`Response::Refused`] naming the rule. A
//! message that is no valid [`Request`] gets the convention's error reply.

pub mod ring;

use serde::{Deserialize, Serialize};

/// The block protocol.
pub struct Block;

impl crate::Protocol for Block {
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
    /// Size of the client's disk window, block size and buffer size.
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
        /// Size of the client's disk window in bytes.
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
    /// The range reaches past the end of the client's disk window.
    OutOfRange {
        /// End of the requested range (relative to the window).
        end: u64,
        /// Size of the window.
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
    /// A ring request longer than the driver carries in one ring command.
    TooLong {
        /// The length asked for.
        length: u64,
        /// The most one ring request may move ([`ring::MAX_TRANSFER`]).
        max: u64,
    },
    /// A ring entry's operation code is none of [`ring::operation`].
    UnknownOperation {
        /// The code found.
        code: u32,
    },
    /// The client has no disk window: its client entry in the description lacks this
    /// endpoint parameter.
    MissingParam {
        /// The parameter missing.
        param: Param,
    },
    /// The client's declared disk window does not fit the disk or is not block-aligned.
    BadWindow {
        /// `disk_offset` as declared.
        offset: u64,
        /// `disk_bytes` as declared.
        bytes: u64,
        /// Disk size.
        disk_size: u64,
    },
    /// The driver restarted while the request was in flight; it may or may not have
    /// reached the disk: submit it again.
    Interrupted,
    /// The ring's indices are inconsistent (the client's producer index is more than
    /// [`ring::SLOTS`] ahead of the driver's completed index); the driver skipped one slot.
    BadRing {
        /// The client's producer index read.
        submitted: u32,
        /// The driver's completed index.
        completed: u32,
    },
}

/// The endpoint parameters of the block protocol (docs/system-description.md,
/// "Endpoint parameters"): each client's disk window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Param {
    /// `disk_offset`: first byte of the client's window on the disk.
    DiskOffset,
    /// `disk_bytes`: size of the client's window.
    DiskBytes,
}

impl Param {
    /// The parameter's name in the description.
    pub fn name(self) -> &'static str {
        match self {
            Param::DiskOffset => "disk_offset",
            Param::DiskBytes => "disk_bytes",
        }
    }
}

/// A client's region of the disk, from its endpoint parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First byte on the disk.
    pub offset: u64,
    /// Size in bytes.
    pub bytes: u64,
}

impl Window {
    /// The window named by the parameters `lookup` finds (by [`Param::name`]).
    pub fn from_params(lookup: impl Fn(&str) -> Option<u64>) -> Result<Window, Refusal> {
        let get = |param: Param| lookup(param.name()).ok_or(Refusal::MissingParam { param });
        Ok(Window { offset: get(Param::DiskOffset)?, bytes: get(Param::DiskBytes)? })
    }

    /// The geometry the client sees on `disk` (whose `first_block` is 0) through a buffer of
    /// `buffer_size` bytes; refused if the window is empty, not block-aligned or reaches past
    /// the disk.
    pub fn geometry(&self, disk: &Geometry, buffer_size: u64) -> Result<Geometry, Refusal> {
        let block_size = disk.block_size;
        let fits = self.offset.checked_add(self.bytes).is_some_and(|end| end <= disk.disk_size());
        if !fits || self.bytes == 0 || !self.offset.is_multiple_of(block_size) || !self.bytes.is_multiple_of(block_size) {
            return Err(Refusal::BadWindow { offset: self.offset, bytes: self.bytes, disk_size: disk.disk_size() });
        }
        Ok(Geometry { first_block: self.offset / block_size, blocks: self.bytes / block_size, block_size, buffer_size })
    }
}

/// Geometry a request is checked against: a client's window of the disk and its buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// First logical block of the window on the disk.
    pub first_block: u64,
    /// Logical blocks in the window.
    pub blocks: u64,
    /// Logical block size in bytes.
    pub block_size: u64,
    /// Size of the shared buffer in bytes.
    pub buffer_size: u64,
}

/// A checked read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// First logical block on the disk.
    pub lba: u64,
    /// Number of logical blocks.
    pub blocks: u64,
    /// Byte offset into the shared buffer.
    pub buffer_offset: u64,
}

impl Geometry {
    /// Window size in bytes.
    pub fn disk_size(&self) -> u64 {
        self.blocks * self.block_size
    }

    /// Checks a read or write of `length` bytes at `disk_offset` (relative to the window)
    /// through the buffer at `buffer_offset`.
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
        Ok(Transfer { lba: self.first_block + disk_offset / self.block_size, blocks: length / self.block_size, buffer_offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    const DISK: Geometry = Geometry { first_block: 0, blocks: 8192, block_size: 512, buffer_size: 0x1_0000 };

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
    fn windows_shift_transfers_and_are_checked_against_the_disk() {
        let params = |offset: Option<u64>, bytes: Option<u64>| {
            move |name: &str| match name {
                "disk_offset" => offset,
                "disk_bytes" => bytes,
                _ => None,
            }
        };
        assert_eq!(Window::from_params(params(None, Some(1))), Err(Refusal::MissingParam { param: Param::DiskOffset }));
        assert_eq!(Window::from_params(params(Some(0), None)), Err(Refusal::MissingParam { param: Param::DiskBytes }));
        let window = Window::from_params(params(Some(0x10_0000), Some(0x4000))).unwrap();
        let client = window.geometry(&DISK, 0x2000).unwrap();
        assert_eq!(client, Geometry { first_block: 0x800, blocks: 32, block_size: 512, buffer_size: 0x2000 });
        assert_eq!(client.check(0x200, 512, 0), Ok(Transfer { lba: 0x801, blocks: 1, buffer_offset: 0 }));
        assert_eq!(client.check(0x4000, 512, 0), Err(Refusal::OutOfRange { end: 0x4200, disk_size: 0x4000 }));
        let disk_size = DISK.disk_size();
        for (offset, bytes) in [(disk_size - 512, 1024), (u64::MAX - 511, 1024), (100, 512), (0, 100), (0, 0)] {
            assert_eq!(Window { offset, bytes }.geometry(&DISK, 0), Err(Refusal::BadWindow { offset, bytes, disk_size }));
        }
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
