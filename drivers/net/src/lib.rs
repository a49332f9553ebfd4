//! The device-independent parts of the virtio-net driver (QEMU `virtio-net-pci`, legacy
//! interface through IO-port BAR 0) and of the frame rings it shares with the netstack:
//!
//! - [`Memory`] (re-exported from `tileos_virtio`): byte-addressed access to a region that
//!   another party (the device by DMA, or another domain) reads and writes too; in a domain
//!   it is the runtime's `tileos_mmio::Mmio` (volatile, bounds-checked). Host tests use
//!   `test_memory::VecMemory` (feature `test-memory`).
//! - [`virtio`]: legacy register offsets, status and feature bits, and where the two
//!   virtqueues (`tileos_virtio::Virtqueue`, legacy layout) and the packet buffers lie in
//!   the DMA region.
//! - [`datapath`]: moving frames between the virtqueues and the frame rings.
//! - [`frames`]: the single-producer single-consumer rings of Ethernet frames between the
//!   `net` and `netstack` domains, and the device information page beside them.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod datapath;
pub mod frames;
pub mod virtio;

pub use tileos_virtio::Memory;

/// A [`Memory`] over a vector, for host tests of this crate and of the crates that share
/// memory through it (the netstack).
#[cfg(any(test, feature = "test-memory"))]
pub use tileos_virtio::test_memory;
