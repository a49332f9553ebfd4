//! A domain's keeper (`tileos_sysdesc::footprint::keeper`, where its slot bookkeeping lives
//! and is tested on the host): the kernel invocations behind it. The keeper is a CNode of the
//! root server, made once at boot from the general memory, that holds the capabilities of the
//! domain's memory pieces and of everything a build made between builds. So a built domain
//! holds three slots of the root server's CNode (keeper, TCB, fault endpoint) whatever its
//! size, and some 4,980 domains fit in its 16,384 slots (docs/system-description.md, "Limits").

use crate::alloc::{Allocator, Region};
use crate::loader::LoadError;
use ::alloc_crate::vec::Vec;
use tileos_abi::bootinfo::slot;
use tileos_abi::invocation::{CNodeDelete, CNodeMove, CNodeRevoke, CPtr, Slot};
use tileos_sys::Error;
use tileos_sys::cap::CNode;
use tileos_sysdesc::footprint::admission::Refusal;
use tileos_sysdesc::footprint::keeper::{Capabilities, KeeperError};

pub(super) use tileos_sysdesc::footprint::keeper::Keeper;

/// The root server's free slots and CNode invocations on its CNode and keeper `keeper`.
struct Invocations<'a> {
    alloc: &'a mut Allocator,
    keeper: Keeper,
}

impl Invocations<'_> {
    fn at(&self, index: u64) -> Slot {
        Slot::new(index, u64::from(self.keeper.radix))
    }

    fn keeper(&self) -> CNode {
        CNode::from_cptr(self.keeper.slot)
    }
}

impl Capabilities for Invocations<'_> {
    type Error = Error;
    fn free_slots(&self) -> u64 {
        self.alloc.slots.free()
    }
    fn take_slot(&mut self) -> Option<u64> {
        self.alloc.slots.try_take().ok()
    }
    fn give_back(&mut self, slot: u64) {
        self.alloc.slots.recycled.push(slot);
    }
    fn move_out(&mut self, index: u64, root: u64) -> Result<(), Error> {
        CNode::ROOT.invoke(CNodeMove { dest: Slot::at(root), src: self.at(index), src_root: CPtr(self.keeper.slot) }).map(|_| ())
    }
    fn move_in(&mut self, root: u64, index: u64) -> Result<(), Error> {
        self.keeper().invoke(CNodeMove { dest: self.at(index), src: Slot::at(root), src_root: CPtr(slot::CNODE) }).map(|_| ())
    }
    fn revoke(&mut self, index: Option<u64>, root: u64) -> Result<(), Error> {
        match index {
            Some(index) => self.keeper().invoke(CNodeRevoke { slot: self.at(index) }),
            None => CNode::ROOT.invoke(CNodeRevoke { slot: Slot::at(root) }),
        }
        .map(|_| ())
    }
    fn delete(&mut self, index: u64) -> Result<(), Error> {
        self.keeper().invoke(CNodeDelete { slot: self.at(index) }).map(|_| ())
    }
}

fn load_error(error: KeeperError<Error>) -> LoadError {
    match error {
        KeeperError::SlotsFull { needed, free } => LoadError::Refused(Refusal::Slots { needed, available: free }),
        KeeperError::Full { capacity } => LoadError::KeeperFull { capacity },
        KeeperError::Kernel(what, error) => LoadError::Kernel(what, error),
    }
}

/// The root slots of `memory`'s pieces.
fn slots(memory: &[Region]) -> Vec<u64> {
    memory.iter().map(|piece| piece.slot).collect()
}

/// Moves the pieces kept in `keeper` out to fresh root slots (`memory` then names them), so
/// that a build can retype from them (`Keeper::take_out`).
pub(super) fn take_out(keeper: &mut Keeper, alloc: &mut Allocator, memory: &mut [Region]) -> Result<(), LoadError> {
    let mut pieces = slots(memory);
    let result = keeper.take_out(&mut Invocations { alloc, keeper: *keeper }, &mut pieces);
    for (piece, slot) in memory.iter_mut().zip(pieces) {
        piece.slot = slot;
    }
    result.map_err(load_error)
}

/// Moves the capabilities of root slots `made`, then the pieces, into `keeper`, giving the
/// pieces' root slots back (`Keeper::stow`).
pub(super) fn stow(
    keeper: &mut Keeper,
    alloc: &mut Allocator,
    made: impl Iterator<Item = u64>,
    memory: &[Region],
) -> Result<(), LoadError> {
    keeper.stow(&mut Invocations { alloc, keeper: *keeper }, made, &slots(memory)).map_err(load_error)
}

/// Destroys everything built from the pieces and deletes the copies kept in `keeper`; the
/// pieces stay, for the next build (`Keeper::destroy`).
pub(super) fn destroy(keeper: &mut Keeper, alloc: &mut Allocator, memory: &[Region]) -> Result<(), LoadError> {
    keeper.destroy(&mut Invocations { alloc, keeper: *keeper }, &slots(memory)).map_err(load_error)
}
