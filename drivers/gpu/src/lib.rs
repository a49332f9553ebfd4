//! The device-independent parts of the virtio-gpu display driver (QEMU `virtio-gpu-pci`,
//! modern virtio 1.x over PCI), host-tested. The display protocol it serves is
//! `tileos_protocol::display`.
//!
//! - [`transport`]: the virtio PCI vendor capabilities (where the common, notify, ISR and
//!   device configuration structures lie in which BAR), the common configuration register
//!   offsets, status and feature bits.
//! - [`command`]: virtio-gpu control commands (encoding) and their responses (decoding).
//! - [`screen`]: the tile status screen (title, rows of text) and its rendering with an
//!   8x8 bitmap font into a B8G8R8X8 framebuffer.
//! - [`status`]: what the `gpu-status` domain shows (uptime, each domain's state from the
//!   supervisor) and which rows changed.
//! - [`twin_lines`]: the digital twin's lines at the bottom of the screen (bearing, thermal
//!   advice, the last minute's means), from the twin protocol's `State`.
//!
//! The control queue is a `tileos_virtio::Virtqueue` in the modern layout carrying one
//! two-descriptor chain (request, response) at a time; the DMA region, the BAR and the
//! framebuffer are `tileos_mmio::Mmio` handles (the DMA region through
//! `tileos_mmio::Memory`), the same queue and volatile accessors the virtio-net driver
//! uses.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod command;
pub mod screen;
pub mod status;
pub mod transport;
pub mod twin_lines;
