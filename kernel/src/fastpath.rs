//! The IPC fastpath: Call and ReplyRecv in their common case — a one-level CSpace, an
//! endpoint with the partner already waiting, at most four message words in registers, no
//! capabilities transferred — done with direct field accesses and a direct switch to the
//! partner. Anything else falls through to the general path in `syscall`/`ipc`. Messages,
//! badges and capability state come out the same either way; the one difference is
//! scheduling: as in seL4's fastpath, the partner runs at once instead of queueing behind
//! other ready threads of its own priority (it never overtakes a higher priority).
//! Donation happens here as on the general path: a Call to a passive server lends it the
//! caller's budget, the ReplyRecv gives it back; a partner without a budget left takes
//! the general path. Also here: a Yield that changes nothing leaves at once
//! ([`yield_in_place`]), and the one-step CSpace lookup the general path tries first too.
#![deny(unsafe_code)]

use crate::arch::entry;
use crate::state::{EndpointRef, KernelMemory, Reg, TcbRef, kernel, read_slot, tcb};
use crate::thread::{self, ThreadState, tcb_slot_address};
use tileos_abi::message::{MessageInfo, REGISTER_MESSAGE_WORDS};
use tileos_abi::object::Rights;
use tileos_kernel::cap::{Cap, tcb_slot};
use tileos_kernel::cspace::{Slot, SlotRef, slot_address};
use tileos_kernel::donation;
use tileos_kernel::queue::QueueLinks;

/// The slot `cptr` names in `thread`'s CSpace, if the CSpace root resolves all 64 bits in
/// one level (the common layout) and its guard matches; `None` sends the caller to the
/// general lookup (`cspace::resolve`, which gives the same slot in this case and the
/// precise failure in the others). Also the first step of [`crate::ipc::lookup_slot`].
#[inline(always)]
pub fn lookup_one_level(thread: TcbRef, cptr: u64) -> Option<SlotRef> {
    let Cap::CNode { paddr, radix, guard_bits, guard } = thread.slot_cap(tcb_slot::CSPACE) else { return None };
    if u32::from(radix) + u32::from(guard_bits) != 64 || radix == 0 || guard_bits == 0 {
        return None;
    }
    if cptr >> radix != guard {
        return None;
    }
    let index = cptr & ((1 << radix) - 1);
    // The slot lies inside the CSpace root CNode, a live object.
    Some(slot_address(paddr, index))
}

/// Copies the message's register words (only `length` of them, as the general path does:
/// the sender's other registers never reach the receiver) and sets what the receiver sees.
#[inline(always)]
fn deliver(from: TcbRef, to: TcbRef, badge: u64, info: MessageInfo) {
    let length = info.length() as u64;
    if length > 0 {
        to.set_reg(Reg::R10, from.reg(Reg::R10));
    }
    if length > 1 {
        to.set_reg(Reg::R8, from.reg(Reg::R8));
    }
    if length > 2 {
        to.set_reg(Reg::R9, from.reg(Reg::R9));
    }
    if length > 3 {
        to.set_reg(Reg::R15, from.reg(Reg::R15));
    }
    to.set_reg(Reg::Rdi, badge);
    to.set_reg(Reg::Rsi, MessageInfo::new(info.label(), 0, 0, length).0);
}

/// Removes the first thread of an endpoint queue (which must hold `head`).
#[inline(always)]
fn pop_head(endpoint: EndpointRef, head: u64) {
    let next = tcb(head).queue_next();
    endpoint.set_queue_head(next);
    if next == 0 {
        endpoint.set_queue_tail(0);
    } else {
        tcb(next).set_queue_prev(0);
    }
    KernelMemory.set_links(head, 0, 0);
}

/// Appends `thread` to an endpoint queue (as `Queue::push_back`).
#[inline(always)]
fn push_back(endpoint: EndpointRef, thread: u64) {
    let tail = endpoint.queue_tail();
    KernelMemory.set_links(thread, tail, 0);
    if tail != 0 {
        tcb(tail).set_queue_next(thread);
    } else {
        endpoint.set_queue_head(thread);
    }
    endpoint.set_queue_tail(thread);
}

/// Call on an endpoint whose receiver waits. Does not return if it handled the call.
#[inline(always)]
pub fn call(caller_paddr: u64, cptr: u64, info: MessageInfo) {
    let caller = tcb(caller_paddr);
    if info.extra_caps() != 0 || info.length() > REGISTER_MESSAGE_WORDS {
        return;
    }
    let Some(slot) = lookup_one_level(caller, cptr) else { return };
    let Cap::Endpoint { paddr: ep_paddr, badge, rights } = read_slot(slot).cap else { return };
    if !rights.contains(Rights::WRITE) {
        return;
    }
    let endpoint = EndpointRef(ep_paddr);
    let receiver_paddr = endpoint.queue_head();
    if receiver_paddr == 0 || endpoint.senders_waiting() {
        return;
    }
    let receiver = tcb(receiver_paddr);
    if receiver.priority() < caller.priority()
        || receiver.slot_cap(tcb_slot::REPLY) != Cap::Null
        || !matches!(receiver.slot_cap(tcb_slot::VSPACE), Cap::Pml4 { .. })
        || !matches!(receiver.state(), ThreadState::BlockedOnReceive { .. })
    {
        return;
    }
    // The receiver must have a budget left: its own, or the caller's if it is passive (a
    // caller whose budget ran out at this entry takes the general path, which queues the
    // receiver as depleted).
    let donates = receiver.passive() && receiver.donor() == 0;
    if !thread::has_budget(if donates { caller_paddr } else { receiver_paddr }) {
        return;
    }
    pop_head(endpoint, receiver_paddr);
    deliver(caller, receiver, badge, info);
    let can_grant = rights.contains(Rights::GRANT) || rights.contains(Rights::GRANT_REPLY);
    let reply_slot = tcb_slot_address(receiver_paddr, tcb_slot::REPLY);
    receiver.set_slot(tcb_slot::REPLY, Slot { cap: Cap::Reply { tcb: caller_paddr, can_grant }, revocable: true, ..Slot::EMPTY });
    caller.set_state(ThreadState::BlockedOnReply);
    caller.set_reply_slot(reply_slot);
    caller.set_reply_server(receiver_paddr);
    if donates {
        donation::donate(&mut KernelMemory, caller_paddr, receiver_paddr);
    }
    receiver.set_state(ThreadState::Runnable);
    switch(receiver_paddr)
}

/// ReplyRecv whose caller waits for the reply and may run next, on an endpoint with no
/// sender waiting. Does not return if it handled the call.
#[inline(always)]
pub fn reply_recv(replier_paddr: u64, cptr: u64, info: MessageInfo) {
    let replier = tcb(replier_paddr);
    if info.extra_caps() != 0 || info.length() > REGISTER_MESSAGE_WORDS || replier.bound_notification() != 0 {
        return;
    }
    let Cap::Reply { tcb: caller_paddr, .. } = replier.slot_cap(tcb_slot::REPLY) else { return };
    let Some(slot) = lookup_one_level(replier, cptr) else { return };
    let Cap::Endpoint { paddr: ep_paddr, rights, .. } = read_slot(slot).cap else { return };
    if !rights.contains(Rights::READ) {
        return;
    }
    let endpoint = EndpointRef(ep_paddr);
    if endpoint.senders_waiting() && endpoint.queue_head() != 0 {
        return;
    }
    let caller = tcb(caller_paddr);
    if caller.state() != ThreadState::BlockedOnReply
        || caller.fault().is_some()
        || kernel().ready.highest().is_some_and(|highest| highest > caller.priority())
        || caller.awaits_return()
        || !thread::has_budget(caller_paddr)
    {
        return;
    }
    // Reply: hand the caller its answer and use up the reply capability; the budget donated
    // to the replier goes back with it.
    deliver(replier, caller, 0, info);
    replier.set_slot(tcb_slot::REPLY, Slot::EMPTY);
    caller.set_reply_slot(SlotRef::NONE);
    caller.set_reply_server(0);
    let returned = donation::give_back(&mut KernelMemory, replier_paddr);
    thread::requeue(donation::wake(&mut KernelMemory, caller_paddr, returned));
    caller.set_state(ThreadState::Runnable);
    // Receive: the replier waits on the endpoint.
    replier.set_state(ThreadState::BlockedOnReceive { endpoint: ep_paddr, can_grant: rights.contains(Rights::GRANT) });
    endpoint.set_senders_waiting(false);
    push_back(endpoint, replier_paddr);
    switch(caller_paddr)
}

/// Yield when no other thread of the caller's priority or above is ready and the caller
/// still has a budget to run on: the general path would queue the caller and pick it again
/// at once (saving and restoring its FPU state on the way), so the kernel leaves to it
/// directly; the outcome is the same. Does not return if it handled the call.
#[inline(always)]
pub fn yield_in_place(caller_paddr: u64) {
    let priority = tcb(caller_paddr).priority();
    if kernel().ready.highest().is_some_and(|highest| highest >= priority) || !thread::has_budget(caller_paddr) {
        return;
    }
    thread::resume_current(caller_paddr)
}

/// Runs `next` directly (the current thread has just blocked).
#[inline(always)]
fn switch(next: u64) -> ! {
    thread::switch_direct(next);
    entry::return_to_user(tcb(next).context_ptr())
}
