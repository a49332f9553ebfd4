use super::*;
use tileos_abi::bootinfo::domain_info::CapEntry;
use tileos_kernel::cap::Cap;
use tileos_kernel::decode::{Message, decode};

fn entry(kind: CapKind, slot: u64) -> CapEntry {
    CapEntry { kind: kind as u8, name: [0; 31], slot }
}

/// The isolation tile's hostile domain: log, supervisor and echo endpoints, the "spinning"
/// notification.
fn isolation_grants() -> [CapEntry; 4] {
    [
        entry(CapKind::ClientEndpoint, 8),
        entry(CapKind::ClientEndpoint, 9),
        entry(CapKind::ClientEndpoint, 10),
        entry(CapKind::SignalNotification, 11),
    ]
}

fn without_arguments(object: Object) -> u64 {
    TABLE.iter().filter(|entry| entry.object == object && entry.args.is_empty()).count() as u64
}

#[test]
fn slots_hold_the_fixed_objects_the_grants_and_nothing_else() {
    let granted = [entry(CapKind::IrqHandler, 20), entry(CapKind::IoPort, 21), entry(CapKind::ServedEndpoint, 22)];
    assert_eq!(held(&granted, domain::TCB), Held::Object(Some(Object::Tcb)));
    assert_eq!(held(&granted, domain::CNODE), Held::Object(Some(Object::CNode)));
    assert_eq!(held(&granted, domain::VSPACE), Held::Object(None));
    assert_eq!(held(&granted, 20), Held::Object(Some(Object::IrqHandler)));
    assert_eq!(held(&granted, 21), Held::Object(Some(Object::IoPort)));
    assert_eq!(held(&granted, 22), Held::Ipc);
    assert_eq!(held(&granted, 0), Held::Empty);
    assert_eq!(held(&granted, 23), Held::Empty);
    assert_eq!(held(&granted, 255), Held::Empty);
    // A grant at a fixed slot does not override it.
    assert_eq!(held(&[entry(CapKind::IoPort, domain::TCB)], domain::TCB), Held::Object(Some(Object::Tcb)));
}

#[test]
fn empty_slots_fail_lookup_and_ipc_capabilities_are_not_probed() {
    for &label in Label::ALL {
        assert_eq!(expected(Held::Empty, label), Some(InvocationError::FailedLookup), "{}", label.name());
        assert_eq!(expected(Held::Ipc, label), None, "{}", label.name());
        assert_eq!(expected(Held::Object(None), label), Some(InvocationError::IllegalOperation), "{}", label.name());
    }
}

#[test]
fn methods_of_another_object_are_illegal_and_own_methods_need_their_arguments() {
    for &label in Label::ALL {
        let own = Held::Object(Some(label.object()));
        let entry = TABLE.iter().find(|entry| entry.label == label).expect("every label is in the ABI's table");
        let want = if entry.args.is_empty() { None } else { Some(InvocationError::TruncatedMessage) };
        assert_eq!(expected(own, label), want, "{}", label.name());
        for other in [Object::Tcb, Object::CNode, Object::IrqHandler, Object::IoPort, Object::Untyped] {
            if other != label.object() {
                assert_eq!(
                    expected(Held::Object(Some(other)), label),
                    Some(InvocationError::IllegalOperation),
                    "{} on {other:?}",
                    label.name()
                );
            }
        }
    }
}

#[test]
fn the_table_agrees_with_the_kernels_decoder() {
    // For each object the probe meets, the kernel's own decoder answers an empty message of
    // every label exactly as the table says (a label not probed decodes: it would act).
    let caps = [
        (Held::Object(Some(Object::Tcb)), Cap::Tcb { paddr: 0x8000 }),
        (Held::Object(Some(Object::CNode)), Cap::CNode { paddr: 0x1000, radix: 8, guard_bits: 0, guard: 0 }),
        (Held::Object(Some(Object::IrqHandler)), Cap::IrqHandler { irq: 4 }),
        (Held::Object(Some(Object::IoPort)), Cap::IoPort { first: 0x3f8, last: 0x3ff }),
        (Held::Object(None), Cap::Pml4 { paddr: 0x5000, asid: 1 }),
    ];
    let mut compared = 0;
    for (held, cap) in caps {
        for &label in Label::ALL {
            let message = Message { label: label as u64, length: 0, extra_caps: 0, word: |_| 0, cptr: |_| 0 };
            let decoded = decode(&cap, &message).map_err(|e| e.code);
            match expected(held, label) {
                Some(error) => assert_eq!(decoded.err(), Some(error), "{} on {cap:?}", label.name()),
                None => assert!(decoded.is_ok(), "{} on {cap:?} is not probed but the kernel refuses it: {decoded:?}", label.name()),
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 5 * Label::ALL.len());
}

#[test]
fn a_probe_of_the_isolation_domain_counts_what_the_tile_test_expects() {
    let granted = isolation_grants();
    let labels = Label::ALL.len() as u64;
    let mut asked = 0u64;
    let tally = probe(
        &granted,
        256,
        |slot, label| {
            asked += 1;
            expected(held(&granted, slot), label)
        },
        |slot, label, _, _| panic!("{} on slot {slot} reported as a mismatch", label.name()),
    );
    let skipped = 4 * labels + without_arguments(Object::Tcb) + without_arguments(Object::CNode);
    assert_eq!(tally, Tally { checked: 256 * labels - skipped, skipped, mismatched: 0 });
    assert_eq!(asked, tally.checked, "every checked pair is invoked once, no skipped one");
}

#[test]
fn a_probe_reports_each_wrong_answer_with_its_slot_and_label() {
    // A kernel that lets a CNode method through on an empty slot and answers the TCB's
    // methods with the wrong error: each difference is reported once, with slot and label.
    let granted = isolation_grants();
    let mut reported = [(0u64, Label::CNodeCopy, InvocationError::FailedLookup, None); 3];
    let mut count = 0;
    let tally = probe(
        &granted,
        256,
        |slot, label| match (slot, label) {
            (200, Label::CNodeCopy) => None,
            (domain::TCB, Label::TcbConfigure) => Some(InvocationError::IllegalOperation),
            (domain::VSPACE, Label::FrameMap) => Some(InvocationError::FailedLookup),
            _ => expected(held(&granted, slot), label),
        },
        |slot, label, want, got| {
            reported[count] = (slot, label, want, got);
            count += 1;
        },
    );
    assert_eq!(tally.mismatched, 3);
    assert_eq!(count, 3);
    assert_eq!(reported[0], (domain::TCB, Label::TcbConfigure, InvocationError::TruncatedMessage, Some(InvocationError::IllegalOperation)));
    assert_eq!(reported[1], (domain::VSPACE, Label::FrameMap, InvocationError::IllegalOperation, Some(InvocationError::FailedLookup)));
    assert_eq!(reported[2], (200, Label::CNodeCopy, InvocationError::FailedLookup, None));
}
