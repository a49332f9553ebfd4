//! The store's demo client in the default tile (`make run`): counts the tile's boots in
//! the key `boots` (a durable put, so the count survives power cuts and `make run` after
//! `make run`), then stores, lists, reads back, batches and deletes a few keys and uploads
//! and reads back a large value (three quarters of its heap, at most 4 MiB, the store's largest: [`big_value_bytes`]), logging each step, and ends with `store-demo: done`.
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

use alloc::vec::Vec;
use tileos_protocol::store::{BatchOperation, Durability};
use tileos_service_store::{ClientError, StoreClient};
use tileos_sys::log;

tileos_sys::resources! {
    /// The store and the region shared with it.
    struct Resources {
        /// The store's endpoint.
        store: ClientEndpoint("store"),
        /// The region the store maps as `store-buffer.<badge>`.
        buffer: Region("store-buffer"),
    }
}

tileos_sys::entry!(main);

/// How long a retryable failure is retried before the demo gives up (a tile booted
/// without its disk).
const RETRY_MS: u64 = 3000;

/// Runs `operation` until it succeeds or fails for good; the store or the disk restarting
/// is retried for [`RETRY_MS`].
fn retrying<T>(mut operation: impl FnMut() -> Result<T, ClientError>) -> Result<T, ClientError> {
    let deadline = tileos_sys::timestamp() + RETRY_MS * tileos_sys::domain::info().tsc_per_ms;
    loop {
        match operation() {
            Err(error) if error.is_retryable() && tileos_sys::timestamp() < deadline => tileos_sys::yield_now(),
            result => return result,
        }
    }
}

/// The large value's size: three quarters of the heap (it is held once; the read-back is
/// compared piece by piece), in whole 64 KiB, at most 4 MiB.
fn big_value_bytes() -> usize {
    ((tileos_sys::domain::info().heap_size / 4 * 3) as usize & !0xFFFF).min(4 << 20)
}

fn demo(store: &StoreClient) -> Result<(), ClientError> {
    let boots = match retrying(|| store.get(b"boots")) {
        Ok(value) if value.len() == 8 => u64::from_le_bytes(value.try_into().unwrap_or_default()),
        Ok(_) | Err(ClientError::Store(tileos_protocol::store::Error::NotFound)) => 0,
        Err(error) => return Err(error),
    } + 1;
    retrying(|| store.put(b"boots", &boots.to_le_bytes(), Durability::Durable))?;
    log!("store-demo: this tile has booted {boots} times with this disk");
    retrying(|| store.put(b"greeting", b"hello from the store", Durability::Buffered))?;
    retrying(|| {
        store.batch(
            &[BatchOperation::Put { key: b"fruit/apple", value: b"red" }, BatchOperation::Put { key: b"fruit/pear", value: b"green" }],
            Durability::Durable,
        )
    })?;
    let mut fruit = Vec::new();
    retrying(|| {
        fruit.clear();
        store.list(b"fruit/", |key| fruit.push(alloc::string::String::from_utf8_lossy(key).into_owned()))
    })?;
    log!("store-demo: keys under fruit/: {fruit:?}");
    let greeting = retrying(|| store.get(b"greeting"))?;
    log!("store-demo: greeting reads back {:?}", core::str::from_utf8(&greeting).unwrap_or("(not text)"));
    let big: Vec<u8> = (0..big_value_bytes() as u32).map(|i| (i ^ (i >> 9)) as u8).collect();
    let started = tileos_sys::timestamp();
    retrying(|| store.put(b"big", &big, Durability::Durable))?;
    let mut same = true;
    let mut read = 0;
    retrying(|| {
        (same, read) = (true, 0);
        store.read(b"big", |length, piece| {
            same &= length == big.len() as u64 && big.get(read..read + piece.len()) == Some(piece);
            read += piece.len();
        })
    })?;
    let ms = (tileos_sys::timestamp() - started) / tileos_sys::domain::info().tsc_per_ms.max(1);
    if !same || read != big.len() {
        log!("store-demo: FAILED: the {} KiB value read back differs", big.len() / 1024);
    } else {
        log!("store-demo: {} KiB value stored durably and read back intact ({ms} ms)", big.len() / 1024);
    }
    retrying(|| store.delete(b"fruit/pear", Durability::Durable))?;
    match store.get(b"fruit/pear") {
        Err(ClientError::Store(tileos_protocol::store::Error::NotFound)) => log!("store-demo: fruit/pear deleted"),
        other => log!("store-demo: FAILED: fruit/pear after its delete: {other:?}"),
    }
    Ok(())
}

fn main(resources: Resources) -> ! {
    let store = StoreClient::new(resources.store, resources.buffer);
    match demo(&store) {
        Ok(()) => log!("store-demo: done"),
        Err(error) if error.is_retryable() => {
            log!("store-demo: the store stayed unavailable for {RETRY_MS} ms ({error:?}): is its disk missing? stopping")
        }
        Err(error) => log!("store-demo: FAILED: {error:?}"),
    }
    tileos_sys::domain::stop();
}
