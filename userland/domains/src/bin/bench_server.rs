//! The benchmark peer domain, in its own address space. Its first granted capability
//! (slot 4) is an endpoint or notification; `rdi` at entry selects the loop:
//! 0: one-word echo server (ReplyRecv), 1: four-word echo server,
//! 2: notification ping-pong (wait on slot 4, signal slot 5, repeat),
//! 3: mirror server — replies with the label and words it received — for the protocol-call
//! figures (docs/telemetry.md): the echo protocol's `Increment(n)` and `Number(n)` encode
//! alike, so the client decodes the mirrored request as the answer, and the figure holds the
//! client's side of a protocol call without the server's decoding and encoding (nor the
//! code for them in this program, whose size `domain_spawn` measures).
#![no_std]
#![no_main]

extern crate tileos_rt;

use tileos_abi::bootinfo::domain;
use tileos_abi::message::MessageInfo;
use tileos_abi::syscall::Syscall;
use tileos_sys::raw_syscall;

const FIRST: u64 = domain::FIRST_GRANTED;

/// Entry: `mode` selects the benchmark loop.
#[unsafe(no_mangle)]
extern "C" fn _start(mode: u64) -> ! {
    tileos_sys::set_ipc_buffer(domain::IPC_BUFFER_VADDR);
    match mode {
        0 | 1 => {
            let length = if mode == 0 { 1 } else { 4 };
            let mut message = raw_syscall(Syscall::Recv, FIRST, MessageInfo::default(), [0; 4]);
            loop {
                message = raw_syscall(Syscall::ReplyRecv, FIRST, MessageInfo::new(0, 0, 0, length), message.words);
            }
        }
        3 => {
            let mut message = raw_syscall(Syscall::Recv, FIRST, MessageInfo::default(), [0; 4]);
            loop {
                let mirrored = MessageInfo::new(message.info.label(), 0, 0, message.info.length() as u64);
                message = raw_syscall(Syscall::ReplyRecv, FIRST, mirrored, message.words);
            }
        }
        _ => loop {
            raw_syscall(Syscall::Recv, FIRST, MessageInfo::default(), [0; 4]);
            raw_syscall(Syscall::Send, FIRST + 1, MessageInfo::default(), [0; 4]);
        },
    }
}
