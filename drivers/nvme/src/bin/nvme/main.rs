//! The `nvme` domain: drives one NVM Express controller (QEMU `-device nvme`) and serves the
//! block protocol of [`tileos_protocol::block`] on its endpoint "block" and through its
//! clients' rings ([`queued`]), each client in its own window of the disk ([`clients`]).
//!
//! What the description must grant (see `qemu/runner/tests/scenarios/nvme.toml`):
//! - the controller as the `[[pci_device]]` named "nvme" (class 0x010802): the root server
//!   maps its BAR 0 (the registers, [`MIN_BAR0_BYTES`] at least; 16 KiB on QEMU) as the
//!   region "nvme.bar0" and gives the capability "nvme.pci", with which the driver has the
//!   `pci` domain enable the controller ([`tileos_pci_attach`]);
//! - a shared region "nvme-dma" of [`DMA_PAGES`] pages for the queues, IDENTIFY data and
//!   the PRP list (physically contiguous; its physical address comes from the information
//!   page);
//! - per client (badge in decimal): its disk window as the endpoint parameters
//!   `disk_offset` and `disk_bytes` of its client entry; a shared region
//!   "block-data.<badge>", the data of its reads and writes, which the controller reaches
//!   directly by DMA; for the queued path, a shared region "block-ring.<badge>", a bit of
//!   "nvme-irq" it signals and a notification "block-done.<badge>" the driver signals;
//! - for completion by interrupt: the device's `interrupt` routed to the notification
//!   "nvme-irq" (the driver gets the MSI handler "nvme.msi" and switches the controller to
//!   MSI-X, vector 0 for every queue; a controller without MSI-X interrupts on its INTx
//!   line, "nvme.intx"). Without it the driver polls the completion queues and says so in
//!   its log. "nvme-irq" is bound to the driver's thread: a client's signal (any bit but
//!   bit 0, [`controller::IRQ_BIT`]) ends the wait on the endpoint.
//!
//! **Restarts.** The supervisor may kill the driver at any moment (a fault, or a restart
//! asked through the supervisor control protocol), typically with a command in flight; the
//! controller stays enabled with the old queues. The next generation resets it (CC.EN = 0,
//! then the normal bring-up), which deletes every queue and ends every command. Before the
//! reset it tells the controller that the completions the dead generation never consumed are
//! consumed (it rings the completion-queue head doorbells up to the last posted entry):
//! otherwise a controller may keep its INTx line asserted for them across the reset (QEMU's
//! does: its pending-completion count survives the reset, and the line then never drops,
//! an interrupt storm). To know where the old queues' heads and phases were, every
//! generation keeps a handover record ([`HANDOVER_PAGE`] of "nvme-dma", which like every
//! shared region survives restarts) up to date with each consumed completion. A client
//! whose request was in flight gets a lost reply from the kernel and retries; a write in
//! flight may or may not have reached the disk, which a retry of the same write makes moot.
//! A ring request in flight is answered `Interrupted` by the next generation
//! (`tileos_protocol::block::ring::DriverRing::resume`), and the client submits it again.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

mod clients;
mod controller;
mod queued;

use clients::{Client, Clients};
use controller::{
    Controller, DMA_PAGES, DriverError, IRQ_BIT, MAX_DOORBELL_STRIDE, MIN_BAR0_BYTES, NSID, PAGE, PRP_LIST_ENTRIES, QUEUE_ENTRIES, Queue,
    Target, Wait, bring_up, read64,
};
use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_abi::invocation::{CPtr, TcbBindNotification};
use tileos_driver_nvme::{Capabilities, Command, PAGE_SIZE, Ring, opcode, reg};
use tileos_pci_attach::{Attachment, Interrupt};
use tileos_protocol::ProtocolError;
use tileos_protocol::block::{Block, Refusal, Request, Response, ring};
use tileos_sys::cap::IrqHandler;
use tileos_sys::domain::stop;
use tileos_sys::log;
use tileos_sys::rpc::{answer_and_recv, decode_request};

/// Entry point.
#[allow(unsafe_code)] // the entry symbol: `#[unsafe(no_mangle)]` is all the unsafe here
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let (Some(endpoint), Some(dma)) = (tileos_sys::domain::served_endpoint("block"), tileos_sys::domain::take_region("nvme-dma")) else {
        log!("nvme: needs the served endpoint \"block\" and the shared region \"nvme-dma\"; stopping");
        stop();
    };
    let dma_size = dma.len() as u64;
    if dma_size < DMA_PAGES * PAGE_SIZE {
        log!("nvme: the \"nvme-dma\" region has {dma_size:#x} bytes, {:#x} needed; stopping", DMA_PAGES * PAGE_SIZE);
        stop();
    }
    let mut device = match Attachment::open("nvme") {
        Ok(device) => device,
        Err(error) => {
            log!("nvme: no PCI device \"nvme\" granted ({error:?}); stopping");
            stop();
        }
    };
    let Some((bar0, bar0_paddr, bar0_size)) = device.memory_bar(0).filter(|&(_, _, size)| size >= MIN_BAR0_BYTES) else {
        log!("nvme: the region \"nvme.bar0\" (the controller registers) is missing or smaller than {MIN_BAR0_BYTES:#x} bytes; stopping");
        stop();
    };
    let (address, msix) = match device.enable() {
        Ok(enabled) => enabled,
        Err(error) => {
            log!("nvme: the pci domain did not enable the controller: {error:?}; stopping");
            stop();
        }
    };
    log!("nvme: controller at {address}, BAR0 {bar0_paddr:#x} size {bar0_size:#x} mapped at {bar0:#x}");
    let wait = match (device.interrupt, tileos_sys::domain::cap(CapKind::WaitNotification, "nvme-irq"), msix) {
        (Some(Interrupt::Msix(handler)), Some(notification), Some(table)) => {
            log!("nvme: completions by interrupt (MSI-X vector 0 of {}, table in BAR{})", table.vectors, table.table_bar);
            Wait::Interrupt { handler: handler.cptr(), notification, count: 0 }
        }
        (Some(Interrupt::Intx(handler)), Some(notification), _) => {
            log!("nvme: completions by interrupt (INTx through the IOAPIC; the controller has no MSI-X)");
            Wait::Interrupt { handler: handler.cptr(), notification, count: 0 }
        }
        _ => {
            log!("nvme: no interrupt routed to the notification \"nvme-irq\": polling the completion queues");
            Wait::Poll
        }
    };
    let Some(registers) = device.take_bar(0) else {
        unreachable!("BAR 0 is mapped (checked above) and taken only here");
    };
    // "nvme-dma" cut into its pages, in the order of DMA_PAGES.
    let mut rest = Some(dma);
    let mut page = || {
        let (page, tail) = rest.take().expect("DMA_PAGES pages (checked above)").split_at(PAGE);
        rest = Some(tail);
        page
    };
    let mut controller = Controller {
        registers,
        stride: 4,
        admin: Queue { id: 0, ring: Ring::new(QUEUE_ENTRIES), sq: page(), cq: page() },
        io: Queue { id: 1, ring: Ring::new(QUEUE_ENTRIES), sq: page(), cq: page() },
        identify: page(),
        prp_list: page(),
        handover: page(),
        wait,
        next_id: 1,
        completions: 0,
        after_interrupt: 0,
        flushes: 0,
        io_created: false,
        kicked: false,
    };
    let cap = Capabilities(read64(&controller.registers, reg::CAP));
    let version = controller.registers.read32(reg::VS);
    controller.stride = cap.doorbell_stride();
    if let Some(stale) = controller.take_over() {
        log!(
            "nvme: generation {}: the previous generation left the controller enabled; {stale} completions it never consumed acknowledged before the reset",
            tileos_sys::domain::info().generation
        );
    }
    log!(
        "nvme: version {}.{}, max queue entries {}, timeout {} ms, doorbell stride {}",
        version >> 16,
        version >> 8 & 0xFF,
        cap.max_queue_entries(),
        cap.timeout_ms(),
        controller.stride
    );
    if !cap.nvm_command_set() || cap.min_page_size() > PAGE_SIZE || cap.max_queue_entries() < u32::from(QUEUE_ENTRIES) {
        log!("nvme: controller lacks the NVM command set, 4 KiB pages or {QUEUE_ENTRIES}-entry queues; stopping");
        stop();
    }
    if controller.stride > MAX_DOORBELL_STRIDE {
        log!("nvme: doorbell stride {} is above the {MAX_DOORBELL_STRIDE} bytes this driver maps; stopping", controller.stride);
        stop();
    }
    let (disk, max_transfer) = match bring_up(&mut controller) {
        Ok(found) => found,
        Err(error) => {
            log!("nvme: bring-up failed: {error}; stopping");
            stop();
        }
    };
    let max_blocks = (max_transfer.min(PRP_LIST_ENTRIES as u64 * PAGE_SIZE) / disk.block_size).min(65536);
    log!(
        "nvme: ready: {} blocks of {} bytes ({} KiB), {} bytes per command at most; serving \"block\"",
        disk.blocks,
        disk.block_size,
        disk.disk_size() / 1024,
        max_blocks * disk.block_size
    );
    if let Wait::Interrupt { count, .. } = &controller.wait {
        log!("nvme: bring-up took {} commands and {count} interrupts", controller.completions);
    }
    // The clients' rings signal "nvme-irq" too: bound to this thread, a signal ends the wait
    // on the endpoint.
    let rings = tileos_sys::domain::wait_notification("nvme-irq")
        .is_some_and(|wake| tileos_sys::domain::own_tcb().invoke(TcbBindNotification { notification: CPtr(wake.cptr()) }).is_ok());
    if !rings {
        log!("nvme: no notification \"nvme-irq\" to bind: the rings are looked at only after calls");
    }
    let mut clients = Clients::discover(&disk);
    let mut device = queued::Device { controller: &mut controller, max_transfer: ring::MAX_TRANSFER.min(max_transfer) };
    queued::serve(&mut device, &mut clients);
    let mut message = tileos_sys::recv(endpoint.cptr(), true);
    loop {
        if message.info.label() == 0 && message.info.length() == 0 {
            // The bound notification's word: the interrupt (late) or a client's signal.
            if let (true, Wait::Interrupt { handler, .. }) = (message.badge & IRQ_BIT != 0, &device.controller.wait) {
                let _ = IrqHandler::from_cptr(*handler).ack();
            }
            queued::serve(&mut device, &mut clients);
            message = tileos_sys::recv(endpoint.cptr(), true);
            continue;
        }
        let answer = decode_request::<Block>(&message).and_then(|request| {
            let client = clients.find(message.badge, &disk).ok_or(ProtocolError::Failed)?;
            Ok(call(device.controller, client, request, max_blocks))
        });
        if device.controller.kicked {
            // A client's signal arrived during the call: its ring before the next wait.
            device.controller.kicked = false;
            tileos_sys::rpc::answer::<Block>(None, answer);
            queued::serve(&mut device, &mut clients);
            message = tileos_sys::recv(endpoint.cptr(), true);
        } else {
            message = answer_and_recv::<Block>(endpoint, answer);
        }
    }
}

/// Carries out `request`, a call of `client` on the endpoint.
fn call(controller: &mut Controller, client: &Client, request: Request, max_blocks: u64) -> Response {
    let geometry = match client.geometry {
        Ok(geometry) => geometry,
        Err(refusal) => return Response::Refused(refusal),
    };
    match request {
        Request::Read { disk_offset, length, buffer_offset } | Request::Write { disk_offset, length, buffer_offset } => {
            match geometry.check(disk_offset, length, buffer_offset) {
                Ok(transfer) => {
                    let opcode = if matches!(request, Request::Read { .. }) { opcode::READ } else { opcode::WRITE };
                    let data = client.data + transfer.buffer_offset;
                    match controller.transfer(opcode, transfer.lba, transfer.blocks, data, geometry.block_size, max_blocks) {
                        Ok(()) => Response::Transferred { length },
                        Err((status, lba)) => Response::Refused(Refusal::Device { status, lba }),
                    }
                }
                Err(refusal) => Response::Refused(refusal),
            }
        }
        Request::Flush => {
            let response = match controller.execute(Target::Io, Command::new(opcode::FLUSH, 0, NSID)) {
                Ok(_) => Response::Flushed,
                Err(DriverError::Status { status, .. }) => Response::Refused(Refusal::Device { status, lba: 0 }),
                Err(error) => {
                    log!("nvme: flush: {error}");
                    Response::Refused(Refusal::Device { status: 0xFFFF, lba: 0 })
                }
            };
            controller.flushes += 1;
            if let (true, Wait::Interrupt { count, .. }) = (controller.flushes.is_power_of_two(), &controller.wait) {
                log!(
                    "nvme: flush done; {} commands so far, {} completed after an interrupt ({count} interrupts)",
                    controller.completions,
                    controller.after_interrupt
                );
            }
            response
        }
        Request::Capacity => {
            Response::Capacity { disk_size: geometry.disk_size(), block_size: geometry.block_size, buffer_size: geometry.buffer_size }
        }
    }
}
