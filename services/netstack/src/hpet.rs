//! The HPET (IA-PC High Precision Event Timers, rev. 1.0a), which the netstack uses until
//! tileos has a timer service: its main counter is the netstack's clock (at the rate the
//! HPET states, not a nominal one), and timer 0 in one-shot mode wakes it at `smoltcp`'s
//! next deadline through an IOAPIC pin. This module has the register map and the
//! arithmetic; the domain does the accesses.

/// Bytes of the HPET's register block (the description maps its 4 KiB page).
pub const REGISTER_BYTES: usize = 0x400;

/// Register offsets from the HPET base.
pub mod reg {
    /// General capabilities and ID (64 bits).
    pub const CAPABILITIES: usize = 0x000;
    /// General configuration (bit 0: counter enabled; bit 1: legacy routing).
    pub const CONFIGURATION: usize = 0x010;
    /// General interrupt status: bit n is timer n's level-triggered interrupt; write 1 to
    /// clear it (which lowers the line).
    pub const INTERRUPT_STATUS: usize = 0x020;
    /// Main counter (64 bits).
    pub const MAIN_COUNTER: usize = 0x0F0;
    /// Timer 0 configuration and capabilities (64 bits).
    pub const TIMER0_CONFIG: usize = 0x100;
    /// Timer 0 comparator (64 bits).
    pub const TIMER0_COMPARATOR: usize = 0x108;
}

/// General configuration: the main counter runs.
pub const ENABLE: u64 = 1 << 0;
/// Timer configuration: level-triggered interrupt.
pub const TIMER_LEVEL: u64 = 1 << 1;
/// Timer configuration: interrupt enabled.
pub const TIMER_ENABLE: u64 = 1 << 2;
/// Femtoseconds per microsecond.
const FS_PER_US: u128 = 1_000_000_000;

/// What the capabilities register says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Main counter period in femtoseconds (at most 100 ns by the specification).
    pub period_fs: u32,
    /// The main counter is 64 bits wide.
    pub wide: bool,
    /// Number of timers.
    pub timers: u8,
}

impl Capabilities {
    /// Decodes the general capabilities register; `None` if the period is 0 or beyond the
    /// specification's 100 ns (no HPET there, or garbage).
    pub fn parse(value: u64) -> Option<Capabilities> {
        let period_fs = (value >> 32) as u32;
        if period_fs == 0 || period_fs > 100_000_000 {
            return None;
        }
        Some(Capabilities { period_fs, wide: value & (1 << 13) != 0, timers: ((value >> 8) & 0x1F) as u8 + 1 })
    }

    /// Counter ticks in `micros` microseconds, at least one.
    pub fn ticks(&self, micros: u64) -> u64 {
        ((u128::from(micros) * FS_PER_US / u128::from(self.period_fs)) as u64).max(1)
    }

    /// Microseconds in `ticks` counter ticks.
    pub fn micros(&self, ticks: u64) -> u64 {
        (u128::from(ticks) * u128::from(self.period_fs) / FS_PER_US) as u64
    }

    /// Frequency of the main counter in kHz (for the log).
    pub fn khz(&self) -> u64 {
        1_000_000_000_000 / u64::from(self.period_fs)
    }
}

/// The IOAPIC pins timer 0 can interrupt on (its configuration register's routing
/// capability, bits 32..64), lowest first.
pub fn routable_pins(timer_config: u64) -> impl Iterator<Item = u8> {
    let mask = (timer_config >> 32) as u32;
    (0..32u8).filter(move |pin| mask & (1 << pin) != 0)
}

/// Timer 0's configuration for a level-triggered one-shot interrupt on `pin`, keeping
/// the read-only capability bits of `current`.
pub fn one_shot_level(current: u64, pin: u8) -> u64 {
    // Clear: type (bit 1), enable (2), periodic (3), 32-bit mode (8), route (9..14).
    let kept = current & !(0b1110 | 1 << 8 | 0x1F << 9);
    kept | TIMER_LEVEL | TIMER_ENABLE | u64::from(pin & 0x1F) << 9
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's HPET: 100 MHz (10 ns), 64-bit, 3 timers, legacy-capable, vendor 0x8086.
    const QEMU_CAPABILITIES: u64 = 0x0098_9680_8086_A201;

    #[test]
    fn qemu_capabilities() {
        let caps = Capabilities::parse(QEMU_CAPABILITIES).unwrap();
        assert_eq!(caps, Capabilities { period_fs: 10_000_000, wide: true, timers: 3 });
        assert_eq!(caps.khz(), 100_000);
        assert_eq!(caps.ticks(1_000), 100_000);
        assert_eq!(caps.micros(250), 2);
        assert_eq!(caps.ticks(0), 1);
        assert_eq!(Capabilities::parse(0), None);
        assert_eq!(Capabilities::parse(u64::MAX), None);
    }

    #[test]
    fn a_week_of_ticks_does_not_overflow() {
        let caps = Capabilities::parse(QEMU_CAPABILITIES).unwrap();
        let week = 7 * 24 * 3600 * 1_000_000u64;
        assert_eq!(caps.micros(caps.ticks(week)), week);
    }

    #[test]
    fn routing_and_configuration() {
        // QEMU's pc machine: IRQs 2, 8 and 16..23.
        let config = 0x00FF_0104_u64 << 32 | 0x30;
        assert_eq!(routable_pins(config).collect::<std::vec::Vec<_>>(), [2, 8, 16, 17, 18, 19, 20, 21, 22, 23]);
        let programmed = one_shot_level(config | 0b1000 | 1 << 8 | 3 << 9, 20);
        assert_eq!(programmed >> 32, 0x00FF_0104, "capabilities kept");
        assert_eq!(programmed & 0b1110, TIMER_LEVEL | TIMER_ENABLE, "level, enabled, one-shot");
        assert_eq!(programmed & (1 << 8), 0, "64-bit mode");
        assert_eq!((programmed >> 9) & 0x1F, 20);
        assert_eq!(programmed & 0x30, 0x30, "other capability bits kept");
    }
    extern crate std;
}
