//! The tile lab with QEMU tiles (issue #15; docs/federation.md, "The tile lab"): scenario
//! `partition-heal-8` on eight booted tiles — a hub, pod a (gateway and two tiles), pod b
//! (gateway and three tiles) — each one QEMU process with its own disk, joined only through
//! the lab's loopback relays. The hub–b/0 link is cut; tiles on both sides make independent
//! updates (bundles to their update agents, which write registers of the replicated state)
//! and send 20 bundles each across the partition; the link comes back. Checks (the
//! scenario's): every bundle a tile acknowledged is delivered, and every tile converges to
//! the same replicated state, holding every update, within the scenario's bound on contacts
//! per link after the heal. The summary includes the replication payload bytes the tiles
//! sent from the heal to convergence, against full-state sync in the same rounds (the
//! figure `make lab-bench` tabulates). The timeline and summary are printed; the tiles' serial logs
//! stay in `build/test/lab/<tile>/serial.log`.

use tileos_qemu::images::{test_images, workspace_root};
use tileos_tile_lab::lab::{LabOptions, QemuSetup, TileKind, render_summary, run};
use tileos_tile_lab::scenario;
use tileos_tile_lab::tiles::QemuImages;

#[test]
fn eight_qemu_tiles_partitioned_and_healed_deliver_everything_and_converge() {
    let images = test_images().unwrap_or_else(|e| panic!("{e}"));
    let root = workspace_root();
    let path = root.join("tools/tile-lab/scenarios/partition-heal-8.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let scenario = scenario::parse("partition-heal-8.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let template_path = root.join("tools/tile-lab/tile-template.toml");
    let template = std::fs::read_to_string(&template_path).unwrap_or_else(|e| panic!("{}: {e}", template_path.display()));
    let options = LabOptions {
        kind: TileKind::Qemu(QemuSetup {
            images: QemuImages { kernel: images.kernel.clone(), rootserver: images.rootserver.clone() },
            template,
            program_dir: root.join("build/target-test/release"),
        }),
        tiles: None,
        work_dir: root.join("build/test/lab"),
        live: true,
    };
    let started = std::time::Instant::now();
    let report = run(&scenario, &options).unwrap_or_else(|e| panic!("the lab failed to run: {e}"));
    // The timeline was printed live.
    println!("{}", render_summary(&report));
    println!("wall clock: {:.1} s", started.elapsed().as_secs_f64());
    assert!(report.passed(), "a check of the scenario failed (summary above; serial logs in build/test/lab/)");
    // The tiles' fed.replication lines were read: bytes from the heal to convergence.
    let replication = report.replication.expect("replication figures of converged QEMU tiles");
    assert!(replication.messages > 0 && replication.delta_bytes > 0 && replication.full_bytes > 0, "{replication:?}");
}
