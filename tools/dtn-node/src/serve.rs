//! A TCPCLv4 listener serving every session on its own thread, so a peer that holds its
//! session open does not block the others.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::thread;

use tileos_bpv7::Eid;
use tileos_tcpcl::{Config, Event, FinalAck, RefuseReason, Role, Session, SessionError, TermReason};

use crate::session_io::run_session;

/// What a listener does with the bundles its sessions receive.
pub trait Sink: Send + Sync + 'static {
    /// Takes one bundle received from `peer`. `Ok` acknowledges the transfer's last segment
    /// (so keep the bundle before returning), `Err` refuses the transfer with that reason.
    fn bundle(&self, peer: &str, data: Vec<u8>) -> Result<(), RefuseReason>;
    /// A session with `peer` ended with a protocol error or a socket failure.
    fn session_failed(&self, peer: &str, error: &str);
    /// Whether the listener should stop; checked after every bundle and every session.
    fn finished(&self) -> bool {
        false
    }
}

/// Why the accepting thread stopped or a session ended, sent to [`serve`].
enum Notice {
    SessionEnded,
    AcceptFailed(String),
}

/// Accepts sessions on `listener` as node `node` until `sink` is finished, each session on
/// its own thread.
pub fn serve(listener: TcpListener, node: &Eid, sink: Arc<dyn Sink>) -> Result<(), String> {
    let local = listener.local_addr().map_err(|e| format!("listener address: {e}"))?;
    let (tx, rx) = mpsc::channel();
    let node_id = node.to_string();
    let accept_sink = Arc::clone(&sink);
    thread::spawn(move || accept_loop(&listener, &node_id, &accept_sink, &tx));
    while !sink.finished() {
        match rx.recv() {
            Ok(Notice::SessionEnded) => {}
            Ok(Notice::AcceptFailed(e)) => return Err(format!("accept on {local}: {e}")),
            Err(_) => return Err(format!("listener on {local} stopped")),
        }
    }
    Ok(())
}

fn accept_loop(listener: &TcpListener, node_id: &str, sink: &Arc<dyn Sink>, tx: &Sender<Notice>) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let (node_id, sink, tx) = (node_id.to_string(), Arc::clone(sink), tx.clone());
                thread::spawn(move || {
                    serve_session(stream, &node_id, sink.as_ref());
                    let _ = tx.send(Notice::SessionEnded);
                });
            }
            Err(e) => {
                let _ = tx.send(Notice::AcceptFailed(e.to_string()));
                return;
            }
        }
    }
}

/// Runs one passive session, holding back each transfer's final acknowledgement until the
/// sink has taken the bundle.
fn serve_session(stream: TcpStream, node_id: &str, sink: &dyn Sink) {
    let mut peer = stream.peer_addr().map_or_else(|_| "?".into(), |a| a.to_string());
    let session = Session::new(Role::Passive, Config { final_ack: FinalAck::Deferred, ..Config::new(node_id) }, 0);
    let outcome = run_session(stream, session, None, |session, event| {
        match event {
            Event::Established(info) => {
                eprintln!("session with {} ({peer})", info.node_id);
                peer = format!("{} ({peer})", info.node_id);
            }
            Event::BundleReceived { transfer_id, data } => {
                match sink.bundle(&peer, data) {
                    Ok(()) => session.acknowledge(transfer_id),
                    Err(reason) => session.refuse_received(transfer_id, reason),
                };
                if sink.finished() {
                    session.terminate(TermReason::Unknown);
                }
            }
            Event::Tolerated(deviation) => eprintln!("tileos-dtn-node: warning: peer {peer}: {deviation}"),
            _ => {}
        }
        Ok(())
    });
    match outcome {
        Ok(None) => {}
        Ok(Some(SessionError::UnexpectedEof)) => eprintln!("session with {peer} closed without SESS_TERM"),
        Ok(Some(error)) => sink.session_failed(&peer, &error.to_string()),
        Err(e) => sink.session_failed(&peer, &e.to_string()),
    }
}
