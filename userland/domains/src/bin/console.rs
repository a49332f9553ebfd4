//! The console domain: owns COM1 (its IO-port capability named "0x3f8") and serves the
//! "log" endpoint: every other domain logs through it. A write request carries the byte
//! count in word 0 and the bytes from word 1 on (`tileos_sys::domain::CONSOLE_WRITE`).
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::Label;
use tileos_sys::domain::{CONSOLE_WRITE, MAX_WRITE};
use tileos_sys::{buffer_word, invoke};

const COM1: u64 = 0x3F8;

fn put(port: u64, byte: u8) {
    // Wait for the transmit holding register to be empty, then write.
    while invoke(port, Label::IoPortIn8, &[COM1 + 5], &[]).map(|r| r.words[0] & 0x20 == 0).unwrap_or(false) {}
    let _ = invoke(port, Label::IoPortOut8, &[COM1, u64::from(byte)], &[]);
}

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    tileos_sys::domain::init();
    let (Some(log), Some(port)) = (tileos_sys::domain::cap(CapKind::ServedEndpoint, "log"), tileos_sys::domain::cap(CapKind::IoPort, "0x3f8"))
    else {
        tileos_sys::println!("console: needs the \"log\" endpoint and the COM1 ports 0x3f8; stopping");
        tileos_sys::debug_exit(tileos_abi::test_exit::GuestVerdict::Fail);
    };
    let mut message = tileos_sys::recv(log, true);
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
        message = tileos_sys::reply_recv(log, status, &[]);
    }
}
