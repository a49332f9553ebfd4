//! PCI configuration space, independent of how it is reached: addresses for configuration
//! mechanism #1 (IO ports 0xCF8/0xCFC), BAR decoding and size probing, class names, and
//! enumeration of a bus tree through any [`ConfigSpace`]. The `pci` domain binary
//! (`src/bin/pci.rs`) supplies the IO-port access; the host tests use a simulated bus.
//!
//! What the `pci` domain serves to driver domains and reports to the root server, and the
//! plain data it carries ([`Address`], [`Msix`]), is the protocol `tileos_protocol::pci`;
//! the crate `tileos-pci-attach` is the driver side of it.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub use tileos_protocol::pci::{Address, Msix};

/// The value to write to port 0xCF8 to reach the dword at `offset` of function `at`
/// (configuration mechanism #1: enable bit, bus, device, function, dword-aligned register).
pub fn mechanism1(at: Address, offset: u8) -> u32 {
    0x8000_0000 | u32::from(at.bus) << 16 | u32::from(at.device & 0x1F) << 11 | u32::from(at.function & 0x7) << 8 | u32::from(offset & 0xFC)
}

/// Configuration-space register offsets (type 0 and type 1 headers).
pub mod reg {
    /// Vendor ID (low 16 bits) and device ID (high 16 bits).
    pub const ID: u8 = 0x00;
    /// Command (low 16 bits) and status (high 16 bits).
    pub const COMMAND: u8 = 0x04;
    /// Revision, programming interface, subclass, class (low to high byte).
    pub const CLASS: u8 = 0x08;
    /// Cache line size, latency timer, header type (byte 2), BIST.
    pub const HEADER: u8 = 0x0C;
    /// First base address register.
    pub const BAR0: u8 = 0x10;
    /// Type 1 (bridge): primary, secondary (byte 1) and subordinate bus numbers.
    pub const BRIDGE_BUSES: u8 = 0x18;
    /// Type 0: offset of the first capability (byte 0), valid when the status register
    /// has [`super::status::CAPABILITIES`].
    pub const CAPABILITIES: u8 = 0x34;
    /// Interrupt line (byte 0) and interrupt pin (byte 1).
    pub const INTERRUPT: u8 = 0x3C;
}

/// Status register bits (the high half of [`reg::COMMAND`]).
pub mod status {
    /// The function has a capability list.
    pub const CAPABILITIES: u32 = 1 << 4;
}

/// Capability IDs.
pub mod capability {
    /// MSI-X.
    pub const MSIX: u8 = 0x11;
}

/// Command register bits.
pub mod command {
    /// Respond to IO-space accesses.
    pub const IO_SPACE: u32 = 1 << 0;
    /// Respond to memory-space accesses.
    pub const MEMORY_SPACE: u32 = 1 << 1;
    /// May master the bus (DMA).
    pub const BUS_MASTER: u32 = 1 << 2;
    /// INTx assertion disabled.
    pub const INTX_DISABLE: u32 = 1 << 10;
}

/// Dword access to configuration space.
pub trait ConfigSpace: ConfigRead {
    /// Writes the dword at `offset` (a multiple of 4) of function `at`.
    fn write(&mut self, at: Address, offset: u8, value: u32);
}

/// Reading configuration space — all a driver may do with its own function's (through
/// `tileos_pci_attach::Attachment`); the `pci` domain can also write ([`ConfigSpace`]).
pub trait ConfigRead {
    /// Reads the dword at `offset` (a multiple of 4) of function `at`; an absent function
    /// reads as all ones.
    fn read(&mut self, at: Address, offset: u8) -> u32;
}

/// What a base address register decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// IO-port space.
    Io,
    /// 32-bit memory space.
    Memory32 {
        /// Reads have no side effects (may be mapped write-combining).
        prefetchable: bool,
    },
    /// 64-bit memory space: this BAR and the next form one address.
    Memory64 {
        /// Reads have no side effects (may be mapped write-combining).
        prefetchable: bool,
    },
}

impl BarKind {
    /// The kind encoded in the low bits of a BAR's value, or `None` for the reserved
    /// memory type 0b11.
    pub fn decode(value: u32) -> Option<BarKind> {
        if value & 1 == 1 {
            return Some(BarKind::Io);
        }
        let prefetchable = value & 0x8 != 0;
        match (value >> 1) & 0x3 {
            // Type 0b01 (below 1 MiB) is legacy; its address is 32 bits wide.
            0 | 1 => Some(BarKind::Memory32 { prefetchable }),
            2 => Some(BarKind::Memory64 { prefetchable }),
            _ => None,
        }
    }

    /// Bits of the BAR value that are flags, not address.
    pub fn flag_mask(self) -> u64 {
        match self {
            BarKind::Io => 0x3,
            _ => 0xF,
        }
    }
}

/// One implemented base address register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// BAR number (0..6); a 64-bit BAR also occupies `index + 1`.
    pub index: u8,
    /// IO or memory, width, prefetchable.
    pub kind: BarKind,
    /// Base address assigned by the firmware (0 if unassigned).
    pub address: u64,
    /// Size in bytes from the write-ones probe.
    pub size: u64,
}

/// The size a BAR decodes, from the value read back after writing all ones (both halves
/// combined for 64-bit BARs): the lowest address bit that stuck. `None` if no address bit
/// stuck (the BAR is not implemented).
pub fn probed_size(readback: u64, kind: BarKind) -> Option<u64> {
    let mut mask = readback & !kind.flag_mask();
    if kind == BarKind::Io {
        // IO BARs may leave the upper 16 bits unimplemented (read as zero): only the low
        // 16 bits count.
        mask &= 0xFFFF;
    } else if !matches!(kind, BarKind::Memory64 { .. }) {
        mask &= 0xFFFF_FFFF;
    }
    (mask != 0).then(|| mask & mask.wrapping_neg())
}

/// Human-readable name of a class/subclass (PCI code and ID assignment specification).
pub fn class_name(class: u8, subclass: u8) -> &'static str {
    match (class, subclass) {
        (0x00, 0x01) => "VGA-compatible (pre-2.0)",
        (0x01, 0x01) => "IDE controller",
        (0x01, 0x06) => "SATA controller",
        (0x01, 0x08) => "NVMe controller",
        (0x01, _) => "mass storage controller",
        (0x02, 0x00) => "Ethernet controller",
        (0x02, _) => "network controller",
        (0x03, 0x00) => "VGA controller",
        (0x03, _) => "display controller",
        (0x04, _) => "multimedia controller",
        (0x05, _) => "memory controller",
        (0x06, 0x00) => "host bridge",
        (0x06, 0x01) => "ISA bridge",
        (0x06, 0x04) => "PCI-to-PCI bridge",
        (0x06, 0x80) => "other bridge",
        (0x06, _) => "bridge",
        (0x07, _) => "communication controller",
        (0x08, _) => "system peripheral",
        (0x0C, 0x03) => "USB controller",
        (0x0C, 0x05) => "SMBus controller",
        (0x0C, _) => "serial bus controller",
        (0xFF, _) => "unassigned class",
        _ => "other",
    }
}

/// One function as enumeration found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    /// Bus, device, function.
    pub address: Address,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Class code.
    pub class: u8,
    /// Subclass code.
    pub subclass: u8,
    /// Programming interface.
    pub prog_if: u8,
    /// Header type without the multi-function bit (0 device, 1 PCI-to-PCI bridge).
    pub header_type: u8,
    /// Interrupt line as the firmware programmed it (the legacy IRQ number; 0xFF = none).
    pub interrupt_line: u8,
    /// Interrupt pin: 0 none, 1..=4 INTA#..INTD#.
    pub interrupt_pin: u8,
    /// Implemented BARs by BAR number.
    pub bars: [Option<Bar>; 6],
}

impl Function {
    /// The 24-bit class code: class, subclass, programming interface.
    pub fn class_code(&self) -> u32 {
        u32::from(self.class) << 16 | u32::from(self.subclass) << 8 | u32::from(self.prog_if)
    }
}

/// Reads function `at`'s identity, interrupt and BARs. BARs are sized by the write-ones
/// probe with IO and memory decoding switched off meanwhile; every register is restored.
/// `None` if no function answers there.
pub fn probe<C: ConfigSpace>(config: &mut C, at: Address) -> Option<Function> {
    let id = config.read(at, reg::ID);
    if id & 0xFFFF == 0xFFFF {
        return None;
    }
    let class = config.read(at, reg::CLASS);
    let header_type = (config.read(at, reg::HEADER) >> 16) as u8 & 0x7F;
    let interrupt = config.read(at, reg::INTERRUPT);
    let mut bars = [None; 6];
    let bar_count = match header_type {
        0 => 6,
        1 => 2,
        _ => 0,
    };
    let saved_command = config.read(at, reg::COMMAND);
    config.write(at, reg::COMMAND, saved_command & 0xFFFF & !(command::IO_SPACE | command::MEMORY_SPACE));
    let mut index = 0;
    while index < bar_count {
        let offset = reg::BAR0 + 4 * index;
        let low = config.read(at, offset);
        let Some(kind) = BarKind::decode(low) else {
            index += 1;
            continue;
        };
        config.write(at, offset, 0xFFFF_FFFF);
        let low_probe = config.read(at, offset);
        config.write(at, offset, low);
        let (address, readback, width) = if matches!(kind, BarKind::Memory64 { .. }) && index + 1 < bar_count {
            let high = config.read(at, offset + 4);
            config.write(at, offset + 4, 0xFFFF_FFFF);
            let high_probe = config.read(at, offset + 4);
            config.write(at, offset + 4, high);
            (u64::from(high) << 32 | u64::from(low), u64::from(high_probe) << 32 | u64::from(low_probe), 2)
        } else {
            (u64::from(low), u64::from(low_probe), 1)
        };
        if let Some(size) = probed_size(readback, kind) {
            bars[index as usize] = Some(Bar { index, kind, address: address & !kind.flag_mask(), size });
        }
        index += width;
    }
    config.write(at, reg::COMMAND, saved_command & 0xFFFF);
    Some(Function {
        address: at,
        vendor: id as u16,
        device: (id >> 16) as u16,
        class: (class >> 24) as u8,
        subclass: (class >> 16) as u8,
        prog_if: (class >> 8) as u8,
        header_type,
        interrupt_line: interrupt as u8,
        interrupt_pin: (interrupt >> 8) as u8,
        bars,
    })
}

/// Visits every function on `bus` and, through PCI-to-PCI bridges, on the buses behind it
/// (depth first, in address order). A bridge whose secondary bus is not above its own bus
/// is not followed, so a misprogrammed bridge cannot loop.
pub fn enumerate<C: ConfigSpace>(config: &mut C, bus: u8, visit: &mut dyn FnMut(&mut C, &Function)) {
    for device in 0..32 {
        let first = Address { bus, device, function: 0 };
        if config.read(first, reg::ID) & 0xFFFF == 0xFFFF {
            continue;
        }
        let multi_function = (config.read(first, reg::HEADER) >> 16) & 0x80 != 0;
        for function in 0..if multi_function { 8 } else { 1 } {
            let Some(found) = probe(config, Address { bus, device, function }) else { continue };
            visit(config, &found);
            if found.header_type == 1 {
                let secondary = (config.read(found.address, reg::BRIDGE_BUSES) >> 8) as u8;
                if secondary > bus {
                    enumerate(config, secondary, visit);
                }
            }
        }
    }
}

/// Turns on IO and memory decoding and bus mastering for the function at `at` and allows
/// its INTx interrupt; returns the new command register value.
pub fn enable<C: ConfigSpace>(config: &mut C, at: Address) -> u32 {
    let current = config.read(at, reg::COMMAND) & 0xFFFF;
    let enabled = (current | command::IO_SPACE | command::MEMORY_SPACE | command::BUS_MASTER) & !command::INTX_DISABLE;
    config.write(at, reg::COMMAND, enabled);
    enabled
}

/// Most capabilities followed in a list, so a malformed (looping) list ends.
const MAX_CAPABILITIES: usize = 48;

/// Finds function `at`'s MSI-X capability, if it has one.
pub fn msix<C: ConfigRead>(config: &mut C, at: Address) -> Option<Msix> {
    if config.read(at, reg::COMMAND) >> 16 & status::CAPABILITIES == 0 {
        return None;
    }
    let mut offset = config.read(at, reg::CAPABILITIES) as u8 & 0xFC;
    for _ in 0..MAX_CAPABILITIES {
        if offset < 0x40 {
            return None;
        }
        let header = config.read(at, offset);
        if header as u8 == capability::MSIX {
            let table = config.read(at, offset + 4);
            let pba = config.read(at, offset + 8);
            return Some(Msix {
                capability: offset,
                vectors: ((header >> 16) as u16 & 0x7FF) + 1,
                table_bar: table as u8 & 7,
                table_offset: table & !7,
                pba_bar: pba as u8 & 7,
                pba_offset: pba & !7,
            });
        }
        offset = (header >> 8) as u8 & 0xFC;
    }
    None
}

/// Switches function `at` from INTx to MSI-X: sets the MSI-X enable bit (clearing the
/// function mask; each table entry stays masked until the driver programs and unmasks it)
/// and disables INTx assertion.
pub fn enable_msix<C: ConfigSpace>(config: &mut C, at: Address, msix: &Msix) {
    let control = config.read(at, msix.capability);
    config.write(at, msix.capability, (control & !(1 << 30)) | 1 << 31);
    let command = config.read(at, reg::COMMAND) & 0xFFFF;
    config.write(at, reg::COMMAND, command | command::INTX_DISABLE);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A simulated function: registers, and per-BAR the writable address bits.
    struct SimFunction {
        registers: [u32; 64],
        writable: [u32; 6],
    }

    /// A simulated configuration space.
    #[derive(Default)]
    struct SimBus {
        functions: BTreeMap<Address, SimFunction>,
        writes: usize,
    }

    impl ConfigRead for SimBus {
        fn read(&mut self, at: Address, offset: u8) -> u32 {
            self.functions.get(&at).map_or(0xFFFF_FFFF, |f| f.registers[usize::from(offset / 4)])
        }
    }

    impl ConfigSpace for SimBus {
        fn write(&mut self, at: Address, offset: u8, value: u32) {
            self.writes += 1;
            let Some(f) = self.functions.get_mut(&at) else { return };
            let index = usize::from(offset / 4);
            if (4..10).contains(&index) {
                // Bits outside the writable mask (flags, size bits) never change.
                let writable = f.writable[index - 4];
                f.registers[index] = (f.registers[index] & !writable) | (value & writable);
            } else {
                f.registers[index] = value;
            }
        }
    }

    fn at(bus: u8, device: u8, function: u8) -> Address {
        Address { bus, device, function }
    }

    fn nvme_like() -> SimFunction {
        let mut registers = [0; 64];
        registers[0] = 0x0010_1B36;
        registers[1] = 0x0000_0003;
        registers[2] = 0x0108_0201;
        // 16 KiB 64-bit BAR at 0xfebf0000; an IO BAR of 64 ports at 0xc000 in BAR 2.
        registers[4] = 0xFEBF_0004;
        registers[5] = 0;
        registers[6] = 0x0000_C001;
        registers[15] = 0x0000_010B;
        SimFunction { registers, writable: [0xFFFF_C000, 0xFFFF_FFFF, 0xFFFF_FFC0, 0, 0, 0] }
    }

    #[test]
    fn mechanism1_address_layout() {
        assert_eq!(mechanism1(at(0, 4, 0), 0x10), 0x8000_2010);
        assert_eq!(mechanism1(at(1, 31, 7), 0x3F), 0x8001_FF3C);
        assert_eq!(at(0, 4, 0).to_string(), "00:04.0");
    }

    #[test]
    fn bar_kinds_and_sizes() {
        assert_eq!(BarKind::decode(0xFEBF_0004), Some(BarKind::Memory64 { prefetchable: false }));
        assert_eq!(BarKind::decode(0xFD00_0008), Some(BarKind::Memory32 { prefetchable: true }));
        assert_eq!(BarKind::decode(0xC001), Some(BarKind::Io));
        assert_eq!(BarKind::decode(0x6), None);
        assert_eq!(probed_size(0xFFFF_FFFF_FFFF_C004, BarKind::Memory64 { prefetchable: false }), Some(0x4000));
        assert_eq!(probed_size(0xFF00_0008, BarKind::Memory32 { prefetchable: true }), Some(0x100_0000));
        // IO BAR with unimplemented upper half.
        assert_eq!(probed_size(0x0000_FFC1, BarKind::Io), Some(0x40));
        assert_eq!(probed_size(0xFFFF_FFE1, BarKind::Io), Some(0x20));
        assert_eq!(probed_size(0x0, BarKind::Memory32 { prefetchable: false }), None);
        // A 64-bit BAR larger than 4 GiB: only the high half has fixed-zero bits.
        assert_eq!(probed_size(0xFFFF_FFF0_0000_000C, BarKind::Memory64 { prefetchable: true }), Some(0x10_0000_0000));
    }

    #[test]
    fn class_names() {
        assert_eq!(class_name(0x01, 0x08), "NVMe controller");
        assert_eq!(class_name(0x06, 0x04), "PCI-to-PCI bridge");
        assert_eq!(class_name(0x02, 0x00), "Ethernet controller");
        assert_eq!(class_name(0x42, 0x00), "other");
    }

    #[test]
    fn probe_sizes_bars_and_restores_registers() {
        let mut bus = SimBus::default();
        bus.functions.insert(at(0, 4, 0), nvme_like());
        let before = bus.functions[&at(0, 4, 0)].registers;
        let found = probe(&mut bus, at(0, 4, 0)).unwrap();
        assert_eq!(bus.functions[&at(0, 4, 0)].registers, before);
        assert_eq!((found.vendor, found.device, found.class, found.subclass, found.prog_if), (0x1B36, 0x0010, 1, 8, 2));
        assert_eq!(found.class_code(), 0x01_08_02);
        assert_eq!((found.interrupt_line, found.interrupt_pin), (11, 1));
        assert_eq!(
            found.bars[0],
            Some(Bar { index: 0, kind: BarKind::Memory64 { prefetchable: false }, address: 0xFEBF_0000, size: 0x4000 })
        );
        assert_eq!(found.bars[1], None, "the upper half of a 64-bit BAR is not a BAR of its own");
        assert_eq!(found.bars[2], Some(Bar { index: 2, kind: BarKind::Io, address: 0xC000, size: 0x40 }));
        assert_eq!(found.bars[3], None);
    }

    #[test]
    fn enumeration_follows_multifunction_devices_and_bridges() {
        let mut bus = SimBus::default();
        let mut host = [0; 64];
        host[0] = 0x1237_8086;
        host[2] = 0x0600_0002;
        host[3] = 0x0080_0000; // multi-function
        bus.functions.insert(at(0, 0, 0), SimFunction { registers: host, writable: [0; 6] });
        let mut second = host;
        second[0] = 0x7010_8086;
        second[2] = 0x0101_8000;
        bus.functions.insert(at(0, 0, 1), SimFunction { registers: second, writable: [0; 6] });
        let mut bridge = [0; 64];
        bridge[0] = 0x0001_1B36;
        bridge[2] = 0x0604_0000;
        bridge[3] = 0x0001_0000; // type 1
        bridge[6] = 0x0002_0100; // primary 0, secondary 1, subordinate 2
        bus.functions.insert(at(0, 5, 0), SimFunction { registers: bridge, writable: [0; 6] });
        bus.functions.insert(at(1, 0, 0), nvme_like());
        // A looping bridge on bus 1 pointing back at bus 0 is not followed.
        let mut looping = bridge;
        looping[6] = 0x0000_0001;
        bus.functions.insert(at(1, 2, 0), SimFunction { registers: looping, writable: [0; 6] });
        let mut seen = Vec::new();
        enumerate(&mut bus, 0, &mut |_, f| seen.push((f.address, f.class, f.subclass)));
        assert_eq!(seen, [(at(0, 0, 0), 6, 0), (at(0, 0, 1), 1, 1), (at(0, 5, 0), 6, 4), (at(1, 0, 0), 1, 8), (at(1, 2, 0), 6, 4)]);
    }

    #[test]
    fn enable_sets_decoding_and_bus_mastering_and_allows_intx() {
        let mut bus = SimBus::default();
        let mut f = nvme_like();
        f.registers[1] = 0x0010_0400;
        bus.functions.insert(at(0, 4, 0), f);
        assert_eq!(enable(&mut bus, at(0, 4, 0)), 0x7);
        assert_eq!(bus.functions[&at(0, 4, 0)].registers[1], 0x7);
    }

    /// `nvme_like` with a capability list: power management at 0x40, then MSI-X at 0x50
    /// (64 vectors, table at BAR 0 + 0x2000, pending bits at BAR 0 + 0x3000).
    fn with_msix() -> SimFunction {
        let mut f = nvme_like();
        f.registers[1] |= status::CAPABILITIES << 16;
        f.registers[0x34 / 4] = 0x40;
        f.registers[0x40 / 4] = 0x0003_5001;
        f.registers[0x50 / 4] = 0x003F_0011;
        f.registers[0x54 / 4] = 0x2000;
        f.registers[0x58 / 4] = 0x3000;
        f
    }

    #[test]
    fn msix_capability_found_through_the_list() {
        let mut bus = SimBus::default();
        bus.functions.insert(at(0, 4, 0), with_msix());
        let found = msix(&mut bus, at(0, 4, 0));
        assert_eq!(found, Some(Msix { capability: 0x50, vectors: 64, table_bar: 0, table_offset: 0x2000, pba_bar: 0, pba_offset: 0x3000 }));
        bus.functions.insert(at(0, 5, 0), nvme_like());
        assert_eq!(msix(&mut bus, at(0, 5, 0)), None, "no capability list");
    }

    #[test]
    fn msix_search_ends_on_a_looping_list() {
        let mut bus = SimBus::default();
        let mut f = with_msix();
        f.registers[0x40 / 4] = 0x0003_4001; // power management pointing at itself
        bus.functions.insert(at(0, 4, 0), f);
        assert_eq!(msix(&mut bus, at(0, 4, 0)), None);
    }

    #[test]
    fn enable_msix_sets_enable_clears_function_mask_and_disables_intx() {
        let mut bus = SimBus::default();
        let mut f = with_msix();
        f.registers[0x50 / 4] |= 1 << 30;
        f.registers[1] = 0x0010_0007;
        bus.functions.insert(at(0, 4, 0), f);
        let found = msix(&mut bus, at(0, 4, 0)).unwrap();
        enable_msix(&mut bus, at(0, 4, 0), &found);
        let registers = bus.functions[&at(0, 4, 0)].registers;
        assert_eq!(registers[0x50 / 4], 0x803F_0011);
        assert_eq!(registers[1] & 0xFFFF, 0x407);
    }
}
