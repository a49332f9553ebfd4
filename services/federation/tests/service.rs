//! The federation protocol as the federation domain serves it.

use tileos_federation::{FederationNode, FiguresPublisher, LocalService, MemoryStore, NodeConfig, Role};
use tileos_protocol::federation::{Error, ModuleVersion, PodAggregates, Request, Response, TileFigures};
use tileos_protocol::heapless::{String, Vec};

fn text<const N: usize>(s: &str) -> String<N> {
    String::try_from(s).unwrap()
}

/// The badge of a local client that owns no local service.
const CLIENT: u64 = 0x30;
/// The badge of local service 9's owner.
const AGENT: u64 = 0x31;
/// The badge of the tile's figures publisher.
const PUBLISHER: u64 = 0x32;

fn node() -> FederationNode<MemoryStore> {
    FederationNode::recover(NodeConfig::new(3, Role::Tile).neighbour(4, ""), MemoryStore::new(), 0).unwrap()
}

#[test]
fn modules_page_counters_add_and_registers_read_back() {
    let mut n = node();
    for i in 0..10 {
        let module = ModuleVersion { name: text(&format!("m{i:02}")), version: text("1") };
        assert_eq!(n.serve(CLIENT, Request::AddModule { tile: 3, module }, 10), Response::Done);
    }
    let Response::Modules { modules, more } = n.serve(CLIENT, Request::Modules { tile: 3, skip: 0 }, 10) else { panic!() };
    assert_eq!((modules.len(), more), (8, true));
    let Response::Modules { modules, more } = n.serve(CLIENT, Request::Modules { tile: 3, skip: 8 }, 10) else { panic!() };
    assert_eq!((modules[1].name.as_str(), more), ("m09", false));
    let gone = ModuleVersion { name: text("m09"), version: text("1") };
    assert_eq!(n.serve(CLIENT, Request::RemoveModule { tile: 3, module: gone }, 10), Response::Done);
    assert_eq!(n.state().modules(3).len(), 9);

    assert_eq!(n.serve(CLIENT, Request::AddToCounter { name: text("c"), delta: -5 }, 10), Response::Counter { value: -5 });
    assert_eq!(n.serve(CLIENT, Request::Counter { name: text("c") }, 10), Response::Counter { value: -5 });
    assert_eq!(n.serve(CLIENT, Request::Register { name: text("r") }, 10), Response::Failed(Error::NotFound));
    assert_eq!(
        n.serve(CLIENT, Request::SetRegister { name: text("r"), value: text("v1") }, 20),
        Response::Register { value: text("v1"), timestamp: 20 }
    );
    assert_eq!(n.serve(CLIENT, Request::AddToCounter { name: text(""), delta: 1 }, 10), Response::Failed(Error::EmptyName));

    // Every change is stored: a restart keeps it.
    let store = n.into_store();
    let n = FederationNode::recover(NodeConfig::new(3, Role::Tile).neighbour(4, ""), store, 30).unwrap();
    assert_eq!(n.state().counter("c"), -5);
    assert_eq!(n.state().register("r"), Some(("v1", 20)));
}

#[test]
fn send_stores_the_bundle_and_status_counts_it() {
    let mut n = node();
    let payload = Vec::from_slice(b"job").unwrap();
    assert_eq!(
        n.serve(CLIENT, Request::Send { node: 4, service: 2, lifetime_ms: 60_000, payload: payload.clone() }, 10),
        Response::Sent { sequence: 0 }
    );
    assert_eq!(
        n.serve(CLIENT, Request::Send { node: 0, service: 2, lifetime_ms: 60_000, payload }, 10),
        Response::Failed(Error::BadDestination)
    );
    let Response::Status(status) = n.serve(CLIENT, Request::Status, 10) else { panic!() };
    assert_eq!((status.node, status.spooled, status.sessions), (3, 1, 0));
    n.store_mut().fail_writes(true);
    let payload = Vec::from_slice(b"x").unwrap();
    assert_eq!(
        n.serve(CLIENT, Request::Send { node: 4, service: 2, lifetime_ms: 60_000, payload }, 10),
        Response::Failed(Error::StoreFailed)
    );
    let module = ModuleVersion { name: text("m"), version: text("1") };
    assert_eq!(n.serve(CLIENT, Request::AddModule { tile: 3, module }, 10), Response::Failed(Error::StoreFailed));
    assert!(n.state().modules(3).is_empty(), "a change that was not stored was not made");
}

/// Node 3 with local service 9, owned by the domain with badge [`AGENT`]; node 4 is a
/// client neighbour.
fn local_node(store: MemoryStore) -> FederationNode<MemoryStore> {
    let mut config = NodeConfig::new(3, Role::Tile).client_neighbour(4);
    config.local_services = vec![LocalService::new(9, "agent", AGENT)];
    FederationNode::recover(config, store, 0).unwrap()
}

#[test]
fn bundles_for_a_local_service_are_held_until_a_domain_confirms_them_even_across_a_crash() {
    let mut n = local_node(MemoryStore::new());
    n.send(1, tileos_federation::ipn(3, 9), b"first".to_vec(), 60_000).unwrap();
    n.send(1, tileos_federation::ipn(3, 9), vec![b'x'; 2_000], 60_000).unwrap();
    n.send(1, tileos_federation::ipn(3, 5), b"not local".to_vec(), 60_000).unwrap();
    let outputs: std::vec::Vec<_> = std::iter::from_fn(|| n.poll()).collect();
    let held = outputs.iter().filter(|o| matches!(o, tileos_federation::Output::Held(_))).count();
    let handed = outputs.iter().filter(|o| matches!(o, tileos_federation::Output::Deliver(_))).count();
    assert_eq!((held, handed), (2, 1), "{outputs:?}");

    assert_eq!(n.serve(AGENT, Request::Receive { service: 5 }, 10), Response::Failed(Error::NotLocalService));
    assert_eq!(n.serve(AGENT, Request::Confirm { service: 5, id: 0 }, 10), Response::Failed(Error::NotLocalService));
    let Response::Received { id, source_node, source_service, length, payload } = n.serve(AGENT, Request::Receive { service: 9 }, 10)
    else {
        panic!()
    };
    assert_eq!((source_node, source_service, length, payload.as_slice()), (3, 1, 5, &b"first"[..]));
    // Not confirmed: answered again, and still there after a crash.
    assert!(matches!(n.serve(AGENT, Request::Receive { service: 9 }, 10), Response::Received { id: again, .. } if again == id));
    let mut store = n.into_store();
    store.crash();
    let mut n = local_node(store);
    while n.poll().is_some() {}
    let Response::Received { id, payload, .. } = n.serve(AGENT, Request::Receive { service: 9 }, 20) else { panic!() };
    assert_eq!(payload.as_slice(), b"first");
    assert_eq!(n.serve(AGENT, Request::Confirm { service: 9, id: id + 1_000 }, 20), Response::Failed(Error::NotHeld));
    assert_eq!(n.serve(AGENT, Request::Confirm { service: 9, id }, 20), Response::Done);
    assert_eq!(n.serve(AGENT, Request::Confirm { service: 9, id }, 20), Response::Failed(Error::NotHeld), "confirmed once only");
    // A payload larger than a message carries comes cut, with its whole length.
    let Response::Received { id, length, payload, .. } = n.serve(AGENT, Request::Receive { service: 9 }, 20) else { panic!() };
    assert_eq!((length, payload.len()), (2_000, tileos_protocol::federation::MAX_PAYLOAD));
    assert_eq!(n.serve(AGENT, Request::Confirm { service: 9, id }, 20), Response::Done);
    assert_eq!(n.serve(AGENT, Request::Receive { service: 9 }, 20), Response::Failed(Error::NothingHeld));
    let Response::Status(status) = n.serve(CLIENT, Request::Status, 20) else { panic!() };
    assert_eq!(status.delivered, 2);
}

#[test]
fn a_client_neighbour_is_never_dialled_and_local_services_are_checked() {
    let mut n = local_node(MemoryStore::new());
    for now in (0..10_000).step_by(500) {
        n.tick(now);
    }
    let dials = std::iter::from_fn(|| n.poll()).filter(|o| matches!(o, tileos_federation::Output::Connect { .. })).count();
    assert_eq!(dials, 0);
    let mut config = NodeConfig::new(3, Role::Tile);
    config.local_services = vec![LocalService::new(9, "a", 1), LocalService::new(9, "b", 2)];
    assert_eq!(config.validate(), Err(tileos_federation::ConfigError::BadLocalService { index: 1, service: 9 }));
    config.local_services = vec![LocalService::new(tileos_federation::REPLICATION_SERVICE, "a", 1)];
    assert_eq!(config.validate(), Err(tileos_federation::ConfigError::BadLocalService { index: 0, service: 7 }));
    config.local_services = (10..19).map(|s| LocalService::new(s, "a", 1)).collect();
    assert_eq!(config.validate(), Err(tileos_federation::ConfigError::TooManyLocalServices));
    config.local_services = vec![LocalService::new(9, "", 1)];
    assert_eq!(config.validate(), Err(tileos_federation::ConfigError::LocalServiceWithoutOwner { index: 0 }));
    assert_eq!(
        config.validate().unwrap_err().to_string(),
        "local_services[0].domain: empty (name the domain that takes the service's bundles)"
    );
}

#[test]
fn only_a_local_services_owner_may_take_its_bundles_and_the_owner_still_can_after_hostile_calls() {
    let mut n = local_node(MemoryStore::new());
    n.send(1, tileos_federation::ipn(3, 9), b"for the agent".to_vec(), 60_000).unwrap();
    while n.poll().is_some() {}
    let Response::Received { id, .. } = n.serve(AGENT, Request::Receive { service: 9 }, 10) else { panic!() };
    // Another local client, a badge never given out, and badge 0 are refused precisely,
    // with a real id and with forged ones, and nothing is taken.
    for badge in [CLIENT, 0, u64::MAX, AGENT ^ 1] {
        assert_eq!(n.serve(badge, Request::Receive { service: 9 }, 10), Response::Failed(Error::NotOwner));
        for forged in [id, id + 1, u64::MAX] {
            assert_eq!(n.serve(badge, Request::Confirm { service: 9, id: forged }, 10), Response::Failed(Error::NotOwner));
        }
        // A service that is not local is that error, whoever asks.
        assert_eq!(n.serve(badge, Request::Receive { service: 5 }, 10), Response::Failed(Error::NotLocalService));
    }
    // The owner's bundle is still held, and confirmed once.
    let Response::Received { id: again, payload, .. } = n.serve(AGENT, Request::Receive { service: 9 }, 10) else { panic!() };
    assert_eq!((again, payload.as_slice()), (id, &b"for the agent"[..]));
    assert_eq!(n.serve(AGENT, Request::Confirm { service: 9, id }, 10), Response::Done);
    assert_eq!(n.serve(AGENT, Request::Receive { service: 9 }, 10), Response::Failed(Error::NothingHeld));
    // Other requests are anyone's.
    assert!(matches!(n.serve(CLIENT, Request::Status, 10), Response::Status(_)));
}

/// Node 3 whose figures publisher is the domain with badge [`PUBLISHER`].
fn publishing_node(store: MemoryStore) -> FederationNode<MemoryStore> {
    let mut config = NodeConfig::new(3, Role::Tile).neighbour(4, "");
    config.local_services = vec![LocalService::new(9, "agent", AGENT)];
    config.figures_publisher = Some(FiguresPublisher::new("telemetry", PUBLISHER));
    FederationNode::recover(config, store, 0).unwrap()
}

fn figures(load_permille: u16) -> TileFigures {
    TileFigures { load_permille, faults: 2, restarts: 1, calls: 500, p99_us: 700 }
}

fn pod(n: &mut FederationNode<MemoryStore>) -> PodAggregates {
    match n.serve(CLIENT, Request::PodAggregates { first: 0, last: u32::MAX }, 10) {
        Response::PodAggregates(pod) => pod,
        other => panic!("{other:?}"),
    }
}

/// No client writes a `telemetry.` name: not this tile's figures register, not another
/// tile's, not one that names no tile, not a counter; whoever asks (the publisher too:
/// it publishes with `PublishFigures`). Only the publisher's badge publishes; every
/// refusal is precise, nothing is written, and the node keeps serving.
#[test]
fn only_the_configured_publisher_writes_telemetry_figures_and_nobody_by_name() {
    let mut n = publishing_node(MemoryStore::new());
    assert_eq!(n.serve(PUBLISHER, Request::PublishFigures(figures(400)), 10), Response::Done);
    let honest = pod(&mut n);
    assert_eq!((honest.tiles, honest.load_max_permille, honest.busiest, honest.refused), (1, 400, 3, 0));
    let forged = "load=0 faults=0 restarts=0 calls=0 p99_us=0";
    for badge in [CLIENT, AGENT, PUBLISHER, 0, u64::MAX] {
        for name in ["telemetry.tile.3", "telemetry.tile.4", "telemetry.tile.0", "telemetry.tile.x", "telemetry.", "telemetry.other"] {
            let set = Request::SetRegister { name: text(name), value: text(forged) };
            assert_eq!(n.serve(badge, set, 20), Response::Failed(Error::ReservedName), "{badge:#x} {name}");
            let add = Request::AddToCounter { name: text(name), delta: 1 };
            assert_eq!(n.serve(badge, add, 20), Response::Failed(Error::ReservedName), "{badge:#x} {name}");
        }
        if badge != PUBLISHER {
            assert_eq!(n.serve(badge, Request::PublishFigures(figures(0)), 20), Response::Failed(Error::NotPublisher), "{badge:#x}");
            // Refused before the figures are looked at.
            let impossible = TileFigures { load_permille: 5000, ..figures(0) };
            assert_eq!(n.serve(badge, Request::PublishFigures(impossible), 20), Response::Failed(Error::NotPublisher));
        }
    }
    // Names that merely resemble the prefix are ordinary.
    for name in ["telemetry", "Telemetry.tile.3", "x.telemetry.tile.3"] {
        let set = Request::SetRegister { name: text(name), value: text("v") };
        assert!(matches!(n.serve(CLIENT, set, 20), Response::Register { .. }), "{name}");
    }
    // Nothing forged reached the state: this tile's figures are the publisher's, and no
    // other `telemetry.` name exists.
    assert_eq!(pod(&mut n), honest);
    assert_eq!(n.state().register("telemetry.tile.3").map(|(_, t)| t), Some(10));
    assert_eq!(n.state().register("telemetry.tile.4"), None);
    assert_eq!(n.state().counter("telemetry.tile.3"), 0);
    // Still serving, the publisher included; a newer summary replaces the old one and is
    // kept across a restart.
    assert_eq!(
        n.serve(PUBLISHER, Request::PublishFigures(TileFigures { load_permille: 1001, ..figures(0) }), 30),
        Response::Failed(Error::BadFigures)
    );
    assert_eq!(n.serve(PUBLISHER, Request::PublishFigures(figures(900)), 30), Response::Done);
    let store = n.into_store();
    let mut n = publishing_node(store);
    assert_eq!(pod(&mut n).load_max_permille, 900);
    assert_eq!(n.serve(CLIENT, Request::PublishFigures(figures(1)), 40), Response::Failed(Error::NotPublisher));
}

/// A node whose description names no publisher takes figures from no one.
#[test]
fn without_a_configured_publisher_nobody_publishes() {
    let mut n = node();
    for badge in [CLIENT, AGENT, PUBLISHER, 0] {
        assert_eq!(n.serve(badge, Request::PublishFigures(figures(10)), 10), Response::Failed(Error::NotPublisher));
    }
    assert_eq!(pod(&mut n).tiles, 0);
    let mut config = NodeConfig::new(3, Role::Tile);
    config.figures_publisher = Some(FiguresPublisher::new("", 1));
    assert_eq!(config.validate(), Err(tileos_federation::ConfigError::PublisherWithoutDomain));
}
