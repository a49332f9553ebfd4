//! Suite part three: capability transfer by grant, badge unwrapping, reply capabilities
//! saved with SaveCaller, bound notifications, and the remaining TCB and paging methods.

use super::{CNODE, DEPTH, Env, VSPACE, check, expect_error, expect_ok};
use core::sync::atomic::{AtomicU64, Ordering};
use tileos_abi::bootinfo::{ROOT_IPC_BUFFER_VADDR, slot};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::{
    CNodeCopy, CNodeDelete, CNodeMint, CNodeRevoke, CNodeSaveCaller, CPtr, FrameMap, FrameUnmap, PagingStructureMap, PagingStructureUnmap,
    Registers, Slot, TcbBindNotification, TcbConfigure, TcbReadRegisters, TcbSetIpcBuffer, TcbSetPriority, TcbWriteRegisters,
};
use tileos_abi::message::{MessageInfo, ipc_buffer};
use tileos_abi::object::{ObjectType, Rights};
use tileos_abi::syscall::Syscall;
use tileos_sys::cap::{CNode, Frame, PagingStructure, Tcb};
use tileos_sys::raw_syscall;

/// IPC buffer of the transfer-test threads (a frame of its own, one buffer per thread).
const BUFFERS: u64 = 0x1100_0000;
/// Stacks of the transfer-test threads.
const STACKS: u64 = 0x1100_8000;

static ENDPOINT: AtomicU64 = AtomicU64::new(0);
static RECEIVE_SLOT: AtomicU64 = AtomicU64::new(0);
static SEEN_CAPS: AtomicU64 = AtomicU64::new(0);
static SEEN_UNWRAPPED: AtomicU64 = AtomicU64::new(0);
static SEEN_BADGE: AtomicU64 = AtomicU64::new(0);
static SAVED_REPLY: AtomicU64 = AtomicU64::new(0);
static BOUND_WORD: AtomicU64 = AtomicU64::new(0);
static BOUND_LABEL: AtomicU64 = AtomicU64::new(u64::MAX);
/// A notification nobody signals: finished test threads wait on it forever.
static PARKING: AtomicU64 = AtomicU64::new(0);

fn buffer(index: u64) -> *mut u64 {
    (BUFFERS + index * 1024) as *mut u64
}

/// Receives one message with a receive slot set, records what arrived, signals through the
/// received notification capability, then replies.
extern "C" fn grant_receiver() -> ! {
    // SAFETY: this thread's IPC buffer (index 0) is mapped.
    unsafe {
        buffer(0).add(ipc_buffer::RECEIVE_INDEX).write_volatile(RECEIVE_SLOT.load(Ordering::Relaxed));
        buffer(0).add(ipc_buffer::RECEIVE_DEPTH).write_volatile(64);
    }
    let message = raw_syscall(Syscall::Recv, ENDPOINT.load(Ordering::Relaxed), MessageInfo::default(), [0; 4]);
    SEEN_CAPS.store(message.info.extra_caps() as u64, Ordering::Relaxed);
    SEEN_UNWRAPPED.store(message.info.caps_unwrapped(), Ordering::Relaxed);
    // SAFETY: as above; the kernel wrote the unwrapped badge into caps_or_badges[0].
    SEEN_BADGE.store(unsafe { buffer(0).add(ipc_buffer::CAPS_OR_BADGES).read_volatile() }, Ordering::Relaxed);
    raw_syscall(Syscall::Send, RECEIVE_SLOT.load(Ordering::Relaxed), MessageInfo::default(), [0; 4]);
    raw_syscall(Syscall::Reply, 0, MessageInfo::new(0, 0, 0, 0), [0; 4]);
    park()
}

/// Receives a call, saves the reply capability, and answers later through it, with a
/// capability (so the answer takes the general reply path, not the short one).
extern "C" fn saving_server() -> ! {
    let ep = ENDPOINT.load(Ordering::Relaxed);
    raw_syscall(Syscall::Recv, ep, MessageInfo::default(), [0; 4]);
    let saved = SAVED_REPLY.load(Ordering::Relaxed);
    let result = CNode::from_cptr(CNODE).invoke(CNodeSaveCaller { dest: Slot::new(saved, DEPTH) });
    let label = if result.is_ok() { 0 } else { 1 };
    // SAFETY: this thread's IPC buffer (index 2) is mapped.
    unsafe { buffer(2).add(ipc_buffer::CAPS_OR_BADGES).write_volatile(PARKING.load(Ordering::Relaxed)) };
    raw_syscall(Syscall::Send, saved, MessageInfo::new(label, 0, 1, 1), [0x5A7ED, 0, 0, 0]);
    park()
}

/// Waits for a message on an endpoint nobody sends to; its bound notification wakes it.
extern "C" fn bound_receiver() -> ! {
    let message = raw_syscall(Syscall::Recv, ENDPOINT.load(Ordering::Relaxed), MessageInfo::default(), [0; 4]);
    BOUND_WORD.store(message.badge, Ordering::Relaxed);
    BOUND_LABEL.store(message.info.label(), Ordering::Relaxed);
    park()
}

/// A finished test thread blocks for good (so it never competes for the CPU again).
fn park() -> ! {
    loop {
        raw_syscall(Syscall::Recv, PARKING.load(Ordering::Relaxed), MessageInfo::default(), [0; 4]);
    }
}

fn spawn(env: &mut Env, buffers: u64, index: u64, entry: extern "C" fn() -> !, priority: u64) -> u64 {
    let tcb = env.make(ObjectType::Tcb, 0);
    let stack = env.make(ObjectType::Frame4K, 0);
    let stack_base = STACKS + index * 0x2000;
    assert!(
        Frame::from_cptr(stack).invoke(FrameMap { vaddr: stack_base, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }).is_ok()
    );
    assert!(
        Tcb::from_cptr(tcb)
            .invoke(TcbConfigure {
                fault_endpoint: 0,
                cspace_guard: 0,
                ipc_buffer: BUFFERS + index * 1024,
                cspace: CPtr(CNODE),
                vspace: CPtr(VSPACE),
                buffer_frame: CPtr(buffers)
            })
            .is_ok()
    );
    assert!(Tcb::from_cptr(tcb).invoke(TcbSetPriority { priority, authority: CPtr(slot::TCB) }).is_ok());
    assert!(
        Tcb::from_cptr(tcb)
            .invoke(TcbWriteRegisters { resume: 1, registers: Registers::new(&[entry as *const () as u64, stack_base + 0x1000 - 8]) })
            .is_ok()
    );
    tcb
}

/// Badged notification capabilities in consecutive slots of the root CNode, each with a
/// badge bit of its own: signalling through every one must set exactly their bits.
struct Neighbours {
    notification: u64,
    slots: [u64; NEIGHBOURS],
}

/// Slots on each side of a saved reply capability filled by [`neighbour_slots`]: 4 before
/// and the rest after (a TCB is 32 slots long).
const NEIGHBOURS: usize = 36;

impl Neighbours {
    /// The notification word once every neighbour has signalled.
    fn expected(&self) -> u64 {
        (1 << NEIGHBOURS) - 1
    }

    /// Signals through every neighbour, then takes the notification's word.
    fn signal_all(&self) -> u64 {
        for slot in self.slots {
            raw_syscall(Syscall::Send, slot, MessageInfo::default(), [0; 4]);
        }
        raw_syscall(Syscall::Recv, self.notification, MessageInfo::default(), [0; 4]).badge
    }
}

/// Fills [`NEIGHBOURS`] consecutive slots around a free one with badged notification
/// capabilities; returns them and the free slot.
fn neighbour_slots(env: &mut Env) -> (Neighbours, u64) {
    let notification = env.make(ObjectType::Notification, 0);
    let block: [u64; NEIGHBOURS + 1] = core::array::from_fn(|_| env.slots.take());
    let consecutive = block.windows(2).all(|pair| pair[1] == pair[0] + 1);
    check("neighbour_slots_are_consecutive", consecutive, format_args!("slots {block:?}"));
    let saved = block[4];
    let mut slots = [0; NEIGHBOURS];
    for (bit, slot) in block.iter().filter(|slot| **slot != saved).enumerate() {
        slots[bit] = *slot;
        let mint = CNodeMint {
            dest: Slot::new(*slot, DEPTH),
            src: Slot::new(notification, DEPTH),
            rights: Rights::ALL,
            badge: 1 << bit,
            src_root: CPtr(CNODE),
        };
        expect_ok("neighbour_slot_minted", CNode::from_cptr(CNODE).invoke(mint));
    }
    (Neighbours { notification, slots }, saved)
}

/// Runs the transfer tests.
pub fn tests(env: &mut Env) {
    PARKING.store(env.make(ObjectType::Notification, 0), Ordering::Relaxed);
    // Paging: a page directory and a PDPT for a fresh region, then a page table and frame.
    let pdpt = env.make(ObjectType::Pdpt, 0);
    let pd = env.make(ObjectType::PageDirectory, 0);
    let pt = env.make(ObjectType::PageTable, 0);
    let far = 0x0000_7000_0000_0000;
    expect_error(
        "page_directory_map_without_pdpt",
        PagingStructure::from_cptr(pd).invoke(PagingStructureMap { vaddr: far, vspace: CPtr(VSPACE) }),
        InvocationError::FailedLookup,
    );
    expect_ok("pdpt_map", PagingStructure::from_cptr(pdpt).invoke(PagingStructureMap { vaddr: far, vspace: CPtr(VSPACE) }));
    expect_ok("page_directory_map", PagingStructure::from_cptr(pd).invoke(PagingStructureMap { vaddr: far, vspace: CPtr(VSPACE) }));
    expect_ok(
        "page_table_map_under_new_directory",
        PagingStructure::from_cptr(pt).invoke(PagingStructureMap { vaddr: far, vspace: CPtr(VSPACE) }),
    );
    let frame = env.make(ObjectType::Frame4K, 0);
    expect_ok(
        "frame_map_in_new_hierarchy",
        Frame::from_cptr(frame).invoke(FrameMap { vaddr: far + 0x3000, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }),
    );
    // SAFETY: just mapped writable.
    unsafe { ((far + 0x3000) as *mut u64).write_volatile(42) };
    expect_ok("pdpt_unmap", PagingStructure::from_cptr(pdpt).invoke(PagingStructureUnmap {}));
    expect_ok("frame_unmap_after_hierarchy_gone", Frame::from_cptr(frame).invoke(FrameUnmap {}));

    let table = env.make(ObjectType::PageTable, 0);
    expect_ok(
        "page_table_map_for_transfer_threads",
        PagingStructure::from_cptr(table).invoke(PagingStructureMap { vaddr: BUFFERS, vspace: CPtr(VSPACE) }),
    );
    let buffers = env.make(ObjectType::Frame4K, 0);
    assert!(
        Frame::from_cptr(buffers).invoke(FrameMap { vaddr: BUFFERS, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }).is_ok()
    );

    // Capability transfer: a notification travels with a message over a grant-capable endpoint.
    let ep = env.make(ObjectType::Endpoint, 0);
    ENDPOINT.store(ep, Ordering::Relaxed);
    RECEIVE_SLOT.store(env.slots.take(), Ordering::Relaxed);
    spawn(env, buffers, 0, grant_receiver, 200);
    let gift = env.make(ObjectType::Notification, 0);
    let gift_badged = env.slots.take();
    expect_ok(
        "mint_badged_gift",
        CNode::from_cptr(CNODE).invoke(CNodeMint {
            dest: Slot::new(gift_badged, DEPTH),
            src: Slot::new(gift, DEPTH),
            rights: Rights::ALL,
            badge: 0x9,
            src_root: CPtr(CNODE),
        }),
    );
    let reply = tileos_sys::call(ep, 0, &[1], &[gift_badged]);
    check(
        "ipc_grant_transfers_a_capability",
        reply.info.label() == 0 && SEEN_CAPS.load(Ordering::Relaxed) == 1,
        format_args!("caps seen {}", SEEN_CAPS.load(Ordering::Relaxed)),
    );
    // The receiver signalled through its copy (badge 0x9): the signal is pending here.
    let polled = tileos_sys::recv(gift, false);
    check("received_capability_works", polled.badge == 0x9, format_args!("notification word {:#x}", polled.badge));

    // Badge unwrapping: a badged capability to the same endpoint arrives as its badge.
    let ep2 = env.make(ObjectType::Endpoint, 0);
    ENDPOINT.store(ep2, Ordering::Relaxed);
    RECEIVE_SLOT.store(env.slots.take(), Ordering::Relaxed);
    let badged = env.slots.take();
    expect_ok(
        "mint_badged_for_unwrap",
        CNode::from_cptr(CNODE).invoke(CNodeMint {
            dest: Slot::new(badged, DEPTH),
            src: Slot::new(ep2, DEPTH),
            rights: Rights::ALL,
            badge: 0xB0B,
            src_root: CPtr(CNODE),
        }),
    );
    SEEN_CAPS.store(0, Ordering::Relaxed);
    spawn(env, buffers, 1, grant_receiver_one, 200);
    let _ = tileos_sys::call(ep2, 0, &[1], &[badged]);
    check(
        "ipc_unwraps_badged_capability_of_the_same_endpoint",
        SEEN_UNWRAPPED.load(Ordering::Relaxed) == 1 && SEEN_BADGE.load(Ordering::Relaxed) == 0xB0B,
        format_args!("unwrapped {:#b}, badge {:#x}", SEEN_UNWRAPPED.load(Ordering::Relaxed), SEEN_BADGE.load(Ordering::Relaxed)),
    );

    // SaveCaller: the server keeps the reply capability in a slot and answers through it.
    // The slots around the saved one hold notification capabilities with one badge bit each:
    // the answer must leave every one of them as it was (the kernel once took the memory
    // before a saved capability's slot for its server's TCB, and wrote to it).
    let ep3 = env.make(ObjectType::Endpoint, 0);
    ENDPOINT.store(ep3, Ordering::Relaxed);
    let (neighbours, saved) = neighbour_slots(env);
    SAVED_REPLY.store(saved, Ordering::Relaxed);
    spawn(env, buffers, 2, saving_server, 200);
    let reply = tileos_sys::call(ep3, 0, &[7], &[]);
    check(
        "cnode_save_caller_then_reply_with_a_capability_through_saved_cap",
        reply.info.label() == 0 && reply.words[0] == 0x5A7ED,
        format_args!("{reply:?}"),
    );
    let word = neighbours.signal_all();
    check(
        "reply_through_saved_cap_leaves_neighbouring_slots_intact",
        word == neighbours.expected(),
        format_args!("badge word {word:#x}, expected {:#x}", neighbours.expected()),
    );

    // Bound notification: a signal wakes a thread blocked receiving on an endpoint.
    let ep4 = env.make(ObjectType::Endpoint, 0);
    let ntfn = env.make(ObjectType::Notification, 0);
    ENDPOINT.store(ep4, Ordering::Relaxed);
    let bound = spawn(env, buffers, 3, bound_receiver, 100);
    expect_ok("bind_notification_to_receiver", Tcb::from_cptr(bound).invoke(TcbBindNotification { notification: CPtr(ntfn) }));
    expect_ok("lower_priority_to_let_receiver_block", Tcb::ROOT.invoke(TcbSetPriority { priority: 50, authority: CPtr(slot::TCB) }));
    let signaller = env.slots.take();
    expect_ok(
        "mint_signal_badge",
        CNode::from_cptr(CNODE).invoke(CNodeMint {
            dest: Slot::new(signaller, DEPTH),
            src: Slot::new(ntfn, DEPTH),
            rights: Rights::ALL,
            badge: 0x40,
            src_root: CPtr(CNODE),
        }),
    );
    raw_syscall(Syscall::Send, signaller, MessageInfo::default(), [0; 4]);
    let (word, label) = (BOUND_WORD.load(Ordering::Relaxed), BOUND_LABEL.load(Ordering::Relaxed));
    expect_ok("restore_priority_after_bound_test", Tcb::ROOT.invoke(TcbSetPriority { priority: 255, authority: CPtr(slot::TCB) }));
    check("bound_notification_wakes_blocked_receiver", word == 0x40 && label == 0, format_args!("word {word:#x}, label {label:#x}"));

    // SetIpcBuffer moves a thread's buffer.
    expect_ok(
        "tcb_set_ipc_buffer",
        Tcb::from_cptr(bound).invoke(TcbSetIpcBuffer { ipc_buffer: BUFFERS + 3 * 1024, buffer_frame: CPtr(buffers) }),
    );
    expect_error(
        "tcb_set_ipc_buffer_needs_a_frame",
        Tcb::from_cptr(bound).invoke(TcbSetIpcBuffer { ipc_buffer: BUFFERS, buffer_frame: CPtr(CNODE) }),
        InvocationError::InvalidCapability,
    );
    self_rebinding_test(env);
}

/// A thread whose CSpace root's last capability is its own TCB slot re-binds itself from a
/// slot of that root: TcbConfigure's emptying of the TCB's slots destroys the root and the
/// source with it. The kernel must then install nothing (before, it linked the new root into
/// the CDT through the destroyed CNode's slot, which a later retype of that memory could
/// hand out) and answer InvalidCapability naming the CSpace argument.
fn self_rebinding_test(env: &mut Env) {
    // The thread's root: an 8-slot CNode (small enough to be destroyed within one kernel
    // entry), slot 1 its own TCB, 2 the root it asks for, 3 the address space, 4 the IPC
    // buffer's frame (guard 61 bits: its pointers are slot numbers). It shares the root server's
    // IPC buffer: `tileos_sys` writes a call's capability pointers there, and the root server
    // is not in a call while it runs.
    let root = env.make(ObjectType::CNode, 3);
    let next_root = env.make(ObjectType::CNode, 4);
    let tcb = env.make(ObjectType::Tcb, 0);
    for (index, source) in [(1, tcb), (2, next_root), (3, VSPACE), (4, slot::IPC_BUFFER_FRAME)] {
        expect_ok(
            "self_rebind_fill_root",
            CNode::from_cptr(root).invoke(CNodeCopy {
                dest: Slot::new(index, 3),
                src: Slot::new(source, DEPTH),
                rights: Rights::ALL,
                src_root: CPtr(CNODE),
            }),
        );
    }
    let stack = env.make(ObjectType::Frame4K, 0);
    let stack_base = STACKS + 4 * 0x2000;
    expect_ok(
        "self_rebind_stack",
        Frame::from_cptr(stack).invoke(FrameMap { vaddr: stack_base, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }),
    );
    expect_ok(
        "self_rebind_configure",
        Tcb::from_cptr(tcb).invoke(TcbConfigure {
            fault_endpoint: 0,
            cspace_guard: 61,
            ipc_buffer: ROOT_IPC_BUFFER_VADDR,
            cspace: CPtr(root),
            vspace: CPtr(VSPACE),
            buffer_frame: CPtr(slot::IPC_BUFFER_FRAME),
        }),
    );
    // Now the TCB's slot holds the root's last capability.
    expect_ok("self_rebind_drop_root", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(root, DEPTH) }));
    expect_ok("self_rebind_priority", Tcb::from_cptr(tcb).invoke(TcbSetPriority { priority: 100, authority: CPtr(slot::TCB) }));
    expect_ok(
        "self_rebind_start",
        Tcb::from_cptr(tcb).invoke(TcbWriteRegisters {
            resume: 1,
            registers: Registers::new(&[self_rebinder as *const () as u64, stack_base + 0x1000 - 8]),
        }),
    );
    // It runs while the root server is lowered below it, then faults and is suspended.
    expect_ok("self_rebind_lower_priority", Tcb::ROOT.invoke(TcbSetPriority { priority: 50, authority: CPtr(slot::TCB) }));
    expect_ok("self_rebind_restore_priority", Tcb::ROOT.invoke(TcbSetPriority { priority: 255, authority: CPtr(slot::TCB) }));
    // With the fix its address space goes with its old slots, so it faults on the
    // instruction after its system call, whose results its registers still hold (rsi the
    // message info, r10 MR0); a kernel that installs its new slots lets it record them.
    // The reply's words 7 (rsi) and 12 (r10) are past the four in registers: in the IPC buffer.
    let registers = expect_ok("self_rebind_read_registers", Tcb::from_cptr(tcb).invoke(TcbReadRegisters { count: 18 }));
    let (mut answer, mut detail) = (REBIND_ANSWER.load(Ordering::Relaxed), REBIND_DETAIL.load(Ordering::Relaxed));
    if answer == u64::MAX && registers.is_some() {
        let word = |index| tileos_sys::buffer_word(ipc_buffer::MSG + index);
        (answer, detail) = (MessageInfo(word(7)).label(), word(12));
    }
    check(
        "configure_from_a_slot_its_own_emptying_destroys_is_refused",
        answer == InvocationError::InvalidCapability as u64 && detail == 1,
        format_args!(
            "answer {answer} (InvalidCapability = {}), MR0 {detail} (1: the CSpace root)",
            InvocationError::InvalidCapability as u64
        ),
    );
    expect_ok("self_rebind_thread_deleted", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(tcb, DEPTH) }));
    // The CDT is intact: the root it asked for is revoked and deleted as any other.
    expect_ok("self_rebind_next_root_revoked", CNode::from_cptr(CNODE).invoke(CNodeRevoke { slot: Slot::new(next_root, DEPTH) }));
    expect_ok("self_rebind_next_root_deleted", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(next_root, DEPTH) }));
}

/// What the self-re-binding thread's TcbConfigure answered: its error label (0: accepted)
/// and MR0 (the argument named).
static REBIND_ANSWER: AtomicU64 = AtomicU64::new(u64::MAX);
static REBIND_DETAIL: AtomicU64 = AtomicU64::new(u64::MAX);

/// Re-binds its own TCB (slot 1 of its root) to the 16-slot CNode in slot 2 (guard 60),
/// records the answer if it still has an address space, then faults (with its CSpace gone
/// it can make no system call that blocks).
extern "C" fn self_rebinder() -> ! {
    let result = Tcb::from_cptr(1).invoke(TcbConfigure {
        fault_endpoint: 0,
        cspace_guard: 60,
        ipc_buffer: ROOT_IPC_BUFFER_VADDR,
        cspace: CPtr(2),
        vspace: CPtr(3),
        buffer_frame: CPtr(4),
    });
    let (answer, detail) = match result {
        Ok(_) => (0, 0),
        Err(error) => (error.label, error.details[0]),
    };
    REBIND_DETAIL.store(detail, Ordering::Relaxed);
    REBIND_ANSWER.store(answer, Ordering::Relaxed);
    // An undefined instruction: with no fault endpoint the kernel suspends the thread.
    // SAFETY: it only raises #UD; nothing after it runs.
    unsafe { core::arch::asm!("ud2", options(noreturn)) }
}

/// The unwrap test's receiver: same as `grant_receiver`, with IPC buffer index 1.
extern "C" fn grant_receiver_one() -> ! {
    // SAFETY: this thread's IPC buffer (index 1) is mapped.
    unsafe {
        buffer(1).add(ipc_buffer::RECEIVE_INDEX).write_volatile(RECEIVE_SLOT.load(Ordering::Relaxed));
        buffer(1).add(ipc_buffer::RECEIVE_DEPTH).write_volatile(64);
    }
    let message = raw_syscall(Syscall::Recv, ENDPOINT.load(Ordering::Relaxed), MessageInfo::default(), [0; 4]);
    SEEN_UNWRAPPED.store(message.info.caps_unwrapped(), Ordering::Relaxed);
    // SAFETY: as above.
    SEEN_BADGE.store(unsafe { buffer(1).add(ipc_buffer::CAPS_OR_BADGES).read_volatile() }, Ordering::Relaxed);
    raw_syscall(Syscall::Reply, 0, MessageInfo::new(0, 0, 0, 0), [0; 4]);
    park()
}
