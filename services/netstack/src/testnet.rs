//! Host-test helpers shared by the service and socket tests: a netstack with a static
//! address over frame rings in a vector, and the host's side of the wire (hand-built
//! Ethernet, ARP, IPv4, UDP and TCP frames, and parsers for what the tile sends).

extern crate std;

use crate::device::FrameDevice;
use core::cell::RefCell;
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpCidr, IpProtocol,
    Ipv4Address, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber, UdpPacket, UdpRepr,
};
use std::vec::Vec;
use tileos_mmio::VecMemory;
use tileos_protocol::frames::{FrameRing, MAX_FRAME, REGION_BYTES};

/// The tile's MAC (QEMU's default).
pub const TILE_MAC: EthernetAddress = EthernetAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
/// The host's MAC.
pub const HOST_MAC: EthernetAddress = EthernetAddress([0x52, 0x55, 10, 0, 2, 2]);
/// The tile's address.
pub const TILE_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
/// The host's address.
pub const HOST_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

/// A netstack with the static address [`TILE_IP`]/24 and no sockets yet.
pub struct Net {
    /// The frame rings, as the net driver would see them.
    pub device: FrameDevice<VecMemory>,
    /// The interface.
    pub iface: Interface,
    /// The sockets.
    pub sockets: SocketSet<'static>,
    /// Milliseconds since the start.
    pub now: i64,
}

impl Net {
    /// A fresh stack.
    pub fn new() -> Net {
        let mut device = FrameDevice::new(VecMemory(RefCell::new(std::vec![0; REGION_BYTES])));
        let mut iface = Interface::new(Config::new(TILE_MAC.into()), &mut device, Instant::from_millis(0));
        iface.update_ip_addrs(|addresses| addresses.push(IpCidr::new(IpAddress::Ipv4(TILE_IP), 24)).unwrap());
        Net { device, iface, sockets: SocketSet::new(Vec::new()), now: 0 }
    }

    /// Puts `frame` on the receive ring, as if it came from the host.
    pub fn deliver(&mut self, frame: Vec<u8>) {
        FrameRing::RX.push(self.device.memory(), &frame).unwrap();
    }

    /// Advances the clock by 10 ms and polls the stack once.
    pub fn poll(&mut self) {
        self.now += 10;
        self.iface.poll(Instant::from_millis(self.now), &mut self.device, &mut self.sockets);
    }

    /// The frames the tile sent since the last call.
    pub fn sent(&mut self) -> Vec<Vec<u8>> {
        let mut sent = Vec::new();
        let mut out = [0u8; MAX_FRAME];
        while let Some(length) = FrameRing::TX.pop(self.device.memory(), &mut out).unwrap() {
            sent.push(out[..length].to_vec());
        }
        assert_eq!(self.device.take_transmitted() as usize, sent.len());
        sent
    }
}

/// The host's ARP request for the tile's address (smoltcp learns neighbours from ARP only).
pub fn arp_request() -> Vec<u8> {
    let request = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: HOST_MAC,
        source_protocol_addr: HOST_IP,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: TILE_IP,
    };
    ethernet(EthernetProtocol::Arp, request.buffer_len(), |bytes| request.emit(&mut ArpPacket::new_unchecked(bytes)))
}

/// Checks that `frame` is the tile's ARP reply.
pub fn assert_arp_reply(frame: &[u8]) {
    let reply = ArpRepr::parse(&ArpPacket::new_checked(EthernetFrame::new_checked(frame).unwrap().payload()).unwrap()).unwrap();
    assert!(matches!(reply, ArpRepr::EthernetIpv4 { operation: ArpOperation::Reply, source_hardware_addr: TILE_MAC, .. }));
}

/// An Ethernet frame from the host to the tile.
pub fn ethernet(ethertype: EthernetProtocol, payload_len: usize, fill: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let repr = EthernetRepr { src_addr: HOST_MAC, dst_addr: TILE_MAC, ethertype };
    let mut frame = std::vec![0u8; repr.buffer_len() + payload_len];
    let mut packet = EthernetFrame::new_unchecked(&mut frame[..]);
    repr.emit(&mut packet);
    fill(packet.payload_mut());
    frame
}

/// An IPv4 packet from the host to the tile.
pub fn ipv4(protocol: IpProtocol, payload_len: usize, fill: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let repr = Ipv4Repr { src_addr: HOST_IP, dst_addr: TILE_IP, next_header: protocol, payload_len, hop_limit: 64 };
    ethernet(EthernetProtocol::Ipv4, repr.buffer_len() + payload_len, |bytes| {
        let mut packet = Ipv4Packet::new_unchecked(bytes);
        repr.emit(&mut packet, &ChecksumCapabilities::default());
        fill(packet.payload_mut());
    })
}

/// The IPv4 header and payload of a frame the tile sent to the host.
pub fn parse_ipv4(frame: &[u8]) -> (Ipv4Repr, Vec<u8>) {
    let ethernet = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!((ethernet.src_addr(), ethernet.dst_addr()), (TILE_MAC, HOST_MAC));
    let packet = Ipv4Packet::new_checked(ethernet.payload()).unwrap();
    (Ipv4Repr::parse(&packet, &ChecksumCapabilities::default()).unwrap(), packet.payload().to_vec())
}

/// A UDP datagram from host port `from` to tile port `to`.
pub fn udp_datagram(from: u16, to: u16, payload: &[u8]) -> Vec<u8> {
    let udp = UdpRepr { src_port: from, dst_port: to };
    ipv4(IpProtocol::Udp, udp.header_len() + payload.len(), |bytes| {
        let mut packet = UdpPacket::new_unchecked(bytes);
        udp.emit(
            &mut packet,
            &HOST_IP.into(),
            &TILE_IP.into(),
            payload.len(),
            |out| out.copy_from_slice(payload),
            &ChecksumCapabilities::default(),
        );
    })
}

/// Source port, destination port and payload of a UDP datagram the tile sent.
pub fn parse_udp(frame: &[u8]) -> (u16, u16, Vec<u8>) {
    let (ip, datagram) = parse_ipv4(frame);
    assert_eq!((ip.src_addr, ip.dst_addr, ip.next_header), (TILE_IP, HOST_IP, IpProtocol::Udp));
    let packet = UdpPacket::new_checked(&datagram[..]).unwrap();
    (packet.src_port(), packet.dst_port(), packet.payload().to_vec())
}

/// A TCP segment from host port `from` to tile port `to`.
pub fn tcp_segment(from: u16, to: u16, control: TcpControl, seq: u32, ack: Option<TcpSeqNumber>, payload: &[u8]) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: from,
        dst_port: to,
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

/// Control, sequence number, acknowledgement, payload and destination port of a TCP
/// segment the tile sent.
pub fn parse_tcp_to(frame: &[u8]) -> (TcpControl, TcpSeqNumber, Option<TcpSeqNumber>, Vec<u8>, u16) {
    let (ip, payload) = parse_ipv4(frame);
    assert_eq!(ip.next_header, IpProtocol::Tcp);
    let packet = TcpPacket::new_checked(&payload[..]).unwrap();
    let repr = TcpRepr::parse(&packet, &ip.src_addr.into(), &ip.dst_addr.into(), &ChecksumCapabilities::default()).unwrap();
    (repr.control, repr.seq_number, repr.ack_number, repr.payload.to_vec(), repr.dst_port)
}
