//! The kernel's global state and its access to kernel objects in physical memory: with
//! `arch/`, the only kernel code that may use `unsafe` (every other module denies it).
//!
//! The kernel is never interrupted while it runs, and only the CPU holding the big kernel
//! lock runs kernel code past its entry stub (docs/architecture.md, "Concurrency"), so one
//! `&mut` to the state at a time is guaranteed by construction: it is taken at each kernel
//! entry ([`kernel`]) and objects are reached by physical address through the direct map.
//!
//! Objects are named by typed addresses ([`TcbRef`], [`EndpointRef`], [`NotificationRef`];
//! slots by `SlotRef`) whose methods copy single fields out and in. No `&mut` to a kernel
//! object is ever handed out, so two live mutable references to one object cannot arise,
//! whatever the call graph does (a thread may be both the caller and the head of a queue).
//! Which address holds which type is the capability system's invariant (checked by the
//! model checker and the proofs); these accessors rely on it as every kernel does.

use crate::arch::memory::PHYS_MAP_BASE;
use crate::arch::trap::TrapFrame;
use crate::ipc::{Endpoint, Notification};
use crate::thread::{PendingFault, Tcb, ThreadState};
use tileos_kernel::acpi::MAX_CPUS;
use tileos_kernel::budget::Budget;
use tileos_kernel::cap::Cap;
use tileos_kernel::cspace::{CSpaceMemory, Slot, SlotRef};
use tileos_kernel::queue::{Queue, QueueLinks, ReadyQueues};

/// Number of address-space identifiers; ASID 0 means "none".
pub const ASID_COUNT: usize = 4096;

/// What the kernel keeps for each CPU (indexed by `arch::percpu::this_cpu`).
pub struct Cpu {
    /// TCB of the thread running on this CPU (0 before the root server starts, or when idle).
    pub current: u64,
    /// Runnable threads of this CPU (their affinity), other than the running ones, except
    /// depleted and parked ones.
    pub ready: ReadyQueues,
    /// TCB whose budget the time since [`Cpu::charge_mark`] is charged to (0: none, the
    /// CPU idles).
    pub charged: u64,
    /// Time-stamp counter at this CPU's last charge (a kernel entry or exit).
    pub charge_mark: u64,
}

impl Cpu {
    const IDLE: Cpu = Cpu { current: 0, ready: ReadyQueues::new(), charged: 0, charge_mark: 0 };
}

/// Everything the kernel keeps outside kernel objects.
pub struct Kernel {
    /// Per-CPU state ([`Kernel::cpu`] is this CPU's).
    pub cpus: [Cpu; MAX_CPUS],
    /// Runnable threads whose scheduling budget is used up, waiting for their refill.
    pub depleted: Queue,
    /// Timer ticks since boot (counted by the boot CPU's timer).
    pub ticks: u64,
    /// ASID → physical address of its PML4 (0: free).
    pub asids: [u64; ASID_COUNT],
    /// Where the search for a free ASID starts (1..ASID_COUNT): one past the last given out.
    pub asid_next: usize,
    /// For each IOAPIC pin: the slot-less binding of its handler (notification and badge)
    /// and its trigger mode.
    pub irqs: [crate::invoke::irq::IrqLine; crate::invoke::irq::IRQ_LINES],
    /// IO ports already issued as capabilities, one bit per port.
    pub io_ports_issued: [u64; 65536 / 64],
    /// Physical address of the IOMMU's registers (0: no IOMMU; `arch::iommu`).
    pub iommu: u64,
    /// Physical address of the IOMMU's root table.
    pub iommu_root: u64,
}

impl Kernel {
    /// The state of the CPU this runs on (its address is one GS-relative load:
    /// `arch::percpu::cpu_state`).
    #[inline(always)]
    pub fn cpu(&mut self) -> &mut Cpu {
        // SAFETY: `cpu_state` is the address of this CPU's entry of `self.cpus`
        // (`cpu_address`, written once by `percpu::load`); the reference lives no longer
        // than the borrow of `self`.
        unsafe { &mut *(crate::arch::percpu::cpu_state() as *mut Cpu) }
    }
}

/// The address of CPU `cpu`'s state (`Kernel::cpus`), for its entry record.
pub fn cpu_address(cpu: usize) -> u64 {
    // SAFETY: only the address is taken.
    unsafe { core::ptr::addr_of_mut!(KERNEL.cpus[cpu]) as u64 }
}

static mut KERNEL: Kernel = Kernel {
    cpus: [Cpu::IDLE; MAX_CPUS],
    depleted: Queue::EMPTY,
    ticks: 0,
    asids: [0; ASID_COUNT],
    asid_next: 1,
    irqs: [crate::invoke::irq::IrqLine::UNUSED; crate::invoke::irq::IRQ_LINES],
    io_ports_issued: [0; 65536 / 64],
    iommu: 0,
    iommu_root: 0,
};

/// For each CPU, the thread that last ran there, whose FPU state is live in that CPU (0:
/// none), is kept in the CPU's entry record, outside [`Kernel`], and reached only by copy:
/// the kernel log saves vector state while a `&mut Kernel` may be live.
pub use crate::arch::percpu::{forget_fpu_owner, fpu_owner, set_fpu_owner};

/// The time-stamp counter, for [`Cpu::charge_mark`] (`arch::cpu::timestamp` exists only
/// in test builds).
#[inline(always)]
pub fn timestamp() -> u64 {
    // SAFETY: `rdtsc` only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The kernel state.
pub fn kernel() -> &'static mut Kernel {
    // SAFETY: the big kernel lock, no interrupts in kernel mode; callers do not keep two of these
    // references alive across calls that take another (by convention: fetch, use, drop).
    unsafe { &mut *core::ptr::addr_of_mut!(KERNEL) }
}

/// A kernel object's address in the direct map.
#[inline(always)]
fn raw<T>(paddr: u64) -> *mut T {
    (PHYS_MAP_BASE + paddr) as *mut T
}

/// Generates, for each `field: Type`, a getter `field()` that copies the field out and a
/// setter `set_field(value)` that writes it, through the raw object pointer: no reference
/// to the object (or the field) outlives the one load or store.
macro_rules! field_accessors {
    ($($(#[$doc:meta])* $field:ident, $set:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            #[inline(always)]
            pub fn $field(self) -> $ty {
                // SAFETY: see the type's documentation (a live object of this type).
                unsafe { (*self.ptr()).$field }
            }
            $(#[$doc])*
            #[inline(always)]
            pub fn $set(self, value: $ty) {
                // SAFETY: as for the getter.
                unsafe { (*self.ptr()).$field = value }
            }
        )*
    };
}

/// A general-purpose register, as an index into the [`TrapFrame`] words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
#[allow(missing_docs, dead_code)] // register names; the frame's full layout
pub enum Reg {
    R15,
    R14,
    R13,
    R12,
    R11,
    R10,
    R9,
    R8,
    Rbp,
    Rdi,
    Rsi,
    Rdx,
    Rcx,
    Rbx,
    Rax,
    Vector,
    ErrorCode,
    Rip,
    Cs,
    Rflags,
    Rsp,
    Ss,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == (Reg::Ss as usize + 1) * 8);
const _: () = assert!(core::mem::offset_of!(TrapFrame, r10) == Reg::R10 as usize * 8);
const _: () = assert!(core::mem::offset_of!(TrapFrame, rip) == Reg::Rip as usize * 8);

/// Generates the wait-queue operations of an object with a `queue: Queue` field. The
/// `&mut Queue` lives only inside each method, while `Queue`'s own code runs, and that code
/// reaches nothing but TCB queue links (through [`KernelMemory`]): no other reference to the
/// object can exist meanwhile, and no caller code runs while it does.
macro_rules! queue_operations {
    () => {
        /// Appends `thread` to the wait queue.
        #[inline(always)]
        pub fn push_back(self, thread: u64) {
            // SAFETY: see the macro's documentation.
            unsafe { (*self.ptr()).queue.push_back(&mut KernelMemory, thread) }
        }

        /// Removes and returns the first waiting thread.
        #[inline(always)]
        pub fn pop_front(self) -> Option<u64> {
            // SAFETY: see the macro's documentation.
            unsafe { (*self.ptr()).queue.pop_front(&mut KernelMemory) }
        }

        /// Removes `thread` (which must be in the queue).
        #[inline(always)]
        pub fn remove(self, thread: u64) {
            // SAFETY: see the macro's documentation.
            unsafe { (*self.ptr()).queue.remove(&mut KernelMemory, thread) }
        }
    };
}

/// A TCB, named by its physical address (from a TCB capability, a thread queue, a thread
/// state or [`Kernel::current`], which only ever hold live TCBs).
///
/// This is how the kernel reaches a thread: it never holds a `&mut Tcb`. Each method copies
/// one field out or in (registers one word at a time), so two handles to one TCB — the
/// caller and the thread at the head of a queue may be the same — can never produce two
/// live mutable references. The accessors compile to the plain loads and stores a field
/// access through a reference would (the IPC fastpath costs the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcbRef(pub u64);

/// The TCB at `paddr`.
#[inline(always)]
pub fn tcb(paddr: u64) -> TcbRef {
    TcbRef(paddr)
}

impl TcbRef {
    #[inline(always)]
    fn ptr(self) -> *mut Tcb {
        raw(self.0)
    }

    field_accessors! {
        /// Thread state.
        state, set_state: ThreadState;
        /// Scheduling priority.
        priority, set_priority: u8;
        /// Maximum controlled priority.
        mcp, set_mcp: u8;
        /// Queue link.
        queue_prev, set_queue_prev: u64;
        /// Queue link.
        queue_next, set_queue_next: u64;
        /// Bound notification (0: none).
        bound_notification, set_bound_notification: u64;
        /// User address of the IPC buffer.
        ipc_buffer_vaddr, set_ipc_buffer_vaddr: u64;
        /// Slot holding the capability to reply to this thread (while it waits for a reply).
        reply_slot, set_reply_slot: SlotRef;
        /// Server whose reply slot holds the capability to reply to this thread (0: none).
        reply_server, set_reply_server: u64;
        /// Fault waiting to be delivered.
        fault, set_fault: Option<PendingFault>;
        /// Ticks left in the timeslice.
        timeslice, set_timeslice: u32;
        /// Scheduling budget.
        budget, set_budget: Budget;
        /// In the depleted queue.
        depleted, set_depleted: bool;
        /// Timer ticks charged to the thread.
        consumed_ticks, set_consumed_ticks: u64;
        /// No budget of its own (runs only on donated budgets).
        passive, set_passive: bool;
        /// TCB whose budget the thread runs on (0: its own).
        donor, set_donor: u64;
        /// Thread running on this thread's budget (0: none but itself).
        borrower, set_borrower: u64;
        /// Runnable but without any budget: in no queue.
        parked, set_parked: bool;
        /// Passed a donated budget on with its Call; takes back what its server returns.
        awaits_return, set_awaits_return: bool;
        /// The CPU whose ready queue the thread joins (`TcbSetAffinity`).
        affinity, set_affinity: u8;
        /// Saved user registers (the whole frame).
        context, set_context: TrapFrame;
    }

    /// TSC cycles charged to the thread's budget (added to only by [`TcbRef::charge_budget`]).
    #[inline(always)]
    pub fn consumed_cycles(self) -> u64 {
        // SAFETY: see the type's documentation (a live TCB).
        unsafe { (*self.ptr()).consumed_cycles }
    }

    /// Charges `cycles` of CPU time at tick `now` to the thread's budget in place
    /// ([`Budget::charge`]) and adds them to its consumed cycles (wrapping: 2^64 cycles are
    /// almost two centuries at 3 GHz): an unlimited budget costs one load, the cycles'
    /// subtraction and one add to memory (about 4 instructions), not a copy out and back.
    #[inline(always)]
    pub fn charge_budget(self, cycles: u64, now: u64) {
        // SAFETY: a live TCB; the `&mut`s to its fields live only while the add and `charge`
        // run, which reach nothing else.
        unsafe {
            let t = &mut *self.ptr();
            t.consumed_cycles = t.consumed_cycles.wrapping_add(cycles);
            t.budget.charge(cycles, now);
        }
    }

    /// Whether the thread's budget is used up at tick `now` ([`Budget::is_depleted`]), read
    /// in place.
    #[inline(always)]
    pub fn budget_depleted(self, now: u64) -> bool {
        // SAFETY: a live TCB; a shared reference only while `is_depleted` reads.
        unsafe { (*self.ptr()).budget.is_depleted(now) }
    }

    /// Takes the pending fault, if any.
    #[inline(always)]
    pub fn take_fault(self) -> Option<PendingFault> {
        let fault = self.fault();
        if fault.is_some() {
            self.set_fault(None);
        }
        fault
    }

    /// A saved user register.
    #[inline(always)]
    pub fn reg(self, reg: Reg) -> u64 {
        // SAFETY: a live TCB; `Reg` indexes the TrapFrame's words (asserted above).
        unsafe { core::ptr::addr_of!((*self.ptr()).context).cast::<u64>().add(reg as usize).read() }
    }

    /// Sets a saved user register.
    #[inline(always)]
    pub fn set_reg(self, reg: Reg, value: u64) {
        // SAFETY: as for `reg`.
        unsafe { core::ptr::addr_of_mut!((*self.ptr()).context).cast::<u64>().add(reg as usize).write(value) }
    }

    /// The register save area, for the entry and exit stubs (which reach it only while no
    /// kernel code runs).
    #[inline(always)]
    pub fn context_ptr(self) -> *mut TrapFrame {
        // SAFETY: a live TCB; no reference is created.
        unsafe { core::ptr::addr_of_mut!((*self.ptr()).context) }
    }

    /// The capability in one of the thread's own slots (index in `tcb_slot`).
    #[inline(always)]
    pub fn slot_cap(self, index: u64) -> Cap {
        read_slot(crate::thread::tcb_slot_address(self.0, index)).cap
    }

    /// Overwrites one of the thread's own slots (the caller keeps the CDT consistent).
    #[inline(always)]
    pub fn set_slot(self, index: u64, slot: Slot) {
        write_slot(crate::thread::tcb_slot_address(self.0, index), slot);
    }

    /// Saves the CPU's FPU/SSE state into the thread's FPU area.
    #[inline(always)]
    pub fn save_fpu(self) {
        // SAFETY: a live TCB; the FPU area is 512 bytes, 16-byte aligned.
        unsafe {
            core::arch::asm!("fxsave64 [{}]", in(reg) core::ptr::addr_of_mut!((*self.ptr()).fpu), options(nostack));
        }
    }

    /// Loads the CPU's FPU/SSE state from the thread's FPU area.
    #[inline(always)]
    pub fn restore_fpu(self) {
        // SAFETY: as for `save_fpu`; the area always holds a valid state (from `Tcb::new`
        // or an earlier `fxsave64`).
        unsafe {
            core::arch::asm!("fxrstor64 [{}]", in(reg) core::ptr::addr_of!((*self.ptr()).fpu), options(nostack));
        }
    }
}

/// An endpoint, named by its physical address (from an endpoint capability or a thread
/// state). Fields are copied out and in as for [`TcbRef`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointRef(pub u64);

impl EndpointRef {
    #[inline(always)]
    fn ptr(self) -> *mut Endpoint {
        raw(self.0)
    }

    field_accessors! {
        /// Whether the waiters are senders.
        senders_waiting, set_senders_waiting: bool;
    }

    /// First waiting thread (0: none).
    #[inline(always)]
    pub fn queue_head(self) -> u64 {
        // SAFETY: a live endpoint; a raw field read.
        unsafe { (*self.ptr()).queue.head }
    }

    /// Sets the first waiting thread (the fastpath's own queue handling).
    #[inline(always)]
    pub fn set_queue_head(self, head: u64) {
        // SAFETY: as for `queue_head`.
        unsafe { (*self.ptr()).queue.head = head }
    }

    /// Last waiting thread (0: none).
    #[inline(always)]
    pub fn queue_tail(self) -> u64 {
        // SAFETY: as for `queue_head`.
        unsafe { (*self.ptr()).queue.tail }
    }

    /// Sets the last waiting thread (the fastpath's own queue handling).
    #[inline(always)]
    pub fn set_queue_tail(self, tail: u64) {
        // SAFETY: as for `queue_head`.
        unsafe { (*self.ptr()).queue.tail = tail }
    }

    queue_operations!();
}

/// A notification, named by its physical address (from a notification capability, a TCB
/// binding or a thread state). Fields are copied out and in as for [`TcbRef`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotificationRef(pub u64);

impl NotificationRef {
    #[inline(always)]
    fn ptr(self) -> *mut Notification {
        raw(self.0)
    }

    field_accessors! {
        /// Signalled badge bits.
        word, set_word: u64;
        /// A signal is pending.
        active, set_active: bool;
        /// Bound TCB (0: none).
        bound_tcb, set_bound_tcb: u64;
    }

    queue_operations!();
}

/// The slot at `at` (inside a live CNode or TCB: slot references come from CNode and TCB
/// capabilities and CDT links).
#[inline(always)]
pub fn read_slot(at: SlotRef) -> Slot {
    // SAFETY: per the contract above.
    unsafe { raw::<Slot>(at.0).read() }
}

/// Overwrites the slot at `at` (as for [`read_slot`]).
#[inline(always)]
pub fn write_slot(at: SlotRef, slot: Slot) {
    // SAFETY: per the contract of `read_slot`.
    unsafe { raw::<Slot>(at.0).write(slot) }
}

/// Reads the word at `paddr`, inside a frame or object the caller's capability keeps alive
/// (an IPC buffer word).
#[inline(always)]
pub fn read_word(paddr: u64) -> u64 {
    // SAFETY: per the contract above; 8-byte aligned by the callers' arithmetic.
    unsafe { raw::<u64>(paddr).read() }
}

/// Writes the word at `paddr` (as for [`read_word`]).
#[inline(always)]
pub fn write_word(paddr: u64, value: u64) {
    // SAFETY: per the contract of `read_word`.
    unsafe { raw::<u64>(paddr).write(value) }
}

/// Places a new object of type `T` at `paddr`: freshly retyped (or boot-allocated) memory
/// of at least `size_of::<T>()` bytes, suitably aligned, that no capability names yet.
pub fn init_object<T>(paddr: u64, value: T) {
    // SAFETY: per the contract above.
    unsafe { raw::<T>(paddr).write(value) }
}

/// Copies `bytes` to `paddr`: freshly allocated memory no capability names yet (boot code
/// loading the root server's image).
pub fn copy_to(paddr: u64, bytes: &[u8]) {
    // SAFETY: per the contract above; `bytes` (kernel or boot-module memory) cannot overlap
    // memory that was just allocated.
    unsafe { crate::arch::memory::copy(raw::<u8>(paddr), bytes.as_ptr(), bytes.len()) }
}

/// The `length` bytes at `paddr` as a slice: memory the kernel never writes or allocates
/// while the slice is used (a boot module, reserved from allocation).
pub fn boot_module(paddr: u64, length: u64) -> &'static [u8] {
    // SAFETY: per the contract above; the direct map covers all RAM.
    unsafe { core::slice::from_raw_parts(raw::<u8>(paddr), length as usize) }
}

/// Zeroes `length` bytes of freshly retyped memory at `paddr` (as for [`init_object`]).
pub fn zero(paddr: u64, length: u64) {
    // SAFETY: per the contract of `init_object`.
    unsafe { crate::arch::memory::zero(raw::<u8>(paddr), length as usize) }
}

/// Capability slots and queue links as kept in physical memory.
pub struct KernelMemory;

impl CSpaceMemory for KernelMemory {
    fn read(&self, at: SlotRef) -> Slot {
        read_slot(at)
    }
    fn write(&mut self, at: SlotRef, slot: Slot) {
        write_slot(at, slot);
    }
    fn finalise(&mut self, cap: &Cap, is_final: bool) {
        crate::destroy::finalise(cap, is_final);
    }
    fn destroying(&mut self, cap: &Cap) {
        crate::destroy::destroying(cap);
    }
}

impl QueueLinks for KernelMemory {
    fn links(&self, tcb_paddr: u64) -> (u64, u64) {
        let thread = tcb(tcb_paddr);
        (thread.queue_prev(), thread.queue_next())
    }
    fn set_links(&mut self, tcb_paddr: u64, prev: u64, next: u64) {
        let thread = tcb(tcb_paddr);
        thread.set_queue_prev(prev);
        thread.set_queue_next(next);
    }
}
