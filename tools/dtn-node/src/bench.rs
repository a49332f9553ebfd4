//! Bundles per second over loopback TCPCLv4 in one session: the sender builds and encodes
//! the bundles, the receiver (a [`serve`](crate::serve) listener in the same process)
//! decodes each one strictly before acknowledging it.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tileos_bpv7::{Bundle, CreationTimestamp, Eid, Policy};
use tileos_tcpcl::RefuseReason;

use crate::serve::{Sink, serve};
use crate::transfer::send_bundles;

/// A listener's sink that decodes each bundle strictly (refusing one that does not decode as
/// *not acceptable*) and counts it; finished after `expected` (the tile lab's relay bench
/// uses it too).
pub struct Counter {
    expected: usize,
    decoded: AtomicUsize,
}

impl Counter {
    /// A counter that is finished after `expected` bundles.
    pub fn new(expected: usize) -> Counter {
        Counter { expected, decoded: AtomicUsize::new(0) }
    }
}

impl Sink for Counter {
    fn bundle(&self, _peer: &str, data: Vec<u8>) -> Result<(), RefuseReason> {
        Bundle::decode(&data, Policy::Strict).map_err(|_| RefuseReason::NotAcceptable)?;
        self.decoded.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn session_failed(&self, peer: &str, error: &str) {
        eprintln!("bench: session with {peer} failed: {error}");
    }

    fn finished(&self) -> bool {
        self.decoded.load(Ordering::Relaxed) >= self.expected
    }
}

/// Sends `count` bundles of `payload_len` bytes over one loopback session and returns
/// bundles per second, from building the first bundle to the last acknowledgement.
pub fn bundles_per_second(payload_len: usize, count: usize) -> Result<f64, String> {
    let eid = |text: &str| text.parse::<Eid>().map_err(|e| format!("{text}: {e}"));
    let (source, dest, receiver) = (eid("ipn:1.1")?, eid("ipn:2.1")?, eid("ipn:2.0")?);
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot listen on loopback: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("listener address: {e}"))?.to_string();
    let sink = Arc::new(Counter::new(count));
    let served = Arc::clone(&sink);
    let server = thread::spawn(move || serve(listener, &receiver, served));

    let start = Instant::now();
    let encoded = bench_bundles(&source, &dest, payload_len, count)?;
    let node = eid("ipn:1.0")?;
    let outcome = send_bundles(&addr, &node, encoded, Instant::now() + Duration::from_secs(300), |_| {})?;
    let elapsed = start.elapsed().as_secs_f64();
    server.join().map_err(|_| "bench listener panicked".to_string())??;
    if outcome.acked != count {
        return Err(format!("only {} of {count} bundles were acknowledged", outcome.acked));
    }
    Ok(count as f64 / elapsed)
}

/// `count` encoded bundles from `source` to `destination`, each with `payload_len` bytes of
/// payload and its own sequence number.
pub fn bench_bundles(source: &Eid, destination: &Eid, payload_len: usize, count: usize) -> Result<Vec<Vec<u8>>, String> {
    let payload = vec![0x5a; payload_len];
    (0..count as u64)
        .map(|sequence| {
            Bundle::builder(source.clone(), destination.clone())
                .creation(CreationTimestamp { time_ms: 800_000_000_000, sequence })
                .payload(payload.clone())
                .build()
                .and_then(|b| b.encode())
                .map_err(|e| format!("cannot build bundle {sequence}: {e}"))
        })
        .collect()
}
