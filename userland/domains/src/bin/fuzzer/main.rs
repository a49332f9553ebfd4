//! The hostile fuzzing domain (issue 5; docs/fuzzing.md): issues seeded pseudo-random
//! system calls and kernel-object invocations — every syscall number including invalid
//! ones, random capability pointers (mostly its own slots, to reach deep paths), labels,
//! message words and lengths, extra-capability pointers and IPC-buffer contents — and
//! reports progress to its supervisor (`rootserver/src/fuzz.rs`).
//!
//! Around every fuzzed system call it loads random RFLAGS, segment selectors, xmm registers,
//! MXCSR and preserved registers and checks them after ([`hw`]); between iterations it runs
//! instruction snippets that fault on purpose ([`snippets`]) and keeps a shadow model of
//! its own mappings that it checks by reading, writing and probing ([`model`]). A broken
//! check prints `fuzz failure: …` and ends the run with the `MARK_FAIL` marker.
//!
//! Entry arguments: `rdi` = seed (low 32 bits) | iterations (high 32 bits); `rsi` = the
//! first iteration to trace (print before issuing it), `u64::MAX` for none; `rdx` = the
//! feature bits ([`hw::feature`]).
//!
//! Its CNode (radix 8, cptr = slot number) holds the capabilities in [`slots`]. Every
//! iteration draws its operation from a generator seeded by (seed, iteration), so a run is a
//! pure function of the seed and the kernel's behaviour.
//!
//! The fuzzer must neither block forever nor cut itself off from its supervisor, so before
//! issuing an operation it rewrites a few (documented) cases:
//! * blocking Call/Send on a slot that may hold an endpoint nobody serves becomes NBSend,
//!   blocking Recv/ReplyRecv on a slot that may hold an endpoint or notification with Read
//!   becomes NBRecv (slots are tracked conservatively: any slot a capability may have been
//!   placed in counts as "dirty");
//! * DebugPutChar and DebugExit (9, 10) become Yield, DebugWrite (13) keeps only a count it
//!   refuses (0 or above 32: nothing is written); the marker numbers are never drawn;
//! * TcbSuspend/TcbConfigure/TcbSetPriority/TcbSetIpcBuffer/TcbSetSchedParams on its own
//!   TCB (slot 1) become TcbReadRegisters; CNode slot arguments naming its granted slots 1–14 in a destructive
//!   role (delete, move source, rotate), or its TCB/CNode (1, 2) as a copy source, are
//!   moved 16 slots up — so no second capability to its own TCB or CNode ever exists;
//! * capability pointers, extra capabilities, receive slots and CNode slot arguments naming
//!   the shadow model's slots (15, 240–255) are moved away, Retype ranges are kept off them,
//!   and maps into the model's 2 MiB span are moved 4 MiB away;
//! * frames are never mapped executable, and threads it starts get an instruction
//!   pointer below 4 GiB (its own image is there), so no thread it creates ever runs code.
//!
//! Every 256, 512, 1024 or 2048 iterations (by seed: `SWEEP << seed % 4`) it revokes its untyped memory and deletes every dirty slot, so
//! long runs keep exercising creation and destruction. Every `REPORT` iterations it prints
//! `fuzz progress <i>` and makes a marker system call (unknown number
//! `MARK_PROGRESS | i`): the supervisor receives it as a fault message, checks that the
//! witness domain and its own memory are intact, and replies. At the end it prints
//! `fuzz done <iterations> <seed>` and makes the `MARK_DONE | iterations` marker call, which
//! is never answered.
#![no_std]
#![no_main]

extern crate tileos_rt;

mod hw;
mod model;
mod snippets;

use core::arch::asm;
use tileos_abi::bootinfo::domain;
use tileos_abi::fuzz::{self, MARK_DONE, MARK_FAIL, MARK_PROGRESS, RUNNER_FLAG};
use tileos_abi::invocation::{Label, frame_attributes};
use tileos_abi::message::ipc_buffer;
use tileos_abi::object::ObjectType;
use tileos_abi::syscall::Syscall;
use tileos_sys::{println, set_buffer_word};

/// The fuzzer's CNode layout; `rootserver/src/fuzz.rs` grants exactly this.
mod slots {
    /// Its own TCB.
    pub const TCB: u64 = 1;
    /// Its own CNode (the CSpace root).
    pub const CNODE: u64 = 2;
    /// Its own VSpace (PML4).
    pub const VSPACE: u64 = 3;
    /// Badged endpoint (Write, Grant, GrantReply) served by the witness echo domain.
    pub const WITNESS: u64 = 4;
    /// A notification (all rights).
    pub const NOTIFICATION: u64 = 5;
    /// Four 4 KiB frames, slots 6–9.
    pub const FRAMES: u64 = 6;
    /// A second CNode, radix 4, guard 0.
    pub const CNODE2: u64 = 10;
    /// IO ports 0x80–0x8F.
    pub const IO_PORTS: u64 = 11;
    /// An endpoint nobody else holds (all rights).
    pub const OWN_ENDPOINT: u64 = 12;
    /// 256 KiB of untyped memory.
    pub const UNTYPED: u64 = 13;
    /// An unmapped page table.
    pub const PAGE_TABLE: u64 = 14;
    // Slot 15: 64 KiB of untyped memory for the shadow model (`model::UNTYPED`).
    /// First slot of the empty range (slot 0 is empty too).
    pub const FIRST_FREE: u64 = 16;

    /// True for the slots that start empty and random operations may fill: 0 and
    /// 16–239 (the granted slots stay occupied: the fuzzer never deletes or moves them;
    /// 240–255 are the shadow model's).
    pub fn fillable(slot: u64) -> bool {
        slot == 0 || (FIRST_FREE..crate::model::FIRST).contains(&slot)
    }
}

/// Salts of the generators for the hardware state and the snippets, so that the
/// operations of an iteration stay what they were before these existed.
const HW_SALT: u64 = 0x4857_0000_0000_0000;
const SNIPPET_SALT: u64 = 0x5311_0000_0000_0000;
const MODEL_SALT: u64 = 0x30DE_0000_0000_0000;
const RUNNER_SALT: u64 = 0x7244_0000_0000_0000;
/// Percentage of iterations followed by a shadow-model operation.
const MODEL_PERCENT: u64 = 30;
/// Percentage of iterations followed by an instruction snippet.
const SNIPPET_PERCENT: u64 = 25;
/// Iterations between progress markers.
const REPORT: u64 = 1000;
/// Fewest iterations between clean-up sweeps.
const SWEEP: u64 = 256;
/// Slots of the fuzzer's CNode.
const SLOT_COUNT: usize = 256;
/// Where the fuzzer's own image starts (`userland/user.ld`).
const IMAGE: u64 = 0x40_0000;
/// Where the fuzzer prefers to map its page table and frames (inside the page directory
/// that already covers its image).
const MAP_AREA: u64 = 0x1000_0000;

/// xorshift64* generator.
struct Rng(u64);

impl Rng {
    /// The generator for iteration `index` of run `seed` (splitmix64 of both, never 0).
    fn for_iteration(seed: u64, index: u64) -> Rng {
        let mut z = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_add(0x632B_E59B_D9B4_E019);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..bound` (bound > 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// True with probability `percent`/100.
    fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick(&mut self, values: &[u64]) -> u64 {
        values[self.below(values.len() as u64) as usize]
    }
}

/// One system call, fully described (registers and the IPC-buffer words it uses).
#[derive(Clone, Copy)]
struct Op {
    number: u64,
    cptr: u64,
    label: u64,
    caps_unwrapped: u64,
    extra_caps: u64,
    length: u64,
    /// Message registers 0–11 (4–11 go to the IPC buffer).
    mr: [u64; 12],
    /// Extra-capability pointers (`caps_or_badges`).
    caps: [u64; 3],
    receive_index: u64,
    receive_depth: u64,
    user_data: u64,
}

impl Op {
    /// A system call with the given message; no receive slot.
    fn new(number: Syscall, cptr: u64, label: u64, words: &[u64], caps: &[u64]) -> Op {
        let mut op = Op {
            number: number as u64,
            cptr,
            label,
            caps_unwrapped: 0,
            extra_caps: caps.len() as u64,
            length: words.len() as u64,
            mr: [0; 12],
            caps: [0; 3],
            receive_index: 0,
            receive_depth: 0,
            user_data: 0,
        };
        op.mr[..words.len()].copy_from_slice(words);
        op.caps[..caps.len()].copy_from_slice(caps);
        op
    }

    /// A Call invoking `label` on `cptr`.
    fn call(cptr: u64, label: Label, args: &[u64], caps: &[u64]) -> Op {
        Op::new(Syscall::Call, cptr, label as u64, args, caps)
    }

    fn info(&self) -> u64 {
        (self.label << 12) | ((self.caps_unwrapped & 7) << 9) | ((self.extra_caps & 3) << 7) | (self.length & 0x7F)
    }

    /// True if the syscall may invoke a kernel object through `cptr`.
    fn invokes(&self) -> bool {
        matches!(self.number, 1 | 3 | 4)
    }
}

/// What the fuzzer knows about its own CNode: slots a capability may have been placed in
/// (`dirty`), and slots that may hold an endpoint nobody serves (`endpoint`).
struct Tracker {
    dirty: [bool; SLOT_COUNT],
    endpoint: [bool; SLOT_COUNT],
}

impl Tracker {
    fn new() -> Tracker {
        let mut endpoint = [false; SLOT_COUNT];
        endpoint[slots::OWN_ENDPOINT as usize] = true;
        Tracker { dirty: [false; SLOT_COUNT], endpoint }
    }

    fn slot(cptr: u64) -> Option<usize> {
        (cptr < SLOT_COUNT as u64).then_some(cptr as usize)
    }

    /// May a blocking send (Call, Send) on `cptr` wait forever?
    fn send_may_block(&self, cptr: u64) -> bool {
        Tracker::slot(cptr).is_some_and(|s| self.endpoint[s])
    }

    /// May a blocking receive on `cptr` wait forever?
    fn receive_may_block(&self, cptr: u64) -> bool {
        Tracker::slot(cptr).is_some_and(|s| self.dirty[s] || self.endpoint[s] || s as u64 == slots::NOTIFICATION)
    }

    /// Marks slot `index` of the fuzzer's CNode as possibly holding a new capability,
    /// possibly an unserved endpoint.
    fn place(&mut self, index: u64, endpoint: bool) {
        if let Some(s) = Tracker::slot(index).filter(|&s| slots::fillable(s as u64)) {
            self.dirty[s] = true;
            self.endpoint[s] |= endpoint;
        }
    }

    fn endpoint_at(&self, index: u64) -> bool {
        Tracker::slot(index).is_none_or(|s| self.endpoint[s])
    }

    /// Records, before the operation is issued, every slot it may fill (conservatively:
    /// as if it succeeded). Only invocations of the fuzzer's own CNode (slot 2), or a retype
    /// into it, can place capabilities where its pointers reach.
    fn record(&mut self, op: &Op) {
        if !op.invokes() {
            return;
        }
        let [a0, _, a2, _, a4, a5, ..] = op.mr;
        match Label::from_raw(op.label) {
            Some(Label::UntypedRetype) if op.caps[0] == slots::CNODE => {
                let endpoint = a0 == ObjectType::Endpoint as u64;
                for index in a4..a4.saturating_add(a5).min(SLOT_COUNT as u64) {
                    self.place(index, endpoint);
                }
            }
            Some(Label::CNodeCopy | Label::CNodeMint | Label::CNodeMove | Label::CNodeMutate) if op.cptr == slots::CNODE => {
                let foreign = op.caps[0] != slots::CNODE;
                self.place(a0, foreign || self.endpoint_at(a2));
            }
            Some(Label::CNodeRotate) if op.cptr == slots::CNODE => {
                let (to_destination, to_pivot) = (self.endpoint_at(a2), self.endpoint_at(a4));
                self.place(a0, to_destination);
                self.place(a2, to_pivot);
            }
            Some(Label::CNodeSaveCaller) if op.cptr == slots::CNODE => self.place(a0, false),
            _ => {}
        }
    }

    /// Records a received message: a capability may have arrived in the receive slot.
    fn received(&mut self, op: &Op, info: u64) {
        if (info >> 7) & 3 != 0 {
            self.place(op.receive_index, true);
        }
    }

    fn clear(&mut self, index: usize) {
        self.dirty[index] = false;
        self.endpoint[index] = index as u64 == slots::OWN_ENDPOINT;
    }
}

/// Outcome counts of the invocations made with Call, per valid label: successes, one
/// counter per error code 1–10, then replies with any other label.
struct Stats {
    outcomes: [[u32; 12]; LABELS.len()],
}

impl Stats {
    fn count(&mut self, op: &Op, reply_info: u64) {
        if op.number != Syscall::Call as u64 {
            return;
        }
        if let Some(index) = LABELS.iter().position(|&l| l == op.label) {
            let code = reply_info >> 12;
            self.outcomes[index][code.min(11) as usize] += 1;
        }
    }

    /// Prints one line per label that was invoked: `fuzz stats <label> ok=<n> errors=[…]`.
    fn print(&self) {
        for (label, outcome) in Label::ALL.iter().zip(&self.outcomes) {
            if outcome.iter().any(|&n| n > 0) {
                println!("fuzz stats {label:?} ok={} errors 1-10,other={:?}", outcome[0], &outcome[1..]);
            }
        }
    }
}

/// Issues system call `number` with the full register convention; returns the badge,
/// message info and message registers 0–3.
fn syscall(number: u64, cptr: u64, info: u64, mr: [u64; 4]) -> (u64, u64, [u64; 4]) {
    let (badge, info_out, w0, w1, w2, w3): (u64, u64, u64, u64, u64, u64);
    // SAFETY: `syscall` enters the kernel, which preserves every register except rdi, rsi,
    // the message registers, rcx and r11 (all declared); rax is declared clobbered too. The
    // kernel never writes this thread's memory other than its IPC buffer.
    unsafe {
        asm!(
            "syscall",
            inout("rax") number => _,
            inout("rdi") cptr => badge,
            inout("rsi") info => info_out,
            inout("r10") mr[0] => w0,
            inout("r8") mr[1] => w1,
            inout("r9") mr[2] => w2,
            inout("r15") mr[3] => w3,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    (badge, info_out, [w0, w1, w2, w3])
}

/// Call on a kernel object with register arguments only; returns the reply label.
fn invoke(cptr: u64, label: Label, args: &[u64]) -> u64 {
    let mut mr = [0; 4];
    mr[..args.len()].copy_from_slice(args);
    syscall(Syscall::Call as u64, cptr, ((label as u64) << 12) | args.len() as u64, mr).1 >> 12
}

/// A value for an argument word: small numbers, slots, depths, types, rights, addresses,
/// ports, edge values or anything.
fn word(rng: &mut Rng) -> u64 {
    match rng.below(16) {
        0..=3 => rng.below(17),
        4 | 5 => slot(rng),
        6 => 64,
        7 => rng.pick(&[4, 8, 12, 18, 20, 21, 47, 48, 63]),
        8 => rng.below(12),
        9 => rng.below(16),
        10 => address(rng),
        11 => 0x80 + rng.below(18),
        12 => rng.pick(&[u64::MAX, 1 << 63, 0x0000_8000_0000_0000, 0x0000_7FFF_FFFF_F000, 0xFFFF, 1 << 52, 0x7F]),
        _ => rng.next(),
    }
}

/// A capability pointer: mostly the granted slots, often the slots the fuzzer fills,
/// sometimes any slot or any word.
fn slot(rng: &mut Rng) -> u64 {
    match rng.below(20) {
        0..=9 => 1 + rng.below(slots::FIRST_FREE - 1),
        10..=15 => slots::FIRST_FREE + rng.below(24),
        16..=18 => rng.below(SLOT_COUNT as u64),
        _ => rng.next(),
    }
}

/// A slot where new capabilities go.
fn free_slot(rng: &mut Rng) -> u64 {
    if rng.percent(90) { slots::FIRST_FREE + rng.below(24) } else { rng.below(SLOT_COUNT as u64) }
}

/// A user address: mostly pages in the fuzzer's mapping area, sometimes anywhere.
fn address(rng: &mut Rng) -> u64 {
    match rng.below(8) {
        0..=4 => MAP_AREA + rng.below(24) * 0x1000,
        5 => rng.next() & 0x0000_7FFF_FFFF_F000,
        6 => rng.pick(&[0, 0x1000, IMAGE, domain::IPC_BUFFER_VADDR, domain::STACK_TOP - 0x1000, 0x0000_7FFF_FFFF_F000]),
        _ => rng.next(),
    }
}

/// A (slot, depth) pair for a CNode argument of `cnode`.
fn slot_argument(rng: &mut Rng, cnode: u64) -> (u64, u64) {
    match (cnode, rng.below(10)) {
        (slots::CNODE2, 0..=7) => (rng.below(16), 4),
        (_, 0..=7) => (free_slot(rng), 64),
        (_, 8) => (slot(rng), 64),
        _ => (word(rng), word(rng)),
    }
}

/// Every valid invocation label.
const LABELS: [u64; Label::ALL.len()] = {
    let mut labels = [0; Label::ALL.len()];
    let mut i = 0;
    while i < Label::ALL.len() {
        labels[i] = Label::ALL[i] as u64;
        i += 1;
    }
    labels
};

/// Draws an invocation: a valid label (mostly) on a fitting capability (mostly) with
/// arguments shaped for that method (mostly).
fn invocation(rng: &mut Rng, op: &mut Op) {
    op.number = rng.pick(&[1, 1, 1, 1, 1, 1, 1, 1, 4, 3]);
    op.label = match rng.below(10) {
        0..=7 => rng.pick(&LABELS),
        8 => rng.below(100),
        _ => rng.next() >> 12,
    };
    op.length = if rng.percent(80) { rng.below(9) } else { rng.below(128) };
    op.extra_caps = rng.below(4);
    if !rng.percent(70) {
        op.cptr = slot(rng);
        return;
    }
    let frame = slots::FRAMES + rng.below(4);
    let created = slots::FIRST_FREE + rng.below(24);
    let cnode = rng.pick(&[slots::CNODE, slots::CNODE, slots::CNODE, slots::CNODE, slots::CNODE2, created]);
    let (a, b) = (slot_argument(rng, cnode), slot_argument(rng, cnode));
    let Some(label) = Label::from_raw(op.label) else {
        op.cptr = slot(rng);
        return;
    };
    use Label::*;
    let (cptr, args, caps): (u64, &[u64], &[u64]) = match label {
        UntypedRetype => {
            let object = if rng.percent(90) { rng.below(11) } else { word(rng) };
            let size = match object {
                0 => 4 + rng.below(15),
                4 => 1 + rng.below(7),
                _ => word(rng),
            };
            let depth = if rng.percent(80) { 0 } else { word(rng) };
            let source = if rng.percent(60) { slots::UNTYPED } else { created };
            (source, &[object, size, slot(rng), depth, free_slot(rng), 1 + rng.below(3)], &[cnode])
        }
        TcbReadRegisters => (rng.pick(&[slots::TCB, created]), &[1 + rng.below(18)], &[]),
        TcbWriteRegisters => {
            let count = 1 + rng.below(18);
            op.mr[2..].iter_mut().for_each(|w| *w = word(rng));
            op.mr[0] = rng.below(2);
            op.mr[1] = count;
            op.cptr = created;
            op.length = (2 + count).min(op.mr.len() as u64);
            return;
        }
        TcbConfigure => {
            let fault = rng.pick(&[0, slots::WITNESS, slots::OWN_ENDPOINT, slots::NOTIFICATION, created]);
            let any = word(rng);
            let guard = rng.pick(&[0, 0, 56, 60, any]);
            let buffer = MAP_AREA + rng.below(4) * 1024;
            let vspace = rng.pick(&[slots::VSPACE, slots::VSPACE, created]);
            (created, &[fault, guard, buffer], &[rng.pick(&[slots::CNODE, slots::CNODE2, created]), vspace, frame])
        }
        TcbSetPriority | TcbSetMcPriority => (created, &[rng.below(120)], &[rng.pick(&[slots::TCB, created])]),
        TcbSetSchedParams => {
            let any = word(rng);
            let period = rng.pick(&[0, 1, 4, 100, 1 << 20, (1 << 20) + 1, any]);
            let any = word(rng);
            let budget = rng.pick(&[0, 1, period, period.wrapping_add(1), any]);
            (created, &[budget, period], &[rng.pick(&[slots::TCB, created])])
        }
        TcbSetPassive => {
            let any = word(rng);
            (created, &[rng.pick(&[0, 1, 2, any])], &[rng.pick(&[slots::TCB, created])])
        }
        TcbSuspend | TcbResume | TcbUnbindNotification | TcbConsumedTime | TcbSchedInfo => (rng.pick(&[slots::TCB, created]), &[], &[]),
        TcbSetAffinity => {
            let any = word(rng);
            (rng.pick(&[slots::TCB, created]), &[rng.pick(&[0, 1, 2, 3, 4, any])], &[])
        }
        TcbBindNotification => (rng.pick(&[slots::TCB, created]), &[], &[rng.pick(&[slots::NOTIFICATION, created])]),
        TcbSetIpcBuffer => (created, &[MAP_AREA + rng.below(4) * 1024], &[frame]),
        CNodeRevoke | CNodeDelete | CNodeSaveCaller => (cnode, &[a.0, a.1], &[]),
        CNodeCopy | CNodeMint => {
            let source = (slot(rng), 64);
            (cnode, &[a.0, a.1, source.0, source.1, rng.below(16), word(rng)], &[slots::CNODE])
        }
        CNodeMove | CNodeMutate => (cnode, &[a.0, a.1, b.0, b.1, word(rng)], &[rng.pick(&[slots::CNODE, slots::CNODE2, created])]),
        CNodeRotate => {
            let c = slot_argument(rng, cnode);
            (cnode, &[a.0, a.1, b.0, b.1, c.0, c.1], &[])
        }
        PagingStructureMap | PagingStructureUnmap => {
            let anywhere = address(rng);
            (rng.pick(&[slots::PAGE_TABLE, created]), &[rng.pick(&[MAP_AREA, anywhere])], &[slots::VSPACE])
        }
        FrameMap => (rng.pick(&[frame, created]), &[address(rng), rng.below(16), rng.below(4)], &[rng.pick(&[slots::VSPACE, created])]),
        FrameUnmap | FrameGetAddress => (rng.pick(&[frame, created]), &[], &[]),
        IrqControlGet | IrqHandlerAck | IrqHandlerSetNotification | IrqHandlerClear | IoPortControlIssue | IoSpaceControlIssue => {
            (slot(rng), &[rng.below(30), rng.below(2), rng.below(2), free_slot(rng), 64], &[slots::NOTIFICATION])
        }
        IrqControlGetMsi | IrqHandlerMsiMessage => (slot(rng), &[rng.below(20), free_slot(rng), 64], &[]),
        IoPortIn8 | IoPortIn16 | IoPortIn32 | IoPortOut8 | IoPortOut16 | IoPortOut32 => {
            (slots::IO_PORTS, &[0x7E + rng.below(20), rng.next()], &[])
        }
        IoPortOutBytes => (slots::IO_PORTS, &[0x7E + rng.below(20), rng.below(20), rng.next(), rng.next()], &[]),
    };
    op.cptr = cptr;
    op.mr[..args.len()].copy_from_slice(args);
    op.caps[..caps.len()].copy_from_slice(caps);
    op.length = args.len() as u64;
    op.extra_caps = caps.len() as u64;
}

/// The operations of one iteration: usually one, a scenario several.
struct Plan {
    ops: [Op; 5],
    count: usize,
}

/// Draws the operations of one iteration: 90 % one random operation, 10 % a scenario.
fn generate(rng: &mut Rng) -> Plan {
    if rng.percent(90) {
        let op = single(rng);
        return Plan { ops: [op; 5], count: 1 };
    }
    let ops = scenario(rng);
    let mut plan = Plan { ops: [ops[0]; 5], count: ops.len() };
    plan.ops[..ops.len()].copy_from_slice(&ops);
    plan
}

/// A short sequence that builds a state random single operations rarely reach: a thread
/// that runs (and faults), an endpoint with a badged copy used for IPC, a received fault
/// answered through a saved reply capability, frames mapped through a page table, nested
/// untyped memory revoked, a CNode that holds a capability to itself destroyed.
fn scenario(rng: &mut Rng) -> [Op; 4] {
    use Label::*;
    use ObjectType::*;
    let (s, d) = (free_slot(rng), free_slot(rng));
    let frame = slots::FRAMES + rng.below(4);
    let words = [word(rng), word(rng), word(rng), word(rng), word(rng)];
    let caps = [slot(rng), rng.pick(&[s, d, slots::WITNESS]), slot(rng)];
    let page = |rng: &mut Rng| MAP_AREA + rng.below(8) * 0x1000;
    let rights = |rng: &mut Rng| rng.pick(&[2, 3, 3, 15, 1, 0]);
    match rng.below(6) {
        0 => {
            let fault = rng.pick(&[slots::OWN_ENDPOINT, slots::OWN_ENDPOINT, slots::WITNESS, 0]);
            let cspace = rng.pick(&[slots::CNODE, slots::CNODE2]);
            let guard = if cspace == slots::CNODE { 56 } else { 0 };
            [
                Op::call(slots::UNTYPED, UntypedRetype, &[Tcb as u64, 0, 0, 0, s, 1], &[slots::CNODE]),
                Op::call(s, TcbConfigure, &[fault, guard, MAP_AREA + rng.below(4) * 1024], &[cspace, slots::VSPACE, frame]),
                Op::call(s, TcbSetPriority, &[rng.pick(&[0, 99, 100])], &[slots::TCB]),
                Op::call(s, TcbWriteRegisters, &[1, 2, rng.next() & 0x7FFF_FFFF_FFFF, rng.next() & 0x7FFF_FFFF_FFF8], &[]),
            ]
        }
        1 => {
            let label = rng.below(64);
            let mut receive = Op::new(Syscall::NbRecv, s, 0, &[], &[]);
            receive.receive_index = free_slot(rng);
            receive.receive_depth = 64;
            [
                Op::call(slots::UNTYPED, UntypedRetype, &[Endpoint as u64, 0, 0, 0, s, 1], &[slots::CNODE]),
                Op::call(slots::CNODE, CNodeMint, &[d, 64, s, 64, rng.below(16), rng.below(4)], &[slots::CNODE]),
                Op::new(Syscall::NbSend, d, label, &words[..rng.below(6) as usize], &caps[..rng.below(4) as usize]),
                receive,
            ]
        }
        2 => {
            let mut receive = Op::new(Syscall::NbRecv, slots::OWN_ENDPOINT, 0, &[], &[]);
            receive.receive_index = free_slot(rng);
            receive.receive_depth = 64;
            let answer = rng.pick(&[Syscall::Call as u64, Syscall::Send as u64, Syscall::NbSend as u64]);
            let mut reply = Op::new(Syscall::Call, d, rng.below(8), &words[..rng.below(6) as usize], &[]);
            reply.number = answer;
            [receive, Op::call(slots::CNODE, CNodeSaveCaller, &[d, 64], &[]), reply, Op::new(Syscall::Reply, 0, 0, &words[..2], &[])]
        }
        3 => [
            Op::call(slots::PAGE_TABLE, PagingStructureMap, &[MAP_AREA], &[slots::VSPACE]),
            Op::call(frame, FrameMap, &[page(rng), rights(rng), rng.below(4)], &[slots::VSPACE]),
            Op::call(slots::CNODE, CNodeCopy, &[d, 64, frame, 64, rights(rng)], &[slots::CNODE]),
            Op::call(d, FrameMap, &[page(rng), rights(rng), rng.below(4)], &[slots::VSPACE]),
        ],
        5 => {
            // A CNode holding a capability to itself and another capability, then deleted
            // or revoked (destruction with a cycle).
            let radix = 1 + rng.below(4);
            let other = rng.pick(&[slots::NOTIFICATION, slots::OWN_ENDPOINT, slots::WITNESS, frame, slots::CNODE2, d]);
            let (first, second) = (rng.below(1 << radix), rng.below(1 << radix));
            [
                Op::call(slots::UNTYPED, UntypedRetype, &[CNode as u64, radix, 0, 0, s, 1], &[slots::CNODE]),
                Op::call(s, CNodeCopy, &[first, radix, s, 64, 15], &[slots::CNODE]),
                Op::call(s, CNodeMint, &[second, radix, other, 64, rng.below(16), rng.below(3)], &[slots::CNODE]),
                Op::new(Syscall::Call, slots::CNODE, rng.pick(&[CNodeDelete as u64, CNodeRevoke as u64]), &[s, 64], &[]),
            ]
        }
        _ => [
            Op::call(slots::UNTYPED, UntypedRetype, &[Untyped as u64, 10 + rng.below(6), 0, 0, s, 1], &[slots::CNODE]),
            Op::call(s, UntypedRetype, &[rng.below(11), 1 + rng.below(12), 0, 0, d, 1 + rng.below(3)], &[slots::CNODE]),
            Op::call(slots::CNODE, CNodeRevoke, &[s, 64], &[]),
            Op::call(slots::CNODE, CNodeDelete, &[rng.pick(&[s, d]), 64], &[]),
        ],
    }
}

/// Draws one random operation.
fn single(rng: &mut Rng) -> Op {
    let mut op = Op {
        number: 0,
        cptr: 0,
        label: 0,
        caps_unwrapped: if rng.percent(10) { rng.below(8) } else { 0 },
        extra_caps: 0,
        length: 0,
        mr: [0; 12],
        caps: [0; 3],
        receive_index: free_slot(rng),
        receive_depth: rng.pick(&[64, 64, 64, 0, 8, 4, 65]),
        user_data: rng.next(),
    };
    op.mr.iter_mut().for_each(|w| *w = word(rng));
    op.caps.iter_mut().for_each(|c| *c = slot(rng));
    match rng.below(100) {
        0..=69 => invocation(rng, &mut op),
        70..=89 => {
            // IPC on the IPC objects it holds, or any slot.
            let any = slot(rng);
            op.cptr = rng.pick(&[slots::WITNESS, slots::WITNESS, slots::NOTIFICATION, slots::OWN_ENDPOINT, any]);
            op.number = 1 + rng.below(8);
            op.label = if rng.percent(70) { rng.below(64) } else { rng.next() };
            op.length = if rng.percent(80) { rng.below(9) } else { rng.below(128) };
            op.extra_caps = rng.below(4);
        }
        _ => {
            // Anything: any syscall number, any registers.
            op.number = if rng.percent(75) { rng.below(16) } else { rng.next() };
            op.cptr = if rng.percent(50) { slot(rng) } else { rng.next() };
            op.label = rng.next();
            op.length = rng.below(128);
            op.extra_caps = rng.below(4);
        }
    }
    op.label &= (1 << 52) - 1;
    op
}

/// Rewrites the cases that would block the fuzzer forever or cut it off from its
/// supervisor (see the module documentation).
fn sanitize(op: &mut Op, tracker: &Tracker) {
    // Nothing random names the shadow model's slots or its page table's 2 MiB span.
    let away = |index: &mut u64| {
        if model::owns_slot(*index) {
            *index ^= 0x80;
        }
    };
    away(&mut op.cptr);
    op.caps.iter_mut().for_each(away);
    away(&mut op.receive_index);
    if matches!(op.number, 9 | 10) {
        op.number = Syscall::Yield as u64;
    }
    // DebugWrite keeps only counts it refuses (nothing written): the log stays readable.
    if op.number == Syscall::DebugWrite as u64 && (1..=tileos_abi::syscall::DEBUG_WRITE_BYTES as u64).contains(&op.cptr) {
        op.cptr = 0;
    }
    op.number = fuzz::off_markers(op.number);
    if matches!(op.number, 1 | 3) && tracker.send_may_block(op.cptr) {
        op.number = Syscall::NbSend as u64;
    }
    if matches!(op.number, 2 | 5 | 14) && tracker.receive_may_block(op.cptr) {
        op.number = Syscall::NbRecv as u64;
    }
    // SaveRecv's destination (MR0) is a slot argument like any other.
    if op.number == Syscall::SaveRecv as u64 {
        away(&mut op.mr[0]);
    }
    if !op.invokes() {
        return;
    }
    match Label::from_raw(op.label) {
        Some(Label::FrameMap | Label::PagingStructureMap) if model::owns_address(op.mr[0]) => op.mr[0] ^= 1 << 22,
        Some(Label::UntypedRetype) if op.caps[0] == slots::CNODE => {
            let (first, end) = (op.mr[4], op.mr[4].saturating_add(op.mr[5]));
            if (first <= model::UNTYPED && end > model::UNTYPED) || (first < 256 && end > model::FIRST) {
                op.mr[4] = slots::FIRST_FREE + op.mr[4] % 64;
                op.mr[5] = op.mr[5].min(8);
            }
        }
        Some(
            Label::CNodeRevoke
            | Label::CNodeDelete
            | Label::CNodeCopy
            | Label::CNodeMint
            | Label::CNodeMove
            | Label::CNodeMutate
            | Label::CNodeRotate
            | Label::CNodeSaveCaller,
        ) if op.cptr == slots::CNODE || op.caps[0] == slots::CNODE => {
            for index in [0, 2, 4] {
                away(&mut op.mr[index]);
            }
        }
        _ => {}
    }
    let shift = |index: &mut u64, protected: core::ops::RangeInclusive<u64>| {
        if protected.contains(index) {
            *index += 16;
        }
    };
    const GRANTED: core::ops::RangeInclusive<u64> = 1..=slots::PAGE_TABLE;
    use Label::*;
    match Label::from_raw(op.label) {
        Some(TcbSuspend | TcbConfigure | TcbSetPriority | TcbSetIpcBuffer | TcbSetSchedParams | TcbSetPassive) if op.cptr == slots::TCB => {
            op.label = TcbReadRegisters as u64;
        }
        Some(TcbWriteRegisters) if op.mr[2] < 0x1_0000_0000 => op.mr[2] |= 0x1000_0000_0000,
        Some(FrameMap) => op.mr[2] &= !frame_attributes::EXECUTABLE,
        Some(CNodeRevoke) => shift(&mut op.mr[0], 1..=slots::CNODE),
        Some(CNodeDelete) => shift(&mut op.mr[0], GRANTED),
        Some(CNodeCopy | CNodeMint) => shift(&mut op.mr[2], slots::TCB..=slots::CNODE),
        Some(CNodeMove | CNodeMutate) => shift(&mut op.mr[2], GRANTED),
        Some(CNodeRotate) => {
            for index in [0, 2, 4] {
                shift(&mut op.mr[index], GRANTED);
            }
        }
        _ => {}
    }
}

/// Writes the IPC-buffer part of `op` and issues it with the hardware state `state`
/// loaded ([`hw::syscall`]); returns the reply info word.
fn issue(op: &Op, state: &mut hw::State) -> u64 {
    for (index, &w) in op.mr.iter().enumerate().skip(4) {
        set_buffer_word(ipc_buffer::MSG + index, w);
    }
    set_buffer_word(ipc_buffer::USER_DATA, op.user_data);
    for (index, &c) in op.caps.iter().enumerate() {
        set_buffer_word(ipc_buffer::CAPS_OR_BADGES + index, c);
    }
    set_buffer_word(ipc_buffer::RECEIVE_INDEX, op.receive_index);
    set_buffer_word(ipc_buffer::RECEIVE_DEPTH, op.receive_depth);
    let [m0, m1, m2, m3, ..] = op.mr;
    hw::syscall(state, op.number, op.cptr, op.info(), [m0, m1, m2, m3]).1
}

/// Reports a broken check to the supervisor and stops (the marker is never answered).
fn fail(iteration: u64) -> ! {
    loop {
        syscall(MARK_FAIL | iteration, 0, 0, [0; 4]);
    }
}

/// The last marker: `MARK_DONE | iterations`, with the fuzzer's counters in r10 r8 r9 r15
/// rdx r12 r13 r14 (the supervisor reads them with TcbReadRegisters).
fn final_marker(iterations: u64, counters: [u64; 8]) -> ! {
    loop {
        // SAFETY: a syscall the kernel turns into a fault message; the supervisor never
        // answers it. All registers it may write are declared.
        unsafe {
            asm!(
                "syscall",
                inout("rax") MARK_DONE | iterations => _,
                inout("r10") counters[0] => _,
                inout("r8") counters[1] => _,
                inout("r9") counters[2] => _,
                inout("r15") counters[3] => _,
                inout("rdx") counters[4] => _,
                inout("r12") counters[5] => _,
                inout("r13") counters[6] => _,
                inout("r14") counters[7] => _,
                out("rdi") _, out("rsi") _, out("rcx") _, out("r11") _,
                options(nostack),
            );
        }
    }
}

/// Clean-up: revoke the untyped memory (destroying everything made from it) and delete
/// every slot a capability may have been placed in, and everything in the second CNode.
fn sweep(tracker: &mut Tracker) {
    invoke(slots::CNODE, Label::CNodeRevoke, &[slots::UNTYPED, 64]);
    for index in (0..SLOT_COUNT).filter(|&s| slots::fillable(s as u64)) {
        if tracker.dirty[index] && invoke(slots::CNODE, Label::CNodeDelete, &[index as u64, 64]) == 0 {
            tracker.clear(index);
        }
    }
    for index in 0..16 {
        invoke(slots::CNODE2, Label::CNodeDelete, &[index, 4]);
    }
}

/// The runner: the fuzzer's second thread (same address space and capabilities, same
/// priority, its own stack and IPC buffer; the root server starts it with `RUNNER_FLAG`).
/// Forever, round after round: a system call that touches no capability of the fuzzer's
/// (Yield, an NBRecv poll of the notification, an unknown number the root server answers)
/// with random hardware state, checked like the fuzzer's own ([`hw`]); then, with
/// [`hw::feature::SNIPPETS`], one instruction snippet. So the fuzzer's thread and this one,
/// each with its own random xmm, segment and flag values, take turns on the CPU at every
/// timer tick and every syscall, and each checks that the other's state never shows up in
/// its registers. It uses no IPC buffer and no shared memory. A broken check prints
/// `fuzz failure: …` (rounds are counted like iterations) and ends the run with the
/// failure marker.
fn runner(seed: u64, features: u64) -> ! {
    let mut state = hw::State::new();
    let mut counts = snippets::Counts::default();
    for round in 0.. {
        let mut rng = Rng::for_iteration(seed ^ RUNNER_SALT, round);
        let number = rng.pick(&[Syscall::Yield as u64, Syscall::Yield as u64, Syscall::NbRecv as u64, 0x7777]);
        state.draw(&mut rng, features);
        let words = [rng.next(), rng.next(), rng.next(), rng.next()];
        hw::syscall(&mut state, number, slots::NOTIFICATION, 0, words);
        if let Some(failure) = state.check(number, features) {
            println!("fuzz failure: runner round {round}: syscall {number:#x}: {failure}");
            fail(round);
        }
        if features & hw::feature::SNIPPETS != 0 && !snippets::run(&mut rng, &mut counts, round, false, features) {
            println!("fuzz failure: (the line above is the runner's, round {round})");
            fail(round);
        }
    }
    unreachable!("rounds never end")
}

/// Entry: `argument` = seed | iterations << 32; `trace_from` = first iteration to print;
/// `features` = the [`hw::feature`] bits.
#[unsafe(no_mangle)]
extern "C" fn _start(argument: u64, trace_from: u64, features: u64) -> ! {
    if features & RUNNER_FLAG != 0 {
        runner(argument, features & !RUNNER_FLAG);
    }
    tileos_sys::set_ipc_buffer(domain::IPC_BUFFER_VADDR);
    let (seed, iterations) = (argument & 0xFFFF_FFFF, argument >> 32);
    println!("fuzz start seed={seed} iterations={iterations} features={features:#x}");
    if features & !hw::feature::ALL != 0 {
        println!("fuzz: unknown feature bits {:#x} ignored", features & !hw::feature::ALL);
    }
    let mut state = hw::State::new();
    let mut checked_syscalls = 0u64;
    let mut snippet_counts = snippets::Counts::default();
    let mut model = model::Model::new();
    let sweep_every = SWEEP << (seed % 4);
    let mut tracker = Tracker::new();
    let mut stats = Stats { outcomes: [[0; 12]; LABELS.len()] };
    for index in 0..iterations {
        let mut rng = Rng::for_iteration(seed, index);
        let mut plan = generate(&mut rng);
        let mut hw_rng = Rng::for_iteration(seed ^ HW_SALT, index);
        let mut snippet_rng = Rng::for_iteration(seed ^ SNIPPET_SALT, index);
        for (step, op) in plan.ops[..plan.count].iter_mut().enumerate() {
            sanitize(op, &tracker);
            tracker.record(op);
            if index >= trace_from {
                println!(
                    "fuzz op {index}.{step}: syscall {:#x} cptr {:#x} info {:#x} mr {:x?} caps {:x?} receive {:#x}/{}",
                    op.number,
                    op.cptr,
                    op.info(),
                    op.mr,
                    op.caps,
                    op.receive_index,
                    op.receive_depth
                );
            }
            state.draw(&mut hw_rng, features);
            if index >= trace_from {
                println!("fuzz hw {index}.{step}: rflags {:#x} ds/es/fs/gs {:x?}", state.flags(), state.selectors());
            }
            let info = issue(op, &mut state);
            if let Some(failure) = state.check(op.number, features) {
                println!(
                    "fuzz failure: iteration {index} step {step}: syscall {:#x} (cptr {:#x}, info {:#x}, label {}): {failure}",
                    op.number,
                    op.cptr,
                    op.info(),
                    op.label
                );
                fail(index);
            }
            checked_syscalls += 1;
            tracker.received(op, info);
            stats.count(op, info);
        }
        if features & hw::feature::MODEL != 0 {
            let mut model_rng = Rng::for_iteration(seed ^ MODEL_SALT, index);
            if model_rng.percent(MODEL_PERCENT)
                && !model.step(&mut model_rng, index, index >= trace_from, features & hw::feature::DETACH != 0)
            {
                fail(index);
            }
            if index % model::CHECK_EVERY == model::CHECK_EVERY - 1 && !model.check(index) {
                fail(index);
            }
        }
        if features & hw::feature::SNIPPETS != 0
            && snippet_rng.percent(SNIPPET_PERCENT)
            && !snippets::run(&mut snippet_rng, &mut snippet_counts, index, index >= trace_from, features)
        {
            fail(index);
        }
        if index % sweep_every == sweep_every - 1 {
            sweep(&mut tracker);
        }
        if index % REPORT == REPORT - 1 {
            println!("fuzz progress {}", index + 1);
            syscall(MARK_PROGRESS | (index + 1), 0, 0, [0; 4]);
        }
    }
    stats.print();
    println!(
        "fuzz hw: checked_syscalls={checked_syscalls}, snippets={}, snippet_faults={}, model_pages={}, model_probes={}, model_ops={}",
        snippet_counts.run, snippet_counts.faulted, model.pages_checked, model.probes, model.operations
    );
    println!("fuzz done {iterations} {seed}");
    let counters =
        [checked_syscalls, snippet_counts.run, snippet_counts.faulted, model.pages_checked, model.probes, model.operations, 0, 0];
    final_marker(iterations, counters);
}
