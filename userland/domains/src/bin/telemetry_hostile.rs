//! Hostile client of the telemetry domain (scenario `immune.toml`,
//! qemu/runner/tests/telemetry.rs): raw messages with a wrong label, an oversized and a
//! "negative" (all ones) length; reports that do not decode, carry trailing bytes or
//! figures only the supervisor may give; a histogram of a domain that does not exist; an
//! observation sent to the supervisor by a domain that is not the telemetry domain; and a
//! report after the telemetry domain was restarted. Each step logs
//! `@event hostile.check name=… verdict=ok|wrong`, then `@event hostile.done failures=N`.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::supervisor::{self, Supervisor};
use tileos_protocol::telemetry::{Refusal, Request, Response, Telemetry, WireFault};
use tileos_protocol::{MESSAGE, ProtocolError};
use tileos_sys::rpc::Client;
use tileos_sys::{log, log_event};
use tileos_telemetry::{DomainFigures, Histogram, wire};

tileos_sys::resources! {
    /// What the hostile client needs from the description.
    struct Resources {
        /// The telemetry domain.
        telemetry: ClientEndpoint("telemetry"),
        /// The supervisor (full access: it restarts the telemetry domain).
        supervisor: ClientEndpoint("supervisor"),
    }
}

tileos_sys::entry!(main);

/// Logs one step; counts a wrong one.
fn check(failures: &mut u32, name: &str, ok: bool, detail: &dyn core::fmt::Debug) {
    if !ok {
        *failures += 1;
        log!("hostile: {name}: unexpected {detail:?}");
    }
    log_event!("hostile.check", name = name, verdict = if ok { "ok" } else { "wrong" });
}

/// A report of `figures` as the protocol carries it.
fn report(figures: &DomainFigures) -> Request {
    let mut bytes = [0u8; wire::MAX_ENCODED];
    let encoded = wire::encode(figures, &mut bytes).map(|b| &*b).unwrap_or(&[]);
    Request::Report { figures: heapless::Vec::from_slice(encoded).unwrap_or_default() }
}

fn main(resources: Resources) -> ! {
    let telemetry = Client::<Telemetry>::new(resources.telemetry);
    let supervisor = Client::<Supervisor>::new(resources.supervisor);
    let endpoint = resources.telemetry.cptr();
    let mut failures = 0;

    // Raw messages: a label that is no protocol message, a length past the message, a
    // "negative" length (all ones).
    // Each must get its precise error, not just any error.
    for (name, label, length, expected) in [
        ("wrong-label", 0x999, 1u64, ProtocolError::UnknownLabel),
        ("oversized-length", MESSAGE, 10_000, ProtocolError::Truncated),
        ("negative-length", MESSAGE, u64::MAX, ProtocolError::Truncated),
    ] {
        let error = tileos_sys::rpc::raw_call_error(endpoint, label, &[length, 0, 0]);
        check(&mut failures, name, error == Some(expected), &error);
    }
    let mut latency = Histogram::EMPTY;
    (0..1000).for_each(|_| latency.record(5000));
    let mine = DomainFigures { latency, ..DomainFigures::default() };
    let refused = |request: &Request, expected: Refusal| {
        let answer = telemetry.call(request);
        (answer == Ok(Response::Refused(expected)), answer)
    };
    let garbage = Request::Report { figures: heapless::Vec::from_slice(&[0xff; 12]).unwrap_or_default() };
    let (ok, answer) = refused(&garbage, Refusal::Malformed(WireFault::Malformed));
    check(&mut failures, "garbage-report", ok, &answer);
    let Request::Report { figures: mut trailing } = report(&mine) else { unreachable!() };
    let _ = trailing.push(0);
    let (ok, answer) = refused(&Request::Report { figures: trailing }, Refusal::Malformed(WireFault::TrailingBytes));
    check(&mut failures, "trailing-bytes", ok, &answer);
    let (ok, answer) = refused(&report(&DomainFigures { faults: 1, ..mine }), Refusal::ForeignFigures);
    check(&mut failures, "foreign-figures", ok, &answer);
    let (ok, answer) = refused(&Request::Histogram { domain: 999 }, Refusal::UnknownDomain);
    check(&mut failures, "unknown-domain", ok, &answer);
    let answer = telemetry.call(&report(&mine));
    let ok = matches!(answer, Ok(Response::Accepted { new_calls: 1000, total_calls: 1000 }));
    check(&mut failures, "report-accepted", ok, &answer);
    // Only the telemetry domain may feed the immune system.
    let observe = supervisor::Request::Observe { reporter: 1, calls: 1, p50_ticks: 1, p99_ticks: 1 };
    let answer = supervisor.call(&observe);
    let ok = answer == Ok(supervisor::Response::Refused(supervisor::Refusal::NotTelemetryDomain));
    check(&mut failures, "observe-not-telemetry", ok, &answer);
    // A restarted telemetry domain serves again, and the cumulative report restores the count.
    let answer = supervisor.call(&supervisor::Request::Restart { domain: "telemetry".try_into().unwrap_or_default() });
    check(&mut failures, "restart-telemetry", matches!(answer, Ok(supervisor::Response::Restarted { .. })), &answer);
    let answer = telemetry.call(&report(&mine));
    let ok = matches!(answer, Ok(Response::Accepted { new_calls: 1000, total_calls: 1000 }));
    check(&mut failures, "report-after-restart", ok, &answer);
    let answer = telemetry.call(&Request::Figures { first: 0 });
    check(&mut failures, "figures-after-restart", matches!(answer, Ok(Response::Figures { .. })), &answer);
    log_event!("hostile.done", failures = failures);
    tileos_sys::domain::stop()
}
