//! Fuzz mode (`fuzz seed=N iters=M [trace=K]` on the root server's command line; see
//! docs/fuzzing.md): runs the hostile `fuzzer` domain against the kernel and checks that
//! nothing outside the fuzzer is harmed.
//!
//! * A *witness* — the `bench-server` echo domain (mode 1: four-word echo, priority 200)
//!   — must keep answering Calls with the words it was sent.
//! * A *canary* frame, mapped only in the root server, must keep its pattern.
//! * The fuzzer (priority 100, its own address space) gets its TCB, CNode and VSpace from
//!   the loader plus a bounded set of capabilities (the slot layout of
//!   `userland/domains/src/bin/fuzzer.rs`): a badged endpoint to the witness (no Read), a
//!   notification, four frames, a radix-4 CNode, IO ports 0x80–0x8F, an endpoint of its
//!   own, 256 KiB of untyped memory and a page table. Nothing of the root server's and no
//!   IRQ or IO-port control.
//! * The root server is the fuzzer's fault handler. Capability faults and unknown system
//!   calls are counted and answered with an empty reply, which resumes the fuzzer after its
//!   `syscall` instruction (its `rip` already points past it; nothing is rewritten). The
//!   fuzzer's progress and done markers arrive the same way (unknown syscall numbers
//!   `MARK_PROGRESS | i`, `MARK_DONE | n`); at each the witness and canary are checked.
//!   A page fault or CPU exception in the fuzzer means its own memory or address space was
//!   damaged, which its rules never do: the run fails.
//!
//! The run ends with `fuzz summary: iterations=…, faults=…, witness_ok=…` and the Pass
//! verdict, or Fail at the first broken check. A kernel crash ends it with the kernel's
//! own verdict; a hang is caught by the host's timeout.

use crate::alloc::Allocator;
use crate::loader::{self, Grant, Spec};
use crate::vspace::map;
use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_abi::bootinfo::{BootInfo, slot};
use tileos_abi::fault::{CAP_FAULT, UNKNOWN_SYSCALL};
use tileos_abi::invocation::Label;
use tileos_abi::object::{ObjectType, Rights};
use tileos_abi::test_exit::GuestVerdict;
use tileos_sys::{call, invoke, println, recv, reply};

/// Marker syscall numbers of the fuzzer (top 16 bits); the low 48 bits are a count.
const MARK_MASK: u64 = 0xFFFF_0000_0000_0000;
/// Progress marker: `MARK_PROGRESS | iterations done`.
const MARK_PROGRESS: u64 = 0x7A11_0000_0000_0000;
/// Final marker: `MARK_DONE | iterations`.
const MARK_DONE: u64 = 0x7D0E_0000_0000_0000;
/// Badge of the fuzzer's fault endpoint capability.
const FAULT_BADGE: u64 = 0xFA;
/// Badge of the fuzzer's witness endpoint capability.
const WITNESS_BADGE: u64 = 0x5EED;
/// Priorities: witness above fuzzer, root server above both.
const WITNESS_PRIORITY: u8 = 200;
const FUZZER_PRIORITY: u8 = 100;
/// Where the root server maps its canary frame.
const CANARY_VADDR: u64 = 0x6000_0000;
/// Words of the canary frame.
const CANARY_WORDS: usize = 512;

/// Parameters from the command line.
struct Parameters {
    seed: u64,
    iterations: u64,
    trace_from: u64,
}

fn parameters(cmdline: &str) -> Parameters {
    let mut parameters = Parameters { seed: 1, iterations: 100_000, trace_from: u64::MAX };
    for word in cmdline.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else { continue };
        let Ok(value) = value.parse::<u64>() else {
            println!("fuzz: ignoring {word:?} (not a number)");
            continue;
        };
        match key {
            "seed" => parameters.seed = value & 0xFFFF_FFFF,
            "iters" => parameters.iterations = value & 0xFFFF_FFFF,
            "trace" => parameters.trace_from = value,
            _ => {}
        }
    }
    parameters
}

/// Canary word `index` for this run.
fn canary_word(seed: u64, index: usize) -> u64 {
    (seed ^ 0xC0FF_EE00_0000_0000).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(index as u32 % 64) ^ index as u64
}

/// The canary frame's words.
fn canary() -> &'static mut [u64] {
    // SAFETY: the canary frame is mapped read-write at CANARY_VADDR in the root server for
    // the rest of the run, and only this module touches it (one thread).
    unsafe { core::slice::from_raw_parts_mut(CANARY_VADDR as *mut u64, CANARY_WORDS) }
}

/// Counters of the run.
struct Tally {
    cap_faults: u64,
    unknown_syscalls: u64,
    checks: u64,
    iterations: u64,
}

/// Checks the witness (a Call through the root server's own capability must come back
/// with the same four words) and the canary; prints what broke.
fn intact(witness: u64, seed: u64, round: u64) -> (bool, bool) {
    let words = [round, seed, !round, round.wrapping_mul(0x9E37_79B9_7F4A_7C15)];
    let answer = call(witness, 0x77, &words, &[]);
    let witness_ok = answer.info.label() == 0 && answer.info.length() == 4 && answer.words == words;
    if !witness_ok {
        println!("fuzz: witness answered {answer:?} to {words:x?}");
    }
    let canary_ok = canary().iter().enumerate().all(|(index, &word)| word == canary_word(seed, index));
    if !canary_ok {
        println!("fuzz: the root server's canary frame changed");
    }
    (witness_ok, canary_ok)
}

fn summary(tally: &Tally, witness_ok: bool, canary_ok: bool) {
    println!(
        "fuzz summary: iterations={}, faults={}, witness_ok={witness_ok}, canary_ok={canary_ok}, cap_faults={}, unknown_syscalls={}, checks={}",
        tally.iterations,
        tally.cap_faults + tally.unknown_syscalls,
        tally.cap_faults,
        tally.unknown_syscalls,
        tally.checks
    );
}

/// A capability for a domain's CNode.
fn grant(source: u64, rights: Rights, badge: u64, moved: bool, kind: CapKind, name: &str) -> Grant<'_> {
    Grant { source, rights, badge, moved, kind, name }
}

/// A domain with no heap and no shared mappings.
fn domain_spec<'a>(name: &'a str, elf: &'a [u8], priority: u8, stack_size: u64, fault_endpoint: u64, grants: &'a [Grant<'a>], argument: u64) -> Spec<'a> {
    Spec { name, elf, priority, mcp: priority, stack_size, heap_size: 0, fault_endpoint, grants, mappings: &[], regions: &[], argument, generation: 0, budget_ms: None }
}

fn kernel<T>(what: &str) -> impl Fn(tileos_sys::Error) -> T + '_ {
    move |error| panic!("fuzz: {what}: {error:?}")
}

/// Runs the fuzz mode and ends the run with its verdict.
pub fn run(info: &BootInfo, cmdline: &str) -> ! {
    let parameters = parameters(cmdline);
    let seed = parameters.seed;
    println!("fuzz: seed={seed} iters={}", parameters.iterations);
    let mut alloc = Allocator::new(info);
    let witness_elf = loader::module(&mut alloc, info, "bench-server").unwrap_or_else(|e| panic!("bench-server boot module: {e}"));
    let fuzzer_elf = loader::module(&mut alloc, info, "fuzzer").unwrap_or_else(|e| panic!("fuzzer boot module: {e}"));

    // The witness: four-word echo server.
    let witness = alloc.make(ObjectType::Endpoint, 0);
    let witness_grants = [grant(witness, Rights::ALL, 0, false, CapKind::ServedEndpoint, "witness")];
    let spec = domain_spec("witness", witness_elf, WITNESS_PRIORITY, 4096, 0, &witness_grants, 1);
    loader::spawn(&mut alloc, &spec).unwrap_or_else(|e| panic!("spawn witness: {e}"));

    // The canary.
    let canary_frame = alloc.make(ObjectType::Frame4K, 0);
    map(&mut alloc, slot::VSPACE, canary_frame, CANARY_VADDR, Rights::ALL.0 as u64, 0).unwrap_or_else(kernel("map canary"));
    for (index, word) in canary().iter_mut().enumerate() {
        *word = canary_word(seed, index);
    }

    // The fault endpoint and the fuzzer's capabilities, in its slot order from 4 on. The
    // information page's kinds are nominal for frames, CNode, untyped and page table (the
    // fuzzer never reads the page).
    let fault = alloc.make(ObjectType::Endpoint, 0);
    let fault_badged = alloc.slots.take();
    invoke(slot::CNODE, Label::CNodeMint, &[fault_badged, 64, fault, 64, Rights::ALL.0 as u64, FAULT_BADGE], &[slot::CNODE])
        .unwrap_or_else(kernel("mint fault endpoint"));
    let notification = alloc.make(ObjectType::Notification, 0);
    let frames = [(); 4].map(|()| alloc.make(ObjectType::Frame4K, 0));
    let cnode2 = alloc.make(ObjectType::CNode, 4);
    let io_ports = alloc.slots.take();
    invoke(slot::IO_PORT_CONTROL, Label::IoPortControlIssue, &[0x80, 0x8F, io_ports, 64], &[]).unwrap_or_else(kernel("issue IO ports"));
    let own_endpoint = alloc.make(ObjectType::Endpoint, 0);
    let untyped = alloc.make(ObjectType::Untyped, 18);
    let page_table = alloc.make(ObjectType::PageTable, 0);
    let witness_rights = Rights(Rights::WRITE.0 | Rights::GRANT.0 | Rights::GRANT_REPLY.0);
    let all = Rights::ALL;
    let grants = [
        grant(witness, witness_rights, WITNESS_BADGE, false, CapKind::ClientEndpoint, "witness"),
        grant(notification, all, 0, false, CapKind::WaitNotification, "notification"),
        grant(frames[0], all, 0, false, CapKind::ServedEndpoint, "frame"),
        grant(frames[1], all, 0, false, CapKind::ServedEndpoint, "frame"),
        grant(frames[2], all, 0, false, CapKind::ServedEndpoint, "frame"),
        grant(frames[3], all, 0, false, CapKind::ServedEndpoint, "frame"),
        grant(cnode2, all, 0, false, CapKind::ServedEndpoint, "cnode"),
        grant(io_ports, all, 0, true, CapKind::IoPort, "io-ports"),
        grant(own_endpoint, all, 0, false, CapKind::ServedEndpoint, "endpoint"),
        // Neither untyped memory nor an unmapped page table can be copied: moved.
        grant(untyped, all, 0, true, CapKind::ServedEndpoint, "untyped"),
        grant(page_table, all, 0, true, CapKind::ServedEndpoint, "page-table"),
    ];
    let argument = seed | (parameters.iterations << 32);
    let spec = domain_spec("fuzzer", fuzzer_elf, FUZZER_PRIORITY, 16 * 4096, fault_badged, &grants, argument);
    let fuzzer_tcb = loader::spawn(&mut alloc, &spec).unwrap_or_else(|e| panic!("spawn fuzzer: {e}"));
    // The fuzzer has not run yet (lower priority). Registers rip, rsp, rflags, rax, rbx,
    // rcx, rdx, rsi: set rsi = first iteration to trace.
    let registers = invoke(fuzzer_tcb, Label::TcbReadRegisters, &[8], &[]).unwrap_or_else(kernel("read fuzzer registers"));
    let mut write = [0u64; 10];
    write[1] = 8;
    for (index, word) in write[2..9].iter_mut().enumerate() {
        *word = registers.word(index);
    }
    write[9] = parameters.trace_from;
    invoke(fuzzer_tcb, Label::TcbWriteRegisters, &write, &[]).unwrap_or_else(kernel("write fuzzer registers"));

    let mut tally = Tally { cap_faults: 0, unknown_syscalls: 0, checks: 0, iterations: 0 };
    loop {
        let message = recv(fault, true);
        if message.badge != FAULT_BADGE {
            println!("fuzz: unexpected message on the fault endpoint: {message:?}");
            tileos_sys::debug_exit(GuestVerdict::Fail);
        }
        let [rip, word1, word2, word3] = message.words;
        match message.info.label() {
            CAP_FAULT => tally.cap_faults += 1,
            UNKNOWN_SYSCALL if matches!(word3 & MARK_MASK, MARK_PROGRESS | MARK_DONE) => {
                tally.iterations = word3 & !MARK_MASK;
                tally.checks += 1;
                let (witness_ok, canary_ok) = intact(witness, seed, tally.checks);
                let done = word3 & MARK_MASK == MARK_DONE;
                if done || !witness_ok || !canary_ok {
                    summary(&tally, witness_ok, canary_ok);
                    let verdict = if witness_ok && canary_ok { GuestVerdict::Pass } else { GuestVerdict::Fail };
                    tileos_sys::debug_exit(verdict);
                }
            }
            UNKNOWN_SYSCALL => tally.unknown_syscalls += 1,
            other => {
                println!(
                    "fuzz: the fuzzer crashed after {} iterations: fault {other} [rip {rip:#x}, {word1:#x}, {word2:#x}, {word3:#x}]",
                    tally.iterations
                );
                let (witness_ok, canary_ok) = intact(witness, seed, tally.checks + 1);
                summary(&tally, witness_ok, canary_ok);
                tileos_sys::debug_exit(GuestVerdict::Fail);
            }
        }
        reply(0, &[]);
    }
}
