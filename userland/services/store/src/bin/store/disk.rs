//! The store's disk: its window of the NVMe disk through the block protocol
//! (`tileos_protocol::block`), one request at a time, data through the region it shares
//! with the driver. Every failure — the driver restarting (its reply lost), the controller
//! failing a command, an answer that does not fit the request — is a [`DeviceError`]: the
//! store answers its clients `Unavailable` and re-mounts before its next operation, so a
//! driver fault never turns into wrong data.

use tileos_mmio::Mmio;
use tileos_protocol::block::{Block, Request, Response};
use tileos_store::{BlockDevice, DeviceError};
use tileos_sys::rpc::Client;

/// The store's window of the disk.
pub struct Disk {
    client: Client<Block>,
    data: Mmio,
    block_size: usize,
    blocks: u64,
}

/// Why the disk could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The driver did not answer the capacity request: it is not there, or restarting.
    NoAnswer(tileos_sys::rpc::CallError),
    /// It answered something else.
    Unexpected(Response),
    /// The data region is smaller than a block, or the block size is not a power of two.
    Unusable {
        /// The block size.
        block_size: u64,
        /// The data region's size.
        region: usize,
    },
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OpenError::NoAnswer(error) => write!(f, "the driver did not answer the capacity request: {error:?}"),
            OpenError::Unexpected(response) => write!(f, "the driver answered the capacity request with {response:?}"),
            OpenError::Unusable { block_size, region } => write!(f, "block size {block_size} does not fit the {region}-byte data region"),
        }
    }
}

impl Disk {
    /// Asks the driver for the window's geometry (the data region back on failure).
    pub fn open(endpoint: tileos_sys::cap::Endpoint, data: Mmio) -> Result<Disk, (OpenError, Mmio)> {
        let client = Client::<Block>::new(endpoint);
        match client.call(&Request::Capacity) {
            Ok(Response::Capacity { disk_size, block_size, .. }) => {
                if !block_size.is_power_of_two() || block_size as usize > data.len() {
                    return Err((OpenError::Unusable { block_size, region: data.len() }, data));
                }
                Ok(Disk { client, data, block_size: block_size as usize, blocks: disk_size / block_size })
            }
            Ok(other) => Err((OpenError::Unexpected(other), data)),
            Err(error) => Err((OpenError::NoAnswer(error), data)),
        }
    }

    /// The data region back.
    pub fn into_data(self) -> Mmio {
        self.data
    }

    /// Bytes one transfer moves at most: the data region, whole blocks.
    fn chunk(&self) -> usize {
        self.data.len() / self.block_size * self.block_size
    }

    fn transfer(&mut self, request: Request, length: usize) -> Result<(), DeviceError> {
        match self.client.call(&request) {
            Ok(Response::Transferred { length: moved }) if moved == length as u64 => Ok(()),
            Ok(Response::Flushed) if request == Request::Flush => Ok(()),
            _ => Err(DeviceError),
        }
    }
}

impl BlockDevice for Disk {
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn blocks(&self) -> u64 {
        self.blocks
    }

    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        let chunk = self.chunk();
        let mut disk_offset = lba * self.block_size as u64;
        for part in buf.chunks_mut(chunk) {
            self.transfer(Request::Read { disk_offset, length: part.len() as u64, buffer_offset: 0 }, part.len())?;
            self.data.read_bytes(0, part);
            disk_offset += part.len() as u64;
        }
        Ok(())
    }

    fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), DeviceError> {
        let chunk = self.chunk();
        let mut disk_offset = lba * self.block_size as u64;
        for part in buf.chunks(chunk) {
            self.data.write_bytes(0, part);
            self.transfer(Request::Write { disk_offset, length: part.len() as u64, buffer_offset: 0 }, part.len())?;
            disk_offset += part.len() as u64;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        self.transfer(Request::Flush, 0)
    }
}
