//! The tile lab (issue #15): boots N tiles joined by loopback links the lab controls, runs a
//! scenario's timeline of cuts, delays, losses, reboots, sends and updates, and checks that
//! acknowledged bundles are delivered and replicated state converges.
//!
//! A tile is a process: a QEMU tile ([`tiles::QemuTile`]) or a host node
//! ([`tiles::HostNode`], `tileos-dtn-node`'s store-and-forward node). Tiles never talk to
//! each other directly: for each direction A→B of a link the lab runs a relay
//! ([`relay::Relay`]) on a loopback port, and A's configuration names B at that port. The
//! relays are where links are cut, delayed and made lossy. Modules, in the order a run uses
//! them: [`scenario`] (the file), [`topology`] (tiles, links, routes), [`tiletoml`] (each
//! tile's federation configuration and tile description), [`relay`], [`tiles`], [`state`]
//! (reading what a tile delivered and its replicated state), [`lab`] (the run and its
//! report). docs/federation.md, "The tile lab", is the user's guide.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bench;
pub mod lab;
pub mod relay;
pub mod scenario;
pub mod state;
pub mod tiles;
pub mod tiletoml;
pub mod topology;
