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
    use crate::device::FrameDevice;
    use core::cell::RefCell;
    use smoltcp::iface::{Config, Interface};
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::time::Instant;
    use smoltcp::wire::{
        ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpCidr,
        IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber, UdpPacket, UdpRepr,
    };
    use std::vec::Vec as StdVec;
    use tileos_driver_net::test_memory::VecMemory;
    use tileos_driver_net::frames::{FrameRing, REGION_BYTES};
    use tileos_driver_net::virtio::MAX_FRAME;


    const TILE_MAC: EthernetAddress = EthernetAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    const HOST_MAC: EthernetAddress = EthernetAddress([0x52, 0x55, 10, 0, 2, 2]);
    const TILE_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
    const HOST_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

    /// The netstack under test with a static address, and the frames it has sent.
    struct Bench {
        device: FrameDevice<VecMemory>,
        iface: Interface,
        sockets: SocketSet<'static>,
        services: Services,
        now: i64,
    }

    impl Bench {
        fn new() -> Bench {
            let mut device = FrameDevice::new(VecMemory(RefCell::new(std::vec![0; REGION_BYTES])));
            let mut iface = Interface::new(Config::new(TILE_MAC.into()), &mut device, Instant::from_millis(0));
            iface.update_ip_addrs(|addresses| addresses.push(IpCidr::new(IpAddress::Ipv4(TILE_IP), 24)).unwrap());
            let mut sockets = SocketSet::new(StdVec::new());
            let services = Services::new(&mut sockets);
            Bench { device, iface, sockets, services, now: 0 }
        }

        /// Delivers `frame` from the host, runs the stack and the services, returns what
        /// the tile sent and what the services reported.
        fn exchange(&mut self, frame: Option<StdVec<u8>>) -> (StdVec<StdVec<u8>>, StdVec<Event>) {
            if let Some(frame) = frame {
                FrameRing::RX.push(self.device.memory(), &frame).unwrap();
            }
            let mut events = StdVec::new();
            for _ in 0..3 {
                self.now += 10;
                self.iface.poll(Instant::from_millis(self.now), &mut self.device, &mut self.sockets);
                events.extend(self.services.poll(&mut self.sockets, b"tileos tile: up\n"));
            }
            let mut sent = StdVec::new();
            let mut out = [0u8; MAX_FRAME];
            while let Some(length) = FrameRing::TX.pop(self.device.memory(), &mut out).unwrap() {
                sent.push(out[..length].to_vec());
            }
            assert_eq!(self.device.take_transmitted() as usize, sent.len());
            (sent, events)
        }

        /// The host asks for the tile's MAC (smoltcp learns neighbours from ARP only); the
        /// tile answers.
        fn resolve(&mut self) {
        let request = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: HOST_MAC,
            source_protocol_addr: HOST_IP,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: TILE_IP,
        };
        let frame = ethernet(EthernetProtocol::Arp, request.buffer_len(), |bytes| request.emit(&mut ArpPacket::new_unchecked(bytes)));
        let (sent, _) = self.exchange(Some(frame));
        assert_eq!(sent.len(), 1, "one ARP reply");
        let reply = ArpRepr::parse(&ArpPacket::new_checked(EthernetFrame::new_checked(&sent[0][..]).unwrap().payload()).unwrap()).unwrap();
        assert!(matches!(reply, ArpRepr::EthernetIpv4 { operation: ArpOperation::Reply, source_hardware_addr: TILE_MAC, .. }));
        }
    }

    fn ethernet(ethertype: EthernetProtocol, payload_len: usize, fill: impl FnOnce(&mut [u8])) -> StdVec<u8> {
        let repr = EthernetRepr { src_addr: HOST_MAC, dst_addr: TILE_MAC, ethertype };
        let mut frame = std::vec![0u8; repr.buffer_len() + payload_len];
        let mut packet = EthernetFrame::new_unchecked(&mut frame[..]);
        repr.emit(&mut packet);
        fill(packet.payload_mut());
        frame
    }

    fn ipv4(protocol: IpProtocol, payload_len: usize, fill: impl FnOnce(&mut [u8])) -> StdVec<u8> {
        let repr = Ipv4Repr { src_addr: HOST_IP, dst_addr: TILE_IP, next_header: protocol, payload_len, hop_limit: 64 };
        ethernet(EthernetProtocol::Ipv4, repr.buffer_len() + payload_len, |bytes| {
            let mut packet = Ipv4Packet::new_unchecked(bytes);
            repr.emit(&mut packet, &ChecksumCapabilities::default());
            fill(packet.payload_mut());
        })
    }

    fn parse_ipv4(frame: &[u8]) -> (Ipv4Repr, StdVec<u8>) {
        let ethernet = EthernetFrame::new_checked(frame).unwrap();
        assert_eq!((ethernet.src_addr(), ethernet.dst_addr()), (TILE_MAC, HOST_MAC));
        let packet = Ipv4Packet::new_checked(ethernet.payload()).unwrap();
        (Ipv4Repr::parse(&packet, &ChecksumCapabilities::default()).unwrap(), packet.payload().to_vec())
    }

    fn tcp_segment(port: u16, control: TcpControl, seq: u32, ack: Option<TcpSeqNumber>, payload: &[u8]) -> StdVec<u8> {
        let repr = TcpRepr {
            src_port: port,
            dst_port: STATUS_PORT,
            control,
            seq_number: TcpSeqNumber(seq as i32),
            ack_number: ack,
            window_len: 8192,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload,
        };
        ipv4(IpProtocol::Tcp, repr.buffer_len(), |bytes| {
            let mut packet = TcpPacket::new_unchecked(bytes);
            repr.emit(&mut packet, &HOST_IP.into(), &TILE_IP.into(), &ChecksumCapabilities::default());
        })
    }

    fn parse_tcp(frame: &[u8]) -> (TcpControl, TcpSeqNumber, Option<TcpSeqNumber>, StdVec<u8>) {
        let (control, seq, ack, payload, _) = parse_tcp_to(frame);
        (control, seq, ack, payload)
    }

    /// As `parse_tcp`, with the destination port.
    fn parse_tcp_to(frame: &[u8]) -> (TcpControl, TcpSeqNumber, Option<TcpSeqNumber>, StdVec<u8>, u16) {
        let (ip, payload) = parse_ipv4(frame);
        assert_eq!(ip.next_header, IpProtocol::Tcp);
        let packet = TcpPacket::new_checked(&payload[..]).unwrap();
        let repr = TcpRepr::parse(&packet, &ip.src_addr.into(), &ip.dst_addr.into(), &ChecksumCapabilities::default()).unwrap();
        (repr.control, repr.seq_number, repr.ack_number, repr.payload.to_vec(), repr.dst_port)
    }

    #[test]
    fn answers_arp_then_echoes_udp() {
        let mut bench = Bench::new();
        bench.resolve();

        let udp = UdpRepr { src_port: 5555, dst_port: ECHO_PORT };
        let payload = b"hello tile";
        let frame = ipv4(IpProtocol::Udp, udp.header_len() + payload.len(), |bytes| {
            let mut packet = UdpPacket::new_unchecked(bytes);
            udp.emit(&mut packet, &HOST_IP.into(), &TILE_IP.into(), payload.len(), |out| out.copy_from_slice(payload), &ChecksumCapabilities::default());
        });
        let (sent, events) = bench.exchange(Some(frame));
        assert_eq!(events, [Event::Echoed { bytes: payload.len(), to: IpEndpoint::new(HOST_IP.into(), 5555) }]);
        assert_eq!(sent.len(), 1, "one echo");
        let (ip, datagram) = parse_ipv4(&sent[0]);
        assert_eq!((ip.src_addr, ip.dst_addr, ip.next_header), (TILE_IP, HOST_IP, IpProtocol::Udp));
        let packet = UdpPacket::new_checked(&datagram[..]).unwrap();
        assert_eq!((packet.src_port(), packet.dst_port()), (ECHO_PORT, 5555));
        assert_eq!(packet.payload(), payload);
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
