//! The `net-client` domain: an example client of the netstack's socket protocol
//! (`tileos_protocol::socket`). It answers every line that arrives on TCP port
//! [`TCP_PORT`] with `net-client heard: <line>` and every datagram to UDP port
//! [`UDP_PORT`] with `net-client got: <datagram>`, sent back to its sender.
//!
//! What the description must grant: the client endpoint "socket" (served by the netstack),
//! a shared region whose name starts with "socket-buffer." (the netstack maps the same
//! region as `socket-buffer.<badge>`; at least [`BUFFER_BYTES`] bytes, read-write) and a
//! notification it waits on whose name starts with "socket-wake." (the netstack signals it
//! when a socket it was answered `WouldBlock` for is ready). See
//! `qemu/runner/tests/scenarios/net.toml`.
//!
//! It never spins: each round it tries everything once (a datagram to take, a connection to
//! accept, data to read on each connection, answers still to send) and, when nothing made
//! progress, waits on its notification.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;
extern crate tileos_rt;

use alloc::vec::Vec;
use tileos_abi::bootinfo::domain_info::{CapKind, MAX_CAPS, MAX_REGIONS};
use tileos_mmio::Mmio;
use tileos_protocol::socket::{Endpoint, Request, Response, Socket, SocketId};
use tileos_sys::cap::Notification;
use tileos_sys::domain::{client_endpoint, stop};
use tileos_sys::log;
use tileos_sys::rpc::{CallError, Client};

/// TCP port it answers lines on.
const TCP_PORT: u16 = 7070;
/// UDP port it answers datagrams on.
const UDP_PORT: u16 = 5000;
/// Connections that may wait to be accepted.
const BACKLOG: u8 = 2;
/// Where received data goes in the buffer, and how much.
const RECEIVE_AT: u32 = 0;
/// Room for received data.
const RECEIVE_ROOM: u32 = 2048;
/// Where data to send is put in the buffer.
const SEND_AT: u32 = 2048;
/// Room for data to send.
const SEND_ROOM: u32 = 2048;
/// Size the buffer region needs.
const BUFFER_BYTES: u64 = (SEND_AT + SEND_ROOM) as u64;
/// Longest line kept; a longer one is answered in pieces of this size.
const MAX_LINE: usize = 1024;

/// What ended a run: the netstack restarted (its sockets are gone), or something this
/// client cannot go on from.
enum Stop {
    /// Open the sockets again.
    Restarted,
    /// Give up (logged).
    Fatal,
}

/// One accepted connection.
struct Connection {
    socket: SocketId,
    from: Endpoint,
    /// Received bytes not yet ending in a newline.
    line: Vec<u8>,
    /// Answer bytes not yet sent.
    out: Vec<u8>,
    /// Lines answered.
    lines: u32,
    /// The peer closed (or the connection is gone).
    finished: bool,
}

/// A NUL-padded name from the information page.
fn name_of(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("").trim_end_matches('\0')
}

/// Entry point.
#[allow(unsafe_code)] // the entry symbol: `#[unsafe(no_mangle)]` is all the unsafe here
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    let info = tileos_sys::domain::init();
    let buffer = info.regions[..(info.region_count as usize).min(MAX_REGIONS)]
        .iter()
        .find(|region| name_of(&region.name).starts_with("socket-buffer."));
    let wake = info.caps[..(info.cap_count as usize).min(MAX_CAPS)]
        .iter()
        .find(|entry| entry.kind == CapKind::WaitNotification as u8 && name_of(&entry.name).starts_with("socket-wake."));
    let buffer = buffer.and_then(|region| tileos_sys::domain::take_region(name_of(&region.name)));
    let (Some(endpoint), Some(memory), Some(wake)) = (client_endpoint("socket"), buffer, wake) else {
        log!(
            "net-client: needs the endpoint \"socket\", a region \"socket-buffer.*\" and a notification \"socket-wake.*\" to wait on; stopping"
        );
        stop();
    };
    if (memory.len() as u64) < BUFFER_BYTES {
        log!("net-client: the buffer region has {:#x} bytes, {BUFFER_BYTES:#x} needed; stopping", memory.len());
        stop();
    }
    let client = Client::<Socket>::new(endpoint);
    let wake = Notification::from_cptr(wake.slot);
    loop {
        match run(&client, &memory, wake) {
            Stop::Restarted => log!("net-client: the netstack restarted; opening the sockets again"),
            Stop::Fatal => stop(),
        }
    }
}

/// Calls the netstack; a restart of it ends the run.
fn call(client: &Client<Socket>, request: Request) -> Result<Response, Stop> {
    match client.call(&request) {
        Ok(response) => Ok(response),
        Err(CallError::ServerRestarted) => Err(Stop::Restarted),
        Err(CallError::Protocol(error)) => {
            log!("net-client: {request:?} failed: {error:?}; stopping");
            Err(Stop::Fatal)
        }
    }
}

/// Opens the sockets and serves until the netstack restarts or something fails.
fn run(client: &Client<Socket>, memory: &Mmio, wake: Notification) -> Stop {
    match serve(client, memory, wake) {
        Ok(never) => match never {},
        Err(stop) => stop,
    }
}

/// The serving loop.
fn serve(client: &Client<Socket>, memory: &Mmio, wake: Notification) -> Result<core::convert::Infallible, Stop> {
    // Sockets an earlier generation of this domain left behind (same badge) go first.
    call(client, Request::CloseAll)?;
    let udp = match call(client, Request::UdpBind { port: UDP_PORT })? {
        Response::Socket(id) => id,
        other => return Err(refused("binding UDP port", other)),
    };
    let listener = match call(client, Request::TcpListen { port: TCP_PORT, backlog: BACKLOG })? {
        Response::Socket(id) => id,
        other => return Err(refused("listening on TCP port", other)),
    };
    log!("net-client: ready: answering lines on TCP port {TCP_PORT} and datagrams on UDP port {UDP_PORT}");
    let mut connections: Vec<Connection> = Vec::new();
    loop {
        let mut progress = false;
        // A datagram: answered at once.
        match call(client, Request::UdpReceive { socket: udp, offset: RECEIVE_AT, capacity: RECEIVE_ROOM })? {
            Response::Datagram { length, from } => {
                progress = true;
                let mut answer = Vec::from(&b"net-client got: "[..]);
                let start = answer.len();
                answer.resize(start + length as usize, 0);
                memory.read_bytes(RECEIVE_AT as usize, &mut answer[start..]);
                answer.truncate(SEND_ROOM as usize);
                memory.write_bytes(SEND_AT as usize, &answer);
                match call(client, Request::UdpSend { socket: udp, to: from, offset: SEND_AT, length: answer.len() as u32 })? {
                    Response::Sent { .. } => log!("net-client: udp datagram of {length} bytes from {from} answered"),
                    other => log!("net-client: udp answer to {from} not sent: {other:?}"),
                }
            }
            Response::WouldBlock => {}
            other => return Err(refused("receiving a datagram", other)),
        }
        // A connection to accept.
        match call(client, Request::TcpAccept { listener })? {
            Response::Accepted { socket, from } => {
                progress = true;
                log!("net-client: tcp connection from {from}");
                connections.push(Connection { socket, from, line: Vec::new(), out: Vec::new(), lines: 0, finished: false });
            }
            Response::WouldBlock => {}
            // Too many sockets: the connection waits until one is closed.
            Response::Refused(refusal) => log!("net-client: cannot accept now: {refusal:?}"),
            other => return Err(refused("accepting", other)),
        }
        for connection in &mut connections {
            progress |= serve_connection(client, memory, connection)?;
        }
        let mut closed = Vec::new();
        connections.retain(|connection| {
            let done = connection.finished && connection.out.is_empty();
            if done {
                closed.push((connection.socket, connection.from, connection.lines));
            }
            !done
        });
        for (socket, from, lines) in closed {
            progress = true;
            call(client, Request::Close { socket })?;
            log!("net-client: tcp connection from {from} closed, {lines} lines answered");
        }
        if !progress {
            wake.wait();
        }
    }
}

/// Reads what arrived on `connection`, queues an answer per complete line and sends what
/// it can. Returns whether anything happened.
fn serve_connection(client: &Client<Socket>, memory: &Mmio, connection: &mut Connection) -> Result<bool, Stop> {
    let mut progress = false;
    if !connection.finished {
        match call(client, Request::TcpReceive { socket: connection.socket, offset: RECEIVE_AT, capacity: RECEIVE_ROOM })? {
            Response::Received { bytes } => {
                progress = true;
                let mut data = alloc::vec![0; bytes as usize];
                memory.read_bytes(RECEIVE_AT as usize, &mut data);
                for byte in data {
                    if byte != b'\n' {
                        connection.line.push(byte);
                    }
                    if byte == b'\n' || connection.line.len() == MAX_LINE {
                        connection.out.extend_from_slice(b"net-client heard: ");
                        connection.out.append(&mut connection.line);
                        connection.out.push(b'\n');
                        connection.lines += 1;
                    }
                }
            }
            Response::Finished => {
                progress = true;
                connection.finished = true;
            }
            Response::WouldBlock => {}
            other => {
                log!("net-client: connection from {} dropped: {other:?}", connection.from);
                connection.finished = true;
                connection.out.clear();
                progress = true;
            }
        }
    }
    while !connection.out.is_empty() {
        let piece = connection.out.len().min(SEND_ROOM as usize);
        memory.write_bytes(SEND_AT as usize, &connection.out[..piece]);
        match call(client, Request::TcpSend { socket: connection.socket, offset: SEND_AT, length: piece as u32 })? {
            Response::Sent { bytes } => {
                progress = true;
                connection.out.drain(..(bytes as usize).min(piece));
            }
            Response::WouldBlock => break,
            other => {
                log!("net-client: answer to {} not sent: {other:?}", connection.from);
                connection.out.clear();
                connection.finished = true;
                progress = true;
            }
        }
    }
    Ok(progress)
}

/// Logs an unexpected answer; the run stops.
fn refused(what: &str, response: Response) -> Stop {
    log!("net-client: {what} answered {response:?}; stopping");
    Stop::Fatal
}
