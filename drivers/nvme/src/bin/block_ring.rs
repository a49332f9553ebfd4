//! The `block-ring` domain: a client of the queued block path
//! ([`tileos_protocol::block::ring`]) used by the NVMe ring boot test
//! (`qemu/runner/tests/scenarios/nvme-rings.toml`), several at once, each in its own window
//! of the disk.
//!
//! It asks its window's size on the endpoint, then writes every 4 KiB block of the window
//! through its ring with [`DEPTH`] requests in flight, each block a pattern of this domain's
//! name and the block's offset, flushes, reads every block back at the same depth and
//! compares: another client's blocks, or blocks outside the window, would fail the
//! comparison. Last, a read just past the window's end must be refused as out of range. It
//! logs `<name>: PASS: …` or `<name>: FAIL: …` with the reason.
//!
//! What the description grants (the local names, by `names` of the domain): the endpoint
//! "block", the regions "block-data" and "block-ring" (the driver's "block-data.<badge>" and
//! "block-ring.<badge>"), the notification "block-kick" to signal (a bit of the driver's
//! "nvme-irq") and "block-done" to wait on (the driver's "block-done.<badge>").
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

use tileos_mmio::Mmio;
use tileos_protocol::block::ring::{self, ClientRing, Completion, Pipeline};
use tileos_protocol::block::{Block, Refusal, Request, Response};
use tileos_sys::cap::Notification;
use tileos_sys::domain;
use tileos_sys::log;
use tileos_sys::rpc::Client;

/// Requests in flight.
const DEPTH: u32 = 32;
/// Bytes per request.
const BLOCK: u64 = 4096;

/// The word this domain's pattern puts at window byte offset `offset` (a multiple of 8).
fn pattern(tag: u64, offset: u64) -> u64 {
    tag ^ (offset / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A tag from the domain's name (FNV-1a), so that each client's blocks differ.
fn tag_of(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01B3))
}

/// One pass over the window: writes (with the pattern) or reads (and compares).
struct Pass<'a> {
    data: &'a Mmio,
    tag: u64,
    write: bool,
    kick: Notification,
    done: Notification,
    /// Words found wrong, and the first failure.
    wrong: u64,
    failure: Option<Completion>,
}

impl Pass<'_> {
    /// The buffer slot of request `n`: slots are reused once the request `DEPTH` earlier
    /// completed (completions come in order).
    fn slot(n: u64) -> u64 {
        (n % u64::from(DEPTH)) * BLOCK
    }
}

impl Pipeline for Pass<'_> {
    fn request(&mut self, n: u64) -> Request {
        let (disk_offset, buffer_offset) = (n * BLOCK, Self::slot(n));
        if self.write {
            for word in 0..BLOCK / 8 {
                self.data.write64((buffer_offset + 8 * word) as usize, pattern(self.tag, disk_offset + 8 * word));
            }
            Request::Write { disk_offset, length: BLOCK, buffer_offset }
        } else {
            self.data.fill(buffer_offset as usize, BLOCK as usize, 0);
            Request::Read { disk_offset, length: BLOCK, buffer_offset }
        }
    }

    fn done(&mut self, completion: Completion) -> bool {
        if completion.result != Ok(BLOCK) {
            self.failure = Some(completion);
            return false;
        }
        if !self.write {
            let (disk_offset, buffer_offset) = (completion.id * BLOCK, Self::slot(completion.id));
            self.wrong += (0..BLOCK / 8)
                .filter(|word| self.data.read64((buffer_offset + 8 * word) as usize) != pattern(self.tag, disk_offset + 8 * word))
                .count() as u64;
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

/// Entry point.
#[allow(unsafe_code)] // the entry symbol: `#[unsafe(no_mangle)]` is all the unsafe here
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    domain::init();
    let name = domain::name();
    let (Some(endpoint), Some(data), Some(memory), Some(kick), Some(done)) = (
        domain::client_endpoint("block"),
        domain::take_region("block-data"),
        domain::take_region("block-ring").filter(|region| region.len() >= ring::REGION_BYTES),
        domain::signal_notification("block-kick"),
        domain::wait_notification("block-done"),
    ) else {
        log!(
            "{name}: FAIL: needs the endpoint \"block\", the regions \"block-data\" and \"block-ring\", the notifications \"block-kick\" and \"block-done\""
        );
        domain::stop()
    };
    let client = Client::<Block>::new(endpoint);
    let window = match client.call(&Request::Capacity) {
        Ok(Response::Capacity { disk_size, buffer_size, .. }) if buffer_size >= u64::from(DEPTH) * BLOCK => disk_size,
        other => {
            log!("{name}: FAIL: capacity answered {other:?} (a window and a {} KiB buffer are needed)", u64::from(DEPTH) * BLOCK / 1024);
            domain::stop()
        }
    };
    let blocks = window / BLOCK;
    let mut ring = ClientRing::attach(&memory);
    let mut pass = Pass { data: &data, tag: tag_of(name), write: true, kick, done, wrong: 0, failure: None };
    log!("{name}: writing {blocks} blocks of 4 KiB through the ring at depth {DEPTH} in a window of {window:#x} bytes");
    let result = (|| {
        ring.pipeline(&memory, blocks, DEPTH, &mut pass).map_err(|_| "the ring broke")?;
        pass.failure.map_or(Ok(()), |_| Err("a write failed"))?;
        flush(&mut ring, &memory, &mut pass)?;
        pass.write = false;
        ring.pipeline(&memory, blocks, DEPTH, &mut pass).map_err(|_| "the ring broke")?;
        pass.failure.map_or(Ok(()), |_| Err("a read failed"))?;
        if pass.wrong != 0 {
            log!("{name}: {} words read back differ from what this client wrote", pass.wrong);
            return Err("blocks read back differ");
        }
        past_the_end(&mut ring, &memory, &mut pass, window)
    })();
    match (result, pass.failure) {
        (Ok(()), _) => {
            log!("{name}: PASS: {blocks} blocks written and read back through the ring at depth {DEPTH}; past the window refused")
        }
        (Err(reason), Some(failure)) => log!("{name}: FAIL: {reason}: {failure:?}"),
        (Err(reason), None) => log!("{name}: FAIL: {reason}"),
    }
    domain::stop()
}

/// One request through the ring, waited for.
fn one(ring: &mut ClientRing, memory: &Mmio, pass: &mut Pass<'_>, request: Request) -> Result<Completion, &'static str> {
    ring.submit(memory, u64::MAX - 1, &request).map_err(|_| "the ring refused a request")?;
    pass.kick.signal();
    loop {
        if let Some(completion) = ring.reap(memory).map_err(|_| "the ring broke")? {
            return Ok(completion);
        }
        pass.done.wait();
    }
}

/// A flush through the ring.
fn flush(ring: &mut ClientRing, memory: &Mmio, pass: &mut Pass<'_>) -> Result<(), &'static str> {
    match one(ring, memory, pass, Request::Flush)?.result {
        Ok(0) => Ok(()),
        _ => Err("the flush failed"),
    }
}

/// A read just past the window must be refused as out of range.
fn past_the_end(ring: &mut ClientRing, memory: &Mmio, pass: &mut Pass<'_>, window: u64) -> Result<(), &'static str> {
    let request = Request::Read { disk_offset: window, length: BLOCK, buffer_offset: 0 };
    match one(ring, memory, pass, request)?.result {
        Err(Refusal::OutOfRange { end, disk_size }) if end == window + BLOCK && disk_size == window => Ok(()),
        other => {
            log!("{}: read past the window answered {other:?}", domain::name());
            Err("a read past the window was not refused")
        }
    }
}
