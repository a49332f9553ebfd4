//! The server side of the socket protocol (`tileos_protocol::socket`): the sockets other
//! domains own in the netstack's `smoltcp` socket set, who owns which, and what each
//! request does to them.
//!
//! [`SocketServer::handle`] answers one request of the client with a given badge, with
//! that client's shared buffer (if the description grants one); it never blocks: what
//! cannot be done now answers `WouldBlock` and remembers what the client waits for.
//! [`SocketServer::maintain`], called after every `smoltcp` poll, re-arms listeners,
//! frees closed connections and returns the badges of the clients whose wait is over
//! (the netstack signals their notifications).
//!
//! Limits: [`Limits::per_client`] sockets per client (a listener counts once per backlog
//! slot; a connection being closed counts until it is gone) and [`Limits::total`] for all
//! clients together. The netstack's own ports are reserved.

use alloc::vec;
use alloc::vec::Vec;
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::{tcp, udp};
use smoltcp::wire::{IpAddress, IpEndpoint};
use tileos_mmio::Memory;
use tileos_protocol::socket::{Endpoint, MAX_BACKLOG, Refusal, Request, Response, SocketId, TcpState};

/// Bytes of each TCP socket's receive and transmit buffers.
const TCP_BUFFER_BYTES: usize = 4096;
/// Payload bytes of each UDP socket's receive and transmit queues.
const UDP_BUFFER_BYTES: usize = 4096;
/// Datagrams each UDP queue holds.
const UDP_DATAGRAMS: usize = 8;
/// First local port [`Request::TcpConnect`] takes (the IANA dynamic range).
const EPHEMERAL_FIRST: u16 = 49152;

/// How many sockets clients may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Sockets one client may have.
    pub per_client: usize,
    /// Sockets all clients together may have.
    pub total: usize,
}

impl Default for Limits {
    /// 8 per client, 16 in all (4 KiB buffers each way: at most 128 KiB of heap).
    fn default() -> Limits {
        Limits { per_client: 8, total: 16 }
    }
}

/// A client's buffer: the region it shares with the netstack, and its size in bytes.
pub struct Buffer<'a, M: Memory> {
    /// The region.
    pub memory: &'a M,
    /// Its size.
    pub size: u32,
}

impl<M: Memory> Buffer<'_, M> {
    /// `offset..offset + length` if it lies inside the buffer.
    fn range(&self, offset: u32, length: u32) -> Result<usize, Refusal> {
        if u64::from(offset) + u64::from(length) <= u64::from(self.size) {
            Ok(offset as usize)
        } else {
            Err(Refusal::OutsideBuffer { offset, length, size: self.size })
        }
    }
}

/// What a socket is.
enum Kind {
    /// A bound UDP socket.
    Udp { handle: SocketHandle, port: u16 },
    /// A TCP listener: `backlog` sockets listening on `port` (or holding a connection not
    /// yet accepted).
    Listener { port: u16, backlog: Vec<SocketHandle> },
    /// A TCP connection (accepted or opened).
    Connection { handle: SocketHandle },
}

/// One client socket.
struct Entry {
    id: SocketId,
    owner: u64,
    kind: Kind,
    /// The client was answered `WouldBlock` for a receive or accept.
    wants_read: bool,
    /// The client was answered `WouldBlock` for a send.
    wants_write: bool,
}

impl Entry {
    /// Sockets of the socket set this entry holds.
    fn weight(&self) -> usize {
        match &self.kind {
            Kind::Listener { backlog, .. } => backlog.len(),
            _ => 1,
        }
    }
}

/// The client sockets and their owners.
pub struct SocketServer {
    entries: Vec<Entry>,
    /// Connections closed by their client, still finishing (owner, socket).
    closing: Vec<(u64, SocketHandle)>,
    limits: Limits,
    /// TCP ports of the netstack's own services.
    reserved_tcp: Vec<u16>,
    /// UDP ports of the netstack's own services (and DHCP's client port).
    reserved_udp: Vec<u16>,
    next_id: SocketId,
    next_port: u16,
}

/// The protocol's view of a `smoltcp` TCP state.
fn state_of(state: tcp::State) -> TcpState {
    match state {
        tcp::State::Closed => TcpState::Closed,
        tcp::State::Listen => TcpState::Listen,
        tcp::State::SynSent => TcpState::SynSent,
        tcp::State::SynReceived => TcpState::SynReceived,
        tcp::State::Established => TcpState::Established,
        tcp::State::FinWait1 => TcpState::FinWait1,
        tcp::State::FinWait2 => TcpState::FinWait2,
        tcp::State::CloseWait => TcpState::CloseWait,
        tcp::State::Closing => TcpState::Closing,
        tcp::State::LastAck => TcpState::LastAck,
        tcp::State::TimeWait => TcpState::TimeWait,
    }
}

/// The protocol's form of an IPv4 endpoint.
fn endpoint_of(endpoint: IpEndpoint) -> Endpoint {
    let IpAddress::Ipv4(address) = endpoint.addr;
    Endpoint { address: address.octets(), port: endpoint.port }
}

/// `smoltcp`'s form of a protocol endpoint.
fn ip_endpoint(endpoint: Endpoint) -> IpEndpoint {
    let [a, b, c, d] = endpoint.address;
    IpEndpoint::new(IpAddress::v4(a, b, c, d), endpoint.port)
}

/// Whether a connection is still being opened (neither side can send or receive yet).
fn opening(socket: &tcp::Socket<'_>) -> bool {
    matches!(socket.state(), tcp::State::SynSent | tcp::State::SynReceived)
}

/// Whether a listener's backlog socket holds a connection ready to be accepted.
fn acceptable(socket: &tcp::Socket<'_>) -> bool {
    !matches!(socket.state(), tcp::State::Listen | tcp::State::SynReceived | tcp::State::Closed)
}

/// A fresh TCP socket with the client buffers.
fn new_tcp() -> tcp::Socket<'static> {
    tcp::Socket::new(tcp::SocketBuffer::new(vec![0; TCP_BUFFER_BYTES]), tcp::SocketBuffer::new(vec![0; TCP_BUFFER_BYTES]))
}

impl SocketServer {
    /// A server with no sockets; `reserved_tcp` and `reserved_udp` are the ports the
    /// netstack's own services use (no client may bind or listen on them).
    pub fn new(limits: Limits, reserved_tcp: &[u16], reserved_udp: &[u16]) -> SocketServer {
        SocketServer {
            entries: Vec::new(),
            closing: Vec::new(),
            limits,
            reserved_tcp: reserved_tcp.to_vec(),
            reserved_udp: reserved_udp.to_vec(),
            next_id: 1,
            next_port: EPHEMERAL_FIRST,
        }
    }

    /// Sockets `owner` holds (closing connections included).
    pub fn sockets_of(&self, owner: u64) -> usize {
        self.entries.iter().filter(|entry| entry.owner == owner).map(Entry::weight).sum::<usize>()
            + self.closing.iter().filter(|(closing, _)| *closing == owner).count()
    }

    /// Sockets all clients hold.
    pub fn total(&self) -> usize {
        self.entries.iter().map(Entry::weight).sum::<usize>() + self.closing.len()
    }

    /// Refuses `more` new sockets for `owner` if a limit would be passed.
    fn room(&self, owner: u64, more: usize) -> Result<(), Refusal> {
        if self.sockets_of(owner) + more > self.limits.per_client {
            return Err(Refusal::TooManySockets { limit: self.limits.per_client as u32 });
        }
        if self.total() + more > self.limits.total {
            return Err(Refusal::NetstackFull);
        }
        Ok(())
    }

    /// A new socket id.
    fn id(&mut self) -> SocketId {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    /// The entry `id` if `owner` owns it.
    fn entry(&mut self, owner: u64, id: SocketId) -> Result<&mut Entry, Refusal> {
        self.entries.iter_mut().find(|entry| entry.id == id && entry.owner == owner).ok_or(Refusal::UnknownSocket)
    }

    /// Whether a client TCP socket (listener or connection) uses local `port`.
    fn tcp_port_used(&self, port: u16, sockets: &SocketSet<'_>) -> bool {
        self.reserved_tcp.contains(&port)
            || self.entries.iter().any(|entry| match &entry.kind {
                Kind::Listener { port: used, .. } => *used == port,
                Kind::Connection { handle } => sockets.get::<tcp::Socket>(*handle).local_endpoint().is_some_and(|local| local.port == port),
                Kind::Udp { .. } => false,
            })
    }

    /// Answers `request` of the client with `badge`, whose shared buffer is `buffer`.
    pub fn handle<M: Memory>(
        &mut self,
        badge: u64,
        request: Request,
        buffer: Option<Buffer<'_, M>>,
        iface: &mut Interface,
        sockets: &mut SocketSet<'static>,
    ) -> Response {
        match self.serve(badge, request, buffer, iface, sockets) {
            Ok(response) => response,
            Err(refusal) => Response::Refused(refusal),
        }
    }

    fn serve<M: Memory>(
        &mut self,
        badge: u64,
        request: Request,
        buffer: Option<Buffer<'_, M>>,
        iface: &mut Interface,
        sockets: &mut SocketSet<'static>,
    ) -> Result<Response, Refusal> {
        match request {
            Request::UdpBind { port } => {
                if port == 0 {
                    return Err(Refusal::InvalidArgument);
                }
                let used = self.entries.iter().any(|entry| matches!(entry.kind, Kind::Udp { port: used, .. } if used == port));
                if used || self.reserved_udp.contains(&port) {
                    return Err(Refusal::PortInUse);
                }
                self.room(badge, 1)?;
                let mut socket = udp::Socket::new(
                    udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_DATAGRAMS], vec![0; UDP_BUFFER_BYTES]),
                    udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_DATAGRAMS], vec![0; UDP_BUFFER_BYTES]),
                );
                socket.bind(port).map_err(|_| Refusal::InvalidArgument)?;
                let handle = sockets.add(socket);
                Ok(self.add(badge, Kind::Udp { handle, port }))
            }
            Request::UdpSend { socket, to, offset, length } => {
                let buffer = buffer.ok_or(Refusal::NoBuffer)?;
                let start = buffer.range(offset, length)?;
                let no_address = iface.ipv4_addr().is_none();
                let entry = self.entry(badge, socket)?;
                let Kind::Udp { handle, .. } = entry.kind else { return Err(Refusal::WrongKind) };
                let udp = sockets.get_mut::<udp::Socket>(handle);
                if length as usize > udp.payload_send_capacity() {
                    return Err(Refusal::TooLarge { limit: udp.payload_send_capacity() as u32 });
                }
                if to.port == 0 || to.address == [0; 4] {
                    return Err(Refusal::Unaddressable);
                }
                if no_address {
                    return Err(Refusal::NoAddress);
                }
                match udp.send(length as usize, ip_endpoint(to)) {
                    Ok(payload) => {
                        buffer.memory.read_bytes(start, payload);
                        Ok(Response::Sent { bytes: length })
                    }
                    Err(udp::SendError::BufferFull) => {
                        entry.wants_write = true;
                        Ok(Response::WouldBlock)
                    }
                    Err(udp::SendError::Unaddressable) => Err(Refusal::Unaddressable),
                }
            }
            Request::UdpReceive { socket, offset, capacity } => {
                let buffer = buffer.ok_or(Refusal::NoBuffer)?;
                let start = buffer.range(offset, capacity)?;
                let entry = self.entry(badge, socket)?;
                let Kind::Udp { handle, .. } = entry.kind else { return Err(Refusal::WrongKind) };
                let udp = sockets.get_mut::<udp::Socket>(handle);
                let Ok((payload, _)) = udp.peek() else {
                    entry.wants_read = true;
                    return Ok(Response::WouldBlock);
                };
                if payload.len() > capacity as usize {
                    return Err(Refusal::BufferTooSmall { needed: payload.len() as u32 });
                }
                let (payload, meta) = udp.recv().expect("a datagram was just peeked");
                buffer.memory.write_bytes(start, payload);
                Ok(Response::Datagram { length: payload.len() as u32, from: endpoint_of(meta.endpoint) })
            }
            Request::TcpListen { port, backlog } => {
                if port == 0 || backlog == 0 || backlog > MAX_BACKLOG {
                    return Err(Refusal::InvalidArgument);
                }
                if self.tcp_port_used(port, sockets) {
                    return Err(Refusal::PortInUse);
                }
                self.room(badge, usize::from(backlog))?;
                let backlog = (0..backlog)
                    .map(|_| {
                        let mut socket = new_tcp();
                        socket.listen(port).expect("a fresh socket listens on a non-zero port");
                        sockets.add(socket)
                    })
                    .collect();
                Ok(self.add(badge, Kind::Listener { port, backlog }))
            }
            Request::TcpAccept { listener } => {
                let room = self.room(badge, 1);
                let entry = self.entry(badge, listener)?;
                let Kind::Listener { port, backlog } = &mut entry.kind else { return Err(Refusal::WrongKind) };
                let port = *port;
                let Some(slot) = backlog.iter().position(|&handle| acceptable(sockets.get::<tcp::Socket>(handle))) else {
                    entry.wants_read = true;
                    return Ok(Response::WouldBlock);
                };
                room?;
                let mut fresh = new_tcp();
                fresh.listen(port).expect("a fresh socket listens on a non-zero port");
                let connection = core::mem::replace(&mut backlog[slot], sockets.add(fresh));
                let from =
                    sockets.get::<tcp::Socket>(connection).remote_endpoint().map_or(Endpoint { address: [0; 4], port: 0 }, endpoint_of);
                let Response::Socket(socket) = self.add(badge, Kind::Connection { handle: connection }) else {
                    unreachable!("add answers Socket")
                };
                Ok(Response::Accepted { socket, from })
            }
            Request::TcpConnect { to } => {
                if to.port == 0 || to.address == [0; 4] {
                    return Err(Refusal::Unaddressable);
                }
                if iface.ipv4_addr().is_none() {
                    return Err(Refusal::NoAddress);
                }
                self.room(badge, 1)?;
                let local = self.ephemeral_port(sockets);
                let mut socket = new_tcp();
                socket.connect(iface.context(), ip_endpoint(to), local).map_err(|_| Refusal::Unaddressable)?;
                let handle = sockets.add(socket);
                Ok(self.add(badge, Kind::Connection { handle }))
            }
            Request::TcpSend { socket, offset, length } => {
                let buffer = buffer.ok_or(Refusal::NoBuffer)?;
                let start = buffer.range(offset, length)?;
                let entry = self.entry(badge, socket)?;
                let Kind::Connection { handle } = entry.kind else { return Err(Refusal::WrongKind) };
                let tcp = sockets.get_mut::<tcp::Socket>(handle);
                if opening(tcp) {
                    entry.wants_write = true;
                    return Ok(Response::WouldBlock);
                }
                if !tcp.may_send() {
                    return Err(Refusal::NotConnected);
                }
                let mut sent = 0usize;
                // The queue is a ring: its free space may come in two pieces.
                for _ in 0..2 {
                    let want = length as usize - sent;
                    if want == 0 {
                        break;
                    }
                    let piece = tcp
                        .send(|room| {
                            let piece = room.len().min(want);
                            buffer.memory.read_bytes(start + sent, &mut room[..piece]);
                            (piece, piece)
                        })
                        .map_err(|_| Refusal::NotConnected)?;
                    if piece == 0 {
                        break;
                    }
                    sent += piece;
                }
                if sent == 0 && length != 0 {
                    entry.wants_write = true;
                    return Ok(Response::WouldBlock);
                }
                Ok(Response::Sent { bytes: sent as u32 })
            }
            Request::TcpReceive { socket, offset, capacity } => {
                let buffer = buffer.ok_or(Refusal::NoBuffer)?;
                let start = buffer.range(offset, capacity)?;
                let entry = self.entry(badge, socket)?;
                let Kind::Connection { handle } = entry.kind else { return Err(Refusal::WrongKind) };
                let tcp = sockets.get_mut::<tcp::Socket>(handle);
                if !tcp.can_recv() {
                    if opening(tcp) || tcp.may_recv() {
                        entry.wants_read = true;
                        return Ok(Response::WouldBlock);
                    }
                    return Ok(Response::Finished);
                }
                let mut received = 0usize;
                for _ in 0..2 {
                    let room = capacity as usize - received;
                    if room == 0 || !tcp.can_recv() {
                        break;
                    }
                    let Ok(piece) = tcp.recv(|data| {
                        let piece = data.len().min(room);
                        buffer.memory.write_bytes(start + received, &data[..piece]);
                        (piece, piece)
                    }) else {
                        break;
                    };
                    received += piece;
                }
                if received == 0 && capacity != 0 {
                    // Data is waiting but no room was offered.
                    return Err(Refusal::BufferTooSmall { needed: tcp.recv_queue() as u32 });
                }
                Ok(Response::Received { bytes: received as u32 })
            }
            Request::TcpState { socket } => {
                let entry = self.entry(badge, socket)?;
                match &entry.kind {
                    Kind::Listener { port, .. } => Ok(Response::State { state: TcpState::Listen, local_port: *port, remote: None }),
                    Kind::Connection { handle } => {
                        let tcp = sockets.get::<tcp::Socket>(*handle);
                        Ok(Response::State {
                            state: state_of(tcp.state()),
                            local_port: tcp.local_endpoint().map_or(0, |local| local.port),
                            remote: tcp.remote_endpoint().map(endpoint_of),
                        })
                    }
                    Kind::Udp { .. } => Err(Refusal::WrongKind),
                }
            }
            Request::Close { socket } => {
                let index =
                    self.entries.iter().position(|entry| entry.id == socket && entry.owner == badge).ok_or(Refusal::UnknownSocket)?;
                let entry = self.entries.swap_remove(index);
                self.close(entry, sockets);
                Ok(Response::Closed)
            }
            Request::CloseAll => {
                let (mine, others) = core::mem::take(&mut self.entries).into_iter().partition(|entry| entry.owner == badge);
                self.entries = others;
                for entry in mine {
                    self.close(entry, sockets);
                }
                Ok(Response::Closed)
            }
        }
    }

    /// Records a new socket of `owner`; answers its id.
    fn add(&mut self, owner: u64, kind: Kind) -> Response {
        let id = self.id();
        self.entries.push(Entry { id, owner, kind, wants_read: false, wants_write: false });
        Response::Socket(id)
    }

    /// A local port for an outgoing connection that no client socket uses.
    fn ephemeral_port(&mut self, sockets: &SocketSet<'_>) -> u16 {
        loop {
            let port = self.next_port;
            self.next_port = if port == u16::MAX { EPHEMERAL_FIRST } else { port + 1 };
            if !self.tcp_port_used(port, sockets) {
                return port;
            }
        }
    }

    /// Closes a removed entry's sockets: UDP sockets and listening sockets go at once;
    /// connections (accepted or not) are closed and kept until they are gone.
    fn close(&mut self, entry: Entry, sockets: &mut SocketSet<'static>) {
        match entry.kind {
            Kind::Udp { handle, .. } => {
                sockets.remove(handle);
            }
            Kind::Listener { backlog, .. } => {
                for handle in backlog {
                    let socket = sockets.get_mut::<tcp::Socket>(handle);
                    if socket.state() == tcp::State::Listen {
                        sockets.remove(handle);
                    } else {
                        // A connection nobody accepted: reset it, free it once that is sent.
                        socket.abort();
                        self.closing.push((entry.owner, handle));
                    }
                }
            }
            Kind::Connection { handle } => {
                sockets.get_mut::<tcp::Socket>(handle).close();
                self.closing.push((entry.owner, handle));
            }
        }
    }

    /// After each `smoltcp` poll: frees closed connections (cutting TIME-WAIT short), puts
    /// backlog sockets whose connection failed back to listening, and returns the badges
    /// (each once) of the clients to signal: those with a socket that can now do what it
    /// was answered `WouldBlock` for.
    pub fn maintain(&mut self, sockets: &mut SocketSet<'static>) -> Vec<u64> {
        self.closing.retain(|&(_, handle)| {
            let socket = sockets.get_mut::<tcp::Socket>(handle);
            let gone = matches!(socket.state(), tcp::State::Closed | tcp::State::TimeWait);
            if gone {
                sockets.remove(handle);
            }
            !gone
        });
        let mut ready = Vec::new();
        for entry in &mut self.entries {
            let (readable, writable) = match &entry.kind {
                Kind::Udp { handle, .. } => {
                    let udp = sockets.get::<udp::Socket>(*handle);
                    (udp.can_recv(), udp.can_send())
                }
                Kind::Listener { port, backlog } => {
                    for &handle in backlog.iter() {
                        let socket = sockets.get_mut::<tcp::Socket>(handle);
                        if socket.state() == tcp::State::Closed {
                            socket.listen(*port).expect("a closed socket listens on a non-zero port");
                        }
                    }
                    (backlog.iter().any(|&handle| acceptable(sockets.get::<tcp::Socket>(handle))), false)
                }
                Kind::Connection { handle } => {
                    let tcp = sockets.get::<tcp::Socket>(*handle);
                    let settled = !opening(tcp);
                    (tcp.can_recv() || (settled && !tcp.may_recv()), settled && (tcp.can_send() || !tcp.may_send()))
                }
            };
            let woken = (entry.wants_read && readable) || (entry.wants_write && writable);
            if entry.wants_read && readable {
                entry.wants_read = false;
            }
            if entry.wants_write && writable {
                entry.wants_write = false;
            }
            if woken && !ready.contains(&entry.owner) {
                ready.push(entry.owner);
            }
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::testnet::{HOST_IP, Net, arp_request, parse_tcp_to, parse_udp, tcp_segment, udp_datagram};
    use smoltcp::wire::{TcpControl, TcpSeqNumber};
    use std::vec::Vec as StdVec;
    use tileos_mmio::VecMemory;

    const ALICE: u64 = 0x10;
    const BOB: u64 = 0x11;
    const HOST: Endpoint = Endpoint { address: [10, 0, 2, 2], port: 40000 };
    const SIZE: u32 = 0x2000;

    /// The stack, the server and one buffer per client.
    struct Bench {
        net: Net,
        server: SocketServer,
        alice: VecMemory,
        bob: VecMemory,
    }

    impl Bench {
        fn new() -> Bench {
            let mut net = Net::new();
            net.deliver(arp_request());
            net.poll();
            assert_eq!(net.sent().len(), 1, "the ARP reply");
            Bench {
                net,
                server: SocketServer::new(Limits::default(), &[8080, 9], &[7, 68]),
                alice: VecMemory::new(SIZE as usize),
                bob: VecMemory::new(SIZE as usize),
            }
        }

        fn call(&mut self, badge: u64, request: Request) -> Response {
            let memory = if badge == ALICE { &self.alice } else { &self.bob };
            self.server.handle(badge, request, Some(Buffer { memory, size: SIZE }), &mut self.net.iface, &mut self.net.sockets)
        }

        /// Delivers `frame` (if any), polls twice; returns what the tile sent and whom
        /// the server would signal.
        fn exchange(&mut self, frame: Option<StdVec<u8>>) -> (StdVec<StdVec<u8>>, StdVec<u64>) {
            if let Some(frame) = frame {
                self.net.deliver(frame);
            }
            let mut ready = StdVec::new();
            for _ in 0..2 {
                self.net.poll();
                ready.extend(self.server.maintain(&mut self.net.sockets));
            }
            (self.net.sent(), ready)
        }

        fn socket(&mut self, badge: u64, request: Request) -> SocketId {
            match self.call(badge, request) {
                Response::Socket(id) => id,
                other => panic!("{request:?} answered {other:?}"),
            }
        }

        fn write(&self, offset: usize, data: &[u8]) {
            self.alice.write_bytes(offset, data);
        }

        fn read(&self, offset: usize, length: usize) -> StdVec<u8> {
            let mut out = std::vec![0; length];
            self.alice.read_bytes(offset, &mut out);
            out
        }
    }

    #[test]
    fn udp_datagram_in_signal_receive_and_answer() {
        let mut bench = Bench::new();
        let udp = bench.socket(ALICE, Request::UdpBind { port: 5000 });
        assert_eq!(bench.call(ALICE, Request::UdpReceive { socket: udp, offset: 0, capacity: 100 }), Response::WouldBlock);
        assert_eq!(bench.exchange(None).1, [] as [u64; 0], "nothing arrived: nobody is signalled");
        let (_, ready) = bench.exchange(Some(udp_datagram(33000, 5000, b"ping")));
        assert_eq!(ready, [ALICE], "the waiting client is signalled once");
        assert_eq!(bench.exchange(None).1, [] as [u64; 0], "and only once");
        let from = Endpoint { address: [10, 0, 2, 2], port: 33000 };
        assert_eq!(
            bench.call(ALICE, Request::UdpReceive { socket: udp, offset: 16, capacity: 100 }),
            Response::Datagram { length: 4, from }
        );
        assert_eq!(bench.read(16, 4), b"ping");
        bench.write(200, b"pong!");
        assert_eq!(bench.call(ALICE, Request::UdpSend { socket: udp, to: from, offset: 200, length: 5 }), Response::Sent { bytes: 5 });
        let (sent, _) = bench.exchange(None);
        assert_eq!(sent.len(), 1);
        assert_eq!(parse_udp(&sent[0]), (5000, 33000, b"pong!".to_vec()));
    }

    #[test]
    fn a_datagram_longer_than_the_room_offered_stays_queued() {
        let mut bench = Bench::new();
        let udp = bench.socket(ALICE, Request::UdpBind { port: 5000 });
        bench.exchange(Some(udp_datagram(33000, 5000, b"twelve bytes")));
        assert_eq!(
            bench.call(ALICE, Request::UdpReceive { socket: udp, offset: 0, capacity: 11 }),
            Response::Refused(Refusal::BufferTooSmall { needed: 12 })
        );
        assert!(matches!(
            bench.call(ALICE, Request::UdpReceive { socket: udp, offset: 0, capacity: 12 }),
            Response::Datagram { length: 12, .. }
        ));
    }

    #[test]
    fn buffer_bounds_are_checked_precisely() {
        let mut bench = Bench::new();
        let udp = bench.socket(ALICE, Request::UdpBind { port: 5000 });
        let outside = |offset, length| Response::Refused(Refusal::OutsideBuffer { offset, length, size: SIZE });
        assert_eq!(bench.call(ALICE, Request::UdpSend { socket: udp, to: HOST, offset: SIZE - 4, length: 5 }), outside(SIZE - 4, 5));
        assert_eq!(
            bench.call(ALICE, Request::UdpSend { socket: udp, to: HOST, offset: u32::MAX, length: u32::MAX }),
            outside(u32::MAX, u32::MAX)
        );
        assert_eq!(bench.call(ALICE, Request::UdpReceive { socket: udp, offset: 1, capacity: SIZE }), outside(1, SIZE));
        assert_eq!(bench.call(ALICE, Request::TcpSend { socket: udp, offset: SIZE, length: 1 }), outside(SIZE, 1));
        // The last byte is inside.
        bench.write(SIZE as usize - 1, b"!");
        assert_eq!(bench.call(ALICE, Request::UdpSend { socket: udp, to: HOST, offset: SIZE - 1, length: 1 }), Response::Sent { bytes: 1 });
        let no_buffer = bench.server.handle::<VecMemory>(
            ALICE,
            Request::UdpReceive { socket: udp, offset: 0, capacity: 1 },
            None,
            &mut bench.net.iface,
            &mut bench.net.sockets,
        );
        assert_eq!(no_buffer, Response::Refused(Refusal::NoBuffer));
        assert_eq!(
            bench.call(ALICE, Request::UdpSend { socket: udp, to: Endpoint { address: [0; 4], port: 1 }, offset: 0, length: 1 }),
            Response::Refused(Refusal::Unaddressable)
        );
        assert_eq!(
            bench.call(ALICE, Request::UdpSend { socket: udp, to: HOST, offset: 0, length: UDP_BUFFER_BYTES as u32 + 1 }),
            Response::Refused(Refusal::TooLarge { limit: UDP_BUFFER_BYTES as u32 })
        );
    }

    #[test]
    fn a_client_can_only_use_its_own_sockets() {
        let mut bench = Bench::new();
        let udp = bench.socket(ALICE, Request::UdpBind { port: 5000 });
        let listener = bench.socket(ALICE, Request::TcpListen { port: 7070, backlog: 1 });
        for request in [
            Request::UdpReceive { socket: udp, offset: 0, capacity: 1 },
            Request::UdpSend { socket: udp, to: HOST, offset: 0, length: 1 },
            Request::TcpAccept { listener },
            Request::TcpState { socket: listener },
            Request::Close { socket: udp },
            Request::Close { socket: 999 },
        ] {
            assert_eq!(bench.call(BOB, request), Response::Refused(Refusal::UnknownSocket), "{request:?}");
        }
        assert_eq!(bench.call(BOB, Request::CloseAll), Response::Closed);
        assert_eq!(bench.server.sockets_of(ALICE), 2, "Bob's CloseAll left Alice's sockets alone");
        // Kinds are checked too.
        assert_eq!(bench.call(ALICE, Request::TcpAccept { listener: udp }), Response::Refused(Refusal::WrongKind));
        assert_eq!(bench.call(ALICE, Request::TcpSend { socket: listener, offset: 0, length: 1 }), Response::Refused(Refusal::WrongKind));
        assert_eq!(
            bench.call(ALICE, Request::UdpReceive { socket: listener, offset: 0, capacity: 1 }),
            Response::Refused(Refusal::WrongKind)
        );
        assert_eq!(bench.call(ALICE, Request::TcpState { socket: udp }), Response::Refused(Refusal::WrongKind));
        assert_eq!(
            bench.call(ALICE, Request::TcpState { socket: listener }),
            Response::State { state: TcpState::Listen, local_port: 7070, remote: None }
        );
        // Closed ids are gone.
        assert_eq!(bench.call(ALICE, Request::Close { socket: udp }), Response::Closed);
        assert_eq!(bench.call(ALICE, Request::Close { socket: udp }), Response::Refused(Refusal::UnknownSocket));
        assert_eq!(bench.call(ALICE, Request::CloseAll), Response::Closed);
        assert_eq!((bench.server.sockets_of(ALICE), bench.server.total(), bench.net.sockets.iter().count()), (0, 0, 0));
    }

    #[test]
    fn ports_and_limits() {
        let mut bench = Bench::new();
        for (request, refusal) in [
            (Request::UdpBind { port: 0 }, Refusal::InvalidArgument),
            (Request::UdpBind { port: 7 }, Refusal::PortInUse),
            (Request::UdpBind { port: 68 }, Refusal::PortInUse),
            (Request::TcpListen { port: 8080, backlog: 1 }, Refusal::PortInUse),
            (Request::TcpListen { port: 0, backlog: 1 }, Refusal::InvalidArgument),
            (Request::TcpListen { port: 7070, backlog: 0 }, Refusal::InvalidArgument),
            (Request::TcpListen { port: 7070, backlog: MAX_BACKLOG + 1 }, Refusal::InvalidArgument),
            (Request::TcpConnect { to: Endpoint { address: [10, 0, 2, 2], port: 0 } }, Refusal::Unaddressable),
        ] {
            assert_eq!(bench.call(ALICE, request), Response::Refused(refusal), "{request:?}");
        }
        bench.socket(ALICE, Request::UdpBind { port: 5000 });
        assert_eq!(bench.call(BOB, Request::UdpBind { port: 5000 }), Response::Refused(Refusal::PortInUse));
        bench.socket(ALICE, Request::TcpListen { port: 7070, backlog: MAX_BACKLOG });
        assert_eq!(bench.call(BOB, Request::TcpListen { port: 7070, backlog: 1 }), Response::Refused(Refusal::PortInUse));
        // 1 + 4 sockets so far; three more fit, the ninth does not.
        for port in 5001..5004 {
            bench.socket(ALICE, Request::UdpBind { port });
        }
        assert_eq!(bench.call(ALICE, Request::UdpBind { port: 5004 }), Response::Refused(Refusal::TooManySockets { limit: 8 }));
        assert_eq!(
            bench.call(ALICE, Request::TcpListen { port: 7071, backlog: 1 }),
            Response::Refused(Refusal::TooManySockets { limit: 8 })
        );
        // Bob has his own 8, but the netstack only 16 in all.
        for port in 6000..6008 {
            bench.socket(BOB, Request::UdpBind { port });
        }
        assert_eq!(bench.call(BOB, Request::UdpBind { port: 6008 }), Response::Refused(Refusal::TooManySockets { limit: 8 }));
        let mut small = SocketServer::new(Limits { per_client: 8, total: 3 }, &[], &[]);
        let memory = VecMemory::new(16);
        for port in 1..=3 {
            assert!(matches!(
                small.handle(
                    BOB,
                    Request::UdpBind { port },
                    Some(Buffer { memory: &memory, size: 16 }),
                    &mut bench.net.iface,
                    &mut bench.net.sockets
                ),
                Response::Socket(_)
            ));
        }
        assert_eq!(
            small.handle(
                ALICE,
                Request::UdpBind { port: 4 },
                Some(Buffer { memory: &memory, size: 16 }),
                &mut bench.net.iface,
                &mut bench.net.sockets
            ),
            Response::Refused(Refusal::NetstackFull)
        );
    }

    /// The host's side of one TCP connection to the tile.
    struct Peer {
        port: u16,
        seq: u32,
        ack: TcpSeqNumber,
    }

    impl Peer {
        /// Opens a connection to tile port `to`: SYN, the tile's SYN-ACK, ACK.
        fn connect(bench: &mut Bench, port: u16, to: u16) -> (Peer, StdVec<u64>) {
            let (sent, _) = bench.exchange(Some(tcp_segment(port, to, TcpControl::Syn, 1000, None, &[])));
            let (control, tile_isn, ack, _, _) = parse_tcp_to(&sent[0]);
            assert_eq!((control, ack), (TcpControl::Syn, Some(TcpSeqNumber(1001))));
            let (_, ready) = bench.exchange(Some(tcp_segment(port, to, TcpControl::None, 1001, Some(tile_isn + 1), &[])));
            (Peer { port, seq: 1001, ack: tile_isn + 1 }, ready)
        }

        /// Sends `data` (with `control`) to tile port `to`; returns the payload the tile
        /// sent back, whether it sent a FIN, and whom the server signals.
        fn send(&mut self, bench: &mut Bench, to: u16, control: TcpControl, data: &[u8]) -> (StdVec<u8>, bool, StdVec<u64>) {
            let (sent, ready) = bench.exchange(Some(tcp_segment(self.port, to, control, self.seq, Some(self.ack), data)));
            self.seq += data.len() as u32 + u32::from(control == TcpControl::Fin);
            let (payload, fin) = self.take(&sent);
            (payload, fin, ready)
        }

        /// Payload and FIN in what the tile sent; acknowledges it in the next segment.
        fn take(&mut self, sent: &[StdVec<u8>]) -> (StdVec<u8>, bool) {
            let mut payload = StdVec::new();
            let mut fin = false;
            for frame in sent {
                let (control, _, _, data, port) = parse_tcp_to(frame);
                assert_eq!(port, self.port);
                self.ack += data.len() + usize::from(control == TcpControl::Fin);
                payload.extend(data);
                fin |= control == TcpControl::Fin;
            }
            (payload, fin)
        }
    }

    #[test]
    fn tcp_listen_accept_receive_answer_and_close() {
        let mut bench = Bench::new();
        let listener = bench.socket(ALICE, Request::TcpListen { port: 7070, backlog: 1 });
        assert_eq!(bench.call(ALICE, Request::TcpAccept { listener }), Response::WouldBlock);
        let (mut peer, ready) = Peer::connect(&mut bench, 40000, 7070);
        assert_eq!(ready, [ALICE], "the connection to accept wakes the client");
        let Response::Accepted { socket, from } = bench.call(ALICE, Request::TcpAccept { listener }) else { panic!("accept") };
        assert_eq!(from, Endpoint { address: HOST_IP.octets(), port: 40000 });
        assert_eq!(bench.server.sockets_of(ALICE), 2, "the listener listens again, the connection is a socket of its own");
        assert_eq!(
            bench.call(ALICE, Request::TcpState { socket }),
            Response::State { state: TcpState::Established, local_port: 7070, remote: Some(from) }
        );
        assert_eq!(bench.call(ALICE, Request::TcpReceive { socket, offset: 0, capacity: 64 }), Response::WouldBlock);
        let (_, _, ready) = peer.send(&mut bench, 7070, TcpControl::Psh, b"hello\n");
        assert_eq!(ready, [ALICE]);
        assert_eq!(bench.call(ALICE, Request::TcpReceive { socket, offset: 0, capacity: 3 }), Response::Received { bytes: 3 });
        assert_eq!(bench.call(ALICE, Request::TcpReceive { socket, offset: 3, capacity: 64 }), Response::Received { bytes: 3 });
        assert_eq!(bench.read(0, 6), b"hello\n");
        bench.write(100, b"you said: hello\n");
        assert_eq!(bench.call(ALICE, Request::TcpSend { socket, offset: 100, length: 16 }), Response::Sent { bytes: 16 });
        let (sent, _) = bench.exchange(None);
        assert_eq!(peer.take(&sent), (b"you said: hello\n".to_vec(), false));
        // The host closes; the client reads the end and closes too.
        assert_eq!(bench.call(ALICE, Request::TcpReceive { socket, offset: 0, capacity: 64 }), Response::WouldBlock);
        let (_, _, ready) = peer.send(&mut bench, 7070, TcpControl::Fin, &[]);
        assert_eq!(ready, [ALICE], "the end of the stream wakes the reader");
        assert_eq!(bench.call(ALICE, Request::TcpReceive { socket, offset: 0, capacity: 64 }), Response::Finished);
        assert_eq!(bench.call(ALICE, Request::Close { socket }), Response::Closed);
        let (sent, _) = bench.exchange(None);
        assert_eq!(peer.take(&sent), (StdVec::new(), true), "the tile's FIN");
        assert_eq!(bench.server.sockets_of(ALICE), 2, "the closing connection still counts");
        peer.send(&mut bench, 7070, TcpControl::None, &[]);
        assert_eq!(bench.server.sockets_of(ALICE), 1, "gone once the host acknowledged the FIN");
        // The listener takes the next connection.
        let (_, ready) = Peer::connect(&mut bench, 40001, 7070);
        assert_eq!(ready, [] as [u64; 0], "nobody asked to be woken");
        assert!(matches!(
            bench.call(ALICE, Request::TcpAccept { listener }),
            Response::Accepted { from: Endpoint { port: 40001, .. }, .. }
        ));
    }

    #[test]
    fn tcp_connect_waits_for_the_handshake() {
        let mut bench = Bench::new();
        let socket = bench.socket(ALICE, Request::TcpConnect { to: Endpoint { address: [10, 0, 2, 2], port: 80 } });
        bench.write(0, b"GET");
        assert_eq!(bench.call(ALICE, Request::TcpSend { socket, offset: 0, length: 3 }), Response::WouldBlock);
        let (sent, _) = bench.exchange(None);
        let (control, isn, _, _, _) = parse_tcp_to(&sent[0]);
        assert_eq!(control, TcpControl::Syn);
        let Response::State { state: TcpState::SynSent, local_port, .. } = bench.call(ALICE, Request::TcpState { socket }) else {
            panic!("state")
        };
        assert!(local_port >= EPHEMERAL_FIRST);
        // The peer's SYN-ACK, from its port 80 to the tile's ephemeral port.
        let (_, ready) = bench.exchange(Some(tcp_segment(80, local_port, TcpControl::Syn, 5000, Some(isn + 1), &[])));
        assert_eq!(ready, [ALICE], "the established connection wakes the sender");
        assert_eq!(bench.call(ALICE, Request::TcpSend { socket, offset: 0, length: 3 }), Response::Sent { bytes: 3 });
    }

    #[test]
    fn a_reset_connection_finishes_and_refuses_sends() {
        let mut bench = Bench::new();
        let listener = bench.socket(ALICE, Request::TcpListen { port: 7070, backlog: 2 });
        let (peer, _) = Peer::connect(&mut bench, 40000, 7070);
        let Response::Accepted { socket, .. } = bench.call(ALICE, Request::TcpAccept { listener }) else { panic!("accept") };
        assert_eq!(bench.call(ALICE, Request::TcpReceive { socket, offset: 0, capacity: 8 }), Response::WouldBlock);
        let (_, ready) = bench.exchange(Some(tcp_segment(40000, 7070, TcpControl::Rst, peer.seq, Some(peer.ack), &[])));
        assert_eq!(ready, [ALICE]);
        assert_eq!(bench.call(ALICE, Request::TcpReceive { socket, offset: 0, capacity: 8 }), Response::Finished);
        assert_eq!(bench.call(ALICE, Request::TcpSend { socket, offset: 0, length: 8 }), Response::Refused(Refusal::NotConnected));
        assert_eq!(
            bench.call(ALICE, Request::TcpState { socket }),
            Response::State { state: TcpState::Closed, local_port: 0, remote: None }
        );
    }
}
