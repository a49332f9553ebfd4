//! Suite part six: several CPUs (issue 18, docs/architecture.md "Concurrency"). TcbSetAffinity
//! refuses a CPU that is not online, with its precise range, on every machine. On a machine
//! with a second CPU (`-smp 2`, the `smp` boot test), threads of the root server run on CPU 1
//! while the root server runs on CPU 0:
//! - a thread on CPU 1 makes progress while the root server spins on CPU 0 (no system
//!   call): both CPUs run user code at once;
//! - Call/ReplyRecv and notification signal/wait between the two CPUs;
//! - revoke and delete of an endpoint a thread on CPU 1 is blocked on: the thread wakes with
//!   `LABEL_IPC_ABORTED`, on CPU 1;
//! - TLB shootdown: a thread on CPU 1 reading a page in a loop faults on it as soon as the
//!   root server's FrameUnmap returns, with at most the one read already under way counted
//!   after it.

use super::ipc;
use super::{CNODE, DEPTH, Env, TEST_AREA, VSPACE, check, expect_error, expect_ok};
use core::sync::atomic::{AtomicU64, Ordering};
use tileos_abi::error::InvocationError;
use tileos_abi::fault;
use tileos_abi::invocation::{CNodeDelete, CNodeRevoke, CPtr, FrameMap, FrameUnmap, Label, Slot, TcbSetAffinity, TcbSuspend};
use tileos_abi::message::LABEL_IPC_ABORTED;
use tileos_abi::object::{ObjectType, Rights};
use tileos_sys::cap::{CNode, Frame, Tcb};
use tileos_sys::{invoke, recv, timestamp};

/// First thread index (stacks and IPC buffers, `ipc::spawn_in`) this part uses.
const FIRST_INDEX: u64 = 50;
/// Labels of the ping-pong messages.
const PING: u64 = 0x51;
const PONG: u64 = 0x52;
/// Where the shootdown test maps its page (beyond the areas of the other parts).
const SHOOTDOWN_PAGE: u64 = TEST_AREA + 0x1F_0000;

/// Progress of the thread that spins on CPU 1.
static SPINS: AtomicU64 = AtomicU64::new(0);
/// Cptrs the threads use (set before they start).
static ENDPOINT: AtomicU64 = AtomicU64::new(0);
static SIGNAL_TO: AtomicU64 = AtomicU64::new(0);
static SIGNAL_BACK: AtomicU64 = AtomicU64::new(0);
/// The label the blocked thread woke with (0: not yet).
static WOKE_WITH: AtomicU64 = AtomicU64::new(0);
/// Notifications the notification thread received.
static RECEIVED: AtomicU64 = AtomicU64::new(0);
/// Reads of the shootdown page completed.
static READS: AtomicU64 = AtomicU64::new(0);

extern "C" fn spinner() -> ! {
    loop {
        SPINS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Answers every PING with PONG (its argument plus one); anything else (an abort) is
/// recorded in [`WOKE_WITH`] and ends it.
extern "C" fn ponger() -> ! {
    let endpoint = ENDPOINT.load(Ordering::Relaxed);
    let mut message = recv(endpoint, true);
    while message.info.label() == PING {
        message = tileos_sys::reply_recv(endpoint, PONG, &[message.words[0] + 1]);
    }
    WOKE_WITH.store(message.info.label(), Ordering::Release);
    loop {
        tileos_sys::yield_now();
    }
}

/// Waits on one notification and signals the other back, forever.
extern "C" fn notified() -> ! {
    let (to, back) = (SIGNAL_TO.load(Ordering::Relaxed), SIGNAL_BACK.load(Ordering::Relaxed));
    loop {
        recv(to, true);
        RECEIVED.fetch_add(1, Ordering::Relaxed);
        tileos_sys::send(back, 0, &[], &[], false);
    }
}

/// Reads the shootdown page forever, counting each read.
extern "C" fn page_reader() -> ! {
    loop {
        // SAFETY: a read of the test page; once it is unmapped the read page-faults and the
        // thread stops (its fault goes to the suite).
        let value = unsafe { core::ptr::read_volatile(SHOOTDOWN_PAGE as *const u64) };
        core::hint::black_box(value);
        READS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Spins (no system call) until `done` or `ms` milliseconds pass; whether `done` happened.
fn spin_until(tsc_per_ms: u64, ms: u64, done: impl Fn() -> bool) -> bool {
    let deadline = timestamp() + tsc_per_ms * ms;
    while timestamp() < deadline {
        if done() {
            return true;
        }
        core::hint::spin_loop();
    }
    done()
}

/// Starts `entry` as a root-server thread (priority 10, below the root server's: on CPU 0
/// it would not run while the root server does) and moves it to CPU 1.
/// `name` names the check of its TcbSetAffinity.
fn spawn_on_cpu_1(env: &mut Env, name: &str, index: u64, entry: extern "C" fn() -> !, fault_ep: u64) -> u64 {
    let buffers = env.make(ObjectType::Frame4K, 0);
    let thread = ipc::spawn_in(env, buffers, VSPACE, index, entry, 10, fault_ep);
    expect_ok(name, Tcb::from_cptr(thread).invoke(TcbSetAffinity { cpu: 1 }));
    thread
}

/// Runs the checks; `tsc_per_ms` is the calibrated time-stamp-counter rate.
pub fn tests(env: &mut Env, tsc_per_ms: u64) {
    let probe = env.make(ObjectType::Tcb, 0);
    let too_far = Tcb::from_cptr(probe).invoke(TcbSetAffinity { cpu: 4 });
    let online = match &too_far {
        Err(error) if error.code == Some(InvocationError::RangeError) && error.details[0] == 0 => error.details[1] + 1,
        _ => 0,
    };
    check(
        "smp_set_affinity_refuses_a_cpu_not_online",
        (1..=4).contains(&online),
        format_args!("TcbSetAffinity(4): {too_far:?} (expected RangeError [0, online - 1])"),
    );
    expect_error(
        "smp_set_affinity_refuses_a_huge_cpu",
        Tcb::from_cptr(probe).invoke(TcbSetAffinity { cpu: u64::MAX }),
        InvocationError::RangeError,
    );
    expect_error(
        "smp_set_affinity_refuses_the_first_cpu_not_online",
        Tcb::from_cptr(probe).invoke(TcbSetAffinity { cpu: online }),
        InvocationError::RangeError,
    );
    expect_ok("smp_set_affinity_cpu_0", Tcb::from_cptr(probe).invoke(TcbSetAffinity { cpu: 0 }));
    let frame = env.make(ObjectType::Frame4K, 0);
    expect_error("smp_set_affinity_on_a_frame_refused", invoke(frame, Label::TcbSetAffinity, &[0], &[]), InvocationError::IllegalOperation);
    expect_error(
        "smp_set_affinity_without_its_argument_refused",
        invoke(probe, Label::TcbSetAffinity, &[], &[]),
        InvocationError::TruncatedMessage,
    );
    if online < 2 {
        tileos_sys::println!("ktest smp: one CPU online, the cross-CPU checks are skipped");
        return;
    }

    // Both CPUs run user code at once: the spinner (lower priority than the root server)
    // progresses while the root server never enters the kernel.
    let spinner = spawn_on_cpu_1(env, "smp_spinner_moved_to_cpu_1", FIRST_INDEX, spinner, 0);
    let start = SPINS.load(Ordering::Relaxed);
    let ran = spin_until(tsc_per_ms, 2000, || SPINS.load(Ordering::Relaxed) > start + 1000);
    check("smp_thread_on_cpu_1_runs_beside_cpu_0", ran, format_args!("spins: {} -> {}", start, SPINS.load(Ordering::Relaxed)));
    expect_ok("smp_spinner_suspended", Tcb::from_cptr(spinner).invoke(TcbSuspend {}));
    let stopped = SPINS.load(Ordering::Relaxed);
    let still = !spin_until(tsc_per_ms, 50, || SPINS.load(Ordering::Relaxed) > stopped + 1);
    check(
        "smp_suspend_stops_a_thread_running_on_cpu_1",
        still,
        format_args!("spins went on: {stopped} -> {}", SPINS.load(Ordering::Relaxed)),
    );

    cross_cpu_ipc(env);
    cross_cpu_notification(env);
    revoke_while_blocked_on_cpu_1(env, tsc_per_ms);
    shootdown(env, tsc_per_ms);
}

/// Call/ReplyRecv with a server on CPU 1.
fn cross_cpu_ipc(env: &mut Env) {
    let endpoint = env.make(ObjectType::Endpoint, 0);
    ENDPOINT.store(endpoint, Ordering::Relaxed);
    let server = spawn_on_cpu_1(env, "smp_server_moved_to_cpu_1", FIRST_INDEX + 1, ponger, 0);
    let mut answers = 0;
    for value in 0..100u64 {
        let reply = tileos_sys::call(endpoint, PING, &[value], &[]);
        if reply.info.label() == PONG && reply.words[0] == value + 1 {
            answers += 1;
        }
    }
    check("smp_call_reply_recv_across_cpus", answers == 100, format_args!("{answers} of 100 calls answered right"));
    let _ = Tcb::from_cptr(server).invoke(TcbSuspend {});
}

/// Signal and wait between the two CPUs, both ways.
fn cross_cpu_notification(env: &mut Env) {
    let (to, back) = (env.make(ObjectType::Notification, 0), env.make(ObjectType::Notification, 0));
    SIGNAL_TO.store(to, Ordering::Relaxed);
    SIGNAL_BACK.store(back, Ordering::Relaxed);
    let waiter = spawn_on_cpu_1(env, "smp_waiter_moved_to_cpu_1", FIRST_INDEX + 2, notified, 0);
    let mut rounds = 0;
    for _ in 0..100 {
        tileos_sys::send(to, 0, &[], &[], false);
        recv(back, true);
        rounds += 1;
    }
    let received = RECEIVED.load(Ordering::Relaxed);
    check("smp_signal_wait_across_cpus", rounds == 100 && received == 100, format_args!("{rounds} rounds, {received} received on CPU 1"));
    let _ = Tcb::from_cptr(waiter).invoke(TcbSuspend {});
}

/// Revoke, then delete, the endpoint a thread on CPU 1 waits on.
fn revoke_while_blocked_on_cpu_1(env: &mut Env, tsc_per_ms: u64) {
    let original = env.make(ObjectType::Endpoint, 0);
    let copy = env.slots.take();
    expect_ok(
        "smp_revoke_endpoint_copy",
        CNode::from_cptr(CNODE).invoke(tileos_abi::invocation::CNodeCopy {
            dest: Slot::new(copy, DEPTH),
            src: Slot::new(original, DEPTH),
            rights: Rights::ALL,
            src_root: CPtr(CNODE),
        }),
    );
    ENDPOINT.store(copy, Ordering::Relaxed);
    WOKE_WITH.store(0, Ordering::Relaxed);
    let waiter = spawn_on_cpu_1(env, "smp_blocked_thread_moved_to_cpu_1", FIRST_INDEX + 3, ponger, 0);
    // A Call answered by ReplyRecv: when the answer arrives the server is blocked on the
    // endpoint again (the kernel did both halves in one entry).
    let reply = tileos_sys::call(original, PING, &[7], &[]);
    check("smp_revoke_waiter_blocked", reply.info.label() == PONG, format_args!("reply label {:#x}", reply.info.label()));
    expect_ok("smp_revoke_endpoint_revoked", CNode::from_cptr(CNODE).invoke(CNodeRevoke { slot: Slot::new(original, DEPTH) }));
    let early = WOKE_WITH.load(Ordering::Acquire);
    expect_ok("smp_revoke_endpoint_deleted", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(original, DEPTH) }));
    let woke = spin_until(tsc_per_ms, 2000, || WOKE_WITH.load(Ordering::Acquire) != 0);
    check(
        "smp_revoke_wakes_a_thread_blocked_on_cpu_1",
        early == 0 && woke && WOKE_WITH.load(Ordering::Acquire) == LABEL_IPC_ABORTED,
        format_args!("before delete {early:#x}, after: {:#x}", WOKE_WITH.load(Ordering::Acquire)),
    );
    let _ = Tcb::from_cptr(waiter).invoke(TcbSuspend {});
}

/// Unmap a page a thread on CPU 1 is reading.
fn shootdown(env: &mut Env, tsc_per_ms: u64) {
    let page = env.make(ObjectType::Frame4K, 0);
    expect_ok(
        "smp_shootdown_page_mapped",
        Frame::from_cptr(page).invoke(FrameMap { vaddr: SHOOTDOWN_PAGE, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }),
    );
    let fault_ep = env.make(ObjectType::Endpoint, 0);
    let reader = spawn_on_cpu_1(env, "smp_reader_moved_to_cpu_1", FIRST_INDEX + 4, page_reader, fault_ep);
    let reading = spin_until(tsc_per_ms, 2000, || READS.load(Ordering::Relaxed) > 1000);
    check("smp_shootdown_reader_runs_on_cpu_1", reading, format_args!("reads: {}", READS.load(Ordering::Relaxed)));
    expect_ok("smp_shootdown_unmap", Frame::from_cptr(page).invoke(FrameUnmap {}));
    let after_unmap = READS.load(Ordering::Relaxed);
    let message = recv(fault_ep, true);
    let last = READS.load(Ordering::Relaxed);
    check(
        "smp_shootdown_thread_on_cpu_1_faults_after_unmap",
        message.info.label() == fault::VM_FAULT && message.words[1] == SHOOTDOWN_PAGE && last <= after_unmap + 1,
        format_args!(
            "fault label {:#x} address {:#x}; reads at unmap {after_unmap}, at the fault {last} (at most one more allowed)",
            message.info.label(),
            message.words[1]
        ),
    );
    let _ = Tcb::from_cptr(reader).invoke(TcbSuspend {});
}
