//! Capabilities: what a CNode slot holds. A capability names one kernel object (or a
//! range of authority such as IO ports) together with rights and a badge.
//!
//! This module holds the rules that relate capabilities to each other without touching
//! memory: which capability is a derivation-tree parent of which, which name the same
//! object, and how a copy or mint derives a new capability.

use crate::cspace::SlotRef;
use tileos_abi::object::Rights;

/// Paging-structure level of a [`Cap::PagingTable`]: what it maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TableLevel {
    /// Page table: 512 × 4 KiB.
    PageTable = 1,
    /// Page directory: 512 × 2 MiB (page tables or 2 MiB frames).
    PageDirectory = 2,
    /// Page-directory-pointer table: 512 × 1 GiB.
    Pdpt = 3,
}

impl TableLevel {
    /// log2 of the virtual range one table of this level maps.
    pub const fn span_bits(self) -> u32 {
        match self {
            TableLevel::PageTable => 21,
            TableLevel::PageDirectory => 30,
            TableLevel::Pdpt => 39,
        }
    }
}

/// Where a frame or paging structure is mapped: the address space's ASID and the virtual
/// address. ASID 0 means "not mapped".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Mapping {
    /// Address-space identifier of the VSpace it is mapped into (0: unmapped).
    pub asid: u16,
    /// Virtual address of the mapping.
    pub vaddr: u64,
}

impl Mapping {
    /// Not mapped anywhere.
    pub const NONE: Mapping = Mapping { asid: 0, vaddr: 0 };
    /// Whether this records a mapping.
    pub const fn is_mapped(self) -> bool {
        self.asid != 0
    }

    /// A mapping at IO virtual address `iova` in the IOSpace of PCI function `device`
    /// (requester ID below [`IO_DEVICES`]): recorded as the ASID `IO_ASID | device`, which
    /// no address space has.
    pub const fn io(device: u16, iova: u64) -> Mapping {
        Mapping { asid: IO_ASID | device, vaddr: iova }
    }

    /// The PCI function whose IOSpace this mapping is in, `None` for a VSpace mapping.
    pub const fn io_device(self) -> Option<u16> {
        if self.asid & IO_ASID != 0 { Some(self.asid & !IO_ASID) } else { None }
    }
}

/// ASID bit marking a mapping into an IOSpace ([`Mapping::io`]); VSpace ASIDs stay below it.
pub const IO_ASID: u16 = 0x8000;
/// PCI requester IDs (bus << 8 | device << 3 | function) that have an IOSpace: buses 0–7.
pub const IO_DEVICES: u16 = 0x800;

/// A capability. (Slots are initialised explicitly to [`Cap::Null`] when a CNode or TCB
/// is created; the kernel never relies on the in-memory layout of this enum.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // each variant's doc describes its fields
pub enum Cap {
    /// Empty slot.
    Null,
    /// Untyped memory `[paddr, paddr + 2^size_bits)`; `free_offset` is the retype watermark.
    /// `prepared_to` and `prepared_kind` record how far a Retype preempted while preparing
    /// its objects' memory got: offsets `free_offset..prepared_to` are ready for objects of
    /// type `prepared_kind - 1` (cleared, or for CNodes filled with empty slots); kind 0:
    /// nothing prepared.
    Untyped { paddr: u64, size_bits: u8, device: bool, free_offset: u64, prepared_to: u64, prepared_kind: u8 },
    /// An IPC endpoint.
    Endpoint { paddr: u64, badge: u64, rights: Rights },
    /// A notification.
    Notification { paddr: u64, badge: u64, rights: Rights },
    /// The right to reply once to the thread `tcb`, which is blocked in a Call.
    Reply { tcb: u64, can_grant: bool },
    /// A CNode of `2^radix` slots, with a guard of `guard_bits` bits.
    CNode { paddr: u64, radix: u8, guard_bits: u8, guard: u64 },
    /// A thread control block.
    Tcb { paddr: u64 },
    /// A frame of `2^size_bits` bytes (12 or 21).
    Frame { paddr: u64, size_bits: u8, rights: Rights, device: bool, mapping: Mapping },
    /// A page table, page directory or PDPT.
    PagingTable { paddr: u64, level: TableLevel, mapping: Mapping },
    /// A PML4: an address space, with its ASID (assigned when created).
    Pml4 { paddr: u64, asid: u16 },
    /// Authority to create IRQ handler capabilities.
    IrqControl,
    /// Authority over one interrupt line.
    IrqHandler { irq: u8 },
    /// Authority to create IO port range capabilities.
    IoPortControl,
    /// Authority to access IO ports `first..=last`.
    IoPort { first: u16, last: u16 },
    /// Authority to create IOSpace capabilities (present when the machine has an IOMMU).
    IoSpaceControl,
    /// The DMA address space of PCI function `device` (requester ID, below [`IO_DEVICES`]).
    IoSpace { device: u16 },
    /// A CNode (`tcb` false: of `2^radix` slots) or TCB (`tcb` true) whose destruction is
    /// in progress (seL4's Zombie): it replaced the object's last capability and cannot be
    /// used, copied or moved; deleting it again continues the destruction. Slots
    /// `remaining..` of the object are empty already. `link`, `root` and `top` chain the
    /// objects of one unfinished deletion (see `cspace::delete_step`).
    Zombie { paddr: u64, link: SlotRef, root: SlotRef, remaining: u32, radix: u8, tcb: bool, top: bool },
}

// Compile-time check that a capability plus derivation links fit a 64-byte slot.
const _: () = assert!(core::mem::size_of::<Cap>() <= 32);

impl Cap {
    /// The object's physical region `[start, end)`, for capabilities to memory objects.
    pub fn region(&self) -> Option<(u64, u64)> {
        let (start, bits) = match *self {
            Cap::Untyped { paddr, size_bits, .. } => (paddr, u32::from(size_bits)),
            Cap::Endpoint { paddr, .. } => (paddr, 5),
            Cap::Notification { paddr, .. } => (paddr, 6),
            Cap::CNode { paddr, radix, .. } => (paddr, u32::from(radix) + tileos_abi::object::SLOT_SIZE_BITS),
            Cap::Tcb { paddr } => (paddr, tileos_abi::object::TCB_SIZE_BITS),
            Cap::Frame { paddr, size_bits, .. } => (paddr, u32::from(size_bits)),
            Cap::PagingTable { paddr, .. } | Cap::Pml4 { paddr, .. } => (paddr, 12),
            Cap::Zombie { .. } => return self.zombie_object().and_then(|object| object.region()),
            _ => return None,
        };
        Some((start, start + (1u64 << bits)))
    }

    /// Whether `self` and `other` cover the same object or authority; for an untyped, whether
    /// `other` lies inside it. This is seL4's `sameRegionAs`.
    pub fn same_region_as(&self, other: &Cap) -> bool {
        match (*self, *other) {
            (Cap::Null, _) | (_, Cap::Null) => false,
            (Cap::Untyped { .. }, _) => match (self.region(), other.region()) {
                (Some((start, end)), Some((other_start, other_end))) => start <= other_start && other_end <= end && other_start < other_end,
                _ => false,
            },
            (Cap::IrqControl, Cap::IrqControl | Cap::IrqHandler { .. }) => true,
            (Cap::IrqHandler { irq: a }, Cap::IrqHandler { irq: b }) => a == b,
            (Cap::IoPortControl, Cap::IoPortControl | Cap::IoPort { .. }) => true,
            (Cap::IoPort { first: a0, last: a1 }, Cap::IoPort { first: b0, last: b1 }) => a0 == b0 && a1 == b1,
            (Cap::IoSpaceControl, Cap::IoSpaceControl | Cap::IoSpace { .. }) => true,
            (Cap::IoSpace { device: a }, Cap::IoSpace { device: b }) => a == b,
            (Cap::Reply { tcb: a, .. }, Cap::Reply { tcb: b, .. }) => a == b,
            // An object being destroyed is still the object its last capability named.
            (Cap::Zombie { .. }, _) | (_, Cap::Zombie { .. }) => {
                let object = |cap: &Cap| cap.zombie_object().unwrap_or(*cap);
                let (a, b) = (object(self), object(other));
                core::mem::discriminant(&a) == core::mem::discriminant(&b) && a.region() == b.region()
            }
            (a, b) => core::mem::discriminant(&a) == core::mem::discriminant(&b) && a.region() == b.region(),
        }
    }

    /// Whether `self` and `other` name exactly the same object (used to decide whether a
    /// capability is the last one to its object). seL4's `sameObjectAs`.
    pub fn same_object_as(&self, other: &Cap) -> bool {
        match (*self, *other) {
            (Cap::Untyped { .. }, Cap::Untyped { .. }) => self.region() == other.region(),
            (Cap::Untyped { .. }, _) | (_, Cap::Untyped { .. }) => false,
            (Cap::IrqControl, Cap::IrqHandler { .. }) | (Cap::IoPortControl, Cap::IoPort { .. }) => false,
            (Cap::IoSpaceControl, Cap::IoSpace { .. }) => false,
            _ => self.same_region_as(other),
        }
    }

    /// The badge of an endpoint or notification capability (0: unbadged).
    pub fn badge(&self) -> u64 {
        match *self {
            Cap::Endpoint { badge, .. } | Cap::Notification { badge, .. } => badge,
            _ => 0,
        }
    }

    /// The rights of capabilities that carry rights; all rights for the others.
    pub fn rights(&self) -> Rights {
        match *self {
            Cap::Endpoint { rights, .. } | Cap::Notification { rights, .. } | Cap::Frame { rights, .. } => rights,
            _ => Rights::ALL,
        }
    }

    /// For a zombie: the capability to the object being destroyed, as the object was
    /// created (a CNode without guard, or a TCB).
    pub fn zombie_object(&self) -> Option<Cap> {
        match *self {
            Cap::Zombie { paddr, tcb: true, .. } => Some(Cap::Tcb { paddr }),
            Cap::Zombie { paddr, radix, .. } => Some(Cap::CNode { paddr, radix, guard_bits: 0, guard: 0 }),
            _ => None,
        }
    }

    /// A zombie standing for `self`, the last capability to a CNode or TCB whose
    /// destruction starts: all its slots remain to be emptied.
    pub fn to_zombie(&self) -> Option<Cap> {
        let (paddr, radix, tcb) = match *self {
            Cap::CNode { paddr, radix, .. } => (paddr, radix, false),
            Cap::Tcb { paddr } => (paddr, 0, true),
            _ => return None,
        };
        let (_, count) = self.slot_container()?;
        Some(Cap::Zombie { paddr, link: SlotRef::NONE, root: SlotRef::NONE, remaining: count as u32, radix, tcb, top: false })
    }

    /// Physical address and slot count of an object that holds capability slots (a CNode,
    /// or a TCB's own slots), used when destroying it.
    pub fn slot_container(&self) -> Option<(u64, u64)> {
        match *self {
            Cap::CNode { paddr, radix, .. } => Some((paddr, 1u64 << radix)),
            Cap::Tcb { paddr } => Some((paddr, TCB_SLOT_COUNT)),
            _ => None,
        }
    }
}

/// Slots at the start of every TCB: CSpace root, VSpace root, IPC buffer frame, reply
/// capability (received when serving a Call), and one spare kept for the fault handler.
pub const TCB_SLOT_COUNT: u64 = 5;
/// TCB slot indices.
pub mod tcb_slot {
    /// CSpace root CNode capability.
    pub const CSPACE: u64 = 0;
    /// VSpace root (PML4) capability.
    pub const VSPACE: u64 = 1;
    /// IPC buffer frame capability.
    pub const IPC_BUFFER: u64 = 2;
    /// Reply capability to the thread this one is serving.
    pub const REPLY: u64 = 3;
    /// Fault endpoint capability.
    pub const FAULT_ENDPOINT: u64 = 4;
}

/// Why a capability cannot be derived (copied or minted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeriveError {
    /// This kind of capability cannot be copied: reply, IRQ control, IOSpace control, zombie, untyped (two
    /// capabilities with separate watermarks could hand out the same memory twice; split an
    /// untyped by retyping it into smaller untypeds instead), unmapped paging structures,
    /// an empty slot, or a badge on an already badged capability.
    NotDerivable,
}

/// Changes a mint applies to the source capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MintParams {
    /// Rights mask: the new capability's rights are the source's rights ∩ this mask.
    pub rights: Rights,
    /// Badge for endpoint/notification caps, or guard data for CNodes
    /// (`guard_bits` in bits 0–5, guard value from bit 6).
    pub data: u64,
}

/// Derives a copy of `source` (seL4's `deriveCap`, followed by `updateCapData` for a mint).
pub fn derive(source: &Cap, mint: Option<MintParams>) -> Result<Cap, DeriveError> {
    let mut cap = match *source {
        Cap::Null | Cap::Reply { .. } | Cap::IrqControl | Cap::IoSpaceControl | Cap::Untyped { .. } | Cap::Zombie { .. } => {
            return Err(DeriveError::NotDerivable);
        }
        Cap::PagingTable { mapping, .. } if !mapping.is_mapped() => return Err(DeriveError::NotDerivable),
        Cap::Frame { paddr, size_bits, rights, device, .. } => Cap::Frame { paddr, size_bits, rights, device, mapping: Mapping::NONE },
        other => other,
    };
    if let Some(MintParams { rights: mask, data }) = mint {
        match &mut cap {
            Cap::Endpoint { badge, rights, .. } | Cap::Notification { badge, rights, .. } => {
                *rights = rights.intersect(mask);
                if data != 0 {
                    if *badge != 0 {
                        // A badged capability cannot be re-badged (seL4 semantics).
                        return Err(DeriveError::NotDerivable);
                    }
                    *badge = data;
                }
            }
            Cap::Frame { rights, .. } => *rights = rights.intersect(mask),
            Cap::CNode { radix, guard_bits, guard, .. } => {
                let bits = (data & 0x3f) as u8;
                if u32::from(bits) + u32::from(*radix) > 64 {
                    return Err(DeriveError::NotDerivable);
                }
                *guard_bits = bits;
                *guard = if bits == 0 { 0 } else { (data >> 6) & (u64::MAX >> (64 - u32::from(bits))) };
            }
            _ => {}
        }
    }
    Ok(cap)
}

/// `cap` with its rights narrowed to `mask` (for a copy with a rights argument).
pub fn mask_rights(cap: Cap, mask: Rights) -> Cap {
    match cap {
        Cap::Endpoint { paddr, badge, rights } => Cap::Endpoint { paddr, badge, rights: rights.intersect(mask) },
        Cap::Notification { paddr, badge, rights } => Cap::Notification { paddr, badge, rights: rights.intersect(mask) },
        Cap::Frame { paddr, size_bits, rights, device, mapping } => {
            Cap::Frame { paddr, size_bits, rights: rights.intersect(mask), device, mapping }
        }
        other => other,
    }
}

/// `cap` with its badge (endpoints, notifications) or guard (CNodes, `data` as for a mint)
/// changed in place, for Mutate; everything else, including a frame's mapping, is kept.
pub fn mutate(cap: Cap, data: u64) -> Result<Cap, DeriveError> {
    match cap {
        Cap::Endpoint { .. } | Cap::Notification { .. } | Cap::CNode { .. } => derive(&cap, Some(MintParams { rights: Rights::ALL, data })),
        other => Ok(other),
    }
}

/// Whether a capability derived from `source` as `derived` can have children of its own:
/// newly badged endpoints/notifications, untyped objects (made by retype; untyped
/// capabilities are never copied), IRQ handlers and IO port ranges issued from their
/// control capabilities. seL4's `isCapRevocable`.
pub fn is_revocable(derived: &Cap, source: &Cap) -> bool {
    match (derived, source) {
        (Cap::Endpoint { .. } | Cap::Notification { .. }, _) => derived.badge() != source.badge(),
        (Cap::Untyped { .. }, _) => true,
        (Cap::IrqHandler { .. }, Cap::IrqControl) => true,
        (Cap::IoPort { .. }, Cap::IoPortControl) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EP: Cap = Cap::Endpoint { paddr: 0x1000, badge: 0, rights: Rights::ALL };

    #[test]
    fn untyped_contains_objects_inside_it_only() {
        let ut = Cap::Untyped { paddr: 0x10000, size_bits: 16, device: false, free_offset: 0, prepared_to: 0, prepared_kind: 0 };
        assert!(ut.same_region_as(&Cap::Endpoint { paddr: 0x10020, badge: 0, rights: Rights::ALL }));
        assert!(!ut.same_region_as(&Cap::Tcb { paddr: 0x20000 }));
        assert!(!ut.same_object_as(&Cap::Endpoint { paddr: 0x10020, badge: 0, rights: Rights::ALL }));
        assert!(ut.same_object_as(&ut));
    }

    #[test]
    fn mint_narrows_rights_and_badges_once() {
        let minted = derive(&EP, Some(MintParams { rights: Rights::WRITE, data: 7 })).unwrap();
        assert_eq!(minted, Cap::Endpoint { paddr: 0x1000, badge: 7, rights: Rights::WRITE });
        let widen = derive(&minted, Some(MintParams { rights: Rights::ALL, data: 0 })).unwrap();
        assert_eq!(widen.rights(), Rights::WRITE, "rights never grow");
        assert_eq!(derive(&minted, Some(MintParams { rights: Rights::ALL, data: 9 })), Err(DeriveError::NotDerivable));
        assert!(is_revocable(&minted, &EP));
        assert!(!is_revocable(&widen, &minted));
    }

    #[test]
    fn cnode_mint_sets_guard() {
        let cnode = Cap::CNode { paddr: 0x4000, radix: 4, guard_bits: 0, guard: 0 };
        let minted = derive(&cnode, Some(MintParams { rights: Rights::ALL, data: 3 | (5 << 6) })).unwrap();
        assert_eq!(minted, Cap::CNode { paddr: 0x4000, radix: 4, guard_bits: 3, guard: 5 });
        assert!(derive(&cnode, Some(MintParams { rights: Rights::ALL, data: 61 })).is_err());
    }

    #[test]
    fn underivable_caps() {
        assert_eq!(derive(&Cap::Reply { tcb: 1, can_grant: true }, None), Err(DeriveError::NotDerivable));
        assert_eq!(derive(&Cap::IrqControl, None), Err(DeriveError::NotDerivable));
        let ut = Cap::Untyped { paddr: 0, size_bits: 12, device: false, free_offset: 0, prepared_to: 0, prepared_kind: 0 };
        assert_eq!(derive(&ut, None), Err(DeriveError::NotDerivable));
        let pt = Cap::PagingTable { paddr: 0x1000, level: TableLevel::PageTable, mapping: Mapping::NONE };
        assert_eq!(derive(&pt, None), Err(DeriveError::NotDerivable));
    }

    #[test]
    fn copy_keeps_cnode_guard_and_mutate_keeps_frame_mapping() {
        let cnode = Cap::CNode { paddr: 0x4000, radix: 4, guard_bits: 60, guard: 0 };
        assert_eq!(mask_rights(derive(&cnode, None).unwrap(), Rights::READ), cnode);
        let frame =
            Cap::Frame { paddr: 0x3000, size_bits: 12, rights: Rights::ALL, device: false, mapping: Mapping { asid: 2, vaddr: 0x40_0000 } };
        assert_eq!(mutate(frame, 5), Ok(frame));
        assert_eq!(mutate(EP, 5), Ok(Cap::Endpoint { paddr: 0x1000, badge: 5, rights: Rights::ALL }));
    }

    #[test]
    fn frame_copies_are_unmapped() {
        let frame =
            Cap::Frame { paddr: 0x3000, size_bits: 12, rights: Rights::ALL, device: false, mapping: Mapping { asid: 2, vaddr: 0x40_0000 } };
        let copy = derive(&frame, None).unwrap();
        assert!(matches!(copy, Cap::Frame { mapping: Mapping::NONE, .. }));
        assert!(frame.same_object_as(&copy));
    }

    /// The virtual range of one table (found untested by `make mutants`; `vspace::map_table`
    /// aligns a recorded mapping to it).
    #[test]
    fn each_table_level_spans_512_of_the_level_below() {
        assert_eq!(TableLevel::PageTable.span_bits(), 12 + 9);
        assert_eq!(TableLevel::PageDirectory.span_bits(), 12 + 2 * 9);
        assert_eq!(TableLevel::Pdpt.span_bits(), 12 + 3 * 9);
    }

    /// Regions and same-region rules of each kind (found untested by `make mutants`).
    #[test]
    fn regions_and_same_region_rules_of_each_kind() {
        let notification = Cap::Notification { paddr: 0x2000, badge: 0, rights: Rights::ALL };
        assert_eq!(notification.region(), Some((0x2000, 0x2040)));
        assert_eq!(Cap::Tcb { paddr: 0x4000 }.region(), Some((0x4000, 0x4800)));
        let cnode = |radix| Cap::CNode { paddr: 0x8000, radix, guard_bits: 0, guard: 0 };
        assert_eq!(cnode(2).region(), Some((0x8000, 0x8100)), "4 slots of 64 bytes");
        let irq = |irq| Cap::IrqHandler { irq };
        assert!(irq(3).same_region_as(&irq(3)) && !irq(3).same_region_as(&irq(4)));
        let ports = |first, last| Cap::IoPort { first, last };
        assert!(ports(0x60, 0x64).same_region_as(&ports(0x60, 0x64)));
        assert!(!ports(0x60, 0x64).same_region_as(&ports(0x60, 0x65)));
        assert!(!ports(0x60, 0x64).same_region_as(&ports(0x61, 0x64)));
        assert!(!ports(0x60, 0x64).same_region_as(&ports(0x61, 0x65)));
        let reply = |tcb| Cap::Reply { tcb, can_grant: false };
        assert!(reply(0x4000).same_region_as(&reply(0x4000)) && !reply(0x4000).same_region_as(&reply(0x5000)));
        // A zombie is the object it destroys: a TCB's zombie is not a CNode with the same
        // region (radix 5: 32 slots, 2 KiB, as a TCB).
        let tcb_zombie = Cap::Tcb { paddr: 0x8000 }.to_zombie().unwrap();
        assert_eq!(tcb_zombie.region(), cnode(5).region());
        assert!(!tcb_zombie.same_region_as(&cnode(5)) && !cnode(5).same_region_as(&tcb_zombie));
        assert!(tcb_zombie.same_region_as(&Cap::Tcb { paddr: 0x8000 }));
        assert!(cnode(5).to_zombie().unwrap().same_region_as(&cnode(5)));
        // IRQ and IO-port control are parents of handlers and ports, never the same
        // object: deleting a handler is not the last capability to the control.
        let handler = irq(3);
        assert!(Cap::IrqControl.same_region_as(&handler) && !Cap::IrqControl.same_object_as(&handler));
        assert!(Cap::IoPortControl.same_region_as(&ports(1, 2)) && !Cap::IoPortControl.same_object_as(&ports(1, 2)));
        // The same for IOSpace control and an IOSpace; two IOSpaces are one object only for
        // the same PCI function (found untested by `make mutants`).
        let io = |device| Cap::IoSpace { device };
        assert!(io(0x10).same_region_as(&io(0x10)) && !io(0x10).same_region_as(&io(0x18)));
        assert!(io(0x10).same_object_as(&io(0x10)) && !io(0x10).same_object_as(&io(0x18)));
        assert!(Cap::IoSpaceControl.same_region_as(&io(0x10)) && !Cap::IoSpaceControl.same_object_as(&io(0x10)));
    }

    /// Minting a frame narrows its rights and drops the mapping; a CNode mint's guard fits
    /// with the radix in 64 bits exactly (found untested by `make mutants`).
    #[test]
    fn mint_narrows_frames_and_bounds_cnode_guards() {
        let frame =
            Cap::Frame { paddr: 0x20_0000, size_bits: 12, rights: Rights::ALL, device: false, mapping: Mapping { asid: 1, vaddr: 0 } };
        let minted = derive(&frame, Some(MintParams { rights: Rights::READ, data: 0 })).unwrap();
        assert_eq!(minted, Cap::Frame { paddr: 0x20_0000, size_bits: 12, rights: Rights::READ, device: false, mapping: Mapping::NONE });
        let cnode = |radix| Cap::CNode { paddr: 0x8000, radix, guard_bits: 0, guard: 0 };
        let guard = |bits: u64, value: u64| Some(MintParams { rights: Rights::ALL, data: bits | (value << 6) });
        assert_eq!(
            derive(&cnode(8), guard(56, 3)),
            Ok(Cap::CNode { paddr: 0x8000, radix: 8, guard_bits: 56, guard: 3 }),
            "8 + 56 = 64 bits"
        );
        assert_eq!(derive(&cnode(8), guard(57, 0)), Err(DeriveError::NotDerivable), "65 bits");
        assert_eq!(derive(&cnode(10), guard(10, 1)), Ok(Cap::CNode { paddr: 0x8000, radix: 10, guard_bits: 10, guard: 1 }));
        assert_eq!(
            derive(&cnode(8), guard(4, 0x1F)),
            Ok(Cap::CNode { paddr: 0x8000, radix: 8, guard_bits: 4, guard: 0xF }),
            "masked to 4 bits"
        );
    }

    /// Which derived capabilities may have children (found untested by `make mutants`).
    #[test]
    fn retyped_untypeds_and_issued_handlers_and_ports_are_revocable() {
        let untyped = Cap::Untyped { paddr: 0x10000, size_bits: 12, device: false, free_offset: 0, prepared_to: 0, prepared_kind: 0 };
        assert!(is_revocable(&untyped, &untyped));
        assert!(is_revocable(&Cap::IrqHandler { irq: 3 }, &Cap::IrqControl));
        assert!(!is_revocable(&Cap::IrqHandler { irq: 3 }, &Cap::IrqHandler { irq: 3 }), "a copy of a handler");
        assert!(is_revocable(&Cap::IoPort { first: 1, last: 2 }, &Cap::IoPortControl));
        assert!(!is_revocable(&Cap::IoPort { first: 1, last: 2 }, &Cap::IoPort { first: 1, last: 2 }), "a copy of a range");
        let badged = Cap::Endpoint { paddr: 0x1000, badge: 7, rights: Rights::ALL };
        assert!(is_revocable(&badged, &EP) && !is_revocable(&EP, &EP) && !is_revocable(&badged, &badged));
    }
}
