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
/// Bytes the 16550's transmit FIFO holds.
const FIFO_BYTES: usize = 16;

/// COM1's transmitter, one FIFO-full at a time: every port access is a system call, so
/// the line status is read once per [`FIFO_BYTES`] bytes, and those bytes go out in one
/// `IoPortOutBytes` (docs/abi.md §11.6), not one system call each.
struct Transmitter {
    port: IoPort,
    /// Bytes waiting for the next FIFO-full.
    pending: [u8; FIFO_BYTES],
    /// How many of `pending` are used.
    length: usize,
}

impl Transmitter {
    /// Enables (and clears) the FIFOs.
    fn new(port: IoPort) -> Transmitter {
        let _ = port.out8(COM1 + 2, 0x07);
        Transmitter { port, pending: [0; FIFO_BYTES], length: 0 }
    }

    fn put(&mut self, byte: u8) {
        if self.length == FIFO_BYTES {
            self.flush();
        }
        self.pending[self.length] = byte;
        self.length += 1;
    }

    /// Waits until the transmit FIFO is empty, then writes the pending bytes into it.
    fn flush(&mut self) {
        if self.length == 0 {
            return;
        }
        // Line status bit 5: the transmit FIFO is empty.
        while self.port.in8(COM1 + 5).map(|status| status & 0x20 == 0).unwrap_or(false) {}
        let _ = self.port.out_bytes(COM1, &self.pending[..self.length]);
        self.length = 0;
    }
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
    let mut transmitter = Transmitter::new(port);
    tileos_sys::rpc::serve::<Console>(log, |_, Request::Write(text)| {
        for byte in text.bytes() {
            if byte == b'\n' {
                transmitter.put(b'\r');
            }
            transmitter.put(byte);
        }
        transmitter.flush();
        Ok(Response::Written(text.len() as u32))
    })
}
