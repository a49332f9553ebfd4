//! The `block-check` domain: a client of the block protocol
//! ([`tileos_driver_nvme::block`]) used by the NVMe boot test. It reads a set of ranges
//! spread over the disk (first and last block, the middle, a multi-page run):
//! - if every range already holds the pattern, a previous boot wrote it: it logs that the
//!   patterns persisted;
//! - if none does (a fresh disk), it writes the patterns, flushes, clears its buffer, reads
//!   every range back and compares;
//!
//! then it checks that out-of-range, misaligned, buffer-overflowing and unknown requests
//! get their error replies, and logs "block-check: done".
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_abi::invocation::Label;
use tileos_driver_nvme::block::{self, BlockError};
use tileos_sys::log;

/// The word the pattern puts at disk byte offset `offset` (a multiple of 8).
fn pattern(offset: u64) -> u64 {
    0x7115_05A5_0000_0000 ^ (offset / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Calls the driver; the reply label and words.
fn request(endpoint: u64, label: u64, words: &[u64]) -> (u64, [u64; 4]) {
    let reply = tileos_sys::call(endpoint, label, words, &[]);
    (reply.info.label(), reply.words)
}

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let (Some(endpoint), Some((vaddr, _, size))) =
        (tileos_sys::domain::cap(CapKind::ClientEndpoint, "block"), tileos_sys::domain::region("block-buffer"))
    else {
        log!("block-check: needs the \"block\" endpoint and the \"block-buffer\" region; stopping");
        stop();
    };
    // SAFETY: the description maps the "block-buffer" region here, read-write, `size` bytes,
    // for this domain's lifetime; only the driver (by DMA, during a request this domain is
    // blocked in) touches it besides this slice.
    let buffer = unsafe { core::slice::from_raw_parts_mut(vaddr as *mut u64, (size / 8) as usize) };
    let (label, [disk, block_size, buffer_size, _]) = request(endpoint, block::CAPACITY, &[]);
    if label != 0 || block_size == 0 || disk < 64 * block_size {
        log!("block-check: capacity request failed (label {label}, disk {disk}, block {block_size}); stopping");
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
    let mut intact = 0;
    for &(offset, length) in &ranges {
        let (label, _) = request(endpoint, block::READ, &[offset, length, 0]);
        if label == 0 && (0..length / 8).all(|word| buffer[word as usize] == pattern(offset + 8 * word)) {
            intact += 1;
        }
    }
    if intact == ranges.len() {
        log!("block-check: patterns from an earlier boot intact in all {} ranges ({bytes} bytes)", ranges.len());
    } else if intact != 0 {
        log!("block-check: MISMATCH: only {intact} of {} ranges hold the pattern", ranges.len());
    } else {
        for &(offset, length) in &ranges {
            for word in 0..length / 8 {
                buffer[word as usize] = pattern(offset + 8 * word);
            }
            let (label, words) = request(endpoint, block::WRITE, &[offset, length, 0]);
            if label != 0 {
                log!("block-check: write of {length} bytes at {offset:#x} FAILED: {:?} {:?}", BlockError::from_label(label), &words[..2]);
            }
        }
        let (label, _) = request(endpoint, block::FLUSH, &[]);
        log!("block-check: wrote {} ranges ({bytes} bytes); flush {}", ranges.len(), if label == 0 { "ok" } else { "FAILED" });
        let mut matching = 0;
        for &(offset, length) in &ranges {
            buffer[..(length / 8) as usize].fill(0);
            let (label, _) = request(endpoint, block::READ, &[offset, length, 0]);
            let wrong = (0..length / 8).filter(|&word| buffer[word as usize] != pattern(offset + 8 * word)).count();
            if label == 0 && wrong == 0 {
                matching += 1;
            } else {
                log!("block-check: read back at {offset:#x}: label {label}, {wrong} words WRONG");
            }
        }
        log!("block-check: read back {matching} of {} ranges as written", ranges.len());
    }
    let refusals = [
        ("out-of-range read", block::READ, [disk, block_size, 0], BlockError::OutOfRange),
        ("read across the end", block::READ, [disk - block_size, 2 * block_size, 0], BlockError::OutOfRange),
        ("misaligned read", block::READ, [block_size + 1, block_size, 0], BlockError::Misaligned),
        ("partial-block write", block::WRITE, [0, block_size / 2, 0], BlockError::Misaligned),
        ("read beyond the buffer", block::READ, [0, 2 * block_size, buffer_size - block_size], BlockError::BufferOverflow),
        ("unknown request", 99, [0, 0, 0], BlockError::BadRequest),
    ];
    for (what, label, words, expected) in refusals {
        let (got, details) = request(endpoint, label, &words);
        let verdict = if got == expected as u64 { "refused as expected" } else { "WRONG reply" };
        log!("block-check: {what}: {verdict}: {:?} [{:#x}, {:#x}]", BlockError::from_label(got), details[0], details[1]);
    }
    log!("block-check: done");
    stop();
}

/// Stops this domain's only thread.
fn stop() -> ! {
    let _ = tileos_sys::invoke(tileos_abi::bootinfo::domain::TCB, Label::TcbSuspend, &[], &[]);
    unreachable!("a suspended thread does not run")
}
