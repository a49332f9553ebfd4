//! Driving a sans-IO TCPCLv4 [`Session`] over a `std::net::TcpStream` without polling: a
//! reader thread blocks on the socket and hands each chunk over a channel, the session thread
//! writes whatever the session has to send and then blocks on that channel until input
//! arrives, a keepalive is due or the deadline passes.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tileos_tcpcl::{Event, Session, SessionError, TermReason};

/// How long the session thread sleeps at most without input, so keepalives go out on time.
const TICK: Duration = Duration::from_millis(500);
/// How long we wait for the peer to answer our SESS_TERM before closing anyway.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// What the reader thread saw on the socket.
enum Input {
    Data(Vec<u8>),
    /// End of stream, or a reset.
    Eof,
    Failed(io::Error),
}

/// Reads `stream` until it ends, sending every chunk to the returned channel.
fn spawn_reader(mut stream: TcpStream) -> (Receiver<Input>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let input = match stream.read(&mut buf) {
                Ok(0) => Input::Eof,
                Ok(n) => Input::Data(buf[..n].to_vec()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => Input::Eof,
                Err(e) => Input::Failed(e),
            };
            let last = !matches!(input, Input::Data(_));
            if tx.send(input).is_err() || last {
                return;
            }
        }
    });
    (rx, handle)
}

/// Writes everything the session has to send.
fn flush(session: &mut Session, stream: &mut TcpStream) -> io::Result<()> {
    while let Some(bytes) = session.poll_transmit() {
        stream.write_all(&bytes)?;
    }
    Ok(())
}

/// Hands one input to the session; an error of the socket ends the run.
fn feed(session: &mut Session, input: Input, now_ms: u64) -> io::Result<()> {
    match input {
        Input::Data(bytes) => session.receive(&bytes, now_ms),
        Input::Eof => session.receive_eof(),
        Input::Failed(e) => return Err(e),
    }
    Ok(())
}

/// Runs `session` over `stream` until the session closes, handing every event to `on_event`
/// (which may queue bundles, accept transfers or terminate the session). Returns the
/// session's closing error, if any.
///
/// After we send SESS_TERM, the peer's reply is awaited for 2 s; a peer that does
/// not answer gets a warning and the connection is closed as if it had.
///
/// If `deadline` passes first, the session is ended with SESS_TERM (RFC 9174 §6.1), which is
/// written before the connection is closed, and the result is a `TimedOut` error.
pub fn run_session(
    stream: TcpStream,
    mut session: Session,
    deadline: Option<Instant>,
    mut on_event: impl FnMut(&mut Session, Event) -> io::Result<()>,
) -> io::Result<Option<SessionError>> {
    let start = Instant::now();
    let now = || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    stream.set_nodelay(true)?;
    if let Some(deadline) = deadline {
        // A peer that stops reading must not hold a write past the deadline.
        stream.set_write_timeout(Some(deadline.saturating_duration_since(start).max(Duration::from_millis(1))))?;
    }
    let (input, reader) = spawn_reader(stream.try_clone()?);
    let mut writer = stream;
    let result = drive(&mut session, &mut writer, &input, deadline, now, &mut on_event);
    let _ = writer.shutdown(Shutdown::Both);
    let _ = reader.join();
    result
}

/// The loop of [`run_session`]: events, output, then block for input.
fn drive(
    session: &mut Session,
    writer: &mut TcpStream,
    input: &Receiver<Input>,
    deadline: Option<Instant>,
    now: impl Fn() -> u64,
    on_event: &mut impl FnMut(&mut Session, Event) -> io::Result<()>,
) -> io::Result<Option<SessionError>> {
    let mut closing = None;
    let mut ending_since = None;
    loop {
        flush(session, writer)?;
        while let Some(event) = session.poll_event() {
            match &event {
                Event::Closed { error } => closing = Some(error.clone()),
                Event::Terminated { by_peer: false, .. } => ending_since = Some(Instant::now()),
                _ => {}
            }
            on_event(session, event)?;
        }
        flush(session, writer)?;
        if let Some(error) = closing {
            return Ok(error);
        }
        if ending_since.is_some_and(|t| t.elapsed() >= TERM_GRACE) && !session.is_closed() {
            eprintln!("tileos-dtn-node: warning: peer did not answer SESS_TERM within {TERM_GRACE:?}; closing");
            return Ok(None);
        }
        let wait = deadline.map_or(TICK, |d| d.saturating_duration_since(Instant::now()).min(TICK));
        match input.recv_timeout(wait) {
            Ok(first) => {
                feed(session, first, now())?;
                // Take everything already read in one go, so acks are batched into one write.
                while let Ok(more) = input.try_recv() {
                    feed(session, more, now())?;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => session.receive_eof(),
        }
        session.tick(now());
        if deadline.is_some_and(|d| Instant::now() >= d) && !session.is_closed() {
            session.terminate(TermReason::Unknown);
            flush(session, writer)?;
            return Err(io::Error::new(ErrorKind::TimedOut, "session did not finish in time; sent SESS_TERM"));
        }
    }
}
