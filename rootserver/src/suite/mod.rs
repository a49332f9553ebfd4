//! The in-guest kernel test suite (test images only): exercises every invocation of every
//! object type, success and error paths, IPC between threads and address spaces, faults,
//! and preemption. Each check prints `ktest <name> ... ok` or `ktest <name> ... FAILED:
//! <reason>`; the host runner turns each line into a cargo test result. The last line is
//! `ktest summary: <passed> passed, <failed> failed`, and the run ends with the verdict.

// The test environment is the root server's allocator (free slots, untyped memory).
use crate::alloc::Allocator as Env;
use core::sync::atomic::{AtomicU64, Ordering};
use tileos_abi::bootinfo::{BootInfo, slot};
use tileos_abi::error::{InvocationError, LookupFailure};
use tileos_abi::invocation::{
    CNodeCopy, CNodeDelete, CNodeMint, CNodeMove, CNodeMutate, CNodeRevoke, CNodeRotate, CNodeSaveCaller, CPtr, FrameGetAddress, FrameMap,
    FrameUnmap, IoPortControlIssue, IoPortIn8, IoPortIn32, IoPortOut8, IoPortOutBytes, IrqControlGet, IrqControlGetMsi, IrqHandlerAck,
    IrqHandlerClear, IrqHandlerMsiMessage, IrqHandlerSetNotification, PagingStructureMap, PagingStructureUnmap, PortBytes, Slot,
    UntypedRetype,
};
use tileos_abi::invocation::{Label, frame_attributes};
use tileos_abi::message::MessageInfo;
use tileos_abi::object::{ObjectType, Rights};
use tileos_abi::syscall::Syscall;
use tileos_abi::test_exit::GuestVerdict;
use tileos_sys::cap::{CNode, Frame, IoPort, IoPortControl, IrqControl, IrqHandler, PagingStructure, Untyped};
use tileos_sys::{Error, invoke, println};

static PASSED: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);

/// Records one check.
fn check(name: &str, ok: bool, detail: core::fmt::Arguments) {
    if ok {
        PASSED.fetch_add(1, Ordering::Relaxed);
        println!("ktest {name} ... ok");
    } else {
        FAILED.fetch_add(1, Ordering::Relaxed);
        println!("ktest {name} ... FAILED: {detail}");
    }
}

/// Checks that an invocation failed with `code`.
fn expect_error<T: core::fmt::Debug>(name: &str, result: Result<T, Error>, code: InvocationError) {
    let ok = matches!(&result, Err(e) if e.code == Some(code));
    check(name, ok, format_args!("expected {code:?}, got {result:?}"));
}

/// Checks that an invocation succeeded.
fn expect_ok<T: core::fmt::Debug>(name: &str, result: Result<T, Error>) -> Option<T> {
    let ok = result.is_ok();
    check(name, ok, format_args!("expected success, got {result:?}"));
    result.ok()
}

const CNODE: u64 = slot::CNODE;
const VSPACE: u64 = slot::VSPACE;
const DEPTH: u64 = 64;

/// Region of the root server's address space where the suite maps test pages.
pub(super) const TEST_AREA: u64 = 0x1000_0000;

/// Runs the suite and ends the QEMU run with its verdict; `untimed` leaves out the checks
/// that time kernel entries (`untimed` on the root server's command line), and `kpti` says
/// whether the kernel has the Meltdown mitigation (`no-kpti` on the command line: it has not).
pub fn run(info: &BootInfo, untimed: bool, kpti: bool) -> ! {
    // The largest RAM untyped serves the tests (the allocator starts with it).
    let mut env = Env::new(info);
    let index = (env.untyped - info.untyped.start) as usize;
    println!("ktest suite: start (untyped slot {}, {} KiB)", env.untyped, (1u64 << info.untyped_list[index].size_bits) / 1024);

    untyped_tests(&mut env, info);
    asids_run_out(&mut env);
    cnode_tests(&mut env);
    revoke_destroying_its_own_cnode(&mut env);
    own_cnode::tests(&mut env);
    let page_table = vspace_tests(&mut env);
    ipc::tests(&mut env, page_table, info.tsc_per_ms);
    transfer::tests(&mut env);
    mapping::tests(&mut env);
    boundary::tests(&mut env);
    meltdown::tests(&mut env, kpti);
    smp::tests(&mut env, info.tsc_per_ms);
    io_tests(&mut env);
    if untimed {
        // The GRUB boot test runs the suite beside other QEMUs; the kernel_suite test runs
        // these timing checks on their own.
        println!("ktest suite: the timed preemption checks are skipped (untimed)");
    } else {
        delete::tests(&mut env, info.tsc_per_ms);
    }

    let (passed, failed) = (PASSED.load(Ordering::Relaxed), FAILED.load(Ordering::Relaxed));
    println!("ktest summary: {passed} passed, {failed} failed");
    tileos_sys::debug_exit(if failed == 0 { GuestVerdict::Pass } else { GuestVerdict::Fail })
}

fn untyped_tests(env: &mut Env, info: &BootInfo) {
    let u = env.untyped;
    for (object, bits) in [
        (ObjectType::Endpoint, 0),
        (ObjectType::Notification, 0),
        (ObjectType::Tcb, 0),
        (ObjectType::CNode, 4),
        (ObjectType::Frame4K, 0),
        (ObjectType::Frame2M, 0),
        (ObjectType::PageTable, 0),
        (ObjectType::PageDirectory, 0),
        (ObjectType::Pdpt, 0),
        (ObjectType::Pml4, 0),
        (ObjectType::Untyped, 16),
    ] {
        let dest = env.slots.take();
        let node = Slot::new(0, 0);
        let retype = UntypedRetype { object_type: object, size_bits: bits, node, node_offset: dest, count: 1, root: CPtr(CNODE) };
        let result = Untyped::from_cptr(u).invoke(retype);
        expect_ok(&fmt_name("untyped_retype_", object), result);
    }
    let dest = env.slots.take();
    expect_error(
        "untyped_retype_rejects_unknown_type",
        invoke(u, Label::UntypedRetype, &[99, 0, 0, 0, dest, 1], &[CNODE]),
        InvocationError::InvalidArgument,
    );
    expect_error(
        "untyped_retype_rejects_cnode_radix_0",
        Untyped::from_cptr(u).invoke(UntypedRetype {
            object_type: ObjectType::CNode,
            size_bits: 0,
            node: Slot::new(0, 0),
            node_offset: dest,
            count: 1,
            root: CPtr(CNODE),
        }),
        InvocationError::RangeError,
    );
    expect_error(
        "untyped_retype_rejects_zero_count",
        Untyped::from_cptr(u).invoke(UntypedRetype {
            object_type: ObjectType::Endpoint,
            size_bits: 0,
            node: Slot::new(0, 0),
            node_offset: dest,
            count: 0,
            root: CPtr(CNODE),
        }),
        InvocationError::RangeError,
    );
    expect_error(
        "untyped_retype_rejects_occupied_slot",
        Untyped::from_cptr(u).invoke(UntypedRetype {
            object_type: ObjectType::Endpoint,
            size_bits: 0,
            node: Slot::new(0, 0),
            node_offset: slot::TCB,
            count: 1,
            root: CPtr(CNODE),
        }),
        InvocationError::DeleteFirst,
    );
    expect_error(
        "untyped_retype_rejects_slot_beyond_cnode",
        Untyped::from_cptr(u).invoke(UntypedRetype {
            object_type: ObjectType::Endpoint,
            size_bits: 0,
            node: Slot::new(0, 0),
            node_offset: 1 << tileos_abi::bootinfo::ROOT_CNODE_RADIX,
            count: 1,
            root: CPtr(CNODE),
        }),
        InvocationError::RangeError,
    );
    expect_error(
        "untyped_retype_rejects_non_cnode_root",
        Untyped::from_cptr(u).invoke(UntypedRetype {
            object_type: ObjectType::Endpoint,
            size_bits: 0,
            node: Slot::new(0, 0),
            node_offset: dest,
            count: 1,
            root: CPtr(slot::TCB),
        }),
        InvocationError::InvalidCapability,
    );
    expect_error(
        "untyped_retype_rejects_truncated_message",
        invoke(u, Label::UntypedRetype, &[ObjectType::Endpoint as u64], &[CNODE]),
        InvocationError::TruncatedMessage,
    );
    // A small untyped child: exhaust it.
    let small = env.make(ObjectType::Untyped, 12);
    let frame_dest = env.slots.take();
    expect_ok(
        "untyped_retype_fills_small_untyped",
        Untyped::from_cptr(small).invoke(UntypedRetype {
            object_type: ObjectType::Frame4K,
            size_bits: 0,
            node: Slot::new(0, 0),
            node_offset: frame_dest,
            count: 1,
            root: CPtr(CNODE),
        }),
    );
    let more = env.slots.take();
    expect_error(
        "untyped_retype_reports_exhaustion",
        Untyped::from_cptr(small).invoke(UntypedRetype {
            object_type: ObjectType::Endpoint,
            size_bits: 0,
            node: Slot::new(0, 0),
            node_offset: more,
            count: 1,
            root: CPtr(CNODE),
        }),
        InvocationError::NotEnoughMemory,
    );
    expect_error(
        "untyped_copy_refused",
        CNode::from_cptr(CNODE).invoke(CNodeCopy {
            dest: Slot::new(more, DEPTH),
            src: Slot::new(small, DEPTH),
            rights: Rights::ALL,
            src_root: CPtr(CNODE),
        }),
        InvocationError::IllegalOperation,
    );
    // Revoke frees the untyped for reuse: the frame goes, the untyped can be retyped again.
    expect_ok("cnode_revoke_untyped", CNode::from_cptr(CNODE).invoke(CNodeRevoke { slot: Slot::new(small, DEPTH) }));
    let gone = Frame::from_cptr(frame_dest).invoke(FrameGetAddress {});
    check(
        "revoked_objects_are_gone",
        matches!(gone, Err(Error { code: Some(InvocationError::FailedLookup), .. })),
        format_args!("{gone:?}"),
    );
    expect_ok(
        "untyped_reused_after_revoke",
        Untyped::from_cptr(small).invoke(UntypedRetype {
            object_type: ObjectType::Frame4K,
            size_bits: 0,
            node: Slot::new(0, 0),
            node_offset: frame_dest,
            count: 1,
            root: CPtr(CNODE),
        }),
    );
    // That the reused memory is cleared is checked once pages can be mapped
    // (`reused_frame_is_cleared`, in the frame tests).
    let device = (0..(info.untyped.end - info.untyped.start) as usize).find(|&i| info.untyped_list[i].is_device != 0);
    if let Some(index) = device {
        let device_untyped = info.untyped.start + index as u64;
        let dest = env.slots.take();
        expect_error(
            "device_untyped_refuses_kernel_objects",
            Untyped::from_cptr(device_untyped).invoke(UntypedRetype {
                object_type: ObjectType::Tcb,
                size_bits: 0,
                node: Slot::new(0, 0),
                node_offset: dest,
                count: 1,
                root: CPtr(CNODE),
            }),
            InvocationError::InvalidArgument,
        );
        expect_ok(
            "device_untyped_makes_frames",
            Untyped::from_cptr(device_untyped).invoke(UntypedRetype {
                object_type: ObjectType::Frame4K,
                size_bits: 0,
                node: Slot::new(0, 0),
                node_offset: dest,
                count: 1,
                root: CPtr(CNODE),
            }),
        );
    }
    let bad = Untyped::from_cptr(0xFFF).invoke(UntypedRetype {
        object_type: ObjectType::Endpoint,
        size_bits: 0,
        node: Slot::new(0, 0),
        node_offset: dest,
        count: 1,
        root: CPtr(CNODE),
    });
    check(
        "invoking_empty_slot_fails_lookup",
        matches!(bad, Err(Error { code: Some(InvocationError::FailedLookup), details: [1, d], .. }) if d == LookupFailure::MissingCapability as u64),
        format_args!("{bad:?}"),
    );
    expect_error("unknown_label_is_illegal", tileos_sys::invoke(u, Label::TcbSuspend, &[], &[]), InvocationError::IllegalOperation);
}

fn fmt_name(prefix: &'static str, object: ObjectType) -> heapless_name::Name {
    heapless_name::Name::new(prefix, object)
}

/// Fixed-size test names without an allocator.
mod heapless_name {
    use tileos_abi::object::ObjectType;

    /// A short formatted name.
    pub struct Name {
        bytes: [u8; 64],
        len: usize,
    }

    impl Name {
        /// `prefix` followed by the object type in snake case.
        pub fn new(prefix: &str, object: ObjectType) -> Name {
            let suffix = match object {
                ObjectType::Untyped => "untyped",
                ObjectType::Tcb => "tcb",
                ObjectType::Endpoint => "endpoint",
                ObjectType::Notification => "notification",
                ObjectType::CNode => "cnode",
                ObjectType::Frame4K => "frame_4k",
                ObjectType::Frame2M => "frame_2m",
                ObjectType::PageTable => "page_table",
                ObjectType::PageDirectory => "page_directory",
                ObjectType::Pdpt => "pdpt",
                ObjectType::Pml4 => "pml4",
            };
            let mut name = Name { bytes: [0; 64], len: 0 };
            for part in [prefix, suffix] {
                name.bytes[name.len..name.len + part.len()].copy_from_slice(part.as_bytes());
                name.len += part.len();
            }
            name
        }
    }

    impl core::ops::Deref for Name {
        type Target = str;
        fn deref(&self) -> &str {
            core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("?")
        }
    }
}

/// A revoke that destroys the CNode holding the revoked capability, the case the Coq model
/// computes (`KernelTheorems.revoke_destroys_own_cnode`): an untyped's only capability is moved
/// into a CNode retyped from it, then revoked through that CNode. The revoke succeeds, the CNode
/// (and with it the revoked capability) is gone, and the kernel keeps serving.
/// Retypes address spaces (PML4s, 4 KiB each) from a 16 MiB untyped of their own, 256 a call,
/// until the kernel's 4,095 ASIDs are taken: the call that finds none free fails with
/// `NotEnoughMemory` [0, 4095] (MR1 tells it from a lack of memory) and makes nothing; revoking
/// the untyped destroys them and gives the ASIDs back.
fn asids_run_out(env: &mut Env) {
    const ASIDS: u64 = 4095;
    let memory = env.make(ObjectType::Untyped, 24);
    let first = env.slots.next;
    env.slots.next += ASIDS + 1;
    let retype = |offset: u64, count: u64| {
        Untyped::from_cptr(memory).invoke(UntypedRetype {
            object_type: ObjectType::Pml4,
            size_bits: 0,
            node: Slot::new(0, 0),
            node_offset: offset,
            count,
            root: CPtr(CNODE),
        })
    };
    // Batches of 256, then one at a time once a batch is refused, until one is.
    let (mut made, mut batch, mut refused) = (0, 256, None);
    while made <= ASIDS && refused.is_none() {
        match retype(first + made, batch.min(ASIDS + 1 - made)) {
            Ok(_) => made += batch.min(ASIDS + 1 - made),
            Err(_) if batch > 1 => batch = 1,
            Err(error) => refused = Some(error),
        }
    }
    // The root server's own address space and the one untyped_tests made hold two.
    let ok = made == ASIDS - 2 && matches!(refused, Some(Error { code: Some(InvocationError::NotEnoughMemory), details: [0, ASIDS], .. }));
    check("untyped_retype_pml4_without_asid_is_refused_precisely", ok, format_args!("{made} made, then {refused:?}"));
    let empty = Frame::from_cptr(first + made).invoke(FrameGetAddress {});
    check(
        "untyped_retype_pml4_without_asid_makes_nothing",
        matches!(empty, Err(Error { code: Some(InvocationError::FailedLookup), .. })),
        format_args!("{empty:?}"),
    );
    expect_ok("cnode_revoke_address_spaces", CNode::from_cptr(CNODE).invoke(CNodeRevoke { slot: Slot::new(memory, DEPTH) }));
    expect_ok("untyped_retype_pml4_after_asids_given_back", retype(first, 1));
    expect_ok("cnode_revoke_address_space", CNode::from_cptr(CNODE).invoke(CNodeRevoke { slot: Slot::new(memory, DEPTH) }));
}

fn revoke_destroying_its_own_cnode(env: &mut Env) {
    let Some(untyped) = expect_ok("own_cnode_revoke_untyped", env.try_make(ObjectType::Untyped, 14)) else { return };
    let holder = env.slots.take();
    let made = Untyped::from_cptr(untyped).invoke(UntypedRetype {
        object_type: ObjectType::CNode,
        size_bits: 4,
        node: Slot::new(0, 0),
        node_offset: holder,
        count: 1,
        root: CPtr(CNODE),
    });
    if expect_ok("own_cnode_revoke_cnode_made", made).is_none() {
        return;
    }
    // Invoked CNode = the new one (radix 4, no guard): its slot 0 <- the untyped's capability.
    let moved = CNode::from_cptr(holder).invoke(CNodeMove { dest: Slot::new(0, 4), src: Slot::new(untyped, DEPTH), src_root: CPtr(CNODE) });
    if expect_ok("own_cnode_revoke_untyped_moved_in", moved).is_none() {
        return;
    }
    expect_ok("own_cnode_revoke_succeeds", CNode::from_cptr(holder).invoke(CNodeRevoke { slot: Slot::new(0, 4) }));
    check("own_cnode_revoke_cnode_gone", slot_is_empty(holder), format_args!("root slot {holder} still holds the CNode"));
    check("own_cnode_revoke_untyped_slot_empty", slot_is_empty(untyped), format_args!("root slot {untyped} refilled"));
    expect_ok("own_cnode_revoke_kernel_serves", env.try_make(ObjectType::Endpoint, 0));
}

fn cnode_tests(env: &mut Env) {
    let ep = env.make(ObjectType::Endpoint, 0);
    let copy = env.slots.take();
    expect_ok(
        "cnode_copy",
        CNode::from_cptr(CNODE).invoke(CNodeCopy {
            dest: Slot::new(copy, DEPTH),
            src: Slot::new(ep, DEPTH),
            rights: Rights::ALL,
            src_root: CPtr(CNODE),
        }),
    );
    expect_error(
        "cnode_copy_into_occupied_slot",
        CNode::from_cptr(CNODE).invoke(CNodeCopy {
            dest: Slot::new(copy, DEPTH),
            src: Slot::new(ep, DEPTH),
            rights: Rights::ALL,
            src_root: CPtr(CNODE),
        }),
        InvocationError::DeleteFirst,
    );
    let empty = env.slots.take();
    let missing = env.slots.take();
    expect_error(
        "cnode_copy_from_empty_slot",
        CNode::from_cptr(CNODE).invoke(CNodeCopy {
            dest: Slot::new(empty, DEPTH),
            src: Slot::new(missing, DEPTH),
            rights: Rights::ALL,
            src_root: CPtr(CNODE),
        }),
        InvocationError::FailedLookup,
    );
    expect_error(
        "cnode_copy_bad_depth",
        CNode::from_cptr(CNODE).invoke(CNodeCopy {
            dest: Slot::new(empty, 65),
            src: Slot::new(ep, DEPTH),
            rights: Rights::ALL,
            src_root: CPtr(CNODE),
        }),
        InvocationError::FailedLookup,
    );
    let minted = env.slots.take();
    expect_ok(
        "cnode_mint_badge_and_rights",
        CNode::from_cptr(CNODE).invoke(CNodeMint {
            dest: Slot::new(minted, DEPTH),
            src: Slot::new(ep, DEPTH),
            rights: Rights::WRITE,
            badge: 42,
            src_root: CPtr(CNODE),
        }),
    );
    let remint = env.slots.take();
    expect_error(
        "cnode_mint_cannot_rebadge",
        CNode::from_cptr(CNODE).invoke(CNodeMint {
            dest: Slot::new(remint, DEPTH),
            src: Slot::new(minted, DEPTH),
            rights: Rights::ALL,
            badge: 7,
            src_root: CPtr(CNODE),
        }),
        InvocationError::IllegalOperation,
    );
    expect_error(
        "cnode_copy_irq_control_refused",
        CNode::from_cptr(CNODE).invoke(CNodeCopy {
            dest: Slot::new(remint, DEPTH),
            src: Slot::new(slot::IRQ_CONTROL, DEPTH),
            rights: Rights::ALL,
            src_root: CPtr(CNODE),
        }),
        InvocationError::IllegalOperation,
    );
    // A write-only endpoint cap cannot receive: NBRecv on it faults, so check via Call of a
    // receive-only copy instead: a read-only cap cannot send.
    let read_only = env.slots.take();
    expect_ok(
        "cnode_mint_read_only",
        CNode::from_cptr(CNODE).invoke(CNodeMint {
            dest: Slot::new(read_only, DEPTH),
            src: Slot::new(ep, DEPTH),
            rights: Rights::READ,
            badge: 0,
            src_root: CPtr(CNODE),
        }),
    );
    let sent = tileos_sys::call(read_only, 0, &[], &[]);
    check(
        "endpoint_call_needs_write_right",
        sent.info.label() == InvocationError::InvalidCapability as u64,
        format_args!("label {}", sent.info.label()),
    );
    let moved = env.slots.take();
    expect_ok(
        "cnode_move",
        CNode::from_cptr(CNODE).invoke(CNodeMove { dest: Slot::new(moved, DEPTH), src: Slot::new(copy, DEPTH), src_root: CPtr(CNODE) }),
    );
    let after_move =
        CNode::from_cptr(CNODE).invoke(CNodeMove { dest: Slot::new(copy, DEPTH), src: Slot::new(copy, DEPTH), src_root: CPtr(CNODE) });
    check(
        "cnode_move_empties_source",
        matches!(after_move, Err(Error { code: Some(InvocationError::FailedLookup), .. })),
        format_args!("{after_move:?}"),
    );
    let mutated = env.slots.take();
    expect_error(
        "cnode_mutate_never_changes_badges",
        CNode::from_cptr(CNODE).invoke(CNodeMutate {
            dest: Slot::new(mutated, DEPTH),
            src: Slot::new(ep, DEPTH),
            data: 9,
            src_root: CPtr(CNODE),
        }),
        InvocationError::IllegalOperation,
    );
    expect_ok(
        "cnode_mutate_moves_without_badge_change",
        CNode::from_cptr(CNODE).invoke(CNodeMutate {
            dest: Slot::new(mutated, DEPTH),
            src: Slot::new(ep, DEPTH),
            data: 0,
            src_root: CPtr(CNODE),
        }),
    );
    let (a, b) = (env.slots.take(), env.slots.take());
    let ntfn = env.make(ObjectType::Notification, 0);
    expect_ok(
        "cnode_copy_for_rotate",
        CNode::from_cptr(CNODE).invoke(CNodeCopy {
            dest: Slot::new(a, DEPTH),
            src: Slot::new(ntfn, DEPTH),
            rights: Rights::ALL,
            src_root: CPtr(CNODE),
        }),
    );
    let dest = env.slots.take();
    expect_ok(
        "cnode_rotate",
        CNode::from_cptr(CNODE).invoke(CNodeRotate {
            dest: Slot::new(dest, DEPTH),
            pivot: Slot::new(a, DEPTH),
            src: Slot::new(moved, DEPTH),
        }),
    );
    let rotated = tileos_sys::call(dest, 0, &[], &[]);
    check(
        "cnode_rotate_moves_pivot_to_destination",
        rotated.info.label() == 0,
        format_args!("signal via rotated notification cap: label {}", rotated.info.label()),
    );
    expect_ok("cnode_delete", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(b, DEPTH) }));
    expect_ok("cnode_delete_empty_slot_is_fine", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(b, DEPTH) }));
    // Revoke of the original endpoint removes the badged and copied derivations (the
    // badged, the read-only, and the copy the rotation left in `a`) and keeps the original.
    expect_ok("cnode_revoke_endpoint", CNode::from_cptr(CNODE).invoke(CNodeRevoke { slot: Slot::new(mutated, DEPTH) }));
    let left = [minted, read_only, a].map(slot_is_empty);
    check("cnode_revoke_endpoint_removes_derived_copies", left == [true; 3], format_args!("badged, read-only, copy empty: {left:?}"));
    check("cnode_revoke_endpoint_keeps_original", !slot_is_empty(mutated), format_args!("the revoked original is gone"));
    expect_ok("cnode_save_caller_without_caller", CNode::from_cptr(CNODE).invoke(CNodeSaveCaller { dest: Slot::new(remint, DEPTH) }));
    // A copy of a CNode capability keeps its guard: the copy works as a root.
    let root_copy = env.slots.take();
    expect_ok(
        "cnode_copy_of_cnode",
        CNode::from_cptr(CNODE).invoke(CNodeCopy {
            dest: Slot::new(root_copy, DEPTH),
            src: Slot::new(CNODE, DEPTH),
            rights: Rights::ALL,
            src_root: CPtr(CNODE),
        }),
    );
    expect_ok("cnode_copy_keeps_guard", CNode::from_cptr(root_copy).invoke(CNodeDelete { slot: Slot::new(b, DEPTH) }));
    // Two-level CSpace: a CNode inside the root with a 4-bit guard.
    let inner = env.make(ObjectType::CNode, 4);
    let guarded = env.slots.take();
    expect_ok(
        "cnode_mint_guard",
        CNode::from_cptr(CNODE).invoke(CNodeMint {
            dest: Slot::new(guarded, DEPTH),
            src: Slot::new(inner, DEPTH),
            rights: Rights::ALL,
            badge: 4 | (0xA << 6),
            src_root: CPtr(CNODE),
        }),
    );
    // Address inner slot 3 through the guarded cap: guard 0xA (4 bits) + index 3 (4 bits).
    let inner_ptr = (0xA << 4) | 3;
    expect_ok(
        "cnode_copy_into_nested_cnode",
        CNode::from_cptr(guarded).invoke(CNodeCopy {
            dest: Slot::new(inner_ptr, 8),
            src: Slot::new(ntfn, DEPTH),
            rights: Rights::ALL,
            src_root: CPtr(CNODE),
        }),
    );
    let wrong_guard = (0xB << 4) | 3;
    let result = CNode::from_cptr(guarded).invoke(CNodeDelete { slot: Slot::new(wrong_guard, 8) });
    check(
        "cnode_guard_mismatch_reported",
        matches!(result, Err(Error { code: Some(InvocationError::FailedLookup), details: [0, d], .. }) if d == LookupFailure::GuardMismatch as u64),
        format_args!("{result:?}"),
    );
    // An I/O port range in the nested CNode shows whether its contents live: issuing an
    // overlapping range is refused while it does.
    let port = env.slots.take();
    let issue = |dest: u64| IoPortControl::ROOT.invoke(IoPortControlIssue { first: 0x80, last: 0x83, dest: Slot::new(dest, DEPTH) });
    expect_ok("cnode_nested_port_issued", issue(port));
    expect_ok(
        "cnode_move_into_nested_cnode",
        CNode::from_cptr(guarded).invoke(CNodeMove {
            dest: Slot::new((0xA << 4) | 5, 8),
            src: Slot::new(port, DEPTH),
            src_root: CPtr(CNODE),
        }),
    );
    expect_ok("cnode_delete_one_of_two_caps_of_full_cnode", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(inner, DEPTH) }));
    expect_error("cnode_delete_of_one_cap_keeps_contents", issue(port), InvocationError::RevokeFirst);
    expect_ok("cnode_delete_last_cap_of_full_cnode", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(guarded, DEPTH) }));
    expect_ok("cnode_delete_last_cap_destroys_contents", issue(port));
    expect_ok("cnode_nested_port_deleted", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(port, DEPTH) }));
}

/// Whether `slot` of the root CNode is empty: moving a capability onto itself finds no
/// source (FailedLookup) if it is, and an occupied destination (DeleteFirst) if not.
fn slot_is_empty(slot: u64) -> bool {
    let moved =
        CNode::from_cptr(CNODE).invoke(CNodeMove { dest: Slot::new(slot, DEPTH), src: Slot::new(slot, DEPTH), src_root: CPtr(CNODE) });
    matches!(moved, Err(Error { code: Some(InvocationError::FailedLookup), .. }))
}

/// Maps page tables for [`TEST_AREA`] and tests frames. Returns the page table's slot.
fn vspace_tests(env: &mut Env) -> u64 {
    let frame = env.make(ObjectType::Frame4K, 0);
    expect_error(
        "frame_map_without_page_table",
        Frame::from_cptr(frame).invoke(FrameMap { vaddr: TEST_AREA, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }),
        InvocationError::FailedLookup,
    );
    let pt = env.make(ObjectType::PageTable, 0);
    expect_ok("page_table_map", PagingStructure::from_cptr(pt).invoke(PagingStructureMap { vaddr: TEST_AREA, vspace: CPtr(VSPACE) }));
    let pt2 = env.make(ObjectType::PageTable, 0);
    expect_error(
        "page_table_map_over_existing",
        PagingStructure::from_cptr(pt2).invoke(PagingStructureMap { vaddr: TEST_AREA, vspace: CPtr(VSPACE) }),
        InvocationError::DeleteFirst,
    );
    expect_error(
        "page_table_map_needs_vspace",
        PagingStructure::from_cptr(pt2).invoke(PagingStructureMap { vaddr: TEST_AREA, vspace: CPtr(CNODE) }),
        InvocationError::InvalidCapability,
    );
    expect_error(
        "frame_map_unaligned",
        Frame::from_cptr(frame).invoke(FrameMap { vaddr: TEST_AREA + 8, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }),
        InvocationError::AlignmentError,
    );
    expect_error(
        "frame_map_kernel_half",
        Frame::from_cptr(frame).invoke(FrameMap { vaddr: 0xFFFF_8000_0000_0000, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }),
        InvocationError::InvalidArgument,
    );
    expect_error(
        "frame_map_without_read_right",
        Frame::from_cptr(frame).invoke(FrameMap { vaddr: TEST_AREA, rights: Rights::WRITE, attributes: 0, vspace: CPtr(VSPACE) }),
        InvocationError::InvalidArgument,
    );
    expect_ok(
        "frame_map",
        Frame::from_cptr(frame).invoke(FrameMap { vaddr: TEST_AREA, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }),
    );
    // SAFETY: mapped writable just above.
    let zero = unsafe { (TEST_AREA as *const u64).read_volatile() };
    check("retyped_frame_is_cleared", zero == 0, format_args!("first word {zero:#x}"));
    // SAFETY: as above.
    unsafe { (TEST_AREA as *mut u64).write_volatile(0x1234_5678) };
    let copy = env.slots.take();
    expect_ok(
        "frame_copy_for_shared_mapping",
        CNode::from_cptr(CNODE).invoke(CNodeCopy {
            dest: Slot::new(copy, DEPTH),
            src: Slot::new(frame, DEPTH),
            rights: Rights::READ,
            src_root: CPtr(CNODE),
        }),
    );
    expect_ok(
        "frame_map_read_only_second_mapping",
        Frame::from_cptr(copy).invoke(FrameMap { vaddr: TEST_AREA + 0x1000, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }),
    );
    // SAFETY: mapped read-only just above; it is the same frame.
    let shared = unsafe { ((TEST_AREA + 0x1000) as *const u64).read_volatile() };
    check("shared_frame_shows_same_data", shared == 0x1234_5678, format_args!("read {shared:#x}"));
    let other = env.make(ObjectType::Frame4K, 0);
    expect_error(
        "frame_map_over_mapped_page",
        Frame::from_cptr(other).invoke(FrameMap { vaddr: TEST_AREA, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }),
        InvocationError::DeleteFirst,
    );
    expect_error(
        "frame_map_elsewhere_while_mapped",
        Frame::from_cptr(frame).invoke(FrameMap { vaddr: TEST_AREA + 0x2000, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }),
        InvocationError::IllegalOperation,
    );
    expect_ok(
        "frame_remap_same_address",
        Frame::from_cptr(frame).invoke(FrameMap {
            vaddr: TEST_AREA,
            rights: Rights::ALL,
            attributes: frame_attributes::UNCACHED,
            vspace: CPtr(VSPACE),
        }),
    );
    let address = expect_ok("frame_get_address", Frame::from_cptr(frame).invoke(FrameGetAddress {}));
    check("frame_address_is_page_aligned", address.is_some_and(|r| r.words[0] % 4096 == 0 && r.words[0] != 0), format_args!("{address:?}"));
    expect_ok("frame_unmap", Frame::from_cptr(copy).invoke(FrameUnmap {}));
    expect_ok(
        "frame_map_after_unmap",
        Frame::from_cptr(other).invoke(FrameMap { vaddr: TEST_AREA + 0x1000, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }),
    );
    // SAFETY: `other` is mapped writable at TEST_AREA + 0x1000 just above.
    unsafe { ((TEST_AREA + 0x1000) as *mut u64).write_volatile(0x5EED) };
    expect_ok("frame_delete", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(other, DEPTH) }));
    // Deleting the frame removed its mapping: a fresh frame maps at the same address (else
    // DeleteFirst) and reads as its own, cleared memory, not the deleted frame's word.
    let fresh = env.make(ObjectType::Frame4K, 0);
    let remapped =
        Frame::from_cptr(fresh).invoke(FrameMap { vaddr: TEST_AREA + 0x1000, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) });
    let seen = remapped.map(|_| {
        // SAFETY: mapped writable just above.
        unsafe { ((TEST_AREA + 0x1000) as *const u64).read_volatile() }
    });
    check("frame_delete_unmaps", seen == Ok(0), format_args!("mapping a fresh frame at the deleted frame's address: {seen:x?}"));
    expect_ok("frame_delete_unmaps_cleanup", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(fresh, DEPTH) }));
    reused_frame_is_cleared(env);
    let frame2m = env.make(ObjectType::Frame2M, 0);
    expect_error(
        "frame_2m_map_unaligned",
        Frame::from_cptr(frame2m).invoke(FrameMap {
            vaddr: 0x2010_0000 + 0x1000,
            rights: Rights::ALL,
            attributes: 0,
            vspace: CPtr(VSPACE),
        }),
        InvocationError::AlignmentError,
    );
    let pd_area = 0x2000_0000;
    expect_ok(
        "frame_2m_map",
        Frame::from_cptr(frame2m).invoke(FrameMap { vaddr: pd_area, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) }),
    );
    // SAFETY: the 2 MiB frame is mapped writable.
    unsafe { ((pd_area + 0x1F_FFF8) as *mut u64).write_volatile(7) };
    expect_ok("frame_2m_unmap", Frame::from_cptr(frame2m).invoke(FrameUnmap {}));
    expect_ok("page_table_unmap", PagingStructure::from_cptr(pt2).invoke(PagingStructureUnmap {}));
    expect_error(
        "pml4_has_no_methods",
        Frame::from_cptr(VSPACE).invoke(FrameMap { vaddr: 0, rights: Rights::from_word(0), attributes: 0, vspace: CPtr(VSPACE) }),
        InvocationError::IllegalOperation,
    );
    pt
}

/// A frame made again from memory a deleted frame held reads as zeros: the frame is filled
/// with a pattern, deleted, its untyped revoked and retyped, and the new frame (at the same
/// physical address, checked) is read whole.
fn reused_frame_is_cleared(env: &mut Env) {
    const AREA: u64 = TEST_AREA + 0x4000;
    let small = env.make(ObjectType::Untyped, 12);
    let frame = env.slots.take();
    let retype = || {
        Untyped::from_cptr(small).invoke(UntypedRetype {
            object_type: ObjectType::Frame4K,
            size_bits: 0,
            node: Slot::new(0, 0),
            node_offset: frame,
            count: 1,
            root: CPtr(CNODE),
        })
    };
    let map_and_address = || {
        Frame::from_cptr(frame)
            .invoke(FrameMap { vaddr: AREA, rights: Rights::ALL, attributes: 0, vspace: CPtr(VSPACE) })
            .and(Frame::from_cptr(frame).invoke(FrameGetAddress {}))
            .map(|reply| reply.words[0])
    };
    let words = || (0..512).map(|index| (AREA as *mut u64).wrapping_add(index));
    let first = retype().and_then(|_| map_and_address());
    if first.is_ok() {
        // SAFETY: the frame is mapped writable at AREA (4 KiB).
        words().for_each(|word| unsafe { word.write_volatile(0xA5A5_A5A5_A5A5_A5A5) });
    }
    let deleted = CNode::from_cptr(CNODE)
        .invoke(CNodeDelete { slot: Slot::new(frame, DEPTH) })
        .and(CNode::from_cptr(CNODE).invoke(CNodeRevoke { slot: Slot::new(small, DEPTH) }));
    let second = deleted.and_then(|_| retype()).and_then(|_| map_and_address());
    let same = matches!((first, second), (Ok(a), Ok(b)) if a == b);
    check("reused_frame_same_memory", same, format_args!("first frame {first:x?}, second {second:x?}"));
    // SAFETY: the second frame is mapped at AREA when `same`.
    let dirty = if same { words().filter(|&word| unsafe { word.read_volatile() } != 0).count() } else { 512 };
    check("reused_frame_is_cleared", same && dirty == 0, format_args!("{dirty} of 512 words of the reused frame not zero"));
    expect_ok("reused_frame_delete", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(frame, DEPTH) }));
}

/// `IoPortOutBytes` on the range 0x80–0x83 (`port`), and on the CMOS ports 0x70–0x71, whose
/// NVRAM byte 0x40 (unused by firmware and kernel) keeps the last byte written: so the bytes
/// are seen to reach the port, in order.
fn io_port_out_bytes_tests(env: &mut Env, port: u64) {
    let range = IoPort::from_cptr(port);
    expect_ok("io_port_out_bytes", range.invoke(IoPortOutBytes { port: 0x83, bytes: PortBytes::new(b"sixteen bytes ok") }));
    expect_error(
        "io_port_out_bytes_out_of_range",
        range.invoke(IoPortOutBytes { port: 0x84, bytes: PortBytes::new(b"x") }),
        InvocationError::RangeError,
    );
    expect_error(
        "io_port_out_bytes_none_refused",
        range.invoke(IoPortOutBytes { port: 0x80, bytes: PortBytes::new(b"") }),
        InvocationError::RangeError,
    );
    let too_many = invoke(port, Label::IoPortOutBytes, &[0x80, 17, u64::MAX, u64::MAX, u64::MAX], &[]);
    check(
        "io_port_out_bytes_count_17_refused",
        matches!(&too_many, Err(e) if e.code == Some(InvocationError::RangeError) && e.details == [1, 16]),
        format_args!("expected RangeError [1, 16], got {too_many:?}"),
    );
    expect_error(
        "io_port_out_bytes_missing_word_refused",
        invoke(port, Label::IoPortOutBytes, &[0x80, 9, 0x4141], &[]),
        InvocationError::TruncatedMessage,
    );
    let cmos = env.slots.take();
    expect_ok(
        "io_port_issue_cmos",
        IoPortControl::ROOT.invoke(IoPortControlIssue { first: 0x70, last: 0x71, dest: Slot::new(cmos, DEPTH) }),
    );
    let cmos_port = IoPort::from_cptr(cmos);
    let _ = cmos_port.out8(0x70, 0x40);
    let _ = cmos_port.out8(0x71, 0);
    expect_ok("io_port_out_bytes_cmos", cmos_port.invoke(IoPortOutBytes { port: 0x71, bytes: PortBytes::new(&[0x11, 0x22, 0x33, 0x5A]) }));
    let last = cmos_port.in8(0x71);
    check("io_port_out_bytes_reach_the_port_in_order", last == Ok(0x5A), format_args!("CMOS byte 0x40 reads {last:?}, expected Ok(0x5A)"));
    expect_ok("io_port_cmos_delete", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(cmos, DEPTH) }));
}

/// DebugWrite: a count in 1–32 is written and answered, 0 or above 32 writes nothing and
/// answers 0 (every line of this suite is printed with it, too).
fn debug_write_tests() {
    let write = |count: u64, words: [u64; 4]| tileos_sys::raw_syscall(Syscall::DebugWrite, count, MessageInfo::default(), words).badge;
    // "\n" and 31 bytes past the count that must not appear.
    let newline = write(1, [u64::from(b'\n') | 0x4141_4141_4141_4100, u64::MAX, u64::MAX, u64::MAX]);
    check("debug_write_one_byte", newline == 1, format_args!("answered {newline}, expected 1"));
    let text: &[u8; 32] = b"debug write: 32 bytes, one call\n";
    let mut words = [0; 4];
    for (word, eight) in words.iter_mut().zip(text.chunks(8)) {
        *word = u64::from_le_bytes([eight[0], eight[1], eight[2], eight[3], eight[4], eight[5], eight[6], eight[7]]);
    }
    let full = write(32, words);
    check("debug_write_32_bytes", full == 32, format_args!("answered {full}, expected 32"));
    for (name, count) in
        [("debug_write_count_0_refused", 0), ("debug_write_count_33_refused", 33), ("debug_write_count_huge_refused", u64::MAX)]
    {
        let answer = write(count, [u64::from_le_bytes(*b"FAILED!\n"); 4]);
        check(name, answer == 0, format_args!("count {count} answered {answer}, expected 0"));
    }
}

fn io_tests(env: &mut Env) {
    let port = env.slots.take();
    expect_ok("io_port_issue", IoPortControl::ROOT.invoke(IoPortControlIssue { first: 0x80, last: 0x83, dest: Slot::new(port, DEPTH) }));
    let again = env.slots.take();
    expect_error(
        "io_port_issue_overlap_refused",
        IoPortControl::ROOT.invoke(IoPortControlIssue { first: 0x82, last: 0x90, dest: Slot::new(again, DEPTH) }),
        InvocationError::RevokeFirst,
    );
    expect_error(
        "io_port_issue_kernel_port_refused",
        IoPortControl::ROOT.invoke(IoPortControlIssue { first: 0xF4, last: 0xF4, dest: Slot::new(again, DEPTH) }),
        InvocationError::InvalidArgument,
    );
    expect_ok("io_port_out8", IoPort::from_cptr(port).invoke(IoPortOut8 { port: 0x80, value: 0x42 }));
    expect_error(
        "io_port_number_overflow_refused",
        IoPort::from_cptr(port).invoke(IoPortIn32 { port: u64::MAX - 1 }),
        InvocationError::RangeError,
    );
    expect_ok("io_port_in8", IoPort::from_cptr(port).invoke(IoPortIn8 { port: 0x80 }));
    expect_error("io_port_out_of_range", IoPort::from_cptr(port).invoke(IoPortOut8 { port: 0x84, value: 0 }), InvocationError::RangeError);
    expect_error(
        "io_port_wide_access_crossing_range",
        IoPort::from_cptr(port).invoke(IoPortIn32 { port: 0x82 }),
        InvocationError::RangeError,
    );
    io_port_out_bytes_tests(env, port);
    debug_write_tests();
    expect_ok("io_port_delete_releases_range", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(port, DEPTH) }));
    expect_ok(
        "io_port_reissue_after_delete",
        IoPortControl::ROOT.invoke(IoPortControlIssue { first: 0x82, last: 0x90, dest: Slot::new(again, DEPTH) }),
    );
    let irq = env.slots.take();
    expect_ok(
        "irq_control_get",
        IrqControl::ROOT.invoke(IrqControlGet { pin: 5, level_triggered: false, active_low: false, dest: Slot::new(irq, DEPTH) }),
    );
    let irq2 = env.slots.take();
    expect_error(
        "irq_control_get_twice_refused",
        IrqControl::ROOT.invoke(IrqControlGet { pin: 5, level_triggered: false, active_low: false, dest: Slot::new(irq2, DEPTH) }),
        InvocationError::RevokeFirst,
    );
    expect_error(
        "irq_control_pin_out_of_range",
        IrqControl::ROOT.invoke(IrqControlGet { pin: 24, level_triggered: false, active_low: false, dest: Slot::new(irq2, DEPTH) }),
        InvocationError::RangeError,
    );
    let ntfn = env.make(ObjectType::Notification, 0);
    expect_ok("irq_handler_set_notification", IrqHandler::from_cptr(irq).invoke(IrqHandlerSetNotification { notification: CPtr(ntfn) }));
    expect_error(
        "irq_handler_set_notification_wrong_type",
        IrqHandler::from_cptr(irq).invoke(IrqHandlerSetNotification { notification: CPtr(CNODE) }),
        InvocationError::InvalidCapability,
    );
    expect_ok("irq_handler_ack", IrqHandler::from_cptr(irq).invoke(IrqHandlerAck {}));
    expect_ok("irq_handler_clear", IrqHandler::from_cptr(irq).invoke(IrqHandlerClear {}));
    expect_ok("irq_handler_delete_releases_pin", CNode::from_cptr(CNODE).invoke(CNodeRevoke { slot: Slot::new(slot::IRQ_CONTROL, DEPTH) }));
    expect_ok(
        "irq_control_get_after_revoke",
        IrqControl::ROOT.invoke(IrqControlGet { pin: 5, level_triggered: true, active_low: true, dest: Slot::new(irq2, DEPTH) }),
    );
    expect_error(
        "irq_handler_msi_message_on_pin_refused",
        IrqHandler::from_cptr(irq2).invoke(IrqHandlerMsiMessage {}),
        InvocationError::IllegalOperation,
    );
    let msi = env.slots.take();
    expect_ok("irq_control_get_msi", IrqControl::ROOT.invoke(IrqControlGetMsi { msi: 3, dest: Slot::new(msi, DEPTH) }));
    let message = IrqHandler::from_cptr(msi).invoke(IrqHandlerMsiMessage {});
    let fields = message.as_ref().map(|reply| (reply.info.length(), reply.words[0], reply.words[1]));
    // Slot 3 is vector 33 (IOAPIC pin 0) + 24 pins + 3 = 60, delivered to the LAPIC.
    check("irq_handler_msi_message", fields == Ok((2, 0xFEE0_0000, 60)), format_args!("expected (2, 0xfee00000, 60), got {fields:x?}"));
    let msi2 = env.slots.take();
    expect_error(
        "irq_control_get_msi_twice_refused",
        IrqControl::ROOT.invoke(IrqControlGetMsi { msi: 3, dest: Slot::new(msi2, DEPTH) }),
        InvocationError::RevokeFirst,
    );
    expect_error(
        "irq_control_msi_slot_out_of_range",
        IrqControl::ROOT.invoke(IrqControlGetMsi { msi: 16, dest: Slot::new(msi2, DEPTH) }),
        InvocationError::RangeError,
    );
    expect_ok(
        "irq_handler_msi_set_notification",
        IrqHandler::from_cptr(msi).invoke(IrqHandlerSetNotification { notification: CPtr(ntfn) }),
    );
    expect_ok("irq_handler_msi_ack", IrqHandler::from_cptr(msi).invoke(IrqHandlerAck {}));
    expect_ok("irq_handler_msi_delete_releases_slot", CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(msi, DEPTH) }));
    expect_ok("irq_control_get_msi_after_delete", IrqControl::ROOT.invoke(IrqControlGetMsi { msi: 3, dest: Slot::new(msi2, DEPTH) }));
}

mod boundary;
mod delete;
mod donation;
mod ipc;
mod mapping;
mod meltdown;
mod own_cnode;
mod save_recv;
mod smp;
mod transfer;
