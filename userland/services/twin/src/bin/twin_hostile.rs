//! `twin-hostile`: the twin boot test's hostile client (scenario `twin-gate`,
//! qemu/runner/tests/twin.rs). It tries to get raw samples out of the export gate and to
//! confuse the twin with malformed messages; every attempt must get its precise refusal
//! while the twin keeps serving. One `@event twinhostile.check what=… result=ok|FAILED`
//! line per check.
//!
//! With a supervisor capability (the attacker, whose badge has a budget of ε = 0.5): raw
//! samples by name (`temperature.raw`, `samples`, an empty name, an oversized one), a
//! noise-free export (ε = 10⁹, ε = ∞, NaN, negative, zero, a Gaussian with δ = NaN or ≥ 1
//! or ε ≥ 1, an ε too small for the window bound), ε = 1000 (above its budget), an unknown
//! message label, a length word beyond the message, a length of 2⁶⁴ − 1, an undecodable
//! payload; then it has the supervisor restart the twin and checks its account survived
//! and the twin answers again. Without one (the stranger: a badge the description gives
//! no budget): its exports and account are refused with `NoBudget` naming its badge.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::supervisor::{self, Supervisor};
use tileos_protocol::twin::{Error, Mechanism, ParamFault, QueryName, Request, Response, Twin};
use tileos_protocol::{MESSAGE, ProtocolError};
use tileos_sys::rpc::Client;
use tileos_sys::{log, log_event};

tileos_sys::resources! {
    /// Capabilities by name.
    struct Resources {
        /// The twin protocol.
        twin: ClientEndpoint("twin"),
        /// The supervisor (the attacker only: it restarts the twin).
        supervisor: ClientEndpoint("supervisor", optional),
    }
}

tileos_sys::entry!(main);

#[path = "../client.rs"]
mod client;

fn check(what: &str, ok: bool, detail: &dyn core::fmt::Debug) {
    log_event!("twinhostile.check", what = what, result = if ok { "ok" } else { "FAILED" });
    if !ok {
        log!("twin-hostile: {what}: {detail:?}");
    }
}

/// A call, retried while the twin restarts.
fn call(client: &Client<Twin>, request: &Request) -> Response {
    client::call("twin-hostile", client, request)
}

fn export(client: &Client<Twin>, query: &str, mechanism: Mechanism) -> Response {
    call(client, &Request::Export { query: QueryName::try_from(query).unwrap_or_default(), mechanism })
}

fn main(resources: Resources) -> ! {
    let client = Client::<Twin>::new(resources.twin);
    while !matches!(call(&client, &Request::State), Response::State(state) if state.readings > 200) {
        tileos_sys::yield_now();
    }
    match resources.supervisor {
        Some(supervisor) => attacker(&client, resources.twin, Client::new(supervisor)),
        None => stranger(&client),
    }
}

/// A badge without a budget.
fn stranger(client: &Client<Twin>) -> ! {
    let refused = export(client, "temperature.mean", Mechanism::Laplace { epsilon: 0.1 });
    check("stranger-export-refused", matches!(refused, Response::Refused(Error::NoBudget { .. })), &refused);
    if let Response::Refused(Error::NoBudget { badge }) = refused {
        log_event!("twinhostile.stranger", badge = badge);
    }
    let budget = call(client, &Request::Budget);
    check("stranger-budget-refused", matches!(budget, Response::Refused(Error::NoBudget { .. })), &budget);
    let log = call(client, &Request::ExportLog { index: 0 });
    check("stranger-log-refused", matches!(log, Response::Refused(Error::NoBudget { .. })), &log);
    log_event!("twinhostile.stranger-done");
    tileos_sys::domain::stop();
}

fn attacker(client: &Client<Twin>, endpoint: tileos_sys::cap::Endpoint, supervisor: Client<Supervisor>) -> ! {
    let laplace = |epsilon| Mechanism::Laplace { epsilon };
    let Response::Budget { spent: spent_before, .. } = call(client, &Request::Budget) else {
        check("budget", false, &"no budget");
        tileos_sys::domain::stop();
    };
    // Raw samples by name.
    for name in ["temperature.raw", "samples", "", "temperature"] {
        let answer = export(client, name, laplace(0.1));
        let ok = matches!(&answer, Response::Refused(Error::UnknownQuery(q)) if q.as_str() == name);
        check("raw-by-name", ok, &answer);
    }
    // Noise-free exports, by parameters.
    for (epsilon, fault) in [
        (1e9, ParamFault::TooLarge),
        (f64::INFINITY, ParamFault::Infinite),
        (f64::NAN, ParamFault::NaN),
        (-1.0, ParamFault::Negative),
        (0.0, ParamFault::Zero),
        (-0.0, ParamFault::Zero),
    ] {
        let answer = export(client, "temperature.mean", laplace(epsilon));
        check("epsilon-refused", answer == Response::Refused(Error::Epsilon(fault)), &answer);
    }
    for (delta, fault) in [(f64::NAN, ParamFault::NaN), (1.5, ParamFault::TooLarge), (-1e-9, ParamFault::Negative)] {
        let answer = export(client, "power.mean", Mechanism::Gaussian { epsilon: 0.5, delta });
        check("delta-refused", answer == Response::Refused(Error::Delta(fault)), &answer);
    }
    let answer = export(client, "power.mean", Mechanism::Gaussian { epsilon: 5.0, delta: 1e-9 });
    check("gaussian-epsilon-refused", answer == Response::Refused(Error::GaussianEpsilon), &answer);
    let answer = export(client, "power.mean", laplace(0.001));
    check("snapping-range-refused", answer == Response::Refused(Error::SnappingRange { min_epsilon_micros: 2000 }), &answer);
    // The largest ε the gate takes is above this badge's budget.
    let answer = export(client, "presence.count", laplace(1000.0));
    check("over-budget-refused", matches!(answer, Response::Refused(Error::BudgetExhausted { .. })), &answer);
    // Hostile messages through the raw endpoint.
    let cptr = endpoint.cptr();
    let error_of = |label, words: &[u64]| tileos_sys::rpc::raw_call_error(cptr, label, words);
    let unknown = error_of(0x7777, &[1, 2]);
    check("hostile-unknown-label", unknown == Some(ProtocolError::UnknownLabel), &unknown);
    let beyond = error_of(MESSAGE, &[10_000, 0, 0]);
    check("hostile-length-beyond-message", beyond == Some(ProtocolError::Truncated), &beyond);
    let negative = error_of(MESSAGE, &[u64::MAX, 0]);
    check("hostile-negative-length", negative == Some(ProtocolError::Truncated), &negative);
    let undecodable = error_of(MESSAGE, &[2, 0xC8C8]);
    check("hostile-undecodable", undecodable == Some(ProtocolError::Malformed), &undecodable);
    // An export whose query name claims 200 bytes (the limit is 32): variant 2, length 200.
    let oversized = error_of(MESSAGE, &[12, 0x4141_4141_4101_C802, 0x4141_4141_4141_4141]);
    check("hostile-oversized-name", oversized == Some(ProtocolError::Malformed), &oversized);
    let state = call(client, &Request::State);
    check("still-serving", matches!(state, Response::State(_)), &state);
    // The twin restarts: its account is read back from the store.
    let restarted = supervisor.call(&supervisor::Request::Restart { domain: "twin".try_into().unwrap_or_default() });
    check("restart-twin", matches!(restarted, Ok(supervisor::Response::Restarted { .. })), &restarted);
    let after = call(client, &Request::Budget);
    let kept = matches!(after, Response::Budget { spent, .. } if spent == spent_before);
    check("budget-survives-restart", kept, &(spent_before, &after));
    let answer = export(client, "temperature.mean", laplace(f64::NAN));
    check("refused-after-restart", answer == Response::Refused(Error::Epsilon(ParamFault::NaN)), &answer);
    let answer = export(client, "temperature.raw", laplace(0.1));
    check("raw-refused-after-restart", matches!(answer, Response::Refused(Error::UnknownQuery(_))), &answer);
    log_event!("twinhostile.done");
    tileos_sys::domain::stop();
}
