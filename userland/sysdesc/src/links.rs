//! Who is linked to whom, per domain: the endpoints it serves and calls and the
//! notifications it waits on and signals, gathered in one pass over the description so that
//! building a domain looks at its own links only (building every domain stays linear in the
//! description's size, where scanning every endpoint's clients per domain was quadratic).

use crate::{Server, SystemDescription};
use alloc::vec::Vec;

/// What a domain is to an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointRole {
    /// It serves it.
    Serves,
    /// It calls it: the index of its entry among the endpoint's clients.
    Calls(u32),
}

/// What a domain is to a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationRole {
    /// It waits on it.
    Waits,
    /// It signals it: the index of its entry among the notification's signallers.
    Signals(u32),
}

/// The links of one domain in description order (an endpoint's server before its clients,
/// a notification's waiter before its signallers): the order its capabilities are granted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// (index into [`SystemDescription::endpoints`], role).
    pub endpoints: Vec<(u32, EndpointRole)>,
    /// (index into [`SystemDescription::notifications`], role).
    pub notifications: Vec<(u32, NotificationRole)>,
}

impl Links {
    /// The endpoints it serves.
    pub fn served(&self) -> impl Iterator<Item = u32> + '_ {
        self.endpoints.iter().filter(|(_, role)| *role == EndpointRole::Serves).map(|&(e, _)| e)
    }
}

/// Every domain's links, indexed by domain, in one pass. Entries naming a domain the
/// description does not have are left out (the description's check refuses them).
pub fn links(description: &SystemDescription) -> Vec<Links> {
    let mut all: Vec<Links> = description.domains.iter().map(|_| Links::default()).collect();
    for (e, endpoint) in description.endpoints.iter().enumerate() {
        if let Server::Domain(server) = endpoint.server
            && let Some(links) = all.get_mut(server as usize)
        {
            links.endpoints.push((e as u32, EndpointRole::Serves));
        }
        for (c, client) in endpoint.clients.iter().enumerate() {
            if let Some(links) = all.get_mut(client.domain as usize) {
                links.endpoints.push((e as u32, EndpointRole::Calls(c as u32)));
            }
        }
    }
    for (n, notification) in description.notifications.iter().enumerate() {
        if let Some(links) = all.get_mut(notification.waiter as usize) {
            links.notifications.push((n as u32, NotificationRole::Waits));
        }
        for (s, signaller) in notification.signallers.iter().enumerate() {
            if let Some(links) = all.get_mut(signaller.domain as usize) {
                links.notifications.push((n as u32, NotificationRole::Signals(s as u32)));
            }
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Access, Client, Domain, Endpoint, Notification, Signaller};
    use alloc::string::String;
    use alloc::vec;

    fn domain(name: &str) -> Domain {
        let mut tile = crate::footprint::tests::tile(4096, 0);
        let mut domain = tile.domains.remove(0);
        domain.name = String::from(name);
        domain
    }

    fn client(domain: u32, badge: u64) -> Client {
        Client { domain, badge, access: Access::Full, params: vec![] }
    }

    #[test]
    fn each_domain_gets_exactly_its_own_links_in_order() {
        let mut description = crate::footprint::tests::tile(4096, 0);
        description.domains = vec![domain("a"), domain("b"), domain("c")];
        description.endpoints = vec![
            Endpoint { name: String::from("e0"), server: Server::Domain(0), clients: vec![client(1, 1), client(2, 2)] },
            Endpoint { name: String::from("e1"), server: Server::Supervisor, clients: vec![client(2, 5)] },
            Endpoint { name: String::from("e2"), server: Server::Domain(1), clients: vec![client(0, 1), client(2, 9)] },
        ];
        description.notifications = vec![Notification {
            name: String::from("n"),
            waiter: 2,
            signallers: vec![Signaller { domain: 0, badge: 1 }, Signaller { domain: 1, badge: 2 }],
        }];
        let all = links(&description);
        assert_eq!(all.len(), 3);
        use EndpointRole::{Calls, Serves};
        use NotificationRole::{Signals, Waits};
        assert_eq!(all[0], Links { endpoints: vec![(0, Serves), (2, Calls(0))], notifications: vec![(0, Signals(0))] });
        // Description order: b calls e0 before it serves e2.
        assert_eq!(all[1], Links { endpoints: vec![(0, Calls(0)), (2, Serves)], notifications: vec![(0, Signals(1))] });
        assert_eq!(all[2], Links { endpoints: vec![(0, Calls(1)), (1, Calls(0)), (2, Calls(1))], notifications: vec![(0, Waits)] });
        assert_eq!(all[1].served().collect::<Vec<u32>>(), [2]);
    }
}
