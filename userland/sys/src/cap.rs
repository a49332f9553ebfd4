//! Typed capability handles: a capability pointer wrapped in the type of the object it
//! names, so that the compiler refuses to, say, signal an IO-port range or map an endpoint.
//! The handles only offer the operations their object supports: a kernel object's handle
//! takes the typed invocations of its object (`tileos_abi::invocation`), e.g.
//! `CNode::ROOT.invoke(CNodeMint { … })`, and refuses another object's at compile time.

use crate::{Error, Message, Reply, invoke_method, raw_syscall};
use tileos_abi::bootinfo::slot;
use tileos_abi::invocation::{
    IoPortIn8, IoPortOut8, IoPortOutBytes, IrqHandlerAck, IrqHandlerMsiMessage, Method, Object, PortBytes, TcbSuspend,
};
use tileos_abi::message::MessageInfo;
use tileos_abi::syscall::Syscall;

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name(u64);

        impl $name {
            /// Wraps the capability pointer `cptr`. The caller asserts what the slot holds
            /// (from the domain information page or BootInfo); a wrong claim only makes the
            /// kernel refuse the operations.
            pub const fn from_cptr(cptr: u64) -> $name {
                $name(cptr)
            }
            /// The capability pointer.
            pub const fn cptr(self) -> u64 {
                self.0
            }
        }
    };
}

/// Methods of a kernel object's handle: `invoke` takes the object's typed invocations only
/// (another object's is a compile-time error).
macro_rules! object_methods {
    ($name:ident, $object:path) => {
        impl $name {
            /// Invokes `method` on the object (a Call; the reply's words or the error).
            pub fn invoke<M: Method>(self, method: M) -> Result<Reply, Error> {
                const { assert!(matches!(M::OBJECT, $object), "not a method of this object") };
                invoke_method(self.0, method)
            }
        }
    };
}

handle!(
    /// An endpoint: call it (client) or receive on it (server).
    Endpoint
);
handle!(
    /// Untyped memory: retype it into objects.
    Untyped
);
handle!(
    /// A CNode: copy, mint, move, delete and revoke the capabilities in its slots.
    CNode
);
handle!(
    /// A frame: map it, unmap it, ask its physical address.
    Frame
);
handle!(
    /// A page table, page directory or PDPT: map it into an address space.
    PagingStructure
);
handle!(
    /// IRQ control: issue interrupt handlers.
    IrqControl
);
handle!(
    /// IO-port control: issue IO-port ranges.
    IoPortControl
);
handle!(
    /// IOSpace control: issue the IOSpace (DMA address space) of a PCI function.
    IoSpaceControl
);
handle!(
    /// A notification: signal it, wait on it, poll it.
    Notification
);
handle!(
    /// A thread control block.
    Tcb
);
handle!(
    /// An IO-port range.
    IoPort
);
handle!(
    /// An interrupt handler.
    IrqHandler
);

object_methods!(Untyped, Object::Untyped);
object_methods!(CNode, Object::CNode);
object_methods!(Tcb, Object::Tcb);
object_methods!(Frame, Object::Frame);
object_methods!(PagingStructure, Object::PagingStructure);
object_methods!(IrqControl, Object::IrqControl);
object_methods!(IrqHandler, Object::IrqHandler);
object_methods!(IoPortControl, Object::IoPortControl);
object_methods!(IoPort, Object::IoPort);
object_methods!(IoSpaceControl, Object::IoSpaceControl);

impl CNode {
    /// The root server's own CNode (BootInfo slot `CNODE`), which resolves a cptr with all
    /// 64 bits.
    pub const ROOT: CNode = CNode(slot::CNODE);
}

impl Tcb {
    /// The root server's own TCB (BootInfo slot `TCB`).
    pub const ROOT: Tcb = Tcb(slot::TCB);
}

impl IrqControl {
    /// The root server's IRQ control (BootInfo slot `IRQ_CONTROL`).
    pub const ROOT: IrqControl = IrqControl(slot::IRQ_CONTROL);
}

impl IoPortControl {
    /// The root server's IO-port control (BootInfo slot `IO_PORT_CONTROL`).
    pub const ROOT: IoPortControl = IoPortControl(slot::IO_PORT_CONTROL);
}

impl Endpoint {
    /// Call: send `words` with `label` and wait for the reply.
    pub fn call(self, label: u64, words: &[u64]) -> Message {
        crate::call(self.0, label, words, &[])
    }
    /// Receive (blocking).
    pub fn recv(self) -> Message {
        crate::recv(self.0, true)
    }
    /// Reply to the current caller with `label` and `words`, then receive again.
    pub fn reply_recv(self, label: u64, words: &[u64]) -> Message {
        crate::reply_recv(self.0, label, words)
    }
}

impl Notification {
    /// Signal (sets the capability's badge bits in the notification word).
    pub fn signal(self) {
        raw_syscall(Syscall::Send, self.0, MessageInfo::default(), [0; 4]);
    }
    /// Wait until signalled; returns the notification word.
    pub fn wait(self) -> u64 {
        crate::recv(self.0, true).badge
    }
    /// The notification word without waiting (0 if not signalled).
    pub fn poll(self) -> u64 {
        crate::recv(self.0, false).badge
    }
}

impl Tcb {
    /// Stops the thread (it can be resumed by whoever holds its TCB capability).
    pub fn suspend(self) -> Result<(), Error> {
        self.invoke(TcbSuspend {}).map(|_| ())
    }
}

impl IoPort {
    /// Reads a byte from `port` (which must be in the range).
    pub fn in8(self, port: u16) -> Result<u8, Error> {
        self.invoke(IoPortIn8 { port: u64::from(port) }).map(|reply| reply.words[0] as u8)
    }
    /// Writes a byte to `port` (which must be in the range).
    pub fn out8(self, port: u16, value: u8) -> Result<(), Error> {
        self.invoke(IoPortOut8 { port: u64::from(port), value: u64::from(value) }).map(|_| ())
    }
    /// Writes `bytes` (1 to [`tileos_abi::invocation::MAX_PORT_BYTES`], 16) to `port` in
    /// order, in one system call; more than 16 are refused (RangeError), not cut.
    pub fn out_bytes(self, port: u16, bytes: &[u8]) -> Result<(), Error> {
        let most = tileos_abi::invocation::MAX_PORT_BYTES;
        if bytes.len() > most {
            let code = tileos_abi::error::InvocationError::RangeError;
            return Err(Error { code: Some(code), label: code as u64, details: [1, most as u64] });
        }
        self.invoke(IoPortOutBytes { port: u64::from(port), bytes: PortBytes::new(bytes) }).map(|_| ())
    }
}

impl IrqHandler {
    /// Acknowledges the interrupt: the line is unmasked and may fire again.
    pub fn ack(self) -> Result<(), Error> {
        self.invoke(IrqHandlerAck {}).map(|_| ())
    }

    /// For a message-signalled interrupt: the (address, data) pair the driver writes into
    /// its device's MSI capability or MSI-X table entry so that the device raises this
    /// handler's vector. Refused (IllegalOperation) for an IOAPIC pin's handler.
    pub fn msi_message(self) -> Result<(u64, u32), Error> {
        self.invoke(IrqHandlerMsiMessage {}).map(|reply| (reply.words[0], reply.words[1] as u32))
    }
}
