//! The IPC fastpath: Call and ReplyRecv in their common case — a one-level CSpace, an
//! endpoint with the partner already waiting, at most four message words in registers, no
//! capabilities transferred — done with direct field accesses and a direct switch to the
//! partner. Anything else falls through to the general path in `syscall`/`ipc`. Messages,
//! badges and capability state come out the same either way; the one difference is
//! scheduling: as in seL4's fastpath, the partner runs at once instead of queueing behind
//! other ready threads of its own priority (it never overtakes a higher priority).

use crate::arch::entry;
use crate::ipc::Endpoint;
use crate::state::{KernelMemory, kernel, object, tcb};
use crate::thread::{self, ThreadState, Tcb, tcb_slot_address};
use tileos_abi::message::{MessageInfo, REGISTER_MESSAGE_WORDS};
use tileos_abi::object::Rights;
use tileos_kernel::cap::{Cap, tcb_slot};
use tileos_kernel::cspace::Slot;
use tileos_kernel::queue::QueueLinks;

/// The capability `cptr` names in `thread`'s CSpace, if the CSpace root resolves all 64
/// bits in one level (the common layout); `None` sends the caller to the general path.
#[inline(always)]
fn lookup_one_level(thread: &Tcb, cptr: u64) -> Option<&'static Slot> {
    let Cap::CNode { paddr, radix, guard_bits, guard } = thread.slots[tcb_slot::CSPACE as usize].cap else { return None };
    if u32::from(radix) + u32::from(guard_bits) != 64 || radix == 0 || guard_bits == 0 {
        return None;
    }
    if cptr >> radix != guard {
        return None;
    }
    let index = cptr & ((1 << radix) - 1);
    // SAFETY: the slot lies inside the CSpace root CNode, a live object.
    Some(unsafe { object::<Slot>(paddr + (index << 6)) })
}

/// Copies the message's register words (only `length` of them, as the general path does:
/// the sender's other registers never reach the receiver) and sets what the receiver sees.
#[inline(always)]
fn deliver(from: &Tcb, to: &mut Tcb, badge: u64, info: MessageInfo) {
    let length = info.length() as u64;
    if length > 0 {
        to.context.r10 = from.context.r10;
    }
    if length > 1 {
        to.context.r8 = from.context.r8;
    }
    if length > 2 {
        to.context.r9 = from.context.r9;
    }
    if length > 3 {
        to.context.r15 = from.context.r15;
    }
    to.context.rdi = badge;
    to.context.rsi = MessageInfo::new(info.label(), 0, 0, length).0;
}

/// Removes the first thread of an endpoint queue (which must hold `head`).
#[inline(always)]
fn pop_head(endpoint: &mut Endpoint, head: u64) {
    let next = tcb(head).queue_next;
    endpoint.queue.head = next;
    if next == 0 {
        endpoint.queue.tail = 0;
    } else {
        tcb(next).queue_prev = 0;
    }
    KernelMemory.set_links(head, 0, 0);
}

/// Call on an endpoint whose receiver waits. Does not return if it handled the call.
#[inline(always)]
pub fn call(caller_paddr: u64, cptr: u64, info: MessageInfo) {
    let caller = tcb(caller_paddr);
    if info.extra_caps() != 0 || info.length() > REGISTER_MESSAGE_WORDS {
        return;
    }
    let Some(slot) = lookup_one_level(caller, cptr) else { return };
    let Cap::Endpoint { paddr: ep_paddr, badge, rights } = slot.cap else { return };
    if !rights.contains(Rights::WRITE) {
        return;
    }
    // SAFETY: an endpoint capability names a live endpoint.
    let endpoint = unsafe { object::<Endpoint>(ep_paddr) };
    let receiver_paddr = endpoint.queue.head;
    if receiver_paddr == 0 || endpoint.senders_waiting {
        return;
    }
    let receiver = tcb(receiver_paddr);
    if receiver.priority < caller.priority
        || receiver.slots[tcb_slot::REPLY as usize].cap != Cap::Null
        || !matches!(receiver.slots[tcb_slot::VSPACE as usize].cap, Cap::Pml4 { .. })
        || !matches!(receiver.state, ThreadState::BlockedOnReceive { .. })
    {
        return;
    }
    pop_head(endpoint, receiver_paddr);
    deliver(caller, receiver, badge, info);
    let can_grant = rights.contains(Rights::GRANT) || rights.contains(Rights::GRANT_REPLY);
    let reply_slot = tcb_slot_address(receiver_paddr, tcb_slot::REPLY);
    receiver.slots[tcb_slot::REPLY as usize] =
        Slot { cap: Cap::Reply { tcb: caller_paddr, can_grant }, revocable: true, ..Slot::EMPTY };
    caller.state = ThreadState::BlockedOnReply;
    caller.reply_slot = reply_slot;
    receiver.state = ThreadState::Runnable;
    switch(receiver_paddr)
}

/// ReplyRecv whose caller waits for the reply and may run next, on an endpoint with no
/// sender waiting. Does not return if it handled the call.
#[inline(always)]
pub fn reply_recv(replier_paddr: u64, cptr: u64, info: MessageInfo) {
    let replier = tcb(replier_paddr);
    if info.extra_caps() != 0 || info.length() > REGISTER_MESSAGE_WORDS || replier.bound_notification != 0 {
        return;
    }
    let Cap::Reply { tcb: caller_paddr, .. } = replier.slots[tcb_slot::REPLY as usize].cap else { return };
    let Some(slot) = lookup_one_level(replier, cptr) else { return };
    let Cap::Endpoint { paddr: ep_paddr, rights, .. } = slot.cap else { return };
    if !rights.contains(Rights::READ) {
        return;
    }
    // SAFETY: an endpoint capability names a live endpoint.
    let endpoint = unsafe { object::<Endpoint>(ep_paddr) };
    if endpoint.senders_waiting && endpoint.queue.head != 0 {
        return;
    }
    let caller = tcb(caller_paddr);
    if caller.state != ThreadState::BlockedOnReply
        || caller.fault.is_some()
        || kernel().ready.highest().is_some_and(|highest| highest > caller.priority)
    {
        return;
    }
    // Reply: use up the reply capability and hand the caller its answer.
    replier.slots[tcb_slot::REPLY as usize] = Slot::EMPTY;
    caller.reply_slot = 0;
    deliver(replier, caller, 0, info);
    caller.state = ThreadState::Runnable;
    // Receive: the replier waits on the endpoint.
    replier.state = ThreadState::BlockedOnReceive { endpoint: ep_paddr, can_grant: rights.contains(Rights::GRANT) };
    endpoint.senders_waiting = false;
    endpoint.queue.push_back(&mut KernelMemory, replier_paddr);
    switch(caller_paddr)
}

/// Runs `next` directly (the current thread has just blocked).
#[inline(always)]
fn switch(next: u64) -> ! {
    thread::switch_direct(next);
    entry::return_to_user(&tcb(next).context)
}
