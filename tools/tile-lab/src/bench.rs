//! What a relay costs: bundles per second over one loopback TCPCL session to an in-process
//! listener that decodes each bundle before acknowledging it, straight or through a
//! [`Relay`] (light time 0). `tileos-tile-lab bench` prints both.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tileos_bpv7::Eid;
use tileos_dtn_node::bench::{Counter, bench_bundles};
use tileos_dtn_node::serve::{Sink, serve};
use tileos_dtn_node::transfer::send_bundles;

use crate::relay::{LinkState, Relay};

/// Sends `count` bundles of `payload_len` bytes in one session, through a relay if
/// `relayed`, and returns bundles per second (bundles built before the clock starts).
pub fn bundles_per_second(payload_len: usize, count: usize, relayed: bool) -> Result<f64, String> {
    let eid = |text: &str| text.parse::<Eid>().map_err(|e| format!("{text}: {e}"));
    let (source, dest, receiver, node) = (eid("ipn:1.1")?, eid("ipn:2.1")?, eid("ipn:2.0")?, eid("ipn:1.0")?);
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot listen on loopback: {e}"))?;
    let target = listener.local_addr().map_err(|e| format!("listener address: {e}"))?.to_string();
    let sink = Arc::new(Counter::new(count));
    let served: Arc<dyn Sink> = sink.clone();
    let server = thread::spawn(move || serve(listener, &receiver, served));
    let relay = if relayed { Some(Relay::start(0, target.clone(), LinkState::new(true, 0, 0.0, 1))?) } else { None };
    let addr = relay.as_ref().map_or(target, |r| format!("127.0.0.1:{}", r.port));
    let encoded = bench_bundles(&source, &dest, payload_len, count)?;
    let start = Instant::now();
    let outcome = send_bundles(&addr, &node, encoded, Instant::now() + Duration::from_secs(300), |_| {})?;
    let elapsed = start.elapsed().as_secs_f64();
    server.join().map_err(|_| "bench listener panicked".to_string())??;
    if outcome.acked != count {
        return Err(format!("only {} of {count} bundles were acknowledged", outcome.acked));
    }
    Ok(count as f64 / elapsed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundles_pass_through_a_relay() {
        assert!(super::bundles_per_second(1024, 200, true).unwrap() > 0.0);
    }
}
