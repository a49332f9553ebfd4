//! `checksum-client`: the demo slot's client. Calls the "checksum" endpoint in a steady
//! loop with varied requests (a quarter of those with data start with 0x42, the wrong
//! challenger's trigger), checks every answer against its own reference computation
//! (`tileos_checksum::client`), and logs its counts every [`ROUND`] requests:
//!
//! ```text
//! @event checksum.round client=checksum-client n=1000 ok=1000 wrong=0 errors=0 mean_ticks=5210 max_ticks=40122
//! @event checksum.wrong client=checksum-client n=17 request=crc32 trigger=true expected=… got=…
//! ```
//!
//! (`slow=` lists the round's [`SLOW`] longest calls as `ticks@start`, `start` the
//! time-stamp counter when the call began, longest first: `make bench` finds the calls
//! around a promotion by the slot manager's time stamps),
//! so boot tests can assert that clients never saw a wrong answer, whatever the slot's
//! challengers did, and `make bench` reads the round's mean and longest call in time-stamp
//! counter ticks (guest instructions under QEMU `-icount`). (The first [`MAX_WRONG_EVENTS`] wrong answers get a `checksum.wrong`
//! line each.) If nobody serves the endpoint (it was withdrawn: `NoServer`), it logs
//! `@event checksum.no-server client=… n=…` and stops; after any other failed call it
//! yields and carries on.
//!
//! With a `telemetry` capability it reports its call latencies to the telemetry domain every
//! [`REPORT_EVERY`] requests (`tileos_sys::telemetry::report`), so the immune system watches
//! the slot's latency as its client sees it (docs/telemetry.md).
#![no_std]
#![no_main]

extern crate tileos_rt;

use core::fmt;
use tileos_checksum::client::{Client as Reference, Verdict};
use tileos_checksum::faults::triggers;
use tileos_protocol::ProtocolError;
use tileos_protocol::checksum::{Checksum, Request, Response};
use tileos_sys::log_event;
use tileos_sys::rpc::{CallError, Client};

/// Requests between two `checksum.round` events.
const ROUND: u64 = 500;
/// Requests between two telemetry reports.
const REPORT_EVERY: u64 = 50;
/// The longest calls of a round listed in its `checksum.round` event.
const SLOW: usize = 4;
/// Wrong answers reported one by one.
const MAX_WRONG_EVENTS: u64 = 10;

tileos_sys::resources! {
    /// What the client needs from the description (checked at build time).
    struct Resources {
        /// The checksum service (the demo slot's front endpoint).
        checksum: ClientEndpoint("checksum"),
        /// The telemetry domain, if the description has it.
        telemetry: ClientEndpoint("telemetry", optional),
    }
}

tileos_sys::entry!(main);

/// The request's kind, for events.
fn kind(request: &Request) -> &'static str {
    match request {
        Request::Crc32(_) => "crc32",
        Request::Adler32(_) => "adler32",
        Request::Append { .. } => "append",
        Request::Reset { .. } => "reset",
    }
}

/// A round's longest calls, `(ticks, start)`, longest first, as an event value.
struct Slow([(u64, u64); SLOW]);

impl Slow {
    /// Keeps the call of `ticks` that began at `start` if it is among the longest.
    fn add(&mut self, ticks: u64, start: u64) {
        if let Some(at) = self.0.iter().position(|&(t, _)| ticks > t) {
            self.0.copy_within(at..SLOW - 1, at + 1);
            self.0[at] = (ticks, start);
        }
    }
}

impl fmt::Display for Slow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (ticks, start)) in self.0.iter().enumerate() {
            write!(f, "{}{ticks}@{start}", if i == 0 { "" } else { "," })?;
        }
        Ok(())
    }
}

/// An answer as an event value (no spaces).
struct Shown(Response);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Response::Checksum(value) => write!(f, "checksum:{value:#010x}"),
            Response::Stream(state) => write!(f, "stream:{:#010x}/{}", state.crc, state.length),
            Response::NoSuchStream => f.write_str("no-such-stream"),
        }
    }
}

fn main(resources: Resources) -> ! {
    let name = tileos_sys::domain::name();
    let info = tileos_sys::domain::info();
    tileos_sys::log!("{name}: checking the checksum service, {ROUND} requests a round (generation {})", info.generation);
    let service = Client::<Checksum>::new(resources.checksum);
    let telemetry = resources.telemetry.map(Client::<tileos_protocol::telemetry::Telemetry>::new);
    // Another sequence after each restart.
    let mut reference = Reference::new(0x5EED_0000 + info.generation);
    // The round's call latencies: sum and longest.
    let (mut round_ticks, mut longest) = (0u64, 0u64);
    let mut slow = Slow([(0, 0); SLOW]);
    loop {
        let request = reference.next_request();
        let start = tileos_sys::timestamp();
        let answer = service.call(&request);
        let ticks = tileos_sys::timestamp().wrapping_sub(start);
        round_ticks = round_ticks.wrapping_add(ticks);
        longest = longest.max(ticks);
        slow.add(ticks, start);
        let got = answer.as_ref().ok().copied();
        if let Verdict::Wrong { expected } = reference.check(&request, got)
            && reference.tally.wrong <= MAX_WRONG_EVENTS
            && let Some(got) = got
        {
            log_event!(
                "checksum.wrong",
                client = name,
                n = reference.tally.requests,
                request = kind(&request),
                trigger = triggers(&request),
                expected = Shown(expected),
                got = Shown(got)
            );
        }
        let tally = reference.tally;
        if let Some(telemetry) = &telemetry
            && tally.requests.is_multiple_of(REPORT_EVERY)
            && let Err(error) = tileos_sys::telemetry::report(telemetry)
        {
            tileos_sys::log!("{name}: telemetry report not taken: {error:?}");
        }
        if tally.requests.is_multiple_of(ROUND) {
            log_event!(
                "checksum.round",
                client = name,
                n = tally.requests,
                ok = tally.ok,
                wrong = tally.wrong,
                errors = tally.errors,
                mean_ticks = round_ticks / ROUND,
                max_ticks = longest,
                slow = &slow
            );
            (round_ticks, longest) = (0, 0);
            slow = Slow([(0, 0); SLOW]);
        }
        match answer {
            Err(CallError::Protocol(ProtocolError::NoServer)) => {
                // The endpoint was withdrawn (its server never started): nothing will answer.
                tileos_sys::log!("{name}: nobody serves the checksum endpoint; stopping after {} requests", tally.requests);
                log_event!("checksum.no-server", client = name, n = tally.requests);
                tileos_sys::domain::stop()
            }
            // The server restarted mid-call: give others the processor, then carry on.
            Err(_) => tileos_sys::yield_now(),
            Ok(_) => {}
        }
    }
}
