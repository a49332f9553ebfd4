//! The queued path: requests from the clients' rings ([`tileos_protocol::block::ring`]) in
//! batches. A batch takes every request the rings hold (up to [`MAX_IN_FLIGHT`]), checks each
//! against its client's window and buffer, writes the commands of the good ones into the
//! I/O submission queue and tells the controller with one doorbell write, reaps the
//! completions as they come (one head doorbell write per look), then posts every request's
//! completion to its ring in request order and signals each client once.
//!
//! A flush in a batch runs beside the batch's writes: it makes durable the writes completed
//! before it was submitted (a client that needs a write durable waits for its completion,
//! then flushes).

use crate::clients::Clients;
use crate::controller::{Controller, NSID, QUEUE_ENTRIES, Target};
use tileos_driver_nvme::{Command, PAGE_SIZE, opcode, prps_for};
use tileos_protocol::block::ring::{self, Completion, RingError};
use tileos_protocol::block::{Refusal, Request};
use tileos_sys::log;

/// Most requests of one batch: one submission queue slot stays empty (a full queue has its
/// tail one behind its head).
pub const MAX_IN_FLIGHT: usize = QUEUE_ENTRIES as usize - 1;
/// Command identifiers of ring commands: this plus the request's place in the batch.
const RING_CID: u16 = 0x8000;
// Each command of a batch has its own PRP list entries in the one PRP list page.
const _: () = assert!(MAX_IN_FLIGHT * ring::PRP_ENTRIES * 8 <= PAGE_SIZE as usize);

/// One request of a batch.
#[derive(Clone, Copy)]
struct Slot {
    /// Index of its client in the table.
    client: usize,
    /// The client's id for it.
    id: u64,
    /// Its outcome; `None` while its command is in flight.
    result: Option<Result<u64, Refusal>>,
    /// Bytes it moves when it succeeds, and its first block (for a device error).
    length: u64,
    lba: u64,
}

/// The requests of one batch, in the order they were taken.
struct Batch {
    slots: [Slot; MAX_IN_FLIGHT],
    len: usize,
    /// Commands written to the submission queue.
    commands: u64,
    /// Whether one of them is a flush (the command counts are logged after it).
    flush: bool,
}

/// What the driver needs to turn a ring request into a command.
pub struct Device<'a> {
    /// The controller.
    pub controller: &'a mut Controller,
    /// Most bytes of one ring request (the ring's limit or the controller's, the smaller).
    pub max_transfer: u64,
}

/// Serves the rings until none holds a request: batch after batch.
pub fn serve(device: &mut Device<'_>, clients: &mut Clients) {
    let mut signal = [false; crate::clients::MAX_CLIENTS];
    loop {
        let mut batch =
            Batch { slots: [Slot { client: 0, id: 0, result: None, length: 0, lba: 0 }; MAX_IN_FLIGHT], len: 0, commands: 0, flush: false };
        take(device, clients, &mut batch);
        if batch.len == 0 {
            break;
        }
        if batch.commands > 0 {
            device.controller.ring(Target::Io);
            let slots = &mut batch.slots[..batch.len];
            device.controller.await_completions(Target::Io, batch.commands, |completion| {
                let index = usize::from(completion.command_id.wrapping_sub(RING_CID));
                match slots.get_mut(index) {
                    Some(slot) if slot.result.is_none() => {
                        slot.result = Some(if completion.status == 0 {
                            Ok(slot.length)
                        } else {
                            Err(Refusal::Device { status: completion.status, lba: slot.lba })
                        });
                    }
                    _ => log!("nvme: completion for unknown ring command {:#x}", completion.command_id),
                }
            });
        }
        for slot in &batch.slots[..batch.len] {
            let Some((memory, ring)) = clients.get(slot.client).and_then(|client| client.ring.as_mut()) else { continue };
            let result = slot.result.unwrap_or(Err(Refusal::Device { status: 0xFFFF, lba: slot.lba }));
            ring.complete(memory, Completion { id: slot.id, result });
            signal[slot.client] = true;
        }
        if batch.flush {
            device.controller.flushes += 1;
        }
        if let (true, crate::controller::Wait::Interrupt { count, .. }) =
            (batch.flush && device.controller.flushes.is_power_of_two(), &device.controller.wait)
        {
            log!(
                "nvme: ring flush done; {} commands so far, {} completed after an interrupt ({count} interrupts)",
                device.controller.completions,
                device.controller.after_interrupt
            );
        }
    }
    for (index, _) in signal.iter().enumerate().filter(|(_, signal)| **signal) {
        if let Some(done) = clients.get(index).and_then(|client| client.done) {
            done.signal();
        }
    }
}

/// Takes requests from every client's ring into `batch` (as many as fit), answering what a
/// previous driver left in flight and broken indices at once.
fn take(device: &mut Device<'_>, clients: &mut Clients, batch: &mut Batch) {
    for index in 0..crate::clients::MAX_CLIENTS {
        let Some(client) = clients.get(index) else { continue };
        let Some((memory, ring)) = client.ring.as_mut() else { continue };
        if ring.interrupt(memory) {
            while ring.interrupt(memory) {}
            if let Some(done) = client.done {
                done.signal();
            }
        }
        let pending = match ring.pending(memory) {
            Ok(pending) => pending,
            Err(RingError::Corrupt { theirs, ours }) => {
                if !client.warned {
                    log!("nvme: client {}: ring index {theirs} is beyond {ours} + {}: answered BadRing", client.badge, ring::SLOTS);
                    client.warned = true;
                }
                ring.skip_corrupt(memory);
                if let Some(done) = client.done {
                    done.signal();
                }
                continue;
            }
            Err(_) => continue,
        };
        for _ in 0..pending {
            if batch.len == MAX_IN_FLIGHT {
                return;
            }
            let (id, request) = ring.take(memory);
            let place = batch.len;
            let slot = &mut batch.slots[place];
            *slot = Slot { client: index, id, result: None, length: 0, lba: 0 };
            let cid = RING_CID + place as u16;
            let command = client.geometry.and_then(|geometry| match request? {
                Request::Read { disk_offset, length, buffer_offset } | Request::Write { disk_offset, length, buffer_offset } => {
                    if length > device.max_transfer {
                        return Err(Refusal::TooLong { length, max: device.max_transfer });
                    }
                    let transfer = geometry.check(disk_offset, length, buffer_offset)?;
                    let code = if matches!(request, Ok(Request::Read { .. })) { opcode::READ } else { opcode::WRITE };
                    let prp_offset = place * ring::PRP_ENTRIES * 8;
                    let mut list = [0u64; ring::PRP_ENTRIES];
                    let prps = prps_for(
                        client.data + transfer.buffer_offset,
                        length,
                        &mut list,
                        device.controller.prp_list.bus_address(prp_offset),
                    )
                    .ok_or(Refusal::TooLong { length, max: device.max_transfer })?;
                    for (entry, &page) in list[..prps.list_entries].iter().enumerate() {
                        device.controller.prp_list.write64(prp_offset + 8 * entry, page);
                    }
                    (slot.length, slot.lba) = (length, transfer.lba);
                    Ok(Command::read_write(code, cid, NSID, transfer.lba, transfer.blocks as u32, prps))
                }
                Request::Flush => {
                    batch.flush = true;
                    Ok(Command::new(opcode::FLUSH, cid, NSID))
                }
                Request::Capacity => Err(Refusal::UnknownOperation { code: 0 }),
            });
            match command {
                Ok(command) => {
                    device.controller.push(Target::Io, command);
                    batch.commands += 1;
                }
                Err(refusal) => slot.result = Some(Err(refusal)),
            }
            batch.len += 1;
        }
    }
}
