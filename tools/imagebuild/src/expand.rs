//! Slots become topology: each `[[slot]]` is expanded into concrete description items, so
//! that the root server builds them with its normal code (`docs/slots.md`, "How a slot
//! becomes domains").
//!
//! - a manager domain `<slot>.manager` (program `manager_program`, default `slot-manager`;
//!   priority the incumbent's + 1, capped at 255; heap `manager_heap`; restarted always),
//!   the server of the front endpoint (local name `front`), a client of the supervisor
//!   endpoint (`supervisor`; one is added, named `supervisor`, when the description has
//!   none), the waiter of the notification `<slot>.seat-faults` (`seat-faults`) and, with
//!   `store = "<endpoint>"`, a store client of that endpoint (`store`: a namespace of its
//!   own with a quota, and its buffer region `store-buffer.<badge>`), and a client of the
//!   console's endpoint `log` when the description has one; when a domain serves the
//!   endpoint `timer` (docs/timer.md), a client of it (`timer`), and the timer domain a
//!   signaller of the seat-faults notification (`SEAT_FAULTS_SIGNAL | TIMER_SIGNAL`), under
//!   its local name `timer-wake.<the manager's badge>`;
//! - seat 0, the incumbent domain, which no longer serves the front endpoint;
//! - seats 1..=N, domains `<slot>.seat<k>`: restart policy never, the challenger schedule,
//!   the incumbent's stack and heap, and the allowance (endpoints the incumbent calls, with
//!   a badge of their own and the incumbent's parameters; notifications it signals, with its
//!   bits; shared regions it maps, at its address with its rights). N is one more than
//!   `max_challengers` (the warm/promoted pair), one more again for a noise-cancelled slot
//!   (the replica), at least 3 in an N-version slot (seats 0, 1, 2 run the lineages, seat 3
//!   is the spare for the fallback);
//! - every seat a client of the front endpoint badged `SEAT_BADGE | k`, local name `slot`;
//! - a verifier domain `<slot>.verifier` (program `bundle-verifier`, priority
//!   `verifier_priority`, by default the challengers', its own budget, stack and heap,
//!   restarted always) whose one
//!   capability is the front endpoint badged `VERIFIER_BADGE`, local name `manager`: it
//!   checks the signatures of the slot's installs (docs/slots.md, "Installs").
//!
//! Every generated item's errors point at the slot's line.

use crate::front::SlotBuild;
use std::collections::HashMap;
use tileos_sysdesc::{
    Access, Budget, Client, Comparator, Domain, Endpoint, Item as Pos, MAX_NAME_LEN, MAX_SEATS, Mapping, Notification, RestartPolicy,
    SEAT_BADGE, SEAT_ENDPOINT_NAME, SEAT_FAULTS_SIGNAL, SUPERVISOR, SUPERVISOR_CLIENT_BIT, Server, Signaller, SystemDescription,
    TIMER_SIGNAL, VERIFIER_BADGE, VERIFIER_ENDPOINT_NAME,
};

/// Restarts of a slot manager before the supervisor gives up.
pub const MANAGER_MAX_RESTARTS: u32 = 8;
/// Back-off before a slot manager is restarted, in milliseconds.
pub const MANAGER_BACKOFF_MS: u32 = 100;

/// Stack of a slot manager: 128 KiB. Its high-water mark is logged (`slot.manager-stack`,
/// `tileos_sys::stack`): in boot test `slot_demo` (installs, refusals, a promotion,
/// rollbacks, the log's proofs) its start 23,192 bytes and serving at most 27,640 (session
/// 29); the test asserts the serving mark stays within half the stack. Until session 29 it was 256 KiB, which its start needed: it decoded the
/// trusted ML-DSA-65 keys (≈ 205 KiB deep), which it holds as key ids now (the verifier
/// domain checks the signatures).
pub const MANAGER_STACK: u64 = 0x2_0000;

/// Stack of a slot's verifier: 256 KiB (ML-DSA-65 verification needs about 190 KiB).
pub const VERIFIER_STACK: u64 = 0x4_0000;
/// Heap of a slot's verifier: 256 KiB (a job's signature input is at most ≈ 68 KiB).
pub const VERIFIER_HEAP: u64 = 0x4_0000;
/// The verifier's budget: 10 ms of CPU per 20 ms period (like a challenger's, it cannot
/// keep the CPU from the domains below it).
pub const VERIFIER_BUDGET: Budget = Budget { budget_ms: 10, period_ms: 20 };

/// Local names of the manager's capabilities.
pub const MANAGER_FRONT: &str = "front";
/// The manager's supervisor endpoint.
pub const MANAGER_SUPERVISOR: &str = "supervisor";
/// The manager's seat-faults notification.
pub const MANAGER_SEAT_FAULTS: &str = "seat-faults";
/// The manager's store endpoint.
pub const MANAGER_STORE: &str = "store";

/// The manager's timer endpoint.
pub const MANAGER_TIMER: &str = "timer";
/// The timer domain's endpoint: a slot's manager is its client when a domain serves it
/// (docs/timer.md), and the timer signals the manager's seat-faults notification with
/// `SEAT_FAULTS_SIGNAL | TIMER_SIGNAL` under the local name `timer-wake.<badge>`.
pub const TIMER_ENDPOINT: &str = "timer";
/// Prefix of the timer's local names of its clients' notifications.
pub const TIMER_WAKE_PREFIX: &str = "timer-wake.";

/// The console's endpoint: a slot's manager is its client when the description has it.
pub const LOG_ENDPOINT: &str = "log";
/// The telemetry domain's endpoint: a slot's manager reports its call latencies to it when
/// the description has it (docs/telemetry.md "Who reports").
pub const TELEMETRY_ENDPOINT: &str = "telemetry";

/// An error: the line and the message.
type Problem = (usize, String);

/// Whether `name` is a valid item name (as the description's check says).
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The number of seats (seat 0 included) of slot `index` of `d`.
pub fn seat_count(d: &SystemDescription, index: usize) -> usize {
    let slot = &d.slots[index];
    let noise = usize::from(slot.comparator == Comparator::NoiseCancelled);
    let mut seats = usize::from(slot.policy.max_challengers) + 1 + noise;
    if slot.n_version.is_some() {
        seats = seats.max(3);
    }
    seats + 1
}

/// Bytes of a slot manager's store buffer (`store-buffer.<badge>`): room for one log entry.
pub const MANAGER_STORE_BUFFER: u64 = 0x10000;
/// Where a slot manager maps its store buffer.
pub const MANAGER_STORE_BUFFER_VADDR: u64 = 0x5000_0000;
/// Quota of a slot manager's store namespace: bytes, keys (the update log's entries).
pub const MANAGER_STORE_QUOTA: (u64, u64) = (0x40_0000, 4096);

/// Makes the manager `manager` a client of the store endpoint `store` as a store client
/// needs (docs/store.md): a namespace of its own (the lowest from 1 that none of its clients
/// has, so that a client added later with a higher namespace does not move the update log
/// of a disk that keeps it), the quota [`MANAGER_STORE_QUOTA`], and the buffer region `store-buffer.<badge>`,
/// mapped in the manager at [`MANAGER_STORE_BUFFER_VADDR`] and in the store's server above
/// everything it maps already (16 MiB-aligned).
fn store_client(d: &mut SystemDescription, store: usize, manager: u32) {
    let Some(endpoint) = d.endpoints.get(store) else { return };
    let badge = fresh_badge(endpoint);
    // A client's namespace is its `namespace`, or the low 16 bits of its packed `quota`
    // (`tileos_store::clients::unpack_quota`).
    let taken: Vec<u64> = endpoint
        .clients
        .iter()
        .flat_map(|c| &c.params)
        .filter_map(|p| match p.name.as_str() {
            "namespace" => Some(p.value),
            "quota" => Some(p.value & 0xffff),
            _ => None,
        })
        .collect();
    let namespace = (1..).find(|n| !taken.contains(n)).unwrap_or(1);
    let server = match endpoint.server {
        Server::Domain(server) => Some(server),
        Server::Supervisor => None,
    };
    let (max_bytes, max_keys) = MANAGER_STORE_QUOTA;
    let params = [("namespace", namespace), ("max_bytes", max_bytes), ("max_keys", max_keys)]
        .into_iter()
        .map(|(name, value)| tileos_sysdesc::Param { name: name.to_string(), value })
        .collect();
    d.endpoints[store].clients.push(Client { domain: manager, badge, access: Access::Full, params });
    let mut mappings = vec![Mapping { domain: manager, vaddr: MANAGER_STORE_BUFFER_VADDR, rights: tileos_sysdesc::MapRights::ReadWrite }];
    if let Some(server) = server {
        const ALIGN: u64 = 0x100_0000;
        let end = d
            .shared_regions
            .iter()
            .flat_map(|region| region.mappings.iter().filter(|m| m.domain == server).map(move |m| m.vaddr + region.size))
            .chain(d.device_memory.iter().filter(|m| m.domain == server).map(|m| m.vaddr + m.size))
            .max()
            .unwrap_or(0x5000_0000);
        mappings.push(Mapping { domain: server, vaddr: end.div_ceil(ALIGN) * ALIGN, rights: tileos_sysdesc::MapRights::ReadWrite });
    }
    d.shared_regions.push(tileos_sysdesc::SharedRegion { name: format!("store-buffer.{badge}"), size: MANAGER_STORE_BUFFER, mappings });
}

/// The next free badge on `endpoint`: one above the largest (never 0, never with the seat
/// bit or the supervisor-client bit).
fn fresh_badge(endpoint: &Endpoint) -> u64 {
    endpoint.clients.iter().map(|c| c.badge & !SEAT_BADGE).filter(|&b| b < SEAT_BADGE).max().unwrap_or(0) + 1
}

/// Expands every slot of `d` (see the module documentation); `builds` are what each
/// `[[slot]]` says of its manager. Lines of generated items are the slot's.
pub fn expand_slots(
    d: &mut SystemDescription,
    builds: &[SlotBuild],
    item_lines: &mut HashMap<Pos, usize>,
    field_lines: &HashMap<(Pos, &'static str), usize>,
) -> Result<(), Problem> {
    for (index, build) in builds.iter().enumerate() {
        expand_one(d, index, *build, item_lines, field_lines)?;
    }
    Ok(())
}

/// Expands slot `index`.
fn expand_one(
    d: &mut SystemDescription,
    index: usize,
    build: SlotBuild,
    item_lines: &mut HashMap<Pos, usize>,
    field_lines: &HashMap<(Pos, &'static str), usize>,
) -> Result<(), Problem> {
    let pos = Pos::Slot(index);
    let slot_line = item_lines.get(&pos).copied().unwrap_or(1);
    let line = |field: &'static str| field_lines.get(&(pos, field)).copied().unwrap_or(slot_line);
    let slot = d.slots[index].clone();
    let label = format!("slot \"{}\"", slot.name);
    let err = |field: &'static str, problem: String| (line(field), format!("{label}: field \"{field}\": {problem}"));
    let incumbent = slot.incumbent as usize;
    let front = slot.endpoint as usize;
    let (Some(incumbent_domain), Some(front_endpoint)) = (d.domains.get(incumbent).cloned(), d.endpoints.get(front).cloned()) else {
        return Ok(()); // The check reports bad references.
    };
    if d.slots[..index].iter().any(|other| other.endpoint == slot.endpoint) {
        return Ok(()); // The check reports a front endpoint fronted twice.
    }
    if front_endpoint.server != Server::Domain(slot.incumbent) {
        let server = match front_endpoint.server {
            Server::Domain(id) => format!("domain \"{}\"", d.domains.get(id as usize).map_or("?", |x| x.name.as_str())),
            Server::Supervisor => format!("\"{SUPERVISOR}\""),
        };
        return Err(err(
            "incumbent",
            format!(
                "\"{}\" does not serve endpoint \"{}\" (its server is {server}); the incumbent is the domain serving the slot's endpoint",
                incumbent_domain.name, front_endpoint.name
            ),
        ));
    }
    if let Some(client) = front_endpoint.clients.iter().find(|c| c.badge & SEAT_BADGE != 0) {
        return Err(err(
            "endpoint",
            format!(
                "client \"{}\" of \"{}\" has badge {:#x}, with the seat bit {SEAT_BADGE:#x} the slot gives its seats",
                d.domains.get(client.domain as usize).map_or("?", |x| x.name.as_str()),
                front_endpoint.name,
                client.badge
            ),
        ));
    }
    let seats = seat_count(d, index);
    if seats > MAX_SEATS {
        return Err(err(
            "max_challengers",
            format!("the slot would have {seats} seats (challengers + 1 + the noise replica + the incumbent); at most {MAX_SEATS}"),
        ));
    }
    // Generated names: valid and not declared.
    let manager_name = format!("{}.manager", slot.name);
    let verifier_name = format!("{}.verifier", slot.name);
    let faults_name = format!("{}.seat-faults", slot.name);
    let seat_names: Vec<String> = (1..seats).map(|k| format!("{}.seat{k}", slot.name)).collect();
    for name in [&manager_name, &verifier_name].into_iter().chain(&seat_names).chain(std::iter::once(&faults_name)) {
        if !valid_name(name) {
            return Err(err(
                "name",
                format!(
                    "the slot's generated name \"{name}\" is not 1..={MAX_NAME_LEN} characters of [A-Za-z0-9_.-] (shorten the slot's name)"
                ),
            ));
        }
    }
    for name in [&manager_name, &verifier_name].into_iter().chain(&seat_names) {
        if let Some(at) = d.domains.iter().position(|x| &x.name == name) {
            let declared = item_lines.get(&Pos::Domain(at)).copied().unwrap_or(1);
            return Err(err(
                "name",
                format!(
                    "domain \"{name}\" (line {declared}) takes a name the slot gives its manager, verifier or a seat (\"<slot>.manager\", \"<slot>.verifier\", \"<slot>.seat<k>\")"
                ),
            ));
        }
    }
    if let Some(at) = d.notifications.iter().position(|x| x.name == faults_name) {
        let declared = item_lines.get(&Pos::Notification(at)).copied().unwrap_or(1);
        return Err(err(
            "name",
            format!("notification \"{faults_name}\" (line {declared}) takes the name of the slot's seat-faults notification"),
        ));
    }
    if incumbent_domain.names.iter().any(|(local, _)| local == SEAT_ENDPOINT_NAME) {
        return Err(err(
            "incumbent",
            format!(
                "\"{}\" uses the local name \"{SEAT_ENDPOINT_NAME}\", which the slot gives every seat's capability to \"{}\"",
                incumbent_domain.name, front_endpoint.name
            ),
        ));
    }
    // The allowance, resolved: what each seat beyond 0 gets.
    for name in &slot.allowance {
        if name == &front_endpoint.name {
            continue; // Every seat calls it as "slot" already.
        }
        if d.endpoints.iter().any(|e| &e.name == name && e.server == Server::Domain(slot.incumbent)) {
            return Err(err(
                "allowance",
                format!("\"{name}\" is an endpoint the incumbent serves; an endpoint has one server, so a seat may only call endpoints"),
            ));
        }
        if d.notifications.iter().any(|x| &x.name == name && x.waiter == slot.incumbent) {
            return Err(err(
                "allowance",
                format!("\"{name}\" is a notification the incumbent waits on; a notification has one waiter, so a seat may only signal"),
            ));
        }
        if d.device_memory.iter().any(|m| &m.name == name) {
            return Err(err(
                "allowance",
                format!("\"{name}\" is device memory, which is granted to one domain only; a seat cannot hold it"),
            ));
        }
    }

    // The supervisor endpoint: the description's, or a new one.
    let supervisor = match d.endpoints.iter().position(|e| e.server == Server::Supervisor) {
        Some(e) => e,
        None => {
            if let Some(at) = d.endpoints.iter().position(|e| e.name == SUPERVISOR) {
                let declared = item_lines.get(&Pos::Endpoint(at)).copied().unwrap_or(1);
                return Err(err(
                    "name",
                    format!(
                        "a slot's manager needs the supervisor endpoint, but endpoint \"{SUPERVISOR}\" (line {declared}) is not served by \"{SUPERVISOR}\""
                    ),
                ));
            }
            d.endpoints.push(Endpoint { name: SUPERVISOR.to_string(), server: Server::Supervisor, clients: Vec::new() });
            item_lines.insert(Pos::Endpoint(d.endpoints.len() - 1), slot_line);
            d.endpoints.len() - 1
        }
    };
    if fresh_badge(&d.endpoints[supervisor]) >= SUPERVISOR_CLIENT_BIT {
        return Err(err("name", String::from("no badge left on the supervisor endpoint for the slot's manager")));
    }

    // The manager.
    let manager = d.domains.len() as u32;
    let priority = incumbent_domain.priority.saturating_add(1);
    let mut names = vec![
        (MANAGER_FRONT.to_string(), front_endpoint.name.clone()),
        (MANAGER_SUPERVISOR.to_string(), d.endpoints[supervisor].name.clone()),
        (MANAGER_SEAT_FAULTS.to_string(), faults_name.clone()),
    ];
    if let Some(store) = slot.store {
        if let Some(endpoint) = d.endpoints.get(store as usize) {
            names.push((MANAGER_STORE.to_string(), endpoint.name.clone()));
        }
    }
    d.domains.push(Domain {
        name: manager_name,
        program: build.manager_program,
        priority,
        mcp: priority,
        stack_size: MANAGER_STACK,
        heap_size: build.manager_heap,
        // It saves callers' reply capabilities in the free slots of a full-size CNode.
        cnode_slots: tileos_sysdesc::DEFAULT_CNODE_SLOTS,
        restart: RestartPolicy::Always { max_restarts: MANAGER_MAX_RESTARTS, backoff_ms: MANAGER_BACKOFF_MS },
        budget: None,
        names,
    });
    item_lines.insert(Pos::Domain(manager as usize), slot_line);
    d.endpoints[front].server = Server::Domain(manager);
    let badge = fresh_badge(&d.endpoints[supervisor]);
    d.endpoints[supervisor].clients.push(Client { domain: manager, badge, access: Access::Full, params: Vec::new() });
    if let Some(store) = slot.store {
        store_client(d, store as usize, manager);
    }
    // The console, if the tile has one, so that the manager's log lines are whole lines; the
    // telemetry domain, if the tile has one, for the manager's latency reports.
    for name in [LOG_ENDPOINT, TELEMETRY_ENDPOINT] {
        if let Some(endpoint) = d.endpoints.iter_mut().find(|e| e.name == name && matches!(e.server, Server::Domain(_))) {
            let badge = fresh_badge(endpoint);
            endpoint.clients.push(Client { domain: manager, badge, access: Access::Full, params: Vec::new() });
        }
    }
    // The timer, if a domain serves it: the manager is a client, and the timer signals its
    // seat-faults notification at the manager's deadline.
    let mut signallers = Vec::new();
    if let Some(endpoint) = d.endpoints.iter_mut().find(|e| e.name == TIMER_ENDPOINT && matches!(e.server, Server::Domain(_))) {
        let badge = fresh_badge(endpoint);
        endpoint.clients.push(Client { domain: manager, badge, access: Access::Full, params: Vec::new() });
        if let Server::Domain(timer) = endpoint.server {
            d.domains[manager as usize].names.push((MANAGER_TIMER.to_string(), TIMER_ENDPOINT.to_string()));
            d.domains[timer as usize].names.push((format!("{TIMER_WAKE_PREFIX}{badge}"), faults_name.clone()));
            signallers.push(Signaller { domain: timer, badge: SEAT_FAULTS_SIGNAL | TIMER_SIGNAL });
        }
    }
    d.notifications.push(Notification { name: faults_name, waiter: manager, signallers });
    let seat_faults = d.notifications.len() as u32 - 1;
    item_lines.insert(Pos::Notification(seat_faults as usize), slot_line);

    // Seat 0: the incumbent, which no longer serves the front endpoint.
    let mut seat_domains = vec![slot.incumbent];
    {
        let incumbent = &mut d.domains[incumbent];
        incumbent.names.retain(|(_, global)| global != &front_endpoint.name);
        incumbent.names.push((SEAT_ENDPOINT_NAME.to_string(), front_endpoint.name.clone()));
    }
    // Seats 1..: the allowance's local names are the incumbent's.
    for (k, name) in seat_names.into_iter().enumerate() {
        let k = k + 1;
        let id = d.domains.len() as u32;
        let program = match slot.n_version {
            Some(lineages) if k < 3 => lineages.programs[k],
            _ => incumbent_domain.program,
        };
        let mut names: Vec<(String, String)> =
            incumbent_domain.names.iter().filter(|(_, global)| slot.allowance.contains(global)).cloned().collect();
        names.push((SEAT_ENDPOINT_NAME.to_string(), front_endpoint.name.clone()));
        d.domains.push(Domain {
            name,
            program,
            priority: slot.challenger.priority,
            mcp: slot.challenger.priority,
            stack_size: incumbent_domain.stack_size,
            heap_size: incumbent_domain.heap_size,
            // Modules may use free slots of a full-size CNode (the seat harness does).
            cnode_slots: tileos_sysdesc::DEFAULT_CNODE_SLOTS,
            restart: RestartPolicy::Never,
            budget: Some(slot.challenger.budget),
            names,
        });
        item_lines.insert(Pos::Domain(id as usize), slot_line);
        for endpoint in d.endpoints.iter_mut().filter(|e| slot.allowance.contains(&e.name)) {
            if let Some(client) = endpoint.clients.iter().find(|c| c.domain == slot.incumbent).cloned() {
                let badge = fresh_badge(endpoint);
                endpoint.clients.push(Client { domain: id, badge, ..client });
            }
        }
        for notification in d.notifications.iter_mut().filter(|x| slot.allowance.contains(&x.name)) {
            if let Some(signaller) = notification.signallers.iter().find(|s| s.domain == slot.incumbent).copied() {
                notification.signallers.push(Signaller { domain: id, ..signaller });
            }
        }
        for region in d.shared_regions.iter_mut().filter(|r| slot.allowance.contains(&r.name)) {
            if let Some(mapping) = region.mappings.iter().find(|m| m.domain == slot.incumbent).copied() {
                region.mappings.push(Mapping { domain: id, ..mapping });
            }
        }
        seat_domains.push(id);
    }
    for (k, &seat) in seat_domains.iter().enumerate() {
        d.endpoints[front].clients.push(Client { domain: seat, badge: SEAT_BADGE | k as u64, access: Access::Full, params: Vec::new() });
    }

    // The verifier: the front endpoint badged as the slot's verifier (and the console). By
    // default at the challengers' priority (below the incumbent's), under its own budget: below the serving path,
    // above client loads (at the lowest priority, a client that never idles starved it: the
    // install was refused after `VERIFIER_DEADLINE`, boot test `slot_warm_behind`).
    let verifier_priority =
        build.verifier_priority.unwrap_or_else(|| slot.challenger.priority.min(incumbent_domain.priority.saturating_sub(1)).max(1));
    if verifier_priority >= incumbent_domain.priority {
        return Err(err(
            "verifier_priority",
            format!(
                "{} is not below the incumbent \"{}\"'s priority {} (the verifier must never preempt the serving path)",
                verifier_priority, incumbent_domain.name, incumbent_domain.priority
            ),
        ));
    }
    let verifier = d.domains.len() as u32;
    d.domains.push(Domain {
        name: verifier_name,
        program: build.verifier_program,
        priority: verifier_priority,
        mcp: verifier_priority,
        stack_size: VERIFIER_STACK,
        heap_size: VERIFIER_HEAP,
        cnode_slots: tileos_sysdesc::MIN_CNODE_SLOTS,
        restart: RestartPolicy::Always { max_restarts: MANAGER_MAX_RESTARTS, backoff_ms: MANAGER_BACKOFF_MS },
        budget: Some(VERIFIER_BUDGET),
        names: vec![(VERIFIER_ENDPOINT_NAME.to_string(), front_endpoint.name.clone())],
    });
    item_lines.insert(Pos::Domain(verifier as usize), slot_line);
    d.endpoints[front].clients.push(Client { domain: verifier, badge: VERIFIER_BADGE, access: Access::Full, params: Vec::new() });
    // The console, if the tile has one, as for the manager: without it the verifier's lines
    // go out through the kernel's debug console 32 bytes a system call, and a console line
    // printed between two of them splits its line (boot test `slot_verifier` read
    // "ready (genera" + a client's round + "tion 1)" once).
    if let Some(endpoint) = d.endpoints.iter_mut().find(|e| e.name == LOG_ENDPOINT && matches!(e.server, Server::Domain(_))) {
        let badge = fresh_badge(endpoint);
        endpoint.clients.push(Client { domain: verifier, badge, access: Access::Full, params: Vec::new() });
    }
    let slot = &mut d.slots[index];
    slot.manager = manager;
    slot.seats = seat_domains;
    slot.seat_faults = seat_faults;
    slot.verifier = verifier;
    Ok(())
}
