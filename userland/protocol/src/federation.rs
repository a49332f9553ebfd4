//! The federation protocol: local domains send bundles through the tile's federation
//! service and read and update the state it replicates across the federation (the pod's
//! tile inventory, counters, registers), docs/federation.md.
//!
//! The federation domain serves it on the endpoint named [`Federation::NAME`](crate::Protocol::NAME)
//! (`"federation"`). What it does with each request is `tileos_federation`'s
//! `FederationNode::serve`, host-tested. Updates to replicated state are stored before they
//! are answered, and reach the other nodes with the next anti-entropy round; reads answer
//! from this node's replica, which may lag behind the others'.

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// The federation protocol.
pub struct Federation;

impl crate::Protocol for Federation {
    const NAME: &'static str = "federation";
    type Request = Request;
    type Response = Response;
}

/// Longest counter, register or module name, and module version.
pub const MAX_NAME: usize = 32;
/// Longest register value.
pub const MAX_VALUE: usize = 64;
/// Largest payload one [`Request::Send`] carries.
pub const MAX_PAYLOAD: usize = 768;
/// Most modules one [`Response::Modules`] lists.
pub const MAX_MODULES: usize = 8;

/// A request to the federation service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum Request {
    /// The node's counters and spool. Answer: [`Response::Status`].
    Status,
    /// Send `payload` in a new bundle to `ipn:node.service`; it is stored before the answer.
    /// Answer: [`Response::Sent`].
    Send {
        /// Destination node.
        node: u32,
        /// Destination service.
        service: u32,
        /// Lifetime in milliseconds.
        lifetime_ms: u64,
        /// The payload.
        payload: Vec<u8, MAX_PAYLOAD>,
    },
    /// Record in the inventory that `tile` runs `module`. Answer: [`Response::Done`].
    AddModule {
        /// The tile's node number.
        tile: u32,
        /// The module.
        module: ModuleVersion,
    },
    /// Record that `tile` no longer runs `module`. Answer: [`Response::Done`].
    RemoveModule {
        /// The tile's node number.
        tile: u32,
        /// The module.
        module: ModuleVersion,
    },
    /// The modules `tile` runs, from the `skip`-th on. Answer: [`Response::Modules`].
    Modules {
        /// The tile's node number.
        tile: u32,
        /// How many to skip (for paging).
        skip: u32,
    },
    /// Add `delta` to counter `name`. Answer: [`Response::Counter`] with the new value;
    /// [`Error::ReservedName`] for a name under `telemetry.`.
    AddToCounter {
        /// The counter.
        name: String<MAX_NAME>,
        /// What to add (negative: subtract).
        delta: i64,
    },
    /// Counter `name`'s value (0 if never changed). Answer: [`Response::Counter`].
    Counter {
        /// The counter.
        name: String<MAX_NAME>,
    },
    /// Write `value` to register `name` (last writer wins, by the node's time). Answer:
    /// [`Response::Register`] with the value now held; [`Error::ReservedName`] for a name
    /// under `telemetry.` (the figures registers: only [`Request::PublishFigures`] writes
    /// them).
    SetRegister {
        /// The register.
        name: String<MAX_NAME>,
        /// The value.
        value: String<MAX_VALUE>,
    },
    /// Register `name`'s value. Answer: [`Response::Register`] ([`Error::NotFound`] if never
    /// written).
    Register {
        /// The register.
        name: String<MAX_NAME>,
    },
    /// Publish this tile's telemetry summary to its pod: the node writes it to the
    /// replicated register `telemetry.tile.<its node number>` (docs/federation.md, "Pod
    /// aggregates"). Only the domain the description names as the tile's figures publisher
    /// may. Answer: [`Response::Done`]; [`Error::NotPublisher`] for any other caller;
    /// [`Error::BadFigures`] for a load above 1000 permille.
    PublishFigures(TileFigures),
    /// The pod's aggregates: the published summaries that reached this node of the tiles
    /// numbered `first..=last` (a pod's node numbers, as routes group them; `0..=u32::MAX`
    /// for every tile), combined. Answer: [`Response::PodAggregates`].
    PodAggregates {
        /// The pod's first node number.
        first: u32,
        /// Its last.
        last: u32,
    },
    /// The oldest bundle held for local service `service` (one of the node's configured
    /// `local_services`). It stays held, and is answered again, until it is confirmed.
    /// Answer: [`Response::Received`]; [`Error::NotLocalService`], [`Error::NotOwner`] (the
    /// caller is not the service's owning domain) or [`Error::NothingHeld`].
    Receive {
        /// The service.
        service: u32,
    },
    /// The bundle `id` of service `service`, answered by [`Request::Receive`], is taken: the
    /// node deletes it. Answer: [`Response::Done`]; [`Error::NotHeld`] if no such bundle is
    /// held (e.g. confirmed already); [`Error::NotLocalService`] or [`Error::NotOwner`] as
    /// for [`Request::Receive`].
    Confirm {
        /// The service.
        service: u32,
        /// The bundle's number in [`Response::Received`].
        id: u64,
    },
}

/// A module and version, as the inventory holds them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleVersion {
    /// The module's name.
    pub name: String<MAX_NAME>,
    /// Its version.
    pub version: String<MAX_NAME>,
}

/// One tile's telemetry summary, as it publishes it to its pod.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TileFigures {
    /// The share of the CPU its domains consumed over its last interval, permille (≤ 1000).
    pub load_permille: u16,
    /// Faults of all its domains, cumulative.
    pub faults: u64,
    /// Restarts of all its domains, cumulative.
    pub restarts: u64,
    /// Protocol calls its reporting domains reported, cumulative.
    pub calls: u64,
    /// The slowest reporter's 99th-percentile call latency, µs (a log2 bucket's upper bound).
    pub p99_us: u64,
}

/// A pod's aggregates: the published summaries of every tile that reached this node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodAggregates {
    /// Tiles whose summaries were taken.
    pub tiles: u32,
    /// Their mean load, permille (rounded down).
    pub load_mean_permille: u16,
    /// The largest load, permille.
    pub load_max_permille: u16,
    /// The tile with the largest load (0: no tile).
    pub busiest: u32,
    /// Faults, summed.
    pub faults: u64,
    /// Restarts, summed.
    pub restarts: u64,
    /// Protocol calls, summed.
    pub calls: u64,
    /// The largest 99th percentile of any tile, µs: an upper bound of the pod's 99th
    /// percentile (a pod-wide percentile would need the tiles' histograms).
    pub p99_max_us: u64,
    /// Summaries not counted: malformed, under a register name that is no node number, or
    /// written by another node than the one the register names.
    pub refused: u32,
}

/// The node's state in numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// This node's number.
    pub node: u32,
    /// Bundles held (to forward, to deliver, fragments).
    pub spooled: u32,
    /// Established sessions.
    pub sessions: u32,
    /// Bundles accepted from peers since start.
    pub received: u64,
    /// Bundles forwarded and acknowledged since start.
    pub forwarded: u64,
    /// Bundles delivered locally since start.
    pub delivered: u64,
    /// Bundles dropped (expired, unforwardable) since start.
    pub dropped: u64,
    /// Inputs refused since start (all reasons).
    pub refused: u64,
}

/// What the federation service answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum Response {
    /// The node's state.
    Status(Status),
    /// The bundle is stored and will be forwarded.
    Sent {
        /// Its creation sequence number.
        sequence: u64,
    },
    /// The change is stored.
    Done,
    /// Modules of a tile.
    Modules {
        /// The modules.
        modules: Vec<ModuleVersion, MAX_MODULES>,
        /// Whether more follow (ask again with a larger `skip`).
        more: bool,
    },
    /// A counter's value.
    Counter {
        /// The value (saturated to the `i64` range).
        value: i64,
    },
    /// A bundle held for a local service.
    Received {
        /// Its number, to confirm it with.
        id: u64,
        /// The sender's node number (0 if the sender is not an `ipn` endpoint).
        source_node: u32,
        /// The sender's service number (0 if not `ipn`).
        source_service: u32,
        /// The whole payload's length: larger than `payload`'s if it was cut to
        /// [`MAX_PAYLOAD`].
        length: u32,
        /// The payload, or its first [`MAX_PAYLOAD`] bytes.
        payload: Vec<u8, MAX_PAYLOAD>,
    },
    /// The pod's aggregates ([`Request::PodAggregates`]).
    PodAggregates(PodAggregates),
    /// A register's value.
    Register {
        /// The value.
        value: String<MAX_VALUE>,
        /// The winning write's timestamp.
        timestamp: u64,
    },
    /// The request was not carried out.
    Failed(Error),
}

/// Why a request was not carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// A name, module or value is empty.
    EmptyName,
    /// The register was never written.
    NotFound,
    /// The destination is node 0 or the payload is larger than the node sends.
    BadDestination,
    /// The spool is full: retry after bundles have left.
    SpoolFull,
    /// The store failed; nothing was changed.
    StoreFailed,
    /// A counter or timestamp would overflow.
    Overflow,
    /// The service is not one of the node's `local_services`.
    NotLocalService,
    /// No bundle is held for the service.
    NothingHeld,
    /// No bundle with that number is held for the service.
    NotHeld,
    /// The service's bundles belong to another domain (the description's `local_services`
    /// names each one's owner); the caller may not receive or confirm them.
    NotOwner,
    /// Telemetry figures that cannot be true (a load above 1000 permille).
    BadFigures,
    /// A register or counter name under `telemetry.`: that namespace holds the tiles'
    /// published figures, written only by [`Request::PublishFigures`], never by name.
    ReservedName,
    /// The caller is not the domain the description names as this tile's figures publisher
    /// (`[federation] figures_publisher`); it may not publish the tile's figures.
    NotPublisher,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};

    fn repeated<const N: usize>(c: char) -> String<N> {
        core::iter::repeat_n(c, N).collect()
    }

    #[test]
    fn the_largest_messages_fit() {
        let mut words = [0; PAYLOAD_WORDS + 1];
        let send = Request::Send {
            node: u32::MAX,
            service: u32::MAX,
            lifetime_ms: u64::MAX,
            payload: Vec::from_slice(&[0xff; MAX_PAYLOAD]).unwrap(),
        };
        let length = encode(&send, &mut words).unwrap();
        assert_eq!(decode::<Request>(MESSAGE, &words[..length]), Ok(send));
        let long = repeated::<MAX_NAME>('m');
        let module = ModuleVersion { name: long.clone(), version: long };
        let modules = Response::Modules { modules: core::iter::repeat_n(module, MAX_MODULES).collect(), more: true };
        let length = encode(&modules, &mut words).unwrap();
        assert_eq!(decode::<Response>(MESSAGE, &words[..length]), Ok(modules));
        let set = Request::SetRegister { name: repeated('r'), value: repeated('v') };
        let length = encode(&set, &mut words).unwrap();
        assert_eq!(decode::<Request>(MESSAGE, &words[..length]), Ok(set));
    }
}
