//! The device-independent parts of the virtio-net driver (QEMU `virtio-net-pci`, legacy
//! interface through IO-port BAR 0). The frame rings it shares with the netstack are a
//! protocol of their own, `tileos_protocol::frames`, which both sides import.
//!
//! - [`Memory`] (re-exported from `tileos_virtio`): byte-addressed access to a region that
//!   another party (the device by DMA, or another domain) reads and writes too; in a domain
//!   it is the runtime's `tileos_mmio::Mmio` (volatile, bounds-checked). Host tests use
//!   `tileos_virtio::test_memory`.
//! - [`virtio`]: legacy register offsets, status and feature bits, and where the two
//!   virtqueues (`tileos_virtio::Virtqueue`, legacy layout) and the packet buffers lie in
//!   the DMA region.
//! - [`datapath`]: moving frames between the virtqueues and the frame rings.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod datapath;
pub mod virtio;

pub use tileos_virtio::Memory;
