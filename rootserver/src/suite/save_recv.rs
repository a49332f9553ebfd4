//! Suite part: `SaveRecv` and replies through saved reply capabilities (docs/abi.md,
//! "SaveRecv"). A server receives a call, is refused two saves (a destination that is not
//! empty, one that does not resolve) with nothing moved or received, saves the caller's reply
//! capability as it receives the next call, answers the first caller through the saved
//! capability with a message longer than the registers, and sees a saved capability deleted
//! (its caller gets `LABEL_REPLY_LOST`; a send through the empty slot does nothing); then
//! another server answers two saved callers with one long message in one `NbSendAll`,
//! which skips a target naming an empty slot, and a reply capability named a second time
//! (used up by its first), and says so (docs/abi.md §3.2); before it, the same server's
//! hostile `NbSendAll`s (no target, five, counts of 2^32 + 1 and 2^64 − 1, a message naming
//! a capability) send nothing, and one naming a notification neither signals it nor takes
//! anything for a reply capability. Test
//! threads share the root server's address space and CSpace and learn their capabilities
//! through the statics below.

use super::ipc::{THREAD_BUFFERS, spawn_in};
use super::{CNODE, DEPTH, Env, VSPACE, check, expect_ok};
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};
use tileos_abi::bootinfo::slot;
use tileos_abi::error::{InvocationError, LookupFailure};
use tileos_abi::invocation::{CNodeDelete, CNodeMint, CNodeSaveCaller, CPtr, Slot, TcbSetPriority};
use tileos_abi::message::{LABEL_REPLY_LOST, LABEL_SAVE_FAILED, MessageInfo};
use tileos_abi::object::{ObjectType, Rights};
use tileos_abi::syscall::Syscall;
use tileos_sys::cap::{CNode, Tcb};
use tileos_sys::{Message, nb_send_all, raw_syscall};

/// The endpoint served, the slots a reply capability is saved into, a slot holding another
/// capability, and a notification nobody signals (finished threads wait on it).
static ENDPOINT: AtomicU64 = AtomicU64::new(0);
static DEST: AtomicU64 = AtomicU64::new(0);
static DEST2: AtomicU64 = AtomicU64::new(0);
static OCCUPIED: AtomicU64 = AtomicU64::new(0);
static NEVER: AtomicU64 = AtomicU64::new(0);
/// What the server saw: the two refused saves (label, code, detail 1) and the second call
/// (label, length, sum of its buffer words).
static REFUSED_OCCUPIED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static REFUSED_UNRESOLVED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static SECOND: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
/// The label the second caller's call returned with.
static LOST_LABEL: AtomicU64 = AtomicU64::new(0);

/// Stack and IPC-buffer indices of this part's threads (see `ipc::spawn_in`).
const SERVER_INDEX: u64 = 22;
const CLIENT_INDEX: u64 = 23;
/// Words of the long messages (4 in registers, the rest in the IPC buffer).
const LONG: usize = 8;

/// A thread's IPC buffer as its own code reaches it: the kernel takes the buffer's offset
/// within the one buffer frame (`ipc::spawn_in` gives index `i` the address
/// `THREAD_BUFFERS + i * 1024`, of which the frame holds four).
fn buffer(index: u64) -> *mut u64 {
    (THREAD_BUFFERS + (index % 4) * 1024) as *mut u64
}

/// Writes words 4.. of a long message into thread `index`'s IPC buffer.
fn stage(index: u64, words: &[u64]) {
    for (at, word) in words.iter().enumerate().skip(4) {
        // SAFETY: the buffer frame is mapped writable; `at` < 120.
        unsafe { buffer(index).add(at).write_volatile(*word) };
    }
}

fn record(into: &[AtomicU64; 3], values: [u64; 3]) {
    for (cell, value) in into.iter().zip(values) {
        cell.store(value, Ordering::Relaxed);
    }
}

fn save_recv(ep: u64, dest: u64) -> Message {
    raw_syscall(Syscall::SaveRecv, ep, MessageInfo::default(), [dest, 0, 0, 0])
}

/// A finished test thread blocks for good.
fn park() -> ! {
    loop {
        raw_syscall(Syscall::Recv, NEVER.load(Ordering::Relaxed), MessageInfo::default(), [0; 4]);
    }
}

/// The server (see the module documentation for the order of events).
extern "C" fn server() -> ! {
    let ep = ENDPOINT.load(Ordering::Relaxed);
    raw_syscall(Syscall::Recv, ep, MessageInfo::default(), [0; 4]);
    let refused = save_recv(ep, OCCUPIED.load(Ordering::Relaxed));
    record(&REFUSED_OCCUPIED, [refused.info.label(), refused.words[0], refused.words[2]]);
    let refused = save_recv(ep, u64::MAX);
    record(&REFUSED_UNRESOLVED, [refused.info.label(), refused.words[0], refused.words[2]]);
    // Saves the first caller's capability, then takes the second caller's long call.
    let second = save_recv(ep, DEST.load(Ordering::Relaxed));
    // SAFETY: this thread's buffer, just written by the kernel.
    let sum = (4..second.info.length().min(LONG)).map(|at| unsafe { buffer(SERVER_INDEX).add(at).read_volatile() }).sum();
    record(&SECOND, [second.info.label(), second.info.length() as u64, sum]);
    // The first caller's answer through the saved capability: 8 words.
    let answer: [u64; LONG] = [0x5A7ED, 1, 2, 3, 40, 50, 60, 70];
    stage(SERVER_INDEX, &answer);
    raw_syscall(Syscall::NbSend, DEST.load(Ordering::Relaxed), MessageInfo::new(0x77, 0, 0, LONG as u64), [0x5A7ED, 1, 2, 3]);
    // The second caller's capability goes to DEST2 as the third call arrives; then it is
    // deleted, and a send through the empty slot does nothing.
    save_recv(ep, DEST2.load(Ordering::Relaxed));
    let _ = CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(DEST2.load(Ordering::Relaxed), DEPTH) });
    raw_syscall(Syscall::NbSend, DEST2.load(Ordering::Relaxed), MessageInfo::new(0x66, 0, 0, 1), [0xBAD, 0, 0, 0]);
    raw_syscall(Syscall::Reply, 0, MessageInfo::new(0, 0, 0, 1), [0xD0E, 0, 0, 0]);
    park()
}

/// The second caller: one long call; records the label its call returned with.
extern "C" fn client() -> ! {
    let words: [u64; LONG] = [2, 0, 0, 0, 5, 6, 7, 8];
    stage(CLIENT_INDEX, &words);
    let answer = raw_syscall(Syscall::Call, ENDPOINT.load(Ordering::Relaxed), MessageInfo::new(2, 0, 0, LONG as u64), [2, 0, 0, 0]);
    LOST_LABEL.store(answer.info.label(), Ordering::Relaxed);
    park()
}

/// `NbSendAll`'s part: its endpoint, the slots its server saves the two callers into, an
/// empty slot it names too, what it returned and what the second caller got (label, length,
/// register words' sum, buffer words' sum).
static ALL_ENDPOINT: AtomicU64 = AtomicU64::new(0);
static ALL_FIRST: AtomicU64 = AtomicU64::new(0);
static ALL_SECOND: AtomicU64 = AtomicU64::new(0);
static ALL_EMPTY: AtomicU64 = AtomicU64::new(0);
static ALL_NOT_SENT: AtomicU64 = AtomicU64::new(0);
/// What `NbSendAll` answered with no target, five targets, a message naming a capability,
/// and counts of 2^32 + 1 and 2^64 − 1.
static ALL_REFUSED: [AtomicU64; 5] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
/// A notification and a copy of it badged [`ALL_BADGE`], named as `NbSendAll`'s only target;
/// what that answered, and the badge a poll of the notification found afterwards (0: not
/// signalled).
static ALL_NOTIFICATION: AtomicU64 = AtomicU64::new(0);
static ALL_BADGED: AtomicU64 = AtomicU64::new(0);
const ALL_BADGE: u64 = 0x5E;
static ALL_NOT_REPLY: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static ALL_CLIENT_GOT: [AtomicU64; 4] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
const ALL_SERVER_INDEX: u64 = 24;
const ALL_CLIENT_INDEX: u64 = 25;
/// The one answer both callers get: 8 words, 4 of them in the IPC buffer.
const ALL_ANSWER: [u64; LONG] = [0xA11, 1, 2, 3, 400, 500, 600, 700];

/// `NbSendAll` with `count` in `rdx` as it is (the library's wrapper passes a slice's
/// length) and `targets` in `rdi`, `r12`–`r14`; returns `rdi`.
fn nb_send_all_count(count: u64, targets: [u64; 4], info: MessageInfo) -> u64 {
    let not_sent: u64;
    // SAFETY: a system call; the kernel preserves every register but rax, rdi, rsi, the
    // message registers, rcx and r11 (docs/abi.md §3.2), all declared clobbered here.
    unsafe {
        asm!(
            "syscall",
            inout("rax") Syscall::NbSendAll as u64 => _,
            inout("rdi") targets[0] => not_sent,
            inout("rsi") info.0 => _,
            in("rdx") count,
            in("r12") targets[1],
            in("r13") targets[2],
            in("r14") targets[3],
            inout("r10") 0xBADu64 => _,
            inout("r8") 0xBADu64 => _,
            inout("r9") 0xBADu64 => _,
            inout("r15") 0xBADu64 => _,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    not_sent
}

/// Saves the suite's call (first) and the client's (second), then answers both with one
/// `NbSendAll` naming the first, an empty slot, the first again and the second.
extern "C" fn all_server() -> ! {
    let ep = ALL_ENDPOINT.load(Ordering::Relaxed);
    raw_syscall(Syscall::Recv, ep, MessageInfo::default(), [0; 4]);
    save_recv(ep, ALL_FIRST.load(Ordering::Relaxed));
    let _ = CNode::from_cptr(CNODE).invoke(CNodeSaveCaller { dest: Slot::new(ALL_SECOND.load(Ordering::Relaxed), DEPTH) });
    stage(ALL_SERVER_INDEX, &ALL_ANSWER);
    let targets = [ALL_FIRST.load(Ordering::Relaxed), ALL_EMPTY.load(Ordering::Relaxed), ALL_SECOND.load(Ordering::Relaxed)];
    // Refused whole, before any target: no target, five (the first four are the live saved
    // callers), a message naming a capability, and counts whose low 32 bits are 1 or that
    // are all ones. The send below finds both callers still saved.
    let info = MessageInfo::new(0x55, 0, 0, LONG as u64);
    let live = [targets[0], targets[2], targets[0], targets[2]];
    let refused = [
        nb_send_all(&[], info, [0xBAD; 4]),
        nb_send_all(&[targets[0], targets[2], targets[0], targets[2], targets[0]], info, [0xBAD; 4]),
        nb_send_all(&targets, MessageInfo::new(0x55, 0, 1, LONG as u64), [0xBAD; 4]),
        nb_send_all_count((1 << 32) + 1, live, info),
        nb_send_all_count(u64::MAX, live, info),
    ];
    for (cell, value) in ALL_REFUSED.iter().zip(refused) {
        cell.store(value, Ordering::Relaxed);
    }
    // A notification is no reply capability: skipped, not signalled.
    let notification = ALL_NOTIFICATION.load(Ordering::Relaxed);
    ALL_NOT_REPLY[0].store(nb_send_all(&[ALL_BADGED.load(Ordering::Relaxed)], info, [0xBAD; 4]), Ordering::Relaxed);
    ALL_NOT_REPLY[1].store(raw_syscall(Syscall::NbRecv, notification, MessageInfo::default(), [0; 4]).badge, Ordering::Relaxed);
    let targets = [targets[0], targets[1], targets[0], targets[2]];
    let not_sent = nb_send_all(&targets, MessageInfo::new(0x55, 0, 0, LONG as u64), [0xA11, 1, 2, 3]);
    ALL_NOT_SENT.store(not_sent, Ordering::Relaxed);
    park()
}

/// The second caller: records what its call returned.
extern "C" fn all_client() -> ! {
    let got = raw_syscall(Syscall::Call, ALL_ENDPOINT.load(Ordering::Relaxed), MessageInfo::new(9, 0, 0, 1), [9, 0, 0, 0]);
    // SAFETY: this thread's buffer, just written by the kernel.
    let buffered: u64 = (4..LONG).map(|at| unsafe { buffer(ALL_CLIENT_INDEX).add(at).read_volatile() }).sum();
    let values = [got.info.label(), got.info.length() as u64, got.words.iter().sum(), buffered];
    for (cell, value) in ALL_CLIENT_GOT.iter().zip(values) {
        cell.store(value, Ordering::Relaxed);
    }
    park()
}

/// `NbSendAll` (docs/abi.md §3.2): both saved callers get the same long message from one
/// system call, and the empty slot named between them is reported (bit 1) and skipped.
fn nb_send_all_tests(env: &mut Env, buffers: u64) {
    ALL_ENDPOINT.store(env.make(ObjectType::Endpoint, 0), Ordering::Relaxed);
    ALL_FIRST.store(env.slots.take(), Ordering::Relaxed);
    ALL_SECOND.store(env.slots.take(), Ordering::Relaxed);
    ALL_EMPTY.store(env.slots.take(), Ordering::Relaxed);
    let notification = env.make(ObjectType::Notification, 0);
    ALL_NOTIFICATION.store(notification, Ordering::Relaxed);
    let badged = env.slots.take();
    ALL_BADGED.store(badged, Ordering::Relaxed);
    expect_ok(
        "nb_send_all_mint_a_badged_notification",
        CNode::from_cptr(CNODE).invoke(CNodeMint {
            dest: Slot::new(badged, DEPTH),
            src: Slot::new(notification, DEPTH),
            rights: Rights::ALL,
            badge: ALL_BADGE,
            src_root: CPtr(CNODE),
        }),
    );
    spawn_in(env, buffers, VSPACE, ALL_SERVER_INDEX, all_server, 200, 0);
    spawn_in(env, buffers, VSPACE, ALL_CLIENT_INDEX, all_client, 150, 0);
    // The server saves this call, takes the client's (which runs once this thread and the
    // server wait) and answers both at once.
    let answer = tileos_sys::call(ALL_ENDPOINT.load(Ordering::Relaxed), 8, &[8], &[]);
    let buffered: u64 = (4..LONG).map(tileos_sys::buffer_word).sum();
    check(
        "nb_send_all_delivers_a_long_message_to_the_first_saved_caller",
        answer.info.label() == 0x55 && answer.info.length() == LONG && answer.words == [0xA11, 1, 2, 3] && buffered == 2200,
        format_args!("{answer:?}, buffer words 4..8 sum {buffered}"),
    );
    // The server (200) and the client (150) finish while this thread waits below them.
    own_priority("nb_send_all_lower_own_priority", 100);
    own_priority("nb_send_all_restore_own_priority", 255);
    let not_sent = ALL_NOT_SENT.load(Ordering::Relaxed);
    check(
        "nb_send_all_reports_and_skips_a_target_with_no_reply_capability",
        not_sent & 0b0010 != 0,
        format_args!("not sent {not_sent:#b}"),
    );
    check(
        "nb_send_all_reports_and_skips_a_reply_capability_named_again",
        not_sent == 0b0110,
        format_args!("not sent {not_sent:#b} (targets: first, empty, first again, second)"),
    );
    let refused = ALL_REFUSED.each_ref().map(|cell| cell.load(Ordering::Relaxed));
    check(
        "nb_send_all_refuses_no_target_five_targets_a_capability_and_huge_counts_whole",
        refused == [u64::MAX; 5],
        format_args!("answers (no target, five, a capability, 2^32 + 1, 2^64 - 1): {refused:#x?}"),
    );
    let not_reply = ALL_NOT_REPLY.each_ref().map(|cell| cell.load(Ordering::Relaxed));
    check(
        "nb_send_all_skips_a_notification_without_signalling_it",
        not_reply == [0b1, 0],
        format_args!("not sent, then the notification's badge on a poll: {not_reply:#x?}"),
    );
    let got = [0, 1, 2, 3].map(|i| ALL_CLIENT_GOT[i].load(Ordering::Relaxed));
    check(
        "nb_send_all_delivers_the_same_message_to_the_second_saved_caller",
        got == [0x55, LONG as u64, 0xA11 + 1 + 2 + 3, 2200],
        format_args!("label, length, register sum, buffer sum: {got:?}"),
    );
}

fn own_priority(name: &str, priority: u64) {
    expect_ok(name, Tcb::ROOT.invoke(TcbSetPriority { priority, authority: CPtr(slot::TCB) }));
}

fn load(cells: &[AtomicU64; 3]) -> [u64; 3] {
    [cells[0].load(Ordering::Relaxed), cells[1].load(Ordering::Relaxed), cells[2].load(Ordering::Relaxed)]
}

/// Runs this part; `buffers` is the IPC-buffer frame of test threads.
pub fn tests(env: &mut Env, buffers: u64) {
    ENDPOINT.store(env.make(ObjectType::Endpoint, 0), Ordering::Relaxed);
    NEVER.store(env.make(ObjectType::Notification, 0), Ordering::Relaxed);
    OCCUPIED.store(env.make(ObjectType::Notification, 0), Ordering::Relaxed);
    DEST.store(env.slots.take(), Ordering::Relaxed);
    DEST2.store(env.slots.take(), Ordering::Relaxed);
    spawn_in(env, buffers, VSPACE, SERVER_INDEX, server, 200, 0);
    spawn_in(env, buffers, VSPACE, CLIENT_INDEX, client, 150, 0);

    // The server runs until it waits with this call's capability saved; the client's call
    // wakes it, and it answers this one through the saved capability.
    let answer = tileos_sys::call(ENDPOINT.load(Ordering::Relaxed), 1, &[11], &[]);
    let [label, code, detail] = load(&REFUSED_OCCUPIED);
    check(
        "save_recv_refuses_a_destination_that_is_not_empty",
        label == LABEL_SAVE_FAILED && code == InvocationError::DeleteFirst as u64,
        format_args!("label {label:#x}, code {code}, detail {detail}"),
    );
    let [label, code, detail] = load(&REFUSED_UNRESOLVED);
    check(
        "save_recv_refuses_a_destination_that_does_not_resolve",
        label == LABEL_SAVE_FAILED && code == InvocationError::FailedLookup as u64 && detail != LookupFailure::MissingCapability as u64,
        format_args!("label {label:#x}, code {code}, lookup failure {detail}"),
    );
    let [label, length, sum] = load(&SECOND);
    check(
        "save_recv_receives_after_saving",
        label == 2 && length == LONG as u64 && sum == 5 + 6 + 7 + 8,
        format_args!("label {label}, length {length}, buffer sum {sum}"),
    );
    let buffered: u64 = (4..LONG).map(tileos_sys::buffer_word).sum();
    check(
        "reply_through_saved_capability_after_refused_saves_delivers_a_long_message",
        answer.info.label() == 0x77 && answer.info.length() == LONG && answer.words == [0x5A7ED, 1, 2, 3] && buffered == 220,
        format_args!("{answer:?}, buffer words 4..8 sum {buffered}"),
    );

    // The third call: the server saves the client's capability, deletes it and answers.
    let answer = tileos_sys::call(ENDPOINT.load(Ordering::Relaxed), 3, &[], &[]);
    check(
        "send_through_a_deleted_saved_reply_does_nothing_and_the_server_serves_on",
        answer.info.label() == 0 && answer.words[0] == 0xD0E,
        format_args!("{answer:?}"),
    );
    own_priority("save_recv_lower_own_priority", 100);
    own_priority("save_recv_restore_own_priority", 255);
    let lost = LOST_LABEL.load(Ordering::Relaxed);
    check("deleted_saved_reply_wakes_its_caller_with_reply_lost", lost == LABEL_REPLY_LOST, format_args!("label {lost:#x}"));
    nb_send_all_tests(env, buffers);
}
