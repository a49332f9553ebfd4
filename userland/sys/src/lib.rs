//! System calls and kernel-object invocations for tileos user-space binaries (the root
//! server and domains): the register convention of `docs/abi.md` wrapped in functions, the
//! IPC buffer, debug output, and the panic hooks `tileos-rt` needs.
//!
//! This is the thin bottom layer; typed capability handles and service protocols build on
//! it.
#![no_std]

pub mod cap;
pub mod domain;
pub mod module;
pub mod probe;
pub mod rpc;
pub mod skeleton;
pub mod stack;
pub mod telemetry;

#[doc(hidden)]
pub use tileos_abi::manifest as __manifest;
#[doc(hidden)]
pub use tileos_mmio as __mmio;

use core::arch::asm;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::{Label, Method, Sink};
use tileos_abi::message::{MAX_MESSAGE_WORDS, MessageInfo, REGISTER_MESSAGE_WORDS, ipc_buffer};
use tileos_abi::syscall::Syscall;
use tileos_abi::test_exit::GuestVerdict;

/// A received (or reply) message: sender badge, info word and the four register words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    /// Badge of the sender's capability (receive paths) or the notification word.
    pub badge: u64,
    /// Label, length and capability counts.
    pub info: MessageInfo,
    /// Message registers 0–3.
    pub words: [u64; REGISTER_MESSAGE_WORDS],
}

/// Issues system call `number` with the full register convention.
#[inline(always)]
pub fn raw_syscall(number: Syscall, cptr: u64, info: MessageInfo, words: [u64; 4]) -> Message {
    let (badge, info_out, w0, w1, w2, w3): (u64, u64, u64, u64, u64, u64);
    // SAFETY: the syscall instruction enters the kernel, which preserves every register
    // except rax, rdi, rsi, the message registers, rcx and r11, all declared here.
    unsafe {
        asm!(
            "syscall",
            inout("rax") number as u64 => _,
            inout("rdi") cptr => badge,
            inout("rsi") info.0 => info_out,
            inout("r10") words[0] => w0,
            inout("r8") words[1] => w1,
            inout("r9") words[2] => w2,
            inout("r15") words[3] => w3,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    Message { badge, info: MessageInfo(info_out), words: [w0, w1, w2, w3] }
}

/// `NbSendAll` (docs/abi.md §3.2): the message `info` and `words` (and the IPC buffer's
/// words beyond them, placed before) to each of `targets`, saved reply capabilities, in
/// order, in one system call. At most [`NB_SEND_ALL_TARGETS`] targets; the kernel sends
/// nothing for none, or more (their count is passed as it is; only the first four go in
/// registers). Returns the targets not sent to, bit `i` for `targets[i]` (it named no reply
/// capability); all bits set when nothing was sent.
///
/// [`NB_SEND_ALL_TARGETS`]: tileos_abi::syscall::NB_SEND_ALL_TARGETS
#[inline(always)]
pub fn nb_send_all(targets: &[u64], info: MessageInfo, words: [u64; 4]) -> u64 {
    let at = |index: usize| targets.get(index).copied().unwrap_or(0);
    let not_sent: u64;
    // SAFETY: as for `raw_syscall`; `NbSendAll` also reads rdx, r12, r13 and r14 and
    // preserves them.
    unsafe {
        asm!(
            "syscall",
            inout("rax") Syscall::NbSendAll as u64 => _,
            inout("rdi") at(0) => not_sent,
            inout("rsi") info.0 => _,
            in("rdx") targets.len() as u64,
            in("r12") at(1),
            in("r13") at(2),
            in("r14") at(3),
            inout("r10") words[0] => _,
            inout("r8") words[1] => _,
            inout("r9") words[2] => _,
            inout("r15") words[3] => _,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    not_sent
}

/// User address of this thread's IPC buffer (set by [`set_ipc_buffer`]).
static IPC_BUFFER: AtomicU64 = AtomicU64::new(0);

/// Tells the library where this thread's IPC buffer is mapped.
pub fn set_ipc_buffer(vaddr: u64) {
    IPC_BUFFER.store(vaddr, Ordering::Relaxed);
}

/// Word `index` of the IPC buffer.
pub fn buffer_word(index: usize) -> u64 {
    let base = IPC_BUFFER.load(Ordering::Relaxed);
    if base == 0 || index >= ipc_buffer::SIZE / 8 {
        return 0;
    }
    // SAFETY: the IPC buffer is mapped at `base` for the thread's lifetime.
    unsafe { ((base as *const u64).add(index)).read_volatile() }
}

/// Sets word `index` of the IPC buffer.
pub fn set_buffer_word(index: usize, value: u64) {
    let base = IPC_BUFFER.load(Ordering::Relaxed);
    if base != 0 && index < ipc_buffer::SIZE / 8 {
        // SAFETY: as for `buffer_word`.
        unsafe { ((base as *mut u64).add(index)).write_volatile(value) };
    }
}

/// Places a message: the first four words go in registers, the rest in the IPC buffer.
/// Returns the register words.
fn stage(words: &[u64], caps: &[u64]) -> [u64; 4] {
    let mut registers = [0; 4];
    for (index, &word) in words.iter().enumerate().take(MAX_MESSAGE_WORDS) {
        if index < REGISTER_MESSAGE_WORDS {
            registers[index] = word;
        } else {
            set_buffer_word(ipc_buffer::MSG + index, word);
        }
    }
    for (index, &cptr) in caps.iter().enumerate().take(3) {
        set_buffer_word(ipc_buffer::CAPS_OR_BADGES + index, cptr);
    }
    registers
}

/// Call: send `words` (and capabilities `caps`) with `label` on `cptr`, wait for the reply.
pub fn call(cptr: u64, label: u64, words: &[u64], caps: &[u64]) -> Message {
    let registers = stage(words, caps);
    let info = MessageInfo::new(label, 0, caps.len().min(3) as u64, words.len().min(MAX_MESSAGE_WORDS) as u64);
    raw_syscall(Syscall::Call, cptr, info, registers)
}

/// Send (blocking) or NBSend.
pub fn send(cptr: u64, label: u64, words: &[u64], caps: &[u64], blocking: bool) {
    let registers = stage(words, caps);
    let info = MessageInfo::new(label, 0, caps.len().min(3) as u64, words.len().min(MAX_MESSAGE_WORDS) as u64);
    raw_syscall(if blocking { Syscall::Send } else { Syscall::NbSend }, cptr, info, registers);
}

/// Recv (blocking) or NBRecv on an endpoint or notification.
pub fn recv(cptr: u64, blocking: bool) -> Message {
    raw_syscall(if blocking { Syscall::Recv } else { Syscall::NbRecv }, cptr, MessageInfo::default(), [0; 4])
}

/// Reply to the current caller, then receive on `cptr`.
pub fn reply_recv(cptr: u64, label: u64, words: &[u64]) -> Message {
    let registers = stage(words, &[]);
    let info = MessageInfo::new(label, 0, 0, words.len().min(MAX_MESSAGE_WORDS) as u64);
    raw_syscall(Syscall::ReplyRecv, cptr, info, registers)
}

/// Reply to the current caller.
pub fn reply(label: u64, words: &[u64]) {
    let registers = stage(words, &[]);
    let info = MessageInfo::new(label, 0, 0, words.len().min(MAX_MESSAGE_WORDS) as u64);
    raw_syscall(Syscall::Reply, 0, info, registers);
}

/// The time-stamp counter (`rdtsc`): ticks since reset, for timeouts and measurements.
#[inline(always)]
pub fn timestamp() -> u64 {
    // SAFETY: `rdtsc` only reads the counter; the kernel never sets CR4.TSD, so it is
    // allowed at CPL 3.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Gives up the rest of the timeslice.
pub fn yield_now() {
    raw_syscall(Syscall::Yield, 0, MessageInfo::default(), [0; 4]);
}

/// Gives up the processor, timeslice after timeslice, until `ms` milliseconds have passed on
/// the time-stamp counter (there is no timer service: the domain still runs when nothing
/// else wants the processor).
pub fn pause_ms(ms: u64) {
    let tsc_per_ms = domain::info().tsc_per_ms.max(1);
    let until = timestamp().saturating_add(ms.saturating_mul(tsc_per_ms));
    while timestamp() < until {
        yield_now();
    }
}

/// The successful result of an invocation: reply words (registers and IPC buffer).
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    /// Message info of the reply.
    pub info: MessageInfo,
    /// First four reply words.
    pub words: [u64; 4],
}

impl Reply {
    /// Reply word `index` (registers, then IPC buffer).
    pub fn word(&self, index: usize) -> u64 {
        if index < 4 { self.words[index] } else { buffer_word(ipc_buffer::MSG + index) }
    }
}

/// A failed invocation: the error code and the two detail words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    /// Error code, or `None` if the label was not a known code.
    pub code: Option<InvocationError>,
    /// Raw reply label.
    pub label: u64,
    /// MR0 and MR1 of the reply.
    pub details: [u64; 2],
}

/// Invokes method `label` on the kernel object `cptr` with arguments and capabilities.
pub fn invoke(cptr: u64, label: Label, args: &[u64], caps: &[u64]) -> Result<Reply, Error> {
    reply_result(call(cptr, label as u64, args, caps))
}

/// An invocation's reply as a result: label 0 is success, any other an error code.
fn reply_result(reply: Message) -> Result<Reply, Error> {
    match reply.info.label() {
        0 => Ok(Reply { info: reply.info, words: reply.words }),
        code => Err(Error { code: InvocationError::from_raw(code), label: code, details: [reply.words[0], reply.words[1]] }),
    }
}

/// Invokes the typed invocation `method` on the kernel object `cptr` (the message is
/// `method`'s encoding, `tileos_abi::invocation`). The typed handles of [`cap`] check at
/// compile time that the object has the method; this function does not.
pub fn invoke_method<M: Method>(cptr: u64, method: M) -> Result<Reply, Error> {
    let mut staged = Staged { registers: [0; REGISTER_MESSAGE_WORDS], length: 0, caps: 0 };
    method.encode_to(&mut staged);
    staged.call(cptr, M::LABEL)
}

/// A message being placed as an invocation encodes it: words 0–3 in registers, the rest
/// and the capability pointers in the IPC buffer (as [`call`] places them).
struct Staged {
    registers: [u64; REGISTER_MESSAGE_WORDS],
    length: usize,
    caps: usize,
}

impl Staged {
    /// Makes the call with the staged message. Not generic, and kept out of line, so that
    /// each invocation type adds only its encoding to a program.
    #[inline(never)]
    fn call(&self, cptr: u64, label: Label) -> Result<Reply, Error> {
        let info = MessageInfo::new(label as u64, 0, self.caps as u64, self.length as u64);
        reply_result(raw_syscall(Syscall::Call, cptr, info, self.registers))
    }
}

impl Sink for Staged {
    #[inline]
    fn word(&mut self, word: u64) {
        if self.length < REGISTER_MESSAGE_WORDS {
            self.registers[self.length] = word;
        } else {
            set_buffer_word(ipc_buffer::MSG + self.length, word);
        }
        self.length += 1;
    }
    #[inline]
    fn cap(&mut self, cptr: u64) {
        set_buffer_word(ipc_buffer::CAPS_OR_BADGES + self.caps, cptr);
        self.caps += 1;
    }
}

/// Writes one byte to the kernel console (debug and test kernels only).
pub fn debug_put_char(byte: u8) {
    raw_syscall(Syscall::DebugPutChar, u64::from(byte), MessageInfo::default(), [0; 4]);
}

/// Writes `bytes` to the kernel console (debug and test kernels only), up to 32 bytes per
/// system call (DebugWrite) instead of one.
pub fn debug_write(bytes: &[u8]) {
    for chunk in bytes.chunks(tileos_abi::syscall::DEBUG_WRITE_BYTES) {
        let mut words = [0; 4];
        for (word, eight) in words.iter_mut().zip(chunk.chunks(8)) {
            let mut packed = [0; 8];
            packed[..eight.len()].copy_from_slice(eight);
            *word = u64::from_le_bytes(packed);
        }
        raw_syscall(Syscall::DebugWrite, chunk.len() as u64, MessageInfo::default(), words);
    }
}

/// Ends the QEMU run with `verdict` (test kernels only).
pub fn debug_exit(verdict: GuestVerdict) -> ! {
    raw_syscall(Syscall::DebugExit, verdict as u64, MessageInfo::default(), [0; 4]);
    // Only a kernel without the testing feature gets here (the syscall faults): stop.
    loop {
        yield_now();
    }
}

/// `core::fmt` adapter over [`debug_write`].
pub struct DebugConsole;

impl Write for DebugConsole {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        debug_write(text.as_bytes());
        Ok(())
    }
}

/// Prints to the kernel debug console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{ let _ = core::fmt::Write::write_fmt(&mut $crate::DebugConsole, format_args!($($arg)*)); }};
}

/// Prints a line to the kernel debug console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{ $crate::print!($($arg)*); $crate::print!("\n"); }};
}

/// The text of a structured marker line (docs/architecture.md, "Event lines"), without the
/// newline: `@event NAME key=value …`, the values formatted with `Display` (they must not
/// contain spaces). Boot tests match these instead of the English log line printed beside
/// them, so that rewording a log line breaks no test.
///
/// ```text
/// event_line!("domain.stopped", domain = name, generation = 0)  // @event domain.stopped domain=flaky generation=0
/// ```
#[macro_export]
macro_rules! event_line {
    ($name:literal $(, $key:ident = $value:expr)* $(,)?) => {
        format_args!(concat!("@event ", $name $(, " ", stringify!($key), "={}")*) $(, $value)*)
    };
}

/// Prints an [`event_line!`] to the kernel debug console (the root server's; domains use
/// [`log_event!`]).
#[macro_export]
macro_rules! event {
    ($($arg:tt)*) => { $crate::println!("{}", $crate::event_line!($($arg)*)) };
}

/// Logs an [`event_line!`] through the console domain, as [`log!`] logs a line.
#[macro_export]
macro_rules! log_event {
    ($($arg:tt)*) => { $crate::log!("{}", $crate::event_line!($($arg)*)) };
}

/// Panic output hook for `tileos-rt`: the console domain for domains, the kernel debug
/// console for the root server.
#[unsafe(no_mangle)]
fn tileos_panic_write(text: &str) {
    if domain::is_domain() {
        domain::write(text);
    } else {
        debug_write(text.as_bytes());
    }
}

/// Panic stop hook for `tileos-rt`. A domain stops with an invalid-opcode fault, so its
/// supervisor learns of it (and restarts it per its policy); the root server, which has no
/// supervisor, ends a test run with the panic verdict.
#[unsafe(no_mangle)]
fn tileos_panic_halt() -> ! {
    if domain::is_domain() {
        // SAFETY: deliberately raises #UD; the kernel turns it into a fault message.
        unsafe { asm!("ud2", options(noreturn)) }
    }
    debug_exit(GuestVerdict::Panic)
}
