//! Building the tile's domains: the objects every domain shares (endpoints, notifications,
//! shared-region frames, device frames), and each domain from its own memory (untyped pieces) —
//! its CNode, VSpace, image, stack, heap, information page and the capabilities the
//! description grants — and destroying it again for a restart.

use crate::alloc::{AllocError, Allocator, OwnRegions, Region};
use crate::loader::{self, ExtraMapping, Grant, Spec};
use crate::pci::{PciDevices, REPORT_BADGE};
use ::alloc_crate::format;
use ::alloc_crate::string::String;
use ::alloc_crate::vec::Vec;
use core::arch::x86_64::_rdtsc;
use tileos_abi::bootinfo::domain_info::{CapKind, MAX_PARAM_NAME, ParamEntry};
use tileos_abi::bootinfo::{BootInfo, slot};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::{
    CNodeCopy, CNodeDelete, CNodeMint, CNodeRevoke, CPtr, FrameGetAddress, IoPortControlIssue, IrqControlGet, IrqHandlerSetNotification,
    Slot, TcbSetPriority, UntypedRetype,
};
use tileos_abi::invocation::{Label, frame_attributes};
use tileos_abi::object::{ObjectType, Rights};
use tileos_protocol::supervisor::State;
use tileos_sys::cap::{CNode, Frame, IoPortControl, IrqControl, IrqHandler, Tcb, Untyped};
use tileos_sys::{event, println};
use tileos_sysdesc::footprint::Footprint;
use tileos_sysdesc::footprint::admission::{Budget, HEAP_RESERVE, Need, Refusal};
use tileos_sysdesc::links::{EndpointRole, Links, NotificationRole};
use tileos_sysdesc::{MapRights, Polarity, RestartPolicy, SUPERVISOR_CLIENT_BIT, Server, SystemDescription, Trigger};

use super::keeper::{self, Keeper};
use super::{ConsumedTime, DomainState, stop};

/// What [`Tile::kill_for_restart`] did.
pub(super) enum Kill {
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

/// Slots of the root server's CNode kept free for the supervisor's work after the boot
/// (saved reply capabilities, seat notifications).
const SLOT_RESERVE: u64 = 64;

/// Slots of the root server's CNode domain `index` keeps while built: its pieces, keeper,
/// TCB and fault endpoint (`Footprint::root_slots`), and the device frames made for it, which
/// outlive its builds (device memory pages; a PCI window counted whole, with 8 more).
fn root_slots(d: &SystemDescription, index: usize, footprint: &Footprint) -> u64 {
    let this = index as u32;
    let pages = |bytes: u64| bytes.div_ceil(4096);
    let devices: u64 = d.device_memory.iter().filter(|m| m.domain == this).map(|m| pages(m.size)).sum();
    let pci: u64 = d.pci_devices.iter().filter(|p| p.domain == this).map(|p| pages(p.window) + 8).sum();
    footprint.root_slots() + devices + pci
}

/// What admission may count on at most, besides what is really left.
#[derive(Clone, Copy, Debug)]
pub(super) struct AdmissionLimits {
    /// Bytes of the root server's heap in all (used ones included).
    pub(super) heap: u64,
    /// Address spaces for domains (at most `tileos_sysdesc::footprint::admission::ADDRESS_SPACES`).
    pub(super) address_spaces: u64,
}

/// Root-server heap an admitted domain's records take after admission, in bytes (those made
/// before it, for every domain, are in use when admission reads the heap): the records of
/// its pieces and its slot list (each rounded to the allocator's 16-byte blocks), its two
/// entries in the boot's memory report (the consumers and their sorted copy) and its dropped
/// fault endpoint; with PCI devices, a fault message deferred during the wait for the bus;
/// if it restarts, a pending restart (twice: the list grows by doubling); if it reports
/// latencies to the telemetry domain (`reports`), its immune record.
fn heap_need(d: &SystemDescription, index: usize, footprint: &Footprint, reports: bool) -> u64 {
    use core::mem::size_of;
    let block = |bytes: usize| (bytes as u64).next_multiple_of(16);
    let restarts = matches!(d.domains[index].restart, RestartPolicy::Always { .. }) || d.seat(index as u32).is_some();
    block(footprint.pieces().count() * size_of::<Region>())
        + block(size_of::<u64>())
        + 2 * size_of::<tileos_sysdesc::footprint::Consumer>() as u64
        + size_of::<u64>() as u64
        + if d.pci_devices.is_empty() { 0 } else { size_of::<tileos_sys::Message>() as u64 }
        + if restarts { 2 * size_of::<super::PendingRestart>() as u64 } else { 0 }
        + if reports { block(size_of::<tileos_telemetry::immune::DomainImmunity>()) } else { 0 }
}

/// Decides, in description order, which domains the RAM left, the root server's CNode, the
/// kernel's address spaces and the root server's heap can hold, refusing the others
/// (`tileos_sysdesc::footprint::admission`); then makes the admitted domains' keepers, all
/// together from the largest down, and their memory pieces, likewise, each retyped straight
/// into its keeper (so a domain's pieces never take root slots outside its builds), so that
/// no alignment gap opens between them but one where the keepers end. Admission keeps back,
/// per untyped region left, one largest piece (what a region may waste at its end when the
/// next piece does not fit in it) and one more for that gap; besides the supervisor's
/// reserve, the slots one build takes until its objects are moved into its keeper (the
/// largest keeper's slot count: builds run one at a time); and, of the heap, the
/// reserve for one build's and the supervisor's work and 16 bytes per domain for the boot's
/// lists of all domains. `limits`: what it may count on at most (lowered for tests).
fn admit(alloc: &mut Allocator, d: &SystemDescription, states: &mut [DomainState], limits: AdmissionLimits) {
    let largest = states.iter().filter_map(|s| s.footprint.pieces().next()).max().map_or(0, |bits| 1u64 << bits);
    let window = states.iter().map(|s| 1u64 << s.footprint.keeper_radix()).max().unwrap_or(0);
    let (heap_used, heap_free) = tileos_sys::domain::heap_usage();
    let heap_free = heap_free.min(limits.heap.saturating_sub(heap_used));
    // The lists of all domains, and of the device frames made after admission.
    let device_pages: u64 = d.device_memory.iter().map(|m| m.size / 4096).fold(0, u64::saturating_add);
    let all_domains = (16 * d.domains.len() as u64).saturating_add(device_pages.saturating_mul(8));
    let mut budget = Budget {
        memory: alloc.available().saturating_sub(largest * (alloc.regions_left() as u64 + 1)),
        slots: alloc.slots.free().saturating_sub(SLOT_RESERVE + window),
        address_spaces: limits.address_spaces,
        heap: heap_free.saturating_sub(HEAP_RESERVE + all_domains),
        admitted: 0,
    };
    let heap_at_admission = budget.heap;
    let mut reports: Vec<bool> = ::alloc_crate::vec![false; d.domains.len()];
    for client in super::immune::telemetry_endpoint(d).map_or(&[][..], |e| &e.clients[..]) {
        if let Some(flag) = reports.get_mut(client.domain as usize) {
            *flag = true;
        }
    }
    for (index, state) in states.iter_mut().enumerate() {
        let heap = heap_need(d, index, &state.footprint, reports[index]);
        let need = Need { memory: state.footprint.total(), slots: root_slots(d, index, &state.footprint), heap };
        if let Err(refusal) = budget.admit(need) {
            refuse(d, index, state, loader::LoadError::Refused(refusal));
        }
    }
    event!("tile.admitted", heap_used = heap_used, heap_budget = heap_at_admission, heap_charged = heap_at_admission - budget.heap);
    // Keepers, then pieces, each from the largest down: one pass over the domains per size
    // (a domain has at most one piece of each size, the binary digits of its builds), so
    // nothing is collected on the heap (at 2,500 domains a list of pieces took 300 KiB).
    let largest_keeper = states.iter().filter(|s| s.refused.is_none()).map(|s| s.footprint.keeper_radix()).max().unwrap_or(0);
    for radix in (0..=largest_keeper).rev() {
        for (index, state) in states.iter_mut().enumerate().filter(|(_, s)| s.refused.is_none() && s.footprint.keeper_radix() == radix) {
            let made = alloc.object(ObjectType::CNode, u64::from(radix)).map(|slot| state.keeper = Keeper::new(slot, radix));
            admitted_or_refused(d, index, state, alloc, made);
        }
    }
    let admitted = || states.iter().filter(|s| s.refused.is_none() && s.footprint.built() != 0);
    let (lowest, highest) =
        (admitted().map(|s| s.footprint.built().trailing_zeros()).min(), admitted().filter_map(|s| s.footprint.pieces().next()).max());
    for state in states.iter_mut().filter(|s| s.refused.is_none()) {
        // Each piece's record is pushed in a later pass: room for all of them now.
        state.memory.reserve_exact(state.footprint.pieces().count());
    }
    for bits in (lowest.unwrap_or(1)..=highest.unwrap_or(0)).rev() {
        for (index, state) in states.iter_mut().enumerate().filter(|(_, s)| s.refused.is_none() && s.footprint.built() & (1 << bits) != 0) {
            let piece = state.memory.len();
            let into = (state.keeper.slot, state.keeper.piece_slot(piece));
            let made = alloc.object_into(ObjectType::Untyped, u64::from(bits), into).map(|()| {
                state.keeper.keep_piece(piece);
                state.memory.push(Region { slot: 0, size: 1 << bits, used: 0 })
            });
            admitted_or_refused(d, index, state, alloc, made);
        }
    }
}

/// Refuses domain `index` if making its keeper or a piece failed (`made`).
fn admitted_or_refused(d: &SystemDescription, index: usize, state: &mut DomainState, alloc: &Allocator, made: Result<(), AllocError>) {
    match made {
        Ok(()) => {}
        Err(AllocError::Memory { .. }) => {
            let needed = state.footprint.total();
            refuse(d, index, state, loader::LoadError::Refused(Refusal::Memory { needed, available: alloc.available() }));
        }
        Err(error) => refuse(d, index, state, loader::LoadError::Alloc("domain memory", error)),
    }
}

/// Refuses domain `index` for `reason`: it is not built (its build fails with the reason,
/// and its endpoints are withdrawn); says so.
fn refuse(d: &SystemDescription, index: usize, state: &mut DomainState, reason: loader::LoadError) {
    let name = &d.domains[index].name;
    println!("rootserver: domain \"{name}\" does not fit: {reason}; it will not be built");
    let (needed, available, budget) = match reason {
        loader::LoadError::Refused(Refusal::Memory { needed, available }) => (needed.div_ceil(1024), available / 1024, "memory"),
        loader::LoadError::Refused(Refusal::Slots { .. }) => (state.footprint.total().div_ceil(1024), 0, "slots"),
        loader::LoadError::Refused(Refusal::AddressSpaces { .. }) => (state.footprint.total().div_ceil(1024), 0, "address-spaces"),
        loader::LoadError::Refused(Refusal::Heap { .. }) => (state.footprint.total().div_ceil(1024), 0, "heap"),
        _ => (state.footprint.total().div_ceil(1024), 0, "build"),
    };
    event!("domain.refused", domain = name, needed_kib = needed, available_kib = available, budget = budget);
    state.refused = Some(reason);
}

/// The shared objects of the tile and the supervisor's records.
pub(super) struct Tile<'d> {
    pub(super) description: &'d SystemDescription,
    pub(super) supervisor: u64,
    pub(super) endpoints: Vec<u64>,
    pub(super) notifications: Vec<u64>,
    pub(super) regions: Vec<Vec<u64>>,
    pub(super) device_frames: Vec<Vec<u64>>,
    pub(super) devices: DevicePool,
    pub(super) pci: PciDevices,
    pub(super) states: Vec<DomainState>,
    /// Endpoints withdrawn because their server did not start (index: endpoint).
    pub(super) withdrawn: Vec<bool>,
    /// Each domain's endpoints and notifications (index: domain).
    links: Vec<Links>,
}

/// What a build leaves in root slots that does not go into the domain's keeper.
struct Built {
    /// Its TCB (kept: the supervisor reads and changes its thread).
    tcb: u64,
    /// Slots emptied by the build: capabilities moved into the domain's CNode.
    emptied: Vec<u64>,
}

/// Pages of a domain's segments, stack and heap one piece of a build in pieces maps at most
/// ([`Tile::build_piece`]).
pub(super) const PAGES_PER_PIECE: u64 = 6;

/// Capabilities one piece of a build in pieces moves into the domain's keeper at most.
pub(super) const STOWED_PER_PIECE: usize = 32;

/// What a piece of a build did ([`Tile::build_piece`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Piece {
    /// Pieces remain; `mapped` of the `total` pages of its segments, stack and heap are
    /// mapped.
    Building {
        /// Pages mapped so far.
        mapped: u64,
        /// Pages in all.
        total: u64,
    },
    /// The domain runs: the build is over.
    Started,
}

/// A domain being built in pieces ([`Tile::begin`], then [`Tile::build_piece`] until it
/// answers [`Piece::Started`], or [`Tile::abandon`]): everything needed to go on.
pub(super) struct Building {
    /// The domain.
    index: usize,
    /// Where its own memory stands (objects come from there).
    own: OwnRegions,
    /// The root slots the build took so far (`Slots::taken` during its pieces).
    taken: Vec<u64>,
    /// What is next.
    stage: Stage,
    /// Its program's entry point.
    entry: u64,
    /// Pages of its segments, stack and heap.
    pages: u64,
    /// Time-stamp ticks spent in its pieces so far (those moving capabilities into its
    /// keeper not counted: `domain.started`'s `build_ticks` never counted them).
    ticks: u64,
    /// Each piece's time-stamp ticks, in order (for `seat.started`).
    piece_ticks: Vec<u64>,
    /// Whether its thread starts at priority 0 (a seat built in pieces,
    /// [`Building::start_at_priority_0`]) instead of its declared priority.
    start_low: bool,
}

/// Where a build in pieces stands.
enum Stage {
    /// Mapping pages (`None`: only while a piece runs, or after a failed one).
    Pages(Option<loader::Image>),
    /// Every page is mapped: the grants and the last objects are next.
    Finish(loader::Image),
    /// Moving what it made into its keeper: `stowed` of them so far.
    Stow { built: Built, lines: StartedLines, stowed: usize },
    /// All in its keeper: its `domain.memory` lines are next (a piece of their own: they
    /// cost as much as a piece's work).
    Memory { built: Built, lines: StartedLines },
    /// Its console line and `domain.started` line are next (a piece of their own, before
    /// the thread's start: with the start they made the last piece ≈ 45,000 instructions
    /// under `-icount`, the step of the manager that made it over its 50,000 bound).
    Announce { built: Built, lines: StartedLines },
    /// Its thread's start is next (the last piece).
    Release { built: Built },
}

/// What the lines of a domain's start say that is known only while it is built: its
/// `domain.memory` line's bytes used, its `domain.started` line's lists (made with its grants).
struct StartedLines {
    /// Bytes its build took from its memory.
    used: u64,
    /// Its capabilities for the console line (`name Kind badge …`, or "no capabilities").
    listed: String,
    /// Its capabilities for the event (`name:Kind[:badge],…` or `none`).
    fields: String,
    /// How many.
    capabilities: usize,
}

/// What the description grants a domain ([`Tile::grants`]).
struct Granted {
    /// The grants' names.
    names: Vec<String>,
    /// (source slot, rights, badge, moved, kind, name's index in `names`).
    grants: Vec<(u64, Rights, u64, bool, CapKind, usize)>,
    /// Endpoint parameters of the clients of the endpoints it serves.
    params: Vec<ParamEntry>,
    /// Frames to map besides its own.
    mappings: Vec<ExtraMapping>,
    /// (name, address, physical address, size) of its regions, for its information page.
    region_list: Vec<(String, u64, u64, u64)>,
}

impl Building {
    /// A build that ended (left in place of one that failed).
    fn ended(index: usize) -> Building {
        Building {
            index,
            own: OwnRegions::new(&[]),
            taken: Vec::new(),
            stage: Stage::Pages(None),
            entry: 0,
            pages: 0,
            ticks: 0,
            piece_ticks: Vec::new(),
            start_low: false,
        }
    }

    /// Runs `work` with objects from the domain's own memory, the slots it takes recorded.
    fn with<R>(&mut self, alloc: &mut Allocator, work: impl FnOnce(&mut Allocator) -> R) -> R {
        alloc.slots.taken = Some(core::mem::take(&mut self.taken));
        let result = alloc.with_own_regions(&mut self.own, work);
        self.taken = alloc.slots.taken.take().unwrap_or_default();
        result
    }

    /// Counts a piece begun at time-stamp counter value `began` (its ticks in
    /// [`Building::ticks`] unless it moved capabilities into the keeper).
    fn count(&mut self, began: u64) {
        let ticks = crate::clock::tsc().saturating_sub(began);
        if !matches!(self.stage, Stage::Stow { stowed: 1.., .. } | Stage::Memory { .. }) {
            self.ticks = self.ticks.saturating_add(ticks);
        }
        self.piece_ticks.push(ticks);
    }

    /// Pages of the domain's segments, stack and heap.
    pub(super) fn pages(&self) -> u64 {
        self.pages
    }

    /// Each piece's time-stamp ticks so far, in order.
    pub(super) fn piece_ticks(&self) -> &[u64] {
        &self.piece_ticks
    }

    /// Makes its last piece start its thread at priority 0 (below every domain, its declared
    /// budget kept) instead of its declared priority: a seat built in pieces, whose
    /// start-up must not run before its manager's step ends (its manager raises it,
    /// `SeatSchedule`).
    pub(super) fn start_at_priority_0(&mut self) {
        self.start_low = true;
    }
}

/// Before a build's thread starts: priority 0 for it if `low` (returned, for its lines), else
/// its declared priority stays (`None`). The root server holds every domain's thread with
/// the highest MCP, so the kernel refusing is not expected; it fails the build.
fn start_priority(tcb: u64, low: bool) -> Result<Option<u8>, loader::LoadError> {
    if !low {
        return Ok(None);
    }
    Tcb::from_cptr(tcb)
        .invoke(TcbSetPriority { priority: 0, authority: CPtr(slot::TCB) })
        .map(|_| Some(0))
        .map_err(|error| loader::LoadError::Kernel("set its start priority", error))
}

/// Device untyped regions not yet used, from which frames at given physical addresses are
/// cut: a region containing the address is split in halves until a 4 KiB piece remains.
pub struct DevicePool {
    /// (slot, physical address, log2 size) of free device untyped.
    free: Vec<(u64, u64, u32)>,
}

impl DevicePool {
    /// Every device untyped region of the boot information, all free.
    pub(super) fn new(info: &BootInfo) -> DevicePool {
        let count = (info.untyped.end - info.untyped.start) as usize;
        let free = info.untyped_list[..count]
            .iter()
            .enumerate()
            .filter(|(_, u)| u.is_device != 0)
            .map(|(i, u)| (info.untyped.start + i as u64, u.paddr, u32::from(u.size_bits)))
            .collect();
        DevicePool { free }
    }

    /// Deletes every device untyped region no device uses; returns the slots deleted (one
    /// that cannot be deleted is kept and named).
    fn drop_free(&mut self) -> Vec<u64> {
        let mut dropped = Vec::new();
        for &(untyped, ..) in &self.free {
            match CNode::ROOT.invoke(CNodeDelete { slot: Slot::at(untyped) }) {
                Ok(_) => dropped.push(untyped),
                Err(error) => println!("rootserver: unused device untyped in slot {untyped} kept: {error:?}"),
            }
        }
        self.free.clear();
        dropped
    }

    /// A frame capability for the device page at `paddr`, or `None` if no free device
    /// untyped covers it.
    pub fn frame(&mut self, alloc: &mut Allocator, paddr: u64) -> Option<u64> {
        let position = self.free.iter().position(|&(_, base, bits)| paddr >= base && paddr - base < 1 << bits)?;
        let (mut untyped, mut base, mut bits) = self.free.swap_remove(position);
        while bits > 12 {
            let halves = [alloc.slots.try_take().ok()?, alloc.slots.try_take().ok()?];
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
        let frame = alloc.slots.try_take().ok()?;
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
    /// The tile's shared objects and each domain's memory, sized by its footprint
    /// (`capacities`: what its program's segments and heap may take, for seats). A domain
    /// that does not fit in what is left of the RAM, or whose objects would not fit in the
    /// root server's CNode, is refused here and logged (`domain.refused`); its build fails
    /// with the reason, and the boot carries on with the rest.
    pub(super) fn new(
        alloc: &mut Allocator,
        mut devices: DevicePool,
        description: &'d SystemDescription,
        capacities: &[u64],
        footprints: &[Footprint],
        limits: AdmissionLimits,
    ) -> Tile<'d> {
        let shared = |alloc: &mut Allocator, object: ObjectType, what: &str| {
            alloc.object(object, 0).unwrap_or_else(|error| stop(format_args!("no memory for the tile's shared objects ({what}): {error}")))
        };
        let supervisor = shared(alloc, ObjectType::Endpoint, "the supervisor endpoint");
        // The endpoint served by the supervisor is the supervisor's own endpoint.
        let endpoints: Vec<u64> = description
            .endpoints
            .iter()
            .map(
                |endpoint| {
                    if endpoint.server == Server::Supervisor { supervisor } else { shared(alloc, ObjectType::Endpoint, &endpoint.name) }
                },
            )
            .collect();
        let notifications = description.notifications.iter().map(|n| shared(alloc, ObjectType::Notification, &n.name)).collect();
        // Each region's frames are retyped in order from an untyped of their own, so they are
        // physically contiguous (a retype makes at most 256 objects: larger regions take
        // several retypes from the same untyped, which continue at its watermark).
        let regions = description
            .shared_regions
            .iter()
            .map(|region| {
                let pages = region.size / 4096;
                let bits = u64::from(64 - (region.size - 1).leading_zeros()).max(12);
                let memory = alloc.object(ObjectType::Untyped, bits).unwrap_or_else(|error| {
                    stop(format_args!("shared region \"{}\": no {} KiB of memory: {error}", region.name, region.size / 1024))
                });
                let fresh = alloc.slots.end - alloc.slots.next;
                if fresh < pages {
                    stop(format_args!("shared region \"{}\": {pages} pages need as many slots, {fresh} are left", region.name));
                }
                let first = alloc.slots.next;
                alloc.slots.next += pages;
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
        if let Err(error) = loader::prepare_scratch(alloc) {
            stop(format_args!("the root server's scratch mapping: {error}"));
        }
        let mut states: Vec<DomainState> = description
            .domains
            .iter()
            .enumerate()
            .map(|(index, _)| DomainState {
                memory: Vec::new(),
                keeper: Keeper::default(),
                footprint: footprints[index],
                refused: None,
                generation: 0,
                restarts: 0,
                fault_endpoint: 0,
                shared_copies: Vec::new(),
                slots_used: Vec::new(),
                state: State::Stopped,
                capacity: capacities[index],
                ever_started: false,
                tcb: 0,
                faults: 0,
                retired_cpu: ConsumedTime::default(),
                immunity: None,
            })
            .collect();
        // Made before admission, which counts the heap left after them.
        let withdrawn = description.endpoints.iter().map(|_| false).collect();
        let links = tileos_sysdesc::links::links(description);
        admit(alloc, description, &mut states, limits);
        for (index, state) in states.iter_mut().enumerate().filter(|(_, state)| state.refused.is_none()) {
            let minted = alloc.slots.try_take().map_err(|e| loader::LoadError::Alloc("fault endpoint", e)).and_then(|fault_endpoint| {
                CNode::ROOT
                    .invoke(CNodeMint {
                        dest: Slot::at(fault_endpoint),
                        src: Slot::at(supervisor),
                        rights: Rights::ALL,
                        badge: index as u64 + 1,
                        src_root: CPtr(slot::CNODE),
                    })
                    .map(|_| fault_endpoint)
                    .map_err(|e| loader::LoadError::Kernel("fault endpoint", e))
            });
            match minted {
                Ok(fault_endpoint) => state.fault_endpoint = fault_endpoint,
                Err(error) => refuse(description, index, state, error),
            }
        }
        let device_frames = description
            .device_memory
            .iter()
            .map(|device| {
                // Each page takes a slot: a region larger than the slots left stops here,
                // before its list is made (sized by the description: up to 2^28 pages).
                let (pages, free) = (device.size / 4096, alloc.slots.free());
                if pages > free {
                    stop(format_args!("device memory \"{}\": its {pages} pages need as many slots, {free} are left", device.name));
                }
                (0..pages)
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
        Tile { description, supervisor, endpoints, notifications, regions, device_frames, devices, pci, states, withdrawn, links }
    }

    /// Waits, before building the first driver of a PCI device, for the bus report of the
    /// `pci` domain `index`; a fault of that domain ends the wait (the drivers of PCI devices
    /// are then not started: the domain may be restarted, but drivers are only built at
    /// boot). Other faults are kept in `deferred` for the supervisor loop.
    pub(super) fn wait_for_bus(&mut self, index: usize, deferred: &mut Vec<tileos_sys::Message>) {
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
                event!("pci.unreported", domain = self.description.domains[index].name);
                return;
            }
        }
    }

    /// Once every domain is started, deletes the capabilities the root server will not need
    /// again, and logs what it drops and what it keeps and why: memory nothing was retyped
    /// from, device memory no device uses, IRQ and IO-port control when no restartable
    /// domain needs interrupts or ports, and the fault-endpoint copies of domains that are
    /// never rebuilt. What stays serves restarts: each restartable domain's memory region, the
    /// boot archive with its program, the shared objects to grant again, and its working
    /// untyped region. Then checks that every dropped slot fails lookup.
    pub(super) fn drop_boot_authority(&mut self, alloc: &mut Allocator) {
        let d = self.description;
        // Seats are built again whenever their manager starts a module.
        let restartable = |index: usize| matches!(d.domains[index].restart, RestartPolicy::Always { .. }) || d.seat(index as u32).is_some();
        let mut dropped: Vec<String> = Vec::new();
        let (mut dropped_slots, bytes) = alloc.drop_spare_memory();
        let spare_regions = dropped_slots.len();
        if spare_regions > 0 {
            dropped.push(format!("{spare_regions} untyped regions of unused memory ({} KiB)", bytes / 1024));
        }
        let devices = if self.pci.all_located() { self.devices.drop_free() } else { Vec::new() };
        let device_regions = devices.len();
        if device_regions > 0 {
            dropped.push(format!("{device_regions} untyped regions of unused device memory"));
        }
        dropped_slots.extend(devices);
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
                match CNode::ROOT.invoke(CNodeDelete { slot: Slot::at(control) }) {
                    Ok(_) => {
                        dropped.push(String::from(name));
                        dropped_slots.push(control);
                    }
                    Err(error) => kept.push(format!("{name} (it could not be deleted: {error:?})")),
                }
            } else {
                kept.push(format!("{name} (to rebuild {})", users.join(", ")));
            }
        }
        let mut never = 0;
        for (index, state) in self.states.iter_mut().enumerate().filter(|&(i, _)| !restartable(i)) {
            if state.fault_endpoint != 0 {
                if let Err(error) = CNode::ROOT.invoke(CNodeDelete { slot: Slot::at(state.fault_endpoint) }) {
                    println!("rootserver: the fault endpoint copy of domain \"{}\" kept: {error:?}", d.domains[index].name);
                    continue;
                }
                dropped_slots.push(state.fault_endpoint);
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
        let (working, working_bytes) = alloc.working_region();
        kept.push(format!(
            "its working untyped region (slot {working}, {} KiB; the parent of every domain's region and the shared objects, and the memory of domains built after boot)",
            working_bytes / 1024
        ));
        // A dropped capability must be gone: any invocation of its slot fails lookup.
        let still_working: Vec<u64> = dropped_slots
            .iter()
            .copied()
            .filter(|&slot| !matches!(tileos_sys::invoke(slot, Label::UntypedRetype, &[], &[]), Err(e) if e.code == Some(InvocationError::FailedLookup)))
            .collect();
        if !still_working.is_empty() {
            println!("rootserver: dropped capabilities still answer in slots {still_working:?} (AUTHORITY KEPT)");
        }
        println!("rootserver: boot done; dropped {}", if dropped.is_empty() { String::from("nothing") } else { dropped.join(", ") });
        println!("rootserver: keeps {}", kept.join("; "));
        let users = |names: &Vec<&str>| if names.is_empty() { String::from("none") } else { names.join(",") };
        event!(
            "tile.boot-done",
            restartable = rebuilt,
            never_rebuilt = never,
            spare_regions = spare_regions,
            device_regions = device_regions,
            irq_control = users(&interrupts),
            io_port_control = users(&ports),
            dropped_caps = dropped_slots.len(),
            still_working = still_working.len(),
            working_region_kib = working_bytes / 1024
        );
    }

    /// Builds domain `index` from its memory and starts it, then moves its pieces and what
    /// the build made into its keeper, so that it holds only its keeper, TCB and fault
    /// endpoint in the root server's CNode; a failed build is destroyed again (its slots
    /// given back), and a domain refused at boot ([`Tile::new`]) fails with the reason.
    /// [`Tile::begin`] and its pieces, all in one go.
    pub(super) fn start(&mut self, alloc: &mut Allocator, index: usize, elf: &[u8]) -> Result<(), loader::LoadError> {
        let mut building = self.begin(alloc, index, elf)?;
        loop {
            if self.build_piece(alloc, &mut building, elf)? == Piece::Started {
                return Ok(());
            }
        }
    }

    /// Begins building domain `index` from `elf` (its memory must hold nothing: a first
    /// build, or after [`Tile::destroy`]): the devices it is granted located, its pieces taken
    /// out of its keeper, its VSpace made. The rest is done by [`Tile::build_piece`], each
    /// piece bounded ([`PAGES_PER_PIECE`], [`STOWED_PER_PIECE`]), the domain stopped until the
    /// last; the root server may serve other requests between pieces. Whatever stops the
    /// build before its last piece must call [`Tile::abandon`] (a failed piece has already).
    pub(super) fn begin(&mut self, alloc: &mut Allocator, index: usize, elf: &[u8]) -> Result<Building, loader::LoadError> {
        if let Some(reason) = &self.states[index].refused {
            return Err(reason.clone());
        }
        let began = crate::clock::tsc();
        let exe = tileos_elf::parse(elf).map_err(loader::LoadError::Elf)?;
        // Located devices (and their frames) outlive the domain: not among its recycled slots.
        let state = &mut self.states[index];
        let ready = self
            .pci
            .locate_for(alloc, &mut self.devices, self.description, &self.regions, index)
            .and_then(|()| keeper::take_out(&mut state.keeper, alloc, &mut state.memory));
        if let Err(error) = ready {
            state.state = State::Stopped;
            return Err(error);
        }
        let domain = &self.description.domains[index];
        let mut building = Building {
            index,
            own: OwnRegions::new(&state.memory),
            taken: Vec::new(),
            stage: Stage::Pages(None),
            entry: exe.entry,
            pages: 0,
            ticks: 0,
            piece_ticks: Vec::new(),
            start_low: false,
        };
        let cnode_radix = domain.cnode_slots.trailing_zeros();
        let image = building.with(alloc, |alloc| loader::Image::begin(alloc, &exe, cnode_radix, domain.stack_size, domain.heap_size));
        match image {
            Ok(image) => {
                building.pages = image.progress().1;
                building.stage = Stage::Pages(Some(image));
                building.count(began);
                Ok(building)
            }
            Err(error) => Err(self.fail(alloc, building, error)),
        }
    }

    /// The next piece of `building` (begun by [`Tile::begin`] with the same `elf`): up to
    /// [`PAGES_PER_PIECE`] pages of its segments, stack and heap; then its grants, IPC
    /// buffer, information page, TCB and CNode; then up to
    /// [`STOWED_PER_PIECE`] of the capabilities it made moved into its keeper (its pieces
    /// with the first); then its `domain.memory` lines; last its thread started (at
    /// priority 0 if [`Building::start_at_priority_0`], else its declared priority) and its
    /// `domain.started` line. A piece
    /// that fails destroys what the build made (as a failed build always did) and returns
    /// why.
    pub(super) fn build_piece(&mut self, alloc: &mut Allocator, building: &mut Building, elf: &[u8]) -> Result<Piece, loader::LoadError> {
        let began = crate::clock::tsc();
        let index = building.index;
        let exe = tileos_elf::parse(elf).map_err(loader::LoadError::Elf);
        let result = match (core::mem::replace(&mut building.stage, Stage::Pages(None)), exe) {
            (_, Err(error)) => Err(error),
            (Stage::Pages(None), _) => Err(loader::LoadError::Layout(String::from("a build piece after a failed one"))),
            (Stage::Pages(Some(mut image)), Ok(exe)) => {
                building.with(alloc, |alloc| image.map_pages(alloc, &exe, PAGES_PER_PIECE)).map(|done| {
                    let (mapped, total) = image.progress();
                    building.stage = if done { Stage::Finish(image) } else { Stage::Pages(Some(image)) };
                    Piece::Building { mapped, total }
                })
            }
            (Stage::Finish(image), Ok(exe)) => self.finish(alloc, building, image, &exe).map(|(built, lines)| {
                building.stage = Stage::Stow { built, lines, stowed: 0 };
                Piece::Building { mapped: building.pages, total: building.pages }
            }),
            (Stage::Stow { built, lines, stowed }, Ok(_)) => {
                let state = &mut self.states[index];
                let made: Vec<u64> = building.taken.iter().copied().filter(|&s| s != built.tcb && !built.emptied.contains(&s)).collect();
                let end = stowed.saturating_add(STOWED_PER_PIECE).min(made.len());
                let batch = made.get(stowed..end).unwrap_or_default().iter().copied();
                keeper::stow(&mut state.keeper, alloc, batch, &state.memory).map(|()| {
                    if end == made.len() {
                        // Every copy is in the keeper now, destroyed with it.
                        state.shared_copies.clear();
                        state.slots_used = ::alloc_crate::vec![built.tcb];
                        alloc.slots.recycled.extend(building.taken.drain(..).filter(|&slot| slot != built.tcb));
                        state.tcb = built.tcb;
                        building.stage = Stage::Memory { built, lines };
                    } else {
                        building.stage = Stage::Stow { built, lines, stowed: end };
                    }
                    Piece::Building { mapped: building.pages, total: building.pages }
                })
            }
            (Stage::Memory { built, lines }, Ok(_)) => {
                let (state, domain) = (&self.states[index], &self.description.domains[index]);
                let (f, used) = (&state.footprint, lines.used);
                let kib = |bytes: u64| bytes.div_ceil(1024);
                println!(
                    "rootserver: domain \"{}\" memory: {} KiB: keeper {} KiB, {} KiB in {} pieces, {} KiB used (segments {}, stack {}, heap {}, IPC buffer {}, information page {}, CNode {}, TCB {}, paging {} KiB)",
                    domain.name,
                    kib(f.total()),
                    kib(f.keeper),
                    kib(f.built()),
                    state.memory.len(),
                    kib(used),
                    kib(f.segments),
                    kib(f.stack),
                    kib(f.heap),
                    kib(f.ipc_buffer),
                    kib(f.info_page),
                    kib(f.cnode),
                    kib(f.tcb),
                    kib(f.paging)
                );
                event!(
                    "domain.memory",
                    domain = domain.name,
                    bytes = f.built(),
                    used = used,
                    keeper = f.keeper,
                    beyond_segments = f.beyond_segments(),
                    pieces = state.memory.len()
                );
                building.stage = Stage::Announce { built, lines };
                Ok(Piece::Building { mapped: building.pages, total: building.pages })
            }
            (Stage::Announce { built, lines }, Ok(_)) => {
                // The lines of the start the next piece makes (its priority: 0 for a start
                // in pieces that asked for it, `start_priority`).
                let (state, domain) = (&self.states[index], &self.description.domains[index]);
                let priority = if building.start_low { 0 } else { domain.priority };
                println!(
                    "rootserver: started domain \"{}\" (priority {priority}{}, generation {}): {}",
                    domain.name,
                    domain.budget.map(|b| format!(", budget {} ms per {} ms", b.budget_ms, b.period_ms)).unwrap_or_default(),
                    state.generation,
                    lines.listed
                );
                event!(
                    "domain.started",
                    domain = domain.name,
                    priority = priority,
                    generation = state.generation,
                    capabilities = lines.capabilities,
                    budget = domain.budget.map(|b| format!("{}ms/{}ms", b.budget_ms, b.period_ms)).unwrap_or_else(|| String::from("none")),
                    grants = lines.fields,
                    build_ticks = building.ticks.saturating_add(crate::clock::tsc().saturating_sub(began))
                );
                building.stage = Stage::Release { built };
                Ok(Piece::Building { mapped: building.pages, total: building.pages })
            }
            (Stage::Release { built }, Ok(_)) => {
                start_priority(built.tcb, building.start_low).and_then(|_| loader::release(built.tcb, building.entry, 0)).map(|()| {
                    let state = &mut self.states[index];
                    state.state = State::Running;
                    state.ever_started = true;
                    building.piece_ticks.push(crate::clock::tsc().saturating_sub(began));
                    Piece::Started
                })
            }
        };
        match result {
            Ok(piece) => {
                if piece != Piece::Started {
                    building.count(began);
                }
                Ok(piece)
            }
            Err(error) => {
                let building = core::mem::replace(building, Building::ended(index));
                Err(self.fail(alloc, building, error))
            }
        }
    }

    /// Stops `building` before its last piece (its seat was asked for something else, or its
    /// manager faulted): destroys what it made, as a failed build's, and leaves the domain
    /// stopped.
    pub(super) fn abandon(&mut self, alloc: &mut Allocator, building: Building) {
        let index = building.index;
        let error = self.fail(alloc, building, loader::LoadError::Layout(String::new()));
        if let loader::LoadError::Layout(problem) = error
            && !problem.is_empty()
        {
            println!(
                "rootserver: what the abandoned build of \"{}\" took could not be reclaimed: {problem}",
                self.description.domains[index].name
            );
        }
    }

    /// Destroys what `building` made after `error` (or its abandon) and leaves the domain
    /// stopped; returns `error` (for an abandon, a `Layout` error naming what could not be
    /// reclaimed, empty if all was).
    fn fail(&mut self, alloc: &mut Allocator, mut building: Building, error: loader::LoadError) -> loader::LoadError {
        let index = building.index;
        let state = &mut self.states[index];
        state.state = State::Stopped;
        state.slots_used.append(&mut building.taken);
        if let Err(problem) = self.destroy(alloc, index) {
            let name = &self.description.domains[index].name;
            println!("rootserver: what the failed build of \"{name}\" took could not be reclaimed: {problem}");
            if matches!(&error, loader::LoadError::Layout(p) if p.is_empty()) {
                return loader::LoadError::Layout(format!("{problem}"));
            }
        }
        error
    }

    /// The piece of [`Tile::build_piece`] after the pages: the capabilities the description
    /// grants domain `index` (the copies and handlers they take), then the rest of its
    /// objects ([`loader::Image::finish`]); returns what the keeper does not take and what
    /// the lines of its start say.
    fn finish(
        &mut self,
        alloc: &mut Allocator,
        building: &mut Building,
        image: loader::Image,
        exe: &tileos_elf::Executable,
    ) -> Result<(Built, StartedLines), loader::LoadError> {
        let index = building.index;
        // The grants' copies are the root server's own slots, taken and recorded as the
        // build's (they go into the keeper with the rest).
        alloc.slots.taken = Some(core::mem::take(&mut building.taken));
        let granted = self.grants(alloc, index);
        building.taken = alloc.slots.taken.take().unwrap_or_default();
        let Granted { names, grants, params, mappings, region_list } = granted?;
        let region_list: Vec<(&str, u64, u64, u64)> =
            region_list.iter().map(|(name, vaddr, paddr, size)| (name.as_str(), *vaddr, *paddr, *size)).collect();
        let d = self.description;
        let domain = &d.domains[index];
        let grant_list: Vec<Grant> = grants
            .iter()
            .map(|&(source, rights, badge, moved, kind, n)| Grant { source, rights, badge, moved, kind, name: names[n].as_str() })
            .collect();
        let state = &self.states[index];
        let spec = Spec {
            name: &domain.name,
            elf: &[],
            priority: domain.priority,
            mcp: domain.mcp,
            stack_size: domain.stack_size,
            cnode_radix: domain.cnode_slots.trailing_zeros(),
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
        let spawned = building.with(alloc, |alloc| image.finish(alloc, exe, &spec))?;
        let used = building.own.used();
        let listed: Vec<String> = grant_list
            .iter()
            .map(|g| format!("{} {:?}{}", g.name, g.kind, if g.badge != 0 { format!(" badge {:#x}", g.badge) } else { String::new() }))
            .collect();
        let grant_fields: Vec<String> = grant_list
            .iter()
            .map(|g| format!("{}:{:?}{}", g.name, g.kind, if g.badge != 0 { format!(":{:#x}", g.badge) } else { String::new() }))
            .collect();
        let lines = StartedLines {
            used,
            listed: if listed.is_empty() { String::from("no capabilities") } else { listed.join(", ") },
            fields: if grant_fields.is_empty() { String::from("none") } else { grant_fields.join(",") },
            capabilities: grant_list.len(),
        };
        let emptied = grant_list.iter().filter(|g| g.moved).map(|g| g.source).collect();
        Ok((Built { tcb: spawned.tcb, emptied }, lines))
    }

    /// The capabilities the description grants domain `index`, with the root-server copies
    /// and objects they need (badged notifications for its IRQ handlers, its IO ports, the
    /// frames of its shared regions and device memory, its PCI devices').
    fn grants(&mut self, alloc: &mut Allocator, index: usize) -> Result<Granted, loader::LoadError> {
        let d = self.description;
        let domain = &d.domains[index];
        let mut names: Vec<String> = Vec::new();
        let mut grants: Vec<(u64, Rights, u64, bool, CapKind, usize)> = Vec::new();
        let mut params: Vec<ParamEntry> = Vec::new();
        let name_of = |names: &mut Vec<String>, text: String| {
            names.push(text);
            names.len() - 1
        };
        let links = &self.links[index];
        for &(e, role) in &links.endpoints {
            let endpoint = &d.endpoints[e as usize];
            let client = match role {
                EndpointRole::Serves => {
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
                    grants.push((self.endpoints[e as usize], Rights::ALL, 0, false, CapKind::ServedEndpoint, n));
                    continue;
                }
                EndpointRole::Calls(c) => &endpoint.clients[c as usize],
            };
            if self.withdrawn[e as usize] {
                println!("rootserver: domain \"{}\": endpoint \"{}\" not granted: its server did not start", domain.name, endpoint.name);
                continue;
            }
            // Supervisor clients' badges carry the bit no fault badge has.
            let mark = if endpoint.server == Server::Supervisor { SUPERVISOR_CLIENT_BIT } else { 0 };
            let n = name_of(&mut names, domain.local_name(&endpoint.name).into());
            let rights = Rights(Rights::WRITE.0 | Rights::GRANT_REPLY.0);
            grants.push((self.endpoints[e as usize], rights, client.badge | mark, false, CapKind::ClientEndpoint, n));
        }
        for &(n_index, role) in &links.notifications {
            let notification = &d.notifications[n_index as usize];
            let n = name_of(&mut names, domain.local_name(&notification.name).into());
            let (rights, badge, kind) = match role {
                NotificationRole::Waits => (Rights::READ, 0, CapKind::WaitNotification),
                NotificationRole::Signals(s) => (Rights::WRITE, notification.signallers[s as usize].badge, CapKind::SignalNotification),
            };
            grants.push((self.notifications[n_index as usize], rights, badge, false, kind, n));
        }
        for irq in d.irqs.iter().filter(|irq| irq.domain as usize == index) {
            let handler = alloc.slots.try_take().map_err(|e| loader::LoadError::Alloc("IRQ handler", e))?;
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
            let badged = alloc.slots.try_take().map_err(|e| loader::LoadError::Alloc("IRQ notification", e))?;
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
            let range = alloc.slots.try_take().map_err(|e| loader::LoadError::Alloc("IO ports", e))?;
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
        let mut region_list: Vec<(String, u64, u64, u64)> = Vec::new();
        for (r, region) in d.shared_regions.iter().enumerate() {
            for mapping in region.mappings.iter().filter(|m| m.domain as usize == index) {
                let (rights, attributes) = match mapping.rights {
                    MapRights::Read => (Rights::READ, 0),
                    MapRights::ReadWrite => (Rights::ALL, 0),
                    MapRights::ReadExecute => (Rights::READ, frame_attributes::EXECUTABLE),
                };
                let paddr = Frame::from_cptr(self.regions[r][0]).invoke(FrameGetAddress {}).map(|reply| reply.words[0]).unwrap_or(0);
                region_list.push((domain.local_name(&region.name).into(), mapping.vaddr, paddr, region.size));
                for (page, &frame) in self.regions[r].iter().enumerate() {
                    let copy = alloc.slots.try_take().map_err(|e| loader::LoadError::Alloc("shared region", e))?;
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
            region_list.push((domain.local_name(&device.name).into(), device.vaddr, device.paddr, device.size));
            for (page, &frame) in self.device_frames[m].iter().enumerate() {
                let copy = alloc.slots.try_take().map_err(|e| loader::LoadError::Alloc("device memory", e))?;
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
        region_list.extend(granted.regions);
        Ok(Granted { names, grants, params, mappings, region_list })
    }

    /// Kills domain `index` now, as after a fault: destroys everything it had and counts a
    /// restart; returns when to build it again (after its back-off), or that its restart
    /// budget is used up.
    pub(super) fn kill_for_restart(&mut self, alloc: &mut Allocator, index: usize) -> Kill {
        let (max_restarts, backoff_ms) = match self.description.domains[index].restart {
            RestartPolicy::Always { max_restarts, backoff_ms } => (max_restarts, backoff_ms),
            RestartPolicy::Never => (0, 0),
        };
        let name = &self.description.domains[index].name;
        // Its thread's consumed time goes with it: keep the count.
        let consumed = self.states[index].consumed();
        self.states[index].retired_cpu = consumed;
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
    /// from its memory (its thread stops at once; callers waiting for its replies
    /// get a lost reply). Its memory pieces and keeper stay, for its next build.
    pub(super) fn destroy(&mut self, alloc: &mut Allocator, index: usize) -> Result<(), loader::LoadError> {
        let state = &mut self.states[index];
        for copy in state.shared_copies.drain(..) {
            CNode::ROOT.invoke(CNodeDelete { slot: Slot::at(copy) }).map_err(|e| loader::LoadError::Kernel("unmap shared region", e))?;
        }
        keeper::destroy(&mut state.keeper, alloc, &state.memory)?;
        alloc.slots.recycled.append(&mut state.slots_used);
        Ok(())
    }

    /// Withdraws the endpoints domain `index` serves, which did not start and will not run:
    /// deleting every capability to them destroys them, so that a client already waiting in
    /// a call gets it aborted and a later call fails at once (both are
    /// `ProtocolError::NoServer` to `tileos_sys::rpc`), instead of waiting forever; clients
    /// started afterwards are not granted them. Says so, naming the clients.
    pub(super) fn withdraw_endpoints(&mut self, index: usize) {
        let d = self.description;
        for e in self.links[index].served() {
            let (e, endpoint) = (e as usize, &d.endpoints[e as usize]);
            if self.withdrawn[e] {
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
                    let names: Vec<&str> = endpoint.clients.iter().map(|c| d.domains[c.domain as usize].name.as_str()).collect();
                    event!(
                        "endpoint.withdrawn",
                        endpoint = endpoint.name,
                        server = d.domains[index].name,
                        clients = if names.is_empty() { String::from("none") } else { names.join(",") }
                    );
                }
                Err(error) => println!("rootserver: endpoint \"{}\" could not be withdrawn: {error:?}", endpoint.name),
            }
        }
    }

    /// Builds domain `index` again after [`Tile::kill_for_restart`]; if that fails (no slot
    /// left, say), withdraws the endpoints it serves.
    pub(super) fn rebuild(&mut self, alloc: &mut Allocator, index: usize, elf: &[u8]) -> Result<(), loader::LoadError> {
        let state = &mut self.states[index];
        state.generation += 1;
        state.restarts += 1;
        let result = self.start(alloc, index, elf);
        if result.is_err() {
            // It will not run again: its clients are told, as for a server that never started.
            self.withdraw_endpoints(index);
        }
        result
    }
}
