//! Threads: the TCB object, thread states, and the scheduler (fixed priorities 0–255,
//! round robin with a timeslice within a priority, the highest ready priority always runs,
//! except threads that used up their scheduling budget, which wait in the depleted queue,
//! and passive threads with no donated budget, which are parked), and the charging of
//! budgets at kernel entry and exit.
#![deny(unsafe_code)]

use crate::arch::{entry, paging, trap::TrapFrame};
use crate::state::{KernelMemory, fpu_owner, kernel, set_fpu_owner, tcb};
use tileos_kernel::budget::Budget;
use tileos_kernel::cap::{Cap, TCB_SLOT_COUNT, tcb_slot};
use tileos_kernel::cspace::{Slot, SlotRef, slot_address};
use tileos_kernel::donation;

/// Timer ticks a thread may run before others of its priority get the CPU.
pub const TIMESLICE_TICKS: u32 = 2;

/// What a thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Not started, suspended, or stopped after an unhandled fault.
    Inactive,
    /// Running or ready to run.
    Runnable,
    /// Waiting to send on `endpoint` (a Send, a Call, or a fault message).
    BlockedOnSend {
        /// Endpoint waited on.
        endpoint: u64,
        /// Badge of the capability used.
        badge: u64,
        /// The capability used had the grant right.
        can_grant: bool,
        /// The capability used had the grant-reply right.
        can_grant_reply: bool,
        /// A Call (or fault): the sender then waits for the reply.
        is_call: bool,
    },
    /// Waiting to receive on `endpoint`.
    BlockedOnReceive {
        /// Endpoint waited on.
        endpoint: u64,
        /// The capability used had the grant right (may receive capabilities).
        can_grant: bool,
    },
    /// Waiting for the reply to a Call or fault message.
    BlockedOnReply,
    /// Waiting on a notification.
    BlockedOnNotification {
        /// Notification waited on.
        notification: u64,
    },
}

/// A fault waiting to be delivered as a message: label and message words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingFault {
    /// Fault kind (`tileos_abi::fault`).
    pub label: u64,
    /// Message words.
    pub words: [u64; 5],
    /// Number of valid words.
    pub length: usize,
}

/// 512-byte `fxsave` area (16-byte aligned).
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub struct FpuState(pub [u8; 512]);

/// A thread control block, stored at the start of its 2 KiB TCB object.
#[repr(C, align(16))]
pub struct Tcb {
    /// CSpace root, VSpace root, IPC buffer frame, reply capability, fault endpoint
    /// (indices in [`tcb_slot`]). Real CNode slots, so the CDT tracks them.
    pub slots: [Slot; TCB_SLOT_COUNT as usize],
    /// FPU/SSE state while the thread is not running.
    pub fpu: FpuState,
    /// User registers while the thread is in the kernel or not running.
    pub context: TrapFrame,
    /// Current state.
    pub state: ThreadState,
    /// Scheduling priority.
    pub priority: u8,
    /// Maximum controlled priority: highest priority this thread may give any thread.
    pub mcp: u8,
    /// Queue links (ready queue or wait queue).
    pub queue_prev: u64,
    /// Queue links (ready queue or wait queue).
    pub queue_next: u64,
    /// Bound notification (0: none).
    pub bound_notification: u64,
    /// User address of the IPC buffer (its frame is in the IPC-buffer slot).
    pub ipc_buffer_vaddr: u64,
    /// While blocked on reply: the slot holding the capability to reply to this thread.
    pub reply_slot: SlotRef,
    /// While blocked on reply: the server whose TCB reply slot holds the capability to reply
    /// to this thread, which gives back the budget donated to it with the reply (0: none, or
    /// the capability was saved into a CNode, where it names no server).
    pub reply_server: u64,
    /// A fault to send to the fault endpoint.
    pub fault: Option<PendingFault>,
    /// Timer ticks left in the current timeslice.
    pub timeslice: u32,
    /// Scheduling budget: its creator's limits when retyped (unlimited for an unbudgeted
    /// creator), changed by `TcbSetSchedParams`.
    pub budget: Budget,
    /// Runnable but out of budget: in the depleted queue instead of a ready queue.
    pub depleted: bool,
    /// Timer ticks that interrupted this thread while it ran (`TcbConsumedTime`, word 0).
    pub consumed_ticks: u64,
    /// Time-stamp-counter cycles charged to this thread's budget, precisely, at every
    /// kernel entry and exit (`TcbConsumedTime`, word 1): its own running time, and that of
    /// passive servers running on the budget it donated.
    pub consumed_cycles: u64,
    /// No budget of its own: runs only on budgets donated by its callers
    /// (`TcbSetPassive`, `tileos_kernel::donation`).
    pub passive: bool,
    /// TCB whose budget the thread runs on (0: its own).
    pub donor: u64,
    /// The thread running on this thread's budget (0: none but this one).
    pub borrower: u64,
    /// Runnable but without a budget to run on (passive, nothing donated): in no queue.
    pub parked: bool,
    /// Passed a donated budget on with its Call; takes back what its server returns.
    pub awaits_return: bool,
}

const _: () = assert!(core::mem::size_of::<Tcb>() <= 1 << tileos_abi::object::TCB_SIZE_BITS);

impl Tcb {
    /// A new, inactive thread with priority 0 and initial FPU state.
    pub fn new() -> Tcb {
        let mut fpu = FpuState([0; 512]);
        fpu.0[0..2].copy_from_slice(&0x037Fu16.to_le_bytes()); // x87 control word
        fpu.0[24..28].copy_from_slice(&0x1F80u32.to_le_bytes()); // MXCSR: all exceptions masked
        let context = TrapFrame { cs: 0x23, ss: 0x1b, rflags: 0x202, ..TrapFrame::default() };
        Tcb {
            slots: [Slot::EMPTY; TCB_SLOT_COUNT as usize],
            fpu,
            context,
            state: ThreadState::Inactive,
            priority: 0,
            mcp: 0,
            queue_prev: 0,
            queue_next: 0,
            bound_notification: 0,
            ipc_buffer_vaddr: 0,
            reply_slot: SlotRef::NONE,
            reply_server: 0,
            fault: None,
            timeslice: TIMESLICE_TICKS,
            budget: Budget::UNLIMITED,
            depleted: false,
            consumed_ticks: 0,
            consumed_cycles: 0,
            passive: false,
            donor: 0,
            borrower: 0,
            parked: false,
            awaits_return: false,
        }
    }
}

/// Address of slot `index` of the TCB at `paddr`.
pub const fn tcb_slot_address(paddr: u64, index: u64) -> SlotRef {
    slot_address(paddr, index)
}

impl donation::Threads for KernelMemory {
    fn passive(&self, thread: u64) -> bool {
        tcb(thread).passive()
    }
    fn donor(&self, thread: u64) -> u64 {
        tcb(thread).donor()
    }
    fn set_donor(&mut self, thread: u64, donor: u64) {
        tcb(thread).set_donor(donor);
    }
    fn borrower(&self, owner: u64) -> u64 {
        tcb(owner).borrower()
    }
    fn set_borrower(&mut self, owner: u64, borrower: u64) {
        tcb(owner).set_borrower(borrower);
    }
    fn awaits_return(&self, thread: u64) -> bool {
        tcb(thread).awaits_return()
    }
    fn set_awaits_return(&mut self, thread: u64, awaits: bool) {
        tcb(thread).set_awaits_return(awaits);
    }
}

/// The TCB whose budget `thread` runs on (`None`: passive, nothing donated).
#[inline(always)]
pub fn holder(thread: u64) -> Option<u64> {
    donation::holder(&KernelMemory, thread)
}

/// Whether `thread` has a budget to run on now (one not depleted).
#[inline(always)]
pub fn has_budget(thread: u64) -> bool {
    holder(thread).is_some_and(|owner| !tcb(owner).budget_depleted(kernel().ticks))
}

/// Queues a runnable thread that is not running: ready at its priority, depleted if the
/// budget it runs on is used up in the current period, parked (in no queue) if it has none.
fn enqueue(thread: u64) {
    let k = kernel();
    let t = tcb(thread);
    match holder(thread) {
        None => t.set_parked(true),
        Some(owner) if tcb(owner).budget_depleted(k.ticks) => {
            t.set_depleted(true);
            k.depleted.push_back(&mut KernelMemory, thread);
        }
        Some(_) => k.ready.enqueue(&mut KernelMemory, thread, t.priority()),
    }
}

/// Makes `thread` runnable and, unless it is the running thread, ready.
pub fn make_runnable(thread: u64) {
    let t = tcb(thread);
    let was_ready = t.state() == ThreadState::Runnable;
    t.set_state(ThreadState::Runnable);
    if !was_ready && thread != kernel().current {
        enqueue(thread);
    }
}

/// Takes `thread` out of the ready (or depleted) queue if it is there (it is about to
/// block or stop, or change priority or budget).
pub fn leave_ready_queue(thread: u64) {
    let t = tcb(thread);
    if t.depleted() {
        t.set_depleted(false);
        kernel().depleted.remove(&mut KernelMemory, thread);
    } else if t.parked() {
        t.set_parked(false);
    } else if t.state() == ThreadState::Runnable && thread != kernel().current {
        let priority = t.priority();
        kernel().ready.dequeue(&mut KernelMemory, thread, priority);
    }
}

/// Queues `thread` again after the budget it runs on changed (0: none). The running thread
/// is checked when the kernel leaves ([`run_next`]).
pub fn requeue(thread: u64) {
    if thread == 0 || thread == kernel().current {
        return;
    }
    leave_ready_queue(thread);
    if tcb(thread).state() == ThreadState::Runnable {
        enqueue(thread);
    }
}

/// Changes the priority of `thread`, moving it between ready queues if needed.
pub fn set_priority(thread: u64, priority: u8) {
    leave_ready_queue(thread);
    tcb(thread).set_priority(priority);
    if tcb(thread).state() == ThreadState::Runnable && thread != kernel().current {
        enqueue(thread);
    }
}

/// Gives `thread` a new budget, starting with a full one (a depleted thread may run again).
pub fn set_budget(thread: u64, budget: Budget) {
    tcb(thread).set_budget(budget);
    requeue(thread);
    requeue(tcb(thread).borrower());
}

/// Makes `thread` passive (it runs only on donated budgets) or active (on its own).
pub fn set_passive(thread: u64, passive: bool) {
    tcb(thread).set_passive(passive);
    requeue(thread);
}

/// Forgets a destroyed thread: it no longer runs, owns the FPU or lends or borrows a budget.
pub fn forget(thread: u64) {
    requeue(donation::forget(&mut KernelMemory, thread));
    let k = kernel();
    if k.current == thread {
        k.current = 0;
    }
    if k.charged == thread {
        k.charged = 0;
    }
    if fpu_owner() == thread {
        set_fpu_owner(0);
    }
}

/// Moves the running thread behind the other ready threads of its priority.
pub fn yield_current() {
    let current = kernel().current;
    if current != 0 && tcb(current).state() == ThreadState::Runnable {
        let priority = tcb(current).priority();
        kernel().ready.enqueue(&mut KernelMemory, current, priority);
        kernel().current = 0;
        save_fpu(current);
    }
}

/// Charges the time since the last kernel entry or exit to the budget it ran on: the first
/// thing every kernel entry does (precise charging, `tileos_kernel::budget`).
#[inline(always)]
pub fn charge_entry() {
    let k = kernel();
    let now = crate::state::timestamp();
    if k.charged != 0 {
        tcb(k.charged).charge_budget(now.wrapping_sub(k.charge_mark), k.ticks);
    }
    k.charge_mark = now;
}

/// Charges the kernel's time to the budget of the thread that entered it, and charges the
/// time from now on to the budget `next` runs on (0: the CPU idles): the last thing before
/// the kernel leaves.
#[inline(always)]
fn charge_exit(next: u64) {
    charge_entry();
    kernel().charged = if next == 0 { 0 } else { holder(next).unwrap_or(0) };
}

/// Timer tick: refill the depleted threads whose budget's period ended, and count the tick
/// to the running thread, which yields at the end of its timeslice (its budget was charged
/// on entry; a used-up budget stops it as the kernel leaves). The depleted queue is walked
/// whole (it holds only threads that ran out of budget).
pub fn timer_tick() {
    let k = kernel();
    k.ticks += 1;
    let now = k.ticks;
    let mut next = k.depleted.head;
    while next != 0 {
        let thread = tcb(next);
        next = thread.queue_next();
        // A thread in the depleted queue has a budget (it was queued so); a thread whose
        // budget went away meanwhile was requeued.
        let Some(owner) = holder(thread.0) else { continue };
        let mut budget = tcb(owner).budget();
        let refilled = budget.refill(now);
        tcb(owner).set_budget(budget);
        if refilled {
            k.depleted.remove(&mut KernelMemory, thread.0);
            thread.set_depleted(false);
            k.ready.enqueue(&mut KernelMemory, thread.0, thread.priority());
        }
    }
    let current = k.current;
    if current == 0 {
        return;
    }
    let t = tcb(current);
    t.set_consumed_ticks(t.consumed_ticks().saturating_add(1));
    t.set_timeslice(t.timeslice().saturating_sub(1));
    if t.timeslice() == 0 {
        t.set_timeslice(TIMESLICE_TICKS);
        yield_current();
    }
}

/// Stops the running thread if it has no budget left to run on (used up, given back, or
/// never donated): it waits in the depleted queue or, passive, parked.
fn stop_without_budget() {
    let current = kernel().current;
    if current != 0 && tcb(current).state() == ThreadState::Runnable && !has_budget(current) {
        tcb(current).set_timeslice(TIMESLICE_TICKS);
        kernel().current = 0;
        save_fpu(current);
        enqueue(current);
    }
}

/// Saves `thread`'s FPU state if it is live in the CPU.
fn save_fpu(thread: u64) {
    if fpu_owner() == thread {
        tcb(thread).save_fpu();
        set_fpu_owner(0);
    }
}

/// Picks the thread to run next: the running thread keeps the CPU unless it stopped being
/// runnable or a thread of higher priority is ready.
fn choose() -> u64 {
    let k = kernel();
    let current = k.current;
    let highest = k.ready.highest();
    if current != 0 && tcb(current).state() == ThreadState::Runnable {
        match highest {
            Some(priority) if priority > tcb(current).priority() => {
                let p = tcb(current).priority();
                k.ready.enqueue_front(&mut KernelMemory, current, p);
            }
            _ => return current,
        }
    }
    match k.ready.highest() {
        Some(priority) => {
            let next = k.ready.first(priority).unwrap_or(0);
            k.ready.dequeue(&mut KernelMemory, next, priority);
            next
        }
        None => 0,
    }
}

/// Switches straight to `thread` (the fastpath: the running thread has just blocked and
/// `thread` is known to be the right one to run). Inlined with [`switch_to`] into the
/// fastpath: no call frame on the IPC path.
#[inline(always)]
pub fn switch_direct(thread: u64) {
    switch_to(thread);
    charge_exit(thread);
}

/// Leaves the kernel to `thread`, the running thread, which keeps the CPU (the fastpath's
/// Yield): its address space, register save area and budget holder ([`Kernel::charged`],
/// set when it last started to run) are still in place, so only its FPU state may need
/// loading (the kernel log may have saved it) and the kernel's time is charged.
///
/// [`Kernel::charged`]: crate::state::Kernel::charged
pub fn resume_current(thread: u64) -> ! {
    if fpu_owner() != thread {
        tcb(thread).restore_fpu();
        set_fpu_owner(thread);
    }
    charge_entry();
    entry::return_to_user(tcb(thread).context_ptr())
}

/// Installs `thread` on the CPU: its address space, FPU state and register save area. A
/// thread whose VSpace slot holds no PML4 (never configured, or the capability was deleted
/// or revoked) runs in the kernel-only address space, where its first instruction fetch is a
/// page fault: it never runs in the previous thread's. Passing to another address space
/// loads the null selector into DS, ES, FS and GS, so selectors never cross a domain
/// boundary (threads of one address space share their memory anyway).
#[inline]
fn switch_to(thread: u64) {
    let previous = kernel().current;
    if previous != thread && previous != 0 {
        save_fpu(previous);
    }
    kernel().current = thread;
    let t = tcb(thread);
    match t.slot_cap(tcb_slot::VSPACE) {
        Cap::Pml4 { paddr, .. } => paging::activate(paddr),
        _ => paging::activate(paging::kernel_only()),
    }
    if fpu_owner() != thread {
        t.restore_fpu();
        set_fpu_owner(thread);
    }
    entry::set_current_context(t.context_ptr());
}

/// Saves the vector registers of the thread whose state is live in the CPU, so that kernel
/// code compiled with SSE (only `core`'s precompiled formatting, reached through the kernel
/// log) cannot change or leak them: the owner's state is restored before it next runs.
pub fn save_live_vector_state() {
    let owner = fpu_owner();
    if owner != 0 {
        save_fpu(owner);
    }
}

/// Leaves the kernel: runs the chosen thread, or idles until an interrupt.
pub fn run_next() -> ! {
    stop_without_budget();
    let next = choose();
    if next == 0 {
        if kernel().current != 0 {
            save_fpu(kernel().current);
        }
        kernel().current = 0;
        charge_exit(0);
        entry::idle();
    }
    switch_to(next);
    charge_exit(next);
    entry::return_to_user(tcb(next).context_ptr())
}
