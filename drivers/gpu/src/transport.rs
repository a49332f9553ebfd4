//! The virtio 1.x PCI transport: the vendor-specific capabilities in configuration space
//! that say where each configuration structure lies (BAR and offset), the common
//! configuration registers, device status and the one feature the driver takes.
//!
//! Reference: Virtual I/O Device (VIRTIO) Version 1.1, §4.1.4 (PCI capabilities), §4.1.4.3
//! (common configuration), §2.1 (status), §6 (reserved feature bits).

use tileos_driver_pci::{ConfigRead, reg};
use tileos_protocol::pci::Address;

/// PCI vendor ID of virtio devices.
pub const VENDOR_VIRTIO: u16 = 0x1AF4;
/// PCI device ID of a modern virtio GPU (0x1040 + device type 16).
pub const DEVICE_GPU: u16 = 0x1050;

/// Configuration-space offset of the capabilities pointer.
const CAPABILITIES_POINTER: u8 = 0x34;
/// Status register bit (in the high half of the command dword): a capability list exists.
const STATUS_CAPABILITIES: u32 = 1 << (16 + 4);
/// Capability ID of a vendor-specific capability.
const CAP_VENDOR: u8 = 0x09;
/// Most capabilities followed (configuration space has room for 48 after the header), so a
/// list that loops ends.
const MAX_CAPABILITIES: usize = 48;

/// Configuration structure types (`cfg_type` of a virtio PCI capability).
pub mod cfg_type {
    /// Common configuration.
    pub const COMMON: u8 = 1;
    /// Notifications.
    pub const NOTIFY: u8 = 2;
    /// Interrupt status.
    pub const ISR: u8 = 3;
    /// Device-specific configuration.
    pub const DEVICE: u8 = 4;
}

/// Where one configuration structure lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Structure {
    /// BAR number (0..=5).
    pub bar: u8,
    /// Offset inside the BAR.
    pub offset: u32,
    /// Length in bytes.
    pub length: u32,
}

/// The four configuration structures a driver needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Common configuration (features, status, queues).
    pub common: Structure,
    /// Notification area.
    pub notify: Structure,
    /// Bytes between the notification addresses of consecutive `queue_notify_off` values.
    pub notify_multiplier: u32,
    /// Interrupt status byte.
    pub isr: Structure,
    /// Device-specific configuration.
    pub device: Structure,
}

impl Capabilities {
    /// The single BAR every structure lies in, or `None` if they are spread over several
    /// (the driver maps one BAR).
    pub fn single_bar(&self) -> Option<u8> {
        let bar = self.common.bar;
        [self.notify, self.isr, self.device].iter().all(|structure| structure.bar == bar).then_some(bar)
    }

    /// Bytes from the start of the BAR that cover every structure.
    pub fn span(&self) -> u64 {
        [self.common, self.notify, self.isr, self.device].iter().map(|s| u64::from(s.offset) + u64::from(s.length)).max().unwrap_or(0)
    }

    /// Offset in the BAR of the notification address of a queue whose `queue_notify_off`
    /// is `notify_off`.
    pub fn notify_offset(&self, notify_off: u16) -> u64 {
        u64::from(self.notify.offset) + u64::from(notify_off) * u64::from(self.notify_multiplier)
    }
}

/// Why the capabilities could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapabilityError {
    /// The function has no capability list.
    NoList,
    /// The list names no structure of this `cfg_type`.
    Missing(u8),
    /// The list did not end within [`MAX_CAPABILITIES`] entries.
    Loop,
}

fn read_u8(config: &mut impl ConfigRead, at: Address, offset: u8) -> u8 {
    (config.read(at, offset & !3) >> (8 * (offset & 3))) as u8
}

/// Walks the capability list of the function at `at` and returns where the virtio
/// structures lie (the first capability of each type, as the specification asks).
pub fn find_capabilities(config: &mut impl ConfigRead, at: Address) -> Result<Capabilities, CapabilityError> {
    if config.read(at, reg::COMMAND) & STATUS_CAPABILITIES == 0 {
        return Err(CapabilityError::NoList);
    }
    let mut found: [Option<(Structure, u32)>; 4] = [None; 4];
    let mut pointer = read_u8(config, at, CAPABILITIES_POINTER) & 0xFC;
    let mut seen = 0;
    while pointer != 0 {
        seen += 1;
        if seen > MAX_CAPABILITIES {
            return Err(CapabilityError::Loop);
        }
        let header = config.read(at, pointer);
        let (id, next, kind) = (header as u8, (header >> 8) as u8 & 0xFC, (header >> 24) as u8);
        if id == CAP_VENDOR && (cfg_type::COMMON..=cfg_type::DEVICE).contains(&kind) {
            let slot = &mut found[usize::from(kind - 1)];
            if slot.is_none() {
                let bar = config.read(at, pointer + 4) as u8;
                let structure = Structure { bar, offset: config.read(at, pointer + 8), length: config.read(at, pointer + 12) };
                let multiplier = if kind == cfg_type::NOTIFY { config.read(at, pointer + 16) } else { 0 };
                *slot = Some((structure, multiplier));
            }
        }
        pointer = next;
    }
    let get = |kind: u8| found[usize::from(kind - 1)].ok_or(CapabilityError::Missing(kind));
    let (notify, notify_multiplier) = get(cfg_type::NOTIFY)?;
    Ok(Capabilities {
        common: get(cfg_type::COMMON)?.0,
        notify,
        notify_multiplier,
        isr: get(cfg_type::ISR)?.0,
        device: get(cfg_type::DEVICE)?.0,
    })
}

/// The MSI-X vector number that means "no interrupt".
pub const NO_VECTOR: u16 = 0xFFFF;

/// Offsets of the common configuration registers (`virtio_pci_common_cfg`).
pub mod common {
    /// Selects which 32 feature bits [`DEVICE_FEATURE`] shows (32 bits).
    pub const DEVICE_FEATURE_SELECT: usize = 0x00;
    /// The selected 32 device feature bits (read-only, 32 bits).
    pub const DEVICE_FEATURE: usize = 0x04;
    /// Selects which 32 feature bits [`DRIVER_FEATURE`] sets (32 bits).
    pub const DRIVER_FEATURE_SELECT: usize = 0x08;
    /// The selected 32 driver feature bits (32 bits).
    pub const DRIVER_FEATURE: usize = 0x0C;
    /// MSI-X vector for configuration changes (16 bits; [`super::NO_VECTOR`]: none).
    pub const MSIX_CONFIG: usize = 0x10;
    /// Number of queues (read-only, 16 bits).
    pub const NUM_QUEUES: usize = 0x12;
    /// Device status (8 bits; writing 0 resets the device).
    pub const DEVICE_STATUS: usize = 0x14;
    /// Queue selector (16 bits).
    pub const QUEUE_SELECT: usize = 0x16;
    /// Size of the selected queue (16 bits; the driver may lower it).
    pub const QUEUE_SIZE: usize = 0x18;
    /// MSI-X vector of the selected queue (16 bits; reads back [`super::NO_VECTOR`] when
    /// the device could not assign it).
    pub const QUEUE_MSIX_VECTOR: usize = 0x1A;
    /// The selected queue is enabled (16 bits).
    pub const QUEUE_ENABLE: usize = 0x1C;
    /// The selected queue's notification offset, in multiplier units (read-only, 16 bits).
    pub const QUEUE_NOTIFY_OFF: usize = 0x1E;
    /// Physical address of the descriptor table (64 bits).
    pub const QUEUE_DESC: usize = 0x20;
    /// Physical address of the available ("driver") ring (64 bits).
    pub const QUEUE_DRIVER: usize = 0x28;
    /// Physical address of the used ("device") ring (64 bits).
    pub const QUEUE_DEVICE: usize = 0x30;
    /// Bytes of the structure the driver uses.
    pub const SPAN: usize = 0x38;
}

/// Device status bits.
pub mod status {
    /// The driver has noticed the device.
    pub const ACKNOWLEDGE: u8 = 1;
    /// The driver knows how to drive it.
    pub const DRIVER: u8 = 2;
    /// The driver is set up and ready.
    pub const DRIVER_OK: u8 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u8 = 8;
    /// The driver has given up (needs a reset).
    pub const FAILED: u8 = 0x80;
}

/// ISR status bit: a used ring was updated (bit 1 would be a configuration change).
pub const ISR_QUEUE: u8 = 1;

/// `VIRTIO_F_VERSION_1` (feature bit 32): bit 0 of feature word 1.
pub const VERSION_1: u32 = 1;

/// The driver's feature words 0 and 1 given the device's feature word 1 (bits 32..64):
/// only `VIRTIO_F_VERSION_1` (no 3D, no EDID, no event index: nothing from word 0), which
/// a modern device must offer. `None` if it does not.
pub fn negotiate(offered_high: u32) -> Option<[u32; 2]> {
    (offered_high & VERSION_1 != 0).then_some([0, VERSION_1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function's configuration space as 64 dwords.
    struct Sim {
        dwords: [u32; 64],
    }

    impl ConfigRead for Sim {
        fn read(&mut self, _at: Address, offset: u8) -> u32 {
            self.dwords[usize::from(offset / 4)]
        }
    }

    const AT: Address = Address { bus: 0, device: 3, function: 0 };

    /// Adds a virtio capability at `at` linking to `next`, describing `structure`, with
    /// `extra` as its fifth dword (the notify multiplier).
    fn vendor(sim: &mut Sim, (at, next): (u8, u8), kind: u8, structure: Structure, extra: u32) {
        let index = usize::from(at / 4);
        sim.dwords[index] = u32::from(CAP_VENDOR) | u32::from(next) << 8 | 20 << 16 | u32::from(kind) << 24;
        sim.dwords[index + 1] = u32::from(structure.bar);
        sim.dwords[index + 2] = structure.offset;
        sim.dwords[index + 3] = structure.length;
        sim.dwords[index + 4] = extra;
    }

    /// QEMU's virtio-gpu-pci: MSI-X first, then the structures in BAR 4 (common at 0,
    /// ISR at 0x1000, device at 0x2000, notify at 0x3000 with multiplier 4).
    fn qemu_like() -> Sim {
        let mut sim = Sim { dwords: [0; 64] };
        sim.dwords[1] = STATUS_CAPABILITIES | 0x7;
        sim.dwords[usize::from(CAPABILITIES_POINTER / 4)] = 0x98;
        sim.dwords[0x98 / 4] = 0x11 | 0x84 << 8; // MSI-X, next 0x84
        vendor(&mut sim, (0x84, 0x70), cfg_type::DEVICE, Structure { bar: 4, offset: 0x2000, length: 0x1000 }, 0);
        vendor(&mut sim, (0x70, 0x5C), cfg_type::NOTIFY, Structure { bar: 4, offset: 0x3000, length: 0x1000 }, 4);
        vendor(&mut sim, (0x5C, 0x48), cfg_type::ISR, Structure { bar: 4, offset: 0x1000, length: 0x1000 }, 0);
        vendor(&mut sim, (0x48, 0xB0), cfg_type::COMMON, Structure { bar: 4, offset: 0, length: 0x1000 }, 0);
        // A second common capability (e.g. the PCI configuration access type 5 follows
        // elsewhere): only the first of a type counts.
        vendor(&mut sim, (0xB0, 0), cfg_type::COMMON, Structure { bar: 2, offset: 0x100, length: 0x10 }, 0);
        sim
    }

    #[test]
    fn finds_the_structures_qemu_offers() {
        let caps = find_capabilities(&mut qemu_like(), AT).unwrap();
        assert_eq!(caps.common, Structure { bar: 4, offset: 0, length: 0x1000 });
        assert_eq!(caps.isr, Structure { bar: 4, offset: 0x1000, length: 0x1000 });
        assert_eq!(caps.device, Structure { bar: 4, offset: 0x2000, length: 0x1000 });
        assert_eq!(caps.notify, Structure { bar: 4, offset: 0x3000, length: 0x1000 });
        assert_eq!(caps.notify_multiplier, 4);
        assert_eq!(caps.single_bar(), Some(4));
        assert_eq!(caps.span(), 0x4000);
        assert_eq!(caps.notify_offset(0), 0x3000);
        assert_eq!(caps.notify_offset(1), 0x3004);
    }

    #[test]
    fn missing_list_missing_structure_and_loops_are_errors() {
        let mut sim = qemu_like();
        sim.dwords[1] &= !STATUS_CAPABILITIES;
        assert_eq!(find_capabilities(&mut sim, AT), Err(CapabilityError::NoList));
        let mut sim = qemu_like();
        sim.dwords[0x5C / 4] &= !0xFF00; // the ISR capability ends the list before common
        assert_eq!(find_capabilities(&mut sim, AT), Err(CapabilityError::Missing(cfg_type::COMMON)));
        let mut sim = qemu_like();
        sim.dwords[0xB0 / 4] |= 0x84 << 8; // the last links back to the second
        assert_eq!(find_capabilities(&mut sim, AT), Err(CapabilityError::Loop));
    }

    #[test]
    fn structures_in_two_bars_have_no_single_bar() {
        let mut sim = qemu_like();
        sim.dwords[0x70 / 4 + 1] = 2;
        assert_eq!(find_capabilities(&mut sim, AT).unwrap().single_bar(), None);
    }

    #[test]
    fn negotiation_takes_version_1_only() {
        assert_eq!(negotiate(0xFFFF_FFFF), Some([0, VERSION_1]));
        assert_eq!(negotiate(0xFFFF_FFFE), None);
    }
}
