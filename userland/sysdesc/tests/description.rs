//! Description encoding and validation: postcard round trips, truncation at every length,
//! garbage never panics, and one test per validation rule.

mod common;

use common::sample;
use proptest::prelude::*;
use tileos_sysdesc::*;

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9_.-]{0,10}"
}

fn restart() -> impl Strategy<Value = RestartPolicy> {
    prop_oneof![
        Just(RestartPolicy::Never),
        (any::<u32>(), any::<u32>()).prop_map(|(max_restarts, backoff_ms)| RestartPolicy::Always { max_restarts, backoff_ms }),
    ]
}

fn domain() -> impl Strategy<Value = Domain> {
    (
        name(),
        any::<u32>(),
        any::<u8>(),
        any::<u8>(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        restart(),
        prop::option::of((any::<u32>(), any::<u32>())),
    )
        .prop_map(|(name, program, priority, mcp, stack_size, heap_size, cnode_slots, restart, budget)| Domain {
            name,
            program,
            priority,
            mcp,
            stack_size,
            heap_size,
            cnode_slots,
            restart,
            budget: budget.map(|(budget_ms, period_ms)| Budget { budget_ms, period_ms }),
            names: Vec::new(),
        })
}

fn rights() -> impl Strategy<Value = MapRights> {
    prop_oneof![Just(MapRights::Read), Just(MapRights::ReadWrite), Just(MapRights::ReadExecute)]
}

fn description() -> impl Strategy<Value = SystemDescription> {
    let endpoint = (
        name(),
        prop_oneof![any::<u32>().prop_map(Server::Domain), Just(Server::Supervisor)],
        prop::collection::vec((any::<u32>(), any::<u64>()), 0..4),
    )
        .prop_map(|(name, server, clients)| Endpoint {
            name,
            server,
            clients: clients.into_iter().map(|(domain, badge)| Client { domain, badge, access: Access::Full, params: vec![] }).collect(),
        });
    let notification = (name(), any::<u32>(), prop::collection::vec((any::<u32>(), any::<u64>()), 0..4)).prop_map(|(name, waiter, s)| {
        Notification { name, waiter, signallers: s.into_iter().map(|(domain, badge)| Signaller { domain, badge }).collect() }
    });
    let region = (name(), any::<u64>(), prop::collection::vec((any::<u32>(), any::<u64>(), rights()), 0..3)).prop_map(|(name, size, m)| {
        SharedRegion { name, size, mappings: m.into_iter().map(|(domain, vaddr, rights)| Mapping { domain, vaddr, rights }).collect() }
    });
    let device = (name(), any::<u64>(), any::<u64>(), any::<u32>(), any::<u64>(), any::<bool>())
        .prop_map(|(name, paddr, size, domain, vaddr, uncached)| DeviceMemory { name, paddr, size, domain, vaddr, uncached });
    let irq = (any::<u8>(), any::<bool>(), any::<bool>(), any::<u32>(), any::<u32>(), any::<u8>()).prop_map(
        |(pin, edge, high, domain, notification, bit)| Irq {
            pin,
            trigger: if edge { Trigger::Edge } else { Trigger::Level },
            polarity: if high { Polarity::High } else { Polarity::Low },
            domain,
            notification,
            bit,
        },
    );
    let ports = (any::<u16>(), any::<u16>(), any::<u32>()).prop_map(|(first, last, domain)| IoPortRange { first, last, domain });
    let pci = (name(), any::<u32>(), any::<u32>(), any::<u32>(), any::<u64>(), any::<u64>(), prop::option::of((any::<u32>(), any::<u8>())))
        .prop_map(|(name, class, index, domain, vaddr, window, interrupt)| PciDevice {
            name,
            class,
            vendor: (class & 1 == 1).then_some(index as u16),
            device: (class & 2 == 2).then_some(domain as u16),
            index,
            domain,
            vaddr,
            window,
            interrupt: interrupt.map(|(notification, bit)| PciInterrupt { notification, bit }),
        });
    (
        name(),
        prop::collection::vec(domain(), 0..4),
        prop::collection::vec(endpoint, 0..3),
        prop::collection::vec(notification, 0..3),
        prop::collection::vec(region, 0..3),
        prop::collection::vec(device, 0..3),
        prop::collection::vec(irq, 0..3),
        prop::collection::vec(ports, 0..3),
        prop::collection::vec(pci, 0..3),
        prop::collection::vec(slot(), 0..2),
    )
        .prop_map(|(name, domains, endpoints, notifications, shared_regions, device_memory, irqs, io_ports, pci_devices, slots)| {
            SystemDescription {
                name,
                domains,
                endpoints,
                notifications,
                shared_regions,
                device_memory,
                irqs,
                io_ports,
                pci_devices,
                slots,
                federation: None,
            }
        })
}

fn slot() -> impl Strategy<Value = Slot> {
    let ratio = || (any::<u32>(), any::<u32>()).prop_map(|(num, den)| Ratio { num, den });
    let policy = (any::<u64>(), ratio(), any::<u32>(), ratio(), any::<u64>(), any::<u64>(), any::<u8>(), any::<bool>()).prop_map(
        |(min_agreeing, max_disagreement, max_faults, latency_bound, min_soak, rollback_window, max_challengers, auto_promote)| {
            SlotPolicy {
                min_agreeing,
                max_disagreement,
                max_faults,
                latency_bound,
                min_soak,
                rollback_window,
                answer_deadline: min_soak / 2,
                breaker_latency_samples: min_agreeing / 3,
                breaker_unanswered: rollback_window / 5,
                // Set in half the cases (its encoding both ways), never below the deadline.
                restart_unanswered: (max_faults % 2 == 1).then_some(rollback_window.max(min_soak)),
                max_challengers,
                auto_promote,
            }
        },
    );
    let comparator = prop_oneof![Just(Comparator::Exact), Just(Comparator::Equivalent), Just(Comparator::NoiseCancelled)];
    let lineages =
        prop::option::of((any::<[u32; 3]>(), any::<u32>(), any::<u32>()).prop_map(|(programs, fallback, replace_after)| Lineages {
            programs,
            fallback,
            replace_after,
        }));
    (
        name(),
        any::<u32>(),
        name(),
        any::<u32>(),
        comparator,
        policy,
        (any::<u8>(), any::<u32>(), any::<u32>()),
        prop::collection::vec(name(), 0..3),
        lineages,
    )
        .prop_map(
            |(name, endpoint, protocol, incumbent, comparator, policy, (priority, budget_ms, period_ms), allowance, n_version)| Slot {
                name,
                endpoint,
                protocol,
                incumbent,
                comparator,
                policy,
                challenger: ChallengerSchedule { priority, budget: Budget { budget_ms, period_ms } },
                allowance,
                n_version,
                manager: endpoint.wrapping_add(1),
                seats: vec![incumbent],
                seat_faults: priority.into(),
                verifier: incumbent.wrapping_add(2),
                module_memory: u64::from(budget_ms) << 12,
                store: n_version.map(|n| n.fallback),
                step_priority: Some(priority),
            },
        )
}

proptest! {
    #[test]
    fn round_trip(d in description()) {
        let bytes = d.encode();
        prop_assert_eq!(SystemDescription::decode(&bytes), Ok(d.clone()));
        // Checking arbitrary (mostly invalid) descriptions never panics.
        let _ = d.check(4);
        // Every proper prefix is rejected, and so is any trailing byte.
        for len in 0..bytes.len() {
            prop_assert!(SystemDescription::decode(&bytes[..len]).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(SystemDescription::decode(&longer).is_err());
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(d) = SystemDescription::decode(&bytes) {
            let _ = d.check(usize::from(bytes.first().copied().unwrap_or(0)));
        }
    }

    #[test]
    fn mutated_sample_never_panics(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = sample().encode();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Ok(d) = SystemDescription::decode(&bytes) {
            let _ = d.check(3);
        }
    }
}

#[test]
fn sample_is_valid() {
    assert_eq!(sample().check(3), Ok(()));
}

#[test]
fn a_duplicate_name_points_at_its_first_declaration() {
    let mut d = sample();
    d.domains[2].name = d.domains[1].name.clone();
    let e = d.check(3).expect_err("a name declared twice is rejected");
    assert_eq!((e.item, e.field, e.earlier), (Item::Domain(2), "name", Some(Item::Domain(1))));
    // Other rules have no earlier item.
    let mut d = sample();
    d.domains[1].priority = 255;
    assert_eq!(d.check(3).expect_err("priority above mcp").earlier, None);
}

/// A rule-breaking change and the error it must produce (item, field, message).
type Case = (Box<dyn FnOnce(&mut SystemDescription)>, Item, &'static str, &'static str);

/// An endpoint parameter.
fn param(name: &str, value: u64) -> Param {
    Param { name: name.into(), value }
}

/// Applies `change` to the sample and returns the check's message.
fn broken(change: impl FnOnce(&mut SystemDescription)) -> (Item, &'static str, String) {
    let mut d = sample();
    change(&mut d);
    let e = d.check(3).expect_err("the change must break a rule");
    (e.item, e.field, e.message)
}

#[test]
fn each_rule_has_its_message() {
    let cases: Vec<Case> = vec![
        (
            Box::new(|d| d.name = "bad name".into()),
            Item::Tile,
            "name",
            "tile: field \"name\": \"bad name\" is not 1..=64 characters of [A-Za-z0-9_.-]",
        ),
        (
            Box::new(|d| d.domains[2].name = "echo".into()),
            Item::Domain(2),
            "name",
            "domain \"echo\": field \"name\": \"echo\" is declared twice",
        ),
        (
            Box::new(|d| d.domains[1].program = 3),
            Item::Domain(1),
            "program",
            "domain \"echo\": field \"program\": archive entry 3 is not a program (programs are entries 1..3)",
        ),
        (
            Box::new(|d| d.domains[1].program = 0),
            Item::Domain(1),
            "program",
            "domain \"echo\": field \"program\": archive entry 0 is not a program (programs are entries 1..3)",
        ),
        (
            Box::new(|d| d.domains[1].priority = 121),
            Item::Domain(1),
            "priority",
            "domain \"echo\": field \"priority\": 121 is above the domain's mcp 120",
        ),
        (
            Box::new(|d| d.domains[0].stack_size = 0),
            Item::Domain(0),
            "stack_size",
            "domain \"console\": field \"stack_size\": must not be 0",
        ),
        (
            Box::new(|d| d.domains[0].heap_size = 100),
            Item::Domain(0),
            "heap_size",
            "domain \"console\": field \"heap_size\": 0x64 is not a multiple of the page size 0x1000",
        ),
        (
            Box::new(|d| d.domains[0].heap_size = 1 << 41),
            Item::Domain(0),
            "heap_size",
            "domain \"console\": field \"heap_size\": 0x20000000000 is larger than 0x10000000000",
        ),
        (
            Box::new(|d| d.domains[0].restart = RestartPolicy::Always { max_restarts: 0, backoff_ms: 1 }),
            Item::Domain(0),
            "restart",
            "domain \"console\": field \"restart\": max_restarts must be at least 1 (use policy \"never\" for no restarts)",
        ),
        (
            Box::new(|d| d.domains[0].budget = Some(Budget { budget_ms: 0, period_ms: 10 })),
            Item::Domain(0),
            "budget_ms",
            "domain \"console\": field \"budget_ms\": must be at least 1",
        ),
        (
            Box::new(|d| d.domains[1].budget = Some(Budget { budget_ms: 20, period_ms: 10 })),
            Item::Domain(1),
            "period_ms",
            "domain \"echo\": field \"period_ms\": 10 is shorter than budget_ms 20",
        ),
        (
            Box::new(|d| d.domains[1].budget = Some(Budget { budget_ms: 20, period_ms: 60_001 })),
            Item::Domain(1),
            "period_ms",
            "domain \"echo\": field \"period_ms\": 60001 is longer than the longest period 60000",
        ),
        (
            Box::new(|d| d.endpoints[0].server = Server::Domain(7)),
            Item::Endpoint(0),
            "server",
            "endpoint \"log\": field \"server\": domain 7 does not exist (3 domains)",
        ),
        (
            Box::new(|d| d.endpoints[0].clients.clear()),
            Item::Endpoint(0),
            "clients",
            "endpoint \"log\": field \"clients\": an endpoint needs at least one client",
        ),
        (
            Box::new(|d| d.endpoints[0].clients[1].domain = 0),
            Item::Client { endpoint: 0, client: 1 },
            "domain",
            "endpoint \"log\": client \"console\": field \"domain\": the server cannot be a client of its own endpoint",
        ),
        (
            Box::new(|d| d.endpoints[0].clients[1].domain = 1),
            Item::Client { endpoint: 0, client: 1 },
            "domain",
            "endpoint \"log\": client \"echo\": field \"domain\": is listed twice",
        ),
        (
            Box::new(|d| d.endpoints[0].clients[1].badge = 0),
            Item::Client { endpoint: 0, client: 1 },
            "badge",
            "endpoint \"log\": client \"client\": field \"badge\": must not be 0 (0 means unbadged)",
        ),
        (
            Box::new(|d| d.endpoints[0].clients[1].badge = 1),
            Item::Client { endpoint: 0, client: 1 },
            "badge",
            "endpoint \"log\": client \"client\": field \"badge\": 1 is already the badge of client \"echo\"",
        ),
        (
            Box::new(|d| d.endpoints[0].clients[1].params = vec![param("quota", 1), param("quota", 2)]),
            Item::Client { endpoint: 0, client: 1 },
            "params",
            "endpoint \"log\": client \"client\": field \"params\": \"quota\" is given twice",
        ),
        (
            Box::new(|d| d.endpoints[0].clients[1].params = vec![param("a_very_long_name", 1)]),
            Item::Client { endpoint: 0, client: 1 },
            "params",
            "endpoint \"log\": client \"client\": field \"params\": \"a_very_long_name\" is not a parameter name (1..=15 characters of [a-z0-9_], starting with a letter)",
        ),
        (
            Box::new(|d| d.endpoints[0].clients[1].params = vec![param("9lives", 1)]),
            Item::Client { endpoint: 0, client: 1 },
            "params",
            "endpoint \"log\": client \"client\": field \"params\": \"9lives\" is not a parameter name (1..=15 characters of [a-z0-9_], starting with a letter)",
        ),
        (
            Box::new(|d| d.notifications[0].signallers.push(Signaller { domain: 2, badge: 0b110 })),
            Item::Signaller { notification: 0, signaller: 1 },
            "bits",
            "notification \"console-events\": signaller \"client\": field \"bits\": bits 0x2 are also set by signaller \"echo\"",
        ),
        (
            Box::new(|d| d.notifications[0].signallers[0].badge = 0),
            Item::Signaller { notification: 0, signaller: 0 },
            "bits",
            "notification \"console-events\": signaller \"echo\": field \"bits\": must set at least one bit",
        ),
        (Box::new(|d| d.irqs[0].pin = 24), Item::Irq(0), "pin", "irq pin 24: field \"pin\": 24 is out of range 0..=23"),
        (
            Box::new(|d| {
                let irq = d.irqs[0];
                d.irqs.push(Irq { bit: 5, ..irq })
            }),
            Item::Irq(1),
            "pin",
            "irq pin 4: field \"pin\": pin 4 is already routed to domain \"console\"",
        ),
        (
            Box::new(|d| d.irqs[0].domain = 1),
            Item::Irq(0),
            "notification",
            "irq pin 4: field \"notification\": \"console-events\" is waited on by domain \"console\", not by \"echo\"",
        ),
        (
            Box::new(|d| d.irqs[0].bit = 1),
            Item::Irq(0),
            "bit",
            "irq pin 4: field \"bit\": bit 1 of \"console-events\" is also set by signaller \"echo\"",
        ),
        (Box::new(|d| d.irqs[0].bit = 64), Item::Irq(0), "bit", "irq pin 4: field \"bit\": bit 64 is out of range 0..=63"),
    ];
    for (change, item, field, message) in cases {
        assert_eq!(broken(change), (item, field, message.to_string()));
    }
}

/// The sample plus an endpoint "supervisor" served by the supervisor, with "client" as its
/// client.
fn with_supervisor() -> SystemDescription {
    let mut d = sample();
    d.endpoints.push(Endpoint {
        name: "supervisor".into(),
        server: Server::Supervisor,
        clients: vec![Client { domain: 2, badge: 0x40, access: Access::Full, params: vec![] }],
    });
    d
}

#[test]
fn supervisor_endpoint_rules() {
    let d = with_supervisor();
    assert_eq!(d.check(3), Ok(()));
    assert_eq!(d.supervisor_endpoint().map(|e| e.name.as_str()), Some("supervisor"));
    assert_eq!(sample().supervisor_endpoint(), None);
    assert_eq!(SystemDescription::decode(&d.encode()).as_ref(), Ok(&d));
    let cases: Vec<Case> = vec![
        (
            Box::new(|d| d.domains[1].name = "supervisor".into()),
            Item::Domain(1),
            "name",
            "domain \"supervisor\": field \"name\": \"supervisor\" is reserved: it names the root server's supervisor as an endpoint server",
        ),
        (
            Box::new(|d| {
                let mut second = d.endpoints[1].clone();
                second.name = "control".into();
                d.endpoints.push(second);
            }),
            Item::Endpoint(2),
            "server",
            "endpoint \"control\": field \"server\": only one endpoint may be served by the supervisor (endpoint \"supervisor\" already is)",
        ),
        (
            Box::new(|d| d.endpoints[1].clients[0].badge = SUPERVISOR_CLIENT_BIT | 1),
            Item::Client { endpoint: 1, client: 0 },
            "badge",
            "endpoint \"supervisor\": client \"client\": field \"badge\": 0x8000000000000001 has bit 63 set, which the supervisor reserves to tell client calls from fault messages",
        ),
        (
            Box::new(|d| d.endpoints[1].clients[0].badge = 0),
            Item::Client { endpoint: 1, client: 0 },
            "badge",
            "endpoint \"supervisor\": client \"client\": field \"badge\": must not be 0 (0 means unbadged)",
        ),
        (
            Box::new(|d| d.endpoints[1].clients.clear()),
            Item::Endpoint(1),
            "clients",
            "endpoint \"supervisor\": field \"clients\": an endpoint needs at least one client",
        ),
        (
            Box::new(|d| d.endpoints[0].clients[0].access = Access::StatusOnly),
            Item::Client { endpoint: 0, client: 0 },
            "access",
            "endpoint \"log\": client \"echo\": field \"access\": \"status\" applies only to clients of the endpoint served by \"supervisor\"",
        ),
    ];
    for (change, item, field, message) in cases {
        let mut d = with_supervisor();
        change(&mut d);
        let e = d.check(3).expect_err("the change must break a rule");
        assert_eq!((e.item, e.field, e.message), (item, field, message.to_string()));
    }
    // A status-only client of the supervisor is fine.
    let mut d = with_supervisor();
    d.endpoints[1].clients[0].access = Access::StatusOnly;
    assert_eq!(d.check(3), Ok(()));
    // Bit 63 is only reserved on the supervisor's endpoint: other endpoints may use it.
    let mut d = with_supervisor();
    d.endpoints[0].clients[0].badge = SUPERVISOR_CLIENT_BIT | 1;
    assert_eq!(d.check(3), Ok(()));
}

#[test]
fn memory_and_port_rules() {
    let cases: Vec<Case> = vec![
        (
            Box::new(|d| {
                d.irqs.clear();
                d.notifications[0].signallers.clear()
            }),
            Item::Notification(0),
            "signallers",
            "notification \"console-events\": field \"signallers\": nothing signals it (no signallers, no IRQ and no PCI device interrupt)",
        ),
        (
            Box::new(|d| d.shared_regions[0].size = 0x1800),
            Item::SharedRegion(0),
            "size",
            "shared region \"ring\": field \"size\": 0x1800 is not a multiple of the page size 0x1000",
        ),
        (
            Box::new(|d| d.shared_regions[0].mappings[1].domain = 1),
            Item::Mapping { region: 0, mapping: 1 },
            "domain",
            "shared region \"ring\": mapping \"echo\": field \"domain\": maps the region twice",
        ),
        (
            Box::new(|d| d.shared_regions[0].mappings[1].vaddr = 0x5000_0800),
            Item::Mapping { region: 0, mapping: 1 },
            "vaddr",
            "shared region \"ring\": mapping \"client\": field \"vaddr\": 0x50000800 is not page-aligned",
        ),
        (
            Box::new(|d| d.shared_regions[0].mappings[1].vaddr = 0x7fff_ffff_f000),
            Item::Mapping { region: 0, mapping: 1 },
            "vaddr",
            "shared region \"ring\": mapping \"client\": field \"vaddr\": 0x7ffffffff000 (size 0x2000) is not inside the user range 0x10000..0x800000000000",
        ),
        (
            Box::new(|d| d.device_memory[0].paddr = 0xfed0_0010),
            Item::DeviceMemory(0),
            "paddr",
            "device memory \"hpet\": field \"paddr\": 0xfed00010 is not page-aligned",
        ),
        (
            Box::new(|d| d.device_memory[0].paddr = !0xfff),
            Item::DeviceMemory(0),
            "paddr",
            "device memory \"hpet\": field \"paddr\": 0xfffffffffffff000 (size 0x1000) is beyond the physical address space 0x10000000000000",
        ),
        (
            Box::new(|d| {
                let m = d.device_memory[0].clone();
                d.device_memory.push(DeviceMemory { name: "hpet2".into(), vaddr: 0x7000_0000, ..m })
            }),
            Item::DeviceMemory(1),
            "paddr",
            "device memory \"hpet2\": field \"paddr\": 0xfed00000..0xfed01000 overlaps device memory \"hpet\" (0xfed00000..0xfed01000)",
        ),
        (
            Box::new(|d| {
                d.device_memory[0].domain = 1;
                d.device_memory[0].vaddr = 0x4000_1000
            }),
            Item::DeviceMemory(0),
            "vaddr",
            "device memory \"hpet\": field \"vaddr\": 0x40001000..0x40002000 overlaps shared region \"ring\": mapping \"echo\" at 0x40000000..0x40002000 in domain \"echo\"",
        ),
        (
            Box::new(|d| d.io_ports[0].last = 0x3f0),
            Item::IoPorts(0),
            "last",
            "ioport range 0x3f8..=0x3f0: field \"last\": 0x3f0 is below first 0x3f8",
        ),
        (
            Box::new(|d| d.io_ports.push(IoPortRange { first: 0x3fc, last: 0x400, domain: 1 })),
            Item::IoPorts(1),
            "first",
            "ioport range 0x3fc..=0x400: field \"first\": ports 0x3fc..=0x400 of domain \"echo\" overlap ports 0x3f8..=0x3ff of domain \"console\"",
        ),
    ];
    for (change, item, field, message) in cases {
        assert_eq!(broken(change), (item, field, message.to_string()));
    }
}

/// The sample with a PCI device for "client", located through an endpoint "pci" that
/// "echo" serves, interrupting on bit 5 of a notification "client" waits on.
fn with_pci_device() -> SystemDescription {
    let mut d = sample();
    d.endpoints.push(Endpoint {
        name: "pci".into(),
        server: Server::Domain(1),
        clients: vec![Client { domain: 2, badge: 7, access: Access::Full, params: vec![] }],
    });
    d.notifications.push(Notification { name: "client-irq".into(), waiter: 2, signallers: vec![] });
    d.pci_devices.push(PciDevice {
        name: "disk".into(),
        class: 0x01_08_02,
        vendor: None,
        device: None,
        index: 0,
        domain: 2,
        vaddr: 0x6000_0000,
        window: 0x1_0000,
        interrupt: Some(PciInterrupt { notification: 1, bit: 5 }),
    });
    d
}

#[test]
fn pci_device_rules() {
    assert_eq!(with_pci_device().check(3), Ok(()));
    // The same class and index with other IDs is another function.
    let mut d = with_pci_device();
    let mut other = d.pci_devices[0].clone();
    (other.name, other.vendor, other.device, other.vaddr, other.interrupt) =
        ("disk2".into(), Some(0x1b36), Some(0x0010), 0x7000_0000, None);
    d.pci_devices.push(other);
    assert_eq!(d.check(3), Ok(()));
    let broken_pci = |change: Box<dyn FnOnce(&mut SystemDescription)>| {
        let mut d = with_pci_device();
        change(&mut d);
        let e = d.check(3).expect_err("the change must break a rule");
        (e.item, e.field, e.message)
    };
    let cases: Vec<Case> = vec![
        (
            Box::new(|d| d.endpoints[1].name = "bus".into()),
            Item::PciDevice(0),
            "domain",
            "pci device \"disk\": field \"domain\": needs an endpoint named \"pci\" (served by the PCI bus domain) to locate the device; none is declared",
        ),
        (
            Box::new(|d| d.pci_devices[0].domain = 1),
            Item::PciDevice(0),
            "domain",
            "pci device \"disk\": field \"domain\": \"echo\" serves the \"pci\" endpoint and cannot also drive a device",
        ),
        (
            Box::new(|d| d.pci_devices[0].class = 0x100_0000),
            Item::PciDevice(0),
            "class",
            "pci device \"disk\": field \"class\": 0x1000000 is not a 24-bit class code",
        ),
        (
            Box::new(|d| d.pci_devices[0].name = "a-very-long-device-name-x".into()),
            Item::PciDevice(0),
            "name",
            "pci device \"a-very-long-device-name-x\": field \"name\": \"a-very-long-device-name-x\" is longer than 24 characters",
        ),
        (
            Box::new(|d| {
                let mut again = d.pci_devices[0].clone();
                again.name = "disk2".into();
                again.vaddr = 0x7000_0000;
                again.interrupt = None;
                d.pci_devices.push(again)
            }),
            Item::PciDevice(1),
            "index",
            "pci device \"disk2\": field \"index\": function #0 of class 0x010802 is already granted as \"disk\"",
        ),
        (
            Box::new(|d| d.pci_devices[0].interrupt = Some(PciInterrupt { notification: 0, bit: 5 })),
            Item::PciDevice(0),
            "interrupt",
            "pci device \"disk\": field \"interrupt\": \"console-events\" is waited on by domain \"console\", not by \"client\"",
        ),
        (
            Box::new(|d| {
                d.irqs.push(Irq { pin: 9, trigger: Trigger::Level, polarity: Polarity::High, domain: 2, notification: 1, bit: 5 })
            }),
            Item::PciDevice(0),
            "interrupt",
            "pci device \"disk\": field \"interrupt\": bit 5 of \"client-irq\" is also set by irq pin 9",
        ),
        (Box::new(|d| d.pci_devices[0].window = 0), Item::PciDevice(0), "window", "pci device \"disk\": field \"window\": must not be 0"),
        (
            Box::new(|d| d.pci_devices[0].vaddr = 0x5000_0000),
            Item::PciDevice(0),
            "vaddr",
            "pci device \"disk\": field \"vaddr\": 0x50000000..0x50010000 overlaps shared region \"ring\": mapping \"client\" at 0x50000000..0x50002000 in domain \"client\"",
        ),
    ];
    for (change, item, field, message) in cases {
        assert_eq!(broken_pci(change), (item, field, message.to_string()));
    }
}

/// The sample plus a slot "log-slot" fronting "log" (its incumbent "console"), with the
/// programs 1 and 2 and a third, 3, as N-version lineages (checked against 4 archive
/// entries), expanded as the image builder does but with seat 0 only: the manager domain
/// (3) serves "log", the incumbent calls it badged `SEAT_BADGE`, the manager waits on the
/// notification "log-slot.seat-faults".
fn with_slot() -> SystemDescription {
    let mut d = sample();
    let mut manager = d.domains[0].clone();
    manager.name = "log-slot.manager".into();
    manager.priority = manager.mcp;
    manager.restart = RestartPolicy::Always { max_restarts: 1, backoff_ms: 10 };
    manager.names.clear();
    d.domains.push(manager);
    d.endpoints[0].server = Server::Domain(3);
    d.endpoints[0].clients.push(Client { domain: 0, badge: SEAT_BADGE, access: Access::Full, params: Vec::new() });
    d.notifications.push(Notification { name: "log-slot.seat-faults".into(), waiter: 3, signallers: Vec::new() });
    let seat_faults = d.notifications.len() as u32 - 1;
    // The verifier (4): the front endpoint badged VERIFIER_BADGE, nothing else.
    let mut verifier = d.domains[0].clone();
    verifier.name = "log-slot.verifier".into();
    verifier.priority = 1;
    verifier.mcp = 1;
    verifier.names.clear();
    d.domains.push(verifier);
    // (Before seat 0's client, which the cases below take as the endpoint's last.)
    let at = d.endpoints[0].clients.len() - 1;
    d.endpoints[0]
        .clients
        .insert(at, Client { domain: 4, badge: tileos_sysdesc::VERIFIER_BADGE, access: Access::Full, params: Vec::new() });
    d.slots.push(Slot {
        manager: 3,
        verifier: 4,
        seats: vec![0],
        seat_faults,
        module_memory: 0x8_0000,
        store: None,
        step_priority: None,
        name: "log-slot".into(),
        endpoint: 0,
        protocol: "log".into(),
        incumbent: 0,
        comparator: Comparator::Exact,
        policy: SlotPolicy::default(),
        challenger: ChallengerSchedule { priority: 150, budget: Budget { budget_ms: 5, period_ms: 50 } },
        allowance: vec!["console-events".into(), "hpet".into(), "log".into()],
        n_version: Some(Lineages { programs: [1, 2, 3], fallback: 1, replace_after: 5 }),
    });
    d
}

#[test]
fn slot_rules() {
    let d = with_slot();
    assert_eq!(d.check(4), Ok(()));
    // `equivalent` for a protocol that provides an equivalence (the console's, "log"), and
    // the other comparators for one that provides none.
    let mut equivalent = with_slot();
    equivalent.slots[0].comparator = Comparator::Equivalent;
    assert_eq!(equivalent.check(4), Ok(()));
    let mut exact = with_slot();
    exact.slots[0].protocol = "twin".into();
    assert_eq!(exact.check(4), Ok(()));
    assert_eq!(SystemDescription::decode(&d.encode()).as_ref(), Ok(&d));
    // A step priority from 1 up to the manager's own (200) is accepted, shared with the
    // slot's own domains (the verifier at 1, the incumbent and the manager at 200) or none,
    // when every domain above it but the manager runs under a budget: the incumbent (200)
    // given one, "echo" (100) has one, "client" (90) is given one below 95.
    for step in [1, 95, 200] {
        let mut lowered = d.clone();
        lowered.slots[0].step_priority = Some(step);
        lowered.domains[0].budget = Some(Budget { budget_ms: 20, period_ms: 50 });
        if step < 90 {
            lowered.domains[2].budget = Some(Budget { budget_ms: 10, period_ms: 50 });
        }
        assert_eq!(lowered.check(4), Ok(()));
    }
    // Without a budget: the incumbent, then "client" (priority 90, above a step priority of 1).
    let mut unbudgeted = d.clone();
    unbudgeted.slots[0].step_priority = Some(95);
    let err = unbudgeted.check(4).unwrap_err();
    assert_eq!((err.item, err.field), (Item::Slot(0), "step_priority"));
    assert_eq!(
        err.message,
        "slot \"log-slot\": field \"step_priority\": domain \"console\" (priority 200) is above the step priority 95, up to the manager's 200, and has no budget (the manager lowers itself to the step priority for a step and handles no message until it runs again: a domain there that never waits would hold every client of the slot; give it a budget, or the steps a priority above it)"
    );
    unbudgeted.domains[0].budget = Some(Budget { budget_ms: 20, period_ms: 50 });
    unbudgeted.slots[0].step_priority = Some(1);
    let err = unbudgeted.check(4).unwrap_err();
    assert!(err.message.contains("domain \"client\" (priority 90) is above the step priority 1"), "{err}");
    // With budgets that take the whole CPU between them: 20/50 + 10/50 + 20/50.
    unbudgeted.domains[2].budget = Some(Budget { budget_ms: 20, period_ms: 50 });
    let err = unbudgeted.check(4).unwrap_err();
    assert_eq!(
        err.message,
        "slot \"log-slot\": field \"step_priority\": the budgets of the domains above the step priority 1, up to the manager's 200, take the whole CPU with \"client\" (20/50 ms) (the manager, lowered to the step priority for a step, would never run to receive a message: lower their budgets, or give the steps a priority above them)"
    );
    unbudgeted.domains[2].budget = Some(Budget { budget_ms: 19, period_ms: 50 });
    assert_eq!(unbudgeted.check(4), Ok(()));
    let cases: Vec<Case> = vec![
        (
            // The verifier's badge held by a domain that is not the slot's verifier.
            Box::new(|d| d.slots[0].verifier = 2),
            Item::Slot(0),
            "endpoint",
            "slot \"log-slot\": field \"endpoint\": client \"log-slot.verifier\" of \"log\" has badge 0x400000000000003f, which has the seat bit 0x4000000000000000 but is no seat's",
        ),
        (
            Box::new(|d| d.slots[0].verifier = 3),
            Item::Slot(0),
            "verifier",
            "slot \"log-slot\": field \"verifier\": domain \"log-slot.manager\" has two roles in the slot",
        ),
        (
            Box::new(|d| d.slots[0].verifier = 99),
            Item::Slot(0),
            "verifier",
            "slot \"log-slot\": field \"verifier\": domain 99 does not exist (5 domains)",
        ),
        (
            Box::new(|d| d.slots.push(d.slots[0].clone())),
            Item::Slot(1),
            "name",
            "slot \"log-slot\": field \"name\": \"log-slot\" is declared twice",
        ),
        (
            Box::new(|d| {
                let mut second = d.slots[0].clone();
                second.name = "again".into();
                d.slots.push(second);
            }),
            Item::Slot(1),
            "endpoint",
            "slot \"again\": field \"endpoint\": endpoint \"log\" is already fronted by slot \"log-slot\"",
        ),
        (
            Box::new(|d| d.slots[0].endpoint = 7),
            Item::Slot(0),
            "endpoint",
            "slot \"log-slot\": field \"endpoint\": endpoint 7 does not exist",
        ),
        (
            Box::new(|d| d.slots[0].incumbent = 1),
            Item::Slot(0),
            "seats",
            "slot \"log-slot\": field \"seats\": seat 0 must be the incumbent and there are 1..=32 seats (1 here)",
        ),
        (
            Box::new(|d| d.slots[0].manager = 1),
            Item::Slot(0),
            "endpoint",
            "slot \"log-slot\": field \"endpoint\": endpoint \"log\" is not served by the slot's manager \"echo\"",
        ),
        (
            Box::new(|d| d.slots[0].manager = 9),
            Item::Slot(0),
            "manager",
            "slot \"log-slot\": field \"manager\": domain 9 does not exist (5 domains)",
        ),
        (
            Box::new(|d| d.endpoints[0].clients.last_mut().unwrap().badge = SEAT_BADGE | 1),
            Item::Slot(0),
            "seats",
            "slot \"log-slot\": field \"seats\": seat 0 (\"console\") is not a client of \"log\" badged 0x4000000000000000",
        ),
        (
            Box::new(|d| {
                d.slots[0].seats.push(1);
                d.endpoints[0].clients[0].badge = SEAT_BADGE | 1;
                d.domains[1].restart = RestartPolicy::Always { max_restarts: 1, backoff_ms: 1 };
            }),
            Item::Slot(0),
            "seats",
            "slot \"log-slot\": field \"seats\": seat 1 (\"echo\") has a restart policy",
        ),
        (
            Box::new(|d| d.slots[0].seats.push(3)),
            Item::Slot(0),
            "seats",
            "slot \"log-slot\": field \"seats\": domain \"log-slot.manager\" has two roles in the slots",
        ),
        (
            Box::new(|d| d.endpoints[0].clients[0].badge |= SEAT_BADGE),
            Item::Slot(0),
            "endpoint",
            "slot \"log-slot\": field \"endpoint\": client \"echo\" of \"log\" has badge 0x4000000000000001, which has the seat bit 0x4000000000000000 but is no seat's",
        ),
        (
            Box::new(|d| d.endpoints[0].clients[0].badge |= SEAT_FAULTS_SIGNAL),
            Item::Slot(0),
            "endpoint",
            "slot \"log-slot\": field \"endpoint\": client \"echo\" of \"log\" has badge 0x2000000000000001, with a bit of 0xa000000000000000, which the slot's manager reserves to tell the seat-faults signal from a client's call",
        ),
        (
            Box::new(|d| d.endpoints[0].clients[0].badge |= 1 << 63),
            Item::Slot(0),
            "endpoint",
            "slot \"log-slot\": field \"endpoint\": client \"echo\" of \"log\" has badge 0x8000000000000001, with a bit of 0xa000000000000000, which the slot's manager reserves to tell the seat-faults signal from a client's call",
        ),
        (
            Box::new(|d| {
                let n = d.slots[0].seat_faults as usize;
                d.notifications[n].waiter = 2;
            }),
            Item::Slot(0),
            "seat_faults",
            "slot \"log-slot\": field \"seat_faults\": the seat-faults notification is not one the slot's manager waits on",
        ),
        (
            Box::new(|d| d.slots[0].module_memory = 0x8_0001),
            Item::Slot(0),
            "module_memory",
            "slot \"log-slot\": field \"module_memory\": 0x80001 is not a non-zero multiple of 0x1000 up to 0x10000000000",
        ),
        (
            Box::new(|d| d.slots[0].store = Some(0)),
            Item::Slot(0),
            "store",
            "slot \"log-slot\": field \"store\": the store endpoint is not one the slot's manager calls",
        ),
        (
            Box::new(|d| d.slots[0].protocol = "no spaces".into()),
            Item::Slot(0),
            "protocol",
            "slot \"log-slot\": field \"protocol\": \"no spaces\" is not 1..=64 characters of [A-Za-z0-9_.-]",
        ),
        (
            Box::new(|d| {
                d.slots[0].protocol = "twin".into();
                d.slots[0].comparator = Comparator::Equivalent;
            }),
            Item::Slot(0),
            "comparator",
            "slot \"log-slot\": field \"comparator\": protocol \"twin\" provides no equivalence: use \"exact\" or \"noise-cancelled\"",
        ),
        (
            Box::new(|d| d.slots[0].policy.max_disagreement = Ratio { num: 3, den: 2 }),
            Item::Slot(0),
            "max_disagreement",
            "slot \"log-slot\": field \"max_disagreement\": 3/2 is not a share between 0/1 and 1/1",
        ),
        (
            Box::new(|d| d.slots[0].policy.max_challengers = 0),
            Item::Slot(0),
            "max_challengers",
            "slot \"log-slot\": field \"max_challengers\": must be at least 1",
        ),
        (
            Box::new(|d| d.slots[0].challenger.priority = 201),
            Item::Slot(0),
            "priority",
            "slot \"log-slot\": field \"priority\": 201 is above the incumbent \"console\"'s priority 200 (a challenger must never preempt its incumbent)",
        ),
        (
            Box::new(|d| d.slots[0].step_priority = Some(0)),
            Item::Slot(0),
            "step_priority",
            "slot \"log-slot\": field \"step_priority\": must be at least 1",
        ),
        (
            Box::new(|d| d.slots[0].step_priority = Some(201)),
            Item::Slot(0),
            "step_priority",
            "slot \"log-slot\": field \"step_priority\": 201 is above the manager \"log-slot.manager\"'s priority 200 (steps run at most at the manager's own priority)",
        ),
        (
            // A domain outside the slot at the step priority (slots42).
            Box::new(|d| d.slots[0].step_priority = Some(90)),
            Item::Slot(0),
            "step_priority",
            "slot \"log-slot\": field \"step_priority\": 90 is also domain \"client\"'s priority (a step answered by the root server would queue behind it and wait for its work: give the steps a priority of their own)",
        ),
        (
            Box::new(|d| d.slots[0].challenger.budget.period_ms = 4),
            Item::Slot(0),
            "period_ms",
            "slot \"log-slot\": field \"period_ms\": 4 is shorter than budget_ms 5",
        ),
        (
            Box::new(|d| d.slots[0].allowance.push("ring".into())),
            Item::Slot(0),
            "allowance",
            "slot \"log-slot\": field \"allowance\": \"ring\" is not an endpoint, notification, shared region or device memory the incumbent \"console\" holds (a challenger may hold only a subset of the incumbent's capabilities)",
        ),
        (
            Box::new(|d| d.slots[0].allowance.push("hpet".into())),
            Item::Slot(0),
            "allowance",
            "slot \"log-slot\": field \"allowance\": \"hpet\" is listed twice",
        ),
        (
            Box::new(|d| d.slots[0].comparator = Comparator::NoiseCancelled),
            Item::Slot(0),
            "comparator",
            "slot \"log-slot\": field \"comparator\": \"noise-cancelled\" does not apply to an N-version slot (its three lineages vote; no incumbent replica measures noise)",
        ),
        (
            Box::new(|d| d.slots[0].n_version.as_mut().unwrap().programs[2] = 1),
            Item::Slot(0),
            "n_version",
            "slot \"log-slot\": field \"n_version\": archive entry 1 is listed twice among the lineages (lineages are independent implementations)",
        ),
        (
            Box::new(|d| d.slots[0].n_version.as_mut().unwrap().fallback = 4),
            Item::Slot(0),
            "n_version",
            "slot \"log-slot\": field \"n_version\": archive entry 4 is not a program (programs are entries 1..4)",
        ),
    ];
    for (change, item, field, message) in cases {
        let mut d = with_slot();
        change(&mut d);
        let e = d.check(4).expect_err(message);
        assert_eq!((e.item, e.field, e.message), (item, field, message.to_string()));
    }
}
