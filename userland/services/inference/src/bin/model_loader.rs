//! The model loader (docs/inference.md "On the tile"): checks the base's signed bundle
//! (built into this program: `weights/base.safetensors` signed by the build with the
//! development key, DEV ONLY) and writes its file into the shared region "base", the only
//! mapping of it that is writable, then its length and the ready word last
//! ([`tileos_service_inference::install_base`]; a bundle that fails is never written and no
//! base is served, docs/inference.md "The signed base"); puts
//! the signed adapter bundles (signed by the build with the development key, DEV ONLY) into
//! the store under `adapter/NAME`, in the namespace the inference domains read; then stops.
//! It runs once per boot (restart policy never): the region keeps the base for the tile's
//! life, across restarts of the inference domains.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;
extern crate tileos_rt;

use tileos_protocol::store::Durability;
use tileos_service_store::StoreClient;
use tileos_sys::{log, log_event};

tileos_sys::resources! {
    /// What the loader needs from the description.
    struct Resources {
        /// The shared base, mapped read-write here only.
        base: Region("base"),
        /// The store (adapter bundles).
        store: ClientEndpoint("store"),
        /// The region shared with the store.
        buffer: Region("store-buffer"),
    }
}

tileos_sys::entry!(main);

/// The base's signed bundle.
static BASE_BUNDLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/base.bundle"));

/// The signed adapter bundles the build made, by name.
static BUNDLES: [(&str, &[u8]); 7] = [
    ("t1", include_bytes!(concat!(env!("OUT_DIR"), "/t1.bundle"))),
    ("t2", include_bytes!(concat!(env!("OUT_DIR"), "/t2.bundle"))),
    ("t3", include_bytes!(concat!(env!("OUT_DIR"), "/t3.bundle"))),
    ("t1-backdoor", include_bytes!(concat!(env!("OUT_DIR"), "/t1-backdoor.bundle"))),
    ("t1b", include_bytes!(concat!(env!("OUT_DIR"), "/t1b.bundle"))),
    ("t2b", include_bytes!(concat!(env!("OUT_DIR"), "/t2b.bundle"))),
    ("t2c", include_bytes!(concat!(env!("OUT_DIR"), "/t2c.bundle"))),
];

fn main(resources: Resources) -> ! {
    if tileos_service_inference::install_base(&resources.base, BASE_BUNDLE).is_err() {
        // Logged with the fault; without a base the adapters are of no use.
        tileos_sys::domain::stop();
    }
    let store = StoreClient::new(resources.store, resources.buffer);
    for (name, bundle) in BUNDLES {
        let key = tileos_inference::service::adapter_key(name);
        let mut tries = 0;
        loop {
            match store.put(key.as_bytes(), bundle, Durability::Buffered) {
                Ok(()) => break,
                Err(error) if error.is_retryable() && tries < 1000 => {
                    tries += 1;
                    tileos_sys::yield_now();
                }
                Err(error) => {
                    log!("model-loader: FAILED: putting {key} ({} bytes) into the store: {error:?}", bundle.len());
                    tileos_sys::domain::stop();
                }
            }
        }
        log_event!("model-loader.adapter", name = name, bytes = bundle.len());
    }
    log_event!("model-loader.done", adapters = BUNDLES.len());
    tileos_sys::domain::stop();
}
