//! Host benchmark: delta merges per second on the `bench` add-wins set workload.
//! Run with `cargo run --release -p tileos-crdt --example merge_rate [replicas] [ops]`;
//! prints one JSON object.

use std::time::Instant;

use tileos_crdt::bench::{awset_deltas, merge_all};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let replicas = args.next().and_then(Result::ok).unwrap_or(8);
    let ops = args.next().and_then(Result::ok).unwrap_or(10_000);
    let ops = u32::try_from(ops).unwrap_or(u32::MAX);
    let deltas = match awset_deltas(replicas, ops) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("workload failed: {e:?}");
            std::process::exit(1);
        }
    };
    let merges = deltas.len();
    let start = Instant::now();
    let state = merge_all(deltas);
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{{\"replicas\":{replicas},\"delta_merges\":{merges},\"seconds\":{seconds:.6},\"merges_per_second\":{:.0},\"elements\":{}}}",
        merges as f64 / seconds,
        state.store().elements().count()
    );
}
