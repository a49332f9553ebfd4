//! Time for `smoltcp` from a free-running counter of known period (the HPET main counter,
//! see [`crate::hpet`]): instants are counted in microseconds from a start reading.

use crate::hpet::Capabilities;
use smoltcp::time::{Duration, Instant};

/// Converts counter readings to `smoltcp` instants and durations to counter ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    start: u64,
    counter: Capabilities,
}

impl Clock {
    /// A clock whose zero is the reading `start` of a counter described by `counter`.
    pub fn new(start: u64, counter: Capabilities) -> Clock {
        Clock { start, counter }
    }

    /// The instant of reading `count` (a reading before the start counts as zero).
    pub fn instant(&self, count: u64) -> Instant {
        Instant::from_micros(self.counter.micros(count.saturating_sub(self.start)) as i64)
    }

    /// The reading `delay` after reading `count` (at least one tick later).
    pub fn deadline(&self, count: u64, delay: Duration) -> u64 {
        count.wrapping_add(self.counter.ticks(delay.total_micros()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_deadlines_at_100_mhz() {
        let counter = Capabilities { period_fs: 10_000_000, wide: true, timers: 3 };
        let clock = Clock::new(5_000, counter);
        assert_eq!(clock.instant(5_000).total_micros(), 0);
        assert_eq!(clock.instant(5_000 + 200_000_000).total_millis(), 2_000);
        assert_eq!(clock.instant(1_000).total_micros(), 0);
        assert_eq!(clock.deadline(7, Duration::from_millis(3)), 7 + 300_000);
        assert_eq!(clock.deadline(7, Duration::ZERO), 8);
    }
}
