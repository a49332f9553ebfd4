//! The queued block path: a request ring and a completion ring in one region shared by a
//! client and the driver ("block-ring.&lt;badge&gt;", [`REGION_BYTES`]), the way seL4's device
//! driver framework passes buffers between a driver and its clients. A client queues up to
//! [`SLOTS`] requests (read, write or flush, each with an id of its choosing), signals the
//! driver's notification once, and waits on its own; the driver takes every queued request,
//! hands them to the device together, and posts one completion per request, in request
//! order, before signalling the client once per batch.
//!
//! ```text
//! 0x000  submitted  u32  client: requests written
//! 0x040  taken      u32  driver: requests handed to the device
//! 0x080  completed  u32  driver: completions written
//! 0x0c0  reaped     u32  client: completions read
//! 0x200  request slots     SLOTS × 32 bytes: operation u32, length u32, id u64,
//!                          disk offset u64, buffer offset u64
//! 0xa00  completion slots  SLOTS × 32 bytes: id u64, code u32, 0 u32, a u64, b u64
//! ```
//!
//! All four indices are free-running `u32`s counting in one index space: request `n` lives
//! in request slot `n % SLOTS` and its completion in completion slot `n % SLOTS`, so
//! `reaped ≤ completed ≤ taken ≤ submitted` and an honest client never has more than
//! [`SLOTS`] requests between `reaped` and `submitted`. Each side keeps its own indices in
//! private memory and only publishes them in the region: the driver never reads back
//! `taken` or `completed` while it runs (a client may scribble on them), and reads the
//! client's `submitted` only to compare it, checked, with its own `completed`.
//!
//! The driver treats everything the client wrote as hostile: an index more than [`SLOTS`]
//! ahead is answered with [`Refusal::BadRing`] (one slot skipped per look, so a broken client
//! costs the driver a bounded amount of work per signal), and every entry is decoded into a
//! [`Request`] or a precise [`Refusal`] (unknown operation, length beyond
//! [`MAX_TRANSFER`]); the range checks are [`super::Geometry::check`]'s.
//!
//! **Restarts.** The region outlives the driver. A new driver generation
//! ([`DriverRing::resume`]) reads the `taken` and `completed` its predecessor left and
//! answers every request between them — in flight when it died — with
//! [`Refusal::Interrupted`]; the client submits those again. Requests not yet taken are
//! served normally.

use super::{Refusal, Request};
use core::sync::atomic::{Ordering, fence};
use tileos_mmio::Memory;

/// Requests (and completions) a ring holds.
pub const SLOTS: u32 = 64;
/// Bytes of one request or completion slot.
pub const ENTRY_BYTES: usize = 32;
/// Offset of the client's producer index.
pub const SUBMITTED: usize = 0x000;
/// Offset of the driver's index of requests handed to the device.
pub const TAKEN: usize = 0x040;
/// Offset of the driver's producer index of completions.
pub const COMPLETED: usize = 0x080;
/// Offset of the client's consumer index of completions.
pub const REAPED: usize = 0x0c0;
/// Offset of the request slots.
const REQUESTS: usize = 0x200;
/// Offset of the completion slots.
const COMPLETIONS: usize = REQUESTS + SLOTS as usize * ENTRY_BYTES;
/// Size the "block-ring.&lt;badge&gt;" region must have (page-aligned).
pub const REGION_BYTES: usize = (COMPLETIONS + SLOTS as usize * ENTRY_BYTES).div_ceil(0x1000) * 0x1000;
/// Most bytes one ring request may move: the driver gives every command in flight its own
/// part of one PRP list page ([`PRP_ENTRIES`] entries), enough for this many bytes at any
/// block-aligned buffer offset.
pub const MAX_TRANSFER: u64 = 0x8000;
/// PRP list entries per ring command (the pages after the first of [`MAX_TRANSFER`] bytes
/// starting anywhere inside a page).
pub const PRP_ENTRIES: usize = (MAX_TRANSFER / 0x1000) as usize;

/// Operation codes of request slots.
pub mod operation {
    /// [`super::Request::Read`].
    pub const READ: u32 = 1;
    /// [`super::Request::Write`].
    pub const WRITE: u32 = 2;
    /// [`super::Request::Flush`].
    pub const FLUSH: u32 = 3;
}

/// What went wrong on a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// [`SLOTS`] requests are outstanding: reap completions first.
    Full,
    /// The request cannot travel on a ring ([`Request::Capacity`], or a length beyond
    /// `u32`): use the endpoint.
    NotQueueable,
    /// The other side's index is more than [`SLOTS`] away from ours.
    Corrupt {
        /// The other side's index.
        theirs: u32,
        /// Ours.
        ours: u32,
    },
}

/// One completion: the request's id and its outcome (bytes moved, 0 for a flush).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The id the client gave the request.
    pub id: u64,
    /// Bytes moved, or why not.
    pub result: Result<u64, Refusal>,
}

/// The id the driver gives a completion that answers no request ([`Refusal::BadRing`]).
pub const NO_ID: u64 = u64::MAX;

/// Completion codes: 0 is success, the others one [`Refusal`] variant each, with its two
/// fields in `a` and `b`.
fn encode_result(result: &Result<u64, Refusal>) -> (u32, u64, u64) {
    match *result {
        Ok(bytes) => (0, bytes, 0),
        Err(Refusal::Misaligned { value, block_size }) => (1, value, block_size),
        Err(Refusal::OutOfRange { end, disk_size }) => (2, end, disk_size),
        Err(Refusal::BufferOverflow { end, buffer_size }) => (3, end, buffer_size),
        Err(Refusal::Device { status, lba }) => (4, u64::from(status), lba),
        Err(Refusal::TooLong { length, max }) => (5, length, max),
        Err(Refusal::UnknownOperation { code }) => (6, u64::from(code), 0),
        Err(Refusal::MissingParam { param }) => (7, param as u64, 0),
        // The disk size does not fit: the client learns it from `Capacity`.
        Err(Refusal::BadWindow { offset, bytes, .. }) => (8, offset, bytes),
        Err(Refusal::Interrupted) => (9, 0, 0),
        Err(Refusal::BadRing { submitted, completed }) => (10, u64::from(submitted), u64::from(completed)),
    }
}

/// The inverse of [`encode_result`]; `None` for a code no driver writes.
fn decode_result(code: u32, a: u64, b: u64) -> Option<Result<u64, Refusal>> {
    use super::Param;
    Some(Err(match code {
        0 => return Some(Ok(a)),
        1 => Refusal::Misaligned { value: a, block_size: b },
        2 => Refusal::OutOfRange { end: a, disk_size: b },
        3 => Refusal::BufferOverflow { end: a, buffer_size: b },
        4 => Refusal::Device { status: a as u16, lba: b },
        5 => Refusal::TooLong { length: a, max: b },
        6 => Refusal::UnknownOperation { code: a as u32 },
        7 => Refusal::MissingParam { param: [Param::DiskOffset, Param::DiskBytes].get(a as usize).copied()? },
        8 => Refusal::BadWindow { offset: a, bytes: b, disk_size: 0 },
        9 => Refusal::Interrupted,
        10 => Refusal::BadRing { submitted: a as u32, completed: b as u32 },
        _ => return None,
    }))
}

/// Offset of request slot `index` (free-running: taken modulo [`SLOTS`]).
pub fn request_slot(index: u32) -> usize {
    REQUESTS + (index % SLOTS) as usize * ENTRY_BYTES
}

/// Offset of completion slot `index`.
fn completion_slot(index: u32) -> usize {
    COMPLETIONS + (index % SLOTS) as usize * ENTRY_BYTES
}

/// The client's side of a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientRing {
    submitted: u32,
    reaped: u32,
}

impl ClientRing {
    /// The client's side of the ring in `memory`, continuing from the indices the region
    /// holds (zero in a fresh region).
    pub fn attach(memory: &impl Memory) -> ClientRing {
        ClientRing { submitted: memory.read_u32(SUBMITTED), reaped: memory.read_u32(REAPED) }
    }

    /// Requests submitted and not yet reaped.
    pub fn in_flight(&self) -> u32 {
        self.submitted.wrapping_sub(self.reaped)
    }

    /// Index of the next request submitted (its slot is [`request_slot`] of it).
    pub fn next_index(&self) -> u32 {
        self.submitted
    }

    /// Queues `request` with `id` and publishes it; signal the driver afterwards (once for
    /// a batch).
    pub fn submit(&mut self, memory: &impl Memory, id: u64, request: &Request) -> Result<(), RingError> {
        if self.in_flight() >= SLOTS {
            return Err(RingError::Full);
        }
        let (code, disk_offset, length, buffer_offset) = match *request {
            Request::Read { disk_offset, length, buffer_offset } => (operation::READ, disk_offset, length, buffer_offset),
            Request::Write { disk_offset, length, buffer_offset } => (operation::WRITE, disk_offset, length, buffer_offset),
            Request::Flush => (operation::FLUSH, 0, 0, 0),
            Request::Capacity => return Err(RingError::NotQueueable),
        };
        let length = u32::try_from(length).map_err(|_| RingError::NotQueueable)?;
        let slot = request_slot(self.submitted);
        memory.write_u32(slot, code);
        memory.write_u32(slot + 4, length);
        memory.write_u64(slot + 8, id);
        memory.write_u64(slot + 16, disk_offset);
        memory.write_u64(slot + 24, buffer_offset);
        // The slot must be complete before the driver can see the new index.
        fence(Ordering::SeqCst);
        self.submitted = self.submitted.wrapping_add(1);
        memory.write_u32(SUBMITTED, self.submitted);
        Ok(())
    }

    /// Takes the next completion, if the driver posted one. A completion code no driver
    /// writes reads as [`Refusal::Device`] with status `0xFFFF`.
    pub fn reap(&mut self, memory: &impl Memory) -> Result<Option<Completion>, RingError> {
        let completed = memory.read_u32(COMPLETED);
        if completed.wrapping_sub(self.reaped) > SLOTS {
            return Err(RingError::Corrupt { theirs: completed, ours: self.reaped });
        }
        if completed == self.reaped {
            return Ok(None);
        }
        // Read the slot only after seeing the index that publishes it.
        fence(Ordering::SeqCst);
        let slot = completion_slot(self.reaped);
        let id = memory.read_u64(slot);
        let (code, a, b) = (memory.read_u32(slot + 8), memory.read_u64(slot + 16), memory.read_u64(slot + 24));
        let result = decode_result(code, a, b).unwrap_or(Err(Refusal::Device { status: 0xFFFF, lba: 0 }));
        fence(Ordering::SeqCst);
        self.reaped = self.reaped.wrapping_add(1);
        memory.write_u32(REAPED, self.reaped);
        Ok(Some(Completion { id, result }))
    }
}

/// The parts of [`ClientRing::pipeline`] that reach beyond the ring: building requests,
/// taking completions, and the two notifications.
pub trait Pipeline {
    /// Request number `n` (its id is `n`), built when it is submitted.
    fn request(&mut self, n: u64) -> Request;
    /// Takes a completion (they come in request order); `false` stops the pipeline.
    fn done(&mut self, completion: Completion) -> bool;
    /// Signals the driver that requests are queued.
    fn kick(&mut self);
    /// Waits for the driver's signal that completions are posted.
    fn wait(&mut self);
}

impl ClientRing {
    /// Runs requests `0..count` with at most `depth` (1..=[`SLOTS`]) in flight: submits while
    /// there is room, signals the driver once per round of submissions, hands every
    /// completion to `parts`, and waits only when nothing completed. Ends when all are
    /// completed, `parts` says stop, or the ring fails.
    pub fn pipeline(&mut self, memory: &impl Memory, count: u64, depth: u32, parts: &mut impl Pipeline) -> Result<(), RingError> {
        let depth = depth.clamp(1, SLOTS);
        let (mut next, mut finished) = (0, 0);
        while finished < count {
            let submitted = next;
            while next < count && self.in_flight() < depth {
                self.submit(memory, next, &parts.request(next))?;
                next += 1;
            }
            if next != submitted {
                parts.kick();
            }
            let mut reaped = false;
            while let Some(completion) = self.reap(memory)? {
                reaped = true;
                finished += 1;
                if !parts.done(completion) {
                    return Ok(());
                }
            }
            if !reaped {
                parts.wait();
            }
        }
        Ok(())
    }
}

/// A request the driver took from a ring: the client's id and the decoded request, or why
/// it cannot be carried out.
pub type Taken = (u64, Result<Request, Refusal>);

/// The driver's side of a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverRing {
    taken: u32,
    completed: u32,
}

impl DriverRing {
    /// The driver's side of the ring in `memory` as the previous driver generation left it
    /// (a fresh region: empty). Returns the ring and how many requests were in flight when
    /// that generation died; answer them with [`DriverRing::interrupt`] before anything else.
    /// Indices more than [`SLOTS`] apart (the client wrote them) count as none in flight.
    pub fn resume(memory: &impl Memory) -> (DriverRing, u32) {
        let (taken, completed) = (memory.read_u32(TAKEN), memory.read_u32(COMPLETED));
        let in_flight = taken.wrapping_sub(completed);
        if in_flight > SLOTS {
            memory.write_u32(TAKEN, completed);
            return (DriverRing { taken: completed, completed }, 0);
        }
        (DriverRing { taken, completed }, in_flight)
    }

    /// Answers the oldest request in flight with [`Refusal::Interrupted`] (after
    /// [`DriverRing::resume`]); `false` if none is left.
    pub fn interrupt(&mut self, memory: &impl Memory) -> bool {
        if self.taken == self.completed {
            return false;
        }
        let id = memory.read_u64(request_slot(self.completed) + 8);
        self.complete(memory, Completion { id, result: Err(Refusal::Interrupted) });
        true
    }

    /// Requests taken and not yet completed.
    pub fn in_flight(&self) -> u32 {
        self.taken.wrapping_sub(self.completed)
    }

    /// Requests the client queued that are not taken yet; an error if its index is more
    /// than [`SLOTS`] ahead of the driver's completions (see [`DriverRing::skip_corrupt`]).
    pub fn pending(&self, memory: &impl Memory) -> Result<u32, RingError> {
        let submitted = memory.read_u32(SUBMITTED);
        if submitted.wrapping_sub(self.completed) > SLOTS {
            return Err(RingError::Corrupt { theirs: submitted, ours: self.completed });
        }
        Ok(submitted.wrapping_sub(self.taken))
    }

    /// Takes the next pending request (call only when [`DriverRing::pending`] said there is
    /// one): its id and the decoded request, or the refusal its entry earns.
    pub fn take(&mut self, memory: &impl Memory) -> Taken {
        // Read the slot only after seeing the index that publishes it.
        fence(Ordering::SeqCst);
        let slot = request_slot(self.taken);
        let (code, length) = (memory.read_u32(slot), u64::from(memory.read_u32(slot + 4)));
        let id = memory.read_u64(slot + 8);
        let (disk_offset, buffer_offset) = (memory.read_u64(slot + 16), memory.read_u64(slot + 24));
        self.taken = self.taken.wrapping_add(1);
        memory.write_u32(TAKEN, self.taken);
        let request = match code {
            operation::READ | operation::WRITE if length > MAX_TRANSFER => Err(Refusal::TooLong { length, max: MAX_TRANSFER }),
            operation::READ => Ok(Request::Read { disk_offset, length, buffer_offset }),
            operation::WRITE => Ok(Request::Write { disk_offset, length, buffer_offset }),
            operation::FLUSH => Ok(Request::Flush),
            code => Err(Refusal::UnknownOperation { code }),
        };
        (id, request)
    }

    /// Posts the completion of the oldest request taken (completions go in request order).
    pub fn complete(&mut self, memory: &impl Memory, completion: Completion) {
        let slot = completion_slot(self.completed);
        let (code, a, b) = encode_result(&completion.result);
        memory.write_u64(slot, completion.id);
        memory.write_u32(slot + 8, code);
        memory.write_u32(slot + 12, 0);
        memory.write_u64(slot + 16, a);
        memory.write_u64(slot + 24, b);
        // The slot must be complete before the client can see the new index.
        fence(Ordering::SeqCst);
        self.completed = self.completed.wrapping_add(1);
        memory.write_u32(COMPLETED, self.completed);
    }

    /// After [`RingError::Corrupt`] from [`DriverRing::pending`] (nothing in flight): skips
    /// one slot, answering it with [`Refusal::BadRing`] and id [`NO_ID`].
    pub fn skip_corrupt(&mut self, memory: &impl Memory) {
        let submitted = memory.read_u32(SUBMITTED);
        self.taken = self.taken.wrapping_add(1);
        memory.write_u32(TAKEN, self.taken);
        self.complete(memory, Completion { id: NO_ID, result: Err(Refusal::BadRing { submitted, completed: self.completed }) });
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::block::Param;
    use std::vec::Vec;
    use tileos_mmio::VecMemory;

    fn read(id: u64) -> Request {
        Request::Read { disk_offset: id * 512, length: 512, buffer_offset: (id % 8) * 512 }
    }

    #[test]
    fn layout() {
        assert_eq!(COMPLETIONS, 0xa00);
        assert_eq!(REGION_BYTES, 0x2000);
        assert_eq!(PRP_ENTRIES, 8);
    }

    #[test]
    fn requests_and_completions_flow_in_order_across_the_index_wrap() {
        let memory = VecMemory::new(REGION_BYTES);
        for offset in [SUBMITTED, TAKEN, COMPLETED, REAPED] {
            memory.write_u32(offset, u32::MAX - 40);
        }
        let mut client = ClientRing::attach(&memory);
        let (mut driver, interrupted) = DriverRing::resume(&memory);
        assert_eq!(interrupted, 0);
        let mut next = 0;
        for round in 0..50u64 {
            let batch = 1 + round % u64::from(SLOTS);
            for id in next..next + batch {
                client.submit(&memory, id, &read(id)).unwrap();
            }
            assert_eq!(driver.pending(&memory), Ok(batch as u32));
            let taken: Vec<Taken> = (0..batch).map(|_| driver.take(&memory)).collect();
            assert_eq!(driver.pending(&memory), Ok(0));
            assert_eq!(driver.in_flight(), batch as u32);
            for (id, request) in taken {
                assert_eq!(request, Ok(read(id)));
                driver.complete(&memory, Completion { id, result: Ok(512) });
            }
            for id in next..next + batch {
                assert_eq!(client.reap(&memory), Ok(Some(Completion { id, result: Ok(512) })));
            }
            assert_eq!(client.reap(&memory), Ok(None));
            next += batch;
        }
        assert_eq!(client.in_flight(), 0);
    }

    /// A client of [`ClientRing::pipeline`] whose `wait` plays the driver: completes what is
    /// queued, at most `per_look` per signal.
    struct Loopback<'a> {
        memory: &'a VecMemory,
        driver: DriverRing,
        per_look: u32,
        kicks: u32,
        completed: Vec<u64>,
        deepest: u32,
    }

    impl Pipeline for Loopback<'_> {
        fn request(&mut self, n: u64) -> Request {
            read(n)
        }
        fn done(&mut self, completion: Completion) -> bool {
            assert_eq!(completion.result, Ok(512));
            self.completed.push(completion.id);
            true
        }
        fn kick(&mut self) {
            self.kicks += 1;
        }
        fn wait(&mut self) {
            let pending = self.driver.pending(self.memory).unwrap();
            self.deepest = self.deepest.max(pending + self.driver.in_flight());
            for _ in 0..pending.min(self.per_look) {
                let (id, request) = self.driver.take(self.memory);
                assert_eq!(request, Ok(read(id)));
                self.driver.complete(self.memory, Completion { id, result: Ok(512) });
            }
        }
    }

    #[test]
    fn a_pipeline_keeps_its_depth_and_sees_every_completion_in_order() {
        for (depth, per_look) in [(1, 1), (32, 32), (32, 5), (64, 64), (100, 7)] {
            let memory = VecMemory::new(REGION_BYTES);
            let mut client = ClientRing::attach(&memory);
            let driver = DriverRing::resume(&memory).0;
            let mut parts = Loopback { memory: &memory, driver, per_look, kicks: 0, completed: Vec::new(), deepest: 0 };
            client.pipeline(&memory, 1000, depth, &mut parts).unwrap();
            assert_eq!(parts.completed, (0..1000).collect::<Vec<u64>>());
            assert_eq!(parts.deepest, depth.min(SLOTS), "depth {depth}");
            assert!(parts.kicks <= 1000 / per_look.min(depth) + 1, "depth {depth}: {} kicks", parts.kicks);
        }
    }

    #[test]
    fn a_full_ring_refuses_more_and_capacity_does_not_queue() {
        let memory = VecMemory::new(REGION_BYTES);
        let mut client = ClientRing::attach(&memory);
        for id in 0..u64::from(SLOTS) {
            client.submit(&memory, id, &Request::Flush).unwrap();
        }
        assert_eq!(client.submit(&memory, 99, &Request::Flush), Err(RingError::Full));
        assert_eq!(client.submit(&memory, 99, &Request::Capacity), Err(RingError::Full));
        let (mut driver, _) = DriverRing::resume(&memory);
        assert_eq!(driver.pending(&memory), Ok(SLOTS));
        let (id, request) = driver.take(&memory);
        driver.complete(&memory, Completion { id, result: request.map(|_| 0) });
        assert_eq!(client.reap(&memory), Ok(Some(Completion { id: 0, result: Ok(0) })));
        assert_eq!(client.submit(&memory, 7, &Request::Capacity), Err(RingError::NotQueueable));
        let huge = Request::Write { disk_offset: 0, length: 1 << 32, buffer_offset: 0 };
        assert_eq!(client.submit(&memory, 7, &huge), Err(RingError::NotQueueable));
        client.submit(&memory, 64, &Request::Flush).unwrap();
    }

    #[test]
    fn bad_entries_get_precise_refusals() {
        let memory = VecMemory::new(REGION_BYTES);
        let mut client = ClientRing::attach(&memory);
        let (mut driver, _) = DriverRing::resume(&memory);
        client.submit(&memory, 1, &Request::Write { disk_offset: 0, length: MAX_TRANSFER + 512, buffer_offset: 0 }).unwrap();
        client.submit(&memory, 2, &Request::Flush).unwrap();
        memory.write_u32(request_slot(1), 77);
        assert_eq!(driver.take(&memory), (1, Err(Refusal::TooLong { length: MAX_TRANSFER + 512, max: MAX_TRANSFER })));
        assert_eq!(driver.take(&memory), (2, Err(Refusal::UnknownOperation { code: 77 })));
    }

    #[test]
    fn hostile_indices_cost_one_slot_per_look_and_never_reach_beyond_the_ring() {
        let memory = VecMemory::new(REGION_BYTES);
        let (mut driver, _) = DriverRing::resume(&memory);
        memory.write_u32(SUBMITTED, 5000);
        assert_eq!(driver.pending(&memory), Err(RingError::Corrupt { theirs: 5000, ours: 0 }));
        driver.skip_corrupt(&memory);
        let mut client = ClientRing { submitted: 5000, reaped: 0 };
        assert_eq!(
            client.reap(&memory),
            Ok(Some(Completion { id: NO_ID, result: Err(Refusal::BadRing { submitted: 5000, completed: 0 }) }))
        );
        // The client scribbles on the driver's indices: the driver goes on from its own.
        memory.write_u32(SUBMITTED, 3);
        memory.write_u32(TAKEN, 0xdead);
        memory.write_u32(COMPLETED, 0xbeef);
        assert_eq!(driver.pending(&memory), Ok(2));
        // ... and the client sees a completed index far ahead as corruption, not completions.
        assert_eq!(client.reap(&memory), Err(RingError::Corrupt { theirs: 0xbeef, ours: 1 }));
    }

    #[test]
    fn a_restarted_driver_interrupts_what_was_in_flight_and_serves_the_rest() {
        let memory = VecMemory::new(REGION_BYTES);
        let mut client = ClientRing::attach(&memory);
        for id in 10..15 {
            client.submit(&memory, id, &read(id)).unwrap();
        }
        let (mut old, _) = DriverRing::resume(&memory);
        for _ in 0..3 {
            let _ = old.take(&memory);
        }
        old.complete(&memory, Completion { id: 10, result: Ok(512) });
        // The old driver dies with 11 and 12 in flight.
        let (mut new, interrupted) = DriverRing::resume(&memory);
        assert_eq!(interrupted, 2);
        while new.interrupt(&memory) {}
        assert_eq!(new.pending(&memory), Ok(2));
        assert_eq!(new.take(&memory), (13, Ok(read(13))));
        let results: Vec<_> = core::iter::from_fn(|| client.reap(&memory).unwrap()).collect();
        assert_eq!(
            results,
            [
                Completion { id: 10, result: Ok(512) },
                Completion { id: 11, result: Err(Refusal::Interrupted) },
                Completion { id: 12, result: Err(Refusal::Interrupted) },
            ]
        );
        // Garbage in the driver's words at restart: nothing counts as in flight.
        memory.write_u32(TAKEN, 900);
        assert_eq!(DriverRing::resume(&memory).1, 0);
    }

    #[test]
    fn every_refusal_survives_the_completion_slot() {
        let refusals = [
            Refusal::Misaligned { value: 3, block_size: 512 },
            Refusal::OutOfRange { end: 9, disk_size: 8 },
            Refusal::BufferOverflow { end: 9, buffer_size: 8 },
            Refusal::Device { status: 0x281, lba: 5 },
            Refusal::TooLong { length: 1 << 20, max: MAX_TRANSFER },
            Refusal::UnknownOperation { code: 9 },
            Refusal::MissingParam { param: Param::DiskBytes },
            Refusal::BadWindow { offset: 1, bytes: 2, disk_size: 0 },
            Refusal::Interrupted,
            Refusal::BadRing { submitted: 1, completed: 2 },
        ];
        for refusal in refusals {
            let (code, a, b) = encode_result(&Err(refusal));
            assert_eq!(decode_result(code, a, b), Some(Err(refusal)));
        }
        assert_eq!(decode_result(0, 4096, 0), Some(Ok(4096)));
        assert_eq!(decode_result(11, 0, 0), None);
        assert_eq!(decode_result(7, 2, 0), None);
    }
}
