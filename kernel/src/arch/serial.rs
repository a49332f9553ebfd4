//! COM1 (16550 UART at I/O port 0x3F8): the kernel log. Polled, no interrupts: the kernel
//! runs with interrupts disabled, and the log must work from the very first line of `kmain`
//! and inside exception and panic reports.

use core::fmt::{self, Write};
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3F8;
/// Line-status register bit: transmit holding register empty.
const LSR_THR_EMPTY: u8 = 0x20;

/// Programs COM1 for 115200 baud, 8 data bits, no parity, one stop bit, FIFOs on.
pub fn init() {
    let setup: [(u16, u8); 6] = [
        (1, 0x00), // no UART interrupts
        (3, 0x80), // DLAB on: next two writes set the divisor
        (0, 0x01), // divisor 1 = 115200 baud
        (1, 0x00),
        (3, 0x03), // DLAB off, 8N1
        (2, 0xC7), // FIFOs on, cleared, 14-byte threshold
    ];
    for (offset, value) in setup {
        // SAFETY: COM1's registers; writing them has no effect beyond the UART.
        unsafe { Port::new(COM1 + offset).write(value) };
    }
}

fn write_byte(byte: u8) {
    let mut status: Port<u8> = Port::new(COM1 + 5);
    let mut data: Port<u8> = Port::new(COM1);
    // SAFETY: reading the line status and writing the data register of COM1.
    unsafe {
        while status.read() & LSR_THR_EMPTY == 0 {}
        data.write(byte);
    }
}

/// Writes `text` to COM1, turning `\n` into `\r\n` for terminals.
pub fn write_str(text: &str) {
    write_bytes(text.as_bytes());
}

/// Writes `bytes` to COM1, turning `\n` into `\r\n` for terminals.
pub fn write_bytes(bytes: &[u8]) {
    for &byte in bytes {
        if byte == b'\n' {
            write_byte(b'\r');
        }
        write_byte(byte);
    }
}

/// `core::fmt` adapter for the kernel log; used by [`kprint!`](crate::kprint).
pub struct SerialLog;

impl Write for SerialLog {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write_str(text);
        Ok(())
    }
}

/// Writes formatted text to COM1. The kernel is built without SSE, but `core`'s formatting
/// is precompiled with it and uses the vector registers: the thread whose vector state is
/// live in the CPU has it saved first, so the log never changes or leaks a thread's
/// registers (docs/security.md; the boot test `kernel_code_uses_no_vector_registers`).
pub fn print(arguments: fmt::Arguments) {
    crate::thread::save_live_vector_state();
    let _ = SerialLog.write_fmt(arguments);
}

/// Prints to the kernel log (COM1).
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => {{
        $crate::arch::serial::print(format_args!($($arg)*));
    }};
}

/// Prints a line to the kernel log (COM1).
#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => {{ $crate::kprint!($($arg)*); $crate::kprint!("\n"); }};
}
