//! The `store-bench` domain: the store's figures for `tileos-bench` (`make bench`, scenario
//! `qemu/runner/tests/scenarios/bench-store.toml`), measured like block-bench's
//! (drivers/nvme/src/bin/block_bench.rs): each operation timed on its own with `rdtsc`
//! around the client call (message to the store, the store's log write, the NVMe commands
//! and flush, the reply; large values as all their upload or read calls), the scenario's
//! `idle-counter` domain at the lowest priority telling how many ticks were idle, so
//! `ticks − 2 × Δidle` is the instructions the rest of the system executed ("busy").
//!
//! Phases, in order, on keys of its own: [`SMALL_OPS`] durable puts of 4 KiB values,
//! [`SMALL_OPS`] buffered puts, [`SMALL_OPS`] gets of 4 KiB, then [`LARGE_OPS`] durable
//! puts of 1 MiB values and [`LARGE_OPS`] gets of them. Every value read is compared with
//! what was written (outside the timing). The result lines are
//!
//! `store-bench: result <put_4k_durable|put_4k_buffered|get_4k|put_1m_durable|get_1m> ops <n> bytes <b> ticks <sum> min <t> median <t> max <t> busy <sum>`
//!
//! then `store-bench: done`; a failure prints `store-bench: FAILED …` and stops.
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

use alloc::vec::Vec;
use core::fmt::Write;
use tileos_mmio::Mmio;
use tileos_protocol::store::Durability;
use tileos_service_store::{ClientError, StoreClient};
use tileos_sys::log;

/// Operations of each 4 KiB phase.
const SMALL_OPS: usize = 300;
/// Operations of each 1 MiB phase.
const LARGE_OPS: usize = 8;

tileos_sys::resources! {
    /// The store, the region shared with it and the idle loop's counter.
    struct Resources {
        /// The store's endpoint.
        store: ClientEndpoint("store"),
        /// The region the store maps as `store-buffer.<badge>`.
        buffer: Region("store-buffer"),
        /// The idle-counter domain's counter.
        idle: Region("idle-counter"),
    }
}

tileos_sys::entry!(main);

/// Per-operation ticks and the busy sum of one phase.
struct Phase {
    ticks: Vec<u64>,
    busy: u64,
}

impl Phase {
    fn new() -> Phase {
        Phase { ticks: Vec::new(), busy: 0 }
    }

    /// Runs `operation` timed; stops the domain if it fails.
    fn time<T>(&mut self, what: &str, idle: &Mmio, operation: impl FnOnce() -> Result<T, ClientError>) -> T {
        let idle_before = idle.read64(0);
        let start = tileos_sys::timestamp();
        let result = operation();
        let ticks = tileos_sys::timestamp() - start;
        let idle_ticks = 2 * (idle.read64(0) - idle_before);
        match result {
            Ok(value) => {
                self.ticks.push(ticks);
                self.busy += ticks.saturating_sub(idle_ticks);
                value
            }
            Err(error) => fail(&alloc::format!("{what}: {error:?}")),
        }
    }

    fn report(mut self, name: &str, bytes_per_op: usize) {
        let total: u64 = self.ticks.iter().sum();
        self.ticks.sort_unstable();
        let ops = self.ticks.len();
        log!(
            "store-bench: result {name} ops {ops} bytes {} ticks {total} min {} median {} max {} busy {}",
            ops * bytes_per_op,
            self.ticks[0],
            self.ticks[ops / 2],
            self.ticks[ops - 1],
            self.busy
        );
    }
}

fn fail(what: &str) -> ! {
    log!("store-bench: FAILED: {what}");
    tileos_sys::domain::stop();
}

/// The value of key number `index`, `length` bytes.
fn value(index: usize, length: usize) -> Vec<u8> {
    (0..length).map(|i| (i.wrapping_mul(31) ^ index.wrapping_mul(0x9E37)) as u8).collect()
}

fn key(prefix: &str, index: usize) -> heapless::String<16> {
    let mut key = heapless::String::new();
    let _ = write!(key, "{prefix}{index:05}");
    key
}

fn main(resources: Resources) -> ! {
    let store = StoreClient::new(resources.store, resources.buffer);
    let idle = resources.idle;
    for (name, durability) in [("put_4k_durable", Durability::Durable), ("put_4k_buffered", Durability::Buffered)] {
        let mut phase = Phase::new();
        for index in 0..SMALL_OPS {
            let value = value(index, 4096);
            let key = key(if durability == Durability::Durable { "d/" } else { "b/" }, index);
            phase.time(name, &idle, || store.put(key.as_bytes(), &value, durability));
        }
        phase.report(name, 4096);
    }
    let mut phase = Phase::new();
    for index in 0..SMALL_OPS {
        let key = key("d/", index);
        let read = phase.time("get_4k", &idle, || store.get(key.as_bytes()));
        if read != value(index, 4096) {
            fail(&alloc::format!("{key} read back wrong"));
        }
    }
    phase.report("get_4k", 4096);
    let mut phase = Phase::new();
    for index in 0..LARGE_OPS {
        let value = value(index, 1 << 20);
        let key = key("m/", index);
        phase.time("put_1m_durable", &idle, || store.put(key.as_bytes(), &value, Durability::Durable));
    }
    phase.report("put_1m_durable", 1 << 20);
    let mut phase = Phase::new();
    for index in 0..LARGE_OPS {
        let key = key("m/", index);
        let read = phase.time("get_1m", &idle, || store.get(key.as_bytes()));
        if read != value(index, 1 << 20) {
            fail(&alloc::format!("{key} read back wrong"));
        }
    }
    phase.report("get_1m", 1 << 20);
    log!("store-bench: done");
    tileos_sys::domain::stop();
}
