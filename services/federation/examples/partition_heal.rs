//! Prints what healing a partition costs with delta anti-entropy and with full-state sync
//! (`tileos_federation::bench::partition_heal`): `cargo run -p tileos-federation --example
//! partition_heal`.

use tileos_federation::bench::partition_heal;

fn main() {
    println!("replicas updates/side state-B | delta-B msgs rounds | full-B msgs rounds | full/delta");
    for (replicas, updates) in [(4, 4), (8, 16), (8, 64), (16, 8), (16, 64), (32, 32)] {
        let f = partition_heal(replicas, updates).expect("scenario runs");
        assert!(f.converged, "delta anti-entropy did not converge: {f:?}");
        println!(
            "{:>8} {:>12} {:>7} | {:>7} {:>4} {:>6} | {:>6} {:>4} {:>6} | {:>9.1}",
            f.replicas,
            f.updates_per_side,
            f.state_bytes,
            f.delta_bytes,
            f.delta_messages,
            f.delta_rounds,
            f.full_bytes,
            f.full_messages,
            f.full_rounds,
            f.full_bytes as f64 / f.delta_bytes as f64
        );
    }
}
