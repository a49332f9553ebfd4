//! `tileos-tile-lab`: runs a tile lab scenario (docs/federation.md, "The tile lab"), and,
//! as `host-node`, is one host node of a lab (`tileos-dtn-node node`'s code).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tileos_tile_lab::lab::{self, LabOptions, QemuSetup, TileKind};
use tileos_tile_lab::tiles::QemuImages;

#[derive(Parser)]
#[command(name = "tileos-tile-lab", version, about = "Boots N tiles joined by controllable links and runs a scenario")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    /// Each tile is a host node (tileos-dtn-node's store-and-forward node).
    Host,
    /// Each tile is a QEMU process (needs `make test-images`).
    Qemu,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and print its timeline and summary.
    Run {
        /// The scenario file (tools/tile-lab/scenarios/*.toml).
        scenario: PathBuf,
        /// Total number of tiles (hubs included), spread over the scenario's pods.
        #[arg(long = "tiles", short = 'n')]
        tiles: Option<u32>,
        /// What a tile is.
        #[arg(long, value_enum, default_value_t = Kind::Host)]
        kind: Kind,
        /// Working directory (emptied first).
        #[arg(long, default_value = "build/lab")]
        work: PathBuf,
        /// Also write the report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// QEMU tiles: the tile.toml template (without a `[federation]` table).
        #[arg(long, default_value = "tools/tile-lab/tile-template.toml")]
        template: PathBuf,
        /// QEMU tiles: the directory of the test images (kernel.elf32, rootserver.elf).
        #[arg(long, default_value = "build/test")]
        images: PathBuf,
        /// QEMU tiles: the programs imagebuild packs.
        #[arg(long, default_value = "build/target-test/release")]
        program_dir: PathBuf,
    },
    /// Print bundles per second through one relay and without it (1 KiB and 64 KiB).
    Bench {
        /// Bundles per measurement (64 KiB: at most 2,000).
        #[arg(long, default_value_t = 10_000)]
        count: usize,
    },
    /// Print one line per lab report (`run --json` files): kind, tiles, start-up,
    /// convergence after the last heal, deliveries, replication bytes per update (delta and
    /// full state) and each send's bundles per second; then the node logic's figure for
    /// the same tile counts.
    Table {
        /// The reports.
        reports: Vec<PathBuf>,
    },
    /// Run one host node (as `tileos-dtn-node node`); the lab starts these.
    #[command(hide = true)]
    HostNode {
        addr: String,
        #[arg(long)]
        node: String,
        #[arg(long)]
        spool: PathBuf,
        #[arg(long = "route")]
        routes: Vec<String>,
        #[arg(long, default_value_t = 500)]
        retry_max_ms: u64,
        #[arg(long, default_value_t = 1000)]
        status_interval_ms: u64,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run { scenario, tiles, kind, work, json, template, images, program_dir } => {
            let text = match std::fs::read_to_string(&scenario) {
                Ok(text) => text,
                Err(e) => return fail(format!("cannot read {}: {e}", scenario.display())),
            };
            let parsed = match tileos_tile_lab::scenario::parse(&scenario.display().to_string(), &text) {
                Ok(s) => s,
                Err(e) => return fail(e.to_string()),
            };
            let kind = match kind {
                Kind::Host => match std::env::current_exe() {
                    Ok(program) => TileKind::Host { program },
                    Err(e) => return fail(format!("cannot find this program: {e}")),
                },
                Kind::Qemu => match std::fs::read_to_string(&template) {
                    Ok(template) => TileKind::Qemu(QemuSetup {
                        images: QemuImages { kernel: images.join("kernel.elf32"), rootserver: images.join("rootserver.elf") },
                        template,
                        program_dir,
                    }),
                    Err(e) => return fail(format!("cannot read the template {}: {e}", template.display())),
                },
            };
            let options = LabOptions { kind, tiles, work_dir: work, live: true };
            match lab::run(&parsed, &options) {
                Ok(report) => {
                    // The timeline was printed as it happened.
                    println!("\n{}", lab::render_summary(&report));
                    if let Some(path) = json {
                        let text = serde_json::to_string_pretty(&lab::report_json(&report)).unwrap_or_default();
                        if let Err(e) = std::fs::write(&path, text + "\n") {
                            return fail(format!("cannot write {}: {e}", path.display()));
                        }
                    }
                    if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
                }
                Err(e) => fail(e),
            }
        }
        Command::Bench { count } => {
            println!("{:>9} {:>8} {:>16} {:>16}", "payload", "bundles", "direct b/s", "via relay b/s");
            for size in [1024usize, 65_536] {
                let n = if size > 4096 { count.min(2_000) } else { count };
                let direct = tileos_tile_lab::bench::bundles_per_second(size, n, false);
                let relayed = tileos_tile_lab::bench::bundles_per_second(size, n, true);
                match (direct, relayed) {
                    (Ok(d), Ok(r)) => println!("{size:>9} {n:>8} {d:>16.0} {r:>16.0}"),
                    (Err(e), _) | (_, Err(e)) => return fail(e),
                }
            }
            ExitCode::SUCCESS
        }
        Command::Table { reports } => {
            let mut values = Vec::new();
            for path in &reports {
                match std::fs::read_to_string(path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
                {
                    Ok(value) => values.push(value),
                    Err(e) => return fail(format!("{}: {e}", path.display())),
                }
            }
            print!("{}", lab::render_table(&values));
            match lab::render_node_logic(&values) {
                Ok(text) => print!("{text}"),
                Err(e) => return fail(e),
            }
            ExitCode::SUCCESS
        }
        Command::HostNode { addr, node, spool, routes, retry_max_ms, status_interval_ms } => {
            let node = match node.parse() {
                Ok(node) => node,
                Err(e) => return fail(format!("--node {node}: {e:?}")),
            };
            let routes = match routes.iter().map(|r| r.parse()).collect::<Result<Vec<_>, String>>() {
                Ok(routes) => routes,
                Err(e) => return fail(e),
            };
            let config = tileos_dtn_node::node::NodeConfig {
                listen: addr,
                node,
                spool,
                routes,
                retry_max: Duration::from_millis(retry_max_ms),
                status_interval: Duration::from_millis(status_interval_ms),
            };
            match tileos_dtn_node::node::run(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
    }
}

fn fail(message: String) -> ExitCode {
    eprintln!("tileos-tile-lab: {message}");
    ExitCode::FAILURE
}
