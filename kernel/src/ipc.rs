//! Message passing: endpoints (send, receive, call, reply), notifications (signal, wait,
//! poll, bound notifications) and fault messages.
#![deny(unsafe_code)]

use crate::state::{EndpointRef, KernelMemory, NotificationRef, Reg, init_object, read_word, tcb, write_word};
use crate::thread::{self, PendingFault, ThreadState};
use tileos_abi::message::{LABEL_IPC_ABORTED, LABEL_REPLY_LOST, MAX_MESSAGE_WORDS, MessageInfo, REGISTER_MESSAGE_WORDS, ipc_buffer};
use tileos_abi::object::Rights;
use tileos_kernel::cap::{Cap, tcb_slot};
use tileos_kernel::cspace::{self, CSpaceMemory, SlotRef};
use tileos_kernel::donation;
use tileos_kernel::queue::Queue;
use tileos_kernel::transfer;

/// Whether an IPC operation waits when no partner is ready (Send, Recv, Wait) or returns
/// at once (NBSend, NBRecv, Poll).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocking {
    /// Wait for a partner.
    Block,
    /// Do not wait: a send is dropped, a receive returns an empty message.
    Poll,
}

/// What a sender does after its message is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendKind {
    /// A plain send: the sender goes on.
    Send,
    /// A Call or fault message: the sender waits for the reply.
    Call,
}

/// An endpoint object: the threads waiting on it, all sending or all receiving.
#[repr(C)]
pub struct Endpoint {
    /// Waiting threads.
    pub queue: Queue,
    /// Whether the waiters are senders (true) or receivers (false); meaningless when empty.
    pub senders_waiting: bool,
}

/// A notification object: a word of pending signal bits and the threads waiting for it.
#[repr(C)]
pub struct Notification {
    /// Threads blocked in Wait.
    pub queue: Queue,
    /// Signalled badge bits not yet received.
    pub word: u64,
    /// A signal is pending (even one with badge 0, from an unbadged capability).
    pub active: bool,
    /// TCB bound to this notification (0: none).
    pub bound_tcb: u64,
}

/// Initialises a new endpoint object.
pub fn init_endpoint(paddr: u64) {
    init_object(paddr, Endpoint { queue: Queue::EMPTY, senders_waiting: false });
}

/// Initialises a new notification object.
pub fn init_notification(paddr: u64) {
    init_object(paddr, Notification { queue: Queue::EMPTY, word: 0, active: false, bound_tcb: 0 });
}

/// Physical address of a thread's IPC buffer: inside the frame held in its IPC-buffer
/// slot, at the offset of its configured address (0: none).
pub fn ipc_buffer_paddr(thread: u64) -> u64 {
    let t = tcb(thread);
    match t.slot_cap(tcb_slot::IPC_BUFFER) {
        Cap::Frame { paddr, size_bits, .. } => paddr + (t.ipc_buffer_vaddr() & ((1u64 << size_bits) - 1)),
        _ => 0,
    }
}

/// Reads word `index` of a thread's IPC buffer (0 without a buffer).
pub fn buffer_word(thread: u64, index: usize) -> u64 {
    let base = ipc_buffer_paddr(thread);
    if base == 0 || index >= ipc_buffer::SIZE / 8 {
        return 0;
    }
    // The IPC buffer lies inside a frame the thread's TCB slot keeps alive.
    read_word(base + 8 * index as u64)
}

/// Writes word `index` of a thread's IPC buffer (dropped without a buffer).
pub fn set_buffer_word(thread: u64, index: usize, value: u64) {
    let base = ipc_buffer_paddr(thread);
    if base != 0 && index < ipc_buffer::SIZE / 8 {
        write_word(base + 8 * index as u64, value);
    }
}

/// Message register `index` of a thread (registers for 0–3, IPC buffer beyond).
pub fn message_register(thread: u64, index: usize) -> u64 {
    let t = tcb(thread);
    match index {
        0 => t.reg(Reg::R10),
        1 => t.reg(Reg::R8),
        2 => t.reg(Reg::R9),
        3 => t.reg(Reg::R15),
        _ => buffer_word(thread, ipc_buffer::MSG + index),
    }
}

/// Sets message register `index` of a thread.
pub fn set_message_register(thread: u64, index: usize, value: u64) {
    let t = tcb(thread);
    match index {
        0 => t.set_reg(Reg::R10, value),
        1 => t.set_reg(Reg::R8, value),
        2 => t.set_reg(Reg::R9, value),
        3 => t.set_reg(Reg::R15, value),
        _ => set_buffer_word(thread, ipc_buffer::MSG + index, value),
    }
}

/// Largest message `thread` can hold (registers only without an IPC buffer).
pub fn capacity(thread: u64) -> usize {
    if ipc_buffer_paddr(thread) == 0 { REGISTER_MESSAGE_WORDS } else { MAX_MESSAGE_WORDS }
}

/// Sets the message info and badge a thread sees when its receive returns.
pub fn set_received(thread: u64, badge: u64, info: MessageInfo) {
    let t = tcb(thread);
    t.set_reg(Reg::Rdi, badge);
    t.set_reg(Reg::Rsi, info.0);
}

/// Copies the message of `sender` (its registers and IPC buffer, or its pending fault) to
/// `receiver`, transferring capabilities if the sender's capability had the grant right.
fn transfer(sender: u64, receiver: u64, badge: u64, can_grant: bool, via_endpoint: u64) {
    if let Some(fault) = tcb(sender).fault() {
        let length = fault.length.min(capacity(receiver));
        for (index, word) in fault.words.iter().enumerate().take(length) {
            set_message_register(receiver, index, *word);
        }
        set_received(receiver, badge, MessageInfo::new(fault.label, 0, 0, length as u64));
        return;
    }
    let info = MessageInfo(tcb(sender).reg(Reg::Rsi));
    let length = info.length().min(capacity(sender)).min(capacity(receiver));
    for index in 0..length {
        set_message_register(receiver, index, message_register(sender, index));
    }
    let (transferred, unwrapped) = if can_grant { transfer_caps(sender, receiver, info.extra_caps(), via_endpoint) } else { (0, 0) };
    set_received(receiver, badge, MessageInfo::new(info.label(), unwrapped, transferred, length as u64));
}

/// Transfers up to `count` capabilities named in the sender's IPC buffer
/// ([`tileos_kernel::transfer::transfer_caps`]): unwrapped badges are written to the
/// receiver's IPC buffer. Returns (transferred, unwrapped bitmap).
fn transfer_caps(sender: u64, receiver: u64, count: usize, via_endpoint: u64) -> (u64, u64) {
    let source = |_: &KernelMemory, index| lookup_slot(sender, buffer_word(sender, ipc_buffer::CAPS_OR_BADGES + index)).ok();
    let done = transfer::transfer_caps(&mut KernelMemory, count, source, via_endpoint, |_| receive_slot(receiver));
    for (index, badge) in done.badges.iter().enumerate() {
        if done.unwrapped & (1 << index) != 0 {
            set_buffer_word(receiver, ipc_buffer::CAPS_OR_BADGES + index, *badge);
        }
    }
    (done.count, done.unwrapped)
}

/// The empty slot the receiver named in its IPC buffer for receiving a capability.
fn receive_slot(receiver: u64) -> Option<SlotRef> {
    let depth = buffer_word(receiver, ipc_buffer::RECEIVE_DEPTH);
    if depth == 0 || depth > 64 {
        return None;
    }
    let index = buffer_word(receiver, ipc_buffer::RECEIVE_INDEX);
    let root = tcb(receiver).slot_cap(tcb_slot::CSPACE);
    let slot = cspace::resolve_exact(&KernelMemory, root, index, depth as u32).ok()?;
    (KernelMemory.read(slot).cap == Cap::Null).then_some(slot)
}

/// Resolves a capability pointer in `thread`'s CSpace (full 64-bit depth): in one step when
/// the CSpace root covers all 64 bits ([`crate::fastpath::lookup_one_level`]), else level by
/// level.
pub fn lookup_slot(thread: u64, cptr: u64) -> Result<SlotRef, tileos_abi::error::LookupFailure> {
    let slot = find_slot(thread, cptr)?;
    if KernelMemory.read(slot).cap == Cap::Null {
        return Err(tileos_abi::error::LookupFailure::MissingCapability);
    }
    Ok(slot)
}

/// The slot `cptr` names in `thread`'s CSpace, whatever it holds ([`lookup_slot`] without its
/// test for an empty slot, for a caller that reads the slot itself).
#[inline(always)]
pub fn find_slot(thread: u64, cptr: u64) -> Result<SlotRef, tileos_abi::error::LookupFailure> {
    match crate::fastpath::lookup_one_level(tcb(thread), cptr) {
        Some(slot) => Ok(slot),
        None => Ok(cspace::resolve(&KernelMemory, tcb(thread).slot_cap(tcb_slot::CSPACE), cptr, 64)?.0),
    }
}

/// Gives `receiver` a capability to reply once to `caller`, which now waits for it.
fn setup_reply(caller: u64, receiver: u64, can_grant: bool) {
    let mut memory = KernelMemory;
    let reply_slot = thread::tcb_slot_address(receiver, tcb_slot::REPLY);
    cspace::delete(&mut memory, reply_slot);
    cspace::insert_root(&mut memory, reply_slot, Cap::Reply { tcb: caller, can_grant });
    let t = tcb(caller);
    t.set_state(ThreadState::BlockedOnReply);
    t.set_reply_slot(reply_slot);
    t.set_reply_server(receiver);
}

/// After `sender`'s message reached a receiver: a Call waits for the reply (which may
/// carry capabilities if `reply_can_grant`), a Send is done.
/// A Call to a passive server donates the budget the caller runs on (after the reply
/// capability is set up, since deleting the server's previous one gives its budget back).
fn complete_send(sender: u64, receiver: u64, kind: SendKind, reply_can_grant: bool) {
    match kind {
        SendKind::Call => {
            setup_reply(sender, receiver, reply_can_grant);
            donation::donate(&mut KernelMemory, sender, receiver);
        }
        SendKind::Send => thread::make_runnable(sender),
    }
}

/// Forgets and returns the server whose TCB reply slot holds the capability to reply to
/// `caller` (0: none, or the capability was saved into a CNode slot, which names no server:
/// a server saves its reply capability only while it runs on its own budget).
fn take_reply_server(caller: u64) -> u64 {
    let server = tcb(caller).reply_server();
    tcb(caller).set_reply_server(0);
    server
}

/// `server` gives back the budget donated to it (its reply capability is used or gone, or it
/// faulted) and is rescheduled without it. Returns the budget's owner (0: none).
fn give_back(server: u64) -> u64 {
    if server == 0 {
        return 0;
    }
    let owner = donation::give_back(&mut KernelMemory, server);
    if owner != 0 {
        thread::requeue(server);
    }
    owner
}

/// `caller` wakes from waiting for a reply, `returned` the budget its server gave back (0:
/// none): the budget it called on comes back to it (a thread still running on it is
/// rescheduled without it).
fn wake_caller(caller: u64, returned: u64) {
    thread::requeue(donation::wake(&mut KernelMemory, caller, returned));
    thread::make_runnable(caller);
}

/// `sender` sends on the endpoint at `ep` (Send, NBSend, Call, or a fault message) with a
/// capability of `badge` and `rights` (of which only the grant and grant-reply rights count).
pub fn send(sender: u64, ep: u64, badge: u64, rights: Rights, blocking: Blocking, kind: SendKind) {
    let can_grant = rights.contains(Rights::GRANT);
    let can_grant_reply = rights.contains(Rights::GRANT_REPLY);
    let e = EndpointRef(ep);
    if e.queue_head() != 0 && !e.senders_waiting() {
        let receiver = e.pop_front().unwrap_or(0);
        let ThreadState::BlockedOnReceive { can_grant: receiver_grant, .. } = tcb(receiver).state() else { return };
        transfer(sender, receiver, badge, can_grant && receiver_grant, ep);
        if kind == SendKind::Call {
            thread::leave_ready_queue(sender);
        }
        // Before the receiver is queued: the Call may give it the budget it runs on.
        complete_send(sender, receiver, kind, can_grant || can_grant_reply);
        thread::make_runnable(receiver);
        return;
    }
    if blocking == Blocking::Poll {
        return;
    }
    thread::leave_ready_queue(sender);
    tcb(sender).set_state(ThreadState::BlockedOnSend { endpoint: ep, badge, can_grant, can_grant_reply, is_call: kind == SendKind::Call });
    e.set_senders_waiting(true);
    e.push_back(sender);
}

/// `receiver` receives on the endpoint at `ep` (Recv, NBRecv, the second half of ReplyRecv)
/// with a capability of `rights` (the grant right lets it receive capabilities).
pub fn receive(receiver: u64, ep: u64, rights: Rights, blocking: Blocking) {
    let can_grant = rights.contains(Rights::GRANT);
    if take_bound_signal(receiver) {
        return;
    }
    let e = EndpointRef(ep);
    if e.queue_head() != 0 && e.senders_waiting() {
        let sender = e.pop_front().unwrap_or(0);
        let ThreadState::BlockedOnSend { badge, can_grant: sender_grant, can_grant_reply, is_call, .. } = tcb(sender).state() else {
            return;
        };
        transfer(sender, receiver, badge, sender_grant && can_grant, ep);
        tcb(sender).set_state(ThreadState::Inactive);
        let kind = if is_call { SendKind::Call } else { SendKind::Send };
        complete_send(sender, receiver, kind, sender_grant || can_grant_reply);
        return;
    }
    if blocking == Blocking::Poll {
        set_received(receiver, 0, MessageInfo::new(0, 0, 0, 0));
        return;
    }
    thread::leave_ready_queue(receiver);
    tcb(receiver).set_state(ThreadState::BlockedOnReceive { endpoint: ep, can_grant });
    e.set_senders_waiting(false);
    e.push_back(receiver);
}

/// Replies through the reply capability in slot `reply_slot` (from `replier`), if it is
/// one; the capability is used up. Returns whether a reply was delivered.
pub fn reply_through(replier: u64, reply_slot: SlotRef) -> bool {
    let mut memory = KernelMemory;
    let Cap::Reply { tcb: caller, can_grant } = memory.read(reply_slot).cap else {
        return false;
    };
    let delivered = tcb(caller).state() == ThreadState::BlockedOnReply;
    if delivered {
        // A reply to a fault message only restarts the thread; its registers stay as the
        // handler left them.
        if tcb(caller).take_fault().is_none() {
            transfer(replier, caller, 0, can_grant, 0);
        }
        tcb(caller).set_reply_slot(SlotRef::NONE);
        let returned = give_back(take_reply_server(caller));
        wake_caller(caller, returned);
    }
    cspace::delete(&mut memory, reply_slot);
    delivered
}

/// The capability to reply to `caller` was destroyed unused: unlike seL4, where the
/// caller would wait forever, it is woken with [`LABEL_REPLY_LOST`] so it can recover
/// (the server died, or received again without replying).
pub fn reply_lost(caller: u64) {
    let t = tcb(caller);
    let returned = give_back(take_reply_server(caller));
    t.set_reply_slot(SlotRef::NONE);
    if t.state() == ThreadState::BlockedOnReply {
        if t.take_fault().is_none() {
            set_received(caller, 0, MessageInfo::new(LABEL_REPLY_LOST, 0, 0, 0));
            wake_caller(caller, returned);
        } else {
            // A faulting thread whose handler dropped the fault message stays stopped.
            thread::requeue(donation::wake(&mut KernelMemory, caller, 0));
            t.set_state(ThreadState::Inactive);
        }
    }
}

/// Signals the notification at `ntfn` with `badge` bits.
pub fn signal(ntfn: u64, badge: u64) {
    let n = NotificationRef(ntfn);
    if let Some(waiter) = n.pop_front() {
        set_received(waiter, n.word() | badge, MessageInfo::new(0, 0, 0, 0));
        n.set_word(0);
        n.set_active(false);
        thread::make_runnable(waiter);
        return;
    }
    let bound = n.bound_tcb();
    if bound != 0
        && let ThreadState::BlockedOnReceive { endpoint: ep, .. } = tcb(bound).state()
    {
        EndpointRef(ep).remove(bound);
        set_received(bound, n.word() | badge, MessageInfo::new(0, 0, 0, 0));
        n.set_word(0);
        n.set_active(false);
        thread::make_runnable(bound);
        return;
    }
    n.set_word(n.word() | badge);
    n.set_active(true);
}

/// `thread` waits on (or, not blocking, polls) the notification at `ntfn`.
#[inline] // one caller (receive); kept inlined there, as the notification round trip is measured
pub fn wait(thread_paddr: u64, ntfn: u64, blocking: Blocking) {
    let n = NotificationRef(ntfn);
    if n.active() || blocking == Blocking::Poll {
        set_received(thread_paddr, n.word(), MessageInfo::new(0, 0, 0, 0));
        n.set_word(0);
        n.set_active(false);
        return;
    }
    thread::leave_ready_queue(thread_paddr);
    tcb(thread_paddr).set_state(ThreadState::BlockedOnNotification { notification: ntfn });
    n.push_back(thread_paddr);
}

/// Delivers a pending signal of `thread`'s bound notification instead of a message.
fn take_bound_signal(thread_paddr: u64) -> bool {
    let bound = tcb(thread_paddr).bound_notification();
    if bound == 0 || !NotificationRef(bound).active() {
        return false;
    }
    let n = NotificationRef(bound);
    set_received(thread_paddr, n.word(), MessageInfo::new(0, 0, 0, 0));
    n.set_word(0);
    n.set_active(false);
    true
}

/// Binds the notification at `ntfn` to `thread` (fails if either is already bound).
pub fn bind(thread_paddr: u64, ntfn: u64) -> bool {
    if tcb(thread_paddr).bound_notification() != 0 || NotificationRef(ntfn).bound_tcb() != 0 {
        return false;
    }
    tcb(thread_paddr).set_bound_notification(ntfn);
    NotificationRef(ntfn).set_bound_tcb(thread_paddr);
    true
}

/// Unbinds `thread`'s notification, if any.
pub fn unbind(thread_paddr: u64) {
    let bound = tcb(thread_paddr).bound_notification();
    if bound != 0 {
        NotificationRef(bound).set_bound_tcb(0);
        tcb(thread_paddr).set_bound_notification(0);
    }
}

/// Takes `thread` out of whatever IPC it is blocked in (it becomes Inactive). A caller
/// waiting for a reply loses the reply capability.
pub fn cancel(thread_paddr: u64) {
    match tcb(thread_paddr).state() {
        ThreadState::BlockedOnSend { endpoint: ep, .. } | ThreadState::BlockedOnReceive { endpoint: ep, .. } => {
            EndpointRef(ep).remove(thread_paddr);
        }
        ThreadState::BlockedOnNotification { notification: ntfn } => {
            NotificationRef(ntfn).remove(thread_paddr);
        }
        ThreadState::BlockedOnReply => {
            // Stop waiting first, so deleting the reply capability does not wake it.
            let slot = tcb(thread_paddr).reply_slot();
            tcb(thread_paddr).set_state(ThreadState::Inactive);
            tcb(thread_paddr).set_reply_slot(SlotRef::NONE);
            give_back(take_reply_server(thread_paddr));
            if slot != SlotRef::NONE {
                cspace::delete(&mut KernelMemory, slot);
            }
            // Its budget comes back from the servers it was lent to: a stopped thread
            // lends nothing, so it can be resumed without two threads on one budget.
            thread::requeue(donation::wake(&mut KernelMemory, thread_paddr, 0));
        }
        ThreadState::Runnable => thread::leave_ready_queue(thread_paddr),
        ThreadState::Inactive => {}
    }
    tcb(thread_paddr).set_state(ThreadState::Inactive);
    tcb(thread_paddr).set_fault(None);
}

/// Releases every thread waiting on a destroyed endpoint or notification: each returns
/// from its IPC with the label [`LABEL_IPC_ABORTED`].
/// A thread whose fault message was waiting is not resumed (its fault was never handled):
/// it stays stopped, as when a fault's reply capability is dropped.
pub fn abort_waiters(mut pop_front: impl FnMut() -> Option<u64>) {
    while let Some(waiter) = pop_front() {
        if tcb(waiter).take_fault().is_some() {
            tcb(waiter).set_state(ThreadState::Inactive);
            continue;
        }
        set_received(waiter, 0, MessageInfo::new(LABEL_IPC_ABORTED, 0, 0, 0));
        thread::make_runnable(waiter);
    }
}

/// Destroys an endpoint: its waiters are released.
pub fn destroy_endpoint(ep: u64) {
    let e = EndpointRef(ep);
    abort_waiters(|| e.pop_front());
}

/// Destroys a notification: waiters released, bound thread unbound.
pub fn destroy_notification(ntfn: u64) {
    let n = NotificationRef(ntfn);
    abort_waiters(|| n.pop_front());
    for line in crate::state::kernel().irqs.iter_mut().filter(|line| line.notification == ntfn) {
        line.notification = 0;
    }
    if n.bound_tcb() != 0 {
        tcb(n.bound_tcb()).set_bound_notification(0);
        n.set_bound_tcb(0);
    }
}

/// Delivers a fault of `thread` to its fault endpoint, or stops the thread (and says so on
/// the kernel log) if it has none.
/// A faulting server first gives back the budget donated to it: neither the handler nor a
/// stopped server runs on its caller's budget.
pub fn raise_fault(thread_paddr: u64, fault: PendingFault) {
    give_back(thread_paddr);
    let handler = tcb(thread_paddr).slot_cap(tcb_slot::FAULT_ENDPOINT);
    match handler {
        Cap::Endpoint { paddr, badge, rights } if rights.contains(Rights::WRITE) => {
            tcb(thread_paddr).set_fault(Some(fault));
            // A fault message never transfers capabilities, whatever the handler's rights.
            send(thread_paddr, paddr, badge, Rights::WRITE, Blocking::Block, SendKind::Call);
        }
        _ => {
            crate::kprintln!(
                "thread {thread_paddr:#x}: unhandled fault {} [{:#x}, {:#x}, {:#x}, {:#x}]; no fault endpoint, thread suspended",
                fault_name(fault.label),
                fault.words[0],
                fault.words[1],
                fault.words[2],
                fault.words[3]
            );
            cancel(thread_paddr);
        }
    }
}

/// Name of a fault kind, for the kernel log.
pub fn fault_name(label: u64) -> &'static str {
    match label {
        tileos_abi::fault::CAP_FAULT => "capability fault",
        tileos_abi::fault::UNKNOWN_SYSCALL => "unknown syscall",
        tileos_abi::fault::USER_EXCEPTION => "user exception",
        tileos_abi::fault::VM_FAULT => "page fault",
        _ => "fault",
    }
}
