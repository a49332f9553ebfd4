//! Time for `smoltcp`: the time-stamp counter at a **nominal** 1 GHz (1,000,000 ticks per
//! millisecond), as elsewhere in tileos. There is no timer service and no calibration yet,
//! so on a machine whose counter runs faster (QEMU TCG passes the host's through, often
//! 2–3 GHz) protocol timers (DHCP retries, TCP retransmission) run that much faster than
//! wall-clock time; nothing here depends on them being exact.

use smoltcp::time::Instant;

/// Nominal time-stamp counter ticks per microsecond.
pub const TSC_PER_US: u64 = 1_000;

/// Converts counter readings to `smoltcp` instants counted from a start reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    start: u64,
}

impl Clock {
    /// A clock whose zero is the counter reading `start`.
    pub fn new(start: u64) -> Clock {
        Clock { start }
    }

    /// The instant of counter reading `tsc` (a reading before the start counts as zero).
    pub fn instant(&self, tsc: u64) -> Instant {
        Instant::from_micros((tsc.saturating_sub(self.start) / TSC_PER_US) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nominal_rate_and_start() {
        let clock = Clock::new(5_000);
        assert_eq!(clock.instant(5_000).total_micros(), 0);
        assert_eq!(clock.instant(5_000 + 2_000_000_000).total_millis(), 2_000);
        assert_eq!(clock.instant(1_000).total_micros(), 0);
    }
}
