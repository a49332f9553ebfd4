//! `sensor-client`: the sensors boot test's client of the sensor protocol (scenario
//! `sensors.toml`, docs/sensors.md "The boot test"). One `@event sensorclient.*` line per
//! fact the test checks.
//!
//! With a `sensor-wake` notification (the subscriber): waits for the link, reads every
//! quantity, reports the tile's full load (and an impossible one), reads the power again,
//! subscribes and takes updates as it is signalled, sends hostile messages (an
//! unknown label, a length word beyond the message, a length of 2^64 − 1, an undecodable
//! payload, bad subscriptions) and checks each gets its precise error while the service
//! keeps answering; then watches the temperature reading and the link for ever, logging
//! each change of its staleness or the link's state (the test breaks the simulator).
//!
//! Without one (the intruder, another badge): its subscription is refused
//! (`NoNotification` naming its badge), `Updates` and `Unsubscribe` answer
//! `NotSubscribed`, and reading still works.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::sensors::{Error, LinkState, Quantity, Request, Response, Sensors};
use tileos_protocol::{MESSAGE, ProtocolError};
use tileos_sys::rpc::Client;
use tileos_sys::{log, log_event};

tileos_sys::resources! {
    /// Capabilities by name.
    struct Resources {
        /// The sensor protocol.
        sensors: ClientEndpoint("sensors"),
        /// Signalled when a subscribed quantity changes (the subscriber only).
        wake: WaitNotification("sensor-wake", optional),
    }
}

tileos_sys::entry!(main);

/// Milliseconds since boot (the time-stamp counter).
fn now_ms() -> u64 {
    tileos_sys::timestamp() / tileos_sys::domain::info().tsc_per_ms.max(1)
}

/// Gives up the processor until `ms` have passed.
fn pause(ms: u64) {
    let until = now_ms() + ms;
    while now_ms() < until {
        tileos_sys::yield_now();
    }
}

fn check(what: &str, ok: bool, detail: &dyn core::fmt::Debug) {
    log_event!("sensorclient.check", what = what, result = if ok { "ok" } else { "FAILED" });
    if !ok {
        log!("sensor-client: {what}: {detail:?}");
    }
}

fn main(resources: Resources) -> ! {
    let client = Client::<Sensors>::new(resources.sensors);
    let badge = client.call(&Request::Link);
    match resources.wake {
        Some(wake) => subscriber(&client, resources.sensors, wake),
        None => intruder(&client, badge.is_ok()),
    }
}

/// The intruder's checks: a badge without a notification cannot subscribe.
fn intruder(client: &Client<Sensors>, reachable: bool) -> ! {
    let refused = client.call(&Request::Subscribe { quantities: Quantity::Temperature.bit(), min_interval_ms: 500 });
    let ok = matches!(refused, Ok(Response::Refused(Error::NoNotification { .. })));
    check("intruder-subscribe-refused", reachable && ok, &refused);
    if let Ok(Response::Refused(Error::NoNotification { badge })) = refused {
        log_event!("sensorclient.intruder", badge = badge);
    }
    let updates = client.call(&Request::Updates);
    check("intruder-updates-refused", updates == Ok(Response::Refused(Error::NotSubscribed)), &updates);
    let unsubscribe = client.call(&Request::Unsubscribe);
    check("intruder-unsubscribe-refused", unsubscribe == Ok(Response::Refused(Error::NotSubscribed)), &unsubscribe);
    log_event!("sensorclient.intruder-done");
    tileos_sys::domain::stop();
}

fn subscriber(client: &Client<Sensors>, endpoint: tileos_sys::cap::Endpoint, wake: tileos_sys::cap::Notification) -> ! {
    // The link comes up once the simulator answers.
    let started = now_ms();
    let mut link = None;
    while now_ms() - started < 60_000 {
        link = client.call(&Request::Link).ok();
        if matches!(link, Some(Response::Link(status)) if status.state == LinkState::Up) {
            break;
        }
        pause(200);
    }
    let up = matches!(link, Some(Response::Link(status)) if status.state == LinkState::Up);
    check("link-up", up, &link);
    // Every quantity, once.
    for quantity in Quantity::ALL {
        match client.call(&Request::Read(quantity)) {
            Ok(Response::Reading(r)) => {
                log_event!(
                    "sensorclient.reading",
                    quantity = quantity.name(),
                    value = r.value,
                    sample = r.sample,
                    stale = r.stale,
                    age_ms = r.age_ms
                )
            }
            other => check("read", false, &other),
        }
    }
    // The tile reports full load: the simulator's power (and heat) follow it.
    let too_much = client.call(&Request::ReportLoad { permille: 1001 });
    check("load-out-of-range", too_much == Ok(Response::Refused(Error::LoadOutOfRange { permille: 1001 })), &too_much);
    let accepted = client.call(&Request::ReportLoad { permille: 1000 });
    check("load-accepted", accepted == Ok(Response::LoadAccepted), &accepted);
    // Two rounds of samples later, the power reading was taken at full load.
    pause(600);
    match client.call(&Request::Read(Quantity::Power)) {
        Ok(Response::Reading(r)) => log_event!("sensorclient.loaded", power = r.value, sample = r.sample, stale = r.stale),
        other => check("loaded", false, &other),
    }
    let written = client.call(&Request::Link);
    check("load-written", matches!(written, Ok(Response::Link(status)) if status.loads_written == 1), &written);
    // Subscriptions: temperature and the bearing's fault band, signalled at most every
    // 300 ms; five rounds of updates, each sample newer than the last.
    let set = Quantity::Temperature.bit() | Quantity::VibrationFaultBand.bit();
    let subscribed = client.call(&Request::Subscribe { quantities: set, min_interval_ms: 300 });
    check("subscribe", subscribed == Ok(Response::Subscribed { quantities: set }), &subscribed);
    let mut last_sample = 0;
    let mut rounds_ok = true;
    for round in 0..5 {
        wake.wait();
        match client.call(&Request::Updates) {
            Ok(Response::Updates(readings)) => {
                for r in &readings {
                    log_event!(
                        "sensorclient.update",
                        round = round,
                        quantity = r.quantity.name(),
                        value = r.value,
                        sample = r.sample,
                        stale = r.stale
                    );
                }
                let temperature = readings.iter().find(|r| r.quantity == Quantity::Temperature);
                rounds_ok &= temperature.is_some_and(|r| r.sample > last_sample && !r.stale);
                last_sample = temperature.map_or(last_sample, |r| r.sample);
            }
            other => {
                rounds_ok = false;
                log!("sensor-client: updates: {other:?}");
            }
        }
    }
    check("updates", rounds_ok, &last_sample);
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
    let empty = client.call(&Request::Subscribe { quantities: 0, min_interval_ms: 300 });
    check("subscribe-nothing", empty == Ok(Response::Refused(Error::NoQuantities)), &empty);
    let unknown_bits = client.call(&Request::Subscribe { quantities: 0xF000, min_interval_ms: 300 });
    check("subscribe-unknown-bits", unknown_bits == Ok(Response::Refused(Error::UnknownQuantities { bits: 0xF000 })), &unknown_bits);
    let too_fast = client.call(&Request::Subscribe { quantities: set, min_interval_ms: 1 });
    check("subscribe-too-fast", too_fast == Ok(Response::Refused(Error::IntervalTooShort { min_interval_ms: 1 })), &too_fast);
    let still = client.call(&Request::Read(Quantity::Temperature));
    check("still-serving", matches!(still, Ok(Response::Reading(r)) if !r.stale), &still);
    log_event!("sensorclient.ready-for-faults");
    watch(client)
}

/// Logs every change of the temperature reading's staleness and of the link's state, and
/// each reading while stale (the test checks it is a value the simulator really sent).
fn watch(client: &Client<Sensors>) -> ! {
    let mut seen: Option<(bool, LinkState)> = None;
    loop {
        let reading = client.call(&Request::Read(Quantity::Temperature));
        let link = client.call(&Request::Link);
        if let (Ok(Response::Reading(r)), Ok(Response::Link(status))) = (&reading, &link) {
            let now = (r.stale, status.state);
            if seen != Some(now) {
                seen = Some(now);
                let fault = status.last_fault.map_or("none", |fault| fault.name());
                log_event!(
                    "sensorclient.state",
                    stale = r.stale,
                    link = status.state.name(),
                    value = r.value,
                    sample = r.sample,
                    age_ms = r.age_ms,
                    fault = fault,
                    corrupt = status.corrupt,
                    timeouts = status.timeouts
                );
            }
        } else {
            check("watch", false, &(reading, link));
        }
        pause(300);
    }
}
