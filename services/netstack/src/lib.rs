//! The device-independent parts of the netstack domain, host-testable:
//!
//! - [`device`]: a `smoltcp` [`Device`](smoltcp::phy::Device) over the `net` driver's
//!   shared frame rings (`tileos_protocol::frames`);
//! - [`services`]: the UDP echo (port 7) and the tile status service (TCP port 8080);
//! - [`sockets`]: the socket protocol other domains use the stack through
//!   (`tileos_protocol::socket`): who owns which socket, and what each request does;
//! - [`discard`]: the TCP discard service (port 9) the throughput benchmark sends to;
//! - [`clock`] and [`hpet`]: `smoltcp` time from the HPET's main counter, and the HPET
//!   timer that wakes the netstack at `smoltcp`'s next deadline.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod clock;
pub mod device;
pub mod discard;
pub mod hpet;
pub mod services;
pub mod sockets;
#[cfg(test)]
mod testnet;
