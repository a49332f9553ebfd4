//! Fault messages: when a thread faults, the kernel sends one of these to the thread's
//! fault endpoint as if the thread had made a Call, with the label naming the fault kind.
//! Replying to it (any label) restarts the thread at its current instruction pointer,
//! after the handler may have changed its registers or mappings.

/// A capability the thread used did not resolve or had the wrong type.
/// MR0: instruction pointer, MR1: capability pointer, MR2: 1 if it was a receive,
/// MR3: [`LookupFailure`](crate::error::LookupFailure) code (0 when the type was wrong).
pub const CAP_FAULT: u64 = 1;
/// The thread executed `syscall` with an unknown number.
/// MR0: instruction pointer, MR1: stack pointer, MR2: flags, MR3: syscall number.
pub const UNKNOWN_SYSCALL: u64 = 2;
/// A CPU exception other than a page fault (divide error, invalid opcode, general
/// protection, …). MR0: instruction pointer, MR1: stack pointer, MR2: flags,
/// MR3: vector, MR4: CPU error code.
pub const USER_EXCEPTION: u64 = 3;
/// A page fault. MR0: instruction pointer, MR1: faulting address (CR2),
/// MR2: 1 if an instruction fetch, MR3: CPU page-fault error code.
pub const VM_FAULT: u64 = 5;
