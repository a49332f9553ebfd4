//! A domain's keeper: a CNode of the root server, made once at boot from the general memory,
//! that holds the capabilities of the domain's memory pieces and of everything a build made
//! (its objects, its copies of shared and device frames, its badged notifications) between
//! builds. So a built domain holds three slots of the root server's CNode (keeper, TCB,
//! fault endpoint) whatever its size, and a thousand domains fit in its 8,192 slots.
//!
//! A build works in root slots (objects are invoked through them): [`Keeper::take_out`]
//! moves the pieces out before it, [`Keeper::stow`] moves the pieces and what the build made
//! back in after it, and the root slots are given back. Slots `0..objects` hold the build's
//! capabilities; piece `i` lives in the keeper's last slot minus `i`.

use crate::alloc::{Allocator, Region};
use crate::loader::LoadError;
use tileos_abi::bootinfo::slot;
use tileos_abi::invocation::{CNodeDelete, CNodeMove, CNodeRevoke, CPtr, Slot};
use tileos_sys::cap::CNode;

/// Where a domain's pieces and objects are kept between builds.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Keeper {
    /// Its root slot (0: none; the domain was refused).
    pub(super) slot: u64,
    /// log2 of its slot count.
    pub(super) radix: u32,
    /// Slots `0..objects` hold the last build's capabilities.
    objects: u64,
    /// Bit `i` set: piece `i` is in the keeper, else in the root slot its region names.
    pieces: u64,
}

impl Keeper {
    /// A keeper in root slot `slot` with `1 << radix` slots, empty.
    pub(super) fn new(slot: u64, radix: u32) -> Keeper {
        Keeper { slot, radix, objects: 0, pieces: 0 }
    }

    fn at(&self, index: u64) -> Slot {
        Slot::new(index, u64::from(self.radix))
    }

    fn piece_at(&self, piece: usize) -> Slot {
        self.at((1u64 << self.radix) - 1 - piece as u64)
    }

    /// Moves the pieces kept here out to fresh root slots (their regions then name them), so
    /// that a build can retype from them. No slot is taken if not all can be.
    pub(super) fn take_out(&mut self, alloc: &mut Allocator, memory: &mut [Region]) -> Result<(), LoadError> {
        let kept = self.pieces;
        if alloc.slots.free() < u64::from(kept.count_ones()) {
            return Err(LoadError::Alloc(
                "domain memory",
                crate::alloc::AllocError::SlotsFull { capacity: 1 << tileos_abi::bootinfo::ROOT_CNODE_RADIX },
            ));
        }
        for (i, piece) in memory.iter_mut().enumerate().filter(|&(i, _)| kept & (1 << i) != 0) {
            let root = alloc.slots.try_take().map_err(|e| LoadError::Alloc("domain memory", e))?;
            let moved = CNode::ROOT.invoke(CNodeMove { dest: Slot::at(root), src: self.piece_at(i), src_root: CPtr(self.slot) });
            if let Err(error) = moved {
                alloc.slots.recycled.push(root);
                return Err(LoadError::Kernel("move domain memory out of its keeper", error));
            }
            piece.slot = root;
            self.pieces &= !(1 << i);
        }
        Ok(())
    }

    /// Moves the capabilities of root slots `made` (what a build made, but the TCB and the
    /// slots it emptied), then the pieces, into the keeper, giving the pieces' root slots
    /// back. A capability that cannot be moved fails the build, naming what.
    pub(super) fn stow(&mut self, alloc: &mut Allocator, made: impl Iterator<Item = u64>, memory: &[Region]) -> Result<(), LoadError> {
        let room = (1u64 << self.radix) - memory.len() as u64;
        for root in made {
            if self.objects == room {
                return Err(LoadError::KeeperFull { capacity: 1 << self.radix });
            }
            CNode::from_cptr(self.slot)
                .invoke(CNodeMove { dest: self.at(self.objects), src: Slot::at(root), src_root: CPtr(slot::CNODE) })
                .map_err(|e| LoadError::Kernel("move into the keeper", e))?;
            self.objects += 1;
        }
        let kept = self.pieces;
        for (i, piece) in memory.iter().enumerate().filter(|&(i, _)| kept & (1 << i) == 0) {
            CNode::from_cptr(self.slot)
                .invoke(CNodeMove { dest: self.piece_at(i), src: Slot::at(piece.slot), src_root: CPtr(slot::CNODE) })
                .map_err(|e| LoadError::Kernel("move domain memory into its keeper", e))?;
            self.pieces |= 1 << i;
            alloc.slots.recycled.push(piece.slot);
        }
        Ok(())
    }

    /// Destroys everything built from the pieces (revoking each where it is) and deletes the
    /// copies kept here; the pieces stay, for the next build.
    pub(super) fn destroy(&mut self, memory: &[Region]) -> Result<(), LoadError> {
        let revoke = |error| LoadError::Kernel("revoke domain memory", error);
        for (i, piece) in memory.iter().enumerate() {
            if self.pieces & (1 << i) != 0 {
                CNode::from_cptr(self.slot).invoke(CNodeRevoke { slot: self.piece_at(i) }).map_err(revoke)?;
            } else {
                CNode::ROOT.invoke(CNodeRevoke { slot: Slot::at(piece.slot) }).map_err(revoke)?;
            }
        }
        while self.objects > 0 {
            CNode::from_cptr(self.slot)
                .invoke(CNodeDelete { slot: self.at(self.objects - 1) })
                .map_err(|e| LoadError::Kernel("delete a kept copy", e))?;
            self.objects -= 1;
        }
        Ok(())
    }
}
