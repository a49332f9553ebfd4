//! The federation protocol as the federation domain serves it.

use tileos_federation::{FederationNode, MemoryStore, NodeConfig, Role};
use tileos_protocol::federation::{Error, ModuleVersion, Request, Response};
use tileos_protocol::heapless::{String, Vec};

fn text<const N: usize>(s: &str) -> String<N> {
    String::try_from(s).unwrap()
}

fn node() -> FederationNode<MemoryStore> {
    FederationNode::recover(NodeConfig::new(3, Role::Tile).neighbour(4, ""), MemoryStore::new(), 0).unwrap()
}

#[test]
fn modules_page_counters_add_and_registers_read_back() {
    let mut n = node();
    for i in 0..10 {
        let module = ModuleVersion { name: text(&format!("m{i:02}")), version: text("1") };
        assert_eq!(n.serve(Request::AddModule { tile: 3, module }, 10), Response::Done);
    }
    let Response::Modules { modules, more } = n.serve(Request::Modules { tile: 3, skip: 0 }, 10) else { panic!() };
    assert_eq!((modules.len(), more), (8, true));
    let Response::Modules { modules, more } = n.serve(Request::Modules { tile: 3, skip: 8 }, 10) else { panic!() };
    assert_eq!((modules[1].name.as_str(), more), ("m09", false));
    let gone = ModuleVersion { name: text("m09"), version: text("1") };
    assert_eq!(n.serve(Request::RemoveModule { tile: 3, module: gone }, 10), Response::Done);
    assert_eq!(n.state().modules(3).len(), 9);

    assert_eq!(n.serve(Request::AddToCounter { name: text("c"), delta: -5 }, 10), Response::Counter { value: -5 });
    assert_eq!(n.serve(Request::Counter { name: text("c") }, 10), Response::Counter { value: -5 });
    assert_eq!(n.serve(Request::Register { name: text("r") }, 10), Response::Failed(Error::NotFound));
    assert_eq!(
        n.serve(Request::SetRegister { name: text("r"), value: text("v1") }, 20),
        Response::Register { value: text("v1"), timestamp: 20 }
    );
    assert_eq!(n.serve(Request::AddToCounter { name: text(""), delta: 1 }, 10), Response::Failed(Error::EmptyName));

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
        n.serve(Request::Send { node: 4, service: 2, lifetime_ms: 60_000, payload: payload.clone() }, 10),
        Response::Sent { sequence: 0 }
    );
    assert_eq!(n.serve(Request::Send { node: 0, service: 2, lifetime_ms: 60_000, payload }, 10), Response::Failed(Error::BadDestination));
    let Response::Status(status) = n.serve(Request::Status, 10) else { panic!() };
    assert_eq!((status.node, status.spooled, status.sessions), (3, 1, 0));
    n.store_mut().fail_writes(true);
    let payload = Vec::from_slice(b"x").unwrap();
    assert_eq!(n.serve(Request::Send { node: 4, service: 2, lifetime_ms: 60_000, payload }, 10), Response::Failed(Error::StoreFailed));
    let module = ModuleVersion { name: text("m"), version: text("1") };
    assert_eq!(n.serve(Request::AddModule { tile: 3, module }, 10), Response::Failed(Error::StoreFailed));
    assert!(n.state().modules(3).is_empty(), "a change that was not stored was not made");
}
