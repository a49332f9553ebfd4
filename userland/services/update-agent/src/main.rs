//! The `update-agent` domain: `tilectl`'s end on the tile (docs/tilectl.md).
//!
//! It listens on TCP port [`PORT`](tileos_tilectl_wire::PORT) through the netstack's socket
//! protocol (as `net-client` does), runs the wire protocol's session logic
//! (`tileos_tilectl_wire::session::Agent`: challenge, counters, operator signatures, who
//! stages which slot) and forwards commands: slot control requests to the slot managers
//! (it is a control client of each slot's front endpoint, `params = { control = 2 }`) and
//! status requests to the supervisor (`access = "status"`), telemetry requests to the
//! telemetry domain, verify requests (`tilectl ask`) to the verify domain, twin reads
//! (`tilectl twin`: the twin's state and alarms, never its export gate) to the twin.
//!
//! What the description must grant: the client endpoint "socket", a region whose name
//! starts with "socket-buffer." (at least [`BUFFER_BYTES`], read-write), a notification it
//! waits on whose name starts with "socket-wake."; optionally the client endpoint
//! "supervisor" (status), "telemetry", "verify" and "twin"; and, as client endpoints, the
//! front endpoints of the slots it manages: every client endpoint other than "socket",
//! "supervisor", "log", "store", "telemetry", "verify" and "twin" is
//! taken for one, named as the endpoint.
//!
//! With a telemetry capability it also reports its own call latencies (its socket calls to
//! the netstack, its calls to the slot managers, the supervisor, the twin) every
//! [`REPORT_EVERY`] receipts of data from tilectl.
//!
//! At each install's commit it logs what the upload cost since its begin (`make bench`
//! part `slot` reads it; docs/slots.md, "Bench figures"): `@event agent.install` with the
//! chunks, their bytes, the time-stamp ticks, and the operator signatures checked and their
//! ticks (the begin's own signature is checked before the window opens), then one `@event
//! agent.install-cpu` per domain that ran meanwhile, with its CPU cycles from the
//! supervisor's figures (quantised by the supervisor to 100 µs of the time-stamp counter).
//!
//! The operator's public key is built in: the development key
//! (`tileos_tilectl_wire::dev_keys::OPERATOR_PUBLIC`) unless the build sets
//! `TILEOS_OPERATOR_KEY` to another key's 64 hex digits.
//!
//! Challenges come from a SHA-256 pool stirred with `rdrand` when the processor has it and
//! with time-stamp counter readings at every network event (`tileos_tilectl_wire::entropy`
//! says how weak that is without `rdrand`). A connection that sends nothing for
//! [`IDLE_MS`] is closed the next time the agent wakes (any network event, a new
//! connection included), so idle clients cannot lock others out.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;
extern crate tileos_rt;

use alloc::vec::Vec;
use ed25519_dalek::VerifyingKey;
use heapless::Vec as HVec;
use tileos_abi::bootinfo::domain_info::{CapKind, MAX_CAPS, MAX_REGIONS};
use tileos_mmio::Mmio;
use tileos_protocol::ProtocolError;
use tileos_protocol::slots::{self, SlotControl};
use tileos_protocol::socket::{Endpoint, Request, Response, Socket, SocketId};
use tileos_protocol::supervisor::{self, Supervisor};
use tileos_protocol::telemetry::{self, Telemetry};
use tileos_protocol::twin::{self, Twin};
use tileos_protocol::verify::{self, Verify};
use tileos_sys::cap::Notification;
use tileos_sys::domain::{client_endpoint, stop};
use tileos_sys::log;
use tileos_sys::rpc::{CallError, Client};
use tileos_tilectl_wire::entropy::ChallengeSource;
use tileos_tilectl_wire::session::{Agent, Backend, BackendError, Connect, ConnectionId, Flow, MAX_SESSIONS};
use tileos_tilectl_wire::{MAX_SLOTS, PORT, SlotName, dev_keys};

/// Connections that may wait to be accepted.
const BACKLOG: u8 = 2;
/// Where received data goes in the buffer.
const RECEIVE_AT: u32 = 0;
/// Room for received data.
const RECEIVE_ROOM: u32 = 2048;
/// Where data to send is put in the buffer.
const SEND_AT: u32 = 2048;
/// Room for data to send.
const SEND_ROOM: u32 = 2048;
/// Size the buffer region needs.
const BUFFER_BYTES: u64 = (SEND_AT + SEND_ROOM) as u64;
/// A connection silent this long is closed.
const IDLE_MS: u64 = 60_000;
/// Receipts of data from tilectl between two telemetry reports.
const REPORT_EVERY: u32 = 20;
/// Client endpoints that are not slots.
const NOT_SLOTS: [&str; 7] = ["socket", "supervisor", "log", "store", "telemetry", "verify", "twin"];

/// The operator's public key built into this program.
const OPERATOR_KEY: [u8; 32] = match option_env!("TILEOS_OPERATOR_KEY") {
    Some(hex) => parse_key(hex.as_bytes()),
    None => dev_keys::OPERATOR_PUBLIC,
};

/// 64 hex digits to 32 bytes, at compile time (a bad key fails the build).
const fn parse_key(hex: &[u8]) -> [u8; 32] {
    assert!(hex.len() == 64, "TILEOS_OPERATOR_KEY must be 64 hex digits");
    let mut key = [0u8; 32];
    let mut index = 0;
    while index < 32 {
        key[index] = digit(hex[2 * index]) << 4 | digit(hex[2 * index + 1]);
        index += 1;
    }
    key
}

/// One hex digit's value.
const fn digit(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        b'A'..=b'F' => byte - b'A' + 10,
        _ => panic!("TILEOS_OPERATOR_KEY must be hex digits"),
    }
}

/// The real backend: the slots' front endpoints and the supervisor.
struct Tile {
    /// Each slot's name and control client.
    slots: HVec<(SlotName, Client<SlotControl>), MAX_SLOTS>,
    /// The supervisor, if granted.
    supervisor: Option<Client<Supervisor>>,
    /// The telemetry domain (`tilectl telemetry`), if the description grants it.
    telemetry: Option<Client<Telemetry>>,
    /// The verify domain (`tilectl ask`), if the description grants it.
    verify: Option<Client<Verify>>,
    /// The twin (`tilectl twin`), if the description grants it.
    twin: Option<Client<Twin>>,
    /// When to report the agent's own latencies to the telemetry domain.
    reports: tileos_sys::telemetry::Periodic,
    /// Operator signatures checked so far, and their time-stamp ticks.
    signatures: (u64, u64),
    /// The install under way, watched for its figures (`@event agent.install`).
    watch: Option<InstallWatch>,
}

/// An install's figures from its `InstallBegin` to its `InstallCommit`: what the upload
/// cost the agent and every domain (under `-icount`, ticks are guest instructions).
struct InstallWatch {
    /// The time-stamp counter at the begin.
    started: u64,
    /// Chunks forwarded.
    chunks: u64,
    /// Bytes forwarded in them.
    bytes: u64,
    /// [`Tile::signatures`] at the begin.
    signatures: (u64, u64),
    /// Every domain's consumed cycles at the begin (the supervisor's figures).
    cpu: Vec<(heapless::String<{ supervisor::MAX_NAME }>, u64)>,
}

impl Tile {
    /// Data from tilectl arrived: counts it, reporting the agent's latencies every
    /// [`REPORT_EVERY`] receipts.
    fn received(&mut self) {
        self.reports.tick(self.telemetry.as_ref(), "update-agent");
    }

    /// Every domain's consumed cycles, as the supervisor counts them (empty without a
    /// supervisor capability).
    fn cpu(&self) -> Vec<(heapless::String<{ supervisor::MAX_NAME }>, u64)> {
        let mut all = Vec::new();
        let Some(client) = self.supervisor.as_ref() else { return all };
        loop {
            match client.call(&supervisor::Request::Figures { first: all.len() as u16 }) {
                Ok(supervisor::Response::Figures { total, domains, .. }) if !domains.is_empty() => {
                    all.extend(domains.into_iter().map(|figures| (figures.name, figures.cpu_cycles)));
                    if all.len() >= total as usize {
                        return all;
                    }
                }
                _ => return all,
            }
        }
    }

    /// Watches the install requests for their figures: a begin starts the watch, a commit
    /// logs what the upload cost (`@event agent.install`, then one `@event agent.install-cpu`
    /// per domain that ran meanwhile).
    fn watch(&mut self, request: &slots::Request) {
        match request {
            slots::Request::InstallBegin { length } if *length > 0 => {
                let cpu = self.cpu();
                self.watch = Some(InstallWatch { started: tileos_sys::timestamp(), chunks: 0, bytes: 0, signatures: self.signatures, cpu });
            }
            slots::Request::InstallChunk { bytes, .. } => {
                if let Some(watch) = self.watch.as_mut() {
                    watch.chunks += 1;
                    watch.bytes += bytes.len() as u64;
                }
            }
            slots::Request::InstallCommit => {
                let Some(watch) = self.watch.take() else { return };
                let ticks = tileos_sys::timestamp().saturating_sub(watch.started);
                log!(
                    "@event agent.install chunks={} bytes={} ticks={ticks} signatures={} signature_ticks={}",
                    watch.chunks,
                    watch.bytes,
                    self.signatures.0 - watch.signatures.0,
                    self.signatures.1 - watch.signatures.1
                );
                for (name, cycles) in self.cpu() {
                    let before = watch.cpu.iter().find(|(old, _)| *old == name).map_or(0, |(_, cycles)| *cycles);
                    if cycles > before {
                        log!("@event agent.install-cpu domain={name} cycles={}", cycles - before);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A call's failure as the backend's error.
fn backend_error(error: CallError) -> BackendError {
    match error {
        CallError::ServerRestarted | CallError::Protocol(ProtocolError::NoServer) => BackendError::Unavailable,
        CallError::Protocol(_) => BackendError::Failed,
    }
}

impl Backend for Tile {
    fn slot_names(&self) -> HVec<SlotName, MAX_SLOTS> {
        self.slots.iter().map(|(name, _)| name.clone()).collect()
    }

    fn slot(&mut self, slot: &str, request: &slots::Request) -> Result<slots::Response, BackendError> {
        if !self.slots.iter().any(|(name, _)| name == slot) {
            return Err(BackendError::NoSuchSlot);
        }
        self.watch(request);
        let (_, client) = self.slots.iter().find(|(name, _)| name == slot).ok_or(BackendError::NoSuchSlot)?;
        client.call(request).map_err(backend_error)
    }

    fn timestamp(&self) -> u64 {
        tileos_sys::timestamp()
    }

    fn signature_checked(&mut self, ticks: u64) {
        self.signatures.0 += 1;
        self.signatures.1 += ticks;
    }

    fn domains(&mut self, first: u16) -> Result<supervisor::Response, BackendError> {
        let client = self.supervisor.as_ref().ok_or(BackendError::NoSupervisor)?;
        client.call(&supervisor::Request::Status { first }).map_err(backend_error)
    }

    fn telemetry(&mut self, first: u16) -> Result<telemetry::Response, BackendError> {
        let client = self.telemetry.as_ref().ok_or(BackendError::NoTelemetry)?;
        client.call(&telemetry::Request::Figures { first }).map_err(backend_error)
    }

    fn verify(&mut self, request: &verify::Request) -> Result<verify::Response, BackendError> {
        let client = self.verify.as_ref().ok_or(BackendError::NoVerify)?;
        client.call(request).map_err(backend_error)
    }

    fn twin(&mut self, request: &twin::Request) -> Result<twin::Response, BackendError> {
        let client = self.twin.as_ref().ok_or(BackendError::NoTwin)?;
        // The session only forwards reads (`TwinRead`), which are safe to repeat: a twin
        // that restarted since the last call is asked once more, so the first read after a
        // restart is answered rather than failed.
        match client.call(request) {
            Err(CallError::ServerRestarted) => client.call(request).map_err(backend_error),
            result => result.map_err(backend_error),
        }
    }
}

/// What ended a run.
enum Stop {
    /// The netstack restarted: open the listener again.
    Restarted,
    /// Give up (logged).
    Fatal,
}

/// One accepted connection.
struct Connection {
    /// Its socket.
    socket: SocketId,
    /// The peer.
    from: Endpoint,
    /// Its session in the agent; `None` once the agent closed it.
    session: Option<ConnectionId>,
    /// Bytes to send.
    out: Vec<u8>,
    /// The peer closed, or the agent did: close once `out` is sent.
    finished: bool,
    /// When something last arrived (time-stamp counter).
    last_heard: u64,
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
    let caps = &info.caps[..(info.cap_count as usize).min(MAX_CAPS)];
    let buffer = info.regions[..(info.region_count as usize).min(MAX_REGIONS)]
        .iter()
        .find(|region| name_of(&region.name).starts_with("socket-buffer."));
    let wake = caps.iter().find(|entry| entry.kind == CapKind::WaitNotification as u8 && name_of(&entry.name).starts_with("socket-wake."));
    let buffer = buffer.and_then(|region| tileos_sys::domain::take_region(name_of(&region.name)));
    let (Some(endpoint), Some(memory), Some(wake)) = (client_endpoint("socket"), buffer, wake) else {
        log!(
            "update-agent: needs the endpoint \"socket\", a region \"socket-buffer.*\" and a notification \"socket-wake.*\" to wait on; stopping"
        );
        stop();
    };
    if (memory.len() as u64) < BUFFER_BYTES {
        log!("update-agent: the buffer region has {:#x} bytes, {BUFFER_BYTES:#x} needed; stopping", memory.len());
        stop();
    }
    let mut slots = HVec::new();
    for entry in caps.iter().filter(|entry| entry.kind == CapKind::ClientEndpoint as u8) {
        let name = name_of(&entry.name);
        if NOT_SLOTS.contains(&name) {
            continue;
        }
        let (Ok(slot), Some(endpoint)) = (SlotName::try_from(name), client_endpoint(name)) else {
            log!("update-agent: endpoint {name:?}: name longer than a slot name; left out");
            continue;
        };
        if slots.push((slot, Client::<SlotControl>::new(endpoint))).is_err() {
            log!("update-agent: more than {MAX_SLOTS} slot endpoints; {name:?} left out");
        }
    }
    let supervisor = client_endpoint("supervisor").map(Client::<Supervisor>::new);
    let telemetry = client_endpoint("telemetry").map(Client::<Telemetry>::new);
    let verify = client_endpoint("verify").map(Client::<Verify>::new);
    let twin = client_endpoint("twin").map(Client::<Twin>::new);
    if supervisor.is_none() {
        log!("update-agent: no \"supervisor\" endpoint: status will list no domains");
    }
    let Ok(operator) = VerifyingKey::from_bytes(&OPERATOR_KEY) else {
        log!("update-agent: the built-in operator key is not an Ed25519 public key; stopping");
        stop();
    };
    let mut challenges = ChallengeSource::new(&seed());
    let mut agent = Agent::new(
        Tile {
            slots,
            supervisor,
            telemetry,
            verify,
            twin,
            reports: tileos_sys::telemetry::Periodic::new(REPORT_EVERY),
            signatures: (0, 0),
            watch: None,
        },
        operator,
    );
    {
        let tile = agent.backend();
        let names = tile.slot_names();
        let mut line: heapless::String<200> = heapless::String::new();
        for (index, name) in names.iter().enumerate() {
            let _ = line.push_str(if index == 0 { "" } else { ", " });
            let _ = line.push_str(name);
        }
        log!(
            "update-agent: {} slot(s) [{line}], supervisor status {}, rdrand {}",
            names.len(),
            if tile.supervisor.is_some() { "yes" } else { "no" },
            if has_rdrand() { "yes" } else { "no (challenges from timing jitter only)" }
        );
    }
    let client = Client::<Socket>::new(endpoint);
    let wake = Notification::from_cptr(wake.slot);
    loop {
        match serve(&client, &memory, wake, &mut agent, &mut challenges) {
            Ok(never) => match never {},
            Err(Stop::Restarted) => log!("update-agent: the netstack restarted; listening again"),
            Err(Stop::Fatal) => stop(),
        }
    }
}

/// Calls the netstack; its restart ends the run.
fn call(client: &Client<Socket>, request: Request) -> Result<Response, Stop> {
    match client.call(&request) {
        Ok(response) => Ok(response),
        Err(CallError::ServerRestarted) => Err(Stop::Restarted),
        Err(CallError::Protocol(error)) => {
            log!("update-agent: {request:?} failed: {error:?}; stopping");
            Err(Stop::Fatal)
        }
    }
}

/// The serving loop.
fn serve(
    client: &Client<Socket>,
    memory: &Mmio,
    wake: Notification,
    agent: &mut Agent<Tile>,
    challenges: &mut ChallengeSource,
) -> Result<core::convert::Infallible, Stop> {
    call(client, Request::CloseAll)?;
    // Sessions of an earlier run are gone with their sockets.
    for id in 0..MAX_SESSIONS {
        agent.disconnect(id);
    }
    let listener = match call(client, Request::TcpListen { port: PORT, backlog: BACKLOG })? {
        Response::Socket(id) => id,
        other => {
            log!("update-agent: listening on TCP port {PORT} answered {other:?}; stopping");
            return Err(Stop::Fatal);
        }
    };
    log!("update-agent: ready: tilectl on TCP port {PORT}");
    let tsc_per_ms = tileos_sys::domain::info().tsc_per_ms.max(1);
    let mut connections: Vec<Connection> = Vec::new();
    loop {
        let mut progress = false;
        let now = tileos_sys::timestamp();
        challenges.stir(&now.to_le_bytes());
        match call(client, Request::TcpAccept { listener })? {
            Response::Accepted { socket, from } => {
                progress = true;
                challenges.stir(&rdrand_bytes());
                challenges.stir(&from.address);
                challenges.stir(&from.port.to_le_bytes());
                let mut connection = Connection { socket, from, session: None, out: Vec::new(), finished: false, last_heard: now };
                match agent.connect(challenges.challenge()) {
                    Connect::Open(id, hello) => {
                        log!("update-agent: connection from {from}");
                        connection.session = Some(id);
                        connection.out.extend_from_slice(&hello);
                    }
                    Connect::Busy(busy) => {
                        log!("update-agent: connection from {from} refused: {MAX_SESSIONS} connections open");
                        connection.out.extend_from_slice(&busy);
                        connection.finished = true;
                    }
                }
                connections.push(connection);
            }
            Response::WouldBlock => {}
            Response::Refused(refusal) => log!("update-agent: cannot accept now: {refusal:?}"),
            other => {
                log!("update-agent: accepting answered {other:?}; stopping");
                return Err(Stop::Fatal);
            }
        }
        for connection in &mut connections {
            progress |= serve_connection(client, memory, agent, connection)?;
            if let Some(id) = connection.session
                && now.saturating_sub(connection.last_heard) / tsc_per_ms > IDLE_MS
            {
                log!("update-agent: connection from {} idle for {IDLE_MS} ms: closed", connection.from);
                connection.out.extend_from_slice(&agent.expire(id));
                connection.session = None;
                connection.finished = true;
                progress = true;
            }
        }
        let mut index = 0;
        while index < connections.len() {
            if connections[index].finished && connections[index].out.is_empty() {
                let connection = connections.swap_remove(index);
                if let Some(id) = connection.session {
                    agent.disconnect(id);
                }
                call(client, Request::Close { socket: connection.socket })?;
                log!("update-agent: connection from {} closed", connection.from);
                progress = true;
            } else {
                index += 1;
            }
        }
        if !progress {
            wake.wait();
        }
    }
}

/// Reads what arrived on `connection`, hands it to the agent and sends what it answered.
/// Returns whether anything happened.
fn serve_connection(client: &Client<Socket>, memory: &Mmio, agent: &mut Agent<Tile>, connection: &mut Connection) -> Result<bool, Stop> {
    let mut progress = false;
    if !connection.finished {
        match call(client, Request::TcpReceive { socket: connection.socket, offset: RECEIVE_AT, capacity: RECEIVE_ROOM })? {
            Response::Received { bytes } => {
                progress = true;
                connection.last_heard = tileos_sys::timestamp();
                let mut data = [0u8; RECEIVE_ROOM as usize];
                let data = &mut data[..(bytes as usize).min(RECEIVE_ROOM as usize)];
                memory.read_bytes(RECEIVE_AT as usize, data);
                agent.backend().received();
                if let Some(id) = connection.session {
                    let out = &mut connection.out;
                    if agent.receive(id, data, &mut |frame: &[u8]| out.extend_from_slice(frame)) == Flow::Close {
                        log!("update-agent: connection from {} closed by the protocol", connection.from);
                        connection.session = None;
                        connection.finished = true;
                    }
                }
            }
            Response::Finished => {
                progress = true;
                connection.finished = true;
                if let Some(id) = connection.session.take() {
                    if agent.in_frame(id) {
                        log!("update-agent: connection from {} ended inside a frame", connection.from);
                    }
                    // Discards a bundle it was staging.
                    agent.disconnect(id);
                }
            }
            Response::WouldBlock => {}
            other => {
                log!("update-agent: connection from {} dropped: {other:?}", connection.from);
                if let Some(id) = connection.session.take() {
                    agent.disconnect(id);
                }
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
                log!("update-agent: answer to {} not sent: {other:?}", connection.from);
                if let Some(id) = connection.session.take() {
                    agent.disconnect(id);
                }
                connection.out.clear();
                connection.finished = true;
                progress = true;
            }
        }
    }
    Ok(progress)
}

/// What seeds the challenge pool at start: the time-stamp counter, the domain's generation
/// and `rdrand` output when there is any.
fn seed() -> [u8; 24] {
    let mut seed = [0u8; 24];
    seed[..8].copy_from_slice(&tileos_sys::timestamp().to_le_bytes());
    seed[8..16].copy_from_slice(&tileos_sys::domain::info().generation.to_le_bytes());
    seed[16..].copy_from_slice(&rdrand_bytes()[..8]);
    seed
}

/// Whether the processor has `rdrand` (CPUID leaf 1, ECX bit 30).
fn has_rdrand() -> bool {
    // `cpuid` is available at CPL 3 and only reads.
    let leaf = core::arch::x86_64::__cpuid(1);
    leaf.ecx & (1 << 30) != 0
}

/// 16 bytes of `rdrand` output, or the time-stamp counter twice when there is no `rdrand`
/// or it failed (the pool then only gains timing).
fn rdrand_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    for half in 0..2 {
        let value = if has_rdrand() { rdrand() } else { None };
        let value = value.unwrap_or_else(tileos_sys::timestamp);
        bytes[half * 8..half * 8 + 8].copy_from_slice(&value.to_le_bytes());
    }
    bytes
}

/// One `rdrand` value (a few retries, as Intel recommends), if the processor gives one.
#[allow(unsafe_code)]
fn rdrand() -> Option<u64> {
    #[target_feature(enable = "rdrand")]
    fn step() -> Option<u64> {
        let mut value = 0u64;
        let done = core::arch::x86_64::_rdrand64_step(&mut value);
        (done == 1).then_some(value)
    }
    for _ in 0..10 {
        // SAFETY: callers check `has_rdrand()` first, so the target feature is present.
        if let Some(value) = unsafe { step() } {
            return Some(value);
        }
    }
    None
}
