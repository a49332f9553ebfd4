//! Kernel object types, their sizes, and capability rights.

/// Type of a kernel object, as named in `Untyped::Retype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ObjectType {
    /// Untyped memory (size given by `size_bits`).
    Untyped = 0,
    /// Thread control block.
    Tcb = 1,
    /// IPC endpoint.
    Endpoint = 2,
    /// Notification (a word of binary semaphores).
    Notification = 3,
    /// Capability node of `2^size_bits` slots.
    CNode = 4,
    /// 4 KiB frame.
    Frame4K = 5,
    /// 2 MiB frame.
    Frame2M = 6,
    /// Page table (maps 2 MiB in 4 KiB pages).
    PageTable = 7,
    /// Page directory (maps 1 GiB in page tables or 2 MiB frames).
    PageDirectory = 8,
    /// Page-directory-pointer table (maps 512 GiB).
    Pdpt = 9,
    /// Top-level paging structure: an address space (VSpace).
    Pml4 = 10,
}

impl ObjectType {
    /// Decodes a retype argument.
    pub fn from_raw(raw: u64) -> Option<ObjectType> {
        use ObjectType::*;
        [Untyped, Tcb, Endpoint, Notification, CNode, Frame4K, Frame2M, PageTable, PageDirectory, Pdpt, Pml4]
            .into_iter()
            .find(|t| *t as u64 == raw)
    }

    /// log2 of the object's size in bytes; for [`ObjectType::Untyped`] and
    /// [`ObjectType::CNode`] the caller's `size_bits` decides (CNode: slots).
    pub fn size_bits(self, user_size_bits: u32) -> u32 {
        match self {
            ObjectType::Untyped => user_size_bits,
            ObjectType::Tcb => TCB_SIZE_BITS,
            ObjectType::Endpoint => 5,
            ObjectType::Notification => 6,
            ObjectType::CNode => user_size_bits + SLOT_SIZE_BITS,
            ObjectType::Frame2M => 21,
            ObjectType::Frame4K | ObjectType::PageTable | ObjectType::PageDirectory | ObjectType::Pdpt | ObjectType::Pml4 => 12,
        }
    }
}

/// log2 of a TCB's size (2 KiB: registers, FPU state, scheduling and IPC state, and the
/// five slots holding its CSpace root, VSpace root, IPC buffer frame, reply capability and
/// fault endpoint).
pub const TCB_SIZE_BITS: u32 = 11;
/// log2 of one CNode slot's size (64 bytes).
pub const SLOT_SIZE_BITS: u32 = 6;
/// Smallest untyped that can be created.
pub const MIN_UNTYPED_BITS: u32 = 4;
/// Largest untyped that can be created (128 TiB).
pub const MAX_UNTYPED_BITS: u32 = 47;
/// Largest CNode radix (slots = 2^radix).
pub const MAX_CNODE_RADIX: u32 = 20;

/// Rights a capability confers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Rights(pub u8);

impl Rights {
    /// Write (send on an endpoint, write a frame).
    pub const WRITE: Rights = Rights(1);
    /// Read (receive on an endpoint, read a frame).
    pub const READ: Rights = Rights(2);
    /// Grant: pass capabilities through an endpoint.
    pub const GRANT: Rights = Rights(4);
    /// Grant-reply: a caller may receive capabilities in the reply.
    pub const GRANT_REPLY: Rights = Rights(8);
    /// All rights.
    pub const ALL: Rights = Rights(15);
    /// No rights.
    pub const NONE: Rights = Rights(0);

    /// Whether every right in `other` is also in `self`.
    pub const fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }
    /// Rights in both.
    pub const fn intersect(self, other: Rights) -> Rights {
        Rights(self.0 & other.0)
    }
    /// Decodes a rights word; only the low four bits mean anything.
    pub const fn from_word(word: u64) -> Rights {
        Rights((word & 15) as u8)
    }
}
