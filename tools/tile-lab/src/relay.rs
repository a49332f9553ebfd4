//! Host-side relays: the lab's links.
//!
//! For each direction A→B of a link the lab listens on a loopback port; tile A's
//! configuration names neighbour B at that port, and the relay forwards each connection to
//! B's TCPCL listener. The link's state ([`LinkState`], shared by both directions) is
//! controlled by the lab: **cut** refuses new connections (accepts and closes them at once)
//! and closes open ones; **restore** accepts again; **delay** holds every chunk of bytes read
//! from either side for the one-way light time before writing it on; **loss** breaks a
//! connection with the given probability per forwarded chunk (TCP cannot lose bytes
//! silently: a lossy contact is a contact that breaks). Each accepted and forwarded
//! connection is one *contact*.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Largest chunk read (and delayed, and forwarded) at once.
const CHUNK: usize = 64 * 1024;

/// How long a relay tries to reach the tile it forwards to.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The controllable state of one link (both directions).
#[derive(Debug)]
pub struct LinkState {
    up: AtomicBool,
    owlt_ms: AtomicU64,
    /// Loss probability in millionths.
    loss_ppm: AtomicU64,
    rng: Mutex<u64>,
    /// Open connections of both directions: id → (accepted side, forwarded side).
    open: Mutex<Vec<(u64, TcpStream, TcpStream)>>,
    next_id: AtomicU64,
}

impl LinkState {
    /// A link that is `up`, with light time `owlt_ms`, loss probability `loss` per chunk and
    /// the seed of its loss draws.
    pub fn new(up: bool, owlt_ms: u64, loss: f64, seed: u64) -> Arc<LinkState> {
        Arc::new(LinkState {
            up: AtomicBool::new(up),
            owlt_ms: AtomicU64::new(owlt_ms),
            loss_ppm: AtomicU64::new(ppm(loss)),
            rng: Mutex::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            open: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
        })
    }

    /// Cuts the link: new connections are refused and open ones closed. Returns how many
    /// were open.
    pub fn cut(&self) -> usize {
        self.up.store(false, Ordering::SeqCst);
        let open = std::mem::take(&mut *self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for (_, accepted, forwarded) in &open {
            let _ = accepted.shutdown(Shutdown::Both);
            let _ = forwarded.shutdown(Shutdown::Both);
        }
        open.len()
    }

    /// Restores the link.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// Whether the link is up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// Sets the one-way light time (applies to bytes read from now on).
    pub fn set_owlt_ms(&self, owlt_ms: u64) {
        self.owlt_ms.store(owlt_ms, Ordering::SeqCst);
    }

    /// The one-way light time.
    pub fn owlt_ms(&self) -> u64 {
        self.owlt_ms.load(Ordering::SeqCst)
    }

    /// Sets the probability that a forwarded chunk breaks its connection.
    pub fn set_loss(&self, loss: f64) {
        self.loss_ppm.store(ppm(loss), Ordering::SeqCst);
    }

    /// How many connections are open.
    pub fn open_connections(&self) -> usize {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// Draws whether this chunk breaks the connection (xorshift64*).
    fn lose(&self) -> bool {
        let p = self.loss_ppm.load(Ordering::Relaxed);
        if p == 0 {
            return false;
        }
        let mut state = self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let draw = state.wrapping_mul(0x2545_F491_4F6C_DD1D) % 1_000_000;
        draw < p
    }

    fn register(&self, accepted: &TcpStream, forwarded: &TcpStream) -> Option<u64> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (a, f) = (accepted.try_clone().ok()?, forwarded.try_clone().ok()?);
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((id, a, f));
        Some(id)
    }

    fn unregister(&self, id: u64) {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|(i, _, _)| *i != id);
    }
}

fn ppm(p: f64) -> u64 {
    (p.clamp(0.0, 1.0) * 1_000_000.0).round() as u64
}

/// What one relay (one direction of a link) did.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Connections accepted and forwarded while the link was up: contacts.
    pub contacts: AtomicU64,
    /// Connections refused because the link was cut.
    pub refused: AtomicU64,
    /// Connections accepted whose target could not be reached.
    pub unreachable: AtomicU64,
    /// Connections broken by a loss draw.
    pub broken_by_loss: AtomicU64,
    /// Bytes forwarded from the dialling side to the target.
    pub bytes_forward: AtomicU64,
    /// Bytes forwarded from the target back to the dialling side.
    pub bytes_back: AtomicU64,
}

/// One direction of a link: a loopback listener forwarding to a target address.
pub struct Relay {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Its counters.
    pub stats: Arc<RelayStats>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    /// Listens on 127.0.0.1 (`port` 0: a free one) and forwards every connection to `target`
    /// under the control of `link`.
    pub fn start(port: u16, target: String, link: Arc<LinkState>) -> Result<Relay, String> {
        let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| format!("relay: cannot listen on 127.0.0.1:{port}: {e}"))?;
        let port = listener.local_addr().map_err(|e| format!("relay: {e}"))?.port();
        let stats = Arc::new(RelayStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (stats.clone(), stop.clone());
        thread::Builder::new()
            .name(format!("relay-{port}"))
            .spawn(move || accept_loop(listener, target, link, s, st))
            .map_err(|e| format!("relay: cannot start a thread: {e}"))?;
        Ok(Relay { port, stats, stop })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], self.port)), Duration::from_millis(200));
    }
}

fn accept_loop(listener: TcpListener, target: String, link: Arc<LinkState>, stats: Arc<RelayStats>, stop: Arc<AtomicBool>) {
    for incoming in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(accepted) = incoming else { continue };
        if !link.is_up() {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            let _ = accepted.shutdown(Shutdown::Both);
            continue;
        }
        let forwarded = match target.parse::<SocketAddr>() {
            Ok(addr) => TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT),
            Err(_) => TcpStream::connect(&target),
        };
        let Ok(forwarded) = forwarded else {
            stats.unreachable.fetch_add(1, Ordering::Relaxed);
            let _ = accepted.shutdown(Shutdown::Both);
            continue;
        };
        // A cut between the check above and here would miss this connection: check again
        // once it is registered (cut() empties the registry first, then we look at `up`).
        let Some(id) = link.register(&accepted, &forwarded) else { continue };
        if !link.is_up() {
            link.unregister(id);
            stats.refused.fetch_add(1, Ordering::Relaxed);
            let _ = accepted.shutdown(Shutdown::Both);
            let _ = forwarded.shutdown(Shutdown::Both);
            continue;
        }
        stats.contacts.fetch_add(1, Ordering::Relaxed);
        let _ = accepted.set_nodelay(true);
        let _ = forwarded.set_nodelay(true);
        let remaining = Arc::new(AtomicU64::new(2));
        for forward in [true, false] {
            let (from, to) =
                if forward { (accepted.try_clone(), forwarded.try_clone()) } else { (forwarded.try_clone(), accepted.try_clone()) };
            let (Ok(from), Ok(to)) = (from, to) else {
                link.unregister(id);
                break;
            };
            let (link, stats, remaining) = (link.clone(), stats.clone(), remaining.clone());
            let _ = thread::Builder::new().name("relay-pump".into()).spawn(move || {
                pump(from, to, &link, &stats, forward);
                if remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
                    link.unregister(id);
                }
            });
        }
    }
}

/// Copies `from` to `to`, each chunk held for the light time at the moment it was read.
/// A reader thread stamps chunks; this thread writes them when due.
fn pump(mut from: TcpStream, mut to: TcpStream, link: &Arc<LinkState>, stats: &RelayStats, forward: bool) {
    let (sender, chunks) = mpsc::channel::<Option<(Instant, Vec<u8>)>>();
    let reader_link = link.clone();
    let (from_clone, to_clone) = (from.try_clone(), to.try_clone());
    let reader = thread::Builder::new().name("relay-read".into()).spawn(move || {
        let mut buffer = vec![0u8; CHUNK];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => {
                    let _ = sender.send(None);
                    return;
                }
                Ok(n) => {
                    if reader_link.lose() {
                        let _ = sender.send(Some((Instant::now(), Vec::new())));
                        return;
                    }
                    let due = Instant::now() + Duration::from_millis(reader_link.owlt_ms());
                    if sender.send(Some((due, buffer[..n].to_vec()))).is_err() {
                        return;
                    }
                }
            }
        }
    });
    if reader.is_err() {
        return;
    }
    let counter = if forward { &stats.bytes_forward } else { &stats.bytes_back };
    let close_both = || {
        if let Ok(s) = &from_clone {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Ok(s) = &to_clone {
            let _ = s.shutdown(Shutdown::Both);
        }
    };
    while let Ok(message) = chunks.recv() {
        match message {
            Some((_, bytes)) if bytes.is_empty() => {
                // A loss draw: the contact breaks.
                stats.broken_by_loss.fetch_add(1, Ordering::Relaxed);
                close_both();
                return;
            }
            Some((due, bytes)) => {
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
                if to.write_all(&bytes).is_err() {
                    close_both();
                    return;
                }
                counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            None => {
                // End of stream one way: pass the half-close on.
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on a free loopback port.
    fn echo_server() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut s = stream;
                    let mut buffer = [0u8; 4096];
                    while let Ok(n) = s.read(&mut buffer) {
                        if n == 0 || s.write_all(&buffer[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    fn round_trip(port: u16, text: &[u8]) -> std::io::Result<(Vec<u8>, Duration)> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let start = Instant::now();
        s.write_all(text)?;
        let mut got = vec![0u8; text.len()];
        s.read_exact(&mut got)?;
        Ok((got, start.elapsed()))
    }

    #[test]
    fn a_relay_forwards_both_ways_and_counts_a_contact() {
        let link = LinkState::new(true, 0, 0.0, 1);
        let relay = Relay::start(0, format!("127.0.0.1:{}", echo_server()), link).unwrap();
        let (got, _) = round_trip(relay.port, b"hello").unwrap();
        assert_eq!(got, b"hello");
        assert_eq!(relay.stats.contacts.load(Ordering::SeqCst), 1);
        assert_eq!(relay.stats.bytes_forward.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn a_cut_closes_open_connections_and_refuses_new_ones_until_restored() {
        let link = LinkState::new(true, 0, 0.0, 1);
        let relay = Relay::start(0, format!("127.0.0.1:{}", echo_server()), link.clone()).unwrap();
        let mut open = TcpStream::connect(("127.0.0.1", relay.port)).unwrap();
        open.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        open.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        open.read_exact(&mut one).unwrap();
        assert_eq!(link.cut(), 1);
        // The open connection ends (EOF or reset).
        let mut rest = [0u8; 8];
        assert!(matches!(open.read(&mut rest), Ok(0) | Err(_)));
        // A new one is accepted and closed at once.
        let mut refused = TcpStream::connect(("127.0.0.1", relay.port)).unwrap();
        refused.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = refused.write_all(b"y");
        assert!(matches!(refused.read(&mut rest), Ok(0) | Err(_)));
        assert!(relay.stats.refused.load(Ordering::SeqCst) >= 1);
        link.restore();
        assert_eq!(round_trip(relay.port, b"back").unwrap().0, b"back");
        assert_eq!(relay.stats.contacts.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_delay_holds_bytes_for_the_light_time_each_way() {
        // Light times long enough that a loaded host's scheduling delays (tens to hundreds
        // of ms) cannot blur the difference.
        let link = LinkState::new(true, 500, 0.0, 1);
        let relay = Relay::start(0, format!("127.0.0.1:{}", echo_server()), link.clone()).unwrap();
        let (_, rtt) = round_trip(relay.port, b"ping").unwrap();
        assert!(rtt >= Duration::from_millis(1000), "round trip {rtt:?} is shorter than two light times");
        assert!(rtt < Duration::from_millis(5000), "round trip {rtt:?}");
        link.set_owlt_ms(0);
        let (_, rtt) = round_trip(relay.port, b"ping").unwrap();
        assert!(rtt < Duration::from_millis(1000), "round trip {rtt:?} after the delay was removed");
    }

    #[test]
    fn total_loss_breaks_every_contact() {
        let link = LinkState::new(true, 0, 1.0, 7);
        let relay = Relay::start(0, format!("127.0.0.1:{}", echo_server()), link.clone()).unwrap();
        assert!(round_trip(relay.port, b"lost").is_err());
        assert_eq!(relay.stats.broken_by_loss.load(Ordering::SeqCst), 1);
        link.set_loss(0.0);
        assert_eq!(round_trip(relay.port, b"kept").unwrap().0, b"kept");
    }

    #[test]
    fn loss_draws_follow_the_rate() {
        let link = LinkState::new(true, 0, 0.25, 3);
        let lost = (0..10_000).filter(|_| link.lose()).count();
        assert!((2_200..2_800).contains(&lost), "{lost} of 10,000 draws lost at 25 %");
    }
}
