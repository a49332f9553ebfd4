//! Validation of a compiled [`SystemDescription`]: every rule the image builder enforces on
//! resolved values, run again by the root server on what it actually booted with.
//!
//! Errors name the item (by name where it has one) and the field, and carry the item's
//! position ([`Item`]) so the image builder can point at the line of `tile.toml` it came from.

use crate::{
    Access, Budget, Comparator, DEFAULT_CNODE_SLOTS, MAX_CLIENT_PARAMS, MAX_IOAPIC_PIN, MAX_LOCAL_NAME_LEN, MAX_NAME_LEN,
    MAX_PARAM_NAME_LEN, MAX_PCI_NAME_LEN, MAX_PERIOD_MS, MAX_SEATS, MAX_SERVER_PARAMS, MAX_SIZE, MIN_CNODE_SLOTS, MIN_VADDR, MSI_SLOTS,
    NOTIFICATION_BITS, Notification, PAGE_SIZE, PHYS_TOP, RestartPolicy, SEAT_BADGE, SEAT_FAULTS_SIGNAL, SUPERVISOR, SUPERVISOR_CLIENT_BIT,
    Server, Slot, SystemDescription, USER_TOP, VERIFIER_BADGE,
};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Where in a description a rule is broken (indices into the description's vectors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    /// The tile itself.
    Tile,
    /// A domain.
    Domain(usize),
    /// An endpoint.
    Endpoint(usize),
    /// A client of an endpoint.
    Client {
        /// The endpoint.
        endpoint: usize,
        /// The client's index in its list.
        client: usize,
    },
    /// A notification.
    Notification(usize),
    /// A signaller of a notification.
    Signaller {
        /// The notification.
        notification: usize,
        /// The signaller's index in its list.
        signaller: usize,
    },
    /// A shared region.
    SharedRegion(usize),
    /// A mapping of a shared region.
    Mapping {
        /// The region.
        region: usize,
        /// The mapping's index in its list.
        mapping: usize,
    },
    /// A device memory range.
    DeviceMemory(usize),
    /// An IRQ.
    Irq(usize),
    /// An IO port range.
    IoPorts(usize),
    /// A PCI device.
    PciDevice(usize),
    /// A shadow-execution slot.
    Slot(usize),
}

/// A broken rule: where, which field, and a full message such as
/// `domain "net": field "priority": 200 is above the domain's mcp 100`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckError {
    /// The item that breaks the rule.
    pub item: Item,
    /// The field of that item (as spelled in `tile.toml`).
    pub field: &'static str,
    /// The whole message, naming the item and the field.
    pub message: String,
    /// The earlier item the rule is broken against, where there is one: the first
    /// declaration of a name declared twice (its same `field`). The image builder points at
    /// its line too.
    pub earlier: Option<Item>,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A virtual range claimed in one domain, for the overlap check.
struct Claim {
    /// Who claims it.
    item: Item,
    /// The domain.
    domain: usize,
    /// First address.
    start: u64,
    /// One past the last address.
    end: u64,
}

/// Whether `name` is a valid name: 1..=[`MAX_NAME_LEN`] bytes of `[A-Za-z0-9_.-]`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether `name` is a valid endpoint parameter name: 1..=[`MAX_PARAM_NAME_LEN`] bytes of
/// `[a-z0-9_]`, the first a letter.
fn valid_param_name(name: &str) -> bool {
    name.len() <= MAX_PARAM_NAME_LEN
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl SystemDescription {
    /// Checks every rule of `docs/system-description.md` that can be checked on the compiled
    /// form, given the number of entries of the boot archive it came in (programs are entries
    /// `1..archive_entries`). Returns the first broken rule, in a fixed order: tile, domains,
    /// endpoints, notifications, IRQs and PCI devices, shared regions, device memory, address
    /// overlaps, IO ports, slots.
    pub fn check(&self, archive_entries: usize) -> Result<(), CheckError> {
        Checker { d: self }.run(archive_entries)
    }
}

/// The checker: the description plus message helpers.
struct Checker<'a> {
    /// The description under check.
    d: &'a SystemDescription,
}

impl Checker<'_> {
    /// A domain's name for messages.
    fn domain(&self, id: usize) -> &str {
        self.d.domains.get(id).map_or("?", |d| d.name.as_str())
    }

    /// The label that starts every message about `item`.
    fn label(&self, item: Item) -> String {
        let d = self.d;
        // `KIND "NAME"` for a named item, `?` for an index out of range.
        let named = |kind: &str, v: Option<&String>| format!("{kind} \"{}\"", v.map_or("?", String::as_str));
        // `OWNER: ROLE MEMBER` for a member of a list inside a named item.
        let nested = |owner: Item, role: &str, domain: Option<u32>, index: usize| {
            format!("{}: {role} {}", self.label(owner), self.member(domain.map(|id| id as usize), index))
        };
        match item {
            Item::Tile => String::from("tile"),
            Item::Domain(i) => format!("domain \"{}\"", self.domain(i)),
            Item::Endpoint(i) => named("endpoint", d.endpoints.get(i).map(|e| &e.name)),
            Item::Client { endpoint, client } => {
                let who = d.endpoints.get(endpoint).and_then(|e| e.clients.get(client)).map(|c| c.domain);
                nested(Item::Endpoint(endpoint), "client", who, client)
            }
            Item::Notification(i) => named("notification", d.notifications.get(i).map(|n| &n.name)),
            Item::Signaller { notification, signaller } => {
                let who = d.notifications.get(notification).and_then(|n| n.signallers.get(signaller)).map(|s| s.domain);
                nested(Item::Notification(notification), "signaller", who, signaller)
            }
            Item::SharedRegion(i) => named("shared region", d.shared_regions.get(i).map(|r| &r.name)),
            Item::Mapping { region, mapping } => {
                let who = d.shared_regions.get(region).and_then(|r| r.mappings.get(mapping)).map(|m| m.domain);
                nested(Item::SharedRegion(region), "mapping", who, mapping)
            }
            Item::DeviceMemory(i) => named("device memory", d.device_memory.get(i).map(|m| &m.name)),
            Item::Irq(i) => match d.irqs.get(i) {
                Some(irq) => format!("irq pin {}", irq.pin),
                None => format!("irq {i}"),
            },
            Item::IoPorts(i) => match d.io_ports.get(i) {
                Some(p) => format!("ioport range {:#x}..={:#x}", p.first, p.last),
                None => format!("ioport range {i}"),
            },
            Item::PciDevice(i) => named("pci device", d.pci_devices.get(i).map(|p| &p.name)),
            Item::Slot(i) => named("slot", d.slots.get(i).map(|s| &s.name)),
        }
    }

    /// Names a list member by its domain when that domain exists, else by its position.
    fn member(&self, domain: Option<usize>, index: usize) -> String {
        match domain {
            Some(id) if id < self.d.domains.len() => format!("\"{}\"", self.domain(id)),
            _ => format!("#{index}"),
        }
    }

    /// Builds the error for `item`'s `field`.
    fn err(&self, item: Item, field: &'static str, problem: impl fmt::Display) -> CheckError {
        CheckError { item, field, message: format!("{}: field \"{field}\": {problem}", self.label(item)), earlier: None }
    }

    /// Checks that `id` names a domain.
    fn domain_ref(&self, item: Item, field: &'static str, id: u32) -> Result<usize, CheckError> {
        let id = id as usize;
        if id < self.d.domains.len() {
            Ok(id)
        } else {
            Err(self.err(item, field, format_args!("domain {id} does not exist ({} domains)", self.d.domains.len())))
        }
    }

    /// Checks a name: valid characters and unique among `earlier` (the names of the items
    /// before `item` of the same kind; `kind` makes the item of an index, so that a duplicate
    /// names its first declaration in [`CheckError::earlier`]).
    fn name<'n>(
        &self,
        item: Item,
        name: &str,
        mut earlier: impl Iterator<Item = &'n String>,
        kind: fn(usize) -> Item,
    ) -> Result<(), CheckError> {
        let first = valid_name(name).then(|| earlier.position(|n| n == name)).flatten();
        self.unique_name(item, name, first, kind)
    }

    /// [`Checker::name`] with the first earlier item of the same name already found
    /// (`first`, e.g. by [`first_duplicates`]).
    fn unique_name(&self, item: Item, name: &str, first: Option<usize>, kind: fn(usize) -> Item) -> Result<(), CheckError> {
        if !valid_name(name) {
            return Err(self.err(item, "name", format_args!("\"{name}\" is not 1..={MAX_NAME_LEN} characters of [A-Za-z0-9_.-]")));
        }
        if let Some(first) = first {
            let mut error = self.err(item, "name", format_args!("\"{name}\" is declared twice"));
            error.earlier = Some(kind(first));
            return Err(error);
        }
        Ok(())
    }

    /// Checks a size: a multiple of the page size, at most [`MAX_SIZE`], non-zero if asked.
    fn size(&self, item: Item, field: &'static str, size: u64, nonzero: bool) -> Result<(), CheckError> {
        if nonzero && size == 0 {
            return Err(self.err(item, field, "must not be 0"));
        }
        if size % PAGE_SIZE != 0 {
            return Err(self.err(item, field, format_args!("{size:#x} is not a multiple of the page size {PAGE_SIZE:#x}")));
        }
        if size > MAX_SIZE {
            return Err(self.err(item, field, format_args!("{size:#x} is larger than {MAX_SIZE:#x}")));
        }
        Ok(())
    }

    /// Checks a virtual range: page-aligned, within `MIN_VADDR..=USER_TOP`.
    fn vaddr(&self, item: Item, vaddr: u64, size: u64) -> Result<(), CheckError> {
        if vaddr % PAGE_SIZE != 0 {
            return Err(self.err(item, "vaddr", format_args!("{vaddr:#x} is not page-aligned")));
        }
        if vaddr < MIN_VADDR || vaddr.checked_add(size).is_none_or(|end| end > USER_TOP) {
            return Err(self.err(
                item,
                "vaddr",
                format_args!("{vaddr:#x} (size {size:#x}) is not inside the user range {MIN_VADDR:#x}..{USER_TOP:#x}"),
            ));
        }
        Ok(())
    }

    /// Runs every check in order.
    fn run(&self, archive_entries: usize) -> Result<(), CheckError> {
        let d = self.d;
        if !valid_name(&d.name) {
            return Err(self.err(
                Item::Tile,
                "name",
                format_args!("\"{}\" is not 1..={MAX_NAME_LEN} characters of [A-Za-z0-9_.-]", d.name),
            ));
        }
        self.domains(archive_entries)?;
        self.endpoints()?;
        self.notifications_and_irqs()?;
        let mut claims = Vec::new();
        self.shared_regions(&mut claims)?;
        self.device_memory(&mut claims)?;
        self.pci_windows(&mut claims)?;
        for (i, c) in claims.iter().enumerate() {
            if let Some(o) = claims[..i].iter().find(|o| o.domain == c.domain && o.start < c.end && c.start < o.end) {
                return Err(self.err(
                    c.item,
                    "vaddr",
                    format_args!(
                        "{:#x}..{:#x} overlaps {} at {:#x}..{:#x} in domain \"{}\"",
                        c.start,
                        c.end,
                        self.label(o.item),
                        o.start,
                        o.end,
                        self.domain(c.domain)
                    ),
                ));
            }
        }
        self.io_ports()?;
        self.slots(archive_entries)
    }

    /// Domain rules.
    fn domains(&self, archive_entries: usize) -> Result<(), CheckError> {
        let duplicate_names = first_duplicates(&self.d.domains, |a, b| a.name.cmp(&b.name));
        for (i, dom) in self.d.domains.iter().enumerate() {
            let item = Item::Domain(i);
            self.unique_name(item, &dom.name, duplicate_names[i], Item::Domain)?;
            if dom.name == SUPERVISOR {
                return Err(self.err(
                    item,
                    "name",
                    format_args!("\"{SUPERVISOR}\" is reserved: it names the root server's supervisor as an endpoint server"),
                ));
            }
            let program = dom.program as usize;
            if program == 0 || program >= archive_entries {
                return Err(self.err(
                    item,
                    "program",
                    format_args!("archive entry {program} is not a program (programs are entries 1..{archive_entries})"),
                ));
            }
            if dom.priority > dom.mcp {
                return Err(self.err(item, "priority", format_args!("{} is above the domain's mcp {}", dom.priority, dom.mcp)));
            }
            if let Some(budget) = dom.budget {
                self.budget(item, budget)?;
            }
            self.size(item, "stack_size", dom.stack_size, true)?;
            self.size(item, "heap_size", dom.heap_size, false)?;
            if !dom.cnode_slots.is_power_of_two() || !(MIN_CNODE_SLOTS..=DEFAULT_CNODE_SLOTS).contains(&dom.cnode_slots) {
                return Err(self.err(
                    item,
                    "cnode_slots",
                    format_args!("{} is not a power of two from {MIN_CNODE_SLOTS} to {DEFAULT_CNODE_SLOTS}", dom.cnode_slots),
                ));
            }
            self.local_names(i)?;
            if let RestartPolicy::Always { max_restarts: 0, .. } = dom.restart {
                return Err(self.err(item, "restart", "max_restarts must be at least 1 (use policy \"never\" for no restarts)"));
            }
        }
        Ok(())
    }

    /// A budget: `1 ≤ budget_ms ≤ period_ms ≤` [`MAX_PERIOD_MS`].
    fn budget(&self, item: Item, budget: Budget) -> Result<(), CheckError> {
        if budget.budget_ms == 0 {
            return Err(self.err(item, "budget_ms", "must be at least 1"));
        }
        if budget.period_ms < budget.budget_ms {
            return Err(self.err(item, "period_ms", format_args!("{} is shorter than budget_ms {}", budget.period_ms, budget.budget_ms)));
        }
        if budget.period_ms > MAX_PERIOD_MS {
            return Err(self.err(
                item,
                "period_ms",
                format_args!("{} is longer than the longest period {MAX_PERIOD_MS}", budget.period_ms),
            ));
        }
        Ok(())
    }

    /// A domain's `names`: valid, unique local names, each renaming an endpoint,
    /// notification, shared region or device memory of the description, each renamed once.
    fn local_names(&self, i: usize) -> Result<(), CheckError> {
        let d = self.d;
        let item = Item::Domain(i);
        let names = &d.domains[i].names;
        for (n, (local, global)) in names.iter().enumerate() {
            if !valid_name(local) || local.len() > MAX_LOCAL_NAME_LEN {
                return Err(self.err(
                    item,
                    "names",
                    format_args!("\"{local}\" is not a local name (1..={MAX_LOCAL_NAME_LEN} characters of [A-Za-z0-9_.-])"),
                ));
            }
            if names[..n].iter().any(|(l, _)| l == local) {
                return Err(self.err(item, "names", format_args!("\"{local}\" is given twice")));
            }
            if names[..n].iter().any(|(_, g)| g == global) {
                return Err(self.err(item, "names", format_args!("\"{global}\" is renamed twice")));
            }
            let known = d.endpoints.iter().any(|e| &e.name == global)
                || d.notifications.iter().any(|x| &x.name == global)
                || d.shared_regions.iter().any(|r| &r.name == global)
                || d.device_memory.iter().any(|m| &m.name == global);
            if !known {
                return Err(self.err(
                    item,
                    "names",
                    format_args!("\"{local}\" = \"{global}\": the description has no endpoint, notification, shared region or device memory \"{global}\""),
                ));
            }
        }
        Ok(())
    }

    /// Endpoint rules.
    fn endpoints(&self) -> Result<(), CheckError> {
        for (e, ep) in self.d.endpoints.iter().enumerate() {
            let item = Item::Endpoint(e);
            self.name(item, &ep.name, self.d.endpoints[..e].iter().map(|e| &e.name), Item::Endpoint)?;
            let server = match ep.server {
                Server::Domain(id) => Some(self.domain_ref(item, "server", id)?),
                Server::Supervisor => {
                    if let Some(other) = self.d.endpoints[..e].iter().find(|o| o.server == Server::Supervisor) {
                        return Err(self.err(
                            item,
                            "server",
                            format_args!("only one endpoint may be served by the supervisor (endpoint \"{}\" already is)", other.name),
                        ));
                    }
                    None
                }
            };
            // The drivers of PCI devices are the "pci" endpoint's implicit clients.
            let implicit_clients = ep.name == "pci" && !self.d.pci_devices.is_empty();
            if ep.clients.is_empty() && !implicit_clients {
                return Err(self.err(item, "clients", "an endpoint needs at least one client"));
            }
            let (twice, same_badge) = (
                first_duplicates(&ep.clients, |a, b| a.domain.cmp(&b.domain)),
                first_duplicates(&ep.clients, |a, b| a.badge.cmp(&b.badge)),
            );
            for (c, client) in ep.clients.iter().enumerate() {
                let item = Item::Client { endpoint: e, client: c };
                let domain = self.domain_ref(item, "domain", client.domain)?;
                if Some(domain) == server {
                    return Err(self.err(item, "domain", "the server cannot be a client of its own endpoint"));
                }
                if twice[c].is_some() {
                    return Err(self.err(item, "domain", "is listed twice"));
                }
                if client.badge == 0 {
                    return Err(self.err(item, "badge", "must not be 0 (0 means unbadged)"));
                }
                if server.is_some() && client.access == Access::StatusOnly {
                    return Err(self.err(item, "access", "\"status\" applies only to clients of the endpoint served by \"supervisor\""));
                }
                if server.is_none() && client.badge & SUPERVISOR_CLIENT_BIT != 0 {
                    return Err(self.err(
                        item,
                        "badge",
                        format_args!(
                            "{:#x} has bit 63 set, which the supervisor reserves to tell client calls from fault messages",
                            client.badge
                        ),
                    ));
                }
                if let Some(o) = same_badge[c].map(|o| &ep.clients[o]) {
                    return Err(self.err(
                        item,
                        "badge",
                        format_args!("{} is already the badge of client \"{}\"", client.badge, self.domain(o.domain as usize)),
                    ));
                }
                self.params(item, server.is_some(), &client.params)?;
            }
        }
        self.server_params()
    }

    /// The parameter rules of one client entry (`served`: its endpoint is served by a domain).
    fn params(&self, item: Item, served: bool, params: &[crate::Param]) -> Result<(), CheckError> {
        if params.is_empty() {
            return Ok(());
        }
        if !served {
            return Err(self.err(item, "params", "parameters apply only to endpoints served by a domain, not by \"supervisor\""));
        }
        if params.len() > MAX_CLIENT_PARAMS {
            return Err(self.err(item, "params", format_args!("{} parameters; at most {MAX_CLIENT_PARAMS} per client", params.len())));
        }
        for (p, param) in params.iter().enumerate() {
            if !valid_param_name(&param.name) {
                return Err(self.err(
                    item,
                    "params",
                    format_args!(
                        "\"{}\" is not a parameter name (1..={MAX_PARAM_NAME_LEN} characters of [a-z0-9_], starting with a letter)",
                        param.name
                    ),
                ));
            }
            if params[..p].iter().any(|other| other.name == param.name) {
                return Err(self.err(item, "params", format_args!("\"{}\" is given twice", param.name)));
            }
        }
        Ok(())
    }

    /// At most [`MAX_SERVER_PARAMS`] parameters reach one server's information page.
    fn server_params(&self) -> Result<(), CheckError> {
        for (d, _) in self.d.domains.iter().enumerate() {
            let mut total = 0;
            for (e, ep) in self.d.endpoints.iter().enumerate().filter(|(_, ep)| ep.server == Server::Domain(d as u32)) {
                for (c, client) in ep.clients.iter().enumerate() {
                    total += client.params.len();
                    if total > MAX_SERVER_PARAMS {
                        return Err(self.err(
                            Item::Client { endpoint: e, client: c },
                            "params",
                            format_args!(
                                "domain \"{}\" would get more than {MAX_SERVER_PARAMS} endpoint parameters over all its clients",
                                self.domain(d)
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Notification and IRQ rules (IRQs set notification bits, so they are checked together).
    fn notifications_and_irqs(&self) -> Result<(), CheckError> {
        let d = self.d;
        for (n, notif) in d.notifications.iter().enumerate() {
            let item = Item::Notification(n);
            self.name(item, &notif.name, d.notifications[..n].iter().map(|n| &n.name), Item::Notification)?;
            self.domain_ref(item, "waiter", notif.waiter)?;
            for (s, sig) in notif.signallers.iter().enumerate() {
                let item = Item::Signaller { notification: n, signaller: s };
                self.domain_ref(item, "domain", sig.domain)?;
                let earlier = &notif.signallers[..s];
                if earlier.iter().any(|o| o.domain == sig.domain) {
                    return Err(self.err(item, "domain", "is listed twice"));
                }
                if sig.badge == 0 {
                    return Err(self.err(item, "bits", "must set at least one bit"));
                }
                // The seats of a slot signal with the incumbent's bits (they run its successors).
                let seats_of_one_slot = |a: u32, b: u32| d.slots.iter().any(|slot| slot.seat_of(a).is_some() && slot.seat_of(b).is_some());
                if let Some(o) =
                    earlier.iter().find(|o| o.badge & sig.badge != 0 && !(o.badge == sig.badge && seats_of_one_slot(o.domain, sig.domain)))
                {
                    return Err(self.err(
                        item,
                        "bits",
                        format_args!("bits {:#x} are also set by signaller \"{}\"", o.badge & sig.badge, self.domain(o.domain as usize)),
                    ));
                }
            }
        }
        for (i, irq) in d.irqs.iter().enumerate() {
            let item = Item::Irq(i);
            if irq.pin > MAX_IOAPIC_PIN {
                return Err(self.err(item, "pin", format_args!("{} is out of range 0..={MAX_IOAPIC_PIN}", irq.pin)));
            }
            if let Some(o) = d.irqs[..i].iter().find(|o| o.pin == irq.pin) {
                return Err(self.err(
                    item,
                    "pin",
                    format_args!("pin {} is already routed to domain \"{}\"", irq.pin, self.domain(o.domain as usize)),
                ));
            }
            let domain = self.domain_ref(item, "domain", irq.domain)?;
            self.interrupt_bit(item, domain, irq.notification, irq.bit)?;
        }
        self.pci_devices()?;
        // Every interrupt sets its own bit: IRQs first, then PCI devices, in order.
        let mut bits: Vec<(Item, u32, u8)> = Vec::new();
        let irqs = d.irqs.iter().enumerate().map(|(i, irq)| (Item::Irq(i), irq.notification, irq.bit));
        let msis = d
            .pci_devices
            .iter()
            .enumerate()
            .filter_map(|(i, pci)| pci.interrupt.map(|int| (Item::PciDevice(i), int.notification, int.bit)));
        for (item, notification, bit) in irqs.chain(msis) {
            if let Some(&(other, ..)) = bits.iter().find(|&&(_, n, b)| n == notification && b == bit) {
                let name = &d.notifications[notification as usize].name;
                let field = if matches!(item, Item::Irq(_)) { "bit" } else { "interrupt" };
                return Err(self.err(item, field, format_args!("bit {bit} of \"{name}\" is also set by {}", self.label(other))));
            }
            bits.push((item, notification, bit));
        }
        for (n, notif) in d.notifications.iter().enumerate() {
            // A slot's seat-faults notification is signalled by the supervisor.
            let seat_faults = d.slots.iter().any(|slot| slot.seat_faults as usize == n);
            if notif.signallers.is_empty() && !seat_faults && !bits.iter().any(|&(_, notification, _)| notification as usize == n) {
                return Err(self.err(
                    Item::Notification(n),
                    "signallers",
                    "nothing signals it (no signallers, no IRQ and no PCI device interrupt)",
                ));
            }
        }
        Ok(())
    }

    /// Checks that an interrupt of `domain` may set `bit` of `notification`: the notification
    /// exists, `domain` waits on it, the bit is in range and no signaller sets it.
    fn interrupt_bit(&self, item: Item, domain: usize, notification: u32, bit: u8) -> Result<&Notification, CheckError> {
        let (notif_field, bit_field) = match item {
            Item::Irq(_) => ("notification", "bit"),
            _ => ("interrupt", "interrupt"),
        };
        let Some(notif) = self.d.notifications.get(notification as usize) else {
            return Err(self.err(item, notif_field, format_args!("notification {notification} does not exist")));
        };
        if notif.waiter as usize != domain {
            return Err(self.err(
                item,
                notif_field,
                format_args!(
                    "\"{}\" is waited on by domain \"{}\", not by \"{}\"",
                    notif.name,
                    self.domain(notif.waiter as usize),
                    self.domain(domain)
                ),
            ));
        }
        if bit >= NOTIFICATION_BITS {
            return Err(self.err(item, bit_field, format_args!("bit {bit} is out of range 0..={}", NOTIFICATION_BITS - 1)));
        }
        if let Some(s) = notif.signallers.iter().find(|s| s.badge & 1 << bit != 0) {
            return Err(self.err(
                item,
                bit_field,
                format_args!("bit {bit} of \"{}\" is also set by signaller \"{}\"", notif.name, self.domain(s.domain as usize)),
            ));
        }
        Ok(notif)
    }

    /// PCI device rules (their windows are checked with the other mappings).
    fn pci_devices(&self) -> Result<(), CheckError> {
        let d = self.d;
        let all = &d.pci_devices;
        let pci_endpoint = d.endpoints.iter().find(|e| e.name == "pci");
        for (i, pci) in all.iter().enumerate() {
            let item = Item::PciDevice(i);
            self.name(item, &pci.name, all[..i].iter().map(|p| &p.name), Item::PciDevice)?;
            if pci.name.len() > MAX_PCI_NAME_LEN {
                return Err(self.err(item, "name", format_args!("\"{}\" is longer than {MAX_PCI_NAME_LEN} characters", pci.name)));
            }
            if pci.class > 0xFF_FFFF {
                return Err(self.err(item, "class", format_args!("{:#x} is not a 24-bit class code", pci.class)));
            }
            if let Some(o) =
                all[..i].iter().find(|o| (o.class, o.vendor, o.device, o.index) == (pci.class, pci.vendor, pci.device, pci.index))
            {
                return Err(self.err(
                    item,
                    "index",
                    format_args!("function #{} of class {:#08x} is already granted as \"{}\"", pci.index, pci.class, o.name),
                ));
            }
            let domain = self.domain_ref(item, "domain", pci.domain)?;
            match pci_endpoint {
                None => {
                    return Err(self.err(
                        item,
                        "domain",
                        "needs an endpoint named \"pci\" (served by the PCI bus domain) to locate the device; none is declared",
                    ));
                }
                Some(e) if e.server == Server::Supervisor => {
                    return Err(self.err(
                        item,
                        "domain",
                        "the endpoint \"pci\" is served by the supervisor, not by a PCI bus domain that can locate the device",
                    ));
                }
                Some(e) if e.server == Server::Domain(domain as u32) => {
                    return Err(self.err(
                        item,
                        "domain",
                        format_args!("\"{}\" serves the \"pci\" endpoint and cannot also drive a device", self.domain(domain)),
                    ));
                }
                Some(_) => {}
            }
            if let Some(interrupt) = pci.interrupt {
                self.interrupt_bit(item, domain, interrupt.notification, interrupt.bit)?;
            }
        }
        let with_interrupt = all.iter().filter(|p| p.interrupt.is_some()).count();
        if with_interrupt > MSI_SLOTS {
            let last = all.iter().rposition(|p| p.interrupt.is_some()).unwrap_or(0);
            return Err(self.err(
                Item::PciDevice(last),
                "interrupt",
                format_args!("{with_interrupt} PCI devices have an interrupt; the kernel has {MSI_SLOTS} MSI slots"),
            ));
        }
        Ok(())
    }

    /// PCI device windows: size and place; records each window's virtual range.
    fn pci_windows(&self, claims: &mut Vec<Claim>) -> Result<(), CheckError> {
        for (i, pci) in self.d.pci_devices.iter().enumerate() {
            let item = Item::PciDevice(i);
            self.size(item, "window", pci.window, true)?;
            self.vaddr(item, pci.vaddr, pci.window)?;
            claims.push(Claim { item, domain: pci.domain as usize, start: pci.vaddr, end: pci.vaddr + pci.window });
        }
        Ok(())
    }

    /// Shared region rules; records each mapping's virtual range.
    fn shared_regions(&self, claims: &mut Vec<Claim>) -> Result<(), CheckError> {
        for (r, region) in self.d.shared_regions.iter().enumerate() {
            let item = Item::SharedRegion(r);
            self.name(item, &region.name, self.d.shared_regions[..r].iter().map(|r| &r.name), Item::SharedRegion)?;
            self.size(item, "size", region.size, true)?;
            if region.mappings.is_empty() {
                return Err(self.err(item, "mappings", "a shared region needs at least one mapping"));
            }
            for (m, mapping) in region.mappings.iter().enumerate() {
                let item = Item::Mapping { region: r, mapping: m };
                let domain = self.domain_ref(item, "domain", mapping.domain)?;
                if region.mappings[..m].iter().any(|o| o.domain == mapping.domain) {
                    return Err(self.err(item, "domain", "maps the region twice"));
                }
                self.vaddr(item, mapping.vaddr, region.size)?;
                claims.push(Claim { item, domain, start: mapping.vaddr, end: mapping.vaddr + region.size });
            }
        }
        Ok(())
    }

    /// Device memory rules; records each range's virtual range.
    fn device_memory(&self, claims: &mut Vec<Claim>) -> Result<(), CheckError> {
        let all = &self.d.device_memory;
        for (i, dev) in all.iter().enumerate() {
            let item = Item::DeviceMemory(i);
            self.name(item, &dev.name, all[..i].iter().map(|m| &m.name), Item::DeviceMemory)?;
            if dev.paddr % PAGE_SIZE != 0 {
                return Err(self.err(item, "paddr", format_args!("{:#x} is not page-aligned", dev.paddr)));
            }
            self.size(item, "size", dev.size, true)?;
            // size <= MAX_SIZE was checked above, so the sum cannot overflow once paddr is
            // below PHYS_TOP.
            if dev.paddr >= PHYS_TOP || dev.paddr + dev.size > PHYS_TOP {
                return Err(self.err(
                    item,
                    "paddr",
                    format_args!("{:#x} (size {:#x}) is beyond the physical address space {PHYS_TOP:#x}", dev.paddr, dev.size),
                ));
            }
            let end = dev.paddr + dev.size;
            if let Some(o) = all[..i].iter().find(|o| o.paddr < end && dev.paddr < o.paddr + o.size) {
                return Err(self.err(
                    item,
                    "paddr",
                    format_args!(
                        "{:#x}..{end:#x} overlaps device memory \"{}\" ({:#x}..{:#x})",
                        dev.paddr,
                        o.name,
                        o.paddr,
                        o.paddr + o.size
                    ),
                ));
            }
            let domain = self.domain_ref(item, "domain", dev.domain)?;
            self.vaddr(item, dev.vaddr, dev.size)?;
            claims.push(Claim { item, domain, start: dev.vaddr, end: dev.vaddr + dev.size });
        }
        Ok(())
    }

    /// IO port rules.
    fn io_ports(&self) -> Result<(), CheckError> {
        let all = &self.d.io_ports;
        for (i, range) in all.iter().enumerate() {
            let item = Item::IoPorts(i);
            if range.first > range.last {
                return Err(self.err(item, "last", format_args!("{:#x} is below first {:#x}", range.last, range.first)));
            }
            let domain = self.domain_ref(item, "domain", range.domain)?;
            if let Some(o) = all[..i].iter().find(|o| o.first <= range.last && range.first <= o.last) {
                return Err(self.err(
                    item,
                    "first",
                    format_args!(
                        "ports {:#x}..={:#x} of domain \"{}\" overlap ports {:#x}..={:#x} of domain \"{}\"",
                        range.first,
                        range.last,
                        self.domain(domain),
                        o.first,
                        o.last,
                        self.domain(o.domain as usize)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Slot rules.
    fn slots(&self, archive_entries: usize) -> Result<(), CheckError> {
        let d = self.d;
        for (i, slot) in d.slots.iter().enumerate() {
            let item = Item::Slot(i);
            self.name(item, &slot.name, d.slots[..i].iter().map(|s| &s.name), Item::Slot)?;
            let incumbent = self.domain_ref(item, "incumbent", slot.incumbent)?;
            let Some(endpoint) = d.endpoints.get(slot.endpoint as usize) else {
                return Err(self.err(item, "endpoint", format_args!("endpoint {} does not exist", slot.endpoint)));
            };
            if let Some(other) = d.slots[..i].iter().find(|o| o.endpoint == slot.endpoint) {
                return Err(self.err(
                    item,
                    "endpoint",
                    format_args!("endpoint \"{}\" is already fronted by slot \"{}\"", endpoint.name, other.name),
                ));
            }
            self.slot_topology(item, i, incumbent)?;
            if !valid_name(&slot.protocol) {
                return Err(self.err(
                    item,
                    "protocol",
                    format_args!("\"{}\" is not 1..={MAX_NAME_LEN} characters of [A-Za-z0-9_.-]", slot.protocol),
                ));
            }
            if slot.comparator == Comparator::Equivalent && !tileos_protocol::equivalence::provides_equivalence(&slot.protocol) {
                return Err(self.err(
                    item,
                    "comparator",
                    format_args!("protocol \"{}\" provides no equivalence: use \"exact\" or \"noise-cancelled\"", slot.protocol),
                ));
            }
            if let Err(e) = slot.policy.validate() {
                return Err(self.err(item, e.field(), e));
            }
            self.challenger(item, slot, incumbent)?;
            self.step_priority(item, slot)?;
            self.allowance(item, slot, incumbent)?;
            self.lineages(item, slot, archive_entries)?;
        }
        Ok(())
    }

    /// A slot's expansion (the image builder's): its manager serves the front endpoint, seat 0
    /// is the incumbent, every seat a distinct domain that is nobody else's seat or manager and
    /// a client of the front endpoint badged [`SEAT_BADGE`]` | seat`, the seat-faults
    /// notification waited on by the manager, seats beyond 0 never restarted, the module
    /// memory a page multiple, the store endpoint one the manager calls.
    fn slot_topology(&self, item: Item, index: usize, incumbent: usize) -> Result<(), CheckError> {
        let d = self.d;
        let slot = &d.slots[index];
        let earlier = &d.slots[..index];
        let endpoint = &d.endpoints[slot.endpoint as usize];
        let manager = self.domain_ref(item, "manager", slot.manager)?;
        self.domain_ref(item, "verifier", slot.verifier)?;
        if endpoint.server != Server::Domain(slot.manager) {
            return Err(self.err(
                item,
                "endpoint",
                format_args!("endpoint \"{}\" is not served by the slot's manager \"{}\"", endpoint.name, self.domain(manager)),
            ));
        }
        if slot.seats.first() != Some(&slot.incumbent) || slot.seats.len() > MAX_SEATS {
            return Err(self.err(
                item,
                "seats",
                format_args!("seat 0 must be the incumbent and there are 1..={MAX_SEATS} seats ({} here)", slot.seats.len()),
            ));
        }
        for (k, &seat) in slot.seats.iter().enumerate() {
            let domain = self.domain_ref(item, "seats", seat)?;
            let taken = slot.seats[..k].contains(&seat)
                || seat == slot.manager
                || earlier.iter().any(|o| o.seats.contains(&seat) || o.manager == seat);
            if taken {
                return Err(self.err(item, "seats", format_args!("domain \"{}\" has two roles in the slots", self.domain(domain))));
            }
            if !endpoint.clients.iter().any(|c| c.domain == seat && c.badge == SEAT_BADGE | k as u64) {
                return Err(self.err(
                    item,
                    "seats",
                    format_args!(
                        "seat {k} (\"{}\") is not a client of \"{}\" badged {:#x}",
                        self.domain(domain),
                        endpoint.name,
                        SEAT_BADGE | k as u64
                    ),
                ));
            }
            if k > 0 && d.domains[domain].restart != RestartPolicy::Never {
                return Err(self.err(item, "seats", format_args!("seat {k} (\"{}\") has a restart policy", self.domain(domain))));
            }
        }
        if slot.verifier == slot.manager || slot.seats.contains(&slot.verifier) {
            return Err(self.err(
                item,
                "verifier",
                format_args!("domain \"{}\" has two roles in the slot", self.domain(slot.verifier as usize)),
            ));
        }
        if earlier.iter().any(|o| o.seats.contains(&slot.manager) || o.manager == slot.manager) {
            return Err(self.err(item, "manager", format_args!("domain \"{}\" has two roles in the slots", self.domain(manager))));
        }
        if let Some(client) = endpoint.clients.iter().find(|c| {
            c.badge & SEAT_BADGE != 0
                && !(c.badge == VERIFIER_BADGE && c.domain == slot.verifier)
                && slot.seat_of(c.domain).is_none_or(|k| c.badge != SEAT_BADGE | u64::from(k))
        }) {
            return Err(self.err(
                item,
                "endpoint",
                format_args!(
                    "client \"{}\" of \"{}\" has badge {:#x}, which has the seat bit {SEAT_BADGE:#x} but is no seat's",
                    self.domain(client.domain as usize),
                    endpoint.name,
                    client.badge
                ),
            ));
        }
        if let Some(client) = endpoint.clients.iter().find(|c| c.badge & (SEAT_FAULTS_SIGNAL | SUPERVISOR_CLIENT_BIT) != 0) {
            return Err(self.err(
                item,
                "endpoint",
                format_args!(
                    "client \"{}\" of \"{}\" has badge {:#x}, with a bit of {:#x}, which the slot's manager reserves to tell the seat-faults signal from a client's call",
                    self.domain(client.domain as usize),
                    endpoint.name,
                    client.badge,
                    SEAT_FAULTS_SIGNAL | SUPERVISOR_CLIENT_BIT
                ),
            ));
        }
        match d.notifications.get(slot.seat_faults as usize) {
            Some(notification) if notification.waiter == slot.manager => {}
            _ => return Err(self.err(item, "seat_faults", "the seat-faults notification is not one the slot's manager waits on")),
        }
        if slot.module_memory == 0 || slot.module_memory % PAGE_SIZE != 0 || slot.module_memory > MAX_SIZE {
            return Err(self.err(
                item,
                "module_memory",
                format_args!("{:#x} is not a non-zero multiple of {PAGE_SIZE:#x} up to {MAX_SIZE:#x}", slot.module_memory),
            ));
        }
        if let Some(store) = slot.store {
            let called = d.endpoints.get(store as usize).is_some_and(|e| e.clients.iter().any(|c| c.domain == slot.manager));
            if !called {
                return Err(self.err(item, "store", "the store endpoint is not one the slot's manager calls"));
            }
        }
        let _ = incumbent;
        Ok(())
    }

    /// A slot's challenger schedule: never above the incumbent's priority, a valid budget.
    fn challenger(&self, item: Item, slot: &Slot, incumbent: usize) -> Result<(), CheckError> {
        let priority = self.d.domains[incumbent].priority;
        if slot.challenger.priority > priority {
            return Err(self.err(
                item,
                "priority",
                format_args!(
                    "{} is above the incumbent \"{}\"'s priority {priority} (a challenger must never preempt its incumbent)",
                    slot.challenger.priority,
                    self.domain(incumbent)
                ),
            ));
        }
        self.budget(item, slot.challenger.budget)
    }

    /// A slot's step priority: at least 1, at most its manager's priority (the manager lowers
    /// its own thread to it, bounded by its MCP, and never raises itself above its priority),
    /// and no domain's outside the slot (its manager, seats and verifier may share it): the
    /// kernel queues a caller woken by a reply (off the fastpath) behind the ready threads of
    /// its priority, so a domain there that woke while a step waited for the root server
    /// would run all its work inside the step (`slots42`: the network stack at 74 in
    /// `bench-slot`, 4,000–10,400 instructions in a step after a hand promotion's switch).
    /// And every domain above it up to the manager's priority, the manager excepted, runs
    /// under a budget, the budgets together short of the whole CPU: the manager is one
    /// thread, lowered to the step priority for a step, and until it runs again it handles no
    /// message; a domain there that never waits would otherwise hold every client of the slot.
    fn step_priority(&self, item: Item, slot: &Slot) -> Result<(), CheckError> {
        let Some(step) = slot.step_priority else { return Ok(()) };
        if step == 0 {
            return Err(self.err(item, "step_priority", "must be at least 1"));
        }
        let manager = slot.manager as usize;
        let priority = self.d.domains[manager].priority;
        if step > priority {
            return Err(self.err(
                item,
                "step_priority",
                format_args!(
                    "{step} is above the manager \"{}\"'s priority {priority} (steps run at most at the manager's own priority)",
                    self.domain(manager)
                ),
            ));
        }
        let in_slot = |id: usize| id == manager || id == slot.verifier as usize || slot.seats.iter().any(|&seat| seat as usize == id);
        if let Some(other) = (0..self.d.domains.len()).find(|&id| !in_slot(id) && self.d.domains[id].priority == step) {
            return Err(self.err(
                item,
                "step_priority",
                format_args!(
                    "{step} is also domain \"{}\"'s priority (a step answered by the root server would queue behind it and wait for its work: give the steps a priority of their own)",
                    self.domain(other)
                ),
            ));
        }
        self.above_step_priority(item, step, manager)
    }

    /// The domains a step of a slot can be preempted by (above `step`, up to the manager's
    /// priority, the manager excepted): each under a budget, the budgets together less
    /// than the whole CPU (in millionths of each period, rounded up), so that the manager,
    /// lowered to `step`, always gets time to receive its next message.
    fn above_step_priority(&self, item: Item, step: u8, manager: usize) -> Result<(), CheckError> {
        const WHOLE: u64 = 1_000_000;
        let top = self.d.domains[manager].priority;
        let mut share = 0u64;
        for (id, domain) in self.d.domains.iter().enumerate() {
            if id == manager || domain.priority <= step || domain.priority > top {
                continue;
            }
            let Some(budget) = domain.budget else {
                return Err(self.err(
                    item,
                    "step_priority",
                    format_args!(
                        "domain \"{}\" (priority {}) is above the step priority {step}, up to the manager's {top}, and has no budget (the manager lowers itself to the step priority for a step and handles no message until it runs again: a domain there that never waits would hold every client of the slot; give it a budget, or the steps a priority above it)",
                        domain.name, domain.priority
                    ),
                ));
            };
            let period = u64::from(budget.period_ms.max(1));
            share += (u64::from(budget.budget_ms) * WHOLE).div_ceil(period);
            if share >= WHOLE {
                return Err(self.err(
                    item,
                    "step_priority",
                    format_args!(
                        "the budgets of the domains above the step priority {step}, up to the manager's {top}, take the whole CPU with \"{}\" ({}/{} ms) (the manager, lowered to the step priority for a step, would never run to receive a message: lower their budgets, or give the steps a priority above them)",
                        domain.name, budget.budget_ms, budget.period_ms
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A slot's allowance: unique names of items the incumbent holds.
    fn allowance(&self, item: Item, slot: &Slot, incumbent: usize) -> Result<(), CheckError> {
        let d = self.d;
        let id = incumbent as u32;
        for (n, name) in slot.allowance.iter().enumerate() {
            if slot.allowance[..n].contains(name) {
                return Err(self.err(item, "allowance", format_args!("\"{name}\" is listed twice")));
            }
            let held =
                d.endpoints.iter().any(|e| &e.name == name && (e.server == Server::Domain(id) || e.clients.iter().any(|c| c.domain == id)))
                    || d.notifications.iter().any(|x| &x.name == name && (x.waiter == id || x.signallers.iter().any(|s| s.domain == id)))
                    || d.shared_regions.iter().any(|r| &r.name == name && r.mappings.iter().any(|m| m.domain == id))
                    || d.device_memory.iter().any(|m| &m.name == name && m.domain == id);
            if !held {
                return Err(self.err(
                    item,
                    "allowance",
                    format_args!(
                        "\"{name}\" is not an endpoint, notification, shared region or device memory the incumbent \"{}\" holds (a challenger may hold only a subset of the incumbent's capabilities)",
                        self.domain(incumbent)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A slot's N-version lineages: three distinct programs, a fallback program, and no
    /// noise-cancelled comparator (there is no incumbent replica to measure noise with).
    fn lineages(&self, item: Item, slot: &Slot, archive_entries: usize) -> Result<(), CheckError> {
        let Some(lineages) = slot.n_version else { return Ok(()) };
        if slot.comparator == Comparator::NoiseCancelled {
            return Err(self.err(
                item,
                "comparator",
                "\"noise-cancelled\" does not apply to an N-version slot (its three lineages vote; no incumbent replica measures noise)",
            ));
        }
        for (n, &program) in lineages.programs.iter().chain([&lineages.fallback]).enumerate() {
            let program = program as usize;
            if program == 0 || program >= archive_entries {
                return Err(self.err(
                    item,
                    "n_version",
                    format_args!("archive entry {program} is not a program (programs are entries 1..{archive_entries})"),
                ));
            }
            if n < 3 && lineages.programs[..n].contains(&(program as u32)) {
                return Err(self.err(
                    item,
                    "n_version",
                    format_args!("archive entry {program} is listed twice among the lineages (lineages are independent implementations)"),
                ));
            }
        }
        Ok(())
    }
}

/// For each item, the first item before it that compares equal to it by `compare` (what
/// `items[..i].iter().position(|o| compare(o, &items[i]).is_eq())` finds), found by sorting in
/// O(n log n): a thousand domains' names, or an endpoint's thousand clients' domains and
/// badges, compared pairwise made the check quadratic.
fn first_duplicates<T>(items: &[T], compare: impl Fn(&T, &T) -> core::cmp::Ordering) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| compare(&items[a], &items[b]).then(a.cmp(&b)));
    let mut first = alloc::vec![None; items.len()];
    let mut group = 0;
    for k in 1..order.len() {
        if compare(&items[order[k]], &items[order[group]]).is_eq() {
            first[order[k]] = Some(order[group]);
        } else {
            group = k;
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::first_duplicates;
    use alloc::vec::Vec;

    /// The sorted search finds what the pairwise one found: the first earlier item with
    /// the same key, for every item.
    #[test]
    fn first_duplicates_finds_the_first_earlier_item_with_the_same_key() {
        let items = [5, 3, 5, 7, 3, 5, 1, 7];
        let pairwise: Vec<Option<usize>> = (0..items.len()).map(|i| items[..i].iter().position(|&o| o == items[i])).collect();
        assert_eq!(first_duplicates(&items, |a, b| a.cmp(b)), pairwise);
        assert_eq!(pairwise, [None, None, Some(0), None, Some(1), Some(0), None, Some(3)]);
        assert_eq!(first_duplicates(&[] as &[u8], |a, b| a.cmp(b)), Vec::<Option<usize>>::new());
        let names = ["client-1", "echo", "client-1", "console"];
        assert_eq!(first_duplicates(&names, |a, b| a.cmp(b)), [None, None, Some(0), None]);
    }
}
