//! The `netstack` domain: `smoltcp` over the `net` driver's shared frame rings. It takes
//! its IPv4 address by DHCP (QEMU user networking hands out 10.0.2.15/24, router
//! 10.0.2.2), pings the router once, and serves the UDP echo (port 7) and the tile status
//! service (TCP port 8080) of `tileos_netstack::services`, and the TCP discard service
//! (port 9) of `tileos_netstack::discard` that `make bench` measures throughput with.
//!
//! What the description must grant (see `qemu/runner/tests/scenarios/net.toml`): the shared
//! region "net-frames" (with the `net` domain), the notification "netstack-wake" (waited
//! on; the driver signals it with bit 0 when frames arrive), a signal capability for
//! "net-wake" (bit 1: frames to send), a heap for socket buffers, and — until tileos has a
//! timer service — the HPET: its registers as the device memory "hpet" and the IRQ
//! handler of a pin its timer 0 can route to, signalling bit 1 of "netstack-wake".
//! Optional: the region "idle-counter" (read-only; the bench scenario's idle-counter
//! domain), whose counter the discard results report the idle loop's share with; and the
//! served endpoint "socket", on which other domains use UDP and TCP through the socket
//! protocol (`tileos_protocol::socket`, served by `tileos_netstack::sockets`). For each
//! client, by the badge of its capability (decimal): the region "socket-buffer.<badge>"
//! (read-write; the data of its requests) and a signal capability for its notification
//! "socket-wake.<badge>" (signalled when a socket it was answered `WouldBlock` for is
//! ready). With the endpoint, the netstack binds "netstack-wake" to its thread and waits on
//! the endpoint instead: a client's call and a frame or timer signal each end the wait.
//!
//! Time is the HPET's main counter (`tileos_netstack::clock`). The loop sleeps on
//! "netstack-wake" until a frame arrives or `smoltcp`'s next deadline, for which it arms
//! HPET timer 0 (one-shot, level-triggered).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;
extern crate tileos_rt;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::{dhcpv4, icmp};
use smoltcp::time::Duration;
use smoltcp::wire::{EthernetAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr, Ipv4Address, Ipv4Cidr};
use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_abi::invocation::{CPtr, TcbBindNotification};
use tileos_mmio::Mmio;
use tileos_netstack::clock::Clock;
use tileos_netstack::device::FrameDevice;
use tileos_netstack::discard::{DISCARD_PORT, Discard, Stamp};
use tileos_netstack::hpet::{self, Capabilities, reg};
use tileos_netstack::services::{ECHO_PORT, Event, STATUS_PORT, Services};
use tileos_netstack::sockets::{Buffer, Limits, SocketServer};
use tileos_protocol::ProtocolError;
use tileos_protocol::frames::{self, REGION_BYTES};
use tileos_protocol::socket::Socket;
use tileos_sys::cap::IrqHandler;
use tileos_sys::domain::{cap, served_endpoint, take_region};
use tileos_sys::log;
use tileos_sys::rpc::{answer, decode_request};

/// Sockets per client and in all: a pod gateway's federation node holds a session per
/// neighbour (a pod of 8 and its hub) plus its listener's backlog; 4 KiB buffers each way,
/// so at most 256 KiB of the heap.
const SOCKET_LIMITS: Limits = Limits { per_client: 16, total: 32 };
/// Identifier of the netstack's ICMP echo requests.
const PING_IDENT: u16 = 0x7113;

/// Bit of "netstack-wake" the HPET timer's IRQ handler sets.
const TIMER_BIT: u64 = 1 << 1;
/// Bit of "netstack-wake" the net driver sets when frames arrived.
const FRAME_BIT: u64 = 1 << 0;
/// DHCP's client port (smoltcp's DHCP socket), reserved like the services' ports.
const DHCP_CLIENT_PORT: u16 = 68;

/// Entry point.
#[allow(unsafe_code)] // the entry symbol: `#[unsafe(no_mangle)]` is all the unsafe here
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    let info = tileos_sys::domain::init();
    let (Some(memory), Some(wake), Some(net)) =
        (take_region("net-frames"), cap(CapKind::WaitNotification, "netstack-wake"), cap(CapKind::SignalNotification, "net-wake"))
    else {
        log!("netstack: needs the region \"net-frames\", the notifications \"netstack-wake\" (wait) and \"net-wake\" (signal); stopping");
        stop();
    };
    let size = memory.len() as u64;
    if size < REGION_BYTES as u64 || info.heap_size == 0 {
        log!(
            "netstack: the \"net-frames\" region has {size:#x} bytes ({REGION_BYTES:#x} needed) and the heap {:#x}; stopping",
            info.heap_size
        );
        stop();
    }
    let mac = loop {
        match frames::read_info(&memory) {
            Some(mac) => break mac,
            None => {
                tileos_sys::recv(wake, true);
            }
        }
    };
    let Some(hpet) = take_region("hpet").filter(|hpet| hpet.len() >= hpet::REGISTER_BYTES) else {
        log!("netstack: needs the HPET's registers as the device memory \"hpet\" ({:#x} bytes); stopping", hpet::REGISTER_BYTES);
        stop();
    };
    let counter = match Capabilities::parse(hpet.read64(reg::CAPABILITIES)) {
        Some(counter) if counter.wide => counter,
        other => {
            log!("netstack: no usable HPET at {:#x} ({other:?}; a 64-bit main counter is needed); stopping", hpet.base());
            stop();
        }
    };
    let timer_config = hpet.read64(reg::TIMER0_CONFIG);
    let Some((pin, irq)) =
        hpet::routable_pins(timer_config).find_map(|pin| cap(CapKind::IrqHandler, &format!("irq{pin}")).map(|irq| (pin, irq)))
    else {
        log!("netstack: no IRQ handler for any pin HPET timer 0 can use (mask {:#x}); stopping", timer_config >> 32);
        stop();
    };
    // Counter running without legacy routing; timer 0 one-shot and level-triggered on `pin`.
    hpet.write64(reg::TIMER0_CONFIG, hpet::one_shot_level(timer_config, pin));
    hpet.write64(reg::CONFIGURATION, hpet.read64(reg::CONFIGURATION) & !0b10 | hpet::ENABLE);
    log!("netstack: clock and wake-up timer: HPET at {} kHz, timer 0 on IOAPIC pin {pin}", counter.khz());
    match check_timer(&hpet, counter, irq, wake) {
        Ok(polls) => log!("netstack: wake-up timer checked: its interrupt arrived on IOAPIC pin {pin} ({polls} polls)"),
        Err(problem) => {
            log!("netstack: the wake-up timer does not work: {problem}; stopping");
            stop();
        }
    }
    // The socket protocol, when the description grants its endpoint: the wake-up
    // notification is bound to this thread so that one Recv on the endpoint also ends
    // with a frame or timer signal.
    let socket_endpoint = served_endpoint("socket").and_then(|endpoint| {
        match tileos_sys::domain::own_tcb().invoke(TcbBindNotification { notification: CPtr(wake) }) {
            Ok(_) => Some(endpoint),
            Err(error) => {
                log!("netstack: cannot bind \"netstack-wake\" to the thread ({error:?}): not serving the socket endpoint");
                None
            }
        }
    });
    let mut socket_server = SocketServer::new(SOCKET_LIMITS, &[STATUS_PORT, DISCARD_PORT], &[ECHO_PORT, DHCP_CLIENT_PORT]);
    // Socket clients seen so far (each is logged once), with their buffer regions.
    let mut socket_clients: Vec<(u64, Option<Mmio>)> = Vec::new();
    let clock = Clock::new(hpet.read64(reg::MAIN_COUNTER), counter);
    let mut device = FrameDevice::new(memory);
    let mut config = Config::new(EthernetAddress(mac).into());
    config.random_seed = hpet.read64(reg::MAIN_COUNTER);
    let mut iface = Interface::new(config, &mut device, clock.instant(hpet.read64(reg::MAIN_COUNTER)));
    let mut sockets = SocketSet::new(Vec::new());
    let dhcp = sockets.add(dhcpv4::Socket::new());
    let ping = sockets.add(icmp::Socket::new(
        icmp::PacketBuffer::new(alloc::vec![icmp::PacketMetadata::EMPTY; 2], alloc::vec![0; 256]),
        icmp::PacketBuffer::new(alloc::vec![icmp::PacketMetadata::EMPTY; 2], alloc::vec![0; 256]),
    ));
    sockets.get_mut::<icmp::Socket>(ping).bind(icmp::Endpoint::Ident(PING_IDENT)).expect("a fresh ICMP socket binds");
    let mut services = Services::new(&mut sockets);
    let mut discard = Discard::new(&mut sockets);
    // Mapped read-only: only read through.
    let idle_counter = take_region("idle-counter");
    let stamp = || Stamp {
        ticks: tileos_sys::timestamp(),
        // The idle-counter domain writes its first (aligned) word.
        idle: idle_counter.as_ref().map_or(0, |counter| counter.read64(0)),
        clock: hpet.read64(reg::MAIN_COUNTER),
    };
    log!("netstack: MAC {}, asking for an address by DHCP", EthernetAddress(mac));
    let mut address: Option<Ipv4Cidr> = None;
    let mut status = Vec::new();
    // The router to ping once, and whether the request went out.
    let mut ping_target: Option<(Ipv4Address, bool)> = None;
    // Drop and ring-error counts last logged.
    let mut reported = (0, 0);
    let mut timer_wakes = 0u64;
    loop {
        let now = clock.instant(hpet.read64(reg::MAIN_COUNTER));
        iface.poll(now, &mut device, &mut sockets);
        match sockets.get_mut::<dhcpv4::Socket>(dhcp).poll() {
            Some(dhcpv4::Event::Configured(lease)) => {
                iface.update_ip_addrs(|addresses| {
                    addresses.clear();
                    addresses.push(IpCidr::Ipv4(lease.address)).expect("one address fits");
                });
                match lease.router {
                    Some(router) => {
                        iface.routes_mut().add_default_ipv4_route(router).expect("one route fits");
                        ping_target = Some((router, false));
                    }
                    None => {
                        iface.routes_mut().remove_default_ipv4_route();
                    }
                };
                log!(
                    "netstack: DHCP lease {} router {}, DNS {:?}",
                    lease.address,
                    lease.router.map_or(alloc::string::String::from("none"), |router| format!("{router}")),
                    lease.dns_servers.as_slice()
                );
                if address.is_none() {
                    log!(
                        "netstack: ready: {} serving the tile status on TCP port {STATUS_PORT} and UDP echo on port {ECHO_PORT}, TCP discard on port {DISCARD_PORT}{}",
                        lease.address,
                        if socket_endpoint.is_some() { ", sockets for other domains on endpoint \"socket\"" } else { "" }
                    );
                }
                address = Some(lease.address);
                status = format!(
                    "tileos tile: up (netstack \"{}\" generation {}, address {})\n",
                    tileos_sys::domain::name(),
                    info.generation,
                    lease.address
                )
                .into_bytes();
            }
            Some(dhcpv4::Event::Deconfigured) => {
                if let Some(lost) = address {
                    log!("netstack: DHCP lease {lost} lost");
                }
                iface.update_ip_addrs(|addresses| addresses.clear());
                iface.routes_mut().remove_default_ipv4_route();
                address = None;
            }
            None => {}
        }
        if let Some((router, sent)) = &mut ping_target {
            poll_ping(sockets.get_mut::<icmp::Socket>(ping), *router, sent);
        }
        if address.is_some() {
            for event in services.poll(&mut sockets, &status) {
                match event {
                    Event::Echoed { bytes, to } => log!("netstack: udp echo of {bytes} bytes to {to}"),
                    Event::StatusServed { to: Some(to) } => log!("netstack: status served to {to}"),
                    Event::StatusServed { to: None } => log!("netstack: status served"),
                }
            }
            for done in discard.poll(&mut sockets, stamp) {
                let ticks = done.last.ticks - done.first.ticks;
                let busy = ticks.saturating_sub(2 * (done.last.idle - done.first.idle));
                log!(
                    "netstack: discard connection {}: result bytes {} ticks {ticks} busy {busy} hpet {} idle-counter {} from {}",
                    done.number,
                    done.bytes,
                    done.last.clock - done.first.clock,
                    if idle_counter.is_some() { "yes" } else { "no" },
                    done.from.map_or(alloc::string::String::from("?"), |from| format!("{from}"))
                );
            }
            // Send what the services queued without waiting for the next round.
            iface.poll(clock.instant(hpet.read64(reg::MAIN_COUNTER)), &mut device, &mut sockets);
        }
        for client in socket_server.maintain(&mut sockets) {
            if let Some(notification) = cap(CapKind::SignalNotification, &format!("socket-wake.{client}")) {
                signal(notification);
            }
        }
        if device.take_transmitted() > 0 {
            signal(net);
        }
        if (device.dropped, device.ring_errors.0) != reported {
            reported = (device.dropped, device.ring_errors.0);
            log!(
                "netstack: {} frames dropped (transmit ring full), {} ring errors (last {:?})",
                reported.0,
                reported.1,
                device.ring_errors.1
            );
        }
        let count = hpet.read64(reg::MAIN_COUNTER);
        let delay = iface.poll_delay(clock.instant(count), &sockets);
        if delay == Some(Duration::ZERO) || device.has_frame() {
            continue;
        }
        if let Some(delay) = delay {
            let deadline = clock.deadline(count, delay);
            hpet.write64(reg::TIMER0_COMPARATOR, deadline);
            if hpet.read64(reg::MAIN_COUNTER) >= deadline {
                continue;
            }
        }
        let word = match socket_endpoint {
            None => tileos_sys::recv(wake, true).badge,
            Some(endpoint) => {
                let message = tileos_sys::recv(endpoint.cptr(), true);
                if message.info.label() == 0 && message.info.length() == 0 {
                    // The bound notification's word (or a client's empty call: it gets the
                    // error reply, which goes nowhere when no caller waits).
                    answer::<Socket>(None, Err(ProtocolError::UnknownLabel));
                    message.badge & (FRAME_BIT | TIMER_BIT)
                } else {
                    let client = message.badge;
                    let response = decode_request::<Socket>(&message).map(|request| {
                        // Each client's buffer region is taken at its first request.
                        let known = socket_clients.iter().position(|(known, _)| *known == client);
                        let index = known.unwrap_or_else(|| {
                            let buffer = take_region(&format!("socket-buffer.{client}"));
                            log!(
                                "netstack: socket client {client:#x}: buffer {}, notification {}",
                                buffer.as_ref().map_or(String::from("none"), |memory| format!("of {:#x} bytes", memory.len())),
                                if cap(CapKind::SignalNotification, &format!("socket-wake.{client}")).is_some() { "yes" } else { "none" }
                            );
                            socket_clients.push((client, buffer));
                            socket_clients.len() - 1
                        });
                        let buffer = socket_clients[index]
                            .1
                            .as_ref()
                            .map(|memory| Buffer { memory, size: u32::try_from(memory.len()).unwrap_or(u32::MAX) });
                        socket_server.handle(client, request, buffer, &mut iface, &mut sockets)
                    });
                    answer::<Socket>(None, response);
                    0
                }
            }
        };
        if word & TIMER_BIT != 0 {
            timer_wakes += 1;
            if timer_wakes == 1 {
                log!("netstack: first wake-up by the timer");
            }
            // Clearing the timer's status lowers its line; then the pin may fire again.
            hpet.write64(reg::INTERRUPT_STATUS, 1);
            if let Err(error) = IrqHandler::from_cptr(irq).ack() {
                log!("netstack: acknowledging the timer interrupt failed: {error:?}");
            }
        }
    }
}

/// Polls (yielding between polls) for the wake-up timer's check interrupt at most this often.
const TIMER_CHECK_POLLS: u32 = 100_000;

/// Checks that HPET timer 0 really interrupts: a one-shot 100 µs ahead, then the
/// notification `wake` is polled, without blocking, for the timer's bit (a bit the driver
/// sets meanwhile is harmless: the main loop polls the frame ring anyway). Returns the
/// polls it took, or what went wrong.
fn check_timer(hpet: &Mmio, counter: Capabilities, irq: u64, wake: u64) -> Result<u32, &'static str> {
    hpet.write64(reg::TIMER0_COMPARATOR, hpet.read64(reg::MAIN_COUNTER).wrapping_add(counter.ticks(100)));
    for poll in 0..TIMER_CHECK_POLLS {
        if tileos_sys::recv(wake, false).badge & TIMER_BIT != 0 {
            hpet.write64(reg::INTERRUPT_STATUS, 1);
            IrqHandler::from_cptr(irq).ack().map_err(|_| "the IRQ handler refused the acknowledgement")?;
            return Ok(poll);
        }
        tileos_sys::yield_now();
    }
    if hpet.read64(reg::INTERRUPT_STATUS) & 1 != 0 {
        Err("timer 0 fired (interrupt status set) but no interrupt reached the notification")
    } else {
        Err("timer 0 never fired")
    }
}

/// Sends one echo request to `router` when possible and logs the reply.
fn poll_ping(socket: &mut icmp::Socket<'_>, router: Ipv4Address, sent: &mut bool) {
    let checksums = ChecksumCapabilities::default();
    if !*sent && socket.can_send() {
        let request = Icmpv4Repr::EchoRequest { ident: PING_IDENT, seq_no: 1, data: b"tileos" };
        if let Ok(buffer) = socket.send(request.buffer_len(), IpAddress::Ipv4(router)) {
            request.emit(&mut Icmpv4Packet::new_unchecked(buffer), &checksums);
            *sent = true;
        }
    }
    while let Ok((payload, from)) = socket.recv() {
        if let Ok(Icmpv4Repr::EchoReply { ident: PING_IDENT, seq_no, data }) =
            Icmpv4Packet::new_checked(payload).and_then(|packet| Icmpv4Repr::parse(&packet, &checksums))
        {
            log!("netstack: ping {from}: echo reply {seq_no} with {} bytes", data.len());
        }
    }
}

/// Signals the notification capability `cptr` (with its badge's bits).
fn signal(cptr: u64) {
    tileos_sys::raw_syscall(tileos_abi::syscall::Syscall::Send, cptr, tileos_abi::message::MessageInfo::default(), [0; 4]);
}

/// Stops this domain's only thread.
fn stop() -> ! {
    let _ = tileos_sys::domain::own_tcb().suspend();
    unreachable!("a suspended thread does not run")
}
