//! Threads: the TCB object, thread states, and the scheduler (fixed priorities 0–255,
//! round robin with a timeslice within a priority, the highest ready priority always runs,
//! except threads that used up their scheduling budget, which wait in the depleted queue,
//! and passive threads with no donated budget, which are parked), and the charging of
//! budgets at kernel entry and exit.
//!
//! Each CPU schedules its own threads: a thread joins the ready queue of the CPU its
//! affinity names, and a CPU runs only threads of its own queue. Queuing a thread on
//! another CPU sends that CPU a reschedule IPI (`arch::smp`); a thread running on another
//! CPU whose state or affinity changes is taken off it by that CPU itself, at its next
//! kernel entry ([`entered_runnable`], [`run_next`]), after a stall where its registers must
//! be in its TCB first ([`stall_if_running`]).
#![deny(unsafe_code)]

use crate::arch::percpu::this_cpu;
use crate::arch::{entry, paging, trap::TrapFrame};
use crate::state::{KernelMemory, Reg, fpu_owner, kernel, set_fpu_owner, tcb};
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
    /// The CPU the thread runs on: whose ready queue it joins (`TcbSetAffinity`; 0, the
    /// boot CPU, when created).
    pub affinity: u8,
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
            affinity: 0,
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
        Some(_) => make_ready(thread),
    }
}

/// Puts `thread` (runnable, with a budget) in the ready queue of its CPU; another CPU is
/// sent a reschedule IPI.
fn make_ready(thread: u64) {
    let t = tcb(thread);
    let cpu = usize::from(t.affinity());
    if cpu == this_cpu() {
        kernel().cpu().ready.enqueue(&mut KernelMemory, thread, t.priority());
    } else {
        kernel().cpus[cpu].ready.enqueue(&mut KernelMemory, thread, t.priority());
        crate::arch::smp::reschedule(cpu);
    }
}

/// Whether `thread` is the running thread of some CPU.
#[inline(always)]
pub fn is_running(thread: u64) -> bool {
    if !crate::arch::smp::shared() {
        return kernel().cpu().current == thread;
    }
    kernel().cpus[..crate::arch::smp::online()].iter().any(|cpu| cpu.current == thread)
}

/// If `thread` is running on another CPU, makes that CPU leave user mode first
/// (`arch::smp::stall`): afterwards the thread's registers are in its TCB and stay there
/// until this CPU releases the lock, and its address space is not in use.
#[inline(always)]
pub fn stall_if_running(thread: u64) {
    if crate::arch::smp::shared() {
        stall_if_running_elsewhere(thread);
    }
}

/// [`stall_if_running`] when other CPUs run the kernel.
#[inline(never)]
fn stall_if_running_elsewhere(thread: u64) {
    let this = this_cpu();
    let online = crate::arch::smp::online();
    if let Some(cpu) = (0..online).find(|&cpu| cpu != this && kernel().cpus[cpu].current == thread) {
        crate::arch::smp::stall(cpu);
    }
}

/// Whether the event this CPU entered the kernel with is the running thread's to handle:
/// `current` (its running thread) is still runnable here. Another CPU may have destroyed,
/// suspended or moved it while this CPU waited for the lock; then a system call is not
/// performed (`syscall`: the thread, if it still exists, executes it again when it next
/// runs) and a fault is not raised (the instruction faults again).
/// Checked only while the kernel is shared (`arch::smp::enter_kernel`): alone, no other CPU
/// changed it.
#[inline(always)]
pub fn entered_runnable(current: u64, syscall: bool) -> bool {
    if current != 0 && tcb(current).state() == ThreadState::Runnable && usize::from(tcb(current).affinity()) == this_cpu() {
        return true;
    }
    if current != 0 && syscall {
        let t = tcb(current);
        t.set_reg(Reg::Rip, t.reg(Reg::Rip).wrapping_sub(SYSCALL_LENGTH));
    }
    false
}

/// Bytes of the `syscall` instruction.
const SYSCALL_LENGTH: u64 = 2;

/// Makes `thread` runnable and, unless it is the running thread, ready.
pub fn make_runnable(thread: u64) {
    let t = tcb(thread);
    let was_ready = t.state() == ThreadState::Runnable;
    t.set_state(ThreadState::Runnable);
    if !was_ready && !is_running(thread) {
        enqueue(thread);
    }
}

/// Takes `thread` out of the ready (or depleted) queue if it is there (it is about to
/// block or stop, or change priority or budget).
/// A thread running on another CPU is stalled out of user mode first ([`stall_if_running`]):
/// that CPU takes it off when it next takes the lock, if it stopped being runnable there.
pub fn leave_ready_queue(thread: u64) {
    stall_if_running(thread);
    let t = tcb(thread);
    if t.depleted() {
        t.set_depleted(false);
        kernel().depleted.remove(&mut KernelMemory, thread);
    } else if t.parked() {
        t.set_parked(false);
    } else if t.state() == ThreadState::Runnable && !is_running(thread) {
        let priority = t.priority();
        kernel().cpus[usize::from(t.affinity())].ready.dequeue(&mut KernelMemory, thread, priority);
    }
}

/// Queues `thread` again after the budget it runs on changed (0: none). The running thread
/// is checked when the kernel leaves ([`run_next`]).
pub fn requeue(thread: u64) {
    if thread == 0 || is_running(thread) {
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
    if tcb(thread).state() == ThreadState::Runnable && !is_running(thread) {
        enqueue(thread);
    }
}

/// Moves `thread` to the ready queue of CPU `cpu` (online). A thread running on another
/// CPU is stalled there ([`leave_ready_queue`]), and that CPU moves it when it next takes
/// the lock ([`run_next`]); the running thread of this CPU moves as the kernel leaves.
pub fn set_affinity(thread: u64, cpu: u8) {
    leave_ready_queue(thread);
    tcb(thread).set_affinity(cpu);
    if tcb(thread).state() == ThreadState::Runnable && !is_running(thread) {
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
/// A thread running on another CPU was stalled out of user mode first
/// ([`stall_if_running`]); that CPU finds no running thread when it takes the lock.
pub fn forget(thread: u64) {
    requeue(donation::forget(&mut KernelMemory, thread));
    for cpu in kernel().cpus.iter_mut() {
        if cpu.current == thread {
            cpu.current = 0;
        }
        if cpu.charged == thread {
            cpu.charged = 0;
        }
    }
    crate::state::forget_fpu_owner(thread);
}

/// Moves the running thread behind the other ready threads of its priority.
pub fn yield_current() {
    let current = kernel().cpu().current;
    if current != 0 && tcb(current).state() == ThreadState::Runnable {
        kernel().cpu().current = 0;
        save_fpu(current);
        make_ready(current);
    }
}

/// Charges the time since the last kernel entry or exit to the budget it ran on: the first
/// thing every kernel entry does (precise charging, `tileos_kernel::budget`).
#[inline(always)]
pub fn charge_entry() {
    let k = kernel();
    let ticks = k.ticks;
    let cpu = k.cpu();
    let now = crate::state::timestamp();
    if cpu.charged != 0 {
        tcb(cpu.charged).charge_budget(now.wrapping_sub(cpu.charge_mark), ticks);
    }
    cpu.charge_mark = now;
}

/// Charges the kernel's time to the budget of the thread that entered it, and charges the
/// time from now on to the budget `next` runs on (0: the CPU idles): the last thing before
/// the kernel leaves.
#[inline(always)]
fn charge_exit(next: u64) {
    charge_entry();
    kernel().cpu().charged = if next == 0 { 0 } else { holder(next).unwrap_or(0) };
}

/// Timer tick: on the boot CPU, count it and refill the depleted threads whose budget's
/// period ended; on every CPU, count the tick to the running thread, which yields at the
/// end of its timeslice (its budget was charged on entry; a used-up budget stops it as the
/// kernel leaves). The depleted queue is walked whole (it holds only threads that ran out
/// of budget).
pub fn timer_tick() {
    let k = kernel();
    if this_cpu() == 0 {
        k.ticks += 1;
        refill();
    }
    let current = kernel().cpu().current;
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

/// Moves the depleted threads whose budget's period ended back to their ready queues.
fn refill() {
    let k = kernel();
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
            make_ready(thread.0);
        }
    }
}

/// Stops the running thread if it has no budget left to run on (used up, given back, or
/// never donated): it waits in the depleted queue or, passive, parked. Also stops it if its
/// affinity moved it to another CPU: it joins that CPU's ready queue.
fn stop_without_budget() {
    let current = kernel().cpu().current;
    if current == 0 || tcb(current).state() != ThreadState::Runnable {
        return;
    }
    if !has_budget(current) {
        tcb(current).set_timeslice(TIMESLICE_TICKS);
    } else if !crate::arch::smp::shared() || usize::from(tcb(current).affinity()) == this_cpu() {
        return;
    }
    kernel().cpu().current = 0;
    save_fpu(current);
    enqueue(current);
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
    let cpu = kernel().cpu();
    let current = cpu.current;
    let highest = cpu.ready.highest();
    if current != 0 && tcb(current).state() == ThreadState::Runnable {
        match highest {
            Some(priority) if priority > tcb(current).priority() => {
                let p = tcb(current).priority();
                cpu.ready.enqueue_front(&mut KernelMemory, current, p);
            }
            _ => return current,
        }
    }
    match cpu.ready.highest() {
        Some(priority) => {
            let next = cpu.ready.first(priority).unwrap_or(0);
            cpu.ready.dequeue(&mut KernelMemory, next, priority);
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
/// Yield): its address space, register save area and budget holder ([`Cpu::charged`],
/// set when it last started to run) are still in place, so only its FPU state may need
/// loading (the kernel log may have saved it) and the kernel's time is charged.
///
/// [`Cpu::charged`]: crate::state::Cpu::charged
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
    let previous = kernel().cpu().current;
    if previous != thread && previous != 0 {
        save_fpu(previous);
    }
    kernel().cpu().current = thread;
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
        let current = kernel().cpu().current;
        if current != 0 {
            save_fpu(current);
        }
        kernel().cpu().current = 0;
        charge_exit(0);
        entry::idle();
    }
    switch_to(next);
    charge_exit(next);
    entry::return_to_user(tcb(next).context_ptr())
}
