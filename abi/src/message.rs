//! The message-info word and the IPC buffer layout.

/// Message registers passed in CPU registers (`r10 r8 r9 r15`).
pub const REGISTER_MESSAGE_WORDS: usize = 4;
/// Largest message, in words (registers plus IPC buffer).
pub const MAX_MESSAGE_WORDS: usize = 120;
/// Capabilities one message can carry.
pub const MAX_EXTRA_CAPS: usize = 3;
/// Label of the message a thread receives when the endpoint or notification it was
/// blocked on is destroyed (its last capability deleted or revoked): the IPC was aborted.
pub const LABEL_IPC_ABORTED: u64 = (1 << 52) - 1;
/// Label of the reply a caller receives when the capability to reply to it was destroyed
/// before anyone replied — typically because the server domain died and is being
/// restarted. The caller may retry (a restarted server has a new generation).
pub const LABEL_REPLY_LOST: u64 = (1 << 52) - 2;
/// Label of what a `SaveRecv` ([`crate::syscall::Syscall::SaveRecv`]) returns at once when
/// it could not save the reply capability: nothing was moved or received; message
/// registers 0–2 hold the [`crate::error::InvocationError`] code and its two detail words
/// (`FailedLookup` with 0 and the lookup failure for a destination that does not resolve,
/// `DeleteFirst` for one that is not empty, `IllegalOperation` for a caller running on a
/// donated budget).
pub const LABEL_SAVE_FAILED: u64 = (1 << 52) - 3;

/// Describes a message: label, length in words, number of capabilities sent, and which
/// received capabilities were unwrapped into badges. Bit layout: length `[6:0]`,
/// extra caps `[8:7]`, caps unwrapped `[11:9]`, label `[63:12]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MessageInfo(pub u64);

impl MessageInfo {
    /// A message info; `length` is clamped to [`MAX_MESSAGE_WORDS`] and `extra_caps` to
    /// [`MAX_EXTRA_CAPS`] by the kernel, not here.
    pub const fn new(label: u64, caps_unwrapped: u64, extra_caps: u64, length: u64) -> MessageInfo {
        MessageInfo((label << 12) | ((caps_unwrapped & 0x7) << 9) | ((extra_caps & 0x3) << 7) | (length & 0x7f))
    }
    /// The label: invocation number on a call, error code on an invocation reply.
    pub const fn label(self) -> u64 {
        self.0 >> 12
    }
    /// Bitmap of received capabilities delivered as badges instead of slots.
    pub const fn caps_unwrapped(self) -> u64 {
        (self.0 >> 9) & 0x7
    }
    /// Number of capabilities carried.
    pub const fn extra_caps(self) -> usize {
        ((self.0 >> 7) & 0x3) as usize
    }
    /// Message length in words.
    pub const fn length(self) -> usize {
        (self.0 & 0x7f) as usize
    }
}

/// Layout of the IPC buffer, one per thread, in a frame the thread owns. Word offsets:
/// `msg` at 0 (words 0–3 unused when passed in registers), `user_data` at 120,
/// `caps_or_badges` at 121–123, `receive_index` 124, `receive_depth` 125.
pub mod ipc_buffer {
    /// Word offset of the message words.
    pub const MSG: usize = 0;
    /// Word offset of a word reserved for the thread's own use (e.g. its TLS pointer).
    pub const USER_DATA: usize = 120;
    /// Word offset of the capability pointers to send, or the badges of received caps.
    pub const CAPS_OR_BADGES: usize = 121;
    /// Word offset: capability pointer of the slot (resolved from the receiver's CSpace
    /// root with `receive_depth` bits) where a received capability is placed.
    pub const RECEIVE_INDEX: usize = 124;
    /// Word offset: depth for resolving `receive_index`; 0 means "receive no capability".
    pub const RECEIVE_DEPTH: usize = 125;
    /// Size of the IPC buffer in bytes (it must not cross a page boundary).
    pub const SIZE: usize = 1024;
}
