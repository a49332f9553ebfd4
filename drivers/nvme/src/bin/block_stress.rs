//! The `block-stress` domain: a client of the block protocol ([`tileos_protocol::block`])
//! used by the NVMe fault-tolerance boot test (`qemu/runner/tests/scenarios/nvme-fault.toml`).
//!
//! It streams [`ROUNDS`] rounds of I/O, each a write of [`CHUNK`] bytes of a pattern unique to
//! this boot and round, then a read of it back into another part of the buffer and a
//! comparison. Before the write of round [`TRIGGER`] it signals the notification "chaos",
//! whose waiter (the `chaos` test domain) then asks the supervisor to kill and restart the
//! driver while that write is in flight. A call that ends with a lost reply (the driver died)
//! or a device error is handled the way a real client must: wait for the restarted driver
//! (the next call blocks until it serves again), re-read the capacity and check that the disk
//! is the same, then retry the request (reads and writes are idempotent). At the end it
//! flushes and reads every chunk back once more. It logs `block-stress: PASS` when every
//! chunk holds exactly what was written, else `block-stress: FAIL` with the reason.
//!
//! With the region "block-ring" and the notifications "block-kick" and "block-done" (local
//! names, as `block-ring` has them) it sends every request through its ring instead, one at
//! a time: a request the killed driver had in flight comes back as `Interrupted` from the
//! restarted one, and is submitted again the same way (scenario `nvme-fault-ring.toml`).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_mmio::Mmio;
use tileos_protocol::block::ring::{self, ClientRing};
use tileos_protocol::block::{Block, Refusal, Request, Response};
use tileos_sys::cap::Notification;
use tileos_sys::log;
use tileos_sys::rpc::{CallError, Client};

/// Rounds of write + read-back.
const ROUNDS: u64 = 48;
/// Bytes written per round (8 blocks of 512 bytes: one page, one command).
const CHUNK: u64 = 0x1000;
/// The round before whose write the kill is triggered.
const TRIGGER: u64 = ROUNDS / 3;
/// Where reads land in the buffer (writes come from offset 0).
const READ_OFFSET: u64 = 0x8000;
/// Most retries of one request before the test fails.
const MAX_RETRIES: u32 = 20;

/// The word this boot's pattern puts at disk byte offset `offset` (a multiple of 8).
fn pattern(tag: u64, offset: u64) -> u64 {
    tag ^ (offset / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The client state: the driver's endpoint, the disk geometry it reported, the buffer, and
/// how many failed calls were retried.
struct Stress {
    client: Client<Block>,
    /// (disk size, block size, buffer size) from the last capacity answer.
    geometry: (u64, u64, u64),
    /// The "block-data" region shared with the driver.
    buffer: Mmio,
    /// The ring, when requests go through it.
    ring: Option<Ring>,
    lost_replies: u32,
    interrupted: u32,
    device_errors: u32,
}

/// A ring and its notifications.
struct Ring {
    memory: Mmio,
    client: ClientRing,
    kick: Notification,
    done: Notification,
}

impl Ring {
    /// Sends `request` through the ring and waits for its answer, as the endpoint would give
    /// it; `None` if the ring is broken.
    fn call(&mut self, request: Request) -> Option<Response> {
        self.client.submit(&self.memory, 0, &request).ok()?;
        self.kick.signal();
        let completion = loop {
            match self.client.reap(&self.memory).ok()? {
                Some(completion) => break completion,
                None => {
                    self.done.wait();
                }
            }
        };
        Some(match (completion.result, request) {
            (Ok(_), Request::Flush) => Response::Flushed,
            (Ok(length), _) => Response::Transferred { length },
            (Err(refusal), _) => Response::Refused(refusal),
        })
    }
}

impl Stress {
    /// Calls the driver until it answers `request` with something other than a device
    /// error: after a lost reply (driver restarted) or a device error, waits for the driver,
    /// re-reads the capacity (a restarted driver must report the same disk) and retries.
    fn call(&mut self, what: &str, request: Request) -> Result<Response, &'static str> {
        for _ in 0..MAX_RETRIES {
            let answer = match self.ring.as_mut() {
                Some(ring) => ring.call(request).ok_or(CallError::Protocol(tileos_protocol::ProtocolError::Failed)),
                None => self.client.call(&request),
            };
            match answer {
                Ok(Response::Refused(Refusal::Device { status, lba })) => {
                    self.device_errors += 1;
                    log!("block-stress: {what}: device error status {status:#x} at block {lba}; retrying");
                }
                Ok(Response::Refused(Refusal::Interrupted)) => {
                    self.interrupted += 1;
                    log!("block-stress: {what}: interrupted by the driver's restart; waiting for it and submitting again");
                }
                Ok(response) => return Ok(response),
                Err(CallError::ServerRestarted) => {
                    self.lost_replies += 1;
                    log!("block-stress: {what}: reply lost (the driver died); waiting for it and retrying");
                }
                Err(CallError::Protocol(error)) => {
                    log!("block-stress: {what}: protocol error {error:?}");
                    return Err("protocol error");
                }
            }
            tileos_sys::yield_now();
            // The next call blocks until the restarted driver serves again.
            match self.client.call(&Request::Capacity) {
                Ok(Response::Capacity { disk_size, block_size, buffer_size }) => {
                    if (disk_size, block_size, buffer_size) != self.geometry {
                        log!("block-stress: the restarted driver reports another disk: {:?}", (disk_size, block_size, buffer_size));
                        return Err("geometry changed");
                    }
                    log!("block-stress: driver serving again (same geometry)");
                }
                other => log!("block-stress: capacity after the failure: {other:?}"),
            }
        }
        Err("too many retries")
    }

    /// Writes round `round`'s chunk (pattern from buffer offset 0).
    fn write(&mut self, tag: u64, round: u64) -> Result<(), &'static str> {
        let offset = round * CHUNK;
        let buffer = self.buffer.as_mut_slice::<u64>();
        for word in 0..CHUNK / 8 {
            buffer[word as usize] = pattern(tag, offset + 8 * word);
        }
        match self.call("write", Request::Write { disk_offset: offset, length: CHUNK, buffer_offset: 0 })? {
            Response::Transferred { length } if length == CHUNK => Ok(()),
            other => {
                log!("block-stress: write of round {round}: {other:?}");
                Err("write answered wrongly")
            }
        }
    }

    /// Reads round `round`'s chunk back (into buffer offset [`READ_OFFSET`], cleared first)
    /// and returns how many words differ from the pattern.
    fn verify(&mut self, tag: u64, round: u64) -> Result<u64, &'static str> {
        let offset = round * CHUNK;
        let first = (READ_OFFSET / 8) as usize;
        self.buffer.as_mut_slice::<u64>()[first..first + (CHUNK / 8) as usize].fill(0);
        match self.call("read", Request::Read { disk_offset: offset, length: CHUNK, buffer_offset: READ_OFFSET })? {
            Response::Transferred { length } if length == CHUNK => {}
            other => {
                log!("block-stress: read of round {round}: {other:?}");
                return Err("read answered wrongly");
            }
        }
        let buffer = self.buffer.as_mut_slice::<u64>();
        Ok((0..CHUNK / 8).filter(|&word| buffer[first + word as usize] != pattern(tag, offset + 8 * word)).count() as u64)
    }

    /// The whole test.
    fn run(&mut self, chaos: Option<u64>) -> Result<(), &'static str> {
        // The tag makes this boot's data unlike any earlier boot's.
        let tag = tileos_sys::timestamp().wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
        for round in 0..ROUNDS {
            if round == TRIGGER
                && let Some(chaos) = chaos
            {
                log!("block-stress: round {round}: asking for the driver to be killed during this write");
                tileos_sys::send(chaos, 0, &[], &[], false);
            }
            self.write(tag, round)?;
            let wrong = self.verify(tag, round)?;
            if wrong != 0 {
                log!("block-stress: round {round}: {wrong} words read back differ from what was written");
                return Err("corrupted data in the stream");
            }
        }
        match self.call("flush", Request::Flush)? {
            Response::Flushed => {}
            other => {
                log!("block-stress: flush: {other:?}");
                return Err("flush answered wrongly");
            }
        }
        let mut bad = 0;
        for round in 0..ROUNDS {
            let wrong = self.verify(tag, round)?;
            if wrong != 0 {
                log!("block-stress: final check of round {round}: {wrong} words differ");
                bad += 1;
            }
        }
        if bad != 0 {
            return Err("corrupted data in the final check");
        }
        Ok(())
    }
}

/// Entry point.
#[allow(unsafe_code)] // the entry symbol: `#[unsafe(no_mangle)]` is all the unsafe here
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let (Some(endpoint), Some(buffer)) =
        (tileos_sys::domain::cap(CapKind::ClientEndpoint, "block"), tileos_sys::domain::take_region("block-data"))
    else {
        log!("block-stress: FAIL: needs the \"block\" endpoint and the \"block-data\" region");
        stop();
    };
    let chaos = tileos_sys::domain::cap(CapKind::SignalNotification, "chaos");
    let ring = match (
        tileos_sys::domain::take_region("block-ring").filter(|region| region.len() >= ring::REGION_BYTES),
        tileos_sys::domain::signal_notification("block-kick"),
        tileos_sys::domain::wait_notification("block-done"),
    ) {
        (Some(memory), Some(kick), Some(done)) => Some(Ring { client: ClientRing::attach(&memory), memory, kick, done }),
        _ => None,
    };
    let size = buffer.len() as u64;
    if size < READ_OFFSET + CHUNK {
        log!("block-stress: FAIL: the buffer has {size:#x} bytes, {:#x} needed", READ_OFFSET + CHUNK);
        stop();
    }
    let client = Client::<Block>::new(tileos_sys::cap::Endpoint::from_cptr(endpoint));
    let geometry = match client.call(&Request::Capacity) {
        Ok(Response::Capacity { disk_size, block_size, buffer_size }) => (disk_size, block_size, buffer_size),
        other => {
            log!("block-stress: FAIL: capacity request answered {other:?}");
            stop();
        }
    };
    if geometry.0 < ROUNDS * CHUNK || !CHUNK.is_multiple_of(geometry.1) {
        log!("block-stress: FAIL: disk {geometry:?} too small or blocks larger than a chunk");
        stop();
    }
    let path = if ring.is_some() { "through the ring" } else { "on the endpoint" };
    match chaos {
        Some(_) => log!(
            "block-stress: streaming {ROUNDS} rounds of {CHUNK}-byte writes and read-backs {path}; the driver is killed in round {TRIGGER}"
        ),
        None => log!("block-stress: streaming {ROUNDS} rounds of {CHUNK}-byte writes and read-backs {path}"),
    }
    let mut stress = Stress { client, geometry, buffer, ring, lost_replies: 0, interrupted: 0, device_errors: 0 };
    match stress.run(chaos) {
        Ok(()) => log!(
            "block-stress: PASS: {ROUNDS} chunks written and verified twice; {} lost replies, {} interrupted requests and {} device errors retried",
            stress.lost_replies,
            stress.interrupted,
            stress.device_errors
        ),
        Err(reason) => log!("block-stress: FAIL: {reason}"),
    }
    stop();
}

/// Stops this domain's only thread.
fn stop() -> ! {
    let _ = tileos_sys::domain::own_tcb().suspend();
    unreachable!("a suspended thread does not run")
}
