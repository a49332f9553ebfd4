//! Suite part: scheduling-context donation and precise charging (docs/abi.md §12). Passive
//! servers run on their callers' budgets: the time a server works for a client is charged
//! to that client, measured in TSC cycles; a client whose budget runs out stops the server
//! working for it until that client's budget is refilled, while another client is served by
//! another passive server; the budget comes back with the reply. Test threads share the root
//! server's address space and CSpace and learn their capabilities through the statics below.

use super::ipc::spawn_in;
use super::{CNODE, DEPTH, Env, VSPACE, check, expect_error, expect_ok};
use core::sync::atomic::{AtomicU64, Ordering};
use tileos_abi::bootinfo::slot;
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::{
    CNodeSaveCaller, CPtr, Label, Slot, TcbSchedInfo, TcbSetPassive, TcbSetPriority, TcbSetSchedParams, TcbSuspend, sched_flags,
};
use tileos_abi::object::ObjectType;
use tileos_sys::cap::{CNode, Tcb};
use tileos_sys::{invoke, println, recv, reply_recv};

/// The servers' endpoint, the notification clients signal when done, and one nobody signals.
static ENDPOINT: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicU64 = AtomicU64::new(0);
static NEVER: AtomicU64 = AtomicU64::new(0);
/// Cycles of CPU work each server has done (both servers' loops add to their own).
static WORKED: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// A gap between two TSC reads longer than this (cycles) was time the thread did not run.
static GAP: AtomicU64 = AtomicU64::new(0);
/// Per client: its TCB, the work it asks for (cycles), its budget left before and after its
/// call (cycles), the answering server + 1 (0: no answer yet) and the TSC when answered.
static CLIENT_TCB: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static CLIENT_WORK: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static BEFORE: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static AFTER: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static SERVED_BY: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static ANSWERED_AT: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
/// Per client: TSC cycles from just after its first budget reading to just before its second.
static ELAPSED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
/// A slot a server tries to save its caller's reply capability into (0: no try), and the
/// outcome (0: not tried; 1: saved; 2 + error code: refused).
static SAVE_SLOT: AtomicU64 = AtomicU64::new(0);
static SAVE_OUTCOME: AtomicU64 = AtomicU64::new(0);
/// Loop count of a thread that may never run.
static SPINS: AtomicU64 = AtomicU64::new(0);

/// Stack and IPC-buffer indices of this part's threads (see `ipc::spawn_in`).
const FIRST_INDEX: u64 = 16;

fn tsc() -> u64 {
    // SAFETY: rdtsc is allowed in user mode.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Does `cycles` of CPU work (time the thread runs, not time that passes while it does
/// not), counting it in `WORKED[server]`.
fn work(server: usize, cycles: u64) {
    let gap = GAP.load(Ordering::Relaxed);
    let (mut done, mut last) = (0, tsc());
    while done < cycles {
        let now = tsc();
        if now - last < gap {
            done += now - last;
            WORKED[server].fetch_add(now - last, Ordering::Relaxed);
        }
        last = now;
    }
}

/// A server: works as long as each request asks (word 0, cycles) and answers its number.
fn serve(server: usize) -> ! {
    let ep = ENDPOINT.load(Ordering::Relaxed);
    let mut request = recv(ep, true);
    loop {
        let save = SAVE_SLOT.swap(0, Ordering::Relaxed);
        if save != 0 {
            let saved = CNode::from_cptr(CNODE).invoke(CNodeSaveCaller { dest: Slot::new(save, DEPTH) });
            let outcome = saved.map_or_else(|e| 2 + e.code.map_or(u64::MAX - 2, |code| code as u64), |_| 1);
            SAVE_OUTCOME.store(outcome, Ordering::Relaxed);
        }
        work(server, request.words[0]);
        request = reply_recv(ep, 0, &[server as u64]);
    }
}

extern "C" fn server_0() -> ! {
    serve(0)
}

extern "C" fn server_1() -> ! {
    serve(1)
}

/// The budget left to the thread `tcb` runs on, and its flags.
fn sched_info(tcb: u64) -> (u64, u64) {
    Tcb::from_cptr(tcb).invoke(TcbSchedInfo {}).map_or((u64::MAX - 1, u64::MAX), |reply| (reply.words[0], reply.words[1]))
}

/// A client: reads its budget, calls a server for `CLIENT_WORK` cycles, reads its budget
/// again, records it all and signals `DONE`; then waits for good.
fn client(index: usize) -> ! {
    let own = CLIENT_TCB[index].load(Ordering::Relaxed);
    BEFORE[index].store(sched_info(own).0, Ordering::Relaxed);
    let start = tsc();
    let reply = tileos_sys::call(ENDPOINT.load(Ordering::Relaxed), 0, &[CLIENT_WORK[index].load(Ordering::Relaxed)], &[]);
    ELAPSED[index].store(tsc() - start, Ordering::Relaxed);
    AFTER[index].store(sched_info(own).0, Ordering::Relaxed);
    ANSWERED_AT[index].store(tsc(), Ordering::Relaxed);
    SERVED_BY[index].store(reply.words[0] + 1, Ordering::Relaxed);
    tileos_sys::send(DONE.load(Ordering::Relaxed), 0, &[], &[], true);
    loop {
        recv(NEVER.load(Ordering::Relaxed), true);
    }
}

extern "C" fn client_0() -> ! {
    client(0)
}

extern "C" fn client_1() -> ! {
    client(1)
}

extern "C" fn client_2() -> ! {
    client(2)
}

extern "C" fn spinner() -> ! {
    loop {
        SPINS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sets the root server's own priority (it lowers itself to let test threads run).
fn own_priority(name: &str, priority: u64) {
    expect_ok(name, Tcb::ROOT.invoke(TcbSetPriority { priority, authority: CPtr(slot::TCB) }));
}

/// Spins for `cycles` (the root server, lowered, runs only while no test thread can).
fn wait(cycles: u64) {
    let start = tsc();
    while tsc() - start < cycles {
        core::hint::spin_loop();
    }
}

/// Spins until `done` holds, for at most `cycles`.
fn wait_until(cycles: u64, done: impl Fn() -> bool) {
    let start = tsc();
    while !done() && tsc() - start < cycles {
        core::hint::spin_loop();
    }
}

fn worked() -> u64 {
    WORKED.iter().map(|w| w.load(Ordering::Relaxed)).sum()
}

/// Runs this part; `buffers` is the IPC-buffer frame of test threads.
pub fn tests(env: &mut Env, buffers: u64, tsc_per_ms: u64) {
    let ms = tsc_per_ms.max(1);
    GAP.store(ms / 50, Ordering::Relaxed);
    ENDPOINT.store(env.make(ObjectType::Endpoint, 0), Ordering::Relaxed);
    DONE.store(env.make(ObjectType::Notification, 0), Ordering::Relaxed);
    NEVER.store(env.make(ObjectType::Notification, 0), Ordering::Relaxed);
    let sched = |tcb: u64, args: &[u64]| {
        Tcb::from_cptr(tcb).invoke(TcbSetSchedParams { budget: args[0], period: args[1], authority: CPtr(slot::TCB) })
    };
    let passive = |tcb: u64, on: u64| Tcb::from_cptr(tcb).invoke(TcbSetPassive { passive: on, authority: CPtr(slot::TCB) });

    // Two servers reach their Recv on their own budgets, then become passive.
    let servers =
        [spawn_in(env, buffers, VSPACE, FIRST_INDEX, server_0, 160, 0), spawn_in(env, buffers, VSPACE, FIRST_INDEX + 1, server_1, 160, 0)];
    own_priority("donation_lower_own_priority", 100);
    own_priority("donation_restore_own_priority", 255);
    for server in servers {
        expect_ok("donation_server_made_passive", passive(server, 1));
    }
    invocation_errors(servers[0]);
    let idle = sched_info(servers[0]);
    check("passive_server_without_caller_has_no_budget", idle == (0, sched_flags::PASSIVE), format_args!("(remaining, flags) {idle:?}"));

    // Charging: a client with 500 ms per 5 s asks for 30 ms of work. Its server, on the
    // donated budget, first tries to save the reply capability, which must stay where the
    // budget's way home is found.
    SAVE_SLOT.store(env.slots.take(), Ordering::Relaxed);
    let work_ms = 30;
    CLIENT_WORK[0].store(work_ms * ms, Ordering::Relaxed);
    let c0 = spawn_in(env, buffers, VSPACE, FIRST_INDEX + 2, client_0, 150, 0);
    CLIENT_TCB[0].store(c0, Ordering::Relaxed);
    expect_ok("donation_client_budget_set", sched(c0, &[100, 1000]));
    recv(DONE.load(Ordering::Relaxed), true);
    let (before, after) = (BEFORE[0].load(Ordering::Relaxed), AFTER[0].load(Ordering::Relaxed));
    // Nothing but the client and its server ran during the call (the root server waits),
    // so the whole call is charged to the client's budget, to within the two TcbSchedInfo
    // calls around it (1 ms allowed): the server's work included. A host that stalls
    // QEMU makes the call longer than the work, and is charged the same way.
    let (charged, elapsed) = (before.saturating_sub(after), ELAPSED[0].load(Ordering::Relaxed));
    check(
        "passive_server_time_is_charged_to_its_caller",
        SERVED_BY[0].load(Ordering::Relaxed) != 0 && charged >= work_ms * ms && charged.abs_diff(elapsed) <= ms,
        format_args!(
            "the caller's budget went from {before} to {after} cycles ({charged} charged) over a call of {elapsed} cycles that worked {work_ms} ms ({} cycles)",
            work_ms * ms
        ),
    );
    println!(
        "ktest figure: donation: a call whose passive server worked {work_ms} ms took {elapsed} cycles, charged {charged} to the caller"
    );
    let outcome = SAVE_OUTCOME.load(Ordering::Relaxed);
    check(
        "save_caller_refused_on_a_donated_budget",
        outcome == 2 + InvocationError::IllegalOperation as u64 && SERVED_BY[0].load(Ordering::Relaxed) != 0,
        format_args!("outcome {outcome} (1 saved, 2 + code refused, 0 not tried), answered {}", SERVED_BY[0].load(Ordering::Relaxed)),
    );
    let back = servers.map(sched_info);
    check(
        "budget_returns_with_the_reply",
        back == [(0, sched_flags::PASSIVE); 2] && sched_info(c0).1 == 0,
        format_args!("servers' (remaining, flags) {back:?}, client's flags {}", sched_info(c0).1),
    );

    exhaustion_tests(env, buffers, ms, servers);
    passive_thread_tests(env, buffers, ms);
    for tcb in servers.into_iter().chain([c0]).chain(CLIENT_TCB[1..].iter().map(|t| t.load(Ordering::Relaxed))) {
        let _ = Tcb::from_cptr(tcb).invoke(TcbSuspend {});
    }
}

/// A client that runs out of budget while a passive server works for it: the server stops
/// until the client's next period; another client is served meanwhile.
fn exhaustion_tests(env: &mut Env, buffers: u64, ms: u64, servers: [u64; 2]) {
    let sched =
        |tcb: u64, budget: u64, period: u64| Tcb::from_cptr(tcb).invoke(TcbSetSchedParams { budget, period, authority: CPtr(slot::TCB) });
    // Client 1: 20 ms per 500 ms, asks for 40 ms of work.
    CLIENT_WORK[1].store(40 * ms, Ordering::Relaxed);
    let c1 = spawn_in(env, buffers, VSPACE, FIRST_INDEX + 3, client_1, 150, 0);
    CLIENT_TCB[1].store(c1, Ordering::Relaxed);
    expect_ok("exhaustion_client_budget_set", sched(c1, 4, 100));
    expect_error(
        "passive_budgeted_authority_refused",
        Tcb::from_cptr(servers[0]).invoke(TcbSetPassive { passive: 0, authority: CPtr(c1) }),
        InvocationError::IllegalOperation,
    );
    let worked_before = worked();
    let start = tsc();
    own_priority("exhaustion_lower_own_priority", 100);
    // The root server runs again only when neither the client nor its server can.
    let stopped_at = worked() - worked_before;
    wait(100 * ms);
    let after_wait = worked() - worked_before;
    let server = SERVED_BY[1].load(Ordering::Relaxed);
    check(
        "exhausted_client_stops_its_server",
        server == 0 && stopped_at == after_wait && stopped_at > 0 && stopped_at <= 25 * ms,
        format_args!(
            "work done {stopped_at} cycles when the root server ran, {after_wait} after 100 ms more (budget 20 ms = {} cycles), answered {server}",
            20 * ms
        ),
    );
    let borrower = servers.map(sched_info);
    check(
        "stopped_server_runs_on_the_exhausted_clients_budget",
        borrower.iter().filter(|info| **info == (0, sched_flags::PASSIVE | sched_flags::ON_DONATED_BUDGET)).count() == 1
            && sched_info(c1).1 == sched_flags::BUDGET_LENT,
        format_args!("servers' (remaining, flags) {borrower:?}, client's {:?}", sched_info(c1)),
    );
    // Client 2, with a budget of its own, is served by the other server meanwhile.
    own_priority("exhaustion_raise_own_priority", 255);
    CLIENT_WORK[2].store(5 * ms, Ordering::Relaxed);
    let c2 = spawn_in(env, buffers, VSPACE, FIRST_INDEX + 4, client_2, 150, 0);
    CLIENT_TCB[2].store(c2, Ordering::Relaxed);
    expect_ok("exhaustion_second_client_budget_set", sched(c2, 20, 100));
    own_priority("exhaustion_lower_own_priority_again", 100);
    let served = SERVED_BY[2].load(Ordering::Relaxed);
    check(
        "other_client_served_while_a_server_is_stopped",
        served != 0 && SERVED_BY[1].load(Ordering::Relaxed) == 0 && served != server,
        format_args!("client 2 answered by {served}, client 1 by {}", SERVED_BY[1].load(Ordering::Relaxed)),
    );
    // The first client's next period starts 500 ms after its first: its server goes on.
    wait_until(2000 * ms, || SERVED_BY[1].load(Ordering::Relaxed) != 0);
    own_priority("exhaustion_restore_own_priority", 255);
    let answered_after = ANSWERED_AT[1].load(Ordering::Relaxed).saturating_sub(start) / ms;
    check(
        "server_resumes_on_the_clients_refill",
        SERVED_BY[1].load(Ordering::Relaxed) != 0 && answered_after >= 450,
        format_args!("client 1 answered by {} after {answered_after} ms (its period: 500 ms)", SERVED_BY[1].load(Ordering::Relaxed)),
    );
}

/// A passive thread with no donated budget does not run; made active again, it does.
fn passive_thread_tests(env: &mut Env, buffers: u64, ms: u64) {
    let passive = |tcb: u64, on: u64| Tcb::from_cptr(tcb).invoke(TcbSetPassive { passive: on, authority: CPtr(slot::TCB) });
    let thread = spawn_in(env, buffers, VSPACE, FIRST_INDEX + 5, spinner, 150, 0);
    expect_ok("passive_spinner_made_passive", passive(thread, 1));
    own_priority("passive_lower_own_priority", 100);
    wait(20 * ms);
    let spins = SPINS.load(Ordering::Relaxed);
    check("passive_thread_without_donation_does_not_run", spins == 0, format_args!("it looped {spins} times"));
    own_priority("passive_restore_own_priority", 255);
    // Active again, on a budget of its own (1 tick in 4) so the root server runs again.
    let budget = Tcb::from_cptr(thread).invoke(TcbSetSchedParams { budget: 1, period: 4, authority: CPtr(slot::TCB) });
    expect_ok("passive_spinner_budget_set", budget);
    expect_ok("passive_spinner_made_active", passive(thread, 0));
    own_priority("active_lower_own_priority", 100);
    own_priority("active_restore_own_priority", 255);
    let spins = SPINS.load(Ordering::Relaxed);
    check("thread_made_active_again_runs", spins > 0, format_args!("it looped {spins} times"));
    let _ = Tcb::from_cptr(thread).invoke(TcbSuspend {});
}

/// TcbSetPassive and TcbSchedInfo refuse what they must, with the documented codes.
fn invocation_errors(target: u64) {
    let set = |tcb: u64, words: &[u64], caps: &[u64]| invoke(tcb, Label::TcbSetPassive, words, caps);
    expect_error("passive_needs_a_tcb", set(CNODE, &[1], &[slot::TCB]), InvocationError::IllegalOperation);
    expect_error("passive_needs_its_argument", set(target, &[], &[slot::TCB]), InvocationError::TruncatedMessage);
    expect_error("passive_needs_an_authority", set(target, &[1], &[]), InvocationError::TruncatedMessage);
    expect_error("passive_authority_must_be_a_tcb", set(target, &[1], &[CNODE]), InvocationError::InvalidCapability);
    let range = set(target, &[2], &[slot::TCB]);
    check(
        "passive_flag_above_one_refused",
        matches!(range, Err(e) if e.code == Some(InvocationError::RangeError) && e.details == [0, 1]),
        format_args!("{range:?}"),
    );
    let huge = set(target, &[u64::MAX], &[slot::TCB]);
    check("passive_flag_huge_refused", matches!(huge, Err(e) if e.code == Some(InvocationError::RangeError)), format_args!("{huge:?}"));
    expect_error("sched_info_needs_a_tcb", invoke(CNODE, Label::TcbSchedInfo, &[], &[]), InvocationError::IllegalOperation);
    let own = sched_info(slot::TCB);
    check("sched_info_of_an_unbudgeted_thread", own == (u64::MAX, 0), format_args!("(remaining, flags) {own:?}"));
}
