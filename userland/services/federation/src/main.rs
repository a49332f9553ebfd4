//! The `federation` domain: the tile's federation node (docs/federation.md, "The federation
//! domain"). Thin glue around `tileos_federation::FederationNode`, which does all the work
//! and is host-tested; this file moves bytes, time and requests in and out of it.
//!
//! * **Configuration** from the root server (`supervisor::Request::FederationConfig`): the
//!   description's `[federation]` table, given to this domain only.
//! * **Store**: [`StoreBundleStore`] implements `BundleStore` over the store protocol (the
//!   client endpoint the table's `store` names, and a region `store-buffer.<badge>`); the
//!   node's keys (`b/…`, `r`, `p`, `n`) live in this client's namespace.
//! * **Sockets** (the netstack's socket protocol: the client endpoint "socket", a region
//!   `socket-buffer.*` of at least [`SOCKET_BUFFER_BYTES`], a notification `socket-wake.*`
//!   bound to this thread): a TCPCL listener on `listen_port`; a connection per
//!   `Output::Connect` (the neighbour's `a.b.c.d:port`), handed to the node once
//!   established.
//! * **Clock**: the time-stamp counter in milliseconds since boot. The tile has no
//!   real-time clock, so the node always runs `Clock::Unsynchronized` (bundle age blocks),
//!   whatever the table says (a line says so).
//! * **Waiting**: the thread has no timer. It receives without blocking on its endpoint
//!   "federation" (local clients' calls, or the socket-wake notification bound to it), and
//!   yields when nothing happened; the node is ticked every [`TICK_MS`]. So the domain
//!   uses the CPU left idle by everything of higher priority (run it lowest).
//! * **Local applications**: a bundle delivered to this node is logged (`@event
//!   fed.delivered`, [`log_delivery`]). One for a configured local service is held until a
//!   local domain takes it (`Receive`, then `Confirm`, in the federation protocol); any
//!   other is confirmed delivered at once (the log is its application).
//! * **State**: `@event fed.state` with a digest of the replicated state whenever it
//!   changed (checked every [`STATE_MS`]), so that replicas can be compared from logs, and
//!   `@event fed.replication` with the replication messages and payload bytes sent and what
//!   full-state synchronisation would have sent in the same rounds, whenever they changed.
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use tileos_abi::bootinfo::domain_info::{CapKind, MAX_CAPS, MAX_REGIONS};
use tileos_abi::invocation::{CPtr, TcbBindNotification};
use tileos_abi::message::MessageInfo;
use tileos_abi::syscall::Syscall;
use tileos_federation::{BundleStore, Clock, ConnId, Delivery, FederationNode, LogEvent, NodeConfig, Origin, Output, StoreError};
use tileos_mmio::Mmio;
use tileos_protocol::ProtocolError;
use tileos_protocol::federation::Federation;
use tileos_protocol::socket::{self, Endpoint, Socket, SocketId, TcpState};
use tileos_protocol::store::{Durability, Error as StoreProtocolError};
use tileos_protocol::supervisor::{self, Supervisor};
use tileos_service_store::{ClientError, StoreClient};
use tileos_sys::log;
use tileos_sys::rpc::{CallError, Client};

tileos_sys::resources! {
    /// Capabilities by name (the socket and store regions, the socket-wake notification and
    /// the store endpoint are found by prefix or from the configuration).
    struct Resources {
        /// The federation protocol, served to local domains.
        service: ServedEndpoint("federation"),
        /// The root server: the configuration.
        supervisor: ClientEndpoint("supervisor"),
        /// The netstack's socket protocol.
        socket: ClientEndpoint("socket"),
    }
}

tileos_sys::entry!(main);

/// Room for received bytes at the start of the socket buffer.
const RECEIVE_ROOM: u32 = 4096;
/// Where bytes to send are put in the socket buffer.
const SEND_AT: u32 = RECEIVE_ROOM;
/// Room for bytes to send.
const SEND_ROOM: u32 = 4096;
/// Size the socket buffer region needs.
const SOCKET_BUFFER_BYTES: usize = (SEND_AT + SEND_ROOM) as usize;
/// Connections that may wait to be accepted (each counts as a socket of this client).
const BACKLOG: u8 = 2;
/// Most open connections (the netstack allows a client 16 sockets; the listener takes
/// [`BACKLOG`]); one more accepted is closed at once and counted. A gateway of a pod of
/// eight (seven tiles and the hub) and the lab fits, with room for connections closing;
/// the node keeps one session per neighbour.
const MAX_CONNECTIONS: usize = 14;
/// How often the node is ticked, in ms.
const TICK_MS: u64 = 20;
/// How often the network is polled without a wake-up (a connection being dialled), in ms.
const POLL_MS: u64 = 50;
/// How often a changed status is logged, in ms.
const STATUS_MS: u64 = 1000;
/// How often the replicated state's digest and the replication counters are compared with
/// the last ones logged, in ms (`@event fed.state`, `@event fed.replication` when changed).
const STATE_MS: u64 = 250;
/// Bytes of a delivered payload shown in hex.
const SHOWN_BYTES: usize = 64;

/// The node's store: a client of the store protocol.
struct StoreBundleStore {
    client: StoreClient,
}

/// A store client error as the node's.
fn store_error(error: ClientError) -> StoreError {
    match error {
        ClientError::Store(
            StoreProtocolError::QuotaExceeded { .. } | StoreProtocolError::NoSpace | StoreProtocolError::TooLarge { .. },
        ) => StoreError::Full,
        ClientError::Store(StoreProtocolError::Corrupt { .. } | StoreProtocolError::CorruptLog { .. }) => StoreError::Corrupt,
        ClientError::BufferTooSmall { .. } => StoreError::Full,
        _ => StoreError::Unavailable,
    }
}

impl BundleStore for StoreBundleStore {
    fn put(&mut self, key: &[u8], value: &[u8], durability: Durability) -> Result<(), StoreError> {
        self.client.put(key, value, durability).map_err(store_error)
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.client.get(key) {
            Ok(value) => Ok(Some(value)),
            Err(ClientError::Store(StoreProtocolError::NotFound)) => Ok(None),
            Err(error) => Err(store_error(error)),
        }
    }

    fn delete(&mut self, key: &[u8], durability: Durability) -> Result<(), StoreError> {
        match self.client.delete(key, durability) {
            Ok(()) | Err(ClientError::Store(StoreProtocolError::NotFound)) => Ok(()),
            Err(error) => Err(store_error(error)),
        }
    }

    fn list(&mut self, prefix: &[u8], after: Option<&[u8]>, max: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        // The store client lists from the start; skip to `after` and stop at `max`.
        let mut keys = Vec::new();
        self.client
            .list(prefix, |key| {
                if keys.len() < max && after.is_none_or(|a| key > a) {
                    keys.push(key.to_vec());
                }
            })
            .map_err(store_error)?;
        Ok(keys)
    }
}

/// A NUL-padded name from the information page.
fn name_of(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("").trim_end_matches('\0')
}

/// The region whose name starts with `prefix`, taken.
fn region_with_prefix(prefix: &str) -> Option<Mmio> {
    let info = tileos_sys::domain::info();
    let regions = &info.regions[..(info.region_count as usize).min(MAX_REGIONS)];
    let name = regions.iter().map(|r| String::from(name_of(&r.name))).find(|name| name.starts_with(prefix))?;
    tileos_sys::domain::take_region(&name)
}

/// The `[federation]` record, read from the root server in pieces.
fn federation_config(supervisor: &Client<Supervisor>) -> Result<tileos_sysdesc::Federation, String> {
    tileos_sysdesc::read_in_pieces(1 << 20, |offset| match supervisor.call(&supervisor::Request::FederationConfig { offset }) {
        Ok(supervisor::Response::FederationConfig { length, bytes }) => Ok((length, bytes.to_vec())),
        Ok(other) => Err(format!("{other:?}")),
        Err(error) => Err(format!("{error:?}")),
    })
}

/// `a.b.c.d:port`.
fn parse_address(text: &str) -> Option<Endpoint> {
    let (host, port) = text.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let mut address = [0u8; 4];
    let mut parts = host.split('.');
    for byte in &mut address {
        *byte = parts.next()?.parse().ok()?;
    }
    parts.next().is_none().then_some(Endpoint { address, port })
}

/// Milliseconds since boot (the time-stamp counter).
fn now_ms() -> u64 {
    tileos_sys::timestamp() / tileos_sys::domain::info().tsc_per_ms.max(1)
}

/// Where a connection is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Dialled to this neighbour, not yet established.
    Dialling(u32),
    /// Handed to the node.
    Open,
}

/// One TCP connection.
struct Connection {
    conn: ConnId,
    socket: SocketId,
    phase: Phase,
    /// Bytes to send.
    out: VecDeque<u8>,
    /// The node asked to close it once `out` is sent.
    closing: bool,
    /// Gone (the peer finished, or it failed): close the socket and forget it.
    dead: bool,
    /// Closed without a log line (a failed dial).
    quiet: bool,
}

/// The sockets and their buffer.
struct Net {
    client: Client<Socket>,
    buffer: Mmio,
    listener: SocketId,
    connections: Vec<Connection>,
    next_conn: u64,
    /// Neighbours whose last dial failed (logged once until one succeeds).
    failing: Vec<u32>,
}

/// The netstack restarted or refused something it must not: start the network over.
struct NetFailed;

impl Net {
    fn call(&self, request: socket::Request) -> Result<socket::Response, NetFailed> {
        match self.client.call(&request) {
            Ok(response) => Ok(response),
            Err(CallError::ServerRestarted) => {
                log!("federation: the netstack restarted");
                Err(NetFailed)
            }
            Err(CallError::Protocol(error)) => {
                log!("federation: {request:?} failed: {error:?}");
                Err(NetFailed)
            }
        }
    }

    /// Accepts, dials, reads and writes; returns whether anything happened.
    fn round(&mut self, node: &mut FederationNode<StoreBundleStore>, now: u64) -> Result<bool, NetFailed> {
        let mut progress = false;
        while let socket::Response::Accepted { socket, from } = self.call(socket::Request::TcpAccept { listener: self.listener })? {
            progress = true;
            if self.connections.len() >= MAX_CONNECTIONS {
                tileos_sys::log_event!("fed.refused", reason = "too-many-connections", from = from);
                self.call(socket::Request::Close { socket })?;
                continue;
            }
            let conn = ConnId(self.next_conn);
            self.next_conn += 1;
            tileos_sys::log_event!("fed.accepted", conn = conn.0, from = from);
            self.connections.push(Connection {
                conn,
                socket,
                phase: Phase::Open,
                out: VecDeque::new(),
                closing: false,
                dead: false,
                quiet: false,
            });
            node.connected(conn, Origin::Accepted, now);
        }
        for index in 0..self.connections.len() {
            progress |= self.read(index, node, now)?;
        }
        Ok(progress)
    }

    /// Reads what arrived on connection `index` (or finds a dialled one established).
    fn read(&mut self, index: usize, node: &mut FederationNode<StoreBundleStore>, now: u64) -> Result<bool, NetFailed> {
        let (socket, phase, conn) = {
            let c = &self.connections[index];
            if c.dead {
                return Ok(false);
            }
            (c.socket, c.phase, c.conn)
        };
        if let Phase::Dialling(peer) = phase {
            match self.call(socket::Request::TcpState { socket })? {
                socket::Response::State { state: TcpState::Established, .. } => {
                    tileos_sys::log_event!("fed.dialled", conn = conn.0, peer = peer);
                    self.failing.retain(|p| *p != peer);
                    self.connections[index].phase = Phase::Open;
                    node.connected(conn, Origin::Dialled(peer), now);
                }
                socket::Response::State { state: TcpState::SynSent | TcpState::SynReceived, .. } => {
                    // Arms the wake-up for the handshake's end.
                    let _ = self.call(socket::Request::TcpReceive { socket, offset: 0, capacity: 0 })?;
                    return Ok(false);
                }
                other => {
                    if !self.failing.contains(&peer) {
                        self.failing.push(peer);
                        tileos_sys::log_event!("fed.dial-failed", conn = conn.0, peer = peer, state = DebugWord(&other));
                        log!("federation: node {peer} cannot be reached; retrying quietly");
                    }
                    self.connections[index].quiet = true;
                    self.connections[index].dead = true;
                    return Ok(true);
                }
            }
        }
        let mut progress = false;
        let mut data = [0u8; RECEIVE_ROOM as usize];
        loop {
            match self.call(socket::Request::TcpReceive { socket, offset: 0, capacity: RECEIVE_ROOM })? {
                socket::Response::Received { bytes } => {
                    progress = true;
                    let data = &mut data[..(bytes as usize).min(RECEIVE_ROOM as usize)];
                    self.buffer.read_bytes(0, data);
                    node.receive(conn, data, now);
                }
                socket::Response::WouldBlock => break,
                other => {
                    // Finished, or refused (reset, not connected).
                    if !matches!(other, socket::Response::Finished) {
                        tileos_sys::log_event!("fed.connection-lost", conn = conn.0, answer = DebugWord(&other));
                    }
                    node.disconnected(conn, now);
                    self.connections[index].dead = true;
                    return Ok(true);
                }
            }
        }
        Ok(progress)
    }

    /// Acts on one output of the node; returns whether it was network work.
    fn output(&mut self, output: Output, node: &mut FederationNode<StoreBundleStore>) -> Result<(), NetFailed> {
        match output {
            Output::Transmit { conn, bytes } => {
                if let Some(c) = self.connections.iter_mut().find(|c| c.conn == conn && !c.dead) {
                    c.out.extend(bytes.iter());
                }
            }
            Output::Close { conn } => {
                if let Some(c) = self.connections.iter_mut().find(|c| c.conn == conn) {
                    c.closing = true;
                }
            }
            Output::Connect { node: peer, address } => {
                let Some(to) = parse_address(&address) else {
                    tileos_sys::log_event!("fed.dial-failed", peer = peer, reason = "bad-address");
                    return Ok(());
                };
                if self.connections.len() >= MAX_CONNECTIONS {
                    tileos_sys::log_event!("fed.dial-failed", peer = peer, reason = "too-many-connections");
                    return Ok(());
                }
                match self.call(socket::Request::TcpConnect { to })? {
                    socket::Response::Socket(socket) => {
                        let conn = ConnId(self.next_conn);
                        self.next_conn += 1;
                        self.connections.push(Connection {
                            conn,
                            socket,
                            phase: Phase::Dialling(peer),
                            out: VecDeque::new(),
                            closing: false,
                            dead: false,
                            quiet: false,
                        });
                    }
                    other => tileos_sys::log_event!("fed.dial-failed", peer = peer, answer = DebugWord(&other)),
                }
            }
            Output::Deliver(delivery) => {
                log_delivery(&delivery, false);
                node.delivered(delivery.id);
            }
            Output::Held(delivery) => log_delivery(&delivery, true),
            Output::Log(event) => log_node_event(&event),
        }
        Ok(())
    }

    /// Sends what is queued, closes what is done; returns whether anything happened.
    fn flush(&mut self, node: &mut FederationNode<StoreBundleStore>, now: u64) -> Result<bool, NetFailed> {
        let mut progress = false;
        for index in 0..self.connections.len() {
            let socket = self.connections[index].socket;
            while !self.connections[index].dead && !self.connections[index].out.is_empty() {
                let c = &mut self.connections[index];
                let piece = c.out.len().min(SEND_ROOM as usize);
                let (front, back) = c.out.as_slices();
                let first = front.len().min(piece);
                self.buffer.write_bytes(SEND_AT as usize, &front[..first]);
                if piece > first {
                    self.buffer.write_bytes(SEND_AT as usize + first, &back[..piece - first]);
                }
                match self.call(socket::Request::TcpSend { socket, offset: SEND_AT, length: piece as u32 })? {
                    socket::Response::Sent { bytes } => {
                        progress = true;
                        self.connections[index].out.drain(..(bytes as usize).min(piece));
                    }
                    socket::Response::WouldBlock => break,
                    other => {
                        let conn = self.connections[index].conn;
                        tileos_sys::log_event!("fed.connection-lost", conn = conn.0, answer = DebugWord(&other));
                        node.disconnected(conn, now);
                        self.connections[index].dead = true;
                        progress = true;
                    }
                }
            }
        }
        let mut index = 0;
        while index < self.connections.len() {
            let c = &self.connections[index];
            if c.dead || (c.closing && c.out.is_empty()) {
                let c = self.connections.swap_remove(index);
                self.call(socket::Request::Close { socket: c.socket })?;
                if !c.quiet {
                    tileos_sys::log_event!("fed.closed", conn = c.conn.0);
                }
                progress = true;
            } else {
                index += 1;
            }
        }
        Ok(progress)
    }
}

/// `{:?}` with spaces replaced, so that it stays one field of an event line.
struct DebugWord<'a, T: core::fmt::Debug>(&'a T);

impl<T: core::fmt::Debug> core::fmt::Display for DebugWord<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let text = format!("{:?}", self.0);
        for character in text.chars() {
            core::fmt::Write::write_char(f, if character.is_whitespace() { '_' } else { character })?;
        }
        Ok(())
    }
}

/// Bytes in hex.
struct Hex<'a>(&'a [u8]);

impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// The `@event fed.delivered` line of a bundle for a local application (`held`: for a
/// local service, waiting for a domain's Receive): its identity (source, creation time and
/// sequence), the previous node (`-` if none), its length, an FNV-1a hash, up to
/// [`SHOWN_BYTES`] of it in hex, and the payload itself if it is short printable text
/// without spaces (else `-`). The tile lab reads these lines (docs/federation.md).
fn log_delivery(delivery: &Delivery, held: bool) {
    let shown = &delivery.payload[..delivery.payload.len().min(SHOWN_BYTES)];
    let text =
        delivery.payload.len() <= SHOWN_BYTES && !delivery.payload.is_empty() && delivery.payload.iter().all(|b| b.is_ascii_graphic());
    let previous = delivery.previous_node.as_ref().map_or_else(|| String::from("-"), |eid| format!("{eid}"));
    tileos_sys::log_event!(
        "fed.delivered",
        id = delivery.id,
        source = delivery.source,
        time = delivery.creation.time_ms,
        seq = delivery.creation.sequence,
        previous = previous,
        service = delivery.service,
        held = u8::from(held),
        bytes = delivery.payload.len(),
        fnv = format_args!("{:016x}", fnv1a(&delivery.payload)),
        hex = Hex(shown),
        payload = if text { core::str::from_utf8(&delivery.payload).unwrap_or("-") } else { "-" }
    );
}

/// One `@event fed.*` line per node event.
fn log_node_event(event: &LogEvent) {
    match event {
        LogEvent::Recovered(r) => tileos_sys::log_event!(
            "fed.recovered",
            bundles = r.bundles,
            corrupt = r.corrupt,
            replica = r.replica_restored,
            left_behind = r.left_behind
        ),
        LogEvent::SessionUp { conn, peer } => tileos_sys::log_event!("fed.session-up", conn = conn.0, peer = peer),
        LogEvent::Tolerated { conn, deviation } => tileos_sys::log_event!("fed.tolerated", conn = conn.0, deviation = DebugWord(deviation)),
        LogEvent::SessionDown { conn, peer, error } => {
            tileos_sys::log_event!("fed.session-down", conn = conn.0, peer = DebugWord(peer), error = DebugWord(error))
        }
        LogEvent::Refused { conn, reason } => {
            tileos_sys::log_event!("fed.refused", reason = reason.name(), conn = DebugWord(&conn.map(|c| c.0)))
        }
        LogEvent::Stored { id, kind } => tileos_sys::log_event!("fed.stored", id = id, kind = DebugWord(kind)),
        LogEvent::Forwarded { id, to, fragments } => tileos_sys::log_event!("fed.forwarded", id = id, to = to, fragments = fragments),
        LogEvent::Dropped { id, reason } => tileos_sys::log_event!("fed.dropped", id = id, reason = reason.name()),
        LogEvent::PlanReceived { contacts } => tileos_sys::log_event!("fed.plan-received", contacts = contacts),
    }
}

/// The status line's numbers, to log it only when they change.
fn status_of(node: &FederationNode<StoreBundleStore>) -> [u64; 8] {
    let c = node.counters();
    [
        c.received,
        c.created,
        c.forwarded,
        c.delivered,
        c.dropped(tileos_federation::DropReason::Expired),
        c.refused_total(),
        node.spooled() as u64,
        node.sessions() as u64,
    ]
}

fn main(resources: Resources) -> ! {
    let supervisor = Client::<Supervisor>::new(resources.supervisor);
    let federation = match federation_config(&supervisor) {
        Ok(federation) => federation,
        Err(reason) => {
            log!("federation: no configuration from the root server ({reason}); stopping");
            tileos_sys::domain::stop();
        }
    };
    let mut config: NodeConfig = match postcard::from_bytes(&federation.node) {
        Ok(config) => config,
        Err(error) => {
            log!("federation: the node configuration does not decode ({error}); stopping");
            tileos_sys::domain::stop();
        }
    };
    if config.clock == Clock::Synchronized {
        log!("federation: the tile has no real-time clock: running unsynchronized (bundle age blocks), not as configured");
        config.clock = Clock::Unsynchronized;
    }
    let (Some(store_endpoint), Some(store_buffer)) =
        (tileos_sys::domain::client_endpoint(&federation.store_name), region_with_prefix("store-buffer"))
    else {
        log!("federation: needs the store endpoint \"{}\" and a region \"store-buffer.*\"; stopping", federation.store_name);
        tileos_sys::domain::stop();
    };
    let Some(socket_buffer) = region_with_prefix("socket-buffer") else {
        log!("federation: needs a region \"socket-buffer.*\"; stopping");
        tileos_sys::domain::stop();
    };
    if socket_buffer.len() < SOCKET_BUFFER_BYTES {
        log!("federation: the socket buffer has {:#x} bytes, {SOCKET_BUFFER_BYTES:#x} needed; stopping", socket_buffer.len());
        tileos_sys::domain::stop();
    }
    let info = tileos_sys::domain::info();
    let caps = &info.caps[..(info.cap_count as usize).min(MAX_CAPS)];
    let wake = caps.iter().find(|e| e.kind == CapKind::WaitNotification as u8 && name_of(&e.name).starts_with("socket-wake"));
    let Some(wake) = wake else {
        log!("federation: needs a notification \"socket-wake.*\" to wait on; stopping");
        tileos_sys::domain::stop();
    };
    if let Err(error) = tileos_sys::domain::own_tcb().invoke(TcbBindNotification { notification: CPtr(wake.slot) }) {
        log!("federation: cannot bind the socket wake-up to the thread ({error:?}); stopping");
        tileos_sys::domain::stop();
    }
    let store = StoreBundleStore { client: StoreClient::new(store_endpoint, store_buffer) };
    let started = tileos_sys::timestamp();
    let mut node = match FederationNode::recover(config, store, now_ms()) {
        Ok(node) => node,
        Err(error) => {
            log!("federation: cannot start the node: {error:?}; stopping");
            tileos_sys::domain::stop();
        }
    };
    let recovery_ms = tileos_sys::timestamp().wrapping_sub(started) / info.tsc_per_ms.max(1);
    let port = federation.listen_port;
    log!(
        "federation: node ipn:{}.0 ({:?}), {} neighbour(s), {} spooled, recovered in {recovery_ms} ms (generation {})",
        node.node(),
        node.config().role,
        node.config().neighbours.len(),
        node.spooled(),
        info.generation
    );
    let service = resources.service.cptr();
    let mut socket_buffer = Some(socket_buffer);
    loop {
        let Some(buffer) = socket_buffer.take() else { tileos_sys::domain::stop() };
        let mut net = Net {
            client: Client::<Socket>::new(resources.socket),
            buffer,
            listener: 0,
            connections: Vec::new(),
            next_conn: 1,
            failing: Vec::new(),
        };
        // A new generation's sockets start over (the netstack does not learn of restarts).
        let listener =
            match net.call(socket::Request::CloseAll).and_then(|_| net.call(socket::Request::TcpListen { port, backlog: BACKLOG })) {
                Ok(socket::Response::Socket(listener)) => listener,
                other => {
                    log!("federation: listening on TCP port {port}: {:?}; stopping", other.ok());
                    tileos_sys::domain::stop();
                }
            };
        net.listener = listener;
        log!("federation: ready: TCPCL on TCP port {port}, the federation protocol on endpoint \"federation\"");
        tileos_sys::log_event!("fed.ready", node = node.node(), port = port);
        let failed = run(&mut net, &mut node, service);
        // The netstack restarted: the node's connections are gone.
        for c in &net.connections {
            node.disconnected(c.conn, now_ms());
        }
        let _ = failed;
        socket_buffer = Some(net.buffer);
        log!("federation: the network starts over");
        // Wait for the netstack to come back.
        for _ in 0..1000 {
            tileos_sys::yield_now();
        }
    }
}

/// The loop: network, outputs, ticks, local requests.
fn run(net: &mut Net, node: &mut FederationNode<StoreBundleStore>, service: u64) -> NetFailed {
    let mut last_tick = 0u64;
    let mut last_poll = 0u64;
    let mut last_status = 0u64;
    let mut status = [u64::MAX; 8];
    let mut last_state = 0u64;
    let mut state_digest = 0u64;
    let mut replication = [0u64; 4];
    let mut network_due = true;
    loop {
        let now = now_ms();
        let mut progress = false;
        if network_due || now.saturating_sub(last_poll) >= POLL_MS {
            last_poll = now;
            network_due = false;
            match net.round(node, now) {
                Ok(p) => progress |= p,
                Err(failed) => return failed,
            }
        }
        if now.saturating_sub(last_tick) >= TICK_MS {
            last_tick = now;
            node.tick(now);
        }
        while let Some(output) = node.poll() {
            progress = true;
            if let Err(failed) = net.output(output, node) {
                return failed;
            }
        }
        match net.flush(node, now) {
            Ok(p) => progress |= p,
            Err(failed) => return failed,
        }
        // Local clients, or the socket wake-up.
        loop {
            let message = tileos_sys::raw_syscall(Syscall::NbRecv, service, MessageInfo::default(), [0; 4]);
            if message.info.label() == 0 && message.info.length() == 0 {
                if message.badge == 0 {
                    break;
                }
                // The bound notification's word (a client's own empty call gets the error
                // reply, which goes nowhere when no caller waits).
                tileos_sys::rpc::answer::<Federation>(None, Err(ProtocolError::UnknownLabel));
                network_due = true;
                continue;
            }
            progress = true;
            let answer =
                tileos_sys::rpc::decode_request::<Federation>(&message).map(|request| node.serve(message.badge, request, now_ms()));
            if let Err(error) = &answer {
                tileos_sys::log_event!("fed.client-refused", badge = message.badge, error = DebugWord(error));
            }
            tileos_sys::rpc::answer::<Federation>(None, answer);
        }
        if progress {
            network_due = true;
        }
        if now.saturating_sub(last_state) >= STATE_MS {
            last_state = now;
            let c = node.counters();
            let current = [c.replication_sent, c.replication_bytes, c.replication_full_bytes, c.replication_received];
            if current != replication {
                replication = current;
                let [messages, bytes, full_bytes, received] = current;
                tileos_sys::log_event!(
                    "fed.replication",
                    node = node.node(),
                    messages = messages,
                    bytes = bytes,
                    full_bytes = full_bytes,
                    received = received
                );
            }
            let digest = node.state().digest();
            if digest != state_digest {
                state_digest = digest;
                let sizes = node.state().sizes();
                tileos_sys::log_event!(
                    "fed.state",
                    node = node.node(),
                    digest = format_args!("{digest:#018x}"),
                    modules = sizes.modules,
                    counters = sizes.counters,
                    registers = sizes.registers
                );
            }
        }
        let current = status_of(node);
        if current != status && now.saturating_sub(last_status) >= STATUS_MS {
            status = current;
            last_status = now;
            let [received, created, forwarded, delivered, expired, refused, spooled, sessions] = current;
            tileos_sys::log_event!(
                "fed.status",
                received = received,
                created = created,
                forwarded = forwarded,
                delivered = delivered,
                expired = expired,
                refused = refused,
                spooled = spooled,
                sessions = sessions
            );
        }
        if !progress && !network_due {
            tileos_sys::yield_now();
        }
    }
}
