//! Invocation error codes, returned as the label of the reply message. Message register 0
//! then names the argument at fault where that helps (documented per code).

/// Why an invocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum InvocationError {
    /// An argument is out of its valid set. MR0: index of the argument.
    InvalidArgument = 1,
    /// A capability argument has the wrong type or lacks rights. MR0: index of the
    /// capability argument (0 = the invoked capability itself, 1.. = extra caps).
    InvalidCapability = 2,
    /// The operation is not allowed on this object in its current state (e.g. unknown
    /// invocation label, mapping an already-mapped frame elsewhere).
    IllegalOperation = 3,
    /// A number is outside its range. MR0: minimum, MR1: maximum allowed.
    RangeError = 4,
    /// An address or size is not aligned as required.
    AlignmentError = 5,
    /// A capability pointer did not resolve. MR0: 1 if the failure was on the source
    /// side, 0 if on the destination side; MR1: [`LookupFailure`] code.
    FailedLookup = 6,
    /// The message was shorter than the invocation needs.
    TruncatedMessage = 7,
    /// The destination slot is occupied: delete its capability first.
    DeleteFirst = 8,
    /// The object has derived capabilities: revoke first.
    RevokeFirst = 9,
    /// The untyped has too little free memory. MR0: bytes available.
    NotEnoughMemory = 10,
    /// The capability stands for an object whose destruction is in progress (a zombie,
    /// left by a deletion or revocation that was preempted): it cannot be used, copied,
    /// moved or revoked. Deleting it continues the destruction; a zombie met inside an
    /// object by a revocation belongs to a deletion that must finish first.
    DeletionInProgress = 11,
}

impl InvocationError {
    /// Decodes a reply label; `None` for 0 (success) and unknown codes.
    pub fn from_raw(raw: u64) -> Option<InvocationError> {
        use InvocationError::*;
        [
            InvalidArgument,
            InvalidCapability,
            IllegalOperation,
            RangeError,
            AlignmentError,
            FailedLookup,
            TruncatedMessage,
            DeleteFirst,
            RevokeFirst,
            NotEnoughMemory,
            DeletionInProgress,
        ]
        .into_iter()
        .find(|e| *e as u64 == raw)
    }
}

/// A failed invocation as the kernel reports it: the code (reply label) and the two detail
/// words (MR0, MR1) whose meaning each code documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    /// The error code.
    pub code: InvocationError,
    /// Detail words (MR0, MR1).
    pub details: [u64; 2],
}

impl Error {
    /// An error without details.
    pub const fn new(code: InvocationError) -> Error {
        Error { code, details: [0, 0] }
    }
    /// An error naming argument `index`.
    pub const fn argument(code: InvocationError, index: u64) -> Error {
        Error { code, details: [index, 0] }
    }
    /// A failed lookup (`source`: on the source side) with its reason.
    pub const fn lookup(source: bool, failure: LookupFailure) -> Error {
        Error { code: InvocationError::FailedLookup, details: [source as u64, failure as u64] }
    }
    /// A range error with the allowed bounds.
    pub const fn range(min: u64, max: u64) -> Error {
        Error { code: InvocationError::RangeError, details: [min, max] }
    }
}

/// Why a capability pointer did not resolve (detail of [`InvocationError::FailedLookup`]
/// and of capability faults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum LookupFailure {
    /// A slot on the path is not a CNode (or the root is not a CNode).
    InvalidRoot = 1,
    /// Resolution needed more bits than the depth given.
    DepthMismatch = 2,
    /// A CNode's guard did not match the pointer bits.
    GuardMismatch = 3,
    /// The final slot is empty.
    MissingCapability = 4,
}
