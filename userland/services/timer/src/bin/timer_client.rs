//! The timer boot test's client (scenario `timer.toml`, qemu/runner/tests/timer.rs); what it
//! does follows its domain's name:
//!
//! - `timer-honest`: [`ROUNDS`] deadlines of 5–250 ms, each waited for on its notification;
//!   logs how late each woke it (`@event timer-honest.woken … late_micros=N`) and a summary
//!   (`timer-honest.done`). A wake before the deadline (the restarted timer wakes every
//!   client once) is counted `spurious` and the deadline armed again.
//! - `timer-hostile`: waits 1 s on the timer, then sends raw messages (wrong label, the
//!   empty label-0 call that looks like the timer's interrupt signal, short, a length past
//!   the message, all-ones length, overlong garbage, trailing bytes, an unknown request),
//!   negative (as `i64`) and huge durations, an absolute deadline past the bound, 2,000
//!   re-arms of its one deadline, cancels; has the supervisor restart the timer and calls
//!   again. Each step logs `@event timer-hostile.check name=… verdict=ok|wrong`, then
//!   `timer-hostile.done failures=N`.
//! - `timer-stranger`: its badge has no notification: arming is refused `UnknownClient`,
//!   `Cancel` and `Now` are answered. Logs `timer-stranger.check` lines and a `done`.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::supervisor::{self, Supervisor};
use tileos_protocol::timer::{MAX_AFTER_MICROS, Request, Response, Timer, TimerError};
use tileos_protocol::{MESSAGE, ProtocolError};
use tileos_sys::cap::Notification;
use tileos_sys::rpc::{CallError, Client};
use tileos_sys::{log, log_event};

/// Deadlines the honest client waits for.
const ROUNDS: u32 = 60;
/// The honest client's waits, ms, in turn.
const WAITS_MS: [u64; 5] = [5, 20, 50, 100, 250];
/// Re-arms of the hostile client's one deadline.
const FLOOD: u32 = 2000;

tileos_sys::resources! {
    /// What the timer's test client needs from the description.
    struct Resources {
        /// The timer.
        timer: ClientEndpoint("timer"),
        /// The notification the timer signals at this client's deadline (the stranger has none).
        wake: WaitNotification("timer-wake", optional),
        /// The supervisor (the hostile client restarts the timer through it).
        supervisor: ClientEndpoint("supervisor", optional),
    }
}

tileos_sys::entry!(main);

/// The clock, microseconds (the timer's clock: the same TSC at the same rate).
fn now() -> u64 {
    tileos_timer::micros(tileos_sys::timestamp(), tileos_sys::domain::info().tsc_per_ms)
}

/// Calls the timer, again while it is being restarted (at most 1,000 tries).
fn call(timer: &Client<Timer>, request: &Request) -> Result<Response, CallError> {
    let mut answer = timer.call(request);
    for _ in 0..1000 {
        if !matches!(answer, Err(CallError::ServerRestarted | CallError::Protocol(ProtocolError::NoServer))) {
            break;
        }
        tileos_sys::yield_now();
        answer = timer.call(request);
    }
    answer
}

/// Waits until the clock reads `at` (µs), arming it on the timer and waiting on `wake`;
/// returns the time woken and the wakes that came early (re-armed each time).
fn wait_until(timer: &Client<Timer>, wake: Notification, at: u64) -> (u64, u32) {
    let mut early = 0;
    loop {
        wake.wait();
        let woken = now();
        if woken >= at {
            return (woken, early);
        }
        early += 1;
        let _ = call(timer, &Request::ArmAt { at_micros: at });
    }
}

fn main(resources: Resources) -> ! {
    let timer = Client::<Timer>::new(resources.timer);
    match (tileos_sys::domain::name(), resources.wake, resources.supervisor) {
        ("timer-honest", Some(wake), _) => honest(&timer, wake),
        ("timer-hostile", Some(wake), Some(supervisor)) => hostile(&timer, resources.timer.cptr(), wake, &Client::new(supervisor)),
        ("timer-stranger", None, _) => stranger(&timer),
        (name, wake, supervisor) => log!(
            "timer-client: domain {name:?} is none of timer-honest (with \"timer-wake\"), timer-hostile (with \"timer-wake\" and \"supervisor\") and timer-stranger (without \"timer-wake\"): wake {}, supervisor {}",
            wake.is_some(),
            supervisor.is_some()
        ),
    }
    tileos_sys::domain::stop()
}

fn honest(timer: &Client<Timer>, wake: Notification) {
    let (mut max_late, mut total_late, mut spurious, mut failed) = (0u64, 0u64, 0u32, 0u32);
    for round in 0..ROUNDS {
        let after_micros = WAITS_MS[round as usize % WAITS_MS.len()] * 1000;
        let at = match call(timer, &Request::Arm { after_micros }) {
            Ok(Response::Armed { at_micros, .. }) => at_micros,
            other => {
                log!("timer-honest: round {round}: arming refused: {other:?}");
                failed += 1;
                continue;
            }
        };
        let (woken, early) = wait_until(timer, wake, at);
        let late = woken - at;
        spurious += early;
        max_late = max_late.max(late);
        total_late += late;
        log_event!("timer-honest.woken", round = round, after_micros = after_micros, late_micros = late, early = early);
    }
    let mean = total_late / u64::from(ROUNDS);
    log_event!(
        "timer-honest.done",
        rounds = ROUNDS,
        failed = failed,
        max_late_micros = max_late,
        mean_late_micros = mean,
        spurious = spurious
    );
}

/// Logs one step; counts a wrong one.
fn check(failures: &mut u32, name: &str, ok: bool, detail: &dyn core::fmt::Debug) {
    if !ok {
        *failures += 1;
        log!("timer-hostile: {name}: unexpected {detail:?}");
    }
    log_event!("timer-hostile.check", name = name, verdict = if ok { "ok" } else { "wrong" });
}

fn hostile(timer: &Client<Timer>, endpoint: u64, wake: Notification, supervisor: &Client<Supervisor>) {
    let mut failures = 0;
    // Let the honest client's rounds start.
    let answer = call(timer, &Request::Arm { after_micros: 1_000_000 });
    let ok = matches!(answer, Ok(Response::Armed { replaced: false, .. }));
    check(&mut failures, "first-arm", ok, &answer);
    if let Ok(Response::Armed { at_micros, .. }) = answer {
        let (woken, _) = wait_until(timer, wake, at_micros);
        check(&mut failures, "first-wake", woken >= at_micros, &(woken, at_micros));
    }
    raw_messages(&mut failures, endpoint, "");
    let refused = |request: Request, error: TimerError| {
        let answer = call(timer, &request);
        (answer.as_ref().ok() == Some(&Response::Refused(error)), answer)
    };
    let (ok, answer) = refused(Request::Arm { after_micros: (-1_000_000i64) as u64 }, TimerError::TooFar);
    check(&mut failures, "negative-duration", ok, &answer);
    let (ok, answer) = refused(Request::Arm { after_micros: u64::MAX }, TimerError::TooFar);
    check(&mut failures, "huge-duration", ok, &answer);
    let (ok, answer) = refused(Request::Arm { after_micros: MAX_AFTER_MICROS + 1 }, TimerError::TooFar);
    check(&mut failures, "duration-past-bound", ok, &answer);
    let (ok, answer) = refused(Request::ArmAt { at_micros: u64::MAX }, TimerError::TooFar);
    check(&mut failures, "absolute-past-bound", ok, &answer);
    // Many deadlines: each re-arm replaces the one before (one entry per badge).
    let mut wrong = 0u32;
    let first = call(timer, &Request::Arm { after_micros: 10_000_000 });
    for _ in 1..FLOOD {
        if !matches!(call(timer, &Request::Arm { after_micros: 10_000_000 }), Ok(Response::Armed { replaced: true, .. })) {
            wrong += 1;
        }
    }
    check(&mut failures, "re-arm-flood", matches!(first, Ok(Response::Armed { replaced: false, .. })) && wrong == 0, &(first, wrong));
    let answer = call(timer, &Request::Cancel);
    check(&mut failures, "cancel-armed", answer == Ok(Response::Cancelled { was_armed: true }), &answer);
    let answer = call(timer, &Request::Cancel);
    check(&mut failures, "cancel-again", answer == Ok(Response::Cancelled { was_armed: false }), &answer);
    let before = now();
    let answer = call(timer, &Request::Now);
    let ok = matches!(answer, Ok(Response::Now { micros }) if micros >= before && micros - before < 1_000_000);
    check(&mut failures, "now", ok, &answer);
    // A deadline armed on the old timer, then the timer restarted: the new one has an empty
    // table and wakes every client once.
    let _ = call(timer, &Request::Arm { after_micros: 5_000_000 });
    let answer = supervisor.call(&supervisor::Request::Restart { domain: "timer".try_into().unwrap_or_default() });
    check(&mut failures, "restart-timer", matches!(answer, Ok(supervisor::Response::Restarted { .. })), &answer);
    let answer = call(timer, &Request::Cancel);
    check(&mut failures, "cancel-after-restart", answer == Ok(Response::Cancelled { was_armed: false }), &answer);
    raw_messages(&mut failures, endpoint, "-after-restart");
    let answer = call(timer, &Request::Arm { after_micros: 20_000 });
    check(&mut failures, "arm-after-restart", matches!(answer, Ok(Response::Armed { replaced: false, .. })), &answer);
    if let Ok(Response::Armed { at_micros, .. }) = answer {
        let (woken, early) = wait_until(timer, wake, at_micros);
        log_event!("timer-hostile.woken", late_micros = woken - at_micros, early = early);
    }
    log_event!("timer-hostile.done", failures = failures);
}

/// The raw messages, each with its precise error (`suffix` marks the names of a second run).
fn raw_messages(failures: &mut u32, endpoint: u64, suffix: &str) {
    let mut overlong = [u64::MAX; 120];
    overlong[0] = tileos_protocol::MAX_PAYLOAD as u64;
    let cases: [(&str, u64, &[u64], ProtocolError); 8] = [
        ("wrong-label", 0x999, &[1, 0, 0], ProtocolError::UnknownLabel),
        // Label 0 and no words: what the timer's interrupt signal looks like.
        ("empty-label-0", 0, &[], ProtocolError::UnknownLabel),
        ("short", MESSAGE, &[], ProtocolError::Truncated),
        ("length-past-message", MESSAGE, &[64, 0], ProtocolError::Truncated),
        ("negative-length", MESSAGE, &[u64::MAX, 0], ProtocolError::Truncated),
        ("overlong-garbage", MESSAGE, &overlong, ProtocolError::Malformed),
        // `Cancel` (one byte, 2) and a trailing byte.
        ("trailing-bytes", MESSAGE, &[2, 2], ProtocolError::Malformed),
        ("unknown-request", MESSAGE, &[1, 9], ProtocolError::Malformed),
    ];
    for (name, label, words, expected) in cases {
        let error = tileos_sys::rpc::raw_call_error(endpoint, label, words);
        let mut full: heapless::String<48> = heapless::String::new();
        let _ = full.push_str(name);
        let _ = full.push_str(suffix);
        check(failures, &full, error == Some(expected), &error);
    }
}

fn stranger(timer: &Client<Timer>) {
    let mut failures = 0;
    for (name, request, expected) in [
        ("arm-unknown-badge", Request::Arm { after_micros: 1000 }, Response::Refused(TimerError::UnknownClient)),
        ("arm-at-unknown-badge", Request::ArmAt { at_micros: 0 }, Response::Refused(TimerError::UnknownClient)),
        ("cancel-unknown-badge", Request::Cancel, Response::Cancelled { was_armed: false }),
    ] {
        let answer = call(timer, &request);
        let ok = answer.as_ref().ok() == Some(&expected);
        if !ok {
            failures += 1;
            log!("timer-stranger: {name}: unexpected {answer:?}");
        }
        log_event!("timer-stranger.check", name = name, verdict = if ok { "ok" } else { "wrong" });
    }
    log_event!("timer-stranger.done", failures = failures);
}
