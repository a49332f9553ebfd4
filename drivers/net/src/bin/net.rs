//! The `net` domain: drives one virtio network device (QEMU `virtio-net-pci`) through its
//! legacy register block in IO space and moves Ethernet frames between the device and the
//! netstack domain's shared frame rings (`tileos_protocol::frames`).
//!
//! What the description must grant (see `qemu/runner/tests/scenarios/net.toml`):
//! - the device as the `[[pci_device]]` named "net" (class 0x020000), with a window for
//!   its memory BARs (the MSI-X table is in one) and its `interrupt` routed to bit 0 of
//!   the notification "net-wake", which the netstack signals with bit 1 when it has
//!   queued frames to send. The driver gets the IO ports of BAR 0 as "net.bar0" and the
//!   MSI handler "net.msi", and has the `pci` domain enable the device with MSI-X
//!   ([`tileos_pci_attach`]); both queues interrupt on MSI-X vector 0. A device without
//!   MSI-X (QEMU `vectors=0`) interrupts on its INTx line ("net.intx"): the driver then
//!   reads the ISR to lower the line before acknowledging, and the device-specific
//!   configuration sits 4 bytes lower;
//! - the shared region "net-dma" (queues and packet buffers, reached by the device by DMA
//!   at the physical address on the information page) and the shared region "net-frames"
//!   with the netstack, whose notification "netstack-wake" it signals with bit 0.
//!
//! Interrupts, not polling: the driver sleeps on "net-wake" and wakes for device
//! interrupts (a used ring changed) and for frames to send.
//!
//! **Restarts.** The supervisor may kill the driver at any moment (a fault, or a restart
//! asked through the supervisor control protocol) while the netstack keeps running. What
//! outlives the driver: the shared regions "net-dma" and "net-frames", both notifications,
//! and the device, left running with queues in "net-dma". The next generation:
//! 1. resets the device (status 0), which stops it using the old queues (no DMA into
//!    buffers being rebuilt), lowers its interrupt line and clears its ISR;
//! 2. rebuilds both virtqueues and all packet buffers in "net-dma" from scratch and
//!    negotiates again, exactly as at first boot (the driver keeps no other device state);
//! 3. takes over the frame rings with `frames::resume_driver`: the ring indices live in
//!    "net-frames" and each side writes only its own, so the driver continues from the
//!    producer index of the receive ring and the consumer index of the transmit ring that its
//!    predecessor left there; only inconsistent indices are resynchronised (see
//!    `tileos_protocol::frames`). The netstack notices nothing but a gap in traffic;
//! 4. rewrites the information page (same MAC), signals "netstack-wake" and sends whatever
//!    the netstack queued meanwhile before it first sleeps.
//!
//! Frames in flight inside the dead driver or the device are lost, as on a wire.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

use tileos_abi::invocation::{IoPortIn8, IoPortIn16, IoPortIn32, IoPortOut8, IoPortOut16, IoPortOut32, Method};
use tileos_driver_net::datapath::{DataPath, MAX_BUFFERS, Stats};
use tileos_driver_net::virtio::{self, DmaLayout, RX_QUEUE, TX_QUEUE, reg, status};
use tileos_pci_attach::{Attachment, Interrupt};
use tileos_protocol::frames::{self, NET_IRQ_BIT};
use tileos_sys::cap::IoPort;
use tileos_sys::domain::stop;
use tileos_sys::log;

/// Packet buffers per direction.
const BUFFERS: u16 = 32;
const _: () = assert!(BUFFERS <= MAX_BUFFERS);

/// The legacy register block: IO ports from `base`, through the IO-port capability.
struct Registers {
    cap: u64,
    base: u16,
}

impl Registers {
    /// The port at `offset`.
    fn port(&self, offset: u16) -> u64 {
        u64::from(self.base + offset)
    }

    fn input(&self, read: impl Method, offset: u16) -> u32 {
        match IoPort::from_cptr(self.cap).invoke(read) {
            Ok(reply) => reply.words[0] as u32,
            Err(error) => panic!("net: IO port {:#x}: {error:?}", self.base + offset),
        }
    }

    fn output(&self, write: impl Method, offset: u16) {
        if let Err(error) = IoPort::from_cptr(self.cap).invoke(write) {
            panic!("net: IO port {:#x}: {error:?}", self.base + offset);
        }
    }

    fn read8(&self, offset: u16) -> u8 {
        self.input(IoPortIn8 { port: self.port(offset) }, offset) as u8
    }
    fn read16(&self, offset: u16) -> u16 {
        self.input(IoPortIn16 { port: self.port(offset) }, offset) as u16
    }
    fn read32(&self, offset: u16) -> u32 {
        self.input(IoPortIn32 { port: self.port(offset) }, offset)
    }
    fn write8(&self, offset: u16, value: u8) {
        self.output(IoPortOut8 { port: self.port(offset), value: u64::from(value) }, offset);
    }
    fn write16(&self, offset: u16, value: u16) {
        self.output(IoPortOut16 { port: self.port(offset), value: u64::from(value) }, offset);
    }
    fn write32(&self, offset: u16, value: u32) {
        self.output(IoPortOut32 { port: self.port(offset), value: u64::from(value) }, offset);
    }
}

tileos_sys::resources! {
    /// The capabilities of fixed name the net domain needs (checked at build time); the
    /// PCI device's IO ports and interrupt are named after the device ("net.bar0",
    /// "net.msi") and taken through `tileos_pci_attach`.
    struct Resources {
        /// Device interrupts (bit 0) and frames to send (bit 1, from the netstack).
        wake: WaitNotification("net-wake"),
        /// Tells the netstack that frames arrived.
        netstack: SignalNotification("netstack-wake"),
        /// Virtqueues and packet buffers, reached by the device.
        dma: Region("net-dma"),
        /// The frame rings shared with the netstack (`tileos_protocol::frames`).
        frames: Region("net-frames"),
    }
}

tileos_sys::entry!(main);

fn main(Resources { wake, netstack, dma, frames }: Resources) -> ! {
    let (dma_paddr, dma_size, frames_size) = (dma.bus_address(0), dma.len() as u64, frames.len() as u64);
    if frames_size < frames::REGION_BYTES as u64 {
        log!("net: the \"net-frames\" region has {frames_size:#x} bytes, {:#x} needed; stopping", frames::REGION_BYTES);
        stop();
    }
    let mut device = match Attachment::open("net") {
        Ok(device) => device,
        Err(error) => {
            log!("net: no PCI device \"net\" granted ({error:?}); stopping");
            stop();
        }
    };
    let Some((ports, io_base)) = device.io_bar(0) else {
        log!("net: no IO ports \"net.bar0\" (legacy virtio needs IO BAR 0); stopping");
        stop();
    };
    let Some(interrupt) = device.interrupt else {
        log!("net: no interrupt handler (\"net.msi\" or \"net.intx\"): the device's interrupt must be routed to \"net-wake\"; stopping");
        stop();
    };
    let irq = interrupt.handler();
    let address = match (device.enable(), interrupt) {
        (Ok((address, Some(_))), Interrupt::Msix(_)) | (Ok((address, None)), Interrupt::Intx(_)) => address,
        (Ok((address, _)), _) => {
            log!("net: {address}: MSI-X was not enabled as asked; stopping");
            stop();
        }
        (Err(error), _) => {
            log!("net: the pci domain did not enable the device: {error:?}; stopping");
            stop();
        }
    };
    let msix = matches!(interrupt, Interrupt::Msix(_));
    log!("net: virtio-net at {address}: IO ports {io_base:#x}.., {}", if msix { "MSI-X" } else { "INTx" });
    let registers = Registers { cap: ports.cptr(), base: io_base };

    // Reset, then acknowledge the device and negotiate (legacy: no FEATURES_OK step).
    registers.write8(reg::DEVICE_STATUS, 0);
    registers.write8(reg::DEVICE_STATUS, status::ACKNOWLEDGE);
    registers.write8(reg::DEVICE_STATUS, status::ACKNOWLEDGE | status::DRIVER);
    let offered = registers.read32(reg::DEVICE_FEATURES);
    let Some(features) = virtio::negotiate(offered) else {
        log!("net: the device offers no MAC address (features {offered:#x}); stopping");
        registers.write8(reg::DEVICE_STATUS, status::FAILED);
        stop();
    };
    registers.write32(reg::DRIVER_FEATURES, features);
    let mut sizes = [0u16; 2];
    for (queue, size) in [RX_QUEUE, TX_QUEUE].into_iter().zip(sizes.iter_mut()) {
        registers.write16(reg::QUEUE_SELECT, queue);
        *size = registers.read16(reg::QUEUE_SIZE);
    }
    let layout = DmaLayout::new(sizes[0], sizes[1], BUFFERS);
    if sizes.contains(&0) || dma_size < layout.bytes as u64 {
        log!("net: queue sizes {sizes:?} need {:#x} bytes of \"net-dma\", which has {dma_size:#x}; stopping", layout.bytes);
        registers.write8(reg::DEVICE_STATUS, status::FAILED);
        stop();
    }
    let mut path = DataPath::new(layout, dma_paddr);
    path.start(&dma);
    if msix {
        registers.write16(reg::MSIX_CONFIG_VECTOR, virtio::NO_VECTOR);
    }
    for (queue, offset) in [(RX_QUEUE, 0), (TX_QUEUE, layout.tx_queue)] {
        registers.write16(reg::QUEUE_SELECT, queue);
        if msix {
            registers.write16(reg::MSIX_QUEUE_VECTOR, 0);
        }
        if msix && registers.read16(reg::MSIX_QUEUE_VECTOR) != 0 {
            log!("net: the device did not take MSI-X vector 0 for queue {queue}; stopping");
            registers.write8(reg::DEVICE_STATUS, status::FAILED);
            stop();
        }
        registers.write32(reg::QUEUE_ADDRESS, ((dma_paddr + offset as u64) / tileos_virtio::PAGE_SIZE as u64) as u32);
    }
    let mut mac = [0u8; 6];
    for (index, byte) in mac.iter_mut().enumerate() {
        *byte = registers.read8(if msix { reg::DEVICE_CONFIG_MSIX } else { reg::DEVICE_CONFIG } + index as u16);
    }
    registers.write8(reg::DEVICE_STATUS, status::ACKNOWLEDGE | status::DRIVER | status::DRIVER_OK);
    registers.write16(reg::QUEUE_NOTIFY, RX_QUEUE);
    let [m0, m1, m2, m3, m4, m5] = mac;
    log!(
        "net: virtio-net ready: MAC {m0:02x}:{m1:02x}:{m2:02x}:{m3:02x}:{m4:02x}:{m5:02x}, queues of {} and {} entries, {} buffers each way, interrupts on {}",
        sizes[0],
        sizes[1],
        layout.rx_count,
        if msix { "MSI-X vector 0" } else { "INTx" }
    );
    let resumed = frames::resume_driver(&frames);
    let generation = tileos_sys::domain::info().generation;
    if generation > 0 {
        log!(
            "net: generation {generation}: took over the frame rings: {} received frames not yet taken by the netstack, {} queued to send, {} rings resynchronised",
            resumed.rx_pending,
            resumed.tx_pending,
            resumed.resynchronised
        );
    }
    frames::publish_info(&frames, mac);
    netstack.signal();
    // Send what the netstack queued while no driver ran.
    if path.transmit(&dma, &frames) {
        registers.write16(reg::QUEUE_NOTIFY, TX_QUEUE);
    }
    let mut interrupts = 0u64;
    let mut logged = Stats::default();
    loop {
        let word = wake.wait();
        if word & NET_IRQ_BIT != 0 {
            // With MSI-X the vector says a queue moved; with INTx, reading the ISR
            // acknowledges the device, which lowers its line.
            let isr = if msix { 0 } else { registers.read8(reg::ISR_STATUS) };
            interrupts += 1;
            if interrupts == 1 {
                log!("net: first interrupt");
            }
            if isr & virtio::ISR_CONFIG != 0 {
                log!("net: device configuration changed (ISR {isr:#x})");
            }
        }
        let (delivered, notify) = path.receive(&dma, &frames);
        if notify {
            registers.write16(reg::QUEUE_NOTIFY, RX_QUEUE);
        }
        if delivered > 0 {
            netstack.signal();
        }
        if path.transmit(&dma, &frames) {
            registers.write16(reg::QUEUE_NOTIFY, TX_QUEUE);
        }
        report(&path.stats, &mut logged);
        if word & NET_IRQ_BIT != 0
            && let Err(error) = irq.ack()
        {
            log!("net: acknowledging the interrupt failed: {error:?}");
        }
    }
}

/// Logs what changed in `stats` since `logged`: the first frame each way, drops at
/// powers of two, every fault.
fn report(stats: &Stats, logged: &mut Stats) {
    if stats.received > 0 && logged.received == 0 {
        log!("net: first frame received");
    }
    if stats.sent > 0 && logged.sent == 0 {
        log!("net: first frame sent");
    }
    if stats.dropped != logged.dropped && stats.dropped.is_power_of_two() {
        log!("net: {} received frames dropped so far (receive ring full)", stats.dropped);
    }
    if stats.faults.0 != logged.faults.0 {
        log!("net: {} faults so far, the last: {:?}", stats.faults.0, stats.faults.1);
    }
    *logged = *stats;
}
