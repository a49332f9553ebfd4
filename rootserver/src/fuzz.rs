//! Fuzz mode (`fuzz seed=N iters=M [trace=K]` on the root server's command line; see
//! docs/fuzzing.md): runs the hostile `fuzzer` domain against the kernel and checks that
//! nothing outside the fuzzer is harmed.
//!
//! * A *witness* — the `bench-server` echo domain (mode 1: four-word echo, priority 200)
//!   — must keep answering Calls with the words it was sent.
//! * A *canary* frame, mapped only in the root server, must keep its pattern.
//! * The fuzzer (priority 100, its own address space) gets its TCB, CNode and VSpace from
//!   the loader plus a bounded set of capabilities (the slot layout of
//!   `userland/domains/src/bin/fuzzer/`): a badged endpoint to the witness (no Read), a
//!   notification, four frames, a radix-4 CNode, IO ports 0x80–0x8F, an endpoint of its
//!   own, 256 KiB of untyped memory, a page table and (slot 15) 64 KiB of untyped memory for
//!   its shadow model; an executable page at the top of its user space with a `syscall` in
//!   its last two bytes. Nothing of the root server's and no IRQ or IO-port control.
//! * The root server is the fuzzer's fault handler. Capability faults and unknown system
//!   calls are counted and answered with an empty reply, which resumes the fuzzer after its
//!   `syscall` instruction (its `rip` already points past it; nothing is rewritten). The
//!   fuzzer's progress and done markers arrive the same way (unknown syscall numbers
//!   `MARK_PROGRESS | i`, `MARK_DONE | n`); at each the witness and canary are checked.
//!   A page fault or CPU exception in the fuzzer means its own memory or address space was
//!   damaged, which its rules never do: the run fails.
//!
//! * A second canary frame is mapped (read-only) in the witness's address space; the root
//!   server keeps a mapping of it and checks its pattern.
//! * The kernel image: a testing-only system call (`DebugKernelChecksum`, docs/abi.md §3)
//!   returns a checksum of the kernel's text and read-only data; it must not change.
//! * The root server's own segment selectors DS ES FS GS must stay what they were when the
//!   run started (the fuzzer loads random ones; the kernel must not carry them over).
//! * Armed faults: the fuzzer runs instruction snippets that fault on purpose. It marks them
//!   with `r12 = ARMED` and `r13` = where to resume; the root server counts such a fault by
//!   vector and resumes the fuzzer at `r13` with `r12 = TAKEN | vector` (14 for a page
//!   fault, `r14` = the address). A fault that is not armed still fails the run.
//! * The fuzzer's own checks (hardware state across syscalls, snippet outcomes, the shadow
//!   model of its mappings) end with a `MARK_FAIL | iteration` marker after it printed
//!   `fuzz failure: …`.
//!
//! The run ends with `fuzz summary: iterations=…, faults=…, witness_ok=…` and the Pass
//! verdict, or Fail at the first broken check. A kernel crash ends it with the kernel's
//! own verdict; a hang is caught by the host's timeout.

use crate::alloc::Allocator;
use crate::loader::ExtraMapping;
use crate::loader::{self, Grant, Spec};
use crate::vspace::map;
use tileos_abi::bootinfo::domain_info::CapKind;
use tileos_abi::bootinfo::{BootInfo, slot};
use tileos_abi::fault::{CAP_FAULT, UNKNOWN_SYSCALL, USER_EXCEPTION, VM_FAULT};
use tileos_abi::fuzz::{ARMED, MARK_DONE, MARK_FAIL, MARK_MASK, MARK_PROGRESS, RUNNER_FLAG, TAKEN};
use tileos_abi::invocation::{Label, frame_attributes};
use tileos_abi::message::MessageInfo;
use tileos_abi::object::{ObjectType, Rights};
use tileos_abi::syscall::Syscall;
use tileos_abi::test_exit::GuestVerdict;
use tileos_sys::{call, invoke, println, recv, reply};

/// Page faults are reported to the fuzzer as this vector.
const PAGE_FAULT_VECTOR: u64 = 14;
/// Default feature bits (the fuzzer's `hw::feature::ALL`).
const ALL_FEATURES: u64 = 511;
/// Where the root server maps the witness's canary frame, and where the witness sees it.
const WITNESS_CANARY_VADDR: u64 = 0x6000_1000;
const WITNESS_CANARY_IN_WITNESS: u64 = 0x5000_0000;
/// The fuzzer's top user page (a `syscall` in its last two bytes), and where the root
/// server maps it to write that instruction.
const TOP_PAGE: u64 = 0x0000_7FFF_FFFF_F000;
const TOP_PAGE_IN_ROOT: u64 = 0x6000_2000;
/// Badge of the fuzzer's fault endpoint capability.
const FAULT_BADGE: u64 = 0xFA;
/// Badge of the fault endpoint capability of the fuzzer's second thread (the runner).
const RUNNER_BADGE: u64 = 0xFB;
/// The runner's stack (eight pages below this top, a guard page below them) and IPC
/// buffer in the fuzzer's address space.
const RUNNER_STACK_TOP: u64 = 0x0000_7FFF_FFFF_A000;
const RUNNER_STACK_PAGES: u64 = 8;
const RUNNER_IPC_BUFFER: u64 = 0x0000_7FFF_FFFF_0000;
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
    features: u64,
}

fn parameters(cmdline: &str) -> Parameters {
    let mut parameters = Parameters { seed: 1, iterations: 100_000, trace_from: u64::MAX, features: ALL_FEATURES };
    for word in cmdline.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else { continue };
        let number = match value.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => value.parse::<u64>(),
        };
        let Ok(value) = number else {
            println!("fuzz: ignoring {word:?} (not a number)");
            continue;
        };
        match key {
            "seed" => parameters.seed = value & 0xFFFF_FFFF,
            "iters" => parameters.iterations = value & 0xFFFF_FFFF,
            "trace" => parameters.trace_from = value,
            "features" => parameters.features = value,
            _ => {}
        }
    }
    parameters
}

/// Canary word `index` for this run.
fn canary_word(seed: u64, index: usize) -> u64 {
    (seed ^ 0xC0FF_EE00_0000_0000).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(index as u32 % 64) ^ index as u64
}

/// The canary frame's words (`which` 0: the root server's, 1: the witness's).
fn canary_at(which: u64) -> &'static mut [u64] {
    let vaddr = if which == 0 { CANARY_VADDR } else { WITNESS_CANARY_VADDR };
    // SAFETY: both canary frames are mapped read-write at these addresses in the root
    // server for the rest of the run, and only this module touches them (one thread).
    unsafe { core::slice::from_raw_parts_mut(vaddr as *mut u64, CANARY_WORDS) }
}

fn canary() -> &'static mut [u64] {
    canary_at(0)
}

/// Word `index` of the witness's canary (another pattern than the root server's).
fn witness_canary_word(seed: u64, index: usize) -> u64 {
    canary_word(seed ^ 0x5717_0000_0000_0000, index).rotate_right(7)
}

/// The kernel's checksum of its text and read-only data, and their length.
fn kernel_checksum() -> (u64, u64) {
    let answer = tileos_sys::raw_syscall(Syscall::DebugKernelChecksum, 0, MessageInfo(0), [0; 4]);
    (answer.badge, answer.info.0)
}

/// DS ES FS GS of the root server.
fn segments() -> [u16; 4] {
    let (ds, es, fs, gs): (u16, u16, u16, u16);
    // SAFETY: reading segment selectors has no effect.
    unsafe {
        core::arch::asm!("mov {0:x}, ds", "mov {1:x}, es", "mov {2:x}, fs", "mov {3:x}, gs",
             out(reg) ds, out(reg) es, out(reg) fs, out(reg) gs, options(nomem, nostack, preserves_flags));
    }
    [ds, es, fs, gs]
}

/// What the checks after each batch compare against.
struct Reference {
    seed: u64,
    kernel: (u64, u64),
    segments: [u16; 4],
}

/// Results of one round of checks.
#[derive(Clone, Copy)]
struct Checks {
    witness_ok: bool,
    canary_ok: bool,
    witness_canary_ok: bool,
    kernel_ok: bool,
    segments_ok: bool,
}

impl Checks {
    fn all(&self) -> bool {
        self.witness_ok && self.canary_ok && self.witness_canary_ok && self.kernel_ok && self.segments_ok
    }
}

/// True if the root server's DS ES FS GS are still those of the start; prints otherwise.
fn segments_intact(reference: &Reference, when: &str) -> bool {
    let now = segments();
    // A null selector's RPL bits are not compared (see `same_selector` in the fuzzer's hw.rs).
    let same = |a: u16, b: u16| a == b || (a & !3 == 0 && b & !3 == 0);
    let intact = (0..4).all(|index| same(now[index], reference.segments[index]));
    if !intact {
        println!("fuzz: the root server's segment selectors (ds, es, fs, gs) changed {when}: were {:x?}, now {now:x?}", reference.segments);
    }
    intact
}

/// Counters of the run.
struct Tally {
    cap_faults: u64,
    unknown_syscalls: u64,
    checks: u64,
    iterations: u64,
    /// Armed faults, by vector (page faults at 14).
    armed: [u64; 32],
    /// Messages from the runner thread (its faults, armed or not).
    runner_messages: u64,
    /// The fuzzer's counters at the end (checked syscalls, snippets, snippet faults, model
    /// pages checked, model probes of unmapped pages, model operations).
    fuzzer: [u64; 8],
}

/// Checks the witness (a Call through the root server's own capability must come back
/// with the same four words), both canaries, the kernel image and the root server's
/// segment selectors; prints what broke.
fn intact(witness: u64, reference: &Reference, round: u64) -> Checks {
    let seed = reference.seed;
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
    let witness_canary_ok = canary_at(1).iter().enumerate().all(|(index, &word)| word == witness_canary_word(seed, index));
    if !witness_canary_ok {
        println!("fuzz: the canary frame in the witness's address space changed");
    }
    let kernel = kernel_checksum();
    let kernel_ok = kernel == reference.kernel;
    if !kernel_ok {
        println!(
            "fuzz: the kernel image changed: checksum of text and rodata {:#x} ({} bytes), was {:#x} ({} bytes)",
            kernel.0, kernel.1, reference.kernel.0, reference.kernel.1
        );
    }
    let segments_ok = segments_intact(reference, "(batch check)");
    Checks { witness_ok, canary_ok, witness_canary_ok, kernel_ok, segments_ok }
}

fn summary(tally: &Tally, checks: Checks) {
    let Checks { witness_ok, canary_ok, witness_canary_ok, kernel_ok, segments_ok } = checks;
    let armed = |vector: usize| tally.armed[vector];
    let [syscalls, snippets, snippet_faults, model_pages, model_probes, model_ops, ..] = tally.fuzzer;
    println!(
        "fuzz summary: iterations={}, faults={}, witness_ok={witness_ok}, canary_ok={canary_ok}, witness_canary_ok={witness_canary_ok}, kernel_ok={kernel_ok}, segments_ok={segments_ok}, cap_faults={}, unknown_syscalls={}, checks={}, armed_faults={} (de={} db={} bp={} ud={} gp={} pf={}), checked_syscalls={syscalls}, snippets={snippets}, snippet_faults={snippet_faults}, model_pages={model_pages}, model_probes={model_probes}, model_ops={model_ops}, runner_messages={}",
        tally.iterations,
        tally.cap_faults + tally.unknown_syscalls,
        tally.cap_faults,
        tally.unknown_syscalls,
        tally.checks,
        tally.armed.iter().sum::<u64>(),
        armed(0),
        armed(1),
        armed(3),
        armed(6),
        armed(13),
        armed(14),
        tally.runner_messages,
    );
}

/// A capability for a domain's CNode.
fn grant(source: u64, rights: Rights, badge: u64, moved: bool, kind: CapKind, name: &str) -> Grant<'_> {
    Grant { source, rights, badge, moved, kind, name }
}

/// A domain with no heap and no shared mappings.
fn domain_spec<'a>(
    name: &'a str,
    elf: &'a [u8],
    priority: u8,
    stack_size: u64,
    fault_endpoint: u64,
    grants: &'a [Grant<'a>],
    argument: u64,
) -> Spec<'a> {
    Spec {
        name,
        elf,
        priority,
        mcp: priority,
        stack_size,
        cnode_radix: tileos_abi::bootinfo::domain::CNODE_RADIX,
        heap_size: 0,
        fault_endpoint,
        grants,
        mappings: &[],
        regions: &[],
        argument,
        generation: 0,
        budget_ms: None,
        params: &[],
    }
}

fn kernel<T, E: core::fmt::Debug>(what: &str) -> impl Fn(E) -> T + '_ {
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

    // The witness: four-word echo server, with a canary frame mapped read-only in its
    // address space (the root server keeps a read-write mapping to fill and check it).
    let witness_canary = alloc.make(ObjectType::Frame4K, 0);
    map(&mut alloc, slot::VSPACE, witness_canary, WITNESS_CANARY_VADDR, Rights::ALL.0 as u64, 0)
        .unwrap_or_else(kernel("map witness canary"));
    for (index, word) in canary_at(1).iter_mut().enumerate() {
        *word = witness_canary_word(seed, index);
    }
    let witness_canary_copy = alloc.slots.take();
    invoke(slot::CNODE, Label::CNodeCopy, &[witness_canary_copy, 64, witness_canary, 64, Rights::READ.0 as u64], &[slot::CNODE])
        .unwrap_or_else(kernel("copy witness canary"));
    let witness_mappings =
        [ExtraMapping { frame: witness_canary_copy, vaddr: WITNESS_CANARY_IN_WITNESS, rights: Rights::READ, attributes: 0 }];
    let witness = alloc.make(ObjectType::Endpoint, 0);
    let witness_grants = [grant(witness, Rights::ALL, 0, false, CapKind::ServedEndpoint, "witness")];
    let mut spec = domain_spec("witness", witness_elf, WITNESS_PRIORITY, 4096, 0, &witness_grants, 1);
    spec.mappings = &witness_mappings;
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
    let model_untyped = alloc.make(ObjectType::Untyped, 16);
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
        // Slot 15: the shadow model's untyped memory (64 KiB).
        grant(model_untyped, all, 0, true, CapKind::ServedEndpoint, "model-untyped"),
    ];
    // The top page of the fuzzer's user space, executable, with a `syscall` in its last two
    // bytes (the non-canonical-return snippet jumps there).
    let top = alloc.make(ObjectType::Frame4K, 0);
    map(&mut alloc, slot::VSPACE, top, TOP_PAGE_IN_ROOT, Rights::ALL.0 as u64, 0).unwrap_or_else(kernel("map top page"));
    // SAFETY: just mapped read-write at TOP_PAGE_IN_ROOT; only written here.
    unsafe { core::ptr::write_volatile((TOP_PAGE_IN_ROOT + 0xFFE) as *mut [u8; 2], [0x0F, 0x05]) };
    let top_copy = alloc.slots.take();
    invoke(slot::CNODE, Label::CNodeCopy, &[top_copy, 64, top, 64, Rights::READ.0 as u64], &[slot::CNODE])
        .unwrap_or_else(kernel("copy top page"));
    let fuzzer_mappings =
        [ExtraMapping { frame: top_copy, vaddr: TOP_PAGE, rights: Rights::READ, attributes: frame_attributes::EXECUTABLE }];
    let argument = seed | (parameters.iterations << 32);
    let mut spec = domain_spec("fuzzer", fuzzer_elf, FUZZER_PRIORITY, 16 * 4096, fault_badged, &grants, argument);
    spec.mappings = &fuzzer_mappings;
    let fuzzer = loader::spawn_domain(&mut alloc, &spec).unwrap_or_else(|e| panic!("spawn fuzzer: {e}"));
    let fuzzer_tcb = fuzzer.tcb;
    // The fuzzer has not run yet (lower priority). Registers rip, rsp, rflags, rax, rbx,
    // rcx, rdx, rsi: set rsi = first iteration to trace, rdx = the feature bits.
    let registers = invoke(fuzzer_tcb, Label::TcbReadRegisters, &[8], &[]).unwrap_or_else(kernel("read fuzzer registers"));
    let mut write = [0u64; 10];
    write[1] = 8;
    for (index, word) in write[2..9].iter_mut().enumerate() {
        *word = registers.word(index);
    }
    write[9] = parameters.trace_from;
    write[8] = parameters.features;
    invoke(fuzzer_tcb, Label::TcbWriteRegisters, &write, &[]).unwrap_or_else(kernel("write fuzzer registers"));
    println!("fuzz: features={:#x}", parameters.features);

    // The runner: a second thread in the fuzzer's domain (same CSpace, VSpace and
    // priority) that runs snippets and system calls with random hardware state forever,
    // from the fuzzer's entry with RUNNER_FLAG in rdx; its faults come with RUNNER_BADGE.
    let runner_fault = alloc.slots.take();
    invoke(slot::CNODE, Label::CNodeMint, &[runner_fault, 64, fault, 64, Rights::ALL.0 as u64, RUNNER_BADGE], &[slot::CNODE])
        .unwrap_or_else(kernel("mint runner fault endpoint"));
    let runner_tcb = alloc.make(ObjectType::Tcb, 0);
    for page in (1..=RUNNER_STACK_PAGES).map(|index| RUNNER_STACK_TOP - index * 0x1000) {
        let frame = alloc.make(ObjectType::Frame4K, 0);
        map(&mut alloc, fuzzer.vspace, frame, page, Rights::ALL.0 as u64, 0).unwrap_or_else(kernel("map runner stack"));
    }
    let runner_ipc = alloc.make(ObjectType::Frame4K, 0);
    map(&mut alloc, fuzzer.vspace, runner_ipc, RUNNER_IPC_BUFFER, Rights::ALL.0 as u64, 0).unwrap_or_else(kernel("map runner IPC buffer"));
    invoke(runner_tcb, Label::TcbConfigure, &[runner_fault, 56, RUNNER_IPC_BUFFER], &[fuzzer.cnode, fuzzer.vspace, runner_ipc])
        .unwrap_or_else(kernel("configure runner"));
    invoke(runner_tcb, Label::TcbSetMcPriority, &[u64::from(FUZZER_PRIORITY)], &[slot::TCB]).unwrap_or_else(kernel("runner MCP"));
    invoke(runner_tcb, Label::TcbSetPriority, &[u64::from(FUZZER_PRIORITY)], &[slot::TCB]).unwrap_or_else(kernel("runner priority"));
    // rip, rsp, rflags, rax, rbx, rcx, rdx, rsi, rdi.
    let entry = registers.word(0);
    let runner_registers = [1, 9, entry, RUNNER_STACK_TOP - 8, 0x202, 0, 0, 0, parameters.features | RUNNER_FLAG, u64::MAX, seed];
    invoke(runner_tcb, Label::TcbWriteRegisters, &runner_registers, &[]).unwrap_or_else(kernel("start runner"));

    let reference = Reference { seed, kernel: kernel_checksum(), segments: segments() };
    println!(
        "fuzz: kernel text+rodata {} bytes, checksum {:#x}; root server ds/es/fs/gs {:x?}",
        reference.kernel.1, reference.kernel.0, reference.segments
    );
    let mut tally =
        Tally { cap_faults: 0, unknown_syscalls: 0, checks: 0, iterations: 0, armed: [0; 32], runner_messages: 0, fuzzer: [0; 8] };
    let finish = |tally: &Tally, checks: Checks, pass: bool| -> ! {
        summary(tally, checks);
        tileos_sys::debug_exit(if pass && checks.all() { GuestVerdict::Pass } else { GuestVerdict::Fail })
    };
    loop {
        let message = recv(fault, true);
        if !segments_intact(&reference, "while the root server waited for a fault message") {
            println!(
                "fuzz: (the message was fault {} with {:x?}, after the fuzzer's progress marker {})",
                message.info.label(),
                message.words,
                tally.iterations
            );
            let checks = intact(witness, &reference, tally.checks + 1);
            finish(&tally, checks, false);
        }
        if message.badge != FAULT_BADGE && message.badge != RUNNER_BADGE {
            println!("fuzz: unexpected message on the fault endpoint: {message:?}");
            tileos_sys::debug_exit(GuestVerdict::Fail);
        }
        let [rip, word1, word2, word3] = message.words;
        if message.badge == RUNNER_BADGE {
            tally.runner_messages += 1;
            match message.info.label() {
                CAP_FAULT => {}
                UNKNOWN_SYSCALL if word3 & MARK_MASK == MARK_FAIL => {
                    println!(
                        "fuzz: the fuzzer's runner thread failed a check in its round {} (its `fuzz failure` line above)",
                        word3 & !MARK_MASK
                    );
                    let checks = intact(witness, &reference, tally.checks + 1);
                    finish(&tally, checks, false);
                }
                UNKNOWN_SYSCALL => {}
                label @ (USER_EXCEPTION | VM_FAULT) if armed_fault(runner_tcb, label, word1, word3, &mut tally) => {}
                other => {
                    println!("fuzz: the fuzzer's runner thread crashed: fault {other} [rip {rip:#x}, {word1:#x}, {word2:#x}, {word3:#x}]");
                    let checks = intact(witness, &reference, tally.checks + 1);
                    finish(&tally, checks, false);
                }
            }
            reply(0, &[]);
            continue;
        }
        match message.info.label() {
            CAP_FAULT => tally.cap_faults += 1,
            UNKNOWN_SYSCALL if word3 & MARK_MASK == MARK_FAIL => {
                println!("fuzz: the fuzzer's check failed at iteration {} (its `fuzz failure` line above)", word3 & !MARK_MASK);
                tally.iterations = word3 & !MARK_MASK;
                let checks = intact(witness, &reference, tally.checks + 1);
                finish(&tally, checks, false);
            }
            UNKNOWN_SYSCALL if matches!(word3 & MARK_MASK, MARK_PROGRESS | MARK_DONE) => {
                tally.iterations = word3 & !MARK_MASK;
                tally.checks += 1;
                let checks = intact(witness, &reference, tally.checks);
                let done = word3 & MARK_MASK == MARK_DONE;
                if done {
                    // The fuzzer's counters: r10 r8 r9 r15 rdx r12 r13 r14.
                    let registers = invoke(fuzzer_tcb, Label::TcbReadRegisters, &[18], &[]).unwrap_or_else(kernel("read fuzzer counters"));
                    tally.fuzzer = [12, 10, 11, 17, 6, 14, 15, 16].map(|index| registers.word(index));
                }
                if done || !checks.all() {
                    finish(&tally, checks, true);
                }
            }
            UNKNOWN_SYSCALL => tally.unknown_syscalls += 1,
            label @ (USER_EXCEPTION | VM_FAULT) if armed_fault(fuzzer_tcb, label, word1, word3, &mut tally) => {}
            other => {
                println!(
                    "fuzz: the fuzzer crashed after {} iterations: fault {other} [rip {rip:#x}, {word1:#x}, {word2:#x}, {word3:#x}]",
                    tally.iterations
                );
                let checks = intact(witness, &reference, tally.checks + 1);
                finish(&tally, checks, false);
            }
        }
        reply(0, &[]);
    }
}

/// Handles a fault of the fuzzer in an armed snippet: counts it and makes the reply resume
/// the fuzzer at its `r13` with `r12 = TAKEN | vector` (and `r14` = the address for a page
/// fault), RFLAGS 0x202. False if the fuzzer was not armed (a real crash).
fn armed_fault(fuzzer_tcb: u64, label: u64, word1: u64, word3: u64, tally: &mut Tally) -> bool {
    // rip, rsp, rflags, rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14.
    let registers = invoke(fuzzer_tcb, Label::TcbReadRegisters, &[17], &[]).unwrap_or_else(kernel("read fuzzer registers"));
    let mut values = [0u64; 17];
    for (index, value) in values.iter_mut().enumerate() {
        *value = registers.word(index);
    }
    if values[14] != ARMED {
        return false;
    }
    let vector = if label == VM_FAULT { PAGE_FAULT_VECTOR } else { word3 & 31 };
    tally.armed[vector as usize] += 1;
    values[0] = values[15];
    values[2] = 0x202;
    values[14] = TAKEN | vector;
    if label == VM_FAULT {
        values[16] = word1;
    }
    let mut write = [0u64; 19];
    write[1] = 17;
    write[2..].copy_from_slice(&values);
    invoke(fuzzer_tcb, Label::TcbWriteRegisters, &write, &[]).unwrap_or_else(kernel("resume fuzzer after an armed fault"));
    true
}
