//! Test server of the immune-system scenario (`immune.toml`): serves the echo protocol on
//! "spin" and answers `Increment(n)` with `n + 1`. A client whose entry carries the
//! parameter `slow_after = N` is answered after a busy loop of `slow_spins` iterations
//! (another parameter of its entry) from its N-th request on, for as long as this domain
//! runs: the latency regression the immune system must see in that client's figures.
#![no_std]
#![no_main]

extern crate tileos_rt;

use alloc::collections::BTreeMap;
use tileos_protocol::echo::{Echo, Request, Response};
use tileos_sys::log;

extern crate alloc;

tileos_sys::resources! {
    /// What the test server needs from the description.
    struct Resources {
        /// The endpoint it serves.
        spin: ServedEndpoint("spin"),
    }
}

tileos_sys::entry!(main);

fn main(resources: Resources) -> ! {
    log!("{}: serving \"spin\"", tileos_sys::domain::name());
    let mut served: BTreeMap<u64, u64> = BTreeMap::new();
    tileos_sys::rpc::serve::<Echo>(resources.spin, |badge, request| {
        let count = served.entry(badge).or_insert(0);
        *count += 1;
        if let Some(after) = tileos_sys::domain::param("spin", badge, "slow_after")
            && *count >= after
        {
            let spins = tileos_sys::domain::param("spin", badge, "slow_spins").unwrap_or(0);
            for spin in 0..spins {
                core::hint::black_box(spin);
            }
        }
        Ok(match request {
            Request::Increment(value) => Response::Number(value.wrapping_add(1)),
            Request::WhoAmI => Response::Number(badge),
            Request::Reverse(text) => Response::Text(text),
        })
    })
}
