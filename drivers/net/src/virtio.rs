//! The virtio pieces the driver needs beyond the split virtqueue (`tileos_virtio`): the
//! legacy ("transitional") PCI register block in IO space, device status and feature bits,
//! and where the queues (legacy layout) and packet buffers go in the DMA region.
//!
//! References: Virtual I/O Device (VIRTIO) Version 1.1, §4.1.4.8 (legacy interface: PCI
//! register layout), §5.1 (network device).

use tileos_protocol::frames::MAX_FRAME;
use tileos_virtio::QueueLayout;

/// Offsets of the legacy registers from the start of IO BAR 0.
pub mod reg {
    /// Device feature bits 0..32 (read-only, 32 bits).
    pub const DEVICE_FEATURES: u16 = 0x00;
    /// Driver (guest) feature bits 0..32 (32 bits).
    pub const DRIVER_FEATURES: u16 = 0x04;
    /// Physical page number of the selected queue (32 bits; 0 disables the queue).
    pub const QUEUE_ADDRESS: u16 = 0x08;
    /// Size of the selected queue (16 bits, read-only: legacy queues have a fixed size).
    pub const QUEUE_SIZE: u16 = 0x0C;
    /// Queue selector (16 bits).
    pub const QUEUE_SELECT: u16 = 0x0E;
    /// Queue notification: write the queue index (16 bits).
    pub const QUEUE_NOTIFY: u16 = 0x10;
    /// Device status (8 bits; writing 0 resets the device).
    pub const DEVICE_STATUS: u16 = 0x12;
    /// Interrupt status (8 bits; reading it acknowledges the interrupt and lowers INTx).
    pub const ISR_STATUS: u16 = 0x13;
    /// Device-specific configuration while MSI-X is off (the network device's MAC first).
    pub const DEVICE_CONFIG: u16 = 0x14;
    /// While MSI-X is on: the MSI-X vector for configuration changes (16 bits).
    pub const MSIX_CONFIG_VECTOR: u16 = 0x14;
    /// While MSI-X is on: the MSI-X vector of the selected queue (16 bits; reads back
    /// [`super::NO_VECTOR`] if the device could not assign it).
    pub const MSIX_QUEUE_VECTOR: u16 = 0x16;
    /// Device-specific configuration while MSI-X is on.
    pub const DEVICE_CONFIG_MSIX: u16 = 0x18;
    /// Bytes of IO space the driver uses (registers and the 6-byte MAC, MSI-X on).
    pub const SPAN: u16 = DEVICE_CONFIG_MSIX + 6;
}

/// Device status bits.
pub mod status {
    /// The driver has noticed the device.
    pub const ACKNOWLEDGE: u8 = 1;
    /// The driver knows how to drive it.
    pub const DRIVER: u8 = 2;
    /// The driver is set up and ready.
    pub const DRIVER_OK: u8 = 4;
    /// The device has given up (needs a reset).
    pub const FAILED: u8 = 0x80;
}

/// Feature bits of the network device.
pub mod feature {
    /// The device has a MAC address in its configuration space.
    pub const MAC: u32 = 1 << 5;
}

/// The MSI-X vector number that means "no interrupt".
pub const NO_VECTOR: u16 = 0xFFFF;

/// ISR status bit: the device configuration changed.
pub const ISR_CONFIG: u8 = 2;

/// Index of the receive queue.
pub const RX_QUEUE: u16 = 0;
/// Index of the transmit queue.
pub const TX_QUEUE: u16 = 1;

/// Bytes of the `virtio_net_hdr` in front of every frame (legacy, without mergeable
/// receive buffers). The driver sends it zeroed (no checksum offload, no segmentation).
pub const NET_HEADER_LEN: usize = 10;
/// Bytes of one packet buffer: the header and the largest frame, rounded to keep buffers
/// from crossing pages.
pub const BUFFER_SIZE: usize = 2048;
// A buffer holds the header and the largest frame.
const _: () = assert!(NET_HEADER_LEN + MAX_FRAME <= BUFFER_SIZE);

/// The features the driver takes from those the device offers: only [`feature::MAC`]
/// (which it needs). Returns `None` if the device does not offer it.
pub fn negotiate(offered: u32) -> Option<u32> {
    (offered & feature::MAC != 0).then_some(feature::MAC)
}

/// Where everything goes in the DMA region: the receive queue, the transmit queue, then
/// the receive and transmit packet buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaLayout {
    /// Receive queue layout (at offset 0).
    pub rx: QueueLayout,
    /// Transmit queue layout.
    pub tx: QueueLayout,
    /// Offset of the transmit queue.
    pub tx_queue: usize,
    /// Offset of the first receive buffer.
    pub rx_buffers: usize,
    /// Offset of the first transmit buffer.
    pub tx_buffers: usize,
    /// Receive buffers (posted to the device, at most the queue size).
    pub rx_count: u16,
    /// Transmit buffers (at most the queue size).
    pub tx_count: u16,
    /// Bytes needed in all.
    pub bytes: usize,
}

impl DmaLayout {
    /// Lays out queues of the device's sizes and up to `buffers` buffers per direction.
    pub fn new(rx_size: u16, tx_size: u16, buffers: u16) -> DmaLayout {
        let (rx, tx) = (QueueLayout::legacy(rx_size), QueueLayout::legacy(tx_size));
        let (rx_count, tx_count) = (buffers.min(rx_size), buffers.min(tx_size));
        let tx_queue = rx.bytes;
        let rx_buffers = tx_queue + tx.bytes;
        let tx_buffers = rx_buffers + usize::from(rx_count) * BUFFER_SIZE;
        let bytes = tx_buffers + usize::from(tx_count) * BUFFER_SIZE;
        DmaLayout { rx, tx, tx_queue, rx_buffers, tx_buffers, rx_count, tx_count, bytes }
    }

    /// Offset of receive buffer `index`.
    pub fn rx_buffer(&self, index: u16) -> usize {
        self.rx_buffers + usize::from(index) * BUFFER_SIZE
    }

    /// Offset of transmit buffer `index`.
    pub fn tx_buffer(&self, index: u16) -> usize {
        self.tx_buffers + usize::from(index) * BUFFER_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dma_layout_places_queues_then_buffers() {
        let layout = DmaLayout::new(256, 256, 32);
        assert_eq!(layout.tx_queue, 12288);
        assert_eq!(layout.rx_buffers, 24576);
        assert_eq!(layout.tx_buffers, 24576 + 32 * 2048);
        assert_eq!(layout.bytes, 24576 + 64 * 2048);
        assert_eq!(layout.rx_buffer(1), 24576 + 2048);
        assert_eq!(layout.tx_buffer(31), layout.bytes - 2048);
        // Never more buffers than queue entries.
        assert_eq!(DmaLayout::new(8, 4, 32).tx_count, 4);
    }

    #[test]
    fn negotiation_needs_the_mac_and_takes_nothing_else() {
        assert_eq!(negotiate(0xFFFF_FFFF), Some(feature::MAC));
        assert_eq!(negotiate(!feature::MAC), None);
    }
}
