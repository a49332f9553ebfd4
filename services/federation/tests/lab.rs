//! The lab in a test: eight nodes — a hub, pod A (pod node and two tiles) and pod B (pod
//! node and three tiles) — partitioned between the hub and pod B, updated independently on
//! both sides through the federation protocol, then healed. Every node must converge to
//! the same replicated state within a bounded number of replication rounds, and an
//! application bundle sent across the partition must arrive after the heal.

mod common;

use common::Lab;
use tileos_federation::{FederatedState, FiguresPublisher, NodeConfig, NodeNumber, Role, ipn};
use tileos_protocol::federation::{Error, ModuleVersion, PodAggregates, Request, Response, TileFigures};
use tileos_protocol::heapless::String;

const HUB: NodeNumber = 1;
const POD_A: NodeNumber = 10;
const POD_B: NodeNumber = 20;
const TILES_A: [NodeNumber; 2] = [11, 12];
const TILES_B: [NodeNumber; 3] = [21, 22, 23];
/// One anti-entropy round every second.
const ROUND_MS: u64 = 1_000;

fn federation() -> Lab {
    let mut lab = Lab::new();
    let add = |lab: &mut Lab, node, role, neighbours: &[NodeNumber], routes: &[(&str, NodeNumber)]| {
        let mut config = NodeConfig::new(node, role);
        for n in neighbours {
            config = config.neighbour(*n, "");
        }
        for (pattern, via) in routes {
            config = config.route(*pattern, *via);
        }
        config.replication_interval_ms = ROUND_MS;
        // The lab's requests carry badge 0 (`serve`): that is each tile's figures publisher.
        config.figures_publisher = Some(FiguresPublisher::new("telemetry", 0));
        lab.add(config);
    };
    // The hub routes by prefix: pod A's nodes are 1x, pod B's 2x.
    add(&mut lab, HUB, Role::Hub, &[POD_A, POD_B], &[("ipn:1*", POD_A), ("ipn:2*", POD_B)]);
    add(&mut lab, POD_A, Role::Pod, &[HUB, 11, 12], &[("ipn:*", HUB)]);
    add(&mut lab, POD_B, Role::Pod, &[HUB, 21, 22, 23], &[("ipn:*", HUB)]);
    for tile in TILES_A {
        add(&mut lab, tile, Role::Tile, &[POD_A], &[("ipn:*", POD_A)]);
        lab.link(tile, POD_A, 2);
    }
    for tile in TILES_B {
        add(&mut lab, tile, Role::Tile, &[POD_B], &[("ipn:*", POD_B)]);
        lab.link(tile, POD_B, 2);
    }
    lab.link(HUB, POD_A, 20);
    lab.link(HUB, POD_B, 20);
    lab
}

fn text<const N: usize>(s: &str) -> String<N> {
    String::try_from(s).unwrap()
}

fn serve(lab: &mut Lab, node: NodeNumber, request: Request) -> Response {
    let now = lab.now_ms;
    lab.node(node).serve(0, request, now)
}

/// Each tile records its modules and bumps shared counters; one register is written on
/// both sides, concurrently.
fn update_side(lab: &mut Lab, tiles: &[NodeNumber], generation: u32) {
    for &tile in tiles {
        for m in 0..3 {
            let module = ModuleVersion { name: text(&format!("svc-{m}")), version: text(&format!("{generation}.{tile}")) };
            assert_eq!(serve(lab, tile, Request::AddModule { tile, module }), Response::Done);
        }
        let add = Request::AddToCounter { name: text("jobs.done"), delta: i64::from(tile) };
        assert!(matches!(serve(lab, tile, add), Response::Counter { .. }));
    }
    let value = text(&format!("policy-from-{}", tiles[0]));
    assert!(matches!(serve(lab, tiles[0], Request::SetRegister { name: text("routing.policy"), value }), Response::Register { .. }));
}

fn state(lab: &mut Lab, node: NodeNumber) -> FederatedState {
    lab.node(node).state().clone()
}

#[test]
fn eight_nodes_converge_after_a_partition_heals() {
    let mut lab = federation();
    lab.run(5_000, 100);
    assert!(lab.converged(), "the empty federation agrees");

    lab.cut(HUB, POD_B);
    update_side(&mut lab, &TILES_A, 1);
    update_side(&mut lab, &TILES_B, 1);
    // An application bundle from pod A's tile to pod B's: the hub keeps custody.
    lab.node(11).send(40, ipn(23, 40), b"across the partition".to_vec(), 3_600_000).unwrap();
    lab.run(lab.now_ms + 10 * ROUND_MS, 100);
    assert!(!lab.converged(), "the sides disagree while partitioned");
    assert_eq!(state(&mut lab, 11), state(&mut lab, HUB), "side A agrees inside itself");
    assert_eq!(state(&mut lab, 21), state(&mut lab, POD_B), "side B agrees inside itself");
    assert_eq!(lab.node(HUB).spooled(), 1, "the hub holds the bundle for pod B");

    let sent_before = lab.replication_sent();
    let bytes_before: u64 = lab.nodes().map(|n| n.counters().replication_bytes).sum();
    let full_before: u64 = lab.nodes().map(|n| n.counters().replication_full_bytes).sum();
    let healed_at = lab.now_ms;
    lab.heal(HUB, POD_B);
    // Bound: the hub redials within 2 s; the diameter is 4 hops, one round each way.
    let converged_at = lab.run_until(healed_at + 12 * ROUND_MS, 100, |lab| lab.converged()).expect("converged after the heal");
    let rounds = (converged_at - healed_at).div_ceil(ROUND_MS);
    let messages = lab.replication_sent() - sent_before;
    let bytes: u64 = lab.nodes().map(|n| n.counters().replication_bytes).sum::<u64>() - bytes_before;
    let full: u64 = lab.nodes().map(|n| n.counters().replication_full_bytes).sum::<u64>() - full_before;
    println!("converged {rounds} rounds after the heal: {messages} replication bundles, {bytes} payload bytes (full state: {full})");
    assert!(bytes < full, "deltas sent {bytes} bytes, full-state sync in the same rounds {full}");
    assert!(rounds <= 10, "converged in {rounds} rounds");

    let agreed = state(&mut lab, HUB);
    assert_eq!(agreed.tiles(), [11, 12, 21, 22, 23]);
    assert_eq!(agreed.modules(22).len(), 3);
    assert_eq!(agreed.counter("jobs.done"), 11 + 12 + 21 + 22 + 23);
    // Both sides wrote the register at the same node time: the higher node number wins.
    assert_eq!(agreed.register("routing.policy").map(|(v, _)| v), Some("policy-from-21"));

    lab.run_until(lab.now_ms + 10 * ROUND_MS, 100, |lab| lab.delivered.get(&23).is_some_and(|d| !d.is_empty()))
        .expect("bundle delivered after the heal");
    assert_eq!(lab.delivered[&23][0].payload, b"across the partition");
    // Stats flow into the replicated counters too, once the next rounds run.
    lab.run(lab.now_ms + 10 * ROUND_MS, 100);
    assert!(lab.converged());
    assert_eq!(state(&mut lab, 12).counter("bundles.delivered"), 1);
    assert_eq!(state(&mut lab, 12).counter("bundles.created"), 1);
}

/// Pod aggregates: every tile publishes its telemetry summary through the federation
/// protocol; once replicated, a tile of pod A knows pod A's aggregates and pod B's, and a
/// tile whose load went up is the busiest everywhere a round later.
#[test]
fn every_tile_learns_its_pods_telemetry_aggregates() {
    let mut lab = federation();
    lab.run(5_000, 100);
    for tile in TILES_A.into_iter().chain(TILES_B) {
        let figures = TileFigures { load_permille: tile as u16 * 10, faults: 1, restarts: 0, calls: 1000, p99_us: u64::from(tile) * 100 };
        assert_eq!(serve(&mut lab, tile, Request::PublishFigures(figures)), Response::Done);
    }
    let bad = TileFigures { load_permille: 1001, ..TileFigures::default() };
    assert_eq!(serve(&mut lab, 11, Request::PublishFigures(bad)), Response::Failed(Error::BadFigures));
    lab.run_until(lab.now_ms + 10 * ROUND_MS, 100, |lab| lab.converged()).expect("converged");
    let pod = |lab: &mut Lab, at: NodeNumber, first: u32, last: u32| match serve(lab, at, Request::PodAggregates { first, last }) {
        Response::PodAggregates(pod) => pod,
        other => panic!("{other:?}"),
    };
    let pod_a = PodAggregates {
        tiles: 2,
        load_mean_permille: 115,
        load_max_permille: 120,
        busiest: 12,
        faults: 2,
        restarts: 0,
        calls: 2000,
        p99_max_us: 1200,
        refused: 0,
    };
    for tile in TILES_A {
        assert_eq!(pod(&mut lab, tile, 10, 19), pod_a);
    }
    let everyone = pod(&mut lab, 11, 0, u32::MAX);
    assert_eq!((everyone.tiles, everyone.busiest, everyone.p99_max_us, everyone.faults), (5, 23, 2300, 5));
    assert_eq!(pod(&mut lab, 21, 20, 29).tiles, 3);
    // Tile 11 gets busy: its next summary replaces the old one across the federation.
    let busy = TileFigures { load_permille: 900, faults: 4, restarts: 1, calls: 5000, p99_us: 5000 };
    assert_eq!(serve(&mut lab, 11, Request::PublishFigures(busy)), Response::Done);
    lab.run_until(lab.now_ms + 10 * ROUND_MS, 100, |lab| lab.converged()).expect("converged again");
    let after = pod(&mut lab, 23, 10, 19);
    assert_eq!((after.busiest, after.load_max_permille, after.faults, after.restarts, after.p99_max_us), (11, 900, 5, 1, 5000));
}

#[test]
fn a_node_restarted_from_its_store_keeps_its_replica_and_catches_up() {
    let mut lab = federation();
    lab.run(5_000, 100);
    update_side(&mut lab, &TILES_A, 1);
    lab.run(lab.now_ms + 8 * ROUND_MS, 100);
    assert!(lab.converged());
    lab.crash(22);
    update_side(&mut lab, &TILES_A, 2);
    lab.run(lab.now_ms + 3 * ROUND_MS, 100);
    lab.restart(22);
    assert_eq!(lab.node(22).state().tiles(), [11, 12], "restored from the store, not from peers");
    lab.run_until(lab.now_ms + 10 * ROUND_MS, 100, |lab| lab.converged()).expect("caught up");
}
