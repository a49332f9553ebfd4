//! The timer domain's logic (docs/timer.md), host-tested; its glue is
//! `userland/services/timer`.
//!
//! - [`Deadlines`]: a bounded table of one deadline per client badge. [`Deadlines::serve`]
//!   answers the timer protocol (`tileos_protocol::timer`); [`Deadlines::take_due`] hands
//!   out (and disarms) the deadlines the clock has reached; [`Deadlines::next`] is the
//!   nearest one.
//! - [`rtc_rate`]: the CMOS RTC's periodic-interrupt rate for the time left to the
//!   nearest deadline: the slowest rate whose period is at most half of it, down to
//!   [`FINEST_RATE`] (1,024 Hz), so that a far deadline costs few interrupts and a near
//!   one is met within about a millisecond. No deadline: no rate (the interrupt is off).
//! - [`micros`]: the time-stamp counter in microseconds at the rate the kernel measured.
//!
//! Nothing here panics on any input (property test `no_request_panics`).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use tileos_protocol::timer::{MAX_AFTER_MICROS, Request, Response, TimerError};

/// Entries of the timer domain's deadline table: at most this many clients may have a
/// deadline armed at once (one each); a further client's `Arm` is refused `TableFull`.
pub const TABLE_ENTRIES: usize = 32;

/// The RTC's finest rate used (rate select 6: 32,768 Hz / 2^5 = 1,024 Hz, a period of
/// 976.5 µs).
pub const FINEST_RATE: u8 = 6;
/// The RTC's slowest rate (rate select 15: 2 Hz, a period of 500 ms).
pub const SLOWEST_RATE: u8 = 15;

/// The period of the RTC's periodic interrupt at rate select `rate` (3..=15),
/// microseconds, rounded down: 2^(rate-1) / 32,768 Hz.
pub fn rate_period_micros(rate: u8) -> u64 {
    let rate = rate.clamp(3, SLOWEST_RATE);
    (1u64 << (rate - 1)) * 1_000_000 / 32_768
}

/// The rate select for the RTC's periodic interrupt when the nearest deadline is at
/// `next` and the clock reads `now` (microseconds): `None` when no deadline is armed (the
/// interrupt is switched off), else the slowest rate whose period is at most half the
/// time left, never finer than [`FINEST_RATE`].
pub fn rtc_rate(now: u64, next: Option<u64>) -> Option<u8> {
    let left = next?.saturating_sub(now);
    let mut rate = SLOWEST_RATE;
    while rate > FINEST_RATE && rate_period_micros(rate) > left / 2 {
        rate -= 1;
    }
    Some(rate)
}

/// Microseconds of `tsc` time-stamp-counter ticks at `tsc_per_ms` ticks per millisecond
/// (a rate of 0 is taken as 1).
pub fn micros(tsc: u64, tsc_per_ms: u64) -> u64 {
    let micros = u128::from(tsc) * 1000 / u128::from(tsc_per_ms.max(1));
    u64::try_from(micros).unwrap_or(u64::MAX)
}

/// One armed deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    badge: u64,
    at: u64,
}

/// The bounded table of armed deadlines, one per client badge.
#[derive(Debug)]
pub struct Deadlines {
    entries: [Option<Entry>; TABLE_ENTRIES],
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines::new()
    }
}

impl Deadlines {
    /// An empty table.
    pub const fn new() -> Deadlines {
        Deadlines { entries: [None; TABLE_ENTRIES] }
    }

    /// Answers `request` from the client `badge` at time `now` (µs); `known` says whether
    /// the timer holds a notification for `badge` (else arming is refused
    /// `UnknownClient`: nobody could be woken).
    pub fn serve(&mut self, badge: u64, request: &Request, now: u64, known: bool) -> Response {
        match *request {
            Request::Now => Response::Now { micros: now },
            Request::Cancel => Response::Cancelled { was_armed: self.cancel(badge) },
            Request::Arm { after_micros } => {
                if after_micros > MAX_AFTER_MICROS {
                    return Response::Refused(TimerError::TooFar);
                }
                self.arm(badge, now.saturating_add(after_micros), known)
            }
            Request::ArmAt { at_micros } => {
                if at_micros.saturating_sub(now) > MAX_AFTER_MICROS {
                    return Response::Refused(TimerError::TooFar);
                }
                self.arm(badge, at_micros, known)
            }
        }
    }

    /// Arms (or re-arms) `badge`'s deadline at `at`.
    fn arm(&mut self, badge: u64, at: u64, known: bool) -> Response {
        if !known {
            return Response::Refused(TimerError::UnknownClient);
        }
        if let Some(entry) = self.entries.iter_mut().flatten().find(|entry| entry.badge == badge) {
            entry.at = at;
            return Response::Armed { at_micros: at, replaced: true };
        }
        match self.entries.iter_mut().find(|entry| entry.is_none()) {
            Some(free) => {
                *free = Some(Entry { badge, at });
                Response::Armed { at_micros: at, replaced: false }
            }
            None => Response::Refused(TimerError::TableFull),
        }
    }

    /// Disarms `badge`'s deadline; whether one was armed.
    pub fn cancel(&mut self, badge: u64) -> bool {
        let found = self.entries.iter_mut().find(|entry| entry.is_some_and(|entry| entry.badge == badge));
        found.map(|entry| entry.take()).is_some()
    }

    /// Disarms every deadline at or before `now` and calls `due` with its badge and its
    /// deadline; returns how many were due.
    pub fn take_due(&mut self, now: u64, mut due: impl FnMut(u64, u64)) -> usize {
        let mut count = 0;
        for slot in &mut self.entries {
            if let Some(entry) = *slot
                && entry.at <= now
            {
                *slot = None;
                due(entry.badge, entry.at);
                count += 1;
            }
        }
        count
    }

    /// The nearest armed deadline.
    pub fn next(&self) -> Option<u64> {
        self.entries.iter().flatten().map(|entry| entry.at).min()
    }

    /// How many deadlines are armed.
    pub fn armed(&self) -> usize {
        self.entries.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn armed_at(response: Response) -> u64 {
        match response {
            Response::Armed { at_micros, .. } => at_micros,
            other => panic!("not armed: {other:?}"),
        }
    }

    #[test]
    fn arming_again_replaces_the_clients_deadline() {
        let mut table = Deadlines::new();
        assert_eq!(table.serve(5, &Request::Arm { after_micros: 100 }, 1000, true), Response::Armed { at_micros: 1100, replaced: false });
        assert_eq!(table.serve(5, &Request::Arm { after_micros: 50 }, 1010, true), Response::Armed { at_micros: 1060, replaced: true });
        assert_eq!(table.armed(), 1);
        assert_eq!(table.next(), Some(1060));
    }

    #[test]
    fn due_deadlines_are_handed_out_once_and_in_time() {
        let mut table = Deadlines::new();
        table.serve(1, &Request::Arm { after_micros: 100 }, 0, true);
        table.serve(2, &Request::ArmAt { at_micros: 300 }, 0, true);
        let mut woken = [0u64; 4];
        let mut n = 0;
        assert_eq!(table.take_due(99, |badge, _| woken[0] = badge), 0);
        assert_eq!(
            table.take_due(100, |badge, at| {
                woken[n] = badge;
                n += 1;
                assert_eq!(at, 100);
            }),
            1
        );
        assert_eq!(&woken[..n], &[1]);
        assert_eq!(table.take_due(100, |_, _| panic!("twice")), 0);
        assert_eq!(table.next(), Some(300));
        assert_eq!(table.take_due(u64::MAX, |badge, _| assert_eq!(badge, 2)), 1);
        assert_eq!(table.next(), None);
    }

    #[test]
    fn a_past_absolute_deadline_is_due_at_once() {
        let mut table = Deadlines::new();
        assert_eq!(armed_at(table.serve(3, &Request::ArmAt { at_micros: 10 }, 500, true)), 10);
        assert_eq!(table.take_due(500, |badge, _| assert_eq!(badge, 3)), 1);
    }

    #[test]
    fn refusals_are_precise() {
        let mut table = Deadlines::new();
        assert_eq!(table.serve(9, &Request::Arm { after_micros: 1 }, 0, false), Response::Refused(TimerError::UnknownClient));
        let negative = (-5i64) as u64;
        assert_eq!(table.serve(9, &Request::Arm { after_micros: negative }, 0, true), Response::Refused(TimerError::TooFar));
        assert_eq!(table.serve(9, &Request::Arm { after_micros: MAX_AFTER_MICROS + 1 }, 0, true), Response::Refused(TimerError::TooFar));
        assert_eq!(armed_at(table.serve(9, &Request::Arm { after_micros: MAX_AFTER_MICROS }, 7, true)), MAX_AFTER_MICROS + 7);
        assert_eq!(table.serve(9, &Request::ArmAt { at_micros: u64::MAX }, 0, true), Response::Refused(TimerError::TooFar));
        assert_eq!(table.serve(9, &Request::Cancel, 0, true), Response::Cancelled { was_armed: true });
        assert_eq!(table.serve(9, &Request::Cancel, 0, true), Response::Cancelled { was_armed: false });
        assert_eq!(table.serve(9, &Request::Now, 42, false), Response::Now { micros: 42 });
        assert_eq!(table.armed(), 0);
    }

    #[test]
    fn a_full_table_refuses_a_new_client_and_still_lets_its_clients_re_arm() {
        let mut table = Deadlines::new();
        for badge in 0..TABLE_ENTRIES as u64 {
            armed_at(table.serve(badge, &Request::Arm { after_micros: 1000 }, 0, true));
        }
        assert_eq!(table.serve(999, &Request::Arm { after_micros: 1 }, 0, true), Response::Refused(TimerError::TableFull));
        assert_eq!(table.serve(3, &Request::Arm { after_micros: 1 }, 0, true), Response::Armed { at_micros: 1, replaced: true });
        assert!(table.cancel(4));
        assert_eq!(armed_at(table.serve(999, &Request::Arm { after_micros: 1 }, 0, true)), 1);
    }

    #[test]
    fn the_rate_follows_the_time_left() {
        assert_eq!(rtc_rate(0, None), None);
        assert_eq!(rtc_rate(0, Some(10_000_000)), Some(SLOWEST_RATE));
        assert_eq!(rtc_rate(0, Some(1_000_000)), Some(SLOWEST_RATE));
        assert_eq!(rtc_rate(0, Some(999_999)), Some(14));
        assert_eq!(rtc_rate(5_000, Some(4_000)), Some(FINEST_RATE));
        assert_eq!(rtc_rate(0, Some(1_000)), Some(FINEST_RATE));
        assert_eq!(rate_period_micros(FINEST_RATE), 976);
        assert_eq!(rate_period_micros(SLOWEST_RATE), 500_000);
        for left in [2_000u64, 10_000, 100_000, 400_000] {
            let rate = rtc_rate(0, Some(left)).unwrap();
            assert!(rate == FINEST_RATE || rate_period_micros(rate) <= left / 2, "{left}: {rate}");
            assert!(rate == SLOWEST_RATE || rate_period_micros(rate + 1) > left / 2, "{left}: {rate}");
        }
    }

    #[test]
    fn micros_of_the_tsc() {
        assert_eq!(micros(3_000_000, 3_000_000), 1000);
        assert_eq!(micros(5, 0), 5000);
        assert_eq!(micros(u64::MAX, 1), u64::MAX);
    }

    fn request() -> impl Strategy<Value = Request> {
        prop_oneof![
            any::<u64>().prop_map(|after_micros| Request::Arm { after_micros }),
            any::<u64>().prop_map(|at_micros| Request::ArmAt { at_micros }),
            Just(Request::Cancel),
            Just(Request::Now),
        ]
    }

    proptest! {
        #[test]
        fn no_request_panics_and_the_table_stays_one_per_badge(
            calls in proptest::collection::vec((0u64..40, request(), any::<u64>(), any::<bool>()), 0..200)
        ) {
            let mut table = Deadlines::new();
            for (badge, request, now, known) in calls {
                let _ = table.serve(badge, &request, now, known);
                let mut seen = [false; 40];
                for entry in table.entries.iter().flatten() {
                    prop_assert!(!seen[entry.badge as usize]);
                    seen[entry.badge as usize] = true;
                }
                if let Some(next) = table.next() {
                    let _ = rtc_rate(now, Some(next));
                    table.take_due(now, |_, at| assert!(at <= now));
                    prop_assert!(table.next().is_none_or(|next| next > now));
                }
            }
        }
    }
}
