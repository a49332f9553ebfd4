//! A profile of the manager's work per client request, on the host: the simulated tile of
//! the host tests (`tests/common`) with 0, 1 or 2 challengers shadowing (the first
//! argument) answers 20,000 requests. Run it under callgrind to see where the instructions
//! go (docs/research.md, "The demo slot"):
//!
//! ```text
//! cargo build --release -p tileos-slot-manager --example profile_requests
//! valgrind --tool=callgrind target/release/examples/profile_requests 1
//! callgrind_annotate --inclusive=yes callgrind.out.*
//! ```
#[path = "../tests/common/mod.rs"]
mod common;

use common::{Sim, bundle, config, policy};

fn main() {
    let challengers: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(0);
    // As in `make bench` (bench-slot: 20,000 agreeing answers needed), the challengers keep
    // shadowing for the whole run rather than turning promotable after a few answers.
    let mut p = policy();
    p.min_agreeing = 1_000_000;
    let mut sim = Sim::new(config(p, 4));
    for _ in 0..challengers.min(2) {
        sim.install(&bundle(b"fast"));
        sim.pump();
    }
    for x in 0..20_000u64 {
        sim.request(1, x);
        sim.pump();
    }
    println!("{} requests answered with {challengers} challengers", sim.m.stats().answered);
}
