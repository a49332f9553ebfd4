//! The tile: building every domain the system description declares, with exactly the
//! capabilities it names, and supervising them.
//!
//! Each domain gets its own untyped region; everything built for it (TCB, CNode, VSpace,
//! frames, paging structures) is retyped from that region, so a restart is: revoke the
//! region (destroying all of it, releasing its IRQs and IO ports), build again. Objects the
//! domains share — endpoints, notifications, shared-region frames — come from the root
//! server's general memory and survive restarts. Every domain's fault endpoint is the
//! supervisor's endpoint, badged with the domain's index + 1.
//!
//! The same endpoint carries the supervisor control protocol (`tileos_protocol::supervisor`)
//! for the domains the description lists as clients of the endpoint whose `server` is
//! `"supervisor"`: their capabilities are badged with their description badge plus
//! [`SUPERVISOR_CLIENT_BIT`], which no fault badge has. A restart (after a fault or on
//! request) kills the domain at once (its clients' pending calls end with a lost reply),
//! then, once its back-off is over, builds it again; meanwhile the supervisor keeps serving.
//! A caller waiting for a restart to finish has its reply capability saved in a slot of the
//! root server and is answered, without blocking, when the rebuild is done.

use crate::alloc::Allocator;
use crate::loader::{self, ExtraMapping, Grant, Spec};
use crate::pci::{PciDevices, REPORT_BADGE};
use ::alloc_crate::format;
use ::alloc_crate::string::String;
use ::alloc_crate::vec::Vec;
use core::arch::x86_64::_rdtsc;
use tileos_abi::bootinfo::domain_info::{CapKind, MAX_PARAM_NAME, MAX_PARAMS, ParamEntry};
use tileos_abi::bootinfo::{BootInfo, slot};
use tileos_abi::fault;
use tileos_abi::invocation::frame_attributes;
use tileos_abi::invocation::{
    CNodeCopy, CNodeDelete, CNodeMint, CNodeRevoke, CNodeSaveCaller, CPtr, FrameGetAddress, IoPortControlIssue, IrqControlGet,
    IrqHandlerSetNotification, Slot, UntypedRetype,
};
use tileos_abi::object::{ObjectType, Rights};
use tileos_protocol::supervisor::{self as control, DomainStatus, Refusal, Response, State, Supervisor};
use tileos_sys::cap::{CNode, Frame, IoPortControl, IrqControl, IrqHandler, Untyped};
use tileos_sys::{event, println};
use tileos_sysdesc::{
    Access, MAX_PARAM_NAME_LEN, MAX_SERVER_PARAMS, MapRights, Polarity, RestartPolicy, SUPERVISOR_CLIENT_BIT, Server, SystemDescription,
    Trigger,
};

// The description's limits on endpoint parameters are the information page's.
const _: () = assert!(MAX_SERVER_PARAMS == MAX_PARAMS && MAX_PARAM_NAME_LEN == MAX_PARAM_NAME);

/// Root-server heap: enough for the decoded description and the supervisor's records.
const HEAP_VADDR: u64 = 0x0000_5000_0000_0000;
const HEAP_PAGES: u64 = 256;

/// What the supervisor keeps per domain.
struct DomainState {
    /// The domain's own untyped region.
    untyped: u64,
    /// Starts so far minus one (0 for the first run).
    generation: u64,
    /// Restarts used up.
    restarts: u32,
    /// Supervisor endpoint badged for this domain.
    fault_endpoint: u64,
    /// Root-server copies of shared-region and device frames mapped into this domain, and
    /// badged notification copies bound to its IRQ handlers: deleted before a restart.
    shared_copies: Vec<u64>,
    /// Root-server slots the last build of this domain took: all empty after a restart's
    /// revoke, so the next build reuses them.
    slots_used: Vec<u64>,
    /// What the supervisor knows of it.
    state: State,
}

/// A killed domain waiting out its back-off before it is built again.
struct PendingRestart {
    /// The domain.
    index: usize,
    /// Time-stamp counter value after which it is built again.
    deadline: u64,
    /// Root-server slot holding the reply capability of the client that asked for the
    /// restart, answered when the rebuild is done.
    waiter: Option<u64>,
}

/// Builds the tile from the boot module `tile-archive` and supervises it; never returns.
pub fn run(info: &BootInfo, mut alloc: Allocator) -> ! {
    for page in 0..HEAP_PAGES {
        let frame = alloc.make(ObjectType::Frame4K, 0);
        crate::vspace::map(&mut alloc, slot::VSPACE, frame, HEAP_VADDR + page * 4096, Rights::ALL.0 as u64, 0)
            .unwrap_or_else(|e| panic!("root server heap: {e:?}"));
    }
    // SAFETY: the heap pages were just mapped read-write and nothing else uses them.
    unsafe { tileos_sys::domain::init_heap(HEAP_VADDR, HEAP_PAGES * 4096) };

    let bytes = match loader::module(&mut alloc, info, "tile-archive") {
        Ok(bytes) => bytes,
        Err(error) => stop(format_args!("no system description: boot module \"tile-archive\": {error}")),
    };
    let (archive, description) = match tileos_sysdesc::load(bytes) {
        Ok(loaded) => loaded,
        Err(error) => stop(format_args!("boot module \"tile-archive\": {error}")),
    };
    println!(
        "rootserver: tile \"{}\": {} domains, {} endpoints, {} notifications, {} shared regions",
        description.name,
        description.domains.len(),
        description.endpoints.len(),
        description.notifications.len(),
        description.shared_regions.len()
    );
    let image_sizes: Vec<u64> = description
        .domains
        .iter()
        .map(|domain| {
            let data = archive.entry(domain.program as usize).map(|entry| entry.data).unwrap_or(&[]);
            tileos_elf::parse(data).map(|exe| exe.segments().map(|s| (s.mem_size + 0x1FFF) & !0xFFF).sum()).unwrap_or(0)
        })
        .collect();
    let devices = DevicePool::new(info);
    let mut tile = Tile::new(&mut alloc, devices, &description, &image_sizes);
    // By priority, except that the domain serving "pci" comes first and the drivers of PCI
    // devices last: they are built from the pci domain's bus report (see crate::pci), which
    // the boot waits for in between — once every other domain, the console among them, runs.
    let reporter = tile.pci.reporter();
    let drives_pci = |index: usize| description.pci_devices.iter().any(|pci| pci.domain as usize == index);
    let mut order: Vec<usize> = (0..description.domains.len()).collect();
    order.sort_by_key(|&index| (Some(index) != reporter, drives_pci(index), core::cmp::Reverse(description.domains[index].priority)));
    // Faults that arrive while the boot waits for the report, handled once it supervises.
    let mut deferred: Vec<tileos_sys::Message> = Vec::new();
    let mut reporter_running = false;
    for index in order {
        if drives_pci(index) && core::mem::take(&mut reporter_running) {
            tile.wait_for_bus(reporter.unwrap_or(usize::MAX), &mut deferred);
        }
        let elf = archive.entry(description.domains[index].program as usize).map(|entry| entry.data).unwrap_or(&[]);
        match tile.start(&mut alloc, index, elf) {
            Err(error) => {
                println!("rootserver: domain \"{}\" not started: {error}", description.domains[index].name);
                tile.withdraw_endpoints(index);
                event!("domain.not-started", domain = description.domains[index].name);
            }
            Ok(()) => reporter_running |= Some(index) == reporter,
        }
    }
    tile.drop_boot_authority(&mut alloc, info);
    println!("rootserver: all domains started; supervising");
    event!("tile.supervising", domains = description.domains.len());
    let mut pending: Vec<PendingRestart> = Vec::new();
    let mut free_reply_slots: Vec<u64> = Vec::new();
    loop {
        // Build again every killed domain whose back-off is over, and answer whoever asked.
        // SAFETY: rdtsc is allowed in user mode.
        let now = unsafe { _rdtsc() };
        while let Some(position) = pending.iter().position(|p| p.deadline <= now) {
            let PendingRestart { index, waiter, .. } = pending.swap_remove(position);
            let domain = &description.domains[index];
            let elf = archive.entry(domain.program as usize).map(|entry| entry.data).unwrap_or(&[]);
            let max_restarts = match domain.restart {
                RestartPolicy::Always { max_restarts, .. } => max_restarts,
                RestartPolicy::Never => 0,
            };
            let answer = match tile.rebuild(&mut alloc, index, elf) {
                Ok(()) => {
                    let state = &tile.states[index];
                    println!(
                        "supervisor: domain \"{}\" restarted with fresh memory (generation {}, restart {} of {max_restarts})",
                        domain.name, state.generation, state.restarts
                    );
                    event!(
                        "domain.restarted",
                        domain = domain.name,
                        generation = state.generation,
                        restart = state.restarts,
                        max = max_restarts
                    );
                    Response::Restarted { generation: state.generation, restarts: state.restarts }
                }
                Err(error) => {
                    println!("supervisor: domain \"{}\" could not be restarted: {error}", domain.name);
                    Response::Refused(Refusal::RestartFailed)
                }
            };
            if let Some(slot) = waiter {
                tileos_sys::rpc::answer::<Supervisor>(Some(slot), Ok(answer));
                // The send used the reply capability up (or found the slot empty): reusable.
                let _ = CNode::ROOT.invoke(CNodeDelete { slot: Slot::at(slot) });
                free_reply_slots.push(slot);
            }
        }
        let message = if let Some(message) = deferred.pop() {
            message
        } else if pending.is_empty() {
            tileos_sys::recv(tile.supervisor, true)
        } else {
            // Back-offs are running: poll, so that they end on time.
            let message = tileos_sys::recv(tile.supervisor, false);
            if message.badge == 0 {
                tileos_sys::yield_now();
                continue;
            }
            message
        };
        if message.badge == REPORT_BADGE {
            // A restarted pci domain reports the bus again.
            tile.pci.take_report(&message);
            continue;
        }
        if message.badge & SUPERVISOR_CLIENT_BIT != 0 {
            let request = tileos_sys::rpc::decode_request::<Supervisor>(&message);
            let caller = description
                .supervisor_endpoint()
                .and_then(|endpoint| endpoint.clients.iter().find(|c| c.badge == message.badge & !SUPERVISOR_CLIENT_BIT));
            let client = caller.map_or("?", |c| description.domains[c.domain as usize].name.as_str());
            let status_only = caller.is_none_or(|c| c.access == Access::StatusOnly);
            match request {
                Ok(control::Request::Status { first }) => {
                    let domains = (first as usize..description.domains.len())
                        .take(control::MAX_STATUS)
                        .map(|index| DomainStatus {
                            name: description.domains[index].name.as_str().try_into().unwrap_or_default(),
                            state: tile.states[index].state,
                            generation: tile.states[index].generation,
                            restarts: tile.states[index].restarts,
                        })
                        .collect();
                    let total = description.domains.len() as u16;
                    tileos_sys::rpc::answer::<Supervisor>(None, Ok(Response::Status { total, domains }));
                }
                Ok(control::Request::Restart { domain: name }) if status_only => {
                    println!("supervisor: restart of domain \"{name}\" asked by \"{client}\" refused: it may only read the status");
                    event!("restart.refused", domain = name, client = client, reason = "status-only");
                    tileos_sys::rpc::answer::<Supervisor>(None, Ok(Response::Refused(Refusal::NotAllowed)));
                }
                Ok(control::Request::Restart { domain: name }) => {
                    let Some(index) = description.domains.iter().position(|d| d.name == name.as_str()) else {
                        println!("supervisor: restart of unknown domain \"{name}\" asked by \"{client}\" refused");
                        tileos_sys::rpc::answer::<Supervisor>(None, Ok(Response::Refused(Refusal::UnknownDomain)));
                        continue;
                    };
                    let refusal = match (description.domains[index].restart, tile.states[index].state) {
                        (RestartPolicy::Never, _) => Some(Refusal::RestartPolicyNever),
                        (_, State::Running) => None,
                        (_, other) => Some(Refusal::NotRunning(other)),
                    };
                    if let Some(refusal) = refusal {
                        println!("supervisor: restart of domain \"{name}\" asked by \"{client}\" refused: {refusal:?}");
                        tileos_sys::rpc::answer::<Supervisor>(None, Ok(Response::Refused(refusal)));
                        continue;
                    }
                    println!(
                        "supervisor: domain \"{name}\" killed on request of \"{client}\" (generation {})",
                        tile.states[index].generation
                    );
                    event!("domain.killed", domain = name, client = client, generation = tile.states[index].generation);
                    // Save the caller's reply capability: it is answered once the domain
                    // runs again, and the loop receives in the meantime.
                    let saved = free_reply_slots.pop().unwrap_or_else(|| alloc.slots.take());
                    if let Err(error) = CNode::ROOT.invoke(CNodeSaveCaller { dest: Slot::at(saved) }) {
                        println!("supervisor: cannot save the caller of \"{client}\": {error:?}");
                    }
                    match tile.kill_for_restart(&mut alloc, index) {
                        Kill::Restart { deadline } => pending.push(PendingRestart { index, deadline, waiter: Some(saved) }),
                        Kill::GaveUp => {
                            let restarts = tile.states[index].restarts;
                            tileos_sys::rpc::answer::<Supervisor>(Some(saved), Ok(Response::GaveUp { restarts }));
                            free_reply_slots.push(saved);
                        }
                        Kill::Failed => {
                            tileos_sys::rpc::answer::<Supervisor>(Some(saved), Ok(Response::Refused(Refusal::RestartFailed)));
                            free_reply_slots.push(saved);
                        }
                    }
                }
                Err(error) => {
                    println!("supervisor: malformed request from \"{client}\": {error:?}");
                    tileos_sys::rpc::answer::<Supervisor>(None, Err::<Response, _>(error));
                }
            }
            continue;
        }
        let Some(index) = (message.badge as usize).checked_sub(1).filter(|&i| i < description.domains.len()) else {
            println!("supervisor: message with unknown badge {:#x} ignored", message.badge);
            continue;
        };
        let domain = &description.domains[index];
        let state = &tile.states[index];
        // The fault in the event line: its kind and the one figure tests look at.
        let (fault_kind, fault_detail) = match message.info.label() {
            fault::VM_FAULT => ("page-fault", format!("address={:#x}", message.words[1])),
            fault::USER_EXCEPTION => ("exception", format!("vector={}", message.words[3])),
            fault::CAP_FAULT => ("capability-fault", format!("pointer={:#x}", message.words[1])),
            fault::UNKNOWN_SYSCALL => ("unknown-syscall", format!("number={}", message.words[3])),
            other => ("other", format!("label={other}")),
        };
        let kind = match message.info.label() {
            fault::VM_FAULT => format!("page fault at address {:#x} (rip {:#x})", message.words[1], message.words[0]),
            fault::USER_EXCEPTION => format!("CPU exception {} at rip {:#x}", message.words[3], message.words[0]),
            fault::CAP_FAULT => format!("capability fault on pointer {:#x} at rip {:#x}", message.words[1], message.words[0]),
            fault::UNKNOWN_SYSCALL => format!("unknown system call {} at rip {:#x}", message.words[3], message.words[0]),
            other => format!("fault {other}"),
        };
        println!("supervisor: domain \"{}\" (generation {}) stopped: {kind}", domain.name, state.generation);
        println!(
            "{} {fault_detail}",
            tileos_sys::event_line!("domain.stopped", domain = domain.name, generation = state.generation, fault = fault_kind)
        );
        match domain.restart {
            RestartPolicy::Never => {
                tile.states[index].state = State::Stopped;
                println!("supervisor: domain \"{}\" left stopped (restart policy: never)", domain.name)
            }
            RestartPolicy::Always { max_restarts, .. } => {
                if state.restarts >= max_restarts {
                    tile.states[index].state = State::GivenUp;
                    println!("supervisor: domain \"{}\": gave up after {max_restarts} restarts; last fault: {kind}", domain.name);
                    event!("domain.gave-up", domain = domain.name, restarts = max_restarts, fault = fault_kind);
                    continue;
                }
                if let Kill::Restart { deadline } = tile.kill_for_restart(&mut alloc, index) {
                    pending.push(PendingRestart { index, deadline, waiter: None });
                }
            }
        }
    }
}

/// What [`Tile::kill_for_restart`] did.
enum Kill {
    /// The domain is dead and is built again after the deadline (its back-off).
    Restart {
        /// Time-stamp counter value.
        deadline: u64,
    },
    /// The domain is dead and its restart budget is used up: it stays stopped.
    GaveUp,
    /// Its objects could not be destroyed: it is marked stopped.
    Failed,
}

/// Reports a fatal problem with the description and stops the root server.
fn stop(reason: core::fmt::Arguments) -> ! {
    println!("rootserver: {reason}; the tile cannot start");
    tileos_sys::debug_exit(tileos_abi::test_exit::GuestVerdict::Fail)
}

/// The shared objects of the tile and the supervisor's records.
struct Tile<'d> {
    description: &'d SystemDescription,
    supervisor: u64,
    endpoints: Vec<u64>,
    notifications: Vec<u64>,
    regions: Vec<Vec<u64>>,
    device_frames: Vec<Vec<u64>>,
    devices: DevicePool,
    pci: PciDevices,
    states: Vec<DomainState>,
    /// Endpoints withdrawn because their server did not start (index: endpoint).
    withdrawn: Vec<bool>,
}

/// Device untyped regions not yet used, from which frames at given physical addresses are
/// cut: a region containing the address is split in halves until a 4 KiB piece remains.
pub struct DevicePool {
    /// (slot, physical address, log2 size) of free device untyped.
    free: Vec<(u64, u64, u32)>,
}

impl DevicePool {
    /// Every device untyped region of the boot information, all free.
    fn new(info: &BootInfo) -> DevicePool {
        let count = (info.untyped.end - info.untyped.start) as usize;
        let free = info.untyped_list[..count]
            .iter()
            .enumerate()
            .filter(|(_, u)| u.is_device != 0)
            .map(|(i, u)| (info.untyped.start + i as u64, u.paddr, u32::from(u.size_bits)))
            .collect();
        DevicePool { free }
    }

    /// Deletes every device untyped region no device uses; returns how many there were.
    fn drop_free(&mut self) -> usize {
        for &(untyped, ..) in &self.free {
            if let Err(error) = CNode::ROOT.invoke(CNodeDelete { slot: Slot::at(untyped) }) {
                panic!("delete unused device untyped {untyped}: {error:?}");
            }
        }
        let dropped = self.free.len();
        self.free.clear();
        dropped
    }

    /// A frame capability for the device page at `paddr`, or `None` if no free device
    /// untyped covers it.
    pub fn frame(&mut self, alloc: &mut Allocator, paddr: u64) -> Option<u64> {
        let position = self.free.iter().position(|&(_, base, bits)| paddr >= base && paddr - base < 1 << bits)?;
        let (mut untyped, mut base, mut bits) = self.free.swap_remove(position);
        while bits > 12 {
            let halves = [alloc.slots.take(), alloc.slots.take()];
            Untyped::from_cptr(untyped)
                .invoke(UntypedRetype {
                    object_type: ObjectType::Untyped,
                    size_bits: u64::from(bits - 1),
                    node: Slot::new(0, 0),
                    node_offset: halves[0],
                    count: 1,
                    root: CPtr(slot::CNODE),
                })
                .ok()?;
            Untyped::from_cptr(untyped)
                .invoke(UntypedRetype {
                    object_type: ObjectType::Untyped,
                    size_bits: u64::from(bits - 1),
                    node: Slot::new(0, 0),
                    node_offset: halves[1],
                    count: 1,
                    root: CPtr(slot::CNODE),
                })
                .ok()?;
            bits -= 1;
            let upper = base + (1 << bits);
            if paddr >= upper {
                self.free.push((halves[0], base, bits));
                (untyped, base) = (halves[1], upper);
            } else {
                self.free.push((halves[1], upper, bits));
                untyped = halves[0];
            }
        }
        let frame = alloc.slots.take();
        Untyped::from_cptr(untyped)
            .invoke(UntypedRetype {
                object_type: ObjectType::Frame4K,
                size_bits: 0,
                node: Slot::new(0, 0),
                node_offset: frame,
                count: 1,
                root: CPtr(slot::CNODE),
            })
            .ok()?;
        Some(frame)
    }
}

impl<'d> Tile<'d> {
    fn new(alloc: &mut Allocator, mut devices: DevicePool, description: &'d SystemDescription, image_sizes: &[u64]) -> Tile<'d> {
        let supervisor = alloc.make(ObjectType::Endpoint, 0);
        // The endpoint served by the supervisor is the supervisor's own endpoint.
        let endpoints: Vec<u64> = description
            .endpoints
            .iter()
            .map(|endpoint| if endpoint.server == Server::Supervisor { supervisor } else { alloc.make(ObjectType::Endpoint, 0) })
            .collect();
        let notifications = description.notifications.iter().map(|_| alloc.make(ObjectType::Notification, 0)).collect();
        // Each region's frames are retyped in order from an untyped of their own, so they are
        // physically contiguous (a retype makes at most 256 objects: larger regions take
        // several retypes from the same untyped, which continue at its watermark).
        let regions = description
            .shared_regions
            .iter()
            .map(|region| {
                let pages = region.size / 4096;
                let bits = u64::from(64 - (region.size - 1).leading_zeros()).max(12);
                let memory = alloc.try_make(ObjectType::Untyped, bits).unwrap_or_else(|error| {
                    stop(format_args!("shared region \"{}\": no {} KiB of memory: {error:?}", region.name, region.size / 1024))
                });
                let first = alloc.slots.next;
                for _ in 0..pages {
                    alloc.slots.take();
                }
                let mut made = 0;
                while made < pages {
                    let count = (pages - made).min(256);
                    let result = Untyped::from_cptr(memory).invoke(UntypedRetype {
                        object_type: ObjectType::Frame4K,
                        size_bits: 0,
                        node: Slot::new(0, 0),
                        node_offset: first + made,
                        count,
                        root: CPtr(slot::CNODE),
                    });
                    if let Err(error) = result {
                        stop(format_args!("shared region \"{}\": cannot allocate {pages} contiguous pages: {error:?}", region.name));
                    }
                    made += count;
                }
                (first..first + pages).collect()
            })
            .collect();
        let states = description
            .domains
            .iter()
            .enumerate()
            .map(|(index, domain)| {
                let fault_endpoint = alloc.slots.take();
                CNode::ROOT
                    .invoke(CNodeMint {
                        dest: Slot::at(fault_endpoint),
                        src: Slot::at(supervisor),
                        rights: Rights::ALL,
                        badge: index as u64 + 1,
                        src_root: CPtr(slot::CNODE),
                    })
                    .unwrap_or_else(|e| panic!("mint fault endpoint: {e:?}"));
                // Image, stack, heap, plus CNode, TCB, paging structures, IPC buffer and
                // information page; doubled for alignment slack.
                let bytes = image_sizes[index] + 0x3_0000 + domain.stack_size + domain.heap_size;
                let bits = (64 - (2 * bytes).leading_zeros()).max(16) as u64;
                DomainState {
                    untyped: alloc.make(ObjectType::Untyped, bits),
                    generation: 0,
                    restarts: 0,
                    fault_endpoint,
                    shared_copies: Vec::new(),
                    slots_used: Vec::new(),
                    state: State::Stopped,
                }
            })
            .collect();
        let device_frames = description
            .device_memory
            .iter()
            .map(|device| {
                (0..device.size / 4096)
                    .map(|page| {
                        devices.frame(alloc, device.paddr + page * 4096).unwrap_or_else(|| {
                            stop(format_args!(
                                "device memory \"{}\": {:#x} is not free device memory",
                                device.name,
                                device.paddr + page * 4096
                            ))
                        })
                    })
                    .collect()
            })
            .collect();
        let pci = PciDevices::new(description, &endpoints);
        let withdrawn = description.endpoints.iter().map(|_| false).collect();
        Tile { description, supervisor, endpoints, notifications, regions, device_frames, devices, pci, states, withdrawn }
    }

    /// Waits, before building the first driver of a PCI device, for the bus report of the
    /// `pci` domain `index`; a fault of that domain ends the wait (the drivers of PCI devices
    /// are then not started: the domain may be restarted, but drivers are only built at
    /// boot). Other faults are kept in `deferred` for the supervisor loop.
    fn wait_for_bus(&mut self, index: usize, deferred: &mut Vec<tileos_sys::Message>) {
        loop {
            let message = tileos_sys::recv(self.supervisor, true);
            if message.badge == REPORT_BADGE {
                if self.pci.take_report(&message) {
                    return;
                }
                continue;
            }
            deferred.push(message);
            if message.badge == index as u64 + 1 {
                println!(
                    "rootserver: the PCI bus domain \"{}\" faulted before reporting the bus; the drivers of PCI devices will not be started",
                    self.description.domains[index].name
                );
                return;
            }
        }
    }

    /// Once every domain is started, deletes the capabilities the root server will not need
    /// again, and logs what it drops and what it keeps and why: memory nothing was retyped
    /// from, device memory no device uses, IRQ and IO-port control when no restartable
    /// domain needs interrupts or ports, and the fault-endpoint copies of domains that are
    /// never rebuilt. What stays serves restarts: each restartable domain's memory region, the
    /// boot archive with its program, the shared objects to grant again.
    fn drop_boot_authority(&mut self, alloc: &mut Allocator, info: &BootInfo) {
        let d = self.description;
        let restartable = |index: usize| matches!(d.domains[index].restart, RestartPolicy::Always { .. });
        let mut dropped: Vec<String> = Vec::new();
        let (regions, bytes) = alloc.drop_spare_memory(info);
        if regions > 0 {
            dropped.push(format!("{regions} untyped regions of unused memory ({} KiB)", bytes / 1024));
        }
        if self.pci.all_located() {
            let regions = self.devices.drop_free();
            if regions > 0 {
                dropped.push(format!("{regions} untyped regions of unused device memory"));
            }
        }
        let interrupts: Vec<&str> = (0..d.domains.len())
            .filter(|&i| restartable(i))
            .filter(|&i| {
                d.irqs.iter().any(|irq| irq.domain as usize == i)
                    || d.pci_devices.iter().any(|p| p.domain as usize == i && p.interrupt.is_some())
            })
            .map(|i| d.domains[i].name.as_str())
            .collect();
        let ports: Vec<&str> = (0..d.domains.len())
            .filter(|&i| restartable(i))
            .filter(|&i| d.io_ports.iter().any(|range| range.domain as usize == i) || self.pci.needs_io_ports(d, i))
            .map(|i| d.domains[i].name.as_str())
            .collect();
        let mut kept: Vec<String> = Vec::new();
        for (control, name, users) in [(slot::IRQ_CONTROL, "IRQ control", &interrupts), (slot::IO_PORT_CONTROL, "IO-port control", &ports)]
        {
            if users.is_empty() {
                if let Err(error) = CNode::ROOT.invoke(CNodeDelete { slot: Slot::at(control) }) {
                    panic!("delete {name}: {error:?}");
                }
                dropped.push(String::from(name));
            } else {
                kept.push(format!("{name} (to rebuild {})", users.join(", ")));
            }
        }
        let mut never = 0;
        for (index, state) in self.states.iter_mut().enumerate().filter(|&(i, _)| !restartable(i)) {
            if state.fault_endpoint != 0 {
                if let Err(error) = CNode::ROOT.invoke(CNodeDelete { slot: Slot::at(state.fault_endpoint) }) {
                    panic!("delete the fault endpoint copy of domain {index}: {error:?}");
                }
                state.fault_endpoint = 0;
                never += 1;
            }
        }
        if never > 0 {
            dropped.push(format!("the fault-endpoint copies of {never} domains never rebuilt"));
        }
        let rebuilt = (0..d.domains.len()).filter(|&i| restartable(i)).count();
        kept.insert(
            0,
            format!("the memory regions of the {rebuilt} restartable domains, the boot archive and the shared objects (to rebuild them)"),
        );
        println!("rootserver: boot done; dropped {}", if dropped.is_empty() { String::from("nothing") } else { dropped.join(", ") });
        println!("rootserver: keeps {}", kept.join("; "));
    }

    /// Builds domain `index` from its untyped region and starts it, recording the root
    /// slots the build takes.
    fn start(&mut self, alloc: &mut Allocator, index: usize, elf: &[u8]) -> Result<(), loader::LoadError> {
        // Located devices (and their frames) outlive the domain: not among its recycled slots.
        if let Err(error) = self.pci.locate_for(alloc, &mut self.devices, self.description, index) {
            self.states[index].state = State::Stopped;
            return Err(error);
        }
        alloc.slots.taken = Some(Vec::new());
        let result = self.build(alloc, index, elf);
        self.states[index].slots_used = alloc.slots.taken.take().unwrap_or_default();
        self.states[index].state = if result.is_ok() { State::Running } else { State::Stopped };
        result
    }

    /// The body of [`Tile::start`].
    fn build(&mut self, alloc: &mut Allocator, index: usize, elf: &[u8]) -> Result<(), loader::LoadError> {
        let d = self.description;
        let domain = &d.domains[index];
        let mut names: Vec<String> = Vec::new();
        let mut grants: Vec<(u64, Rights, u64, bool, CapKind, usize)> = Vec::new();
        let mut params: Vec<ParamEntry> = Vec::new();
        let name_of = |names: &mut Vec<String>, text: String| {
            names.push(text);
            names.len() - 1
        };
        for (e, endpoint) in d.endpoints.iter().enumerate() {
            if endpoint.server == Server::Domain(index as u32) {
                let n = name_of(&mut names, domain.local_name(&endpoint.name).into());
                // The endpoint's clients' parameters name it by its index on the page.
                let cap = grants.len() as u8;
                for client in &endpoint.clients {
                    for param in &client.params {
                        let mut entry = ParamEntry { badge: client.badge, value: param.value, cap, name: [0; MAX_PARAM_NAME] };
                        // Names fill the field (no NUL needed; checked with the description).
                        let length = param.name.len().min(MAX_PARAM_NAME);
                        entry.name[..length].copy_from_slice(&param.name.as_bytes()[..length]);
                        params.push(entry);
                    }
                }
                grants.push((self.endpoints[e], Rights::ALL, 0, false, CapKind::ServedEndpoint, n));
            }
            // Supervisor clients' badges carry the bit no fault badge has.
            let mark = if endpoint.server == Server::Supervisor { SUPERVISOR_CLIENT_BIT } else { 0 };
            for client in endpoint.clients.iter().filter(|c| c.domain as usize == index) {
                if self.withdrawn[e] {
                    println!(
                        "rootserver: domain \"{}\": endpoint \"{}\" not granted: its server did not start",
                        domain.name, endpoint.name
                    );
                    continue;
                }
                let n = name_of(&mut names, domain.local_name(&endpoint.name).into());
                let rights = Rights(Rights::WRITE.0 | Rights::GRANT_REPLY.0);
                grants.push((self.endpoints[e], rights, client.badge | mark, false, CapKind::ClientEndpoint, n));
            }
        }
        for (n_index, notification) in d.notifications.iter().enumerate() {
            if notification.waiter as usize == index {
                let n = name_of(&mut names, domain.local_name(&notification.name).into());
                grants.push((self.notifications[n_index], Rights::READ, 0, false, CapKind::WaitNotification, n));
            }
            for signaller in notification.signallers.iter().filter(|s| s.domain as usize == index) {
                let n = name_of(&mut names, domain.local_name(&notification.name).into());
                grants.push((self.notifications[n_index], Rights::WRITE, signaller.badge, false, CapKind::SignalNotification, n));
            }
        }
        for irq in d.irqs.iter().filter(|irq| irq.domain as usize == index) {
            let handler = alloc.slots.take();
            let level = u64::from(irq.trigger == Trigger::Level);
            let low = u64::from(irq.polarity == Polarity::Low);
            IrqControl::ROOT
                .invoke(IrqControlGet {
                    pin: u64::from(irq.pin),
                    level_triggered: level != 0,
                    active_low: low != 0,
                    dest: Slot::at(handler),
                })
                .map_err(|e| loader::LoadError::Kernel("IRQ handler", e))?;
            let badged = alloc.slots.take();
            let notification = self.notifications[irq.notification as usize];
            CNode::ROOT
                .invoke(CNodeMint {
                    dest: Slot::at(badged),
                    src: Slot::at(notification),
                    rights: Rights::WRITE,
                    badge: 1 << irq.bit,
                    src_root: CPtr(slot::CNODE),
                })
                .map_err(|e| loader::LoadError::Kernel("IRQ notification", e))?;
            IrqHandler::from_cptr(handler)
                .invoke(IrqHandlerSetNotification { notification: CPtr(badged) })
                .map_err(|e| loader::LoadError::Kernel("IRQ notification", e))?;
            self.states[index].shared_copies.push(badged);
            let n = name_of(&mut names, format!("irq{}", irq.pin));
            grants.push((handler, Rights::ALL, 0, true, CapKind::IrqHandler, n));
        }
        for ports in d.io_ports.iter().filter(|p| p.domain as usize == index) {
            let range = alloc.slots.take();
            IoPortControl::ROOT
                .invoke(IoPortControlIssue { first: u64::from(ports.first), last: u64::from(ports.last), dest: Slot::at(range) })
                .map_err(|e| loader::LoadError::Kernel("IO ports", e))?;
            let n = name_of(&mut names, format!("{:#x}", ports.first));
            grants.push((range, Rights::ALL, 0, true, CapKind::IoPort, n));
        }
        if self.pci.reporter() == Some(index) {
            // The pci domain reports the bus to the supervisor (see crate::pci).
            let n = name_of(&mut names, String::from("pci-report"));
            grants.push((
                self.supervisor,
                Rights(Rights::WRITE.0 | Rights::GRANT_REPLY.0),
                REPORT_BADGE,
                false,
                CapKind::ClientEndpoint,
                n,
            ));
        }
        let mut mappings = Vec::new();
        let mut region_list: Vec<(&str, u64, u64, u64)> = Vec::new();
        for (r, region) in d.shared_regions.iter().enumerate() {
            for mapping in region.mappings.iter().filter(|m| m.domain as usize == index) {
                let (rights, attributes) = match mapping.rights {
                    MapRights::Read => (Rights::READ, 0),
                    MapRights::ReadWrite => (Rights::ALL, 0),
                    MapRights::ReadExecute => (Rights::READ, frame_attributes::EXECUTABLE),
                };
                let paddr = Frame::from_cptr(self.regions[r][0]).invoke(FrameGetAddress {}).map(|reply| reply.words[0]).unwrap_or(0);
                region_list.push((domain.local_name(&region.name), mapping.vaddr, paddr, region.size));
                for (page, &frame) in self.regions[r].iter().enumerate() {
                    let copy = alloc.slots.take();
                    CNode::ROOT
                        .invoke(CNodeCopy { dest: Slot::at(copy), src: Slot::at(frame), rights: Rights::ALL, src_root: CPtr(slot::CNODE) })
                        .map_err(|e| loader::LoadError::Kernel("shared region", e))?;
                    self.states[index].shared_copies.push(copy);
                    mappings.push(ExtraMapping { frame: copy, vaddr: mapping.vaddr + page as u64 * 4096, rights, attributes });
                }
            }
        }
        for (m, device) in d.device_memory.iter().enumerate().filter(|(_, device)| device.domain as usize == index) {
            let attributes = if device.uncached { frame_attributes::UNCACHED } else { 0 };
            // Listed like a shared region, so that the domain finds it by name
            // (`tileos_sys::domain::take_region`) instead of by an address it must trust.
            region_list.push((domain.local_name(&device.name), device.vaddr, device.paddr, device.size));
            for (page, &frame) in self.device_frames[m].iter().enumerate() {
                let copy = alloc.slots.take();
                CNode::ROOT
                    .invoke(CNodeCopy { dest: Slot::at(copy), src: Slot::at(frame), rights: Rights::ALL, src_root: CPtr(slot::CNODE) })
                    .map_err(|e| loader::LoadError::Kernel("device memory", e))?;
                self.states[index].shared_copies.push(copy);
                mappings.push(ExtraMapping { frame: copy, vaddr: device.vaddr + page as u64 * 4096, rights: Rights::ALL, attributes });
            }
        }
        let granted = self.pci.grants_for(alloc, d, &self.notifications, index)?;
        self.states[index].shared_copies.extend_from_slice(&granted.copies);
        mappings.extend(granted.mappings);
        for (source, rights, badge, moved, kind, name) in granted.grants {
            let n = name_of(&mut names, name);
            grants.push((source, rights, badge, moved, kind, n));
        }
        region_list.extend(granted.regions.iter().map(|(name, vaddr, paddr, size)| (name.as_str(), *vaddr, *paddr, *size)));
        let grant_list: Vec<Grant> = grants
            .iter()
            .map(|&(source, rights, badge, moved, kind, n)| Grant { source, rights, badge, moved, kind, name: names[n].as_str() })
            .collect();
        let state = &self.states[index];
        let spec = Spec {
            name: &domain.name,
            elf,
            priority: domain.priority,
            mcp: domain.mcp,
            stack_size: domain.stack_size,
            heap_size: domain.heap_size,
            fault_endpoint: state.fault_endpoint,
            grants: &grant_list,
            mappings: &mappings,
            regions: &region_list,
            argument: 0,
            generation: state.generation,
            budget_ms: domain.budget.map(|b| (b.budget_ms, b.period_ms)),
            params: &params,
        };
        alloc.with_untyped(state.untyped, |alloc| loader::spawn(alloc, &spec))?;
        let listed: Vec<String> = grant_list
            .iter()
            .map(|g| format!("{} {:?}{}", g.name, g.kind, if g.badge != 0 { format!(" badge {:#x}", g.badge) } else { String::new() }))
            .collect();
        let budget = domain.budget.map(|b| format!(", budget {} ms per {} ms", b.budget_ms, b.period_ms)).unwrap_or_default();
        println!(
            "rootserver: started domain \"{}\" (priority {}{budget}, generation {}): {}",
            domain.name,
            domain.priority,
            state.generation,
            if listed.is_empty() { String::from("no capabilities") } else { listed.join(", ") }
        );
        event!(
            "domain.started",
            domain = domain.name,
            priority = domain.priority,
            generation = state.generation,
            capabilities = grant_list.len()
        );
        Ok(())
    }

    /// Kills domain `index` now, as after a fault: destroys everything it had and counts a
    /// restart; returns when to build it again (after its back-off), or that its restart
    /// budget is used up.
    fn kill_for_restart(&mut self, alloc: &mut Allocator, index: usize) -> Kill {
        let (max_restarts, backoff_ms) = match self.description.domains[index].restart {
            RestartPolicy::Always { max_restarts, backoff_ms } => (max_restarts, backoff_ms),
            RestartPolicy::Never => (0, 0),
        };
        let name = &self.description.domains[index].name;
        if let Err(error) = self.destroy(alloc, index) {
            println!("supervisor: domain \"{name}\" could not be destroyed: {error}");
            self.states[index].state = State::Stopped;
            return Kill::Failed;
        }
        let state = &mut self.states[index];
        if state.restarts >= max_restarts {
            state.state = State::GivenUp;
            println!("supervisor: domain \"{name}\": gave up after {max_restarts} restarts");
            event!("domain.gave-up", domain = name, restarts = max_restarts);
            return Kill::GaveUp;
        }
        state.state = State::Restarting;
        // SAFETY: rdtsc is allowed in user mode.
        Kill::Restart { deadline: unsafe { _rdtsc() } + u64::from(backoff_ms) * crate::clock::tsc_per_ms() }
    }

    /// Destroys everything domain `index` had: its frames' copies and everything retyped
    /// from its untyped region (its thread stops at once; callers waiting for its replies
    /// get a lost reply).
    fn destroy(&mut self, alloc: &mut Allocator, index: usize) -> Result<(), loader::LoadError> {
        let state = &mut self.states[index];
        for copy in state.shared_copies.drain(..) {
            CNode::ROOT.invoke(CNodeDelete { slot: Slot::at(copy) }).map_err(|e| loader::LoadError::Kernel("unmap shared region", e))?;
        }
        CNode::ROOT
            .invoke(CNodeRevoke { slot: Slot::at(state.untyped) })
            .map_err(|e| loader::LoadError::Kernel("revoke domain memory", e))?;
        alloc.slots.recycled.append(&mut state.slots_used);
        Ok(())
    }

    /// Withdraws the endpoints domain `index` serves, which did not start and will not run:
    /// deleting every capability to them destroys them, so that a client already waiting in
    /// a call gets it aborted and a later call fails at once (both are
    /// `ProtocolError::NoServer` to `tileos_sys::rpc`), instead of waiting forever; clients
    /// started afterwards are not granted them. Says so, naming the clients.
    fn withdraw_endpoints(&mut self, index: usize) {
        let d = self.description;
        for (e, endpoint) in d.endpoints.iter().enumerate() {
            if endpoint.server != Server::Domain(index as u32) || self.withdrawn[e] {
                continue;
            }
            let original = self.endpoints[e];
            let result = CNode::ROOT
                .invoke(CNodeRevoke { slot: Slot::at(original) })
                .and_then(|_| CNode::ROOT.invoke(CNodeDelete { slot: Slot::at(original) }));
            let clients: Vec<String> = endpoint.clients.iter().map(|c| format!("\"{}\"", d.domains[c.domain as usize].name)).collect();
            match result {
                Ok(_) => {
                    self.withdrawn[e] = true;
                    println!(
                        "rootserver: endpoint \"{}\" withdrawn: its server \"{}\" did not start; calls of its clients ({}) fail with an error",
                        endpoint.name,
                        d.domains[index].name,
                        if clients.is_empty() { String::from("none") } else { clients.join(", ") }
                    );
                }
                Err(error) => println!("rootserver: endpoint \"{}\" could not be withdrawn: {error:?}", endpoint.name),
            }
        }
    }

    /// Builds domain `index` again after [`Tile::kill_for_restart`].
    fn rebuild(&mut self, alloc: &mut Allocator, index: usize, elf: &[u8]) -> Result<(), loader::LoadError> {
        let state = &mut self.states[index];
        state.generation += 1;
        state.restarts += 1;
        self.start(alloc, index, elf)
    }
}
