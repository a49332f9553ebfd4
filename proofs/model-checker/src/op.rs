//! Operations and their decoding, done the way the kernel's CNode and Untyped invocations
//! do it (seL4's `decodeCNodeInvocation` / `decodeUntypedInvocation`): every argument is
//! checked first, against a shared reference to the state, so a rejected operation cannot
//! change anything; only an accepted one is then carried out, by the kernel's own CDT code.
//!
//! An operation is first encoded as the message user space sends ([`Op::invocation`], the
//! ABI's typed invocation) and decoded by the kernel's own decoder
//! (`tileos_kernel::decode`: label, capability type, argument layout and their errors); the
//! checks against the state below then read the decoded arguments, not the operation.

use crate::memory::Memory;
use crate::universe::Universe;
use crate::work::{self, Entry};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::{self as abi, CPtr, Slot};
use tileos_abi::object::{ObjectType, Rights, SLOT_SIZE_BITS};
use tileos_kernel::cap::{self, Cap, DeriveError, Mapping, MintParams, TableLevel};
use tileos_kernel::cspace::{self, CSpaceMemory, SlotRef};
use tileos_kernel::decode::{self as kernel_decode, Message};
use tileos_kernel::untyped::{self, RetypeError, UntypedState};
use tileos_kernel::vspace::{self, FrameMap, MapError, VSpace};

/// One operation a thread holding the fixed CNodes could invoke. Slot arguments are slot
/// addresses (the model skips capability-pointer resolution); indices name an entry of the
/// universe's parameter lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// CNode Copy with an all-rights mask: derive a copy of `src` into the empty slot
    /// `dest`. (A copy with a narrower mask is decoded exactly like a mint with data 0.)
    Copy {
        /// Source slot.
        src: SlotRef,
        /// Destination slot.
        dest: SlotRef,
    },
    /// CNode Mint: derive a copy with `Universe::mints[params]` applied.
    Mint {
        /// Source slot.
        src: SlotRef,
        /// Destination slot.
        dest: SlotRef,
        /// Index into [`Universe::mints`].
        params: usize,
    },
    /// CNode Move: move the capability, keeping its derivation-tree position.
    Move {
        /// Source slot.
        src: SlotRef,
        /// Destination slot.
        dest: SlotRef,
    },
    /// CNode Mutate: move, applying `Universe::mutate_data[data]` as badge or guard.
    Mutate {
        /// Source slot.
        src: SlotRef,
        /// Destination slot.
        dest: SlotRef,
        /// Index into [`Universe::mutate_data`].
        data: usize,
    },
    /// CNode Rotate: `pivot` → `dest`, then `src` → `pivot`; with `dest == src` it swaps
    /// `src` and `pivot`.
    Rotate {
        /// Capability that ends in `pivot`.
        src: SlotRef,
        /// Middle slot.
        pivot: SlotRef,
        /// Where the pivot's capability goes.
        dest: SlotRef,
    },
    /// CNode Delete.
    Delete {
        /// Slot emptied.
        slot: SlotRef,
    },
    /// CNode Revoke: delete every descendant.
    Revoke {
        /// Slot whose descendants go.
        slot: SlotRef,
    },
    /// The first kernel entry of a CNode Delete preempted after one unit of work
    /// (`cspace::delete_step` with a budget of 1): what a preempted delete leaves for other
    /// operations to meet before it is repeated.
    DeleteStep {
        /// Slot being emptied.
        slot: SlotRef,
    },
    /// The first kernel entry of a CNode Revoke preempted after one unit of work.
    RevokeStep {
        /// Slot whose descendants go.
        slot: SlotRef,
    },
    /// IoSpaceControlIssue: the IOSpace of `Universe::io_devices[device]` from the IOSpace
    /// control in `control` into `dest` (`crate::iospace`).
    IssueIoSpace {
        /// Slot of the IOSpace control capability (the invoked one).
        control: SlotRef,
        /// Index into [`Universe::io_devices`].
        device: usize,
        /// Destination slot.
        dest: SlotRef,
    },
    /// Untyped Retype of one object.
    Retype {
        /// Slot of the untyped capability.
        untyped: SlotRef,
        /// Index into [`Universe::retypes`].
        object: usize,
        /// Slot receiving the new object's capability.
        dest: SlotRef,
    },
    /// Untyped Retype of `count` objects into slots `offset..offset + count` of the CNode at
    /// `node`, as the kernel names its destinations (a CNode and `node_offset`): the form in
    /// which an index beyond the CNode and a retype of several objects can be put to the
    /// kernel's checks. Not enumerated by [`Op::all`] (the exhaustive runs keep one object
    /// per retype); the refinement test generates it.
    RetypeAt {
        /// Slot of the untyped capability.
        untyped: SlotRef,
        /// Index into [`Universe::retypes`].
        object: usize,
        /// Physical address of the destination CNode.
        node: u64,
        /// Index of the first destination slot in it.
        offset: u64,
        /// Number of objects.
        count: u64,
    },
    /// FrameMap of the frame capability in `frame` (the invoked one) at `vaddr` in the
    /// address space of the PML4 capability in `vspace`, with all rights requested and no
    /// attributes. Not enumerated by [`Op::all`]; the refinement test generates it.
    MapFrame {
        /// Slot of the frame capability.
        frame: SlotRef,
        /// Slot of the PML4 capability (extra capability 0).
        vspace: SlotRef,
        /// Virtual address.
        vaddr: u64,
    },
    /// FrameUnmap of the frame capability in `frame`. Not enumerated by [`Op::all`].
    UnmapFrame {
        /// Slot of the frame capability.
        frame: SlotRef,
    },
    /// PagingStructureMap of the paging-structure capability in `table` (the invoked one)
    /// for the region containing `vaddr` in the address space of the PML4 capability in
    /// `vspace`. Not enumerated by [`Op::all`]; the refinement test generates it.
    MapTable {
        /// Slot of the paging-structure capability.
        table: SlotRef,
        /// Slot of the PML4 capability (extra capability 0).
        vspace: SlotRef,
        /// Virtual address.
        vaddr: u64,
    },
    /// PagingStructureUnmap of the paging-structure capability in `table`. Not enumerated
    /// by [`Op::all`].
    UnmapTable {
        /// Slot of the paging-structure capability.
        table: SlotRef,
    },
}

impl Op {
    /// Every operation over `slots` (the addressable slots of a state), valid or not.
    pub fn all(universe: &Universe, slots: &[SlotRef]) -> Vec<Op> {
        let mut ops = Vec::new();
        for &src in slots {
            ops.push(Op::Delete { slot: src });
            ops.push(Op::Revoke { slot: src });
            ops.push(Op::DeleteStep { slot: src });
            ops.push(Op::RevokeStep { slot: src });
            for &dest in slots {
                for object in 0..universe.retypes.len() {
                    ops.push(Op::Retype { untyped: src, object, dest });
                }
                if dest == src {
                    continue;
                }
                ops.extend((0..universe.io_devices.len()).map(|device| Op::IssueIoSpace { control: src, device, dest }));
                ops.push(Op::Copy { src, dest });
                ops.push(Op::Move { src, dest });
                ops.extend((0..universe.mints.len()).map(|params| Op::Mint { src, dest, params }));
                ops.extend((0..universe.mutate_data.len()).map(|data| Op::Mutate { src, dest, data }));
                for &pivot in slots {
                    if pivot != src {
                        ops.push(Op::Rotate { src, pivot, dest: pivot_dest(dest, pivot, src) });
                    }
                }
            }
        }
        ops
    }

    /// The invocation user space makes for this operation. Slot arguments carry the slot's
    /// address as index, at depth 64 (the model skips capability-pointer resolution, so the
    /// source root is a placeholder); a Retype's destination slot address is its
    /// `node_offset`.
    pub fn invocation(&self, universe: &Universe) -> abi::Invocation {
        const ROOT: CPtr = CPtr(0);
        let at = |slot: SlotRef| Slot::at(slot.0);
        match *self {
            Op::Copy { src, dest } => abi::CNodeCopy { dest: at(dest), src: at(src), rights: Rights::ALL, src_root: ROOT }.into(),
            Op::Mint { src, dest, params } => {
                let MintParams { rights, data } = universe.mints[params];
                abi::CNodeMint { dest: at(dest), src: at(src), rights, badge: data, src_root: ROOT }.into()
            }
            Op::Move { src, dest } => abi::CNodeMove { dest: at(dest), src: at(src), src_root: ROOT }.into(),
            Op::Mutate { src, dest, data } => {
                abi::CNodeMutate { dest: at(dest), src: at(src), data: universe.mutate_data[data], src_root: ROOT }.into()
            }
            Op::Rotate { src, pivot, dest } => abi::CNodeRotate { dest: at(dest), pivot: at(pivot), src: at(src) }.into(),
            Op::Delete { slot } | Op::DeleteStep { slot } => abi::CNodeDelete { slot: at(slot) }.into(),
            Op::Revoke { slot } | Op::RevokeStep { slot } => abi::CNodeRevoke { slot: at(slot) }.into(),
            Op::IssueIoSpace { device, dest, .. } => {
                abi::IoSpaceControlIssue { device: u64::from(universe.io_devices[device]), dest: at(dest) }.into()
            }
            Op::Retype { object, dest, .. } => {
                let (object_type, size_bits) = universe.retypes[object];
                let node = Slot::new(0, 0);
                abi::UntypedRetype { object_type, size_bits: u64::from(size_bits), node, node_offset: dest.0, count: 1, root: ROOT }.into()
            }
            Op::RetypeAt { object, offset, count, .. } => {
                let (object_type, size_bits) = universe.retypes[object];
                let node = Slot::new(0, 0);
                abi::UntypedRetype { object_type, size_bits: u64::from(size_bits), node, node_offset: offset, count, root: ROOT }.into()
            }
            // The PML4 is named by its slot address (the model skips resolution).
            Op::MapFrame { vspace, vaddr, .. } => {
                abi::FrameMap { vaddr, rights: Rights::ALL, attributes: 0, vspace: CPtr(vspace.0) }.into()
            }
            Op::UnmapFrame { .. } => abi::FrameUnmap {}.into(),
            Op::MapTable { vspace, vaddr, .. } => abi::PagingStructureMap { vaddr, vspace: CPtr(vspace.0) }.into(),
            Op::UnmapTable { .. } => abi::PagingStructureUnmap {}.into(),
        }
    }

    /// The operation with slots named as in traces (`Copy A1 -> B0`).
    pub fn describe(&self, universe: &Universe) -> String {
        let name = |at: SlotRef| universe.slot_name(at);
        match *self {
            Op::Copy { src, dest } => format!("Copy {} -> {}", name(src), name(dest)),
            Op::Mint { src, dest, params } => {
                let MintParams { rights, data } = universe.mints[params];
                format!("Mint {} -> {} (rights {:#x}, data {data:#x})", name(src), name(dest), rights.0)
            }
            Op::Move { src, dest } => format!("Move {} -> {}", name(src), name(dest)),
            Op::Mutate { src, dest, data } => {
                format!("Mutate {} -> {} (data {:#x})", name(src), name(dest), universe.mutate_data[data])
            }
            Op::Rotate { src, pivot, dest } if src == dest => format!("Rotate (swap) {} <-> {}", name(src), name(pivot)),
            Op::Rotate { src, pivot, dest } => {
                format!("Rotate {} -> {} -> {}", name(src), name(pivot), name(dest))
            }
            Op::Delete { slot } => format!("Delete {}", name(slot)),
            Op::Revoke { slot } => format!("Revoke {}", name(slot)),
            Op::DeleteStep { slot } => format!("Delete {} (one unit of work)", name(slot)),
            Op::RevokeStep { slot } => format!("Revoke {} (one unit of work)", name(slot)),
            Op::IssueIoSpace { control, device, dest } => {
                format!("IssueIoSpace {} -> {} (device {:#x})", name(control), name(dest), universe.io_devices[device])
            }
            Op::Retype { untyped, object, dest } => {
                let (kind, bits) = universe.retypes[object];
                format!("Retype {} -> {} ({kind:?}, size_bits {bits})", name(untyped), name(dest))
            }
            Op::RetypeAt { untyped, object, node, offset, count } => {
                let (kind, bits) = universe.retypes[object];
                let cnode = universe.cnodes.iter().find(|c| c.paddr == node).map_or(format!("cnode@{node:#x}"), |c| c.name.to_string());
                format!("Retype {} -> {cnode}[{offset}..+{count}] ({kind:?}, size_bits {bits})", name(untyped))
            }
            Op::MapFrame { frame, vspace, vaddr } => format!("MapFrame {} in {} at {vaddr:#x}", name(frame), name(vspace)),
            Op::UnmapFrame { frame } => format!("UnmapFrame {}", name(frame)),
            Op::MapTable { table, vspace, vaddr } => format!("MapTable {} in {} at {vaddr:#x}", name(table), name(vspace)),
            Op::UnmapTable { table } => format!("UnmapTable {}", name(table)),
        }
    }
}

/// Enumerates rotates so that each (src, pivot) pair is tried once with `dest == src` (a
/// swap) and once with every other destination: `dest` runs over all slots but `src`, and
/// the pivot itself stands for `dest == src`.
fn pivot_dest(dest: SlotRef, pivot: SlotRef, src: SlotRef) -> SlotRef {
    if dest == pivot { src } else { dest }
}

/// Why the kernel refuses an operation: the error code it returns and a short reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Error code of the reply.
    pub error: InvocationError,
    /// What was wrong.
    pub reason: &'static str,
}

const fn reject(error: InvocationError, reason: &'static str) -> Rejection {
    Rejection { error, reason }
}

/// A decoded, valid operation: exactly what will be done to the slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// `insert_derived(src, dest, cap, revocable)`.
    Insert {
        /// Parent slot.
        src: SlotRef,
        /// Empty destination.
        dest: SlotRef,
        /// Derived capability.
        cap: Cap,
        /// Whether it may have children.
        revocable: bool,
    },
    /// `move_cap(src, dest, cap)`.
    Move {
        /// Occupied source.
        src: SlotRef,
        /// Empty destination.
        dest: SlotRef,
        /// The capability as stored in `dest`.
        cap: Cap,
    },
    /// `swap(a, b)`.
    Swap {
        /// Occupied slot.
        a: SlotRef,
        /// Another occupied slot.
        b: SlotRef,
    },
    /// `move_cap(pivot, dest)` then `move_cap(src, pivot)`.
    Rotate {
        /// Occupied slot.
        src: SlotRef,
        /// Occupied slot.
        pivot: SlotRef,
        /// Empty slot.
        dest: SlotRef,
    },
    /// Write the frame's entry (`vspace::map_frame` with `request` into `target`), then
    /// record the mapping in the capability at `frame`.
    MapFrame {
        /// Slot of the frame capability.
        frame: SlotRef,
        /// The address space.
        target: VSpace,
        /// The request as `kernel/src/invoke/vspace.rs` makes it.
        request: FrameMap,
    },
    /// Unmap the frame capability at `frame` (`vspace::unmap_frame` if it records a
    /// mapping) and clear its recorded mapping.
    UnmapFrame(SlotRef),
    /// Enter the paging structure (`vspace::map_table` with these arguments, and the
    /// capability's recorded mapping, into `target`), then record the mapping it returns in
    /// the capability at `table`.
    MapTable {
        /// Slot of the paging-structure capability.
        table: SlotRef,
        /// The address space.
        target: VSpace,
        /// Physical address of the structure.
        paddr: u64,
        /// Its level.
        level: TableLevel,
        /// Virtual address asked for.
        vaddr: u64,
    },
    /// `vspace::unmap_structure` of the capability at `table`, known to be the last to its
    /// structure if it records a mapping, then clear its recorded mapping.
    UnmapTable(SlotRef),
    /// `delete(slot)`.
    Delete(SlotRef),
    /// `revoke(slot)`.
    Revoke(SlotRef),
    /// `delete_step(slot)` with one unit of work.
    DeleteStep(SlotRef),
    /// `revoke_step(slot)` with one unit of work.
    RevokeStep(SlotRef),
    /// Set the untyped's watermark, then `insert_derived(untyped, slot, cap, true)` for
    /// each of the `count` new objects, into `dest` and the slots after it ([`retype_slots`]).
    Retype {
        /// Slot of the untyped capability.
        untyped: SlotRef,
        /// First empty destination.
        dest: SlotRef,
        /// Number of objects.
        count: u64,
        /// The objects' type.
        kind: ObjectType,
        /// The retype's size argument (CNode radix, untyped size).
        user_bits: u32,
        /// Physical address of the first object; object `i` is at
        /// `first + (i << object_size_bits)`.
        first: u64,
        /// log2 of each object's size in memory.
        object_size_bits: u32,
        /// Whether the untyped is device memory.
        device: bool,
        /// The untyped's watermark after the retype.
        free_offset: u64,
    },
}

/// Checks `op` against `memory` as the kernel's decoder would, given the slots the caller
/// can address (sorted), and returns what to do or why the kernel refuses.
pub fn decode(universe: &Universe, memory: &Memory, addressable: &[SlotRef], op: &Op) -> Result<Invocation, Rejection> {
    let lookup = |at: SlotRef| {
        addressable.binary_search(&at).map(|_| memory.cap(at)).map_err(|_| reject(InvocationError::FailedLookup, "slot not addressable"))
    };
    let source = |at: SlotRef| match lookup(at)? {
        Cap::Null => Err(reject(InvocationError::FailedLookup, "source slot empty")),
        Cap::Zombie { .. } => Err(reject(InvocationError::DeletionInProgress, "source is a zombie")),
        cap => Ok(cap),
    };
    // Delete continues a deletion from its head zombie only; revoke refuses any zombie.
    let deletable = |at: SlotRef| match lookup(at)? {
        Cap::Zombie { top: false, .. } => Err(reject(InvocationError::DeletionInProgress, "zombie inside its object")),
        _ => Ok(at),
    };
    let revocable = |at: SlotRef| match lookup(at)? {
        Cap::Zombie { .. } => Err(reject(InvocationError::DeletionInProgress, "revoke of a zombie")),
        _ => Ok(at),
    };
    let empty = |at: SlotRef| match lookup(at)? {
        Cap::Null => Ok(()),
        _ => Err(reject(InvocationError::DeleteFirst, "destination slot occupied")),
    };
    // The invoked capability: a CNode (any: only its type matters to decoding), or the
    // untyped of a Retype, which must be there (else the call's own lookup fails).
    let invoked = match *op {
        Op::Retype { untyped: invoked, .. }
        | Op::RetypeAt { untyped: invoked, .. }
        | Op::IssueIoSpace { control: invoked, .. }
        | Op::MapFrame { frame: invoked, .. }
        | Op::UnmapFrame { frame: invoked }
        | Op::MapTable { table: invoked, .. }
        | Op::UnmapTable { table: invoked } => match lookup(invoked)? {
            Cap::Null => return Err(reject(InvocationError::FailedLookup, "invoked slot empty")),
            cap => cap,
        },
        _ => Cap::CNode { paddr: 0, radix: 0, guard_bits: 0, guard: 0 },
    };
    let message = op.invocation(universe).encode();
    let (words, caps) = (message.words(), message.caps());
    let raw = Message { label: message.label as u64, length: words.len(), extra_caps: caps.len(), word: |i| words[i], cptr: |i| caps[i] };
    let decoded = kernel_decode::decode(&invoked, &raw).map_err(|error| reject(error.code, "refused by the kernel's decoder"))?;
    let step = matches!(op, Op::DeleteStep { .. } | Op::RevokeStep { .. });
    match decoded {
        abi::Invocation::CNodeCopy(copy) => {
            derive_into(SlotRef(copy.src.index), SlotRef(copy.dest.index), (copy.rights, None), (lookup, source, empty))
        }
        abi::Invocation::CNodeMint(mint) => {
            let params = MintParams { rights: mint.rights, data: mint.badge };
            derive_into(SlotRef(mint.src.index), SlotRef(mint.dest.index), (mint.rights, Some(params)), (lookup, source, empty))
        }
        // The kernel's order (`kernel/src/invoke/cnode.rs`, `move_into`): the destination's
        // lookup, the source (found, occupied, not a zombie), the destination's emptiness,
        // then Mutate's change.
        abi::Invocation::CNodeMove(moved) => {
            let (src, dest) = (SlotRef(moved.src.index), SlotRef(moved.dest.index));
            lookup(dest)?;
            let cap = source(src)?;
            empty(dest)?;
            Ok(Invocation::Move { src, dest, cap })
        }
        abi::Invocation::CNodeMutate(mutate) => {
            let (src, dest) = (SlotRef(mutate.src.index), SlotRef(mutate.dest.index));
            lookup(dest)?;
            let old = source(src)?;
            empty(dest)?;
            let cap = cap::mutate(old, mutate.data).map_err(derive_rejection)?;
            let badges = matches!(old, Cap::Endpoint { .. } | Cap::Notification { .. }) && cap.badge() != old.badge();
            if badges && !(universe.mutate_badges_originals && memory.peek(src).revocable) {
                return Err(reject(InvocationError::IllegalOperation, "mutate would change the badge in place"));
            }
            Ok(Invocation::Move { src, dest, cap })
        }
        abi::Invocation::CNodeRotate(rotate) => {
            // The kernel's order (`kernel/src/invoke/cnode.rs`): the three lookups
            // (destination, pivot, source), pivot and source occupied, neither a zombie, the
            // pivot's distinctness, then the destination's emptiness.
            let (src, pivot, dest) = (SlotRef(rotate.src.index), SlotRef(rotate.pivot.index), SlotRef(rotate.dest.index));
            lookup(dest)?;
            let (pivot_cap, src_cap) = (lookup(pivot)?, lookup(src)?);
            if pivot_cap == Cap::Null || src_cap == Cap::Null {
                return Err(reject(InvocationError::FailedLookup, "pivot or source slot empty"));
            }
            if matches!(pivot_cap, Cap::Zombie { .. }) || matches!(src_cap, Cap::Zombie { .. }) {
                return Err(reject(InvocationError::DeletionInProgress, "pivot or source is a zombie"));
            }
            if pivot == src || pivot == dest {
                return Err(reject(InvocationError::InvalidArgument, "pivot equals source or destination"));
            }
            if dest == src {
                return Ok(Invocation::Swap { a: src, b: pivot });
            }
            empty(dest)?;
            Ok(Invocation::Rotate { src, pivot, dest })
        }
        abi::Invocation::CNodeDelete(delete) if step => deletable(SlotRef(delete.slot.index)).map(Invocation::DeleteStep),
        abi::Invocation::CNodeDelete(delete) => deletable(SlotRef(delete.slot.index)).map(Invocation::Delete),
        abi::Invocation::CNodeRevoke(revoke) if step => revocable(SlotRef(revoke.slot.index)).map(Invocation::RevokeStep),
        abi::Invocation::CNodeRevoke(revoke) => revocable(SlotRef(revoke.slot.index)).map(Invocation::Revoke),
        abi::Invocation::UntypedRetype(retype) => {
            let Cap::Untyped { paddr, size_bits, device, free_offset, .. } = invoked else {
                return Err(reject(InvocationError::IllegalOperation, "retype of a non-untyped capability"));
            };
            // The kernel's order (`kernel/src/invoke/untyped.rs`): the destination CNode's
            // lookup, the destination indices against its slot count, then `untyped::plan`
            // (sizes, count, memory for all the objects), then each destination's emptiness.
            let (untyped, dest) = match *op {
                // One object into an addressed slot: the CNode holding it is found.
                Op::Retype { untyped, .. } => {
                    let dest = SlotRef(retype.node_offset);
                    lookup(dest)?;
                    (untyped, dest)
                }
                Op::RetypeAt { untyped, node, .. } => {
                    let Some(&(_, slots)) = universe.live_cnodes(memory).iter().find(|(paddr, _)| *paddr == node) else {
                        return Err(reject(InvocationError::FailedLookup, "destination CNode not addressable"));
                    };
                    let (offset, count) = (retype.node_offset, retype.count);
                    if offset >= slots || count > slots - offset {
                        return Err(reject(InvocationError::RangeError, "destination index beyond the CNode"));
                    }
                    (untyped, cspace::slot_address(node, offset))
                }
                _ => return Err(reject(InvocationError::IllegalOperation, "retype decoded from another operation")),
            };
            let (kind, user_bits) = (retype.object_type, retype.size_bits.min(64) as u32);
            let has_children = cspace::has_children(memory, untyped);
            let state = UntypedState { paddr, size_bits: u32::from(size_bits), device, free_offset, has_children };
            let plan = untyped::plan(state, kind, user_bits, retype.count).map_err(retype_rejection)?;
            for at in retype_slots(dest, retype.count) {
                empty(at)?;
            }
            Ok(Invocation::Retype {
                untyped,
                dest,
                count: retype.count,
                kind,
                user_bits,
                first: plan.first,
                object_size_bits: plan.object_size_bits,
                device,
                free_offset: plan.new_free_offset,
            })
        }
        abi::Invocation::IoSpaceControlIssue(issue) => crate::iospace::decode_issue(op, invoked, issue, empty),
        abi::Invocation::FrameMap(map) => {
            // As `kernel/src/invoke/vspace.rs`: the address space's lookup (FailedLookup, its
            // slot empty included, as `ipc::lookup_slot`), its type (InvalidCapability,
            // argument 1), then `vspace::map_frame`'s own checks, run on a copy of the
            // tables so a refusal changes nothing.
            let (Op::MapFrame { frame, .. }, Cap::Frame { paddr, size_bits, rights, mapping, .. }) = (*op, invoked) else {
                return Err(reject(InvocationError::IllegalOperation, "frame map decoded from another operation"));
            };
            let target = match lookup(SlotRef(map.vspace.0))? {
                Cap::Null => return Err(reject(InvocationError::FailedLookup, "address-space slot empty")),
                Cap::Pml4 { paddr, asid } => VSpace { pml4: paddr, asid },
                _ => return Err(reject(InvocationError::InvalidCapability, "extra capability 0 is not a PML4")),
            };
            let request =
                FrameMap { paddr, size_bits, rights, mapping, vaddr: map.vaddr, requested: map.rights, attributes: map.attributes };
            let mut tables = memory.tables().clone();
            vspace::map_frame(&mut tables, target, request).map_err(map_rejection)?;
            Ok(Invocation::MapFrame { frame, target, request })
        }
        abi::Invocation::FrameUnmap(_) => match *op {
            Op::UnmapFrame { frame } => Ok(Invocation::UnmapFrame(frame)),
            _ => Err(reject(InvocationError::IllegalOperation, "frame unmap decoded from another operation")),
        },
        abi::Invocation::PagingStructureMap(map) => {
            // As `kernel/src/invoke/vspace.rs`: the address space's lookup (FailedLookup, its
            // slot empty included), its type (InvalidCapability), then `vspace::map_table`'s
            // own checks (recorded mapping, user half, the table of the level above, the
            // entry), run on a copy of the tables so a refusal changes nothing.
            let (Op::MapTable { table, .. }, Cap::PagingTable { paddr, level, mapping }) = (*op, invoked) else {
                return Err(reject(InvocationError::IllegalOperation, "paging-structure map decoded from another operation"));
            };
            let target = match lookup(SlotRef(map.vspace.0))? {
                Cap::Null => return Err(reject(InvocationError::FailedLookup, "address-space slot empty")),
                Cap::Pml4 { paddr, asid } => VSpace { pml4: paddr, asid },
                _ => return Err(reject(InvocationError::InvalidCapability, "extra capability 0 is not a PML4")),
            };
            let mut tables = memory.tables().clone();
            vspace::map_table(&mut tables, target, paddr, level, mapping, map.vaddr).map_err(map_rejection)?;
            Ok(Invocation::MapTable { table, target, paddr, level, vaddr: map.vaddr })
        }
        abi::Invocation::PagingStructureUnmap(_) => {
            // As `kernel/src/invoke/vspace.rs` through `vspace::unmap_structure`: a mapped
            // capability that is not the last to its structure is refused (RevokeFirst).
            let (Op::UnmapTable { table }, Cap::PagingTable { mapping, .. }) = (*op, invoked) else {
                return Err(reject(InvocationError::IllegalOperation, "paging-structure unmap decoded from another operation"));
            };
            if mapping.is_mapped() && !cspace::is_final(memory, table) {
                return Err(reject(InvocationError::RevokeFirst, "other capabilities to the structure exist"));
            }
            Ok(Invocation::UnmapTable(table))
        }
        _ => Err(reject(InvocationError::IllegalOperation, "not a method the model explores")),
    }
}

/// The `count` consecutive slots from `dest`: a retype's destinations.
pub fn retype_slots(dest: SlotRef, count: u64) -> impl Iterator<Item = SlotRef> {
    (0..count).map(move |index| SlotRef(dest.0 + (index << SLOT_SIZE_BITS)))
}

/// Decodes a copy or mint as `kernel/src/invoke/cnode.rs` (`derive_into`) does: the
/// destination's lookup, the source (found, occupied, not a zombie), the destination's
/// emptiness, then `derive` (with the mint parameters for a mint) and the rights mask.
fn derive_into(
    src: SlotRef,
    dest: SlotRef,
    (mask, mint): (Rights, Option<MintParams>),
    (lookup, source, empty): (
        impl Fn(SlotRef) -> Result<Cap, Rejection>,
        impl Fn(SlotRef) -> Result<Cap, Rejection>,
        impl Fn(SlotRef) -> Result<(), Rejection>,
    ),
) -> Result<Invocation, Rejection> {
    lookup(dest)?;
    let parent = source(src)?;
    empty(dest)?;
    let cap = cap::mask_rights(cap::derive(&parent, mint).map_err(derive_rejection)?, mask);
    Ok(Invocation::Insert { src, dest, cap, revocable: cap::is_revocable(&cap, &parent) })
}

fn derive_rejection(error: DeriveError) -> Rejection {
    match error {
        DeriveError::NotDerivable => reject(InvocationError::IllegalOperation, "capability cannot be derived"),
    }
}

/// The codes of `kernel/src/invoke/vspace.rs`'s `map_error`.
fn map_rejection(error: MapError) -> Rejection {
    match error {
        MapError::AlreadyMapped => reject(InvocationError::IllegalOperation, "frame mapped elsewhere"),
        MapError::OutsideUserHalf => reject(InvocationError::InvalidArgument, "outside the user half"),
        MapError::Unaligned => reject(InvocationError::AlignmentError, "address not aligned"),
        MapError::NoReadRight => reject(InvocationError::InvalidArgument, "no read right"),
        MapError::MissingTable => reject(InvocationError::FailedLookup, "no page table covers the address"),
        MapError::Occupied => reject(InvocationError::DeleteFirst, "entry in use"),
    }
}

fn retype_rejection(error: RetypeError) -> Rejection {
    match error {
        RetypeError::InvalidSize { .. } => reject(InvocationError::RangeError, "object size out of range"),
        RetypeError::InvalidCount => reject(InvocationError::RangeError, "object count out of range"),
        RetypeError::DeviceMemory => reject(InvocationError::InvalidArgument, "device memory for a kernel object"),
        RetypeError::NotEnoughMemory { .. } => reject(InvocationError::NotEnoughMemory, "untyped exhausted"),
    }
}

/// The capability to a freshly retyped object of `kind` at `paddr`: full rights, no badge,
/// no guard, unmapped. A PML4 needs an ASID, which the model does not allocate: universes
/// must not list [`ObjectType::Pml4`] among their retypes.
fn object_cap(kind: ObjectType, user_bits: u32, paddr: u64, device: bool) -> Cap {
    let narrow = |bits: u32| u8::try_from(bits).expect("size_bits was range-checked by untyped::plan");
    let table = |level| Cap::PagingTable { paddr, level, mapping: Mapping::NONE };
    match kind {
        ObjectType::Untyped => {
            Cap::Untyped { paddr, size_bits: narrow(user_bits), device, free_offset: 0, prepared_to: 0, prepared_kind: 0 }
        }
        ObjectType::Tcb => Cap::Tcb { paddr },
        ObjectType::Endpoint => Cap::Endpoint { paddr, badge: 0, rights: Rights::ALL },
        ObjectType::Notification => Cap::Notification { paddr, badge: 0, rights: Rights::ALL },
        ObjectType::CNode => Cap::CNode { paddr, radix: narrow(user_bits), guard_bits: 0, guard: 0 },
        ObjectType::Frame4K | ObjectType::Frame2M => {
            Cap::Frame { paddr, size_bits: narrow(kind.size_bits(0)), rights: Rights::ALL, device, mapping: Mapping::NONE }
        }
        ObjectType::PageTable => table(TableLevel::PageTable),
        ObjectType::PageDirectory => table(TableLevel::PageDirectory),
        ObjectType::Pdpt => table(TableLevel::Pdpt),
        ObjectType::Pml4 => panic!("the model checker does not allocate ASIDs: remove Pml4 from Universe::retypes"),
    }
}

/// What carrying out an operation did besides changing the state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ran {
    /// `false` if a delete or revoke stopped at a zombie another deletion works on (the
    /// kernel's DeletionInProgress error, after whatever progress it made).
    pub finished: bool,
    /// The cost of each kernel entry the operation took; for a retype of several objects
    /// (one entry), the cost of each object's part of it, the first with the watermark's
    /// update.
    pub entries: Vec<Entry>,
}

/// Carries out a decoded operation with the kernel's capability code, one kernel entry of
/// one unit of work at a time for a delete or revoke (so that every zombie a preempted
/// deletion can leave is explored), counting each entry's slot accesses.
pub fn invoke(memory: &mut Memory, invocation: &Invocation) -> Ran {
    let mut entries = Vec::new();
    memory.take_accesses();
    let finished = match *invocation {
        Invocation::Delete(slot) => work::delete_in_entries(memory, slot, 1, false, &mut entries),
        Invocation::Revoke(slot) => work::revoke_in_entries(memory, slot, 1, false, &mut entries),
        Invocation::DeleteStep(slot) => work::delete_in_entries(memory, slot, 1, true, &mut entries),
        Invocation::RevokeStep(slot) => work::revoke_in_entries(memory, slot, 1, true, &mut entries),
        Invocation::Insert { src, dest, cap, revocable } => {
            cspace::insert_derived(memory, src, dest, cap, revocable);
            true
        }
        Invocation::Move { src, dest, cap } => {
            cspace::move_cap(memory, src, dest, cap);
            true
        }
        Invocation::Swap { a, b } => {
            cspace::swap(memory, a, b);
            true
        }
        Invocation::MapFrame { frame, target, request } => {
            let mapping = vspace::map_frame(memory.tables_mut(), target, request).expect("checked by decode on a copy of the tables");
            set_frame_mapping(memory, frame, mapping);
            true
        }
        Invocation::UnmapFrame(frame) => {
            if let Cap::Frame { paddr, size_bits, mapping, .. } = memory.cap(frame)
                && mapping.is_mapped()
            {
                vspace::unmap_frame(memory.tables_mut(), mapping, paddr, u32::from(size_bits));
                set_frame_mapping(memory, frame, Mapping::NONE);
            }
            true
        }
        Invocation::MapTable { table, target, paddr, level, vaddr } => {
            let Cap::PagingTable { mapping, .. } = memory.cap(table) else { unreachable!("decode checked the type") };
            let recorded = vspace::map_table(memory.tables_mut(), target, paddr, level, mapping, vaddr)
                .expect("checked by decode on a copy of the tables");
            set_table_mapping(memory, table, recorded);
            true
        }
        Invocation::UnmapTable(table) => {
            let cap = memory.cap(table);
            let is_final = cspace::is_final(memory, table);
            let left = vspace::unmap_structure(memory.tables_mut(), cap, is_final).expect("checked by decode");
            if left != cap {
                set_table_mapping(memory, table, Mapping::NONE);
            }
            true
        }
        Invocation::Rotate { src, pivot, dest } => {
            let (src_cap, pivot_cap) = (memory.read(src).cap, memory.read(pivot).cap);
            cspace::move_cap(memory, pivot, dest, pivot_cap);
            cspace::move_cap(memory, src, pivot, src_cap);
            true
        }
        Invocation::Retype { untyped, dest, count, kind, user_bits, first, object_size_bits, device, free_offset } => {
            let mut slot = memory.read(untyped);
            if let Cap::Untyped { free_offset: watermark, .. } = &mut slot.cap {
                *watermark = free_offset;
            }
            memory.write(untyped, slot);
            // One kernel entry; each object's insertion is counted as its own atomic part
            // (the kernel bounds the count by `untyped::MAX_RETYPE_COUNT`).
            for (index, at) in retype_slots(dest, count).enumerate() {
                let cap = object_cap(kind, user_bits, first + ((index as u64) << object_size_bits), device);
                cspace::insert_derived(memory, untyped, at, cap, true);
                entries.push(Entry { budget: None, accesses: memory.take_accesses() });
            }
            true
        }
    };
    if entries.is_empty() {
        entries.push(Entry { budget: None, accesses: memory.take_accesses() });
    }
    Ran { finished, entries }
}

/// Records `mapping` in the paging-structure capability at `at` (`set_mapping` of
/// `kernel/src/invoke/vspace.rs`).
fn set_table_mapping(memory: &mut Memory, at: SlotRef, mapping: Mapping) {
    let mut slot = memory.read(at);
    if let Cap::PagingTable { paddr, level, .. } = slot.cap {
        slot.cap = Cap::PagingTable { paddr, level, mapping };
        memory.write(at, slot);
    }
}

/// Records `mapping` in the frame capability at `at` (`set_mapping` of
/// `kernel/src/invoke/vspace.rs`).
fn set_frame_mapping(memory: &mut Memory, at: SlotRef, mapping: Mapping) {
    let mut slot = memory.read(at);
    if let Cap::Frame { paddr, size_bits, rights, device, .. } = slot.cap {
        slot.cap = Cap::Frame { paddr, size_bits, rights, device, mapping };
        memory.write(at, slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::{CNODE_A, CNODE_B, ENDPOINT, UNTYPED};
    use tileos_kernel::cspace::slot_address;

    fn a(index: u64) -> SlotRef {
        slot_address(CNODE_A, index)
    }

    fn b(index: u64) -> SlotRef {
        slot_address(CNODE_B, index)
    }

    fn run(universe: &Universe, memory: &mut Memory, op: Op) -> Result<(), Rejection> {
        let slots = universe.addressable_slots(memory);
        let invocation = decode(universe, memory, &slots, &op)?;
        assert!(invoke(memory, &invocation).finished);
        Ok(())
    }

    #[test]
    fn decode_rejects_what_the_kernel_rejects() {
        let universe = Universe::standard();
        let mut memory = universe.initial_state();
        let error = |memory: &Memory, op| decode(&universe, memory, &universe.addressable_slots(memory), &op).unwrap_err().error;
        assert_eq!(error(&memory, Op::Copy { src: a(3), dest: b(0) }), InvocationError::FailedLookup);
        assert_eq!(error(&memory, Op::Copy { src: a(1), dest: a(0) }), InvocationError::DeleteFirst);
        assert_eq!(error(&memory, Op::Copy { src: a(1), dest: slot_address(0x9000, 0) }), InvocationError::FailedLookup);
        // The kernel's decoder refuses Retype on an endpoint as a label it does not offer.
        assert_eq!(error(&memory, Op::Retype { untyped: a(1), object: 0, dest: b(0) }), InvocationError::IllegalOperation);
        assert_eq!(error(&memory, Op::Rotate { src: a(1), pivot: a(1), dest: b(0) }), InvocationError::InvalidArgument);
        assert_eq!(error(&memory, Op::Mutate { src: a(1), dest: b(0), data: 0 }), InvocationError::IllegalOperation);
        let kernel_rule = Universe { mutate_badges_originals: true, ..Universe::standard() };
        let slots = kernel_rule.addressable_slots(&memory);
        assert!(decode(&kernel_rule, &memory, &slots, &Op::Mutate { src: a(1), dest: b(0), data: 0 }).is_ok());
        run(&universe, &mut memory, Op::Mint { src: a(1), dest: b(0), params: 1 }).unwrap();
        assert_eq!(memory.cap(b(0)), Cap::Endpoint { paddr: ENDPOINT, badge: 1, rights: Rights::WRITE });
        assert_eq!(error(&memory, Op::Mint { src: b(0), dest: b(1), params: 2 }), InvocationError::IllegalOperation, "no re-badging");
        assert_eq!(error(&memory, Op::Copy { src: a(0), dest: b(2) }), InvocationError::IllegalOperation, "untyped copy");
        let guarded = Cap::CNode { paddr: CNODE_B, radix: 2, guard_bits: 1, guard: 1 };
        run(&universe, &mut memory, Op::Mutate { src: a(2), dest: a(3), data: 0 }).unwrap();
        assert_eq!(memory.cap(a(3)), guarded, "mutate sets a CNode's guard");
        run(&universe, &mut memory, Op::Copy { src: a(3), dest: b(1) }).unwrap();
        assert_eq!(memory.cap(b(1)), guarded, "copy keeps the guard");
    }

    #[test]
    fn retype_advances_the_watermark_until_the_untyped_has_no_children() {
        let universe = Universe::standard();
        let mut memory = universe.initial_state();
        run(&universe, &mut memory, Op::Retype { untyped: a(0), object: 1, dest: b(0) }).unwrap();
        assert_eq!(memory.cap(b(0)), Cap::CNode { paddr: UNTYPED, radix: 1, guard_bits: 0, guard: 0 });
        assert!(matches!(memory.cap(a(0)), Cap::Untyped { free_offset: 128, .. }));
        assert_eq!(universe.addressable_slots(&memory).len(), 10, "the new CNode's two slots are addressable");
        run(&universe, &mut memory, Op::Retype { untyped: a(0), object: 0, dest: b(1) }).unwrap();
        assert_eq!(memory.cap(b(1)), Cap::Endpoint { paddr: UNTYPED + 128, badge: 0, rights: Rights::ALL });
        run(&universe, &mut memory, Op::Revoke { slot: a(0) }).unwrap();
        run(&universe, &mut memory, Op::Retype { untyped: a(0), object: 0, dest: b(0) }).unwrap();
        assert_eq!(memory.cap(b(0)), Cap::Endpoint { paddr: UNTYPED, badge: 0, rights: Rights::ALL }, "memory reused");
    }

    #[test]
    fn retype_at_checks_the_indices_then_the_room_then_every_destination() {
        let universe = Universe::standard();
        let mut memory = universe.initial_state();
        let at = |object, node, offset, count| Op::RetypeAt { untyped: a(0), object, node, offset, count };
        let error = |memory: &Memory, op| decode(&universe, memory, &universe.addressable_slots(memory), &op).unwrap_err().error;
        assert_eq!(error(&memory, at(0, CNODE_B, 4, 1)), InvocationError::RangeError, "index one past B");
        assert_eq!(error(&memory, at(0, CNODE_B, 3, 2)), InvocationError::RangeError, "two from B's last slot");
        assert_eq!(error(&memory, at(0, CNODE_B, 0, 0)), InvocationError::RangeError, "no object");
        assert_eq!(error(&memory, at(0, ENDPOINT, 0, 1)), InvocationError::FailedLookup, "not a CNode");
        // Three 128-byte CNodes from 256 bytes, into the occupied A0..A2: the room first.
        assert_eq!(error(&memory, at(1, CNODE_A, 0, 3)), InvocationError::NotEnoughMemory);
        // Two endpoints into A2 (occupied) and A3 (empty).
        assert_eq!(error(&memory, at(0, CNODE_A, 2, 2)), InvocationError::DeleteFirst);
        run(&universe, &mut memory, at(0, CNODE_B, 0, 2)).unwrap();
        assert_eq!(memory.cap(b(0)), Cap::Endpoint { paddr: UNTYPED, badge: 0, rights: Rights::ALL });
        assert_eq!(memory.cap(b(1)), Cap::Endpoint { paddr: UNTYPED + 32, badge: 0, rights: Rights::ALL });
        assert!(matches!(memory.cap(a(0)), Cap::Untyped { free_offset: 64, .. }));
        assert_eq!(error(&memory, at(0, CNODE_B, 1, 2)), InvocationError::DeleteFirst, "B1 now occupied");
    }

    #[test]
    fn rotate_and_swap_move_both_capabilities() {
        let universe = Universe::standard();
        let mut memory = universe.initial_state();
        let (untyped, endpoint) = (memory.cap(a(0)), memory.cap(a(1)));
        run(&universe, &mut memory, Op::Rotate { src: a(0), pivot: a(1), dest: a(3) }).unwrap();
        assert_eq!((memory.cap(a(0)), memory.cap(a(1)), memory.cap(a(3))), (Cap::Null, untyped, endpoint));
        run(&universe, &mut memory, Op::Rotate { src: a(1), pivot: a(3), dest: a(1) }).unwrap();
        assert_eq!((memory.cap(a(1)), memory.cap(a(3))), (endpoint, untyped));
    }

    #[test]
    fn traces_name_each_operation_with_its_slots_and_arguments() {
        let universe = Universe::standard();
        let text = |op: Op| op.describe(&universe);
        assert_eq!(text(Op::Rotate { src: a(0), pivot: a(1), dest: a(0) }), "Rotate (swap) A0 <-> A1", "dest == src is a swap");
        assert_eq!(text(Op::Rotate { src: a(0), pivot: a(1), dest: a(3) }), "Rotate A0 -> A1 -> A3");
        assert_eq!(text(Op::Mint { src: a(1), dest: b(0), params: 1 }), "Mint A1 -> B0 (rights 0x1, data 0x1)");
        assert_eq!(text(Op::DeleteStep { slot: a(2) }), "Delete A2 (one unit of work)");
        let at = |node, offset, count| Op::RetypeAt { untyped: a(0), object: 1, node, offset, count };
        assert_eq!(text(at(CNODE_B, 1, 2)), "Retype A0 -> B[1..+2] (CNode, size_bits 1)", "a fixed CNode by its name");
        assert_eq!(text(at(0x9_0000, 0, 1)), "Retype A0 -> cnode@0x90000[0..+1] (CNode, size_bits 1)", "any other by its address");
    }

    #[test]
    fn delete_continues_only_from_the_head_zombie_of_a_deletion() {
        // A zombie inside an object under destruction (`top: false`) is never addressable in
        // the explored states (its container's last capability is a zombie too); placed in
        // A3 by hand, the decoder must still refuse to delete it, as the kernel's
        // `delete_step` does, and accept the head of a deletion (`top: true`).
        let universe = Universe::standard();
        let zombie =
            |top| Cap::Zombie { paddr: 0x1_0000, link: SlotRef::NONE, root: SlotRef::NONE, remaining: 2, radix: 1, tcb: false, top };
        for (top, expected) in [(false, Err(InvocationError::DeletionInProgress)), (true, Ok(()))] {
            let mut memory = universe.initial_state();
            tileos_kernel::cspace::insert_root(&mut memory, a(3), zombie(top));
            let slots = universe.addressable_slots(&memory);
            for op in [Op::Delete { slot: a(3) }, Op::DeleteStep { slot: a(3) }] {
                assert_eq!(decode(&universe, &memory, &slots, &op).map(|_| ()).map_err(|r| r.error), expected, "{op:?}, top {top}");
            }
            let revoke = decode(&universe, &memory, &slots, &Op::Revoke { slot: a(3) });
            assert_eq!(revoke.map(|_| ()).map_err(|r| r.error), Err(InvocationError::DeletionInProgress), "revoke, top {top}");
        }
    }

    #[test]
    fn a_mutate_that_keeps_the_badge_is_a_move() {
        // The kernel refuses a mutate only when it would change an endpoint's or
        // notification's badge; with data 0 an unbadged endpoint stays unbadged and moves.
        let universe = Universe { mutate_data: vec![0], ..Universe::standard() };
        let mut memory = universe.initial_state();
        let endpoint = memory.cap(a(1));
        run(&universe, &mut memory, Op::Mutate { src: a(1), dest: b(0), data: 0 }).unwrap();
        assert_eq!((memory.cap(a(1)), memory.cap(b(0))), (Cap::Null, endpoint));
    }

    #[test]
    fn every_rotate_shape_is_enumerated_once() {
        let universe = Universe::standard();
        let slots = [a(0), a(1), a(2)];
        let rotates: Vec<Op> = Op::all(&universe, &slots).into_iter().filter(|op| matches!(op, Op::Rotate { .. })).collect();
        // 3 sources × 2 pivots × (1 swap + 1 other destination).
        assert_eq!(rotates.len(), 12);
        assert!(rotates.contains(&Op::Rotate { src: a(0), pivot: a(1), dest: a(0) }));
        assert!(rotates.contains(&Op::Rotate { src: a(0), pivot: a(1), dest: a(2) }));
    }

    #[test]
    fn frame_map_is_decoded_as_the_kernel_does_and_refusals_change_nothing() {
        use crate::universe::{FRAME_RW, PML4};
        use tileos_kernel::vspace::{ADDRESS_MASK, PRESENT, PagingMemory, USER_TOP, WRITABLE};
        let universe = Universe::frames();
        let mut memory = universe.initial_state();
        let map = |frame, vspace, vaddr| Op::MapFrame { frame, vspace, vaddr };
        let error = |memory: &Memory, op| decode(&universe, memory, &universe.addressable_slots(memory), &op).unwrap_err().error;
        let before = memory.clone();
        for (op, code) in [
            (map(b(3), b(0), 0x1000), InvocationError::FailedLookup),
            (map(slot_address(0x9_0000, 0), b(0), 0x1000), InvocationError::FailedLookup),
            (map(a(1), b(0), 0x1000), InvocationError::IllegalOperation),
            (map(b(1), a(3), 0x1000), InvocationError::FailedLookup),
            (map(b(1), a(1), 0x1000), InvocationError::InvalidCapability),
            (map(b(1), b(0), 0x800), InvocationError::AlignmentError),
            (map(b(1), b(0), USER_TOP), InvocationError::InvalidArgument),
            (map(b(1), b(0), !0xFFF), InvocationError::InvalidArgument), // the end overflows
            (map(b(1), b(0), 0x20_0000), InvocationError::FailedLookup),
            (map(b(1), b(0), 0), InvocationError::DeleteFirst),
            (Op::UnmapFrame { frame: a(1) }, InvocationError::IllegalOperation),
            (Op::UnmapFrame { frame: b(3) }, InvocationError::FailedLookup),
        ] {
            assert_eq!(error(&memory, op), code, "{op:?}");
        }
        assert_eq!(memory, before, "a refused map changes nothing");
        run(&universe, &mut memory, map(b(1), b(0), 0x1000)).unwrap();
        assert!(matches!(memory.cap(b(1)), Cap::Frame { mapping: Mapping { asid: 1, vaddr: 0x1000 }, .. }));
        let table = crate::universe::PAGE_TABLE;
        let entry = memory.tables().entry(table, 1);
        assert_eq!((entry & ADDRESS_MASK, entry & (PRESENT | WRITABLE)), (FRAME_RW, PRESENT | WRITABLE));
        assert_eq!(error(&memory, map(b(1), b(0), 0x2000)), InvocationError::IllegalOperation, "mapped elsewhere");
        run(&universe, &mut memory, Op::UnmapFrame { frame: b(1) }).unwrap();
        assert!(matches!(memory.cap(b(1)), Cap::Frame { mapping: Mapping::NONE, .. }));
        assert_eq!(memory.tables().entry(table, 1), 0);
        run(&universe, &mut memory, Op::UnmapFrame { frame: b(1) }).unwrap();
        assert_eq!(memory.tables().asids[1], PML4);
    }
}
