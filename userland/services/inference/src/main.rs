//! The inference domain (docs/inference.md "On the tile"): serves the inference protocol
//! (`tileos_protocol::inference`) with `tileos_inference::service::Service`.
//!
//! The base is not in this domain's memory: it is read in place from the region "base",
//! which the description maps read-only into every inference domain and read-write into the
//! model loader only (layout: `tileos_protocol::inference::base_region`). The domain waits
//! for the loader's ready word, then gives the base to the service as a `BaseFile`, which
//! checks and hashes it once and counts every whole read of it (the status's `base_loads`;
//! this glue reads only the region's header words itself). When the loader refused the
//! base's signed bundle instead, the domain serves no base: it answers every request
//! `NoBase { fault }` (docs/inference.md "The signed base"). Adapters come from the
//! store (keys `adapter/NAME`, this domain's namespace), verified as signed bundles against
//! the development bundle keys (DEV ONLY) and swapped in when a request names another one.
//!
//! Who may ask: each client of the endpoint with the parameter `generate = 1`; other badges
//! are refused by badge.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;
extern crate tileos_rt;

use alloc::vec::Vec;
use tileos_inference::service::{BaseFile, Fetched, MAX_ADAPTER_BUNDLE, Outcome, Service, refuse_without_base};
use tileos_protocol::inference::{BundleFault, Inference, Response, base_region};
use tileos_protocol::store::Error as StoreError;
use tileos_service_store::{ClientError, StoreClient};
use tileos_sys::{log, log_event};

tileos_sys::resources! {
    /// What the inference domain needs from the description.
    struct Resources {
        /// The inference protocol's endpoint.
        inference: ServedEndpoint("inference"),
        /// The shared base, mapped read-only.
        base: Region("base"),
        /// The store (adapter bundles).
        store: ClientEndpoint("store"),
        /// The region shared with the store.
        buffer: Region("store-buffer"),
    }
}

tileos_sys::entry!(main);

/// The badges the description lets generate (clients of "inference" with `generate = 1`).
fn permitted() -> Vec<u64> {
    tileos_sys::domain::params("inference")
        .filter(|&(_, name, value)| name == "generate" && value == 1)
        .map(|(badge, _, _)| badge)
        .collect()
}

/// Reads bundle `key` from the store, refusing one longer than [`MAX_ADAPTER_BUNDLE`]
/// before reading it; a restarting store is retried a few times.
fn fetch(store: &StoreClient, key: &str) -> Fetched {
    for _ in 0..100 {
        let mut bundle = Vec::new();
        let mut too_large = None;
        let result = store.read(key.as_bytes(), |length, piece| {
            if length > MAX_ADAPTER_BUNDLE {
                too_large = Some(length);
            } else {
                bundle.extend_from_slice(piece);
            }
        });
        match result {
            Ok(()) => return too_large.map_or(Fetched::Bundle(bundle), Fetched::TooLarge),
            Err(ClientError::Store(StoreError::NotFound)) => return Fetched::NotFound,
            Err(error) if error.is_retryable() => tileos_sys::yield_now(),
            Err(error) => {
                log!("inference: reading {key} from the store failed: {error:?}");
                return Fetched::Unavailable;
            }
        }
    }
    Fetched::Unavailable
}

/// Serves without a base (the loader refused it with fault code `code`): every request is
/// refused, `NoBase` for permitted badges, by badge for the others.
fn serve_without_base(endpoint: tileos_sys::cap::Endpoint, code: u64) -> ! {
    let Some(fault) = BundleFault::from_code(code) else {
        log!("inference: FAILED: the base region is marked refused with fault code {code}, which names no fault");
        tileos_sys::domain::stop();
    };
    log_event!("inference.no-base", domain = tileos_sys::domain::name(), fault = tileos_service_inference::DebugText(&fault));
    let permitted = permitted();
    tileos_sys::rpc::serve::<Inference>(endpoint, |badge, _request| {
        let response = refuse_without_base(&permitted, badge, fault);
        log!("inference: refused badge {badge}: {response:?} (no base)");
        Ok(response)
    })
}

fn main(resources: Resources) -> ! {
    let region = resources.base;
    let (paddr, size) = (region.paddr().unwrap_or(0), region.len() as u64);
    loop {
        match region.read64(base_region::READY_OFFSET) {
            base_region::READY => break,
            base_region::REFUSED => serve_without_base(resources.inference, region.read64(base_region::FAULT_OFFSET)),
            _ => tileos_sys::yield_now(),
        }
    }
    let length = region.read64(base_region::LENGTH_OFFSET);
    let words: &[u8] = region.as_slice();
    let Some(file) = words.get(base_region::FILE_OFFSET..).and_then(|rest| rest.get(..length as usize)) else {
        log!("inference: FAILED: the base region (size {size:#x}) says its file is {length} bytes, beyond the region");
        tileos_sys::domain::stop();
    };
    let trusted = tileos_module_bundle::dev_keys::trusted_bundle_keys().unwrap_or_else(|error| {
        log!("inference: the trusted bundle keys do not decode ({error}): every adapter will be refused");
        Vec::new()
    });
    let mut service = match Service::new(BaseFile::new(file), paddr, size, trusted, permitted()) {
        Ok(service) => service,
        Err(error) => {
            log!("inference: FAILED: the base in region \"base\" is refused: {error}");
            tileos_sys::domain::stop();
        }
    };
    let store = StoreClient::new(resources.store, resources.buffer);
    let sha = service.base().sha256;
    log_event!(
        "inference.ready",
        domain = tileos_sys::domain::name(),
        generation = tileos_sys::domain::info().generation,
        base_paddr = paddr,
        base_bytes = length,
        base_sha256 = tileos_service_inference::Hex(&sha)
    );
    tileos_sys::rpc::serve::<Inference>(resources.inference, |badge, request| {
        let (response, outcome) = service.handle(badge, &request, |key| fetch(&store, key));
        match (&response, outcome) {
            (Response::Refused(error), Outcome::Refused(detail)) => {
                log!("inference: refused badge {badge}: {error:?} {}", detail.as_deref().unwrap_or(""));
            }
            (Response::Generated(generated), Outcome::Served { swapped: true }) => log_event!(
                "inference.swap",
                domain = tileos_sys::domain::name(),
                adapter = generated.adapter.as_deref().unwrap_or("-"),
                swaps = generated.counters.swaps,
                adapter_bytes_read = generated.counters.adapter_bytes_read,
                base_loads = generated.counters.base_loads
            ),
            _ => {}
        }
        Ok(response)
    })
}
