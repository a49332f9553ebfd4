//! `twin-watch`: the maintenance boot test's client of the twin (scenario `twin-bearing`,
//! qemu/runner/tests/twin.rs). Every half second it asks the twin for its alarms and logs
//! `@event twinwatch.alarm trigger=…` the first time a bearing-wear alarm is answered, and
//! `@event twinwatch.state windows=… bearing=…` every twentieth look, so the test sees the
//! alarm through the protocol as well as in the twin's own log.
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_protocol::twin::{Alarm, Bearing, Request, Response, Twin};
use tileos_sys::rpc::Client;
use tileos_sys::{log, log_event};

tileos_sys::resources! {
    /// Capabilities by name.
    struct Resources {
        /// The twin protocol.
        twin: ClientEndpoint("twin"),
    }
}

tileos_sys::entry!(main);

fn main(resources: Resources) -> ! {
    let client = Client::<Twin>::new(resources.twin);
    let mut alarmed = false;
    let mut look = 0u64;
    loop {
        tileos_sys::pause_ms(500);
        look += 1;
        if !alarmed && let Ok(Response::Alarms(alarms)) = client.call(&Request::Alarms) {
            for alarm in &alarms {
                if let Alarm::BearingWear(wear) = alarm {
                    log_event!("twinwatch.alarm", trigger = wear.trigger.name(), raised_ms = wear.raised_ms);
                    alarmed = true;
                }
            }
        }
        if look.is_multiple_of(20) {
            match client.call(&Request::State) {
                Ok(Response::State(state)) => {
                    let bearing = match state.bearing {
                        Bearing::Learning { .. } => "learning",
                        Bearing::Healthy { .. } => "healthy",
                        Bearing::Worn(_) => "worn",
                    };
                    log_event!("twinwatch.state", windows = state.windows, bearing = bearing, stale = state.stale);
                }
                other => log!("twin-watch: state answered {other:?}"),
            }
        }
    }
}
