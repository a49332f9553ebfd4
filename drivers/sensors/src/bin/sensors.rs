//! The sensors domain: owns COM2 (its IO-port capability named "0x2f8"), where the tile's
//! sensor bus is reached as frames on a serial link (the tile simulator under QEMU,
//! docs/sensors.md), samples every chip four times a second through the embedded-hal
//! drivers of the library, and serves the sensor protocol (`tileos_protocol::sensors`) on
//! the "sensors" endpoint. It polls (it has no timer): it runs at a low priority with a
//! budget, and yields when idle.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

use core::fmt::Write;
use tileos_abi::message::MessageInfo;
use tileos_abi::syscall::Syscall;
use tileos_driver_sensors::hub::Hub;
use tileos_driver_sensors::link::{BytePort, Clock, SerialI2c};
use tileos_protocol::sensors::{Response, Sensors};
use tileos_sys::cap::IoPort;
use tileos_sys::{log, log_event};

/// COM2's first IO port.
const COM2: u16 = 0x2F8;
/// Time between two rounds of samples, ms.
const SAMPLE_MS: u64 = 250;
/// Longest wait for a chip's answer, ms.
const ANSWER_TIMEOUT_MS: u64 = 100;

/// COM2's 16550 UART, polled.
struct Com2 {
    port: IoPort,
}

impl Com2 {
    /// Programs 115200 baud, 8N1, FIFOs on, no interrupts.
    fn new(port: IoPort) -> Com2 {
        for (offset, value) in [(1, 0x00), (3, 0x80), (0, 0x01), (1, 0x00), (3, 0x03), (2, 0xC7), (4, 0x03)] {
            let _ = port.out8(COM2 + offset, value);
        }
        Com2 { port }
    }

    fn line_status(&self) -> u8 {
        self.port.in8(COM2 + 5).unwrap_or(0)
    }
}

impl BytePort for Com2 {
    fn send(&mut self, byte: u8) {
        // Line status bit 5: the transmit holding register is empty.
        while self.line_status() & 0x20 == 0 {}
        let _ = self.port.out8(COM2, byte);
    }

    fn receive(&mut self) -> Option<u8> {
        // Line status bit 0: a received byte is waiting.
        (self.line_status() & 0x01 != 0).then(|| self.port.in8(COM2).unwrap_or(0))
    }
}

/// Milliseconds from the time-stamp counter at the rate the kernel measured.
struct TscClock {
    tsc_per_ms: u64,
}

impl Clock for TscClock {
    fn now_ms(&self) -> u64 {
        tileos_sys::timestamp() / self.tsc_per_ms
    }
}

/// The signal capability to the notification of the client with `badge`, if the
/// description gives one (`sensor-wake.<badge>`).
fn wake_of(badge: u64) -> Option<tileos_sys::cap::Notification> {
    let mut name: heapless::String<40> = heapless::String::new();
    write!(name, "sensor-wake.{badge}").ok()?;
    tileos_sys::domain::signal_notification(&name)
}

tileos_sys::resources! {
    /// What the sensors domain needs from the description (checked at build time).
    struct Resources {
        /// The sensor protocol's endpoint.
        sensors: ServedEndpoint("sensors"),
        /// COM2's IO ports (named by the first port).
        port: IoPort("0x2f8"),
    }
}

tileos_sys::entry!(main);

fn main(Resources { sensors, port }: Resources) -> ! {
    let clock = TscClock { tsc_per_ms: tileos_sys::domain::info().tsc_per_ms.max(1) };
    let mut bus = SerialI2c::new(Com2::new(port), clock, ANSWER_TIMEOUT_MS);
    let mut hub = Hub::new();
    log!("sensors: COM2 at 0x{COM2:x}, sampling every {SAMPLE_MS} ms, answers awaited {ANSWER_TIMEOUT_MS} ms");
    log_event!("sensors.ready", port = "0x2f8", sample_ms = SAMPLE_MS);
    let mut last_sample: Option<u64> = None;
    loop {
        // A round of samples whenever one is due, also between requests: a client calling
        // without pause (or a higher-priority one that leaves this domain the processor only
        // while it waits for an answer) must not stop the sampling.
        let now = bus.clock().now_ms();
        if last_sample.is_none_or(|last| now.saturating_sub(last) >= SAMPLE_MS) {
            last_sample = Some(now);
            sample(&mut hub, &mut bus);
        }
        let message = tileos_sys::raw_syscall(Syscall::NbRecv, sensors.cptr(), MessageInfo::default(), [0; 4]);
        if message.info.label() == 0 && message.info.length() == 0 && message.badge == 0 {
            tileos_sys::yield_now();
            continue;
        }
        let now = bus.clock().now_ms();
        let answer = tileos_sys::rpc::decode_request::<Sensors>(&message)
            .map(|request| hub.serve(message.badge, request, now, |badge| wake_of(badge).is_some()));
        match &answer {
            Err(error) => log_event!("sensors.refused", badge = message.badge, error = DebugWord(error)),
            Ok(Response::Refused(error)) => log_event!("sensors.refused", badge = message.badge, error = DebugWord(error)),
            Ok(_) => {}
        }
        tileos_sys::rpc::answer::<Sensors>(None, answer);
    }
}

/// One round of samples: every chip read, a change of the link's state logged, due
/// subscribers signalled.
fn sample(hub: &mut Hub, bus: &mut SerialI2c<Com2, TscClock>) {
    let now = bus.clock().now_ms();
    if let Some(state) = hub.sample(bus, now) {
        let link = hub.link();
        let fault = link.last_fault.map_or("none", |fault| fault.name());
        log!("sensors: link {}: last fault {fault}, {} of {} transactions failed", state.name(), link.failures, link.transactions);
        log_event!(
            "sensors.link",
            state = state.name(),
            fault = fault,
            failures = link.failures,
            corrupt = link.corrupt,
            timeouts = link.timeouts
        );
    }
    hub.set_garbage_bytes(bus.garbage_bytes());
    for badge in hub.due_signals(bus.clock().now_ms()) {
        if let Some(wake) = wake_of(badge) {
            wake.signal();
        }
    }
}

/// A value's `Debug` form up to its first space or brace (`NoNotification` of
/// `NoNotification { badge: 97 }`), for event fields, which hold no spaces.
struct DebugWord<'a, T: core::fmt::Debug>(&'a T);

impl<T: core::fmt::Debug> core::fmt::Display for DebugWord<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut text: heapless::String<64> = heapless::String::new();
        let _ = write!(text, "{:?}", self.0);
        f.write_str(text.split([' ', '(', '{']).next().unwrap_or(""))
    }
}
