//! Invocation labels: the label of a `Call` on a kernel object's capability says which
//! method to run. Arguments follow in message registers (and capabilities in the extra-caps
//! slots); `docs/abi.md` lists them per label.

/// Invocation labels, grouped by object type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
#[allow(missing_docs)] // names are the seL4 method names; docs/abi.md documents arguments
pub enum Label {
    UntypedRetype = 1,
    TcbReadRegisters = 10,
    TcbWriteRegisters = 11,
    TcbConfigure = 12,
    TcbSetPriority = 13,
    TcbSetMcPriority = 14,
    TcbSuspend = 15,
    TcbResume = 16,
    TcbBindNotification = 17,
    TcbUnbindNotification = 18,
    TcbSetIpcBuffer = 19,
    TcbSetSchedParams = 20,
    CNodeRevoke = 30,
    CNodeDelete = 31,
    CNodeCopy = 32,
    CNodeMint = 33,
    CNodeMove = 34,
    CNodeMutate = 35,
    CNodeRotate = 36,
    CNodeSaveCaller = 37,
    PagingStructureMap = 40,
    PagingStructureUnmap = 41,
    FrameMap = 50,
    FrameUnmap = 51,
    FrameGetAddress = 52,
    IrqControlGet = 60,
    IrqHandlerAck = 61,
    IrqHandlerSetNotification = 62,
    IrqHandlerClear = 63,
    IrqControlGetMsi = 64,
    IrqHandlerMsiMessage = 65,
    IoPortControlIssue = 70,
    IoPortIn8 = 71,
    IoPortIn16 = 72,
    IoPortIn32 = 73,
    IoPortOut8 = 74,
    IoPortOut16 = 75,
    IoPortOut32 = 76,
}

impl Label {
    /// Every label, for decoding.
    pub const ALL: [Label; 38] = {
        use Label::*;
        [
            UntypedRetype,
            TcbReadRegisters,
            TcbWriteRegisters,
            TcbConfigure,
            TcbSetPriority,
            TcbSetMcPriority,
            TcbSuspend,
            TcbResume,
            TcbBindNotification,
            TcbUnbindNotification,
            TcbSetIpcBuffer,
            TcbSetSchedParams,
            CNodeRevoke,
            CNodeDelete,
            CNodeCopy,
            CNodeMint,
            CNodeMove,
            CNodeMutate,
            CNodeRotate,
            CNodeSaveCaller,
            PagingStructureMap,
            PagingStructureUnmap,
            FrameMap,
            FrameUnmap,
            FrameGetAddress,
            IrqControlGet,
            IrqHandlerAck,
            IrqHandlerSetNotification,
            IrqHandlerClear,
            IrqControlGetMsi,
            IrqHandlerMsiMessage,
            IoPortControlIssue,
            IoPortIn8,
            IoPortIn16,
            IoPortIn32,
            IoPortOut8,
            IoPortOut16,
            IoPortOut32,
        ]
    };

    /// Decodes a message label.
    pub fn from_raw(raw: u64) -> Option<Label> {
        Label::ALL.into_iter().find(|l| *l as u64 == raw)
    }
}

/// Number of registers `TcbReadRegisters`/`TcbWriteRegisters` transfer, in this order:
/// rip, rsp, rflags, rax, rbx, rcx, rdx, rsi, rdi, rbp, r8–r15.
pub const TCB_REGISTER_COUNT: usize = 18;

/// Frame mapping attribute bits (`FrameMap` argument 2).
pub mod frame_attributes {
    /// The mapping may be executed (otherwise the page is no-execute).
    pub const EXECUTABLE: u64 = 1;
    /// Uncached (for device memory).
    pub const UNCACHED: u64 = 2;
}
