//! The runtime of a domain: its information page (name, generation, capabilities by
//! name), its heap, and logging through the console domain.

use core::fmt::{self, Write};
use linked_list_allocator::LockedHeap;
use tileos_abi::bootinfo::domain::IPC_BUFFER_VADDR;
use tileos_abi::bootinfo::domain_info::{self, CapKind, DomainInfo};
use tileos_mmio::Mmio;
use tileos_protocol::console::{Console, MAX_TEXT, Request};
use tileos_protocol::heapless;

/// The global allocator of every tileos user binary: a linked-list heap over the memory
/// given to [`init_heap`]. Allocation before that fails (and `alloc` reports it).
#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Hands `size` bytes at `base` (mapped, writable, unused) to the global allocator.
///
/// # Safety
/// The memory must be mapped read-write for the rest of the program and used by nothing else;
/// call at most once.
pub unsafe fn init_heap(base: u64, size: u64) {
    // SAFETY: per the contract above.
    unsafe { HEAP.lock().init(base as *mut u8, size as usize) };
}

/// Bytes of the heap in use and still free (the free bytes may lie in pieces too small for
/// a given allocation).
pub fn heap_usage() -> (u64, u64) {
    let heap = HEAP.lock();
    (heap.used() as u64, heap.free() as u64)
}

/// Set by [`init`]: this binary runs as a domain (not as the root server).
static IS_DOMAIN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether [`init`] ran, i.e. this binary is a domain with an information page.
pub fn is_domain() -> bool {
    IS_DOMAIN.load(core::sync::atomic::Ordering::Relaxed)
}

/// This domain's information page, set up by [`init`].
pub fn info() -> &'static DomainInfo {
    // SAFETY: the root server maps the information page read-only at this address in
    // every domain before it starts.
    unsafe { &*(domain_info::VADDR as *const DomainInfo) }
}

/// Prepares the runtime: checks the information page, selects the IPC buffer and sets up
/// the heap. Call first thing in `_start`.
pub fn init() -> &'static DomainInfo {
    let info = info();
    crate::set_ipc_buffer(IPC_BUFFER_VADDR);
    if info.magic != domain_info::MAGIC {
        crate::debug_exit(tileos_abi::test_exit::GuestVerdict::Fail);
    }
    IS_DOMAIN.store(true, core::sync::atomic::Ordering::Relaxed);
    if info.heap_size != 0 {
        // SAFETY: the root server maps `heap_size` bytes read-write at HEAP_VADDR for this
        // domain alone; `init` runs once.
        unsafe { init_heap(domain_info::HEAP_VADDR, info.heap_size) };
    }
    info
}

/// This domain's name.
pub fn name() -> &'static str {
    let bytes = &info().name;
    core::str::from_utf8(bytes).unwrap_or("?").trim_end_matches('\0')
}

/// The slot of this domain's capability of `kind` named `name` (as in the description).
pub fn cap(kind: CapKind, name: &str) -> Option<u64> {
    let info = info();
    info.caps[..(info.cap_count as usize).min(domain_info::MAX_CAPS)]
        .iter()
        .find(|entry| entry.kind == kind as u8 && core::str::from_utf8(&entry.name).unwrap_or("").trim_end_matches('\0') == name)
        .map(|entry| entry.slot)
}

/// The parameter `name` of the client with `badge` of the endpoint this domain serves under
/// the name `endpoint` (`params` of the client entry in the description,
/// docs/system-description.md), or `None` if the description gives that client no such
/// parameter.
pub fn param(endpoint: &str, badge: u64, name: &str) -> Option<u64> {
    params(endpoint).find(|&(client, param, _)| client == badge && param == name).map(|(_, _, value)| value)
}

/// Every parameter of every client of the endpoint this domain serves under the name
/// `endpoint`: (badge, name, value), in description order (a server that keeps state per
/// client, such as the store's namespaces, learns its clients from them).
pub fn params(endpoint: &str) -> impl Iterator<Item = (u64, &'static str, u64)> {
    let info = info();
    let caps = &info.caps[..(info.cap_count as usize).min(domain_info::MAX_CAPS)];
    let served = caps.iter().position(|entry| entry.kind == CapKind::ServedEndpoint as u8 && text(&entry.name) == endpoint);
    info.params[..(info.param_count as usize).min(domain_info::MAX_PARAMS)]
        .iter()
        .filter(move |entry| Some(usize::from(entry.cap)) == served)
        .map(|entry| (entry.badge, text(&entry.name), entry.value))
}

/// A NUL-padded name of the information page as text.
fn text(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("").trim_end_matches('\0')
}

/// A shared region of this domain by name: (user address, physical address, size).
pub fn region(name: &str) -> Option<(u64, u64, u64)> {
    let info = info();
    info.regions[..(info.region_count as usize).min(domain_info::MAX_REGIONS)]
        .iter()
        .find(|entry| core::str::from_utf8(&entry.name).unwrap_or("").trim_end_matches('\0') == name)
        .map(|entry| (entry.vaddr, entry.paddr, entry.size))
}

/// Regions of the information page already handed out by [`take_region`] (bit = index).
static TAKEN_REGIONS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
const _: () = assert!(domain_info::MAX_REGIONS <= 64);

/// The region named `name` on the information page (a shared region, device memory, or a
/// PCI device's BAR) as the one [`Mmio`] handle through which this domain reaches it; `None`
/// if there is no such region or it was taken before (each region is handed out once, so
/// no two handles cover the same bytes).
pub fn take_region(name: &str) -> Option<Mmio> {
    let info = info();
    let index = info.regions[..(info.region_count as usize).min(domain_info::MAX_REGIONS)]
        .iter()
        .position(|entry| core::str::from_utf8(&entry.name).unwrap_or("").trim_end_matches('\0') == name)?;
    let bit = 1u64 << index;
    if TAKEN_REGIONS.fetch_or(bit, core::sync::atomic::Ordering::Relaxed) & bit != 0 {
        return None;
    }
    let entry = &info.regions[index];
    // SAFETY: the root server maps every region it lists on the information page at
    // `vaddr` for `size` bytes for the domain's lifetime (read-write, or read-only where the
    // description says so), physically contiguous from `paddr`; the bit just set makes this
    // the only handle to it.
    Some(unsafe { Mmio::new(entry.vaddr as usize, entry.size as usize, Some(entry.paddr)) })
}

/// The endpoint named `name` that this domain serves.
pub fn served_endpoint(name: &str) -> Option<crate::cap::Endpoint> {
    cap(CapKind::ServedEndpoint, name).map(crate::cap::Endpoint::from_cptr)
}

/// The endpoint named `name` that this domain may call.
pub fn client_endpoint(name: &str) -> Option<crate::cap::Endpoint> {
    cap(CapKind::ClientEndpoint, name).map(crate::cap::Endpoint::from_cptr)
}

/// The notification named `name` that this domain waits on.
pub fn wait_notification(name: &str) -> Option<crate::cap::Notification> {
    cap(CapKind::WaitNotification, name).map(crate::cap::Notification::from_cptr)
}

/// The notification named `name` that this domain signals.
pub fn signal_notification(name: &str) -> Option<crate::cap::Notification> {
    cap(CapKind::SignalNotification, name).map(crate::cap::Notification::from_cptr)
}

/// The IO-port range named `name` (its first port in hex, e.g. "0x3f8").
pub fn io_port(name: &str) -> Option<crate::cap::IoPort> {
    cap(CapKind::IoPort, name).map(crate::cap::IoPort::from_cptr)
}

/// The IRQ handler named `name` ("irq" and the pin, e.g. "irq11").
pub fn irq_handler(name: &str) -> Option<crate::cap::IrqHandler> {
    cap(CapKind::IrqHandler, name).map(crate::cap::IrqHandler::from_cptr)
}

/// This domain's own thread.
pub fn own_tcb() -> crate::cap::Tcb {
    crate::cap::Tcb::from_cptr(tileos_abi::bootinfo::domain::TCB)
}

/// Stops this domain's thread for good (when it has nothing more to do).
pub fn stop() -> ! {
    let _ = own_tcb().suspend();
    unreachable!("a suspended thread does not run")
}

/// Writes `text` through the console domain (the client endpoint named "log"); falls back
/// to the kernel debug console if the domain has none.
pub fn write(text: &str) {
    let Some(log) = client_endpoint("log") else {
        crate::debug_write(text.as_bytes());
        return;
    };
    let console = crate::rpc::Client::<Console>::new(log);
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(MAX_TEXT);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (chunk, tail) = rest.split_at(cut);
        if let Ok(chunk) = heapless::String::try_from(chunk) {
            // A console that is restarting loses this piece of the log; nothing else can be done.
            let _ = console.call(&Request::Write(chunk));
        }
        rest = tail;
    }
}

/// `core::fmt` adapter over [`write()`] that collects a whole line before sending it, so
/// that one `log!` is one console message and lines of different domains never interleave
/// (a line longer than one message is sent in message-sized pieces).
pub struct Line(heapless::String<MAX_TEXT>);

impl Line {
    /// An empty line.
    pub const fn new() -> Line {
        Line(heapless::String::new())
    }

    /// Sends what is collected.
    pub fn flush(&mut self) {
        if !self.0.is_empty() {
            write(&self.0);
            self.0.clear();
        }
    }
}

impl Default for Line {
    fn default() -> Line {
        Line::new()
    }
}

impl Write for Line {
    fn write_str(&mut self, mut text: &str) -> fmt::Result {
        while !text.is_empty() {
            let room = MAX_TEXT - self.0.len();
            if room == 0 {
                self.flush();
                continue;
            }
            let mut cut = text.len().min(room);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == 0 {
                self.flush();
                continue;
            }
            let (head, tail) = text.split_at(cut);
            self.0.push_str(head).map_err(|()| fmt::Error)?;
            text = tail;
        }
        Ok(())
    }
}

/// Logs a line through the console domain (one message per line).
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {{
        let mut line = $crate::domain::Line::new();
        let _ = core::fmt::Write::write_fmt(&mut line, format_args!("{}\n", format_args!($($arg)*)));
        line.flush();
    }};
}
