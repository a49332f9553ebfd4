//! Typed capability handles: a capability pointer wrapped in the type of the object it
//! names, so that the compiler refuses to, say, signal an IO-port range or map an endpoint.
//! The handles only offer the operations their object supports.

use crate::{Error, Message, invoke, raw_syscall};
use tileos_abi::invocation::Label;
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

handle!(
    /// An endpoint: call it (client) or receive on it (server).
    Endpoint
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
        invoke(self.0, Label::TcbSuspend, &[], &[]).map(|_| ())
    }
}

impl IoPort {
    /// Reads a byte from `port` (which must be in the range).
    pub fn in8(self, port: u16) -> Result<u8, Error> {
        invoke(self.0, Label::IoPortIn8, &[u64::from(port)], &[]).map(|reply| reply.words[0] as u8)
    }
    /// Writes a byte to `port` (which must be in the range).
    pub fn out8(self, port: u16, value: u8) -> Result<(), Error> {
        invoke(self.0, Label::IoPortOut8, &[u64::from(port), u64::from(value)], &[]).map(|_| ())
    }
}

impl IrqHandler {
    /// Acknowledges the interrupt: the line is unmasked and may fire again.
    pub fn ack(self) -> Result<(), Error> {
        invoke(self.0, Label::IrqHandlerAck, &[], &[]).map(|_| ())
    }

    /// For a message-signalled interrupt: the (address, data) pair the driver writes into
    /// its device's MSI capability or MSI-X table entry so that the device raises this
    /// handler's vector. Refused (IllegalOperation) for an IOAPIC pin's handler.
    pub fn msi_message(self) -> Result<(u64, u32), Error> {
        invoke(self.0, Label::IrqHandlerMsiMessage, &[], &[]).map(|reply| (reply.words[0], reply.words[1] as u32))
    }
}
