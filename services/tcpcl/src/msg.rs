//! TCPCLv4 wire format (RFC 9174 §4.2, §4.5, §4.6, §4.8, §5.1, §5.2, §6.1): the contact header, the
//! seven message types and extension items, all big-endian.

use alloc::vec::Vec;

/// The contact header magic, "dtn!" (RFC 9174 §4.2).
pub const MAGIC: [u8; 4] = *b"dtn!";
/// The protocol version this crate speaks.
pub const VERSION: u8 = 4;
/// Length of the contact header: magic, version, flags.
pub const CONTACT_HEADER_LEN: usize = 6;
/// Contact header flag: the sender can use TLS (RFC 9174 §4.2). This crate never sets it.
pub const CAN_TLS: u8 = 0x01;

/// Message type codes (RFC 9174 §4.5; IANA registry §9.5).
pub mod msg_type {
    /// XFER_SEGMENT.
    pub const XFER_SEGMENT: u8 = 0x01;
    /// XFER_ACK.
    pub const XFER_ACK: u8 = 0x02;
    /// XFER_REFUSE.
    pub const XFER_REFUSE: u8 = 0x03;
    /// KEEPALIVE.
    pub const KEEPALIVE: u8 = 0x04;
    /// SESS_TERM.
    pub const SESS_TERM: u8 = 0x05;
    /// MSG_REJECT.
    pub const MSG_REJECT: u8 = 0x06;
    /// SESS_INIT.
    pub const SESS_INIT: u8 = 0x07;
}

/// XFER_SEGMENT / XFER_ACK flag: last segment of a transfer (RFC 9174 §5.2.2).
pub const FLAG_END: u8 = 0x01;
/// XFER_SEGMENT / XFER_ACK flag: first segment of a transfer.
pub const FLAG_START: u8 = 0x02;
/// SESS_TERM flag: this SESS_TERM acknowledges the peer's (RFC 9174 §6.1).
pub const FLAG_REPLY: u8 = 0x01;
/// Extension item flag: the receiver must understand the item (RFC 9174 §4.8, §5.2.5).
pub const ITEM_CRITICAL: u8 = 0x01;
/// Transfer extension item type: Transfer Length (RFC 9174 §5.2.5.1).
pub const TRANSFER_LENGTH_ITEM: u16 = 0x0001;

macro_rules! reason_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A code this crate does not know; receivers treat it as "Unknown".
            Unassigned(u8),
        }

        impl $name {
            /// The wire code.
            pub fn code(self) -> u8 {
                match self {
                    $($name::$variant => $code,)*
                    $name::Unassigned(code) => code,
                }
            }

            /// The reason for a wire code.
            pub fn from_code(code: u8) -> Self {
                match code {
                    $($code => $name::$variant,)*
                    other => $name::Unassigned(other),
                }
            }
        }
    };
}

reason_enum! {
    /// SESS_TERM reason codes (RFC 9174 §6.1).
    TermReason {
        /// Unknown.
        Unknown = 0x00,
        /// Idle timeout.
        IdleTimeout = 0x01,
        /// Version mismatch.
        VersionMismatch = 0x02,
        /// Busy.
        Busy = 0x03,
        /// Contact failure (bad SESS_INIT or contact parameters).
        ContactFailure = 0x04,
        /// Resource exhaustion.
        ResourceExhaustion = 0x05,
    }
}

reason_enum! {
    /// XFER_REFUSE reason codes (RFC 9174 §5.2.4).
    RefuseReason {
        /// Unknown.
        Unknown = 0x00,
        /// The receiver already has the whole bundle.
        Completed = 0x01,
        /// No resources (e.g. larger than the transfer MRU).
        NoResources = 0x02,
        /// Retransmit later.
        Retransmit = 0x03,
        /// The bundle is not acceptable.
        NotAcceptable = 0x04,
        /// A transfer extension item failed (e.g. unknown and critical).
        ExtensionFailure = 0x05,
        /// The session is terminating.
        SessionTerminating = 0x06,
    }
}

reason_enum! {
    /// MSG_REJECT reason codes (RFC 9174 §5.1.2).
    RejectReason {
        /// The message type code is unknown.
        TypeUnknown = 0x01,
        /// The message is known but not supported.
        Unsupported = 0x02,
        /// The message came at an unexpected time.
        Unexpected = 0x03,
    }
}

/// One session or transfer extension item (RFC 9174 §4.8, §5.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionItem {
    /// The CRITICAL flag.
    pub critical: bool,
    /// Item type code.
    pub item_type: u16,
    /// Item value.
    pub value: Vec<u8>,
}

/// Encodes extension items as they appear in SESS_INIT / a START XFER_SEGMENT.
pub fn encode_extensions(items: &[ExtensionItem]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        out.push(if item.critical { ITEM_CRITICAL } else { 0 });
        out.extend_from_slice(&item.item_type.to_be_bytes());
        // Values longer than u16::MAX cannot be represented; the length is capped with them.
        let len = item.value.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&item.value[..len]);
    }
    out
}

/// Parses an extension item list; `None` if an item runs past the end of the list.
pub fn parse_extensions(mut data: &[u8]) -> Option<Vec<ExtensionItem>> {
    let mut items = Vec::new();
    while !data.is_empty() {
        let (head, rest) = data.split_at_checked(5)?;
        let len = usize::from(u16::from_be_bytes([head[3], head[4]]));
        let (value, rest) = rest.split_at_checked(len)?;
        items.push(ExtensionItem {
            critical: head[0] & ITEM_CRITICAL != 0,
            item_type: u16::from_be_bytes([head[1], head[2]]),
            value: value.to_vec(),
        });
        data = rest;
    }
    Some(items)
}

/// A decoded TCPCLv4 message (RFC 9174 §4.6, §5.1, §5.2, §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// SESS_INIT: the sender's session parameters.
    SessInit {
        /// Keepalive interval in seconds (0 = no keepalives).
        keepalive: u16,
        /// Largest segment data the sender accepts.
        segment_mru: u64,
        /// Largest whole transfer the sender accepts.
        transfer_mru: u64,
        /// The sender's node ID (should be UTF-8 URI text).
        node_id: Vec<u8>,
        /// Raw session extension item list.
        extensions: Vec<u8>,
    },
    /// XFER_SEGMENT: one piece of a bundle transfer.
    XferSegment {
        /// START / END flags.
        flags: u8,
        /// Transfer ID.
        transfer_id: u64,
        /// Raw transfer extension item list (only present with START).
        extensions: Vec<u8>,
        /// Segment data.
        data: Vec<u8>,
    },
    /// XFER_ACK: cumulative acknowledgement of a transfer.
    XferAck {
        /// Flags copied from the acknowledged segment.
        flags: u8,
        /// Transfer ID.
        transfer_id: u64,
        /// Bytes received so far in this transfer.
        length: u64,
    },
    /// XFER_REFUSE: the receiver refuses a transfer.
    XferRefuse {
        /// Why.
        reason: RefuseReason,
        /// Transfer ID.
        transfer_id: u64,
    },
    /// KEEPALIVE.
    Keepalive,
    /// SESS_TERM: the sender is ending the session.
    SessTerm {
        /// REPLY flag and reserved bits.
        flags: u8,
        /// Why.
        reason: TermReason,
    },
    /// MSG_REJECT: the sender rejected one of our messages.
    MsgReject {
        /// Why.
        reason: RejectReason,
        /// The rejected message's type code.
        header: u8,
    },
}

/// The contact header bytes with the given flags.
pub fn contact_header(flags: u8) -> [u8; CONTACT_HEADER_LEN] {
    [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], VERSION, flags]
}

/// Appends an XFER_SEGMENT built from borrowed data (avoids copying large payloads twice).
pub fn encode_segment(out: &mut Vec<u8>, flags: u8, transfer_id: u64, extensions: &[u8], data: &[u8]) {
    out.push(msg_type::XFER_SEGMENT);
    out.push(flags);
    out.extend_from_slice(&transfer_id.to_be_bytes());
    if flags & FLAG_START != 0 {
        out.extend_from_slice(&(extensions.len() as u32).to_be_bytes());
        out.extend_from_slice(extensions);
    }
    out.extend_from_slice(&(data.len() as u64).to_be_bytes());
    out.extend_from_slice(data);
}

impl Message {
    /// Appends the encoded message to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Message::SessInit { keepalive, segment_mru, transfer_mru, node_id, extensions } => {
                out.push(msg_type::SESS_INIT);
                out.extend_from_slice(&keepalive.to_be_bytes());
                out.extend_from_slice(&segment_mru.to_be_bytes());
                out.extend_from_slice(&transfer_mru.to_be_bytes());
                out.extend_from_slice(&(node_id.len() as u16).to_be_bytes());
                out.extend_from_slice(node_id);
                out.extend_from_slice(&(extensions.len() as u32).to_be_bytes());
                out.extend_from_slice(extensions);
            }
            Message::XferSegment { flags, transfer_id, extensions, data } => {
                encode_segment(out, *flags, *transfer_id, extensions, data);
            }
            Message::XferAck { flags, transfer_id, length } => {
                out.push(msg_type::XFER_ACK);
                out.push(*flags);
                out.extend_from_slice(&transfer_id.to_be_bytes());
                out.extend_from_slice(&length.to_be_bytes());
            }
            Message::XferRefuse { reason, transfer_id } => {
                out.push(msg_type::XFER_REFUSE);
                out.push(reason.code());
                out.extend_from_slice(&transfer_id.to_be_bytes());
            }
            Message::Keepalive => out.push(msg_type::KEEPALIVE),
            Message::SessTerm { flags, reason } => {
                out.extend_from_slice(&[msg_type::SESS_TERM, *flags, reason.code()]);
            }
            Message::MsgReject { reason, header } => {
                out.extend_from_slice(&[msg_type::MSG_REJECT, reason.code(), *header]);
            }
        }
    }
}

/// Upper bounds a receiver puts on variable-length fields before buffering them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest XFER_SEGMENT data accepted (our segment MRU).
    pub segment_mru: u64,
    /// Largest extension item list accepted (SESS_INIT or START segment).
    pub max_extensions: u32,
}

/// Why the byte stream cannot be decoded any further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The message type code is not one of RFC 9174's.
    UnknownType(u8),
    /// A segment's data length exceeds our segment MRU.
    SegmentTooLarge,
    /// An extension item list is longer than we accept.
    ExtensionsTooLarge,
}

/// Big-endian field reader over a buffer that may end early.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        Some(u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
}

/// Decodes one message from the start of `buf`.
///
/// Returns `Ok(None)` if `buf` holds only part of a message (read more and retry),
/// `Ok(Some((message, length)))` when one is complete, and an error when the stream cannot
/// be followed any further. Lengths are checked against `limits` as soon as they are read,
/// so a peer cannot make the receiver buffer more than the limits allow.
pub fn decode(buf: &[u8], limits: &Limits) -> Result<Option<(Message, usize)>, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    let Some(code) = r.u8() else { return Ok(None) };
    let message = match code {
        msg_type::SESS_INIT => decode_sess_init(&mut r, limits)?,
        msg_type::XFER_SEGMENT => decode_segment(&mut r, limits)?,
        msg_type::XFER_ACK => (|| Some(Message::XferAck { flags: r.u8()?, transfer_id: r.u64()?, length: r.u64()? }))(),
        msg_type::XFER_REFUSE => (|| Some(Message::XferRefuse { reason: RefuseReason::from_code(r.u8()?), transfer_id: r.u64()? }))(),
        msg_type::KEEPALIVE => Some(Message::Keepalive),
        msg_type::SESS_TERM => (|| Some(Message::SessTerm { flags: r.u8()?, reason: TermReason::from_code(r.u8()?) }))(),
        msg_type::MSG_REJECT => (|| Some(Message::MsgReject { reason: RejectReason::from_code(r.u8()?), header: r.u8()? }))(),
        other => return Err(DecodeError::UnknownType(other)),
    };
    Ok(message.map(|m| (m, r.pos)))
}

fn decode_sess_init(r: &mut Reader<'_>, limits: &Limits) -> Result<Option<Message>, DecodeError> {
    let (Some(keepalive), Some(segment_mru), Some(transfer_mru)) = (r.u16(), r.u64(), r.u64()) else {
        return Ok(None);
    };
    let Some(node_id) = r.u16().and_then(|n| r.take(usize::from(n))) else {
        return Ok(None);
    };
    let Some(ext_len) = r.u32() else {
        return Ok(None);
    };
    if ext_len > limits.max_extensions {
        return Err(DecodeError::ExtensionsTooLarge);
    }
    let Some(extensions) = r.take(ext_len as usize) else {
        return Ok(None);
    };
    Ok(Some(Message::SessInit { keepalive, segment_mru, transfer_mru, node_id: node_id.to_vec(), extensions: extensions.to_vec() }))
}

fn decode_segment(r: &mut Reader<'_>, limits: &Limits) -> Result<Option<Message>, DecodeError> {
    let (Some(flags), Some(transfer_id)) = (r.u8(), r.u64()) else {
        return Ok(None);
    };
    let mut extensions = Vec::new();
    if flags & FLAG_START != 0 {
        let Some(ext_len) = r.u32() else {
            return Ok(None);
        };
        if ext_len > limits.max_extensions {
            return Err(DecodeError::ExtensionsTooLarge);
        }
        let Some(ext) = r.take(ext_len as usize) else {
            return Ok(None);
        };
        extensions = ext.to_vec();
    }
    let Some(len) = r.u64() else { return Ok(None) };
    if len > limits.segment_mru {
        return Err(DecodeError::SegmentTooLarge);
    }
    let Some(data) = usize::try_from(len).ok().and_then(|n| r.take(n)) else {
        return Ok(None);
    };
    Ok(Some(Message::XferSegment { flags, transfer_id, extensions, data: data.to_vec() }))
}
