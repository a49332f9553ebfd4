//! The expansion of a `[[slot]]` into domains (docs/slots.md, "How a slot becomes domains"):
//! the seat count, the allowance each seat gets, the manager's store and supervisor
//! capabilities, and a description that stays valid.

use tileos_imagebuild::compile;
use tileos_sysdesc::{Access, Comparator, MapRights, SEAT_BADGE, Server};

const TILE: &str = r#"
[tile]
name = "t"

[[domain]]
name = "svc"
program = "svc"
priority = 100
names = { events = "svc-events" }

[[domain]]
name = "other"
program = "other"
priority = 90

[[domain]]
name = "store"
program = "store"
priority = 95

[[endpoint]]
name = "svc"
server = "svc"
clients = [{ domain = "other", badge = 5 }]

[[endpoint]]
name = "kv"
server = "store"
clients = [{ domain = "svc", badge = 7, params = { quota = 3 } }]

[[endpoint]]
name = "control"
server = "supervisor"
clients = [{ domain = "other", badge = 4, access = "status" }]

[[notification]]
name = "svc-events"
waiter = "other"
signallers = [{ domain = "svc", bits = [3] }]

[[shared_region]]
name = "cache"
size = 0x1000
mappings = [{ domain = "svc", vaddr = 0x5000_0000, rights = "r" }, { domain = "other", vaddr = 0x5000_0000, rights = "rw" }]

[[slot]]
name = "s"
endpoint = "svc"
protocol = "echo"
incumbent = "svc"
comparator = "noise-cancelled"
max_challengers = 1
allowance = ["kv", "svc-events", "cache", "svc"]
challenger = { priority = 40, budget_ms = 2, period_ms = 20 }
store = "kv"
module_memory = 0x40000
manager_heap = 0x20000
"#;

/// The manager's namespace is the lowest one the store's clients leave free (a packed
/// `quota` names its namespace in its low 16 bits): a client added with a higher namespace
/// (the default tile's adapters, namespace 6) does not move the update log that a kept disk
/// holds in namespace 4.
#[test]
fn the_managers_namespace_is_the_lowest_free_one() {
    let tile = TILE.replace(
        r#"clients = [{ domain = "svc", badge = 7, params = { quota = 3 } }]"#,
        r#"clients = [
    { domain = "svc", badge = 7, params = { namespace = 1 } },
    { domain = "other", badge = 9, params = { namespace = 2 } },
    { domain = "c3", badge = 10, params = { quota = 0x0000_0001_0001_0003 } },
    { domain = "c6", badge = 11, params = { namespace = 6 } },
]"#,
    )
    .replace(
        "[[endpoint]]\nname = \"svc\"",
        "[[domain]]\nname = \"c3\"\nprogram = \"c\"\npriority = 50\n\n[[domain]]\nname = \"c6\"\nprogram = \"c\"\npriority = 50\n\n[[endpoint]]\nname = \"svc\"",
    );
    let c = compile("t.toml", &tile).expect("valid");
    let d = &c.description;
    let slot = &d.slots[0];
    let kv = d.endpoints.iter().find(|e| e.name == "kv").expect("kv");
    let manager = kv.clients.iter().find(|c| c.domain == slot.manager).expect("the manager calls kv");
    let namespace = manager.params.iter().find(|p| p.name == "namespace").map(|p| p.value);
    assert_eq!(namespace, Some(4));
}

#[test]
fn a_noise_cancelled_slot_gets_its_seats_and_allowance() {
    let c = compile("t.toml", TILE).expect("valid");
    let d = &c.description;
    let slot = &d.slots[0];
    // max_challengers 1 + 1 + the replica: seats 1..=3 besides the incumbent.
    assert_eq!(slot.comparator, Comparator::NoiseCancelled);
    assert_eq!(slot.seats.len(), 4);
    assert_eq!((slot.module_memory, d.domains[slot.manager as usize].heap_size), (0x40000, 0x20000));
    let kv = d.endpoints.iter().position(|e| e.name == "kv").expect("kv") as u32;
    assert_eq!(slot.store, Some(kv));
    let kv = &d.endpoints[kv as usize];
    // The manager calls the store, with its own badge.
    let manager_client = kv.clients.iter().find(|c| c.domain == slot.manager && c.badge == 8).expect("the manager calls kv");
    assert_eq!(d.domains[slot.manager as usize].local_name("kv"), "store");
    // As a store client: a namespace of its own with a quota, and its buffer region, mapped
    // in the store's server too.
    let params: Vec<(&str, u64)> = manager_client.params.iter().map(|p| (p.name.as_str(), p.value)).collect();
    assert_eq!(params, [("namespace", 1), ("max_bytes", 0x40_0000), ("max_keys", 4096)]);
    let buffer = d.shared_regions.iter().find(|r| r.name == "store-buffer.8").expect("the manager's store buffer");
    let store_domain = d.domains.iter().position(|x| x.name == "store").expect("store") as u32;
    assert!(buffer.mappings.iter().any(|m| m.domain == slot.manager && m.vaddr == 0x5000_0000));
    assert!(buffer.mappings.iter().any(|m| m.domain == store_domain));
    // The existing supervisor endpoint ("control") gets the manager as a full client.
    let control = d.supervisor_endpoint().expect("declared");
    assert_eq!(control.name, "control");
    assert!(control.clients.iter().any(|c| c.domain == slot.manager && c.badge == 5 && c.access == Access::Full));
    assert_eq!(d.domains[slot.manager as usize].local_name("control"), "supervisor");
    for (k, &seat) in slot.seats.iter().enumerate().skip(1) {
        // kv: the incumbent's parameters, a badge of its own.
        let client = kv.clients.iter().find(|c| c.domain == seat).expect("seat calls kv");
        assert_eq!(client.params, kv.clients[0].params);
        assert!(client.badge != 7 && client.badge != 8);
        // svc-events: the incumbent's bits, under the incumbent's local name.
        let events = d.notifications.iter().find(|n| n.name == "svc-events").expect("events");
        assert!(events.signallers.iter().any(|s| s.domain == seat && s.badge == 1 << 3));
        assert_eq!(d.domains[seat as usize].local_name("svc-events"), "events");
        // cache: the incumbent's address and rights.
        let cache = d.shared_regions.iter().find(|r| r.name == "cache").expect("cache");
        assert!(cache.mappings.iter().any(|m| m.domain == seat && m.vaddr == 0x5000_0000 && m.rights == MapRights::Read));
        // The slot's own endpoint, as "slot", badged with the seat.
        let front = &d.endpoints[slot.endpoint as usize];
        assert_eq!(front.server, Server::Domain(slot.manager));
        assert!(front.clients.iter().any(|c| c.domain == seat && c.badge == SEAT_BADGE | k as u64));
        assert!(!d.starts_at_boot(seat));
    }
    // The declared client keeps its badge; seat 0 is the incumbent.
    assert!(d.endpoints[slot.endpoint as usize].clients.iter().any(|c| c.domain == 1 && c.badge == 5));
    assert_eq!(slot.seats[0], 0);
    assert_eq!(d.domains[0].local_name("svc"), "slot");
}

/// With a domain serving the endpoint `timer` (docs/timer.md), the manager is its client
/// (local name `timer`), and the timer signals the manager's seat-faults notification with
/// `SEAT_FAULTS_SIGNAL | TIMER_SIGNAL` under its local name `timer-wake.<badge>`; without
/// one, neither.
#[test]
fn a_timer_domain_gets_to_signal_the_manager_and_the_manager_calls_it() {
    use tileos_sysdesc::{SEAT_FAULTS_SIGNAL, TIMER_SIGNAL};
    let without = compile("t.toml", TILE).expect("valid");
    let faults = &without.description.notifications[without.description.slots[0].seat_faults as usize];
    assert!(faults.signallers.is_empty());
    let tile = TILE.replace(
        "[[endpoint]]\nname = \"svc\"",
        "[[domain]]\nname = \"timer\"\nprogram = \"timer\"\npriority = 170\n\n[[endpoint]]\nname = \"timer\"\nserver = \"timer\"\n\n[[endpoint]]\nname = \"svc\"",
    );
    let c = compile("t.toml", &tile).expect("valid");
    let d = &c.description;
    let slot = &d.slots[0];
    let timer = d.domains.iter().position(|x| x.name == "timer").expect("timer") as u32;
    let endpoint = d.endpoints.iter().find(|e| e.name == "timer").expect("timer endpoint");
    let client = endpoint.clients.iter().find(|c| c.domain == slot.manager).expect("the manager calls the timer");
    assert_eq!(d.domains[slot.manager as usize].local_name("timer"), "timer");
    let faults = &d.notifications[slot.seat_faults as usize];
    assert_eq!(faults.waiter, slot.manager);
    assert!(faults.signallers.iter().any(|s| s.domain == timer && s.badge == SEAT_FAULTS_SIGNAL | TIMER_SIGNAL));
    assert_eq!(d.domains[timer as usize].local_name(&faults.name), format!("timer-wake.{}", client.badge));
}
