//! TCPCLv4 (RFC 9174), the TCP convergence layer for bundles, as a sans-IO state machine.
//!
//! [`Session`] consumes bytes read from a TCP connection ([`Session::receive`]) and the time
//! ([`Session::tick`]) and produces bytes to write ([`Session::poll_transmit`]) and
//! [`Event`]s ([`Session::poll_event`]); it does no I/O itself, so it runs the same over the
//! tileos network stack and over `std::net` in host tests. [`msg`] is the wire format.
//!
//! Covered: contact header (magic "dtn!", version 4, CAN_TLS never set), SESS_INIT negotiation
//! (minimum keepalive, segment and transfer MRUs, node ID, session extension items with the
//! CRITICAL flag), XFER_SEGMENT with START/END and segmentation to the peer's segment MRU,
//! the Transfer Length extension, cumulative XFER_ACK, XFER_REFUSE, KEEPALIVE and the idle
//! timeout, SESS_TERM with the REPLY flag, and MSG_REJECT. A receiver can hold back the final
//! XFER_ACK until it has stored the bundle ([`FinalAck::Deferred`], [`Session::acknowledge`]). One peer deviation
//! is tolerated and reported ([`Deviation`]).
//!
//! Not covered: TLS (RFC 9174 §4.4) — CAN_TLS is never offered, so sessions are plain TCP;
//! finishing an in-progress transfer after SESS_TERM (allowed, not required, by §6.1); the
//! optional session idle timeout when no transfers run.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod msg;
mod session;

pub use msg::{RefuseReason, RejectReason, TermReason};
pub use session::{Config, Deviation, Event, FinalAck, PeerInfo, Role, SendError, Session, SessionError};
