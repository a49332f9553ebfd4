//! Sending bundles over one active TCPCLv4 session.

use std::collections::HashMap;
use std::net::TcpStream;
use std::time::Instant;

use tileos_bpv7::Eid;
use tileos_tcpcl::{Config, Event, FinalAck, RefuseReason, Role, Session, TermReason};

use crate::session_io::run_session;

/// What became of bundles sent with [`send_bundles`] once the session ended normally.
#[derive(Debug, Default)]
pub struct SendOutcome {
    /// How many were completely acknowledged.
    pub acked: usize,
    /// The index of each bundle the peer refused, with its reason.
    pub refused: Vec<(usize, RefuseReason)>,
}

/// Progress of one session's transfers.
#[derive(Default)]
struct Transfers {
    /// Bundles not yet queued (until the session is established).
    queued: Option<Vec<Vec<u8>>>,
    /// Transfer ID → index of the bundle.
    in_flight: HashMap<u64, usize>,
    outcome: SendOutcome,
    failure: Option<String>,
}

impl Transfers {
    fn unfinished(&self) -> usize {
        self.queued.as_ref().map_or(0, Vec::len) + self.in_flight.len()
    }

    /// Queues every bundle on the established session.
    fn start(&mut self, session: &mut Session, peer: &str) {
        for (index, bytes) in self.queued.take().unwrap_or_default().into_iter().enumerate() {
            let len = bytes.len();
            match session.send_bundle(bytes) {
                Ok(id) => {
                    self.in_flight.insert(id, index);
                }
                Err(e) => {
                    self.failure = Some(format!("peer {peer} will not take bundle {index} of {len} bytes ({e:?})"));
                    session.terminate(TermReason::Unknown);
                    return;
                }
            }
        }
        self.end_if_done(session);
    }

    fn end_if_done(&self, session: &mut Session) {
        if self.in_flight.is_empty() && self.failure.is_none() {
            session.terminate(TermReason::Unknown);
        }
    }
}

/// Connects to `addr` as node `node` and sends `bundles` (encoded) over one session, calling
/// `on_acked(i)` as soon as bundle `i` is completely acknowledged. The session is ended with
/// SESS_TERM once every bundle is acknowledged or refused, or when `deadline` passes. An
/// error names the address and what went wrong; bundles acknowledged before it stay
/// acknowledged.
pub fn send_bundles(
    addr: &str,
    node: &Eid,
    bundles: Vec<Vec<u8>>,
    deadline: Instant,
    mut on_acked: impl FnMut(usize),
) -> Result<SendOutcome, String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    // TCPCL is bidirectional: a peer with bundles for us may send them on this session.
    // The sender keeps nothing, so it must not acknowledge them (the peer would drop its
    // copy): their final acknowledgement is held back and turned into XFER_REFUSE "No
    // Resources", which tells the peer to keep custody and try again later.
    let config = Config { final_ack: FinalAck::Deferred, ..Config::new(node.to_string()) };
    let session = Session::new(Role::Active, config, 0);
    let mut t = Transfers { queued: Some(bundles), ..Transfers::default() };
    let mut peer = String::from("?");
    let result = run_session(stream, session, Some(deadline), |session, event| {
        match event {
            Event::Established(info) => {
                peer = info.node_id;
                t.start(session, &peer);
            }
            Event::TransferAcked { transfer_id, complete: true, .. } => {
                if let Some(index) = t.in_flight.remove(&transfer_id) {
                    t.outcome.acked += 1;
                    on_acked(index);
                }
                t.end_if_done(session);
            }
            Event::TransferRefused { transfer_id, reason } => {
                if let Some(index) = t.in_flight.remove(&transfer_id) {
                    t.outcome.refused.push((index, reason));
                }
                t.end_if_done(session);
            }
            Event::BundleReceived { transfer_id, .. } => {
                session.refuse_received(transfer_id, RefuseReason::NoResources);
            }
            Event::Tolerated(deviation) => eprintln!("tileos-dtn-node: warning: peer {peer} at {addr}: {deviation}"),
            Event::Terminated { by_peer: true, reason } if t.unfinished() > 0 => {
                t.failure = Some(format!("peer {peer} at {addr} ended the session ({reason:?}) before all bundles were acknowledged"));
            }
            _ => {}
        }
        Ok(())
    });
    let unfinished = t.unfinished();
    match (result, t.failure) {
        (_, Some(failure)) => Err(failure),
        // Everything was acknowledged; only the closing handshake ran out of time.
        (Err(_), None) if unfinished == 0 => Ok(t.outcome),
        (Err(e), None) => Err(format!("session with {addr}: {e} ({unfinished} bundle(s) unacknowledged)")),
        (Ok(Some(error)), None) => Err(format!("session with {addr}: {error} ({unfinished} bundle(s) unacknowledged)")),
        (Ok(None), None) if unfinished > 0 => Err(format!("session with {addr} ended before {unfinished} bundle(s) were acknowledged")),
        (Ok(None), None) => Ok(t.outcome),
    }
}
