//! The socket protocol: other domains use the netstack's UDP and TCP through it.
//!
//! The netstack serves it on the endpoint named [`Socket::NAME`](crate::Protocol::NAME) (`"socket"`); clients are
//! told apart by their capability's badge and can only use their own sockets. Data never
//! travels in messages: each client shares a region with the netstack (the netstack maps it
//! as `socket-buffer.<badge>`, the badge in decimal), and requests name a byte `offset` and
//! `length` (or `capacity`) in it. The netstack checks both against the region's size and
//! answers [`Refusal::OutsideBuffer`] otherwise.
//!
//! No call blocks the netstack: an operation that cannot proceed now answers
//! [`Response::WouldBlock`], and the netstack then signals the client's notification (its
//! signal capability `socket-wake.<badge>`) once that socket can do what was asked (data or
//! a connection to take, or room to send again), so a client waits on its notification
//! instead of spinning. One signal per `WouldBlock`: after a signal the client asks again.

use serde::{Deserialize, Serialize};

/// A client's handle for one of its sockets (unique in the netstack; never reused while
/// the netstack runs).
pub type SocketId = u32;

/// An IPv4 address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    /// The address, most significant byte first (10.0.2.2 is `[10, 0, 2, 2]`).
    pub address: [u8; 4],
    /// The port.
    pub port: u16,
}

impl core::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d] = self.address;
        write!(f, "{a}.{b}.{c}.{d}:{}", self.port)
    }
}

/// A request to the netstack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// A UDP socket bound to local `port` (non-zero). Answer: [`Response::Socket`].
    UdpBind {
        /// Local port.
        port: u16,
    },
    /// Send the `length` bytes at `offset` in the buffer as one datagram to `to`. Answer:
    /// [`Response::Sent`] (all of them), or [`Response::WouldBlock`] while the socket's send
    /// queue is full.
    UdpSend {
        /// The UDP socket.
        socket: SocketId,
        /// Where the datagram goes.
        to: Endpoint,
        /// Start of the payload in the buffer.
        offset: u32,
        /// Payload length.
        length: u32,
    },
    /// Take the oldest datagram into the buffer at `offset` (at most `capacity` bytes).
    /// Answer: [`Response::Datagram`]; [`Response::WouldBlock`] when none is queued;
    /// [`Refusal::BufferTooSmall`] (the datagram stays queued) when it is longer than
    /// `capacity`.
    UdpReceive {
        /// The UDP socket.
        socket: SocketId,
        /// Where the payload goes in the buffer.
        offset: u32,
        /// Room there.
        capacity: u32,
    },
    /// Listen on TCP `port` (non-zero) with `backlog` (1..=[`MAX_BACKLOG`]) connections
    /// that may be waiting to be accepted; each counts as one of the client's sockets.
    /// Answer: [`Response::Socket`] (the listener).
    TcpListen {
        /// Local port.
        port: u16,
        /// Connections that can wait for [`Request::TcpAccept`].
        backlog: u8,
    },
    /// Take an established connection from a listener. Answer: [`Response::Accepted`]
    /// (the connection is a new socket; the listener listens again), or
    /// [`Response::WouldBlock`].
    TcpAccept {
        /// The listener.
        listener: SocketId,
    },
    /// Open a TCP connection to `to` (from an ephemeral local port). Answer:
    /// [`Response::Socket`] at once; the connection is established when
    /// [`Request::TcpSend`] stops answering `WouldBlock` (or see [`Request::TcpState`]).
    TcpConnect {
        /// The peer.
        to: Endpoint,
    },
    /// Queue up to `length` bytes at `offset` in the buffer for sending. Answer:
    /// [`Response::Sent`] (possibly fewer bytes than asked), [`Response::WouldBlock`] (the
    /// send queue is full, or the connection is still being opened), or
    /// [`Refusal::NotConnected`] once the connection can no longer send.
    TcpSend {
        /// The connection.
        socket: SocketId,
        /// Start of the data in the buffer.
        offset: u32,
        /// Bytes to send.
        length: u32,
    },
    /// Take up to `capacity` received bytes into the buffer at `offset`. Answer:
    /// [`Response::Received`], [`Response::WouldBlock`], or [`Response::Finished`] once the
    /// peer has closed (or the connection is gone) and everything was taken.
    TcpReceive {
        /// The connection.
        socket: SocketId,
        /// Where the data goes in the buffer.
        offset: u32,
        /// Room there.
        capacity: u32,
    },
    /// The state of a TCP socket. Answer: [`Response::State`].
    TcpState {
        /// The socket (connection or listener).
        socket: SocketId,
    },
    /// Close a socket: a UDP socket or listener goes at once; a TCP connection is closed
    /// gracefully (what was queued is still sent) and stops counting against the client's
    /// limit once it is gone. The id is invalid afterwards. Answer: [`Response::Closed`].
    Close {
        /// The socket.
        socket: SocketId,
    },
    /// Close every socket of this client, as [`Request::Close`] would (a client starting
    /// afresh drops what an earlier generation of it left: the badge is the same). Answer:
    /// [`Response::Closed`].
    CloseAll,
}

/// Most connections a listener keeps waiting for [`Request::TcpAccept`].
pub const MAX_BACKLOG: u8 = 4;

/// The netstack's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A new socket.
    Socket(SocketId),
    /// This many bytes were queued for sending.
    Sent {
        /// Bytes queued.
        bytes: u32,
    },
    /// A datagram of `length` bytes is now in the buffer at the requested offset.
    Datagram {
        /// Payload length.
        length: u32,
        /// Its sender.
        from: Endpoint,
    },
    /// This many bytes are now in the buffer at the requested offset (at least one).
    Received {
        /// Bytes received.
        bytes: u32,
    },
    /// A connection taken from a listener.
    Accepted {
        /// The connection's socket.
        socket: SocketId,
        /// The peer.
        from: Endpoint,
    },
    /// A TCP socket's state.
    State {
        /// The state.
        state: TcpState,
        /// The local port.
        local_port: u16,
        /// The peer, when connected.
        remote: Option<Endpoint>,
    },
    /// The peer closed the connection (or it is gone) and all its data was received.
    Finished,
    /// The socket was closed.
    Closed,
    /// Nothing can be done now; the client's notification is signalled when it can.
    WouldBlock,
    /// The request was not carried out.
    Refused(Refusal),
}

/// The states of a TCP socket (RFC 793).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum TcpState {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

/// Why the netstack refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The description shares no buffer region with this client (`socket-buffer.<badge>`).
    NoBuffer,
    /// `offset + length` lies outside the buffer of `size` bytes.
    OutsideBuffer {
        /// The requested offset.
        offset: u32,
        /// The requested length or capacity.
        length: u32,
        /// The buffer's size.
        size: u32,
    },
    /// No socket of this client has that id.
    UnknownSocket,
    /// The socket is of another kind (a UDP request on a TCP socket, a send on a listener…).
    WrongKind,
    /// The client already has `limit` sockets (closing connections included).
    TooManySockets {
        /// Sockets one client may have.
        limit: u32,
    },
    /// The netstack has no room for more sockets of any client.
    NetstackFull,
    /// Port 0, or a backlog outside 1..=[`MAX_BACKLOG`].
    InvalidArgument,
    /// Another socket (or one of the netstack's own services) uses that port.
    PortInUse,
    /// The netstack has no IPv4 address yet (DHCP has not answered).
    NoAddress,
    /// The peer's address or port is unusable (unspecified, or port 0).
    Unaddressable,
    /// The datagram is longer than a socket's send queue can ever hold (`limit` bytes).
    TooLarge {
        /// Largest datagram.
        limit: u32,
    },
    /// The datagram waiting is `needed` bytes long, more than the capacity given.
    BufferTooSmall {
        /// Its length.
        needed: u32,
    },
    /// The connection is not (or no longer) able to send.
    NotConnected,
}

/// The socket protocol.
pub struct Socket;

impl crate::Protocol for Socket {
    const NAME: &'static str = "socket";
    type Request = Request;
    type Response = Response;
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::{MESSAGE, PAYLOAD_WORDS, decode, encode};
    use proptest::prelude::*;

    fn round_trip<T: Serialize + serde::de::DeserializeOwned + PartialEq + core::fmt::Debug>(value: T) {
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(&value, &mut words).expect("fits one message");
        assert_eq!(decode::<T>(MESSAGE, &words[..length]), Ok(value));
    }

    #[test]
    fn every_request_and_answer_round_trips() {
        let to = Endpoint { address: [10, 0, 2, 2], port: u16::MAX };
        for request in [
            Request::UdpBind { port: 5000 },
            Request::UdpSend { socket: u32::MAX, to, offset: u32::MAX, length: u32::MAX },
            Request::UdpReceive { socket: 1, offset: 0, capacity: 2048 },
            Request::TcpListen { port: 7070, backlog: MAX_BACKLOG },
            Request::TcpAccept { listener: 3 },
            Request::TcpConnect { to },
            Request::TcpSend { socket: 4, offset: 8, length: 9 },
            Request::TcpReceive { socket: 4, offset: 8, capacity: 9 },
            Request::TcpState { socket: 4 },
            Request::Close { socket: 4 },
            Request::CloseAll,
        ] {
            round_trip(request);
        }
        for response in [
            Response::Socket(7),
            Response::Sent { bytes: 3 },
            Response::Datagram { length: 12, from: to },
            Response::Received { bytes: 1 },
            Response::Accepted { socket: 9, from: to },
            Response::State { state: TcpState::CloseWait, local_port: 7070, remote: Some(to) },
            Response::State { state: TcpState::Listen, local_port: 7070, remote: None },
            Response::Finished,
            Response::Closed,
            Response::WouldBlock,
            Response::Refused(Refusal::OutsideBuffer { offset: u32::MAX, length: u32::MAX, size: u32::MAX }),
            Response::Refused(Refusal::TooManySockets { limit: 8 }),
            Response::Refused(Refusal::BufferTooSmall { needed: 1500 }),
        ] {
            round_trip(response);
        }
    }

    #[test]
    fn endpoints_print_as_address_and_port() {
        assert_eq!(std::format!("{}", Endpoint { address: [10, 0, 2, 2], port: 41286 }), "10.0.2.2:41286");
    }

    proptest! {
        /// Any words decode to a request or an error, never a panic.
        #[test]
        fn arbitrary_words_never_panic(words in proptest::collection::vec(any::<u64>(), 0..8)) {
            let _ = decode::<Request>(MESSAGE, &words);
            let _ = decode::<Response>(MESSAGE, &words);
        }

        /// Sends with any numbers round-trip.
        #[test]
        fn sends_round_trip(socket in any::<u32>(), address in any::<[u8; 4]>(), port in any::<u16>(), offset in any::<u32>(), length in any::<u32>()) {
            let request = Request::UdpSend { socket, to: Endpoint { address, port }, offset, length };
            let mut words = [0; PAYLOAD_WORDS + 1];
            let used = encode(&request, &mut words).unwrap();
            prop_assert_eq!(decode::<Request>(MESSAGE, &words[..used]), Ok(request));
        }
    }
}
