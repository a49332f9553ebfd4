//! The twin's compute state as the tile's summary for its pod (docs/twin.md status table,
//! "pod-level aggregates"): `compute::tile_figures` of the state the twin computed is
//! published through a federation node by the configured publisher's badge, and the pod's
//! aggregates are what the twins' states say; another badge cannot publish it.
//!
//! Host-only: no booted tile wires the twin to the federation domain yet.

use tileos_federation::{FederationNode, FiguresPublisher, MemoryStore, NodeConfig, Role};
use tileos_protocol::federation::{Error, PodAggregates, Request, Response};
use tileos_protocol::telemetry::{DomainFigures, Units};
use tileos_twin::compute::{ComputeTracker, tile_figures};

/// The twin's badge on the federation endpoint (the node's figures publisher).
const TWIN: u64 = 0x33;

fn figures(name: &str, calls: u64, p99_ticks: u64, faults: u64, cpu_cycles: u64) -> DomainFigures {
    DomainFigures {
        name: name.try_into().unwrap(),
        reporter: true,
        calls,
        p50_ticks: p99_ticks / 4,
        p99_ticks,
        max_ticks: p99_ticks * 2,
        faults,
        restarts: 0,
        cpu_ticks: 0,
        cpu_cycles,
        power_mw: 100,
        alarms: Default::default(),
    }
}

#[test]
fn a_twins_compute_state_reaches_the_pod_aggregates_through_the_publisher_only() {
    // 1 GHz time-stamp counter, 10 s up.
    let units = Units { tsc_per_ms: 1_000_000, tick_us: 5000, uptime_ms: 10_000 };
    let mut config = NodeConfig::new(3, Role::Tile);
    config.figures_publisher = Some(FiguresPublisher::new("twin", TWIN));
    let mut node = FederationNode::recover(config, MemoryStore::new(), 0).unwrap();
    let mut twin = ComputeTracker::default();
    // 4 s of 10 busy: load 400; the store is the slowest reporter (2 ms).
    let compute = twin.take(&units, &[figures("store", 90, 2_000_000, 1, 3_000_000_000), figures("twin", 10, 500_000, 0, 1_000_000_000)]);
    let summary = tile_figures(compute.unwrap());
    // Another local domain cannot publish the tile's summary.
    assert_eq!(node.serve(0x30, Request::PublishFigures(summary), 10), Response::Failed(Error::NotPublisher));
    assert_eq!(node.serve(TWIN, Request::PublishFigures(summary), 10), Response::Done);
    let Response::PodAggregates(pod) = node.serve(0x30, Request::PodAggregates { first: 0, last: u32::MAX }, 10) else { panic!() };
    let expected = PodAggregates {
        tiles: 1,
        load_mean_permille: 400,
        load_max_permille: 400,
        busiest: 3,
        faults: 1,
        restarts: 0,
        calls: 100,
        p99_max_us: 2000,
        refused: 0,
    };
    assert_eq!(pod, expected);
}
