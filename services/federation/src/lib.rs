//! The logic of a tile's federation service (DESIGN.md §7, docs/federation.md): a BPv7
//! (RFC 9171) node with custody over TCPCLv4 (RFC 9174) sessions, contact-graph routing,
//! fragmentation and reassembly, and delta-CRDT replication of federation state, as a
//! sans-IO state machine.
//!
//! * [`FederationNode`]: inputs are the time ([`FederationNode::tick`]), connections
//!   ([`FederationNode::connected`], [`FederationNode::receive`],
//!   [`FederationNode::disconnected`]) and local requests ([`FederationNode::send`],
//!   [`FederationNode::serve`] for `tileos_protocol::federation`,
//!   [`FederationNode::delivered`]); outputs ([`Output`], [`FederationNode::poll`]) are
//!   bytes to transmit, connections to open or close, deliveries and log events.
//! * Custody: a bundle received from a peer is stored durably in the [`BundleStore`]
//!   before its final TCPCL XFER_ACK is queued (`tileos_tcpcl::FinalAck::Deferred`); it is
//!   deleted only once delivered locally, acknowledged by the next hop, or expired.
//!   [`FederationNode::recover`] reloads everything after a restart.
//! * Routing ([`routing`]): earliest-arrival contact-graph routing over the contact plan,
//!   then direct neighbours, then static routes ([`StaticRoute`]).
//! * Replication ([`replica`]): the tile inventory, counters and registers as one
//!   delta-CRDT ([`FederatedState`]), exchanged with neighbours by delta-interval
//!   anti-entropy in bundles to service [`REPLICATION_SERVICE`].
//! * Pod aggregates ([`aggregates`]): each tile publishes its telemetry summary in the
//!   replicated state; every node combines what reached it into its pod's aggregates.
//! * Bad input is refused and counted by reason ([`Counters`], [`Refusal`]).
//! * [`bench`](mod@bench): delta versus full-state bytes after a partition.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod aggregates;
pub mod bench;
mod config;
mod counters;
mod node;
pub mod record;
pub mod replica;
pub mod routing;
mod service;
mod store;

use alloc::format;

pub use config::{
    Clock, ConfigError, ContactProblem, FiguresPublisher, Limits, LocalService, MAX_LOCAL_SERVICES, Neighbour, NodeConfig, NodeNumber,
    Role, StaticRoute,
};
pub use counters::{Counters, DropReason, Refusal};
pub use node::{ConnId, Delivery, FederationNode, LogEvent, Origin, Output, RecoverError, Recovery, SendError, UpdateError};
pub use replica::{FederatedState, Module, REPLICATION_SERVICE, Replica, ReplicationError, StateSizes};
pub use routing::Contact;
pub use store::{BundleStore, Durability, MemoryStore, StoreError};
pub use tileos_bpv7::Eid;

/// The service number contact-plan bundles are addressed to: the payload is
/// [`routing::encode_plan`]'s, accepted from the nodes in
/// [`NodeConfig::plan_authorities`] only, and the newest (by creation timestamp) wins.
pub const CONTACT_PLAN_SERVICE: u32 = 8;

/// The endpoint `ipn:node.service`.
pub fn ipn(node: NodeNumber, service: u32) -> Eid {
    // "ipn:<u32>.<u32>" always parses; the fallback is never taken.
    format!("ipn:{node}.{service}").parse().unwrap_or_default()
}

/// The node number of an `ipn` endpoint (default allocator only).
pub fn node_of(eid: &Eid) -> Option<NodeNumber> {
    match eid {
        Eid::Ipn { fqnn, .. } | Eid::LegacyIpn { fqnn, .. } if fqnn.allocator_id == 0 => Some(fqnn.node_number),
        _ => None,
    }
}

/// The service number of an `ipn` endpoint.
pub fn service_of(eid: &Eid) -> Option<u32> {
    match eid {
        Eid::Ipn { service_number, .. } | Eid::LegacyIpn { service_number, .. } => Some(*service_number),
        _ => None,
    }
}

/// `text` as a fixed-capacity protocol string, cut at the last character that fits.
fn protocol_string<const N: usize>(text: &str) -> tileos_protocol::heapless::String<N> {
    let mut end = text.len().min(N);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    tileos_protocol::heapless::String::try_from(&text[..end]).unwrap_or_default()
}
