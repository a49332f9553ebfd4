//! Kernel entry points from user mode: system calls, traps (faults and interrupts), and
//! interrupts that arrive while the CPU idles. Each handles one event and leaves through
//! the scheduler ([`thread::run_next`]). Each first takes the big kernel lock
//! (`arch::smp::enter_kernel`; the exit releases it) and charges the time since the kernel
//! last left to the budget it ran on ([`thread::charge_entry`]).
#![deny(unsafe_code)]

use crate::arch::{
    apic,
    entry::SYSCALL_VECTOR,
    trap::{IOAPIC_PINS, IOAPIC_VECTOR_BASE, MSI_VECTORS, RESCHEDULE_VECTOR, SPURIOUS_VECTOR, TIMER_VECTOR, TrapFrame},
};
use crate::invoke::{self, Error};
use crate::ipc::{self, Blocking, SendKind};
use crate::state::{KernelMemory, Reg, kernel, tcb};
use crate::thread::{self, PendingFault};
use tileos_abi::error::LookupFailure;
use tileos_abi::fault;
use tileos_abi::message::MessageInfo;
use tileos_abi::object::Rights;
use tileos_abi::syscall::Syscall;
use tileos_kernel::cap::{Cap, tcb_slot};
use tileos_kernel::cspace::CSpaceMemory;

/// Entered from `syscall_entry` with the caller's registers saved in its TCB.
#[allow(unsafe_code)] // `no_mangle` only: the entry stub calls it by name
#[unsafe(no_mangle)]
extern "C" fn syscall_from_user(_frame: *mut TrapFrame) -> ! {
    let shared = crate::arch::smp::enter_kernel();
    thread::charge_entry();
    #[cfg(feature = "entry-timing")]
    let entered = entry_time::now();
    let caller = kernel().cpu().current;
    if shared && !thread::entered_runnable(caller, true) {
        thread::run_next()
    }
    let context = tcb(caller).context();
    let (cptr, info) = (context.rdi, MessageInfo(context.rsi));
    const CALL: u64 = Syscall::Call as u64;
    const REPLY_RECV: u64 = Syscall::ReplyRecv as u64;
    const YIELD: u64 = Syscall::Yield as u64;
    const NB_SEND: u64 = Syscall::NbSend as u64;
    match context.rax {
        CALL => crate::fastpath::call(caller, cptr, info),
        REPLY_RECV => crate::fastpath::reply_recv(caller, cptr, info),
        YIELD => crate::fastpath::yield_in_place(caller),
        NB_SEND => crate::saved_reply::nb_send(caller, cptr, info),
        _ => {}
    }
    match Syscall::from_raw(context.rax) {
        Some(Syscall::Call) => call(caller, cptr, info),
        Some(Syscall::Send) => send(caller, cptr, info, Blocking::Block),
        Some(Syscall::NbSend) => send(caller, cptr, info, Blocking::Poll),
        Some(Syscall::Recv) => receive(caller, cptr, Blocking::Block),
        Some(Syscall::SaveRecv) => crate::saved_reply::save_recv(caller, cptr, context.r10),
        Some(Syscall::NbSendAll) => crate::saved_reply::nb_send_all(caller, info),
        Some(Syscall::NbRecv) => receive(caller, cptr, Blocking::Poll),
        Some(Syscall::Reply) => reply(caller),
        Some(Syscall::ReplyRecv) => {
            reply(caller);
            receive(caller, cptr, Blocking::Block);
        }
        Some(Syscall::Yield) => thread::yield_current(),
        #[cfg(feature = "debug-console")]
        Some(Syscall::DebugPutChar) => crate::arch::serial::write_str(core::str::from_utf8(&[cptr as u8]).unwrap_or("?")),
        #[cfg(feature = "debug-console")]
        Some(Syscall::DebugWrite) => debug_write(caller, cptr),
        #[cfg(feature = "testing")]
        Some(Syscall::DebugExit) => {
            let verdict = tileos_abi::test_exit::GuestVerdict::ALL.into_iter().find(|v| *v as u64 == cptr);
            crate::arch::cpu::finish(verdict.unwrap_or(tileos_abi::test_exit::GuestVerdict::Fail))
        }
        #[cfg(feature = "testing")]
        Some(Syscall::DebugKernelChecksum) => {
            let (checksum, length) = crate::arch::memory::kernel_image_checksum();
            tcb(caller).set_reg(Reg::Rdi, checksum);
            tcb(caller).set_reg(Reg::Rsi, length);
        }
        #[cfg(feature = "entry-timing")]
        Some(Syscall::DebugLongestEntry) => ipc::set_message_register(caller, 0, entry_time::take_longest()),
        _ => ipc::raise_fault(
            caller,
            PendingFault { label: fault::UNKNOWN_SYSCALL, words: [context.rip, context.rsp, context.rflags, context.rax, 0], length: 4 },
        ),
    }
    #[cfg(feature = "entry-timing")]
    entry_time::record(entered);
    thread::run_next()
}

/// DebugWrite: the first `count` bytes of the caller's register message words to the
/// console (at most 32: bounded work), and the bytes written back in `rdi`.
#[cfg(feature = "debug-console")]
fn debug_write(caller: u64, count: u64) {
    use tileos_abi::syscall::DEBUG_WRITE_BYTES;
    let mut written = 0;
    if (1..=DEBUG_WRITE_BYTES as u64).contains(&count) {
        let mut bytes = [0; DEBUG_WRITE_BYTES];
        for (index, chunk) in bytes.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&ipc::message_register(caller, index).to_le_bytes());
        }
        crate::arch::serial::write_bytes(&bytes[..count as usize]);
        written = count;
    }
    tcb(caller).set_reg(Reg::Rdi, written);
}

/// Test builds only: the longest time a system call (other than the fastpath's) spent in
/// the kernel, from entry until the scheduler is called, in TSC cycles. The kernel suite
/// reads it to check that preemptible operations keep every kernel entry short.
#[cfg(feature = "entry-timing")]
mod entry_time {
    use core::sync::atomic::{AtomicU64, Ordering};

    static LONGEST: AtomicU64 = AtomicU64::new(0);

    pub fn now() -> u64 {
        crate::arch::cpu::timestamp()
    }

    pub fn record(entered: u64) {
        LONGEST.fetch_max(now().wrapping_sub(entered), Ordering::Relaxed);
    }

    /// The longest entry so far; starts a new measurement.
    pub fn take_longest() -> u64 {
        LONGEST.swap(0, Ordering::Relaxed)
    }
}

/// Which half of an IPC a capability fault happened in (the fault message's third word).
#[derive(Clone, Copy)]
enum Phase {
    Send = 0,
    Receive = 1,
}

fn cap_fault(caller: u64, cptr: u64, phase: Phase, failure: Option<LookupFailure>) {
    let rip = tcb(caller).reg(Reg::Rip);
    let code = failure.map_or(0, |f| f as u64);
    ipc::raise_fault(caller, PendingFault { label: fault::CAP_FAULT, words: [rip, cptr, phase as u64, code, 0], length: 4 });
}

/// Call: an endpoint call, a signal, a reply, or an invocation with its result as the reply.
/// A pointer that does not resolve is answered with a FailedLookup error.
fn call(caller: u64, cptr: u64, info: MessageInfo) {
    let slot = match ipc::lookup_slot(caller, cptr) {
        Ok(slot) => slot,
        Err(failure) => return invoke::write_reply(caller, Err(Error::lookup(true, failure))),
    };
    match KernelMemory.read(slot).cap {
        Cap::Endpoint { paddr, badge, rights } if rights.contains(Rights::WRITE) => {
            ipc::send(caller, paddr, badge, rights, Blocking::Block, SendKind::Call);
        }
        Cap::Notification { paddr, badge, rights } if rights.contains(Rights::WRITE) => {
            ipc::signal(paddr, badge);
            invoke::write_reply(caller, Ok(0));
        }
        Cap::Endpoint { .. } | Cap::Notification { .. } => {
            invoke::write_reply(caller, Err(Error::argument(tileos_abi::error::InvocationError::InvalidCapability, 0)));
        }
        Cap::Reply { .. } => {
            ipc::reply_through(caller, slot);
        }
        _ => invoke::write_reply(caller, invoke::invoke(caller, slot, info)),
    }
}

/// Send/NBSend: a message, a signal, a reply, or an invocation whose result is dropped.
fn send(caller: u64, cptr: u64, info: MessageInfo, blocking: Blocking) {
    let slot = match ipc::lookup_slot(caller, cptr) {
        Ok(slot) => slot,
        Err(failure) => {
            if blocking == Blocking::Block {
                cap_fault(caller, cptr, Phase::Send, Some(failure));
            }
            return;
        }
    };
    match KernelMemory.read(slot).cap {
        Cap::Endpoint { paddr, badge, rights } if rights.contains(Rights::WRITE) => {
            ipc::send(caller, paddr, badge, rights, blocking, SendKind::Send);
        }
        Cap::Notification { paddr, badge, rights } if rights.contains(Rights::WRITE) => ipc::signal(paddr, badge),
        Cap::Reply { .. } => crate::saved_reply::reply(caller, slot, info),
        Cap::Endpoint { .. } | Cap::Notification { .. } => {
            if blocking == Blocking::Block {
                cap_fault(caller, cptr, Phase::Send, None);
            }
        }
        _ => {
            if invoke::invoke(caller, slot, info) == Ok(invoke::RESTART) {
                invoke::restart(caller);
            }
        }
    }
}

/// Recv/NBRecv: receive on an endpoint or wait on / poll a notification.
pub fn receive(caller: u64, cptr: u64, blocking: Blocking) {
    let slot = match ipc::lookup_slot(caller, cptr) {
        Ok(slot) => slot,
        Err(failure) => return cap_fault(caller, cptr, Phase::Receive, Some(failure)),
    };
    match KernelMemory.read(slot).cap {
        Cap::Endpoint { paddr, rights, .. } if rights.contains(Rights::READ) => {
            ipc::receive(caller, paddr, rights, blocking);
        }
        Cap::Notification { paddr, rights, .. } if rights.contains(Rights::READ) => ipc::wait(caller, paddr, blocking),
        _ => cap_fault(caller, cptr, Phase::Receive, None),
    }
}

/// Reply: answer the caller this thread is serving, if any.
fn reply(caller: u64) {
    let info = MessageInfo(tcb(caller).reg(Reg::Rsi));
    crate::saved_reply::reply(caller, thread::tcb_slot_address(caller, tcb_slot::REPLY), info);
}

/// Handles an interrupt vector: timer tick or device interrupt.
fn interrupt(vector: u64) {
    match vector {
        TIMER_VECTOR => {
            crate::arch::iommu::report_faults();
            thread::timer_tick()
        }
        SPURIOUS_VECTOR => return,
        // Only makes this CPU enter the kernel and run its scheduler (`arch::smp`).
        RESCHEDULE_VECTOR => {}
        v if (IOAPIC_VECTOR_BASE..IOAPIC_VECTOR_BASE + IOAPIC_PINS + MSI_VECTORS).contains(&v) => {
            crate::invoke::irq::deliver((v - IOAPIC_VECTOR_BASE) as u8);
        }
        _ => {}
    }
    apic::end_of_interrupt();
}

/// A trap from user mode: an interrupt, or a fault of the running thread.
pub fn user_trap(vector: u64, error_code: u64, fault_address: u64) -> ! {
    let shared = crate::arch::smp::enter_kernel();
    thread::charge_entry();
    let current = kernel().cpu().current;
    if vector >= TIMER_VECTOR && vector != SYSCALL_VECTOR {
        interrupt(vector);
    } else if !shared || thread::entered_runnable(current, false) {
        let context = tcb(current).context();
        let fault = if vector == 14 {
            PendingFault { label: fault::VM_FAULT, words: [context.rip, fault_address, (error_code >> 4) & 1, error_code, 0], length: 4 }
        } else {
            PendingFault { label: fault::USER_EXCEPTION, words: [context.rip, context.rsp, context.rflags, vector, error_code], length: 5 }
        };
        ipc::raise_fault(current, fault);
    }
    thread::run_next()
}

/// An interrupt that arrived while the CPU idled in the kernel.
pub fn interrupt_while_idle(vector: u64) -> ! {
    let _ = crate::arch::smp::enter_kernel();
    thread::charge_entry();
    interrupt(vector);
    thread::run_next()
}
