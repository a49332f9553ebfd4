//! The `gpu` domain: drives one virtio GPU (QEMU `virtio-gpu-pci`, modern virtio 1.x over
//! PCI), sets its first enabled scanout to a 2D resource backed by a framebuffer in a
//! shared region, draws the tile status screen (`tileos_driver_gpu::screen`) and serves the
//! display protocol (`tileos_protocol::display`) on its endpoint "display": every
//! change is redrawn, transferred to the host and flushed before the answer.
//!
//! What the description must grant (see `qemu/runner/tests/scenarios/gpu.toml`):
//! - the GPU as the `[[pci_device]]` named "gpu" (class 0x038000, display controller),
//!   with its `interrupt` routed to the notification "gpu-irq": the driver reads its virtio
//!   capabilities through the `pci` domain ([`tileos_pci_attach`]), finds the BAR they
//!   name as the region "gpu.bar<n>", has the `pci` domain enable the device with MSI-X,
//!   and takes completions on the MSI handler "gpu.msi" (a device without MSI-X: on its
//!   INTx line, "gpu.intx", reading the ISR byte to lower it);
//! - the shared regions "gpu-dma" (control queue, request and response buffers) and
//!   "gpu-framebuffer-0", "gpu-framebuffer-1", … (the scanout's backing memory, at least
//!   width x height x 4 bytes in all, mapped one after the other: a region is at most
//!   1 MiB), reached by the device at the physical addresses on the information page;
//! - the served endpoint "display".
//!
//! Completion by interrupt: the driver submits one command at a time and sleeps on
//! "gpu-irq" until the used ring moves (MSI-X vector 0 is the control queue's; the
//! configuration-change interrupt stays off; with INTx the ISR byte is read after each).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

use core::fmt::Write as _;
use tileos_driver_gpu::command::{self, Backing, Command, FORMAT_B8G8R8X8, MAX_BACKING, MAX_REQUEST, Rect};
use tileos_driver_gpu::screen::{self, Canvas, Screen};
use tileos_driver_gpu::transport::{self, Capabilities, common, status};
use tileos_mmio::Mmio;
use tileos_pci_attach::{Attachment, Interrupt};
use tileos_protocol::ProtocolError;
use tileos_protocol::display::{Display, Refusal, Request, Response};
use tileos_sys::cap::{IrqHandler, Notification};
use tileos_sys::domain::stop;
use tileos_sys::log;
use tileos_virtio::{Buffer, QueueLayout, Virtqueue};

/// Control queue entries (the device offers more; the driver lowers the size).
const QUEUE_SIZE: u16 = 16;
/// Offsets in "gpu-dma": the queue, the request buffer, the response buffer.
const QUEUE_OFFSET: usize = 0;
const REQUEST_OFFSET: usize = 0x800;
const RESPONSE_OFFSET: usize = 0xC00;
/// Bytes "gpu-dma" needs.
const DMA_BYTES: u64 = 0x1000;
/// The driver's resource ID.
const RESOURCE: u32 = 1;

// The queue, the largest request and the largest response fit their places in "gpu-dma".
const _: () = assert!(QueueLayout::modern(QUEUE_SIZE).bytes <= REQUEST_OFFSET);
const _: () = assert!(REQUEST_OFFSET + MAX_REQUEST <= RESPONSE_OFFSET);
const _: () = assert!(RESPONSE_OFFSET + command::DISPLAY_INFO_LEN <= DMA_BYTES as usize);

/// The running driver: control queue, framebuffer and what the screen shows.
struct Gpu {
    /// The memory BAR holding the virtio structures (checked to cover them all).
    bar: Mmio,
    caps: Capabilities,
    notify_offset: u64,
    irq: IrqHandler,
    /// The interrupt is the INTx line (read the ISR to lower it), not MSI-X.
    intx: bool,
    irq_wake: Notification,
    interrupts: u64,
    dma: Mmio,
    queue: Virtqueue,
    /// The framebuffer regions, joined (mapped one after the other).
    pixels: Mmio,
    mode: Rect,
    screen: Screen,
    commands: u64,
}

impl Gpu {
    /// The BAR offset of the common-configuration register at `offset`.
    fn common_offset(&self, offset: usize) -> usize {
        self.caps.common.offset as usize + offset
    }

    /// Writes a 64-bit register as two 32-bit halves, low first (as the transport allows).
    fn write64(&self, offset: usize, value: u64) {
        self.bar.write32(offset, value as u32);
        self.bar.write32(offset + 4, (value >> 32) as u32);
    }

    /// Sends `command`, waits for the device, and returns the response type (or the
    /// response type it got instead of the expected one as the error).
    fn execute(&mut self, command: Command) -> Result<u32, u32> {
        let mut request = [0u8; MAX_REQUEST];
        let length = command.encode(&mut request);
        self.dma.write_bytes(REQUEST_OFFSET, &request[..length]);
        self.dma.write_bytes(RESPONSE_OFFSET, &[0; command::HEADER_LEN]);
        // One chain in flight at a time, always descriptors 0 (request) and 1 (response).
        let request = Buffer { paddr: self.dma.bus_address(REQUEST_OFFSET), length: length as u32, device_writes: false };
        let response = Buffer { paddr: self.dma.bus_address(RESPONSE_OFFSET), length: command.response_len() as u32, device_writes: true };
        self.queue.set_chain(&self.dma, 0, &[request, response]);
        self.queue.offer(&self.dma, 0);
        self.bar.write16(self.notify_offset as usize, 0);
        // Every completion raises the interrupt (the driver never suppresses it), so the
        // driver takes exactly one per command even when the used ring moved before it
        // looked: none is left pending for the next command. (With MSI-X the ISR byte is
        // not used.)
        loop {
            self.irq_wake.wait();
            self.interrupts += 1;
            if self.intx {
                // Reading the ISR acknowledges the device, which lowers its INTx line.
                self.bar.read8(self.caps.isr.offset as usize);
            }
            if let Err(error) = self.irq.ack() {
                log!("gpu: acknowledging the interrupt failed: {error:?}");
            }
            if self.queue.take_used(&self.dma).is_some() {
                break;
            }
        }
        self.commands += 1;
        let mut header = [0u8; 4];
        self.dma.read_bytes(RESPONSE_OFFSET, &mut header);
        let kind = command::response_kind(&header);
        if kind == command.expected_response() { Ok(kind) } else { Err(kind) }
    }

    /// Sends `command` and stops the domain if the device refuses it (bring-up only).
    fn bring_up(&mut self, command: Command) {
        if let Err(kind) = self.execute(command) {
            log!("gpu: command {:#x} answered {kind:#x} ({}); stopping", command.kind(), command::response_name(kind));
            stop();
        }
    }

    /// Redraws the whole screen, copies it to the host resource and flushes it to the
    /// scanout.
    fn show(&mut self) -> Result<(), u32> {
        let (width, height) = (self.mode.width as usize, self.mode.height as usize);
        // The device reads the framebuffer only during TRANSFER_TO_HOST_2D, which runs after
        // this view is gone; it holds at least width * height pixels (checked at start).
        let pixels = &mut self.pixels.as_mut_slice::<u32>()[..width * height];
        if let Some(mut canvas) = Canvas::new(pixels, width, height) {
            self.screen.render(&mut canvas);
        }
        let rect = Rect::sized(self.mode.width, self.mode.height);
        self.execute(Command::TransferToHost2d { resource: RESOURCE, rect, offset: 0 })?;
        self.execute(Command::ResourceFlush { resource: RESOURCE, rect })?;
        Ok(())
    }

    /// Serves one display request.
    fn handle(&mut self, request: Request) -> Response {
        match request {
            Request::SetTitle { text } => self.screen.set_title(&text),
            Request::SetLine { row, text } => {
                if self.screen.set_line(usize::from(row), &text).is_err() {
                    return Response::Refused(Refusal::RowOutOfRange { row, rows: screen::ROWS as u8 });
                }
            }
            Request::Mode => return Response::Mode { width: self.mode.width, height: self.mode.height },
        }
        match self.show() {
            Ok(()) => Response::Shown,
            Err(response) => {
                log!("gpu: refreshing the screen failed: {response:#x} ({})", command::response_name(response));
                Response::Refused(Refusal::Device { response })
            }
        }
    }
}

tileos_sys::resources! {
    /// The capabilities of fixed name the gpu domain needs (checked at build time); the
    /// framebuffer regions (as many as the scanout needs) and the PCI device's BAR and
    /// interrupt (named after the BAR the virtio capabilities point to) are looked up at
    /// run time.
    struct Resources {
        /// The endpoint clients call with the display protocol.
        endpoint: ServedEndpoint("display"),
        /// Control queue, request and response buffers.
        dma: Region("gpu-dma"),
    }
}

tileos_sys::entry!(main);

fn main(Resources { endpoint, dma }: Resources) -> ! {
    let framebuffer_name = |index: usize| {
        let mut name: heapless::String<24> = heapless::String::new();
        let _ = write!(name, "gpu-framebuffer-{index}");
        name
    };
    let regions = (0..=MAX_BACKING).map_while(|index| tileos_sys::domain::region(&framebuffer_name(index)));
    let framebuffer = match Backing::from_regions(regions) {
        Ok(backing) => backing,
        Err(error) => {
            log!("gpu: the regions \"gpu-framebuffer-0\", \"gpu-framebuffer-1\", … do not form one framebuffer: {error:?}; stopping");
            stop();
        }
    };
    // Backing::from_regions checked that the regions follow each other in this domain.
    let pixels = (1..framebuffer.entries().len())
        .map(|index| tileos_sys::domain::take_region(&framebuffer_name(index)).expect("a framebuffer region is listed once"))
        .fold(tileos_sys::domain::take_region(&framebuffer_name(0)).expect("the first framebuffer region"), |joined, next| {
            joined.join(next).unwrap_or_else(|_| unreachable!("the framebuffer regions are adjacent"))
        });
    let dma_size = dma.len() as u64;
    if dma_size < DMA_BYTES {
        log!("gpu: the region \"gpu-dma\" has {dma_size:#x} bytes, {DMA_BYTES:#x} needed; stopping");
        stop();
    }
    let mut device = match Attachment::open("gpu") {
        Ok(device) => device,
        Err(error) => {
            log!("gpu: no PCI device \"gpu\" granted ({error:?}); stopping");
            stop();
        }
    };
    let (address, msix) = match device.enable() {
        Ok(enabled) => enabled,
        Err(error) => {
            log!("gpu: the pci domain did not enable the device: {error:?}; stopping");
            stop();
        }
    };
    let caps = match transport::find_capabilities(&mut device, address) {
        Ok(caps) => caps,
        Err(error) => {
            log!("gpu: {address}: virtio capabilities unusable: {error:?}; stopping");
            stop();
        }
    };
    let Some((bar, (bar_vaddr, bar_paddr, bar_size), window)) =
        caps.single_bar().and_then(|index| Some((index, device.memory_bar(index)?, device.take_bar(index)?)))
    else {
        log!("gpu: {address}: the virtio structures are not all in one mapped memory BAR ({caps:?}); stopping");
        stop();
    };
    log!(
        "gpu: virtio GPU at {address}: structures in BAR{bar} at {bar_paddr:#x} size {bar_size:#x} mapped at {bar_vaddr:#x} (common {:#x}, notify {:#x} x{}, isr {:#x}, device {:#x})",
        caps.common.offset,
        caps.notify.offset,
        caps.notify_multiplier,
        caps.isr.offset,
        caps.device.offset,
    );
    if caps.span() > bar_size {
        log!("gpu: the structures reach {:#x}, beyond the {bar_size:#x}-byte BAR; stopping", caps.span());
        stop();
    }
    if usize::try_from(caps.common.length).unwrap_or(0) < common::SPAN {
        log!("gpu: the common configuration has only {:#x} bytes; stopping", caps.common.length);
        stop();
    }
    let (Some(interrupt), Some(irq_wake)) = (device.interrupt, tileos_sys::domain::wait_notification("gpu-irq")) else {
        log!("gpu: needs the device's interrupt routed to the notification \"gpu-irq\" (handler \"gpu.msi\" or \"gpu.intx\"); stopping");
        stop();
    };
    let intx = match (interrupt, msix) {
        (Interrupt::Msix(_), Some(_)) => false,
        (Interrupt::Intx(_), None) => true,
        _ => {
            log!("gpu: {address}: MSI-X was not enabled as asked; stopping");
            stop();
        }
    };
    let irq = interrupt.handler();

    let (dma, _) = dma.split_at(DMA_BYTES as usize);
    dma.fill(0, DMA_BYTES as usize, 0);
    let dma_paddr = dma.bus_address(0);
    let mut gpu = Gpu {
        bar: window,
        caps,
        notify_offset: 0,
        irq,
        intx,
        irq_wake,
        interrupts: 0,
        dma,
        queue: Virtqueue::new(QUEUE_OFFSET, QueueLayout::modern(QUEUE_SIZE)),
        pixels,
        mode: Rect::sized(0, 0),
        screen: Screen::new("tileos"),
        commands: 0,
    };

    // Reset, acknowledge, negotiate (only VIRTIO_F_VERSION_1), set up the control queue.
    let status_register = gpu.common_offset(common::DEVICE_STATUS);
    gpu.bar.write8(status_register, 0);
    while gpu.bar.read8(status_register) != 0 {
        tileos_sys::yield_now();
    }
    gpu.bar.write8(status_register, status::ACKNOWLEDGE);
    gpu.bar.write8(status_register, status::ACKNOWLEDGE | status::DRIVER);
    gpu.bar.write32(gpu.common_offset(common::DEVICE_FEATURE_SELECT), 1);
    let offered = gpu.bar.read32(gpu.common_offset(common::DEVICE_FEATURE));
    let Some(features) = transport::negotiate(offered) else {
        log!("gpu: the device does not offer VIRTIO_F_VERSION_1 (features 32..63: {offered:#x}); stopping");
        gpu.bar.write8(status_register, status::FAILED);
        stop();
    };
    for (select, word) in features.into_iter().enumerate() {
        gpu.bar.write32(gpu.common_offset(common::DRIVER_FEATURE_SELECT), select as u32);
        gpu.bar.write32(gpu.common_offset(common::DRIVER_FEATURE), word);
    }
    gpu.bar.write8(status_register, status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
    if gpu.bar.read8(status_register) & status::FEATURES_OK == 0 {
        log!("gpu: the device did not accept the features; stopping");
        gpu.bar.write8(status_register, status::FAILED);
        stop();
    }
    let queues = gpu.bar.read16(gpu.common_offset(common::NUM_QUEUES));
    gpu.bar.write16(gpu.common_offset(common::QUEUE_SELECT), 0);
    let offered_size = gpu.bar.read16(gpu.common_offset(common::QUEUE_SIZE));
    if offered_size < QUEUE_SIZE {
        log!("gpu: the control queue has {offered_size} entries, {QUEUE_SIZE} needed; stopping");
        gpu.bar.write8(status_register, status::FAILED);
        stop();
    }
    gpu.bar.write16(gpu.common_offset(common::QUEUE_SIZE), QUEUE_SIZE);
    if !intx {
        gpu.bar.write16(gpu.common_offset(common::MSIX_CONFIG), transport::NO_VECTOR);
        gpu.bar.write16(gpu.common_offset(common::QUEUE_MSIX_VECTOR), 0);
    }
    if !intx && gpu.bar.read16(gpu.common_offset(common::QUEUE_MSIX_VECTOR)) != 0 {
        log!("gpu: the device did not take MSI-X vector 0 for the control queue; stopping");
        gpu.bar.write8(status_register, status::FAILED);
        stop();
    }
    let [descriptors, available, used] = gpu.queue.parts();
    gpu.write64(gpu.common_offset(common::QUEUE_DESC), dma_paddr + descriptors as u64);
    gpu.write64(gpu.common_offset(common::QUEUE_DRIVER), dma_paddr + available as u64);
    gpu.write64(gpu.common_offset(common::QUEUE_DEVICE), dma_paddr + used as u64);
    gpu.notify_offset = caps.notify_offset(gpu.bar.read16(gpu.common_offset(common::QUEUE_NOTIFY_OFF)));
    gpu.bar.write16(gpu.common_offset(common::QUEUE_ENABLE), 1);
    gpu.bar.write8(status_register, status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK);
    log!(
        "gpu: virtio GPU ready: {queues} queues, control queue of {QUEUE_SIZE} entries (device offers {offered_size}), completion by interrupt ({})",
        if intx { "INTx" } else { "MSI-X vector 0" }
    );

    // The mode: the first enabled scanout's preferred size.
    gpu.bring_up(Command::GetDisplayInfo);
    let mut info = [0u8; command::DISPLAY_INFO_LEN];
    gpu.dma.read_bytes(RESPONSE_OFFSET, &mut info);
    let Some((scanout, mode)) = command::first_enabled_scanout(&info) else {
        log!("gpu: the display information names no enabled scanout; stopping");
        stop();
    };
    log!("gpu: display info: scanout {scanout} enabled at {}x{}", mode.width, mode.height);
    let bytes = u64::from(mode.width) * u64::from(mode.height) * 4;
    if bytes > framebuffer.bytes() || (mode.width as usize) < screen::MIN_WIDTH || (mode.height as usize) < screen::MIN_HEIGHT {
        log!(
            "gpu: a {}x{} framebuffer needs {bytes:#x} bytes (the framebuffer regions have {:#x}) and at least {}x{} pixels; stopping",
            mode.width,
            mode.height,
            framebuffer.bytes(),
            screen::MIN_WIDTH,
            screen::MIN_HEIGHT
        );
        stop();
    }
    gpu.mode = Rect::sized(mode.width, mode.height);
    gpu.bring_up(Command::ResourceCreate2d { resource: RESOURCE, format: FORMAT_B8G8R8X8, width: mode.width, height: mode.height });
    gpu.bring_up(Command::AttachBacking { resource: RESOURCE, backing: framebuffer });
    gpu.bring_up(Command::SetScanout { scanout, rect: gpu.mode, resource: RESOURCE });
    log!(
        "gpu: scanout {scanout} set to resource {RESOURCE} ({}x{} B8G8R8X8, framebuffer of {:#x} bytes in {} regions)",
        mode.width,
        mode.height,
        framebuffer.bytes(),
        framebuffer.entries().len()
    );
    gpu.screen.set_line(0, "waiting for status").expect("row 0 exists");
    if let Err(kind) = gpu.show() {
        log!("gpu: showing the first frame failed: {kind:#x} ({}); stopping", command::response_name(kind));
        stop();
    }
    log!("gpu: first frame shown ({} commands, {} interrupts); serving \"display\"", gpu.commands, gpu.interrupts);

    // Answers by kind: updates shown, refused (a row off the screen), failed on the
    // device, and mode queries; logged whenever the number of answers is a power of two.
    let (mut served, mut refused, mut failed, mut queries) = (0u64, 0u64, 0u64, 0u64);
    tileos_sys::rpc::serve::<Display>(endpoint, |_badge, request| {
        let answer = gpu.handle(request);
        let count = match answer {
            Response::Shown => &mut served,
            Response::Refused(Refusal::RowOutOfRange { .. }) => &mut refused,
            Response::Refused(Refusal::Device { .. }) => &mut failed,
            Response::Mode { .. } => &mut queries,
        };
        *count += 1;
        if (served + refused + failed + queries).is_power_of_two() {
            log!(
                "gpu: {served} display updates served, {refused} refused, {failed} failed on the device, {queries} mode queries \
                 ({} commands, {} interrupts so far)",
                gpu.commands,
                gpu.interrupts
            );
        }
        Ok::<Response, ProtocolError>(answer)
    })
}
