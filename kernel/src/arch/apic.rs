//! Interrupt controllers: the local APIC (timer for preemption, end-of-interrupt) and the
//! IOAPIC (routing device interrupt pins to vectors). The legacy 8259 PICs are masked.
//! Both APICs are reached through the direct physical map; their pages are never handed
//! to user space as device memory. At boot the time-stamp counter and the LAPIC timer are
//! calibrated against the PIT (channel 2, gated through port 0x61), so that a tick lasts
//! [`TICK_US`] and user space learns the TSC rate.

use super::memory::PHYS_MAP_BASE;
use super::trap::{IOAPIC_PINS, IOAPIC_VECTOR_BASE, SPURIOUS_VECTOR, TIMER_VECTOR};
use x86_64::instructions::port::Port;

/// Physical address of the local APIC registers.
pub const LAPIC_BASE: u64 = 0xFEE0_0000;
/// Physical address of the IOAPIC registers.
pub const IOAPIC_BASE: u64 = 0xFEC0_0000;

const LAPIC_ID: u64 = 0x20;
const LAPIC_EOI: u64 = 0xB0;
const LAPIC_ICR_LOW: u64 = 0x300;
const LAPIC_ICR_HIGH: u64 = 0x310;
/// ICR bit: the last interrupt command is still being sent.
const ICR_DELIVERY_PENDING: u32 = 1 << 12;
/// Polls of the ICR's delivery status before an interprocessor interrupt counts as lost.
const ICR_POLLS: u32 = 1_000_000;
const LAPIC_SPURIOUS: u64 = 0xF0;
const LAPIC_TIMER_LVT: u64 = 0x320;
const LAPIC_TIMER_INITIAL: u64 = 0x380;
const LAPIC_TIMER_CURRENT: u64 = 0x390;
const LAPIC_TIMER_DIVIDE: u64 = 0x3E0;

/// Length of a timer tick (the scheduler's unit of time), in microseconds.
pub const TICK_US: u64 = 5000;
/// Frequency of the PIT's input clock, in Hz.
const PIT_HZ: u64 = 1_193_182;
/// Length of the calibration window, in milliseconds (under QEMU `-icount shift=0` it
/// costs this many million guest instructions).
const CALIBRATION_MS: u64 = 2;
/// Polls of port 0x61 before giving up on the PIT (far more than the window needs).
const CALIBRATION_POLLS: u64 = 50_000_000;
/// Most calibration windows measured at boot ([`calibrate`]).
const CALIBRATION_ATTEMPTS: u32 = 8;

/// Timer rates measured at boot.
#[derive(Clone, Copy, Debug)]
pub struct Calibration {
    /// Time-stamp-counter increments per millisecond.
    pub tsc_per_ms: u64,
    /// LAPIC timer counts (bus clock / 16) per millisecond.
    pub lapic_per_ms: u64,
    /// False when the PIT did not answer and the nominal rates (QEMU's) are used.
    pub measured: bool,
}

/// QEMU's rates: TSC counted at 1 GHz, APIC bus at 1 GHz (divided by 16).
const NOMINAL: Calibration = Calibration { tsc_per_ms: 1_000_000, lapic_per_ms: 62_500, measured: false };

static mut CALIBRATION: Calibration = NOMINAL;

/// The rates measured by [`init`].
pub fn calibration() -> Calibration {
    // SAFETY: written once in `init` at boot, before any reader; single CPU.
    unsafe { *core::ptr::addr_of!(CALIBRATION) }
}

fn lapic_read(register: u64) -> u32 {
    // SAFETY: LAPIC MMIO register inside the direct map.
    unsafe { ((PHYS_MAP_BASE + LAPIC_BASE + register) as *const u32).read_volatile() }
}

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

/// Masks the 8259 PICs, parks PIT channel 0, enables the local APIC and starts the
/// periodic preemption timer; every IOAPIC pin starts masked.
///
/// The firmware leaves PIT channel 0 running as a square wave; on PC machines its output is
/// ISA IRQ 0, which reaches IOAPIC pin 2 — a pin a domain may own (e.g. for the HPET's
/// timer 0), where a level-triggered route would see the square wave as an interrupt
/// storm. Mode 0 without a count holds the output low until someone programs the PIT.
pub fn init() {
    // SAFETY: PIC data ports; masking every line only silences the legacy controller. PIT
    // command port: channel 0, low/high byte access, mode 0 (output low, no count loaded).
    unsafe {
        Port::<u8>::new(0x21).write(0xFF);
        Port::<u8>::new(0xA1).write(0xFF);
        Port::<u8>::new(0x43).write(0x30);
    }
    lapic_write(LAPIC_SPURIOUS, 0x100 | SPURIOUS_VECTOR as u32);
    lapic_write(LAPIC_TIMER_DIVIDE, 0x3);
    let measured = calibrate().unwrap_or(NOMINAL);
    // SAFETY: single CPU, at boot, before any reader.
    unsafe { *core::ptr::addr_of_mut!(CALIBRATION) = measured };
    start_timer();
    for pin in 0..IOAPIC_PINS as u8 {
        route(pin, false, false, true);
    }
}

/// Starts this CPU's periodic preemption timer (one tick every [`TICK_US`], by the boot
/// CPU's calibration).
pub fn start_timer() {
    let initial = (calibration().lapic_per_ms * TICK_US / 1000).clamp(1, u64::from(u32::MAX)) as u32;
    lapic_write(LAPIC_TIMER_DIVIDE, 0x3);
    lapic_write(LAPIC_TIMER_LVT, (1 << 17) | TIMER_VECTOR as u32);
    lapic_write(LAPIC_TIMER_INITIAL, initial);
}

/// Measures the TSC and LAPIC timer rates over PIT windows ([`measure_window`]) until two
/// windows agree within 1/128, at most [`CALIBRATION_ATTEMPTS`], and keeps the lowest.
///
/// Under QEMU without `-icount` the CPU is a host thread: when the host preempts it inside
/// a window, the window ends only at the first poll after it runs again, so that window's
/// rates come out too high (a TSC of 6.4 GHz was measured for a 2.6 GHz one on a loaded
/// host, and every timeout of the tile then lasted 2.5 times longer). Each window starts
/// its counters before the PIT starts counting, so a preemption can only lengthen it: the
/// lowest window is the closest, and two that agree were not preempted. Under `-icount`
/// the first two windows agree exactly. `None` if the PIT never answers.
fn calibrate() -> Option<Calibration> {
    let mut lowest: Option<Calibration> = None;
    for _ in 0..CALIBRATION_ATTEMPTS {
        let window = measure_window()?;
        match lowest {
            Some(best) if window.tsc_per_ms.abs_diff(best.tsc_per_ms) <= best.tsc_per_ms / 128 => {
                return Some(if window.tsc_per_ms < best.tsc_per_ms { window } else { best });
            }
            Some(best) if best.tsc_per_ms <= window.tsc_per_ms => {}
            _ => lowest = Some(window),
        }
    }
    lowest
}

/// Measures the TSC and the LAPIC timer (divide by 16, masked one-shot) over
/// [`CALIBRATION_MS`] of PIT channel 2 in mode 0 (as Linux's `pit_calibrate_tsc` does: gate
/// high, speaker off, count down, poll OUT2 in bit 5 of port 0x61). Both counters start
/// before the PIT's count is loaded (the count starts at its high byte), so the window
/// measured is never shorter than the PIT's. `None` if the PIT never finishes or a rate
/// comes out zero.
fn measure_window() -> Option<Calibration> {
    let count = PIT_HZ * CALIBRATION_MS / 1000;
    let (mut control, mut command, mut channel2) = (Port::<u8>::new(0x61), Port::<u8>::new(0x43), Port::<u8>::new(0x42));
    lapic_write(LAPIC_TIMER_LVT, 1 << 16);
    // SAFETY: PIT and port-0x61 accesses; the kernel owns the PIT at boot, the speaker
    // stays off, and the interrupt of channel 0 is masked at the 8259.
    let (tsc_start, tsc_end, lapic_left) = unsafe {
        let saved = control.read();
        control.write((saved & !0x02) | 0x01);
        command.write(0b1011_0000); // channel 2, low then high byte, mode 0, binary
        channel2.write(count as u8);
        lapic_write(LAPIC_TIMER_INITIAL, u32::MAX);
        let start = core::arch::x86_64::_rdtsc();
        channel2.write((count >> 8) as u8);
        let mut polls = 0;
        while control.read() & 0x20 == 0 {
            polls += 1;
            if polls > CALIBRATION_POLLS {
                control.write(saved);
                return None;
            }
        }
        let end = core::arch::x86_64::_rdtsc();
        let left = lapic_read(LAPIC_TIMER_CURRENT);
        control.write(saved);
        (start, end, left)
    };
    lapic_write(LAPIC_TIMER_INITIAL, 0);
    // The window is `count` PIT clocks, slightly under CALIBRATION_MS: scale by its length.
    let per_ms = |elapsed: u64| elapsed.saturating_mul(PIT_HZ) / (count * 1000);
    let tsc_per_ms = per_ms(tsc_end.wrapping_sub(tsc_start));
    let lapic_per_ms = per_ms(u64::from(u32::MAX - lapic_left));
    (tsc_per_ms != 0 && lapic_per_ms != 0).then_some(Calibration { tsc_per_ms, lapic_per_ms, measured: true })
}

/// This CPU's local APIC ID.
pub fn local_id() -> u8 {
    (lapic_read(LAPIC_ID) >> 24) as u8
}

/// Enables an application processor's local APIC (spurious vector set, timer masked): the
/// boot CPU's is enabled by [`init`].
pub fn enable_local() {
    lapic_write(LAPIC_SPURIOUS, 0x100 | SPURIOUS_VECTOR as u32);
    lapic_write(LAPIC_TIMER_DIVIDE, 0x3);
    lapic_write(LAPIC_TIMER_LVT, 1 << 16);
}

/// Sends the interprocessor interrupt `command` (the ICR's low word: vector, delivery mode,
/// level) to the CPU with local APIC ID `apic_id`; false if the local APIC did not finish
/// sending it within [`ICR_POLLS`] polls.
pub fn send_ipi(apic_id: u8, command: u32) -> bool {
    lapic_write(LAPIC_ICR_HIGH, u32::from(apic_id) << 24);
    lapic_write(LAPIC_ICR_LOW, command);
    (0..ICR_POLLS).any(|_| lapic_read(LAPIC_ICR_LOW) & ICR_DELIVERY_PENDING == 0)
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
