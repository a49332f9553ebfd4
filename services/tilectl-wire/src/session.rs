//! The update agent's logic, without I/O: connections come and go, bytes arrive, frames go
//! out. The agent domain (`userland/services/update-agent`) drives it with the netstack's
//! sockets and the real endpoints; tests drive it with hostile bytes and a fake backend.
//!
//! Per connection: a [`Hello`] with the connection's challenge, then one answer per command
//! frame, in order. Per agent: at most [`MAX_SESSIONS`] connections at once (another is
//! told [`WireError::Busy`] and closed), and for each slot at most one connection staging a
//! bundle: the one that sent its `InstallBegin`. When that connection goes before its
//! commit, the agent discards the partial bundle (an `InstallBegin` of length 0 to the slot
//! manager), so a half-sent bundle can never be committed by anyone.
//!
//! **Install sessions.** An install begun with [`Command::Install`] (signed: the slot, the
//! bundle's length and SHA-256, on this connection's challenge and counter) is an
//! authenticated session: its chunks and its commit, on the same connection, need no
//! signature of their own. The agent hashes the chunks the slot manager staged and passes
//! the commit on only if they are exactly the signed length and SHA-256
//! ([`WireError::BundleDiffers`] otherwise, and the staging is discarded), so the operator's
//! one signature covers every byte committed. An install begun with a `Slot` request's
//! `InstallBegin` is not a session: each of its chunks and its commit must be signed.

use ed25519_dalek::VerifyingKey;
use heapless::Vec;
use sha2::{Digest, Sha256};
use tileos_protocol::slots::{self, Request};
use tileos_protocol::{supervisor, telemetry, twin, verify};

use crate::frame::{self, FrameBytes, FrameReader, Read};
use crate::{Answer, CHALLENGE_BYTES, ClientFrame, Command, Hello, MAX_FRAME, MAX_SLOTS, ServerFrame, SlotName, VERSION, WireError, auth};

/// Connections served at once.
pub const MAX_SESSIONS: usize = 2;
/// Bad signatures after which a connection is closed.
pub const MAX_FAILURES: u8 = 3;

/// A connection's number in the agent (`0..MAX_SESSIONS`).
pub type ConnectionId = usize;

/// Why the backend could not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendError {
    /// No slot of that name.
    NoSuchSlot,
    /// The server is gone or restarted during the call.
    Unavailable,
    /// The server answered outside its protocol.
    Failed,
    /// No supervisor capability.
    NoSupervisor,
    /// No telemetry capability.
    NoTelemetry,
    /// No verify capability.
    NoVerify,
    /// No twin capability.
    NoTwin,
}

impl From<BackendError> for WireError {
    fn from(error: BackendError) -> Self {
        match error {
            BackendError::NoSuchSlot => WireError::UnknownSlot,
            BackendError::Unavailable => WireError::ServerUnavailable,
            BackendError::Failed => WireError::ServerFailed,
            BackendError::NoSupervisor => WireError::NoSupervisor,
            BackendError::NoTelemetry => WireError::NoTelemetry,
            BackendError::NoVerify => WireError::NoVerify,
            BackendError::NoTwin => WireError::NoTwin,
        }
    }
}

/// What the agent forwards commands to: the slot managers' front endpoints (as a control
/// client) and the supervisor (status access).
pub trait Backend {
    /// The slots the agent fronts.
    fn slot_names(&self) -> Vec<SlotName, MAX_SLOTS>;
    /// Sends `request` to the manager of `slot` and returns its answer.
    fn slot(&mut self, slot: &str, request: &slots::Request) -> Result<slots::Response, BackendError>;
    /// The supervisor's status of the domains from `first` on.
    fn domains(&mut self, first: u16) -> Result<supervisor::Response, BackendError>;
    /// The telemetry domain's figures of the domains from `first` on. An agent without a
    /// telemetry capability answers [`BackendError::NoTelemetry`] (what backends that do not
    /// implement this say).
    fn telemetry(&mut self, first: u16) -> Result<telemetry::Response, BackendError> {
        let _ = first;
        Err(BackendError::NoTelemetry)
    }
    /// The verify domain's answer to `request`. An agent without a verify capability
    /// answers [`BackendError::NoVerify`] (what backends that do not implement this say).
    fn verify(&mut self, request: &verify::Request) -> Result<verify::Response, BackendError> {
        let _ = request;
        Err(BackendError::NoVerify)
    }
    /// The twin's answer to `request` (only its reads: [`crate::TwinRead`]). An agent
    /// without a twin capability answers [`BackendError::NoTwin`] (what backends that do
    /// not implement this say).
    fn twin(&mut self, request: &twin::Request) -> Result<twin::Response, BackendError> {
        let _ = request;
        Err(BackendError::NoTwin)
    }
    /// A clock for [`Backend::signature_checked`] (the time-stamp counter on the tile); 0
    /// where there is none (what backends that do not implement this say).
    fn timestamp(&self) -> u64 {
        0
    }
    /// An operator signature was checked, in `ticks` of [`Backend::timestamp`] (the agent
    /// counts them for its install figures).
    fn signature_checked(&mut self, ticks: u64) {
        let _ = ticks;
    }
}

/// Whether a connection stays open after [`Agent::receive`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Flow {
    /// Keep reading.
    Open,
    /// Close it now (the agent already forgot it: do not call [`Agent::disconnect`]).
    Close,
}

/// What [`Agent::connect`] made of a new connection.
#[derive(Debug)]
#[must_use]
pub enum Connect {
    /// Served as connection `.0`; send the [`Hello`] frame `.1`.
    Open(ConnectionId, FrameBytes),
    /// [`MAX_SESSIONS`] are open: send this [`WireError::Busy`] frame and close it.
    Busy(FrameBytes),
}

/// One connection's state.
struct Session {
    /// Its challenge.
    challenge: [u8; CHALLENGE_BYTES],
    /// The counter the next command must carry.
    next: u64,
    /// Bad signatures so far.
    failures: u8,
    /// Bytes of the frame being read.
    reader: FrameReader,
}

/// An install under way into one slot.
struct Staging {
    /// The slot.
    slot: SlotName,
    /// The connection sending it.
    owner: ConnectionId,
    /// What its signed begin bound it to, for an install session ([`Command::Install`]);
    /// `None` for an install whose every chunk is signed.
    bound: Option<Bound>,
}

/// What an install session's signed begin named, and what arrived of it.
struct Bound {
    /// The bundle's length.
    length: u32,
    /// The bundle's SHA-256.
    sha256: [u8; 32],
    /// Bytes the slot manager staged so far, in order.
    received: u32,
    /// Their hash so far.
    hasher: Sha256,
}

/// The agent: its sessions, who stages which slot, and the backend.
pub struct Agent<B: Backend> {
    /// Where commands go.
    backend: B,
    /// The operator's public key.
    operator: VerifyingKey,
    /// The connections.
    sessions: [Option<Session>; MAX_SESSIONS],
    /// Slots with an install under way.
    staging: Vec<Staging, MAX_SLOTS>,
}

impl<B: Backend> Agent<B> {
    /// An agent trusting `operator` for changes.
    pub fn new(backend: B, operator: VerifyingKey) -> Self {
        Self { backend, operator, sessions: [const { None }; MAX_SESSIONS], staging: Vec::new() }
    }

    /// The backend.
    pub fn backend(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Connections open.
    pub fn connections(&self) -> usize {
        self.sessions.iter().filter(|session| session.is_some()).count()
    }

    /// A new connection with `challenge`.
    pub fn connect(&mut self, challenge: [u8; CHALLENGE_BYTES]) -> Connect {
        let Some(id) = self.sessions.iter().position(Option::is_none) else {
            return Connect::Busy(encode(&ServerFrame::Error(WireError::Busy)));
        };
        self.sessions[id] = Some(Session { challenge, next: 0, failures: 0, reader: FrameReader::new() });
        Connect::Open(id, encode(&ServerFrame::Hello(Hello { version: VERSION, challenge })))
    }

    /// Bytes arrived on connection `id`: each complete frame is handled and its answer
    /// handed to `out`. An unknown `id` closes.
    pub fn receive(&mut self, id: ConnectionId, mut input: &[u8], out: &mut dyn FnMut(&[u8])) -> Flow {
        let mut body = [0u8; MAX_FRAME];
        while !input.is_empty() {
            let Some(session) = self.sessions.get_mut(id).and_then(Option::as_mut) else { return Flow::Close };
            let length = match session.reader.push(&mut input) {
                Read::Frame(frame) => {
                    body[..frame.len()].copy_from_slice(frame);
                    frame.len()
                }
                Read::Incomplete => return Flow::Open,
                Read::BadLength(error) => {
                    out(&encode(&ServerFrame::Error(error)));
                    self.disconnect(id);
                    return Flow::Close;
                }
            };
            let (answer, flow) = self.handle(id, &body[..length]);
            out(&encode(&answer));
            if flow == Flow::Close {
                self.disconnect(id);
                return Flow::Close;
            }
        }
        Flow::Open
    }

    /// Whether connection `id` has part of a frame waiting for more bytes.
    pub fn in_frame(&self, id: ConnectionId) -> bool {
        self.sessions.get(id).and_then(Option::as_ref).is_some_and(|session| session.reader.in_frame())
    }

    /// Closes connection `id` for idleness: returns the [`WireError::IdleTimeout`] frame to
    /// send, and forgets the connection.
    pub fn expire(&mut self, id: ConnectionId) -> FrameBytes {
        self.disconnect(id);
        encode(&ServerFrame::Error(WireError::IdleTimeout))
    }

    /// Connection `id` is gone: forget it, and discard a bundle it was staging.
    pub fn disconnect(&mut self, id: ConnectionId) {
        if let Some(session) = self.sessions.get_mut(id) {
            *session = None;
        }
        while let Some(position) = self.staging.iter().position(|staging| staging.owner == id) {
            let staging = self.staging.swap_remove(position);
            // Whatever the manager answers, the partial bundle is no longer this agent's.
            let _ = self.backend.slot(&staging.slot, &Request::InstallBegin { length: 0 });
        }
    }

    /// Whether `command` is a chunk or the commit of an install session that connection
    /// `id` began: authorised by the session's signed begin, it needs no signature.
    fn in_install_session(&self, id: ConnectionId, command: &Command) -> bool {
        let Command::Slot { slot, request: Request::InstallChunk { .. } | Request::InstallCommit } = command else { return false };
        self.staging.iter().any(|staging| staging.slot == *slot && staging.owner == id && staging.bound.is_some())
    }

    /// One frame from connection `id`.
    fn handle(&mut self, id: ConnectionId, body: &[u8]) -> (ServerFrame, Flow) {
        let frame: ClientFrame = match frame::decode_client(body) {
            Ok(frame) => frame,
            Err(error) => return (ServerFrame::Error(error), Flow::Open),
        };
        let needs_signature = frame.command.is_privileged() && !self.in_install_session(id, &frame.command);
        let Some(session) = self.sessions.get_mut(id).and_then(Option::as_mut) else {
            return (ServerFrame::Error(WireError::Malformed), Flow::Close);
        };
        let counter = frame.counter;
        let answer = |answer| ServerFrame::Answer { counter, answer };
        if counter != session.next {
            return (answer(Answer::Error(WireError::Replay { expected: session.next, got: counter })), Flow::Open);
        }
        session.next = session.next.saturating_add(1);
        match &frame.signature {
            None if needs_signature => return (answer(Answer::Error(WireError::SignatureRequired)), Flow::Open),
            None => {}
            Some(signature) => {
                let started = self.backend.timestamp();
                let good = auth::verify(&self.operator, &session.challenge, counter, &frame.command, signature);
                let ticks = self.backend.timestamp().saturating_sub(started);
                self.backend.signature_checked(ticks);
                if !good {
                    session.failures = session.failures.saturating_add(1);
                    if session.failures >= MAX_FAILURES {
                        return (ServerFrame::Error(WireError::TooManyFailures), Flow::Close);
                    }
                    return (answer(Answer::Error(WireError::BadSignature)), Flow::Open);
                }
            }
        }
        (answer(self.perform(id, frame.command)), Flow::Open)
    }

    /// Carries out an authorised command.
    fn perform(&mut self, id: ConnectionId, command: Command) -> Answer {
        match command {
            Command::Slots => Answer::Slots(self.backend.slot_names()),
            Command::Domains { first } => match self.backend.domains(first) {
                Ok(supervisor::Response::Status { total, domains }) => Answer::Domains { total, domains },
                Ok(_) => Answer::Error(WireError::ServerFailed),
                Err(error) => Answer::Error(error.into()),
            },
            Command::Verify(request) => match self.backend.verify(&request) {
                Ok(response) => Answer::Verify(response),
                Err(error) => Answer::Error(error.into()),
            },
            Command::Twin(read) => match self.backend.twin(&read.request()) {
                Ok(response) => Answer::Twin(response),
                Err(error) => Answer::Error(error.into()),
            },
            Command::Telemetry { first } => match self.backend.telemetry(first) {
                Ok(telemetry::Response::Figures { total, units, domains }) => Answer::Telemetry { total, units, domains },
                Ok(telemetry::Response::Refused(refusal)) => Answer::Error(WireError::TelemetryRefused(refusal)),
                Ok(_) => Answer::Error(WireError::ServerFailed),
                Err(error) => Answer::Error(error.into()),
            },
            Command::Install { slot, length, sha256 } => {
                let bound = Bound { length, sha256, received: 0, hasher: Sha256::new() };
                self.slot_request(id, slot, Request::InstallBegin { length }, Some(bound))
            }
            Command::Slot { slot, request } => self.slot_request(id, slot, request, None),
        }
    }

    /// Carries out an authorised slot request of connection `id`; `bound` is what an
    /// install session's begin ([`Command::Install`]) named.
    fn slot_request(&mut self, id: ConnectionId, slot: SlotName, request: Request, bound: Option<Bound>) -> Answer {
        if !self.backend.slot_names().contains(&slot) {
            return Answer::Error(WireError::UnknownSlot);
        }
        let owner = self.staging.iter().position(|staging| staging.slot == slot);
        match (&request, owner) {
            (Request::InstallBegin { .. }, Some(position)) if self.staging[position].owner != id => {
                return Answer::Error(WireError::StagingBusy);
            }
            (Request::InstallBegin { .. }, Some(position)) => self.staging[position].bound = bound,
            (Request::InstallBegin { .. }, None) => {
                // Room for every slot: names are checked against the backend's list.
                let _ = self.staging.push(Staging { slot: slot.clone(), owner: id, bound });
            }
            (Request::InstallChunk { .. } | Request::InstallCommit, Some(position)) if self.staging[position].owner == id => {
                if let (Request::InstallCommit, Some(bound)) = (&request, &self.staging[position].bound)
                    && (bound.received != bound.length || bound.hasher.clone().finalize().as_slice() != bound.sha256)
                {
                    let staging = self.staging.swap_remove(position);
                    // The bytes staged are not the ones the operator signed: discard them.
                    let _ = self.backend.slot(&staging.slot, &Request::InstallBegin { length: 0 });
                    return Answer::Error(WireError::BundleDiffers);
                }
            }
            (Request::InstallChunk { .. } | Request::InstallCommit, _) => return Answer::Error(WireError::NotStaging),
            _ => {}
        }
        let result = self.backend.slot(&slot, &request);
        if let (Request::InstallChunk { offset, bytes }, Ok(slots::Response::Staged { received })) = (&request, &result)
            && let Some(bound) = self.staging.iter_mut().find(|staging| staging.slot == slot).and_then(|staging| staging.bound.as_mut())
            && *offset == bound.received
            && u64::from(*received) == u64::from(*offset) + bytes.len() as u64
        {
            bound.hasher.update(bytes);
            bound.received = *received;
        }
        let finished = matches!(
            (&request, &result),
            (Request::InstallCommit, _)
                | (Request::InstallBegin { .. }, Ok(slots::Response::Refused(_)))
                | (Request::InstallBegin { .. } | Request::InstallChunk { .. }, Err(_))
        );
        if finished {
            self.staging.retain(|staging| staging.slot != slot);
        }
        match result {
            Ok(response) => Answer::Slot(response),
            Err(error) => Answer::Error(error.into()),
        }
    }
}

/// Encodes an agent frame; every frame of the protocol fits (the crate's tests), and an
/// answer that somehow did not is replaced by [`WireError::ServerFailed`].
fn encode(frame: &ServerFrame) -> FrameBytes {
    frame::encode(frame).or_else(|| frame::encode(&ServerFrame::Error(WireError::ServerFailed))).unwrap_or_default()
}

#[cfg(test)]
mod tests;
