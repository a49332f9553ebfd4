//! BPv7 bundles (RFC 9171) for the tileos federation service.
//!
//! This crate is a small owned-data API over [`hardy_bpv7`]:
//!
//! * [`Bundle::decode`] parses a bundle with `hardy-bpv7` (which checks the CBOR structure, the
//!   CRC of every block, the EIDs and the BPSec block structure) and copies it into an owned
//!   [`Bundle`]; [`Policy::Strict`] adds the RFC 9171 §4.3.1 rule that a primary block without a
//!   CRC must be the target of a BIB, and the §4.4.2 rule that a bundle without a creation clock
//!   carries a bundle age block.
//! * [`Bundle::encode`] emits canonical CBOR (RFC 9171 §4.1, RFC 8949 §4.2.1) with each block's
//!   CRC (CRC-16/X.25 or CRC-32C, §4.2.1), so a decoded canonical bundle re-encodes byte for byte.
//! * [`BundleBuilder`] makes new bundles; [`Bundle::fragment`] splits one to a size limit
//!   (§5.8), holding each payload byte once, and [`Reassembler`] puts fragments back together
//!   (§5.9).
//! * A forwarding node updates the bundle age, previous node and hop count blocks (§4.4) with
//!   [`Bundle::set_bundle_age_ms`], [`Bundle::set_previous_node`] and [`Bundle::set_hop_count`].
//! * [`Bundle::is_expired`] applies the creation timestamp, lifetime and bundle age (§4.2.6,
//!   §4.2.7, §4.4.2).
//!
//! Not done: BPSec (RFC 9172/9173) signing, verification and decryption — security blocks are
//! decoded, kept and re-encoded as opaque blocks, and a bundle that carries any is refused by
//! [`Bundle::fragment`]. Status reports and administrative records are not built here.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod bundle;
mod error;
mod fragment;

pub use bundle::{
    Bundle, BundleBuilder, CanonicalBlock, CrcType, CreationTimestamp, FragmentInfo, HopCount, Policy, block_flags, block_type,
    bundle_flags,
};
pub use error::Error;
pub use fragment::Reassembler;
/// Endpoint IDs (`ipn:` and `dtn:` schemes, RFC 9171 §4.2.5), parsed with `str::parse`.
pub use hardy_bpv7::eid::Eid;
