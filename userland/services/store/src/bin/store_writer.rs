//! The power-cut torture writer (`make torture`, docs/store.md "Power-cut torture"): it
//! writes numbered values to the store for as long as it runs, while the host kills QEMU
//! at random moments, and at each boot first checks what survived.
//!
//! Key `w/<seq>` (8 decimal digits) holds [`pattern`]`(seq)`, whose length and bytes depend
//! only on the number, so a value is either exactly right or wrong. At most [`WINDOW`] keys
//! live at once: writing number `n` also deletes `n - WINDOW` (and a boot deletes the
//! stragglers of deletes a power cut interrupted), so the log keeps turning over and the
//! store keeps compacting.
//!
//! What it logs, for the host to check against what it saw acknowledged before the kill:
//! - `@event torture.present ranges=A-B,C count=N` at boot: the numbers found, every value
//!   read back whole and checked (a wrong or unreadable one is `@event torture.bad seq=N
//!   reason=…` first);
//! - `@event torture.ack seq=N durable=0|1` once a put of `n` is acknowledged, and
//!   `@event torture.deleted seq=N durable=0|1` once a delete is (every fourth number is
//!   written `Buffered`, the rest `Durable`; every eighth is put and its old number deleted
//!   in one batch, logged as both);
//! - `@event torture.deleting seq=N` before a delete of `n` is sent: from then on the host
//!   no longer expects `n`, whether or not the acknowledgement makes it to the log.
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use tileos_protocol::store::{BatchOperation, Durability};
use tileos_service_store::{ClientError, StoreClient};
use tileos_sys::{log, log_event};

/// Keys live at once.
const WINDOW: u64 = 24;
/// Value lengths, chosen by the number: empty, sub-sector, one sector, several sectors.
const LENGTHS: [usize; 8] = [0, 100, 512, 4096, 5000, 12_000, 1, 30_000];

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

/// The value of number `seq`: its length from [`LENGTHS`], its first bytes the number.
fn pattern(seq: u64) -> Vec<u8> {
    let length = LENGTHS[(seq.wrapping_mul(0x9E37_79B9) >> 7) as usize % LENGTHS.len()];
    let mut value: Vec<u8> = (0..length).map(|i| (seq as usize).wrapping_mul(31).wrapping_add(i * 7 + (i >> 8)) as u8).collect();
    for (byte, number) in value.iter_mut().zip(seq.to_le_bytes()) {
        *byte = number;
    }
    value
}

fn key(seq: u64) -> heapless::String<16> {
    let mut key = heapless::String::new();
    let _ = write!(key, "w/{seq:08}");
    key
}

/// Runs `operation` until it succeeds or fails for good (the store or the disk restarting
/// is retried).
fn retrying<T>(mut operation: impl FnMut() -> Result<T, ClientError>) -> Result<T, ClientError> {
    loop {
        match operation() {
            Err(error) if error.is_retryable() => tileos_sys::yield_now(),
            result => return result,
        }
    }
}

/// Checks every stored number; returns the highest found.
fn check_survivors(store: &StoreClient) -> u64 {
    let mut numbers = Vec::new();
    let listed = retrying(|| {
        numbers.clear();
        store.list(b"w/", |key| {
            if let Some(seq) = core::str::from_utf8(&key[2..]).ok().and_then(|digits| digits.parse::<u64>().ok()) {
                numbers.push(seq);
            }
        })
    });
    if let Err(error) = listed {
        log!("store-writer: FAILED: listing the keys: {error:?}");
        tileos_sys::domain::stop();
    }
    for &seq in &numbers {
        match retrying(|| store.get(key(seq).as_bytes())) {
            Ok(value) if value == pattern(seq) => {}
            Ok(value) => log_event!("torture.bad", seq = seq, reason = "wrong-value", length = value.len()),
            Err(error) => log!("{} error {error:?}", tileos_sys::event_line!("torture.bad", seq = seq, reason = "unreadable")),
        }
    }
    let mut ranges = String::new();
    let mut index = 0;
    while index < numbers.len() {
        let start = numbers[index];
        while index + 1 < numbers.len() && numbers[index + 1] == numbers[index] + 1 {
            index += 1;
        }
        let separator = if ranges.is_empty() { "" } else { "," };
        let _ = if numbers[index] == start {
            write!(ranges, "{separator}{start}")
        } else {
            write!(ranges, "{separator}{start}-{}", numbers[index])
        };
        index += 1;
    }
    if ranges.is_empty() {
        ranges.push('-');
    }
    log_event!("torture.present", ranges = ranges, count = numbers.len());
    let highest = numbers.iter().copied().max().unwrap_or(0);
    // A delete cut short by a power cut leaves its number behind, below the window the
    // loop below turns over: delete such stragglers now, so they do not pile up.
    for &seq in numbers.iter().filter(|&&seq| seq + WINDOW <= highest) {
        log_event!("torture.deleting", seq = seq);
        if let Err(error) = retrying(|| store.delete(key(seq).as_bytes(), Durability::Durable)) {
            log!("store-writer: FAILED: deleting straggler {seq}: {error:?}");
            tileos_sys::domain::stop();
        }
        log_event!("torture.deleted", seq = seq, durable = 1);
    }
    highest
}

fn main(resources: Resources) -> ! {
    let store = StoreClient::new(resources.store, resources.buffer);
    let mut seq = check_survivors(&store) + 1;
    log!("store-writer: writing from number {seq}");
    loop {
        let durable = !seq.is_multiple_of(4);
        let durability = if durable { Durability::Durable } else { Durability::Buffered };
        let value = pattern(seq);
        let key = key(seq);
        let old = seq.checked_sub(WINDOW).filter(|&old| old > 0).map(self::key);
        if old.is_some() && seq.is_multiple_of(8) {
            log_event!("torture.deleting", seq = seq - WINDOW);
        }
        let result = match &old {
            Some(old) if seq.is_multiple_of(8) => retrying(|| {
                let operations =
                    [BatchOperation::Put { key: key.as_bytes(), value: &value }, BatchOperation::Delete { key: old.as_bytes() }];
                store.batch(&operations, durability)
            }),
            _ => retrying(|| store.put(key.as_bytes(), &value, durability)),
        };
        if let Err(error) = result {
            log!("store-writer: FAILED: writing number {seq}: {error:?}");
            tileos_sys::domain::stop();
        }
        log_event!("torture.ack", seq = seq, durable = u8::from(durable));
        if let Some(old) = old {
            if !seq.is_multiple_of(8) {
                log_event!("torture.deleting", seq = seq - WINDOW);
                // A delete of a number lost in an earlier power cut finds nothing: no error.
                match retrying(|| store.delete(old.as_bytes(), durability)) {
                    Ok(()) | Err(ClientError::Store(tileos_protocol::store::Error::NotFound)) => {}
                    Err(error) => {
                        log!("store-writer: FAILED: deleting number {}: {error:?}", seq - WINDOW);
                        tileos_sys::domain::stop();
                    }
                }
            }
            log_event!("torture.deleted", seq = seq - WINDOW, durable = u8::from(durable));
        }
        seq += 1;
    }
}
