//! The `block-hostile` domain: a client of the queued block path that breaks every rule of
//! the ring ([`tileos_protocol::block::ring`]), used by the NVMe ring boot test
//! (`qemu/runner/tests/scenarios/nvme-rings.toml`) beside honest `block-ring` clients.
//!
//! With a disk window it sends, each through its ring: an unknown operation code, a read
//! past its window, a write of 4 GiB minus a page, a misaligned read, a read past its data
//! region; it scribbles on the driver's indices; it moves its producer index thousands of
//! slots ahead; after each it checks the driver's precise refusal and that a good read is
//! still served. Without a window (no `disk_offset`/`disk_bytes` endpoint parameters) it
//! checks that the capacity call and a ring read are refused naming the missing parameter.
//! Every check logs `<name>: <what>: refused as expected: …` or `… WRONG …`, and the last
//! line is `<name>: done`.
//!
//! It needs what `block-ring` needs (same local names) but touches no data region: its
//! good reads land in the data region the description gives it, if any (else they are
//! refused as reaching past a region of 0 bytes, and logged WRONG).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

use tileos_mmio::{Memory, Mmio};
use tileos_protocol::block::ring::{self, ClientRing, Completion, NO_ID};
use tileos_protocol::block::{Block, Param, Refusal, Request, Response};
use tileos_sys::cap::Notification;
use tileos_sys::rpc::Client;
use tileos_sys::{domain, log};

/// Bytes of a good request.
const BLOCK: u64 = 4096;

/// The ring and the notifications around it.
struct Hostile {
    memory: Mmio,
    ring: ClientRing,
    kick: Notification,
    done: Notification,
}

impl Hostile {
    /// Submits `request`, lets `spoil` scribble on the region, signals the driver and waits
    /// for the next completion.
    fn send(&mut self, request: Request, spoil: impl FnOnce(&Mmio, u32)) -> Option<Completion> {
        let index = self.ring.next_index();
        self.ring.submit(&self.memory, u64::from(index), &request).ok()?;
        spoil(&self.memory, index);
        self.kick.signal();
        self.next()
    }

    /// The next completion, waited for.
    fn next(&mut self) -> Option<Completion> {
        loop {
            match self.ring.reap(&self.memory) {
                Ok(Some(completion)) => return Some(completion),
                Ok(None) => {
                    self.done.wait();
                }
                Err(_) => return None,
            }
        }
    }

    /// Checks that `completion` carries `expected` and logs the verdict.
    fn expect(&self, what: &str, completion: Option<Completion>, expected: Result<u64, Refusal>) {
        let verdict = if completion.map(|completion| completion.result) == Some(expected) { "refused as expected" } else { "WRONG answer" };
        let shown = completion.map(|completion| completion.result);
        log!("{}: {what}: {verdict}: {shown:?}", domain::name());
    }

    /// A good read must still be served.
    fn still_served(&mut self, after: &str) {
        let answer = self.send(Request::Read { disk_offset: 0, length: BLOCK, buffer_offset: 0 }, |_, _| {});
        let verdict = if answer.map(|completion| completion.result) == Some(Ok(BLOCK)) { "served" } else { "WRONG" };
        log!("{}: good read after {after}: {verdict}: {answer:?}", domain::name());
    }
}

/// Entry point.
#[allow(unsafe_code)] // the entry symbol: `#[unsafe(no_mangle)]` is all the unsafe here
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    domain::init();
    let name = domain::name();
    let (Some(endpoint), Some(memory), Some(kick), Some(done)) = (
        domain::client_endpoint("block"),
        domain::take_region("block-ring").filter(|region| region.len() >= ring::REGION_BYTES),
        domain::signal_notification("block-kick"),
        domain::wait_notification("block-done"),
    ) else {
        log!(
            "{name}: FAILED: needs the endpoint \"block\", the region \"block-ring\", the notifications \"block-kick\" and \"block-done\""
        );
        domain::stop()
    };
    let ring = ClientRing::attach(&memory);
    let mut hostile = Hostile { memory, ring, kick, done };
    let read = |disk_offset, length, buffer_offset| Request::Read { disk_offset, length, buffer_offset };
    match Client::<Block>::new(endpoint).call(&Request::Capacity) {
        Ok(Response::Capacity { disk_size: window, block_size, buffer_size }) => {
            let unknown = hostile.send(read(0, BLOCK, 0), |memory, index| memory.write_u32(ring::request_slot(index), 77));
            hostile.expect("unknown operation", unknown, Err(Refusal::UnknownOperation { code: 77 }));
            let past = hostile.send(read(window, BLOCK, 0), |_, _| {});
            hostile.expect("read past the window", past, Err(Refusal::OutOfRange { end: window + BLOCK, disk_size: window }));
            let huge = 0xFFFF_F000;
            let long = hostile.send(Request::Write { disk_offset: 0, length: huge, buffer_offset: 0 }, |_, _| {});
            hostile.expect("huge write", long, Err(Refusal::TooLong { length: huge, max: ring::MAX_TRANSFER }));
            let misaligned = hostile.send(read(100, BLOCK, 0), |_, _| {});
            hostile.expect("misaligned read", misaligned, Err(Refusal::Misaligned { value: 100, block_size }));
            let overflow = hostile.send(read(0, 2 * BLOCK, buffer_size - BLOCK), |_, _| {});
            hostile.expect("read past the data region", overflow, Err(Refusal::BufferOverflow { end: buffer_size + BLOCK, buffer_size }));
            hostile.still_served("bad entries");
            // The driver's own indices, scribbled on: it goes on from its private copies.
            hostile.memory.write_u32(ring::TAKEN, 0xDEAD_BEEF);
            hostile.still_served("scribbled driver indices");
            // A producer index thousands of slots ahead: one BadRing per signal, no overrun.
            let submitted = hostile.ring.next_index();
            hostile.memory.write_u32(ring::SUBMITTED, submitted.wrapping_add(5000));
            hostile.kick.signal();
            let bad = hostile.next();
            let shown = bad.map(|completion| (completion.id, completion.result));
            let verdict = match shown {
                Some((NO_ID, Err(Refusal::BadRing { submitted: seen, .. }))) if seen == submitted.wrapping_add(5000) => {
                    "refused as expected"
                }
                _ => "WRONG answer",
            };
            log!("{name}: producer index 5000 ahead: {verdict}: {shown:?}");
            // Back to sane indices (where the driver's completions are, should it have
            // answered another look meanwhile), then served again.
            loop {
                let completed = hostile.memory.read_u32(ring::COMPLETED);
                hostile.memory.write_u32(ring::SUBMITTED, completed);
                hostile.memory.write_u32(ring::REAPED, completed);
                if hostile.memory.read_u32(ring::COMPLETED) == completed {
                    break;
                }
            }
            hostile.ring = ClientRing::attach(&hostile.memory);
            hostile.still_served("a producer index far ahead");
        }
        Ok(Response::Refused(Refusal::MissingParam { param })) => {
            log!("{name}: capacity without a window: refused as expected: MissingParam {{ param: {param:?} }}");
            let answer = hostile.send(read(0, BLOCK, 0), |_, _| {});
            hostile.expect("ring read without a window", answer, Err(Refusal::MissingParam { param: Param::DiskOffset }));
        }
        other => log!("{name}: capacity: WRONG answer: {other:?}"),
    }
    log!("{name}: done");
    domain::stop()
}
