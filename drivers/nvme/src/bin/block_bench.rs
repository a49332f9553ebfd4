//! The `block-bench` domain: measures 4 KiB writes and reads through the block protocol
//! ([`tileos_protocol::block`]) for `tileos-bench` (`make bench`, scenario
//! `qemu/runner/tests/scenarios/bench-nvme.toml`).
//!
//! It writes [`OPS`] consecutive 4 KiB blocks (a pattern, through 16 rotating 4 KiB slots of
//! the shared buffer), flushes (outside the timing), then reads the same blocks back and
//! checks every one (the check is outside the timing too). Each request is timed on its
//! own with `rdtsc` around the call, which covers the whole path: message to the driver,
//! the NVMe command, the device's completion interrupt and the reply.
//!
//! Then the same through its ring ([`tileos_protocol::block::ring`]), at queue depth 1 and
//! at [`DEPTH`]: [`OPS`] writes (each block another pattern), a flush, [`OPS`] reads, checked.
//! A phase is timed as a whole (its busy figure divided by [`OPS`] is the cost per request);
//! each request's ticks run from its submission to its completion being reaped. Filling
//! and checking the buffer happen inside the phase for the ring (when a request is built and
//! when its completion is taken); their ticks (the client's own instructions) are measured
//! and taken out of the busy figure, as the endpoint phases leave them outside the timing.
//!
//! Under QEMU `-icount shift=0,sleep=off` one TSC tick is one nanosecond of guest virtual
//! time and, while the CPU is busy, one executed guest instruction. The scenario runs the
//! `idle-counter` domain at the lowest priority so the CPU is never idle (no virtual-time
//! warps); its counter tells how many of the ticks were its own idle loop (2 instructions
//! per iteration), so `ticks − 2 × Δidle` is the instructions the rest of the system
//! executed for the request ("busy"). The result lines are
//!
//! `block-bench: result <write_4k|read_4k|ring_write_4k_qd<d>|ring_read_4k_qd<d>> ops <n> bytes <b> ticks <sum> min <t> median <t> max <t> busy <sum>`
//!
//! (for the ring, `ticks` is the phase's duration) followed by `block-bench: done`; a failed
//! request or wrong data prints `block-bench: FAILED …` and no result line. Without the
//! region "block-ring" and the notifications "block-kick" and "block-done", the ring phases
//! are left out (and said so).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_mmio::Mmio;
use tileos_protocol::block::ring::{self, ClientRing, Completion, Pipeline};
use tileos_protocol::block::{Block, Request, Response};
use tileos_sys::cap::Notification;
use tileos_sys::log;
use tileos_sys::rpc::Client;

/// Requests of each kind.
const OPS: usize = 1000;
/// Bytes per request.
const BLOCK: u64 = 4096;
/// 4 KiB slots of the shared buffer used in turn.
const SLOTS: u64 = 16;
/// The deep queue of the ring phases.
const DEPTH: u32 = 32;

/// The word the pattern puts at disk byte offset `offset` (a multiple of 8).
fn pattern(offset: u64) -> u64 {
    0xB10C_BE9C_0000_0000 ^ (offset / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The idle loop's counter (first word of the "idle-counter" region), or 0 without one.
fn idle(counter: Option<&Mmio>) -> u64 {
    // The idle-counter domain writes the first word (aligned, so reads are never torn).
    counter.map_or(0, |region| region.read64(0))
}

/// One timed request: (ticks, busy instructions) or `None` if it failed.
fn timed(client: &Client<Block>, request: Request, counter: Option<&Mmio>) -> Option<(u64, u64)> {
    let idle_before = idle(counter);
    let start = tileos_sys::timestamp();
    let answer = client.call(&request);
    let ticks = tileos_sys::timestamp() - start;
    let idle_ticks = 2 * (idle(counter) - idle_before);
    match answer {
        Ok(Response::Transferred { length: BLOCK }) => Some((ticks, ticks.saturating_sub(idle_ticks))),
        other => {
            log!("block-bench: FAILED: {request:?} answered {other:?}");
            None
        }
    }
}

/// Logs the result line for `name` from per-request `ticks` (sorted here) and busy `busy`.
fn report(name: &str, ticks: &mut [u64; OPS], busy: u64) {
    let total: u64 = ticks.iter().sum();
    ticks.sort_unstable();
    log!(
        "block-bench: result {name} ops {OPS} bytes {} ticks {total} min {} median {} max {} busy {busy}",
        OPS as u64 * BLOCK,
        ticks[0],
        ticks[OPS / 2],
        ticks[OPS - 1]
    );
}

/// Entry point.
#[allow(unsafe_code)] // the entry symbol: `#[unsafe(no_mangle)]` is all the unsafe here
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let (Some(endpoint), Some(mut region)) =
        (tileos_sys::domain::cap(CapKind::ClientEndpoint, "block"), tileos_sys::domain::take_region("block-data"))
    else {
        log!("block-bench: FAILED: needs the \"block\" endpoint and the \"block-data\" region");
        tileos_sys::domain::stop()
    };
    // Mapped read-only: only read through.
    let counter_region = tileos_sys::domain::take_region("idle-counter");
    let counter = counter_region.as_ref();
    if counter.is_none() {
        log!("block-bench: no \"idle-counter\" region: busy figures are not measured (reported as 0)");
    }
    // Only the driver touches the buffer besides this view, by DMA during a request this
    // domain is blocked in.
    let buffer = region.as_mut_slice::<u64>();
    let client = Client::<Block>::new(tileos_sys::cap::Endpoint::from_cptr(endpoint));
    let Ok(Response::Capacity { disk_size, block_size, buffer_size }) = client.call(&Request::Capacity) else {
        log!("block-bench: FAILED: the capacity request got no capacity answer");
        tileos_sys::domain::stop()
    };
    if disk_size < OPS as u64 * BLOCK || !BLOCK.is_multiple_of(block_size) || buffer_size < SLOTS * BLOCK {
        log!("block-bench: FAILED: disk {disk_size} bytes, blocks {block_size}, buffer {buffer_size}: {OPS} × 4 KiB do not fit");
        tileos_sys::domain::stop()
    }
    log!("block-bench: {OPS} writes then {OPS} reads of 4 KiB on a disk of {disk_size} bytes (blocks of {block_size} bytes)");
    let words = (BLOCK / 8) as usize;
    let slot = |index: usize| (index as u64 % SLOTS) * BLOCK;
    let mut ticks = [0u64; OPS];
    let mut busy = 0;
    for (index, cost) in ticks.iter_mut().enumerate() {
        let (disk_offset, buffer_offset) = (index as u64 * BLOCK, slot(index));
        let first = (buffer_offset / 8) as usize;
        for (word, value) in buffer[first..first + words].iter_mut().enumerate() {
            *value = pattern(disk_offset + 8 * word as u64);
        }
        let Some((spent, worked)) = timed(&client, Request::Write { disk_offset, length: BLOCK, buffer_offset }, counter) else {
            tileos_sys::domain::stop()
        };
        (*cost, busy) = (spent, busy + worked);
    }
    report("write_4k", &mut ticks, busy);
    if client.call(&Request::Flush) != Ok(Response::Flushed) {
        log!("block-bench: FAILED: flush");
        tileos_sys::domain::stop()
    }
    busy = 0;
    for (index, cost) in ticks.iter_mut().enumerate() {
        let (disk_offset, buffer_offset) = (index as u64 * BLOCK, slot(index));
        let first = (buffer_offset / 8) as usize;
        buffer[first..first + words].fill(0);
        let Some((spent, worked)) = timed(&client, Request::Read { disk_offset, length: BLOCK, buffer_offset }, counter) else {
            tileos_sys::domain::stop()
        };
        (*cost, busy) = (spent, busy + worked);
        if (0..words).any(|word| buffer[first + word] != pattern(disk_offset + 8 * word as u64)) {
            log!("block-bench: FAILED: block at {disk_offset:#x} read back wrong");
            tileos_sys::domain::stop()
        }
    }
    report("read_4k", &mut ticks, busy);
    let rings = (
        tileos_sys::domain::take_region("block-ring").filter(|region| region.len() >= ring::REGION_BYTES),
        tileos_sys::domain::signal_notification("block-kick"),
        tileos_sys::domain::wait_notification("block-done"),
    );
    let (Some(memory), Some(kick), Some(done)) = rings else {
        log!("block-bench: no \"block-ring\" region or no \"block-kick\"/\"block-done\" notifications: ring figures left out");
        log!("block-bench: done");
        tileos_sys::domain::stop()
    };
    if buffer_size < u64::from(DEPTH) * BLOCK {
        log!("block-bench: FAILED: the buffer has {buffer_size} bytes, {} needed for depth {DEPTH}", u64::from(DEPTH) * BLOCK);
        tileos_sys::domain::stop()
    }
    let mut ring = ClientRing::attach(&memory);
    for (round, depth) in [1, DEPTH].into_iter().enumerate() {
        let tag = 0x5EED_0000_0000_0000 | (round as u64 + 1) << 32;
        let mut phase =
            Phase { buffer: &region, kick, done, depth, tag, write: true, stamps: [0; OPS], ticks: [0; OPS], failed: false, data_ticks: 0 };
        for write in [true, false] {
            phase.write = write;
            phase.data_ticks = 0;
            let (idle_before, start) = (idle(counter), tileos_sys::timestamp());
            let outcome = ring.pipeline(&memory, OPS as u64, depth, &mut phase);
            let spent = tileos_sys::timestamp() - start;
            let busy = spent.saturating_sub(2 * (idle(counter) - idle_before)).saturating_sub(phase.data_ticks);
            if outcome.is_err() || phase.failed {
                log!("block-bench: FAILED: ring {} at depth {depth}: {outcome:?}", if write { "writes" } else { "reads" });
                tileos_sys::domain::stop()
            }
            let name = if write { "ring_write_4k_qd" } else { "ring_read_4k_qd" };
            report_phase(name, depth, &mut phase.ticks, spent, busy);
            if write && !flush(&mut ring, &memory, kick, done) {
                log!("block-bench: FAILED: ring flush");
                tileos_sys::domain::stop()
            }
        }
    }
    log!("block-bench: done");
    tileos_sys::domain::stop()
}

/// One ring phase: [`OPS`] writes or reads of consecutive 4 KiB blocks, buffer slot `n %
/// depth` for request `n` (free again once the request `depth` earlier completed).
struct Phase<'a> {
    buffer: &'a Mmio,
    kick: Notification,
    done: Notification,
    depth: u32,
    /// Makes this round's pattern unlike the endpoint phases' and the other round's.
    tag: u64,
    write: bool,
    /// Submission time of each request, then its ticks to completion.
    stamps: [u64; OPS],
    ticks: [u64; OPS],
    failed: bool,
    /// Ticks spent filling and checking the buffer (taken out of the busy figure).
    data_ticks: u64,
}

impl Phase<'_> {
    /// Buffer offset of request `n`.
    fn slot(&self, n: u64) -> usize {
        ((n % u64::from(self.depth)) * BLOCK) as usize
    }
}

impl Pipeline for Phase<'_> {
    fn request(&mut self, n: u64) -> Request {
        let (disk_offset, buffer_offset) = (n * BLOCK, self.slot(n));
        self.stamps[n as usize] = tileos_sys::timestamp();
        if self.write {
            for word in 0..BLOCK / 8 {
                self.buffer.write64(buffer_offset + 8 * word as usize, pattern(disk_offset + 8 * word) ^ self.tag);
            }
            self.data_ticks += tileos_sys::timestamp() - self.stamps[n as usize];
            Request::Write { disk_offset, length: BLOCK, buffer_offset: buffer_offset as u64 }
        } else {
            Request::Read { disk_offset, length: BLOCK, buffer_offset: buffer_offset as u64 }
        }
    }

    fn done(&mut self, completion: Completion) -> bool {
        let n = completion.id;
        let reaped = tileos_sys::timestamp();
        self.ticks[n as usize] = reaped - self.stamps[n as usize];
        let (disk_offset, buffer_offset) = (n * BLOCK, self.slot(n));
        let wrong = !self.write
            && (0..BLOCK / 8)
                .any(|word| self.buffer.read64(buffer_offset + 8 * word as usize) != pattern(disk_offset + 8 * word) ^ self.tag);
        self.data_ticks += tileos_sys::timestamp() - reaped;
        if completion.result != Ok(BLOCK) || wrong {
            log!("block-bench: FAILED: ring request {n}: {completion:?}{}", if wrong { ", read back wrong" } else { "" });
            self.failed = true;
            return false;
        }
        true
    }

    fn kick(&mut self) {
        self.kick.signal();
    }

    fn wait(&mut self) {
        self.done.wait();
    }
}

/// A flush through the ring, waited for.
fn flush(ring: &mut ClientRing, memory: &Mmio, kick: Notification, done: Notification) -> bool {
    if ring.submit(memory, u64::MAX, &Request::Flush).is_err() {
        return false;
    }
    kick.signal();
    loop {
        match ring.reap(memory) {
            Ok(Some(completion)) => return completion.result == Ok(0),
            Ok(None) => {
                done.wait();
            }
            Err(_) => return false,
        }
    }
}

/// Logs the result line of a ring phase that took `spent` ticks, `busy` of them not idle.
fn report_phase(name: &str, depth: u32, ticks: &mut [u64; OPS], spent: u64, busy: u64) {
    ticks.sort_unstable();
    log!(
        "block-bench: result {name}{depth} ops {OPS} bytes {} ticks {spent} min {} median {} max {} busy {busy}",
        OPS as u64 * BLOCK,
        ticks[0],
        ticks[OPS / 2],
        ticks[OPS - 1]
    );
}
