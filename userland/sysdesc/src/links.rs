//! Who is linked to whom, per domain: the endpoints it serves and calls and the
//! notifications it waits on and signals, gathered in one pass over the description so that
//! building a domain looks at its own links only (building every domain stays linear in the
//! description's size, where scanning every endpoint's clients per domain was quadratic).

use crate::{Server, SystemDescription};
use alloc::vec::Vec;

/// The links of one domain, each list in description order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// Endpoints it serves (indices into [`SystemDescription::endpoints`]).
    pub served: Vec<u32>,
    /// Endpoints it calls: (endpoint, index of its entry among that endpoint's clients).
    pub calls: Vec<(u32, u32)>,
    /// Notifications it waits on.
    pub waits: Vec<u32>,
    /// Notifications it signals: (notification, index among its signallers).
    pub signals: Vec<(u32, u32)>,
}

/// Every domain's links, indexed by domain, in one pass. Entries naming a domain the
/// description does not have are left out (the description's check refuses them).
pub fn links(description: &SystemDescription) -> Vec<Links> {
    let mut all: Vec<Links> = description.domains.iter().map(|_| Links::default()).collect();
    for (e, endpoint) in description.endpoints.iter().enumerate() {
        if let Server::Domain(server) = endpoint.server
            && let Some(links) = all.get_mut(server as usize)
        {
            links.served.push(e as u32);
        }
        for (c, client) in endpoint.clients.iter().enumerate() {
            if let Some(links) = all.get_mut(client.domain as usize) {
                links.calls.push((e as u32, c as u32));
            }
        }
    }
    for (n, notification) in description.notifications.iter().enumerate() {
        if let Some(links) = all.get_mut(notification.waiter as usize) {
            links.waits.push(n as u32);
        }
        for (s, signaller) in notification.signallers.iter().enumerate() {
            if let Some(links) = all.get_mut(signaller.domain as usize) {
                links.signals.push((n as u32, s as u32));
            }
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Access, Client, Domain, Endpoint, Notification, RestartPolicy, Signaller};
    use alloc::string::String;
    use alloc::vec;

    fn domain(name: &str) -> Domain {
        Domain {
            name: String::from(name),
            program: 1,
            priority: 1,
            mcp: 1,
            stack_size: 4096,
            heap_size: 0,
            restart: RestartPolicy::Never,
            budget: None,
            names: vec![],
        }
    }

    fn client(domain: u32, badge: u64) -> Client {
        Client { domain, badge, access: Access::Full, params: vec![] }
    }

    #[test]
    fn each_domain_gets_exactly_its_own_links_in_order() {
        let description = SystemDescription {
            name: String::from("t"),
            domains: vec![domain("a"), domain("b"), domain("c")],
            endpoints: vec![
                Endpoint { name: String::from("e0"), server: Server::Domain(0), clients: vec![client(1, 1), client(2, 2)] },
                Endpoint { name: String::from("e1"), server: Server::Supervisor, clients: vec![client(2, 5)] },
                Endpoint { name: String::from("e2"), server: Server::Domain(1), clients: vec![client(0, 1), client(2, 9)] },
            ],
            notifications: vec![Notification {
                name: String::from("n"),
                waiter: 2,
                signallers: vec![Signaller { domain: 0, badge: 1 }, Signaller { domain: 1, badge: 2 }],
            }],
            shared_regions: vec![],
            device_memory: vec![],
            irqs: vec![],
            io_ports: vec![],
            pci_devices: vec![],
            slots: vec![],
            federation: None,
        };
        let all = links(&description);
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], Links { served: vec![0], calls: vec![(2, 0)], waits: vec![], signals: vec![(0, 0)] });
        assert_eq!(all[1], Links { served: vec![2], calls: vec![(0, 0)], waits: vec![], signals: vec![(0, 1)] });
        assert_eq!(all[2], Links { served: vec![], calls: vec![(0, 1), (1, 0), (2, 1)], waits: vec![0], signals: vec![] });
    }
}
