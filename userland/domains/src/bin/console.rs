//! The console domain: owns COM1 (its IO-port capability named "0x3f8") and serves the
//! "log" endpoint: every other domain logs through it. A write request carries the byte
//! count in word 0 and the bytes from word 1 on (`tileos_sys::domain::CONSOLE_WRITE`).
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_abi::error::InvocationError;
use tileos_sys::buffer_word;
use tileos_sys::cap::IoPort;
use tileos_sys::domain::{CONSOLE_WRITE, MAX_WRITE};

const COM1: u16 = 0x3F8;

fn put(port: IoPort, byte: u8) {
    // Wait for the transmit holding register to be empty, then write.
    while port.in8(COM1 + 5).map(|status| status & 0x20 == 0).unwrap_or(false) {}
    let _ = port.out8(COM1, byte);
}

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let (Some(log), Some(port)) = (tileos_sys::domain::served_endpoint("log"), tileos_sys::domain::io_port("0x3f8"))
    else {
        tileos_sys::println!("console: needs the \"log\" endpoint and the COM1 ports 0x3f8; stopping");
        tileos_sys::debug_exit(tileos_abi::test_exit::GuestVerdict::Fail);
    };
    let mut message = log.recv();
    loop {
        let status = if message.info.label() == CONSOLE_WRITE && message.info.length() >= 1 {
            let count = (message.words[0] as usize).min(MAX_WRITE).min((message.info.length() - 1) * 8);
            for index in 0..count {
                let word_index = 1 + index / 8;
                let word = if word_index < 4 { message.words[word_index] } else { buffer_word(word_index) };
                let byte = (word >> (8 * (index % 8))) as u8;
                if byte == b'\n' {
                    put(port, b'\r');
                }
                put(port, byte);
            }
            0
        } else {
            InvocationError::IllegalOperation as u64
        };
        message = log.reply_recv(status, &[]);
    }
}
