//! The compiled system description of a tile and the boot archive that carries it.
//!
//! The image builder (`tools/imagebuild`) reads the human-written `tile.toml`, validates it and
//! compiles it into a [`SystemDescription`]: every name reference is resolved to an index, every
//! number has its final type. The description is encoded with postcard ([`SystemDescription::encode`])
//! and stored, together with every domain's ELF, in a [boot archive](archive). The root server
//! finds the archive among the boot modules, parses it with [`archive::Archive::parse`], decodes
//! the description with [`SystemDescription::decode`] and validates it once more with
//! [`SystemDescription::check`] before building any domain: [`load`] does all three. None of
//! these functions panics on malformed input; each returns a precise error.
//!
//! The format of `tile.toml`, every field and every validation rule are described in
//! `docs/system-description.md`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod archive;
mod check;
pub mod footprint;
pub mod links;
mod pieces;

pub use pieces::read_in_pieces;

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

pub use check::{CheckError, Item};
pub use tileos_slots::{Comparator, Ratio, SlotPolicy};

/// Size of a page: every size, virtual address and physical address in a description is a
/// multiple of it.
pub const PAGE_SIZE: u64 = 4096;
/// First virtual address above the user half of the address space: every mapping ends at or
/// below it.
pub const USER_TOP: u64 = 0x0000_8000_0000_0000;
/// Lowest virtual address a mapping may start at (the first 64 KiB stay unmapped so that
/// null-pointer accesses fault).
pub const MIN_VADDR: u64 = 0x1_0000;
/// First physical address above what x86_64 can address (52 bits): device memory ends at or
/// below it.
pub const PHYS_TOP: u64 = 1 << 52;
/// Largest stack, heap or region size accepted (1 TiB): larger values are certainly mistakes
/// and keep every address computation far from overflow.
pub const MAX_SIZE: u64 = 1 << 40;
/// Highest IOAPIC input pin (the standard IOAPIC has 24 pins).
pub const MAX_IOAPIC_PIN: u8 = 23;
/// Number of bits in a notification word (and in a badge).
pub const NOTIFICATION_BITS: u8 = 64;
/// Longest name of a tile, domain, channel or memory region, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest scheduling period of a domain, in milliseconds (one minute).
pub const MAX_PERIOD_MS: u32 = 60_000;

/// Index of a domain in [`SystemDescription::domains`].
pub type DomainId = u32;
/// Index of a notification in [`SystemDescription::notifications`].
pub type NotificationId = u32;
/// Index of an endpoint in [`SystemDescription::endpoints`].
pub type EndpointId = u32;

/// A whole tile: its domains and every capability they are granted.
///
/// Domains refer to their programs by boot-archive entry index; everything else refers to
/// domains and notifications by index into the vectors below.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemDescription {
    /// Name of the tile (shown in the boot log).
    pub name: String,
    /// The domains, in declaration order; the root server starts them by priority.
    pub domains: Vec<Domain>,
    /// Call endpoints: one server, badged clients.
    pub endpoints: Vec<Endpoint>,
    /// Notifications: one waiter, signallers with badge bits.
    pub notifications: Vec<Notification>,
    /// Memory regions shared between domains.
    pub shared_regions: Vec<SharedRegion>,
    /// Device memory (MMIO) granted to a domain.
    pub device_memory: Vec<DeviceMemory>,
    /// IOAPIC interrupts delivered to a domain's notification.
    pub irqs: Vec<Irq>,
    /// IO port ranges granted to a domain.
    pub io_ports: Vec<IoPortRange>,
    /// PCI functions granted to driver domains (located by the `pci` domain at boot).
    pub pci_devices: Vec<PciDevice>,
    /// Shadow-execution slots fronting service endpoints (`docs/slots.md`); their managers
    /// and seats are among `domains`.
    pub slots: Vec<Slot>,
    /// The tile's federation node (`[federation]`, docs/federation.md "The federation
    /// domain"), if it runs one.
    pub federation: Option<Federation>,
}

/// One isolated capability domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// Unique name (logs, fault reports, supervisor messages).
    pub name: String,
    /// Index of the domain's ELF in the boot archive (never 0: entry 0 is the description).
    pub program: u32,
    /// Scheduling priority of the domain's thread, 0 (lowest) to 255.
    pub priority: u8,
    /// Maximum controlled priority: the highest priority the domain may give a thread.
    /// At least [`Domain::priority`].
    pub mcp: u8,
    /// Stack size in bytes (a non-zero multiple of [`PAGE_SIZE`]; a guard page is added below).
    pub stack_size: u64,
    /// Heap size in bytes (a multiple of [`PAGE_SIZE`], possibly zero).
    pub heap_size: u64,
    /// Slots of the domain's CNode: a power of two from [`MIN_CNODE_SLOTS`] to
    /// [`DEFAULT_CNODE_SLOTS`] (the default) with room for its own 4 capabilities and every one
    /// it is granted; a program that saves reply capabilities or receives capabilities in
    /// free slots of its CNode (the slot manager, the seat harness) needs the default.
    pub cnode_slots: u32,
    /// What the supervisor does when the domain faults.
    pub restart: RestartPolicy,
    /// CPU-time limit of the domain's thread; `None`: unlimited.
    pub budget: Option<Budget>,
    /// Local names (`names = { LOCAL = "NAME" }`): the capability or region the
    /// description calls `NAME` appears on this domain's information page as `LOCAL`, so that
    /// a second domain of the same program (which asks for, say, "echo") can be given
    /// endpoint "echo2". Pairs (local, description name); locals are unique and at most
    /// [`MAX_LOCAL_NAME_LEN`] bytes.
    pub names: Vec<(String, String)>,
}

/// Fewest slots of a domain's CNode ([`Domain::cnode_slots`]).
pub const MIN_CNODE_SLOTS: u32 = 8;
/// Slots of a domain's CNode unless its description says fewer: 256, the most
/// ([`tileos_abi::bootinfo::domain::CNODE_RADIX`]).
pub const DEFAULT_CNODE_SLOTS: u32 = 1 << tileos_abi::bootinfo::domain::CNODE_RADIX;

/// Longest local name of a capability (the information page's name field).
pub const MAX_LOCAL_NAME_LEN: usize = 31;

impl Domain {
    /// The name this domain's information page gives the item the description calls `name`:
    /// its local name if `names` renames it, else `name` itself.
    pub fn local_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.names.iter().find(|(_, global)| global == name).map_or(name, |(local, _)| local.as_str())
    }

    /// The description's name for what this domain calls `local` (the inverse of
    /// [`Domain::local_name`]).
    pub fn description_name<'a>(&'a self, local: &'a str) -> &'a str {
        self.names.iter().find(|(l, _)| l == local).map_or(local, |(_, global)| global.as_str())
    }
}

/// A scheduling budget: the domain runs at most `budget_ms` in every `period_ms`
/// (`1 ≤ budget_ms ≤ period_ms ≤` [`MAX_PERIOD_MS`]); the root server rounds both up to
/// kernel timer ticks. Lower priorities get the rest of each period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// CPU time per period, in milliseconds.
    pub budget_ms: u32,
    /// Length of the period, in milliseconds.
    pub period_ms: u32,
}

/// What the supervisor does when a domain faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    /// The domain stays stopped; the fault is logged.
    Never,
    /// The domain is restarted with fresh memory, at most `max_restarts` times, waiting
    /// `backoff_ms` milliseconds before each restart; then the supervisor gives up and logs why.
    Always {
        /// Number of restarts before giving up (at least 1).
        max_restarts: u32,
        /// Delay before each restart, in milliseconds.
        backoff_ms: u32,
    },
}

/// Name that `server` takes in `tile.toml` for the root server's supervisor: an endpoint
/// served by it lets its clients speak the supervisor control protocol
/// (`tileos_protocol::supervisor`). No domain may have this name.
pub const SUPERVISOR: &str = "supervisor";

/// Badge bit the root server sets on every supervisor client capability, so that client
/// calls never collide with the per-domain fault badges (domain index + 1). Supervisor
/// client badges in a description must therefore be below it.
pub const SUPERVISOR_CLIENT_BIT: u64 = 1 << 63;

/// Who receives on an [`Endpoint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Server {
    /// A domain of the tile.
    Domain(DomainId),
    /// The root server's supervisor (`server = "supervisor"`); at most one endpoint per tile.
    Supervisor,
}

impl Server {
    /// The serving domain, or `None` for the supervisor.
    pub fn domain(self) -> Option<DomainId> {
        match self {
            Server::Domain(id) => Some(id),
            Server::Supervisor => None,
        }
    }
}

/// A call endpoint: the server receives, every client gets a badged capability to call it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Unique endpoint name.
    pub name: String,
    /// Who receives on the endpoint: a domain, or the supervisor.
    pub server: Server,
    /// The domains that may call it, each with its own badge.
    pub clients: Vec<Client>,
}

/// A client of an [`Endpoint`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// The calling domain.
    pub domain: DomainId,
    /// Badge the server sees on this client's calls (non-zero, unique on the endpoint).
    pub badge: u64,
    /// What the client may ask; only the supervisor distinguishes ([`Access::StatusOnly`]
    /// is refused on other endpoints).
    pub access: Access,
    /// Per-client parameters of the endpoint (`params = { NAME = VALUE }`), delivered to the
    /// server's information page, where it looks them up by endpoint, badge and name (such
    /// as the disk window of a block client). At most [`MAX_CLIENT_PARAMS`] per client and
    /// [`MAX_SERVER_PARAMS`] over all clients of the endpoints one domain serves.
    pub params: Vec<Param>,
}

/// One endpoint parameter of a [`Client`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// Name: 1..=[`MAX_PARAM_NAME_LEN`] bytes of `[a-z0-9_]`, starting with a letter, unique
    /// in its client entry.
    pub name: String,
    /// Value.
    pub value: u64,
}

/// Longest endpoint parameter name (the information page's name field).
pub const MAX_PARAM_NAME_LEN: usize = 15;
/// Most parameters of one client entry.
pub const MAX_CLIENT_PARAMS: usize = 8;
/// Most parameters over all clients of the endpoints one domain serves (the information
/// page's table).
pub const MAX_SERVER_PARAMS: usize = 16;

/// What a client of the supervisor endpoint may ask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    /// Every request of the endpoint's protocol (`access = "full"`, the default).
    #[default]
    Full,
    /// Only what reads state: the supervisor's `Status` (`access = "status"`), so that a
    /// status display cannot restart domains.
    StatusOnly,
}

/// A notification: the waiter waits on it, every signaller gets a badged capability that
/// sets its badge bits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique notification name.
    pub name: String,
    /// The domain that waits.
    pub waiter: DomainId,
    /// The domains that signal it.
    pub signallers: Vec<Signaller>,
}

/// A signaller of a [`Notification`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signaller {
    /// The signalling domain.
    pub domain: DomainId,
    /// Bits this signaller sets in the waiter's notification word (non-zero; disjoint from
    /// every other signaller's and every IRQ's bits on the same notification).
    pub badge: u64,
}

/// A memory region shared between domains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedRegion {
    /// Unique region name.
    pub name: String,
    /// Size in bytes (a non-zero multiple of [`PAGE_SIZE`]).
    pub size: u64,
    /// Where the region appears in each domain that maps it.
    pub mappings: Vec<Mapping>,
}

/// One domain's view of a [`SharedRegion`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// The domain.
    pub domain: DomainId,
    /// Page-aligned virtual address of the region in that domain.
    pub vaddr: u64,
    /// Access rights.
    pub rights: MapRights,
}

/// Access rights of a mapping. Writable and executable together is not expressible (W^X).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MapRights {
    /// Read only (`"r"`).
    Read,
    /// Read and write (`"rw"`).
    ReadWrite,
    /// Read and execute (`"rx"`).
    ReadExecute,
}

/// Device memory (MMIO) granted to one domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMemory {
    /// Unique name of the device memory range.
    pub name: String,
    /// Page-aligned physical address.
    pub paddr: u64,
    /// Size in bytes (a non-zero multiple of [`PAGE_SIZE`]).
    pub size: u64,
    /// The domain that maps it (read-write, never executable).
    pub domain: DomainId,
    /// Page-aligned virtual address in that domain.
    pub vaddr: u64,
    /// Map uncached (the normal case for device registers).
    pub uncached: bool,
}

/// An IOAPIC interrupt delivered as a notification bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Irq {
    /// IOAPIC input pin, 0..=[`MAX_IOAPIC_PIN`], each routed at most once.
    pub pin: u8,
    /// Edge or level triggered.
    pub trigger: Trigger,
    /// Active high or low.
    pub polarity: Polarity,
    /// The domain that handles it (gets the IRQHandler capability).
    pub domain: DomainId,
    /// The notification it signals; its waiter is `domain`.
    pub notification: NotificationId,
    /// The bit it sets in the notification word (0..64).
    pub bit: u8,
}

/// Longest name of a [`PciDevice`]: its capabilities are named "&lt;name&gt;.bar5", "&lt;name&gt;.msi"
/// and "&lt;name&gt;.pci" in the domain information page (31 bytes at most).
pub const MAX_PCI_NAME_LEN: usize = 24;

/// MSI slots the kernel offers: at most this many PCI devices can have an interrupt.
pub const MSI_SLOTS: usize = 16;

/// A PCI function granted to one driver domain. The description names it by class code,
/// not by address: at boot the root server asks the `pci` domain (over the endpoint named
/// "pci") where it is, maps every memory BAR into the domain's window, issues the IO ports
/// of every IO BAR, and gives the domain an MSI handler and a capability to the `pci`
/// endpoint badged with the function's address (so the driver can enable that function,
/// and only that one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciDevice {
    /// Unique name, at most [`MAX_PCI_NAME_LEN`] bytes; prefixes the capability and region
    /// names the driver finds ("&lt;name&gt;.bar0", "&lt;name&gt;.msi", "&lt;name&gt;.pci").
    pub name: String,
    /// 24-bit class code: class, subclass, programming interface.
    pub class: u32,
    /// Vendor ID the function must have (a driver for one device family names it).
    pub vendor: Option<u16>,
    /// Device ID the function must have.
    pub device: Option<u16>,
    /// Which function of that class (and IDs) it is (0: the first in enumeration order).
    pub index: u32,
    /// The driver domain.
    pub domain: DomainId,
    /// Page-aligned start of the virtual window the memory BARs are mapped into (in BAR
    /// order, each at the next multiple of its size, uncached).
    pub vaddr: u64,
    /// Size of that window in bytes; the root server refuses a device whose BARs do not fit.
    pub window: u64,
    /// Where MSI-X vector 0 of the device is delivered, if anywhere.
    pub interrupt: Option<PciInterrupt>,
}

/// The notification bit a PCI device's message-signalled interrupt sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciInterrupt {
    /// The notification; its waiter is the device's domain.
    pub notification: NotificationId,
    /// The bit it sets (0..64).
    pub bit: u8,
}

/// Interrupt trigger mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    /// Edge triggered (ISA devices).
    Edge,
    /// Level triggered (PCI INTx).
    Level,
}

/// Interrupt polarity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Polarity {
    /// Active high (ISA devices).
    High,
    /// Active low (PCI INTx).
    Low,
}

/// An inclusive range of IO ports granted to one domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoPortRange {
    /// First port.
    pub first: u16,
    /// Last port (inclusive, at least `first`).
    pub last: u16,
    /// The domain that gets the IOPort capability.
    pub domain: DomainId,
}

/// A shadow-execution slot (`[[slot]]`, `docs/slots.md`): the slot manager will own the
/// front of `endpoint`, deliver the incumbent's answers and mirror every request to the
/// challengers installed at run time, promoting and rolling back under `policy`
/// (`tileos_slots`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Unique slot name (logs, the update log, tilectl).
    pub name: String,
    /// The service endpoint the slot fronts; served by `incumbent`, at most one slot each.
    pub endpoint: EndpointId,
    /// Name of the endpoint's protocol: which protocol crate's equivalence compares answers
    /// (for [`Comparator::Equivalent`]) and exports and imports state at promotion.
    pub protocol: String,
    /// The domain running the incumbent program (it serves `endpoint`).
    pub incumbent: DomainId,
    /// How a challenger's answer is compared with the incumbent's.
    pub comparator: Comparator,
    /// Evidence for promotion, the rollback window and the challenger limit; times in
    /// microseconds ([`tileos_slots::Ticks`]).
    pub policy: SlotPolicy,
    /// Scheduling of every challenger: at most the incumbent's priority, always under a budget.
    pub challenger: ChallengerSchedule,
    /// Names of the description's endpoints, notifications, shared regions and device memory a
    /// challenger may hold: each is held by the incumbent; unique.
    pub allowance: Vec<String>,
    /// N-version mode, if declared.
    pub n_version: Option<Lineages>,
    /// The slot's manager domain (`<slot>.manager`, added by the image builder): it serves
    /// `endpoint`, is a client of the supervisor endpoint with seat authority for this slot
    /// only, and waits on `seat_faults`.
    pub manager: DomainId,
    /// The seats' domains, seat `k` at index `k`: seat 0 is `incumbent`, seats 1.. are the
    /// domains `<slot>.seat<k>` the image builder added (restart policy never, the
    /// challenger schedule, the allowance's capabilities). Every seat is a client of
    /// `endpoint` badged [`SEAT_BADGE`]` | k` under the local name [`SEAT_ENDPOINT_NAME`].
    /// At most [`MAX_SEATS`].
    pub seats: Vec<DomainId>,
    /// The notification `<slot>.seat-faults`: its waiter is `manager`; the supervisor
    /// signals bit `1 << k` when seat `k`'s module faults.
    pub seat_faults: NotificationId,
    /// The slot's verifier domain (`<slot>.verifier`, added by the image builder): checks
    /// the signatures of the slot's installs for `manager`; its one capability is
    /// `endpoint`, badged [`VERIFIER_BADGE`] under the local name [`VERIFIER_ENDPOINT_NAME`].
    pub verifier: DomainId,
    /// Memory of one seat's module in bytes (program segments plus heap; a non-zero
    /// multiple of [`PAGE_SIZE`]): the largest module ELF a seat takes and the most its
    /// loaded segments and heap may use.
    pub module_memory: u64,
    /// The store endpoint the manager keeps the update log on (the manager is its client),
    /// if any.
    pub store: Option<EndpointId>,
    /// The priority the manager runs a promotion's and a rollback's deferred steps at (its
    /// own thread lowered while no message waits; a message is handled at its own priority):
    /// 1 up to the manager's priority. `None`: the manager's own priority.
    pub step_priority: Option<u8>,
}

/// The tile's federation node (`[federation]`): which domain runs it, where it keeps its
/// spool and replica, its TCPCL port, and its node configuration. The root server hands
/// the whole record (postcard) to `domain` only (`supervisor::Request::FederationConfig`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Federation {
    /// The domain that runs the node: a client of the endpoints "socket" and `store`.
    pub domain: DomainId,
    /// The store endpoint it keeps its spool and replica in.
    pub store: EndpointId,
    /// The name `domain`'s information page gives `store` (its local name).
    pub store_name: String,
    /// The TCP port of its TCPCL listener.
    pub listen_port: u16,
    /// The postcard encoding of its `tileos_federation::NodeConfig` (checked by the image
    /// builder; this crate does not depend on the federation logic).
    pub node: Vec<u8>,
}

/// Badge bit of a seat's capability to its slot's front endpoint; the low bits are the seat
/// number (`tileos_protocol::module::SEAT_BADGE`). No description badge may have it.
pub const SEAT_BADGE: u64 = 1 << 62;
/// Set in every word the supervisor signals on a slot's `seat-faults` notification
/// (`tileos_protocol::supervisor::SEAT_FAULTS_SIGNAL`), which its manager receives on the
/// front endpoint as an empty label-0 message badged with the word: no client of a slot's
/// front endpoint may have it in its badge, nor [`SUPERVISOR_CLIENT_BIT`] (the immune
/// system's doorbell, `IMMUNE_DOORBELL`, is that bit), so a client's empty call is never
/// taken for the signal.
pub const SEAT_FAULTS_SIGNAL: u64 = 1 << 61;
/// Set, with [`SEAT_FAULTS_SIGNAL`], by the timer domain on a slot's `seat-faults`
/// notification at the manager's deadline (`tileos_protocol::supervisor::TIMER_SIGNAL`).
pub const TIMER_SIGNAL: u64 = 1 << 60;
/// Most seats of a slot (each has a bit in the `seat-faults` notification word, and seat
/// numbers travel as `u8`).
pub const MAX_SEATS: usize = 32;
/// The local name of a seat's capability to its slot's front endpoint.
pub const SEAT_ENDPOINT_NAME: &str = "slot";
/// Badge of a slot's verifier domain's capability to the slot's front endpoint
/// (`tileos_bundle_verifier::VERIFIER_BADGE`): the seat bit with seat number 63, which no
/// slot has ([`MAX_SEATS`]), so no declared badge can be it.
pub const VERIFIER_BADGE: u64 = SEAT_BADGE | 63;
/// The local name of the verifier's capability to its slot's front endpoint.
pub const VERIFIER_ENDPOINT_NAME: &str = "manager";

impl Slot {
    /// The seat domain `domain` sits in, if it is one of this slot's seats.
    pub fn seat_of(&self, domain: DomainId) -> Option<u8> {
        self.seats.iter().position(|&d| d == domain).map(|k| k as u8)
    }
}

/// How challengers of a [`Slot`] are scheduled, so that they cannot starve the incumbent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengerSchedule {
    /// Thread priority, at most the incumbent domain's.
    pub priority: u8,
    /// CPU-time budget per period (the rules of [`Domain::budget`]).
    pub budget: Budget,
}

/// N-version mode of a [`Slot`]: three independently written programs answer every request
/// and the majority answer is delivered (`tileos_slots::vote`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineages {
    /// The three lineages' programs: archive entry indices (≥ 1), pairwise distinct.
    pub programs: [u32; 3],
    /// The program that replaces a lineage that dissents too often (archive entry index).
    pub fallback: u32,
    /// Dissents a lineage may accumulate; the next one replaces it by the fallback.
    pub replace_after: u32,
}

/// Why [`SystemDescription::decode`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub postcard::Error);

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "system description does not decode: {}", self.0)
    }
}

impl SystemDescription {
    /// The slot domain `domain` is a seat of, and its seat number.
    pub fn seat(&self, domain: DomainId) -> Option<(&Slot, u8)> {
        self.slots.iter().find_map(|slot| slot.seat_of(domain).map(|seat| (slot, seat)))
    }

    /// Whether the root server starts `domain` at boot: every domain but the seats of a slot
    /// beyond seat 0 (and beyond the three lineages of an N-version slot), whose program in
    /// the description is only a placeholder (the incumbent's, or the lineage's): the slot's
    /// manager starts modules in them at run time.
    pub fn starts_at_boot(&self, domain: DomainId) -> bool {
        match self.seat(domain) {
            None => true,
            Some((slot, seat)) => seat == 0 || (slot.n_version.is_some() && seat < 3),
        }
    }

    /// The slot domain `domain` manages.
    pub fn managed_slot(&self, domain: DomainId) -> Option<&Slot> {
        self.slots.iter().find(|slot| slot.manager == domain)
    }

    /// The endpoint served by the supervisor, if the description declares one.
    pub fn supervisor_endpoint(&self) -> Option<&Endpoint> {
        self.endpoints.iter().find(|endpoint| endpoint.server == Server::Supervisor)
    }

    /// Encodes the description with postcard.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain data into a growable vector cannot fail: every field is an
        // integer, a string, a vector or an enum, all of which postcard encodes.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes a description produced by [`SystemDescription::encode`]. Trailing bytes are an
    /// error. The result is not yet validated: call [`SystemDescription::check`].
    pub fn decode(bytes: &[u8]) -> Result<SystemDescription, DecodeError> {
        match postcard::take_from_bytes(bytes) {
            Ok((description, [])) => Ok(description),
            Ok(_) => Err(DecodeError(postcard::Error::DeserializeBadEncoding)),
            Err(e) => Err(DecodeError(e)),
        }
    }
}

/// Why [`load`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The archive is malformed.
    Archive(archive::ArchiveError),
    /// The description entry does not decode.
    Decode(DecodeError),
    /// The description breaks a rule.
    Check(CheckError),
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::Archive(e) => write!(f, "boot archive: {e}"),
            LoadError::Decode(e) => e.fmt(f),
            LoadError::Check(e) => write!(f, "system description: {e}"),
        }
    }
}

/// Parses a boot archive, verifies every entry's digest, decodes the description in entry 0
/// and checks it against the archive: what the root server does first.
pub fn load(bytes: &[u8]) -> Result<(archive::Archive<'_>, SystemDescription), LoadError> {
    let archive = archive::Archive::parse(bytes).map_err(LoadError::Archive)?;
    archive.verify_digests().map_err(LoadError::Archive)?;
    let entry = archive.description().map_err(LoadError::Archive)?;
    let description = SystemDescription::decode(entry.data).map_err(LoadError::Decode)?;
    description.check(archive.len()).map_err(LoadError::Check)?;
    Ok((archive, description))
}
