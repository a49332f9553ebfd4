//! TCB methods: configure, priorities (bounded by the authority's maximum controlled
//! priority, as in seL4), scheduling budgets, passive threads and their scheduling state
//! (donation, `tileos_kernel::donation`), consumed time, registers, suspend/resume,
//! notification binding, IPC buffer.

use super::{Call, Error, Result};
use crate::ipc;
use crate::state::{KernelMemory, tcb};
use crate::thread::{self, ThreadState, tcb_slot_address};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::{CPtr, Invocation, TCB_REGISTER_COUNT, sched_flags};
use tileos_abi::message::ipc_buffer;
use tileos_abi::object::Rights;
use tileos_elf::USER_TOP;
use tileos_kernel::budget::Budget;
use tileos_kernel::cap::{Cap, MintParams, tcb_slot};
use tileos_kernel::cspace::{self, CSpaceMemory, InProgress, Progress, SlotRef, Work};
use tileos_kernel::transfer;

/// RFLAGS bits user code may set: CF PF AF ZF SF TF DF OF. IF is always set, IOPL 0.
const USER_FLAGS: u64 = 0xDD5;

/// Replaces the capability in TCB slot `index` with `cap`, a copy of the one in `source`
/// ([`transfer::install`]: a CDT child of a revocable source).
fn install(thread_paddr: u64, index: u64, source: SlotRef, cap: Cap) {
    transfer::install(&mut KernelMemory, tcb_slot_address(thread_paddr, index), source, cap);
}

/// Empties the TCB slots TcbConfigure replaces, with one kernel entry's work budget:
/// `Ok(false)` when it ran out (the last capability to a large CSpace, say), and the call
/// is then restarted to go on deleting before anything is installed.
fn empty_slots(thread_paddr: u64) -> Result<bool> {
    let mut work = Work::new(cspace::KERNEL_STEP_WORK);
    for index in [tcb_slot::CSPACE, tcb_slot::VSPACE, tcb_slot::IPC_BUFFER, tcb_slot::FAULT_ENDPOINT] {
        match cspace::delete_step(&mut KernelMemory, tcb_slot_address(thread_paddr, index), SlotRef::NONE, &mut work) {
            Ok(Progress::Done) => {}
            Ok(Progress::Preempted { .. }) => return Ok(false),
            Err(InProgress) => return Err(Error::new(InvocationError::DeletionInProgress)),
        }
    }
    Ok(true)
}

/// A copy of `source`'s capability as it may be installed in a TCB slot.
fn derived(source: SlotRef, mint: Option<MintParams>) -> Result<Cap> {
    transfer::tcb_copy(&KernelMemory, source, mint).map_err(|_| Error::new(InvocationError::IllegalOperation))
}

/// Checks an IPC buffer address against its frame: aligned, and the buffer inside the frame.
fn check_ipc_buffer(vaddr: u64, frame: Cap, argument: u64, cap_index: usize) -> Result<()> {
    let Cap::Frame { size_bits, .. } = frame else { return Err(super::wrong_cap(cap_index)) };
    if !vaddr.is_multiple_of(ipc_buffer::SIZE as u64) || vaddr >= USER_TOP {
        return Err(Error::argument(InvocationError::AlignmentError, argument));
    }
    let offset = vaddr & ((1 << size_bits) - 1);
    if offset + ipc_buffer::SIZE as u64 > 1 << size_bits {
        return Err(Error::argument(InvocationError::InvalidArgument, argument));
    }
    Ok(())
}

/// The authority TCB (extra cap 0).
fn authority(call: &Call, authority: CPtr) -> Result<u64> {
    match call.lookup(authority)?.1 {
        Cap::Tcb { paddr } => Ok(paddr),
        _ => Err(super::wrong_cap(0)),
    }
}

/// Reads the authority TCB's maximum controlled priority (extra cap 0).
fn authority_mcp(call: &Call, cptr: CPtr) -> Result<u8> {
    authority(call, cptr).map(|paddr| tcb(paddr).mcp())
}

/// A priority or MCP `value` the authority `cptr` may give: at most its own MCP, else
/// RangeError [0, MCP].
fn bounded_priority(call: &Call, value: u64, cptr: CPtr) -> Result<u8> {
    let bound = authority_mcp(call, cptr)?;
    if value > u64::from(bound) {
        return Err(Error::range(0, u64::from(bound)));
    }
    Ok(value as u8)
}

/// Runs a TCB method.
pub fn invoke(call: &Call, invocation: &Invocation) -> Result<usize> {
    let Cap::Tcb { paddr: target } = call.cap else { return Err(Error::new(InvocationError::IllegalOperation)) };
    match invocation {
        Invocation::TcbConfigure(configure) => {
            let (fault_cptr, guard_data, buffer) = (configure.fault_endpoint, configure.cspace_guard, configure.ipc_buffer);
            let (cspace_slot, cspace_cap) = call.lookup(configure.cspace)?;
            let (vspace_slot, vspace_cap) = call.lookup(configure.vspace)?;
            let (frame_slot, frame_cap) = call.lookup(configure.buffer_frame)?;
            if !matches!(cspace_cap, Cap::CNode { .. }) {
                return Err(super::wrong_cap(0));
            }
            if !matches!(vspace_cap, Cap::Pml4 { .. }) {
                return Err(super::wrong_cap(1));
            }
            check_ipc_buffer(buffer, frame_cap, 2, 2)?;
            let fault_slot = if fault_cptr == 0 {
                None
            } else {
                let slot = ipc::lookup_slot(call.caller, fault_cptr).map_err(|f| Error::lookup(true, f))?;
                match KernelMemory.read(slot).cap {
                    cap @ Cap::Endpoint { rights, .. } if rights.contains(Rights::WRITE) => Some((slot, cap)),
                    // The fault endpoint is named by argument 0, not an extra capability.
                    _ => return Err(Error::argument(InvocationError::InvalidArgument, 0)),
                }
            };
            let cspace_copy = derived(cspace_slot, (guard_data != 0).then_some(MintParams { rights: Rights::ALL, data: guard_data }))?;
            let vspace_copy = derived(vspace_slot, None)?;
            let frame_copy = derived(frame_slot, None)?;
            let fault_copy = fault_slot.map(|(slot, _)| derived(slot, None)).transpose()?;
            // Perform: delete what the slots held (preemptible), then install.
            if !empty_slots(target)? {
                return Ok(super::RESTART);
            }
            // Emptying may have destroyed a CNode a source sat in (the TCB held its last
            // capability): then install nothing, and name the source.
            let sources = [
                (cspace_slot, cspace_cap),
                (vspace_slot, vspace_cap),
                (frame_slot, frame_cap),
                fault_slot.unwrap_or((SlotRef::NONE, Cap::Null)),
            ];
            let count = if fault_slot.is_some() { 4 } else { 3 };
            match transfer::changed_source(&KernelMemory, &sources[..count]) {
                None => {}
                Some(3) => return Err(Error::argument(InvocationError::InvalidArgument, 0)),
                Some(index) => return Err(super::wrong_cap(index)),
            }
            install(target, tcb_slot::CSPACE, cspace_slot, cspace_copy);
            install(target, tcb_slot::VSPACE, vspace_slot, vspace_copy);
            install(target, tcb_slot::IPC_BUFFER, frame_slot, frame_copy);
            match (fault_slot, fault_copy) {
                (Some((slot, _)), Some(copy)) => install(target, tcb_slot::FAULT_ENDPOINT, slot, copy),
                _ => cspace::delete(&mut KernelMemory, tcb_slot_address(target, tcb_slot::FAULT_ENDPOINT)),
            }
            tcb(target).set_ipc_buffer_vaddr(buffer);
            Ok(0)
        }
        Invocation::TcbSetIpcBuffer(set) => {
            let buffer = set.ipc_buffer;
            let (frame_slot, frame_cap) = call.lookup(set.buffer_frame)?;
            check_ipc_buffer(buffer, frame_cap, 0, 0)?;
            let copy = derived(frame_slot, None)?;
            install(target, tcb_slot::IPC_BUFFER, frame_slot, copy);
            tcb(target).set_ipc_buffer_vaddr(buffer);
            Ok(0)
        }
        Invocation::TcbSetPriority(set) => {
            thread::set_priority(target, bounded_priority(call, set.priority, set.authority)?);
            Ok(0)
        }
        Invocation::TcbSetMcPriority(set) => {
            // As for TcbSetSchedParams, a budgeted authority may not give an MCP: else it
            // could raise an unbudgeted thread's MCP and use that thread as its authority.
            let mcp = bounded_priority(call, set.mcp, set.authority)?;
            if tcb(authority(call, set.authority)?).budget().is_limited() {
                return Err(Error::new(InvocationError::IllegalOperation));
            }
            tcb(target).set_mcp(mcp);
            Ok(0)
        }
        Invocation::TcbSetSchedParams(set) => {
            // Budget and period in timer ticks (0, 0 = unlimited), charged in TSC cycles.
            let authority = authority(call, set.authority)?;
            let params = Budget::new(set.budget, set.period, cycles_per_tick()).map_err(|(min, max)| Error::range(min, max))?;
            sched_authority(target, authority)?;
            thread::set_budget(target, params);
            Ok(0)
        }
        Invocation::TcbSetPassive(set) => {
            let authority = authority(call, set.authority)?;
            if set.passive > 1 {
                return Err(Error::range(0, 1));
            }
            sched_authority(target, authority)?;
            thread::set_passive(target, set.passive == 1);
            Ok(0)
        }
        Invocation::TcbSchedInfo(_) => {
            let t = tcb(target);
            let remaining = thread::holder(target).map_or(0, |owner| tcb(owner).budget().remaining(crate::state::kernel().ticks));
            let flags = [
                (t.passive(), sched_flags::PASSIVE),
                (t.donor() != 0, sched_flags::ON_DONATED_BUDGET),
                (t.borrower() != 0, sched_flags::BUDGET_LENT),
            ]
            .iter()
            .filter(|(set, _)| *set)
            .fold(0, |flags, (_, bit)| flags | bit);
            ipc::set_message_register(call.caller, 0, remaining);
            ipc::set_message_register(call.caller, 1, flags);
            Ok(2)
        }
        Invocation::TcbSetAffinity(set) => {
            let online = crate::arch::smp::online() as u64;
            if set.cpu >= online {
                return Err(Error::range(0, online - 1));
            }
            thread::set_affinity(target, set.cpu as u8);
            Ok(0)
        }
        Invocation::TcbSuspend(_) => {
            ipc::cancel(target);
            Ok(0)
        }
        Invocation::TcbResume(_) => {
            if !configured(target) {
                return Err(Error::new(InvocationError::IllegalOperation));
            }
            if tcb(target).state() == ThreadState::Inactive {
                thread::make_runnable(target);
            }
            Ok(0)
        }
        Invocation::TcbReadRegisters(read) => {
            // The number of registers (order in TCB_REGISTER_COUNT's doc).
            let count = read.count;
            if count == 0 || count > TCB_REGISTER_COUNT as u64 {
                return Err(Error::range(1, TCB_REGISTER_COUNT as u64));
            }
            if target == call.caller {
                return Err(Error::new(InvocationError::IllegalOperation));
            }
            if count as usize > ipc::capacity(call.caller) {
                return Err(Error::range(1, ipc::capacity(call.caller) as u64));
            }
            // Running on another CPU: its registers reach its TCB first.
            thread::stall_if_running(target);
            let registers = registers_of(target);
            for (index, value) in registers.iter().enumerate().take(count as usize) {
                ipc::set_message_register(call.caller, index, *value);
            }
            Ok(count as usize)
        }
        Invocation::TcbWriteRegisters(write) => {
            // Resume afterwards (1) or not; the count (1–18) was checked by decoding.
            if target == call.caller {
                return Err(Error::new(InvocationError::IllegalOperation));
            }
            thread::stall_if_running(target);
            let mut values = registers_of(target);
            values[..write.registers.values().len()].copy_from_slice(write.registers.values());
            if values[0] >= USER_TOP {
                return Err(Error::argument(InvocationError::InvalidArgument, 2));
            }
            if values[1] >= USER_TOP {
                return Err(Error::argument(InvocationError::InvalidArgument, 3));
            }
            set_registers(target, &values);
            if write.resume == 1 && tcb(target).state() == ThreadState::Inactive && configured(target) {
                thread::make_runnable(target);
            }
            Ok(0)
        }
        Invocation::TcbBindNotification(bind) => {
            let (_, ntfn) = call.lookup(bind.notification)?;
            let Cap::Notification { paddr, rights, .. } = ntfn else { return Err(super::wrong_cap(0)) };
            if !rights.contains(Rights::READ) {
                return Err(super::wrong_cap(0));
            }
            if !ipc::bind(target, paddr) {
                return Err(Error::new(InvocationError::IllegalOperation));
            }
            Ok(0)
        }
        Invocation::TcbConsumedTime(_) => {
            ipc::set_message_register(call.caller, 0, tcb(target).consumed_ticks());
            ipc::set_message_register(call.caller, 1, tcb(target).consumed_cycles());
            Ok(2)
        }
        Invocation::TcbUnbindNotification(_) => {
            if tcb(target).bound_notification() == 0 {
                return Err(Error::new(InvocationError::IllegalOperation));
            }
            ipc::unbind(target);
            Ok(0)
        }
        _ => Err(Error::new(InvocationError::IllegalOperation)),
    }
}

/// Checks the authority of TcbSetSchedParams and TcbSetPassive: itself unbudgeted
/// (IllegalOperation), with an MCP at least the target's priority (InvalidCapability [1]).
fn sched_authority(target: u64, authority: u64) -> Result<()> {
    if tcb(authority).budget().is_limited() {
        return Err(Error::new(InvocationError::IllegalOperation));
    }
    if tcb(target).priority() > tcb(authority).mcp() {
        return Err(super::wrong_cap(0));
    }
    Ok(())
}

/// TSC cycles per timer tick (budgets are given in ticks and charged in cycles).
fn cycles_per_tick() -> u64 {
    crate::arch::apic::calibration().tsc_per_ms * crate::arch::apic::TICK_US / 1000
}

/// Whether a thread has the CSpace and VSpace it needs to run.
fn configured(thread_paddr: u64) -> bool {
    matches!(tcb(thread_paddr).slot_cap(tcb_slot::VSPACE), Cap::Pml4 { .. })
        && matches!(tcb(thread_paddr).slot_cap(tcb_slot::CSPACE), Cap::CNode { .. })
}

fn registers_of(thread_paddr: u64) -> [u64; TCB_REGISTER_COUNT] {
    let c = tcb(thread_paddr).context();
    [c.rip, c.rsp, c.rflags, c.rax, c.rbx, c.rcx, c.rdx, c.rsi, c.rdi, c.rbp, c.r8, c.r9, c.r10, c.r11, c.r12, c.r13, c.r14, c.r15]
}

fn set_registers(thread_paddr: u64, v: &[u64; TCB_REGISTER_COUNT]) {
    let t = tcb(thread_paddr);
    let mut c = t.context();
    c.rip = v[0];
    c.rsp = v[1];
    c.rflags = (v[2] & USER_FLAGS) | 0x202;
    [c.rax, c.rbx, c.rcx, c.rdx, c.rsi, c.rdi, c.rbp, c.r8, c.r9, c.r10, c.r11, c.r12, c.r13, c.r14, c.r15] =
        [v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17]];
    t.set_context(c);
}
