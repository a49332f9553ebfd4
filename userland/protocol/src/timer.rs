//! The timer protocol (docs/timer.md): a client arms one deadline on the timer domain's
//! clock and is woken by a signal on the notification the timer holds for its badge
//! (`timer-wake.<badge>` in the system description). One deadline per client badge:
//! arming again replaces it.
//!
//! Times are microseconds on the timer's clock: the time-stamp counter since boot at the
//! rate the kernel measured (the domain information page's `tsc_per_ms`), the same clock
//! every domain reads with `tileos_sys::timestamp()`.

use serde::{Deserialize, Serialize};

/// Longest wait a client may arm, microseconds (one day). Longer ones (and negative ones
/// a client wrote as `i64`, which arrive as numbers above 2^63) are refused
/// [`TimerError::TooFar`].
pub const MAX_AFTER_MICROS: u64 = 86_400_000_000;

/// A request to the timer domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Signal the caller's notification `after_micros` from now (0: at once). Replaces
    /// the caller's armed deadline, if any.
    Arm {
        /// The wait, microseconds, at most [`MAX_AFTER_MICROS`].
        after_micros: u64,
    },
    /// Signal the caller's notification once the timer's clock reads `at_micros` (at once
    /// if it already has). Replaces the caller's armed deadline, if any.
    ArmAt {
        /// The deadline, microseconds on the timer's clock, at most [`MAX_AFTER_MICROS`]
        /// after its present time.
        at_micros: u64,
    },
    /// Disarm the caller's deadline (answered even when none is armed).
    Cancel,
    /// The timer's clock, microseconds.
    Now,
}

/// Why the timer refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimerError {
    /// The caller's badge has no notification in the system description
    /// (`timer-wake.<badge>`): the timer could not wake it.
    UnknownClient,
    /// The deadline is more than [`MAX_AFTER_MICROS`] away.
    TooFar,
    /// Every entry of the timer's bounded deadline table is armed by other clients.
    TableFull,
}

/// The timer's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The deadline is armed: the caller's notification is signalled once the clock reads
    /// `at_micros`.
    Armed {
        /// The deadline, microseconds on the timer's clock.
        at_micros: u64,
        /// The caller had a deadline armed, which this one replaced.
        replaced: bool,
    },
    /// `Cancel`: whether a deadline was armed (and is now not).
    Cancelled {
        /// A deadline was armed.
        was_armed: bool,
    },
    /// `Now`: the timer's clock, microseconds.
    Now {
        /// The clock.
        micros: u64,
    },
    /// The request was understood and refused.
    Refused(TimerError),
}

/// The timer protocol.
pub struct Timer;

impl crate::Protocol for Timer {
    const NAME: &'static str = "timer";
    type Request = Request;
    type Response = Response;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    #[test]
    fn requests_and_answers_round_trip() {
        let mut words = [0; PAYLOAD_WORDS + 1];
        for request in [Request::Arm { after_micros: u64::MAX }, Request::ArmAt { at_micros: 7 }, Request::Cancel, Request::Now] {
            let length = encode(&request, &mut words).unwrap();
            assert_eq!(decode::<Request>(MESSAGE, &words[..length]), Ok(request));
        }
        for response in [Response::Armed { at_micros: 3, replaced: true }, Response::Refused(TimerError::TableFull)] {
            let length = encode(&response, &mut words).unwrap();
            assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(response));
        }
    }
}
