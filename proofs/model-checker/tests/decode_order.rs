//! The order of checks, tied to the kernel's source.
//!
//! Which error a refused invocation gets depends on the order in which the kernel checks its
//! arguments (`kernel/src/invoke/cnode.rs`, `kernel/src/invoke/untyped.rs`,
//! `kernel/src/invoke/vspace.rs`; for FrameMap also the library's `vspace::map_frame`, whose
//! order the Coq model's `KernelMap.kmap_frame` restates, and for PagingStructureMap and
//! PagingStructureUnmap `vspace::map_table` and `vspace::unmap_structure`, restated by
//! `KernelMap.kmap_table` and `KernelMap.kunmap_table`). That code is in
//! the kernel binary, which host tests cannot run, so the model checker's decoder
//! (`src/op.rs`, `decode`) and the Coq model's `kerror_of` (`proofs/coq/KernelErrors.v`)
//! each restate it, and the refinement test compares only those two. Nothing ran the
//! kernel's own order: when the decoder and the model agreed on an order the kernel does not
//! have, the refinement test passed (it did, for copy, mint, move and mutate, until
//! 2026-12-05: the kernel checks the source before the destination's emptiness).
//!
//! [`ORDER`] lists, per method, the checks in the kernel's order, each with the source text
//! that makes it in each of the three places. The test finds each text exactly once in its
//! region of the file (the kernel function or match arm, the decoder's arm, the `kerror_of`
//! case) and requires the positions to increase down the list in all three. Reordering the
//! checks in any of the three, or rewriting one of the texts, fails it, and the table and
//! the code are then re-read together. This is a check of the source text, not of behaviour:
//! it does not see a check made through a helper the table does not name, and a check the
//! table leaves out (on one side, `None`) is not ordered.

use std::path::Path;

/// Where a method's checks are in one file: the region from `start` to the first `end`
/// after it.
struct Region {
    file: &'static str,
    start: &'static str,
    end: &'static str,
}

/// One check, with the text that makes it in the kernel, the model checker's decoder and
/// `kerror_of` (`None`: that side does not make it, with the reason in the table).
struct Check {
    name: &'static str,
    kernel: Option<&'static str>,
    checker: Option<&'static str>,
    coq: Option<&'static str>,
}

/// A method's regions and its checks in the kernel's order.
struct Method {
    name: &'static str,
    kernel: Region,
    checker: Region,
    coq: Region,
    checks: &'static [Check],
}

const CNODE: &str = "kernel/src/invoke/cnode.rs";
const UNTYPED: &str = "kernel/src/invoke/untyped.rs";
const DECODER: &str = "proofs/model-checker/src/op.rs";
const COQ: &str = "proofs/coq/KernelErrors.v";
const VSPACE_INVOKE: &str = "kernel/src/invoke/vspace.rs";
const VSPACE: &str = "kernel/src/vspace.rs";
const COQ_MAP: &str = "proofs/coq/KernelMap.v";
/// `KernelMap.v`'s FrameMap, from its definition to the next one.
const COQ_MAP_FRAME: Region = Region { file: COQ_MAP, start: "Definition kmap_frame", end: "Definition kunmap_frame" };
/// `KernelMap.v`'s PagingStructureMap and PagingStructureUnmap.
const COQ_MAP_TABLE: Region = Region { file: COQ_MAP, start: "Definition kmap_table", end: "Definition unmap_table" };
const COQ_UNMAP_TABLE: Region = Region { file: COQ_MAP, start: "Definition kunmap_table", end: "Definition kmstep" };
/// The decoder's PagingStructureMap and PagingStructureUnmap arms.
const CHECKER_MAP_TABLE: Region =
    Region { file: DECODER, start: "abi::Invocation::PagingStructureMap(map) => {", end: "abi::Invocation::PagingStructureUnmap" };
const CHECKER_UNMAP_TABLE: Region =
    Region { file: DECODER, start: "abi::Invocation::PagingStructureUnmap(_) => {", end: "Ok(Invocation::UnmapTable(table))" };
/// The decoder's FrameMap arm.
const CHECKER_MAP_FRAME: Region =
    Region { file: DECODER, start: "abi::Invocation::FrameMap(map) => {", end: "abi::Invocation::FrameUnmap" };

const fn check(name: &'static str, kernel: Option<&'static str>, checker: Option<&'static str>, coq: Option<&'static str>) -> Check {
    Check { name, kernel, checker, coq }
}

/// The address space's checks of FrameMap and PagingStructureMap (`invoke/vspace.rs`'s
/// `target`, shared by both methods), in the kernel's order.
const ADDRESS_SPACE_CHECKS: &[Check] = &[
    check("looked up", Some("call.lookup(vspace)?"), Some("lookup(SlotRef(map.vspace.0))?"), Some("negb (usable st t vs)")),
    check(
        "a PML4",
        Some("Cap::Pml4 { paddr, asid } => Ok(Target::VSpace"),
        Some("Cap::Pml4 { paddr, asid } => VSpace"),
        Some("otype_eqb (c_type (e_cap xv)) PageTableObj"),
    ),
    check(
        "else InvalidCapability",
        Some("_ => Err(super::wrong_cap(0))"),
        Some("InvocationError::InvalidCapability"),
        Some("KMFail KInvalidCapability"),
    ),
];

const COPY_CHECKS: &[Check] = &[
    check("destination lookup", Some("let dest = own_slot(call, dest, false)?;"), Some("lookup(dest)?;"), Some("lookup_error st t dst")),
    check(
        "source found and occupied",
        Some("let src = source_slot(call, root, src)?;"),
        Some("let parent = source(src)?;"),
        Some("source_error st t src"),
    ),
    check("destination empty", Some("ensure_empty(dest)?;"), Some("empty(dest)?;"), Some("empty_error st dst")),
    check("derivable", Some("cap::derive(&source_cap, mint)"), Some("cap::derive(&parent, mint)"), Some("derive (e_cap x)")),
];

/// The methods whose order the refinement test compares.
const ORDER: &[Method] = &[
    Method {
        name: "CNodeCopy",
        kernel: Region { file: CNODE, start: "fn derive_into(", end: "\n}\n" },
        checker: Region { file: DECODER, start: "fn derive_into(", end: "\n}\n" },
        coq: Region { file: COQ, start: "| KCopy t src dst =>", end: "| KMint" },
        checks: COPY_CHECKS,
    },
    Method {
        name: "CNodeMint",
        kernel: Region { file: CNODE, start: "fn derive_into(", end: "\n}\n" },
        checker: Region { file: DECODER, start: "fn derive_into(", end: "\n}\n" },
        coq: Region { file: COQ, start: "| KMint t src dst r b =>", end: "| KMove" },
        checks: &[
            check(
                "destination lookup",
                Some("let dest = own_slot(call, dest, false)?;"),
                Some("lookup(dest)?;"),
                Some("lookup_error st t dst"),
            ),
            check(
                "source found and occupied",
                Some("let src = source_slot(call, root, src)?;"),
                Some("let parent = source(src)?;"),
                Some("source_error st t src"),
            ),
            check("destination empty", Some("ensure_empty(dest)?;"), Some("empty(dest)?;"), Some("empty_error st dst")),
            check("derivable", Some("cap::derive(&source_cap, mint)"), Some("cap::derive(&parent, mint)"), Some("derive (e_cap x) r b")),
        ],
    },
    Method {
        name: "CNodeMove",
        kernel: Region { file: CNODE, start: "fn move_into(", end: "\n}\n" },
        checker: Region { file: DECODER, start: "abi::Invocation::CNodeMove(moved) => {", end: "abi::Invocation::CNodeMutate" },
        coq: Region { file: COQ, start: "| KMove t src dst =>", end: "| KMutate" },
        checks: &[
            check(
                "destination lookup",
                Some("let dest = own_slot(call, dest, false)?;"),
                Some("lookup(dest)?;"),
                Some("lookup_error st t dst"),
            ),
            check(
                "source found and occupied",
                Some("let src = source_slot(call, root, src)?;"),
                Some("let cap = source(src)?;"),
                Some("source_error st t src"),
            ),
            check("destination empty", Some("ensure_empty(dest)?;"), Some("empty(dest)?;"), Some("empty_error st dst")),
        ],
    },
    Method {
        name: "CNodeMutate",
        kernel: Region { file: CNODE, start: "fn move_into(", end: "\n}\n" },
        checker: Region { file: DECODER, start: "abi::Invocation::CNodeMutate(mutate) => {", end: "abi::Invocation::CNodeRotate" },
        coq: Region { file: COQ, start: "| KMutate t src dst data =>", end: "| KRotate" },
        checks: &[
            check(
                "destination lookup",
                Some("let dest = own_slot(call, dest, false)?;"),
                Some("lookup(dest)?;"),
                Some("lookup_error st t dst"),
            ),
            check(
                "source found and occupied",
                Some("let src = source_slot(call, root, src)?;"),
                Some("let old = source(src)?;"),
                Some("source_error st t src"),
            ),
            check("destination empty", Some("ensure_empty(dest)?;"), Some("empty(dest)?;"), Some("empty_error st dst")),
            check(
                "data acceptable",
                Some("cap::mutate(source_cap, data)"),
                Some("cap::mutate(old, mutate.data)"),
                Some("kmutate (e_cap x) data"),
            ),
        ],
    },
    Method {
        name: "CNodeRotate",
        kernel: Region { file: CNODE, start: "Invocation::CNodeRotate(rotate) => {", end: "Invocation::CNodeSaveCaller" },
        checker: Region { file: DECODER, start: "abi::Invocation::CNodeRotate(rotate) => {", end: "abi::Invocation::CNodeDelete" },
        coq: Region { file: COQ, start: "| KRotate t src piv dst =>", end: "| KDelete" },
        checks: &[
            check("destination lookup", Some("own_slot(call, rotate.dest, false)?"), Some("lookup(dest)?;"), Some("lookup_error st t dst")),
            // The model's source_error is a slot's lookup and occupancy together (both
            // FailedLookup), so for it these two rows are one check per slot, pivot first.
            check("pivot lookup", Some("own_slot(call, rotate.pivot, true)?"), Some("lookup(pivot)?"), Some("source_error st t piv")),
            check("source lookup", Some("own_slot(call, rotate.src, true)?"), Some("lookup(src)?"), Some("source_error st t src")),
            check("pivot and source occupied", Some("if memory.read(pivot).cap == Cap::Null"), Some("if pivot_cap == Cap::Null"), None),
            // The Coq model's zombies (`Kernel.v`, preempted deletion): pivot, then source.
            check(
                "neither a zombie",
                Some("if matches!(memory.read(pivot).cap, Cap::Zombie"),
                Some("if matches!(pivot_cap, Cap::Zombie"),
                Some("zombie_error st piv"),
            ),
            check(
                "pivot distinct",
                Some("if pivot == src || pivot == dest"),
                Some("if pivot == src || pivot == dest"),
                Some("slot_eqb piv src || slot_eqb piv dst"),
            ),
            check("swap or destination empty", Some("ensure_empty(dest)?;"), Some("empty(dest)?;"), Some("dest_error st t dst")),
        ],
    },
    Method {
        name: "UntypedRetype",
        kernel: Region { file: UNTYPED, start: "pub fn invoke(", end: "\n}\n" },
        checker: Region {
            file: DECODER,
            start: "abi::Invocation::UntypedRetype(retype) => {",
            end: "abi::Invocation::IoSpaceControlIssue",
        },
        coq: Region { file: COQ, start: "| KRetype t ut ty size dsts =>", end: "| KSend" },
        checks: &[
            check(
                "invoked capability an untyped",
                Some("let Cap::Untyped {"),
                Some("let Cap::Untyped {"),
                Some("otype_eqb (c_type (e_cap x)) Untyped"),
            ),
            // The model checker skips capability-pointer resolution, and the Coq model has no
            // root argument: the lookup of the root (extra capability 0) is the kernel's only.
            check("root CNode lookup", Some("call.lookup(retype.root)?"), None, None),
            check(
                "destination CNode found",
                Some("let Cap::CNode { paddr: node_paddr, radix, .. } = node else"),
                Some("universe.live_cnodes(memory)"),
                Some("negb (dest_node_ok st t d)"),
            ),
            check(
                "destination indices in the CNode",
                Some("if offset >= slots || count > slots - offset"),
                Some("if offset >= slots || count > slots - offset"),
                Some("negb (usable st t d)"),
            ),
            check("sizes and count in range", Some("untyped::plan("), Some("untyped::plan("), Some("retype_ok ty size (length dsts)")),
            check("room for all the objects", Some("untyped::plan("), Some("untyped::plan("), Some("length dsts * size <=? o_size u")),
            check(
                "every destination empty",
                Some("ensure_empty(slot_address(node_paddr, offset + index))?"),
                Some("empty(at)?"),
                Some("negb (kempty st d)"),
            ),
        ],
    },
    // FrameMap (`KernelMap.v`). The invoked frame's lookup and type are the system call's
    // and the kernel's decoder's, which the model checker runs (not restated): not listed.
    // The address space first, then `vspace::map_frame`'s checks.
    Method {
        name: "FrameMap",
        kernel: Region { file: VSPACE_INVOKE, start: "Invocation::FrameMap(map)) => {", end: "Invocation::FrameUnmap" },
        checker: CHECKER_MAP_FRAME,
        coq: COQ_MAP_FRAME,
        checks: &[
            check(
                "address space",
                Some("target(call, map.vspace)?"),
                Some("lookup(SlotRef(map.vspace.0))?"),
                Some("negb (usable st t vs)"),
            ),
            check(
                "map_frame's checks",
                Some("mapping::map_frame(&mut KernelPaging, vspace, request)"),
                Some("vspace::map_frame(&mut tables, target, request)"),
                Some("negb (aligned va)"),
            ),
        ],
    },
    Method {
        name: "FrameMap address space",
        kernel: Region { file: VSPACE_INVOKE, start: "fn target(", end: "\n}\n" },
        checker: CHECKER_MAP_FRAME,
        coq: COQ_MAP_FRAME,
        checks: ADDRESS_SPACE_CHECKS,
    },
    // The decoder runs the kernel library's own `map_frame` (on a copy of the tables), so
    // it restates none of these; the Coq model does.
    Method {
        name: "map_frame",
        kernel: Region { file: VSPACE, start: "pub fn map_frame(", end: "\n}\n" },
        checker: CHECKER_MAP_FRAME,
        coq: COQ_MAP_FRAME,
        checks: &[
            check("aligned", Some("if vaddr % size != 0"), None, Some("negb (aligned va)")),
            check("in the user half", Some("end > USER_TOP"), None, Some("negb (in_user_half va)")),
            check("not mapped elsewhere", Some("if remap && mapping != target"), None, Some("negb ((a' =? a) && (va' =? va))")),
            check("read right", Some("if !effective.contains(Rights::READ)"), None, Some("negb (r_read (c_rights (e_cap xf)))")),
            check("a page table covers it", Some(".ok_or(MapError::MissingTable)?"), None, Some("negb (covered s v va)")),
            check(
                "entry free, or this frame's re-map",
                Some("if old & PRESENT != 0 && !(remap && holds_frame(old, paddr, level))"),
                None,
                Some("KMFail (KMErr KDeleteFirst)"),
            ),
        ],
    },
    // PagingStructureMap (`KernelMap.v`'s `kmap_table`): as FrameMap, the invoked
    // capability's lookup and type are the system call's and the decoder's (not listed);
    // the address space first, then `vspace::map_table`'s checks.
    Method {
        name: "PagingStructureMap",
        kernel: Region { file: VSPACE_INVOKE, start: "Invocation::PagingStructureMap(map)) => {", end: "Invocation::PagingStructureUnmap" },
        checker: CHECKER_MAP_TABLE,
        coq: COQ_MAP_TABLE,
        checks: &[
            check(
                "address space",
                Some("target(call, map.vspace)?"),
                Some("lookup(SlotRef(map.vspace.0))?"),
                Some("negb (usable st t vs)"),
            ),
            check(
                "map_table's checks",
                Some("mapping::map_table(&mut KernelPaging, vspace, paddr, level, mapping, vaddr)"),
                Some("vspace::map_table(&mut tables, target, paddr, level, mapping, map.vaddr)"),
                Some("match trec_of s (e_node xt) with"),
            ),
        ],
    },
    Method {
        name: "PagingStructureMap address space",
        kernel: Region { file: VSPACE_INVOKE, start: "fn target(", end: "\n}\n" },
        checker: CHECKER_MAP_TABLE,
        coq: COQ_MAP_TABLE,
        checks: ADDRESS_SPACE_CHECKS,
    },
    // The decoder runs the kernel library's own `map_table` (on a copy of the tables); the
    // Coq model restates its checks.
    Method {
        name: "map_table",
        kernel: Region { file: VSPACE, start: "pub fn map_table(", end: "\n}\n" },
        checker: CHECKER_MAP_TABLE,
        coq: COQ_MAP_TABLE,
        checks: &[
            check("not mapped already", Some("if mapping.is_mapped()"), None, Some("| Some _ => KMFail (KMErr KIllegalOperation)")),
            check("in the user half", Some("if vaddr >= USER_TOP"), None, Some("negb (va <? user_top)")),
            check("the table of the level above", Some(".ok_or(MapError::MissingTable)?"), None, Some("negb (parent_found s v l va)")),
            check("entry free", Some("if memory.entry(parent, slot) & PRESENT != 0"), None, Some("KMFail (KMErr KDeleteFirst)")),
        ],
    },
    // PagingStructureUnmap: only a mapped capability is looked at, then whether it is the
    // last to its structure (`vspace::unmap_structure`, given `cspace::is_final`).
    Method {
        name: "PagingStructureUnmap",
        kernel: Region { file: VSPACE, start: "pub fn unmap_structure(", end: "\n}\n" },
        checker: CHECKER_UNMAP_TABLE,
        coq: COQ_UNMAP_TABLE,
        checks: &[
            check(
                "mapped",
                Some("Cap::PagingTable { paddr, level, mapping } if mapping.is_mapped()"),
                Some("mapping.is_mapped()"),
                Some("match trec_of s (e_node xt) with"),
            ),
            check(
                "the last capability",
                Some("if !is_final"),
                Some("!cspace::is_final(memory, table)"),
                Some("if shared st xt then KMFail KRevokeFirst"),
            ),
        ],
    },
];

fn read(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The text of `region`: from its start marker (found exactly once) to the end marker.
fn region(region: &Region) -> Result<String, String> {
    let text = read(region.file);
    let starts = text.matches(region.start).count();
    if starts != 1 {
        return Err(format!("{}: the start marker {:?} occurs {starts} times, not once", region.file, region.start));
    }
    let from = text.find(region.start).unwrap();
    let to = text[from..].find(region.end).map_or(text.len(), |i| from + i);
    Ok(text[from..to].to_string())
}

/// Where each check of `checks` is in `region` (its text found exactly once; one text may
/// make two consecutive checks, as `untyped::plan` does), or why it cannot be placed. Only
/// checks with a text on this side are placed.
fn positions(name: &str, side: &str, region: &Region, texts: &[(&str, Option<&str>)]) -> Result<Vec<(String, usize)>, String> {
    let body = self::region(region)?;
    let mut placed: Vec<(String, usize)> = Vec::new();
    for &(check, text) in texts {
        let Some(text) = text else { continue };
        let count = body.matches(text).count();
        if count != 1 {
            return Err(format!("{name}, {side} ({}): {check:?}: {text:?} occurs {count} times in the region, not once", region.file));
        }
        placed.push((check.to_string(), body.find(text).unwrap()));
    }
    for pair in placed.windows(2) {
        if pair[1].1 < pair[0].1 {
            return Err(format!(
                "{name}, {side} ({}): {:?} comes before {:?}, against the kernel's order in the table",
                region.file, pair[1].0, pair[0].0
            ));
        }
    }
    Ok(placed)
}

/// Every method's checks, in all three places; the first failure, if any.
fn check_all(order: &[Method]) -> Result<usize, String> {
    let mut placed = 0;
    for method in order {
        let side = |f: fn(&Check) -> Option<&'static str>| method.checks.iter().map(|c| (c.name, f(c))).collect::<Vec<_>>();
        placed += positions(method.name, "kernel", &method.kernel, &side(|c| c.kernel))?.len();
        placed += positions(method.name, "model checker", &method.checker, &side(|c| c.checker))?.len();
        placed += positions(method.name, "Coq kerror_of", &method.coq, &side(|c| c.coq))?.len();
    }
    Ok(placed)
}

#[test]
fn the_decoder_and_the_model_check_in_the_kernels_order() {
    let placed = check_all(ORDER).unwrap_or_else(|e| panic!("{e}"));
    // 13 methods, 51 checks, placed in all three files but for the 13 places with no text
    // (10 of them map_frame's and map_table's in the decoder, which runs the kernel's own).
    assert_eq!(placed, 140, "checks placed");
}

#[test]
fn an_order_other_than_the_kernels_is_refused() {
    // The table with copy's source and emptiness rows swapped: the kernel's own text (and the
    // decoder's and the model's) then runs against it, and the check says where.
    let swapped = [
        check(
            "destination lookup",
            Some("let dest = own_slot(call, dest, false)?;"),
            Some("lookup(dest)?;"),
            Some("lookup_error st t dst"),
        ),
        check("destination empty", Some("ensure_empty(dest)?;"), Some("empty(dest)?;"), Some("empty_error st dst")),
        check(
            "source found and occupied",
            Some("let src = source_slot(call, root, src)?;"),
            Some("let parent = source(src)?;"),
            Some("source_error st t src"),
        ),
    ];
    let copy = |checks: &'static [Check]| Method {
        name: "CNodeCopy",
        kernel: Region { file: CNODE, start: "fn derive_into(", end: "\n}\n" },
        checker: Region { file: DECODER, start: "fn derive_into(", end: "\n}\n" },
        coq: Region { file: COQ, start: "| KCopy t src dst =>", end: "| KMint" },
        checks,
    };
    let error = check_all(&[copy(Box::leak(Box::new(swapped)))]).expect_err("the swapped order was accepted");
    assert!(error.contains("kernel") && error.contains("\"source found and occupied\" comes before \"destination empty\""), "{error}");
    // A text that is not in its region (a renamed helper) is reported, not skipped.
    let renamed = [check("destination empty", Some("ensure_vacant(dest)?;"), None, None)];
    assert!(check_all(&[copy(Box::leak(Box::new(renamed)))]).expect_err("a missing text was accepted").contains("occurs 0 times"));
}
