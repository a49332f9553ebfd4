//! Suite part two: threads, IPC, notifications, faults, TCB methods and preemption. Test
//! threads share the root server's address space and CSpace; they learn their capability
//! slots through the statics below, set before they start.

use super::{CNODE, DEPTH, Env, TEST_AREA, VSPACE, check, expect_error, expect_ok};
use core::sync::atomic::{AtomicU64, Ordering};
use tileos_abi::bootinfo::slot;
use tileos_abi::error::InvocationError;
use tileos_abi::fault;
use tileos_abi::invocation::Label;
use tileos_abi::invocation::{
    CNodeDelete, CNodeMint, CPtr, FrameMap, Registers, Slot, TcbBindNotification, TcbConfigure, TcbConsumedTime, TcbReadRegisters,
    TcbResume, TcbSetMcPriority, TcbSetPriority, TcbSuspend, TcbUnbindNotification, TcbWriteRegisters,
};
use tileos_abi::message::LABEL_IPC_ABORTED;
use tileos_abi::object::{ObjectType, Rights};
use tileos_sys::cap::{CNode, Frame, Tcb};
use tileos_sys::{invoke, recv, reply_recv};

static SERVER_EP: AtomicU64 = AtomicU64::new(0);
static WAITER_NTFN: AtomicU64 = AtomicU64::new(0);
static DONE_NTFN: AtomicU64 = AtomicU64::new(0);
static ABORTED_LABEL: AtomicU64 = AtomicU64::new(0);
static SPIN_A: AtomicU64 = AtomicU64::new(0);
static SPIN_B: AtomicU64 = AtomicU64::new(0);
static HIGH_RAN: AtomicU64 = AtomicU64::new(0);
static BUDGET_SPINS: AtomicU64 = AtomicU64::new(0);
static BUDGET_DONE: AtomicU64 = AtomicU64::new(0);
static BUDGET_TSC: AtomicU64 = AtomicU64::new(0);
static CONSUMED_SPIN_TSC: AtomicU64 = AtomicU64::new(0);
static CONSUMED_SPIN_DONE: AtomicU64 = AtomicU64::new(0);
/// The budget-escape attacker's capabilities: its own TCB, an untyped, a free slot, and the
/// notification it signals when done.
static ATTACK_SELF: AtomicU64 = AtomicU64::new(0);
static ATTACK_UNTYPED: AtomicU64 = AtomicU64::new(0);
static ATTACK_FRESH: AtomicU64 = AtomicU64::new(0);
static ATTACK_NTFN: AtomicU64 = AtomicU64::new(0);
/// Reply labels of the attacker's three steps (0: success; `u64::MAX`: not yet run).
static ATTACK_RETYPE: AtomicU64 = AtomicU64::new(u64::MAX);
static ATTACK_RAISE_MCP: AtomicU64 = AtomicU64::new(u64::MAX);
static ATTACK_LIFT_BUDGET: AtomicU64 = AtomicU64::new(u64::MAX);
/// The attacker's stack and IPC buffer index (see [`spawn`]).
const ATTACKER_INDEX: u64 = 15;

/// IPC buffers of test threads: 1 KiB each in the frame at this address.
pub(super) const THREAD_BUFFERS: u64 = TEST_AREA + 0x3000;
/// Stacks of test threads: one page each, a guard page apart.
const THREAD_STACKS: u64 = TEST_AREA + 0x10000;

/// Echo server: replies `[w0 + 1, w1 * 2, badge, sum of words 4..length]`.
extern "C" fn echo_server() -> ! {
    let ep = SERVER_EP.load(Ordering::Relaxed);
    let buffer = (THREAD_BUFFERS) as *const u64;
    let mut message = recv(ep, true);
    loop {
        let length = message.info.length();
        // SAFETY: this thread's IPC buffer is the first one in the mapped buffer frame.
        let sum: u64 = (4..length).map(|i| unsafe { buffer.add(i).read_volatile() }).sum();
        let reply = [message.words[0].wrapping_add(1), message.words[1].wrapping_mul(2), message.badge, sum];
        message = reply_recv(ep, 0, &reply);
    }
}

/// Waits on a notification, then signals DONE with the received word + 1 as badge
/// (through the unbadged cap, the word arrives via the counter instead).
extern "C" fn notification_waiter() -> ! {
    let message = recv(WAITER_NTFN.load(Ordering::Relaxed), true);
    HIGH_RAN.store(message.badge, Ordering::Relaxed);
    tileos_sys::send(DONE_NTFN.load(Ordering::Relaxed), 0, &[], &[], true);
    halt_self()
}

/// Blocks in Recv on the server endpoint and records the label it is released with.
extern "C" fn blocked_receiver() -> ! {
    let message = recv(SERVER_EP.load(Ordering::Relaxed), true);
    ABORTED_LABEL.store(message.info.label(), Ordering::Relaxed);
    tileos_sys::send(DONE_NTFN.load(Ordering::Relaxed), 0, &[], &[], true);
    halt_self()
}

/// Touches unmapped memory (a page fault).
extern "C" fn page_faulter() -> ! {
    // SAFETY: deliberately faults; the fault handler (the root server) deals with it.
    unsafe { (0xDEAD_0000 as *const u64).read_volatile() };
    halt_self()
}

/// Executes an undefined instruction.
extern "C" fn invalid_opcode() -> ! {
    // SAFETY: deliberately faults.
    unsafe { core::arch::asm!("ud2") };
    halt_self()
}

extern "C" fn spinner_a() -> ! {
    loop {
        SPIN_A.fetch_add(1, Ordering::Relaxed);
    }
}

extern "C" fn spinner_b() -> ! {
    loop {
        SPIN_B.fetch_add(1, Ordering::Relaxed);
    }
}

/// Spins for `BUDGET_TSC` time-stamp-counter ticks, then sets `BUDGET_DONE` and stops.
extern "C" fn budgeted_spinner() -> ! {
    // SAFETY: rdtsc is allowed in user mode.
    let start = unsafe { core::arch::x86_64::_rdtsc() };
    while unsafe { core::arch::x86_64::_rdtsc() } - start < BUDGET_TSC.load(Ordering::Relaxed) {
        BUDGET_SPINS.fetch_add(1, Ordering::Relaxed);
    }
    BUDGET_DONE.store(1, Ordering::Relaxed);
    halt_self()
}

/// Spins for `CONSUMED_SPIN_TSC` time-stamp-counter ticks, sets `CONSUMED_SPIN_DONE` and
/// waits for good.
extern "C" fn timed_spinner() -> ! {
    // SAFETY: rdtsc is allowed in user mode.
    let start = unsafe { core::arch::x86_64::_rdtsc() };
    while unsafe { core::arch::x86_64::_rdtsc() } - start < CONSUMED_SPIN_TSC.load(Ordering::Relaxed) {
        core::hint::spin_loop();
    }
    CONSUMED_SPIN_DONE.store(1, Ordering::Relaxed);
    halt_self()
}

/// Invokes `label` on `cptr` from the test thread with IPC buffer `index` and returns the
/// reply label (0: success). `tileos_sys` stages words past the fourth and capabilities in
/// the root server's IPC buffer; the kernel reads this thread's, at the same offset in the
/// buffer frame as its address, so they are written there.
fn thread_invoke(index: u64, cptr: u64, label: Label, words: &[u64], caps: &[u64]) -> u64 {
    use tileos_abi::message::{MessageInfo, ipc_buffer};
    let buffer = (THREAD_BUFFERS + ((index * 1024) & 0xFFF)) as *mut u64;
    let mut registers = [0; 4];
    for (position, &word) in words.iter().enumerate() {
        match registers.get_mut(position) {
            Some(register) => *register = word,
            // SAFETY: the buffer frame is mapped writable at THREAD_BUFFERS; the offset is
            // inside this thread's 1 KiB.
            None => unsafe { buffer.add(ipc_buffer::MSG + position).write_volatile(word) },
        }
    }
    for (position, &cptr) in caps.iter().enumerate() {
        // SAFETY: as above.
        unsafe { buffer.add(ipc_buffer::CAPS_OR_BADGES + position).write_volatile(cptr) };
    }
    let info = MessageInfo::new(label as u64, 0, caps.len() as u64, words.len() as u64);
    tileos_sys::raw_syscall(tileos_abi::syscall::Syscall::Call, cptr, info, registers).info.label()
}

/// The budget escape of issue 19, run by a budgeted thread with MCP 200 and untyped memory:
/// make a TCB, raise its MCP to 150 with its own TCB as authority, then lift its own budget
/// with the new TCB as authority. Records each step's reply label and signals when done.
extern "C" fn budget_escaper() -> ! {
    let (own, fresh) = (ATTACK_SELF.load(Ordering::Relaxed), ATTACK_FRESH.load(Ordering::Relaxed));
    let retype = [ObjectType::Tcb as u64, 0, 0, 0, fresh, 1];
    ATTACK_RETYPE.store(
        thread_invoke(ATTACKER_INDEX, ATTACK_UNTYPED.load(Ordering::Relaxed), Label::UntypedRetype, &retype, &[CNODE]),
        Ordering::Relaxed,
    );
    ATTACK_RAISE_MCP.store(thread_invoke(ATTACKER_INDEX, fresh, Label::TcbSetMcPriority, &[150], &[own]), Ordering::Relaxed);
    ATTACK_LIFT_BUDGET.store(thread_invoke(ATTACKER_INDEX, own, Label::TcbSetSchedParams, &[0, 0], &[fresh]), Ordering::Relaxed);
    tileos_sys::send(ATTACK_NTFN.load(Ordering::Relaxed), 0, &[], &[], true);
    halt_self()
}

extern "C" fn high_priority() -> ! {
    HIGH_RAN.store(1, Ordering::Relaxed);
    halt_self()
}

/// A test thread that is done waits forever on its own (never signalled) endpoint slot 0.
fn halt_self() -> ! {
    loop {
        tileos_sys::yield_now();
        recv(WAITER_NTFN.load(Ordering::Relaxed), true);
    }
}

/// Creates, configures and starts a thread at `priority` running `entry`; `index` picks
/// its stack and IPC buffer.
fn spawn(env: &mut Env, buffers: u64, index: u64, entry: extern "C" fn() -> !, priority: u64, fault_ep: u64) -> u64 {
    spawn_in(env, buffers, VSPACE, index, entry, priority, fault_ep)
}

/// [`spawn`] with the thread's VSpace taken from the capability in `vspace` (for other
/// parts of the suite; their `index` is 10 or more).
pub(super) fn spawn_in(
    env: &mut Env,
    buffers: u64,
    vspace: u64,
    index: u64,
    entry: extern "C" fn() -> !,
    priority: u64,
    fault_ep: u64,
) -> u64 {
    let tcb = env.make(ObjectType::Tcb, 0);
    let stack = env.make(ObjectType::Frame4K, 0);
    let stack_base = THREAD_STACKS + index * 0x2000;
    let mapped = Frame::from_cptr(stack).invoke(FrameMap { vaddr: stack_base, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) });
    assert!(mapped.is_ok(), "stack map failed: {mapped:?}");
    let configured = Tcb::from_cptr(tcb).invoke(TcbConfigure {
        fault_endpoint: fault_ep,
        cspace_guard: 0,
        ipc_buffer: THREAD_BUFFERS + index * 1024,
        cspace: CPtr(CNODE),
        vspace: CPtr(vspace),
        buffer_frame: CPtr(buffers),
    });
    assert!(configured.is_ok(), "configure failed: {configured:?}");
    let prioritised = Tcb::from_cptr(tcb).invoke(TcbSetPriority { priority, authority: CPtr(slot::TCB) });
    assert!(prioritised.is_ok(), "set priority failed: {prioritised:?}");
    let started = Tcb::from_cptr(tcb)
        .invoke(TcbWriteRegisters { resume: 1, registers: Registers::new(&[entry as *const () as u64, stack_base + 0x1000 - 8]) });
    assert!(started.is_ok(), "start failed: {started:?}");
    tcb
}

/// Runs the IPC, notification, fault, TCB and scheduling tests; `tsc_per_ms` is the
/// calibrated time-stamp-counter rate.
pub fn tests(env: &mut Env, _page_table: u64, tsc_per_ms: u64) {
    let buffers = env.make(ObjectType::Frame4K, 0);
    let mapped =
        Frame::from_cptr(buffers).invoke(FrameMap { vaddr: THREAD_BUFFERS, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) });
    assert!(mapped.is_ok(), "buffer frame map failed: {mapped:?}");

    // Call/ReplyRecv with an echo server at lower priority, same address space.
    let ep = env.make(ObjectType::Endpoint, 0);
    SERVER_EP.store(ep, Ordering::Relaxed);
    let server = spawn(env, buffers, 0, echo_server, 200, 0);
    let badged = env.slots.take();
    expect_ok(
        "endpoint_mint_badged_client_cap",
        CNode::from_cptr(CNODE).invoke(CNodeMint {
            dest: Slot::new(badged, DEPTH),
            src: Slot::new(ep, DEPTH),
            rights: Rights::ALL,
            badge: 77,
            src_root: CPtr(CNODE),
        }),
    );
    let reply = tileos_sys::call(badged, 5, &[10, 21, 0, 0], &[]);
    check(
        "ipc_call_reply_four_words_and_badge",
        reply.words[0] == 11 && reply.words[1] == 42 && reply.words[2] == 77 && reply.info.label() == 0,
        format_args!("reply {reply:?}"),
    );
    let long: [u64; 12] = [1, 2, 0, 0, 4, 5, 6, 7, 8, 9, 10, 11];
    let reply = tileos_sys::call(ep, 1, &long, &[]);
    check("ipc_long_message_through_ipc_buffers", reply.words[3] == 60 && reply.words[2] == 0, format_args!("reply {reply:?}"));
    let nb = tileos_sys::recv(ep, false);
    check("nbrecv_without_sender_returns_empty", nb.info.length() == 0 && nb.badge == 0, format_args!("{nb:?}"));
    let bad = tileos_sys::call(0x0FFE, 0, &[], &[]);
    check("call_on_empty_slot_returns_failed_lookup", bad.info.label() == InvocationError::FailedLookup as u64, format_args!("{bad:?}"));

    // TCB methods on the (blocked) server thread.
    let regs = expect_ok("tcb_read_registers", Tcb::from_cptr(server).invoke(TcbReadRegisters { count: 3 }));
    check(
        "tcb_read_registers_rip_in_image",
        regs.is_some_and(|r| r.words[0] >= 0x40_0000 && r.words[0] < 0x80_0000),
        format_args!("{regs:?}"),
    );
    expect_error(
        "tcb_read_registers_count_checked",
        Tcb::from_cptr(server).invoke(TcbReadRegisters { count: 0 }),
        InvocationError::RangeError,
    );
    expect_error("tcb_read_own_registers_refused", Tcb::ROOT.invoke(TcbReadRegisters { count: 3 }), InvocationError::IllegalOperation);
    expect_error(
        "tcb_write_registers_kernel_rip_refused",
        Tcb::from_cptr(server).invoke(TcbWriteRegisters { resume: 0, registers: Registers::new(&[0xFFFF_8000_0000_0000]) }),
        InvocationError::InvalidArgument,
    );
    expect_error(
        "tcb_set_priority_needs_tcb_authority",
        Tcb::from_cptr(server).invoke(TcbSetPriority { priority: 10, authority: CPtr(CNODE) }),
        InvocationError::InvalidCapability,
    );
    expect_ok("tcb_set_mc_priority", Tcb::from_cptr(server).invoke(TcbSetMcPriority { mcp: 20, authority: CPtr(slot::TCB) }));
    expect_error(
        "tcb_set_priority_above_authority_mcp",
        Tcb::from_cptr(server).invoke(TcbSetPriority { priority: 30, authority: CPtr(server) }),
        InvocationError::RangeError,
    );
    expect_ok(
        "tcb_set_priority_within_authority_mcp",
        Tcb::from_cptr(server).invoke(TcbSetPriority { priority: 20, authority: CPtr(server) }),
    );
    expect_error(
        "tcb_configure_checks_vspace_type",
        Tcb::from_cptr(server).invoke(TcbConfigure {
            fault_endpoint: 0,
            cspace_guard: 0,
            ipc_buffer: THREAD_BUFFERS,
            cspace: CPtr(CNODE),
            vspace: CPtr(CNODE),
            buffer_frame: CPtr(buffers),
        }),
        InvocationError::InvalidCapability,
    );
    expect_error(
        "tcb_configure_checks_buffer_alignment",
        Tcb::from_cptr(server).invoke(TcbConfigure {
            fault_endpoint: 0,
            cspace_guard: 0,
            ipc_buffer: THREAD_BUFFERS + 8,
            cspace: CPtr(CNODE),
            vspace: CPtr(VSPACE),
            buffer_frame: CPtr(buffers),
        }),
        InvocationError::AlignmentError,
    );
    expect_ok("tcb_suspend", Tcb::from_cptr(server).invoke(TcbSuspend {}));
    expect_ok("tcb_resume", Tcb::from_cptr(server).invoke(TcbResume {}));
    let unconfigured = env.make(ObjectType::Tcb, 0);
    expect_error("tcb_resume_unconfigured_refused", Tcb::from_cptr(unconfigured).invoke(TcbResume {}), InvocationError::IllegalOperation);

    // Notifications: badges OR together; poll clears.
    let ntfn = env.make(ObjectType::Notification, 0);
    let (n1, n4) = (env.slots.take(), env.slots.take());
    expect_ok(
        "notification_mint_badge_1",
        CNode::from_cptr(CNODE).invoke(CNodeMint {
            dest: Slot::new(n1, DEPTH),
            src: Slot::new(ntfn, DEPTH),
            rights: Rights::ALL,
            badge: 1,
            src_root: CPtr(CNODE),
        }),
    );
    expect_ok(
        "notification_mint_badge_4",
        CNode::from_cptr(CNODE).invoke(CNodeMint {
            dest: Slot::new(n4, DEPTH),
            src: Slot::new(ntfn, DEPTH),
            rights: Rights::ALL,
            badge: 4,
            src_root: CPtr(CNODE),
        }),
    );
    tileos_sys::send(n1, 0, &[], &[], true);
    tileos_sys::send(n4, 0, &[], &[], false);
    let polled = tileos_sys::recv(ntfn, false);
    check("notification_badges_or_together", polled.badge == 5, format_args!("word {:#x}", polled.badge));
    let again = tileos_sys::recv(ntfn, false);
    check("notification_poll_clears", again.badge == 0, format_args!("word {:#x}", again.badge));
    // An unbadged signal still counts: a later wait returns at once (with word 0).
    tileos_sys::send(ntfn, 0, &[], &[], true);
    let unbadged = tileos_sys::recv(ntfn, true);
    check("notification_unbadged_signal_is_kept", unbadged.badge == 0 && unbadged.info.label() == 0, format_args!("{unbadged:?}"));
    let bind = expect_ok("tcb_bind_notification", Tcb::from_cptr(unconfigured).invoke(TcbBindNotification { notification: CPtr(ntfn) }));
    let _ = bind;
    let other = env.make(ObjectType::Tcb, 0);
    expect_error(
        "notification_bound_twice_refused",
        Tcb::from_cptr(other).invoke(TcbBindNotification { notification: CPtr(ntfn) }),
        InvocationError::IllegalOperation,
    );
    expect_ok("tcb_unbind_notification", Tcb::from_cptr(unconfigured).invoke(TcbUnbindNotification {}));
    expect_error(
        "tcb_unbind_without_binding",
        Tcb::from_cptr(unconfigured).invoke(TcbUnbindNotification {}),
        InvocationError::IllegalOperation,
    );

    // A waiter at lower priority wakes on a signal and signals back.
    let waiter_ntfn = env.make(ObjectType::Notification, 0);
    let done = env.make(ObjectType::Notification, 0);
    WAITER_NTFN.store(waiter_ntfn, Ordering::Relaxed);
    DONE_NTFN.store(done, Ordering::Relaxed);
    let badged_waiter = env.slots.take();
    expect_ok(
        "notification_mint_for_waiter",
        CNode::from_cptr(CNODE).invoke(CNodeMint {
            dest: Slot::new(badged_waiter, DEPTH),
            src: Slot::new(waiter_ntfn, DEPTH),
            rights: Rights::ALL,
            badge: 0x30,
            src_root: CPtr(CNODE),
        }),
    );
    spawn(env, buffers, 1, notification_waiter, 100, 0);
    tileos_sys::send(badged_waiter, 0, &[], &[], true);
    tileos_sys::recv(done, true);
    check(
        "notification_wakes_waiter_with_badge",
        HIGH_RAN.load(Ordering::Relaxed) == 0x30,
        format_args!("waiter saw {:#x}", HIGH_RAN.load(Ordering::Relaxed)),
    );

    // Faults arrive at the fault endpoint as messages.
    let fault_ep = env.make(ObjectType::Endpoint, 0);
    let badged_fault = env.slots.take();
    expect_ok(
        "fault_endpoint_mint",
        CNode::from_cptr(CNODE).invoke(CNodeMint {
            dest: Slot::new(badged_fault, DEPTH),
            src: Slot::new(fault_ep, DEPTH),
            rights: Rights::ALL,
            badge: 0xF0,
            src_root: CPtr(CNODE),
        }),
    );
    let faulter = spawn(env, buffers, 2, page_faulter, 100, badged_fault);
    let message = recv(fault_ep, true);
    check(
        "page_fault_delivered_to_fault_endpoint",
        message.info.label() == fault::VM_FAULT && message.words[1] == 0xDEAD_0000 && message.badge == 0xF0,
        format_args!("{message:?}"),
    );
    expect_ok("faulting_thread_suspended_by_handler", Tcb::from_cptr(faulter).invoke(TcbSuspend {}));
    let opcode = spawn(env, buffers, 3, invalid_opcode, 100, badged_fault);
    let message = recv(fault_ep, true);
    check(
        "invalid_opcode_delivered_as_user_exception",
        message.info.label() == fault::USER_EXCEPTION && message.words[3] == 6,
        format_args!("{message:?}"),
    );
    // Restart after the handler moves the thread past the faulting instruction... here the
    // handler instead replies after pointing it at another function.
    expect_ok(
        "fault_handler_rewrites_registers",
        Tcb::from_cptr(opcode).invoke(TcbWriteRegisters { resume: 0, registers: Registers::new(&[high_priority as *const () as u64]) }),
    );
    HIGH_RAN.store(0, Ordering::Relaxed);
    tileos_sys::reply(0, &[]);
    let lowered = Tcb::ROOT.invoke(TcbSetPriority { priority: 50, authority: CPtr(slot::TCB) });
    let ran = HIGH_RAN.load(Ordering::Relaxed);
    let _ = Tcb::ROOT.invoke(TcbSetPriority { priority: 255, authority: CPtr(slot::TCB) });
    check("reply_to_fault_resumes_thread", lowered.is_ok() && ran == 1, format_args!("ran {ran}, lowered {lowered:?}"));
    let unhandled = spawn(env, buffers, 4, invalid_opcode, 100, 0);
    let lowered = Tcb::ROOT.invoke(TcbSetPriority { priority: 50, authority: CPtr(slot::TCB) });
    let _ = Tcb::ROOT.invoke(TcbSetPriority { priority: 255, authority: CPtr(slot::TCB) });
    let regs = Tcb::from_cptr(unhandled).invoke(TcbReadRegisters { count: 1 });
    check(
        "fault_without_handler_stops_thread",
        lowered.is_ok() && regs.is_ok_and(|r| r.words[0] >= invalid_opcode as *const () as u64),
        format_args!("{regs:?}"),
    );

    // Destroying an endpoint releases the thread blocked on it.
    let doomed = env.make(ObjectType::Endpoint, 0);
    SERVER_EP.store(doomed, Ordering::Relaxed);
    spawn(env, buffers, 5, blocked_receiver, 100, 0);
    let _ = Tcb::ROOT.invoke(TcbSetPriority { priority: 50, authority: CPtr(slot::TCB) });
    let _ = Tcb::ROOT.invoke(TcbSetPriority { priority: 255, authority: CPtr(slot::TCB) });
    expect_ok("endpoint_delete_last_cap", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(doomed, DEPTH) }));
    tileos_sys::recv(done, true);
    check(
        "destroyed_endpoint_releases_waiter",
        ABORTED_LABEL.load(Ordering::Relaxed) == LABEL_IPC_ABORTED,
        format_args!("label {:#x}", ABORTED_LABEL.load(Ordering::Relaxed)),
    );

    // Preemption: two spinners at equal priority both progress; the root server competes
    // at the same priority, so only the timer can move the CPU between them.
    let a = spawn(env, buffers, 6, spinner_a, 100, 0);
    let b = spawn(env, buffers, 7, spinner_b, 100, 0);
    expect_ok("lower_own_priority", Tcb::ROOT.invoke(TcbSetPriority { priority: 100, authority: CPtr(slot::TCB) }));
    let mut rounds = 0u64;
    while (SPIN_A.load(Ordering::Relaxed) == 0 || SPIN_B.load(Ordering::Relaxed) == 0) && rounds < 2_000_000_000 {
        rounds += 1;
        core::hint::spin_loop();
    }
    let (spun_a, spun_b) = (SPIN_A.load(Ordering::Relaxed), SPIN_B.load(Ordering::Relaxed));
    check("timer_preemption_round_robin_equal_priority", spun_a > 0 && spun_b > 0, format_args!("a {spun_a}, b {spun_b}"));
    HIGH_RAN.store(0, Ordering::Relaxed);
    spawn(env, buffers, 8, high_priority, 150, 0);
    check("higher_priority_thread_preempts", HIGH_RAN.load(Ordering::Relaxed) == 1, format_args!("high priority thread had not run"));
    let _ = Tcb::from_cptr(a).invoke(TcbSuspend {});
    let _ = Tcb::from_cptr(b).invoke(TcbSuspend {});
    expect_ok("restore_own_priority", Tcb::ROOT.invoke(TcbSetPriority { priority: 255, authority: CPtr(slot::TCB) }));

    budget_tests(env, buffers, unconfigured, tsc_per_ms);
    consumed_time_tests(env, buffers, unconfigured, tsc_per_ms);
    super::donation::tests(env, buffers, tsc_per_ms);
    super::save_recv::tests(env, buffers);
}

/// TcbConsumedTime (docs/abi.md §11.3): a thread that spins for about 60 ms is charged
/// ticks, at most as many as passed, and cycles, at least the 60 ms it spun and at most the
/// time that passed; a thread that ran once and then waited the whole time is charged
/// nothing more (ticks or cycles); a thread that never ran has none; only TCBs answer.
fn consumed_time_tests(env: &mut Env, buffers: u64, unconfigured: u64, tsc_per_ms: u64) {
    let consumed = |tcb: u64| Tcb::from_cptr(tcb).invoke(TcbConsumedTime {}).map(|reply| reply.words[0]);
    let cycles = |tcb: u64| Tcb::from_cptr(tcb).invoke(TcbConsumedTime {}).map(|reply| reply.words[1]);
    check("consumed_time_of_a_new_thread_is_zero", consumed(unconfigured) == Ok(0), format_args!("{:?}", consumed(unconfigured)));
    check("consumed_cycles_of_a_new_thread_are_zero", cycles(unconfigured) == Ok(0), format_args!("{:?}", cycles(unconfigured)));
    expect_error("consumed_time_needs_a_tcb", invoke(CNODE, Label::TcbConsumedTime, &[], &[]), InvocationError::IllegalOperation);
    // The idle thread runs at once (priority 150 above the root server's lowered 100),
    // marks HIGH_RAN and then waits for good.
    HIGH_RAN.store(0, Ordering::Relaxed);
    let idle = spawn(env, buffers, 13, high_priority, 150, 0);
    expect_ok("consumed_lower_own_priority", Tcb::ROOT.invoke(TcbSetPriority { priority: 100, authority: CPtr(slot::TCB) }));
    let idle_before = consumed(idle);
    let idle_cycles_before = cycles(idle);
    CONSUMED_SPIN_TSC.store(60 * tsc_per_ms, Ordering::Relaxed);
    // SAFETY: rdtsc is allowed in user mode.
    let start = unsafe { core::arch::x86_64::_rdtsc() };
    // The spinner (priority 150) runs until it is done, then waits; the root server runs on.
    let spinner = spawn(env, buffers, 14, timed_spinner, 150, 0);
    // SAFETY: as above.
    let elapsed = unsafe { core::arch::x86_64::_rdtsc() } - start;
    let elapsed_ms = elapsed / tsc_per_ms.max(1);
    let spun = consumed(spinner);
    let spun_cycles = cycles(spinner);
    let idle_after = consumed(idle);
    let idle_cycles_after = cycles(idle);
    expect_ok("consumed_restore_own_priority", Tcb::ROOT.invoke(TcbSetPriority { priority: 255, authority: CPtr(slot::TCB) }));
    let tick_ms = 5; // BootInfo tick_us: the kernel timer tick (docs/abi.md)
    let bound = elapsed_ms / tick_ms + 1;
    check(
        "consumed_time_of_a_spinning_thread_grows",
        CONSUMED_SPIN_DONE.load(Ordering::Relaxed) == 1 && spun.is_ok_and(|ticks| ticks >= 2 && ticks <= bound),
        format_args!("spun {spun:?} ticks in {elapsed_ms} ms (at most {bound}), done {}", CONSUMED_SPIN_DONE.load(Ordering::Relaxed)),
    );
    check(
        "consumed_time_of_a_waiting_thread_does_not_grow",
        HIGH_RAN.load(Ordering::Relaxed) == 1 && idle_before.is_ok() && idle_before == idle_after,
        format_args!("before {idle_before:?}, after {idle_after:?} while another thread spun"),
    );
    let own = consumed(slot::TCB);
    check("consumed_time_of_the_caller_itself", own.is_ok_and(|ticks| ticks > 0), format_args!("{own:?}"));
    // Cycles are charged precisely: the spinner's 60 ms of its own TSC at least (the
    // kernel's time on its behalf, the ticks that interrupted it, is charged to it too) and
    // no more than passed while the root server waited for it.
    let wanted = 60 * tsc_per_ms;
    check(
        "consumed_cycles_of_a_spinning_thread_are_precise",
        spun_cycles.is_ok_and(|c| c >= wanted && c <= elapsed),
        format_args!("spun {spun_cycles:?} cycles, spin {wanted}, {elapsed} passed"),
    );
    check(
        "consumed_cycles_of_a_waiting_thread_do_not_grow",
        idle_cycles_before.is_ok_and(|c| c > 0) && idle_cycles_before == idle_cycles_after,
        format_args!("before {idle_cycles_before:?}, after {idle_cycles_after:?} while another thread spun"),
    );
}

/// Scheduling budgets: argument and authority errors, then a budgeted high-priority spinner
/// that leaves time to a lower priority (the root server itself, lowered).
fn budget_tests(env: &mut Env, buffers: u64, unconfigured: u64, tsc_per_ms: u64) {
    let target = env.make(ObjectType::Tcb, 0);
    let sched = |tcb: u64, args: &[u64], authority: u64| invoke(tcb, Label::TcbSetSchedParams, args, &[authority]);
    expect_error("budget_needs_both_arguments", sched(target, &[1], slot::TCB), InvocationError::TruncatedMessage);
    expect_error("budget_needs_tcb_authority", sched(target, &[1, 4], CNODE), InvocationError::InvalidCapability);
    let range = |result: Result<tileos_sys::Reply, tileos_sys::Error>, bounds: [u64; 2]| matches!(result, Err(e) if e.code == Some(InvocationError::RangeError) && e.details == bounds);
    let above = sched(target, &[5, 4], slot::TCB);
    check("budget_above_period_refused", range(above, [1, 4]), format_args!("{above:?}"));
    let zero = sched(target, &[0, 4], slot::TCB);
    check("budget_zero_with_period_refused", range(zero, [1, 4]), format_args!("{zero:?}"));
    let no_period = sched(target, &[3, 0], slot::TCB);
    check("budget_without_period_refused", range(no_period, [0, 0]), format_args!("{no_period:?}"));
    let long = sched(target, &[1, u64::MAX], slot::TCB);
    check("budget_period_too_long_refused", range(long, [0, 1 << 20]), format_args!("{long:?}"));
    expect_ok("budget_set", sched(target, &[1, 4], slot::TCB));
    expect_ok("budget_longest_period", sched(target, &[1 << 20, 1 << 20], slot::TCB));
    expect_ok("budget_unlimited_again", sched(target, &[0, 0], slot::TCB));
    expect_ok("budget_target_priority_raised", Tcb::from_cptr(target).invoke(TcbSetPriority { priority: 150, authority: CPtr(slot::TCB) }));
    expect_error("budget_authority_mcp_below_target_priority", sched(target, &[1, 4], unconfigured), InvocationError::InvalidCapability);
    expect_ok(
        "budget_authority_may_be_a_new_tcb_with_mcp",
        Tcb::from_cptr(unconfigured).invoke(TcbSetMcPriority { mcp: 150, authority: CPtr(slot::TCB) }),
    );
    expect_ok("budget_set_with_other_authority", sched(target, &[2, 4], unconfigured));
    expect_error("budgeted_authority_refused", sched(target, &[0, 0], target), InvocationError::IllegalOperation);

    // A budgeted spinner at priority 150 (1 tick in every 4) and the root server lowered to
    // 100: the root server must run while the spinner still spins. Without budgets it would
    // only run again once the spinner stopped on its own.
    BUDGET_TSC.store(300 * tsc_per_ms, Ordering::Relaxed);
    let spinner = spawn(env, buffers, 9, budgeted_spinner, 150, 0);
    expect_ok("budget_spinner_set", sched(spinner, &[1, 4], slot::TCB));
    expect_ok("budget_lower_own_priority", Tcb::ROOT.invoke(TcbSetPriority { priority: 100, authority: CPtr(slot::TCB) }));
    // On a loaded host a timer tick may fall between the budget's setting and the priority
    // change, leaving the spinner depleted before it spun once: the root server then runs
    // first. What counts is that it runs again while the spinner has started but not
    // finished, so it waits (bounded) until the spinner has spun.
    let mut waited = 0u64;
    while BUDGET_SPINS.load(Ordering::Relaxed) == 0 && BUDGET_DONE.load(Ordering::Relaxed) == 0 && waited < 2_000_000_000 {
        waited += 1;
        core::hint::spin_loop();
    }
    let (spins, done) = (BUDGET_SPINS.load(Ordering::Relaxed), BUDGET_DONE.load(Ordering::Relaxed));
    check(
        "budgeted_high_priority_spinner_lets_lower_priority_run",
        spins > 0 && done == 0,
        format_args!("spinner spun {spins} times, done {done}: the lower priority only ran after it stopped"),
    );
    let mut rounds = 0u64;
    while BUDGET_DONE.load(Ordering::Relaxed) == 0 && rounds < 20_000_000_000 {
        rounds += 1;
        core::hint::spin_loop();
    }
    expect_ok("budget_restore_own_priority", Tcb::ROOT.invoke(TcbSetPriority { priority: 255, authority: CPtr(slot::TCB) }));
    let _ = Tcb::from_cptr(spinner).invoke(TcbSuspend {});
    budget_escape_tests(env, buffers, target);
}

/// The ways a budgeted thread could get an unbudgeted authority are closed: a budgeted
/// authority gives no MCP, and a TCB a budgeted thread makes is budgeted. `budgeted` is a
/// TCB with a budget.
fn budget_escape_tests(env: &mut Env, buffers: u64, budgeted: u64) {
    let sched = |tcb: u64, args: &[u64], authority: u64| invoke(tcb, Label::TcbSetSchedParams, args, &[authority]);
    let plain = env.make(ObjectType::Tcb, 0);
    expect_error(
        "budget_mcp_from_budgeted_authority_refused",
        Tcb::from_cptr(plain).invoke(TcbSetMcPriority { mcp: 0, authority: CPtr(budgeted) }),
        InvocationError::IllegalOperation,
    );
    // The attack itself, by a budgeted thread at priority 150 with MCP 200.
    ATTACK_UNTYPED.store(env.make(ObjectType::Untyped, 12), Ordering::Relaxed);
    ATTACK_FRESH.store(env.slots.take(), Ordering::Relaxed);
    let done = env.make(ObjectType::Notification, 0);
    ATTACK_NTFN.store(done, Ordering::Relaxed);
    let attacker = spawn(env, buffers, ATTACKER_INDEX, budget_escaper, 150, 0);
    ATTACK_SELF.store(attacker, Ordering::Relaxed);
    let prepared =
        Tcb::from_cptr(attacker).invoke(TcbSetMcPriority { mcp: 200, authority: CPtr(slot::TCB) }).and(sched(attacker, &[2, 4], slot::TCB));
    check("budget_escape_attacker_prepared", prepared.is_ok(), format_args!("{prepared:?}"));
    recv(done, true);
    let step = |label: &AtomicU64| label.load(Ordering::Relaxed);
    let illegal = InvocationError::IllegalOperation as u64;
    let retyped = step(&ATTACK_RETYPE);
    check("budget_escape_retype_by_budgeted_thread", retyped == 0, format_args!("retype answered label {retyped}"));
    let raised = step(&ATTACK_RAISE_MCP);
    check(
        "budget_escape_mcp_raise_refused",
        raised == illegal,
        format_args!("raising the new TCB's MCP to 150 answered label {raised}, expected IllegalOperation ({illegal})"),
    );
    let lifted = step(&ATTACK_LIFT_BUDGET);
    check(
        "budget_escape_lift_own_budget_refused",
        lifted == illegal,
        format_args!("lifting its own budget with the new TCB as authority answered label {lifted}, expected IllegalOperation ({illegal})"),
    );
    // The new TCB has MCP 0; as authority for a priority-0 thread its MCP suffices, so only
    // its inherited budget refuses it.
    expect_error(
        "budget_tcb_made_by_budgeted_thread_is_budgeted",
        sched(plain, &[0, 0], ATTACK_FRESH.load(Ordering::Relaxed)),
        InvocationError::IllegalOperation,
    );
    let _ = Tcb::from_cptr(attacker).invoke(TcbSuspend {});
}
