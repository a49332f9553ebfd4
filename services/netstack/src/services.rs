//! The netstack's own services: a UDP echo on port [`ECHO_PORT`] (every datagram goes back
//! to its sender unchanged) and the tile status service on TCP port [`STATUS_PORT`] (one
//! line per connection, then the netstack closes it).

use alloc::vec;
use alloc::vec::Vec;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::{tcp, udp};
use smoltcp::wire::IpEndpoint;

/// UDP echo port.
pub const ECHO_PORT: u16 = 7;
/// TCP port of the status service.
pub const STATUS_PORT: u16 = 8080;
/// Socket buffer bytes per direction.
const BUFFER_BYTES: usize = 4096;
/// Datagrams a UDP buffer holds.
const DATAGRAMS: usize = 8;

/// Something the services did, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A datagram of `bytes` bytes was echoed to `to`.
    Echoed {
        /// Payload length.
        bytes: usize,
        /// The sender, who gets the echo.
        to: IpEndpoint,
    },
    /// The status line went to `to` and the connection is closing.
    StatusServed {
        /// The client.
        to: Option<IpEndpoint>,
    },
}

/// Status sockets listening at once, so that a client arriving while an earlier
/// connection is still closing (FIN-WAIT, TIME-WAIT) finds one listening.
const STATUS_SOCKETS: usize = 4;

/// The sockets of the two services.
pub struct Services {
    udp: SocketHandle,
    /// Status sockets and whether each has sent its line on the current connection.
    tcp: [(SocketHandle, bool); STATUS_SOCKETS],
}

impl Services {
    /// Adds the echo and status sockets to `sockets`, bound and listening.
    pub fn new(sockets: &mut SocketSet<'_>) -> Services {
        let mut echo = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; DATAGRAMS], vec![0; BUFFER_BYTES]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; DATAGRAMS], vec![0; BUFFER_BYTES]),
        );
        echo.bind(ECHO_PORT).expect("a fresh socket binds to a non-zero port");
        let udp = sockets.add(echo);
        let tcp = core::array::from_fn(|_| {
            let status = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; BUFFER_BYTES]), tcp::SocketBuffer::new(vec![0; BUFFER_BYTES]));
            (sockets.add(status), false)
        });
        Services { udp, tcp }
    }

    /// Serves whatever arrived since the last call; `status` is the line (with its newline)
    /// a status client gets. Returns what was done.
    pub fn poll(&mut self, sockets: &mut SocketSet<'_>, status: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        let echo = sockets.get_mut::<udp::Socket>(self.udp);
        while echo.can_send() {
            let Ok((data, meta)) = echo.recv() else { break };
            let copy = data.to_vec();
            if echo.send_slice(&copy, meta.endpoint).is_ok() {
                events.push(Event::Echoed { bytes: copy.len(), to: meta.endpoint });
            }
        }
        for (handle, answered) in &mut self.tcp {
            let socket = sockets.get_mut::<tcp::Socket>(*handle);
            match socket.state() {
                tcp::State::Closed => {
                    socket.listen(STATUS_PORT).expect("a closed socket listens on a non-zero port");
                    *answered = false;
                }
                // The client has closed too; free the socket instead of waiting out
                // TIME-WAIT.
                tcp::State::TimeWait => socket.abort(),
                _ if socket.may_send() && !*answered => {
                    *answered = socket.send_slice(status).is_ok_and(|sent| sent == status.len());
                    if *answered {
                        socket.close();
                        events.push(Event::StatusServed { to: socket.remote_endpoint() });
                    }
                }
                _ => {}
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::testnet::{self, HOST_IP, Net, arp_request, assert_arp_reply, parse_tcp_to, udp_datagram};
    use smoltcp::wire::{TcpControl, TcpSeqNumber};
    use std::vec::Vec as StdVec;

    /// The netstack under test with its services, and the frames it has sent.
    struct Bench {
        net: Net,
        services: Services,
    }

    impl Bench {
        fn new() -> Bench {
            let mut net = Net::new();
            let services = Services::new(&mut net.sockets);
            Bench { net, services }
        }

        /// Delivers `frame` from the host, runs the stack and the services, returns what
        /// the tile sent and what the services reported.
        fn exchange(&mut self, frame: Option<StdVec<u8>>) -> (StdVec<StdVec<u8>>, StdVec<Event>) {
            if let Some(frame) = frame {
                self.net.deliver(frame);
            }
            let mut events = StdVec::new();
            for _ in 0..3 {
                self.net.poll();
                events.extend(self.services.poll(&mut self.net.sockets, b"tileos tile: up\n"));
            }
            (self.net.sent(), events)
        }

        /// The host asks for the tile's MAC; the tile answers.
        fn resolve(&mut self) {
            let (sent, _) = self.exchange(Some(arp_request()));
            assert_eq!(sent.len(), 1, "one ARP reply");
            assert_arp_reply(&sent[0]);
        }
    }

    fn tcp_segment(port: u16, control: TcpControl, seq: u32, ack: Option<TcpSeqNumber>, payload: &[u8]) -> StdVec<u8> {
        testnet::tcp_segment(port, STATUS_PORT, control, seq, ack, payload)
    }

    fn parse_tcp(frame: &[u8]) -> (TcpControl, TcpSeqNumber, Option<TcpSeqNumber>, StdVec<u8>) {
        let (control, seq, ack, payload, _) = parse_tcp_to(frame);
        (control, seq, ack, payload)
    }

    #[test]
    fn answers_arp_then_echoes_udp() {
        let mut bench = Bench::new();
        bench.resolve();

        let payload = b"hello tile";
        let frame = udp_datagram(5555, ECHO_PORT, payload);
        let (sent, events) = bench.exchange(Some(frame));
        assert_eq!(events, [Event::Echoed { bytes: payload.len(), to: IpEndpoint::new(HOST_IP.into(), 5555) }]);
        assert_eq!(sent.len(), 1, "one echo");
        assert_eq!(testnet::parse_udp(&sent[0]), (ECHO_PORT, 5555, payload.to_vec()));
    }

    #[test]
    fn status_service_sends_one_line_closes_and_listens_again() {
        let mut bench = Bench::new();
        bench.resolve();
        for round in 0..2u32 {
            let isn = 1000 + round * 100_000;
            let (sent, _) = bench.exchange(Some(tcp_segment(40000, TcpControl::Syn, isn, None, &[])));
            let (control, tile_isn, ack, _) = parse_tcp(&sent[0]);
            assert_eq!((control, ack), (TcpControl::Syn, Some(TcpSeqNumber(isn as i32 + 1))));
            // Our ACK completes the handshake; the status line and FIN follow.
            let (sent, events) = bench.exchange(Some(tcp_segment(40000, TcpControl::None, isn + 1, Some(tile_isn + 1), &[])));
            assert!(matches!(events[..], [Event::StatusServed { to: Some(_) }]), "{events:?}");
            let mut text = StdVec::new();
            let mut fin = false;
            for frame in &sent {
                let (control, _, _, payload) = parse_tcp(frame);
                text.extend(payload);
                fin |= control == TcpControl::Fin;
            }
            assert_eq!(text, b"tileos tile: up\n");
            assert!(fin, "the tile closes the connection");
            // We acknowledge everything and close too; the socket goes back to listening.
            let after = tile_isn + 1 + text.len() + 1;
            bench.exchange(Some(tcp_segment(40000, TcpControl::Fin, isn + 1, Some(after), &[])));
            bench.exchange(None);
        }
    }

    #[test]
    fn a_client_arriving_while_another_connection_closes_is_served() {
        let mut bench = Bench::new();
        bench.resolve();
        // The first client gets its line and the tile's FIN, but never closes its side.
        let (sent, _) = bench.exchange(Some(tcp_segment(40000, TcpControl::Syn, 1000, None, &[])));
        let (_, first_isn, _, _) = parse_tcp(&sent[0]);
        let (_, events) = bench.exchange(Some(tcp_segment(40000, TcpControl::None, 1001, Some(first_isn + 1), &[])));
        assert_eq!(events.len(), 1);
        // A second client connects meanwhile and is served all the same.
        let (sent, _) = bench.exchange(Some(tcp_segment(40001, TcpControl::Syn, 5000, None, &[])));
        let (control, second_isn, ack, _, port) = parse_tcp_to(&sent[0]);
        assert_eq!((control, ack, port), (TcpControl::Syn, Some(TcpSeqNumber(5001)), 40001));
        let (sent, events) = bench.exchange(Some(tcp_segment(40001, TcpControl::None, 5001, Some(second_isn + 1), &[])));
        assert!(matches!(events[..], [Event::StatusServed { to: Some(IpEndpoint { port: 40001, .. }) }]), "{events:?}");
        let text: StdVec<u8> = sent.iter().flat_map(|frame| parse_tcp(frame).3).collect();
        assert_eq!(text, b"tileos tile: up\n");
    }
}
