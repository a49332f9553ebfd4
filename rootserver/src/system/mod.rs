//! The tile: building every domain the system description declares, with exactly the
//! capabilities it names, and supervising them.
//!
//! Each domain gets its own memory, untyped pieces sized exactly for its footprint
//! (`tileos_sysdesc::footprint`); everything built for it (TCB, CNode, VSpace, frames,
//! paging structures) is retyped from them, so a restart is: revoke the pieces (destroying
//! all of it, releasing its IRQs and IO ports), build again. Objects the domains share —
//! endpoints, notifications, shared-region frames — come from the root server's general
//! memory and survive restarts. Every domain's fault endpoint is the
//! supervisor's endpoint, badged with the domain's index + 1.
//!
//! Building is `build`, supervising the running tile `supervise`, the control protocol
//! `control`; this module boots: loads the description, builds every domain in order and
//! hands over to the supervisor.
//!
//! The same endpoint carries the supervisor control protocol (`tileos_protocol::supervisor`)
//! for the domains the description lists as clients of the endpoint whose `server` is
//! `"supervisor"`: their capabilities are badged with their description badge plus
//! [`SUPERVISOR_CLIENT_BIT`], which no fault badge has. A restart (after a fault or on
//! request) kills the domain at once (its clients' pending calls end with a lost reply),
//! then, once its back-off is over, builds it again; meanwhile the supervisor keeps serving.
//! A caller waiting for a restart to finish has its reply capability saved in a slot of the
//! root server and is answered, without blocking, when the rebuild is done.

mod build;
mod control;
mod immune;
mod keeper;
mod seats;
mod supervise;

pub use build::DevicePool;
use build::Tile;

use crate::alloc::Allocator;
use crate::loader;
use ::alloc_crate::vec::Vec;
use tileos_abi::bootinfo::domain_info::{MAX_PARAM_NAME, MAX_PARAMS};
use tileos_abi::bootinfo::{BootInfo, slot};
use tileos_abi::object::{ObjectType, Rights};
use tileos_protocol::supervisor::State;
use tileos_sys::{event, println};
use tileos_sysdesc::footprint::admission::ADDRESS_SPACES;
use tileos_sysdesc::footprint::{self, Footprint, Program, Segment};
use tileos_sysdesc::{MAX_PARAM_NAME_LEN, MAX_SERVER_PARAMS};

// The description's limits on endpoint parameters are the information page's.
const _: () = assert!(MAX_SERVER_PARAMS == MAX_PARAMS && MAX_PARAM_NAME_LEN == MAX_PARAM_NAME);

/// Root-server heap: enough for the decoded description, the supervisor's records and the
/// module ELFs slot managers stage (one at a time per slot, each at most the slot's
/// `module_memory`, 512 KiB by default; staging that does not fit is refused, never a panic).
const HEAP_VADDR: u64 = 0x0000_5000_0000_0000;
const HEAP_PAGES: u64 = 1024;

/// Heap bytes a decoded description takes at most per byte of its encoding (postcard): every
/// field takes a byte or more encoded and at most 24 decoded (an empty string or list: one
/// byte encoded, its 24-byte header decoded; a number or flag: at most 8); a string or list
/// of n bytes takes n + 1 encoded and 24 + n decoded, rounded up to the allocator's 16-byte
/// blocks (at n = 1: 2 and 40).
const DECODED_PER_ENCODED_BYTE: u64 = 24;

/// Heap bytes the boot's records of one domain take before admission: its state, footprint,
/// capacity and links (with their lists' 16-byte blocks).
const RECORD_BYTES: u64 = (core::mem::size_of::<DomainState>()
    + core::mem::size_of::<Footprint>()
    + core::mem::size_of::<u64>()
    + core::mem::size_of::<tileos_sysdesc::links::Links>()
    + 32) as u64;

/// What the supervisor keeps per domain.
struct DomainState {
    /// The domain's own memory: untyped pieces, largest first (none if it was refused); a
    /// piece's slot is in the root CNode only while it is out of the keeper.
    memory: Vec<crate::alloc::Region>,
    /// Its keeper: its pieces and objects between builds (`keeper`).
    keeper: keeper::Keeper,
    /// What its memory holds (`tileos_sysdesc::footprint`).
    footprint: tileos_sysdesc::footprint::Footprint,
    /// Why it is not built, if its memory or slots did not fit at boot.
    refused: Option<loader::LoadError>,
    /// Starts so far minus one (0 for the first run).
    generation: u64,
    /// Restarts used up.
    restarts: u32,
    /// Supervisor endpoint badged for this domain.
    fault_endpoint: u64,
    /// Root-server copies of shared-region and device frames mapped into this domain, and
    /// badged notification copies bound to its IRQ handlers, while it is built (then they
    /// are in its keeper): deleted before a restart.
    shared_copies: Vec<u64>,
    /// Root-server slots the last build of this domain holds (its TCB; all a failed build
    /// took): empty after a restart's revoke, so the next build reuses them.
    slots_used: Vec<u64>,
    /// What the supervisor knows of it.
    state: State,
    /// Bytes its program's segments and heap may take: what its memory was sized
    /// for (a seat's is at least its slot's `module_memory`).
    capacity: u64,
    /// Whether it was ever built and started (a seat's first start is generation 0).
    ever_started: bool,
    /// Its thread while it runs (0 before its first build): a seat's schedule is changed
    /// through it.
    tcb: u64,
    /// Faults received from it (all its generations).
    faults: u64,
    /// CPU time its earlier generations consumed (their threads are gone).
    retired_cpu: ConsumedTime,
    /// Its immune state, once it reported latencies (docs/telemetry.md, "The immune system");
    /// boxed, as few domains report: inline it made every domain's record hundreds of bytes
    /// larger.
    immunity: Option<::alloc_crate::boxed::Box<tileos_telemetry::immune::DomainImmunity>>,
}

impl DomainState {
    /// CPU time consumed by all its generations: the retired ones plus its thread's
    /// (`TcbConsumedTime`; a thread that is gone counts nothing more).
    fn consumed(&self) -> ConsumedTime {
        use tileos_abi::invocation::TcbConsumedTime;
        let current = if self.tcb == 0 || self.state != State::Running {
            ConsumedTime::default()
        } else {
            tileos_sys::cap::Tcb::from_cptr(self.tcb)
                .invoke(TcbConsumedTime {})
                .map_or(ConsumedTime::default(), |reply| ConsumedTime { ticks: reply.words[0], cycles: reply.words[1] })
        };
        ConsumedTime {
            ticks: self.retired_cpu.ticks.saturating_add(current.ticks),
            cycles: self.retired_cpu.cycles.saturating_add(current.cycles),
        }
    }
}

/// CPU time consumed (`TcbConsumedTime`): timer ticks (sampled) and time-stamp-counter
/// cycles (charged precisely).
#[derive(Clone, Copy, Debug, Default)]
struct ConsumedTime {
    /// Timer ticks that interrupted it.
    ticks: u64,
    /// Cycles charged to its budget.
    cycles: u64,
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
/// `entry_tsc`: the time-stamp counter at the root server's first instruction.
pub fn run(info: &BootInfo, mut alloc: Allocator, entry_tsc: u64) -> ! {
    for page in 0..HEAP_PAGES {
        let mapped = alloc
            .object(ObjectType::Frame4K, 0)
            .and_then(|frame| crate::vspace::map(&mut alloc, slot::VSPACE, frame, HEAP_VADDR + page * 4096, Rights::ALL.0 as u64, 0));
        if let Err(error) = mapped {
            stop(format_args!("the root server's heap ({} KiB): {error}", HEAP_PAGES * 4));
        }
    }
    // SAFETY: the heap pages were just mapped read-write and nothing else uses them.
    unsafe { tileos_sys::domain::init_heap(HEAP_VADDR, HEAP_PAGES * 4096) };

    let bytes = match loader::module(&mut alloc, info, "tile-archive") {
        Ok(bytes) => bytes,
        Err(error) => stop(format_args!("no system description: boot module \"tile-archive\": {error}")),
    };
    // The decoded description lives in the heap, whose allocations cannot fail: one that
    // might not fit stops the boot here, named, instead of running the heap out.
    let encoded = tileos_sysdesc::archive::Archive::parse(bytes).ok().and_then(|a| a.description().ok()).map_or(0, |e| e.data.len() as u64);
    let (_, heap_free) = tileos_sys::domain::heap_usage();
    if encoded.saturating_mul(DECODED_PER_ENCODED_BYTE) > heap_free {
        stop(format_args!(
            "the system description ({encoded} bytes) may take up to {} KiB of the root server's heap decoded, {} KiB are free",
            encoded.saturating_mul(DECODED_PER_ENCODED_BYTE) / 1024,
            heap_free / 1024
        ));
    }
    let (archive, description) = match tileos_sysdesc::load(bytes) {
        Ok(loaded) => loaded,
        Err(error) => stop(format_args!("boot module \"tile-archive\": {error}")),
    };
    if let Err(error) = immune::check_configuration(&description) {
        stop(format_args!("boot module \"tile-archive\": {error}"));
    }
    println!(
        "rootserver: tile \"{}\": {} domains, {} endpoints, {} notifications, {} shared regions",
        description.name,
        description.domains.len(),
        description.endpoints.len(),
        description.notifications.len(),
        description.shared_regions.len()
    );
    // The supervisor's records of every domain, made before admission counts the heap.
    let records = (description.domains.len() as u64).saturating_mul(RECORD_BYTES);
    let (_, heap_free) = tileos_sys::domain::heap_usage();
    if records > heap_free {
        stop(format_args!(
            "the records of {} domains take {} KiB of the root server's heap, {} KiB are free",
            description.domains.len(),
            records / 1024,
            heap_free / 1024
        ));
    }
    // What each domain's program and heap take (a seat's region fits any module of its
    // slot), and its whole footprint.
    let mut capacities: Vec<u64> = Vec::with_capacity(description.domains.len());
    let mut footprints = Vec::with_capacity(description.domains.len());
    for (index, domain) in description.domains.iter().enumerate() {
        let data = archive.entry(domain.program as usize).map(|entry| entry.data).unwrap_or(&[]);
        let (segments, image): (Vec<Segment>, u64) = match tileos_elf::parse(data) {
            Ok(exe) => (exe.segments().map(|s| Segment { vaddr: s.vaddr, mem_size: s.mem_size }).collect(), seats::image_size(&exe)),
            Err(_) => (Vec::new(), 0),
        };
        let seat_memory = description.seat(index as u32).map(|(slot, _)| slot.module_memory);
        let capacity = (image + domain.heap_size).max(seat_memory.unwrap_or(0));
        let program = match seat_memory {
            Some(_) => Program::Seat { bytes: capacity - domain.heap_size },
            None => Program::Segments(&segments),
        };
        capacities.push(capacity);
        footprints.push(footprint::domain(&description, index, program));
    }
    let devices = DevicePool::new(info);
    let read = crate::clock::tsc();
    let mut tile = Tile::new(&mut alloc, devices, &description, &capacities, &footprints, admission_limits(info));
    let made = crate::clock::tsc();
    tile.pci.set_iospace_control(info.iospace_control);
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
        if !description.starts_at_boot(index as u32) {
            if let Some((slot, seat)) = description.seat(index as u32) {
                println!(
                    "rootserver: seat {seat} of slot \"{}\" (domain \"{}\") left empty: its manager starts modules in it",
                    slot.name, description.domains[index].name
                );
                event!("seat.empty", slot = slot.name, seat = seat, domain = description.domains[index].name);
            }
            continue;
        }
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
    let built = crate::clock::tsc();
    report_memory(&tile, &alloc);
    tile.drop_boot_authority(&mut alloc);
    // Boot to ready, in time-stamp counter ticks (guest instructions under QEMU -icount):
    // from the kernel's first instruction and from the root server's.
    // SAFETY: rdtsc is allowed in user mode.
    let ready = unsafe { core::arch::x86_64::_rdtsc() };
    println!("rootserver: all domains started; supervising");
    event!(
        "tile.supervising",
        domains = description.domains.len(),
        ready_ticks = ready.saturating_sub(info.boot_tsc),
        rootserver_ticks = ready.saturating_sub(entry_tsc),
        read_ticks = read.saturating_sub(entry_tsc),
        admit_ticks = made.saturating_sub(read),
        build_ticks = built.saturating_sub(made),
        drop_ticks = ready.saturating_sub(built)
    );
    supervise::Supervision::new(&mut tile, &mut alloc, &archive, &description).run(deferred)
}

/// What admission may count on at most, from the root server's command line (so that a boot
/// test runs a budget out with a few domains): `admit_heap_kib=N`, N KiB of the heap in all;
/// `admit_address_spaces=N`, N address spaces for domains. Else everything there is.
fn admission_limits(info: &BootInfo) -> build::AdmissionLimits {
    let cmdline = core::str::from_utf8(&info.cmdline).unwrap_or("").trim_end_matches('\0');
    let number = |key: &str| cmdline.split_whitespace().find_map(|word| word.strip_prefix(key)).and_then(|n| n.parse::<u64>().ok());
    build::AdmissionLimits {
        heap: number("admit_heap_kib=").map_or(u64::MAX, |kib| kib.saturating_mul(1024)),
        address_spaces: number("admit_address_spaces=").map_or(ADDRESS_SPACES, |n| n.min(ADDRESS_SPACES)),
    }
}

/// Logs what the domains' memory takes in all, the largest consumers, how many domains were
/// refused and what RAM is left (`tile.memory`).
fn report_memory(tile: &Tile, alloc: &Allocator) {
    let consumers: Vec<footprint::Consumer> = tile
        .states
        .iter()
        .zip(&tile.description.domains)
        .filter(|(state, _)| state.refused.is_none())
        .map(|(state, domain)| footprint::Consumer { name: &domain.name, footprint: state.footprint })
        .collect();
    let total: u64 = consumers.iter().map(|c| c.footprint.total()).sum();
    let refused = tile.states.iter().filter(|state| state.refused.is_some()).count();
    let largest: Vec<::alloc_crate::string::String> = footprint::largest(&consumers, 3)
        .iter()
        .map(|c| ::alloc_crate::format!("{} {} KiB", c.name, c.footprint.total().div_ceil(1024)))
        .collect();
    let (heap_used, heap_free) = tileos_sys::domain::heap_usage();
    println!(
        "rootserver: domain memory: {} KiB for {} domains ({refused} refused), {} KiB of RAM left; largest: {}; root server heap: {} KiB used, {} KiB free",
        total / 1024,
        consumers.len(),
        alloc.available() / 1024,
        largest.join(", "),
        heap_used / 1024,
        heap_free / 1024
    );
    event!(
        "tile.memory",
        domains = consumers.len(),
        refused = refused,
        kib = total / 1024,
        left_kib = alloc.available() / 1024,
        heap_used_kib = heap_used / 1024,
        heap_free_kib = heap_free / 1024
    );
}

/// Reports a fatal problem with the description and stops the root server.
fn stop(reason: core::fmt::Arguments) -> ! {
    println!("rootserver: {reason}; the tile cannot start");
    tileos_sys::debug_exit(tileos_abi::test_exit::GuestVerdict::Fail)
}
