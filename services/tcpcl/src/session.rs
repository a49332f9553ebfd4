//! The sans-IO TCPCLv4 session state machine (RFC 9174 §3.3, §4, §5, §6): feed it received
//! bytes and clock ticks, take bytes to send and events out.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::msg::{
    self, CONTACT_HEADER_LEN, DecodeError, ExtensionItem, FLAG_END, FLAG_REPLY, FLAG_START, Limits, MAGIC, Message, RefuseReason,
    RejectReason, TRANSFER_LENGTH_ITEM, TermReason, VERSION, msg_type,
};

/// Which side opened the TCP connection (RFC 9174 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Opened the connection; sends its contact header and SESS_INIT first.
    Active,
    /// Accepted the connection; answers the active entity.
    Passive,
}

/// Local session parameters.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our node ID sent in SESS_INIT, e.g. `ipn:2.0`.
    pub node_id: String,
    /// Keepalive interval we offer, in seconds (0 = none). The session uses the minimum.
    pub keepalive_s: u16,
    /// Largest segment data we accept.
    pub segment_mru: u64,
    /// Largest whole bundle we accept.
    pub transfer_mru: u64,
    /// Largest extension item list we accept in SESS_INIT or a START segment.
    pub max_extensions: u32,
    /// Largest segment we send, even if the peer accepts more, so that acknowledgements and
    /// keepalives are not held up behind huge segments.
    pub max_send_segment: u64,
    /// When the XFER_ACK of a transfer's last segment is sent.
    pub final_ack: FinalAck,
}

/// When a received transfer's last segment is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalAck {
    /// As soon as it arrives, before [`Event::BundleReceived`] is reported.
    Immediate,
    /// Only when the user calls [`Session::acknowledge`] (after storing the bundle, so a
    /// custodian never acknowledges a bundle it could still lose) or refuses it with
    /// [`Session::refuse_received`].
    Deferred,
}

impl Config {
    /// Defaults for `node_id`: keepalive 30 s, 64 KiB segments, 64 MiB bundles.
    pub fn new(node_id: impl Into<String>) -> Self {
        Config {
            node_id: node_id.into(),
            keepalive_s: 30,
            segment_mru: 64 * 1024,
            transfer_mru: 64 * 1024 * 1024,
            max_extensions: 4096,
            max_send_segment: 64 * 1024,
            final_ack: FinalAck::Immediate,
        }
    }
}

/// What the peer told us in its SESS_INIT, and the negotiated keepalive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's node ID.
    pub node_id: String,
    /// Negotiated keepalive interval in seconds: the minimum of both offers (RFC 9174 §4.7).
    pub keepalive_s: u16,
    /// Largest segment the peer accepts; we segment to this.
    pub segment_mru: u64,
    /// Largest bundle the peer accepts.
    pub transfer_mru: u64,
}

/// Why a session ended abnormally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// The contact header did not start with "dtn!"; the connection is closed without a
    /// SESS_TERM (RFC 9174 §4.3).
    BadMagic,
    /// The peer speaks another TCPCL version.
    VersionMismatch(u8),
    /// The peer's SESS_INIT was not acceptable (reason given).
    ContactFailure(&'static str),
    /// A message type code RFC 9174 does not define.
    UnknownMessageType(u8),
    /// A message arrived that is not allowed before the session is established.
    UnexpectedMessage(u8),
    /// A segment larger than our segment MRU was announced.
    SegmentTooLarge,
    /// An extension item list longer than our limit was announced.
    ExtensionsTooLarge,
    /// Nothing was received for twice the keepalive interval.
    IdleTimeout,
    /// The connection ended before the session was terminated.
    UnexpectedEof,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::BadMagic => f.write_str("contact header magic is not \"dtn!\""),
            SessionError::VersionMismatch(v) => write!(f, "peer speaks TCPCL version {v}, not 4"),
            SessionError::ContactFailure(why) => write!(f, "unacceptable SESS_INIT: {why}"),
            SessionError::UnknownMessageType(t) => write!(f, "unknown message type {t:#04x}"),
            SessionError::UnexpectedMessage(t) => {
                write!(f, "message type {t:#04x} before session establishment")
            }
            SessionError::SegmentTooLarge => f.write_str("segment exceeds our segment MRU"),
            SessionError::ExtensionsTooLarge => f.write_str("extension items exceed our limit"),
            SessionError::IdleTimeout => f.write_str("no message within twice the keepalive"),
            SessionError::UnexpectedEof => f.write_str("connection closed mid-session"),
        }
    }
}

/// Something the session's user needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// SESS_INIT messages were exchanged; bundles can be sent.
    Established(PeerInfo),
    /// A complete bundle arrived.
    BundleReceived {
        /// The peer's transfer ID.
        transfer_id: u64,
        /// The bundle bytes.
        data: Vec<u8>,
    },
    /// The peer acknowledged part or all of one of our transfers.
    TransferAcked {
        /// Our transfer ID.
        transfer_id: u64,
        /// Bytes acknowledged so far.
        acked: u64,
        /// The whole bundle is acknowledged.
        complete: bool,
    },
    /// The peer refused one of our transfers.
    TransferRefused {
        /// Our transfer ID.
        transfer_id: u64,
        /// Why.
        reason: RefuseReason,
    },
    /// The peer rejected one of our messages with MSG_REJECT.
    Rejected {
        /// Why.
        reason: RejectReason,
        /// Type code of the rejected message.
        header: u8,
    },
    /// A SESS_TERM was sent or received.
    Terminated {
        /// Its reason.
        reason: TermReason,
        /// The peer sent the first SESS_TERM.
        by_peer: bool,
    },
    /// The peer departed from RFC 9174 in a way the session tolerated.
    Tolerated(Deviation),
    /// The session is over: send what `poll_transmit` still returns, then close the connection.
    Closed {
        /// Why, if it ended abnormally.
        error: Option<SessionError>,
    },
}

/// A departure from RFC 9174 by the peer that the session tolerates because its meaning is
/// unambiguous; reported so that the caller can log it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deviation {
    /// The peer acknowledged the whole of a completely sent transfer with an XFER_ACK whose
    /// flags lack END, although §5.2.3 says an acknowledgement copies the segment's flags.
    /// Seen in deployed nodes; the transfer is counted as complete.
    FullAckWithoutEnd {
        /// Our transfer ID.
        transfer_id: u64,
    },
}

impl fmt::Display for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Deviation::FullAckWithoutEnd { transfer_id } => write!(
                f,
                "peer acknowledged all of transfer {transfer_id} with an XFER_ACK lacking the END flag \
                 (RFC 9174 §5.2.3); counted as complete"
            ),
        }
    }
}

/// Why [`Session::send_bundle`] did not queue a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The session is not (or no longer) established.
    NotEstablished,
    /// The bundle is larger than the peer's transfer MRU.
    TooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the peer's contact header.
    Contact,
    /// Contact headers exchanged; waiting for the peer's SESS_INIT.
    SessInit,
    Established,
    /// We sent SESS_TERM and wait for the reply.
    Ending,
    Closed,
}

#[derive(Debug)]
struct Outgoing {
    id: u64,
    data: Vec<u8>,
    sent: usize,
}

/// The XFER_ACK of a received transfer's last segment, held back by [`FinalAck::Deferred`].
#[derive(Debug, Clone, Copy)]
struct HeldAck {
    /// Flags of the last segment.
    flags: u8,
    /// The transfer's total length.
    length: u64,
}

#[derive(Debug)]
struct Incoming {
    id: u64,
    data: Vec<u8>,
    /// Length announced by the Transfer Length extension.
    declared: Option<u64>,
    refused: bool,
}

/// One TCPCLv4 session. No I/O happens inside: the caller moves bytes between it and a
/// TCP connection and passes the time in milliseconds from any monotonic clock.
#[derive(Debug)]
pub struct Session {
    role: Role,
    config: Config,
    state: State,
    peer: Option<PeerInfo>,
    input: Vec<u8>,
    output: Vec<u8>,
    events: VecDeque<Event>,
    queue: VecDeque<Outgoing>,
    /// Our transfers fully sent but not fully acknowledged: ID → length.
    unacked: BTreeMap<u64, u64>,
    incoming: Option<Incoming>,
    /// Received transfers whose final XFER_ACK waits for [`Session::acknowledge`]:
    deferred: BTreeMap<u64, HeldAck>,
    next_transfer_id: u64,
    now_ms: u64,
    last_sent_ms: u64,
    last_received_ms: u64,
}

impl Session {
    /// A new session; an active one queues its contact header at once (RFC 9174 §4.2).
    pub fn new(role: Role, config: Config, now_ms: u64) -> Self {
        let mut session = Session {
            role,
            config,
            state: State::Contact,
            peer: None,
            input: Vec::new(),
            output: Vec::new(),
            events: VecDeque::new(),
            queue: VecDeque::new(),
            unacked: BTreeMap::new(),
            incoming: None,
            deferred: BTreeMap::new(),
            next_transfer_id: 0,
            now_ms,
            last_sent_ms: now_ms,
            last_received_ms: now_ms,
        };
        if role == Role::Active {
            session.send_contact_header();
        }
        session
    }

    /// The peer's parameters once established.
    pub fn peer(&self) -> Option<&PeerInfo> {
        self.peer.as_ref()
    }

    /// Whether bundles can be sent.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// Whether the session is over (the caller closes the connection once output is sent).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether our queued transfers are all sent and acknowledged.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.unacked.is_empty()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Bytes to write to the connection next, if any. Control messages come first; then the
    /// next segment of the current outgoing transfer, cut to the peer's segment MRU.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.output.is_empty() && self.state == State::Established {
            self.next_segment();
        }
        if self.output.is_empty() {
            return None;
        }
        self.last_sent_ms = self.now_ms;
        Some(core::mem::take(&mut self.output))
    }

    /// Queues a bundle for transfer and returns its transfer ID.
    pub fn send_bundle(&mut self, data: Vec<u8>) -> Result<u64, SendError> {
        let peer = self.peer.as_ref().filter(|_| self.state == State::Established);
        let peer = peer.ok_or(SendError::NotEstablished)?;
        if data.len() as u64 > peer.transfer_mru {
            return Err(SendError::TooLarge);
        }
        let id = self.next_transfer_id;
        self.next_transfer_id = self.next_transfer_id.wrapping_add(1);
        self.queue.push_back(Outgoing { id, data, sent: 0 });
        Ok(id)
    }

    /// Sends the XFER_ACK of a received transfer's last segment held back by
    /// [`FinalAck::Deferred`]; false if no such acknowledgement is waiting.
    pub fn acknowledge(&mut self, transfer_id: u64) -> bool {
        let Some(HeldAck { flags, length }) = self.deferred.remove(&transfer_id) else { return false };
        if !matches!(self.state, State::Established | State::Ending) {
            return false;
        }
        self.push(&Message::XferAck { flags, transfer_id, length });
        true
    }

    /// Refuses a received transfer whose final XFER_ACK was held back by
    /// [`FinalAck::Deferred`] (e.g. it could not be stored); false if none is waiting.
    pub fn refuse_received(&mut self, transfer_id: u64, reason: RefuseReason) -> bool {
        if self.deferred.remove(&transfer_id).is_none() || !matches!(self.state, State::Established | State::Ending) {
            return false;
        }
        self.refuse(transfer_id, reason);
        true
    }

    /// Ends the session with SESS_TERM (RFC 9174 §6.1); it closes when the peer replies.
    /// Queued transfers not yet fully sent are dropped.
    pub fn terminate(&mut self, reason: TermReason) {
        if matches!(self.state, State::Ending | State::Closed) {
            return;
        }
        self.queue.clear();
        self.push(&Message::SessTerm { flags: 0, reason });
        self.events.push_back(Event::Terminated { reason, by_peer: false });
        self.state = State::Ending;
    }

    /// Advances the clock: sends a KEEPALIVE when nothing was sent for the negotiated
    /// interval and ends the session when nothing arrived for twice the interval (§5.1.1).
    pub fn tick(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        let keepalive = self.peer.as_ref().map_or(0, |p| u64::from(p.keepalive_s));
        if self.state != State::Established || keepalive == 0 {
            return;
        }
        let interval = keepalive * 1000;
        if now_ms.saturating_sub(self.last_received_ms) >= 2 * interval {
            self.fail(SessionError::IdleTimeout, Some(TermReason::IdleTimeout));
        } else if self.output.is_empty() && now_ms.saturating_sub(self.last_sent_ms) >= interval {
            self.push(&Message::Keepalive);
        }
    }

    /// Consumes bytes read from the connection.
    pub fn receive(&mut self, data: &[u8], now_ms: u64) {
        self.now_ms = now_ms;
        if self.state == State::Closed {
            return;
        }
        self.last_received_ms = now_ms;
        self.input.extend_from_slice(data);
        let mut used = 0;
        while self.state != State::Closed {
            let rest = &self.input[used..];
            if self.state == State::Contact {
                let Some(header) = rest.get(..CONTACT_HEADER_LEN) else {
                    break;
                };
                let header = [header[0], header[1], header[2], header[3], header[4], header[5]];
                used += CONTACT_HEADER_LEN;
                self.on_contact_header(header);
                continue;
            }
            let limits = Limits { segment_mru: self.config.segment_mru, max_extensions: self.config.max_extensions };
            match msg::decode(rest, &limits) {
                Ok(None) => break,
                Ok(Some((message, len))) => {
                    used += len;
                    self.on_message(message);
                }
                Err(e) => self.on_decode_error(e),
            }
        }
        if self.state == State::Closed {
            self.input = Vec::new();
        } else {
            self.input.drain(..used);
        }
    }

    /// The connection was closed by the peer (or failed).
    pub fn receive_eof(&mut self) {
        if self.state != State::Closed {
            let ended = self.state == State::Ending;
            self.close(if ended { None } else { Some(SessionError::UnexpectedEof) });
        }
    }

    fn push(&mut self, message: &Message) {
        message.encode(&mut self.output);
    }

    fn send_contact_header(&mut self) {
        // CAN_TLS is never set: this implementation has no TLS (RFC 9174 §4.2, §4.3).
        self.output.extend_from_slice(&msg::contact_header(0));
    }

    fn send_sess_init(&mut self) {
        self.push(&Message::SessInit {
            keepalive: self.config.keepalive_s,
            segment_mru: self.config.segment_mru,
            transfer_mru: self.config.transfer_mru,
            node_id: self.config.node_id.as_bytes().to_vec(),
            extensions: Vec::new(),
        });
    }

    fn close(&mut self, error: Option<SessionError>) {
        self.state = State::Closed;
        self.queue.clear();
        self.incoming = None;
        self.deferred.clear();
        self.events.push_back(Event::Closed { error });
    }

    /// Ends the session because of a local protocol error: SESS_TERM (if given) then close.
    fn fail(&mut self, error: SessionError, term: Option<TermReason>) {
        if let Some(reason) = term {
            self.push(&Message::SessTerm { flags: 0, reason });
            self.events.push_back(Event::Terminated { reason, by_peer: false });
        }
        self.close(Some(error));
    }

    fn on_contact_header(&mut self, header: [u8; CONTACT_HEADER_LEN]) {
        if header[..4] != MAGIC {
            self.close(Some(SessionError::BadMagic));
            return;
        }
        if self.role == Role::Passive {
            self.send_contact_header();
        }
        if header[4] != VERSION {
            self.fail(SessionError::VersionMismatch(header[4]), Some(TermReason::VersionMismatch));
            return;
        }
        // The peer's CAN_TLS flag needs no action: TLS is used only if both set it.
        if self.role == Role::Active {
            self.send_sess_init();
        }
        self.state = State::SessInit;
    }

    fn on_decode_error(&mut self, error: DecodeError) {
        match error {
            DecodeError::UnknownType(code) => {
                // The length of an unknown message is unknown, so the stream cannot be
                // followed: MSG_REJECT, then close the connection (RFC 9174 §4.5).
                self.push(&Message::MsgReject { reason: RejectReason::TypeUnknown, header: code });
                self.fail(SessionError::UnknownMessageType(code), None);
            }
            DecodeError::SegmentTooLarge => {
                self.fail(SessionError::SegmentTooLarge, Some(TermReason::ResourceExhaustion));
            }
            DecodeError::ExtensionsTooLarge => {
                self.fail(SessionError::ExtensionsTooLarge, Some(TermReason::ResourceExhaustion));
            }
        }
    }

    fn on_message(&mut self, message: Message) {
        if let Message::SessTerm { flags, reason } = message {
            self.on_sess_term(flags, reason);
            return;
        }
        match self.state {
            State::SessInit => match message {
                Message::SessInit { keepalive, segment_mru, transfer_mru, node_id, extensions } => {
                    self.on_sess_init(keepalive, segment_mru, transfer_mru, node_id, &extensions);
                }
                other => {
                    let code = message_code(&other);
                    self.push(&Message::MsgReject { reason: RejectReason::Unexpected, header: code });
                    self.fail(SessionError::UnexpectedMessage(code), Some(TermReason::ContactFailure));
                }
            },
            State::Established => self.on_established_message(message),
            // While ending, only the SESS_TERM reply matters (RFC 9174 §6.1).
            State::Ending | State::Contact | State::Closed => {}
        }
    }

    fn on_sess_term(&mut self, flags: u8, reason: TermReason) {
        if self.state == State::Ending {
            // The reply to ours, or a simultaneous SESS_TERM: either way we are done.
            self.close(None);
            return;
        }
        if flags & FLAG_REPLY == 0 {
            self.push(&Message::SessTerm { flags: FLAG_REPLY, reason });
        }
        self.events.push_back(Event::Terminated { reason, by_peer: true });
        self.close(None);
    }

    fn on_sess_init(&mut self, keepalive: u16, segment_mru: u64, transfer_mru: u64, node_id: Vec<u8>, extensions: &[u8]) {
        let Ok(node_id) = String::from_utf8(node_id) else {
            self.contact_failure("node ID is not UTF-8");
            return;
        };
        let Some(items) = msg::parse_extensions(extensions) else {
            self.contact_failure("malformed session extension items");
            return;
        };
        // No session extensions are defined; a critical one we cannot honour ends the
        // session, others are ignored (RFC 9174 §4.8).
        if items.iter().any(|item| item.critical) {
            self.contact_failure("unknown critical session extension");
            return;
        }
        if segment_mru == 0 {
            self.contact_failure("segment MRU of zero");
            return;
        }
        if self.role == Role::Passive {
            self.send_sess_init();
        }
        let peer = PeerInfo { node_id, keepalive_s: keepalive.min(self.config.keepalive_s), segment_mru, transfer_mru };
        self.peer = Some(peer.clone());
        self.state = State::Established;
        self.events.push_back(Event::Established(peer));
    }

    fn contact_failure(&mut self, why: &'static str) {
        self.fail(SessionError::ContactFailure(why), Some(TermReason::ContactFailure));
    }

    fn reject(&mut self, header: u8) {
        self.push(&Message::MsgReject { reason: RejectReason::Unexpected, header });
    }

    fn on_established_message(&mut self, message: Message) {
        match message {
            Message::XferSegment { flags, transfer_id, extensions, data } => {
                self.on_segment(flags, transfer_id, &extensions, data);
            }
            Message::XferAck { flags, transfer_id, length } => {
                self.on_ack(flags, transfer_id, length);
            }
            Message::XferRefuse { reason, transfer_id } => self.on_refuse(reason, transfer_id),
            Message::Keepalive => {}
            Message::MsgReject { reason, header } => {
                self.events.push_back(Event::Rejected { reason, header });
            }
            Message::SessInit { .. } => self.reject(msg_type::SESS_INIT),
            Message::SessTerm { .. } => {}
        }
    }

    fn refuse(&mut self, transfer_id: u64, reason: RefuseReason) {
        self.push(&Message::XferRefuse { reason, transfer_id });
    }

    fn on_segment(&mut self, flags: u8, transfer_id: u64, extensions: &[u8], data: Vec<u8>) {
        if flags & FLAG_START != 0 {
            if self.incoming.as_ref().is_some_and(|t| !t.refused) {
                // Transfers must not interleave (RFC 9174 §5.2.2).
                self.reject(msg_type::XFER_SEGMENT);
                return;
            }
            let checked = self.check_transfer_extensions(extensions);
            if let Err(reason) = checked {
                self.refuse(transfer_id, reason);
            }
            self.incoming =
                Some(Incoming { id: transfer_id, data: Vec::new(), declared: checked.unwrap_or(None), refused: checked.is_err() });
        }
        let Some(incoming) = self.incoming.as_mut().filter(|t| t.id == transfer_id) else {
            self.reject(msg_type::XFER_SEGMENT);
            return;
        };
        let end = flags & FLAG_END != 0;
        if !incoming.refused {
            let total = (incoming.data.len() + data.len()) as u64;
            let refusal = if total > self.config.transfer_mru {
                Some(RefuseReason::NoResources)
            } else if incoming.declared.is_some_and(|declared| total > declared || (end && total != declared)) {
                // The data does not match the Transfer Length extension (RFC 9174 §5.2.5.1).
                Some(RefuseReason::NotAcceptable)
            } else {
                None
            };
            if let Some(reason) = refusal {
                incoming.refused = true;
                incoming.data = Vec::new();
                self.refuse(transfer_id, reason);
            } else {
                incoming.data.extend_from_slice(&data);
                if end && self.config.final_ack == FinalAck::Deferred {
                    self.deferred.insert(transfer_id, HeldAck { flags, length: total });
                } else {
                    self.push(&Message::XferAck { flags, transfer_id, length: total });
                }
            }
        }
        if end && let Some(done) = self.incoming.take().filter(|t| !t.refused) {
            self.events.push_back(Event::BundleReceived { transfer_id, data: done.data });
        }
    }

    /// Checks a START segment's transfer extension items (RFC 9174 §5.2.5) and returns the
    /// declared Transfer Length, if any.
    fn check_transfer_extensions(&self, extensions: &[u8]) -> Result<Option<u64>, RefuseReason> {
        let items = msg::parse_extensions(extensions).ok_or(RefuseReason::ExtensionFailure)?;
        let mut declared = None;
        for ExtensionItem { critical, item_type, value } in &items {
            if *item_type == TRANSFER_LENGTH_ITEM {
                let bytes = <[u8; 8]>::try_from(value.as_slice()).map_err(|_| RefuseReason::ExtensionFailure)?;
                let length = u64::from_be_bytes(bytes);
                if length > self.config.transfer_mru {
                    return Err(RefuseReason::NoResources);
                }
                declared = Some(length);
            } else if *critical {
                return Err(RefuseReason::ExtensionFailure);
            }
        }
        Ok(declared)
    }

    fn on_ack(&mut self, flags: u8, transfer_id: u64, acked: u64) {
        // The acknowledged length can be at most what we sent; only a fully sent transfer
        // can be completely acknowledged.
        let (sent, fully_sent) = if let Some(&len) = self.unacked.get(&transfer_id) {
            (len, true)
        } else if let Some(t) = self.queue.front().filter(|t| t.id == transfer_id && t.sent > 0) {
            (t.sent as u64, false)
        } else {
            self.reject(msg_type::XFER_ACK);
            return;
        };
        if acked > sent {
            self.reject(msg_type::XFER_ACK);
            return;
        }
        // Tolerated: a full-length acknowledgement without END still means "all received".
        let complete = fully_sent && acked == sent;
        if complete {
            self.unacked.remove(&transfer_id);
            if flags & FLAG_END == 0 {
                self.events.push_back(Event::Tolerated(Deviation::FullAckWithoutEnd { transfer_id }));
            }
        }
        self.events.push_back(Event::TransferAcked { transfer_id, acked, complete });
    }

    fn on_refuse(&mut self, reason: RefuseReason, transfer_id: u64) {
        let queued = self.queue.front().is_some_and(|t| t.id == transfer_id);
        if queued {
            self.queue.pop_front();
        } else if self.unacked.remove(&transfer_id).is_none() {
            self.reject(msg_type::XFER_REFUSE);
            return;
        }
        self.events.push_back(Event::TransferRefused { transfer_id, reason });
    }

    /// Writes the next segment of the front transfer into `output`.
    fn next_segment(&mut self) {
        let Some(peer) = &self.peer else { return };
        let max = peer.segment_mru.min(self.config.max_send_segment).max(1);
        let Some(transfer) = self.queue.front_mut() else {
            return;
        };
        let remaining = transfer.data.len() - transfer.sent;
        let len = usize::try_from(max).map_or(remaining, |m| remaining.min(m));
        let mut flags = 0;
        let mut extensions = Vec::new();
        if transfer.sent == 0 {
            flags |= FLAG_START;
            extensions = msg::encode_extensions(&[ExtensionItem {
                critical: false,
                item_type: TRANSFER_LENGTH_ITEM,
                value: (transfer.data.len() as u64).to_be_bytes().to_vec(),
            }]);
        }
        let end = transfer.sent + len;
        if end == transfer.data.len() {
            flags |= FLAG_END;
        }
        msg::encode_segment(&mut self.output, flags, transfer.id, &extensions, &transfer.data[transfer.sent..end]);
        transfer.sent = end;
        if flags & FLAG_END != 0 {
            let id = transfer.id;
            let total = transfer.data.len() as u64;
            self.queue.pop_front();
            self.unacked.insert(id, total);
        }
    }
}

/// The type code of a decoded message.
fn message_code(message: &Message) -> u8 {
    match message {
        Message::SessInit { .. } => msg_type::SESS_INIT,
        Message::XferSegment { .. } => msg_type::XFER_SEGMENT,
        Message::XferAck { .. } => msg_type::XFER_ACK,
        Message::XferRefuse { .. } => msg_type::XFER_REFUSE,
        Message::Keepalive => msg_type::KEEPALIVE,
        Message::SessTerm { .. } => msg_type::SESS_TERM,
        Message::MsgReject { .. } => msg_type::MSG_REJECT,
    }
}
