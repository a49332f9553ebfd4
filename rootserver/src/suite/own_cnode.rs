//! A preempted revoke that destroys the CNode holding the revoked capability (issue 19), the
//! kernel against `Kernel.v` (`KernelTheorems.revoke_destroys_own_cnode`). In the model the
//! revoke is one step: every descendant goes, the CNode is collected, and the revoked
//! capability with it. The kernel revokes in entries of `cspace::KERNEL_STEP_WORK` units and
//! restarts the call, resolving its slot again through the invoked CNode each time. Two
//! orders: the CNode's capability deleted in the last entry (after the preemptions), and in
//! the first one (before them). Both must end as the model does.

use super::{CNODE, DEPTH, Env, check, expect_ok, slot_is_empty};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::{CNodeMove, CNodeRevoke, CPtr, Slot, UntypedRetype};
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

/// The holder CNode is retyped first (the last descendant in CDT order) and also holds the
/// endpoints: the revoke is preempted while deleting them, each restart resolves the slot
/// through the live CNode, and the CNode goes last.
fn destroyed_after_preemption(env: &mut Env) {
    let Some(untyped) = expect_ok("preempted_own_cnode_late_untyped", env.try_make(ObjectType::Untyped, 16)) else { return };
    let Some(holder) = cnode_from(env, untyped) else {
        return check("preempted_own_cnode_late_built", false, format_args!("the holder CNode was not retyped"));
    };
    let built = endpoints(untyped, holder, 1, ENDPOINTS) && move_in(untyped, holder);
    check("preempted_own_cnode_late_built", built, format_args!("endpoints or move refused"));
    if !built {
        return;
    }
    let revoked = CNode::from_cptr(holder).invoke(CNodeRevoke { slot: Slot::new(0, BIN_RADIX) });
    println!("suite: revoke through a CNode destroyed last: {revoked:?}");
    expect_ok("preempted_own_cnode_late_revoke_succeeds", revoked);
    check("preempted_own_cnode_late_cnode_gone", slot_is_empty(holder), format_args!("root slot {holder} still holds the CNode"));
    expect_ok("preempted_own_cnode_late_kernel_serves", env.try_make(ObjectType::Endpoint, 0));
}

/// The holder CNode is retyped last (the first descendant in CDT order), the endpoints live
/// in a CNode of their own: the revoke destroys the holder, with the revoked capability in
/// it, in its first entry, then is preempted while deleting the endpoints. `Kernel.v`: the
/// revoke succeeds and no endpoint is left.
fn destroyed_before_preemption(env: &mut Env) {
    let bin = env.make(ObjectType::CNode, BIN_RADIX);
    let Some(untyped) = expect_ok("preempted_own_cnode_early_untyped", env.try_make(ObjectType::Untyped, 16)) else { return };
    let built = endpoints(untyped, bin, 0, ENDPOINTS);
    let holder = if built { cnode_from(env, untyped) } else { None };
    let built = holder.is_some_and(|holder| move_in(untyped, holder));
    check("preempted_own_cnode_early_built", built, format_args!("endpoints, holder or move refused"));
    let (true, Some(holder)) = (built, holder) else { return };
    check("preempted_own_cnode_early_endpoints_made", occupied(bin, ENDPOINTS) == ENDPOINTS, format_args!("not every endpoint was made"));
    let revoked = CNode::from_cptr(holder).invoke(CNodeRevoke { slot: Slot::new(0, BIN_RADIX) });
    let left = occupied(bin, ENDPOINTS);
    println!("suite: revoke through a CNode destroyed first: {revoked:?}, {left} of {ENDPOINTS} endpoints left");
    expect_ok("preempted_own_cnode_early_revoke_succeeds", revoked);
    check("preempted_own_cnode_early_descendants_gone", left == 0, format_args!("{left} of {ENDPOINTS} endpoints left"));
    check("preempted_own_cnode_early_cnode_gone", slot_is_empty(holder), format_args!("root slot {holder} still holds the CNode"));
    expect_ok("preempted_own_cnode_early_kernel_serves", env.try_make(ObjectType::Endpoint, 0));
}
