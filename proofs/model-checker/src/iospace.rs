//! IOSpace capabilities in the model: `IoSpaceControlIssue` decoded as the kernel does
//! (`kernel/src/invoke/iospace.rs`), and [`Universe::iospace`], whose exploration runs
//! issue, copy, mint, move, delete and revoke of IOSpace control and IOSpace capabilities
//! through the kernel's derivation rules ([`tileos_kernel::cap`]: IOSpace control cannot be
//! copied; an IOSpace is its child but not revocable, as in seL4, so that two IOSpaces of
//! one function, issued or copied, are siblings) with every invariant checked after every
//! step. A first version made issued IOSpaces revocable: this exploration found at depth 3
//! that a second issue for the same function then adopted the first as its child. The IOSpace's page
//! tables are not modelled here (host tests `kernel/src/iospace/tests.rs`).

use crate::op::{Invocation, Op, Rejection};
use crate::universe::Universe;
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::IoSpaceControlIssue;
use tileos_kernel::cap::{self, Cap, IO_DEVICES};
use tileos_kernel::cspace::SlotRef;

/// Decodes an IoSpaceControlIssue on `invoked` (the kernel's decoder has checked that it is
/// IOSpace control): the requester ID in range, the destination empty (`empty`), then the
/// IOSpace inserted as a child of the control capability.
pub fn decode_issue(
    op: &Op,
    invoked: Cap,
    issue: IoSpaceControlIssue,
    empty: impl Fn(SlotRef) -> Result<(), Rejection>,
) -> Result<Invocation, Rejection> {
    let Op::IssueIoSpace { control, .. } = *op else {
        return Err(Rejection { error: InvocationError::IllegalOperation, reason: "issue through another operation" });
    };
    let dest = SlotRef(issue.dest.index);
    if issue.device >= u64::from(IO_DEVICES) {
        return Err(Rejection { error: InvocationError::RangeError, reason: "requester ID beyond bus 7" });
    }
    empty(dest)?;
    let space = Cap::IoSpace { device: issue.device as u16 };
    Ok(Invocation::Insert { src: control, dest, cap: space, revocable: cap::is_revocable(&space, &invoked) })
}

impl Universe {
    /// [`Universe::small`] without retypes, with IOSpace control in `A3` and issue
    /// operations for two PCI functions (00:04.0 and one beyond bus 7, which the kernel
    /// refuses).
    pub fn iospace() -> Universe {
        let mut universe = Universe::small();
        universe.retypes.clear();
        universe.initial.push((universe.cnodes[0].slot(3), Cap::IoSpaceControl));
        universe.io_devices = vec![0x20, IO_DEVICES];
        universe
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, TraceError, explore, run_trace};

    #[test]
    fn issued_iospaces_are_children_of_control_and_go_with_its_revoke() {
        // Without the endpoint, so that A1 is free for a copy.
        let mut universe = Universe::iospace();
        universe.initial.retain(|(_, cap)| !matches!(cap, Cap::Endpoint { .. }));
        let (a, b) = (universe.cnodes[0], universe.cnodes[1]);
        let issue = Op::IssueIoSpace { control: a.slot(3), device: 0, dest: b.slot(0) };
        let copy = Op::Copy { src: b.slot(0), dest: a.slot(1) };
        let memory = run_trace(&universe, &[issue, copy]).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(memory.cap(a.slot(1)), Cap::IoSpace { device: 0x20 });
        let revoked = run_trace(&universe, &[issue, copy, Op::Revoke { slot: a.slot(3) }]).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((revoked.cap(b.slot(0)), revoked.cap(a.slot(1))), (Cap::Null, Cap::Null), "revoking control removes every IOSpace");
        assert_eq!(revoked.cap(a.slot(3)), Cap::IoSpaceControl);
    }

    #[test]
    fn control_cannot_be_copied_and_far_buses_are_refused() {
        let universe = Universe::iospace();
        let (a, b) = (universe.cnodes[0], universe.cnodes[1]);
        let refused = |trace: &[Op]| match run_trace(&universe, trace) {
            Err(TraceError::Rejected { rejection, .. }) => rejection.error,
            other => panic!("not refused: {other:?}"),
        };
        assert_eq!(refused(&[Op::Copy { src: a.slot(3), dest: b.slot(0) }]), InvocationError::IllegalOperation);
        assert_eq!(refused(&[Op::IssueIoSpace { control: a.slot(3), device: 1, dest: b.slot(0) }]), InvocationError::RangeError);
        assert_eq!(refused(&[Op::IssueIoSpace { control: a.slot(1), device: 0, dest: b.slot(0) }]), InvocationError::IllegalOperation);
    }

    /// Every sequence of three operations over the IOSpace universe keeps every invariant.
    #[test]
    fn every_short_sequence_keeps_the_invariants() {
        let report = explore(&Universe::iospace(), Config { depth: 3, keep_going: false }, &mut |_| {});
        assert!(report.violations.is_empty(), "{}", report.violations[0].report(&Universe::iospace()));
        assert!(report.stats.states > 100, "explored {} states", report.stats.states);
    }
}
