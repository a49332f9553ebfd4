//! Preemptible deletion: the worst structures 1 MiB of untyped memory can build are deleted
//! (and revoked) by one invocation each, which the kernel runs in many short entries,
//! restarting the call; the longest kernel entry meanwhile stays under the stated bound,
//! everything is gone afterwards and the memory can be retyped again.

use super::{CNODE, DEPTH, Env, VSPACE, check, expect_error, expect_ok};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::Label;
use tileos_abi::invocation::{CNodeDelete, CNodeMove, CNodeRevoke, CPtr, FrameMap, FrameUnmap, Slot, TcbConfigure, UntypedRetype};
use tileos_abi::message::MessageInfo;
use tileos_abi::object::ObjectType;
use tileos_abi::object::Rights;
use tileos_abi::syscall::Syscall;
use tileos_sys::cap::{CNode, Frame, Tcb, Untyped};
use tileos_sys::{invoke, println};

/// log2 of the untyped memory the structures are built from.
const MEMORY_BITS: u64 = 20;

/// Longest kernel entry allowed while deleting, in microseconds of guest TSC time (QEMU
/// TCG on a loaded 2-core host). The kernel works at most `cspace::KERNEL_STEP_WORK` units
/// per entry, a few tens of microseconds (docs/architecture.md, "Preemption points"); the
/// one-pass deletion took over a second in one entry for a quarter of this chain.
const ENTRY_BOUND_US: u64 = 1_000;

/// Runs of each measured operation: at least `MIN_RUNS`, then more until one run stays
/// under the bound, at most `MAX_RUNS`. The kernel does the same work in every run; only
/// the host's scheduling of QEMU differs (see `tests`).
const MIN_RUNS: u32 = 3;
const MAX_RUNS: u32 = 10;

fn timestamp() -> u64 {
    // SAFETY: rdtsc is allowed in user mode.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The longest system call since the previous reading, in TSC cycles (test kernels).
fn longest_entry() -> u64 {
    tileos_sys::raw_syscall(Syscall::DebugLongestEntry, 0, MessageInfo::default(), [0; 4]).words[0]
}

/// Frames the whole untyped holds (4 KiB each).
const FRAMES: u64 = 1 << (MEMORY_BITS - 12);

/// A free page of the suite's test area (under its page table) where frames are looked at.
const WINDOW: u64 = super::TEST_AREA + 0x8000;

/// Maps `frame` at [`WINDOW`], runs `look` on its 512 words, unmaps it; false if it did not
/// map or `look` said false.
fn with_frame(frame: u64, look: impl FnOnce(&mut [u64; 512]) -> bool) -> bool {
    if Frame::from_cptr(frame).invoke(FrameMap { vaddr: WINDOW, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }).is_err() {
        return false;
    }
    // SAFETY: the frame was just mapped writable at WINDOW, a page-aligned address.
    let result = look(unsafe { &mut *(WINDOW as *mut [u64; 512]) });
    let _ = Frame::from_cptr(frame).invoke(FrameUnmap {});
    result
}

/// Builds, in `untyped`, a chain of radix-1 CNodes each holding the only capability to the
/// next (in its slot 1), until the memory is used up; the only capability to the first is
/// left in root slot `head` (`spare`: an empty root slot it uses). Returns the number of
/// CNodes.
fn build_chain(untyped: u64, head: u64, spare: u64) -> u64 {
    let mut count = 0;
    // From the tail: each new CNode receives the capability to the previous one.
    loop {
        let dest = if count == 0 { head } else { spare };
        if Untyped::from_cptr(untyped)
            .invoke(UntypedRetype {
                object_type: ObjectType::CNode,
                size_bits: 1,
                node: Slot::new(0, 0),
                node_offset: dest,
                count: 1,
                root: CPtr(CNODE),
            })
            .is_err()
        {
            break;
        }
        if count > 0 {
            // Invoked CNode = the new one: its slot 1 (depth 1) ← root slot `head`.
            if let Err(error) =
                CNode::from_cptr(spare).invoke(CNodeMove { dest: Slot::new(1, 1), src: Slot::new(head, DEPTH), src_root: CPtr(CNODE) })
            {
                println!("ktest: chain move failed: {error:?}");
                break;
            }
            if let Err(error) = CNode::from_cptr(CNODE).invoke(CNodeMove {
                dest: Slot::new(head, DEPTH),
                src: Slot::new(spare, DEPTH),
                src_root: CPtr(CNODE),
            }) {
                println!("ktest: chain move failed: {error:?}");
                break;
            }
        }
        count += 1;
    }
    count
}

/// Runs `operation` (one invocation) and reports its total time and its longest kernel
/// entry in cycles.
fn measured(operation: impl FnOnce() -> bool) -> (bool, u64, u64) {
    longest_entry();
    let start = timestamp();
    let ok = operation();
    let total = timestamp() - start;
    (ok, total, longest_entry())
}

/// Runs the deletion checks with memory from `env`; `tsc_per_ms` converts cycles to time.
pub fn tests(env: &mut Env, tsc_per_ms: u64) {
    let us = |cycles: u64| cycles * 1000 / tsc_per_ms.max(1);
    let Some(untyped) = expect_ok("delete_test_untyped", env.try_make(ObjectType::Untyped, MEMORY_BITS)) else { return };
    // (No slot is given back: kernel-test mode has no heap for the recycled list.)
    let (head, spare) = (env.slots.take(), env.slots.take());

    // 0. Warm-up on a 4 KiB chain: the first run of the deletion code includes QEMU
    // translating it (TCG), which is no part of the kernel's own time.
    if let Ok(small) = env.try_make(ObjectType::Untyped, 12) {
        build_chain(small, head, spare);
        let (_, _, first) = measured(|| CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(head, DEPTH) }).is_ok());
        build_chain(small, head, spare);
        let (_, _, again) = measured(|| CNode::from_cptr(CNODE).invoke(CNodeRevoke { slot: Slot::new(small, DEPTH) }).is_ok());
        println!(
            "ktest figure: warm-up on a chain of 32 CNodes: longest entry {first} cycles ({} us) deleting, {again} cycles ({} us) revoking",
            us(first),
            us(again)
        );
    }

    // 1. The chain, deleted; several times, since a host that deschedules QEMU lengthens
    // whatever guest entry is running then (TCG guest time follows host time): the bound
    // applies to the best run, each run's figure is printed.
    let mut best = u64::MAX;
    for run in 1..=MAX_RUNS {
        if run > MIN_RUNS && us(best) < ENTRY_BOUND_US {
            break;
        }
        let count = build_chain(untyped, head, spare);
        check("delete_chain_built", count == 1 << (MEMORY_BITS - 7), format_args!("{count} CNodes"));
        let (ok, total, longest) = measured(|| CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(head, DEPTH) }).is_ok());
        println!(
            "ktest figure: delete of a chain of {count} radix-1 CNodes (run {run}): {total} cycles ({} us) in all, longest kernel entry {longest} cycles ({} us)",
            us(total),
            us(longest)
        );
        check("delete_chain_succeeds", ok, format_args!("CNodeDelete failed"));
        expect_error("delete_chain_leaves_slot_empty", invoke(head, Label::CNodeCopy, &[0, 0], &[]), InvocationError::FailedLookup);
        best = best.min(longest);
    }
    check("delete_chain_entries_are_short", us(best) < ENTRY_BOUND_US, format_args!("longest entry {} us in the best run", us(best)));
    // Everything is gone: the untyped has no children, so its whole memory can be retyped
    // again, as one CNode of 2^14 slots.
    let wide = env.slots.take();
    let (mut retyped, mut best) = (false, u64::MAX);
    for run in 1..=MAX_RUNS {
        if run > 1 {
            if us(best) < ENTRY_BOUND_US {
                break;
            }
            let _ = CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(wide, DEPTH) });
        }
        let (ok, total, longest) = measured(|| {
            Untyped::from_cptr(untyped)
                .invoke(UntypedRetype {
                    object_type: ObjectType::CNode,
                    size_bits: MEMORY_BITS - 6,
                    node: Slot::new(0, 0),
                    node_offset: wide,
                    count: 1,
                    root: CPtr(CNODE),
                })
                .is_ok()
        });
        println!(
            "ktest figure: retype of one CNode of {} slots (run {run}): {total} cycles ({} us), longest entry {longest} cycles ({} us)",
            1u64 << (MEMORY_BITS - 6),
            us(total),
            us(longest)
        );
        retyped = ok;
        best = best.min(longest);
    }
    check("delete_chain_frees_all_memory", retyped, format_args!("the whole untyped cannot be retyped again"));
    check(
        "retype_whole_memory_entries_are_short",
        us(best) < ENTRY_BOUND_US,
        format_args!("longest entry {} us in the best run", us(best)),
    );

    // 2. The widest CNode, deleted (every slot looked at).
    let (ok, total, longest) = measured(|| CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(wide, DEPTH) }).is_ok());
    println!(
        "ktest figure: delete of a CNode of {} slots: {total} cycles ({} us), longest entry {longest} cycles ({} us)",
        1u64 << (MEMORY_BITS - 6),
        us(total),
        us(longest)
    );
    check(
        "delete_wide_cnode_entries_are_short",
        ok && us(longest) < ENTRY_BOUND_US,
        format_args!("ok {ok}, longest entry {} us", us(longest)),
    );

    // 3. The chain again, revoked through the untyped it came from (best run, as above).
    let mut best = u64::MAX;
    for run in 1..=MAX_RUNS {
        if run > MIN_RUNS && us(best) < ENTRY_BOUND_US {
            break;
        }
        let count = build_chain(untyped, head, spare);
        let (ok, total, longest) = measured(|| CNode::from_cptr(CNODE).invoke(CNodeRevoke { slot: Slot::new(untyped, DEPTH) }).is_ok());
        println!(
            "ktest figure: revoke of the untyped holding a chain of {count} CNodes (run {run}): {total} cycles ({} us), longest entry {longest} cycles ({} us)",
            us(total),
            us(longest)
        );
        check("revoke_chain_succeeds", ok, format_args!("CNodeRevoke failed"));
        expect_error("revoke_chain_leaves_head_empty", invoke(head, Label::CNodeCopy, &[0, 0], &[]), InvocationError::FailedLookup);
        best = best.min(longest);
    }
    check("revoke_chain_entries_are_short", us(best) < ENTRY_BOUND_US, format_args!("longest entry {} us in the best run", us(best)));
    let again = Untyped::from_cptr(untyped).invoke(UntypedRetype {
        object_type: ObjectType::CNode,
        size_bits: MEMORY_BITS - 6,
        node: Slot::new(0, 0),
        node_offset: wide,
        count: 1,
        root: CPtr(CNODE),
    });
    expect_ok("revoke_chain_frees_all_memory", again);
    expect_ok("delete_wide_cnode_again", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(wide, DEPTH) }));

    // 4. The chain as a thread's CSpace root, holding its last capability: TcbConfigure
    // replacing that root deletes the chain first, in restarted steps too.
    let thread = env.make(ObjectType::Tcb, 0);
    let buffer = env.make(ObjectType::Frame4K, 0);
    let mut best = u64::MAX;
    for run in 1..=MAX_RUNS {
        if run > 1 && us(best) < ENTRY_BOUND_US {
            break;
        }
        let count = build_chain(untyped, head, spare);
        expect_ok(
            "tcb_configure_chain_root",
            Tcb::from_cptr(thread).invoke(TcbConfigure {
                fault_endpoint: 0,
                cspace_guard: 0,
                ipc_buffer: 0,
                cspace: CPtr(head),
                vspace: CPtr(VSPACE),
                buffer_frame: CPtr(buffer),
            }),
        );
        expect_ok("tcb_holds_last_chain_cap", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(head, DEPTH) }));
        let (ok, total, longest) = measured(|| {
            Tcb::from_cptr(thread)
                .invoke(TcbConfigure {
                    fault_endpoint: 0,
                    cspace_guard: 0,
                    ipc_buffer: 0,
                    cspace: CPtr(CNODE),
                    vspace: CPtr(VSPACE),
                    buffer_frame: CPtr(buffer),
                })
                .is_ok()
        });
        println!(
            "ktest figure: TcbConfigure replacing a CSpace root holding a chain of {count} CNodes (run {run}): {total} cycles ({} us), longest entry {longest} cycles ({} us)",
            us(total),
            us(longest)
        );
        check("tcb_configure_replaces_chain_root", ok, format_args!("TcbConfigure failed"));
        best = best.min(longest);
    }
    check(
        "tcb_configure_deletes_old_root_in_short_entries",
        us(best) < ENTRY_BOUND_US,
        format_args!("longest entry {} us in the best run", us(best)),
    );
    let reused = Untyped::from_cptr(untyped).invoke(UntypedRetype {
        object_type: ObjectType::CNode,
        size_bits: MEMORY_BITS - 6,
        node: Slot::new(0, 0),
        node_offset: wide,
        count: 1,
        root: CPtr(CNODE),
    });
    expect_ok("tcb_configure_frees_old_root_memory", reused);
    expect_ok("delete_test_thread", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(thread, DEPTH) }));
    expect_ok("delete_test_cleanup", CNode::from_cptr(CNODE).invoke(CNodeRevoke { slot: Slot::new(untyped, DEPTH) }));

    // 5. Retype prepares (clears) new objects' memory in bounded steps too: fill the whole
    // untyped with a pattern through 256 frames, free it, retype it as 256 frames again in
    // one call (restarted many times), and find the frames cleared.
    let frames = env.slots.take();
    for _ in 1..FRAMES {
        env.slots.take(); // consecutive slots: the bump allocator hands them out in order
    }
    let retype_frames = || {
        Untyped::from_cptr(untyped).invoke(UntypedRetype {
            object_type: ObjectType::Frame4K,
            size_bits: 0,
            node: Slot::new(0, 0),
            node_offset: frames,
            count: FRAMES,
            root: CPtr(CNODE),
        })
    };
    let mut ready = retype_frames().is_ok();
    let (mut best, mut dirty_frames) = (u64::MAX, 0);
    for run in 1..=MAX_RUNS {
        if !ready || (run > 1 && us(best) < ENTRY_BOUND_US) {
            break;
        }
        let filled = (0..FRAMES).all(|index| {
            with_frame(frames + index, |page| {
                page.fill(0xA5A5_A5A5_A5A5_A5A5);
                true
            })
        });
        check("retype_dirty_memory_filled", filled, format_args!("could not fill the untyped through its frames"));
        expect_ok("retype_dirty_memory_freed", CNode::from_cptr(CNODE).invoke(CNodeRevoke { slot: Slot::new(untyped, DEPTH) }));
        let (ok, total, longest) = measured(|| retype_frames().is_ok());
        println!(
            "ktest figure: retype of 1 MiB of dirty memory as {FRAMES} frames (run {run}): {total} cycles ({} us), longest entry {longest} cycles ({} us)",
            us(total),
            us(longest)
        );
        ready = ok;
        best = best.min(longest);
        dirty_frames += (0..FRAMES).filter(|&index| !with_frame(frames + index, |page| page.iter().all(|&word| word == 0))).count();
    }
    check("retype_dirty_frames_succeeds", ready, format_args!("the Retype of {FRAMES} frames failed"));
    check("retype_clears_in_short_entries", us(best) < ENTRY_BOUND_US, format_args!("longest entry {} us in the best run", us(best)));
    check("retype_restarted_clears_every_frame", dirty_frames == 0, format_args!("{dirty_frames} frames not cleared"));
    expect_ok("retype_test_cleanup", CNode::from_cptr(CNODE).invoke(CNodeRevoke { slot: Slot::new(untyped, DEPTH) }));
}
