//! The hostile probe's expectation table (issue 19): for every invocation label on every
//! slot of the hostile domain's CSpace, the error the kernel must answer to an empty
//! message, or that the pair is not probed.
//!
//! The hostile domain (`userland/domains/src/bin/hostile.rs`) invokes every label on every
//! slot and compares each answer with [`expected`]; each difference is an event naming the
//! label and the slot, which fails the tile test. The table is host-tested here, against the
//! kernel's own decoder among others.
#![no_std]

use tileos_abi::bootinfo::domain;
use tileos_abi::bootinfo::domain_info::{CapEntry, CapKind};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::{Label, Object, TABLE};

/// What a slot of the hostile domain's CSpace holds, as far as the probe needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// Nothing.
    Empty,
    /// A kernel object whose methods are those of `Object` (`None`: a PML4, which has none).
    Object(Option<Object>),
    /// An endpoint or notification: a Call on it is IPC (or a signal), not an invocation.
    Ipc,
}

/// What slot `slot` holds: the domain's own TCB, CNode and VSpace in their fixed slots, the
/// capabilities `granted` (its information page's list) where they say, nothing elsewhere.
/// A granted capability of an unknown kind byte counts as IPC (not probed).
pub fn held(granted: &[CapEntry], slot: u64) -> Held {
    match slot {
        domain::TCB => Held::Object(Some(Object::Tcb)),
        domain::CNODE => Held::Object(Some(Object::CNode)),
        domain::VSPACE => Held::Object(None),
        _ => match granted.iter().find(|cap| cap.slot == slot) {
            None => Held::Empty,
            Some(cap) => match CapKind::from_byte(cap.kind) {
                Some(CapKind::IrqHandler) => Held::Object(Some(Object::IrqHandler)),
                Some(CapKind::IoPort) => Held::Object(Some(Object::IoPort)),
                _ => Held::Ipc,
            },
        },
    }
}

/// The error an empty-message invocation of `label` on what a slot holds must answer, or
/// `None` where it is not probed: IPC capabilities, and methods without arguments of its
/// own objects (they would act: suspend itself, say).
pub fn expected(held: Held, label: Label) -> Option<InvocationError> {
    match held {
        Held::Empty => Some(InvocationError::FailedLookup),
        Held::Ipc => None,
        Held::Object(object) if object != Some(label.object()) => Some(InvocationError::IllegalOperation),
        Held::Object(_) => match TABLE.iter().find(|entry| entry.label == label) {
            Some(entry) if entry.args.is_empty() => None,
            _ => Some(InvocationError::TruncatedMessage),
        },
    }
}

/// The counts of a probe of every label on every slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Invocations made and compared with the table.
    pub checked: u64,
    /// Pairs the table says not to probe.
    pub skipped: u64,
    /// Invocations whose answer differed from the table.
    pub mismatched: u64,
}

/// Probes every label on every slot below `slots`: `invoke(slot, label)` answers the
/// invocation's error code (`None`: it succeeded, or failed without a code), and `mismatch`
/// is told every (slot, label, expected, answered) that differs from the table.
pub fn probe(
    granted: &[CapEntry],
    slots: u64,
    mut invoke: impl FnMut(u64, Label) -> Option<InvocationError>,
    mut mismatch: impl FnMut(u64, Label, InvocationError, Option<InvocationError>),
) -> Tally {
    let mut tally = Tally::default();
    for slot in 0..slots {
        let held = held(granted, slot);
        for &label in Label::ALL {
            let Some(error) = expected(held, label) else {
                tally.skipped += 1;
                continue;
            };
            tally.checked += 1;
            let answer = invoke(slot, label);
            if answer != Some(error) {
                tally.mismatched += 1;
                mismatch(slot, label, error, answer);
            }
        }
    }
    tally
}

#[cfg(test)]
mod tests;
