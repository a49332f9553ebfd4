//! `federation-client`: a test client of the federation protocol (scenario
//! `federation.toml`). It updates the replicated state through the federation domain and
//! reads it back (a counter, a register, the inventory), sends one bundle to a node of the
//! federation, checks the local-service requests' refusals (a service not configured; the
//! update agent's service, which this client does not own, for Receive and for Confirm with
//! forged numbers), checks that it can neither write a `telemetry.` register or counter
//! (`ReservedName`) nor publish the tile's figures (`NotPublisher`), then sends hostile
//! messages (an unknown label, a length word beyond the
//! message, an undecodable payload) and checks each gets its precise
//! error while the service keeps answering; and asks the supervisor for the federation
//! configuration, which is refused (`NotFederationDomain`): only the federation domain
//! gets it. One `@event fedclient.*` line per check.
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

use tileos_protocol::federation::{Federation, ModuleVersion, Request, Response};
use tileos_protocol::{MESSAGE, ProtocolError};
use tileos_sys::rpc::{CallError, Client};
use tileos_sys::{log, log_event};

tileos_sys::resources! {
    /// Capabilities by name.
    struct Resources {
        /// The federation service.
        federation: ClientEndpoint("federation"),
        /// The supervisor: the client asks it for the federation configuration, which only
        /// the federation domain gets.
        supervisor: ClientEndpoint("supervisor", optional),
    }
}

tileos_sys::entry!(main);

/// The node the client's bundle goes to (`ipn:<param>.1`): `params = { send_to = N }` on
/// its federation client entry would be nicer; node 2 is the scenario's host neighbour.
const SEND_TO: u32 = 2;

/// `s` as a fixed-capacity protocol string (empty if it does not fit).
fn name<const N: usize>(s: &str) -> tileos_protocol::heapless::String<N> {
    tileos_protocol::heapless::String::try_from(s).unwrap_or_default()
}

fn main(resources: Resources) -> ! {
    let client = Client::<Federation>::new(resources.federation);
    let check = |what: &str, ok: bool, detail: &dyn core::fmt::Debug| {
        log_event!("fedclient.check", what = what, result = if ok { "ok" } else { "FAILED" });
        if !ok {
            log!("federation-client: {what}: {detail:?}");
        }
    };
    // Replicated state: a counter, a register, the inventory.
    let first = client.call(&Request::AddToCounter { name: name("demo.requests"), delta: 5 });
    let again = client.call(&Request::AddToCounter { name: name("demo.requests"), delta: -2 });
    let read = client.call(&Request::Counter { name: name("demo.requests") });
    let counter_ok = matches!((&first, &again), (Ok(Response::Counter { .. }), Ok(Response::Counter { .. })));
    // A restarted tile keeps its replica: the value grows by 3 per boot.
    let value = match read {
        Ok(Response::Counter { value }) => value,
        _ => -1,
    };
    check("counter", counter_ok && value > 0 && value % 3 == 0, &(first, again, read));
    log_event!("fedclient.counter", name = "demo.requests", value = value);
    let set = client.call(&Request::SetRegister { name: name("demo.policy"), value: name("prefer-pod") });
    let got = client.call(&Request::Register { name: name("demo.policy") });
    let register_ok = matches!(&got, Ok(Response::Register { value, .. }) if value.as_str() == "prefer-pod");
    check("register", register_ok, &(set, got));
    let module = ModuleVersion { name: name("checksum"), version: name("1.2.0") };
    let added = client.call(&Request::AddModule { tile: 3, module: module.clone() });
    let listed = client.call(&Request::Modules { tile: 3, skip: 0 });
    let inventory_ok = matches!(&listed, Ok(Response::Modules { modules, .. }) if modules.contains(&module));
    check("inventory", inventory_ok, &(added, listed));
    let missing = client.call(&Request::Register { name: name("demo.never-written") });
    check("register-not-found", missing == Ok(Response::Failed(tileos_protocol::federation::Error::NotFound)), &missing);
    let empty = client.call(&Request::AddToCounter { name: name(""), delta: 1 });
    check("empty-name", empty == Ok(Response::Failed(tileos_protocol::federation::Error::EmptyName)), &empty);
    let zero = client.call(&Request::Send { node: 0, service: 1, lifetime_ms: 1000, payload: Default::default() });
    check("node-zero", zero == Ok(Response::Failed(tileos_protocol::federation::Error::BadDestination)), &zero);
    // Local services: only configured ones; the scenario's, 9, belongs to the update agent,
    // so this client may neither take its bundles nor confirm one (a forged number).
    use tileos_protocol::federation::Error;
    let not_local = client.call(&Request::Receive { service: 1 });
    check("receive-not-local", not_local == Ok(Response::Failed(Error::NotLocalService)), &not_local);
    let not_mine = client.call(&Request::Receive { service: 9 });
    check("receive-not-owner", not_mine == Ok(Response::Failed(Error::NotOwner)), &not_mine);
    for id in [0, 1, u64::MAX] {
        let forged = client.call(&Request::Confirm { service: 9, id });
        check("confirm-not-owner", forged == Ok(Response::Failed(Error::NotOwner)), &forged);
    }
    // Telemetry figures: no client writes a `telemetry.` name (this tile's figures register,
    // another tile's, a counter), and this client is not the tile's figures publisher.
    for forged in ["telemetry.tile.3", "telemetry.tile.4"] {
        let value = name("load=0 faults=0 restarts=0 calls=0 p99_us=0");
        let set = client.call(&Request::SetRegister { name: name(forged), value });
        check("forged-figures-refused", set == Ok(Response::Failed(Error::ReservedName)), &set);
    }
    let counter = client.call(&Request::AddToCounter { name: name("telemetry.tile.3"), delta: 1 });
    check("forged-figures-refused", counter == Ok(Response::Failed(Error::ReservedName)), &counter);
    let figures = tileos_protocol::federation::TileFigures { load_permille: 0, faults: 0, restarts: 0, calls: 0, p99_us: 0 };
    let publish = client.call(&Request::PublishFigures(figures));
    check("publish-not-publisher", publish == Ok(Response::Failed(Error::NotPublisher)), &publish);
    let forged = client.call(&Request::Register { name: name("telemetry.tile.3") });
    check("no-forged-figures", forged == Ok(Response::Failed(Error::NotFound)), &forged);
    // A bundle from a local application.
    let payload = tileos_protocol::heapless::Vec::from_slice(b"hello from the tile's federation client").unwrap_or_default();
    let sent = client.call(&Request::Send { node: SEND_TO, service: 1, lifetime_ms: 3_600_000, payload });
    check("send", matches!(sent, Ok(Response::Sent { .. })), &sent);
    // Hostile messages through the raw endpoint.
    let cptr = resources.federation.cptr();
    let error_of = |label, words: &[u64]| tileos_sys::rpc::raw_call_error(cptr, label, words);
    let unknown = error_of(0x7777, &[1, 2]);
    check("hostile-unknown-label", unknown == Some(ProtocolError::UnknownLabel), &unknown);
    let truncated = error_of(MESSAGE, &[10_000, 0, 0]);
    check("hostile-length-beyond-message", truncated == Some(ProtocolError::Truncated), &truncated);
    let malformed = error_of(MESSAGE, &[8, 0xffff_ffff_ffff_ff7f]);
    check("hostile-undecodable", malformed == Some(ProtocolError::Malformed), &malformed);
    let long = tileos_sys::rpc::Client::<Federation>::new(resources.federation).call(&Request::Status);
    check("still-serving", matches!(long, Ok(Response::Status(_))), &long);
    if let Ok(Response::Status(status)) = long {
        log_event!("fedclient.status", node = status.node, spooled = status.spooled, received = status.received, refused = status.refused);
    }
    if let Some(endpoint) = resources.supervisor {
        use tileos_protocol::supervisor::{self, Refusal, Supervisor};
        let answer = Client::<Supervisor>::new(endpoint).call(&supervisor::Request::FederationConfig { offset: 0 });
        check("config-refused", answer == Ok(supervisor::Response::Refused(Refusal::NotFederationDomain)), &answer);
    }
    let restarted = matches!(long, Err(CallError::ServerRestarted));
    log_event!("fedclient.done", server_restarted = restarted);
    tileos_sys::domain::stop();
}
