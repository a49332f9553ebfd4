//! End to end with host nodes: the shipped scenarios run with `tileos-dtn-node`'s node as
//! every tile (one process each, started by this crate's binary), real relays on loopback
//! and the lab's timeline; each test checks the report.

use std::path::PathBuf;

use tileos_tile_lab::lab::{self, LabOptions, Report, TileKind};
use tileos_tile_lab::scenario;

fn run(name: &str, tiles: Option<u32>) -> Report {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let scenario = scenario::parse(&path.display().to_string(), &text).unwrap();
    let work = std::env::temp_dir().join(format!("tileos-tile-lab-test-{}-{name}", std::process::id()));
    let options = LabOptions {
        kind: TileKind::Host { program: PathBuf::from(env!("CARGO_BIN_EXE_tileos-tile-lab")) },
        tiles,
        work_dir: work.clone(),
        live: false,
    };
    let report = lab::run(&scenario, &options).unwrap();
    let shown = format!("{}\n{}", lab::render_timeline(&report), lab::render_summary(&report));
    assert!(report.passed(), "{shown}");
    let _ = std::fs::remove_dir_all(work);
    eprintln!("{shown}");
    report
}

#[test]
fn eight_tiles_partitioned_and_healed_deliver_everything_and_converge() {
    let report = run("partition-heal-8", None);
    assert_eq!(report.tiles.len(), 8);
    // 4 updates to 8 tiles, and 20 bundles each way across the cut.
    assert_eq!(report.bundles_sent, 4 * 8 + 2 * 20);
    assert_eq!(report.bundles_delivered, report.bundles_sent);
    // Nothing crossed the cut: every bundle sent at 0.8 s arrived after the heal at 2.5 s,
    // except the updates to the sender's own side.
    let convergence = report.convergence.as_ref().unwrap();
    assert!(convergence.heal_ms >= 2_500);
    assert!(convergence.converged_ms.unwrap() > convergence.heal_ms);
    assert!(report.tiles.iter().all(|t| t.state_items == Some(4)));
    let hub_b0 = report.links.iter().find(|l| l.a == "hub" && l.b == "b/0").unwrap();
    assert!(hub_b0.refused > 0, "the hub kept trying while cut");
    assert!(report.heal_to_last_delivery_ms.is_some());
}

#[test]
fn a_gateway_killed_mid_transfer_loses_no_acknowledged_bundle() {
    let report = run("reboot-mid-transfer", None);
    assert_eq!(report.bundles_sent, 300);
    assert_eq!(report.bundles_delivered, 300);
    let gateway = report.tiles.iter().find(|t| t.name == "p/0").unwrap();
    assert_eq!(gateway.reboots, 1);
    // It was killed holding acknowledged bundles, and reloaded them.
    let killed = report.timeline.iter().find(|e| e.text.starts_with("reboot p/0: killed")).unwrap();
    let held: usize = killed.text.split("holding ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(held > 0, "{}", killed.text);
    let started = report.timeline.iter().find(|e| e.text.starts_with("reboot p/0: started again")).unwrap();
    assert!(started.text.contains(&format!("reloaded {held} bundle(s)")), "{}", started.text);
}

#[test]
fn a_long_light_time_link_delivers_over_two_hops_once_its_window_opens() {
    let report = run("long-haul-2hop", None);
    assert_eq!(report.bundles_delivered, 3);
    let (min, _, max) = report.latency_ms.unwrap();
    // The window opens at 2 s and a TCPCL session over a 1 s light time needs round trips
    // before the transfer; the direct link alone would take 20 s one way.
    assert!(min >= 3_000, "latency {min} ms");
    assert!(max < 15_000, "latency {max} ms");
    let direct = report.links.iter().find(|l| l.owlt_ms == 20_000).unwrap();
    assert_eq!(direct.bytes, 0, "nothing took the direct link");
}

#[test]
fn lossy_and_delayed_links_still_deliver_every_acknowledged_bundle() {
    let text = r#"
[lab]
name = "lossy"
duration_ms = 40000
seed = 5

[[pod]]
name = "p"
tiles = 3
owlt_ms = 5

[[event]]
at_ms = 0
kind = "loss"
a = "p/0"
b = "p/2"
rate = 0.05

[[event]]
at_ms = 0
kind = "delay"
a = "p/0"
b = "p/1"
owlt_ms = 50

[[event]]
at_ms = 100
kind = "send"
from = "p/1"
to = "p/2"
count = 100
size = 4096

[[event]]
at_ms = 1500
kind = "loss"
a = "p/0"
b = "p/2"
rate = 0.0

[check]
deliver_all = true
"#;
    let scenario = scenario::parse("lossy.toml", text).unwrap();
    let work = std::env::temp_dir().join(format!("tileos-tile-lab-test-{}-lossy", std::process::id()));
    let options = LabOptions {
        kind: TileKind::Host { program: PathBuf::from(env!("CARGO_BIN_EXE_tileos-tile-lab")) },
        tiles: None,
        work_dir: work.clone(),
        live: false,
    };
    let report = lab::run(&scenario, &options).unwrap();
    let shown = format!("{}\n{}", lab::render_timeline(&report), lab::render_summary(&report));
    let _ = std::fs::remove_dir_all(work);
    assert!(report.passed(), "{shown}");
    assert_eq!(report.bundles_delivered, 100, "{shown}");
    let lossy = report.links.iter().find(|l| l.b == "p/2").unwrap();
    assert!(lossy.broken_by_loss > 0, "{shown}");
    let delayed = report.links.iter().find(|l| l.b == "p/1").unwrap();
    assert_eq!(delayed.owlt_ms, 50);
    // p/1's session to p/0 crosses the 50 ms light time several times before the first ack.
    assert!(report.latency_ms.unwrap().0 >= 100, "{shown}");
}
