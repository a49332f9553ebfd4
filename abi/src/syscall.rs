//! System call numbers and the register convention of the `syscall` instruction.
//!
//! | register | on entry | on return |
//! |---|---|---|
//! | `rax` | syscall number ([`Syscall`]) | clobbered |
//! | `rdi` | capability pointer | badge of the sender (receive paths) |
//! | `rsi` | [`MessageInfo`](crate::message::MessageInfo) word | message info word |
//! | `r10 r8 r9 r15` | message registers 0–3 | message registers 0–3 |
//! | `rcx r11` | clobbered by the CPU | clobbered |
//!
//! All other registers are preserved. Message registers beyond the fourth travel in the
//! IPC buffer.

/// A system call, as passed in `rax`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Syscall {
    /// Send on a capability and wait for the reply (also: invoke a kernel object).
    Call = 1,
    /// Reply to the current caller, then receive on an endpoint or notification.
    ReplyRecv = 2,
    /// Send (blocking) on an endpoint, or signal a notification.
    Send = 3,
    /// Send without blocking: dropped if no receiver waits.
    NbSend = 4,
    /// Receive (blocking) on an endpoint, or wait on a notification.
    Recv = 5,
    /// Receive without blocking (poll).
    NbRecv = 6,
    /// Reply to the current caller.
    Reply = 7,
    /// Give up the rest of the timeslice.
    Yield = 8,
    /// Debug builds only: write the byte in `rdi` to the kernel console.
    DebugPutChar = 9,
    /// Test builds only: end the QEMU run with the verdict in `rdi`
    /// ([`GuestVerdict`](crate::test_exit::GuestVerdict)).
    DebugExit = 10,
    /// Test builds only (kernel feature `testing`): returns in `rdi` a 64-bit FNV-1a
    /// checksum of the kernel's own text and read-only data and in `rsi` their length in
    /// bytes (the fuzz mode's kernel-image witness, docs/fuzzing.md). Nothing else changes.
    DebugKernelChecksum = 11,
    /// Test builds only: message register 0 receives the longest time one system call
    /// spent in the kernel (TSC cycles from entry until the scheduler picks the next
    /// thread) since the previous `DebugLongestEntry`, which starts a new measurement.
    DebugLongestEntry = 12,
    /// Debug builds only: write the first `rdi` bytes (1–[`DEBUG_WRITE_BYTES`]) of message
    /// registers 0–3, packed eight to a register, little-endian, to the kernel console
    /// (`\n` as `\r\n`, like [`Syscall::DebugPutChar`]); `rdi` returns the bytes written
    /// (0 for a count out of range: nothing is written).
    DebugWrite = 13,
    /// Move the reply capability of the call being served (if any) to the empty slot whose
    /// capability pointer is in message register 0, then receive on `rdi` as `Recv` does.
    /// A destination that does not resolve or is not empty ends the call at once with the
    /// label [`LABEL_SAVE_FAILED`](crate::message::LABEL_SAVE_FAILED) (docs/abi.md).
    SaveRecv = 14,
    /// `NbSend` of one message to each of up to [`NB_SEND_ALL_TARGETS`] saved reply
    /// capabilities, in order, in one system call: `rdx` holds how many (1–4), `rdi`,
    /// `r12`, `r13`, `r14` their capability pointers; the message is in `rsi`, the message
    /// registers and the IPC buffer as for any send. Each target gets exactly what `NbSend`
    /// on it would give. `rdi` returns the targets not sent to, bit `i` for target `i` (its
    /// pointer named no reply capability); a count outside 1–4 or a message that transfers
    /// capabilities sends nothing and returns all bits set (docs/abi.md §3.2).
    NbSendAll = 15,
}

/// Most targets of one [`Syscall::NbSendAll`].
pub const NB_SEND_ALL_TARGETS: usize = 4;

/// Most bytes one [`Syscall::DebugWrite`] writes: the four register message words.
pub const DEBUG_WRITE_BYTES: usize = 32;

impl Syscall {
    /// Decodes `rax`; `None` for unknown numbers (the kernel answers with a fault).
    pub fn from_raw(raw: u64) -> Option<Syscall> {
        Some(match raw {
            1 => Syscall::Call,
            2 => Syscall::ReplyRecv,
            3 => Syscall::Send,
            4 => Syscall::NbSend,
            5 => Syscall::Recv,
            6 => Syscall::NbRecv,
            7 => Syscall::Reply,
            8 => Syscall::Yield,
            9 => Syscall::DebugPutChar,
            10 => Syscall::DebugExit,
            11 => Syscall::DebugKernelChecksum,
            12 => Syscall::DebugLongestEntry,
            13 => Syscall::DebugWrite,
            14 => Syscall::SaveRecv,
            15 => Syscall::NbSendAll,
            _ => return None,
        })
    }
}
