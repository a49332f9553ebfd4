//! A preempted revoke that destroys the CNode holding the revoked capability (issue 19), the
//! kernel against `Kernel.v` (`KernelTheorems.revoke_destroys_own_cnode`). In the model the
//! revoke is one step: every descendant goes, the CNode is collected, and the revoked
//! capability with it. The kernel revokes in entries of `cspace::KERNEL_STEP_WORK` units and
//! restarts the call, resolving its slot again through the invoked CNode each time: once the
//! revoke has turned that CNode's capability into a zombie and run out of work, the restarted
//! call meets the zombie and answers `DeletionInProgress`; the revoke stops there. These
//! checks record that divergence (docs/model-checker.md, "The refinement link"): the revoke
//! answers `DeletionInProgress`, the descendants not yet deleted survive it, and a delete of
//! the zombie finishes the CNode's destruction. Two orders: the CNode's capability met last
//! (after the endpoints) and first (before them).

use super::{CNODE, DEPTH, Env, check, expect_error, expect_ok, slot_is_empty};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::{CNodeDelete, CNodeMove, CNodeRevoke, CPtr, Slot, UntypedRetype};
use tileos_abi::object::ObjectType;
use tileos_sys::cap::{CNode, Untyped};
use tileos_sys::println;

/// Endpoints retyped from the revoked untyped: more than one kernel entry's units of work.
const ENDPOINTS: u64 = 150;

/// Radix of the CNodes the endpoints are placed in.
const BIN_RADIX: u64 = 8;

/// Runs both orders.
pub fn tests(env: &mut Env) {
    destroyed_after_preemption(env);
    destroyed_before_preemption(env);
}

/// How many of the first `count` slots of the CNode at root slot `cnode` (radix
/// [`BIN_RADIX`], no guard) hold a capability: a move onto itself fails lookup on an empty
/// slot and is refused otherwise.
fn occupied(cnode: u64, count: u64) -> u64 {
    (0..count)
        .filter(|&index| {
            let at = Slot::new(index, BIN_RADIX);
            let moved = CNode::from_cptr(cnode).invoke(CNodeMove { dest: at, src: at, src_root: CPtr(cnode) });
            !matches!(moved, Err(e) if e.code == Some(InvocationError::FailedLookup))
        })
        .count() as u64
}

/// Retypes `count` endpoints from `untyped` into slots `offset..` of the CNode at root slot
/// `cnode`.
fn endpoints(untyped: u64, cnode: u64, offset: u64, count: u64) -> bool {
    let made = Untyped::from_cptr(untyped).invoke(UntypedRetype {
        object_type: ObjectType::Endpoint,
        size_bits: 0,
        node: Slot::new(cnode, DEPTH),
        node_offset: offset,
        count,
        root: CPtr(CNODE),
    });
    made.is_ok()
}

/// Retypes a CNode of radix [`BIN_RADIX`] from `untyped` into the new root slot it returns.
fn cnode_from(env: &mut Env, untyped: u64) -> Option<u64> {
    let holder = env.slots.take();
    let made = Untyped::from_cptr(untyped).invoke(UntypedRetype {
        object_type: ObjectType::CNode,
        size_bits: BIN_RADIX,
        node: Slot::new(0, 0),
        node_offset: holder,
        count: 1,
        root: CPtr(CNODE),
    });
    made.is_ok().then_some(holder)
}

/// Moves the untyped capability at root slot `untyped` into slot 0 of `holder`.
fn move_in(untyped: u64, holder: u64) -> bool {
    CNode::from_cptr(holder)
        .invoke(CNodeMove { dest: Slot::new(0, BIN_RADIX), src: Slot::new(untyped, DEPTH), src_root: CPtr(CNODE) })
        .is_ok()
}

/// The names of one order's checks.
struct Names {
    revoke_stops: &'static str,
    zombie_left: &'static str,
    delete_finishes: &'static str,
    cnode_gone: &'static str,
    kernel_serves: &'static str,
}

/// The revoke of `holder`'s slot 0 stops with `DeletionInProgress`, the holder's root slot
/// keeps the zombie until a delete of it finishes the destruction, and the kernel keeps
/// serving.
fn revoke_then_finish(env: &mut Env, names: &Names, holder: u64) {
    let revoked = CNode::from_cptr(holder).invoke(CNodeRevoke { slot: Slot::new(0, BIN_RADIX) });
    println!("suite: {}: {revoked:?}", names.revoke_stops);
    expect_error(names.revoke_stops, revoked, InvocationError::DeletionInProgress);
    check(names.zombie_left, !slot_is_empty(holder), format_args!("root slot {holder} is empty already"));
    expect_ok(names.delete_finishes, CNode::from_cptr(CNODE).invoke(CNodeDelete { slot: Slot::new(holder, DEPTH) }));
    check(names.cnode_gone, slot_is_empty(holder), format_args!("root slot {holder} still holds the CNode"));
    expect_ok(names.kernel_serves, env.try_make(ObjectType::Endpoint, 0));
}

/// The holder CNode is retyped first (the last descendant in CDT order) and also holds the
/// endpoints: the revoke is preempted while deleting them, each restart resolves the slot
/// through the live CNode, and the CNode's capability is met last; its destruction (256
/// slots) outlasts the entry, and the restart meets the zombie. `Kernel.v`: the revoke
/// succeeds and the CNode is gone with the revoked capability.
fn destroyed_after_preemption(env: &mut Env) {
    let Some(untyped) = expect_ok("preempted_own_cnode_late_untyped", env.try_make(ObjectType::Untyped, 16)) else { return };
    let Some(holder) = cnode_from(env, untyped) else {
        return check("preempted_own_cnode_late_built", false, format_args!("the holder CNode was not retyped"));
    };
    let built = endpoints(untyped, holder, 1, ENDPOINTS) && move_in(untyped, holder);
    check("preempted_own_cnode_late_built", built, format_args!("endpoints or move refused"));
    if built {
        let names = Names {
            revoke_stops: "preempted_own_cnode_late_revoke_stops_in_progress",
            zombie_left: "preempted_own_cnode_late_zombie_left",
            delete_finishes: "preempted_own_cnode_late_delete_finishes",
            cnode_gone: "preempted_own_cnode_late_cnode_gone",
            kernel_serves: "preempted_own_cnode_late_kernel_serves",
        };
        revoke_then_finish(env, &names, holder);
    }
}

/// The holder CNode is retyped last (the first descendant in CDT order), the endpoints live
/// in a CNode of their own: the revoke starts destroying the holder (256 slots, more than
/// one entry's work) before any endpoint, is preempted, and the restart meets the zombie, so
/// no endpoint is deleted. `Kernel.v`: the revoke succeeds and no endpoint is left.
fn destroyed_before_preemption(env: &mut Env) {
    let bin = env.make(ObjectType::CNode, BIN_RADIX);
    let Some(untyped) = expect_ok("preempted_own_cnode_early_untyped", env.try_make(ObjectType::Untyped, 16)) else { return };
    let built = endpoints(untyped, bin, 0, ENDPOINTS);
    let holder = if built { cnode_from(env, untyped) } else { None };
    let built = holder.is_some_and(|holder| move_in(untyped, holder));
    check("preempted_own_cnode_early_built", built, format_args!("endpoints, holder or move refused"));
    let (true, Some(holder)) = (built, holder) else { return };
    check("preempted_own_cnode_early_endpoints_made", occupied(bin, ENDPOINTS) == ENDPOINTS, format_args!("not every endpoint was made"));
    let names = Names {
        revoke_stops: "preempted_own_cnode_early_revoke_stops_in_progress",
        zombie_left: "preempted_own_cnode_early_zombie_left",
        delete_finishes: "preempted_own_cnode_early_delete_finishes",
        cnode_gone: "preempted_own_cnode_early_cnode_gone",
        kernel_serves: "preempted_own_cnode_early_kernel_serves",
    };
    revoke_then_finish(env, &names, holder);
    // Kernel.v deletes every descendant; here none was reached before the restart stopped.
    let left = occupied(bin, ENDPOINTS);
    println!("suite: early: {left} of {ENDPOINTS} endpoints survive the stopped revoke");
    check("preempted_own_cnode_early_descendants_survive", left == ENDPOINTS, format_args!("{left} of {ENDPOINTS} endpoints left"));
}
