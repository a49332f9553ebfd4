//! A valid description used by several test files.

use tileos_sysdesc::*;

/// A small description that passes `check(3)`: three domains, every kind of item once.
pub fn sample() -> SystemDescription {
    SystemDescription {
        name: "demo".into(),
        domains: vec![
            Domain {
                name: "console".into(),
                program: 1,
                priority: 200,
                mcp: 200,
                stack_size: 0x4000,
                heap_size: 0x10000,
                cnode_slots: tileos_sysdesc::DEFAULT_CNODE_SLOTS,
                restart: RestartPolicy::Always { max_restarts: 3, backoff_ms: 100 },
                budget: None,
                names: Vec::new(),
            },
            Domain {
                name: "echo".into(),
                program: 2,
                priority: 100,
                mcp: 120,
                stack_size: 0x4000,
                heap_size: 0,
                cnode_slots: tileos_sysdesc::DEFAULT_CNODE_SLOTS,
                restart: RestartPolicy::Never,
                budget: Some(Budget { budget_ms: 10, period_ms: 50 }),
                names: Vec::new(),
            },
            Domain {
                name: "client".into(),
                program: 2,
                priority: 90,
                mcp: 90,
                stack_size: 0x2000,
                heap_size: 0x1000,
                cnode_slots: tileos_sysdesc::DEFAULT_CNODE_SLOTS,
                restart: RestartPolicy::Never,
                budget: None,
                names: Vec::new(),
            },
        ],
        endpoints: vec![Endpoint {
            name: "log".into(),
            server: Server::Domain(0),
            clients: vec![
                Client { domain: 1, badge: 1, access: Access::Full, params: vec![] },
                Client { domain: 2, badge: 2, access: Access::Full, params: vec![] },
            ],
        }],
        notifications: vec![Notification {
            name: "console-events".into(),
            waiter: 0,
            signallers: vec![Signaller { domain: 1, badge: 0b10 }],
        }],
        shared_regions: vec![SharedRegion {
            name: "ring".into(),
            size: 0x2000,
            mappings: vec![
                Mapping { domain: 1, vaddr: 0x4000_0000, rights: MapRights::ReadWrite },
                Mapping { domain: 2, vaddr: 0x5000_0000, rights: MapRights::Read },
            ],
        }],
        device_memory: vec![DeviceMemory {
            name: "hpet".into(),
            paddr: 0xfed0_0000,
            size: 0x1000,
            domain: 0,
            vaddr: 0x6000_0000,
            uncached: true,
        }],
        irqs: vec![Irq { pin: 4, trigger: Trigger::Edge, polarity: Polarity::High, domain: 0, notification: 0, bit: 0 }],
        io_ports: vec![IoPortRange { first: 0x3f8, last: 0x3ff, domain: 0 }],
        pci_devices: vec![],
        slots: vec![],
        federation: None,
    }
}
