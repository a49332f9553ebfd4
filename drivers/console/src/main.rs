//! The console domain: owns COM1 (its IO-port capability named "0x3f8") and serves the
//! console protocol (`tileos_protocol::console`) on the "log" endpoint: every other
//! domain logs through it.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate tileos_rt;

use tileos_protocol::console::{Console, Request, Response};
use tileos_sys::cap::IoPort;

const COM1: u16 = 0x3F8;

fn put(port: IoPort, byte: u8) {
    // Wait for the transmit holding register to be empty, then write.
    while port.in8(COM1 + 5).map(|status| status & 0x20 == 0).unwrap_or(false) {}
    let _ = port.out8(COM1, byte);
}

tileos_sys::resources! {
    /// What the console needs from the description (checked at build time).
    struct Resources {
        /// The endpoint every other domain logs through.
        log: ServedEndpoint("log"),
        /// COM1's IO ports (named by the first port).
        port: IoPort("0x3f8"),
    }
}

tileos_sys::entry!(main);

fn main(Resources { log, port }: Resources) -> ! {
    tileos_sys::rpc::serve::<Console>(log, |_, Request::Write(text)| {
        for byte in text.bytes() {
            if byte == b'\n' {
                put(port, b'\r');
            }
            put(port, byte);
        }
        Ok(Response::Written(text.len() as u32))
    })
}
