//! The inference router (seed `002_…`, "Inference routing"; docs/inference.md, "Routing"): a
//! deterministic, reproducible function of a versioned, signed routing policy and a query
//! that gives the topic(s), the trust tier and the specialists (base + adapter + lineage +
//! provenance).
//!
//! - [`policy`]: the policy text format, its parser (errors name the line and field) and its
//!   Ed25519 signature check.
//! - [`route()`]: the routing function, the requester's choice (explicit specialists, a
//!   provenance mix, a policy variant), per-tier provenance enforcement and provenance-diverse
//!   panels, and the canonical encodings that let anyone re-run a logged route
//!   (`tileos-route replay`).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod policy;
pub mod route;

pub use policy::{Class, Policy, PolicyError, PolicyErrorKind, sign_policy};
pub use route::{Choice, Request, Route, RouteError, route};
