//! Interrupt controllers: the local APIC (timer for preemption, end-of-interrupt) and the
//! IOAPIC (routing device interrupt pins to vectors). The legacy 8259 PICs are masked.
//! Both APICs are reached through the direct physical map; their pages are never handed
//! to user space as device memory.

use super::memory::PHYS_MAP_BASE;
use super::trap::{IOAPIC_PINS, IOAPIC_VECTOR_BASE, SPURIOUS_VECTOR, TIMER_VECTOR};
use x86_64::instructions::port::Port;

/// Physical address of the local APIC registers.
pub const LAPIC_BASE: u64 = 0xFEE0_0000;
/// Physical address of the IOAPIC registers.
pub const IOAPIC_BASE: u64 = 0xFEC0_0000;

const LAPIC_EOI: u64 = 0xB0;
const LAPIC_SPURIOUS: u64 = 0xF0;
const LAPIC_TIMER_LVT: u64 = 0x320;
const LAPIC_TIMER_INITIAL: u64 = 0x380;
const LAPIC_TIMER_DIVIDE: u64 = 0x3E0;

/// Timer ticks between preemption interrupts (bus clock / 16; QEMU's APIC bus runs at
/// 1 GHz, so this is about 5 ms).
const TIMER_INITIAL_COUNT: u32 = 312_500;

fn lapic_write(register: u64, value: u32) {
    // SAFETY: LAPIC MMIO register inside the direct map.
    unsafe { ((PHYS_MAP_BASE + LAPIC_BASE + register) as *mut u32).write_volatile(value) };
}

fn ioapic_write(register: u32, value: u32) {
    // SAFETY: IOAPIC index/data registers inside the direct map.
    unsafe {
        ((PHYS_MAP_BASE + IOAPIC_BASE) as *mut u32).write_volatile(register);
        ((PHYS_MAP_BASE + IOAPIC_BASE + 0x10) as *mut u32).write_volatile(value);
    }
}

/// Masks the 8259 PICs, enables the local APIC and starts the periodic preemption timer;
/// every IOAPIC pin starts masked.
pub fn init() {
    // SAFETY: PIC data ports; masking every line only silences the legacy controller.
    unsafe {
        Port::<u8>::new(0x21).write(0xFF);
        Port::<u8>::new(0xA1).write(0xFF);
    }
    lapic_write(LAPIC_SPURIOUS, 0x100 | SPURIOUS_VECTOR as u32);
    lapic_write(LAPIC_TIMER_DIVIDE, 0x3);
    lapic_write(LAPIC_TIMER_LVT, (1 << 17) | TIMER_VECTOR as u32);
    lapic_write(LAPIC_TIMER_INITIAL, TIMER_INITIAL_COUNT);
    for pin in 0..IOAPIC_PINS as u8 {
        route(pin, false, false, true);
    }
}

/// Signals end of interrupt to the local APIC.
pub fn end_of_interrupt() {
    lapic_write(LAPIC_EOI, 0);
}

/// Routes IOAPIC `pin` to its vector on CPU 0 with the given trigger mode and polarity,
/// masked or not.
pub fn route(pin: u8, level_triggered: bool, active_low: bool, masked: bool) {
    let vector = (IOAPIC_VECTOR_BASE + u64::from(pin)) as u32;
    let low = vector | (u32::from(active_low) << 13) | (u32::from(level_triggered) << 15) | (u32::from(masked) << 16);
    ioapic_write(0x10 + 2 * u32::from(pin), low);
    ioapic_write(0x11 + 2 * u32::from(pin), 0);
}
