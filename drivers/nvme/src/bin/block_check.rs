//! The `block-check` domain: a client of the block protocol
//! ([`tileos_protocol::block`]) used by the NVMe boot test. It reads a set of ranges
//! spread over the disk (first and last block, the middle, a multi-page run):
//! - if every range already holds the pattern, a previous boot wrote it: it logs that the
//!   patterns persisted;
//! - if none does (a fresh disk), it writes the patterns, flushes, clears its buffer, reads
//!   every range back and compares;
//!
//! then it checks that out-of-range, misaligned and buffer-overflowing requests are refused
//! with the right reason and that a message which is no block request gets the message
//! convention's error reply, and logs "block-check: done".
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_protocol::block::{Block, Refusal, Request, Response};
use tileos_protocol::{ERROR, ProtocolError};
use tileos_sys::log;
use tileos_sys::rpc::Client;

/// The word the pattern puts at disk byte offset `offset` (a multiple of 8).
fn pattern(offset: u64) -> u64 {
    0x7115_05A5_0000_0000 ^ (offset / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Calls the driver; a call that fails at the protocol level (not expected) is logged as
/// FAILED and stops this domain.
fn request(client: &Client<Block>, request: Request) -> Response {
    client.call(&request).unwrap_or_else(|error| {
        log!("block-check: {request:?} FAILED at the protocol level: {error:?}");
        stop();
    })
}

/// Entry point.
#[allow(unsafe_code)] // the entry symbol: `#[unsafe(no_mangle)]` is all the unsafe here
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let (Some(endpoint), Some(mut region)) =
        (tileos_sys::domain::cap(CapKind::ClientEndpoint, "block"), tileos_sys::domain::take_region("block-data"))
    else {
        log!("block-check: needs the \"block\" endpoint and the \"block-data\" region; stopping");
        stop();
    };
    // Only the driver touches the buffer besides this view, by DMA during a request this
    // domain is blocked in.
    let buffer = region.as_mut_slice::<u64>();
    let client = Client::<Block>::new(tileos_sys::cap::Endpoint::from_cptr(endpoint));
    let Response::Capacity { disk_size: disk, block_size, buffer_size } = request(&client, Request::Capacity) else {
        log!("block-check: the capacity request got another answer; stopping");
        stop();
    };
    if block_size == 0 || disk < 64 * block_size {
        log!("block-check: disk of {disk} bytes with blocks of {block_size} bytes is too small to test; stopping");
        stop();
    }
    log!("block-check: disk {disk} bytes, blocks of {block_size} bytes, buffer {buffer_size} bytes");
    // (disk offset, length): first block, second block, the middle, a multi-page run, last.
    let run = buffer_size.min(disk / 4) / block_size * block_size;
    let ranges = [
        (0, block_size),
        (block_size, block_size),
        (disk / 2 - 3 * block_size, 2 * block_size),
        (disk / 4, run),
        (disk - block_size, block_size),
    ];
    let bytes: u64 = ranges.iter().map(|&(_, length)| length).sum();
    let read = |disk_offset, length| Request::Read { disk_offset, length, buffer_offset: 0 };
    let mut intact = 0;
    for &(offset, length) in &ranges {
        let answer = request(&client, read(offset, length));
        if answer == (Response::Transferred { length }) && (0..length / 8).all(|word| buffer[word as usize] == pattern(offset + 8 * word)) {
            intact += 1;
        }
    }
    if intact == ranges.len() {
        log!("block-check: patterns from an earlier boot intact in all {} ranges ({bytes} bytes)", ranges.len());
    } else if intact != 0 {
        log!("block-check: MISMATCH: only {intact} of {} ranges hold the pattern", ranges.len());
    } else {
        // Counted: writes the driver answered `Transferred` for the whole range, and their bytes.
        let (mut written, mut written_bytes) = (0, 0);
        for &(offset, length) in &ranges {
            for word in 0..length / 8 {
                buffer[word as usize] = pattern(offset + 8 * word);
            }
            let answer = request(&client, Request::Write { disk_offset: offset, length, buffer_offset: 0 });
            if answer == (Response::Transferred { length }) {
                written += 1;
                written_bytes += length;
            } else {
                log!("block-check: write of {length} bytes at {offset:#x} FAILED: {answer:?}");
            }
        }
        let flushed = request(&client, Request::Flush) == Response::Flushed;
        log!(
            "block-check: wrote {written} of {} ranges ({written_bytes} of {bytes} bytes); flush {}",
            ranges.len(),
            if flushed { "ok" } else { "FAILED" }
        );
        let mut matching = 0;
        for &(offset, length) in &ranges {
            buffer[..(length / 8) as usize].fill(0);
            let answer = request(&client, read(offset, length));
            let wrong = (0..length / 8).filter(|&word| buffer[word as usize] != pattern(offset + 8 * word)).count();
            if answer == (Response::Transferred { length }) && wrong == 0 {
                matching += 1;
            } else {
                log!("block-check: read back at {offset:#x}: {answer:?}, {wrong} words WRONG");
            }
        }
        log!("block-check: read back {matching} of {} ranges as written", ranges.len());
    }
    let refusals = [
        ("out-of-range read", read(disk, block_size), Refusal::OutOfRange { end: disk + block_size, disk_size: disk }),
        ("read across the end", read(disk - block_size, 2 * block_size), Refusal::OutOfRange { end: disk + block_size, disk_size: disk }),
        ("misaligned read", read(block_size + 1, block_size), Refusal::Misaligned { value: block_size + 1, block_size }),
        (
            "partial-block write",
            Request::Write { disk_offset: 0, length: block_size / 2, buffer_offset: 0 },
            Refusal::Misaligned { value: block_size / 2, block_size },
        ),
        (
            "read beyond the buffer",
            Request::Read { disk_offset: 0, length: 2 * block_size, buffer_offset: buffer_size - block_size },
            Refusal::BufferOverflow { end: buffer_size + block_size, buffer_size },
        ),
    ];
    for (what, asked, expected) in refusals {
        let answer = request(&client, asked);
        let verdict = if answer == Response::Refused(expected) { "refused as expected" } else { "WRONG answer" };
        log!("block-check: {what}: {verdict}: {answer:?}");
    }
    // A message that is no block request at all gets the convention's error reply.
    let reply = tileos_sys::call(endpoint, 99, &[0, 0, 0], &[]);
    let refused = reply.info.label() == ERROR && ProtocolError::from_code(reply.words[0]) == ProtocolError::UnknownLabel;
    log!("block-check: message with label 99: {}", if refused { "error reply UnknownLabel as expected" } else { "WRONG reply" });
    log!("block-check: done");
    stop();
}

/// Stops this domain's only thread.
fn stop() -> ! {
    let _ = tileos_sys::domain::own_tcb().suspend();
    unreachable!("a suspended thread does not run")
}
