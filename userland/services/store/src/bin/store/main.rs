//! The store domain (docs/store.md): the persistent, crash-consistent object store of
//! `tileos_store` on the store's window of the NVMe disk, serving the store protocol
//! (`tileos_protocol::store`) on the endpoint "store".
//!
//! Its clients and their namespaces come from the description: each client entry of the
//! "store" endpoint gives its namespace and quotas in endpoint parameters
//! (`tileos_store::clients`, docs/store.md "Description") and shares the region
//! `store-buffer.<badge>` (the badge in decimal) with the store. A client entry without
//! them is refused (logged at start, and `NoNamespace` to every request).
//!
//! At start it opens its disk window and mounts the store (replaying the log, discarding a
//! torn tail and logging exactly what), or formats an empty window. While the disk is not
//! there (the driver did not start, or is restarting) every request is answered
//! `Unavailable` and the mount is tried again at the next one. After each change it
//! reclaims dead space in a bounded step once the log is more than
//! [`COMPACT_AT_PERCENT`] full, between `@event store.compacting` and `store.compacted`.
//!
//! With a `telemetry` capability it reports its own call latencies (its block requests to
//! the driver) to the telemetry domain every [`REPORT_EVERY`] requests it served.
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

mod disk;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec::Vec;
use disk::Disk;
use tileos_mmio::Mmio;
use tileos_protocol::store::{Error, Request, Response, Store as StoreProtocol};
use tileos_store::clients::client_table;
use tileos_store::service::{Client, Service};
use tileos_store::{MountFailure, NamespaceConfig, RecoveryReport, Store};
use tileos_sys::{log, log_event};

/// Log fill (percent of the window) above which each change is followed by a compaction step.
const COMPACT_AT_PERCENT: u64 = 60;
/// Log bytes one compaction step cleans at most.
const COMPACT_STEP_BYTES: u64 = 256 * 1024;

tileos_sys::resources! {
    /// The store's endpoint and its way to the disk.
    struct Resources {
        /// The store protocol's endpoint.
        store: ServedEndpoint("store"),
        /// The NVMe driver's block endpoint.
        block: ClientEndpoint("block"),
        /// The region shared with the driver for the data of block requests.
        block_data: Region("block-data"),
        /// The telemetry domain, if the description has it.
        telemetry: ClientEndpoint("telemetry", optional),
    }
}

/// Requests served between two telemetry reports.
const REPORT_EVERY: u32 = 100;

tileos_sys::entry!(main);

/// The clients the description declares, with their regions, and their namespaces
/// (`tileos_store::clients`: one packed `quota` parameter per client, `namespace` alone to
/// share one, or `namespace`, `max_bytes`, `max_keys`); each refused client is logged by
/// badge with the reason.
fn clients() -> (Vec<Client>, BTreeMap<u64, Mmio>, Vec<NamespaceConfig>) {
    let mut badges: Vec<u64> = tileos_sys::domain::params("store").map(|(badge, _, _)| badge).collect();
    badges.dedup();
    let param = |badge, name: &str| tileos_sys::domain::param("store", badge, name);
    let region_name = |badge| format!("store-buffer.{badge}");
    let table = client_table(&badges, param, |badge| tileos_sys::domain::region(&region_name(badge)).is_some());
    for (badge, refusal) in &table.refused {
        log!("store: client with badge {badge:#x} {refusal}: refused");
    }
    for (badge, namespace) in &table.overridden {
        log!("store: client with badge {badge:#x}: namespace {namespace} has other quotas already; the first client's apply");
    }
    let mut regions = BTreeMap::new();
    let mut clients = Vec::new();
    for client in table.clients {
        match tileos_sys::domain::take_region(&region_name(client.badge)) {
            Some(region) => {
                regions.insert(client.badge, region);
                clients.push(client);
            }
            None => {
                log!("store: client with badge {:#x}: its region {} was taken already: refused", client.badge, region_name(client.badge))
            }
        }
    }
    (clients, regions, table.namespaces)
}

/// Logs what a mount found.
fn log_recovery(report: &RecoveryReport) {
    match &report.discarded {
        None => {
            log_event!("store.mounted", generation = report.generation, records = report.records, tail = report.tail, discarded = "none")
        }
        Some(discarded) => {
            log_event!(
                "store.mounted",
                generation = report.generation,
                records = report.records,
                tail = report.tail,
                discarded = format!("{}-{}", discarded.start, discarded.end)
            );
            log!(
                "store: recovery discarded log bytes {}..{} from sector {} ({:?}{}): records {:?}",
                discarded.start,
                discarded.end,
                discarded.first_lba,
                discarded.cause,
                if discarded.flushed { ", flushed: medium damage" } else { ", never flushed: a torn write" },
                discarded.seqs
            );
        }
    }
    for damaged in &report.damaged {
        log!("store: record {} kept with a damaged value frame at sector {}: reading it answers Corrupt", damaged.seq, damaged.lba);
    }
    if report.superblock_copies_valid < 2 {
        log!("store: only {} of 2 superblock copies were valid; both rewritten", report.superblock_copies_valid);
    }
}

/// Opens the disk and mounts the store, formatting an empty window.
/// `quiet`: the disk was found missing before (said once, not at every request).
fn mount(block: tileos_sys::cap::Endpoint, data: Mmio, namespaces: &[NamespaceConfig], quiet: bool) -> Result<Store<Disk>, Mmio> {
    let disk = match Disk::open(block, data) {
        Ok(disk) => disk,
        Err((error, data)) => {
            if !quiet {
                log!("store: disk not available ({error}); answering Unavailable until it is");
            }
            return Err(data);
        }
    };
    match Store::mount(disk, namespaces) {
        Ok((store, report)) => {
            log_recovery(&report);
            Ok(store)
        }
        Err(MountFailure { error: tileos_store::Error::Unformatted, device }) => {
            log!("store: no store on the disk window ({} sectors): formatting it", tileos_store::BlockDevice::blocks(&device));
            match Store::format(device, tileos_sys::timestamp(), namespaces) {
                Ok(store) => {
                    log_event!("store.formatted", sectors = store.space().capacity / 512);
                    Ok(store)
                }
                Err(failure) => {
                    log!("store: formatting failed: {}", failure.error);
                    Err(failure.device.into_data())
                }
            }
        }
        Err(failure) => {
            log!("store: mount failed: {}; answering Unavailable", failure.error);
            Err(failure.device.into_data())
        }
    }
}

fn main(resources: Resources) -> ! {
    let (clients, mut regions, namespaces) = clients();
    log!("store: {} clients in {} namespaces (generation {})", clients.len(), namespaces.len(), tileos_sys::domain::info().generation);
    let block = resources.block;
    let mut data = Some(resources.block_data);
    let mut service: Option<Service<Disk>> = None;
    let mut pending_clients = Some(clients);
    let mut mount_failed = false;
    // Half the heap may hold uploads; the rest is the index and the working buffers.
    let upload_limit = tileos_sys::domain::info().heap_size / 2;
    log!("store: values of up to {upload_limit} bytes can be uploaded (half the heap)");
    let telemetry = resources.telemetry.map(tileos_sys::rpc::Client::new);
    let mut reports = tileos_sys::telemetry::Periodic::new(REPORT_EVERY);
    tileos_sys::rpc::serve::<StoreProtocol>(resources.store, |badge, request| {
        reports.tick(telemetry.as_ref(), "store");
        if service.is_none()
            && let Some(region) = data.take()
        {
            match mount(block, region, &namespaces, mount_failed) {
                Ok(store) => service = Some(Service::new(store, pending_clients.take().unwrap_or_default(), upload_limit)),
                Err(region) => {
                    data = Some(region);
                    mount_failed = true;
                }
            }
        }
        let Some(service) = service.as_mut() else { return Ok(Response::Failed(Error::Unavailable)) };
        let Some(region) = regions.get_mut(&badge) else { return Ok(Response::Failed(Error::NoNamespace { badge })) };
        let response = service.handle(badge, &request, region.as_mut_slice::<u8>());
        if let Some(report) = service.store().take_remount_report() {
            log!("store: re-mounted after a disk error");
            log_recovery(&report);
        }
        if let Response::Failed(Error::Corrupt { key, key_length }) = &response {
            log!("store: client {badge:#x}: value of key {key:?} ({key_length} bytes) failed its checksum; not returned");
        }
        if matches!(request, Request::Put { .. } | Request::PutCommit { .. } | Request::Delete { .. } | Request::Batch { .. }) {
            compact_if_full(service);
        }
        Ok(response)
    })
}

/// One bounded compaction step once the log is more than [`COMPACT_AT_PERCENT`] full.
fn compact_if_full(service: &mut Service<Disk>) {
    let space = service.store().space();
    if space.used * 100 <= space.capacity * COMPACT_AT_PERCENT {
        return;
    }
    log_event!("store.compacting", used = space.used, capacity = space.capacity);
    match service.store().compact_step(COMPACT_STEP_BYTES) {
        Ok(progress) => log_event!("store.compacted", released = progress.released, pass_done = progress.pass_done),
        Err(error) => log!("store: compaction step failed: {error}; retried after the next change"),
    }
}
