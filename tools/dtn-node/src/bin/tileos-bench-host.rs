//! `tileos-bench-host`: bundle encode and decode operations per second with tileos-bpv7.
//! A benchmark to run by hand (`cargo run --release --bin tileos-bench-host`), not a test.

use std::hint::black_box;
use std::time::{Duration, Instant};

use tileos_bpv7::{Bundle, CrcType, CreationTimestamp, Eid, Policy};

/// Runs `op` repeatedly for about `budget` and returns operations per second.
fn rate(budget: Duration, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            op();
        }
        ops += 16;
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

fn main() -> Result<(), String> {
    let budget = Duration::from_millis(std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000));
    let source: Eid = "ipn:1.1".parse().map_err(|e| format!("{e}"))?;
    let dest: Eid = "ipn:2.1".parse().map_err(|e| format!("{e}"))?;
    println!("{:>9} {:>8} {:>14} {:>14} {:>12}", "payload", "crc", "encode/s", "decode/s", "decode MB/s");
    for size in [64usize, 1024, 65_536, 1 << 20] {
        for crc in [CrcType::Crc16X25, CrcType::Crc32C] {
            let bundle = Bundle::builder(source.clone(), dest.clone())
                .creation(CreationTimestamp { time_ms: 800_000_000_000, sequence: 1 })
                .crc_type(crc)
                .payload(vec![0xa5; size])
                .build()
                .map_err(|e| e.to_string())?;
            let bytes = bundle.encode().map_err(|e| e.to_string())?;
            let encode = rate(budget, || {
                black_box(black_box(&bundle).encode().ok());
            });
            let decode = rate(budget, || {
                black_box(Bundle::decode(black_box(&bytes), Policy::Strict).ok());
            });
            println!(
                "{:>9} {:>8} {:>14.0} {:>14.0} {:>12.1}",
                size,
                tileos_dtn_node::crc_name(crc),
                encode,
                decode,
                decode * bytes.len() as f64 / 1e6
            );
        }
    }
    Ok(())
}
