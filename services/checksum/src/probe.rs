//! The slot probe's bookkeeping (`checksum-probe`, docs/slots.md, "Bench figures",
//! `slots16`): when the probe *wanted* to call, and the longest waits it saw.
//!
//! The probe is woken by the CMOS clock's periodic interrupt ([`RTC_RATE`]: 8192 Hz). Under
//! QEMU `-icount shift=0` with `-rtc clock=vm` the interrupts fall exactly every
//! [`PERIOD_16THS`] / 16 time-stamp ticks, so the probe can tell, from the time it ran, when
//! the interrupt that woke it fell, and so how long it was kept from running by whatever
//! outranked it (the *lateness*): a client at the probe's priority woken at that moment
//! would have waited as long before it could even send its request.
//!
//! [`Ticks`] learns the interrupts' phase from the wakes themselves: the first wake gives
//! a phase, and a wake earlier than the predicted interrupt moves the phase to it (the
//! phase is never earlier than the true one, so latenesses are measured from the fastest
//! wake seen: the kernel's shortest interrupt path is not in them). The interrupt a wake
//! answers is the first after the previous read of register C (which re-arms the clock's
//! interrupt); a wake whose previous read had an interrupt fall inside it is ambiguous and
//! not counted.

/// Register A's rate for the periodic interrupt: 3, 32768 Hz >> 2 = 8192 Hz.
pub const RTC_RATE: u8 = 3;

/// The periodic interrupt's period in sixteenths of a time-stamp tick (1e9 / 8192 × 16 =
/// 1,953,125; one tick is one nanosecond of guest time under `-icount shift=0`).
pub const PERIOD_16THS: u64 = 1_953_125;

/// The interrupts' phase, learnt from the wakes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ticks {
    /// When interrupts fall, in sixteenths of a tick modulo [`PERIOD_16THS`] (`None` until
    /// the first wake).
    phase: Option<u64>,
    /// How often a wake came before its predicted interrupt and moved the phase.
    pub recalibrations: u64,
    /// Wakes not counted: their interrupt may have fallen inside the read that re-armed it.
    pub ambiguous: u64,
}

impl Ticks {
    /// Nothing learnt yet.
    pub fn new() -> Ticks {
        Ticks::default()
    }

    /// The first interrupt strictly after `time` (sixteenths of a tick).
    fn next_after(phase: u64, time: u64) -> u64 {
        let ahead = (phase + PERIOD_16THS - time % PERIOD_16THS) % PERIOD_16THS;
        if ahead == 0 { time + PERIOD_16THS } else { time + ahead }
    }

    /// When the interrupt that woke the probe at `woke` fell (time-stamp ticks), given the
    /// time-stamp just before and just after the previous read of register C, `armed`
    /// (`None` for the first wake). `None`: not known (the first wake, or an interrupt fell
    /// inside that read).
    pub fn interrupt(&mut self, armed: Option<(u64, u64)>, woke: u64) -> Option<u64> {
        let woke16 = woke.saturating_mul(16);
        let (Some(phase), Some((before, after))) = (self.phase, armed) else {
            self.phase = Some(woke16 % PERIOD_16THS);
            return None;
        };
        let (before16, after16) = (before.saturating_mul(16), after.saturating_mul(16));
        if Ticks::next_after(phase, before16) <= after16 {
            self.ambiguous += 1;
            return None;
        }
        let due = Ticks::next_after(phase, after16);
        if woke16 < due {
            // Earlier than predicted: the phase was late; this wake is the new reference.
            self.phase = Some(woke16 % PERIOD_16THS);
            self.recalibrations += 1;
            return Some(woke);
        }
        Some(due / 16)
    }
}

/// The `N` largest values seen with the time each began, largest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Largest<const N: usize>(pub [(u64, u64); N]);

impl<const N: usize> Default for Largest<N> {
    fn default() -> Self {
        Largest([(0, 0); N])
    }
}

impl<const N: usize> Largest<N> {
    /// Keeps `value` (begun at `at`) if it is among the `N` largest.
    pub fn add(&mut self, value: u64, at: u64) {
        if let Some(place) = self.0.iter().position(|&(v, _)| value > v) {
            self.0.copy_within(place..N - 1, place + 1);
            self.0[place] = (value, at);
        }
    }

    /// The largest value (0 if none).
    pub fn max(&self) -> u64 {
        self.0.first().map_or(0, |&(v, _)| v)
    }
}

impl<const N: usize> core::fmt::Display for Largest<N> {
    /// `value@at,…`, largest first, the empty places left out (`-` if none).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut any = false;
        for &(value, at) in self.0.iter().filter(|&&(v, _)| v > 0) {
            write!(f, "{}{value}@{at}", if any { "," } else { "" })?;
            any = true;
        }
        if !any {
            f.write_str("-")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    /// The interrupts of a clock whose phase is `offset` ticks: the `k`th falls at
    /// `offset + k × period`.
    fn due(offset: u64, k: u64) -> u64 {
        (offset * 16 + k * PERIOD_16THS) / 16
    }

    #[test]
    fn a_wake_gives_the_lateness_from_the_fastest_wake_seen() {
        let mut ticks = Ticks::new();
        let offset = 1_000_000;
        // The first wake teaches the phase (late by 500: later latenesses read 500 less
        // until a faster wake).
        assert_eq!(ticks.interrupt(None, due(offset, 10) + 500), None);
        let armed = Some((due(offset, 10) + 900, due(offset, 10) + 1_000));
        // Woken 3,000 after the 11th interrupt: read as 2,500 after (the phase is 500 late).
        assert_eq!(ticks.interrupt(armed, due(offset, 11) + 3_000), Some(due(offset, 11) + 500));
        // A wake 200 after its interrupt is earlier than predicted: the phase moves to it.
        let armed = Some((due(offset, 11) + 4_000, due(offset, 11) + 4_100));
        assert_eq!(ticks.interrupt(armed, due(offset, 12) + 200), Some(due(offset, 12) + 200));
        assert_eq!(ticks.recalibrations, 1);
        // Now a stall of 40,000 reads as 40,000 − 200 (to the tick: interrupts fall at
        // fractions of a tick).
        let armed = Some((due(offset, 12) + 1_000, due(offset, 12) + 1_100));
        let woke = due(offset, 13) + 40_000;
        assert!((39_799..=39_801).contains(&(woke - ticks.interrupt(armed, woke).unwrap())));
    }

    #[test]
    fn a_wake_kept_waiting_longer_than_a_period_is_not_aliased() {
        let mut ticks = Ticks::new();
        assert_eq!(ticks.interrupt(None, due(0, 100)), None);
        let armed = Some((due(0, 100) + 50, due(0, 100) + 80));
        // Kept from running for 2.5 periods: the interrupt it answers is still the first
        // after the re-arming read (later ones raise no new edge until register C is read).
        let woke = due(0, 101) + 305_000;
        assert_eq!(ticks.interrupt(armed, woke), Some(due(0, 101)));
    }

    #[test]
    fn an_interrupt_inside_the_rearming_read_makes_the_next_wake_ambiguous() {
        let mut ticks = Ticks::new();
        assert_eq!(ticks.interrupt(None, due(7, 1)), None);
        let armed = Some((due(7, 2) - 10, due(7, 2) + 10));
        assert_eq!(ticks.interrupt(armed, due(7, 3) + 100), None);
        assert_eq!(ticks.ambiguous, 1);
        // An interrupt just before the read's end counts as inside it too.
        let armed = Some((due(7, 3) - 10, due(7, 3) + 1));
        assert_eq!(ticks.interrupt(armed, due(7, 4) + 100), None);
        assert_eq!(ticks.ambiguous, 2);
    }

    #[test]
    fn the_largest_values_are_kept_in_order_and_shown() {
        let mut largest = Largest::<3>::default();
        assert_eq!(largest.to_string(), "-");
        for (value, at) in [(5, 1), (9, 2), (1, 3), (7, 4), (9, 5)] {
            largest.add(value, at);
        }
        assert_eq!(largest.0, [(9, 2), (9, 5), (7, 4)]);
        assert_eq!(largest.max(), 9);
        assert_eq!(largest.to_string(), "9@2,9@5,7@4");
    }
}
