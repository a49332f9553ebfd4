//! Isolation test domain: attacks the system, one attack per generation (the supervisor
//! restarts it after each fault and reports the fault; the tile test checks each against
//! its own copy of the table of attacks), then tries everything that fails without a fault
//! — every invocation label on every slot of its CSpace, checked against an expectation
//! table — and reports each result; last it signals "spinning" (if granted) and spins forever at its
//! high priority, within the scheduling budget its description gives it. Nothing it does
//! may affect another domain.
#![no_std]
#![no_main]

extern crate alloc;
extern crate tileos_rt;

use alloc::vec::Vec;
use tileos_abi::bootinfo::domain;
use tileos_abi::bootinfo::domain_info::{self, CapKind, DomainInfo};
use tileos_abi::invocation::{CNodeMint, CPtr, Label, Slot, TcbSetPriority, TcbSetSchedParams};
use tileos_abi::message::MessageInfo;
use tileos_abi::object::Rights;
use tileos_abi::syscall::Syscall;
use tileos_sys::cap::CNode;
use tileos_sys::{invoke, log, log_event};

/// Logs the outcome of an attempt the kernel or the supervisor must refuse: the English line
/// `hostile: WHAT: refused` (or `ALLOWED (ISOLATION BROKEN)`) and the event line
/// `@event hostile.attempt attempt=NAME verdict=refused|allowed` the boot tests match.
fn report(attempt: &str, what: &str, refused: bool) {
    log!("hostile: {what}: {}", if refused { "refused" } else { "ALLOWED (ISOLATION BROKEN)" });
    log_event!("hostile.attempt", attempt = attempt, verdict = if refused { "refused" } else { "allowed" });
}

/// Entry point.
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    let info = tileos_sys::domain::init();
    match info.generation {
        0 => {
            log!("hostile: attack 0: read kernel memory at 0xffff800000100000");
            // SAFETY: deliberately faults: kernel mappings have no user bit.
            let value = unsafe { (0xffff_8000_0010_0000 as *const u64).read_volatile() };
            log!("hostile: kernel memory read returned {value:#x} (ISOLATION BROKEN)");
        }
        1 => {
            let text = _start as *const () as *mut u8;
            log!("hostile: attack 1: write own code at {text:p}");
            // SAFETY: deliberately faults: code pages are mapped without write.
            unsafe { text.write_volatile(0xCC) };
            log!("hostile: wrote own code (ISOLATION BROKEN)");
        }
        2 => {
            let stack_code: [u8; 4] = [0x90, 0x90, 0x0F, 0x0B];
            log!("hostile: attack 2: execute data on the stack at {:p}", stack_code.as_ptr());
            // SAFETY: deliberately faults: data pages are mapped no-execute.
            let function: extern "C" fn() = unsafe { core::mem::transmute(stack_code.as_ptr()) };
            function();
            log!("hostile: executed data (ISOLATION BROKEN)");
        }
        3 => {
            log!("hostile: attack 3: read another domain's code address, unmapped here, 0x20000000");
            // SAFETY: deliberately faults: nothing is mapped there in this address space.
            let value = unsafe { (0x2000_0000 as *const u64).read_volatile() };
            log!("hostile: read {value:#x} (ISOLATION BROKEN)");
        }
        4 => {
            log!("hostile: attack 4: write kernel memory at 0xffff800000100000");
            // SAFETY: deliberately faults: kernel mappings have no user bit.
            unsafe { (0xffff_8000_0010_0000 as *mut u64).write_volatile(0) };
            log!("hostile: wrote kernel memory (ISOLATION BROKEN)");
        }
        5 => {
            log!("hostile: attack 5: write its read-only information page at {:#x}", domain_info::VADDR);
            // SAFETY: deliberately faults: the information page is mapped read-only.
            unsafe { (domain_info::VADDR as *mut u64).write_volatile(0) };
            log!("hostile: wrote its information page (ISOLATION BROKEN)");
        }
        6 => {
            let end = domain_info::HEAP_VADDR + info.heap_size;
            log!("hostile: attack 6: read just past its heap at {end:#x}");
            // SAFETY: deliberately faults: nothing is mapped after the heap.
            let value = unsafe { (end as *const u64).read_volatile() };
            log!("hostile: read {value:#x} past its heap (ISOLATION BROKEN)");
        }
        _ => {
            attacks_without_faults();
            log!("hostile: all attacks done");
            spin_forever()
        }
    }
    unreachable!("every attack above faults")
}

/// Hardware state at the kernel boundary (issue 11): RFLAGS.NT at a system call and through
/// timer interrupts (each once crashed the kernel), and vector registers across a failed
/// call (once changed, carrying kernel data).
fn hardware_state_attacks() {
    use tileos_sys::probe;
    let after = probe::yield_with_nested_task_flag();
    let verdict = if after & probe::NESTED_TASK == 0 { "cleared" } else { "KEPT (ISOLATION BROKEN)" };
    log!("hostile: syscall with RFLAGS.NT set: the kernel survived, NT {verdict}");
    let spun = probe::spin_with_nested_task_flag(100_000_000);
    let verdict = if spun & probe::NESTED_TASK == 0 { "cleared" } else { "KEPT (ISOLATION BROKEN)" };
    log!("hostile: spin with RFLAGS.NT set through timer interrupts: the kernel survived, NT {verdict}");
    let pattern = probe::vector_pattern(0x4057);
    let unknown = MessageInfo::new(0, 0, 0, 0);
    let seen = probe::syscall_keeping_vectors(Syscall::Call, (1 << domain::CNODE_RADIX) - 1, unknown, [0; 4], &pattern);
    let verdict = match probe::first_changed_vector(&pattern, &seen) {
        None => "kept",
        Some(_) => "CHANGED (ISOLATION BROKEN)",
    };
    log!("hostile: vector registers across a failed call: {verdict}");
}

/// The last attack: escape the scheduling budget, then spin forever within it.
fn spin_forever() -> ! {
    let own = tileos_sys::domain::own_tcb();
    let lifted = own.invoke(TcbSetSchedParams { budget: 0, period: 0, authority: CPtr(domain::TCB) });
    report("lift-budget", "lift its own scheduling budget", lifted.is_err());
    let raised = own.invoke(TcbSetPriority { priority: 255, authority: CPtr(domain::TCB) });
    report("raise-priority", "raise its own priority to 255", raised.is_err());
    log!("hostile: last attack: spin forever at priority 120, within its budget");
    if let Some(spinning) = tileos_sys::domain::signal_notification("spinning") {
        // Selectors user code may load, left for the next domain to find (it must not).
        tileos_sys::probe::load_segments(0x1b, 3);
        spinning.signal();
    }
    loop {
        core::hint::spin_loop();
    }
}

/// Attacks that the kernel answers with errors rather than faults.
fn attacks_without_faults() {
    hardware_state_attacks();
    probe_every_slot(tileos_sys::domain::info());
    // Raw words: a Retype on a CNode, a FrameMap on a PML4 (typed handles would not compile).
    let retype = invoke(domain::CNODE, Label::UntypedRetype, &[1, 0, 0, 0, 100, 1], &[domain::CNODE]);
    report("retype", "retype through its CNode capability", retype.is_err());
    let map = invoke(domain::VSPACE, Label::FrameMap, &[0x1000_0000, Rights::ALL.0 as u64, 0], &[domain::VSPACE]);
    report("map", "map memory through its VSpace capability", map.is_err());
    if let Some(echo) = tileos_sys::domain::cap(CapKind::ClientEndpoint, "echo") {
        let mint =
            CNodeMint { dest: Slot::new(200, 8), src: Slot::at(echo), rights: Rights::ALL, badge: 0x10, src_root: CPtr(domain::CNODE) };
        let forged = CNode::from_cptr(domain::CNODE).invoke(mint);
        report("forge-badge", "forge badge 0x10 on its echo capability", forged.is_err());
        let client = tileos_sys::rpc::Client::<tileos_protocol::echo::Echo>::new(tileos_sys::cap::Endpoint::from_cptr(echo));
        log!("hostile: the echo server still sees its badge as {:?}", client.call(&tileos_protocol::echo::Request::WhoAmI));
    }
    if let Some(supervisor) = tileos_sys::domain::client_endpoint("supervisor") {
        use tileos_protocol::supervisor::{Refusal, Request, Response, Supervisor};
        let supervisor = tileos_sys::rpc::Client::<Supervisor>::new(supervisor);
        let request = Request::Restart { domain: "echo".try_into().unwrap_or_default() };
        let answer = supervisor.call(&request);
        report(
            "restart-echo",
            "restart \"echo\" through its status-only supervisor capability",
            answer == Ok(Response::Refused(Refusal::NotAllowed)),
        );
    }
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut total = 0usize;
    loop {
        let mut block = Vec::new();
        if block.try_reserve_exact(4096).is_err() {
            break;
        }
        block.resize(4096, 0xAA);
        total += 4096;
        blocks.push(block);
        if blocks.try_reserve(1).is_err() {
            break;
        }
    }
    log!("hostile: exhausted its own heap after {} KiB; allocation failed cleanly", total / 1024);
}

/// Invokes every label, with an empty message, on every slot of its CSpace and compares each
/// answer with the expectation table (`tileos_hostile_table`). Each difference is the event
/// `hostile.mismatch` naming the label and the slot (the tile test fails on any), then the
/// event `hostile.probe` carries the counts (checked, skipped, mismatched), and the line
/// saying all were as expected is printed only if none differed.
fn probe_every_slot(info: &DomainInfo) {
    let granted = &info.caps[..(info.cap_count as usize).min(domain_info::MAX_CAPS)];
    let tally = tileos_hostile_table::probe(
        granted,
        1 << domain::CNODE_RADIX,
        |slot, label| invoke(slot, label, &[], &[]).err().and_then(|e| e.code),
        |slot, label, expected, answered| {
            log!("hostile: {} on slot {slot} answered {answered:?}, expected {expected:?} (ISOLATION BROKEN)", label.name());
            log_event!("hostile.mismatch", label = label.name(), slot = slot);
        },
    );
    log_event!("hostile.probe", checked = tally.checked, skipped = tally.skipped, mismatched = tally.mismatched);
    if tally.mismatched == 0 {
        log!("hostile: every label on every slot: {} invocations refused as expected, {} not probed", tally.checked, tally.skipped);
    }
}
