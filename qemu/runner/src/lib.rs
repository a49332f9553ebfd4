//! The tileos QEMU machine definition and boot runner.
//!
//! One machine definition ([`Machine`]) is used everywhere — `make run`, `make debug`, the
//! boot tests and the benchmarks — so every image sees the same CPU, memory and devices.
//! [`run`] boots an image with a wall-clock timeout, captures the serial log to a file and
//! decodes the guest's own verdict from the `isa-debug-exit` device; a hung guest ends as
//! [`Ended::TimedOut`] with its last serial lines available, never as a hung test.

pub mod generated;
pub mod host;
pub mod images;
mod machine;
mod run;
pub mod torture;

pub use machine::{
    AGENT_PORT, Boot, BootModule, CLIENT_TCP_PORT, CLIENT_UDP_PORT, Forward, Machine, TileDevices, forwarded_network,
    forwarded_network_with, nvme_disk_args, sensor_link_args,
};
pub use run::{Ended, Event, RunOutcome, RunnerError, run, run_interactive, run_until, run_until_host_done, run_watch};
