//! The split virtqueue both virtio drivers use (virtio-net with the legacy layout,
//! virtio-gpu with the modern one), and the shared-memory access it goes through:
//!
//! - [`Memory`] (`tileos_mmio::Memory`, re-exported): byte-addressed access to a region that
//!   another party (a device by DMA, or another domain) reads and writes too. Domains use
//!   [`tileos_mmio::Mmio`], the runtime's one handle to mapped memory; host tests use
//!   `tileos_mmio::VecMemory` (`test_memory::VecMemory`, feature `test-memory`) and play
//!   the other party.
//! - [`queue`]: the ring layouts ([`QueueLayout::legacy`], [`QueueLayout::modern`]) and
//!   the driver's side of a split virtqueue ([`Virtqueue`]): descriptor chains, offering
//!   them on the available ring, taking them back from the used ring.
//!
//! Reference: Virtual I/O Device (VIRTIO) Version 1.1, §2.6 (split virtqueues), §2.6.2
//! (legacy interfaces: layout).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod queue;
#[cfg(any(test, feature = "test-memory"))]
pub mod test_memory;

pub use queue::{Buffer, DESC_NEXT, DESC_WRITE, PAGE_SIZE, QueueLayout, Used, Virtqueue};

pub use tileos_mmio::Memory;
