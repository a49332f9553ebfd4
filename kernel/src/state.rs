//! The kernel's global state and its access to kernel objects in physical memory.
//!
//! The kernel is single-CPU and never interrupted while it runs, so one `&mut` to the
//! state at a time is guaranteed by construction: it is taken at each kernel entry
//! ([`kernel`]) and objects are reached by physical address through the direct map.

use crate::arch::memory::PHYS_MAP_BASE;
use crate::thread::Tcb;
use tileos_kernel::cap::Cap;
use tileos_kernel::cspace::{CSpaceMemory, Slot, SlotRef};
use tileos_kernel::queue::{Queue, QueueLinks, ReadyQueues};

/// Number of address-space identifiers; ASID 0 means "none".
pub const ASID_COUNT: usize = 4096;

/// Everything the kernel keeps outside kernel objects.
pub struct Kernel {
    /// TCB of the running thread (0 before the root server starts, or when idle).
    pub current: u64,
    /// Runnable threads other than the current one, except depleted ones.
    pub ready: ReadyQueues,
    /// Runnable threads whose scheduling budget is used up, waiting for their refill.
    pub depleted: Queue,
    /// Timer ticks since boot.
    pub ticks: u64,
    /// ASID → physical address of its PML4 (0: free).
    pub asids: [u64; ASID_COUNT],
    /// For each IOAPIC pin: the slot-less binding of its handler (notification and badge)
    /// and its trigger mode.
    pub irqs: [crate::invoke::irq::IrqLine; crate::invoke::irq::IRQ_LINES],
    /// IO ports already issued as capabilities, one bit per port.
    pub io_ports_issued: [u64; 65536 / 64],
}

static mut KERNEL: Kernel = Kernel {
    current: 0,
    ready: ReadyQueues::new(),
    depleted: Queue::EMPTY,
    ticks: 0,
    asids: [0; ASID_COUNT],
    irqs: [crate::invoke::irq::IrqLine::UNUSED; crate::invoke::irq::IRQ_LINES],
    io_ports_issued: [0; 65536 / 64],
};

/// The kernel state.
pub fn kernel() -> &'static mut Kernel {
    // SAFETY: one CPU, no interrupts in kernel mode; callers do not keep two of these
    // references alive across calls that take another (by convention: fetch, use, drop).
    unsafe { &mut *core::ptr::addr_of_mut!(KERNEL) }
}

/// The object of type `T` at physical address `paddr`.
///
/// # Safety
/// `paddr` must be the address of a live object of type `T` (as its capability says), and
/// the caller must not hold another reference to the same object.
pub unsafe fn object<T>(paddr: u64) -> &'static mut T {
    // SAFETY: per the contract above; the direct map covers all kernel objects.
    unsafe { &mut *((PHYS_MAP_BASE + paddr) as *mut T) }
}

/// The TCB at `paddr` (a TCB capability's address).
pub fn tcb(paddr: u64) -> &'static mut Tcb {
    // SAFETY: callers pass addresses taken from TCB capabilities or thread queues, which
    // only ever hold live TCBs; references are used one at a time.
    unsafe { object::<Tcb>(paddr) }
}

/// Capability slots and queue links as kept in physical memory.
pub struct KernelMemory;

impl CSpaceMemory for KernelMemory {
    fn read(&self, at: SlotRef) -> Slot {
        // SAFETY: slot references come from CNode/TCB capabilities and CDT links, which
        // always name slots inside live CNodes or TCBs.
        unsafe { *object::<Slot>(at) }
    }
    fn write(&mut self, at: SlotRef, slot: Slot) {
        // SAFETY: as for `read`.
        unsafe { *object::<Slot>(at) = slot };
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
        (thread.queue_prev, thread.queue_next)
    }
    fn set_links(&mut self, tcb_paddr: u64, prev: u64, next: u64) {
        let thread = tcb(tcb_paddr);
        thread.queue_prev = prev;
        thread.queue_next = next;
    }
}
