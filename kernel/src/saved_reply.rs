//! Saved reply capabilities on a server's serving path (docs/abi.md §"SaveRecv"): the
//! system call `SaveRecv`, which moves the reply capability of the call just served into a
//! slot of the server's CSpace and then receives, and a short path for a reply (`Reply`,
//! `ReplyRecv`'s reply half, or NbSend, Send or Call on a saved reply capability).
//!
//! A server that answers its callers later (the slot manager, which answers a module's
//! call with the module's next piece of work when there is some) used to spend two system
//! calls on each caller beyond the receive and the reply: `CNodeSaveCaller` (an invocation:
//! decode, two slot resolutions, the move) and the general reply path's word-by-word copy.
//! `SaveRecv` folds the save into the next receive; [`reply`] copies the message with the
//! two IPC buffers found once. Both are the general path's semantics exactly; only the
//! work differs. [`nb_send`] takes an `NbSend` on a saved reply capability before the
//! general system call dispatch and, when the sender keeps the CPU, leaves to it without
//! the scheduler; [`nb_send_all`] sends one message to several saved reply capabilities
//! in one system call (the slot manager's request to its serving module and its copies to
//! the challengers).
#![deny(unsafe_code)]

use crate::arch::percpu::this_cpu;
use crate::arch::smp::shared;
use crate::ipc::{self, Blocking};
use crate::state::{KernelMemory, Reg, kernel, read_word, tcb, write_word};
use crate::thread::{self, ThreadState};
use tileos_abi::error::{Error, InvocationError};
use tileos_abi::message::{LABEL_SAVE_FAILED, MAX_MESSAGE_WORDS, MessageInfo, REGISTER_MESSAGE_WORDS, ipc_buffer};
use tileos_abi::syscall::NB_SEND_ALL_TARGETS;
use tileos_kernel::cap::{Cap, tcb_slot};
use tileos_kernel::cspace::{self, CSpaceMemory, Slot, SlotRef};
use tileos_kernel::donation;

/// `SaveRecv`: `caller` moves the reply capability in its REPLY slot (if any) to the empty
/// slot `dest` of its CSpace (a capability pointer resolved at full depth), then receives
/// on `cptr` as `Recv` does. `dest` is checked first, whether or not a reply capability
/// waits: a pointer that does not resolve, or names a slot that is not empty, ends the call
/// at once with [`LABEL_SAVE_FAILED`] (nothing moved, nothing received); so does a caller
/// running on a budget donated to it (the budget goes back with the reply, which must stay
/// where the kernel can find its server).
pub fn save_recv(caller: u64, cptr: u64, dest: u64) {
    if let Err(error) = save(caller, dest) {
        ipc::set_message_register(caller, 0, error.code as u64);
        ipc::set_message_register(caller, 1, error.details[0]);
        ipc::set_message_register(caller, 2, error.details[1]);
        ipc::set_received(caller, 0, MessageInfo::new(LABEL_SAVE_FAILED, 0, 0, 3));
        return;
    }
    crate::syscall::receive(caller, cptr, Blocking::Block);
}

/// The save half of [`save_recv`]: checks `dest`, then moves the reply capability.
fn save(caller: u64, dest: u64) -> Result<(), Error> {
    let mut memory = KernelMemory;
    let root = tcb(caller).slot_cap(tcb_slot::CSPACE);
    let (slot, _) = cspace::resolve(&memory, root, dest, 64).map_err(|failure| Error::lookup(false, failure))?;
    if memory.read(slot).cap != Cap::Null {
        return Err(Error::new(InvocationError::DeleteFirst));
    }
    if tcb(caller).donor() != 0 {
        return Err(Error::new(InvocationError::IllegalOperation));
    }
    let reply_slot = thread::tcb_slot_address(caller, tcb_slot::REPLY);
    let reply = memory.read(reply_slot).cap;
    if let Cap::Reply { tcb: waiting, .. } = reply {
        tcb(waiting).set_reply_slot(slot);
        tcb(waiting).set_reply_server(0);
        cspace::move_cap(&mut memory, reply_slot, slot, reply);
    }
    Ok(())
}

/// `NbSend` on a saved reply capability that `cptr` names in one step
/// ([`crate::fastpath::lookup_one_level`], as the general lookup tries first): the reply
/// exactly as the general path makes it ([`reply`]), then [`leave_to_sender`]. Returns,
/// doing nothing, for any other `NbSend` and for a sender running on a donated budget (the
/// general path takes them).
#[inline(always)]
pub fn nb_send(sender: u64, cptr: u64, info: MessageInfo) {
    let Some(slot) = crate::fastpath::lookup_one_level(tcb(sender), cptr) else { return };
    let saved = KernelMemory.read(slot);
    // A sender on a donated budget gives it back with the reply: its budget holder changes,
    // so the general path (and its scheduler) takes it.
    if !matches!(saved.cap, Cap::Reply { .. }) || tcb(sender).donor() != 0 {
        return;
    }
    reply_from(sender, slot, saved, info, || ipc::ipc_buffer_paddr(sender));
    leave_to_sender(sender);
    thread::run_next()
}

/// `NbSendAll` (docs/abi.md §3.2): the message to each target in order (`rdx` of them,
/// 1–[`NB_SEND_ALL_TARGETS`], in `rdi`, `r12`, `r13`, `r14`), each as `NbSend` on it would
/// give it ([`reply`]); `rdi` returns the targets that named no reply capability (bit `i`
/// for target `i`). A count out of range or a message transferring capabilities sends
/// nothing (all bits set). Then [`leave_to_sender`] when the sender ran on its own budget
/// (a donated one went back with the first reply: the scheduler decides).
///
/// The sender's IPC buffer (for the short path's copy) is found once per call: it cannot
/// change during the call (no capability travels, and a reply only wakes its caller and
/// deletes a reply capability). Each target is looked up as [`ipc::lookup_slot`] does
/// ([`ipc::find_slot`]) and its slot read once.
pub fn nb_send_all(sender: u64, info: MessageInfo) {
    let t = tcb(sender);
    let (count, targets) = (t.reg(Reg::Rdx), [t.reg(Reg::Rdi), t.reg(Reg::R12), t.reg(Reg::R13), t.reg(Reg::R14)]);
    if count == 0 || count > NB_SEND_ALL_TARGETS as u64 || info.extra_caps() != 0 {
        t.set_reg(Reg::Rdi, u64::MAX);
        return;
    }
    let own_budget = t.donor() == 0;
    let source = ipc::ipc_buffer_paddr(sender);
    let mut not_sent = 0u64;
    for (index, &cptr) in targets.iter().enumerate().take(count as usize) {
        match ipc::find_slot(sender, cptr).map(|slot| (slot, KernelMemory.read(slot))) {
            Ok((slot, saved)) if matches!(saved.cap, Cap::Reply { .. }) => reply_from(sender, slot, saved, info, || source),
            _ => not_sent |= 1 << index,
        }
    }
    t.set_reg(Reg::Rdi, not_sent);
    if own_budget {
        leave_to_sender(sender);
    }
}

/// After a sender's replies on its own budget: when the general path's scheduler would
/// choose the sender again (it is runnable on its own CPU with a budget left, and no thread
/// of a higher priority is ready there), the kernel leaves to it directly
/// ([`thread::resume_current`]: its address space and budget holder are still in place,
/// since replies on its own budget change neither). Returns otherwise (the caller goes
/// through the scheduler).
#[inline(always)]
fn leave_to_sender(sender: u64) {
    let t = tcb(sender);
    if t.state() == ThreadState::Runnable
        && thread::has_budget(sender)
        && (!shared() || usize::from(t.affinity()) == this_cpu())
        && kernel().cpu().ready.highest().is_none_or(|highest| highest <= t.priority())
    {
        thread::resume_current(sender)
    }
}

/// A reply from `replier` through the reply capability in `slot` (its own REPLY slot, or a
/// slot of its CSpace), with the message `info`. Takes the short path when the caller waits
/// for this reply, no capability travels, the slot has no CDT links (reply capabilities
/// never have) and the replier runs on its own budget (so no donated budget goes back);
/// anything else goes to [`ipc::reply_through`]. Either way the capability is used up.
pub fn reply(replier: u64, slot: SlotRef, info: MessageInfo) {
    reply_from(replier, slot, KernelMemory.read(slot), info, || ipc::ipc_buffer_paddr(replier));
}

/// [`reply`] with the slot already read (`saved`, its content) and the replier's IPC buffer
/// given by `source` (its physical address, 0 for none; asked only on the short path).
#[inline(always)]
fn reply_from(replier: u64, slot: SlotRef, saved: Slot, info: MessageInfo, source: impl FnOnce() -> u64) {
    let Cap::Reply { tcb: caller, .. } = saved.cap else { return };
    let short = info.extra_caps() == 0
        && saved.prev == SlotRef::NONE
        && saved.next == SlotRef::NONE
        && tcb(replier).donor() == 0
        && tcb(caller).state() == ThreadState::BlockedOnReply
        && tcb(caller).reply_slot() == slot
        && tcb(caller).fault().is_none();
    if !short {
        ipc::reply_through(replier, slot);
        return;
    }
    copy_message(replier, source(), caller, info);
    KernelMemory.write(slot, Slot::EMPTY);
    tcb(caller).set_reply_slot(SlotRef::NONE);
    tcb(caller).set_reply_server(0);
    // As `ipc::reply_through` with nothing given back: the caller's budget comes home.
    let lost = donation::wake(&mut KernelMemory, caller, 0);
    if lost != 0 {
        thread::requeue(lost);
    }
    thread::make_runnable(caller);
}

/// Copies `info.length()` words (as far as both threads can hold them) from `from` (its IPC
/// buffer at `source`, 0 for none) to `to`: the register words, then the IPC buffer's, with
/// the receiver's buffer found once.
fn copy_message(from: u64, source: u64, to: u64, info: MessageInfo) {
    let target = ipc::ipc_buffer_paddr(to);
    let buffers = if source == 0 || target == 0 { REGISTER_MESSAGE_WORDS } else { MAX_MESSAGE_WORDS };
    let length = info.length().min(buffers);
    let (sender, receiver) = (tcb(from), tcb(to));
    for register in [Reg::R10, Reg::R8, Reg::R9, Reg::R15].into_iter().take(length) {
        receiver.set_reg(register, sender.reg(register));
    }
    for index in REGISTER_MESSAGE_WORDS..length {
        let offset = 8 * (ipc_buffer::MSG + index) as u64;
        write_word(target + offset, read_word(source + offset));
    }
    ipc::set_received(to, 0, MessageInfo::new(info.label(), 0, 0, length as u64));
}
