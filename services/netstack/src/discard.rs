//! A TCP discard service (RFC 863) on [`DISCARD_PORT`] for the throughput benchmark
//! (`make bench`): it reads and drops everything a client sends and, when the client
//! closes its side, closes too and reports how many bytes arrived between the first
//! payload byte and the client's FIN, and the counter readings the caller supplied at
//! those two moments (`rdtsc`, the idle loop's counter and the HPET main counter in the
//! netstack binary).

use alloc::vec;
use alloc::vec::Vec;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::IpEndpoint;

/// TCP port of the discard service.
pub const DISCARD_PORT: u16 = 9;
/// Receive buffer bytes per socket (the advertised window).
const RECEIVE_BYTES: usize = 64 * 1024;
/// Transmit buffer bytes per socket (the service sends nothing).
const TRANSMIT_BYTES: usize = 512;
/// Sockets listening at once, so that the next client finds one while the previous
/// connection is still closing.
const SOCKETS: usize = 2;

/// Counter readings at one moment, supplied by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    /// Time-stamp counter.
    pub ticks: u64,
    /// Iterations of the idle loop so far (0 without one).
    pub idle: u64,
    /// A second clock to check the first against (the HPET main counter).
    pub clock: u64,
}

/// One finished connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Connections finished so far, this one included (1 for the first).
    pub number: u64,
    /// The client.
    pub from: Option<IpEndpoint>,
    /// Payload bytes received.
    pub bytes: u64,
    /// Readings when the first payload byte was taken from the socket.
    pub first: Stamp,
    /// Readings when the client's FIN was seen.
    pub last: Stamp,
}

/// Per-socket progress of the current connection.
#[derive(Clone, Copy, Default)]
struct Progress {
    bytes: u64,
    first: Option<Stamp>,
    closing: bool,
}

/// The discard sockets.
pub struct Discard {
    sockets: [(SocketHandle, Progress); SOCKETS],
    finished: u64,
}

impl Discard {
    /// Adds the discard sockets to `sockets`, listening.
    pub fn new(sockets: &mut SocketSet<'_>) -> Discard {
        let sockets = core::array::from_fn(|_| {
            let socket = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; RECEIVE_BYTES]), tcp::SocketBuffer::new(vec![0; TRANSMIT_BYTES]));
            (sockets.add(socket), Progress::default())
        });
        Discard { sockets, finished: 0 }
    }

    /// Drops whatever arrived; `now` reads the counters (called only when bytes or a FIN
    /// arrived). Returns the connections that finished in this call.
    pub fn poll(&mut self, sockets: &mut SocketSet<'_>, mut now: impl FnMut() -> Stamp) -> Vec<Transfer> {
        let mut done = Vec::new();
        for (handle, progress) in &mut self.sockets {
            let socket = sockets.get_mut::<tcp::Socket>(*handle);
            match socket.state() {
                tcp::State::Closed => {
                    socket.listen(DISCARD_PORT).expect("a closed socket listens on a non-zero port");
                    *progress = Progress::default();
                    continue;
                }
                tcp::State::TimeWait => {
                    socket.abort();
                    continue;
                }
                _ => {}
            }
            while socket.can_recv() {
                let taken = socket.recv(|data| (data.len(), data.len())).unwrap_or(0);
                if taken == 0 {
                    break;
                }
                if progress.first.is_none() {
                    progress.first = Some(now());
                }
                progress.bytes += taken as u64;
            }
            if !socket.may_recv() && socket.state() == tcp::State::CloseWait && !progress.closing {
                progress.closing = true;
                let last = now();
                self.finished += 1;
                done.push(Transfer {
                    number: self.finished,
                    from: socket.remote_endpoint(),
                    bytes: progress.bytes,
                    first: progress.first.unwrap_or(last),
                    last,
                });
                socket.close();
            }
        }
        done
    }
}
