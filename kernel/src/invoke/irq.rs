//! Interrupts for user-space drivers: IRQ control issues a handler capability for one
//! IOAPIC pin; the handler is bound to a notification, which the kernel signals (with the
//! notification capability's badge) when the interrupt fires. The pin stays masked from
//! delivery until the driver acknowledges.

use super::{Error, Invocation, Result, ensure_empty};
use crate::arch::{apic, trap::IOAPIC_PINS};
use crate::state::{KernelMemory, kernel};
use tileos_abi::error::InvocationError;
use tileos_abi::invocation::Label;
use tileos_abi::object::Rights;
use tileos_kernel::cap::{self, Cap};
use tileos_kernel::cspace;

/// Kernel record of one IOAPIC pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqLine {
    /// A handler capability has been issued.
    pub issued: bool,
    /// Level-triggered (else edge).
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
pub fn invoke(call: &Invocation) -> Result<usize> {
    match (call.cap, call.label) {
        (Cap::IrqControl, Label::IrqControlGet) => {
            // MR0 pin, MR1 level-triggered, MR2 active-low, MR3/MR4 destination index/depth
            // in the caller's CSpace.
            let pin = call.arg(0)?;
            let (level, low) = (call.arg(1)? != 0, call.arg(2)? != 0);
            let dest = call.resolve_slot(call.cspace_root(), call.arg(3)?, call.arg(4)?, false)?;
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
        (Cap::IrqHandler { irq }, Label::IrqHandlerSetNotification) => {
            let (_, ntfn) = call.extra_cap(0)?;
            let Cap::Notification { paddr, badge, rights } = ntfn else { return Err(super::wrong_cap(0)) };
            if !rights.contains(Rights::WRITE) {
                return Err(super::wrong_cap(0));
            }
            let line = &mut kernel().irqs[usize::from(irq)];
            line.notification = paddr;
            line.badge = badge;
            apic::route(irq, line.level_triggered, line.active_low, false);
            Ok(0)
        }
        (Cap::IrqHandler { irq }, Label::IrqHandlerAck) => {
            let line = kernel().irqs[usize::from(irq)];
            apic::route(irq, line.level_triggered, line.active_low, line.notification == 0);
            Ok(0)
        }
        (Cap::IrqHandler { irq }, Label::IrqHandlerClear) => {
            let line = &mut kernel().irqs[usize::from(irq)];
            line.notification = 0;
            apic::route(irq, line.level_triggered, line.active_low, true);
            Ok(0)
        }
        _ => Err(Error::new(InvocationError::IllegalOperation)),
    }
}

/// An interrupt on IOAPIC `pin` arrived: mask it and signal its notification.
pub fn deliver(pin: u8) {
    let line = kernel().irqs[usize::from(pin)];
    apic::route(pin, line.level_triggered, line.active_low, true);
    if line.notification != 0 {
        crate::ipc::signal(line.notification, line.badge);
    }
}

/// The last handler capability for `pin` is gone: mask it and forget its binding.
pub fn release(pin: u8) {
    kernel().irqs[usize::from(pin)] = IrqLine::UNUSED;
    apic::route(pin, false, false, true);
}
