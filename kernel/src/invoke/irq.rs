//! Interrupts for user-space drivers: IRQ control issues a handler capability for one
//! IOAPIC pin or one message-signalled interrupt (MSI/MSI-X) vector; the handler is bound
//! to a notification, which the kernel signals (with the notification capability's badge)
//! when the interrupt fires. A pin stays masked from delivery until the driver
//! acknowledges. MSI vectors are edge-triggered and masked, if at all, in the device (the
//! MSI-X table belongs to the driver), so acknowledging one does nothing; the handler tells
//! the driver the message address and data to program into its device.
//!
//! Interrupt numbers in handler capabilities: 0–23 are IOAPIC pins, 24–39 MSI slots 0–15.

use super::{Call, Error, Result, ensure_empty};
use crate::arch::{
    apic,
    trap::{IOAPIC_PINS, MSI_VECTOR_BASE, MSI_VECTORS},
};
use crate::state::{KernelMemory, kernel};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::Invocation;
use tileos_abi::object::Rights;
use tileos_kernel::cap::{self, Cap};
use tileos_kernel::cspace;

/// Interrupt lines the kernel tracks: the IOAPIC pins, then the MSI slots.
pub const IRQ_LINES: usize = (IOAPIC_PINS + MSI_VECTORS) as usize;

/// Message address every MSI of this kernel uses: the local APIC of CPU 0, fixed delivery.
const MSI_ADDRESS: u64 = apic::LAPIC_BASE;

/// Whether interrupt number `irq` is an MSI slot (else an IOAPIC pin).
fn is_msi(irq: u8) -> bool {
    u64::from(irq) >= IOAPIC_PINS
}

/// Kernel record of one interrupt line (IOAPIC pin or MSI slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqLine {
    /// A handler capability has been issued.
    pub issued: bool,
    /// Level-triggered (else edge; always edge for MSI).
    pub level_triggered: bool,
    /// Active low (else active high).
    pub active_low: bool,
    /// Notification to signal (0: none).
    pub notification: u64,
    /// Badge to signal with.
    pub badge: u64,
}

impl IrqLine {
    /// A pin nobody owns.
    pub const UNUSED: IrqLine = IrqLine { issued: false, level_triggered: false, active_low: false, notification: 0, badge: 0 };
}

/// Runs an IRQ control or IRQ handler method.
pub fn invoke(call: &Call, invocation: &Invocation) -> Result<usize> {
    match (call.cap, invocation) {
        (Cap::IrqControl, Invocation::IrqControlGet(get)) => {
            // The destination slot is resolved from the caller's CSpace.
            let (pin, level, low) = (get.pin, get.level_triggered, get.active_low);
            let dest = call.resolve_slot(call.cspace_root(), get.dest, false)?;
            if pin >= IOAPIC_PINS {
                return Err(Error::range(0, IOAPIC_PINS - 1));
            }
            ensure_empty(dest)?;
            let line = &mut kernel().irqs[pin as usize];
            if line.issued {
                return Err(Error::new(InvocationError::RevokeFirst));
            }
            *line = IrqLine { issued: true, level_triggered: level, active_low: low, notification: 0, badge: 0 };
            let handler = Cap::IrqHandler { irq: pin as u8 };
            cspace::insert_derived(&mut KernelMemory, call.slot, dest, handler, cap::is_revocable(&handler, &call.cap));
            apic::route(pin as u8, level, low, true);
            Ok(0)
        }
        (Cap::IrqControl, Invocation::IrqControlGetMsi(get)) => {
            // The destination slot is resolved from the caller's CSpace.
            let msi_slot = get.msi;
            let dest = call.resolve_slot(call.cspace_root(), get.dest, false)?;
            if msi_slot >= MSI_VECTORS {
                return Err(Error::range(0, MSI_VECTORS - 1));
            }
            ensure_empty(dest)?;
            let irq = (IOAPIC_PINS + msi_slot) as u8;
            let line = &mut kernel().irqs[usize::from(irq)];
            if line.issued {
                return Err(Error::new(InvocationError::RevokeFirst));
            }
            *line = IrqLine { issued: true, level_triggered: false, active_low: false, notification: 0, badge: 0 };
            let handler = Cap::IrqHandler { irq };
            cspace::insert_derived(&mut KernelMemory, call.slot, dest, handler, cap::is_revocable(&handler, &call.cap));
            Ok(0)
        }
        (Cap::IrqHandler { irq }, Invocation::IrqHandlerMsiMessage(_)) => {
            // Replies MR0 message address, MR1 message data (the vector, fixed delivery,
            // edge-triggered) for the driver to write into its device's MSI capability or
            // MSI-X table entry.
            if !is_msi(irq) {
                return Err(Error::new(InvocationError::IllegalOperation));
            }
            crate::ipc::set_message_register(call.caller, 0, MSI_ADDRESS);
            crate::ipc::set_message_register(call.caller, 1, MSI_VECTOR_BASE + u64::from(irq) - IOAPIC_PINS);
            Ok(2)
        }
        (Cap::IrqHandler { irq }, Invocation::IrqHandlerSetNotification(set)) => {
            let (_, ntfn) = call.lookup(set.notification)?;
            let Cap::Notification { paddr, badge, rights } = ntfn else { return Err(super::wrong_cap(0)) };
            if !rights.contains(Rights::WRITE) {
                return Err(super::wrong_cap(0));
            }
            let line = &mut kernel().irqs[usize::from(irq)];
            line.notification = paddr;
            line.badge = badge;
            route(irq, *line, false);
            Ok(0)
        }
        (Cap::IrqHandler { irq }, Invocation::IrqHandlerAck(_)) => {
            let line = kernel().irqs[usize::from(irq)];
            route(irq, line, line.notification == 0);
            Ok(0)
        }
        (Cap::IrqHandler { irq }, Invocation::IrqHandlerClear(_)) => {
            let line = &mut kernel().irqs[usize::from(irq)];
            line.notification = 0;
            route(irq, *line, true);
            Ok(0)
        }
        _ => Err(Error::new(InvocationError::IllegalOperation)),
    }
}

/// Programs IOAPIC pin `irq` from its record, masked or not; MSI slots have no pin.
fn route(irq: u8, line: IrqLine, masked: bool) {
    if !is_msi(irq) {
        apic::route(irq, line.level_triggered, line.active_low, masked);
    }
}

/// Interrupt `irq` (pin or MSI slot) arrived: mask a pin until it is acknowledged, and
/// signal the bound notification. An MSI nobody has bound is dropped.
pub fn deliver(irq: u8) {
    let line = kernel().irqs[usize::from(irq)];
    route(irq, line, true);
    if line.notification != 0 {
        crate::ipc::signal(line.notification, line.badge);
    }
}

/// The last handler capability for `irq` is gone: mask it and forget its binding.
pub fn release(irq: u8) {
    kernel().irqs[usize::from(irq)] = IrqLine::UNUSED;
    route(irq, IrqLine::UNUSED, true);
}
