//! The bookkeeping of a domain's *keeper*: a CNode of the root server, made once at boot,
//! that holds the capabilities of the domain's memory pieces and of everything a build made
//! (its objects, its copies of shared and device frames, its badged notifications) between
//! builds, so that a built domain holds a fixed handful of the root server's slots
//! ([`super::Footprint::root_slots`]) whatever its size.
//!
//! Layout: keeper slots `0..objects` hold the last build's capabilities, piece `i` lives in
//! the keeper's last slot minus `i`. A build works in root slots (objects are invoked
//! through them): [`Keeper::take_out`] moves the pieces out before it, [`Keeper::stow`]
//! moves what the build made and the pieces back in after it, [`Keeper::destroy`] destroys
//! everything built from the pieces for a restart, which reuses the same keeper slots.
//!
//! The capability operations and the root server's free slots are behind [`Capabilities`],
//! so the same code runs in the root server (kernel invocations) and in host tests.

/// What the keeper needs from the root server: its free root slots and four capability
/// operations on its own CNode and on the keeper.
pub trait Capabilities {
    /// The kernel's error.
    type Error;
    /// Free slots of the root server's CNode.
    fn free_slots(&self) -> u64;
    /// A free root slot (`None`: none left).
    fn take_slot(&mut self) -> Option<u64>;
    /// Gives back root slot `slot`, now empty.
    fn give_back(&mut self, slot: u64);
    /// Moves the capability in keeper slot `index` to the empty root slot `root`.
    fn move_out(&mut self, index: u64, root: u64) -> Result<(), Self::Error>;
    /// Moves the capability in root slot `root` into the empty keeper slot `index`.
    fn move_in(&mut self, root: u64, index: u64) -> Result<(), Self::Error>;
    /// Revokes the capability in keeper slot `index` (`Some`) or root slot (`None`, `root`):
    /// destroys everything retyped from it, keeping it.
    fn revoke(&mut self, index: Option<u64>, root: u64) -> Result<(), Self::Error>;
    /// Deletes the capability in keeper slot `index`.
    fn delete(&mut self, index: u64) -> Result<(), Self::Error>;
}

/// Why a keeper operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeeperError<E> {
    /// The root server's CNode has too few free slots to take the pieces out.
    SlotsFull {
        /// Slots needed.
        needed: u64,
        /// Slots free.
        free: u64,
    },
    /// The keeper has too few slots for the pieces and what the build made (the footprint
    /// counted too few: a bug of [`super::domain()`]).
    Full {
        /// The keeper's slots.
        capacity: u64,
    },
    /// A capability operation failed: what, and the kernel's error.
    Kernel(&'static str, E),
}

impl<E: core::fmt::Debug> core::fmt::Display for KeeperError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeeperError::SlotsFull { needed, free } => {
                write!(f, "no slots to take its memory out of its keeper: {needed} needed, {free} free in the root server's CNode")
            }
            KeeperError::Full { capacity } => write!(f, "its keeper CNode ({capacity} slots) is full: the footprint counted too few"),
            KeeperError::Kernel(what, error) => write!(f, "{what}: kernel error {error:?}"),
        }
    }
}

/// Where a domain's pieces and objects are kept between builds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Keeper {
    /// Its root slot (0: none; the domain was refused).
    pub slot: u64,
    /// log2 of its slot count.
    pub radix: u32,
    /// Slots `0..objects` hold the last build's capabilities.
    objects: u64,
    /// Bit `i` set: piece `i` is in the keeper, else in the root slot `pieces[i]` names.
    kept: u64,
}

impl Keeper {
    /// A keeper in root slot `slot` with `1 << radix` slots, empty.
    pub fn new(slot: u64, radix: u32) -> Keeper {
        Keeper { slot, radix, objects: 0, kept: 0 }
    }

    /// Its slots.
    pub fn capacity(&self) -> u64 {
        1 << self.radix
    }

    /// Capabilities of the last build it holds.
    pub fn objects(&self) -> u64 {
        self.objects
    }

    /// Whether piece `i` is in the keeper (else in the root slot its entry names).
    pub fn holds_piece(&self, piece: usize) -> bool {
        self.kept & (1 << piece) != 0
    }

    /// Records that piece `piece` was made in its keeper slot ([`Keeper::piece_slot`]): the
    /// root server retypes the pieces straight into the keeper at boot.
    pub fn keep_piece(&mut self, piece: usize) {
        self.kept |= 1 << piece;
    }

    /// The keeper slot of piece `piece`.
    pub fn piece_slot(&self, piece: usize) -> u64 {
        self.capacity() - 1 - piece as u64
    }

    /// Moves the pieces kept here out to fresh root slots, written into `pieces` (the root
    /// slot of each piece), so that a build can retype from them. Takes no slot at all if
    /// not all can be taken.
    pub fn take_out<C: Capabilities>(&mut self, caps: &mut C, pieces: &mut [u64]) -> Result<(), KeeperError<C::Error>> {
        let needed = u64::from(self.kept.count_ones());
        if caps.free_slots() < needed {
            return Err(KeeperError::SlotsFull { needed, free: caps.free_slots() });
        }
        let kept = self.kept;
        for (i, piece) in pieces.iter_mut().enumerate().filter(|&(i, _)| kept & (1 << i) != 0) {
            let root = caps.take_slot().ok_or(KeeperError::SlotsFull { needed, free: 0 })?;
            if let Err(error) = caps.move_out(self.piece_slot(i), root) {
                caps.give_back(root);
                return Err(KeeperError::Kernel("move domain memory out of its keeper", error));
            }
            *piece = root;
            self.kept &= !(1 << i);
        }
        Ok(())
    }

    /// Moves the capabilities of root slots `made` (what a build made but the slots it keeps
    /// in the root CNode), then the pieces (root slots `pieces`), into the keeper, giving the
    /// pieces' root slots back. A capability that cannot be moved fails, naming what.
    pub fn stow<C: Capabilities>(
        &mut self,
        caps: &mut C,
        made: impl Iterator<Item = u64>,
        pieces: &[u64],
    ) -> Result<(), KeeperError<C::Error>> {
        let room = self.capacity().saturating_sub(pieces.len() as u64);
        for root in made {
            if self.objects >= room {
                return Err(KeeperError::Full { capacity: self.capacity() });
            }
            caps.move_in(root, self.objects).map_err(|e| KeeperError::Kernel("move into the keeper", e))?;
            self.objects += 1;
        }
        let kept = self.kept;
        for (i, &root) in pieces.iter().enumerate().filter(|&(i, _)| kept & (1 << i) == 0) {
            caps.move_in(root, self.piece_slot(i)).map_err(|e| KeeperError::Kernel("move domain memory into its keeper", e))?;
            self.kept |= 1 << i;
            caps.give_back(root);
        }
        Ok(())
    }

    /// Destroys everything built from the pieces (revoking each where it is: `pieces` names
    /// the root slot of those not kept) and deletes the copies kept here; the pieces stay, for
    /// the next build, which reuses the same keeper slots.
    pub fn destroy<C: Capabilities>(&mut self, caps: &mut C, pieces: &[u64]) -> Result<(), KeeperError<C::Error>> {
        for (i, &root) in pieces.iter().enumerate() {
            let kept = self.holds_piece(i).then(|| self.piece_slot(i));
            caps.revoke(kept, root).map_err(|e| KeeperError::Kernel("revoke domain memory", e))?;
        }
        while self.objects > 0 {
            caps.delete(self.objects - 1).map_err(|e| KeeperError::Kernel("delete a kept copy", e))?;
            self.objects -= 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
