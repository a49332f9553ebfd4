//! Invocations: the label of a `Call` on a kernel object's capability says which method to
//! run, message words carry its arguments and the IPC buffer's `caps_or_badges` its extra
//! capabilities.
//!
//! Every invocation is defined **once**, in the `invocations!` list below: its label, the
//! object it applies to, and its arguments by name, type and order. From that one list
//! come the [`Label`] enum, one argument struct per invocation (e.g. [`CNodeMint`]) with
//! [`Method::encode`] (what user space sends) and [`Method::decode`] (what the kernel reads,
//! with the precise error codes: `TruncatedMessage`, `InvalidArgument [index]`, …), the
//! [`Invocation`] enum over all of them, and [`TABLE`], which docs/abi.md §11 shows
//! ([`DocTable`]; a host test checks that the document is current).

pub mod args;

pub use args::{Argument, CPtr, Encoded, Layout, MAX_CAPS, MAX_PORT_BYTES, MAX_WORDS, PortBytes, Reader, Registers, Sink, Slot};

use crate::error::Error;
use crate::object::{ObjectType, Rights};
use core::fmt;

/// Number of registers `TcbReadRegisters`/`TcbWriteRegisters` transfer, in this order:
/// rip, rsp, rflags, rax, rbx, rcx, rdx, rsi, rdi, rbp, r8–r15.
pub const TCB_REGISTER_COUNT: usize = 18;

/// Flag bits of `TcbSchedInfo`'s reply word 1.
pub mod sched_flags {
    /// The thread is passive: it has no budget of its own.
    pub const PASSIVE: u64 = 1;
    /// The thread runs on a budget donated by a caller.
    pub const ON_DONATED_BUDGET: u64 = 2;
    /// The thread's own budget is lent: another thread runs on it.
    pub const BUDGET_LENT: u64 = 4;
}

/// Frame mapping attribute bits (`FrameMap` argument 2).
pub mod frame_attributes {
    /// The mapping may be executed (otherwise the page is no-execute).
    pub const EXECUTABLE: u64 = 1;
    /// Uncached (for device memory).
    pub const UNCACHED: u64 = 2;
}

/// The kind of capability an invocation is made on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    /// Untyped memory.
    Untyped,
    /// A thread control block.
    Tcb,
    /// A CNode.
    CNode,
    /// A page table, page directory or PDPT.
    PagingStructure,
    /// A 4 KiB or 2 MiB frame.
    Frame,
    /// IRQ control.
    IrqControl,
    /// An IRQ handler.
    IrqHandler,
    /// IO-port control.
    IoPortControl,
    /// An IO-port range.
    IoPort,
    /// IOSpace control: issues the IOSpace of one PCI function (present with an IOMMU).
    IoSpaceControl,
}

impl Object {
    /// The capability type as docs/abi.md names it.
    pub const fn name(self) -> &'static str {
        match self {
            Object::Untyped => "Untyped",
            Object::Tcb => "Tcb",
            Object::CNode => "CNode",
            Object::PagingStructure => "PageTable / PageDirectory / Pdpt",
            Object::Frame => "Frame",
            Object::IrqControl => "IrqControl",
            Object::IrqHandler => "IrqHandler",
            Object::IoPortControl => "IoPortControl",
            Object::IoPort => "IoPort",
            Object::IoSpaceControl => "IoSpaceControl",
        }
    }
}

/// A typed invocation: one method of one object with its arguments.
pub trait Method: Sized + Copy + Into<Invocation> {
    /// Its label.
    const LABEL: Label;
    /// The capability type it is a method of.
    const OBJECT: Object;
    /// Reads its arguments in order (words and extra capabilities), with the error the
    /// kernel reports for the first one missing or invalid.
    fn decode<W: Fn(usize) -> u64, C: Fn(usize) -> u64>(reader: &mut Reader<W, C>) -> Result<Self, Error>;
    /// Writes its arguments in order.
    fn encode_to<S: Sink>(&self, out: &mut S);
    /// The message that invokes it.
    fn encode(&self) -> Encoded {
        let mut out = Encoded::new(Self::LABEL);
        self.encode_to(&mut out);
        out
    }
}

/// One row of the invocation table: what docs/abi.md §11 lists per label.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// The label.
    pub label: Label,
    /// The capability type it applies to.
    pub object: Object,
    /// The arguments in message order: name and layout.
    pub args: &'static [(&'static str, Layout)],
}

/// Words a layout takes at most.
const fn layout_words(layout: Layout) -> usize {
    match layout {
        Layout::Words(n, _) => n,
        Layout::Cap => 0,
        Layout::Counted(_, n) => 1 + n,
    }
}

macro_rules! invocations {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident = $label:literal on $object:ident {
            $( $(#[doc = $fdoc:literal])* $field:ident : $ty:ty ),* $(,)?
        }
    )*) => {
        /// Invocation labels (the message label of a Call on a kernel object).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u64)]
        pub enum Label {
            $( $(#[doc = $doc])* $name = $label, )*
        }

        impl Label {
            /// Every label, in table order.
            pub const ALL: &'static [Label] = &[$(Label::$name,)*];

            /// Decodes a message label.
            #[inline]
            pub const fn from_raw(raw: u64) -> Option<Label> {
                match raw {
                    $( $label => Some(Label::$name), )*
                    _ => None,
                }
            }

            /// The capability type this label is a method of.
            #[inline]
            pub const fn object(self) -> Object {
                match self {
                    $( Label::$name => Object::$object, )*
                }
            }

            /// The label's name (`CNodeMint`).
            pub const fn name(self) -> &'static str {
                match self {
                    $( Label::$name => stringify!($name), )*
                }
            }
        }

        $(
            $(#[doc = $doc])*
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub struct $name {
                $( $(#[doc = $fdoc])* pub $field: $ty, )*
            }

            impl Method for $name {
                const LABEL: Label = Label::$name;
                const OBJECT: Object = Object::$object;
                #[allow(unused_variables)]
                #[inline]
                fn decode<W: Fn(usize) -> u64, C: Fn(usize) -> u64>(reader: &mut Reader<W, C>) -> Result<$name, Error> {
                    // Struct fields are evaluated in the order written: the message order.
                    Ok($name { $( $field: <$ty as Argument>::decode(reader)?, )* })
                }
                #[allow(unused_variables)]
                #[inline]
                fn encode_to<S: Sink>(&self, out: &mut S) {
                    $( Argument::encode(&self.$field, out); )*
                }
            }

            impl From<$name> for Invocation {
                fn from(method: $name) -> Invocation {
                    Invocation::$name(method)
                }
            }
        )*

        /// Any invocation, decoded.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Invocation {
            $( $(#[doc = $doc])* $name($name), )*
        }

        impl Invocation {
            /// Decodes the arguments of `label` from the message's argument words and extra
            /// capability pointers, with the kernel's error for the first one missing
            /// (`TruncatedMessage`) or invalid (e.g. `InvalidArgument [0]` for an unknown
            /// object type). Words beyond those the invocation reads are ignored.
            pub fn decode(label: Label, words: &[u64], caps: &[u64]) -> Result<Invocation, Error> {
                Invocation::read(label, &mut Reader::new(words.len(), caps.len(), |i| words[i], |i| caps[i]))
            }

            /// [`Invocation::decode`] from a reader, which reads each word or capability
            /// pointer only when decoding reaches it (the kernel reads the message registers
            /// and IPC buffer this way, touching nothing the invocation does not use).
            #[inline]
            pub fn read<W: Fn(usize) -> u64, C: Fn(usize) -> u64>(label: Label, reader: &mut Reader<W, C>) -> Result<Invocation, Error> {
                match label {
                    $( Label::$name => <$name as Method>::decode(reader).map(Invocation::$name), )*
                }
            }

            /// The message that makes this invocation.
            pub fn encode(&self) -> Encoded {
                match self {
                    $( Invocation::$name(method) => method.encode(), )*
                }
            }

            /// Its label.
            pub const fn label(&self) -> Label {
                match self {
                    $( Invocation::$name(_) => Label::$name, )*
                }
            }
        }

        /// Every invocation with its object and arguments, in label order: the source of
        /// the table in docs/abi.md §11.
        pub const TABLE: &[Entry] = &[
            $( Entry {
                label: Label::$name,
                object: Object::$object,
                args: &[ $( (stringify!($field), <$ty as Argument>::LAYOUT), )* ],
            }, )*
        ];
    };
}

invocations! {
    /// Create `count` objects of `object_type` in slots `node_offset..+count` of a CNode.
    UntypedRetype = 1 on Untyped {
        /// The type of the new objects.
        object_type: ObjectType,
        /// Untyped: log2 bytes; CNode: radix; other types ignore it.
        size_bits: u64,
        /// Destination CNode: its slot from `root` (depth 0: `root` itself).
        node: Slot,
        /// First destination slot in that CNode.
        node_offset: u64,
        /// Number of objects.
        count: u64,
        /// The CNode `node` is resolved from.
        root: CPtr,
    }
    /// Read the thread's first `count` registers into the reply.
    TcbReadRegisters = 10 on Tcb {
        /// Number of registers (1–18).
        count: u64,
    }
    /// Write the thread's first registers; `resume` = 1 also starts it.
    TcbWriteRegisters = 11 on Tcb {
        /// 1: make the thread runnable afterwards (if inactive and configured).
        resume: u64,
        /// The register values.
        registers: Registers,
    }
    /// Give the thread its CSpace, VSpace, IPC buffer and fault endpoint.
    TcbConfigure = 12 on Tcb {
        /// Fault endpoint cptr in the caller's CSpace (0: none).
        fault_endpoint: u64,
        /// Guard data applied to the CSpace root copy (0: unchanged).
        cspace_guard: u64,
        /// IPC buffer user address.
        ipc_buffer: u64,
        /// CSpace root (CNode).
        cspace: CPtr,
        /// VSpace root (Pml4).
        vspace: CPtr,
        /// IPC buffer frame.
        buffer_frame: CPtr,
    }
    /// Set the priority, bounded by the authority's maximum controlled priority.
    TcbSetPriority = 13 on Tcb {
        /// The new priority.
        priority: u64,
        /// TCB whose MCP bounds it.
        authority: CPtr,
    }
    /// Set the maximum controlled priority, bounded by the authority's.
    TcbSetMcPriority = 14 on Tcb {
        /// The new maximum controlled priority.
        mcp: u64,
        /// TCB whose MCP bounds it.
        authority: CPtr,
    }
    /// Stop the thread.
    TcbSuspend = 15 on Tcb {}
    /// Make a stopped thread runnable.
    TcbResume = 16 on Tcb {}
    /// Bind a notification, delivered to the thread's receives.
    TcbBindNotification = 17 on Tcb {
        /// The notification (with Read).
        notification: CPtr,
    }
    /// Unbind the bound notification.
    TcbUnbindNotification = 18 on Tcb {}
    /// Set the IPC buffer.
    TcbSetIpcBuffer = 19 on Tcb {
        /// IPC buffer user address.
        ipc_buffer: u64,
        /// IPC buffer frame.
        buffer_frame: CPtr,
    }
    /// Limit the thread to `budget` ticks per `period` ticks (0, 0: unlimited).
    TcbSetSchedParams = 20 on Tcb {
        /// Ticks per period.
        budget: u64,
        /// Period in ticks.
        period: u64,
        /// An unbudgeted TCB whose MCP covers the target's priority.
        authority: CPtr,
    }
    /// The CPU time the thread has consumed: reply word 0 in timer ticks (each tick of the
    /// kernel's timer that interrupted the thread counted one: sampled, as the timeslice
    /// is), word 1 in time-stamp-counter cycles charged precisely to the budget it runs on
    /// at every kernel entry and exit (its own running time and kernel time on its behalf,
    /// plus that of passive servers on the budget it donates).
    TcbConsumedTime = 21 on Tcb {}
    /// Make the thread passive (1): it has no budget of its own and runs only on the
    /// budgets its callers donate with their Calls; or active again (0).
    TcbSetPassive = 22 on Tcb {
        /// 1: passive, 0: active.
        passive: u64,
        /// An unbudgeted TCB whose MCP covers the target's priority.
        authority: CPtr,
    }
    /// The thread's scheduling state: reply word 0 the TSC cycles left in the current
    /// period of the budget it runs on (`u64::MAX`: unlimited; 0: used up, or none), word 1
    /// flags ([`crate::invocation::sched_flags`]).
    TcbSchedInfo = 23 on Tcb {}
    /// Run the thread on CPU `cpu` (0: the boot CPU): it joins that CPU's ready queue. A
    /// CPU that is not online is refused (RangeError 0..online−1).
    TcbSetAffinity = 24 on Tcb {
        /// The CPU's number.
        cpu: u64,
    }
    /// Delete every derived capability of the capability in `slot`.
    CNodeRevoke = 30 on CNode {
        /// The slot.
        slot: Slot,
    }
    /// Delete the capability in `slot`.
    CNodeDelete = 31 on CNode {
        /// The slot.
        slot: Slot,
    }
    /// Copy the capability in `src` to the empty `dest`, with rights narrowed.
    CNodeCopy = 32 on CNode {
        /// Destination slot (from the invoked CNode).
        dest: Slot,
        /// Source slot (from `src_root`).
        src: Slot,
        /// Rights mask.
        rights: Rights,
        /// The CNode `src` is resolved from.
        src_root: CPtr,
    }
    /// Copy with rights narrowed and a badge (endpoints, notifications) or guard (CNodes).
    CNodeMint = 33 on CNode {
        /// Destination slot (from the invoked CNode).
        dest: Slot,
        /// Source slot (from `src_root`).
        src: Slot,
        /// Rights mask.
        rights: Rights,
        /// Badge (0: keep) or CNode guard data.
        badge: u64,
        /// The CNode `src` is resolved from.
        src_root: CPtr,
    }
    /// Move the capability in `src` to the empty `dest`.
    CNodeMove = 34 on CNode {
        /// Destination slot (from the invoked CNode).
        dest: Slot,
        /// Source slot (from `src_root`).
        src: Slot,
        /// The CNode `src` is resolved from.
        src_root: CPtr,
    }
    /// Move, changing a CNode's guard (never a badge).
    CNodeMutate = 35 on CNode {
        /// Destination slot (from the invoked CNode).
        dest: Slot,
        /// Source slot (from `src_root`).
        src: Slot,
        /// CNode guard data (0 for other capabilities).
        data: u64,
        /// The CNode `src` is resolved from.
        src_root: CPtr,
    }
    /// Move `pivot` to `dest` and `src` to `pivot` (`dest` = `src`: swap).
    CNodeRotate = 36 on CNode {
        /// Destination slot.
        dest: Slot,
        /// Middle slot.
        pivot: Slot,
        /// Source slot.
        src: Slot,
    }
    /// Move the caller's reply capability to `dest`.
    CNodeSaveCaller = 37 on CNode {
        /// Destination slot.
        dest: Slot,
    }
    /// Map the paging structure at `vaddr` in an address space.
    PagingStructureMap = 40 on PagingStructure {
        /// Virtual address it covers.
        vaddr: u64,
        /// The address space (Pml4), or an IOSpace (`vaddr` is then an IO virtual address).
        vspace: CPtr,
    }
    /// Unmap the paging structure (its entries are cleared).
    PagingStructureUnmap = 41 on PagingStructure {}
    /// Map the frame at `vaddr` in an address space.
    FrameMap = 50 on Frame {
        /// Virtual address.
        vaddr: u64,
        /// Rights of the mapping (Read needed; Write for writable).
        rights: Rights,
        /// `frame_attributes` bits (ignored for an IOSpace).
        attributes: u64,
        /// The address space (Pml4), or an IOSpace (`vaddr` is then an IO virtual address).
        vspace: CPtr,
    }
    /// Unmap the frame.
    FrameUnmap = 51 on Frame {}
    /// The frame's physical address (reply word 0).
    FrameGetAddress = 52 on Frame {}
    /// Issue a handler for an IOAPIC pin into `dest` (from the caller's CSpace).
    IrqControlGet = 60 on IrqControl {
        /// IOAPIC pin.
        pin: u64,
        /// Level-triggered (else edge).
        level_triggered: bool,
        /// Active low (else high).
        active_low: bool,
        /// Destination slot in the caller's CSpace.
        dest: Slot,
    }
    /// Acknowledge: unmask the pin.
    IrqHandlerAck = 61 on IrqHandler {}
    /// Signal `notification` when the interrupt arrives.
    IrqHandlerSetNotification = 62 on IrqHandler {
        /// The notification (with Write).
        notification: CPtr,
    }
    /// Stop signalling and mask the pin.
    IrqHandlerClear = 63 on IrqHandler {}
    /// Issue a handler for an MSI slot into `dest` (from the caller's CSpace).
    IrqControlGetMsi = 64 on IrqControl {
        /// MSI slot (0–15).
        msi: u64,
        /// Destination slot in the caller's CSpace.
        dest: Slot,
    }
    /// The MSI address and data to program into the device (reply words 0, 1).
    IrqHandlerMsiMessage = 65 on IrqHandler {}
    /// Issue a capability for ports `first..=last` into `dest` (from the caller's CSpace).
    IoPortControlIssue = 70 on IoPortControl {
        /// First port.
        first: u64,
        /// Last port.
        last: u64,
        /// Destination slot in the caller's CSpace.
        dest: Slot,
    }
    /// Read a byte (reply word 0).
    IoPortIn8 = 71 on IoPort {
        /// The port.
        port: u64,
    }
    /// Read 16 bits (reply word 0).
    IoPortIn16 = 72 on IoPort {
        /// The port.
        port: u64,
    }
    /// Read 32 bits (reply word 0).
    IoPortIn32 = 73 on IoPort {
        /// The port.
        port: u64,
    }
    /// Write a byte.
    IoPortOut8 = 74 on IoPort {
        /// The port.
        port: u64,
        /// The value (low 8 bits).
        value: u64,
    }
    /// Write 16 bits.
    IoPortOut16 = 75 on IoPort {
        /// The port.
        port: u64,
        /// The value (low 16 bits).
        value: u64,
    }
    /// Write 32 bits.
    IoPortOut32 = 76 on IoPort {
        /// The port.
        port: u64,
        /// The value (low 32 bits).
        value: u64,
    }
    /// Write 1–16 bytes to one port in order, one byte access each: a UART's FIFO-full
    /// in one system call.
    IoPortOutBytes = 77 on IoPort {
        /// The port.
        port: u64,
        /// The bytes.
        bytes: PortBytes,
    }
    /// Issue the IOSpace of PCI function `device` into `dest` (from the caller's CSpace):
    /// the DMA address space of that function, the target of `FrameMap` and
    /// `PagingStructureMap` in place of a PML4.
    IoSpaceControlIssue = 80 on IoSpaceControl {
        /// PCI requester ID: bus << 8 | device << 3 | function.
        device: u64,
        /// Destination slot in the caller's CSpace.
        dest: Slot,
    }
}

/// The invocation table of docs/abi.md §11 as Markdown, generated from [`TABLE`]: one row
/// per label with its capability type, message words (MR*n* and name) and extra
/// capabilities (cap*n* and name).
pub struct DocTable;

impl fmt::Display for DocTable {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        writeln!(f, "| label | name | invoked capability | message words | extra capabilities |")?;
        writeln!(f, "|---|---|---|---|---|")?;
        for entry in TABLE {
            write!(f, "| {} | {} | {} | ", entry.label as u64, entry.label.name(), entry.object.name())?;
            let (mut word, mut any) = (0, false);
            for &(name, layout) in entry.args {
                let separator = if any { ", " } else { "" };
                match layout {
                    Layout::Words(1, _) => write!(f, "{separator}MR{word} `{name}`")?,
                    Layout::Words(n, parts) => write!(f, "{separator}MR{word}–{} `{name}` ({parts})", word + n - 1)?,
                    Layout::Counted(parts, _) => write!(f, "{separator}MR{word}.. `{name}` ({parts})")?,
                    Layout::Cap => continue,
                }
                word += layout_words(layout);
                any = true;
            }
            write!(f, "{} | ", if any { "" } else { "—" })?;
            let caps = entry.args.iter().filter(|(_, layout)| *layout == Layout::Cap);
            let mut any = false;
            for (index, (name, _)) in caps.enumerate() {
                write!(f, "{}cap{index} `{name}`", if any { ", " } else { "" })?;
                any = true;
            }
            writeln!(f, "{} |", if any { "" } else { "—" })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvocationError;

    fn decode(encoded: Encoded) -> Result<Invocation, Error> {
        Invocation::decode(encoded.label, encoded.words(), encoded.caps())
    }

    #[test]
    fn every_invocation_round_trips_through_its_message() {
        let mint = CNodeMint { dest: Slot::at(5), src: Slot::new(7, 12), rights: Rights::WRITE, badge: 42, src_root: CPtr(2) };
        assert_eq!(mint.encode().words(), &[5, 64, 7, 12, 1, 42]);
        assert_eq!(mint.encode().caps(), &[2]);
        assert_eq!(decode(mint.encode()), Ok(Invocation::CNodeMint(mint)));
        let write = TcbWriteRegisters { resume: 1, registers: Registers::new(&[0x40_0000, 0x7000]) };
        assert_eq!(write.encode().words(), &[1, 2, 0x40_0000, 0x7000]);
        assert_eq!(decode(write.encode()), Ok(write.into()));
        let bytes = IoPortOutBytes { port: 0x3F8, bytes: PortBytes::new(b"0123456789abcdefXYZ") };
        assert_eq!(bytes.bytes.bytes(), b"0123456789abcdef", "at most a FIFO-full");
        assert_eq!(bytes.encode().words(), &[0x3F8, 16, u64::from_le_bytes(*b"01234567"), u64::from_le_bytes(*b"89abcdef")]);
        assert_eq!(decode(bytes.encode()), Ok(bytes.into()));
        let three = IoPortOutBytes { port: 0x80, bytes: PortBytes::new(b"abc") };
        assert_eq!(three.encode().words(), &[0x80, 3, 0x63_62_61]);
        assert_eq!(decode(three.encode()), Ok(three.into()));
        for &label in Label::ALL {
            assert_eq!(Label::from_raw(label as u64), Some(label));
            let full = [0; MAX_WORDS];
            let caps = [0; MAX_CAPS];
            let words = if label == Label::UntypedRetype { [ObjectType::Endpoint as u64; MAX_WORDS] } else { full };
            let words = if matches!(label, Label::TcbWriteRegisters | Label::IoPortOutBytes) { [1; MAX_WORDS] } else { words };
            let decoded = Invocation::decode(label, &words, &caps).unwrap_or_else(|e| panic!("{label:?}: {e:?}"));
            assert_eq!(decoded.label(), label);
            assert_eq!(decode(decoded.encode()), Ok(decoded), "{label:?}");
        }
        assert_eq!(Label::from_raw(2), None);
    }

    #[test]
    fn decode_gives_the_kernels_error_codes() {
        let truncated = Err(Error::new(InvocationError::TruncatedMessage));
        assert_eq!(Invocation::decode(Label::CNodeMint, &[5, 64, 7, 64, 15], &[2]), truncated);
        assert_eq!(Invocation::decode(Label::CNodeMint, &[5, 64, 7, 64, 15, 0], &[]), truncated, "missing extra cap");
        assert_eq!(
            Invocation::decode(Label::UntypedRetype, &[99], &[]),
            Err(Error::argument(InvocationError::InvalidArgument, 0)),
            "an unknown type is named before the missing words"
        );
        assert_eq!(Invocation::decode(Label::TcbWriteRegisters, &[1, 19], &[]), Err(Error::range(1, 18)));
        assert_eq!(Invocation::decode(Label::TcbWriteRegisters, &[1, 0], &[]), Err(Error::range(1, 18)));
        assert_eq!(Invocation::decode(Label::TcbWriteRegisters, &[1, 2, 0x1000], &[]), truncated);
        assert_eq!(Invocation::decode(Label::IoPortOutBytes, &[0x80, 0], &[]), Err(Error::range(1, 16)));
        assert_eq!(Invocation::decode(Label::IoPortOutBytes, &[0x80, 17], &[]), Err(Error::range(1, 16)));
        assert_eq!(Invocation::decode(Label::IoPortOutBytes, &[0x80, u64::MAX], &[]), Err(Error::range(1, 16)));
        assert_eq!(Invocation::decode(Label::IoPortOutBytes, &[0x80, 9, 0x4141], &[]), truncated, "9 bytes need 2 words");
        let ignored = Invocation::decode(Label::IoPortOutBytes, &[0x80, 2, 0xFFFF_FF00_0042_4241], &[]);
        assert_eq!(ignored, Ok(IoPortOutBytes { port: 0x80, bytes: PortBytes::new(b"AB") }.into()), "bytes past the count");
        assert_eq!(Invocation::decode(Label::TcbSuspend, &[], &[]), Ok(Invocation::TcbSuspend(TcbSuspend {})));
    }
}
