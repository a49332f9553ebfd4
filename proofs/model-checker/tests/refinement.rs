//! The refinement check: random operation sequences run through the kernel's real
//! capability code and through the Coq model's step function extracted to OCaml
//! (`proofs/coq/extract`), compared after every operation (see `src/refinement.rs`).
//!
//! The driver is built by `proofs/coq/extract/build.sh` (coqc and ocamlfind, which
//! `make deps` installs) into this test's scratch directory, unless `TILEOS_COQ_STEP`
//! names one already built. `TILEOS_REFINEMENT_STEPS` and `TILEOS_REFINEMENT_SEEDS` make
//! the run deeper (`make verify`).

use std::path::PathBuf;
use std::sync::OnceLock;
use tileos_abi::error::InvocationError;
use tileos_abi::object::ObjectType;
use tileos_model_checker::Universe;
use tileos_model_checker::refinement::{
    CoqStep, IpcOp, IpcOutcome, Tally, abstract_state, check_ipc_random, check_random, compare_step, ipc_apply, ipc_op_line, model_slots,
    observe, op_line, restrict_to_kernel_parents,
};

/// `op` on both sides from `memory`: the kernel library's result (the state after, or the
/// refusal's code) and the Coq model's printed answer for the abstraction of `memory`.
fn kernel_and_model(
    universe: &Universe,
    coq: &mut CoqStep,
    memory: &tileos_model_checker::memory::Memory,
    op: &tileos_model_checker::op::Op,
) -> (Result<tileos_model_checker::memory::Memory, tileos_abi::error::InvocationError>, String) {
    use tileos_model_checker::explore::{Outcome, apply};
    let kernel = match apply(universe, memory, &universe.addressable_slots(memory), op) {
        Ok(Outcome::Applied(after, _)) => Ok(after),
        Ok(Outcome::Rejected(rejection)) => Err(rejection.error),
        Err(violation) => panic!("{op:?}: {violation:?}"),
    };
    let model = coq.step(&abstract_state(universe, memory).unwrap(), &op_line(universe, memory, op).unwrap()).unwrap();
    (kernel, model)
}

fn driver() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(path) = std::env::var_os("TILEOS_COQ_STEP") {
            return PathBuf::from(path);
        }
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("coq-step");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../coq/extract/build.sh");
        let status = std::process::Command::new("bash").arg(&script).arg(&out).status().expect("running proofs/coq/extract/build.sh");
        assert!(status.success(), "proofs/coq/extract/build.sh failed (see its output above)");
        out.join("tileos-coq-step")
    })
    .clone()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} must be a number, got {v}")))
}

/// `universe` with two more retypes whose size the kernel refuses with RangeError: a CNode
/// of radix 0 (below 1) and an untyped of 2^48 bytes (above 2^47).
fn with_range_errors(mut universe: Universe) -> Universe {
    universe.retypes.extend([(ObjectType::CNode, 0), (ObjectType::Untyped, 48)]);
    universe
}

#[test]
fn the_kernel_refines_the_coq_model_on_random_sequences() {
    let steps = env_number("TILEOS_REFINEMENT_STEPS", 60) as usize;
    let seeds = env_number("TILEOS_REFINEMENT_SEEDS", 4);
    let mut coq = CoqStep::start(&driver()).unwrap();
    let mut tally = Tally::default();
    for universe in [with_range_errors(Universe::standard().without_thread()), with_range_errors(Universe::small().without_thread())] {
        for seed in 1..=seeds {
            for preempted in [false, true] {
                tally.add(&check_random(&universe, seed, steps, preempted, &mut coq).unwrap_or_else(|e| panic!("{e}")));
            }
        }
    }
    let total = 4 * seeds as usize * steps;
    println!(
        "refinement: {total} operations; refused by both with the same code: {} {:?}; applied by both: {:?}; \
         compared from a state with a zombie: {} (with a chain of zombies: {}); one-unit deletions not compared \
         (no abstraction): {}",
        tally.refused_total(),
        tally.refused,
        tally.applied,
        tally.from_zombie,
        tally.from_chain,
        tally.skipped
    );
    assert!(tally.from_zombie > 0, "no operation was compared from a state with a zombie: {tally:?}");
    // Not vacuous: every kind of operation was carried out by both, with the same result,
    // and the common error codes were given by both. (NotEnoughMemory is rare at this size,
    // 48 in 50,000 operations; InvalidArgument, a rotate whose pivot is its source or
    // destination, is never generated: `error_codes_are_compared` checks both.)
    for kind in ["Copy", "Mint", "Move", "Mutate", "Rotate", "Swap", "Delete", "Revoke", "Retype", "RetypeAt", "DeleteStep", "RevokeStep"] {
        assert!(tally.applied.get(kind).copied().unwrap_or(0) > 0, "no {kind} was applied in {total} operations: {tally:?}");
    }
    for code in ["FailedLookup", "DeleteFirst", "IllegalOperation", "RangeError", "DeletionInProgress"] {
        assert!(tally.refused.get(code).copied().unwrap_or(0) > 0, "no refusal with {code} in {total} operations: {tally:?}");
    }
}

/// Every transition, not a sample: from the initial state of the small and standard
/// universes (without their thread), every operation the model's thread can name (the CNode
/// and Untyped operations of `Op::all`, one-unit deletions included, and the retypes by
/// index) from every state reachable within `TILEOS_REFINEMENT_DEPTH` accepted operations
/// (default 2; states told apart by their fingerprint, as the model checker's exploration
/// does), compared on both sides with `compare_step`, as the random sequences are.
#[test]
fn the_kernel_refines_the_coq_model_on_every_transition_to_a_depth() {
    use std::collections::HashSet;
    let depth = env_number("TILEOS_REFINEMENT_DEPTH", 2);
    let mut coq = CoqStep::start(&driver()).unwrap();
    for universe in [with_range_errors(Universe::small().without_thread()), with_range_errors(Universe::standard().without_thread())] {
        let initial = tileos_model_checker::explore::check_initial(&universe).unwrap_or_else(|v| panic!("{}", v.report(&universe)));
        let mut visited = HashSet::from([initial.fingerprint()]);
        let mut frontier = vec![(initial, Vec::<String>::new())];
        let (mut compared, mut applied, mut skipped) = (0usize, 0usize, 0usize);
        for _ in 0..depth {
            let mut next = Vec::new();
            for (memory, trace) in &frontier {
                let slots = model_slots(&universe, memory);
                let mut ops = tileos_model_checker::op::Op::all(&universe, &slots);
                ops.extend(tileos_model_checker::refinement::retype_at_ops(&universe, memory, &slots));
                for op in ops {
                    let after = compare_step(&universe, memory, &op, &mut coq)
                        .unwrap_or_else(|difference| panic!("after {trace:?}, {}: {difference}", op.describe(&universe)));
                    let Some(after) = after else {
                        skipped += 1;
                        continue;
                    };
                    compared += 1;
                    if let Ok(after) = after {
                        applied += 1;
                        if visited.insert(after.fingerprint()) {
                            let mut trace = trace.clone();
                            trace.push(op.describe(&universe));
                            next.push((after, trace));
                        }
                    }
                }
            }
            frontier = next;
        }
        println!(
            "refinement (every transition to depth {depth}): {compared} operations compared, {applied} applied by both, \
             {} states, {skipped} one-unit deletions without an abstraction not compared",
            visited.len()
        );
        assert!(applied > 0 && compared > applied, "nothing was compared: {compared} compared, {applied} applied");
    }
}

/// IPC capability transfer and CSpace binding (`Universe::ipc`: two TCBs, the endpoint, the
/// badging mints): sends, replies and binds (by thread 0, and by a bound TCB's own thread)
/// drawn among the CNode operations, compared after every operation (acceptance, slots, CDT;
/// the TCBs' root slots included, so a revoke or delete after a bind is compared too).
#[test]
fn the_kernel_refines_the_coq_model_on_ipc_transfer_and_binding() {
    let steps = env_number("TILEOS_REFINEMENT_STEPS", 60) as usize;
    let seeds = env_number("TILEOS_REFINEMENT_SEEDS", 4);
    let mut coq = CoqStep::start(&driver()).unwrap();
    let mut tally = Tally::default();
    let universe = Universe::ipc();
    // Twice the steps per seed and twice the seeds: a third of the draws are IPC operations.
    for seed in 1..=2 * seeds {
        tally.add(&check_ipc_random(&universe, seed, 2 * steps, &mut coq).unwrap_or_else(|e| panic!("{e}")));
    }
    println!(
        "refinement (ipc): {} operations; refused by both: {} {:?}; applied by both: {:?}",
        4 * seeds as usize * steps,
        tally.refused_total(),
        tally.refused,
        tally.applied
    );
    // Not vacuous: capabilities were carried and not carried by sends and replies, binds
    // (by thread 0 and by a TCB's own thread) were carried out, and the CNode operations
    // that can undo a bind ran.
    for kind in ["SendCap", "SendNoCap", "ReplyCap", "ReplyNoCap", "Bind", "BindBy", "Revoke", "Delete", "Copy", "Mint"] {
        assert!(tally.applied.get(kind).copied().unwrap_or(0) > 0, "no {kind} was applied: {tally:?}");
    }
    assert!(tally.refused.get("unnamed").copied().unwrap_or(0) > 0, "no IPC or bind was refused: {tally:?}");
}

/// Directed IPC and binding cases, each compared on both sides: a bind, then a revoke of
/// the capability it was made from (the TCB's root slot empties on both sides); a send
/// without the grant right (delivered, no capability moves; a kernel that moved it anyway
/// is told apart); a badged capability to the endpoint itself (unwrapped: no slot changes);
/// a reply carrying a capability to a caller whose capability has grant-reply only.
#[test]
fn ipc_and_bind_cases_are_compared() {
    use tileos_abi::object::Rights;
    use tileos_kernel::cap::Cap;
    use tileos_model_checker::memory::Memory;
    use tileos_model_checker::op::Op;
    use tileos_model_checker::universe::{ENDPOINT, TCB};
    let mut coq = CoqStep::start(&driver()).unwrap();
    let universe = Universe::ipc();
    let (a, b) = (universe.cnodes[0], universe.cnodes[1]);
    let ipc = |coq: &mut CoqStep, memory: &Memory, op: IpcOp| -> (Option<Memory>, String) {
        let outcome = ipc_apply(memory, &universe.addressable_slots(memory), &op);
        assert!(!matches!(outcome, IpcOutcome::FailedAfter(..)), "{op:?}: {outcome:?}");
        let model = coq.step(&abstract_state(&universe, memory).unwrap(), &ipc_op_line(&universe, memory, &op).unwrap()).unwrap();
        let model = restrict_to_kernel_parents(&model, outcome.after()).unwrap();
        assert_eq!(outcome.observed(&universe).unwrap(), model, "{op:?}");
        (outcome.after().cloned(), model)
    };
    let cnode_op = |coq: &mut CoqStep, memory: &Memory, op: Op| -> Memory {
        let (kernel, model) = kernel_and_model(&universe, coq, memory, &op);
        let after = kernel.unwrap_or_else(|e| panic!("{op:?} refused: {e:?}"));
        assert_eq!(restrict_to_kernel_parents(&model, Some(&after)).unwrap(), observe(&universe, Ok(&after)).unwrap(), "{op:?}");
        after
    };
    let root_slot = tileos_kernel::cspace::slot_address(TCB, 0);
    let memory = tileos_model_checker::explore::check_initial(&universe).unwrap();
    // Bind TCB (B3) to CNode B (the capability in A2), then revoke A2.
    let (bound, _) = ipc(&mut coq, &memory, IpcOp::Bind { tcb: b.slot(3), cn: a.slot(2) });
    let bound = bound.expect("bind applied");
    assert_eq!(bound.cap(root_slot), b.cap());
    let revoked = cnode_op(&mut coq, &bound, Op::Revoke { slot: a.slot(2) });
    assert_eq!(revoked.cap(root_slot), Cap::Null, "the revoke unbound the thread");
    // A copy of the endpoint without the grant right (mint 0: read and write) in B1.
    let no_grant = cnode_op(&mut coq, &memory, Op::Mint { src: a.slot(1), dest: b.slot(1), params: 0 });
    let send = IpcOp::Send { ep: b.slot(1), src: a.slot(2), rep: a.slot(1), dst: b.slot(2) };
    let (delivered, model) = ipc(&mut coq, &no_grant, send);
    assert_eq!(delivered.expect("delivered").cap(b.slot(2)), Cap::Null);
    let mut wrong = no_grant.clone();
    tileos_kernel::transfer::transfer_caps(&mut wrong, 1, |_, _| Some(a.slot(2)), ENDPOINT, |_| Some(b.slot(2)));
    assert_ne!(observe(&universe, Ok(&wrong)).unwrap(), model, "a send that ignores the grant right is told apart");
    // A badged copy of the endpoint (mint 1: write, badge 1) sent over the endpoint itself.
    let badged = cnode_op(&mut coq, &memory, Op::Mint { src: a.slot(1), dest: b.slot(1), params: 1 });
    let (unwrapped, _) = ipc(&mut coq, &badged, IpcOp::Send { ep: a.slot(1), src: b.slot(1), rep: a.slot(1), dst: b.slot(2) });
    assert_eq!(unwrapped.expect("delivered").cap(b.slot(2)), Cap::Null, "unwrapped: no slot changes");
    // A reply carrying B's capability to a caller whose capability has grant-reply only.
    let grant_reply = Rights(Rights::WRITE.0 | Rights::GRANT_REPLY.0);
    // (No mint of the universe gives grant-reply without grant: the capability is placed by hand.)
    let mut caller = memory.clone();
    tileos_kernel::cspace::insert_root(&mut caller, b.slot(1), Cap::Endpoint { paddr: ENDPOINT, badge: 0, rights: grant_reply });
    let (replied, _) = ipc(&mut coq, &caller, IpcOp::Reply { ep: a.slot(1), src: a.slot(2), cep: b.slot(1), dst: b.slot(2) });
    assert_eq!(replied.expect("delivered").cap(b.slot(2)), b.cap(), "the reply carried the capability");
}

/// TcbConfigure's lost source (`transfer::changed_source`), reached and compared: in
/// `Universe::ipc`, the thread 0 keeps a copy of the TCB capability (A3), retypes a 2-slot
/// CNode E into B1, binds the TCB to B (from A2) and deletes A2, so the TCB's CSpace slot
/// holds the last capability to B. The TCB's own thread then re-binds itself from B1 (E's
/// capability, in its own root): emptying its CSpace slot destroys B, and B1 with it. The
/// kernel installs nothing and answers InvalidCapability naming argument 1, the state
/// changed (B and E gone, the TCB's slot empty); the extracted Coq step gives the same code,
/// argument and state. A model answering success (as `Kernel.v` did before) is told apart.
#[test]
fn a_bind_from_a_slot_its_own_emptying_destroys_is_answered_as_the_kernel_does() {
    use tileos_kernel::cap::Cap;
    use tileos_model_checker::memory::Memory;
    use tileos_model_checker::op::Op;
    use tileos_model_checker::universe::TCB;
    let mut coq = CoqStep::start(&driver()).unwrap();
    let universe = Universe::ipc();
    let (a, b) = (universe.cnodes[0], universe.cnodes[1]);
    let cnode_op = |coq: &mut CoqStep, memory: &Memory, op: Op| -> Memory {
        let (kernel, model) = kernel_and_model(&universe, coq, memory, &op);
        let after = kernel.unwrap_or_else(|e| panic!("{op:?} refused: {e:?}"));
        assert_eq!(restrict_to_kernel_parents(&model, Some(&after)).unwrap(), observe(&universe, Ok(&after)).unwrap(), "{op:?}");
        after
    };
    let compare = |coq: &mut CoqStep, memory: &Memory, op: IpcOp| -> (IpcOutcome, String) {
        let outcome = ipc_apply(memory, &universe.addressable_slots(memory), &op);
        let model = coq.step(&abstract_state(&universe, memory).unwrap(), &ipc_op_line(&universe, memory, &op).unwrap()).unwrap();
        let model = restrict_to_kernel_parents(&model, outcome.after()).unwrap();
        assert_eq!(outcome.observed(&universe).unwrap(), model, "{op:?}");
        (outcome, model)
    };
    let memory = tileos_model_checker::explore::check_initial(&universe).unwrap();
    let memory = cnode_op(&mut coq, &memory, Op::Copy { src: b.slot(3), dest: a.slot(3) });
    let cnode = universe.retypes.iter().position(|&(kind, _)| kind == ObjectType::CNode).expect("the universe retypes CNodes");
    let memory = cnode_op(&mut coq, &memory, Op::Retype { untyped: a.slot(0), object: cnode, dest: b.slot(1) });
    let (bound, _) = compare(&mut coq, &memory, IpcOp::Bind { tcb: b.slot(3), cn: a.slot(2) });
    let IpcOutcome::Done(bound) = bound else { panic!("bind refused: {bound:?}") };
    let memory = cnode_op(&mut coq, &bound, Op::Delete { slot: a.slot(2) });
    let root_slot = tileos_kernel::cspace::slot_address(TCB, 0);
    assert_eq!(memory.cap(root_slot), b.cap(), "the TCB's slot holds the last capability to B");
    let (outcome, model) = compare(&mut coq, &memory, IpcOp::BindBy { thread: TCB, tcb: b.slot(3), cn: b.slot(1) });
    let IpcOutcome::FailedAfter(code, argument, after) = &outcome else {
        panic!("not answered with an error after the change: {outcome:?}")
    };
    assert_eq!((*code, *argument), (InvocationError::InvalidCapability, 1));
    assert!(model.starts_with("none InvalidCapability 1\nstate\n"), "{model}");
    assert_eq!(after.cap(root_slot), Cap::Null, "nothing installed");
    assert_eq!(after.cap(a.slot(3)), Cap::Tcb { paddr: TCB }, "the TCB lives on through A3");
    assert!(!after.occupied().any(|(at, _)| (b.paddr..b.slot(1u64 << b.radix).0).contains(&at.0)), "B was destroyed with its slots");
    // The answer and the state are both compared: success with that state, or the error
    // with the state before, is told apart.
    assert_ne!(observe(&universe, Ok(after)).unwrap(), model, "a success answer is told apart");
    assert_ne!(format!("none InvalidCapability 1\n{}", observe(&universe, Ok(&memory)).unwrap()), model, "the state is compared");
    // A bind by the TCB's thread naming a slot outside its CSpace (A3) is refused.
    assert!(matches!(
        ipc_apply(&memory, &universe.addressable_slots(&memory), &IpcOp::BindBy { thread: TCB, tcb: a.slot(3), cn: b.slot(1) }),
        IpcOutcome::Refused
    ));
}

/// Runs a mapping universe's random sequences (`TILEOS_REFINEMENT_SEEDS` seeds, default 8, of
/// twice `TILEOS_REFINEMENT_STEPS` operations, default `default_steps`, each seed without and
/// with one-unit deletions) against the extracted model, panicking at the first difference,
/// and prints and returns the tally.
fn run_mapping_universe(name: &str, universe: Universe, default_steps: u64) -> Tally {
    let steps = env_number("TILEOS_REFINEMENT_STEPS", default_steps) as usize;
    let seeds = env_number("TILEOS_REFINEMENT_SEEDS", 8);
    let mut coq = CoqStep::start(&driver()).unwrap();
    let mut tally = Tally::default();
    let universe = with_range_errors(universe);
    for seed in 1..=seeds {
        for preempted in [false, true] {
            tally.add(&check_random(&universe, seed, 2 * steps, preempted, &mut coq).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    println!(
        "refinement ({name}): {} operations; refused by both with the same code: {} {:?}; applied by both: {:?}; \
         compared from a state with a zombie: {} (with a chain of zombies: {}); one-unit deletions not compared \
         (no abstraction): {}",
        4 * seeds as usize * steps,
        tally.refused_total(),
        tally.refused,
        tally.applied,
        tally.from_zombie,
        tally.from_chain,
        tally.skipped
    );
    tally
}

/// The universe with an address space (`Universe::frames`): frame map and unmap
/// (`KernelMap.v`) drawn among the CNode operations, compared after every operation with the
/// frame mappings (from the page tables) and the mapping each frame capability records.
#[test]
fn the_kernel_refines_the_coq_model_on_frame_mappings() {
    // 8 seeds x 600 operations (each twice) unless told otherwise: at 4 x 120 three of the six mutants
    // docs/model-checker.md lists went unnoticed, at this size none (0.6 s).
    // Most sequences lose the address space early (a delete or revoke of A2 destroys B and
    // the PML4 in B0): twice the steps per seed. Each seed runs twice: without one-unit
    // deletions (the sequences from before they were compared) and with them (a preempted
    // deletion of B or D empties the slots holding the PML4, the page tables and the mapped
    // frames one unit at a time, and maps meet the zombie).
    let tally = run_mapping_universe("frames", Universe::frames(), 300);
    assert!(tally.from_zombie > 0, "no operation was compared from a state with a zombie: {tally:?}");
    for kind in ["MapFrame", "UnmapFrame", "DeleteStep", "RevokeStep"] {
        assert!(tally.applied.get(kind).copied().unwrap_or(0) > 0, "no {kind} was applied: {tally:?}");
    }
    for code in ["AlignmentError", "InvalidCapability", "InvalidArgument", "DeletionInProgress"] {
        assert!(tally.refused.get(code).copied().unwrap_or(0) > 0, "no refusal with {code}: {tally:?}");
    }
}

/// Each result of a frame map and unmap, in a fixed sequence from `Universe::frames`, equals
/// the model's (`KernelMap.v`), and the comparison sees the mapping state: a kernel result
/// with a mapping line dropped, or a record changed, differs.
#[test]
fn frame_map_results_and_codes_are_compared() {
    use tileos_abi::error::InvocationError::{self, *};
    use tileos_kernel::vspace::USER_TOP;
    use tileos_model_checker::memory::Memory;
    use tileos_model_checker::op::Op;
    let universe = Universe::frames();
    let (a, b) = (|i| universe.cnodes[0].slot(i), |i| universe.cnodes[1].slot(i));
    let mut coq = CoqStep::start(&driver()).unwrap();
    let mut memory = universe.initial_state();
    let map = |frame, vspace, vaddr| Op::MapFrame { frame, vspace, vaddr };
    // (operation, the kernel's code or None for success)
    let sequence: [(Op, Option<InvocationError>); 17] = [
        (map(b(3), b(0), 0x1000), Some(FailedLookup)),      // invoked slot empty
        (map(a(1), b(0), 0x1000), Some(IllegalOperation)),  // an endpoint is invoked
        (map(b(1), a(3), 0x1000), Some(FailedLookup)),      // address-space slot empty
        (map(b(1), a(1), 0x1000), Some(InvalidCapability)), // not a PML4
        (map(b(1), b(0), 0x800), Some(AlignmentError)),
        (map(b(1), b(0), USER_TOP), Some(InvalidArgument)), // beyond the user half
        (map(b(1), b(0), 0x20_0000), Some(FailedLookup)),   // no page table there
        (map(b(1), b(0), 0), Some(DeleteFirst)),            // D3's frame is there
        (map(b(1), b(0), 0x1000), None),
        (map(b(1), b(0), 0x1000), None),                       // a re-map, same place
        (map(b(2), b(0), 0x1000), Some(DeleteFirst)),          // entry in use
        (map(b(1), b(0), 0x2000), Some(IllegalOperation)),     // mapped elsewhere
        (Op::Mint { src: b(1), dest: b(3), params: 1 }, None), // a write-only, unmapped copy
        (map(b(3), b(0), 0x2000), Some(InvalidArgument)),      // no read right
        (map(b(2), b(0), 0x2000), None),                       // read-only: not writable
        (Op::UnmapFrame { frame: b(1) }, None),
        (Op::Delete { slot: b(2) }, None), // deleting a mapped frame unmaps it
    ];
    let step = |memory: &Memory, coq: &mut CoqStep, op: &Op| kernel_and_model(&universe, coq, memory, op);
    for (op, code) in sequence {
        let (kernel, model) = step(&memory, &mut coq, &op);
        assert_eq!(kernel.as_ref().err(), code.as_ref(), "{op:?}");
        let observed = observe(&universe, kernel.as_ref().map_err(|e| *e)).unwrap();
        assert_eq!(restrict_to_kernel_parents(&model, kernel.as_ref().ok()).unwrap(), observed, "{op:?}");
        if let Ok(after) = kernel {
            memory = after;
        }
        if op == map(b(2), b(0), 0x2000) {
            // The read-only frame is mapped not writable, recorded at (ASID 1, 0x2000); the
            // comparison sees both lines.
            let frame = tileos_model_checker::universe::FRAME_RO;
            assert!(observed.contains(&format!("map {} 8192 {frame} 0\n", tileos_model_checker::universe::PML4)), "{observed}");
            assert!(observed.contains(&format!("rec {} 2 1 8192\n", tileos_model_checker::universe::CNODE_B)), "{observed}");
            assert_ne!(observed.replace(&format!(" 8192 {frame} 0\n"), &format!(" 8192 {frame} 1\n")), observed);
        }
    }
    // After the unmap and the delete only D3's frame is mapped, at 0.
    let observed = observe(&universe, Ok(&memory)).unwrap();
    assert_eq!(observed.lines().filter(|l| l.starts_with("map ")).count(), 1, "{observed}");
    assert_eq!(observed.lines().filter(|l| l.starts_with("rec ")).count(), 1, "{observed}");
    // A preempted deletion of B (A2 its only capability): one unit leaves a zombie in A2.
    // A map or unmap invoking the zombie is DeletionInProgress (the kernel's decoder refuses
    // any method of a zombie before it looks at the type; `KernelMap.not_frame_error`), a
    // zombie named as the address space InvalidCapability, from both.
    // First the unmapped frame capability of B1 is moved to A3, out of B.
    let (kernel, _) = step(&memory, &mut coq, &Op::Move { src: b(1), dest: a(3) });
    let memory = kernel.expect("B1's frame capability moved to A3");
    let (kernel, model) = step(&memory, &mut coq, &Op::DeleteStep { slot: a(2) });
    let zombie = kernel.expect("one unit of B's deletion");
    assert_eq!(restrict_to_kernel_parents(&model, Some(&zombie)).unwrap(), observe(&universe, Ok(&zombie)).unwrap());
    assert!(matches!(zombie.cap(a(2)), tileos_kernel::cap::Cap::Zombie { .. }), "{:?}", zombie.cap(a(2)));
    for (op, code) in [
        (Op::UnmapFrame { frame: a(2) }, DeletionInProgress),
        (map(a(2), b(0), 0x1000), DeletionInProgress),
        (map(a(2), a(2), 0x1000), DeletionInProgress),
        (map(a(3), a(2), 0x1000), InvalidCapability),
    ] {
        let (kernel, model) = step(&zombie, &mut coq, &op);
        assert_eq!(kernel.as_ref().err(), Some(&code), "{op:?}");
        assert_eq!(model, format!("none {code:?}\n"), "{op:?}");
    }
}

#[test]
fn error_codes_are_compared() {
    // A copy from an empty slot into an occupied one: the kernel looks the destination up,
    // then checks the source (found, occupied), then the destination's emptiness
    // (`kernel/src/invoke/cnode.rs`, `derive_into`; docs/abi.md's table): FailedLookup, and
    // so does the model. Until 2026-12-05 the model checker's decoder and the model checked
    // the destination's emptiness first and both answered DeleteFirst, agreeing with each
    // other and not with the kernel (`tests/decode_order.rs` now ties the decoder's order to
    // the kernel's source). From an occupied source into an occupied destination: DeleteFirst.
    use tileos_abi::error::InvocationError;
    use tileos_model_checker::explore::{Outcome, apply};
    use tileos_model_checker::op::Op;
    let universe = Universe::standard().without_thread();
    let memory = universe.initial_state();
    let a = |i| universe.cnodes[0].slot(i);
    let mut coq = CoqStep::start(&driver()).unwrap();
    let state = abstract_state(&universe, &memory).unwrap();
    let copy = Op::Copy { src: a(3), dest: a(0) };
    let Ok(Outcome::Rejected(rejection)) = apply(&universe, &memory, &universe.addressable_slots(&memory), &copy) else {
        panic!("{copy:?} was not refused")
    };
    let model = coq.step(&state, &op_line(&universe, &memory, &copy).unwrap()).unwrap();
    assert_eq!(model, "none FailedLookup\n");
    assert_eq!(observe(&universe, Err(rejection.error)).unwrap(), model);
    assert_ne!(observe(&universe, Err(InvocationError::DeleteFirst)).unwrap(), model);
    for op in [Op::Copy { src: a(1), dest: a(0) }, Op::Move { src: a(1), dest: a(0) }, Op::Mutate { src: a(1), dest: a(0), data: 0 }] {
        let Ok(Outcome::Rejected(rejection)) = apply(&universe, &memory, &universe.addressable_slots(&memory), &op) else {
            panic!("{op:?} was not refused")
        };
        assert_eq!(rejection.error, InvocationError::DeleteFirst, "{op:?}");
        assert_eq!(coq.step(&state, &op_line(&universe, &memory, &op).unwrap()).unwrap(), "none DeleteFirst\n", "{op:?}");
    }
    // A refusal is told apart from a result.
    assert_ne!(observe(&universe, Ok(&memory)).unwrap(), model);
    // The codes the random sequences give rarely or never, each compared with the kernel's:
    // the source's lookup fails (from the empty slot into an empty one); a rotate whose
    // pivot is its source (InvalidArgument); retypes until the untyped is exhausted
    // (NotEnoughMemory).
    let b = |i| universe.cnodes[1].slot(i);
    let both = |memory: &tileos_model_checker::memory::Memory, coq: &mut CoqStep, op: Op| kernel_and_model(&universe, coq, memory, &op);
    for (op, code) in [
        (Op::Copy { src: a(3), dest: b(0) }, InvocationError::FailedLookup),
        (Op::Rotate { src: a(1), pivot: a(1), dest: b(0) }, InvocationError::InvalidArgument),
    ] {
        let (kernel, model) = both(&memory, &mut coq, op);
        assert_eq!(kernel.as_ref().err(), Some(&code), "{op:?}");
        assert_eq!(model, format!("none {code:?}\n"), "{op:?}");
    }
    let untyped = (0..4).map(a).find(|&at| matches!(memory.cap(at), tileos_kernel::cap::Cap::Untyped { .. })).expect("an untyped in A");
    let mut now = memory.clone();
    let mut exhausted = false;
    // 2-slot CNodes (128 bytes) from the 256-byte untyped: two fit, the third does not.
    for dest in [a(3), b(0), b(1), b(2)] {
        let op = Op::Retype { untyped, object: 1, dest };
        let (kernel, model) = both(&now, &mut coq, op);
        match kernel {
            Ok(after) => {
                assert!(model.starts_with("state\n"), "{op:?}: {model}");
                now = after;
            }
            Err(error) => {
                assert_eq!(model, format!("none {error:?}\n"), "{op:?}");
                if error == InvocationError::NotEnoughMemory {
                    exhausted = true;
                    break;
                }
            }
        }
    }
    assert!(exhausted, "the untyped was not exhausted");
    // The exhausted untyped into an occupied slot: the kernel plans before it checks the
    // destination (`kernel/src/invoke/untyped.rs`), so NotEnoughMemory, not DeleteFirst.
    let (kernel, model) = both(&now, &mut coq, Op::Retype { untyped, object: 1, dest: a(1) });
    assert_eq!(kernel.as_ref().err(), Some(&InvocationError::NotEnoughMemory));
    assert_eq!(model, "none NotEnoughMemory\n");
}

#[test]
fn range_errors_are_compared_at_each_bound() {
    // Each size bound of a retype, on both sides of it, from the 256-byte untyped in A0 into
    // the empty A3 and into the occupied A1: the kernel's code (RangeError below and above a
    // range, NotEnoughMemory for a valid size that does not fit, success) equals the
    // model's, and a size out of range is named before an occupied destination.
    use tileos_abi::error::InvocationError::{self, NotEnoughMemory, RangeError};
    use tileos_model_checker::explore::{Outcome, apply};
    use tileos_model_checker::op::Op;
    let cases: [(ObjectType, u32, Option<InvocationError>); 8] = [
        (ObjectType::CNode, 0, Some(RangeError)),
        (ObjectType::CNode, 1, None),
        (ObjectType::CNode, 20, Some(NotEnoughMemory)),
        (ObjectType::CNode, 21, Some(RangeError)),
        (ObjectType::Untyped, 3, Some(RangeError)),
        (ObjectType::Untyped, 4, None),
        (ObjectType::Untyped, 47, Some(NotEnoughMemory)),
        (ObjectType::Untyped, 48, Some(RangeError)),
    ];
    let universe =
        Universe { retypes: cases.iter().map(|&(kind, bits, _)| (kind, bits)).collect(), ..Universe::standard().without_thread() };
    let memory = universe.initial_state();
    let a = |i| universe.cnodes[0].slot(i);
    let mut coq = CoqStep::start(&driver()).unwrap();
    let state = abstract_state(&universe, &memory).unwrap();
    for (object, &(kind, bits, code)) in cases.iter().enumerate() {
        for (dest, occupied) in [(a(3), false), (a(1), true)] {
            let op = Op::Retype { untyped: a(0), object, dest };
            let kernel = match apply(&universe, &memory, &universe.addressable_slots(&memory), &op) {
                Ok(Outcome::Applied(after, _)) => Ok(after),
                Ok(Outcome::Rejected(rejection)) => Err(rejection.error),
                Err(violation) => panic!("{violation:?}"),
            };
            let expected = match code {
                Some(code) => Some(code),
                None if occupied => Some(InvocationError::DeleteFirst),
                None => None,
            };
            assert_eq!(kernel.as_ref().err().copied(), expected, "kernel, {kind:?} {bits} into {dest:?}");
            let model = coq.step(&state, &op_line(&universe, &memory, &op).unwrap()).unwrap();
            let model = restrict_to_kernel_parents(&model, kernel.as_ref().ok()).unwrap();
            assert_eq!(model, observe(&universe, kernel.as_ref().map_err(|e| *e)).unwrap(), "model, {kind:?} {bits} into {dest:?}");
        }
    }
    // A count of 0 (the kernel's plan: InvalidCount, answered as RangeError) and a count
    // of 257: no `Op` retypes more than one object, so these are put to the model directly
    // and to the kernel's `untyped::plan`.
    use tileos_kernel::untyped::{self, RetypeError, UntypedState};
    let fresh = UntypedState { paddr: 0x1_0000, size_bits: 8, device: false, free_offset: 0, has_children: false };
    assert_eq!(untyped::plan(fresh, ObjectType::Endpoint, 0, 0), Err(RetypeError::InvalidCount));
    let line = op_line(&universe, &memory, &Op::Retype { untyped: a(0), object: 1, dest: a(3) }).unwrap();
    let (head, dest) =
        line.rsplit_once(' ').and_then(|(h, i)| h.rsplit_once(' ').map(|(h, c)| (h.to_string(), format!("{c} {i}")))).unwrap();
    assert_eq!(coq.step(&state, &head).unwrap(), "none RangeError\n", "{head}");
    let dests = (0..257).map(|_| dest.clone()).collect::<Vec<_>>().join(" ");
    assert_eq!(untyped::plan(fresh, ObjectType::Endpoint, 0, 257), Err(RetypeError::InvalidCount));
    assert_eq!(coq.step(&state, &format!("{head} {dests}")).unwrap(), "none RangeError\n");
}

#[test]
fn a_different_operation_is_told_apart() {
    // The comparison can fail: the model's result for one operation differs from the
    // kernel's for another (a copy and a delete of the same slot).
    let universe = Universe::standard().without_thread();
    let memory = universe.initial_state();
    let a = |i| universe.cnodes[0].slot(i);
    let copy = tileos_model_checker::op::Op::Copy { src: a(1), dest: a(3) };
    let delete = tileos_model_checker::op::Op::Delete { slot: a(1) };
    let mut coq = CoqStep::start(&driver()).unwrap();
    let state = abstract_state(&universe, &memory).unwrap();
    let copied = coq.step(&state, &op_line(&universe, &memory, &copy).unwrap()).unwrap();
    let deleted = coq.step(&state, &op_line(&universe, &memory, &delete).unwrap()).unwrap();
    assert_ne!(copied, deleted);
    assert_eq!(observe(&universe, Ok(&memory)).unwrap().lines().count(), 4, "three slots and the header");
    assert!(copied.lines().count() == 5 && deleted.lines().count() == 3, "copy adds a slot, delete removes one:\n{copied}\n{deleted}");
}

#[test]
fn the_kernels_old_mutate_rule_is_caught() {
    // With the rule `kernel/src/invoke/cnode.rs` once had (a mutate may badge an original
    // in place, `Universe::mutate_badges_originals`), the kernel carries out a Mutate the
    // Coq model refuses: the comparison must report it. (Some seeds first break the
    // model checker's derivation invariant, which `explore::apply` also reports; those are
    // skipped, the point here is the comparison.)
    let universe = Universe { mutate_badges_originals: true, ..Universe::standard().without_thread() };
    let mut coq = CoqStep::start(&driver()).unwrap();
    let caught = (1..=50).find_map(|seed| check_random(&universe, seed, 200, false, &mut coq).err().filter(|e| e.contains("differ")));
    let report = caught.expect("the comparison found no difference in 50 seeds x 200 operations");
    let last = report.lines().skip_while(|l| !l.starts_with("trace")).take_while(|l| !l.starts_with(']')).last().unwrap_or("");
    assert!(last.contains("Mutate"), "the difference is not at a Mutate:\n{report}");
}

#[test]
fn the_cdt_shape_is_compared() {
    // After a copy of the original endpoint A1 into A3, both say A3 is A1's child; after a
    // copy of A3 (not revocable in the kernel) into B0, the model says B0 descends from A3
    // and A1, the kernel from A1 only: equal once restricted to the kernel's revocable
    // slots. A kernel that inserted the first copy as a new root (no parent) differs.
    use tileos_kernel::cspace::{self, CSpaceMemory};
    use tileos_model_checker::explore::{Outcome, apply};
    use tileos_model_checker::op::Op;
    let universe = Universe::standard().without_thread();
    let (a, b) = (|i| universe.cnodes[0].slot(i), |i| universe.cnodes[1].slot(i));
    let mut coq = CoqStep::start(&driver()).unwrap();
    let mut step = |memory: &tileos_model_checker::memory::Memory, op: Op| {
        let slots = universe.addressable_slots(memory);
        let Ok(Outcome::Applied(after, _)) = apply(&universe, memory, &slots, &op) else { panic!("{op:?} was not applied") };
        let model = coq.step(&abstract_state(&universe, memory).unwrap(), &op_line(&universe, memory, &op).unwrap()).unwrap();
        (after, model)
    };
    let initial = universe.initial_state();
    let (copied, model) = step(&initial, Op::Copy { src: a(1), dest: a(3) });
    let ancestors = |text: &str, at: &str| text.lines().find(|l| l.starts_with(at)).map(|l| l.rsplit(' ').next().unwrap().to_string());
    let a1 = format!("{}:1", universe.cnodes[0].paddr);
    let a3_line = format!("slot {} 3 ", universe.cnodes[0].paddr);
    assert_eq!(ancestors(&observe(&universe, Ok(&copied)).unwrap(), &a3_line), Some(a1.clone()));
    assert_eq!(restrict_to_kernel_parents(&model, Some(&copied)).unwrap(), observe(&universe, Ok(&copied)).unwrap());
    let (twice, model) = step(&copied, Op::Copy { src: a(3), dest: b(0) });
    let b0_line = format!("slot {} 0 ", universe.cnodes[1].paddr);
    assert_eq!(ancestors(&model, &b0_line), Some(format!("{a1},{}:3", universe.cnodes[0].paddr)), "the model: a child of A3\n{model}");
    assert_eq!(ancestors(&observe(&universe, Ok(&twice)).unwrap(), &b0_line), Some(a1.clone()), "the kernel: a sibling of A3");
    assert_eq!(restrict_to_kernel_parents(&model, Some(&twice)).unwrap(), observe(&universe, Ok(&twice)).unwrap());
    // A kernel that forgot the parent link of the first copy.
    let (_, model) = step(&initial, Op::Copy { src: a(1), dest: a(3) });
    let mut rootless = copied.clone();
    let cap = rootless.cap(a(3));
    cspace::delete(&mut rootless, a(3));
    cspace::insert_root(&mut rootless, a(3), cap);
    assert_eq!(rootless.read(a(3)).cap, cap);
    assert_ne!(restrict_to_kernel_parents(&model, Some(&rootless)).unwrap(), observe(&universe, Ok(&rootless)).unwrap());
}

#[test]
fn destination_index_and_multi_object_retype_codes_are_compared() {
    // Retypes by destination CNode and index (`Op::RetypeAt`), as the kernel takes them, from
    // the 256-byte untyped in A0: each case's kernel code (or success) is the expected one,
    // and the Coq model's answer equals the kernel's. The cases tell apart the kernel's order
    // (`kernel/src/invoke/untyped.rs`: the destination CNode, the indices against its slot
    // count, `untyped::plan` for all the objects, then every destination's emptiness) from
    // the orders a model could have instead: an index beyond the CNode is RangeError, not
    // FailedLookup; a retype whose objects do not all fit is NotEnoughMemory even when its
    // first destination is occupied (destination by destination, it would be DeleteFirst).
    use tileos_abi::error::InvocationError::{self, DeleteFirst, FailedLookup, NotEnoughMemory, RangeError};
    use tileos_model_checker::memory::Memory;
    use tileos_model_checker::op::Op;
    // Retypes: 0 an endpoint (32 bytes), 1 a 2-slot CNode (128 bytes).
    let universe = Universe::standard().without_thread();
    let (a, b) = (universe.cnodes[0], universe.cnodes[1]);
    let mut coq = CoqStep::start(&driver()).unwrap();
    let mut compare = |memory: &Memory, op: Op, expected: Option<InvocationError>| {
        let (kernel, model) = kernel_and_model(&universe, &mut coq, memory, &op);
        assert_eq!(kernel.as_ref().err().copied(), expected, "kernel, {}", op.describe(&universe));
        let model = restrict_to_kernel_parents(&model, kernel.as_ref().ok()).unwrap();
        assert_eq!(model, observe(&universe, kernel.as_ref().map_err(|e| *e)).unwrap(), "model, {}", op.describe(&universe));
        kernel.ok()
    };
    let at = |object, node: u64, offset, count| Op::RetypeAt { untyped: a.slot(0), object, node, offset, count };
    let initial = universe.initial_state();
    for (op, code) in [
        // The index one past B's four slots, and two objects from B's last slot.
        (at(0, b.paddr, 4, 1), Some(RangeError)),
        (at(0, b.paddr, 3, 2), Some(RangeError)),
        // Into occupied slots, beyond A: the range is checked first.
        (at(0, a.paddr, 1, 4), Some(RangeError)),
        // No object: the indices are in range, the plan refuses the count.
        (at(0, b.paddr, 0, 0), Some(RangeError)),
        // A destination "CNode" that is none of the thread's (the endpoint's address).
        (at(0, tileos_model_checker::universe::ENDPOINT, 0, 1), Some(FailedLookup)),
        // Three 2-slot CNodes (384 bytes) from A0, occupied: the room is checked first.
        (at(1, a.paddr, 0, 3), Some(NotEnoughMemory)),
        // Two endpoints into A1 (occupied) and A2 (occupied), and into A3 and beyond.
        (at(0, a.paddr, 1, 2), Some(DeleteFirst)),
        (at(0, a.paddr, 3, 2), Some(RangeError)),
    ] {
        compare(&initial, op, code);
    }
    // Two endpoints into B0 and B1: both made, at the untyped's first 64 bytes.
    let two = compare(&initial, at(0, b.paddr, 0, 2), None).expect("two endpoints made");
    assert_eq!(two.occupied().count(), 5);
    // Two more into B1 (now occupied) and B2: the second destination is free, the first not.
    compare(&two, at(0, b.paddr, 1, 2), Some(DeleteFirst));
    // Into B2 and B3 (free): made after the first two, the watermark at 128.
    let four = compare(&two, at(0, b.paddr, 2, 2), None).expect("two more endpoints made");
    assert_eq!(four.occupied().count(), 7);
    // Two 2-slot CNodes (256 bytes) no longer fit beside the four endpoints: NotEnoughMemory
    // into the occupied B0..B1.
    compare(&four, at(1, b.paddr, 0, 2), Some(NotEnoughMemory));
}

#[test]
fn preempted_deletions_and_deletion_in_progress_are_compared() {
    // A 2-slot CNode retyped into A3, the endpoint copied into its slot 1, then deleted one
    // unit of work at a time (`Op::DeleteStep`, one kernel entry with a budget of 1): the
    // kernel leaves a zombie in A3, and the Coq model (`Kernel.v`, `KDeleteStep`) the same,
    // compared after every step. Every use of the zombie the kernel refuses with
    // DeletionInProgress (copy, move and mutate from it, rotate and swap through it, revoke
    // of it, a retype through it) gets that code from both; a copy into it DeleteFirst; a
    // slot of the CNode under destruction is no longer addressable (FailedLookup).
    use tileos_abi::error::InvocationError::{self, DeleteFirst, DeletionInProgress, FailedLookup};
    use tileos_kernel::cap::Cap;
    use tileos_kernel::cspace::slot_address;
    use tileos_model_checker::memory::Memory;
    use tileos_model_checker::op::Op;
    let universe = Universe::standard().without_thread();
    let (a, b) = (|i| universe.cnodes[0].slot(i), |i| universe.cnodes[1].slot(i));
    let mut coq = CoqStep::start(&driver()).unwrap();
    let mut compare = |memory: &Memory, op: Op, expected: Option<InvocationError>| -> Option<Memory> {
        let (kernel, model) = kernel_and_model(&universe, &mut coq, memory, &op);
        assert_eq!(kernel.as_ref().err().copied(), expected, "kernel, {}", op.describe(&universe));
        let model = restrict_to_kernel_parents(&model, kernel.as_ref().ok()).unwrap();
        assert_eq!(model, observe(&universe, kernel.as_ref().map_err(|e| *e)).unwrap(), "model, {}", op.describe(&universe));
        kernel.ok()
    };
    let made = compare(&universe.initial_state(), Op::Retype { untyped: a(0), object: 1, dest: a(3) }, None).unwrap();
    let Cap::CNode { paddr: cnode, .. } = made.cap(a(3)) else { panic!("no CNode in A3") };
    let inner = |i| slot_address(cnode, i);
    let filled = compare(&made, Op::Copy { src: a(1), dest: inner(1) }, None).unwrap();
    let zombie = compare(&filled, Op::DeleteStep { slot: a(3) }, None).unwrap();
    assert!(matches!(zombie.cap(a(3)), Cap::Zombie { remaining: 2, top: true, .. }), "{:?}", zombie.cap(a(3)));
    for (op, code) in [
        (Op::Copy { src: a(3), dest: b(0) }, DeletionInProgress),
        (Op::Move { src: a(3), dest: b(0) }, DeletionInProgress),
        (Op::Mutate { src: a(3), dest: b(0), data: 0 }, DeletionInProgress),
        (Op::Rotate { src: a(3), pivot: a(1), dest: b(0) }, DeletionInProgress),
        (Op::Rotate { src: a(1), pivot: a(3), dest: a(1) }, DeletionInProgress),
        (Op::Revoke { slot: a(3) }, DeletionInProgress),
        (Op::RevokeStep { slot: a(3) }, DeletionInProgress),
        (Op::Retype { untyped: a(3), object: 0, dest: b(0) }, DeletionInProgress),
        (Op::Copy { src: a(1), dest: a(3) }, DeleteFirst),
        (Op::Copy { src: a(1), dest: inner(0) }, FailedLookup),
    ] {
        compare(&zombie, op, Some(code));
    }
    // Slot 1 emptied (the endpoint's copy deleted), slot 0 passed over, the CNode destroyed.
    let one = compare(&zombie, Op::DeleteStep { slot: a(3) }, None).unwrap();
    assert!(matches!(one.cap(a(3)), Cap::Zombie { remaining: 1, .. }) && one.cap(inner(1)) == Cap::Null);
    let two = compare(&one, Op::DeleteStep { slot: a(3) }, None).unwrap();
    assert!(matches!(two.cap(a(3)), Cap::Zombie { remaining: 0, .. }));
    let gone = compare(&two, Op::DeleteStep { slot: a(3) }, None).unwrap();
    assert_eq!(gone.cap(a(3)), Cap::Null);
    // A Delete finishes a preempted deletion at once.
    let finished = compare(&zombie, Op::Delete { slot: a(3) }, None).unwrap();
    assert_eq!(finished.occupied().count(), gone.occupied().count());
    // One unit of a revoke of the untyped: its first descendant, the last capability to the
    // CNode, becomes a zombie; the whole revoke then finishes it.
    let revoking = compare(&filled, Op::RevokeStep { slot: a(0) }, None).unwrap();
    assert!(matches!(revoking.cap(a(3)), Cap::Zombie { remaining: 2, .. }));
    let revoked = compare(&revoking, Op::Revoke { slot: a(0) }, None).unwrap();
    assert_eq!(revoked.cap(a(3)), Cap::Null);
    // The comparison can fail: a model that forgets the zombie (its abstraction names the
    // CNode capability instead) carries out the copy the kernel refuses, and an answer other
    // than DeletionInProgress differs from the model's.
    let copy = Op::Copy { src: a(3), dest: b(0) };
    let state = abstract_state(&universe, &zombie).unwrap();
    let forgotten = state.replace(" zombie ", " cnode ");
    assert_ne!(forgotten, state, "the abstraction names the zombie");
    let model = coq.step(&forgotten, &op_line(&universe, &zombie, &copy).unwrap()).unwrap();
    assert!(model.starts_with("state\n"), "{model}");
    let model = coq.step(&state, &op_line(&universe, &zombie, &copy).unwrap()).unwrap();
    assert_eq!(model, observe(&universe, Err(DeletionInProgress)).unwrap());
    assert_ne!(model, observe(&universe, Err(FailedLookup)).unwrap());
}

#[test]
fn chains_of_zombies_are_compared() {
    // A 2-slot CNode N retyped into A3 and a second one, M, into N's slot 1: the second unit
    // of a deletion of A3 meets the last capability to M and starts M's deletion inside N's.
    // The kernel then has M's zombie (the head) in A3 and N's inside N, the model
    // (`Kernel.v`'s `kunit_in`) N's zombie in A3 and M's, part of N's deletion, in N1; the
    // abstraction moves the kernel's back (`refinement::unswapped`). Every unit is compared
    // until both CNodes are gone. Then a deletion met inside another (adopted): M's deletion
    // started from a slot of B, then B's capability deleted unit by unit.
    use tileos_kernel::cap::Cap;
    use tileos_kernel::cspace::slot_address;
    use tileos_model_checker::explore::{Outcome, apply};
    use tileos_model_checker::memory::Memory;
    use tileos_model_checker::op::Op;
    let universe = Universe::standard().without_thread();
    let (a, b) = (|i| universe.cnodes[0].slot(i), |i| universe.cnodes[1].slot(i));
    let mut coq = CoqStep::start(&driver()).unwrap();
    let mut compare = |memory: &Memory, op: Op| -> Memory {
        let Ok(Outcome::Applied(after, _)) = apply(&universe, memory, &universe.addressable_slots(memory), &op) else {
            panic!("{} was not applied", op.describe(&universe))
        };
        let model = coq.step(&abstract_state(&universe, memory).unwrap(), &op_line(&universe, memory, &op).unwrap()).unwrap();
        let model = restrict_to_kernel_parents(&model, Some(&after)).unwrap();
        assert_eq!(model, observe(&universe, Ok(&after)).unwrap(), "{}", op.describe(&universe));
        after
    };
    let chain = |memory: &Memory| memory.occupied().any(|(_, slot)| matches!(slot.cap, Cap::Zombie { top: false, .. }));
    let made = compare(&universe.initial_state(), Op::Retype { untyped: a(0), object: 1, dest: a(3) });
    let Cap::CNode { paddr: n, .. } = made.cap(a(3)) else { panic!("no CNode in A3") };
    let mut now = compare(&made, Op::Retype { untyped: a(0), object: 1, dest: slot_address(n, 1) });
    let mut chained = 0;
    for _ in 0..8 {
        now = compare(&now, Op::DeleteStep { slot: a(3) });
        chained += usize::from(chain(&now));
    }
    assert_eq!(now.cap(a(3)), Cap::Null, "both CNodes gone after 8 units");
    assert_eq!(chained, 3, "M's deletion ran inside N's for three units");
    // Adoption: M retyped into B0 and its deletion started there (a zombie in B0, the head of
    // its own deletion); B's deletion from A2 meets it at B0.
    let m = compare(&universe.initial_state(), Op::Retype { untyped: a(0), object: 1, dest: b(0) });
    let mut now = compare(&m, Op::DeleteStep { slot: b(0) });
    assert!(matches!(now.cap(b(0)), Cap::Zombie { top: true, .. }));
    let mut adopted = false;
    for _ in 0..16 {
        if now.cap(a(2)) == Cap::Null {
            break;
        }
        now = compare(&now, Op::DeleteStep { slot: a(2) });
        adopted |= chain(&now);
    }
    assert_eq!(now.cap(a(2)), Cap::Null, "B gone");
    assert!(adopted, "B's deletion adopted M's");
}

/// The universe with the paging structures in the thread's reach (`Universe::tables`):
/// paging-structure map and unmap (`KernelMap.v`'s `KMapTable`, `KUnmapTable`) and frame
/// map and unmap drawn among the CNode operations, compared after every operation with the
/// structures entered in the address space (from the page tables), the frame mappings, and
/// the mapping each frame and paging-structure capability records.
#[test]
fn the_kernel_refines_the_coq_model_on_paging_structure_mappings() {
    // 8 seeds x 300 operations (each twice) unless told otherwise: every hand-made mutant of
    // the two operations docs/model-checker.md lists but one (which no state here can show)
    // fails at this size, in about 0.2 s.
    // As the frames universe: twice the steps per seed, each seed without and with one-unit
    // deletions.
    let tally = run_mapping_universe("tables", Universe::tables(), 150);
    for kind in ["MapTable", "UnmapTable", "MapFrame", "UnmapFrame", "Copy"] {
        assert!(tally.applied.get(kind).copied().unwrap_or(0) > 0, "no {kind} was applied: {tally:?}");
    }
    for code in ["RevokeFirst", "DeleteFirst", "FailedLookup", "InvalidCapability", "InvalidArgument", "IllegalOperation"] {
        assert!(tally.refused.get(code).copied().unwrap_or(0) > 0, "no refusal with {code}: {tally:?}");
    }
}

/// Each result of a paging-structure map and unmap, in a fixed sequence from
/// `Universe::tables` through every code of the two operations (and of a copy of an
/// unmapped structure), equals the model's (`KernelMap.v`), and the comparison sees what
/// they do: the structures entered, the frame mappings under them and every capability's
/// record.
#[test]
fn paging_structure_map_results_and_codes_are_compared() {
    use tileos_abi::error::InvocationError::{self, *};
    use tileos_kernel::vspace::USER_TOP;
    use tileos_model_checker::memory::Memory;
    use tileos_model_checker::op::Op;
    use tileos_model_checker::universe::{CNODE_A, CNODE_B, PAGE_DIRECTORY, PAGE_TABLE, PAGE_TABLE_2, PML4};
    let universe = Universe::tables();
    let (a, b) = (|i| universe.cnodes[0].slot(i), |i| universe.cnodes[1].slot(i));
    let mut coq = CoqStep::start(&driver()).unwrap();
    let mut memory = universe.initial_state();
    let map = |table, vspace, vaddr| Op::MapTable { table, vspace, vaddr };
    let unmap = |table| Op::UnmapTable { table };
    let step = |memory: &Memory, coq: &mut CoqStep, op: &Op| kernel_and_model(&universe, coq, memory, op);
    // (operation, the kernel's code or None for success, lines the kernel's state has after
    // it, lines it has not)
    let entered = |level: u32, region: u64, table: u64| format!("table {PML4} {level} {region} {table}");
    type Case = (Op, Option<InvocationError>, Vec<String>, Vec<String>);
    let sequence: Vec<Case> = vec![
        // A7's page table for the second 2 MiB (0x20_1000 rounded down to 0x20_0000).
        (map(a(7), a(3), 0x20_1000), None, vec![entered(1, 1, PAGE_TABLE_2), format!("trec {CNODE_A} 7 1 2097152")], vec![]),
        (map(b(0), a(3), 0x20_0000), Some(FailedLookup), vec![], vec![]), // invoked slot empty
        (map(a(1), a(3), 0x20_0000), Some(IllegalOperation), vec![], vec![]), // an endpoint
        (map(a(3), a(3), 0x20_0000), Some(IllegalOperation), vec![], vec![]), // a PML4: no methods
        (map(b(1), a(3), 0x20_0000), Some(IllegalOperation), vec![], vec![]), // a frame
        (map(a(7), b(0), 0), Some(FailedLookup), vec![], vec![]),         // address-space slot empty
        (map(a(7), a(1), 0), Some(InvalidCapability), vec![], vec![]),    // not a PML4
        (map(a(7), a(3), 0x4000_0000), Some(IllegalOperation), vec![], vec![]), // mapped already
        (unmap(a(7)), None, vec![], vec![entered(1, 1, PAGE_TABLE_2), format!("trec {CNODE_A} 7")]),
        (map(a(7), a(3), USER_TOP), Some(InvalidArgument), vec![], vec![]),
        (map(a(7), a(3), 0x4000_0000), Some(FailedLookup), vec![], vec![]), // no page directory there
        (map(a(7), a(3), 0), Some(DeleteFirst), vec![], vec![]),            // A6's page table is there
        (Op::Copy { src: a(7), dest: b(0) }, Some(IllegalOperation), vec![], vec![]), // unmapped: not derivable
        (Op::Copy { src: a(6), dest: b(0) }, None, vec![format!("trec {CNODE_B} 0 1 0")], vec![]), // keeps the mapping
        (unmap(a(6)), Some(RevokeFirst), vec![], vec![]),                   // B0 holds another capability to it
        (unmap(a(7)), None, vec![], vec![]),                                // unmapped: nothing to do
        (Op::Delete { slot: b(0) }, None, vec![entered(1, 0, PAGE_TABLE)], vec![]), // not the last: no unmap
        // The page directory unmapped: the page table under it and the frame mapped at 0
        // leave the address space; their capabilities keep their records.
        (
            unmap(a(5)),
            None,
            vec![format!("trec {CNODE_A} 6 1 0"), "rec ".into()],
            vec![entered(2, 0, PAGE_DIRECTORY), entered(1, 0, PAGE_TABLE), "map ".into(), format!("trec {CNODE_A} 5")],
        ),
        (map(a(6), a(3), 0x4000_0000), Some(IllegalOperation), vec![], vec![]), // still records 0
        (unmap(a(6)), None, vec![], vec![format!("trec {CNODE_A} 6")]),
        (map(a(5), a(3), 0x4000_0000), None, vec![entered(2, 1, PAGE_DIRECTORY)], vec![]),
        (map(a(6), a(3), 0x4000_0000), None, vec![entered(1, 512, PAGE_TABLE)], vec![]),
        (Op::MapFrame { frame: b(1), vspace: a(3), vaddr: 0x4000_0000 }, None, vec!["map ".into()], vec![]),
        // Deleting the only capability to the page directory unmaps it: the page table and
        // the frame under it leave the address space.
        (Op::Delete { slot: a(5) }, None, vec![format!("rec {CNODE_B} 1 1 1073741824")], vec![entered(1, 512, PAGE_TABLE), "map ".into()]),
        (unmap(a(3)), Some(IllegalOperation), vec![], vec![]), // a PML4
        (unmap(b(3)), Some(FailedLookup), vec![], vec![]),
        (unmap(a(1)), Some(IllegalOperation), vec![], vec![]),
    ];
    for (op, code, present, absent) in sequence {
        let (kernel, model) = step(&memory, &mut coq, &op);
        assert_eq!(kernel.as_ref().err(), code.as_ref(), "{op:?}");
        let observed = observe(&universe, kernel.as_ref().map_err(|e| *e)).unwrap();
        assert_eq!(restrict_to_kernel_parents(&model, kernel.as_ref().ok()).unwrap(), observed, "{op:?}");
        for line in present {
            assert!(observed.lines().any(|l| l.starts_with(&line)), "{op:?}: no line {line:?} in\n{observed}");
        }
        for line in absent {
            assert!(!observed.lines().any(|l| l.starts_with(&line)), "{op:?}: line {line:?} in\n{observed}");
        }
        if let Ok(after) = kernel {
            memory = after;
        }
    }
    // A zombie invoked: one unit of B's deletion leaves one in A2.
    let (kernel, model) = step(&memory, &mut coq, &Op::DeleteStep { slot: a(2) });
    let zombie = kernel.expect("one unit of B's deletion");
    assert_eq!(restrict_to_kernel_parents(&model, Some(&zombie)).unwrap(), observe(&universe, Ok(&zombie)).unwrap());
    assert!(matches!(zombie.cap(a(2)), tileos_kernel::cap::Cap::Zombie { .. }), "{:?}", zombie.cap(a(2)));
    for (op, code) in
        [(map(a(2), a(3), 0x20_0000), DeletionInProgress), (unmap(a(2)), DeletionInProgress), (map(a(7), a(2), 0), InvalidCapability)]
    {
        let (kernel, model) = step(&zombie, &mut coq, &op);
        assert_eq!(kernel.as_ref().err(), Some(&code), "{op:?}");
        assert_eq!(model, format!("none {code:?}\n"), "{op:?}");
    }
}
