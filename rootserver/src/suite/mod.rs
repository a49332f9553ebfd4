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
use tileos_abi::invocation::{Label, frame_attributes};
use tileos_abi::object::{ObjectType, Rights};
use tileos_abi::test_exit::GuestVerdict;
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
/// that time kernel entries (`untimed` on the root server's command line).
pub fn run(info: &BootInfo, untimed: bool) -> ! {
    // The largest RAM untyped serves the tests (the allocator starts with it).
    let mut env = Env::new(info);
    let index = (env.untyped - info.untyped.start) as usize;
    println!("ktest suite: start (untyped slot {}, {} KiB)", env.untyped, (1u64 << info.untyped_list[index].size_bits) / 1024);

    untyped_tests(&mut env, info);
    cnode_tests(&mut env);
    let page_table = vspace_tests(&mut env);
    ipc::tests(&mut env, page_table, info.tsc_per_ms);
    transfer::tests(&mut env);
    mapping::tests(&mut env);
    boundary::tests(&mut env);
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
        let result = invoke(u, Label::UntypedRetype, &[object as u64, bits, 0, 0, dest, 1], &[CNODE]);
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
        invoke(u, Label::UntypedRetype, &[ObjectType::CNode as u64, 0, 0, 0, dest, 1], &[CNODE]),
        InvocationError::RangeError,
    );
    expect_error(
        "untyped_retype_rejects_zero_count",
        invoke(u, Label::UntypedRetype, &[ObjectType::Endpoint as u64, 0, 0, 0, dest, 0], &[CNODE]),
        InvocationError::RangeError,
    );
    expect_error(
        "untyped_retype_rejects_occupied_slot",
        invoke(u, Label::UntypedRetype, &[ObjectType::Endpoint as u64, 0, 0, 0, slot::TCB, 1], &[CNODE]),
        InvocationError::DeleteFirst,
    );
    expect_error(
        "untyped_retype_rejects_slot_beyond_cnode",
        invoke(u, Label::UntypedRetype, &[ObjectType::Endpoint as u64, 0, 0, 0, 1 << 12, 1], &[CNODE]),
        InvocationError::RangeError,
    );
    expect_error(
        "untyped_retype_rejects_non_cnode_root",
        invoke(u, Label::UntypedRetype, &[ObjectType::Endpoint as u64, 0, 0, 0, dest, 1], &[slot::TCB]),
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
        invoke(small, Label::UntypedRetype, &[ObjectType::Frame4K as u64, 0, 0, 0, frame_dest, 1], &[CNODE]),
    );
    let more = env.slots.take();
    expect_error(
        "untyped_retype_reports_exhaustion",
        invoke(small, Label::UntypedRetype, &[ObjectType::Endpoint as u64, 0, 0, 0, more, 1], &[CNODE]),
        InvocationError::NotEnoughMemory,
    );
    expect_error(
        "untyped_copy_refused",
        invoke(CNODE, Label::CNodeCopy, &[more, DEPTH, small, DEPTH, Rights::ALL.0 as u64], &[CNODE]),
        InvocationError::IllegalOperation,
    );
    // Revoke frees the untyped for reuse: the frame goes, the untyped can be retyped again.
    expect_ok("cnode_revoke_untyped", invoke(CNODE, Label::CNodeRevoke, &[small, DEPTH], &[]));
    let gone = invoke(frame_dest, Label::FrameGetAddress, &[], &[]);
    check(
        "revoked_objects_are_gone",
        matches!(gone, Err(Error { code: Some(InvocationError::FailedLookup), .. })),
        format_args!("{gone:?}"),
    );
    expect_ok(
        "untyped_reused_after_revoke",
        invoke(small, Label::UntypedRetype, &[ObjectType::Frame4K as u64, 0, 0, 0, frame_dest, 1], &[CNODE]),
    );
    // Retyped memory is cleared: map the reused frame and read it.
    let device = (0..(info.untyped.end - info.untyped.start) as usize).find(|&i| info.untyped_list[i].is_device != 0);
    if let Some(index) = device {
        let device_untyped = info.untyped.start + index as u64;
        let dest = env.slots.take();
        expect_error(
            "device_untyped_refuses_kernel_objects",
            invoke(device_untyped, Label::UntypedRetype, &[ObjectType::Tcb as u64, 0, 0, 0, dest, 1], &[CNODE]),
            InvocationError::InvalidArgument,
        );
        expect_ok(
            "device_untyped_makes_frames",
            invoke(device_untyped, Label::UntypedRetype, &[ObjectType::Frame4K as u64, 0, 0, 0, dest, 1], &[CNODE]),
        );
    }
    let bad = invoke(0xFFF, Label::UntypedRetype, &[ObjectType::Endpoint as u64, 0, 0, 0, dest, 1], &[CNODE]);
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

fn cnode_tests(env: &mut Env) {
    let ep = env.make(ObjectType::Endpoint, 0);
    let copy = env.slots.take();
    expect_ok("cnode_copy", invoke(CNODE, Label::CNodeCopy, &[copy, DEPTH, ep, DEPTH, Rights::ALL.0 as u64], &[CNODE]));
    expect_error(
        "cnode_copy_into_occupied_slot",
        invoke(CNODE, Label::CNodeCopy, &[copy, DEPTH, ep, DEPTH, Rights::ALL.0 as u64], &[CNODE]),
        InvocationError::DeleteFirst,
    );
    let empty = env.slots.take();
    let missing = env.slots.take();
    expect_error(
        "cnode_copy_from_empty_slot",
        invoke(CNODE, Label::CNodeCopy, &[empty, DEPTH, missing, DEPTH, Rights::ALL.0 as u64], &[CNODE]),
        InvocationError::FailedLookup,
    );
    expect_error(
        "cnode_copy_bad_depth",
        invoke(CNODE, Label::CNodeCopy, &[empty, 65, ep, DEPTH, Rights::ALL.0 as u64], &[CNODE]),
        InvocationError::FailedLookup,
    );
    let minted = env.slots.take();
    expect_ok(
        "cnode_mint_badge_and_rights",
        invoke(CNODE, Label::CNodeMint, &[minted, DEPTH, ep, DEPTH, Rights::WRITE.0 as u64, 42], &[CNODE]),
    );
    let remint = env.slots.take();
    expect_error(
        "cnode_mint_cannot_rebadge",
        invoke(CNODE, Label::CNodeMint, &[remint, DEPTH, minted, DEPTH, Rights::ALL.0 as u64, 7], &[CNODE]),
        InvocationError::IllegalOperation,
    );
    expect_error(
        "cnode_copy_irq_control_refused",
        invoke(CNODE, Label::CNodeCopy, &[remint, DEPTH, slot::IRQ_CONTROL, DEPTH, Rights::ALL.0 as u64], &[CNODE]),
        InvocationError::IllegalOperation,
    );
    // A write-only endpoint cap cannot receive: NBRecv on it faults, so check via Call of a
    // receive-only copy instead: a read-only cap cannot send.
    let read_only = env.slots.take();
    expect_ok("cnode_mint_read_only", invoke(CNODE, Label::CNodeMint, &[read_only, DEPTH, ep, DEPTH, Rights::READ.0 as u64, 0], &[CNODE]));
    let sent = tileos_sys::call(read_only, 0, &[], &[]);
    check(
        "endpoint_call_needs_write_right",
        sent.info.label() == InvocationError::InvalidCapability as u64,
        format_args!("label {}", sent.info.label()),
    );
    let moved = env.slots.take();
    expect_ok("cnode_move", invoke(CNODE, Label::CNodeMove, &[moved, DEPTH, copy, DEPTH], &[CNODE]));
    let after_move = invoke(CNODE, Label::CNodeMove, &[copy, DEPTH, copy, DEPTH], &[CNODE]);
    check(
        "cnode_move_empties_source",
        matches!(after_move, Err(Error { code: Some(InvocationError::FailedLookup), .. })),
        format_args!("{after_move:?}"),
    );
    let mutated = env.slots.take();
    expect_error(
        "cnode_mutate_never_changes_badges",
        invoke(CNODE, Label::CNodeMutate, &[mutated, DEPTH, ep, DEPTH, 9], &[CNODE]),
        InvocationError::IllegalOperation,
    );
    expect_ok("cnode_mutate_moves_without_badge_change", invoke(CNODE, Label::CNodeMutate, &[mutated, DEPTH, ep, DEPTH, 0], &[CNODE]));
    let (a, b) = (env.slots.take(), env.slots.take());
    let ntfn = env.make(ObjectType::Notification, 0);
    expect_ok("cnode_copy_for_rotate", invoke(CNODE, Label::CNodeCopy, &[a, DEPTH, ntfn, DEPTH, Rights::ALL.0 as u64], &[CNODE]));
    let dest = env.slots.take();
    expect_ok("cnode_rotate", invoke(CNODE, Label::CNodeRotate, &[dest, DEPTH, a, DEPTH, moved, DEPTH], &[]));
    let rotated = tileos_sys::call(dest, 0, &[], &[]);
    check(
        "cnode_rotate_moves_pivot_to_destination",
        rotated.info.label() == 0,
        format_args!("signal via rotated notification cap: label {}", rotated.info.label()),
    );
    expect_ok("cnode_delete", invoke(CNODE, Label::CNodeDelete, &[b, DEPTH], &[]));
    expect_ok("cnode_delete_empty_slot_is_fine", invoke(CNODE, Label::CNodeDelete, &[b, DEPTH], &[]));
    // Revoke of the original endpoint removes the badged and copied derivations.
    expect_ok("cnode_revoke_endpoint", invoke(CNODE, Label::CNodeRevoke, &[mutated, DEPTH], &[]));
    expect_ok("cnode_save_caller_without_caller", invoke(CNODE, Label::CNodeSaveCaller, &[remint, DEPTH], &[]));
    // A copy of a CNode capability keeps its guard: the copy works as a root.
    let root_copy = env.slots.take();
    expect_ok("cnode_copy_of_cnode", invoke(CNODE, Label::CNodeCopy, &[root_copy, DEPTH, CNODE, DEPTH, Rights::ALL.0 as u64], &[CNODE]));
    expect_ok("cnode_copy_keeps_guard", invoke(root_copy, Label::CNodeDelete, &[b, DEPTH], &[]));
    // Two-level CSpace: a CNode inside the root with a 4-bit guard.
    let inner = env.make(ObjectType::CNode, 4);
    let guarded = env.slots.take();
    expect_ok(
        "cnode_mint_guard",
        invoke(CNODE, Label::CNodeMint, &[guarded, DEPTH, inner, DEPTH, Rights::ALL.0 as u64, 4 | (0xA << 6)], &[CNODE]),
    );
    // Address inner slot 3 through the guarded cap: guard 0xA (4 bits) + index 3 (4 bits).
    let inner_ptr = (0xA << 4) | 3;
    expect_ok(
        "cnode_copy_into_nested_cnode",
        invoke(guarded, Label::CNodeCopy, &[inner_ptr, 8, ntfn, DEPTH, Rights::ALL.0 as u64], &[CNODE]),
    );
    let wrong_guard = (0xB << 4) | 3;
    let result = invoke(guarded, Label::CNodeDelete, &[wrong_guard, 8], &[]);
    check(
        "cnode_guard_mismatch_reported",
        matches!(result, Err(Error { code: Some(InvocationError::FailedLookup), details: [0, d], .. }) if d == LookupFailure::GuardMismatch as u64),
        format_args!("{result:?}"),
    );
    expect_ok("cnode_delete_last_cap_of_full_cnode", invoke(CNODE, Label::CNodeDelete, &[inner, DEPTH], &[]));
    expect_ok("cnode_delete_guarded_copy_destroys_contents", invoke(CNODE, Label::CNodeDelete, &[guarded, DEPTH], &[]));
}

/// Maps page tables for [`TEST_AREA`] and tests frames. Returns the page table's slot.
fn vspace_tests(env: &mut Env) -> u64 {
    let frame = env.make(ObjectType::Frame4K, 0);
    expect_error(
        "frame_map_without_page_table",
        invoke(frame, Label::FrameMap, &[TEST_AREA, Rights::ALL.0 as u64, 0], &[VSPACE]),
        InvocationError::FailedLookup,
    );
    let pt = env.make(ObjectType::PageTable, 0);
    expect_ok("page_table_map", invoke(pt, Label::PagingStructureMap, &[TEST_AREA], &[VSPACE]));
    let pt2 = env.make(ObjectType::PageTable, 0);
    expect_error(
        "page_table_map_over_existing",
        invoke(pt2, Label::PagingStructureMap, &[TEST_AREA], &[VSPACE]),
        InvocationError::DeleteFirst,
    );
    expect_error(
        "page_table_map_needs_vspace",
        invoke(pt2, Label::PagingStructureMap, &[TEST_AREA], &[CNODE]),
        InvocationError::InvalidCapability,
    );
    expect_error(
        "frame_map_unaligned",
        invoke(frame, Label::FrameMap, &[TEST_AREA + 8, Rights::ALL.0 as u64, 0], &[VSPACE]),
        InvocationError::AlignmentError,
    );
    expect_error(
        "frame_map_kernel_half",
        invoke(frame, Label::FrameMap, &[0xFFFF_8000_0000_0000, Rights::ALL.0 as u64, 0], &[VSPACE]),
        InvocationError::InvalidArgument,
    );
    expect_error(
        "frame_map_without_read_right",
        invoke(frame, Label::FrameMap, &[TEST_AREA, Rights::WRITE.0 as u64, 0], &[VSPACE]),
        InvocationError::InvalidArgument,
    );
    expect_ok("frame_map", invoke(frame, Label::FrameMap, &[TEST_AREA, Rights::ALL.0 as u64, 0], &[VSPACE]));
    // SAFETY: mapped writable just above.
    let zero = unsafe { (TEST_AREA as *const u64).read_volatile() };
    check("retyped_frame_is_cleared", zero == 0, format_args!("first word {zero:#x}"));
    // SAFETY: as above.
    unsafe { (TEST_AREA as *mut u64).write_volatile(0x1234_5678) };
    let copy = env.slots.take();
    expect_ok(
        "frame_copy_for_shared_mapping",
        invoke(CNODE, Label::CNodeCopy, &[copy, DEPTH, frame, DEPTH, Rights::READ.0 as u64], &[CNODE]),
    );
    expect_ok(
        "frame_map_read_only_second_mapping",
        invoke(copy, Label::FrameMap, &[TEST_AREA + 0x1000, Rights::ALL.0 as u64, 0], &[VSPACE]),
    );
    // SAFETY: mapped read-only just above; it is the same frame.
    let shared = unsafe { ((TEST_AREA + 0x1000) as *const u64).read_volatile() };
    check("shared_frame_shows_same_data", shared == 0x1234_5678, format_args!("read {shared:#x}"));
    let other = env.make(ObjectType::Frame4K, 0);
    expect_error(
        "frame_map_over_mapped_page",
        invoke(other, Label::FrameMap, &[TEST_AREA, Rights::ALL.0 as u64, 0], &[VSPACE]),
        InvocationError::DeleteFirst,
    );
    expect_error(
        "frame_map_elsewhere_while_mapped",
        invoke(frame, Label::FrameMap, &[TEST_AREA + 0x2000, Rights::ALL.0 as u64, 0], &[VSPACE]),
        InvocationError::IllegalOperation,
    );
    expect_ok(
        "frame_remap_same_address",
        invoke(frame, Label::FrameMap, &[TEST_AREA, Rights::ALL.0 as u64, frame_attributes::UNCACHED], &[VSPACE]),
    );
    let address = expect_ok("frame_get_address", invoke(frame, Label::FrameGetAddress, &[], &[]));
    check("frame_address_is_page_aligned", address.is_some_and(|r| r.words[0] % 4096 == 0 && r.words[0] != 0), format_args!("{address:?}"));
    expect_ok("frame_unmap", invoke(copy, Label::FrameUnmap, &[], &[]));
    expect_ok("frame_map_after_unmap", invoke(other, Label::FrameMap, &[TEST_AREA + 0x1000, Rights::ALL.0 as u64, 0], &[VSPACE]));
    expect_ok("frame_delete_unmaps", invoke(CNODE, Label::CNodeDelete, &[other, DEPTH], &[]));
    let frame2m = env.make(ObjectType::Frame2M, 0);
    expect_error(
        "frame_2m_map_unaligned",
        invoke(frame2m, Label::FrameMap, &[0x2010_0000 + 0x1000, Rights::ALL.0 as u64, 0], &[VSPACE]),
        InvocationError::AlignmentError,
    );
    let pd_area = 0x2000_0000;
    expect_ok("frame_2m_map", invoke(frame2m, Label::FrameMap, &[pd_area, Rights::ALL.0 as u64, 0], &[VSPACE]));
    // SAFETY: the 2 MiB frame is mapped writable.
    unsafe { ((pd_area + 0x1F_FFF8) as *mut u64).write_volatile(7) };
    expect_ok("frame_2m_unmap", invoke(frame2m, Label::FrameUnmap, &[], &[]));
    expect_ok("page_table_unmap", invoke(pt2, Label::PagingStructureUnmap, &[], &[]));
    expect_error("pml4_has_no_methods", invoke(VSPACE, Label::FrameMap, &[0, 0, 0], &[VSPACE]), InvocationError::IllegalOperation);
    pt
}

fn io_tests(env: &mut Env) {
    let port = env.slots.take();
    expect_ok("io_port_issue", invoke(slot::IO_PORT_CONTROL, Label::IoPortControlIssue, &[0x80, 0x83, port, DEPTH], &[]));
    let again = env.slots.take();
    expect_error(
        "io_port_issue_overlap_refused",
        invoke(slot::IO_PORT_CONTROL, Label::IoPortControlIssue, &[0x82, 0x90, again, DEPTH], &[]),
        InvocationError::RevokeFirst,
    );
    expect_error(
        "io_port_issue_kernel_port_refused",
        invoke(slot::IO_PORT_CONTROL, Label::IoPortControlIssue, &[0xF4, 0xF4, again, DEPTH], &[]),
        InvocationError::InvalidArgument,
    );
    expect_ok("io_port_out8", invoke(port, Label::IoPortOut8, &[0x80, 0x42], &[]));
    expect_error("io_port_number_overflow_refused", invoke(port, Label::IoPortIn32, &[u64::MAX - 1], &[]), InvocationError::RangeError);
    expect_ok("io_port_in8", invoke(port, Label::IoPortIn8, &[0x80], &[]));
    expect_error("io_port_out_of_range", invoke(port, Label::IoPortOut8, &[0x84, 0], &[]), InvocationError::RangeError);
    expect_error("io_port_wide_access_crossing_range", invoke(port, Label::IoPortIn32, &[0x82], &[]), InvocationError::RangeError);
    expect_ok("io_port_delete_releases_range", invoke(CNODE, Label::CNodeDelete, &[port, DEPTH], &[]));
    expect_ok("io_port_reissue_after_delete", invoke(slot::IO_PORT_CONTROL, Label::IoPortControlIssue, &[0x82, 0x90, again, DEPTH], &[]));
    let irq = env.slots.take();
    expect_ok("irq_control_get", invoke(slot::IRQ_CONTROL, Label::IrqControlGet, &[5, 0, 0, irq, DEPTH], &[]));
    let irq2 = env.slots.take();
    expect_error(
        "irq_control_get_twice_refused",
        invoke(slot::IRQ_CONTROL, Label::IrqControlGet, &[5, 0, 0, irq2, DEPTH], &[]),
        InvocationError::RevokeFirst,
    );
    expect_error(
        "irq_control_pin_out_of_range",
        invoke(slot::IRQ_CONTROL, Label::IrqControlGet, &[24, 0, 0, irq2, DEPTH], &[]),
        InvocationError::RangeError,
    );
    let ntfn = env.make(ObjectType::Notification, 0);
    expect_ok("irq_handler_set_notification", invoke(irq, Label::IrqHandlerSetNotification, &[], &[ntfn]));
    expect_error(
        "irq_handler_set_notification_wrong_type",
        invoke(irq, Label::IrqHandlerSetNotification, &[], &[CNODE]),
        InvocationError::InvalidCapability,
    );
    expect_ok("irq_handler_ack", invoke(irq, Label::IrqHandlerAck, &[], &[]));
    expect_ok("irq_handler_clear", invoke(irq, Label::IrqHandlerClear, &[], &[]));
    expect_ok("irq_handler_delete_releases_pin", invoke(CNODE, Label::CNodeRevoke, &[slot::IRQ_CONTROL, DEPTH], &[]));
    expect_ok("irq_control_get_after_revoke", invoke(slot::IRQ_CONTROL, Label::IrqControlGet, &[5, 1, 1, irq2, DEPTH], &[]));
    expect_error(
        "irq_handler_msi_message_on_pin_refused",
        invoke(irq2, Label::IrqHandlerMsiMessage, &[], &[]),
        InvocationError::IllegalOperation,
    );
    let msi = env.slots.take();
    expect_ok("irq_control_get_msi", invoke(slot::IRQ_CONTROL, Label::IrqControlGetMsi, &[3, msi, DEPTH], &[]));
    let message = invoke(msi, Label::IrqHandlerMsiMessage, &[], &[]);
    let fields = message.as_ref().map(|reply| (reply.info.length(), reply.words[0], reply.words[1]));
    // Slot 3 is vector 33 (IOAPIC pin 0) + 24 pins + 3 = 60, delivered to the LAPIC.
    check("irq_handler_msi_message", fields == Ok((2, 0xFEE0_0000, 60)), format_args!("expected (2, 0xfee00000, 60), got {fields:x?}"));
    let msi2 = env.slots.take();
    expect_error(
        "irq_control_get_msi_twice_refused",
        invoke(slot::IRQ_CONTROL, Label::IrqControlGetMsi, &[3, msi2, DEPTH], &[]),
        InvocationError::RevokeFirst,
    );
    expect_error(
        "irq_control_msi_slot_out_of_range",
        invoke(slot::IRQ_CONTROL, Label::IrqControlGetMsi, &[16, msi2, DEPTH], &[]),
        InvocationError::RangeError,
    );
    expect_ok("irq_handler_msi_set_notification", invoke(msi, Label::IrqHandlerSetNotification, &[], &[ntfn]));
    expect_ok("irq_handler_msi_ack", invoke(msi, Label::IrqHandlerAck, &[], &[]));
    expect_ok("irq_handler_msi_delete_releases_slot", invoke(CNODE, Label::CNodeDelete, &[msi, DEPTH], &[]));
    expect_ok("irq_control_get_msi_after_delete", invoke(slot::IRQ_CONTROL, Label::IrqControlGetMsi, &[3, msi2, DEPTH], &[]));
}

mod boundary;
mod delete;
mod ipc;
mod mapping;
mod transfer;
