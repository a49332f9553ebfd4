//! A federation node's configuration: who it is (node number, role, clock), whom it talks to
//! (neighbours), how bundles leave it (static routes, the contact plan) and its limits.
//!
//! [`NodeConfig`] derives `serde::Deserialize`, so the tile description's federation table
//! can be read into it by any serde format; [`NodeConfig::new`] and its builder methods make
//! one without any format (tests, the tile lab).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::CONTACT_PLAN_SERVICE;
use crate::replica::REPLICATION_SERVICE;
use crate::routing::Contact;

/// A node number of the `ipn` scheme: node `n`'s endpoints are `ipn:n.s`.
pub type NodeNumber = u32;

/// Where a tile sits in the federation (DESIGN.md §7: tile → pod → hub → regional).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A compute tile.
    Tile,
    /// A pod's aggregation node.
    Pod,
    /// A hub joining pods.
    Hub,
    /// A regional node joining hubs (long-haul, scheduled contacts).
    Regional,
}

/// Whether the node's time is DTN time (RFC 9171 §4.2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// The time the node is given is DTN time (ms since 2000-01-01): bundles it creates carry
    /// it, and expiry compares against creation time + lifetime.
    Synchronized,
    /// The time the node is given only counts milliseconds: bundles it creates have creation
    /// time 0 and a bundle age block, and expiry uses bundle age + residence time.
    Unsynchronized,
}

/// A node this one exchanges bundles and replicated state with directly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbour {
    /// Its node number.
    pub node: NodeNumber,
    /// How the caller reaches it (e.g. `10.0.2.7:4556`); opaque to the node, handed back in
    /// [`Output::Connect`](crate::Output::Connect).
    #[serde(default)]
    pub address: String,
    /// The neighbour only ever dials this node (an operator's tool handing it bundles, the
    /// tile lab): it may open sessions and hand over bundles (and take bundles routed to it
    /// while its session lasts), but the node never dials it and does not replicate state
    /// with it (a replica that never acknowledges would hold its deltas for ever).
    #[serde(default)]
    pub client: bool,
}

/// "Bundles for endpoints matching `pattern` go to neighbour `via`."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticRoute {
    /// An endpoint ID (`ipn:7.3`), or a prefix of one ending in `*` (`ipn:7.*` is every
    /// service of node 7, `ipn:*` every `ipn` endpoint).
    pub pattern: String,
    /// The neighbour.
    pub via: NodeNumber,
}

impl StaticRoute {
    /// Whether the route covers the endpoint whose text form is `eid`.
    pub fn matches(&self, eid: &str) -> bool {
        match self.pattern.strip_suffix('*') {
            Some(prefix) => eid.starts_with(prefix),
            None => eid == self.pattern,
        }
    }
}

/// Bounds on what the node holds and accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest bundle accepted from a peer and largest bundle (or fragment) sent.
    pub max_bundle_bytes: u64,
    /// Most bundles held at once (spooled for forwarding, awaiting delivery, fragments).
    pub max_spooled: usize,
    /// Most encoded bundle bytes held at once.
    pub max_spool_bytes: u64,
    /// Largest original payload reassembled from fragments.
    pub max_reassembly_bytes: u64,
    /// Transfers queued on one session at once.
    pub max_in_flight: usize,
    /// TCPCL keepalive interval offered, in seconds.
    pub keepalive_s: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bundle_bytes: 1 << 20,
            max_spooled: 1024,
            max_spool_bytes: 16 << 20,
            max_reassembly_bytes: 4 << 20,
            max_in_flight: 16,
            keepalive_s: 30,
        }
    }
}

/// A federation node's whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConfig {
    /// This node's number (its endpoints are `ipn:node.*`).
    pub node: NodeNumber,
    /// Its place in the federation.
    pub role: Role,
    /// Whether its time is DTN time.
    #[serde(default = "default_clock")]
    pub clock: Clock,
    /// Its neighbours: sessions, forwarding and replication happen only with them.
    #[serde(default)]
    pub neighbours: Vec<Neighbour>,
    /// Static routes, tried in order after contact-graph routing.
    #[serde(default)]
    pub routes: Vec<StaticRoute>,
    /// The configured contact plan. A neighbour with a contact from this node is reached only
    /// during its contacts; any other neighbour whenever it can be.
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Nodes whose contact-plan bundles this node accepts.
    #[serde(default)]
    pub plan_authorities: Vec<NodeNumber>,
    /// How often replicated state is shipped to each connected neighbour, in ms.
    #[serde(default = "default_replication_interval")]
    pub replication_interval_ms: u64,
    /// How long to wait before dialling a neighbour again, in ms.
    #[serde(default = "default_reconnect_interval")]
    pub reconnect_interval_ms: u64,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// Services of this node whose bundles a local domain receives through the federation
    /// protocol (`Request::Receive`): a bundle for one of them is held, in custody, until its
    /// owner takes it. A bundle for any other service is handed to the caller
    /// ([`Output::Deliver`](crate::Output::Deliver)) at once.
    #[serde(default)]
    pub local_services: Vec<LocalService>,
    /// The one local domain that may publish this tile's telemetry figures
    /// (`Request::PublishFigures`, docs/federation.md "Pod aggregates"); none if absent.
    #[serde(default)]
    pub figures_publisher: Option<FiguresPublisher>,
}

/// The local domain that publishes this tile's telemetry figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiguresPublisher {
    /// Its name in the tile description.
    pub domain: String,
    /// The badge of its capability to the federation endpoint: only requests with it may
    /// publish. The image builder sets it from `domain`; a description does not.
    #[serde(default)]
    pub badge: u64,
}

impl FiguresPublisher {
    /// The domain `domain`, whose requests carry `badge`.
    pub fn new(domain: impl Into<String>, badge: u64) -> Self {
        FiguresPublisher { domain: domain.into(), badge }
    }
}

/// A local service and the one domain that may take its bundles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalService {
    /// The service number (`ipn:<node>.<service>`).
    pub service: u32,
    /// The owning domain's name in the tile description.
    pub domain: String,
    /// The badge of the owner's capability to the federation endpoint: only requests with
    /// it may receive and confirm the service's bundles. The image builder sets it from
    /// `domain`; a description does not.
    #[serde(default)]
    pub badge: u64,
}

impl LocalService {
    /// Service `service`, owned by `domain`, whose requests carry `badge`.
    pub fn new(service: u32, domain: impl Into<String>, badge: u64) -> Self {
        LocalService { service, domain: domain.into(), badge }
    }
}

/// Most [`NodeConfig::local_services`].
pub const MAX_LOCAL_SERVICES: usize = 8;

fn default_clock() -> Clock {
    Clock::Synchronized
}

fn default_replication_interval() -> u64 {
    5_000
}

fn default_reconnect_interval() -> u64 {
    2_000
}

impl NodeConfig {
    /// A node with no neighbours, routes or contacts, a synchronized clock and default limits.
    pub fn new(node: NodeNumber, role: Role) -> Self {
        NodeConfig {
            node,
            role,
            clock: default_clock(),
            neighbours: Vec::new(),
            routes: Vec::new(),
            contacts: Vec::new(),
            plan_authorities: Vec::new(),
            replication_interval_ms: default_replication_interval(),
            reconnect_interval_ms: default_reconnect_interval(),
            limits: Limits::default(),
            local_services: Vec::new(),
            figures_publisher: None,
        }
    }

    /// Adds a neighbour reached at `address`.
    pub fn neighbour(mut self, node: NodeNumber, address: impl Into<String>) -> Self {
        self.neighbours.push(Neighbour { node, address: address.into(), client: false });
        self
    }

    /// Adds a client neighbour ([`Neighbour::client`]): it dials this node, never the
    /// reverse.
    pub fn client_neighbour(mut self, node: NodeNumber) -> Self {
        self.neighbours.push(Neighbour { node, address: String::new(), client: true });
        self
    }

    /// Adds a static route.
    pub fn route(mut self, pattern: impl Into<String>, via: NodeNumber) -> Self {
        self.routes.push(StaticRoute { pattern: pattern.into(), via });
        self
    }

    /// Adds a contact to the plan.
    pub fn contact(mut self, contact: Contact) -> Self {
        self.contacts.push(contact);
        self
    }

    /// Whether `node` is a neighbour.
    pub fn is_neighbour(&self, node: NodeNumber) -> bool {
        self.neighbours.iter().any(|n| n.node == node)
    }

    /// Checks the configuration; the error names the entry at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.node == 0 {
            return Err(ConfigError::NodeZero);
        }
        for (index, neighbour) in self.neighbours.iter().enumerate() {
            if neighbour.node == self.node || neighbour.node == 0 {
                return Err(ConfigError::BadNeighbour { index, node: neighbour.node });
            }
            if self.neighbours[..index].iter().any(|n| n.node == neighbour.node) {
                return Err(ConfigError::DuplicateNeighbour { node: neighbour.node });
            }
        }
        for (index, route) in self.routes.iter().enumerate() {
            let scheme_ok = route.pattern.starts_with("ipn:") || route.pattern.starts_with("dtn:");
            if !scheme_ok {
                return Err(ConfigError::BadRoutePattern { index });
            }
            if !self.is_neighbour(route.via) {
                return Err(ConfigError::RouteViaStranger { index, via: route.via });
            }
        }
        for (index, contact) in self.contacts.iter().enumerate() {
            contact.check().map_err(|problem| ConfigError::BadContact { index, problem })?;
        }
        let limits = &self.limits;
        if limits.max_bundle_bytes < 64 || limits.max_spooled == 0 || limits.max_in_flight == 0 {
            return Err(ConfigError::LimitTooSmall);
        }
        if self.replication_interval_ms == 0 || self.reconnect_interval_ms == 0 {
            return Err(ConfigError::ZeroInterval);
        }
        if self.local_services.len() > MAX_LOCAL_SERVICES {
            return Err(ConfigError::TooManyLocalServices);
        }
        for (index, local) in self.local_services.iter().enumerate() {
            let service = local.service;
            let reserved = service == REPLICATION_SERVICE || service == CONTACT_PLAN_SERVICE;
            if reserved || self.local_services[..index].iter().any(|l| l.service == service) {
                return Err(ConfigError::BadLocalService { index, service });
            }
            if local.domain.is_empty() {
                return Err(ConfigError::LocalServiceWithoutOwner { index });
            }
        }
        if self.figures_publisher.as_ref().is_some_and(|p| p.domain.is_empty()) {
            return Err(ConfigError::PublisherWithoutDomain);
        }
        Ok(())
    }

    /// Local service `service`, if configured.
    pub fn local_service(&self, service: u32) -> Option<&LocalService> {
        self.local_services.iter().find(|l| l.service == service)
    }
}

/// What is wrong with a [`NodeConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `node` is 0 (`ipn:0.*` is the null node).
    NodeZero,
    /// Neighbour `index` is this node itself or node 0.
    BadNeighbour {
        /// Its position in `neighbours`.
        index: usize,
        /// Its node number.
        node: NodeNumber,
    },
    /// A node is listed twice in `neighbours`.
    DuplicateNeighbour {
        /// The node.
        node: NodeNumber,
    },
    /// Route `index`'s pattern is not an `ipn:` or `dtn:` endpoint or prefix.
    BadRoutePattern {
        /// Its position in `routes`.
        index: usize,
    },
    /// Route `index` goes via a node that is not a neighbour.
    RouteViaStranger {
        /// Its position in `routes`.
        index: usize,
        /// The node it names.
        via: NodeNumber,
    },
    /// Contact `index` is malformed.
    BadContact {
        /// Its position in `contacts`.
        index: usize,
        /// What is wrong.
        problem: ContactProblem,
    },
    /// `max_bundle_bytes` is below 64, or `max_spooled` or `max_in_flight` is 0.
    LimitTooSmall,
    /// `replication_interval_ms` or `reconnect_interval_ms` is 0.
    ZeroInterval,
    /// More than [`MAX_LOCAL_SERVICES`] local services.
    TooManyLocalServices,
    /// Local service `index` is the replication or contact-plan service, or listed twice.
    BadLocalService {
        /// Its position in `local_services`.
        index: usize,
        /// The service number.
        service: u32,
    },
    /// Local service `index` names no owning domain.
    LocalServiceWithoutOwner {
        /// Its position in `local_services`.
        index: usize,
    },
    /// `figures_publisher` names no domain.
    PublisherWithoutDomain,
}

/// What is wrong with a [`Contact`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactProblem {
    /// It ends at or before its start.
    Empty,
    /// Its data rate is 0.
    ZeroRate,
    /// It goes from a node to itself, or involves node 0.
    BadNodes,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NodeZero => f.write_str("node: 0 is not a node number"),
            ConfigError::BadNeighbour { index, node } => write!(f, "neighbours[{index}]: node {node} is this node or 0"),
            ConfigError::DuplicateNeighbour { node } => write!(f, "neighbours: node {node} is listed twice"),
            ConfigError::BadRoutePattern { index } => write!(f, "routes[{index}].pattern: not an ipn: or dtn: endpoint"),
            ConfigError::RouteViaStranger { index, via } => write!(f, "routes[{index}].via: node {via} is not a neighbour"),
            ConfigError::BadContact { index, problem } => write!(f, "contacts[{index}]: {problem:?}"),
            ConfigError::LimitTooSmall => f.write_str("limits: max_bundle_bytes < 64, or max_spooled or max_in_flight is 0"),
            ConfigError::ZeroInterval => f.write_str("replication_interval_ms or reconnect_interval_ms is 0"),
            ConfigError::TooManyLocalServices => write!(f, "local_services: more than {MAX_LOCAL_SERVICES}"),
            ConfigError::BadLocalService { index, service } => write!(
                f,
                "local_services[{index}]: service {service} is listed twice or reserved ({REPLICATION_SERVICE}: replication, {CONTACT_PLAN_SERVICE}: contact plans)"
            ),
            ConfigError::LocalServiceWithoutOwner { index } => {
                write!(f, "local_services[{index}].domain: empty (name the domain that takes the service's bundles)")
            }
            ConfigError::PublisherWithoutDomain => {
                write!(f, "figures_publisher.domain: empty (name the domain that publishes the tile's telemetry figures)")
            }
        }
    }
}
